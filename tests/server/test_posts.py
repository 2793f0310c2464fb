"""The reference server's posts routes against real 4.9's answers (reactions and uploads aside).

One shared server holds an admin (the first user), two team members and an outsider, a team with
a public channel (everyone in the team), a private channel (admin and alice) and a second public
channel bob is not in. Teams, channels and file infos are written straight into the store so
these tests do not depend on the teams, channels or files handlers; posts go through the API.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from mmv3.server import running_server
from mmv3.server.ids import new_id, now_ms

from .api import Api, app_error, conforms

VERSION = "4.9.0"


def post_list(response: requests.Response) -> dict:
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    body = response.json()
    conforms(body, "PostList")
    return body


def seed_team(server, members: dict[str, str]) -> dict:
    now = now_ms()
    team = {
        "id": new_id(), "create_at": now, "update_at": now, "delete_at": 0, "display_name": "Posts",
        "name": f"posts-{new_id()[:8]}", "description": "", "email": "", "type": "O", "company_name": "",
        "allowed_domains": "", "invite_id": new_id(), "allow_open_invite": True,
    }  # fmt: skip
    server.app.store.put("teams", team["id"], team)
    for user_id, roles in members.items():
        member = {"team_id": team["id"], "user_id": user_id, "roles": roles, "delete_at": 0}
        server.app.store.put("team_members", f"{team['id']}:{user_id}", member)
    return team


def seed_channel(server, team_id: str, name: str, kind: str, members: list[str]) -> dict:
    now = now_ms()
    channel = {
        "id": new_id(), "create_at": now, "update_at": now, "delete_at": 0, "team_id": team_id, "type": kind,
        "display_name": name.title(), "name": name, "header": "", "purpose": "", "last_post_at": 0,
        "total_msg_count": 0, "extra_update_at": now, "creator_id": "",
    }  # fmt: skip
    server.app.store.put("channels", channel["id"], channel)
    for user_id in members:
        member = {
            "channel_id": channel["id"], "user_id": user_id, "roles": "channel_user", "last_viewed_at": 0,
            "msg_count": 0, "mention_count": 0, "last_update_at": now,
            "notify_props": {"desktop": "default", "email": "default", "mark_unread": "all", "push": "default"},
        }  # fmt: skip
        server.app.store.put("channel_members", f"{channel['id']}:{user_id}", member)
    return channel


@dataclass
class World:
    server: object
    api: Api
    admin: str
    alice: str
    bob: str
    outsider: str
    ids: dict[str, str]  # username → user id
    team: dict
    public: dict
    private: dict
    other: dict

    def posts_path(self, channel: dict, rest: str = "") -> str:
        return f"/api/v3/teams/{self.team['id']}/channels/{channel['id']}/posts{rest}"

    def create(self, token: str, channel: dict, message: str, **fields) -> dict:
        body = {"channel_id": channel["id"], "message": message, **fields}
        response = self.api.call("POST", self.posts_path(channel, "/create"), body, token=token)
        assert response.status_code == 200, response.text
        post = response.json()
        conforms(post, "Post")
        return post

    def get(self, token: str, path: str, **headers: str) -> requests.Response:
        return self.api.call("GET", path, token=token, headers=headers)

    def post(self, token: str, path: str, body=None, *, raw: bytes | None = None) -> requests.Response:
        return self.api.call("POST", path, body, token=token, raw=raw)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_server() as server:
        api = Api(server.url)
        ids = {name: api.create_user(name)["id"] for name in ("padmin", "alice", "bob", "outsider")}
        team = seed_team(
            server,
            {ids["padmin"]: "team_user team_admin", ids["alice"]: "team_user", ids["bob"]: "team_user"},
        )
        public = seed_channel(server, team["id"], "public", "O", [ids["padmin"], ids["alice"], ids["bob"]])
        private = seed_channel(server, team["id"], "private", "P", [ids["padmin"], ids["alice"]])
        other = seed_channel(server, team["id"], "other", "O", [ids["padmin"], ids["alice"]])
        tokens = {name: api.login(name) for name in ids}
        yield World(
            server, api, tokens["padmin"], tokens["alice"], tokens["bob"], tokens["outsider"], ids, team,
            public, private, other,
        )  # fmt: skip


def store(world: World):
    return world.server.app.store


# -- create --------------------------------------------------------------------------------------
def test_create_answers_the_post_and_updates_channel_member_and_status(world: World) -> None:
    before = store(world).get("channels", world.public["id"])
    post = world.create(
        world.alice, world.public, "hello #Rocket and #2bad ~other", user_id=world.ids["bob"],
        pending_post_id="pending-1", props={"from_test": "yes", "add_channel_member": {"x": 1}},
    )  # fmt: skip
    assert post["user_id"] == world.ids["alice"]  # the body's user_id is ignored
    assert post["pending_post_id"] == "pending-1"
    assert post["hashtags"] == "#Rocket"
    assert post["props"]["from_test"] == "yes" and "add_channel_member" not in post["props"]
    assert post["props"]["channel_mentions"] == {"other": {"display_name": "Other"}}
    assert post["create_at"] == post["update_at"] and post["edit_at"] == 0 and "file_ids" not in post
    channel = store(world).get("channels", world.public["id"])
    assert channel["last_post_at"] == post["create_at"]
    assert channel["total_msg_count"] == before["total_msg_count"] + 1
    member = store(world).get("channel_members", f"{world.public['id']}:{world.ids['alice']}")
    assert member["msg_count"] == channel["total_msg_count"] and member["last_viewed_at"] == post["create_at"]
    assert store(world).get("statuses", world.ids["alice"])["status"] == "online"
    stored = store(world).get("posts", post["id"])
    assert stored["pending_post_id"] == ""  # the echo is not persisted


def test_create_keeps_file_ids_and_attaches_their_file_infos(world: World) -> None:
    info_id = new_id()
    info = {
        "id": info_id, "user_id": world.ids["alice"], "create_at": now_ms(), "update_at": now_ms(),
        "delete_at": 0, "name": "a.txt", "extension": "txt", "size": 3, "mime_type": "text/plain",
        "path": "secret/location/a.txt",
    }  # fmt: skip
    store(world).put("file_infos", info_id, info)
    post = world.create(world.alice, world.public, "with a file", file_ids=[info_id])
    assert post["file_ids"] == [info_id]
    response = world.get(world.alice, world.posts_path(world.public, f"/{post['id']}/get_file_infos"))
    assert response.status_code == 200
    infos = response.json()
    conforms(infos, "FileInfoList")
    assert [i["id"] for i in infos] == [info_id] and infos[0]["post_id"] == post["id"]
    assert "path" not in infos[0]
    assert response.headers["Cache-Control"] == "max-age=2592000, public"
    assert response.headers["Etag"] == f"{VERSION}.{post['id']}.{info['update_at']}"
    again = world.get(
        world.alice, world.posts_path(world.public, f"/{post['id']}/get_file_infos"),
        **{"If-None-Match": response.headers["Etag"]},
    )  # fmt: skip
    assert again.status_code == 304 and "Cache-Control" not in again.headers


def test_create_refuses_bad_bodies_and_channels(world: World) -> None:
    path = world.posts_path(world.public, "/create")
    body = app_error(
        world.post(world.alice, path, raw=b'{"channel_id": '), 400, "api.context.invalid_param.app_error"
    )
    assert body["message"] == "Invalid post parameter"
    unknown = {"channel_id": "z" * 26, "message": "x"}
    app_error(
        world.post(world.admin, path, unknown), 403, "api.context.permissions.app_error"
    )  # even an admin
    private = {"channel_id": world.private["id"], "message": "x"}
    app_error(world.post(world.bob, path, private), 403, "api.context.permissions.app_error")
    body = app_error(
        world.post(world.alice, path, {"channel_id": world.public["id"], "type": "system_join_channel"}),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid post.type parameter"
    app_error(
        world.post(world.alice, path, {"channel_id": world.public["id"], "type": "weird"}),
        400,
        "model.post.is_valid.type.app_error",
    )
    app_error(
        world.post(world.alice, path, {"channel_id": world.public["id"], "id": new_id()}),
        400,
        "store.sql_post.save.existing.app_error",
    )
    app_error(
        world.post(world.alice, path, {"channel_id": world.public["id"], "message": "x" * 16384}),
        400,
        "model.post.is_valid.msg.app_error",
    )
    app_error(
        world.post(None, path, {"channel_id": world.public["id"]}),
        401,
        "api.context.session_expired.app_error",
    )
    outsider_path = f"/api/v3/teams/{world.team['id']}/channels/{world.public['id']}/posts/create"
    app_error(
        world.post(world.outsider, outsider_path, {"channel_id": world.public["id"]}),
        403,
        "api.context.permissions.app_error",
    )


def test_create_accepts_an_empty_message_and_uses_the_body_channel(world: World) -> None:
    # The path's channel is ignored: the post lands in the body's channel.
    response = world.post(
        world.alice, world.posts_path(world.private, "/create"), {"channel_id": world.public["id"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["channel_id"] == world.public["id"] and response.json()["message"] == ""


def test_create_at_is_honoured_for_admins_only(world: World) -> None:
    assert (
        world.create(world.admin, world.public, "imported", create_at=1500000000000)["create_at"]
        == 1500000000000
    )
    assert (
        world.create(world.alice, world.public, "not imported", create_at=1500000000000)["create_at"]
        > 1500000000000
    )


def test_replies_check_root_and_parent(world: World) -> None:
    root = world.create(world.alice, world.public, "thread root")
    reply = world.create(world.bob, world.public, "reply", root_id=root["id"])
    assert reply["parent_id"] == root["id"]  # an empty parent means the root
    nested = world.create(
        world.alice, world.public, "reply to reply", root_id=root["id"], parent_id=reply["id"]
    )
    assert nested["parent_id"] == reply["id"]
    assert (
        store(world).get("posts", root["id"])["update_at"] == nested["update_at"]
    )  # a reply touches its root
    path = world.posts_path(world.public, "/create")
    base = {"channel_id": world.public["id"], "message": "x"}
    app_error(
        world.post(world.alice, path, {**base, "root_id": new_id()}),
        400,
        "api.post.create_post.root_id.app_error",
    )
    elsewhere = world.create(world.alice, world.other, "root elsewhere")
    app_error(
        world.post(world.alice, path, {**base, "root_id": elsewhere["id"]}),
        400,
        "api.post.create_post.channel_root_id.app_error",
    )
    app_error(
        world.post(world.alice, path, {**base, "root_id": root["id"], "parent_id": elsewhere["id"]}),
        400,
        "api.post.create_post.parent_id.app_error",
    )
    app_error(
        world.post(world.alice, path, {**base, "parent_id": root["id"]}),
        400,
        "model.post.is_valid.root_parent.app_error",
    )


def test_deleted_channel_takes_no_posts(world: World) -> None:
    gone = seed_channel(world.server, world.team["id"], "gone", "O", [world.ids["alice"]])
    channel = store(world).get("channels", gone["id"])
    store(world).put("channels", gone["id"], dict(channel, delete_at=now_ms()))
    app_error(
        world.post(
            world.alice, world.posts_path(gone, "/create"), {"channel_id": gone["id"], "message": "x"}
        ),
        400,
        "api.post.create_post.can_not_post_to_deleted.error",
    )


# -- update --------------------------------------------------------------------------------------
def test_update_edits_the_message_and_keeps_the_old_version(world: World) -> None:
    post = world.create(world.alice, world.public, "first #draft")
    path = world.posts_path(world.public, "/update")
    response = world.post(world.alice, path, {**post, "message": "second #final", "is_pinned": True})
    assert response.status_code == 200, response.text
    edited = response.json()
    conforms(edited, "Post")
    assert edited["message"] == "second #final" and edited["hashtags"] == "#final"
    assert edited["edit_at"] == edited["update_at"] > post["update_at"]
    assert edited["is_pinned"] is False  # only the message is edited
    since = post_list(world.get(world.alice, world.posts_path(world.public, f"/since/{post['update_at']}")))
    copies = [p for p in since["posts"].values() if p["original_id"] == post["id"]]
    assert len(copies) == 1 and copies[0]["delete_at"] and copies[0]["message"] == "first #draft"


def test_update_of_another_users_post_needs_edit_others_posts(world: World) -> None:
    post = world.create(world.admin, world.public, "by the admin")
    path = world.posts_path(world.public, "/update")
    app_error(
        world.post(world.bob, path, {**post, "message": "by bob"}), 403, "api.context.permissions.app_error"
    )
    assert store(world).get("posts", post["id"])["message"] == "by the admin"
    mine = world.create(world.alice, world.public, "by alice")
    assert world.post(world.admin, path, {**mine, "message": "moderated"}).json()["message"] == "moderated"


def test_update_errors(world: World) -> None:
    path = world.posts_path(world.public, "/update")
    app_error(world.post(world.alice, path, raw=b'{"id": '), 400, "api.context.invalid_param.app_error")
    missing = {"id": "z" * 26, "channel_id": world.public["id"], "message": "x"}
    app_error(world.post(world.alice, path, missing), 404, "store.sql_post.get.app_error")
    private_post = world.create(world.alice, world.private, "secret")
    app_error(
        world.post(world.bob, path, {**private_post, "message": "x"}),
        403,
        "api.context.permissions.app_error",
    )
    # naming a channel one may edit in does not open a post of another channel
    app_error(
        world.post(world.bob, path, {**private_post, "channel_id": world.public["id"]}),
        403,
        "api.context.permissions.app_error",
    )
    join = _system_post(world, world.public)
    app_error(
        world.post(world.admin, path, {**join, "message": "x"}),
        400,
        "api.post.update_post.system_message.app_error",
    )


def _system_post(world: World, channel: dict) -> dict:
    post = {
        "id": new_id(), "create_at": now_ms(), "update_at": now_ms(), "edit_at": 0, "delete_at": 0,
        "is_pinned": False, "user_id": world.ids["padmin"], "channel_id": channel["id"], "root_id": "",
        "parent_id": "", "original_id": "", "message": "padmin joined the channel.", "type": "system_join_channel",
        "props": {"username": "padmin"}, "hashtags": "", "pending_post_id": "",
    }  # fmt: skip
    store(world).put("posts", post["id"], post)
    return post


# -- reading: pages, threads, since, before/after ------------------------------------------------------
def test_page_is_newest_first_with_threads_and_etags(world: World) -> None:
    channel = seed_channel(
        world.server, world.team["id"], "paging", "O", [world.ids["alice"], world.ids["bob"]]
    )
    root = world.create(world.alice, channel, "p1")
    reply = world.create(world.bob, channel, "p2 reply", root_id=root["id"])
    third = world.create(world.alice, channel, "p3")
    page = post_list(world.get(world.bob, world.posts_path(channel, "/page/0/10")))
    assert page["order"] == [third["id"], reply["id"], root["id"]]
    window = post_list(world.get(world.bob, world.posts_path(channel, "/page/1/1")))
    assert window["order"] == [reply["id"]] and set(window["posts"]) == {reply["id"], root["id"]}
    oldest = post_list(world.get(world.bob, world.posts_path(channel, "/page/2/1")))
    assert oldest["order"] == [root["id"]] and set(oldest["posts"]) == {root["id"], reply["id"]}
    response = world.get(world.bob, world.posts_path(channel, "/page/0/10"))
    etag = response.headers["Etag"]
    assert etag == f"{VERSION}.{max(p['update_at'] for p in page['posts'].values())}"
    cached = world.get(world.bob, world.posts_path(channel, "/page/0/10"), **{"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["Etag"] == etag
    world.create(world.alice, channel, "p4")
    changed = world.get(world.bob, world.posts_path(channel, "/page/0/10"), **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["Etag"] != etag
    app_error(
        world.get(world.bob, world.posts_path(channel, "/page/0/1001")),
        400,
        "store.sql_post.get_posts.app_error",
    )


def test_page_refuses_non_members_and_unknown_channels(world: World) -> None:
    app_error(
        world.get(world.bob, world.posts_path(world.private, "/page/0/30")),
        403,
        "api.context.permissions.app_error",
    )
    unknown = {"id": "z" * 26}
    app_error(
        world.get(world.admin, world.posts_path(unknown, "/page/0/30")),
        403,
        "api.context.permissions.app_error",
    )
    app_error(
        world.get(world.admin, world.posts_path({"id": "short"}, "/page/0/30")),
        400,
        "api.context.invalid_param.app_error",
    )


def test_since_lists_changes_after_a_time(world: World) -> None:
    channel = seed_channel(world.server, world.team["id"], "since", "O", [world.ids["alice"]])
    old = world.create(world.alice, channel, "old")
    new = world.create(world.alice, channel, "new")
    listed = post_list(world.get(world.alice, world.posts_path(channel, f"/since/{old['update_at']}")))
    assert listed["order"] == [new["id"]]
    everything = post_list(world.get(world.alice, world.posts_path(channel, "/since/0")))
    assert everything["order"] == [new["id"], old["id"]]
    assert "Etag" not in world.get(world.alice, world.posts_path(channel, "/since/0")).headers
    app_error(
        world.get(world.bob, world.posts_path(world.private, "/since/0")),
        403,
        "api.context.permissions.app_error",
    )


def test_thread_routes_answer_the_whole_thread(world: World) -> None:
    root = world.create(world.alice, world.public, "root for thread")
    reply = world.create(world.bob, world.public, "thread reply", root_id=root["id"])
    for path in (
        world.posts_path(world.public, f"/{reply['id']}/get"),
        f"/api/v3/teams/{world.team['id']}/posts/{reply['id']}",
    ):
        response = world.get(world.bob, path)
        thread = post_list(response)
        assert thread["order"] == [reply["id"]] and set(thread["posts"]) == {root["id"], reply["id"]}
        # the reply moved its root's update_at to its own; on a tie the greater id names the etag
        newest = max(root["id"], reply["id"])
        assert response.headers["Etag"] == f"{VERSION}.{reply['id']}.{newest}.{reply['update_at']}"
        assert world.get(world.bob, path, **{"If-None-Match": response.headers["Etag"]}).status_code == 304
    app_error(
        world.get(world.alice, world.posts_path(world.other, f"/{root['id']}/get")),
        403,
        "api.post.get_post.permissions.app_error",
    )
    app_error(
        world.get(world.alice, world.posts_path(world.public, f"/{'z' * 26}/get")),
        404,
        "store.sql_post.get.app_error",
    )
    app_error(
        world.get(world.alice, f"/api/v3/teams/{world.team['id']}/posts/{'z' * 26}"),
        404,
        "store.sql_post.get.app_error",
    )
    secret = world.create(world.alice, world.private, "private thread")
    app_error(
        world.get(world.bob, f"/api/v3/teams/{world.team['id']}/posts/{secret['id']}"),
        403,
        "api.context.permissions.app_error",
    )
    app_error(
        world.get(world.bob, world.posts_path(world.private, f"/{secret['id']}/get")),
        403,
        "api.context.permissions.app_error",
    )


def test_before_and_after_are_windows_around_a_post(world: World) -> None:
    members = [world.ids["alice"], world.ids["padmin"]]
    channel = seed_channel(world.server, world.team["id"], "around", "O", members)
    # Distinct times, set by a system admin (the only caller whose create_at is kept): posts made
    # within one millisecond share a create_at, and a window's edge would depend on the machine.
    base = now_ms() - 10_000
    made = [world.create(world.admin, channel, f"m{i}", create_at=base + i) for i in range(5)]
    assert [p["create_at"] for p in made] == [base + i for i in range(5)]
    mid = made[2]["id"]
    before = post_list(world.get(world.alice, world.posts_path(channel, f"/{mid}/before/0/10")))
    assert before["order"] == [made[1]["id"], made[0]["id"]]
    after = post_list(world.get(world.alice, world.posts_path(channel, f"/{mid}/after/0/1")))
    assert after["order"] == [made[3]["id"]]
    after_all = world.get(world.alice, world.posts_path(channel, f"/{mid}/after/1/10"))
    assert post_list(after_all)["order"] == [made[4]["id"]]
    assert after_all.headers["Etag"] == f"{VERSION}.{made[4]['update_at']}"
    unknown = world.get(world.alice, world.posts_path(channel, f"/{'z' * 26}/before/0/10"))
    assert post_list(unknown) == {"order": [], "posts": {}} and "Etag" in unknown.headers
    body = app_error(
        world.get(world.alice, world.posts_path(channel, f"/{mid}/before/0/0")),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid numPosts parameter"
    app_error(
        world.get(world.bob, world.posts_path(world.private, f"/{mid}/after/0/5")),
        403,
        "api.context.permissions.app_error",
    )


def test_file_infos_of_a_post_without_files(world: World) -> None:
    post = world.create(world.alice, world.public, "no files")
    response = world.get(world.bob, world.posts_path(world.public, f"/{post['id']}/get_file_infos"))
    assert response.status_code == 200 and response.json() == []
    assert response.headers["Etag"] == VERSION and "Cache-Control" not in response.headers
    app_error(
        world.get(world.bob, world.posts_path(world.public, f"/{'z' * 26}/get_file_infos")),
        404,
        "store.sql_post.get.app_error",
    )
    app_error(
        world.get(world.bob, world.posts_path(world.private, f"/{post['id']}/get_file_infos")),
        403,
        "api.context.permissions.app_error",
    )


# -- permalinks ----------------------------------------------------------------------------------
def test_permalink_joins_an_open_channel(world: World) -> None:
    post = world.create(world.alice, world.other, "permalinked")
    assert store(world).get("channel_members", f"{world.other['id']}:{world.ids['bob']}") is None
    response = world.get(world.bob, f"/api/v3/teams/{world.team['id']}/pltmp/{post['id']}")
    assert post_list(response)["order"] == [post["id"]] and "Etag" in response.headers
    assert store(world).get("channel_members", f"{world.other['id']}:{world.ids['bob']}") is not None
    secret = world.create(world.alice, world.private, "no permalink for bob")
    app_error(
        world.get(world.bob, f"/api/v3/teams/{world.team['id']}/pltmp/{secret['id']}"),
        403,
        "api.context.permissions.app_error",
    )
    body = app_error(
        world.get(world.bob, f"/api/v3/teams/{world.team['id']}/pltmp/{'z' * 26}"),
        400,
        "api.context.invalid_param.app_error",
    )
    assert body["message"] == "Invalid postId parameter"


# -- delete --------------------------------------------------------------------------------------
def test_delete_by_author_takes_the_replies_and_flags(world: World) -> None:
    root = world.create(world.bob, world.public, "to delete")
    reply = world.create(world.alice, world.public, "reply to deleted", root_id=root["id"])
    flag = [{"user_id": world.ids["alice"], "category": "flagged_post", "name": root["id"], "value": "true"}]
    assert world.post(world.alice, "/api/v3/preferences/save", flag).status_code == 200
    response = world.post(world.bob, world.posts_path(world.public, f"/{root['id']}/delete"))
    assert response.status_code == 200 and response.json() == {"id": root["id"]}
    for post in (root, reply):
        assert store(world).get("posts", post["id"])["delete_at"] > 0
    assert store(world).get("preferences", f"{world.ids['alice']}:flagged_post:{root['id']}") is None
    app_error(
        world.get(world.bob, world.posts_path(world.public, f"/{reply['id']}/get")),
        404,
        "store.sql_post.get.app_error",
    )


def test_delete_needs_authorship_or_delete_others_posts(world: World) -> None:
    post = world.create(world.alice, world.public, "alice's")
    path = world.posts_path(world.public, f"/{post['id']}/delete")
    app_error(world.post(world.bob, path), 403, "api.context.permissions.app_error")
    app_error(
        world.post(world.admin, world.posts_path(world.public, f"/{'z' * 26}/delete")),
        403,
        "api.context.permissions.app_error",
    )
    app_error(
        world.post(world.alice, world.posts_path(world.other, f"/{post['id']}/delete")),
        403,
        "api.post.delete_post.permissions.app_error",
    )
    assert store(world).get("posts", post["id"])["delete_at"] == 0  # refused before deleting
    assert world.post(world.admin, path).status_code == 200


# -- pin -----------------------------------------------------------------------------------------
def test_pin_and_unpin(world: World) -> None:
    post = world.create(world.alice, world.private, "pin me")
    pinned = world.post(world.alice, world.posts_path(world.private, f"/{post['id']}/pin"))
    assert pinned.status_code == 200 and pinned.json()["is_pinned"] is True
    conforms(pinned.json(), "Post")
    from mmv3.server import posts as post_model

    assert post_model.pinned(store(world), world.private["id"])["order"] == [post["id"]]
    app_error(
        world.post(world.bob, world.posts_path(world.private, f"/{post['id']}/unpin")),
        403,
        "api.context.permissions.app_error",
    )
    app_error(
        world.post(world.bob, world.posts_path(world.public, f"/{post['id']}/unpin")),
        403,
        "api.context.permissions.app_error",
    )
    unpinned = world.post(world.alice, world.posts_path(world.private, f"/{post['id']}/unpin"))
    assert (
        unpinned.json()["is_pinned"] is False and unpinned.json()["update_at"] >= pinned.json()["update_at"]
    )
    app_error(
        world.post(world.alice, world.posts_path(world.private, f"/{'z' * 26}/pin")),
        404,
        "store.sql_post.get.app_error",
    )


# -- search, flagged -----------------------------------------------------------------------------
def test_search_finds_words_and_hashtags_in_member_channels_only(world: World) -> None:
    word = f"zebra{random.randrange(10**6):06d}"  # ends in a digit: no suffix for the stemmer
    public = world.create(world.alice, world.public, f"a {word} in public #{word}")
    secret = world.create(world.alice, world.private, f"a {word} in private")
    path = f"/api/v3/teams/{world.team['id']}/posts/search"
    response = world.post(world.alice, path, {"terms": word})
    assert response.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert post_list(response)["order"] == [secret["id"], public["id"]]
    assert post_list(world.post(world.bob, path, {"terms": word}))["order"] == [public["id"]]
    assert post_list(world.post(world.bob, path, {"terms": f"#{word}"}))["order"] == [public["id"]]
    assert post_list(world.post(world.alice, path, {"terms": f"in:private {word}"}))["order"] == [
        secret["id"]
    ]
    assert post_list(world.post(world.alice, path, {"terms": f"from:bob {word}"}))["order"] == []
    assert post_list(world.post(world.alice, path, {"terms": f"{word[:-2]}*"}))["order"] == [
        secret["id"],
        public["id"],
    ]
    assert post_list(world.post(world.alice, path, {"terms": f"{word} private"}))["order"] == [secret["id"]]
    both = world.post(world.alice, path, {"terms": f"{word} nothingelse", "is_or_search": True})
    assert post_list(both)["order"] == [secret["id"], public["id"]]
    assert post_list(world.post(world.alice, path, {"terms": '"unterminated'})) == {"order": [], "posts": {}}


def test_search_rejects_missing_terms_with_a_400(world: World) -> None:
    path = f"/api/v3/teams/{world.team['id']}/posts/search"
    for raw in (b"{}", b"{", b'{"terms": 5}', b'{"terms": ""}'):
        body = app_error(world.post(world.alice, path, raw=raw), 400, "api.context.invalid_param.app_error")
        assert body["message"] == "Invalid terms parameter"
    app_error(world.post(world.outsider, path, {"terms": "x"}), 403, "api.context.permissions.app_error")


def test_flagged_posts_of_the_team(world: World) -> None:
    first = world.create(world.alice, world.public, "flag one")
    second = world.create(world.alice, world.public, "flag two")
    gone = world.create(world.bob, world.public, "flag gone")
    prefs = [
        {"user_id": world.ids["bob"], "category": "flagged_post", "name": p["id"], "value": "true"}
        for p in (first, second, gone)
    ]
    assert world.post(world.bob, "/api/v3/preferences/save", prefs).status_code == 200
    assert world.post(world.bob, world.posts_path(world.public, f"/{gone['id']}/delete")).status_code == 200
    path = f"/api/v3/teams/{world.team['id']}/posts/flagged"
    assert post_list(world.get(world.bob, f"{path}/0/10"))["order"] == [second["id"], first["id"]]
    assert post_list(world.get(world.bob, f"{path}/1/10"))["order"] == [first["id"]]
    assert post_list(world.get(world.alice, f"{path}/0/10"))["order"] == []
    body = app_error(
        world.get(world.bob, f"{path}/99999999999999999999/20"), 400, "api.context.invalid_param.app_error"
    )
    assert body["message"] == "Invalid offset parameter"


# -- opengraph -----------------------------------------------------------------------------------
def test_opengraph_is_501_while_link_previews_are_off(world: World) -> None:
    app_error(
        world.post(world.alice, "/api/v3/get_opengraph_metadata", {"url": "http://127.0.0.1:1/"}),
        501,
        "api.post.link_preview_disabled.app_error",
    )


def test_opengraph_with_link_previews_on_fetches_nothing() -> None:
    with running_server(config={"ServiceSettings": {"EnableLinkPreviews": True}}) as server:
        api = Api(server.url)
        api.create_user("ogadmin")
        token = api.login("ogadmin")
        response = api.call(
            "POST", "/api/v3/get_opengraph_metadata", {"url": "http://127.0.0.1:1/x"}, token=token
        )
        assert response.status_code == 200
        conforms(response.json(), "OpenGraph")
        app_error(
            api.call("POST", "/api/v3/get_opengraph_metadata", {}, token=token),
            400,
            "api.context.invalid_param.app_error",
        )
