"""Conformance checks: plain functions over exchanges, one module per check family.

A `Check` names one rule (`auth.no_token`, `schema.success_body`, ...), says from the
catalogue alone which operations it applies to, and is run as `check.run(operation, probe)`:
it asks the `Probe` for exchanges with the server and returns the problems it found
(an empty list is a pass). The rules themselves -- "this answer is the v3 AppError of a
401" -- are functions over a client `Response` and live here or in the family modules.

Nothing here imports pytest: the pytest plugin (`mmv3.suite`) turns the results into test
outcomes, and other front ends could do the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mmv3 import versions

if TYPE_CHECKING:
    from mmv3.catalog import Operation
    from mmv3.client import Client, Response
    from mmv3.provision import Call, World

FAMILIES: tuple[str, ...] = ("auth", "schema", "errors", "headers", "ratelimit", "security", "invariants")

# What each family's failures are filed under in reports (Allure categories, the matrix).
CATEGORIES: dict[str, str] = {
    "auth": "auth",
    "schema": "schema drift",
    "errors": "error shape",
    "headers": "headers",
    "ratelimit": "rate limit",
    "security": "security",
    "invariants": "invariants",
}
TRANSPORT = "transport"
NOT_IMPLEMENTED = "not implemented"

# The error the reference server answers for routes whose handlers are not written yet.
NOT_IMPLEMENTED_ID = "mmv3.reference_server.not_implemented.app_error"
NOT_IMPLEMENTED_PREFIX = "server does not implement this route"

SESSION_EXPIRED = "api.context.session_expired.app_error"
PERMISSIONS = "api.context.permissions.app_error"
REQUEST_ID = re.compile(r"^[a-z0-9]{26}$")
UNKNOWN_ID = "z" * 26  # a well-formed id that no server will have made


class Skip(Exception):
    """The check cannot run here (missing credentials, feature off); the message says why."""


class Probe(Protocol):
    """What a check may use: the provisioned world, what preflight learnt, and a way to talk to
    the server."""

    world: World
    version: str  # the server version /general/ping reported
    profile_version: str | None  # the version whose profile applies (--mm-version, else `version`)
    ratelimit: str  # "on" (the target must rate-limit), "off", or "auto" (only if it does)
    limited: bool  # whether preflight saw X-Ratelimit-* headers
    limit: int | None  # the X-Ratelimit-Limit preflight saw
    strict: bool  # unknown extra fields are failures, not notes

    def note(self, text: str) -> None:
        """Report something that is not a failure (schema drift outside --mm-strict, ...)."""
        ...

    def send(self, call: Call) -> Response:
        """Send one request as planned and return the whole answer (recorded for the report)."""
        ...

    def success(self, operation: Operation) -> Response:
        """The answer to the operation's success recipe (made once per run and shared)."""
        ...

    def caller(self, operation: Operation) -> str:
        """The role the operation's success recipe calls it as (admin, owner, user, anon, ...)."""
        ...

    def tokens(self) -> dict[str, str]:
        """The session token of each provisioned role."""
        ...

    def client_config(self) -> dict[str, str]:
        """GET /general/client_props, read once."""
        ...

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """`make()` the first time `key` is asked for in this process, the same value after."""
        ...

    def raw_client(self) -> Client:
        """An unpaced client with a pacer of its own, for checks that must exceed the limit."""
        ...

    def record(self, key: str, value: Any) -> None:
        """Keep a figure the check measured about the target (such as the refill rate of its
        rate limiter) for the run's target profile."""
        ...


@dataclass(frozen=True)
class Check:
    """One rule of one family, applied per catalogue operation (or once, for server-wide rules)."""

    family: str
    name: str
    title: str
    run: Callable[[Operation, Probe], list[str]]
    applies: Callable[[Operation], bool] = field(default=lambda op: True)
    severity: str = "normal"  # allure severity: blocker, critical, normal, minor, trivial
    server_wide: bool = False  # run once, on a representative operation

    @property
    def id(self) -> str:
        return f"{self.family}.{self.name}"

    def operations(self, operations: Iterable[Operation]) -> list[Operation]:
        return [op for op in operations if self.applies(op)]


def check(
    family: str,
    *,
    applies: Callable[[Operation], bool] | None = None,
    severity: str = "normal",
    server_wide: bool = False,
) -> Callable[[Callable[[Operation, Probe], list[str]]], Check]:
    """Decorator turning `def name(operation, probe) -> problems` into a Check; the docstring's
    first line is its title."""

    def wrap(func: Callable[[Operation, Probe], list[str]]) -> Check:
        title = (func.__doc__ or func.__name__).strip().splitlines()[0]
        return Check(
            family=family,
            name=func.__name__,
            title=title,
            run=func,
            applies=applies or (lambda op: True),
            severity=severity,
            server_wide=server_wide,
        )

    return wrap


def all_checks() -> list[Check]:
    """Every check of every family, in family order."""
    from mmv3.checks import auth, errors, headers, invariants, ratelimit, schema, security

    modules = {"auth": auth, "schema": schema, "errors": errors, "headers": headers}
    modules |= {"ratelimit": ratelimit, "security": security, "invariants": invariants}
    return [c for family in FAMILIES for c in modules[family].CHECKS]


# ---------------------------------------------------------------------------- shared rules
# A 101 upgrade answer on real servers carries only these: gorilla/websocket writes it on the
# hijacked connection itself, so the headers the handler chain set (X-Request-Id, X-Version-Id,
# Expires, X-Ratelimit-*) never go out.
UPGRADE_HEADERS = ("Upgrade", "Connection", "Sec-WebSocket-Accept")


def on_upgrade(response: Any, *names: str) -> list[str]:
    """For a 101 answer: a problem for each of `names` it carries (real servers send none there)."""
    present = [n for n in names if any(k.lower() == n.lower() for k, _ in response.header_items)]
    return [
        f"{name} on the 101 upgrade answer: real servers send only {', '.join(UPGRADE_HEADERS)} there"
        for name in present
    ]


def target_behaviour(probe: Probe, name: str) -> frozenset:
    """The values of the server-wide behaviour `name` (schemas/versions.json) that the releases of
    the target's version profile have; empty without a profile or where it is not derived."""
    version = getattr(probe, "profile_version", None)
    return versions.profile(version).behaviour(name) if version else frozenset()


def describe(response: Response) -> str:
    """`401 api.context.session_expired.app_error` or `200 application/json`: one short line."""
    if response.app_error is None and not response.content:
        kind = (response.content_type or "no Content-Type").split(";")[0]
        return f"{response.status} (empty body, {kind})"
    return response.brief()


def is_not_implemented(response: Response) -> bool:
    error = response.app_error
    return error is not None and error.id == NOT_IMPLEMENTED_ID


def app_error_shape(response: Response) -> list[str]:
    """How an error answer differs from the v3 AppError: JSON, the five fields, their agreement
    with the status line and X-Request-Id."""
    problems: list[str] = []
    kind = (response.content_type or "").split(";")[0].strip().lower()
    if kind != "application/json":
        problems.append(f"error Content-Type is {response.content_type or 'missing'!s}, not application/json")
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - NotJSONError; the message says what came instead
        shown = response.content[:60].decode("utf-8", errors="replace")
        return [*problems, f"error body is not JSON: {shown!r}"]
    if not isinstance(body, dict):
        return [*problems, f"error body is a JSON {type(body).__name__}, not an AppError object"]
    for name, kind_ in (("id", str), ("message", str), ("detailed_error", str), ("request_id", str)):
        if name not in body:
            problems.append(f"AppError lacks `{name}`")
        elif not isinstance(body[name], kind_):
            problems.append(f"AppError `{name}` is {type(body[name]).__name__}, not a string")
    status = body.get("status_code")
    if "status_code" not in body:
        problems.append("AppError lacks `status_code`")
    elif status != response.status:
        problems.append(f"AppError status_code {status!r} differs from the HTTP status {response.status}")
    request_id = body.get("request_id")
    header_id = response.request_id
    if isinstance(request_id, str) and request_id != (header_id or ""):
        problems.append(
            f"AppError request_id {request_id!r} differs from X-Request-Id {header_id!r}"
            if header_id
            else "AppError carries a request_id but the answer has no X-Request-Id"
        )
    return problems


def expect_app_error(
    response: Response,
    statuses: int | Sequence[int],
    ids: str | Sequence[str] | None = None,
    *,
    what: str = "",
) -> list[str]:
    """The answer is an AppError with one of `statuses` (and one of `ids` when given)."""
    wanted = (statuses,) if isinstance(statuses, int) else tuple(statuses)
    names = (ids,) if isinstance(ids, str) else tuple(ids or ())
    lead = f"{what}: " if what else ""
    error = response.app_error
    expectation = "/".join(map(str, wanted)) + (f" {' or '.join(names)}" if names else "")
    if response.status not in wanted or (names and (error is None or error.id not in names)):
        return [f"{lead}expected {expectation}, got {describe(response)}"]
    if error is None:
        return [f"{lead}expected an AppError body with {response.status}, got {describe(response)}"]
    return []


def expect_success(response: Response, *, what: str = "") -> list[str]:
    lead = f"{what}: " if what else ""
    if response.status >= 400:
        return [f"{lead}expected a success, got {describe(response)}"]
    return []
