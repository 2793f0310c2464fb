"""`POST /hooks/{id}` (and the old `/api/v3/teams/{team_id}/hooks/{id}`) as real 4.9 answers them.

Every status, error id and post shape asserted here was seen on a live real 4.9.0-rc3 for the
same request (hook made through /api/v3, default settings: overrides off).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from mmv3.server import running_server
from mmv3.server.incoming_hooks import decode_json, go_value_text, split_post

from .api import Api, app_error


@dataclass
class Hooked:
    server: Any
    api: Api
    admin: str
    user2: dict
    team: dict
    channel: dict
    hook: dict

    def send(self, path: str | None = None, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.post(self.api.url + (path or f"/hooks/{self.hook['id']}"), **kw)

    def last_post(self, channel_id: str | None = None) -> dict:
        cid = channel_id or self.channel["id"]
        page = self.api.ok(
            "GET", f"/api/v3/teams/{self.team['id']}/channels/{cid}/posts/page/0/1", token=self.admin
        )
        return page["posts"][page["order"][0]]

    def save_config(self, **service: Any) -> None:
        config = self.api.ok("GET", "/api/v3/admin/config", token=self.admin)
        config["ServiceSettings"].update(service)
        self.api.ok("POST", "/api/v3/admin/save_config", config, token=self.admin)


@pytest.fixture(scope="module")
def hooked() -> Iterator[Hooked]:
    with running_server() as server:
        api = Api(server.url)
        api.create_user("hookadmin")
        user2 = api.create_user("hookuser2")
        admin = api.login("hookadmin")
        team = api.create_team(admin, "hookteam")
        api.add_to_team(admin, team["id"], user2["id"])
        channel = api.create_channel(admin, team["id"], "hooked")
        hook = api.ok(
            "POST", f"/api/v3/teams/{team['id']}/hooks/incoming/create",
            {"channel_id": channel["id"], "display_name": "probe"}, token=admin,
        )  # fmt: skip
        yield Hooked(server, api, admin, user2, team, channel, hook)


def assert_ok(response: requests.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/plain"
    assert response.text == "ok"
    assert {"X-Request-Id", "X-Version-Id"} <= set(response.headers)


def test_form_payload_json_body_and_the_old_v3_route_post_as_the_creator(hooked: Hooked) -> None:
    assert_ok(hooked.send(data={"payload": json.dumps({"text": "hello form"})}))
    post = hooked.last_post()
    assert post["message"] == "hello form" and post["user_id"] == hooked.hook["user_id"]
    assert post["props"] == {"from_webhook": "true", "webhook_display_name": "probe"}
    assert post["type"] == ""

    assert_ok(hooked.send(json={"text": "hello json"}))
    assert hooked.last_post()["message"] == "hello json"
    assert_ok(hooked.send(data=json.dumps({"text": "no content type"})))
    assert hooked.last_post()["message"] == "no content type"
    # the old route takes any team id: only the hook decides where the post goes
    assert_ok(hooked.send(f"/api/v3/teams/{'b' * 26}/hooks/{hooked.hook['id']}", json={"text": "old route"}))
    assert hooked.last_post()["message"] == "old route"
    # raw control characters inside strings: 4.9 escapes them and decodes again
    raw = '{"text": "a\tb\nc"}'
    assert_ok(hooked.send(data=raw, headers={"Content-Type": "application/json"}))
    assert hooked.last_post()["message"] == "a\tb\nc"


def test_multipart_fields_by_their_go_names(hooked: Hooked) -> None:
    assert_ok(hooked.send(files={"Text": (None, "multi text"), "username": (None, "mu")}))
    assert hooked.last_post()["message"] == "multi text"
    app_error(
        hooked.send(files={"text": (None, "x"), "bogus": (None, "z")}), 400, "api.webhook.incoming.error"
    )


@pytest.mark.parametrize(
    ("kw", "status", "error_id"),
    [
        ({"json": {"text": ""}}, 400, "web.incoming_webhook.text.app_error"),
        ({"json": {"attachments": []}}, 400, "web.incoming_webhook.text.app_error"),
        ({"data": "null", "headers": {"Content-Type": "application/json"}}, 400, "web.incoming_webhook.text.app_error"),
        ({"data": "not json", "headers": {"Content-Type": "application/json"}}, 400, "Unable to parse incoming data"),
        ({"data": '{"text": 5}', "headers": {"Content-Type": "application/json"}}, 400, "Unable to parse incoming data"),
        ({"data": {"x": "y"}}, 400, "Unable to parse incoming data"),  # a form without `payload`
        ({"json": {"text": "x", "channel": "nope-nope"}}, 404, "web.incoming_webhook.channel.app_error"),
        ({"json": {"text": "x", "channel": "@nobodyhere"}}, 400, "web.incoming_webhook.user.app_error"),
        ({"json": {"text": "x", "type": "system_join_leave"}}, 400, "api.context.invalid_param.app_error"),
    ],
)  # fmt: skip
def test_refusals_as_real_49(hooked: Hooked, kw: dict, status: int, error_id: str) -> None:
    body = app_error(hooked.send(**kw), status, error_id)
    assert body["detailed_error"] == ""  # api4 blanks it outside developer mode


def test_an_unknown_hook_is_400_invalid_after_the_text_check(hooked: Hooked) -> None:
    app_error(
        hooked.send(f"/hooks/{'a' * 26}", json={"text": "x"}), 400, "web.incoming_webhook.invalid.app_error"
    )
    app_error(hooked.send("/hooks/abc", json={"text": ""}), 400, "web.incoming_webhook.text.app_error")
    get = requests.get(f"{hooked.api.url}/hooks/{hooked.hook['id']}", timeout=30)
    assert get.status_code == 404 and get.text == "404 page not found\n"


def test_channel_override_by_name_and_to_a_direct_channel(hooked: Hooked) -> None:
    assert_ok(hooked.send(json={"text": "to town square", "channel": "#town-square"}))
    town = hooked.api.ok(
        "GET", f"/api/v3/teams/{hooked.team['id']}/channels/name/town-square", token=hooked.admin
    )
    assert hooked.last_post(town["id"])["message"] == "to town square"
    assert_ok(hooked.send(json={"text": "a dm", "channel": "@hookuser2"}))
    direct = hooked.api.ok(
        "POST", f"/api/v3/teams/{hooked.team['id']}/channels/create_direct",
        {"user_id": hooked.user2["id"]}, token=hooked.admin,
    )  # fmt: skip
    assert hooked.last_post(direct["id"])["message"] == "a dm"


def test_a_private_channel_the_creator_cannot_read_is_403(hooked: Hooked) -> None:
    secret = hooked.api.create_channel(hooked.admin, hooked.team["id"], "hidden", kind="P")
    token = hooked.api.login("hookuser2")
    hooked.save_config(EnableOnlyAdminIntegrations=False)
    try:
        town = hooked.api.ok(
            "GET", f"/api/v3/teams/{hooked.team['id']}/channels/name/town-square", token=token
        )
        mine = hooked.api.ok(
            "POST",
            f"/api/v3/teams/{hooked.team['id']}/hooks/incoming/create",
            {"channel_id": town["id"]},
            token=token,
        )
    finally:
        hooked.save_config(EnableOnlyAdminIntegrations=True)
    app_error(hooked.send(f"/hooks/{mine['id']}", json={"text": "x", "channel": secret["name"]}), 403,
              "web.incoming_webhook.permissions.app_error")  # fmt: skip
    assert_ok(hooked.send(f"/hooks/{mine['id']}", json={"text": "x", "channel": "hooked"}))  # open: no check


def test_attachments_props_and_slack_markup(hooked: Hooked) -> None:
    body = {
        "text": "see <http://a.example|the page> <!channel>",
        "props": {"a": 1, "from_webhook": "no", "override_username": "zz", "attachments": "dropped"},
    }
    assert_ok(hooked.send(json=body))
    post = hooked.last_post()
    assert post["message"] == "see [the page](http://a.example) @channel"
    assert post["props"] == {"a": 1, "from_webhook": "true", "webhook_display_name": "probe"}
    assert list(post["props"]) == sorted(post["props"])

    attachment = {"text": "att <http://b|b>", "fields": [{"title": "a", "value": 3, "short": True}, None]}
    assert_ok(hooked.send(json={"attachments": [attachment, None]}))
    post = hooked.last_post()
    assert post["type"] == "slack_attachment" and post["message"] == ""
    (stored,) = post["props"]["attachments"]
    assert stored["text"] == "att [b](http://b)"
    assert stored["fields"] == [{"title": "a", "value": "3", "short": True}]
    assert stored["ts"] is None and "actions" not in stored
    assert list(stored)[:3] == ["id", "fallback", "color"]


def test_username_and_icon_overrides_follow_the_settings(hooked: Hooked) -> None:
    assert_ok(hooked.send(json={"text": "plain", "username": "over", "icon_url": "http://y/j.png"}))
    assert "override_username" not in hooked.last_post()["props"]
    hooked.save_config(EnablePostUsernameOverride=True, EnablePostIconOverride=True)
    try:
        assert_ok(hooked.send(json={"text": "named", "username": "over", "icon_url": "http://y/j.png"}))
        props = hooked.last_post()["props"]
        assert props["override_username"] == "over" and props["override_icon_url"] == "http://y/j.png"
        assert_ok(hooked.send(json={"text": "default name"}))
        props = hooked.last_post()["props"]
        assert props["override_username"] == "webhook" and "override_icon_url" not in props
    finally:
        hooked.save_config(EnablePostUsernameOverride=False, EnablePostIconOverride=False)


def test_incoming_hooks_off_is_501_but_a_bad_payload_is_still_400(hooked: Hooked) -> None:
    hooked.save_config(EnableIncomingWebhooks=False)
    try:
        app_error(hooked.send(json={"text": "x"}), 501, "web.incoming_webhook.disabled.app_error")
        app_error(hooked.send(data="{", headers={"Content-Type": "application/json"}), 400,
                  "Unable to parse incoming data")  # fmt: skip
    finally:
        hooked.save_config(EnableIncomingWebhooks=True)


def test_decoding_and_splitting_units() -> None:
    assert decode_json(b'{"TEXT": "x", "text": "y"} trailing')["text"] == "y"
    assert decode_json(b'{"text": null}')["text"] == ""
    for bad in (b"[]", b'{"props": []}', b'{"attachments": {}}', b'{"attachments": [{"id": "x"}]}'):
        with pytest.raises(Exception, match="Unable to parse"):
            decode_json(bad)
    assert [go_value_text(v) for v in (3, 3.5, 1e6, 1234567, True, "s")] == [
        "3", "3.5", "1e+06", "1.234567e+06", "true", "s",
    ]  # fmt: skip
    post = {"message": "x" * 25, "props": {"from_webhook": "true"}}
    assert [len(p["message"]) for p in split_post(post, max_runes=10)] == [10, 10, 5]
