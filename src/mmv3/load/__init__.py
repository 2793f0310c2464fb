"""The load side of mmv3 that needs no Locust: 429 accounting, the rate-limit oracle, thresholds,
plots, Allure results and the test data of a load run.

The Locust glue in `loadtests/` feeds `Accounting` from its request events and calls the rest
when a run ends; everything here is plain Python, so it is unit-tested without importing Locust
(which monkey-patches the interpreter with gevent).
"""

from mmv3.load.accounting import THROTTLED, Accounting
from mmv3.load.oracle import OracleReport, Tolerances, Verdict, evaluate
from mmv3.load.thresholds import EXIT_BREACH, Breach, RunStats, Thresholds, ThresholdsError

__all__ = [
    "EXIT_BREACH",
    "THROTTLED",
    "Accounting",
    "Breach",
    "OracleReport",
    "RunStats",
    "Thresholds",
    "ThresholdsError",
    "Tolerances",
    "Verdict",
    "evaluate",
]
