"""Request bodies decoded the way Go's encoding/json decodes them in Mattermost 4.9.

Facts (model/*.go at v4.9.0-rc3, and Go's decoder itself):
- `json.NewDecoder(r).Decode(&v)` reads the first JSON value only: leading white space is
  skipped and whatever follows the value is never read. An empty body, a syntax error, NaN or
  Infinity is an error before anything is filled.
- Most `<Model>FromJson` decode into a nil pointer and ignore the error (`var o *T;
  Decode(&o); return o`). A syntax error or `null` leaves the pointer nil: the handler answers
  "Invalid <model> parameter". Anything else allocates the struct and fills what fits: a field
  whose JSON type is wrong keeps its value (zero), a body that is not an object gives the zero
  struct. Keys match fields case-insensitively (an exact match first), unknown keys are
  ignored, a later key wins, and `null` leaves a scalar field as it was and empties a slice or
  map. A few models (`ReactionFromJson`, `PreferencesFromJson`, …) return nil on any error:
  `strict=True`.
- `map[string]string` and `[]string` bodies (MapFromJson, ArrayFromJson): a null value is "",
  any other wrong type fails the whole body (see `Context.props`, `Context.string_list`).
"""

from __future__ import annotations

import json
from typing import Any

from mmv3.server.errors import invalid_param

STR, INT, BOOL, STR_MAP, STR_LIST = "string", "int", "bool", "map[string]string", "[]string"
_INT64 = (-(2**63), 2**63 - 1)
_GO_SPACE = " \t\r\n"


class GoObject(dict):
    """A decoded JSON object that also keeps its key/value pairs in order, duplicates included."""

    pairs: list[tuple[str, Any]]


def _object(pairs: list[tuple[str, Any]]) -> GoObject:
    obj = GoObject(pairs)
    obj.pairs = pairs
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_no_constant)


def parse(data: bytes | str) -> tuple[Any, bool]:
    """The first JSON value of `data` as Go's Decoder reads it, and whether it decoded at all."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_GO_SPACE))
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None, False
    return value, True


def fold(value: Any) -> Any:
    """An object's keys as they reach a struct whose JSON names are all lower case (every 4.9
    model): matched case-insensitively, a later key winning; anything else unchanged."""
    if not isinstance(value, dict):
        return value
    pairs = getattr(value, "pairs", None) or list(value.items())
    return _object([(key.lower(), item) for key, item in pairs])


def zero(kind: str) -> Any:
    return {STR: "", INT: 0, BOOL: False, STR_MAP: {}, STR_LIST: []}[kind]


def _field(value: Any, kind: str, current: Any) -> tuple[Any, bool]:
    """The field's value after decoding `value` into it, and whether the JSON type fitted."""
    if value is None:
        return (zero(kind) if kind in (STR_MAP, STR_LIST) else current), True
    if kind == STR:
        return (value, True) if isinstance(value, str) else (current, False)
    if kind == INT:
        fits = isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]
        return (value, True) if fits else (current, False)
    if kind == BOOL:
        return (value, True) if isinstance(value, bool) else (current, False)
    if kind == STR_MAP and isinstance(value, dict):
        merged = dict(current)  # Go decodes into the map it already has
        for key, item in value.items():
            merged[key] = item if isinstance(item, str) else ""
        return merged, all(item is None or isinstance(item, str) for item in value.values())
    if kind == STR_LIST and isinstance(value, list):
        return [item if isinstance(item, str) else "" for item in value], all(
            item is None or isinstance(item, str) for item in value
        )
    return current, False


def decode_struct(
    raw: Any, ok: bool, fields: dict[str, str], model: str, *, strict: bool = False
) -> dict[str, Any]:
    """The struct `fields` (JSON name → kind) as `<Model>FromJson` fills it from the decoded body
    `raw`; "Invalid <model> parameter" where the model would be nil."""
    if not ok or raw is None:
        raise invalid_param(model)
    out = {name: zero(kind) for name, kind in fields.items()}
    if not isinstance(raw, dict):
        if strict:
            raise invalid_param(model)
        return out
    folded = {name.lower(): name for name in reversed(list(fields))}
    fitted = True
    for key, value in getattr(raw, "pairs", None) or raw.items():
        name = key if key in fields else folded.get(key.lower())
        if name is None:
            continue
        out[name], fits = _field(value, fields[name], out[name])
        fitted = fitted and fits
    if strict and not fitted:
        raise invalid_param(model)
    return out
