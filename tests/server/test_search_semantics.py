"""Post search answers what real 4.9 (PostgreSQL) answered for the same posts and queries.

tests/server/data/search_4.9.json was recorded from a live 4.9.0-rc3 (PostgreSQL, no
Elasticsearch) with tests/server/search_cases.py's posts and queries: a team with two channels,
posts by two users, each query sent as the first user. Here the same posts go into the reference
server and every query must find the same posts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmv3.server import running_server

from .api import Api
from .search_cases import MESSAGES, QUERIES

RECORDED = json.loads((Path(__file__).parent / "data" / "search_4.9.json").read_text())


@pytest.fixture(scope="module")
def searcher():
    with running_server() as server:
        api = Api(server.url)
        api.create_user("searchadmin")
        other = api.create_user("searchuser")
        admin = api.login("searchadmin")
        token = {"admin": admin, "user2": api.login("searchuser")}
        team = api.create_team(admin, "search-team")
        api.add_to_team(admin, team["id"], other["id"])
        channels = {}
        for name in ("talk", "side"):
            channel = api.create_channel(admin, team["id"], f"{name}-chan")
            api.ok("POST", f"/api/v3/teams/{team['id']}/channels/{channel['id']}/add", {"user_id": other["id"]},
                   token=admin)  # fmt: skip
            channels[name] = channel["id"]
        keys = {}
        for key, (who, channel, text) in MESSAGES.items():
            keys[api.create_post(token[who], team["id"], channels[channel], text)["id"]] = key

        def search(terms: str, is_or: bool) -> list[str]:
            terms = (
                terms.replace("{talk}", "talk-chan").replace("{side}", "side-chan")
                .replace("{user2}", "searchuser").replace("{admin}", "searchadmin")
            )  # fmt: skip
            body = api.ok(
                "POST", f"/api/v3/teams/{team['id']}/posts/search", {"terms": terms, "is_or_search": is_or},
                token=admin,
            )  # fmt: skip
            return sorted(keys[i] for i in body["order"])

        yield search


def test_the_recording_covers_every_query():
    assert [(terms, is_or) for terms, is_or, _ in RECORDED] == QUERIES


@pytest.mark.parametrize(
    ("terms", "is_or", "expected"), RECORDED, ids=[f"{t!r}-{'or' if o else 'and'}" for t, o, _ in RECORDED]
)
def test_search_finds_what_real_4_9_found(searcher, terms, is_or, expected):
    assert searcher(terms, is_or) == expected
