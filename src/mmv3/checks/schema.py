"""schema: a successful call's body validates against the operation's response schema.

Each operation is called by its recipe (the right role, provisioned objects). Routes that need
a system the target lacks (`x-mmv3-requires`: SMTP, LDAP, SAML, a license, ...) are checked for
what the server does answer -- an AppError, validated as one -- and reported as such. Extra
fields the schema does not declare are reported as drift; with --mm-strict they fail. Fields that the
target's version does not have (schemas/versions.json) are not required of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmv3.checks import Probe, app_error_shape, check, describe, is_not_implemented
from mmv3.recipes import SetupFailed, recipe_for
from mmv3.schemas import SchemaRegistry, default_registry

if TYPE_CHECKING:
    from mmv3.catalog import Operation
    from mmv3.client import Response

MAX_ISSUES = 8


def requires(op: Operation) -> tuple[str, ...]:
    value = getattr(op, "requires", None) or ()
    return (value,) if isinstance(value, str) else tuple(value)


def _kind(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def registry(probe: Probe) -> SchemaRegistry:
    """The schemas as they apply to the target's version (the fields its source has)."""
    return default_registry().for_version(getattr(probe, "profile_version", None))


def validate(probe: Probe, instance: Any, schema: Any) -> list[str]:
    issues = registry(probe).validate(instance, schema)
    lines = [str(issue) for issue in issues[:MAX_ISSUES]]
    if len(issues) > MAX_ISSUES:
        lines.append(f"... {len(issues) - MAX_ISSUES} more schema issues")
    return lines


def drift(probe: Probe, instance: Any, schema: Any) -> list[str]:
    return registry(probe).drift(instance, schema)


def answered_error(op: Operation, probe: Probe, response: Response, why: str) -> list[str]:
    """An error answer that is the expected outcome here: it must be a well-formed AppError."""
    problems = app_error_shape(response)
    if problems:
        return [f"{why}, but the answer is not a proper AppError: {p}" for p in problems]
    probe.note(f"{why}: the server answered {describe(response)}")
    return []


@check("schema", severity="critical")
def success_body(op: Operation, probe: Probe) -> list[str]:
    """A successful call answers with the documented status and a body valid against the
    operation's response schema."""
    needs = requires(op)
    try:
        response = probe.success(op)
    except SetupFailed as exc:
        answer = exc.response
        if needs and answer.app_error is not None and not is_not_implemented(answer):
            # The objects the call needs cannot be made without the absent system.
            return answered_error(op, probe, answer, f"needs {', '.join(needs)} ({exc.step})")
        raise
    recipe = recipe_for(op.method, op.template)
    statuses = recipe.success.statuses if recipe is not None else (200,)
    note = recipe.success.note if recipe is not None else ""
    if is_not_implemented(response):
        return [f"expected a success, got {describe(response)}"]
    if op.auth == "web" and response.status in statuses:
        # Web handlers answer with redirects and HTML pages, errors included.
        probe.note(note or f"answered {response.status}")
        return []
    if response.status >= 400:
        if needs:
            return answered_error(op, probe, response, f"needs {', '.join(needs)}")
        if response.status in statuses:
            return answered_error(op, probe, response, note or "the documented refusal")
        return [f"expected {'/'.join(map(str, statuses))}, got {describe(response)}"]
    if response.status not in statuses:
        return [f"expected {'/'.join(map(str, statuses))}, got {describe(response)}"]
    if op.auth == "web" or response.status in (101, 301, 302, 307):
        probe.note(note or f"answered {response.status}")
        return []
    schema = op.response_schema
    if schema is None:
        return []
    declared = (op.response_content_type or "").lower()
    if not declared:
        return []  # the route answers without a body
    if declared != "application/json":
        kind = _kind(response.content_type)
        fits = (
            declared == "*/*"
            or kind == declared
            or (declared.endswith("/*") and kind.startswith(declared[:-1]))
        )
        if fits or not response.content:
            return []
        return [f"Content-Type is {response.content_type or 'missing'}, the route answers {declared}"]
    if _kind(response.content_type) != "application/json":
        return [f"Content-Type is {response.content_type or 'missing'}, not application/json"]
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - NotJSONError: say what came instead
        return [f"the body is not JSON: {response.content[:60]!r}"]
    problems = validate(probe, body, schema)
    extra = drift(probe, body, schema)
    if extra:
        shown = ", ".join(extra[:6]) + (f" and {len(extra) - 6} more" if len(extra) > 6 else "")
        if probe.strict:
            problems.append(f"fields the schema does not declare: {shown}")
        else:
            probe.note(f"drift: fields the schema does not declare: {shown}")
    return problems


CHECKS = [success_body]
