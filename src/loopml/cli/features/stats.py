"""``loopml features stats``: freshness, null rates and distributions of a view's online values."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output

if TYPE_CHECKING:
    pass

from loopml.cli.features.app import app

_SPARKS = "▁▂▃▄▅▆▇█"


def _spark(counts: list[int]) -> str:
    """A histogram as one line of block characters (tallest bin: a full block)."""
    peak = max(counts, default=0)
    if peak <= 0:
        return ""
    return "".join(
        " " if n == 0 else _SPARKS[min(int(n / peak * (len(_SPARKS) - 1) + 0.5), len(_SPARKS) - 1)] for n in counts
    )


def _age(ms: int | None) -> str:
    from loopml.core.display import MISSING, fmt_duration

    return MISSING if ms is None else fmt_duration(ms)


@app.command(
    "stats",
    epilog=(
        "Example: [bold]loopml features stats driver_stats[/bold]\n\n"
        "[bold]loopml features stats driver_stats --json[/bold]  (freshness in epoch milliseconds)\n\n"
        "[bold]loopml features stats driver_stats --html driver_stats.html[/bold]"
    ),
)
def stats_command(
    view: Annotated[str, typer.Argument(help="The feature view's name.")],
    online_store: Annotated[
        str | None, typer.Option("--online-store", help="Only materialisations into this online store (its URI).")
    ] = None,
    no_source: Annotated[
        bool, typer.Option("--no-source", help="Do not read the source for its newest event time.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", "-o", help="Also write a self-contained HTML report with histograms.")
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Freshness, the last materialisation, and null rates and distributions of VIEW's online values."""
    from loopml.features.stats import feature_stats

    stats = feature_stats(view, online_store=online_store, source=not no_source)
    if html is not None:
        from loopml.features.stats_report import stats_html, write_html

        write_html(stats_html(stats), html)
    if as_json:
        output.print_json(stats.to_dict())
        return
    console = output.stdout()
    if html is not None:
        console.print(f"Report written to [bold]{html}[/bold].")
    last = stats.last_materialization
    pairs: dict[str, Any] = {
        "Newest online event": output.fmt_time(stats.newest_online_event_ms),
        "Online age": _age(stats.online_age_ms),
        "Newest source event": output.fmt_time(stats.newest_source_event_ms),
        "Online lag behind source": _age(stats.lag_ms),
    }
    if last is None:
        pairs["Last materialisation"] = "never (run loopml features materialize-incremental)"
    else:
        pairs["Last materialisation"] = f"{output.fmt_time(last.ended_at)} into {last.online_store}"
        pairs["Window"] = f"{output.fmt_time(last.start_ms)} to {output.fmt_time(last.end_ms)}"
        pairs["Rows read / entities written"] = f"{last.rows_read:,} / {last.entities_written:,}"
    output.print_pairs(console, f"Feature view {stats.view}", pairs)
    numeric = [f for f in stats.features if f.kind == "numeric"]
    if numeric:
        table = output.new_table("Numeric features (values written online)")
        for column, priority in (
            ("Feature", 0), ("Type", 4), ("Count", 2), ("Nulls", 0), ("Mean", 1), ("Std", 3), ("Min", 2),
            ("p50", 1), ("Max", 2), ("Histogram (min to max)", 0),
        ):  # fmt: skip
            table.add_column(column, priority=priority, whole=True)
        for f in numeric:
            table.add_row(
                f.name, f.dtype, f"{f.count:,}", _percent(f.null_rate), _stat(f.mean), _stat(f.std), _stat(f.min),
                _stat(f.quantiles.get("p50")), _stat(f.max),
                _spark([n for _, _, n in f.histogram]),
            )  # fmt: skip
        console.print(table)
    categorical = [f for f in stats.features if f.kind == "categorical"]
    if categorical:
        table = output.new_table("Categorical features (values written online)")
        for column, priority in (("Feature", 0), ("Type", 4), ("Count", 2), ("Nulls", 0), ("Top values", 0)):
            table.add_column(column, priority=priority, whole=column != "Top values")
        for f in categorical:
            top = ", ".join(f"{value} {n / f.count:.0%}" for value, n in f.top_values[:5]) if f.count else ""
            table.add_row(f.name, f.dtype, f"{f.count:,}", _percent(f.null_rate), top)
        console.print(table)
    missing = [f.name for f in stats.features if f.kind is None]
    if missing and last is not None:
        console.print(f"Not profiled: {', '.join(missing)}.")


def _stat(value: float | None) -> str:
    """A computed statistic to 4 significant digits (not a value the user wrote: no need for every digit)."""
    from loopml.core.display import MISSING

    return MISSING if value is None else f"{value:.4g}"


def _percent(rate: float | None) -> str:
    from loopml.core.display import MISSING

    return MISSING if rate is None else f"{rate:.1%}"
