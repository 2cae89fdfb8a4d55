"""Model serving: ``loopml serve MODEL_URI`` (see docs/serving.md).

>>> from loopml.serving import ServingConfig, create_app      # doctest: +SKIP
>>> app = create_app(ServingConfig("models:/churn@production"))  # doctest: +SKIP
"""

from loopml.serving.app import create_app, create_app_from_env
from loopml.serving.config import ServingConfig
from loopml.serving.run import serve

__all__ = ["ServingConfig", "create_app", "create_app_from_env", "serve"]
