"""invariants: what clients rely on across answers, beyond each answer's shape.

- a PostList names each post of `order` once and in `posts`, in the route's order (newest first;
  the pinned posts oldest first, `x-mmv3-post-order`), and every other post it carries belongs to
  a thread of an ordered one (real 4.9 adds the threads' roots and replies without ordering them);
- ids are 26 lower-case letters and digits and unique within a list, maps keyed by id use the
  object's own id;
- no object was updated before it was created (`update_at >= create_at`);
- an Etag changes when its resource changes;
- the windows of a channel's posts (page, since, before, after) agree with its first page;
- counts agree with the lists they count (channel counts, channel and team stats).

Single answers are judged on the success exchange the other families share; the checks that
compare answers send one or two requests of their own, and when a comparison fails because the
run's other tests changed the data in between, they read both sides again (a few times, then
the disagreement is a failure).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mmv3.catalog import load_catalog
from mmv3.checks import Probe, Skip, check, describe
from mmv3.provision import Call

if TYPE_CHECKING:
    from mmv3.catalog import Operation
    from mmv3.client import Response

FAMILY = "invariants"
ID = re.compile(r"^[a-z0-9]{26}$")
# Values chosen by clients or holding free-form maps: no model objects inside.
OPAQUE_KEYS = ("props", "notify_props", "timezone")
ATTEMPTS = 3  # reads of both sides of a comparison, when the data moved in between
WINDOW = 10  # posts asked for before/after a post
SINCE_CAP = 1000  # real 4.9 answers at most this many changed posts
MAX_PROBLEMS = 5


# ---------------------------------------------------------------------------- catalogue
def model(op: Operation) -> str:
    """The name of the operation's success model (`PostList` for models/PostList.json), or ''."""
    schema = op.response_schema
    ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
    return ref.rsplit("/", 1)[-1].removesuffix(".json") if ref else ""


def _answers(*names: str) -> Callable[[Operation], bool]:
    return lambda op: model(op) in names


def _json_answer(op: Operation) -> bool:
    return op.response_content_type == "application/json" and bool(model(op))


def window_kind(op: Operation) -> str:
    """`page`, `since`, `before` or `after` for the windows over a channel's posts, else ''."""
    names = {p.name for p in op.path_params}
    if op.method != "GET" or model(op) != "PostList" or "channel_id" not in names:
        return ""
    if {"offset", "limit"} <= names:
        return "page"
    if "time" in names:
        return "since"
    if {"post_id", "offset", "num_posts"} <= names:
        return "before" if "/before/" in op.template else "after"
    return ""


def _find(predicate: Callable[[Operation], bool], what: str) -> Operation:
    for op in load_catalog().operations:
        if predicate(op):
            return op
    raise LookupError(f"the catalogue has no {what}")


def _params(op: Operation, response: Response) -> dict[str, str]:
    return op.match_path(urlsplit(response.url).path) or {}


# ---------------------------------------------------------------------------- answers
def _body(response: Response) -> Any:
    if response.status != 200:
        raise Skip(f"no success answer to inspect ({describe(response)})")
    try:
        return response.json()
    except Exception:  # noqa: BLE001 - not JSON: the schema family says so
        raise Skip("the success answer is not JSON (see the schema family)") from None


def _success_json(op: Operation, probe: Probe) -> Any:
    return _body(probe.success(op))


def _get(probe: Probe, path: str, role: str, label: str, headers: dict[str, str] | None = None) -> Response:
    return probe.send(Call("GET", path, role=role, headers=headers, label=label))


def _walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in OPAQUE_KEYS:
                yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _limited(problems: list[str]) -> list[str]:
    if len(problems) > MAX_PROBLEMS:
        return [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]
    return problems


# ---------------------------------------------------------------------------- post lists
def _is_post_list(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("order"), list)
        and isinstance(body.get("posts"), dict)
        and all(isinstance(p, dict) for p in body["posts"].values())
    )


def _created(post: dict) -> int:
    value = post.get("create_at")
    return value if isinstance(value, int) else 0


def post_list_problems(body: Any, *, newest_first: bool = True) -> list[str]:
    """How a PostList breaks the rules clients rely on (see the module docstring)."""
    if not _is_post_list(body):
        raise Skip("the answer is not a PostList (see the schema family)")
    order, posts = body["order"], body["posts"]
    problems = []
    seen: set[str] = set()
    for post_id in order:
        if post_id in seen:
            problems.append(f"`order` names {post_id} twice")
        seen.add(post_id)
        if post_id not in posts:
            problems.append(f"`order` names {post_id}, which `posts` does not hold")
    for key, post in posts.items():
        if post.get("id") != key:
            problems.append(f"`posts` holds the post {post.get('id')!r} under the key {key}")
    threads = {posts[i].get("root_id") or i for i in order if i in posts}
    for key, post in posts.items():
        if key not in seen and (post.get("root_id") or key) not in threads:
            problems.append(
                f"`posts` holds {key}, which is neither in `order` nor in a thread of a post there"
            )
    ordered = [posts[i] for i in order if i in posts]
    for newer, older in zip(ordered, ordered[1:], strict=False):
        a, b = _created(newer), _created(older)
        if (a < b) if newest_first else (a > b):
            wanted = "newest first" if newest_first else "oldest first"
            problems.append(
                f"`order` is not {wanted}: {newer.get('id')} (create_at {a}) comes before "
                f"{older.get('id')} (create_at {b})"
            )
            break
    return _limited(problems)


@check(FAMILY, applies=_answers("PostList"), severity="critical")
def post_list(op: Operation, probe: Probe) -> list[str]:
    """A PostList's `order` names posts of `posts` once each, newest first (pinned posts oldest
    first); the other posts it carries belong to their threads."""
    body = _success_json(op, probe)
    return post_list_problems(body, newest_first=op.post_order == "newest-first")


# ---------------------------------------------------------------------------- ids
def id_problems(body: Any) -> list[str]:
    """Ids that are not 26 lower-case letters and digits, repeated in a list, or filed under
    another key. An empty id is no id (4.9's built-in slash commands have none)."""
    problems = []
    for path, value in _walk(body):
        if isinstance(value, dict):
            ident = value.get("id")
            if isinstance(ident, str) and ident and not ID.match(ident):
                problems.append(f"{path}.id {ident!r} is not 26 lower-case letters and digits")
            objects = [v for v in value.values() if isinstance(v, dict) and isinstance(v.get("id"), str)]
            if objects and len(objects) == len(value):
                for key, item in value.items():
                    if item["id"] and item["id"] != key:
                        problems.append(f"{path} files the object {item['id']} under the key {key}")
            order = value.get("order")
            if isinstance(order, list) and isinstance(value.get("posts"), dict):
                for ident in order:
                    if not (isinstance(ident, str) and ID.match(ident)):
                        problems.append(f"{path}.order names {ident!r}, not a 26-character id")
        elif isinstance(value, list):
            seen: set[str] = set()
            for item in value:
                ident = item.get("id") if isinstance(item, dict) else None
                if isinstance(ident, str) and ident:
                    if ident in seen:
                        problems.append(f"{path} lists the id {ident} twice")
                    seen.add(ident)
    return _limited(problems)


@check(FAMILY, applies=_json_answer, severity="normal")
def ids(op: Operation, probe: Probe) -> list[str]:
    """Every id in the answer is 26 lower-case letters and digits, unique within its list, and
    maps keyed by id file each object under its own id."""
    return id_problems(_success_json(op, probe))


# ---------------------------------------------------------------------------- timestamps
def timestamp_problems(body: Any) -> list[str]:
    problems = []
    for path, value in _walk(body):
        if not isinstance(value, dict):
            continue
        created, updated = value.get("create_at"), value.get("update_at")
        if type(created) is int and type(updated) is int and updated < created:
            name = f" ({value['id']})" if isinstance(value.get("id"), str) else ""
            problems.append(f"{path}{name}: update_at {updated} is before create_at {created}")
    return _limited(problems)


@check(FAMILY, applies=_json_answer, severity="normal")
def timestamps(op: Operation, probe: Probe) -> list[str]:
    """No object in the answer was updated before it was created (update_at >= create_at)."""
    return timestamp_problems(_success_json(op, probe))


# ---------------------------------------------------------------------------- etags
def _change_user(op: Operation, probe: Probe, response: Response) -> Call:
    """Save the notification settings of the user the answer is about (the plain member for
    lists): that moves the user's update_at, which user etags are made of."""
    body = _body(response)
    user_id = body.get("id") if model(op) in ("User", "UserProfile") else probe.world.account("member").id
    role = next((a.role for a in probe.world.accounts.values() if a.id == user_id), "")
    if not role:
        raise Skip(f"the answer is about {user_id}, an account the run cannot log in as")
    notify = {"user_id": user_id, "email": "true", "desktop": "mention", "desktop_sound": "true"}
    return Call("POST", "/api/v3/users/update_notify", role=role, json={**notify, "comments": "never"})


def _change_posts(op: Operation, probe: Probe, response: Response) -> Call:
    """Reply to the post the answer is about (or to the run's root post): a new post in the
    channel and in the thread."""
    params = _params(op, response)
    world = probe.world
    team_id = params.get("team_id") or world.objects["team"]["id"]
    channel_id = params.get("channel_id") or world.objects["open_channel"]["id"]
    root = world.objects["root_post"]
    root_id = params.get("post_id") or root["id"]
    if root_id != root["id"] or channel_id != root["channel_id"]:
        raise Skip("the success call reads another post than the run's root post")
    body = {"channel_id": channel_id, "message": f"{world.prefix} etag change", "root_id": root_id}
    return Call("POST", f"/api/v3/teams/{team_id}/channels/{channel_id}/posts/create", role="user", json=body)


def _change_channel(op: Operation, probe: Probe, response: Response) -> Call:
    """Set the open channel's header: its update_at moves (and a system post counts a message)."""
    world = probe.world
    channel = world.objects["open_channel"]
    params = _params(op, response)
    if (
        params.get("channel_id", channel["id"]) != channel["id"]
        or params.get("channel_name", channel["name"]) != channel["name"]
    ):
        raise Skip("the success call reads another channel than the run's open channel")
    team_id = world.objects["team"]["id"]
    body = {"channel_id": channel["id"], "channel_header": f"{world.prefix} header {world.name('h')}"}
    return Call("POST", f"/api/v3/teams/{team_id}/channels/update_header", role="user", json=body)


def _change_team(op: Operation, probe: Probe, response: Response) -> Call:
    """Change the team's description as its admin (read whole first: update takes the whole team)."""
    team_id = _params(op, response).get("team_id", "")
    current = _body(_get(probe, f"/api/v3/teams/{team_id}/me", "owner", "team before the change"))
    current["description"] = f"{probe.world.prefix} {probe.world.name('d')}"
    return Call("POST", f"/api/v3/teams/{team_id}/update", role="owner", json=current)


# What changes the resource behind an etag route, by the route's success model.
CHANGES: dict[str, Callable[[Operation, Probe, Response], Call]] = {
    "User": _change_user,
    "UserProfile": _change_user,
    "UserMap": _change_user,
    "PostList": _change_posts,
    "Channel": _change_channel,
    "ChannelData": _change_channel,
    "ChannelList": _change_channel,
    "ChannelCounts": _change_channel,
    "Team": _change_team,
}


def _etag_route(op: Operation) -> bool:
    return op.method == "GET" and op.etag and model(op) in CHANGES


@check(FAMILY, applies=_etag_route, severity="normal")
def etag_changes(op: Operation, probe: Probe) -> list[str]:
    """After the resource changes, If-None-Match with its old Etag gets the full 200 with a new
    Etag, not a 304."""
    response = probe.success(op)
    _body(response)
    old = response.headers.get("Etag")
    if not old:
        raise Skip("the success answer has no Etag (see the headers family)")
    parts = urlsplit(response.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    role = probe.caller(op)
    again = response
    # The change may land in the same millisecond as the last one: change it once more then.
    for _ in range(2):
        change = CHANGES[model(op)](op, probe, response)
        changed = probe.send(change)
        if changed.status != 200:
            raise Skip(f"the change ({change.method} {change.path}) answered {describe(changed)}")
        again = _get(probe, path, role, "after the change", {"If-None-Match": old})
        if again.status == 200 and again.headers.get("Etag") not in (None, old):
            return []
    if again.status == 304:
        return [f"after {change.method} {change.path} the old Etag still gets 304: the Etag did not change"]
    if again.status != 200:
        return [f"reading again after the change answered {describe(again)}"]
    etag = again.headers.get("Etag")
    return [f"after {change.method} {change.path} the Etag is still {etag!r}" if etag else "no Etag"]


# ---------------------------------------------------------------------------- windows
def _posts_in_order(body: dict) -> list[dict]:
    return [body["posts"][i] for i in body["order"] if i in body["posts"]]


def _as_list(response: Response, what: str) -> list[dict]:
    body = _body(response)
    if not _is_post_list(body):
        raise Skip(f"the {what} is not a PostList (see the schema family)")
    return _posts_in_order(body)


def _same_run(window: list[dict], expected: list[dict], what: str) -> list[str]:
    """`window` lists the posts of `expected` (which it may go beyond), in order. Posts created in
    the same millisecond may come in either order."""
    if len(window) < len(expected):
        missing = [p["id"] for p in expected if p["id"] not in {w["id"] for w in window}]
        return [
            f"{what} lists {len(window)} posts where {len(expected)} are due (missing {', '.join(missing[:3])})"
        ]
    head = window[: len(expected)]
    if [_created(p) for p in head] != [_created(p) for p in expected]:
        for got, due in zip(head, expected, strict=False):
            if _created(got) != _created(due):
                return [
                    f"{what} lists {got['id']} (create_at {_created(got)}) where {due['id']} "
                    f"(create_at {_created(due)}) is due"
                ]
    # At either end the cut may fall inside a millisecond (after/0/n cuts at the newest end).
    ends = {_created(expected[0]), _created(expected[-1])} if expected else set()
    got_ids = {p["id"] for p in head if _created(p) not in ends}
    due_ids = {p["id"] for p in expected if _created(p) not in ends}
    if got_ids != due_ids:
        return [f"{what} lists {sorted(got_ids - due_ids)[:3]} instead of {sorted(due_ids - got_ids)[:3]}"]
    return []


def _window_path(op: Operation, ref_params: dict[str, str], **values: object) -> str:
    params = {p.name: ref_params.get(p.name, "") for p in op.path_params}
    params.update({k: str(v) for k, v in values.items()})
    return op.path(**params)


def _compare_window(
    kind: str, op: Operation, probe: Probe, ref: list[dict], ref_params: dict[str, str], role: str
) -> list[str]:
    """Read the window of `kind` placed in the middle of `ref` (the channel's first page) and
    compare the two."""
    if len(ref) < 3:
        raise Skip(f"the channel's first page lists {len(ref)} posts: too few to place a window in")
    middle = len(ref) // 2
    pivot = ref[middle]
    mark = _created(pivot)
    if kind == "page":
        window = _as_list(
            _get(probe, _window_path(op, ref_params, offset=middle, limit=len(ref)), role, "page"), "page"
        )
        if len(window) > len(ref):
            return [f"page/{middle}/{len(ref)} lists {len(window)} posts"]
        if not window:
            return [f"page/{middle}/{len(ref)} is empty, the first page lists {len(ref)} posts"]
        # Posts made since the first page push the window towards older ones by as many.
        start = next((i for i, p in enumerate(ref) if _created(p) == _created(window[0])), None)
        if start is None or start > middle:
            return [
                f"page/{middle}/{len(ref)} starts with {window[0]['id']}, not a post of the first page's window"
            ]
        return _same_run(window, ref[start:], f"page/{middle}/{len(ref)}")
    if kind == "since":
        path = _window_path(op, ref_params, time=mark)
        window = _as_list(_get(probe, path, role, "since"), "since answer")
        problems = [
            f"since/{mark} lists {p['id']} with update_at {p.get('update_at')}"
            for p in window
            if not (isinstance(p.get("update_at"), int) and p["update_at"] > mark)
        ]
        if len(window) < SINCE_CAP:
            listed = {p["id"] for p in window}
            due = [p["id"] for p in ref if isinstance(p.get("update_at"), int) and p["update_at"] > mark]
            problems += [
                f"since/{mark} lacks {i}, which the first page lists as changed later"
                for i in due
                if i not in listed
            ]
        return _limited(problems)
    # before / after: the posts next to the pivot, newest first either way
    if kind == "before":
        older = [p for p in ref[middle:] if _created(p) < mark]
        count = min(WINDOW, len(older)) or 1
        expected = older[:count]
    else:
        newer = [p for p in ref[:middle] if _created(p) > mark]
        count = min(WINDOW, len(newer)) or 1
        expected = newer[-count:]
    path = _window_path(op, ref_params, post_id=pivot["id"], offset=0, num_posts=count)
    window = _as_list(_get(probe, path, role, kind), f"{kind} answer")
    what = f"{kind}/0/{count} of {pivot['id']}"
    wrong = [p["id"] for p in window if (_created(p) >= mark if kind == "before" else _created(p) <= mark)]
    if wrong:
        return [f"{what} lists {', '.join(wrong[:3])}, not {kind} it (create_at {mark})"]
    if len(window) > count:
        return [f"{what} lists {len(window)} posts"]
    return _same_run(window, expected, what)


def _page_operation() -> Operation:
    return _find(lambda op: window_kind(op) == "page", "page of a channel's posts")


@check(FAMILY, applies=lambda op: bool(window_kind(op)), severity="critical")
def windows(op: Operation, probe: Probe) -> list[str]:
    """The windows over a channel's posts (page, since, before, after) placed in the middle of
    its first page list exactly the posts that page shows there."""
    kind = window_kind(op)
    page_op = _page_operation()
    role = probe.caller(op)
    first = probe.success(page_op)
    ref_params = _params(page_op, first)
    problems: list[str] = []
    # The first page shared by the run may be old (more posts since: harmless); deleted or
    # moved posts in between make a comparison fail, so it is made again on a fresh page.
    for attempt in range(ATTEMPTS):
        if attempt or kind == "page":
            first = _get(probe, _window_path(page_op, ref_params), role, "first page")
        problems = _compare_window(kind, op, probe, _as_list(first, "first page"), ref_params, role)
        if not problems:
            return []
    return problems


# ---------------------------------------------------------------------------- counts
def _channel_counts(counts: Any, channels: Any) -> list[str]:
    if not (
        isinstance(counts, dict) and isinstance(counts.get("counts"), dict) and isinstance(channels, list)
    ):
        raise Skip("the answers are not ChannelCounts and a ChannelList (see the schema family)")
    listed = {c.get("id"): c for c in channels if isinstance(c, dict)}
    problems = [
        f"counts has {cid}, which the channel list lacks" for cid in counts["counts"] if cid not in listed
    ]
    problems += [
        f"the channel list has {cid}, which counts lacks" for cid in listed if cid not in counts["counts"]
    ]
    for cid, count in counts["counts"].items():
        if cid in listed and listed[cid].get("total_msg_count") != count:
            problems.append(
                f"counts says {count} messages in {cid}, the channel list {listed[cid].get('total_msg_count')}"
            )
    return _limited(problems)


def _channel_stats(stats: Any, users: Any, limit: int) -> list[str]:
    if not (isinstance(stats, dict) and isinstance(users, dict)):
        raise Skip("the answers are not ChannelStats and a user map (see the schema family)")
    # member_count counts active accounts only; the member list shows deactivated ones too.
    active = sum(1 for u in users.values() if isinstance(u, dict) and not u.get("delete_at"))
    count = stats.get("member_count")
    if len(users) < limit and count != active:
        return [f"member_count is {count}, the channel lists {active} active members"]
    if len(users) >= limit and isinstance(count, int) and count < active:
        return [f"member_count is {count}, the channel's first {limit} members include {active} active ones"]
    return []


def _team_stats(stats: Any, members: Any, limit: int) -> list[str]:
    if not (isinstance(stats, dict) and isinstance(members, list)):
        raise Skip("the answers are not TeamStats and a TeamMember list (see the schema family)")
    total, active = stats.get("total_member_count"), stats.get("active_member_count")
    problems = []
    if isinstance(total, int) and isinstance(active, int) and active > total:
        problems.append(f"active_member_count {active} exceeds total_member_count {total}")
    if len(members) < limit and total != len(members):
        problems.append(f"total_member_count is {total}, the team lists {len(members)} members")
    elif len(members) >= limit and isinstance(total, int) and total < len(members):
        problems.append(f"total_member_count is {total}, the team lists {len(members)} members already")
    return problems


def _counted_list(op: Operation) -> tuple[Operation, Callable[[Any, Any, int], list[str]]]:
    """The list an answer's counts count, from the catalogue."""
    name = model(op)
    names = tuple(p.name for p in op.path_params)
    if name == "ChannelCounts":
        found = _find(
            lambda o: o.method == "GET" and model(o) == "ChannelList" and not o.query_params
            and tuple(p.name for p in o.path_params) == names,
            "list of the caller's channels",
        )  # fmt: skip
        return found, lambda counts, channels, _limit: _channel_counts(counts, channels)
    if name == "ChannelStats":
        template = op.template.replace("/stats", "/users/{offset}/{limit}")
        return _find(
            lambda o: o.method == "GET" and o.template == template, "channel's member list"
        ), _channel_stats
    template = op.template.replace("/stats", "/members/{offset}/{limit}")
    return _find(lambda o: o.method == "GET" and o.template == template, "team's member list"), _team_stats


FRESH_LIMIT = 200  # members asked for when the lists are read again


@check(FAMILY, applies=_answers("ChannelCounts", "ChannelStats", "TeamStats"), severity="normal")
def counts(op: Operation, probe: Probe) -> list[str]:
    """Counts agree with the lists they count: channel counts with the caller's channels, a
    channel's member_count with its members, a team's member counts with its members."""
    list_op, compare = _counted_list(op)
    counted, listed = probe.success(op), probe.success(list_op)
    params = _params(op, counted)
    role = probe.caller(op)
    limit_of = {p.name for p in list_op.path_params} & {"limit"}
    problems: list[str] = []
    for attempt in range(ATTEMPTS):
        if attempt or any(_params(list_op, listed).get(k) != v for k, v in params.items()):
            counted = _get(probe, urlsplit(counted.url).path, role, "counts again")
            values = {p.name: params.get(p.name, "") for p in list_op.path_params}
            values.update({"offset": "0", "limit": str(FRESH_LIMIT)} if limit_of else {})
            listed = _get(probe, list_op.path(**values), role, "list again")
        limit = int(_params(list_op, listed).get("limit", 0) or 0) or 1 << 30
        problems = compare(_body(counted), _body(listed), limit)
        if not problems:
            return []
    return problems


CHECKS = [post_list, ids, timestamps, etag_changes, windows, counts]
