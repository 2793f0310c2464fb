"""Running the conformance suite the way a user does -- `python -m pytest conformance ...` in a
subprocess -- and reading what it reported (exit status, output, JUnit XML, the matrix)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from mmv3.paths import REPO_ROOT


@dataclass(frozen=True)
class Case:
    """One test of the suite as JUnit reports it."""

    module: str  # test_auth
    test: str  # test_no_token
    route: str  # GET /api/v3/users/me
    outcome: str  # passed | failed | error | skipped | xfailed
    message: str

    @property
    def family(self) -> str:
        return self.module.removeprefix("test_")


@dataclass
class SuiteRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    reports: Path
    cases: list[Case] = field(default_factory=list)

    @property
    def failures(self) -> list[Case]:
        return [c for c in self.cases if c.outcome in ("failed", "error")]

    def matrix(self) -> dict:
        path = self.reports / "conformance-matrix.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def tail(self, lines: int = 30) -> str:
        out = (self.stdout + "\n" + self.stderr).strip().splitlines()
        return "\n".join(out[-lines:])


def _clean_env(extra: dict[str, str] | None) -> dict[str, str]:
    # The outer pytest (maybe an xdist worker) must not leak its settings into the inner run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MMV3_"))}
    env.update(extra or {})
    return env


def run_suite(
    args: list[str],
    *,
    reports: Path,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    tests: list[str] | None = None,
) -> SuiteRun:
    """Run `tests` (default: the whole `conformance` directory) with `args`."""
    junit = reports / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *(tests or ["conformance"]),
        "-p",
        "no:cacheprovider",
        "-q",
        "--mm-reports",
        str(reports),
        "--junitxml",
        str(junit),
        *args,
    ]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_clean_env(env),
    )
    run = SuiteRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started, reports)
    if junit.exists():
        run.cases = read_junit(junit)
    return run


def read_junit(path: Path) -> list[Case]:
    cases = []
    for element in ET.parse(path).getroot().iter("testcase"):
        module = element.get("classname", "").rsplit(".", 1)[-1]
        name = element.get("name", "")
        test, _, rest = name.partition("[")
        route = rest[:-1] if rest.endswith("]") else ""
        outcome, message = "passed", ""
        for child in element:
            if child.tag in ("failure", "error"):
                outcome, message = ("failed" if child.tag == "failure" else "error"), child.get("message", "")
            elif child.tag == "skipped":
                kind = child.get("type", "")
                outcome = "xfailed" if kind == "pytest.xfail" else "skipped"
                message = child.get("message", "")
        cases.append(Case(module, test, route, outcome, message))
    return cases
