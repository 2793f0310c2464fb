"""Post search as 4.9 does it without Elasticsearch: terms, hashtags, `in:` and `from:` filters.

The real server hands the terms to the database's full-text search; here a message matches a
word when one of its words equals it (case-insensitively; `word*` matches a prefix), and a
quoted phrase when the message contains it. Only posts of channels the caller is a member of
(in the team, or direct/group channels) are searched, system messages never, 100 per query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmv3.server import posts

if TYPE_CHECKING:
    from mmv3.server.store import Store

LIMIT = 100
_FLAGS = {"from": "from_users", "in": "in_channels", "channel": "in_channels"}
_SPECIAL = re.compile(r"[<>+\-()~@:]")  # treated as spaces by the real search
_WORD = re.compile(r"[\w']+")


@dataclass
class SearchParams:
    terms: list[str] = field(default_factory=list)
    is_hashtag: bool = False
    in_channels: list[str] = field(default_factory=list)
    from_users: list[str] = field(default_factory=list)


def _split_words(text: str) -> list[str]:
    """Whitespace-separated words, a "quoted phrase" kept as one word (quotes included)."""
    words: list[str] = []
    start, quoted = 0, False
    for i, char in enumerate(text):
        if char != '"':
            continue
        if quoted:
            words.append(text[start : i + 1])
            start, quoted = i + 1, False
        else:
            words.extend(text[start:i].split())
            start, quoted = i, True
    words.extend(text[start:].split())
    return words


def parse(text: str) -> list[SearchParams]:
    """model.ParseSearchParams: one query for plain words, one for hashtags, sharing the filters."""
    plain: list[str] = []
    hashtags: list[str] = []
    filters: dict[str, list[str]] = {"from_users": [], "in_channels": []}
    for word in _split_words(text):
        flag, sep, value = word.partition(":")
        if sep and flag.lower() in _FLAGS:
            filters[_FLAGS[flag.lower()]].append(value.lower())
        elif posts.is_hashtag(word):
            hashtags.append(word)
        else:
            plain.append(word)
    queries = []
    if plain:
        queries.append(SearchParams(plain, False, **filters))
    if hashtags:
        queries.append(SearchParams(hashtags, True, **filters))
    if not queries and (filters["from_users"] or filters["in_channels"]):
        queries.append(SearchParams([], False, **filters))
    return queries


def _word_matcher(term: str):
    if term.startswith('"'):
        phrase = term.strip('"').lower()
        return lambda message, words: bool(phrase) and phrase in message
    parts = [p for p in _SPECIAL.sub(" ", term).lower().split() if p]
    checks = []
    for part in parts:
        if part.endswith("*"):
            prefix = part.rstrip("*")
            checks.append(lambda words, prefix=prefix: any(w.startswith(prefix) for w in words))
        else:
            word = part.strip("\"'")
            checks.append(lambda words, word=word: word in words)
    return lambda message, words: bool(checks) and all(check(words) for check in checks)


_FTS_TOKEN = re.compile(r"[^\W_]+")  # what FTS5's unicode61 tokenizer keeps as a token


def _fts_query(params: SearchParams, is_or: bool) -> str:
    """An FTS5 query that every post `_matches` also matches (a superset: the exact test is still
    `_matches`), or "" where the index cannot narrow the search (hashtags, phrases, no terms)."""
    if params.is_hashtag or not params.terms:
        return ""
    groups = []
    for term in params.terms:
        if '"' in term:
            return ""
        tokens = []
        for part in _SPECIAL.sub(" ", term).split():
            words = _FTS_TOKEN.findall(part)
            if not words:
                continue
            if part.endswith("*"):
                words[-1] = f'"{words[-1]}"*'
                tokens += [f'"{w}"' for w in words[:-1]] + [words[-1]]
            else:
                tokens += [f'"{w}"' for w in words]
        if not tokens:
            return ""
        groups.append("(" + " AND ".join(tokens) + ")")
    return (" OR " if is_or else " AND ").join(groups)


def _matches(post: dict[str, Any], params: SearchParams, is_or: bool) -> bool:
    if not params.terms:
        return True
    if params.is_hashtag:
        tags = {t.upper() for t in post.get("hashtags", "").split()}
        hits = [term.upper() in tags for term in params.terms]
    else:
        message = post.get("message", "").lower()
        words = set(_WORD.findall(message))
        hits = [_word_matcher(term)(message, words) for term in params.terms]
    return any(hits) if is_or else all(hits)


def _channels(store: Store, user_id: str, team_id: str, names: list[str]) -> list[str]:
    ids = []
    for member in store.find("channel_members", user_id=user_id):
        channel = store.get("channels", member["channel_id"])
        if channel is None or channel.get("delete_at") or channel.get("team_id", "") not in (team_id, ""):
            continue
        if names and channel.get("name") not in names:
            continue
        ids.append(channel["id"])
    return ids


def _authors(store: Store, team_id: str, usernames: list[str]) -> set[str] | None:
    if not usernames:
        return None
    found = set()
    for user in store.find("users", username=usernames):
        member = store.get("team_members", f"{team_id}:{user['id']}")
        if member is not None and not member.get("delete_at"):
            found.add(user["id"])
    return found


def search(store: Store, user_id: str, team_id: str, terms: str, *, is_or: bool) -> dict[str, Any]:
    """SearchPostsInTeam: the union of each query's newest 100 matches, newest first."""
    found: dict[str, dict[str, Any]] = {}
    for params in parse(terms):
        if params.terms == ["*"]:
            continue
        channel_ids = _channels(store, user_id, team_id, params.in_channels)
        authors = _authors(store, team_id, params.from_users)
        if not channel_ids or authors == set():
            continue
        hits = 0
        fts_query = _fts_query(params, is_or)
        candidates = (
            store.posts_matching(fts_query, channel_ids)
            if fts_query
            else store.find("posts", channel_id=channel_ids, delete_at=0, order_by="-create_at")
        )
        for post in candidates:
            if post.get("type", "").startswith(posts.SYSTEM_PREFIX):
                continue
            if authors is not None and post["user_id"] not in authors:
                continue
            if _matches(post, params, is_or):
                found.setdefault(post["id"], post)
                hits += 1
                if hits == LIMIT:
                    break
    ordered = sorted(found.values(), key=lambda p: p["create_at"], reverse=True)
    return posts.post_list(ordered)
