"""``python -m loopml.server``: the options of ``loopml server`` (host, port, auth, workers, log level, scheduler)."""

from __future__ import annotations

import argparse
import sys

from loopml.core.errors import LoopmlError
from loopml.server.serve import LOG_LEVELS, serve


def main(argv: list[str] | None = None) -> int:
    """Parse options and serve; exit code 2 for refused options."""
    parser = argparse.ArgumentParser(prog="python -m loopml.server", description="Run the loopml platform server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--auth", action="store_true", help="require bearer tokens")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback host without --auth")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    parser.add_argument("--scheduler", type=float, default=None, metavar="SECONDS",
                        help="also run due pipeline schedules, a pass every SECONDS")  # fmt: skip
    parser.add_argument("--monitor", action="store_true", help="also run the monitor service ([monitoring])")
    args = parser.parse_args(argv)
    try:
        serve(
            host=args.host,
            port=args.port,
            auth=args.auth,
            insecure=args.insecure,
            workers=args.workers,
            log_level=args.log_level,
            scheduler_interval=args.scheduler,
            monitor=args.monitor,
        )
    except LoopmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
