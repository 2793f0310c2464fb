"""The 429 accounting of a load run: per second, what was offered, accepted and throttled, and
what the X-Ratelimit-* headers said about it.

Every request is filed under the second it was *sent* (epoch seconds, so that the workers of a
distributed run on one machine agree), which is also the time the rate-limit oracle replays
through its GCRA model. A worker drains its accounting into each report to the master, which
merges them; `source` names the rate-limit bucket the requests came from (one per client
address when the server keys by remote address).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmv3.ratelimit import DENIED_BODY, DENIED_CONTENT_TYPE, looks_like_epoch

# The Locust request type (the "Type" column) under which 429 answers are counted.
THROTTLED = "throttled"
# The Locust request type of a scenario's warm-up requests (a user's first login), answered but
# not judged by the latency thresholds; 429s among them are still "throttled".
WARMUP = "warmup"

# Event codes of the per-request log the oracle replays.
ACCEPTED, DENIED, UNANSWERED = 0, 1, 2

# Requests kept per source for the oracle (9 bytes each); beyond it only the per-second view grows.
MAX_EVENTS = 2_000_000

# Slack on the rate bounds the headers imply, so float rounding never reads as inconsistency.
_SLACK = 1e-6


def rounded_ms(ms: float) -> int:
    """Latency bucket as Locust rounds it: 2 significant digits above 100 ms."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return round(ms, -1)
    return round(ms, -2)


def percentile(histogram: Mapping[int, int], fraction: float) -> int | None:
    """The `fraction` percentile (0..1) of a rounded-ms histogram; None when empty."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = max(1, math.ceil(total * fraction))
    seen = 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= wanted:
            return ms
    return max(histogram)


def as_int(value: Any) -> int | None:
    """A header value as an integer; None when absent or not one."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclass
class Second:
    """One second of the run (by send time)."""

    offered: int = 0
    accepted: int = 0  # answered with anything but 429
    throttled: int = 0  # answered 429
    unanswered: int = 0  # connection error, timeout
    failed: int = 0  # accepted by the limiter but a failure (4xx/5xx other than 429)
    with_headers: int = 0
    remaining_min: int | None = None
    remaining_last: int | None = None  # of the last answer filed here
    reset_max: int | None = None
    limit: int | None = None
    latency: dict[int, int] = field(default_factory=dict)  # accepted answers: rounded ms -> count

    _FIELDS = ("offered", "accepted", "throttled", "unanswered", "failed", "with_headers")

    def merge(self, other: Second) -> None:
        for name in self._FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.remaining_min is not None:
            self.remaining_min = (
                other.remaining_min
                if self.remaining_min is None
                else min(self.remaining_min, other.remaining_min)
            )
        if other.remaining_last is not None:
            self.remaining_last = other.remaining_last
        if other.reset_max is not None:
            self.reset_max = (
                other.reset_max if self.reset_max is None else max(self.reset_max, other.reset_max)
            )
        if other.limit is not None:
            self.limit = other.limit
        for ms, count in other.latency.items():
            self.latency[ms] = self.latency.get(ms, 0) + count

    def to_row(self, second: int) -> list[Any]:
        counts = [getattr(self, name) for name in self._FIELDS]
        headers = [self.remaining_min, self.remaining_last, self.reset_max, self.limit]
        return [second, *counts, *headers, [[ms, n] for ms, n in self.latency.items()]]

    @classmethod
    def from_row(cls, row: list[Any]) -> tuple[int, Second]:
        second, *rest = row
        counts, headers, latency = rest[:6], rest[6:10], rest[10]
        out = cls(*counts, *headers)
        out.latency = {int(ms): int(n) for ms, n in latency}
        return int(second), out


@dataclass
class HeaderView:
    """What the rate-limit headers said over the run, as counters that merge by addition."""

    answered: int = 0
    with_headers: int = 0  # the whole X-Ratelimit-Limit/Remaining/Reset triple
    partial: int = 0  # some of the triple only
    limits: dict[int, int] = field(default_factory=dict)  # Limit value -> answers
    epoch_resets: int = 0  # Reset that is a Unix timestamp, not seconds
    # The refill rates (requests/s) every header so far is consistent with; low > high = inconsistent.
    rate_low: float = 0.0
    rate_high: float = math.inf
    rate_samples: int = 0
    throttled: int = 0
    throttled_with_headers: int = 0
    throttled_remaining_positive: int = 0  # a 429 whose Remaining says there was room
    throttled_without_retry_after: int = 0
    throttled_bad_retry_after: int = 0  # negative, or longer than the Reset of the same answer
    throttled_wrong_type: int = 0  # Content-Type other than text/plain; charset=utf-8
    throttled_wrong_body: int = 0  # body other than "limit exceeded\n"
    denial_types: dict[str, int] = field(default_factory=dict)
    retry_after_values: dict[int, int] = field(default_factory=dict)

    _COUNTERS = (
        "answered",
        "with_headers",
        "partial",
        "epoch_resets",
        "rate_samples",
        "throttled",
        "throttled_with_headers",
        "throttled_remaining_positive",
        "throttled_without_retry_after",
        "throttled_bad_retry_after",
        "throttled_wrong_type",
        "throttled_wrong_body",
    )

    def note_rate(self, spent: int, reset: int) -> None:
        """Narrow the rate range by one answer: `spent` = Limit - Remaining slots in use, and Reset
        = ceil(seconds until the bucket is full) = ceil((spent - f) / rate) for some f in [0, 1)."""
        if reset < 1 or spent < 1:
            return
        self.rate_samples += 1
        low = (spent - 1) / reset * (1 - _SLACK)
        high = spent / (reset - 1) * (1 + _SLACK) if reset > 1 else math.inf
        self.rate_low = max(self.rate_low, low)
        self.rate_high = min(self.rate_high, high)

    def merge(self, other: HeaderView) -> None:
        for name in self._COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rate_low = max(self.rate_low, other.rate_low)
        self.rate_high = min(self.rate_high, other.rate_high)
        for mine, theirs in (
            (self.limits, other.limits),
            (self.denial_types, other.denial_types),
            (self.retry_after_values, other.retry_after_values),
        ):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in self._COUNTERS}
        data["rate_low"] = self.rate_low
        data["rate_high"] = None if math.isinf(self.rate_high) else self.rate_high
        data["limits"] = [[k, v] for k, v in self.limits.items()]
        data["denial_types"] = [[k, v] for k, v in self.denial_types.items()]
        data["retry_after_values"] = [[k, v] for k, v in self.retry_after_values.items()]
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> HeaderView:
        out = cls(**{name: int(data.get(name, 0)) for name in cls._COUNTERS})
        out.rate_low = float(data.get("rate_low") or 0.0)
        high = data.get("rate_high")
        out.rate_high = math.inf if high is None else float(high)
        out.limits = {int(k): int(v) for k, v in data.get("limits", [])}
        out.denial_types = {str(k): int(v) for k, v in data.get("denial_types", [])}
        out.retry_after_values = {int(k): int(v) for k, v in data.get("retry_after_values", [])}
        return out


class EventLog:
    """Send time and outcome of every request of one source, in arrival order."""

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self.times = array("d")
        self.codes = array("b")
        self.max_events = max_events
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.times)

    def add(self, sent: float, code: int) -> None:
        if len(self.times) >= self.max_events:
            self.dropped += 1
            return
        self.times.append(sent)
        self.codes.append(code)

    def extend(self, times: Iterable[float], codes: Iterable[int], dropped: int = 0) -> None:
        for sent, code in zip(times, codes, strict=False):
            self.add(sent, code)
        self.dropped += dropped

    def sorted(self) -> tuple[list[float], list[int]]:
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        return [self.times[i] for i in order], [self.codes[i] for i in order]


class Accounting:
    """Everything a run's requests told about the rate limiter, mergeable across workers."""

    def __init__(self, source: str = "local", *, max_events: int = MAX_EVENTS) -> None:
        self.source = source
        self.max_events = max_events
        self.seconds: dict[int, Second] = {}
        self.headers = HeaderView()
        # name -> [offered, accepted, throttled, unanswered, failed]
        self.names: dict[str, list[int]] = {}
        self.logs: dict[str, EventLog] = {}
        # Warm-up requests: in every count above, but their latency is kept apart (not in `seconds`).
        self.warmup = Second()

    # -- recording -------------------------------------------------------------------------
    def record(
        self,
        *,
        sent: float,
        elapsed_ms: float,
        status: int,
        name: str = "",
        limit: int | None = None,
        remaining: int | None = None,
        reset: int | None = None,
        retry_after: int | None = None,
        content_type: str | None = None,
        body: bytes | None = None,
        failed: bool = False,
        warmup: bool = False,
    ) -> None:
        """File one finished request. `status` 0 = no answer; `failed` = a non-429 failure.
        `content_type` and `body` are looked at for 429s only. A `warmup` request counts like any
        other (it spends the rate-limit bucket), but its latency goes to `self.warmup` only."""
        key = int(sent)
        second = self.seconds.get(key)
        if second is None:
            second = self.seconds[key] = Second()
        second.offered += 1
        if warmup:
            self._warmup(elapsed_ms, status, failed)
        counts = self.names.get(name)
        if counts is None:
            counts = self.names[name] = [0, 0, 0, 0, 0]
        counts[0] += 1
        log = self.logs.get(self.source)
        if log is None:
            log = self.logs[self.source] = EventLog(self.max_events)
        if not status:
            second.unanswered += 1
            counts[3] += 1
            log.add(sent, UNANSWERED)
            return
        throttled = status == 429
        if throttled:
            second.throttled += 1
            counts[2] += 1
            log.add(sent, DENIED)
        else:
            second.accepted += 1
            counts[1] += 1
            log.add(sent, ACCEPTED)
            if not warmup:
                ms = rounded_ms(elapsed_ms)
                second.latency[ms] = second.latency.get(ms, 0) + 1
            if failed:
                second.failed += 1
                counts[4] += 1
        self._headers(second, throttled, limit, remaining, reset, retry_after, content_type, body)

    def _warmup(self, elapsed_ms: float, status: int, failed: bool) -> None:
        warm = self.warmup
        warm.offered += 1
        if not status:
            warm.unanswered += 1
        elif status == 429:
            warm.throttled += 1
        else:
            warm.accepted += 1
            warm.failed += int(failed)
            ms = rounded_ms(elapsed_ms)
            warm.latency[ms] = warm.latency.get(ms, 0) + 1

    def _headers(
        self,
        second: Second,
        throttled: bool,
        limit: int | None,
        remaining: int | None,
        reset: int | None,
        retry_after: int | None,
        content_type: str | None,
        body: bytes | None,
    ) -> None:
        view = self.headers
        view.answered += 1
        present = (limit is not None) + (remaining is not None) + (reset is not None)
        if present == 3:
            view.with_headers += 1
            second.with_headers += 1
            view.limits[limit] = view.limits.get(limit, 0) + 1  # type: ignore[index]
            second.limit = limit
            second.remaining_last = remaining
            if second.remaining_min is None or remaining < second.remaining_min:  # type: ignore[operator]
                second.remaining_min = remaining
            if looks_like_epoch(reset):
                view.epoch_resets += 1
            else:
                if second.reset_max is None or reset > second.reset_max:  # type: ignore[operator]
                    second.reset_max = reset
                spent = limit if throttled else limit - max(remaining, 0)  # type: ignore[operator]
                view.note_rate(spent, reset)  # type: ignore[arg-type]
        elif present:
            view.partial += 1
        if not throttled:
            return
        view.throttled += 1
        if present == 3:
            view.throttled_with_headers += 1
            if remaining > 0:  # type: ignore[operator]
                view.throttled_remaining_positive += 1
        if retry_after is None:
            view.throttled_without_retry_after += 1
        else:
            view.retry_after_values[retry_after] = view.retry_after_values.get(retry_after, 0) + 1
            longest = reset if reset is not None and not looks_like_epoch(reset) else None
            if retry_after < 0 or (longest is not None and retry_after > max(longest, 1)):
                view.throttled_bad_retry_after += 1
        kind = (content_type or "").strip()
        view.denial_types[kind] = view.denial_types.get(kind, 0) + 1
        if kind.lower().replace(" ", "") != DENIED_CONTENT_TYPE.replace(" ", ""):
            view.throttled_wrong_type += 1
        if body is not None and body != DENIED_BODY.encode():
            view.throttled_wrong_body += 1

    # -- moving between processes ------------------------------------------------------------
    def drain(self) -> dict[str, Any]:
        """Everything recorded since the last drain, as plain data (msgpack/JSON-safe); then empty."""
        data = {
            "seconds": [second.to_row(key) for key, second in self.seconds.items()],
            "headers": self.headers.to_data(),
            "names": [[name, *counts] for name, counts in self.names.items()],
            "logs": [
                [source, list(log.times), list(log.codes), log.dropped] for source, log in self.logs.items()
            ],
            "warmup": self.warmup.to_row(0),
        }
        self.seconds = {}
        self.headers = HeaderView()
        self.names = {}
        self.logs = {}
        self.warmup = Second()
        return data

    def merge(self, data: Mapping[str, Any], *, source: str | None = None) -> None:
        """Add a drained delta; `source` re-files its requests under another bucket name."""
        for row in data.get("seconds", []):
            key, second = Second.from_row(row)
            if key in self.seconds:
                self.seconds[key].merge(second)
            else:
                self.seconds[key] = second
        self.headers.merge(HeaderView.from_data(data.get("headers", {})))
        for name, *counts in data.get("names", []):
            mine = self.names.setdefault(name, [0, 0, 0, 0, 0])
            for i, count in enumerate(counts):
                mine[i] += int(count)
        for log_source, times, codes, dropped in data.get("logs", []):
            name = source or log_source
            log = self.logs.get(name)
            if log is None:
                log = self.logs[name] = EventLog(self.max_events)
            log.extend(times, codes, int(dropped))
        if data.get("warmup"):
            self.warmup.merge(Second.from_row(data["warmup"])[1])

    # -- views -----------------------------------------------------------------------------
    def totals(self) -> dict[str, Any]:
        keys = sorted(self.seconds)
        total = Second()
        for key in keys:
            total.merge(self.seconds[key])
        span = (keys[-1] - keys[0] + 1) if keys else 0
        return {
            "offered": total.offered,
            "accepted": total.accepted,
            "throttled": total.throttled,
            "unanswered": total.unanswered,
            "failed": total.failed,
            "seconds": span,
            "offered_rps": total.offered / span if span else 0.0,
            "accepted_rps": total.accepted / span if span else 0.0,
            "throttled_rps": total.throttled / span if span else 0.0,
            # latency of the accepted requests only: answered but not 429, warm-up excluded
            # (the thresholds' "Aggregated"); Locust's own Aggregated row times every request
            "p50_accepted_ms": percentile(total.latency, 0.50),
            "p95_accepted_ms": percentile(total.latency, 0.95),
            "p99_accepted_ms": percentile(total.latency, 0.99),
        }

    def timeline(self) -> list[dict[str, Any]]:
        """One row per second from the first request to the last (gaps filled with zeros)."""
        if not self.seconds:
            return []
        first, last = min(self.seconds), max(self.seconds)
        rows = []
        for key in range(first, last + 1):
            second = self.seconds.get(key) or Second()
            rows.append(
                {
                    "second": key,
                    "t": key - first,
                    "offered": second.offered,
                    "accepted": second.accepted,
                    "throttled": second.throttled,
                    "unanswered": second.unanswered,
                    "failed": second.failed,
                    "p50_ms": percentile(second.latency, 0.50),
                    "p95_ms": percentile(second.latency, 0.95),
                    "p99_ms": percentile(second.latency, 0.99),
                    "limit": second.limit,
                    "remaining_min": second.remaining_min,
                    "remaining_last": second.remaining_last,
                    "reset_max": second.reset_max,
                }
            )
        return rows

    def recent(self, now: float, window: int = 10) -> dict[str, float]:
        """Rates over the last `window` complete seconds before `now` (for the live view)."""
        end = int(now)
        keys = range(end - window, end)
        seconds = [self.seconds[k] for k in keys if k in self.seconds]
        return {
            "offered_rps": sum(s.offered for s in seconds) / window,
            "accepted_rps": sum(s.accepted for s in seconds) / window,
            "throttled_rps": sum(s.throttled for s in seconds) / window,
        }

    def warmup_totals(self) -> dict[str, Any]:
        """The warm-up requests: counts and latency (ms) of the answered ones but 429s."""
        warm = self.warmup
        return {
            "offered": warm.offered,
            "accepted": warm.accepted,
            "throttled": warm.throttled,
            "unanswered": warm.unanswered,
            "failed": warm.failed,
            "p50_ms": percentile(warm.latency, 0.50),
            "p95_ms": percentile(warm.latency, 0.95),
            "p99_ms": percentile(warm.latency, 0.99),
            "max_ms": max(warm.latency) if warm.latency else None,
        }

    def name_counts(self) -> dict[str, dict[str, int]]:
        fields = ("offered", "accepted", "throttled", "unanswered", "failed")
        return {name: dict(zip(fields, counts, strict=True)) for name, counts in sorted(self.names.items())}


def header_int(value: Any, pick: Any = min) -> int | None:
    """A rate-limit header as an integer; a header sent twice (two limiters) gives the `pick` of both."""
    if isinstance(value, (list, tuple)):
        numbers = [n for n in (as_int(v) for v in value) if n is not None]
        return pick(numbers) if numbers else None
    return as_int(value)
