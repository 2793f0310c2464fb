"""status: who is online, away or in do-not-disturb (users/status, users/status/ids)."""

from __future__ import annotations

from mmv3.server.context import Context
from mmv3.server.errors import invalid_param
from mmv3.server.routes import route

OFFLINE = "offline"


def _enabled(ctx: Context) -> bool:
    return bool(ctx.config.get("ServiceSettings.EnableUserStatuses", True))


@route("GET", "/api/v3/users/status")
def statuses(ctx: Context) -> dict:
    """Everyone not offline (real 4.9 reads its status cache; an absent user means offline)."""
    if not _enabled(ctx):
        return {}
    return {s["user_id"]: s["status"] for s in ctx.store.find("statuses") if s.get("status") != OFFLINE}


@route("POST", "/api/v3/users/status/ids")
def statuses_by_ids(ctx: Context) -> dict:
    ids = ctx.string_list()
    if not ids:
        raise invalid_param("user_ids")
    if not _enabled(ctx):
        return {}
    known = {s["user_id"]: s["status"] for s in ctx.store.find("statuses", user_id=ids)}
    return {user_id: known.get(user_id, OFFLINE) for user_id in ids}
