"""Version profiles: which catalogue routes and which model fields a given Mattermost version has.

The facts come from `schemas/versions.json`, derived by `tools/derive_versions.py` from the server's source
at every release tag (3.0.0 ... 4.8.1 and 4.9.0-rc3): for each route of the catalogue the first and the
last release whose api/*.go registers it, for each field of the struct-backed models the first and last
release whose model/*.go struct has that JSON tag.

A target names its version through /general/ping, which carries the *reported* version (the first
entry of model/version.go's list): every 3.10.x build reports 3.10.0, 4.7.2 and 4.7.3 report 4.7.1.
`profile(version)` turns such a version into the release tags it may stand for, and an item applies
only when every one of those tags has it. So a route or field that appeared in a patch release is
not demanded of the whole minor line, and nothing is demanded that some matching build lacks:

- the tags whose reported version is exactly `version` (3.10.0 -> 3.10.0, 3.10.1, 3.10.2, 3.10.3);
- else the tag with exactly that version (`--mm-version 3.10.3`);
- else the newest tag not newer than `version` (4.10.0 -> 4.9.0; a version older than every tag gets
  the oldest tag, 3.0.0).

Besides routes and fields the file holds per-release values read from the same source: the wrapper of
each route (its auth level in that release), the routes whose handler refuses with
HasSystemAdminPermissions or sends an Etag, and server-wide behaviour (`behaviour`: the parts of
X-Version-Id, the cookies a refused token clears, whether a 304 repeats the Etag). `Profile.values()`
gives the set of values the matching releases have (several when they disagree).

An item the data file does not mention (a route added to the catalogue after the tool last ran, a model
without a Go struct) applies to every version.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmv3 import paths

VERSIONS_FILE = "versions.json"
# The build number mmv3's reference server reports (in X-Version-Id and the client config) ends
# with this mark, so that a run can tell it from the real release it stands for.
REFERENCE_BUILD_MARK = "-mmv3"


def is_reference_build(build: str | None) -> bool:
    """Does this build number name mmv3's reference server (`mmv3 serve`)?"""
    return bool(build) and str(build).endswith(REFERENCE_BUILD_MARK)


_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


class VersionError(ValueError):
    """Not a version number, or an unusable versions file (one-line message)."""


def parse(version: str) -> tuple[int, int, int]:
    """'4.9.0', 'v4.9.0-rc3', '3.10' (patch 0), '4.10.0.dev' -> (major, minor, patch)."""
    match = _VERSION.match(str(version or ""))
    if not match:
        raise VersionError(f"not a Mattermost version: {version!r} (e.g. 3.10, 4.9.0)")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def text(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class Span:
    """The releases that have an item: since .. until (None: still in the newest tag examined)."""

    since: str
    until: str | None = None
    absent_in: tuple[str, ...] = ()

    def has(self, tag: str) -> bool:
        version = parse(tag)
        if version < parse(self.since):
            return False
        if self.until is not None and version > parse(self.until):
            return False
        return tag not in self.absent_in

    def __str__(self) -> str:
        out = f"{self.since}-{self.until}" if self.until else f"{self.since}+"
        if self.absent_in:
            out += f" (not in {', '.join(self.absent_in)})"
        return out


def _span(raw: Any, where: str) -> Span:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("since"), str):
        raise VersionError(f"{where}: expected {{since, until}}")
    until = raw.get("until")
    return Span(str(raw["since"]), None if until is None else str(until), tuple(raw.get("absent_in") or ()))


@dataclass(frozen=True)
class Run:
    """Releases since .. until (None: the newest examined) that share one value."""

    since: str
    until: str | None
    value: Any

    def has(self, tag: str) -> bool:
        return Span(self.since, self.until).has(tag)


def _runs(raw: Any, where: str) -> tuple[Run, ...]:
    if not isinstance(raw, list):
        raise VersionError(f"{where}: expected a list of {{since, until, value}}")
    out = []
    for entry in raw:
        span = _span(entry, where)
        if "value" not in entry:
            raise VersionError(f"{where}: a run without a value")
        out.append(Run(span.since, span.until, entry["value"]))
    return tuple(out)


class VersionFacts:
    """The contents of schemas/versions.json."""

    def __init__(
        self,
        tags: tuple[str, ...],
        reported: Mapping[str, str],
        routes: Mapping[str, Span],
        fields: Mapping[str, Mapping[str, Span]],
        source: str = "",
        *,
        wrappers: Mapping[str, tuple[Run, ...]] | None = None,
        system_permissions: Mapping[str, Span] | None = None,
        etag_routes: Mapping[str, Span] | None = None,
        octet_stream_routes: Mapping[str, Span] | None = None,
        behaviour: Mapping[str, tuple[Run, ...]] | None = None,
        nullable: Mapping[str, Mapping[str, Span]] | None = None,
    ) -> None:
        self.tags = tags
        self.reported = dict(reported)
        self.routes = dict(routes)
        self.fields = {model: dict(spans) for model, spans in fields.items()}
        self.source = source
        self.wrappers = dict(wrappers or {})
        self.system_permissions = dict(system_permissions or {})
        self.etag_routes = dict(etag_routes or {})
        self.octet_stream_routes = dict(octet_stream_routes or {})
        self.behaviour = dict(behaviour or {})
        self.nullable = {model: dict(spans) for model, spans in (nullable or {}).items()}

    @classmethod
    def load(cls, path: Path | None = None) -> VersionFacts:
        path = Path(path) if path is not None else paths.schemas_dir() / VERSIONS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise VersionError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise VersionError(f"{path}: not valid JSON: {exc}") from None
        return cls.from_data(data, str(path))

    @classmethod
    def from_data(cls, data: Any, source: str = "<data>") -> VersionFacts:
        if not isinstance(data, Mapping) or not isinstance(data.get("tags"), list) or not data["tags"]:
            raise VersionError(f"{source}: expected a mapping with a non-empty `tags` list")
        tags = tuple(sorted((str(t) for t in data["tags"]), key=parse))
        reported = {str(k): str(v) for k, v in (data.get("reported") or {}).items()}
        routes = {str(k): _span(v, f"{source}: route {k}") for k, v in (data.get("routes") or {}).items()}
        fields = {
            str(model): {
                str(name): _span(span, f"{source}: {model}.{name}")
                for name, span in ((entry or {}).get("fields") or {}).items()
            }
            for model, entry in (data.get("models") or {}).items()
        }
        wrappers = {
            str(k): _runs(v, f"{source}: wrapper of {k}") for k, v in (data.get("wrappers") or {}).items()
        }
        system_permissions = {
            str(k): _span(v, f"{source}: system_permissions_refusal {k}")
            for k, v in (data.get("system_permissions_refusal") or {}).items()
        }
        etags = {
            str(k): _span(v, f"{source}: etag_routes {k}") for k, v in (data.get("etag_routes") or {}).items()
        }
        untyped = {
            str(k): _span(v, f"{source}: octet_stream_routes {k}")
            for k, v in (data.get("octet_stream_routes") or {}).items()
        }
        behaviour = {
            str(k): _runs(v, f"{source}: behaviour {k}") for k, v in (data.get("behaviour") or {}).items()
        }
        nullable = {
            str(model): {
                str(f): _span(v, f"{source}: nullable {model}.{f}") for f, v in (spans or {}).items()
            }
            for model, spans in (data.get("nullable") or {}).items()
        }
        return cls(
            tags,
            reported,
            routes,
            fields,
            source,
            wrappers=wrappers,
            system_permissions=system_permissions,
            etag_routes=etags,
            octet_stream_routes=untyped,
            behaviour=behaviour,
            nullable=nullable,
        )

    def tags_for(self, version: str) -> tuple[tuple[str, ...], str]:
        """The examined release tags a target reporting `version` may be, and how they were chosen."""
        wanted = parse(version)
        same_report = tuple(t for t in self.tags if parse(self.reported.get(t, t)) == wanted)
        if same_report:
            return same_report, "reported by"
        exact = tuple(t for t in self.tags if parse(t) == wanted)
        if exact:
            return exact, "tag"
        older = [t for t in self.tags if parse(t) <= wanted]
        if older:
            return (older[-1],), "nearest older tag"
        return (self.tags[0],), "oldest tag"

    def profile(self, version: str | None) -> Profile:
        if version is None:
            return Profile(None, (), "", self)
        tags, rule = self.tags_for(version)
        return Profile(text(parse(version)), tags, rule, self)


@dataclass(frozen=True)
class Profile:
    """What applies to one target version (`version` None: everything, as the schemas are written)."""

    version: str | None
    tags: tuple[str, ...]
    rule: str
    facts: VersionFacts

    @property
    def key(self) -> tuple[str, ...]:
        """Equal for versions that resolve to the same tags (and so to the same verdicts)."""
        return self.tags

    def describe(self) -> str:
        if self.version is None:
            return "all versions (no version profile)"
        span = self.tags[0] if len(self.tags) == 1 else f"{self.tags[0]} ... {self.tags[-1]}"
        why = {
            "reported by": f"the releases that report {self.version}",
            "tag": "that release",
            "nearest older tag": f"the newest release examined not newer than {self.version}",
            "oldest tag": "the oldest release examined",
        }.get(self.rule, self.rule)
        return f"{self.version}: as in the source of {span} ({why})"

    def _applies(self, span: Span | None) -> bool:
        return span is None or all(span.has(tag) for tag in self.tags)

    def serves(self, route: str) -> bool:
        """Whether every matching release registers `route` ('METHOD template')."""
        return self._applies(self.facts.routes.get(route))

    def has_field(self, model: str, name: str) -> bool:
        """Whether every matching release's struct for `model` has the JSON field `name`."""
        return self._applies(self.facts.fields.get(model, {}).get(name))

    def absent_fields(self, model: str) -> list[str]:
        return [name for name, span in self.facts.fields.get(model, {}).items() if not self._applies(span)]

    def route_span(self, route: str) -> Span | None:
        return self.facts.routes.get(route)

    def values(self, runs: tuple[Run, ...] | None) -> frozenset:
        """The values the matching releases have in `runs` (empty: no profile, or none derived)."""
        if not runs or self.version is None:
            return frozenset()
        return frozenset(run.value for run in runs for tag in self.tags if run.has(tag))

    def behaviour(self, name: str) -> frozenset:
        """The server-wide values of `name` (`version_id`, `cleared_cookies`, `etag_on_304`) that the
        matching releases have; empty when unknown (no profile, or not derived)."""
        return self.values(self.facts.behaviour.get(name))

    def wrapper(self, route: str) -> str | None:
        """The wrapper every matching release registers `route` with (None: unknown, or they differ)."""
        found = self.values(self.facts.wrappers.get(route))
        return next(iter(found)) if len(found) == 1 else None

    def refuses_with_system_permissions(self, route: str) -> bool:
        """Whether every matching release's handler refuses a non-admin with HasSystemAdminPermissions."""
        span = self.facts.system_permissions.get(route)
        return self.version is not None and span is not None and all(span.has(tag) for tag in self.tags)

    def nullable_fields(self, model: str) -> list[str]:
        """The fields of `model` that some matching release may send as null (a list or map its code
        leaves unset: `{"order": null, "posts": null}` for an empty PostList up to 4.0)."""
        if self.version is None:
            return []
        spans = self.facts.nullable.get(model, {})
        return [name for name, span in spans.items() if any(span.has(tag) for tag in self.tags)]

    def sends_octet_stream(self, route: str) -> bool:
        """Whether every matching release's handler writes `route`'s file without a content type
        (sent as application/octet-stream: the 3.5 ... 4.0 thumbnails and previews)."""
        span = self.facts.octet_stream_routes.get(route)
        return self.version is not None and span is not None and all(span.has(tag) for tag in self.tags)

    def lacks_etag(self, route: str) -> bool:
        """Whether no matching release's handler sends an Etag on `route`, though a release does
        (False when the source shows no Etag anywhere: not derivable, e.g. a shared helper sends it)."""
        span = self.facts.etag_routes.get(route)
        return self.version is not None and span is not None and not any(span.has(tag) for tag in self.tags)


@functools.lru_cache(maxsize=1)
def load_facts() -> VersionFacts:
    """The project's version facts, loaded once per process."""
    return VersionFacts.load()


@functools.lru_cache(maxsize=64)
def profile(version: str | None) -> Profile:
    """The profile of `version` from the project's facts (VersionError for a malformed version);
    resolved once per version and process (the checks ask for it on every call)."""
    return load_facts().profile(version)
