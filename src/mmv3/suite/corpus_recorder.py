"""Recording a run's exchanges as a corpus: redacted HAR 1.2 files, one per route group.

`--mm-record DIR` (`mmv3 check --record DIR`) keeps every exchange the run sends to the target,
in the layout of tests/corpus/mattermost-4.9.0/: `<group>.har` per resource group (plus
`ratelimit.har` for the rate-limit checks), each entry carrying `_route` (the catalogue template the
request goes to), `_case` (ok / no_token / bad_input / forbidden / other) and `_check` (the check
that sent it, or `provisioning`), and `recording.json` summing up the run.

Entries arrive already redacted (the run's ExchangeLog redacts every secret it learnt: passwords,
tokens, cookies). Each process appends its entries to a part file of its own under DIR/.parts; the
controlling process merges the parts at the end (dropping the success exchanges that several checks
share), orders them by `startedDateTime` and writes the group files, one entry per line.

To keep a corpus small (a full run is ~1,900 exchanges), the corpus drops the request headers the
client sends alike on every request (Host, User-Agent, Accept, Accept-Encoding, Connection), cuts
the lists of JSON bodies over 2 KB to their first 5 items (noted in `content.comment`), and keeps
the first and last 10 exchanges of each rate-limit burst (noted in `_note`).
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mmv3 import __version__
from mmv3.catalog import load_catalog

PARTS = ".parts"
SUMMARY = "recording.json"
RATELIMIT_GROUP = "ratelimit"
PROVISIONING = "provisioning"
# The case of a check's own requests, as the corpus README defines them.
CASES = {
    "auth.no_token": "no_token",
    "errors.bad_input": "bad_input",
    "auth.regular_user_refused": "forbidden",
    "auth.non_member_refused": "forbidden",
}
OK = "ok"
OTHER = "other"
# The rate-limit checks send hundreds of identical requests: the first and the last are kept.
KEPT_PER_BURST = 10
# To keep a corpus small: request headers the client sets the same on every request (not the
# server's behaviour), and long lists cut to their first items (JSON bodies over BIG_BODY
# characters: arrays and maps keyed by ids keep KEPT_ITEMS items, so the shape stays valid).
CLIENT_HEADERS = frozenset({"host", "user-agent", "accept", "accept-encoding", "connection"})
BIG_BODY = 2048
KEPT_ITEMS = 5
_ID = re.compile(r"^[a-z0-9]{26}$")


def case_of(check_id: str) -> str:
    return CASES.get(check_id, OTHER)


class CorpusRecorder:
    """One process's side: appends annotated entries to DIR/.parts/<part>.jsonl."""

    def __init__(self, directory: str | Path, part: str = "main") -> None:
        self.directory = Path(directory)
        self.path = self.directory / PARTS / f"{part}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def add(
        self,
        entries: Iterable[dict[str, Any]],
        *,
        check: str,
        burst: bool = False,
        route: str = "",
        group: str = "",
    ) -> int:
        """Append `entries` (redacted HAR entries) sent by `check` on the operation `route`
        (`METHOD template`, whose catalogue group is `group`); returns how many were kept. The
        exchanges of a server-wide rate-limit check (`burst`) go to ratelimit.har, its ends only."""
        entries = list(entries)
        dropped = 0
        if burst and len(entries) > 2 * KEPT_PER_BURST:
            dropped = len(entries) - 2 * KEPT_PER_BURST
            entries = entries[:KEPT_PER_BURST] + entries[-KEPT_PER_BURST:]
        lines = []
        for entry in entries:
            annotated = annotate(entry, check=check, fallback_route=route)
            if dropped:
                annotated["_note"] = f"{dropped} exchanges of this check in the middle are not recorded"
            target = RATELIMIT_GROUP if burst else _group(annotated, group)
            lines.append(json.dumps({"group": target, "entry": annotated}, ensure_ascii=False))
        if lines:
            with self.path.open("a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
        return len(lines)


def annotate(entry: dict[str, Any], *, check: str, fallback_route: str = "") -> dict[str, Any]:
    """A copy of `entry` with `_route`, `_case` and `_check` (an `ok` already set is kept)."""
    out = dict(entry)
    request = entry.get("request") or {}
    method = str(request.get("method") or "GET")
    found = load_catalog().match(method, str(request.get("url") or ""))
    if found is not None:
        out["_route"] = found[0].template
    else:
        out["_route"] = urlsplit(str(request.get("url") or "")).path
        out["_note"] = "no catalogue route answers this request" + (
            f" (sent for {fallback_route})" if fallback_route else ""
        )
    out["_case"] = entry.get("_case") or (OTHER if check == PROVISIONING else case_of(check))
    out["_check"] = check
    return out


def slim(entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` as the corpus keeps it: without the client's constant request headers, and with the
    lists of a big JSON body cut to their first KEPT_ITEMS items (`content.comment` says so;
    `content.size` stays the size the server sent)."""
    out = dict(entry)
    request = dict(entry.get("request") or {})
    request["headers"] = [
        h for h in request.get("headers") or [] if str(h.get("name", "")).lower() not in CLIENT_HEADERS
    ]
    out["request"] = request
    response = dict(entry.get("response") or {})
    content = dict(response.get("content") or {})
    text = content.get("text") or ""
    if len(text) > BIG_BODY and "json" in str(content.get("mimeType") or "").lower():
        try:
            body = json.loads(text)
        except ValueError:
            return out
        cut, changed = _cut_lists(body)
        if changed:
            content["text"] = json.dumps(cut, ensure_ascii=False, separators=(",", ":"))
            content["comment"] = (
                f"lists cut to their first {KEPT_ITEMS} items for the corpus ({len(text)} characters sent)"
            )
            response["content"] = content
            out["response"] = response
    return out


def _cut_lists(value: Any) -> tuple[Any, bool]:
    if isinstance(value, list):
        items = [_cut_lists(item) for item in value[:KEPT_ITEMS]]
        return [item for item, _ in items], len(value) > KEPT_ITEMS or any(c for _, c in items)
    if isinstance(value, dict):
        id_map = len(value) > KEPT_ITEMS and all(_ID.match(str(key)) for key in value)
        pairs = list(value.items())[:KEPT_ITEMS] if id_map else list(value.items())
        cut = {key: _cut_lists(item) for key, item in pairs}
        return {key: item for key, (item, _) in cut.items()}, id_map or any(c for _, c in cut.values())
    return value, False


def _group(entry: dict[str, Any], fallback: str) -> str:
    request = entry.get("request") or {}
    found = load_catalog().match(str(request.get("method") or "GET"), str(request.get("url") or ""))
    return found[0].group if found is not None else (fallback or OTHER)


def _key(entry: dict[str, Any]) -> tuple:
    request, response = entry.get("request") or {}, entry.get("response") or {}
    return (
        entry.get("startedDateTime"),
        entry.get("time"),
        request.get("method"),
        request.get("url"),
        response.get("status"),
    )


def _har_text(entries: list[dict[str, Any]]) -> str:
    """A HAR 1.2 document with one entry per line (small, and diffs line up with exchanges)."""
    creator = json.dumps({"name": "mmv3 check --record", "version": __version__})
    lines = [json.dumps(entry, ensure_ascii=False, separators=(",", ":")) for entry in entries]
    return (
        f'{{"log": {{"version": "1.2", "creator": {creator}, "pages": [], "entries": [\n'
        + ",\n".join(lines)
        + "\n]}}\n"
    )


def merge(directory: str | Path, environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Turn the part files under `directory` into `<group>.har` files and `recording.json`; the
    summary. Exchanges recorded by more than one check (shared success calls) are written once."""
    directory = Path(directory)
    parts = sorted((directory / PARTS).glob("*.jsonl"))
    by_group: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple] = set()
    for part in parts:
        for line in part.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            entry = item["entry"]
            key = _key(entry)
            if key in seen:
                continue
            seen.add(key)
            by_group.setdefault(item["group"], []).append(slim(entry))
    cases: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    groups: dict[str, int] = {}
    for group, entries in sorted(by_group.items()):
        entries.sort(key=lambda e: str(e.get("startedDateTime") or ""))
        for entry in entries:
            cases[entry.get("_case", OTHER)] += 1
            statuses[str((entry.get("response") or {}).get("status"))] += 1
        groups[group] = len(entries)
        (directory / f"{group}.har").write_text(_har_text(entries), encoding="utf-8")
    summary = {
        "recorder": f"mmv3 {__version__} (mmv3 check --record)",
        "entries": sum(groups.values()),
        "groups": groups,
        "cases": dict(sorted(cases.items())),
        "statuses": dict(sorted(statuses.items())),
        "transport_errors": statuses.get("0", 0),
        "environment": dict(environment or {}),
    }
    (directory / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(directory / PARTS, ignore_errors=True)
    return summary
