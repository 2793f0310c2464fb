"""The events `mmv3 serve` publishes on the websocket, to whom, and how they read on the wire
(app/web_hub.go, app/web_conn.go and the Publish calls of app/ at v4.9.0-rc3).

Not receiving is shown without waiting: an event is queued for a connection before the request
that caused it is answered, so a reply to a request sent afterwards that comes first proves that
no event was on its way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websocket as wsclient

from mmv3.server import running_server

from .api import Api

USERS = ("evposter", "evmember", "evoutsider")


@dataclass
class World:
    api: Api
    url: str
    ids: dict[str, str]
    tokens: dict[str, str]
    team: dict
    channel: dict  # poster and member are in it, outsider is in the team only

    def connect(self, who: str) -> wsclient.WebSocket:
        conn = wsclient.create_connection(
            self.url, timeout=10, header=[f"Authorization: Bearer {self.tokens[who]}"]
        )
        assert json.loads(conn.recv())["event"] == "hello"
        return conn

    def path(self, rest: str) -> str:
        return f"/api/v3/teams/{self.team['id']}/channels/{self.channel['id']}{rest}"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_server() as server:
        api = Api(server.url)
        ids = {name: api.create_user(name)["id"] for name in USERS}
        tokens = {name: api.login(name) for name in USERS}
        team = api.create_team(tokens["evposter"], "events")
        for name in USERS[1:]:
            api.add_to_team(tokens["evposter"], team["id"], ids[name])
        channel = api.create_channel(tokens["evposter"], team["id"], "lobby")
        url = server.url.replace("http://", "ws://") + "/api/v3/users/websocket"
        world = World(api, url, ids, tokens, team, channel)
        api.ok("POST", world.path("/join"), token=tokens["evmember"])
        yield world


def messages_until_reply(conn: wsclient.WebSocket, seq: int) -> list[dict]:
    """Ask for the statuses and return the events that came before the reply."""
    conn.send(json.dumps({"seq": seq, "action": "get_statuses"}))
    seen = []
    while (message := json.loads(conn.recv())).get("seq_reply") != seq:
        seen.append(message)
    return seen


def next_event(conn: wsclient.WebSocket, name: str) -> tuple[dict, str]:
    """The next `name` event (others are passed over), parsed and as sent."""
    while True:
        text = conn.recv()
        message = json.loads(text)
        if message.get("event") == name:
            return message, text


@pytest.fixture
def sockets(world: World) -> Iterator[dict[str, wsclient.WebSocket]]:
    conns = {name: world.connect(name) for name in USERS}
    for number, conn in enumerate(conns.values(), 1):
        messages_until_reply(conn, number)  # past what connecting itself published
    yield conns
    for conn in conns.values():
        conn.close()


def test_a_post_reaches_the_channel_members_only(world: World, sockets: dict[str, Any]) -> None:
    post = world.api.ok(
        "POST", world.path("/posts/create"), {"channel_id": world.channel["id"], "message": "hi @evmember"},
        token=world.tokens["evposter"],
    )  # fmt: skip
    event, text = next_event(sockets["evmember"], "posted")
    assert text.startswith('{"event": "posted", "data": {"channel_display_name":"lobby","channel_name":')
    assert text.endswith(
        f'"broadcast": {{"omit_users":null,"user_id":"","channel_id":"{world.channel["id"]}","team_id":""}}, "seq": {event["seq"]}}}'
    )
    assert json.loads(event["data"]["post"]) == post
    assert event["data"] | {"post": ""} == {
        "post": "",
        "channel_display_name": world.channel["display_name"],
        "channel_name": world.channel["name"],
        "channel_type": "O",
        "mentions": json.dumps([world.ids["evmember"]]),
        "sender_name": "evposter",
        "team_id": world.team["id"],
    }
    assert event["broadcast"] == {
        "omit_users": None, "user_id": "", "channel_id": world.channel["id"], "team_id": ""
    }  # fmt: skip
    assert next_event(sockets["evposter"], "posted")[0]["data"]["post"] == event["data"]["post"]
    viewed, _ = next_event(sockets["evposter"], "channel_viewed")  # the poster has read the channel
    assert viewed["data"] == {"channel_id": world.channel["id"]}
    assert viewed["broadcast"]["user_id"] == world.ids["evposter"]
    assert messages_until_reply(sockets["evoutsider"], 9) == []


def test_edits_and_deletes_follow_the_post(world: World, sockets: dict[str, Any]) -> None:
    token = world.tokens["evposter"]
    post = world.api.ok(
        "POST", world.path("/posts/create"), {"channel_id": world.channel["id"], "message": "a"}, token=token
    )
    edited = world.api.ok("POST", world.path("/posts/update"), {**post, "message": "b"}, token=token)
    assert json.loads(next_event(sockets["evmember"], "post_edited")[0]["data"]["post"]) == edited
    world.api.ok("POST", world.path(f"/posts/{post['id']}/delete"), token=token)
    deleted = json.loads(next_event(sockets["evmember"], "post_deleted")[0]["data"]["post"])
    assert deleted["id"] == post["id"]


def test_typing_reaches_the_others_of_the_channel(world: World, sockets: dict[str, Any]) -> None:
    poster = sockets["evposter"]
    poster.send(json.dumps({"seq": 20, "action": "user_typing", "data": {"channel_id": world.channel["id"]}}))
    event, _ = next_event(sockets["evmember"], "typing")
    assert event["data"] == {"parent_id": "", "user_id": world.ids["evposter"]}
    assert event["broadcast"]["omit_users"] == {world.ids["evposter"]: True}
    assert messages_until_reply(poster, 21) == [{"status": "OK", "seq_reply": 20}]  # no typing to itself
    assert messages_until_reply(sockets["evoutsider"], 22) == []


def test_joining_and_leaving_are_announced(world: World, sockets: dict[str, Any]) -> None:
    outsider = world.tokens["evoutsider"]
    world.api.ok("POST", world.path("/join"), token=outsider)
    added, _ = next_event(sockets["evmember"], "user_added")
    assert added["data"] == {"team_id": world.team["id"], "user_id": world.ids["evoutsider"]}
    world.api.ok("POST", world.path("/leave"), token=outsider)
    removed, _ = next_event(sockets["evoutsider"], "user_removed")  # to the leaver itself: no member now
    assert removed["data"] == {"channel_id": world.channel["id"], "remover_id": world.ids["evoutsider"]}
    assert removed["broadcast"]["user_id"] == world.ids["evoutsider"]


def test_events_are_numbered_per_connection(world: World, sockets: dict[str, Any]) -> None:
    conn = sockets["evmember"]
    token = world.tokens["evposter"]
    for text in ("one", "two"):
        world.api.ok(
            "POST",
            world.path("/posts/create"),
            {"channel_id": world.channel["id"], "message": text},
            token=token,
        )
    first, _ = next_event(conn, "posted")
    second, _ = next_event(conn, "posted")
    assert second["seq"] == first["seq"] + 1
