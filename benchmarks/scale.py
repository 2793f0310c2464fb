"""Reads at 10^3, 10^5 and 10^6 posts: `mmv3 serve` filled by bulk.fill, and real 4.9 with the same data.

    python benchmarks/scale.py [--sizes small medium large] [--real http://127.0.0.1:8068]
                               [--real-sizes small medium] [--runs 3] [--seconds 5] [--out results.json]

For each size (small: 10^3 posts, 100 users, 3 teams; medium: 10^5 posts, 1,000 users, 21
teams; large: 10^6 posts, 10^4 users, 205 teams; 10 channels a team, 50 users a team as real
4.9's default MaxUsersPerTeam allows) it fills a throwaway SQLite file with
`mmv3.server.bulk.fill`, starts `mmv3 serve --no-rate-limit --bcrypt-cost 10` on it and, for
the sizes in --real-sizes, copies the same rows into the real server through its API (users,
teams, channels with their members, direct channels, posts with their threads and create_at;
not the reactions, file infos and preferences: a reaction moves its post's update_at to the
time of the copy on a real server, which would change what `since` answers). Then, per request
and alternating serve/real, it runs wrk (`-t2 -c16`, --seconds each, --runs times) and reports
the median req/s: the busiest channel's first page, since (the newest 60), before/after a post
in the middle of the channel, search ("kilo tango"), the team's channel list, member list and
user list, and all users. Also serve's memory (VmRSS after the runs, VmHWM) and database size.
Only 127.0.0.1 is loaded; the real server must have its rate limit off (:8068). With --keep DIR
the serve databases and what was copied into the real server are kept there, and a later run
with the same DIR measures them again without filling anything.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_throughput import lua_post, start_server, wrk  # noqa: E402

from mmv3.server import bulk  # noqa: E402

# At most 50 users a team (the first user is in every team): real 4.9's default MaxUsersPerTeam.
SIZES = {
    "small": {"teams": 3, "users": 100, "channels_per_team": 10, "posts": 1_000},
    "medium": {"teams": 21, "users": 1_000, "channels_per_team": 10, "posts": 100_000},
    "large": {"teams": 205, "users": 10_000, "channels_per_team": 10, "posts": 1_000_000},
}
REQUESTS = ("page", "since", "before", "after", "search", "channels", "team members", "team users", "users")


def _session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    return http


def _pick(db: Path) -> dict:
    """The busiest team channel, its team, a post in its middle and the time of its 60th newest post."""
    with sqlite3.connect(db) as conn:
        channel, team, total = conn.execute(
            "SELECT key, team_id, json_extract(doc, '$.total_msg_count') AS n FROM channels WHERE type != 'D' "
            "ORDER BY n DESC LIMIT 1"
        ).fetchone()
        live = conn.execute("SELECT count(*) FROM posts WHERE channel_id = ?", (channel,)).fetchone()[0]
        mid = conn.execute(
            "SELECT key FROM posts WHERE channel_id = ? ORDER BY create_at DESC LIMIT 1 OFFSET ?",
            (channel, live // 2),
        ).fetchone()[0]
        since = conn.execute(
            "SELECT create_at FROM posts WHERE channel_id = ? ORDER BY create_at DESC LIMIT 1 OFFSET 60",
            (channel,),
        ).fetchone()[0]
    return {"channel": channel, "team": team, "mid": mid, "since": since, "channel_posts": total}


def _requests(ids: dict) -> dict[str, tuple[str, str, dict | None]]:
    team = f"/api/v3/teams/{ids['team']}"
    channel = f"{team}/channels/{ids['channel']}"
    return {
        "page": ("GET", f"{channel}/posts/page/0/60", None),
        "since": ("GET", f"{channel}/posts/since/{ids['since']}", None),
        "before": ("GET", f"{channel}/posts/{ids['mid']}/before/0/60", None),
        "after": ("GET", f"{channel}/posts/{ids['mid']}/after/0/60", None),
        "search": ("POST", f"{team}/posts/search", {"terms": "kilo tango"}),
        "channels": ("GET", f"{team}/channels/", None),
        "team members": ("GET", f"{team}/members/0/100", None),
        "team users": ("GET", f"{team}/users/0/100", None),
        "users": ("GET", "/api/v3/users/0/100", None),
    }


def _script(method: str, path: str, body: dict | None, token: str) -> str:
    if method == "POST":
        return lua_post(path, body, token)
    return f'wrk.headers["Authorization"] = "Bearer {token}"\nwrk.path = "{path}"\n'


def _login(url: str, username: str) -> tuple[str, str]:
    response = _session().post(
        f"{url}/api/v3/users/login", json={"login_id": username, "password": bulk.PASSWORD}, timeout=60
    )
    response.raise_for_status()
    return response.headers["Token"], response.json()["id"]


# -- the same rows into a real server, through its API ---------------------------------------------
class Replay:
    """Copies a bulk-filled database into a real server: every name gets a run tag, ids are mapped."""

    def __init__(self, db: Path, url: str, workers: int = 8) -> None:
        self.conn = sqlite3.connect(db, check_same_thread=False)
        self.api = url.rstrip("/") + "/api/v3"
        self.tag = "r" + secrets.token_hex(2)
        self.workers = workers
        self.local = threading.local()
        self.user_ids: dict[str, str] = {}  # serve id -> real id
        self.tokens: dict[str, str] = {}  # serve user id -> real token
        self.team_ids: dict[str, str] = {}
        self.channel_ids: dict[str, str] = {}
        self.post_ids: dict[str, str] = {}

    def _http(self) -> requests.Session:
        if not hasattr(self.local, "http"):
            self.local.http = _session()
        return self.local.http

    def _call(self, method: str, path: str, token: str | None, body: object = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for attempt in range(3):
            response = self._http().request(method, self.api + path, json=body, headers=headers, timeout=120)
            if response.status_code == 200:
                return response.json() if response.content else {}
            if response.status_code < 500 or attempt == 2:
                raise RuntimeError(
                    f"real server: {method} {path} -> {response.status_code} {response.text[:200]}"
                )
        raise AssertionError("unreachable")

    def _pool(self, fn, items) -> list:
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(fn, items))

    def name(self, bulk_name: str) -> str:
        return bulk_name.replace("bulk-", f"{self.tag}-", 1)

    def run(self) -> float:
        began = time.monotonic()
        users = self.conn.execute("SELECT key, username FROM users ORDER BY rowid").fetchall()

        def create(row):
            uid, username = row
            name = self.name(username)
            body = {"username": name, "email": f"{name}@example.com", "password": bulk.PASSWORD}
            self.user_ids[uid] = self._call("POST", "/users/create", None, body)["id"]
            self._login(uid, name)

        self._pool(create, users)
        owner = users[0][0]
        teams = self.conn.execute(
            "SELECT key, json_extract(doc, '$.name') FROM teams ORDER BY rowid"
        ).fetchall()
        for tid, name in teams:
            made = self._call(
                "POST",
                "/teams/create",
                self.tokens[owner],
                {"name": self.name(name), "display_name": name, "type": "O"},
            )
            self.team_ids[tid] = made["id"]
        joins = self.conn.execute(
            "SELECT team_id, user_id FROM team_members WHERE user_id != ?", (owner,)
        ).fetchall()
        self._pool(
            lambda row: self._call(
                "POST", f"/teams/{self.team_ids[row[0]]}/add_user_to_team", self.tokens[owner],
                {"user_id": self.user_ids[row[1]]},
            ),
            joins,
        )  # fmt: skip
        channels = self.conn.execute("SELECT key, doc FROM channels ORDER BY rowid").fetchall()
        for cid, raw in channels:
            doc = json.loads(raw)
            if doc["type"] == "D":
                continue
            team = self.team_ids[doc["team_id"]]
            if doc["name"] in ("town-square", "off-topic"):
                self.channel_ids[cid] = self._call(
                    "GET", f"/teams/{team}/channels/name/{doc['name']}", self.tokens[owner]
                )["id"]
                continue
            body = {
                "team_id": team,
                "name": doc["name"],
                "display_name": doc["display_name"],
                "type": doc["type"],
            }
            self.channel_ids[cid] = self._call(
                "POST", f"/teams/{team}/channels/create", self.tokens[owner], body
            )["id"]
        members = self.conn.execute(
            "SELECT m.channel_id, m.user_id, c.team_id FROM channel_members m JOIN channels c ON c.key = m.channel_id "
            "WHERE c.type != 'D' AND c.name NOT IN ('town-square', 'off-topic') AND m.user_id != ?",
            (owner,),
        ).fetchall()
        self._pool(
            lambda row: self._call(
                "POST", f"/teams/{self.team_ids[row[2]]}/channels/{self.channel_ids[row[0]]}/add",
                self.tokens[owner], {"user_id": self.user_ids[row[1]]},
            ),
            members,
        )  # fmt: skip
        # 4.9 keeps a session's team memberships from its login: log in again after the joins.
        self._pool(lambda row: self._login(row[0], self.name(row[1])), users)
        any_team = next(iter(self.team_ids.values()))
        self.home = dict(self.conn.execute("SELECT user_id, team_id FROM team_members").fetchall())
        for cid, raw in channels:
            doc = json.loads(raw)
            if doc["type"] != "D":
                continue
            a, b = self.conn.execute(
                "SELECT user_id FROM channel_members WHERE channel_id = ?", (cid,)
            ).fetchall()
            made = self._call(
                "POST",
                f"/teams/{self.team_ids[self.home[a[0]]]}/channels/create_direct",
                self.tokens[a[0]],
                {"user_id": self.user_ids[b[0]]},
            )
            self.channel_ids[cid] = made["id"]
        team_of = {cid: json.loads(raw).get("team_id") or "" for cid, raw in channels}
        for replies in (False, True):  # roots first: a reply needs its root
            rows = self.conn.execute(
                "SELECT key, doc FROM posts WHERE (root_id != '') = ? ORDER BY create_at", (replies,)
            ).fetchall()
            self._pool(lambda row: self._post(row, team_of, any_team), rows)
        return time.monotonic() - began

    def _login(self, uid: str, name: str) -> None:
        response = self._http().post(
            self.api + "/users/login", json={"login_id": name, "password": bulk.PASSWORD}, timeout=120
        )
        response.raise_for_status()
        self.tokens[uid] = response.headers["Token"]

    def _post(self, row, team_of: dict[str, str], any_team: str) -> None:
        key, raw = row
        doc = json.loads(raw)
        team = self.team_ids.get(team_of[doc["channel_id"]]) or self.team_ids[self.home[doc["user_id"]]]
        channel = self.channel_ids[doc["channel_id"]]
        body = {"channel_id": channel, "message": doc["message"], "create_at": doc["create_at"]}
        if doc["root_id"]:
            body["root_id"] = body["parent_id"] = self.post_ids[doc["root_id"]]
        made = self._call(
            "POST", f"/teams/{team}/channels/{channel}/posts/create", self.tokens[doc["user_id"]], body
        )
        self.post_ids[key] = made["id"]

    def ids(self, picked: dict) -> dict:
        return {
            "team": self.team_ids[picked["team"]],
            "channel": self.channel_ids[picked["channel"]],
            "mid": self.post_ids[picked["mid"]],
            "since": picked["since"],
        }


# -- measuring ------------------------------------------------------------------------------------------
def _memory(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def _db_size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) // (1024 * 1024)


def measure_size(size: str, args, tmp: Path) -> dict:
    spec = SIZES[size]
    db = tmp / "bench.db"
    state_file = tmp / "real.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    result: dict = {"size": size, **spec}
    if not (db.exists() and args.keep):
        began = time.monotonic()
        bulk.fill(db, **spec)
        result["serve_fill_s"] = round(time.monotonic() - began, 1)
    picked = _pick(db)
    result["channel_posts"] = picked["channel_posts"]
    targets = {}
    proc, url = start_server(tmp)
    try:
        token, _ = _login(url, f"{bulk.USER_PREFIX}0")
        targets["serve"] = (url, token, _requests(picked))
        if args.real and size in args.real_sizes:
            if not state:
                replay = Replay(db, args.real)
                result["real_fill_s"] = round(replay.run(), 1)
                state = {"user": replay.name(f"{bulk.USER_PREFIX}0"), "ids": replay.ids(picked)}
                if args.keep:
                    state_file.write_text(json.dumps(state))
            real_token, _ = _login(args.real, state["user"])
            targets["real"] = (args.real, real_token, _requests(state["ids"]))
        rates: dict[str, dict[str, list[float]]] = {name: {} for name in targets}
        for request in REQUESTS:
            for _ in range(args.runs):
                for name, (target, tok, reqs) in targets.items():
                    method, path, body = reqs[request]
                    rate = wrk(target, _script(method, path, body, tok), args.seconds, args.connections, tmp)
                    rates[name].setdefault(request, []).append(rate)
                    # A slow request's queries outlive wrk's end on the server: let them finish
                    # before the other server is measured (a pause, not a synchronisation).
                    time.sleep(args.settle)
            line = "  ".join(f"{n} {statistics.median(rates[n][request]):8.1f}" for n in targets)
            print(f"{size:6} {request:13} {line}", flush=True)
        result["rates"] = rates
        result["serve_memory_mb"] = _memory(proc.pid)
        result["serve_db_mb"] = _db_size(db)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return result


def markdown(results: list[dict]) -> str:
    """One row per request: serve and real (medians) and serve / real, a column group per size."""
    sizes = [r for r in results if "rates" in r]
    head = "| request | " + " | ".join(
        f"{r['size']} ({r['posts']:,} posts): serve / real / ratio" for r in sizes
    )
    lines = [head + " |", "|---" * (1 + len(sizes)) + "|"]
    for request in REQUESTS:
        cells = []
        for r in sizes:
            serve = statistics.median(r["rates"]["serve"][request])
            real = r["rates"].get("real", {}).get(request)
            if real:
                real_median = statistics.median(real)
                cells.append(f"{serve:,.0f} / {real_median:,.0f} / {serve / real_median:.2f}×")
            else:
                cells.append(f"{serve:,.0f} / – / –")
        lines.append(f"| {request} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument(
        "--real", default="", help="a real server without rate limit, e.g. http://127.0.0.1:8068"
    )
    parser.add_argument("--real-sizes", nargs="+", default=["small", "medium"], choices=list(SIZES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of rest after each wrk run")
    parser.add_argument(
        "--table", type=Path, nargs="+", help="print the table of earlier --out files and stop"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep (and reuse) the filled data in this directory"
    )
    args = parser.parse_args()
    if args.table:
        print(markdown([r for path in args.table for r in json.loads(path.read_text())]))
        return
    if args.real and not args.real.startswith(("http://127.0.0.1:", "http://localhost:")):
        sys.exit("scale: only 127.0.0.1 may be loaded")
    results = []
    for size in args.sizes:
        if args.keep:  # the filled databases (and what was copied into the real server) kept for the next run
            (args.keep / size).mkdir(parents=True, exist_ok=True)
            results.append(measure_size(size, args, args.keep / size))
        else:
            with tempfile.TemporaryDirectory(prefix="mmv3-scale-") as tmp:
                results.append(measure_size(size, args, Path(tmp)))
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
