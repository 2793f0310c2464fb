"""Client-side pacing: stay under the rate limit a server advertises, across threads.

The pacer mirrors the server's bucket from the X-Ratelimit-* headers. Every request
reserves a slot *before* it is sent (so concurrent threads cannot all see the same spare
token), every answer re-synchronises the mirror with what the server says is left, and
waiting happens on a condition variable until the mirror has a token to spare.

Terms: the *level* is the number of requests the server would still accept right now,
minus the requests this pacer has let go that the server may not have counted yet. It is
kept as a lower bound of the truth, so that errors cost throughput, never a 429.

The refill rate is learnt as a lower bound too: from Reset (seconds until the bucket is
full, rounded up) against the slots in use, and from how Remaining recovers between
answers. A server with MaxBurst 0 (Limit 1) reveals no rate at all -- Remaining is always
0 -- so there the pacer can only wait for Reset, about one request per second.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from mmv3.ratelimit import Observed, Quota, looks_like_epoch

# Window estimates of the refill rate are lower bounds already; this covers what the
# bound's assumptions (same clock speed, no reordering beyond the observed peak) may miss.
_RATE_SAFETY = 0.97
# With nothing learnt and nothing in flight, let one request through after this pause.
_STALL_PROBE_SECONDS = 1.0
# A computed wait is never shorter than this, so float rounding cannot make a spin loop.
_MIN_WAIT = 0.0005

_REGISTRY: dict[str, Pacer] = {}
_REGISTRY_LOCK = threading.Lock()


def target_key(base_url: str) -> str:
    """One server = one scheme://host:port; Mattermost limits the whole server, not a path."""
    parts = urlsplit(base_url)
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{host}:{port}"


@dataclass
class PacerStats:
    """Counters for reports: how much pacing cost and whether it worked."""

    granted: int = 0  # slots handed out (paced and unpaced)
    waits: int = 0  # paced requests that had to wait
    waited_seconds: float = 0.0
    throttled: int = 0  # 429 answers seen, paced or not
    failed: int = 0  # exchanges that got no answer


@dataclass(eq=False)
class Ticket:
    """A reserved slot; hand it back to `Pacer.release` with what the answer said."""

    seq: int
    granted_at: float
    completed_before: int
    probe: bool = False


@dataclass(frozen=True)
class _Sample:
    seq: int
    remaining: int
    granted_at: float
    ahead: int  # requests granted while this one was in flight: the server may have counted them first


class Pacer:
    """Keeps one client (or many threads and clients sharing it) under a server's rate limit.

    `clock` is injectable so the bookkeeping can be tested without waiting; the blocking
    `acquire` then still waits on a real condition variable, so tests with a fake clock
    use the non-blocking `try_acquire`.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        margin: int | None = None,
        history: int = 32,
    ) -> None:
        if margin is not None and margin < 0:
            raise ValueError(f"pacer margin must be >= 0, got {margin}")
        self._clock = clock
        self._margin_setting = margin
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._limited: bool | None = None  # None until the first answer says
        self._limit = 0
        self._level = 0.0
        self._level_at = 0.0
        self._full_at: float | None = None
        self._blocked_until = 0.0
        self._outstanding = 0
        self._retry_ready = False  # Retry-After promised a slot once it has passed
        self._next_seq = 0
        self._applied_seq = -1
        self._completed = 0
        self._probe_out = False
        self._stall_probe_at: float | None = None
        self._reset_rate = 0.0
        self._window_rate = 0.0
        self._samples: deque[_Sample] = deque(maxlen=history)
        self.stats = PacerStats()

    # -- shared instances ------------------------------------------------------------
    @classmethod
    def for_target(cls, base_url: str) -> Pacer:
        """The process-wide pacer of one server: every client of that server shares it."""
        key = target_key(base_url)
        with _REGISTRY_LOCK:
            pacer = _REGISTRY.get(key)
            if pacer is None:
                pacer = _REGISTRY[key] = cls()
            return pacer

    # -- what has been learnt --------------------------------------------------------
    @property
    def limited(self) -> bool | None:
        """True once rate-limit headers were seen, False if answers carry none, None before."""
        return self._limited

    @property
    def limit(self) -> int | None:
        return self._limit if self._limited else None

    @property
    def rate(self) -> float:
        """A lower bound of the server's refill rate (requests/s); 0 while unknown."""
        with self._cond:
            return self._rate()

    @property
    def quota(self) -> Quota | None:
        """The quota as learnt so far (burst exact, rate a conservative estimate)."""
        with self._cond:
            rate = self._rate()
            if not self._limited or rate <= 0:
                return None
            return Quota(per_sec=rate, max_burst=self._limit - 1)

    @property
    def margin(self) -> int:
        with self._cond:
            return self._margin()

    # -- reserving slots -------------------------------------------------------------
    def acquire(self) -> Ticket:
        """Block until a request may be sent without exceeding the limit; reserve it."""
        with self._cond:
            if self._limited is False and not self._queue:
                return self._grant(self._clock())
            me = object()
            self._queue.append(me)
            started: float | None = None
            try:
                while True:
                    if self._queue[0] is not me:
                        self._cond.wait()
                        continue
                    now = self._clock()
                    result = self._try_grant(now)
                    if isinstance(result, Ticket):
                        if started is not None:
                            self.stats.waits += 1
                            self.stats.waited_seconds += now - started
                        return result
                    if started is None:
                        started = now
                    self._cond.wait(None if math.isinf(result) else result)
            finally:
                self._queue.remove(me)
                self._cond.notify_all()

    def try_acquire(self) -> Ticket | float:
        """A slot now, or the seconds to wait before asking again (inf: until an answer)."""
        with self._cond:
            if self._queue:
                return math.inf
            return self._try_grant(self._clock())

    def track(self) -> Ticket:
        """A slot for a request sent regardless of the limit (pacing off): it still counts."""
        with self._cond:
            return self._grant(self._clock())

    def detach(self, ticket: Ticket) -> None:
        """`ticket`'s request may be out for long (a route slow by design): other requests need
        not wait for its answer. A no-op here (threads of one process never wait for answers);
        the process-shared pacer lets go of its lock until the answer comes."""

    def release(
        self,
        ticket: Ticket,
        observed: Observed | None,
        *,
        answered: bool = True,
        throttled: bool = False,
    ) -> None:
        """Return a slot with what its answer said (`answered=False`: no answer came)."""
        with self._cond:
            now = self._clock()
            self._outstanding -= 1
            self._completed += 1
            if ticket.probe:
                self._probe_out = False
            if throttled:
                self.stats.throttled += 1
            if not answered:
                # The server may or may not have counted it: keep the slot spent.
                self.stats.failed += 1
                self._samples.clear()
            elif observed is None or not observed.present:
                if self._limited is None:
                    self._limited = False
            else:
                self._observe(ticket, observed, now, throttled)
            self._cond.notify_all()

    # -- bookkeeping (all under self._cond) -------------------------------------------
    def _rate(self) -> float:
        return max(self._reset_rate, self._window_rate)

    def _margin(self) -> int:
        wanted = self._margin_setting
        if wanted is None:
            wanted = 1 + math.ceil(0.02 * self._limit)
        # Never more than half the bucket: a margin that fills it leaves nothing to measure.
        return max(0, min(wanted, (self._limit - 1) // 2))

    def _level_now(self, now: float) -> float:
        level = self._level + self._rate() * max(0.0, now - self._level_at)
        ceiling = self._limit - self._outstanding
        if self._full_at is not None and now >= self._full_at:
            level = max(level, ceiling)
        return min(level, ceiling)

    def _grant(self, now: float, level: float | None = None, *, probe: bool = False) -> Ticket:
        if self._limited:
            self._level = (self._level_now(now) if level is None else level) - 1
            self._level_at = now
            self._full_at = None
        ticket = Ticket(self._next_seq, now, self._completed, probe)
        self._next_seq += 1
        self._outstanding += 1
        self.stats.granted += 1
        return ticket

    def _try_grant(self, now: float) -> Ticket | float:
        if self._limited is False:
            return self._grant(now)
        if self._limited is None:
            # Nothing known yet: one request goes first and its answer tells the limit.
            if self._probe_out:
                return math.inf
            self._probe_out = True
            return self._grant(now, probe=True)
        if now < self._blocked_until:
            return max(self._blocked_until - now, _MIN_WAIT)
        if self._retry_ready and not self._outstanding:
            # Retry-After is the time until the server accepts a request again.
            self._retry_ready = False
            return self._grant(now, max(self._level_now(now), 1.0))
        # The margin absorbs concurrent requests reaching the server bunched or reordered;
        # a request sent alone needs only the one token the (lower-bound) level promises.
        needed = 1 + self._margin() if self._outstanding else 1
        if self._limit - self._outstanding < needed:
            return math.inf  # too many in flight; an answer frees one
        level = self._level_now(now)
        if level >= needed:
            self._stall_probe_at = None
            return self._grant(now, level)
        waits = []
        rate = self._rate()
        if rate > 0:
            waits.append((needed - level) / rate)
        if self._full_at is not None:
            waits.append(self._full_at - now)
        if waits:
            return max(min(waits), _MIN_WAIT)
        if self._outstanding:
            return math.inf
        # No rate learnt, no refill time known, nothing in flight: ask the server again.
        if self._stall_probe_at is None:
            self._stall_probe_at = now + _STALL_PROBE_SECONDS
        if now >= self._stall_probe_at:
            self._stall_probe_at = None
            return self._grant(now, level)
        return self._stall_probe_at - now

    def _observe(self, ticket: Ticket, observed: Observed, now: float, throttled: bool) -> None:
        limit, remaining, reset = observed.limit or 0, max(observed.remaining or 0, 0), observed.reset
        if limit < 1:
            return
        self._limited = True
        self._limit = limit
        if reset is not None and looks_like_epoch(reset):
            reset = None  # a broken server's epoch timestamp says nothing about refill
        if throttled:
            retry = observed.retry_after
            if retry is None or retry < 0 or looks_like_epoch(retry):
                retry = 1
            self._blocked_until = max(self._blocked_until, now + retry)
            self._retry_ready = True
            # A 429 means the picture was wrong (other traffic, a changed quota): relearn.
            self._samples.clear()
            self._window_rate = 0.0
            self._reset_rate = 0.0
        if ticket.seq < self._applied_seq:
            return  # a later request's answer already told us more
        self._applied_seq = ticket.seq

        # Requests still in flight may not be counted in `remaining` yet. So may those whose
        # answers came back while this one was in flight (the server may have counted them
        # after this one); the mirror as it stands is another lower bound that covers them.
        overlapping = self._completed - 1 - ticket.completed_before
        fresh = remaining - self._outstanding
        if overlapping:
            fresh = max(fresh - overlapping, min(fresh, self._level_now(now)))
        self._level = fresh
        self._level_at = now
        later_grants = self._next_seq - 1 - ticket.seq
        self._full_at = now + reset if reset is not None and later_grants == 0 and not throttled else None

        # Rate, bound 1: with `spent` slots in use the bucket needs more than (spent-1)
        # intervals to refill, and Reset is that time rounded up.
        spent = limit - remaining
        if reset and reset >= 1 and spent >= 2:
            self._reset_rate = max(self._reset_rate, (spent - 1) / reset)
        if throttled:
            return
        # Rate, bound 2: between answers a and b the server refilled at least
        # (remaining_b - remaining_a - 1) + (requests granted in between), less the requests
        # it may have counted out of order at either end, within (answer_b - grant_a) seconds.
        behind = self._outstanding + overlapping
        best = 0.0
        for a in self._samples:
            gained = remaining - a.remaining - 1 + (ticket.seq - a.seq) - behind - a.ahead
            span = now - a.granted_at
            if gained > 0 and span > 0:
                best = max(best, gained / span)
        self._samples.append(_Sample(ticket.seq, remaining, ticket.granted_at, later_grants))
        if best:
            self._window_rate = max(self._window_rate, best * _RATE_SAFETY)
