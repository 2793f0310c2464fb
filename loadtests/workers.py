"""The master's watch over its workers, so that a distributed run that lost them cannot pass.

- A headless master waits for `--expect-workers` a bounded time (`--expect-workers-max-wait`,
  else `DEFAULT_WAIT`); short of them it says so in one line and exits 11 before anything runs.
- During a run, every worker that took part is watched: one that goes missing (no heartbeat) or
  quits before the run ends, or fewer workers than `--expect-workers`, is a problem of the run
  (reporting.py turns them into one line each and exit 11).
- A headless run whose last worker is gone ends at once instead of idling until --run-time.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import gevent
from locust import events
from mmv3.load.vacuity import EXIT_WORKERS, KINDS

from state import RunState, current, logger

DEFAULT_WAIT = 60.0  # seconds a headless master waits for --expect-workers when no bound is given
_POLL = 0.5


def _headless(environment: Any) -> bool:
    return bool(getattr(environment.parsed_options, "headless", False))


def _expected(environment: Any) -> int:
    return int(getattr(environment.parsed_options, "expect_workers", 1) or 1)


@events.init.add_listener
def wait_for_workers(environment: Any, **_kwargs: Any) -> None:
    """Locust's own wait has no bound unless asked, and gives up with its exit 1: mmv3 bounds it
    and gives up with its own line and code. Afterwards Locust's wait finds them all ready."""
    state = current(environment)
    if not state.is_master or not _headless(environment):
        return
    options = environment.parsed_options
    expected = _expected(environment)
    given = float(getattr(options, "expect_workers_max_wait", 0) or 0)
    bound = given or DEFAULT_WAIT
    runner = environment.runner
    deadline = time.monotonic() + bound
    while len(runner.clients.ready) < expected:
        if time.monotonic() >= deadline:
            how = (
                "--expect-workers-max-wait" if given else "mmv3's default wait; see --expect-workers-max-wait"
            )
            sys.stderr.write(
                f"mmv3 {KINDS[EXIT_WORKERS]}: {len(runner.clients.ready)} of {expected} worker(s) connected "
                f"within {bound:g} s ({how}); nothing was run\n"
            )
            sys.stderr.flush()
            runner.quit()
            sys.exit(EXIT_WORKERS)
        gevent.sleep(0.2)


@events.test_start.add_listener
def watch_workers(environment: Any, **_kwargs: Any) -> None:
    state = current(environment)
    if not state.is_master:
        return
    state.workers_in_run = set(environment.runner.clients)
    state.watching_workers = True
    state.started_monotonic = time.monotonic()
    gevent.spawn(_watch, environment, state, state.run_number)


@events.worker_connect.add_listener
def note_late_worker(client_id: str, **_kwargs: Any) -> None:
    """A worker that joins a running run takes part from then on (Locust rebalances the users)."""
    for state in _WATCHED:
        if state.watching_workers:
            state.workers_in_run.add(client_id)


_WATCHED: list[RunState] = []  # the worker_connect event carries no environment


@events.init.add_listener
def remember(environment: Any, **_kwargs: Any) -> None:
    state = current(environment)
    if state.is_master:
        _WATCHED.append(state)


@events.test_stopping.add_listener
def last_look(environment: Any, **_kwargs: Any) -> None:
    """The run ends: a last look (a worker that is gone now left before the end), then no more:
    the workers that leave from here on were told to. (Also called when the report is written,
    for a run that ended without test_stopping.)"""
    state = current(environment)
    if state.is_master and state.watching_workers:
        check(environment, state, final=True)
        state.watching_workers = False
        if state.worker_problems and environment.runner.worker_count <= 0:
            # Locust stops a run whose last worker went missing, but a headless one then idles
            # until --run-time: end it now (from a greenlet of its own, this is inside stop()).
            gevent.spawn(_end_run, environment)


def check(environment: Any, state: RunState, final: bool = False) -> None:
    """Note every worker of the run that is missing or gone, and a run short of workers."""
    runner = environment.runner
    into = time.monotonic() - (state.started_monotonic or time.monotonic())
    for worker in sorted(state.workers_in_run):
        if worker in state.worker_problems:
            continue
        node = runner.clients.get(worker)
        if node is None:
            state.worker_problems[worker] = f"worker {worker} quit {into:.0f} s into the run, before it ended"
        elif node.state == "missing":
            state.worker_problems[worker] = (
                f"worker {worker} went missing (no heartbeat) {into:.0f} s into the run"
            )
    expected = _expected(environment)
    if final and len(state.workers_in_run) < expected and "" not in state.worker_problems:
        state.worker_problems[""] = (
            f"{len(state.workers_in_run)} worker(s) took part in the run, --expect-workers {expected}"
        )


def _watch(environment: Any, state: RunState, run: int) -> None:
    """Between test_start and test_stopping (Locust fires neither when a worker goes missing
    while the master provisions)."""
    runner = environment.runner
    while state.watching_workers and state.run_number == run:
        gevent.sleep(_POLL)
        if not state.watching_workers:
            return
        check(environment, state)
        if state.worker_problems and runner.worker_count <= 0:
            state.watching_workers = False
            _end_run(environment)
            return


def _end_run(environment: Any) -> None:
    logger.error("no worker is left, ending the run")
    if _headless(environment):
        environment.runner.quit()
    else:
        environment.runner.stop()
