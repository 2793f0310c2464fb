"""How pytest-xdist hands the suite's tests to its workers: like `--dist load`, except that the
server-wide rate-limit checks and the checks of routes slow by design form one unit of work, run
one after another on one worker (the first unit handed out, as the largest).

The rate-limit checks spend one bucket of their own (a burst until the first 429, the refill, the
sustained rate), so two of them at once on two workers would measure each other. A slow route
(`x-mmv3-slow`: GET /admin/recycle_db_conn holds its answer 20 s on real servers) is called once
per process for its success answer; spread over the workers it would be called, and waited for,
once by each, and the last such wait could trail after every other request of the run. In the
unit, it is called once, while the other workers go on with the paced requests. The routes that
reload the server's configuration (POST /admin/save_config, GET /admin/reload_config) are in the
unit too, after the rate-limit checks: real 4.x servers close their console log writer while they
reload, and a request logged at that moment (every 429 is) panics the logger and has its
connection dropped ("http: panic serving ...: send on closed channel", seen on real 4.8.1 and
4.9.0-rc3 while a burst ran on the other worker). pytest-xdist's own
`--dist loadgroup` would do this with `xdist_group` marks, but it carries the group by rewriting
node ids, which pytest 9.2's structured node ids silently ignore (pytest-xdist issue #1386). Here
the controller recognises the tests by their node id instead, and nothing is rewritten.

Imported only when pytest-xdist asks for a scheduler.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

from mmv3.catalog import load_catalog
from mmv3.checks import all_checks

SERIAL_GROUP = "mmv3-serial"
RATELIMIT_MODULE = "test_ratelimit.py"


def serial_test_names() -> frozenset[str]:
    """The test functions of the server-wide rate-limit checks (`test_exceeding`, ...)."""
    return frozenset(f"test_{c.name}" for c in all_checks() if c.family == "ratelimit" and c.server_wide)


RECONFIGURING = frozenset({"POST /api/v3/admin/save_config", "GET /api/v3/admin/reload_config"})


def slow_routes() -> frozenset[str]:
    """The test ids (`GET /api/v3/admin/recycle_db_conn`) of the routes slow by design."""
    return frozenset(
        f"{op.method} {op.template}" for op in load_catalog().operations if op.slow_timeout is not None
    )


def serial_routes() -> frozenset[str]:
    """The routes whose every check runs in the serial unit: slow by design, or reloading the config."""
    return slow_routes() | RECONFIGURING


def unit_of(nodeid: str, serial: frozenset[str], slow: frozenset[str] = frozenset()) -> str:
    """The unit of work a test belongs to: the serial group, or the test alone."""
    path, _, rest = nodeid.partition("::")
    function, _, param = rest.rpartition("::")[2].partition("[")
    if path.rpartition("/")[2] == RATELIMIT_MODULE and function in serial:
        return SERIAL_GROUP
    if param.endswith("]") and param[:-1] in slow:
        return SERIAL_GROUP
    return nodeid


class ConformanceScheduling(LoadScopeScheduling):
    """Each test is a unit of its own (as with `--dist load`), but the serial group is one."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self._serial = serial_test_names()
        self._slow = serial_routes()

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid, self._serial, self._slow)
