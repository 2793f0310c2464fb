"""How to call each v3 route: successfully, with bad input, and as someone who must be refused.

One entry per catalogue operation, keyed `"METHOD /template"`. Entries are data: path
parameters, query and bodies are templates whose `{ref}` placeholders name objects of the
run's `World` (`{team.id}`, `{member.username}`, `{fresh.id}` ...). `setup` names a factory in
`SETUPS` that makes throwaway objects first (their fields are `fresh.*`) -- destructive routes
(logout, delete, deactivate, ...) only ever touch those. A path parameter not named in an entry
gets its default from `PARAMS`.

`Success.role` is who calls: `anon`, `user`, `owner` (team admin), `admin` (system admin) or
`fresh` (the account a setup made). `Bad` is the refused-input request (`kind` says what is
wrong); `Refused` is the permission probe (a plain team member, `member`, by default).
`None` for `bad`/`refused` means "does not apply" and the reason says why.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmv3.provision import NO_BODY, Call, ProvisioningError, World

UNKNOWN = "z" * 26
MALFORMED = '{"mmv3": malformed'  # cut-off JSON: every v3 JSON decoder rejects it

# Defaults for path parameters by name.
PARAMS: dict[str, str] = {
    "team_id": "{team.id}",
    "channel_id": "{open_channel.id}",
    "post_id": "{root_post.id}",
    "user_id": "{user.id}",
    "offset": "0",
    "limit": "50",
    "num_posts": "10",
    "time": "{started}",
    "team_name": "{team.name}",
    "channel_name": "{open_channel.name}",
    "username": "{member.username}",
    "email": "{member.email}",
    "category": "display_settings",
    "name": "use_military_time",
    "file_id": "{fresh.id}",
    "id": UNKNOWN,
    "client_id": UNKNOWN,
    "service": "gitlab",
    "filename": "mmv3.png",
}


@dataclass(frozen=True)
class Request:
    """A request in terms of the world; shared by the three kinds of call."""

    role: str = "user"
    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = NO_BODY  # JSON template
    raw: str | None = None  # raw body text (malformed JSON, plain text)
    form: Mapping[str, str] | None = None  # form fields (urlencoded, or multipart with files)
    files: Mapping[str, str] | None = None  # multipart files: field -> name in FILES
    headers: Mapping[str, str] = field(default_factory=dict)
    setup: str | None = None  # a SETUPS factory; its result is `fresh`


@dataclass(frozen=True)
class Success(Request):
    """The call that should succeed. `statuses` other than 200 are the documented answers of
    routes whose success needs something a test server lacks (e.g. a 302 of a web handler)."""

    statuses: tuple[int, ...] = (200,)
    note: str = ""


@dataclass(frozen=True)
class Bad(Request):
    """A request with bad input: the server must refuse it with a 4xx AppError."""

    kind: str = "malformed JSON"  # or "unknown id", "missing field", "invalid value"
    role: str = ""  # empty: the success role
    statuses: tuple[int, ...] = ()  # empty: any 4xx; else the documented refusals (see `note`)
    note: str = ""


@dataclass(frozen=True)
class Refused(Request):
    """A caller without the right: must be refused (403 unless `statuses` says otherwise)."""

    role: str = "member"
    statuses: tuple[int, ...] = (403,)
    why: str = ""


@dataclass(frozen=True)
class Recipe:
    success: Success
    bad: Bad | None = None
    refused: Refused | None = None
    no_bad: str = ""  # why there is no bad-input request, when `bad` is None
    destructive: bool = False  # the success call removes or changes objects: probes use unknown ids


def S(role: str = "user", **kw: Any) -> Success:
    return Success(role=role, **kw)


def B(kind: str = "malformed JSON", **kw: Any) -> Bad:
    if kind == "malformed JSON" and "raw" not in kw:
        kw["raw"] = MALFORMED
    return Bad(kind=kind, **kw)


def R(role: str = "member", **kw: Any) -> Refused:
    return Refused(role=role, **kw)


MALFORMED_BAD = B()


def unknown(param: str, **kw: Any) -> Bad:
    return B("unknown id", params={param: UNKNOWN, **kw.pop("params", {})}, **kw)


def missing(body: Any, **kw: Any) -> Bad:
    return B("missing field", body=body, **kw)


PRIVATE = {"channel_id": "{private_channel.id}"}
PRIVATE_POST = {"channel_id": "{private_channel.id}", "post_id": "{private_post.id}"}
# Real 4.9 hides a channel from non-members behind 404 (member record missing) rather than 403.
HIDDEN = (403, 404)

_U = "/api/v3/users"
_T = "/api/v3/teams/{team_id}"
_C = "/api/v3/teams/{team_id}/channels"
_CH = "/api/v3/teams/{team_id}/channels/{channel_id}"
_P = "/api/v3/teams/{team_id}/channels/{channel_id}/posts/{post_id}"
_A = "/api/v3/admin"

RECIPES: dict[str, Recipe] = {
    # ------------------------------------------------------------------------ users
    f"POST {_U}/create": Recipe(
        S("anon", setup="identity", query={"iid": "{team.invite_id}"},
          body={"username": "{fresh.username}", "email": "{fresh.email}", "password": "{fresh.password}"}),
        bad=MALFORMED_BAD,
    ),
    f"POST {_U}/update": Recipe(
        S("user", setup="me_edited", body="{fresh.body}"),
        bad=MALFORMED_BAD,
        refused=R(setup="me_edited", body="{fresh.body}", why="edit another user's profile"),
    ),
    f"POST {_U}/update_active": Recipe(
        S("admin", setup="account", body={"user_id": "{fresh.id}", "active": "false"}),
        bad=missing({"active": "false"}),
        refused=R(setup="account", body={"user_id": "{fresh.id}", "active": "false"}, why="deactivate another user"),
        destructive=True,
    ),
    f"POST {_U}/update_notify": Recipe(
        S(body={"user_id": "{user.id}", "email": "true", "desktop": "mention", "desktop_sound": "true",
                "comments": "never"}),
        bad=missing({"user_id": "{user.id}", "email": "true"}),
        refused=R(body={"user_id": "{user.id}", "email": "true", "desktop": "mention", "desktop_sound": "true",
                        "comments": "never"}, why="change another user's notifications"),
    ),
    f"POST {_U}/newpassword": Recipe(
        S("fresh", setup="account",
          body={"user_id": "{fresh.id}", "current_password": "{fresh.password}", "new_password": "{fresh.password}N"}),
        bad=missing({"user_id": "{fresh.id}", "new_password": "{fresh.password}N"}, role="fresh", setup="account"),
        refused=R(setup="account", body={"user_id": "{fresh.id}", "current_password": "{fresh.password}",
                                          "new_password": "{fresh.password}N"}, why="change another user's password"),
        destructive=True,
    ),
    f"POST {_U}/send_password_reset": Recipe(
        S("anon", body={"email": "{member.email}"}),
        bad=missing({}),
    ),
    f"POST {_U}/reset_password": Recipe(
        S("anon", body={"code": "a" * 64, "new_password": "mmv3-not-used"}, statuses=(200, 400),
          note="reset codes travel by e-mail only: a made-up code is refused"),
        bad=missing({"new_password": "mmv3-not-used"}),
    ),
    f"POST {_U}/login": Recipe(
        S("anon", body={"login_id": "{user.username}", "password": "{user.password}"},
          headers={"X-Requested-With": "XMLHttpRequest"}),
        bad=MALFORMED_BAD,
    ),
    f"POST {_U}/logout": Recipe(S("fresh", setup="session"), no_bad="takes no input", destructive=True),
    f"POST {_U}/revoke_session": Recipe(
        S("user", setup="session", body={"id": "{fresh.id}"}),
        bad=B("unknown id", body={"id": UNKNOWN}),
        refused=R(setup="session", body={"id": "{fresh.id}"}, why="revoke another user's session"),
        destructive=True,
    ),
    f"POST {_U}/attach_device": Recipe(
        S("fresh", setup="session", body={"device_id": "android:{prefix}device"}),
        bad=missing({}, role="fresh", setup="session"),
    ),
    f"POST {_U}/newimage": Recipe(
        S(files={"image": "png"}),
        bad=B("missing field", form={"note": "no image part"}, files={"other": "png"}),
    ),
    f"GET {_U}/me": Recipe(S(), no_bad="takes no input"),
    f"GET {_U}/initial_load": Recipe(S(), no_bad="takes no input"),
    f"GET {_U}/{{offset}}/{{limit}}": Recipe(
        S(), bad=B("invalid value", params={"offset": "99999999999999999999"})
    ),
    f"GET {_T}/users/{{offset}}/{{limit}}": Recipe(S(), bad=unknown("team_id")),
    f"GET {_CH}/users/{{offset}}/{{limit}}": Recipe(
        S(), bad=unknown("channel_id"), refused=R(params=PRIVATE, why="list a private channel's members")
    ),
    f"GET {_CH}/users/not_in_channel/{{offset}}/{{limit}}": Recipe(
        S(), bad=unknown("channel_id"), refused=R(params=PRIVATE, why="list a private channel's non-members")
    ),
    f"POST {_U}/search": Recipe(
        S(body={"term": "{prefix}", "team_id": "{team.id}"}), bad=missing({"team_id": "{team.id}"})
    ),
    f"POST {_U}/ids": Recipe(S(body=["{user.id}", "{member.id}"]), bad=B("missing field", body=[])),
    f"GET {_U}/autocomplete": Recipe(S(query={"term": "{prefix}"}), no_bad="any term is valid"),
    f"GET {_T}/users/autocomplete": Recipe(S(query={"term": "{prefix}"}), bad=unknown("team_id", query={"term": "x"})),
    f"GET {_CH}/users/autocomplete": Recipe(
        S(query={"term": "{prefix}"}),
        bad=unknown("channel_id", query={"term": "x"}),
        refused=R(params=PRIVATE, query={"term": "x"}, why="search a private channel's members"),
    ),
    f"POST {_U}/mfa": Recipe(
        S("anon", body={"login_id": "{user.username}"}),
        no_bad="4.9 answers any input with mfa_required (false for unknown logins)",
    ),
    f"GET {_U}/generate_mfa_secret": Recipe(S(), no_bad="takes no input"),
    f"POST {_U}/update_mfa": Recipe(
        S(body={"activate": False}), bad=B("invalid value", body={"activate": "yes"})
    ),
    f"POST {_U}/claim/email_to_oauth": Recipe(
        S("anon", setup="account", body={"password": "{fresh.password}", "email": "{fresh.email}", "service": "gitlab"}),
        bad=missing({"password": "{fresh.password}", "email": "{fresh.email}"}, setup="account"),
        destructive=True,
    ),
    f"POST {_U}/claim/oauth_to_email": Recipe(
        S("fresh", setup="account", body={"password": "{fresh.password}", "email": "{fresh.email}"}),
        bad=missing({"password": "{fresh.password}"}, role="fresh", setup="account"),
        destructive=True,
    ),
    f"POST {_U}/claim/email_to_ldap": Recipe(
        S("anon", setup="account", body={"email": "{fresh.email}", "email_password": "{fresh.password}",
                                           "ldap_id": "{prefix}ldap", "ldap_password": "mmv3-ldap"}),
        bad=missing({"email": "{fresh.email}"}, setup="account"),
        destructive=True,
    ),
    f"POST {_U}/claim/ldap_to_email": Recipe(
        S("anon", setup="account", body={"email": "{fresh.email}", "email_password": "{fresh.password}",
                                           "ldap_password": "mmv3-ldap"}, statuses=(200, 400),
          note="only LDAP accounts can be claimed; a test server has none"),
        bad=missing({"email": "{fresh.email}"}, setup="account"),
        destructive=True,
    ),
    f"GET {_U}/{{user_id}}/get": Recipe(S(params={"user_id": "{member.id}"}), bad=unknown("user_id")),
    f"GET {_U}/name/{{username}}": Recipe(S(), bad=B("unknown id", params={"username": "{prefix}nosuchuser"})),
    f"GET {_U}/email/{{email}}": Recipe(S(), bad=B("unknown id", params={"email": "{prefix}nosuch@example.com"})),
    f"GET {_U}/{{user_id}}/sessions": Recipe(
        S(), bad=unknown("user_id"), refused=R(why="read another user's sessions")
    ),
    f"GET {_U}/{{user_id}}/audits": Recipe(
        S(), bad=unknown("user_id"), refused=R(why="read another user's audits")
    ),
    f"GET {_U}/{{user_id}}/image": Recipe(
        # An uploaded picture: the generated default carries no Etag (and is cached briefly).
        S(setup="pictured_member", params={"user_id": "{member.id}"}),
        bad=unknown("user_id", statuses=(400, 404, 500), note="4.9 answers an unknown user with the store's 500"),
    ),
    f"POST {_U}/{{user_id}}/update_roles": Recipe(
        S("admin", setup="account", params={"user_id": "{fresh.id}"}, body={"new_roles": "system_user"}),
        bad=B("invalid value", setup="account", params={"user_id": "{fresh.id}"}, body={"new_roles": "mmv3_bogus_role"}),
        refused=R(params={"user_id": "{member.id}"}, body={"new_roles": "system_user system_admin"},
                  why="make oneself system admin"),
        destructive=True,
    ),
    f"GET {_U}/status": Recipe(S(), no_bad="takes no input"),
    f"POST {_U}/status/ids": Recipe(S(body=["{user.id}", "{member.id}"]), bad=B("missing field", body=[])),
    f"GET {_U}/websocket": Recipe(
        S("user", statuses=(101,), note="a WebSocket upgrade (answered 101 Switching Protocols)"),
        no_bad="a WebSocket upgrade",
    ),
    "GET /login/sso/saml": Recipe(
        S("anon", query={"action": "login", "redirect_to": "/"}, statuses=(302,),
          note="a web handler: redirects to the IdP, or to /error when SAML is not configured"),
        no_bad="a web handler answering with redirects",
    ),
    "POST /login/sso/saml": Recipe(
        S("anon", form={"SAMLResponse": "PHNhbWxwOlJlc3BvbnNlLz4=", "RelayState": ""}, statuses=(302,),
          note="a web handler: redirects to /error when SAML is not configured"),
        no_bad="a web handler answering with redirects",
    ),
    # ------------------------------------------------------------------------ teams
    "POST /api/v3/teams/create": Recipe(
        S(setup="names", body={"name": "{fresh.team}", "display_name": "{prefix} made", "type": "O"}),
        bad=MALFORMED_BAD,
    ),
    "GET /api/v3/teams/all": Recipe(S(), no_bad="takes no input"),
    "GET /api/v3/teams/all_team_listings": Recipe(S(), no_bad="takes no input"),
    "POST /api/v3/teams/get_invite_info": Recipe(
        S("anon", body={"invite_id": "{team.invite_id}"}), bad=B("unknown id", body={"invite_id": UNKNOWN})
    ),
    "POST /api/v3/teams/find_team_by_name": Recipe(
        S(body={"name": "{team.name}"}), no_bad="answers false for any name it does not find"
    ),
    "GET /api/v3/teams/name/{team_name}": Recipe(
        S(),
        bad=B("unknown id", params={"team_name": "{prefix}-nosuchteam"}),
        refused=R(params={"team_name": "{closed_team.name}"}, why="read an invite-only team one is not in"),
    ),
    "GET /api/v3/teams/members": Recipe(S(), no_bad="takes no input"),
    "GET /api/v3/teams/unread": Recipe(S(), no_bad="takes no input"),
    "POST /api/v3/teams/add_user_to_team_from_invite": Recipe(
        S("fresh", setup="outside_account", body={"invite_id": "{team.invite_id}"}),
        bad=B("unknown id", role="fresh", setup="outside_account", body={"invite_id": UNKNOWN}),
    ),
    f"GET {_T}/me": Recipe(S(), bad=unknown("team_id")),
    f"GET {_T}/stats": Recipe(S(), bad=unknown("team_id")),
    f"GET {_T}/members/{{offset}}/{{limit}}": Recipe(S(), bad=unknown("team_id")),
    f"POST {_T}/members/ids": Recipe(S(body=["{user.id}", "{member.id}"]), bad=B("missing field", body=[])),
    f"GET {_T}/members/{{user_id}}": Recipe(S(params={"user_id": "{member.id}"}), bad=unknown("user_id")),
    f"POST {_T}/update": Recipe(
        S("owner", setup="team_edited", body="{fresh.body}"),
        bad=MALFORMED_BAD,
        refused=R(setup="team_edited", body="{fresh.body}", why="change the team without manage_team"),
    ),
    f"POST {_T}/update_member_roles": Recipe(
        S("owner", setup="account", body={"user_id": "{fresh.id}", "new_roles": "team_user"}),
        bad=missing({"new_roles": "team_user"}),
        refused=R(body={"user_id": "{member.id}", "new_roles": "team_user team_admin"}, why="make oneself team admin"),
    ),
    f"POST {_T}/invite_members": Recipe(
        S(body={"invites": [{"email": "{prefix}invitee@example.com"}]}), bad=MALFORMED_BAD
    ),
    f"POST {_T}/add_user_to_team": Recipe(
        S(setup="outside_account", body={"user_id": "{fresh.id}"}), bad=missing({})
    ),
    f"POST {_T}/remove_user_from_team": Recipe(
        S("owner", setup="account", body={"user_id": "{fresh.id}"}),
        bad=missing({}),
        refused=R(body={"user_id": "{user.id}"}, why="remove another member from the team"),
        destructive=True,
    ),
    f"POST {_T}/import_team": Recipe(
        S("owner", form={"importFrom": "slack", "filesize": "{fresh.size}"}, files={"file": "slack_zip"},
          setup="slack_export"),
        bad=B("missing field", form={"filesize": "{fresh.size}"}, files={"file": "slack_zip"}, setup="slack_export"),
        refused=R(form={"importFrom": "slack", "filesize": "{fresh.size}"}, files={"file": "slack_zip"},
                  setup="slack_export", why="import without import_team"),
    ),
    "GET /api/v3/teams/command_test": Recipe(S("anon", raw="mmv3 GET body"), no_bad="a test helper echoing its input"),
    "POST /api/v3/teams/command_test": Recipe(
        S("anon", form={"token": "mmv3", "team_domain": "{team.name}", "text": "hello"}),
        no_bad="a test helper echoing its input",
    ),
    "GET /api/v3/teams/command_test_e": Recipe(S("anon", raw="mmv3 GET body"), no_bad="a test helper echoing its input"),
    "POST /api/v3/teams/command_test_e": Recipe(
        S("anon", form={"token": "mmv3", "team_domain": "{team.name}", "text": "hello"}),
        no_bad="a test helper echoing its input",
    ),
    # ------------------------------------------------------------------------ channels
    f"GET {_C}/": Recipe(S(), bad=unknown("team_id")),
    f"GET {_C}/more/{{offset}}/{{limit}}": Recipe(S(), bad=B("invalid value", params={"offset": "99999999999999999999"})),
    f"POST {_C}/more/search": Recipe(S(body={"term": "{prefix}"}), bad=missing({})),
    f"GET {_C}/counts": Recipe(S(), bad=unknown("team_id")),
    f"GET {_C}/members": Recipe(S(), bad=unknown("team_id")),
    f"POST {_C}/create": Recipe(
        S(setup="names", body={"team_id": "{team.id}", "name": "{fresh.channel}", "display_name": "{prefix} made",
                               "type": "O"}),
        bad=MALFORMED_BAD,
    ),
    f"POST {_C}/view": Recipe(
        S(body={"channel_id": "{open_channel.id}", "prev_channel_id": ""}), bad=MALFORMED_BAD
    ),
    f"POST {_C}/create_direct": Recipe(S(body={"user_id": "{member.id}"}), bad=missing({})),
    f"POST {_C}/create_group": Recipe(S(body=["{member.id}", "{outsider.id}"]), bad=B("missing field", body=[])),
    f"POST {_C}/update": Recipe(
        S("owner", setup="channel_edited", body="{fresh.body}"),
        bad=MALFORMED_BAD,
        refused=R(setup="private_channel_edited", body="{fresh.body}", statuses=HIDDEN,
                  why="change a private channel one is not in"),
    ),
    f"POST {_C}/update_header": Recipe(
        S(body={"channel_id": "{open_channel.id}", "channel_header": "{prefix} header"}),
        bad=missing({"channel_header": "x"}),
        refused=R(body={"channel_id": "{private_channel.id}", "channel_header": "x"}, statuses=HIDDEN,
                  why="change a private channel one is not in"),
    ),
    f"POST {_C}/update_purpose": Recipe(
        S(body={"channel_id": "{open_channel.id}", "channel_purpose": "{prefix} purpose"}),
        bad=missing({"channel_purpose": "x"}),
        refused=R(body={"channel_id": "{private_channel.id}", "channel_purpose": "x"}, statuses=HIDDEN,
                  why="change a private channel one is not in"),
    ),
    f"POST {_C}/update_notify_props": Recipe(
        S(body={"channel_id": "{open_channel.id}", "user_id": "{user.id}", "desktop": "all", "mark_unread": "all"}),
        bad=missing({"channel_id": "{open_channel.id}", "desktop": "all"}),
        refused=R(body={"channel_id": "{open_channel.id}", "user_id": "{user.id}", "desktop": "all"},
                  why="change another user's channel notifications"),
    ),
    f"GET {_C}/autocomplete": Recipe(S(query={"term": "{prefix}"}), bad=unknown("team_id", query={"term": "x"})),
    f"GET {_C}/name/{{channel_name}}": Recipe(
        S(),
        bad=B("unknown id", params={"channel_name": "{prefix}-nosuchchannel"}),
        refused=R(params={"channel_name": "{private_channel.name}"}, statuses=HIDDEN,
                  why="read a private channel one is not in"),
    ),
    f"POST {_C}/name/{{channel_name}}/join": Recipe(
        S(setup="channel", params={"channel_name": "{fresh.name}"}),
        bad=B("unknown id", params={"channel_name": "{prefix}-nosuchchannel"}),
        refused=R(params={"channel_name": "{private_channel.name}"}, statuses=(400, 403),
                  why="join a private channel uninvited"),
    ),
    f"GET {_CH}/": Recipe(
        S(), bad=unknown("channel_id"),
        refused=R(params=PRIVATE, statuses=HIDDEN, why="read a private channel one is not in"),
    ),
    f"GET {_CH}/stats": Recipe(
        S(), bad=unknown("channel_id"), refused=R(params=PRIVATE, why="read a private channel one is not in")
    ),
    f"GET {_CH}/members/{{user_id}}": Recipe(
        S(params={"user_id": "{user.id}"}),
        bad=unknown("user_id"),
        refused=R(params={**PRIVATE, "user_id": "{owner.id}"}, why="read a private channel's member"),
    ),
    f"POST {_CH}/members/ids": Recipe(
        S(body=["{user.id}", "{member.id}"]),
        bad=B("missing field", body=[]),
        refused=R(params=PRIVATE, body=["{owner.id}"], why="read a private channel's members"),
    ),
    f"GET {_CH}/pinned": Recipe(
        # 4.9 looks no channel up here (an unknown one is an empty list): bad input is an unknown team.
        S(), bad=unknown("team_id"), refused=R(params=PRIVATE, why="read a private channel's pinned posts")
    ),
    f"POST {_CH}/join": Recipe(
        S(setup="channel", params={"channel_id": "{fresh.id}"}),
        bad=unknown("channel_id"),
        refused=R(params=PRIVATE, statuses=(400, 403), why="join a private channel uninvited"),
    ),
    f"POST {_CH}/leave": Recipe(
        S(setup="joined_channel", params={"channel_id": "{fresh.id}"}),
        bad=unknown("channel_id"),
        destructive=True,
    ),
    f"POST {_CH}/delete": Recipe(
        S("owner", setup="channel", params={"channel_id": "{fresh.id}"}),
        bad=unknown("channel_id"),
        refused=R(setup="private_channel", params={"channel_id": "{fresh.id}"},
                  why="delete a private channel one is not in"),
        destructive=True,
    ),
    f"POST {_CH}/add": Recipe(
        S(setup="account", body={"user_id": "{fresh.id}"}),
        bad=missing({}),
        refused=R(params=PRIVATE, body={"user_id": "{user.id}"}, why="add to a private channel one is not in"),
    ),
    f"POST {_CH}/remove": Recipe(
        S(setup="channel_account", body={"user_id": "{fresh.id}"}),
        bad=missing({}),
        refused=R(params=PRIVATE, body={"user_id": "{owner.id}"}, why="remove from a private channel one is not in"),
        destructive=True,
    ),
    f"POST {_CH}/update_member_roles": Recipe(
        S("owner", setup="channel_account", body={"user_id": "{fresh.id}", "new_roles": "channel_user"}),
        bad=missing({"new_roles": "channel_user"}),
        refused=R(params=PRIVATE, body={"user_id": "{owner.id}", "new_roles": "channel_user"},
                  why="change roles in a private channel one is not in"),
    ),
    # ------------------------------------------------------------------------ slash commands
    f"POST {_T}/commands/execute": Recipe(
        S(body={"command": "/echo {prefix}", "channel_id": "{open_channel.id}"}),
        bad=missing({"channel_id": "{open_channel.id}"}),
        refused=R(body={"command": "/echo x", "channel_id": "{private_channel.id}"},
                  why="run a command in a private channel one is not in"),
    ),
    f"GET {_T}/commands/list": Recipe(S(), bad=unknown("team_id")),
    f"POST {_T}/commands/create": Recipe(
        S("owner", setup="names", body={"team_id": "{team.id}", "trigger": "{fresh.trigger}", "method": "P",
                                         "url": "http://127.0.0.1:9/{prefix}", "display_name": "{prefix} command"}),
        bad=MALFORMED_BAD,
        refused=R(setup="names", body={"team_id": "{team.id}", "trigger": "{fresh.trigger}", "method": "P",
                                        "url": "http://127.0.0.1:9/x"}, why="create a command without manage_slash_commands"),
    ),
    f"POST {_T}/commands/update": Recipe(
        S("owner", setup="command_edited", body="{fresh.body}"),
        bad=MALFORMED_BAD,
        refused=R(setup="command_edited", body="{fresh.body}", why="change another's command"),
    ),
    f"GET {_T}/commands/list_team_commands": Recipe(
        S("owner"), bad=unknown("team_id"), refused=R(why="list commands without manage_slash_commands")
    ),
    f"POST {_T}/commands/regen_token": Recipe(
        S("owner", setup="command", body={"id": "{fresh.id}"}),
        bad=B("unknown id", body={"id": UNKNOWN}),
        refused=R(setup="command", body={"id": "{fresh.id}"}, why="regenerate another's command token"),
    ),
    f"POST {_T}/commands/delete": Recipe(
        S("owner", setup="command", body={"id": "{fresh.id}"}),
        bad=missing({}),
        refused=R(setup="command", body={"id": "{fresh.id}"}, why="delete another's command"),
        destructive=True,
    ),
    # ------------------------------------------------------------------------ emoji
    "GET /api/v3/emoji/list": Recipe(S(), no_bad="takes no input"),
    "POST /api/v3/emoji/create": Recipe(
        S(setup="names", form={"emoji": '{{"creator_id": "{user.id}", "name": "{fresh.emoji}"}}'},
          files={"image": "png"}),
        bad=B("missing field", setup="names", form={"emoji": '{{"creator_id": "{user.id}", "name": "{fresh.emoji}"}}'}),
        refused=R(setup="names", form={"emoji": '{{"creator_id": "{user.id}", "name": "{fresh.emoji}"}}'},
                  files={"image": "png"}, statuses=(401, 403), why="create an emoji in another user's name"),
    ),
    "POST /api/v3/emoji/delete": Recipe(
        S(setup="emoji", body={"id": "{fresh.id}"}),
        bad=B("unknown id", body={"id": UNKNOWN}),
        refused=R(setup="emoji", body={"id": "{fresh.id}"}, statuses=(401, 403), why="delete another user's emoji"),
        destructive=True,
    ),
    "GET /api/v3/emoji/{id}": Recipe(S(setup="emoji", params={"id": "{fresh.id}"}), bad=unknown("id")),
    # ------------------------------------------------------------------------ files
    f"POST {_T}/files/upload": Recipe(
        S(form={"channel_id": "{open_channel.id}", "client_ids": "{prefix}c1"}, files={"files": "png"}),
        bad=B("missing field", form={"client_ids": "x"}, files={"files": "png"}),
        refused=R(form={"channel_id": "{private_channel.id}"}, files={"files": "png"},
                  why="upload into a private channel one is not in"),
    ),
    "GET /api/v3/files/{file_id}/get": Recipe(
        S(setup="file"), bad=unknown("file_id"),
        refused=R(setup="private_file", why="read a file of a private channel one is not in"),
    ),
    "GET /api/v3/files/{file_id}/get_thumbnail": Recipe(
        S(setup="file"), bad=unknown("file_id"),
        refused=R(setup="private_file", why="read a file of a private channel one is not in"),
    ),
    "GET /api/v3/files/{file_id}/get_preview": Recipe(
        S(setup="file"), bad=unknown("file_id"),
        refused=R(setup="private_file", why="read a file of a private channel one is not in"),
    ),
    "GET /api/v3/files/{file_id}/get_info": Recipe(
        S(setup="file"), bad=unknown("file_id"),
        refused=R(setup="private_file", why="read a file of a private channel one is not in"),
    ),
    "GET /api/v3/files/{file_id}/get_public_link": Recipe(S(setup="file"), bad=unknown("file_id")),
    "GET /api/v3/public/files/{file_id}/get": Recipe(
        S("anon", setup="file", query={"h": "{fresh.hash}"}), bad=B("invalid value", setup="file", query={"h": "mmv3wrong"})
    ),
    "GET /api/v3/public/files/get/{team_id}/{channel_id}/{user_id}/{filename}": Recipe(
        S("anon", setup="file", params={"filename": "{fresh.name}"}, query={"h": "{fresh.hash}"}),
        bad=B("invalid value", setup="file", params={"filename": "{fresh.name}"}, query={"h": "mmv3wrong"}),
    ),
    # ------------------------------------------------------------------------ general, license
    "GET /api/v3/general/client_props": Recipe(S("anon"), no_bad="takes no input"),
    "POST /api/v3/general/log_client": Recipe(
        S(body={"level": "ERROR", "message": "{prefix} conformance run"}),
        no_bad="4.9 accepts any body (a malformed one logs nothing)",
    ),
    "GET /api/v3/general/ping": Recipe(S("anon"), no_bad="takes no input"),
    "POST /api/v3/license/add": Recipe(
        S("admin", files={"license": "license"}, statuses=(200, 400),
          note="needs a license signed by Mattermost: a made-up one is refused"),
        bad=B("missing field", form={"note": "no license part"}, files={"other": "license"}, role="admin"),
    ),
    "POST /api/v3/license/remove": Recipe(S("admin"), no_bad="takes no input"),
    "GET /api/v3/license/client_config": Recipe(S("anon"), no_bad="takes no input"),
    # ------------------------------------------------------------------------ oauth
    "POST /api/v3/oauth/register": Recipe(
        S("admin", body={"name": "{prefix} app", "description": "mmv3", "homepage": "http://127.0.0.1:9/",
                         "callback_urls": ["http://127.0.0.1:9/callback"]}),
        bad=MALFORMED_BAD,
        refused=R(body={"name": "x", "description": "x", "homepage": "http://127.0.0.1:9/",
                        "callback_urls": ["http://127.0.0.1:9/c"]}, why="register an app without manage_oauth"),
    ),
    "GET /api/v3/oauth/list": Recipe(S("admin"), no_bad="takes no input", refused=R(why="list apps without manage_oauth")),
    "GET /api/v3/oauth/app/{client_id}": Recipe(S(setup="oauth_app", params={"client_id": "{fresh.id}"}), bad=unknown("client_id")),
    "GET /api/v3/oauth/allow": Recipe(
        S(setup="oauth_app", query={"response_type": "code", "client_id": "{fresh.id}",
                                    "redirect_uri": "http://127.0.0.1:9/callback", "state": "mmv3", "scope": ""}),
        bad=B("unknown id", query={"response_type": "code", "client_id": UNKNOWN,
                                   "redirect_uri": "http://127.0.0.1:9/callback", "state": "x"}),
    ),
    "GET /api/v3/oauth/authorized": Recipe(S(), no_bad="takes no input"),
    "POST /api/v3/oauth/delete": Recipe(
        S("admin", setup="oauth_app", body={"id": "{fresh.id}"}),
        bad=missing({}),
        refused=R(setup="oauth_app", body={"id": "{fresh.id}"}, why="delete an app without manage_oauth"),
        destructive=True,
    ),
    "POST /api/v3/oauth/{id}/deauthorize": Recipe(
        S(setup="oauth_app", params={"id": "{fresh.id}"}), no_bad="4.9 answers OK for any id"
    ),
    "POST /api/v3/oauth/{id}/regen_secret": Recipe(
        S("admin", setup="oauth_app", params={"id": "{fresh.id}"}),
        bad=unknown("id"),
        refused=R(setup="oauth_app", params={"id": "{fresh.id}"}, why="regenerate another's app secret"),
    ),
    "GET /api/v3/oauth/{service}/login": Recipe(
        S("anon", query={"redirect_to": "/"}, statuses=(302, 501),
          note="a web handler: redirects to the provider, 501 (HTML) when it is not configured"),
        no_bad="a web handler answering with redirects",
    ),
    "GET /api/v3/oauth/{service}/signup": Recipe(
        S("anon", query={"redirect_to": "/"}, statuses=(302, 501),
          note="a web handler: redirects to the provider, 501 (HTML) when it is not configured"),
        no_bad="a web handler answering with redirects",
    ),
    # ------------------------------------------------------------------------ posts
    "POST /api/v3/get_opengraph_metadata": Recipe(S(body={"url": "http://127.0.0.1:9/"}), bad=MALFORMED_BAD),
    f"POST {_T}/posts/search": Recipe(
        S(body={"terms": "{search_word.value}", "is_or_search": False}), bad=MALFORMED_BAD
    ),
    f"GET {_T}/posts/flagged/{{offset}}/{{limit}}": Recipe(
        S(), bad=B("invalid value", params={"offset": "99999999999999999999"})
    ),
    f"GET {_T}/posts/{{post_id}}": Recipe(
        S(), bad=unknown("post_id"),
        refused=R(params={"post_id": "{private_post.id}"}, why="read a post of a private channel one is not in"),
    ),
    f"GET {_T}/pltmp/{{post_id}}": Recipe(
        S(), bad=unknown("post_id"),
        refused=R(params={"post_id": "{private_post.id}"}, why="read a post of a private channel one is not in"),
    ),
    f"POST {_CH}/posts/create": Recipe(
        S(body={"channel_id": "{open_channel.id}", "message": "{prefix} posted by the suite"}),
        bad=MALFORMED_BAD,
        refused=R(params=PRIVATE, body={"channel_id": "{private_channel.id}", "message": "x"},
                  why="post into a private channel one is not in"),
    ),
    f"POST {_CH}/posts/update": Recipe(
        S(setup="post", body={"id": "{fresh.id}", "channel_id": "{open_channel.id}", "message": "{prefix} edited"}),
        bad=MALFORMED_BAD,
        refused=R(setup="post", body={"id": "{fresh.id}", "channel_id": "{open_channel.id}", "message": "x"},
                  why="edit another user's post"),
    ),
    f"GET {_CH}/posts/page/{{offset}}/{{limit}}": Recipe(
        S(), bad=unknown("channel_id"), refused=R(params=PRIVATE, why="read a private channel one is not in")
    ),
    f"GET {_CH}/posts/since/{{time}}": Recipe(
        S(), bad=unknown("channel_id"), refused=R(params=PRIVATE, why="read a private channel one is not in")
    ),
    f"GET {_P}/get": Recipe(
        S(), bad=unknown("post_id"), refused=R(params=PRIVATE_POST, why="read a private channel one is not in")
    ),
    f"POST {_P}/delete": Recipe(
        S(setup="post", params={"post_id": "{fresh.id}"}),
        bad=unknown("post_id"),
        refused=R(setup="post", params={"post_id": "{fresh.id}"}, why="delete another user's post"),
        destructive=True,
    ),
    f"GET {_P}/before/{{offset}}/{{num_posts}}": Recipe(
        S(), bad=unknown("channel_id"), refused=R(params=PRIVATE_POST, why="read a private channel one is not in")
    ),
    f"GET {_P}/after/{{offset}}/{{num_posts}}": Recipe(
        S(), bad=unknown("channel_id"), refused=R(params=PRIVATE_POST, why="read a private channel one is not in")
    ),
    f"GET {_P}/get_file_infos": Recipe(
        S(), bad=unknown("post_id"), refused=R(params=PRIVATE_POST, why="read a private channel one is not in")
    ),
    f"POST {_P}/pin": Recipe(
        S(setup="post", params={"post_id": "{fresh.id}"}),
        bad=unknown("post_id"),
        refused=R(params=PRIVATE_POST, why="pin a post of a private channel one is not in"),
    ),
    f"POST {_P}/unpin": Recipe(
        S(setup="post", params={"post_id": "{fresh.id}"}),
        bad=unknown("post_id"),
        refused=R(params=PRIVATE_POST, why="unpin a post of a private channel one is not in"),
    ),
    # ------------------------------------------------------------------------ preferences
    "GET /api/v3/preferences/": Recipe(S(), no_bad="takes no input"),
    "POST /api/v3/preferences/save": Recipe(
        S(body=[{"user_id": "{user.id}", "category": "display_settings", "name": "use_military_time", "value": "true"}]),
        bad=MALFORMED_BAD,
        refused=R(body=[{"user_id": "{user.id}", "category": "display_settings", "name": "x", "value": "y"}],
                  why="save another user's preferences"),
    ),
    "POST /api/v3/preferences/delete": Recipe(
        S(setup="preference", body=["{fresh.preference}"]),
        bad=MALFORMED_BAD,
        refused=R(setup="preference", body=["{fresh.preference}"], why="delete another user's preferences"),
        destructive=True,
    ),
    "GET /api/v3/preferences/{category}": Recipe(S(), no_bad="an unknown category is an empty list"),
    "GET /api/v3/preferences/{category}/{name}": Recipe(
        S(),
        bad=B("unknown id", params={"name": "{prefix}_nosuchname"}, statuses=(400, 404, 500),
              note="4.9 answers a missing preference with the store's 500"),
    ),
    # ------------------------------------------------------------------------ reactions
    f"POST {_P}/reactions/save": Recipe(
        S(setup="post", params={"post_id": "{fresh.id}"},
          body={"user_id": "{user.id}", "post_id": "{fresh.id}", "emoji_name": "smile"}),
        bad=MALFORMED_BAD,
        refused=R(body={"user_id": "{user.id}", "post_id": "{root_post.id}", "emoji_name": "smile"},
                  why="react in another user's name"),
    ),
    f"POST {_P}/reactions/delete": Recipe(
        S(setup="reaction", params={"post_id": "{fresh.post_id}"},
          body={"user_id": "{user.id}", "post_id": "{fresh.post_id}", "emoji_name": "{fresh.emoji_name}"}),
        bad=MALFORMED_BAD,
        refused=R(setup="reaction", params={"post_id": "{fresh.post_id}"},
                  body={"user_id": "{user.id}", "post_id": "{fresh.post_id}", "emoji_name": "{fresh.emoji_name}"},
                  why="remove another user's reaction"),
        destructive=True,
    ),
    f"GET {_P}/reactions": Recipe(
        S(), bad=unknown("post_id"), refused=R(params=PRIVATE_POST, why="read a private channel one is not in")
    ),
    # ------------------------------------------------------------------------ webhooks
    f"POST {_T}/hooks/incoming/create": Recipe(
        S("owner", body={"channel_id": "{open_channel.id}", "display_name": "{prefix} hook"}),
        bad=MALFORMED_BAD,
        refused=R(body={"channel_id": "{open_channel.id}", "display_name": "x"}, why="create a hook without manage_webhooks"),
    ),
    f"POST {_T}/hooks/incoming/update": Recipe(
        S("owner", setup="incoming_hook_edited", body="{fresh.body}"),
        bad=MALFORMED_BAD,
        refused=R(setup="incoming_hook_edited", body="{fresh.body}", why="change a hook without manage_webhooks"),
    ),
    f"POST {_T}/hooks/incoming/delete": Recipe(
        S("owner", setup="incoming_hook", body={"id": "{fresh.id}"}),
        bad=missing({}),
        refused=R(setup="incoming_hook", body={"id": "{fresh.id}"}, why="delete a hook without manage_webhooks"),
        destructive=True,
    ),
    f"GET {_T}/hooks/incoming/list": Recipe(
        S("owner"), bad=unknown("team_id"), refused=R(why="list hooks without manage_webhooks")
    ),
    f"POST {_T}/hooks/outgoing/create": Recipe(
        S("owner", body={"channel_id": "{open_channel.id}", "team_id": "{team.id}", "trigger_words": ["{prefix}"],
                         "callback_urls": ["http://127.0.0.1:9/hook"], "display_name": "{prefix} out"}),
        bad=MALFORMED_BAD,
        refused=R(body={"channel_id": "{open_channel.id}", "trigger_words": ["x"],
                        "callback_urls": ["http://127.0.0.1:9/x"]}, why="create a hook without manage_webhooks"),
    ),
    f"POST {_T}/hooks/outgoing/update": Recipe(
        S("owner", setup="outgoing_hook_edited", body="{fresh.body}"),
        bad=MALFORMED_BAD,
        refused=R(setup="outgoing_hook_edited", body="{fresh.body}", why="change a hook without manage_webhooks"),
    ),
    f"POST {_T}/hooks/outgoing/regen_token": Recipe(
        S("owner", setup="outgoing_hook", body={"id": "{fresh.id}"}),
        bad=B("unknown id", body={"id": UNKNOWN}),
        refused=R(setup="outgoing_hook", body={"id": "{fresh.id}"}, why="regenerate a hook token without manage_webhooks"),
    ),
    f"POST {_T}/hooks/outgoing/delete": Recipe(
        S("owner", setup="outgoing_hook", body={"id": "{fresh.id}"}),
        bad=missing({}),
        refused=R(setup="outgoing_hook", body={"id": "{fresh.id}"}, why="delete a hook without manage_webhooks"),
        destructive=True,
    ),
    f"GET {_T}/hooks/outgoing/list": Recipe(
        S("owner"), bad=unknown("team_id"), refused=R(why="list hooks without manage_webhooks")
    ),
    # ------------------------------------------------------------------------ system admin
    f"GET {_A}/logs": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/audits": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/config": Recipe(S("admin"), no_bad="takes no input"),
    f"POST {_A}/save_config": Recipe(S("admin", setup="config", body="{fresh.config}"), bad=MALFORMED_BAD),
    f"GET {_A}/reload_config": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/invalidate_all_caches": Recipe(S("admin"), no_bad="takes no input"),
    f"POST {_A}/test_email": Recipe(S("admin", setup="config", body="{fresh.config}"), bad=MALFORMED_BAD),
    f"GET {_A}/recycle_db_conn": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/analytics/{{id}}/{{name}}": Recipe(
        S("admin", params={"id": "{team.id}", "name": "standard"}),
        bad=B("invalid value", params={"id": "{team.id}", "name": "no_such_analytics"}),
    ),
    f"GET {_A}/analytics/{{name}}": Recipe(
        S("admin", params={"name": "standard"}), bad=B("invalid value", params={"name": "no_such_analytics"})
    ),
    f"POST {_A}/save_compliance_report": Recipe(
        S("admin", body={"desc": "{prefix} report", "emails": "", "keywords": "mmv3", "start_at": "{started}",
                         "end_at": "{now}"}),
        bad=MALFORMED_BAD,
    ),
    f"GET {_A}/compliance_reports": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/download_compliance_report/{{id}}": Recipe(S("admin", setup="compliance_report", params={"id": "{fresh.id}"}), bad=unknown("id")),
    f"POST {_A}/upload_brand_image": Recipe(
        S("admin", files={"image": "png"}), bad=B("missing field", form={"note": "no image"}, files={"other": "png"})
    ),
    f"GET {_A}/get_brand_image": Recipe(S("anon"), no_bad="takes no input"),
    f"POST {_A}/reset_mfa": Recipe(S("admin", setup="account", body={"user_id": "{fresh.id}"}), bad=missing({})),
    f"POST {_A}/reset_password": Recipe(
        S("admin", setup="account", body={"user_id": "{fresh.id}", "new_password": "{fresh.password}N"}),
        bad=missing({"user_id": "{member.id}"}),
        destructive=True,
    ),
    f"POST {_A}/ldap_sync_now": Recipe(S("admin"), no_bad="takes no input"),
    f"POST {_A}/ldap_test": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/saml_metadata": Recipe(S("anon"), no_bad="takes no input"),
    f"POST {_A}/add_certificate": Recipe(
        S("admin", files={"certificate": "certificate"}),
        bad=B("missing field", form={"note": "no certificate"}, files={"other": "certificate"}),
    ),
    f"POST {_A}/remove_certificate": Recipe(
        S("admin", setup="certificate", body={"filename": "{fresh.filename}"}), bad=missing({}), destructive=True
    ),
    f"GET {_A}/saml_cert_status": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/cluster_status": Recipe(S("admin"), no_bad="takes no input"),
    f"GET {_A}/recently_active_users/{{team_id}}": Recipe(S(), bad=unknown("team_id")),
    # ------------------------------------------------------------------------ webrtc
    "POST /api/v3/webrtc/token": Recipe(S(), no_bad="takes no input"),
}  # fmt: skip


# ---------------------------------------------------------------------------- files to send
def _png() -> bytes:
    """A valid 2x2 RGB PNG, made here so that no binary file is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _slack_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("channels.json", "[]")
        archive.writestr("users.json", "[]")
    return out.getvalue()


FILES: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "png": ("mmv3.png", _png, "image/png"),
    "slack_zip": ("slack_export.zip", _slack_zip, "application/zip"),
    "license": ("mmv3.mattermost-license", lambda: b"not a signed license", "application/octet-stream"),
    "certificate": ("mmv3-dummy.crt", lambda: b"-----BEGIN CERTIFICATE-----\nmmv3\n-----END CERTIFICATE-----\n",
                    "application/x-x509-ca-cert"),
}  # fmt: skip


# ---------------------------------------------------------------------------- setups
class SetupFailed(Exception):
    """A setup step was answered with an error; carries the answer for the report."""

    def __init__(self, step: str, response: Any) -> None:
        self.step = step
        self.response = response
        error = response.app_error
        what = f"{response.status} {error.id}" if error else str(response.status)
        super().__init__(f"setup step {step} answered {what}")


def _ok(world: World, step: str, call: Call) -> Any:
    response = world.send(call)
    if response.status != 200:
        raise SetupFailed(step, response)
    return response.json()


def _api(role: str, method: str, path: str, **kw: Any) -> Call:
    return Call(method, f"/api/v3/{path}", role=role, **kw)


def _team(world: World) -> str:
    return world.objects["team"]["id"]


def setup_identity(world: World) -> dict:
    name = world.name("u").replace("-", "")
    return {"username": name, "email": f"{name}@example.com", "password": world.faker.password(length=14)}


def setup_names(world: World) -> dict:
    base = world.name("n")
    return {"team": base, "channel": base, "trigger": base.replace("-", ""), "emoji": base.replace("-", "_")}


def setup_account(world: World) -> dict:
    return world.make_user(join_team=True)


def setup_outside_account(world: World) -> dict:
    return world.make_user(join_team=False)


def setup_session(world: World) -> dict:
    return world.make_session("user")


def setup_pictured_member(world: World) -> dict:
    name, make, mime = FILES["png"]
    _ok(
        world,
        "upload a profile picture",
        _api("member", "POST", "users/newimage", files={"image": (name, make(), mime)}),
    )
    return {}


def setup_me_edited(world: World) -> dict:
    me = _ok(world, "GET users/me", _api("user", "GET", "users/me"))
    me["nickname"] = f"{world.prefix}nick"
    return {"body": me}


def setup_team_edited(world: World) -> dict:
    team = _ok(world, "GET team", _api("owner", "GET", f"teams/{_team(world)}/me"))
    team["description"] = f"{world.prefix} edited"
    return {"body": team}


def _channel_body(world: World, channel: dict) -> dict:
    body = dict(channel)
    body["purpose"] = f"{world.prefix} edited"
    return {"body": body, "id": channel["id"]}


def setup_channel_edited(world: World) -> dict:
    return _channel_body(world, world.make_channel("owner", "O"))


def setup_private_channel_edited(world: World) -> dict:
    return _channel_body(world, world.make_channel("owner", "P"))


def setup_channel(world: World) -> dict:
    return world.make_channel("owner", "O")


def setup_private_channel(world: World) -> dict:
    return world.make_channel("owner", "P")


def setup_joined_channel(world: World) -> dict:
    channel = world.make_channel("owner", "O")
    if world.account("owner").role != "user":
        _ok(world, "join", _api("user", "POST", f"teams/{_team(world)}/channels/{channel['id']}/join"))
    return channel


def setup_channel_account(world: World) -> dict:
    account = world.make_user(join_team=True)
    channel = world.objects["open_channel"]["id"]
    _ok(
        world,
        "add to channel",
        _api(
            "owner", "POST", f"teams/{_team(world)}/channels/{channel}/add", json={"user_id": account["id"]}
        ),
    )
    return account


def setup_post(world: World) -> dict:
    return world.make_post("user")


def setup_reaction(world: World) -> dict:
    post = world.make_post("user")
    user_id = world.account("user").id
    reaction = {"user_id": user_id, "post_id": post["id"], "emoji_name": "smile"}
    path = f"teams/{_team(world)}/channels/{post['channel_id']}/posts/{post['id']}/reactions/save"
    return _ok(world, "save reaction", _api("user", "POST", path, json=reaction))


def setup_preference(world: World) -> dict:
    preference = {"user_id": world.account("user").id, "category": f"{world.prefix}_cat",
                  "name": world.name("p"), "value": "1"}  # fmt: skip
    _ok(world, "save preference", _api("user", "POST", "preferences/save", json=[preference]))
    return {"preference": preference}


def setup_slack_export(world: World) -> dict:
    return {"size": str(len(_slack_zip()))}


def setup_config(world: World) -> dict:
    return {"config": _ok(world, "GET admin/config", _api("admin", "GET", "admin/config"))}


def _upload(world: World, role: str, channel: str) -> dict:
    name, make, mime = FILES["png"]
    content = make()
    answer = _ok(
        world,
        "upload a file",
        _api(
            role,
            "POST",
            f"teams/{_team(world)}/files/upload",
            data={"channel_id": world.objects[channel]["id"]},
            files={"files": (name, content, mime)},
        ),
    )
    channel_id = world.objects[channel]["id"]
    filenames = answer.get("filenames") if not answer.get("file_infos") else None
    if filenames:
        # Up to 3.4 an upload answers the stored files' paths, `/<channel>/<user>/<id>/<name>`, not
        # FileInfos: the file is then named by `<id>/<name>` and its public link asked by path.
        path = str(filenames[0])
        info = {"name": path.split("/", 3)[-1], "path": path}
        world.post(role, channel_id, f"{world.prefix} file", filenames=[path])
        link = world.send(
            _api(role, "POST", f"teams/{_team(world)}/files/get_public_link", json={"filename": path})
        )
    else:
        info = (answer.get("file_infos") or [{}])[0]
        world.post(role, channel_id, f"{world.prefix} file", file_ids=[info.get("id", "")])
        link = world.send(_api(role, "GET", f"files/{info.get('id', '')}/get_public_link"))
    url = link.json() if link.status == 200 else ""
    digest = url.split("h=", 1)[1] if isinstance(url, str) and "h=" in url else "mmv3nohash"
    return {**info, "hash": digest}


def setup_file(world: World) -> dict:
    return _upload(world, "user", "open_channel")


def setup_private_file(world: World) -> dict:
    return _upload(world, "owner", "private_channel")


def setup_command(world: World) -> dict:
    names = setup_names(world)
    body = {"team_id": _team(world), "trigger": names["trigger"], "method": "P",
            "url": f"http://127.0.0.1:9/{world.prefix}", "display_name": f"{world.prefix} command"}  # fmt: skip
    return _ok(
        world, "create command", _api("owner", "POST", f"teams/{_team(world)}/commands/create", json=body)
    )


def setup_command_edited(world: World) -> dict:
    command = setup_command(world)
    return {"body": {**command, "description": f"{world.prefix} edited"}, "id": command["id"]}


def setup_incoming_hook(world: World) -> dict:
    body = {"channel_id": world.objects["open_channel"]["id"], "display_name": f"{world.prefix} hook"}
    return _ok(
        world, "create hook", _api("owner", "POST", f"teams/{_team(world)}/hooks/incoming/create", json=body)
    )


def setup_incoming_hook_edited(world: World) -> dict:
    hook = setup_incoming_hook(world)
    return {"body": {**hook, "description": f"{world.prefix} edited"}, "id": hook["id"]}


def setup_outgoing_hook(world: World) -> dict:
    body = {"channel_id": world.objects["open_channel"]["id"], "team_id": _team(world),
            "trigger_words": [world.name("t").replace("-", "")], "callback_urls": ["http://127.0.0.1:9/hook"]}  # fmt: skip
    return _ok(
        world, "create hook", _api("owner", "POST", f"teams/{_team(world)}/hooks/outgoing/create", json=body)
    )


def setup_outgoing_hook_edited(world: World) -> dict:
    hook = setup_outgoing_hook(world)
    return {"body": {**hook, "description": f"{world.prefix} edited"}, "id": hook["id"]}


def setup_oauth_app(world: World) -> dict:
    body = {"name": world.name("app"), "description": "mmv3", "homepage": "http://127.0.0.1:9/",
            "callback_urls": ["http://127.0.0.1:9/callback"]}  # fmt: skip
    role = "admin" if world.has("admin") else "user"
    return _ok(world, "register app", _api(role, "POST", "oauth/register", json=body))


def setup_emoji(world: World) -> dict:
    name, make, mime = FILES["png"]
    emoji = {"creator_id": world.account("user").id, "name": world.name("e").replace("-", "_")}
    return _ok(
        world,
        "create emoji",
        _api(
            "user",
            "POST",
            "emoji/create",
            data={"emoji": json.dumps(emoji)},
            files={"image": (name, make(), mime)},
        ),
    )


def setup_compliance_report(world: World) -> dict:
    body = {"desc": world.name("report"), "emails": "", "keywords": "mmv3", "start_at": world.started_ms,
            "end_at": world.started_ms + 1}  # fmt: skip
    return _ok(world, "save report", _api("admin", "POST", "admin/save_compliance_report", json=body))


def setup_certificate(world: World) -> dict:
    name, make, mime = FILES["certificate"]
    filename = f"{world.prefix}-{name}"
    _ok(
        world,
        "add certificate",
        _api("admin", "POST", "admin/add_certificate", files={"certificate": (filename, make(), mime)}),
    )
    return {"filename": filename}


SETUPS: dict[str, Callable[[World], dict]] = {
    name.removeprefix("setup_"): func for name, func in dict(globals()).items() if name.startswith("setup_")
}


# ---------------------------------------------------------------------------- building calls
def recipe_for(method: str, template: str) -> Recipe | None:
    return RECIPES.get(f"{method} {template}")


def prepare(world: World, request: Request) -> dict[str, Any]:
    """Run the request's setup (if any): the `fresh` references (SetupFailed / ProvisioningError)."""
    if not request.setup:
        return {}
    factory = SETUPS.get(request.setup)
    if factory is None:
        raise KeyError(f"recipe names an unknown setup {request.setup!r}")
    return {"fresh": factory(world)}


def build(
    world: World,
    method: str,
    template: str,
    request: Request,
    extra: Mapping[str, Any],
    *,
    default_role: str = "user",
    label: str = "",
) -> Call:
    """The concrete Call for a request of an operation (placeholders filled from the world)."""
    params = {}
    for name in _path_params(template):
        value = request.params.get(name, PARAMS.get(name, UNKNOWN))
        params[name] = str(world.fill(value, extra))
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    role = request.role or default_role
    token = None
    if role == "fresh":
        token = str(extra["fresh"]["token"])
        role = "user"
    query = {k: str(world.fill(v, extra)) for k, v in request.query.items()} or None
    json_body = world.fill(request.body, extra) if request.body is not NO_BODY else NO_BODY
    data: Any = None
    files = None
    if request.raw is not None:
        data = request.raw.encode("utf-8")
    if request.form is not None:
        data = {k: str(world.fill(v, extra)) for k, v in request.form.items()}
    if request.files:
        files = {}
        for field_name, kind in request.files.items():
            name, make, mime = FILES[kind]
            files[field_name] = (name, make(), mime)
    headers = dict(request.headers)
    if request.raw is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json" if request.raw.startswith(("{", "[")) else "text/plain"
    return Call(
        method=method,
        path=path,
        role=role,
        token=token,
        json=json_body,
        data=data,
        files=files,
        query=query,
        headers=headers or None,
        label=label,
    )


def _path_params(template: str) -> list[str]:
    out, rest = [], template
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        out.append(rest[start + 1 : end])
        rest = rest[end + 1 :]
    return out


__all__ = [
    "FILES",
    "PARAMS",
    "RECIPES",
    "SETUPS",
    "UNKNOWN",
    "Bad",
    "ProvisioningError",
    "Recipe",
    "Refused",
    "Request",
    "SetupFailed",
    "Success",
    "build",
    "prepare",
    "recipe_for",
]
