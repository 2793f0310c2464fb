"""Thresholds: the YAML file, each check, the breach lines."""

from __future__ import annotations

import pytest

from mmv3.load.oracle import evaluate
from mmv3.load.thresholds import (
    EXIT_BREACH,
    EntryStats,
    RunStats,
    Thresholds,
    ThresholdsError,
    breach_lines,
    check,
    outcome_lines,
    tally,
)
from mmv3.ratelimit import Quota
from tests.load.synthetic import poisson_times, replay

FULL = """
failure_ratio: 0.01
goodput_rps_min: 5
max_throttled_ratio: 0.95
latency_ms:
  Aggregated: {p95: 100}
  "POST /api/v3/users/login": {p95: 800, p99: 1500}
ratelimit:
  accepted_rate_within_pct: 5
  burst_within: 2
  first_429_after_burst: true
  oracle: all
"""


def stats(**overrides) -> RunStats:
    values = {
        "entries": [
            EntryStats("POST", "/api/v3/users/login", 50, 0, {"p95": 300.0, "p99": 900.0}),
            EntryStats("throttled", "/api/v3/users/login", 20, 0, {"p95": 3.0, "p99": 5.0}),
        ],
        "aggregated": {"p50": 5.0, "p95": 40.0, "p99": 90.0},
        "answered": 1000,
        "failures": 2,
        "throttled": 600,
        "accepted_rps": 10.0,
        "offered_rps": 25.0,
    }
    values.update(overrides)
    return RunStats(**values)


@pytest.fixture(scope="module")
def oracle():
    return evaluate(replay(poisson_times(60, 15), Quota(10, 100)))


def test_exit_code_is_documented_and_distinct() -> None:
    assert EXIT_BREACH == 3


def test_loads_the_documented_file(tmp_path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(FULL)
    t = Thresholds.load(path)
    assert t.failure_ratio == 0.01 and t.goodput_rps_min == 5
    assert t.latency_ms["POST /api/v3/users/login"] == {"p95": 800.0, "p99": 1500.0}
    assert t.accepted_rate_within_pct == 5 and t.burst_within == 2 and t.first_429_after_burst
    assert t.oracle == "all"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95: 3", "unknown key p95"),
        ("failure_ratio: lots", "failure_ratio: must be a number"),
        ("latency_ms: {Aggregated: {p97: 3}}", "unknown key p97"),
        ("ratelimit: {oracle: some}", "ratelimit.oracle must be all, none or a list"),
        ("ratelimit: {burst: 2}", "unknown key burst"),
        ("- a list", "must be a mapping"),
        ("a: [unclosed", "not valid YAML"),
    ],
)
def test_bad_files_give_one_line(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ThresholdsError) as info:
        Thresholds.load(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ThresholdsError, match="cannot read"):
        Thresholds.load(tmp_path / "nope.yaml")


def test_a_good_run_breaches_nothing(oracle) -> None:
    outcomes = check(Thresholds.from_data(_yaml(FULL)), stats(), oracle)
    assert not breach_lines(outcomes), breach_lines(outcomes)
    names = {o.name for o in outcomes}
    assert {"failure_ratio", "latency p95 Aggregated", "latency p99 POST /api/v3/users/login"} <= names
    assert {
        "accepted_rate_within_pct",
        "burst_within",
        "first_429_after_burst",
        "oracle sustained_rate",
    } <= names


def test_a_passing_run_says_so_one_line_per_threshold_with_the_measured_value(oracle) -> None:
    outcomes = check(Thresholds.from_data(_yaml(FULL)), stats(), oracle)
    lines = outcome_lines(outcomes)
    assert len(lines) == len(outcomes) and all("\n" not in line for line in lines)
    assert all(line.startswith(("threshold passed: ", "threshold skipped: ")) for line in lines), lines
    by_name = {line.split(": ")[1]: line for line in lines}
    assert by_name["failure_ratio"] == (
        "threshold passed: failure_ratio: failure ratio 0.0050 (limit 0.01, 429s excluded)"  # 2 of 400
    )
    assert by_name["goodput_rps_min"].endswith("goodput 10.00 accepted req/s (minimum 5)")
    assert by_name["max_throttled_ratio"].endswith("throttled ratio 0.6000 (limit 0.95)")
    # Aggregated names what it covers: not Locust's row of that name (which times the 429s too)
    assert by_name["latency p95 Aggregated"] == (
        "threshold passed: latency p95 Aggregated: p95 of Aggregated "
        "(accepted requests: 429s and warm-up excluded) 40 ms (limit 100 ms)"
    )
    assert by_name["latency p99 POST /api/v3/users/login"].endswith("900 ms (limit 1500 ms)")
    assert "burst admitted" in by_name["burst_within"]
    passed = sum(line.startswith("threshold passed") for line in lines)
    assert tally(outcomes) == f"{passed} passed, 0 breached, {len(lines) - passed} skipped"


def test_each_breach_is_one_line(oracle) -> None:
    bad = stats(
        failures=40,
        accepted_rps=1.0,
        throttled=990,
        aggregated={"p95": 400.0},
        entries=[EntryStats("POST", "/api/v3/users/login", 50, 0, {"p95": 900.0, "p99": 900.0})],
    )
    lines = breach_lines(check(Thresholds.from_data(_yaml(FULL)), bad, oracle))
    text = "\n".join(lines)
    for fragment in (
        "failure_ratio",
        "goodput_rps_min",
        "max_throttled_ratio",
        "p95 of Aggregated",
        "p95 of POST",
    ):
        assert fragment in text
    assert all("\n" not in line for line in lines)


def test_failure_ratio_excludes_429s_unless_they_count() -> None:
    s = stats(answered=100, failures=1, throttled=90)
    assert s.failure_ratio == pytest.approx(0.1)  # 1 of the 10 accepted
    counted = stats(answered=100, failures=1, throttled=90, throttled_is_failure=True)
    assert counted.failure_ratio == pytest.approx(0.91)


def test_latency_of_an_unknown_name_is_a_breach(oracle) -> None:
    t = Thresholds.from_data({"latency_ms": {"GET /nothing": {"p95": 10}}})
    (outcome,) = check(t, stats(), oracle)
    assert outcome.breached and "no requests of that name" in outcome.message


def test_oracle_deviations_breach_when_asked() -> None:
    broken = evaluate(replay(poisson_times(60, 8), Quota(10, 100), fault="429-json"))
    assert breach_lines(check(Thresholds.from_data({"ratelimit": {"oracle": "all"}}), stats(), broken))
    picked = Thresholds.from_data({"ratelimit": {"oracle": ["burst"]}})
    assert not breach_lines(check(picked, stats(), broken))
    assert not breach_lines(check(Thresholds.from_data({}), stats(), broken))


def test_rate_checks_are_skipped_without_throttling() -> None:
    quiet = evaluate(replay(poisson_times(5, 5), Quota(10, 100)))
    outcomes = check(Thresholds.from_data(_yaml(FULL)), stats(), quiet)
    by_name = {o.name: o.status for o in outcomes}
    assert by_name["accepted_rate_within_pct"] == "skipped"
    assert by_name["first_429_after_burst"] == "skipped"


def _yaml(text: str):
    import yaml

    return yaml.safe_load(text)


def test_the_shipped_example_file_loads() -> None:
    from tests.load.locust_runs import REPO

    t = Thresholds.load(REPO / "loadtests" / "thresholds.yaml")
    assert t.oracle == "all" and t.burst_within == 2 and "Aggregated" in t.latency_ms


def test_warmup_rows_are_not_judged_but_a_name_never_sent_still_breaches(oracle) -> None:
    warm = stats(
        entries=[
            EntryStats("warmup", "/api/v3/users/login", 20, 0, {"p95": 1800.0}),
            EntryStats("POST", "/api/v3/posts/create", 500, 0, {"p95": 12.0}),
        ]
    )
    for name in ("POST /api/v3/users/login", "/api/v3/users/login"):
        (outcome,) = check(Thresholds.from_data({"latency_ms": {name: {"p95": 1000}}}), warm, oracle)
        assert outcome.status == "skipped" and "only as warm-up" in outcome.message
    (outcome,) = check(Thresholds.from_data({"latency_ms": {"GET /nothing": {"p95": 10}}}), warm, oracle)
    assert outcome.breached
    # a steady row of the same name is judged, the warm-up row left out
    both = stats(entries=[*warm.entries, EntryStats("POST", "/api/v3/users/login", 9, 0, {"p95": 300.0})])
    (outcome,) = check(
        Thresholds.from_data({"latency_ms": {"/api/v3/users/login": {"p95": 1000}}}), both, oracle
    )
    assert outcome.status == "passed" and "300 ms" in outcome.message


def test_scenario_sections_add_their_limits_to_runs_of_that_scenario() -> None:
    t = Thresholds.from_data(
        _yaml(
            """
latency_ms:
  Aggregated: {p95: 500}
  "POST /a": {p95: 100}
scenarios:
  LoginStorm:
    latency_ms: {Aggregated: {p95: 1500}, "POST /login": {p95: 2500}}
  Mixed:
    latency_ms: {Aggregated: {p95: 800, p99: 2000}}
"""
        )
    )
    assert t.for_scenarios(["Poster"]).latency_ms == {"Aggregated": {"p95": 500}, "POST /a": {"p95": 100}}
    storm = t.for_scenarios(["LoginStorm"]).latency_ms
    assert storm["Aggregated"] == {"p95": 1500} and storm["POST /login"] == {"p95": 2500}
    # two scenarios in one run: the larger limit of the two for the same figure
    both = t.for_scenarios(["Mixed", "LoginStorm"]).latency_ms
    assert both["Aggregated"] == {"p95": 1500, "p99": 2000}
    with pytest.raises(ThresholdsError, match="scenarios.Poster: unknown key failure_ratio"):
        Thresholds.from_data({"scenarios": {"Poster": {"failure_ratio": 0.1}}})
    with pytest.raises(ThresholdsError, match="scenarios.Poster.latency_ms.x.p95: must be a number"):
        Thresholds.from_data({"scenarios": {"Poster": {"latency_ms": {"x": {"p95": "fast"}}}}})
