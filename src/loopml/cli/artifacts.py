"""``loopml artifacts download``: copy a run's artifact (a file or a folder) out of the store to a directory.

The artifact store is content-addressed (files named by SHA-256), so it is not for browsing: list a
run's artifacts with ``loopml runs artifacts RUN`` and fetch them by their ``runs:/`` URI with this command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from loopml.cli import output
from loopml.core.errors import Conflict, InvalidInput, NotFound

app = typer.Typer(
    help="Artifacts: download a run's files by their runs:/ URI (list them with `loopml runs artifacts RUN`).",
    epilog="Example: [bold]loopml artifacts download runs:/3f2a9c1e/plots -o ./plots[/bold]",
    no_args_is_help=True,
)


@app.command(
    "download",
    epilog=(
        "Example: [bold]loopml artifacts download runs:/3f2a9c1e/reports/summary.txt -o out[/bold]\n\n"
        "[bold]loopml artifacts download runs:/3f2a9c1e -o out --force[/bold]  (every artifact of the run)"
    ),
)
def download(
    uri: Annotated[str, typer.Argument(help="runs:/RUN/PATH: a run id (or a unique prefix) and a file or folder.")],
    out: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into (created if missing).")] = Path(
        "."
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Download the artifact URI (a file, or every file below a folder) into the directory -o; print what was written.

    Existing files are left alone (exit code 2) unless --force is given.
    """
    import loopml as lm
    from loopml.cli.runs import open_store, resolve_run
    from loopml.tracking.artifacts import download_targets

    run_ref, path = _split(uri)
    run = resolve_run(open_store(), run_ref)
    infos = lm.list_artifacts(run.id, path)
    if not infos:
        raise NotFound(
            f"Run {run.id} has no artifact at {path or '/'!r} (list them with `loopml runs artifacts {run_ref}`)."
        )
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--output {str(out)!r} is a file; name a directory to write into.")
    root, targets = download_targets(infos, path, out)
    existing = [target for _, target in targets if target.exists()]
    if existing and not force:
        listed = ", ".join(str(t) for t in existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        raise Conflict(f"Refusing to overwrite {listed}; pass --force to replace, or choose another --output.")
    folders = [str(target) for _, target in targets if target.is_dir()]
    if folders:
        raise Conflict(f"Cannot write the file {folders[0]!r}: a folder has that name; choose another --output.")
    blocked = [str(p) for _, target in targets for p in target.parents if p.is_file()]
    if blocked:
        raise Conflict(f"Cannot write below {blocked[0]!r}: it is a file; choose another --output.")
    lm.download_artifacts(run.id, path, out)
    written: list[dict[str, Any]] = [
        {"path": info.path, "file": str(target), "size": info.size, "sha256": info.sha256} for info, target in targets
    ]
    if as_json:
        output.print_json({"run_id": run.id, "path": path, "root": str(root), "files": written})
        return
    console = output.stdout()
    for item in written:
        console.print(Text(f"{item['file']}  ({output.fmt_size(item['size'])})"), soft_wrap=True)
    total = sum(item["size"] for item in written)
    noun = "file" if len(written) == 1 else "files"
    console.print(Text(f"Wrote {len(written)} {noun} ({output.fmt_size(total)}) from runs:/{run.id}/{path} to {root}"))


def _split(uri: str) -> tuple[str, str]:
    """``runs:/RUN/PATH`` as (run reference, path)."""
    if not uri.startswith("runs:/"):
        raise InvalidInput(
            f"Invalid artifact URI {uri!r}: expected runs:/<run id or prefix>/<path>, e.g. runs:/3f2a9c1e/model."
        )
    run_ref, _, path = uri[len("runs:/") :].strip("/").partition("/")
    if not run_ref:
        raise InvalidInput(f"Invalid artifact URI {uri!r}: the run id is missing (runs:/<run id>/<path>).")
    return run_ref, path.strip("/")
