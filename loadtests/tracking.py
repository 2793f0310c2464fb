"""Every response feeds the 429 accounting; workers ship theirs to the master with each stats
report; the request budget (--mmv3-max-requests) ends the run; late arrivals are warned about."""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import events
from mmv3.load.accounting import header_int
from mmv3.ratelimit import LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER, RETRY_AFTER_HEADER

from state import RunState, current, logger

REPORT_KEY = "mmv3"
LATENESS_KEY = "mmv3_lateness"
_WARN_EVERY = 5.0
_STOP_WAIT = 30.0  # longest wait for users to notice the spent budget

_state: RunState | None = None  # the request event carries no environment


@events.init.add_listener
def install(environment: Any, **_kwargs: Any) -> None:
    global _state
    _state = state = current(environment)
    state.on_budget_spent = lambda: gevent.spawn(_finish_when_users_stop, environment)
    if not state.is_master:
        gevent.spawn(_warn_when_late, state)


@events.request.add_listener
def account(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: Any = None,
    exception: Any = None,
    start_time: float | None = None,
    **_kwargs: Any,
) -> None:
    state = _state
    if state is None or (context and context.get("mmv3_untracked")):
        return
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None) if status else None
    if headers:
        limit = header_int(headers.get(LIMIT_HEADER), min)
        remaining = header_int(headers.get(REMAINING_HEADER), min)
        reset = header_int(headers.get(RESET_HEADER), max)
        retry_after = header_int(headers.get(RETRY_AFTER_HEADER), max)
    else:
        limit = remaining = reset = retry_after = None
    denied = status == 429
    state.accounting.record(
        sent=start_time or time.time(),
        elapsed_ms=response_time or 0.0,
        status=status,
        name=name,
        limit=limit,
        remaining=remaining,
        reset=reset,
        retry_after=retry_after,
        content_type=headers.get("Content-Type") if denied and headers else None,
        body=response.content if denied else None,
        failed=exception is not None and not denied,
        warmup=bool(context and context.get("mmv3_warmup")),
    )


@events.report_to_master.add_listener
def ship(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    state = _state
    if state is None:
        return
    data[REPORT_KEY] = state.accounting.drain()
    if state.schedule is not None:
        data[LATENESS_KEY] = state.schedule.lateness.to_dict()


@events.worker_report.add_listener
def receive(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    state = _state
    if state is None or REPORT_KEY not in data:
        return
    delta = data[REPORT_KEY]
    host = client_id.rsplit("_", 1)[0]  # Locust's worker ids are <hostname>_<uuid>
    state.accounting.merge(delta, source=state.source_for(host))
    if LATENESS_KEY in data:
        state.lateness_by_worker[client_id] = data[LATENESS_KEY]
    offered = sum(int(row[1]) for row in delta.get("seconds", []))
    state.offered_total += offered
    state.offered_by_worker[client_id] = state.offered_by_worker.get(client_id, 0) + offered
    limit = state.settings.max_requests
    if (
        limit
        and state.offered_total >= limit
        and state.environment.runner.state not in ("stopping", "stopped")
    ):
        gevent.spawn(finish, state.environment, "--mmv3-max-requests reached")


def finish(environment: Any, reason: str) -> None:
    """End the run as --run-time would: quit when headless, stop when the web UI drives it."""
    runner = environment.runner
    if type(runner).__name__ == "WorkerRunner":
        return  # each worker stops its own users on its budget; the master ends the run
    if runner.state in ("stopping", "stopped", "cleanup"):
        return
    logger.info("%s, stopping the run", reason)
    if getattr(environment.parsed_options, "headless", False):
        runner.quit()
    else:
        runner.stop()


def _finish_when_users_stop(environment: Any) -> None:
    """The budget is spent: each user stops at its next request (the ones in flight complete and
    are counted), then the run ends."""
    runner = environment.runner
    deadline = time.monotonic() + _STOP_WAIT
    while runner.user_count and time.monotonic() < deadline:
        gevent.sleep(0.1)
    finish(environment, "--mmv3-max-requests reached")


def _warn_when_late(state: RunState) -> None:
    while True:
        gevent.sleep(_WARN_EVERY)
        schedule = state.schedule
        if schedule is not None:
            message = schedule.warning()
            if message:
                logger.warning("%s", message)
