"""The route catalogue (schemas/openapi.yaml + mmv3.catalog): complete, valid, and routing like gorilla/mux."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from mmv3 import paths
from mmv3.catalog import AUTH_LEVELS, Catalog, CatalogError, ExampleRequest, load_catalog
from mmv3.fidelity import CorpusEntry, load_corpus

ID = "c763u9gqxfgt3basq4iu3d6pcr"
TEAM = f"/api/v3/teams/{ID}"
CHANNELS = f"{TEAM}/channels"


def _routes_tsv() -> list[dict[str, str]]:
    lines = (paths.corpus_dir() / "routes.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line.strip()]


ROUTES = _routes_tsv()
CATALOG = load_catalog()
ENTRIES = load_corpus()


def _entry_id(entry: CorpusEntry) -> str:
    return f"{entry.group}.har#{entry.index} {entry.method} {entry.route} {entry.case}"


@pytest.fixture(scope="module")
def document() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(paths.openapi_path().read_text(encoding="utf-8"), Loader=loader)


# ------------------------------------------------------------------------------------ the document
def test_openapi_document_is_valid(document: dict) -> None:
    # base_uri lets the validator read models/*.json from disk (relative $refs); nothing is fetched.
    validate_openapi(document, base_uri=paths.openapi_path().resolve().as_uri())
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/"}]


def test_model_references_exist(document: dict) -> None:
    refs = set(re.findall(r"models/([A-Za-z]+)\.json", json.dumps(document)))
    missing = sorted(name for name in refs if not (paths.models_dir() / f"{name}.json").exists())
    assert refs and not missing, f"openapi.yaml refers to missing models: {missing}"


def test_operations_are_exactly_the_routes_of_routes_tsv() -> None:
    expected = [(r["method"], r["template"]) for r in ROUTES]
    assert len(expected) == 187
    assert [(op.method, op.template) for op in CATALOG.operations] == expected


def test_operation_ids_are_unique_snake_case() -> None:
    ids = [op.operation_id for op in CATALOG.operations]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", i) for i in ids), ids


def test_dispatch_order_lists_every_operation_once() -> None:
    assert sorted(op.key for op in CATALOG.dispatch_order) == sorted(op.key for op in CATALOG.operations)


@pytest.mark.parametrize("row", ROUTES, ids=lambda r: f"{r['method']} {r['template']}")
def test_metadata_follows_routes_tsv(row: dict[str, str]) -> None:
    op = CATALOG.get(row["method"], row["template"])
    assert op.group == row["group"]
    assert op.wrapper == row["wrapper"]
    assert op.trusted == ("TrustRequester" in row["wrapper"])
    assert op.auth in AUTH_LEVELS
    expected_auth = {
        "ApiUserRequiredMfa": "session-mfa-exempt",
        "AppHandlerIndependent": "web",
    }.get(row["wrapper"])
    if expected_auth is None:
        if row["wrapper"].startswith("ApiAdminSystemRequired"):
            expected_auth = "system_admin"
        elif row["wrapper"].startswith("ApiUserRequired"):
            expected_auth = "session"
        else:
            expected_auth = "none"
    assert op.auth == expected_auth
    assert op.summary
    assert op.session_required == (op.auth in ("session", "session-mfa-exempt", "system_admin"))
    if op.auth == "system_admin":
        assert op.permission == "manage_system" and 403 in op.error_statuses
    if op.session_required:
        assert 401 in op.error_statuses
    if op.auth != "web":
        assert 501 in op.error_statuses  # EnableAPIv3=false
    for param in op.path_params:
        assert (
            param.required and param.pattern and param.pattern.startswith("^") and param.pattern.endswith("$")
        )


def test_success_statuses_and_types() -> None:
    odd = {
        op.operation_id: (op.success_status, op.response_content_type)
        for op in CATALOG.operations
        if op.success_status != 200
    }
    assert odd == {
        "oauth_sso_login": (302, "text/html"),
        "oauth_sso_signup": (302, "text/html"),
        "saml_login": (302, "text/html"),
        "saml_complete": (302, ""),
        "websocket_connect": (101, ""),
    }
    json_ops = [op for op in CATALOG.operations if op.response_content_type == "application/json"]
    assert all(op.response_schema for op in json_ops)


def test_etag_routes_are_those_of_the_reference() -> None:
    assert sorted(op.operation_id for op in CATALOG.operations if op.etag) == sorted(
        [
            "users_get_me", "users_get", "users_get_by_username", "users_get_by_email", "users_list",
            "users_list_in_team", "users_list_audits", "users_get_image", "teams_get", "channels_list",
            "channels_get_counts", "channels_get", "channels_get_by_name", "posts_list_page", "posts_get_thread",
            "posts_get_by_id", "posts_get_permalink", "posts_list_before", "posts_list_after",
            "posts_get_file_infos", "license_get_client_config", "admin_get_audits",
        ]
    )  # fmt: skip


def test_requirements_use_the_declared_vocabulary(document: dict) -> None:
    vocabulary = set(document["x-mmv3-requirements"])
    used = {r for op in CATALOG.operations for r in op.requires}
    assert used <= vocabulary
    assert CATALOG.get("emoji_list").requires == ("custom_emoji",)
    assert "smtp" in CATALOG.get("admin_test_email").requires


def test_summary_counts() -> None:
    summary = CATALOG.summary()
    assert summary["total"] == 187
    assert sum(summary["groups"].values()) == sum(summary["auth"].values()) == 187
    per_group: dict[str, int] = {}
    for row in ROUTES:
        per_group[row["group"]] = per_group.get(row["group"], 0) + 1
    assert summary["groups"] == dict(sorted(per_group.items()))
    assert {g: len(ops) for g, ops in CATALOG.groups().items()} == per_group


# ------------------------------------------------------------------------------------ routing
@pytest.mark.parametrize("entry", ENTRIES, ids=_entry_id)
def test_every_recorded_request_routes_to_its_operation(entry: CorpusEntry) -> None:
    found = CATALOG.match(entry.method, f"http://127.0.0.1:8065{entry.target}")
    assert found is not None, f"{entry.method} {entry.target} is not routed"
    op, params = found
    assert op.template == entry.route
    assert op.path(**params) == entry.target.split("?", 1)[0]


def test_wrong_method_is_not_routed() -> None:
    assert CATALOG.match("GET", "/api/v3/users/login") is None
    assert CATALOG.match("POST", "/api/v3/users/me") is None
    assert CATALOG.match("DELETE", "/api/v3/users/me") is None
    assert CATALOG.match("HEAD", "/api/v3/general/ping") is None
    assert CATALOG.match("PUT", f"{CHANNELS}/create") is None
    for op in CATALOG.operations:
        other = "GET" if op.method == "POST" else "POST"
        found = CATALOG.match(other, op.example_request().path)
        assert found is None or found[0].method == other


def test_method_is_case_insensitive() -> None:
    assert CATALOG.match("get", "/api/v3/users/me")[0].operation_id == "users_get_me"


def test_trailing_slash_routes_need_the_slash() -> None:
    assert CATALOG.match("GET", "/api/v3/preferences/")[0].operation_id == "preferences_list"
    assert CATALOG.match("GET", "/api/v3/preferences") is None
    assert CATALOG.match("GET", f"{CHANNELS}/")[0].operation_id == "channels_list"
    assert CATALOG.match("GET", CHANNELS) is None
    assert CATALOG.match("GET", f"{CHANNELS}/{ID}/")[0].operation_id == "channels_get"
    assert CATALOG.match("GET", f"{CHANNELS}/{ID}") is None
    assert CATALOG.match("GET", "/api/v3/users/me/") is None


def _routed(method: str, path: str) -> tuple[str, dict[str, str]]:
    found = CATALOG.match(method, path)
    assert found is not None, f"{method} {path} is not routed"
    return found[0].operation_id, found[1]


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "params"),
    [
        # sub-routers first: /users/{user_id}/... wins over /users/name/{username} and /users/email/{email}
        ("GET", "/api/v3/users/name/get", "users_get", {"user_id": "name"}),
        ("GET", "/api/v3/users/name/sessions", "users_list_sessions", {"user_id": "name"}),
        ("GET", "/api/v3/users/name/audits", "users_list_audits", {"user_id": "name"}),
        ("GET", "/api/v3/users/name/image", "users_get_image", {"user_id": "name"}),
        ("POST", "/api/v3/users/name/update_roles", "users_update_roles", {"user_id": "name"}),
        ("GET", "/api/v3/users/email/get", "users_get", {"user_id": "email"}),
        # update_roles is POST-only: a GET skips it and reaches the username route
        ("GET", "/api/v3/users/name/update_roles", "users_get_by_username", {"username": "update_roles"}),
        ("GET", "/api/v3/users/name/jane.doe-1", "users_get_by_username", {"username": "jane.doe-1"}),
        # /channels/{channel_id}/... wins over /channels/name/{channel_name}
        ("GET", f"{CHANNELS}/name/stats", "channels_get_stats", {"team_id": ID, "channel_id": "name"}),
        (
            "GET",
            f"{CHANNELS}/name/pinned",
            "channels_get_pinned_posts",
            {"team_id": ID, "channel_id": "name"},
        ),
        ("GET", f"{CHANNELS}/name/", "channels_get", {"team_id": ID, "channel_id": "name"}),
        ("POST", f"{CHANNELS}/name/join", "channels_join", {"team_id": ID, "channel_id": "name"}),
        (
            "GET",
            f"{CHANNELS}/name/town-square",
            "channels_get_by_name",
            {"team_id": ID, "channel_name": "town-square"},
        ),
        (
            "POST",
            f"{CHANNELS}/name/off_topic/join",
            "channels_join_by_name",
            {"team_id": ID, "channel_name": "off_topic"},
        ),
        # /teams/{team_id}/... wins over /teams/name/{team_name}
        ("GET", "/api/v3/teams/name/me", "teams_get", {"team_id": "name"}),
        ("GET", "/api/v3/teams/name/stats", "teams_get_stats", {"team_id": "name"}),
        ("GET", "/api/v3/teams/name/my-team", "teams_get_by_name", {"team_name": "my-team"}),
        # literal routes registered before a variable one win
        ("GET", "/api/v3/emoji/list", "emoji_list", {}),
        ("GET", "/api/v3/oauth/app/login", "oauth_get_app_info", {"client_id": "login"}),
        ("GET", "/api/v3/preferences/save", "preferences_list_category", {"category": "save"}),
        ("GET", f"{TEAM}/members/ids", "teams_get_member", {"team_id": ID, "user_id": "ids"}),
    ],
)
def test_shadowing_follows_gorilla_registration_order(
    method: str, path: str, operation_id: str, params: dict
) -> None:
    assert _routed(method, path) == (operation_id, params)


def test_variable_patterns_constrain_matching() -> None:
    assert CATALOG.match("GET", "/api/v3/users/abc/10") is None  # {offset} and {limit} are digits
    assert _routed("GET", "/api/v3/users/0/100") == ("users_list", {"offset": "0", "limit": "100"})
    assert CATALOG.match("GET", "/api/v3/users/a_b/get") is None  # ids are [A-Za-z0-9]+
    assert CATALOG.match("GET", f"{CHANNELS}/name/bad.name") is None  # channel names exclude '.'
    # {post_id} of /teams/{team_id}/posts/{post_id} has no pattern: any segment
    assert _routed("GET", f"{TEAM}/posts/a.b") == ("posts_get_by_id", {"team_id": ID, "post_id": "a.b"})
    # the legacy public-file name may span a '/'
    assert (
        _routed("GET", f"/api/v3/public/files/get/{ID}/{ID}/{ID}/abc/x.png?h=1")[1]["filename"] == "abc/x.png"
    )


def test_urls_queries_and_escapes() -> None:
    assert _routed("GET", "http://127.0.0.1:8065/api/v3/users/me?x=1#top")[0] == "users_get_me"
    assert _routed("GET", "/api/v3/users/email/a%40b.example")[1] == {"email": "a@b.example"}
    assert CATALOG.match("GET", "/api/v3/nothing/here") is None
    assert CATALOG.match("GET", "") is None


@pytest.mark.parametrize("path", ["/api/v3//users/me", "/api/v3/users/./me", "/api/v3/teams/../users/me"])
def test_unclean_paths_are_redirected_not_routed(path: str) -> None:
    assert CATALOG.match("GET", path) is None


def test_match_path_ignores_shadowing_and_method() -> None:
    op = CATALOG.get("users_get_by_username")
    assert op.match_path("/api/v3/users/name/get") == {"username": "get"}
    assert op.match_path("/api/v3/users/name/a/b") is None


# ------------------------------------------------------------------------------------ operations
def test_path_fills_and_escapes() -> None:
    op = CATALOG.get("users_get_by_email")
    assert op.path(email="a b@example.com") == "/api/v3/users/email/a%20b@example.com"
    with pytest.raises(KeyError, match="users_get_by_email: missing path parameter"):
        op.path()
    with pytest.raises(TypeError, match="unknown path parameter"):
        op.path(email="x", team_id="y")


@pytest.mark.parametrize("op", CATALOG.operations, ids=lambda op: op.key)
def test_example_request_renders_and_routes_back(op) -> None:
    request = op.example_request()
    assert isinstance(request, ExampleRequest)
    assert request.method == op.method
    assert _routed(request.method, request.path)[0] == op.operation_id
    assert {p.name for p in op.query_params if p.required} <= set(request.query)
    assert request.content_type == op.request_content_type
    if op.request_content_type == "application/json":
        schema = copy.deepcopy(op.request_schema)
        Draft202012Validator.check_schema(schema)
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(request.json)]
        assert not errors, errors
    elif op.request_content_type == "multipart/form-data":
        sent = set(request.form or {}) | set(request.files or {})
        assert set(op.request_schema.get("required", [])) <= sent
        assert request.files and all(
            isinstance(content, bytes) and content for _, content, _ in request.files.values()
        )
    elif op.request_content_type == "application/x-www-form-urlencoded":
        assert request.form


def test_example_request_takes_parameters() -> None:
    request = CATALOG.get("posts_create").example_request(team_id="t" * 26, channel_id="c" * 26)
    assert request.path == f"/api/v3/teams/{'t' * 26}/channels/{'c' * 26}/posts/create"
    assert request.json["channel_id"]
    assert request.url("http://127.0.0.1:8065/") == "http://127.0.0.1:8065" + request.path


def test_props_bodies_are_flagged() -> None:
    assert CATALOG.get("users_login").props_body
    assert not CATALOG.get("users_update_mfa").props_body  # typed JSON: activate must be a boolean
    assert not CATALOG.get("users_create").props_body


def test_get_by_id_and_by_route() -> None:
    op = CATALOG.get("users_login")
    assert CATALOG.get("POST", "/api/v3/users/login") is op
    assert CATALOG.by_route("post", "/api/v3/users/login") is op
    assert CATALOG.by_route("GET", "/api/v3/users/login") is None
    with pytest.raises(KeyError, match="no operation 'nope'"):
        CATALOG.get("nope")


# ------------------------------------------------------------------------------------ loading errors
def test_load_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalogue"):
        Catalog.load(tmp_path / "absent.yaml")


def test_load_reports_malformed_yaml_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "openapi.yaml"
    bad.write_text("openapi: 3.1.0\npaths: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        Catalog.load(bad)
    assert "not valid YAML" in str(info.value) and "\n" not in str(info.value)


def test_load_reports_inconsistent_document(tmp_path: Path, document: dict) -> None:
    broken = copy.deepcopy(document)
    del broken["paths"]["/api/v3/users/me"]["get"]["x-mmv3-auth"]
    with pytest.raises(CatalogError, match=r"GET /api/v3/users/me: x-mmv3-auth must be one of"):
        Catalog.from_document(broken)
    broken = copy.deepcopy(document)
    broken["x-mmv3-dispatch-order"] = broken["x-mmv3-dispatch-order"][1:]
    with pytest.raises(CatalogError, match="dispatch-order must list every operation once"):
        Catalog.from_document(broken)
    with pytest.raises(CatalogError, match="not an OpenAPI document"):
        Catalog.from_document(["not", "a", "mapping"])


# ------------------------------------------------------------------------------------ the command
def test_catalogue_command_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mmv3.cli", "catalogue", "--json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["routes"]) == 187
    assert data["summary"]["total"] == 187
    assert data["routes"][0] == {
        "operation_id": "admin_get_logs",
        "method": "GET",
        "path": "/api/v3/admin/logs",
        "group": "admin",
        "auth": "system_admin",
        "permission": "manage_system",
        "trusted": False,
        "requires": [],
        "etag": False,
        "success_status": 200,
        "error_statuses": [401, 403, 429, 501],
        "summary": CATALOG.operations[0].summary,
        "since": "3.0.0",
        "until": None,
    }


def test_catalogue_command_table(capsys: pytest.CaptureFixture[str]) -> None:
    from mmv3.cli import main

    assert main(["catalogue"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "187 routes"
    assert lines[1].startswith("per group: admin 25, channels 27")
    assert lines[2].startswith("per auth:  none ")
    routes = [line.split() for line in lines[4:]]
    assert len(routes) == 187
    assert routes[0] == ["GET", "/api/v3/admin/logs", "system_admin", "admin", "served", "3.0.0+"]
    assert ["POST", "/login/sso/saml", "web", "users", "served", "3.2.0+"] in routes
