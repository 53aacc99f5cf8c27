"""The engine's own alerts, end to end: rain at a real gauge fires, escalates and resolves
rain_15min, and its CAP messages follow — Alert, Update, Cancel — read as the server reads them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.dashboard.open_data_api import KnownChanges, read_public_alert_documents
from opscentre.open_data.atom import atom_feed
from opscentre.open_data.cap import CAP_NS, cap_document, messages_of, publisher
from opscentre.workers.evaluation import evaluate_city

ROOT = Path(__file__).resolve().parents[2]
RIO = ROOT / "opscentre" / "cities" / "rio"
NS = {"cap": CAP_NS}


@pytest.fixture(scope="module")
def rio():
    return load_settings(RIO / "demo.yaml")


def gauge(settings) -> Entity:
    site = json.loads((RIO / "alerta_rio_gauges.json").read_text())["pluviometros"][0]
    [zone] = settings.zones.assign([(site["longitude"], site["latitude"])])
    return Entity(entity_id=site["id"], entity_type="rain_gauge", name=site["nome"], source="simulator", zone_id=zone,
                  geometry={"type": "Point", "coordinates": [site["longitude"], site["latitude"]]})


def rain(store: Store, settings, entity: Entity, mm: float, at: float) -> None:
    batches = [ObservationBatch(source="simulator", kind="rain_mm", entity_ids=[entity.entity_id], values=[mm],
                                observed_at=[at], simulated=True)]
    health = {"status": "ok", "last_success_ts": at, "last_error": None, "consecutive_failures": 0, "items": 1,
              "simulated": True}
    store.write_poll("simulator", [entity], batches, health, {"polls": 1}, retention_s=48 * 3600, wall_now=at)
    evaluate_city(settings, store, now=at, wall_now=at)


def current(store, settings, known):
    data = read_public_alert_documents(store, settings, False, known)
    return data, [etree.fromstring(cap_document(item, publisher(settings, data.simulated))) for item in data.items]


def test_the_engine_s_alert_is_published_alert_then_update_then_cancel(redis_client, rio):
    store, known, entity = Store(redis_client), KnownChanges(), gauge(rio)
    schema = xmlschema.XMLSchema(str(ROOT / "tests" / "fixtures" / "schemas" / "CAP-v1.2.xsd"))
    t0 = float(int(time.time())) - 3600
    rain(store, rio, entity, 8.0, t0)  # forte: rain_15min warning
    data, [alert] = current(store, rio, known)
    assert data.simulated  # the simulator's health says so, even though the settings were not asked
    assert (alert.findtext("cap:msgType", namespaces=NS), alert.findtext("cap:status", namespaces=NS)) == \
        ("Alert", "Exercise")
    assert alert.findtext("cap:info/cap:severity", namespaces=NS) == "Moderate"
    assert alert.findtext("cap:info/cap:area/cap:geocode/cap:value", namespaces=NS) == entity.zone_id

    rain(store, rio, entity, 14.0, t0 + 300)  # muito forte: critical (rain_stage fires too, but is internal)
    _, [update] = current(store, rio, known)
    assert update.findtext("cap:msgType", namespaces=NS) == "Update"
    assert update.findtext("cap:info/cap:severity", namespaces=NS) == "Severe"
    assert update.findtext("cap:references", namespaces=NS).split(",")[1] == alert.findtext("cap:identifier",
                                                                                             namespaces=NS)
    for at in (t0 + 600, t0 + 1800):  # dry, past keep_firing_for (15 min)
        rain(store, rio, entity, 0.0, at)
    data, [cancel] = current(store, rio, known)
    assert cancel.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert len(cancel.findtext("cap:references", namespaces=NS).split()) == 2
    assert [m.msg_type for m in messages_of(data.items[0])] == ["Alert", "Update", "Cancel"]
    for document in (alert, update, cancel):
        schema.validate(etree.tostring(document).decode())
    index = etree.fromstring(atom_feed(data.items, publisher(rio, True, "http://h/"), data.as_of))
    assert len(index.findall("{http://www.w3.org/2005/Atom}entry")) == 1
