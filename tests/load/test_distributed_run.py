"""Locust master and two workers on 127.0.0.1: provisioning once on the master, one slice of the
account pool per worker, the workers' 429 accounting merged into one oracle on the master."""

from __future__ import annotations

import subprocess

import pytest

from mmv3.server import running_server
from tests.load.locust_runs import clean_environment, command, free_port, locust


def test_master_and_two_workers(tmp_path) -> None:
    port = str(free_port())
    with running_server(rate_limit="10/100") as server:
        workers = [
            subprocess.Popen(
                command("--worker", "--master-host", "127.0.0.1", "--master-port", port),
                cwd=tmp_path,
                env=clean_environment(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            run = locust(
                tmp_path,
                "Poster",
                "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--expect-workers", "2", "--expect-workers-max-wait", "30",
                "-u", "10", "-r", "10", "-t", "16s",
                "--mmv3-arrival-rate", "50",
                "--mmv3-pool-size", "6",
                host=server.url,
            )  # fmt: skip
        finally:
            errors = []
            for worker in workers:
                try:
                    errors.append(worker.communicate(timeout=30)[1])
                except subprocess.TimeoutExpired:
                    worker.kill()
                    errors.append(worker.communicate()[1])
    assert run.returncode == 0, run.describe()
    assert all(worker.returncode == 0 for worker in workers), errors
    summary = run.summary

    # one provisioning, its pool split between the workers
    slices = [set(w["accounts"]) for w in summary["workers"]]
    assert len(slices) == 2 and all(len(s) == 3 for s in slices) and not slices[0] & slices[1]
    assert [w["arrival_rate"] for w in summary["workers"]] == [25.0, 25.0]
    assert summary["provisioning"]["accounts"] == 6

    # both workers' requests reached the master's accounting and its oracle
    totals = summary["totals"]
    assert totals["offered"] == summary["locust"]["requests"]
    assert totals["offered_rps"] == pytest.approx(50, rel=0.25)
    (source,) = summary["oracle"]["sources"]  # one client address, one bucket
    assert abs(source["burst"] - 100) <= 2, source
    assert source["sustained_rate"] == pytest.approx(10.0, rel=0.05), source
    assert summary["oracle"]["passed"], summary["oracle"]["summary"]
