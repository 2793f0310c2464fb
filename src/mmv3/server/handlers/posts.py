"""posts: create, edit, delete, pin; threads, pages, since, before/after; flagged; search; file infos.

Reactions and file uploads are other groups. Where real 4.9 is plainly broken the routes do what
it meant (tests/fidelity_exceptions.yaml lists each): editing another user's post needs
edit_others_posts, pin/unpin need read_channel on the post's channel, and search answers a
missing or malformed `terms` with a 400 instead of an empty-bodied 500.
"""

from __future__ import annotations

from typing import Any

from mmv3.server import events, memberships, post_search, posts, sanitize, webhooks
from mmv3.server.context import Context
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.routes import route

_POSTS = "/api/v3/teams/{team_id}/channels/{channel_id}/posts"
_POST = _POSTS + "/{post_id}"
_MAX_INT = 2**63 - 1  # Go's strconv.Atoi / ParseInt range on 64-bit
_PAGE_LIMIT = 1000

_STRING_FIELDS = (
    "id", "user_id", "channel_id", "root_id", "parent_id", "original_id", "message", "type", "hashtags",
    "pending_post_id",
)  # fmt: skip
_TIME_FIELDS = ("create_at", "update_at", "edit_at", "delete_at")
# An empty OpenGraph object: what 4.9 answers when the URL cannot be fetched. The reference
# server never fetches (it reaches no address but the caller's), so previews are always empty.
_EMPTY_OPENGRAPH = {
    "type": "", "url": "", "title": "", "description": "", "determiner": "", "site_name": "", "locale": "",
    "locales_alternate": [], "images": [], "audios": [], "videos": [],
}  # fmt: skip


# -- request helpers ---------------------------------------------------------------------------
def _decode_post(body: dict[str, Any]) -> dict[str, Any]:
    """A Post body as Go decodes it: a wrongly typed field is left at its zero value."""
    post = posts.new_post("", "")
    for key in _STRING_FIELDS:
        value = body.get(key)
        post[key] = value if isinstance(value, str) else ""
    for key in _TIME_FIELDS:
        value = body.get(key)
        post[key] = value if isinstance(value, int) and not isinstance(value, bool) else 0
    post["is_pinned"] = body.get("is_pinned") is True
    props = body.get("props")
    post["props"] = dict(props) if isinstance(props, dict) else {}
    for key in ("file_ids", "filenames"):
        value = body.get(key)
        if isinstance(value, list):
            post[key] = [v for v in value if isinstance(v, str)]
    if body.get("has_reactions") is True:
        post["has_reactions"] = True
    return post


def _id_param(ctx: Context, name: str, label: str) -> str:
    value = ctx.params[name]
    if len(value) != 26:
        raise invalid_param(label)
    return value


def _int_param(ctx: Context, name: str, label: str) -> int:
    value = ctx.params[name]
    if not value.isdigit() or int(value) > _MAX_INT:
        raise invalid_param(label)
    return int(value)


def _json_props(ctx: Context) -> dict[str, Any]:
    """A free-form JSON object body ({} when malformed, as model.StringInterfaceFromJson)."""
    value, ok = ctx.raw_json()
    return value if ok and isinstance(value, dict) else {}


def _require(ctx: Context, channel_id: str, permission: str) -> dict[str, Any]:
    """The channel, if the caller has `permission` in it; 403 otherwise."""
    channel = memberships.permitted_channel(ctx, channel_id, permission)
    if channel is None:
        raise forbidden()
    return channel


def _version(ctx: Context) -> str:
    return ctx.server.options.version


def _thread_or_404(ctx: Context, post_id: str) -> dict[str, Any]:
    plist = posts.thread(ctx.store, post_id)
    if plist is None:
        raise posts.not_found()
    return plist


def _live_or_404(ctx: Context, post_id: str) -> dict[str, Any]:
    post = posts.get_live(ctx.store, post_id)
    if post is None:
        raise posts.not_found()
    return post


# -- team-level routes -------------------------------------------------------------------------
@route("POST", "/api/v3/get_opengraph_metadata")
def opengraph(ctx: Context) -> dict:
    if not ctx.config.get("ServiceSettings.EnableLinkPreviews"):
        raise AppError("api.post.link_preview_disabled.app_error", 501)
    url = _json_props(ctx).get("url")
    if not isinstance(url, str) or not url:
        raise invalid_param("url")
    return dict(_EMPTY_OPENGRAPH)


@route("POST", "/api/v3/teams/{team_id}/posts/search")
def search(ctx: Context) -> dict:
    props = _json_props(ctx)
    terms = props.get("terms")
    if not isinstance(terms, str) or not terms:
        raise invalid_param("terms")  # real 4.9 panics (empty 500) unless terms is a string
    is_or = props.get("is_or_search")
    if is_or is not None and not isinstance(is_or, bool):
        raise invalid_param("is_or_search")
    if not ctx.config.get("ServiceSettings.EnablePostSearch", True):
        raise AppError("store.sql_post.search.disabled", 501)
    found = post_search.search(ctx.store, ctx.user_id, ctx.params["team_id"], terms, is_or=bool(is_or))
    ctx.set_header("Cache-Control", "no-cache, no-store, must-revalidate")
    return found


@route("GET", "/api/v3/teams/{team_id}/posts/flagged/{offset}/{limit}")
def flagged(ctx: Context) -> dict:
    offset = _int_param(ctx, "offset", "offset")
    limit = _int_param(ctx, "limit", "limit")
    team_id = ctx.params["team_id"]
    if not ctx.has_team(team_id, "view_team"):
        raise forbidden()
    return posts.flagged(ctx.store, ctx.user_id, team_id, offset, limit)


@route("GET", "/api/v3/teams/{team_id}/posts/{post_id}")
def post_by_id(ctx: Context) -> dict:
    post_id = _id_param(ctx, "post_id", "postId")
    plist = _thread_or_404(ctx, post_id)
    _require(ctx, plist["posts"][post_id]["channel_id"], "read_channel")
    ctx.etag = posts.list_etag(_version(ctx), plist)
    return plist


@route("GET", "/api/v3/teams/{team_id}/pltmp/{post_id}")
def permalink(ctx: Context) -> dict:
    post_id = _id_param(ctx, "post_id", "postId")
    post = ctx.store.get("posts", post_id)
    channel = ctx.store.get("channels", post["channel_id"]) if post else None
    if channel is None:
        raise invalid_param("postId")
    permission = "join_public_channels" if channel.get("type") == "O" else "read_channel"
    if not ctx.has_channel(channel["id"], permission):
        raise forbidden()
    plist = _thread_or_404(ctx, post_id)
    if ctx.channel_member(channel["id"]) is None:  # following a permalink joins an open channel
        if channel.get("type") != "O":
            raise AppError("api.channel.join_channel.permissions.app_error", 400)
        memberships.join_channel(ctx, channel, ctx.user)
    ctx.etag = posts.list_etag(_version(ctx), plist)
    return plist


# -- channel-level routes ----------------------------------------------------------------------
@route("POST", _POSTS + "/create")
def create(ctx: Context) -> dict:
    post = _decode_post(ctx.model("post"))
    post["user_id"] = ctx.user_id
    post["delete_at"] = 0
    channel = _require(ctx, post["channel_id"], "create_post")  # the body's channel, not the path's
    if post["create_at"] and not ctx.has_system("manage_system"):
        post["create_at"] = 0
    if post["type"].startswith(posts.SYSTEM_PREFIX):
        raise invalid_param("post.type")
    if channel.get("delete_at"):
        raise AppError("api.post.create_post.can_not_post_to_deleted.error", 400)
    post["props"].pop("add_channel_member", None)
    if post["root_id"]:
        _check_thread(ctx, post)
    post["hashtags"] = posts.parse_hashtags(post["message"])
    posts.channel_mentions(ctx, post, channel.get("team_id", ""))
    saved = posts.save(ctx.store, post)
    posts.attach_files(ctx.store, saved)
    webhooks.fire_outgoing(ctx, saved)
    events.posted(ctx, saved)
    if "from_webhook" not in saved["props"]:
        memberships.mark_viewed(ctx, saved["channel_id"], ctx.user_id)
        events.channel_viewed(ctx, ctx.user_id, saved["channel_id"])
    return posts.public(saved)


def _check_thread(ctx: Context, post: dict[str, Any]) -> None:
    """A reply's root must be a live post of the same channel, its parent a post of that thread."""
    root = posts.thread(ctx.store, post["root_id"])
    if root is None:
        raise AppError("api.post.create_post.root_id.app_error", 400)
    if any(p["channel_id"] != post["channel_id"] for p in root["posts"].values()):
        raise AppError("api.post.create_post.channel_root_id.app_error", 400)
    post["parent_id"] = post["parent_id"] or post["root_id"]
    if post["parent_id"] != post["root_id"] and post["parent_id"] not in root["posts"]:
        raise AppError("api.post.create_post.parent_id.app_error", 400)


@route("POST", _POSTS + "/update")
def update(ctx: Context) -> dict:
    wanted = _decode_post(ctx.model("post"))
    _require(ctx, wanted["channel_id"], "edit_post")
    if not wanted["id"]:
        raise AppError("store.sql_post.get.app_error", 400)
    old = _live_or_404(ctx, wanted["id"])
    if old["type"].startswith(posts.SYSTEM_PREFIX):
        raise AppError("api.post.update_post.system_message.app_error", 400)
    # Real 4.9 checks edit_post on the body's channel only, whoever wrote the post.
    if old["channel_id"] != wanted["channel_id"]:
        _require(ctx, old["channel_id"], "edit_post")
    if old["user_id"] != ctx.user_id:
        _require(ctx, old["channel_id"], "edit_others_posts")
    new = dict(old)
    edited = new["message"] != wanted["message"]
    if edited:
        new["message"] = wanted["message"]
        new["hashtags"] = posts.parse_hashtags(wanted["message"])
    updated = posts.update(ctx.store, new, old, edited=edited)
    events.post_changed(ctx, "post_edited", updated)
    return posts.public(updated)


@route("GET", _POSTS + "/page/{offset}/{limit}")
def page(ctx: Context) -> dict:
    channel_id = _id_param(ctx, "channel_id", "channelId")
    offset = _int_param(ctx, "offset", "offset")
    limit = _int_param(ctx, "limit", "limit")
    # sic: 4.9 asks for create_post, not read_channel; the fault that opens private channels to
    # reading opens this read too.
    if not (
        memberships.channel_permission(ctx, channel_id, "create_post")
        or (
            ctx.fault("auth-private-channel-open")
            and memberships.channel_permission(ctx, channel_id, "read_channel")
        )
    ):
        raise forbidden()
    ctx.etag = posts.channel_etag(ctx.store, _version(ctx), channel_id)
    if limit > _PAGE_LIMIT:
        raise AppError("store.sql_post.get_posts.app_error", 400)
    plist = posts.page(ctx.store, channel_id, offset, limit)
    if ctx.fault("invariants-post-order-reversed"):
        plist["order"].reverse()
    return plist


@route("GET", _POSTS + "/since/{time}")
def since(ctx: Context) -> dict:
    channel_id = _id_param(ctx, "channel_id", "channelId")
    time = _int_param(ctx, "time", "time")
    _require(ctx, channel_id, "read_channel")
    return posts.since(ctx.store, channel_id, time)


@route("GET", _POST + "/get")
def get_thread(ctx: Context) -> dict:
    channel_id = _id_param(ctx, "channel_id", "channelId")
    post_id = _id_param(ctx, "post_id", "postId")
    _require(ctx, channel_id, "read_channel")
    plist = _thread_or_404(ctx, post_id)
    if any(p["channel_id"] != channel_id for p in plist["posts"].values()):
        raise AppError("api.post.get_post.permissions.app_error", 403)
    ctx.etag = posts.list_etag(_version(ctx), plist)
    return plist


@route("POST", _POST + "/delete")
def delete(ctx: Context) -> dict:
    channel_id = _id_param(ctx, "channel_id", "channelId")
    post_id = _id_param(ctx, "post_id", "postId")
    _require(ctx, channel_id, "delete_post")
    post = posts.get_live(ctx.store, post_id)
    # An unknown post fails the delete_others_posts check too (403, as real 4.9).
    if post is None or (
        post["user_id"] != ctx.user_id
        and not memberships.channel_permission(ctx, post["channel_id"], "delete_others_posts")
    ):
        raise forbidden()
    if post["channel_id"] != channel_id:  # real 4.9 deletes first and refuses afterwards
        raise AppError("api.post.delete_post.permissions.app_error", 403)
    posts.delete(ctx.store, post)
    events.post_changed(ctx, "post_deleted", post)
    return {"id": post_id}


def _around(ctx: Context, *, before: bool) -> dict:
    channel_id = _id_param(ctx, "channel_id", "channelId")
    post_id = _id_param(ctx, "post_id", "postId")
    count = _int_param(ctx, "num_posts", "numPosts")
    if count <= 0:
        raise invalid_param("numPosts")
    offset = _int_param(ctx, "offset", "offset")
    _require(ctx, channel_id, "read_channel")
    ctx.etag = posts.channel_etag(ctx.store, _version(ctx), channel_id)
    skip = 1 if ctx.fault("invariants-window-gap") else 0
    return posts.around(ctx.store, channel_id, post_id, offset + skip, count, before=before)


@route("GET", _POST + "/before/{offset}/{num_posts}")
def before(ctx: Context) -> dict:
    return _around(ctx, before=True)


@route("GET", _POST + "/after/{offset}/{num_posts}")
def after(ctx: Context) -> dict:
    return _around(ctx, before=False)


@route("GET", _POST + "/get_file_infos")
def file_infos(ctx: Context) -> list:
    channel_id = _id_param(ctx, "channel_id", "channelId")
    post_id = _id_param(ctx, "post_id", "postId")
    _require(ctx, channel_id, "read_channel")
    infos = posts.file_infos(ctx.store, post_id)
    if not infos:
        _live_or_404(ctx, post_id)
    ctx.etag = posts.file_infos_etag(_version(ctx), infos)
    if infos and ctx.request.headers.get("If-None-Match") != ctx.etag:  # a 304 carries no Cache-Control
        ctx.set_header("Cache-Control", "max-age=2592000, public")
    return [sanitize.file_info(ctx, info) for info in infos]


def _set_pinned(ctx: Context, pinned: bool) -> dict:
    _id_param(ctx, "channel_id", "channelId")
    post_id = _id_param(ctx, "post_id", "postId")
    old = _live_or_404(ctx, post_id)
    _require(ctx, old["channel_id"], "read_channel")  # real 4.9 checks no permission at all
    updated = posts.update(ctx.store, dict(old, is_pinned=pinned), old)
    events.post_changed(ctx, "post_edited", updated)
    return posts.public(updated)


@route("POST", _POST + "/pin")
def pin(ctx: Context) -> dict:
    return _set_pinned(ctx, True)


@route("POST", _POST + "/unpin")
def unpin(ctx: Context) -> dict:
    return _set_pinned(ctx, False)
