"""The invariants family's rules: they hold on every answer recorded from real Mattermost 4.9, and
they catch what they are about on made-up answers. (tests/suite/test_faults.py shows the checks
catch each invariants-* fault of the reference server; test_reference.py that they pass there.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mmv3.catalog import load_catalog
from mmv3.checks import Skip
from mmv3.checks import invariants as inv
from mmv3.fidelity import CorpusEntry, load_corpus

CATALOG = load_catalog()
ENTRIES = sorted(load_corpus(), key=lambda e: e.started_ms)
OK_JSON = [
    e
    for e in ENTRIES
    if e.status == 200 and e.response_mime.startswith("application/json") and e.response_text
]


def _ok(predicate: Callable[[CorpusEntry], bool]) -> list[CorpusEntry]:
    return [e for e in OK_JSON if e.method == "GET" and predicate(e)]


def _op(entry: CorpusEntry):
    return CATALOG.get(entry.method, entry.route)


def _nearest(entry: CorpusEntry, others: list[CorpusEntry]) -> CorpusEntry:
    return min(others, key=lambda other: abs(other.started_ms - entry.started_ms))


# ---------------------------------------------------------------------------- real 4.9
def test_every_recorded_answer_keeps_the_single_answer_invariants():
    problems = []
    post_lists = 0
    for entry in OK_JSON:
        op, body = _op(entry), entry.response_json()
        found = inv.id_problems(body) + inv.timestamp_problems(body)
        if inv.model(op) == "PostList":
            post_lists += 1
            found += inv.post_list_problems(body, newest_first=op.post_order == "newest-first")
        problems += [f"{entry.label} {entry.route}: {p}" for p in found]
    assert len(OK_JSON) > 250 and post_lists > 10
    assert not problems, "\n".join(problems)


def test_real_threads_carry_posts_outside_order():
    """Why `order` need not name every key of `posts`: 4.9 answers a thread with the one post."""
    threads = _ok(lambda e: e.route.endswith("/posts/{post_id}/get"))
    assert any(set(e.response_json()["posts"]) - set(e.response_json()["order"]) for e in threads)


def test_recorded_windows_agree_with_the_recorded_page():
    page = inv._posts_in_order(_ok(lambda e: inv.window_kind(_op(e)) == "page")[0].response_json())
    ids = [p["id"] for p in page]
    compared = 0
    for entry in _ok(lambda e: inv.window_kind(_op(e)) in ("before", "after", "since")):
        kind = inv.window_kind(_op(entry))
        params = _op(entry).match_path(entry.target.split("?")[0])
        window = inv._posts_in_order(entry.response_json())
        if kind == "since":
            assert all(p["update_at"] > int(params["time"]) for p in window)
            continue
        if params["post_id"] not in ids:
            continue  # the unknown-post case: an empty list
        index = ids.index(params["post_id"])
        mark = page[index]["create_at"]
        if kind == "before":
            expected = [p for p in page[index:] if p["create_at"] < mark][: int(params["num_posts"])]
        else:
            newer = [p for p in page[:index] if p["create_at"] > mark]
            expected = newer[-min(int(params["num_posts"]), len(newer)) :]
        assert inv._same_run(window, expected, kind) == []
        compared += 1
    assert compared == 2


def test_recorded_counts_agree_with_the_lists_read_next_to_them():
    counts = _ok(lambda e: e.route.endswith("/channels/counts"))[0]
    channels = _nearest(counts, _ok(lambda e: e.route.endswith("/channels/")))
    assert inv._channel_counts(counts.response_json(), channels.response_json()) == []
    stats = _ok(lambda e: e.route == "/api/v3/teams/{team_id}/stats")[0]
    members = _nearest(stats, _ok(lambda e: e.route.endswith("/members/{offset}/{limit}")))
    assert inv._team_stats(stats.response_json(), members.response_json(), 100) == []


def test_recorded_etags_changed_whenever_the_answer_did():
    last: dict[str, tuple[str, str]] = {}
    changed = 0
    for entry in OK_JSON:
        etag = entry.header_values("Etag")
        if not etag:
            continue
        before = last.get(entry.target)
        if before is not None and before[1] != entry.response_text:
            assert before[0] != etag[0], f"{entry.label}: the answer changed, its Etag {etag[0]} did not"
            changed += 1
        last[entry.target] = (etag[0], entry.response_text)
    assert changed >= 3


# ---------------------------------------------------------------------------- made-up answers
def post(ident: str, created: int, root: str = "", updated: int | None = None) -> dict:
    return {"id": ident, "create_at": created, "update_at": updated or created, "root_id": root}


A, B, C, D = (letter * 26 for letter in "abcd")


def plist(order: list[str], *posts: dict) -> dict:
    return {"order": order, "posts": {p["id"]: p for p in posts}}


def test_a_post_list_newest_first_with_its_threads_passes():
    body = plist([C, A], post(A, 1), post(C, 3, root=A), post(B, 2, root=A))
    assert inv.post_list_problems(body) == []


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (plist([A, C], post(A, 1), post(C, 3)), "not newest first"),
        (plist([C, A], post(C, 3)), "which `posts` does not hold"),
        (plist([C, C], post(C, 3)), "twice"),
        (plist([C], post(C, 3), post(D, 4)), "neither in `order` nor in a thread"),
        ({"order": [C], "posts": {C: post(D, 3)}}, "under the key"),
    ],
)
def test_post_list_problems_are_found(body, found):
    assert any(found in p for p in inv.post_list_problems(body))


def test_pinned_posts_are_oldest_first_as_the_catalogue_says():
    pinned = CATALOG.get("GET", "/api/v3/teams/{team_id}/channels/{channel_id}/pinned")
    assert pinned.post_order == "oldest-first"
    body = plist([A, C], post(A, 1), post(C, 3))
    assert inv.post_list_problems(body, newest_first=False) == []
    assert inv.post_list_problems(body, newest_first=True)


def test_a_post_list_that_is_none_is_left_to_the_schema_family():
    with pytest.raises(Skip):
        inv.post_list_problems([])


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ([{"id": A}, {"id": A}], "twice"),
        ({"id": "ABC"}, "not 26 lower-case"),
        ({A: {"id": B}}, "under the key"),
        (plist(["short"], post(A, 1)), "not a 26-character id"),
    ],
)
def test_id_problems_are_found(body, found):
    assert any(found in p for p in inv.id_problems(body))


def test_empty_ids_and_free_form_maps_are_not_ids():
    # 4.9's built-in slash commands carry "" as id; props hold whatever clients put there.
    assert inv.id_problems([{"id": ""}, {"id": ""}, {"id": A, "props": {"id": "x"}}]) == []


def test_an_object_updated_before_it_was_created_is_found():
    assert inv.timestamp_problems([{"id": A, "create_at": 5, "update_at": 5}]) == []
    assert "before create_at" in inv.timestamp_problems({"c": {"id": A, "create_at": 5, "update_at": 4}})[0]


def test_windows_tolerate_posts_of_one_millisecond_in_either_order_but_not_a_gap():
    expected = [post(A, 5), post(B, 4), post(C, 4), post(D, 3)]
    swapped = [post(A, 5), post(C, 4), post(B, 4), post(D, 3)]
    assert inv._same_run(swapped, expected, "before") == []
    assert inv._same_run(expected[1:], expected, "before")
    assert inv._same_run([*expected[:2], post(D, 3), post("e" * 26, 2)], expected, "before")


def test_counts_against_lists():
    channels = [{"id": A, "total_msg_count": 3}, {"id": B, "total_msg_count": 0}]
    assert inv._channel_counts({"counts": {A: 3, B: 0}}, channels) == []
    assert inv._channel_counts({"counts": {A: 4, B: 0}}, channels)
    assert inv._channel_counts({"counts": {A: 3}}, channels)
    users = {A: {"id": A, "delete_at": 0}, B: {"id": B, "delete_at": 7}}
    # deactivated members are listed, not counted
    assert inv._channel_stats({"member_count": 1}, users, 100) == []
    assert inv._channel_stats({"member_count": 2}, users, 100)
    assert inv._team_stats({"total_member_count": 2, "active_member_count": 1}, [{}, {}], 100) == []
    assert inv._team_stats({"total_member_count": 3, "active_member_count": 1}, [{}, {}], 100)
    assert inv._team_stats({"total_member_count": 3, "active_member_count": 1}, [{}, {}], 2) == []


def test_which_operations_each_check_applies_to_comes_from_the_catalogue():
    ops = CATALOG.operations
    assert {inv.window_kind(op) for op in inv.windows.operations(ops)} == {"page", "since", "before", "after"}
    assert all(inv.model(op) == "PostList" for op in inv.post_list.operations(ops))
    assert all(op.etag for op in inv.etag_changes.operations(ops))
    assert len(inv.counts.operations(ops)) == 3
