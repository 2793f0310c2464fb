"""A pytest plugin for mmv3's own tests (`-p worker_killer`): the xdist worker that reaches the test
whose id contains $MMV3_TEST_KILL_AT dies there at once (os._exit), as one killed by the kernel
would; $MMV3_TEST_KILL_ONCE names a file that keeps it to one death per run."""

from __future__ import annotations

import os


def pytest_runtest_call(item) -> None:
    target, once = os.environ.get("MMV3_TEST_KILL_AT"), os.environ.get("MMV3_TEST_KILL_ONCE", "")
    if not target or target not in item.nodeid or not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    try:
        os.close(os.open(once, os.O_CREAT | os.O_EXCL))
    except OSError:
        return
    os._exit(3)
