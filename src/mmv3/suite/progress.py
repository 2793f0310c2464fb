"""Progress of a conformance run: checks and families done, verdicts so far, requests sent, and the
time left -- by the pace so far, and the floor that the target's rate limit sets on it.

The controlling process counts (under xdist every worker's test reports reach it, each carrying
what its worker has sent so far, see `REQUESTS_ATTRIBUTE`). It prints a line every N seconds
(`--mm-progress`) and, for `mmv3 check`, keeps a small JSON state file that the command renders
on its console (`Console`: a refreshing line on a terminal, a line every N seconds otherwise).
No URL, login or secret is part of the line: only counts and times.

This module imports neither pytest nor the client: `mmv3 check` reads the state file with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

PREFIX = "mmv3 progress:"
# A test report attribute set in each process: {"process": id, "paced": n, "raw": n, "rate": r}.
# pytest keeps extra report attributes when xdist ships a report to the controller.
REQUESTS_ATTRIBUTE = "mmv3_requests"
DEFAULT_INTERVAL = 15.0
MIN_DONE_FOR_ESTIMATE = 10  # checks (or 1% of them) before the time left is estimated
_FAMILY = re.compile(r"(?:^|/)test_(\w+)\.py::")


def family_of(nodeid: str) -> str:
    found = _FAMILY.search(nodeid)
    return found.group(1) if found else "?"


def clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


class Progress:
    """The counts of one run, fed with the run's test reports (controller side)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self._clock, self._wall = clock, wall
        self.started = clock()
        self.total: Counter[str] = Counter()  # checks per family
        self.done: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # passed, failed, skipped, known (deviations)
        self._finished: set[str] = set()
        self._expected: set[str] = set()
        self._requests: dict[str, dict[str, float]] = {}  # per process: what it sent so far
        self._baseline = 0  # paced requests sent before the first check (preflight, provisioning)
        self.rate = 0.0  # the target's refill rate (req/s), 0 when unknown or not limited

    # -- input ---------------------------------------------------------------------------
    def expect(self, nodeids: Iterable[str]) -> None:
        """The checks of the run (called again under xdist with each worker's same list)."""
        for nodeid in nodeids:
            if nodeid not in self._expected:
                self._expected.add(nodeid)
                self.total[family_of(nodeid)] += 1

    def start(self, process: str, paced: int, raw: int, rate: float) -> None:
        """What the controller sent before the first check; the clock starts here."""
        self.started = self._clock()
        self._baseline = paced
        self.requests(process, paced, raw, rate)

    def requests(self, process: str, paced: int, raw: int, rate: float = 0.0) -> None:
        self._requests[process] = {"paced": paced, "raw": raw}
        if rate > 0:
            self.rate = max(self.rate, rate)

    def add(self, nodeid: str, when: str, outcome: str, xfailed: bool = False) -> bool:
        """One test report; True when it finished a check."""
        if nodeid in self._finished:
            return False
        if when == "call" or (when == "setup" and outcome != "passed"):
            self._finished.add(nodeid)
            self.done[family_of(nodeid)] += 1
            verdict = "known" if xfailed else outcome
            self.outcomes[verdict] += 1
            return True
        return False

    # -- output --------------------------------------------------------------------------
    @property
    def sent(self) -> int:
        return int(sum(r["paced"] + r["raw"] for r in self._requests.values()))

    def state(self) -> dict[str, Any]:
        """The numbers, with the estimates as wall-clock deadlines (so that a reader can count
        them down between two updates)."""
        now, wall = self._clock(), self._wall()
        elapsed = now - self.started
        total, done = sum(self.total.values()), sum(self.done.values())
        families = [f for f, n in self.total.items() if n]
        finished = [f for f in families if self.done[f] >= self.total[f]]
        left = estimate = floor = None
        if max(MIN_DONE_FOR_ESTIMATE, total // 100) <= done < total:
            left = elapsed / done * (total - done)
            estimate = wall + left
            if self.rate > 0:
                floor = wall + self._requests_left() / self.rate
        return {
            "started": wall - elapsed,
            "checks_done": done,
            "checks": total,
            "families_done": len(finished),
            "families": len(families),
            "passed": self.outcomes["passed"],
            "failed": self.outcomes["failed"],
            "skipped": self.outcomes["skipped"],
            "known": self.outcomes["known"],
            "requests": self.sent,
            "rate": round(self.rate, 2),
            "estimate_end": estimate,
            "floor_end": floor,
            "finished": total > 0 and done >= total,
        }

    def _requests_left(self) -> float:
        """Paced requests still to send, by the paced requests per (paced) check so far; the
        rate-limit checks spend a bucket of their own and are not counted."""
        paced = sum(r["paced"] for r in self._requests.values()) - self._baseline
        done = sum(n for f, n in self.done.items() if f != "ratelimit")
        left = sum(self.total[f] - self.done[f] for f in self.total if f != "ratelimit")
        return max(0.0, paced / done * left) if done else 0.0

    def line(self) -> str:
        return render(self.state(), self._wall())


def render(state: dict[str, Any], now: float, compact: bool = False) -> str:
    """`mmv3 progress: 1234/2649 checks, 2/7 families done; ...` from a state (`compact`: the
    same figures in fewer words, for a narrow terminal)."""
    done, total = state["checks_done"], state["checks"]
    if compact:
        text = (
            f"{PREFIX} {done}/{total}, families {state['families_done']}/{state['families']}, "
            f"{state['passed']} ok {state['failed']} failed {state['skipped']} skipped, "
            f"{state['requests']} req, {clock_text(now - state['started'])}"
        )
        if state.get("estimate_end") and not state.get("finished"):
            text += f", ~{clock_text(state['estimate_end'] - now)} left"
            if state.get("floor_end"):
                text += f" (floor {clock_text(state['floor_end'] - now)})"
        return text
    percent = f" ({100 * done // total}%)" if total else ""
    verdicts = f"{state['passed']} passed, {state['failed']} failed, {state['skipped']} skipped"
    if state.get("known"):
        verdicts += f", {state['known']} known deviations"
    parts = [
        f"{PREFIX} {done}/{total} checks{percent}, {state['families_done']}/{state['families']} families done",
        verdicts,
        f"{state['requests']} requests sent",
    ]
    timing = f"{clock_text(now - state['started'])} elapsed"
    if state.get("finished"):
        timing += ", done"
    elif state.get("estimate_end"):
        timing += f", about {clock_text(state['estimate_end'] - now)} left"
        if state.get("floor_end"):
            timing += (
                f" (rate-limit floor {clock_text(state['floor_end'] - now)} at {_rate(state['rate'])} req/s)"
            )
    parts.append(timing)
    return "; ".join(parts)


def _rate(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"


def write_state(path: Path, state: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with contextlib.suppress(OSError):
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, path)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "checks" in state else None


class Console:
    """`mmv3 check`'s display of the state file: on a terminal one line rewritten in place
    (`tick` as often as wanted), elsewhere one line every `interval` seconds."""

    def __init__(
        self,
        state_file: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.state_file = state_file
        self.interval = interval
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._clock, self._wall = clock, wall
        self._last: float | None = None
        self._shown = ""

    def tick(self) -> None:
        state = read_state(self.state_file)
        if state is None:
            return
        line = render(state, self._wall())
        if self.tty:
            width = 0
            with contextlib.suppress(OSError, ValueError, AttributeError):
                width = os.get_terminal_size(self.stream.fileno()).columns
            width = width or 160  # a terminal that does not say
            if len(line) >= width:
                line = render(state, self._wall(), compact=True)
            self.stream.write("\r" + line[: max(20, width - 1)] + "\x1b[K")
            self.stream.flush()
            self._shown = line
            return
        now = self._clock()
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Take the refreshing line off the screen (the summary follows)."""
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = ""
