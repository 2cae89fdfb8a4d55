"""A persistent interpreter for one document's python blocks (run as a script by ``scenario.py``).

Reads requests from stdin, one JSON object per line: ``{"code": ..., "file": ..., "line": N}``.
Each block runs in one shared namespace, compiled with the markdown file's name and padded so
that a traceback points at the block's real line in the document. After each block one JSON line
``{"ok": bool, "error": str}`` is written to the file descriptor given as ``argv[1]``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def main() -> None:
    results = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    sys.path[0] = ""  # like an interactive interpreter: modules in the working directory import
    namespace: dict[str, object] = {"__name__": "__main__"}
    for request in sys.stdin:
        block = json.loads(request)
        source = "\n" * (block["line"] - 1) + block["code"]
        try:
            exec(compile(source, block["file"], "exec"), namespace)
        except BaseException:
            error = traceback.format_exc()
            ok = False
        else:
            error, ok = "", True
        sys.stdout.flush()
        sys.stderr.flush()
        results.write(json.dumps({"ok": ok, "error": error}) + "\n")


if __name__ == "__main__":
    main()
