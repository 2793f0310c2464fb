"""One process's side of a conformance run: the world, what preflight learnt, and a `Probe` the
checks use -- with the success exchanges made once and shared, and every exchange of the
running check collected for the report.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mmv3 import redact
from mmv3.catalog import load_catalog
from mmv3.checks import CATEGORIES, NOT_IMPLEMENTED_ID, Check, Skip
from mmv3.client import (
    Client,
    ClientError,
    Exchange,
    Pacer,
    Response,
    ServerTimeout,
    ServerUnreachable,
)
from mmv3.provision import Call, MissingRole, ProvisioningError, World
from mmv3.recipes import SetupFailed, build, prepare, recipe_for
from mmv3.redact import spellings
from mmv3.suite.exchange_log import ExchangeLog

if TYPE_CHECKING:
    from mmv3.catalog import Operation

WEBSOCKET = ("GET", "/api/v3/users/websocket")
CATCH_ALL_ID = "api.context.404.app_error"
# Checks that expect the catch-all 404; elsewhere it means the server lacks the route.
CATCH_ALL_CHECKS = ("errors.unknown_route", "errors.wrong_method")
# Requests in a row that got no answer (slow routes aside) before the target is asked whether it
# is still there; only when GET /general/ping goes unanswered too is the target taken for gone.
UNANSWERED_IN_A_ROW = 3
PING = "/api/v3/general/ping"


@dataclass
class Outcome:
    """What running one check on one operation came to."""

    status: str  # passed | failed | skipped
    message: str = ""
    category: str = ""
    notes: list[str] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)  # redacted HAR entries, for attachments
    measured: dict[str, Any] = field(default_factory=dict)  # figures for the target profile


class TargetGone(Exception):
    """A request of the running check got no answer."""


@dataclass
class Facts:
    """Preflight results every process needs (plain data, shipped to xdist workers)."""

    base_url: str
    version: str  # as /general/ping reported it
    profile_version: str | None  # the version profile in force (--mm-version, else `version`)
    ratelimit: str  # on | off | auto
    limited: bool
    limit: int | None
    strict: bool
    environment: dict[str, str]


class ConformanceSession:
    """Implements `mmv3.checks.Probe` for the checks of this process."""

    def __init__(
        self,
        world: World,
        facts: Facts,
        *,
        timeout: float | tuple[float, float],
        slow_timeout: float | None = None,
    ) -> None:
        self.world = world
        self.facts = facts
        self.version = facts.version
        self.profile_version = facts.profile_version
        self.ratelimit = facts.ratelimit
        self.limited = facts.limited
        self.limit = facts.limit
        self.strict = facts.strict
        self.timeout = timeout
        self.slow_timeout = slow_timeout  # replaces every x-mmv3-slow timeout when given
        self.gone: str | None = None  # why the target is taken for gone, once it is
        self._unanswered: list[tuple[str, str]] = []  # (request, error) in a row, slow routes aside
        self._success: dict[str, tuple[Response | None, BaseException | None, list[dict]]] = {}
        self._once: dict[str, tuple[Any, BaseException | None]] = {}
        self._responses: list[Response] = []
        self._notes: list[str] = []
        self._entries: list[dict] = []
        self._raw: Client | None = None
        self._measured: dict[str, Any] = {}

    # -- Probe -----------------------------------------------------------------------------
    def send(self, call: Call) -> Response:
        try:
            response = self.world.send(call, timeout=self._timeout_for(call.method, call.path))
        except ClientError as exc:
            raise TargetGone(str(exc)) from None
        self._responses.append(response)
        return response

    def _timeout_for(self, method: str, path: str) -> tuple[float, float] | None:
        """The timeout of a route that is slow by design (x-mmv3-slow); None for the run's own."""
        operation = _slow_operation(method, path)
        if operation is None:
            return None
        connect = self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout
        return (connect, self.slow_timeout or operation.slow_timeout or 0.0)

    def success(self, operation: Operation) -> Response:
        key = f"{operation.method} {operation.template}"
        if key not in self._success:
            mark = len(self.world.recorder)
            response: Response | None = None
            error: BaseException | None = None
            try:
                response = self._call_successfully(operation)
            except (SetupFailed, MissingRole, Skip, ProvisioningError, TargetGone) as exc:
                # A success call that got no answer is not sent again by the route's other checks:
                # each would wait as long again (90 s on a slow route) to learn the same.
                error = exc
            entries = self.world.recorder.entries(mark)
            for entry in entries:
                entry["_case"] = "ok"  # the success call and its setup (for a recorded corpus)
            self._success[key] = (response, error, entries)
        response, error, entries = self._success[key]
        self._entries += entries
        if error is not None:
            raise error
        assert response is not None
        self._responses.append(response)
        return response

    def _call_successfully(self, operation: Operation) -> Response:
        recipe = recipe_for(operation.method, operation.template)
        if recipe is None:
            raise Skip(f"no recipe for {operation.method} {operation.template}")
        success = recipe.success
        role = success.role
        if role not in ("anon", "fresh"):
            self.world.account(role)  # MissingRole when the run has no such account
        extra = prepare(self.world, success)
        call = build(self.world, operation.method, operation.template, success, extra, label="success")
        if (operation.method, operation.template) == WEBSOCKET:
            return self._websocket(call)
        try:
            return self.world.send(call, timeout=self._timeout_for(call.method, call.path))
        except ClientError as exc:
            raise TargetGone(str(exc)) from None

    def _websocket(self, call: Call) -> Response:
        """A WebSocket opening handshake over a plain socket: the answer's status line and headers."""
        parts = urlsplit(self.world.base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
        key = base64.b64encode(os.urandom(16)).decode()
        token = self.world.account("user").token
        request = (
            f"GET {parts.path.rstrip('/')}{call.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        )
        timeout = self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout
        # Paced like every other request: the handshake counts against the server's bucket.
        pacer = self.world.root.pacer
        ticket = pacer.acquire()
        started, begun = datetime.now(timezone.utc), time.perf_counter()
        url = self.world.base_url + call.path
        shown = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")]
        try:
            response = self._handshake(host, port, request, timeout, call, key)
        except TargetGone as exc:
            pacer.release(ticket, None, answered=False)
            self.world.recorder.record(
                Exchange("GET", url, shown, None, started, time.perf_counter() - begun, error=str(exc))
            )
            raise
        except BaseException:
            pacer.release(ticket, None, answered=False)
            raise
        pacer.release(ticket, response.ratelimit, throttled=response.is_throttled)
        self.world.recorder.record(
            Exchange(
                "GET",
                url,
                shown,
                None,
                started,
                time.perf_counter() - begun,
                status=response.status,
                response_headers=response.header_items,
                response_body=response.content,
            )
        )
        return response

    def _handshake(
        self, host: str, port: int, request: str, timeout: float, call: Call, key: str
    ) -> Response:
        parts = urlsplit(self.world.base_url)
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw:
                sock = (
                    ssl.create_default_context().wrap_socket(raw, server_hostname=host)
                    if parts.scheme == "https"
                    else raw
                )
                sock.sendall(request.encode())
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise TargetGone(f"WebSocket handshake with {host}:{port} failed: {exc}") from None
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            status = 0
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        response = Response(
            method="GET",
            url=self.world.base_url + call.path,
            status=status,
            header_items=[(k, v) for k, v in headers],
            content=body if status != 101 else b"",
        )
        if status == 101:
            accept = response.headers.get("Sec-WebSocket-Accept", "")
            expected = base64.b64encode(
                hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()  # noqa: S324 - RFC 6455
            ).decode()
            if accept != expected:
                self._notes.append("the 101 answer's Sec-WebSocket-Accept does not match the key")
        return response

    def note(self, text: str) -> None:
        self._notes.append(text)

    def record(self, key: str, value: Any) -> None:
        self._measured[key] = value

    def caller(self, operation: Operation) -> str:
        recipe = recipe_for(operation.method, operation.template)
        role = recipe.success.role if recipe is not None else "user"
        if role == "owner":
            return self.world.account("owner").role
        return role

    def tokens(self) -> dict[str, str]:
        return {role: account.token for role, account in self.world.accounts.items() if account.token}

    def client_config(self) -> dict[str, str]:
        def read() -> dict[str, str]:
            response = self.send(
                Call("GET", "/api/v3/general/client_props", role="anon", label="client config")
            )
            body = response.json() if response.status == 200 else {}
            return body if isinstance(body, dict) else {}

        return self.once("client_config", read)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._once:
            try:
                self._once[key] = (make(), None)
            except (Skip, SetupFailed, MissingRole, ProvisioningError) as exc:
                self._once[key] = (None, exc)
        value, error = self._once[key]
        if error is not None:
            raise error
        return value

    @property
    def raw_pacer(self) -> Pacer | None:
        return self._raw.pacer if self._raw is not None else None

    def raw_client(self) -> Client:
        if self._raw is None:
            # A pacer of its own: a drained test bucket must not slow the rest of the run.
            self._raw = Client(
                self.world.base_url,
                timeout=self.timeout,
                pacer=Pacer(),
                pace=False,
                recorder=self.world.recorder,
            )
        return self._raw

    # -- running a check --------------------------------------------------------------------
    def run(self, check: Check, operation: Operation) -> Outcome:
        self._responses, self._notes, self._entries, self._measured = [], [], [], {}
        self.world.recorder.clear()  # this check's exchanges only (secrets learnt so far are kept)
        mark = 0
        try:
            problems = check.run(operation, self)
            outcome = self._judge(check, problems)
        except Skip as exc:
            outcome = Outcome("skipped", str(exc))
        except MissingRole as exc:
            outcome = Outcome(
                "skipped", f"needs the {exc.args[0]} account: pass --mm-admin and --mm-admin-password"
            )
        except SetupFailed as exc:
            outcome = self._setup_failed(check, exc)
        except ProvisioningError as exc:
            outcome = Outcome(
                "failed", f"could not prepare the call: {exc}", category=_category(check.family)
            )
        except (TargetGone, ServerUnreachable, ServerTimeout) as exc:
            outcome = Outcome("failed", f"no answer: {exc}", category="transport")
        except ClientError as exc:
            # The target answered, with something the check could not use (a body that is not JSON
            # where a step needs one): a failure of this check in its family, not of the network.
            outcome = Outcome("failed", f"unusable answer: {exc}", category=_category(check.family))
        self._count_unanswered(self.world.recorder.exchanges(mark))
        entries = self._entries + self.world.recorder.entries(mark)
        outcome.entries = entries
        outcome.measured = dict(self._measured)
        outcome.notes = list(dict.fromkeys(self._notes))
        outcome.message = self.scrub(outcome.message)
        outcome.notes = [self.scrub(n) for n in outcome.notes]
        return outcome

    @property
    def target_gone(self) -> bool:
        return self.gone is not None

    def _count_unanswered(self, exchanges: list[Exchange]) -> None:
        """Follow the requests in a row that got no answer; at UNANSWERED_IN_A_ROW, ping the target.

        A route that is slow by design is neither an answer nor a silence here: its wait, however
        it ends, says nothing about the rest of the server."""
        for exchange in exchanges:
            if exchange.error is None:
                self._unanswered.clear()
            elif _slow_operation(exchange.method, exchange.url) is None:
                path = urlsplit(exchange.url).path
                self._unanswered.append((f"{exchange.method} {path}", exchange.error))
        if self.gone is None and len(self._unanswered) >= UNANSWERED_IN_A_ROW:
            self._ask_whether_gone()

    def _ask_whether_gone(self) -> None:
        requests = ", ".join(r for r, _ in self._unanswered[-UNANSWERED_IN_A_ROW:])
        count = len(self._unanswered)
        try:
            self.world.root.request("GET", PING, auth=False)
        except ClientError as exc:
            last = _without_url(self._unanswered[-1][1])
            self.gone = self.scrub(
                f"{count} requests in a row got no answer ({requests}: {last}), "
                f"nor did GET {PING} ({_without_url(str(exc))})"
            )
            return
        self._notes.append(
            f"{count} requests in a row got no answer ({requests}), but GET {PING} did: "
            "they count as failures of their checks, the target is still there"
        )
        self._unanswered.clear()

    def _judge(self, check: Check, problems: list[str]) -> Outcome:
        if not problems:
            return Outcome("passed", "; ".join(self._notes))
        message = "; ".join(problems)
        route_missing = check.id not in CATCH_ALL_CHECKS and any(_catch_all(r) for r in self._responses)
        if route_missing or any(_not_implemented(r) for r in self._responses):
            return Outcome(
                "failed", f"server does not implement this route: {message}", category="not implemented"
            )
        return Outcome("failed", message, category=_category(check.family))

    def _setup_failed(self, check: Check, exc: SetupFailed) -> Outcome:
        if check.family != "schema":
            # Only the schema check is about the success call; the others just lack an exchange.
            return Outcome("skipped", f"the call cannot be prepared: {exc}")
        if _not_implemented(exc.response):
            return Outcome(
                "failed", f"server does not implement this route: {exc}", category="not implemented"
            )
        return Outcome("failed", f"could not prepare the call: {exc}", category=_category(check.family))

    def scrub(self, text: str) -> str:
        """A message without any secret of the run (messages land in JUnit XML and the matrix)."""
        if not text:
            return text
        known = set(self.world.secrets()) | set(self.world.recorder.secrets())
        present = [s for s in known if any(form in text for form in spellings(s))]
        return redact.literal(redact.url(text), present)


def _catch_all(response: Response | None) -> bool:
    """The router's catch-all 404: the server has no such route at all."""
    if response is None or response.status != 404:
        return False
    error = response.app_error
    return error is not None and error.id == CATCH_ALL_ID


def _not_implemented(response: Response | None) -> bool:
    if response is None:
        return False
    error = response.app_error
    return error is not None and error.id == NOT_IMPLEMENTED_ID


def _category(family: str) -> str:
    return CATEGORIES.get(family, family)


def _without_url(error: str) -> str:
    """A transport error without the request it names: 'cannot reach the server: connection refused'."""
    return re.sub(r" for [A-Z]+ \S+?(?=: |$)", "", error)


def _slow_operation(method: str, url_or_path: str) -> Operation | None:
    """The catalogue operation this request goes to if it is slow by design (x-mmv3-slow)."""
    found = load_catalog().match(method, url_or_path)
    if found is None or found[0].slow_timeout is None:
        return None
    return found[0]


def new_recorder(*, recording: bool = False) -> ExchangeLog:
    """The run's exchange log; bodies are cut at 64 KB for the report's attachments, at 16 MB when
    the run records a corpus (whose recorder cuts big JSON lists itself and needs the whole body)."""
    return ExchangeLog(max_body=(16 * 1024 if recording else 64) * 1024)
