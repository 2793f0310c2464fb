"""sanitize.user_profiles (lists of users) answers what user_profile answers for each user."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mmv3.server import sanitize


def _user(i: int) -> dict:
    return {
        "id": f"{i:026d}", "create_at": 1, "update_at": 2, "delete_at": 0, "username": f"u{i}", "password": "$2a$hash",
        "auth_data": "secret", "auth_service": "gitlab", "email": f"u{i}@example.com", "email_verified": True,
        "nickname": "", "first_name": "F", "last_name": "L", "position": "", "roles": "system_user",
        "allow_marketing": True, "notify_props": {"email": "true"}, "last_password_update": 3, "locale": "en",
        "mfa_secret": "mfa", "failed_attempts": 1, "timezone": {},
    }  # fmt: skip


@pytest.mark.parametrize("admin", [False, True])
@pytest.mark.parametrize("show", [False, True])
@pytest.mark.parametrize("faults", [(), ("security-password-hash",), ("schema-no-timezone",)])
def test_a_list_is_sanitised_as_each_user_alone(admin, show, faults):
    config = {"PrivacySettings.ShowEmailAddress": show, "PrivacySettings.ShowFullName": show}
    ctx = SimpleNamespace(
        is_system_admin=admin,
        fault=lambda name: name in faults,
        config=SimpleNamespace(get=lambda k, d=None: config.get(k, d)),
    )
    users = [_user(i) for i in range(3)]
    listed = sanitize.user_profiles(ctx, users)
    alone = {u["id"]: sanitize.user_profile(ctx, u) for u in users}
    assert listed == alone
    assert [list(p) for p in listed.values()] == [list(p) for p in alone.values()]  # the same key order
    assert all("password" not in p or faults for p in listed.values())
