"""`mmv3 check --keep N`: the newest N runs stay, older run directories go, nothing else is touched
(issue #15, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmv3 import exitcodes, retention
from tests.test_check import mmv3_check


def _run(reports: Path, name: str, started: str) -> Path:
    run = reports / name
    (run / "allure-results").mkdir(parents=True)
    (run / "allure-results" / "x-result.json").write_text("{}" * 100)
    (run / "run.json").write_text(json.dumps({"run_id": name, "started": started}))
    return run


def test_prune_keeps_the_newest_runs_and_only_touches_runs(tmp_path):
    reports = tmp_path / "reports"
    old = [_run(reports, f"2026120{i}-000000", f"2026-12-0{i}T00:00:00Z") for i in range(1, 5)]
    custom = _run(reports, "nightly", "2026-12-04T12:00:00Z")  # a --run-id: ordered by its start
    current = _run(reports, "20261205-000000", "2026-12-05T00:00:00Z")
    # not runs: the history, a directory of the user's, a run.json naming another directory,
    # a run still going (no run.json yet), a link to a run
    (reports / "history").mkdir()
    (reports / "history" / "t.jsonl").write_text("{}\n")
    mine = reports / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    moved = reports / "copied"
    moved.mkdir()
    (moved / "run.json").write_text(json.dumps({"run_id": "elsewhere", "started": "2020-01-01T00:00:00Z"}))
    going = reports / "20200101-000000"
    going.mkdir()
    (reports / "link").symlink_to(old[0], target_is_directory=True)

    pruned = retention.prune(reports, 3, current)

    assert sorted(p.name for p in pruned.removed) == [p.name for p in old[:3]]
    assert pruned.freed_bytes > 0 and not pruned.failed
    left = sorted(p.name for p in reports.iterdir())
    assert left == sorted(
        [old[3].name, custom.name, current.name, "history", "notes", "copied", going.name, "link"]
    )
    assert (mine / "keep.txt").read_text() == "mine"
    # the run just made stays even when told to keep one, and whatever its start says
    assert [p.name for p in retention.prune(reports, 1, current).removed] == [old[3].name, custom.name]
    assert current.is_dir()


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_bad_keep_values(value):
    with pytest.raises(retention.RetentionError):
        retention.parse_keep(value)


def test_keep_defaults_to_every_run():
    assert retention.parse_keep(None) is None and retention.parse_keep("") is None
    assert retention.parse_keep("4") == 4


@pytest.mark.slow
def test_check_keep_removes_older_runs_after_the_run(tmp_path):
    reports = tmp_path / "reports"
    older = [_run(reports, f"2026110{i}-000000", f"2026-11-0{i}T00:00:00Z") for i in range(1, 4)]
    done = mmv3_check(
        "--families", "headers", "--workers", "0", "--reports", str(reports),
        env={retention.KEEP_ENV: "2"},
    )  # fmt: skip
    assert done.returncode == exitcodes.OK, done.stdout + done.stderr
    assert "reports: removed 2 older runs (--keep 2)" in done.stdout, done.stdout
    left = sorted(p.name for p in reports.iterdir())
    assert older[2].name in left and older[0].name not in left and len(left) == 2
