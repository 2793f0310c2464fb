"""What one Locust process knows about the current mmv3 run (kept on the Environment)."""

from __future__ import annotations

import itertools
import logging
import socket
from typing import Any

import gevent.event
from mmv3.load.accounting import Accounting
from mmv3.load.arrivals import ArrivalSchedule
from mmv3.load.population import PoolAccount, Population
from mmv3.load.settings import Settings

logger = logging.getLogger("mmv3")


class RunState:
    def __init__(self, environment: Any, settings: Settings) -> None:
        self.environment = environment
        self.settings = settings
        self.host = socket.gethostname()
        self.accounting = Accounting(source=self.source_for(self.host))
        self.population: Population | None = None
        self.population_ready = gevent.event.Event()
        self.schedule: ArrivalSchedule | None = None
        self.budget: int | None = None  # requests this process may still send (None = no bound)
        self.run_number = 0
        self.started_at: float | None = None
        self.started_monotonic: float | None = None  # when the master's run began (workers.py)
        self.stopped_at: float | None = None
        self.finalized_run = 0
        self.retry_probe: dict[str, Any] | None = None
        self.embedded_server: Any = None
        self.last_report: dict[str, Any] | None = None
        self.failure: str | None = None  # why the run cannot go on (provisioning failed)
        self.provisioning = False  # the master is provisioning a run (in test_start)
        self.offered_total = 0  # requests reported by the workers (master)
        self.lateness_by_worker: dict[str, dict[str, float]] = {}
        self.distribution: list[dict[str, Any]] = []  # what each worker got (master)
        self.offered_by_worker: dict[str, int] = {}  # requests each worker reported (master)
        self.workers_in_run: set[str] = set()  # the workers that took part (master, workers.py)
        self.worker_problems: dict[str, str] = {}  # worker id -> what went wrong with it (master)
        self.watching_workers = False
        self.on_budget_spent: Any = None  # called once when `budget` reaches 0
        self.thresholds: Any = None
        self._accounts = itertools.count()

    def source_for(self, host: str) -> str:
        """The rate-limit bucket requests from `host` fall into (by client address, or one for all)."""
        return host if self.settings.bucket_by == "host" else "run"

    @property
    def is_worker(self) -> bool:
        return type(self.environment.runner).__name__ == "WorkerRunner"

    @property
    def is_master(self) -> bool:
        return type(self.environment.runner).__name__ == "MasterRunner"

    def spend(self) -> None:
        """One request of the run's request budget is used."""
        assert self.budget is not None
        self.budget -= 1
        if self.budget == 0 and self.on_budget_spent is not None:
            self.on_budget_spent()

    def next_account(self, timeout: float = 120.0) -> tuple[PoolAccount, dict[str, Any]] | None:
        """The next pool account (round robin: users may share one) and its team; None when the
        run cannot go on (provisioning failed)."""
        if not self.population_ready.wait(timeout):
            logger.error("the run's accounts were not provisioned within %.0f s", timeout)
            return None
        population = self.population
        if self.failure or population is None or not population.accounts:
            return None
        account = population.accounts[next(self._accounts) % len(population.accounts)]
        return account, population.teams[account.team]

    def new_run(self) -> None:
        self.run_number += 1
        self.accounting = Accounting(source=self.source_for(self.host))
        self.retry_probe = None
        self.last_report = None
        self.started_at = None
        self.failure = None
        self.offered_total = 0
        self.lateness_by_worker = {}
        self.distribution = []
        self.offered_by_worker = {}
        self.workers_in_run = set()
        self.worker_problems = {}
        self._accounts = itertools.count()


def current(environment: Any) -> RunState:
    state = getattr(environment, "mmv3", None)
    if state is None:
        raise RuntimeError("mmv3: the locustfile's init hook did not run (use loadtests/locustfile.py)")
    return state
