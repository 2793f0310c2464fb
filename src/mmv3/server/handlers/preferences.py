"""preferences: the caller's own preferences (list, by category, one, save, delete).

Stored under the key "user_id:category:name"; documents are the Preference model itself.
"""

from __future__ import annotations

import json
from typing import Any

from mmv3.server import events, gojson
from mmv3.server.context import Context
from mmv3.server.errors import AppError
from mmv3.server.routes import route

_FIELDS = ("user_id", "category", "name", "value")
_THEME = "theme"


def _key(pref: dict[str, str]) -> str:
    return f"{pref['user_id']}:{pref['category']}:{pref['name']}"


def _decode(ctx: Context, error_id: str) -> list[dict[str, str]]:
    """A JSON array of Preference, decoded as Go does: any wrongly typed field fails the whole body."""
    value, ok = ctx.raw_json()
    if ok and value is None:
        return []
    if not ok or not isinstance(value, list):
        raise AppError(error_id, 400)
    prefs = []
    for item in value:
        item = {} if item is None else item
        if not isinstance(item, dict):
            raise AppError(error_id, 400)
        item = gojson.fold(item)
        pref = {}
        for field in _FIELDS:
            field_value = item.get(field)
            if field_value is not None and not isinstance(field_value, str):
                raise AppError(error_id, 400)
            pref[field] = field_value or ""
        prefs.append(pref)
    return prefs


def _require_own(ctx: Context, prefs: list[dict[str, str]], error_id: str) -> None:
    if any(pref["user_id"] != ctx.user_id for pref in prefs):
        raise AppError(error_id, 403)


def _theme_ok(value: str) -> bool:
    try:
        theme = json.loads(value)
    except ValueError:
        return False
    return theme is None or (isinstance(theme, dict) and all(isinstance(v, str) for v in theme.values()))


def _validate(pref: dict[str, str]) -> None:
    def bad(field: str) -> AppError:
        return AppError(f"model.preference.is_valid.{field}.app_error", 400)

    if len(pref["user_id"]) != 26:
        raise bad("id")
    if not 0 < len(pref["category"]) <= 32:
        raise bad("category")
    if len(pref["name"]) > 32:
        raise bad("name")
    if len(pref["value"]) > 2000:
        raise bad("value")
    if pref["category"] == _THEME and not _theme_ok(pref["value"]):
        raise bad("theme")


@route("GET", "/api/v3/preferences/")
def all_preferences(ctx: Context) -> list:
    return ctx.store.find("preferences", user_id=ctx.user_id)


@route("GET", "/api/v3/preferences/{category}")
def category(ctx: Context) -> list:
    return ctx.store.find("preferences", user_id=ctx.user_id, category=ctx.params["category"])


@route("GET", "/api/v3/preferences/{category}/{name}")
def one(ctx: Context) -> dict[str, Any]:
    pref = ctx.store.get("preferences", f"{ctx.user_id}:{ctx.params['category']}:{ctx.params['name']}")
    if pref is None:
        raise AppError("store.sql_preference.get.app_error", 500)  # real 4.9 answers a missing one with 500
    return pref


@route("POST", "/api/v3/preferences/save")
def save(ctx: Context) -> bool:
    prefs = _decode(ctx, "api.preference.save_preferences.decode.app_error")
    _require_own(ctx, prefs, "api.preference.update_preferences.set.app_error")
    for pref in prefs:
        _validate(pref)
    with ctx.store.transaction():  # all or nothing, as the real store's transaction
        for pref in prefs:
            ctx.store.put("preferences", _key(pref), pref)
    events.preferences(ctx, "preferences_changed", ctx.user_id, prefs)
    return True


@route("POST", "/api/v3/preferences/delete")
def delete(ctx: Context) -> dict:
    prefs = _decode(ctx, "api.preference.delete_preferences.decode.app_error")
    _require_own(ctx, prefs, "api.preference.delete_preferences.delete.app_error")
    with ctx.store.transaction():
        for pref in prefs:
            ctx.store.delete("preferences", _key(pref))
    events.preferences(ctx, "preferences_deleted", ctx.user_id, prefs)
    return {"status": "OK"}
