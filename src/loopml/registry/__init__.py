"""Model registry: packaging (signature, flavors, hashes), versions, aliases and promotion."""

from loopml.registry.packaging import LoadedModel, ModelInfo, load_model, log_model, read_manifest
from loopml.registry.signature import ColumnSpec, Signature, infer_signature

__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "ModelInfo",
    "Signature",
    "infer_signature",
    "load_model",
    "log_model",
    "read_manifest",
]
