"""The default role permissions of an unlicensed Mattermost 4.9 (reference §5.11).

Checks go channel roles → the channel's team roles → system roles, as the real server does.
"""

from __future__ import annotations

from functools import lru_cache

from mmv3.server.config import Config

_CHANNEL_USER = {
    "read_channel", "add_reaction", "remove_reaction", "upload_file", "get_public_link", "create_post",
    "use_slash_commands", "manage_public_channel_members", "manage_private_channel_members",
    "manage_public_channel_properties", "manage_private_channel_properties", "delete_public_channel",
    "delete_private_channel", "delete_post", "edit_post",
}  # fmt: skip
_CHANNEL_ADMIN = {"manage_channel_roles"}
_TEAM_USER = {
    "list_team_channels", "join_public_channels", "read_public_channel", "view_team",
    "create_public_channel", "create_private_channel", "invite_user", "add_user_to_team",
}  # fmt: skip
_TEAM_ADMIN = {
    "edit_others_posts", "remove_user_from_team", "manage_team", "import_team", "manage_team_roles",
    "manage_channel_roles", "manage_webhooks", "manage_others_webhooks", "manage_slash_commands",
    "manage_others_slash_commands", "delete_post", "delete_others_posts",
}  # fmt: skip
_SYSTEM_USER = {"create_direct_channel", "create_group_channel", "permanent_delete_user"}


@lru_cache(maxsize=256)
def _roles(roles: str | None) -> frozenset[str]:
    """The names in a role list (cached: a page of 100 users asks about the same few lists)."""
    return frozenset((roles or "").split())


def role_permissions(roles: str | None, config: Config) -> set[str]:
    """Every permission a space-separated role list grants."""
    names = _roles(roles)
    out: set[str] = set()
    integrations_open = not config.get("ServiceSettings.EnableOnlyAdminIntegrations", True)
    if "system_user" in names:
        out |= _SYSTEM_USER
        if config.get("TeamSettings.EnableTeamCreation", True):
            out.add("create_team")
        if integrations_open:
            out.add("manage_oauth")
    if "team_user" in names:
        out |= _TEAM_USER
        if integrations_open:
            out |= {"manage_webhooks", "manage_slash_commands"}
    if "team_admin" in names:
        out |= _TEAM_ADMIN
    if "channel_user" in names:
        out |= _CHANNEL_USER
    if "channel_admin" in names:
        out |= _CHANNEL_ADMIN
    return out


def is_system_admin(user: dict | None) -> bool:
    return bool(user) and "system_admin" in _roles(user.get("roles"))


def has_system(user: dict | None, permission: str, config: Config) -> bool:
    if user is None:
        return False
    return is_system_admin(user) or permission in role_permissions(user.get("roles"), config)


def has_team(user: dict | None, member: dict | None, permission: str, config: Config) -> bool:
    """`member` is the caller's TeamMember of that team, or None."""
    if has_system(user, permission, config):
        return True
    return (
        bool(member)
        and not member.get("delete_at")
        and permission in role_permissions(member.get("roles"), config)
    )


def has_channel(
    user: dict | None, channel_member: dict | None, team_member: dict | None, permission: str, config: Config
) -> bool:
    if channel_member and permission in role_permissions(channel_member.get("roles"), config):
        return True
    return has_team(user, team_member, permission, config)
