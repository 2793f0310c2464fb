"""Headless runs of the scenarios against the reference server: without a limiter (error-free,
nothing lost), with each rate-limit fault switch (the oracle and the thresholds catch it), the
request budget and the open model's lateness warning, and bad options."""

from __future__ import annotations

import pytest

from mmv3.load.vacuity import EXIT_PROVISIONING
from mmv3.server import running_server
from tests.load.locust_runs import POST, REPO, locust

FAULT_THRESHOLDS = "ratelimit:\n  oracle: all\n"


def test_login_post_and_mixed_without_a_limiter_lose_nothing(tmp_path) -> None:
    with running_server() as server:
        run = locust(
            tmp_path,
            "LoginStorm", "Poster", "Mixed",
            "-u", "9", "-r", "9", "-t", "9s",
            "--stop-timeout", "5",  # users finish the request in flight, so every answer is counted
            "--mmv3-pool-size", "6",
            "--mmv3-wait", "0.05-0.2",
            host=server.url,
        )  # fmt: skip
        stored = [p for p in server.app.store.all("posts") if not p.get("type")]  # system posts have a type
    assert run.returncode == 0, run.describe()
    summary = run.summary
    totals = summary["totals"]
    assert totals["throttled"] == 0 and totals["failed"] == 0 and totals["unanswered"] == 0
    assert summary["locust"]["failures"] == 0
    by_name = summary["requests_by_name"]
    assert by_name[POST]["accepted"] > 20
    assert len(stored) == by_name[POST]["accepted"]
    for name in (
        "/api/v3/users/login",
        "/api/v3/users/logout",
        "/api/v3/teams/{team_id}/channels/",
        "/api/v3/teams/{team_id}/channels/{channel_id}/posts/page/{offset}/{limit}",
        "/api/v3/teams/{team_id}/channels/view",
        "/api/v3/users/status/ids",
    ):
        assert by_name.get(name, {}).get("accepted", 0) > 0, name
    assert run.verdicts() == {"limiter_active": "skipped"}
    assert summary["oracle"]["retry_probe"] is None


@pytest.mark.parametrize(
    ("fault", "verdict"),
    [
        ("ratelimit-no-headers", "headers_present"),
        ("ratelimit-reset-epoch", "reset_relative"),
        ("ratelimit-never-429", "throttles_when_over"),
        ("ratelimit-429-json", "denial_body"),
    ],
)
def test_fault_switches_are_reported_and_fail_the_thresholds(tmp_path, fault: str, verdict: str) -> None:
    (tmp_path / "thresholds.yaml").write_text(FAULT_THRESHOLDS)
    with running_server(rate_limit="20/20", faults=[fault]) as server:
        run = locust(
            tmp_path,
            "Poster",
            "-u", "8", "-r", "8", "-t", "7s",
            "--mmv3-arrival-rate", "80",
            "--mmv3-pool-size", "4",
            "--mmv3-channels", "0",
            "--mmv3-thresholds", "thresholds.yaml",
            host=server.url,
        )  # fmt: skip
    assert run.returncode == 3, run.describe()
    assert run.verdicts()[verdict] == "failed", run.summary["oracle"]["summary"]
    breaches = [line for line in run.stderr.splitlines() if "threshold breached" in line]
    assert any(f"oracle {verdict}:" in line for line in breaches), breaches
    assert breaches == [f"mmv3 {line}" for line in run.summary["thresholds"]["breaches"]]


def test_request_budget_ends_the_run_and_late_arrivals_are_warned(tmp_path) -> None:
    with running_server() as server:
        # one user cannot keep 2000 requests/s; no --run-time: the default bound applies, the budget ends it
        run = locust(
            tmp_path,
            "Poster",
            "-u", "1", "-r", "1",
            "--mmv3-arrival-rate", "2000",
            "--mmv3-max-requests", "300",
            "--mmv3-pool-size", "1",
            "--mmv3-no-plots",
            host=server.url,
            timeout=60,
        )  # fmt: skip
    assert run.returncode == 0, run.describe()
    assert "no --run-time given, the run stops after 60 s" in run.stderr
    assert "--mmv3-max-requests reached" in run.stderr
    summary = run.summary
    assert summary["totals"]["offered"] == 300
    assert summary["finished_epoch"] - summary["started_epoch"] < 30
    assert summary["arrivals"]["late"] > 0
    assert "cannot keep" in run.stderr or "missed its schedule" in run.stderr


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--mmv3-expect", "fast"], "mmv3: --mmv3-expect: rate limit must look like PERSEC/BURST", 2),
        (["--mmv3-thresholds", "missing.yaml"], "mmv3: missing.yaml: cannot read", 2),
        # nobody listens on :9: provisioning fails, with the code of its own
        (["--mmv3-pool-size", "1"], "mmv3: provisioning failed: creating account", EXIT_PROVISIONING),
    ],
)
def test_bad_options_are_one_line(tmp_path, args: list[str], message: str, code: int) -> None:
    run = locust(tmp_path, "Poster", "-t", "5s", *args, host="http://127.0.0.1:9", timeout=60)
    assert run.returncode == code, run.describe()
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert not (run.run_dir / "summary.json").exists()


def test_the_readme_command_passes_the_shipped_thresholds_with_logins_as_warmup(tmp_path) -> None:
    """The README's load command, shortened: no --host (a reference server at Mattermost's 10/100
    and bcrypt cost 10), 20 users spawned at once, the shipped thresholds file."""
    run = locust(
        tmp_path,
        "Poster",
        "-u", "20", "-r", "20", "-t", "15s",
        "--mmv3-thresholds", str(REPO / "loadtests" / "thresholds.yaml"),
        "--mmv3-no-plots",
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    summary = run.summary
    outcomes = {o["name"]: o["status"] for o in summary["thresholds"]["outcomes"]}
    assert outcomes["latency p95 Aggregated"] == "passed"
    assert outcomes["latency p95 " + "POST " + POST] == "passed"
    assert outcomes["oracle burst"] == "passed" and outcomes["oracle sustained_rate"] == "passed"
    # each user's first login is warm-up: its own Locust row and summary section, not judged
    rows = {(r["Type"], r["Name"]) for r in run.locust_rows()}
    assert ("warmup", "/api/v3/users/login") in rows and ("POST", "/api/v3/users/login") not in rows
    warm = summary["warmup"]
    assert warm["offered"] == warm["accepted"] == 20 and warm["p95_ms"] is not None
    assert "warm-up (not judged by the thresholds): 20 request(s)" in run.stderr
    assert not any("users/login" in name for name in outcomes)
    # but it spent the rate-limit bucket like any request: the oracle counts it
    assert summary["requests_by_name"]["/api/v3/users/login"]["offered"] == 20

    # The console says each threshold passed, with the value measured, then the tally.
    verbs = {"passed": "passed", "failed": "breached", "skipped": "skipped"}
    said = [line for line in run.stderr.splitlines() if line.startswith("mmv3 threshold ")]
    assert said == [
        f"mmv3 threshold {verbs[o['status']]}: {o['name']}: {o['message']}"
        for o in summary["thresholds"]["outcomes"]
    ]
    passed = sum(o["status"] == "passed" for o in summary["thresholds"]["outcomes"])
    assert passed >= 8 and f"mmv3 thresholds: {passed} passed, 0 breached, " in run.stderr
    p95 = summary["totals"]["p95_accepted_ms"]
    assert (
        "mmv3 threshold passed: latency p95 Aggregated: p95 of Aggregated (accepted requests: 429s and "
        f"warm-up excluded) {p95:g} ms (limit 500 ms)"
    ) in said

    # Which requests each p95 covers: the thresholds' Aggregated (accepted) is not Locust's row.
    latency, totals = summary["latency"], summary["totals"]
    assert latency["accepted"]["p95_ms"] == p95
    assert latency["accepted"]["requests"] == totals["accepted"] - warm["accepted"]
    assert latency["throttled"]["requests"] == totals["throttled"] > 0
    assert latency["warmup"]["requests"] == 20
    everything = latency["all_requests"]
    assert everything["requests"] == summary["locust"]["requests"] == totals["offered"]
    aggregated_row = next(r for r in run.locust_rows() if r["Name"] == "Aggregated")
    assert float(aggregated_row["95%"]) == everything["p95_ms"]  # Locust's own table
    assert (
        f"Locust's Aggregated row {everything['p95_ms']:g} ms (all {everything['requests']} requests"
        in run.stderr
    )
