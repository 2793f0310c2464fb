"""`mmv3 report`: the offline Allure HTML report of a run (being written)."""

from __future__ import annotations

import argparse

from mmv3 import exitcodes


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", help="run directory (default: the newest under reports/)")


def run_report_command(args: argparse.Namespace) -> int:
    print("mmv3 report: not written yet")
    return exitcodes.INTERNAL
