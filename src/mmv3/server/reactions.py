"""Reactions as the 4.9 store keeps them, and the post's `has_reactions` flag that follows them.

Used by the reactions handlers and by emoji deletion (which removes the reactions using the
deleted emoji), so the flag bookkeeping lives once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mmv3.server.errors import AppError
from mmv3.server.ids import now_ms

if TYPE_CHECKING:
    from mmv3.server.store import Store

_EMOJI_NAME = re.compile(r"^[a-zA-Z0-9\-+_]+$")
MAX_EMOJI_NAME = 64


def _key(reaction: dict[str, Any]) -> str:
    return f"{reaction['post_id']}:{reaction['user_id']}:{reaction['emoji_name']}"


def from_body(body: Any) -> dict[str, Any] | None:
    """A Reaction body as Go decodes it: None when it is no object or a field has the wrong JSON type."""
    if not isinstance(body, dict):
        return None
    reaction: dict[str, Any] = {"user_id": "", "post_id": "", "emoji_name": "", "create_at": 0}
    for key, value in body.items():
        if key not in reaction or value is None:
            continue
        if key == "create_at":
            typed = isinstance(value, int) and not isinstance(value, bool)
        else:
            typed = isinstance(value, str)
        if not typed:
            return None
        reaction[key] = value
    return reaction


def validate(reaction: dict[str, Any]) -> None:
    """Reaction.IsValid: the 400 `model.reaction.is_valid.*` errors, in the real order."""

    def bad(field: str) -> AppError:
        return AppError(f"model.reaction.is_valid.{field}.app_error", 400)

    if len(reaction["user_id"]) != 26:
        raise bad("user_id")
    if len(reaction["post_id"]) != 26:
        raise bad("post_id")
    name = reaction["emoji_name"]
    if not name or len(name) > MAX_EMOJI_NAME or not _EMOJI_NAME.match(name):
        raise bad("emoji_name")
    if not reaction["create_at"]:
        raise bad("create_at")


def save(store: Store, reaction: dict[str, Any]) -> dict[str, Any]:
    """ReactionStore.Save: a repeated reaction is no error (and stays as first saved)."""
    reaction = dict(reaction, create_at=reaction.get("create_at") or now_ms())
    validate(reaction)
    with store.transaction():
        if store.get("reactions", _key(reaction)) is None:
            store.put("reactions", _key(reaction), reaction)
        _update_post(store, reaction["post_id"])
    return reaction


def delete(store: Store, reaction: dict[str, Any]) -> None:
    """ReactionStore.Delete: removing a reaction that does not exist is no error."""
    with store.transaction():
        store.delete("reactions", _key(reaction))
        _update_post(store, reaction["post_id"])


def for_post(store: Store, post_id: str) -> list[dict[str, Any]]:
    return sorted(store.find("reactions", post_id=post_id), key=lambda r: r.get("create_at", 0))


def delete_all_with_emoji(store: Store, emoji_name: str) -> None:
    """ReactionStore.DeleteAllWithEmojiName: what deleting a custom emoji does to the posts using it."""
    with store.transaction():
        doomed = [r for r in store.all("reactions") if r.get("emoji_name") == emoji_name]
        for reaction in doomed:
            store.delete("reactions", _key(reaction))
        for post_id in {r["post_id"] for r in doomed}:
            _update_post(store, post_id)


def _update_post(store: Store, post_id: str) -> None:
    # has_reactions follows whether any reaction is left; update_at moves only when the flag flips.
    post = store.get("posts", post_id)
    if post is None:
        return
    has = store.count("reactions", post_id=post_id) > 0
    if has == bool(post.get("has_reactions")):
        return
    post["update_at"] = now_ms()
    if has:
        post["has_reactions"] = True
    else:
        post.pop("has_reactions", None)
    store.put("posts", post_id, post)
