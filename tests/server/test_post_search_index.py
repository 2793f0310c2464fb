"""The full-text index behind post search finds what matching each post's words finds: every
query gives the same posts as a scan of the channel, also after edits, deletes, a restart on an
existing file and on a file whose index an older mmv3 wrote."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from mmv3.server import post_search, posts
from mmv3.server.ids import new_id
from mmv3.server.lexemes import lexemes, query_tokens
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


def _scan(store: Store, query: str, is_or: bool) -> list[str]:
    """The search done by hand: each live post's words against each query's tokens."""
    found: dict[str, dict] = {}
    for params in post_search.parse(query):
        if params.from_users or post_search.fts_query(params, is_or) is None:
            continue  # nobody of that name in the team; only stop words
        words = post_search._SPECIAL.sub(" ", " ".join(params.terms)).split()
        groups = [g for g in (query_tokens(w) for w in words) if g]
        hits = 0
        for post in store.find("posts", delete_at=0, order_by="-create_at"):
            have = lexemes(post["message"]).split()
            matched = [
                all(any(h.startswith(t) for h in have) if prefix else t in have for t, prefix in group)
                for group in groups
            ]
            if not groups or (any(matched) if is_or else all(matched)):
                found.setdefault(post["id"], post)
                hits += 1
                if hits == post_search.LIMIT:
                    break
    return [p["id"] for p in sorted(found.values(), key=lambda p: p["create_at"], reverse=True)]


def _both(store: Store, user_id: str, team_id: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    out = []
    for query in QUERIES:
        for is_or in (False, True):
            indexed = post_search.search(store, user_id, team_id, query, is_or=is_or)
            out.append((query, is_or, indexed["order"], _scan(store, query, is_or)))
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


def test_an_index_of_plain_words_from_an_older_mmv3_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "old.db"
    store = Store(str(db))
    user_id, team_id, _ = _seed(store, random.Random(5), count=50)
    store.close()
    with sqlite3.connect(db) as conn:
        for trigger in ("posts_fts_insert", "posts_fts_delete", "posts_fts_update"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE posts_fts")
        conn.execute("CREATE VIRTUAL TABLE posts_fts USING fts5(message)")
        conn.execute(
            "INSERT INTO posts_fts (rowid, message) SELECT rowid, json_extract(doc, '$.message') FROM posts"
        )
    reopened = Store(str(db))
    results = _both(reopened, user_id, team_id, monkeypatch)
    assert any(indexed for _, _, indexed, _ in results)
    for query, is_or, indexed, scanned in results:
        assert indexed == scanned, (query, is_or)
    reopened.close()
