"""``/registered-models/...`` and ``/model-versions/...``: the model registry, with aliases."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["mlflow"])
