"""Synthetic traffic for the load library's unit tests: a GCRA server (mmv3.ratelimit) answering
requests at given send times, each answer filed into an Accounting as the Locust glue would,
optionally broken the way the reference server's fault switches break it."""

from __future__ import annotations

import random

from mmv3.load.accounting import Accounting
from mmv3.ratelimit import DENIED_BODY, DENIED_CONTENT_TYPE, GCRA, Decision, Quota

T0 = 1_700_000_000.0  # epoch seconds of the first request
FAULTS = ("no-headers", "reset-epoch", "remaining-frozen", "never-429", "429-json", "no-retry-after")


def poisson_times(rate: float, seconds: float, *, seed: int = 1, start: float = T0) -> list[float]:
    rng = random.Random(seed)
    times, t = [], start
    while t < start + seconds:
        times.append(t)
        t += rng.expovariate(rate)
    return times


def replay(
    times: list[float],
    quota: Quota | None,
    *,
    fault: str | None = None,
    accounting: Accounting | None = None,
    source: str = "local",
    seed: int = 2,
) -> Accounting:
    """Answer every request at `times` with `quota`'s GCRA (no limiter when quota is None)."""
    assert fault is None or fault in FAULTS, fault
    acc = accounting or Accounting(source=source)
    limiter = GCRA(quota, clock=lambda: 0.0) if quota else None
    rng = random.Random(seed)
    for t in times:
        if limiter is None:
            acc.record(sent=t, elapsed_ms=rng.uniform(1, 5), status=200, name="POST /x")
            continue
        decision = limiter.take("", now=t - T0 + 1000.0)
        if fault == "never-429" and not decision.allowed:
            decision = Decision(True, decision.limit, 0, decision.reset_after, -1.0)
        headers = decision.headers()
        limit = int(headers["X-Ratelimit-Limit"])
        remaining = int(headers["X-Ratelimit-Remaining"])
        reset = int(headers["X-Ratelimit-Reset"])
        retry = int(headers["Retry-After"]) if "Retry-After" in headers else None
        if fault == "reset-epoch":
            reset = int(t + decision.reset_after)
        if fault == "remaining-frozen":
            remaining = limit - 1
        if fault == "no-retry-after":
            retry = None
        values = {"limit": limit, "remaining": remaining, "reset": reset, "retry_after": retry}
        if fault == "no-headers":
            values = {}
        denied = not decision.allowed
        json_denial = fault == "429-json"
        acc.record(
            sent=t,
            elapsed_ms=rng.uniform(1, 5),
            status=429 if denied else 200,
            name="POST /x",
            content_type=("application/json" if json_denial else DENIED_CONTENT_TYPE) if denied else None,
            body=(b'{"id":"x"}' if json_denial else DENIED_BODY.encode()) if denied else None,
            **values,
        )
    return acc
