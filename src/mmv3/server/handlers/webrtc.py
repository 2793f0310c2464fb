"""webrtc: the WebRTC gateway token, which a 4.9 server without WebRTC refuses."""

from __future__ import annotations

from mmv3.server.context import Context
from mmv3.server.errors import AppError
from mmv3.server.routes import route


@route("POST", "/api/v3/webrtc/token")
def token(ctx: Context) -> dict:
    if not ctx.config.get("WebrtcSettings.Enable"):
        raise AppError("api.webrtc.disabled.app_error", 501)
    # Enabled, real 4.9 registers the token with the gateway at GatewayAdminUrl. The reference
    # server contacts no other host, so it answers as a 4.9 server that cannot reach its gateway.
    raise AppError("model.client.connecting.app_error", 500)
