"""Pacers of several processes sharing one mirror of the server's bucket (pytest-xdist workers).

Two `ProcessSharedPacer`s on one file stand for two processes: each opens the file itself, so
the flock between them is as real as between processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

from mmv3.client import Pacer, ProcessSharedPacer, Ticket, read_state, write_state
from mmv3.ratelimit import Observed
from mmv3.server import running_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drained(remaining: int = 0) -> Observed:
    return Observed(limit=11, remaining=remaining, reset=1, retry_after=None)


def test_what_one_process_learns_holds_back_the_other(tmp_path):
    clock = Clock()
    path = tmp_path / "pacer"
    first, second = (ProcessSharedPacer(path, clock=clock) for _ in range(2))
    ticket = first.try_acquire()
    assert isinstance(ticket, Ticket)  # nothing known yet: one request goes first
    first.release(ticket, drained())
    # The second never saw an answer; with its own mirror it would send a probe now.
    assert not isinstance(second.try_acquire(), Ticket)
    assert not isinstance(Pacer(clock=clock).try_acquire(), float)  # (what an unshared one does)
    clock.now += 1.0  # the bucket has refilled
    ticket = second.try_acquire()
    assert isinstance(ticket, Ticket)
    second.release(ticket, drained(remaining=9))
    assert first.limit == 11


def test_a_preflight_pacer_seeds_the_shared_mirror_and_reads_it_back(tmp_path):
    clock = Clock()
    path = tmp_path / "pacer"
    preflight = Pacer(clock=clock)
    ticket = preflight.try_acquire()
    preflight.release(ticket, drained())
    write_state(preflight, path)
    worker = ProcessSharedPacer(path, clock=clock)
    assert not isinstance(worker.try_acquire(), Ticket)  # it knows the bucket is empty
    clock.now += 1.0
    ticket = worker.try_acquire()
    worker.release(ticket, drained(remaining=3))
    fresh = Pacer(clock=clock)
    read_state(fresh, path)
    assert fresh.limit == 11 and fresh.limited


def test_an_unlimited_server_is_not_serialised(tmp_path):
    pacer = ProcessSharedPacer(tmp_path / "pacer")
    ticket = pacer.acquire()
    pacer.release(ticket, Observed(None, None, None, None))
    assert pacer.limited is False
    # Two slots at once from one process: no lock is held while a request is out.
    one, two = pacer.acquire(), pacer.acquire()
    pacer.release(one, Observed(None, None, None, None))
    pacer.release(two, Observed(None, None, None, None))


def test_a_detached_slow_request_does_not_hold_the_other_process_back(tmp_path):
    """A route slow by design (20 s on real servers) is out without the lock: the other process's
    requests go on meanwhile, and its answer is applied when it comes."""
    clock = Clock()
    path = tmp_path / "pacer"
    first, second = (ProcessSharedPacer(path, clock=clock) for _ in range(2))
    probe = first.try_acquire()
    first.release(probe, drained(remaining=10))
    slow = first.try_acquire()
    assert isinstance(slow, Ticket)
    got: list = []
    blocked = threading.Thread(target=lambda: got.append(second.try_acquire()), daemon=True)
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "without detach the other process waits for the slow answer"
    first.detach(slow)
    blocked.join(2)
    assert not blocked.is_alive()
    (ticket,) = got
    assert isinstance(ticket, Ticket) and ticket.seq == slow.seq + 1  # the slow one's slot counts as spent
    second.release(ticket, drained(remaining=8))
    first.release(slow, drained(remaining=9))  # an older answer than the newest applied one
    assert first.limit == 11 and second.limit == 11


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from mmv3.client import Client, share_for_target
    url, path = sys.argv[1], sys.argv[2]
    share_for_target(url, path)
    client = Client(url)
    statuses = []
    for _ in range(4):
        time.sleep(0.3)  # the workload idles between bursts, as test runs do
        statuses += [client.get("general/ping", auth=False).status for _ in range(15)]
    print(json.dumps(statuses))
    """
)


def test_two_processes_pace_one_bucket_without_a_429(tmp_path):
    path = tmp_path / "pacer"
    with running_server(rate_limit="40/10") as server:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, server.url, str(path)], stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    statuses = [status for out in outputs for status in json.loads(out)]
    assert len(statuses) == 120 and set(statuses) == {200}, statuses
