"""File attachments as Mattermost 4.9 keeps them: FileInfo documents, stored bytes, thumbnails, public links.

Uploads are written to the server's file store (filestore.py) under real 4.9's paths
(`<yyyymmdd>/teams/<team>/channels/<channel>/users/<user>/<file id>/<name>`); images also get a
JPEG thumbnail (at most 120x100) and preview (at most 1024 wide) beside them, made with Pillow.
A `file_infos` document holds the FileInfo JSON plus the storage paths (`path`,
`thumbnail_path`, `preview_path`), which sanitize.file_info never shows. Posts created with
`file_ids` attach the infos (posts.attach_files).
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
import secrets
import time
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from PIL import Image, ImageOps

from mmv3.server.context import Reply
from mmv3.server.errors import AppError, invalid_param
from mmv3.server.filestore import FileStoreError
from mmv3.server.http import blocking
from mmv3.server.ids import new_id, now_ms

if TYPE_CHECKING:
    from mmv3.server.context import Context

THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT = 120, 100
PREVIEW_WIDTH = 1024
MAX_IMAGE_PIXELS = 6048 * 4032  # app.MaxImageSize
JPEG_QUALITY = 90
# The image formats a 4.9 server decodes (Go's image/gif, image/jpeg, image/png, x/image/bmp).
_DECODABLE = frozenset({"GIF", "JPEG", "PNG", "BMP"})
# Go's built-in extension table, used when the system's mime.types has no entry.
_GO_BUILTIN_TYPES = {
    ".css": "text/css", ".gif": "image/gif", ".htm": "text/html", ".html": "text/html",
    ".jpg": "image/jpeg", ".js": "application/javascript", ".pdf": "application/pdf",
    ".png": "image/png", ".svg": "image/svg+xml", ".xml": "text/xml",
}  # fmt: skip
# Served as text/plain so a browser never runs an uploaded script (api/file.go UNSAFE_CONTENT_TYPES).
_UNSAFE_TYPES = (
    "application/javascript", "application/ecmascript", "text/javascript", "text/ecmascript",
    "application/x-javascript", "text/html",
)  # fmt: skip
_SALT_KEY = "PublicLinkSalt"
_MASKED = "*" * 32  # what GET admin/config shows for a secret; never a usable salt


# -- what a file is --------------------------------------------------------------------------
def go_base(path: str) -> str:
    """Go's `filepath.Base` on a slash-separated path."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


def extension_of(name: str) -> str:
    """Go's `filepath.Ext`: from the last dot of the last element, dot included ("" if none)."""
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 and "/" not in name[dot:] else ""


def mime_type_for(name: str) -> str:
    """Go's `mime.TypeByExtension`: the system table, then Go's own; text types say charset=utf-8."""
    extension = extension_of(name).lower()
    if not extension:
        return ""
    found = mimetypes.guess_type("x" + extension, strict=False)[0] or _GO_BUILTIN_TYPES.get(extension, "")
    if found.startswith("text/") and "charset=" not in found:
        found += "; charset=utf-8"
    return found


def _open_image(data: bytes) -> Image.Image | None:
    """The image Go could decode from `data` (header read only), else None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise
    except Exception:  # noqa: BLE001 - any decoder failure means "not an image Go reads"
        return None
    return image if image.format in _DECODABLE else None


def info_for_bytes(name: str, data: bytes) -> dict[str, Any]:
    """model.GetInfoForBytes: name, extension, size, MIME type, and an image's size and preview flag."""
    extension = extension_of(name).lower()
    info: dict[str, Any] = {
        "name": name,
        "extension": extension[1:] if extension.startswith(".") else extension,
        "size": len(data),
        "mime_type": mime_type_for(name),
    }
    if not info["mime_type"].startswith("image"):
        return info
    try:
        image = _open_image(data)
    except Image.DecompressionBombError:  # far over MAX_IMAGE_PIXELS: refused as DoUploadFile would
        raise too_large_image(name) from None
    if image is None:
        return info
    info["width"], info["height"] = image.size
    if info["mime_type"] == "image/gif":
        try:
            image.seek(0)
            frames = getattr(image, "n_frames", 1)
        except Exception:  # noqa: BLE001
            raise AppError("model.file_info.get.gif.app_error", 400) from None
        info["has_preview_image"] = frames == 1  # an animated gif is shown as itself
    else:
        info["has_preview_image"] = True
    return info


def too_large_image(name: str) -> AppError:
    return AppError(
        "api.file.upload_file.large_image.app_error",
        400,
        f"File above maximum dimensions could not be uploaded: {name}",
    )


def is_image(info: dict[str, Any]) -> bool:
    return str(info.get("mime_type", "")).startswith("image")


# -- storing ---------------------------------------------------------------------------------
def _write(ctx: Context, path: str, data: bytes) -> None:
    try:
        ctx.server.files.write(path, data)
    except FileStoreError:
        raise AppError("api.file.write_file_locally.writing.app_error", 500) from None


def read(ctx: Context, path: str) -> bytes:
    """Stored bytes, or the 404 real 4.9 answers when the file store has nothing at `path`."""
    try:
        data = ctx.server.files.read(path) if path else None
    except FileStoreError:
        data = None
    if data is None:
        raise AppError("api.file.read_file.reading_local.app_error", 404)
    return data


def upload(
    ctx: Context, team_id: str, channel_id: str, uploads: list[tuple[str, bytes]], client_ids: list[str]
) -> dict[str, Any]:
    """App.UploadFiles: store each file and its FileInfo, then the images' thumbnails and previews."""
    if not ctx.config.get("FileSettings.DriverName", "local"):
        raise AppError("api.file.upload_file.storage.app_error", 501)
    if client_ids and len(client_ids) != len(uploads):
        raise AppError("api.file.upload_file.incorrect_number_of_files.app_error", 400)
    infos, images = [], []
    for raw_name, data in uploads:
        info = _save_one(ctx, team_id, channel_id, raw_name, data)
        infos.append(info)
        if info.get("thumbnail_path"):
            images.append((info, data))
    for info, data in images:
        _write_thumbnail_and_preview(ctx, info, data)
    return {"file_infos": infos, "client_ids": list(client_ids)}


def _save_one(ctx: Context, team_id: str, channel_id: str, raw_name: str, data: bytes) -> dict[str, Any]:
    """App.DoUploadFile for one file."""
    name = go_base(raw_name)
    measured = info_for_bytes(name, data)
    now = now_ms()
    info: dict[str, Any] = {"id": new_id(), "user_id": ctx.user_id, "create_at": now, "update_at": now}
    info.update(delete_at=0, **measured)
    prefix = "/".join(
        (time.strftime("%Y%m%d"), "teams", go_base(team_id), "channels", go_base(channel_id), "users",
         go_base(ctx.user_id), info["id"])
    )  # fmt: skip
    info["path"] = f"{prefix}/{name}"
    if is_image(info):
        if info.get("width", 0) * info.get("height", 0) > MAX_IMAGE_PIXELS:
            raise too_large_image(name)
        stem = name[: name.rfind(".")]
        info["preview_path"] = f"{prefix}/{stem}_preview.jpg"
        info["thumbnail_path"] = f"{prefix}/{stem}_thumb.jpg"
    _write(ctx, info["path"], data)
    ctx.store.insert("file_infos", info["id"], info)
    return info


@blocking()  # image codecs run without the interpreter: let other requests run
def _write_thumbnail_and_preview(ctx: Context, info: dict[str, Any], data: bytes) -> None:
    """App.HandleImages: nothing is written for an image that does not decode (reads then 404)."""
    image = _open_image(data)
    if image is None:
        return
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.format == "PNG" or image.mode in ("RGBA", "LA", "PA"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))  # transparency shows as white
            flat.paste(rgba, mask=rgba.getchannel("A"))
        else:
            flat = image.convert("RGB")
    except Exception:  # noqa: BLE001 - a truncated or corrupt image: no previews, as real 4.9
        return
    _write(ctx, info["thumbnail_path"], _jpeg(_thumbnail(flat)))
    _write(ctx, info["preview_path"], _jpeg(_preview(flat)))


def _resized(image: Image.Image, width: int, height: int) -> Image.Image:
    # imaging.Resize with one side 0: the other keeps the aspect ratio, rounded half up.
    src_w, src_h = image.size
    if width == 0:
        width = max(1, int(height * src_w / src_h + 0.5))
    if height == 0:
        height = max(1, int(width * src_h / src_w + 0.5))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _thumbnail(image: Image.Image) -> Image.Image:
    width, height = image.size
    if height < THUMBNAIL_HEIGHT and width < THUMBNAIL_WIDTH:
        return image
    if height / width < THUMBNAIL_HEIGHT / THUMBNAIL_WIDTH:
        return _resized(image, 0, THUMBNAIL_HEIGHT)
    return _resized(image, THUMBNAIL_WIDTH, 0)


def _preview(image: Image.Image) -> Image.Image:
    return _resized(image, PREVIEW_WIDTH, 0) if image.size[0] > PREVIEW_WIDTH else image


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


# -- reading ---------------------------------------------------------------------------------
def get_info(ctx: Context, file_id: str) -> dict[str, Any]:
    info = ctx.store.get("file_infos", file_id)
    if info is None or info.get("delete_at"):
        raise AppError("store.sql_file_info.get.app_error", 404)
    return info


def info_for_request(ctx: Context, file_id: str, *, require_visible: bool) -> dict[str, Any]:
    """getFileInfoForRequest: only the uploader, or a reader of the post the file is attached to."""
    if not ctx.config.get("FileSettings.DriverName", "local"):
        raise AppError("api.file.get_info_for_request.storage.app_error", 501)
    if len(file_id) != 26:
        raise invalid_param("file_id")
    info = get_info(ctx, file_id)
    if info.get("user_id") != ctx.user_id:
        if not info.get("post_id"):
            raise AppError("api.file.get_file_info_for_request.no_post.app_error", 400)
        if require_visible and not _can_read_post(ctx, info["post_id"]):
            raise AppError("api.context.permissions.app_error", 403)
    return info


def _can_read_post(ctx: Context, post_id: str) -> bool:
    # SessionHasPermissionToChannelByPost: the post's channel, or system-wide when the post is gone.
    post = ctx.store.get("posts", post_id)
    if post is None or ctx.store.get("channels", post["channel_id"]) is None:
        return ctx.has_system("read_channel")
    return ctx.has_channel(post["channel_id"], "read_channel")


def file_reply(name: str, content_type: str, data: bytes) -> Reply:
    """writeFileResponse: the bytes as a private, cacheable download that no page may frame."""
    if not content_type:
        content_type = "application/octet-stream"
    elif content_type.startswith(_UNSAFE_TYPES):
        content_type = "text/plain"
    headers = [
        ("Cache-Control", "max-age=2592000, private"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Disposition", f"attachment;filename=\"{name}\"; filename*=UTF-8''{quote_plus(name)}"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "Frame-ancestors 'none'"),
    ]
    return Reply(200, data, content_type, headers)


# -- public links ----------------------------------------------------------------------------
def link_salt(ctx: Context) -> str:
    """FileSettings.PublicLinkSalt, or a salt made once for this database when none is set."""
    configured = ctx.config.get("FileSettings.PublicLinkSalt") or ""
    if configured and configured != _MASKED:
        return configured
    with ctx.store.transaction():
        doc = ctx.store.get("system", _SALT_KEY)
        if doc is None:
            doc = {"name": _SALT_KEY, "value": secrets.token_urlsafe(24)}
            ctx.store.put("system", _SALT_KEY, doc)
    return doc["value"]


def link_hash(ctx: Context, value: str) -> str:
    """GeneratePublicLinkHash: URL-safe unpadded base64 of SHA-256(salt + value)."""
    digest = hashlib.sha256((link_salt(ctx) + value).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def site_url(ctx: Context) -> str:
    """ServiceSettings.SiteURL, else the scheme and host the request came to (GetSiteURLHeader)."""
    configured = (ctx.config.get("ServiceSettings.SiteURL") or "").rstrip("/")
    if configured:
        return configured
    scheme = ctx.request.headers.get("X-Forwarded-Proto", "").lower() or ctx.request.scheme
    return f"{scheme}://{ctx.request.host}"


def public_link(ctx: Context, info: dict[str, Any]) -> str:
    return f"{site_url(ctx)}/api/v3/public/files/{info['id']}/get?h={link_hash(ctx, info['id'])}"


def find_by_path(ctx: Context, path: str) -> dict[str, Any]:
    """FileInfoStore.GetByPath (the legacy public links): a live info stored at exactly `path`."""
    for info in ctx.store.find("file_infos"):
        if info.get("path") == path and not info.get("delete_at"):
            return info
    raise AppError("store.sql_file_info.get_by_path.app_error", 500)
