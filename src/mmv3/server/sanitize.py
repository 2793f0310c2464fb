"""What of a stored object a response may show (reference §6 sanitisation levels).

Stored documents keep everything (password hash, MFA secret, tokens); every handler passes
its output through here. The `security-*` and `schema-*` fault switches act here too, so a
faulty server breaks the rule everywhere the rule applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmv3.server.context import Context

_PROFILE_DROP = (
    "email_verified",
    "allow_marketing",
    "failed_attempts",
    "last_password_update",
    "notify_props",
)


def _apply_user_faults(ctx: Context, user: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    if ctx.fault("security-password-hash"):
        user["password"] = stored.get("password", "")
    if ctx.fault("schema-wrong-type") and "create_at" in user:
        user["create_at"] = str(user["create_at"])
    if ctx.fault("schema-no-timezone"):
        user.pop("timezone", None)
    return user


def user_basic(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    """create, login, me, update: no password or MFA secret, auth_data blanked."""
    user = {k: v for k, v in stored.items() if k not in ("password", "mfa_secret")}
    user["auth_data"] = ""
    return _apply_user_faults(ctx, user, stored)


def _privacy(ctx: Context, user: dict[str, Any], *, admin_exempt: bool) -> dict[str, Any]:
    if admin_exempt and ctx.is_system_admin:
        return user
    if not ctx.config.get("PrivacySettings.ShowEmailAddress", True):
        user["email"] = ""
    if not ctx.config.get("PrivacySettings.ShowFullName", True):
        user["first_name"] = ""
        user["last_name"] = ""
    return user


def user_privacy(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    """update_notify, update_active: basic plus privacy blanking, no admin exception."""
    user = user_basic(ctx, stored)
    user.pop("last_password_update", None)
    user["auth_service"] = ""
    return _privacy(ctx, user, admin_exempt=False)


def user_profile(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    """Users seen by others (get, lists, maps, search): profile fields only."""
    user = user_basic(ctx, stored)
    for key in _PROFILE_DROP:
        user.pop(key, None)
    if not ctx.is_system_admin:
        user["auth_service"] = ""
    return _privacy(ctx, user, admin_exempt=True)


def user_profiles(ctx: Context, stored: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`user_profile` of each user, keyed by id: the caller's rights and the settings read once
    for the whole list rather than per user (the same rules, in the same order)."""
    if any(ctx.fault(name) for name in ("security-password-hash", "schema-wrong-type", "schema-no-timezone")):
        return {user["id"]: user_profile(ctx, user) for user in stored}
    admin = ctx.is_system_admin
    blank = {"auth_data": ""}
    if not admin:
        blank["auth_service"] = ""
        if not ctx.config.get("PrivacySettings.ShowEmailAddress", True):
            blank["email"] = ""
        if not ctx.config.get("PrivacySettings.ShowFullName", True):
            blank["first_name"] = blank["last_name"] = ""
    dropped = frozenset(("password", "mfa_secret", *_PROFILE_DROP))
    out = {}
    for user in stored:
        profile = {k: v for k, v in user.items() if k not in dropped}
        profile.update(blank)
        out[user["id"]] = profile
    return out


def session_listed(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    session = dict(stored)
    if not ctx.fault("security-session-token-listed"):
        session["token"] = ""
    return session


def channel(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    out = dict(stored)
    if ctx.fault("schema-missing-field"):
        out.pop("type", None)
    if ctx.fault("invariants-update-before-create") and isinstance(out.get("create_at"), int):
        out["update_at"] = out["create_at"] - 1
    return out


def team(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    """Teams for callers without manage_team on them: email and allowed_domains blanked."""
    out = dict(stored)
    if not ctx.has_team(stored["id"], "manage_team"):
        out["email"] = ""
        out["allowed_domains"] = ""
    return out


def team_blanked(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    """Teams in `users/initial_load`: email and allowed_domains blanked for everyone (Team.Sanitize)."""
    out = dict(stored)
    out["email"] = ""
    out["allowed_domains"] = ""
    return out


_FILE_INFO_KEYS = (
    "id", "user_id", "post_id", "create_at", "update_at", "delete_at", "name", "extension", "size",
    "mime_type", "width", "height", "has_preview_image",
)  # fmt: skip


def file_info(ctx: Context, stored: dict[str, Any]) -> dict[str, Any]:
    """FileInfo JSON: storage paths (json:"-" in the real model) never leave the server."""
    return {k: stored[k] for k in _FILE_INFO_KEYS if k in stored}
