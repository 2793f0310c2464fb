"""The embedded default target: the reference server in this process, on a free port, with an
in-memory database, rate limiting on, and its first two accounts made by the suite.

The first account ever created is the system admin (as on a real server); the second is the
regular user. Passwords are random per run and never written anywhere.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field

from mmv3.client import Client, ClientError
from mmv3.suite.preflight import ExitCode, PreflightError

# Settings of the embedded server that differ from a default Mattermost 4.9:
# an open server (accounts can be made without invites) and the privacy settings off, so the
# security family can see that hidden e-mails and names stay hidden.
EMBEDDED_CONFIG = {
    "TeamSettings": {"EnableOpenServer": True},
    "PrivacySettings": {"ShowEmailAddress": False, "ShowFullName": False},
}


@dataclass
class EmbeddedTarget:
    url: str
    admin: str
    admin_password: str = field(repr=False)
    user: str
    password: str = field(repr=False)
    rate_limit: str | None
    faults: tuple[str, ...]
    _stack: contextlib.ExitStack = field(repr=False, default_factory=contextlib.ExitStack)

    def stop(self) -> None:
        self._stack.close()


def start(*, rate_limit: str | None, faults: tuple[str, ...], prefix: str, timeout: float) -> EmbeddedTarget:
    """Start the reference server and create its admin and regular user."""
    try:
        from mmv3.server import running_server
        from mmv3.server.faults import UnknownFault
    except ImportError as exc:  # a broken install: say what is missing, in one line
        raise PreflightError(
            ExitCode.EMBEDDED, f"the embedded reference server cannot be loaded: {exc}"
        ) from None
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(
            running_server(rate_limit=rate_limit, faults=faults, config=EMBEDDED_CONFIG)
        )
    except UnknownFault as exc:
        stack.close()
        raise PreflightError(ExitCode.EMBEDDED, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any start-up failure is reported as one line
        stack.close()
        raise PreflightError(
            ExitCode.EMBEDDED, f"the embedded reference server did not start: {exc}"
        ) from None
    accounts = []
    client = Client(server.url, timeout=timeout)
    try:
        for role in ("admin", "user"):
            username = f"{prefix}{role}"
            password = secrets.token_urlsafe(12)
            body = {"username": username, "email": f"{username}@example.com", "password": password}
            response = client.post("users/create", json=body, auth=False)
            if response.status != 200:
                raise PreflightError(
                    ExitCode.EMBEDDED,
                    f"the embedded reference server refused to create its {role}: {response.status} "
                    f"{response.app_error.id if response.app_error else ''}".rstrip(),
                )
            accounts.append((username, password))
    except ClientError as exc:
        stack.close()
        raise PreflightError(
            ExitCode.EMBEDDED, f"the embedded reference server does not answer: {exc}"
        ) from None
    except PreflightError:
        stack.close()
        raise
    finally:
        client.close()
    (admin, admin_password), (user, password) = accounts
    return EmbeddedTarget(server.url, admin, admin_password, user, password, rate_limit, faults, stack)
