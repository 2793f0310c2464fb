"""Audit rows as real 4.9 writes them (`Audits` table): who did what, from where, with which session.

`record` mirrors the server's two logging calls: without `user_id` the row belongs to the
caller's session user (`LogAudit`); with it the row belongs to that user and names the caller
as `session_user=` when there is one (`LogAuditWithUserId`). Read by `users/{id}/audits` and
`admin/audits`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmv3.server.ids import new_id, now_ms

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from mmv3.server.context import Context

LIST_LIMIT = 20  # users/{id}/audits shows the newest 20


def client_ip(request: Request) -> str:
    forwarded = request.headers.get("X-Forwarded-For", "")
    return (
        forwarded.split(",")[0].strip() or request.headers.get("X-Real-IP", "") or request.remote_addr or ""
    )


def record(ctx: Context, extra_info: str = "", *, user_id: str | None = None) -> dict[str, Any]:
    session = ctx.session or {}
    caller = session.get("user_id", "")
    if user_id is None:
        user_id = caller
    elif caller:
        extra_info = f"{extra_info} session_user={caller}".strip()
    audit = {
        "id": new_id(),
        "create_at": now_ms(),
        "user_id": user_id,
        "action": ctx.request.path,
        "extra_info": extra_info,
        "ip_address": client_ip(ctx.request),
        "session_id": session.get("id", ""),
    }
    ctx.store.insert("audits", audit["id"], audit)
    return audit


def for_user(ctx: Context, user_id: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    return ctx.store.find("audits", user_id=user_id, order_by="-create_at", limit=limit)
