"""The reference server's slash commands, webhooks, OAuth and system-admin routes against real 4.9.

One shared server holds the admin (the first user, who creates the team and so is its admin),
user2 (a plain member of that team) and an open and a private channel (admin only). Settings are
switched through `admin/save_config` itself (and switched back) by `settings(...)`; a test that
breaks the server for good (API v3 off) starts its own. Nothing here may leave 127.0.0.1: the
last tests fail any connection attempt to another address.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mmv3.server import running_server
from mmv3.server.channels import direct_name
from mmv3.server.ids import new_id

from .api import PASSWORD, Api, app_error, conforms, ok

MASK = "*" * 32


@dataclass
class World:
    server: Any
    api: Api
    ids: dict[str, str]
    tokens: dict[str, str]
    team: dict
    public: dict
    private: dict

    def call(self, who: str | None, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.api.call(method, path, body, token=self.tokens[who] if who else None, **kw)

    def get(self, who: str | None, path: str, **headers: str) -> requests.Response:
        return self.call(who, "GET", path, headers=headers)

    def post(self, who: str | None, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.call(who, "POST", path, body, **kw)

    def t(self, rest: str) -> str:
        return f"/api/v3/teams/{self.team['id']}{rest}"

    def store(self) -> Any:
        return self.server.app.store

    @contextmanager
    def settings(self, **changes: Any) -> Iterator[None]:
        """Save the config with `Section__Key=value` changes through the API, then save it back."""
        original = ok(self.get("admin", "/api/v3/admin/config"))
        changed = json.loads(json.dumps(original))
        for dotted, value in changes.items():
            section, key = dotted.split("__")
            changed[section][key] = value
        ok(self.post("admin", "/api/v3/admin/save_config", changed), "StatusOK")
        try:
            yield
        finally:
            ok(self.post("admin", "/api/v3/admin/save_config", original), "StatusOK")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_server() as server:
        api = Api(server.url)
        ids = {name: api.create_user(name)["id"] for name in ("admin", "user2")}
        tokens = {name: api.login(name) for name in ids}
        team = api.create_team(tokens["admin"], "integrations")
        api.add_to_team(tokens["admin"], team["id"], ids["user2"])
        public = api.create_channel(tokens["admin"], team["id"], "lobby")
        private = api.create_channel(tokens["admin"], team["id"], "secret", kind="P")
        api.ok("POST", f"/api/v3/teams/{team['id']}/channels/{public['id']}/join", token=tokens["user2"])
        yield World(server, api, ids, tokens, team, public, private)


# -- slash commands -----------------------------------------------------------------------------
def _command(trigger: str, **extra: Any) -> dict:
    return {"trigger": trigger, "method": "P", "url": "http://127.0.0.1:9/cmd", "auto_complete": True,
            "display_name": trigger, "auto_complete_desc": "a test command", **extra}  # fmt: skip


def test_command_registry_lifecycle(world: World) -> None:
    created = ok(world.post("admin", world.t("/commands/create"), _command("Deploy")), "Command")
    assert created["trigger"] == "deploy" and len(created["token"]) == 26
    assert created["creator_id"] == world.ids["admin"] and created["team_id"] == world.team["id"]

    listed = ok(world.get("admin", world.t("/commands/list_team_commands")), "CommandList")
    assert [c["id"] for c in listed] == [created["id"]]
    autocomplete = ok(world.get("user2", world.t("/commands/list")), "CommandAutocompleteList")
    entry = next(c for c in autocomplete if c["trigger"] == "deploy")
    assert (
        entry["id"] == created["id"] and entry["token"] == "" and entry["url"] == "" and entry["method"] == ""
    )
    assert {"echo", "away", "join", "shrug"} <= {c["trigger"] for c in autocomplete}

    updated = ok(
        world.post("admin", world.t("/commands/update"), {**created, "description": "new"}), "Command"
    )
    assert updated["description"] == "new" and updated["token"] == created["token"]
    assert updated["update_at"] >= created["update_at"]
    regen = ok(world.post("admin", world.t("/commands/regen_token"), {"id": created["id"]}), "Command")
    assert regen["token"] != created["token"]

    assert ok(world.post("admin", world.t("/commands/delete"), {"id": created["id"]}), "IdResponse") == {
        "id": created["id"]
    }
    assert ok(world.get("admin", world.t("/commands/list_team_commands"))) == []
    app_error(world.post("admin", world.t("/commands/delete"), {"id": created["id"]}), 404,
              "store.sql_command.save.get.app_error")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "error_id"),
    [
        (_command(""), 400, "model.command.is_valid.trigger.app_error"),
        (_command("x", url="not a url"), 400, "model.command.is_valid.url_http.app_error"),
        (_command("x", method="Z"), 400, "model.command.is_valid.method.app_error"),
        (_command("echo"), 400, "api.command.duplicate_trigger.app_error"),
        # CommandFromJson keeps what fits: a number for the trigger leaves it empty (Go, 4.9)
        ({**_command("x"), "trigger": 5}, 400, "model.command.is_valid.trigger.app_error"),
    ],
)
def test_command_create_refusals(world: World, body: dict, status: int, error_id: str) -> None:
    app_error(world.post("admin", world.t("/commands/create"), body), status, error_id)


def test_command_permissions_and_malformed_bodies(world: World) -> None:
    app_error(world.post("user2", world.t("/commands/create"), _command("mine")), 403,
              "api.context.permissions.app_error")  # fmt: skip
    app_error(
        world.get("user2", world.t("/commands/list_team_commands")), 403, "api.context.permissions.app_error"
    )
    app_error(
        world.post("admin", world.t("/commands/update"), raw=b"{"), 400, "api.context.invalid_param.app_error"
    )
    app_error(
        world.post("admin", world.t("/commands/regen_token"), {}), 400, "api.context.invalid_param.app_error"
    )
    app_error(world.post(None, world.t("/commands/create"), _command("anon")), 401,
              "api.context.session_expired.app_error")  # fmt: skip
    with world.settings(ServiceSettings__EnableCommands=False):
        app_error(world.post("admin", world.t("/commands/create"), _command("off")), 501,
                  "api.command.disabled.app_error")  # fmt: skip


def _execute(world: World, who: str, command: str, channel: dict | None = None) -> requests.Response:
    body = {"command": command, "channel_id": (channel or world.public)["id"]}
    return world.post(who, world.t("/commands/execute"), body)


def _messages(world: World, channel: dict) -> list[str]:
    return [p["message"] for p in world.store().find("posts", channel_id=channel["id"])]


def test_builtin_commands_answer_as_4_9(world: World) -> None:
    echoed = ok(_execute(world, "admin", "/echo hello there"), "CommandResponse")
    assert echoed["response_type"] == "" and echoed["text"] == "" and echoed["props"] is None
    shrug = ok(_execute(world, "admin", "/shrug fine"), "CommandResponse")
    assert shrug["response_type"] == "in_channel" and shrug["text"] == "fine ¯\\\\\\_(ツ)\\_/¯"
    me = ok(_execute(world, "admin", "/me waves"), "CommandResponse")
    assert me == {**me, "response_type": "in_channel", "text": "*waves*"}
    assert {"hello there", "fine ¯\\\\\\_(ツ)\\_/¯", "*waves*"} <= set(_messages(world, world.public))

    away = ok(_execute(world, "user2", "/away"), "CommandResponse")
    assert (away["response_type"], away["text"]) == ("ephemeral", "You are now away")
    assert world.store().get("statuses", world.ids["user2"])["status"] == "away"
    assert ok(_execute(world, "user2", "/online"))["text"] == "You are now online"
    assert ok(_execute(world, "user2", "/dnd"))["text"].startswith("Do Not Disturb is enabled.")
    assert world.store().get("statuses", world.ids["user2"])["status"] == "dnd"
    assert ok(_execute(world, "user2", "/dnd"))["text"] == "Do Not Disturb is disabled."
    assert (
        ok(_execute(world, "user2", "/echo"))["text"] == "A message must be provided with the /echo command."
    )
    assert (
        ok(_execute(world, "user2", "/settings"))["text"]
        == "The settings command is not supported on your device"
    )
    assert ok(_execute(world, "user2", "/help"))["goto_location"].startswith("https://")
    assert ok(_execute(world, "user2", "/collapse"))["text"] == "Image links now collapse by default"
    pref = world.store().get("preferences", f"{world.ids['user2']}:display_settings:collapse_previews")
    assert pref["value"] == "true"


def test_join_leave_and_msg_commands(world: World) -> None:
    channel = world.api.create_channel(world.tokens["admin"], world.team["id"], "joinable")
    joined = ok(_execute(world, "user2", "/join ~joinable"), "CommandResponse")
    assert joined["goto_location"].endswith(f"/{world.team['name']}/channels/joinable")
    assert world.store().get("channel_members", f"{channel['id']}:{world.ids['user2']}") is not None
    assert (
        ok(_execute(world, "user2", "/join ~secret"))["text"]
        == "An error occurred while joining the channel."
    )

    left = ok(_execute(world, "user2", "/leave", channel), "CommandResponse")
    assert (left["response_type"], left["text"]) == ("ephemeral", "Left the channel.")
    assert world.store().get("channel_members", f"{channel['id']}:{world.ids['user2']}") is None

    sent = ok(_execute(world, "user2", "/msg @admin psst"), "CommandResponse")
    dm_name = direct_name(world.ids["user2"], world.ids["admin"])
    assert sent["goto_location"].endswith(f"/channels/{dm_name}")
    dm = world.store().find_one("channels", team_id="", name=dm_name)
    assert dm is not None and _messages(world, dm) == ["psst"]
    assert ok(_execute(world, "user2", "/msg @nobody hi"))["text"] == "We couldn't find the user"


def test_execute_refusals_and_custom_commands(world: World) -> None:
    app_error(world.post("admin", world.t("/commands/execute"), {"channel_id": world.public["id"]}), 400,
              "api.command.execute_command.start.app_error")  # fmt: skip
    app_error(
        world.post("admin", world.t("/commands/execute"), raw=b"{"),
        400,
        "api.context.invalid_param.app_error",
    )
    app_error(_execute(world, "admin", "/nosuch"), 404, "api.command.execute_command.not_found.app_error")
    app_error(_execute(world, "user2", "/echo hi", world.private), 403, "api.context.permissions.app_error")
    ok(world.post("admin", world.t("/commands/create"), _command("remote")))
    failed = app_error(
        _execute(world, "admin", "/remote now"), 500, "api.command.execute_command.failed.app_error"
    )
    assert failed["message"] == "Command with a trigger of 'remote' failed"


# -- webhooks -----------------------------------------------------------------------------------
def test_incoming_webhook_lifecycle(world: World) -> None:
    body = {"channel_id": world.public["id"], "display_name": "ci", "description": "builds"}
    hook = ok(world.post("admin", world.t("/hooks/incoming/create"), body), "IncomingWebhook")
    assert hook["user_id"] == world.ids["admin"] and hook["team_id"] == world.team["id"]
    assert [
        h["id"] for h in ok(world.get("admin", world.t("/hooks/incoming/list")), "IncomingWebhookList")
    ] == [hook["id"]]
    renamed = ok(world.post("admin", world.t("/hooks/incoming/update"), {**hook, "display_name": "ci2"}),
                 "IncomingWebhook")  # fmt: skip
    assert renamed["display_name"] == "ci2" and renamed["create_at"] == hook["create_at"]
    app_error(world.post("user2", world.t("/hooks/incoming/delete"), {"id": hook["id"]}), 403,
              "api.context.permissions.app_error")  # fmt: skip
    assert ok(world.post("admin", world.t("/hooks/incoming/delete"), {"id": hook["id"]}), "IdResponse") == {
        "id": hook["id"]
    }
    assert ok(world.get("admin", world.t("/hooks/incoming/list"))) == []
    app_error(world.post("admin", world.t("/hooks/incoming/update"), hook), 404,
              "store.sql_webhooks.get_incoming.app_error")  # fmt: skip


def test_incoming_webhook_refusals(world: World) -> None:
    create = world.t("/hooks/incoming/create")
    app_error(
        world.post("admin", create, {"display_name": "x"}), 404, "store.sql_channel.get.existing.app_error"
    )
    app_error(world.post("admin", create, raw=b"{"), 400, "api.context.invalid_param.app_error")
    app_error(
        world.post("user2", create, {"channel_id": world.public["id"]}),
        403,
        "api.context.permissions.app_error",
    )
    with world.settings(ServiceSettings__EnableIncomingWebhooks=False):
        app_error(world.post("admin", create, {"channel_id": world.public["id"]}), 501,
                  "api.incoming_webhook.disabled.app_error")  # fmt: skip
        app_error(
            world.get("admin", world.t("/hooks/incoming/list")),
            501,
            "api.incoming_webhook.disabled.app_error",
        )


def _outgoing(world: World, **extra: Any) -> dict:
    return {"channel_id": world.public["id"], "trigger_words": ["deploy"], "trigger_when": 0,
            "callback_urls": ["http://203.0.113.7/hook"], "display_name": "out", **extra}  # fmt: skip


def test_outgoing_webhooks_are_off_by_default(world: World) -> None:
    app_error(world.post("admin", world.t("/hooks/outgoing/create"), _outgoing(world)), 501,
              "api.outgoing_webhook.disabled.app_error")  # fmt: skip
    app_error(
        world.get("admin", world.t("/hooks/outgoing/list")), 501, "api.outgoing_webhook.disabled.app_error"
    )
    app_error(world.get("user2", world.t("/hooks/outgoing/list")), 403, "api.context.permissions.app_error")


def test_outgoing_webhook_lifecycle_and_firing(world: World) -> None:
    with world.settings(ServiceSettings__EnableOutgoingWebhooks=True):
        hook = ok(world.post("admin", world.t("/hooks/outgoing/create"), _outgoing(world)), "OutgoingWebhook")
        assert hook["creator_id"] == world.ids["admin"] and len(hook["token"]) == 26
        app_error(world.post("admin", world.t("/hooks/outgoing/create"), _outgoing(world)), 500,
                  "api.webhook.create_outgoing.intersect.app_error")  # fmt: skip
        app_error(world.post("admin", world.t("/hooks/outgoing/create"), _outgoing(world, callback_urls=[])), 400,
                  "model.outgoing_hook.is_valid.callback.app_error")  # fmt: skip
        app_error(world.post("admin", world.t("/hooks/outgoing/create"),
                             _outgoing(world, channel_id=world.private["id"])), 403,
                  "api.outgoing_webhook.disabled.app_error")  # fmt: skip
        assert len(ok(world.get("admin", world.t("/hooks/outgoing/list")), "OutgoingWebhookList")) == 1

        # A post whose first word is a trigger fires the hook: recorded, never sent.
        ok(_execute(world, "user2", "/echo deploy now"))
        deliveries = world.store().find("webhook_deliveries", hook_id=hook["id"])
        assert len(deliveries) == 1 and deliveries[0]["sent"] is False
        assert deliveries[0]["payload"]["trigger_word"] == "deploy"
        assert deliveries[0]["callback_urls"] == ["http://203.0.113.7/hook"]
        ok(_execute(world, "user2", "/echo nothing to see"))
        assert len(world.store().find("webhook_deliveries", hook_id=hook["id"])) == 1

        updated = ok(world.post("admin", world.t("/hooks/outgoing/update"), {**hook, "display_name": "renamed"}),
                     "OutgoingWebhook")  # fmt: skip
        assert updated["display_name"] == "renamed"
        regen = ok(
            world.post("admin", world.t("/hooks/outgoing/regen_token"), {"id": hook["id"]}), "OutgoingWebhook"
        )
        assert regen["token"] != hook["token"]
        app_error(world.post("user2", world.t("/hooks/outgoing/regen_token"), {"id": hook["id"]}), 403,
                  "api.context.permissions.app_error")  # fmt: skip
        ok(world.post("admin", world.t("/hooks/outgoing/delete"), {"id": hook["id"]}), "IdResponse")
        app_error(world.post("admin", world.t("/hooks/outgoing/regen_token"), {"id": hook["id"]}), 500,
                  "store.sql_webhooks.get_outgoing.app_error")  # fmt: skip


def test_a_normal_post_fires_outgoing_webhooks(world: World) -> None:
    with world.settings(ServiceSettings__EnableOutgoingWebhooks=True):
        hook = ok(world.post("admin", world.t("/hooks/outgoing/create"), _outgoing(world)), "OutgoingWebhook")
        path = world.t(f"/channels/{world.public['id']}/posts/create")
        ok(world.post("user2", path, {"channel_id": world.public["id"], "message": "deploy please"}), "Post")
        deliveries = world.store().find("webhook_deliveries", hook_id=hook["id"])
        assert len(deliveries) == 1 and deliveries[0]["sent"] is False
        assert deliveries[0]["payload"]["trigger_word"] == "deploy"
        ok(world.post("user2", path, {"channel_id": world.public["id"], "message": "no trigger"}), "Post")
        assert len(world.store().find("webhook_deliveries", hook_id=hook["id"])) == 1
        ok(world.post("admin", world.t("/hooks/outgoing/delete"), {"id": hook["id"]}), "IdResponse")


# -- OAuth --------------------------------------------------------------------------------------
_APP = {"name": "client", "description": "an app", "homepage": "http://127.0.0.1/",
        "callback_urls": ["http://127.0.0.1/callback"], "icon_url": "", "is_trusted": False}  # fmt: skip


def test_oauth_provider_is_off_by_default(world: World) -> None:
    app_error(
        world.post("admin", "/api/v3/oauth/register", _APP),
        501,
        "api.oauth.register_oauth_app.turn_off.app_error",
    )
    app_error(world.post("user2", "/api/v3/oauth/register", _APP), 403, "api.command.admin_only.app_error")
    app_error(world.get("admin", "/api/v3/oauth/list"), 501, "api.oauth.allow_oauth.turn_off.app_error")
    app_error(world.get("user2", "/api/v3/oauth/authorized"), 501, "api.oauth.allow_oauth.turn_off.app_error")
    app_error(world.get("admin", "/api/v3/oauth/allow?response_type="), 400,
              "api.oauth.allow_oauth.bad_response.app_error")  # fmt: skip


def test_oauth_register_keeps_what_decodes(world: World) -> None:
    """OAuthAppFromJson ignores its decode error (4.9): a wrong-typed field is left empty and the
    request goes on to the provider check, as real 4.9 answers the official JS client."""
    body = {"name": "test", "homepage": "homepage", "description": "desc", "callback_urls": ""}
    app_error(
        world.post("admin", "/api/v3/oauth/register", body),
        501,
        "api.oauth.register_oauth_app.turn_off.app_error",
    )
    app_error(
        world.call("admin", "POST", "/api/v3/oauth/register", raw=b"null"),
        400,
        "api.context.invalid_param.app_error",
    )


def test_oauth_app_lifecycle_and_authorisation(world: World) -> None:
    with world.settings(ServiceSettings__EnableOAuthServiceProvider=True):
        app = ok(world.post("admin", "/api/v3/oauth/register", _APP), "OAuthApp")
        assert len(app["client_secret"]) == 26 and app["creator_id"] == world.ids["admin"]
        app_error(world.post("admin", "/api/v3/oauth/register", {**_APP, "callback_urls": []}), 400,
                  "model.oauth.is_valid.callback.app_error")  # fmt: skip
        assert [a["id"] for a in ok(world.get("admin", "/api/v3/oauth/list"), "OAuthAppList")] == [app["id"]]
        info = ok(world.get("user2", f"/api/v3/oauth/app/{app['id']}"), "OAuthAppSanitized")
        assert info["client_secret"] == "" and info["name"] == "client"

        allow = "/api/v3/oauth/allow?response_type=code&client_id={}&redirect_uri={}&state=st8"
        app_error(world.get("user2", allow.format(app["id"], "http://127.0.0.1/other")), 400,
                  "api.oauth.allow_oauth.redirect_callback.app_error")  # fmt: skip
        app_error(world.get("user2", allow.format("z" * 26, "http://127.0.0.1/callback")), 404,
                  "store.sql_oauth.get_app.find.app_error")  # fmt: skip
        redirect = ok(
            world.get("user2", allow.format(app["id"], "http://127.0.0.1/callback")), "OAuthRedirect"
        )
        parts = urlsplit(redirect["redirect"])
        query = parse_qs(parts.query)
        assert (parts.netloc, parts.path, query["state"]) == ("127.0.0.1", "/callback", ["st8"])
        assert len(query["code"][0]) == 52
        authorized = ok(world.get("user2", "/api/v3/oauth/authorized"), "OAuthAppSanitizedList")
        assert [a["id"] for a in authorized] == [app["id"]]
        ok(world.post("user2", f"/api/v3/oauth/{app['id']}/deauthorize"), "StatusOK")
        assert ok(world.get("user2", "/api/v3/oauth/authorized")) == []

        app_error(
            world.post("user2", f"/api/v3/oauth/{app['id']}/regen_secret"),
            403,
            "api.command.admin_only.app_error",
        )
        regen = ok(world.post("admin", f"/api/v3/oauth/{app['id']}/regen_secret"), "OAuthApp")
        assert regen["client_secret"] not in ("", app["client_secret"])
        app_error(world.post("admin", "/api/v3/oauth/delete", {}), 400, "api.context.invalid_param.app_error")
        ok(world.post("admin", "/api/v3/oauth/delete", {"id": app["id"]}), "StatusOK")
        app_error(
            world.get("admin", f"/api/v3/oauth/app/{app['id']}"),
            404,
            "store.sql_oauth.get_app.find.app_error",
        )


def test_sso_login_without_and_with_gitlab(world: World) -> None:
    refused = world.get(None, "/api/v3/oauth/gitlab/login?redirect_to=%2F")
    assert refused.status_code == 501 and refused.headers["Content-Type"] == "text/html"
    assert "window.location = '/error?message\\u003DUnsupported+OAuth+service+provider" in refused.text
    assert refused.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert world.get(None, "/api/v3/oauth/bogus/signup").status_code == 501

    gitlab = {"GitLabSettings__Enable": True, "GitLabSettings__Id": "client-id",
              "GitLabSettings__AuthEndpoint": "https://gitlab.example.com/oauth/authorize"}  # fmt: skip
    with world.settings(**gitlab):
        moved = world.get(None, "/api/v3/oauth/gitlab/login")
        assert moved.status_code == 302
        target = urlsplit(moved.headers["Location"])
        assert (target.netloc, target.path) == ("gitlab.example.com", "/oauth/authorize")
        assert parse_qs(target.query)["client_id"] == ["client-id"]
        assert "MMOAUTH=" in moved.headers["Set-Cookie"]
    with world.settings(TeamSettings__EnableUserCreation=False):
        assert world.get(None, "/api/v3/oauth/gitlab/signup").status_code == 501


# -- system admin -------------------------------------------------------------------------------
def test_config_masks_secrets_and_is_never_cached(world: World) -> None:
    world.server.app.config["EmailSettings.SMTPPassword"] = "hunter2-smtp"
    try:
        response = world.get("admin", "/api/v3/admin/config")
        config = ok(response, "Config")
        assert response.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
        assert config["EmailSettings"]["SMTPPassword"] == MASK
        for section, key in (("SqlSettings", "DataSource"), ("FileSettings", "PublicLinkSalt"),
                             ("EmailSettings", "InviteSalt"), ("SqlSettings", "AtRestEncryptKey")):  # fmt: skip
            assert config[section][key] == MASK
        assert config["GitLabSettings"]["Secret"] == ""  # masked only when set
        assert "hunter2-smtp" not in response.text
        ok(world.post("admin", "/api/v3/admin/save_config", config))  # the masked value keeps the secret
        assert world.server.app.config["EmailSettings.SMTPPassword"] == "hunter2-smtp"
    finally:
        world.server.app.config["EmailSettings.SMTPPassword"] = ""
    app_error(world.get("user2", "/api/v3/admin/config"), 403, "api.context.permissions.app_error")


def test_save_config_takes_effect_at_once_and_validates(world: World) -> None:
    config = ok(world.get("admin", "/api/v3/admin/config"))
    app_error(
        world.get("admin", world.t("/hooks/outgoing/list")), 501, "api.outgoing_webhook.disabled.app_error"
    )
    with world.settings(ServiceSettings__EnableOutgoingWebhooks=True):
        assert ok(world.get("admin", world.t("/hooks/outgoing/list"))) == []
        assert (
            ok(world.get("admin", "/api/v3/admin/config"))["ServiceSettings"]["EnableOutgoingWebhooks"]
            is True
        )
    app_error(
        world.get("admin", world.t("/hooks/outgoing/list")), 501, "api.outgoing_webhook.disabled.app_error"
    )

    save = "/api/v3/admin/save_config"
    bad_rate = {**config, "RateLimitSettings": {**config["RateLimitSettings"], "PerSec": 0}}
    app_error(world.post("admin", save, bad_rate), 400, "model.config.is_valid.rate_sec.app_error")
    wrong_type = {**config, "ServiceSettings": {**config["ServiceSettings"], "EnableAPIv3": "yes"}}
    app_error(world.post("admin", save, wrong_type), 400, "api.context.invalid_param.app_error")
    app_error(
        world.post("admin", save, raw=b'{"ServiceSettings":'), 400, "api.context.invalid_param.app_error"
    )
    app_error(world.post("user2", save, config), 403, "api.context.permissions.app_error")
    assert ok(world.get("admin", "/api/v3/admin/config")) == config  # refused saves changed nothing
    reloaded = world.get("admin", "/api/v3/admin/reload_config")
    assert ok(reloaded, "StatusOK") and reloaded.headers["Cache-Control"].startswith("no-cache")


def test_switching_api_v3_off_through_save_config() -> None:
    with running_server() as server:
        api = Api(server.url)
        api.create_user("root")
        token = api.login("root")
        config = api.ok("GET", "/api/v3/admin/config", token=token)
        config["ServiceSettings"]["EnableAPIv3"] = False
        api.ok("POST", "/api/v3/admin/save_config", config, token=token)
        app_error(api.call("GET", "/api/v3/users/me", token=token), 501, "api.context.v3_disabled.app_error")


def test_logs_list_this_servers_errors_without_secrets(world: World) -> None:
    app_error(world.get("user2", "/api/v3/admin/logs"), 403, "api.context.permissions.app_error")
    lines = ok(world.get("admin", "/api/v3/admin/logs"), "LogLines")
    assert lines[-1] == "\n" and all(line.startswith("\n") for line in lines[1:-1])
    text = "".join(lines)
    assert "[INFO] Server is initializing..." in text
    assert "/api/v3/admin/logs: code=403 rid=" in text and f"uid={world.ids['user2']}" in text
    assert not any(token in text for token in world.tokens.values())


def test_audits_answer_with_an_etag(world: World) -> None:
    response = world.get("admin", "/api/v3/admin/audits")
    audits = ok(response, "AuditList")
    assert audits and response.headers["Etag"] == f"4.9.0.{audits[0]['create_at']}"
    assert (
        world.get("admin", "/api/v3/admin/audits", **{"If-None-Match": response.headers["Etag"]}).status_code
        == 304
    )


def test_analytics_count_the_store(world: World) -> None:
    standard = {
        r["name"]: r["value"]
        for r in ok(world.get("admin", "/api/v3/admin/analytics/standard"), "AnalyticsRows")
    }
    store = world.store()
    assert standard["post_count"] == store.count("posts")
    assert standard["unique_user_count"] == 2 and standard["team_count"] == 1
    assert standard["channel_private_count"] == store.count("channels", type="P")
    team_rows = ok(
        world.get("admin", f"/api/v3/admin/analytics/{world.team['id']}/extra_counts"), "AnalyticsRows"
    )
    extra = {r["name"]: r["value"] for r in team_rows}
    live = [c for c in store.find("commands", team_id=world.team["id"]) if not c.get("delete_at")]
    assert extra["command_count"] == len(live)
    # Posts are counted per day up to yesterday: today's do not show yet.
    assert ok(world.get("admin", "/api/v3/admin/analytics/post_counts_day")) == []
    app_error(
        world.get("admin", "/api/v3/admin/analytics/nothing_here"), 400, "api.context.invalid_param.app_error"
    )


def test_analytics_per_day_count_the_month_before_today() -> None:
    with running_server() as server:
        api = Api(server.url)
        api.create_user("root")
        token = api.login("root")
        day_ms, now = 24 * 3600 * 1000, int(time.time() * 1000)
        for days_ago, author in ((1, "a"), (1, "a"), (1, "b"), (3, "a"), (40, "a")):
            post = {
                "id": new_id(),
                "channel_id": "c" * 26,
                "user_id": author * 26,
                "create_at": now - days_ago * day_ms,
            }
            server.app.store.put("posts", post["id"], post)
        posts = api.ok("GET", "/api/v3/admin/analytics/post_counts_day", token=token)
        authors = api.ok("GET", "/api/v3/admin/analytics/user_counts_with_posts_day", token=token)
    conforms(posts, "AnalyticsRows")
    assert [row["value"] for row in posts] == [3, 1]  # newest day first; 40 days ago is out of range
    assert [row["value"] for row in authors] == [2, 1]
    assert posts[0]["name"] == time.strftime("%Y-%m-%d", time.gmtime((now - day_ms) / 1000))


def test_recently_active_users(world: World) -> None:
    users = ok(world.get("user2", f"/api/v3/admin/recently_active_users/{world.team['id']}"), "UserMap")
    assert set(users) <= set(world.ids.values()) and world.ids["user2"] in users
    assert all("last_activity_at" in u and "password" not in u for u in users.values())


def test_unlicensed_enterprise_routes(world: World) -> None:
    report = {"desc": "r", "emails": "", "keywords": "k", "start_at": 1, "end_at": 2}
    app_error(world.post("admin", "/api/v3/admin/save_compliance_report", report), 501,
              "ent.compliance.licence_disable.app_error")  # fmt: skip
    app_error(world.post("admin", "/api/v3/admin/save_compliance_report", raw=b"{"), 400,
              "api.context.invalid_param.app_error")  # fmt: skip
    app_error(
        world.get("admin", "/api/v3/admin/compliance_reports"),
        501,
        "ent.compliance.licence_disable.app_error",
    )
    app_error(world.get("admin", "/api/v3/admin/download_compliance_report/short"), 400,
              "api.context.invalid_param.app_error")  # fmt: skip
    app_error(world.post("admin", "/api/v3/admin/reset_mfa", {"user_id": world.ids["user2"]}), 501,
              "api.user.update_mfa.not_available.app_error")  # fmt: skip
    assert ok(world.post("admin", "/api/v3/admin/ldap_sync_now"), "StatusOkLowercase") == {"status": "ok"}
    app_error(world.post("admin", "/api/v3/admin/ldap_test"), 501, "ent.ldap.disabled.app_error")
    app_error(world.get(None, "/api/v3/admin/saml_metadata"), 500, "api.admin.saml.metadata.app_error")
    assert ok(world.get("admin", "/api/v3/admin/cluster_status"), "ClusterInfoList") == []
    brand = world.get(None, "/api/v3/admin/get_brand_image")
    assert (brand.status_code, brand.content, brand.headers["Content-Type"]) == (200, b"", "application/json")


def test_brand_image_and_certificate_uploads(world: World) -> None:
    def upload(path: str, field: str, who: str = "admin") -> requests.Response:
        files = {field: ("x.crt", b"-----BEGIN CERTIFICATE-----", "application/x-x509-ca-cert")}
        return world.api.http.post(world.api.url + path, files=files, headers={
            "Authorization": f"Bearer {world.tokens[who]}"})  # fmt: skip

    app_error(upload("/api/v3/admin/upload_brand_image", "image"), 501,
              "api.admin.upload_brand_image.not_available.app_error")  # fmt: skip
    app_error(
        upload("/api/v3/admin/upload_brand_image", "other"),
        400,
        "api.admin.upload_brand_image.no_file.app_error",
    )
    app_error(world.post("admin", "/api/v3/admin/upload_brand_image", {}), 400,
              "api.admin.upload_brand_image.parse.app_error")  # fmt: skip

    not_multipart = world.post("admin", "/api/v3/admin/add_certificate", {})
    assert (not_multipart.status_code, not_multipart.headers["Content-Type"]) == (
        500,
        "text/plain; charset=utf-8",
    )
    app_error(
        upload("/api/v3/admin/add_certificate", "other"), 400, "api.admin.add_certificate.no_file.app_error"
    )
    ok(upload("/api/v3/admin/add_certificate", "certificate"), "StatusOK")
    with world.settings(SamlSettings__IdpCertificateFile="x.crt"):
        status = ok(world.get("admin", "/api/v3/admin/saml_cert_status"), "SamlCertStatus")
        assert status == {"IdpCertificateFile": True, "PrivateKeyFile": False, "PublicCertificateFile": False}
        ok(world.post("admin", "/api/v3/admin/remove_certificate", {"filename": "x.crt"}), "StatusOK")
        assert ok(world.get("admin", "/api/v3/admin/saml_cert_status"))["IdpCertificateFile"] is False
    app_error(world.post("admin", "/api/v3/admin/remove_certificate", {"filename": "x.crt"}), 500,
              "api.admin.remove_certificate.delete.app_error")  # fmt: skip
    app_error(world.post("admin", "/api/v3/admin/remove_certificate", {}), 400,
              "api.admin.remove_certificate.delete.app_error")  # fmt: skip


def test_admin_reset_password(world: World) -> None:
    user = world.api.create_user("resettable")
    reset = "/api/v3/admin/reset_password"
    app_error(world.post("admin", reset, {"user_id": user["id"]}), 400, "model.user.is_valid.pwd.app_error")
    app_error(world.post("admin", reset, {"user_id": "z" * 26, "new_password": "another-pass"}), 404,
              "store.sql_user.missing_account.const")  # fmt: skip
    app_error(world.post("user2", reset, {"user_id": user["id"], "new_password": "another-pass"}), 403,
              "api.context.permissions.app_error")  # fmt: skip
    assert ok(world.post("admin", reset, {"user_id": user["id"], "new_password": "another-pass"})) == {
        "status": "ok"
    }
    login = world.api.call(
        "POST", "/api/v3/users/login", {"login_id": "resettable", "password": "another-pass"}
    )
    assert login.status_code == 200
    old = world.api.call("POST", "/api/v3/users/login", {"login_id": "resettable", "password": PASSWORD})
    assert old.status_code == 401


def test_test_email_never_connects(world: World) -> None:
    config = ok(world.get("admin", "/api/v3/admin/config"))
    email = config["EmailSettings"]
    send = "/api/v3/admin/test_email"
    # With email notifications off 4.9 sends nothing and reports success.
    assert ok(world.post("admin", send, config), "TestEmailResult") == {"SUCCESS": "true"}
    no_server = {**config, "EmailSettings": {**email, "SMTPServer": ""}}
    app_error(world.post("admin", send, no_server), 400, "api.admin.test_email.missing_server")
    sending = {**config, "EmailSettings": {**email, "SendEmailNotifications": True}}
    app_error(world.post("admin", send, sending), 500, "utils.mail.connect_smtp.open.app_error")
    changed = {**config, "EmailSettings": {**email, "SMTPServer": "smtp.example.com", "SMTPPassword": MASK}}
    app_error(world.post("admin", send, changed), 400, "api.admin.test_email.reenter_password")


# -- nothing leaves 127.0.0.1 -------------------------------------------------------------------
@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt of this process to reach a host other than the loopback, refused and recorded."""
    attempts: list[str] = []
    local = {"127.0.0.1", "::1", "localhost"}
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in local:
            attempts.append(f"connect {address}")
            raise OSError("outbound connection refused by the test")
        return real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in local and host is not None:
            attempts.append(f"resolve {host}")
            raise socket.gaierror("lookup refused by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_nothing_here_opens_an_outbound_connection(world: World, outbound: list[str]) -> None:
    remote = {"ServiceSettings__EnableOutgoingWebhooks": True, "EmailSettings__SendEmailNotifications": True,
              "EmailSettings__SMTPServer": "smtp.example.com", "EmailSettings__SMTPPort": "25",
              "GitLabSettings__Enable": True, "GitLabSettings__AuthEndpoint": "https://gitlab.example.com/auth"}  # fmt: skip
    with world.settings(**remote):
        ok(
            world.post(
                "admin", world.t("/commands/create"), _command("faraway", url="http://203.0.113.9/slash")
            )
        )
        app_error(
            _execute(world, "admin", "/faraway go"), 500, "api.command.execute_command.failed.app_error"
        )
        ok(world.post("admin", world.t("/hooks/outgoing/create"),
                      _outgoing(world, trigger_words=["ping"], callback_urls=["http://203.0.113.9/out"])))  # fmt: skip
        world.api.create_post(world.tokens["admin"], world.team["id"], world.public["id"], "ping everyone")
        ok(_execute(world, "admin", "/echo ping again"))
        config = ok(world.get("admin", "/api/v3/admin/config"))
        app_error(
            world.post("admin", "/api/v3/admin/test_email", config),
            500,
            "utils.mail.connect_smtp.open.app_error",
        )
        assert world.get(None, "/api/v3/oauth/gitlab/login").status_code == 302
        ok(_execute(world, "admin", "/invite_people someone@example.org"))
    assert outbound == []


def test_outgoing_hook_lists_absent_or_null_are_null_as_real_49(world: World) -> None:
    """4.9 keeps a nil slice for a list the body leaves out or sends as null and writes it `null`
    (seen live on 4.9.0-rc3); an empty list stays `[]`."""
    with world.settings(ServiceSettings__EnableOutgoingWebhooks=True):
        made = []
        for extra, expected in (({}, None), ({"trigger_words": None}, None), ({"trigger_words": []}, [])):
            body = {
                "channel_id": world.public["id"],
                "callback_urls": [f"http://127.0.0.1:9/{len(made)}"],
                **extra,
            }
            hook = ok(world.post("admin", world.t("/hooks/outgoing/create"), body))
            assert hook["trigger_words"] == expected, extra
            made.append(hook)
        for hook in made:
            ok(world.post("admin", world.t("/hooks/outgoing/delete"), {"id": hook["id"]}))
