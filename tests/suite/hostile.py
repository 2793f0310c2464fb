"""Tiny misbehaving servers on 127.0.0.1: the suite must meet each with one clear line, in bounded time.

- `hang`: accepts connections and never answers;
- `reset`: accepts and resets the connection (RST) as soon as a request arrives;
- `garbage`: answers bytes that are not HTTP;
- `html`: answers every request 200 with an HTML page, as a web server that is not Mattermost would;
- `junk_json`: answers HTTP 200 `application/json` with a body that is not JSON.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
