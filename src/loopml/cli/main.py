"""The ``loopml`` command: the root Typer app, its command groups and the error boundary.

Command modules import only Typer, Rich and loopml's light core at import time; the SDK, the
stores, scikit-learn and the server are imported inside the commands, so ``loopml --help``
starts fast. ``LoopmlError`` is turned into one red line on stderr and exit code 2 (bad input,
unknown object, conflict) or 1 (anything else); Typer's usage errors exit with 2 as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from loopml.cli import (
    artifacts,
    audit,
    ci,
    data,
    experiments,
    features,
    gc,
    helptext,
    imports,
    models,
    monitor,
    output,
    pipeline,
    policy,
    quickstart,
    runs,
    serve,
    server,
    token,
    ui,
)
from loopml.core.errors import LoopmlError
from loopml.core.version import installed_version

COMMAND_ORDER = (
    "quickstart",
    "data",
    "features",
    "pipeline",
    "experiments",
    "runs",
    "artifacts",
    "models",
    "serve",
    "monitor",
    "policy",
    "ci",
    "audit",
    "gc",
    "import",
    "server",
    "ui",
    "token",
)

if TYPE_CHECKING:  # Typer vendors click as typer._click; the overridden methods take its Context
    from typer._click.core import Context as ClickContext


class LoopmlGroup(TyperGroup):
    """The root group: maps ``LoopmlError`` raised by any command to a clean message and exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        helptext.make_readable(self)  # help names types as TEXT, INTEGER, PATH; flags show none

    def list_commands(self, ctx: ClickContext) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: (COMMAND_ORDER.index(name) if name in COMMAND_ORDER else 99, name))

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except LoopmlError as exc:
            output.print_error(exc.message)
            raise typer.Exit(output.exit_code(exc)) from None
        except (typer.Exit, typer.Abort, TyperException, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debug():
                raise
            output.print_error(
                f"unexpected {type(exc).__name__}: {exc}. This is a bug in loopml; "
                "rerun with LOOPML_DEBUG=1 to see the traceback and report it."
            )
            raise typer.Exit(output.EXIT_FAILED) from None


app = typer.Typer(
    cls=LoopmlGroup,
    name="loopml",
    help="loopml: the closed ML loop in one install. Version data, track runs, compare them, share a server.",
    epilog="Example: [bold]loopml quickstart[/bold], then [bold]loopml runs list --experiment quickstart[/bold]",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": helptext.HELP_OPTION_NAMES},
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(models.app, name="models")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(monitor.app, name="monitor")
app.add_typer(policy.app, name="policy")
app.add_typer(ci.app, name="ci")
app.add_typer(token.app, name="token")
app.add_typer(imports.app, name="import")
app.command("server", epilog=server.EPILOG)(server.server)
app.command("serve", epilog=serve.EPILOG)(serve.serve)
app.command("quickstart", epilog=quickstart.EPILOG)(quickstart.quickstart)
app.command("scheduler", epilog=pipeline.SCHEDULER_EPILOG)(pipeline.scheduler)
app.command("audit", epilog=audit.EPILOG)(audit.audit)
app.command("gc", epilog=gc.EPILOG)(gc.gc)
app.command("ui", epilog=ui.EPILOG)(ui.ui)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"loopml {installed_version()}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """loopml: the closed ML loop in one install. Track runs, compare them, share a server."""


def main() -> None:
    """Console-script entry point (``loopml``)."""
    app(prog_name="loopml")


if __name__ == "__main__":
    main()


def _debug() -> bool:
    """``LOOPML_DEBUG`` (read only when something unexpected failed; a bad setting counts as off)."""
    from loopml.config import load_settings

    try:
        return load_settings().debug
    except LoopmlError:
        return False
