"""What a handler sees of one request: the caller, the body, the store, and a way to answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from mmv3.server import gojson, permissions
from mmv3.server.errors import AppError, forbidden, invalid_param

if TYPE_CHECKING:
    from mmv3.catalog import Operation
    from mmv3.server.app import ReferenceServer


_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # made once: json.dumps builds one per call


@dataclass
class Reply:
    """A raw answer (non-JSON bodies, redirects, files); handlers may also return plain data."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    # With status 101: takes over the connection once the 101 is sent (http.py UPGRADE_KEY).
    upgrade: Callable[..., None] | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        return cls(status, _COMPACT_JSON.encode(data).encode())


class Context:
    def __init__(
        self,
        server: ReferenceServer,
        request: Request,
        operation: Operation,
        params: dict[str, str],
        request_id: str,
    ) -> None:
        self.server = server
        self.request = request
        self.operation = operation
        self.params = params
        self.request_id = request_id
        self.store = server.store
        self.config = server.config
        self.session: dict | None = None
        self.user: dict | None = None
        self.token: str | None = None
        self.token_location: str | None = None  # header / cookie / query
        self.headers: list[tuple[str, str]] = []
        self.etag: str | None = None

    # -- faults -------------------------------------------------------------------------
    def fault(self, name: str) -> bool:
        return name in self.server.faults

    # -- request body -------------------------------------------------------------------
    def raw_json(self) -> tuple[Any, bool]:
        """The body's first JSON value as Go's decoder reads it, and whether it decoded at all."""
        return gojson.parse(self.request.get_data(cache=True))

    def model(self, name: str) -> dict:
        """A model body (User, Post) as `<Model>FromJson` decodes it into a nil pointer: malformed
        or null → 400 `Invalid <name> parameter`; any other JSON value that is no object → the
        zero model (Go allocates it before the type error); keys folded as Go matches them."""
        value, ok = self.raw_json()
        if not ok or value is None:
            raise invalid_param(name)
        return gojson.fold(value) if isinstance(value, dict) else {}

    def props(self) -> dict[str, str]:
        """A `map[string]string` body as Go's decoder fills it: null values become "", and any other
        non-string value (or malformed JSON) empties the whole map."""
        value, ok = self.raw_json()
        if not ok or not isinstance(value, dict):
            return {}
        return _strings(value) or {}

    def string_list(self) -> list[str] | None:
        """A `[]string` body as Go's decoder fills it: null elements become ""; None if it does not decode."""
        value, ok = self.raw_json()
        if not ok or not isinstance(value, list):
            return None
        return _strings(value)

    # -- answering ----------------------------------------------------------------------
    def set_header(self, name: str, value: str) -> None:
        self.headers.append((name, value))

    def set_cookie(self, name: str, value: str, max_age: int, *, http_only: bool) -> None:
        expires = formatdate(self.server.clock() + max_age, usegmt=True)
        cookie = f"{name}={value}; Path=/; Expires={expires}; Max-Age={max_age}"
        if http_only:
            cookie += "; HttpOnly"
        if self.request.headers.get("X-Forwarded-Proto", "").lower() == "https":
            cookie += "; Secure"
        self.headers.append(("Set-Cookie", cookie))

    def clear_auth_cookies(self) -> None:
        self.headers.append(("Set-Cookie", "MMAUTHTOKEN=; Path=/; Max-Age=0; HttpOnly"))
        self.headers.append(("Set-Cookie", "MMUSERID=; Path=/; Max-Age=0"))

    # -- permissions --------------------------------------------------------------------
    @property
    def user_id(self) -> str:
        return self.user["id"] if self.user else ""

    @property
    def is_system_admin(self) -> bool:
        return permissions.is_system_admin(self.user)

    def has_system(self, permission: str) -> bool:
        return permissions.has_system(self.user, permission, self.config)

    def require_system(self, permission: str) -> None:
        if not self.has_system(permission):
            raise forbidden()

    def team_member(self, team_id: str, user_id: str | None = None) -> dict | None:
        member = self.store.get("team_members", f"{team_id}:{user_id or self.user_id}")
        return member if member and not member.get("delete_at") else None

    def channel_member(self, channel_id: str, user_id: str | None = None) -> dict | None:
        return self.store.get("channel_members", f"{channel_id}:{user_id or self.user_id}")

    def has_team(self, team_id: str, permission: str) -> bool:
        return permissions.has_team(self.user, self.team_member(team_id), permission, self.config)

    def require_team(self, team_id: str, permission: str) -> None:
        if not self.has_team(team_id, permission):
            raise forbidden()

    def has_channel(self, channel_id: str, permission: str, *, channel: dict | None = None) -> bool:
        """`channel`: the channel's document when the caller has just read it (saves reading it again)."""
        if channel is None:
            channel = self.store.get("channels", channel_id)
        team_member = self.team_member(channel["team_id"]) if channel and channel.get("team_id") else None
        if (
            permission == "read_channel"
            and self.fault("auth-private-channel-open")
            and channel
            and (team_member or not channel.get("team_id"))
        ):
            return True
        return permissions.has_channel(
            self.user, self.channel_member(channel_id), team_member, permission, self.config
        )

    def require_channel(self, channel_id: str, permission: str) -> None:
        if not self.has_channel(channel_id, permission):
            raise forbidden()


__all__ = ["AppError", "Context", "Reply"]


def _strings(values: Any) -> Any:
    """`values` (a dict or list) with null as "" and every value a string, or None if one is not."""
    items = values.items() if isinstance(values, dict) else enumerate(values)
    out = dict(values) if isinstance(values, dict) else list(values)
    for key, value in items:
        if value is None:
            out[key] = ""
        elif not isinstance(value, str):
            return None
    return out
