"""Server-side operator sessions and the account changes that end them, on a real Redis."""

import pytest

from opscentre.core import keys, operators, sessions
from opscentre.core.errors import ConfigError
from opscentre.core.sessions import Lifetimes

LIFETIMES = Lifetimes(absolute_s=12 * 3600, idle_s=3600)
NOW = 1_800_000_000.0


def test_a_new_session_is_recorded_with_its_user_times_and_address_and_expires_after_the_idle_timeout(redis_client):
    session_id = sessions.create(redis_client, "zelda", "10.0.0.7", NOW, LIFETIMES)
    record = {k.decode(): v.decode() for k, v in redis_client.hgetall(keys.session(session_id)).items()}
    assert record == {"user": "zelda", "created_at": repr(NOW), "last_seen": repr(NOW), "address": "10.0.0.7"}
    assert 3590 < redis_client.ttl(keys.session(session_id)) <= 3600
    assert redis_client.smembers(keys.operator_sessions("zelda")) == {session_id.encode()}
    assert len(session_id) >= 40  # 256 random bits, url-safe


def test_touch_names_the_user_and_restarts_the_idle_timeout(redis_client):
    session_id = sessions.create(redis_client, "zelda", "10.0.0.7", NOW, LIFETIMES)
    redis_client.expire(keys.session(session_id), 5)
    assert sessions.touch(redis_client, session_id, NOW + 600, LIFETIMES) == "zelda"
    assert redis_client.ttl(keys.session(session_id)) > 3500
    assert float(redis_client.hget(keys.session(session_id), "last_seen")) == NOW + 600


def test_touch_never_extends_a_session_past_its_absolute_lifetime(redis_client):
    session_id = sessions.create(redis_client, "zelda", None, NOW, LIFETIMES)
    assert sessions.touch(redis_client, session_id, NOW + LIFETIMES.absolute_s - 100, LIFETIMES) == "zelda"
    assert redis_client.ttl(keys.session(session_id)) <= 100
    assert sessions.touch(redis_client, session_id, NOW + LIFETIMES.absolute_s + 1, LIFETIMES) is None
    assert not redis_client.exists(keys.session(session_id))


def test_an_unknown_or_ended_session_is_refused_and_not_brought_back(redis_client):
    assert sessions.touch(redis_client, "no-such-session", NOW, LIFETIMES) is None
    session_id = sessions.create(redis_client, "zelda", None, NOW, LIFETIMES)
    sessions.end(redis_client, session_id)
    assert sessions.touch(redis_client, session_id, NOW + 1, LIFETIMES) is None
    assert not redis_client.exists(keys.session(session_id))
    assert redis_client.smembers(keys.operator_sessions("zelda")) == set()


def test_end_all_ends_every_session_of_that_user_only(redis_client):
    mine = [sessions.create(redis_client, "zelda", None, NOW, LIFETIMES) for _ in range(3)]
    theirs = sessions.create(redis_client, "link", None, NOW, LIFETIMES)
    sessions.end(redis_client, mine[0])
    assert sessions.end_all(redis_client, "zelda") == 2
    assert all(sessions.touch(redis_client, s, NOW + 1, LIFETIMES) is None for s in mine)
    assert sessions.touch(redis_client, theirs, NOW + 1, LIFETIMES) == "link"
    assert sessions.end_all(redis_client, "zelda") == 0


def test_a_new_password_ends_the_operators_sessions(redis_client):
    operators.set_password(redis_client, "zelda", "first password")
    session_id = sessions.create(redis_client, "zelda", None, NOW, LIFETIMES)
    assert operators.set_password(redis_client, "zelda", "second password") == 1
    assert sessions.touch(redis_client, session_id, NOW + 1, LIFETIMES) is None
    assert operators.verify(redis_client, "zelda", "second password")
    assert not operators.verify(redis_client, "zelda", "first password")


def test_a_disabled_operator_cannot_sign_in_and_loses_every_session_until_enabled(redis_client):
    operators.set_password(redis_client, "zelda", "a password")
    session_id = sessions.create(redis_client, "zelda", None, NOW, LIFETIMES)
    assert operators.disable(redis_client, "zelda") == 1
    assert sessions.touch(redis_client, session_id, NOW + 1, LIFETIMES) is None
    assert not operators.verify(redis_client, "zelda", "a password")
    operators.enable(redis_client, "zelda")
    assert operators.verify(redis_client, "zelda", "a password")


@pytest.mark.parametrize("change", ["new password", "disabled"])
def test_a_sign_in_whose_check_overlaps_a_password_change_or_a_disable_gets_no_session(redis_client, change,
                                                                                       monkeypatch):
    operators.set_password(redis_client, "zelda", "a password")
    real = operators.check_password_hash

    def check_while_the_account_changes(stored_hash, password):
        matches = real(stored_hash, password)  # the old password matched the hash read before...
        if change == "new password":  # ...while an administrator was changing it
            operators.set_password(redis_client, "zelda", "another password")
        else:
            operators.disable(redis_client, "zelda")
        return matches

    monkeypatch.setattr(operators, "check_password_hash", check_while_the_account_changes)
    assert operators.sign_in(redis_client, "zelda", "a password", None, NOW, LIFETIMES) is None
    assert redis_client.scard(keys.operator_sessions("zelda")) == 0
    if change == "new password":
        monkeypatch.setattr(operators, "check_password_hash", real)
        assert operators.sign_in(redis_client, "zelda", "another password", None, NOW, LIFETIMES) is not None


def test_an_unknown_user_costs_the_same_password_check_as_a_known_one(redis_client, monkeypatch):
    operators.set_password(redis_client, "zelda", "a password")
    checked = []
    real = operators.check_password_hash
    monkeypatch.setattr(operators, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    assert not operators.verify(redis_client, "nobody", "a password")
    assert not operators.verify(redis_client, "zelda", "wrong")
    assert len(checked) == 2
    unknown, known = checked
    assert unknown == operators.dummy_hash() and unknown.split("$")[0] == known.split("$")[0]  # same method


def test_lifetimes_come_from_the_environment_and_nonsense_is_refused():
    assert Lifetimes.from_env({}) == Lifetimes(absolute_s=12 * 3600, idle_s=3600)
    assert Lifetimes.from_env({"OPSCENTRE_SESSION_HOURS": "8", "OPSCENTRE_SESSION_IDLE_MINUTES": "15"}) == \
        Lifetimes(absolute_s=8 * 3600, idle_s=900)
    with pytest.raises(ConfigError) as refused:
        Lifetimes.from_env({"OPSCENTRE_SESSION_HOURS": "-1", "OPSCENTRE_SESSION_IDLE_MINUTES": "soon"})
    assert len(refused.value.problems) == 2 and "OPSCENTRE_SESSION_HOURS='-1'" in refused.value.problems[0]
