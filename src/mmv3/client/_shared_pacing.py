"""A pacer whose bucket mirror is shared by the processes of one machine (pytest-xdist workers).

Two processes that pace themselves each by their own mirror of one server bucket both see a spare
token and both spend it: one of them meets a 429. Here the mirror lives in a small file; a process
takes an exclusive lock on it when it asks for a slot, loads the mirror, and writes it back and
unlocks when the answer has been applied. While the server rate-limits, requests therefore go one
at a time across all processes -- the limit, not the client, bounds the pace then. Once the server
is known not to limit, slots are handed out without holding the lock.

Monotonic time is shared across processes on Linux and macOS (one system clock). Where `fcntl`
is missing (Windows) `share_for_target` keeps the per-process pacer.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

from mmv3.client._pacing import _REGISTRY, _REGISTRY_LOCK, Pacer, Ticket, _Sample, target_key
from mmv3.ratelimit import Observed

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# The part of a pacer's state that describes the server's bucket (not this process's requests).
_FIELDS = (
    "_limited", "_limit", "_level", "_level_at", "_full_at", "_blocked_until", "_retry_ready",
    "_next_seq", "_applied_seq", "_completed", "_stall_probe_at", "_reset_rate", "_window_rate",
)  # fmt: skip


def export_state(pacer: Pacer) -> dict[str, Any]:
    with pacer._cond:
        state = {name: getattr(pacer, name) for name in _FIELDS}
        state["_samples"] = [[s.seq, s.remaining, s.granted_at, s.ahead] for s in pacer._samples]
    return state


def write_state(pacer: Pacer, path: Path) -> None:
    """Seed a shared mirror with what `pacer` (e.g. the run's preflight) has learnt."""
    Path(path).write_text(json.dumps(export_state(pacer)), encoding="utf-8")


def read_state(pacer: Pacer, path: Path) -> None:
    """Bring a plain pacer up to date with a shared mirror (e.g. after the workers are done)."""
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return
    if state:
        _apply(pacer, state)


def _apply(pacer: Pacer, state: dict[str, Any]) -> None:
    with pacer._cond:
        for name in _FIELDS:
            setattr(pacer, name, state[name])
        pacer._samples = deque((_Sample(*s) for s in state["_samples"]), maxlen=pacer._samples.maxlen)


class ProcessSharedPacer(Pacer):
    def __init__(self, path: str | Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._path = Path(path)
        self._holder = threading.Lock()  # one thread of this process at a time holds the file lock
        self._fd: int | None = None
        self._holding: Ticket | None = None
        self._detached: set[int] = set()  # seqs of tickets out without the lock

    # -- the file --------------------------------------------------------------------
    def _lock(self) -> None:
        self._holder.acquire()
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._holder.release()
            raise
        self._fd = fd
        self._load()

    def _unlock(self, *, save: bool = True) -> None:
        fd, self._fd = self._fd, None
        try:
            if save and fd is not None:
                data = json.dumps(export_state(self)).encode()
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, data)
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            self._holder.release()

    def _load(self) -> None:
        assert self._fd is not None
        os.lseek(self._fd, 0, os.SEEK_SET)
        raw = b""
        while chunk := os.read(self._fd, 65536):
            raw += chunk
        if not raw:
            return  # the first process here: its own mirror starts the shared one
        _apply(self, json.loads(raw))

    # -- slots -----------------------------------------------------------------------
    def _locked(self, grant: Any) -> Ticket:
        self._lock()
        try:
            ticket = grant()
        except BaseException:
            self._unlock(save=False)
            raise
        if self._limited is False:
            self._unlock()  # no limit: nothing to coordinate while the request is out
        else:
            self._holding = ticket
        return ticket

    def acquire(self) -> Ticket:
        return self._locked(super().acquire)

    def track(self) -> Ticket:
        return self._locked(super().track)

    def try_acquire(self) -> Ticket | float:
        self._lock()
        try:
            result = super().try_acquire()
        except BaseException:
            self._unlock(save=False)
            raise
        if isinstance(result, Ticket) and self._limited is not False:
            self._holding = result
        else:
            self._unlock()
        return result

    def detach(self, ticket: Ticket) -> None:
        """Save the mirror (with this slot spent) and unlock while the request is out, so that a
        request held 20 s by the server does not hold every other process's requests 20 s too.
        Its answer is applied under the lock again, like any other (older answers than the newest
        applied one only count the slot free again)."""
        if self._holding is not ticket:
            return
        self._holding = None
        self._detached.add(ticket.seq)
        self._unlock()

    def release(
        self,
        ticket: Ticket,
        observed: Observed | None,
        *,
        answered: bool = True,
        throttled: bool = False,
    ) -> None:
        if ticket.seq in self._detached:
            self._detached.discard(ticket.seq)
            self._lock()
            self._holding = ticket
        holding = self._holding is ticket
        try:
            super().release(ticket, observed, answered=answered, throttled=throttled)
        finally:
            if holding:
                self._holding = None
                self._unlock()


def share_for_target(base_url: str, path: str | Path) -> Pacer:
    """Make the process-wide pacer of `base_url` one that shares its mirror through `path`."""
    if fcntl is None:
        return Pacer.for_target(base_url)
    key = target_key(base_url)
    with _REGISTRY_LOCK:
        current = _REGISTRY.get(key)
        if isinstance(current, ProcessSharedPacer) and current._path == Path(path):
            return current
        pacer = _REGISTRY[key] = ProcessSharedPacer(path)
        return pacer
