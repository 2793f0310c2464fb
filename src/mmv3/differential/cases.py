"""The request sequences the differential runner sends to both servers.

For every catalogue route with a recipe (`mmv3.recipes`): `ok` (the successful call),
`no_token` (the same without a session, for routes that need one), `bad_input` (the recipe's
refused input) and `forbidden` (the recipe's caller without the right). Routes with a JSON body get the Go-decoding edge cases built from the
successful call's body: `null_values`, `wrong_types`, `unknown_field`, `duplicate_keys`,
`case_keys`, `long_strings`, `unicode`, `number_overflow`, `array_for_object`, `trailing_data`,
`empty_body`, and for array bodies `null_item` and `wrong_item`;
routes with query parameters get `query_empty` and `query_unknown`; form routes `form_extra`.
`--fuzz N` adds N seeded mutations per object body (`fuzz_1`…): edge values of every JSON type
in about half of the fields.

Variants are sent only where they cannot change the server beyond the run's own objects: never
to a system-admin route that writes (its config, its caches, its licence), never to a route that
holds its answer by design (`x-mmv3-slow`), never to the user's own profile and password.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from mmv3.catalog import Catalog, Operation
from mmv3.provision import NO_BODY, Call
from mmv3.recipes import RECIPES, Recipe, Request

# Routes whose variants could change what other users of a shared server see.
NO_VARIANTS = frozenset({
    "POST /api/v3/users/update", "POST /api/v3/users/update_notify", "POST /api/v3/users/newpassword",
    "POST /api/v3/users/{user_id}/update_roles", "POST /api/v3/users/update_active",
    "POST /api/v3/users/login", "POST /api/v3/users/logout",
    # the run's own team: a variant one server takes and the other refuses would make them diverge
    "POST /api/v3/teams/{team_id}/update",
})  # fmt: skip

Transform = Callable[[Call], Call | None]


@dataclass(frozen=True)
class Case:
    route: str  # "METHOD /template"
    name: str  # ok, no_token, bad_input, null_values, ...
    request: Request
    default_role: str = "user"
    transform: Transform | None = None  # applied to the built Call; None from it: does not apply

    @property
    def key(self) -> str:
        return f"{self.route} {self.name}"


def _raw(call: Call, text: str, content_type: str = "application/json") -> Call:
    headers = {**(call.headers or {}), "Content-Type": content_type}
    return replace(call, json=NO_BODY, data=text.encode("utf-8"), headers=headers)


def _wrong(value: Any) -> Any:
    if isinstance(value, bool):
        return "true"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return "mmv3"
    if isinstance(value, dict):
        return 7
    return "mmv3"


def _object_variant(build: Callable[[dict], str | None]) -> Transform:
    def transform(call: Call) -> Call | None:
        if not isinstance(call.json, dict) or not call.json:
            return None
        text = build(call.json)
        return None if text is None else _raw(call, text)

    return transform


def _list_variant(extra: Any) -> Transform:
    def transform(call: Call) -> Call | None:
        if not isinstance(call.json, list):
            return None
        return _raw(call, json.dumps([*call.json, extra]))

    return transform


def _strings(body: dict, change: Callable[[str], str]) -> str:
    return json.dumps({k: change(v) if isinstance(v, str) else v for k, v in body.items()})


def _numbers(body: dict) -> str | None:
    if not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in body.values()):
        return None
    return json.dumps({k: 2**63 if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                       for k, v in body.items()})  # fmt: skip


def _duplicate(body: dict) -> str:
    first = next(iter(body))
    rest = json.dumps(body)[1:]
    return "{" + json.dumps(first) + ': "mmv3-earlier",' + rest  # the later key wins in Go


def _any_body(call: Call) -> bool:
    return call.json is not NO_BODY


BODY_VARIANTS: dict[str, Transform] = {
    "null_values": _object_variant(lambda b: json.dumps(dict.fromkeys(b))),
    "wrong_types": _object_variant(lambda b: json.dumps({k: _wrong(v) for k, v in b.items()})),
    "unknown_field": _object_variant(lambda b: json.dumps({**b, "mmv3_unknown": {"x": [1, None]}})),
    "duplicate_keys": _object_variant(_duplicate),
    "case_keys": _object_variant(lambda b: json.dumps({k.upper(): v for k, v in b.items()})),
    "long_strings": _object_variant(lambda b: _strings(b, lambda v: v + "x" * 300)),
    "unicode": _object_variant(lambda b: _strings(b, lambda v: v + " ünï✓日本\u2028")),
    "number_overflow": _object_variant(_numbers),
    "array_for_object": _object_variant(lambda b: "[]"),
    "trailing_data": lambda c: (
        _raw(c, json.dumps(c.json) + ' {"mmv3": "trailing"}') if _any_body(c) else None
    ),
    "empty_body": lambda c: _raw(c, "") if _any_body(c) else None,
    "null_item": _list_variant(None),
    "wrong_item": _list_variant(5),
}


def _query_empty(call: Call) -> Call | None:
    return replace(call, query=dict.fromkeys(call.query, "")) if call.query else None


def _query_unknown(call: Call) -> Call | None:
    if call.method != "GET":
        return None
    return replace(call, query={**(call.query or {}), "mmv3_unknown": "1"})


def _form_extra(call: Call) -> Call | None:
    if not isinstance(call.data, dict):
        return None
    return replace(call, data={**call.data, "mmv3_unknown": "x"})


OTHER_VARIANTS: dict[str, Transform] = {
    "query_empty": _query_empty,
    "query_unknown": _query_unknown,
    "form_extra": _form_extra,
}


# Values a fuzz case puts into a field: Go's edge cases for each JSON type.
FUZZ_VALUES: tuple[object, ...] = (
    None,
    "",
    " ",
    "x" * 65,
    "x" * 5000,
    "ünï✓日本\u2028\u0000",
    "<script>",
    "%00",
    "../..",
    0,
    -1,
    1.5,
    2**31,
    2**63,
    -(2**63) - 1,
    1e308,
    True,
    False,
    [],
    [None],
    ["a", 5],
    {},
    {"a": None},
    "null",
    "true",
    "0",
)


def fuzz_variant(number: int) -> Transform:
    """The `number`th seeded mutation of an object body: about half of its fields get an edge
    value of some JSON type; the same for every server (the seed is the route and number)."""

    def transform(call: Call) -> Call | None:
        if not isinstance(call.json, dict) or not call.json:
            return None
        rng = random.Random(zlib.crc32(f"{call.method} {call.label} {number}".encode()))
        body = {k: rng.choice(FUZZ_VALUES) if rng.random() < 0.5 else v for k, v in call.json.items()}
        if body == call.json:
            body[rng.choice(list(body))] = rng.choice(FUZZ_VALUES)
        return _raw(call, json.dumps(body))

    return transform


def variants_allowed(operation: Operation, recipe: Recipe) -> bool:
    route = f"{operation.method} {operation.template}"
    if route in NO_VARIANTS or operation.slow_timeout is not None:
        return False
    if operation.auth == "system_admin" and operation.method != "GET":
        return False
    return recipe.success.statuses != (101,)


def cases_for(operation: Operation, fuzz: int = 0) -> Iterator[Case]:
    route = f"{operation.method} {operation.template}"
    recipe = RECIPES.get(route)
    if recipe is None:
        return
    success = recipe.success
    yield Case(route, "ok", success)
    if operation.auth != "none" and success.role != "anon":
        yield Case(route, "no_token", replace(success, role="anon"))
    if recipe.bad is not None:
        yield Case(route, "bad_input", recipe.bad, default_role=success.role or "user")
    if recipe.refused is not None:
        yield Case(route, "forbidden", recipe.refused)
    if not variants_allowed(operation, recipe):
        return
    names = applicable(operation, success)
    for name in names:
        yield Case(route, name, success, transform={**BODY_VARIANTS, **OTHER_VARIANTS}[name])
    if "null_values" in names:  # an object body
        for number in range(1, fuzz + 1):
            yield Case(route, f"fuzz_{number}", success, transform=fuzz_variant(number))


def applicable(operation: Operation, request: Request) -> list[str]:
    """The variants that apply to a request, known from its template before anything is made."""
    body = request.body
    names = []
    if isinstance(body, dict) or (isinstance(body, str) and body.startswith("{")):
        names += [
            "null_values",
            "wrong_types",
            "unknown_field",
            "duplicate_keys",
            "case_keys",
            "long_strings",
            "unicode",
            "number_overflow",
            "array_for_object",
        ]
    if isinstance(body, list):
        names += ["null_item", "wrong_item"]
    if body is not NO_BODY:
        names += ["trailing_data", "empty_body"]
    if request.query:
        names.append("query_empty")
    if operation.method == "GET":
        names.append("query_unknown")
    if request.form is not None and not request.files:
        names.append("form_extra")
    return names


def generate(catalog: Catalog, only: str = "", fuzz: int = 0) -> list[Case]:
    """Every case of every catalogue route (whose "METHOD /template" contains `only`), in
    catalogue order, as both servers receive them; `fuzz` seeded mutations per object body."""
    out = []
    for operation in catalog.operations:
        if only and only not in f"{operation.method} {operation.template}":
            continue
        out.extend(cases_for(operation, fuzz))
    return out
