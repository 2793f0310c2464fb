"""Version-dependent rules read from the source at each release (schemas/versions.json): each version
exception is shown to hold where the source says it does, and the check still fails on a server of
that version with the fault it guards against."""

from __future__ import annotations

import json
import sys

import pytest

from mmv3 import versions
from mmv3.catalog import SYSTEM_PERMISSIONS_ID, load_catalog
from mmv3.checks import PERMISSIONS, expect_app_error
from mmv3.checks.auth import _clears_cookies, cleared_cookies
from mmv3.checks.headers import etag, version_id
from mmv3.client import Response
from mmv3.paths import REPO_ROOT
from mmv3.suite import preflight

MD5 = "83704a934c37310f04051d463c957d07"


def answer(status=200, body=None, *, headers=()) -> Response:
    return Response(
        method="GET",
        url="http://127.0.0.1:1/api/v3/users/me",
        status=status,
        header_items=[("Content-Type", "application/json"), *headers],
        content=b"" if body is None else json.dumps(body).encode(),
    )


class Probe:
    """A target of `profile_version` that answers the success call with `success` and every other
    call with `others` in turn."""

    def __init__(self, profile_version, success=None, others=(), version=None):
        self.profile_version = profile_version
        self.version = version or profile_version
        self.answer, self.others = success, list(others)

    def success(self, operation):
        return self.answer

    def send(self, call):
        return self.others.pop(0)

    def caller(self, operation):
        return "user"


def op(method, template, version=None):
    return load_catalog().as_of(version).get(method, template)


# ------------------------------------------------------------------------------ the derived facts
def test_the_facts_of_3_4_and_3_10_as_the_source_has_them():
    old, new = versions.profile("3.4.0"), versions.profile("3.10.3")
    assert old.behaviour("version_id") == {"version.build.hash"}
    assert new.behaviour("version_id") == {"version.build.hash.licensed"}
    assert old.behaviour("cleared_cookies") == {"MMAUTHTOKEN"}
    assert new.behaviour("cleared_cookies") == {"MMAUTHTOKEN MMUSERID"}
    assert old.behaviour("etag_on_304") == {False} and new.behaviour("etag_on_304") == {True}
    assert old.wrapper("GET /api/v3/users/me") == "ApiAppHandler"
    assert new.wrapper("GET /api/v3/users/me") == "ApiUserRequired"
    # 3.10.0 ... 3.10.2 serve /teams/all without a session, 3.10.3 with one: a 3.10.0 report
    # cannot tell them apart, so the catalogue's level stays.
    assert versions.profile("3.10.0").wrapper("GET /api/v3/teams/all") is None
    assert versions.profile(None).behaviour("version_id") == frozenset()


def test_the_catalogue_as_of_3_4():
    assert op("GET", "/api/v3/users/me", "3.4.0").auth == "none"
    assert op("GET", "/api/v3/users/me", "4.9.0").auth == "session"
    assert op("GET", "/api/v3/users/websocket", "3.4.0").auth == "session"
    logs = op("GET", "/api/v3/admin/logs", "3.4.0")
    assert (logs.auth, logs.admin_refusal_id) == ("system_admin", SYSTEM_PERMISSIONS_ID)
    # ApiAdminSystemRequired refuses before the handler's own check, with the usual id.
    assert op("GET", "/api/v3/admin/cluster_status", "3.4.0").admin_refusal_id is None
    assert op("GET", "/api/v3/admin/logs", "3.10.3").admin_refusal_id is None
    assert op("GET", "/api/v3/users/{user_id}/image", "3.4.0").etag is False
    assert op("GET", "/api/v3/users/{user_id}/image", "3.10.3").etag is True
    assert load_catalog().as_of(None) is load_catalog()


def test_the_tool_reads_the_behaviour_from_go_source():
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    try:
        import derive_versions as tool
    finally:
        sys.path.pop(0)
    api = {
        "context.go": (
            "func (c *Context) ServeHTTP() {\n"
            '\tw.Header().Set(model.HEADER_VERSION_ID, fmt.Sprintf("%v.%v.%v", model.CurrentVersion, '
            "model.BuildNumber, utils.CfgHash))\n}\n"
            "func (c *Context) RemoveSessionCookie(w http.ResponseWriter, r *http.Request) {\n"
            "\tcookie := &http.Cookie{\n\t\tName: model.SESSION_COOKIE_TOKEN,\n\t}\n}\n"
        ),
        "api.go": (
            "func HandleEtag(etag string, w http.ResponseWriter, r *http.Request) bool {\n"
            "\tw.WriteHeader(http.StatusNotModified)\n\treturn true\n}\n"
        ),
    }
    models = {
        "session.go": 'const (\n\tSESSION_COOKIE_TOKEN = "MMAUTHTOKEN"\n\tSESSION_COOKIE_USER = "MMUSERID"\n)\n'
    }
    assert tool.version_id_format(api) == "version.build.hash"
    assert tool.cleared_cookies(api, models) == "MMAUTHTOKEN"
    assert tool.etag_on_304(api) is False
    assert tool.runs(["a", "a", None, "b"], ["v3.0.0", "v3.1.0", "v3.2.0", "v3.3.0"]) == [
        {"since": "3.0.0", "until": "3.1.0", "value": "a"},
        {"since": "3.3.0", "until": None, "value": "b"},
    ]


# ------------------------------------------------------------------------------ X-Version-Id
def test_version_id_form_by_version():
    route = op("GET", "/api/v3/users/me")
    three_parts = answer(headers=[("X-Version-Id", f"3.4.0.3.4.0.{MD5}")])
    assert version_id.run(route, Probe("3.4.0", three_parts)) == []
    # The same form is a fault on a release that prints the licensed flag.
    assert "does not read" in version_id.run(route, Probe("4.9.0", three_parts, version="3.4.0"))[0]
    # And 3.4 still fails a header that is not its form, or names another version.
    garbled = answer(headers=[("X-Version-Id", "3.4.0.3.4.0.nothex")])
    assert "<version>.<build>.<md5>" in version_id.run(route, Probe("3.4.0", garbled))[0]
    other = answer(headers=[("X-Version-Id", f"3.5.0.3.5.0.{MD5}")])
    assert "names version 3.5.0" in version_id.run(route, Probe("3.4.0", other))[0]


def test_preflight_reads_the_older_forms():
    assert preflight.parse_version_id(f"3.4.0.3.4.0.{MD5}") == {
        "version": "3.4.0",
        "build": "3.4.0",
        "hash": MD5,
    }
    assert preflight.parse_version_id(f"4.9.0.4.9.0.{MD5}.false")["licensed"] == "false"


# ------------------------------------------------------------------------------ cookies cleared
def _cleared(*names):
    return answer(401, headers=[("Set-Cookie", f"{n}=; Path=/; Max-Age=0; HttpOnly") for n in names])


def test_a_refused_token_clears_the_cookies_of_its_version():
    assert cleared_cookies(Probe("3.4.0")) == ("MMAUTHTOKEN",)
    assert cleared_cookies(Probe("3.10.3")) == ("MMAUTHTOKEN", "MMUSERID")
    only_token = _cleared("MMAUTHTOKEN")
    assert _clears_cookies(only_token, cleared_cookies(Probe("3.4.0"))) == []
    assert _clears_cookies(only_token, cleared_cookies(Probe("3.10.3"))) == [
        "no Set-Cookie clearing MMUSERID"
    ]
    # A 3.4 that does not clear even MMAUTHTOKEN still fails.
    assert _clears_cookies(_cleared(), cleared_cookies(Probe("3.4.0"))) == [
        "no Set-Cookie clearing MMAUTHTOKEN"
    ]


# ------------------------------------------------------------------------------ admin refusal id
def test_the_admin_refusal_id_of_3_4_handlers():
    refusal = answer(403, {"id": SYSTEM_PERMISSIONS_ID, "message": "m", "detailed_error": "",
                           "request_id": "", "status_code": 403})  # fmt: skip
    logs_34 = op("GET", "/api/v3/admin/logs", "3.4.0")
    assert expect_app_error(refusal, 403, logs_34.admin_refusal_id or PERMISSIONS) == []
    logs_49 = op("GET", "/api/v3/admin/logs", "4.9.0")
    assert expect_app_error(refusal, 403, logs_49.admin_refusal_id or PERMISSIONS)
    # 3.4 letting the member through is still a failure.
    assert expect_app_error(answer(200, {}), 403, logs_34.admin_refusal_id or PERMISSIONS)


# ------------------------------------------------------------------------------ Etag on a 304
@pytest.mark.parametrize(("version", "fails"), [("3.4.0", False), ("3.10.3", True)])
def test_a_304_without_etag_is_a_fault_only_from_3_6(version, fails):
    route = op("GET", "/api/v3/users/me", version)
    success = answer(200, {}, headers=[("Etag", "3.4.0.x.1")])
    probe = Probe(version, success, [answer(200, {}), answer(304)])
    problems = etag.run(route, probe)
    assert bool(problems) is fails, problems
    # A 3.4 that answers 200 to a matching If-None-Match still fails.
    probe = Probe(version, success, [answer(200, {}), answer(200, {}), answer(200, {}), answer(200, {})])
    assert any("expected 304" in p for p in etag.run(route, probe))


# ------------------------------------------------------------------------------ null lists, file types
def test_an_empty_post_list_may_be_null_only_where_the_source_leaves_it_nil():
    from mmv3.schemas import default_registry

    empty = {"order": None, "posts": None}
    assert default_registry().for_version("3.10.3").validate(empty, "PostList") == []
    assert default_registry().for_version("3.4.0").validate(empty, "PostList") == []
    assert default_registry().for_version("4.9.0").validate(empty, "PostList"), "4.9 sends [] and {}"
    # Where null is allowed, anything else that is not a list still fails.
    assert default_registry().for_version("3.10.3").validate({"order": "x", "posts": None}, "PostList")


def test_previews_are_octet_stream_from_3_5_to_4_0():
    from mmv3.checks.schema import success_body

    preview = ("GET", "/api/v3/files/{file_id}/get_preview")
    assert op(*preview, "3.10.3").response_content_type == "application/octet-stream"
    assert op(*preview, "4.9.0").response_content_type == "image/jpeg"
    untyped = Response(method="GET", url="http://127.0.0.1:1/x", status=200,
                       header_items=[("Content-Type", "application/octet-stream")], content=b"\xff\xd8")  # fmt: skip

    class Files(Probe):
        strict = False

        def note(self, text):
            pass

    assert success_body.run(op(*preview, "3.10.3"), Files("3.10.3", untyped)) == []
    assert success_body.run(op(*preview, "4.9.0"), Files("4.9.0", untyped)), "4.9 sends image/jpeg"
