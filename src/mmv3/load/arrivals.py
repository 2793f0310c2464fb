"""Open-model arrivals: requests scheduled at fixed times, whatever the answers take.

`ArrivalSchedule` hands out send times t0 + k / rate, one per request, to whichever user asks
first. A user that gets a slot already in the past by more than `late_after` was not free when
the slot came up: the generator could not keep the rate (more users are needed). The latency
of a scheduled request is measured from its slot, not from when it was actually sent, so a
slow server cannot hide behind a generator that slowed down with it (coordinated omission).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Lateness:
    """How well the generator kept the schedule."""

    slots: int = 0
    late: int = 0  # slots taken more than `late_after` after their time
    max_lag: float = 0.0  # seconds
    total_lag: float = 0.0

    @property
    def late_ratio(self) -> float:
        return self.late / self.slots if self.slots else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "slots": self.slots,
            "late": self.late,
            "late_ratio": round(self.late_ratio, 4),
            "max_lag_s": round(self.max_lag, 4),
            "mean_lag_s": round(self.total_lag / self.slots, 4) if self.slots else 0.0,
        }

    def merge(self, other: dict[str, float]) -> None:
        self.slots += int(other.get("slots", 0))
        self.late += int(other.get("late", 0))
        self.max_lag = max(self.max_lag, float(other.get("max_lag_s", 0.0)))
        self.total_lag += float(other.get("mean_lag_s", 0.0)) * int(other.get("slots", 0))


class ArrivalSchedule:
    """Fixed send times at `rate` per second; `phase` (0..1) shifts them by a fraction of an
    interval, so that the schedules of several workers interleave instead of coinciding."""

    def __init__(
        self, rate: float, *, start: float, phase: float = 0.0, late_after: float | None = None
    ) -> None:
        self.lateness = Lateness()
        self._phase = phase % 1.0
        self._late_after = late_after
        self._warned_late = 0
        self.rate = 0.0
        self.set_rate(rate, start)

    @property
    def late_after(self) -> float:
        """A slot this far in the past when taken counts as late: 50 ms or two intervals."""
        if self._late_after is not None:
            return self._late_after
        return max(0.05, 2.0 / self.rate) if self.rate > 0 else 0.05

    def set_rate(self, rate: float, now: float) -> None:
        """Change the rate from `now` on (a rate of 0 pauses the schedule)."""
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"arrival rate must be a finite number >= 0, got {rate!r}")
        self.rate = rate
        self._start = now
        self._index = 0

    def next_slot(self, now: float) -> float | None:
        """The next send time (None while the rate is 0)."""
        if self.rate <= 0:
            return None
        slot = self._start + (self._index + self._phase) / self.rate
        self._index += 1
        lag = now - slot
        stats = self.lateness
        stats.slots += 1
        if lag > 0:
            stats.total_lag += lag
            stats.max_lag = max(stats.max_lag, lag)
            if lag > self.late_after:
                stats.late += 1
        return slot

    def warning(self) -> str | None:
        """A one-line warning when slots were missed since the last warning, else None."""
        late = self.lateness.late
        if late <= self._warned_late:
            return None
        new = late - self._warned_late
        self._warned_late = late
        return (
            f"the load generator cannot keep {self.rate:g} requests/s: {new} request(s) started more than "
            f"{self.late_after * 1000:.0f} ms after their scheduled time (max lag {self.lateness.max_lag:.2f} s); "
            "add users (-u) or workers"
        )
