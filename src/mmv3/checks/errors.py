"""errors: bad input is refused with a 4xx AppError of the right shape; unknown routes and wrong
methods get Mattermost's catch-all 404 (text/plain, JSON body, no request id).

The AppError shape: JSON (application/json) with id, message, detailed_error, request_id equal
to the X-Request-Id header, and status_code equal to the HTTP status.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from mmv3.catalog import load_catalog
from mmv3.checks import Probe, Skip, app_error_shape, check, describe
from mmv3.checks.auth import probe_call
from mmv3.checks.schema import requires
from mmv3.provision import Call
from mmv3.recipes import build, prepare, recipe_for

if TYPE_CHECKING:
    from mmv3.catalog import Operation
    from mmv3.client import Response

NOT_FOUND_ID = "api.context.404.app_error"
PING = ("GET", "/api/v3/general/ping")


@check("errors", severity="normal")
def bad_input(op: Operation, probe: Probe) -> list[str]:
    """A request with bad input (unknown id, malformed JSON, missing or invalid field) is refused
    with a 4xx AppError whose fields agree with the answer."""
    recipe = recipe_for(op.method, op.template)
    if recipe is None:
        raise Skip("no recipe for this route")
    bad = recipe.bad
    if bad is None:
        raise Skip(f"no bad input applies: {recipe.no_bad or 'takes no input'}")
    role = bad.role or recipe.success.role
    if role not in ("anon", "fresh") and not probe.world.has(role):
        raise Skip(f"needs the {role} account, which this run does not have")
    extra = prepare(probe.world, bad)
    call = build(
        probe.world, op.method, op.template, bad, extra, default_role=role, label=f"bad input: {bad.kind}"
    )
    response = probe.send(call)
    needs = requires(op)
    if response.status == 501 and needs and response.app_error is not None:
        # The feature is off: the server refuses before looking at the input.
        probe.note(f"needs {', '.join(needs)}: answered {describe(response)}")
        return [f"501 answer: {p}" for p in app_error_shape(response)]
    if bad.statuses:
        if response.status not in bad.statuses:
            wanted = "/".join(map(str, bad.statuses))
            return [f"{bad.kind}: expected an AppError with {wanted}, got {describe(response)}"]
        if response.status >= 500:
            probe.note(bad.note or f"answered {describe(response)}")
    elif not 400 <= response.status < 500:
        return [f"{bad.kind}: expected a 4xx AppError, got {describe(response)}"]
    return [f"{bad.kind}: {p}" for p in app_error_shape(response)]


def catch_all_404(response: Response, path: str) -> list[str]:
    """Mattermost's catch-all: 404, text/plain, a JSON AppError body without request id."""
    problems = []
    if response.status != 404:
        return [f"{path}: expected the catch-all 404, got {describe(response)}"]
    kind = (response.content_type or "").split(";")[0].strip().lower()
    if kind != "text/plain":
        problems.append(
            f"{path}: catch-all 404 Content-Type is {response.content_type or 'missing'}, not text/plain"
        )
    try:
        body = json.loads(response.content.decode("utf-8"))
    except ValueError:
        return [*problems, f"{path}: catch-all 404 body is not JSON: {response.content[:60]!r}"]
    if not isinstance(body, dict) or body.get("id") != NOT_FOUND_ID:
        problems.append(f"{path}: catch-all 404 body has no id {NOT_FOUND_ID}")
    elif body.get("status_code") != 404:
        problems.append(f"{path}: catch-all 404 body has status_code {body.get('status_code')!r}")
    if response.request_id:
        problems.append(f"{path}: the catch-all 404 carries an X-Request-Id (no handler ran)")
    if isinstance(body, dict) and body.get("request_id"):
        problems.append(f"{path}: the catch-all 404 body carries a request_id")
    return problems


@check("errors", applies=lambda op: (op.method, op.template) == PING, severity="normal", server_wide=True)
def unknown_route(op: Operation, probe: Probe) -> list[str]:
    """An unknown route under /api/v3 gets the catch-all 404."""
    path = f"/api/v3/{probe.world.prefix}/no_such_route"
    return catch_all_404(probe.send(Call("GET", path, role="user", label="unknown route")), path)


def _other_method(op: Operation) -> str:
    return "POST" if op.method == "GET" else "GET"


@check("errors", applies=lambda op: op.auth != "web", severity="minor")
def wrong_method(op: Operation, probe: Probe) -> list[str]:
    """The route's path with the other method (GET for POST, POST for GET) gets the catch-all 404,
    never 405."""
    call = probe_call(op, probe, "user", label="wrong method")
    other = _other_method(op)
    served = load_catalog().match(other, call.path)
    if served is not None:
        raise Skip(f"{other} on this path is served by {served[0].key}")
    return catch_all_404(probe.send(replace(call, method=other)), f"{other} {call.path}")


CHECKS = [bad_input, unknown_route, wrong_method]
