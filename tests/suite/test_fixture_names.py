"""Allure's teardown steps carry names, not `<fixture>::<lambda>` (issue #15, item 7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
import pytest

@pytest.fixture
def resource(request):
    request.addfinalizer(lambda: None)
    return 1

def test_uses_it(resource):
    assert resource == 1
"""


def _teardown_names(results: Path) -> list[str]:
    names = []
    for path in results.glob("*-container.json"):
        names += [step["name"] for step in json.loads(path.read_text()).get("afters", [])]
    return names


def _run(tmp_path: Path, *args: str) -> list[str]:
    tmp_path.mkdir()
    (tmp_path / "test_fixture_lambda.py").write_text(SUITE)
    results = tmp_path / "allure"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:faker", "-q",
         "--rootdir", str(tmp_path), "--alluredir", str(results), "--clean-alluredir",
         *args, str(tmp_path / "test_fixture_lambda.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return _teardown_names(results)


def test_a_fixtures_lambda_finalizer_gets_a_name_in_the_allure_results(tmp_path):
    unnamed = _run(tmp_path / "without")
    # The control: without the plugin, allure-pytest files the step as `resource::<lambda>`.
    assert "resource::<lambda>" in unnamed, unnamed
    named = _run(tmp_path / "with", "-p", "mmv3.suite.fixture_names")
    assert "resource::teardown" in named and not [n for n in named if "<lambda>" in n], named


@pytest.mark.slow
def test_the_conformance_suites_teardown_steps_have_names(tmp_path):
    results = tmp_path / "allure"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "conformance"), "-p", "no:cacheprovider",
         "-p", "no:faker", "-q", "-m", "headers", "-k", "ping",
         "--mm-reports", str(tmp_path), "--alluredir", str(results), "--clean-alluredir"],
        env={k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MMV3_"))},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert list(results.glob("*-container.json"))
    assert not [n for n in _teardown_names(results) if "<lambda>" in n]
