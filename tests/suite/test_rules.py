"""The suite's building blocks without a server: the rules over answers, the matrix, the known
deviations and the report attachments."""

from __future__ import annotations

import json

import pytest

from mmv3.checks import app_error_shape, expect_app_error
from mmv3.checks.errors import catch_all_404
from mmv3.checks.ratelimit import Sustained, header_problems
from mmv3.client import Response
from mmv3.ratelimit import GCRA, Quota
from mmv3.suite import allure_results, expectations
from mmv3.suite.matrix import Matrix, Result

RID = "abcdefghijklmnopqrstuvwxyz"


def answer(status=400, body=None, *, content_type="application/json", headers=(), raw=None) -> Response:
    content = raw if raw is not None else json.dumps(body).encode()
    items = [("Content-Type", content_type), *headers] if content_type else list(headers)
    return Response(
        method="GET", url="http://127.0.0.1:1/api/v3/x", status=status, header_items=items, content=content
    )


def app_error(status=400, **changes):
    body = {"id": "api.context.invalid_param.app_error", "message": "Invalid", "detailed_error": "",
            "request_id": RID, "status_code": status}  # fmt: skip
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_a_proper_app_error_has_no_shape_problem():
    assert app_error_shape(answer(400, app_error(), headers=[("X-Request-Id", RID)])) == []


@pytest.mark.parametrize(
    ("response", "phrase"),
    [
        (
            answer(400, app_error(detailed_error=None), headers=[("X-Request-Id", RID)]),
            "lacks `detailed_error`",
        ),
        (
            answer(400, app_error(status_code=200), headers=[("X-Request-Id", RID)]),
            "differs from the HTTP status",
        ),
        (answer(400, app_error(), headers=[("X-Request-Id", "z" * 26)]), "differs from X-Request-Id"),
        (
            answer(400, app_error(), content_type="text/plain", headers=[("X-Request-Id", RID)]),
            "not application/json",
        ),
        (answer(500, raw=b""), "not JSON"),
    ],
)
def test_app_error_shape_names_each_defect(response, phrase):
    assert any(phrase in problem for problem in app_error_shape(response)), app_error_shape(response)


def test_expect_app_error_wants_status_and_id():
    expired = answer(401, app_error(401, id="api.context.session_expired.app_error"))
    assert expect_app_error(expired, 401, "api.context.session_expired.app_error") == []
    assert expect_app_error(answer(200, {"id": "x"}), 401) == ["expected 401, got 200 application/json"]
    assert expect_app_error(expired, 403)


def test_catch_all_404_is_text_plain_json_without_request_id():
    body = {"id": "api.context.404.app_error", "message": "Sorry", "detailed_error": "x", "status_code": 404}
    good = answer(404, body, content_type="text/plain; charset=utf-8")
    assert catch_all_404(good, "/api/v3/nope") == []
    as_json = answer(404, {**body, "request_id": RID}, headers=[("X-Request-Id", RID)])
    problems = catch_all_404(as_json, "/api/v3/nope")
    assert any("text/plain" in p for p in problems) and any("X-Request-Id" in p for p in problems)
    assert catch_all_404(answer(405, raw=b"Method Not Allowed"), "/x")[0].endswith("got 405 application/json")


def test_rate_limit_header_rules():
    ok = answer(
        200,
        {},
        headers=[("X-Ratelimit-Limit", "21"), ("X-Ratelimit-Remaining", "20"), ("X-Ratelimit-Reset", "1")],
    )
    assert header_problems(ok, 21) == []
    assert header_problems(ok, 101) == ["X-Ratelimit-Limit is 21 here but 101 elsewhere"]
    epoch = answer(200, {}, headers=[("X-Ratelimit-Limit", "21"), ("X-Ratelimit-Remaining", "3"),
                                     ("X-Ratelimit-Reset", "1795712380")])  # fmt: skip
    assert "Unix timestamp" in header_problems(epoch, 21)[0]
    assert "missing" in header_problems(answer(200, {}), None)[0]
    over = answer(
        200,
        {},
        headers=[("X-Ratelimit-Limit", "21"), ("X-Ratelimit-Remaining", "21"), ("X-Ratelimit-Reset", "1")],
    )
    assert "outside 0..Limit-1" in header_problems(over, 21)[0]


def test_gcra_oracle_predicts_a_steady_stream():
    # 50 requests/s into a 10/s limiter with burst 4: 5 at once, then one per 100 ms.
    sent = [i / 50 for i in range(100)]
    stream = Sustained(sent=sent, accepted_at=[], window=2.0, rate_hint=10.0)
    predicted = stream.predicted(Quota(per_sec=10, max_burst=4))
    assert 5 + 19 <= predicted <= 5 + 21


def test_sustained_rate_is_read_after_the_burst_is_spent():
    # 60 requests/s into a 10/s limiter with burst 100: the burst's fast acceptances must not
    # count toward the steady rate (they once did, and a large burst read as 17/s).
    sent = [i / 60 for i in range(360)]
    model = GCRA(Quota(per_sec=10, max_burst=100))
    accepted, first_denied = [], None
    for t in sent:
        if model.take("k", now=t + 1000.0).allowed:
            accepted.append(t)
        elif first_denied is None:
            first_denied = t
    stream = Sustained(sent=sent, accepted_at=accepted, window=3.0, rate_hint=10.0, first_denied=first_denied)
    assert 9.5 <= stream.rate <= 10.5
    assert Sustained(sent=sent, accepted_at=accepted, window=3.0, rate_hint=10.0).rate == 0.0


def test_matrix_cell_is_the_worst_check():
    matrix = Matrix()
    matrix.add(Result("GET /a", "users", "auth", "auth.no_token", "passed"))
    matrix.add(Result("GET /a", "users", "auth", "auth.revoked", "failed", "got 200"))
    matrix.add(Result("GET /a", "users", "schema", "schema.success_body", "xfailed", "known"))
    assert matrix.cells() == {"GET /a": {"auth": "failed", "schema": "xfailed"}}
    text = matrix.as_markdown({"Target": "x"})
    assert "| `GET /a` | FAIL | xfail |" in text and "got 200" in text
    assert [r.check for r in matrix.failures()] == ["auth.revoked"]
    assert any("auth" in line and "1 failed" in line for line in matrix.summary_lines())


def test_the_summary_says_which_routes_were_not_applicable_and_why():
    """`errors 1/3 routes conform` while nothing failed: the other two skipped every check, and the
    summary says so with the reasons (issue #15, item 10)."""
    matrix = Matrix()
    matrix.add(Result("GET /a", "users", "errors", "errors.bad_input", "passed"))
    matrix.add(Result("GET /b", "users", "errors", "errors.bad_input", "skipped", "takes no input"))
    matrix.add(Result("GET /c", "users", "errors", "errors.bad_input", "skipped", "takes no input"))
    matrix.add(Result("GET /c", "users", "errors", "errors.unknown_id", "skipped", "no id"))
    matrix.add(Result("GET /a", "users", "auth", "auth.no_token", "skipped", "public"))
    matrix.add(Result("GET /a", "users", "auth", "auth.revoked", "passed"))
    lines = matrix.summary_lines()
    errors = lines.index(next(line for line in lines if line.startswith("errors")))
    assert "1/3   routes conform" in lines[errors]
    assert lines[errors + 1].split()[:3] == ["2", "routes", "not"], lines
    assert "2 × takes no input; 1 × no id" in lines[errors + 1]
    # a route where some check of the family ran is not "not applicable"
    auth = next(line for line in lines if line.startswith("auth"))
    assert "1/1" in auth and not lines[lines.index(auth) + 1].startswith(" ")


def test_expectations_file(tmp_path):
    path = tmp_path / "expect.yaml"
    path.write_text(
        "deviations:\n"
        "  - {route: 'POST /api/v3/users/revoke_session', check: auth.regular_user_refused, reason: hole}\n"
        "  - {route: 'GET /api/v3/teams/*', check: errors, reason: lenient}\n"
    )
    loaded = expectations.load(path)
    assert loaded.reason("POST /api/v3/users/revoke_session", "auth.regular_user_refused") == "hole"
    assert loaded.reason("POST /api/v3/users/revoke_session", "auth.no_token") is None
    assert loaded.reason("GET /api/v3/teams/{team_id}/me", "errors.bad_input") == "lenient"
    path.write_text("deviations:\n  - {route: 'GET /x', check: nosuchfamily.x, reason: r}\n")
    with pytest.raises(expectations.ExpectationsError, match="not in a family"):
        expectations.load(path)
    path.write_text("deviations:\n  - {route: 'GET /x', check: auth}\n")
    with pytest.raises(expectations.ExpectationsError, match="lacks reason"):
        expectations.load(path)


def test_the_shipped_49_expectations_load():
    loaded = expectations.load(expectations.bundled())
    assert loaded.deviations and all(d.reason for d in loaded.deviations)


def test_curl_line_replays_without_the_secret():
    entry = {
        "request": {
            "method": "POST",
            "url": "http://127.0.0.1:8065/api/v3/users/update",
            "headers": [
                {"name": "Authorization", "value": "<redacted>"},
                {"name": "Content-Type", "value": "application/json"},
            ],
            "postData": {"mimeType": "application/json", "text": '{"nickname":"it\'s me"}'},
        }
    }
    line = allure_results.curl(entry)
    assert '"Authorization: Bearer $MMV3_TOKEN"' in line
    assert "--data-raw" in line and "it'\"'\"'s me" in line
    assert "<redacted>" not in line


class _FakeProbe:
    """Just enough of a Probe for the schema check: a canned success answer."""

    def __init__(self, answer: Response, *, strict: bool) -> None:
        self.answer, self.strict, self.notes = answer, strict, []

    def success(self, operation):
        return self.answer

    def note(self, text: str) -> None:
        self.notes.append(text)


def _ping_answer(**extra) -> Response:
    return answer(200, {"server_time": "1795712380653", "version": "4.9.0", **extra})


def test_schema_drift_is_reported_and_fails_only_when_strict():
    from mmv3.catalog import load_catalog
    from mmv3.checks.schema import success_body

    ping = load_catalog().get("GET", "/api/v3/general/ping")
    relaxed = _FakeProbe(_ping_answer(brand_new_field=1), strict=False)
    assert success_body.run(ping, relaxed) == []
    assert any("brand_new_field" in note for note in relaxed.notes)
    strict = _FakeProbe(_ping_answer(brand_new_field=1), strict=True)
    assert any("brand_new_field" in problem for problem in success_body.run(ping, strict))
    wrong = _FakeProbe(answer(200, {"server_time": 1795712380653, "version": "4.9.0"}), strict=False)
    assert success_body.run(ping, wrong), "a number where the schema wants a string must fail"
