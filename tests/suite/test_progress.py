"""Progress of a conformance run (issue #15, item 4): counted in the controlling process, shown
by pytest every N seconds and by `mmv3 check` on its console; quiet with -q."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmv3 import exitcodes
from mmv3.server import running_server
from mmv3.suite import progress
from tests.test_check import _accounts, mmv3_check

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"^mmv3 progress: (\d+)/(\d+) checks \(\d+%\), (\d+)/(\d+) families done; (\d+) passed, (\d+) failed, "
    r"(\d+) skipped(?:, \d+ known deviations)?; (\d+) requests sent; \d+:\d\d elapsed"
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _ids(family: str, n: int) -> list[str]:
    return [f"conformance/test_{family}.py::test_x[GET /api/v3/r{i}]" for i in range(n)]


def test_counts_families_verdicts_requests_and_the_rate_limit_floor():
    clock, wall = Clock(), Clock(5000.0)
    run = progress.Progress(clock=clock, wall=wall)
    run.expect(_ids("ratelimit", 10) + _ids("schema", 100))
    run.expect(_ids("schema", 100))  # xdist: every worker sends the same list
    run.start("controller", paced=50, raw=0, rate=10.0)
    for nodeid in _ids("ratelimit", 10):
        run.add(nodeid, "setup", "passed")
        assert run.add(nodeid, "call", "passed")
        run.add(nodeid, "teardown", "passed")
    run.requests("gw0", paced=0, raw=400)  # the rate-limit checks' own bucket
    schema = _ids("schema", 100)
    assert run.add(schema[0], "setup", "skipped")  # skipped at set-up: done
    assert not run.add(schema[0], "teardown", "passed")
    assert run.add(schema[1], "call", "failed") and run.add(schema[2], "call", "skipped", xfailed=True)
    for nodeid in schema[3:50]:
        run.add(nodeid, "call", "passed")
    run.requests("gw1", paced=100, raw=0, rate=10.0)  # 100 paced requests for 50 checks
    clock.now += 60
    wall.now += 60
    state = run.state()
    assert (state["checks_done"], state["checks"], state["families_done"], state["families"]) == (
        60,
        110,
        1,
        2,
    )
    assert (state["passed"], state["failed"], state["skipped"], state["known"]) == (57, 1, 1, 1)
    assert state["requests"] == 50 + 400 + 100
    # by the pace so far: 60 s for 60 checks, 50 left; the floor: 2 paced requests per check, at 10/s
    assert state["estimate_end"] == pytest.approx(wall.now + 50)
    assert state["floor_end"] == pytest.approx(wall.now + 100 / 10.0)
    line = run.line()
    assert LINE.match(line), line
    assert (
        "60/110 checks (54%), 1/2 families done; 57 passed, 1 failed, 1 skipped, 1 known deviations" in line
    )
    assert "550 requests sent; 1:00 elapsed, about 0:50 left (rate-limit floor 0:10 at 10 req/s)" in line
    compact = progress.render(state, wall.now, compact=True)
    assert compact == (
        "mmv3 progress: 60/110, families 1/2, 57 ok 1 failed 1 skipped, 550 req, 1:00, ~0:50 left (floor 0:10)"
    )
    for nodeid in schema[50:]:
        run.add(nodeid, "call", "passed")
    assert run.line().endswith("elapsed, done") and run.state()["finished"]


def test_no_estimate_before_enough_checks_and_none_of_a_floor_without_a_rate():
    run = progress.Progress(clock=Clock(), wall=Clock())
    run.expect(_ids("auth", 2000))
    for nodeid in _ids("auth", 2000)[:19]:
        run.add(nodeid, "call", "passed")
    assert run.state()["estimate_end"] is None and "left" not in run.line()
    run.add(_ids("auth", 2000)[19], "call", "passed")
    state = run.state()
    assert state["estimate_end"] is not None and state["floor_end"] is None
    assert "left" in run.line() and "floor" not in run.line()


def test_the_console_rewrites_one_line_on_a_terminal_and_prints_every_n_seconds_elsewhere(tmp_path):
    state_file = tmp_path / "p.json"
    run = progress.Progress(clock=Clock(), wall=Clock())
    run.expect(_ids("auth", 3))
    run.add(_ids("auth", 3)[0], "call", "passed")
    clock = Clock()
    plain = io.StringIO()
    console = progress.Console(state_file, interval=15, stream=plain, tty=False, clock=clock, wall=Clock())
    console.tick()
    assert plain.getvalue() == ""  # nothing to show before the first state
    progress.write_state(state_file, run.state())
    for _ in range(60):  # 30 s of ticks twice a second: the first line, then one after 15 s, 30 s
        console.tick()
        clock.now += 0.5
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("mmv3 progress: 1/3 checks") for line in lines)
    screen = io.StringIO()
    console = progress.Console(state_file, stream=screen, tty=True, clock=clock, wall=Clock())
    console.tick()
    console.tick()
    console.close()
    text = screen.getvalue()
    assert "\n" not in text and text.count("\rmmv3 progress: 1/3 checks") == 2 and text.endswith("\r\x1b[K")


@pytest.mark.parametrize(
    ("argv", "tty", "shown"),
    [
        ([], False, True),
        (["-q"], False, False),
        (["-q"], True, False),
        (["--progress", "0"], False, False),
        (["--progress", "0"], True, True),  # on a terminal the line refreshes: no interval to it
        (["-v"], True, False),  # pytest's own output scrolls there
        (["-v"], False, True),
    ],
)
def test_when_mmv3_check_shows_progress(argv, tty, shown, tmp_path, monkeypatch):
    import argparse

    from mmv3 import check

    parser = argparse.ArgumentParser()
    check.add_check_arguments(parser)
    args = parser.parse_args(argv)
    monkeypatch.setattr(progress.Console, "__init__", _fake_console_init(tty))
    console = check._progress_console(check.CheckRun(args, tmp_path))
    assert (console is not None) is shown


def _fake_console_init(tty: bool):
    original = progress.Console.__init__

    def init(self, state_file, **kwargs):
        original(self, state_file, tty=tty, **kwargs)

    return init


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MMV3_"))}


@pytest.mark.slow
def test_mmv3_check_off_a_terminal_prints_a_line_every_n_seconds_without_secrets(tmp_path):
    with running_server(rate_limit="100/20") as server:
        env = _accounts(server.url)
        done = mmv3_check(
            "--base-url", server.url, "--families", "headers", "--workers", "2", "--progress", "1",
            "--reports", str(tmp_path / "a"), env=env,
        )  # fmt: skip
    assert done.returncode == exitcodes.OK, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(progress.PREFIX)]
    assert len(lines) >= 2, done.stdout
    counts = [LINE.match(line) for line in lines]
    assert all(counts), lines
    done_checks = [int(m.group(1)) for m in counts]
    assert done_checks == sorted(done_checks) and int(counts[-1].group(2)) > 400
    assert max(int(m.group(8)) for m in counts) > 100  # the workers' requests reach the count
    assert all(m.group(4) == "1" for m in counts)
    for secret in (env["MMV3_PASSWORD"], env["MMV3_ADMIN_PASSWORD"]):
        assert secret not in done.stdout + done.stderr
    assert "token" not in "\n".join(lines).lower() and server.url not in "\n".join(lines)
    assert not list((tmp_path / "a").rglob(".progress.json"))


@pytest.mark.slow
def test_the_pytest_plugin_under_xdist_shows_progress_and_is_quiet_with_q(tmp_path):
    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "conformance"), "-p", "no:cacheprovider",
             "-p", "no:faker", "-n", "2", "-m", "headers", "--mm-progress", "1",
             "--mm-reports", str(tmp_path), "--alluredir", str(tmp_path / "allure"), *extra],
            env=_env(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    shown = run("--mm-progress-file", str(tmp_path / "state.json"))
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    lines = [line for line in shown.stdout.splitlines() if line.startswith(progress.PREFIX)]
    assert lines and all(LINE.match(line) for line in lines), shown.stdout[-3000:]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["finished"] and state["checks_done"] == state["checks"] > 400
    assert state["passed"] + state["skipped"] == state["checks"] and state["requests"] > 400
    quiet = run("-q")
    assert quiet.returncode == 0 and progress.PREFIX not in quiet.stdout
