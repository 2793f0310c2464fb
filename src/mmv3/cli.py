"""The `mmv3` command: one subcommand per job, each implemented in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mmv3 import exitcodes


def _catalogue(args: argparse.Namespace) -> int:
    from mmv3.catalog import run_catalogue_command

    return run_catalogue_command(args)


def _serve(args: argparse.Namespace) -> int:
    from mmv3.server.cli import run_serve_command

    return run_serve_command(args)


def _report(args: argparse.Namespace) -> int:
    from mmv3.report import run_report_command

    return run_report_command(args)


def _check(args: argparse.Namespace) -> int:
    from mmv3.check import run_check_command

    return run_check_command(args)


def _diff(args: argparse.Namespace) -> int:
    from mmv3.differential.runner import run_diff_command

    return run_diff_command(args)


def _seed(args: argparse.Namespace) -> int:
    from mmv3.seeding.cli import run_seed_command

    return run_seed_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmv3", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    cat = sub.add_parser("catalogue", aliases=["catalog"], help="print the v3 route catalogue")
    cat.add_argument("--json", action="store_true", help="machine-readable output")
    cat.add_argument(
        "--version",
        metavar="X",
        help="what applies to Mattermost X (e.g. 3.10, 4.9.0): the routes it serves, the fields it lacks",
    )
    cat.set_defaults(subparser=cat, handler=_catalogue)

    from mmv3.server.cli import add_serve_arguments

    serve = sub.add_parser("serve", help="run the reference v3 server")
    add_serve_arguments(serve)
    serve.set_defaults(subparser=serve, handler=_serve)

    from mmv3.check import add_check_arguments

    check = sub.add_parser("check", help="run the conformance suite (and a bounded load run) and gate on it")
    add_check_arguments(check)
    check.set_defaults(subparser=check, handler=_check)

    from mmv3.differential.runner import add_diff_arguments

    diff = sub.add_parser(
        "diff", help="compare a live Mattermost with a fresh mmv3 serve, request by request"
    )
    add_diff_arguments(diff)
    diff.set_defaults(subparser=diff, handler=_diff)

    from mmv3.report import add_report_arguments

    report = sub.add_parser("report", help="build the offline Allure HTML report of a run")
    add_report_arguments(report)
    report.set_defaults(subparser=report, handler=_report)

    from mmv3.seeding.cli import add_seed_arguments

    seed = sub.add_parser("seed", help="fill a v3 server with realistic data (teams, users, posts, ...)")
    add_seed_arguments(seed)
    seed.set_defaults(subparser=seed, handler=_seed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would blame the top-level command; the usage that helps is the subcommand's
        getattr(args, "subparser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "handler", None):
        parser.print_help()
        return exitcodes.USAGE
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, the traceback on request
        if os.environ.get("MMV3_DEBUG"):
            raise
        print(
            f"mmv3: internal error: {type(exc).__name__}: {exc} (MMV3_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return exitcodes.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
