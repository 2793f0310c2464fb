"""users: accounts, login and sessions, profile edits, passwords, pictures, roles, MFA and claims.

User lists, search and autocomplete are in `user_lists.py`; statuses in `status.py`.
"""

from __future__ import annotations

import secrets
from typing import Any

from mmv3.server import accounts, audits, events, profile_images, sanitize
from mmv3.server.clientconfig import client_config
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.ids import is_valid_id, now_ms
from mmv3.server.routes import route

_DAY_S = 86400
_RESET_TOKEN_TYPE = "password_recovery"
_RESET_TOKEN_SIZE = 64
_RESET_EXPIRY_MS = 3600 * 1000
_TOKEN_ALPHABET = "abcdefghijkmnopqrstuvwxyz0123456789"
# The roles a 4.9 server knows; update_roles with any other name is refused.
KNOWN_ROLES = frozenset(
    (
        "system_user", "system_admin", "system_post_all", "system_post_all_public", "system_user_access_token",
        "team_user", "team_admin", "team_post_all", "team_post_all_public", "channel_user", "channel_admin",
    )
)  # fmt: skip
# User fields users/update takes from the body; everything else keeps its stored value.
_EDITABLE_STRINGS = ("username", "email", "nickname", "first_name", "last_name", "position", "locale")
_EDITABLE = (*_EDITABLE_STRINGS, "timezone", "props", "notify_props", "allow_marketing", "email_verified")
_STRING_FIELDS = ("id", "password", "auth_service", "roles", *_EDITABLE_STRINGS)
_INT_FIELDS = ("create_at", "update_at", "delete_at", "last_password_update", "last_picture_update")
_BOOL_FIELDS = ("allow_marketing", "email_verified", "mfa_active")


# -- shared helpers -------------------------------------------------------------------------
def _go_bool(value: Any) -> str:
    return "true" if value else "false"


def privacy_etag_suffix(ctx: Context) -> str:
    return (
        f"{_go_bool(ctx.config.get('PrivacySettings.ShowFullName', True))}."
        f"{_go_bool(ctx.config.get('PrivacySettings.ShowEmailAddress', True))}"
    )


def user_etag(ctx: Context, user: dict[str, Any]) -> str:
    return f"{ctx.server.options.version}.{user['id']}.{user.get('update_at', 0)}.{privacy_etag_suffix(ctx)}"


def get_user(ctx: Context, user_id: str, *, status: int = 404) -> dict[str, Any]:
    user = ctx.store.get("users", user_id) if user_id else None
    if user is None:
        raise AppError("store.sql_user.missing_account.const", status)
    return user


def may_edit_user(ctx: Context, user_id: str) -> bool:
    """Real `SessionHasPermissionToUser`: oneself, or edit_other_users (system admins)."""
    if not user_id:
        return False
    return user_id == ctx.user_id or ctx.has_system("edit_other_users")


def _team_members_of(ctx: Context, user_id: str) -> list[dict[str, Any]]:
    return ctx.store.find("team_members", user_id=user_id)


def _save_user(ctx: Context, user: dict[str, Any], **changes: Any) -> dict[str, Any]:
    user = {**user, **changes, "update_at": now_ms()}
    ctx.store.put("users", user["id"], user)
    return user


# -- accounts -------------------------------------------------------------------------------
@route("POST", "/api/v3/users/create")
def create(ctx: Context) -> dict:
    body = ctx.model("user")
    config = ctx.config
    if not config.get("EmailSettings.EnableSignUpWithEmail", True) or not config.get(
        "TeamSettings.EnableUserCreation", True
    ):
        raise AppError("api.user.create_user.signup_email_disabled.app_error", 501)
    invite_id = ctx.request.args.get("iid", "")
    team = None
    if invite_id:
        team = ctx.store.find_one("teams", invite_id=invite_id)
        if team is None:
            raise AppError("store.sql_team.get_by_invite_id.find.app_error", 400)
    elif not config.get("TeamSettings.EnableOpenServer") and ctx.store.count("users") > 0:
        raise AppError("api.user.create_user.no_open_server", 403)
    user = accounts.create_user(ctx, body)
    if team is not None:
        from mmv3.server.memberships import join_team

        join_team(ctx, team, user)
    events.new_user(ctx, user["id"])
    return sanitize.user_basic(ctx, user)


@route("POST", "/api/v3/users/login")
def login(ctx: Context) -> Reply | dict:
    props = ctx.props()
    user_id, login_id = props.get("id", ""), props.get("login_id", "")
    audits.record(ctx, f"attempt - user_id={user_id} login_id={login_id}")
    try:
        password = props.get("password", "")
        if not password:
            raise AppError("api.user.login.blank_pwd.app_error", 400)
        if user_id:
            user = ctx.store.get("users", user_id)
            if user is None:
                raise AppError("store.sql_user.missing_account.const", 400)
        else:
            user = accounts.find_for_login(ctx, login_id)
        shown = dict(user)  # real 4.9 answers with the user as read, before clearing failed attempts
        accounts.authenticate(ctx, user, password)
    except AppError:
        audits.record(ctx, f"failure - user_id={user_id} login_id={login_id}")
        raise
    audits.record(ctx, "success", user_id=user["id"])
    device_id = props.get("device_id", "")
    session = accounts.new_session(ctx, user, device_id=device_id)
    if not ctx.fault("headers-no-login-token"):
        ctx.set_header("Token", session["token"])
    days = ctx.config.get(
        "ServiceSettings.SessionLengthMobileInDays"
        if device_id
        else "ServiceSettings.SessionLengthWebInDays",
        30,
    )
    max_age = int(days) * _DAY_S
    ctx.set_cookie(
        "MMAUTHTOKEN", session["token"], max_age, http_only=not ctx.fault("headers-cookie-not-httponly")
    )
    ctx.set_cookie("MMUSERID", user["id"], max_age, http_only=False)
    return sanitize.user_basic(ctx, shown)


@route("POST", "/api/v3/users/logout")
def logout(ctx: Context) -> dict:
    user_id = ctx.user_id
    audits.record(ctx)
    ctx.clear_auth_cookies()
    if ctx.session is not None and ctx.session.get("id") and not ctx.fault("auth-revoked-token-accepted"):
        accounts.revoke_session(ctx.store, ctx.session["id"])
    return {"user_id": user_id}


@route("GET", "/api/v3/users/me")
def me(ctx: Context) -> dict:
    user = ctx.user
    if user is None:
        raise invalid_param("user")
    ctx.etag = user_etag(ctx, user)
    return sanitize.user_basic(ctx, user)


@route("GET", "/api/v3/users/initial_load")
def initial_load(ctx: Context) -> dict:
    load: dict[str, Any] = {"user": None, "team_members": None, "teams": None, "preferences": None}
    if ctx.user is not None:
        members = _team_members_of(ctx, ctx.user_id)
        active = [m["team_id"] for m in members if not m.get("delete_at")]
        teams = [t for t in ctx.store.find("teams", key=active) if not t.get("delete_at")]
        load.update(
            user=sanitize.user_basic(ctx, ctx.user),
            team_members=members,
            teams=[sanitize.team_blanked(ctx, t) for t in teams],
            preferences=ctx.store.find("preferences", user_id=ctx.user_id),
        )
    load["client_cfg"] = client_config(ctx.server)
    load["license_cfg"] = {"IsLicensed": "false"}  # an unlicensed server, for admins and others alike
    load["no_accounts"] = ctx.store.count("users") == 0
    return load


# -- single users ---------------------------------------------------------------------------
def _profile(ctx: Context, user: dict[str, Any]) -> dict:
    ctx.etag = user_etag(ctx, user)
    return sanitize.user_profile(ctx, user)


@route("GET", "/api/v3/users/{user_id}/get")
def get_by_id(ctx: Context) -> dict:
    return _profile(ctx, get_user(ctx, ctx.params["user_id"]))


@route("GET", "/api/v3/users/name/{username}")
def get_by_username(ctx: Context) -> dict:
    user = ctx.store.find_one("users", username=ctx.params["username"])
    if user is None:
        raise AppError("store.sql_user.get_by_username.app_error", 404)
    return _profile(ctx, user)


@route("GET", "/api/v3/users/email/{email}")
def get_by_email(ctx: Context) -> dict:
    user = ctx.store.find_one("users", email=ctx.params["email"].lower())
    if user is None:
        raise AppError("store.sql_user.missing_account.const", 404)
    return _profile(ctx, user)


# -- profile edits --------------------------------------------------------------------------
def _check_user_body(body: dict[str, Any]) -> None:
    """Go decodes the whole User or nothing: a wrongly typed known field is a malformed body."""
    for key in _STRING_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], str):
            raise invalid_param("user")
    for key in _INT_FIELDS:
        value = body.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise invalid_param("user")
    for key in _BOOL_FIELDS:
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise invalid_param("user")
    for key in ("props", "notify_props", "timezone"):
        value = body.get(key)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            raise invalid_param("user")


def _mention_keys_after_rename(notify_props: dict[str, str], old: str, new: str) -> dict[str, str]:
    keys = [k for k in notify_props.get("mention_keys", "").split(",") if k and k not in (old, "@" + old)]
    return {**notify_props, "mention_keys": ",".join([new, "@" + new, *keys])}


@route("POST", "/api/v3/users/update")
def update(ctx: Context) -> dict:
    body = ctx.model("user")
    _check_user_body(body)
    user_id = body.get("id") or ""
    if not may_edit_user(ctx, user_id):
        raise forbidden()
    # The whole object replaces the editable fields (absent ones become empty, as Go's decoder leaves them).
    edits: dict[str, Any] = {key: body.get(key) or "" for key in _EDITABLE_STRINGS}
    edits["username"] = edits["username"].lower()
    edits["email"] = edits["email"].lower()
    if not is_valid_id(user_id):
        raise AppError("model.user.is_valid.id.app_error", 400)
    if not body.get("create_at"):
        raise AppError("model.user.is_valid.create_at.app_error", 400)
    accounts.validate_user(edits, check_password_rules=False)
    with ctx.store.transaction():
        old = ctx.store.get("users", user_id)
        if old is None:
            raise AppError("store.sql_user.update.find.app_error", 400)
        if edits["email"] != old["email"] and not accounts.email_domain_allowed(ctx, edits["email"]):
            raise AppError("api.user.create_user.accepted_domain.app_error", 400)
        for field, error in (("username", "username_taken"), ("email", "email_taken")):
            other = ctx.store.find_one("users", **{field: edits[field]})
            if other is not None and other["id"] != user_id:
                raise AppError(f"store.sql_user.update.{error}.app_error", 400)
        user = {k: v for k, v in old.items() if k not in _EDITABLE}
        user.update(edits)
        user["timezone"] = body.get("timezone") or old.get("timezone") or accounts.default_timezone()
        user["notify_props"] = body.get("notify_props") or accounts.default_notify_props(edits["username"])
        if edits["username"] != old["username"]:
            user["notify_props"] = _mention_keys_after_rename(
                user["notify_props"], old["username"], edits["username"]
            )
        if body.get("props"):
            user["props"] = body["props"]
        if body.get("allow_marketing"):
            user["allow_marketing"] = True
        if edits["email"] == old["email"] and old.get("email_verified"):
            user["email_verified"] = True
        user = _save_user(ctx, user)
    audits.record(ctx)
    return sanitize.user_basic(ctx, user)


@route("POST", "/api/v3/users/update_active")
def update_active(ctx: Context) -> dict:
    props = ctx.props()
    user_id = props.get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    active = props.get("active") == "true"
    self_deactivation = not active and user_id == ctx.user_id
    if not self_deactivation and not ctx.has_system("manage_system"):
        raise AppError("api.user.update_active.permissions.app_error", 403)
    user = get_user(ctx, user_id)
    now = now_ms()
    user = {**user, "delete_at": 0 if active else now, "update_at": now}
    ctx.store.put("users", user_id, user)
    if not active:
        accounts.revoke_all_sessions(ctx.store, user_id)
        ctx.server.set_status(user_id, "offline", manual=False)
    audits.record(ctx, f"active={_go_bool(active)}", user_id=user_id)
    return sanitize.user_privacy(ctx, user)


@route("POST", "/api/v3/users/update_notify")
def update_notify(ctx: Context) -> dict:
    props = ctx.props()
    user_id = props.pop("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    if not may_edit_user(ctx, user_id):
        raise forbidden()
    for key in ("email", "desktop_sound", "desktop", "comments"):
        if not props.get(key):
            raise invalid_param(key)
    user = _save_user(ctx, get_user(ctx, user_id), notify_props=props)
    audits.record(ctx, "", user_id=user_id)
    return sanitize.user_privacy(ctx, user)


@route("POST", "/api/v3/users/newpassword")
def new_password(ctx: Context) -> dict:
    audits.record(ctx, "attempted")
    props = ctx.props()
    user_id = props.get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    current = props.get("current_password", "")
    if not current:
        raise invalid_param("current_password")
    if user_id != ctx.user_id:
        raise AppError("api.user.update_password.context.app_error", 403)
    try:
        user = get_user(ctx, user_id)
        if user.get("auth_data"):
            raise AppError("api.user.update_password.oauth.app_error", 400)
        try:
            accounts.authenticate(ctx, user, current)
        except AppError as err:
            if err.id == "api.user.check_user_password.invalid.app_error":
                raise AppError("api.user.update_password.incorrect.app_error", 400) from None
            raise
        accounts.update_password(ctx, ctx.store.get("users", user_id) or user, props.get("new_password", ""))
    except AppError:
        audits.record(ctx, "failed")
        raise
    audits.record(ctx, "completed")
    return {"user_id": user_id}


@route("POST", "/api/v3/users/send_password_reset")
def send_password_reset(ctx: Context) -> dict:
    props = ctx.props()
    email = props.get("email", "")
    if not email:
        raise invalid_param("email")
    user = ctx.store.find_one("users", email=email.lower())
    if user is not None:
        if user.get("auth_data"):
            raise AppError("api.user.send_password_reset.sso.app_error", 400)
        token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(_RESET_TOKEN_SIZE))
        ctx.store.insert(
            "tokens",
            token,
            {"token": token, "create_at": now_ms(), "type": _RESET_TOKEN_TYPE, "extra": user["id"]},
        )
        # No mail is sent: the reference server has no SMTP (real 4.9 without SMTP answers the same).
        audits.record(ctx, f"sent={email}")
    return props


@route("POST", "/api/v3/users/reset_password")
def reset_password(ctx: Context) -> dict:
    props = ctx.props()
    code = props.get("code", "")
    if len(code) != _RESET_TOKEN_SIZE:
        raise invalid_param("code")
    audits.record(ctx, "attempt")  # real 4.9 logs the code too; a reset code is a secret
    try:
        token = ctx.store.get("tokens", code)
        if token is None:
            raise AppError("api.user.reset_password.invalid_link.app_error", 400)
        if token.get("type") != _RESET_TOKEN_TYPE:
            raise AppError("api.user.reset_password.broken_token.app_error", 400)
        if now_ms() - int(token.get("create_at", 0)) >= _RESET_EXPIRY_MS:
            raise AppError("api.user.reset_password.link_expired.app_error", 400)
        user = get_user(ctx, token.get("extra", ""))
        if user.get("auth_service") not in ("", None, "ldap"):
            raise AppError("api.user.reset_password.sso.app_error", 400)
        accounts.update_password(ctx, user, props.get("new_password", ""))
        ctx.store.delete("tokens", code)
    except AppError:
        audits.record(ctx, "fail")
        raise
    audits.record(ctx, "success")
    return {"status": "ok"}


# -- sessions and audits --------------------------------------------------------------------
@route("POST", "/api/v3/users/revoke_session")
def revoke_session(ctx: Context) -> dict:
    props = ctx.props()
    session_id = props.get("id", "")
    session = None
    if session_id:
        session = ctx.store.get("sessions", session_id) or ctx.store.find_one("sessions", token=session_id)
    if session is None:
        raise AppError("store.sql_session.get.app_error", 400)
    # Real 4.9 has no ownership check here (any user could end anyone's session); this is what it meant.
    if not may_edit_user(ctx, session["user_id"]):
        raise forbidden()
    accounts.revoke_session(ctx.store, session["id"])
    return props


@route("POST", "/api/v3/users/attach_device")
def attach_device(ctx: Context) -> dict:
    props = ctx.props()
    device_id = props.get("device_id", "")
    if not device_id:
        raise invalid_param("deviceId")
    session = ctx.session or {}
    days = int(ctx.config.get("ServiceSettings.SessionLengthMobileInDays", 30) or 30)
    with ctx.store.transaction():
        for other in ctx.store.find("sessions", user_id=ctx.user_id):
            if other.get("device_id") == device_id and other["id"] != session.get("id"):
                accounts.revoke_session(ctx.store, other["id"])
        if session.get("id"):
            session.update(device_id=device_id, expires_at=now_ms() + days * _DAY_S * 1000)
            ctx.store.put("sessions", session["id"], session)
    ctx.set_cookie(
        "MMAUTHTOKEN",
        session.get("token", ""),
        days * _DAY_S,
        http_only=not ctx.fault("headers-cookie-not-httponly"),
    )
    return props


@route("GET", "/api/v3/users/{user_id}/sessions")
def sessions(ctx: Context) -> list:
    user_id = ctx.params["user_id"]
    if not may_edit_user(ctx, user_id):
        raise forbidden()
    members = _team_members_of(ctx, user_id)
    found = ctx.store.find("sessions", user_id=user_id)
    found.sort(key=lambda s: s.get("last_activity_at", 0), reverse=True)
    return [sanitize.session_listed(ctx, {**s, "team_members": members}) for s in found]


@route("GET", "/api/v3/users/{user_id}/audits")
def user_audits(ctx: Context) -> list:
    user_id = ctx.params["user_id"]
    if not may_edit_user(ctx, user_id):
        raise forbidden()
    rows = audits.for_user(ctx, user_id)
    if rows:
        ctx.etag = f"{ctx.server.options.version}.{rows[0]['create_at']}"
    return rows


# -- pictures -------------------------------------------------------------------------------
@route("GET", "/api/v3/users/{user_id}/image")
def image(ctx: Context) -> Reply:
    user = ctx.store.get("users", ctx.params["user_id"])
    if user is None:
        raise AppError("store.sql_user.get_profiles.app_error", 500)
    etag = str(user.get("last_picture_update") or 0)
    if ctx.request.headers.get("If-None-Match") == etag and not ctx.fault("headers-etag-ignored"):
        return Reply(304, b"", "application/json", [("Etag", etag)])
    data, read_failed = profile_images.read(ctx, user)
    if read_failed:  # the generated default: cached briefly, no Etag
        return Reply(200, data, "image/png", [("Cache-Control", "max-age=300, public")])
    ctx.etag = etag
    return Reply(200, data, "image/png", [("Cache-Control", "max-age=86400, public")])


@route("POST", "/api/v3/users/newimage")
def new_image(ctx: Context) -> Any:
    if not ctx.config.get("FileSettings.DriverName", "local"):
        raise AppError("api.user.upload_profile_user.storage.app_error", 501)
    max_size = int(ctx.config.get("FileSettings.MaxFileSize", 52428800) or 52428800)
    if (ctx.request.content_length or 0) > max_size:
        raise AppError("api.user.upload_profile_user.too_large.app_error", 413)
    if ctx.request.mimetype != "multipart/form-data":
        raise AppError("api.user.upload_profile_user.parse.app_error", 400)
    upload = ctx.request.files.get("image")
    if upload is None:
        raise AppError("api.user.upload_profile_user.no_file.app_error", 400)
    png = profile_images.normalise_upload(upload.read())
    profile_images.store(ctx, ctx.user_id, png)
    now = now_ms()
    user = get_user(ctx, ctx.user_id)
    ctx.store.put("users", user["id"], {**user, "last_picture_update": now, "update_at": now})
    audits.record(ctx)
    return True


# -- roles ----------------------------------------------------------------------------------
def _valid_user_roles(roles: str) -> bool:
    names = roles.split()
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789_")
    if any(not 0 < len(n) <= 64 or not set(n) <= allowed for n in names):
        return False
    return names != ["system_admin"]  # a lone system_admin is refused as a likely mistake


@route("POST", "/api/v3/users/{user_id}/update_roles")
def update_roles(ctx: Context) -> dict:
    props = ctx.props()
    user_id = ctx.params["user_id"]
    if len(user_id) != 26:
        raise invalid_param("user_id")
    roles = props.get("new_roles", "")
    if not _valid_user_roles(roles):
        raise invalid_param("new_roles")
    if not ctx.has_system("manage_roles"):
        raise forbidden()
    # Real 4.9 swallows the next two errors into an empty 200; they are answered as 4.9 meant.
    user = get_user(ctx, user_id, status=400)
    if any(name not in KNOWN_ROLES for name in roles.split()):
        raise AppError("app.role.check_roles_exist.role_not_found", 400)
    with ctx.store.transaction():
        _save_user(ctx, user, roles=roles)
        for session in ctx.store.find("sessions", user_id=user_id):
            ctx.store.put("sessions", session["id"], {**session, "roles": roles})
    audits.record(ctx, f"roles={roles}", user_id=user_id)
    return {"status": "ok"}


# -- MFA (not available: an unlicensed server) ----------------------------------------------
@route("POST", "/api/v3/users/mfa")
def check_mfa(ctx: Context) -> dict:
    return {"mfa_required": "false"}


@route("GET", "/api/v3/users/generate_mfa_secret")
def generate_mfa_secret(ctx: Context) -> dict:
    raise AppError("api.user.generate_mfa_qr.not_available.app_error", 501)


@route("POST", "/api/v3/users/update_mfa")
def update_mfa(ctx: Context) -> dict:
    body, ok = ctx.raw_json()
    props = body if ok and isinstance(body, dict) else {}
    activate = props.get("activate")
    if not isinstance(activate, bool):
        raise invalid_param("activate")
    if activate:
        token = props.get("token")
        # A non-string token made real 4.9 panic (empty 500); the invalid-parameter answer is what it meant.
        if not isinstance(token, str) or not token:
            raise invalid_param("token")
    audits.record(ctx, "attempt")
    raise AppError("api.user.update_mfa.not_available.app_error", 501)


# -- sign-in method claims (no OAuth/LDAP providers configured) ------------------------------
def _required(props: dict[str, str], *keys: str) -> None:
    for key in keys:
        if not props.get(key):
            raise invalid_param(key)


def _user_by_email(ctx: Context, email: str) -> dict[str, Any]:
    user = ctx.store.find_one("users", email=email.lower())
    if user is None:
        raise AppError("store.sql_user.missing_account.const", 404)
    return user


@route("POST", "/api/v3/users/claim/email_to_oauth")
def email_to_oauth(ctx: Context) -> dict:
    props = ctx.props()
    _required(props, "password", "service", "email")
    user = _user_by_email(ctx, props["email"])
    accounts.authenticate(ctx, user, props["password"])
    raise AppError("api.user.get_authorization_code.unsupported.app_error", 501)


@route("POST", "/api/v3/users/claim/oauth_to_email")
def oauth_to_email(ctx: Context) -> dict:
    props = ctx.props()
    password = props.get("password", "")
    accounts.validate_password(password, accounts.min_password_length(ctx))
    _required(props, "email")
    user = _user_by_email(ctx, props["email"])
    if user["id"] != ctx.user_id:
        raise AppError("api.user.oauth_to_email.context.app_error", 403)
    accounts.update_password(ctx, user, password)
    accounts.revoke_all_sessions(ctx.store, user["id"])
    ctx.clear_auth_cookies()
    audits.record(ctx, "success")
    return {"follow_link": "/login?extra=signin_change"}


@route("POST", "/api/v3/users/claim/email_to_ldap")
def email_to_ldap(ctx: Context) -> dict:
    props = ctx.props()
    _required(props, "email", "email_password", "ldap_id", "ldap_password")
    audits.record(ctx, "attempt")
    user = _user_by_email(ctx, props["email"])
    accounts.authenticate(ctx, user, props["email_password"])
    # Real 4.9 ends the account's sessions before it finds out that LDAP is not there.
    accounts.revoke_all_sessions(ctx.store, user["id"])
    raise AppError("api.user.email_to_ldap.not_available.app_error", 501)


@route("POST", "/api/v3/users/claim/ldap_to_email")
def ldap_to_email(ctx: Context) -> dict:
    props = ctx.props()
    _required(props, "email")
    accounts.validate_password(props.get("email_password", ""), accounts.min_password_length(ctx))
    _required(props, "ldap_password")
    audits.record(ctx, "attempt")
    user = _user_by_email(ctx, props["email"])
    if user.get("auth_service") != "ldap":
        raise AppError("api.user.ldap_to_email.not_ldap_account.app_error", 400)
    raise AppError("api.user.ldap_to_email.not_available.app_error", 501)
