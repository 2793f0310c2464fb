"""Team and channel membership, and the system posts real 4.9 writes when it changes.

Used by users (invites), teams (create, add, remove), channels (create, join, leave) and
posts (system messages), so the rules live once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmv3.server import events, posts
from mmv3.server.errors import AppError
from mmv3.server.ids import new_id, now_ms

if TYPE_CHECKING:
    from mmv3.server.context import Context

DEFAULT_CHANNEL = "town-square"  # can be neither left, removed from, renamed nor deleted
DEFAULT_CHANNELS = ((DEFAULT_CHANNEL, "Town Square"), ("off-topic", "Off-Topic"))
DEFAULT_NOTIFY_PROPS = {"desktop": "default", "email": "default", "mark_unread": "all", "push": "default"}


def system_post(
    ctx: Context, channel: dict[str, Any], user: dict[str, Any], kind: str, message: str, **props: str
):
    """Store a system message (e.g. `system_join_channel`) in `channel` by `user`."""
    post = posts.new_post(
        user["id"], channel["id"], message, type=kind, props={"username": user["username"], **props}
    )
    saved = posts.save(ctx.store, post)
    events.posted(ctx, saved)
    return saved


def _members_changed(ctx: Context, channel_id: str) -> None:
    """ChannelStore.extraUpdated: a membership change stamps the channel's extra_update_at."""
    channel = ctx.store.get("channels", channel_id)
    if channel is not None:
        ctx.store.put("channels", channel_id, {**channel, "extra_update_at": now_ms()})


def add_channel_member(
    ctx: Context,
    channel: dict[str, Any],
    user: dict[str, Any],
    *,
    admin: bool = False,
    roles: str | None = None,
):
    key = f"{channel['id']}:{user['id']}"
    existing = ctx.store.get("channel_members", key)
    if existing:
        return existing
    member = {
        "channel_id": channel["id"],
        "user_id": user["id"],
        "roles": roles or ("channel_user channel_admin" if admin else "channel_user"),
        "last_viewed_at": 0,
        "msg_count": 0,
        "mention_count": 0,
        "notify_props": dict(DEFAULT_NOTIFY_PROPS),
        "last_update_at": now_ms(),
    }
    with ctx.store.transaction():
        ctx.store.insert("channel_members", key, member)
        _members_changed(ctx, channel["id"])
    return member


def remove_channel_member(ctx: Context, channel_id: str, user_id: str) -> bool:
    """ChannelStore.RemoveMember: no error when the user was not a member."""
    with ctx.store.transaction():
        removed = ctx.store.delete("channel_members", f"{channel_id}:{user_id}")
        _members_changed(ctx, channel_id)
    return removed


def mark_viewed(ctx: Context, channel_id: str, user_id: str) -> None:
    """ChannelStore.UpdateLastViewedAt: the member has read the channel up to its last post."""
    with ctx.store.transaction():
        channel = ctx.store.get("channels", channel_id)
        member = ctx.store.get("channel_members", f"{channel_id}:{user_id}")
        if channel is None or member is None:
            return
        viewed = max(member.get("last_viewed_at", 0), channel.get("last_post_at", 0))
        member["mention_count"] = 0
        member["msg_count"] = max(member.get("msg_count", 0), channel.get("total_msg_count", 0))
        member["last_viewed_at"] = member["last_update_at"] = viewed
        ctx.store.put("channel_members", f"{channel_id}:{user_id}", member)


def channel_permission(ctx: Context, channel_id: str, permission: str) -> bool:
    """SessionHasPermissionToChannel: an unknown channel grants nothing, not even to a system admin."""
    return permitted_channel(ctx, channel_id, permission) is not None


def permitted_channel(ctx: Context, channel_id: str, permission: str) -> dict[str, Any] | None:
    """The channel if the caller has `permission` in it (channel_permission), else None."""
    channel = ctx.store.get("channels", channel_id) if channel_id else None
    if channel is None or not ctx.has_channel(channel_id, permission, channel=channel):
        return None
    return channel


def join_channel(ctx: Context, channel: dict[str, Any], user: dict[str, Any], *, admin: bool = False):
    """Add `user` to `channel` and write the "joined the channel." post (open/private channels)."""
    with ctx.store.transaction():
        if ctx.store.get("channel_members", f"{channel['id']}:{user['id']}"):
            return ctx.store.get("channel_members", f"{channel['id']}:{user['id']}")
        member = add_channel_member(ctx, channel, user, admin=admin)
        events.user_added(ctx, channel, user["id"])
        if channel.get("type") in ("O", "P"):
            system_post(ctx, channel, user, "system_join_channel", f"{user['username']} joined the channel.")
    return member


def post_added_to_channel(
    ctx: Context, adder: dict[str, Any], added: dict[str, Any], channel: dict[str, Any]
):
    system_post(
        ctx, channel, adder, "system_add_to_channel",
        f"{added['username']} added to the channel by {adder['username']}.",
        userId=adder["id"], addedUserId=added["id"], addedUsername=added["username"],
    )  # fmt: skip


def post_left_channel(ctx: Context, user: dict[str, Any], channel: dict[str, Any]) -> None:
    system_post(ctx, channel, user, "system_leave_channel", f"{user['username']} left the channel.")


def post_removed_from_channel(
    ctx: Context, remover_id: str, removed: dict[str, Any], channel: dict[str, Any]
) -> None:
    post = posts.new_post(
        remover_id, channel["id"], f"{removed['username']} was removed from the channel.",
        type="system_remove_from_channel",
        props={"removedUserId": removed["id"], "removedUsername": removed["username"]},
    )  # fmt: skip
    events.posted(ctx, posts.save(ctx.store, post))


def _active_member_count(ctx: Context, team_id: str) -> int:
    """TeamStore.GetActiveMemberCount: live memberships of users who are not deactivated."""
    return ctx.store.count_team_users(team_id)[1]


def _join_default_channels(
    ctx: Context, team: dict[str, Any], user: dict[str, Any], roles: str, requestor: dict[str, Any] | None
) -> None:
    """JoinDefaultChannels: town-square gets "joined the team." (or "added to the team by"), off-topic
    "joined the channel." (or "added to the channel by")."""
    store = ctx.store
    leave_join_posts = ctx.config.get(
        "ServiceSettings.ExperimentalEnableDefaultChannelLeaveJoinMessages", True
    )
    town = store.find_one("channels", team_id=team["id"], name=DEFAULT_CHANNEL)
    if town is not None:
        add_channel_member(ctx, town, user, roles=roles)
        if leave_join_posts and requestor is None:
            system_post(ctx, town, user, "system_join_team", f"{user['username']} joined the team.")
        elif leave_join_posts:
            system_post(
                ctx, town, requestor, "system_add_to_team",
                f"{user['username']} added to the team by {requestor['username']}.",
                userId=requestor["id"], addedUserId=user["id"], addedUsername=user["username"],
            )  # fmt: skip
    off_topic = store.find_one("channels", team_id=team["id"], name="off-topic")
    if off_topic is not None and off_topic.get("type") == "O":
        add_channel_member(ctx, off_topic, user, roles=roles)
        if requestor is None:
            system_post(
                ctx, off_topic, user, "system_join_channel", f"{user['username']} joined the channel."
            )
        else:
            post_added_to_channel(ctx, requestor, user, off_topic)


def join_team(
    ctx: Context,
    team: dict[str, Any],
    user: dict[str, Any],
    *,
    admin: bool = False,
    requestor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """JoinUserToTeam: add `user` to `team` (respecting MaxUsersPerTeam) and to its default channels.

    The user whose email is the team's email joins as team admin (and channel admin of the default
    channels). A live membership is returned unchanged; a removed one is restored.
    """
    store = ctx.store
    key = f"{team['id']}:{user['id']}"
    admin = admin or (bool(team.get("email")) and team.get("email") == user.get("email"))
    limit = int(ctx.config.get("TeamSettings.MaxUsersPerTeam", 50) or 50)
    with store.transaction():
        existing = store.get("team_members", key)
        if existing and not existing.get("delete_at"):
            return existing
        if _active_member_count(ctx, team["id"]) >= limit:
            # The store's SaveMember and the app's re-join path word the same refusal differently.
            error_id = (
                "app.team.join_user_to_team.max_accounts.app_error"
                if existing
                else "store.sql_user.save.max_accounts.app_error"
            )
            raise AppError(error_id, 400)
        member = {
            "team_id": team["id"],
            "user_id": user["id"],
            "roles": "team_user team_admin" if admin else "team_user",
            "delete_at": 0,
        }
        store.put("team_members", key, member)
        stored_user = store.get("users", user["id"])
        if stored_user is not None:
            store.put("users", user["id"], {**stored_user, "update_at": now_ms()})
        _join_default_channels(
            ctx, team, user, "channel_user channel_admin" if admin else "channel_user", requestor
        )
    events.added_to_team(ctx, team["id"], user["id"])
    return member


def leave_team(ctx: Context, team: dict[str, Any], user: dict[str, Any], requestor_id: str) -> None:
    """LeaveTeam: out of the team's channels (not DMs), a town-square post, the membership soft-deleted."""
    store = ctx.store
    key = f"{team['id']}:{user['id']}"
    with store.transaction():
        member = store.get("team_members", key)
        if member is None:
            raise AppError(
                "api.team.remove_user_from_team.missing.app_error",
                400,
                "The user does not appear to be part of this team.",
            )
        events.leave_team(ctx, team["id"], user["id"])  # before the membership goes: the leaver gets it too
        team_channels = {c["id"] for c in store.find("channels", team_id=team["id"])}
        for channel_member in store.find("channel_members", user_id=user["id"]):
            if channel_member["channel_id"] in team_channels:
                remove_channel_member(ctx, channel_member["channel_id"], user["id"])
        town = store.find_one("channels", team_id=team["id"], name=DEFAULT_CHANNEL)
        if town is not None and not town.get("delete_at"):
            if ctx.config.get("ServiceSettings.ExperimentalEnableDefaultChannelLeaveJoinMessages", True):
                if requestor_id == user["id"]:
                    system_post(ctx, town, user, "system_leave_team", f"{user['username']} left the team.")
                else:
                    system_post(
                        ctx,
                        town,
                        user,
                        "system_remove_from_team",
                        f"{user['username']} was removed from the team.",
                    )
        store.put("team_members", key, {**member, "roles": "", "delete_at": now_ms()})
        stored_user = store.get("users", user["id"])
        if stored_user is not None:
            store.put("users", user["id"], {**stored_user, "update_at": now_ms()})
        # Team-scoped preferences (e.g. the last channel viewed in the team) go with the membership.
        store.delete_where("preferences", user_id=user["id"], category=team["id"])


def create_default_channels(ctx: Context, team: dict[str, Any]) -> None:
    """CreateDefaultChannels: town-square and off-topic, open, with no creator."""
    now = now_ms()
    for name, display in DEFAULT_CHANNELS:
        channel = {
            "id": new_id(),
            "create_at": now,
            "update_at": now,
            "delete_at": 0,
            "team_id": team["id"],
            "type": "O",
            "display_name": display,
            "name": name,
            "header": "",
            "purpose": "",
            "last_post_at": 0,
            "total_msg_count": 0,
            "extra_update_at": now,
            "creator_id": "",
        }
        ctx.store.insert("channels", channel["id"], channel)
