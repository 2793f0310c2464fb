"""Channels as Mattermost 4.9 stores them: the model's checks, saving, reads, search and etags.

Used by the channels handlers, and by memberships and the teams handlers through them, so the
store's rules (unique name per team, the per-team limit, direct and group names) live once.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from mmv3.server import gojson
from mmv3.server.errors import AppError
from mmv3.server.ids import new_id, now_ms

if TYPE_CHECKING:
    from mmv3.server.context import Context

OPEN, PRIVATE, DIRECT, GROUP = "O", "P", "D", "G"
FIELDS = {
    "id": gojson.STR, "create_at": gojson.INT, "update_at": gojson.INT, "delete_at": gojson.INT,
    "team_id": gojson.STR, "type": gojson.STR, "display_name": gojson.STR, "name": gojson.STR,
    "header": gojson.STR, "purpose": gojson.STR, "last_post_at": gojson.INT, "total_msg_count": gojson.INT,
    "extra_update_at": gojson.INT, "creator_id": gojson.STR,
}  # fmt: skip
_VALID_NAME = re.compile(r"^[a-z0-9]+([a-z\-_0-9]+|(__)?)[a-z0-9]+$")
GROUP_MIN_USERS, GROUP_MAX_USERS = 3, 8
# Characters the search drops (LIKE) or treats as word breaks (full text), as SqlChannelStore does.
_LIKE_IGNORED = ("*", "%")
_WORD_BREAKS = re.compile(r"[<>+\-()~:*\"!@\s_.]+")


def decode(ctx: Context) -> dict[str, Any]:
    raw, ok = ctx.raw_json()
    return gojson.decode_struct(raw, ok, FIELDS, "channel")


def new(**fields: Any) -> dict[str, Any]:
    """A channel document in the real JSON key order (Channel.PreSave stamps the times)."""
    now = now_ms()
    channel: dict[str, Any] = {
        "id": new_id(), "create_at": now, "update_at": now, "delete_at": 0, "team_id": "", "type": OPEN,
        "display_name": "", "name": "", "header": "", "purpose": "", "last_post_at": 0, "total_msg_count": 0,
        "extra_update_at": now, "creator_id": "",
    }  # fmt: skip
    channel.update(fields)
    return channel


def validate(channel: dict[str, Any]) -> None:
    """Channel.IsValid: the 400 `model.channel.is_valid.*` errors, in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.channel.is_valid.{field}.app_error", 400)

    if len(channel["display_name"]) > 64:
        raise bad("display_name")
    name = channel["name"]
    if not 2 <= len(name) <= 64 or not _VALID_NAME.match(name):
        raise bad("2_or_more")
    if channel["type"] not in (OPEN, PRIVATE, DIRECT, GROUP):
        raise bad("type")
    if len(channel["header"]) > 1024:
        raise bad("header")
    if len(channel["purpose"]) > 250:
        raise bad("purpose")
    if len(channel["creator_id"]) > 26:
        raise bad("creator_id")


def get(ctx: Context, channel_id: str) -> dict[str, Any]:
    """ChannelStore.Get (deleted channels included): 404 when unknown."""
    channel = ctx.store.get("channels", channel_id) if channel_id else None
    if channel is None:
        raise AppError("store.sql_channel.get.existing.app_error", 404)
    return channel


def by_name(ctx: Context, team_id: str, name: str) -> dict[str, Any]:
    """ChannelStore.GetByName: a live channel of the team, or a direct/group channel, by name."""
    for candidate in ctx.store.find("channels", name=name, team_id=[team_id, ""]):
        if not candidate.get("delete_at"):
            return candidate
    raise AppError("store.sql_channel.get_by_name.missing.app_error", 404)


def member(ctx: Context, channel_id: str, user_id: str) -> dict[str, Any]:
    """ChannelStore.GetMember: 404 `store.sql_channel.get_member.missing.app_error` when not a member."""
    found = ctx.store.get("channel_members", f"{channel_id}:{user_id}")
    if found is None:
        raise AppError("store.sql_channel.get_member.missing.app_error", 404)
    return found


def save(ctx: Context, channel: dict[str, Any]) -> dict[str, Any]:
    """ChannelStore.Save: validation, the per-team limit, then the unique (team, name) insert.

    Direct and group channels have names made from their members, so their creators look for an
    existing one first and answer with it, as the real store's "exists" error path does.
    """
    validate(channel)
    store = ctx.store
    with store.transaction():
        if channel["type"] in (OPEN, PRIVATE):
            limit = int(ctx.config.get("TeamSettings.MaxChannelsPerTeam", 2000) or 2000)
            live = [
                c
                for c in store.find("channels", team_id=channel["team_id"], type=[OPEN, PRIVATE])
                if not c.get("delete_at")
            ]
            if len(live) >= limit:
                raise AppError("store.sql_channel.save_channel.limit.app_error", 400)
        clash = store.find_one("channels", team_id=channel["team_id"], name=channel["name"])
        if clash is not None:
            if clash.get("delete_at"):
                raise AppError("store.sql_channel.save_channel.previously.app_error", 400)
            raise AppError("store.sql_channel.save_channel.exists.app_error", 400)
        store.insert("channels", channel["id"], channel)
    return channel


def update(ctx: Context, channel: dict[str, Any]) -> dict[str, Any]:
    """ChannelStore.Update: a new update_at, validation, and no name clash within the team."""
    channel = {**channel, "update_at": now_ms()}
    validate(channel)
    with ctx.store.transaction():
        clash = ctx.store.find_one("channels", team_id=channel["team_id"], name=channel["name"])
        if clash is not None and clash["id"] != channel["id"]:
            previously = "previously" if clash.get("delete_at") else "exists"
            raise AppError(f"store.sql_channel.update.{previously}.app_error", 400)
        ctx.store.put("channels", channel["id"], channel)
    return channel


def direct_name(user_id: str, other_id: str) -> str:
    """model.GetDMNameFromIds: the two ids, smaller first, joined by `__`."""
    first, second = sorted((user_id, other_id))
    return f"{first}__{second}"


def group_name(user_ids: list[str]) -> str:
    """model.GetGroupNameFromUserIds: the SHA-1 hex digest of the sorted ids run together."""
    return hashlib.sha1("".join(sorted(user_ids)).encode(), usedforsecurity=False).hexdigest()


def group_display_name(usernames: list[str]) -> str:
    """model.GetGroupDisplayNameFromUsers: sorted usernames joined by ", ", cut to 64 runes."""
    name = ", ".join(sorted(usernames))
    return name if len(name) <= 64 else name[:61] + "..."


def members_of(ctx: Context, channel_id: str) -> list[dict[str, Any]]:
    return ctx.store.find("channel_members", channel_id=channel_id)


def member_count(ctx: Context, channel_id: str) -> int:
    """ChannelStore.GetMemberCount: members whose accounts are active."""
    return ctx.store.count_channel_users(channel_id)


def for_user(ctx: Context, team_id: str, user_id: str) -> list[dict[str, Any]]:
    """ChannelStore.GetChannels: the user's live channels of the team plus direct/group ones, by display name."""
    found = [channel for channel, _ in ctx.store.user_channels(user_id, [team_id, ""])]
    return sorted((c for c in found if not c.get("delete_at")), key=lambda c: c["display_name"])


def open_not_joined(ctx: Context, team_id: str, user_id: str) -> list[dict[str, Any]]:
    """The team's live open channels the user is not in, by display name (GetMoreChannels, SearchMore)."""
    joined = {m["channel_id"] for m in ctx.store.find("channel_members", user_id=user_id)}
    found = ctx.store.find("channels", team_id=team_id, type=OPEN)
    return sorted(
        (c for c in found if not c.get("delete_at") and c["id"] not in joined),
        key=lambda c: c["display_name"],
    )


def open_in_team(ctx: Context, team_id: str) -> list[dict[str, Any]]:
    found = ctx.store.find("channels", team_id=team_id, type=OPEN)
    return sorted((c for c in found if not c.get("delete_at")), key=lambda c: c["display_name"])


def matches(channel: dict[str, Any], term: str) -> bool:
    """The channel search: `term` prefixes the name or display name (case-insensitive), or every
    word of it prefixes some word of them (the full-text half of the real query)."""
    like = term
    for char in _LIKE_IGNORED:
        like = like.replace(char, "")
    if not like:
        return True
    fields = (channel["name"].lower(), channel["display_name"].lower())
    if any(field.startswith(like.lower()) for field in fields):
        return True
    words = [w for w in _WORD_BREAKS.split(term.lower()) if w]
    tokens = [t for field in fields for t in (field, *_WORD_BREAKS.split(field)) if t]
    return bool(words) and all(any(t.startswith(w) for t in tokens) for w in words)


def list_etag(version: str, channels: list[dict[str, Any]]) -> str:
    """ChannelList.Etag: `<ver>.<id of the latest change>.<its time>.0.<count>` (`<ver>.0.0.0.0` if empty)."""
    latest_id, latest = "0", 0
    for channel in channels:
        if channel.get("last_post_at", 0) > latest:
            latest_id, latest = channel["id"], channel["last_post_at"]
        if channel.get("update_at", 0) > latest:
            latest_id, latest = channel["id"], channel["update_at"]
    return f"{version}.{latest_id}.{latest}.0.{len(channels)}"


def counts(channels: list[dict[str, Any]]) -> dict[str, Any]:
    """ChannelCounts: message totals and update times by channel id (Go maps: keys sorted)."""
    ordered = sorted(channels, key=lambda c: c["id"])
    return {
        "counts": {c["id"]: c.get("total_msg_count", 0) for c in ordered},
        "update_times": {c["id"]: c.get("update_at", 0) for c in ordered},
    }


def counts_etag(version: str, data: dict[str, Any]) -> str:
    """ChannelCounts.Etag: md5 of the sorted `<id><count>` pairs, then the latest update time."""
    text = "".join(f"{cid}{count}" for cid, count in sorted(data["counts"].items()))
    digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    return f"{version}.{digest}.{max(data['update_times'].values(), default=0)}"


def etag(version: str, channel: dict[str, Any]) -> str:
    return f"{version}.{channel['id']}.{channel['update_at']}"


def data_etag(version: str, channel: dict[str, Any], member: dict[str, Any]) -> str:
    """ChannelData.Etag: the channel's id, update and last post times, then the member's last update."""
    return (
        f"{version}.{channel['id']}.{channel['update_at']}.{channel.get('last_post_at', 0)}"
        f".{member.get('last_update_at', 0)}"
    )
