"""``/logged-models/...``: the logged models MLflow 3 clients create for ``mlflow.<flavor>.log_model``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["mlflow"])
