"""A conformance run in which every selected check skipped must not pass: it exits 16 with one
line saying that nothing was judged and why (mmv3.suite.judged)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mmv3.suite.judged import Tally, exit_status
from mmv3.suite.preflight import ExitCode
from tests.suite.conformance_run import run_suite


def report(outcome: str, when: str = "call", reason: str = "", **extra) -> SimpleNamespace:
    longrepr = ("conformance/test_x.py", 3, f"Skipped: {reason}") if outcome == "skipped" else None
    return SimpleNamespace(outcome=outcome, when=when, longrepr=longrepr, **extra)


def test_skips_only_judged_nothing_and_say_why() -> None:
    tally = Tally()
    for _ in range(3):
        tally.add(report("passed", when="setup"))
        tally.add(report("skipped", reason="no system admin (--mm-admin)"))
        tally.add(report("passed", when="teardown"))
    tally.add(report("skipped", when="setup", reason="the target does not rate-limit"))
    line = tally.nothing_judged()
    assert line == (
        "mmv3 nothing judged: all 4 selected checks were skipped "
        "(3 × no system admin (--mm-admin); 1 × the target does not rate-limit)"
    )
    assert exit_status(tally, 1) == (1, None)  # a failing run keeps its own status
    assert tally.nothing_judged() is None  # settled once: a next session starts afresh
    tally.add(report("skipped", reason="no system admin (--mm-admin)"))
    assert exit_status(tally, 0) == (
        ExitCode.NOTHING_JUDGED,
        "mmv3 nothing judged: the 1 selected check was skipped (1 × no system admin (--mm-admin))",
    )


@pytest.mark.parametrize(
    "judging",
    [
        report("passed"),
        report("failed"),
        report("skipped", reason="known deviation", wasxfail="known deviation"),
        report("failed", when="setup"),
    ],
)
def test_one_judged_test_is_enough(judging) -> None:
    tally = Tally()
    tally.add(report("skipped", reason="no admin"))
    tally.add(judging)
    assert tally.nothing_judged() is None
    assert exit_status(tally, 0) == (0, None)


def test_an_empty_tally_is_not_this_rule() -> None:
    assert Tally().nothing_judged() is None  # no test at all is pytest's own exit 5


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--mm-embedded-rate-limit", "off"], "rate limiting is not expected on this target"),
        (["--mm-no-ratelimit-tests"], "--mm-no-ratelimit-tests"),
    ],
)
def test_a_run_of_skips_exits_16_with_one_line(tmp_path, args, reason) -> None:
    run = run_suite(["-m", "ratelimit", "-n", "2", *args], reports=tmp_path, timeout=180)
    assert run.returncode == ExitCode.NOTHING_JUDGED, run.tail()
    lines = [line for line in run.stdout.splitlines() if line.startswith("mmv3 nothing judged:")]
    assert len(lines) == 1 and "selected checks were skipped" in lines[0] and reason in lines[0], run.tail()
    assert run.cases and {c.outcome for c in run.cases} == {"skipped"}
