"""reactions: save, delete and list the emoji reactions of a post."""

from __future__ import annotations

from typing import Any

from mmv3.server import events, gojson, posts, reactions
from mmv3.server.context import Context
from mmv3.server.errors import AppError, forbidden, invalid_param
from mmv3.server.routes import route

_POST = "/api/v3/teams/{team_id}/channels/{channel_id}/posts/{post_id}"


def _reaction_body(ctx: Context) -> dict[str, Any]:
    value, ok = ctx.raw_json()
    reaction = reactions.from_body(gojson.fold(value)) if ok else None
    if reaction is None:
        raise invalid_param("reaction")
    return reaction


def _channel_id(ctx: Context) -> str:
    channel_id = ctx.params["channel_id"]
    if len(channel_id) != 26:
        raise invalid_param("channelId")
    return channel_id


def _require(ctx: Context, channel_id: str, permission: str) -> None:
    # An unknown channel grants nothing, not even to a system admin (SessionHasPermissionToChannel).
    if ctx.store.get("channels", channel_id) is None or not ctx.has_channel(channel_id, permission):
        raise forbidden()


def _post_in(ctx: Context, post_id: str, channel_id: str, action: str) -> dict[str, Any]:
    post = posts.get_live(ctx.store, post_id)
    if post is None:
        raise posts.not_found()
    if post["channel_id"] != channel_id:
        raise AppError(f"api.reaction.{action}.mismatched_channel_id.app_error", 400)
    return post


def _changed_by_self(ctx: Context, reaction: dict[str, Any], action: str, permission: str) -> str:
    """The checks save and delete share, in the real order; returns the channel id."""
    if reaction["user_id"] != ctx.user_id:  # checked first: admins may not react for others either
        raise AppError(f"api.reaction.{action}.user_id.app_error", 403)
    channel_id = _channel_id(ctx)
    _require(ctx, channel_id, permission)
    post_id = ctx.params["post_id"]
    if len(post_id) != 26 or post_id != reaction["post_id"]:
        raise invalid_param("postId")
    return channel_id


@route("POST", _POST + "/reactions/save")
def save(ctx: Context) -> dict:
    reaction = _reaction_body(ctx)
    channel_id = _changed_by_self(ctx, reaction, "save_reaction", "add_reaction")
    _post_in(ctx, reaction["post_id"], channel_id, "save_reaction")
    saved = reactions.save(ctx.store, reaction)
    _publish(ctx, "reaction_added", saved)
    return saved


@route("POST", _POST + "/reactions/delete")
def delete(ctx: Context) -> dict:
    reaction = _reaction_body(ctx)
    _changed_by_self(ctx, reaction, "delete_reaction", "remove_reaction")
    if posts.get_live(ctx.store, reaction["post_id"]) is None:  # the post's channel is not compared here
        raise posts.not_found()
    reactions.delete(ctx.store, reaction)
    _publish(ctx, "reaction_removed", reaction)
    return {"status": "OK"}


def _publish(ctx: Context, kind: str, reaction: dict) -> None:
    post = posts.get_live(ctx.store, reaction["post_id"])  # has_reactions and update_at as changed
    if post is not None:
        events.reaction(ctx, kind, reaction, post)


@route("GET", _POST + "/reactions")
def list_for_post(ctx: Context) -> list:
    channel_id = _channel_id(ctx)
    post_id = ctx.params["post_id"]
    if len(post_id) != 26:
        raise invalid_param("postId")
    _require(ctx, channel_id, "read_channel")
    _post_in(ctx, post_id, channel_id, "list_reactions")
    return reactions.for_post(ctx.store, post_id)
