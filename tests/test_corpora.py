"""Every committed corpus (tests/corpus/mattermost-<version>/) against the version-aware schemas.

Each corpus was recorded from a real server of that version; CI cannot build real servers, so
the corpora are its ground truth. Every recorded 200 JSON body must validate against its
operation's success schema as it applies to the corpus's version (a field the version's source
lacks is not required of it: schemas/versions.json). Bodies the recorder cut short (over its
size limit, marked in `content.comment`) are not JSON and are counted apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mmv3.catalog import load_catalog
from mmv3.paths import REPO_ROOT
from mmv3.schemas import OPENAPI_URI, default_registry

CORPORA = sorted(p for p in (REPO_ROOT / "tests" / "corpus").glob("mattermost-*") if p.is_dir())
CATALOG = load_catalog()


def _version(corpus: Path) -> str:
    match = re.fullmatch(r"mattermost-(\d+\.\d+\.\d+)(?:-[a-z0-9.]+)?", corpus.name)
    assert match, f"{corpus.name}: a corpus directory is named mattermost-<x.y.z>[-<pre-release>]"
    return match.group(1)


def _ok_json(corpus: Path) -> tuple[list[tuple[str, dict]], int]:
    """(label, entry) of every 200 JSON answer with a whole body; and how many were cut short."""
    found, cut = [], 0
    for har in sorted(corpus.glob("*.har")):
        for index, entry in enumerate(json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]):
            response = entry["response"]
            content = response.get("content") or {}
            mime = (content.get("mimeType") or "").split(";")[0].strip().lower()
            if response["status"] != 200 or mime != "application/json" or not content.get("text"):
                continue
            if "truncated" in (content.get("comment") or ""):
                cut += 1
                continue
            found.append((f"{har.stem}#{index}", entry))
    return found, cut


def test_there_are_corpora_of_several_versions() -> None:
    assert len(CORPORA) >= 1 and all(_version(c) for c in CORPORA)


def invalid_bodies(corpus: Path, version: str) -> tuple[list[str], int]:
    """The 200 JSON answers of `corpus` that the schemas for `version` reject; and how many there are."""
    registry = default_registry().for_version(version)
    entries, cut = _ok_json(corpus)
    assert cut <= len(entries) // 100, f"{corpus.name}: {cut} bodies cut short"
    invalid = []
    for label, entry in entries:
        method = entry["request"]["method"]
        operation = CATALOG.by_route(method, entry["_route"])
        if operation is None:
            invalid.append(f"{label} {method} {entry['_route']}: not a catalogue route")
            continue
        if operation.response_schema is None or operation.response_content_type != "application/json":
            invalid.append(f"{label} {method} {entry['_route']}: the catalogue declares no JSON body")
            continue
        body = json.loads(entry["response"]["content"]["text"])
        issues = registry.validate(body, operation.response_schema, base_uri=OPENAPI_URI)
        if issues:
            invalid.append(f"{label} {method} {entry['_route']}: {issues[0]}")
    return invalid, len(entries)


@pytest.mark.parametrize("corpus", CORPORA, ids=[c.name for c in CORPORA])
def test_every_recorded_200_json_body_is_valid_for_its_version(corpus: Path) -> None:
    version = _version(corpus)
    invalid, total = invalid_bodies(corpus, version)
    assert total >= 100, f"{corpus.name}: only {total} 200 JSON answers"
    valid = total - len(invalid)
    assert not invalid, (
        f"{corpus.name} (schemas for {version}): {valid} of {total} valid "
        f"({100 * valid / total:.1f} %):\n" + "\n".join(invalid[:25])
    )


def test_a_body_missing_a_field_of_its_version_is_caught(tmp_path: Path) -> None:
    """The check above can fail: `timezone` is required of 4.9 users, not of 4.8.1 ones."""
    source = REPO_ROOT / "tests" / "corpus" / "mattermost-4.9.0"
    har = json.loads((source / "users.har").read_text(encoding="utf-8"))
    keep = [
        e
        for e in har["log"]["entries"]
        if e["_route"] == "/api/v3/users/me" and e["response"]["status"] == 200
    ][:1]
    assert keep
    body = json.loads(keep[0]["response"]["content"]["text"])
    del body["timezone"]
    keep[0]["response"]["content"]["text"] = json.dumps(body)
    har["log"]["entries"] = keep
    (tmp_path / "users.har").write_text(json.dumps(har), encoding="utf-8")
    invalid, total = invalid_bodies(tmp_path, "4.9.0")
    assert total == 1 and len(invalid) == 1 and "timezone" in invalid[0]
    assert invalid_bodies(tmp_path, "4.8.1") == ([], 1)
