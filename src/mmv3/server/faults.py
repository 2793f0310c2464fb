"""Fault switches: each breaks exactly one rule the conformance suite checks.

`mmv3 serve --fault NAME` turns one on; the project's tests prove the suite catches each.
The family names match the suite's check markers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    family: str
    description: str


_ALL = (
    # rate limiting
    Fault("ratelimit-no-headers", "ratelimit", "X-Ratelimit-* headers are never sent"),
    Fault("ratelimit-reset-epoch", "ratelimit", "X-Ratelimit-Reset is a Unix timestamp instead of seconds"),
    Fault("ratelimit-remaining-frozen", "ratelimit", "X-Ratelimit-Remaining never decreases"),
    Fault("ratelimit-never-429", "ratelimit", "the limiter counts but never denies a request"),
    Fault("ratelimit-429-json", "ratelimit", "a denied request gets a JSON AppError instead of text/plain"),
    Fault("ratelimit-no-retry-after", "ratelimit", "a 429 carries no Retry-After header"),
    Fault(
        "ratelimit-limit-understated",
        "ratelimit",
        "the headers advertise half the bucket the limiter enforces (Limit and Remaining both lower)",
    ),
    Fault(
        "ratelimit-limit-overstated",
        "ratelimit",
        "the headers advertise twice the bucket the limiter enforces (Limit and Remaining both higher)",
    ),
    Fault(
        "ratelimit-remaining-short",
        "ratelimit",
        "X-Ratelimit-Remaining is one short: a full bucket advertises Limit - 2",
    ),
    Fault(
        "ratelimit-reset-slow",
        "ratelimit",
        "X-Ratelimit-Reset advertises a refill ten times slower than the limiter's",
    ),
    # error bodies
    Fault("error-missing-field", "errors", "AppError bodies lack detailed_error"),
    Fault("error-status-mismatch", "errors", "AppError status_code differs from the HTTP status"),
    Fault("error-request-id-mismatch", "errors", "AppError request_id differs from X-Request-Id"),
    Fault("error-content-type", "errors", "AppError bodies are sent as text/plain"),
    Fault(
        "error-unknown-route-json", "errors", "an unknown route answers application/json with a request id"
    ),
    Fault(
        "error-wrong-method-405", "errors", "a known path with the wrong method answers 405 instead of 404"
    ),
    # authentication and authorisation
    Fault("auth-no-token-accepted", "auth", "a session route answers without a token (as the first user)"),
    Fault(
        "auth-bad-token-accepted",
        "auth",
        "an unknown token is accepted (as the first user), cookies not cleared",
    ),
    Fault("auth-revoked-token-accepted", "auth", "logout does not revoke the session"),
    Fault("auth-csrf-cookie-accepted", "auth", "a cookie token without X-Requested-With is accepted"),
    Fault("auth-admin-route-open", "auth", "a regular user may call system-admin routes"),
    Fault("auth-team-check-skipped", "auth", "a non-member may call routes of a team"),
    Fault("auth-private-channel-open", "auth", "a non-member may read a private channel"),
    # response bodies
    Fault("security-password-hash", "security", "User objects carry the password hash"),
    Fault("security-session-token-listed", "security", "session lists carry the session tokens"),
    Fault("schema-wrong-type", "schema", "User.create_at is a string"),
    Fault("schema-missing-field", "schema", "Channel objects lack the required field `type`"),
    Fault("schema-no-timezone", "schema", "User objects lack `timezone` (as servers before 4.9 do)"),
    # headers
    Fault("headers-no-login-token", "headers", "login sends no Token header"),
    Fault("headers-cookie-not-httponly", "headers", "the MMAUTHTOKEN cookie is not HttpOnly"),
    Fault("headers-no-request-id", "headers", "responses carry no X-Request-Id"),
    Fault("headers-fixed-request-id", "headers", "every response carries the same X-Request-Id"),
    Fault("headers-no-version-id", "headers", "responses carry no X-Version-Id"),
    Fault("headers-no-expires", "headers", "GET responses lack Expires: 0"),
    Fault("headers-etag-ignored", "headers", "If-None-Match is ignored: never a 304"),
    # invariants across answers
    Fault("invariants-post-order-reversed", "invariants", "a channel's post page lists `order` oldest first"),
    Fault("invariants-duplicate-id", "invariants", "the caller's channel list names its first channel twice"),
    Fault(
        "invariants-update-before-create", "invariants", "Channel objects carry an update_at before create_at"
    ),
    Fault(
        "invariants-etag-frozen",
        "invariants",
        "an Etag depends on the URL only: it stays the same when the resource changes",
    ),
    Fault(
        "invariants-window-gap",
        "invariants",
        "the posts before/after a post leave out the one next to it",
    ),
    Fault("invariants-member-count-off", "invariants", "a channel's stats count one member more than it has"),
    Fault(
        "headers-on-upgrade",
        "headers",
        "the 101 WebSocket upgrade carries X-Request-Id, X-Version-Id and Expires as other answers do",
    ),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _ALL}


class UnknownFault(ValueError):
    pass


def check_names(names: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        raise UnknownFault(f"unknown fault {', '.join(unknown)} (see `mmv3 serve --list-faults`)")
    return frozenset(names)


def describe() -> str:
    width = max(len(name) for name in FAULTS)
    return "\n".join(f"{f.name:<{width}}  [{f.family}] {f.description}" for f in _ALL)
