"""The loader's own rule for which types a skops file may construct."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInput
from loopml.core.trust import BUILTIN_TYPES, parse_type_names, refused_types

HOSTILE = [
    "os.system",
    "posix.system",
    "builtins.eval",
    "builtins.exec",
    "builtins.getattr",
    "subprocess.Popen",
    "subprocess.run",
    "functools.partial",
    "operator.attrgetter",
    "operator.methodcaller",
    "numpy.load",  # a function from a trusted package
    "numpy.memmap",  # a numpy class whose constructor opens files
    "numpy.ndarray",
    "numpy.testing.assert_equal",
    "numpy.os",  # a module re-exported by numpy
    "scipy.io.loadmat",
    "sklearn.datasets.fetch_openml",
    "sklearn.utils._testing.TempMemmap",
    "sklearn.externals._packaging.version.Version",
    "loopml.core.trust.load_skops",
    "sklearn.utils.validation.check_array",
    "numpy.float64.tofile",  # a bound method (skops MethodNode): writes files when called
    "sklearn.linear_model._logistic.LogisticRegression.fit",
    "not_installed_package.Thing",
]

REAL_MODEL_TYPES = [
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.linear_model._logistic.LogisticRegression",
    "numpy.dtype",
    "numpy.float64",
    "numpy.dtypes.Float64DType",
    "builtins.slice",
]


def test_hostile_types_are_refused() -> None:
    assert refused_types(HOSTILE) == sorted(HOSTILE)


def test_types_of_real_models_are_accepted() -> None:
    assert refused_types(REAL_MODEL_TYPES) == []
    assert refused_types(BUILTIN_TYPES) == []


def test_extra_types_come_from_the_caller_only() -> None:
    assert refused_types(["os.system", "mypkg.Model"], extra=["mypkg.Model"]) == ["os.system"]
    assert refused_types(["os.system"], extra=["os.system"]) == []


def test_parse_type_names() -> None:
    assert parse_type_names(None, field="f") == ()
    assert parse_type_names(" a.B, c.d.E ,,a.B", field="f") == ("a.B", "c.d.E")
    assert parse_type_names(["a.B,c.D", "e.F"], field="f") == ("a.B", "c.D", "e.F")
    with pytest.raises(InvalidInput) as excinfo:
        parse_type_names("a.B,system", field="LOOPML_TRUSTED_TYPES")
    assert excinfo.value.details == [
        {"field": "LOOPML_TRUSTED_TYPES", "problem": "not a qualified type name: 'system'"}
    ]
