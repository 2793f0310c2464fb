"""A small threaded HTTP/1.1 server for the reference app, with keep-alive.

Werkzeug's development server closes every connection (and says so in a `Connection: close`
header real Mattermost never sends); load tests and benchmarks need persistent connections.
This one speaks just enough HTTP/1.1 for a WSGI app that always returns a complete body:
Content-Length or chunked request bodies in, Content-Length responses out.

Protocol upgrades (WebSocket): an app answering `101` may put a callable in
`environ[UPGRADE_KEY]`; once the 101 and its headers are written, the callable gets the raw
socket and the buffered reader of the connection, and the connection ends when it returns.
"""

from __future__ import annotations

import io
import socket
import socketserver
import sys
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_to_bytes

MAX_BODY = 64 * 1024 * 1024  # larger bodies are refused before they are read
UPGRADE_KEY = "mmv3.upgrade"  # environ slot for a 101's connection handler: f(socket, rfile) -> None
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: WSGIServer

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self._send_plain(400, f"{exc}\n")
            self.close_connection = True
            return
        if body is None:
            self._send_plain(413, "request body too large\n")
            self.close_connection = True
            return
        status_headers: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            status_headers[:] = [status, headers]
            return lambda data: None

        environ = self._environ(body)
        try:
            chunks: Iterable[bytes] = self.server.app(environ, start_response)
            payload = b"".join(chunks)
        except Exception as exc:  # the app renders its own errors; this is the last line of defence
            print(f"mmv3 serve: unhandled error: {exc!r}", file=sys.stderr)
            self._send_plain(500, "internal server error\n")
            return
        status, headers = status_headers
        code, _, reason = status.partition(" ")
        takeover = environ.get(UPGRADE_KEY) if code == "101" else None
        if takeover is not None:
            self._switch_protocols(reason, headers, takeover)
            return
        self.send_response_only(int(code), reason)
        has_length = False
        for name, value in headers:
            lowered = name.lower()
            if lowered in _HOP_BY_HOP:
                continue
            has_length = has_length or lowered == "content-length"
            self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        if not has_length:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

    def _switch_protocols(self, reason: str, headers: list[tuple[str, str]], takeover: Callable) -> None:
        """Write the 101 as the app gave it (Connection and Upgrade included), then hand over."""
        self.close_connection = True
        self.send_response_only(101, reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        try:
            takeover(self.connection, self.rfile)
        except Exception as exc:  # the protocol handler's bug must not take the server thread down
            print(f"mmv3 serve: upgraded connection failed: {exc!r}", file=sys.stderr)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise ValueError("malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(1024)
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise ValueError("malformed Content-Length") from None
        if length < 0:
            raise ValueError("malformed Content-Length")
        if length > MAX_BODY:
            return None
        return self.rfile.read(length)

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        if path.startswith(("http://", "https://")):  # absolute-form request target
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_name,
            "SERVER_PORT": str(self.server.server_port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        content_type = self.headers.get("Content-Type")
        if content_type:
            environ["CONTENT_TYPE"] = content_type
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _send_plain(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response_only(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # connection noise from load generators is not the user's business


class WSGIServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: Callable) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # TCPServer's bind without HTTPServer's reverse DNS lookup of the host name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hangs up mid-request is not an error of ours
