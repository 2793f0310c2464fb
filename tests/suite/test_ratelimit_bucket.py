"""The rate-limit family's cross-checks of the headers against the measured bucket, on simulated
bursts: an honest GCRA limiter never fails them however fast or slow (or jittery) the client
is, and each lie about the bucket fails the rule meant for it.

The limiter is `mmv3.ratelimit.GCRA`, the model the reference server and the load oracle use;
the client is a timeline of send, handle and answer times with random latencies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from mmv3.checks import Skip
from mmv3.checks import ratelimit as family
from mmv3.ratelimit import DENIED_BODY, DENIED_CONTENT_TYPE, GCRA, Decision, Observed, Quota

Lie = Callable[[Decision], dict[str, str]]


def _honest(decision: Decision) -> dict[str, str]:
    return decision.headers()


def _shifted(shift: int) -> Lie:
    def lie(decision: Decision) -> dict[str, str]:
        headers = decision.headers()
        headers["X-Ratelimit-Limit"] = str(decision.limit - shift)
        headers["X-Ratelimit-Remaining"] = str(max(0, decision.remaining - shift))
        return headers

    return lie


def _slow_reset(decision: Decision) -> dict[str, str]:
    headers = decision.headers()
    headers["X-Ratelimit-Reset"] = str(math.ceil(10 * decision.reset_after))
    return headers


def simulate(
    quota: Quota, latency: float, think: float, seed: int, lie: Lie = _honest, slow_start: int = 0
) -> family.Burst:
    """One burst from a fresh bucket until the first 429 (capped as `run_burst` caps it); the
    first `slow_start` requests wait two intervals each, so that the bucket is full again."""
    rng = random.Random(seed)
    limiter = GCRA(quota, clock=lambda: 0.0)
    burst = family.Burst("sim")
    now = 100.0
    cap = 3 * quota.limit + 20
    while len(burst.samples) < cap:
        sent = now
        handled = sent + rng.uniform(0, latency)
        received = handled + rng.uniform(0, latency)
        decision = limiter.take("k", now=handled)
        headers = lie(decision)
        denied = not decision.allowed
        kind, body = (DENIED_CONTENT_TYPE, DENIED_BODY.encode()) if denied else ("application/json", b"{}")
        status = 429 if denied else 200
        seen = Observed.from_headers(headers)
        burst.samples.append(family.Sample(sent, status, seen, kind, body, None, [], received))
        if not decision.allowed:
            break
        now = received + (2 * quota.interval if len(burst.samples) <= slow_start else rng.uniform(0, think))
    return burst


class FakeProbe:
    ratelimit = "on"
    limited = True

    def __init__(self, burst: family.Burst) -> None:
        self.burst = burst
        self.notes: list[str] = []
        self.recorded: dict[str, Any] = {}

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        return self.burst

    def note(self, text: str) -> None:
        self.notes.append(text)

    def record(self, key: str, value: Any) -> None:
        self.recorded[key] = value


def verdict(check: Any, burst: family.Burst) -> list[str] | None:
    """The check's problems, or None when it skipped."""
    try:
        return check.run(None, FakeProbe(burst))
    except Skip:
        return None


QUOTAS = [Quota(100, 20), Quota(10, 100), Quota(5, 4), Quota(400, 50)]
# (latency each way, think time) in seconds: a fast client, a loaded one, a slow and jittery one
CLIENTS = [(0.0005, 0.0002), (0.003, 0.002), (0.02, 0.03)]


@pytest.mark.parametrize("quota", QUOTAS, ids=lambda q: f"{q.per_sec:g}/{q.max_burst}")
@pytest.mark.parametrize("client", CLIENTS, ids=["fast", "loaded", "slow"])
def test_an_honest_limiter_passes_whatever_the_client_speed(quota, client):
    for seed in range(40):
        burst = simulate(quota, *client, seed=seed, slow_start=seed % 4)
        for check in (family.bucket, family.reset_seconds, family.exceeding):
            problems = verdict(check, burst)
            assert not problems, (check.id, seed, problems)


def test_the_refill_bounds_hold_the_true_rate():
    for seed in range(100):
        quota = QUOTAS[seed % len(QUOTAS)]
        burst = simulate(quota, *CLIENTS[seed % len(CLIENTS)], seed=seed)
        bounds = family.refill_from_remaining(family.countdown_samples(burst))
        if bounds is not None:
            assert bounds.low <= quota.per_sec <= bounds.high, (seed, quota, bounds)


@pytest.mark.parametrize(
    ("lie", "check", "words", "clients"),
    [
        (_shifted(10), family.bucket, "admitted after Remaining read 0", CLIENTS[:2]),
        (_shifted(-21), family.bucket, "still advertised Remaining", CLIENTS[:2]),
        # The refill shows in Remaining only when the client is slow enough to see some of it.
        (_slow_reset, family.reset_seconds, "Reset advertises a refill", CLIENTS[1:2]),
    ],
    ids=["limit-understated", "limit-overstated", "reset-slow"],
)
def test_a_lie_about_the_bucket_fails_its_rule(lie, check, words, clients):
    for client in clients:
        for seed in range(20):
            problems = verdict(check, simulate(Quota(100, 20), *client, seed=seed, lie=lie))
            assert problems and words in " ".join(problems), (client, seed, problems)


def test_a_limit_exceeded_without_a_429_fails_rather_than_skips():
    """Headers advertising Limit 11 and a refill of at most 10/s (Reset 2 with 1 to 10 slots
    spent), Remaining never below 1, and 53 requests admitted in 30 ms: no refill explains it."""
    samples = []
    for i in range(53):
        remaining = max(1, 10 - i)
        seen = Observed(11, remaining, 2, None)
        samples.append(family.Sample(i * 0.0006, 200, seen, "", b"", None, [], i * 0.0006 + 0.0004))
    burst = family.Burst("sim", samples)
    problems = verdict(family.exceeding, burst)
    assert problems and "admitted without a 429" in problems[0], problems
