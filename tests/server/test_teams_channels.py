"""The reference server's teams and channels routes against real 4.9's answers.

One shared server holds an admin (the first user), alice (who creates the teams, so is their
admin), bob (a member of alice's open team), carol (in no team) and dave/erin (for groups).
Teams and channels go through the API; tests that need other settings start their own server.
Tests that change shared state make their own channels or teams.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from mmv3.server import running_server
from mmv3.server.ids import new_id, now_ms

from .api import Api, app_error, ok

VERSION = "4.9.0"


@dataclass
class World:
    server: object
    api: Api
    ids: dict[str, str]  # username → user id
    tokens: dict[str, str]  # username → session token
    team: dict  # alice's open team: alice (admin), bob
    closed: dict  # alice's invite-only team: alice only
    public: dict  # an open channel of team: alice and bob
    private: dict  # a private channel of team: alice only

    def call(self, who: str | None, method: str, path: str, body=None, **kw) -> requests.Response:
        return self.api.call(method, path, body, token=self.tokens[who] if who else None, **kw)

    def get(self, who: str | None, path: str, **headers: str) -> requests.Response:
        return self.call(who, "GET", path, headers=headers)

    def post(self, who: str | None, path: str, body=None, **kw) -> requests.Response:
        return self.call(who, "POST", path, body, **kw)

    def t(self, rest: str = "", team: dict | None = None) -> str:
        return f"/api/v3/teams/{(team or self.team)['id']}{rest}"

    def c(self, channel: dict, rest: str = "", team: dict | None = None) -> str:
        return self.t(f"/channels/{channel['id']}{rest}", team)

    def channel(self, who: str, name: str, kind: str = "O", team: dict | None = None) -> dict:
        body = {"name": name, "display_name": name.title(), "type": kind}
        return ok(self.post(who, self.t("/channels/create", team), body), "Channel")

    def fresh_team(self, who: str = "alice", kind: str = "O") -> dict:
        name = f"tc-{new_id()[:10]}"
        return ok(
            self.post(who, "/api/v3/teams/create", {"name": name, "display_name": name, "type": kind}), "Team"
        )

    def posts(self, who: str, channel: dict, team: dict | None = None) -> list[dict]:
        plist = ok(self.get(who, self.c(channel, "/posts/page/0/60", team)), "PostList")
        return [plist["posts"][pid] for pid in plist["order"]]

    def member(self, channel: dict, username: str) -> dict | None:
        return self.server.app.store.get("channel_members", f"{channel['id']}:{self.ids[username]}")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_server() as server:
        api = Api(server.url)
        names = ("admin", "alice", "bob", "carol", "dave", "erin")
        ids = {name: api.create_user(name)["id"] for name in names}
        tokens = {name: api.login(name) for name in names}
        team = api.create_team(tokens["alice"], "tc-open")
        closed = api.create_team(tokens["alice"], "tc-closed", kind="I")
        api.add_to_team(tokens["alice"], team["id"], ids["bob"])
        public = api.create_channel(tokens["alice"], team["id"], "tc-public")
        private = api.create_channel(tokens["alice"], team["id"], "tc-private", kind="P")
        w = World(server, api, ids, tokens, team, closed, public, private)
        ok(w.post("bob", w.c(public, "/join")), "Channel")
        yield w


# ==================================================================================================
# teams
# ==================================================================================================
def test_create_team_makes_creator_admin_with_default_channels(world: World) -> None:
    team = world.fresh_team()
    assert team["email"] == "alice@example.com"  # unsanitised: the creator manages it
    assert team["type"] == "O" and len(team["invite_id"]) == 26
    member = ok(world.get("alice", world.t(f"/members/{world.ids['alice']}", team)), "TeamMember")
    assert member["roles"] == "team_user team_admin"
    mine = ok(world.get("alice", world.t("/channels/", team)), "ChannelList")
    by_name = {c["name"]: c for c in mine}
    assert {"town-square", "off-topic"} <= set(by_name)
    assert (
        by_name["town-square"]["display_name"] == "Town Square" and by_name["town-square"]["creator_id"] == ""
    )
    assert world.member(by_name["off-topic"], "alice")["roles"] == "channel_user channel_admin"
    town_posts = world.posts("alice", by_name["town-square"], team)
    assert [(p["type"], p["message"]) for p in town_posts] == [("system_join_team", "alice joined the team.")]
    off_posts = world.posts("alice", by_name["off-topic"], team)
    assert [(p["type"], p["message"]) for p in off_posts] == [
        ("system_join_channel", "alice joined the channel.")
    ]


@pytest.mark.parametrize(
    ("body", "error_id"),
    [
        ({"display_name": "no name", "type": "O"}, "model.team.is_valid.characters.app_error"),
        (
            {"name": "admin-things", "display_name": "x", "type": "O"},
            "model.team.is_valid.reserved.app_error",
        ),
        (
            {"name": "tc-open", "display_name": "dup", "type": "O"},
            "store.sql_team.save.domain_exists.app_error",
        ),
        ({"name": "tc-typeless", "display_name": "x", "type": "X"}, "model.team.is_valid.type.app_error"),
        ({"name": "tc-nodisplay", "display_name": "", "type": "O"}, "model.team.is_valid.name.app_error"),
        # TeamFromJson keeps what fits (Go): a number for the name leaves it empty
        ({"name": 5, "display_name": "x", "type": "O"}, "model.team.is_valid.characters.app_error"),
        (
            {"id": new_id(), "name": "tc-withid", "display_name": "x", "type": "O"},
            "store.sql_team.save.existing.app_error",
        ),
    ],
)
def test_create_team_refusals(world: World, body: dict, error_id: str) -> None:
    app_error(world.post("bob", "/api/v3/teams/create", body), 400, error_id)


def test_create_team_malformed_body_and_no_session(world: World) -> None:
    body = app_error(
        world.post("bob", "/api/v3/teams/create", raw=b'{"name": '),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid team parameter"
    app_error(
        world.post(None, "/api/v3/teams/create", {"name": "x"}), 401, "api.context.session_expired.app_error"
    )


def test_team_creation_disabled_refuses_regular_users_only() -> None:
    with running_server(config={"TeamSettings": {"EnableTeamCreation": False}}) as server:
        api = Api(server.url)
        api.create_user("boss")
        api.create_user("pleb")
        body = {"name": "tc-nope", "display_name": "nope", "type": "O"}
        refused = api.call("POST", "/api/v3/teams/create", body, token=api.login("pleb"))
        app_error(refused, 403, "api.team.is_team_creation_allowed.disabled.app_error")
        ok(api.call("POST", "/api/v3/teams/create", body, token=api.login("boss")), "Team")


def test_all_teams_admin_sees_every_team_members_see_their_own_sanitised(world: World) -> None:
    everything = ok(world.get("admin", "/api/v3/teams/all"), "TeamMap")
    assert {world.team["id"], world.closed["id"]} <= set(everything)
    assert everything[world.team["id"]]["email"] == "alice@example.com"
    bobs = ok(world.get("bob", "/api/v3/teams/all"), "TeamMap")
    assert world.team["id"] in bobs and world.closed["id"] not in bobs
    assert bobs[world.team["id"]]["email"] == "" and bobs[world.team["id"]]["allowed_domains"] == ""
    assert ok(world.get("carol", "/api/v3/teams/all"), "TeamMap") == {}


def test_all_team_listings_lists_open_invite_teams(world: World) -> None:
    listed = ok(world.get("carol", "/api/v3/teams/all_team_listings"), "TeamMap")
    assert world.closed["id"] not in listed  # allow_open_invite is false for it
    open_team = world.fresh_team()
    update = {**open_team, "allow_open_invite": True}
    ok(world.post("alice", world.t("/update", open_team), update), "Team")
    listed = ok(world.get("carol", "/api/v3/teams/all_team_listings"), "TeamMap")
    assert listed[open_team["id"]]["email"] == ""


def test_get_invite_info(world: World) -> None:
    info = ok(
        world.post(None, "/api/v3/teams/get_invite_info", {"invite_id": world.team["invite_id"]}),
        "InviteInfo",
    )
    assert info == {
        "description": "", "display_name": "tc-open", "id": world.team["id"], "name": "tc-open",
    }  # fmt: skip
    closed = world.post(None, "/api/v3/teams/get_invite_info", {"invite_id": world.closed["invite_id"]})
    app_error(closed, 400, "api.team.get_invite_info.not_open_team")
    unknown = world.post(None, "/api/v3/teams/get_invite_info", {"invite_id": "z" * 26})
    app_error(unknown, 404, "store.sql_team.get_by_invite_id.find.app_error")


def test_find_team_by_name(world: World) -> None:
    assert ok(world.post("carol", "/api/v3/teams/find_team_by_name", {"name": " TC-Open "})) is True
    assert ok(world.post("carol", "/api/v3/teams/find_team_by_name", {"name": "tc-nosuch"})) is False
    assert ok(world.post("carol", "/api/v3/teams/find_team_by_name", raw=b'{"name"')) is False


def test_team_by_name(world: World) -> None:
    mine = ok(world.get("bob", "/api/v3/teams/name/tc-open"), "Team")
    assert mine["id"] == world.team["id"] and mine["email"] == ""
    # An open team without allow_open_invite is hidden from non-members too.
    app_error(world.get("carol", "/api/v3/teams/name/tc-open"), 403, "api.context.permissions.app_error")
    listed = world.fresh_team()
    ok(world.post("alice", world.t("/update", listed), {**listed, "allow_open_invite": True}), "Team")
    assert ok(world.get("carol", f"/api/v3/teams/name/{listed['name']}"), "Team")["id"] == listed["id"]
    app_error(world.get("bob", "/api/v3/teams/name/tc-closed"), 403, "api.context.permissions.app_error")
    assert ok(world.get("admin", "/api/v3/teams/name/tc-closed"), "Team")["email"] == "alice@example.com"
    app_error(world.get("bob", "/api/v3/teams/name/tc-nosuch"), 404, "store.sql_team.get_by_name.app_error")


def test_my_team_members_and_unread(world: World) -> None:
    members = ok(world.get("bob", "/api/v3/teams/members"), "TeamMemberList")
    assert world.team["id"] in {m["team_id"] for m in members}
    assert world.closed["id"] not in {m["team_id"] for m in members}
    channel = world.channel("alice", f"tc-unread-{new_id()[:6]}")
    ok(world.post("bob", world.c(channel, "/join")))
    ok(world.post("bob", world.t("/channels/view"), {"channel_id": channel["id"], "prev_channel_id": ""}))
    world.api.create_post(world.tokens["alice"], world.team["id"], channel["id"], "one")
    world.api.create_post(world.tokens["alice"], world.team["id"], channel["id"], "two")
    unread = ok(world.get("bob", "/api/v3/teams/unread"), "TeamUnreadList")
    mine = {u["team_id"]: u for u in unread}
    assert mine[world.team["id"]]["msg_count"] >= 2
    excluded = ok(world.get("bob", f"/api/v3/teams/unread?id={world.team['id']}"), "TeamUnreadList")
    assert world.team["id"] not in {u["team_id"] for u in excluded}


def test_add_user_to_team_from_invite_id(world: World) -> None:
    team = world.fresh_team()
    joined = ok(
        world.post("carol", "/api/v3/teams/add_user_to_team_from_invite", {"invite_id": team["invite_id"]}),
        "Team",
    )
    assert joined["id"] == team["id"] and joined["email"] == ""  # sanitised for a plain member
    assert (
        world.server.app.store.get("team_members", f"{team['id']}:{world.ids['carol']}")["roles"]
        == "team_user"
    )
    neither = world.post("carol", "/api/v3/teams/add_user_to_team_from_invite", {})
    app_error(neither, 400, "api.user.create_user.signup_link_invalid.app_error")
    unknown = world.post("carol", "/api/v3/teams/add_user_to_team_from_invite", {"invite_id": "z" * 26})
    app_error(unknown, 404, "store.sql_team.get_by_invite_id.find.app_error")


def test_add_user_to_team_from_invite_hash(world: World) -> None:
    team = world.fresh_team(kind="I")
    salt = world.server.app.config["EmailSettings.InviteSalt"]

    def signed(issued: int) -> dict:
        data = json.dumps({"id": team["id"], "time": str(issued)})
        return {"hash": hashlib.sha256(f"{data}:{salt}".encode()).hexdigest(), "data": data}

    path = "/api/v3/teams/add_user_to_team_from_invite"
    forged = {**signed(now_ms()), "hash": "0" * 64}
    app_error(world.post("dave", path, forged), 400, "api.user.create_user.signup_link_invalid.app_error")
    expired = signed(now_ms() - 49 * 3600 * 1000)
    app_error(world.post("dave", path, expired), 400, "api.user.create_user.signup_link_expired.app_error")
    assert ok(world.post("dave", path, signed(now_ms())), "Team")["id"] == team["id"]


def test_my_team_etag_and_304(world: World) -> None:
    response = world.get("bob", world.t("/me"))
    team = ok(response, "Team")
    etag = response.headers["Etag"]
    assert etag == f"{VERSION}.{team['id']}.{team['update_at']}"
    cached = world.get("bob", world.t("/me"), **{"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["Etag"] == etag
    app_error(world.get("bob", world.t("/me", world.closed)), 403, "api.context.permissions.app_error")
    app_error(world.get("admin", f"/api/v3/teams/{'z' * 26}/me"), 400, "store.sql_team.get.find.app_error")


def test_team_stats_counts_live_members(world: World) -> None:
    team = world.fresh_team()
    world.api.add_to_team(world.tokens["alice"], team["id"], world.ids["erin"])
    stats = ok(world.get("alice", world.t("/stats", team)), "TeamStats")
    assert stats == {"team_id": team["id"], "total_member_count": 2, "active_member_count": 2}


def test_team_members_paging_by_row_offset(world: World) -> None:
    team = world.fresh_team()
    for name in ("bob", "carol", "dave"):
        world.api.add_to_team(world.tokens["alice"], team["id"], world.ids[name])
    everyone = ok(world.get("alice", world.t("/members/0/100", team)), "TeamMemberList")
    assert len(everyone) == 4
    window = ok(world.get("alice", world.t("/members/1/2", team)), "TeamMemberList")
    assert window == everyone[1:3]
    assert ok(world.get("alice", world.t("/members/4/10", team))) == []
    app_error(
        world.get("alice", world.t("/members/99999999999999999999/2", team)),
        400,
        "api.context.invalid_param.app_error",
    )


def test_team_members_by_ids_and_one_member(world: World) -> None:
    found = ok(
        world.post("bob", world.t("/members/ids"), [world.ids["alice"], world.ids["carol"]]), "TeamMemberList"
    )
    assert [m["user_id"] for m in found] == [world.ids["alice"]]
    app_error(world.post("bob", world.t("/members/ids"), []), 400, "api.context.invalid_param.app_error")
    app_error(
        world.post("bob", world.t("/members/ids"), raw=b'["'), 400, "api.context.invalid_param.app_error"
    )
    ok(world.get("bob", world.t(f"/members/{world.ids['alice']}")), "TeamMember")
    app_error(
        world.get("bob", world.t(f"/members/{'z' * 26}")), 404, "store.sql_team.get_member.missing.app_error"
    )
    app_error(world.get("bob", world.t("/members/short")), 400, "api.context.invalid_param.app_error")


def test_update_team(world: World) -> None:
    team = world.fresh_team()
    world.api.add_to_team(world.tokens["alice"], team["id"], world.ids["bob"])
    changed = {**team, "display_name": "Renamed", "name": "ignored-name", "email": "x@example.com"}
    updated = ok(world.post("alice", world.t("/update", team), changed), "Team")
    assert updated["display_name"] == "Renamed" and updated["name"] == team["name"]
    assert updated["email"] == "alice@example.com" and updated["update_at"] >= team["update_at"]
    app_error(world.post("bob", world.t("/update", team), changed), 403, "api.context.permissions.app_error")
    empty = {**team, "display_name": ""}
    app_error(world.post("alice", world.t("/update", team), empty), 400, "model.team.is_valid.name.app_error")
    app_error(
        world.post("alice", world.t("/update", team), raw=b'{"id": '),
        400,
        "api.context.invalid_param.app_error",
    )


def test_update_team_member_roles(world: World) -> None:
    team = world.fresh_team()
    world.api.add_to_team(world.tokens["alice"], team["id"], world.ids["bob"])
    path = world.t("/update_member_roles", team)
    body = {"user_id": world.ids["bob"], "new_roles": "team_user team_admin"}
    app_error(world.post("bob", path, body), 403, "api.context.permissions.app_error")
    assert ok(world.post("alice", path, body), "StatusOkLowercase") == {"status": "ok"}
    assert (
        ok(world.get("bob", world.t(f"/members/{world.ids['bob']}", team)))["roles"] == "team_user team_admin"
    )
    bogus = {"user_id": world.ids["bob"], "new_roles": "bogus"}
    app_error(world.post("alice", path, bogus), 400, "app.role.check_roles_exist.role_not_found")
    app_error(
        world.post("alice", path, {"new_roles": "team_user"}), 400, "api.context.invalid_param.app_error"
    )
    outsider = {"user_id": world.ids["carol"], "new_roles": "team_user"}
    app_error(world.post("alice", path, outsider), 400, "api.team.update_member_roles.not_a_member")


def test_invite_members(world: World) -> None:
    body = {"invites": [{"email": "someone@example.com"}]}
    assert ok(world.post("bob", world.t("/invite_members"), body), "Invites") == body  # team_user may invite
    app_error(
        world.post("bob", world.t("/invite_members"), {"invites": []}),
        400,
        "api.team.invite_members.no_one.app_error",
    )
    malformed = world.post("alice", world.t("/invite_members"), raw=b'{"invites": [')
    assert (
        app_error(malformed, 400, "api.context.invalid_param.app_error")["message"]
        == "Invalid invites parameter"
    )
    app_error(
        world.post("bob", world.t("/invite_members", world.closed), body),
        403,
        "api.context.permissions.app_error",
    )


def test_add_user_to_team(world: World) -> None:
    team = world.fresh_team()
    path = world.t("/add_user_to_team", team)
    assert ok(world.post("alice", path, {"user_id": world.ids["dave"]})) == {"user_id": world.ids["dave"]}
    town = next(c for c in ok(world.get("dave", world.t("/channels/", team))) if c["name"] == "town-square")
    assert world.member(town, "dave")["roles"] == "channel_user"
    app_error(world.post("alice", path, {"user_id": "z" * 26}), 404, "store.sql_user.missing_account.const")
    app_error(world.post("alice", path, {}), 400, "api.context.invalid_param.app_error")


def test_max_users_per_team() -> None:
    with running_server(config={"TeamSettings": {"MaxUsersPerTeam": 2}}) as server:
        api = Api(server.url)
        ids = {name: api.create_user(name)["id"] for name in ("owner", "second", "third")}
        token = api.login("owner")
        team = api.create_team(token, "tc-small")
        api.add_to_team(token, team["id"], ids["second"])
        full = api.call(
            "POST", f"/api/v3/teams/{team['id']}/add_user_to_team", {"user_id": ids["third"]}, token=token
        )
        app_error(full, 400, "store.sql_user.save.max_accounts.app_error")


def test_remove_user_from_team(world: World) -> None:
    team = world.fresh_team()
    for name in ("bob", "carol"):
        world.api.add_to_team(world.tokens["alice"], team["id"], world.ids[name])
    path = world.t("/remove_user_from_team", team)
    app_error(
        world.post("bob", path, {"user_id": world.ids["carol"]}), 403, "api.context.permissions.app_error"
    )
    assert ok(world.post("bob", path, {"user_id": world.ids["bob"]})) == {
        "user_id": world.ids["bob"]
    }  # leaving
    member = world.server.app.store.get("team_members", f"{team['id']}:{world.ids['bob']}")
    assert member["delete_at"] > 0 and member["roles"] == ""
    app_error(world.get("bob", world.t("/me", team)), 403, "api.context.permissions.app_error")
    ok(world.post("alice", path, {"user_id": world.ids["carol"]}))
    town = next(c for c in ok(world.get("alice", world.t("/channels/", team))) if c["name"] == "town-square")
    assert world.member(town, "carol") is None
    messages = [p["message"] for p in world.posts("alice", town, team)]
    assert "bob left the team." in messages and "carol was removed from the team." in messages
    app_error(
        world.post("alice", path, {"user_id": world.ids["erin"]}),
        400,
        "api.team.remove_user_from_team.missing.app_error",
    )
    app_error(world.post("alice", path, {"user_id": "z" * 26}), 404, "store.sql_user.missing_account.const")


def _multipart(fields: dict[str, str], file: bytes | None) -> dict:
    files = {"file": ("slack_export.zip", file, "application/zip")} if file is not None else None
    return {"data": fields, "files": files}


def test_import_team(world: World) -> None:
    path = world.api.url + world.t("/import_team")
    auth = {"Authorization": f"Bearer {world.tokens['alice']}"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("channels.json", "[]")
        archive.writestr("users.json", "[]")
    fields = {"importFrom": "slack", "filesize": str(len(buffer.getvalue()))}
    answer = requests.post(path, headers=auth, **_multipart(fields, buffer.getvalue()), timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"] == "attachment; filename=MattermostImportLog.txt"
    assert answer.text.startswith("Mattermost Slack Import Log\r\n") and "Channels added:" in answer.text
    bad_zip = requests.post(path, headers=auth, **_multipart(fields, b"not a zip"), timeout=30)
    assert bad_zip.status_code == 400 and bad_zip.headers["Content-Type"] == "application/octet-stream"
    missing = requests.post(path, headers=auth, **_multipart({"filesize": "3"}, b"abc"), timeout=30)
    app_error(missing, 400, "api.team.import_team.no_import_from.app_error")
    app_error(world.post("alice", world.t("/import_team"), {}), 400, "api.team.import_team.parse.app_error")
    bobs = {"Authorization": f"Bearer {world.tokens['bob']}"}
    refused = requests.post(path, headers=bobs, **_multipart(fields, buffer.getvalue()), timeout=30)
    app_error(refused, 403, "api.context.permissions.app_error")


@pytest.mark.parametrize(("suffix", "kind"), [("", "in_channel"), ("_e", "ephemeral")])
def test_command_test_endpoints(world: World, suffix: str, kind: str) -> None:
    path = f"/api/v3/teams/command_test{suffix}"
    form = world.api.call(
        "POST",
        path,
        raw=b"token=tok&team_domain=dom",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer = ok(form, "CommandResponse")
    assert (
        answer["response_type"] == kind
        and answer["text"] == "test command response \ntoken=tok\nteam_domain=dom"
    )
    assert answer["props"] is None and answer["attachments"] is None
    echoed = ok(world.api.call("GET", path, raw=b"the body", headers={"Content-Type": "text/plain"}))
    assert echoed["text"] == "test command response the body"


# ==================================================================================================
# channels
# ==================================================================================================
def test_create_channel_makes_creator_channel_admin_and_posts_join(world: World) -> None:
    channel = world.channel("bob", f"tc-bobs-{new_id()[:6]}", "P")
    assert channel["type"] == "P" and channel["team_id"] == world.team["id"]
    assert channel["creator_id"] == world.ids["bob"] and channel["last_post_at"] == 0
    assert channel["extra_update_at"] == channel["create_at"]
    assert world.member(channel, "bob")["roles"] == "channel_user channel_admin"
    assert [p["message"] for p in world.posts("bob", channel)] == ["bob joined the channel."]


@pytest.mark.parametrize(
    ("body", "status", "error_id"),
    [
        ({"display_name": "no name", "type": "O"}, 400, "model.channel.is_valid.2_or_more.app_error"),
        (
            {"name": "tc-public", "display_name": "dup", "type": "O"},
            400,
            "store.sql_channel.save_channel.exists.app_error",
        ),
        (
            {"name": "tc-direct", "display_name": "d", "type": "D"},
            400,
            "api.channel.create_channel.direct_channel.app_error",
        ),
        (
            {"name": "tc__under", "display_name": "u", "type": "O"},
            400,
            "api.channel.create_channel.invalid_character.app_error",
        ),
        (
            {"name": "tc-bad-type", "display_name": "t", "type": "X"},
            400,
            "model.channel.is_valid.type.app_error",
        ),
        (
            {"name": "tc-long", "display_name": "x", "type": "O", "purpose": "p" * 251},
            400,
            "model.channel.is_valid.purpose.app_error",
        ),
    ],
)
def test_create_channel_refusals(world: World, body: dict, status: int, error_id: str) -> None:
    app_error(world.post("bob", world.t("/channels/create"), body), status, error_id)


def test_create_channel_needs_team_membership_and_a_decodable_body(world: World) -> None:
    body = {"name": "tc-intruder", "display_name": "x", "type": "O"}
    app_error(
        world.post("bob", world.t("/channels/create", world.closed), body),
        403,
        "api.context.permissions.app_error",
    )
    malformed = world.post("bob", world.t("/channels/create"), raw=b'{"team_id": ')
    assert (
        app_error(malformed, 400, "api.context.invalid_param.app_error")["message"]
        == "Invalid channel parameter"
    )


def test_my_channels_sorted_with_channel_list_etag(world: World) -> None:
    response = world.get("bob", world.t("/channels/"))
    found = ok(response, "ChannelList")
    names = [c["display_name"] for c in found]
    assert names == sorted(names) and {"Town Square", "Off-Topic", "tc-public"} <= set(names)
    assert "tc-private" not in names
    latest = max(found, key=lambda c: max(c["last_post_at"], c["update_at"]))
    expected = f"{VERSION}.{latest['id']}.{max(latest['last_post_at'], latest['update_at'])}.0.{len(found)}"
    assert response.headers["Etag"] == expected
    cached = world.get("bob", world.t("/channels/"), **{"If-None-Match": expected})
    assert cached.status_code == 304 and cached.content == b""


def test_more_channels_pages_by_row_offset_without_304(world: World) -> None:
    team = world.fresh_team()
    world.api.add_to_team(world.tokens["alice"], team["id"], world.ids["bob"])
    made = sorted(world.channel("alice", f"tc-more-{i}", team=team)["display_name"] for i in range(5))
    everything = ok(world.get("bob", world.t("/channels/more/0/50", team)), "ChannelList")
    assert [c["display_name"] for c in everything] == made
    response = world.get("bob", world.t("/channels/more/2/2", team))
    assert [c["display_name"] for c in ok(response, "ChannelList")] == made[2:4]
    again = world.get(
        "bob", world.t("/channels/more/2/2", team), **{"If-None-Match": response.headers["Etag"]}
    )
    assert again.status_code == 200  # the etag is set but never honoured
    empty = world.get("bob", world.t("/channels/more/10/2", team))
    assert ok(empty) == [] and empty.headers["Etag"] == f"{VERSION}.0.0.0.0"
    app_error(
        world.get("bob", world.t("/channels/more/99999999999999999999/2", team)),
        400,
        "api.context.invalid_param.app_error",
    )


def test_search_more_and_autocomplete(world: World) -> None:
    target = world.channel("alice", f"tc-zebra-{new_id()[:6]}")
    found = ok(world.post("bob", world.t("/channels/more/search"), {"term": "tc-zeb"}), "ChannelList")
    assert target["id"] in [c["id"] for c in found]
    assert world.public["id"] not in [c["id"] for c in found]  # bob is in it already
    by_word = ok(world.post("bob", world.t("/channels/more/search"), {"term": "zebra"}), "ChannelList")
    assert target["id"] in [c["id"] for c in by_word]
    app_error(
        world.post("bob", world.t("/channels/more/search"), {}), 400, "api.context.invalid_param.app_error"
    )
    malformed = world.post("bob", world.t("/channels/more/search"), raw=b"{")
    assert app_error(malformed, 400, "api.context.invalid_param.app_error")["message"] == "Invalid  parameter"
    completed = ok(world.get("bob", world.t("/channels/autocomplete?term=tc-zeb")), "ChannelList")
    assert [c["id"] for c in completed] == [target["id"]]


def test_channel_counts_etag(world: World) -> None:
    response = world.get("bob", world.t("/channels/counts"))
    data = ok(response, "ChannelCounts")
    assert world.public["id"] in data["counts"] and world.private["id"] not in data["counts"]
    text = "".join(f"{cid}{n}" for cid, n in sorted(data["counts"].items()))
    digest = hashlib.md5(text.encode()).hexdigest()
    assert response.headers["Etag"] == f"{VERSION}.{digest}.{max(data['update_times'].values())}"
    assert (
        world.get(
            "bob", world.t("/channels/counts"), **{"If-None-Match": response.headers["Etag"]}
        ).status_code
        == 304
    )


def test_my_channel_members(world: World) -> None:
    members = ok(world.get("bob", world.t("/channels/members")), "ChannelMemberList")
    assert world.public["id"] in {m["channel_id"] for m in members}
    assert {m["user_id"] for m in members} == {world.ids["bob"]}


def test_view_channel(world: World) -> None:
    channel = world.channel("alice", f"tc-view-{new_id()[:6]}")
    ok(world.post("bob", world.c(channel, "/join")))
    world.api.create_post(world.tokens["alice"], world.team["id"], channel["id"], "hello")
    body = {"channel_id": channel["id"], "prev_channel_id": ""}
    assert ok(world.post("bob", world.t("/channels/view"), body), "StatusOK") == {"status": "OK"}
    member, stored = world.member(channel, "bob"), world.server.app.store.get("channels", channel["id"])
    assert (
        member["msg_count"] == stored["total_msg_count"]
        and member["last_viewed_at"] == stored["last_post_at"]
    )
    unknown = {"channel_id": "z" * 26, "prev_channel_id": ""}
    app_error(
        world.post("bob", world.t("/channels/view"), unknown),
        500,
        "store.sql_channel.update_last_viewed_at.app_error",
    )
    malformed = world.post("bob", world.t("/channels/view"), raw=b"{")
    assert (
        app_error(malformed, 400, "api.context.invalid_param.app_error")["message"]
        == "Invalid channel_view parameter"
    )


def test_create_direct_channel(world: World) -> None:
    path = world.t("/channels/create_direct")
    direct = ok(world.post("bob", path, {"user_id": world.ids["dave"]}), "Channel")
    assert direct["type"] == "D" and direct["team_id"] == "" and direct["creator_id"] == ""
    assert direct["name"] == "__".join(sorted((world.ids["bob"], world.ids["dave"])))
    assert {world.member(direct, "bob")["roles"], world.member(direct, "dave")["roles"]} == {"channel_user"}
    again = ok(world.post("bob", path, {"user_id": world.ids["dave"]}), "Channel")
    assert again["id"] == direct["id"]
    app_error(
        world.post("bob", path, {"user_id": "z" * 26}),
        400,
        "api.channel.create_direct_channel.invalid_user.app_error",
    )
    app_error(world.post("bob", path, {}), 400, "api.context.invalid_param.app_error")


def test_create_group_channel(world: World) -> None:
    path = world.t("/channels/create_group")
    group = ok(world.post("bob", path, [world.ids["dave"], world.ids["erin"]]), "Channel")
    assert group["type"] == "G" and group["display_name"] == "bob, dave, erin"
    assert re.fullmatch(r"[0-9a-f]{40}", group["name"])
    same = ok(world.post("bob", path, [world.ids["erin"], world.ids["dave"], world.ids["bob"]]), "Channel")
    assert same["id"] == group["id"]
    app_error(
        world.post("bob", path, [world.ids["dave"]]), 400, "api.channel.create_group.bad_size.app_error"
    )
    app_error(world.post("bob", path, []), 400, "api.context.invalid_param.app_error")
    app_error(
        world.post("bob", path, [world.ids["dave"], "z" * 26]),
        400,
        "api.channel.create_group.bad_user.app_error",
    )


def test_update_channel(world: World) -> None:
    channel = world.channel("alice", f"tc-upd-{new_id()[:6]}")
    changed = {**channel, "display_name": "Updated Name", "header": "h"}
    updated = ok(world.post("alice", world.t("/channels/update"), changed), "Channel")
    assert updated["display_name"] == "Updated Name" and updated["header"] == "h"
    assert updated["update_at"] >= channel["update_at"]
    last = world.posts("alice", channel)[0]
    assert last["type"] == "system_displayname_change"
    assert last["props"]["old_displayname"] == channel["display_name"]
    app_error(
        world.post("bob", world.t("/channels/update"), changed),
        404,
        "store.sql_channel.get_member.missing.app_error",
    )
    unknown = {**channel, "id": "z" * 26}
    app_error(
        world.post("alice", world.t("/channels/update"), unknown),
        404,
        "store.sql_channel.get.existing.app_error",
    )
    town = next(c for c in ok(world.get("alice", world.t("/channels/"))) if c["name"] == "town-square")
    renamed = {**town, "name": "elsewhere"}
    app_error(
        world.post("alice", world.t("/channels/update"), renamed),
        400,
        "api.channel.update_channel.tried.app_error",
    )


def test_update_header_and_purpose_write_system_posts(world: World) -> None:
    channel = world.channel("alice", f"tc-hp-{new_id()[:6]}")
    body = {"channel_id": channel["id"], "channel_header": "New **header**"}
    updated = ok(world.post("alice", world.t("/channels/update_header"), body), "Channel")
    assert updated["header"] == "New **header**"
    body = {"channel_id": channel["id"], "channel_purpose": "Purpose"}
    assert (
        ok(world.post("alice", world.t("/channels/update_purpose"), body), "Channel")["purpose"] == "Purpose"
    )
    latest = world.posts("alice", channel)[:2]
    assert [(p["type"], p["message"]) for p in latest] == [
        ("system_purpose_change", "alice updated the channel purpose to: Purpose"),
        ("system_header_change", "alice updated the channel header to: New **header**"),
    ]
    too_long = {"channel_id": channel["id"], "channel_purpose": "p" * 251}
    app_error(
        world.post("alice", world.t("/channels/update_purpose"), too_long),
        400,
        "model.channel.is_valid.purpose.app_error",
    )
    app_error(
        world.post("alice", world.t("/channels/update_header"), {"channel_header": "x"}),
        400,
        "api.context.invalid_param.app_error",
    )
    private = {"channel_id": world.private["id"], "channel_header": "by bob"}
    app_error(
        world.post("bob", world.t("/channels/update_header"), private),
        404,
        "store.sql_channel.get_member.missing.app_error",
    )


def test_update_notify_props(world: World) -> None:
    path = world.t("/channels/update_notify_props")
    body = {
        "channel_id": world.public["id"],
        "user_id": world.ids["bob"],
        "desktop": "all",
        "mark_unread": "mention",
    }
    props = ok(world.post("bob", path, body), "ChannelNotifyProps")
    assert props == {"desktop": "all", "email": "default", "mark_unread": "mention", "push": "default"}
    assert list(props) == sorted(props)
    others = {**body, "user_id": world.ids["alice"]}
    app_error(world.post("bob", path, others), 403, "api.context.permissions.app_error")
    wrong = {**body, "desktop": "loud"}
    app_error(world.post("bob", path, wrong), 400, "model.channel_member.is_valid.notify_level.app_error")
    app_error(
        world.post("bob", path, {"channel_id": world.public["id"]}),
        400,
        "api.context.invalid_param.app_error",
    )


def test_channel_by_name(world: World) -> None:
    response = world.get("bob", world.t("/channels/name/tc-public"))
    channel = ok(response, "Channel")
    assert response.headers["Etag"] == f"{VERSION}.{channel['id']}.{channel['update_at']}"
    assert (
        world.get(
            "bob", world.t("/channels/name/tc-public"), **{"If-None-Match": response.headers["Etag"]}
        ).status_code
        == 304
    )
    app_error(
        world.get("bob", world.t("/channels/name/tc-private")), 403, "api.context.permissions.app_error"
    )
    app_error(
        world.get("bob", world.t("/channels/name/tc-nosuch")),
        404,
        "store.sql_channel.get_by_name.missing.app_error",
    )


def test_join_by_name_and_id(world: World) -> None:
    channel = world.channel("alice", f"tc-join-{new_id()[:6]}")
    stored = world.server.app.store.get("channels", channel["id"])
    answered = ok(world.post("bob", world.t(f"/channels/name/{channel['name']}/join")), "Channel")
    assert answered == stored  # the channel as read before the join (its post and member stamp)
    assert (
        world.server.app.store.get("channels", channel["id"])["extra_update_at"] >= stored["extra_update_at"]
    )
    assert world.member(channel, "bob")["roles"] == "channel_user"
    assert world.posts("bob", channel)[0]["message"] == "bob joined the channel."
    ok(world.post("bob", world.c(channel, "/join")), "Channel")  # a member's join changes nothing
    assert [p["message"] for p in world.posts("bob", channel)].count("bob joined the channel.") == 1
    app_error(
        world.post("bob", world.c(world.private, "/join")),
        400,
        "api.channel.join_channel.permissions.app_error",
    )
    app_error(
        world.post("bob", world.t("/channels/name/tc-private/join")),
        400,
        "api.channel.join_channel.permissions.app_error",
    )
    app_error(
        world.post("bob", world.t("/channels/name/tc-nosuch/join")),
        404,
        "store.sql_channel.get_by_name.missing.app_error",
    )
    app_error(
        world.post("bob", world.c({"id": "z" * 26}, "/join")), 404, "store.sql_channel.get.existing.app_error"
    )


def test_channel_data(world: World) -> None:
    response = world.get("bob", world.c(world.public, "/"))
    data = ok(response, "ChannelData")
    channel, member = data["channel"], data["member"]
    assert member["user_id"] == world.ids["bob"]
    expected = f"{VERSION}.{channel['id']}.{channel['update_at']}.{channel['last_post_at']}.{member['last_update_at']}"
    assert response.headers["Etag"] == expected
    assert world.get("bob", world.c(world.public, "/"), **{"If-None-Match": expected}).status_code == 304
    app_error(
        world.get("bob", world.c(world.private, "/")), 404, "store.sql_channel.get_member.missing.app_error"
    )
    app_error(
        world.get("bob", world.c({"id": "z" * 26}, "/")), 404, "store.sql_channel.get.existing.app_error"
    )
    elsewhere = world.channel("alice", f"tc-else-{new_id()[:6]}", team=world.closed)
    wrong = world.get("alice", world.c(elsewhere, "/", world.team))
    app_error(wrong, 400, "api.channel.get_channel.wrong_team.app_error")


def test_channel_stats_and_members(world: World) -> None:
    stats = ok(world.get("bob", world.c(world.public, "/stats")), "ChannelStats")
    assert stats == {"channel_id": world.public["id"], "member_count": 2}
    app_error(world.get("bob", world.c(world.private, "/stats")), 403, "api.context.permissions.app_error")
    app_error(
        world.get("bob", world.c({"id": "z" * 26}, "/stats")), 404, "store.sql_channel.get.existing.app_error"
    )
    member = ok(world.get("bob", world.c(world.public, f"/members/{world.ids['alice']}")), "ChannelMember")
    assert member["roles"] == "channel_user channel_admin"
    app_error(
        world.get("bob", world.c(world.public, f"/members/{'z' * 26}")),
        404,
        "store.sql_channel.get_member.missing.app_error",
    )
    app_error(
        world.get("bob", world.c(world.private, f"/members/{world.ids['alice']}")),
        403,
        "api.context.permissions.app_error",
    )
    found = ok(
        world.post("bob", world.c(world.public, "/members/ids"), [world.ids["alice"], world.ids["carol"]]),
        "ChannelMemberList",
    )
    assert [m["user_id"] for m in found] == [world.ids["alice"]]
    app_error(
        world.post("bob", world.c(world.public, "/members/ids"), []),
        400,
        "api.context.invalid_param.app_error",
    )
    app_error(
        world.post("bob", world.c(world.private, "/members/ids"), [world.ids["alice"]]),
        403,
        "api.context.permissions.app_error",
    )


def test_pinned_posts(world: World) -> None:
    post = world.api.create_post(world.tokens["alice"], world.team["id"], world.private["id"], "pin me")
    ok(world.post("alice", world.c(world.private, f"/posts/{post['id']}/pin")))
    pinned = ok(world.get("alice", world.c(world.private, "/pinned")), "PostList")
    assert pinned["order"] == [post["id"]] and pinned["posts"][post["id"]]["is_pinned"] is True
    app_error(world.get("bob", world.c(world.private, "/pinned")), 403, "api.context.permissions.app_error")
    assert ok(world.get("bob", world.c({"id": "z" * 26}, "/pinned")), "PostList") == {
        "order": [],
        "posts": {},
    }


def test_leave_channel(world: World) -> None:
    channel = world.channel("alice", f"tc-leave-{new_id()[:6]}")
    ok(world.post("bob", world.c(channel, "/join")))
    assert ok(world.post("bob", world.c(channel, "/leave")), "IdResponse") == {"id": channel["id"]}
    assert world.member(channel, "bob") is None
    assert world.posts("alice", channel)[0]["message"] == "bob left the channel."
    lonely = world.channel("alice", f"tc-lonely-{new_id()[:6]}", "P")
    app_error(world.post("alice", world.c(lonely, "/leave")), 400, "api.channel.leave.last_member.app_error")
    town = next(c for c in ok(world.get("bob", world.t("/channels/"))) if c["name"] == "town-square")
    app_error(world.post("bob", world.c(town, "/leave")), 400, "api.channel.remove.default.app_error")
    direct = ok(world.post("bob", world.t("/channels/create_direct"), {"user_id": world.ids["alice"]}))
    app_error(world.post("bob", world.c(direct, "/leave")), 400, "api.channel.leave.direct.app_error")
    app_error(
        world.post("bob", world.c({"id": "z" * 26}, "/leave")),
        404,
        "store.sql_channel.get.existing.app_error",
    )


def test_delete_channel(world: World) -> None:
    secret = world.channel("alice", f"tc-secret-{new_id()[:6]}", "P")
    app_error(world.post("bob", world.c(secret, "/delete")), 403, "api.context.permissions.app_error")
    assert ok(world.post("alice", world.c(secret, "/delete")), "IdResponse") == {"id": secret["id"]}
    stored = world.server.app.store.get("channels", secret["id"])
    assert stored["delete_at"] > 0 and stored["delete_at"] == stored["update_at"]
    app_error(
        world.post("alice", world.c(secret, "/delete")), 400, "api.channel.delete_channel.deleted.app_error"
    )
    app_error(
        world.get("alice", world.c(secret, "/stats")),
        400,
        "api.channel.get_channel_extra_info.deleted.app_error",
    )
    assert secret["id"] not in [c["id"] for c in ok(world.get("alice", world.t("/channels/")))]
    town = next(c for c in ok(world.get("alice", world.t("/channels/"))) if c["name"] == "town-square")
    app_error(
        world.post("alice", world.c(town, "/delete")), 400, "api.channel.delete_channel.cannot.app_error"
    )
    direct = ok(world.post("bob", world.t("/channels/create_direct"), {"user_id": world.ids["alice"]}))
    app_error(world.post("bob", world.c(direct, "/delete")), 400, "api.channel.delete_channel.type.invalid")


def test_add_and_remove_members(world: World) -> None:
    channel = world.channel("alice", f"tc-crew-{new_id()[:6]}", "P")
    path = world.c(channel, "/add")
    member = ok(world.post("alice", path, {"user_id": world.ids["bob"]}), "ChannelMember")
    assert member["roles"] == "channel_user" and member["user_id"] == world.ids["bob"]
    latest = world.posts("alice", channel)[0]
    assert (
        latest["type"] == "system_add_to_channel"
        and latest["message"] == "bob added to the channel by alice."
    )
    app_error(
        world.post("alice", path, {"user_id": "z" * 26}), 400, "api.channel.add_member.find_user.app_error"
    )
    app_error(
        world.post("alice", path, {"user_id": world.ids["carol"]}),
        404,
        "store.sql_team.get_member.missing.app_error",
    )
    app_error(world.post("alice", path, {}), 400, "api.context.invalid_param.app_error")
    app_error(
        world.post("bob", world.c(world.private, "/add"), {"user_id": world.ids["bob"]}),
        403,
        "api.context.permissions.app_error",
    )
    removed = ok(
        world.post("alice", world.c(channel, "/remove"), {"user_id": world.ids["bob"]}),
        "ChannelMemberRemoved",
    )
    assert removed == {"channel_id": channel["id"], "removed_user_id": world.ids["bob"]}
    assert world.member(channel, "bob") is None
    assert world.posts("alice", channel)[0]["message"] == "bob was removed from the channel."
    app_error(
        world.post("alice", world.c(channel, "/remove"), {"user_id": "z" * 26}),
        404,
        "store.sql_user.missing_account.const",
    )
    town = next(c for c in ok(world.get("alice", world.t("/channels/"))) if c["name"] == "town-square")
    app_error(
        world.post("alice", world.c(town, "/remove"), {"user_id": world.ids["bob"]}),
        400,
        "api.channel.remove.default.app_error",
    )


def test_update_channel_member_roles(world: World) -> None:
    channel = world.channel("alice", f"tc-roles-{new_id()[:6]}")
    ok(world.post("bob", world.c(channel, "/join")))
    path = world.c(channel, "/update_member_roles")
    body = {"user_id": world.ids["bob"], "new_roles": "channel_user channel_admin"}
    app_error(world.post("bob", path, body), 403, "api.context.permissions.app_error")
    assert ok(world.post("alice", path, body), "StatusOkLowercase") == {"status": "ok"}
    assert world.member(channel, "bob")["roles"] == "channel_user channel_admin"
    app_error(
        world.post("alice", path, {**body, "new_roles": "bogus"}),
        400,
        "app.role.check_roles_exist.role_not_found",
    )
    app_error(
        world.post("alice", path, {"new_roles": "channel_user"}), 400, "api.context.invalid_param.app_error"
    )
    outsider = {"user_id": world.ids["carol"], "new_roles": "channel_user"}
    app_error(world.post("alice", path, outsider), 404, "store.sql_channel.get_member.missing.app_error")


def test_system_admin_reads_any_private_channel_of_a_team(world: World) -> None:
    ok(world.get("admin", world.c(world.private, "/stats", world.team)), "ChannelStats")
    ok(world.get("admin", world.t("/channels/name/tc-private")), "Channel")
    # ... but not a channel that does not exist (SessionHasPermissionToChannel)
    app_error(
        world.get("admin", world.c({"id": "z" * 26}, f"/members/{world.ids['alice']}")),
        403,
        "api.context.permissions.app_error",
    )


@pytest.mark.parametrize(
    ("raw", "error_id"),
    [
        (b"null", "api.context.invalid_param.app_error"),  # the *Team stays nil
        (b'{"name": "tc-', "api.context.invalid_param.app_error"),  # a syntax error: nil too
        (b"[1, 2]", "model.team.is_valid.name.app_error"),  # not an object: the zero team
        (b'\n {"Display_Name": "x", "NAME": "tc-folded", "type": "O"} and then garbage', None),
    ],
)
def test_create_team_decodes_its_body_as_go_does(world: World, raw: bytes, error_id: str | None) -> None:
    """Go's Decoder reads the first JSON value only and matches keys case-insensitively."""
    response = world.api.call("POST", "/api/v3/teams/create", raw=raw, token=world.tokens["bob"])
    if error_id is None:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "tc-folded"
    else:
        app_error(response, 400, error_id)
