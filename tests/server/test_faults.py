"""Each fault switch breaks its rule, and the rule holds without it.

One case per switch in mmv3.server.faults.FAULTS: a probe that answers "does the rule hold?"
against a fresh server. A new switch without a case here fails its test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from mmv3.ratelimit import HeldClock
from mmv3.server.faults import FAULTS
from mmv3.server.runner import running_server

from .api import PASSWORD, Api

PING = "/api/v3/general/ping"
RATE = {"rate_limit": "10/100"}
TIGHT = {"rate_limit": "1/1"}  # Limit 2: the third quick request is denied


def _held() -> HeldClock:
    """The limiter's time held still: no token comes back between a case's requests, however
    slow the machine is (the rate-limit cases count Remaining from request to request)."""
    clock = HeldClock()
    clock.hold()
    return clock


def _tokens(api: Api) -> tuple[str, str]:
    """An admin (first user) and a regular user, logged in."""
    api.create_user("fault-admin")
    api.create_user("fault-user")
    return api.login("fault-admin"), api.login("fault-user")


def _denied(api: Api) -> requests.Response:
    answers = [api.call("GET", PING) for _ in range(4)]
    return next((a for a in answers if a.status_code == 429), answers[-1])


def _unauthorized(api: Api) -> requests.Response:
    answer = api.call("GET", "/api/v3/users/me")
    assert answer.status_code == 401
    return answer


def _remaining_decreases(api: Api) -> bool:
    counts = [int(api.call("GET", PING).headers["X-Ratelimit-Remaining"]) for _ in range(3)]
    return counts[0] > counts[1] > counts[2]


def _request_id_matches(api: Api) -> bool:
    answer = _unauthorized(api)
    return answer.json().get("request_id") == answer.headers.get("X-Request-Id")


def _unknown_route_is_plain(api: Api) -> bool:
    answer = api.call("GET", "/api/v3/no/such/route")
    return answer.headers["Content-Type"].startswith("text/plain") and "X-Request-Id" not in answer.headers


def _no_token_refused(api: Api) -> bool:
    _tokens(api)
    return api.call("GET", "/api/v3/users/me").status_code == 401


def _bad_token_refused(api: Api) -> bool:
    _tokens(api)
    answer = api.call("GET", "/api/v3/users/me", token="z" * 26)
    return answer.status_code == 401 and len(answer.raw.headers.getlist("Set-Cookie")) == 2


def _logout_revokes(api: Api) -> bool:
    _, token = _tokens(api)
    api.ok("POST", "/api/v3/users/logout", token=token)
    return api.call("GET", "/api/v3/users/me", token=token).status_code == 401


def _cookie_needs_xrw(api: Api) -> bool:
    _, token = _tokens(api)
    return api.call("GET", "/api/v3/users/me", headers={"Cookie": f"MMAUTHTOKEN={token}"}).status_code == 401


def _admin_route_closed(api: Api) -> bool:
    _, user = _tokens(api)
    return api.call("GET", "/api/v3/admin/logs", token=user).status_code == 403


def _team_closed_to_non_members(api: Api) -> bool:
    admin, user = _tokens(api)
    team = api.create_team(admin, "fault-team")
    return api.call("GET", f"/api/v3/teams/{team['id']}/me", token=user).status_code == 403


def _private_channel_closed(api: Api) -> bool:
    admin, user = _tokens(api)
    team = api.create_team(admin, "fault-team")
    api.add_to_team(admin, team["id"], api.ok("GET", "/api/v3/users/me", token=user)["id"])
    channel = api.create_channel(admin, team["id"], "fault-private", kind="P")
    path = f"/api/v3/teams/{team['id']}/channels/{channel['id']}/posts/page/0/30"
    return api.call("GET", path, token=user).status_code == 403


def _login(api: Api) -> requests.Response:
    api.create_user("fault-user")
    answer = api.call("POST", "/api/v3/users/login", {"login_id": "fault-user", "password": PASSWORD})
    assert answer.status_code == 200
    return answer


def _sessions_hide_tokens(api: Api) -> bool:
    _, user = _tokens(api)
    me = api.ok("GET", "/api/v3/users/me", token=user)
    sessions = api.ok("GET", f"/api/v3/users/{me['id']}/sessions", token=user)
    return bool(sessions) and all(session["token"] == "" for session in sessions)


def _channel_has_type(api: Api) -> bool:
    admin, _ = _tokens(api)
    team = api.create_team(admin, "fault-team")
    return "type" in api.create_channel(admin, team["id"], "fault-open")


def _auth_cookie_http_only(api: Api) -> bool:
    cookies = _login(api).raw.headers.getlist("Set-Cookie")
    return any(c.startswith("MMAUTHTOKEN=") and "HttpOnly" in c for c in cookies)


def _upgrade_as_real(api: Api) -> bool:
    """The 101 carries Upgrade, Connection and Sec-WebSocket-Accept only, as gorilla writes it."""
    import socket
    from urllib.parse import urlsplit

    token = _login(api).headers["Token"]
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            (
                f"GET /api/v3/users/websocket HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    lines = head.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    names = {line.split(":", 1)[0].lower() for line in lines[1:]}
    return lines[0].startswith("HTTP/1.1 101") and names == {"upgrade", "connection", "sec-websocket-accept"}


def _limit_is_the_quota(api: Api) -> bool:
    """A fresh bucket of the 10/100 quota: Limit 101 (MaxBurst + 1), Remaining 100."""
    headers = api.call("GET", PING).headers
    return (int(headers["X-Ratelimit-Limit"]), int(headers["X-Ratelimit-Remaining"])) == (101, 100)


def _reset_matches_the_quota(api: Api) -> bool:
    """Five quick requests at 10/s: the bucket is full again in about half a second."""
    answers = [api.call("GET", PING) for _ in range(5)]
    return int(answers[-1].headers["X-Ratelimit-Reset"]) <= 2


# fault -> (running_server arguments, probe: does the rule hold?)
def _conditional_get(api: Api) -> bool:
    token = _login(api).headers["Token"]
    etag = api.call("GET", "/api/v3/users/me", token=token).headers["Etag"]
    again = api.call("GET", "/api/v3/users/me", token=token, headers={"If-None-Match": etag})
    return again.status_code == 304 and again.content == b""


def _channel_with_posts(api: Api) -> tuple[str, str, str, list[str]]:
    """An admin's channel with posts made at 1000, 2000, ... ms (admins may set create_at):
    (token, team id, channel id, post ids oldest first)."""
    admin, _ = _tokens(api)
    team = api.create_team(admin, "fault-team")
    channel = api.create_channel(admin, team["id"], "fault-posts")
    base = f"/api/v3/teams/{team['id']}/channels/{channel['id']}"
    ids = [
        api.ok("POST", f"{base}/posts/create", {"channel_id": channel["id"], "message": f"m{n}", "create_at": n * 1000}, token=admin)["id"]
        for n in range(1, 5)
    ]  # fmt: skip
    return admin, team["id"], channel["id"], ids


def _page_newest_first(api: Api) -> bool:
    admin, team_id, channel_id, ids = _channel_with_posts(api)
    page = api.ok("GET", f"/api/v3/teams/{team_id}/channels/{channel_id}/posts/page/0/30", token=admin)
    times = [page["posts"][i]["create_at"] for i in page["order"]]
    return times == sorted(times, reverse=True) and page["order"][0] != ids[0]


def _before_is_next_to_its_post(api: Api) -> bool:
    admin, team_id, channel_id, ids = _channel_with_posts(api)
    path = f"/api/v3/teams/{team_id}/channels/{channel_id}/posts/{ids[2]}/before/0/1"
    return api.ok("GET", path, token=admin)["order"] == [ids[1]]


def _channel_list_unique(api: Api) -> bool:
    admin, _ = _tokens(api)
    team = api.create_team(admin, "fault-team")
    listed = [c["id"] for c in api.ok("GET", f"/api/v3/teams/{team['id']}/channels/", token=admin)]
    return len(listed) == len(set(listed))


def _channel_updated_after_created(api: Api) -> bool:
    admin, _ = _tokens(api)
    channel = api.create_channel(admin, api.create_team(admin, "fault-team")["id"], "fault-open")
    return channel["update_at"] >= channel["create_at"]


def _etag_follows_the_user(api: Api) -> bool:
    _, user = _tokens(api)
    me = api.call("GET", "/api/v3/users/me", token=user)
    notify = {
        "user_id": me.json()["id"],
        "email": "false",
        "desktop": "all",
        "desktop_sound": "false",
        "comments": "any",
    }
    api.ok("POST", "/api/v3/users/update_notify", notify, token=user)
    again = api.call("GET", "/api/v3/users/me", token=user, headers={"If-None-Match": me.headers["Etag"]})
    return again.status_code == 200 and again.headers["Etag"] != me.headers["Etag"]


def _member_count_of_a_new_channel(api: Api) -> bool:
    admin, _ = _tokens(api)
    team = api.create_team(admin, "fault-team")
    channel = api.create_channel(admin, team["id"], "fault-open")
    stats = api.ok("GET", f"/api/v3/teams/{team['id']}/channels/{channel['id']}/stats", token=admin)
    return stats["member_count"] == 1


CASES: dict[str, tuple[dict[str, Any], Callable[[Api], bool]]] = {
    "ratelimit-no-headers": (RATE, lambda api: "X-Ratelimit-Limit" in api.call("GET", PING).headers),
    "ratelimit-reset-epoch": (
        RATE,
        lambda api: int(api.call("GET", PING).headers["X-Ratelimit-Reset"]) < 1000,
    ),
    "ratelimit-remaining-frozen": (RATE, _remaining_decreases),
    "ratelimit-never-429": (TIGHT, lambda api: _denied(api).status_code == 429),
    "ratelimit-429-json": (TIGHT, lambda api: _denied(api).content == b"limit exceeded\n"),
    "ratelimit-no-retry-after": (TIGHT, lambda api: "Retry-After" in _denied(api).headers),
    "ratelimit-limit-understated": (RATE, _limit_is_the_quota),
    "ratelimit-limit-overstated": (RATE, _limit_is_the_quota),
    "ratelimit-remaining-short": (RATE, _limit_is_the_quota),
    "ratelimit-reset-slow": (RATE, _reset_matches_the_quota),
    "error-missing-field": ({}, lambda api: "detailed_error" in _unauthorized(api).json()),
    "error-status-mismatch": ({}, lambda api: _unauthorized(api).json()["status_code"] == 401),
    "error-request-id-mismatch": ({}, _request_id_matches),
    "error-content-type": ({}, lambda api: _unauthorized(api).headers["Content-Type"] == "application/json"),
    "error-unknown-route-json": ({}, _unknown_route_is_plain),
    "error-wrong-method-405": ({}, lambda api: api.call("GET", "/api/v3/users/login").status_code == 404),
    "auth-no-token-accepted": ({}, _no_token_refused),
    "auth-bad-token-accepted": ({}, _bad_token_refused),
    "auth-revoked-token-accepted": ({}, _logout_revokes),
    "auth-csrf-cookie-accepted": ({}, _cookie_needs_xrw),
    "auth-admin-route-open": ({}, _admin_route_closed),
    "auth-team-check-skipped": ({}, _team_closed_to_non_members),
    "auth-private-channel-open": ({}, _private_channel_closed),
    "security-password-hash": ({}, lambda api: "password" not in _login(api).json()),
    "security-session-token-listed": ({}, _sessions_hide_tokens),
    "schema-wrong-type": ({}, lambda api: isinstance(_login(api).json()["create_at"], int)),
    "schema-missing-field": ({}, _channel_has_type),
    "schema-no-timezone": ({}, lambda api: "timezone" in _login(api).json()),
    "headers-no-login-token": ({}, lambda api: bool(_login(api).headers.get("Token"))),
    "headers-cookie-not-httponly": ({}, _auth_cookie_http_only),
    "headers-no-request-id": ({}, lambda api: "X-Request-Id" in api.call("GET", PING).headers),
    "headers-fixed-request-id": (
        {},
        lambda api: (
            api.call("GET", PING).headers["X-Request-Id"] != api.call("GET", PING).headers["X-Request-Id"]
        ),
    ),
    "headers-no-version-id": ({}, lambda api: "X-Version-Id" in api.call("GET", PING).headers),
    "headers-no-expires": ({}, lambda api: api.call("GET", PING).headers.get("Expires") == "0"),
    "headers-etag-ignored": ({}, _conditional_get),
    "invariants-post-order-reversed": ({}, _page_newest_first),
    "invariants-duplicate-id": ({}, _channel_list_unique),
    "invariants-update-before-create": ({}, _channel_updated_after_created),
    "invariants-etag-frozen": ({}, _etag_follows_the_user),
    "invariants-window-gap": ({}, _before_is_next_to_its_post),
    "invariants-member-count-off": ({}, _member_count_of_a_new_channel),
    "headers-on-upgrade": ({}, _upgrade_as_real),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_breaks_its_rule_and_only_with_it(name: str) -> None:
    assert name in CASES, f"fault {name!r} has no case in tests/server/test_faults.py"
    arguments, rule_holds = CASES[name]
    with running_server(bcrypt_cost=4, limiter_clock=_held(), **arguments) as intact:
        assert rule_holds(Api(intact.url)), f"the rule {name} breaks is already broken without the fault"
    with running_server(bcrypt_cost=4, faults=(name,), limiter_clock=_held(), **arguments) as faulty:
        assert not rule_holds(Api(faulty.url)), f"--fault {name} does not break its rule"


def test_every_case_is_a_known_fault() -> None:
    assert set(CASES) <= set(FAULTS), sorted(set(CASES) - set(FAULTS))
