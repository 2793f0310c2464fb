"""The reference server's users, status and preferences routes against real 4.9's answers.

One shared server holds an admin (the first user), a regular user and a team with a public and a
private channel; tests that change settings or break accounts start their own server. Teams and
channels are written straight into the store so these tests do not depend on the teams handlers.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from mmv3.server import running_server
from mmv3.server.ids import new_id, now_ms

from .api import PASSWORD, Api, app_error, conforms

PROFILE_ONLY = (
    "notify_props",
    "email_verified",
    "allow_marketing",
    "failed_attempts",
    "last_password_update",
)


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def seed_team(server, members: dict[str, str]) -> dict:
    """A team with its members (user id → roles), as the teams handlers store it."""
    team = {
        "id": new_id(), "create_at": now_ms(), "update_at": now_ms(), "delete_at": 0,
        "display_name": "Seeded", "name": f"seeded-{new_id()[:8]}", "description": "",
        "email": "owner@example.com", "type": "O", "company_name": "", "allowed_domains": "",
        "invite_id": new_id(), "allow_open_invite": True,
    }  # fmt: skip
    store = server.app.store
    store.put("teams", team["id"], team)
    for user_id, roles in members.items():
        member = {"team_id": team["id"], "user_id": user_id, "roles": roles, "delete_at": 0}
        store.put("team_members", f"{team['id']}:{user_id}", member)
    return team


def seed_channel(server, team_id: str, kind: str, members: list[str]) -> dict:
    now = now_ms()
    channel = {
        "id": new_id(), "create_at": now, "update_at": now, "delete_at": 0, "team_id": team_id,
        "type": kind, "display_name": "Seeded", "name": f"seeded-{new_id()[:8]}", "header": "",
        "purpose": "", "last_post_at": 0, "total_msg_count": 0, "extra_update_at": now, "creator_id": "",
    }  # fmt: skip
    store = server.app.store
    store.put("channels", channel["id"], channel)
    for user_id in members:
        member = {
            "channel_id": channel["id"], "user_id": user_id, "roles": "channel_user", "last_viewed_at": 0,
            "msg_count": 0, "mention_count": 0, "last_update_at": now,
            "notify_props": {"desktop": "default", "email": "default", "mark_unread": "all", "push": "default"},
        }  # fmt: skip
        store.put("channel_members", f"{channel['id']}:{user_id}", member)
    return channel


@dataclass
class World:
    server: object
    api: Api
    admin: dict
    admin_token: str
    user: dict
    user_token: str
    outsider: dict
    team: dict
    public: dict
    private: dict


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_server() as server:
        api = Api(server.url)
        admin = api.create_user("wadmin")
        user = api.create_user("wuser")
        outsider = api.create_user("woutsider")
        team = seed_team(server, {admin["id"]: "team_user team_admin", user["id"]: "team_user"})
        public = seed_channel(server, team["id"], "O", [admin["id"], user["id"]])
        private = seed_channel(server, team["id"], "P", [admin["id"]])
        yield World(
            server, api, admin, api.login("wadmin"), user, api.login("wuser"), outsider, team, public, private
        )


@pytest.fixture
def fresh() -> Iterator[tuple[object, Api]]:
    with running_server() as server:
        yield server, Api(server.url)


# -- creating users and logging in -----------------------------------------------------------
def test_first_user_becomes_system_admin_and_later_ones_do_not(world: World) -> None:
    assert world.admin["roles"] == "system_admin system_user"
    assert world.user["roles"] == "system_user"
    for user in (world.admin, world.user):
        conforms(user, "User")
        assert "password" not in user and user["auth_data"] == ""
        assert user["notify_props"]["mention_keys"] == f"{user['username']},@{user['username']}"


def test_create_refuses_bad_bodies_and_duplicates(world: World) -> None:
    api = world.api
    body = app_error(
        api.call("POST", "/api/v3/users/create", raw=b'{"username": '),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid user parameter"
    app_error(
        api.call("POST", "/api/v3/users/create", {"username": "nomail", "password": PASSWORD}),
        400,
        "model.user.is_valid.email.app_error",
    )
    duplicate = {"username": "wuser", "email": "wuser@example.com", "password": PASSWORD}
    app_error(
        api.call("POST", "/api/v3/users/create", duplicate),
        400,
        "store.sql_user.save.username_exists.app_error",
    )
    other_name = {"username": "wuser-two", "email": "wuser@example.com", "password": PASSWORD}
    app_error(
        api.call("POST", "/api/v3/users/create", other_name),
        400,
        "store.sql_user.save.email_exists.app_error",
    )
    short = {"username": "shorty", "email": "shorty@example.com", "password": "abc"}
    app_error(api.call("POST", "/api/v3/users/create", short), 400, "model.user.is_valid.pwd.app_error")


def test_closed_server_refuses_sign_up_but_the_first_user() -> None:
    with running_server(config={"TeamSettings": {"EnableOpenServer": False}}) as server:
        api = Api(server.url)
        assert api.create_user("firstone")["roles"] == "system_admin system_user"
        body = {"username": "second", "email": "second@example.com", "password": PASSWORD}
        app_error(api.call("POST", "/api/v3/users/create", body), 403, "api.user.create_user.no_open_server")


def test_login_answers_user_token_and_cookies(world: World) -> None:
    response = world.api.call(
        "POST", "/api/v3/users/login", {"login_id": "wuser@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    conforms(response.json(), "User")
    assert len(response.headers["Token"]) == 26
    cookies = response.raw.headers.getlist("Set-Cookie")
    assert any(c.startswith(f"MMAUTHTOKEN={response.headers['Token']};") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith(f"MMUSERID={world.user['id']};") and "HttpOnly" not in c for c in cookies)


def test_login_takes_null_values_as_go_does(world: World) -> None:
    """The official v3 JavaScript client sends `"token": null`: Go's map[string]string decoding
    makes that "", so the login goes through; a number or an object still empties the map."""
    body = {"login_id": "wuser@example.com", "password": PASSWORD, "token": None, "device_id": None}
    response = world.api.call("POST", "/api/v3/users/login", body)
    assert response.status_code == 200, response.text
    app_error(
        world.api.call("POST", "/api/v3/users/login", {**body, "token": 5}),
        400,
        "api.user.login.blank_pwd.app_error",
    )


def test_login_failures(world: World) -> None:
    call = world.api.call
    app_error(
        call("POST", "/api/v3/users/login", raw=b'{"login_id": "x", "password": '),
        400,
        "api.user.login.blank_pwd.app_error",
    )
    app_error(
        call("POST", "/api/v3/users/login", {"password": PASSWORD}),
        400,
        "store.sql_user.get_for_login.app_error",
    )
    app_error(
        call("POST", "/api/v3/users/login", {"id": "z" * 26, "password": PASSWORD}),
        400,
        "store.sql_user.missing_account.const",
    )
    app_error(
        call("POST", "/api/v3/users/login", {"login_id": "woutsider", "password": "wrong-password"}),
        401,
        "api.user.check_user_password.invalid.app_error",
    )


def test_logout_revokes_the_session_and_clears_cookies(world: World) -> None:
    api = world.api
    token = api.login("wuser")
    response = api.call("POST", "/api/v3/users/logout", token=token)
    assert response.json() == {"user_id": world.user["id"]}
    assert {c.split("=")[0] for c in response.raw.headers.getlist("Set-Cookie")} == {
        "MMAUTHTOKEN",
        "MMUSERID",
    }
    app_error(api.call("GET", "/api/v3/users/me", token=token), 401, "api.context.session_expired.app_error")
    anonymous = api.call("POST", "/api/v3/users/logout")
    assert anonymous.status_code == 200 and anonymous.json() == {"user_id": ""}


# -- reading users ---------------------------------------------------------------------------
def test_me_has_an_etag_and_answers_304(world: World) -> None:
    api = world.api
    response = api.call("GET", "/api/v3/users/me", token=world.user_token)
    me = response.json()
    conforms(me, "User")
    assert "notify_props" in me
    etag = response.headers["Etag"]
    assert etag == f"4.9.0.{me['id']}.{me['update_at']}.true.true"
    again = api.call("GET", "/api/v3/users/me", token=world.user_token, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["Etag"] == etag
    app_error(api.call("GET", "/api/v3/users/me"), 401, "api.context.session_expired.app_error")


def test_initial_load_anonymous_and_signed_in(world: World) -> None:
    anonymous = world.api.ok("GET", "/api/v3/users/initial_load")
    conforms(anonymous, "InitialLoad")
    assert [anonymous[k] for k in ("user", "team_members", "teams", "preferences")] == [None] * 4
    assert anonymous["no_accounts"] is False and anonymous["client_cfg"]["Version"] == "4.9.0"
    mine = world.api.ok("GET", "/api/v3/users/initial_load", token=world.user_token)
    conforms(mine, "InitialLoad")
    assert mine["user"]["id"] == world.user["id"]
    assert [t["id"] for t in mine["teams"]] == [world.team["id"]]
    assert mine["teams"][0]["email"] == ""  # blanked for everyone
    assert [m["team_id"] for m in mine["team_members"]] == [world.team["id"]]
    assert {p["category"] for p in mine["preferences"]} == {"tutorial_step"}


def test_get_user_by_id_name_and_email_are_profiles_with_etags(world: World) -> None:
    api, uid = world.api, world.user["id"]
    for path in (
        f"/api/v3/users/{uid}/get",
        "/api/v3/users/name/wuser",
        "/api/v3/users/email/wuser@example.com",
    ):
        response = api.call("GET", path, token=world.admin_token)
        body = response.json()
        conforms(body, "UserProfile")
        assert body["id"] == uid and not set(PROFILE_ONLY) & set(body)
        assert response.headers["Etag"] == f"4.9.0.{uid}.{body['update_at']}.true.true"
    etag = response.headers["Etag"]
    cached = api.call(
        "GET", f"/api/v3/users/{uid}/get", token=world.user_token, headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304
    app_error(
        api.call("GET", f"/api/v3/users/{'z' * 26}/get", token=world.user_token),
        404,
        "store.sql_user.missing_account.const",
    )
    app_error(
        api.call("GET", "/api/v3/users/name/nosuchuser", token=world.user_token),
        404,
        "store.sql_user.get_by_username.app_error",
    )
    app_error(
        api.call("GET", "/api/v3/users/email/no@example.com", token=world.user_token),
        404,
        "store.sql_user.missing_account.const",
    )


def test_privacy_settings_hide_email_and_names_from_non_admins() -> None:
    hidden = {"PrivacySettings": {"ShowEmailAddress": False, "ShowFullName": False}}
    with running_server(config=hidden) as server:
        api = Api(server.url)
        api.create_user("padmin")
        user = api.ok(
            "POST", "/api/v3/users/create",
            {"username": "puser", "email": "puser@example.com", "password": PASSWORD, "first_name": "Pat"},
        )  # fmt: skip
        admin_token, user_token = api.login("padmin"), api.login("puser")
        seen = api.call("GET", f"/api/v3/users/{user['id']}/get", token=user_token)
        assert (seen.json()["email"], seen.json()["first_name"]) == ("", "")
        assert seen.headers["Etag"].endswith(".false.false")
        by_admin = api.ok("GET", f"/api/v3/users/{user['id']}/get", token=admin_token)
        assert (by_admin["email"], by_admin["first_name"]) == ("puser@example.com", "Pat")
        notify = {
            "user_id": user["id"],
            "email": "true",
            "desktop_sound": "true",
            "desktop": "all",
            "comments": "never",
        }
        own = api.ok("POST", "/api/v3/users/update_notify", notify, token=user_token)
        assert own["email"] == "" and "last_password_update" not in own  # no exception for oneself
        assert api.ok("GET", "/api/v3/users/me", token=user_token)["email"] == "puser@example.com"


# -- lists, search, autocomplete -------------------------------------------------------------
def test_users_page_is_a_profile_map_with_etag(world: World) -> None:
    api = world.api
    response = api.call("GET", "/api/v3/users/0/2", token=world.user_token)
    page = response.json()
    conforms(page, "UserMap")
    assert sorted(u["username"] for u in page.values()) == ["wadmin", "woutsider"]  # username order
    assert response.headers["Etag"].startswith("4.9.0.") and response.headers["Etag"].endswith(
        ".true.true0.2"
    )
    rest = api.ok("GET", "/api/v3/users/2/100", token=world.user_token)
    assert [u["username"] for u in rest.values()] == ["wuser"]
    body = app_error(
        api.call("GET", "/api/v3/users/99999999999999999999/10", token=world.user_token),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid offset parameter"


def test_team_users_page(world: World) -> None:
    api, team_id = world.api, world.team["id"]
    response = api.call("GET", f"/api/v3/teams/{team_id}/users/0/100", token=world.user_token)
    assert set(response.json()) == {world.admin["id"], world.user["id"]}
    conforms(response.json(), "UserMap")
    assert response.headers["Etag"].endswith(".true.true")
    outsider = api.login("woutsider")
    app_error(
        api.call("GET", f"/api/v3/teams/{team_id}/users/0/100", token=outsider),
        403,
        "api.context.permissions.app_error",
    )
    app_error(
        api.call("GET", f"/api/v3/teams/{'z' * 26}/users/0/100", token=world.admin_token),
        400,
        "store.sql_team.get.find.app_error",
    )


def test_channel_users_and_users_not_in_channel(world: World) -> None:
    api, team_id = world.api, world.team["id"]
    base = f"/api/v3/teams/{team_id}/channels"
    assert set(api.ok("GET", f"{base}/{world.public['id']}/users/0/100", token=world.user_token)) == {
        world.admin["id"],
        world.user["id"],
    }
    outside = api.ok(
        "GET", f"{base}/{world.private['id']}/users/not_in_channel/0/100", token=world.admin_token
    )
    conforms(outside, "UserMap")
    assert set(outside) == {world.user["id"]}
    for path in (
        f"{base}/{world.private['id']}/users/0/100",
        f"{base}/{world.private['id']}/users/not_in_channel/0/100",
    ):
        app_error(api.call("GET", path, token=world.user_token), 403, "api.context.permissions.app_error")
    # An unknown channel is refused even to a system admin.
    app_error(
        api.call("GET", f"{base}/{'z' * 26}/users/0/100", token=world.admin_token),
        403,
        "api.context.permissions.app_error",
    )


def test_search(world: World) -> None:
    api, token = world.api, world.admin_token
    found = api.ok("POST", "/api/v3/users/search", {"term": "wu"}, token=token)
    conforms(found, "UserList")
    assert [u["username"] for u in found] == ["wuser"]
    in_team = api.ok("POST", "/api/v3/users/search", {"term": "w", "team_id": world.team["id"]}, token=token)
    assert [u["username"] for u in in_team] == ["wadmin", "wuser"]
    by_email = api.ok("POST", "/api/v3/users/search", {"term": "woutsider@example.com"}, token=token)
    assert [u["username"] for u in by_email] == ["woutsider"]
    without = api.ok("POST", "/api/v3/users/search", {"term": "w", "without_team": True}, token=token)
    assert [u["username"] for u in without] == ["woutsider"]
    not_in = api.ok(
        "POST",
        "/api/v3/users/search",
        {"term": "w", "not_in_channel_id": world.private["id"], "team_id": world.team["id"]},
        token=token,
    )
    assert [u["username"] for u in not_in] == ["wuser"]
    body = app_error(
        api.call("POST", "/api/v3/users/search", {"team_id": world.team["id"]}, token=token),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid term parameter"
    body = app_error(
        api.call("POST", "/api/v3/users/search", raw=b'{"term": ', token=token),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid  parameter"
    private = {"term": "w", "in_channel_id": world.private["id"]}
    app_error(
        api.call("POST", "/api/v3/users/search", private, token=world.user_token),
        403,
        "api.context.permissions.app_error",
    )


def test_profiles_by_ids(world: World) -> None:
    api = world.api
    found = api.ok(
        "POST", "/api/v3/users/ids", [world.admin["id"], world.user["id"], "z" * 26], token=world.user_token
    )
    conforms(found, "UserMap")
    assert set(found) == {world.admin["id"], world.user["id"]}
    for raw in (b"[]", b'["abc'):
        body = app_error(
            api.call("POST", "/api/v3/users/ids", raw=raw, token=world.user_token),
            400,
            "api.context.invalid_param.app_error",
        )
        assert body["message"] == "Invalid user_ids parameter"


def test_autocomplete_everywhere(world: World) -> None:
    api, team_id = world.api, world.team["id"]
    everyone = api.ok("GET", "/api/v3/users/autocomplete?term=w", token=world.user_token)
    conforms(everyone, "UserList")
    assert [u["username"] for u in everyone] == ["wadmin", "woutsider", "wuser"]
    assert (
        api.ok("GET", "/api/v3/users/autocomplete?term=wad", token=world.user_token)[0]["username"]
        == "wadmin"
    )
    in_team = api.ok("GET", f"/api/v3/teams/{team_id}/users/autocomplete?term=w", token=world.user_token)
    conforms(in_team, "UserAutocompleteInTeam")
    assert [u["username"] for u in in_team["in_team"]] == ["wadmin", "wuser"]
    path = f"/api/v3/teams/{team_id}/channels/{world.private['id']}/users/autocomplete?term=w"
    split = api.ok("GET", path, token=world.admin_token)
    conforms(split, "UserAutocompleteInChannel")
    assert [u["username"] for u in split["in_channel"]] == ["wadmin"]
    assert [u["username"] for u in split["out_of_channel"]] == ["wuser"]
    app_error(api.call("GET", path, token=world.user_token), 403, "api.context.permissions.app_error")


# -- editing users ---------------------------------------------------------------------------
def test_update_changes_profile_fields_only(fresh) -> None:
    _, api = fresh
    api.create_user("uadmin")
    user = api.create_user("uuser")
    token = api.login("uuser")
    edited = {**user, "nickname": "nick", "roles": "system_admin system_user", "username": "UUser2"}
    updated = api.ok("POST", "/api/v3/users/update", edited, token=token)
    conforms(updated, "User")
    assert (updated["nickname"], updated["username"], updated["roles"]) == ("nick", "uuser2", "system_user")
    assert updated["notify_props"]["mention_keys"] == "uuser2,@uuser2"
    assert updated["update_at"] > user["update_at"]
    # Real 4.9 checks only the length of an email here.
    assert (
        api.ok("POST", "/api/v3/users/update", {**updated, "email": "not-an-email"}, token=token)["email"]
        == "not-an-email"
    )
    admin = api.ok("GET", "/api/v3/users/name/uadmin", token=token)
    app_error(
        api.call("POST", "/api/v3/users/update", {**admin, "create_at": 1}, token=token),
        403,
        "api.context.permissions.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/users/update", raw=b'{"id": ', token=token),
        400,
        "api.context.invalid_param.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/users/update", {**updated, "username": "uadmin"}, token=token),
        400,
        "store.sql_user.update.username_taken.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/users/update", {**updated, "username": "bad name!"}, token=token),
        400,
        "model.user.is_valid.username.app_error",
    )


def test_update_active_deactivates_and_revokes_sessions(fresh) -> None:
    _, api = fresh
    api.create_user("aadmin")
    user = api.create_user("auser")
    admin_token, user_token = api.login("aadmin"), api.login("auser")
    other = api.create_user("aother")
    app_error(
        api.call(
            "POST",
            "/api/v3/users/update_active",
            {"user_id": other["id"], "active": "false"},
            token=user_token,
        ),
        403,
        "api.user.update_active.permissions.app_error",
    )
    off = api.ok(
        "POST", "/api/v3/users/update_active", {"user_id": user["id"], "active": "false"}, token=admin_token
    )
    assert off["delete_at"] > 0 and "last_password_update" not in off
    app_error(
        api.call("GET", "/api/v3/users/me", token=user_token), 401, "api.context.session_expired.app_error"
    )
    app_error(
        api.call("POST", "/api/v3/users/login", {"login_id": "auser", "password": PASSWORD}),
        401,
        "api.user.login.inactive.app_error",
    )
    on = api.ok(
        "POST", "/api/v3/users/update_active", {"user_id": user["id"], "active": "true"}, token=admin_token
    )
    assert on["delete_at"] == 0
    # Deactivating oneself needs no permission.
    own = api.ok(
        "POST",
        "/api/v3/users/update_active",
        {"user_id": user["id"], "active": "false"},
        token=api.login("auser"),
    )
    assert own["delete_at"] > 0
    app_error(
        api.call("POST", "/api/v3/users/update_active", {"active": "false"}, token=admin_token),
        400,
        "api.context.invalid_param.app_error",
    )
    app_error(
        api.call(
            "POST", "/api/v3/users/update_active", {"user_id": "z" * 26, "active": "false"}, token=admin_token
        ),
        404,
        "store.sql_user.missing_account.const",
    )


def test_update_notify(world: World) -> None:
    api, uid = world.api, world.user["id"]
    props = {
        "user_id": uid,
        "email": "false",
        "desktop_sound": "true",
        "desktop": "all",
        "comments": "any",
        "push": "none",
    }
    updated = api.ok("POST", "/api/v3/users/update_notify", props, token=world.user_token)
    conforms(updated, "User")
    assert updated["notify_props"] == {k: v for k, v in props.items() if k != "user_id"}
    body = app_error(
        api.call(
            "POST", "/api/v3/users/update_notify", {"user_id": uid, "email": "true"}, token=world.user_token
        ),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid desktop_sound parameter"
    app_error(
        api.call(
            "POST",
            "/api/v3/users/update_notify",
            {**props, "user_id": world.admin["id"]},
            token=world.user_token,
        ),
        403,
        "api.context.permissions.app_error",
    )


def test_newpassword(fresh) -> None:
    _, api = fresh
    api.create_user("npadmin")
    user = api.create_user("npuser")
    token = api.login("npuser")
    change = {"user_id": user["id"], "current_password": PASSWORD, "new_password": "Another-pass-2"}
    app_error(
        api.call(
            "POST", "/api/v3/users/newpassword", {**change, "current_password": "nope-nope"}, token=token
        ),
        400,
        "api.user.update_password.incorrect.app_error",
    )
    body = app_error(
        api.call(
            "POST", "/api/v3/users/newpassword", {"user_id": user["id"], "new_password": "x" * 8}, token=token
        ),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid current_password parameter"
    app_error(
        api.call("POST", "/api/v3/users/newpassword", change, token=api.login("npadmin")),
        403,
        "api.user.update_password.context.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/users/newpassword", {**change, "new_password": "abc"}, token=token),
        400,
        "model.user.is_valid.pwd.app_error",
    )
    assert api.ok("POST", "/api/v3/users/newpassword", change, token=token) == {"user_id": user["id"]}
    login = api.call("POST", "/api/v3/users/login", {"login_id": "npuser", "password": "Another-pass-2"})
    assert login.status_code == 200


def test_password_reset_tokens(fresh) -> None:
    server, api = fresh
    api.create_user("radmin")
    user = api.create_user("ruser")
    assert api.ok("POST", "/api/v3/users/send_password_reset", {"email": "nobody@example.com"}) == {
        "email": "nobody@example.com"
    }
    body = app_error(
        api.call("POST", "/api/v3/users/send_password_reset", {}), 400, "api.context.invalid_param.app_error"
    )
    assert body["message"] == "Invalid email parameter"
    assert api.ok("POST", "/api/v3/users/send_password_reset", {"email": "ruser@example.com"}) == {
        "email": "ruser@example.com"
    }
    (token,) = server.app.store.find("tokens", type="password_recovery")
    assert token["extra"] == user["id"] and len(token["token"]) == 64
    app_error(
        api.call("POST", "/api/v3/users/reset_password", {"new_password": "x" * 8}),
        400,
        "api.context.invalid_param.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/users/reset_password", {"code": "a" * 64, "new_password": "x" * 8}),
        400,
        "api.user.reset_password.invalid_link.app_error",
    )
    expired = {**token, "token": "b" * 64, "create_at": now_ms() - 3600 * 1000}
    server.app.store.put("tokens", expired["token"], expired)
    app_error(
        api.call("POST", "/api/v3/users/reset_password", {"code": "b" * 64, "new_password": "x" * 8}),
        400,
        "api.user.reset_password.link_expired.app_error",
    )
    reset = {"code": token["token"], "new_password": "Reset-pass-3"}
    assert api.ok("POST", "/api/v3/users/reset_password", reset) == {"status": "ok"}
    assert (
        api.call("POST", "/api/v3/users/login", {"login_id": "ruser", "password": "Reset-pass-3"}).status_code
        == 200
    )
    app_error(
        api.call("POST", "/api/v3/users/reset_password", reset),
        400,
        "api.user.reset_password.invalid_link.app_error",
    )


# -- sessions, devices, audits ---------------------------------------------------------------
def test_sessions_are_listed_without_tokens(world: World) -> None:
    api, uid = world.api, world.user["id"]
    sessions = api.ok("GET", f"/api/v3/users/{uid}/sessions", token=world.user_token)
    conforms(sessions, "SessionList")
    assert sessions and all(s["token"] == "" and s["user_id"] == uid for s in sessions)
    assert [m["team_id"] for m in sessions[0]["team_members"]] == [world.team["id"]]
    app_error(
        api.call("GET", f"/api/v3/users/{world.admin['id']}/sessions", token=world.user_token),
        403,
        "api.context.permissions.app_error",
    )
    assert api.ok("GET", f"/api/v3/users/{'z' * 26}/sessions", token=world.admin_token) == []


def test_revoke_session_needs_ownership(world: World) -> None:
    api = world.api

    def newest_session(username: str, user_id: str) -> tuple[str, str]:
        token = api.login(username)
        sessions = api.ok("GET", f"/api/v3/users/{user_id}/sessions", token=token)
        return token, max(sessions, key=lambda s: s["create_at"])["id"]

    spare, spare_id = newest_session("wuser", world.user["id"])
    _, admin_spare_id = newest_session("wadmin", world.admin["id"])
    # Real 4.9 let anyone revoke any session; the reference server refuses others' sessions.
    app_error(
        api.call("POST", "/api/v3/users/revoke_session", {"id": admin_spare_id}, token=world.user_token),
        403,
        "api.context.permissions.app_error",
    )
    assert api.ok("POST", "/api/v3/users/revoke_session", {"id": spare_id}, token=world.user_token) == {
        "id": spare_id
    }
    app_error(api.call("GET", "/api/v3/users/me", token=spare), 401, "api.context.session_expired.app_error")
    assert api.ok(
        "POST", "/api/v3/users/revoke_session", {"id": admin_spare_id}, token=world.admin_token
    ) == {"id": admin_spare_id}
    for body in ({"id": "z" * 26}, None):
        raw = b"{" if body is None else None
        app_error(
            api.call("POST", "/api/v3/users/revoke_session", body, raw=raw, token=world.admin_token),
            400,
            "store.sql_session.get.app_error",
        )


def test_attach_device_sets_the_mobile_cookie(world: World) -> None:
    api = world.api
    token = api.login("wuser")
    response = api.call("POST", "/api/v3/users/attach_device", {"device_id": "android:abc"}, token=token)
    assert response.json() == {"device_id": "android:abc"}
    conforms(response.json(), "DeviceIdResponse")
    (cookie,) = response.raw.headers.getlist("Set-Cookie")
    assert cookie.startswith(f"MMAUTHTOKEN={token};") and "Max-Age=2592000" in cookie
    sessions = api.ok("GET", f"/api/v3/users/{world.user['id']}/sessions", token=token)
    assert [s["device_id"] for s in sessions].count("android:abc") == 1
    body = app_error(
        api.call("POST", "/api/v3/users/attach_device", {}, token=token),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid deviceId parameter"


def test_audits_record_logins_and_are_private(world: World) -> None:
    api, uid = world.api, world.user["id"]
    response = api.call("GET", f"/api/v3/users/{uid}/audits", token=world.user_token)
    rows = response.json()
    conforms(rows, "AuditList")
    assert rows[0]["create_at"] >= rows[-1]["create_at"] and len(rows) <= 20
    assert any(r["action"] == "/api/v3/users/login" and r["extra_info"] == "success" for r in rows)
    assert response.headers["Etag"] == f"4.9.0.{rows[0]['create_at']}"
    app_error(
        api.call("GET", f"/api/v3/users/{world.admin['id']}/audits", token=world.user_token),
        403,
        "api.context.permissions.app_error",
    )
    unknown = api.call("GET", f"/api/v3/users/{'z' * 26}/audits", token=world.admin_token)
    assert unknown.json() == [] and "Etag" not in unknown.headers


# -- pictures --------------------------------------------------------------------------------
def test_default_picture_then_upload(fresh) -> None:
    _, api = fresh
    api.create_user("iadmin")
    user = api.create_user("iuser")
    token = api.login("iuser")
    path = f"/api/v3/users/{user['id']}/image"
    first = api.call("GET", path, token=token)
    assert first.status_code == 200 and first.headers["Content-Type"] == "image/png"
    assert first.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert first.headers["Cache-Control"] == "max-age=300, public" and "Etag" not in first.headers
    stored = api.call("GET", path, token=token)  # the generated default was kept
    assert stored.headers["Cache-Control"] == "max-age=86400, public" and stored.headers["Etag"] == "0"
    assert stored.content == first.content
    app_error(
        api.call("GET", f"/api/v3/users/{'z' * 26}/image", token=token),
        500,
        "store.sql_user.get_profiles.app_error",
    )

    upload = "/api/v3/users/newimage"
    app_error(api.call("POST", upload, {}, token=token), 400, "api.user.upload_profile_user.parse.app_error")
    headers = {"Authorization": f"Bearer {token}"}
    wrong_part = requests.post(
        api.url + upload, files={"notimage": ("a.txt", b"hello")}, headers=headers, timeout=30
    )
    app_error(wrong_part, 400, "api.user.upload_profile_user.no_file.app_error")
    not_image = requests.post(
        api.url + upload, files={"image": ("a.png", b"not a picture")}, headers=headers, timeout=30
    )
    app_error(not_image, 400, "api.user.upload_profile_user.decode_config.app_error")
    done = requests.post(
        api.url + upload, files={"image": ("a.png", tiny_png(), "image/png")}, headers=headers, timeout=30
    )
    assert done.status_code == 200 and done.json() is True
    me = api.ok("GET", "/api/v3/users/me", token=token)
    assert me["last_picture_update"] == me["update_at"] > user["update_at"]
    fresh_picture = api.call("GET", path, token=token)
    assert fresh_picture.headers["Etag"] == str(me["last_picture_update"])
    assert fresh_picture.headers["Cache-Control"] == "max-age=86400, public"
    assert fresh_picture.content.startswith(b"\x89PNG") and fresh_picture.content != first.content
    cached = api.call("GET", path, token=token, headers={"If-None-Match": fresh_picture.headers["Etag"]})
    assert cached.status_code == 304


# -- roles -----------------------------------------------------------------------------------
def test_update_roles(fresh) -> None:
    _, api = fresh
    api.create_user("roadmin")
    user = api.create_user("rouser")
    admin_token, user_token = api.login("roadmin"), api.login("rouser")
    path = f"/api/v3/users/{user['id']}/update_roles"
    promoted = api.ok("POST", path, {"new_roles": "system_user system_admin"}, token=admin_token)
    conforms(promoted, "StatusOkLowercase")
    assert api.ok("GET", "/api/v3/users/me", token=user_token)["roles"] == "system_user system_admin"
    sessions = api.ok("GET", f"/api/v3/users/{user['id']}/sessions", token=user_token)
    assert {s["roles"] for s in sessions} == {"system_user system_admin"}
    # Real 4.9 answers an unknown role with an empty 200; the reference server answers 400.
    app_error(
        api.call("POST", path, {"new_roles": "bogus_role"}, token=admin_token),
        400,
        "app.role.check_roles_exist.role_not_found",
    )
    body = app_error(
        api.call("POST", path, {"new_roles": "system_admin"}, token=admin_token),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid new_roles parameter"
    api.ok("POST", path, {"new_roles": "system_user"}, token=admin_token)
    admin_path = f"/api/v3/users/{api.ok('GET', '/api/v3/users/me', token=admin_token)['id']}/update_roles"
    app_error(
        api.call("POST", admin_path, {"new_roles": "system_user"}, token=user_token),
        403,
        "api.context.permissions.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/users/abc/update_roles", {"new_roles": "system_user"}, token=admin_token),
        400,
        "api.context.invalid_param.app_error",
    )


# -- MFA and sign-in method claims (unlicensed: not available) --------------------------------
def test_mfa_is_not_available(world: World) -> None:
    api = world.api
    for raw in (b'{"login_id": "wadmin"}', b"{}", b"{"):
        answer = api.call("POST", "/api/v3/users/mfa", raw=raw).json()
        assert answer == {"mfa_required": "false"}
    conforms(answer, "MfaRequired")
    app_error(
        api.call("GET", "/api/v3/users/generate_mfa_secret", token=world.user_token),
        501,
        "api.user.generate_mfa_qr.not_available.app_error",
    )
    body = app_error(
        api.call("POST", "/api/v3/users/update_mfa", {"activate": "yes"}, token=world.user_token),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid activate parameter"
    body = app_error(
        api.call("POST", "/api/v3/users/update_mfa", {"activate": True, "token": 5}, token=world.user_token),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid token parameter"
    update = {"activate": True, "token": "123456"}
    app_error(
        api.call("POST", "/api/v3/users/update_mfa", update, token=world.user_token),
        501,
        "api.user.update_mfa.not_available.app_error",
    )


def test_account_claims_without_sso_or_ldap(fresh) -> None:
    _, api = fresh
    api.create_user("cadmin")
    user = api.create_user("cuser")
    email = "cuser@example.com"
    body = app_error(
        api.call("POST", "/api/v3/users/claim/email_to_oauth", {"password": PASSWORD, "email": email}),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid service parameter"
    oauth = {"password": PASSWORD, "email": email, "service": "gitlab"}
    app_error(
        api.call("POST", "/api/v3/users/claim/email_to_oauth", oauth),
        501,
        "api.user.get_authorization_code.unsupported.app_error",
    )
    ldap = {"email": email, "email_password": PASSWORD, "ldap_id": "cl", "ldap_password": "ldap-pass"}
    body = app_error(
        api.call("POST", "/api/v3/users/claim/email_to_ldap", {"email": email}),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid email_password parameter"
    token = api.login("cuser")
    app_error(
        api.call("POST", "/api/v3/users/claim/email_to_ldap", ldap),
        501,
        "api.user.email_to_ldap.not_available.app_error",
    )
    app_error(api.call("GET", "/api/v3/users/me", token=token), 401, "api.context.session_expired.app_error")
    body = app_error(
        api.call("POST", "/api/v3/users/claim/ldap_to_email", {"email": email, "email_password": PASSWORD}),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid ldap_password parameter"
    app_error(
        api.call("POST", "/api/v3/users/claim/ldap_to_email", ldap),
        400,
        "api.user.ldap_to_email.not_ldap_account.app_error",
    )

    token = api.login("cuser")
    app_error(
        api.call("POST", "/api/v3/users/claim/oauth_to_email", {"password": PASSWORD}, token=token),
        400,
        "api.context.invalid_param.app_error",
    )
    app_error(
        api.call(
            "POST", "/api/v3/users/claim/oauth_to_email", {"password": "abc", "email": email}, token=token
        ),
        400,
        "model.user.is_valid.pwd.app_error",
    )
    other = {"password": PASSWORD, "email": "cadmin@example.com"}
    app_error(
        api.call("POST", "/api/v3/users/claim/oauth_to_email", other, token=token),
        403,
        "api.user.oauth_to_email.context.app_error",
    )
    switched = api.call(
        "POST", "/api/v3/users/claim/oauth_to_email", {"password": PASSWORD, "email": email}, token=token
    )
    assert switched.json() == {"follow_link": "/login?extra=signin_change"}
    conforms(switched.json(), "FollowLink")
    assert {c.split("=")[0] for c in switched.raw.headers.getlist("Set-Cookie")} == {
        "MMAUTHTOKEN",
        "MMUSERID",
    }
    app_error(api.call("GET", "/api/v3/users/me", token=token), 401, "api.context.session_expired.app_error")
    assert api.ok("GET", f"/api/v3/users/{user['id']}/get", token=api.login("cuser"))["id"] == user["id"]


# -- statuses ----------------------------------------------------------------------------------
def test_statuses(world: World) -> None:
    api = world.api
    world.server.app.set_status(world.admin["id"], "online", manual=False)
    world.server.app.set_status(world.outsider["id"], "offline", manual=False)
    everyone = api.ok("GET", "/api/v3/users/status", token=world.user_token)
    conforms(everyone, "StatusMap")
    assert everyone.get(world.admin["id"]) == "online" and world.outsider["id"] not in everyone
    ids = [world.admin["id"], world.outsider["id"], "z" * 26]
    by_ids = api.ok("POST", "/api/v3/users/status/ids", ids, token=world.user_token)
    assert by_ids == {world.admin["id"]: "online", world.outsider["id"]: "offline", "z" * 26: "offline"}
    for raw in (b"[]", b'["'):
        body = app_error(
            api.call("POST", "/api/v3/users/status/ids", raw=raw, token=world.user_token),
            400,
            "api.context.invalid_param.app_error",
        )
        assert body["message"] == "Invalid user_ids parameter"
    app_error(api.call("GET", "/api/v3/users/status"), 401, "api.context.session_expired.app_error")


def test_statuses_switched_off() -> None:
    with running_server(config={"ServiceSettings": {"EnableUserStatuses": False}}) as server:
        api = Api(server.url)
        user = api.create_user("soff")
        token = api.login("soff")
        server.app.set_status(user["id"], "online", manual=False)
        assert api.ok("GET", "/api/v3/users/status", token=token) == {}
        assert api.ok("POST", "/api/v3/users/status/ids", [user["id"]], token=token) == {}


# -- preferences -------------------------------------------------------------------------------
def test_preferences_round_trip(world: World) -> None:
    api, uid, token = world.api, world.user["id"], world.user_token
    prefs = [
        {"user_id": uid, "category": "display_settings", "name": "use_military_time", "value": "true"},
        {"user_id": uid, "category": "capture_cat", "name": "capture_name", "value": "capture value"},
    ]
    assert api.ok("POST", "/api/v3/preferences/save", prefs, token=token) is True
    everything = api.ok("GET", "/api/v3/preferences/", token=token)
    conforms(everything, "PreferenceList")
    assert all(p in everything for p in prefs)
    assert api.ok("GET", "/api/v3/preferences/display_settings", token=token) == [prefs[0]]
    assert api.ok("GET", "/api/v3/preferences/no_such_category", token=token) == []
    one = api.ok("GET", "/api/v3/preferences/capture_cat/capture_name", token=token)
    conforms(one, "Preference")
    assert one == prefs[1]
    # Real 4.9 answers a missing preference with a 500.
    app_error(
        api.call("GET", "/api/v3/preferences/capture_cat/nothing", token=token),
        500,
        "store.sql_preference.get.app_error",
    )
    assert api.ok("POST", "/api/v3/preferences/delete", [prefs[1]], token=token) == {"status": "OK"}
    app_error(
        api.call("GET", "/api/v3/preferences/capture_cat/capture_name", token=token),
        500,
        "store.sql_preference.get.app_error",
    )


def test_preferences_refusals(world: World) -> None:
    api, token = world.api, world.user_token
    theirs = [{"user_id": world.admin["id"], "category": "display_settings", "name": "x", "value": "y"}]
    app_error(
        api.call("POST", "/api/v3/preferences/save", theirs, token=token),
        403,
        "api.preference.update_preferences.set.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/preferences/delete", theirs, token=token),
        403,
        "api.preference.delete_preferences.delete.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/preferences/save", raw=b"[{", token=token),
        400,
        "api.preference.save_preferences.decode.app_error",
    )
    app_error(
        api.call("POST", "/api/v3/preferences/delete", raw=b"[{", token=token),
        400,
        "api.preference.delete_preferences.decode.app_error",
    )
    empty = [{"user_id": world.user["id"], "category": "", "name": "x", "value": "y"}]
    app_error(
        api.call("POST", "/api/v3/preferences/save", empty, token=token),
        400,
        "model.preference.is_valid.category.app_error",
    )
    app_error(api.call("GET", "/api/v3/preferences/"), 401, "api.context.session_expired.app_error")
