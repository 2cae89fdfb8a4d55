"""Help that names types as users read them: ``TEXT``, ``INTEGER``, ``PATH``, ``[a|b]``; nothing for flags.

Typer's Rich help prints the Python annotation of each parameter (``<str>``, ``<list[str]>``, and
``<bool>`` next to every flag, ``--help`` included) and ignores ``metavar`` for arguments.
:func:`make_readable` walks the command tree once, when the root group is built, and gives every
parameter (and each command's help option) a class that prints its ``metavar`` when the command
sets one, the readable type name otherwise, and no type for flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperArgument, TyperOption

HELP_OPTION_NAMES = ["-h", "--help"]
"""The help options of every command (the root group's ``context_settings``)."""

TYPE_NAMES = {
    "str": "TEXT",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "bool": "BOOLEAN",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIRECTORY",
    "datetime": "DATETIME",
    "UUID": "UUID",
}
"""Python type labels as Typer writes them -> the names help shows."""

if TYPE_CHECKING:  # Typer vendors click as typer._click; the overridden methods take its Context
    from typer._click.core import Context as ClickContext


def readable_type(label: str) -> str:
    """``<str>`` -> ``TEXT``, ``<list[int]>`` -> ``INTEGER``, ``<a|b>`` -> ``[a|b]``."""
    inner = label.removeprefix("<").removesuffix(">")
    if inner.startswith("list[") and inner.endswith("]"):
        inner = inner[len("list[") : -1]
    if "|" in inner:
        return f"[{inner}]"
    return TYPE_NAMES.get(inner, inner.upper())


class ReadableOption(TyperOption):
    """An option whose help shows its metavar or readable type, and nothing for a flag."""

    def display_type_rich(self, ctx: ClickContext) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag or self.count:
            return None
        return readable_type(self.display_type(ctx)) + ("..." if self.nargs != 1 else "")


class ReadableArgument(TyperArgument):
    """An argument whose help shows a readable type next to its name (Typer ignores ``metavar`` there)."""

    def display_type_rich(self, ctx: ClickContext) -> str | None:
        return readable_type(self.display_type(ctx)) + ("..." if self.nargs != 1 else "")


def make_readable(command: Any) -> None:
    """Give ``command``, its subcommands and their help options readable type names in ``--help``."""
    context = typer.Context(command, help_option_names=HELP_OPTION_NAMES)
    command.get_help_option(context)  # created now (click caches it), so it is converted below too
    for param in [*command.params, getattr(command, "_help_option", None)]:
        if type(param) is TyperOption:
            param.__class__ = ReadableOption
        elif type(param) is TyperArgument:
            param.__class__ = ReadableArgument
    for name in getattr(command, "commands", {}):
        make_readable(command.commands[name])
