"""Model bodies decoded the way Go's encoding/json fills a struct.

`TeamFromJson`/`ChannelFromJson` in 4.9 return nil when decoding fails, so a body that is not
an object, or whose known field has the wrong JSON type, is answered "Invalid <model> parameter".
`null` (the whole body or one field) decodes to zero values, unknown keys are ignored.
"""

from __future__ import annotations

from typing import Any

from mmv3.server.errors import invalid_param

STR, INT, BOOL, STR_MAP = "string", "int", "bool", "map[string]string"
_ZERO: dict[str, Any] = {STR: "", INT: 0, BOOL: False}


def _fits(value: Any, kind: str) -> bool:
    if kind == STR:
        return isinstance(value, str)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == BOOL:
        return isinstance(value, bool)
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def decode_struct(raw: Any, ok: bool, fields: dict[str, str], model: str) -> dict[str, Any]:
    """The struct `fields` (name → kind) as Go would fill it from the decoded body `raw`."""
    if not ok or not (raw is None or isinstance(raw, dict)):
        raise invalid_param(model)
    body = raw or {}
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        value = body.get(name)
        if value is None:
            out[name] = dict() if kind == STR_MAP else _ZERO[kind]
        elif _fits(value, kind):
            out[name] = dict(value) if kind == STR_MAP else value
        else:
            raise invalid_param(model)
    return out
