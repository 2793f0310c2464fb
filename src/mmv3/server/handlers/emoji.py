"""emoji: list, create (multipart `emoji` JSON + `image`), delete, and serve custom emoji images.

Every route answers 501 unless `ServiceSettings.EnableCustomEmoji` (default false). Refusals
to act for another user are 401s, as real 4.9 answers them. Images live in the file store at
`emoji/<id>/image`; larger than 128x128 they are scaled down (GIFs frame by frame, others to PNG).
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageOps, ImageSequence

from mmv3.server import gojson, multipart, reactions
from mmv3.server.context import Context, Reply
from mmv3.server.errors import AppError, invalid_param
from mmv3.server.filestore import FileStoreError
from mmv3.server.http import blocking
from mmv3.server.ids import new_id, now_ms
from mmv3.server.routes import route

MAX_FILE_SIZE = 1 << 20  # app.MaxEmojiFileSize
MAX_SIZE = 128  # app.MaxEmojiWidth/Height: larger images are scaled down
MAX_ORIGINAL_SIZE = 1028  # app.MaxEmojiOriginalWidth/Height: larger images are refused
MAX_NAME = 64
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "BMP": "bmp"}  # what Go's image package reads
_KEYS = ("id", "create_at", "update_at", "delete_at", "creator_id", "name")


def _enabled(ctx: Context) -> None:
    if not ctx.config.get("ServiceSettings.EnableCustomEmoji"):
        raise AppError("api.emoji.disabled.app_error", 501)


def _storage(ctx: Context) -> None:
    if not ctx.config.get("FileSettings.DriverName", "local"):
        raise AppError("api.emoji.storage.app_error", 501)


def _image_path(emoji_id: str) -> str:
    return f"emoji/{emoji_id}/image"


def _get(ctx: Context, emoji_id: str) -> dict[str, Any]:
    emoji = ctx.store.get("emoji", emoji_id) if emoji_id else None
    if emoji is None or emoji.get("delete_at"):
        raise AppError("store.sql_emoji.get.app_error", 404)
    return emoji


def _public(emoji: dict[str, Any]) -> dict[str, Any]:
    return {k: emoji[k] for k in _KEYS}


def _from_json(text: str | None) -> dict[str, Any] | None:
    """EmojiFromJson (see `gojson.decode_struct`): None where the emoji would be nil."""
    raw, ok = gojson.parse(text) if text is not None else (None, False)
    fields = {key: gojson.INT if key.endswith("_at") else gojson.STR for key in _KEYS}
    try:
        return gojson.decode_struct(raw, ok, fields, "emoji")
    except AppError:
        return None


def _validate(emoji: dict[str, Any]) -> None:
    """Emoji.IsValid after PreSave: only the creator and the name can be wrong."""
    if len(emoji["creator_id"]) != 26:
        raise AppError("model.emoji.user_id.app_error", 400)
    name = emoji["name"]
    if not name or len(name) > MAX_NAME or not set(name) <= _NAME_CHARS:
        raise AppError("model.emoji.name.app_error", 400)


@blocking()  # image codecs run without the interpreter: let other requests run
def _image_for_storage(data: bytes) -> bytes:
    """App.UploadEmojiImage: refuse what is no image or too large; scale down what is over 128px."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in _FORMATS:
            raise ValueError(image.format)
    except Exception:  # noqa: BLE001 - anything Go's image.DecodeConfig would not read
        raise AppError("api.emoji.upload.image.app_error", 400) from None
    width, height = image.size
    if width > MAX_ORIGINAL_SIZE or height > MAX_ORIGINAL_SIZE:
        raise AppError("api.emoji.upload.large_image.too_large.app_error", 400)
    if width <= MAX_SIZE and height <= MAX_SIZE:
        return data
    gif = image.format == "GIF"
    out = io.BytesIO()
    try:
        frames = [ImageOps.contain(f.convert("RGBA"), (MAX_SIZE, MAX_SIZE), Image.Resampling.LANCZOS)
                  for f in ImageSequence.Iterator(image)]  # fmt: skip
    except Exception:  # noqa: BLE001
        raise AppError(f"api.emoji.upload.large_image.{'gif_' if gif else ''}decode_error", 400) from None
    try:
        if gif:
            frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], loop=0)
        else:
            frames[0].save(out, "PNG")
    except Exception:  # noqa: BLE001
        raise AppError(f"api.emoji.upload.large_image.{'gif_' if gif else ''}encode_error", 400) from None
    return out.getvalue()


@route("GET", "/api/v3/emoji/list")
def list_emoji(ctx: Context) -> list:
    _enabled(ctx)
    live = [e for e in ctx.store.all("emoji") if not e.get("delete_at")]
    return [_public(e) for e in sorted(live, key=lambda e: e["create_at"])]


@route("POST", "/api/v3/emoji/create")
def create(ctx: Context) -> Any:
    _enabled(ctx)
    _storage(ctx)
    if (ctx.request.content_length or 0) > MAX_FILE_SIZE:
        raise AppError("api.emoji.create.too_large.app_error", 413)
    try:
        form = multipart.parse(ctx.request)
    except multipart.MultipartError:
        raise AppError("api.emoji.create.parse.app_error", 400) from None
    # Real 4.9 panics (empty 500) without an `emoji` field; it means "invalid emoji".
    emoji = _from_json(form.first("emoji"))
    if emoji is None:
        raise invalid_param("emoji")
    now = now_ms()
    emoji.update(id=new_id(), create_at=now, update_at=now)  # PreSave: never overwrite an existing emoji
    _validate(emoji)
    if emoji["creator_id"] != ctx.user_id:
        raise AppError("api.emoji.create.other_user.app_error", 401)
    if any(not e.get("delete_at") for e in ctx.store.find("emoji", name=emoji["name"])):
        raise AppError("api.emoji.create.duplicate.app_error", 400)
    images = form.uploads("image")
    if not images:
        raise invalid_param("image")
    try:
        ctx.server.files.write(_image_path(emoji["id"]), _image_for_storage(images[0][1]))
    except FileStoreError:
        raise AppError("api.file.write_file_locally.writing.app_error", 500) from None
    ctx.store.insert("emoji", emoji["id"], emoji)
    return _public(emoji)


@route("POST", "/api/v3/emoji/delete")
def delete(ctx: Context) -> dict:
    _enabled(ctx)
    _storage(ctx)
    emoji_id = ctx.props().get("id", "")
    if not emoji_id:
        raise invalid_param("id")
    emoji = _get(ctx, emoji_id)
    if emoji["creator_id"] != ctx.user_id and not ctx.has_system("manage_system"):
        raise AppError("api.emoji.delete.permissions.app_error", 401)
    now = now_ms()
    ctx.store.put("emoji", emoji["id"], dict(emoji, delete_at=now, update_at=now))
    try:  # the image is kept aside, as real 4.9 moves it to image_deleted
        data = ctx.server.files.read(_image_path(emoji["id"]))
        if data is not None:
            ctx.server.files.write(f"emoji/{emoji['id']}/image_deleted", data)
            ctx.server.files.delete(_image_path(emoji["id"]))
    except FileStoreError:
        pass  # the emoji is deleted either way; a leftover image is never served
    reactions.delete_all_with_emoji(ctx.store, emoji["name"])
    return {"status": "OK"}


@route("GET", "/api/v3/emoji/{id}")
def image(ctx: Context) -> Reply:
    _enabled(ctx)
    _storage(ctx)
    emoji = _get(ctx, ctx.params["id"])
    try:
        data = ctx.server.files.read(_image_path(emoji["id"]))
    except FileStoreError:
        data = None
    if data is None:
        raise AppError("api.emoji.get_image.read.app_error", 404)
    try:
        kind = _FORMATS[Image.open(io.BytesIO(data)).format or ""]
    except Exception:  # noqa: BLE001
        raise AppError("api.emoji.get_image.decode.app_error", 500) from None
    return Reply(200, data, f"image/{kind}", [("Cache-Control", "max-age=2592000, public")])
