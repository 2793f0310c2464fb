"""Prints the fault -> caught-by table of tests/suite/test_faults.py at the end of the run.

Rows arrive as test properties in the reports that xdist workers send the controller; this file
sits at the top of `tests/` because the controller, which collects nothing, loads only the
conftest files of the initial paths (a conftest in tests/suite/ never saw a report under -n 2)."""

from __future__ import annotations

_ROWS: list[list[str]] = []


def pytest_runtest_logreport(report) -> None:
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "mmv3_fault_row":
                _ROWS.append(str(value).split("|"))


def pytest_terminal_summary(terminalreporter) -> None:
    if not _ROWS:
        return
    terminalreporter.section("fault -> caught by")
    width = max(len(row[0]) for row in _ROWS)
    for fault, family, caught_by, seconds in sorted(_ROWS):
        terminalreporter.write_line(f"{fault:<{width}}  [{family:<9}] {seconds:>5}s  {caught_by}")
