"""The keep-alive HTTP/1.1 server (server/http.py): its fast request parser against http.server's."""

from __future__ import annotations

import email.parser
import http.client
import io
import json
import re
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from mmv3.server.http import WSGIServer, _Handler, blocking


def _echo_app(environ: dict, start_response) -> list[bytes]:
    """Answers the request as the app saw it: method, path, protocol, HTTP_* headers, body."""
    body = environ["wsgi.input"].read()
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_") or k == "CONTENT_TYPE"}
    payload = json.dumps(
        {
            "method": environ["REQUEST_METHOD"],
            "path": environ["PATH_INFO"],
            "protocol": environ["SERVER_PROTOCOL"],
            "headers": seen,
            "body": body.decode("latin-1"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = WSGIServer(("127.0.0.1", 0), _echo_app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class _Answer:
    def __init__(self, reader: io.BufferedReader, *, head: bool = False) -> None:
        status_line = reader.readline().decode("latin-1")
        self.status = int(status_line.split()[1])
        self.headers = http.client.parse_headers(reader)
        self.body = b"" if head else reader.read(int(self.headers.get("Content-Length", "0")))

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name)


def _exchange(port: int, raw: bytes, answers: int = 1, *, head: bool = False) -> tuple[list[_Answer], bool]:
    """Send `raw`, read `answers` responses, and say whether the server then closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        reader = sock.makefile("rb")
        responses = []
        for _ in range(answers):
            responses.append(_Answer(reader, head=head))
        closed = reader.read(1) == b""
    return responses, closed


def _seen(response: _Answer) -> dict:
    return json.loads(response.body)


def test_keep_alive_serves_several_requests_on_one_connection(port: int) -> None:
    raw = (
        b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-One: 1\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}"
    )
    (first, second), closed = _exchange(port, raw, answers=2)
    assert first.status == 200 and _seen(first)["path"] == "/a"
    assert _seen(first)["headers"]["HTTP_X_ONE"] == "1"
    assert first.getheader("Date") and first.getheader("Content-Length") == str(len(first.body))
    assert first.getheader("Connection") is None
    assert _seen(second)["method"] == "POST" and _seen(second)["body"] == "{}"
    assert _seen(second)["headers"]["CONTENT_TYPE"] == "application/json"
    assert second.getheader("Connection") == "close" and closed


@pytest.mark.parametrize(("connection", "stays_open"), [(b"", False), (b"Connection: keep-alive\r\n", True)])
def test_http_1_0_closes_unless_asked_to_keep_alive(port: int, connection: bytes, stays_open: bool) -> None:
    raw = b"GET /x HTTP/1.0\r\nHost: h\r\n" + connection + b"\r\n"
    if stays_open:  # a second request, closing, proves the first left the connection open
        raw += b"GET /y HTTP/1.0\r\n\r\n"
    responses, closed = _exchange(port, raw, answers=2 if stays_open else 1)
    assert _seen(responses[0])["protocol"] == "HTTP/1.0" and closed
    assert (responses[0].getheader("Connection") == "close") is not stays_open


def test_header_values_are_those_the_email_parser_gives(port: int) -> None:
    head = (
        b"X-Dup: a\r\nX-Dup: b\r\nX-Space:   padded  \r\nX-Latin: caf\xe9\r\nX-Empty:\r\n"
        b"X-Folded: first\r\n  second\r\n"
    )
    (response,), _ = _exchange(port, b"GET /h HTTP/1.1\r\n" + head + b"Connection: close\r\n\r\n")
    expected = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(head.decode("latin-1") + "\r\n")
    seen = _seen(response)["headers"]
    assert seen["HTTP_X_DUP"] == "a,b"
    for name in ("X-Space", "X-Latin", "X-Empty", "X-Folded"):
        assert seen["HTTP_" + name.upper().replace("-", "_")] == expected[name]


def test_a_plain_request_parses_as_http_server_does(port: int) -> None:
    """The fast path alone (no folded line): same headers as http.client.parse_headers."""
    head = b"Host: h\r\nX-Space:  v  \r\nX-Tab:\tt\r\nAuthorization: Bearer abc\r\n\r\n"
    (response,), _ = _exchange(
        port, b"GET /p HTTP/1.1\r\n" + head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    )
    expected = http.client.parse_headers(io.BytesIO(head))
    seen = _seen(response)["headers"]
    assert seen["HTTP_X_SPACE"] == expected["X-Space"] == " v  ".lstrip() and seen["HTTP_X_TAB"] == "t"
    assert seen["HTTP_AUTHORIZATION"] == "Bearer abc"


@pytest.mark.parametrize(
    "head",
    [b"X-Long: " + b"a" * 70000 + b"\r\n", b"".join(b"X-H%d: v\r\n" % i for i in range(100))],
    ids=["line too long", "too many headers"],
)
def test_oversized_headers_get_431_and_a_closed_connection(port: int, head: bytes) -> None:
    (response,), closed = _exchange(port, b"GET / HTTP/1.1\r\n" + head + b"\r\n")
    assert response.status == 431 and closed


def test_head_has_no_body_and_expect_100_gets_a_continue(port: int) -> None:
    (head,), closed = _exchange(port, b"HEAD /x HTTP/1.1\r\nConnection: close\r\n\r\n", head=True)
    assert (
        head.status == 200 and int(head.getheader("Content-Length")) > 0 and closed
    )  # nothing after the head
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        reader = sock.makefile("rb")
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n" and reader.readline() == b"\r\n"
        sock.sendall(b"ok")
        assert reader.readline().startswith(b"HTTP/1.1 200 ")
        assert json.loads(reader.read().split(b"\r\n\r\n", 1)[1])["body"] == "ok"


def test_requests_the_fast_path_leaves_alone_still_get_http_servers_answers(port: int) -> None:
    (unknown,), _ = _exchange(port, b"BREW /pot HTTP/1.1\r\n\r\n")
    assert unknown.status == 501
    (bad,), closed = _exchange(port, b"GET /a b HTTP/1.1\r\n\r\n")
    assert bad.status == 400 and closed
    (double,), _ = _exchange(port, b"GET //x HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert _seen(double)["path"] == "/x"


# -- scheduling: one leader serves complete requests; waits and odd requests leave it free --------
def _gated_app(gate: threading.Event, entered: threading.Event):
    def app(environ: dict, start_response) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            with blocking():  # as bcrypt does: the leader hands over before it waits
                assert gate.wait(timeout=10)
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode() + b":" + body]

    return app


@pytest.fixture
def gated() -> Iterator[tuple[int, threading.Event, threading.Event]]:
    gate, entered = threading.Event(), threading.Event()
    server = WSGIServer(("127.0.0.1", 0), _gated_app(gate, entered))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port, gate, entered
    gate.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_waiting_request_does_not_hold_up_the_others(gated: tuple) -> None:
    port, gate, entered = gated
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(b"GET /slow HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert entered.wait(timeout=10)
        (fast,), _ = _exchange(port, b"GET /fast HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert fast.body == b"/fast:"  # answered while /slow still waits
        gate.set()
        (answer,) = [_Answer(slow.makefile("rb"))]
        assert answer.body == b"/slow:"


def test_split_pipelined_chunked_and_large_requests_are_all_served(gated: tuple) -> None:
    port, _, _ = gated
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        sock.sendall(b"POST /split HTTP/1.1\r\nContent-Le")  # head cut in two: the leader waits for it
        (other,), _ = _exchange(port, b"GET /other HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert other.body == b"/other:"
        sock.sendall(b"ngth: 3\r\n\r\nabc")
        assert _Answer(reader).body == b"/split:abc"
        sock.sendall(b"GET /p1 HTTP/1.1\r\n\r\nGET /p2 HTTP/1.1\r\n\r\n")  # pipelined in one packet
        assert [_Answer(reader).body, _Answer(reader).body] == [b"/p1:", b"/p2:"]
        sock.sendall(b"POST /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
        assert _Answer(reader).body == b"/chunked:ab"
        big = b"x" * (2 * 1024 * 1024)
        sock.sendall(b"POST /big HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        assert _Answer(reader).body == b"/big:" + big
        sock.sendall(b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert _Answer(reader).body == b"/last:" and reader.read(1) == b""


def test_shutdown_closes_idle_connections_and_returns() -> None:
    server = WSGIServer(("127.0.0.1", 0), _echo_app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\n\r\n")
        reader = sock.makefile("rb")
        assert _seen(_Answer(reader))["path"] == "/a"  # the connection is now idle, kept alive
        server.shutdown()
        assert reader.read(1) == b""
    server.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_shutdown_at_once_after_start_or_before_it_does_not_hang() -> None:
    for _ in range(20):  # the start and the stop race: each order must end
        server = WSGIServer(("127.0.0.1", 0), _echo_app)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        server.shutdown()
        thread.join(timeout=5)
        assert not thread.is_alive()
        server.server_close()
    early = WSGIServer(("127.0.0.1", 0), _echo_app)
    early.shutdown()  # before serve_forever: it then returns at once instead of serving
    early.serve_forever(poll_interval=0.05)
    early.server_close()


class _ThreadPerConnection(socketserver.ThreadingTCPServer):
    """The same request handler run as http.server runs it: a thread reading each socket."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app) -> None:
        self.app = app
        super().__init__(("127.0.0.1", 0), _Handler)
        self.server_name, self.server_port = self.server_address[:2]


_ODD_REQUESTS = [
    b"POST /a HTTP/1.1\r\nBad Header: x\r\nContent-Length: 5\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"POST /a HTTP/1.1\r\nContent-Length: +3\r\n\r\nabcGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"POST /a HTTP/1.1\r\nContent-Length:  3 \r\n\r\nabcGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\nabc",
    b"POST /a HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n0123456789GET /b HTTP/1.0\r\n\r\n",
    b"POST /a HTTP/1.1\r\ncontent-length: 2\r\nContent-Length: 4\r\n\r\nabcdGET /c HTTP/1.0\r\n\r\n",
    b"POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",  # then the client closes its side
    b"\r\nGET / HTTP/1.1\r\n\r\n",
    b"GET /a HTTP/1.1\n\nGET /b HTTP/1.1\r\nConnection: close\n\n",
    b"GET /a HTTP/1.1\r\nX: 1\r\n continued\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nFrom nobody\r\nX-A: 1\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"GET /\r\n\r\n",
    b"get / HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"\r\n",
]


def _raw_answer(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return re.sub(rb"Date: [^\r]*", b"Date: -", out)


def test_the_leader_answers_odd_requests_as_a_thread_reading_the_socket_does(port: int) -> None:
    reference = _ThreadPerConnection(_echo_app)
    thread = threading.Thread(target=reference.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        for raw in _ODD_REQUESTS:
            assert _raw_answer(port, raw) == _raw_answer(reference.server_address[1], raw), raw
    finally:
        reference.shutdown()
        reference.server_close()
