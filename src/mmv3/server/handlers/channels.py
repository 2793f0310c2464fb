"""channels (under /teams/{team_id}/channels): lists, counts, search, create (open, private, direct,
group), view, update, header/purpose, notify props, join/leave, members, stats, pinned, delete.

Non-members are refused the way real 4.9 refuses them (404 `store.sql_channel.get_member.missing`
for reads and updates, 400 `api.channel.join_channel.permissions` for joining a private channel).
Where real 4.9 is plainly broken the routes do what it meant (tests/fidelity_exceptions.yaml lists
each): deleting a channel needs delete_*_channel on it (a non-member could delete a private channel),
the pinned list needs read_channel, and direct/group channels cannot be deleted.
"""

from __future__ import annotations

from typing import Any

from mmv3.server import audits, channels, events, gojson, memberships, posts, sanitize
from mmv3.server.channels import DIRECT, GROUP, OPEN, PRIVATE
from mmv3.server.context import Context
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.handlers.teams import check_roles_exist, valid_role_names
from mmv3.server.handlers.users import get_user, may_edit_user
from mmv3.server.ids import now_ms
from mmv3.server.memberships import DEFAULT_CHANNEL
from mmv3.server.routes import route

_CHANNELS = "/api/v3/teams/{team_id}/channels"
_CHANNEL = _CHANNELS + "/{channel_id}"
_MAX_INT = 2**63 - 1  # Go's strconv.Atoi range on 64-bit
_SEARCH_LIMIT = 100
_NOTIFY_LEVELS = ("default", "all", "mention", "none")
_NOTIFY_CHECKS = (  # ChannelMember.IsValid on notify props: (key, allowed values, error field, required)
    ("desktop", _NOTIFY_LEVELS, "notify_level", True),
    ("mark_unread", ("all", "mention"), "unread_level", True),
    ("push", _NOTIFY_LEVELS, "push_level", False),
    ("email", ("default", "true", "false"), "email_value", False),
)


# -- helpers -----------------------------------------------------------------------------------
def _version(ctx: Context) -> str:
    return ctx.server.options.version


def _int_param(ctx: Context, name: str) -> int:
    value = ctx.params[name]
    if not value.isdigit() or int(value) > _MAX_INT:
        raise invalid_param(name)
    return int(value)


def _public(ctx: Context, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [sanitize.channel(ctx, c) for c in found]


def _require_manage(ctx: Context, channel: dict[str, Any], what: str) -> None:
    """CanManageChannel and friends: `what` is properties/members; only open and private channels are checked."""
    kind = {OPEN: "public", PRIVATE: "private"}.get(channel["type"])
    if kind and not memberships.channel_permission(ctx, channel["id"], f"manage_{kind}_channel_{what}"):
        raise forbidden()


def _audit(ctx: Context, channel: dict[str, Any], extra: str = "") -> None:
    audits.record(ctx, f"name={channel['name']}{extra}")


# -- the caller's channels of the team -----------------------------------------------------------
@route("GET", _CHANNELS + "/")
def my_channels(ctx: Context) -> list:
    found = channels.for_user(ctx, ctx.params["team_id"], ctx.user_id)
    if not found:
        raise AppError("store.sql_channel.get_channels.not_found.app_error", 400)
    ctx.etag = channels.list_etag(_version(ctx), found)
    if ctx.fault("invariants-duplicate-id"):
        found = [*found, found[0]]
    return _public(ctx, found)


@route("GET", _CHANNELS + "/counts")
def counts(ctx: Context) -> dict:
    data = channels.counts(channels.for_user(ctx, ctx.params["team_id"], ctx.user_id))
    ctx.etag = channels.counts_etag(_version(ctx), data)
    return data


@route("GET", _CHANNELS + "/members")
def my_channel_members(ctx: Context) -> list:
    pairs = ctx.store.user_channels(ctx.user_id, [ctx.params["team_id"], ""])
    return [member for channel, member in pairs if not channel.get("delete_at")]


@route("GET", _CHANNELS + "/more/{offset}/{limit}")
def more_channels(ctx: Context) -> list:
    offset, limit = _int_param(ctx, "offset"), _int_param(ctx, "limit")
    team_id = ctx.params["team_id"]
    ctx.require_team(team_id, "list_team_channels")
    page = channels.open_not_joined(ctx, team_id, ctx.user_id)[offset : offset + limit]
    # The real handler sets the Etag header but never compares it: no 304 here.
    ctx.set_header("Etag", channels.list_etag(_version(ctx), page))
    return _public(ctx, page)


@route("POST", _CHANNELS + "/more/search")
def search_more(ctx: Context) -> list:
    raw, ok = ctx.raw_json()
    term = gojson.decode_struct(raw, ok, {"term": gojson.STR}, "")["term"]
    if not term:
        raise invalid_param("term")
    found = channels.open_not_joined(ctx, ctx.params["team_id"], ctx.user_id)
    return _public(ctx, [c for c in found if channels.matches(c, term)][:_SEARCH_LIMIT])


@route("GET", _CHANNELS + "/autocomplete")
def autocomplete(ctx: Context) -> list:
    term = ctx.request.args.get("term", "")
    found = channels.open_in_team(ctx, ctx.params["team_id"])
    return _public(ctx, [c for c in found if channels.matches(c, term)][:_SEARCH_LIMIT])


# -- creating ---------------------------------------------------------------------------------------
@route("POST", _CHANNELS + "/create")
def create(ctx: Context) -> dict:
    body = channels.decode(ctx)
    body["team_id"] = body["team_id"] or ctx.params["team_id"]
    if body["type"] == OPEN:
        ctx.require_team(body["team_id"], "create_public_channel")
    elif body["type"] == PRIVATE:
        ctx.require_team(body["team_id"], "create_private_channel")
    if body["type"] in (DIRECT, GROUP):
        raise AppError("api.channel.create_channel.direct_channel.app_error", 400)
    if body["name"].find("__") > 0:
        raise AppError("api.channel.create_channel.invalid_character.app_error", 400)
    limit = int(ctx.config.get("TeamSettings.MaxChannelsPerTeam", 2000) or 2000)
    existing = [c for c in ctx.store.find("channels", team_id=body["team_id"]) if c["type"] != DIRECT]
    if not existing:  # GetTeamChannels finds none: an unknown team (4.9 counts before it checks)
        raise AppError("store.sql_channel.get_channels.not_found.app_error", 404)
    if len(existing) + 1 > limit:
        raise AppError(
            "api.channel.create_channel.max_channel_limit.app_error",
            400,
            f"Cannot create more than {limit} channels for current team",
        )
    if body["id"]:
        raise AppError("store.sql_channel.save_channel.existing.app_error", 400)
    user = get_user(ctx, ctx.user_id)
    fields = {
        k: v
        for k, v in body.items()
        if k not in ("id", "create_at", "update_at", "extra_update_at", "creator_id")
    }
    channel = channels.new(**fields, creator_id=user["id"])
    with ctx.store.transaction():
        channels.save(ctx, channel)
        memberships.add_channel_member(ctx, channel, user, admin=True)
        memberships.system_post(
            ctx, channel, user, "system_join_channel", f"{user['username']} joined the channel."
        )
    events.channel_created(ctx, channel, user["id"])
    _audit(ctx, channel)
    return sanitize.channel(ctx, channel)  # as saved: before the join post and the member's stamp


@route("POST", _CHANNELS + "/create_direct")
def create_direct(ctx: Context) -> dict:
    ctx.require_system("create_direct_channel")
    other_id = ctx.props().get("user_id", "")
    if len(other_id) != 26:
        raise invalid_param("user_id")
    users = [ctx.store.get("users", uid) for uid in (ctx.user_id, other_id)]
    if None in users:
        raise AppError("api.channel.create_direct_channel.invalid_user.app_error", 400)
    name = channels.direct_name(ctx.user_id, other_id)
    with ctx.store.transaction():
        existing = ctx.store.find_one("channels", team_id="", name=name)
        if existing is not None:
            return sanitize.channel(ctx, existing)
        channel = channels.new(type=DIRECT, name=name)
        channels.validate(channel)
        # The members go in first: SaveDirectChannel does not stamp extra_update_at.
        for user in {u["id"]: u for u in users}.values():
            memberships.add_channel_member(ctx, channel, user)
        ctx.store.insert("channels", channel["id"], channel)
    return sanitize.channel(ctx, channel)


@route("POST", _CHANNELS + "/create_group")
def create_group(ctx: Context) -> dict:
    ctx.require_system("create_group_channel")
    user_ids = ctx.string_list()
    if not user_ids:
        raise invalid_param("user_ids")
    if ctx.user_id not in user_ids:
        user_ids.append(ctx.user_id)
    if not channels.GROUP_MIN_USERS <= len(user_ids) <= channels.GROUP_MAX_USERS:
        raise AppError("api.channel.create_group.bad_size.app_error", 400)
    users = ctx.store.find("users", key=user_ids)
    if len(users) != len(user_ids):
        raise AppError("api.channel.create_group.bad_user.app_error", 400)
    name = channels.group_name(user_ids)
    with ctx.store.transaction():
        existing = ctx.store.find_one("channels", team_id="", name=name)
        if existing is not None:
            return sanitize.channel(ctx, existing)
        channel = channels.new(
            type=GROUP, name=name, display_name=channels.group_display_name([u["username"] for u in users])
        )
        channels.validate(channel)
        for user in users:
            memberships.add_channel_member(ctx, channel, user)
        ctx.store.insert("channels", channel["id"], channel)
    return sanitize.channel(ctx, channel)


# -- viewing and updating ----------------------------------------------------------------------------
@route("POST", _CHANNELS + "/view")
def view(ctx: Context) -> dict:
    raw, ok = ctx.raw_json()
    fields = {"channel_id": gojson.STR, "prev_channel_id": gojson.STR}
    body = gojson.decode_struct(raw, ok, fields, "channel_view")
    if body["channel_id"]:
        ctx.server.set_status(ctx.user_id, "online", manual=False)
    ids = [cid for cid in (body["channel_id"], body["prev_channel_id"]) if cid]
    if not ids:
        return {"status": "OK"}
    known = [cid for cid in ids if ctx.store.get("channels", cid) is not None]
    if not known:  # the real UPDATE is then built with an empty CASE and the database refuses it
        raise AppError("store.sql_channel.update_last_viewed_at.app_error", 500)
    for cid in known:
        memberships.mark_viewed(ctx, cid, ctx.user_id)
    if len(body["channel_id"]) == 26:
        events.channel_viewed(ctx, ctx.user_id, body["channel_id"])
    return {"status": "OK"}


@route("POST", _CHANNELS + "/update")
def update(ctx: Context) -> dict:
    body = channels.decode(ctx)
    old = channels.get(ctx, body["id"])
    channels.member(ctx, body["id"], ctx.user_id)
    _require_manage(ctx, {**old, "type": body["type"]}, "properties")  # real checks the body's type
    if old.get("delete_at"):
        raise AppError("api.channel.update_channel.deleted.app_error", 400)
    if old["name"] == DEFAULT_CHANNEL and (
        (body["name"] and body["name"] != old["name"]) or (body["type"] and body["type"] != old["type"])
    ):
        raise AppError("api.channel.update_channel.tried.app_error", 400)
    changed = {"header": body["header"], "purpose": body["purpose"]}
    changed.update({key: body[key] for key in ("display_name", "name", "type") if body[key]})
    channel = channels.update(ctx, {**old, **changed})
    if old["display_name"] != body["display_name"]:
        memberships.system_post(
            ctx, channel, get_user(ctx, ctx.user_id), "system_displayname_change",
            f"{ctx.user['username']} updated the channel display name from: {old['display_name']}"
            f" to: {body['display_name']}",
            old_displayname=old["display_name"], new_displayname=body["display_name"],
        )  # fmt: skip
    _audit(ctx, channel)
    return sanitize.channel(ctx, channel)


def _update_text(ctx: Context, field: str) -> dict:
    """update_header / update_purpose: the member sets one text field and a system post says so."""
    props = ctx.props()
    channel_id = props.get("channel_id", "")
    if len(channel_id) != 26:
        raise invalid_param("channel_id")
    value = props.get(f"channel_{field}", "")
    if len(value.encode()) > 1024:
        raise invalid_param(f"channel_{field}")
    old = channels.get(ctx, channel_id)
    channels.member(ctx, channel_id, ctx.user_id)
    _require_manage(ctx, old, "properties")
    channel = channels.update(ctx, {**old, field: value})
    username, before = ctx.user["username"], old[field]
    if not before:
        message = f"{username} updated the channel {field} to: {value}"
    elif not value:
        message = f"{username} removed the channel {field} (was: {before})"
    else:
        message = f"{username} updated the channel {field} from: {before} to: {value}"
    memberships.system_post(
        ctx, channel, get_user(ctx, ctx.user_id), f"system_{field}_change", message,
        **{f"old_{field}": before, f"new_{field}": value},
    )  # fmt: skip
    _audit(ctx, channel)
    return sanitize.channel(ctx, channel)


@route("POST", _CHANNELS + "/update_header")
def update_header(ctx: Context) -> dict:
    return _update_text(ctx, "header")


@route("POST", _CHANNELS + "/update_purpose")
def update_purpose(ctx: Context) -> dict:
    return _update_text(ctx, "purpose")


@route("POST", _CHANNELS + "/update_notify_props")
def update_notify_props(ctx: Context) -> dict:
    data = ctx.props()
    user_id, channel_id = data.get("user_id", ""), data.get("channel_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    if len(channel_id) != 26:
        raise invalid_param("channel_id")
    if not may_edit_user(ctx, user_id):
        raise forbidden()
    with ctx.store.transaction():
        member = channels.member(ctx, channel_id, user_id)
        props = dict(member.get("notify_props") or {})
        props.update({key: data[key] for key in ("mark_unread", "desktop", "email", "push") if key in data})
        for key, allowed, error, required in _NOTIFY_CHECKS:
            if (required or key in props) and (props.get(key, "") not in allowed):
                raise AppError(f"model.channel_member.is_valid.{error}.app_error", 400)
        member = {**member, "notify_props": props, "last_update_at": now_ms()}
        ctx.store.put("channel_members", f"{channel_id}:{user_id}", member)
    return dict(sorted(props.items()))  # a Go map: keys sorted


# -- by name ------------------------------------------------------------------------------------------
@route("GET", _CHANNELS + "/name/{channel_name}")
def by_name(ctx: Context) -> dict:
    channel = channels.by_name(ctx, ctx.params["team_id"], ctx.params["channel_name"])
    if not memberships.channel_permission(ctx, channel["id"], "read_channel"):
        raise forbidden()
    ctx.etag = channels.etag(_version(ctx), channel)
    return sanitize.channel(ctx, channel)


def _join(ctx: Context, channel: dict[str, Any]) -> dict:
    """JoinChannel: open channels only (join_public_channels on the channel's team); a member's join is a no-op."""
    if channel["type"] == OPEN:
        ctx.require_team(channel.get("team_id", ""), "join_public_channels")
    if channel.get("delete_at"):
        raise AppError("api.channel.join_channel.already_deleted.app_error", 400)
    user = get_user(ctx, ctx.user_id)
    if ctx.channel_member(channel["id"]) is None:
        if channel["type"] != OPEN:
            raise AppError("api.channel.join_channel.permissions.app_error", 400)
        memberships.join_channel(ctx, channel, user)
    return sanitize.channel(ctx, channel)  # the channel as read before the join


@route("POST", _CHANNELS + "/name/{channel_name}/join")
def join_by_name(ctx: Context) -> dict:
    return _join(ctx, channels.by_name(ctx, ctx.params["team_id"], ctx.params["channel_name"]))


# -- one channel -------------------------------------------------------------------------------------
@route("GET", _CHANNEL + "/")
def channel_data(ctx: Context) -> dict:
    channel_id, team_id = ctx.params["channel_id"], ctx.params["team_id"]
    channel = channels.get(ctx, channel_id)
    if channel["team_id"] != team_id and channel["type"] not in (DIRECT, GROUP):
        raise AppError(
            "api.channel.get_channel.wrong_team.app_error",
            400,
            f"There is no channel with channel_id={channel_id} on team with team_id={team_id}",
        )
    member = channels.member(ctx, channel_id, ctx.user_id)
    ctx.etag = channels.data_etag(_version(ctx), channel, member)
    return {"channel": sanitize.channel(ctx, channel), "member": member}


@route("GET", _CHANNEL + "/stats")
def stats(ctx: Context) -> dict:
    channel = channels.get(ctx, ctx.params["channel_id"])
    if channel.get("delete_at"):
        raise AppError("api.channel.get_channel_extra_info.deleted.app_error", 400)
    if not memberships.channel_permission(ctx, channel["id"], "read_channel"):
        raise forbidden()
    count = channels.member_count(ctx, channel["id"])
    if ctx.fault("invariants-member-count-off"):
        count += 1
    return {"channel_id": channel["id"], "member_count": count}


@route("GET", _CHANNEL + "/members/{user_id}")
def channel_member(ctx: Context) -> dict:
    channel_id = ctx.params["channel_id"]
    if not memberships.channel_permission(ctx, channel_id, "read_channel"):
        raise forbidden()
    return channels.member(ctx, channel_id, ctx.params["user_id"])


@route("POST", _CHANNEL + "/members/ids")
def channel_members_by_ids(ctx: Context) -> list:
    channel_id = ctx.params["channel_id"]
    user_ids = ctx.string_list()
    if not user_ids:
        raise invalid_param("user_ids")
    if not memberships.channel_permission(ctx, channel_id, "read_channel"):
        raise forbidden()
    return ctx.store.find("channel_members", channel_id=channel_id, user_id=user_ids)


@route("GET", _CHANNEL + "/pinned")
def pinned(ctx: Context) -> dict:
    channel_id = ctx.params["channel_id"]
    if ctx.store.get("channels", channel_id) is None:
        return posts.post_list([])  # an unknown channel simply has no pinned posts
    # Real 4.9 checks no permission here (anyone in the team could read a private channel's pins).
    if not memberships.channel_permission(ctx, channel_id, "read_channel"):
        raise forbidden()
    return posts.pinned(ctx.store, channel_id)


@route("POST", _CHANNEL + "/join")
def join(ctx: Context) -> dict:
    return _join(ctx, channels.get(ctx, ctx.params["channel_id"]))


@route("POST", _CHANNEL + "/leave")
def leave(ctx: Context) -> dict:
    channel = channels.get(ctx, ctx.params["channel_id"])
    user = get_user(ctx, ctx.user_id)
    if channel["type"] in (DIRECT, GROUP):
        raise AppError("api.channel.leave.direct.app_error", 400)
    if channel["type"] == PRIVATE and channels.member_count(ctx, channel["id"]) == 1:
        raise AppError("api.channel.leave.last_member.app_error", 400)
    if channel.get("delete_at"):
        raise AppError("api.channel.remove_user_from_channel.deleted.app_error", 400)
    if channel["name"] == DEFAULT_CHANNEL:
        raise AppError("api.channel.remove.default.app_error", 400)
    # Real 4.9 also writes "left the channel." for a caller who was never in it; only members leave here.
    if memberships.remove_channel_member(ctx, channel["id"], user["id"]):
        memberships.post_left_channel(ctx, user, channel)
        events.user_removed(ctx, channel["id"], user["id"], user["id"])
    return {"id": channel["id"]}


@route("POST", _CHANNEL + "/delete")
def delete(ctx: Context) -> dict:
    channel = channels.get(ctx, ctx.params["channel_id"])
    if channel["type"] in (DIRECT, GROUP):  # real 4.9 checks no permission at all for these
        raise AppError("api.channel.delete_channel.type.invalid", 400)
    kind = "public" if channel["type"] == OPEN else "private"
    if not memberships.channel_permission(ctx, channel["id"], f"delete_{kind}_channel"):
        raise forbidden()
    if channel.get("delete_at"):
        raise AppError("api.channel.delete_channel.deleted.app_error", 400)
    if channel["name"] == DEFAULT_CHANNEL:
        raise AppError("api.channel.delete_channel.cannot.app_error", 400)
    user = get_user(ctx, ctx.user_id)
    now = now_ms()
    with ctx.store.transaction():
        memberships.system_post(
            ctx, channel, user, "system_channel_deleted", f"{user['username']} has archived the channel."
        )
        for table in ("incoming_webhooks", "outgoing_webhooks"):
            for hook in ctx.store.find(table, channel_id=channel["id"]):
                if not hook.get("delete_at"):
                    ctx.store.put(table, hook["id"], {**hook, "delete_at": now, "update_at": now})
        current = ctx.store.get("channels", channel["id"]) or channel
        ctx.store.put("channels", channel["id"], {**current, "delete_at": now, "update_at": now})
    events.channel_deleted(ctx, channel)
    _audit(ctx, channel)
    return {"id": channel["id"]}


@route("POST", _CHANNEL + "/add")
def add_member(ctx: Context) -> dict:
    user_id = ctx.props().get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    channel = channels.get(ctx, ctx.params["channel_id"])
    _require_manage(ctx, channel, "members")
    added = ctx.store.get("users", user_id)
    if added is None:
        raise AppError("api.channel.add_member.find_user.app_error", 400)
    team_member = ctx.store.get("team_members", f"{channel.get('team_id', '')}:{user_id}")
    if team_member is None:
        raise AppError("store.sql_team.get_member.missing.app_error", 404)
    if team_member.get("delete_at"):
        raise AppError("api.channel.add_user.to.channel.failed.deleted.app_error", 400)
    if channel.get("delete_at"):
        raise AppError("api.channel.add_user_to_channel.deleted.app_error", 400)
    if channel["type"] not in (OPEN, PRIVATE):
        raise AppError("api.channel.add_user_to_channel.type.app_error", 400)
    member = memberships.add_channel_member(ctx, channel, added)
    events.user_added(ctx, channel, added["id"])
    _audit(ctx, channel, f" user_id={user_id}")
    adder = get_user(ctx, ctx.user_id)
    memberships.mark_viewed(ctx, channel["id"], adder["id"])
    memberships.post_added_to_channel(ctx, adder, added, channel)
    return member


@route("POST", _CHANNEL + "/remove")
def remove_member(ctx: Context) -> dict:
    user_id = ctx.props().get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    channel = channels.get(ctx, ctx.params["channel_id"])
    _require_manage(ctx, channel, "members")
    if channel.get("delete_at"):
        raise AppError("api.channel.remove_user_from_channel.deleted.app_error", 400)
    if channel["name"] == DEFAULT_CHANNEL:
        raise AppError("api.channel.remove.default.app_error", 400)
    memberships.remove_channel_member(ctx, channel["id"], user_id)
    events.user_removed(ctx, channel["id"], user_id, ctx.user_id)
    removed = get_user(ctx, user_id)
    if user_id == ctx.user_id:
        memberships.post_left_channel(ctx, removed, channel)
    else:
        memberships.post_removed_from_channel(ctx, ctx.user_id, removed, channel)
    _audit(ctx, channel, f" user_id={user_id}")
    return {"channel_id": channel["id"], "removed_user_id": user_id}


@route("POST", _CHANNEL + "/update_member_roles")
def update_member_roles(ctx: Context) -> dict:
    props = ctx.props()
    channel_id = ctx.params["channel_id"]
    user_id = props.get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    if not memberships.channel_permission(ctx, channel_id, "manage_channel_roles"):
        raise forbidden()
    roles = props.get("new_roles", "")
    if not valid_role_names(roles):
        raise invalid_param("new_roles")
    with ctx.store.transaction():
        member = channels.member(ctx, channel_id, user_id)
        check_roles_exist(roles)
        member = {**member, "roles": roles, "last_update_at": now_ms()}
        ctx.store.put("channel_members", f"{channel_id}:{user_id}", member)
    return {"status": "ok"}
