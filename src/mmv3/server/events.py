"""Websocket events as Mattermost 4.9 publishes them (app/web_hub.go, app/web_conn.go,
model/websocket_message.go and the `Publish(` calls of app/ at v4.9.0-rc3).

An `Event` names who gets it, as `WebsocketBroadcast` does: one user (`user_id`), the members of
a channel (`channel_id`), the members of a team (`team_id`) or everyone, less `omit_users`.
`Hub.publish` hands it to every authenticated connection that `WebConn.ShouldSendEvent` would
send it to; each connection numbers what it sends (`seq`, from 0 with `hello`).

On the wire a published event reads `{"event": …, "data": …, "broadcast": …, "seq": N}` with a
space after each top-level colon (4.9's precomputed JSON); the data (a map: sorted keys) and the
broadcast (a struct: its field order) are compact, HTML characters escaped, as Go writes them. Posts, reactions, channels
and preferences travel as JSON strings inside `data`, as the real server sends them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mmv3.server.context import Context
    from mmv3.server.store import Store

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def go_json(value: Any) -> str:
    """`json.Marshal(value)`: compact, map keys sorted, <, > and & escaped."""
    text = _ENCODER.encode(value)
    for char, escaped in _GO_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


@dataclass(frozen=True)
class Event:
    event: str
    data: dict[str, Any]
    team_id: str = ""
    channel_id: str = ""
    user_id: str = ""
    omit_users: frozenset[str] = frozenset()

    def broadcast(self) -> dict[str, Any]:
        omit = {user: True for user in self.omit_users} or None
        return {
            "omit_users": omit,
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "team_id": self.team_id,
        }

    def wire(self, seq: int) -> str:
        head = f'{{"event": {go_json(self.event)}, "data": {go_json(self.data)}, '
        return head + f'"broadcast": {go_json_struct(self.broadcast())}, "seq": {seq}}}'


class Listener(Protocol):
    """A connection the hub may send to (the websocket handler's conversation)."""

    user_id: str  # "" until authenticated

    def deliver(self, event: Event) -> None: ...


class Hub:
    """The authenticated connections of one server, and who gets which event."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.add(listener)

    def remove(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def publish(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            if self.should_send(listener.user_id, event):
                listener.deliver(event)

    def should_send(self, user_id: str, event: Event) -> bool:
        """WebConn.ShouldSendEvent: the first of user, omitted users, channel, team that applies."""
        if not user_id:
            return False
        if event.user_id:
            return event.user_id == user_id
        if user_id in event.omit_users:
            return False
        if event.channel_id:
            return self._in_channel(user_id, event.channel_id)
        if event.team_id:
            member = self.store.get("team_members", f"{event.team_id}:{user_id}")
            return member is not None and not member.get("delete_at")
        return True

    def _in_channel(self, user_id: str, channel_id: str) -> bool:
        # GetAllChannelMembersForUser: memberships of channels that are not deleted
        if self.store.get("channel_members", f"{channel_id}:{user_id}") is None:
            return False
        channel = self.store.get("channels", channel_id)
        return channel is not None and not channel.get("delete_at")


def strings(values: Iterable[str]) -> str:
    """model.ArrayToJson: a []string as the JSON string real events carry."""
    return go_json(list(values))


# -- what v3 actions publish -------------------------------------------------------------------
# Each function publishes one event as the 4.9 code path named in its docstring does.


def _post_json(post: dict[str, Any]) -> str:
    from mmv3.server import posts

    return go_json_struct(posts.public(post))


def go_json_struct(value: dict[str, Any]) -> str:
    """`json.Marshal` of a Go struct: its fields in declaration order (the dict's), maps sorted."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def posted(ctx: Context, post: dict[str, Any]) -> None:
    """SendNotifications: to the channel's members, with what a client needs to notify."""
    store = ctx.store
    channel = store.get("channels", post["channel_id"]) or {}
    sender = store.get("users", post["user_id"]) or {}
    props = post.get("props") or {}
    sender_name = sender.get("username", "")
    if props.get("from_webhook") == "true" and isinstance(props.get("override_username"), str):
        sender_name = props["override_username"]
    data: dict[str, Any] = {
        "post": _post_json(post),
        "channel_type": channel.get("type", ""),
        "channel_display_name": channel.get("display_name", ""),
        "channel_name": channel.get("name", ""),
        "sender_name": sender_name,
        "team_id": channel.get("team_id", ""),
    }
    if post.get("file_ids"):
        data["otherFile"] = "true"
        infos = store.find("file_infos", post_id=post["id"])
        if any(str(info.get("mime_type", "")).startswith("image") for info in infos):
            data["image"] = "true"
    mentioned = _mentions(ctx, post, channel)
    if mentioned:
        data["mentions"] = strings(mentioned)
    ctx.server.publish(Event("posted", data, channel_id=post["channel_id"]))


def _mentions(ctx: Context, post: dict[str, Any], channel: dict[str, Any]) -> list[str]:
    """The members a post mentions: the other side of a DM; @username, @channel, @all elsewhere."""
    if post.get("type", "").startswith("system_"):
        return []
    members = [m["user_id"] for m in ctx.store.find("channel_members", channel_id=channel.get("id", ""))]
    others = [user_id for user_id in members if user_id != post["user_id"]]
    if channel.get("type") == "D":
        return others
    words = {w.strip(".,:;!?()[]{}'\"").lower() for w in post.get("message", "").split() if w.startswith("@")}
    if {"@channel", "@all"} & words:
        return others
    names = {u["id"]: u["username"] for u in ctx.store.find("users", key=others)} if others else {}
    return [user_id for user_id in others if f"@{names.get(user_id, '')}" in words]


def post_changed(ctx: Context, kind: str, post: dict[str, Any]) -> None:
    """`post_edited` (UpdatePost, pinning, reactions) or `post_deleted` (DeletePost): to the channel."""
    ctx.server.publish(Event(kind, {"post": _post_json(post)}, channel_id=post["channel_id"]))


def channel_viewed(ctx: Context, user_id: str, channel_id: str) -> None:
    """ViewChannel / CreatePostAsUser: to the viewer (ServiceSettings.EnableChannelViewedMessages)."""
    if ctx.config.get("ServiceSettings.EnableChannelViewedMessages", True):
        ctx.server.publish(Event("channel_viewed", {"channel_id": channel_id}, user_id=user_id))


def channel_created(ctx: Context, channel: dict[str, Any], user_id: str) -> None:
    """CreateChannelWithUser: to the creator."""
    data = {"channel_id": channel["id"], "team_id": channel.get("team_id", "")}
    ctx.server.publish(Event("channel_created", data, user_id=user_id))


def channel_deleted(ctx: Context, channel: dict[str, Any]) -> None:
    """DeleteChannel: to the team's members."""
    ctx.server.publish(
        Event("channel_deleted", {"channel_id": channel["id"]}, team_id=channel.get("team_id", ""))
    )


def user_added(ctx: Context, channel: dict[str, Any], user_id: str) -> None:
    """addUserToChannel (joining, being added): to the channel's members, the new one included."""
    data = {"team_id": channel.get("team_id", ""), "user_id": user_id}
    ctx.server.publish(Event("user_added", data, channel_id=channel["id"]))


def user_removed(ctx: Context, channel_id: str, user_id: str, remover_id: str) -> None:
    """removeUserFromChannel: to the channel's members, and to the removed user (no member now)."""
    ctx.server.publish(
        Event("user_removed", {"remover_id": remover_id, "user_id": user_id}, channel_id=channel_id)
    )
    data = {"channel_id": channel_id, "remover_id": remover_id}
    ctx.server.publish(Event("user_removed", data, user_id=user_id))


def added_to_team(ctx: Context, team_id: str, user_id: str) -> None:
    """JoinUserToTeam: to the user."""
    ctx.server.publish(Event("added_to_team", {"team_id": team_id, "user_id": user_id}, user_id=user_id))


def leave_team(ctx: Context, team_id: str, user_id: str) -> None:
    """LeaveTeam, published before the membership goes: to the team's members, the leaver included."""
    ctx.server.publish(Event("leave_team", {"team_id": team_id, "user_id": user_id}, team_id=team_id))


def preferences(ctx: Context, kind: str, user_id: str, changed: list[dict[str, Any]]) -> None:
    """`preferences_changed` (UpdatePreferences) or `preferences_deleted`: to the user."""
    ctx.server.publish(Event(kind, {"preferences": go_json_struct(changed)}, user_id=user_id))


def reaction(ctx: Context, kind: str, reaction: dict[str, Any], post: dict[str, Any]) -> None:
    """sendReactionEvent: `reaction_added`/`reaction_removed`, then `post_edited`, to the channel."""
    ctx.server.publish(Event(kind, {"reaction": go_json_struct(reaction)}, channel_id=post["channel_id"]))
    post_changed(ctx, "post_edited", post)


def new_user(ctx: Context, user_id: str) -> None:
    """CreateUser: to everyone."""
    ctx.server.publish(Event("new_user", {"user_id": user_id}))
