"""The v3 route catalogue: every operation of schemas/openapi.yaml, and a router that dispatches like Mattermost.

`Catalog.load()` reads the OpenAPI document once; each `Operation` carries what the checks, the client and the
reference server need (auth level, permission, success schema, error statuses, ...). `Catalog.match()` answers
the question "which handler would real Mattermost 4.9 run for this request?": it tries the routes in the order
gorilla/mux does (`x-mmv3-dispatch-order`), so literal names shadowed by variables resolve as they do on a real
server (GET /api/v3/users/name/get is users/{user_id}/get with user_id=name).

Schemas are returned as they appear in the document: `models/<Name>.json` references stay relative (validate
them with `mmv3.schemas.default_registry().validate(body, schema, base_uri=OPENAPI_URI)`); references to
`#/components/...` are inlined so that each schema stands alone. Treat returned dicts as read-only.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import mimetypes
import posixpath
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from mmv3 import paths, versions

AUTH_LEVELS = ("none", "session", "session-mfa-exempt", "system_admin", "web")
SESSION_AUTH = ("session", "session-mfa-exempt", "system_admin")
# The auth level (and trust of the requester) each api/*.go handler wrapper gives a route, in every
# release that has the wrapper (schemas/versions.json records which wrapper a release uses).
WRAPPER_AUTH: dict[str, tuple[str, bool]] = {
    "ApiAppHandler": ("none", False),
    "ApiAppHandlerTrustRequester": ("none", True),
    "ApiAppHandlerTrustRequesterIndependent": ("none", True),
    "ApiUserRequired": ("session", False),
    "ApiUserRequiredActivity": ("session", False),
    "ApiUserRequiredTrustRequester": ("session", True),
    "ApiUserRequiredMfa": ("session-mfa-exempt", False),
    "ApiAdminSystemRequired": ("system_admin", False),
    "ApiAdminSystemRequiredTrustRequester": ("system_admin", True),
    "AppHandler": ("web", False),
    "AppHandlerIndependent": ("web", False),
    "AppHandlerTrustRequester": ("web", True),
}
# The 403 id of a handler that refuses a non-admin itself (HasSystemAdminPermissions, up to 3.4).
SYSTEM_PERMISSIONS_ID = "api.context.system_permissions.app_error"
OCTET_STREAM = "application/octet-stream"
_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")
_VAR = re.compile(r"\{([^{}]+)\}")
# Characters left as they are when a value is put into a path segment (RFC 3986 pchar minus '/').
_SEGMENT_SAFE = "@:+!$&'()*,;=-._~"
# First path segments used as the router's index key ('', 'api', 'v3', '<resource>').
_INDEX_DEPTH = 4
# libyaml when available: the pure-Python parser needs most of a second for this document.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Stand-ins for uploaded files in example requests.
_PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
_EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18


class CatalogError(Exception):
    """The catalogue file cannot be used (missing, malformed, inconsistent)."""


@dataclass(frozen=True)
class Param:
    name: str
    pattern: str | None  # anchored regex (^...$) the value must match; None when unconstrained
    required: bool
    description: str
    example: str | None = None


@dataclass(frozen=True)
class ExampleRequest:
    """A ready-to-send example call of an operation (values from the document's examples)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] | None = None  # urlencoded or multipart text fields
    files: dict[str, tuple[str, bytes, str]] | None = None  # multipart file fields: (filename, content, type)
    body: str | None = None  # a raw text body
    content_type: str | None = None

    def url(self, base_url: str) -> str:
        from urllib.parse import urlencode

        query = f"?{urlencode(self.query)}" if self.query else ""
        return f"{base_url.rstrip('/')}{self.path}{query}"


@dataclass(frozen=True, repr=False)
class Operation:
    operation_id: str
    method: str
    template: str  # full path from the site root, e.g. "/api/v3/teams/{team_id}/channels/{channel_id}/"
    group: str
    auth: str
    permission: str | None
    requires: tuple[str, ...]
    trusted: bool
    wrapper: str
    path_params: tuple[Param, ...]
    query_params: tuple[Param, ...]
    request_content_type: str | None
    request_schema: dict | None = field(compare=False, hash=False, repr=False)
    response_content_type: str  # media type of the success body; "" when it has none
    response_schema: dict | None = field(compare=False, hash=False, repr=False)
    error_statuses: tuple[int, ...]
    etag: bool
    summary: str
    quirks: tuple[str, ...]
    success_status: int = 200
    props_body: bool = False  # the body is decoded as a string-valued map (any non-string value empties it)
    # How a PostList answer orders `order` by create_at (`x-mmv3-post-order`): newest first, as
    # every post list of v3 but the pinned posts.
    post_order: str = "newest-first"
    versions: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    # `x-mmv3-slow`: a route that holds its answer by design gets this timeout (seconds) instead
    # of the run's, and its wait never counts as the target having stopped answering.
    slow_timeout: float | None = None
    slow_reason: str = ""
    # The releases whose api/*.go registers the route (schemas/versions.json); None when not derived.
    served: versions.Span | None = field(default=None, compare=False, hash=False, repr=False)
    # The 403 id a non-admin gets on a system-admin route; None: api.context.permissions.app_error.
    admin_refusal_id: str | None = None
    request_example: Any = field(default=None, compare=False, hash=False, repr=False)
    _regex: re.Pattern[str] | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self._regex is None:
            object.__setattr__(self, "_regex", _compile(self.template, self.path_params))

    @property
    def key(self) -> str:
        """'METHOD template', the spelling used by routes.tsv and the corpus."""
        return f"{self.method} {self.template}"

    def __repr__(self) -> str:
        # Reports show a test's parameter by its repr (Allure): the route, not forty fields.
        return self.key

    @property
    def session_required(self) -> bool:
        return self.auth in SESSION_AUTH

    def path(self, **params: object) -> str:
        """The template with `params` filled in (each value percent-encoded as one path segment)."""
        names = [p.name for p in self.path_params]
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(
                f"{self.operation_id}: missing path parameter(s) {', '.join(missing)} for {self.template}"
            )
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(
                f"{self.operation_id}: unknown path parameter(s) {', '.join(unknown)} for {self.template}"
            )
        by_name = {p.name: p for p in self.path_params}

        def fill(m: re.Match[str]) -> str:
            name = m.group(1)
            safe = _SEGMENT_SAFE + ("/" if _may_contain_slash(by_name[name].pattern) else "")
            return quote(str(params[name]), safe=safe)

        return _VAR.sub(fill, self.template)

    def match_path(self, path: str) -> dict[str, str] | None:
        """The path parameters if `path` (query string ignored) matches this route's template, else None."""
        m = self._regex.fullmatch(unquote(path.split("?", 1)[0]))
        return m.groupdict() if m else None

    def example_request(self, **params: object) -> ExampleRequest:
        """An example call: path parameters from `params`, else the document's examples."""
        values = {p.name: p.example for p in self.path_params if p.example is not None}
        values.update(params)
        query = {p.name: p.example for p in self.query_params if p.example is not None}
        ctype = self.request_content_type
        example = copy.deepcopy(self.request_example)
        request: dict[str, Any] = {"content_type": ctype}
        if ctype is None:
            request["content_type"] = None
        elif ctype == "application/json":
            request["json"] = example
        elif ctype == "multipart/form-data":
            request["form"], request["files"] = _multipart_example(self.request_schema or {}, example or {})
        elif ctype == "application/x-www-form-urlencoded":
            request["form"] = {k: str(v) for k, v in (example or {}).items()}
        else:
            request["body"] = "" if example is None else str(example)
        return ExampleRequest(method=self.method, path=self.path(**values), query=query, **request)


POST_ORDERS = ("newest-first", "oldest-first")


def _post_order(value: Any) -> str:
    if value is None:
        return POST_ORDERS[0]
    if value not in POST_ORDERS:
        raise CatalogError(f"x-mmv3-post-order must be one of {', '.join(POST_ORDERS)}, not {value!r}")
    return str(value)


class Catalog:
    """All v3 operations (routes.tsv order) plus a router with gorilla/mux semantics."""

    def __init__(
        self,
        operations: tuple[Operation, ...],
        dispatch_order: tuple[Operation, ...],
        source: str = "",
        facts: versions.VersionFacts | None = None,
    ):
        if facts is not None:
            spans = {op.key: facts.routes.get(op.key) for op in operations}
            served = {op.key: dataclasses.replace(op, served=spans[op.key]) for op in operations}
            operations = tuple(served[op.key] for op in operations)
            dispatch_order = tuple(served[op.key] for op in dispatch_order)
        self.operations = operations
        self.dispatch_order = dispatch_order
        self.source = source
        self.facts = facts
        self._by_id = {op.operation_id: op for op in operations}
        self._by_route = {(op.method, op.template): op for op in operations}
        self._as_of: dict[tuple[str, ...], Catalog] = {}
        self._index, self._wildcards = _build_index(dispatch_order)

    def __repr__(self) -> str:
        return f"Catalog({len(self.operations)} operations from {self.source or '?'})"

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        """Read an OpenAPI document (default: the project's schemas/openapi.yaml)."""
        path = Path(path) if path is not None else paths.openapi_path()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read the catalogue: {exc.strerror or exc}") from None
        try:
            doc = yaml.load(text, Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise CatalogError(f"{path}:{where}: not valid YAML: {problem}") from None
        facts = None
        facts_path = path.parent / versions.VERSIONS_FILE
        if facts_path.exists():
            try:
                facts = versions.VersionFacts.load(facts_path)
            except versions.VersionError as exc:
                raise CatalogError(str(exc)) from None
        return cls.from_document(doc, source=str(path), facts=facts)

    @classmethod
    def from_document(
        cls, doc: Any, source: str = "<document>", facts: versions.VersionFacts | None = None
    ) -> Catalog:
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict) or not doc["paths"]:
            raise CatalogError(f"{source}: not an OpenAPI document with paths")
        operations: list[Operation] = []
        for template, item in doc["paths"].items():
            if not isinstance(item, dict):
                raise CatalogError(f"{source}: path {template!r} is not a mapping")
            for method, raw in item.items():
                if method not in _METHODS:
                    continue
                label = f"{method.upper()} {template}"
                try:
                    operations.append(_operation(doc, method.upper(), str(template), raw))
                except CatalogError as exc:
                    raise CatalogError(f"{source}: {label}: {exc}") from None
                except (KeyError, TypeError, ValueError, AttributeError, re.error) as exc:
                    raise CatalogError(
                        f"{source}: {label}: malformed operation ({type(exc).__name__}: {exc})"
                    ) from None
        ids = [op.operation_id for op in operations]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise CatalogError(f"{source}: duplicate operationId {', '.join(dupes)}")
        by_key = {op.key: op for op in operations}
        order = doc.get("x-mmv3-dispatch-order")
        if order is None:
            dispatch = tuple(operations)
        else:
            if not isinstance(order, list) or sorted(map(str, order)) != sorted(by_key):
                extra = sorted(set(map(str, order or [])) - set(by_key))[:3]
                absent = sorted(set(by_key) - set(map(str, order or [])))[:3]
                raise CatalogError(
                    f"{source}: x-mmv3-dispatch-order must list every operation once "
                    f"(unknown: {extra or '-'}; missing: {absent or '-'})"
                )
            dispatch = tuple(by_key[str(k)] for k in order)
        return cls(tuple(operations), dispatch, source, facts)

    # ------------------------------------------------------------------ versions
    def profile(self, version: str | None) -> versions.Profile:
        """What applies to a target of `version` (VersionError when it is not a version number).

        Without derived facts (a catalogue with no versions.json beside it) every route is served."""
        facts = self.facts or versions.VersionFacts(("0.0.0",), {}, {}, {})
        return facts.profile(version)

    def served_by(self, version: str | None) -> tuple[Operation, ...]:
        """The operations a target of `version` registers (all of them for None)."""
        profile = self.profile(version)
        return tuple(op for op in self.operations if profile.serves(op.key))

    def not_served_by(self, version: str | None) -> tuple[Operation, ...]:
        profile = self.profile(version)
        return tuple(op for op in self.operations if not profile.serves(op.key))

    def as_of(self, version: str | None) -> Catalog:
        """The catalogue as a target of `version` has it: each route's auth level and trust from the
        wrapper its release registers it with, the 403 id of handlers that refuse a non-admin
        themselves, no Etag demanded where the release's handler sends none, application/octet-stream
        where it writes a file without a content type (schemas/versions.json).
        Routes whose matching releases disagree keep what the catalogue says. Cached per profile."""
        if version is None or self.facts is None:
            return self
        profile = self.profile(version)
        cached = self._as_of.get(profile.key)
        if cached is not None:
            return cached
        changed = {}
        for op in self.operations:
            updates: dict[str, Any] = {}
            wrapper = profile.wrapper(op.key)
            if wrapper and wrapper != op.wrapper and wrapper in WRAPPER_AUTH:
                auth, trusted = WRAPPER_AUTH[wrapper]
                updates.update(wrapper=wrapper, auth=auth, trusted=trusted)
            if profile.refuses_with_system_permissions(op.key):
                updates.update(auth="system_admin", admin_refusal_id=SYSTEM_PERMISSIONS_ID)
            if op.etag and profile.lacks_etag(op.key):
                updates["etag"] = False
            if profile.sends_octet_stream(op.key) and op.response_content_type != OCTET_STREAM:
                updates["response_content_type"] = OCTET_STREAM
            if updates:
                changed[op.key] = dataclasses.replace(op, **updates)
        if not changed:
            view = self
        else:
            view = Catalog(
                tuple(changed.get(op.key, op) for op in self.operations),
                tuple(changed.get(op.key, op) for op in self.dispatch_order),
                self.source,
                self.facts,
            )
        self._as_of[profile.key] = view
        return view

    # ------------------------------------------------------------------ lookup
    def get(self, operation_id: str, template: str | None = None) -> Operation:
        """The operation with this operationId, or `get(method, template)` by route. KeyError if unknown."""
        if template is not None:
            op = self._by_route.get((operation_id.upper(), template))
            if op is None:
                raise KeyError(f"no route {operation_id.upper()} {template} in the catalogue")
            return op
        try:
            return self._by_id[operation_id]
        except KeyError:
            raise KeyError(f"no operation {operation_id!r} in the catalogue") from None

    def by_route(self, method: str, template: str) -> Operation | None:
        return self._by_route.get((method.upper(), template))

    def match(self, method: str, url_or_path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation the real router would dispatch `method url_or_path` to, with its path parameters.

        None when gorilla would not dispatch: unknown path, wrong method (the catch-all 404), or an unclean path
        (`//`, `/./`, `/../`: gorilla answers those with a 301 to the cleaned path). Scheme, host, query string
        and fragment are ignored; percent-escapes are decoded before matching, as Go's URL.Path is.
        """
        raw = _raw_path(url_or_path)
        if raw is None or _clean_path(raw) != raw:
            return None
        path = unquote(raw)
        segments = path.split("/")
        key = (method.upper(), tuple(segments[:_INDEX_DEPTH]))
        candidates = self._index.get(key)
        if candidates is None:
            candidates = self._wildcards.get(key[0], ())
        count = len(segments)
        for op, regex, fixed in candidates:
            if fixed is not None and fixed != count:
                continue
            m = regex.fullmatch(path)
            if m:
                return op, m.groupdict()
        return None

    def groups(self) -> dict[str, list[Operation]]:
        out: dict[str, list[Operation]] = {}
        for op in self.operations:
            out.setdefault(op.group, []).append(op)
        return out

    def summary(self) -> dict:
        by_group = {g: len(ops) for g, ops in sorted(self.groups().items())}
        by_auth: dict[str, int] = {}
        for op in self.operations:
            by_auth[op.auth] = by_auth.get(op.auth, 0) + 1
        return {
            "total": len(self.operations),
            "groups": by_group,
            "auth": {a: by_auth[a] for a in AUTH_LEVELS if a in by_auth},
            "trusted": sum(op.trusted for op in self.operations),
            "etag": sum(op.etag for op in self.operations),
        }


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The project's catalogue, loaded once per process."""
    return Catalog.load()


# ---------------------------------------------------------------------------------------- the command
def run_catalogue_command(args: argparse.Namespace) -> int:
    """`mmv3 catalogue [--json] [--version X]`: route counts per group and auth level, then one line per
    route; with --version only the routes Mattermost X serves, and the model fields it does not have."""
    try:
        source = getattr(args, "catalog", None)
        catalog = Catalog.load(source) if source else load_catalog()
    except CatalogError as exc:
        print(f"mmv3 catalogue: {exc}", file=sys.stderr)
        return 1
    version = getattr(args, "version", None)
    try:
        profile = catalog.profile(version)
    except versions.VersionError as exc:
        print(f"mmv3 catalogue: --version: {exc}", file=sys.stderr)
        return 2
    served = catalog.served_by(version)
    absent = catalog.not_served_by(version)
    fields = _absent_fields(profile) if version else {}
    shown = Catalog(served, tuple(op for op in catalog.dispatch_order if op in served), catalog.source)
    summary = shown.summary()
    if getattr(args, "json", False):
        routes = [
            {
                "operation_id": op.operation_id,
                "method": op.method,
                "path": op.template,
                "group": op.group,
                "auth": op.auth,
                "permission": op.permission,
                "trusted": op.trusted,
                "requires": list(op.requires),
                "etag": op.etag,
                "success_status": op.success_status,
                "error_statuses": list(op.error_statuses),
                "summary": op.summary,
                "since": op.served.since if op.served else None,
                "until": op.served.until if op.served else None,
            }
            for op in served
        ]
        body: dict[str, Any] = {"summary": summary, "routes": routes}
        if version:
            body["version"] = {
                "profile": profile.describe(),
                "tags": list(profile.tags),
                "not_served": [op.key for op in absent],
                "fields_not_required": fields,
            }
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = []
    if version:
        out.append(f"version {profile.describe()}")
        out.append(
            f"{summary['total']} of {len(catalog)} routes served; {len(absent)} not served (not checked)"
        )
    else:
        out.append(f"{summary['total']} routes")
    out.append("per group: " + ", ".join(f"{g} {n}" for g, n in summary["groups"].items()))
    out.append("per auth:  " + ", ".join(f"{a} {n}" for a, n in summary["auth"].items()))
    out.append("")
    width = max(len(op.template) for op in catalog.operations)
    for op in served:
        since = f"  served {op.served}" if op.served else ""
        out.append(f"{op.method:<5} {op.template:<{width}}  {op.auth:<18} {op.group}{since}")
    if version and absent:
        out += ["", f"not served by {profile.version} (added later; not collected for such a target):"]
        for op in absent:
            out.append(f"{op.method:<5} {op.template:<{width}}  served {op.served}")
    if fields:
        out += ["", f"model fields {profile.version} does not have (not required of it):"]
        out += [f"  {model}: {', '.join(names)}" for model, names in fields.items()]
    print("\n".join(out))
    return 0


def _absent_fields(profile: versions.Profile) -> dict[str, list[str]]:
    found = {model: profile.absent_fields(model) for model in sorted(profile.facts.fields)}
    return {model: names for model, names in found.items() if names}


# ---------------------------------------------------------------------------------------- building
def _operation(doc: dict, method: str, template: str, raw: Any) -> Operation:
    if not isinstance(raw, dict):
        raise CatalogError("operation is not a mapping")
    op_id = raw.get("operationId")
    if not isinstance(op_id, str) or not op_id:
        raise CatalogError("operationId missing")
    auth = raw.get("x-mmv3-auth")
    if auth not in AUTH_LEVELS:
        raise CatalogError(f"x-mmv3-auth must be one of {', '.join(AUTH_LEVELS)}, not {auth!r}")
    group = raw.get("x-mmv3-group")
    if not isinstance(group, str) or not group:
        raise CatalogError("x-mmv3-group missing")
    trusted = raw.get("x-mmv3-trusted")
    if not isinstance(trusted, bool):
        raise CatalogError("x-mmv3-trusted must be true or false")

    params = [_resolve(doc, p) for p in raw.get("parameters") or []]
    path_params = tuple(_param(p) for p in params if p.get("in") == "path")
    query_params = tuple(_param(p) for p in params if p.get("in") == "query")
    declared = [p.name for p in path_params]
    in_template = _VAR.findall(template)
    if sorted(declared) != sorted(in_template):
        raise CatalogError(f"path parameters {declared} do not match the template's {in_template}")
    path_params = tuple(sorted(path_params, key=lambda p: in_template.index(p.name)))

    request_type = request_schema = request_example = None
    props_body = False
    body = raw.get("requestBody")
    if body is not None:
        body = _resolve(doc, body)
        content = body.get("content") or {}
        if content:
            request_type, media = next(iter(content.items()))
            request_schema = _inline(doc, media.get("schema"))
            request_example = media.get("example")
        props_body = bool(body.get("x-mmv3-props-map"))

    responses = raw.get("responses")
    if not isinstance(responses, dict) or not responses:
        raise CatalogError("responses missing")
    statuses = sorted(int(s) for s in responses)
    successes = [s for s in statuses if 100 <= s < 400 and s != 304]
    if not successes:
        raise CatalogError("no success response")
    success = successes[0]
    ok = _resolve(doc, responses[str(success)] if str(success) in responses else responses[success])
    ok_content = ok.get("content") or {}
    response_type, response_schema = "", None
    if ok_content:
        response_type, media = next(iter(ok_content.items()))
        response_schema = _inline(doc, media.get("schema"))

    slow_timeout, slow_reason = _slow(raw.get("x-mmv3-slow"))
    return Operation(
        operation_id=op_id,
        method=method,
        template=template,
        group=group,
        auth=auth,
        permission=raw.get("x-mmv3-permission"),
        requires=tuple(raw.get("x-mmv3-requires") or ()),
        trusted=trusted,
        wrapper=str(raw.get("x-mmv3-wrapper") or ""),
        path_params=path_params,
        query_params=query_params,
        request_content_type=request_type,
        request_schema=request_schema,
        response_content_type=response_type,
        response_schema=response_schema,
        error_statuses=tuple(s for s in statuses if s >= 400),
        etag=bool(raw.get("x-mmv3-etag")),
        summary=str(raw.get("summary") or ""),
        quirks=tuple(str(q) for q in raw.get("x-mmv3-quirks") or ()),
        success_status=success,
        props_body=props_body,
        post_order=_post_order(raw.get("x-mmv3-post-order")),
        versions={str(k): str(v) for k, v in (raw.get("x-mmv3-versions") or {}).items()},
        slow_timeout=slow_timeout,
        slow_reason=slow_reason,
        request_example=request_example,
    )


def _slow(value: Any) -> tuple[float | None, str]:
    """`x-mmv3-slow: {timeout: SECONDS, reason: TEXT}` -> (timeout, reason); (None, "") when absent."""
    if value is None:
        return None, ""
    if not isinstance(value, dict):
        raise CatalogError("x-mmv3-slow must be a mapping with timeout and reason")
    timeout, reason = value.get("timeout"), value.get("reason")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise CatalogError(f"x-mmv3-slow.timeout must be a positive number of seconds, not {timeout!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise CatalogError("x-mmv3-slow.reason must say why the route is slow")
    return float(timeout), " ".join(reason.split())


def _param(p: dict) -> Param:
    schema = p.get("schema") or {}
    example = p.get("example")
    return Param(
        name=str(p["name"]),
        pattern=schema.get("pattern"),
        required=bool(p.get("required")),
        description=str(p.get("description") or ""),
        example=None if example is None else str(example),
    )


def _resolve(doc: dict, node: Any) -> Any:
    """Follow a local reference (#/...); sibling keys of the $ref override the target's (OpenAPI 3.1)."""
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        ref = node["$ref"]
        if ref in seen:
            raise CatalogError(f"circular reference {ref}")
        seen.add(ref)
        target = _pointer(doc, ref)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **siblings} if siblings else target
    return node


def _inline(doc: dict, schema: Any, depth: int = 0) -> Any:
    """A copy of `schema` with local #/components references inlined (model file references kept)."""
    if depth > 32:
        raise CatalogError("schema references nest too deeply")
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
            return _inline(doc, _resolve(doc, schema), depth + 1)
        return {k: _inline(doc, v, depth + 1) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(doc, v, depth + 1) for v in schema]
    return schema


def _pointer(doc: dict, ref: str) -> Any:
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise CatalogError(f"unresolvable reference {ref}")
        node = node[part]
    return node


def _compile(template: str, params: tuple[Param, ...]) -> re.Pattern[str]:
    patterns = {p.name: _unanchored(p.pattern) for p in params}
    out, pos = [], 0
    for m in _VAR.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{patterns.get(m.group(1)) or '[^/]+'})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


def _unanchored(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1]
    return pattern


def _may_contain_slash(pattern: str | None) -> bool:
    regex = _unanchored(pattern) or "[^/]+"
    return any(re.fullmatch(regex, probe) for probe in ("a/b", "a/b.png"))


def _build_index(order: tuple[Operation, ...]) -> tuple[dict, dict]:
    """Routes bucketed by (method, first path segments), each bucket in dispatch order."""
    literal: dict[tuple, list] = {}
    wild: dict[str, list] = {}
    for rank, op in enumerate(order):
        segments = op.template.split("/")
        head = segments[:_INDEX_DEPTH]
        fixed = None if any(_may_contain_slash(p.pattern) for p in op.path_params) else len(segments)
        entry = (rank, op, op._regex, fixed)
        if any("{" in s for s in head):
            wild.setdefault(op.method, []).append(entry)
        else:
            literal.setdefault((op.method, tuple(head)), []).append(entry)
    index = {}
    for key, entries in literal.items():
        merged = sorted(entries + wild.get(key[0], []), key=lambda e: e[0])
        index[key] = tuple(e[1:] for e in merged)
    wildcards = {m: tuple(e[1:] for e in entries) for m, entries in wild.items()}
    return index, wildcards


def _raw_path(url_or_path: str) -> str | None:
    if "://" in url_or_path:
        path = urlsplit(url_or_path).path
    else:
        path = url_or_path.split("?", 1)[0].split("#", 1)[0]
    return path or None


def _clean_path(p: str) -> str:
    """gorilla/mux's cleanPath: path.Clean, keeping a trailing slash."""
    if not p.startswith("/"):
        p = "/" + p
    cleaned = posixpath.normpath(p)
    if cleaned.startswith("//"):  # POSIX keeps two leading slashes, Go does not
        cleaned = "/" + cleaned.lstrip("/")
    if p.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def _multipart_example(
    schema: Mapping, example: Mapping
) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    properties = schema.get("properties") or {}
    form: dict[str, str] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    for name, value in example.items():
        prop = properties.get(name) or {}
        item = prop.get("items") if prop.get("type") == "array" else prop
        media = (item or {}).get("contentMediaType")
        is_file = media is not None and not media.startswith("application/json")
        if is_file:
            filename = str(value)
            guessed = mimetypes.guess_type(filename)[0]
            ctype = guessed or media
            files[name] = (filename, _placeholder(ctype), ctype)
        else:
            form[name] = value if isinstance(value, str) else json.dumps(value)
    return form, files


def _placeholder(media_type: str) -> bytes:
    if media_type == "image/png":
        return _PNG_1X1
    if media_type == "application/zip":
        return _EMPTY_ZIP
    return b"mmv3 example file\n"
