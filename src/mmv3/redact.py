"""Removing secrets (passwords, tokens, cookies) from anything mmv3 writes down.

Every writer of exchanges -- the client's HAR recorder, the conformance report's
attachments, the load summaries -- passes its text through here, so the rule lives once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

REDACTED = "<redacted>"

# Header names whose whole value is a secret.
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "token", "proxy-authorization"})
# JSON / form keys whose value is a secret wherever they appear.
SECRET_KEYS = frozenset(
    {
        "password",
        "current_password",
        "new_password",
        "email_password",
        "ldap_password",
        "token",
        "access_token",
        "refresh_token",
        "client_secret",
        "mfa_secret",
        "secret",
        "turn_password",
        "auth_data",
    }
)
# Query parameters that carry secrets: the secret keys plus the invite hash/data/token (h, t).
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:" + "|".join(sorted(SECRET_KEYS | {"h", "t"}, key=len, reverse=True)) + r")=)[^&#\s\"'\\]*"
)  # (a value ends at a quote or backslash too: a URL inside a JSON string keeps the string closed)
_COOKIE_VALUE = re.compile(r"(?i)\b(MMAUTHTOKEN|MMUSERID|MMCSRF)=([^;,\s\"'\\]+)")
_ANY_COOKIE = re.compile(r"(?:^|(?<=;))(\s*[^=;\s]+)=([^;]+)")
_FIRST_COOKIE = re.compile(r"^\s*([^=;\s]+)=([^;]+)")
_BEARER = re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}")


def header_value(name: str, value: str) -> str:
    """The value to write for header `name` (cookies keep their names, lose their values)."""
    lowered = name.lower()
    if lowered == "cookie" and value:
        return _ANY_COOKIE.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
    if lowered == "set-cookie" and value:
        # The first pair is the cookie; the attributes after it (Path, Max-Age, HttpOnly) stay.
        value = _FIRST_COOKIE.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
        return _COOKIE_VALUE.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
    if lowered in SECRET_HEADERS:
        return REDACTED if value else value
    return value


def headers(items: Iterable[tuple[str, str]] | Mapping[str, str]) -> list[tuple[str, str]]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return [(name, header_value(name, value)) for name, value in pairs]


def json_value(value: Any) -> Any:
    """A deep copy of a decoded JSON value with every secret-named key's value replaced (a value of
    asterisks only is the server's own mask, as GET /admin/config sends it, and stays)."""
    if isinstance(value, dict):
        return {
            key: (REDACTED if key.lower() in SECRET_KEYS and _secret(val) else json_value(val))
            for key, val in value.items()
        }
    if isinstance(value, list):
        return [json_value(item) for item in value]
    return value


def _secret(value: Any) -> bool:
    if value in ("", None):
        return False
    return not (isinstance(value, str) and value.strip("*") == "")


def text(body: str, secrets: Iterable[str] = ()) -> str:
    """Redact a body: JSON by key, anything else by known patterns and literal secrets."""
    stripped = body.strip()
    if stripped[:1] in ("{", "["):
        try:
            body = json.dumps(json_value(json.loads(stripped)), separators=(",", ":"))
        except ValueError:
            pass
    body = url(body)
    body = _COOKIE_VALUE.sub(lambda m: f"{m.group(1)}={REDACTED}", body)
    body = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", body)
    return literal(body, secrets)


def url(value: str) -> str:
    """A URL with secret query parameters blanked (access_token, token, password, h, t, ...)."""
    return _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, value)


def form(body: str, secrets: Iterable[str] = ()) -> str:
    """An application/x-www-form-urlencoded body with secret-named fields blanked."""
    pairs = parse_qsl(body, keep_blank_values=True)
    if not pairs:
        return literal(body, secrets)
    cleaned = [(key, REDACTED if key.lower() in SECRET_KEYS and val else val) for key, val in pairs]
    return literal(urlencode(cleaned, safe="<>"), secrets)


def literal(value: str, secrets: Iterable[str]) -> str:
    """Replace each known secret string (a password, a session token) wherever it stands.

    A secret also travels escaped -- inside a JSON string, percent-encoded in a query or a
    form body -- so each of those spellings is replaced too.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            for spelling in spellings(secret):
                value = value.replace(spelling, REDACTED)
    return value


def spellings(secret: str) -> list[str]:
    """The ways a secret may stand in text: as is, JSON-escaped, percent-encoded."""
    forms = [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    ]
    return list(dict.fromkeys(forms))
