"""A hostile target gives a bounded run with one clear line and a distinct exit status, never a
hang or a traceback."""

from __future__ import annotations

import pytest

from mmv3.suite.preflight import ExitCode

from .conformance_run import run_suite
from .hostile import DiesAfter, hostile_server, misbehaving_reference

pytestmark = pytest.mark.slow

TIMEOUTS = ["--mm-timeout", "2", "--mm-connect-timeout", "2"]
CREDENTIALS = {"MMV3_USER": "someone", "MMV3_PASSWORD": "not-a-real-password"}
# A run against a hostile target must end well within this (preflight waits at most 2 s).
BOUND_SECONDS = 45

CASES = {
    "hang": (ExitCode.TIMEOUT, "did not answer in time"),
    "reset": (ExitCode.UNREACHABLE, "connection reset"),
    "garbage": (ExitCode.UNREACHABLE, "connection broken"),
    "html": (ExitCode.NOT_V3, "does not speak Mattermost API v3"),
    "junk_json": (ExitCode.NOT_V3, "is not JSON"),
}


def _assert_one_clear_line(run, code: ExitCode, phrase: str) -> None:
    output = run.stdout + run.stderr
    assert run.returncode == int(code), f"exit {run.returncode}, expected {int(code)}:\n{run.tail()}"
    assert "Traceback" not in output, run.tail(60)
    lines = [line for line in output.splitlines() if "mmv3 preflight:" in line]
    assert len(lines) == 1, f"expected one preflight line, got {lines!r}"
    assert phrase in lines[0], lines[0]
    assert run.seconds < BOUND_SECONDS, f"took {run.seconds:.1f} s"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_target(kind, tmp_path):
    code, phrase = CASES[kind]
    with hostile_server(kind) as url:
        run = run_suite(["--base-url", url, *TIMEOUTS], reports=tmp_path, env=CREDENTIALS, timeout=120)
    _assert_one_clear_line(run, code, phrase)


def test_nothing_listening(tmp_path):
    from .hostile import free_port

    url = f"http://127.0.0.1:{free_port()}"
    run = run_suite(["--base-url", url, *TIMEOUTS], reports=tmp_path, env=CREDENTIALS, timeout=120)
    _assert_one_clear_line(run, ExitCode.UNREACHABLE, "connection refused")


def test_missing_credentials_is_a_usage_error(tmp_path):
    run = run_suite(["--base-url", "http://127.0.0.1:9"], reports=tmp_path, timeout=120)
    assert run.returncode == 4, run.tail()
    assert "needs --mm-user and --mm-password" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def _assert_ends_as_unreachable(run, target_url: str) -> None:
    """Exit 10, one line naming the target and the unanswered requests, no crash, full reports."""
    output = run.stdout + run.stderr
    assert run.returncode == int(ExitCode.UNREACHABLE), run.tail()
    assert "INTERNALERROR" not in output and "Traceback" not in output, run.tail(60)
    lines = [line for line in output.splitlines() if "stopped answering" in line]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"mmv3: the target {target_url} stopped answering: "), lines[0]
    assert "requests in a row got no answer (" in lines[0] and "nor did GET /api/v3/general/ping" in lines[0]
    matrix = run.matrix()
    statuses = [
        c["status"] for r in matrix["routes"].values() for f in r["families"].values() for c in f["checks"]
    ]
    assert "passed" in statuses, "the checks that ran before are reported"
    not_run = [
        c
        for r in matrix["routes"].values()
        for f in r["families"].values()
        for c in f["checks"]
        if c["status"] == "not run"
    ]
    assert not_run and all(c["reason"] == "not run: the target stopped answering" for c in not_run)
    assert f"{len(not_run)} checks did not run" in lines[0]
    # JUnit lists every selected check: the ones that ran, and the others as skipped "not run".
    junit_not_run = [c for c in run.cases if c.outcome == "skipped" and c.message.startswith("not run")]
    assert len(junit_not_run) == len(not_run), (len(junit_not_run), len(not_run))
    assert len(run.cases) == len(statuses)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_target_that_dies_mid_run_ends_the_run_from_the_controller(workers, tmp_path):
    """Preflight passes, then the server goes away: exit 10 and one line, with or without xdist
    (a worker that left the run on its own was an xdist crash: INTERNALERROR, partial reports)."""
    with misbehaving_reference(lambda app: DiesAfter(app, budget=400)) as target:
        run = run_suite(
            ["--base-url", target.url, "-m", "auth", "-n", workers, *TIMEOUTS],
            reports=tmp_path,
            env=target.credentials,
            timeout=300,
        )
    _assert_ends_as_unreachable(run, target.url)
    assert run.seconds < 90, f"took {run.seconds:.1f} s"
