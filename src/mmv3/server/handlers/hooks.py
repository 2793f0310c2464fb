"""hooks: a team's incoming and outgoing webhooks (create, list, update, regen_token, delete).

The checks run in 4.9's order, which differs per route: e.g. outgoing update and regen_token
look the hook up (501 when outgoing hooks are off) before checking permissions, delete checks
permissions first. Executing an incoming hook is not a v3 route of the catalogue and is not
served here; outgoing hooks fire from new posts (see `webhooks.fire_outgoing`), never over HTTP.
"""

from __future__ import annotations

from typing import Any

from mmv3.server import audits, channels, memberships, webhooks
from mmv3.server.context import Context
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.ids import new_id, now_ms
from mmv3.server.routes import route

_HOOKS = "/api/v3/teams/{team_id}/hooks"
_INCOMING, _OUTGOING = "incoming_webhooks", "outgoing_webhooks"


def _require_webhooks(ctx: Context, team_id: str) -> None:
    if not ctx.has_team(team_id, "manage_webhooks"):
        raise forbidden()


def _require_owner_or_others(ctx: Context, team_id: str, owner_id: str) -> None:
    if owner_id != ctx.user_id and not ctx.has_team(team_id, "manage_others_webhooks"):
        raise forbidden()


def _require_readable(ctx: Context, channel: dict[str, Any]) -> None:
    """A hook of a private (or direct) channel needs read_channel on it."""
    if channel["type"] != channels.OPEN and not memberships.channel_permission(
        ctx, channel["id"], "read_channel"
    ):
        raise forbidden()


def _id_prop(ctx: Context) -> tuple[dict[str, str], str]:
    props = ctx.props()
    if not props.get("id"):
        raise invalid_param("id")
    return props, props["id"]


def _override_fields(ctx: Context, hook: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Username and icon overrides are kept only where the config allows them."""
    if not ctx.config.get("ServiceSettings.EnablePostUsernameOverride"):
        hook["username"] = old["username"] if old else ""
    if not ctx.config.get("ServiceSettings.EnablePostIconOverride"):
        hook["icon_url"] = old["icon_url"] if old else ""
    if hook["username"] and not webhooks.is_valid_username(hook["username"]):
        raise AppError("api.incoming_webhook.invalid_username.app_error", 400)


# -- incoming -----------------------------------------------------------------------------------
@route("POST", _HOOKS + "/incoming/create")
def create_incoming(ctx: Context) -> dict:
    hook = webhooks.decode_incoming(ctx)
    channel = channels.get(ctx, hook["channel_id"])
    audits.record(ctx, "attempt")
    _require_webhooks(ctx, channel["team_id"])
    _require_readable(ctx, channel)
    if not ctx.config.get("ServiceSettings.EnableIncomingWebhooks", True):
        raise webhooks.incoming_disabled()
    hook.update(user_id=ctx.user_id, team_id=channel["team_id"])
    _override_fields(ctx, hook)
    if hook["id"]:
        raise AppError("store.sql_webhooks.save_incoming.existing.app_error", 400)
    now = now_ms()
    hook.update(id=new_id(), create_at=now, update_at=now)
    webhooks.validate_incoming(hook)
    ctx.store.insert(_INCOMING, hook["id"], hook)
    audits.record(ctx, "success")
    return hook


@route("POST", _HOOKS + "/incoming/update")
def update_incoming(ctx: Context) -> dict:
    hook = webhooks.decode_incoming(ctx)
    audits.record(ctx, "attempt")
    old = webhooks.get_incoming(ctx, hook["id"])
    if old["team_id"] != ctx.params["team_id"]:
        raise AppError("api.webhook.team_mismatch.app_error", 400)
    _require_webhooks(ctx, old["team_id"])
    _require_owner_or_others(ctx, old["team_id"], old["user_id"])
    channel = channels.get(ctx, hook["channel_id"])
    _require_readable(ctx, channel)
    _override_fields(ctx, hook, old)
    keep = ("id", "user_id", "create_at", "team_id", "delete_at")
    hook = {**hook, **{key: old[key] for key in keep}, "update_at": now_ms()}
    ctx.store.put(_INCOMING, hook["id"], hook)  # the store's update does not re-run IsValid
    audits.record(ctx, "success")
    return hook


@route("POST", _HOOKS + "/incoming/delete")
def delete_incoming(ctx: Context) -> dict:
    props, hook_id = _id_prop(ctx)
    hook = webhooks.get_incoming(ctx, hook_id)
    team_id = ctx.params["team_id"]
    _require_webhooks(ctx, team_id)
    audits.record(ctx, "attempt")
    _require_owner_or_others(ctx, team_id, hook["user_id"])
    webhooks.soft_delete(ctx, _INCOMING, hook)
    audits.record(ctx, "success")
    return dict(sorted(props.items()))


@route("GET", _HOOKS + "/incoming/list")
def list_incoming(ctx: Context) -> list:
    team_id = ctx.params["team_id"]
    _require_webhooks(ctx, team_id)
    if not ctx.config.get("ServiceSettings.EnableIncomingWebhooks", True):
        raise webhooks.incoming_disabled()
    return webhooks.live_for_team(ctx, _INCOMING, team_id, webhooks.LIST_LIMIT)


# -- outgoing -----------------------------------------------------------------------------------
def _outgoing_channel_rules(ctx: Context, hook: dict[str, Any], team_id: str, *, creating: bool) -> None:
    """A hook bound to a channel needs an open channel of its team; otherwise trigger words."""
    if hook["channel_id"]:
        channel = channels.get(ctx, hook["channel_id"])
        if channel["type"] != channels.OPEN:
            # 4.9's create answers the "disabled" id here (with 403), its update a proper one.
            if creating:
                raise webhooks.outgoing_disabled(403)
            raise AppError("api.webhook.create_outgoing.not_open.app_error", 403)
        if channel["team_id"] != team_id:
            raise AppError("api.webhook.create_outgoing.permissions.app_error", 403)
    elif not hook["trigger_words"]:
        # Real 4.9 answers a missing trigger 400 on create but 500 on update.
        raise AppError("api.webhook.create_outgoing.triggers.app_error", 400 if creating else 500)


@route("POST", _HOOKS + "/outgoing/create")
def create_outgoing(ctx: Context) -> dict:
    hook = webhooks.decode_outgoing(ctx)
    audits.record(ctx, "attempt")
    team_id = ctx.params["team_id"]
    hook.update(team_id=team_id, creator_id=ctx.user_id)
    _require_webhooks(ctx, team_id)
    if not ctx.config.get("ServiceSettings.EnableOutgoingWebhooks"):
        raise webhooks.outgoing_disabled()
    _outgoing_channel_rules(ctx, hook, team_id, creating=True)
    if any(webhooks.clashes(existing, hook) for existing in webhooks.live_for_team(ctx, _OUTGOING, team_id)):
        raise AppError("api.webhook.create_outgoing.intersect.app_error", 500)
    if hook["id"]:
        raise AppError("store.sql_webhooks.save_outgoing.override.app_error", 400)
    now = now_ms()
    hook.update(id=new_id(), token=hook["token"] or new_id(), create_at=now, update_at=now)
    webhooks.validate_outgoing(hook)
    ctx.store.insert(_OUTGOING, hook["id"], hook)
    audits.record(ctx, "success")
    return hook


@route("GET", _HOOKS + "/outgoing/list")
def list_outgoing(ctx: Context) -> list:
    team_id = ctx.params["team_id"]
    _require_webhooks(ctx, team_id)
    if not ctx.config.get("ServiceSettings.EnableOutgoingWebhooks"):
        raise webhooks.outgoing_disabled()
    return webhooks.live_for_team(ctx, _OUTGOING, team_id, webhooks.LIST_LIMIT)


def _owned_outgoing(ctx: Context, hook_id: str) -> dict[str, Any]:
    """update/regen_token: the hook first (501 when off), then team, permission and ownership."""
    old = webhooks.get_outgoing(ctx, hook_id)
    if old["team_id"] != ctx.params["team_id"]:
        raise AppError("api.webhook.team_mismatch.app_error", 403)
    _require_webhooks(ctx, old["team_id"])
    _require_owner_or_others(ctx, old["team_id"], old["creator_id"])
    return old


@route("POST", _HOOKS + "/outgoing/update")
def update_outgoing(ctx: Context) -> dict:
    audits.record(ctx, "attempt")
    hook = webhooks.decode_outgoing(ctx)
    old = _owned_outgoing(ctx, hook["id"])
    _outgoing_channel_rules(ctx, hook, old["team_id"], creating=False)
    others = [h for h in webhooks.live_for_team(ctx, _OUTGOING, old["team_id"]) if h["id"] != hook["id"]]
    if any(webhooks.clashes(existing, hook) for existing in others):
        raise AppError("api.webhook.update_outgoing.intersect.app_error", 400)
    keep = ("creator_id", "create_at", "delete_at", "team_id")
    hook = {**hook, **{key: old[key] for key in keep}, "update_at": now_ms()}
    ctx.store.put(_OUTGOING, hook["id"], hook)  # the token is the body's, as in 4.9
    audits.record(ctx, "success")
    return hook


@route("POST", _HOOKS + "/outgoing/regen_token")
def regen_outgoing_token(ctx: Context) -> dict:
    _, hook_id = _id_prop(ctx)
    audits.record(ctx, "attempt")
    hook = _owned_outgoing(ctx, hook_id)
    hook = {**hook, "token": new_id(), "update_at": now_ms()}
    ctx.store.put(_OUTGOING, hook["id"], hook)
    return hook


@route("POST", _HOOKS + "/outgoing/delete")
def delete_outgoing(ctx: Context) -> dict:
    props, hook_id = _id_prop(ctx)
    audits.record(ctx, "attempt")
    _require_webhooks(ctx, ctx.params["team_id"])
    hook = webhooks.get_outgoing(ctx, hook_id)
    _require_owner_or_others(ctx, hook["team_id"], hook["creator_id"])
    webhooks.soft_delete(ctx, _OUTGOING, hook)
    audits.record(ctx, "success")
    return dict(sorted(props.items()))
