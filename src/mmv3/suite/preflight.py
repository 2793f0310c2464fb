"""Before any test: is the target reachable, does it speak v3, do the credentials work, does
it rate-limit? Each failure is one line and its own exit status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mmv3.checks import describe
from mmv3.checks.headers import DEFAULT_VERSION_ID, version_id_pattern
from mmv3.client import Client, ClientError, ServerTimeout, ServerUnreachable
from mmv3.provision import World, sign_in
from mmv3.ratelimit import Observed

VERSION_ID = version_id_pattern(DEFAULT_VERSION_ID)
# Older releases print fewer parts (schemas/versions.json `behaviour.version_id`): tried in turn.
VERSION_ID_FORMS = tuple(
    version_id_pattern(form)
    for form in (DEFAULT_VERSION_ID, "version.build.hash", "version.hash", "version.modified")
)


class ExitCode(enum.IntEnum):
    """Exit statuses beyond pytest's own 0-5 (documented in the README)."""

    UNREACHABLE = 10  # connection refused / reset / unknown host
    TIMEOUT = 11  # no answer in time
    NOT_V3 = 12  # answers, but not as a Mattermost v3 server (HTML, garbage, 404, v3 disabled)
    CREDENTIALS = 13  # login refused, or the admin is not a system admin
    PROVISIONING = 14  # the test data could not be created
    EMBEDDED = 15  # the embedded reference server did not start
    NOTHING_JUDGED = 16  # every selected check skipped: the run judged nothing (mmv3.suite.judged)


class PreflightError(Exception):
    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServerFacts:
    """What preflight learnt about the target."""

    base_url: str
    version: str  # from /general/ping
    version_id: str | None  # X-Version-Id as sent
    build: str | None
    licensed: bool | None
    ratelimited: bool
    limit: int | None
    reset: int | None

    def as_environment(self) -> dict[str, str]:
        out = {"Target": self.base_url, "Server version": self.version}
        if self.build:
            out["Build"] = self.build
        if self.licensed is not None:
            out["Licensed"] = str(self.licensed).lower()
        if self.ratelimited:
            out["Rate limiting"] = (
                f"on (X-Ratelimit-Limit {self.limit}, Reset {self.reset} s on a fresh bucket)"
            )
        else:
            out["Rate limiting"] = "off (no X-Ratelimit-* headers)"
        return out


def parse_version_id(value: str | None) -> dict[str, str] | None:
    for pattern in VERSION_ID_FORMS:
        match = pattern.match(value or "")
        if match:
            return match.groupdict()
    return None


def _transport(exc: ClientError, base_url: str) -> PreflightError:
    where = f"{getattr(exc, 'method', '')} {getattr(exc, 'url', base_url)}".strip()
    if isinstance(exc, ServerTimeout):
        limit = exc.timeout[-1] if isinstance(exc.timeout, tuple) else exc.timeout
        return PreflightError(
            ExitCode.TIMEOUT, f"{base_url} did not answer in time ({limit:g} s for {where})"
        )
    if isinstance(exc, ServerUnreachable):
        return PreflightError(ExitCode.UNREACHABLE, f"cannot reach {base_url}: {exc.reason} ({where})")
    return PreflightError(ExitCode.UNREACHABLE, f"cannot talk to {base_url}: {exc}")


def check_server(client: Client) -> ServerFacts:
    """GET /general/ping: reachable, JSON, a version; X-Version-Id and rate-limit headers read."""
    base = client.base_url
    try:
        response = client.get("general/ping", auth=False)
    except ClientError as exc:
        raise _transport(exc, base) from None
    error = response.app_error
    if error is not None and error.id == "api.context.v3_disabled.app_error":
        raise PreflightError(ExitCode.NOT_V3, f"{base} has API v3 switched off (ServiceSettings.EnableAPIv3)")
    if response.status != 200:
        raise PreflightError(
            ExitCode.NOT_V3,
            f"{base} does not speak Mattermost API v3: GET /api/v3/general/ping answered {describe(response)}",
        )
    try:
        body = response.json()
    except ClientError:
        shown = response.content[:40].decode("utf-8", errors="replace")
        raise PreflightError(
            ExitCode.NOT_V3,
            f"{base} does not speak Mattermost API v3: /api/v3/general/ping is not JSON "
            f"({response.content_type or 'no Content-Type'}: {shown!r})",
        ) from None
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str) or not version:
        raise PreflightError(
            ExitCode.NOT_V3, f"{base} does not speak Mattermost API v3: /api/v3/general/ping has no version"
        )
    parsed = parse_version_id(response.version_id)
    observed = Observed.from_headers(response.headers)
    licensed = (parsed["licensed"] == "true") if parsed and "licensed" in parsed else _licensed(client)
    return ServerFacts(
        base_url=base,
        version=version,
        version_id=response.version_id,
        build=parsed.get("build") if parsed else None,
        licensed=licensed,
        ratelimited=observed.present,
        limit=observed.limit,
        reset=observed.reset,
    )


def _licensed(client: Client) -> bool | None:
    """`IsLicensed` of the client config, when X-Version-Id did not say (None when unreadable)."""
    try:
        response = client.get("general/client_props", auth=False)
        body = response.json() if response.status == 200 else None
    except ClientError:
        return None
    value = body.get("IsLicensed") if isinstance(body, dict) else None
    return value == "true" if value in ("true", "false") else None


def login(client: Client, login_id: str, password: str, *, role: str, admin: bool = False) -> dict:
    """Log `client` in; the user object. Exit 13 with the server's reason when refused."""
    try:
        response = sign_in(client, login_id, password)
    except ClientError as exc:
        raise _transport(exc, client.base_url) from None
    if response.status != 200:
        error = response.app_error
        reason = f"{error.id}" if error else describe(response)
        raise PreflightError(ExitCode.CREDENTIALS, f"login of the {role} {login_id!r} was refused: {reason}")
    try:
        user = response.json()
    except ClientError:
        user = None
    if not isinstance(user, dict) or not client.token:
        missing = (
            "no user object" if not isinstance(user, dict) else "no session token (no Token header or cookie)"
        )
        raise PreflightError(ExitCode.NOT_V3, f"login of the {role} {login_id!r} answered 200 with {missing}")
    if admin and "system_admin" not in str(user.get("roles", "")).split():
        raise PreflightError(ExitCode.CREDENTIALS, f"the {role} {login_id!r} is not a system admin")
    return user


def log_in_accounts(world: World, accounts: dict[str, tuple[str | None, str | None]]) -> None:
    """Log in each role's account (role -> (login, password); roles without both are left out)
    on a client of its own, and give it to `world`. PreflightError as `login` raises it."""
    for role, (login_id, secret) in accounts.items():
        if login_id and secret:
            client_of_role = world.root.with_token(None)
            account = login(client_of_role, login_id, secret, role=role, admin=role == "admin")
            world.add_account(role, account, secret, client_of_role)
