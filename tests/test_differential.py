"""`mmv3 diff`: the normaliser, the comparison, the generated cases, and the runner end to end.

The runner is proven without a real server: a normal `mmv3 serve` stands in for the target, and
the fresh serve the runner starts gets a fault switch. No fault: no difference (exit 0); a fault:
the rule it breaks shows up as differences (exit 1), in the report too.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mmv3 import exitcodes
from mmv3.catalog import load_catalog
from mmv3.cli import main
from mmv3.differential.cases import BODY_VARIANTS, NO_VARIANTS, generate
from mmv3.differential.shape import compare, keys, mask, observe, shape_of
from mmv3.provision import NO_BODY, Call
from mmv3.server import running_server

A, B = "a" * 26, "b" * 26
JSON = [("Content-Type", "application/json"), ("X-Request-Id", A), ("Date", "x"), ("Content-Length", "9")]


def obs(body: object, status: int = 200, headers: list[tuple[str, str]] | None = None):
    return observe(status, headers if headers is not None else JSON, json.dumps(body).encode())


# -- normaliser ---------------------------------------------------------------------------------------
def test_values_ids_list_sizes_and_id_maps_are_normalised_away() -> None:
    one = {"id": A, "create_at": 1, "name": "x1", "order": [A], "posts": {A: {"id": A, "message": "m"}}}
    two = {"id": B, "create_at": 99, "name": "other", "order": [], "posts": {B: {"id": B, "message": ""}}}
    assert compare(obs(one), obs(two)) == []
    assert compare(obs([{"id": A}] * 3), obs([])) == []  # an empty list matches any list
    assert compare(obs({A: "online"}), obs({})) == []  # an empty object may be an empty id map
    assert shape_of({"notify_props": {"email": "true"}}) == {"object": {"notify_props": {"map": "string"}}}
    # Date, Content-Length and rate-limit headers carry values only
    other_headers = [("Content-Type", "application/json"), ("X-Request-Id", B), ("X-Ratelimit-Limit", "10")]
    assert compare(obs({}), obs({}, headers=other_headers)) == []


def test_what_must_agree_is_reported_one_phrase_each() -> None:
    assert compare(obs({"a": 1}), obs({"a": "1"})) == ["a type number ≠ string"]
    assert compare(obs({"a": 1, "b": 2}), obs({"a": 1, "c": 2})) == [
        "body fields: only real ['b'], only serve ['c']"
    ]
    assert compare(obs({}, 200), obs({}, 201)) == ["status 200 ≠ 201"]
    plain = [("Content-Type", "text/plain"), ("X-Request-Id", A)]
    assert compare(obs({}), obs({}, headers=plain)) == ["content type application/json ≠ text/plain"]
    assert compare(obs({}), obs({}, headers=JSON[:1])) == [
        "headers: only real ['X-Request-Id'], only serve []"
    ]
    err = {"id": "x.app_error", "message": "m", "detailed_error": "", "status_code": 400}
    assert compare(obs(err, 400), obs({**err, "id": "y.app_error"}, 400)) == [
        "error x.app_error/400 ≠ y.app_error/400"
    ]
    assert compare(obs(err, 400), obs({k: v for k, v in err.items() if k != "detailed_error"}, 400)) == [
        "body fields: only real ['detailed_error'], only serve []"
    ]
    nested = compare(obs({"u": [{"x": 1}, {"x": 2, "y": True}]}), obs({"u": [{"x": None}]}))
    assert nested == ["u[] fields: only real ['y'], only serve []", "u[].x type number ≠ null"]


def test_omitempty_fields_may_be_missing_but_keep_their_type() -> None:
    assert compare(obs({"id": A, "last_picture_update": 5}), obs({"id": B})) == []
    assert compare(obs({"last_picture_update": 5}), obs({"last_picture_update": "5"})) != []


def test_text_bodies_are_compared_with_ids_tokens_and_numbers_masked() -> None:
    text = [("Content-Type", "text/plain")]
    a = observe(200, text, f"ok {A} 12 s=MEUCIQDukrNpNMmNaRybNDMN".encode())
    b = observe(200, text, f"ok {B} 7 s=MEQCIAE-byVXNNQCyPpN_oiNRGNSLG".encode())
    assert compare(a, b) == []
    assert compare(a, observe(200, text, b"not ok")) == ["body text ≠ text"]
    assert mask(f"{A} 42") == "ID N" and keys({A: 1, "x": 2}) == ["ID", "x"]


# -- cases --------------------------------------------------------------------------------------------
def test_every_catalogue_route_gets_its_cases() -> None:
    catalog = load_catalog()
    cases = generate(catalog)
    routes = {c.route for c in cases}
    assert len(routes) == len(catalog.operations) == 187
    names = {c.name for c in cases}
    assert {"ok", "no_token", "bad_input", "null_values", "wrong_types", "unknown_field", "duplicate_keys",
            "case_keys", "trailing_data", "empty_body", "null_item", "query_empty", "query_unknown",
            "form_extra", "long_strings", "unicode", "number_overflow", "array_for_object",
            "forbidden"} <= names  # fmt: skip
    assert len(cases) > 900
    admin_writes = [c for c in cases if c.route == "POST /api/v3/admin/save_config"]
    assert {c.name for c in admin_writes} <= {"ok", "no_token", "bad_input", "forbidden"}
    assert not [c for c in cases if c.route in NO_VARIANTS and c.transform is not None]


def test_go_decoding_variants_build_the_bodies_go_reads() -> None:
    call = Call("POST", "/api/v3/x", json={"name": "n", "n": 1, "ok": True})

    def body(name: str) -> str:
        made = BODY_VARIANTS[name](call)
        assert made is not None and made.json is NO_BODY
        return made.data.decode()

    assert json.loads(body("null_values")) == {"name": None, "n": None, "ok": None}
    assert json.loads(body("wrong_types")) == {"name": 12345, "n": "1", "ok": "true"}
    assert json.loads(body("case_keys")) == {"NAME": "n", "N": 1, "OK": True}
    assert body("duplicate_keys").startswith('{"name": "mmv3-earlier","name": "n"')
    assert json.loads(body("duplicate_keys"))["name"] == "n"  # the later key wins, as in Go
    assert body("trailing_data").endswith('{"mmv3": "trailing"}')
    assert BODY_VARIANTS["null_item"](call) is None  # an object body has no items
    assert json.loads(body("number_overflow"))["n"] == 2**63  # beyond int64: Go cannot decode it
    assert body("array_for_object") == "[]"
    assert json.loads(body("long_strings"))["name"] == "n" + "x" * 300


def test_fuzz_cases_are_seeded_mutations_the_same_for_both_servers() -> None:
    from mmv3.differential.cases import fuzz_variant

    catalog = load_catalog()
    assert len(generate(catalog, fuzz=3)) - len(generate(catalog)) == 3 * sum(
        1 for c in generate(catalog) if c.name == "null_values"
    )
    call = Call("POST", "/api/v3/x", json={"a": "1", "b": 2, "c": True, "d": "x"}, label="POST /x fuzz_1")
    first, again = fuzz_variant(1)(call), fuzz_variant(1)(call)
    assert first is not None and again is not None and first.data == again.data
    bodies = {fuzz_variant(n)(call).data for n in range(1, 20)}
    assert len(bodies) > 15 and all(json.loads(b) != call.json for b in bodies)


def test_differences_where_49_is_broken_are_known_not_counted() -> None:
    from mmv3.differential.runner import Difference, Outcome

    outcome = Outcome()
    outcome.add(Difference("POST /api/v3/teams/{team_id}/posts/search", "bad_input", ["status 500 ≠ 400"]))
    outcome.add(Difference("POST /api/v3/teams/{team_id}/posts/search", "ok", ["status 500 ≠ 200"]))
    assert [d.case for d in outcome.known] == ["bad_input"] and "panics" in outcome.known[0].known
    assert [d.case for d in outcome.differences] == ["ok"]


# -- the runner ---------------------------------------------------------------------------------------
PASSWORDS = {"MMV3_PASSWORD": "Diff-user-pass-1", "MMV3_ADMIN_PASSWORD": "Diff-admin-pass-1"}


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    """A normal mmv3 serve standing in for the real target, with its admin and user."""
    with running_server(config={"TeamSettings": {"EnableOpenServer": True}}) as server:
        for name, env in (("diffadmin", "MMV3_ADMIN_PASSWORD"), ("diffuser", "MMV3_PASSWORD")):
            body = {"username": name, "email": f"{name}@example.com", "password": PASSWORDS[env]}
            assert (
                requests.post(f"{server.url}/api/v3/users/create", json=body, timeout=30).status_code == 200
            )
        yield server.url


def run_diff(monkeypatch: pytest.MonkeyPatch, url: str, *extra: str, env: dict | None = None) -> int:
    for name, value in (PASSWORDS if env is None else env).items():
        monkeypatch.setenv(name, value)
    return main(["diff", "--base-url", url, "--user", "diffuser", "--admin", "diffadmin", "--quiet", *extra])


def test_two_healthy_servers_do_not_differ(monkeypatch, capsys, target: str, tmp_path: Path) -> None:
    report = tmp_path / "diff.json"
    code = run_diff(monkeypatch, target, "--only", "/channels", "--report", str(report))
    out = capsys.readouterr().out
    assert code == exitcodes.OK, out
    assert "0 differences" in out.splitlines()[-1]
    summary = json.loads(report.read_text())["summary"]
    assert summary["compared"] > 100 and summary["differences"] == 0
    assert summary["requests"]["real"] == summary["requests"]["serve"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("headers-no-request-id", "headers: only real ['X-Request-Id']"),
        ("error-content-type", "content type application/json ≠ text/plain; charset=utf-8"),
        ("error-missing-field", "body fields: only real ['detailed_error']"),
    ],
)
def test_a_serve_fault_shows_up_as_differences(
    monkeypatch, capsys, target, tmp_path, fault, expected
) -> None:
    report = tmp_path / "diff.json"
    code = run_diff(
        monkeypatch, target, "--only", "/channels/create", "--serve-fault", fault, "--report", str(report)
    )
    out = capsys.readouterr().out
    assert code == exitcodes.CONFORMANCE_FAILED, out
    lines = [line for line in out.splitlines() if expected in line]
    assert lines and all(line.startswith(("POST", "GET")) and "[" in line for line in lines)
    data = json.loads(report.read_text())
    assert data["summary"]["differences"] == len(out.splitlines()) - 1
    assert any(expected in " ".join(d["differs"]) for d in data["differences"])
    text = report.read_text()
    assert all(secret not in text for secret in PASSWORDS.values())


def test_the_websocket_sequence_is_compared(monkeypatch, capsys, target, tmp_path) -> None:
    from mmv3.differential import runner

    seen = {}
    real_events = runner._events

    def spy(side):
        seen[side.name] = real_events(side)
        return seen[side.name]

    monkeypatch.setattr(runner, "_events", spy)
    monkeypatch.setattr(runner, "generate", lambda catalog, only, fuzz: [])  # the websocket sequence alone
    monkeypatch.setattr(runner, "_cases_or_usage", lambda cases, only: None)
    code = run_diff(monkeypatch, target, "--report", str(tmp_path / "d.json"))
    assert code == exitcodes.OK, capsys.readouterr().out
    events = [m.get("event") for m in seen["mmv3 serve"]]
    assert {"hello", "posted", "post_edited"} <= set(events)


def _garbage_server() -> tuple[str, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n<html")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


def test_bad_targets_and_usage_are_one_line_and_a_documented_code(monkeypatch, capsys, target) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{free.getsockname()[1]}"
    free.close()
    assert run_diff(monkeypatch, dead) == exitcodes.UNREACHABLE
    garbage, listener = _garbage_server()
    try:
        assert run_diff(monkeypatch, garbage) == exitcodes.NOT_V3
    finally:
        listener.close()
    assert (
        run_diff(monkeypatch, target, env={**PASSWORDS, "MMV3_PASSWORD": "wrong-Pass-1"})
        == exitcodes.CREDENTIALS
    )
    monkeypatch.delenv("MMV3_PASSWORD")
    assert main(["diff", "--base-url", target, "--user", "diffuser"]) == exitcodes.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("mmv3 diff: ") for line in err), err
    assert all(secret not in "\n".join(err) for secret in PASSWORDS.values())
