"""Debian's Chromium for the browser tests (Playwright drives it; never a downloaded browser), and
what a test does when a system tool it needs (Chromium, the Allure CLI) is absent.

Locally such a test is skipped, with the command that installs the tool as the reason, so that
the README's test command passes on a machine with only Python. `.ci/run` installs the tools and
sets MMV3_REQUIRE_TOOLS=1: there a missing tool fails the test instead, so nothing is skipped in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get update && apt-get install -y chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_tool(message: str) -> None:
    """Skip (locally) or fail (in CI: MMV3_REQUIRE_TOOLS=1) a test whose system tool is absent."""
    if os.environ.get("MMV3_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def require_chromium() -> None:
    if not CHROMIUM.exists():
        missing_tool(
            f"{CHROMIUM} is missing: install Debian's Chromium with `{INSTALL}` (never `playwright install`)"
        )
