"""users (lists): pages of users, users of a team or channel, by ids, search and autocomplete.

Every user shown here is profile-sanitised. Pages take `{offset}/{limit}` as row offsets and
are ordered by username, as the real store does; search matches each word of the term as the
prefix of a name field and answers at most 100 users.
"""

from __future__ import annotations

from typing import Any

from mmv3.server import gojson, sanitize
from mmv3.server.context import Context
from mmv3.server.errors import forbidden, invalid_param
from mmv3.server.handlers.users import privacy_etag_suffix
from mmv3.server.routes import route

SEARCH_LIMIT = 100
_GO_INT_MAX = 2**63 - 1
_SPECIAL = '<>+-()~:*"!@'  # characters real 4.9 treats as spaces in a search term
_ALL = ("username", "first_name", "last_name", "nickname", "email")
_NAMES = ("username", "first_name", "last_name", "nickname")
_NAMES_NO_FULL_NAME = ("username", "nickname")
_ALL_NO_FULL_NAME = ("username", "nickname", "email")
_SEARCH_STRINGS = ("term", "team_id", "not_in_team_id", "in_channel_id", "not_in_channel_id")
_SEARCH_BOOLS = ("allow_inactive", "without_team")


# -- building blocks ------------------------------------------------------------------------
def _page(ctx: Context) -> tuple[int, int]:
    out = []
    for name in ("offset", "limit"):
        value = ctx.params[name]
        if not value.isdigit() or int(value) > _GO_INT_MAX:
            raise invalid_param(name)
        out.append(int(value))
    return out[0], out[1]


def _team_user_ids(ctx: Context, team_id: str) -> list[str]:
    return [m["user_id"] for m in ctx.store.find("team_members", team_id=team_id) if not m.get("delete_at")]


def _channel_user_ids(ctx: Context, channel_id: str) -> list[str]:
    return [m["user_id"] for m in ctx.store.find("channel_members", channel_id=channel_id)]


def _profiles_map(ctx: Context, users: list[dict[str, Any]]) -> dict[str, dict]:
    return sanitize.user_profiles(ctx, users)


def _require_channel_read(ctx: Context, channel_id: str) -> None:
    # An unknown channel is refused even to system admins, as real 4.9 does.
    if ctx.store.get("channels", channel_id) is None or not ctx.has_channel(channel_id, "read_channel"):
        raise forbidden()


# -- pages ----------------------------------------------------------------------------------
@route("GET", "/api/v3/users/{offset}/{limit}")
def users_page(ctx: Context) -> dict:
    offset, limit = _page(ctx)
    newest = ctx.store.max_of("users", "update_at") or 0
    ctx.etag = (
        f"{ctx.server.options.version}.{newest}.{privacy_etag_suffix(ctx)}"
        f"{ctx.params['offset']}.{ctx.params['limit']}"
    )
    return _profiles_map(ctx, ctx.store.find("users", order_by="username", limit=limit, offset=offset))


@route("GET", "/api/v3/teams/{team_id}/users/{offset}/{limit}")
def team_users_page(ctx: Context) -> dict:
    offset, limit = _page(ctx)
    ids = _team_user_ids(ctx, ctx.params["team_id"])
    newest = (ctx.store.max_of("users", "update_at", key=ids) if ids else 0) or 0
    ctx.etag = f"{ctx.server.options.version}.{newest}.{privacy_etag_suffix(ctx)}"
    return _profiles_map(
        ctx, ctx.store.find("users", key=ids, order_by="username", limit=limit, offset=offset)
    )


@route("GET", "/api/v3/teams/{team_id}/channels/{channel_id}/users/{offset}/{limit}")
def channel_users_page(ctx: Context) -> dict:
    offset, limit = _page(ctx)
    channel_id = ctx.params["channel_id"]
    _require_channel_read(ctx, channel_id)
    return _profiles_map(ctx, ctx.store.channel_users(channel_id, limit=limit, offset=offset))


@route("GET", "/api/v3/teams/{team_id}/channels/{channel_id}/users/not_in_channel/{offset}/{limit}")
def not_in_channel_page(ctx: Context) -> dict:
    channel_id = ctx.params["channel_id"]
    _require_channel_read(ctx, channel_id)
    offset, limit = _page(ctx)
    in_channel = set(_channel_user_ids(ctx, channel_id))
    ids = [i for i in _team_user_ids(ctx, ctx.params["team_id"]) if i not in in_channel]
    users = [u for u in ctx.store.find("users", key=ids, order_by="username") if not u.get("delete_at")]
    return _profiles_map(ctx, users[offset : offset + limit])


@route("POST", "/api/v3/users/ids")
def users_by_ids(ctx: Context) -> dict:
    ids = ctx.string_list()
    if not ids:
        raise invalid_param("user_ids")
    return _profiles_map(ctx, ctx.store.find("users", key=ids))


# -- search ---------------------------------------------------------------------------------
def _words(term: str) -> list[str]:
    for char in _SPECIAL:
        term = term.replace(char, " ")
    return term.lower().split()


def _matches(user: dict[str, Any], term: str, words: list[str], fields: tuple[str, ...]) -> bool:
    if "@" in term and "." in term:  # an email address is matched as a prefix of the email
        return str(user.get("email") or "").lower().startswith(term.lower())
    values = [str(user.get(field) or "").lower() for field in fields]
    return all(any(value.startswith(word) for value in values) for word in words)


def _search(
    ctx: Context,
    candidates: list[dict[str, Any]],
    term: str,
    fields: tuple[str, ...],
    *,
    allow_inactive: bool = False,
) -> list[dict]:
    words = _words(term)
    found = [
        user
        for user in candidates
        if (allow_inactive or not user.get("delete_at")) and (not term or _matches(user, term, words, fields))
    ]
    found.sort(key=lambda user: user["username"])
    return [sanitize.user_profile(ctx, user) for user in found[:SEARCH_LIMIT]]


def _autocomplete_fields(ctx: Context) -> tuple[str, ...]:
    if not ctx.config.get("PrivacySettings.ShowFullName", True) and not ctx.is_system_admin:
        return _NAMES_NO_FULL_NAME
    return _NAMES


def _search_fields(ctx: Context) -> tuple[str, ...]:
    if ctx.is_system_admin:
        return _ALL
    hide_name = not ctx.config.get("PrivacySettings.ShowFullName", True)
    hide_email = not ctx.config.get("PrivacySettings.ShowEmailAddress", True)
    if hide_name and hide_email:
        return _NAMES_NO_FULL_NAME
    if hide_name:
        return _ALL_NO_FULL_NAME
    if hide_email:
        return _NAMES
    return _ALL


def _users(ctx: Context, ids: list[str] | None = None) -> list[dict[str, Any]]:
    return ctx.store.find("users") if ids is None else ctx.store.find("users", key=ids)


def _not_in_channel(ctx: Context, team_id: str, channel_id: str) -> list[dict[str, Any]]:
    in_channel = set(_channel_user_ids(ctx, channel_id))
    pool = _users(ctx, _team_user_ids(ctx, team_id) if team_id else None)
    return [u for u in pool if u["id"] not in in_channel]


def _search_body(ctx: Context) -> dict[str, Any]:
    """UserSearchFromJson decodes into a nil pointer and ignores the error: a syntax error is
    `Invalid  parameter`; a wrongly typed field keeps its zero value (as real 4.9 answered when
    `mmv3 diff` sent `"team_id": -1`: a 200 search); a body that is no object is the zero search."""
    value, ok = ctx.raw_json()
    if ok and value is None:
        value = {}
    if not ok:
        raise invalid_param("")
    value = dict(gojson.fold(value)) if isinstance(value, dict) else {}
    for key in _SEARCH_STRINGS:
        if not isinstance(value.get(key), str):
            value.pop(key, None)
    for key in _SEARCH_BOOLS:
        if not isinstance(value.get(key), bool):
            value.pop(key, None)
    return value


@route("POST", "/api/v3/users/search")
def search(ctx: Context) -> list:
    body = _search_body(ctx)
    term = body.get("term") or ""
    if not term:
        raise invalid_param("term")
    for key in ("in_channel_id", "not_in_channel_id"):
        if body.get(key):
            _require_channel_read(ctx, body[key])
    fields = _search_fields(ctx)
    inactive = bool(body.get("allow_inactive"))
    if body.get("without_team"):
        with_team = {m["user_id"] for m in ctx.store.find("team_members") if not m.get("delete_at")}
        pool = [u for u in _users(ctx) if u["id"] not in with_team]
    elif body.get("in_channel_id"):
        pool = _users(ctx, _channel_user_ids(ctx, body["in_channel_id"]))
    elif body.get("not_in_channel_id"):
        pool = _not_in_channel(ctx, body.get("team_id") or "", body["not_in_channel_id"])
    elif body.get("not_in_team_id"):
        members = set(_team_user_ids(ctx, body["not_in_team_id"]))
        pool = [u for u in _users(ctx) if u["id"] not in members]
    else:
        team_id = body.get("team_id") or ""
        pool = _users(ctx, _team_user_ids(ctx, team_id) if team_id else None)
    return _search(ctx, pool, term, fields, allow_inactive=inactive)


@route("GET", "/api/v3/users/autocomplete")
def autocomplete(ctx: Context) -> list:
    return _search(ctx, _users(ctx), ctx.request.args.get("term", ""), _autocomplete_fields(ctx))


@route("GET", "/api/v3/teams/{team_id}/users/autocomplete")
def autocomplete_in_team(ctx: Context) -> dict:
    pool = _users(ctx, _team_user_ids(ctx, ctx.params["team_id"]))
    return {"in_team": _search(ctx, pool, ctx.request.args.get("term", ""), _autocomplete_fields(ctx))}


@route("GET", "/api/v3/teams/{team_id}/channels/{channel_id}/users/autocomplete")
def autocomplete_in_channel(ctx: Context) -> dict:
    team_id, channel_id = ctx.params["team_id"], ctx.params["channel_id"]
    _require_channel_read(ctx, channel_id)
    term, fields = ctx.request.args.get("term", ""), _autocomplete_fields(ctx)
    return {
        "in_channel": _search(ctx, _users(ctx, _channel_user_ids(ctx, channel_id)), term, fields),
        "out_of_channel": _search(ctx, _not_in_channel(ctx, team_id, channel_id), term, fields),
    }
