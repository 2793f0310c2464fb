"""One process's side of a conformance run: the world, what preflight learnt, and a `Probe` the
checks use -- with the success exchanges made once and shared, and every exchange of the
running check collected for the report.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mmv3 import redact
from mmv3.checks import CATEGORIES, NOT_IMPLEMENTED_ID, Check, Skip
from mmv3.client import Client, ClientError, Pacer, Response
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
    """The target stopped answering in the middle of the run."""


@dataclass
class Facts:
    """Preflight results every process needs (plain data, shipped to xdist workers)."""

    base_url: str
    version: str
    ratelimit: str  # on | off | auto
    limited: bool
    limit: int | None
    strict: bool
    environment: dict[str, str]


class ConformanceSession:
    """Implements `mmv3.checks.Probe` for the checks of this process."""

    def __init__(self, world: World, facts: Facts, *, timeout: float | tuple[float, float]) -> None:
        self.world = world
        self.facts = facts
        self.version = facts.version
        self.ratelimit = facts.ratelimit
        self.limited = facts.limited
        self.limit = facts.limit
        self.strict = facts.strict
        self.timeout = timeout
        self._success: dict[str, tuple[Response | None, BaseException | None, list[dict]]] = {}
        self._once: dict[str, tuple[Any, BaseException | None]] = {}
        self._responses: list[Response] = []
        self._notes: list[str] = []
        self._entries: list[dict] = []
        self._transport_failures = 0
        self._raw: Client | None = None
        self._measured: dict[str, Any] = {}

    # -- Probe -----------------------------------------------------------------------------
    def send(self, call: Call) -> Response:
        try:
            response = self.world.send(call)
        except ClientError as exc:
            self._transport_failures += 1
            raise TargetGone(str(exc)) from None
        self._transport_failures = 0
        self._responses.append(response)
        return response

    def success(self, operation: Operation) -> Response:
        key = f"{operation.method} {operation.template}"
        if key not in self._success:
            mark = len(self.world.recorder)
            response: Response | None = None
            error: BaseException | None = None
            try:
                response = self._call_successfully(operation)
            except (SetupFailed, MissingRole, Skip, ProvisioningError) as exc:
                error = exc
            except TargetGone:
                self._transport_failures += 1
                raise
            entries = self.world.recorder.entries(mark)
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
            return self.world.send(call)
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
        try:
            response = self._handshake(host, port, request, timeout, call, key)
        except BaseException:
            pacer.release(ticket, None, answered=False)
            raise
        pacer.release(ticket, response.ratelimit, throttled=response.is_throttled)
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
        except (TargetGone, ClientError) as exc:
            if isinstance(exc, ClientError):
                self._transport_failures += 1
            outcome = Outcome("failed", f"no answer: {exc}", category="transport")
        entries = self._entries + self.world.recorder.entries(mark)
        outcome.entries = entries
        outcome.measured = dict(self._measured)
        outcome.notes = list(dict.fromkeys(self._notes))
        outcome.message = self.scrub(outcome.message)
        outcome.notes = [self.scrub(n) for n in outcome.notes]
        return outcome

    @property
    def target_gone(self) -> bool:
        return self._transport_failures >= 3

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


def new_recorder() -> ExchangeLog:
    return ExchangeLog(max_body=64 * 1024)
