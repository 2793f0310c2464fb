"""Differences from real Mattermost 4.9 that `mmv3 serve` keeps on purpose: where 4.9 is plainly
broken (a panic answered as an empty 500), serve does what 4.9 meant. The same behaviours are
fidelity exceptions of the recorded corpus (tests/fidelity_exceptions.yaml); here they cover the
generated cases that reach the same broken path. `mmv3 diff` lists a matching difference as
known, with its reason, and does not count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

# The Go-decoding cases whose body 4.9 cannot use at all (nothing decodes, or the wrong type).
_UNDECODABLE = ("bad_input", "empty_body", "null_values", "wrong_types")


@dataclass(frozen=True)
class Known:
    route: str
    cases: tuple[str, ...]
    reason: str

    def covers(self, route: str, case: str) -> bool:
        return route == self.route and any(fnmatchcase(case, pattern) for pattern in self.cases)


KNOWN: tuple[Known, ...] = (
    Known(
        "POST /api/v3/teams/{team_id}/posts/search",
        (*_UNDECODABLE, "case_keys", "array_for_object", "fuzz_*"),
        "real 4.9 panics (empty-bodied 500) unless `terms` is a string under that exact key "
        "(a map, so no case folding); serve answers 400 api.context.invalid_param.app_error",
    ),
    Known(
        "POST /api/v3/users/update_mfa",
        ("fuzz_*", "wrong_types", "null_values"),
        "real 4.9 panics (empty-bodied 500) on `activate: true` without a string token; serve answers "
        "400 api.context.invalid_param.app_error",
    ),
    # Permission holes (the corpus's fidelity exceptions, case `forbidden`): serve answers 403.
    Known(
        "POST /api/v3/users/revoke_session",
        ("forbidden",),
        "real 4.9 lets any user revoke any session; serve requires it to be one's own (or edit_other_users)",
    ),
    Known(
        "POST /api/v3/teams/{team_id}/channels/{channel_id}/posts/update",
        ("forbidden",),
        "real 4.9 lets any channel member edit anyone's post; serve requires edit_others_posts",
    ),
    Known(
        "POST /api/v3/teams/{team_id}/channels/{channel_id}/posts/{post_id}/pin",
        ("forbidden",),
        "real 4.9 lets a non-member pin a post of a private channel; serve requires read_channel",
    ),
    Known(
        "POST /api/v3/teams/{team_id}/channels/{channel_id}/posts/{post_id}/unpin",
        ("forbidden",),
        "real 4.9 lets a non-member unpin a post of a private channel; serve requires read_channel",
    ),
    Known(
        "GET /api/v3/teams/{team_id}/channels/{channel_id}/pinned",
        ("forbidden",),
        "real 4.9 shows a private channel's pinned posts to any team member; serve requires read_channel",
    ),
    Known(
        "POST /api/v3/teams/{team_id}/channels/{channel_id}/delete",
        ("forbidden",),
        "real 4.9 lets a team member outside a private channel delete it; serve requires delete_private_channel",
    ),
    Known(
        "POST /api/v3/teams/{team_id}/invite_members",
        ("bad_input", "empty_body"),
        "real 4.9 dereferences the undecodable invites list and panics (empty-bodied 500); "
        "serve answers 400 api.context.invalid_param.app_error",
    ),
)


def known_reason(route: str, case: str) -> str | None:
    for known in KNOWN:
        if known.covers(route, case):
            return known.reason
    return None
