"""Bulk data written straight into `mmv3 serve`'s SQLite file: the fast path of `mmv3 seed`.

`fill` writes the rows the API would write for teams (with town-square and off-topic), users
with their team and channel memberships, open, private and direct channels, posts with
threads, hashtags, reactions and file infos (their bytes in the data directory beside the
database), and preferences, without an HTTP request or a per-row transaction: rows go in with
`executemany`, one transaction per batch, and the store's triggers keep the search index in
step. It is meant for a database no server has open.

Passwords: bcrypt at cost 10 takes ~70 ms a hash, so 10^4 users would take minutes on hashing
alone. `fill` hashes `PASSWORD` once and gives every user the same hash; every bulk user logs
in with `PASSWORD`.

What the API writes and `fill` does not: the "joined the team" system posts of each join, and
sessions, statuses and audits (they come from logins and requests). The data is the same for
the same `seed` except ids and times.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mmv3.server import bcrypt_hash, channels, posts
from mmv3.server.accounts import default_notify_props, default_timezone
from mmv3.server.files import mime_type_for
from mmv3.server.memberships import DEFAULT_CHANNELS, DEFAULT_NOTIFY_PROPS
from mmv3.server.store import TABLES, Store, register_functions

PASSWORD = "BulkPass123!"
BCRYPT_COST = 10
BATCH = 20_000  # rows per transaction
USER_PREFIX = "bulk-user-"
TEAM_PREFIX = "bulk-team-"
REPLY_SHARE = 0.2  # posts that answer a recent thread of their channel
REACTION_SHARE = 0.05
FILE_SHARE = 0.01
FLAG_SHARE = 0.002
DIRECT_SHARE = 0.1  # direct channels per user
DIRECT_POST_SHARE = 0.05  # posts that go to direct channels
EMOJI = ("smile", "+1", "heart", "tada", "eyes")
WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar "
    "papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu deploy release build "
    "review meeting lunch coffee server client database query index cache latency running runs "
    "tested testing bug fix ticket customer report dashboard metrics alert on call weekend"
).split()
HASHTAGS = ("#release", "#incident", "#standup", "#design", "#perf")

_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = tuple(range(120, -1, -10))
_JSON = json.JSONEncoder(separators=(",", ":"))


def _ids(rng: random.Random) -> Callable[[], str]:
    """Mattermost-shaped ids (26 characters of its base32) from the seeded generator."""

    def new_id() -> str:
        bits = rng.getrandbits(128) << 2
        return "".join([_PAIRS[(bits >> shift) & 1023] for shift in _SHIFTS])

    return new_id


class _Writer:
    """Rows of each table buffered and written with executemany, a transaction per batch."""

    def __init__(self, conn: sqlite3.Connection, progress: Callable[[str, int], None] | None) -> None:
        self.conn = conn
        self.rows: dict[str, list[list[Any]]] = {}
        self.counts: dict[str, int] = {}
        self.progress = progress

    def add(self, table: str, key: str, doc: dict[str, Any]) -> None:
        rows = self.rows.setdefault(table, [])
        rows.append([key, _JSON.encode(doc), *(doc.get(c) for c in TABLES[table])])
        if len(rows) >= BATCH:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for name in [table] if table else list(self.rows):
            rows = self.rows.get(name)
            if not rows:
                continue
            columns = ("key", "doc", *TABLES[name])
            sql = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            self.conn.execute("BEGIN")
            try:
                self.conn.executemany(sql, rows)
            except sqlite3.IntegrityError as exc:
                self.conn.execute("ROLLBACK")
                raise ValueError(f"bulk fill: {name} already holds a row it would write ({exc})") from None
            self.conn.execute("COMMIT")
            self.counts[name] = self.counts.get(name, 0) + len(rows)
            rows.clear()
            if self.progress is not None:
                self.progress(name, self.counts[name])


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def message(rng: random.Random) -> str:
    """A short chat message: 4-12 words, sometimes a hashtag."""
    text = _words(rng, rng.randint(4, 12))
    if rng.random() < 0.05:
        text += " " + rng.choice(HASHTAGS)
    return text


def fill(
    database: Path,
    *,
    teams: int,
    users: int,
    channels_per_team: int,
    posts: int,
    seed: int = 4049,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write a whole installation into `database` (created if missing; no server may have it
    open) and return the rows written per table. `channels_per_team` counts every open and
    private channel of a team, town-square and off-topic included (at least 2). `progress`, when
    given, is called as `progress(table, rows of that table written so far)` after each batch.
    Raises ValueError for impossible sizes or a database that already holds bulk data."""
    if teams < 1 or users < 1 or channels_per_team < 2 or posts < 0:
        raise ValueError("bulk fill: needs teams >= 1, users >= 1, channels_per_team >= 2, posts >= 0")
    Store(str(database)).close()  # the schema, indexes and search triggers, as serve makes them
    conn = sqlite3.connect(str(database), isolation_level=None)
    register_functions(conn)  # the search index's trigger
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA recursive_triggers=ON")
        first_user = conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0
        taken = conn.execute(
            "SELECT 1 FROM users WHERE username = ? UNION SELECT 1 FROM teams WHERE name = ?",
            (f"{USER_PREFIX}0", f"{TEAM_PREFIX}0"),
        ).fetchone()
        if taken:
            raise ValueError(
                f"bulk fill: {database} already holds bulk data ({USER_PREFIX}0 or {TEAM_PREFIX}0)"
            )
        writer = _Writer(conn, progress)
        _Fill(writer, Path(database), random.Random(seed), first_user).run(
            teams, users, channels_per_team, posts
        )
        writer.flush()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return dict(writer.counts)


class _Fill:
    def __init__(self, writer: _Writer, database: Path, rng: random.Random, first_user: bool) -> None:
        self.w = writer
        self.rng = rng
        self.new_id = _ids(random.Random(rng.getrandbits(64)))
        self.data_dir = database.parent / "data"
        self.first_user = first_user
        self.now = int(time.time() * 1000)

    def run(self, teams: int, users: int, channels_per_team: int, post_count: int) -> None:
        start = self.now - (post_count + 1000) * 1000  # a post a second, ending about now
        user_ids = self._users(users, start)
        team_members = self._teams(teams, user_ids, start)
        channel_list = self._channels(team_members, channels_per_team, start)
        channel_list += self._directs(user_ids, start)
        self._posts(channel_list, post_count, start + 1000)

    # -- accounts --------------------------------------------------------------------------
    def _users(self, count: int, start: int) -> list[str]:
        password = bcrypt_hash.hashpw(PASSWORD.encode(), BCRYPT_COST)  # once, for every user
        ids = []
        for i in range(count):
            uid, username = self.new_id(), f"{USER_PREFIX}{i}"
            roles = "system_admin system_user" if i == 0 and self.first_user else "system_user"
            user = {
                "id": uid, "create_at": start, "update_at": start, "delete_at": 0, "username": username,
                "password": password, "auth_data": "", "auth_service": "", "email": f"{username}@example.com",
                "nickname": "", "first_name": f"First{i}", "last_name": f"Last{i}", "position": "",
                "roles": roles, "notify_props": default_notify_props(username), "last_password_update": start,
                "locale": "en", "timezone": default_timezone(),
            }  # fmt: skip
            self.w.add("users", uid, user)
            self._preference(uid, "tutorial_step", uid, "0")
            ids.append(uid)
        return ids

    def _preference(self, user_id: str, category: str, name: str, value: str) -> None:
        doc = {"user_id": user_id, "category": category, "name": name, "value": value}
        self.w.add("preferences", f"{user_id}:{category}:{name}", doc)

    def _teams(self, count: int, user_ids: list[str], start: int) -> list[tuple[str, list[str]]]:
        """Each user joins one team (user i team i % count); the first user joins all as team admin."""
        made = []
        for t in range(count):
            tid, name = self.new_id(), f"{TEAM_PREFIX}{t}"
            team = {
                "id": tid, "create_at": start, "update_at": start, "delete_at": 0,
                "display_name": f"Bulk Team {t}", "name": name, "description": "",
                "email": f"{USER_PREFIX}0@example.com", "type": "O", "company_name": "", "allowed_domains": "",
                "invite_id": self.new_id(), "allow_open_invite": t % 2 == 0,
            }  # fmt: skip
            self.w.add("teams", tid, team)
            members = [user_ids[0]] + [u for i, u in enumerate(user_ids) if i and i % count == t]
            for uid in members:
                roles = "team_user team_admin" if uid == user_ids[0] else "team_user"
                doc = {"team_id": tid, "user_id": uid, "roles": roles, "delete_at": 0}
                self.w.add("team_members", f"{tid}:{uid}", doc)
            made.append((tid, members))
        return made

    def _member(self, channel_id: str, user_id: str, roles: str, when: int) -> None:
        doc = {
            "channel_id": channel_id, "user_id": user_id, "roles": roles, "last_viewed_at": 0,
            "msg_count": 0, "mention_count": 0, "notify_props": dict(DEFAULT_NOTIFY_PROPS), "last_update_at": when,
        }  # fmt: skip
        self.w.add("channel_members", f"{channel_id}:{user_id}", doc)

    def _channels(
        self, team_members: list[tuple[str, list[str]]], per_team: int, start: int
    ) -> list[dict[str, Any]]:
        """Town-square and off-topic with every team member; the others open (one in four
        private) with a third of the team, the team's first user (their creator) always."""
        made = []
        for tid, members in team_members:
            for k in range(per_team):
                if k < len(DEFAULT_CHANNELS):
                    name, display = DEFAULT_CHANNELS[k]
                    kind, creator, joined = "O", "", members
                else:
                    name, display = f"channel-{k}", f"Channel {k}"
                    kind = channels.PRIVATE if k % 4 == 3 else channels.OPEN
                    creator = members[0]
                    joined = [members[0]] + [u for i, u in enumerate(members) if i and (i + k) % 3 == 0]
                channel = channels.new(
                    id=self.new_id(), create_at=start, update_at=start, extra_update_at=start, team_id=tid,
                    type=kind, display_name=display, name=name, creator_id=creator,
                )  # fmt: skip
                for uid in joined:
                    admin = uid == members[0] and (creator or k < len(DEFAULT_CHANNELS))
                    self._member(
                        channel["id"], uid, "channel_user channel_admin" if admin else "channel_user", start
                    )
                made.append({"doc": channel, "members": joined})
        return made

    def _directs(self, user_ids: list[str], start: int) -> list[dict[str, Any]]:
        made, seen = [], set()
        for _ in range(int(len(user_ids) * DIRECT_SHARE) if len(user_ids) > 1 else 0):
            a, b = self.rng.sample(user_ids, 2)
            name = channels.direct_name(a, b)
            if name in seen:
                continue
            seen.add(name)
            channel = channels.new(
                id=self.new_id(), create_at=start, update_at=start, extra_update_at=start,
                type=channels.DIRECT, name=name,
            )  # fmt: skip
            for me, other in ((a, b), (b, a)):
                self._member(channel["id"], me, "channel_user", start)
                self._preference(me, "direct_channel_show", other, "true")
            made.append({"doc": channel, "members": [a, b]})
        return made

    # -- posts -----------------------------------------------------------------------------
    def _plan(self, channel_list: list[dict[str, Any]], count: int) -> Iterator[tuple[int, int, int]]:
        """(channel index, author index among its members, index of the root or -1) per post, in
        time order: team channels by a Zipf-like weight (the first channels busiest), direct
        channels a share of the posts; a fifth of the posts answer one of their channel's last
        twenty threads."""
        team = [i for i, c in enumerate(channel_list) if c["doc"]["type"] != channels.DIRECT]
        direct = [i for i, c in enumerate(channel_list) if c["doc"]["type"] == channels.DIRECT]
        weights = [1 / (rank + 1) for rank in range(len(team))]
        order = list(team)
        self.rng.shuffle(order)
        picks = self.rng.choices(order, weights=weights, k=count)
        recent: dict[int, list[int]] = {}
        rng = self.rng
        for n in range(count):
            ch = rng.choice(direct) if direct and rng.random() < DIRECT_POST_SHARE else picks[n]
            author = rng.randrange(len(channel_list[ch]["members"]))
            roots = recent.setdefault(ch, [])
            if roots and rng.random() < REPLY_SHARE:
                yield ch, author, rng.choice(roots)
            else:
                roots.append(n)
                if len(roots) > 20:
                    del roots[0]
                yield ch, author, -1

    def _posts(self, channel_list: list[dict[str, Any]], count: int, start: int) -> None:
        plan = list(self._plan(channel_list, count))
        last_reply = {}  # root index -> index of its last reply: the root's update_at
        for n, (_, _, root) in enumerate(plan):
            if root >= 0:
                last_reply[root] = n
        root_ids: dict[int, str] = {}
        rng = self.rng
        for n, (ch, author_index, root) in enumerate(plan):
            channel = channel_list[ch]["doc"]
            author = channel_list[ch]["members"][author_index]
            pid, created = self.new_id(), start + n * 1000
            updated = start + last_reply[n] * 1000 if n in last_reply else created
            text = message(rng)
            post = posts.new_post(
                author, channel["id"], text, id=pid, create_at=created, update_at=updated,
                hashtags=posts.parse_hashtags(text) if "#" in text else "",
            )  # fmt: skip
            if root >= 0:
                post["root_id"] = post["parent_id"] = root_ids[root]
            elif n in last_reply:
                root_ids[n] = pid
            roll = rng.random()
            if roll < REACTION_SHARE:
                self._reaction(post, channel_list[ch]["members"])
            elif roll < REACTION_SHARE + FILE_SHARE:
                self._file(post, channel)
            elif roll < REACTION_SHARE + FILE_SHARE + FLAG_SHARE:
                self._preference(author, posts.FLAGGED_CATEGORY, pid, "true")
            self.w.add("posts", pid, post)
            channel["total_msg_count"] += 1
            channel["last_post_at"] = max(channel["last_post_at"], post["update_at"])
        for entry in channel_list:
            self.w.add("channels", entry["doc"]["id"], entry["doc"])

    def _reaction(self, post: dict[str, Any], members: list[str]) -> None:
        when = post["create_at"] + 500
        user_id = self.rng.choice(members)
        emoji = self.rng.choice(EMOJI)
        doc = {"user_id": user_id, "post_id": post["id"], "emoji_name": emoji, "create_at": when}
        self.w.add("reactions", f"{post['id']}:{user_id}:{emoji}", doc)
        post["has_reactions"] = True
        post["update_at"] = max(post["update_at"], when)

    def _file(self, post: dict[str, Any], channel: dict[str, Any]) -> None:
        fid, when = self.new_id(), post["create_at"]
        name = f"notes-{fid[:6]}.txt"
        data = f"{post['message']}\n".encode()
        day = time.strftime("%Y%m%d", time.gmtime(when / 1000))
        path = "/".join((day, "teams", channel["team_id"] or "noteam", "channels", channel["id"], "users",
                         post["user_id"], fid, name))  # fmt: skip
        target = self.data_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        info = {
            "id": fid, "user_id": post["user_id"], "create_at": when, "update_at": when, "delete_at": 0,
            "name": name, "extension": "txt", "size": len(data), "mime_type": mime_type_for(name), "path": path,
            "post_id": post["id"],
        }  # fmt: skip
        self.w.add("file_infos", fid, info)
        post["file_ids"] = [fid]
