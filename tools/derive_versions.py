#!/usr/bin/env python3
"""Derive schemas/versions.json from the Mattermost source at each release tag (a developer tool).

It only READS a git mirror of the public server repository (`git ls-tree`, `git cat-file`); it builds
nothing and runs no server. For every release tag v3.0.0 ... v4.8.1 (final releases) and v4.9.0-rc3:

- the version the build reports (model/version.go: the first entry of `versions`, which is what
  /api/v3/general/ping and X-Version-Id carry; a 3.10.3 build reports 3.10.0);
- every route api/*.go registers (`BaseRoutes.<Router>.Handle("/path", wrapper(handler)).Methods(...)`,
  the routers' prefixes read from api/api.go), as METHOD + template with gorilla's `{name:regex}`
  reduced to `{name}`;
- every JSON field (`json:"name,..."` tag) of the Go structs behind schemas/models/*.json, and the
  keys of the client config map (`props["Key"] =` in utils/config.go);
- how each route is wrapped (`ApiUserRequired`, `ApiAppHandler`, ...: the auth level it has in that
  release) and whether its handler refuses with `HasSystemAdminPermissions` (the 403 id
  api.context.system_permissions.app_error instead of api.context.permissions.app_error) or sends
  an Etag (HandleEtag / HEADER_ETAG_SERVER in its body) or writes a file with no content type
  (`writeFileResponse(name, "", ...)`: sent as application/octet-stream);
- the list/map fields of models (NIL_FIELDS) that some `model.<Struct>{...}` literal in api/, store/
  or app/ leaves unset, which the release then sends as null (`{"order": null, "posts": null}`);
- server-wide behaviour read from api/*.go: the parts of X-Version-Id (the `fmt.Sprintf` that sets
  it), the cookies a refused session token clears (RemoveSessionCookie), whether a 304 repeats the
  Etag (HandleEtag).

For each route of schemas/openapi.yaml and each field of the mapped models it writes the first and the
last tag that has it; for each per-release value (a wrapper, a header format) the runs of consecutive
tags that share it. Run by hand after changing the catalogue or the model schemas:

    python tools/derive_versions.py --mirror /work/.mirror/AL-Cui+mattermost-server/repo

`--check` compares with the committed file instead of writing it (exit 1 when it differs).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "schemas" / "versions.json"
NEWEST_TAG = "v4.9.0-rc3"

# schemas/models/<file> -> the Go struct of model/*.go that the server encodes for it. Models not
# listed here are maps, lists or settings documents with no struct of their own (their fields are
# not versioned by this tool).
MODEL_STRUCTS = {
    "AnalyticsRow": "AnalyticsRow",
    "AppError": "AppError",
    "Audit": "Audit",
    "Channel": "Channel",
    "ChannelCounts": "ChannelCounts",
    "ChannelData": "ChannelData",
    "ChannelMember": "ChannelMember",
    "ChannelStats": "ChannelStats",
    "ClusterInfo": "ClusterInfo",
    "Command": "Command",
    "CommandResponse": "CommandResponse",
    "Compliance": "Compliance",
    "Emoji": "Emoji",
    "FileInfo": "FileInfo",
    "FileUploadResponse": "FileUploadResponse",
    "IncomingWebhook": "IncomingWebhook",
    "InitialLoad": "InitialLoad",
    "License": "License",
    "OAuthApp": "OAuthApp",
    "OutgoingWebhook": "OutgoingWebhook",
    "Post": "Post",
    "PostList": "PostList",
    "Preference": "Preference",
    "Reaction": "Reaction",
    "Session": "Session",
    "Team": "Team",
    "TeamMember": "TeamMember",
    "TeamStats": "TeamStats",
    "TeamUnread": "TeamUnread",
    "User": "User",
    "UserAutocompleteInChannel": "UserAutocompleteInChannel",
    "UserAutocompleteInTeam": "UserAutocompleteInTeam",
}

# schemas/models/<file> -> a map the server builds key by key: the label its keys are filed under, and
# where they are read (the `props["Key"] = ...` assignments of utils/config.go, every release).
MAP_MODELS = {"ClientConfig": "client config props (utils/config.go)"}
_PROPS_KEY = re.compile(r"\bprops\[\"(\w+)\"\]\s*=")

# The root routers' prefixes where api.go does not spell them as string literals.
_ROOTS = {
    "Srv.Router": "",
    "root": "",
    "app.Srv.Router": "",
    "a.Srv.Router": "",
    "model.API_URL_SUFFIX": "/api/v3",
    "model.API_URL_SUFFIX_V3": "/api/v3",
}
_ASSIGN = re.compile(
    r"BaseRoutes\.(\w+)\s*=\s*([\w.]+?)(?:\.PathPrefix\(\s*(\"[^\"]*\"|[\w.]+)\s*\)\.Subrouter\(\))?\s*$",
    re.M,
)
_HANDLE = re.compile(
    r"BaseRoutes\.(\w+)\.Handle(?:Func)?\(\s*\"([^\"]*)\"\s*,(.*?)\)\s*\.Methods\(([^)]*)\)", re.S
)
_STRUCT = re.compile(r"^type\s+(\w+)\s+struct\s*\{(.*?)^\}", re.M | re.S)
_JSON_TAG = re.compile(r"`[^`]*\bjson:\"([^\",]*)[^\"]*\"[^`]*`")


class ToolError(Exception):
    pass


class Mirror:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        if not (git_dir / "HEAD").exists() and not (git_dir / ".git").exists():
            raise ToolError(f"{git_dir}: not a git repository (pass --mirror)")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ToolError(f"git {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def tags(self) -> list[str]:
        names = self.git("tag", "--list", "v*").split()
        chosen = [t for t in names if re.fullmatch(r"v\d+\.\d+\.\d+", t) and (3, 0, 0) <= _key(t)]
        chosen = [t for t in chosen if _key(t) < (4, 9, 0)]
        if NEWEST_TAG in names:
            chosen.append(NEWEST_TAG)
        return sorted(chosen, key=_key)

    def files(self, tag: str, folder: str) -> dict[str, str]:
        """The non-test *.go files of `folder` at `tag`, by name, read in one `git cat-file --batch`."""
        listing = self.git("ls-tree", f"{tag}:{folder}")
        blobs = []
        for line in listing.splitlines():
            meta, _, name = line.partition("\t")
            if name.endswith(".go") and not name.endswith("_test.go") and meta.split()[1] == "blob":
                blobs.append((name, meta.split()[2]))
        batch = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
            input=("\n".join(sha for _, sha in blobs) + "\n").encode(),
            capture_output=True,
            check=True,
        ).stdout
        out, pos = {}, 0
        for name, _sha in blobs:
            header_end = batch.index(b"\n", pos)
            size = int(batch[pos:header_end].split()[2])
            start = header_end + 1
            out[name] = batch[start : start + size].decode("utf-8", errors="replace")
            pos = start + size + 1
        return out


def _key(tag: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", tag.split("-")[0])[:3])


def version_of(tag: str) -> str:
    return ".".join(str(p) for p in _key(tag))


def strip_code(text: str) -> str:
    """Go source without // and /* */ comments (string literals kept)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"^\s*//.*$|(?<=[;{}),\s])//[^\"`\n]*$", "", text, flags=re.M)


def reported_version(models: dict[str, str]) -> str:
    source = models.get("version.go", "")
    match = re.search(r"var\s+versions\s*=\s*\[\]string\s*\{\s*\"([^\"]+)\"", source)
    if not match:
        raise ToolError("model/version.go: no versions list")
    return match.group(1)


def normalise_template(path: str) -> str:
    """gorilla's `{name:regex}` (regexes may hold braces) reduced to `{name}`."""
    out, i = [], 0
    while i < len(path):
        if path[i] == "{":
            depth, j = 1, i + 1
            while j < len(path) and depth:
                depth += {"{": 1, "}": -1}.get(path[j], 0)
                j += 1
            name = path[i + 1 : j - 1].split(":", 1)[0]
            out.append("{" + name + "}")
            i = j
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def shape(template: str) -> str:
    """A template with its parameter names dropped: the same route under renamed variables."""
    return re.sub(r"\{[^{}]*\}", "{}", template)


def routes_of(api: dict[str, str]) -> set[tuple[str, str]]:
    source = strip_code(api.get("api.go", ""))
    prefixes = _prefixes(source)
    routes = set()
    for text in api.values():
        for router, path, _handler, methods in _HANDLE.findall(strip_code(text)):
            if router not in prefixes:
                raise ToolError(f"route {path!r} on unknown router {router}")
            template = normalise_template(prefixes[router] + path)
            for method in re.findall(r"\"(\w+)\"", methods):
                routes.add((method.upper(), template))
    return routes


def _prefixes(source: str) -> dict[str, str]:
    prefixes: dict[str, str] = {}
    for name, parent, prefix in _ASSIGN.findall(source):
        base = prefixes.get(parent.removeprefix("api.BaseRoutes.").removeprefix("BaseRoutes."))
        if base is None:
            base = _ROOTS.get(parent.removeprefix("api."), None)
        if base is None:
            raise ToolError(f"api.go: router {name} hangs off unknown {parent}")
        if prefix:
            literal = prefix[1:-1] if prefix.startswith('"') else _ROOTS.get(prefix)
            if literal is None:
                raise ToolError(f"api.go: router {name}: unknown prefix {prefix}")
            base += literal
        prefixes[name] = base
    if "ApiRoot" not in prefixes:
        raise ToolError("api.go: no ApiRoot router found")
    return prefixes


_WRAPPED = re.compile(r"^\s*(?:\w+\.)?(\w+)\(\s*(?:\w+\.)?(\w+)")


def handlers_of(api: dict[str, str]) -> dict[tuple[str, str], tuple[str, str]]:
    """(METHOD, template shape) -> (wrapper, handler function) as api/*.go registers it."""
    source = strip_code(api.get("api.go", ""))
    prefixes = _prefixes(source)
    out = {}
    for text in api.values():
        for router, path, handler, methods in _HANDLE.findall(strip_code(text)):
            match = _WRAPPED.match(handler)
            if router not in prefixes or match is None:
                continue
            template = shape(normalise_template(prefixes[router] + path))
            for method in re.findall(r"\"(\w+)\"", methods):
                out[(method.upper(), template)] = (match.group(1), match.group(2))
    return out


_FUNC = re.compile(r"^func\s+(?:\([^)]*\)\s*)?(\w+)\(.*?^\}", re.M | re.S)


def function_bodies(api: dict[str, str]) -> dict[str, str]:
    """Every top-level function (or method) of api/*.go by name: its whole text, comments stripped."""
    out: dict[str, str] = {}
    for text in api.values():
        for match in _FUNC.finditer(strip_code(text)):
            out.setdefault(match.group(1), match.group(0))
    return out


def function_body(api: dict[str, str], name: str) -> str:
    """The body of `func name(` (or a method of that name) in api/*.go, "" if absent."""
    return function_bodies(api).get(name, "")


# Sprintf arguments of X-Version-Id -> the part they print.
_VERSION_ID_PARTS = (
    ("CurrentVersion", "version"),
    ("BuildNumber", "build"),
    ("CfgLastModified", "modified"),
    ("ClientCfgHash", "hash"),
    ("ClientConfigHash", "hash"),
    ("CfgHash", "hash"),
    ("IsLicensed", "licensed"),
    ("License()", "licensed"),
)


def version_id_format(api: dict[str, str]) -> str:
    """The parts X-Version-Id prints, dot-joined (`version.build.hash.licensed`)."""
    for text in api.values():
        match = re.search(
            r"HEADER_VERSION_ID\s*,\s*fmt\.Sprintf\(\s*\"[^\"]*\"\s*,(.*?)\)\s*\)\s*$", text, re.M
        )
        if match:
            parts = []
            for arg in match.group(1).split(","):
                part = next((name for key, name in _VERSION_ID_PARTS if key in arg), None)
                if part is None:
                    raise ToolError(f"X-Version-Id: unknown Sprintf argument {arg.strip()!r}")
                parts.append(part)
            return ".".join(parts)
    raise ToolError("api/*.go: X-Version-Id is never set")


def cleared_cookies(api: dict[str, str], models: dict[str, str]) -> str:
    """The cookies RemoveSessionCookie clears (space-separated names, sorted)."""
    body = function_body(api, "RemoveSessionCookie")
    if not body:
        raise ToolError("api/*.go: no RemoveSessionCookie")
    constants = dict(re.findall(r"(SESSION_COOKIE_\w+)\s*=\s*\"([^\"]+)\"", "\n".join(models.values())))
    names = {constants.get(c, c) for c in re.findall(r"Name:\s*model\.(SESSION_COOKIE_\w+)", body)}
    return " ".join(sorted(names))


def etag_on_304(api: dict[str, str]) -> bool:
    """Whether HandleEtag sets the Etag header on its 304 answer."""
    body = function_body(api, "HandleEtag")
    if not body:
        raise ToolError("api/*.go: no HandleEtag")
    before = body.split("StatusNotModified", 1)[0]
    return "HEADER_ETAG_SERVER" in before


def runs(values: list, tags: list[str]) -> list[dict]:
    """Consecutive tags sharing a value: [{since, until, value}] (until None for the newest run;
    tags without a value (None) are left out)."""
    out: list[dict] = []
    for index, value in enumerate(values):
        if value is None:
            continue
        last = out[-1] if out else None
        if last is not None and last["value"] == value and last["_end"] == index - 1:
            last["_end"] = index
            continue
        out.append({"since": version_of(tags[index]), "_end": index, "value": value})
    for run in out:
        end = run.pop("_end")
        run["until"] = None if end == len(tags) - 1 else version_of(tags[end])
        run["value"] = run.pop("value")
    return out


# Models whose list/map fields a release may leave nil (encoded as null) when its code builds the
# struct bare: `model.PostList{}` without `Order:` leaves `order` null.
NIL_FIELDS = {"PostList": {"Order": "order", "Posts": "posts"}}


def nil_fields(sources: dict[str, str]) -> dict[str, set[str]]:
    """Per model of NIL_FIELDS, the JSON fields some literal `model.<Struct>{...}` of the source
    leaves unset (so nil, sent as null)."""
    out: dict[str, set[str]] = {}
    for name, fields in NIL_FIELDS.items():
        pattern = re.compile(r"model\." + name + r"\{([^{}]*)\}")
        for text in sources.values():
            for match in pattern.finditer(strip_code(text)):
                given = set(re.findall(r"(\w+)\s*:", match.group(1)))
                out.setdefault(name, set()).update(j for go, j in fields.items() if go not in given)
    return out


def structs_of(models: dict[str, str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for text in models.values():
        for name, body in _STRUCT.findall(strip_code(text)):
            fields = {tag for tag in _JSON_TAG.findall(body) if tag and tag != "-"}
            out.setdefault(name, set()).update(fields)
    return out


def span(present: list[bool], tags: list[str]) -> dict[str, str | None] | None:
    """First and last tag with the item (last None while the newest examined tag has it); gaps noted."""
    seen = [i for i, p in enumerate(present) if p]
    if not seen:
        return None
    first, last = seen[0], seen[-1]
    entry: dict[str, str | None] = {
        "since": version_of(tags[first]),
        "until": None if last == len(tags) - 1 else version_of(tags[last]),
    }
    gaps = [version_of(tags[i]) for i in range(first, last + 1) if not present[i]]
    if gaps:
        entry["absent_in"] = gaps  # type: ignore[assignment]
    return entry


def derive(mirror: Mirror, catalogue: list[tuple[str, str]], models: dict[str, list[str]]) -> dict:
    tags = mirror.tags()
    if not tags:
        raise ToolError("no release tags v3.0.0 ... found in the mirror")
    reported: dict[str, str] = {}
    route_sets: list[set[tuple[str, str]]] = []
    struct_sets: list[dict[str, set[str]]] = []
    handler_sets: list[dict[tuple[str, str], tuple[str, str]]] = []
    system_permission_sets: list[set[tuple[str, str]]] = []
    etag_sets: list[set[tuple[str, str]]] = []
    untyped_sets: list[set[tuple[str, str]]] = []
    nil_sets: list[dict[str, set[str]]] = []
    behaviour: dict[str, list] = {"version_id": [], "cleared_cookies": [], "etag_on_304": []}
    for tag in tags:
        api = mirror.files(tag, "api")
        model = mirror.files(tag, "model")
        code = {f"api/{k}": v for k, v in api.items()}
        for folder in ("store", "app"):  # app/ appears in 3.9
            try:
                code.update({f"{folder}/{k}": v for k, v in mirror.files(tag, folder).items()})
            except ToolError:
                pass
        nil_sets.append(nil_fields(code))
        reported[version_of(tag)] = reported_version(model)
        route_sets.append({(m, shape(t)) for m, t in routes_of(api)})
        struct_sets.append(structs_of(model))
        config_go = strip_code(mirror.files(tag, "utils").get("config.go", ""))
        struct_sets[-1][MAP_MODELS["ClientConfig"]] = set(_PROPS_KEY.findall(config_go))
        handlers = handlers_of(api)
        handler_sets.append(handlers)
        bodies = function_bodies(api)
        refusing = {
            name for _, name in handlers.values() if "HasSystemAdminPermissions(" in bodies.get(name, "")
        }
        # Only where the wrapper lets a non-admin through to the handler (ApiAdminSystemRequired
        # refuses first, with api.context.permissions.app_error).
        system_permission_sets.append(
            {key for key, (wrap, name) in handlers.items() if name in refusing and "AdminSystem" not in wrap}
        )
        etag_sets.append(
            {
                key
                for key, (_, name) in handlers.items()
                if re.search(r"HEADER_ETAG_SERVER|HandleEtag\(", bodies.get(name, ""))
            }
        )
        untyped_sets.append(
            {
                key
                for key, (_, name) in handlers.items()
                if re.search(r'writeFileResponse\([^,()]+,\s*""', bodies.get(name, ""))
            }
        )
        behaviour["version_id"].append(version_id_format(api))
        behaviour["cleared_cookies"].append(cleared_cookies(api, model))
        behaviour["etag_on_304"].append(etag_on_304(api))
        print(f"  {tag}: {len(route_sets[-1])} routes, reports {reported[version_of(tag)]}", file=sys.stderr)
    routes: dict[str, dict] = {}
    never: list[str] = []
    for method, template in catalogue:
        entry = span([(method, shape(template)) in found for found in route_sets], tags)
        key = f"{method} {template}"
        if entry is None:
            never.append(key)
        else:
            routes[key] = entry
    wrappers: dict[str, list] = {}
    system_permissions: dict[str, dict] = {}
    etags: dict[str, dict] = {}
    octet_stream: dict[str, dict] = {}
    for method, template in catalogue:
        key, found = f"{method} {template}", (method, shape(template))
        wrapped = runs([h.get(found, (None,))[0] for h in handler_sets], tags)
        if wrapped:
            wrappers[key] = wrapped
        entry = span([found in refusing for refusing in system_permission_sets], tags)
        if entry is not None:
            system_permissions[key] = entry
        entry = span([found in sends for sends in etag_sets], tags)
        if entry is not None:
            etags[key] = entry
        entry = span([found in untyped for untyped in untyped_sets], tags)
        if entry is not None:
            octet_stream[key] = entry
    fields: dict[str, dict[str, dict]] = {}
    unmatched: dict[str, list[str]] = {}
    for name, properties in sorted(models.items()):
        struct = MODEL_STRUCTS.get(name) or MAP_MODELS.get(name)
        if struct is None:
            continue
        out: dict[str, dict] = {}
        for prop in properties:
            entry = span([prop in found.get(struct, set()) for found in struct_sets], tags)
            if entry is None:
                unmatched.setdefault(name, []).append(prop)
            else:
                out[prop] = entry
        fields[name] = {"struct": struct, "fields": out}  # type: ignore[dict-item]
    return {
        "description": (
            "Derived by tools/derive_versions.py from the Mattermost source at each release tag: the first "
            "(since) and last (until; null = still in the newest tag examined) release whose api/*.go "
            "registers each catalogue route and whose model/*.go struct has each JSON field; `wrappers`, "
            "`behaviour`: runs of releases sharing a value (a route's wrapper, the parts of X-Version-Id, the "
            "cookies a refused token clears, whether a 304 repeats the Etag); `system_permissions_refusal`: "
            "the releases whose handler refuses with HasSystemAdminPermissions; `nullable`: the releases whose "
            "code builds the model with that list or map unset (sent as null); `etag_routes`: the releases whose "
            "handler sends an Etag; `octet_stream_routes`: whose handler sends its file as application/octet-stream. Do not edit by hand: run the tool."
        ),
        "tags": [version_of(t) for t in tags],
        "newest": version_of(tags[-1]),
        "reported": reported,
        "routes": routes,
        "routes_not_in_source": never,
        "wrappers": wrappers,
        "system_permissions_refusal": system_permissions,
        "etag_routes": etags,
        "octet_stream_routes": octet_stream,
        "behaviour": {name: runs(values, tags) for name, values in behaviour.items()},
        "nullable": {
            name: {
                field: entry
                for field in fields.values()
                if (entry := span([field in found.get(name, set()) for found in nil_sets], tags))
            }
            for name, fields in NIL_FIELDS.items()
        },
        "models": fields,
        "fields_not_in_struct": unmatched,
    }


def catalogue_routes(openapi: Path) -> list[tuple[str, str]]:
    doc = yaml.load(openapi.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out = []
    for template, item in doc["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete", "head", "options"):
                out.append((method.upper(), str(template)))
    return out


def model_properties(models_dir: Path) -> dict[str, list[str]]:
    out = {}
    for path in sorted(models_dir.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        out[path.stem] = list((schema.get("properties") or {}).keys())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mirror",
        type=Path,
        default=Path("/work/.mirror/AL-Cui+mattermost-server/repo"),
        help="git directory of a mirror of the Mattermost server repository",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    try:
        data = derive(
            Mirror(args.mirror),
            catalogue_routes(REPO / "schemas" / "openapi.yaml"),
            model_properties(REPO / "schemas" / "models"),
        )
    except (ToolError, OSError, subprocess.CalledProcessError) as exc:
        print(f"derive_versions: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"derive_versions: {args.out} is out of date: run the tool", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(
        f"{args.out}: {len(data['tags'])} tags, {len(data['routes'])} routes "
        f"({len(data['routes_not_in_source'])} not found in any api/*.go), "
        f"{sum(len(m['fields']) for m in data['models'].values())} fields of {len(data['models'])} models"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
