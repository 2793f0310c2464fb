"""Locust master and two workers on 127.0.0.1, started as loadtests/README.md documents it: one
shell environment for all three (the admin's password exported once), the master-only options on
the master's command line. Provisioning once on the master, one slice of the account pool per
worker, the workers' requests, 429s, timeline and oracle added up on the master.

And the distributed runs that must not pass: a worker that dies mid-run, all workers lost at the
start (the master used to idle until --run-time and exit 0), and no worker at all."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmv3.client import Client
from mmv3.load.vacuity import EXIT_EMPTY, EXIT_WORKERS
from mmv3.server import running_server
from tests.load.locust_runs import (
    REPO,
    Run,
    clean_environment,
    command,
    free_port,
    locust,
    spawn_locust,
)

ADMIN, ADMIN_PASSWORD = "sysadmin", "Sys-adm1n-p4ss"


THRESHOLDS = """
failure_ratio: 0
latency_ms:
  Aggregated: {p95: 2000}
ratelimit:
  accepted_rate_within_pct: 5
  burst_within: 2
  oracle: all
"""


def shell_environment() -> dict[str, str]:
    """The README's `export MMV3_ADMIN_PASSWORD=...`, once, for the master and the workers; and a
    thresholds file that exists only where the master runs (the workers run elsewhere)."""
    return {"MMV3_ADMIN_PASSWORD": ADMIN_PASSWORD, "MMV3_THRESHOLDS": "thresholds.yaml"}


def create_admin(url: str) -> None:
    with Client(url) as root:  # the first account of a fresh server is its system admin
        body = {"username": ADMIN, "email": "sysadmin@example.com", "password": ADMIN_PASSWORD}
        root.post("users/create", json=body, auth=False, raise_for_error=True)


@contextlib.contextmanager
def workers(tmp_path: Path, port: str, count: int = 2) -> Iterator[list[subprocess.Popen]]:
    """`locust -f loadtests/locustfile.py --worker --master-host 127.0.0.1` × count, in the shell's
    environment; on exit each has ended (or is killed after a bounded wait)."""
    env = clean_environment()
    env.update(shell_environment())
    elsewhere = tmp_path / "workers"  # another directory: no thresholds file there
    elsewhere.mkdir(exist_ok=True)
    processes = []
    for index in range(count):
        log = open(tmp_path / f"worker{index}.log", "w")  # noqa: SIM115 (closed below)
        processes.append(
            subprocess.Popen(
                command("--worker", "--master-host", "127.0.0.1", "--master-port", port),
                cwd=elsewhere,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
        )
        log.close()
    try:
        yield processes
    finally:
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_log(tmp_path: Path, index: int) -> str:
    return (tmp_path / f"worker{index}.log").read_text(errors="replace")


def master_args(port: str, *extra: str) -> tuple[str, ...]:
    """The README's master: the admin on its command line, its password in the environment."""
    return (
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
        "--expect-workers", "2", "--expect-workers-max-wait", "30",
        "--mmv3-admin", ADMIN,
        *extra,
    )  # fmt: skip


def readme_commands() -> tuple[list[str], list[str], list[str]]:
    """The distributed-runs block of loadtests/README.md: the exported variables, the master's
    and the worker's command lines (each without `locust -f loadtests/locustfile.py`)."""
    text = (REPO / "loadtests" / "README.md").read_text()
    block = text.split("## Distributed runs", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.replace("\\\n", " ").splitlines()]
    exported = [line.split()[1].split("=", 1)[0] for line in lines if line.startswith("export ")]
    master = next(shlex.split(line) for line in lines if " --master " in line)
    worker = next(shlex.split(line) for line in lines if " --worker " in line)
    for words in (master, worker):
        assert words[:3] == ["locust", "-f", "loadtests/locustfile.py"], words
    return exported, master[3:], worker[3:]


def replace_value(words: list[str], option: str, value: str) -> list[str]:
    index = words.index(option)
    return [*words[: index + 1], value, *words[index + 2 :]]


def test_master_and_two_workers_as_documented(tmp_path) -> None:
    """The README's commands as written, but for the addresses (127.0.0.1, a free port), a
    shorter --run-time and where the reports go."""
    exported, master, worker = readme_commands()
    assert exported == ["MMV3_ADMIN_PASSWORD"]
    assert master[master.index("--mmv3-admin") + 1] == ADMIN
    assert worker == ["--worker", "--master-host", "MASTER"]
    (tmp_path / "thresholds.yaml").write_text(THRESHOLDS)
    port = str(free_port())
    master = replace_value(master, "-t", "16s")
    url_index = master.index("--host")
    master = master[:url_index] + master[url_index + 2 :]
    master[-1:-1] = ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
    master[-1:-1] = ["--expect-workers-max-wait", "30"]
    with running_server(rate_limit="10/100") as server:
        create_admin(server.url)
        with workers(tmp_path, port) as processes:
            run = locust(tmp_path, *master, host=server.url, env=shell_environment())
    assert run.returncode == 0, run.describe()
    assert all(p.returncode == 0 for p in processes), [worker_log(tmp_path, i) for i in range(2)]
    summary = run.summary
    assert summary["problems"] == []
    assert summary["settings"]["admin"] == ADMIN and summary["settings"]["expected"] == "10/100"
    outcomes = summary["thresholds"]["outcomes"]
    assert {o["status"] for o in outcomes} == {"passed"}, outcomes

    # one provisioning, its pool split between the workers, each of which sent requests
    slices = [set(w["accounts"]) for w in summary["workers"]]
    assert len(slices) == 2 and all(len(s) == 10 for s in slices) and not slices[0] & slices[1]
    assert summary["provisioning"]["accounts"] == 20
    per_worker = [w["requests"] for w in summary["workers"]]
    assert all(n > 50 for n in per_worker), per_worker

    # both workers' requests, 429s and seconds reached the master's accounting and its oracle
    totals = summary["totals"]
    assert sum(per_worker) == totals["offered"] == summary["locust"]["requests"]
    assert totals["throttled"] > 100 and totals["throttled"] == summary["locust"]["throttled_rows"]
    timeline = (run.run_dir / "timeline.csv").read_text().splitlines()[1:]
    assert sum(int(line.split(",")[2]) for line in timeline) == totals["offered"]
    (source,) = summary["oracle"]["sources"]  # one client address, one bucket
    assert abs(source["burst"] - 100) <= 2, source
    assert source["sustained_rate"] == pytest.approx(10.0, rel=0.05), source
    assert summary["oracle"]["passed"], summary["oracle"]["summary"]
    assert "conforms" in summary["oracle"]["summary"]
    for text in [run.output] + [worker_log(tmp_path, i) for i in range(2)]:
        assert ADMIN_PASSWORD not in text
        assert "go together" not in text


def test_a_worker_that_dies_mid_run_fails_the_run(tmp_path) -> None:
    (tmp_path / "thresholds.yaml").write_text("failure_ratio: 0\n")
    port = str(free_port())
    with running_server() as server:
        create_admin(server.url)
        with workers(tmp_path, port) as processes:
            master = spawn_locust(
                tmp_path,
                *master_args(port),
                "-u", "4", "-r", "4", "-t", "12s",
                "--mmv3-arrival-rate", "20",
                "--mmv3-pool-size", "4",
                "--mmv3-no-plots",
                "Poster",
                host=server.url,
                env=shell_environment(),
            )  # fmt: skip
            # bounded poll: the run is under way once posts arrive at the server
            deadline = time.monotonic() + 30
            while len(server.app.store.all("posts")) < 40 and time.monotonic() < deadline:
                time.sleep(0.1)
            processes[0].kill()
            run = master.finish(timeout=90)
    assert run.returncode == EXIT_WORKERS, run.describe()
    lines = [line for line in run.stderr.splitlines() if line.startswith("mmv3 workers:")]
    assert len(lines) == 1 and "went missing (no heartbeat)" in lines[0], run.stderr[-3000:]
    summary = run.summary  # the report of what was run is still written
    assert [p["exit_code"] for p in summary["problems"]] == [EXIT_WORKERS]
    assert summary["totals"]["offered"] > 40
    assert processes[1].returncode == 0


def test_workers_lost_at_the_start_fail_the_run_at_once(tmp_path) -> None:
    """The issue's run: workers that die as the run starts. The master must not idle for its
    60 s and exit 0 with nothing sent."""
    (tmp_path / "thresholds.yaml").write_text("failure_ratio: 0\n")
    port = str(free_port())
    with running_server() as server:
        create_admin(server.url)
        with workers(tmp_path, port) as processes:
            master = spawn_locust(
                tmp_path,
                *master_args(port),
                "-u", "4", "-r", "4", "-t", "60s",
                "Poster",
                host=server.url,
                env=shell_environment(),
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while "Sending spawn jobs" not in master.stderr_so_far() and time.monotonic() < deadline:
                time.sleep(0.1)
            for process in processes:
                os.kill(process.pid, signal.SIGKILL)
            begun = time.monotonic()
            run = master.finish(timeout=90)
    assert run.returncode == EXIT_WORKERS, run.describe()
    assert time.monotonic() - begun < 30, "the master idled instead of ending the run"
    kinds = [line.split(":", 1)[0] for line in run.stderr.splitlines() if line.startswith("mmv3 ")]
    assert kinds.count("mmv3 workers") == 2, run.stderr[-3000:]
    codes = [p["exit_code"] for p in run.summary["problems"]]
    assert codes[:2] == [EXIT_WORKERS, EXIT_WORKERS] and set(codes) <= {EXIT_WORKERS, EXIT_EMPTY}


def test_no_worker_at_all_fails_in_bounded_time(tmp_path) -> None:
    port = str(free_port())
    begun = time.monotonic()
    run: Run = locust(
        tmp_path,
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
        "--expect-workers", "2", "--expect-workers-max-wait", "2",
        "-t", "30s", "Poster",
        host="http://127.0.0.1:9",  # never reached: nothing runs without workers
        timeout=60,
    )  # fmt: skip
    assert run.returncode == EXIT_WORKERS, run.describe()
    assert time.monotonic() - begun < 25
    lines = [line for line in run.stderr.splitlines() if line.startswith("mmv3 ")]
    assert lines == [
        "mmv3 workers: 0 of 2 worker(s) connected within 2 s (--expect-workers-max-wait); nothing was run"
    ]
    assert "Traceback" not in run.stderr
