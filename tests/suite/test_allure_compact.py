"""The suite's Allure results stay compact: the per-test fixtures' empty containers are not kept
(issue #15, item 5: a full run wrote 5,302 of them, 21 of its 51 MB on disk)."""

from __future__ import annotations

import json
from pathlib import Path

from mmv3.suite import allure_results


def _container(directory: Path, name: str, befores=(), afters=()) -> Path:
    path = directory / f"{name}-container.json"
    path.write_text(json.dumps({"uuid": name, "children": ["t"], "befores": befores, "afters": afters}))
    return path


def _fixture(name: str, status: str = "passed", **extra) -> dict:
    return {"name": name, "status": status, "start": 1, "stop": 2, **extra}


def test_only_empty_passed_containers_of_the_suites_own_fixtures_go(tmp_path):
    gone = [
        _container(tmp_path, "a", [_fixture("operation")]),
        _container(tmp_path, "b", [_fixture("conformance")], [_fixture("conformance::teardown")]),
    ]
    kept = [
        _container(tmp_path, "c", [_fixture("conformance", "broken")]),  # its set-up failed
        _container(tmp_path, "d", [_fixture("conformance", steps=[{"name": "s"}])]),
        _container(tmp_path, "e", [_fixture("conformance", attachments=[{"source": "x"}])]),
        _container(tmp_path, "f", [_fixture("base_url")]),  # another fixture: not ours to judge
        _container(tmp_path, "g", [_fixture("operation"), _fixture("base_url")]),
        _container(tmp_path, "h"),  # nothing in it: not ours either
    ]
    (tmp_path / "i-result.json").write_text("{}")
    sizes = sum(p.stat().st_size for p in gone)
    assert allure_results.drop_trivial_containers(tmp_path) == (2, sizes)
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in kept) and (tmp_path / "i-result.json").exists()
