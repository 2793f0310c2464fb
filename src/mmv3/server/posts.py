"""Posts as Mattermost 4.9 stores them: saving, editing, deleting, threads and PostLists.

Used by the posts handlers, by memberships (system messages) and by the channels handlers
(pinned posts), so the store rules live once: what a save does to its channel and thread root,
that an edit keeps the old version as a deleted copy (which `since/{time}` then returns), that
a delete takes the replies with it, and the etag formats of §8.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from mmv3.server import post_cache
from mmv3.server.errors import AppError
from mmv3.server.ids import new_id, now_ms

if TYPE_CHECKING:
    from mmv3.server.context import Context
    from mmv3.server.store import Store

SYSTEM_PREFIX = "system_"
FLAGGED_CATEGORY = "flagged_post"
MAX_MESSAGE_RUNES = 16383  # the v2 Posts.Message column (65535 bytes / 4)
MAX_HASHTAGS_RUNES = 1000
MAX_FILE_IDS_RUNES = 150
MAX_PROPS_RUNES = 8000

# Types Post.IsValid accepts besides "custom_*".
VALID_TYPES = frozenset({
    "", "slack_attachment", "system_join_leave", "system_add_remove", "system_join_channel",
    "system_leave_channel", "system_join_team", "system_leave_team", "system_add_to_channel",
    "system_remove_from_channel", "system_move_channel", "system_add_to_team", "system_remove_from_team",
    "system_header_change", "system_purpose_change", "system_displayname_change", "system_convert_channel",
    "system_channel_deleted", "system_change_chan_privacy",
})  # fmt: skip
# Joins and leaves move the channel's last_post_at but not its message count (no unread badge).
_UNCOUNTED_TYPES = frozenset({
    "system_join_leave", "system_add_remove", "system_join_channel", "system_leave_channel",
    "system_join_team", "system_leave_team", "system_add_to_channel", "system_remove_from_channel",
})  # fmt: skip

_VALID_HASHTAG = re.compile(r"#[^\W\d_][\w.-]*[^\W_]")
_PUNCT_START = re.compile(r"^(?:[^\w\s#]|_)+")
_PUNCT_END = re.compile(r"(?:[^\w\s]|_)+$")
_HASHES = re.compile(r"^#{2,}")
_CHANNEL_MENTION = re.compile(r"(?<![\w~])~([a-zA-Z0-9_-]+)")


def is_hashtag(word: str) -> bool:
    return _VALID_HASHTAG.fullmatch(word) is not None


def parse_hashtags(text: str) -> str:
    """The space-separated hashtags of a message (model.ParseHashtags), at most 1000 characters."""
    tags = []
    for word in text.split():
        word = _HASHES.sub("#", _PUNCT_END.sub("", _PUNCT_START.sub("", word)))
        if is_hashtag(word):
            tags.append(word)
    joined = " ".join(tags)
    if len(joined) + 1 > MAX_HASHTAGS_RUNES:  # the real one counts the leading space it later trims
        joined = joined[: MAX_HASHTAGS_RUNES - 2]
        joined = joined[: joined.rfind(" ")] if " " in joined else ""
    return joined.strip()


def new_post(user_id: str, channel_id: str, message: str = "", **fields: Any) -> dict[str, Any]:
    """A post document in the real JSON shape (empty file_ids/filenames/has_reactions omitted)."""
    post: dict[str, Any] = {
        "id": "", "create_at": 0, "update_at": 0, "edit_at": 0, "delete_at": 0, "is_pinned": False,
        "user_id": user_id, "channel_id": channel_id, "root_id": "", "parent_id": "", "original_id": "",
        "message": message, "type": "", "props": {}, "hashtags": "", "pending_post_id": "",
    }  # fmt: skip
    post.update(fields)
    return post


def _runes_of_json(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True))


def validate(post: dict[str, Any]) -> None:
    """Post.IsValid: the 400 `model.post.is_valid.*` errors."""

    def bad(field: str) -> AppError:
        return AppError(f"model.post.is_valid.{field}.app_error", 400)

    if len(post["id"]) != 26:
        raise bad("id")
    if not post["create_at"]:
        raise bad("create_at")
    if not post["update_at"]:
        raise bad("update_at")
    if len(post["user_id"]) != 26:
        raise bad("user_id")
    if len(post["channel_id"]) != 26:
        raise bad("channel_id")
    if len(post["root_id"]) not in (0, 26):
        raise bad("root_id")
    if len(post["parent_id"]) not in (0, 26):
        raise bad("parent_id")
    if post["parent_id"] and not post["root_id"]:
        raise bad("root_parent")
    if len(post["original_id"]) not in (0, 26):
        raise bad("original_id")
    if len(post["message"]) > MAX_MESSAGE_RUNES:
        raise bad("msg")
    if len(post["hashtags"]) > MAX_HASHTAGS_RUNES:
        raise bad("hashtags")
    if post["type"] not in VALID_TYPES and not post["type"].startswith("custom_"):
        raise bad("type")
    if _runes_of_json(post.get("file_ids") or []) > MAX_FILE_IDS_RUNES:
        raise bad("file_ids")
    if _runes_of_json(post["props"]) > MAX_PROPS_RUNES:
        raise bad("props")


def _compact(post: dict[str, Any]) -> dict[str, Any]:
    """Drop the fields the real JSON omits when empty."""
    for key in ("file_ids", "filenames", "message_source"):
        if not post.get(key):
            post.pop(key, None)
    if not post.get("has_reactions"):
        post.pop("has_reactions", None)
    return post


def save(store: Store, post: dict[str, Any]) -> dict[str, Any]:
    """SqlPostStore.Save: a new id and times, validation, then the channel's and root's bookkeeping.

    `post["id"]` must be empty (400 `store.sql_post.save.existing.app_error`); a non-zero
    `create_at` is kept. The stored document always has `pending_post_id` "" (not persisted).
    """
    if post.get("id"):
        raise AppError("store.sql_post.save.existing.app_error", 400)
    post = dict(post, id=new_id(), original_id="")
    post["create_at"] = post.get("create_at") or now_ms()
    post["update_at"] = post["create_at"]
    post["props"] = post.get("props") or {}
    validate(post)
    stored = _compact(dict(post, pending_post_id=""))
    with store.transaction():
        store.insert("posts", stored["id"], stored)
        channel = store.get("channels", post["channel_id"])
        if channel is not None:
            channel["last_post_at"] = post["update_at"]
            if post["type"] not in _UNCOUNTED_TYPES:
                channel["total_msg_count"] = channel.get("total_msg_count", 0) + 1
            store.put("channels", channel["id"], channel)
        if post["root_id"]:
            _touch(store, post["root_id"], post["update_at"])
    return _compact(post)


def _touch(store: Store, post_id: str, when: int) -> None:
    root = store.get("posts", post_id)
    if root is not None:
        root["update_at"] = when
        store.put("posts", post_id, root)


def update(store: Store, new: dict[str, Any], old: dict[str, Any], *, edited: bool = False) -> dict[str, Any]:
    """SqlPostStore.Update: save `new` (same id) and keep `old` as a deleted copy of itself.

    Pins and edits both go through here, so both move the channel's last_post_at and the
    thread root's update_at, and both leave a copy that `since/{time}` reports. `edited` stamps
    edit_at with the same time as update_at, as a message change does.
    """
    now = now_ms()
    new = _compact(dict(new, update_at=now, props=new.get("props") or {}))
    if edited:
        new["edit_at"] = now
    validate(new)
    copy = _compact(dict(old, id=new_id(), original_id=old["id"], delete_at=now, update_at=now))
    with store.transaction():
        store.put("posts", new["id"], new)
        channel = store.get("channels", new["channel_id"])
        if channel is not None:
            channel["last_post_at"] = now
            store.put("channels", channel["id"], channel)
        if new["root_id"]:
            _touch(store, new["root_id"], now)
        store.insert("posts", copy["id"], copy)
    return new


def delete(store: Store, post: dict[str, Any]) -> None:
    """Mark a post and its replies deleted; drop everyone's flags on it and its file infos."""
    now = now_ms()
    with store.transaction():
        for doc in [post, *store.find("posts", root_id=post["id"], delete_at=0)]:
            current = store.get("posts", doc["id"]) or doc
            current["delete_at"] = current["update_at"] = now
            store.put("posts", current["id"], current)
        store.delete_where("preferences", category=FLAGGED_CATEGORY, name=post["id"])
        for info in store.find("file_infos", post_id=post["id"]):
            if not info.get("delete_at"):
                info["delete_at"] = info["update_at"] = now
                store.put("file_infos", info["id"], info)


def get_live(store: Store, post_id: str) -> dict[str, Any] | None:
    """The post unless missing or deleted (the store's `DeleteAt = 0` reads)."""
    post = store.get("posts", post_id) if post_id else None
    return post if post is not None and not post.get("delete_at") else None


def not_found() -> AppError:
    return AppError("store.sql_post.get.app_error", 404)


def public(post: dict[str, Any]) -> dict[str, Any]:
    """Post.ToJson: action integrations (urls, secrets) stripped from message attachments."""
    attachments = post.get("props", {}).get("attachments")
    if not isinstance(attachments, list) or not any(
        isinstance(a, dict) and isinstance(a.get("actions"), list) for a in attachments
    ):
        return post
    out = json.loads(json.dumps(post))
    for attachment in out["props"]["attachments"]:
        for action in attachment.get("actions") or [] if isinstance(attachment, dict) else []:
            if isinstance(action, dict):
                action.pop("integration", None)
    return out


def post_list(ordered: list[dict[str, Any]], extra: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """A PostList: `order` the ids of `ordered` as given, `posts` every post of both lists."""
    posts = {p["id"]: public(p) for p in extra}
    posts.update((p["id"], public(p)) for p in ordered)
    return {"order": [p["id"] for p in ordered], "posts": posts}


def thread(store: Store, post_id: str) -> dict[str, Any] | None:
    """SqlPostStore.Get: the post in `order`, its whole live thread in `posts`; None if missing."""
    post = get_live(store, post_id)
    if post is None:
        return None
    root_id = post["root_id"] or post["id"]
    members = store.find("posts", root_id=root_id, delete_at=0)
    root = get_live(store, root_id)
    return post_list([post], ([root] if root else []) + members)


def list_etag(version: str, plist: dict[str, Any]) -> str:
    """PostList.Etag: `<ver>.<first order id>.<id of the latest update>.<latest update_at>`."""
    latest_id, latest = "0", 0
    for post in plist["posts"].values():
        if post["update_at"] > latest or (post["update_at"] == latest and post["id"] > latest_id):
            latest_id, latest = post["id"], post["update_at"]
    first = plist["order"][0] if plist["order"] else ""
    return f"{version}.{first}.{latest_id}.{latest}"


def latest_change(store: Store, channel_id: str) -> int | None:
    """The latest update_at of the channel's posts, deleted ones too (None for none); cached as
    4.9's lastPostTimeCache."""
    cached = store.post_cache.get(channel_id, "latest")
    if cached is not None:
        return cached
    generation = store.post_cache.generation(channel_id)
    latest = store.max_of("posts", "update_at", channel_id=channel_id)
    if latest is not None and not store.in_transaction:
        store.post_cache.put(channel_id, "latest", latest, generation)
    return latest


def channel_etag(store: Store, version: str, channel_id: str) -> str:
    """The channel posts etag: `<ver>.<latest update_at of any post, deleted ones too>` (else now)."""
    latest = latest_change(store, channel_id)
    return f"{version}.{latest if latest is not None else now_ms()}"


def _copy(plist: dict[str, Any]) -> dict[str, Any]:
    return {"order": list(plist["order"]), "posts": dict(plist["posts"])}


def page(store: Store, channel_id: str, offset: int, limit: int) -> dict[str, Any]:
    """SqlPostStore.GetPosts: the window of live posts newest first, plus their threads. First
    pages come from the store's post cache (4.9 caches those of 30 and 60 posts)."""
    cacheable = offset == 0 and 0 < limit <= post_cache.MAX_LIMIT
    if cacheable:
        cached = store.post_cache.get(channel_id, ("page", limit))
        if cached is not None:
            return _copy(cached)
        generation = store.post_cache.generation(channel_id)
    window = store.find(
        "posts", channel_id=channel_id, delete_at=0, order_by="-create_at", limit=limit, offset=offset
    )
    root_ids = {p["root_id"] or p["id"] for p in window}
    roots = [p for p in (get_live(store, r) for r in {p["root_id"] for p in window if p["root_id"]}) if p]
    replies = store.find("posts", root_id=list(root_ids), delete_at=0) if root_ids else []
    plist = post_list(window, roots + replies)
    if cacheable and not store.in_transaction:
        store.post_cache.put(channel_id, ("page", limit), plist, generation)
        return _copy(plist)
    return plist


def since(store: Store, channel_id: str, time: int) -> dict[str, Any]:
    """SqlPostStore.GetPostsSince: posts changed after `time` (deleted ones and edit copies too)
    newest first, plus the roots of changed replies (not in `order` unless changed themselves).
    Nothing changed after the channel's latest change: no query (4.9's lastPostTimeCache)."""
    latest = latest_change(store, channel_id)
    if latest is None or latest <= time:
        return post_list([])
    changed = store.find(
        "posts", channel_id=channel_id, compare=(("update_at", ">", time),), order_by="-update_at", limit=1000
    )
    root_ids = {p["root_id"] for p in changed if p["root_id"]} - {p["id"] for p in changed}
    roots = [p for p in (store.get("posts", r) for r in root_ids) if p]
    changed.sort(key=lambda p: p["create_at"], reverse=True)
    return post_list(changed, roots)


def around(
    store: Store, channel_id: str, post_id: str, offset: int, count: int, *, before: bool
) -> dict[str, Any]:
    """SqlPostStore.getPostsAround: live posts created before/after `post_id`, newest first, plus roots.

    An unknown `post_id` gives an empty list (the real query compares with NULL).
    """
    anchor = store.get("posts", post_id)
    if anchor is None:
        return post_list([])
    window = store.find(
        "posts",
        channel_id=channel_id,
        delete_at=0,
        compare=(("create_at", "<" if before else ">", anchor["create_at"]),),
        order_by="-create_at" if before else "create_at",
        limit=count,
        offset=offset,
    )
    if not before:
        window.reverse()
    roots = [p for p in (store.get("posts", r) for r in {p["root_id"] for p in window if p["root_id"]}) if p]
    return post_list(window, roots)


def pinned(store: Store, channel_id: str) -> dict[str, Any]:
    """SqlPostStore.GetPinnedPosts: the channel's live pinned posts, oldest first."""
    return post_list(
        store.find("posts", channel_id=channel_id, is_pinned=True, delete_at=0, order_by="create_at")
    )


def flagged(store: Store, user_id: str, team_id: str, offset: int, limit: int) -> dict[str, Any]:
    """SqlPostStore.GetFlaggedPostsForTeam: flagged live posts of the team's channels and of DMs."""
    names = [p["name"] for p in store.find("preferences", user_id=user_id, category=FLAGGED_CATEGORY)]
    posts = store.find("posts", key=names, delete_at=0, order_by="-create_at") if names else []
    teams: dict[str, str | None] = {}
    kept = []
    for post in posts:
        if post["channel_id"] not in teams:
            channel = store.get("channels", post["channel_id"])
            teams[post["channel_id"]] = channel.get("team_id", "") if channel else None
        if teams[post["channel_id"]] in (team_id, ""):
            kept.append(post)
    return post_list(kept[offset : offset + limit])


def file_infos(store: Store, post_id: str) -> list[dict[str, Any]]:
    """The post's live file infos, oldest first."""
    infos = [i for i in store.find("file_infos", post_id=post_id) if not i.get("delete_at")]
    return sorted(infos, key=lambda i: i.get("create_at", 0))


def file_infos_etag(version: str, infos: list[dict[str, Any]]) -> str:
    """model.GetEtagForFileInfos: `<ver>` alone for none, else `<ver>.<post id>.<latest update_at>`."""
    if not infos:
        return version
    return f"{version}.{infos[0].get('post_id', '')}.{max(i.get('update_at', 0) for i in infos)}"


def attach_files(store: Store, post: dict[str, Any]) -> None:
    """FileInfoStore.AttachToPost for each of the post's file ids not yet attached to a post."""
    for file_id in dict.fromkeys(post.get("file_ids") or []):
        info = store.get("file_infos", file_id)
        if info is not None and not info.get("post_id"):
            info["post_id"] = post["id"]
            store.put("file_infos", file_id, info)


def channel_mentions(ctx: Context, post: dict[str, Any], team_id: str) -> None:
    """FillInPostProps: `props.channel_mentions` for the open channels of the team named as ~name."""
    names = list(dict.fromkeys(_CHANNEL_MENTION.findall(post["message"]))) if "~" in post["message"] else []
    mentioned = {}
    for name in names:
        channel = ctx.store.find_one("channels", team_id=team_id, name=name) if team_id else None
        if channel is not None and channel.get("type") == "O" and not channel.get("delete_at"):
            mentioned[name] = {"display_name": channel.get("display_name", "")}
    if mentioned:
        post["props"]["channel_mentions"] = mentioned
    else:
        post["props"].pop("channel_mentions", None)
