"""The accounts `mmv3 serve --admin NAME --user NAME` makes before it listens.

They are made through the server's own `POST /api/v3/users/create` (so every rule a client meets
applies), in a limiter bucket of their own. The admin is made system admin even when the
database already had users, and the user stays a regular user even when it is the first. An account that exists is left as it is; its password is checked,
and a mismatch is said, since a later login would fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from werkzeug.test import Client

from mmv3.server.app import ReferenceServer

ADMIN_ROLES = "system_admin system_user"
_BUCKET = {"X-Forwarded-For": "mmv3-serve-accounts"}  # not the bucket of any client on 127.0.0.1


@dataclass(frozen=True)
class Account:
    role: str  # "admin" or "user"
    username: str
    password: str


class AccountError(Exception):
    """The server refused an account (a password too short, a bad username, ...)."""


def ensure(app: ReferenceServer, accounts: list[Account]) -> list[str]:
    """Make the accounts that do not exist yet; one line per account saying what was done."""
    client = Client(app)
    lines = []
    for account in accounts:
        existing = app.store.find_one("users", username=account.username.lower())
        if existing is None:
            body = {
                "username": account.username,
                "email": f"{account.username.lower()}@example.com",
                "password": account.password,
            }
            answer = client.post("/api/v3/users/create", json=body, headers=_BUCKET)
            if answer.status_code != 200:
                raise AccountError(f"cannot create the {account.role} {account.username!r}: {_error(answer)}")
            done = "created"
            if account.role == "user":
                done += _keep_regular(app, account.username.lower())
        else:
            login = {"login_id": account.username, "password": account.password}
            answer = client.post("/api/v3/users/login", json=login, headers=_BUCKET)
            done = (
                "exists"
                if answer.status_code == 200
                else f"exists, but its password differs ({_error(answer)})"
            )
        if account.role == "admin":
            done += _make_admin(app, account.username.lower())
        lines.append(f"{account.role} {account.username}: {done}")
    return lines


def _make_admin(app: ReferenceServer, username: str) -> str:
    user = app.store.find_one("users", username=username)
    if user is None or "system_admin" in user["roles"].split():
        return ""
    app.store.put("users", user["id"], {**user, "roles": ADMIN_ROLES})
    return ", made system admin"


def _keep_regular(app: ReferenceServer, username: str) -> str:
    """The first account of a server becomes system admin; a --user is asked for as a regular one."""
    user = app.store.find_one("users", username=username)
    if user is None or "system_admin" not in user["roles"].split():
        return ""
    app.store.put("users", user["id"], {**user, "roles": "system_user"})
    return " (the server's first account, kept a regular user)"


def _error(answer) -> str:
    try:
        body = json.loads(answer.get_data())
    except ValueError:
        return f"HTTP {answer.status_code}"
    return body.get("message") or body.get("id") or f"HTTP {answer.status_code}"
