"""commands: the team's slash-command registry and running a command.

Custom commands call an outside URL in the real server. The reference server never sends a
request: running one answers as 4.9 does when the URL cannot be reached (500
`api.command.execute_command.failed.app_error`), which is also what 4.9 answered in the corpus
for a command pointing at its own `command_test` (loopback calls are refused by its client).
The `command_test` endpoints themselves live with the teams routes (handlers/teams.py).
"""

from __future__ import annotations

from typing import Any

from mmv3.server import audits, channels, gojson, memberships, slash_commands, webhooks
from mmv3.server.context import Context
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.ids import is_valid_id, new_id, now_ms
from mmv3.server.routes import route
from mmv3.server.slash_commands import Invocation

_COMMANDS = "/api/v3/teams/{team_id}/commands"
FIELDS = {
    "id": gojson.STR, "token": gojson.STR, "create_at": gojson.INT, "update_at": gojson.INT,
    "delete_at": gojson.INT, "creator_id": gojson.STR, "team_id": gojson.STR, "trigger": gojson.STR,
    "method": gojson.STR, "username": gojson.STR, "icon_url": gojson.STR, "auto_complete": gojson.BOOL,
    "auto_complete_desc": gojson.STR, "auto_complete_hint": gojson.STR, "display_name": gojson.STR,
    "description": gojson.STR, "url": gojson.STR,
}  # fmt: skip
_ARGS_FIELDS = {
    "user_id": gojson.STR, "channel_id": gojson.STR, "team_id": gojson.STR, "root_id": gojson.STR,
    "parent_id": gojson.STR, "command": gojson.STR,
}  # fmt: skip
_SANITIZED = ("token", "creator_id", "method", "url", "username", "icon_url")


# -- the model ----------------------------------------------------------------------------------
def validate(cmd: dict[str, Any]) -> None:
    """Command.IsValid: 400 `model.command.is_valid.*`, in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.command.is_valid.{field}.app_error", 400)

    if not is_valid_id(cmd["id"]):
        raise bad("id")
    if len(cmd["token"]) != 26:
        raise bad("token")
    if not cmd["create_at"]:
        raise bad("create_at")
    if not cmd["update_at"]:
        raise bad("update_at")
    if not is_valid_id(cmd["creator_id"]):
        raise bad("user_id")
    if not is_valid_id(cmd["team_id"]):
        raise bad("team_id")
    trigger = cmd["trigger"]
    if not 1 <= len(trigger) <= 128 or trigger.startswith("/") or " " in trigger:
        raise bad("trigger")
    if not cmd["url"] or len(cmd["url"]) > 1024:
        raise bad("url")
    if not webhooks.is_valid_http_url(cmd["url"]):
        raise bad("url_http")
    if cmd["method"] not in ("P", "G"):
        raise bad("method")
    if len(cmd["display_name"]) > 64:
        raise bad("display_name")
    if len(cmd["description"]) > 128:
        raise bad("description")


def _commands_enabled(ctx: Context) -> None:
    if not ctx.config.get("ServiceSettings.EnableCommands", True):
        raise AppError("api.command.disabled.app_error", 501)


def _team_commands(ctx: Context, team_id: str) -> list[dict[str, Any]]:
    found = ctx.store.find("commands", team_id=team_id) if team_id else []
    return sorted((c for c in found if not c.get("delete_at")), key=lambda c: c["create_at"])


def _get(ctx: Context, command_id: str) -> dict[str, Any]:
    """App.GetCommand: 501 when commands are off, 404 unless a live command."""
    _commands_enabled(ctx)
    cmd = ctx.store.get("commands", command_id) if command_id else None
    if cmd is None or cmd.get("delete_at"):
        raise AppError("store.sql_command.save.get.app_error", 404)
    return cmd


def _require_manage(ctx: Context, cmd: dict[str, Any]) -> None:
    """The update/regen/delete checks: the path's team, manage_slash_commands, then others' commands."""
    if cmd["team_id"] != ctx.params["team_id"]:
        raise AppError("api.command.team_mismatch.app_error", 400)
    if not ctx.has_team(cmd["team_id"], "manage_slash_commands"):
        raise forbidden()
    if cmd["creator_id"] != ctx.user_id and not ctx.has_team(cmd["team_id"], "manage_others_slash_commands"):
        raise forbidden()


def _update(ctx: Context, cmd: dict[str, Any]) -> dict[str, Any]:
    """CommandStore.Update: a new update_at, then the model's checks."""
    cmd = {**cmd, "update_at": now_ms()}
    validate(cmd)
    ctx.store.put("commands", cmd["id"], cmd)
    return cmd


def _id_prop(ctx: Context) -> tuple[dict[str, str], str]:
    props = ctx.props()
    if not props.get("id"):
        raise invalid_param("id")
    return props, props["id"]


# -- the registry -------------------------------------------------------------------------------
@route("POST", _COMMANDS + "/create")
def create(ctx: Context) -> dict:
    cmd = webhooks.decode_model(ctx, FIELDS, "command")
    audits.record(ctx, "attempt")
    team_id = ctx.params["team_id"]
    if not ctx.has_team(team_id, "manage_slash_commands"):
        raise forbidden()
    cmd.update(creator_id=ctx.user_id, team_id=team_id, trigger=cmd["trigger"].lower())
    _commands_enabled(ctx)
    taken = {c["trigger"] for c in _team_commands(ctx, team_id)} | set(slash_commands.BUILT_INS)
    if cmd["trigger"] in taken:
        raise AppError("api.command.duplicate_trigger.app_error", 400)
    if cmd["id"]:
        raise AppError("store.sql_command.save.saving_overwrite.app_error", 400)
    now = now_ms()
    cmd.update(id=new_id(), token=cmd["token"] or new_id(), create_at=now, update_at=now)
    validate(cmd)
    ctx.store.insert("commands", cmd["id"], cmd)
    audits.record(ctx, "success")
    return cmd


@route("POST", _COMMANDS + "/update")
def update(ctx: Context) -> dict:
    body = webhooks.decode_model(ctx, FIELDS, "command")
    audits.record(ctx, "attempt")
    old = _get(ctx, body["id"])
    _require_manage(ctx, old)
    keep = ("id", "token", "create_at", "delete_at", "creator_id", "team_id")
    cmd = _update(ctx, {**body, **{k: old[k] for k in keep}, "trigger": body["trigger"].lower()})
    audits.record(ctx, "success")
    return cmd


@route("GET", _COMMANDS + "/list_team_commands")
def list_team_commands(ctx: Context) -> list:
    team_id = ctx.params["team_id"]
    if not ctx.has_team(team_id, "manage_slash_commands"):
        raise forbidden()
    _commands_enabled(ctx)
    return _team_commands(ctx, team_id)


@route("POST", _COMMANDS + "/regen_token")
def regen_token(ctx: Context) -> dict:
    _, command_id = _id_prop(ctx)
    audits.record(ctx, "attempt")
    cmd = _get(ctx, command_id)
    _require_manage(ctx, cmd)
    return _update(ctx, {**cmd, "token": new_id()})


@route("POST", _COMMANDS + "/delete")
def delete(ctx: Context) -> dict:
    props, command_id = _id_prop(ctx)
    audits.record(ctx, "attempt")
    cmd = _get(ctx, command_id)
    _require_manage(ctx, cmd)
    now = now_ms()
    ctx.store.put("commands", cmd["id"], {**cmd, "delete_at": now, "update_at": now})
    audits.record(ctx, "success")
    return dict(sorted(props.items()))  # the request map echoed (a Go map: keys sorted)


@route("GET", _COMMANDS + "/list")
def autocomplete_list(ctx: Context) -> list:
    """ListAutocompleteCommands: the built-ins, then the team's commands that autocomplete, sanitised."""
    listed = [b.autocomplete_entry() for b in slash_commands.listed(ctx)]
    if ctx.config.get("ServiceSettings.EnableCommands", True):
        for cmd in _team_commands(ctx, ctx.params["team_id"]):
            if cmd.get("auto_complete"):
                listed.append({**cmd, **{key: "" for key in _SANITIZED}})
    return listed


# -- running ------------------------------------------------------------------------------------
@route("POST", _COMMANDS + "/execute")
def execute(ctx: Context) -> dict:
    args = webhooks.decode_model(ctx, _ARGS_FIELDS, "command_args")
    command = args["command"]
    if len(command) <= 1 or not command.startswith("/"):
        raise AppError("api.command.execute_command.start.app_error", 400)
    channel_id = args["channel_id"]
    if channel_id and not memberships.channel_permission(ctx, channel_id, "use_slash_commands"):
        raise forbidden()
    trigger, _, message = command.partition(" ")
    trigger = trigger[1:].lower()
    inv = Invocation(ctx, ctx.params["team_id"], channel_id, args["root_id"], args["parent_id"], message)
    built_in = slash_commands.BUILT_INS.get(trigger)
    if built_in is not None:
        result = built_in.run(inv)
        slash_commands.post_response(ctx, inv, result, built_in=True)
        return result
    _commands_enabled(ctx)
    channels.get(ctx, channel_id)  # 4.9 loads the channel before it looks at the triggers
    for cmd in _team_commands(ctx, inv.team_id):
        if cmd["trigger"] == trigger:
            ctx.server.log.info(f"Executing cmd={trigger} userId={ctx.user_id}")
            raise AppError(
                "api.command.execute_command.failed.app_error",
                500,
                f"Command with a trigger of '{trigger}' failed",
            )
    raise AppError(
        "api.command.execute_command.not_found.app_error",
        404,
        f"Command with a trigger of '{trigger}' not found. To send a message beginning with \"/\", "
        "try adding an empty space at the beginning of the message.",
    )
