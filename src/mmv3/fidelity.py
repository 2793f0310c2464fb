"""Fidelity: replay the recorded Mattermost 4.9 corpus against a v3 server and compare the answers.

Every request of the corpus is sent again, in `startedDateTime` order across the group files, to
a server that starts fresh (only the users, team, channel and post that existed before the
recording are seeded first). Ids, tokens and invite ids differ from the recording, so the replay
learns a map from the recorded values to the server's own by walking each recorded response and
the server's response in parallel, and rewrites later requests with it. Passwords, redacted in
the corpus, are replaced by one password per user.

Each answer is compared with the recorded one on what must not differ: status, media type,
AppError id, which headers are present, and the body's shape (the operation's 200 schema when
the catalogue knows it, else the same JSON type and top-level keys).

Library code: used by the project's tests (tests/test_fidelity.py) and by the CLI.
"""

from __future__ import annotations

import bisect
import http.cookiejar
import io
import json
import math
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from mmv3 import paths
from mmv3.catalog import Catalog, load_catalog
from mmv3.ratelimit import HeldClock
from mmv3.schemas import SchemaRegistry, default_registry, json_type

# Every corpus file: the core groups of the reference server first, then the remaining ones.
GROUPS = (
    "users", "status", "teams", "channels", "posts", "preferences", "general", "ratelimit",
    "files", "commands", "hooks", "oauth", "admin", "emoji", "reactions", "license", "webrtc", "websocket",
)  # fmt: skip
RATELIMIT_GROUP = "ratelimit"
REDACTED = "<redacted>"

# Headers whose presence is compared; the rest vary by transport (Date, Content-Length, chunking)
# or are compared on their own (Content-Type, Set-Cookie by cookie name).
_UNCOMPARED_HEADERS = frozenset(
    {"date", "content-length", "transfer-encoding", "connection", "keep-alive", "content-type", "set-cookie"}
)
# Request headers not replayed as recorded: the HTTP client sets its own.
_DROPPED_REQUEST_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding"})
_PASSWORD_KEYS = ("password", "current_password", "new_password", "email_password", "ldap_password")
# Recorded error ids showing that the redacted password was deliberately wrong or too short.
_WRONG_PASSWORD_ERRORS = frozenset(
    {"api.user.check_user_password.invalid.app_error", "api.user.update_password.incorrect.app_error"}
)
_SHORT_PASSWORD_ERRORS = frozenset({"model.user.is_valid.pwd.app_error"})

_ID = re.compile(r"[a-z0-9]{26}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")
_URL_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_TIMESTAMP = re.compile(r"(?<![0-9])1[0-9]{12}(?![0-9])")
_MULTIPART_FILE = re.compile(r"file field '([^']*)': filename '([^']*)', ([^,;]+), (\d+) bytes")
_TIME_SLACK_MS = 1


# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusEntry:
    """One recorded exchange, with what the replay needs of it."""

    group: str
    index: int  # position in its group file
    started_ms: float
    duration_ms: float
    method: str
    target: str  # path and query as recorded
    route: str  # the route template (`_route`)
    case: str
    note: str | None
    request_headers: tuple[tuple[str, str], ...]
    body_mime: str
    body_text: str | None
    multipart: tuple[dict[str, str], ...] | None
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_mime: str
    response_text: str
    response_base64: bool

    @property
    def label(self) -> str:
        return f"{self.group}#{self.index}"

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.route}"

    def response_json(self) -> Any:
        return _json_or_missing(b"" if self.response_base64 else self.response_text.encode())

    def header_values(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for k, v in self.response_headers if k.lower() == lowered]


def _epoch_ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


class CorpusError(ValueError):
    """A corpus directory or HAR file that cannot be read as the recorder writes them (one line)."""


def load_corpus(directory: str | Path | None = None) -> list[CorpusEntry]:
    """Every entry of every `<group>.har` in `directory`, in recording order."""
    directory = Path(directory) if directory is not None else paths.corpus_dir()
    hars = sorted(directory.glob("*.har"))
    if not hars:
        raise CorpusError(f"{directory}: no .har files")
    entries: list[CorpusEntry] = []
    for har in hars:
        try:
            entries.extend(_read_har(har))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorpusError(f"{har}: not a corpus HAR file ({type(exc).__name__}: {exc})") from None
    entries.sort(key=lambda e: e.started_ms)
    return entries


def _read_har(har: Path) -> list[CorpusEntry]:
    entries = []
    for index, raw in enumerate(json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]):
        request, response = raw["request"], raw["response"]
        split = urlsplit(request["url"])
        post = request.get("postData") or {}
        content = response.get("content") or {}
        mime = post.get("mimeType") or ""
        entries.append(
            CorpusEntry(
                group=har.stem,
                index=index,
                started_ms=_epoch_ms(raw["startedDateTime"]),
                duration_ms=float(raw.get("time") or 0),
                method=request["method"],
                target=split.path + (f"?{split.query}" if split.query else ""),
                route=raw.get("_route") or split.path,
                case=raw.get("_case") or "other",
                note=raw.get("_note"),
                request_headers=tuple((h["name"], h["value"]) for h in request.get("headers", [])),
                body_mime=mime,
                body_text=post.get("text") if post else None,
                multipart=tuple(post["params"]) if "multipart/" in mime and post.get("params") else None,
                status=int(response["status"]),
                response_headers=tuple((h["name"], h["value"]) for h in response.get("headers", [])),
                response_mime=content.get("mimeType") or "",
                response_text=content.get("text") or "",
                response_base64=content.get("encoding") == "base64",
            )
        )
    return entries


# ---------------------------------------------------------------------------------------------
# Remapping recorded values onto the server's own
# ---------------------------------------------------------------------------------------------
class Remapper:
    """Recorded id/token → the server's, learnt from responses walked in parallel.

    A value is mapped once (first sighting wins) and no two recorded values map to the same
    value of ours. Objects in lists are paired by a known id, else by name, else by the entry
    during which they were created (their `create_at` falls in that entry's time window).
    """

    def __init__(self) -> None:
        self.forward: dict[str, str] = {}
        self._targets: set[str] = set()
        self._times: list[tuple[int, int]] = []  # sorted (recorded ms, our ms) from *_at fields
        self._real_windows = _Windows()  # per replayed entry: when it ran, recorded and ours
        self._our_windows = _Windows()

    # -- learning ---------------------------------------------------------------------------
    def learn_exact(self, real: str, ours: str) -> None:
        if not real or not ours or real == ours or real in self.forward or ours in self._targets:
            return
        self.forward[real] = ours
        self._targets.add(ours)

    def learn_string(self, real: str, ours: str) -> None:
        if real == ours or not ours:
            return
        if _ID.fullmatch(real) or _TOKEN.fullmatch(real):
            if _TOKEN.fullmatch(ours):
                self.learn_exact(real, ours)
            return
        # URLs and other compound strings (public links, OAuth redirects): pair their long tokens.
        real_parts, our_parts = _URL_TOKEN.findall(real), _URL_TOKEN.findall(ours)
        if len(real_parts) == len(our_parts) and len(real_parts) > 1:
            for r, o in zip(real_parts, our_parts, strict=True):
                if len(r) >= 20 and r != o:
                    self.learn_exact(r, o)

    def learn_time(self, real: int, ours: int) -> None:
        bisect.insort(self._times, (real, ours))

    def add_window(self, real: tuple[float, float], ours: tuple[float, float]) -> None:
        """When the next entry ran, as recorded and here (ms); our create_at values are whole ms."""
        self._real_windows.add(*real)
        self._our_windows.add(math.floor(ours[0]), math.ceil(ours[1]))

    def learn(self, real: Any, ours: Any) -> None:
        """Walk a recorded body and ours in parallel, learning every pairing found."""
        if isinstance(real, str) and isinstance(ours, str):
            self.learn_string(real, ours)
        elif isinstance(real, dict) and isinstance(ours, dict):
            if _id_keyed(real) or _id_keyed(ours):
                self._learn_keyed(real, ours)
                return
            for key in real.keys() & ours.keys():
                r, o = real[key], ours[key]
                if key.endswith("_at") and _is_int(r) and _is_int(o) and r > 10**12 and o > 10**12:
                    self.learn_time(r, o)
                else:
                    self.learn(r, o)
        elif isinstance(real, list) and isinstance(ours, list):
            pairs = self.pair(real, ours) if all(isinstance(x, dict) for x in real + ours) else []
            if not pairs and len(real) == 1 and len(ours) == 1:
                pairs = [(real[0], ours[0])]
            for r, o in pairs:
                self.learn(r, o)

    def _learn_keyed(self, real: dict, ours: dict) -> None:
        if not isinstance(next(iter(real.values()), None), dict):
            for key, value in real.items():  # e.g. statuses: only keys already known
                mapped = self.forward.get(key)
                if mapped in ours:
                    self.learn(value, ours[mapped])
            return
        real_items = [v for v in real.values() if isinstance(v, dict)]
        our_items = [v for v in ours.values() if isinstance(v, dict)]
        for r, o in self.pair(real_items, our_items):
            self.learn(r, o)

    def pair(self, real: Sequence[dict], ours: Sequence[dict]) -> list[tuple[dict, dict]]:
        pairs: list[tuple[dict, dict]] = []
        left_real, left_ours = list(real), list(ours)

        def take(r: dict, o: dict) -> None:
            pairs.append((r, o))
            left_real.remove(r)
            left_ours.remove(o)

        # 1. a recorded id already known
        by_id = {o.get("id"): o for o in left_ours if isinstance(o.get("id"), str)}
        for r in list(left_real):
            o = by_id.get(self.forward.get(r.get("id", ""), r.get("id")))
            if o is not None and o in left_ours and r.get("id"):
                take(r, o)
        # 2. names (reused as recorded), within the same team when the object has one
        for name_key in ("username", "name"):
            real_keys = _unique_by(left_real, lambda r, k=name_key: self._name_key(r, k))
            our_keys = _unique_by(left_ours, lambda o, k=name_key: self._name_key(o, k, ours=True))
            for key, r in real_keys.items():
                o = our_keys.get(key)
                if o is not None and r in left_real and o in left_ours:
                    take(r, o)
        # 3. the entry during which the object was created
        real_buckets = _group_by(left_real, lambda r: self._real_windows.holding(r.get("create_at")))
        our_buckets = _group_by(left_ours, lambda o: self._our_windows.holding(o.get("create_at")))
        for bucket, reals in real_buckets.items():
            mine = our_buckets.get(bucket, [])
            if bucket is not None and len(reals) == len(mine):
                for r, o in zip(sorted(reals, key=_created), sorted(mine, key=_created), strict=True):
                    take(r, o)
        return pairs

    def _name_key(self, obj: dict, key: str, *, ours: bool = False) -> tuple[str, str] | None:
        name = obj.get(key)
        if not isinstance(name, str) or not name:
            return None
        team = obj.get("team_id") or ""
        if not ours:  # recorded names may embed recorded ids (direct channels, preferences)
            name, team = self.text(name), self.forward.get(team, team)
        return name, team

    # -- applying ---------------------------------------------------------------------------
    def text(self, value: str) -> str:
        """`value` with every known recorded id/token replaced by ours."""

        def token(match: re.Match[str]) -> str:
            tok = match.group(0)
            if tok in self.forward:
                return self.forward[tok]
            return _ID.sub(lambda m: self.forward.get(m.group(0), m.group(0)), tok)

        return _TOKEN.sub(token, value)

    def timestamp(self, real: int) -> int:
        """A recorded millisecond time as ours: shifted by the nearest learnt pair."""
        if not self._times:
            return real
        pos = bisect.bisect_left(self._times, (real, -1))
        near = [self._times[i] for i in (pos - 1, pos) if 0 <= i < len(self._times)]
        r, o = min(near, key=lambda pair: abs(pair[0] - real))
        return o + (real - r) if abs(r - real) < 60_000 else real

    def target(self, value: str) -> str:
        """A request path and query: ids, tokens and timestamps mapped."""
        return _TIMESTAMP.sub(lambda m: str(self.timestamp(int(m.group(0)))), self.text(value))

    def value(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, list):
            return [self.value(v) for v in data]
        if isinstance(data, dict):
            return {self.text(k): self.value(v) for k, v in data.items()}
        return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id_keyed(data: dict) -> bool:
    return bool(data) and all(_ID.fullmatch(k) for k in data)


def _created(obj: dict) -> float:
    value = obj.get("create_at")
    return value if _is_int(value) else 0


class _Windows:
    """The time spans of the replayed entries, in order, to find the entry an object was created in."""

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._ends: list[float] = []

    def add(self, start: float, end: float) -> None:
        self._starts.append(start)
        self._ends.append(end)

    def holding(self, created: Any) -> int | None:
        """Index of the entry whose span holds `created`; -1 before the first (seeded objects)."""
        if not _is_int(created) or not self._starts:
            return None
        if created < self._starts[0] - _TIME_SLACK_MS:
            return -1
        pos = bisect.bisect_right(self._starts, created) - 1
        slack = _TIME_SLACK_MS
        for i in (pos, pos + 1):  # the span that started before it, else one starting a hair later
            if 0 <= i < len(self._starts) and self._starts[i] - slack <= created <= self._ends[i] + slack:
                return i
        return None


def _unique_by(items: Iterable[dict], key: Callable[[dict], Any]) -> dict[Any, dict]:
    seen: dict[Any, dict] = {}
    clashes: set[Any] = set()
    for item in items:
        k = key(item)
        if k is None:
            continue
        if k in seen:
            clashes.add(k)
        seen[k] = item
    return {k: v for k, v in seen.items() if k not in clashes}


def _group_by(items: Iterable[dict], key: Callable[[dict], Any]) -> dict[Any, list[dict]]:
    out: dict[Any, list[dict]] = {}
    for item in items:
        out.setdefault(key(item), []).append(item)
    return out


# ---------------------------------------------------------------------------------------------
# Passwords: one per user, since the corpus has `<redacted>` everywhere
# ---------------------------------------------------------------------------------------------
class Passwords:
    """Who each login id, email, username, user id and token belongs to, and their password."""

    WRONG = "wrong-Password-1"
    SHORT = "x"

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}  # key -> canonical username

    def register_user(self, user: dict, *, token: str | None = None) -> None:
        username = user.get("username")
        if not isinstance(username, str) or not username:
            return
        username = username.lower()
        for key in (user.get("id"), user.get("email"), username, token):
            if isinstance(key, str) and key:
                self._owner[key.lower()] = username

    def owner(self, *keys: Any) -> str | None:
        for key in keys:
            if isinstance(key, str) and key and key.lower() in self._owner:
                return self._owner[key.lower()]
        return None

    @staticmethod
    def of(username: str | None) -> str:
        return f"Replay-{username or 'anyone'}-1"


# ---------------------------------------------------------------------------------------------
# What came back and how it compares
# ---------------------------------------------------------------------------------------------
@dataclass
class Answer:
    """What the server answered to one replayed request."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def media_type(self) -> str:
        return _media_type(self.header("Content-Type") or "")

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def json(self) -> Any:
        return _json_or_missing(self.body)


@dataclass(frozen=True)
class Difference:
    """One way an answer differs from the recorded one."""

    aspect: str  # status, content-type, error-id, headers, cookies, body
    real: str
    ours: str

    def __str__(self) -> str:
        return f"{self.aspect}: {self.real} ≠ {self.ours}"


@dataclass
class EntryResult:
    """A replayed entry and how our answer differed from the recorded one (nothing: it matched)."""

    entry: CorpusEntry
    differences: list[Difference] = field(default_factory=list)
    status: int | None = None

    @property
    def matched(self) -> bool:
        return not self.differences


class _Missing:
    def __repr__(self) -> str:
        return "<not JSON>"


_NOT_JSON = _Missing()


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _json_or_missing(body: bytes) -> Any:
    if not body.strip():
        return _NOT_JSON
    try:
        return json.loads(body)
    except ValueError:
        return _NOT_JSON


def _json_type(value: Any) -> str:
    """Shape words for comparing bodies: integers and numbers alike, and "not JSON"."""
    if value is _NOT_JSON:
        return "not JSON"
    kind = json_type(value)
    return "number" if kind == "integer" else kind


def _cookie_names(values: Iterable[str]) -> set[str]:
    return {v.split("=", 1)[0].strip() for v in values}


class SchemaOracle:
    """An operation's 200 body schema (catalogue) checked with the project's schema registry."""

    def __init__(self, catalog: Catalog | None = None, registry: SchemaRegistry | None = None) -> None:
        self._catalog = catalog if catalog is not None else load_catalog()
        self._registry = registry if registry is not None else default_registry()

    def issues(self, method: str, route: str, body: Any) -> list[str] | None:
        """Schema violations of `body`, or None when the catalogue has no JSON 200 schema for the route."""
        operation = self._catalog.by_route(method, route)
        if operation is None or operation.success_status != 200 or operation.response_schema is None:
            return None
        if "json" not in operation.response_content_type:
            return None
        return [str(issue) for issue in self._registry.validate(body, operation.response_schema)]

    def error_issues(self, body: Any) -> list[str]:
        return [str(issue) for issue in self._registry.validate(body, "AppError")]


def compare(entry: CorpusEntry, answer: Answer, oracle: SchemaOracle | None = None) -> list[Difference]:
    """How the server's answer differs from the recorded one (empty when it matches)."""
    out: list[Difference] = []
    if answer.status != entry.status:
        out.append(Difference("status", str(entry.status), str(answer.status)))
    real_type, our_type = _media_type(entry.response_mime), answer.media_type
    if real_type != our_type:
        out.append(Difference("content-type", real_type or "-", our_type or "-"))
    real_names = {k.lower() for k, _ in entry.response_headers} - _UNCOMPARED_HEADERS
    our_names = {k.lower() for k, _ in answer.headers} - _UNCOMPARED_HEADERS
    if real_names != our_names:
        missing, extra = sorted(real_names - our_names), sorted(our_names - real_names)
        out.append(
            Difference(
                "headers",
                "+" + ",".join(missing) if missing else "-",
                "+" + ",".join(extra) if extra else "-",
            )
        )
    real_cookies = _cookie_names(entry.header_values("Set-Cookie"))
    our_cookies = _cookie_names(v for k, v in answer.headers if k.lower() == "set-cookie")
    if real_cookies != our_cookies:
        out.append(
            Difference("cookies", ",".join(sorted(real_cookies)) or "-", ",".join(sorted(our_cookies)) or "-")
        )
    out.extend(_compare_body(entry, answer, oracle))
    return out


def _compare_body(entry: CorpusEntry, answer: Answer, oracle: SchemaOracle | None) -> list[Difference]:
    if entry.response_base64 or _media_type(entry.response_mime) != "application/json":
        return []  # images, files, HTML, 429 text: the media type said enough
    real = entry.response_json()
    ours = answer.json()
    if real is _NOT_JSON:
        if answer.body.strip():
            return [Difference("body", "empty", f"{len(answer.body)} bytes")]
        return []
    if ours is _NOT_JSON:
        return [Difference("body", _json_type(real), "empty" if not answer.body.strip() else "not JSON")]
    if entry.status >= 400 and isinstance(real, dict) and "id" in real:
        our_id = ours.get("id") if isinstance(ours, dict) else None
        if our_id != real["id"]:
            return [Difference("error-id", str(real["id"]), str(our_id))]
        issues = oracle.error_issues(ours) if oracle else None
        if issues:
            return [Difference("body", "AppError", "; ".join(issues[:2]))]
        return []
    if answer.status != entry.status:
        return []  # the status already says it; a success body against an error body is noise
    if entry.status == 200 and oracle is not None:
        real_issues = oracle.issues(entry.method, entry.route, real)
        if real_issues == []:  # the schema describes the recorded body: hold ours to it
            our_issues = oracle.issues(entry.method, entry.route, ours) or []
            if our_issues:
                return [Difference("body", "schema-valid", "; ".join(our_issues[:2]))]
            return []
    shape = _shape_difference(real, ours)
    return [Difference("body", shape[0], shape[1])] if shape else []


def _shape_difference(real: Any, ours: Any) -> tuple[str, str] | None:
    """Same JSON type and, for objects, the same top-level keys (values' type for id-keyed maps)."""
    if _json_type(real) != _json_type(ours):
        return _json_type(real), _json_type(ours)
    if isinstance(real, dict):
        if _id_keyed(real) or (not real and _id_keyed(ours)) or (not ours and _id_keyed(real)):
            real_types = {_json_type(v) for v in real.values()}
            our_types = {_json_type(v) for v in ours.values()}
            if real_types and our_types and real_types != our_types:
                return f"map of {'/'.join(sorted(real_types))}", f"map of {'/'.join(sorted(our_types))}"
            return None
        if set(real) != set(ours):
            missing, extra = sorted(set(real) - set(ours)), sorted(set(ours) - set(real))
            return "keys +" + ",".join(missing), "keys +" + ",".join(extra)
    if isinstance(real, list) and real and ours:
        if _json_type(real[0]) != _json_type(ours[0]):
            return f"array of {_json_type(real[0])}", f"array of {_json_type(ours[0])}"
    return None


# ---------------------------------------------------------------------------------------------
# Building the requests
# ---------------------------------------------------------------------------------------------
def _png(width: int = 64, height: int = 48) -> bytes:
    """A small valid PNG (uploads and profile images must decode)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes((40, 120, 200)) * width for _ in range(height))  # filter 0 + RGB
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _slack_export() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("channels.json", "[]")
        archive.writestr("users.json", "[]")
    return buffer.getvalue()


def _file_content(content_type: str, size: int) -> bytes:
    """Stand-in content for a multipart file the corpus describes but does not hold."""
    if content_type.startswith("image/"):
        return _png()
    if content_type == "application/zip":
        return _slack_export()
    if content_type.startswith("text/"):
        return (b"replayed text line\n" * (size // 19 + 1))[:size]
    return b"0" * size


def _multipart(entry: CorpusEntry, remap: Remapper) -> tuple[list, dict[str, str]]:
    sizes = {m.group(1): int(m.group(4)) for m in _MULTIPART_FILE.finditer(entry.body_text or "")}
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    data: dict[str, str] = {}
    for param in entry.multipart or ():
        name = param.get("name", "")
        if "fileName" in param:
            content_type = param.get("contentType") or "application/octet-stream"
            content = _file_content(content_type, sizes.get(name, 16))
            files.append((name, (param["fileName"], content, content_type)))
        else:
            data[name] = remap.text(param.get("value", ""))
    return files, data


@dataclass
class _Prepared:
    method: str
    url: str
    headers: dict[str, str]
    data: bytes | dict[str, str] | None = None
    files: list | None = None


# ---------------------------------------------------------------------------------------------
# The replay
# ---------------------------------------------------------------------------------------------
@dataclass
class ReplayReport:
    results: list[EntryResult]
    seed_problems: list[str]
    seconds: float

    def for_group(self, group: str) -> list[EntryResult]:
        return [r for r in self.results if r.entry.group == group]

    def groups(self) -> list[str]:
        return sorted({r.entry.group for r in self.results})


class Replayer:
    """Replays corpus entries against `base_url` (a fresh server), keeping the learnt state."""

    def __init__(self, base_url: str, *, oracle: SchemaOracle | None = None, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.remap = Remapper()
        self.passwords = Passwords()
        self.oracle = oracle if oracle is not None else SchemaOracle()
        self.timeout = timeout
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy or netrc lookups: the server is local, and they cost time
        # Never carry cookies between entries: each request sends exactly what was recorded.
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._client_number = 0
        self.seed_problems: list[str] = []
        self.last_answer: Answer | None = None

    # -- addresses --------------------------------------------------------------------------
    def _fresh_client(self) -> str:
        """A distinct client address per request, so the rate limiter never trips the replay."""
        self._client_number += 1
        n = self._client_number
        return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    def _send(self, prepared: _Prepared) -> Answer:
        response = self.http.request(
            prepared.method,
            prepared.url,
            headers=prepared.headers,
            data=prepared.data,
            files=prepared.files,
            allow_redirects=False,
            timeout=self.timeout,
        )
        raw_headers = response.raw.headers
        headers = [(k, v) for k, v in raw_headers.items() if k.lower() != "set-cookie"]
        headers += [("Set-Cookie", v) for v in raw_headers.getlist("Set-Cookie")]
        return Answer(response.status_code, headers, response.content)

    # -- seeding ----------------------------------------------------------------------------
    def seed(self) -> None:
        """What existed before the recording: sysadmin (first user), user2, loadtest-team with a channel and a post."""

        def call(method: str, path: str, body: Any, token: str | None = None) -> Answer | None:
            headers = {"Content-Type": "application/json", "X-Forwarded-For": self._fresh_client()}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                answer = self._send(
                    _Prepared(method, self.base_url + path, headers, json.dumps(body).encode())
                )
            except requests.RequestException as exc:
                self.seed_problems.append(f"{method} {path}: {exc}")
                return None
            if answer.status != 200:
                self.seed_problems.append(f"{method} {path}: HTTP {answer.status}")
                return None
            return answer

        for username, email in (("sysadmin", "admin@example.com"), ("user2", "user2@example.com")):
            body = {"username": username, "email": email, "password": Passwords.of(username)}
            self.passwords.register_user({"username": username, "email": email})
            call("POST", "/api/v3/users/create", body)
        login = call(
            "POST", "/api/v3/users/login", {"login_id": "sysadmin", "password": Passwords.of("sysadmin")}
        )
        token = login.header("Token") if login else None
        team = call(
            "POST",
            "/api/v3/teams/create",
            {"name": "loadtest-team", "display_name": "loadtest-team", "type": "O"},
            token,
        )
        team_id = team.json().get("id") if team and isinstance(team.json(), dict) else None
        if not team_id:
            return
        channel = call(
            "POST",
            f"/api/v3/teams/{team_id}/channels/create",
            {"team_id": team_id, "name": "loadtest-channel", "display_name": "loadtest channel", "type": "O"},
            token,
        )
        channel_id = channel.json().get("id") if channel and isinstance(channel.json(), dict) else None
        if channel_id:
            call(
                "POST",
                f"/api/v3/teams/{team_id}/channels/{channel_id}/posts/create",
                {"channel_id": channel_id, "message": "loadtest seed post"},
                token,
            )

    # -- one entry --------------------------------------------------------------------------
    def prepare(self, entry: CorpusEntry) -> _Prepared:
        remap = self.remap
        headers: dict[str, str] = {}
        for name, value in entry.request_headers:
            lowered = name.lower()
            if lowered in _DROPPED_REQUEST_HEADERS:
                continue
            if lowered == "content-type" and entry.multipart is not None:
                continue  # the client writes its own boundary
            headers[name] = remap.forward.get(value) or remap.text(value)  # whole values: etags
        if entry.group != RATELIMIT_GROUP:
            headers["X-Forwarded-For"] = self._fresh_client()
        prepared = _Prepared(entry.method, self.base_url + remap.target(entry.target), headers)
        if entry.multipart is not None:
            prepared.files, prepared.data = _multipart(entry, remap)
        elif entry.body_text is not None:
            prepared.data = self._body(entry).encode()
        return prepared

    def _body(self, entry: CorpusEntry) -> str:
        text = entry.body_text or ""
        if "json" not in entry.body_mime:
            return self.remap.text(text)
        try:
            data = json.loads(text)
        except ValueError:  # malformed on purpose: ids still mapped, no password to place
            return self.remap.text(text).replace(REDACTED, Passwords.of(None))
        if isinstance(data, dict):
            self._place_passwords(entry, data)  # before remapping: owners are known by recorded ids
        return json.dumps(self.remap.value(data))

    def _place_passwords(self, entry: CorpusEntry, body: dict[str, Any]) -> None:
        if not any(body.get(key) == REDACTED for key in _PASSWORD_KEYS):
            return
        real_error = entry.response_json()
        error_id = real_error.get("id") if isinstance(real_error, dict) and entry.status >= 400 else None
        named = [body.get(key) for key in ("login_id", "user_id", "id", "email") if body.get(key)]
        if entry.route.endswith("/users/create"):
            owner = str(body.get("username") or "").lower()
        elif named:
            owner = self.passwords.owner(*named)
        else:  # the caller's own password (claims, password changes by session)
            owner = self.passwords.owner(_bearer(entry.request_headers))
        for key in _PASSWORD_KEYS:
            if body.get(key) != REDACTED:
                continue
            password = Passwords.of(owner)
            if error_id in _WRONG_PASSWORD_ERRORS and key in ("password", "current_password"):
                password = Passwords.WRONG
            elif error_id in _SHORT_PASSWORD_ERRORS:
                password = Passwords.SHORT
            body[key] = password

    def learn(self, entry: CorpusEntry, answer: Answer) -> None:
        """Pair the recorded response with ours: ids, tokens, cookies, etags, who owns what."""
        remap = self.remap
        real_token, our_token = _first(entry.header_values("Token")), answer.header("Token")
        if real_token and our_token:
            remap.learn_exact(real_token, our_token)
        real_cookies = _cookie_values(entry.header_values("Set-Cookie"))
        our_cookies = _cookie_values(v for k, v in answer.headers if k.lower() == "set-cookie")
        for name, value in real_cookies.items():
            if our_cookies.get(name):
                remap.learn_string(value, our_cookies[name])
        real_etag, our_etag = _first(entry.header_values("Etag")), answer.header("Etag")
        if real_etag and our_etag:
            remap.learn_exact(real_etag, our_etag)
        real = entry.response_json()
        if real is _NOT_JSON:
            return
        for user in _users_in(real):
            self.passwords.register_user(user, token=real_token if user is real else None)
        ours = answer.json()
        if ours is not _NOT_JSON and answer.status == entry.status:
            remap.learn(real, ours)

    def replay_entry(self, entry: CorpusEntry) -> EntryResult:
        result = EntryResult(entry)
        prepared = self.prepare(entry)
        if entry.route.endswith("/users/create") and prepared.data:
            self._note_new_user(prepared.data)
        started = time.time() * 1000
        try:
            answer = self._send(prepared)
        except requests.RequestException as exc:
            result.differences.append(Difference("transport", "answer", type(exc).__name__))
            return result
        finally:
            self.remap.add_window(
                (entry.started_ms, entry.started_ms + entry.duration_ms), (started, time.time() * 1000)
            )
        self.last_answer = answer
        result.status = answer.status
        result.differences = compare(entry, answer, self.oracle)
        self.learn(entry, answer)
        return result

    def _note_new_user(self, data: bytes | dict[str, str]) -> None:
        try:
            body = json.loads(data) if isinstance(data, bytes) else None
        except ValueError:
            return
        if isinstance(body, dict):
            self.passwords.register_user(body)

    # -- the rate-limit burst ---------------------------------------------------------------
    def drain_bucket(self, entry: CorpusEntry, *, until_denied: bool = False) -> None:
        """Spend the client's bucket as the unrecorded part of the burst did.

        Down to one request before the recorded last success; until a request is refused before
        a recorded 429 (a refused request costs nothing, so a token that came back while the
        replay was busy cannot turn the recorded 429 into a 200).
        """
        prepared = self.prepare(entry)
        sent, budget = 0, 1
        while sent < budget:  # a bucket holds Limit requests: a server that never refuses is not waited for
            answer = self._send(prepared)
            sent += 1
            remaining, limit = answer.header("X-Ratelimit-Remaining"), answer.header("X-Ratelimit-Limit")
            if answer.status == 429 or not (remaining or "").isdigit() or not (limit or "").isdigit():
                return
            if not until_denied and int(remaining) <= 1:
                return
            budget = int(limit) + 2


def _first(values: Sequence[str]) -> str | None:
    return values[0] if values else None


def _bearer(headers: Iterable[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "authorization" and len(value) > 7:
            return value[7:]
    return None


def _cookie_values(values: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        pair = value.split(";", 1)[0]
        name, _, val = pair.partition("=")
        out[name.strip()] = val.strip()
    return out


def _users_in(data: Any) -> Iterator[dict]:
    """Every User-looking object in a response body."""
    if isinstance(data, dict):
        if isinstance(data.get("username"), str) and isinstance(data.get("id"), str):
            yield data
        for value in data.values():
            yield from _users_in(value)
    elif isinstance(data, list):
        for value in data:
            yield from _users_in(value)


def replay(
    base_url: str,
    entries: Sequence[CorpusEntry] | None = None,
    *,
    oracle: SchemaOracle | None = None,
    on_result: Callable[[EntryResult], None] | None = None,
    limiter_clock: HeldClock | None = None,
) -> ReplayReport:
    """Seed a fresh server at `base_url`, replay every entry in order, compare each answer.

    The `ratelimit` entries are the tail of an unpaced burst: the client's bucket is drained
    first, and the entry recorded after waiting waits for the Retry-After the server gave. Given
    the server's `limiter_clock`, the replay holds it still through the burst (so a slow machine
    cannot let a token come back between draining and replaying) and moves it by Retry-After
    instead of sleeping.
    """
    entries = list(entries) if entries is not None else load_corpus()
    began = time.monotonic()
    replayer = Replayer(base_url, oracle=oracle)
    replayer.seed()
    results: list[EntryResult] = []
    burst_started = False
    retry_after = 0
    try:
        for entry in entries:
            if entry.group == RATELIMIT_GROUP:
                if limiter_clock is not None:
                    limiter_clock.hold()
                if entry.status == 429:
                    replayer.drain_bucket(entry, until_denied=True)
                elif not burst_started:
                    replayer.drain_bucket(entry)
                elif retry_after and limiter_clock is not None:
                    limiter_clock.advance(retry_after)
                elif retry_after:
                    time.sleep(retry_after)  # the recorded client waited Retry-After before this one
                burst_started = True
            elif limiter_clock is not None:
                limiter_clock.release()
            result = replayer.replay_entry(entry)
            if entry.group == RATELIMIT_GROUP and result.status == 429 and replayer.last_answer is not None:
                retry_after = _retry_after(replayer.last_answer)
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        if limiter_clock is not None:
            limiter_clock.release()
    return ReplayReport(results, replayer.seed_problems, time.monotonic() - began)


def _retry_after(answer: Answer) -> int:
    value = answer.header("Retry-After") or ""
    return int(value) if value.isdigit() else 1


# ---------------------------------------------------------------------------------------------
# Known exceptions (tests/fidelity_exceptions.yaml)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KnownException:
    """A corpus behaviour the reference server deliberately does not copy (real 4.9 was broken)."""

    route: str  # "METHOD /api/v3/template"
    case: str
    note: str | None
    reason: str

    def covers(self, entry: CorpusEntry) -> bool:
        return self.route == entry.route_key and self.case == entry.case and self.note == entry.note

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.route} [{self.case}]{note}"


class ExceptionsFileError(ValueError):
    """The exceptions file is unreadable or an entry lacks a field."""


def load_exceptions(path: str | Path) -> list[KnownException]:
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ExceptionsFileError(f"{path}: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ExceptionsFileError(f"{path}: must hold a list of {{route, case, note, reason}} entries")
    out = []
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict) or not {"route", "case", "reason"} <= set(item):
            raise ExceptionsFileError(f"{path}: entry {number} needs route, case, note and reason")
        if not str(item["reason"]).strip():
            raise ExceptionsFileError(f"{path}: entry {number} has an empty reason")
        note = item.get("note")
        out.append(
            KnownException(
                str(item["route"]),
                str(item["case"]),
                None if note is None else str(note),
                str(item["reason"]),
            )
        )
    return out


@dataclass
class Verdict:
    """One group's results judged against the known exceptions."""

    results: list[EntryResult]
    unexpected: list[EntryResult]  # mismatches no exception covers
    excepted: list[EntryResult]  # mismatches an exception covers
    stale: list[KnownException]  # exceptions whose entries all match now

    @property
    def percent(self) -> float:
        if not self.results:
            return 100.0
        return 100.0 * sum(r.matched for r in self.results) / len(self.results)

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.stale


def judge(results: Sequence[EntryResult], exceptions: Sequence[KnownException]) -> Verdict:
    relevant = [x for x in exceptions if any(x.covers(r.entry) for r in results)]
    unexpected, excepted = [], []
    for result in results:
        if result.matched:
            continue
        if any(x.covers(result.entry) for x in relevant):
            excepted.append(result)
        else:
            unexpected.append(result)
    stale = [x for x in relevant if not any(x.covers(r.entry) and not r.matched for r in results)]
    return Verdict(list(results), unexpected, excepted, stale)


def mismatch_table(results: Iterable[EntryResult], *, width: int = 140) -> str:
    """A compact table of mismatching entries: entry, route, case, what differs."""
    rows = [("entry", "route", "case", "differs (recorded ≠ ours)")]
    for result in results:
        if result.matched:
            continue
        entry = result.entry
        case = entry.case + (f" ({entry.note})" if entry.note else "")
        rows.append((entry.label, entry.route_key, case[:40], "; ".join(str(d) for d in result.differences)))
    if len(rows) == 1:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for row in rows:
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        lines.append(line[:width] if width else line)
    return "\n".join(lines)
