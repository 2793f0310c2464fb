"""files: upload, download (file, thumbnail, preview), info, public links (new and legacy)."""

from __future__ import annotations

from typing import Any

from mmv3.server import files, multipart, sanitize, weberrors
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.routes import route

_FILE = "/api/v3/files/{file_id}"


@route("POST", "/api/v3/teams/{team_id}/files/upload")
def upload(ctx: Context) -> Any:
    if not ctx.config.get("FileSettings.EnableFileAttachments", True):
        raise AppError("api.file.attachments.disabled.app_error", 501)
    if (ctx.request.content_length or 0) > int(ctx.config.get("FileSettings.MaxFileSize", 52428800)):
        raise AppError("api.file.upload_file.too_large.app_error", 413)
    try:
        form = multipart.parse(ctx.request)
    except multipart.MultipartError as exc:
        return multipart.go_http_error(str(exc))
    channel_id = form.first("channel_id")
    if not channel_id:
        raise invalid_param("channel_id")
    # An unknown channel grants nothing, not even to a system admin (SessionHasPermissionToChannel).
    if ctx.store.get("channels", channel_id) is None or not ctx.has_channel(channel_id, "upload_file"):
        raise forbidden()
    result = files.upload(
        ctx, ctx.params["team_id"], channel_id, form.uploads("files"), form.values.getlist("client_ids")
    )
    result["file_infos"] = [sanitize.file_info(ctx, info) for info in result["file_infos"]]
    return result


@route("GET", _FILE + "/get")
def get(ctx: Context) -> Reply:
    info = files.info_for_request(ctx, ctx.params["file_id"], require_visible=True)
    return files.file_reply(info["name"], info.get("mime_type", ""), files.read(ctx, info["path"]))


@route("GET", _FILE + "/get_thumbnail")
def get_thumbnail(ctx: Context) -> Reply:
    info = files.info_for_request(ctx, ctx.params["file_id"], require_visible=True)
    if not info.get("thumbnail_path"):
        raise AppError("api.file.get_file_thumbnail.no_thumbnail.app_error", 400)
    return files.file_reply(info["name"], "image/jpeg", files.read(ctx, info["thumbnail_path"]))


@route("GET", _FILE + "/get_preview")
def get_preview(ctx: Context) -> Reply:
    info = files.info_for_request(ctx, ctx.params["file_id"], require_visible=True)
    if not info.get("preview_path"):
        raise AppError("api.file.get_file_preview.no_preview.app_error", 400)
    return files.file_reply(info["name"], "image/jpeg", files.read(ctx, info["preview_path"]))


@route("GET", _FILE + "/get_info")
def get_info(ctx: Context) -> dict:
    info = files.info_for_request(ctx, ctx.params["file_id"], require_visible=True)
    ctx.set_header("Cache-Control", "max-age=2592000, public")
    return sanitize.file_info(ctx, info)


@route("GET", _FILE + "/get_public_link")
def get_public_link(ctx: Context) -> str:
    if not ctx.config.get("FileSettings.EnablePublicLink"):
        raise AppError("api.file.get_public_link.disabled.app_error", 501)
    info = files.info_for_request(ctx, ctx.params["file_id"], require_visible=True)
    if not info.get("post_id"):
        raise AppError("api.file.get_public_link.no_post.app_error", 400)
    return files.public_link(ctx, info)


def _public_disabled() -> AppError:
    return AppError("api.file.get_file.public_disabled.app_error", 501)


@route("GET", "/api/v3/public/files/{file_id}/get")
def get_public(ctx: Context) -> Reply:
    if not ctx.config.get("FileSettings.EnablePublicLink"):
        raise _public_disabled()
    info = files.info_for_request(ctx, ctx.params["file_id"], require_visible=False)
    supplied = ctx.request.args.get("h", "")
    if not supplied or supplied != files.link_hash(ctx, info["id"]):
        # Real 4.9 renders the browser error page and then its JSON error after it, in one body.
        err = AppError("api.file.get_file.public_invalid.app_error", 400)
        page = weberrors.render(ctx, err.status, err.message)
        page.body += ctx.server.render_error(ctx, err).body
        return page
    return files.file_reply(info["name"], info.get("mime_type", ""), files.read(ctx, info["path"]))


@route("GET", "/api/v3/public/files/get/{team_id}/{channel_id}/{user_id}/{filename}")
def get_public_legacy(ctx: Context) -> Reply:
    if not ctx.config.get("FileSettings.DriverName", "local"):
        raise AppError("api.file.get_public_file_old.storage.app_error", 501)
    if not ctx.config.get("FileSettings.EnablePublicLink"):
        raise _public_disabled()
    params = ctx.params
    supplied = ctx.request.args.get("h", "")
    if not supplied or supplied != files.link_hash(ctx, params["filename"]):
        # A redirect to the error page whose body is still the JSON error (status 400 inside).
        err = AppError("api.file.get_file.public_invalid.app_error", 400)
        body = ctx.server.render_error(ctx, err)
        location = f"{files.site_url(ctx)}/error?message={err.message}"
        return Reply(307, body.body, body.content_type, [("Location", location)])
    path = "/".join(
        (
            "teams",
            params["team_id"],
            "channels",
            params["channel_id"],
            "users",
            params["user_id"],
            params["filename"],
        )
    )
    info = files.find_by_path(ctx, path)
    if not info.get("post_id"):
        raise AppError("api.file.get_public_file_old.no_post.app_error", 400)
    return files.file_reply(info["name"], info.get("mime_type", ""), files.read(ctx, info["path"]))
