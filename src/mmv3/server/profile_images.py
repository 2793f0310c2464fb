"""Profile pictures: the generated default and uploaded images, kept in the server's file store.

As real 4.9: a user without an uploaded picture gets a 128x128 PNG in a colour picked from a
hash of the user id; the first read stores it (when the file driver is on) so later reads are
served "from disk". Uploads are cropped to 128x128 PNG when Pillow is installed, otherwise
accepted as they are if they are PNG/JPEG/GIF.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import TYPE_CHECKING, Any

from mmv3.server.errors import AppError
from mmv3.server.filestore import FileStoreError
from mmv3.server.http import blocking

if TYPE_CHECKING:
    from mmv3.server.context import Context

SIZE = 128
MAX_IMAGE_PIXELS = 6048 * 4032  # model.MaxImageSize
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IMAGE_SIGNATURES = (_PNG_SIGNATURE, b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
# The palette real Mattermost picks default picture colours from.
_COLOURS = (
    (197, 8, 126), (227, 207, 18), (28, 181, 105), (35, 188, 224), (116, 49, 196), (197, 8, 126),
    (197, 19, 19), (250, 134, 6), (227, 207, 18), (123, 201, 71), (28, 181, 105), (35, 188, 224),
    (116, 49, 196), (197, 8, 126), (197, 19, 19), (250, 134, 6), (227, 207, 18), (123, 201, 71),
    (28, 181, 105), (35, 188, 224), (116, 49, 196), (197, 8, 126), (197, 19, 19), (250, 134, 6),
    (227, 207, 18), (123, 201, 71),
)  # fmt: skip


def path_for(user_id: str) -> str:
    return f"users/{user_id}/profile.png"


def _fnv1a32(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def solid_png(rgb: tuple[int, int, int], size: int = SIZE) -> bytes:
    """A valid size x size 8-bit RGB PNG of one colour (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * size  # filter byte 0, then the pixels
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * size, 9))
        + _chunk(b"IEND", b"")
    )


def default_png(user: dict[str, Any]) -> bytes:
    return solid_png(_COLOURS[_fnv1a32(user["id"].encode()) % len(_COLOURS)])


def _driver_on(ctx: Context) -> bool:
    return bool(ctx.config.get("FileSettings.DriverName", "local"))


def read(ctx: Context, user: dict[str, Any]) -> tuple[bytes, bool]:
    """The user's picture and whether reading a stored one failed (then the default is served)."""
    if not _driver_on(ctx):
        return default_png(user), False
    try:
        data = ctx.server.files.read(path_for(user["id"]))
    except FileStoreError:
        data = None
    if data is not None:
        return data, False
    image = default_png(user)
    if not user.get("last_picture_update"):
        try:
            ctx.server.files.write(path_for(user["id"]), image)
        except FileStoreError:
            pass  # the picture is served anyway; the next read generates it again
    return image, True


@blocking()  # image codecs run without the interpreter: let other requests run
def normalise_upload(data: bytes) -> bytes:
    """An uploaded picture as the 128x128 PNG to store; 400 AppErrors for what is not an image."""
    try:
        from PIL import Image, ImageOps
    except ImportError:  # Pillow is optional: keep recognised images as they are
        if not data.startswith(_IMAGE_SIGNATURES):
            raise AppError("api.user.upload_profile_user.decode_config.app_error", 400) from None
        return data
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
    except Exception:  # noqa: BLE001 - any decoder failure means "not an image"
        raise AppError("api.user.upload_profile_user.decode_config.app_error", 400) from None
    if width * height > MAX_IMAGE_PIXELS:
        raise AppError("api.user.upload_profile_user.too_large.app_error", 400)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        fitted = ImageOps.fit(image.convert("RGBA"), (SIZE, SIZE), Image.Resampling.LANCZOS)
    except Exception:  # noqa: BLE001
        raise AppError("api.user.upload_profile_user.decode.app_error", 400) from None
    out = io.BytesIO()
    fitted.save(out, "PNG")
    return out.getvalue()


def store(ctx: Context, user_id: str, png: bytes) -> None:
    try:
        ctx.server.files.write(path_for(user_id), png)
    except FileStoreError:
        raise AppError("api.user.upload_profile_user.upload_profile.app_error", 500) from None
