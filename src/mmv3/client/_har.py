"""Recording exchanges as HAR 1.2, with every secret removed on the way out.

Exchanges are kept as sent and received; redaction happens when the HAR is built, so a
secret learnt later (the token a login returned) is removed from earlier entries too.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mmv3 import __version__, redact
from mmv3.client._cookies import parse_cookie_header, parse_set_cookie

_TEXT_TYPES = ("json", "xml", "javascript", "html", "x-www-form-urlencoded", "csv", "yaml")


@dataclass
class Exchange:
    """One request and what came back (no response and an `error` when none came)."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    started: datetime
    elapsed: float
    status: int | None = None
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    error: str | None = None
    multipart: list[dict[str, str]] | None = None


def multipart_params(data: Any, files: Any) -> list[dict[str, str]]:
    """Describe a multipart body by its fields (HAR postData.params) without file contents."""
    params: list[dict[str, str]] = []
    if isinstance(data, dict):
        params += [{"name": str(k), "value": str(v)} for k, v in data.items()]
    elif isinstance(data, (list, tuple)):
        params += [{"name": str(k), "value": str(v)} for k, v in data]
    items = files.items() if isinstance(files, dict) else (files or [])
    for name, spec in items:
        entry = {"name": str(name)}
        if isinstance(spec, (tuple, list)) and spec:
            if spec[0] is not None:
                entry["fileName"] = str(spec[0])
            if len(spec) > 2 and spec[2]:
                entry["contentType"] = str(spec[2])
        else:
            filename = getattr(spec, "name", None)
            if isinstance(filename, str):
                entry["fileName"] = Path(filename).name
        params.append(entry)
    return params


class HarRecorder:
    """Collects exchanges (thread-safe) and writes them as a redacted HAR 1.2 file."""

    def __init__(self, *, secrets: Iterable[str] = (), max_body: int = 256 * 1024) -> None:
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._secrets: set[str] = {s for s in secrets if s}
        self.max_body = max_body

    def add_secret(self, *values: str | None) -> None:
        """Literal values to blank wherever they appear (passwords, tokens)."""
        with self._lock:
            self._secrets.update(v for v in values if v)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._exchanges)

    def har(self) -> dict[str, Any]:
        """The HAR document, redacted."""
        with self._lock:
            exchanges = list(self._exchanges)
            # Longest first, so that a secret containing another is replaced whole.
            secrets = sorted(self._secrets, key=len, reverse=True)
        return {
            "log": {
                "version": "1.2",
                "creator": {"name": "mmv3", "version": __version__},
                "pages": [],
                "entries": [_entry(ex, secrets, self.max_body) for ex in exchanges],
            }
        }

    def write(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.har(), indent=1, ensure_ascii=False)
        target.write_text(text + "\n", encoding="utf-8")
        return target


def _entry(ex: Exchange, secrets: Sequence[str], max_body: int) -> dict[str, Any]:
    def lit(value: str) -> str:
        return redact.literal(value, secrets)

    url = lit(redact.url(ex.url))
    request: dict[str, Any] = {
        "method": ex.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [
            {"name": name, "value": redact.REDACTED if value else ""}
            for header, raw in ex.request_headers
            if header.lower() == "cookie"
            for name, value in parse_cookie_header(raw)
        ],
        "headers": _headers(ex.request_headers, secrets),
        "queryString": [
            {"name": name, "value": lit(value)}
            for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": len(ex.request_body or b""),
    }
    if ex.request_body:
        request["postData"] = _post_data(ex, secrets)
    millis = round(ex.elapsed * 1000, 3)
    entry: dict[str, Any] = {
        "startedDateTime": ex.started.astimezone(timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "time": millis,
        "request": request,
        "response": _response(ex, secrets, max_body),
        "cache": {},
        "timings": {"send": 0, "wait": millis, "receive": 0},
    }
    if ex.error:
        entry["_error"] = lit(redact.url(ex.error))
    return entry


def _headers(pairs: Iterable[tuple[str, str]], secrets: Sequence[str]) -> list[dict[str, str]]:
    return [
        {"name": name, "value": redact.literal(redact.header_value(name, value), secrets)}
        for name, value in pairs
    ]


def _header(pairs: Iterable[tuple[str, str]], wanted: str) -> str:
    return next((value for name, value in pairs if name.lower() == wanted), "")


def _post_data(ex: Exchange, secrets: Sequence[str]) -> dict[str, Any]:
    body = ex.request_body or b""
    mime = _header(ex.request_headers, "content-type")
    if mime.lower().startswith("multipart/"):
        params = [
            {**p, "value": redact.literal(_secret_field(p["name"], p["value"]), secrets)}
            if "value" in p
            else p
            for p in ex.multipart or []
        ]
        return {
            "mimeType": mime,
            "text": f"(multipart body of {len(body)} bytes, not recorded)",
            "params": params,
        }
    text = body.decode("utf-8", errors="replace")
    if "x-www-form-urlencoded" in mime.lower():
        text = redact.form(text, secrets)
        params = [{"name": n, "value": v} for n, v in parse_qsl(text, keep_blank_values=True)]
        return {"mimeType": mime, "text": text, "params": params}
    return {"mimeType": mime, "text": redact.text(text, secrets)}


def _secret_field(name: str, value: str) -> str:
    return redact.REDACTED if name.lower() in redact.SECRET_KEYS and value else value


def _response(ex: Exchange, secrets: Sequence[str], max_body: int) -> dict[str, Any]:
    if ex.status is None:
        # HAR's convention for "no response": status 0 and empty parts.
        return {
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        }
    mime = _header(ex.response_headers, "content-type")
    body = ex.response_body
    content: dict[str, Any] = {"size": len(body), "mimeType": mime}
    if body:
        if _is_text(mime, body):
            text = redact.text(body.decode("utf-8", errors="replace"), secrets)
            if len(text) > max_body:
                text = text[:max_body]
                content["comment"] = f"truncated to {max_body} characters"
            content["text"] = text
        else:
            shown = body[:max_body]
            if len(body) > max_body:
                content["comment"] = f"truncated to {max_body} bytes"
            content["text"] = base64.b64encode(shown).decode("ascii")
            content["encoding"] = "base64"
    return {
        "status": ex.status,
        "statusText": ex.reason,
        "httpVersion": "HTTP/1.1",
        "cookies": [_cookie(raw) for name, raw in ex.response_headers if name.lower() == "set-cookie"],
        "headers": _headers(ex.response_headers, secrets),
        "content": content,
        "redirectURL": redact.literal(redact.url(_header(ex.response_headers, "location")), secrets),
        "headersSize": -1,
        "bodySize": len(body),
    }


def _cookie(raw: str) -> dict[str, Any]:
    cookie = parse_set_cookie(raw)
    if cookie is None:
        return {"name": "", "value": redact.REDACTED}
    out: dict[str, Any] = {
        "name": cookie.name,
        "value": redact.REDACTED if cookie.value else "",
        "httpOnly": cookie.httponly,
        "secure": cookie.secure,
    }
    if cookie.path is not None:
        out["path"] = cookie.path
    if cookie.domain is not None:
        out["domain"] = cookie.domain
    if cookie.expires:
        try:
            out["expires"] = parsedate_to_datetime(cookie.expires).isoformat()
        except (TypeError, ValueError):
            pass
    return out


def _is_text(mime: str, body: bytes) -> bool:
    lowered = mime.lower()
    if lowered.startswith("text/") or any(kind in lowered for kind in _TEXT_TYPES):
        return True
    if lowered:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
