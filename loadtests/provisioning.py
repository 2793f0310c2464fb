"""Provisioning at test_start, on the master (or the only process) only; each worker gets its
slice of the account pool, its share of the arrival rate and of the request budget by message.

The run starts with the server's rate-limit bucket full: after provisioning, the master waits
the Reset the last provisioning answer advertised, so that the oracle sees the whole burst.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import events
from mmv3.load.arrivals import ArrivalSchedule
from mmv3.load.population import Population, PopulationError, provision, read_pool_csv
from mmv3.load.settings import Settings, SettingsError
from mmv3.load.thresholds import ThresholdsError
from mmv3.load.vacuity import EXIT_PROVISIONING

import options
from state import RunState, current, logger

POPULATION_MESSAGE = "mmv3_population"
RATE_MESSAGE = "mmv3_rate"
# Arrival schedules start this long after provisioning: time for the users to spawn and log in
# (and for the workers to get their slice), so that the first slots are not missed.
SCHEDULE_LEAD = 1.0
EXIT_USAGE = 2  # a bad option in the web UI's form (as at start-up)


@events.init.add_listener
def register_messages(environment: Any, **_kwargs: Any) -> None:
    state = current(environment)
    if state.is_worker:
        environment.runner.register_message(POPULATION_MESSAGE, _receive_population)
        environment.runner.register_message(RATE_MESSAGE, _receive_rate)


def _receive_population(environment: Any, msg: Any, **_kwargs: Any) -> None:
    state = current(environment)
    data = msg.data
    state.new_run()
    state.population = Population.from_data(data["population"])
    state.budget = data.get("budget")
    state.schedule = None
    if data.get("arrival_rate"):
        state.schedule = ArrivalSchedule(
            data["arrival_rate"], start=data["start"], phase=data.get("phase", 0.0)
        )
    state.population_ready.set()


def _receive_rate(environment: Any, msg: Any, **_kwargs: Any) -> None:
    _apply_rate(current(environment), msg.data["rate"], msg.data.get("phase", 0.0))


def _apply_rate(state: RunState, rate: float, phase: float = 0.0) -> None:
    now = time.time()
    if state.schedule is None:
        state.schedule = ArrivalSchedule(rate, start=now, phase=phase)
    else:
        state.schedule.set_rate(rate, now)


def workers(environment: Any) -> list[Any]:
    return sorted(environment.runner.clients.values(), key=lambda node: node.id)


def set_arrival_rate(environment: Any, rate: float) -> None:
    """Change the run's total arrival rate (the StepShape's stages); workers get equal shares."""
    state = current(environment)
    if state.is_master:
        nodes = workers(environment)
        for index, node in enumerate(nodes):
            data = {"rate": rate / len(nodes), "phase": index / len(nodes)}
            environment.runner.send_message(RATE_MESSAGE, data, client_id=node.id)
    else:
        _apply_rate(state, rate)


@events.test_start.add_listener
def provision_run(environment: Any, **_kwargs: Any) -> None:
    state = current(environment)
    if state.is_worker:
        try:  # the master's options came with its spawn message
            state.settings = Settings.from_namespace(environment.parsed_options, worker=True)
        except SettingsError as exc:
            logger.error("%s", exc)
        return
    state.new_run()
    state.population_ready.clear()
    # Locust reports its runner as still "ready" (or "stopped") until test_start returns; the web
    # UI would show its start form again during provisioning (webui.py reports "spawning").
    state.provisioning = True
    try:
        _provision(environment, state)
    finally:
        state.provisioning = False


def _provision(environment: Any, state: RunState) -> None:
    try:  # the web UI's form may have changed the options since start-up
        state.settings, state.thresholds = options.load(environment.parsed_options)
    except (SettingsError, ThresholdsError) as exc:
        _abort(environment, state, str(exc), EXIT_USAGE)
        return
    settings = state.settings
    started = time.monotonic()
    try:
        pool = read_pool_csv(settings.pool_csv) if settings.pool_csv else None
        population = provision(
            environment.host,
            size=settings.pool_size,
            admin=settings.admin,
            pool=pool,
            extra_channels=settings.channels,
            seed=settings.seed,
            team=settings.team or None,
            log=logger.info,
        )
    except (PopulationError, ValueError) as exc:
        _abort(environment, state, f"provisioning failed: {exc}", EXIT_PROVISIONING)
        return
    logger.info(
        "provisioned %d account(s) in %d team(s) with %d requests in %.1f s (%.1f s waiting for a full bucket)",
        len(population.accounts),
        len(population.teams),
        population.requests,
        time.monotonic() - started,
        population.settle_seconds,
    )
    state.population = population
    rate = arrival_rate(environment, settings)
    if state.is_master:
        _distribute(environment, state, population, rate)
    else:
        state.budget = settings.max_requests or None
        state.schedule = ArrivalSchedule(rate, start=time.time() + SCHEDULE_LEAD) if rate else None
    state.started_at = time.time()
    state.population_ready.set()


def arrival_rate(environment: Any, settings: Settings) -> float:
    """The open-model rate the run starts with: --mmv3-arrival-rate, or the shape's first stage."""
    first_stage = getattr(environment.shape_class, "initial_arrival_rate", None)
    return first_stage(settings) if first_stage is not None else settings.arrival_rate


def _distribute(environment: Any, state: RunState, population: Population, rate: float) -> None:
    nodes = workers(environment)
    if not nodes:
        return
    settings = state.settings
    count = len(nodes)
    start = time.time() + SCHEDULE_LEAD
    state.distribution = []
    for index, node in enumerate(nodes):
        budget = None
        if settings.max_requests:
            budget = settings.max_requests // count + (1 if index < settings.max_requests % count else 0)
        data = {
            "population": population.slice(index, count).to_data(),
            "budget": budget,
            "arrival_rate": rate / count,
            "phase": index / count,
            "start": start,
        }
        environment.runner.send_message(POPULATION_MESSAGE, data, client_id=node.id)
        state.distribution.append(
            {
                "worker": node.id,
                "accounts": [a.username for a in population.slice(index, count).accounts],
                "arrival_rate": data["arrival_rate"],
                "budget": budget,
            }
        )


def _abort(environment: Any, state: RunState, message: str, code: int) -> None:
    logger.error("%s", message)
    state.failure = message
    state.population = None
    state.population_ready.set()
    environment.process_exit_code = code
    headless = bool(getattr(environment.parsed_options, "headless", False))
    gevent.spawn_later(0.1, environment.runner.quit if headless else environment.runner.stop)
