"""The v3 client: one `Client` per identity, over requests, paced and optionally recorded."""

from __future__ import annotations

import http.client
import json as jsonlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters
import urllib3
from requests.structures import CaseInsensitiveDict

from mmv3 import __version__, redact
from mmv3.client._cookies import SetCookie, parse_set_cookie
from mmv3.client._errors import (
    ApiError,
    AppError,
    ClientError,
    NotJSONError,
    RateLimited,
    ServerTimeout,
    ServerUnreachable,
    StatusError,
)
from mmv3.client._har import Exchange, HarRecorder, multipart_params
from mmv3.client._pacing import Pacer
from mmv3.ratelimit import LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER, RETRY_AFTER_HEADER, Observed

AuthMode = Literal["bearer", "cookie", "cookie-xhr"]
AUTH_MODES: tuple[str, ...] = ("bearer", "cookie", "cookie-xhr")
API_PREFIX = "/api/v3"
# How often a paced request that still met a 429 (someone else spent the quota) is retried.
RETRIES_ON_429 = 3
# Connections kept per host by a client's own session (shared by its clones and threads).
POOL_SIZE = 64
_UNSET: Any = object()


class Response:
    """A finished exchange: the status, headers and body, read in full, plus what they mean."""

    def __init__(
        self,
        *,
        method: str,
        url: str,
        status: int,
        reason: str = "",
        header_items: list[tuple[str, str]] | None = None,
        content: bytes = b"",
        elapsed: float = 0.0,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        # Every header line in arrival order, duplicates kept (Set-Cookie, doubled X-Ratelimit-*).
        self.header_items = list(header_items or [])
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in self.header_items:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        self.content = content
        self.elapsed = elapsed
        self._json: Any = _UNSET
        self._app_error: AppError | None | Any = _UNSET

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.method} {redact.url(self.url)}>"

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-Id") or None

    @property
    def version_id(self) -> str | None:
        return self.headers.get("X-Version-Id") or None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in (self.content_type or "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded as JSON; NotJSONError (with status and first bytes) if it is not."""
        if self._json is _UNSET:
            try:
                self._json = jsonlib.loads(self.content.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise NotJSONError(
                    self.status,
                    self.content_type,
                    self.content[:80],
                    method=self.method,
                    url=redact.url(self.url),
                ) from None
        return self._json

    @property
    def app_error(self) -> AppError | None:
        """The AppError in the body, whatever the Content-Type says (the catch-all 404 is text/plain)."""
        if self._app_error is _UNSET:
            try:
                body = self.json()
            except NotJSONError:
                body = None
            self._app_error = AppError.from_json(body)
        return self._app_error

    def brief(self) -> str:
        """`401 api.context.session_expired.app_error` or `200 application/json`: what answered,
        in a few words for a one-line error."""
        error = self.app_error
        if error is not None:
            return f"{self.status} {error.id}"
        return f"{self.status} {(self.content_type or 'no Content-Type').split(';')[0]}"

    @property
    def ratelimit(self) -> Observed:
        return Observed.from_headers(_most_conservative(self.header_items))

    @property
    def is_throttled(self) -> bool:
        return self.status == 429

    @property
    def cookies(self) -> dict[str, SetCookie]:
        """Set-Cookie headers by cookie name, with their flags (HttpOnly, Max-Age, Path...)."""
        found = {}
        for name, value in self.header_items:
            if name.lower() == "set-cookie":
                cookie = parse_set_cookie(value)
                if cookie is not None:
                    found[cookie.name] = cookie
        return found

    def raise_for_error(self) -> Response:
        """Return self for a non-error status, else raise RateLimited / ApiError / StatusError."""
        if self.status < 400:
            return self
        where = {"method": self.method, "url": redact.url(self.url)}
        if self.is_throttled:
            raise RateLimited(self.ratelimit.retry_after, **where)
        error = self.app_error
        if error is not None:
            raise ApiError(self.status, error, request_id=self.request_id, **where)
        detail = "empty body" if not self.content else f"body is not an AppError: {self.content[:80]!r}"
        raise StatusError(self.status, detail, **where)


def _most_conservative(items: list[tuple[str, str]]) -> dict[str, str]:
    """Rate-limit headers as one mapping; when a header is doubled (two limiters), the tighter value."""
    pick = {LIMIT_HEADER: min, REMAINING_HEADER: min, RESET_HEADER: max, RETRY_AFTER_HEADER: max}
    chosen: dict[str, str] = {}
    for name, value in items:
        canonical = next((key for key in pick if key.lower() == name.lower()), None)
        if canonical is None:
            continue
        try:
            number = int(value.strip())
        except ValueError:
            continue
        if canonical in chosen:
            number = pick[canonical](number, int(chosen[canonical]))
        chosen[canonical] = str(number)
    return chosen


class _NoCookies(DefaultCookiePolicy):
    """The client decides which credentials each request carries; the session stores none."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


class Client:
    """One identity talking to one v3 server.

    Clones (`with_token`, `clone`) share the HTTP session, the pacer and the recorder, so
    many identities can run from many threads against one server without exceeding its
    rate limit and end up in one HAR.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | tuple[float, float] = 10.0,
        auth_mode: AuthMode = "bearer",
        pacer: Pacer | None = None,
        recorder: HarRecorder | None = None,
        session: requests.Session | None = None,
        user_agent: str = f"mmv3/{__version__}",
        pace: bool = True,
    ) -> None:
        if auth_mode not in AUTH_MODES:
            raise ValueError(f"auth_mode must be one of {', '.join(AUTH_MODES)}, got {auth_mode!r}")
        self.base_url = _site_root(base_url)
        self.api_url = self.base_url + API_PREFIX
        self.timeout = timeout
        self.auth_mode: AuthMode = auth_mode
        self.pacer = pacer if pacer is not None else Pacer.for_target(self.base_url)
        self.recorder = recorder
        self.user_agent = user_agent
        self.pace = pace
        self._owns_session = session is None
        self.session = session if session is not None else _new_session()
        self.session.cookies.set_policy(_NoCookies())
        self._lock = threading.Lock()
        self._token: str | None = None
        self._user_id: str | None = None
        self._secrets: set[str] = set()  # shared by clones: literal values no message may show

    def __repr__(self) -> str:
        who = f" user {self._user_id}" if self._user_id else ""
        return f"<Client {self.base_url} {self.auth_mode}{who}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # -- identity ----------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        with self._lock:
            return self._token

    @property
    def user_id(self) -> str | None:
        with self._lock:
            return self._user_id

    def set_token(self, token: str | None, user_id: str | None = None) -> None:
        self._remember(token)
        with self._lock:
            self._token = token or None
            self._user_id = user_id

    def with_token(self, token: str | None, user_id: str | None = None) -> Client:
        """Another identity on the same server, sharing session, pacer and recorder."""
        other = Client.__new__(Client)
        other.__dict__.update(self.__dict__)
        other._owns_session = False
        other._lock = threading.Lock()
        other._token = None
        other._user_id = None
        other.set_token(token, user_id)
        return other

    def clone(self) -> Client:
        """The same identity, from here on independent (a logout of one leaves the other)."""
        return self.with_token(self.token, self.user_id)

    def login(
        self,
        login_id: str,
        password: str,
        *,
        mfa_token: str | None = None,
        device_id: str | None = None,
        raise_for_error: bool = True,
    ) -> Response:
        """POST /users/login; on success the session token (Token header) becomes this client's."""
        self._remember(password, mfa_token)
        body = {"login_id": login_id, "password": password}
        if mfa_token is not None:
            body["token"] = mfa_token
        if device_id is not None:
            body["device_id"] = device_id
        response = self.request("POST", "users/login", json=body, auth=False, raise_for_error=raise_for_error)
        if response.status != 200:
            return response
        token = response.headers.get("Token")
        if not token:
            if raise_for_error:
                raise ClientError(f"login answered {response.status} without a Token header")
            return response
        try:
            user = response.json()
        except NotJSONError:
            if raise_for_error:
                raise
            user = None
        user_id = user.get("id") if isinstance(user, dict) else None
        self.set_token(token, user_id if isinstance(user_id, str) else None)
        return response

    def logout(self, *, raise_for_error: bool = False) -> Response:
        """POST /users/logout; the client forgets its token whatever the answer."""
        try:
            return self.request("POST", "users/logout", raise_for_error=raise_for_error)
        finally:
            self.set_token(None)

    # -- requests ----------------------------------------------------------------------
    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool | str = True,
        raise_for_error: bool = False,
        pace: bool | None = None,
        timeout: float | tuple[float, float] | None = None,
        root: bool = False,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request and return the whole answer.

        `path` is relative to /api/v3 unless it starts with /api/ or `root=True` (site-root
        paths such as /login/sso/saml). `auth`: True = this client's token, False = none,
        a string = that raw token. `pace=None` follows the client's setting. Transport
        failures raise ServerUnreachable / ServerTimeout, never a requests exception.
        """
        method = method.upper()
        url = self.url_for(path, root=root)
        timeout = self.timeout if timeout is None else timeout
        paced = self.pace if pace is None else pace
        try:
            prepared = self.session.prepare_request(
                requests.Request(
                    method,
                    url,
                    headers=self._headers(auth, headers),
                    json=json,
                    data=data,
                    files=files,
                    params=params,
                )
            )
        except (requests.RequestException, ValueError, TypeError, OSError) as exc:
            raise ClientError(f"cannot build {method} {redact.url(url)}: {_describe(exc)}") from None
        multipart = multipart_params(data, files) if files else None
        settings = self.session.merge_environment_settings(prepared.url, {}, None, None, None)

        attempt = 0
        while True:
            response = self._send(
                prepared,
                timeout,
                allow_redirects,
                settings,
                paced,
                multipart,
                long=_longer(timeout, self.timeout),
            )
            if not (response.is_throttled and paced and attempt < RETRIES_ON_429):
                break
            attempt += 1  # the pacer counted it and now waits out Retry-After
        if raise_for_error:
            response.raise_for_error()
        return response

    def url_for(self, path: str, *, root: bool = False) -> str:
        if "://" in path:
            raise ValueError(f"path must be relative to the server, got {redact.url(path)!r}")
        if root or path.startswith("/api/"):
            return self.base_url + (path if path.startswith("/") else "/" + path)
        return f"{self.api_url}/{path.lstrip('/')}"

    # -- internals ---------------------------------------------------------------------
    def _remember(self, *values: str | None) -> None:
        secrets = [v for v in values if v]
        self._secrets.update(secrets)
        if self.recorder is not None and secrets:
            self.recorder.add_secret(*secrets)

    def _headers(self, auth: bool | str, extra: Mapping[str, str] | None) -> CaseInsensitiveDict[str]:
        out: CaseInsensitiveDict[str] = CaseInsensitiveDict({"User-Agent": self.user_agent})
        if self.auth_mode == "cookie-xhr":
            out["X-Requested-With"] = "XMLHttpRequest"
        given = CaseInsensitiveDict(dict(extra or {}))
        with self._lock:
            token, user_id = self._token, self._user_id
        if isinstance(auth, str):
            token, user_id = auth, None
            self._remember(auth)
        elif not auth:
            token = None
        if token:
            if self.auth_mode == "bearer":
                if "Authorization" not in given:
                    out["Authorization"] = f"Bearer {token}"
            elif "Cookie" not in given:
                out["Cookie"] = f"MMAUTHTOKEN={token}" + (f"; MMUSERID={user_id}" if user_id else "")
        out.update(given)
        return out

    def _send(
        self,
        prepared: requests.PreparedRequest,
        timeout: float | tuple[float, float],
        allow_redirects: bool,
        settings: dict[str, Any],
        paced: bool,
        multipart: list[dict[str, str]] | None,
        long: bool = False,
    ) -> Response:
        method, url = prepared.method or "GET", prepared.url or ""
        shown = redact.literal(redact.url(url), self._secrets)
        ticket = self.pacer.acquire() if paced else self.pacer.track()
        if long:
            self.pacer.detach(ticket)  # a request given more time than usual: others go on meanwhile
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        try:
            raw = self.session.send(prepared, timeout=timeout, allow_redirects=allow_redirects, **settings)
            content = raw.content
        except BaseException as exc:
            self.pacer.release(ticket, None, answered=False)
            error = _transport_error(exc, method, shown, timeout)
            if error is None:
                raise
            self._record(prepared, started, time.perf_counter() - t0, None, str(error), multipart)
            raise error from None
        elapsed = time.perf_counter() - t0
        response = Response(
            method=method,
            url=url,
            status=raw.status_code,
            reason=raw.reason or "",
            header_items=list(_header_items(raw)),
            content=content,
            elapsed=elapsed,
        )
        self.pacer.release(ticket, response.ratelimit, throttled=response.is_throttled)
        if response.headers.get("Token"):
            self._remember(response.headers["Token"])
        self._record(prepared, started, elapsed, response, None, multipart)
        return response

    def _record(
        self,
        prepared: requests.PreparedRequest,
        started: datetime,
        elapsed: float,
        response: Response | None,
        error: str | None,
        multipart: list[dict[str, str]] | None,
    ) -> None:
        if self.recorder is None:
            return
        body = prepared.body
        self.recorder.record(
            Exchange(
                method=prepared.method or "GET",
                url=prepared.url or "",
                request_headers=list(prepared.headers.items()),
                request_body=body.encode("utf-8") if isinstance(body, str) else body,
                started=started,
                elapsed=elapsed,
                status=response.status if response else None,
                reason=response.reason if response else "",
                response_headers=response.header_items if response else [],
                response_body=response.content if response else b"",
                error=error,
                multipart=multipart,
            )
        )


def _new_session() -> requests.Session:
    session = requests.Session()
    # Clones share the session across threads; requests' default pool keeps only 10
    # connections per host and reconnects for every request beyond that.
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _site_root(base_url: str) -> str:
    """`http://host:port[/prefix]` from what a user typed; ValueError (one line) if it is not a URL."""
    text = (base_url or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError for a non-numeric port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base URL must look like http://HOST[:PORT], got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL must not carry a query or fragment, got {redact.url(text)!r}")
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def _header_items(raw: requests.Response) -> Iterator[tuple[str, str]]:
    """Header lines as received, duplicates kept (requests' own mapping joins them)."""
    source = getattr(raw.raw, "headers", None)
    if source is not None and hasattr(source, "iteritems"):
        yield from source.iteritems()
    else:
        yield from raw.headers.items()


def _read_timeout(timeout: float | tuple[float, float]) -> float:
    return float(timeout[1] if isinstance(timeout, tuple) else timeout)


def _longer(timeout: float | tuple[float, float], usual: float | tuple[float, float]) -> bool:
    """Whether `timeout` waits longer for an answer than the client's usual one (a slow route)."""
    return _read_timeout(timeout) > _read_timeout(usual)


def _transport_error(exc: BaseException, method: str, url: str, timeout: Any) -> ClientError | None:
    """The ClientError for a failed send, or None for what must propagate (KeyboardInterrupt...)."""
    if _is_timeout(exc):
        return ServerTimeout(url, timeout, method=method)
    if isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException)):
        return ServerUnreachable(url, _describe(exc), method=method)
    if isinstance(exc, OSError):
        return ServerUnreachable(url, _describe(exc), method=method)
    if isinstance(exc, (ValueError, TypeError)):
        return ClientError(f"cannot send {method} {url}: {_describe(exc)}")
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest them several deep)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [a for a in current.args if isinstance(a, BaseException)]
        for attr in ("reason", "__cause__", "__context__"):
            inner = getattr(current, attr, None)
            if isinstance(inner, BaseException):
                todo.append(inner)


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.Timeout):
        return True
    for inner in _chain(exc):
        # urllib3 files a refused connection under ConnectTimeoutError; it is not a timeout.
        if isinstance(inner, urllib3.exceptions.NewConnectionError):
            continue
        if isinstance(inner, (urllib3.exceptions.TimeoutError, TimeoutError)):
            return True
    return False


def _describe(exc: BaseException) -> str:
    """A short human reason from the innermost meaningful cause."""
    chain = list(_chain(exc))
    cut = next((e for e in chain if isinstance(e, http.client.IncompleteRead)), None)
    if cut is not None:
        # The server answered, then the connection ended before the body it announced was in.
        got, more = cut.partial, cut.expected
        got = got if isinstance(got, int) else len(got)
        more = f", {more} more expected" if isinstance(more, int) else ""
        return f"the answer was cut short ({got} bytes of its body read{more})"
    for kind, text in (
        (ConnectionRefusedError, "connection refused"),
        (socket.gaierror, "host name could not be resolved"),
        (ConnectionResetError, "connection reset by the server"),
        (http.client.RemoteDisconnected, "server closed the connection without answering"),
        (BrokenPipeError, "connection closed while sending"),
        (urllib3.exceptions.ProtocolError, "connection broken while reading the answer"),
    ):
        if any(isinstance(e, kind) for e in chain):
            return text
    innermost = chain[-1] if chain else exc
    text = str(innermost) or type(innermost).__name__
    # urllib3 prefixes messages with an object repr; the part after the last ": " is the reason.
    if "object at 0x" in text:
        text = text.rsplit(": ", 1)[-1]
    return text
