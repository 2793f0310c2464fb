"""security: no password hash, MFA secret or other user's session token in any answer; session
lists without tokens; the privacy settings (ShowEmailAddress, ShowFullName) honoured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mmv3.checks import Probe, Skip, check

if TYPE_CHECKING:
    from mmv3.catalog import Operation

SESSIONS = ("GET", "/api/v3/users/{user_id}/sessions")
BCRYPT = re.compile(rb"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")
HIDDEN_KEYS = ("password", "mfa_secret")


def _walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:  # noqa: BLE001 - not JSON: only the raw scan applies
        return None


def _is_user(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "username" in value
        and "id" in value
        and ("roles" in value or "locale" in value)
    )


@check("security", severity="blocker")
def no_secrets(op: Operation, probe: Probe) -> list[str]:
    """The answer holds no password hash, no MFA secret and no session token of another user."""
    response = probe.success(op)
    problems = []
    if BCRYPT.search(response.content):
        problems.append("the answer contains a bcrypt password hash")
    body = _json(response)
    caller = probe.caller(op)
    others = {token: role for role, token in probe.tokens().items() if role != caller}
    for path, value in _walk(body):
        if isinstance(value, dict):
            for key in HIDDEN_KEYS:
                if value.get(key) not in (None, ""):
                    problems.append(f"{path}.{key} is not empty")
        elif isinstance(value, str) and value in others:
            problems.append(f"{path} is the session token of the {others[value]}")
    text = response.content.decode("utf-8", errors="replace")
    for token, role in others.items():
        if token in text and not any(token in p for p in problems):
            problems.append(f"the answer contains the session token of the {role}")
            break
    # Header values (Token, Set-Cookie) may carry only the caller's own new session.
    for name, value in response.header_items:
        for token, role in others.items():
            if token in value:
                problems.append(f"header {name} carries the session token of the {role}")
    return sorted(set(problems))


@check("security", applies=lambda op: (op.method, op.template) == SESSIONS, severity="blocker")
def sessions_without_tokens(op: Operation, probe: Probe) -> list[str]:
    """A user's session list shows every session with its token blanked."""
    response = probe.success(op)
    if response.status != 200:
        return [f"the session list answered {response.status}"]
    body = _json(response)
    if not isinstance(body, list):
        return [f"the session list is a JSON {type(body).__name__}, not an array"]
    if not body:
        return ["the session list is empty although the caller is logged in"]
    leaked = [i for i, session in enumerate(body) if isinstance(session, dict) and session.get("token")]
    if leaked:
        return [f"{len(leaked)} of {len(body)} listed sessions carry their token"]
    return []


def _lists_users(op: Operation) -> bool:
    schema = str(getattr(op, "response_schema", "") or "")
    # Answers about other users (profiles, lists, maps); User.json answers are the caller's own record.
    return any(name in schema for name in ("UserProfile", "UserMap", "UserList", "UserAutocomplete"))


@check("security", applies=_lists_users, severity="critical")
def privacy(op: Operation, probe: Probe) -> list[str]:
    """Other users' e-mail addresses and full names are blank for a regular caller when the
    server's privacy settings (ShowEmailAddress, ShowFullName) say so."""
    settings = probe.client_config()
    hide_email = settings.get("ShowEmailAddress") == "false"
    hide_name = settings.get("ShowFullName") == "false"
    if not (hide_email or hide_name):
        raise Skip("the server shows e-mail addresses and full names (PrivacySettings): nothing to hide")
    caller = probe.caller(op)
    if caller in ("admin", "owner") and probe.world.has("admin"):
        raise Skip("called as the system admin, who sees every field")
    response = probe.success(op)
    if response.status != 200:
        raise Skip(f"no success answer to inspect ({response.status})")
    me = probe.world.account(caller).id if caller not in ("anon",) else ""
    problems = []
    for path, value in _walk(_json(response)):
        if not _is_user(value) or value.get("id") == me:
            continue
        if hide_email and value.get("email"):
            problems.append(f"{path}.email of another user is shown although ShowEmailAddress is false")
        if hide_name and (value.get("first_name") or value.get("last_name")):
            problems.append(f"{path} shows another user's name although ShowFullName is false")
    return problems[:5]


CHECKS = [no_secrets, sessions_without_tokens, privacy]
