"""Every query the v3 read routes run on a big installation reads through an index.

A database of 10^5 posts and 2,000 users (bulk.fill) is served; each listed route is requested
once with SQLite tracing on, and each statement it ran is shown to SQLite's planner (EXPLAIN
QUERY PLAN). No statement may scan a big table (over 1,000 rows) from end to end: the cost of a
read must follow its answer, not the table. Routes whose answer is a whole table (all teams, all
statuses) are left out, as their full scan is the answer.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from mmv3.server import bulk
from mmv3.server.runner import running_server

from .api import Api

BIG = 1000  # rows: a table at least this long must not be scanned whole


@pytest.fixture(scope="module")
def installation(tmp_path_factory) -> dict:
    db = tmp_path_factory.mktemp("plans") / "serve.db"
    bulk.fill(db, teams=4, users=2000, channels_per_team=10, posts=100_000, seed=11)
    with sqlite3.connect(db) as conn:
        channel_id, team_id = conn.execute(
            "SELECT key, team_id FROM channels WHERE type != 'D' "
            "ORDER BY json_extract(doc, '$.total_msg_count') DESC LIMIT 1"
        ).fetchone()
        post_id = conn.execute(
            "SELECT key FROM posts WHERE channel_id = ? AND root_id = '' ORDER BY create_at DESC LIMIT 1 OFFSET 300",
            (channel_id,),
        ).fetchone()[0]
        since = conn.execute(
            "SELECT create_at FROM posts WHERE channel_id = ? ORDER BY create_at DESC LIMIT 1 OFFSET 60",
            (channel_id,),
        ).fetchone()[0]
        big = {
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith(("posts_fts", "sqlite_"))
            and conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] > BIG
        }
    assert {"posts", "users", "channel_members", "team_members", "preferences", "reactions"} <= big
    return {"db": db, "channel": channel_id, "team": team_id, "post": post_id, "since": since, "big": big}


def _routes(ids: dict, user_id: str) -> list[tuple[str, str, object]]:
    team = f"/api/v3/teams/{ids['team']}"
    channel = f"{team}/channels/{ids['channel']}"
    post = f"{channel}/posts/{ids['post']}"
    return [
        ("GET", f"{channel}/posts/page/0/60", None),
        ("GET", f"{channel}/posts/page/60/60", None),
        ("GET", f"{channel}/posts/since/{ids['since']}", None),
        ("GET", f"{post}/before/0/60", None),
        ("GET", f"{post}/after/0/60", None),
        ("GET", f"{post}/get", None),
        ("GET", f"{post}/get_file_infos", None),
        ("GET", f"{post}/reactions", None),
        ("GET", f"{channel}/pinned", None),
        ("GET", f"{channel}/", None),
        ("GET", f"{channel}/stats", None),
        ("GET", f"{channel}/users/0/100", None),
        ("GET", f"{channel}/members/{user_id}", None),
        ("GET", f"{team}/channels/", None),
        ("GET", f"{team}/channels/counts", None),
        ("GET", f"{team}/channels/members", None),
        ("GET", f"{team}/channels/more/0/50", None),
        ("GET", f"{team}/members/0/100", None),
        ("GET", f"{team}/members/{user_id}", None),
        ("GET", f"{team}/stats", None),
        ("GET", f"{team}/users/0/100", None),
        ("GET", f"{team}/posts/flagged/0/60", None),
        ("POST", f"{team}/posts/search", {"terms": "kilo tango"}),
        ("POST", f"{team}/posts/search", {"terms": "#release"}),
        ("POST", f"{team}/posts/search", {"terms": f"from:{bulk.USER_PREFIX}1"}),
        ("GET", "/api/v3/users/0/100", None),
        ("GET", "/api/v3/users/me", None),
        ("GET", f"/api/v3/users/{user_id}/get", None),
        ("GET", f"/api/v3/users/name/{bulk.USER_PREFIX}5", None),
        ("GET", f"/api/v3/users/{user_id}/sessions", None),
        ("GET", f"/api/v3/users/{user_id}/audits", None),
        ("POST", "/api/v3/users/ids", [user_id]),
        ("GET", "/api/v3/users/initial_load", None),
        ("GET", "/api/v3/teams/members", None),
        ("GET", "/api/v3/teams/unread", None),
        ("GET", "/api/v3/preferences/", None),
        ("GET", "/api/v3/preferences/direct_channel_show", None),
    ]


def _full_scans(conn: sqlite3.Connection, sql: str, big: set[str]) -> list[str]:
    found = []
    for *_, detail in conn.execute("EXPLAIN QUERY PLAN " + sql):
        match = re.match(r"SCAN (\w+)", detail)
        if match and match.group(1) in big and "USING" not in detail:
            found.append(detail)
    return found


def test_no_listed_route_scans_a_big_table(installation):
    with running_server(db=str(installation["db"])) as server:
        api = Api(server.url)
        login = api.call(
            "POST", "/api/v3/users/login", {"login_id": f"{bulk.USER_PREFIX}0", "password": bulk.PASSWORD}
        )
        assert login.status_code == 200, login.text
        token, user_id = login.headers["Token"], login.json()["id"]
        statements: list[str] = []
        conn = server.app.store._conn
        conn.set_trace_callback(statements.append)
        planner = sqlite3.connect(installation["db"])
        problems, traced = [], 0
        try:
            for method, path, body in _routes(installation, user_id):
                statements.clear()
                response = api.call(method, path, body, token=token)
                assert response.status_code == 200, (path, response.status_code, response.text[:200])
                for sql in dict.fromkeys(statements):
                    if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                        continue
                    traced += 1
                    for scan in _full_scans(planner, sql, installation["big"]):
                        problems.append(f"{method} {path}: {scan} in {sql[:160]}")
        finally:
            conn.set_trace_callback(None)
            planner.close()
    assert traced > 50, "the routes ran too few queries to judge"
    assert problems == []


def test_the_check_sees_a_full_scan(installation):
    with sqlite3.connect(installation["db"]) as conn:
        scans = _full_scans(
            conn, "SELECT doc FROM posts WHERE json_extract(doc, '$.message') = 'x'", {"posts"}
        )
        assert scans and _full_scans(conn, "SELECT doc FROM posts WHERE channel_id = 'x'", {"posts"}) == []
