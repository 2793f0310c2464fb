"""The table from catalogue routes to handler functions.

Group modules under `handlers/` register with `@route(METHOD, TEMPLATE)`, the template
spelled exactly as in the catalogue (and routes.tsv). Routing itself is the catalogue's
matcher: the server answers exactly the routes the catalogue describes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmv3.server.context import Context

Handler = Callable[[Context], Any]

HANDLERS: dict[tuple[str, str], Handler] = {}


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        key = (method.upper(), template)
        if key in HANDLERS:
            raise RuntimeError(f"two handlers for {method} {template}")
        HANDLERS[key] = func
        return func

    return register


def handler_for(method: str, template: str) -> Handler | None:
    return HANDLERS.get((method, template))
