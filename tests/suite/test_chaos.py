"""Chaos: `mmv3 check` through a fault-injecting proxy (tests/suite/chaos_proxy.py) in front of
`mmv3 serve`, one fault per test, switched on once the first checks have run.

Whatever the fault, the run ends within its bound with its documented exit status, at most one
line on stderr saying why, no traceback and no INTERNALERROR, and the reports of what ran
(JUnit XML, matrix, Allure results, run.json) agree with each other and with the exit status:

| fault                                  | exit | what the reports say                                 |
|----------------------------------------|------|------------------------------------------------------|
| latency spikes shorter than the timeout | 0    | every check passed                                   |
| 1 % of requests reset                  | 4    | the checks hit are failures of category `transport`  |
| answers cut short, connection closed   | 4    | the same, "the answer was cut short"                 |
| answers cut short, Content-Length fixed | 1    | schema failures, "the body is not JSON"              |
| the server restarts in the middle      | 4    | the checks hit are `transport`; the rest ran or are not run |
| the server stops answering for good    | 4    | "stopped answering", naming the unanswered requests  |

A check that got no answer is never filed as a conformance failure: `mmv3 check` exits 4 (the
target did not answer) rather than 1 when any check failed for want of an answer (README, "Gate
releases in CI").
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from mmv3 import exitcodes
from tests.server.test_runtime import serve

from .chaos_proxy import ChaosProxy, chaos_proxy
from .conformance_run import _clean_env
from .secret_tap import create_account

pytestmark = pytest.mark.slow

TIMEOUT = 3.0  # --mm-timeout of the runs (MMV3_TIMEOUT): seconds to wait for an answer
# No run here may take longer than this (mmv3 check --max-time is set above it, as a last resort).
BOUND_SECONDS = 90  # generous: CI shares 2 cores; a run here takes 5-30 s, a hang is cut at +30 s
SERVE_ARGS = ("--no-rate-limit",)


@dataclass
class Target:
    url: str
    user: str
    password: str
    db: Path


@dataclass
class ChaosRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    run_dir: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def why(self) -> list[str]:
        """The lines `mmv3 check` writes on stderr to say what went wrong."""
        return [line for line in self.stderr.splitlines() if line.startswith("mmv3 check:")]

    def matrix(self) -> dict:
        return json.loads((self.run_dir / "conformance-matrix.json").read_text())

    def checks(self) -> list[tuple[str, dict]]:
        return [
            (route, check)
            for route, entry in self.matrix()["routes"].items()
            for family in entry["families"].values()
            for check in family["checks"]
        ]

    def failed(self) -> list[tuple[str, dict]]:
        return [(route, check) for route, check in self.checks() if check["status"] == "failed"]

    def tail(self, lines: int = 40) -> str:
        log = self.run_dir / "conformance.log"
        inner = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join((self.output + "\n--- conformance.log ---\n" + inner).splitlines()[-lines:])


# -- targets ----------------------------------------------------------------------------------------
def _start(stack: ExitStack, tmp: Path, db: Path):
    return stack.enter_context(serve(tmp, "--db", str(db), *SERVE_ARGS))


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[Target]:
    """One `mmv3 serve` for the tests that leave it running, with a user of the runs."""
    tmp = tmp_path_factory.mktemp("chaos-target")
    with ExitStack() as stack:
        served = _start(stack, tmp, tmp / "mmv3.db")
        create_account(served.url, "chaosadmin")  # the first account is the system admin
        user, password = create_account(served.url, "chaosuser")
        yield Target(served.url, user, password, tmp / "mmv3.db")


# -- running `mmv3 check` through the proxy --------------------------------------------------------
def run_check(
    proxy: ChaosProxy, target: Target, families: str, reports: Path, *, fault: dict, during=None
) -> ChaosRun:
    """`mmv3 check` against the proxy; `fault` is switched on once the first check has reported,
    then `during(proxy)` runs (if given) while the check goes on."""
    run_dir = reports / "run"
    env = _clean_env(
        {
            "MMV3_USER": target.user,
            "MMV3_PASSWORD": target.password,
            "MMV3_TIMEOUT": str(TIMEOUT),
            "MMV3_CONNECT_TIMEOUT": str(TIMEOUT),
            # Routes slow by design (x-mmv3-slow) wait 90 s by default: a black hole would hold a
            # check on one of them that long. No run here calls one successfully (no admin).
            "MMV3_SLOW_TIMEOUT": str(TIMEOUT),
        }
    )
    command = [
        sys.executable, "-m", "mmv3.cli", "check", "--base-url", proxy.url, "--families", families,
        "--reports", str(reports), "--run-id", "run", "--max-time", f"{BOUND_SECONDS + 30}s",
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        # Switched on once preflight and provisioning are over: each fault meets the checks.
        assert _first_result(run_dir, process, deadline=started + BOUND_SECONDS), "no check ever reported"
        proxy.set_faults(**fault)
        if during is not None:
            during(proxy)
        stdout, stderr = process.communicate(
            timeout=max(1.0, started + BOUND_SECONDS + 40 - time.monotonic())
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return ChaosRun(process.returncode, stdout, stderr, time.monotonic() - started, run_dir)


def _first_result(run_dir: Path, process: subprocess.Popen, deadline: float) -> bool:
    """Wait (bounded) until the run has written the Allure result of its first check."""
    results = run_dir / "allure-results"
    while time.monotonic() < deadline:
        if results.is_dir() and any(results.glob("*-result.json")):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


# -- what every run must show ------------------------------------------------------------------------
def assert_well_ended(run: ChaosRun, code: int) -> None:
    assert run.returncode == code, f"exit {run.returncode}, expected {code}:\n{run.tail()}"
    inner = (run.run_dir / "conformance.log").read_text(errors="replace")
    for text in (run.output, inner):
        assert "Traceback" not in text and "INTERNALERROR" not in text, run.tail(80)
    assert run.seconds < BOUND_SECONDS, f"took {run.seconds:.1f} s (bound {BOUND_SECONDS} s)"
    why = run.why()  # exit 1: one line per failing check (capped); anything else but 0: one line
    if code == exitcodes.CONFORMANCE_FAILED:
        assert why and all(
            re.match(
                r"mmv3 check: conformance: (FAILED|XPASSED|ERROR|… and \d+ more|target profile differs)", w
            )
            for w in why
        ), why
    else:
        lines = 0 if code == exitcodes.OK else 1
        assert len(why) == lines, f"expected {lines} line(s) saying why, got {why!r}"
    assert_reports_agree(run, code)


def assert_reports_agree(run: ChaosRun, code: int) -> None:
    """JUnit XML, matrix, Allure results and run.json exist and tell the same story."""
    junit = ET.parse(run.run_dir / "junit-conformance.xml").getroot()
    cases = list(junit.iter("testcase"))
    checks = run.checks()
    assert cases and checks, run.tail()
    assert len(cases) == len(checks), f"JUnit lists {len(cases)} tests, the matrix {len(checks)}"
    junit_failed = sorted(
        (case.get("name", "").partition("[")[2].rstrip("]"), case.get("name", "").partition("[")[0])
        for case in cases
        if case.find("failure") is not None or case.find("error") is not None
    )
    matrix_failed = sorted(
        (route, "test_" + check["check"].split(".", 1)[1])
        for route, check in checks
        if check["status"] in ("failed", "error", "xpassed")
    )
    assert junit_failed == matrix_failed, "JUnit and the matrix disagree on what failed"
    results = [json.loads(p.read_text()) for p in (run.run_dir / "allure-results").glob("*-result.json")]
    ran = [check for _, check in checks if check["status"] in ("passed", "failed")]
    allure_ran = [r for r in results if r.get("status") in ("passed", "failed", "broken")]
    assert len(allure_ran) == len(ran), (
        f"Allure has {len(allure_ran)} results that ran, the matrix {len(ran)}"
    )
    summary = json.loads((run.run_dir / "run.json").read_text())
    assert summary["exit_code"] == code, summary


def assert_only_transport_failures(run: ChaosRun, phrase: str) -> list[tuple[str, dict]]:
    failed = run.failed()
    others = [f"{route} {check}" for route, check in failed if check.get("category") != "transport"]
    assert not others, "a network fault was reported as a conformance failure:\n" + "\n".join(others[:10])
    vague = [f"{route} {check['reason']}" for route, check in failed if phrase not in check["reason"]]
    assert not vague, f"transport failures that do not say {phrase!r}:\n" + "\n".join(vague[:10])
    return failed


# -- the faults ---------------------------------------------------------------------------------------
def test_latency_spikes_within_the_timeout_fail_nothing(target, tmp_path):
    with chaos_proxy(target.url) as proxy:
        fault = {"latency_ratio": 0.02, "latency": (0.5, TIMEOUT - 1.0)}
        run = run_check(proxy, target, "errors", tmp_path, fault=fault)
    assert proxy.stats.delayed >= 3, f"too few spikes to mean anything: {proxy.stats}"
    assert_well_ended(run, exitcodes.OK)
    assert not run.failed()


def test_one_percent_of_requests_reset(target, tmp_path):
    with chaos_proxy(target.url) as proxy:
        run = run_check(proxy, target, "auth", tmp_path, fault={"reset_ratio": 0.01})
    assert proxy.stats.reset >= 1, f"no request was reset: {proxy.stats}"
    assert_well_ended(run, exitcodes.UNREACHABLE)
    failed = assert_only_transport_failures(run, "connection reset")
    assert 1 <= len(failed) <= proxy.stats.reset, (len(failed), proxy.stats.events)
    assert "got no answer" in run.why()[0], run.why()


def test_answers_cut_short_are_transport_failures(target, tmp_path):
    with chaos_proxy(target.url) as proxy:
        run = run_check(proxy, target, "errors", tmp_path, fault={"truncate_ratio": 0.02})
    assert proxy.stats.truncated >= 1, f"no answer was cut: {proxy.stats}"
    assert_well_ended(run, exitcodes.UNREACHABLE)
    failed = assert_only_transport_failures(run, "the answer was cut short")
    assert 1 <= len(failed) <= proxy.stats.truncated, (len(failed), proxy.stats.events)


def test_bodies_cut_short_but_well_framed_fail_the_schema_check(target, tmp_path):
    """The same cut with a Content-Length that matches it: the server (as far as anyone can tell)
    sent a broken body, a conformance failure -- filed under schema, saying the body is not JSON."""
    with chaos_proxy(target.url) as proxy:
        fault = {"truncate_ratio": 0.05, "truncate_mode": "relabel"}
        run = run_check(proxy, target, "schema", tmp_path, fault=fault)
    assert proxy.stats.truncated >= 1, f"no answer was cut: {proxy.stats}"
    assert_well_ended(run, exitcodes.CONFORMANCE_FAILED)
    failed = run.failed()
    for route, check in failed:
        assert check["category"] != "transport", (route, check)
        assert check["check"].startswith("schema."), (route, check)
    # (A cut error body can also make a setup step fail: "setup step … answered 403".)
    said = [check["reason"] for _, check in failed if "not JSON" in check["reason"]]
    assert said, [check["reason"] for _, check in failed]


def test_a_server_restart_in_the_middle_of_the_run(tmp_path):
    """`mmv3 serve` is stopped in the middle of the run and started again on the same database;
    the proxy then points at the new one. The run goes on past the restart, or ends with 4."""
    with ExitStack() as stack:
        db = tmp_path / "mmv3.db"
        first = _start(stack, tmp_path, db)
        create_account(first.url, "chaosadmin")
        user, password = create_account(first.url, "chaosuser")
        target = Target(first.url, user, password, db)

        def restart(proxy: ChaosProxy) -> None:
            assert proxy.wait_for(proxy.stats.requests + 100, timeout=BOUND_SECONDS), "the run stalled"
            code, _ = first.stop(signal.SIGTERM)
            assert code == 0
            second = _start(stack, tmp_path, db)
            proxy.retarget(second.url)

        proxy = stack.enter_context(chaos_proxy(first.url))
        run = run_check(proxy, target, "auth", tmp_path / "reports", fault={}, during=restart)
    assert proxy.stats.upstream_failed >= 1, f"the restart went unnoticed: {proxy.stats}"
    assert_well_ended(run, exitcodes.UNREACHABLE)
    assert_only_transport_failures(run, "no answer")
    statuses = {check["status"] for _, check in run.checks()}
    assert "passed" in statuses, statuses


@pytest.mark.parametrize("how", ["hold", "refuse"])
def test_a_server_that_stops_answering_for_good(target, tmp_path, how):
    """`hold`: every connection is accepted and never answered (each request waits out its
    timeout); `refuse`: the address stops accepting connections."""
    with chaos_proxy(target.url) as proxy:
        if how == "hold":
            run = run_check(proxy, target, "auth", tmp_path, fault={"blackhole": True})
        else:
            run = run_check(proxy, target, "auth", tmp_path, fault={}, during=lambda p: p.close_listener())
    assert_well_ended(run, exitcodes.UNREACHABLE)
    line = run.why()[0]
    assert "stopped answering" in line, line
    if how == "hold":
        held = [event.split(" ", 1)[1] for event in proxy.stats.events if event.startswith("hold ")]
        assert any(request.split("?")[0] in line for request in held), (line, held[:10])
    statuses = {check["status"] for _, check in run.checks()}
    assert "passed" in statuses, statuses
