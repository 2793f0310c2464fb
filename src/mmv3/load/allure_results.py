"""Allure results of a load run, written as the plain JSON files Allure reads (no allure-pytest).

One test result per threshold and per oracle verdict, each with the run's plots and CSVs
attached, into the same results directory as the conformance suite's, so one `allure generate`
shows conformance and load side by side.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmv3.allure_labels import EPIC
from mmv3.allure_labels import LOAD_FEATURE as FEATURE

_STATUSES = ("passed", "failed", "skipped", "broken")


@dataclass(frozen=True)
class Result:
    """One Allure test: a threshold or an oracle verdict."""

    name: str
    status: str
    message: str
    story: str  # "threshold" or "rate-limit oracle"
    parameters: dict[str, str] = field(default_factory=dict)


def _history_id(full_name: str) -> str:
    return hashlib.md5(full_name.encode(), usedforsecurity=False).hexdigest()


def _attach(directory: Path, files: Iterable[Path]) -> list[dict[str, str]]:
    """Copy each file once into the results directory; the attachment entries that point at them."""
    out = []
    for path in files:
        if not path.is_file():
            continue
        kind = mimetypes.guess_type(path.name)[0] or "text/plain"
        if path.suffix == ".csv":
            kind = "text/csv"
        source = f"{uuid.uuid4()}-attachment{path.suffix}"
        shutil.copyfile(path, directory / source)
        out.append({"name": path.name, "source": source, "type": kind})
    return out


def write_results(
    directory: str | Path,
    results: Sequence[Result],
    *,
    run: str,
    attachments: Iterable[Path] = (),
    start_ms: int,
    stop_ms: int,
    target: str = "",
) -> list[Path]:
    """Write one `<uuid>-result.json` per result; return their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    attached = _attach(out, list(attachments))
    written = []
    for result in results:
        if result.status not in _STATUSES:
            raise ValueError(f"allure status must be one of {_STATUSES}, got {result.status!r}")
        ident = str(uuid.uuid4())
        full_name = f"mmv3.load.{result.story}.{result.name}"
        body = {
            "uuid": ident,
            "historyId": _history_id(full_name),
            "testCaseId": _history_id(full_name),
            "fullName": full_name,
            "name": f"{result.story}: {result.name}",
            "status": result.status,
            "statusDetails": {"message": result.message} if result.status != "passed" else {},
            "description": result.message,
            "stage": "finished",
            "start": start_ms,
            "stop": stop_ms,
            "labels": [
                {"name": "epic", "value": EPIC},
                {"name": "feature", "value": FEATURE},
                {"name": "story", "value": result.story},
                {"name": "parentSuite", "value": "load"},
                {"name": "suite", "value": result.story},
                {"name": "subSuite", "value": run},
                {"name": "tag", "value": "load"},
                {"name": "framework", "value": "mmv3 load (Locust)"},
            ],
            "parameters": [
                {"name": key, "value": value}
                for key, value in {"run": run, "target": target, **result.parameters}.items()
            ],
            "attachments": attached,
            "steps": [],
        }
        path = out / f"{ident}-result.json"
        path.write_text(json.dumps(body, indent=1), encoding="utf-8")
        written.append(path)
    return written
