"""The WebSocket route (`/api/v3/users/websocket`) and the HTTP server's upgrade hook.

Real clients use the `websocket-client` package here; the hook itself is tested with a raw
socket against a bare WSGI app, so the 101 is seen exactly as written.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import websocket as wsclient

from mmv3.schemas import default_registry
from mmv3.server import running_server
from mmv3.server.http import UPGRADE_KEY, WSGIServer
from mmv3.server.websocket import accept_key

from .api import Api

REGISTRY = default_registry()


@dataclass
class World:
    server: Any
    api: Api
    user: dict
    token: str
    other: dict
    other_token: str

    @property
    def ws_url(self) -> str:
        return self.server.url.replace("http://", "ws://") + "/api/v3/users/websocket"

    def connect(self, **options: Any) -> wsclient.WebSocket:
        return wsclient.create_connection(self.ws_url, timeout=10, **options)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_server() as server:
        api = Api(server.url)
        user = api.create_user("wsuser")
        other = api.create_user("wsother")
        yield World(server, api, user, api.login("wsuser"), other, api.login("wsother"))


def receive(conn: wsclient.WebSocket) -> dict:
    return json.loads(conn.recv())


def request(conn: wsclient.WebSocket, seq: Any, action: Any, data: Any = None) -> dict:
    """Send one request and return its reply (events that arrive meanwhile are passed over)."""
    message: dict[str, Any] = {"seq": seq, "action": action}
    if data is not None:
        message["data"] = data
    conn.send(json.dumps(message))
    while "event" in (answer := receive(conn)):
        pass
    return answer


def events_until(conn: wsclient.WebSocket, wanted: str) -> list[dict]:
    """The events received up to and including the first `wanted` one (replies are passed over)."""
    seen: list[dict] = []
    while not seen or seen[-1]["event"] != wanted:
        message = receive(conn)
        if "event" in message:
            seen.append(message)
    return seen


def status_of(world: World, user_id: str) -> str:
    return world.api.ok("POST", "/api/v3/users/status/ids", [user_id], token=world.other_token)[user_id]


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds (the server thread notices a closed socket on its own time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def assert_hello(world: World, event: dict, user_id: str) -> None:
    version = world.api.call("GET", "/api/v3/general/ping").headers["X-Version-Id"]
    assert event == {
        "event": "hello",
        "data": {"server_version": version},
        "broadcast": {"omit_users": None, "user_id": user_id, "channel_id": "", "team_id": ""},
        "seq": 0,
    }


# ---------------------------------------------------------------------------------------------
# without an upgrade
# ---------------------------------------------------------------------------------------------
def test_a_plain_get_answers_bad_request_then_the_json_error(world: World) -> None:
    for token in (None, world.token):
        response = world.api.call("GET", "/api/v3/users/websocket", token=token)
        assert response.status_code == 400
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Sec-Websocket-Version"] == "13"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        first, _, rest = response.text.partition("\n")
        assert first == "Bad Request"
        error = json.loads(rest)
        assert not REGISTRY.validate(error, "AppError")
        assert (error["id"], error["status_code"]) == ("api.web_socket.connect.upgrade.app_error", 500)
        assert error["request_id"] == response.headers["X-Request-Id"]


def test_a_foreign_origin_is_refused(world: World) -> None:
    with pytest.raises(wsclient.WebSocketBadStatusException) as refused:
        world.connect(origin="http://elsewhere.example")
    assert refused.value.status_code == 403
    assert refused.value.resp_body.startswith(b"Forbidden\n{")


def test_the_accept_key_is_rfc_6455s() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3


# ---------------------------------------------------------------------------------------------
# the conversation
# ---------------------------------------------------------------------------------------------
def test_a_session_from_the_upgrade_gets_hello_first(world: World) -> None:
    conn = world.connect(header=[f"Authorization: Bearer {world.token}"])
    try:
        assert conn.handshake_response.status == 101
        assert_hello(world, receive(conn), world.user["id"])
        assert request(conn, 1, "get_statuses_by_ids", {"user_ids": [world.user["id"], "z" * 26]}) == {
            "status": "OK",
            "seq_reply": 1,
            "data": {world.user["id"]: "online", "z" * 26: "offline"},
        }
        statuses = request(conn, 2, "get_statuses")
        assert statuses["data"][world.user["id"]] == "online"
        assert request(conn, 3, "user_typing", {"channel_id": "c" * 26}) == {"status": "OK", "seq_reply": 3}
    finally:
        conn.close()
    assert wait_for(lambda: status_of(world, world.user["id"]) == "offline")


def test_the_cookie_authenticates_without_x_requested_with(world: World) -> None:
    conn = world.connect(cookie=f"MMAUTHTOKEN={world.other_token}")
    try:
        assert_hello(world, receive(conn), world.other["id"])
    finally:
        conn.close()


def test_an_authentication_challenge_authenticates_a_bare_connection(world: World) -> None:
    conn = world.connect()
    try:
        refused = request(conn, 1, "get_statuses")
        assert refused["status"] == "FAIL" and refused["seq_reply"] == 1
        assert refused["error"]["id"] == "api.web_socket_router.not_authenticated.app_error"
        assert not REGISTRY.validate(refused["error"], "AppError")
        conn.send(
            json.dumps({"seq": 2, "action": "authentication_challenge", "data": {"token": world.token}})
        )
        assert_hello(world, receive(conn), world.user["id"])
        assert receive(conn) == {"status": "OK", "seq_reply": 2}
        assert request(conn, 3, "get_statuses")["status"] == "OK"
    finally:
        conn.close()


def test_a_bad_challenge_token_closes_the_connection(world: World) -> None:
    conn = world.connect()
    try:
        conn.send(json.dumps({"seq": 1, "action": "authentication_challenge", "data": {"token": "nope"}}))
        with pytest.raises(wsclient.WebSocketConnectionClosedException):
            conn.recv()
    finally:
        conn.close()


def test_router_errors(world: World) -> None:
    conn = world.connect(header=[f"Authorization: Bearer {world.token}"])
    try:
        receive(conn)  # hello
        bad_seq = request(conn, 0, "get_statuses")
        assert (
            "seq_reply" not in bad_seq and bad_seq["error"]["id"] == "api.web_socket_router.bad_seq.app_error"
        )
        no_action = request(conn, 4, "")
        assert no_action["error"]["id"] == "api.web_socket_router.no_action.app_error"
        unknown = request(conn, 5, "fly")
        assert unknown["error"]["id"] == "api.web_socket_router.bad_action.app_error"
        assert unknown["error"]["status_code"] == 500
        bad_ids = request(conn, 6, "get_statuses_by_ids", {"user_ids": []})
        assert bad_ids["error"]["id"] == "api.websocket_handler.invalid_param.app_error"
        assert bad_ids["error"]["message"] == "Invalid user_ids parameter"
        conn.ping(b"still there?")
        opcode, frame = conn.recv_data_frame(control_frame=True)
        assert opcode == wsclient.ABNF.OPCODE_PONG and frame.data == b"still there?"
    finally:
        conn.close()


def test_a_frame_that_is_no_request_ends_the_connection(world: World) -> None:
    conn = world.connect()
    try:
        conn.send("not json")
        with pytest.raises(wsclient.WebSocketConnectionClosedException):
            conn.recv()
    finally:
        conn.close()


def test_messages_over_8_kb_are_refused_with_1009(world: World) -> None:
    conn = world.connect()
    try:
        conn.send(json.dumps({"seq": 1, "action": "x" * 9000}))
        frame = conn.recv_frame()  # the raw frame: the server hangs up right after it
        assert frame.opcode == wsclient.ABNF.OPCODE_CLOSE
        assert struct.unpack(">H", frame.data[:2])[0] == 1009
    finally:
        conn.close()


def test_the_api_still_answers_on_other_connections_while_a_socket_is_open(world: World) -> None:
    conn = world.connect(header=[f"Authorization: Bearer {world.token}"])
    try:
        receive(conn)
        assert world.api.ok("GET", "/api/v3/users/me", token=world.token)["id"] == world.user["id"]
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# the HTTP server's upgrade hook, with a bare WSGI app
# ---------------------------------------------------------------------------------------------
def _echo_app(environ: dict, start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] == "/upgrade":

        def takeover(sock: socket.socket, rfile: Any) -> None:
            sock.sendall(b"echo:" + rfile.readline())

        environ[UPGRADE_KEY] = takeover
        start_response("101 Switching Protocols", [("Upgrade", "echo"), ("Connection", "Upgrade")])
        return [b""]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def _read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "connection closed before the end of the headers"
        head += chunk
    return head


def test_the_upgrade_hook_writes_the_101_and_hands_over_the_connection() -> None:
    server = WSGIServer(("127.0.0.1", 0), _echo_app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
            # bytes sent right behind the request reach the handler through the buffered reader
            sock.sendall(
                b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello\n"
            )
            head = _read_head(sock).decode()
            lines = head.split("\r\n")
            assert lines[0] == "HTTP/1.1 101 Switching Protocols"
            names = {
                line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:] if line
            }
            assert names["connection"] == "Upgrade" and names["upgrade"] == "echo"
            assert "content-length" not in names
            assert sock.recv(100) == b"echo:hello\n"
            assert sock.recv(100) == b""  # the connection ends when the handler returns
        plain = requests.get(f"http://127.0.0.1:{server.server_port}/plain", timeout=10)
        assert plain.status_code == 200 and plain.text == "ok"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
