"""Model packages: a directory of run artifacts with a manifest, loaded back safely.

``lm.log_model(model, "model", input_example=X[:5])`` writes, under the run's ``model/``:

* ``model.skops`` (scikit-learn estimators, via skops) or ``model.pkl`` (any object with
  ``predict``, via cloudpickle);
* ``input_example.json`` (when given) and ``requirements.txt``;
* ``reference_profile.json`` (with ``reference_data=``): the training data's
  :class:`~loopml.data.sketch.DataProfile`, what drift compares served traffic with. It is JSON,
  read with ``json`` and checked field by field (:func:`reference_profile`); nothing in it runs;
* ``reference_scores.parquet`` (with ``reference_labels=``): a classifier's probabilities on the
  reference data next to the true labels, what quality estimation without labels calibrates on;
* ``model.json``, the manifest: flavor, loader, signature, environment (Python and package
  versions), the SHA-256 of every other file, for skops the types the file needs beyond
  skops' own safe set (``needs_types``: for display only), and the feature references the model
  reads from the feature store (``features``: ``loopml serve`` fetches them by entity key).

Loading re-checks every hash (the blob store and the manifest). What a skops file may construct
is decided by the loader (:mod:`loopml.core.trust`: a built-in allow-list extended only by
the caller's ``trusted_types``), never by the package: its manifest is written by whoever
uploaded it. Pickles load only with ``trust=True``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core import reads
from loopml.core.clock import now_ms
from loopml.core.errors import IntegrityError, InvalidInput, NotFound, SecurityError
from loopml.core.hashing import sha256_file
from loopml.core.records import ArtifactInfo, ModelVersion
from loopml.core.trust import load_skops, parse_type_names
from loopml.core.uris import parse_uri
from loopml.core.version import __version__
from loopml.data.sketch import DataProfile, sketch
from loopml.registry.signature import Signature, infer_signature
from loopml.tracking.fluent import ActiveRun, active_run, resolve_run_id
from loopml.tracking.session import get_session

MLFLOW_FLAVOR = "mlflow"  # a version registered through the MLflow API (loopml.store.sql.models.MLFLOW_FLAVOR)

MANIFEST = "model.json"
REFERENCE_PROFILE = "reference_profile.json"
REFERENCE_SCORES = "reference_scores.parquet"
REFERENCE_SCORE_ROWS = 50_000
FORMAT_VERSION = 1
FEATURES_TAG = "loopml.features"
"""The run tag ``get_historical_features`` sets: the JSON list of feature references it retrieved."""
FEATURE_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}:[A-Za-z_][A-Za-z0-9_]{0,127}$")
"""A feature reference, ``view:feature`` (the grammar of :mod:`loopml.features.refs`)."""
FULL_NAME_SEPARATOR = "__"
ENV_PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "cloudpickle", "loopml")


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`log_model` stored: the ``runs:/`` URI of the package and its manifest."""

    uri: str
    run_id: str
    artifact_path: str
    manifest: dict[str, Any]
    manifest_sha256: str


class LoadedModel:
    """A model loaded from a package: ``predict`` validates input against the signature first."""

    def __init__(
        self,
        raw: Any,
        *,
        uri: str,
        manifest: dict[str, Any],
        name: str | None = None,
        version: int | None = None,
    ) -> None:
        self.raw = raw
        self.uri = uri
        self.manifest = manifest
        self.name = name
        self.version = version
        self.flavor: str = manifest["flavor"]
        self.signature = Signature.from_dict(manifest["signature"]) if manifest.get("signature") else None
        self.features, self.full_feature_names = manifest_features(manifest, uri)

    def prepare(self, data: Any) -> Any:
        """Turn ``data`` into what the underlying model's ``predict`` takes (validated)."""
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        if self.signature is None:
            return frame
        frame = self.signature.validate(frame)
        return frame.to_numpy() if self.signature.input_type == "ndarray" else frame

    def predict(self, data: Any) -> np.ndarray:
        """Predictions for ``data`` (a DataFrame, or records / a dict of columns)."""
        return np.asarray(self.raw.predict(self.prepare(data)))

    def __repr__(self) -> str:
        where = f"{self.name}/{self.version}" if self.name else self.uri
        return f"LoadedModel({where}, flavor={self.flavor!r})"


def log_model(
    model: Any,
    artifact_path: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    run: ActiveRun | None = None,
    reference_data: Any = None,
    reference_labels: Any = None,
    features: Sequence[str] | None = None,
) -> ModelInfo:
    """Package ``model`` as artifacts of the active run (or ``run``) and return where it went.

    ``features`` are the feature references (``"view:feature"``) the model's inputs come from:
    ``loopml serve`` then takes requests with entity keys and fetches them from the online store.
    By default they are the references the run retrieved with ``get_historical_features`` (its
    ``loopml.features`` tag) whose columns are inputs of the signature.

    ``reference_data`` (a DataFrame or Arrow table, typically ``X_train``) is profiled and stored
    as ``reference_profile.json``: drift of the served model compares its traffic with it. With
    ``reference_labels`` (``y_train``) a classifier's probabilities on that data (at most
    :data:`REFERENCE_SCORE_ROWS` rows) are stored with the labels as ``reference_scores.parquet``:
    what estimating quality without labels (CBPE) calibrates on.
    """
    run = run or active_run()
    if run is None:
        raise InvalidInput("No active run: call lm.log_model inside `with lm.start_run():`.")
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"Cannot log a {type(model).__name__}: a model needs a predict() method.")
    if signature is None and input_example is not None:
        example = input_example if not isinstance(input_example, list | dict) else pd.DataFrame(input_example)
        try:
            predictions = model.predict(example)
        except Exception as exc:  # the user's model rejected its own example: say so
            raise InvalidInput(f"model.predict(input_example) failed: {type(exc).__name__}: {exc}") from exc
        signature = infer_signature(example, predictions)
    declared = _declared_features(features, run, signature)
    profile = _reference(reference_data)
    scores = _scores(model, reference_data, reference_labels)
    with tempfile.TemporaryDirectory(prefix="loopml-model-") as tmp:
        folder = Path(tmp)
        if profile is not None:
            (folder / REFERENCE_PROFILE).write_text(json.dumps(profile.to_dict(), allow_nan=False))
        if scores is not None:
            pq.write_table(pa.Table.from_pandas(scores, preserve_index=False), folder / REFERENCE_SCORES)
        manifest = _write_package(model, folder, signature, input_example, declared)
        infos = run.log_artifact(folder, artifact_path)
    manifest_info = next(i for i in infos if i.path == f"{artifact_path.strip('/')}/{MANIFEST}")
    return ModelInfo(
        f"runs:/{run.id}/{artifact_path.strip('/')}", run.id, artifact_path, manifest, manifest_info.sha256
    )


def read_manifest(run_id: str, path: str) -> dict[str, Any]:
    """The manifest of the package at ``runs:/<run_id>/<path>`` (hash-verified)."""
    try:
        data = get_session().artifacts.read_bytes(run_id, f"{path.strip('/')}/{MANIFEST}")
    except NotFound:
        raise NotFound(f"runs:/{run_id}/{path} is not a loopml model package (no {MANIFEST}).") from None
    return json.loads(data)


def load_model(uri: str, *, trust: bool = False, trusted_types: Iterable[str] | None = None) -> LoadedModel:
    """Load ``runs:/<id>/<path>``, ``models:/<name>/<version>`` or ``models:/<name>@<alias>``.

    A skops model may construct only the types loopml trusts (scikit-learn estimators and trees,
    numpy and scipy data types; see :mod:`loopml.core.trust`) plus ``trusted_types``, whatever its
    manifest says. ``trust=True`` accepts every type and pickled models: only for models you
    produced yourself. Raises ``IntegrityError`` if any file changed since it was logged, and
    ``SecurityError`` naming the types (or the pickle) it refused.

    >>> lm.load_model("models:/churn@production", trusted_types=["mypkg.MyTransformer"])  # doctest: +SKIP
    """
    extra = parse_type_names(trusted_types, field="trusted_types")
    if not isinstance(trust, bool):
        raise InvalidInput(
            f"Invalid trust={trust!r}: expected True or False.", details=[{"field": "trust", "problem": "not a bool"}]
        )
    parsed = parse_uri(uri)
    name: str | None = None
    version: int | None = None
    expected_manifest: str | None = None
    if parsed.scheme == "models":
        found = get_session().models.get_version(parsed.name, version=parsed.version, alias=parsed.alias)
        refuse_mlflow_version(found, uri)
        reads.record_model(parsed.name, parsed.alias, found.version)  # a pipeline step's cache validity
        name, version, expected_manifest = found.name, found.version, found.manifest_sha256
        parsed = parse_uri(found.source, expect="runs")
    elif parsed.scheme != "runs":
        raise InvalidInput(f"load_model takes runs:/ or models:/ URIs, got {uri!r}.")
    run_id, path = resolve_run_id(parsed.name), parsed.path or "model"
    session = get_session()
    infos = session.artifacts.list(run_id, path)
    manifest_info = _find(infos, f"{path}/{MANIFEST}", uri)
    if expected_manifest is not None and manifest_info.sha256 != expected_manifest:
        raise IntegrityError(f"{uri}: the package's manifest changed since the version was registered.")
    with tempfile.TemporaryDirectory(prefix="loopml-load-") as tmp:
        folder = session.artifacts.download(run_id, path, Path(tmp))
        manifest = json.loads((folder / MANIFEST).read_text())
        _verify_files(folder, manifest, uri)
        raw = _load_raw(folder, manifest, trust=trust, trusted_types=extra, uri=uri)
    return LoadedModel(raw, uri=uri, manifest=manifest, name=name, version=version)


def refuse_mlflow_version(found: ModelVersion, uri: str) -> None:
    """Refuse a version registered through the MLflow API (flavor ``mlflow``) with a ``SecurityError``:
    loopml does not load MLflow models, whose files are pickles written by whoever logged them (so
    ``loopml serve`` does not retry it either)."""
    if found.flavor == MLFLOW_FLAVOR:
        where = uri if uri == found.uri else f"{uri} ({found.uri})"
        raise SecurityError(
            f"{where} is an MLflow model registered through the MLflow API "
            f"from {found.source}; loopml does not load MLflow models (they are pickles). Load it with mlflow "
            f"against this store's server (mlflow.pyfunc.load_model('models:/{found.name}/{found.version}')), or "
            "log the model with lm.log_model and register that package to load or serve it with loopml.",
            details=[{"field": "uri", "problem": "an MLflow model, which loopml does not load"}],
        )


def reference_profile(model: LoadedModel | str) -> DataProfile | None:
    """The reference profile stored with a model package (``None`` when it was logged without one).

    ``model`` is a loaded model or a ``runs:/`` / ``models:/`` URI. The file is checked against
    the SHA-256 in the manifest (and the manifest against the registered version) and parsed as
    JSON into a :class:`~loopml.data.sketch.DataProfile`; nothing in it is executed.

    >>> lm.registry.reference_profile("models:/churn@production").columns["age"].count  # doctest: +SKIP
    """
    found = _package_file(model, REFERENCE_PROFILE, "reference_profile")
    if found is None:
        return None
    uri, data = found
    try:
        parsed_json = json.loads(data)
    except ValueError as exc:
        raise IntegrityError(f"{uri}: {REFERENCE_PROFILE} is not valid JSON ({exc}).") from exc
    return DataProfile.from_dict(parsed_json)


def reference_scores(model: LoadedModel | str) -> pd.DataFrame | None:
    """The model's class probabilities on its reference data with the true labels (``label``,
    ``proba.<class>``), stored by ``log_model(..., reference_labels=y)``; ``None`` without them.

    What quality estimation without labels (CBPE) is calibrated on. Checked against the manifest's
    SHA-256 and read as Parquet data (columns only; nothing in it runs).
    """
    found = _package_file(model, REFERENCE_SCORES, "reference_scores")
    if found is None:
        return None
    uri, data = found
    try:
        frame = pq.read_table(pa.BufferReader(data)).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise IntegrityError(f"{uri}: {REFERENCE_SCORES} is not a Parquet file ({exc}).") from exc
    if "label" not in frame.columns or not any(str(c).startswith("proba.") for c in frame.columns):
        raise IntegrityError(f"{uri}: {REFERENCE_SCORES} has no label or proba.* columns.")
    return frame


def _package_file(model: LoadedModel | str, name: str, key: str) -> tuple[str, bytes] | None:
    """``(uri, bytes)`` of the optional package file the manifest names under ``key``, hash-checked."""
    uri = model.uri if isinstance(model, LoadedModel) else model
    if not isinstance(uri, str):
        raise InvalidInput(
            f"{key} takes a loaded model or a model URI, got {type(model).__name__}.",
            details=[{"field": "model", "problem": "not a model or URI"}],
        )
    parsed = parse_uri(uri)
    expected_manifest: str | None = None
    if parsed.scheme == "models":
        found = get_session().models.get_version(parsed.name, version=parsed.version, alias=parsed.alias)
        refuse_mlflow_version(found, uri)
        expected_manifest = found.manifest_sha256
        parsed = parse_uri(found.source, expect="runs")
    elif parsed.scheme != "runs":
        raise InvalidInput(f"{key} takes runs:/ or models:/ URIs, got {uri!r}.")
    run_id, path = resolve_run_id(parsed.name), (parsed.path or "model").strip("/")
    artifacts = get_session().artifacts
    try:
        raw_manifest = artifacts.read_bytes(run_id, f"{path}/{MANIFEST}")
    except NotFound:
        raise NotFound(f"{uri} is not a loopml model package (no {MANIFEST}).") from None
    if expected_manifest is not None and hashlib.sha256(raw_manifest).hexdigest() != expected_manifest:
        raise IntegrityError(f"{uri}: the package's manifest changed since the version was registered.")
    manifest = json.loads(raw_manifest)
    if not isinstance(manifest, dict) or manifest.get(key) != name:
        return None
    data = artifacts.read_bytes(run_id, f"{path}/{name}")
    if hashlib.sha256(data).hexdigest() != manifest.get("files", {}).get(name):
        raise IntegrityError(f"{uri}: {name} does not match the SHA-256 recorded in its manifest.")
    return uri, data


def _scores(model: Any, data: Any, labels: Any) -> pd.DataFrame | None:
    """The model's probabilities on (a sample of) the reference data, with the labels."""
    if labels is None:
        return None
    if data is None:
        raise InvalidInput(
            "reference_labels needs reference_data (the rows they label).",
            details=[{"field": "reference_labels", "problem": "given without reference_data"}],
        )
    if not callable(getattr(model, "predict_proba", None)):
        raise InvalidInput(
            f"reference_labels are for classifiers with predict_proba; {type(model).__name__} has none.",
            details=[{"field": "reference_labels", "problem": "the model has no predict_proba"}],
        )
    frame = data.to_pandas() if isinstance(data, pa.Table) else data
    truth = np.asarray(labels)
    if truth.ndim != 1 or len(truth) != len(frame):
        raise InvalidInput(
            f"reference_labels has {len(truth)} labels for {len(frame)} rows of reference_data.",
            details=[{"field": "reference_labels", "problem": "length differs from reference_data"}],
        )
    if len(frame) > REFERENCE_SCORE_ROWS:  # a calibration set, not a copy of the training data
        keep = np.sort(np.random.default_rng(0).choice(len(frame), REFERENCE_SCORE_ROWS, replace=False))
        frame, truth = frame.iloc[keep] if isinstance(frame, pd.DataFrame) else frame[keep], truth[keep]
    try:
        proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
    except Exception as exc:  # the user's model rejected its own reference data: say so
        raise InvalidInput(f"model.predict_proba(reference_data) failed: {type(exc).__name__}: {exc}") from exc
    classes = getattr(model, "classes_", range(proba.shape[1]))
    scores = pd.DataFrame({f"proba.{c}": proba[:, i] for i, c in enumerate(classes)})
    scores.insert(0, "label", truth)
    return scores


def _reference(data: Any) -> DataProfile | None:
    if data is None:
        return None
    if isinstance(data, np.ndarray):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame | pa.Table):
        raise InvalidInput(
            f"reference_data must be a DataFrame, an Arrow table or a 2-D array, got {type(data).__name__}.",
            details=[{"field": "reference_data", "problem": f"unsupported type {type(data).__name__}"}],
        )
    if len(data) == 0:
        raise InvalidInput("reference_data has no rows.", details=[{"field": "reference_data", "problem": "no rows"}])
    return sketch(data)


def _write_package(
    model: Any,
    folder: Path,
    signature: Signature | None,
    input_example: Any,
    features: dict[str, Any] | None = None,
) -> dict[str, Any]:
    flavor, loader, model_file, needs = _save_model(model, folder)
    if input_example is not None:
        frame = input_example if isinstance(input_example, pd.DataFrame) else pd.DataFrame(np.asarray(input_example))
        (folder / "input_example.json").write_text(frame.to_json(orient="split", index=False, date_format="iso"))
    packages = _package_versions()
    environment = {"python": platform.python_version(), "packages": packages}
    (folder / "requirements.txt").write_text(
        "".join(f"{name}=={v}\n" for name, v in packages.items() if name != "loopml")
    )
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {
        "format_version": FORMAT_VERSION,
        "flavor": flavor,
        "loader": loader,
        "model_file": model_file,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "signature": signature.to_dict() if signature is not None else None,
        "environment": environment,
        "needs_types": needs,
        "files": files,
        "reference_profile": REFERENCE_PROFILE if REFERENCE_PROFILE in files else None,
        "reference_scores": REFERENCE_SCORES if REFERENCE_SCORES in files else None,
        "features": features,
        "created_at": now_ms(),
        "loopml_version": __version__,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _save_model(model: Any, folder: Path) -> tuple[str, str, str, list[str]]:
    """Save with skops when it is a scikit-learn estimator, else with cloudpickle."""
    if _is_sklearn(model):
        import skops.io as sio

        target = folder / "model.skops"
        sio.dump(model, target)
        return "sklearn", "skops", target.name, sorted(sio.get_untrusted_types(file=target))
    import cloudpickle

    target = folder / "model.pkl"
    with open(target, "wb") as out:
        cloudpickle.dump(model, out)
    return "python", "cloudpickle", target.name, []


def _is_sklearn(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, BaseEstimator)


def _load_raw(folder: Path, manifest: dict[str, Any], *, trust: bool, trusted_types: tuple[str, ...], uri: str) -> Any:
    path = folder / manifest["model_file"]
    if manifest["loader"] == "skops":
        # The manifest's needs_types (trusted_types in older packages) is never read here: the
        # package's author wrote it.
        return load_skops(path, trusted_types=trusted_types, trust=trust, where=uri)
    if manifest["loader"] == "cloudpickle":
        if not trust:
            raise SecurityError(
                f"{uri} is a pickled model ({manifest.get('model_class')}); unpickling runs arbitrary code. "
                "Load it with trust=True only if you produced it yourself."
            )
        import cloudpickle

        with open(path, "rb") as stream:
            return cloudpickle.load(stream)
    raise InvalidInput(f"{uri}: unknown model loader {manifest['loader']!r}.")


def _verify_files(folder: Path, manifest: dict[str, Any], uri: str) -> None:
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != expected:
            raise IntegrityError(f"{uri}: file {name!r} does not match the SHA-256 recorded in its manifest.")


def _find(infos: list[ArtifactInfo], path: str, uri: str) -> ArtifactInfo:
    for info in infos:
        if info.path == path:
            return info
    raise NotFound(f"{uri} is not a loopml model package (no {path}).")


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in ENV_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def manifest_features(manifest: dict[str, Any], uri: str) -> tuple[tuple[str, ...], bool]:
    """The feature references a package declares and whether its columns are ``view__feature``.

    The manifest is untrusted: anything but a list of ``view:feature`` strings is an ``IntegrityError``.
    """
    declared = manifest.get("features")
    if declared is None:
        return (), False
    refs = declared.get("refs") if isinstance(declared, dict) else None
    full = declared.get("full_feature_names", False) if isinstance(declared, dict) else None
    if (
        not isinstance(refs, list)
        or not all(isinstance(ref, str) and FEATURE_REF.match(ref) for ref in refs)
        or not isinstance(full, bool)
    ):
        raise IntegrityError(f"{uri}: the manifest's features are malformed (expected view:feature references).")
    return tuple(refs), full


def feature_column(ref: str, full_feature_names: bool) -> str:
    """The input column a feature reference fills: ``feature``, or ``view__feature`` with full names."""
    view, feature = ref.split(":")
    return f"{view}{FULL_NAME_SEPARATOR}{feature}" if full_feature_names else feature


def _declared_features(
    features: Sequence[str] | None, run: ActiveRun, signature: Signature | None
) -> dict[str, Any] | None:
    """``{"refs", "full_feature_names"}`` for the manifest: the ``features`` given, else the run's tag."""
    inputs = None if signature is None else {spec.name for spec in signature.inputs}
    if features is not None:
        refs = [features] if isinstance(features, str) else list(features)
        for ref in refs:
            if not isinstance(ref, str) or not FEATURE_REF.match(ref):
                raise InvalidInput(
                    f"Invalid feature reference {ref!r}: use 'view:feature'.",
                    details=[{"field": "features", "problem": "not view:feature"}],
                )
        if len(set(refs)) != len(refs):
            raise InvalidInput(
                "features lists a reference twice.", details=[{"field": "features", "problem": "duplicate"}]
            )
        if not refs:
            return None
        full = _full_names(refs, inputs)
        if inputs is not None:
            missing = [ref for ref in refs if feature_column(ref, full) not in inputs]
            if missing:
                raise InvalidInput(
                    f"Feature {missing[0]!r} is not an input of the model's signature "
                    f"(inputs: {', '.join(sorted(inputs))}).",
                    details=[{"field": "features", "problem": "not a signature input"}],
                )
        return {"refs": refs, "full_feature_names": full}
    tagged = run.info.tags.get(FEATURES_TAG)
    if not tagged:
        return None
    try:
        refs = json.loads(tagged)
    except ValueError:
        return None
    if not isinstance(refs, list) or not all(isinstance(r, str) and FEATURE_REF.match(r) for r in refs):
        return None
    full = _full_names(refs, inputs)
    if inputs is not None:
        refs = [ref for ref in refs if feature_column(ref, full) in inputs]
    return {"refs": refs, "full_feature_names": full} if refs else None


def _full_names(refs: list[str], inputs: set[str] | None) -> bool:
    """Whether the signature names feature columns ``view__feature`` (when every reference's full name is an input)."""
    return inputs is not None and all(feature_column(ref, True) in inputs for ref in refs)
