"""What a path of MLflow's artifact proxy names: a run's files or a logged model's files.

loopml hands out two kinds of ``mlflow-artifacts:/`` URIs (:mod:`.uris`), so the proxy serves:

- ``<experiment_id>/<run_id>/artifacts[/<path>]``: the loopml run's artifacts;
- ``<experiment_id>/models/<model_id>/artifacts[/<path>]``: a logged model's files.

Anything else is 404 ``RESOURCE_DOES_NOT_EXIST``; ``..``, absolute paths, backslashes and NUL bytes
are 400 ``INVALID_PARAMETER_VALUE`` before anything is looked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loopml.artifacts import safe_relpath
from loopml.core.ids import is_id
from loopml.server.mlflow.errors import RESOURCE_DOES_NOT_EXIST, MlflowError
from loopml.store.sql.logged_models import check_model_id

LAYOUT = "<experiment_id>/<run_id>/artifacts/<path> or <experiment_id>/models/<model_id>/artifacts/<path>"


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    """The files a proxy path points into: ``kind`` ``"run"`` or ``"logged_model"``, whose id is
    ``owner_id``, in MLflow experiment ``experiment_id``; ``path`` below the owner's root (``""``: the root)."""

    kind: Literal["run", "logged_model"]
    experiment_id: str
    owner_id: str
    path: str


def parse_proxy_path(raw: str, *, field: str = "path") -> ProxyTarget:
    """The :class:`ProxyTarget` of ``raw``; ``InvalidInput`` (traversal) or ``MlflowError`` 404 (other layouts)."""
    parts = safe_relpath(raw, field=field).split("/")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        model_id = check_model_id(parts[2], field=field)
        return ProxyTarget("logged_model", parts[0], model_id, "/".join(parts[4:]))
    if len(parts) >= 3 and parts[2] == "artifacts" and is_id(parts[1]):
        return ProxyTarget("run", parts[0], parts[1], "/".join(parts[3:]))
    raise MlflowError(
        f"No artifacts at {raw!r}: loopml serves {LAYOUT} (the artifact_uri of a run or the "
        "artifact_location of a logged model).",
        error_code=RESOURCE_DOES_NOT_EXIST,
        status_code=404,
        details=[{"field": field, "problem": f"not {LAYOUT}"}],
    )
