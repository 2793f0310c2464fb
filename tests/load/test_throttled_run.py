"""One Poster run against `mmv3 serve` limited to 10/s burst 100, long enough to be throttled
for more than 15 s; its report serves every assertion below (the run takes about 25 s)."""

from __future__ import annotations

import json

import pytest

from mmv3.client import Client
from mmv3.server import running_server
from tests.load.locust_runs import POST, Run, locust, shared_run

ADMIN, ADMIN_PASSWORD = "loadadmin", "Adm1n-secret-9f3k"
THRESHOLDS = """
failure_ratio: 0
latency_ms:
  Aggregated: {p95: 2000}
  "POST /api/v3/users/login": {p99: 5000}
ratelimit:
  accepted_rate_within_pct: 5
  burst_within: 2
  first_429_after_burst: true
  oracle: all
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return shared_run(tmp_path_factory, "throttled-run", _throttled_run)


def _throttled_run(workdir) -> Run:
    (workdir / "thresholds.yaml").write_text(THRESHOLDS)
    with running_server(rate_limit="10/100") as server:
        with Client(server.url) as root:  # the first account of a fresh server is its system admin
            body = {"username": ADMIN, "email": "loadadmin@example.com", "password": ADMIN_PASSWORD}
            root.post("users/create", json=body, auth=False, raise_for_error=True)
        return locust(
            workdir,
            "Poster",
            "-u", "12", "-r", "12", "-t", "24s",
            "--mmv3-arrival-rate", "60",
            "--mmv3-pool-size", "6",
            "--mmv3-expect", "10/100",
            "--mmv3-thresholds", "thresholds.yaml",
            "--csv", "csv/run",
            "--html", "run.html",
            host=server.url,
            env={"MMV3_ADMIN": ADMIN, "MMV3_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )  # fmt: skip


def test_run_passes_its_thresholds(run: Run) -> None:
    assert run.returncode == 0, run.describe()
    outcomes = run.summary["thresholds"]["outcomes"]
    assert outcomes and all(o["status"] in ("passed", "skipped") for o in outcomes), outcomes
    assert not run.summary["thresholds"]["breaches"]


def test_oracle_measures_burst_and_sustained_rate(run: Run) -> None:
    oracle = run.summary["oracle"]
    (source,) = oracle["sources"]
    assert source["throttled_seconds"] >= 15, source
    assert abs(source["burst"] - 100) <= 2, source
    assert source["sustained_rate"] == pytest.approx(10.0, rel=0.05), source
    assert source["admitted_before_first_429"] >= 98
    # offered at 60/s, the bucket of 101 runs out after about 101 / 50 s
    assert 1.0 < source["time_to_first_429"] < 4.0
    assert abs(source["first_429_at"] - source["predicted_first_429_at"]) <= 0.5
    assert oracle["advertised"]["limit"] == 101 and oracle["advertised"]["rate"] == pytest.approx(
        10, rel=0.02
    )
    assert oracle["passed"], oracle["summary"]
    assert oracle["retry_probe"]["status"] == "passed", oracle["retry_probe"]


def test_429s_are_their_own_class(run: Run) -> None:
    totals = run.summary["totals"]
    assert totals["throttled"] > 500 and totals["failed"] == 0
    assert totals["failure_ratio"] == 0
    assert totals["offered"] == totals["accepted"] + totals["throttled"] + totals["unanswered"]
    assert totals["accepted_rps"] < totals["offered_rps"]
    rows = {(r["Type"], r["Name"]): r for r in run.locust_rows()}
    throttled = rows[("throttled", POST)]
    assert int(throttled["Request Count"]) == run.summary["requests_by_name"][POST]["throttled"]
    assert int(throttled["Failure Count"]) == 0
    assert int(rows[("", "Aggregated")]["Failure Count"]) == 0
    assert int(rows[("POST", POST)]["Request Count"]) == run.summary["requests_by_name"][POST]["accepted"]


def test_locust_own_outputs_and_ours(run: Run) -> None:
    assert (run.workdir / "csv" / "run_stats.csv").exists()
    assert (run.workdir / "run.html").read_text().lower().startswith("<!doctype html")
    for name in (
        "summary.json",
        "timeline.csv",
        "locust_stats.csv",
        "rates.png",
        "latency.png",
        "remaining.png",
    ):
        assert (run.run_dir / name).stat().st_size > 100, name
    timeline = (run.run_dir / "timeline.csv").read_text().splitlines()
    assert timeline[0].startswith("second,t,offered,accepted,throttled")
    assert len(timeline) > 15


def test_allure_has_one_test_per_verdict_and_threshold(run: Run) -> None:
    results = [json.loads(p.read_text()) for p in run.allure_dir.glob("*-result.json")]
    summary = run.summary
    assert len(results) == len(summary["oracle"]["verdicts"]) + len(summary["thresholds"]["outcomes"])
    names = {r["name"] for r in results}
    assert "rate-limit oracle: burst" in names and "threshold: burst_within" in names
    attached = {a["name"] for a in results[0]["attachments"]}
    assert {
        "rates.png",
        "latency.png",
        "remaining.png",
        "timeline.csv",
        "locust_stats.csv",
        "summary.json",
    } <= attached
    assert all((run.allure_dir / a["source"]).exists() for a in results[0]["attachments"])


def test_provisioned_by_the_admin_and_no_secret_written(run: Run) -> None:
    assert run.summary["settings"]["admin"] == ADMIN
    texts = [run.output] + [
        p.read_text(errors="replace") for p in run.run_dir.iterdir() if p.suffix != ".png"
    ]
    texts += [p.read_text(errors="replace") for p in run.allure_dir.iterdir() if p.suffix != ".png"]
    texts.append((run.workdir / "run.html").read_text())
    for text in texts:
        assert ADMIN_PASSWORD not in text
        assert "Bearer " not in text
