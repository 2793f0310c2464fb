"""auth: who may call what, for every route of the catalogue.

Session routes refuse a missing, garbage or revoked token with the 401 of an expired session
(a garbage token also clears the auth cookies), and refuse a cookie token without
X-Requested-With unless the route trusts the requester. System-admin and permission-guarded
routes refuse a plain team member with 403 (the recipe says which target makes the member
unprivileged, and where real Mattermost hides the object behind 404 instead); team routes
refuse a non-member with 403. Session-optional routes answer without a token.

The probes of destructive routes name unknown ids, so that a server that wrongly lets a probe
through changes nothing of the run's data.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import replace
from typing import TYPE_CHECKING

from mmv3.checks import (
    PERMISSIONS,
    SESSION_EXPIRED,
    Probe,
    Skip,
    check,
    describe,
    expect_app_error,
    target_behaviour,
)
from mmv3.recipes import PARAMS, UNKNOWN, Refused, Request, build, prepare, recipe_for

if TYPE_CHECKING:
    from mmv3.catalog import Operation
    from mmv3.client import Response
    from mmv3.provision import Call

SESSION_LEVELS = ("session", "session-mfa-exempt", "system_admin")


def needs_session(op: Operation) -> bool:
    return op.auth in SESSION_LEVELS


def probe_call(op: Operation, probe: Probe, role: str, *, label: str, **overrides: object) -> Call:
    """The operation's path with the recipe's own (non-throwaway) parameters, or unknown ids for
    destructive routes; no body. Enough to reach the auth layer, harmless past it."""
    recipe = recipe_for(op.method, op.template)
    params = {}
    if recipe is not None and not recipe.destructive:
        params = {k: v for k, v in recipe.success.params.items() if "fresh" not in v}
    destructive = recipe is not None and recipe.destructive
    for name, value in PARAMS.items():
        # The team stays real: "not a member of this team" must be about the run's team.
        unknown = destructive and name.endswith("id") and name != "team_id"
        if name not in params and ("fresh" in value or unknown):
            params[name] = UNKNOWN
    request = Request(role=role, params=params)
    call = build(probe.world, op.method, op.template, request, {}, label=label)
    return replace(call, **overrides) if overrides else call  # type: ignore[arg-type]


def _garbage_token() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


SESSION_COOKIES = ("MMAUTHTOKEN", "MMUSERID")


def cleared_cookies(probe: Probe) -> tuple[str, ...]:
    """The cookies a refused token clears on the target's version: those every matching release's
    RemoveSessionCookie clears (schemas/versions.json; MMUSERID only from 3.9), else both."""
    found = target_behaviour(probe, "cleared_cookies")
    if not found:
        return SESSION_COOKIES
    common = set.intersection(*(set(str(value).split()) for value in found))
    return tuple(name for name in SESSION_COOKIES if name in common)


def _clears_cookies(response: Response, names: tuple[str, ...] = SESSION_COOKIES) -> list[str]:
    problems = []
    cookies = response.cookies
    for name in names:
        cookie = cookies.get(name)
        if cookie is None:
            problems.append(f"no Set-Cookie clearing {name}")
        elif cookie.value or not (cookie.max_age is not None and cookie.max_age <= 0):
            problems.append(f"the {name} cookie is not cleared (empty value, Max-Age=0)")
    return problems


@check("auth", applies=needs_session, severity="blocker")
def no_token(op: Operation, probe: Probe) -> list[str]:
    """Without a token the route answers 401 api.context.session_expired.app_error."""
    response = probe.send(probe_call(op, probe, "anon", label="no token"))
    return expect_app_error(response, 401, SESSION_EXPIRED)


@check("auth", applies=needs_session, severity="blocker")
def garbage_token(op: Operation, probe: Probe) -> list[str]:
    """An unknown token gets the 401 and Set-Cookie headers clearing MMAUTHTOKEN and MMUSERID (only
    MMAUTHTOKEN before 3.9, whose RemoveSessionCookie clears no other)."""
    # Sent as a plain header: a made-up token is no secret the reports must hide.
    garbage = {"Authorization": f"Bearer {_garbage_token()}"}
    response = probe.send(probe_call(op, probe, "anon", label="garbage token", headers=garbage))
    problems = expect_app_error(response, 401, SESSION_EXPIRED)
    return problems or _clears_cookies(response, cleared_cookies(probe))


def revoked_token(probe: Probe) -> str:
    """A token whose session was logged out (made once per process)."""

    def make() -> str:
        session = probe.world.make_session("user")
        token = session["token"]
        logout = build(probe.world, "POST", "/api/v3/users/logout", Request(role="anon"), {}, label="logout")
        answer = probe.send(replace(logout, token=token))
        if answer.status != 200:
            raise Skip(f"logout answered {describe(answer)}: no revoked token to try")
        return token

    return probe.once("auth.revoked_token", make)


@check("auth", applies=needs_session, severity="blocker")
def revoked(op: Operation, probe: Probe) -> list[str]:
    """The token of a logged-out session gets the 401 of an expired session."""
    token = revoked_token(probe)
    response = probe.send(probe_call(op, probe, "anon", label="revoked token", token=token))
    return expect_app_error(response, 401, SESSION_EXPIRED)


def _csrf_applies(op: Operation) -> bool:
    return needs_session(op) and not op.trusted


@check("auth", applies=_csrf_applies, severity="critical")
def cookie_without_xhr(op: Operation, probe: Probe) -> list[str]:
    """A valid cookie token without X-Requested-With: XMLHttpRequest is refused with 401 (CSRF)."""
    role = "admin" if op.auth == "system_admin" and probe.world.has("admin") else "user"
    token = probe.world.account(role).token
    response = probe.send(
        probe_call(op, probe, "anon", label="cookie token, no X-Requested-With", token=token, cookie=True)
    )
    return expect_app_error(response, 401, SESSION_EXPIRED)


def _refused_applies(op: Operation) -> bool:
    recipe = recipe_for(op.method, op.template)
    return op.auth == "system_admin" or (recipe is not None and recipe.refused is not None)


@check("auth", applies=_refused_applies, severity="critical")
def regular_user_refused(op: Operation, probe: Probe) -> list[str]:
    """A plain team member is refused (403) on system-admin and permission-guarded routes."""
    recipe = recipe_for(op.method, op.template)
    refused = recipe.refused if recipe is not None and recipe.refused is not None else None
    if refused is None:
        response = probe.send(probe_call(op, probe, "member", label="regular user on an admin route"))
        # Up to 3.4 some admin handlers refuse by themselves, with an id of their own.
        return expect_app_error(response, 403, getattr(op, "admin_refusal_id", None) or PERMISSIONS)
    if not probe.world.has(refused.role):
        raise Skip(f"no {refused.role} account in this run")
    extra = prepare(probe.world, refused)
    call = build(probe.world, op.method, op.template, refused, extra, label=f"refused: {refused.why}")
    response = probe.send(call)
    return _refusal(response, refused, op)


def _refusal(response: Response, refused: Refused, op: Operation) -> list[str]:
    what = refused.why or "a caller without the right"
    needs = getattr(op, "requires", None)
    if response.status == 501 and needs and response.app_error is not None:
        # The feature is off, so the server refuses everyone before asking who calls.
        raise Skip(
            f"needs {needs if isinstance(needs, str) else ', '.join(needs)}: answered {describe(response)}"
        )
    return expect_app_error(response, refused.statuses, what=what)


def _team_route(op: Operation) -> bool:
    return needs_session(op) and "{team_id}" in op.template


@check("auth", applies=_team_route, severity="critical")
def non_member_refused(op: Operation, probe: Probe) -> list[str]:
    """A user who is not a member of the team in the path is refused with 403."""
    if not probe.world.has("outsider"):
        raise Skip("no account outside the team in this run")
    response = probe.send(probe_call(op, probe, "outsider", label="not a member of the team"))
    return expect_app_error(response, 403)


def _optional(op: Operation) -> bool:
    return op.auth in ("none", "web")


@check("auth", applies=_optional, severity="normal")
def answers_without_token(op: Operation, probe: Probe) -> list[str]:
    """A session-optional route answers an anonymous caller (no 401 for a missing session)."""
    recipe = recipe_for(op.method, op.template)
    if recipe is not None and recipe.success.role == "anon":
        response = probe.success(op)
    else:
        response = probe.send(probe_call(op, probe, "anon", label="no token on a session-optional route"))
    error = response.app_error
    if response.status == 401 and error is not None and error.id == SESSION_EXPIRED:
        return [f"a session-optional route asked for a session: {describe(response)}"]
    if response.status in (401, 307) and op.auth != "web":
        return [f"an anonymous caller was refused: {describe(response)}"]
    return []


CHECKS = [
    no_token,
    garbage_token,
    revoked,
    cookie_without_xhr,
    regular_user_refused,
    non_member_refused,
    answers_without_token,
]
