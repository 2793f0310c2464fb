"""A small threaded HTTP/1.1 server for the reference app, with keep-alive.

Werkzeug's development server closes every connection (and says so in a `Connection: close`
header real Mattermost never sends); load tests and benchmarks need persistent connections.
This one speaks just enough HTTP/1.1 for a WSGI app that always returns a complete body:
Content-Length or chunked request bodies in, Content-Length responses out.

Scheduling (leader/followers): one thread at a time, the leader, waits for requests on every
idle connection and serves each complete one inline; the others wait for its place. Python runs
one thread at a time anyway, and a thread per connection pays a context switch every time one
of them gives up the interpreter (each SQLite call, each socket read) — more than the request
itself costs. A request about to wait (bcrypt, image work: `blocking()`), a 101 takeover or a
large answer first hands leadership to another thread, so a slow request never holds up the
others. A connection whose request the leader cannot see whole (chunked, Expect: 100-continue,
a large body, folded headers) gets a thread of its own, as before.

Protocol upgrades (WebSocket): an app answering `101` may put a callable in
`environ[UPGRADE_KEY]`; once the 101 and its headers are written, the callable gets the raw
socket and the buffered reader of the connection, and the connection ends when it returns.
"""

from __future__ import annotations

import email.parser
import email.utils
import http.client
import io
import queue
import re
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
        if len(payload) > _LARGE_ANSWER:  # a slow reader must not hold up the other connections
            _hand_off()
        self.wfile.write(head if self.command == "HEAD" else head + payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

    def _switch_protocols(self, reason: str, headers: list[tuple[str, str]], takeover: Callable) -> None:
        """Write the 101 as the app gave it (Connection and Upgrade included), then hand over."""
        self.close_connection = True
        self.send_response_only(101, reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        # No Date: gorilla/websocket writes the 101 itself, with the app's headers only.
        _hand_off()  # the upgraded connection lives on in this thread
        self.end_headers()
        try:
            takeover(self.connection, _rest_of_connection(self))
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
        self.loop: _Loop | None = None
        self._stop_requested = False
        super().__init__(address, _Handler)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until shutdown(): leader/followers threads (module docstring)."""
        if self._stop_requested:
            return
        try:
            loop = _Loop(self, poll_interval)
        except OSError:  # closed before this thread got to run
            return
        self.loop = loop
        if self._stop_requested:  # shutdown() ran before the loop existed: it saw nothing to stop
            loop.stopping = True
        loop.run()

    def shutdown(self) -> None:
        """Stop serve_forever and wait for it; idle keep-alive connections are closed."""
        self._stop_requested = True
        loop = self.loop
        if loop is not None:
            loop.stop()

    def server_bind(self) -> None:
        # TCPServer's bind without HTTPServer's reverse DNS lookup of the host name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hangs up mid-request is not an error of ours


# -- leader/followers scheduling ------------------------------------------------------------------
_LARGE_ANSWER = 256 * 1024  # bigger answers are written after handing leadership on
_LEADER_BODY = 1024 * 1024  # bigger request bodies are read by a thread of their own
_LEADER_HEAD = 64 * 1024  # more unfinished request head than this: a thread of its own
_state = threading.local()  # .loop (the _Loop of this thread) and .leader (True while leading)


@contextmanager
def blocking() -> Iterator[None]:
    """Around work that waits without Python (bcrypt, image codecs): let other requests run meanwhile."""
    _hand_off()
    yield


def _hand_off() -> None:
    """If this thread leads, give leadership to another thread; it finishes its request on its own."""
    loop = getattr(_state, "loop", None)
    if loop is not None and getattr(_state, "leader", False):
        loop.hand_off()


class _PrefixedSocket(io.RawIOBase):
    """A connection's bytes: those already received, then the socket's."""

    def __init__(self, prefix: bytes, sock: socket.socket) -> None:
        self._prefix = memoryview(prefix)
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        return self._sock.recv_into(buffer)


class _Connection:
    __slots__ = ("handler", "pending", "sock")

    def __init__(self, server: WSGIServer, sock: socket.socket, address: Any) -> None:
        sock.setblocking(True)
        self.sock = sock
        self.pending = bytearray()  # received, not yet served
        handler = _Handler.__new__(_Handler)  # set up, not run: BaseRequestHandler.__init__ would serve
        handler.request, handler.client_address, handler.server = sock, address, server
        handler.setup()
        handler.rfile.close()  # the leader hands each request over in memory (and the socket's fd
        handler.rfile = io.BytesIO()  # must not stay referenced by an unused reader)
        handler.mmv3_connection = self
        self.handler = handler

    def close(self) -> None:
        try:
            self.handler.finish()
        except OSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()


def _request_size(data: bytearray) -> int | None:
    """The length of the complete request at the start of `data`; 0 when the leader should not
    serve it (a thread reads it from the socket as http.server would); None when incomplete."""
    end = data.find(b"\n")
    if end < 0:
        return 0 if len(data) > _LEADER_HEAD else None
    if not data[: end + 1].strip():  # an empty request line: http.server closes the connection
        return end + 1
    length_text = None
    start = end + 1
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return 0 if len(data) > _LEADER_HEAD else None
        line = data[start : end + 1]
        if line in (b"\r\n", b"\n"):
            break
        header = _PLAIN_HEADER.fullmatch(line)
        if header is None:
            return 0  # folded or malformed: leave it to http.server's parser, reading the socket
        name = header.group(1).lower()
        if name in (b"transfer-encoding", b"expect"):
            return 0
        if name == b"content-length" and length_text is None:
            length_text = header.group(2)
        start = end + 1
    head = end + 1
    if not length_text:
        return head
    try:
        length = int(length_text.decode("latin-1"))
    except ValueError:
        return head  # the handler answers 400 without reading a body
    if length < 0:
        return head
    if length > _LEADER_BODY:
        return 0
    return head + length if len(data) >= head + length else None


def _rest_of_connection(handler: _Handler) -> Any:
    """A reader of what follows the current request on the connection (for a 101 takeover)."""
    connection: _Connection | None = getattr(handler, "mmv3_connection", None)
    if connection is None or not isinstance(handler.rfile, io.BytesIO):
        return handler.rfile  # a connection with a thread of its own reads the socket already
    rest = handler.rfile.read() + bytes(connection.pending)
    connection.pending.clear()
    return io.BufferedReader(_PrefixedSocket(rest, connection.sock))


class _Loop:
    def __init__(self, server: WSGIServer, poll_interval: float) -> None:
        self.server = server
        self.poll_interval = poll_interval
        self.selector = selectors.DefaultSelector()
        self.baton = threading.Lock()  # held by the leader
        self.returned: queue.SimpleQueue[_Connection] = queue.SimpleQueue()
        self.wake_read, self.wake_write = socket.socketpair()
        self.wake_read.setblocking(False)
        self.wake_write.setblocking(False)
        self.followers = 0  # threads waiting for the baton
        self.count_lock = threading.Lock()
        self.stopping = False
        self.stopped = threading.Event()
        server.socket.setblocking(False)
        self.selector.register(server.socket, selectors.EVENT_READ, None)
        self.selector.register(self.wake_read, selectors.EVENT_READ, None)

    # -- threads ---------------------------------------------------------------------------------
    def run(self) -> None:
        self._spawn()
        self.stopped.wait()

    def stop(self) -> None:
        self.stopping = True
        self._wake()
        self.stopped.wait()

    def _spawn(self) -> None:
        with self.count_lock:
            self.followers += 1
        threading.Thread(target=self._follow, name="mmv3-http", daemon=True).start()

    def _follow(self) -> None:
        _state.loop = self
        while True:
            self.baton.acquire()
            with self.count_lock:
                self.followers -= 1
            if self.stopping:
                if not self.stopped.is_set():  # stopped before any thread led
                    self._shut()
                self.baton.release()
                return
            _state.leader = True
            try:
                self._lead()
            finally:
                if _state.leader:
                    _state.leader = False
                    self.baton.release()
            with self.count_lock:
                self.followers += 1

    def hand_off(self) -> None:
        """Called by the leader only: another thread leads from now on."""
        _state.leader = False
        with self.count_lock:
            idle = self.followers
        if not idle:
            self._spawn()
        self.baton.release()

    def _wake(self) -> None:
        try:
            self.wake_write.send(b"x")
        except OSError:
            pass  # already woken (buffer full) or closed

    # -- leading -----------------------------------------------------------------------------------
    def _lead(self) -> None:
        while not self.stopping:
            for key, _ in self.selector.select(self.poll_interval):
                if key.fileobj is self.server.socket:
                    self._accept()
                elif key.fileobj is self.wake_read:
                    self._drain_wake()
                else:
                    connection: _Connection = key.data
                    self.selector.unregister(connection.sock)
                    self._guarded(self._receive, connection)
                    if not _state.leader:
                        return  # handed off while serving: the new leader selects again
            while not self.returned.empty():
                self._guarded(self._serve, self.returned.get())
                if not _state.leader:
                    return
        self._shut()

    def _guarded(self, step: Callable[[_Connection], None], connection: _Connection) -> None:
        try:
            step(connection)
        except Exception as exc:  # a bug here must not stop the leader, and with it the server
            print(f"mmv3 serve: connection dropped: {exc!r}", file=sys.stderr)
            connection.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self.server.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the listening socket was closed, or the peer gave up meanwhile
            try:
                connection = _Connection(self.server, sock, address)
            except OSError:
                sock.close()
                continue
            self.selector.register(sock, selectors.EVENT_READ, connection)

    def _drain_wake(self) -> None:
        try:
            while self.wake_read.recv(4096):
                pass
        except OSError:
            pass

    def _receive(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(65536, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            self._idle(connection)
            return
        except OSError:
            connection.close()
            return
        if not data:
            if connection.pending:  # a request cut short: let http.server's reading see the end
                self._give_thread(connection)
            else:
                connection.close()
            return
        connection.pending += data
        self._serve(connection)

    def _serve(self, connection: _Connection) -> None:
        """Serve every complete request received on the connection, then wait for more."""
        handler = connection.handler
        while True:
            size = _request_size(connection.pending)
            if size is None:
                if self.stopping or not _state.leader:
                    self._give_back(connection)
                else:
                    self._idle(connection)
                return
            if size == 0:
                self._give_thread(connection)
                return
            handler.rfile = io.BytesIO(bytes(connection.pending[:size]))
            del connection.pending[:size]
            handler.close_connection = True
            try:
                handler.handle_one_request()
            except Exception:  # a client gone mid-answer, as socketserver: drop the connection
                handler.close_connection = True
            if handler.close_connection:
                connection.close()
                return
            if not _state.leader:  # handed off during the request: the loop takes it back
                self._give_back(connection)
                return

    def _idle(self, connection: _Connection) -> None:
        try:
            self.selector.register(connection.sock, selectors.EVENT_READ, connection)
        except (ValueError, OSError):
            connection.close()

    def _give_back(self, connection: _Connection) -> None:
        """From a thread that no longer leads: the leader serves the connection from now on."""
        if self.stopping:
            connection.close()
            return
        self.returned.put(connection)
        self._wake()

    def _give_thread(self, connection: _Connection) -> None:
        """A thread of its own for the connection, reading the socket as http.server does."""
        handler = connection.handler
        handler.rfile = io.BufferedReader(_PrefixedSocket(bytes(connection.pending), connection.sock))
        connection.pending.clear()

        def serve() -> None:
            try:
                handler.handle()
            except Exception:
                pass  # as socketserver: a broken connection ends quietly
            finally:
                connection.close()

        threading.Thread(target=serve, name="mmv3-http-connection", daemon=True).start()

    def _shut(self) -> None:
        for key in list(self.selector.get_map().values()):
            if key.data is not None:
                key.data.close()
        while not self.returned.empty():
            self.returned.get().close()
        self.selector.close()
        self.wake_read.close()
        self.wake_write.close()
        self.stopped.set()
