"""websocket: the real-time connection (`GET /api/v3/users/websocket`).

The upgrade is checked as gorilla/websocket 1.x does (a plain GET answers 400 `Bad Request`,
the same text/plain body then carrying the JSON AppError real 4.9 appends). After the 101 the
connection speaks Mattermost's protocol: a session from the upgrade request (header or cookie)
or from an `authentication_challenge` action, the `hello` event once authenticated, and
`{"status":"OK","seq_reply":n}` / `{"status":"FAIL",…}` replies. `get_statuses`,
`get_statuses_by_ids` and `user_typing` are answered, and the events the server publishes
(`mmv3.server.events`) reach the connections real 4.9 sends them to.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import weakref
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from mmv3.server import events, websocket
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError
from mmv3.server.ids import now_ms
from mmv3.server.routes import route

if TYPE_CHECKING:
    import socket

    from mmv3.server.app import ReferenceServer

_HTTP_STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed"}


def _has_token(ctx: Context, header: str, token: str) -> bool:
    values = ",".join(ctx.request.headers.getlist(header))
    return any(part.strip().lower() == token for part in values.split(","))


def _origin_allowed(ctx: Context) -> bool:
    allowed = ctx.config.get("ServiceSettings.AllowCorsFrom") or ""
    origin = ctx.request.headers.get("Origin")
    if allowed:  # App.OriginChecker: exactly one of the listed origins, or "*"
        return allowed == "*" or (origin or "") in allowed.split(" ")
    if origin is None:  # gorilla's same-host rule
        return True
    return urlsplit(origin).netloc == ctx.request.host


def _refusal(ctx: Context) -> int | None:
    """The status gorilla's Upgrader.Upgrade fails with, in its order of checks, or None."""
    if not _has_token(ctx, "Connection", "upgrade") or not _has_token(ctx, "Upgrade", "websocket"):
        return 400
    if ctx.request.method != "GET":
        return 405
    if not _has_token(ctx, "Sec-WebSocket-Version", "13"):
        return 400
    if not _origin_allowed(ctx):
        return 403
    if not ctx.request.headers.get("Sec-WebSocket-Key", "").strip():
        return 400
    return None


@route("GET", "/api/v3/users/websocket")
def connect(ctx: Context) -> Reply:
    status = _refusal(ctx)
    if status is not None:
        # gorilla writes its plain-text refusal; 4.9 then appends its own 500 AppError to the body.
        err = AppError("api.web_socket.connect.upgrade.app_error", 500)
        body = f"{_HTTP_STATUS_TEXT[status]}\n".encode() + ctx.server.render_error(ctx, err).body
        headers = [("Sec-Websocket-Version", "13"), ("X-Content-Type-Options", "nosniff")]
        return Reply(status, body, "text/plain; charset=utf-8", headers)
    accept = websocket.accept_key(ctx.request.headers["Sec-WebSocket-Key"].strip())
    conversation = _Conversation(ctx.server, ctx.session)
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)]
    return Reply(101, b"", None, headers, upgrade=conversation.run)


class _Hub:
    """Open authenticated connections per user: the last one closing marks the user offline."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def register(self, server: ReferenceServer, user_id: str) -> None:
        with self._lock:
            self._open[user_id] = self._open.get(user_id, 0) + 1
        server.set_status(user_id, "online", manual=False)

    def unregister(self, server: ReferenceServer, user_id: str) -> None:
        with self._lock:
            left = self._open.get(user_id, 1) - 1
            if left > 0:
                self._open[user_id] = left
                return
            self._open.pop(user_id, None)
        try:
            server.set_status(user_id, "offline", manual=False)
        except Exception:  # noqa: BLE001 - the server (and its store) may be stopping
            pass


_hubs: weakref.WeakKeyDictionary[ReferenceServer, _Hub] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def _hub(server: ReferenceServer) -> _Hub:
    with _hubs_lock:
        return _hubs.setdefault(server, _Hub())


def _live_session(server: ReferenceServer, token: str) -> dict[str, Any] | None:
    session = server.store.find_one("sessions", token=token) if token else None
    if session is None or (session.get("expires_at") and session["expires_at"] < now_ms()):
        return None
    return session


class _BadRequest(Exception):
    """A frame that does not decode as a WebSocketRequest: real 4.9 ends the connection."""


def _decode_request(message: bytes) -> dict[str, Any]:
    try:
        value = json.loads(message)
    except ValueError:
        raise _BadRequest from None
    if value is None:
        return {"seq": 0, "action": "", "data": {}}
    if not isinstance(value, dict):
        raise _BadRequest
    # Go leaves a null field at its zero value and refuses a wrongly typed one.
    seq = 0 if value.get("seq") is None else value["seq"]
    action = "" if value.get("action") is None else value["action"]
    data = {} if value.get("data") is None else value["data"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(action, str):
        raise _BadRequest
    if not isinstance(data, dict):
        raise _BadRequest
    return {"seq": seq, "action": action, "data": data}


class _Conversation:
    """One client's WebConn: authentication, the hello event, replies to its requests, and the
    events the hub publishes to it.

    Everything it sends goes through one bounded queue and one writer thread, as WebConn's Send
    channel and writePump: a publisher never waits for a slow client, and a client whose queue
    is full is disconnected (real 4.9 closes it too). Events are numbered in the order sent.
    """

    QUEUE = 256  # WebConn's Send channel

    def __init__(self, server: ReferenceServer, session: dict[str, Any] | None) -> None:
        self.server = server
        self.token = session["token"] if session else ""
        self.user_id = session["user_id"] if session else ""
        self.sequence = 0
        self.ws: websocket.WebSocket | None = None
        self._outbox: queue.Queue[tuple[str, Any] | None] = queue.Queue(self.QUEUE)

    def run(self, sock: socket.socket, rfile: BinaryIO) -> None:
        self.ws = websocket.WebSocket(sock, rfile)
        writer = threading.Thread(target=self._write, name="mmv3-websocket-writer", daemon=True)
        writer.start()
        hub = _hub(self.server)
        registered = False
        try:
            if self.user_id:
                self._authenticated()
                hub.register(self.server, self.user_id)
                registered = True
            while (message := self.ws.receive()) is not None:
                try:
                    request = _decode_request(message)
                except _BadRequest:
                    self.ws.drop()
                    return
                was_authenticated = bool(self.token)
                if not self._serve(request):
                    self.ws.drop()
                    return
                if self.token and not was_authenticated:
                    hub.register(self.server, self.user_id)
                    registered = True
        finally:
            self.server.hub.remove(self)
            with contextlib.suppress(queue.Full):
                self._outbox.put_nowait(None)
            writer.join(timeout=5)
            if registered:
                hub.unregister(self.server, self.user_id)

    # -- sending ---------------------------------------------------------------------------
    def deliver(self, event: events.Event) -> None:
        """Called by the hub from any thread."""
        self._queue("event", event)

    def _queue(self, kind: str, item: Any) -> None:
        try:
            self._outbox.put_nowait((kind, item))
        except queue.Full:
            assert self.ws is not None
            self.ws.drop()

    def _write(self) -> None:
        assert self.ws is not None
        while (entry := self._outbox.get()) is not None:
            kind, item = entry
            if kind == "event":
                text = item.wire(self.sequence)  # published events: 4.9's precomputed JSON
                self.sequence += 1
            elif kind == "hello":
                text = json.dumps({**item, "seq": self.sequence}, separators=(",", ":"))
                self.sequence += 1
            else:
                text = json.dumps(item, separators=(",", ":"))
            if not self.ws.send_text(text):
                return

    def _send(self, payload: dict[str, Any]) -> None:
        self._queue("reply", payload)

    def _authenticated(self) -> None:
        """The hello event, then the events published from now on."""
        self._queue(
            "hello",
            {
                "event": "hello",
                "data": {"server_version": self.server.version_id()},
                "broadcast": {"omit_users": None, "user_id": self.user_id, "channel_id": "", "team_id": ""},
            },
        )
        self.server.hub.add(self)

    def _reply(self, seq: int, data: dict[str, Any] | None = None) -> None:
        reply: dict[str, Any] = {"status": "OK"}
        if seq:
            reply["seq_reply"] = seq
        if data:
            reply["data"] = data
        self._send(reply)

    def _fail(self, seq: int, error_id: str, status: int, message: str | None = None) -> None:
        reply: dict[str, Any] = {"status": "FAIL"}
        if seq:
            reply["seq_reply"] = seq
        reply["error"] = AppError(error_id, status, message).body("")
        self._send(reply)

    # -- WebSocketRouter.ServeWebSocket ------------------------------------------------------
    def _serve(self, request: dict[str, Any]) -> bool:
        """Answer one request; False when the connection must end (a bad challenge)."""
        seq, action, data = request["seq"], request["action"], request["data"]
        if not action:
            self._fail(seq, "api.web_socket_router.no_action.app_error", 400)
        elif seq <= 0:
            self._fail(seq, "api.web_socket_router.bad_seq.app_error", 400)
        elif action == "authentication_challenge":
            return self._challenge(seq, data)
        elif not self.token or _live_session(self.server, self.token) is None:
            self._fail(seq, "api.web_socket_router.not_authenticated.app_error", 401)
        elif action == "user_typing":
            channel_id = data.get("channel_id")
            if not isinstance(channel_id, str) or len(channel_id) != 26:
                self._invalid(seq, "channel_id")
            else:
                parent_id = data.get("parent_id")
                typing = {
                    "parent_id": parent_id if isinstance(parent_id, str) else "",
                    "user_id": self.user_id,
                }
                event = events.Event(
                    "typing", typing, channel_id=channel_id, omit_users=frozenset({self.user_id})
                )
                self.server.publish(event)
                self._reply(seq)
        elif action == "get_statuses":
            self._reply(seq, {s["user_id"]: s["status"] for s in self.server.store.all("statuses")})
        elif action == "get_statuses_by_ids":
            self._statuses_by_ids(seq, data)
        else:
            self._fail(seq, "api.web_socket_router.bad_action.app_error", 500)
        return True

    def _challenge(self, seq: int, data: dict[str, Any]) -> bool:
        if self.token:
            return True  # already authenticated: real 4.9 ignores the challenge, without a reply
        token = data.get("token")
        session = _live_session(self.server, token) if isinstance(token, str) else None
        if session is None:
            return False
        self.token, self.user_id = session["token"], session["user_id"]
        self._authenticated()
        self._reply(seq)
        return True

    def _invalid(self, seq: int, name: str) -> None:
        self._fail(seq, "api.websocket_handler.invalid_param.app_error", 400, f"Invalid {name} parameter")

    def _statuses_by_ids(self, seq: int, data: dict[str, Any]) -> None:
        ids = data.get("user_ids")
        ids = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
        if not ids:
            self._invalid(seq, "user_ids")
            return
        found = {s["user_id"]: s["status"] for s in self.server.store.find("statuses", user_id=ids)}
        self._reply(seq, {user_id: found.get(user_id, "offline") for user_id in ids})
