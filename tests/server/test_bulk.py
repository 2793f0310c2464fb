"""bulk.fill: the rows it writes straight into serve's database are what the API would answer
with, by the conformance invariants (ids, timestamps, post lists and windows, counts)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mmv3.checks import invariants
from mmv3.server import bulk
from mmv3.server.runner import running_server
from tests.server.api import Api


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("bulk") / "serve.db"
    counts = bulk.fill(db, teams=2, users=12, channels_per_team=4, posts=400, seed=7)
    assert counts["posts"] == 400 and counts["users"] == 12 and counts["teams"] == 2
    assert counts["channels"] >= 8 and counts["team_members"] == 12 + 1  # the first user is in both
    return db


def _busiest(db: Path) -> tuple[str, str]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT key, team_id FROM channels WHERE type != 'D' "
            "ORDER BY json_extract(doc, '$.total_msg_count') DESC LIMIT 1"
        ).fetchone()


def test_rows_are_consistent(filled):
    with sqlite3.connect(filled) as conn:
        total = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM posts_fts").fetchone()[0]
        assert indexed == total  # the search index is populated
        for key, count, last in conn.execute(
            "SELECT key, json_extract(doc, '$.total_msg_count'), json_extract(doc, '$.last_post_at') FROM channels"
        ):
            posted = conn.execute(
                "SELECT count(*), coalesce(max(update_at), 0) FROM posts WHERE channel_id = ?", (key,)
            ).fetchone()
            assert (count, last or 0) == (posted[0], posted[1] if posted[0] else 0)
        bad = conn.execute(
            "SELECT count(*) FROM posts p WHERE root_id != '' AND NOT EXISTS "
            "(SELECT 1 FROM posts r WHERE r.key = p.root_id AND r.channel_id = p.channel_id "
            "AND r.root_id = '' AND r.update_at >= p.create_at)"
        ).fetchone()[0]
        assert bad == 0  # replies answer a root of their channel, which was touched by them
        assert conn.execute("SELECT count(*) FROM posts WHERE root_id != ''").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM posts WHERE update_at < create_at").fetchone()[0] == 0
        strangers = conn.execute(
            "SELECT count(*) FROM posts p WHERE NOT EXISTS (SELECT 1 FROM channel_members m "
            "WHERE m.channel_id = p.channel_id AND m.user_id = p.user_id)"
        ).fetchone()[0]
        assert strangers == 0  # every author is a member of the channel posted in
        reacted = conn.execute("SELECT count(DISTINCT post_id) FROM reactions").fetchone()[0]
        flagged = conn.execute("SELECT count(*) FROM posts WHERE doc LIKE '%\"has_reactions\":true%'")
        assert reacted == flagged.fetchone()[0] > 0


def test_serve_answers_satisfy_the_invariants(filled):
    channel_id, team_id = _busiest(filled)
    with running_server(db=str(filled)) as server:
        api = Api(server.url)
        response = api.call(
            "POST", "/api/v3/users/login", {"login_id": f"{bulk.USER_PREFIX}0", "password": bulk.PASSWORD}
        )
        assert response.status_code == 200, response.text
        token = response.headers["Token"]
        base = f"/api/v3/teams/{team_id}/channels/{channel_id}/posts"
        page = api.ok("GET", f"{base}/page/0/60", token=token)
        assert len(page["order"]) == 60
        mid = page["order"][30]
        oldest = page["posts"][page["order"][-1]]["create_at"]
        answers = {
            "page": page,
            "before": api.ok("GET", f"{base}/{mid}/before/0/10", token=token),
            "after": api.ok("GET", f"{base}/{mid}/after/0/10", token=token),
            "since": api.ok("GET", f"{base}/since/{oldest - 1}", token=token),
            "search": api.ok(
                "POST", f"/api/v3/teams/{team_id}/posts/search", {"terms": "alpha"}, token=token
            ),
        }
        for name, body in answers.items():
            problems = invariants.post_list_problems(body) + invariants.id_problems(body)
            assert problems + invariants.timestamp_problems(body) == [], name
        assert answers["before"]["order"] == page["order"][31:41]
        assert answers["after"]["order"] == page["order"][20:30]
        assert answers["search"]["order"]
        assert any(p.get("root_id") for p in page["posts"].values())

        channels = api.ok("GET", f"/api/v3/teams/{team_id}/channels/", token=token)
        counts = api.ok("GET", f"/api/v3/teams/{team_id}/channels/counts", token=token)
        assert invariants._channel_counts(counts, channels) == []
        assert invariants.id_problems(channels) == invariants.timestamp_problems(channels) == []
        members = api.ok("GET", f"/api/v3/teams/{team_id}/members/0/100", token=token)
        stats = api.ok("GET", f"/api/v3/teams/{team_id}/stats", token=token)
        assert invariants._team_stats(stats, members, 100) == []
        users = api.ok("GET", f"/api/v3/teams/{team_id}/channels/{channel_id}/users/0/100", token=token)
        channel_stats = api.ok("GET", f"/api/v3/teams/{team_id}/channels/{channel_id}/stats", token=token)
        assert invariants._channel_stats(channel_stats, users, 100) == []
        info_post = next((p for p in page["posts"].values() if p.get("file_ids")), None)
        if info_post is not None:
            infos = api.ok(
                "GET", f"{base[: -len('/posts')]}/posts/{info_post['id']}/get_file_infos", token=token
            )
            file = api.call("GET", f"/api/v3/files/{infos[0]['id']}/get", token=token)
            assert file.status_code == 200 and file.content.decode().strip() == info_post["message"]


def test_fill_refuses_a_second_fill_of_the_same_names(filled):
    with pytest.raises(ValueError, match="already holds"):
        bulk.fill(filled, teams=1, users=1, channels_per_team=2, posts=0)
