"""``/api/2.0/mlflow-artifacts/artifacts/...``: the artifact proxy (list, download, upload, delete)
behind ``mlflow-artifacts:/`` URIs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["mlflow"])
