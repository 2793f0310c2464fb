"""The reference server as a WSGI application: Mattermost 4.9's request pipeline for v3.

Order of work per request, as the real server does it: rate limiter (outermost, every path)
→ OPTIONS short-cut → routing (unknown route or wrong method → the catch-all 404) → for API
handlers: request id, token, CSRF, standard headers, session, v3 switch, auth level, team
membership, handler, error rendering.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import traceback
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request

from mmv3 import ratelimit
from mmv3.catalog import Catalog, Operation, load_catalog
from mmv3.server import events, incoming_hooks, permissions
from mmv3.server import handlers as _handlers  # noqa: F401  (registers every group's routes)
from mmv3.server.audits import client_ip
from mmv3.server.config import Config, ServerOptions
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError, forbidden, not_implemented, session_expired
from mmv3.server.filestore import FileStore
from mmv3.server.http import UPGRADE_KEY
from mmv3.server.ids import new_id, now_ms
from mmv3.server.routes import handler_for
from mmv3.server.serverlog import ServerLog
from mmv3.server.store import Store

_SESSION_AUTH = ("session", "session-mfa-exempt", "system_admin")
_ROUTE_CACHE_SIZE = 4096  # paths with ids in them are many: start over rather than grow without bound
_ACTIVITY_WRAPPERS = ("ApiUserRequiredActivity",)
# `POST /hooks/{id}` as an operation for the request's Context (it is not a v3 catalogue route).
_INCOMING_HOOK = Operation(
    operation_id="incoming_webhook", method="POST", template="/hooks/{id}", group="hooks", auth="none",
    permission=None, requires=(), trusted=False, wrapper="ApiHandler", path_params=(), query_params=(),
    request_content_type=None, request_schema=None, response_content_type="text/plain", response_schema=None,
    error_statuses=(400, 403, 404, 501), etag=False, summary="post through an incoming webhook", quirks=(),
)  # fmt: skip


class ReferenceServer:
    def __init__(
        self,
        config: Config | None = None,
        options: ServerOptions | None = None,
        *,
        store: Store | None = None,
        catalog: Catalog | None = None,
        vary_by_header: str | None = None,
    ) -> None:
        self.options = options or ServerOptions()
        self.config = config or Config()
        self.store = store or Store(self.options.db)
        self.files = FileStore.for_options(self.options)
        self.catalog = catalog or load_catalog()
        self.faults = self.options.faults
        self.vary_by_header = vary_by_header
        self.clock = time.time
        self._limiter: ratelimit.GCRA | None = None
        self._limiter_quota: ratelimit.Quota | None = None
        self._version_cache: tuple[int, str] | None = None
        self._fixed_request_id = new_id()
        self._routes: dict[tuple[str, str], tuple[Operation, dict[str, str]] | None] = {}
        self.hub = events.Hub(self.store)  # the websocket connections, for published events
        self.log = ServerLog(clock=lambda: self.clock())
        self.log.info("Server is initializing...")

    # -- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        reply = self.handle(request)
        headers = sorted(reply.headers, key=lambda h: h[0].lower())
        if reply.content_type is not None:
            headers.insert(0, ("Content-Type", reply.content_type))
        if reply.upgrade is not None:
            environ[UPGRADE_KEY] = reply.upgrade  # http.py hands it the connection after the 101
        else:
            headers.append(("Content-Length", str(len(reply.body))))
        start_response(f"{reply.status} {_reason(reply.status)}", headers)
        return [reply.body]

    def handle(self, request: Request) -> Reply:
        limit_headers: list[tuple[str, str]] = []
        denied = self._rate_limit(request, limit_headers)
        if denied is not None:
            return denied
        if request.method == "OPTIONS":
            return Reply(200, b"", None, limit_headers)
        reply = self._route(request)
        reply.headers.extend(limit_headers)
        if reply.status == 101 and not self.fault("headers-on-upgrade"):
            # As gorilla/websocket writes it: the handler chain's headers do not go out on a 101.
            reply.headers = [h for h in reply.headers if h[0].lower() in _UPGRADE_HEADERS]
        return reply

    # -- rate limiting ------------------------------------------------------------------
    def _limiter_for(self) -> ratelimit.GCRA | None:
        quota = self.config.quota
        if quota is None:
            return None
        if self._limiter is None or self._limiter_quota != quota:
            size = int(self.config.get("RateLimitSettings.MemoryStoreSize", 10000) or 10000)
            self._limiter = ratelimit.GCRA(quota, max_keys=size, clock=self.options.limiter_clock)
            self._limiter_quota = quota
        return self._limiter

    def _rate_key(self, request: Request) -> str:
        key = ""
        if self.config.get("RateLimitSettings.VaryByRemoteAddr", True):
            forwarded = request.headers.get("X-Forwarded-For", "")
            key = (
                forwarded.split(",")[0].strip()
                or request.headers.get("X-Real-IP", "")
                or request.remote_addr
                or ""
            )
        header = self.vary_by_header or self.config.get("RateLimitSettings.VaryByHeader", "")
        if header:
            key += request.headers.get(header, "").lower()
        return key

    def _rate_limit(self, request: Request, out: list[tuple[str, str]]) -> Reply | None:
        limiter = self._limiter_for()
        if limiter is None:
            return None
        decision = limiter.take(self._rate_key(request))
        if self.fault("ratelimit-never-429") and not decision.allowed:
            decision = ratelimit.Decision(True, decision.limit, 0, decision.reset_after, -1.0)
        headers = decision.headers()
        if self.fault("ratelimit-reset-epoch"):
            headers[ratelimit.RESET_HEADER] = str(int(self.clock() + decision.reset_after))
        if self.fault("ratelimit-remaining-frozen"):
            headers[ratelimit.REMAINING_HEADER] = str(decision.limit - 1)
        if self.fault("ratelimit-limit-understated") or self.fault("ratelimit-limit-overstated"):
            # Advertise a bucket of another size, Remaining shifted with it: the headers stay
            # consistent among themselves and disagree only with what the limiter does.
            shift = decision.limit // 2 if self.fault("ratelimit-limit-understated") else -decision.limit
            headers[ratelimit.LIMIT_HEADER] = str(decision.limit - shift)
            headers[ratelimit.REMAINING_HEADER] = str(max(0, decision.remaining - shift))
        if self.fault("ratelimit-remaining-short"):
            headers[ratelimit.REMAINING_HEADER] = str(max(0, decision.remaining - 1))
        if self.fault("ratelimit-reset-slow"):
            headers[ratelimit.RESET_HEADER] = str(math.ceil(10 * decision.reset_after))
        if self.fault("ratelimit-no-retry-after"):
            headers.pop(ratelimit.RETRY_AFTER_HEADER, None)
        if not self.fault("ratelimit-no-headers"):
            out.extend(headers.items())
        if decision.allowed:
            return None
        if self.fault("ratelimit-429-json"):
            body = AppError("api.context.rate_limited.app_error", 429, "Too many requests").body(new_id())
            return Reply(429, json.dumps(body).encode(), "application/json", list(out))
        return Reply(
            429,
            ratelimit.DENIED_BODY.encode(),
            ratelimit.DENIED_CONTENT_TYPE,
            [*out, ("X-Content-Type-Options", "nosniff")],
        )

    # -- routing ------------------------------------------------------------------------
    def _route(self, request: Request) -> Reply:
        path = request.path
        if "//" in path or "/./" in path or "/../" in path:
            return Reply(301, b"", None, [("Location", _clean(path))])
        match = self._match(request.method, path)
        if match is None:
            hook_id = incoming_hooks.hook_id_for(request.method, path)
            if hook_id is not None:
                return self._incoming_hook(request, hook_id)
            if self.fault("error-wrong-method-405") and self._path_known(path):
                return Reply(405, b"Method Not Allowed\n", "text/plain; charset=utf-8")
            return self._not_found(path)
        operation, params = match
        if operation.auth == "web":
            return self._web(request, operation, params)
        return self._api(request, operation, params)

    def _match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The catalogue's match, remembered: clients repeat the same few paths (the catalogue is fixed)."""
        key = (method, path)
        try:
            match = self._routes[key]
        except KeyError:
            match = self.catalog.match(method, path)
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[key] = match
        return None if match is None else (match[0], dict(match[1]))

    def _path_known(self, path: str) -> bool:
        return any(op.match_path(path) is not None for op in self.catalog.operations)

    def _not_found(self, path: str) -> Reply:
        if not path.startswith("/api/"):
            return Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
        body = {
            "id": "api.context.404.app_error",
            "message": "Sorry, we could not find the page.",
            "detailed_error": f"There doesn't appear to be an api call for the url='{path}'.  "
            "Typo? are you missing a team_id or user_id as part of the url?",
            "status_code": 404,
        }
        if self.fault("error-unknown-route-json"):
            request_id = new_id()
            body["request_id"] = request_id
            return Reply(404, _dump(body), "application/json", [("X-Request-Id", request_id)])
        return Reply(404, _dump(body), "text/plain; charset=utf-8")

    # -- the v3 pipeline ----------------------------------------------------------------
    def _incoming_hook(self, request: Request, hook_id: str) -> Reply:
        """4.9's api4 `incomingWebhook` (site root, outside the catalogue): "ok" or an AppError
        whose detailed_error api4 blanks outside developer mode."""
        ctx = Context(self, request, _INCOMING_HOOK, {"id": hook_id}, self._request_id())
        self._standard_headers(ctx)
        try:
            try:
                incoming_hooks.handle(ctx, hook_id)
            except AppError:
                raise
            except Exception:  # a bug of ours: logged, answered as an AppError
                traceback.print_exc(file=sys.stderr)
                raise AppError(
                    "mmv3.reference_server.internal.app_error", 500, "The reference server failed."
                ) from None
            reply = Reply(200, b"ok", "text/plain")
        except AppError as err:
            if not self.config.get("ServiceSettings.EnableDeveloper"):
                err.detailed_error = ""
            reply = self.render_error(ctx, err)
        reply.headers[:0] = ctx.headers
        return reply

    def _request_id(self) -> str:
        return self._fixed_request_id if self.fault("headers-fixed-request-id") else new_id()

    def _standard_headers(self, ctx: Context) -> None:
        if not self.fault("headers-no-request-id"):
            ctx.headers.append(("X-Request-Id", ctx.request_id))
        if not self.fault("headers-no-version-id"):
            ctx.headers.append(("X-Version-Id", self.version_id()))

    def _web(self, request: Request, operation: Operation, params: dict[str, str]) -> Reply:
        ctx = Context(self, request, operation, params, self._request_id())
        self._standard_headers(ctx)
        ctx.headers += [
            ("X-Frame-Options", "SAMEORIGIN"),
            ("Content-Security-Policy", "frame-ancestors 'self'"),
        ]
        try:
            self._authenticate(ctx)
            reply = self._run(ctx)
        except AppError as err:  # an unserved web route, or a handler that raises: never a bare 500
            reply = self.render_error(ctx, err)
        reply.headers[:0] = ctx.headers
        return reply

    def _api(self, request: Request, operation: Operation, params: dict[str, str]) -> Reply:
        ctx = Context(self, request, operation, params, self._request_id())
        self._standard_headers(ctx)
        is_get = request.method == "GET"
        if is_get and not self.fault("headers-no-expires"):
            ctx.headers.append(("Expires", "0"))
        try:
            self._authorize(ctx)
            reply = self._run(ctx)
        except AppError as err:
            reply = self.render_error(ctx, err)
        if ctx.etag is not None and self.fault("invariants-etag-frozen"):
            digest = hashlib.md5(request.path.encode(), usedforsecurity=False).hexdigest()
            ctx.etag = f"{ctx.etag.split('.', 1)[0]}.{digest}"
        if (
            is_get
            and ctx.etag is not None
            and reply.status == 200
            and request.headers.get("If-None-Match") == ctx.etag
            and not self.fault("headers-etag-ignored")
        ):
            reply = Reply(304, b"", "application/json")
        if ctx.etag is not None and reply.status in (200, 304):
            ctx.headers.append(("Etag", ctx.etag))
        reply.headers[:0] = ctx.headers
        return reply

    def _authenticate(self, ctx: Context) -> None:
        """Find the token and its session; a bad token clears the auth cookies."""
        token, location = _extract_token(ctx.request)
        ctx.token, ctx.token_location = token, location
        if not token:
            return
        session = self.store.find_one("sessions", token=token)
        if session and session.get("expires_at", 0) and session["expires_at"] < now_ms():
            session = None
        if session is None and self.fault("auth-bad-token-accepted"):
            session = self._first_user_session()
        if session is None:
            ctx.clear_auth_cookies()
            return
        if location == "query" and not session.get("is_oauth"):
            raise AppError(
                "api.context.token_provided.app_error",
                401,
                "Session is not OAuth but token was provided in the query string",
            )
        user = self.store.get("users", session["user_id"])
        if user is None or user.get("delete_at"):
            ctx.clear_auth_cookies()
            return
        ctx.session, ctx.user = session, user

    def _first_user_session(self) -> dict | None:
        users = self.store.find("users", order_by="create_at", limit=1)
        if not users:
            return None
        user = users[0]
        return {
            "id": "",
            "token": "",
            "user_id": user["id"],
            "roles": user["roles"],
            "is_oauth": False,
            "props": {},
        }

    def _authorize(self, ctx: Context) -> None:
        operation = ctx.operation
        self._authenticate(ctx)
        needs_session = operation.auth in _SESSION_AUTH
        if (
            ctx.token_location == "cookie"
            and needs_session
            and not operation.trusted
            and ctx.request.headers.get("X-Requested-With") != "XMLHttpRequest"
            and not self.fault("auth-csrf-cookie-accepted")
        ):
            ctx.session = ctx.user = None
            raise session_expired()
        if not self.config.get("ServiceSettings.EnableAPIv3", True):
            raise AppError("api.context.v3_disabled.app_error", 501)
        if needs_session and ctx.session is None:
            if self.fault("auth-no-token-accepted") and not ctx.token:
                ctx.session = self._first_user_session()
                ctx.user = self.store.get("users", ctx.session["user_id"]) if ctx.session else None
            if ctx.session is None:
                raise session_expired()
        if operation.auth == "system_admin" and not (
            permissions.is_system_admin(ctx.user) or self.fault("auth-admin-route-open")
        ):
            raise forbidden()
        team_id = ctx.params.get("team_id")
        if (
            needs_session
            and team_id
            and not ctx.is_system_admin
            and not self.fault("auth-team-check-skipped")
        ):
            if ctx.team_member(team_id) is None:
                raise forbidden()
        if needs_session and team_id and ctx.is_system_admin and self.store.get("teams", team_id) is None:
            raise AppError("store.sql_team.get.find.app_error", 400, "We couldn't find the existing team")
        if needs_session and operation.wrapper in _ACTIVITY_WRAPPERS:
            self.set_status(ctx.user_id, "online", manual=False)

    def _run(self, ctx: Context) -> Reply:
        handler = handler_for(ctx.operation.method, ctx.operation.template)
        if handler is None:
            raise not_implemented(f"{ctx.operation.method} {ctx.operation.template}")
        try:
            result = handler(ctx)
        except AppError:
            raise
        except Exception:  # a bug of ours: say so in the log, answer an AppError, never a traceback
            traceback.print_exc(file=sys.stderr)
            raise AppError(
                "mmv3.reference_server.internal.app_error",
                500,
                "The reference server failed on this request.",
            ) from None
        if isinstance(result, Reply):
            return result
        return Reply.json(result)

    def render_error(self, ctx: Context, err: AppError) -> Reply:
        if err.status != 404:  # as 4.9's LogError: every failure but a 404 is an error line
            self.log.error(
                f"{ctx.request.path}: code={err.status} rid={ctx.request_id} uid={ctx.user_id} "
                f"ip={client_ip(ctx.request)} {err.message} [details: {err.detailed_error}]"
            )
        body = err.body(ctx.request_id)
        if self.fault("error-missing-field"):
            body.pop("detailed_error", None)
        if self.fault("error-status-mismatch"):
            body["status_code"] = 200 if err.status != 200 else 500
        if self.fault("error-request-id-mismatch"):
            body["request_id"] = new_id()
        content_type = "text/plain; charset=utf-8" if self.fault("error-content-type") else "application/json"
        return Reply(err.status, _dump(body), content_type)

    # -- shared services for handlers ---------------------------------------------------
    def fault(self, name: str) -> bool:
        return name in self.faults

    def version_id(self) -> str:
        cached = self._version_cache
        if cached and cached[0] == self.config.generation:
            return cached[1]
        from mmv3.server.clientconfig import client_config

        digest = hashlib.md5(_dump(client_config(self)), usedforsecurity=False).hexdigest()
        value = f"{self.options.version}.{self.options.build_number}.{digest}.false"
        self._version_cache = (self.config.generation, value)
        return value

    def set_status(self, user_id: str, status: str, *, manual: bool) -> None:
        """SetStatusOnline / SetStatusOffline / SaveAndBroadcastStatus: a manual status is not
        overridden by an automatic one; `status_change` goes to the user when the status is not
        "online", or when it becomes online."""
        if not user_id:
            return
        current = self.store.get("statuses", user_id)
        if current and current.get("manual") and not manual and current.get("status") != "online":
            return
        self.store.put(
            "statuses",
            user_id,
            {"user_id": user_id, "status": status, "manual": manual, "last_activity_at": now_ms()},
        )
        if status != "online" or current is None or current.get("status") != "online":
            self.publish(
                events.Event("status_change", {"status": status, "user_id": user_id}, user_id=user_id)
            )

    def publish(self, event: events.Event) -> None:
        self.hub.publish(event)


def _extract_token(request: Request) -> tuple[str | None, str | None]:
    auth = request.headers.get("Authorization", "")
    if len(auth) > 7 and auth[:6].lower() == "bearer":
        return auth[7:], "header"
    if len(auth) > 6 and auth[:5].lower() == "token":
        return auth[6:], "header"
    cookie = request.cookies.get("MMAUTHTOKEN")
    if cookie:
        return cookie, "cookie"
    query = request.args.get("access_token")
    if query:
        return query, "query"
    return None, None


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # made once, not per call


def _dump(value: Any) -> bytes:
    return _JSON.encode(value).encode()


def _clean(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    cleaned = "/" + "/".join(parts)
    return cleaned + "/" if path.endswith("/") and cleaned != "/" else cleaned


_REASONS = {
    101: "Switching Protocols", 200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
    307: "Temporary Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    413: "Request Entity Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
    501: "Not Implemented",
}  # fmt: skip


def _reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


_UPGRADE_HEADERS = ("upgrade", "connection", "sec-websocket-accept")
