"""``loopml ci check``: the promotion gate as a CI step (exit 0 pass, 1 fail, 2 usage), with JUnit and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output

if TYPE_CHECKING:
    from loopml.automation.gate import PromotionPolicy

app = typer.Typer(
    help="CI: run the champion/challenger gate on a candidate model version, for any CI system.",
    epilog=(
        "Example: [bold]loopml ci check --model churn --candidate 4 --metric roc_auc "
        "--evaluation-data datasets:/churn-holdout@latest --target churned --junit gate.xml --markdown gate.md[/bold]"
    ),
    no_args_is_help=True,
)


@app.command(
    "check",
    epilog=(
        "Example: [bold]loopml ci check --model churn --candidate 4 --evaluation-data datasets:/holdout@latest "
        "--target churned[/bold]  (exit 0: promote; 1: refused)\n\n"
        "[bold]loopml ci check --model churn --candidate 4 --policy churn --junit out.xml[/bold]  "
        "(the promotion of [[automation.policies]] named churn in loopml.toml)"
    ),
)
def check(
    model: Annotated[str, typer.Option("--model", "-m", help="The registered model (its champion is --alias).")],
    candidate: Annotated[str, typer.Option("--candidate", "-c", help="Version number, or a models:/ or runs:/ URI.")],
    policy: Annotated[
        str | None, typer.Option("--policy", help="Use the promotion policy of this [[automation.policies]] name.")
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="roc_auc, accuracy, f1, precision, recall, log_loss, rmse, mae, r2.")
    ] = None,
    evaluation_data: Annotated[
        str | None, typer.Option("--evaluation-data", help="datasets:/NAME/V (or @latest), or a CSV/Parquet file.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="The label column of the evaluation data.")] = None,
    alias: Annotated[str, typer.Option("--alias", help="The alias of the champion.")] = "production",
    significance: Annotated[
        float | None, typer.Option("--significance", help="Largest p-value that counts as an improvement (0.05).")
    ] = None,
    min_improvement: Annotated[
        float | None, typer.Option("--min-improvement", help="Smallest gain in --metric that counts (0.0).")
    ] = None,
    slices: Annotated[
        list[str] | None, typer.Option("--slice", help="Judge guardrails per value of this column (repeat).")
    ] = None,
    no_worse: Annotated[
        list[str] | None,
        typer.Option("--no-worse", help="Guardrail METRIC=TOLERANCE: at most this much worse, overall and per slice."),
    ] = None,
    data_check: Annotated[
        Path | None, typer.Option("--data-check", help="Validate the evaluation data against this schema YAML first.")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (one test per criterion).")
    ] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write a Markdown summary here.")] = None,
    config: Annotated[Path, typer.Option("--config", help="The TOML file with --policy.")] = Path("loopml.toml"),
    as_json: output.JsonFlag = False,
) -> None:
    """Gate CANDIDATE against the champion on the same evaluation data; exit 1 when it must not be promoted."""
    from loopml.automation.ci import run_check

    chosen = _policy(policy, config, metric, significance, min_improvement, slices, no_worse)
    result = run_check(
        model, candidate, policy=chosen, evaluation_data=evaluation_data, target=target, alias=alias,
        data_check=data_check,
    )  # fmt: skip
    if junit is not None:
        _write(junit, result.junit_xml())
    if markdown is not None:
        _write(markdown, result.markdown())
    if as_json:
        output.print_json(result.to_dict())
    else:
        console = output.stdout()
        verdict = "[green]PASSED[/green]" if result.passed else "[red]FAILED[/red]"
        console.print(f"Gate {verdict}: {result.candidate_uri} against {result.champion_uri or 'no champion yet'} "
                      f"on {result.evaluation_data}")  # fmt: skip
        table = output.new_table("Criteria")
        table.add_column("Criterion", priority=0, whole=False)
        table.add_column("Verdict", priority=0, whole=True)
        table.add_column("Why", priority=1, whole=False)
        for criterion in result.criteria():
            verdict = "—" if criterion.passed is None else ("ok" if criterion.passed else "[red]failed[/red]")
            table.add_row(criterion.name, verdict, criterion.message)
        console.print(table)
    if not result.passed:
        raise typer.Exit(output.EXIT_FAILED)


def _policy(
    name: str | None,
    config: Path,
    metric: str | None,
    significance: float | None,
    min_improvement: float | None,
    slices: list[str] | None,
    no_worse: list[str] | None,
) -> PromotionPolicy:
    """The promotion policy: the named policy's (options override it), or one built from the options."""
    from loopml.automation.gate import PromotionPolicy
    from loopml.automation.policy import load_policies
    from loopml.core.errors import InvalidInput

    base = PromotionPolicy()
    if name is not None:
        found = {p.key: p for p in load_policies(config)}
        if name not in found:
            raise InvalidInput(
                f"No policy named {name!r} in {config}; policies: {sorted(found) or 'none'}.",
                details=[{"field": "policy", "problem": "unknown policy"}],
            )
        base = found[name].promotion or base
    changes: dict[str, object] = {}
    if metric is not None:
        changes["metric"] = metric
    if significance is not None:
        changes["significance"] = significance
    if min_improvement is not None:
        changes["min_improvement"] = min_improvement
    if slices:
        changes["slices"] = slices[0] if len(slices) == 1 else list(slices)
    if no_worse:
        guardrails = dict(base.guardrails)
        for item in no_worse:
            key, sep, value = item.partition("=")
            try:
                guardrails[key.strip()] = ("no_worse", float(value))
            except ValueError:
                sep = ""
            if not sep:
                raise InvalidInput(
                    f"Invalid --no-worse {item!r}: use METRIC=TOLERANCE, e.g. accuracy=0.01.",
                    details=[{"field": "no_worse", "problem": "expected METRIC=TOLERANCE"}],
                )
        changes["guardrails"] = guardrails
    return PromotionPolicy.from_dict({**base.to_dict(), **changes}) if changes else base


def _write(path: Path, text: str) -> None:
    """Write a report next to the CI's other files (atomically: temp file, then rename)."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    current = os.umask(0o022)
    os.umask(current)
    os.chmod(tmp, 0o666 & ~current)  # CI reports are shared files, not secrets
    os.replace(tmp, path)
