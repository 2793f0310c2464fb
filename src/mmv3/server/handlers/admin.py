"""admin: the system console's routes — logs, audits, config, analytics, and the enterprise stubs.

The reference server is an unlicensed 4.9: compliance, custom branding, MFA, LDAP and SAML answer
what real 4.9 answers without a licence or the service (501/500, or `ldap_sync_now`'s plain ok).
Nothing here reaches the network: `test_email` answers as 4.9 does when it cannot connect to the
SMTP server (or success when email is off, as 4.9 sends nothing then). A saved config replaces
the in-memory settings at once and is never written to disk.
"""

from __future__ import annotations

import copy
import secrets
import time
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

from mmv3.server import accounts, audits, gojson, multipart, sanitize
from mmv3.server.config import Config
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError, invalid_param
from mmv3.server.ids import now_ms
from mmv3.server.routes import route

_ADMIN = "/api/v3/admin"
MASK = "*" * 32  # model.FAKE_SETTING
# Config.Sanitize: always masked, and masked only when set.
_ALWAYS_MASKED = (
    ("SqlSettings", "DataSource"), ("SqlSettings", "AtRestEncryptKey"), ("FileSettings", "PublicLinkSalt"),
    ("EmailSettings", "InviteSalt"), ("ElasticsearchSettings", "Password"),
)  # fmt: skip
_MASKED_WHEN_SET = (
    ("LdapSettings", "BindPassword"), ("FileSettings", "AmazonS3SecretAccessKey"),
    ("EmailSettings", "SMTPPassword"), ("GitLabSettings", "Secret"),
)  # fmt: skip
_GENERATED = (
    ("SqlSettings", "AtRestEncryptKey"),
    ("FileSettings", "PublicLinkSalt"),
    ("EmailSettings", "InviteSalt"),
)
_MASKED_LISTS = (("SqlSettings", "DataSourceReplicas"), ("SqlSettings", "DataSourceSearchReplicas"))
_NO_CACHE = ("Cache-Control", "no-cache, no-store, must-revalidate")
_AUDIT_LIMIT = 200
_DAY_MS = 24 * 3600 * 1000
_MONTH_MS = 31 * _DAY_MS
_RECENT_LIMIT = 100
_COMPLIANCE_FIELDS = {
    "id": gojson.STR, "create_at": gojson.INT, "user_id": gojson.STR, "status": gojson.STR,
    "count": gojson.INT, "desc": gojson.STR, "type": gojson.STR, "start_at": gojson.INT,
    "end_at": gojson.INT, "keywords": gojson.STR, "emails": gojson.STR,
}  # fmt: skip


def _ok(*headers: tuple[str, str]) -> Reply:
    return Reply(200, b'{"status":"OK"}', "application/json", list(headers))


# -- logs, audits, caches -----------------------------------------------------------------------
@route("GET", _ADMIN + "/logs")
def logs(ctx: Context) -> list:
    return ctx.server.log.file_chunks()


@route("GET", _ADMIN + "/audits")
def all_audits(ctx: Context) -> list:
    found = ctx.store.find("audits", order_by="-create_at", limit=_AUDIT_LIMIT)
    if found:  # Audits.Etag: the newest row's time; no rows, no Etag
        ctx.etag = f"{ctx.server.options.version}.{found[0]['create_at']}"
    return found


@route("GET", _ADMIN + "/reload_config")
def reload_config(ctx: Context) -> Reply:
    # The in-memory settings are the reference server's config file: there is nothing to re-read.
    return _ok(_NO_CACHE)


@route("GET", _ADMIN + "/invalidate_all_caches")
def invalidate_all_caches(ctx: Context) -> Reply:
    return _ok(_NO_CACHE)


@route("GET", _ADMIN + "/recycle_db_conn")
def recycle_db_conn(ctx: Context) -> Reply:
    return _ok(_NO_CACHE)


@route("GET", _ADMIN + "/cluster_status")
def cluster_status(ctx: Context) -> list:
    return []  # not clustered: no ClusterInfo and no X-Cluster-Id


# -- the config ---------------------------------------------------------------------------------
def masked(config: dict[str, Any]) -> dict[str, Any]:
    """Config.Sanitize: secrets replaced by 32 asterisks where 4.9 replaces them."""
    out = copy.deepcopy(config)
    for section, key in _ALWAYS_MASKED:
        if isinstance(out.get(section), dict):
            out[section][key] = MASK
    for section, key in _MASKED_WHEN_SET:
        if isinstance(out.get(section), dict) and out[section].get(key):
            out[section][key] = MASK
    for section, key in _MASKED_LISTS:
        if isinstance(out.get(section), dict) and isinstance(out[section].get(key), list):
            out[section][key] = [MASK for _ in out[section][key]]
    return out


def _fits(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict)


def _filled(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Go decoding into the Config struct, then SetDefaults: known keys of the right JSON type are
    taken, missing or null ones get the default, unknown keys are dropped; a wrong type fails."""
    out: dict[str, Any] = {}
    for key, default in defaults.items():
        value = given.get(key)
        if value is None:
            out[key] = copy.deepcopy(default)
        elif not _fits(default, value):
            raise invalid_param("config")
        elif isinstance(default, dict) and default:
            out[key] = _filled(default, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def decode_config(ctx: Context) -> dict[str, Any]:
    """ConfigFromJson with SetDefaults: 400 `Invalid config parameter` for anything Go cannot decode;
    empty keys and salts get fresh random values, as SetDefaults generates them."""
    raw, ok = ctx.raw_json()
    if not ok or not isinstance(raw, dict):
        raise invalid_param("config")
    cfg = _filled(Config().snapshot(), raw)
    for section, key in _GENERATED:
        if not cfg[section][key]:
            cfg[section][key] = secrets.token_hex(16)
    return cfg


def _config_error(field: str, message: str | None = None) -> AppError:
    return AppError(f"model.config.is_valid.{field}.app_error", 400, message)


def validate_config(cfg: dict[str, Any]) -> None:
    """Config.IsValid, for the settings the reference server acts on (in 4.9's order)."""
    team, files_, rate = cfg["TeamSettings"], cfg["FileSettings"], cfg["RateLimitSettings"]
    service, password = cfg["ServiceSettings"], cfg["PasswordSettings"]
    if team["MaxUsersPerTeam"] <= 0:
        raise _config_error("max_users")
    if team["MaxChannelsPerTeam"] <= 0:
        raise _config_error("max_channels")
    if files_["MaxFileSize"] <= 0:
        raise _config_error("max_file_size")
    if files_["DriverName"] not in ("local", "amazons3"):
        raise _config_error("file_driver")
    if not 5 <= password["MinimumLength"] <= 64:
        raise _config_error(
            "password_length",
            "Minimum password length must be a whole number greater than or equal to 5 and less than or equal to 64.",
        )
    if rate["MemoryStoreSize"] <= 0:
        raise _config_error("rate_mem")
    if rate["PerSec"] <= 0:
        raise _config_error("rate_sec")
    if rate["MaxBurst"] <= 0:
        raise _config_error("max_burst")
    if service["MaximumLoginAttempts"] <= 0:
        raise _config_error("login_attempts")
    if not service["ListenAddress"]:
        raise _config_error("listen_address")


@route("GET", _ADMIN + "/config")
def get_config(ctx: Context) -> Reply:
    reply = Reply.json(masked(ctx.config.snapshot()))
    reply.headers.append(_NO_CACHE)
    return reply


@route("POST", _ADMIN + "/save_config")
def save_config(ctx: Context) -> dict:
    cfg = decode_config(ctx)
    # Plugin uploads cannot be switched through the API.
    cfg["PluginSettings"]["EnableUploads"] = ctx.config.get("PluginSettings.EnableUploads", False)
    validate_config(cfg)
    for section, key in _MASKED_LISTS:  # Desanitize: a masked replica keeps its stored value
        current = ctx.config.get(f"{section}.{key}") or []
        given = cfg[section][key]
        cfg[section][key] = [current[i] if v == MASK and i < len(current) else v for i, v in enumerate(given)]
    ctx.config.replace(cfg)  # takes effect with the next request; a masked secret keeps its value
    ctx.server.log.info("The config was saved through the API")
    audits.record(ctx, "")
    return {"status": "OK"}


@route("POST", _ADMIN + "/test_email")
def test_email(ctx: Context) -> dict:
    email = decode_config(ctx)["EmailSettings"]
    if not email["SMTPServer"]:
        raise AppError("api.admin.test_email.missing_server", 400)
    if email["SMTPPassword"] == MASK:
        current = {
            key: ctx.config.get(f"EmailSettings.{key}") for key in ("SMTPServer", "SMTPPort", "SMTPUsername")
        }
        if any(email[key] != value for key, value in current.items()):
            raise AppError("api.admin.test_email.reenter_password", 400)
    if email["SendEmailNotifications"]:
        # 4.9 would dial SMTPServer:SMTPPort now; the reference server never connects anywhere and
        # answers as 4.9 does when that connection fails.
        if email["ConnectionSecurity"] == "TLS":
            raise AppError("utils.mail.connect_smtp.open_tls.app_error", 500)
        raise AppError("utils.mail.connect_smtp.open.app_error", 500)
    return {"SUCCESS": "true"}  # with email off 4.9 sends nothing and reports success


# -- analytics ----------------------------------------------------------------------------------
def _team_channel_ids(ctx: Context, team_id: str) -> list[str] | None:
    return [c["id"] for c in ctx.store.find("channels", team_id=team_id)] if team_id else None


def _posts(ctx: Context, team_id: str) -> list[dict[str, Any]]:
    ids = _team_channel_ids(ctx, team_id)
    return ctx.store.find("posts", channel_id=ids) if ids is not None else ctx.store.find("posts")


def _post_count(ctx: Context, team_id: str) -> int:
    ids = _team_channel_ids(ctx, team_id)
    return ctx.store.count("posts", channel_id=ids) if ids is not None else ctx.store.count("posts")


def _unique_users(ctx: Context, team_id: str) -> int:
    if team_id:
        members = [
            m["user_id"] for m in ctx.store.find("team_members", team_id=team_id) if not m.get("delete_at")
        ]
        users = ctx.store.find("users", key=members) if members else []
    else:
        users = ctx.store.find("users")
    return len({u["email"] for u in users if not u.get("delete_at")})


def _active_users(ctx: Context, period_ms: int) -> int:
    since = now_ms() - period_ms
    return sum(1 for s in ctx.store.find("statuses") if s.get("last_activity_at", 0) > since)


def _count_live(ctx: Context, table: str, team_id: str) -> int:
    found = ctx.store.find(table, team_id=team_id) if team_id else ctx.store.find(table)
    return sum(1 for doc in found if not doc.get("delete_at"))


def _rows(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _per_day(ctx: Context, team_id: str, *, distinct_users: bool) -> list[dict[str, Any]]:
    """AnalyticsPostCountsByDay / …UserCountsWithPostsByDay: the 31 days before today (UTC), newest
    day first, at most 30 rows; today's posts are not counted yet."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = int((today - timedelta(days=32)).timestamp() * 1000)
    end = int(today.timestamp() * 1000) - 1
    authors: dict[str, list[str]] = {}  # day -> the user of each post that day
    for post in _posts(ctx, team_id):
        if start <= post["create_at"] <= end:
            day = time.strftime("%Y-%m-%d", time.gmtime(post["create_at"] / 1000))
            authors.setdefault(day, []).append(post["user_id"])
    newest = sorted(authors.items(), reverse=True)[:30]
    return _rows(*((day, len(set(users)) if distinct_users else len(users)) for day, users in newest))


def analytics(ctx: Context, name: str, team_id: str) -> list[dict[str, Any]]:
    system_users = _unique_users(ctx, "")
    skip_intensive = system_users > int(
        ctx.config.get("AnalyticsSettings.MaxUsersForStatistics", 2500) or 2500
    )
    if name == "standard":
        channels_found = (
            ctx.store.find("channels", team_id=team_id) if team_id else ctx.store.find("channels")
        )
        return _rows(
            ("channel_open_count", sum(1 for c in channels_found if c["type"] == "O")),
            ("channel_private_count", sum(1 for c in channels_found if c["type"] == "P")),
            ("post_count", -1 if skip_intensive else _post_count(ctx, team_id)),
            ("unique_user_count", _unique_users(ctx, team_id) if team_id else system_users),
            ("team_count", sum(1 for t in ctx.store.find("teams") if not t.get("delete_at"))),
            ("total_websocket_connections", 0),
            ("total_master_db_connections", 1),  # one SQLite connection serves every request
            ("total_read_db_connections", 0),
            ("daily_active_users", _active_users(ctx, _DAY_MS)),
            ("monthly_active_users", _active_users(ctx, _MONTH_MS)),
        )
    if name in ("post_counts_day", "user_counts_with_posts_day"):
        if skip_intensive:
            return _rows(("", -1))
        return _per_day(ctx, team_id, distinct_users=name == "user_counts_with_posts_day")
    if name == "extra_counts":
        posts = [] if skip_intensive else _posts(ctx, team_id)
        now = now_ms()
        return _rows(
            ("file_post_count", -1 if skip_intensive else sum(1 for p in posts if p.get("file_ids"))),
            ("hashtag_post_count", -1 if skip_intensive else sum(1 for p in posts if p.get("hashtags"))),
            ("incoming_webhook_count", _count_live(ctx, "incoming_webhooks", team_id)),
            ("outgoing_webhook_count", _count_live(ctx, "outgoing_webhooks", team_id)),
            ("command_count", _count_live(ctx, "commands", team_id)),
            ("session_count", sum(1 for s in ctx.store.find("sessions") if s.get("expires_at", 0) > now)),
        )
    raise invalid_param("name")


@route("GET", _ADMIN + "/analytics/{id}/{name}")
def team_analytics(ctx: Context) -> list:
    return analytics(ctx, ctx.params["name"], ctx.params["id"])


@route("GET", _ADMIN + "/analytics/{name}")
def system_analytics(ctx: Context) -> list:
    return analytics(ctx, ctx.params["name"], "")


@route("GET", _ADMIN + "/recently_active_users/{team_id}")
def recently_active_users(ctx: Context) -> dict:
    """The team's members by last activity (newest 100), as profiles with `last_activity_at`."""
    team_id = ctx.params["team_id"]
    members = {
        m["user_id"] for m in ctx.store.find("team_members", team_id=team_id) if not m.get("delete_at")
    }
    statuses = sorted(
        (s for s in ctx.store.find("statuses", user_id=list(members))),
        key=lambda s: s.get("last_activity_at", 0),
        reverse=True,
    )[:_RECENT_LIMIT]
    users = (
        {u["id"]: u for u in ctx.store.find("users", key=[s["user_id"] for s in statuses])}
        if statuses
        else {}
    )
    out = {}
    for status in statuses:
        user = users.get(status["user_id"])
        if user is not None:
            out[user["id"]] = {
                **sanitize.user_profile(ctx, user),
                "last_activity_at": status.get("last_activity_at", 0),
            }
    return dict(sorted(out.items()))  # a Go map: keys sorted


# -- enterprise features of an unlicensed server ------------------------------------------------
def _compliance_unlicensed() -> AppError:
    return AppError("ent.compliance.licence_disable.app_error", 501)


@route("POST", _ADMIN + "/save_compliance_report")
def save_compliance_report(ctx: Context) -> dict:
    raw, ok = ctx.raw_json()
    if raw is None:
        raise invalid_param("compliance")
    gojson.decode_struct(raw, ok, _COMPLIANCE_FIELDS, "compliance")
    raise _compliance_unlicensed()


@route("GET", _ADMIN + "/compliance_reports")
def compliance_reports(ctx: Context) -> list:
    raise _compliance_unlicensed()


@route("GET", _ADMIN + "/download_compliance_report/{id}")
def download_compliance_report(ctx: Context) -> Reply:
    if len(ctx.params["id"]) != 26:
        raise invalid_param("id")
    raise _compliance_unlicensed()


@route("POST", _ADMIN + "/upload_brand_image")
def upload_brand_image(ctx: Context) -> dict:
    max_size = int(ctx.config.get("FileSettings.MaxFileSize", 52428800) or 52428800)
    if (ctx.request.content_length or 0) > max_size:
        raise AppError("api.admin.upload_brand_image.too_large.app_error", 413)
    try:
        uploaded = multipart.parse(ctx.request).files
    except multipart.MultipartError:
        raise AppError("api.admin.upload_brand_image.parse.app_error", 400) from None
    if "image" not in uploaded:
        raise AppError("api.admin.upload_brand_image.no_file.app_error", 400)
    if not ctx.config.get("FileSettings.DriverName"):
        raise AppError("api.admin.upload_brand_image.storage.app_error", 501)
    raise AppError("api.admin.upload_brand_image.not_available.app_error", 501)  # branding is licensed


@route("GET", _ADMIN + "/get_brand_image")
def get_brand_image(ctx: Context) -> Reply:
    return Reply(200, b"", "application/json")  # no custom brand: 4.9 writes an empty body


@route("POST", _ADMIN + "/reset_mfa")
def reset_mfa(ctx: Context) -> dict:
    if len(ctx.props().get("user_id", "")) != 26:
        raise invalid_param("user_id")
    raise AppError("api.user.update_mfa.not_available.app_error", 501)  # MFA is licensed


@route("POST", _ADMIN + "/reset_password")
def reset_password(ctx: Context) -> dict:
    props = ctx.props()
    user_id = props.get("user_id", "")
    if len(user_id) != 26:
        raise invalid_param("user_id")
    new_password = props.get("new_password", "")
    accounts.validate_password(new_password, accounts.min_password_length(ctx))
    user = ctx.store.get("users", user_id)
    if user is None:
        raise AppError("store.sql_user.missing_account.const", 404)
    if user.get("auth_data"):
        raise AppError("api.user.update_password.oauth.app_error", 400)
    accounts.update_password(ctx, user, new_password)  # 4.9 would also email the user: no mail here
    audits.record(ctx, "")
    return {"status": "ok"}


@route("POST", _ADMIN + "/ldap_sync_now")
def ldap_sync_now(ctx: Context) -> dict:
    return {"status": "ok"}  # 4.9 answers ok even without LDAP: the sync job just does nothing


@route("POST", _ADMIN + "/ldap_test")
def ldap_test(ctx: Context) -> dict:
    raise AppError("ent.ldap.disabled.app_error", 501)


@route("GET", _ADMIN + "/saml_metadata")
def saml_metadata(ctx: Context) -> Reply:
    raise AppError("api.admin.saml.metadata.app_error", 500)  # SAML is not available: no metadata


def _config_file(filename: str) -> str:
    return f"config/{PurePosixPath(filename).name}"


@route("POST", _ADMIN + "/add_certificate")
def add_certificate(ctx: Context) -> Reply:
    try:
        uploaded = multipart.parse(ctx.request).files
    except multipart.MultipartError as exc:
        return multipart.go_http_error(str(exc))
    parts = uploaded.getlist("certificate")
    if "certificate" not in uploaded:
        raise AppError("api.admin.add_certificate.no_file.app_error", 400)
    if not parts:
        raise AppError("api.admin.add_certificate.array.app_error", 400)
    name = PurePosixPath(parts[0].filename or "").name
    if name in ("", ".", ".."):
        raise AppError("api.admin.add_certificate.saving.app_error", 400)
    ctx.server.files.write(_config_file(name), parts[0].read())  # inside the data directory only
    return _ok()


@route("POST", _ADMIN + "/remove_certificate")
def remove_certificate(ctx: Context) -> Reply:
    filename = ctx.props().get("filename", "")
    if not filename:
        raise AppError("api.admin.remove_certificate.delete.app_error", 400)
    name = PurePosixPath(filename).name
    if name in ("", ".", "..") or not ctx.server.files.delete(_config_file(name)):
        raise AppError(
            "api.admin.remove_certificate.delete.app_error",
            500,
            f"An error occurred while deleting the certificate. Make sure the file config/{name} exists.",
        )
    return _ok()


@route("GET", _ADMIN + "/saml_cert_status")
def saml_cert_status(ctx: Context) -> dict:
    def present(setting: str) -> bool:
        name = PurePosixPath(ctx.config.get(f"SamlSettings.{setting}") or "").name
        return name not in ("", ".", "..") and ctx.server.files.read(_config_file(name)) is not None

    return {key: present(key) for key in ("IdpCertificateFile", "PrivateKeyFile", "PublicCertificateFile")}
