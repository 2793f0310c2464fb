"""Every fault switch of the reference server is caught by the check family it breaks.

For each fault in mmv3.server.faults.FAULTS the suite runs against an embedded server with that
fault on, selecting only the fault's family (`-m <family>`), and must fail there for a reason
other than an unimplemented route. The fault -> caught-by table is printed at the end of the
run (tests/suite/conftest.py).
"""

from __future__ import annotations

from collections import Counter

import pytest

from mmv3.server.faults import FAULTS

from .conformance_run import run_suite

pytestmark = pytest.mark.slow

NOT_IMPLEMENTED = "[not implemented]"
# Faults made for one rule of their family: that rule's check must be among those that catch it.
MEANT_FOR = {
    "ratelimit-limit-understated": "bucket",
    "ratelimit-limit-overstated": "bucket",
    "ratelimit-remaining-short": "countdown",
    "ratelimit-reset-slow": "reset_seconds",
    "ratelimit-never-429": "exceeding",
}
# Families whose checks do not depend on the limiter run against a fast one (less pacing).
FAST_LIMIT = ["--mm-embedded-rate-limit", "2000/200"]
# The rate-limit family needs a client that outruns the refill to see a 429. The embedded default
# (100/s) is more than a Python client reaches on a busy machine (under a CPU hog every burst
# ended without a 429 and the checks skipped): 20/s leaves it a wide margin at any load seen.
SLOW_LIMIT = ["--mm-embedded-rate-limit", "20/20"]


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_caught_by_its_family(name, tmp_path, record_property):
    fault = FAULTS[name]
    args = ["-m", fault.family, "--mm-embedded-fault", name]
    args += SLOW_LIMIT if fault.family == "ratelimit" else FAST_LIMIT
    run = run_suite(args, reports=tmp_path, timeout=600)
    caught = [
        case
        for case in run.failures
        if case.family == fault.family and NOT_IMPLEMENTED not in case.message and case.outcome == "failed"
    ]
    checks = Counter(case.test.removeprefix("test_") for case in caught)
    caught_by = (
        ", ".join(f"{fault.family}.{check} x{count}" for check, count in checks.most_common()) or "NOT CAUGHT"
    )
    record_property("mmv3_fault_row", f"{name}|{fault.family}|{caught_by}|{run.seconds:.1f}")
    errors = [case for case in run.failures if case.outcome == "error"]
    assert not errors, f"{name}: the suite itself errored:\n" + "\n".join(c.message[:200] for c in errors[:5])
    assert run.returncode == 1, f"{name}: exit {run.returncode}, expected 1 (failures)\n{run.tail()}"
    assert caught, f"{name} ({fault.description}) was not caught by the {fault.family} family\n{run.tail()}"
    if name in MEANT_FOR:
        assert MEANT_FOR[name] in checks, (
            f"{name} was not caught by {fault.family}.{MEANT_FOR[name]}: {caught_by}"
        )
