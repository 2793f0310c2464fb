"""Words as PostgreSQL's `english` text search sees them, for post search as real 4.9 does it.

4.9 on PostgreSQL matches `Message @@ to_tsquery(terms)`: both sides go through the default
parser and the english configuration, so a word matches its other forms (the Snowball English
stemmer: "running" finds "runs"), stop words ("the", "or"…) are dropped, case and nothing else
is folded ("cafe" does not find "café"). The parser keeps some tokens whole: an e-mail address,
a host or version ("example.com", "4.9.0"), and a hyphenated word (with its parts as well);
everything else splits on what is not a letter or digit (so "foo_bar" is "foo" and "bar").

`lexemes` gives a message's words in that form, encoded as FTS5 tokens (letters, digits and `_`:
a whole token's other characters as `_xx_` hex, so "4.9.0" stays one token); the search index
holds them and a query's words go through the same function, a prefix (`word*`) stemmed too as
to_tsquery does.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

# PostgreSQL's english.stop (the Snowball list).
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
    hers herself it its itself they them their theirs themselves what which who whom this that these those
    am is are was were be been being have has had having do does did doing a an the and but if or because
    as until while of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why how all
    any both each few more most other some such no nor not only own same so than too very s t can will
    just don should now""".split()
)
_TOKEN = re.compile(
    r"(?P<email>[^\W_][\w.+-]*@[^\W_][\w-]*(?:\.[\w-]+)+)"
    r"|(?P<dotted>[^\W_]+(?:\.[^\W_]+)+)"
    r"|(?P<hyphened>[^\W_]+(?:-[^\W_]+)+)"
    r"|(?P<word>[^\W_]+)"
)
_STEMMER = snowballstemmer.stemmer("english")
_SPECIAL = re.compile(r"[^\w]")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    if word.isdigit():
        return word
    return _STEMMER.stemWord(word)


def _encode(token: str) -> str:
    """A whole token (e-mail, host, version, hyphenated word) as one FTS5 token."""
    return _SPECIAL.sub(lambda m: f"_{ord(m.group()):x}_", token)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        kind, value = match.lastgroup, match.group()
        if kind == "word":
            if value not in STOP_WORDS:
                out.append(stem(value))
        elif kind == "hyphened":
            out.append(_encode("-".join(stem(part) for part in value.split("-"))))
            out.extend(stem(part) for part in value.split("-") if part not in STOP_WORDS)
        else:
            out.append(_encode(value))
    return out


def lexemes(text: str | None) -> str:
    """The searchable words of a message, space separated (the search index's column)."""
    return " ".join(_tokens(text or "")) if text else ""


def query_tokens(term: str) -> list[tuple[str, bool]]:
    """The index tokens one query word stands for, each with whether it is a prefix (`word*`):
    stop words dropped, the rest stemmed as the message's words are."""
    prefix = term.endswith("*")
    words = _tokens(term.rstrip("*"))
    return [(word, prefix and i == len(words) - 1) for i, word in enumerate(words)]
