"""A hostile target gives a bounded run with one clear line and a distinct exit status, never a
hang or a traceback."""

from __future__ import annotations

import os

import pytest

from mmv3.suite.preflight import ExitCode

from .conformance_run import run_suite
from .hostile import DiesAfter, Holds, hostile_server, misbehaving_reference

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


RECYCLE = "/api/v3/admin/recycle_db_conn"
# Families whose checks wait for the success answer of every route, recycle_db_conn's included.
SUCCESS_FAMILIES = ["-m", "schema or headers"]


def _run_with_held_recycle(tmp_path, seconds: float, args: list[str]):
    with misbehaving_reference(lambda app: Holds(app, RECYCLE, seconds)) as target:
        run = run_suite(
            ["--base-url", target.url, "-n", "2", *SUCCESS_FAMILIES, *args],
            reports=tmp_path,
            env=target.credentials,
            timeout=400,
        )
        held = target.middleware.held
    output = run.stdout + run.stderr
    assert held >= 1, "the held route was never called: the test shows nothing"
    assert "INTERNALERROR" not in output and "Traceback" not in output, run.tail(60)
    assert "stopped answering" not in output, run.tail()
    recycle = [c for c in run.cases if c.route == f"GET {RECYCLE}"]
    others = [c for c in run.failures if c.route != f"GET {RECYCLE}"]
    assert recycle and not others, others
    return run, recycle


def test_a_slow_route_is_waited_for_with_its_own_timeout(tmp_path):
    """recycle_db_conn holds its answer by design (x-mmv3-slow): longer than --mm-timeout is fine."""
    run, recycle = _run_with_held_recycle(tmp_path, 5, ["--mm-timeout", "2", "--mm-slow-timeout", "15"])
    assert run.returncode == 0, run.tail()
    assert {c.outcome for c in recycle} == {"passed"}, recycle


def test_a_slow_route_that_never_answers_fails_its_own_checks_only(tmp_path):
    """Past its own timeout the route's checks fail as 'no answer'; it is not a dead target."""
    run, recycle = _run_with_held_recycle(tmp_path, 600, ["--mm-timeout", "2", "--mm-slow-timeout", "3"])
    assert run.returncode == 1, run.tail()
    assert {c.outcome for c in recycle} == {"failed"}, recycle
    assert all("no answer from the server within 3 s" in c.message for c in recycle), recycle


def test_a_60_second_hold_on_a_slow_route_is_tolerated(tmp_path):
    """The issue's case at full size: the route holds 60 s, the run keeps its default timeouts
    (10 s, and the catalogue's 90 s for recycle_db_conn), and ends well with every check passed."""
    run, recycle = _run_with_held_recycle(tmp_path, 60, [])
    assert run.returncode == 0, run.tail()
    assert {c.outcome for c in recycle} == {"passed"}, recycle
    assert 60 <= run.seconds < 180, f"took {run.seconds:.1f} s"


def test_a_worker_that_dies_is_reported_with_what_did_not_run(tmp_path):
    """A worker dies in the middle of a check: no INTERNALERROR, exit 3 and one line naming the
    worker and the check; the matrix files every check that did not run, with the reason."""
    from pathlib import Path

    victim = "test_no_token[GET /api/v3/users/me]"
    env = {
        "MMV3_TEST_KILL_AT": victim,
        "MMV3_TEST_KILL_ONCE": str(tmp_path / "killed"),
        "PYTHONPATH": os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(Path(__file__).parent)]),
    }
    run = run_suite(
        ["-n", "2", "-m", "auth", "-p", "worker_killer"],  # no restart by default
        reports=tmp_path,
        env=env,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert (tmp_path / "killed").exists(), "no worker was killed: the test shows nothing"
    assert run.returncode == 3, run.tail()
    assert "INTERNALERROR" not in output and "Traceback" not in output, run.tail(60)
    lines = [line for line in output.splitlines() if line.startswith("mmv3: worker ")]
    assert len(lines) == 1 and f"died while running conformance/test_auth.py::{victim}" in lines[0], lines
    checks = [c for r in run.matrix()["routes"].values() for f in r["families"].values() for c in f["checks"]]
    not_run = [c for c in checks if c["status"] == "not run"]
    assert any(c["reason"].startswith("not run: worker gw") for c in not_run), not_run
    assert f"{len(not_run)} checks did not run" in lines[0]
    assert len(checks) == len(run.cases), "every collected check is in the matrix, run or not"
    assert any(c["reason"] == "not run: the run ended before it (a worker died)" for c in not_run)


def test_mmv3_check_folds_a_target_gone_into_exit_4_with_one_line(tmp_path):
    import subprocess
    import sys

    from mmv3.paths import REPO_ROOT

    with misbehaving_reference(lambda app: DiesAfter(app, budget=400)) as target:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MMV3_"))}
        env.update(target.credentials)
        command = [sys.executable, "-m", "mmv3.cli", "check", "--base-url", target.url]
        command += [
            "--user",
            target.credentials["MMV3_USER"],
            "--families",
            "auth",
            "--reports",
            str(tmp_path),
        ]
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"mmv3 check: conformance: the target {target.url} stopped answering: "
    ), done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr
