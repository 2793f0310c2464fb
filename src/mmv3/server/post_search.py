"""Post search as 4.9 on PostgreSQL does it (no Elasticsearch): words, hashtags, `in:` and `from:`.

model.ParseSearchParams splits the terms into words (a "quoted phrase" stays one word), takes
`from:`/`in:`/`channel:` flags (the value may be the next word), trims each word's surrounding
punctuation (a trailing `*` stays) and makes one query of the plain words and one of the
hashtags, sharing the flags. The store then replaces `< > + - ( ) ~ @ :` with spaces and asks
PostgreSQL `Message @@ to_tsquery(words joined by & or |)`: so words match their other forms and
stop words are dropped (mmv3.server.lexemes), quotes do not make a phrase (the words are ANDed
in any order), `-word` excludes nothing (it searches for the word), and `word*` is a prefix. A
hashtag query matches posts that carry one of the hashtags exactly. Only live, non-system posts
of channels the caller is a member of (in the team, or direct/group channels) are searched,
newest first, 100 per query; the answer is the union of both queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmv3.server import posts
from mmv3.server.lexemes import lexemes, query_tokens

if TYPE_CHECKING:
    from mmv3.server.store import Store

LIMIT = 100
_FLAGS = {"from": "from_users", "in": "in_channels", "channel": "in_channels"}
_SPECIAL = re.compile(r"[<>+\-()~@:]")  # treated as spaces by the real search
_PUNCT_START = re.compile(r'^(?:[^\w\s#"]|_)+')
_PUNCT_END = re.compile(r'(?:[^\w\s*"]|_)+$')
_HASHES = re.compile(r"^#{2,}")


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
    words = _split_words(text)
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
            continue
        flag, sep, value = word.partition(":")
        if sep and flag.lower() in _FLAGS:
            if not value and i < len(words) - 1:
                value, skip = words[i + 1], True
            if value:
                filters[_FLAGS[flag.lower()]].append(value.lower())
                continue
        word = _HASHES.sub("#", _PUNCT_END.sub("", _PUNCT_START.sub("", word)))
        if not word:
            continue
        (hashtags if posts.is_hashtag(word) else plain).append(word)
    queries = []
    if plain:
        queries.append(SearchParams(plain, False, **filters))
    if hashtags:
        queries.append(SearchParams(hashtags, True, **filters))
    if not queries and (filters["from_users"] or filters["in_channels"]):
        queries.append(SearchParams([], False, **filters))
    return queries


def fts_query(params: SearchParams, is_or: bool) -> str | None:
    """The FTS5 query of the to_tsquery the real store sends: a group of tokens per word (ANDed:
    one word can be several tokens), the groups joined by AND (OR for is_or_search); None when
    every word was a stop word (PostgreSQL then matches nothing), "" for no words at all."""
    if not params.terms:
        return ""
    groups = []
    for word in _SPECIAL.sub(" ", " ".join(params.terms)).split():
        tokens = [f'"{token}"*' if prefix else f'"{token}"' for token, prefix in query_tokens(word)]
        if tokens:
            groups.append("(" + " AND ".join(tokens) + ")")
    if not groups:
        return None
    return (" OR " if is_or else " AND ").join(groups)


def _hashtag_match(post: dict[str, Any], params: SearchParams, is_or: bool) -> bool:
    """Hashtags @@ to_tsquery(the tags), then one of the post's hashtags equals one of the terms."""
    tags = post.get("hashtags", "").split()
    if not {t.upper() for t in tags} & {t.upper() for t in params.terms}:
        return False
    have = set(lexemes(" ".join(tags)).split())
    wanted = [{tok for tok, _ in query_tokens(term)} for term in params.terms]
    hits = [bool(w) and w <= have for w in wanted]
    return any(hits) if is_or else all(hits)


def _channels(store: Store, user_id: str, team_id: str, names: list[str]) -> list[str]:
    ids = []
    for channel, _ in store.user_channels(user_id, [team_id, ""]):
        if channel.get("delete_at"):
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
        query = fts_query(params, is_or)
        if query is None:
            continue
        channel_ids = _channels(store, user_id, team_id, params.in_channels)
        authors = _authors(store, team_id, params.from_users)
        if not channel_ids or authors == set():
            continue
        hits = 0
        for post in store.posts_matching(query, channel_ids):
            if post.get("type", "").startswith(posts.SYSTEM_PREFIX):
                continue
            if authors is not None and post["user_id"] not in authors:
                continue
            if params.is_hashtag and not _hashtag_match(post, params, is_or):
                continue
            found.setdefault(post["id"], post)
            hits += 1
            if hits == LIMIT:
                break
    ordered = sorted(found.values(), key=lambda p: p["create_at"], reverse=True)
    return posts.post_list(ordered)
