"""The ``loopml`` command line (Typer + Rich), one module per command group; entry point ``main.main``."""
