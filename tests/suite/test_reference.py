"""The whole suite against the embedded reference server: every check passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmv3.catalog import load_catalog

from .conformance_run import SuiteRun, run_suite

pytestmark = pytest.mark.slow

# What a secret looks like in a report if redaction failed somewhere.
LEAKS = (
    re.compile(r"(?i)authorization:\s*bearer\s+(?!<redacted>|\$MMV3_TOKEN)[a-z0-9]{20,}"),
    re.compile(r"(?i)\bMMAUTHTOKEN=(?!<redacted>|\$MMV3_TOKEN|;|\"|\s|$)[a-z0-9]{20,}"),
    # (a value of asterisks only is the server's own mask, GET /admin/config's "********")
    re.compile(r'(?i)"(?:password|new_password|current_password)"\s*:\s*"(?!<redacted>|\*+")[^"]+'),
    re.compile(r"(?i)^token:\s*(?!<redacted>)[a-z0-9]{20,}", re.M),
)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> SuiteRun:
    return run_suite([], reports=tmp_path_factory.mktemp("reference-reports"), timeout=900)


def test_every_check_passes_against_the_reference_server(reference_run):
    run = reference_run
    assert run.cases, f"the suite reported no tests:\n{run.tail()}"
    unexpected = [f"{case.module}::{case.test}[{case.route}]: {case.message[:300]}" for case in run.failures]
    assert not unexpected, f"{len(unexpected)} unexpected failures:\n" + "\n".join(unexpected[:40])
    families = {case.family for case in run.cases if case.outcome == "passed"}
    wanted = {"auth", "schema", "errors", "headers", "ratelimit", "security", "invariants"}
    assert families >= wanted, families
    assert run.returncode == 0, run.tail()


def test_the_run_writes_the_matrix_and_allure_results(reference_run):
    matrix = reference_run.matrix()
    assert matrix, "no conformance-matrix.json was written"
    routes = matrix["routes"]
    assert len(routes) == len(load_catalog().operations), "every catalogue route appears in the matrix"
    assert (
        (reference_run.reports / "conformance-matrix.md").read_text().startswith("# mmv3 conformance matrix")
    )
    allure = reference_run.reports / "allure-results"
    assert (allure / "environment.properties").exists()
    assert (allure / "categories.json").exists()
    assert matrix["environment"]["429 answers to paced requests"] == "0", "pacing let a 429 through"
    assert any(allure.glob("*-result.json")), "no allure results"
    assert "mmv3 conformance matrix" in reference_run.stdout


def test_the_reports_show_no_secret_shapes(reference_run):
    """Patterns only (the embedded run's secrets never leave it); test_external_target.py
    checks every literal secret of a run."""
    leaks = []
    for path in Path(reference_run.reports).rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern in LEAKS:
            match = pattern.search(text)
            if match:
                leaks.append(f"{path.name}: {match.group(0)[:60]}")
    assert not leaks, "secrets in the reports:\n" + "\n".join(leaks[:20])
