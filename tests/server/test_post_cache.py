"""The channel post cache: first pages and the latest change served from memory, and every write
to a channel's posts seen by the next read (as 4.9 drops its lastPostsCache on each post change)."""

from __future__ import annotations

import pytest

from mmv3.server import running_server
from mmv3.server.post_cache import PostCache
from mmv3.server.store import Store

from .api import Api


@pytest.fixture(scope="module")
def world():
    with running_server() as server:
        api = Api(server.url)
        api.create_user("cacheadmin")
        token = api.login("cacheadmin")
        team = api.create_team(token, "cache-team")
        channel = api.create_channel(token, team["id"], "cache-channel")
        base = f"/api/v3/teams/{team['id']}/channels/{channel['id']}"
        yield server, api, token, team, channel, base


def _page(api, token, base):
    response = api.call("GET", f"{base}/posts/page/0/60", token=token)
    assert response.status_code == 200
    return response.json(), response.headers.get("Etag")


def test_the_second_read_of_a_first_page_is_a_cache_hit(world):
    server, api, token, team, channel, base = world
    api.create_post(token, team["id"], channel["id"], "warm")
    _page(api, token, base)
    hits = server.app.store.post_cache.hits
    _page(api, token, base)
    assert server.app.store.post_cache.hits > hits


def test_every_write_to_the_channel_is_seen_by_the_next_read(world):
    server, api, token, team, channel, base = world
    first = api.create_post(token, team["id"], channel["id"], "first words")
    before, etag = _page(api, token, base)
    _page(api, token, base)  # cached now
    assert before["order"][0] == first["id"]

    second = api.create_post(token, team["id"], channel["id"], "second words")
    after, etag2 = _page(api, token, base)
    assert after["order"][0] == second["id"] and etag2 != etag

    edited = dict(second, message="second words, edited")
    api.ok("POST", f"{base}/posts/update", edited, token=token)
    assert _page(api, token, base)[0]["posts"][second["id"]]["message"] == "second words, edited"

    reply = api.ok(
        "POST", f"{base}/posts/create",
        {"channel_id": channel["id"], "message": "a reply", "root_id": first["id"], "parent_id": first["id"]},
        token=token,
    )  # fmt: skip
    assert reply["id"] in _page(api, token, base)[0]["order"]

    api.ok("POST", f"{base}/posts/{first['id']}/reactions/save",
           {"user_id": first["user_id"], "post_id": first["id"], "emoji_name": "smile"}, token=token)  # fmt: skip
    assert _page(api, token, base)[0]["posts"][first["id"]].get("has_reactions") is True

    api.ok("POST", f"{base}/posts/{second['id']}/pin", token=token)
    assert _page(api, token, base)[0]["posts"][second["id"]]["is_pinned"] is True

    api.ok("POST", f"{base}/posts/{second['id']}/delete", token=token)
    assert second["id"] not in _page(api, token, base)[0]["order"]


def test_since_answers_from_the_latest_change_and_sees_new_posts(world):
    server, api, token, team, channel, base = world
    made = api.create_post(token, team["id"], channel["id"], "since me")
    empty = api.ok("GET", f"{base}/posts/since/{made['update_at']}", token=token)
    assert empty["order"] == []
    newer = api.create_post(token, team["id"], channel["id"], "after that")
    found = api.ok("GET", f"{base}/posts/since/{made['update_at']}", token=token)
    assert newer["id"] in found["order"]


def test_a_read_that_overlaps_a_write_is_not_kept():
    cache = PostCache()
    generation = cache.generation("c")
    cache.changed("c")  # a write landed while the read was reading
    cache.put("c", "latest", 1, generation)
    assert cache.get("c", "latest") is None
    cache.put("c", "latest", 2, cache.generation("c"))
    assert cache.get("c", "latest") == 2


def test_a_rolled_back_transaction_drops_what_its_reads_may_have_cached():
    store = Store()
    store.post_cache.put("c", "latest", 5, store.post_cache.generation("c"))
    with pytest.raises(RuntimeError), store.transaction():
        raise RuntimeError("rolled back")
    assert store.post_cache.get("c", "latest") is None


def test_the_cache_keeps_at_most_its_size():
    cache = PostCache(size=2)
    for name in "abc":
        cache.put(name, "latest", 1, cache.generation(name))
    assert cache.get("a", "latest") is None and cache.get("c", "latest") == 1
