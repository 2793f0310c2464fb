"""The Retry-After probe: does a client that waits what a 429's Retry-After says get through?

Run once at the end of a load run (when the load has stopped, so nobody else spends the
bucket): send unauthenticated pings until a 429 comes (at most Limit + 20), wait Retry-After,
send one more. Under GCRA the bucket then holds a token again, so the last ping must pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mmv3.client import Client, ClientError, Response

PING = "general/ping"
_EXTRA = 20
_MAX_BURST_PROBED = 1000  # a bucket deeper than this is not worth exhausting for one verdict
_LONGEST_WAIT = 60


def retry_after_probe(
    base_url: str,
    *,
    limit: int | None,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """{"status": passed/failed/skipped, "message", "retry_after", "requests"}."""
    budget = (limit or 100) + _EXTRA
    if budget > _MAX_BURST_PROBED + _EXTRA:
        return {
            "status": "skipped",
            "message": f"bucket of {limit} requests too deep to exhaust",
            "requests": 0,
        }
    client = Client(base_url, timeout=timeout, pace=False)
    sent = 0
    denied: Response | None = None
    try:
        for _ in range(budget):
            response = client.get(PING, auth=False)
            sent += 1
            if response.status == 429:
                denied = response
                break
        if denied is None:
            return {
                "status": "failed",
                "message": f"no 429 in {sent} back-to-back requests although Limit is {limit}",
                "requests": sent,
                "retry_after": None,
            }
        retry_after = denied.ratelimit.retry_after
        note = ""
        wait = retry_after
        if wait is None or wait < 0 or wait > _LONGEST_WAIT:
            note = " (429 without a usable Retry-After; waited 1 s)"
            wait = 1
        sleep(float(wait))
        again = client.get(PING, auth=False)
        sent += 1
    except ClientError as exc:
        return {"status": "failed", "message": f"probe could not talk to the server: {exc}", "requests": sent}
    finally:
        client.close()
    if again.status == 429:
        return {
            "status": "failed",
            "message": f"waited Retry-After {wait} s after a 429 and was throttled again{note}",
            "retry_after": retry_after,
            "requests": sent,
        }
    status = "failed" if note else "passed"
    return {
        "status": status,
        "message": f"after {sent - 1} requests a 429 said Retry-After {retry_after}; waiting that long, "
        f"the next request got {again.status}{note}",
        "retry_after": retry_after,
        "requests": sent,
    }
