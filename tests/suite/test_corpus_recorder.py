"""--mm-record: entries annotated with their route and case, parts merged into group files once."""

from __future__ import annotations

import json

from mmv3.fidelity import load_corpus
from mmv3.suite import corpus_recorder
from mmv3.suite.corpus_recorder import CorpusRecorder, merge


def _entry(method: str, url: str, status: int, started: str, **extra) -> dict:
    return {
        "startedDateTime": started,
        "time": 1.0,
        "request": {"method": method, "url": url, "headers": []},
        "response": {"status": status, "headers": [], "content": {"mimeType": "application/json"}},
        **extra,
    }


def test_entries_get_route_case_and_check(tmp_path):
    recorder = CorpusRecorder(tmp_path, part="gw0")
    ok = _entry("GET", "http://h/api/v3/users/abcdefghijklmnopqrstuvwxyz/get", 200, "2026-01-01T00:00:01Z")
    ok["_case"] = "ok"
    bad = _entry("GET", "http://h/api/v3/users/zzzzzzzzzzzzzzzzzzzzzzzzzz/get", 400, "2026-01-01T00:00:02Z")
    recorder.add([ok, bad], check="errors.bad_input", route="GET /api/v3/users/{user_id}/get", group="users")
    other = CorpusRecorder(tmp_path, part="gw1")
    # the same shared success exchange, recorded again by another check
    other.add([ok], check="headers.request_id", group="users")
    other.add(
        [_entry("POST", "http://h/api/v3/general/ping", 404, "2026-01-01T00:00:00Z")],
        check="errors.wrong_method",
        route="GET /api/v3/general/ping",
        group="general",
    )
    summary = merge(tmp_path, {"Server version": "4.9.0"})
    assert summary["entries"] == 3 and summary["groups"] == {"general": 1, "users": 2}
    assert not (tmp_path / corpus_recorder.PARTS).exists()
    users = json.loads((tmp_path / "users.har").read_text())["log"]["entries"]
    assert [(e["_route"], e["_case"], e["_check"]) for e in users] == [
        ("/api/v3/users/{user_id}/get", "ok", "errors.bad_input"),
        ("/api/v3/users/{user_id}/get", "bad_input", "errors.bad_input"),
    ]
    (wrong,) = json.loads((tmp_path / "general.har").read_text())["log"]["entries"]
    assert wrong["_route"] == "/api/v3/general/ping" and "no catalogue route" in wrong["_note"]
    loaded = load_corpus(tmp_path)  # the corpus loader reads what the recorder writes
    assert [e.case for e in loaded] == ["other", "ok", "bad_input"]


def test_rate_limit_bursts_keep_their_ends(tmp_path):
    burst = [
        _entry(
            "GET",
            "http://h/api/v3/general/ping",
            429 if i > 150 else 200,
            f"2026-01-01T00:00:{i:02d}.{i:03d}Z",
        )
        for i in range(160)
    ]
    CorpusRecorder(tmp_path).add(burst, check="ratelimit.exceeding", burst=True, group="general")
    summary = merge(tmp_path)
    assert summary["groups"] == {"ratelimit": 2 * corpus_recorder.KEPT_PER_BURST}
    assert summary["statuses"]["429"] == 9


def test_big_json_lists_are_cut_to_their_first_items_and_client_headers_dropped(tmp_path):
    sessions = [{"id": f"{i:026d}", "props": {"os": "Linux"}, "token": "<redacted>"} for i in range(60)]
    posts = {
        "order": [f"{i:026d}" for i in range(40)],
        "posts": {f"{i:026d}": {"message": "m"} for i in range(40)},
    }
    big = _entry(
        "GET", "http://h/api/v3/users/abcdefghijklmnopqrstuvwxyz/sessions", 200, "2026-01-01T00:00:01Z"
    )
    big["request"]["headers"] = [
        {"name": "User-Agent", "value": "x"},
        {"name": "Authorization", "value": "<redacted>"},
    ]
    big["response"]["content"]["text"] = json.dumps(sessions)
    page = _entry("GET", "http://h/api/v3/users/me", 200, "2026-01-01T00:00:02Z")
    page["response"]["content"]["text"] = json.dumps(posts)
    small = _entry("GET", "http://h/api/v3/users/me", 200, "2026-01-01T00:00:03Z")
    small["response"]["content"]["text"] = json.dumps(sessions[:2])
    CorpusRecorder(tmp_path).add([big, page, small], check="schema.success_body", group="users")
    merge(tmp_path)
    first, second, third = json.loads((tmp_path / "users.har").read_text())["log"]["entries"]
    assert [h["name"] for h in first["request"]["headers"]] == ["Authorization"]
    assert json.loads(first["response"]["content"]["text"]) == sessions[: corpus_recorder.KEPT_ITEMS]
    assert "cut to their first" in first["response"]["content"]["comment"]
    cut = json.loads(second["response"]["content"]["text"])
    assert len(cut["order"]) == len(cut["posts"]) == corpus_recorder.KEPT_ITEMS
    assert json.loads(third["response"]["content"]["text"]) == sessions[:2]
    assert "comment" not in third["response"]["content"]
