"""`mmv3 check --keep N`: keep the newest N run directories under reports/, remove the older ones.

Only a directory that `mmv3 check` made counts as a run: a real directory (not a link) right under
the reports directory whose run.json names it (`run_id` equal to the directory's name). Anything
else there -- the history, a plain suite run's files, a user's own directories, a run still going
(it has no run.json yet) -- is never touched, and neither is the run just made.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

RUN_FILE = "run.json"
KEEP_ENV = "MMV3_KEEP"


class RetentionError(ValueError):
    """A bad --keep value (one line, a usage error)."""


def parse_keep(value: str | int | None) -> int | None:
    """`--keep` (or $MMV3_KEEP): None keeps every run; otherwise a count of at least 1."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise RetentionError(f"--keep must be a number of runs, 1 or more: {value!r}")
    return int(text)


def _started(run_dir: Path) -> str | None:
    """run.json's start time when run_dir is a run mmv3 made, else None."""
    if run_dir.is_symlink() or not run_dir.is_dir():
        return None
    try:
        body = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("run_id") != run_dir.name:
        return None
    return str(body.get("started") or "")


def runs(reports: Path) -> list[Path]:
    """The runs under `reports`, oldest first (by their start time, then their name)."""
    found = []
    with contextlib.suppress(OSError):
        for child in reports.iterdir():
            started = _started(child)
            if started is not None:
                found.append((started, child.name, child))
    return [path for _, _, path in sorted(found)]


@dataclass
class Pruned:
    removed: list[Path] = field(default_factory=list)
    freed_bytes: int = 0
    failed: list[str] = field(default_factory=list)  # "<dir>: <why>"


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def prune(reports: Path, keep: int, current: Path) -> Pruned:
    """Remove all but the newest `keep` runs; `current` (the run just made) always stays."""
    result = Pruned()
    current = current.resolve()
    older = [run for run in runs(reports) if run.resolve() != current]
    excess = len(older) - (keep - 1)
    for run in older[: max(0, excess)]:
        size = _size(run)
        try:
            shutil.rmtree(run)
        except OSError as exc:
            result.failed.append(f"{run}: {exc.strerror or exc}")
            continue
        result.removed.append(run)
        result.freed_bytes += size
    return result
