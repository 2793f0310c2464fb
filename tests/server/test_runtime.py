"""The reference server as users run it: `mmv3 serve`, its storage, and the wire-wide rules of 4.9.

Process-level behaviour (URL, signals, exit codes, persistence) runs `python -m mmv3.cli serve`
as a subprocess; the wire rules run against in-process servers (`running_server`).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from mmv3.server.faults import FAULTS
from mmv3.server.runner import running_server
from mmv3.server.store import SCHEMA_VERSION

from .api import PASSWORD, Api

MM_ID = re.compile(r"^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}$")
INTERNAL_ERROR = "mmv3.reference_server.internal.app_error"
SERVE = [sys.executable, "-m", "mmv3.cli", "serve", "--port", "0", "--bcrypt-cost", "4"]


# -- `mmv3 serve` as a process -------------------------------------------------------------------
@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    stderr_path: Path
    banner: str = ""  # what it printed up to its URL

    def stop(self, signum: int) -> tuple[int, str]:
        """Send `signum`, wait for the exit; (exit code, the rest of stdout)."""
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=20)
        return code, self.proc.stdout.read().decode()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _first_line(stream, timeout: float) -> bytes:
    """One line from a pipe without risking a hang when the process never writes it."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = stream.read1(4096)
            if not chunk:
                break
            data += chunk
    return data


@contextmanager
def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    stderr_path = tmp_path / f"serve-stderr-{time.monotonic_ns()}.txt"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen([*SERVE, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, env=env)
    try:
        banner = b""
        while not (found := re.search(rb"http://127\.0\.0\.1:\d+", banner)):
            line = _first_line(proc.stdout, 30)
            if not line:
                break
            banner += line
        assert found, f"no URL printed: {banner!r}; stderr: {stderr_path.read_text(errors='replace')[-2000:]}"
        yield Served(proc, found.group().decode(), stderr_path, banner.decode())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
        proc.stdout.close()


def run_serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SERVE, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_serve_makes_the_accounts_it_is_asked_for(tmp_path: Path) -> None:
    env = {**os.environ, "MMV3_ADMIN_PASSWORD": "Boss-pass-1", "MMV3_PASSWORD": "Worker-pass-1"}
    db = str(tmp_path / "mmv3.db")
    first = ("--db", db, "--user", "worker")  # a user first: the admin must still become system admin
    with serve(tmp_path, *first, env=env) as served:
        assert "user worker: created (the server's first account, kept a regular user)" in served.banner
        served.stop(signal.SIGTERM)
    with serve(tmp_path, "--db", db, "--admin", "boss", "--user", "worker", env=env) as served:
        assert "admin boss: created, made system admin" in served.banner
        assert "user worker: exists" in served.banner and "differs" not in served.banner
        api = Api(served.url)
        for name, password, admin in (("boss", "Boss-pass-1", True), ("worker", "Worker-pass-1", False)):
            login = api.call("POST", "/api/v3/users/login", {"login_id": name, "password": password})
            assert login.status_code == 200, login.text
            assert ("system_admin" in login.json()["roles"]) is admin
        served.stop(signal.SIGTERM)
    missing = {k: v for k, v in env.items() if k != "MMV3_PASSWORD"}
    result = subprocess.run(
        [*SERVE, "--db", db, "--user", "worker"],
        cwd=tmp_path,
        env=missing,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "mmv3 serve: --user worker needs its password in the environment variable MMV3_PASSWORD"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_prints_its_url_answers_ping_and_stops_cleanly(tmp_path: Path, signum: int) -> None:
    with serve(tmp_path, "--db", str(tmp_path / "mmv3.db")) as served:
        ping = requests.get(served.url + "/api/v3/general/ping", timeout=10)
        assert ping.status_code == 200
        assert ping.json()["version"] == "4.9.0"
        code, out = served.stop(signum)
        assert code == 0
        assert "stopped" in out
        assert "Traceback" not in served.stderr()


def test_list_faults_lists_every_switch(tmp_path: Path) -> None:
    done = run_serve(tmp_path, "--list-faults")
    assert done.returncode == 0
    lines = done.stdout.strip().splitlines()
    assert len(lines) >= 20
    assert {line.split()[0] for line in lines} == set(FAULTS)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--fault", "no-such-fault"], "unknown fault no-such-fault"),
        (["--rate-limit", "fast"], "rate limit must look like PERSEC/BURST"),
        (["--rate-limit", "0/10"], "PERSEC > 0"),
        (["--config", "{tmp}/missing.json"], "cannot read config file"),
        (["--config", "{tmp}/broken.json"], "is not valid JSON"),
        (["--port", "{busy}"], "cannot listen on 127.0.0.1:"),
        (["--vary-by", "cookie"], "--vary-by must be"),
    ],
    ids=[
        "unknown-fault",
        "bad-rate-limit",
        "zero-rate",
        "missing-config",
        "broken-config",
        "port-in-use",
        "vary-by",
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, busy_port: int, args: list[str], says: str) -> None:
    (tmp_path / "broken.json").write_text("{ not json")
    args = [a.replace("{tmp}", str(tmp_path)).replace("{busy}", str(busy_port)) for a in args]
    done = run_serve(tmp_path, "--db", str(tmp_path / "mmv3.db"), *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mmv3 serve: ") and says in lines[0]
    assert done.stdout == ""


def test_data_survives_a_restart_and_a_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "state" / "mmv3.db"
    args = ("--db", str(db), "--no-rate-limit")
    with serve(tmp_path, *args) as served:
        api = Api(served.url)
        admin = api.create_user("keeper")
        token = api.login("keeper")
        team = api.create_team(token, "keep-team")
        channel = api.create_channel(token, team["id"], "keep-channel")
        first = api.create_post(token, team["id"], channel["id"], "written before SIGTERM")
        assert served.stop(signal.SIGTERM)[0] == 0

    def post_path(post: dict) -> str:
        return f"/api/v3/teams/{team['id']}/channels/{channel['id']}/posts/{post['id']}/get"

    with serve(tmp_path, *args) as served:
        api = Api(served.url)
        assert api.ok("GET", "/api/v3/users/me", token=token)["id"] == admin["id"]  # the session too
        assert api.login("keeper")
        assert api.ok("GET", "/api/v3/teams/name/keep-team", token=token)["id"] == team["id"]
        assert (
            api.ok("GET", post_path(first), token=token)["posts"][first["id"]]["message"]
            == "written before SIGTERM"
        )
        second = api.create_post(token, team["id"], channel["id"], "written before kill -9")
        served.proc.kill()  # SIGKILL: no shutdown code runs
        served.proc.wait(timeout=20)

    with serve(tmp_path, *args) as served:
        api = Api(served.url)
        assert (
            api.ok("GET", post_path(second), token=token)["posts"][second["id"]]["message"]
            == "written before kill -9"
        )
        assert served.stop(signal.SIGTERM)[0] == 0
        assert "Traceback" not in served.stderr()


def test_every_post_acknowledged_under_concurrent_posting_survives_a_kill_9(tmp_path: Path) -> None:
    """benchmarks/kill9_durability.py in small: the kill lands while posts are in flight."""
    args = ("--db", str(tmp_path / "mmv3.db"), "--no-rate-limit")
    acknowledged: list[str] = []
    errors: list[int] = []
    with serve(tmp_path, *args) as served:
        api = Api(served.url)
        api.create_user("poster")
        token = api.login("poster")
        team = api.create_team(token, "kill-team")
        channel = api.create_channel(token, team["id"], "kill-channel")
        path = f"/api/v3/teams/{team['id']}/channels/{channel['id']}/posts/create"
        body = {"channel_id": channel["id"], "message": "acknowledged before kill -9"}
        done = threading.Event()

        def post() -> None:
            poster = Api(served.url)
            while not done.is_set():
                try:
                    answer = poster.call("POST", path, body, token=token)
                except requests.RequestException:
                    return  # the server is gone
                if answer.status_code == 200:
                    acknowledged.append(answer.json()["id"])
                else:
                    errors.append(answer.status_code)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        served.proc.kill()  # SIGKILL with requests in flight
        served.proc.wait(timeout=20)
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    assert len(acknowledged) >= 60 and not errors, (len(acknowledged), errors)

    with serve(tmp_path, *args) as served:
        api = Api(served.url)
        missing = [
            post_id
            for post_id in acknowledged
            if api.call("GET", f"/api/v3/teams/{team['id']}/posts/{post_id}", token=token).status_code != 200
        ]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged posts lost"


def test_database_records_its_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "mmv3.db"
    with serve(tmp_path, "--db", str(db)) as served:
        assert served.stop(signal.SIGTERM)[0] == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_memory_database_works_and_writes_no_file(tmp_path: Path) -> None:
    with serve(tmp_path, "--db", ":memory:") as served:
        api = Api(served.url)
        user = api.create_user("ephemeral")
        assert api.ok("GET", "/api/v3/users/me", token=api.login("ephemeral"))["id"] == user["id"]
        assert served.stop(signal.SIGTERM)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("serve-stderr")) == []


def test_vary_by_header_keys_the_limiter_on_that_header_alone(tmp_path: Path) -> None:
    with serve(tmp_path, "--db", ":memory:", "--rate-limit", "1/2", "--vary-by", "header:X-Client") as served:

        def ping(client: str, address: str) -> int:
            headers = {"X-Client": client, "X-Forwarded-For": address}
            return requests.get(served.url + "/api/v3/general/ping", headers=headers, timeout=10).status_code

        # Limit is burst + 1 = 3; a new address does not help, a new header value does.
        assert [ping("a", f"10.0.0.{n}") for n in range(4)] == [200, 200, 200, 429]
        assert ping("b", "10.0.0.1") == 200


# -- wire-wide rules (in-process) ----------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    with running_server(bcrypt_cost=4) as running:
        yield running


@pytest.fixture(scope="module")
def users(server) -> dict[str, str]:
    """An admin (first user) and a regular user, logged in: name → token."""
    api = Api(server.url)
    api.create_user("rt-admin")
    api.create_user("rt-user")
    return {"admin": api.login("rt-admin"), "user": api.login("rt-user")}


@pytest.fixture(scope="module")
def place(server, users) -> dict[str, str]:
    """A team with the regular user in it and an open channel both are in."""
    api = Api(server.url)
    team = api.create_team(users["admin"], "rt-team")
    user_id = api.ok("GET", "/api/v3/users/me", token=users["user"])["id"]
    api.add_to_team(users["admin"], team["id"], user_id)
    channel = api.create_channel(users["admin"], team["id"], "rt-open")
    api.ok("POST", f"/api/v3/teams/{team['id']}/channels/{channel['id']}/join", token=users["user"])
    return {"team": team["id"], "channel": channel["id"]}


def test_ids_are_26_characters_of_mattermosts_alphabet(server, users) -> None:
    api = Api(server.url)
    me = api.call("GET", "/api/v3/users/me", token=users["user"])
    assert MM_ID.match(me.json()["id"])
    assert MM_ID.match(me.headers["X-Request-Id"])
    assert MM_ID.match(users["user"])  # session tokens are ids too


def test_every_api_answer_carries_request_and_version_ids(server, users) -> None:
    api = Api(server.url)
    answers = [
        api.call("GET", "/api/v3/general/ping"),
        api.call("GET", "/api/v3/users/me", token=users["admin"]),
        api.call("GET", "/api/v3/users/me"),
        api.call("POST", "/api/v3/users/login", {"login_id": "rt-user", "password": "wrong-pass"}),
        api.call("POST", "/api/v3/users/login", {"login_id": "rt-user", "password": PASSWORD}),
        api.call("GET", "/api/v3/admin/logs", token=users["user"]),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 401, 200, 403]
    request_ids = [a.headers.get("X-Request-Id") for a in answers]
    assert all(rid and MM_ID.match(rid) for rid in request_ids)
    assert len(set(request_ids)) == len(request_ids)
    for answer in answers:
        assert answer.headers.get("X-Version-Id", "").startswith("4.9.0.")
        assert answer.headers["Content-Type"] == "application/json"
        is_get = answer.request.method == "GET"
        assert answer.headers.get("Expires") == ("0" if is_get else None)
        if answer.status_code >= 400:
            body = answer.json()
            assert body["request_id"] == answer.headers["X-Request-Id"]
            assert body["status_code"] == answer.status_code
            assert set(body) == {"id", "message", "detailed_error", "request_id", "status_code"}


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/api/v3/no/such/route"), ("GET", "/api/v3/users/login"), ("POST", "/api/v3/users/me")],
    ids=["unknown-route", "wrong-method-get", "wrong-method-post"],
)
def test_unknown_route_and_wrong_method_are_the_plain_text_404(server, method: str, path: str) -> None:
    answer = Api(server.url).call(method, path)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "X-Request-Id" not in answer.headers and "X-Version-Id" not in answer.headers
    assert answer.text == (
        '{"id":"api.context.404.app_error","message":"Sorry, we could not find the page.",'
        f"\"detailed_error\":\"There doesn't appear to be an api call for the url='{path}'.  "
        'Typo? are you missing a team_id or user_id as part of the url?","status_code":404}'
    )


@pytest.mark.parametrize("path", ["/api/v3/users/me", "/api/v3/no/such/route", "/anything"])
def test_options_is_200_with_an_empty_body_anywhere(server, path: str) -> None:
    answer = Api(server.url).call("OPTIONS", path)
    assert answer.status_code == 200
    assert answer.content == b""


def test_cookie_token_needs_x_requested_with(server, users) -> None:
    api = Api(server.url)
    cookie = {"Cookie": f"MMAUTHTOKEN={users['user']}"}
    refused = api.call("GET", "/api/v3/users/me", headers=cookie)
    assert refused.status_code == 401
    assert refused.json()["id"] == "api.context.session_expired.app_error"
    allowed = api.call("GET", "/api/v3/users/me", headers={**cookie, "X-Requested-With": "XMLHttpRequest"})
    assert allowed.status_code == 200


def test_garbage_token_is_401_and_clears_both_cookies(server) -> None:
    answer = Api(server.url).call("GET", "/api/v3/users/me", token="z" * 26)
    assert answer.status_code == 401
    assert answer.json()["id"] == "api.context.session_expired.app_error"
    assert answer.raw.headers.getlist("Set-Cookie") == [
        "MMAUTHTOKEN=; Path=/; Max-Age=0; HttpOnly",
        "MMUSERID=; Path=/; Max-Age=0",
    ]


def test_api_v3_disabled_answers_501_but_not_on_the_catch_all() -> None:
    with running_server(config={"ServiceSettings": {"EnableAPIv3": False}}) as disabled:
        api = Api(disabled.url)
        for method, path in (("GET", "/api/v3/general/ping"), ("POST", "/api/v3/users/login")):
            answer = api.call(method, path, {} if method == "POST" else None)
            assert answer.status_code == 501
            assert answer.json()["id"] == "api.context.v3_disabled.app_error"
            assert answer.json()["request_id"] == answer.headers["X-Request-Id"]
        missing = api.call("GET", "/api/v3/no/such/route")
        assert missing.status_code == 404
        assert missing.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_rate_limit_headers_and_429_as_real_4_9() -> None:
    with running_server(rate_limit="1/3") as limited:
        api = Api(limited.url)
        first_four = [api.call("GET", "/api/v3/general/ping") for _ in range(4)]
        assert [a.status_code for a in first_four] == [200] * 4  # Limit = burst + 1
        assert {a.headers["X-Ratelimit-Limit"] for a in first_four} == {"4"}
        assert [int(a.headers["X-Ratelimit-Remaining"]) for a in first_four] == [3, 2, 1, 0]
        resets = [int(a.headers["X-Ratelimit-Reset"]) for a in first_four]
        assert resets == sorted(resets) and 1 <= resets[0] and resets[-1] <= 5  # seconds, not an epoch
        denied = api.call("GET", "/api/v3/general/ping")
        assert denied.status_code == 429
        assert denied.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert denied.content == b"limit exceeded\n"
        assert int(denied.headers["Retry-After"]) >= 1
        assert denied.headers["X-Content-Type-Options"] == "nosniff"
        assert denied.headers["X-Ratelimit-Remaining"] == "0"
        assert "X-Request-Id" not in denied.headers
        # the limiter is outermost: unknown routes count and carry the headers too
        assert api.call("GET", "/api/v3/no/such/route").status_code == 429


def test_rate_limit_is_keyed_by_client_address() -> None:
    with running_server(rate_limit="1/1") as limited:
        api = Api(limited.url)

        def ping(address: str) -> int:
            return api.call("GET", "/api/v3/general/ping", headers={"X-Forwarded-For": address}).status_code

        assert [ping("10.1.1.1") for _ in range(3)] == [200, 200, 429]
        assert ping("10.2.2.2") == 200


def _assert_refused_cleanly(answer: requests.Response) -> None:
    assert 400 <= answer.status_code < 500, f"{answer.status_code} {answer.text[:200]}"
    body = answer.json()
    assert body["id"] != INTERNAL_ERROR
    assert body["request_id"] == answer.headers["X-Request-Id"]


BAD_BODIES = {
    "malformed": b'{"username": "x",',
    "empty": b"",
    "wrong-types": b'{"username": 5, "email": ["a"], "password": {"p": 1}, "login_id": 7, "name": false}',
    "array": b"[1, 2, 3]",
    "string": b'"just a string"',
    "null": b"null",
    "huge": json.dumps(
        {"username": "h" * 3_000_000, "login_id": "h" * 3_000_000, "password": "p" * 100}
    ).encode(),
}


@pytest.mark.parametrize("kind", BAD_BODIES)
@pytest.mark.parametrize(
    "path", ["/api/v3/users/create", "/api/v3/users/login", "/api/v3/teams/create", "/api/v3/users/ids"]
)
def test_bad_bodies_get_a_real_style_4xx(server, users, capsys, path: str, kind: str) -> None:
    token = None if path.startswith("/api/v3/users/create") or path.endswith("/login") else users["admin"]
    _assert_refused_cleanly(Api(server.url).call("POST", path, raw=BAD_BODIES[kind], token=token))
    assert "Traceback" not in capsys.readouterr().err


HOSTILE = ["x'); DROP TABLE users;--", "' OR '1'='1", 'ünïcødé ☃ 𝄞 "quoted" \\ back', "%00\x00nul", "a" * 70]


@pytest.mark.parametrize("text", HOSTILE, ids=["sql-drop", "sql-or", "unicode", "nul", "long"])
def test_hostile_text_is_refused_or_stored_never_a_500(server, users, place, capsys, text: str) -> None:
    api = Api(server.url)
    created = api.call(
        "POST", "/api/v3/users/create", {"username": text, "email": "h@example.com", "password": "pw12345"}
    )
    _assert_refused_cleanly(created)  # not a valid username
    login = api.call("POST", "/api/v3/users/login", {"login_id": text, "password": text})
    _assert_refused_cleanly(login)
    search = api.call("POST", "/api/v3/users/search", {"term": text}, token=users["admin"])
    assert search.status_code == 200 and isinstance(search.json(), list)
    post = api.create_post(users["user"], place["team"], place["channel"], text)
    assert post["message"] == text  # stored verbatim, nothing interpreted
    found = api.ok(
        "GET",
        f"/api/v3/teams/{place['team']}/channels/{place['channel']}/posts/{post['id']}/get",
        token=users["admin"],
    )
    assert found["posts"][post["id"]]["message"] == text
    assert (
        api.ok("GET", "/api/v3/users/me", token=users["admin"])["username"] == "rt-admin"
    )  # users table intact
    assert "Traceback" not in capsys.readouterr().err


def test_concurrent_logins_and_posts_lose_nothing(server, users, place, capsys) -> None:
    api = Api(server.url)
    names = [f"rt-conc{n}" for n in range(4)]
    for name in names:
        user = api.create_user(name)
        api.add_to_team(users["admin"], place["team"], user["id"])
        api.ok(
            "POST", f"/api/v3/teams/{place['team']}/channels/{place['channel']}/join", token=api.login(name)
        )
    threads, per_thread = 16, 5
    start = threading.Barrier(threads)
    failures: list[str] = []

    def work(n: int) -> None:
        mine = Api(server.url)
        start.wait(timeout=30)
        try:
            token = mine.login(names[n % len(names)])
            for i in range(per_thread):
                mine.create_post(token, place["team"], place["channel"], f"concurrent {n}-{i}")
        except (AssertionError, requests.RequestException) as exc:
            failures.append(f"thread {n}: {exc}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not failures, failures
    listed = api.ok(
        "GET",
        f"/api/v3/teams/{place['team']}/channels/{place['channel']}/posts/page/0/200",
        token=users["admin"],
    )
    messages = {post["message"] for post in listed["posts"].values()}
    assert {f"concurrent {n}-{i}" for n in range(threads) for i in range(per_thread)} <= messages
    assert "Traceback" not in capsys.readouterr().err
