"""The gate's statistics against scikit-learn and scipy, and the bootstrap against the analytic tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from loopml.automation.significance import (
    MCNEMAR_EXACT_BELOW,
    choose_test,
    compare,
    delong,
    delong_covariance,
    mcnemar,
    paired_bootstrap,
    score,
)
from loopml.core.errors import InvalidInput

RNG = np.random.default_rng(7)
N = 400
Y = RNG.integers(0, 2, N)
SCORE_A = Y + RNG.normal(0, 1.2, N)
SCORE_B = Y + RNG.normal(0, 0.8, N)
LABEL_A = (SCORE_A > 0.5).astype(int)
LABEL_B = (SCORE_B > 0.5).astype(int)


def _field(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(exc.value.details[0]["field"])


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("accuracy", skm.accuracy_score),
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ],
)
def test_label_metrics_match_scikit_learn_binary_and_macro(metric: str, reference: Any) -> None:
    assert score(metric, Y, LABEL_A) == pytest.approx(reference(Y, LABEL_A))
    y3, p3 = RNG.integers(0, 3, N), RNG.integers(0, 3, N)
    kwargs = {} if metric == "accuracy" else {"average": "macro"}
    assert score(metric, y3, p3) == pytest.approx(reference(y3, p3, **kwargs))


def test_score_metrics_match_scikit_learn() -> None:
    assert score("roc_auc", Y, SCORE_A) == pytest.approx(skm.roc_auc_score(Y, SCORE_A))
    ties = np.round(SCORE_A)  # heavy ties: average ranks
    assert score("roc_auc", Y, ties) == pytest.approx(skm.roc_auc_score(Y, ties))
    proba = 1 / (1 + np.exp(-SCORE_A))
    assert score("log_loss", Y, proba) == pytest.approx(skm.log_loss(Y, proba))
    y3 = RNG.integers(0, 3, N)
    p3 = RNG.dirichlet([1, 1, 1], N)
    assert score("log_loss", y3, p3) == pytest.approx(skm.log_loss(y3, p3))


def test_regression_metrics_match_scikit_learn() -> None:
    y = RNG.normal(size=N)
    pred = y + RNG.normal(0, 0.5, N)
    assert score("rmse", y, pred) == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert score("mae", y, pred) == pytest.approx(skm.mean_absolute_error(y, pred))
    assert score("r2", y, pred) == pytest.approx(skm.r2_score(y, pred))


def test_undefined_metric_is_nan_not_an_error() -> None:
    assert np.isnan(score("roc_auc", np.ones(10), np.arange(10.0)))


def _labels_with_discordance(only_a: int, only_b: int, both: int = 50) -> tuple[np.ndarray, ...]:
    """Labels where exactly ``only_a`` rows are right only for a and ``only_b`` only for b."""
    y = np.ones(only_a + only_b + both, dtype=int)
    a = np.concatenate([np.ones(only_a), np.zeros(only_b), np.ones(both)]).astype(int)
    b = np.concatenate([np.zeros(only_a), np.ones(only_b), np.ones(both)]).astype(int)
    return y, a, b


def test_mcnemar_exact_matches_the_binomial_test() -> None:
    y, a, b = _labels_with_discordance(3, 12)
    result = mcnemar(y, a, b)
    assert MCNEMAR_EXACT_BELOW > 3 + 12  # the exact branch
    assert result.p_value == pytest.approx(stats.binomtest(12, 15, 0.5, alternative="greater").pvalue)
    # statsmodels' two-sided exact p: min(1, 2 * binom.cdf(min(n01, n10), n, 0.5))
    assert min(1.0, 2 * stats.binom.cdf(3, 15, 0.5)) == pytest.approx(2 * result.p_value)
    assert result.statistic == 3
    assert result.difference == pytest.approx((12 - 3) / len(y))


def test_mcnemar_chi_squared_with_continuity_correction() -> None:
    y, a, b = _labels_with_discordance(20, 40)
    result = mcnemar(y, a, b)
    expected = (abs(20 - 40) - 1) ** 2 / 60
    assert result.statistic == pytest.approx(expected)
    assert 2 * result.p_value == pytest.approx(stats.chi2.sf(expected, 1))  # statsmodels' two-sided p
    worse = mcnemar(y, b, a)  # the other way round: b is the worse one
    assert worse.p_value == pytest.approx(1 - result.p_value)
    assert mcnemar(y, a, a).p_value == 1.0


def test_delong_aucs_match_scikit_learn_and_its_variance_a_bootstrap() -> None:
    result = delong(Y, SCORE_A, SCORE_B)
    assert result.score_a == pytest.approx(skm.roc_auc_score(Y, SCORE_A))
    assert result.score_b == pytest.approx(skm.roc_auc_score(Y, SCORE_B))
    aucs, cov = delong_covariance(Y, np.vstack([SCORE_A, SCORE_B]))
    assert aucs == pytest.approx([result.score_a, result.score_b])
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    rng = np.random.default_rng(0)
    idx = rng.integers(0, N, size=(300, N))
    boot = [skm.roc_auc_score(Y[i], SCORE_B[i]) - skm.roc_auc_score(Y[i], SCORE_A[i]) for i in idx]
    assert np.var(boot) == pytest.approx(variance, rel=0.25)
    assert result.statistic == pytest.approx(result.difference / np.sqrt(variance))
    assert result.p_value == pytest.approx(stats.norm.sf(result.statistic))
    same = delong(Y, SCORE_A, SCORE_A)
    assert (same.difference, same.p_value) == (0.0, 1.0)


def test_bootstrap_agrees_with_delong_and_mcnemar() -> None:
    boot = paired_bootstrap(Y, SCORE_A, SCORE_B, "roc_auc", n_resamples=2000)
    analytic = delong(Y, SCORE_A, SCORE_B)
    assert boot.difference == pytest.approx(analytic.difference)
    assert boot.difference_ci == pytest.approx(analytic.difference_ci, abs=0.015)
    assert boot.p_value == pytest.approx(analytic.p_value, abs=0.03)
    boot_acc = paired_bootstrap(Y, LABEL_A, LABEL_B, "accuracy", n_resamples=2000)
    assert boot_acc.difference_ci == pytest.approx(mcnemar(Y, LABEL_A, LABEL_B).difference_ci, abs=0.015)


def test_bootstrap_is_seeded_and_equal_models_are_never_better() -> None:
    first = paired_bootstrap(Y, LABEL_A, LABEL_B, "f1", n_resamples=300, seed=3)
    assert first == paired_bootstrap(Y, LABEL_A, LABEL_B, "f1", n_resamples=300, seed=3)
    same = paired_bootstrap(Y, LABEL_A, LABEL_A, "f1", n_resamples=300)
    assert same.p_value == 1.0
    assert same.difference_ci == (0.0, 0.0)


def test_bootstrap_handles_lower_is_better_metrics() -> None:
    y = RNG.normal(size=N)
    good, bad = y + RNG.normal(0, 0.3, N), y + RNG.normal(0, 1.0, N)
    result = paired_bootstrap(y, bad, good, "rmse", n_resamples=500)
    assert result.difference < 0 < result.improvement
    assert result.p_value < 0.01
    assert paired_bootstrap(y, good, bad, "rmse", n_resamples=500).p_value > 0.99


def test_bootstrap_chunks_large_inputs_the_same_way() -> None:
    y = RNG.integers(0, 2, 30_000)
    a, b = RNG.integers(0, 2, 30_000), y.copy()
    result = paired_bootstrap(y, a, b, "accuracy", n_resamples=200)  # 6M cells: several chunks
    assert result.p_value == pytest.approx(1 / 201)
    assert result.ci_b == (1.0, 1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=20, max_value=200), st.integers(min_value=0, max_value=2**16))
def test_swapping_the_models_mirrors_the_comparison(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    forward = paired_bootstrap(y, a, b, "accuracy", n_resamples=200, seed=seed)
    backward = paired_bootstrap(y, b, a, "accuracy", n_resamples=200, seed=seed)
    assert forward.difference == pytest.approx(-backward.difference)
    assert forward.difference_ci == pytest.approx((-backward.difference_ci[1], -backward.difference_ci[0]))
    # forward counts resamples with d <= 0, backward those with d >= 0: together at least all of them
    assert forward.p_value + backward.p_value >= 1 - 1e-9
    assert forward.score_a == pytest.approx(skm.accuracy_score(y, a))


def test_auto_picks_the_test_for_the_metric() -> None:
    assert [choose_test(m) for m in ("roc_auc", "accuracy", "f1", "rmse")] == [
        "delong",
        "mcnemar",
        "bootstrap",
        "bootstrap",
    ]
    assert compare(Y, SCORE_A, SCORE_B, "roc_auc").test == "delong"
    assert compare(Y, SCORE_A, SCORE_B, "roc_auc", test="bootstrap", n_resamples=200).test == "bootstrap"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: paired_bootstrap(Y, LABEL_A, LABEL_B[:-1], "accuracy"), "pred_b"),
        (lambda: paired_bootstrap(Y, LABEL_A, LABEL_B, "auc"), "metric"),
        (lambda: paired_bootstrap(Y, LABEL_A, LABEL_B, "accuracy", n_resamples=0), "n_resamples"),
        (lambda: paired_bootstrap(Y, LABEL_A, LABEL_B, "accuracy", significance=0.7), "significance"),
        (lambda: paired_bootstrap(Y, SCORE_A, np.full(N, np.nan), "roc_auc"), "pred_b"),
        (lambda: paired_bootstrap(np.array([]), np.array([]), np.array([]), "accuracy"), "y_true"),
        (lambda: delong(RNG.integers(0, 3, N), SCORE_A, SCORE_B), "y_true"),
        (lambda: delong(np.r_[1, np.zeros(N - 1)], SCORE_A, SCORE_B), "y_true"),
        (lambda: mcnemar(Y, LABEL_A[:10], LABEL_B), "label_a"),
        (lambda: compare(Y, LABEL_A, LABEL_B, "f1", test="delong"), "test"),
        (lambda: compare(Y, LABEL_A, LABEL_B, "f1", test="t-test"), "test"),
        (lambda: score("log_loss", Y, np.ones((N, 3)) / 3), "pred"),
    ],
)
def test_bad_input_names_the_field(call: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        call()
    assert _field(exc) == field
