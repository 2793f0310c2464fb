"""How a conformance run ends early without crashing: the target stopped answering, or a worker died.

No worker ever leaves the run on its own (pytest-xdist takes a worker that exits in the middle of
its work for a crash). A worker whose session takes the target for gone says so in the report
of the check that found it out (`GONE_PROPERTY`); the controller then announces it in the stop
file, every worker reports its remaining checks as not run without sending them, and at the end
the controller turns it into exit status 10 with one line. A test that never sent a report (its
worker died, or the run ended before it) is filed as not run too, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mmv3.suite.matrix import NOT_RUN, Result

GONE_PROPERTY = "mmv3-target-gone"
GONE_REASON = "not run: the target stopped answering"
WORKER_DIED = "not run: worker {worker} died while running it"
NEVER_RAN = "not run: the run ended before it (a worker died)"

__all__ = ["GONE_PROPERTY", "GONE_REASON", "NEVER_RAN", "NOT_RUN", "WORKER_DIED", "StopFile", "result_for"]


@dataclass
class StopFile:
    """A file the controller writes once the run must stop; empty while it goes on."""

    path: Path

    @classmethod
    def create(cls) -> StopFile:
        handle, name = tempfile.mkstemp(prefix="mmv3-stop-")
        os.close(handle)
        return cls(Path(name))

    def announce(self, reason: str) -> None:
        with contextlib.suppress(OSError):
            self.path.write_text(reason or "stop", encoding="utf-8")

    @staticmethod
    def read(path: str | None) -> str:
        """The announced reason, or "" while the run goes on (one stat per check when it does)."""
        if not path:
            return ""
        try:
            if os.path.getsize(path) == 0:
                return ""
            return Path(path).read_text(encoding="utf-8")
        except OSError:
            return ""

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def result_for(nodeid: str, reason: str) -> Result | None:
    """The matrix entry 'not run' for a conformance test id such as
    `conformance/test_auth.py::test_no_token[GET /api/v3/users/me]`; None for any other test."""
    from mmv3.catalog import load_catalog

    path, _, rest = nodeid.partition("::")
    module = path.rpartition("/")[2].removesuffix(".py")
    function, _, param = rest.rpartition("::")[2].partition("[")
    if not module.startswith("test_") or not function.startswith("test_") or not param.endswith("]"):
        return None
    route = param[:-1]
    method, _, template = route.partition(" ")
    operation = load_catalog().by_route(method, template)
    family = module.removeprefix("test_")
    return Result(
        route=route,
        group=operation.group if operation is not None else "?",
        family=family,
        check=f"{family}.{function.removeprefix('test_')}",
        status=NOT_RUN,
        reason=reason,
    )
