"""Struct bodies match their keys case-insensitively, as Go's decoder does (found by `mmv3 diff`
against a live real 4.9.0-rc3: upper-case keys were 200 there and 403/400 in serve); map bodies
(`map[string]string`, StringInterface) keep exact keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mmv3.server import running_server
from mmv3.server.gojson import fold

from .api import Api, app_error


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Api, str, dict, dict, dict]]:
    with running_server() as server:
        api = Api(server.url)
        user = api.create_user("folder")
        token = api.login("folder")
        team = api.create_team(token, "foldteam")
        channel = api.create_channel(token, team["id"], "folded")
        yield api, token, user, team, channel


def up(body: dict) -> dict:
    return {k.upper(): v for k, v in body.items()}


def test_fold_keeps_the_later_key() -> None:
    assert fold({"A": 1, "a": 2}) == {"a": 2}
    assert fold({"a": 2, "A": 1}) == {"a": 1}
    assert fold([1]) == [1]


def test_posts_create_and_update_read_upper_case_keys(world) -> None:
    api, token, _, team, channel = world
    base = f"/api/v3/teams/{team['id']}/channels/{channel['id']}/posts"
    post = api.ok("POST", f"{base}/create", up({"channel_id": channel["id"], "message": "LOUD"}), token=token)
    assert post["message"] == "LOUD" and post["channel_id"] == channel["id"]
    edited = api.ok("POST", f"{base}/update", up({**post, "message": "quiet"}), token=token)
    assert edited["message"] == "quiet"


def test_reactions_users_search_and_preferences_read_upper_case_keys(world) -> None:
    api, token, user, team, channel = world
    base = f"/api/v3/teams/{team['id']}/channels/{channel['id']}/posts"
    post = api.ok("POST", f"{base}/create", {"channel_id": channel["id"], "message": "m"}, token=token)
    reaction = {"user_id": user["id"], "post_id": post["id"], "emoji_name": "smile"}
    saved = api.ok("POST", f"{base}/{post['id']}/reactions/save", up(reaction), token=token)
    assert saved["emoji_name"] == "smile"
    found = api.ok("POST", "/api/v3/users/search", up({"term": "folder", "team_id": team["id"]}), token=token)
    assert [u["username"] for u in found] == ["folder"]
    pref = {
        "user_id": user["id"],
        "category": "display_settings",
        "name": "use_military_time",
        "value": "true",
    }
    assert api.ok("POST", "/api/v3/preferences/save", [up(pref)], token=token) is True
    assert (
        api.ok("GET", "/api/v3/preferences/display_settings/use_military_time", token=token)["value"]
        == "true"
    )


def test_invite_members_keeps_what_fits(world) -> None:
    api, token, _, team, _ = world
    path = f"/api/v3/teams/{team['id']}/invite_members"
    body = {"INVITES": [{"email": "x@example.com"}]}
    assert api.ok("POST", path, body, token=token) == {"invites": [{"email": "x@example.com"}]}
    # a wrongly typed list is no invite at all (4.9: no_one), not an undecodable body
    app_error(
        api.call("POST", path, {"invites": "mmv3"}, token=token),
        400,
        "api.team.invite_members.no_one.app_error",
    )


def test_a_model_body_that_is_no_object_is_the_zero_model(world) -> None:
    """PostFromJson/UserFromJson allocate the struct before the type error: `[]` is a zero Post
    (no channel: 403) and a zero User (no password: invalid), as real 4.9 answered."""
    api, token, _, team, channel = world
    base = f"/api/v3/teams/{team['id']}/channels/{channel['id']}/posts"
    app_error(
        api.call("POST", f"{base}/create", raw=b"[]", token=token), 403, "api.context.permissions.app_error"
    )
    app_error(api.call("POST", "/api/v3/users/create", raw=b'"x"'), 400, "model.user.is_valid.pwd.app_error")
    app_error(
        api.call("POST", f"{base}/create", raw=b"null", token=token),
        400,
        "api.context.invalid_param.app_error",
    )


def test_a_channel_in_a_team_without_channels_is_404_as_real_49(world) -> None:
    api, token, _, team, _ = world
    body = {"team_id": "x" * 26, "name": "nowhere", "display_name": "nowhere", "type": "O"}
    admin = api.login("folder")  # the first user: system admin, so the team permission passes
    app_error(api.call("POST", f"/api/v3/teams/{team['id']}/channels/create", body, token=admin), 404,
              "store.sql_channel.get_channels.not_found.app_error")  # fmt: skip


def test_users_search_keeps_what_fits_as_real_49(world) -> None:
    """UserSearchFromJson ignores the decode error: `"team_id": -1` is a search without a team
    (real 4.9: 200), not an undecodable body."""
    api, token, _, _, _ = world
    found = api.ok("POST", "/api/v3/users/search", {"term": "folder", "team_id": -1}, token=token)
    assert [u["username"] for u in found] == ["folder"]
    app_error(
        api.call("POST", "/api/v3/users/search", raw=b"{", token=token),
        400,
        "api.context.invalid_param.app_error",
    )
