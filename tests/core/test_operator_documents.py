"""`opscentre state`'s document comes from the read model: built once per store version (and per
operator action) for every reader, rebuilt when an alert is stored, with the keys it always had
(real Redis)."""

from __future__ import annotations

import time

import orjson

from opscentre.core import keys, operator_documents, state
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.lifecycle import Alert
from opscentre.core.read_model import Document, ReadModel
from opscentre.core.store import Store


def alert(alert_id: str, public: bool = True) -> Alert:
    now = time.time()
    return Alert(id=alert_id, fingerprint=f"rain_15min|{alert_id}", rule="rain_15min", key=alert_id, state="firing",
                 severity="warning", value=7.0, zone_id=None, labels={"public": public}, started_at=now, since=now,
                 last_true_at=now, updated_at=now, summary=f"warning rain at {alert_id}")


class Counting:
    def __init__(self, build):
        self.build, self.calls = build, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.build(*args, **kwargs)


def test_state_is_built_once_per_version_for_every_reader_and_again_after_an_alert(redis_client, monkeypatch):
    store = Store(redis_client)
    printed = list(state.snapshot(store, time.time()))  # the keys `state --json` always printed
    built = Counting(state.city_state)
    monkeypatch.setattr(state, "city_state", built)
    first = operator_documents.current_state(operator_documents.operator_read_model(store), store)
    again = operator_documents.current_state(operator_documents.operator_read_model(store), store)  # another CLI
    assert built.calls == 1 and again == first and first["alerts"] == []
    assert list(first) == printed
    AlertStore(redis_client).put([alert("a-0000000001", public=False)])  # (moves the store version)
    after = operator_documents.current_state(operator_documents.operator_read_model(store), store)
    assert built.calls == 2 and [a["id"] for a in after["alerts"]] == ["a-0000000001"]


def test_an_acknowledgement_moves_no_version_but_rebuilds_the_operator_documents(redis_client, monkeypatch):
    store = Store(redis_client)
    AlertStore(redis_client).put([alert("a-0000000002")])
    built = Counting(operator_documents.operator_status)
    monkeypatch.setattr(operator_documents, "operator_status", built)
    model = operator_documents.operator_read_model(store, {}, False)
    before = orjson.loads(model.get("operator", "status").body)
    assert model.get("operator", "status").body == orjson.dumps(before) and built.calls == 1
    version = store.version()
    AlertStore(redis_client).acknowledge("a-0000000002", "zelda.ops", "on it", time.time())
    assert store.version() == version  # (an ack is not data) — but an entry of the audit stream
    (acked,) = orjson.loads(model.get("operator", "status").body)["alerts"]
    assert acked["acknowledged_by"] == "zelda.ops" and built.calls == 2
    model.get("operator", "status")
    assert built.calls == 2


def test_a_group_watching_a_stream_is_rebuilt_on_its_new_entries_only(redis_client):
    calls = []

    def build():
        calls.append(1)
        return {"doc": Document(str(len(calls)).encode(), "text/plain")}

    model = ReadModel(redis_client, {"ops": build}, watch={"ops": (keys.AUDIT,)})
    assert model.get("ops", "doc").body == b"1" and model.get("ops", "doc").body == b"1"
    redis_client.xadd(keys.AUDIT, {"d": b"{}"})
    assert model.get("ops", "doc").body == b"2"
    other = ReadModel(redis_client, {"ops": build}, watch={"ops": (keys.AUDIT,)})  # another process
    assert other.get("ops", "doc").body == b"2" and len(calls) == 2


def test_the_operator_documents_are_groups_of_their_own_never_the_public_ones(redis_client):
    store = Store(redis_client)
    AlertStore(redis_client).put([alert("a-0000000003", public=False)])
    model = operator_documents.operator_read_model(store, {}, False)
    assert [a["id"] for a in orjson.loads(model.get("operator", "status").body)["alerts"]] == ["a-0000000003"]
    assert not set(operator_documents.GROUPS) & {"status", "layers"}
    assert not redis_client.exists(keys.snapshot("status"))
