"""The model schemas and the schema registry (mmv3.schemas)."""

from __future__ import annotations

import json
import socket
import urllib.request
from functools import lru_cache
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mmv3 import paths
from mmv3.schemas import (
    BASE_URI,
    OPENAPI_URI,
    SchemaIssue,
    SchemaLoadError,
    SchemaRegistry,
    default_registry,
)

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
MODELS = SCHEMAS / "models"
MODEL_FILES = sorted(MODELS.glob("*.json"))
BCRYPT_HASH = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

# Which model each corpus route's 200 JSON body is (only for this test; the catalogue owns the full mapping).
ROUTE_MODELS = {
    ("POST", "/admin/add_certificate"): "StatusOK",
    ("GET", "/admin/analytics/{id}/{name}"): "AnalyticsRows",
    ("GET", "/admin/analytics/{name}"): "AnalyticsRows",
    ("GET", "/admin/audits"): "AuditList",
    ("GET", "/admin/cluster_status"): "ClusterInfoList",
    ("GET", "/admin/config"): "Config",
    ("GET", "/admin/invalidate_all_caches"): "StatusOK",
    ("POST", "/admin/ldap_sync_now"): "StatusOkLowercase",
    ("GET", "/admin/logs"): "LogLines",
    ("GET", "/admin/recently_active_users/{team_id}"): "UserMap",
    ("GET", "/admin/reload_config"): "StatusOK",
    ("POST", "/admin/remove_certificate"): "StatusOK",
    ("POST", "/admin/reset_password"): "StatusOkLowercase",
    ("GET", "/admin/saml_cert_status"): "SamlCertStatus",
    ("POST", "/admin/save_config"): "StatusOK",
    ("POST", "/admin/test_email"): "TestEmailResult",
    ("POST", "/emoji/create"): "Emoji",
    ("POST", "/emoji/delete"): "StatusOK",
    ("GET", "/emoji/list"): "EmojiList",
    ("GET", "/files/{file_id}/get_info"): "FileInfo",
    ("GET", "/files/{file_id}/get_public_link"): "PublicLink",
    ("GET", "/general/client_props"): "ClientConfig",
    ("POST", "/general/log_client"): "StatusOK",
    ("GET", "/general/ping"): "Ping",
    ("GET", "/license/client_config"): "ClientLicense",
    ("POST", "/license/remove"): "StatusOkLowercase",
    ("GET", "/oauth/allow"): "OAuthRedirect",
    ("GET", "/oauth/app/{client_id}"): "OAuthAppSanitized",
    ("GET", "/oauth/authorized"): "OAuthAppSanitizedList",
    ("POST", "/oauth/delete"): "StatusOK",
    ("GET", "/oauth/list"): "OAuthAppList",
    ("POST", "/oauth/register"): "OAuthApp",
    ("POST", "/oauth/{id}/deauthorize"): "StatusOK",
    ("POST", "/oauth/{id}/regen_secret"): "OAuthApp",
    ("GET", "/preferences/"): "PreferenceList",
    ("POST", "/preferences/delete"): "StatusOK",
    ("POST", "/preferences/save"): "BooleanResult",
    ("GET", "/preferences/{category}"): "PreferenceList",
    ("GET", "/preferences/{category}/{name}"): "Preference",
    ("POST", "/teams/add_user_to_team_from_invite"): "Team",
    ("GET", "/teams/all"): "TeamMap",
    ("GET", "/teams/all_team_listings"): "TeamMap",
    ("GET", "/teams/command_test"): "CommandResponse",
    ("POST", "/teams/command_test"): "CommandResponse",
    ("GET", "/teams/command_test_e"): "CommandResponse",
    ("POST", "/teams/command_test_e"): "CommandResponse",
    ("POST", "/teams/create"): "Team",
    ("POST", "/teams/find_team_by_name"): "BooleanResult",
    ("POST", "/teams/get_invite_info"): "InviteInfo",
    ("GET", "/teams/members"): "TeamMemberList",
    ("GET", "/teams/name/{team_name}"): "Team",
    ("GET", "/teams/unread"): "TeamUnreadList",
    ("POST", "/teams/{team_id}/add_user_to_team"): "UserIdResponse",
    ("GET", "/teams/{team_id}/channels/"): "ChannelList",
    ("GET", "/teams/{team_id}/channels/autocomplete"): "ChannelList",
    ("GET", "/teams/{team_id}/channels/counts"): "ChannelCounts",
    ("POST", "/teams/{team_id}/channels/create"): "Channel",
    ("POST", "/teams/{team_id}/channels/create_direct"): "Channel",
    ("POST", "/teams/{team_id}/channels/create_group"): "Channel",
    ("GET", "/teams/{team_id}/channels/members"): "ChannelMemberList",
    ("POST", "/teams/{team_id}/channels/more/search"): "ChannelList",
    ("GET", "/teams/{team_id}/channels/more/{offset}/{limit}"): "ChannelList",
    ("GET", "/teams/{team_id}/channels/name/{channel_name}"): "Channel",
    ("POST", "/teams/{team_id}/channels/name/{channel_name}/join"): "Channel",
    ("POST", "/teams/{team_id}/channels/update"): "Channel",
    ("POST", "/teams/{team_id}/channels/update_header"): "Channel",
    ("POST", "/teams/{team_id}/channels/update_notify_props"): "ChannelNotifyProps",
    ("POST", "/teams/{team_id}/channels/update_purpose"): "Channel",
    ("POST", "/teams/{team_id}/channels/view"): "StatusOK",
    ("GET", "/teams/{team_id}/channels/{channel_id}/"): "ChannelData",
    ("POST", "/teams/{team_id}/channels/{channel_id}/add"): "ChannelMember",
    ("POST", "/teams/{team_id}/channels/{channel_id}/delete"): "IdResponse",
    ("POST", "/teams/{team_id}/channels/{channel_id}/join"): "Channel",
    ("POST", "/teams/{team_id}/channels/{channel_id}/leave"): "IdResponse",
    ("POST", "/teams/{team_id}/channels/{channel_id}/members/ids"): "ChannelMemberList",
    ("GET", "/teams/{team_id}/channels/{channel_id}/members/{user_id}"): "ChannelMember",
    ("GET", "/teams/{team_id}/channels/{channel_id}/pinned"): "PostList",
    ("POST", "/teams/{team_id}/channels/{channel_id}/posts/create"): "Post",
    ("GET", "/teams/{team_id}/channels/{channel_id}/posts/page/{offset}/{limit}"): "PostList",
    ("GET", "/teams/{team_id}/channels/{channel_id}/posts/since/{time}"): "PostList",
    ("POST", "/teams/{team_id}/channels/{channel_id}/posts/update"): "Post",
    ("GET", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/after/{offset}/{num_posts}"): "PostList",
    ("GET", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/before/{offset}/{num_posts}"): "PostList",
    ("POST", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/delete"): "IdResponse",
    ("GET", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/get"): "PostList",
    ("GET", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/get_file_infos"): "FileInfoList",
    ("POST", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/pin"): "Post",
    ("GET", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/reactions"): "ReactionList",
    ("POST", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/reactions/delete"): "StatusOK",
    ("POST", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/reactions/save"): "Reaction",
    ("POST", "/teams/{team_id}/channels/{channel_id}/posts/{post_id}/unpin"): "Post",
    ("POST", "/teams/{team_id}/channels/{channel_id}/remove"): "ChannelMemberRemoved",
    ("GET", "/teams/{team_id}/channels/{channel_id}/stats"): "ChannelStats",
    ("POST", "/teams/{team_id}/channels/{channel_id}/update_member_roles"): "StatusOkLowercase",
    ("GET", "/teams/{team_id}/channels/{channel_id}/users/autocomplete"): "UserAutocompleteInChannel",
    ("GET", "/teams/{team_id}/channels/{channel_id}/users/not_in_channel/{offset}/{limit}"): "UserMap",
    ("GET", "/teams/{team_id}/channels/{channel_id}/users/{offset}/{limit}"): "UserMap",
    ("POST", "/teams/{team_id}/commands/create"): "Command",
    ("POST", "/teams/{team_id}/commands/delete"): "IdResponse",
    ("POST", "/teams/{team_id}/commands/execute"): "CommandResponse",
    ("GET", "/teams/{team_id}/commands/list"): "CommandAutocompleteList",
    ("GET", "/teams/{team_id}/commands/list_team_commands"): "CommandList",
    ("POST", "/teams/{team_id}/commands/regen_token"): "Command",
    ("POST", "/teams/{team_id}/commands/update"): "Command",
    ("POST", "/teams/{team_id}/files/upload"): "FileUploadResponse",
    ("POST", "/teams/{team_id}/hooks/incoming/create"): "IncomingWebhook",
    ("POST", "/teams/{team_id}/hooks/incoming/delete"): "IdResponse",
    ("GET", "/teams/{team_id}/hooks/incoming/list"): "IncomingWebhookList",
    ("POST", "/teams/{team_id}/hooks/incoming/update"): "IncomingWebhook",
    ("POST", "/teams/{team_id}/hooks/outgoing/create"): "OutgoingWebhook",
    ("POST", "/teams/{team_id}/hooks/outgoing/delete"): "IdResponse",
    ("GET", "/teams/{team_id}/hooks/outgoing/list"): "OutgoingWebhookList",
    ("POST", "/teams/{team_id}/hooks/outgoing/regen_token"): "OutgoingWebhook",
    ("POST", "/teams/{team_id}/hooks/outgoing/update"): "OutgoingWebhook",
    ("POST", "/teams/{team_id}/invite_members"): "Invites",
    ("GET", "/teams/{team_id}/me"): "Team",
    ("POST", "/teams/{team_id}/members/ids"): "TeamMemberList",
    ("GET", "/teams/{team_id}/members/{offset}/{limit}"): "TeamMemberList",
    ("GET", "/teams/{team_id}/members/{user_id}"): "TeamMember",
    ("GET", "/teams/{team_id}/pltmp/{post_id}"): "PostList",
    ("GET", "/teams/{team_id}/posts/flagged/{offset}/{limit}"): "PostList",
    ("POST", "/teams/{team_id}/posts/search"): "PostList",
    ("GET", "/teams/{team_id}/posts/{post_id}"): "PostList",
    ("POST", "/teams/{team_id}/remove_user_from_team"): "UserIdResponse",
    ("GET", "/teams/{team_id}/stats"): "TeamStats",
    ("POST", "/teams/{team_id}/update"): "Team",
    ("POST", "/teams/{team_id}/update_member_roles"): "StatusOkLowercase",
    ("GET", "/teams/{team_id}/users/autocomplete"): "UserAutocompleteInTeam",
    ("GET", "/teams/{team_id}/users/{offset}/{limit}"): "UserMap",
    ("POST", "/users/attach_device"): "DeviceIdResponse",
    ("GET", "/users/autocomplete"): "UserList",
    ("POST", "/users/claim/oauth_to_email"): "FollowLink",
    ("POST", "/users/create"): "User",
    ("GET", "/users/email/{email}"): "UserProfile",
    ("POST", "/users/ids"): "UserMap",
    ("GET", "/users/initial_load"): "InitialLoad",
    ("POST", "/users/login"): "User",
    ("POST", "/users/logout"): "UserIdResponse",
    ("GET", "/users/me"): "User",
    ("POST", "/users/mfa"): "MfaRequired",
    ("GET", "/users/name/{username}"): "UserProfile",
    ("POST", "/users/newimage"): "BooleanResult",
    ("POST", "/users/newpassword"): "UserIdResponse",
    ("POST", "/users/revoke_session"): "IdResponse",
    ("POST", "/users/search"): "UserList",
    ("POST", "/users/send_password_reset"): "EmailResponse",
    ("GET", "/users/status"): "StatusMap",
    ("POST", "/users/status/ids"): "StatusMap",
    ("POST", "/users/update"): "User",
    ("POST", "/users/update_active"): "User",
    ("POST", "/users/update_notify"): "User",
    ("GET", "/users/{offset}/{limit}"): "UserMap",
    ("GET", "/users/{user_id}/audits"): "AuditList",
    ("GET", "/users/{user_id}/get"): "UserProfile",
    ("GET", "/users/{user_id}/sessions"): "SessionList",
    ("POST", "/users/{user_id}/update_roles"): "StatusOkLowercase",
}

# Valid samples for models that the corpus never returns with content (enterprise features, item models).
HANDWRITTEN = {
    "MfaSecret": {"secret": "JBSWY3DPEHPK3PXP", "qr_code": "iVBORw0KGgo="},
    "WebrtcToken": {"token": "t0k", "gateway_url": "wss://janus.example.com", "stun_uri": "stun:example.com"},
    "Compliance": {
        "id": "a" * 26,
        "create_at": 1,
        "user_id": "b" * 26,
        "status": "finished",
        "count": 3,
        "desc": "audit",
        "type": "adhoc",
        "start_at": 1,
        "end_at": 2,
        "keywords": "",
        "emails": "",
    },
    "ClusterInfo": {
        "id": "c" * 26,
        "version": "4.9.0",
        "config_hash": "abc",
        "ipaddress": "10.0.0.1",
        "hostname": "n1",
    },
    "License": {
        "id": "d" * 26,
        "issued_at": 1,
        "starts_at": 1,
        "expires_at": 2,
        "customer": {"id": "e", "name": "n", "email": "x@example.com", "company": "c", "phone_number": ""},
        "features": {"users": 100, "ldap": True, "mfa": False},
    },
    "OpenGraph": {"type": "website", "url": "https://example.com", "title": "t", "images": [{"url": "u"}]},
}


# ---------------------------------------------------------------------- corpus
@lru_cache(maxsize=1)
def corpus_entries() -> tuple[dict, ...]:
    entries = []
    for har in sorted(paths.corpus_dir().glob("*.har")):
        entries.extend(json.loads(har.read_text(encoding="utf-8"))["log"]["entries"])
    return tuple(entries)


def route_key(entry: dict) -> tuple[str, str]:
    route = entry["_route"]
    return entry["request"]["method"], route[len("/api/v3") :] if route.startswith("/api/v3") else route


def json_body(entry: dict):
    content = entry["response"]["content"]
    text = content.get("text") or ""
    if "json" not in (content.get("mimeType") or "") or not text:
        return None
    return json.loads(text)


def ok_bodies() -> list[tuple[tuple[str, str], str, object]]:
    """(route, case, body) of every 200 response with a JSON body."""
    found = []
    for entry in corpus_entries():
        if entry["response"]["status"] == 200:
            body = json_body(entry)
            if body is not None:
                found.append((route_key(entry), entry["_case"], body))
    return found


def error_bodies() -> list[tuple[tuple[str, str], int, dict]]:
    found = []
    for entry in corpus_entries():
        status = entry["response"]["status"]
        text = entry["response"]["content"].get("text") or ""
        if status >= 400 and text.startswith("{"):
            found.append((route_key(entry), status, json.loads(text)))
    return found


@lru_cache(maxsize=1)
def samples() -> dict[str, object]:
    """One valid instance per model: the richest corpus body (an `ok` one if any), else handwritten."""
    found: dict[str, object] = {}
    rank: dict[str, tuple[bool, int]] = {}
    for route, case, body in ok_bodies():
        model = ROUTE_MODELS.get(route)
        score = (case == "ok", len(json.dumps(body)))
        if model and score > rank.get(model, (False, -1)):
            found[model], rank[model] = body, score
    derived = {
        "Session": ("SessionList", lambda v: v[0]),
        "Audit": ("AuditList", lambda v: v[0]),
        "TeamUnread": ("TeamUnreadList", lambda v: v[0]),
        "AnalyticsRow": ("AnalyticsRows", lambda v: v[0]),
        "TeamList": ("InitialLoad", lambda v: v["teams"]),
    }
    for model, (parent, pick) in derived.items():
        found.setdefault(model, pick(found[parent]))
    found["AppError"] = error_bodies()[0][2]
    found.update(HANDWRITTEN)
    found["ComplianceList"] = [HANDWRITTEN["Compliance"]]
    found["ClusterInfoList"] = [HANDWRITTEN["ClusterInfo"]]
    return found


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load(MODELS)


# ---------------------------------------------------------------------- the files themselves
def test_model_directory_is_populated(registry):
    assert len(MODEL_FILES) >= 50
    assert registry.names == tuple(path.stem for path in MODEL_FILES)


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda path: path.stem)
def test_model_file_is_a_2020_12_schema_with_its_own_id(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{BASE_URI}models/{path.stem}.json"
    assert schema["title"].strip() and schema["description"].strip()
    Draft202012Validator.check_schema(schema)
    assert "additionalProperties" not in schema or schema["additionalProperties"] is not False


def test_refs_between_models_are_relative(registry):
    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for name in registry.names:
        for ref in refs(registry.schema(name)):
            assert "://" not in ref and ref.endswith(".json") and ref[:-5] in registry.names, (name, ref)


def test_default_registry_loads_the_configured_schemas_once(monkeypatch):
    default_registry.cache_clear()
    monkeypatch.setenv("MMV3_SCHEMAS", str(SCHEMAS))
    try:
        loaded = default_registry()
        assert loaded.directory == MODELS
        assert loaded.names == tuple(path.stem for path in MODEL_FILES)
        assert default_registry() is loaded
    finally:
        default_registry.cache_clear()


def test_lookup_api(registry):
    assert registry.uri("User") == f"{BASE_URI}models/User.json"
    copy = registry.schema("User")
    copy["required"].clear()
    assert not registry.is_valid({}, "User"), "schema() must hand out a copy"
    with pytest.raises(KeyError, match="NoSuchModel"):
        registry.uri("NoSuchModel")
    with pytest.raises(KeyError, match="NoSuchModel"):
        registry.validate({}, "NoSuchModel")


# ---------------------------------------------------------------------- the corpus validates
def test_route_table_covers_every_corpus_route_with_a_json_200():
    routes = {route for route, _case, _body in ok_bodies()}
    assert len(routes) > 100
    assert routes - set(ROUTE_MODELS) == set()


def test_route_table_names_only_existing_models(registry):
    assert set(ROUTE_MODELS.values()) - set(registry.names) == set()


@pytest.mark.parametrize("route", sorted(ROUTE_MODELS), ids=lambda route: " ".join(route))
def test_corpus_200_bodies_validate_without_drift(registry, route):
    model = ROUTE_MODELS[route]
    bodies = [(case, body) for found, case, body in ok_bodies() if found == route]
    assert bodies, f"no 200 JSON body recorded for {route}"
    for case, body in bodies:
        assert [str(issue) for issue in registry.validate(body, model)] == [], case
        assert registry.drift(body, model) == [], case


def test_corpus_error_bodies_are_app_errors(registry):
    bodies = error_bodies()
    assert len(bodies) > 500
    for route, status, body in bodies:
        assert registry.validate(body, "AppError") == [], route
        assert registry.drift(body, "AppError") == [], route
        assert body["status_code"] == status


def test_anonymous_initial_load_has_nulls(registry):
    anonymous = [
        body
        for route, case, body in ok_bodies()
        if route == ("GET", "/users/initial_load") and case == "no_token"
    ]
    assert anonymous and anonymous[0]["user"] is None
    assert registry.is_valid(anonymous[0], "InitialLoad")


# ---------------------------------------------------------------------- mutations
def resolve(registry, schema):
    """The schema behind a `$ref` to a model file (refs between models are file names)."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = registry.schema(schema["$ref"][: -len(".json")])
    return schema


def view(registry, schema) -> dict:
    """type / required / properties / items / values of a schema, merged through $ref and allOf."""
    merged = {"type": None, "required": [], "properties": {}, "items": None, "values": None, "closed": False}
    parts = [schema]
    while parts:
        part = resolve(registry, parts.pop(0))
        if not isinstance(part, dict):
            continue
        merged["type"] = merged["type"] or part.get("type")
        merged["required"] += [name for name in part.get("required", []) if name not in merged["required"]]
        for name, sub in part.get("properties", {}).items():
            merged["properties"].setdefault(name, []).append(sub)
        merged["items"] = merged["items"] or part.get("items")
        if isinstance(part.get("additionalProperties"), dict) and not part.get("properties"):
            merged["values"] = part["additionalProperties"]
        merged["closed"] = merged["closed"] or "enum" in part or "const" in part
        parts += part.get("allOf", [])
    return merged


def wrong_type(value):
    if isinstance(value, (bool, int, float)):
        return "x"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {}
    if isinstance(value, dict):
        return []
    return 12345


def mutations(registry, name, sample):
    """(what, instance) pairs, each breaking one rule of the model's schema."""
    top = view(registry, registry.schema(name))

    def place(new):
        return new

    target, rules = sample, top
    if top["items"] is not None:
        target, rules = sample[0], view(registry, top["items"])

        def place(new):
            return [new, *sample[1:]]

    elif top["values"] is not None:
        key = next(iter(sample))
        target, rules = sample[key], view(registry, top["values"])

        def place(new):
            return {**sample, key: new}

    if not rules["properties"]:
        yield "wrong type", place(wrong_type(target))
        if rules["closed"]:
            yield "unlisted value", place("not-a-listed-value")
        return
    for field in rules["required"]:
        yield f"without {field}", place({k: v for k, v in target.items() if k != field})
    for field, value in target.items():
        if field not in rules["properties"]:
            continue
        yield (
            f"{field}: {json.dumps(value)[:20]} -> {json.dumps(wrong_type(value))}",
            place({**target, field: wrong_type(value)}),
        )
        if any(view(registry, sub)["closed"] for sub in rules["properties"][field]):
            yield f"{field} outside its enum", place({**target, field: "not-a-listed-value"})


def test_every_model_has_a_sample(registry):
    assert set(registry.names) - set(samples()) == set()


@pytest.mark.parametrize("name", [path.stem for path in MODEL_FILES])
def test_breaking_any_rule_of_a_model_fails_validation(registry, name):
    sample = samples()[name]
    assert registry.validate(sample, name) == [], "the sample itself must be valid"
    applied, accepted = 0, []
    for what, broken in mutations(registry, name, sample):
        applied += 1
        if registry.is_valid(broken, name):
            accepted.append(what)
    assert applied > 0
    assert accepted == []


def test_every_required_field_of_user_is_checked(registry):
    required = set(registry.schema("User")["required"])
    removed = {
        what.split()[-1]
        for what, _ in mutations(registry, "User", samples()["User"])
        if what.startswith("without")
    }
    assert required == removed and {"id", "username", "roles", "timezone"} <= required


# ---------------------------------------------------------------------- security rules
def test_a_user_never_carries_a_password_hash(registry):
    user = samples()["User"]
    assert registry.is_valid({**user, "password": ""}, "User")
    issues = registry.validate({**user, "password": BCRYPT_HASH}, "User")
    assert [issue.path for issue in issues] == ["$.password"]
    assert BCRYPT_HASH not in str(issues[0]) and BCRYPT_HASH not in issues[0].message


def test_a_user_never_carries_an_mfa_secret(registry):
    user = samples()["User"]
    assert registry.is_valid({**user, "mfa_secret": ""}, "User")
    assert not registry.is_valid({**user, "mfa_secret": "JBSWY3DPEHPK3PXP"}, "User")
    user_map = samples()["UserMap"]
    key = next(iter(user_map))
    broken = {**user_map, key: {**user_map[key], "mfa_secret": "JBSWY3DPEHPK3PXP"}}
    assert [issue.path for issue in registry.validate(broken, "UserMap")] == [f"$.{key}.mfa_secret"]


def test_a_session_list_carries_no_tokens(registry):
    sessions = samples()["SessionList"]
    leaked = [{**sessions[0], "token": "9yhdasfzwif8drf9zm8mozr3uw"}, *sessions[1:]]
    issues = registry.validate(leaked, "SessionList")
    assert [issue.path for issue in issues] == ["$[0].token"]
    assert "9yhdasfzwif8drf9zm8mozr3uw" not in str(issues[0])
    assert registry.is_valid(leaked[0], "Session"), "a single Session (not a list) may carry its token"


def test_sanitised_lists_and_profiles_hide_secrets(registry):
    commands = samples()["CommandAutocompleteList"]
    assert not registry.is_valid([{**commands[0], "token": "abc"}], "CommandAutocompleteList")
    app = samples()["OAuthAppSanitized"]
    assert not registry.is_valid({**app, "client_secret": "abc"}, "OAuthAppSanitized")
    profile = samples()["UserProfile"]
    assert not registry.is_valid({**profile, "notify_props": {"email": "true"}}, "UserProfile")
    assert not registry.is_valid({**profile, "last_password_update": 1}, "UserProfile")
    config = samples()["Config"]
    leaked = {**config, "SqlSettings": {**config["SqlSettings"], "DataSource": "postgres://mm:pw@db/mm"}}
    assert [issue.path for issue in registry.validate(leaked, "Config")] == ["$.SqlSettings.DataSource"]


# ---------------------------------------------------------------------- readable issues
def test_issue_reads_as_one_line(registry):
    user = samples()["User"]
    issues = registry.validate({**user, "create_at": "12"}, "User")
    assert issues == [SchemaIssue("$.create_at", "integer", '"12"', issues[0].message)]
    assert str(issues[0]) == '$.create_at: expected integer, got "12"'


def test_missing_field_is_reported_at_its_own_path(registry):
    post_list = samples()["PostList"]
    post_id = next(iter(post_list["posts"]))
    broken = json.loads(json.dumps(post_list))
    del broken["posts"][post_id]["channel_id"]
    assert [str(issue) for issue in registry.validate(broken, "PostList")] == [
        f"$.posts.{post_id}.channel_id: expected property to be present, got missing"
    ]


def test_long_values_are_truncated_and_enums_listed(registry):
    channel = samples()["Channel"]
    issues = registry.validate({**channel, "type": "Z", "display_name": ["x" * 500]}, "Channel")
    rendered = {issue.path: str(issue) for issue in issues}
    assert rendered["$.type"] == '$.type: expected one of "O", "P", "D", "G", got "Z"'
    assert len(rendered["$.display_name"]) < 120 and rendered["$.display_name"].endswith("...")


def test_nullable_reference_reports_inside_the_object(registry):
    load = samples()["InitialLoad"]
    broken = {**load, "user": {**load["user"], "roles": 7}}
    assert [str(issue) for issue in registry.validate(broken, "InitialLoad")] == [
        "$.user.roles: expected string, got 7"
    ]
    assert [str(issue) for issue in registry.validate({**load, "user": "x"}, "InitialLoad")] == [
        '$.user: expected User or null, got "x"'
    ]


# ---------------------------------------------------------------------- drift
def test_extra_fields_are_drift_not_errors(registry):
    post_list = json.loads(json.dumps(samples()["PostList"]))
    post_id = next(iter(post_list["posts"]))
    post_list["posts"][post_id]["reply_count"] = 3
    post_list["posts"][post_id]["props"]["anything"] = {"goes": 1}  # props is free-form: never drift
    post_list["next_post_id"] = ""
    assert registry.validate(post_list, "PostList") == []
    assert registry.drift(post_list, "PostList") == ["$.next_post_id", f"$.posts.{post_id}.reply_count"]


def test_drift_walks_lists_maps_and_nullable_refs(registry):
    sessions = [{**samples()["SessionList"][0], "csrf": "x"}]
    assert registry.drift(sessions, "SessionList") == ["$[0].csrf"]
    user_map = samples()["UserMap"]
    key = next(iter(user_map))
    assert registry.drift({key: {**user_map[key], "is_bot": False}}, "UserMap") == [f"$.{key}.is_bot"]
    load = samples()["InitialLoad"]
    assert registry.drift({**load, "user": {**load["user"], "new one": 1}}, "InitialLoad") == [
        "$.user['new one']"
    ]
    config = samples()["ClientConfig"]
    assert registry.drift({**config, "SomeNewSetting": "true"}, "ClientConfig") == []


def test_inline_schemas_resolve_models_against_base_uri(registry):
    users = samples()["UserList"]
    inline = {"type": "array", "items": {"$ref": "models/UserProfile.json"}}
    assert registry.validate(users, inline) == []
    assert registry.drift([{**users[0], "extra": 1}], inline) == ["$[0].extra"]
    assert [issue.path for issue in registry.validate([{**users[0], "id": 1}], inline)] == ["$[0].id"]
    assert registry.is_valid(users, {"$ref": "UserList.json"}, base_uri=f"{BASE_URI}models/")


def test_add_resource_makes_openapi_components_resolvable(registry):
    local = SchemaRegistry.load(MODELS)
    document = {"openapi": "3.1.0", "components": {"schemas": {"Me": {"$ref": "models/User.json"}}}}
    local.add_resource(OPENAPI_URI, document)
    user = samples()["User"]
    inline = {"$ref": "#/components/schemas/Me"}
    assert local.validate(user, inline) == []
    assert [issue.path for issue in local.validate({**user, "delete_at": "0"}, inline)] == ["$.delete_at"]
    assert local.drift({**user, "extra": 1}, inline) == ["$.extra"]


# ---------------------------------------------------------------------- broken schema directories
@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the schema registry must never touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def write_model(directory: Path, name: str, body: dict) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE_URI}models/{name}.json",
        "title": name,
        "description": name,
        **body,
    }
    (directory / f"{name}.json").write_text(json.dumps(schema), encoding="utf-8")


def load_error(directory: Path) -> str:
    with pytest.raises(SchemaLoadError) as caught:
        SchemaRegistry.load(directory)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_broken_json_names_the_file(tmp_path, no_network):
    write_model(tmp_path, "Good", {"type": "object"})
    (tmp_path / "Broken.json").write_text('{"$id": "x", "type": ', encoding="utf-8")
    message = load_error(tmp_path)
    assert "Broken.json" in message and "not valid JSON" in message


def test_remote_ref_is_refused_without_fetching(tmp_path, no_network):
    write_model(tmp_path, "Remote", {"$ref": "https://example.com/schemas/Thing.json"})
    message = load_error(tmp_path)
    assert "Remote.json" in message and "https://example.com/schemas/Thing.json" in message


def test_ref_to_a_missing_model_is_refused(tmp_path, no_network):
    write_model(tmp_path, "Holder", {"properties": {"team": {"$ref": "Missing.json"}}})
    message = load_error(tmp_path)
    assert "Holder.json" in message and "Missing.json" in message


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ({"$id": f"{BASE_URI}models/Other.json"}, "$id must be"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "$schema must be"),
        ({"type": 12}, "not a valid 2020-12 schema"),
    ],
)
def test_malformed_model_is_refused(tmp_path, body, expect):
    write_model(tmp_path, "Bad", body)
    message = load_error(tmp_path)
    assert "Bad.json" in message and expect in message


def test_missing_or_empty_directory_is_refused(tmp_path):
    assert "not found" in load_error(tmp_path / "nope")
    assert "no *.json" in load_error(tmp_path)


def test_inline_schema_with_unknown_remote_ref_fails_clearly(registry, no_network):
    with pytest.raises(SchemaLoadError, match="cannot be resolved"):
        registry.validate({}, {"$ref": "https://example.com/remote.json"})
    with pytest.raises(SchemaLoadError, match="not a valid 2020-12 schema"):
        registry.validate({}, {"type": "nonsense"})


# ---------------------------------------------------------------------- the rules match the real server
def model_instances(registry) -> dict[str, list[dict]]:
    """Every object the corpus' 200 bodies hold, by the model schema it was reached through."""
    found: dict[str, list[dict]] = {}

    def visit_model(name, instance):
        if isinstance(instance, dict):
            found.setdefault(name, []).append(instance)
        visit(registry.schema(name), instance)

    def visit(schema, instance):
        if not isinstance(schema, dict) or instance is None:
            return
        if isinstance(schema.get("$ref"), str):
            visit_model(schema["$ref"][: -len(".json")], instance)
        for sub in schema.get("allOf", []) + schema.get("anyOf", []):
            visit(sub, instance)
        if isinstance(instance, dict):
            properties = schema.get("properties", {})
            for key, value in instance.items():
                visit(properties.get(key, schema.get("additionalProperties")), value)
        elif isinstance(instance, list) and "items" in schema:
            for value in instance:
                visit(schema["items"], value)

    for route, _case, body in ok_bodies():
        visit_model(ROUTE_MODELS[route], body)
    return found


def test_required_fields_are_exactly_what_the_real_server_always_sends(registry):
    """Required = present in every recorded instance; omitempty fields the corpus always had are listed."""
    checked = 0
    for name, instances in model_instances(registry).items():
        schema = registry.schema(name)
        rules = view(registry, schema)
        if not rules["properties"] or "additionalProperties" in schema:
            continue  # open settings maps (ClientConfig, Config, notify props) describe only some keys
        always = set.intersection(*(set(instance) for instance in instances))
        assert sorted(always - set(rules["required"])) == [], name
        assert sorted(set(rules["required"]) - always) == [], name
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    ("model", "field", "values"),
    [
        ("Channel", "type", ["O", "P", "D", "G"]),
        ("Team", "type", ["O", "I"]),
        ("Command", "method", ["P", "G", ""]),
        ("CommandResponse", "response_type", ["in_channel", "ephemeral", ""]),
        ("OutgoingWebhook", "trigger_when", [0, 1]),
        ("MfaRequired", "mfa_required", ["true", "false"]),
        ("ClientLicense", "IsLicensed", ["true", "false"]),
    ],
)
def test_closed_value_sets(registry, model, field, values):
    assert registry.schema(model)["properties"][field]["enum"] == values


def test_status_values_are_closed(registry):
    assert registry.schema("StatusMap")["additionalProperties"]["enum"] == [
        "online",
        "away",
        "dnd",
        "offline",
    ]
    assert not registry.is_valid({"4rrena8fdtrx3ri6km63iiaj7c": "busy"}, "StatusMap")


def test_times_and_counts_are_integers(registry):
    def properties(node):
        if isinstance(node, dict):
            yield from (node.get("properties") or {}).items()
            for value in node.values():
                yield from properties(value)
        elif isinstance(node, list):
            for value in node:
                yield from properties(value)

    seen = 0
    for model in registry.names:
        for name, sub in properties(registry.schema(model)):
            if name.endswith(("_at", "_count", "_update")) and isinstance(sub, dict) and "not" not in sub:
                assert sub.get("type") == "integer", (model, name)
                seen += 1
    assert seen > 50


def test_ambiguous_one_of_is_explained(registry):
    inline = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert [str(issue) for issue in registry.validate(3, inline)] == [
        "$: expected exactly one of integer or number, got 3"
    ]
