"""Model registry: packaging (signature, flavors, hashes), versions, aliases and promotion."""

from loopml.core.records import ModelVersion
from loopml.registry.card import ModelCard, get_model_card, model_card
from loopml.registry.models import (
    archive_model_version,
    delete_model_alias,
    delete_model_version,
    diff_model_versions,
    get_model_version,
    list_model_versions,
    list_models,
    register_model,
    set_model_alias,
    update_model_version,
)
from loopml.registry.packaging import (
    LoadedModel,
    ModelInfo,
    load_model,
    log_model,
    read_manifest,
    reference_profile,
    reference_scores,
)
from loopml.registry.signature import ColumnSpec, Signature, infer_signature

__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "ModelCard",
    "ModelInfo",
    "ModelVersion",
    "Signature",
    "archive_model_version",
    "delete_model_alias",
    "delete_model_version",
    "diff_model_versions",
    "get_model_card",
    "get_model_version",
    "infer_signature",
    "list_model_versions",
    "list_models",
    "load_model",
    "log_model",
    "model_card",
    "read_manifest",
    "reference_profile",
    "reference_scores",
    "register_model",
    "set_model_alias",
    "update_model_version",
]
