"""Every answer recorded from real Mattermost 4.9 fits the catalogue's schemas.

200 JSON bodies validate against their operation's success schema, JSON error bodies against AppError, the
other bodies have the documented media type, and every recorded status is one the operation documents.
"""

from __future__ import annotations

import json

import pytest
import yaml

from mmv3 import paths, ratelimit
from mmv3.catalog import Operation, load_catalog
from mmv3.fidelity import CorpusEntry, load_corpus
from mmv3.schemas import OPENAPI_URI, default_registry

CATALOG = load_catalog()
ENTRIES = load_corpus()

# Answers real 4.9 sends without a body (corpus README, "Surprising behaviour seen").
EMPTY_SUCCESS = {
    ("POST", "/api/v3/users/{user_id}/update_roles"),  # an application error swallowed into 200
    ("GET", "/api/v3/admin/get_brand_image"),  # no brand image
}
EMPTY_ERROR = {
    ("POST", "/api/v3/teams/{team_id}/posts/search"),  # recovered panic
    ("POST", "/api/v3/teams/{team_id}/invite_members"),  # recovered panic
}


def _entry_id(entry: CorpusEntry) -> str:
    return f"{entry.group}.har#{entry.index} {entry.method} {entry.route} {entry.case}"


def _media(entry: CorpusEntry) -> str:
    return entry.response_mime.split(";", 1)[0].strip().lower()


def _op(entry: CorpusEntry) -> Operation:
    return CATALOG.get(entry.method, entry.route)


def _covers(declared: str, actual: str) -> bool:
    """Whether media range `declared` (e.g. image/*) admits the media type `actual`."""
    if declared in ("*/*", actual):
        return True
    return declared.endswith("/*") and actual.startswith(declared[:-1])


def _header(entry: CorpusEntry, name: str) -> str | None:
    values = entry.header_values(name)
    return values[0] if values else None


def _is_success(entry: CorpusEntry) -> bool:
    return entry.status == _op(entry).success_status


OK_JSON = [e for e in ENTRIES if e.status == 200 and _media(e) == "application/json" and e.response_text]
OK_OTHER = [
    e
    for e in ENTRIES
    if e.status != 429 and _is_success(e) and _media(e) != "application/json" and e.response_text
]
ERRORS_JSON = [
    e
    for e in ENTRIES
    if e.status >= 400 and e.status != 429 and _media(e) == "application/json" and e.response_text
]
ERRORS_OTHER = [e for e in ENTRIES if e.status >= 400 and e.status != 429 and _media(e) != "application/json"]
DENIED = [e for e in ENTRIES if e.status == 429]


@pytest.fixture(scope="module")
def registry():
    return default_registry()


@pytest.fixture(scope="module")
def documented() -> dict[tuple[str, str], set[str]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(paths.openapi_path().read_text(encoding="utf-8"), Loader=loader)
    return {
        (method.upper(), template): set(op["responses"])
        for template, item in doc["paths"].items()
        for method, op in item.items()
    }


def test_the_corpus_has_every_kind_of_answer() -> None:
    assert len(OK_JSON) > 250 and len(ERRORS_JSON) > 450 and len(DENIED) == 2 and OK_OTHER and ERRORS_OTHER


@pytest.mark.parametrize("entry", OK_JSON, ids=_entry_id)
def test_success_body_matches_the_operation_schema(entry: CorpusEntry, registry) -> None:
    op = _op(entry)
    assert op.response_content_type == "application/json" and op.response_schema is not None
    issues = registry.validate(json.loads(entry.response_text), op.response_schema, base_uri=OPENAPI_URI)
    assert not issues, "\n".join(str(issue) for issue in issues)


@pytest.mark.parametrize("entry", OK_OTHER, ids=_entry_id)
def test_other_success_bodies_have_the_documented_media_type(entry: CorpusEntry) -> None:
    op = _op(entry)
    assert _covers(op.response_content_type, _media(entry)), (
        f"{_media(entry)} is not {op.response_content_type}"
    )


def test_empty_success_bodies_are_the_documented_quirks() -> None:
    found = {(e.method, e.route) for e in ENTRIES if e.status == 200 and not e.response_text}
    assert found == EMPTY_SUCCESS
    for method, route in found:
        assert any("empty body" in quirk for quirk in CATALOG.get(method, route).quirks)


@pytest.mark.parametrize("entry", ERRORS_JSON, ids=_entry_id)
def test_json_error_body_is_an_app_error(entry: CorpusEntry, registry) -> None:
    body = json.loads(entry.response_text)
    issues = registry.validate(body, "AppError")
    assert not issues, "\n".join(str(issue) for issue in issues)
    assert body["status_code"] == entry.status
    assert body["request_id"] == _header(entry, "X-Request-Id")
    assert entry.status in _op(entry).error_statuses


def test_empty_error_bodies_are_the_documented_panics() -> None:
    found = {(e.method, e.route) for e in ENTRIES if e.status >= 400 and not e.response_text}
    assert found == EMPTY_ERROR
    for method, route in found:
        op = CATALOG.get(method, route)
        assert 500 in op.error_statuses and any("empty body" in quirk for quirk in op.quirks)


@pytest.mark.parametrize("entry", ERRORS_OTHER, ids=_entry_id)
def test_non_json_errors_are_documented(entry: CorpusEntry, registry) -> None:
    op = _op(entry)
    assert entry.status in op.error_statuses
    assert _media(entry) in ("text/plain", "text/html")
    assert op.quirks, "a non-JSON error should be listed among the operation's quirks"
    head, _, tail = entry.response_text.partition("\n")
    if tail.strip().startswith("{"):  # the WebSocket refusal: "Bad Request" then an AppError line
        assert head == "Bad Request"
        assert not registry.validate(json.loads(tail), "AppError")


@pytest.mark.parametrize("entry", DENIED, ids=_entry_id)
def test_429_is_the_plain_text_limit_exceeded_answer(entry: CorpusEntry) -> None:
    assert _header(entry, "Content-Type") == ratelimit.DENIED_CONTENT_TYPE
    assert entry.response_text == ratelimit.DENIED_BODY
    assert _header(entry, "Retry-After") is not None
    assert _header(entry, "X-Request-Id") is None
    assert 429 in _op(entry).error_statuses


@pytest.mark.parametrize("entry", ENTRIES, ids=_entry_id)
def test_recorded_status_is_documented(entry: CorpusEntry, documented: dict) -> None:
    assert str(entry.status) in documented[(entry.method, entry.route)]
