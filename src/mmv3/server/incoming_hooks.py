"""`POST /hooks/{id}`: a post through an incoming webhook, as Mattermost 4.9 answers it.

4.9 registers this route at the site root in api4/webhook.go (and the old
`/api/v3/teams/{team_id}/hooks/{id}` for backwards compatibility), outside the v3 catalogue, so
the reference server routes it here before the catalogue's matcher. Facts (v4.9.0-rc3:
api4/webhook.go `incomingWebhook`, app/webhook.go `HandleIncomingWebhook`/`CreateWebhookPost`/
`SplitWebhookPost`, app/slack.go, model/incoming_webhook.go, model/slack_attachment.go):

- The body: `application/x-www-form-urlencoded` reads the form value `payload` (body, then
  query) as JSON; `multipart/form-data` fills the request's fields from the form by their Go
  names, case-insensitively (`text`, `username`, `iconurl`, `channelname`, `type`), and any
  other field is 400 `api.webhook.incoming.error`; anything else is the body as JSON. The JSON
  decode is strict (a wrong type fails it all, 400 with the id "Unable to parse incoming data")
  and retried once with raw control characters allowed inside strings; null gives the zero
  request; only the first JSON value is read.
- Then, in order: 501 when incoming hooks are off; 400 `web.incoming_webhook.text.app_error`
  without text and attachments; 400 `web.incoming_webhook.invalid.app_error` for an unknown
  or deleted hook; the channel (`channel`: `@user` is the direct channel with the hook's
  creator, `#name` or `name` a channel of the hook's team, else the hook's own channel); 403
  when the creator cannot read a non-open channel; 400 `invalid_param` for a `system_` type.
- The post: by the hook's creator, props `from_webhook` "true", `webhook_display_name`, the
  request's props (minus the override keys), `override_username` (request, hook, else
  "webhook") only with EnablePostUsernameOverride, `override_icon_url` only with
  EnablePostIconOverride and a URL; Slack `<url|text>` links become Markdown and `<!channel>`
  `@channel`; attachments make it a `slack_attachment` post. Success is 200 `text/plain` "ok".
- Errors are the api4 AppError JSON with `detailed_error` blanked (EnableDeveloper off).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mmv3.server import events, gojson, posts
from mmv3.server.errors import AppError, invalid_param

if TYPE_CHECKING:
    from mmv3.server.context import Context

SITE_ROUTE = re.compile(r"^/hooks/([A-Za-z0-9]+)$")
OLD_V3_ROUTE = re.compile(r"^/api/v3/teams/[A-Za-z0-9]+/hooks/([A-Za-z0-9]+)$")
DEFAULT_USERNAME = "webhook"
MAX_PROPS_USER_RUNES = posts.MAX_PROPS_RUNES - 400
PARSE_ERROR = "Unable to parse incoming data"  # 4.9 uses the English text as the error's id

_REQUEST = {"text": gojson.STR, "username": gojson.STR, "icon_url": gojson.STR, "channel": gojson.STR,
            "type": gojson.STR}  # fmt: skip
_FORM_FIELDS = {"text": "text", "username": "username", "iconurl": "icon_url", "channelname": "channel",
                "type": "type"}  # fmt: skip
_ATTACHMENT_STRINGS = ("fallback", "color", "pretext", "author_name", "author_link", "author_icon", "title",
                       "title_link", "text")  # fmt: skip
_ATTACHMENT_TAIL = ("image_url", "thumb_url", "footer", "footer_icon")
_SLACK_LINK = re.compile(r"<([^\n<|>]+)\|([^\n>]+)>")
_USER_ID_MENTION = re.compile(r"<@([a-zA-Z0-9]+)>")
_LAX = json.JSONDecoder(object_pairs_hook=gojson._object, strict=False)


def hook_id_for(method: str, path: str) -> str | None:
    """The hook id when `method path` is one of 4.9's incoming-webhook routes, else None."""
    if method != "POST":
        return None
    match = SITE_ROUTE.match(path) or OLD_V3_ROUTE.match(path)
    return match.group(1) if match else None


class ParseError(AppError):
    def __init__(self) -> None:
        super().__init__(PARSE_ERROR, 400, PARSE_ERROR)


# -- decoding ---------------------------------------------------------------------------------------
def _string(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError()
    return value


def _go_float(value: float) -> str:
    """fmt's %v of a float64: the shortest digits, in %e form when the exponent is < -4 or >= 6."""
    if value == 0:
        return "0"
    number = Decimal(repr(float(value))).normalize()
    sign, digits, _ = number.as_tuple()
    exponent = number.adjusted()
    if -4 <= exponent < 6:
        return format(number, "f")
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def go_value_text(value: Any) -> str:
    """fmt.Sprintf("%v", v) of a decoded JSON value (what a field's value becomes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _go_float(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join("<nil>" if v is None else go_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = " ".join(
            f"{k}:{'<nil>' if v is None else go_value_text(v)}" for k, v in sorted(value.items())
        )
        return f"map[{inner}]"
    return "<nil>"


def _field(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ParseError()
    raw = gojson.fold(raw)
    short = raw.get("short")
    if short is not None and not isinstance(short, bool):
        raise ParseError()
    value = raw.get("value")
    return {
        "title": _string(raw.get("title")),
        "value": None if value is None else go_value_text(value),
        "short": bool(short),
    }


def _attachment(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ParseError()
    raw = gojson.fold(raw)
    ident = raw.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, int)):
        raise ParseError()
    out: dict[str, Any] = {"id": ident or 0}
    for name in _ATTACHMENT_STRINGS:
        out[name] = _string(raw.get(name))
    fields = raw.get("fields")
    if fields is not None and not isinstance(fields, list):
        raise ParseError()
    out["fields"] = [f for f in (_field(item) for item in fields or []) if f is not None] or None
    for name in _ATTACHMENT_TAIL:
        out[name] = _string(raw.get(name))
    out["ts"] = raw.get("ts")
    actions = raw.get("actions")
    if actions is not None:
        if not isinstance(actions, list):
            raise ParseError()
        out["actions"] = actions
    return out


def decode_json(body: bytes | str) -> dict[str, Any]:
    """IncomingWebhookRequestFromJson: the request, or ParseError."""
    value, ok = gojson.parse(body)
    if not ok:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        try:
            value, _ = _LAX.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
        except (ValueError, RecursionError):
            raise ParseError() from None
    request: dict[str, Any] = {name: "" for name in _REQUEST}
    request.update(props=None, attachments=None)
    if value is None:
        return request
    if not isinstance(value, dict):
        raise ParseError()
    value = gojson.fold(value)
    for name in _REQUEST:
        request[name] = _string(value.get(name))
    props = value.get("props")
    if props is not None and not isinstance(props, dict):
        raise ParseError()
    request["props"] = dict(props) if props is not None else None
    attachments = value.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise ParseError()
    kept = [a for a in (_attachment(item) for item in attachments or []) if a is not None]
    request["attachments"] = kept or None  # StringifySlackFieldValue: no attachment left is nil
    return request


def decode_request(ctx: Context) -> dict[str, Any]:
    request = ctx.request
    content_type = request.headers.get("Content-Type", "")
    if content_type.split("; ")[0] == "application/x-www-form-urlencoded":
        payload = request.form.get("payload")
        if payload is None:
            payload = request.args.get("payload", "")
        return decode_json(payload)
    if content_type.startswith("multipart/form-data"):
        from mmv3.server import multipart

        try:
            values = multipart.parse(request).values
        except multipart.MultipartError:
            values = None
        out: dict[str, Any] = {name: "" for name in _REQUEST}
        out.update(props=None, attachments=None)
        for key in values or ():
            name = _FORM_FIELDS.get(key.lower())
            if name is None:
                raise AppError(
                    "api.webhook.incoming.error",
                    400,
                    "Could not decode the multipart payload of incoming webhook.",
                )
            out[name] = values.getlist(key)[-1]
        return out
    return decode_json(request.get_data(cache=True))


# -- posting ----------------------------------------------------------------------------------------
def process_slack_text(ctx: Context, text: str) -> str:
    for slack, ours in (("<!channel>", "@channel"), ("<!here>", "@here"), ("<!all>", "@all")):
        text = text.replace(slack, ours)
    for user_id in set(_USER_ID_MENTION.findall(text)):
        user = ctx.store.get("users", user_id)
        if user is not None:
            text = text.replace(f"<@{user_id}>", "@" + user["username"])
    return text


def _links(text: str) -> str:
    return _SLACK_LINK.sub(r"[\2](\1)", text)


def _channel(ctx: Context, hook: dict[str, Any], name: str, creator: dict[str, Any]) -> dict[str, Any]:
    if name.startswith("@"):
        other = ctx.store.find_one("users", username=name[1:])
        if other is None:
            raise AppError("web.incoming_webhook.user.app_error", 400, "Couldn't find the user")
        from mmv3.server.slash_commands import direct_channel

        return direct_channel(ctx, creator, other)
    if name:
        found = ctx.store.find_one("channels", team_id=hook["team_id"], name=name.removeprefix("#"))
    else:
        found = ctx.store.get("channels", hook["channel_id"])
    if found is None:
        raise AppError("web.incoming_webhook.channel.app_error", 404, "Couldn't find the channel")
    return found


def _props_runes(props: dict[str, Any]) -> int:
    return len(json.dumps(props, separators=(",", ":"), ensure_ascii=False))


def split_post(post: dict[str, Any], max_runes: int = posts.MAX_MESSAGE_RUNES) -> list[dict[str, Any]]:
    """SplitWebhookPost: a long message in several posts, attachments spread so props fit."""
    base_props = {k: v for k, v in post["props"].items() if k != "attachments"}
    if _props_runes(base_props) > MAX_PROPS_USER_RUNES:
        raise AppError(
            "web.incoming_webhook.split_props_length.app_error", 400,
            f"Unable to split webhook props into {MAX_PROPS_USER_RUNES} character parts.",
        )  # fmt: skip
    text = post["message"]
    splits = []
    while len(text) > max_runes:
        splits.append({**post, "message": text[:max_runes], "props": dict(base_props)})
        text = text[max_runes:]
    splits.append({**post, "message": text, "props": dict(base_props)})
    for attachment in post["props"].get("attachments") or []:
        while True:
            last = splits[-1]
            had = list(last["props"].get("attachments") or [])
            props = {**last["props"], "attachments": [*had, attachment]}
            over = _props_runes(props) - MAX_PROPS_USER_RUNES
            if over <= 0:
                last["props"] = props
                break
            if had:
                splits.append({**post, "message": "", "props": dict(base_props)})
                continue
            if len(attachment["text"]) < over:
                raise AppError(
                    "web.incoming_webhook.split_props_length.app_error", 400,
                    f"Unable to split webhook props into {MAX_PROPS_USER_RUNES} character parts.",
                )  # fmt: skip
            cut = {**attachment, "text": attachment["text"][: len(attachment["text"]) - over]}
            last["props"] = {**last["props"], "attachments": [*had, cut]}
            break
    return splits


def create_webhook_post(
    ctx: Context, user_id: str, channel: dict[str, Any], text: str, username: str, icon_url: str,
    props: dict[str, Any], post_type: str,
) -> dict[str, Any]:  # fmt: skip
    """CreateWebhookPost: the post(s) as the hook's creator, without firing outgoing hooks."""
    text = _links(text)
    if post_type.startswith(posts.SYSTEM_PREFIX):
        raise invalid_param("post.type")
    out_props: dict[str, Any] = {"from_webhook": "true"}
    if ctx.config.get("ServiceSettings.EnablePostUsernameOverride"):
        out_props["override_username"] = username or DEFAULT_USERNAME
    if ctx.config.get("ServiceSettings.EnablePostIconOverride") and icon_url:
        out_props["override_icon_url"] = icon_url
    for key, value in props.items():
        if key == "attachments":
            if isinstance(value, _Attachments):
                post_type = "slack_attachment"
                for attachment in value:
                    attachment["text"] = _links(attachment["text"])
                    attachment["pretext"] = _links(attachment["pretext"])
                    for field in attachment["fields"] or []:
                        if isinstance(field["value"], str):
                            field["value"] = _links(field["value"])
                out_props["attachments"] = list(value)
        elif key not in ("override_icon_url", "override_username", "from_webhook"):
            out_props[key] = value
    out_props = dict(sorted(out_props.items()))  # Go writes a map's keys in order
    post = posts.new_post(user_id, channel["id"], text, type=post_type, props=out_props)
    saved = []
    for split in split_post(post):
        split["hashtags"] = posts.parse_hashtags(split["message"])
        try:
            stored = posts.save(ctx.store, split)
        except AppError as err:
            raise AppError(
                "api.post.create_webhook_post.creating.app_error",
                500,
                "Error creating post",
                f"err={err.message}",
            ) from None
        events.posted(ctx, stored)
        saved.append(stored)
    return saved[0]


class _Attachments(list):
    """The request's own attachments (a typed []*SlackAttachment in 4.9), unlike an `attachments`
    key a client puts in props, which CreateWebhookPost drops."""


def handle(ctx: Context, hook_id: str) -> None:
    """HandleIncomingWebhook for the decoded request; AppError on every failure."""
    request = decode_request(ctx)
    if not ctx.config.get("ServiceSettings.EnableIncomingWebhooks", True):
        raise AppError(
            "web.incoming_webhook.disabled.app_error",
            501,
            "Incoming webhooks have been disabled by the system admin.",
        )
    if not request["text"] and request["attachments"] is None:
        raise AppError("web.incoming_webhook.text.app_error", 400, "No text specified")
    hook = ctx.store.get("incoming_webhooks", hook_id)
    if hook is None or hook.get("delete_at"):
        raise AppError("web.incoming_webhook.invalid.app_error", 400, "Invalid webhook")
    props: dict[str, Any] = dict(request["props"] or {})
    props["webhook_display_name"] = hook["display_name"]
    post_type = request["type"]
    attachments = request["attachments"] or []
    for attachment in attachments:
        for name in ("pretext", "text", "title"):
            attachment[name] = process_slack_text(ctx, attachment[name])
        for field in attachment["fields"] or []:
            if field["value"] is not None:
                field["value"] = process_slack_text(ctx, field["value"])
    if attachments:
        props["attachments"] = _Attachments(attachments)
        post_type = "slack_attachment"
    creator = ctx.store.get("users", hook["user_id"]) or {"id": hook["user_id"], "username": ""}
    channel = _channel(ctx, hook, request["channel"], creator)
    ctx.user = creator
    if channel.get("type") != "O" and not ctx.has_channel(channel["id"], "read_channel", channel=channel):
        raise AppError("web.incoming_webhook.permissions.app_error", 403, "Inappropriate channel permissions")
    create_webhook_post(
        ctx, hook["user_id"], channel, process_slack_text(ctx, request["text"]),
        request["username"] or hook.get("username", ""), request["icon_url"] or hook.get("icon_url", ""),
        props, post_type,
    )  # fmt: skip
