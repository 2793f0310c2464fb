"""The reference server's storage: SQLite in WAL mode, one JSON document per row.

Each table keeps its model documents whole (as the API returns them before sanitising)
plus a few extracted columns to look them up and order them by. One connection serves
every thread behind a lock: SQLite serialises writers anyway, and one connection means
no "database is locked" under concurrent load.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmv3.server import lexemes
from mmv3.server.post_cache import PostCache

SCHEMA_VERSION = 1

# table -> indexed columns taken from the document (the key is separate).
TABLES: dict[str, tuple[str, ...]] = {
    "users": ("username", "email", "create_at", "update_at", "delete_at"),
    "sessions": ("token", "user_id"),
    "teams": ("name", "invite_id"),
    "team_members": ("team_id", "user_id", "delete_at"),
    "channels": ("team_id", "name", "type"),
    "channel_members": ("channel_id", "user_id"),
    "posts": ("channel_id", "root_id", "create_at", "user_id", "update_at", "delete_at", "is_pinned"),
    "preferences": ("user_id", "category", "name"),
    "statuses": ("user_id",),
    "audits": ("user_id", "create_at"),
    "reactions": ("post_id", "user_id"),
    "file_infos": ("post_id", "user_id"),
    "commands": ("team_id", "trigger"),
    "incoming_webhooks": ("team_id", "channel_id"),
    "outgoing_webhooks": ("team_id", "channel_id"),
    "webhook_deliveries": ("hook_id", "create_at"),  # outgoing hook firings: recorded, never sent
    "oauth_apps": ("creator_id",),
    "oauth_grants": ("user_id", "client_id"),
    "emoji": ("name", "creator_id"),
    "compliances": ("create_at",),
    "tokens": ("type",),
    "system": (),
}


class _TableSQL:
    """The statements of one table, written once rather than formatted on every call."""

    def __init__(self, table: str, columns: tuple[str, ...]) -> None:
        names = ", ".join(("key", "doc", *columns))
        row = f"({names}) VALUES ({', '.join('?' * (2 + len(columns)))})"
        self.insert = f"INSERT INTO {table} {row}"
        self.replace = f"INSERT OR REPLACE INTO {table} {row}"
        self.get = f"SELECT doc FROM {table} WHERE key = ?"
        # Same statement find() builds for one equality and limit 1 (no ORDER BY: same row).
        self.find_one = {c: f"SELECT doc FROM {table} WHERE {c} = ? LIMIT 1" for c in columns}


# table -> indexes over several columns, for the reads whose cost must follow the answer, not the
# table: a channel's page, window and pinned posts (live ones, by time), its etag (newest change),
# the posts changed since a time, a thread's replies; a user's memberships and preferences.
COMPOSITE_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "posts": (
        ("channel_id", "delete_at", "create_at"),
        ("channel_id", "update_at"),
        ("channel_id", "is_pinned", "delete_at", "create_at"),
        ("root_id", "delete_at"),
    ),
    "channel_members": (("user_id", "channel_id"),),
    "team_members": (("user_id", "team_id"),),
    "preferences": (("user_id", "category", "name"),),
    "reactions": (("post_id", "user_id"),),
    "audits": (("user_id", "create_at"),),
}
_COMPARISONS = frozenset({"<", "<=", ">", ">="})

_SQL = {table: _TableSQL(table, columns) for table, columns in TABLES.items()}
_JSON = json.JSONEncoder(separators=(",", ":"))  # made once: json.dumps builds an encoder per call


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions the schema's triggers call: every connection that writes posts needs them."""
    conn.create_function("mm_lexemes", 1, lexemes.lexemes, deterministic=True)


class StoreError(Exception):
    """The database file cannot be opened or is of a newer schema (one-line message)."""


class Conflict(Exception):
    """An insert whose key already exists."""


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Room for every statement the server runs: a statement prepared again costs more than the query.
            self._conn = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, cached_statements=1024
            )
            # A new file gets 1 KiB pages (a no-op on an existing one): every write copies each page it
            # touches (a table and its indexes) into the WAL, and the documents are small.
            self._conn.execute("PRAGMA page_size=1024")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints (with their fsync) run inside a commit and hold up every request meanwhile:
            # let the WAL grow to ~10 MB between them rather than 1000 pages.
            self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        register_functions(self._conn)
        self._lock = threading.RLock()
        self._depth = 0
        self.post_cache = PostCache()  # dropped per channel on every write to its posts, below
        self._migrate()

    # -- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.transaction():
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema version {current}, newer than this mmv3 ({SCHEMA_VERSION})"
                )
            for table, columns in TABLES.items():
                cols = "".join(f", {c}" for c in columns)
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, doc TEXT NOT NULL{cols})"
                )
                # A file written by an older mmv3 may lack a newer lookup column: add and backfill it.
                present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column not in present:
                        self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
                        self._conn.execute(f"UPDATE {table} SET {column} = json_extract(doc, '$.{column}')")
                for column in columns:
                    self._conn.execute(
                        f"CREATE INDEX IF NOT EXISTS ix_{table}_{column} ON {table} ({column})"
                    )
                for index in COMPOSITE_INDEXES.get(table, ()):
                    self._conn.execute(
                        f"CREATE INDEX IF NOT EXISTS ix_{table}_{'_'.join(index)} ON {table} ({', '.join(index)})"
                    )
            self._full_text()
            if current < SCHEMA_VERSION:
                self._conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _full_text(self) -> None:
        """posts_fts: an FTS5 index of the post messages' search words (`lexemes`: stemmed, stop
        words dropped, as PostgreSQL's english configuration), kept in step with `posts` by
        triggers (a REPLACE deletes the old row: recursive_triggers makes that fire the delete
        trigger). A file whose index holds plain words (older mmv3) gets it rebuilt."""
        self._conn.execute("PRAGMA recursive_triggers = ON")
        row = self._conn.execute("SELECT sql FROM sqlite_master WHERE name = 'posts_fts'").fetchone()
        if row is not None and "lexemes" not in row[0]:
            for trigger in ("posts_fts_insert", "posts_fts_delete", "posts_fts_update"):
                self._conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            self._conn.execute("DROP TABLE posts_fts")
            row = None
        self._conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING "
            "fts5(lexemes, tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")"
        )
        words = "mm_lexemes(json_extract(new.doc, '$.message'))"
        self._conn.execute(
            "CREATE TRIGGER IF NOT EXISTS posts_fts_insert AFTER INSERT ON posts BEGIN "
            f"INSERT INTO posts_fts (rowid, lexemes) VALUES (new.rowid, {words}); END"
        )
        self._conn.execute(
            "CREATE TRIGGER IF NOT EXISTS posts_fts_delete AFTER DELETE ON posts BEGIN "
            "DELETE FROM posts_fts WHERE rowid = old.rowid; END"
        )
        self._conn.execute(
            "CREATE TRIGGER IF NOT EXISTS posts_fts_update AFTER UPDATE ON posts BEGIN "
            f"DELETE FROM posts_fts WHERE rowid = old.rowid; "
            f"INSERT INTO posts_fts (rowid, lexemes) VALUES (new.rowid, {words}); END"
        )
        if row is None:  # a file written before this index existed
            self._conn.execute(
                "INSERT INTO posts_fts (rowid, lexemes) "
                "SELECT rowid, mm_lexemes(json_extract(doc, '$.message')) FROM posts"
            )

    def posts_matching(
        self, fts_query: str, channel_ids: list[str], batch: int = 200
    ) -> Iterator[dict[str, Any]]:
        """Live posts of `channel_ids` whose search words match the FTS5 query (every post for ""),
        newest first, read a batch at a time (a search stops at its 100th hit)."""
        if not channel_ids:
            return
        marks = ", ".join("?" * len(channel_ids))
        match = "rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?) AND " if fts_query else ""
        sql = (
            f"SELECT doc FROM posts WHERE {match}channel_id IN ({marks}) AND delete_at = 0 "
            "ORDER BY create_at DESC, rowid DESC LIMIT ? OFFSET ?"
        )
        head = [fts_query] if fts_query else []
        offset = 0
        while True:
            with self._lock:
                rows = self._conn.execute(sql, [*head, *channel_ids, batch, offset]).fetchall()
            yield from (json.loads(row[0]) for row in rows)
            if len(rows) < batch:
                return
            offset += batch

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Serialise a group of reads and writes; nested use joins the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                    self.post_cache.changed(None)  # reads in the transaction may have seen its writes
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- documents ------------------------------------------------------------------------
    def _row(self, table: str, key: str, doc: dict[str, Any]) -> list[Any]:
        return [key, _JSON.encode(doc), *(doc.get(c) for c in TABLES[table])]

    def insert(self, table: str, key: str, doc: dict[str, Any]) -> dict[str, Any]:
        values = self._row(table, key, doc)
        with self._lock:
            try:
                self._conn.execute(_SQL[table].insert, values)
            except sqlite3.IntegrityError:
                raise Conflict(f"{table}:{key}") from None
            if table == "posts":
                self.post_cache.changed(doc.get("channel_id"))
        return doc

    def put(self, table: str, key: str, doc: dict[str, Any]) -> dict[str, Any]:
        values = self._row(table, key, doc)
        with self._lock:
            self._conn.execute(_SQL[table].replace, values)
            if table == "posts":
                self.post_cache.changed(doc.get("channel_id"))
        return doc

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(_SQL[table].get, (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, table: str, key: str) -> bool:
        with self._lock:
            if table == "posts":
                self.post_cache.changed(None)
            return self._conn.execute(f"DELETE FROM {table} WHERE key = ?", (key,)).rowcount > 0

    def _where(
        self, table: str, eq: dict[str, Any], compare: tuple[tuple[str, str, Any], ...] = ()
    ) -> tuple[str, list[Any]]:
        clauses, values = [], []
        for column, op, value in compare:
            if column not in TABLES[table] or op not in _COMPARISONS:
                raise KeyError(f"{table}: cannot compare {column} {op}")
            clauses.append(f"{column} {op} ?")
            values.append(value)
        for column, value in eq.items():
            if column not in TABLES[table] and column != "key":
                raise KeyError(f"{table} has no indexed column {column}")
            if isinstance(value, (list, tuple, set, frozenset)):
                value = list(value)
                if not value:
                    clauses.append("0")
                    continue
                clauses.append(f"{column} IN ({', '.join('?' * len(value))})")
                values.extend(value)
            elif value is None:
                clauses.append(f"{column} IS NULL")
            else:
                clauses.append(f"{column} = ?")
                values.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", values

    def find(
        self,
        table: str,
        *,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        compare: tuple[tuple[str, str, Any], ...] = (),
        **eq: Any,
    ) -> list[dict[str, Any]]:
        """Documents whose indexed columns equal `eq` (a list value means IN) and satisfy each
        `(column, "<"|"<="|">"|">=", value)` of `compare`."""
        where, values = self._where(table, eq, compare)
        sql = f"SELECT doc FROM {table}{where}"
        if order_by:
            direction = "DESC" if order_by.startswith("-") else "ASC"
            sql += f" ORDER BY {order_by.lstrip('-')} {direction}, rowid {direction}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            values += [int(limit), int(offset)]
        with self._lock:
            rows = self._conn.execute(sql, values).fetchall()
        return [json.loads(row[0]) for row in rows]

    def find_one(self, table: str, **eq: Any) -> dict[str, Any] | None:
        if len(eq) == 1:  # the common lookup by one column (a session by token…): its SQL is made once
            ((column, value),) = eq.items()
            if isinstance(value, (str, int)) and column in TABLES[table]:
                with self._lock:
                    row = self._conn.execute(_SQL[table].find_one[column], (value,)).fetchone()
                return json.loads(row[0]) if row else None
        found = self.find(table, limit=1, **eq)
        return found[0] if found else None

    def count(self, table: str, **eq: Any) -> int:
        where, values = self._where(table, eq)
        with self._lock:
            return self._conn.execute(f"SELECT count(*) FROM {table}{where}", values).fetchone()[0]

    def max_of(self, table: str, column: str, **eq: Any) -> Any:
        """The largest `column` of the rows matching `eq` (None for none): an index read, no documents."""
        if column not in TABLES[table]:
            raise KeyError(f"{table} has no indexed column {column}")
        where, values = self._where(table, eq)
        with self._lock:
            return self._conn.execute(f"SELECT max({column}) FROM {table}{where}", values).fetchone()[0]

    _CHANNEL_USERS = "FROM channel_members m JOIN users u ON u.key = m.user_id WHERE m.channel_id = ? AND ifnull(u.delete_at, 0) = 0"

    def channel_users(self, channel_id: str, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """The channel's members whose accounts are active, by username: one join, no id lists."""
        sql = f"SELECT u.doc {self._CHANNEL_USERS} ORDER BY u.username, u.rowid LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._conn.execute(sql, (channel_id, int(limit), int(offset))).fetchall()
        return [json.loads(row[0]) for row in rows]

    def count_channel_users(self, channel_id: str) -> int:
        """How many of the channel's members have active accounts (ChannelStore.GetMemberCount)."""
        with self._lock:
            return self._conn.execute(f"SELECT count(*) {self._CHANNEL_USERS}", (channel_id,)).fetchone()[0]

    def user_channels(self, user_id: str, team_ids: list[str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(channel, membership) of each channel of `team_ids` the user is a member of: one join on
        the user's memberships, only the wanted channels' documents read."""
        marks = ", ".join("?" * len(team_ids))
        sql = (
            "SELECT c.doc, m.doc FROM channel_members m JOIN channels c ON c.key = m.channel_id "
            f"WHERE m.user_id = ? AND c.team_id IN ({marks})"
        )
        with self._lock:
            rows = self._conn.execute(sql, (user_id, *team_ids)).fetchall()
        return [(json.loads(channel), json.loads(member)) for channel, member in rows]

    def count_team_users(self, team_id: str) -> tuple[int, int]:
        """(members, members with active accounts) of the team's live memberships (TeamStats)."""
        sql = (
            "SELECT count(*), coalesce(sum(ifnull(u.delete_at, 0) = 0), 0) FROM team_members m JOIN users u "
            "ON u.key = m.user_id WHERE m.team_id = ? AND ifnull(m.delete_at, 0) = 0"
        )
        with self._lock:
            total, active = self._conn.execute(sql, (team_id,)).fetchone()
        return total, active

    def delete_where(self, table: str, **eq: Any) -> int:
        where, values = self._where(table, eq)
        with self._lock:
            if table == "posts":
                self.post_cache.changed(None)
            return self._conn.execute(f"DELETE FROM {table}{where}", values).rowcount

    def all(self, table: str) -> list[dict[str, Any]]:
        return self.find(table)
