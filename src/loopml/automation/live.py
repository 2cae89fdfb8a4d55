"""The champion and its shadow on live traffic: both answers to the same requests, judged by the labels.

``loopml serve models:/churn@production --shadow models:/churn@challenger`` logs the challenger's
answer to every request beside the champion's (``role = "shadow"``). Once labels come back
(``POST /feedback``), :func:`compare_live` pairs the two answers of each labelled row and runs the
gate's paired test on them (McNemar for accuracy, a paired bootstrap for the other label metrics):
evidence from production traffic, next to the offline gate on an evaluation dataset.

>>> live = compare_live("churn", since="24h")          # doctest: +SKIP
>>> live.comparison.difference, live.comparison.p_value  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.automation.significance import METRICS, Comparison, mcnemar, paired_bootstrap
from loopml.core.errors import invalid

if TYPE_CHECKING:
    from loopml.tracking.session import Session

LABEL_METRICS = tuple(name for name, spec in METRICS.items() if spec.kind == "label")
_KEYS = ["request_id", "row"]


@dataclass(frozen=True, slots=True)
class LiveComparison:
    """The shadow (``b``) against the champion (``a``) on the labelled rows both answered."""

    model: str
    metric: str
    champion_versions: list[int]
    shadow_versions: list[int]
    n_pairs: int
    """Rows answered by the champion and scored by the shadow."""
    n_labelled: int
    """Of those, rows with a label: what the comparison uses."""
    comparison: Comparison | None
    """``None`` when fewer than ``min_labels`` rows were labelled (``reason`` says so)."""
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        from loopml.store.decisions import jsonable

        return {
            "model": self.model,
            "metric": self.metric,
            "champion_versions": self.champion_versions,
            "shadow_versions": self.shadow_versions,
            "n_pairs": self.n_pairs,
            "n_labelled": self.n_labelled,
            "comparison": None if self.comparison is None else jsonable(dataclasses.asdict(self.comparison)),
            "reason": self.reason,
        }


def compare_live(
    model: str,
    *,
    since: str | int | None = "24h",
    until: str | int | None = None,
    metric: str = "accuracy",
    significance: float = 0.05,
    min_labels: int = 30,
    n_resamples: int = 1000,
    seed: int = 0,
    session: Session | None = None,
) -> LiveComparison:
    """Compare the shadow's answers with the champion's on the labelled requests of a window of the log."""
    from loopml.monitoring import api
    from loopml.monitoring.performance import aligned_labels, with_labels

    if metric not in LABEL_METRICS:
        raise invalid("metric", f"live comparison judges answers (labels): use one of {', '.join(LABEL_METRICS)}")
    if isinstance(min_labels, bool) or not isinstance(min_labels, int) or min_labels < 1:
        raise invalid("min_labels", f"expected a positive integer, got {min_labels!r}")
    session = api.session_or_default(session)
    window = api.predictions(model, since=since, until=until, session=session)
    frame = window.frame
    if frame.empty or "role" not in frame.columns:
        return LiveComparison(model, metric, [], [], 0, 0, None, "no predictions in the window")
    ok = frame[frame["status"] == 200]
    shadow = ok[ok["role"] == "shadow"]
    served = ok[(ok["role"] != "shadow") & (ok["served_by"].fillna("champion") == "champion")]
    pairs = served[[*_KEYS, "version", "prediction"]].merge(
        shadow[[*_KEYS, "version", "prediction"]], on=_KEYS, suffixes=("_champion", "_shadow"), validate="1:1"
    )
    champions = sorted(int(v) for v in pairs["version_champion"].dropna().unique())
    shadows = sorted(int(v) for v in pairs["version_shadow"].dropna().unique())
    if pairs.empty:
        return LiveComparison(model, metric, champions, shadows, 0, 0, None, "no request was answered by both models")
    feedback = session.monitoring.feedback_frame(model, since_ms=window.since_ms, until_ms=window.until_ms)
    labelled = with_labels(pairs, feedback).dropna(subset=["label"])
    n = len(labelled)
    if n < min_labels:
        reason = f"{n} of {len(pairs)} paired rows have a label, fewer than {min_labels}"
        return LiveComparison(model, metric, champions, shadows, len(pairs), n, None, reason)
    y, champion = aligned_labels(labelled["label"], labelled["prediction_champion"])
    _, challenger = aligned_labels(labelled["label"], labelled["prediction_shadow"])
    if metric == "accuracy":
        comparison = mcnemar(y, champion, challenger, significance=significance)
    else:
        comparison = paired_bootstrap(y, champion, challenger, metric, n_resamples, seed, significance=significance)
    better = comparison.difference > 0 and comparison.p_value < significance
    reason = (
        f"the shadow is {'better' if better else 'not better beyond noise'}: {metric} "
        f"{comparison.score_b:.4g} against {comparison.score_a:.4g} on {n} labelled rows (p={comparison.p_value:.3g})"
    )
    return LiveComparison(model, metric, champions, shadows, len(pairs), n, comparison, reason)
