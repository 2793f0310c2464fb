"""An answer reduced to what two servers must agree on, and the comparison of two of them.

What legitimately differs between two servers holding different data is dropped: values (ids,
timestamps, tokens, request ids, generated names, counts), list lengths, the keys of maps keyed
by ids, and the headers that carry such values only (Date, Content-Length, rate limiting,
hop-by-hop). What is kept: the status, the Content-Type, the set of header names, the AppError's
id and status_code, and the body's shape (JSON types, the field set of every object, the element
shape of lists merged over all elements). A short non-JSON body is kept as text with ids and
numbers masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ID = re.compile(r"^[a-z0-9]{26}$")
_ID_IN_TEXT = re.compile(r"[a-z0-9]{26}")
_NUMBER_IN_TEXT = re.compile(r"\d+")
_TOKEN_IN_TEXT = re.compile(r"[A-Za-z0-9_+/=-]{20,}")  # signatures, tokens: base64 and the like
# Headers whose presence depends on the data or the connection, not on the server's rules.
IGNORED_HEADERS = frozenset({
    "date", "content-length", "connection", "keep-alive", "transfer-encoding", "x-ratelimit-limit",
    "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after", "server",
})  # fmt: skip
# Fields 4.9 leaves out when empty (`omitempty` in model/*.go at v4.9.0-rc3): whether they are
# there depends on the data, so only their type is compared, where both answers have them.
OMITEMPTY = frozenset(
    """
actions allow_marketing auth_data auth_service backend context create_at d data description ecdsa_key
email_verified error failed_attempts file_ids filenames has_preview_image has_reactions height integration
is_oauth last_activity_at last_password_update last_picture_update last_team_icon_update message_source
mfa_active mfa_secret name notify_props options out_of_channel password post_id props regenerate_help_text
request_id seq_reply settings_schema status_code stun_uri token turn_password turn_uri turn_username
update_at url webapp width
""".split()
)
# Fields that are Go maps (StringMap, StringInterface, map[string]…): their keys are data.
MAP_FIELDS = frozenset(
    """
client_cfg context counts data invites last_viewed_at_times license_cfg notify_props omit_users posts
props timezone update_times
""".split()
)
SHORT_TEXT = 200  # non-JSON bodies up to this length are compared as (masked) text

# A shape is a string for scalars ("string", "number", "bool", "null", unions "null|string"),
# {"object": {field: shape}}, {"map": shape-or-None} for objects keyed by ids, and
# {"list": shape-or-None} (None: no element seen, which matches any list).


def shape_of(value: Any, field: str = "") -> Any:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return {"list": _merge_all([shape_of(v) for v in value])}
    if isinstance(value, dict):
        if field in MAP_FIELDS or (value and all(ID.match(k) or not k for k in value)):
            return {"map": _merge_all([shape_of(v) for v in value.values()])}
        if not value:
            return {"map": None}  # an empty object: as likely an empty id map as anything
        return {"object": {k: shape_of(v, k) for k, v in sorted(value.items())}}
    return type(value).__name__


def _merge_all(shapes: list[Any]) -> Any:
    merged = None
    for item in shapes:
        merged = merge(merged, item)
    return merged


def merge(a: Any, b: Any) -> Any:
    """The shape that describes values of shape `a` and of shape `b` (list elements)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, str) and isinstance(b, str):
        return "|".join(sorted(set(a.split("|")) | set(b.split("|"))))
    if isinstance(a, str) != isinstance(b, str):  # a container and a scalar (null: a nil slice/map)
        container, scalar = (b, a) if isinstance(a, str) else (a, b)
        return container if scalar == "null" else f"{_name(container)}|{scalar}"
    if isinstance(a, dict) and isinstance(b, dict):
        (ka, va), (kb, vb) = next(iter(a.items())), next(iter(b.items()))
        if ka == kb == "object":
            fields = {k: merge(va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb))}
            return {"object": fields}
        if ka == kb:
            return {ka: merge(va, vb)}
        if {ka, kb} == {"object", "map"}:
            return a if ka == "object" and vb is None else b if kb == "object" and va is None else a
    return a if a == b else f"{_name(a)}|{_name(b)}"


def _name(shape: Any) -> str:
    return shape if isinstance(shape, str) else next(iter(shape))


@dataclass
class Observation:
    """One answer, normalised."""

    status: int
    content_type: str
    headers: list[str]
    error_id: str | None
    error_status: int | None
    body: Any  # a shape, or {"text": masked text}, or {"bytes": "..."}

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "content_type": self.content_type, "headers": self.headers,
            "error_id": self.error_id, "error_status": self.error_status, "body": self.body,
        }  # fmt: skip


def observe(status: int, headers: list[tuple[str, str]] | dict[str, str], content: bytes) -> Observation:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    content_type = next((v for k, v in items if k.lower() == "content-type"), "")
    names = sorted({k.title() for k, _ in items if k.lower() not in IGNORED_HEADERS})
    error_id = error_status = None
    try:
        value = json.loads(content.decode("utf-8")) if content.strip() else None
        parsed = bool(content.strip())
    except (UnicodeDecodeError, ValueError):
        value, parsed = None, False
    if parsed:
        if isinstance(value, dict) and isinstance(value.get("id"), str) and "status_code" in value:
            error_id, error_status = value["id"], value.get("status_code")
        body: Any = shape_of(value)
    elif not content:
        body = {"empty": True}
    else:
        text = content.decode("utf-8", errors="replace")
        if len(text) <= SHORT_TEXT:
            body = {"text": mask(text)}
        else:
            body = {"bytes": "long"}
    return Observation(status, content_type, names, error_id, error_status, body)


def mask(text: str) -> str:
    """Text with its ids, tokens and numbers replaced by ID, TOKEN and N."""
    return _NUMBER_IN_TEXT.sub("N", _TOKEN_IN_TEXT.sub("TOKEN", _ID_IN_TEXT.sub("ID", text)))


def keys(value: Any) -> list[str]:
    """The sorted keys of an object, ids among them as one "ID"."""
    return sorted({"ID" if ID.match(k) else k for k in value}) if isinstance(value, dict) else []


def _shape_differences(path: str, a: Any, b: Any, out: list[str]) -> None:
    if a is None or b is None:  # an empty list or map on one side: nothing to compare
        return
    if isinstance(a, str) and isinstance(b, str):
        if not set(a.split("|")) & set(b.split("|")):
            out.append(f"{path or 'body'} type {a} ≠ {b}")
        return
    if isinstance(a, dict) and isinstance(b, dict) and len(a) == 1 and len(b) == 1:
        (ka, va), (kb, vb) = next(iter(a.items())), next(iter(b.items()))
        if ka == kb == "object":
            only_a = sorted(set(va) - set(vb) - OMITEMPTY)
            only_b = sorted(set(vb) - set(va) - OMITEMPTY)
            if only_a or only_b:
                out.append(
                    f"{path or 'body'} fields: only real {only_a or '[]'}, only serve {only_b or '[]'}"
                )
            for key in sorted(set(va) & set(vb)):
                _shape_differences(f"{path}.{key}" if path else key, va[key], vb[key], out)
            return
        if ka == kb and ka in ("list", "map"):
            _shape_differences(f"{path}[]" if ka == "list" else f"{path}{{}}", va, vb, out)
            return
        if {ka, kb} == {"object", "map"} and (va is None or vb is None):
            return
    if a != b:
        out.append(f"{path or 'body'} {_name(a)} ≠ {_name(b)}")


def compare(real: Observation, serve: Observation) -> list[str]:
    """What differs between the real answer and serve's, one short phrase each (empty: the same)."""
    out: list[str] = []
    if real.status != serve.status:
        out.append(f"status {real.status} ≠ {serve.status}")
    if real.content_type != serve.content_type:
        out.append(f"content type {real.content_type or '-'} ≠ {serve.content_type or '-'}")
    if real.error_id != serve.error_id or real.error_status != serve.error_status:
        out.append(f"error {real.error_id}/{real.error_status} ≠ {serve.error_id}/{serve.error_status}")
    if real.headers != serve.headers:
        only_real = sorted(set(real.headers) - set(serve.headers))
        only_serve = sorted(set(serve.headers) - set(real.headers))
        out.append(f"headers: only real {only_real or '[]'}, only serve {only_serve or '[]'}")
    _shape_differences("", real.body, serve.body, out)
    return out
