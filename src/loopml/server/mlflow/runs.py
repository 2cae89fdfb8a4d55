"""``/runs/...`` and ``/metrics/get-history``: create, get, update, delete, restore, search, log-batch,
log-metric, log-parameter, set-tag, delete-tag, log-inputs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["mlflow"])
