"""mmv3.client against a local fake v3 server (127.0.0.1 only) and a simulated clock."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from urllib.parse import quote, quote_plus

import pytest
from fakeserver import FakeUser, FakeV3Server, app_error, dead_url, json_answer, silent_server

from mmv3.client import (
    ApiError,
    Client,
    ClientError,
    HarRecorder,
    NotJSONError,
    Pacer,
    RateLimited,
    Response,
    ServerTimeout,
    ServerUnreachable,
    StatusError,
    Ticket,
)
from mmv3.ratelimit import GCRA, Observed, Quota

QUOTA = Quota(per_sec=200, max_burst=20)
N = 5 * QUOTA.max_burst
FLOOR = (N - QUOTA.max_burst) / QUOTA.per_sec  # the quickest the server lets N requests through
PASSWORD = 'S3cr3t pa$$w"ord/ü&x=1'
# Where a test needs 429s to happen: refilling so slowly that even a loaded machine outruns
# it (40 unpaced requests would need 42 ms each to stay under the limit).
SLOW = Quota(per_sec=20, max_burst=5)
UNPACED_N = 40


@pytest.fixture
def server():
    with FakeV3Server(quota=QUOTA, users=[FakeUser("alice", PASSWORD)]) as fake:
        yield fake


@pytest.fixture
def slow_server():
    with FakeV3Server(quota=SLOW) as fake:
        yield fake


@pytest.fixture
def client(server):
    with Client(server.url, pacer=Pacer()) as c:
        yield c


def ping_many(clients: list[Client], n: int) -> tuple[float, list[int], list[BaseException]]:
    """n pings spread over one thread per client; (wall seconds, statuses, errors)."""
    statuses: list[int] = []
    errors: list[BaseException] = []

    def work(c: Client) -> None:
        try:
            for _ in range(n // len(clients)):
                statuses.append(c.get("general/ping").status)
        except BaseException as exc:  # surfaced by the caller; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, statuses, errors


def unlimited_seconds(threads: int) -> float:
    """How long this machine needs for N pings with no rate limit at all, right now."""
    with FakeV3Server(quota=None) as fake:
        clients = [Client(fake.url, pacer=Pacer()) for _ in range(threads)]
        wall, _, _ = ping_many(clients, N)
        for c in clients:
            c.close()
    return wall


def paced_run(
    server: FakeV3Server, threads: int
) -> tuple[float, float, list[int], list[BaseException], Pacer]:
    """N paced pings from `threads` clients sharing one pacer, and the machine's unlimited
    time for the same work measured around it (a busy machine may not reach the floor)."""
    before = unlimited_seconds(threads)
    pacer = Pacer()
    clients = [Client(server.url, pacer=pacer) for _ in range(threads)]
    wall, statuses, errors = ping_many(clients, N)
    for c in clients:
        c.close()
    machine = max(before, unlimited_seconds(threads))
    return wall, machine, statuses, errors, pacer


def assert_near_floor(wall: float, machine: float) -> None:
    """Not quicker than the server allows (pacing happened); not much slower than the floor,
    or than what this machine manages unlimited when it is too busy to reach the floor."""
    message = f"{N} requests took {wall:.3f} s; floor {FLOOR:.3f} s, unlimited {machine:.3f} s"
    assert FLOOR - 0.05 <= wall <= max(FLOOR, machine) * 1.5 + 0.5, message


def assert_one_line(error: Exception) -> None:
    text = str(error)
    assert text and "\n" not in text and len(text) < 400, text


# -- pacing against the live fake server -------------------------------------------------


def test_paced_run_meets_no_429_and_takes_about_the_floor(server):
    wall, machine, statuses, errors, pacer = paced_run(server, threads=1)

    assert not errors
    assert server.denied == 0 and pacer.stats.throttled == 0
    assert statuses == [200] * N
    assert len(server.requests_to("/api/v3/general/ping")) == N  # nothing retried behind our back
    assert_near_floor(wall, machine)
    assert pacer.limit == QUOTA.limit
    assert 0 < pacer.rate <= QUOTA.per_sec


def test_four_threads_sharing_a_pacer_meet_no_429(server):
    wall, machine, statuses, errors, pacer = paced_run(server, threads=4)

    assert not errors
    assert server.denied == 0 and pacer.stats.throttled == 0
    assert statuses.count(200) == N
    assert_near_floor(wall, machine)


def test_unpaced_run_meets_429s(slow_server):
    server = slow_server
    with Client(server.url, pacer=Pacer(), pace=False) as c:
        responses = [c.get("general/ping") for _ in range(UNPACED_N)]
    throttled = [r for r in responses if r.is_throttled]

    assert throttled, "an unpaced burst far beyond the burst size must be throttled"
    assert server.denied == len(throttled)
    assert len(server.requests_to("/api/v3/general/ping")) == UNPACED_N  # no retries when not pacing
    sample = throttled[0]
    assert sample.status == 429 and sample.text == "limit exceeded\n"
    assert sample.content_type == "text/plain; charset=utf-8"
    assert sample.ratelimit.retry_after == 1 and sample.ratelimit.remaining == 0
    assert sample.ratelimit.limit == SLOW.limit
    assert sample.request_id is None
    with pytest.raises(RateLimited) as caught:
        sample.raise_for_error()
    assert caught.value.retry_after == 1
    assert_one_line(caught.value)


def test_per_request_pace_false_overrides_the_client(slow_server):
    with Client(slow_server.url, pacer=Pacer()) as c:
        responses = [c.get("general/ping", pace=False) for _ in range(UNPACED_N)]
    assert any(r.is_throttled for r in responses)


def test_paced_request_retries_a_429_caused_by_other_traffic():
    quota = Quota(per_sec=1, max_burst=2)  # an emptied bucket stays empty for a second
    with FakeV3Server(quota=quota) as server, Client(server.url, pacer=Pacer()) as client:
        for _ in range(quota.limit):  # someone else empties the bucket
            server.limiter.take("127.0.0.1")
        response = client.get("general/ping")

    assert response.status == 200
    assert server.denied == 1 and client.pacer.stats.throttled == 1
    assert len(server.requests_to("/api/v3/general/ping")) == 2


def test_clients_of_one_server_share_one_pacer_by_default(server):
    a, b = Client(server.url), Client(server.url + "/api/v3/")
    assert a.pacer is b.pacer
    assert a.with_token("x").pacer is a.pacer
    assert Client("http://127.0.0.1:1").pacer is not a.pacer


def test_no_ratelimit_headers_means_no_pacing():
    with FakeV3Server(quota=None) as fake, Client(fake.url, pacer=Pacer()) as c:
        statuses = [c.get("general/ping").status for _ in range(N)]
        assert statuses == [200] * N
        assert c.pacer.limited is False
        assert c.pacer.stats.waits == 0 and c.pacer.quota is None


# -- pacing logic on a simulated clock ----------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def observed(limit: int, remaining: int, reset: int, retry_after: int | None = None) -> Observed:
    return Observed(limit, remaining, reset, retry_after)


def test_pacer_sends_one_probe_before_it_knows_the_limit():
    pacer = Pacer(clock=FakeClock())
    probe = pacer.try_acquire()
    assert isinstance(probe, Ticket) and probe.probe
    assert pacer.try_acquire() == math.inf  # the others wait for the probe's answer
    pacer.release(probe, observed(21, 20, 1))
    assert pacer.limited is True and pacer.limit == 21 and pacer.margin == 2


def test_pacer_spends_the_burst_less_its_margin_then_waits():
    pacer = Pacer(clock=FakeClock())
    pacer.release(pacer.try_acquire(), observed(21, 20, 1))
    granted = []
    for _ in range(100):  # bounded: a pacer that never refuses must fail, not hang
        result = pacer.try_acquire()
        if not isinstance(result, Ticket):
            break
        granted.append(result)
    assert len(granted) == 20 - pacer.margin
    assert result == math.inf  # rate unknown and answers pending: wait for an answer


def test_pacer_bounds_the_rate_from_reset():
    pacer = Pacer(clock=FakeClock())
    # Mattermost's defaults (10/s, burst 100), bucket just emptied: Reset 11 s.
    pacer.release(pacer.try_acquire(), observed(101, 0, 11))
    assert 9.0 <= pacer.rate <= 10.0
    assert pacer.quota is not None and pacer.quota.max_burst == 100


def test_pacer_waits_for_refill_at_the_learnt_rate():
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.release(pacer.try_acquire(), observed(101, 0, 11))  # empty bucket, rate >= 9.09/s
    wait = pacer.try_acquire()
    assert isinstance(wait, float) and 0 < wait <= 1 / 9.0
    clock.now += wait
    assert isinstance(pacer.try_acquire(), Ticket)


def test_pacer_honours_retry_after_and_counts_the_429():
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.release(pacer.try_acquire(), observed(21, 0, 1, retry_after=1), throttled=True)
    assert pacer.stats.throttled == 1
    wait = pacer.try_acquire()
    assert wait == pytest.approx(1.0)
    clock.now += 0.5
    assert pacer.try_acquire() == pytest.approx(0.5)
    clock.now += 0.5
    assert isinstance(pacer.try_acquire(), Ticket)


def test_pacer_without_headers_never_waits():
    pacer = Pacer(clock=FakeClock())
    pacer.release(pacer.try_acquire(), Observed(None, None, None, None))
    assert all(isinstance(pacer.try_acquire(), Ticket) for _ in range(1000))


def test_pacer_keeps_the_slot_of_an_unanswered_request():
    pacer = Pacer(clock=FakeClock())
    pacer.release(pacer.try_acquire(), observed(3, 2, 1))
    first = pacer.try_acquire()
    assert isinstance(first, Ticket)
    pacer.release(first, None, answered=False)
    assert pacer.stats.failed == 1
    granted = 0
    while granted < 10 and isinstance(pacer.try_acquire(), Ticket):
        granted += 1
    assert granted == 1  # 2 left before, 1 presumed spent by the failed request


def simulate(quota: Quota, n: int, concurrency: int, seed: int) -> tuple[int, float, Pacer]:
    """n requests through a Pacer to a GCRA server on one fake clock; the server takes
    requests and the answers come back in random order (threads racing)."""
    rng = random.Random(seed)
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    server = GCRA(quota, clock=clock)
    start = clock.now
    in_flight: list[Ticket] = []
    answered: list[tuple[Ticket, Observed, bool]] = []
    sent = denied = steps = 0
    while sent < n or in_flight or answered:
        steps += 1
        assert steps < 50 * n, "pacer made no progress"
        result: Ticket | float = math.inf
        while sent < n and len(in_flight) + len(answered) < concurrency:
            result = pacer.try_acquire()
            if not isinstance(result, Ticket):
                break
            in_flight.append(result)
            sent += 1
        if in_flight or answered:
            clock.now += rng.uniform(0, 0.002)
            if in_flight and (not answered or rng.random() < 0.5):
                ticket = in_flight.pop(rng.randrange(len(in_flight)))
                decision = server.take()
                denied += not decision.allowed
                answered.append((ticket, Observed.from_headers(decision.headers()), not decision.allowed))
            else:
                ticket, seen, throttled = answered.pop(rng.randrange(len(answered)))
                pacer.release(ticket, seen, throttled=throttled)
        else:
            assert isinstance(result, float) and math.isfinite(result), "pacer stalled with nothing in flight"
            clock.now += result
    return denied, clock.now - start, pacer


@pytest.mark.parametrize("concurrency", [1, 4, 16])
@pytest.mark.parametrize("quota", [Quota(200, 20), Quota(10, 100), Quota(50, 2)], ids=str)
def test_simulated_run_meets_no_429_and_nears_the_floor(quota, concurrency):
    n = 3 * quota.limit + 60
    floor = (n - quota.limit) / quota.per_sec
    for seed in range(3):
        denied, elapsed, pacer = simulate(quota, n, concurrency, seed)
        assert denied == 0, f"seed {seed}: {denied} requests denied"
        assert floor <= elapsed <= floor * 1.5 + 0.5, f"seed {seed}: {elapsed:.3f} s, floor {floor:.3f} s"
        assert 0 < pacer.rate <= quota.per_sec


# -- identity and authentication -----------------------------------------------------------


def test_login_takes_the_token_from_the_token_header(server, client):
    response = client.login("alice", PASSWORD)

    (token,) = server.sessions
    assert client.token == token and client.user_id == server.user.id
    assert response.headers["token"] == token  # case-insensitive headers
    login_request = server.requests_to("/api/v3/users/login")[0]
    assert login_request.header("Authorization") is None
    assert login_request.json() == {"login_id": "alice", "password": PASSWORD}

    assert client.get("users/me").json()["id"] == server.user.id
    me_request = server.requests_to("/api/v3/users/me")[0]
    assert me_request.header("Authorization") == f"Bearer {token}"
    assert me_request.header("Cookie") is None and me_request.header("X-Requested-With") is None


def test_response_cookies_expose_the_flags(server, client):
    response = client.login("alice", PASSWORD)
    auth, user = response.cookies["MMAUTHTOKEN"], response.cookies["MMUSERID"]
    assert auth.value == client.token and auth.httponly and auth.path == "/" and auth.max_age == 2592000
    assert user.value == server.user.id and not user.httponly
    assert client.token not in repr(auth)


def test_cookie_mode_sends_the_cookie_without_xhr_and_meets_the_csrf_rule(server):
    with Client(server.url, pacer=Pacer(), auth_mode="cookie") as c:
        c.login("alice", PASSWORD)
        response = c.get("users/me")
    seen = server.requests_to("/api/v3/users/me")[0]
    assert seen.header("Cookie") == f"MMAUTHTOKEN={c.token}; MMUSERID={server.user.id}"
    assert seen.header("Authorization") is None and seen.header("X-Requested-With") is None
    assert response.status == 401  # Mattermost's CSRF rule for cookie tokens


def test_cookie_xhr_mode_sends_the_cookie_and_x_requested_with(server):
    with Client(server.url, pacer=Pacer(), auth_mode="cookie-xhr") as c:
        c.login("alice", PASSWORD)
        response = c.get("users/me")
    seen = server.requests_to("/api/v3/users/me")[0]
    assert seen.header("Cookie") == f"MMAUTHTOKEN={c.token}; MMUSERID={server.user.id}"
    assert seen.header("X-Requested-With") == "XMLHttpRequest"
    assert response.status == 200


def test_auth_argument_chooses_the_token(server, client):
    client.login("alice", PASSWORD)
    assert client.get("users/me", auth=False).status == 401
    bad = client.get("users/me", auth="zzzzzzzzzzzzzzzzzzzzzzzzzz")
    assert bad.status == 401 and bad.cookies["MMAUTHTOKEN"].max_age == 0  # cookie cleared
    sent = [r.header("Authorization") for r in server.requests_to("/api/v3/users/me")]
    assert sent == [None, "Bearer zzzzzzzzzzzzzzzzzzzzzzzzzz"]


def test_with_token_and_clone_share_pacer_and_recorder_but_not_identity(server):
    recorder = HarRecorder()
    with Client(server.url, pacer=Pacer(), recorder=recorder) as c:
        c.login("alice", PASSWORD)
        copy = c.clone()
        anonymous = c.with_token(None)
        assert copy.token == c.token and copy.user_id == c.user_id
        assert copy.pacer is c.pacer and copy.recorder is recorder and anonymous.recorder is recorder
        assert anonymous.get("users/me").status == 401

        copy.logout()
        assert copy.token is None and c.token is not None
        assert c.get("users/me").status == 401  # the server revoked the shared session
        assert len(recorder) == 4


def test_base_url_forms():
    for typed in ("http://127.0.0.1:8065", "http://127.0.0.1:8065/", "http://127.0.0.1:8065/api/v3/"):
        c = Client(typed)
        assert c.base_url == "http://127.0.0.1:8065" and c.api_url == "http://127.0.0.1:8065/api/v3"
    c = Client("http://127.0.0.1:8065")
    assert c.url_for("users/me") == "http://127.0.0.1:8065/api/v3/users/me"
    assert c.url_for("/users/me") == "http://127.0.0.1:8065/api/v3/users/me"
    assert c.url_for("/api/v4/system/ping") == "http://127.0.0.1:8065/api/v4/system/ping"
    assert c.url_for("/login/sso/saml", root=True) == "http://127.0.0.1:8065/login/sso/saml"
    assert Client("http://127.0.0.1/mm/").api_url == "http://127.0.0.1/mm/api/v3"


@pytest.mark.parametrize(
    "typed", ["", "127.0.0.1:8065", "ftp://127.0.0.1", "http://", "http://h:port", "nonsense"]
)
def test_bad_base_url_is_one_clear_value_error(typed):
    with pytest.raises(ValueError) as caught:
        Client(typed)
    assert_one_line(caught.value)
    assert "base URL" in str(caught.value)


def test_bad_auth_mode_is_a_value_error():
    with pytest.raises(ValueError, match="auth_mode"):
        Client("http://127.0.0.1:8065", auth_mode="basic")  # type: ignore[arg-type]


# -- errors ----------------------------------------------------------------------------------


def test_dead_port_is_server_unreachable():
    url = dead_url()
    with Client(url, pacer=Pacer(), timeout=2) as c, pytest.raises(ServerUnreachable) as caught:
        c.get("general/ping")
    assert_one_line(caught.value)
    assert "connection refused" in str(caught.value) and url in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert c.pacer.stats.failed == 1


def test_silent_server_is_server_timeout():
    with silent_server() as url, Client(url, pacer=Pacer(), timeout=0.3) as c:
        started = time.perf_counter()
        with pytest.raises(ServerTimeout) as caught:
            c.get("general/ping")
        assert time.perf_counter() - started < 3
    assert_one_line(caught.value)
    assert "0.3 s" in str(caught.value)


def test_answer_cut_short_is_server_unreachable_saying_so():
    """A body shorter than its Content-Length, then the connection closed: one line that says the
    answer was cut short (not that the server could not be reached at all)."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def answer_half() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"version":'
                )

        thread = threading.Thread(target=answer_half, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with Client(url, pacer=Pacer(), timeout=5) as c, pytest.raises(ServerUnreachable) as caught:
            c.get("general/ping")
        thread.join(timeout=5)
    assert_one_line(caught.value)
    assert "the answer was cut short (11 bytes of its body read, 29 more expected)" in str(caught.value)
    assert c.pacer.stats.failed == 1


def test_non_json_body_is_not_json_error(server, client):
    server.route(
        "GET", "/api/v3/html", lambda r: (200, [("Content-Type", "text/html")], b"<html>oops</html>")
    )
    response = client.get("html")
    with pytest.raises(NotJSONError) as caught:
        response.json()
    assert caught.value.status == 200 and caught.value.head.startswith(b"<html>")
    assert caught.value.content_type == "text/html"
    assert_one_line(caught.value)
    assert response.app_error is None


def test_empty_500_is_a_status_error_not_an_api_error(server, client):
    server.route("POST", "/api/v3/posts/search", lambda r: (500, [("Content-Type", "application/json")], b""))
    response = client.post("posts/search", json={})
    with pytest.raises(StatusError) as caught:
        response.raise_for_error()
    assert not isinstance(caught.value, ApiError) and caught.value.status == 500
    assert "empty body" in str(caught.value)
    with pytest.raises(NotJSONError):
        response.json()


def test_app_error_body_is_api_error(server, client):
    with pytest.raises(ApiError) as caught:
        client.login("alice", "wrong-password")
    error = caught.value
    assert error.id == "api.user.check_user_password.invalid.app_error"
    assert error.message == "Login failed because of invalid password"
    assert error.status == 401 and error.detailed_error == ""
    assert error.request_id and error.request_id == server.requests_to("/api/v3/users/login")[0].request_id
    assert_one_line(error)
    assert error.id in str(error) and "wrong-password" not in str(error)
    assert client.token is None


def test_failed_login_without_raising_returns_the_answer(client):
    response = client.login("alice", "wrong-password", raise_for_error=False)
    assert response.status == 401 and response.app_error.status_code == 401
    assert response.app_error.request_id == response.request_id
    assert client.token is None


def test_catch_all_404_is_parsed_although_text_plain(client):
    response = client.get("no/such/route")
    assert response.status == 404 and response.content_type.startswith("text/plain")
    assert response.app_error.id == "api.context.404.app_error" and response.request_id is None
    with pytest.raises(ApiError) as caught:
        response.raise_for_error()
    assert caught.value.request_id is None


def test_every_error_is_a_client_error():
    for kind in (ServerUnreachable, ServerTimeout, NotJSONError, ApiError, RateLimited, StatusError):
        assert issubclass(kind, ClientError)


def test_doubled_ratelimit_headers_read_as_the_tighter_limiter():
    response = Response(
        method="GET",
        url="http://127.0.0.1/api/v3/general/ping",
        status=200,
        header_items=[
            ("X-Ratelimit-Limit", "101"),
            ("X-Ratelimit-Remaining", "90"),
            ("X-Ratelimit-Reset", "2"),
            ("X-Ratelimit-Limit", "101"),
            ("X-Ratelimit-Remaining", "40"),
            ("X-Ratelimit-Reset", "7"),
        ],
    )
    assert response.ratelimit == Observed(101, 40, 7, None)


# -- recording ---------------------------------------------------------------------------------


def test_har_holds_no_password_token_or_cookie_and_is_har_1_2(server, tmp_path):
    server.route("POST", "/api/v3/echo", lambda r: json_answer(200, {"got": r.body.decode()}, r))
    server.route("POST", "/api/v3/fail", lambda r: app_error(400, "x.app_error", f"bad {r.body.decode()}", r))
    recorder = HarRecorder()
    with Client(server.url, pacer=Pacer(), recorder=recorder, auth_mode="cookie-xhr") as c:
        c.login("alice", PASSWORD)
        token = c.token
        c.get("users/me")
        c.get("general/ping", params={"echo": PASSWORD, "access_token": token})
        c.post("echo", json={"note": f"my password is {PASSWORD}", "password": PASSWORD})
        c.post("echo", data={"login_id": "alice", "password": PASSWORD})
        c.post("fail", data=f"token={token}")
        c.get("users/me", auth="unknowntoken12345678901234")
        c.logout()
    with Client(dead_url(), pacer=Pacer(), recorder=recorder) as gone, pytest.raises(ServerUnreachable):
        gone.get("general/ping")

    path = recorder.write(tmp_path / "run.har")
    text = path.read_text(encoding="utf-8")
    for secret in (PASSWORD, token, "unknowntoken12345678901234"):
        for spelling in (secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)):
            assert spelling not in text, f"secret leaked as {spelling!r}"
    assert "alice" in text and "<redacted>" in text  # redacted, not emptied

    har = json.loads(text)
    log = har["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "mmv3"
    assert len(log["entries"]) == 9
    for entry in log["entries"]:
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= entry.keys()
        assert entry["startedDateTime"].endswith("Z")
        assert {"send", "wait", "receive"} <= entry["timings"].keys()
        request, response = entry["request"], entry["response"]
        assert {
            "method",
            "url",
            "httpVersion",
            "cookies",
            "headers",
            "queryString",
            "headersSize",
            "bodySize",
        } <= (request.keys())
        assert {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL"} <= (
            response.keys()
        )
        assert {"size", "mimeType"} <= response["content"].keys()

    login = log["entries"][0]
    assert json.loads(login["request"]["postData"]["text"]) == {"login_id": "alice", "password": "<redacted>"}
    cookies = {cookie["name"]: cookie for cookie in login["response"]["cookies"]}
    assert cookies["MMAUTHTOKEN"]["httpOnly"] is True and cookies["MMAUTHTOKEN"]["value"] == "<redacted>"
    assert {"name": "Token", "value": "<redacted>"} in login["response"]["headers"]
    me = log["entries"][1]
    assert me["request"]["cookies"] == [
        {"name": "MMAUTHTOKEN", "value": "<redacted>"},
        {"name": "MMUSERID", "value": "<redacted>"},
    ]
    form = log["entries"][4]["request"]["postData"]
    assert {"name": "password", "value": "<redacted>"} in form["params"]
    unanswered = log["entries"][-1]
    assert unanswered["response"]["status"] == 0 and "connection refused" in unanswered["_error"]


def test_har_body_that_is_not_json_keeps_its_text(slow_server):
    recorder = HarRecorder()
    with Client(slow_server.url, pacer=Pacer(), recorder=recorder, pace=False) as c:
        responses = [c.get("general/ping") for _ in range(UNPACED_N)]
    assert any(r.is_throttled for r in responses)
    har = recorder.har()
    texts = {
        e["response"]["content"].get("text") for e in har["log"]["entries"] if e["response"]["status"] == 429
    }
    assert texts == {"limit exceeded\n"}


def test_a_servers_asterisk_mask_is_not_taken_for_a_secret():
    from mmv3 import redact

    body = {
        "SqlSettings": {"AtRestEncryptKey": "k3y"},
        "EmailSettings": {"SMTPPassword": "", "Password": "hunter22"},
    }
    body["ElasticsearchSettings"] = {"Password": "********************************"}
    out = redact.json_value(body)
    assert (
        out["ElasticsearchSettings"]["Password"] == "********************************"
    )  # GET /admin/config's mask
    assert out["EmailSettings"] == {"SMTPPassword": "", "Password": "<redacted>"}


def test_a_url_inside_a_json_string_is_redacted_without_breaking_the_json():
    from mmv3 import redact

    logs = ['GET /signup_user_complete/?d=%7B%7D&h=0123abcd" x', "MMAUTHTOKEN=abcdefgh' y"]
    out = json.loads(redact.text(json.dumps(logs)))
    assert out == ['GET /signup_user_complete/?d=%7B%7D&h=<redacted>" x', "MMAUTHTOKEN=<redacted>' y"]
