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

import email.parser
import email.utils
import http.client
import io
import re
import socket
import socketserver
import sys
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_to_bytes

MAX_BODY = 64 * 1024 * 1024  # larger bodies are refused before they are read
UPGRADE_KEY = "mmv3.upgrade"  # environ slot for a 101's connection handler: f(socket, rfile) -> None
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})
_MAX_LINE = 65536  # http.client's limits on one header line and on the number of lines
_MAX_HEADERS = 100
# The request lines and header lines the fast path takes; anything else goes to http.server's own
# parser, so odd requests (HTTP/0.9, folded or malformed headers…) are answered exactly as before.
_PLAIN_REQUEST_LINE = re.compile(rb"([A-Z]+) ([!-~]+) HTTP/1\.([01])\r?\n")
_PLAIN_HEADER = re.compile(rb"([!-9;-~]+):[ \t]*([^\r\n]*)\r?\n")


class _Headers:
    """The request headers as parsed by the fast path: the few `email.message.Message` reads used here."""

    __slots__ = ("_first", "_items")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._first: dict[str, str] = {}  # lower-cased name -> its first value, as Message.get answers
        for name, value in items:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: Any = None) -> Any:
        return self._first.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return self._items


class _DateCache:
    """The Date header value, formatted once per second rather than once per response."""

    def __init__(self) -> None:
        self._cached = (-1, "")  # one tuple, replaced whole: threads never see a half update

    def now(self) -> str:
        second = int(time.time())
        cached = self._cached
        if cached[0] != second:
            cached = self._cached = (second, email.utils.formatdate(second, usegmt=True))
        return cached[1]


_DATE = _DateCache()
_ENVIRON_KEYS: dict[str, str] = {}  # header name as sent -> its CGI key; clients send the same few


def _environ_key(name: str) -> str:
    key = "HTTP_" + name.upper().replace("-", "_")
    if len(_ENVIRON_KEYS) < 1024:
        _ENVIRON_KEYS[name] = key
    return key


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: WSGIServer

    def parse_request(self) -> bool:
        """http.server's parse_request, with a fast path for the plain HTTP/1.x requests of real clients."""
        match = _PLAIN_REQUEST_LINE.fullmatch(self.raw_requestline)
        if match is None or match.group(2).startswith(b"//"):
            return super().parse_request()
        command, path, minor = match.groups()
        self.command, self.path = command.decode(), path.decode("iso-8859-1")
        self.request_version = "HTTP/1.1" if minor == b"1" else "HTTP/1.0"
        self.requestline = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n")
        self.close_connection = minor != b"1"
        lines = []
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "Line too long",
                    str(http.client.LineTooLong("header line")),
                )
                return False
            lines.append(line)
            if len(lines) > _MAX_HEADERS:
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "Too many headers",
                    f"got more than {_MAX_HEADERS} headers",
                )
                return False
            if line in (b"\r\n", b"\n", b""):
                break
        items = []
        for line in lines[:-1]:
            header = _PLAIN_HEADER.fullmatch(line)
            if header is None:  # folded or malformed: let the email parser decide, as before
                text = b"".join(lines).decode("iso-8859-1")
                self.headers = email.parser.Parser(_class=self.MessageClass).parsestr(text)
                break
            items.append((header.group(1).decode("iso-8859-1"), header.group(2).decode("iso-8859-1")))
        else:
            self.headers = _Headers(items)
        conntype = self.headers.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive":
            self.close_connection = False
        if self.headers.get("Expect", "").lower() == "100-continue" and minor == b"1":
            return self.handle_expect_100()
        return True

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
        # The status line, headers and body go out in one write: one packet for small answers.
        out = [f"{self.protocol_version} {code} {reason}\r\n"]
        has_length = False
        for name, value in headers:
            lowered = name.lower()
            if lowered in _HOP_BY_HOP:
                continue
            has_length = has_length or lowered == "content-length"
            out.append(f"{name}: {value}\r\n")
        out.append(f"Date: {_DATE.now()}\r\n")
        if not has_length:
            out.append(f"Content-Length: {len(payload)}\r\n")
        if self.close_connection:
            out.append("Connection: close\r\n")
        out.append("\r\n")
        head = "".join(out).encode("latin-1", "strict")
        if self.request_version == "HTTP/0.9":  # as http.server: no status line or headers
            head = b""
        self.wfile.write(head if self.command == "HEAD" else head + payload)

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
            key = _ENVIRON_KEYS.get(name) or _environ_key(name)
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
