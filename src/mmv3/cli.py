"""The `mmv3` command: one subcommand per job, each implemented in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# Distinct exit codes, documented in the README.
EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2


def _catalogue(args: argparse.Namespace) -> int:
    from mmv3.catalog import run_catalogue_command

    return run_catalogue_command(args)


def _serve(args: argparse.Namespace) -> int:
    from mmv3.server.cli import run_serve_command

    return run_serve_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmv3", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    cat = sub.add_parser("catalogue", aliases=["catalog"], help="print the v3 route catalogue")
    cat.add_argument("--json", action="store_true", help="machine-readable output")
    cat.set_defaults(handler=_catalogue)

    from mmv3.server.cli import add_serve_arguments

    serve = sub.add_parser("serve", help="run the reference v3 server")
    add_serve_arguments(serve)
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
