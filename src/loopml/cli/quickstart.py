"""``loopml quickstart``: train and track a few models on a bundled dataset (logic in ``loopml.demo``)."""

from __future__ import annotations

from loopml.cli import output

EPILOG = (
    "Example: [bold]loopml quickstart[/bold], then [bold]loopml runs list --experiment quickstart[/bold]. "
    "Data goes to $LOOPML_HOME (default ./.loopml)."
)


def quickstart(as_json: output.JsonFlag = False) -> None:
    """Train several scikit-learn models on the bundled breast-cancer data, track every run, show the best."""
    from loopml.demo.quickstart import run_quickstart

    if as_json:
        output.print_json(run_quickstart(console=None, progress=output.stderr().is_terminal))
    else:
        run_quickstart(console=output.stdout(), progress=True)
