"""The reference server's files, emoji, reactions, license and WebRTC routes against real 4.9's answers.

One shared server (in-memory database and file store) holds an admin (the first user), alice
(a member of the team and of its private channel), bob (a team member, not in the private
channel) and a team with a public and a private channel. Settings are switched per test with
`setting(...)`, which restores them afterwards.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PIL import Image

from mmv3.server import running_server, signing
from mmv3.server.files import go_base, mime_type_for

from .api import Api, app_error, conforms

MB = 1 << 20


def png(width: int, height: int, colour: tuple[int, ...] = (20, 120, 220), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), colour).save(out, "PNG")
    return out.getvalue()


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@dataclass
class World:
    server: Any
    api: Api
    admin: dict
    admin_token: str
    alice: dict
    alice_token: str
    bob: dict
    bob_token: str
    team: dict
    public: dict
    private: dict

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def upload(
        self,
        token: str,
        files: list[tuple[str, bytes, str]],
        *,
        channel_id: str | None = None,
        client_ids: list[str] | None = None,
    ) -> requests.Response:
        data: dict[str, Any] = {"channel_id": channel_id or self.public["id"]}
        if client_ids is not None:
            data["client_ids"] = client_ids
        return self.api.http.post(
            f"{self.api.url}/api/v3/teams/{self.team['id']}/files/upload",
            headers=self.auth(token),
            files=[("files", f) for f in files],
            data=data,
            timeout=30,
        )

    def upload_one(self, token: str, name: str, content: bytes, mime: str, **kw: Any) -> dict:
        response = self.upload(token, [(name, content, mime)], **kw)
        assert response.status_code == 200, response.text
        return response.json()["file_infos"][0]

    def post_with(self, token: str, channel: dict, file_ids: list[str]) -> dict:
        path = f"/api/v3/teams/{self.team['id']}/channels/{channel['id']}/posts/create"
        body = {"channel_id": channel["id"], "message": "with files", "file_ids": file_ids}
        return self.api.ok("POST", path, body, token=token)

    def get(self, path: str, token: str | None = None) -> requests.Response:
        return self.api.call("GET", path, token=token)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_server() as server:
        api = Api(server.url)
        admin = api.create_user("fileadmin")
        alice = api.create_user("alice")
        bob = api.create_user("bob")
        admin_token, alice_token, bob_token = (api.login(u) for u in ("fileadmin", "alice", "bob"))
        team = api.create_team(admin_token, "filesteam")
        for user in (alice, bob):
            api.add_to_team(admin_token, team["id"], user["id"])
        public = api.create_channel(admin_token, team["id"], "files-open")
        private = api.create_channel(admin_token, team["id"], "files-private", kind="P")
        for user in (alice, bob):
            api.ok(
                "POST",
                f"/api/v3/teams/{team['id']}/channels/{public['id']}/add",
                {"user_id": user["id"]},
                token=admin_token,
            )
        api.ok(
            "POST",
            f"/api/v3/teams/{team['id']}/channels/{private['id']}/add",
            {"user_id": alice["id"]},
            token=admin_token,
        )
        yield World(
            server, api, admin, admin_token, alice, alice_token, bob, bob_token, team, public, private
        )


@contextmanager
def setting(world: World, **values: Any) -> Iterator[None]:
    """Switch settings (`FileSettings__EnablePublicLink=True`) for the block, then restore them."""
    config = world.server.app.config
    keys = {name.replace("__", "."): value for name, value in values.items()}
    old = {key: config.get(key) for key in keys}
    for key, value in keys.items():
        config[key] = value
    try:
        yield
    finally:
        for key, value in old.items():
            config[key] = value


# ---------------------------------------------------------------------------------------------
# files: upload
# ---------------------------------------------------------------------------------------------
def test_upload_answers_file_infos_and_the_client_ids(world: World) -> None:
    response = world.upload(
        world.admin_token,
        [("shot.png", png(640, 360), "image/png"), ("notes.txt", b"line 1\nline 2\n", "text/plain")],
        client_ids=["c1", "c2"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    conforms(body, "FileUploadResponse")
    assert body["client_ids"] == ["c1", "c2"]
    image, text = body["file_infos"]
    assert (image["name"], image["extension"], image["mime_type"]) == ("shot.png", "png", "image/png")
    assert (image["width"], image["height"], image["has_preview_image"]) == (640, 360, True)
    assert text["mime_type"] == "text/plain; charset=utf-8" and text["size"] == 14
    assert not {"width", "height", "has_preview_image"} & set(text)
    for info in body["file_infos"]:
        assert info["user_id"] == world.admin["id"]
        assert "post_id" not in info and "path" not in info  # unattached; storage paths stay inside


def test_upload_without_client_ids_answers_an_empty_list(world: World) -> None:
    response = world.upload(world.admin_token, [("a.txt", b"a", "text/plain")])
    assert response.status_code == 200
    assert response.json()["client_ids"] == []


def test_upload_refusals(world: World) -> None:
    url = f"{world.api.url}/api/v3/teams/{world.team['id']}/files/upload"
    auth = world.auth(world.admin_token)
    not_multipart = requests.post(url, headers=auth, json={}, timeout=30)
    assert not_multipart.status_code == 500
    assert not_multipart.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert not_multipart.headers["X-Content-Type-Options"] == "nosniff"
    assert not_multipart.text == "request Content-Type isn't multipart/form-data\n"
    no_boundary = requests.post(
        url, headers={**auth, "Content-Type": "multipart/form-data"}, data=b"x", timeout=30
    )
    assert (no_boundary.status_code, no_boundary.text) == (
        500,
        "no multipart boundary param in Content-Type\n",
    )
    missing = requests.post(url, headers=auth, files=[("files", ("a.txt", b"a"))], timeout=30)
    assert app_error(missing, 400, "api.context.invalid_param.app_error")["message"] == (
        "Invalid channel_id parameter"
    )
    bob_private = world.upload(
        world.bob_token, [("a.txt", b"a", "text/plain")], channel_id=world.private["id"]
    )
    app_error(bob_private, 403, "api.context.permissions.app_error")
    unknown = world.upload(world.admin_token, [("a.txt", b"a", "text/plain")], channel_id="z" * 26)
    app_error(unknown, 403, "api.context.permissions.app_error")  # not even a system admin
    mismatch = world.upload(world.admin_token, [("a.txt", b"a", "text/plain")], client_ids=["1", "2"])
    app_error(mismatch, 400, "api.file.upload_file.incorrect_number_of_files.app_error")
    with setting(world, FileSettings__EnableFileAttachments=False):
        app_error(world.upload(world.admin_token, []), 501, "api.file.attachments.disabled.app_error")
    with setting(world, FileSettings__MaxFileSize=1000):
        big = world.upload(world.admin_token, [("big.bin", b"0" * 2000, "application/octet-stream")])
        app_error(big, 413, "api.file.upload_file.too_large.app_error")
    no_token = requests.post(url, files=[("files", ("a.txt", b"a"))], data={"channel_id": "x"}, timeout=30)
    app_error(no_token, 401, "api.context.session_expired.app_error")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`x`height` (its pixels are missing): only the header is read."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_images_what_4_9_reads_of_them(world: World) -> None:
    huge = world.upload(world.admin_token, [("huge.png", png_header_only(7000, 4000), "image/png")])
    assert app_error(huge, 400, "api.file.upload_file.large_image.app_error")["message"].endswith("huge.png")
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:])
    info = world.upload_one(world.admin_token, "anim.gif", animated.getvalue(), "image/gif")
    assert (info["width"], info["height"], info["has_preview_image"]) == (8, 8, False)  # shown as itself
    broken = world.upload_one(world.admin_token, "broken.png", b"not really a png", "image/png")
    assert broken["mime_type"] == "image/png" and "width" not in broken and "has_preview_image" not in broken
    thumb = world.get(f"/api/v3/files/{broken['id']}/get_thumbnail", world.admin_token)
    app_error(thumb, 404, "api.file.read_file.reading_local.app_error")  # no thumbnail could be made


def test_without_a_file_driver_files_are_not_implemented(world: World) -> None:
    info = world.upload_one(world.admin_token, "driver.txt", b"d", "text/plain")
    with setting(world, FileSettings__DriverName=""):
        upload = world.upload(world.admin_token, [("a.txt", b"a", "text/plain")])
        app_error(upload, 501, "api.file.upload_file.storage.app_error")
        app_error(world.get(f"/api/v3/files/{info['id']}/get_info", world.admin_token), 501,
                  "api.file.get_info_for_request.storage.app_error")  # fmt: skip


def test_uploads_are_stored_under_the_data_directory(tmp_path) -> None:
    with running_server(db=str(tmp_path / "db" / "mmv3.db")) as server:
        api = Api(server.url)
        api.create_user("diskadmin")
        token = api.login("diskadmin")
        team = api.create_team(token, "diskteam")
        channel = api.create_channel(token, team["id"], "disk-open")
        response = requests.post(
            f"{server.url}/api/v3/teams/{team['id']}/files/upload",
            headers={"Authorization": f"Bearer {token}"},
            files=[("files", ("../../escape.png", png(10, 10), "image/png"))],
            data={"channel_id": channel["id"]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        info = response.json()["file_infos"][0]
        assert info["name"] == "escape.png"  # only the base name of what the client sent
        stored = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
        data_files = [p for p in stored if p.startswith("db/data/")]
        assert {p.rsplit("/", 1)[1] for p in data_files} == {
            "escape.png",
            "escape_thumb.jpg",
            "escape_preview.jpg",
        }
        assert all(f"/teams/{team['id']}/channels/{channel['id']}/" in p for p in data_files)
        assert all(p.startswith(("db/data/", "db/mmv3.db")) for p in stored)


# ---------------------------------------------------------------------------------------------
# files: download, thumbnail, preview, info
# ---------------------------------------------------------------------------------------------
def test_get_answers_the_bytes_as_an_attachment(world: World) -> None:
    content = png(64, 48)
    info = world.upload_one(world.admin_token, "my pic.png", content, "image/png")
    response = world.get(f"/api/v3/files/{info['id']}/get", world.admin_token)
    assert response.status_code == 200
    assert response.content == content
    headers = response.headers
    assert headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == "max-age=2592000, private"
    assert headers["Content-Disposition"] == "attachment;filename=\"my pic.png\"; filename*=UTF-8''my+pic.png"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == "Frame-ancestors 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Expires"] == "0" and headers["X-Request-Id"]


def test_html_and_scripts_are_served_as_plain_text(world: World) -> None:
    info = world.upload_one(world.admin_token, "page.html", b"<script>alert(1)</script>", "text/html")
    assert info["mime_type"] == "text/html; charset=utf-8"
    response = world.get(f"/api/v3/files/{info['id']}/get", world.admin_token)
    assert response.headers["Content-Type"] == "text/plain"


def test_thumbnail_and_preview_are_jpegs_of_the_real_sizes(world: World) -> None:
    wide = world.upload_one(world.admin_token, "wide.png", png(2048, 1024), "image/png")
    thumb = world.get(f"/api/v3/files/{wide['id']}/get_thumbnail", world.admin_token)
    preview = world.get(f"/api/v3/files/{wide['id']}/get_preview", world.admin_token)
    for response in (thumb, preview):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Content-Disposition"].startswith('attachment;filename="wide.png"')
    assert image_of(thumb.content).format == "JPEG"
    assert image_of(thumb.content).size == (200, 100)  # flatter than 120:100, so 100 high
    assert image_of(preview.content).size == (1024, 512)
    tall = world.upload_one(world.admin_token, "tall.png", png(300, 600), "image/png")
    tall_thumb = world.get(f"/api/v3/files/{tall['id']}/get_thumbnail", world.admin_token)
    assert image_of(tall_thumb.content).size == (120, 240)  # taller than 120:100, so 120 wide
    banner = world.upload_one(world.admin_token, "banner.png", png(640, 360), "image/png")
    banner_thumb = world.get(f"/api/v3/files/{banner['id']}/get_thumbnail", world.admin_token)
    assert image_of(banner_thumb.content).size == (178, 100)  # as the corpus shows for 640x360
    small = world.upload_one(world.admin_token, "small.png", png(32, 32), "image/png")
    assert image_of(
        world.get(f"/api/v3/files/{small['id']}/get_thumbnail", world.admin_token).content
    ).size == (
        32,
        32,
    )


def test_transparent_png_previews_on_white(world: World) -> None:
    clear = world.upload_one(world.admin_token, "clear.png", png(20, 20, (0, 0, 0, 0), "RGBA"), "image/png")
    preview = image_of(world.get(f"/api/v3/files/{clear['id']}/get_preview", world.admin_token).content)
    assert all(channel > 245 for channel in preview.convert("RGB").getpixel((10, 10)))


def test_non_images_have_no_thumbnail_or_preview(world: World) -> None:
    info = world.upload_one(world.admin_token, "doc.txt", b"text", "text/plain")
    thumb = world.get(f"/api/v3/files/{info['id']}/get_thumbnail", world.admin_token)
    app_error(thumb, 400, "api.file.get_file_thumbnail.no_thumbnail.app_error")
    preview = world.get(f"/api/v3/files/{info['id']}/get_preview", world.admin_token)
    app_error(preview, 400, "api.file.get_file_preview.no_preview.app_error")


def test_get_info_and_who_may_see_a_file(world: World) -> None:
    info = world.upload_one(
        world.admin_token, "shared.png", png(8, 8), "image/png", channel_id=world.private["id"]
    )
    path = f"/api/v3/files/{info['id']}/get_info"
    own = world.get(path, world.admin_token)
    assert own.status_code == 200 and own.headers["Cache-Control"] == "max-age=2592000, public"
    conforms(own.json(), "FileInfo")
    # not attached to a post: nobody but the uploader
    app_error(world.get(path, world.alice_token), 400, "api.file.get_file_info_for_request.no_post.app_error")
    post = world.post_with(world.admin_token, world.private, [info["id"]])
    attached = world.get(path, world.alice_token)  # a member of the post's channel
    assert attached.status_code == 200 and attached.json()["post_id"] == post["id"]
    for route in ("get", "get_thumbnail", "get_preview", "get_info"):
        outsider = world.get(f"/api/v3/files/{info['id']}/{route}", world.bob_token)
        app_error(outsider, 403, "api.context.permissions.app_error")
    app_error(world.get("/api/v3/files/" + "z" * 26 + "/get_info", world.admin_token), 404,
              "store.sql_file_info.get.app_error")  # fmt: skip
    short = world.get("/api/v3/files/abc/get_info", world.admin_token)
    assert (
        app_error(short, 400, "api.context.invalid_param.app_error")["message"] == "Invalid file_id parameter"
    )
    app_error(world.get(path), 401, "api.context.session_expired.app_error")


def test_post_file_infos_list_attached_uploads(world: World) -> None:
    info = world.upload_one(world.alice_token, "att.txt", b"attached", "text/plain")
    post = world.post_with(world.alice_token, world.public, [info["id"]])
    path = f"/api/v3/teams/{world.team['id']}/channels/{world.public['id']}/posts/{post['id']}/get_file_infos"
    listed = world.api.ok("GET", path, token=world.bob_token)
    conforms(listed, "FileInfoList")
    assert [i["id"] for i in listed] == [info["id"]] and listed[0]["post_id"] == post["id"]
    assert world.get(f"/api/v3/files/{info['id']}/get", world.bob_token).content == b"attached"


# ---------------------------------------------------------------------------------------------
# files: public links
# ---------------------------------------------------------------------------------------------
def test_public_links_are_off_by_default(world: World) -> None:
    info = world.upload_one(world.admin_token, "p.txt", b"p", "text/plain")
    app_error(world.get(f"/api/v3/files/{info['id']}/get_public_link", world.admin_token), 501,
              "api.file.get_public_link.disabled.app_error")  # fmt: skip
    app_error(world.get(f"/api/v3/public/files/{info['id']}/get?h=x"), 501,
              "api.file.get_file.public_disabled.app_error")  # fmt: skip
    legacy = f"/api/v3/public/files/get/{world.team['id']}/{world.public['id']}/{world.admin['id']}/p.txt?h=x"
    app_error(world.get(legacy), 501, "api.file.get_file.public_disabled.app_error")


def test_public_link_serves_the_file_without_a_session(world: World) -> None:
    content = png(12, 12)
    info = world.upload_one(world.admin_token, "pub.png", content, "image/png")
    with setting(world, FileSettings__EnablePublicLink=True):
        unattached = world.get(f"/api/v3/files/{info['id']}/get_public_link", world.admin_token)
        app_error(unattached, 400, "api.file.get_public_link.no_post.app_error")
        world.post_with(world.admin_token, world.public, [info["id"]])
        response = world.get(f"/api/v3/files/{info['id']}/get_public_link", world.admin_token)
        assert response.status_code == 200
        link = response.json()
        conforms(link, "PublicLink")
        assert link.startswith(f"{world.api.url}/api/v3/public/files/{info['id']}/get?h=")
        served = requests.get(link, timeout=30)
        assert served.status_code == 200 and served.content == content
        assert served.headers["Content-Disposition"].startswith('attachment;filename="pub.png"')
    assert requests.get(link, timeout=30).status_code == 501  # off again: the link stops working


def test_a_wrong_public_hash_answers_the_signed_error_page_then_the_json_error(world: World) -> None:
    info = world.upload_one(world.admin_token, "hash.txt", b"h", "text/plain")
    world.post_with(world.admin_token, world.public, [info["id"]])
    with setting(world, FileSettings__EnablePublicLink=True):
        for query in ("?h=wronghash", ""):
            response = world.get(f"/api/v3/public/files/{info['id']}/get{query}")
            assert response.status_code == 400
            assert response.headers["Content-Type"] == "text/html"
            page, _, error = response.text.rpartition("</body></html>\n")
            assert json.loads(error)["id"] == "api.file.get_file.public_invalid.app_error"
            assert json.loads(error)["request_id"] == response.headers["X-Request-Id"]
            assert (
                "window.location = '/error?message\\u003DThe+public+link+does+not+appear+to+be+valid" in page
            )
            href = page.split('<a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
            assert_signed(world, href)


def test_legacy_public_link_with_a_bad_hash_redirects_to_the_error_page(world: World) -> None:
    with setting(world, FileSettings__EnablePublicLink=True):
        path = f"/api/v3/public/files/get/{world.team['id']}/{world.public['id']}/{world.admin['id']}/x.png?h=bad"
        response = world.get(path)
        assert response.status_code == 307
        assert response.headers["Location"] == (
            f"{world.api.url}/error?message=The public link does not appear to be valid"
        )
        body = response.json()  # the JSON error written after the redirect, still saying 400
        conforms(body, "AppError")
        assert body["id"] == "api.file.get_file.public_invalid.app_error" and body["status_code"] == 400


def assert_signed(world: World, destination: str) -> None:
    """`destination` is `/error?<query>&s=<sig>` with a valid signature by the server's key."""
    signed, _, signature = destination.rpartition("&s=")
    key = signing.key_for(world.server.app.store)
    assert signing.verify(key.public, signed.encode(), base64.urlsafe_b64decode(signature))
    assert parse_qs(urlsplit(destination).query)["message"]


# ---------------------------------------------------------------------------------------------
# files: what a file is
# ---------------------------------------------------------------------------------------------
def test_go_base_and_mime_types_follow_go() -> None:
    assert [go_base(p) for p in ("", "/", "a/b.txt", "../x.png", "dir/")] == [
        ".",
        "/",
        "b.txt",
        "x.png",
        "dir",
    ]
    assert mime_type_for("A.PNG") == "image/png"
    assert mime_type_for("notes.txt") == "text/plain; charset=utf-8"
    assert mime_type_for("noext") == ""


# ---------------------------------------------------------------------------------------------
# emoji
# ---------------------------------------------------------------------------------------------
def create_emoji(
    world: World, token: str, creator_id: str, name: str, image: bytes | None = None
) -> requests.Response:
    files = [("image", ("e.png", image if image is not None else png(40, 40), "image/png"))]
    return world.api.http.post(
        f"{world.api.url}/api/v3/emoji/create",
        headers=world.auth(token),
        files=files,
        data={"emoji": json.dumps({"creator_id": creator_id, "name": name})},
        timeout=30,
    )


def test_emoji_routes_answer_501_unless_custom_emoji_is_enabled(world: World) -> None:
    token = world.admin_token
    disabled = "api.emoji.disabled.app_error"
    app_error(create_emoji(world, token, world.admin["id"], "nope"), 501, disabled)
    app_error(world.get("/api/v3/emoji/list", token), 501, disabled)
    app_error(world.get("/api/v3/emoji/" + "z" * 26, token), 501, disabled)
    app_error(world.api.call("POST", "/api/v3/emoji/delete", {"id": "z" * 26}, token=token), 501, disabled)


def test_emoji_lifecycle(world: World) -> None:
    with setting(world, ServiceSettings__EnableCustomEmoji=True):
        created = create_emoji(world, world.alice_token, world.alice["id"], "party-parrot", png(300, 200))
        assert created.status_code == 200, created.text
        emoji = created.json()
        conforms(emoji, "Emoji")
        assert (emoji["creator_id"], emoji["name"], emoji["delete_at"]) == (
            world.alice["id"],
            "party-parrot",
            0,
        )
        listed = world.api.ok("GET", "/api/v3/emoji/list", token=world.bob_token)
        conforms(listed, "EmojiList")
        assert emoji["id"] in [e["id"] for e in listed]
        picture = world.get(f"/api/v3/emoji/{emoji['id']}", world.bob_token)
        assert picture.status_code == 200
        assert picture.headers["Content-Type"] == "image/png"
        assert picture.headers["Cache-Control"] == "max-age=2592000, public"
        assert image_of(picture.content).size == (128, 85)  # scaled into 128x128
        duplicate = create_emoji(world, world.admin_token, world.admin["id"], "party-parrot")
        app_error(duplicate, 400, "api.emoji.create.duplicate.app_error")
        others = world.api.call("POST", "/api/v3/emoji/delete", {"id": emoji["id"]}, token=world.bob_token)
        app_error(others, 401, "api.emoji.delete.permissions.app_error")
        deleted = world.api.call("POST", "/api/v3/emoji/delete", {"id": emoji["id"]}, token=world.alice_token)
        assert deleted.status_code == 200 and deleted.json() == {"status": "OK"}
        conforms(deleted.json(), "StatusOK")
        app_error(
            world.get(f"/api/v3/emoji/{emoji['id']}", world.alice_token), 404, "store.sql_emoji.get.app_error"
        )
        assert emoji["id"] not in [
            e["id"] for e in world.api.ok("GET", "/api/v3/emoji/list", token=world.bob_token)
        ]
        again = create_emoji(world, world.alice_token, world.alice["id"], "party-parrot")
        assert again.status_code == 200  # the name is free again


def test_emoji_create_refusals(world: World) -> None:
    url = f"{world.api.url}/api/v3/emoji/create"
    with setting(world, ServiceSettings__EnableCustomEmoji=True):
        empty = create_emoji(world, world.admin_token, world.admin["id"], "")
        assert app_error(empty, 400, "model.emoji.name.app_error")["message"] == (
            "Name must be 1 to 64 lowercase alphanumeric characters"
        )
        app_error(create_emoji(world, world.admin_token, world.admin["id"], "has space"), 400,
                  "model.emoji.name.app_error")  # fmt: skip
        app_error(create_emoji(world, world.bob_token, world.admin["id"], "someone"), 401,
                  "api.emoji.create.other_user.app_error")  # fmt: skip
        app_error(create_emoji(world, world.admin_token, world.admin["id"], "notimage", b"plain text"), 400,
                  "api.emoji.upload.image.app_error")  # fmt: skip
        app_error(create_emoji(world, world.admin_token, world.admin["id"], "huge", png(1100, 10)), 400,
                  "api.emoji.upload.large_image.too_large.app_error")  # fmt: skip
        no_image = requests.post(
            url,
            headers=world.auth(world.admin_token),
            files=[("other", ("x.txt", b"x"))],
            data={"emoji": json.dumps({"creator_id": world.admin["id"], "name": "noimage"})},
            timeout=30,
        )
        assert (
            app_error(no_image, 400, "api.context.invalid_param.app_error")["message"]
            == "Invalid image parameter"
        )
        no_emoji = requests.post(url, headers=world.auth(world.admin_token), files=[("image", ("e.png", png(4, 4)))],
                                 timeout=30)  # fmt: skip
        app_error(no_emoji, 400, "api.context.invalid_param.app_error")  # real 4.9 panics here
        not_multipart = requests.post(url, headers=world.auth(world.admin_token), json={}, timeout=30)
        app_error(not_multipart, 400, "api.emoji.create.parse.app_error")
        too_big = requests.post(
            url,
            headers=world.auth(world.admin_token),
            files=[("image", ("e.png", b"0" * (MB + 10), "image/png"))],
            data={"emoji": "{}"},
            timeout=30,
        )
        app_error(too_big, 413, "api.emoji.create.too_large.app_error")
        bad_delete = world.api.call("POST", "/api/v3/emoji/delete", {}, token=world.admin_token)
        assert (
            app_error(bad_delete, 400, "api.context.invalid_param.app_error")["message"]
            == "Invalid id parameter"
        )


def test_an_admin_may_delete_anyones_emoji_and_its_reactions_go_with_it(world: World) -> None:
    with setting(world, ServiceSettings__EnableCustomEmoji=True):
        emoji = create_emoji(world, world.bob_token, world.bob["id"], "bobmoji").json()
        post = world.api.create_post(world.bob_token, world.team["id"], world.public["id"], "react to me")
        react(world, world.bob_token, world.bob, post, "bobmoji")
        react(world, world.bob_token, world.bob, post, "smile")
        deleted = world.api.call("POST", "/api/v3/emoji/delete", {"id": emoji["id"]}, token=world.admin_token)
        assert deleted.status_code == 200
        left = world.api.ok("GET", reactions_path(world, post), token=world.bob_token)
        assert [r["emoji_name"] for r in left] == ["smile"]


# ---------------------------------------------------------------------------------------------
# reactions
# ---------------------------------------------------------------------------------------------
def reactions_path(world: World, post: dict, channel: dict | None = None, suffix: str = "") -> str:
    channel_id = (channel or world.public)["id"]
    return f"/api/v3/teams/{world.team['id']}/channels/{channel_id}/posts/{post['id']}/reactions{suffix}"


def react(
    world: World, token: str, user: dict, post: dict, emoji: str, *, remove: bool = False
) -> requests.Response:
    body = {"user_id": user["id"], "post_id": post["id"], "emoji_name": emoji}
    path = reactions_path(world, post, suffix="/delete" if remove else "/save")
    return world.api.call("POST", path, body, token=token)


def get_post(world: World, post: dict, token: str) -> dict:
    path = f"/api/v3/teams/{world.team['id']}/channels/{world.public['id']}/posts/{post['id']}/get"
    return world.api.ok("GET", path, token=token)["posts"][post["id"]]


def test_reactions_are_saved_listed_and_flag_the_post(world: World) -> None:
    post = world.api.create_post(world.admin_token, world.team["id"], world.public["id"], "reactions")
    assert "has_reactions" not in get_post(world, post, world.admin_token)
    first = react(world, world.admin_token, world.admin, post, "smile")
    assert first.status_code == 200
    conforms(first.json(), "Reaction")
    assert {k: first.json()[k] for k in ("user_id", "post_id", "emoji_name")} == {
        "user_id": world.admin["id"], "post_id": post["id"], "emoji_name": "smile",
    }  # fmt: skip
    assert react(world, world.bob_token, world.bob, post, "+1").status_code == 200
    assert react(world, world.bob_token, world.bob, post, "+1").status_code == 200  # repeating is no error
    listed = world.api.ok("GET", reactions_path(world, post), token=world.alice_token)
    conforms(listed, "ReactionList")
    assert [(r["user_id"], r["emoji_name"]) for r in listed] == [
        (world.admin["id"], "smile"),
        (world.bob["id"], "+1"),
    ]
    assert get_post(world, post, world.admin_token)["has_reactions"] is True
    for user, token, name in ((world.admin, world.admin_token, "smile"), (world.bob, world.bob_token, "+1")):
        removed = react(world, token, user, post, name, remove=True)
        assert removed.status_code == 200 and removed.json() == {"status": "OK"}
    assert world.api.ok("GET", reactions_path(world, post), token=world.admin_token) == []
    assert "has_reactions" not in get_post(world, post, world.admin_token)


def test_reaction_refusals(world: World) -> None:
    post = world.api.create_post(world.admin_token, world.team["id"], world.public["id"], "refusals")
    save = reactions_path(world, post, suffix="/save")
    as_other = react(world, world.bob_token, world.admin, post, "smile")
    app_error(as_other, 403, "api.reaction.save_reaction.user_id.app_error")
    removing_other = react(world, world.bob_token, world.admin, post, "smile", remove=True)
    app_error(removing_other, 403, "api.reaction.delete_reaction.user_id.app_error")
    malformed = world.api.call("POST", save, raw=b"{", token=world.admin_token)
    assert (
        app_error(malformed, 400, "api.context.invalid_param.app_error")["message"]
        == "Invalid reaction parameter"
    )
    wrong_type = world.api.call("POST", save, {"user_id": world.admin["id"], "post_id": post["id"], "emoji_name": 5},
                                token=world.admin_token)  # fmt: skip
    app_error(wrong_type, 400, "api.context.invalid_param.app_error")
    no_name = world.api.call(
        "POST", save, {"user_id": world.admin["id"], "post_id": post["id"]}, token=world.admin_token
    )
    app_error(no_name, 400, "model.reaction.is_valid.emoji_name.app_error")
    other_post = world.api.call(
        "POST",
        save,
        {"user_id": world.admin["id"], "post_id": "z" * 26, "emoji_name": "smile"},
        token=world.admin_token,
    )
    assert (
        app_error(other_post, 400, "api.context.invalid_param.app_error")["message"]
        == "Invalid postId parameter"
    )
    private_post = world.api.create_post(world.admin_token, world.team["id"], world.private["id"], "secret")
    bob_reads = world.get(reactions_path(world, private_post, world.private), world.bob_token)
    app_error(bob_reads, 403, "api.context.permissions.app_error")
    bob_reacts = world.api.call(
        "POST",
        reactions_path(world, private_post, world.private, "/save"),
        {"user_id": world.bob["id"], "post_id": private_post["id"], "emoji_name": "smile"},
        token=world.bob_token,
    )
    app_error(bob_reacts, 403, "api.context.permissions.app_error")
    wrong_channel = world.get(reactions_path(world, private_post), world.admin_token)  # post is elsewhere
    app_error(wrong_channel, 400, "api.reaction.list_reactions.mismatched_channel_id.app_error")
    unknown = world.get(reactions_path(world, {"id": "z" * 26}), world.admin_token)
    app_error(unknown, 404, "store.sql_post.get.app_error")
    lenient = world.api.call(
        "POST", reactions_path(world, post, suffix="/delete"),
        {"user_id": world.admin["id"], "post_id": post["id"]}, token=world.admin_token,
    )  # fmt: skip
    assert lenient.status_code == 200  # as real 4.9: nothing to delete is no error


# ---------------------------------------------------------------------------------------------
# license and WebRTC
# ---------------------------------------------------------------------------------------------
def test_client_license_is_unlicensed_with_an_etag(world: World) -> None:
    for token in (None, world.bob_token, world.admin_token):
        response = world.get("/api/v3/license/client_config", token)
        assert response.status_code == 200
        assert response.json() == {"IsLicensed": "false"}
        conforms(response.json(), "ClientLicense")
        assert response.headers["Etag"] == "4.9.0.828a93b033f9e54901f35f13f99e677e"  # as the corpus
    cached = world.api.call(
        "GET", "/api/v3/license/client_config", headers={"If-None-Match": response.headers["Etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""


def test_license_add_never_accepts_a_file(world: World) -> None:
    url = f"{world.api.url}/api/v3/license/add"
    garbage = [("license", ("x.mattermost-license", b"not a signed license", "application/octet-stream"))]
    invalid = requests.post(url, headers=world.auth(world.admin_token), files=garbage, timeout=30)
    app_error(invalid, 400, "api.license.add_license.invalid.app_error")
    other_part = [("notlicense", ("a.txt", b"a", "text/plain"))]
    missing = requests.post(url, headers=world.auth(world.admin_token), files=other_part, timeout=30)
    app_error(missing, 400, "api.license.add_license.no_file.app_error")
    not_multipart = requests.post(url, headers=world.auth(world.admin_token), json={}, timeout=30)
    assert (not_multipart.status_code, not_multipart.text) == (
        500,
        "request Content-Type isn't multipart/form-data\n",
    )
    app_error(requests.post(url, headers=world.auth(world.bob_token), files=garbage, timeout=30), 403,
              "api.context.permissions.app_error")  # fmt: skip
    actions = [a["extra_info"] for a in world.server.app.store.find("audits", user_id=world.admin["id"])
               if a["action"] == "/api/v3/license/add"]  # fmt: skip
    assert "attempt" in actions and "failed - invalid license" in actions


def test_license_remove_answers_lowercase_ok(world: World) -> None:
    removed = world.api.call("POST", "/api/v3/license/remove", token=world.admin_token)
    assert removed.status_code == 200 and removed.json() == {"status": "ok"}
    conforms(removed.json(), "StatusOkLowercase")
    app_error(world.api.call("POST", "/api/v3/license/remove", token=world.bob_token), 403,
              "api.context.permissions.app_error")  # fmt: skip


def test_webrtc_token_is_refused(world: World) -> None:
    app_error(world.api.call("POST", "/api/v3/webrtc/token", token=world.bob_token), 501,
              "api.webrtc.disabled.app_error")  # fmt: skip
    with setting(world, WebrtcSettings__Enable=True):  # no gateway is ever contacted
        app_error(world.api.call("POST", "/api/v3/webrtc/token", token=world.bob_token), 500,
                  "model.client.connecting.app_error")  # fmt: skip
    app_error(world.api.call("POST", "/api/v3/webrtc/token"), 401, "api.context.session_expired.app_error")
