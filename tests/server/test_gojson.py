"""`mmv3.server.gojson` against what Go 1.19's encoding/json did with the same inputs
(`var o *T; json.NewDecoder(r).Decode(&o)` for a struct with a string, int64, bool, []string
and map[string]string field; outputs taken from a Go run, not from our code)."""

from __future__ import annotations

import pytest

from mmv3.server import gojson
from mmv3.server.errors import AppError

FIELDS = {"id": gojson.STR, "n": gojson.INT, "b": gojson.BOOL, "l": gojson.STR_LIST, "m": gojson.STR_MAP}
ZERO = {"id": "", "n": 0, "b": False, "l": [], "m": {}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"id":"a","n":5}', {**ZERO, "id": "a", "n": 5}),
        ('{"id":5,"n":"x","b":true}', {**ZERO, "b": True}),
        ("null", None),
        ("[]", ZERO),
        ('"s"', ZERO),
        ('{"id":', None),
        ("", None),
        ('{"ID":"up","Id":"x"}', {**ZERO, "id": "x"}),
        (
            '{"l":["a",1,null],"m":{"a":1,"b":"x","c":null}}',
            {**ZERO, "l": ["a", "", ""], "m": {"a": "", "b": "x", "c": ""}},
        ),
        ('{"n":1.5}', ZERO),
        ('{"n":1e2}', ZERO),
        ('{"n":9223372036854775808}', ZERO),
        ('{"id":"a","id":null}', {**ZERO, "id": "a"}),
        ('{"l":null}', ZERO),
        ('{"id":"a"} trailing', {**ZERO, "id": "a"}),
        ('{"n":5,"l":"x","id":"keep"}', {**ZERO, "n": 5, "id": "keep"}),
        ('{"n":NaN}', None),
    ],
)
def test_structs_decode_as_go_fills_them(text: str, expected: dict | None) -> None:
    raw, ok = gojson.parse(text.encode())
    if expected is None:
        with pytest.raises(AppError):
            gojson.decode_struct(raw, ok, FIELDS, "thing")
    else:
        assert gojson.decode_struct(raw, ok, FIELDS, "thing") == expected


def test_strict_models_are_nil_on_any_error() -> None:
    raw, ok = gojson.parse(b'{"id":5}')
    with pytest.raises(AppError):
        gojson.decode_struct(raw, ok, FIELDS, "reaction", strict=True)
