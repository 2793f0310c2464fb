"""oauth: the OAuth2 service provider's apps (register, list, allow, deauthorize, …) and SSO sign-in.

Everything of the provider answers 501 while `ServiceSettings.EnableOAuthServiceProvider` is off
(the shipped default), after the checks 4.9 makes first. `{service}/login|signup` are web
routes: without that SSO service enabled they answer the HTML error page with 501; enabled,
they only redirect the browser to the provider (this server itself never calls out).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, quote_plus

from mmv3.server import audits, files, gojson, teams, weberrors, webhooks
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError, invalid_param
from mmv3.server.ids import new_id, now_ms
from mmv3.server.routes import route

_OAUTH = "/api/v3/oauth"
FIELDS = {
    "id": gojson.STR, "creator_id": gojson.STR, "create_at": gojson.INT, "update_at": gojson.INT,
    "client_secret": gojson.STR, "name": gojson.STR, "description": gojson.STR, "icon_url": gojson.STR,
    "callback_urls": gojson.STR_LIST, "homepage": gojson.STR, "is_trusted": gojson.BOOL,
}  # fmt: skip
AUTHORIZED_CATEGORY = "oauth_app"  # the preference that marks an app as authorised by a user
_DEFAULT_SCOPE = "user"
_CODE_LIFETIME_S = 10 * 60
_SSO_SECTIONS = {"gitlab": "GitLabSettings", "google": "GoogleSettings", "office365": "Office365Settings"}
_STATE_COOKIE, _STATE_COOKIE_AGE = "MMOAUTH", 30 * 60


def _admin_only() -> AppError:
    return AppError("api.command.admin_only.app_error", 403)


def _provider_off() -> AppError:
    return AppError("api.oauth.allow_oauth.turn_off.app_error", 501)


def _provider_enabled(ctx: Context, error: AppError | None = None) -> None:
    if not ctx.config.get("ServiceSettings.EnableOAuthServiceProvider"):
        raise error or _provider_off()


def _decode(ctx: Context) -> dict[str, Any]:
    return webhooks.decode_model(ctx, FIELDS, "app")


def validate(app: dict[str, Any]) -> None:
    """OAuthApp.IsValid: 400 `model.oauth.is_valid.*`, in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.oauth.is_valid.{field}.app_error", 400)

    if len(app["id"]) != 26:
        raise bad("app_id")
    if not app["create_at"]:
        raise bad("create_at")
    if not app["update_at"]:
        raise bad("update_at")
    if len(app["creator_id"]) != 26:
        raise bad("creator_id")
    if not 0 < len(app["client_secret"]) <= 128:
        raise bad("client_secret")
    if not 0 < len(app["name"]) <= 64:
        raise bad("name")
    urls = app["callback_urls"]
    if not urls or len("[" + " ".join(urls) + "]") > 1024 or not all(map(webhooks.is_valid_http_url, urls)):
        raise bad("callback")
    homepage = app["homepage"]
    if not 0 < len(homepage) <= 256 or not webhooks.is_valid_http_url(homepage):
        raise bad("homepage")
    if len(app["description"]) > 512:
        raise bad("description")
    icon = app["icon_url"]
    if icon and (len(icon) > 512 or not webhooks.is_valid_http_url(icon)):
        raise bad("icon_url")


def sanitized(app: dict[str, Any]) -> dict[str, Any]:
    return {**app, "client_secret": ""}


def _get(ctx: Context, app_id: str) -> dict[str, Any]:
    """App.GetOAuthApp: 501 when the provider is off, 404 for an unknown app."""
    _provider_enabled(ctx)
    app = ctx.store.get("oauth_apps", app_id) if app_id else None
    if app is None:
        raise AppError("store.sql_oauth.get_app.find.app_error", 404)
    return app


def _system_wide(ctx: Context) -> bool:
    return ctx.has_system("manage_system_wide_oauth")


# -- the apps -----------------------------------------------------------------------------------
@route("POST", _OAUTH + "/register")
def register(ctx: Context) -> dict:
    if not ctx.has_system("manage_oauth"):
        raise _admin_only()
    app = _decode(ctx)
    if not ctx.has_system("manage_system"):
        app["is_trusted"] = False
    app["creator_id"] = ctx.user_id
    _provider_enabled(ctx, AppError("api.oauth.register_oauth_app.turn_off.app_error", 501))
    if app["id"]:
        raise AppError("store.sql_oauth.save_app.existing.app_error", 400)
    now = now_ms()
    app.update(id=new_id(), client_secret=new_id(), create_at=now, update_at=now)
    validate(app)
    ctx.store.insert("oauth_apps", app["id"], app)
    audits.record(ctx, f"client_id={app['id']}")
    return app


@route("GET", _OAUTH + "/list")
def list_apps(ctx: Context) -> list:
    if not ctx.has_system("manage_oauth"):
        raise _admin_only()
    _provider_enabled(ctx)
    found = (
        ctx.store.find("oauth_apps")
        if _system_wide(ctx)
        else ctx.store.find("oauth_apps", creator_id=ctx.user_id)
    )
    return sorted(found, key=lambda app: app["create_at"])


@route("GET", _OAUTH + "/app/{client_id}")
def app_info(ctx: Context) -> dict:
    return sanitized(_get(ctx, ctx.params["client_id"]))


@route("POST", _OAUTH + "/delete")
def delete(ctx: Context) -> dict:
    props = ctx.props()
    app_id = props.get("id", "")
    if not app_id:
        raise invalid_param("id")
    audits.record(ctx, "attempt")
    if not ctx.has_system("manage_oauth"):
        raise _admin_only()
    app = _get(ctx, app_id)
    if app["creator_id"] != ctx.user_id and not _system_wide(ctx):
        audits.record(ctx, "fail - inappropriate permissions")
        raise AppError("api.oauth.delete.permissions.app_error", 403)
    with ctx.store.transaction():
        ctx.store.delete("oauth_apps", app_id)
        _revoke_user_grants(ctx, client_id=app_id)
        ctx.store.delete_where("preferences", category=AUTHORIZED_CATEGORY, name=app_id)
    audits.record(ctx, "success")
    return {"status": "OK"}


@route("POST", _OAUTH + "/{id}/regen_secret")
def regen_secret(ctx: Context) -> dict:
    app = _get(ctx, ctx.params["id"])
    if app["creator_id"] != ctx.user_id and not _system_wide(ctx):
        raise _admin_only()
    app = {**app, "client_secret": new_id(), "update_at": now_ms()}
    ctx.store.put("oauth_apps", app["id"], app)
    return app


# -- the provider's authorisation ---------------------------------------------------------------
@route("GET", _OAUTH + "/allow")
def allow(ctx: Context) -> dict:
    query = ctx.request.args
    response_type = query.get("response_type", "")
    if not response_type:
        raise AppError("api.oauth.allow_oauth.bad_response.app_error", 400)
    client_id = query.get("client_id", "")
    if len(client_id) != 26:
        raise AppError("api.oauth.allow_oauth.bad_client.app_error", 400)
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri:
        raise AppError("api.oauth.allow_oauth.bad_redirect.app_error", 400)
    scope, state = query.get("scope", "") or _DEFAULT_SCOPE, query.get("state", "")
    audits.record(ctx, "attempt")
    app = _get(ctx, client_id)
    if redirect_uri not in app["callback_urls"]:
        raise AppError("api.oauth.allow_oauth.redirect_callback.app_error", 400)
    if response_type != "code":
        return {"redirect": f"{redirect_uri}?error=unsupported_response_type&state={state}"}
    user_id = ctx.user_id
    code = new_id() + new_id()
    with ctx.store.transaction():
        ctx.store.put(
            "preferences", f"{user_id}:{AUTHORIZED_CATEGORY}:{client_id}",
            {"user_id": user_id, "category": AUTHORIZED_CATEGORY, "name": client_id, "value": scope},
        )  # fmt: skip
        ctx.store.put(
            "oauth_grants", code,
            {"code": code, "user_id": user_id, "client_id": client_id, "create_at": now_ms(),
             "expires_in": _CODE_LIFETIME_S, "redirect_uri": redirect_uri, "state": state, "scope": scope},
        )  # fmt: skip
    audits.record(ctx, "")
    return {"redirect": f"{redirect_uri}?code={quote_plus(code)}&state={quote_plus(state)}"}


@route("GET", _OAUTH + "/authorized")
def authorized(ctx: Context) -> list:
    _provider_enabled(ctx)
    granted = ctx.store.find("preferences", user_id=ctx.user_id, category=AUTHORIZED_CATEGORY)
    apps = ctx.store.find("oauth_apps", key=[p["name"] for p in granted]) if granted else []
    return [sanitized(app) for app in apps]


def _revoke_user_grants(ctx: Context, **match: str) -> None:
    """Authorisation codes and the OAuth sessions they led to go with the app's authorisation."""
    for grant in ctx.store.find("oauth_grants", **match):
        if grant.get("session_token"):
            ctx.store.delete_where("sessions", token=grant["session_token"])
        ctx.store.delete("oauth_grants", grant["code"])


@route("POST", _OAUTH + "/{id}/deauthorize")
def deauthorize(ctx: Context) -> dict:
    _provider_enabled(ctx)
    app_id = ctx.params["id"]
    with ctx.store.transaction():
        _revoke_user_grants(ctx, user_id=ctx.user_id, client_id=app_id)
        ctx.store.delete("preferences", f"{ctx.user_id}:{AUTHORIZED_CATEGORY}:{app_id}")
    audits.record(ctx, "success")
    return {"status": "OK"}


# -- signing in with an SSO service (web routes) ------------------------------------------------
def _team_from_query(ctx: Context) -> str:
    """GetTeamIdFromQuery: an emailed invite (`h`/`d`) or an invite id (`id`) names the team to join."""
    query = ctx.request.args
    hash_, invite_id = query.get("h", ""), query.get("id", "")
    if hash_:
        props = teams.invite_props(
            ctx,
            hash_,
            query.get("d", ""),
            now_ms(),
            invalid_id="api.oauth.singup_with_oauth.invalid_link.app_error",
            expired_id="api.oauth.singup_with_oauth.expired_link.app_error",
        )
        return str(props.get("id", ""))
    if invite_id:
        try:
            return teams.by_invite_id(ctx, invite_id)["id"]
        except AppError:
            pass  # a soft failure: the user signs up without joining a team
    return ""


def _authorization_url(ctx: Context, service: str, props: dict[str, str], login_hint: str = "") -> str:
    """GetAuthorizationCode: the provider's sign-in URL, with a state token tied to a cookie."""
    section = _SSO_SECTIONS.get(service)
    if section is None or not ctx.config.get(f"{section}.Enable"):
        raise AppError("api.user.get_authorization_code.unsupported.app_error", 501)
    settings = {key: ctx.config.get(f"{section}.{key}") or "" for key in ("Id", "AuthEndpoint", "Scope")}
    cookie = new_id()
    ctx.set_cookie(_STATE_COOKIE, cookie, _STATE_COOKIE_AGE, http_only=True)
    token = new_id() + new_id()
    ctx.store.put(
        "tokens", token,
        {"token": token, "type": "oauth", "create_at": now_ms(),
         "extra": f"{props.get('email', '')}:{props.get('action', '')}:{cookie}"},
    )  # fmt: skip
    state_props = dict(sorted({**props, "token": token}.items()))
    state = base64.b64encode(json.dumps(state_props, separators=(",", ":")).encode()).decode()
    redirect = f"{files.site_url(ctx)}/signup/{service}/complete"
    url = (
        f"{settings['AuthEndpoint']}?response_type=code&client_id={settings['Id']}"
        f"&redirect_uri={quote_plus(redirect)}&state={quote_plus(state)}"
    )
    if settings["Scope"]:
        url += "&scope=" + quote(settings["Scope"])
    if login_hint:
        url += "&login_hint=" + quote(login_hint)
    return url


def _redirect(url: str) -> Reply:
    body = f'<a href="{url}">Found</a>.\n\n'.encode()
    return Reply(302, body, "text/html; charset=utf-8", [("Location", url)])


@route("GET", _OAUTH + "/{service}/login")
def login_with_service(ctx: Context) -> Reply:
    try:
        team_id = _team_from_query(ctx)
        props = {"action": "login"}
        if team_id:
            props["team_id"] = team_id
        if ctx.request.args.get("redirect_to"):
            props["redirect_to"] = ctx.request.args["redirect_to"]
        url = _authorization_url(ctx, ctx.params["service"], props, ctx.request.args.get("login_hint", ""))
    except AppError as err:
        return weberrors.render(ctx, err.status, err.message)
    return _redirect(url)


@route("GET", _OAUTH + "/{service}/signup")
def signup_with_service(ctx: Context) -> Reply:
    try:
        if not ctx.config.get("TeamSettings.EnableUserCreation", True):
            raise AppError("api.oauth.singup_with_oauth.disabled.app_error", 501)
        team_id = _team_from_query(ctx)
        props = {"action": "signup", **({"team_id": team_id} if team_id else {})}
        url = _authorization_url(ctx, ctx.params["service"], props)
    except AppError as err:
        return weberrors.render(ctx, err.status, err.message)
    return _redirect(url)
