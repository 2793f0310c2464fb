"""Running `locust` on loadtests/locustfile.py as a subprocess (never imported by pytest: Locust
monkey-patches the interpreter with gevent), and reading what the run wrote."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtests" / "locustfile.py"
SHAPES = REPO / "loadtests" / "shapes.py"
POST = "/api/v3/teams/{team_id}/channels/{channel_id}/posts/create"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    run_dir: Path
    allure_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        path = self.run_dir / "summary.json"
        assert path.exists(), f"no summary.json; locust said:\n{self.stderr[-3000:]}"
        return json.loads(path.read_text())

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def locust_rows(self) -> list[dict[str, str]]:
        with open(self.run_dir / "locust_stats.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    def verdicts(self) -> dict[str, str]:
        return {v["name"]: v["status"] for v in self.summary["oracle"]["verdicts"]}

    def describe(self) -> str:
        return f"locust exited {self.returncode}:\n{self.stderr[-4000:]}"


def clean_environment() -> dict[str, str]:
    """The test process's environment without MMV3_* settings a developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMV3_", "LOCUST_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def command(*args: str, locustfile: str | None = None) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", locustfile or str(LOCUSTFILE), *args]


def locust(
    workdir: Path,
    *args: str,
    host: str | None = None,
    run_name: str = "run",
    timeout: float = 120,
    locustfile: str | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """One headless run (reports under `workdir`); every run is bounded by the caller's -t."""
    full, environment = _headless(workdir, args, host, run_name, locustfile, env)
    reports, allure = workdir / "reports", workdir / "allure-results"
    done = subprocess.run(full, cwd=workdir, env=environment, capture_output=True, text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr, workdir, reports / run_name, allure)


@dataclass
class Running:
    """A headless run started in the background (`spawn_locust`): its stderr goes to a file that
    can be read while it runs."""

    process: subprocess.Popen
    workdir: Path
    run_name: str
    stderr_path: Path

    def stderr_so_far(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def finish(self, timeout: float = 120) -> Run:
        try:
            stdout, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, _ = self.process.communicate()
            raise
        reports = self.workdir / "reports"
        return Run(
            self.process.returncode,
            stdout,
            self.stderr_so_far(),
            self.workdir,
            reports / self.run_name,
            self.workdir / "allure-results",
        )


def spawn_locust(
    workdir: Path,
    *args: str,
    host: str | None = None,
    run_name: str = "run",
    env: dict[str, str] | None = None,
) -> Running:
    """`locust(...)` in the background; end it with `.finish()` (bounded by the caller's -t)."""
    full, environment = _headless(workdir, args, host, run_name, None, env)
    stderr_path = workdir / f"{run_name}.stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            full, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    return Running(process, workdir, run_name, stderr_path)


def _headless(
    workdir: Path,
    args: tuple[str, ...],
    host: str | None,
    run_name: str,
    locustfile: str | None,
    env: dict[str, str] | None,
) -> tuple[list[str], dict[str, str]]:
    reports, allure = workdir / "reports", workdir / "allure-results"
    full = command(
        "--headless",
        "--only-summary",
        "--mmv3-report-dir",
        str(reports),
        "--mmv3-run-name",
        run_name,
        "--mmv3-allure-dir",
        str(allure),
        *args,
        locustfile=locustfile,
    )
    if host:
        full += ["--host", host]
    environment = clean_environment()
    environment.update(env or {})
    return full, environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shared_run(tmp_path_factory: Any, name: str, produce: Callable[[Path], Run]) -> Run:
    """One run for the whole session, even across xdist workers (a module fixture would run it
    once per worker that gets a test of the module): the first worker runs it under a file lock,
    the others read its record."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of one session
    workdir, record = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            data = json.loads(record.read_text())
            return Run(**{k: Path(v) if k.endswith("dir") else v for k, v in data.items()})
        workdir.mkdir(exist_ok=True)
        run = produce(workdir)
        record.write_text(
            json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(run).items()})
        )
        return run
