"""``/experiments/...``: create, get, get-by-name, search, update (rename), delete, restore, set-tag."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["mlflow"])
