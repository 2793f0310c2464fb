"""Set-Cookie headers read with their flags (HttpOnly, Secure, Max-Age, Path) as sent.

`http.cookies` drops what it cannot parse and hides whether a flag was present, and the
checks need exactly that, so the header is read here by the RFC 6265 grammar.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SetCookie:
    """One Set-Cookie header. The value is kept out of repr() so that it never lands in a log."""

    name: str
    value: str = field(repr=False)
    path: str | None = None
    domain: str | None = None
    max_age: int | None = None
    expires: str | None = None
    httponly: bool = False
    secure: bool = False
    samesite: str | None = None


def parse_set_cookie(header: str) -> SetCookie | None:
    """One Set-Cookie value -> SetCookie; None when it has no `name=value` pair."""
    pair, *attributes = header.split(";")
    name, sep, value = pair.partition("=")
    name = name.strip()
    if not sep or not name:
        return None
    found: dict[str, str | None] = {}
    for attribute in attributes:
        key, has_value, val = attribute.partition("=")
        found[key.strip().lower()] = val.strip() if has_value else None
    max_age: int | None = None
    if found.get("max-age") is not None:
        try:
            max_age = int(found["max-age"] or "")
        except ValueError:
            max_age = None
    return SetCookie(
        name=name,
        value=value.strip().strip('"'),
        path=found.get("path"),
        domain=found.get("domain"),
        max_age=max_age,
        expires=found.get("expires"),
        httponly="httponly" in found,
        secure="secure" in found,
        samesite=found.get("samesite"),
    )


def parse_cookie_header(header: str) -> list[tuple[str, str]]:
    """A request Cookie header -> [(name, value)]."""
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            pairs.append((name.strip(), value.strip()))
    return pairs
