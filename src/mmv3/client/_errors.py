"""What can go wrong talking to a v3 server, each as one exception with a one-line message.

Also holds `AppError`, the parsed v3 error body, because `ApiError` is built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so that a message never spans lines, and cap its length."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class AppError:
    """The v3 error body: id, message, detailed_error, request_id, status_code, is_oauth."""

    id: str
    message: str
    detailed_error: str = ""
    request_id: str | None = None
    status_code: int | None = None
    is_oauth: bool = False

    @classmethod
    def from_json(cls, value: Any) -> AppError | None:
        """An AppError if `value` looks like one (an object with string id and message), else None."""
        if not isinstance(value, dict):
            return None
        ident, message = value.get("id"), value.get("message")
        if not isinstance(ident, str) or not isinstance(message, str):
            return None
        detailed = value.get("detailed_error")
        request_id = value.get("request_id")
        status = value.get("status_code")
        return cls(
            id=ident,
            message=message,
            detailed_error=detailed if isinstance(detailed, str) else "",
            request_id=request_id if isinstance(request_id, str) and request_id else None,
            status_code=status if isinstance(status, int) and not isinstance(status, bool) else None,
            is_oauth=value.get("is_oauth") is True,
        )


class ClientError(Exception):
    """Base class of everything mmv3.client raises; str() is always a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class ServerUnreachable(ClientError):
    """No answer could be had: connection refused, unknown host, connection reset."""

    def __init__(self, url: str, reason: str, *, method: str = "") -> None:
        self.url = url
        self.reason = reason
        self.method = method
        where = f"{method} {url}" if method else url
        super().__init__(f"cannot reach the server for {where}: {reason}")


class ServerTimeout(ClientError):
    """The server accepted the request but did not answer within the timeout."""

    def __init__(self, url: str, timeout: float | tuple[float, float] | None, *, method: str = "") -> None:
        self.url = url
        self.timeout = timeout
        self.method = method
        where = f"{method} {url}" if method else url
        limit = timeout[-1] if isinstance(timeout, tuple) else timeout
        within = f"within {limit:g} s" if isinstance(limit, (int, float)) else "in time"
        super().__init__(f"no answer from the server {within} for {where}")


class NotJSONError(ClientError):
    """A body that should have been JSON was not (empty, HTML, plain text, truncated)."""

    def __init__(
        self, status: int, content_type: str | None, head: bytes, *, method: str = "", url: str = ""
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.head = head
        self.method = method
        self.url = url
        where = f" from {method} {url}" if url else ""
        shown = repr(head[:80]) if head else "an empty body"
        super().__init__(
            f"expected a JSON body{where} but got HTTP {status} ({content_type or 'no Content-Type'}): {shown}"
        )


class StatusError(ClientError):
    """An error status (4xx/5xx) whose body is not a v3 AppError (e.g. an empty 500)."""

    def __init__(self, status: int, detail: str, *, method: str = "", url: str = "") -> None:
        self.status = status
        self.method = method
        self.url = url
        self.detail = detail
        where = f" for {method} {url}" if url else ""
        super().__init__(f"HTTP {status}{where}: {detail}")


class ApiError(StatusError):
    """The server answered with a v3 AppError body."""

    def __init__(
        self, status: int, error: AppError, *, request_id: str | None = None, method: str = "", url: str = ""
    ) -> None:
        self.error = error
        self.id = error.id
        self.message = error.message
        self.detailed_error = error.detailed_error
        self.request_id = request_id or error.request_id
        rid = f" [request {self.request_id}]" if self.request_id else ""
        super().__init__(status, f"{error.id}: {error.message}{rid}", method=method, url=url)


class RateLimited(StatusError):
    """A 429 `limit exceeded` answer (raised only when the caller asked for errors to raise)."""

    def __init__(self, retry_after: int | None, *, method: str = "", url: str = "") -> None:
        self.retry_after = retry_after
        wait = f"; Retry-After {retry_after} s" if retry_after is not None else ""
        super().__init__(429, f"rate limit exceeded{wait}", method=method, url=url)
