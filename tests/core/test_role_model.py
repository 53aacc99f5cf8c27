"""The role model: each role may do what the ones before it may; accounts keep their role in Redis."""

from __future__ import annotations

import pytest

from opscentre.core import keys, operators
from opscentre.core.roles import Action, Role, allows, parse_role, stored_role


def test_each_role_may_do_exactly_its_actions_and_those_of_the_roles_before_it():
    assert [a for a in Action if allows(Role.VIEWER, a)] == []
    assert {a for a in Action if allows(Role.OPERATOR, a)} == {Action.ACK, Action.SILENCE, Action.RESOLVE,
                                                              Action.ESCALATE}
    assert {a for a in Action if allows(Role.SUPERVISOR, a)} == {
        Action.ACK, Action.SILENCE, Action.RESOLVE, Action.ESCALATE, Action.STAGE, Action.APPROVE, Action.RETRY}
    assert all(allows(Role.ADMIN, a) for a in Action)
    assert not allows(None, Action.ACK)


def test_role_names_and_stored_values():
    assert parse_role(" Operator ") is Role.OPERATOR
    with pytest.raises(ValueError, match="unknown role 'root'.*viewer, operator, supervisor, admin"):
        parse_role("root")
    assert stored_role(None) is Role.ADMIN  # an account from before roles: the first-start account
    assert stored_role(b"supervisor") is Role.SUPERVISOR
    assert stored_role(b"superuser") is Role.VIEWER  # an unknown value: the least role


def test_an_account_and_its_role_are_written_together_and_never_replaced_by_add(redis_client):
    operators.add(redis_client, "ana", "a long password", Role.VIEWER)
    assert operators.role_of(redis_client, "ana") is Role.VIEWER and operators.role_of(redis_client, "x") is None
    with pytest.raises(operators.AccountError, match="already exists"):
        operators.add(redis_client, "ana", "another password", Role.ADMIN)
    assert operators.role_of(redis_client, "ana") is Role.VIEWER and operators.verify(redis_client, "ana", "a long password")
    with pytest.raises(operators.AccountError, match="no user"):
        operators.set_role(redis_client, "nobody", Role.ADMIN)
    assert not redis_client.hexists(keys.OPERATOR_ROLES, "nobody")
    operators.set_password(redis_client, "legacy", "made before roles")
    assert operators.migrate_roles(redis_client) == ["legacy"] and operators.migrate_roles(redis_client) == []
    assert [(a["username"], a["role"]) for a in operators.accounts(redis_client)] == [("ana", "viewer"),
                                                                                     ("legacy", "admin")]
