"""Teams as Mattermost 4.9 stores them: the Team model's checks, reads, etag and invite links.

Used by the teams handlers and by anything else that reads a team (the invite id falls back to
the team id when empty, as the real store does on every read).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from mmv3.server import gojson
from mmv3.server.errors import AppError

if TYPE_CHECKING:
    from mmv3.server.context import Context

FIELDS = {
    "id": gojson.STR, "create_at": gojson.INT, "update_at": gojson.INT, "delete_at": gojson.INT,
    "display_name": gojson.STR, "name": gojson.STR, "description": gojson.STR, "email": gojson.STR,
    "type": gojson.STR, "company_name": gojson.STR, "allowed_domains": gojson.STR, "invite_id": gojson.STR,
    "allow_open_invite": gojson.BOOL,
}  # fmt: skip
_VALID_NAME = re.compile(r"^[a-z0-9]+([a-z\-0-9]+|(__)?)[a-z0-9]+$")
_RESERVED_PREFIXES = ("signup", "login", "admin", "channel", "post", "api", "oauth")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_INVITE_LIFETIME_MS = 48 * 3600 * 1000


def decode(ctx: Context) -> dict[str, Any]:
    raw, ok = ctx.raw_json()
    return gojson.decode_struct(raw, ok, FIELDS, "team")


def validate(team: dict[str, Any]) -> None:
    """Team.IsValid: the 400 `model.team.is_valid.*` errors, in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.team.is_valid.{field}.app_error", 400)

    email = team["email"]
    if len(email) > 128 or (email and not _EMAIL.match(email)):
        raise bad("email")
    if not 0 < len(team["display_name"]) <= 64:
        raise bad("name")
    if len(team["name"]) > 64:
        raise bad("url")
    if len(team["description"]) > 255:
        raise bad("description")
    if team["name"].lower().startswith(_RESERVED_PREFIXES):
        raise bad("reserved")
    if len(team["name"]) < 2 or not _VALID_NAME.match(team["name"]):
        raise bad("characters")
    if team["type"] not in ("O", "I"):
        raise bad("type")
    if len(team["company_name"]) > 64:
        raise bad("company")
    if len(team["allowed_domains"]) > 500:
        raise bad("domains")


def public(team: dict[str, Any]) -> dict[str, Any]:
    """The team as the store reads it: an empty invite id reads as the team id."""
    return team if team.get("invite_id") else {**team, "invite_id": team["id"]}


def get(ctx: Context, team_id: str, *, status: int = 404) -> dict[str, Any]:
    team = ctx.store.get("teams", team_id) if team_id else None
    if team is None:
        raise AppError("store.sql_team.get.find.app_error", status)
    return public(team)


def by_invite_id(ctx: Context, invite_id: str) -> dict[str, Any]:
    """TeamStore.GetByInviteId: the team whose invite id (or, lacking one, whose id) is `invite_id`."""
    team = None
    if invite_id:
        team = ctx.store.find_one("teams", invite_id=invite_id)
        if team is None:
            by_id = ctx.store.get("teams", invite_id)
            team = by_id if by_id is not None and not by_id.get("invite_id") else None
    if team is None:
        raise AppError("store.sql_team.get_by_invite_id.find.app_error", 404)
    return public(team)


def etag(ctx: Context, team: dict[str, Any]) -> str:
    return f"{ctx.server.options.version}.{team['id']}.{team['update_at']}"


def invite_hash(ctx: Context, data: str) -> str:
    """utils.HashSha256 of `<data>:<InviteSalt>`: what signs an emailed invite link."""
    salt = ctx.config.get("EmailSettings.InviteSalt", "") or ""
    return hashlib.sha256(f"{data}:{salt}".encode()).hexdigest()


def invite_props(
    ctx: Context, hash_: str, data: str, now: int, *, invalid_id: str, expired_id: str
) -> dict[str, Any]:
    """An emailed invite's data once its signature and 48-hour lifetime check out.

    Routes that read invites answer the same failures with ids of their own.
    """
    if hash_ != invite_hash(ctx, data):
        raise AppError(invalid_id, 400)
    try:
        props = json.loads(data)
    except ValueError:
        props = {}
    props = props if isinstance(props, dict) else {}
    try:
        issued = int(props.get("time", ""))
    except (TypeError, ValueError):
        issued = None
    if issued is None or now - issued > _INVITE_LIFETIME_MS:
        raise AppError(expired_id, 400)
    return props


def team_from_invite_hash(ctx: Context, hash_: str, data: str, now: int) -> dict[str, Any]:
    """AddUserToTeamByHash's checks: the signature, the 48-hour lifetime, then the team it names."""
    props = invite_props(
        ctx,
        hash_,
        data,
        now,
        invalid_id="api.user.create_user.signup_link_invalid.app_error",
        expired_id="api.user.create_user.signup_link_expired.app_error",
    )
    return get(ctx, str(props.get("id", "")))
