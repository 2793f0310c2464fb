"""The rate-limit model of Mattermost v3: GCRA as throttled v2 implements it.

One class serves three users: the reference server's limiter, the client's pacing
oracle, and the checks that compare what a server advertises with what it does.
Times are seconds (floats) from a monotonic clock; the wire values are derived here
so that every part of mmv3 agrees on the same rounding.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

LIMIT_HEADER = "X-Ratelimit-Limit"
REMAINING_HEADER = "X-Ratelimit-Remaining"
RESET_HEADER = "X-Ratelimit-Reset"
RETRY_AFTER_HEADER = "Retry-After"
DENIED_BODY = "limit exceeded\n"
DENIED_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Quota:
    """PerSec and MaxBurst as Mattermost's RateLimitSettings name them."""

    per_sec: float = 10.0
    max_burst: int = 100

    @property
    def interval(self) -> float:
        """Emission interval: the gap between requests at exactly the rate."""
        return 1.0 / self.per_sec

    @property
    def tolerance(self) -> float:
        """Delay variation tolerance: interval x (burst + 1), the bucket's size."""
        return self.interval * (self.max_burst + 1)

    @property
    def limit(self) -> int:
        """What X-Ratelimit-Limit carries: MaxBurst + 1."""
        return self.max_burst + 1

    @classmethod
    def parse(cls, text: str) -> Quota:
        """`"10/100"` -> Quota(10, 100); raises ValueError with a readable message."""
        try:
            rate, burst = text.split("/", 1)
            quota = cls(float(rate), int(burst))
        except ValueError:
            raise ValueError(f"rate limit must look like PERSEC/BURST (e.g. 10/100), got {text!r}") from None
        if quota.per_sec <= 0 or quota.max_burst < 0:
            raise ValueError(f"rate limit needs PERSEC > 0 and BURST >= 0, got {text!r}")
        return quota


@dataclass(frozen=True)
class Decision:
    """One request's verdict and the header values it produces."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until the next request is allowed; -1 when allowed

    def headers(self) -> dict[str, str]:
        """The X-Ratelimit-* triple (plus Retry-After on a denial), as real 4.9 spells them."""
        out = {
            LIMIT_HEADER: str(self.limit),
            REMAINING_HEADER: str(self.remaining),
            RESET_HEADER: str(math.ceil(self.reset_after)),
        }
        if not self.allowed:
            out[RETRY_AFTER_HEADER] = str(math.ceil(self.retry_after))
        return out


class HeldClock:
    """A monotonic clock that a test can hold still and move by hand (for the reference server's
    limiter): while held, no token comes back, however slow the machine is."""

    def __init__(self, source: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._offset = 0.0
        self._held_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._held_at if self._held_at is not None else self._source() + self._offset

    def hold(self) -> None:
        with self._lock:
            if self._held_at is None:
                self._held_at = self._source() + self._offset

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds` (while held: exactly; else on top of the real clock)."""
        with self._lock:
            if self._held_at is not None:
                self._held_at += seconds
            else:
                self._offset += seconds

    def release(self) -> None:
        """Let time run again from where it was held."""
        with self._lock:
            if self._held_at is not None:
                self._offset = self._held_at - self._source()
                self._held_at = None


class GCRA:
    """A keyed GCRA limiter with an LRU of theoretical arrival times (thread-safe)."""

    def __init__(
        self,
        quota: Quota,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10000,
    ) -> None:
        self.quota = quota
        self._clock = clock
        self._max_keys = max_keys
        self._tat: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str = "", now: float | None = None) -> Decision:
        """Spend one request for `key` and say whether it is allowed.

        In whole nanoseconds, as throttled's time.Duration arithmetic: with floats, a hundred
        intervals added up can overshoot the tolerance by a rounding error and refuse the
        bucket's last request when no time passes between requests.
        """
        q = self.quota
        interval = round(1e9 / q.per_sec)
        tolerance = interval * (q.max_burst + 1)
        with self._lock:
            now_ns = round((self._clock() if now is None else now) * 1e9)
            tat = self._tat.get(key, now_ns)
            new_tat = max(now_ns, tat) + interval
            diff = now_ns - (new_tat - tolerance)
            if diff < 0:
                return Decision(False, q.limit, 0, max(tat - now_ns, 0) / 1e9, -diff / 1e9)
            self._tat[key] = new_tat
            self._tat.move_to_end(key)
            while len(self._tat) > self._max_keys:
                self._tat.popitem(last=False)
        ttl = new_tat - now_ns
        spare = tolerance - ttl
        # Go truncates the division toward zero; // on non-negative ints does the same.
        remaining = spare // interval if spare > -interval else 0
        return Decision(True, q.limit, max(remaining, 0), ttl / 1e9, -1.0)

    def reset(self) -> None:
        with self._lock:
            self._tat.clear()


@dataclass(frozen=True)
class Observed:
    """The X-Ratelimit-* triple read from one response; None where absent or not an integer."""

    limit: int | None
    remaining: int | None
    reset: int | None
    retry_after: int | None

    @property
    def present(self) -> bool:
        return self.limit is not None and self.remaining is not None and self.reset is not None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Observed:
        def read(name: str) -> int | None:
            value = _header(headers, name)
            if value is None:
                return None
            try:
                return int(value.strip())
            except ValueError:
                return None

        return cls(read(LIMIT_HEADER), read(REMAINING_HEADER), read(RESET_HEADER), read(RETRY_AFTER_HEADER))

    def implied_quota(self) -> Quota | None:
        """The quota these headers advertise, when Reset lets the rate be worked out.

        With `spent = Limit - Remaining` requests in the bucket, a full refill takes
        about `spent x interval`, so `rate ~ spent / Reset`. Only an estimate: Reset is
        rounded up to whole seconds.
        """
        if not self.present or self.limit is None or self.limit < 1:
            return None
        spent = self.limit - (self.remaining or 0)
        if not self.reset or spent <= 0:
            return None
        return Quota(per_sec=spent / self.reset, max_burst=self.limit - 1)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def looks_like_epoch(reset: int | None) -> bool:
    """A Reset that is a Unix timestamp rather than a number of seconds."""
    return reset is not None and reset > 10**8
