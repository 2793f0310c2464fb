"""The JSON Schema registry: every v3 model schema, offline, with readable validation and drift reports.

Model files live in `schemas/models/<Name>.json` (JSON Schema 2020-12, `$id` under BASE_URI, refs between
models relative). Inline schemas (e.g. an operation's response schema from openapi.yaml) are validated
with their relative `$ref`s resolved against `base_uri`, so `models/User.json` and
`#/components/...` mean what they mean inside openapi.yaml.

Nothing is ever fetched: a `$ref` to a URI the registry does not hold is an error, never a download.
Unknown extra properties are not errors (a newer server may add fields); `drift()` lists them instead.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from mmv3 import paths, redact, versions

BASE_URI = "https://mmv3.invalid/schemas/"
MODELS_URI = BASE_URI + "models/"
OPENAPI_URI = BASE_URI + "openapi.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

_SHOW_LIMIT = 60
# Dotted path segments for plain keys, ids included (jsonschema would bracket ids that start with a digit,
# and Mattermost ids often do); anything else is bracket-quoted: $.posts.4rrena8f.id, $.user['new one'].
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_]+$")
# Keywords whose values are data, not subschemas: never look for $ref inside them.
_DATA_KEYWORDS = frozenset({"const", "enum", "examples", "default", "example"})
_MAX_DEPTH = 64


class SchemaLoadError(Exception):
    """A schema that cannot be used: unreadable, malformed, or referring to something not loaded."""


@dataclass(frozen=True)
class SchemaIssue:
    """One reason an instance does not match its schema."""

    path: str  # JSON path of the offending value, e.g. "$.posts.abc.id"
    expected: str
    got: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: expected {self.expected}, got {self.got}"


class SchemaRegistry:
    """The loaded model schemas plus any extra resources (e.g. openapi.yaml) registered later."""

    def __init__(self, schemas: Mapping[str, dict], registry: Registry, directory: Path | None = None):
        self._schemas = dict(schemas)
        self._registry = registry
        self.directory = directory
        self.names: tuple[str, ...] = tuple(sorted(self._schemas))
        self._validators: dict[Any, Draft202012Validator] = {}
        self._by_profile: dict[tuple[str, ...], SchemaRegistry] = {}
        self.profile: versions.Profile | None = None

    def __repr__(self) -> str:
        return f"SchemaRegistry({len(self.names)} models from {self.directory})"

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, directory: Path | None = None) -> SchemaRegistry:
        """Load every `*.json` model in `directory` (default: the project's schemas/models)."""
        directory = Path(directory) if directory is not None else paths.models_dir()
        if not directory.is_dir():
            raise SchemaLoadError(f"{directory}: schema directory not found")
        files = sorted(directory.glob("*.json"))
        if not files:
            raise SchemaLoadError(f"{directory}: no *.json schema files")
        schemas = {path.stem: _read_model(path) for path in files}
        registry = Registry().with_resources(
            (_model_uri(name), DRAFT202012.create_resource(contents)) for name, contents in schemas.items()
        )
        for name, contents in schemas.items():
            _check_refs(contents, registry.resolver(_model_uri(name)), str(directory / f"{name}.json"))
        return cls(schemas, registry, directory)

    def add_resource(self, uri: str, contents: Mapping[str, Any]) -> None:
        """Register another document (e.g. parsed openapi.yaml) so `$ref`s into it resolve."""
        resource = Resource.from_contents(dict(contents), default_specification=DRAFT202012)
        self._registry = self._registry.with_resource(uri, resource)
        self._validators.clear()  # validators hold the previous registry
        self._by_profile.clear()  # and so do the version views

    # ------------------------------------------------------------------ versions
    def for_version(self, version: str | None) -> SchemaRegistry:
        """The registry as it applies to a target of `version` (None: this registry, as written).

        A field that the version's source lacks (`schemas/versions.json`: introduced later, or removed
        earlier) is dropped from its model's `required` list, and a list or map field that the
        version's code may leave nil (`nullable`) may also be null; everything else stays as written. The
        result is cached per profile (versions resolving to the same release tags share one).
        VersionError for a malformed version.
        """
        if version is None:
            return self
        profile = versions.profile(version)
        cached = self._by_profile.get(profile.key)
        if cached is not None:
            return cached
        schemas: dict[str, dict] = {}
        for name, contents in self._schemas.items():
            absent = set(profile.absent_fields(name))
            required = contents.get("required")
            if absent and isinstance(required, list) and absent & set(required):
                contents = {**contents, "required": [f for f in required if f not in absent]}
            nullable = [f for f in profile.nullable_fields(name) if f in (contents.get("properties") or {})]
            if nullable:
                properties = dict(contents["properties"])
                for field in nullable:
                    properties[field] = {"anyOf": [properties[field], {"type": "null"}]}
                contents = {**contents, "properties": properties}
            schemas[name] = contents
        changed = [name for name, contents in schemas.items() if contents is not self._schemas[name]]
        if not changed:
            self._by_profile[profile.key] = self
            return self
        registry = self._registry.with_resources(
            (_model_uri(name), DRAFT202012.create_resource(schemas[name])) for name in changed
        )
        view = SchemaRegistry(schemas, registry, self.directory)
        view.profile = profile
        self._by_profile[profile.key] = view
        return view

    # ------------------------------------------------------------------ lookup
    def uri(self, name: str) -> str:
        self._require(name)
        return _model_uri(name)

    def schema(self, name: str) -> dict:
        """A copy of model `name`'s schema (copies, so callers cannot corrupt cached validators)."""
        self._require(name)
        return copy.deepcopy(self._schemas[name])

    def _require(self, name: str) -> None:
        if name not in self._schemas:
            raise KeyError(f"no model schema named {name!r}")

    # ------------------------------------------------------------------ validation
    def validate(
        self, instance: Any, schema: str | Mapping[str, Any] | bool, *, base_uri: str = OPENAPI_URI
    ) -> list[SchemaIssue]:
        """Every way `instance` fails `schema` (a model name or an inline schema); [] when it conforms."""
        validator, label = self._validator(schema, base_uri)
        try:
            errors = list(validator.iter_errors(instance))
        except Unresolvable as exc:
            raise SchemaLoadError(f"{label}: $ref cannot be resolved offline: {_one_line(exc)}") from None
        issues: dict[tuple[str, str, str], SchemaIssue] = {}
        for error in errors:
            for issue in _issues(error):
                issues.setdefault((issue.path, issue.expected, issue.got), issue)
        return sorted(issues.values(), key=lambda issue: (issue.path, issue.expected))

    def is_valid(
        self, instance: Any, schema: str | Mapping[str, Any] | bool, *, base_uri: str = OPENAPI_URI
    ) -> bool:
        validator, label = self._validator(schema, base_uri)
        try:
            return validator.is_valid(instance)
        except Unresolvable as exc:
            raise SchemaLoadError(f"{label}: $ref cannot be resolved offline: {_one_line(exc)}") from None

    def _validator(
        self, schema: str | Mapping[str, Any] | bool, base_uri: str
    ) -> tuple[Draft202012Validator, str]:
        if isinstance(schema, str):
            self._require(schema)
            key: Any = schema
            label = f"model {schema}"
        else:
            key = (_canonical(schema), base_uri)
            label = "inline schema"
        validator = self._validators.get(key)
        if validator is None:
            if isinstance(schema, str):
                contents: Any = self._schemas[schema]
            else:
                contents = _absolutize(schema, base_uri)
                try:
                    Draft202012Validator.check_schema(contents)
                except SchemaError as exc:
                    raise SchemaLoadError(
                        f"{label}: not a valid 2020-12 schema at {exc.json_path}: {_one_line(exc.message)}"
                    ) from None
            validator = Draft202012Validator(contents, registry=self._registry)
            self._validators[key] = validator
        return validator, label

    # ------------------------------------------------------------------ drift
    def drift(
        self, instance: Any, schema: str | Mapping[str, Any] | bool, *, base_uri: str = OPENAPI_URI
    ) -> list[str]:
        """JSON paths of object properties in `instance` that `schema` does not declare.

        Follows $ref, allOf, the anyOf/oneOf branches whose type fits the value, items/prefixItems and
        map values (additionalProperties schemas). Objects whose schema declares no properties at all
        (free-form maps) never drift.
        """
        if isinstance(schema, str):
            self._require(schema)
            root: Any = self._schemas[schema]
            resolver = self._registry.resolver(_model_uri(schema))
        else:
            root = _absolutize(schema, base_uri)
            resolver = self._registry.resolver(base_uri)
        found: list[str] = []
        self._drift(instance, [(root, resolver)], "$", found, 0)
        return sorted(set(found))

    def _drift(self, instance: Any, schemas: list, path: str, found: list[str], depth: int) -> None:
        if depth > _MAX_DEPTH or not schemas:
            return
        applicable: list = []
        for schema, resolver in schemas:
            _expand(schema, resolver, instance, applicable, 0)
        if isinstance(instance, dict):
            declared: dict[str, list] = {}
            extra: list = []
            described = False
            for schema, resolver in applicable:
                properties = schema.get("properties")
                if isinstance(properties, dict):
                    described = True
                    for key, sub in properties.items():
                        declared.setdefault(key, []).append((sub, resolver))
                for keyword in ("additionalProperties", "unevaluatedProperties"):
                    sub = schema.get(keyword)
                    if sub is not None and sub is not False:
                        extra.append((sub, resolver))
                if schema.get("patternProperties"):
                    extra.append((True, resolver))
            for key, value in instance.items():
                child = _child_path(path, key)
                if key in declared:
                    self._drift(value, declared[key], child, found, depth + 1)
                elif extra:
                    self._drift(value, extra, child, found, depth + 1)
                elif described:
                    found.append(child)
        elif isinstance(instance, list):
            prefix = [(schema.get("prefixItems"), resolver) for schema, resolver in applicable]
            items = [(schema["items"], resolver) for schema, resolver in applicable if "items" in schema]
            for index, value in enumerate(instance):
                positional = [
                    (p[index], resolver) for p, resolver in prefix if isinstance(p, list) and index < len(p)
                ]
                self._drift(value, positional or items, f"{path}[{index}]", found, depth + 1)


@functools.lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    """The registry of the project's own schemas, loaded once per process."""
    return SchemaRegistry.load()


# ---------------------------------------------------------------------- loading helpers
def _model_uri(name: str) -> str:
    return f"{MODELS_URI}{name}.json"


def _read_model(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaLoadError(f"{path}: cannot be read: {_one_line(exc)}") from None
    try:
        contents = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaLoadError(
            f"{path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(contents, dict):
        raise SchemaLoadError(f"{path}: a model schema must be a JSON object")
    if contents.get("$schema") != DIALECT:
        raise SchemaLoadError(f"{path}: $schema must be {DIALECT!r}")
    if contents.get("$id") != _model_uri(path.stem):
        raise SchemaLoadError(f"{path}: $id must be {_model_uri(path.stem)!r}, found {contents.get('$id')!r}")
    try:
        Draft202012Validator.check_schema(contents)
    except SchemaError as exc:
        raise SchemaLoadError(
            f"{path}: not a valid 2020-12 schema at {exc.json_path}: {_one_line(exc.message)}"
        ) from None
    return contents


def _check_refs(node: Any, resolver: Any, label: str, pointer: str = "") -> None:
    """Resolve every $ref up front, so a dangling or remote reference fails at load time."""
    if isinstance(node, dict):
        if pointer and isinstance(node.get("$id"), str):
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except Unresolvable as exc:
                    raise SchemaLoadError(
                        f"{label}: {keyword} {ref!r} at #{pointer or '/'} cannot be resolved "
                        f"(only loaded schemas are used, nothing is fetched): {_one_line(exc)}"
                    ) from None
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                _check_refs(value, resolver, label, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_refs(value, resolver, label, f"{pointer}/{index}")


def _absolutize(node: Any, base: str) -> Any:
    """A copy of an inline schema with every relative $ref made absolute against `base`."""
    if isinstance(node, Mapping):
        own_id = node.get("$id")
        if isinstance(own_id, str):
            base = urljoin(base, own_id)
        result = {}
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                result[key] = urljoin(base, value)
            elif key in _DATA_KEYWORDS:
                result[key] = copy.deepcopy(value)
            else:
                result[key] = _absolutize(value, base)
        return result
    if isinstance(node, list):
        return [_absolutize(value, base) for value in node]
    return node


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)


# ---------------------------------------------------------------------- drift helpers
def _expand(schema: Any, resolver: Any, instance: Any, out: list, depth: int) -> None:
    """Collect (subschema, resolver) pairs that apply to `instance` at the same location."""
    if depth > _MAX_DEPTH or not isinstance(schema, dict):
        return
    if isinstance(schema.get("$id"), str):
        resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
    out.append((schema, resolver))
    ref = schema.get("$ref")
    if isinstance(ref, str):
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable:
            resolved = None
        if resolved is not None:
            _expand(resolved.contents, resolved.resolver, instance, out, depth + 1)
    for sub in schema.get("allOf") or ():
        _expand(sub, resolver, instance, out, depth + 1)
    for keyword in ("anyOf", "oneOf"):
        branches = schema.get(keyword) or []
        fitting = [branch for branch in branches if _admits(branch, resolver, instance, 0)]
        for branch in fitting or branches:
            _expand(branch, resolver, instance, out, depth + 1)


def _admits(schema: Any, resolver: Any, instance: Any, depth: int) -> bool:
    """Whether the JSON types `schema` allows (as far as they can be told) include the instance's."""
    types = _declared_types(schema, resolver, depth)
    return (
        types is None
        or json_type(instance) in types
        or ("number" in types and json_type(instance) == "integer")
    )


def _declared_types(schema: Any, resolver: Any, depth: int) -> set[str] | None:
    if depth > _MAX_DEPTH or schema is True:
        return None
    if schema is False or not isinstance(schema, dict):
        return set()
    if "type" in schema:
        kind = schema["type"]
        return {kind} if isinstance(kind, str) else set(kind)
    if "const" in schema:
        return {json_type(schema["const"])}
    if isinstance(schema.get("enum"), list):
        return {json_type(value) for value in schema["enum"]}
    if isinstance(schema.get("$ref"), str):
        try:
            resolved = resolver.lookup(schema["$ref"])
        except Unresolvable:
            return None
        return _declared_types(resolved.contents, resolved.resolver, depth + 1)
    for sub in schema.get("allOf") or ():
        found = _declared_types(sub, resolver, depth + 1)
        if found is not None:
            return found
    return None


def json_type(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value (integral floats count as integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# ---------------------------------------------------------------------- issue rendering
def _issues(error: ValidationError) -> Iterator[SchemaIssue]:
    path = _json_path(error.absolute_path)
    keyword = error.validator
    key = _last_key(error)
    if keyword == "required":
        for name in error.validator_value:
            if isinstance(error.instance, dict) and name not in error.instance:
                yield SchemaIssue(
                    _child_path(path, name), "property to be present", "missing", f"{name!r} is required"
                )
        return
    if keyword in ("anyOf", "oneOf") and error.context:
        chosen = _closest_branch(error)
        if chosen:
            for sub in chosen:
                yield from _issues(sub)
            return
        alternatives = " or ".join(_describe(branch) for branch in error.validator_value)
        yield SchemaIssue(path, alternatives, _show(error.instance, key), f"matches none of: {alternatives}")
        return
    got = _show(error.instance, key)
    if keyword == "oneOf":  # no context: the value fits several branches
        alternatives = " or ".join(_describe(branch) for branch in error.validator_value)
        yield SchemaIssue(path, f"exactly one of {alternatives}", got, "matches more than one branch")
    elif keyword == "type":
        kinds = error.validator_value
        expected = kinds if isinstance(kinds, str) else " or ".join(kinds)
        yield SchemaIssue(path, expected, got, f"wrong JSON type ({json_type(error.instance)})")
    elif keyword == "const":
        expected = _dump(error.validator_value)
        yield SchemaIssue(path, expected, got, f"must be exactly {expected}")
    elif keyword == "enum":
        expected = "one of " + ", ".join(_dump(value) for value in error.validator_value)
        yield SchemaIssue(path, expected, got, "value outside the allowed set")
    elif keyword is None or (keyword == "not" and error.validator_value in ({}, True)):
        # `{"not": {}}` (or `false`) marks a property that must never be sent.
        yield SchemaIssue(path, "no such property", got, "property must be absent")
    elif keyword == "additionalProperties" and isinstance(error.instance, dict):
        declared = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        for name in error.instance:
            if name not in declared:
                yield SchemaIssue(
                    _child_path(path, name),
                    "no such property",
                    _show(error.instance[name], name),
                    "additional properties are not allowed",
                )
    else:
        expected = f"{keyword} {_dump(error.validator_value)}"
        yield SchemaIssue(path, expected, got, f"fails {keyword}")


def _closest_branch(error: ValidationError) -> list[ValidationError]:
    """The errors of the anyOf/oneOf branch that fits the value's type, if exactly such branches exist."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    own_depth = len(error.absolute_path)

    def type_mismatch_only(errors: list[ValidationError]) -> bool:
        return all(sub.validator == "type" and len(sub.absolute_path) == own_depth for sub in errors)

    fitting = [errors for errors in branches.values() if not type_mismatch_only(errors)]
    if not fitting:
        return []
    return min(fitting, key=len)


def _describe(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "anything" if schema else "nothing"
    if isinstance(schema.get("$ref"), str):
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name[:-5] if name.endswith(".json") else name
    if "type" in schema:
        kinds = schema["type"]
        return kinds if isinstance(kinds, str) else " or ".join(kinds)
    if "const" in schema:
        return _dump(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_dump(value) for value in schema["enum"])
    return "a sub-schema"


def _last_key(error: ValidationError) -> str | None:
    for element in reversed(error.absolute_path):
        return element if isinstance(element, str) else None
    return None


def _show(value: Any, key: str | None) -> str:
    """A short rendering of a value for an issue; secrets are never shown."""
    if key is not None and key.lower() in redact.SECRET_KEYS and value not in ("", None):
        size = f", {len(value)} chars" if isinstance(value, str) else ""
        return f"{redact.REDACTED} ({json_type(value)}{size})"
    return _dump(redact.json_value(value))


def _dump(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


def _json_path(elements: Any) -> str:
    path = "$"
    for element in elements:
        path = f"{path}[{element}]" if isinstance(element, int) else _child_path(path, element)
    return path


def _child_path(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())
