"""Autologging: ``lm.autolog()`` records every scikit-learn, XGBoost and LightGBM fit as a run.

>>> import loopml as lm                     # doctest: +SKIP
>>> lm.autolog()                            # doctest: +SKIP
>>> LogisticRegression().fit(X, y)          # doctest: +SKIP  (a run with params, metrics, the model)
>>> lm.autolog(disable=True)                # doctest: +SKIP

What each estimator type logs is in ``docs/autolog.md``.
"""

from loopml.autologging.api import autolog
from loopml.autologging.runs import AutologWarning

__all__ = ["AutologWarning", "autolog"]
