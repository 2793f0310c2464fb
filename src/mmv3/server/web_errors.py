"""Errors of the web (non-API) handlers, rendered as 4.9's utils.RenderWebError does.

A web handler that fails answers an HTML page that sends the browser to `/error?message=…&s=…`
(`s` signs the query), with the AppError's status, instead of a JSON AppError.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from mmv3.server.context import Reply
from mmv3.server.errors import AppError

# The real server signs with its ECDSA key; any per-process secret gives the same shape.
_SIGNING_KEY = secrets.token_bytes(32)
_JS_ESCAPES = {
    "\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D",
}  # fmt: skip


_HTML_ESCAPES = {"&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;"}


def _html_escape(text: str) -> str:
    """Go's template.HTMLEscapeString."""
    return "".join(_HTML_ESCAPES.get(char, char) for char in text)


def _js_escape(text: str) -> str:
    """Go's template.JSEscapeString (the characters an error URL can contain)."""
    return "".join(_JS_ESCAPES.get(char, char) for char in text)


def error_page(err: AppError) -> Reply:
    query = urlencode({"message": err.message})
    signature = hmac.new(_SIGNING_KEY, f"/error?{query}".encode(), hashlib.sha256).digest()
    destination = f"/error?{query}&s={base64.urlsafe_b64encode(signature).decode()}"
    page = (
        "<!DOCTYPE html><html><head></head>\n"
        f"<body onload=\"window.location = '{_html_escape(_js_escape(destination))}'\">\n"
        f'<noscript><meta http-equiv="refresh" content="0; url={_html_escape(destination)}"></noscript>\n'
        f'<a href="{_html_escape(destination)}" style="color: #c0c0c0;">...</a>\n'
        "</body></html>\n"
    )
    return Reply(err.status, page.encode(), "text/html")
