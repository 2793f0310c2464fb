"""general: ping, client properties, client logging."""

from __future__ import annotations

import sys

from mmv3.server.clientconfig import client_config
from mmv3.server.context import Context
from mmv3.server.errors import forbidden
from mmv3.server.ids import now_ms
from mmv3.server.routes import route


@route("GET", "/api/v3/general/ping")
def ping(ctx: Context) -> dict:
    return {"server_time": str(now_ms()), "version": ctx.server.options.version}


@route("GET", "/api/v3/general/client_props")
def client_props(ctx: Context) -> dict:
    return client_config(ctx.server)


@route("POST", "/api/v3/general/log_client")
def log_client(ctx: Context) -> dict:
    # Anonymous callers may log only on a developer-mode server; outside developer mode only a
    # system admin's ERROR lines reach the log (4.9 writes the rest at debug level).
    developer = bool(ctx.config.get("ServiceSettings.EnableDeveloper"))
    if ctx.session is None and not developer:
        raise forbidden()
    props = ctx.props()
    message = props.get("message", "")
    if len(message) > 400:
        message = message[:399]
    if (
        props.get("level") == "ERROR"
        and (developer or ctx.has_system("manage_system"))
        and "/franz" not in message
    ):
        print(f"[client ERROR] {message}", file=sys.stderr)
    return {"status": "OK"}
