"""AppError: the error body every v3 handler answers with, and its message table."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _messages() -> dict[str, str]:
    # English messages as a real 4.9 server sends them, keyed by i18n id.
    return json.loads((Path(__file__).parent / "data" / "messages.json").read_text())


class AppError(Exception):
    """An error a handler raises; the pipeline renders it with the request's id."""

    def __init__(self, id: str, status: int, message: str | None = None, detailed_error: str = "") -> None:
        self.id = id
        self.status = status
        self.message = message if message is not None else _messages().get(id, id)
        self.detailed_error = detailed_error
        super().__init__(f"{status} {id}")

    def body(self, request_id: str) -> dict:
        out = {"id": self.id, "message": self.message, "detailed_error": self.detailed_error}
        if request_id:
            out["request_id"] = request_id
        if self.status:
            out["status_code"] = self.status
        return out


def invalid_param(name: str) -> AppError:
    """The ubiquitous 400 `api.context.invalid_param.app_error` ("Invalid <name> parameter")."""
    return AppError("api.context.invalid_param.app_error", 400, f"Invalid {name} parameter")


def session_expired() -> AppError:
    return AppError("api.context.session_expired.app_error", 401)


def forbidden() -> AppError:
    return AppError("api.context.permissions.app_error", 403)


def not_implemented(operation: str) -> AppError:
    """Clearly marked: a route of the catalogue the reference server does not serve yet."""
    return AppError(
        "mmv3.reference_server.not_implemented.app_error",
        501,
        f"The mmv3 reference server does not implement {operation} yet.",
    )
