"""The reminder state in Redis: a timer evaluation writes only the records that moved."""

from __future__ import annotations

import orjson

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.engine import Evaluation

T0 = 1_780_000_000.0


def test_only_the_reminder_records_that_moved_are_written_and_the_gone_ones_removed(redis_client):
    store = AlertStore(redis_client)
    steady = {"first_at": T0, "last_at": T0, "count": 0, "escalated": False}
    due = {"first_at": T0, "last_at": T0, "count": 0, "escalated": False}
    store.apply(Evaluation(alerts={}), {}, None, T0, reminded={"a-steady": steady, "a-due": due, "a-acked": due})
    before = store.reminded()
    # a record written meanwhile by someone else (the console) must survive a record left as it was
    redis_client.hset(keys.ALERT_REMINDERS, "a-steady", orjson.dumps({**steady, "count": 7}))
    now = {"a-steady": before["a-steady"], "a-due": {**before["a-due"], "last_at": T0 + 1800, "count": 1},
           "a-new": {"first_at": T0 + 1800, "last_at": T0 + 1800, "count": 0, "escalated": False}}
    store.apply(Evaluation(alerts={}), {}, None, T0 + 1800, reminded=now, reminded_before=before)
    after = store.reminded()
    assert set(after) == {"a-steady", "a-due", "a-new"}  # the acknowledged one's record is gone
    assert after["a-due"]["count"] == 1 and after["a-new"]["first_at"] == T0 + 1800
    assert after["a-steady"]["count"] == 7  # not rewritten: it did not move


def test_without_the_state_as_read_the_whole_reminder_state_is_replaced(redis_client):
    store = AlertStore(redis_client)
    record = {"first_at": T0, "last_at": T0, "count": 0, "escalated": False}
    store.apply(Evaluation(alerts={}), {}, None, T0, reminded={"a-1": record, "a-2": record})
    store.apply(Evaluation(alerts={}), {}, None, T0, reminded={"a-2": record})
    assert set(store.reminded()) == {"a-2"}
