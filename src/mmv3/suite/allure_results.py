"""What the suite adds to allure-pytest's results: labels, exchange attachments, environment
and categories.

Attachments are built from the client's HAR entries, which are redacted already (passwords,
tokens, cookie values); the `curl` line puts `$MMV3_TOKEN` where the token was, so a reader
can replay the request with a token of their own.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from mmv3 import redact
from mmv3.allure_labels import EPIC

TOKEN_PLACEHOLDER = "$MMV3_TOKEN"
_SKIPPED_HEADERS = frozenset(
    {"host", "content-length", "accept-encoding", "connection", "user-agent", "accept"}
)
_MAX_SHOWN_BODY = 32 * 1024

# Allure's "Categories" tab: failures are told apart by the tag each message starts with.
CATEGORIES: list[dict[str, Any]] = [
    {"name": "Server does not implement the route", "messageRegex": r"(?s).*\[not implemented\].*"},
    {"name": "Transport (no answer, timeout, reset)", "messageRegex": r"(?s).*\[transport\].*"},
    {"name": "Schema drift", "messageRegex": r"(?s).*\[schema drift\].*"},
    {"name": "Auth", "messageRegex": r"(?s).*\[auth\].*"},
    {"name": "Error shape", "messageRegex": r"(?s).*\[error shape\].*"},
    {"name": "Rate limit", "messageRegex": r"(?s).*\[rate limit\].*"},
    {"name": "Headers", "messageRegex": r"(?s).*\[headers\].*"},
    {"name": "Security", "messageRegex": r"(?s).*\[security\].*"},
    {"name": "Invariants", "messageRegex": r"(?s).*\[invariants\].*"},
    {"name": "Deviation fixed (expected failure passed)", "messageRegex": r"(?s).*\[deviation gone\].*"},
]
for _category in CATEGORIES:
    _category["matchedStatuses"] = ["failed", "broken"]


def label_marks(*, group: str, route: str, family: str, severity: str) -> list[pytest.MarkDecorator]:
    """Labels as allure-pytest markers, so that even skipped tests carry them.

    The suites tree reads family → route group → route (allure-pytest's default is the file
    and module); the family's tag comes from its pytest marker, which allure-pytest turns into a
    tag by itself.
    """
    return [
        pytest.mark.allure_label(EPIC, label_type="epic"),
        pytest.mark.allure_label(group, label_type="feature"),
        pytest.mark.allure_label(route, label_type="story"),
        pytest.mark.allure_label(family, label_type="parentSuite"),
        pytest.mark.allure_label(group, label_type="suite"),
        pytest.mark.allure_label(route, label_type="subSuite"),
        pytest.mark.allure_label(severity, label_type="severity"),
    ]


def attach_entries(entries: Iterable[Mapping[str, Any]]) -> None:
    """Attach each HAR entry as one file: the HTTP transcript, then the curl command that replays
    it (one file per exchange, not two: a full run writes thousands)."""
    import allure

    for index, entry in enumerate(entries, 1):
        request = entry.get("request", {})
        name = f"{index}. {request.get('method', '?')} {_path(request.get('url', ''))}"
        body = f"{transcript(entry)}\n# replay it:\n{curl(entry)}"
        allure.attach(body, name=name, attachment_type=allure.attachment_type.TEXT)


def transcript(entry: Mapping[str, Any]) -> str:
    request, response = entry.get("request", {}), entry.get("response", {})
    lines = [f"{request.get('method', '?')} {request.get('url', '')}"]
    lines += [f"{h['name']}: {h['value']}" for h in request.get("headers", [])]
    body = (request.get("postData") or {}).get("text")
    if body:
        lines += ["", _cap(body)]
    lines.append("")
    if entry.get("_error"):
        lines.append(f"(no answer: {entry['_error']})")
        return "\n".join(lines) + "\n"
    lines.append(f"HTTP/1.1 {response.get('status', 0)} {response.get('statusText', '')}".rstrip())
    lines += [f"{h['name']}: {h['value']}" for h in response.get("headers", [])]
    content = response.get("content") or {}
    if content.get("text"):
        shown = (
            content["text"]
            if content.get("encoding") != "base64"
            else f"({content.get('size', 0)} bytes, binary)"
        )
        lines += ["", _cap(shown)]
    return "\n".join(lines) + "\n"


def curl(entry: Mapping[str, Any]) -> str:
    """A curl command reproducing the (redacted) request; the session token reads $MMV3_TOKEN."""
    request = entry.get("request", {})
    parts = ["curl", "-i", "-X", request.get("method", "GET"), shlex.quote(request.get("url", ""))]
    for header in request.get("headers", []):
        name, value = header["name"], header["value"]
        lowered = name.lower()
        if lowered in _SKIPPED_HEADERS:
            continue
        if lowered == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else "Bearer"
            parts += ["-H", f'"Authorization: {scheme} {TOKEN_PLACEHOLDER}"']
            continue
        if lowered == "cookie":
            parts += ["-H", f'"Cookie: MMAUTHTOKEN={TOKEN_PLACEHOLDER}"']
            continue
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    post = request.get("postData") or {}
    if post.get("params") and str(post.get("mimeType", "")).startswith("multipart/"):
        for param in post["params"]:
            if "fileName" in param:
                parts += ["-F", shlex.quote(f"{param['name']}=@{param['fileName']}")]
            else:
                parts += ["-F", shlex.quote(f"{param['name']}={param.get('value', '')}")]
    elif post.get("text"):
        parts += ["--data-raw", shlex.quote(post["text"])]
    return " ".join(parts) + "\n"


def write_environment(directory: Path, values: Mapping[str, str]) -> Path:
    """environment.properties: Allure's Environment widget (target, version, rate limit...)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "environment.properties"
    lines = [f"{_escape(key)}={_escape_value(redact.url(str(value)))}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_categories(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "categories.json"
    path.write_text(json.dumps(CATEGORIES, indent=1) + "\n", encoding="utf-8")
    return path


# The suite's per-test fixtures: `operation` (the parameter) and `conformance` (the runner). Their
# set-up and tear-down do nothing worth a step, yet allure-pytest writes a container file for each,
# twice per test: more than half the files (and, in 4 KB blocks, of the disk) of a full run.
TRIVIAL_FIXTURES = frozenset({"operation", "conformance"})


def _trivial(fixture: Mapping[str, Any]) -> bool:
    name = str(fixture.get("name", "")).split("::", 1)[0]
    return (
        name in TRIVIAL_FIXTURES
        and fixture.get("status") == "passed"
        and not fixture.get("steps")
        and not fixture.get("attachments")
        and not fixture.get("parameters")
    )


def drop_trivial_containers(directory: Path) -> tuple[int, int]:
    """Remove the containers that hold only passed, empty set-ups and tear-downs of the suite's
    per-test fixtures (one that failed, or holds a step or attachment, stays). Files and bytes
    removed."""
    files = size = 0
    for path in directory.glob("*-container.json"):
        try:
            text = path.read_text(encoding="utf-8")
            body = json.loads(text)
        except (OSError, ValueError):
            continue
        fixtures = list(body.get("befores", [])) + list(body.get("afters", []))
        if fixtures and all(_trivial(f) for f in fixtures) and not body.get("links"):
            try:
                path.unlink()
            except OSError:
                continue
            files, size = files + 1, size + len(text.encode())
    return files, size


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", " ")


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("\n", " ")
        .replace("=", "\\=")
        .replace(":", "\\:")
        .replace(" ", "\\ ")
    )


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else url


def _cap(text: str) -> str:
    return (
        text if len(text) <= _MAX_SHOWN_BODY else text[:_MAX_SHOWN_BODY] + f"\n... ({len(text)} characters)"
    )
