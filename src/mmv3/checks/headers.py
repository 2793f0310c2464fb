"""headers: X-Request-Id, X-Version-Id, Expires on GETs, the login's Token header and cookie."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mmv3.checks import REQUEST_ID, Probe, check, describe, on_upgrade, target_behaviour
from mmv3.provision import Call

if TYPE_CHECKING:
    from mmv3.catalog import Operation

LOGIN = ("POST", "/api/v3/users/login")
# The parts X-Version-Id may print (schemas/versions.json `behaviour.version_id` names, per release,
# which of them and in what order: `version.build.hash.licensed` from 3.7.1, `version.build.hash` in
# 3.4 ... 3.6.3, `version.modified` up to 3.2).
VERSION_ID_PARTS = {
    "version": r"(?P<version>\d+\.\d+\.\d+)",
    "build": r"(?P<build>.+)",
    "hash": r"(?P<hash>[0-9a-f]{32})",
    "modified": r"(?P<modified>\d+)",
    "licensed": r"(?P<licensed>true|false)",
}
VERSION_ID_SHOWN = {"version": "<version>", "build": "<build>", "hash": "<md5>", "modified": "<config time>",
                    "licensed": "<true|false>"}  # fmt: skip
DEFAULT_VERSION_ID = "version.build.hash.licensed"


def version_id_pattern(form: str) -> re.Pattern[str]:
    """The regex of one X-Version-Id form (`version.build.hash.licensed`)."""
    return re.compile("^" + r"\.".join(VERSION_ID_PARTS[part] for part in form.split(".")) + "$")


VERSION_ID = version_id_pattern(DEFAULT_VERSION_ID)
TOKEN = re.compile(r"^[a-z0-9]{26}$")

# X-Request-Id values seen in this process, with the route that got each: ids must be unique.
_SEEN: dict[str, str] = {}


def _route(op: Operation) -> str:
    return f"{op.method} {op.template}"


@check("headers", severity="normal")
def request_id(op: Operation, probe: Probe) -> list[str]:
    """X-Request-Id is present, 26 lower-case base32 characters, and new for every request."""
    response = probe.success(op)
    if response.status == 101:
        return on_upgrade(response, "X-Request-Id")
    value = response.request_id
    if not value:
        return [f"no X-Request-Id on {describe(response)}"]
    problems = []
    if not REQUEST_ID.match(value):
        problems.append(f"X-Request-Id {value!r} is not 26 lower-case base32 characters")
    previous = _SEEN.get(value)
    if previous is not None and previous != _route(op):
        problems.append(f"X-Request-Id {value} was already sent for {previous}")
    _SEEN.setdefault(value, _route(op))
    return problems


@check("headers", severity="normal")
def version_id(op: Operation, probe: Probe) -> list[str]:
    """X-Version-Id is present, reads `<version>.<build>.<config hash>.<licensed>`, and names the
    version /general/ping reports."""
    response = probe.success(op)
    if response.status == 101:
        return on_upgrade(response, "X-Version-Id")
    value = response.version_id
    if not value:
        return [f"no X-Version-Id on {describe(response)}"]
    forms = sorted(version_id_forms(probe))
    match = next((m for m in (version_id_pattern(f).match(value) for f in forms) if m), None)
    if match is None:
        shown = " or ".join(".".join(VERSION_ID_SHOWN[p] for p in form.split(".")) for form in forms)
        return [f"X-Version-Id {value!r} does not read {shown}"]
    if match["version"] != probe.version:
        return [f"X-Version-Id names version {match['version']}, /general/ping says {probe.version}"]
    return []


def version_id_forms(probe: Probe) -> frozenset[str]:
    """The X-Version-Id forms the target's version prints (the newest form without a profile)."""
    found = target_behaviour(probe, "version_id")
    return frozenset(str(f) for f in found) or frozenset({DEFAULT_VERSION_ID})


def etag_on_304(probe: Probe) -> bool:
    """Whether every release of the target's version repeats the Etag on a 304 (not up to 3.5)."""
    found = target_behaviour(probe, "etag_on_304")
    return not found or all(found)


def _api_get(op: Operation) -> bool:
    return op.method == "GET" and op.auth != "web"


@check("headers", applies=_api_get, severity="minor")
def expires_zero(op: Operation, probe: Probe) -> list[str]:
    """GET answers of API handlers carry `Expires: 0`."""
    response = probe.success(op)
    if response.status == 101:
        return on_upgrade(response, "Expires")
    value = response.headers.get("Expires")
    if value != "0":
        return [f"Expires is {value!r} on {describe(response)}, expected '0'"]
    return []


@check("headers", applies=lambda op: (op.method, op.template) == LOGIN, severity="critical")
def login_token(op: Operation, probe: Probe) -> list[str]:
    """A successful login sends the session token in a `Token` header and an HttpOnly MMAUTHTOKEN
    cookie carrying the same token."""
    response = probe.success(op)
    if response.status != 200:
        return [f"login answered {describe(response)}"]
    problems = []
    token = response.headers.get("Token")
    if not token:
        problems.append("no Token header on a successful login")
    elif not TOKEN.match(token):
        problems.append("the Token header is not a 26-character session token")
    cookie = response.cookies.get("MMAUTHTOKEN")
    if cookie is None:
        problems.append("no MMAUTHTOKEN cookie on a successful login")
    else:
        if not cookie.httponly:
            problems.append("the MMAUTHTOKEN cookie is not HttpOnly")
        if token and cookie.value != token:
            problems.append("the MMAUTHTOKEN cookie does not carry the Token header's token")
    return problems


def _conditional(op: Operation) -> bool:
    return op.method == "GET" and op.etag


# Other workers change the data a list's etag is computed from (new users, posts): an answer that
# carries a newer etag is retried with it, a few times.
_ETAG_ATTEMPTS = 3


@check("headers", applies=_conditional, severity="minor")
def etag(op: Operation, probe: Probe) -> list[str]:
    """Routes with an etag send `Etag` on success and answer 304 with an empty body (repeating the
    Etag, from 3.6) when If-None-Match repeats it; any other If-None-Match gets the full 200."""
    response = probe.success(op)
    if response.status != 200:
        return [f"the success call answered {describe(response)}, so no Etag to test"]
    value = response.headers.get("Etag")
    if not value:
        return [f"no Etag header on {describe(response)}"]
    parts = urlsplit(response.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    role = probe.caller(op)
    other = probe.send(
        Call("GET", path, role=role, headers={"If-None-Match": value + "x"}, label="etag mismatch")
    )
    problems = []
    if other.status != 200:
        problems.append(f"a non-matching If-None-Match got {describe(other)}, expected 200")
    for _ in range(_ETAG_ATTEMPTS):
        again = probe.send(Call("GET", path, role=role, headers={"If-None-Match": value}, label="etag match"))
        newer = again.headers.get("Etag")
        if again.status == 200 and newer and newer != value:
            value = newer  # the data changed in between: ask again with the new etag
            continue
        break
    if again.status != 304:
        problems.append(f"If-None-Match with the current Etag got {describe(again)}, expected 304")
    else:
        if again.content:
            problems.append(f"the 304 answer has a body ({len(again.content)} bytes)")
        if etag_on_304(probe) and again.headers.get("Etag") != value:
            problems.append(f"the 304 answer's Etag is {again.headers.get('Etag')!r}, not {value!r}")
    return problems


CHECKS = [request_id, version_id, expires_zero, login_token, etag]
