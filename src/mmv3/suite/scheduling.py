"""How pytest-xdist hands the suite's tests to its workers: like `--dist load`, except that the
server-wide rate-limit checks form one unit of work, run one after another on one worker.

They spend one bucket of their own (a burst until the first 429, the refill, the sustained rate),
so two of them at once on two workers would measure each other. pytest-xdist's own
`--dist loadgroup` would do this with `xdist_group` marks, but it carries the group by rewriting
node ids, which pytest 9.2's structured node ids silently ignore (pytest-xdist issue #1386). Here
the controller recognises the tests by their node id instead, and nothing is rewritten.

Imported only when pytest-xdist asks for a scheduler.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

from mmv3.checks import all_checks

RATELIMIT_GROUP = "mmv3-ratelimit"
RATELIMIT_MODULE = "test_ratelimit.py"


def serial_test_names() -> frozenset[str]:
    """The test functions of the server-wide rate-limit checks (`test_exceeding`, ...)."""
    return frozenset(f"test_{c.name}" for c in all_checks() if c.family == "ratelimit" and c.server_wide)


def unit_of(nodeid: str, serial: frozenset[str]) -> str:
    """The unit of work a test belongs to: the rate-limit group, or the test alone."""
    path, _, rest = nodeid.partition("::")
    function = rest.rpartition("::")[2].partition("[")[0]
    if path.rpartition("/")[2] == RATELIMIT_MODULE and function in serial:
        return RATELIMIT_GROUP
    return nodeid


class ConformanceScheduling(LoadScopeScheduling):
    """Each test is a unit of its own (as with `--dist load`), but the rate-limit group is one."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self._serial = serial_test_names()

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid, self._serial)
