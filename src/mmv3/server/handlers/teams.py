"""teams: create, lists, invites, members, stats, update, roles, add/remove, Slack import, command_test.

Where real 4.9 is plainly broken the routes do what it meant (tests/fidelity_exceptions.yaml
lists each): `invite_members` with a body that is not `{"invites": [...]}` answers 400 instead of
panicking into an empty 500. The Slack import is not implemented: any readable zip answers the log
real 4.9 writes for an export with no users or channels (a bot user is created, then deactivated).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from mmv3.server import accounts, gojson, memberships, sanitize, teams
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.handlers.users import KNOWN_ROLES, get_user
from mmv3.server.ids import new_id, now_ms
from mmv3.server.routes import route

_TEAM = "/api/v3/teams/{team_id}"
_MAX_INT = 2**63 - 1  # Go's strconv.Atoi range on 64-bit
_ROLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_IMPORT_LOG = "Mattermost Slack Import Log\r\n"
_IMPORT_NOTES = (
    "\r\nNotes:\r\n=======\r\n\r\n"
    "- Some messages may not have been imported because they were not supported by this importer.\r\n"
    "- Slack bot messages are currently not supported.\r\n"
    "- Additional errors may be found in the server logs.\r\n"
)


# -- helpers -----------------------------------------------------------------------------------
def _int_param(ctx: Context, name: str) -> int:
    value = ctx.params[name]
    if not value.isdigit() or int(value) > _MAX_INT:
        raise invalid_param(name)
    return int(value)


def valid_role_names(roles: str) -> bool:
    """model.IsValidUserRoles: names of [a-z0-9_] up to 64 long; a lone system_admin is refused."""
    names = roles.split()
    if any(not 0 < len(n) <= 64 or not set(n) <= _ROLE_CHARS for n in names):
        return False
    return names != ["system_admin"]


def check_roles_exist(roles: str) -> None:
    if any(name not in KNOWN_ROLES for name in roles.split()):
        raise AppError("app.role.check_roles_exist.role_not_found", 400)


def _team_map(ctx: Context, found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A TeamMap (Go map: keys sorted), each team sanitised unless the caller may manage it."""
    return {t["id"]: sanitize.team(ctx, teams.public(t)) for t in sorted(found, key=lambda t: t["id"])}


def _active_members(ctx: Context, user_id: str) -> list[dict[str, Any]]:
    return [m for m in ctx.store.find("team_members", user_id=user_id) if not m.get("delete_at")]


# -- team-less routes --------------------------------------------------------------------------
@route("POST", "/api/v3/teams/create")
def create(ctx: Context) -> dict:
    team = teams.decode(ctx)
    if not ctx.has_system("create_team"):
        raise AppError("api.team.is_team_creation_allowed.disabled.app_error", 403)
    user = get_user(ctx, ctx.user_id)
    team["email"] = user.get("email", "")
    sso = bool(user.get("auth_service")) and bool(user.get("auth_data"))
    if not sso and not accounts.email_domain_allowed(ctx, team["email"]):
        raise AppError("api.team.is_team_creation_allowed.domain.app_error", 400)
    if team["id"]:
        raise AppError("store.sql_team.save.existing.app_error", 400)
    now = now_ms()
    team.update(id=new_id(), create_at=now, update_at=now, invite_id=team["invite_id"] or new_id())
    teams.validate(team)
    with ctx.store.transaction():
        if ctx.store.find_one("teams", name=team["name"]):
            raise AppError("store.sql_team.save.domain_exists.app_error", 400)
        ctx.store.insert("teams", team["id"], team)
        memberships.create_default_channels(ctx, team)
        memberships.join_team(ctx, team, user)
    # Not sanitised: the creator is the team's admin, whatever the session says yet.
    return team


@route("GET", "/api/v3/teams/all")
def all_teams(ctx: Context) -> dict:
    if ctx.has_system("manage_system"):
        found = ctx.store.all("teams")
    else:
        ids = [m["team_id"] for m in _active_members(ctx, ctx.user_id)]
        found = [t for t in ctx.store.find("teams", key=ids) if not t.get("delete_at")] if ids else []
    return _team_map(ctx, found)


@route("GET", "/api/v3/teams/all_team_listings")
def all_team_listings(ctx: Context) -> dict:
    return _team_map(ctx, [t for t in ctx.store.all("teams") if t.get("allow_open_invite")])


@route("POST", "/api/v3/teams/get_invite_info")
def get_invite_info(ctx: Context) -> dict:
    invite_id = ctx.props().get("invite_id", "")
    team = teams.by_invite_id(ctx, invite_id)
    if team["type"] != "O":
        raise AppError("api.team.get_invite_info.not_open_team", 400)
    # A Go map[string]string: keys in sorted order.
    return {
        "description": team["description"],
        "display_name": team["display_name"],
        "id": team["id"],
        "name": team["name"],
    }


@route("POST", "/api/v3/teams/find_team_by_name")
def find_team_by_name(ctx: Context) -> bool:
    name = ctx.props().get("name", "").strip().lower()
    return ctx.store.find_one("teams", name=name) is not None


@route("GET", "/api/v3/teams/name/{team_name}")
def team_by_name(ctx: Context) -> dict:
    team = ctx.store.find_one("teams", name=ctx.params["team_name"])
    if team is None:
        raise AppError("store.sql_team.get_by_name.app_error", 404)
    team = teams.public(team)
    visible = team.get("allow_open_invite") and team["type"] == "O"
    if not visible and ctx.team_member(team["id"]) is None and not ctx.has_system("manage_system"):
        raise forbidden()
    return sanitize.team(ctx, team)


@route("GET", "/api/v3/teams/members")
def my_team_members(ctx: Context) -> list:
    # The session's live memberships; failing those, every membership row of the user.
    return _active_members(ctx, ctx.user_id) or ctx.store.find("team_members", user_id=ctx.user_id)


@route("GET", "/api/v3/teams/unread")
def my_teams_unread(ctx: Context) -> list:
    """TeamUnreads summed over the caller's live channels of every team but `?id=` (which, when
    given, lets the direct and group channels in under team id "")."""
    excluded = ctx.request.args.get("id", "")
    members = {m["channel_id"]: m for m in ctx.store.find("channel_members", user_id=ctx.user_id)}
    found = ctx.store.find("channels", key=list(members)) if members else []
    unread: dict[str, dict[str, Any]] = {}
    for channel in found:
        if channel.get("delete_at") or channel.get("team_id", "") == excluded:
            continue
        member = members[channel["id"]]
        entry = unread.setdefault(
            channel["team_id"], {"team_id": channel["team_id"], "msg_count": 0, "mention_count": 0}
        )
        entry["mention_count"] += member.get("mention_count", 0)
        if member.get("notify_props", {}).get("mark_unread") != "mention":
            entry["msg_count"] += channel.get("total_msg_count", 0) - member.get("msg_count", 0)
    return list(unread.values())


@route("POST", "/api/v3/teams/add_user_to_team_from_invite")
def add_user_to_team_from_invite(ctx: Context) -> dict:
    props = ctx.props()
    hash_, data, invite_id = props.get("hash", ""), props.get("data", ""), props.get("invite_id", "")
    if hash_:
        team = teams.team_from_invite_hash(ctx, hash_, data, now_ms())
    elif invite_id:
        team = teams.by_invite_id(ctx, invite_id)
    else:
        raise AppError("api.user.create_user.signup_link_invalid.app_error", 400)
    memberships.join_team(ctx, team, get_user(ctx, ctx.user_id))
    return sanitize.team(ctx, team)


# -- routes of one team --------------------------------------------------------------------------
@route("GET", _TEAM + "/me")
def my_team(ctx: Context) -> dict:
    team = teams.get(ctx, ctx.params["team_id"])
    ctx.etag = teams.etag(ctx, team)
    return sanitize.team(ctx, team)


@route("GET", _TEAM + "/stats")
def team_stats(ctx: Context) -> dict:
    team_id = ctx.params["team_id"]
    total, active = ctx.store.count_team_users(team_id)
    return {"team_id": team_id, "total_member_count": total, "active_member_count": active}


@route("GET", _TEAM + "/members/{offset}/{limit}")
def team_members_page(ctx: Context) -> list:
    offset, limit = _int_param(ctx, "offset"), _int_param(ctx, "limit")
    live = [
        m for m in ctx.store.find("team_members", team_id=ctx.params["team_id"]) if not m.get("delete_at")
    ]
    return live[offset : offset + limit]


@route("POST", _TEAM + "/members/ids")
def team_members_by_ids(ctx: Context) -> list:
    user_ids = ctx.string_list()
    if not user_ids:
        raise invalid_param("user_ids")
    found = ctx.store.find("team_members", team_id=ctx.params["team_id"], user_id=user_ids)
    return [m for m in found if not m.get("delete_at")]


@route("GET", _TEAM + "/members/{user_id}")
def team_member(ctx: Context) -> dict:
    user_id = ctx.params["user_id"]
    if len(user_id) < 26:
        raise invalid_param("user_id")
    member = ctx.store.get("team_members", f"{ctx.params['team_id']}:{user_id}")
    if member is None:
        raise AppError("store.sql_team.get_member.missing.app_error", 404)
    return member


@route("POST", _TEAM + "/update")
def update(ctx: Context) -> dict:
    body = teams.decode(ctx)
    team_id = ctx.params["team_id"]
    ctx.require_team(team_id, "manage_team")
    with ctx.store.transaction():
        old = teams.get(ctx, team_id)
        copied = (
            "display_name",
            "description",
            "invite_id",
            "allow_open_invite",
            "company_name",
            "allowed_domains",
        )
        team = {**old, **{key: body[key] for key in copied}, "update_at": now_ms()}
        teams.validate(team)
        ctx.store.put("teams", team_id, team)
    return sanitize.team(ctx, team)


@route("POST", _TEAM + "/update_member_roles")
def update_member_roles(ctx: Context) -> dict:
    props = ctx.props()
    user_id = props.get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    roles = props.get("new_roles", "")
    if not valid_role_names(roles):
        raise invalid_param("new_roles")
    team_id = ctx.params["team_id"]
    ctx.require_team(team_id, "manage_team_roles")
    with ctx.store.transaction():
        member = ctx.store.get("team_members", f"{team_id}:{user_id}")
        if member is None:
            raise AppError("api.team.update_member_roles.not_a_member", 400)
        check_roles_exist(roles)
        ctx.store.put("team_members", f"{team_id}:{user_id}", {**member, "roles": roles})
    return {"status": "ok"}


def _invites(ctx: Context) -> list[dict[str, str]] | None:
    """model.InvitesFromJson: `{"invites": [{…string values…}]}`; None when it does not decode at
    all. Go keeps what fits: a wrongly typed `invites` is no invite, a wrongly typed item or
    value is left empty."""
    raw, ok = ctx.raw_json()
    if not ok or raw is None:
        return None
    if not isinstance(raw, dict):
        return []
    invites = gojson.fold(raw).get("invites")
    if not isinstance(invites, list):
        return []
    return [
        {k: v if isinstance(v, str) else "" for k, v in item.items()} if isinstance(item, dict) else {}
        for item in invites
    ]


@route("POST", _TEAM + "/invite_members")
def invite_members(ctx: Context) -> dict:
    invites = _invites(ctx)
    team_id = ctx.params["team_id"]
    ctx.require_team(team_id, "invite_user")
    ctx.require_team(team_id, "add_user_to_team")
    if invites is None:  # real 4.9 dereferences the nil list and panics (an empty 500)
        raise invalid_param("invites")
    if not invites:
        raise AppError("api.team.invite_members.no_one.app_error", 400)
    refused = [
        i.get("email", "") for i in invites if not accounts.email_domain_allowed(ctx, i.get("email", ""))
    ]
    if refused:
        raise AppError(
            "api.team.invite_members.invalid_email.app_error",
            400,
            f"The following email addresses do not belong to an accepted domain: {', '.join(refused)}. "
            "Please contact your System Administrator for details.",
        )
    # No mail is sent: the reference server has no SMTP (real 4.9 sends asynchronously and answers the same).
    return {"invites": invites}


@route("POST", _TEAM + "/add_user_to_team")
def add_user_to_team(ctx: Context) -> dict:
    props = ctx.props()
    user_id = props.get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    team_id = ctx.params["team_id"]
    ctx.require_team(team_id, "add_user_to_team")
    team = teams.get(ctx, team_id)
    memberships.join_team(ctx, team, get_user(ctx, user_id))
    return props


@route("POST", _TEAM + "/remove_user_from_team")
def remove_user_from_team(ctx: Context) -> dict:
    props = ctx.props()
    user_id = props.get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    team_id = ctx.params["team_id"]
    if user_id != ctx.user_id:
        ctx.require_team(team_id, "remove_user_from_team")
    team = teams.get(ctx, team_id)
    memberships.leave_team(ctx, team, get_user(ctx, user_id), ctx.user_id)
    return props


# -- Slack import ------------------------------------------------------------------------------------
def _import_reply(status: int, text: str) -> Reply:
    headers = [("Content-Disposition", "attachment; filename=MattermostImportLog.txt")]
    return Reply(status, text.encode(), "application/octet-stream", headers)


def _slack_bot_line(ctx: Context, team: dict[str, Any]) -> str:
    """SlackAddBotUser: a throwaway system user joins the team; the log names it and its password."""
    username = f"slackimportuser_{new_id()}"
    password = new_id()
    body = {"username": username, "email": f"{username}@localhost", "password": password}
    try:
        bot = accounts.create_user(ctx, body)
    except AppError:
        return f"Unable to import the Integration/Slack Bot user {username}.\r\n"
    try:
        memberships.join_team(ctx, team, bot)
    except AppError:
        pass  # as real: a full team leaves the bot outside it, the import goes on
    # The import ends by deactivating the bot (its password is only ever shown in this log).
    ctx.store.put("users", bot["id"], {**ctx.store.get("users", bot["id"]), "delete_at": now_ms()})
    accounts.revoke_all_sessions(ctx.store, bot["id"])
    return f"The Integration/Slack Bot user with email {body['email']} and password {password} has been imported.\r\n"


@route("POST", _TEAM + "/import_team")
def import_team(ctx: Context) -> Reply:
    team_id = ctx.params["team_id"]
    ctx.require_team(team_id, "import_team")
    request = ctx.request
    if request.mimetype != "multipart/form-data":
        raise AppError("api.team.import_team.parse.app_error", 400, "Could not parse multipart form")
    import_from = request.form.get("importFrom")
    if import_from is None:
        raise AppError("api.team.import_team.no_import_from.app_error", 400)
    size = request.form.get("filesize")
    if size is None:
        raise AppError(
            "api.team.import_team.unavailable.app_error",
            400,
            "Malformed request: filesize field is not present.",
        )
    try:
        int(size)
    except ValueError:
        raise AppError("api.team.import_team.integer.app_error", 400, "Filesize not an integer") from None
    upload = request.files.get("file")
    if upload is None:
        raise AppError("api.team.import_team.no_file.app_error", 400, "No file under 'file' in request")
    if import_from != "slack":  # real 4.9 then writes a nil log (a panic); later versions refuse the source
        raise AppError("api.team.import_team.unknown_import_from.app_error", 400, "Unknown import source")
    data = upload.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        # Real 4.9 has already sent the log's headers, so the error's JSON follows the log in the body.
        err = AppError(
            "api.slackimport.slack_import.zip.app_error", 400, "Unable to open the Slack export zip file.\r\n"
        )
        body = json.dumps(err.body(ctx.request_id), separators=(",", ":"))
        return _import_reply(400, _IMPORT_LOG + "Unable to open the Slack export zip file.\r\n" + body)
    team = teams.get(ctx, team_id)
    log = (
        _IMPORT_LOG
        + "\r\nUsers created:\r\n===============\r\n\r\n"
        + _slack_bot_line(ctx, team)
        + "\r\nChannels added:\r\n=================\r\n\r\n"
        + _IMPORT_NOTES
    )
    return _import_reply(200, log)


# -- the slash-command test endpoints ------------------------------------------------------------
def _command_test(ctx: Context, response_type: str) -> dict:
    """A CommandResponse echoing the form's token and team_domain (POST) or the raw body (GET)."""
    request = ctx.request
    if request.method == "POST":
        form, args = request.form, request.args
        text = f"\ntoken={form.get('token', args.get('token', ''))}"
        text += f"\nteam_domain={form.get('team_domain', args.get('team_domain', ''))}"
    else:
        text = request.get_data(as_text=True)
    return {
        "response_type": response_type, "text": "test command response " + text, "username": "",
        "icon_url": "", "type": "", "props": None, "goto_location": "", "attachments": None,
    }  # fmt: skip


@route("GET", "/api/v3/teams/command_test")
def command_test_get(ctx: Context) -> dict:
    return _command_test(ctx, "in_channel")


@route("POST", "/api/v3/teams/command_test")
def command_test_post(ctx: Context) -> dict:
    return _command_test(ctx, "in_channel")


@route("GET", "/api/v3/teams/command_test_e")
def command_test_e_get(ctx: Context) -> dict:
    return _command_test(ctx, "ephemeral")


@route("POST", "/api/v3/teams/command_test_e")
def command_test_e_post(ctx: Context) -> dict:
    return _command_test(ctx, "ephemeral")
