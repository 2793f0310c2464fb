"""license: add (multipart `license`), remove, and the client license map.

The reference server has no enterprise features, so no license file is ever valid: add answers
400 `api.license.add_license.invalid.app_error` for any file, as a 4.9 server does for one it
cannot verify, and the server stays unlicensed (`{"IsLicensed":"false"}`, X-Version-Id `.false`).
"""

from __future__ import annotations

import hashlib

from mmv3.server import audits, multipart
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError
from mmv3.server.routes import route

# Keys GetSanitizedClientLicense drops: who the license was issued to and when.
_PRIVATE_KEYS = ("Id", "Name", "Email", "PhoneNumber", "IssuedAt", "StartsAt", "ExpiresAt")


def client_license() -> dict[str, str]:
    """App.ClientLicense of a server without a license."""
    return {"IsLicensed": "false"}


def sanitized_client_license() -> dict[str, str]:
    return {k: v for k, v in client_license().items() if k not in _PRIVATE_KEYS}


@route("POST", "/api/v3/license/add")
def add(ctx: Context) -> Reply:
    audits.record(ctx, "attempt")
    try:
        form = multipart.parse(ctx.request)
    except multipart.MultipartError as exc:
        return multipart.go_http_error(str(exc))
    if "license" not in form.files:
        raise AppError("api.license.add_license.no_file.app_error", 400)
    audits.record(ctx, "failed - invalid license")
    raise AppError("api.license.add_license.invalid.app_error", 400)


@route("POST", "/api/v3/license/remove")
def remove(ctx: Context) -> dict:
    audits.record(ctx)
    return {"status": "ok"}  # nothing to remove: the server is never licensed


@route("GET", "/api/v3/license/client_config")
def client_config(ctx: Context) -> dict:
    # Real 4.9 has this inverted: callers *without* manage_system get the full map, admins the
    # sanitized one (identical while unlicensed). Copied as is: it is what clients receive.
    full_for_caller = not ctx.has_system("manage_system")
    shown = client_license() if full_for_caller else sanitized_client_license()
    digest = hashlib.md5(
        "".join(f"{k}:{v};" for k, v in sorted(shown.items())).encode(), usedforsecurity=False
    ).hexdigest()
    ctx.etag = f"{ctx.server.options.version}.{digest}"
    return shown
