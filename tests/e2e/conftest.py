"""Whole-loop tests reuse the CLI runner of the CLI tests."""

from tests.cli.conftest import cli

__all__ = ["cli"]
