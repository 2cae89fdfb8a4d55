"""The gate as a CI check: a candidate version against the serving champion, with JUnit XML and Markdown.

``loopml ci check --model churn --candidate 4 --metric roc_auc --evaluation-data datasets:/holdout@latest
--target churned`` runs :func:`run_check`: both models are scored on the same evaluation dataset
version by :func:`~loopml.automation.gate.evaluate_gate`, the evaluation data is optionally
validated against a schema first, and the outcome is written as JUnit XML (one test case per
criterion, for any CI system) and as Markdown (for a pull-request comment).

>>> result = run_check("churn", 4, policy=PromotionPolicy(metric="roc_auc"), target="churned",
...                    evaluation_data="datasets:/holdout@latest")                      # doctest: +SKIP
>>> result.passed, result.junit_xml()[:38]                                             # doctest: +SKIP
(True, '<?xml version="1.0" encoding="utf-8"?>')
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml.automation.gate import GateDecision, PromotionPolicy, evaluate_gate
from loopml.automation.significance import METRICS
from loopml.core.errors import InvalidInput, NotFound
from loopml.monitoring.layout import check_model_name

if TYPE_CHECKING:
    from loopml.data.validation import ValidationReport

SUITE_CLASS = "loopml.gate"


@dataclass(frozen=True, slots=True)
class Criterion:
    """One thing the check judged: a JUnit test case (``passed=None``: reported, not judged)."""

    name: str
    passed: bool | None
    message: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A CI check's outcome: the gate's decision, the data check, and where they came from."""

    model: str
    champion_uri: str | None
    candidate_uri: str
    evaluation_data: str
    decision: GateDecision
    policy: PromotionPolicy
    data_report: ValidationReport | None
    seconds: float

    @property
    def passed(self) -> bool:
        """The gate passed and the evaluation data (when checked) is valid."""
        return self.decision.passed and (self.data_report is None or self.data_report.ok)

    def criteria(self) -> list[Criterion]:
        """Every criterion, the headline comparison first."""
        d = self.decision
        against = "the champion" if self.champion_uri else "its thresholds (no champion yet)"
        found = [Criterion(f"{d.metric}: challenger against {against}", _headline(d, self.policy), d.reasons[0])]
        for guardrail in d.guardrails:
            found.append(
                Criterion(f"guardrail {guardrail.name} ({guardrail.scope})", guardrail.passed, guardrail.reason)
            )
        for piece in d.slices:
            if piece.judged:
                found.append(Criterion(f"slice {piece.name}", piece.passed, piece.reason))
        if self.data_report is not None:
            if self.data_report.ok:
                found.append(Criterion("evaluation data matches its schema", True, "no violation"))
            for violation in self.data_report.errors:
                found.append(Criterion(f"data: {violation.column} {violation.rule}", False, _violation(violation)))
        return found

    def junit_xml(self) -> str:
        """JUnit XML: one ``testsuite`` with a ``testcase`` per criterion (``failure`` / ``skipped``)."""
        criteria = self.criteria()
        suites = ET.Element("testsuites", name="loopml ci check")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"gate {self.model}: {self.candidate_uri}",
            tests=str(len(criteria)),
            failures=str(sum(c.passed is False for c in criteria)),
            errors="0",
            skipped=str(sum(c.passed is None for c in criteria)),
            time=f"{self.seconds:.3f}",
        )
        for criterion in criteria:
            case = ET.SubElement(suite, "testcase", classname=SUITE_CLASS, name=criterion.name, time="0")
            if criterion.passed is False:
                failure = ET.SubElement(case, "failure", message=criterion.message[:500], type="GateFailure")
                failure.text = criterion.message
            elif criterion.passed is None:
                ET.SubElement(case, "skipped", message=criterion.message[:500])
        suites.set("tests", suite.get("tests", "0"))
        suites.set("failures", suite.get("failures", "0"))
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"

    def markdown(self) -> str:
        """A Markdown summary for a pull-request comment: verdict, scores, reasons, slices, guardrails."""
        d = self.decision
        lines = [
            f"### loopml gate: {'✅ passed' if self.passed else '❌ failed'} for `{self.candidate_uri}`",
            "",
            f"Champion: `{self.champion_uri or 'none yet'}` · evaluation data: `{self.evaluation_data}` "
            f"({d.n_rows:,} rows) · test: {d.test}",
            "",
            f"| | {d.metric} | 95% interval |" if d.champion_ci or d.challenger_ci else f"| | {d.metric} | |",
            "|---|---:|---|",
        ]
        if self.champion_uri is not None:
            lines.append(f"| champion | {_fmt(d.champion_score)} | {_interval(d.champion_ci)} |")
        lines.append(f"| challenger | {_fmt(d.challenger_score)} | {_interval(d.challenger_ci)} |")
        if d.difference is not None:
            p = "" if d.p_value is None else f" (p={_fmt(d.p_value)})"
            lines.append(f"| difference | {_fmt(d.difference)}{p} | {_interval(d.difference_ci)} |")
        lines += ["", "**Reasons**", ""] + [f"- {reason}" for reason in d.reasons]
        judged = [s for s in d.slices if s.judged or s.n_rows]
        if judged:
            lines += [
                "",
                "**Slices**",
                "",
                "| slice | rows | champion | challenger | verdict |",
                "|---|---:|---:|---:|---|",
            ]
            for s in judged:
                verdict = "not judged" if not s.judged else ("ok" if s.passed else "worse")
                lines.append(f"| {s.name} | {s.n_rows:,} | {_fmt(s.champion_score)} | {_fmt(s.challenger_score)} | "
                             f"{verdict} |")  # fmt: skip
        if d.guardrails:
            lines += ["", "**Guardrails**", "", "| guardrail | scope | limit | champion | challenger | verdict |",
                      "|---|---|---:|---:|---:|---|"]  # fmt: skip
            for g in d.guardrails:
                verdict = "not judged" if g.passed is None else ("ok" if g.passed else "violated")
                lines.append(f"| {g.name} | {g.scope} | {_fmt(g.limit)} | {_fmt(g.champion_value)} | "
                             f"{_fmt(g.challenger_value)} | {verdict} |")  # fmt: skip
        if self.data_report is not None:
            lines += ["", f"**Evaluation data**: {'valid' if self.data_report.ok else 'invalid'}"]
            lines += [f"- {_violation(v)}" for v in self.data_report.errors]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "passed": self.passed,
            "model": self.model,
            "champion": self.champion_uri,
            "candidate": self.candidate_uri,
            "evaluation_data": self.evaluation_data,
            "decision": self.decision.to_dict(),
            "data_check": None if self.data_report is None else self.data_report.to_dict(),
            "criteria": [{"name": c.name, "passed": c.passed, "message": c.message} for c in self.criteria()],
        }


def run_check(
    model: str,
    candidate: int | str,
    *,
    policy: PromotionPolicy,
    evaluation_data: str | None = None,
    target: str | None = None,
    alias: str = "production",
    data_check: str | Path | None = None,
) -> CheckResult:
    """Gate ``candidate`` (a version of ``model``, or a model URI) against ``models:/model@alias``."""
    from loopml.registry.models import get_model_version
    from loopml.registry.packaging import load_model

    started = time.perf_counter()
    check_model_name(model)
    candidate_uri = _candidate_uri(model, candidate)
    source = evaluation_data or policy.evaluation_data
    if not source:
        raise InvalidInput(
            "No evaluation data: pass --evaluation-data datasets:/NAME@latest (or set the policy's evaluation_data).",
            details=[{"field": "evaluation_data", "problem": "missing"}],
        )
    target = target or policy.target
    if not target:
        raise InvalidInput(
            "No target column: pass --target COLUMN (or set the policy's target).",
            details=[{"field": "target", "problem": "missing"}],
        )
    frame, described = _evaluation_frame(source)
    if target not in frame.columns:
        raise InvalidInput(
            f"The evaluation data {described} has no target column {target!r}; "
            f"its columns: {list(frame.columns)[:20]}.",
            details=[{"field": "target", "problem": "not a column of the evaluation data"}],
        )
    report = None
    if data_check is not None:
        from loopml.data.schema import Schema
        from loopml.data.validation import validate

        report = validate(frame, Schema.load(data_check))
    challenger = load_model(candidate_uri)
    champion = None
    champion_uri: str | None = f"models:/{model}@{alias}"
    try:
        found = get_model_version(f"models:/{model}@{alias}")
        champion_uri = found.uri
        champion = load_model(champion_uri)
    except NotFound:
        champion_uri = None
    if champion is not None:
        _check_compatible(champion, challenger, champion_uri or "", candidate_uri)
    decision = evaluate_gate(policy, champion, challenger, frame, target=target)
    seconds = time.perf_counter() - started
    return CheckResult(model, champion_uri, candidate_uri, described, decision, policy, report, seconds)


def _candidate_uri(model: str, candidate: int | str) -> str:
    if isinstance(candidate, int) or (isinstance(candidate, str) and candidate.isdigit()):
        version = int(candidate)
        if version < 1:
            raise InvalidInput(
                f"Invalid candidate version {candidate!r}.", details=[{"field": "candidate", "problem": "not >= 1"}]
            )
        return f"models:/{model}/{version}"
    if isinstance(candidate, str) and candidate.startswith(("models:/", "runs:/")):
        return candidate
    raise InvalidInput(
        f"Invalid candidate {candidate!r}: a version number of {model!r}, or a models:/ or runs:/ URI.",
        details=[{"field": "candidate", "problem": "not a version or model URI"}],
    )


def _evaluation_frame(source: str) -> tuple[pd.DataFrame, str]:
    """The evaluation data as a DataFrame, and how to name it (the pinned dataset version)."""
    if source.startswith("datasets:/"):
        from loopml.data.catalog import get_version, load

        version = get_version(source)
        return load(version.uri), version.uri
    path = Path(source)
    if not path.exists():
        raise InvalidInput(
            f"Evaluation data {source!r} is neither a datasets:/ URI nor an existing file.",
            details=[{"field": "evaluation_data", "problem": "not found"}],
        )
    import pyarrow as pa

    from loopml.data.sources import open_source

    with open_source(path) as opened:
        table = pa.Table.from_batches(list(opened.batches()), schema=opened.schema)
    return table.to_pandas(), str(path)


def _check_compatible(champion: Any, challenger: Any, champion_uri: str, candidate_uri: str) -> None:
    """The candidate must take the champion's input columns (else it could not replace it)."""
    mine = _inputs(champion)
    theirs = _inputs(challenger)
    if mine and theirs and set(mine) != set(theirs):
        missing, extra = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        raise InvalidInput(
            f"{candidate_uri} cannot replace {champion_uri}: its inputs differ (missing {missing}, extra {extra}).",
            details=[{"field": "candidate", "problem": "signature incompatible with the champion"}],
        )


def _inputs(model: Any) -> list[str]:
    signature = getattr(model, "signature", None)
    return [spec.name for spec in getattr(signature, "inputs", [])]


def _headline(decision: GateDecision, policy: PromotionPolicy) -> bool:
    """The headline comparison on its own: the gate's verdict before guardrails."""
    if not any(g.passed is False for g in decision.guardrails):
        return decision.passed
    higher = METRICS[decision.metric].higher_is_better
    if decision.difference is None:  # no champion: the absolute threshold is the comparison
        bound = policy.absolute.get(decision.metric)
        score = decision.challenger_score
        return bound is None or (score >= bound if higher else score <= bound)
    gain = decision.difference if higher else -decision.difference
    p_value = 1.0 if decision.p_value is None else decision.p_value
    return gain > 0 and gain >= policy.min_improvement and p_value < policy.significance


def _violation(violation: Any) -> str:
    return str(violation.message or f"{violation.column}: {violation.rule}, {violation.count} row(s)")


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}"


def _interval(ci: tuple[float, float] | list[float] | None) -> str:
    if not ci:
        return ""
    return f"{_fmt(ci[0])} to {_fmt(ci[1])}"
