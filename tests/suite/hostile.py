"""Tiny misbehaving servers on 127.0.0.1: the suite must meet each with one clear line, in bounded time.

- `hang`: accepts connections and never answers;
- `reset`: accepts and resets the connection (RST) as soon as a request arrives;
- `garbage`: answers bytes that are not HTTP;
- `html`: answers every request 200 with an HTML page, as a web server that is not Mattermost would;
- `junk_json`: answers HTTP 200 `application/json` with a body that is not JSON.

And the reference server misbehaving in the middle of a run (`misbehaving_reference`):
- `Holds`: one route's successful answers are held back for a while (or until the test ends);
- `DiesAfter`: after a number of requests the server goes away (kept-alive connections too).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

HTML = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>\n"
KINDS = ("hang", "reset", "garbage", "html", "junk_json")


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(5)
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
    except OSError:
        return


def _answer(kind: str, conn: socket.socket, held: list[socket.socket]) -> None:
    if kind == "hang":
        held.append(conn)  # keep it open, say nothing
        return
    try:
        _read_request(conn)
        if kind == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == "garbage":
            conn.sendall(b"\x00\xff\xfe MMV3 GARBAGE \x01\x02\r\n\r\n\x7f")
        elif kind == "html":
            head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(HTML)}\r\nConnection: close\r\n\r\n"
            conn.sendall(head.encode() + HTML)
        elif kind == "junk_json":
            body = b"\x89\x00not json at all\xff"
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            conn.sendall(head.encode() + body)
    except OSError:
        pass
    finally:
        conn.close()


@contextmanager
def hostile_server(kind: str) -> Iterator[str]:
    """A server of the given kind on a free port; yields its base URL."""
    if kind not in KINDS:
        raise ValueError(f"unknown hostile server {kind!r}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_answer, args=(kind, conn, held), daemon=True).start()

    thread = threading.Thread(target=serve, name=f"hostile-{kind}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
        for conn in held:
            conn.close()


def free_port() -> int:
    """A port nothing listens on (for the connection-refused case)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ the reference server, misbehaving
ADMIN = ("hladmin", "a-password-1")  # the first account made is the system admin
USER = ("hluser", "a-password-2")


class Holds:
    """WSGI middleware: the successful answers of `path` wait `seconds` before they go out (a
    handler that sleeps after doing its work, as recycle_db_conn does) -- or until `release()`."""

    def __init__(self, app: Any, path: str, seconds: float) -> None:
        self.app, self.store, self.path, self.seconds = app, app.store, path, seconds
        self.released = threading.Event()
        self.held = 0

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("PATH_INFO") != self.path:
            return self.app(environ, start_response)
        seen: list[Any] = []

        def remember(status: str, headers: list, exc_info: Any = None) -> Any:
            seen.append((status, headers, exc_info))
            return lambda data: None

        body = list(self.app(environ, remember))
        status, headers, exc_info = seen[0]
        if status.startswith("200"):
            from mmv3.server.http import blocking

            self.held += 1
            with blocking():  # the server's other requests go on meanwhile (see mmv3.server.http)
                self.released.wait(self.seconds)
        start_response(status, headers, exc_info)
        return body

    def release(self) -> None:
        self.released.set()


class DiesAfter:
    """WSGI middleware: the server answers `budget` requests, then goes away for good."""

    def __init__(self, app: Any, budget: int) -> None:
        self.app, self.store, self.budget = app, app.store, budget
        self.server: Any = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        with self._lock:
            self.budget -= 1
            budget = self.budget
        if budget == 0:
            threading.Thread(target=self.die, daemon=True).start()
        if budget <= 0:
            # Kept-alive connections go too: drop this one without an answer.
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            return []
        return self.app(environ, start_response)

    def die(self) -> None:
        if self.server is not None:
            self.server.httpd.shutdown()
            self.server.httpd.server_close()  # new connections are refused

    def release(self) -> None:
        self.die()


@dataclass
class Target:
    url: str
    middleware: Any
    credentials: dict[str, str]  # environment of the suite run: user and admin with passwords


@contextmanager
def misbehaving_reference(wrap: Callable[[Any], Any]) -> Iterator[Target]:
    """A reference server (open, no rate limit) behind the middleware `wrap(app)` makes, with a
    system admin and a regular user; yields the URL, the middleware and the suite's environment."""
    import requests

    from mmv3.server.app import ReferenceServer
    from mmv3.server.config import Config, ServerOptions
    from mmv3.server.runner import RunningServer

    config = Config({"TeamSettings": {"EnableOpenServer": True}, "RateLimitSettings": {"Enable": False}})
    middleware = wrap(ReferenceServer(config, ServerOptions(db=":memory:", bcrypt_cost=4)))
    server = RunningServer(middleware).start()
    middleware.server = server
    try:
        for name, password in (ADMIN, USER):
            body = {"username": name, "email": f"{name}@example.com", "password": password}
            created = requests.post(f"{server.url}/api/v3/users/create", json=body, timeout=10)
            assert created.status_code == 200, created.text
        env = {
            "MMV3_USER": USER[0],
            "MMV3_PASSWORD": USER[1],
            "MMV3_ADMIN": ADMIN[0],
            "MMV3_ADMIN_PASSWORD": ADMIN[1],
        }
        yield Target(server.url, middleware, env)
    finally:
        middleware.release()
        if not isinstance(middleware, DiesAfter):
            server.stop()
