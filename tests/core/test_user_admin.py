"""The admin actions on accounts (core/user_admin.py, shared by `opscentre users` and the Users
page): each audited with its actor, a generated password returned once, and never a change that
leaves the console without an enabled admin — a pre-roles account counts as an admin, a disabled
admin does not."""

from __future__ import annotations

import time

import pytest

from opscentre.core import operators, user_admin
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import Role

PASSWORD = "a long test password"


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(redis_client):
    operators.add(redis_client, "ana", PASSWORD, Role.ADMIN)
    operators.add(redis_client, "bia", PASSWORD, Role.OPERATOR)
    for change in (lambda: user_admin.change_role(redis_client, "ana", "ana", Role.SUPERVISOR),
                   lambda: user_admin.disable_user(redis_client, "ana", "ana")):
        with pytest.raises(operators.AccountError, match="ana is the last enabled admin"):
            change()
    assert operators.role_of(redis_client, "ana") is Role.ADMIN and operators.verify(redis_client, "ana", PASSWORD)
    assert list(AlertStore(redis_client).audit()) == []  # nothing done, nothing recorded
    user_admin.change_role(redis_client, "ana", "ana", Role.ADMIN)  # (still an admin: allowed)
    user_admin.disable_user(redis_client, "ana", "bia")  # another role: no admin lost


def test_a_disabled_admin_does_not_count_and_a_pre_roles_account_does(redis_client):
    operators.add(redis_client, "ana", PASSWORD, Role.ADMIN)
    operators.add(redis_client, "cid", PASSWORD, Role.ADMIN)
    operators.disable(redis_client, "cid")
    with pytest.raises(operators.AccountError, match="last enabled admin"):
        user_admin.change_role(redis_client, "cli", "ana", Role.VIEWER)
    operators.set_password(redis_client, "legacy", PASSWORD)  # no role stored: the first-start admin
    user_admin.change_role(redis_client, "cli", "ana", Role.VIEWER)
    with pytest.raises(operators.AccountError, match="legacy is the last enabled admin"):
        user_admin.disable_user(redis_client, "cli", "legacy")
    user_admin.enable_user(redis_client, "cli", "cid")
    assert user_admin.disable_user(redis_client, "cli", "legacy") == 0


def test_each_change_is_audited_with_its_actor_and_a_generated_password_is_returned_not_recorded(redis_client):
    operators.add(redis_client, "ana", PASSWORD, Role.ADMIN)
    password = user_admin.add_user(redis_client, "ana", "bia", Role.OPERATOR)
    assert operators.verify(redis_client, "bia", password) and len(password) >= 16
    new_password, ended = user_admin.reset_password(redis_client, "ana", "bia")
    assert new_password != password and ended == 0 and operators.verify(redis_client, "bia", new_password)
    with pytest.raises(operators.AccountError, match="no user 'zed'"):
        user_admin.enable_user(redis_client, "ana", "zed")
    with pytest.raises(operators.AccountError, match="no user 'zed'"):
        user_admin.disable_user(redis_client, "ana", "zed")
    entries = list(AlertStore(redis_client).audit())
    assert [(e["actor"], e["action"], e["subject"]) for e in entries] == [
        ("ana", "user-added", "bia"), ("ana", "password-set", "bia")]
    assert password not in str(entries) and new_password not in str(entries)


def test_the_last_sign_in_is_read_from_the_audit(redis_client):
    audit, now = AlertStore(redis_client), time.time()
    audit.record("ana", "signed-in", "session", {}, now - 300)
    audit.record("ana", "signed-in", "session", {}, now - 200)
    audit.record("bia", "sign-in-failed", "session", {}, now - 100)
    assert user_admin.last_sign_ins(redis_client, ["ana", "bia"]) == {"ana": now - 200}
