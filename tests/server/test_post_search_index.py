"""The full-text index behind post search narrows it without changing what it finds: every query
gives the same posts as a scan of the channel, also after edits, deletes and a restart on an
existing file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mmv3.server import post_search, posts
from mmv3.server.ids import new_id
from mmv3.server.store import Store

WORDS = ["alpha", "bravo", "Charlie", "don't", "café", "echo_x", "kilo", "tango", "kilo-tango", "ümlaut"]
QUERIES = [
    "kilo", "kilo tango", "KILO", "kil*", "don't", "don", "café", "cafe", "echo_x", "echo",
    "kilo-tango", "alpha -bravo", "ümlaut", "zulu", "ch*", '"kilo tango"', "from:someone kilo", "*",
]  # fmt: skip


def _seed(store: Store, rng: random.Random, count: int = 400) -> tuple[str, str, str]:
    user_id, team_id, channel_id = new_id(), new_id(), new_id()
    store.put(
        "channels",
        channel_id,
        {"id": channel_id, "team_id": team_id, "name": "c", "type": "O", "delete_at": 0},
    )
    store.put("channel_members", f"{channel_id}:{user_id}", {"channel_id": channel_id, "user_id": user_id})
    for i in range(count):
        message = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        post = posts.new_post(user_id, channel_id, message, create_at=1_000 + i)
        post["id"] = new_id()
        store.put("posts", post["id"], {**post, "update_at": 1_000 + i})
    return user_id, team_id, channel_id


def _both(store: Store, user_id: str, team_id: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    out = []
    for query in QUERIES:
        for is_or in (False, True):
            indexed = post_search.search(store, user_id, team_id, query, is_or=is_or)
            with monkeypatch.context() as patch:
                patch.setattr(post_search, "_fts_query", lambda params, is_or: "")
                scanned = post_search.search(store, user_id, team_id, query, is_or=is_or)
            out.append((query, is_or, indexed["order"], scanned["order"]))
    return out


def test_indexed_search_finds_what_a_scan_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    db = tmp_path / "s.db"
    store = Store(str(db))
    user_id, team_id, channel_id = _seed(store, rng)
    some = store.find("posts", channel_id=channel_id, limit=60)
    for post in some[:30]:  # edits reach the index
        store.put("posts", post["id"], {**post, "message": "tango zulu"})
    for post in some[30:]:  # so do deletes
        store.delete("posts", post["id"])
    results = _both(store, user_id, team_id, monkeypatch)
    assert any(indexed for _, _, indexed, _ in results), "no query found anything: the test tests nothing"
    for query, is_or, indexed, scanned in results:
        assert indexed == scanned, (query, is_or)
    store.close()
    reopened = Store(str(db))  # the index persists and stays in step
    for query, is_or, indexed, scanned in _both(reopened, user_id, team_id, monkeypatch):
        assert indexed == scanned, (query, is_or)
    reopened.close()
