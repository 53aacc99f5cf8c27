"""`opscentre users ...` through the real command on a real Redis: accounts, roles, the migration
of pre-roles accounts, and bad input that changes nothing."""

from __future__ import annotations

import orjson
import pytest

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import Role
from tests.cli_helpers import clean_env, opscentre


@pytest.fixture
def env(redis_server):
    return clean_env(REDIS_URL=redis_server.url)


def users(env) -> dict[str, dict]:
    result = opscentre("users", "list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {row["username"]: row for row in orjson.loads(result.stdout)}


def test_add_passwd_role_disable_enable_list_end_to_end(env, redis_client):
    result = opscentre("users", "add", "ana.sup", "--role", "Supervisor", env=env, input="a long password\n")
    assert result.returncode == 0, result.stderr
    assert "user ana.sup added as supervisor" in result.stdout and "a long password" not in result.stdout
    assert operators.verify(redis_client, "ana.sup", "a long password")
    generated = opscentre("users", "add", "bia", env=env, input="")  # nothing on stdin: a random password, shown once
    assert generated.returncode == 0, generated.stderr
    password = generated.stdout.split("new password for bia: ")[1].split()[0]
    assert operators.verify(redis_client, "bia", password)
    listed = users(env)
    assert {n: r["role"] for n, r in listed.items()} == {"ana.sup": "supervisor", "bia": "operator"}
    assert "approve" in listed["ana.sup"]["may"] and "approve" not in listed["bia"]["may"]

    assert opscentre("users", "passwd", "bia", env=env, input="another password\n").returncode == 0
    assert operators.verify(redis_client, "bia", "another password") and not operators.verify(redis_client, "bia", password)
    changed = opscentre("users", "role", "bia", "viewer", env=env)
    assert changed.returncode == 0 and "bia is now viewer (from operator)" in changed.stdout
    assert operators.role_of(redis_client, "bia") is Role.VIEWER
    assert opscentre("users", "disable", "bia", env=env).returncode == 0
    assert users(env)["bia"]["disabled"] and not operators.verify(redis_client, "bia", "another password")
    assert opscentre("users", "enable", "bia", env=env).returncode == 0
    assert operators.verify(redis_client, "bia", "another password")
    text = opscentre("users", "list", env=env).stdout
    assert "ana.sup" in text and "supervisor" in text and "2 user(s)" in text and "scrypt" not in text
    actions = [(e["actor"], e["action"], e["subject"]) for e in AlertStore(redis_client).audit()]
    assert actions == [("cli", "user-added", "ana.sup"), ("cli", "user-added", "bia"), ("cli", "password-set", "bia"),
                       ("cli", "role-changed", "bia"), ("cli", "user-disabled", "bia"), ("cli", "user-enabled", "bia")]


def test_bad_input_is_a_clear_error_and_changes_nothing(env, redis_client):
    assert opscentre("users", "add", "ana", "--role", "admin", env=env, input="a long password\n").returncode == 0
    before = (redis_client.hgetall(keys.OPERATORS), redis_client.hgetall(keys.OPERATOR_ROLES),
              redis_client.xlen(keys.AUDIT))
    cases = [
        (("users", "add", "bob", "--role", "root"), "a long password\n", "unknown role 'root'"),
        (("users", "add", "ana"), "other password\n", "user 'ana' already exists"),
        (("users", "add", "bob"), "short\n", "at least 8 characters"),
        (("users", "add", "bob"), "\n", "the password is empty"),  # an empty line is an empty password
        (("users", "add", "bob"), "          \n", "the password is empty"),
        (("users", "add", "bad name!"), "a long password\n", "a username is 1 to 64 characters"),
        (("users", "passwd", "nobody"), "a long password\n", "no user 'nobody'"),
        (("users", "passwd", "ana"), "tiny\n", "at least 8 characters"),
        (("users", "role", "nobody", "viewer"), None, "no user 'nobody'"),
        (("users", "role", "ana", "god"), None, "unknown role 'god'"),
        (("users", "disable", "nobody"), None, "no user 'nobody'"),
        (("set-password", "--user", "nobody"), "a long password\n", "no user 'nobody'"),
    ]
    for args, stdin, message in cases:
        result = opscentre(*args, env=env, input=stdin)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
    after = (redis_client.hgetall(keys.OPERATORS), redis_client.hgetall(keys.OPERATOR_ROLES),
             redis_client.xlen(keys.AUDIT))
    assert after == before and not redis_client.smembers(keys.OPERATORS_DISABLED)


def test_the_first_start_account_and_pre_roles_accounts_are_admins(env, redis_client):
    operators.set_password(redis_client, "old.hand", "a password from before roles")  # no role stored
    assert operators.role_of(redis_client, "old.hand") is Role.ADMIN
    password = operators.ensure_operator(redis_client)  # what `opscentre up` does at every start
    assert password and operators.role_of(redis_client, operators.DEFAULT_OPERATOR) is Role.ADMIN
    assert redis_client.hget(keys.OPERATOR_ROLES, "old.hand") == b"admin"  # written down, not only inferred
    assert users(env)["old.hand"]["role"] == "admin"
    assert operators.ensure_operator(redis_client) is None  # a second start keeps the account and its role
    assert opscentre("set-password", "--user", "operator", env=env, input="a new password!\n").returncode == 0
    assert operators.verify(redis_client, "operator", "a new password!")
    assert operators.role_of(redis_client, "operator") is Role.ADMIN


def test_help_names_the_roles_and_the_older_command():
    text = opscentre("users", "--help").stdout
    for word in ("viewer", "operator", "supervisor", "admin", "add", "passwd", "role", "disable", "list",
                 "set-password"):
        assert word in text
