"""Load shapes for the rate-limit study.

StepShape steps the *offered rate* (open model, see --mmv3-arrival-rate) through stages that
are multiples of a base rate, by default the rate the server should enforce: below it, at it,
above it (--mmv3-steps "0.5x10,1x10,2x20": half the rate for 10 s, the rate for 10 s, twice
the rate for 20 s; --mmv3-step-rate or --mmv3-expect sets the base). Stages are timed from the
end of provisioning; users are kept at enough concurrency for the stage's rate.

Use it by adding this file to the locustfiles: `locust -f loadtests/locustfile.py,loadtests/shapes.py`
(or pick it in the web UI with --class-picker).
"""

from __future__ import annotations

import math
import time

from locust import LoadTestShape
from mmv3.load.settings import Settings

from provisioning import set_arrival_rate
from state import current, logger

# Concurrency kept per stage: enough users for requests that take up to this long.
_LATENCY_BUDGET = 0.2


def users_for(rate: float) -> int:
    return max(2, math.ceil(rate * _LATENCY_BUDGET) + 1)


class StepShape(LoadTestShape):
    use_common_options = False

    def __init__(self) -> None:
        super().__init__()
        self._rate: float | None = None
        self._run = -1

    @staticmethod
    def initial_arrival_rate(settings: Settings) -> float:
        """The first stage's rate: the run's schedule starts with it (no closed-model gap)."""
        return settings.steps[0].factor * settings.step_rate

    def tick(self) -> tuple[int, float] | None:
        environment = self.runner.environment
        state = current(environment)
        settings = state.settings
        first = self.initial_arrival_rate(settings)
        if state.started_at is None:  # provisioning has not finished: hold the first stage
            return users_for(first), float(users_for(first))
        if self._run != state.run_number:  # provisioning started the schedule at the first stage
            self._run, self._rate = state.run_number, first
        elapsed = time.time() - state.started_at
        end = 0.0
        for number, step in enumerate(settings.steps, start=1):
            end += step.seconds
            if elapsed < end:
                rate = step.factor * settings.step_rate
                if rate != self._rate:
                    logger.info("step %d: offered rate %.3g/s for %g s", number, rate, step.seconds)
                    set_arrival_rate(environment, rate)
                    self._rate = rate
                count = users_for(rate)
                return count, float(count)
        return None
