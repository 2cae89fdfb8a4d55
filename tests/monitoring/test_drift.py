"""drift(): the sample-size rule, false-positive rates, detection, inputs and every bad-input case."""

from __future__ import annotations

import doctest
import importlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput
from loopml.monitoring.detect import MIN_ROWS, drift
from loopml.monitoring.profiles import profile

CATEGORIES = np.array(["a", "b", "c", "d", "e"])
WEIGHTS = [0.4, 0.25, 0.15, 0.1, 0.1]


def _numeric(rng: np.random.Generator, n: int, k: int, loc: float = 0.0, scale: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(loc, scale, size=(n, k)), columns=[f"x{i}" for i in range(k)])


def _categorical(rng: np.random.Generator, n: int, k: int, weights: list[float] = WEIGHTS) -> pd.DataFrame:
    return pd.DataFrame({f"c{i}": rng.choice(CATEGORIES, n, p=weights) for i in range(k)})


def _upper(rate: float, trials: int) -> float:
    """The nominal rate plus three binomial standard errors: what sampling noise alone can reach."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / trials)


# ---- false positives and detection ----


@pytest.mark.parametrize(("n", "k_num", "k_cat"), [(500, 3000, 1500), (5_000, 300, 200), (100_000, 12, 12)])
def test_false_positive_rate_on_same_distribution_is_at_most_nominal(n: int, k_num: int, k_cat: int) -> None:
    # every column is an independent trial (its own random sample), so one call measures many seeds
    rng = np.random.default_rng(n)
    ref = pd.concat([_numeric(rng, n, k_num), _categorical(rng, n, k_cat)], axis=1)
    cur = pd.concat([_numeric(rng, n, k_num), _categorical(rng, n, k_cat)], axis=1)
    report = drift(ref, cur)
    table = report.columns
    numeric, categorical = table[table.kind == "numeric"], table[table.kind == "categorical"]
    if n <= 1000:
        assert set(numeric.method) == {"ks"} and set(categorical.method) == {"chi2"}
        # p-value tests: the rate is the test's size; allow only sampling noise above 5%
        assert numeric.drifted.mean() <= _upper(0.05, k_num)
        assert categorical.drifted.mean() <= _upper(0.05, k_cat)
        assert numeric.drifted.mean() > 0.02  # and the p-values are not degenerate (a test that can fail)
    else:
        assert set(numeric.method) == {"wasserstein"} and set(categorical.method) == {"js"}
        assert not table.drifted.any()
        assert numeric.statistic.max() < 0.1 and categorical.statistic.max() < 0.1
    assert not report.drifted


@pytest.mark.parametrize("n", [500, 5_000, 100_000])
def test_shifted_rescaled_and_reweighted_columns_are_found(n: int) -> None:
    rng = np.random.default_rng(7 + n)
    ref = pd.DataFrame(
        {
            "same": rng.normal(size=n),
            "shifted": rng.normal(size=n),
            "rescaled": rng.normal(size=n),
            "plan": rng.choice(CATEGORIES, n, p=WEIGHTS),
            "plan_same": rng.choice(CATEGORIES, n, p=WEIGHTS),
        }
    )
    cur = pd.DataFrame(
        {
            "same": rng.normal(size=n),
            "shifted": rng.normal(0.5, 1, size=n),
            "rescaled": rng.normal(0, 2.0, size=n),
            "plan": rng.choice(CATEGORIES, n, p=[0.15, 0.25, 0.15, 0.2, 0.25]),
            "plan_same": rng.choice(CATEGORIES, n, p=WEIGHTS),
        }
    )
    report = drift(ref, cur)
    assert report.drifted_columns == ["shifted", "rescaled", "plan"]
    assert report.share == pytest.approx(3 / 5) and report.drifted


def test_the_rule_uses_the_smaller_side() -> None:
    rng = np.random.default_rng(1)
    report = drift(_numeric(rng, 50_000, 1), _numeric(rng, 800, 1))
    assert report.columns.method.tolist() == ["ks"]
    report = drift(_numeric(rng, 50_000, 1), _numeric(rng, 1001, 1))
    assert report.columns.method.tolist() == ["wasserstein"]


# ---- methods and thresholds ----


def test_one_method_applies_to_the_columns_it_fits_and_a_dict_chooses_per_column() -> None:
    rng = np.random.default_rng(2)
    ref = pd.concat([_numeric(rng, 2000, 2), _categorical(rng, 2000, 1)], axis=1)
    cur = pd.concat([_numeric(rng, 2000, 2), _categorical(rng, 2000, 1)], axis=1)
    assert drift(ref, cur, method="ks").columns.method.tolist() == ["ks", "ks", "js"]
    assert drift(ref, cur, method="psi").columns.method.tolist() == ["psi", "psi", "psi"]
    chosen = drift(ref, cur, method={"x0": "psi", "c0": "chi2"}).columns
    assert chosen.method.tolist() == ["psi", "wasserstein", "chi2"]
    assert chosen.p_value.isna().tolist() == [True, True, False]


def test_thresholds_override_by_method_and_by_column() -> None:
    rng = np.random.default_rng(3)
    ref, cur = _numeric(rng, 3000, 2), _numeric(rng, 3000, 2, loc=0.3)
    assert drift(ref, cur).drifted_columns == ["x0", "x1"]
    assert drift(ref, cur, thresholds={"wasserstein": 0.5}).drifted_columns == []
    report = drift(ref, cur, thresholds={"wasserstein": 0.5, "x1": 0.05})
    assert report.drifted_columns == ["x1"]
    assert report.columns.threshold.tolist() == [0.5, 0.05]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "kolmogorov"}, "method"),
        ({"method": {"x0": "chi2"}}, "method.x0"),
        ({"method": {"nope": "ks"}}, "method.nope"),
        ({"method": {"x0": "bogus"}}, "method.x0"),
        ({"thresholds": {"bogus": 0.1}}, "thresholds.bogus"),
        ({"thresholds": {"ks": -1}}, "thresholds.ks"),
        ({"thresholds": {"ks": float("nan")}}, "thresholds.ks"),
        ({"share_threshold": 1.5}, "share_threshold"),
        ({"share_threshold": True}, "share_threshold"),
        ({"columns": "x0"}, "columns"),
        ({"columns": []}, "columns"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    rng = np.random.default_rng(4)
    with pytest.raises(InvalidInput) as info:
        drift(_numeric(rng, 100, 1), _numeric(rng, 100, 1), **kwargs)  # type: ignore[arg-type]
    assert info.value.details[0]["field"] == field


# ---- columns and per-column verdicts ----


def test_missing_columns_are_named_unless_excluded() -> None:
    rng = np.random.default_rng(5)
    ref = _numeric(rng, 100, 3)
    cur = _numeric(rng, 100, 3).rename(columns={"x2": "y"})
    with pytest.raises(InvalidInput) as info:
        drift(ref, cur)
    assert "x2" in info.value.message and "'y'" in info.value.message
    assert {d["field"] for d in info.value.details} == {"reference", "current"}
    assert drift(ref, cur, columns=["x0", "x1"]).columns.column.tolist() == ["x0", "x1"]
    with pytest.raises(InvalidInput, match="x2"):
        drift(ref, cur, columns=["x0", "x2"])


def test_empty_sides_are_rejected() -> None:
    rng = np.random.default_rng(6)
    ref = _numeric(rng, 100, 2)
    with pytest.raises(InvalidInput, match="current data has no rows") as info:
        drift(ref, ref.iloc[:0])
    assert info.value.details == [{"field": "current", "problem": "no rows"}]
    with pytest.raises(InvalidInput, match="reference data has no rows"):
        drift(ref.iloc[:0], ref)


def test_degenerate_columns_get_a_note_and_the_rest_is_still_computed() -> None:
    n = 600
    rng = np.random.default_rng(7)
    few = np.full(n, np.nan)
    few[:5] = rng.normal(size=5)
    ref = pd.DataFrame(
        {
            "ok": rng.normal(size=n),
            "constant": np.ones(n),
            "all_null": np.full(n, np.nan),
            "few": few,
            "mixed": np.array([1, "a"] * (n // 2), dtype=object),
            "when": pd.date_range("2026-01-01", periods=n, freq="h"),
            "flag": np.ones(n, dtype=bool),
        }
    )
    cur = ref.copy()
    cur["ok"] = rng.normal(2, 1, size=n)
    report = drift(ref, cur)
    notes = dict(zip(report.columns.column, report.columns.note, strict=True))
    assert notes == {
        "ok": "",
        "constant": "constant in both",
        "all_null": "all null",
        "few": "not enough data",
        "mixed": "mixed types",
        "when": "unsupported type",
        "flag": "constant in both",
    }
    assert report.drifted_columns == ["ok"]
    assert report.share == 1.0 and report.meta["columns_with_verdict"] == 1
    assert not report.columns.loc[report.columns.note != "", "drifted"].any()
    assert MIN_ROWS["ks"] > 5


def test_a_column_numeric_on_one_side_and_text_on_the_other_is_mixed() -> None:
    ref = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0)})
    cur = pd.DataFrame({"x": [str(i) for i in range(100)], "y": np.arange(100.0)})
    report = drift(ref, cur)
    assert report.columns.note.tolist() == ["mixed types", ""]


def test_no_column_with_a_verdict_gives_share_zero_and_says_so() -> None:
    ref = pd.DataFrame({"c": np.ones(50), "n": np.full(50, np.nan)})
    report = drift(ref, ref.copy())
    assert report.share == 0.0 and not report.drifted
    assert "no column has a verdict" in report.meta["note"]


def test_column_kinds_bool_is_categorical_and_small_int_stays_numeric() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"b": rng.random(500) < 0.5, "i": rng.integers(0, 3, 500), "s": rng.choice(["u", "v"], 500)})
    cur = pd.DataFrame({"b": rng.random(500) < 0.5, "i": rng.integers(0, 3, 500), "s": rng.choice(["u", "v"], 500)})
    table = drift(ref, cur).columns
    assert table.kind.tolist() == ["categorical", "numeric", "categorical"]
    assert table.method.tolist() == ["chi2", "ks", "chi2"]


# ---- inputs ----


def test_arrow_tables_profiles_and_prediction_windows_are_accepted() -> None:
    rng = np.random.default_rng(9)
    ref, cur = _numeric(rng, 2000, 2), _numeric(rng, 2000, 2, loc=1.0)

    @dataclass
    class Window:
        inputs: pd.DataFrame

    expected = drift(ref, cur).columns.drifted.tolist()
    assert drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)).columns.drifted.tolist() == expected
    assert drift(ref, Window(cur)).columns.drifted.tolist() == expected
    assert drift(profile(ref), cur).columns.drifted.tolist() == expected
    assert drift(ref, profile(cur)).columns.drifted.tolist() == expected
    with pytest.raises(InvalidInput) as info:
        drift(Window(ref), cur)  # a window is current data only
    assert info.value.details[0]["field"] == "reference"
    with pytest.raises(InvalidInput, match="got list"):
        drift(ref, [1, 2, 3])


def test_dataset_and_model_uris() -> None:
    rng = np.random.default_rng(10)
    ref = pd.concat([_numeric(rng, 1500, 2), _categorical(rng, 1500, 1)], axis=1)
    cur = ref.copy()
    cur["x1"] = cur["x1"] + 1
    lm.data.ingest(ref, name="train")
    lm.data.ingest(cur, name="live")
    report = drift("datasets:/train@latest", "datasets:/live/1")
    assert report.drifted_columns == ["x1"] and report.meta["reference"] == "datasets:/train@latest"

    class Mean:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(frame))

    # a model without a stored profile: its training dataset version (the run read exactly one)
    with lm.start_run() as run:
        lm.data.log_input("datasets:/train/1")
        lm.log_model(Mean(), "model")
    lm.register_model(f"runs:/{run.id}/model", name="plain")
    assert drift("models:/plain/1", cur).drifted_columns == ["x1"]
    # with reference_data: the stored profile, no dataset read
    with lm.start_run() as run:
        lm.log_model(Mean(), "model", reference_data=ref)
    lm.register_model(f"runs:/{run.id}/model", name="profiled")
    lm.set_model_alias("profiled", "production", 1)
    report = drift("models:/profiled@production", cur)
    assert report.drifted_columns == ["x1"] and "reference profile" in report.meta["reference"]
    # neither: a clear error
    with lm.start_run() as run:
        lm.log_model(Mean(), "model")
    lm.register_model(f"runs:/{run.id}/model", name="bare")
    with pytest.raises(lm.NotFound, match="reference_data="):
        drift("models:/bare/1", cur)


# ---- the report ----


def test_report_histograms_and_json() -> None:
    rng = np.random.default_rng(11)
    ref = pd.concat([_numeric(rng, 3000, 1), _categorical(rng, 3000, 1)], axis=1)
    cur = pd.concat([_numeric(rng, 3000, 1, loc=0.5), _categorical(rng, 3000, 1)], axis=1)
    report = drift(ref, cur)
    for source in (report, drift(profile(ref), cur)):
        num, cat = source.histograms["x0"], source.histograms["c0"]
        assert num.edges is not None and len(num.edges) == len(num.reference) + 1 == 31
        assert sum(num.reference) == pytest.approx(1) and sum(num.current) == pytest.approx(1)
        assert num.edges[0] <= min(ref.x0.min(), cur.x0.min()) and num.edges[-1] >= max(ref.x0.max(), cur.x0.max())
        assert cat.categories is not None and sorted(cat.categories) == sorted(CATEGORIES)
        assert sum(cat.reference) == pytest.approx(1)
    # the current mass sits to the right of the reference's
    num = report.histograms["x0"]
    centers = (np.array(num.edges[1:]) + np.array(num.edges[:-1])) / 2
    assert np.dot(centers, num.current) - np.dot(centers, num.reference) == pytest.approx(0.5, abs=0.1)
    body = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert body["drifted_columns"] == ["x0"] and body["columns"][0]["p_value"] is None


@pytest.mark.parametrize("module", ["loopml.data.sketch", "loopml.monitoring.profiles", "loopml.monitoring.detect"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
