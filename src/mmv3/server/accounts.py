"""Users and sessions as stored: creation rules, passwords, logging in and out.

Shared by the users handlers and every other group that needs to create a session or a
user (teams' invites, OAuth, the fidelity harness's seeding).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mmv3.server import bcrypt_hash
from mmv3.server.errors import AppError, invalid_param
from mmv3.server.http import blocking
from mmv3.server.ids import new_id, now_ms
from mmv3.server.store import Store

if TYPE_CHECKING:
    from mmv3.server.context import Context

_USERNAME = re.compile(r"^[a-z0-9.\-_]+$")
_RESERVED_USERNAMES = ("all", "channel", "matterbot", "here")
_DAY_MS = 24 * 3600 * 1000
# The locales a 4.9 server ships translations for; others fall back to DefaultClientLocale.
SUPPORTED_LOCALES = frozenset(
    ("de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt-BR", "ro", "ru", "tr", "zh-CN", "zh-TW")
)


# bcrypt (mmv3.server.bcrypt_hash) releases the interpreter while it hashes (~60-75 ms at cost 10): `blocking` lets the
# server serve other requests meanwhile, and logins hash on every core at once. No more hashes
# run at once than there are cores: more only take turns on them, each slower for it.
_HASH_SLOTS = threading.BoundedSemaphore(os.cpu_count() or 1)


@contextmanager
def _hashing() -> Iterator[None]:
    with blocking(), _HASH_SLOTS:
        yield


def hash_password(password: str, cost: int) -> str:
    with _hashing():
        return bcrypt_hash.hashpw(password.encode(), cost)


def check_password(stored_hash: str, password: str) -> bool:
    try:
        with _hashing():
            return bcrypt_hash.checkpw(password.encode(), stored_hash.encode())
    except ValueError:
        return False


def default_notify_props(username: str) -> dict[str, str]:
    return {
        "channel": "true",
        "comments": "never",
        "desktop": "mention",
        "desktop_sound": "true",
        "email": "true",
        "first_name": "false",
        "mention_keys": f"{username},@{username}",
        "push": "mention",
        "push_status": "away",
    }


def default_timezone() -> dict[str, str]:
    return {"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"}


def validate_user(user: dict[str, Any], *, check_password_rules: bool, min_password: int = 5) -> None:
    """The model checks of a User (`model.user.is_valid.*`), in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.user.is_valid.{field}.app_error", 400)

    username = user.get("username")
    if not isinstance(username, str) or not 1 <= len(username) <= 64 or not _USERNAME.match(username):
        raise bad("username")
    if username in _RESERVED_USERNAMES:
        raise bad("username")
    email = user.get("email")
    if not isinstance(email, str) or not 1 <= len(email) <= 128:
        raise bad("email")
    for field, limit in (("nickname", 64), ("position", 128), ("first_name", 64), ("last_name", 64)):
        value = user.get(field, "")
        if not isinstance(value, str) or len(value) > limit:
            raise bad(field)
    if check_password_rules:
        validate_password(user.get("password"), min_password)


def validate_password(password: object, min_password: int = 5) -> None:
    """The unlicensed password rule: 400 `model.user.is_valid.pwd.app_error` unless 5-64 characters."""
    if not isinstance(password, str) or not min_password <= len(password) <= 64:
        raise AppError(
            "model.user.is_valid.pwd.app_error",
            400,
            f"Your password must contain at least {min_password} characters.",
        )


def min_password_length(ctx: Context) -> int:
    return int(ctx.config.get("PasswordSettings.MinimumLength", 5) or 5)


def email_domain_allowed(ctx: Context, email: str) -> bool:
    """`TeamSettings.RestrictCreationToDomains` (comma/space separated, "@" optional); empty allows all."""
    domains = ctx.config.get("TeamSettings.RestrictCreationToDomains", "") or ""
    allowed = domains.replace("@", " ").replace(",", " ").lower().split()
    return not allowed or any(email.lower().endswith("@" + domain) for domain in allowed)


def create_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Store a new user (the first user ever becomes system admin) and return the stored doc."""
    if body.get("id"):
        raise AppError("store.sql_user.save.existing.app_error", 400, "Must call update for existing user")
    store = ctx.store
    username = str(body.get("username") or "").lower()
    email = str(body.get("email") or "").lower()
    if not email_domain_allowed(ctx, email):
        raise AppError("api.user.create_user.accepted_domain.app_error", 400)
    # Real 4.9 checks the password before the model's other fields.
    validate_password(body.get("password"), min_password_length(ctx))
    now = now_ms()
    user: dict[str, Any] = {
        "id": new_id(),
        "create_at": now,
        "update_at": now,
        "delete_at": 0,
        "username": username,
        "password": body.get("password"),
        "auth_data": "",
        "auth_service": "",
        "email": email,
        "nickname": body.get("nickname") or "",
        "first_name": body.get("first_name") or "",
        "last_name": body.get("last_name") or "",
        "position": body.get("position") or "",
        "roles": "system_user",
        "notify_props": default_notify_props(username),
        "last_password_update": now,
        "locale": body.get("locale") if body.get("locale") in SUPPORTED_LOCALES else default_locale(ctx),
        "timezone": default_timezone(),
    }
    if isinstance(body.get("props"), dict) and body["props"]:
        user["props"] = body["props"]
    if body.get("allow_marketing") is True:
        user["allow_marketing"] = True
    validate_user(user, check_password_rules=True, min_password=min_password_length(ctx))
    user["password"] = hash_password(user["password"], ctx.server.options.bcrypt_cost)
    with store.transaction():
        # Username first: the real server reports that one when both are taken.
        if store.find_one("users", username=username):
            raise AppError("store.sql_user.save.username_exists.app_error", 400)
        if store.find_one("users", email=email):
            raise AppError("store.sql_user.save.email_exists.app_error", 400)
        if store.count("users") == 0:
            user["roles"] = "system_admin system_user"
        store.insert("users", user["id"], user)
        store.put(
            "preferences",
            f"{user['id']}:tutorial_step:{user['id']}",
            {"user_id": user["id"], "category": "tutorial_step", "name": user["id"], "value": "0"},
        )
    return user


def new_session(
    ctx: Context, user: dict[str, Any], *, device_id: str = "", is_oauth: bool = False
) -> dict[str, Any]:
    days = ctx.config.get(
        "ServiceSettings.SessionLengthMobileInDays"
        if device_id
        else "ServiceSettings.SessionLengthWebInDays",
        30,
    )
    now = now_ms()
    agent = ctx.request.headers.get("User-Agent", "")
    session = {
        "id": new_id(),
        "token": new_id(),
        "create_at": now,
        "expires_at": now + int(days) * _DAY_MS,
        "last_activity_at": now,
        "user_id": user["id"],
        "device_id": device_id,
        "roles": user["roles"],
        "is_oauth": is_oauth,
        "props": {"browser": _browser(agent), "os": "", "platform": ""},
        "team_members": None,
    }
    with ctx.store.transaction():
        if device_id:
            for old in ctx.store.find("sessions", user_id=user["id"]):
                if old.get("device_id") == device_id:
                    ctx.store.delete("sessions", old["id"])
        ctx.store.insert("sessions", session["id"], session)
    return session


def _browser(agent: str) -> str:
    for name in ("Chrome", "Firefox", "Safari", "Edge"):
        if name in agent:
            return name
    return "Unknown"


def revoke_session(store: Store, session_id: str) -> bool:
    return store.delete("sessions", session_id)


def revoke_all_sessions(store: Store, user_id: str) -> int:
    return store.delete_where("sessions", user_id=user_id)


def default_locale(ctx: Context) -> str:
    return ctx.config.get("LocalizationSettings.DefaultClientLocale", "en") or "en"


def update_password(ctx: Context, user: dict[str, Any], new_password: str) -> dict[str, Any]:
    """Set a new password as real 4.9 does: it also ends SSO sign-in, verifies the email, clears lockout."""
    validate_password(new_password, min_password_length(ctx))
    now = now_ms()
    user = dict(user)
    user.update(
        password=hash_password(new_password, ctx.server.options.bcrypt_cost),
        last_password_update=now,
        update_at=now,
        auth_data="",
        auth_service="",
        email_verified=True,
    )
    user.pop("failed_attempts", None)
    ctx.store.put("users", user["id"], user)
    return user


def find_for_login(ctx: Context, login_id: str) -> dict[str, Any]:
    """The one user a login id names, by username or email as the settings allow."""
    store = ctx.store
    found: dict[str, dict[str, Any]] = {}
    lowered = login_id.lower() if login_id else ""
    if lowered and ctx.config.get("EmailSettings.EnableSignInWithUsername", True):
        user = store.find_one("users", username=lowered)
        if user:
            found[user["id"]] = user
    if lowered and ctx.config.get("EmailSettings.EnableSignInWithEmail", True):
        user = store.find_one("users", email=lowered)
        if user:
            found[user["id"]] = user
    if not found:
        raise AppError("store.sql_user.get_for_login.app_error", 400)
    if len(found) > 1:
        raise AppError("store.sql_user.get_for_login.multiple_users", 400)
    return next(iter(found.values()))


def authenticate(ctx: Context, user: dict[str, Any], password: str) -> None:
    """The login checks after the user is found, in the real order (reference §7)."""
    if user.get("auth_service"):
        raise AppError(
            "api.user.login.use_auth_service.app_error", 400, f"Please sign in using {user['auth_service']}"
        )
    if user.get("delete_at"):
        raise AppError("api.user.login.inactive.app_error", 401)
    attempts = int(user.get("failed_attempts") or 0)
    if attempts >= int(ctx.config.get("ServiceSettings.MaximumLoginAttempts", 10) or 10):
        raise AppError("api.user.check_user_login_attempts.too_many.app_error", 401)
    if not check_password(user.get("password") or "", password):
        user["failed_attempts"] = attempts + 1
        ctx.store.put("users", user["id"], user)
        raise AppError("api.user.check_user_password.invalid.app_error", 401)
    if attempts:
        user.pop("failed_attempts", None)
        ctx.store.put("users", user["id"], user)


def require_string(props: dict[str, str], key: str, param: str | None = None) -> str:
    value = props.get(key, "")
    if not value:
        raise invalid_param(param or key)
    return value
