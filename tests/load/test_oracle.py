"""The rate-limit oracle on synthetic traffic: a conforming GCRA is measured exactly, and each
way of breaking the limiter fails the verdict that names it (and no other)."""

from __future__ import annotations

import pytest

from mmv3.load.accounting import Accounting
from mmv3.load.oracle import FAILED, PASSED, SKIPPED, Tolerances, advertised_quota, evaluate
from mmv3.ratelimit import Quota
from tests.load.synthetic import T0, poisson_times, replay

QUOTA = Quota(per_sec=10, max_burst=100)


def statuses(report) -> dict[str, str]:
    return {v.name: v.status for v in report.verdicts}


@pytest.fixture(scope="module")
def conforming():
    return evaluate(replay(poisson_times(80, 25), QUOTA), expected=QUOTA)


def test_a_conforming_limiter_passes_every_verdict(conforming) -> None:
    assert conforming.passed, conforming.summary()
    got = statuses(conforming)
    for name in (
        "headers_present",
        "limit_header",
        "reset_relative",
        "remaining_header",
        "denial_body",
        "retry_after_header",
        "throttles_when_over",
        "first_429_onset",
        "accepted_vs_model",
        "burst",
        "first_429_after_burst",
        "sustained_rate",
    ):
        assert got[name] == PASSED, (name, conforming.verdict(name))


def test_measures_burst_and_sustained_rate(conforming) -> None:
    (m,) = conforming.sources
    assert m.burst == 100
    assert 100 < m.burst_estimate <= 101.5
    assert m.sustained_rate == pytest.approx(10.0, rel=0.01)
    # offered at 80/s the bucket of 101 empties after about 101 / 70 s
    assert m.time_to_first_429 == pytest.approx(101 / 70, abs=0.3)
    assert m.admitted_before_first_429 > 100
    assert m.predicted_first_429_at == m.first_429_at


def test_advertised_rate_is_read_from_remaining_and_reset(conforming) -> None:
    adv = conforming.advertised
    assert adv.limit == 101 and adv.max_burst == 100
    assert adv.rate_low <= 10.0 <= adv.rate_high
    assert adv.rate == pytest.approx(10.0, rel=0.02)


@pytest.mark.parametrize(
    ("fault", "verdicts"),
    [
        # like the reference server's switch, no headers means no Retry-After either
        ("no-headers", {"headers_present", "retry_after_header"}),
        ("reset-epoch", {"reset_relative"}),
        ("remaining-frozen", {"remaining_header"}),
        ("never-429", {"throttles_when_over"}),
        ("429-json", {"denial_body"}),
        ("no-retry-after", {"retry_after_header"}),
    ],
)
def test_each_fault_fails_its_verdict(fault: str, verdicts: set[str]) -> None:
    report = evaluate(replay(poisson_times(80, 12), QUOTA, fault=fault))
    failed = {v.name for v in report.verdicts if v.status == FAILED}
    assert failed == verdicts, report.summary()
    assert not report.passed


def test_a_different_quota_than_expected_is_reported() -> None:
    report = evaluate(replay(poisson_times(80, 12), Quota(20, 50)), expected=QUOTA)
    failed = {v.name for v in report.verdicts if v.status == FAILED}
    assert "limit_header" in failed


def test_a_limiter_that_throttles_early_fails_burst_and_onset() -> None:
    # headers claim burst 100, the bucket really holds 30
    acc = replay(poisson_times(80, 12), Quota(10, 30))
    acc.headers.limits = {101: acc.headers.limits.pop(31)}
    report = evaluate(acc)
    got = statuses(report)
    assert got["burst"] == FAILED
    assert got["first_429_after_burst"] == FAILED
    assert got["first_429_onset"] == FAILED


def test_without_a_limiter_nothing_is_judged_unless_one_is_expected() -> None:
    acc = replay(poisson_times(50, 5), None)
    report = evaluate(acc)
    assert [(v.name, v.status) for v in report.verdicts] == [("limiter_active", SKIPPED)]
    assert report.passed
    expected = evaluate(acc, expected=QUOTA)
    assert expected.verdict("limiter_active").status == FAILED


def test_sustained_rate_needs_enough_throttled_time() -> None:
    report = evaluate(replay(poisson_times(200, 1.2), QUOTA), tolerances=Tolerances(min_throttled=3.0))
    assert report.verdict("sustained_rate").status == SKIPPED
    assert report.sources[0].sustained_rate is None


def test_one_bucket_per_source() -> None:
    acc = Accounting(source="host-a")
    replay(poisson_times(60, 12, seed=3), QUOTA, accounting=acc)
    other = Accounting(source="host-b")
    replay(poisson_times(60, 12, seed=4), QUOTA, accounting=other)
    acc.merge(other.drain())
    report = evaluate(acc)
    assert [m.source for m in report.sources] == ["host-a", "host-b"]
    assert report.passed, report.summary()
    assert report.sustained_rate == pytest.approx(20.0, rel=0.03)
    assert {"burst[host-a]", "burst[host-b]"} <= {v.name for v in report.verdicts}


def test_rate_range_is_empty_when_headers_contradict() -> None:
    acc = Accounting()
    acc.record(sent=T0, elapsed_ms=1, status=200, limit=101, remaining=0, reset=2)  # >= 50/s
    acc.record(sent=T0 + 1, elapsed_ms=1, status=200, limit=101, remaining=0, reset=50)  # <= 2.06/s
    adv = advertised_quota(acc.headers)
    assert not adv.consistent and adv.rate is None
    assert evaluate(acc).verdict("remaining_header").status == FAILED


def test_report_serialises(conforming) -> None:
    import json

    data = json.loads(json.dumps(conforming.to_dict()))
    assert data["passed"] is True
    assert data["model"]["origin"] == "advertised"
    assert data["sources"][0]["burst"] == 100
