"""Guided demos of the loop on bundled data; ``loopml quickstart`` runs :func:`quickstart.run_quickstart`."""
