"""Incoming and outgoing webhooks as Mattermost 4.9 stores them, and outgoing "firing".

The model checks, reads and the JSON shapes live here for the hooks handlers; `fire_outgoing`
is what a new post in an open channel triggers. The reference server never sends a request:
a firing is recorded in the `webhook_deliveries` table (what would have been POSTed, and where)
and nothing else happens.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mmv3.server import gojson
from mmv3.server.errors import AppError
from mmv3.server.ids import new_id, now_ms

if TYPE_CHECKING:
    from mmv3.server.context import Context

INCOMING_FIELDS = {
    "id": gojson.STR, "create_at": gojson.INT, "update_at": gojson.INT, "delete_at": gojson.INT,
    "user_id": gojson.STR, "channel_id": gojson.STR, "team_id": gojson.STR, "display_name": gojson.STR,
    "description": gojson.STR, "username": gojson.STR, "icon_url": gojson.STR,
}  # fmt: skip
OUTGOING_FIELDS = {
    "id": gojson.STR, "token": gojson.STR, "create_at": gojson.INT, "update_at": gojson.INT,
    "delete_at": gojson.INT, "creator_id": gojson.STR, "channel_id": gojson.STR, "team_id": gojson.STR,
    "trigger_words": gojson.STR_LIST, "trigger_when": gojson.INT, "callback_urls": gojson.STR_LIST,
    "display_name": gojson.STR, "description": gojson.STR, "content_type": gojson.STR,
}  # fmt: skip
_USERNAME = re.compile(r"^[a-z0-9.\-_]+$")
_RESERVED_USERNAMES = ("all", "channel", "matterbot", "here")
LIST_LIMIT = 100  # the v3 list routes answer the first page of 100
EXACT_MATCH, STARTS_WITH = 0, 1


def decode_model(ctx: Context, fields: dict[str, str], name: str) -> dict[str, Any]:
    """`<Model>FromJson` of hooks, commands and OAuth apps (see `gojson.decode_struct`)."""
    raw, ok = ctx.raw_json()
    return gojson.decode_struct(raw, ok, fields, name)


def decode_incoming(ctx: Context) -> dict[str, Any]:
    return decode_model(ctx, INCOMING_FIELDS, "webhook")


def decode_outgoing(ctx: Context) -> dict[str, Any]:
    """OutgoingWebhookFromJson; a list absent or null stays a nil slice (None), which 4.9 writes
    as `null` (seen live: `"trigger_words": null` for a hook made without trigger words)."""
    hook = decode_model(ctx, OUTGOING_FIELDS, "webhook")
    raw, _ = ctx.raw_json()
    given = gojson.fold(raw) if isinstance(raw, dict) else {}
    for name in ("trigger_words", "callback_urls"):
        if not isinstance(given.get(name), list):
            hook[name] = None
    return hook


def is_valid_http_url(url: str) -> bool:
    """model.IsValidHttpUrl: an http(s) URL that url.ParseRequestURI accepts."""
    return url.startswith(("http://", "https://")) and not any(c.isspace() or ord(c) < 32 for c in url)


def _go_list_len(values: list[str]) -> int:
    """len(fmt.Sprintf("%s", list)): the bracketed, space-joined form the real checks measure."""
    return len("[" + " ".join(values) + "]")


def is_valid_username(name: str) -> bool:
    return 1 <= len(name) <= 64 and bool(_USERNAME.match(name)) and name not in _RESERVED_USERNAMES


def validate_incoming(hook: dict[str, Any]) -> None:
    """IncomingWebhook.IsValid: 400 `model.incoming_hook.*`, in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.incoming_hook.{field}.app_error", 400)

    for field, check in (
        ("id", len(hook["id"]) == 26), ("create_at", hook["create_at"] != 0), ("update_at", hook["update_at"] != 0),
        ("user_id", len(hook["user_id"]) == 26), ("channel_id", len(hook["channel_id"]) == 26),
        ("team_id", len(hook["team_id"]) == 26), ("display_name", len(hook["display_name"]) <= 64),
        ("description", len(hook["description"]) <= 128), ("username", len(hook["username"]) <= 64),
        ("icon_url", len(hook["icon_url"]) <= 1024),
    ):  # fmt: skip
        if not check:
            raise bad(field)


def validate_outgoing(hook: dict[str, Any]) -> None:
    """OutgoingWebhook.IsValid: 400 `model.outgoing_hook.is_valid.*`, in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.outgoing_hook.is_valid.{field}.app_error", 400)

    if len(hook["id"]) != 26:
        raise bad("id")
    if len(hook["token"]) != 26:
        raise bad("token")
    if not hook["create_at"]:
        raise bad("create_at")
    if not hook["update_at"]:
        raise bad("update_at")
    if len(hook["creator_id"]) != 26:
        raise bad("user_id")
    if len(hook["channel_id"]) not in (0, 26):
        raise bad("channel_id")
    if len(hook["team_id"]) != 26:
        raise bad("team_id")
    words, urls = hook["trigger_words"] or [], hook["callback_urls"] or []
    if _go_list_len(words) > 1024:
        raise bad("words")
    if any(not word for word in words):
        raise bad("trigger_words")
    if not urls or _go_list_len(urls) > 1024:
        raise bad("callback")
    if not all(is_valid_http_url(url) for url in urls):
        raise bad("url")
    if len(hook["display_name"]) > 64:
        raise bad("display_name")
    if len(hook["description"]) > 128:
        raise bad("description")
    if len(hook["content_type"]) > 128 or hook["trigger_when"] > 1:
        raise bad("content_type")  # 4.9 reports a bad trigger_when under content_type too


def get_incoming(ctx: Context, hook_id: str) -> dict[str, Any]:
    """GetIncomingWebhook: 501 when incoming hooks are off, 404 unless a live hook."""
    if not ctx.config.get("ServiceSettings.EnableIncomingWebhooks", True):
        raise incoming_disabled()
    hook = ctx.store.get("incoming_webhooks", hook_id) if hook_id else None
    if hook is None or hook.get("delete_at"):
        raise AppError("store.sql_webhooks.get_incoming.app_error", 404)
    return hook


def get_outgoing(ctx: Context, hook_id: str) -> dict[str, Any]:
    """GetOutgoingWebhook: 501 when outgoing hooks are off; a missing hook is a 500 in 4.9."""
    if not ctx.config.get("ServiceSettings.EnableOutgoingWebhooks"):
        raise outgoing_disabled()
    hook = ctx.store.get("outgoing_webhooks", hook_id) if hook_id else None
    if hook is None or hook.get("delete_at"):
        raise AppError("store.sql_webhooks.get_outgoing.app_error", 500)
    return hook


def incoming_disabled() -> AppError:
    return AppError("api.incoming_webhook.disabled.app_error", 501)


def outgoing_disabled(status: int = 501) -> AppError:
    return AppError("api.outgoing_webhook.disabled.app_error", status)


def live_for_team(ctx: Context, table: str, team_id: str, limit: int | None = None) -> list[dict[str, Any]]:
    found = sorted(
        (h for h in ctx.store.find(table, team_id=team_id) if not h.get("delete_at")),
        key=lambda h: h["create_at"],
    )
    return found[:limit] if limit is not None else found


def soft_delete(ctx: Context, table: str, hook: dict[str, Any]) -> None:
    now = now_ms()
    ctx.store.put(table, hook["id"], {**hook, "delete_at": now, "update_at": now})


def clashes(existing: dict[str, Any], hook: dict[str, Any]) -> bool:
    """Two outgoing hooks of one channel may not share both a trigger word and a callback URL."""
    return (
        existing["channel_id"] == hook["channel_id"]
        and bool(set(existing["trigger_words"] or ()) & set(hook["trigger_words"] or ()))
        and bool(set(existing["callback_urls"] or ()) & set(hook["callback_urls"] or ()))
    )


# -- firing ------------------------------------------------------------------------------------
def _trigger(hook: dict[str, Any], first_word: str) -> str | None:
    """The trigger word `first_word` fires `hook` with ("" for a channel hook without words), or None."""
    if not hook["trigger_words"]:
        return ""
    if not first_word:
        return None
    for word in hook["trigger_words"] or ():
        if (hook["trigger_when"] == STARTS_WITH and first_word.startswith(word)) or first_word == word:
            return word
    return None


def fire_outgoing(ctx: Context, post: dict[str, Any]) -> list[dict[str, Any]]:
    """handleWebhookEvents: record, for every outgoing hook the new post triggers, the payload that
    4.9 would POST to each callback URL. Only posts in open channels fire; nothing is sent."""
    if not ctx.config.get("ServiceSettings.EnableOutgoingWebhooks") or post.get("type", "").startswith(
        "system_"
    ):
        return []
    channel = ctx.store.get("channels", post.get("channel_id", ""))
    if channel is None or channel.get("type") != "O":
        return []
    team = ctx.store.get("teams", channel["team_id"]) or {"name": ""}
    user = ctx.store.get("users", post["user_id"]) or {"username": ""}
    words = post.get("message", "").split()
    first_word = words[0] if words else ""
    fired = []
    for hook in live_for_team(ctx, "outgoing_webhooks", channel["team_id"]):
        if hook["channel_id"] not in ("", post["channel_id"]):
            continue
        if not hook["trigger_words"] and hook["channel_id"] != post["channel_id"]:
            continue
        word = _trigger(hook, first_word)
        if word is None:
            continue
        payload = {
            "token": hook["token"], "team_id": hook["team_id"], "team_domain": team["name"],
            "channel_id": post["channel_id"], "channel_name": channel["name"], "timestamp": post["create_at"],
            "user_id": post["user_id"], "user_name": user["username"], "post_id": post["id"],
            "text": post.get("message", ""), "trigger_word": word, "file_ids": ",".join(post.get("file_ids") or []),
        }  # fmt: skip
        delivery = {
            "id": new_id(), "create_at": now_ms(), "hook_id": hook["id"], "post_id": post["id"],
            "callback_urls": list(hook["callback_urls"] or ()), "content_type": hook["content_type"] or
            "application/x-www-form-urlencoded", "payload": payload, "sent": False,
        }  # fmt: skip
        ctx.store.insert("webhook_deliveries", delivery["id"], delivery)
        fired.append(delivery)
    return fired
