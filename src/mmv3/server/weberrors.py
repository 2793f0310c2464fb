"""Errors shown to browsers (Mattermost's `utils.RenderWebError`): a signed `/error?…` destination.

The destination is `/error?message=<text>&s=<signature>`, the signature being the server's
ECDSA signature (signing.py) of `/error?message=<text>` in URL-safe base64. A 3xx status
answers a redirect to it (Go's `http.Redirect`); any other status an HTML page that sends the
browser there.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from mmv3.server import signing
from mmv3.server.context import Reply

if TYPE_CHECKING:
    from mmv3.server.context import Context

_REASONS = {301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect"}


def destination(ctx: Context, message: str) -> str:
    query = urlencode({"message": message})
    signature = signing.key_for(ctx.store).sign(f"/error?{query}".encode())
    return f"/error?{query}&s={base64.urlsafe_b64encode(signature).decode()}"


def render(ctx: Context, status: int, message: str) -> Reply:
    """The answer real 4.9 gives a browser for an error with `message` and `status`."""
    target = destination(ctx, message)
    if 300 <= status < 400:
        return redirect(ctx, status, target)
    page = (
        "<!DOCTYPE html><html><head></head>\n"
        f"<body onload=\"window.location = '{go_html_escape(go_js_escape(target))}'\">\n"
        f'<noscript><meta http-equiv="refresh" content="0; url={go_html_escape(target)}"></noscript>\n'
        f'<a href="{go_html_escape(target)}" style="color: #c0c0c0;">...</a>\n'
        "</body></html>\n"
    )
    return Reply(status, page.encode(), "text/html")


def redirect(ctx: Context, status: int, location: str) -> Reply:
    """Go's `http.Redirect`: a GET gets a short HTML body naming the target, other methods none."""
    headers = [("Location", location)]
    if ctx.request.method not in ("GET", "HEAD"):
        return Reply(status, b"", None, headers)
    body = f'<a href="{go_html_escape(location)}">{_REASONS.get(status, "Found")}</a>.\n\n'
    return Reply(status, body.encode(), "text/html; charset=utf-8", headers)


def go_html_escape(text: str) -> str:
    """Go's `template.HTMLEscapeString` (numeric entities for quotes)."""
    return html.escape(text, quote=False).replace('"', "&#34;").replace("'", "&#39;").replace("\0", "\ufffd")


def go_js_escape(text: str) -> str:
    """Go's `template.JSEscapeString`."""
    out = []
    for char in text:
        if char in "\\'\"":
            out.append("\\" + char)
        elif char in "<>":
            out.append(f"\\x{ord(char):02X}")
        elif char in "&=" or ord(char) < 0x20:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)
