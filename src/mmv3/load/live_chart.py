"""The series behind the web UI's rate-limit chart (`GET /mmv3/ratelimit/series`): per second of
send time, the offered, accepted and throttled requests (a count per one-second bin is a rate in
req/s), the refill rate to draw as a line, and when the first 429 came.

Bins are whole epoch seconds (as in timeline.csv): a point's `t` is its bin's start in seconds
since `start_epoch`, the first bin's. The first request came `first_request_offset` seconds into
that bin; the chart's axis counts from the first request, as the oracle's figures do
(`first_429.after_s`, the table's "first 429 after").

While the run goes on, the second in progress is left out (its bin is still filling and would
show as a dip). Only the last `window` seconds are sent; `t` keeps its origin, so the axis does
not shift when old seconds drop out.
"""

from __future__ import annotations

from typing import Any

from mmv3.load.accounting import Accounting
from mmv3.load.oracle import OracleReport
from mmv3.ratelimit import Quota

WINDOW = 1200  # seconds of the chart (20 minutes)


def chart_series(
    accounting: Accounting,
    oracle: OracleReport,
    *,
    now: float | None = None,
    expected: Quota | None = None,
    window: int = WINDOW,
) -> dict[str, Any]:
    """The chart's data. `now` (epoch seconds) is given while the run goes on, None once it
    has stopped (then every second is complete)."""
    rows = accounting.timeline()
    if now is not None:
        rows = [row for row in rows if row["second"] < int(now)]
    start = rows[0]["second"] if rows else None
    points = [
        {"t": row["t"], "offered": row["offered"], "accepted": row["accepted"], "throttled": row["throttled"]}
        for row in rows[-window:]
    ]
    refill, origin = oracle.advertised.rate, "advertised"
    if not refill and expected is not None:
        refill, origin = expected.per_sec, "expected"
    if not refill:
        refill, origin = None, None
    first_request = min((m.first_request_at for m in oracle.sources if m.first_request_at), default=None)
    throttled = [m for m in oracle.sources if m.first_429_at is not None]
    first = min(throttled, key=lambda m: m.first_429_at or 0.0) if throttled else None
    first_429 = None
    if first is not None and first.first_429_at is not None and first_request is not None:
        first_429 = {
            "after_s": round(first.first_429_at - first_request, 3),  # on the chart's axis
            "admitted_before": first.admitted_before_first_429,
            "source": first.source,
        }
    return {
        "unit": "requests per second (by send time)",
        "start_epoch": start,
        "first_request_offset": None
        if first_request is None or start is None
        else round(first_request - start, 3),
        "points": points,
        "refill_rate": refill,
        "refill_rate_origin": origin,
        "limit": oracle.advertised.limit,
        "first_429": first_429,
    }
