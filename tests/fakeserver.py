"""A small fake Mattermost v3 server for mmv3's own tests (127.0.0.1 only, stdlib only).

It knows ping, login, me and logout, answers like Mattermost 4.9 where it matters to a
client (Token header, MMAUTHTOKEN/MMUSERID cookies, AppError bodies with request ids, the
CSRF rule for cookie tokens, the text/plain catch-all 404) and wraps everything in the
GCRA limiter of mmv3.ratelimit, so 429s are real. Tests add routes with `route()`.

    with FakeV3Server(quota=Quota(200, 20)) as server:
        Client(server.url).get("general/ping")
        assert server.denied == 0
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from mmv3.ratelimit import DENIED_BODY, DENIED_CONTENT_TYPE, GCRA, Quota

VERSION = "4.9.0"
VERSION_ID = "4.9.0.4.9.0.0123456789abcdef0123456789abcdef.false"
SESSION_SECONDS = 30 * 86400
# Fast enough for tests to cross the limit within a fraction of a second.
DEFAULT_QUOTA = Quota(per_sec=200, max_burst=20)
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

Headers = list[tuple[str, str]]
Answer = tuple[int, Headers, bytes]


def new_id() -> str:
    """26 lowercase base32-ish characters, like Mattermost ids and tokens."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


@dataclass
class SeenRequest:
    """What the server received (headers with their original spelling)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    request_id: str = ""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> object:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class FakeUser:
    username: str
    password: str
    id: str = field(default_factory=new_id)
    email: str = ""

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "create_at": 1795713717566,
            "update_at": 1795713717566,
            "delete_at": 0,
            "username": self.username,
            "auth_data": "",
            "auth_service": "",
            "email": self.email or f"{self.username}@example.com",
            "nickname": "",
            "first_name": "",
            "last_name": "",
            "position": "",
            "roles": "system_user",
            "locale": "en",
        }


def json_answer(status: int, body: object, request: SeenRequest, *extra: tuple[str, str]) -> Answer:
    """An answer through the v3 pipeline: request id, version id, JSON, Expires on GET."""
    headers = [("Content-Type", "application/json")]
    if request.method == "GET":
        headers.append(("Expires", "0"))
    headers += [("X-Request-Id", request.request_id), ("X-Version-Id", VERSION_ID), *extra]
    return status, headers, json.dumps(body, separators=(",", ":")).encode()


def app_error(
    status: int, error_id: str, message: str, request: SeenRequest, *extra: tuple[str, str]
) -> Answer:
    body = {
        "id": error_id,
        "message": message,
        "detailed_error": "",
        "request_id": request.request_id,
        "status_code": status,
    }
    return json_answer(status, body, request, *extra)


class FakeV3Server:
    """Run with `with FakeV3Server() as server:`; `server.url` is the site root."""

    def __init__(
        self,
        *,
        quota: Quota | None = DEFAULT_QUOTA,
        users: list[FakeUser] | None = None,
    ) -> None:
        self.limiter = GCRA(quota) if quota is not None else None
        self.users = users if users is not None else [FakeUser("alice", "alice-Pa55word!")]
        self.sessions: dict[str, str] = {}  # token -> user id
        self.seen: list[SeenRequest] = []
        self.allowed = 0
        self.denied = 0
        self._routes: dict[tuple[str, str], Callable[[SeenRequest], Answer]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> FakeV3Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.fake = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- test hooks ----------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Callable[[SeenRequest], Answer]) -> None:
        """Answer `method path` (exact, query ignored) with handler(request) -> (status, headers, body)."""
        self._routes[(method.upper(), path)] = handler

    def requests_to(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.seen if r.path == path]

    @property
    def user(self) -> FakeUser:
        return self.users[0]

    # -- serving -----------------------------------------------------------------------
    def handle(self, request: SeenRequest, client_ip: str) -> Answer:
        with self._lock:
            self.seen.append(request)
        limit_headers: Headers = []
        if self.limiter is not None:
            decision = self.limiter.take(client_ip)
            limit_headers = list(decision.headers().items())
            if not decision.allowed:
                with self._lock:
                    self.denied += 1
                headers = [("Content-Type", DENIED_CONTENT_TYPE), ("X-Content-Type-Options", "nosniff")]
                return 429, headers + limit_headers, DENIED_BODY.encode()
            with self._lock:
                self.allowed += 1
        status, headers, body = self._dispatch(request)
        return status, headers + limit_headers, body

    def _dispatch(self, request: SeenRequest) -> Answer:
        custom = self._routes.get((request.method, request.path))
        if custom is not None:
            return custom(request)
        builtin = {
            ("GET", "/api/v3/general/ping"): self._ping,
            ("POST", "/api/v3/users/login"): self._login,
            ("GET", "/api/v3/users/me"): self._me,
            ("POST", "/api/v3/users/logout"): self._logout,
        }.get((request.method, request.path))
        if builtin is not None:
            return builtin(request)
        # The catch-all: text/plain, a JSON body, no request id.
        body = {
            "id": "api.context.404.app_error",
            "message": "Sorry, we could not find the page.",
            "detailed_error": f"There doesn't appear to be an api call for the url='{request.path}'.  "
            "Typo? are you missing a team_id or user_id as part of the url?",
            "status_code": 404,
        }
        return 404, [("Content-Type", "text/plain; charset=utf-8")], json.dumps(body).encode()

    def _ping(self, request: SeenRequest) -> Answer:
        return json_answer(200, {"version": VERSION, "server_time": str(int(time.time() * 1000))}, request)

    def _login(self, request: SeenRequest) -> Answer:
        body = request.json()
        fields = body if isinstance(body, dict) and all(isinstance(v, str) for v in body.values()) else {}
        if not fields.get("password"):
            return app_error(
                400, "api.user.login.blank_pwd.app_error", "Password field must not be blank", request
            )
        login_id = fields.get("login_id", "")
        user = next(
            (u for u in self.users if login_id in (u.username, u.email or f"{u.username}@example.com")), None
        )
        if user is None:
            return app_error(
                400, "store.sql_user.get_for_login.app_error", "We couldn't find an existing account", request
            )
        if fields["password"] != user.password:
            return app_error(
                401,
                "api.user.check_user_password.invalid.app_error",
                "Login failed because of invalid password",
                request,
            )
        token = new_id()
        with self._lock:
            self.sessions[token] = user.id
        expires = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + SESSION_SECONDS))
        return json_answer(
            200,
            user.public(),
            request,
            ("Token", token),
            (
                "Set-Cookie",
                f"MMAUTHTOKEN={token}; Path=/; Expires={expires}; Max-Age={SESSION_SECONDS}; HttpOnly",
            ),
            ("Set-Cookie", f"MMUSERID={user.id}; Path=/; Expires={expires}; Max-Age={SESSION_SECONDS}"),
        )

    def _session(self, request: SeenRequest) -> tuple[FakeUser | None, Answer | None]:
        """The caller, or the 401 Mattermost gives (with cookie-clearing headers when a token was bad)."""
        token, from_cookie = _token_of(request)
        user_id = self.sessions.get(token or "")
        clear = (
            ("Set-Cookie", "MMAUTHTOKEN=; Path=/; Max-Age=0; HttpOnly"),
            ("Set-Cookie", "MMUSERID=; Path=/; Max-Age=0"),
        )
        expired = "Invalid or expired session, please login again."
        if user_id is None:
            extra = clear if token else ()
            return None, app_error(401, "api.context.session_expired.app_error", expired, request, *extra)
        if from_cookie and request.header("X-Requested-With") != "XMLHttpRequest":
            return None, app_error(401, "api.context.session_expired.app_error", expired, request)
        return next(u for u in self.users if u.id == user_id), None

    def _me(self, request: SeenRequest) -> Answer:
        user, refusal = self._session(request)
        if refusal is not None:
            return refusal
        assert user is not None
        return json_answer(200, user.public(), request)

    def _logout(self, request: SeenRequest) -> Answer:
        token, _ = _token_of(request)
        with self._lock:
            user_id = self.sessions.pop(token or "", "")
        return json_answer(
            200,
            {"user_id": user_id},
            request,
            ("Set-Cookie", "MMAUTHTOKEN=; Path=/; Max-Age=0; HttpOnly"),
            ("Set-Cookie", "MMUSERID=; Path=/; Max-Age=0"),
        )


def _token_of(request: SeenRequest) -> tuple[str | None, bool]:
    """(token, came from the cookie) by Mattermost's order: Authorization, then MMAUTHTOKEN."""
    auth = request.header("Authorization") or ""
    if auth[:6].lower() == "bearer" and len(auth) > 7:
        return auth[7:], False
    if auth[:5].lower() == "token" and len(auth) > 6:
        return auth[6:], False
    for part in (request.header("Cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "MMAUTHTOKEN" and value:
            return value, True
    return None, False


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops SYNs when many client threads connect at once, and
    # a dropped SYN is retried after a second: a stall that is the server's, not the client's.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real client pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait 40 ms for an ACK

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- stdlib signature
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = SeenRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=dict(self.headers.items()),
            body=body,
            request_id=new_id(),
        )
        fake: FakeV3Server = self.server.fake  # type: ignore[attr-defined]
        status, headers, payload = fake.handle(request, self.client_address[0])
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _handle


def dead_url() -> str:
    """A 127.0.0.1 URL nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def silent_server() -> Iterator[str]:
    """A 127.0.0.1 URL whose server accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # the kernel completes the handshake; nobody ever reads or writes
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
