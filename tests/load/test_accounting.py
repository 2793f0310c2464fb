"""The 429 accounting: per-second offered/accepted/throttled, the headers' view, and the round
trip a worker's report makes to the master."""

from __future__ import annotations

import json
import math

import pytest

from mmv3.load.accounting import (
    ACCEPTED,
    DENIED,
    UNANSWERED,
    Accounting,
    header_int,
    percentile,
    rounded_ms,
)
from mmv3.ratelimit import DENIED_BODY, DENIED_CONTENT_TYPE
from tests.load.synthetic import T0


def denied(acc: Accounting, t: float, **kwargs) -> None:
    values = {"limit": 101, "remaining": 0, "reset": 11, "retry_after": 1}
    values.update(kwargs)
    acc.record(
        sent=t,
        elapsed_ms=2,
        status=429,
        name="POST /p",
        content_type=values.pop("content_type", DENIED_CONTENT_TYPE),
        body=values.pop("body", DENIED_BODY.encode()),
        **values,
    )


def test_files_requests_under_their_send_second() -> None:
    acc = Accounting()
    acc.record(sent=T0 + 0.1, elapsed_ms=3, status=200, name="POST /p", limit=101, remaining=100, reset=1)
    acc.record(
        sent=T0 + 0.9,
        elapsed_ms=250,
        status=500,
        name="POST /p",
        limit=101,
        remaining=99,
        reset=1,
        failed=True,
    )
    denied(acc, T0 + 1.5)
    acc.record(sent=T0 + 3.2, elapsed_ms=0, status=0, name="POST /p")
    rows = acc.timeline()
    assert [r["t"] for r in rows] == [0, 1, 2, 3]
    assert [(r["offered"], r["accepted"], r["throttled"], r["unanswered"]) for r in rows] == [
        (2, 2, 0, 0),
        (1, 0, 1, 0),
        (0, 0, 0, 0),
        (1, 0, 0, 1),
    ]
    assert rows[0]["failed"] == 1
    assert rows[0]["remaining_min"] == 99 and rows[0]["limit"] == 101
    assert rows[0]["p99_ms"] == 250  # accepted answers only, 429s do not count
    totals = acc.totals()
    assert (totals["offered"], totals["accepted"], totals["throttled"], totals["unanswered"]) == (4, 2, 1, 1)
    assert totals["seconds"] == 4 and totals["accepted_rps"] == pytest.approx(0.5)
    assert acc.name_counts()["POST /p"] == {
        "offered": 4,
        "accepted": 2,
        "throttled": 1,
        "unanswered": 1,
        "failed": 1,
    }
    assert list(acc.logs["local"].codes) == [ACCEPTED, ACCEPTED, DENIED, UNANSWERED]


def test_header_view_checks_every_429() -> None:
    acc = Accounting()
    denied(acc, T0)
    denied(acc, T0, remaining=5)
    denied(acc, T0, retry_after=None)
    denied(acc, T0, retry_after=40)  # longer than Reset 11
    denied(acc, T0, content_type="application/json", body=b"{}")
    denied(acc, T0, reset=int(T0) + 11)
    view = acc.headers
    assert view.throttled == 6 and view.with_headers == 6
    assert view.throttled_remaining_positive == 1
    assert view.throttled_without_retry_after == 1
    assert view.throttled_bad_retry_after == 1
    assert view.throttled_wrong_type == 1 and view.throttled_wrong_body == 1
    assert view.epoch_resets == 1
    assert view.denial_types == {DENIED_CONTENT_TYPE: 5, "application/json": 1}


def test_rate_range_narrows_with_each_answer() -> None:
    acc = Accounting()
    # 10/s, burst 100: 21 slots in use need 2.0-2.1 s, so Reset 3; the empty bucket 10.0-10.1 s, Reset 11
    acc.record(sent=T0, elapsed_ms=1, status=200, limit=101, remaining=80, reset=3)
    acc.record(sent=T0, elapsed_ms=1, status=200, limit=101, remaining=0, reset=11)
    acc.record(sent=T0, elapsed_ms=1, status=200, limit=101, remaining=1, reset=10)
    view = acc.headers
    assert view.rate_samples == 3
    assert 9.8 < view.rate_low <= 10.0 <= view.rate_high < 10.2
    partial = Accounting()
    partial.record(sent=T0, elapsed_ms=1, status=200, limit=101)
    assert partial.headers.partial == 1 and partial.headers.with_headers == 0
    assert math.isinf(partial.headers.rate_high)


def test_drain_and_merge_round_trip_through_json() -> None:
    worker = Accounting(source="w")
    worker.record(sent=T0, elapsed_ms=4, status=200, name="a", limit=101, remaining=100, reset=1)
    denied(worker, T0 + 1)
    delta = json.loads(json.dumps(worker.drain()))
    assert worker.totals()["offered"] == 0 and not worker.logs  # drained
    master = Accounting(source="m")
    master.record(sent=T0, elapsed_ms=8, status=200, name="a", limit=101, remaining=99, reset=1)
    master.merge(delta, source="host-b")
    assert master.totals()["offered"] == 3
    assert master.timeline()[0]["offered"] == 2 and master.timeline()[0]["remaining_min"] == 99
    assert sorted(master.logs) == ["host-b", "m"]
    assert master.headers.throttled == 1 and master.headers.limits == {101: 3}
    assert master.name_counts()["a"]["offered"] == 2


def test_event_log_is_bounded() -> None:
    acc = Accounting(max_events=3)
    for i in range(5):
        acc.record(sent=T0 + i, elapsed_ms=1, status=200)
    assert len(acc.logs["local"]) == 3 and acc.logs["local"].dropped == 2
    assert acc.totals()["offered"] == 5  # the per-second view keeps counting


def test_recent_rates_cover_complete_seconds() -> None:
    acc = Accounting()
    for i in range(30):
        acc.record(sent=T0 + i / 3, elapsed_ms=1, status=200 if i % 3 else 429)
    recent = acc.recent(T0 + 10, window=5)
    assert recent["offered_rps"] == pytest.approx(3.0)
    assert recent["throttled_rps"] == pytest.approx(1.0)


def test_small_helpers() -> None:
    assert header_int(["101", "21"], min) == 21
    assert header_int(["3", "x"], max) == 3
    assert header_int("abc") is None and header_int(None) is None
    assert header_int(" 7 ") == 7
    assert [rounded_ms(v) for v in (4.4, 123, 1234)] == [4, 120, 1200]
    assert percentile({1: 98, 100: 2}, 0.95) == 1 and percentile({1: 98, 100: 2}, 0.99) == 100
    assert percentile({}, 0.5) is None


def test_warmup_requests_count_but_keep_their_latency_apart() -> None:
    acc = Accounting()
    acc.record(sent=T0, elapsed_ms=1800, status=200, name="/api/v3/users/login", warmup=True)
    acc.record(sent=T0 + 0.1, elapsed_ms=3, status=429, name="/api/v3/users/login", warmup=True)
    for i in range(20):
        acc.record(sent=T0 + 0.2 + i / 100, elapsed_ms=4, status=200, name="/posts/create")
    totals = acc.totals()
    # in every count and in the oracle's log: a warm-up request spends the rate-limit bucket too
    assert (totals["offered"], totals["accepted"], totals["throttled"]) == (22, 21, 1)
    assert len(acc.logs["local"]) == 22
    # but not in the latency of the run, nor of its seconds
    assert totals["p95_accepted_ms"] == totals["p99_accepted_ms"] == 4
    assert acc.timeline()[0]["p99_ms"] == 4
    warm = acc.warmup_totals()
    assert (warm["offered"], warm["accepted"], warm["throttled"]) == (2, 1, 1)
    assert warm["p95_ms"] == warm["max_ms"] == 1800
    # a worker's warm-up reaches the master
    master = Accounting()
    master.merge(json.loads(json.dumps(acc.drain())))
    assert master.warmup_totals() == warm
    assert acc.warmup_totals()["offered"] == 0
