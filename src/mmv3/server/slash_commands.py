"""The built-in slash commands of Mattermost 4.9 (`/echo`, `/away`, `/join`, …) and what they answer.

Each built-in has the autocomplete entry `commands/list` shows and a function that does what
the real provider does and returns its CommandResponse. Only what needs no network is here:
nothing of this module ever sends a request or an email.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmv3.server import accounts, channels, events, files, memberships, posts, teams, webhooks
from mmv3.server.errors import AppError

if TYPE_CHECKING:
    from mmv3.server.context import Context

IN_CHANNEL, EPHEMERAL = "in_channel", "ephemeral"
_SHRUG = "¯\\\\\\_(ツ)\\_/¯"  # as 4.9 posts it: markdown-escaped for the message text
_DEFAULT_HELP_LINK = "https://about.mattermost.com/default-help/"
_SLACK_LINK = re.compile(r"<([^\n<|>]+)\|([^\n>]+)>")
_MAX_ECHO_DELAY = 10000


@dataclass
class Invocation:
    """CommandArgs: who runs the command, where, and the text after the trigger."""

    ctx: Context
    team_id: str
    channel_id: str
    root_id: str
    parent_id: str
    message: str

    @property
    def user(self) -> dict[str, Any]:
        assert self.ctx.user is not None
        return self.ctx.user


def response(
    text: str = "", response_type: str = "", *, goto: str = "", kind: str = "", props: dict | None = None
) -> dict[str, Any]:
    """A CommandResponse in the real key order (`props`/`attachments` null when unset)."""
    return {
        "response_type": response_type, "text": text, "username": "", "icon_url": "", "type": kind,
        "props": props, "goto_location": goto, "attachments": None,
    }  # fmt: skip


def _ephemeral(text: str) -> dict[str, Any]:
    return response(text, EPHEMERAL)


@dataclass(frozen=True)
class BuiltIn:
    trigger: str
    display_name: str
    description: str
    hint: str
    run: Callable[[Invocation], dict[str, Any]]

    def autocomplete_entry(self) -> dict[str, Any]:
        """The sanitised Command `commands/list` shows for a built-in (everything else zero)."""
        return {
            "id": "", "token": "", "create_at": 0, "update_at": 0, "delete_at": 0, "creator_id": "",
            "team_id": "", "trigger": self.trigger, "method": "", "username": "", "icon_url": "",
            "auto_complete": True, "auto_complete_desc": self.description, "auto_complete_hint": self.hint,
            "display_name": self.display_name, "description": "", "url": "",
        }  # fmt: skip


# -- posting ------------------------------------------------------------------------------------
def create_post(ctx: Context, user_id: str, channel_id: str, message: str, **fields: Any) -> dict | None:
    """CreatePostMissingChannel as commands use it: a failure is only logged, never answered."""
    post = posts.new_post(user_id, channel_id, message, **fields)
    post["hashtags"] = posts.parse_hashtags(message)
    try:
        saved = posts.save(ctx.store, post)
    except AppError as err:
        ctx.server.log.error(f"Failed to create the post of a slash command: {err.message}")
        return None
    webhooks.fire_outgoing(ctx, saved)
    events.posted(ctx, saved)
    return saved


def post_response(ctx: Context, inv: Invocation, result: dict[str, Any], *, built_in: bool) -> None:
    """HandleCommandResponse/CreateCommandPost: an in-channel answer becomes a post by the caller."""
    props: dict[str, Any] = dict(result.get("props") or {})
    from_webhook = not built_in
    if ctx.config.get("ServiceSettings.EnablePostUsernameOverride") and result.get("username"):
        props["override_username"] = result["username"]
        from_webhook = True
    if ctx.config.get("ServiceSettings.EnablePostIconOverride"):
        props["override_icon_url"] = result.get("icon_url") or ""
        from_webhook = from_webhook or bool(result.get("icon_url"))
    if from_webhook:
        props["from_webhook"] = "true"
    if result.get("type", "").startswith(posts.SYSTEM_PREFIX):
        return
    if result.get("response_type") == IN_CHANNEL:
        text = _SLACK_LINK.sub(r"[\2](\1)", result.get("text", ""))
        create_post(
            ctx, inv.user["id"], inv.channel_id, text,
            root_id=inv.root_id, parent_id=inv.parent_id, type=result.get("type", ""), props=props,
        )  # fmt: skip
    # Ephemeral answers go to the caller's websocket only: nothing is stored.


# -- the providers ------------------------------------------------------------------------------
def _echo(inv: Invocation) -> dict[str, Any]:
    message = inv.message
    if not message:
        return _ephemeral("A message must be provided with the /echo command.")
    delay = 0
    end = message.rfind('"')
    if message[0] == '"' and end > 1:
        try:
            delay = int(message[end:].strip(' "'))
        except ValueError:
            pass
        message = message[1:end]
    elif " " in message:
        cut = message.rfind(" ")
        try:
            delay = int(message[cut:].strip(" "))
            message = message[:cut]
        except ValueError:
            pass
    if delay > _MAX_ECHO_DELAY:
        return _ephemeral("Delays must be under 10000 seconds")
    # The real server posts after `delay` seconds from a goroutine; the reference server posts now.
    create_post(
        inv.ctx, inv.user["id"], inv.channel_id, message, root_id=inv.root_id, parent_id=inv.parent_id
    )
    return response()


def _me(inv: Invocation) -> dict[str, Any]:
    return response(f"*{inv.message}*", IN_CHANNEL)


def _shrug(inv: Invocation) -> dict[str, Any]:
    return response(f"{inv.message} {_SHRUG}" if inv.message else _SHRUG, IN_CHANNEL)


def _code(inv: Invocation) -> dict[str, Any]:
    if not inv.message:
        return _ephemeral("A message must be provided with the /code command.")
    return response("    " + inv.message.replace("\n", "\n    "), IN_CHANNEL)


def _status(status: str, text: str) -> Callable[[Invocation], dict[str, Any]]:
    def run(inv: Invocation) -> dict[str, Any]:
        inv.ctx.server.set_status(inv.user["id"], status, manual=True)
        return _ephemeral(text)

    return run


def _dnd(inv: Invocation) -> dict[str, Any]:
    current = inv.ctx.store.get("statuses", inv.user["id"])
    if current and current.get("status") == "dnd":
        inv.ctx.server.set_status(inv.user["id"], "online", manual=True)
        return _ephemeral("Do Not Disturb is disabled.")
    inv.ctx.server.set_status(inv.user["id"], "dnd", manual=True)
    return _ephemeral(
        "Do Not Disturb is enabled. You will not receive desktop or mobile push notifications until "
        "Do Not Disturb is turned off."
    )


def _join(inv: Invocation) -> dict[str, Any]:
    ctx = inv.ctx
    name = inv.message[1:] if inv.message.startswith("~") else inv.message
    try:
        channel = channels.by_name(ctx, inv.team_id, name)
    except AppError:
        return _ephemeral("An error occurred while listing channels.")
    allowed = channel["type"] == channels.OPEN or (
        channel["type"] == channels.PRIVATE
        and memberships.channel_permission(ctx, channel["id"], "read_channel")
    )
    if not allowed or channel.get("delete_at"):
        return _ephemeral("An error occurred while joining the channel.")
    memberships.join_channel(ctx, channel, inv.user)
    try:
        team = teams.get(ctx, channel["team_id"])
    except AppError:
        return _ephemeral("An error occurred while joining the channel.")
    return response(goto=f"{files.site_url(ctx)}/{team['name']}/channels/{channel['name']}")


def _leave(inv: Invocation) -> dict[str, Any]:
    ctx = inv.ctx
    failed = _ephemeral("An error occurred while leaving the channel.")
    channel = ctx.store.get("channels", inv.channel_id) if inv.channel_id else None
    team = ctx.store.get("teams", inv.team_id)
    if channel is None or team is None:
        return failed
    if channel["name"] == memberships.DEFAULT_CHANNEL:
        return _ephemeral(f"Cannot leave the default channel {memberships.DEFAULT_CHANNEL}")
    # LeaveChannel's refusals (direct/group, last member of a private channel, archived).
    if channel["type"] in (channels.DIRECT, channels.GROUP) or channel.get("delete_at"):
        return failed
    if channel["type"] == channels.PRIVATE and channels.member_count(ctx, channel["id"]) == 1:
        return failed
    if memberships.remove_channel_member(ctx, channel["id"], inv.user["id"]):
        memberships.post_left_channel(ctx, inv.user, channel)
    return response(
        "Left the channel.",
        EPHEMERAL,
        goto=f"{files.site_url(ctx)}/{team['name']}/channels/{memberships.DEFAULT_CHANNEL}",
    )


def direct_channel(ctx: Context, user: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """GetDirectChannel: the two users' direct channel, created with both as members if missing."""
    name = channels.direct_name(user["id"], other["id"])
    with ctx.store.transaction():
        existing = ctx.store.find_one("channels", team_id="", name=name)
        if existing is not None:
            return existing
        channel = channels.new(type=channels.DIRECT, name=name)
        for member in {u["id"]: u for u in (user, other)}.values():
            memberships.add_channel_member(ctx, channel, member)
        ctx.store.insert("channels", channel["id"], channel)
    return channel


def _msg(inv: Invocation) -> dict[str, Any]:
    ctx = inv.ctx
    target, _, text = inv.message.partition(" ")
    other = ctx.store.find_one("users", username=target.removeprefix("@").lower())
    if other is None or other["id"] == inv.user["id"]:
        return _ephemeral("We couldn't find the user")
    channel = direct_channel(ctx, inv.user, other)
    if text and create_post(ctx, inv.user["id"], channel["id"], text) is None:
        return _ephemeral("An error occurred while messaging the user.")
    team = ctx.store.get("teams", inv.team_id)
    if team is None:
        return _ephemeral("An error occurred while messaging the user.")
    return response(
        goto=f"{files.site_url(ctx)}/{team['name']}/channels/{channel['name']}", response_type=EPHEMERAL
    )


def _preview_setting(collapse: bool) -> Callable[[Invocation], dict[str, Any]]:
    def run(inv: Invocation) -> dict[str, Any]:
        user_id = inv.user["id"]
        inv.ctx.store.put(
            "preferences",
            f"{user_id}:display_settings:collapse_previews",
            {"user_id": user_id, "category": "display_settings", "name": "collapse_previews",
             "value": "true" if collapse else "false"},
        )  # fmt: skip
        return _ephemeral(f"Image links now {'collapse' if collapse else 'expand'} by default")

    return run


def _mute(inv: Invocation) -> dict[str, Any]:
    ctx = inv.ctx
    no_channel = _ephemeral(
        "Could not find the specified channel. Please use the [channel handle]"
        "(https://about.mattermost.com/default-channel-handle-documentation) to identify channels."
    )
    channel = ctx.store.get("channels", inv.channel_id) if inv.channel_id else None
    if channel is None:
        return no_channel
    handle = ""
    if inv.message.startswith("~"):
        handle = inv.message.split(" ")[0][1:]
        try:
            channel = channels.by_name(ctx, channel["team_id"], handle)
        except AppError:
            return no_channel
    key = f"{channel['id']}:{inv.user['id']}"
    with ctx.store.transaction():
        member = ctx.store.get("channel_members", key)
        if member is None:
            return _ephemeral(f"Could not mute channel {handle} as you are not a member.")
        notify = dict(member.get("notify_props") or {})
        notify["mark_unread"] = "mention" if notify.get("mark_unread", "all") == "all" else "all"
        ctx.store.put("channel_members", key, {**member, "notify_props": notify})
    muted = notify["mark_unread"] != "all"
    if channel["type"] in (channels.DIRECT, channels.GROUP):
        if muted:
            return _ephemeral(
                "You will not receive notifications for this channel until channel mute is turned off."
            )
        return _ephemeral("This channel is no longer muted.")
    if muted:
        return _ephemeral(
            f"You will not receive notifications for {channel['display_name']} until channel mute is turned off."
        )
    return _ephemeral(f"{channel['display_name']} is no longer muted.")


def _logout(inv: Invocation) -> dict[str, Any]:
    session = inv.ctx.session or {}
    if session.get("id"):
        accounts.revoke_session(inv.ctx.store, session["id"])
    return response(goto="/login")


def _help(inv: Invocation) -> dict[str, Any]:
    link = inv.ctx.config.get("SupportSettings.HelpLink") or _DEFAULT_HELP_LINK
    return response(goto=link)


def _unsupported(name: str) -> Callable[[Invocation], dict[str, Any]]:
    # The web app handles these itself; a server asked directly says so.
    return lambda inv: _ephemeral(f"The {name} command is not supported on your device")


def _current_channel(inv: Invocation) -> dict[str, Any] | None:
    return inv.ctx.store.get("channels", inv.channel_id) if inv.channel_id else None


def _may(inv: Invocation, channel: dict[str, Any], action: str) -> bool:
    """manage_{public|private}_channel_{action} on the channel, by its type."""
    kind = "public" if channel["type"] == channels.OPEN else "private"
    return memberships.channel_permission(inv.ctx, channel["id"], f"manage_{kind}_channel_{action}")


def _channel_text(field: str, label: str) -> Callable[[Invocation], dict[str, Any]]:
    """/header and /purpose: set the current channel's text field, as channels/update_<field> does."""

    def run(inv: Invocation) -> dict[str, Any]:
        ctx = inv.ctx
        channel = _current_channel(inv)
        if channel is None:
            return _ephemeral("Error to retrieve the current channel.")
        if field == "purpose" and channel["type"] in (channels.DIRECT, channels.GROUP):
            return _ephemeral(
                "Cannot set purpose for direct message channels. Use /header to set the header instead."
            )
        if channel["type"] in (channels.OPEN, channels.PRIVATE) and not _may(inv, channel, "properties"):
            return _ephemeral(f"You do not have the appropriate permissions to edit the channel {field}.")
        if not inv.message:
            return _ephemeral(f"{label} must be provided with the /{field} command.")
        try:
            updated = channels.update(ctx, {**channel, field: inv.message})
        except AppError:
            return _ephemeral("Error to update the current channel.")
        username, before = inv.user["username"], channel[field]
        if not before:
            text = f"{username} updated the channel {field} to: {inv.message}"
        else:
            text = f"{username} updated the channel {field} from: {before} to: {inv.message}"
        memberships.system_post(
            ctx, updated, inv.user, f"system_{field}_change", text,
            **{f"old_{field}": before, f"new_{field}": inv.message},
        )  # fmt: skip
        return response()

    return run


def _rename(inv: Invocation) -> dict[str, Any]:
    ctx = inv.ctx
    channel = _current_channel(inv)
    if channel is None:
        return _ephemeral("Error to retrieve the current channel.")
    if channel["type"] in (channels.DIRECT, channels.GROUP):
        return _ephemeral("Cannot rename direct message channels.")
    if not _may(inv, channel, "properties"):
        return _ephemeral("You do not have the appropriate permissions to rename the channel.")
    if not inv.message:
        return _ephemeral("A message must be provided with the /rename command.")
    if len(inv.message) > 22:
        return _ephemeral("Channel name must be 22 or fewer characters")
    if len(inv.message) < 2:
        return _ephemeral("Channel name must be 2 or more characters")
    try:
        updated = channels.update(ctx, {**channel, "display_name": inv.message})
    except AppError:
        return _ephemeral("Error to update the current channel.")
    memberships.system_post(
        ctx, updated, inv.user, "system_displayname_change",
        f"{inv.user['username']} updated the channel display name from: {channel['display_name']}"
        f" to: {inv.message}",
        old_displayname=channel["display_name"], new_displayname=inv.message,
    )  # fmt: skip
    return response()


def _remove(inv: Invocation) -> dict[str, Any]:
    ctx = inv.ctx
    channel = _current_channel(inv)
    if channel is None:
        return _ephemeral("Error to retrieve the current channel.")
    if channel["type"] in (channels.DIRECT, channels.GROUP):
        return _ephemeral("You can't remove someone from a direct message channel.")
    if not _may(inv, channel, "members"):
        return _ephemeral("You do not have the appropriate permissions to remove the member.")
    if not inv.message:
        return _ephemeral("A message must be provided with the /remove or /kick command.")
    username = inv.message.split(" ")[0].removeprefix("@").lower()
    removed = ctx.store.find_one("users", username=username)
    if removed is None:
        return _ephemeral("We couldn't find the user")
    if ctx.store.get("channel_members", f"{channel['id']}:{removed['id']}") is None:
        return _ephemeral(f"{removed['username']} is not a member of this channel.")
    if channel["name"] == memberships.DEFAULT_CHANNEL or channel.get("delete_at"):
        return _ephemeral(f"Cannot remove user from the default channel {memberships.DEFAULT_CHANNEL}")
    memberships.remove_channel_member(ctx, channel["id"], removed["id"])
    if removed["id"] == inv.user["id"]:
        memberships.post_left_channel(ctx, removed, channel)
    else:
        memberships.post_removed_from_channel(ctx, inv.user["id"], removed, channel)
    return response()


def _groupmsg(inv: Invocation) -> dict[str, Any]:
    ctx = inv.ctx
    names_part, _, text = inv.message.partition(" ")
    names = [n.strip().removeprefix("@").lower() for n in names_part.split(",") if n.strip()]
    found = ctx.store.find("users", username=names) if names else []
    missing = sorted(set(names) - {u["username"] for u in found})
    if missing:
        noun = "user" if len(missing) == 1 else "users"
        return _ephemeral(f"We couldn't find the {noun}: {', '.join('@' + m for m in missing)}")
    members = {u["id"]: u for u in [*found, inv.user]}
    if len(members) < channels.GROUP_MIN_USERS:
        return _ephemeral(f"Group messages are limited to a minimum of {channels.GROUP_MIN_USERS} users.")
    if len(members) > channels.GROUP_MAX_USERS:
        return _ephemeral(f"Group messages are limited to a maximum of {channels.GROUP_MAX_USERS} users.")
    name = channels.group_name(list(members))
    with ctx.store.transaction():
        channel = ctx.store.find_one("channels", team_id="", name=name)
        if channel is None:
            usernames = [u["username"] for u in members.values()]
            channel = channels.new(
                type=channels.GROUP, name=name, display_name=channels.group_display_name(usernames)
            )
            for member in members.values():
                memberships.add_channel_member(ctx, channel, member)
            ctx.store.insert("channels", channel["id"], channel)
    if text and create_post(ctx, inv.user["id"], channel["id"], text) is None:
        return _ephemeral("An error occurred while messaging the users.")
    team = ctx.store.get("teams", inv.team_id)
    if team is None:
        return _ephemeral("An error occurred while messaging the users.")
    return response(
        goto=f"{files.site_url(ctx)}/{team['name']}/channels/{channel['name']}", response_type=EPHEMERAL
    )


def _invite_people(inv: Invocation) -> dict[str, Any]:
    if not inv.ctx.config.get("EmailSettings.SendEmailNotifications"):
        return _ephemeral("Email has not been configured, no invite(s) sent")
    emails = [e.strip(",") for e in inv.message.split() if "@" in e.strip(",")]
    if not emails:
        return _ephemeral("Please specify one or more valid email addresses")
    # Real 4.9 hands the invites to its mailer and answers at once; this server sends no mail.
    return _ephemeral("Email invite(s) sent")


_JOIN_DESC, _REMOVE_DESC = "Join the open channel", "Remove a member from the channel"
BUILT_INS: dict[str, BuiltIn] = {
    b.trigger: b
    for b in (
        BuiltIn("away", "away", "Set your status away", "", _status("away", "You are now away")),
        BuiltIn("code", "code", "Display text as a code block", "[text]", _code),
        BuiltIn("collapse", "collapse", "Turn on auto-collapsing of image previews", "", _preview_setting(True)),
        BuiltIn("dnd", "dnd", "Do not disturb disables desktop and mobile push notifications.", "", _dnd),
        BuiltIn("echo", "echo", "Echo back text from your account", "'message' [delay in seconds]", _echo),
        BuiltIn("expand", "expand", "Turn off auto-collapsing of image previews", "", _preview_setting(False)),
        BuiltIn("groupmsg", "message", "Sends a Group Message to the specified users",
                "@[username1],@[username2] 'message'", _groupmsg),
        BuiltIn("header", "header", "Edit the channel header", "[text]", _channel_text("header", "Text")),
        BuiltIn("help", "help", "Open the Mattermost help page", "", _help),
        BuiltIn("join", "join", _JOIN_DESC, "~[channel]", _join),
        BuiltIn("kick", "kick", _REMOVE_DESC, "@[username]", _remove),
        BuiltIn("leave", "leave", "Leave the current channel", "", _leave),
        BuiltIn("logout", "logout", "Logout of Mattermost", "", _logout),
        BuiltIn("me", "me", "Do an action", "[message]", _me),
        BuiltIn("msg", "message", "Send Direct Message to a user", "@[username] 'message'", _msg),
        BuiltIn("mute", "mute", "Turns off desktop, email and push notifications for the current channel or the "
                "[channel] specified.", "~[channel]", _mute),
        BuiltIn("offline", "offline", "Set your status offline", "", _status("offline", "You are now offline")),
        BuiltIn("online", "online", "Set your status online", "", _status("online", "You are now online")),
        BuiltIn("open", "open", _JOIN_DESC, "~[channel]", _join),
        BuiltIn("purpose", "purpose", "Edit the channel purpose", "[text]",
                _channel_text("purpose", "A message")),
        BuiltIn("remove", "remove", _REMOVE_DESC, "@[username]", _remove),
        BuiltIn("rename", "rename", "Rename the channel", "[text]", _rename),
        BuiltIn("search", "search", "Search text in messages", "[text]", _unsupported("search")),
        BuiltIn("settings", "settings", "Open the Account Settings dialog", "", _unsupported("settings")),
        BuiltIn("shortcuts", "shortcuts", "Displays a list of keyboard shortcuts", "", _unsupported("shortcuts")),
        BuiltIn("shrug", "shrug", "Adds ¯\\_(ツ)_/¯ to your message", "[message]", _shrug),
        BuiltIn("invite_people", "invite_people", "Send an email invite to your Mattermost team",
                "[name@domain.com ...]", _invite_people),
    )
}  # fmt: skip


def listed(ctx: Context) -> list[BuiltIn]:
    """The built-ins `commands/list` offers: /invite_people only when email and user creation are on."""
    mail = ctx.config.get("EmailSettings.SendEmailNotifications") and ctx.config.get(
        "TeamSettings.EnableUserCreation", True
    )
    return [b for b in BUILT_INS.values() if b.trigger != "invite_people" or mail]
