"""Another opscentre's `cap` feed reads what this one publishes: the alert comes back whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import shape

from opscentre.core.alerting.lifecycle import Alert
from opscentre.core.models import Severity
from opscentre.core.settings import load_settings
from opscentre.open_data.cap import Change, PublicAlert, cap_document, publisher
from opscentre.workers.feeds.cap import parse

ROOT = Path(__file__).resolve().parents[2]
T0 = 1796549400.0


@pytest.fixture(scope="module")
def rio():
    return load_settings(ROOT / "opscentre" / "cities" / "rio" / "demo.yaml")


def alert_in(settings, name: str, state: str = "firing") -> Alert:
    zone = settings.zones.ids[settings.zones.names.index(name)]
    alert = Alert(id="a-00aa11bb22", fingerprint="siren_criterion|zone:" + zone, rule="siren_criterion",
                  key="zone:" + zone, state="firing", severity="critical", value=52.0, zone_id=zone,
                  labels={"public": True}, started_at=T0, since=T0, fired_at=T0, updated_at=T0,
                  summary=f"siren criterion met in {name} (52 mm)", where=name)
    if state == "resolved":
        alert = alert.model_copy(update={"state": "resolved", "since": T0 + 1800, "resolved_at": T0 + 1800})
    return alert


def test_the_cap_feed_ingests_our_alert_with_its_area_severity_and_event(rio):
    alert = alert_in(rio, "Tijuca")
    result = parse(cap_document(PublicAlert(alert), publisher(rio, simulated=False)))
    assert result.rejected == []
    [event] = result.events  # one language kept (the first info's: pt-BR), the other listed
    assert event.event_id == "a-00aa11bb22.1"
    assert event.severity == Severity.SEVERE
    assert event.event_type == "Chuva"
    assert event.properties["other_languages"] == ["en"]
    assert event.properties["geocodes"] == {"codbairro": [alert.zone_id]}
    assert event.properties["area_desc"] == "Tijuca"
    tijuca = rio.zones.geometries[rio.zones.names.index("Tijuca")]
    returned = shape(event.geometry)
    assert returned.intersection(tijuca).area / tijuca.union(returned).area > 0.9
    assert event.observed_at == T0


def test_the_cap_feed_ends_our_alert_on_its_cancel(rio):
    changes = (Change("firing", T0, None, "critical"),)
    cancel = parse(cap_document(PublicAlert(alert_in(rio, "Tijuca", "resolved"), changes),
                                publisher(rio, simulated=False)))
    [event] = cancel.events
    assert event.cancelled and "a-00aa11bb22.1" in event.references


def test_the_cap_feed_skips_our_exercises(rio):
    result = parse(cap_document(PublicAlert(alert_in(rio, "Tijuca")), publisher(rio, simulated=True)))
    assert result.events == []
    assert [r.skipped for r in result.rejected] == [True] and "exercise" in result.rejected[0].reason.lower()
