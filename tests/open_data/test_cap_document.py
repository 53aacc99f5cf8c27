"""CAP 1.2 documents of public alerts: schema-valid, lat/lon areas, the message chain, both languages."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree
from shapely.geometry import Point, Polygon

from opscentre.core.alerting.lifecycle import Alert
from opscentre.core.notify.advice import advice_for
from opscentre.core.settings import load_settings
from opscentre.open_data.cap import (
    CAP_NS,
    Change,
    PublicAlert,
    cap_document,
    default_sender,
    messages_of,
    publisher,
)
from opscentre.open_data.cap_area import MAX_POINTS, cap_polygons

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "fixtures" / "schemas"
NS = {"cap": CAP_NS}
T0 = 1796549400.0  # 2026-12-06 06:30 in Rio (-03:00)


@pytest.fixture(scope="module")
def rio():
    return load_settings(ROOT / "opscentre" / "cities" / "rio" / "demo.yaml")


@pytest.fixture(scope="module")
def cap_schema():
    return xmlschema.XMLSchema(str(SCHEMAS / "CAP-v1.2.xsd"))


def zone_id(settings, name: str) -> str:
    return settings.zones.ids[settings.zones.names.index(name)]


def rain_alert(settings, state="firing", severity="warning", zone="Copacabana", rule="rain_15min", lead=None,
               resolved_after=None):
    alert = Alert(id="a-0123456789", fingerprint=f"{rule}|g1", rule=rule, key="g1", state="firing",
                  severity=severity, value=7.2, zone_id=zone_id(settings, zone) if zone else None,
                  labels={"public": True}, started_at=T0, since=T0, fired_at=T0, updated_at=T0,
                  summary=f"{severity} rain at {zone}: 7.2 mm in 15 min", where=zone or "", lead_time_s=lead)
    if state == "resolved":
        alert = alert.model_copy(update={"state": "resolved", "since": T0 + resolved_after,
                                         "resolved_at": T0 + resolved_after})
    return alert


ESCALATED = (Change("firing", T0, None, "warning"), Change("escalated", T0 + 600, "warning", "critical"))


def parsed(document: bytes):
    return etree.fromstring(document)


def text(root, path: str) -> str:
    return root.findtext(path, namespaces=NS)


@pytest.mark.parametrize("state, changes, msg_type", [
    ("firing", ESCALATED[:1], "Alert"),
    ("firing", ESCALATED, "Update"),
    ("resolved", ESCALATED, "Cancel"),
])
def test_alert_update_and_cancel_validate_against_the_cap_12_schema(rio, cap_schema, state, changes, msg_type):
    alert = rain_alert(rio, state=state, severity="critical" if len(changes) > 1 else "warning", resolved_after=3600)
    document = cap_document(PublicAlert(alert, changes), publisher(rio, simulated=True))
    cap_schema.validate(document.decode())
    root = parsed(document)
    assert text(root, "cap:msgType") == msg_type
    assert text(root, "cap:sent").endswith("-03:00")
    assert [text(i, "cap:language") for i in root.findall("cap:info", NS)] == ["pt-BR", "en"]


def test_polygon_pairs_are_latitude_first(rio):
    copacabana = rio.zones.geometries[rio.zones.names.index("Copacabana")]
    inside = copacabana.representative_point()  # (lon, lat)
    [polygon] = cap_polygons(copacabana)
    pairs = [tuple(map(float, p.split(","))) for p in polygon.split()]
    read_as_cap = Polygon([(lon, lat) for lat, lon in pairs])
    read_as_geojson = Polygon(pairs)
    assert read_as_cap.contains(Point(inside.x, inside.y))
    assert not read_as_geojson.contains(Point(inside.x, inside.y))
    assert all(-23.2 < lat < -22.7 and -43.8 < lon < -43.0 for lat, lon in pairs)  # Rio's latitudes first


def test_every_bairro_gives_closed_rings_of_4_to_100_pairs(rio):
    for name, geometry in zip(rio.zones.names, rio.zones.geometries):
        polygons = cap_polygons(geometry)
        assert polygons, name
        for polygon in polygons:
            pairs = polygon.split()
            assert pairs[0] == pairs[-1], name
            assert 4 <= len(pairs) <= MAX_POINTS, (name, len(pairs))
            assert Polygon([tuple(map(float, p.split(",")))[::-1] for p in pairs]).is_valid, name


def test_simplified_area_still_covers_the_bairro(rio):
    for name, geometry in zip(rio.zones.names, rio.zones.geometries):
        shapes = [Polygon([tuple(map(float, p.split(",")))[::-1] for p in polygon.split()])
                  for polygon in cap_polygons(geometry)]
        covered = sum(s.intersection(geometry).area for s in shapes)
        assert covered / geometry.area > 0.9, name


def test_area_names_the_bairro_with_its_code(rio):
    document = cap_document(PublicAlert(rain_alert(rio), ESCALATED[:1]), publisher(rio, simulated=False))
    for info in parsed(document).findall("cap:info", NS):
        [area] = info.findall("cap:area", NS)
        assert text(area, "cap:areaDesc") == "Copacabana"
        assert text(area, "cap:geocode/cap:valueName") == "codbairro"
        assert text(area, "cap:geocode/cap:value") == zone_id(rio, "Copacabana")


def test_city_wide_alert_covers_the_city(rio, cap_schema):
    heat = rain_alert(rio, zone=None, rule="heat")
    document = cap_document(PublicAlert(heat), publisher(rio, simulated=True))
    cap_schema.validate(document.decode())
    root = parsed(document)
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "Rio de Janeiro (toda a cidade)"
    assert text(root, "cap:info/cap:category") == "Met"
    assert root.findall("cap:info/cap:area/cap:polygon", NS)


def test_references_name_every_earlier_message_of_the_alert(rio):
    pub = publisher(rio, simulated=True)
    firing = rain_alert(rio)
    resolved = rain_alert(rio, state="resolved", severity="critical", resolved_after=3600)
    first = parsed(cap_document(PublicAlert(firing, ESCALATED[:1]), pub))
    update = parsed(cap_document(PublicAlert(firing.model_copy(update={"severity": "critical"}), ESCALATED), pub))
    cancel = parsed(cap_document(PublicAlert(resolved, ESCALATED), pub))
    triple = [",".join((text(d, "cap:sender"), text(d, "cap:identifier"), text(d, "cap:sent"))) for d in (first, update)]
    assert first.find("cap:references", NS) is None
    assert text(update, "cap:references") == triple[0]
    assert text(cancel, "cap:references") == " ".join(triple)
    assert len({text(d, "cap:identifier") for d in (first, update, cancel)}) == 3
    assert text(update, "cap:info/cap:severity") == "Severe"
    assert text(cancel, "cap:info/cap:urgency") == "Past"
    assert text(cancel, "cap:info/cap:responseType") == "AllClear"


def test_the_same_transition_always_gives_the_same_document(rio):
    pub = publisher(rio, simulated=True)
    alert = rain_alert(rio)
    later = alert.model_copy(update={"value": 9.9, "updated_at": T0 + 300})  # a new reading, no transition
    assert cap_document(PublicAlert(alert, ESCALATED[:1]), pub) == cap_document(PublicAlert(alert, ESCALATED[:1]), pub)
    assert text(parsed(cap_document(PublicAlert(later, ESCALATED[:1]), pub)), "cap:identifier") == "a-0123456789.1"
    assert text(parsed(cap_document(PublicAlert(later, ESCALATED[:1]), pub)), "cap:sent") == "2026-12-06T06:30:00-03:00"


def test_status_is_exercise_for_simulated_data_and_actual_for_real_feeds(rio):
    alert = PublicAlert(rain_alert(rio))
    simulated = parsed(cap_document(alert, publisher(rio, simulated=True)))
    real = parsed(cap_document(alert, publisher(rio, simulated=False)))
    assert text(simulated, "cap:status") == "Exercise" and simulated.find("cap:note", NS) is not None
    assert text(real, "cap:status") == "Actual" and real.find("cap:note", NS) is None


def test_both_languages_carry_headline_description_and_defesa_civil_advice(rio):
    root = parsed(cap_document(PublicAlert(rain_alert(rio, rule="landslide_risk", severity="critical")),
                               publisher(rio, simulated=True)))
    pt, en = root.findall("cap:info", NS)
    assert text(pt, "cap:instruction") == advice_for("landslide", rain_alert(rio, severity="critical").severity, "pt-BR")
    assert text(en, "cap:instruction") == advice_for("landslide", rain_alert(rio, severity="critical").severity, "en")
    assert "deslizamento" in text(pt, "cap:headline") and "Landslide" in text(en, "cap:headline")
    assert "Copacabana" in text(pt, "cap:description") and "Copacabana" in text(en, "cap:description")
    assert text(pt, "cap:category") == "Geo" and text(pt, "cap:severity") == "Severe"


def test_a_message_says_the_value_of_its_transition_not_the_latest_reading(rio):
    pub = publisher(rio, simulated=True)
    changes = (Change("firing", T0, None, "warning", 7.2), Change("escalated", T0 + 600, "warning", "critical", 13.4))
    later = rain_alert(rio, severity="critical").model_copy(update={"value": 20.5, "updated_at": T0 + 900})
    item = PublicAlert(later, changes)
    first, update = messages_of(item)
    assert "Valor: 7,2 mm." in text(parsed(cap_document(item, pub, first)), "cap:info/cap:description")
    pt, en = parsed(cap_document(item, pub, update)).findall("cap:info", NS)
    assert "Valor: 13,4 mm." in text(pt, "cap:description") and "Value: 13.4 mm." in text(en, "cap:description")
    assert "20" not in text(pt, "cap:description").split("Desde")[0]


def test_a_forecast_onset_is_when_the_rain_is_expected(rio):
    alert = rain_alert(rio, rule="rain_forecast_48h", lead=3 * 3600).model_copy(update={"updated_at": T0 + 1800})
    info = parsed(cap_document(PublicAlert(alert), publisher(rio, simulated=True))).find("cap:info", NS)
    assert text(info, "cap:effective") == "2026-12-06T06:30:00-03:00"
    assert text(info, "cap:onset") == "2026-12-06T10:00:00-03:00"  # measured at 07:00, 3 h ahead
    assert "em 3 h 30 min" in text(info, "cap:headline")


@pytest.mark.parametrize("city, sender", [("Rio de Janeiro", "opscentre@rio-de-janeiro"),
                                          ("København", "opscentre@kobenhavn"), ("São Paulo", "opscentre@sao-paulo")])
def test_the_default_sender_is_the_city_as_a_slug(city, sender):
    assert default_sender(city) == sender


def test_copenhagen_publishes_valid_cap_in_its_own_offset(cap_schema):
    copenhagen = load_settings(ROOT / "opscentre" / "cities" / "copenhagen" / "demo.yaml")
    zone = copenhagen.zones.ids[0]
    alert = Alert(id="a-0123456789", fingerprint="wind|x", rule="wind", key="x", state="firing", severity="warning",
                  value=18.0, zone_id=zone, labels={"public": True}, started_at=T0, since=T0, fired_at=T0,
                  updated_at=T0)
    document = cap_document(PublicAlert(alert), publisher(copenhagen, simulated=True))
    cap_schema.validate(document.decode())
    root = parsed(document)
    assert text(root, "cap:sent") == "2026-12-06T10:30:00+01:00"
    assert text(root, "cap:info/cap:area/cap:geocode/cap:valueName") == copenhagen.city.zone_id_property


def test_control_characters_in_a_name_do_not_break_the_document(rio, cap_schema):
    alert = rain_alert(rio, rule="wind").model_copy(update={"where": "Estação\x00\x1b[31m Sul", "rule": "feed_stale"})
    document = cap_document(PublicAlert(alert), publisher(rio, simulated=True))
    cap_schema.validate(document.decode())
    assert b"\x1b" not in document and b"\x00" not in document
    assert "Estação[31m Sul" in document.decode()  # the name is kept, less what XML cannot carry


@pytest.mark.parametrize("severity, word", [("advisory", "Minor"), ("warning", "Moderate"), ("critical", "Severe"),
                                            ("emergency", "Extreme")])
def test_severity_maps_to_cap(rio, severity, word):
    root = parsed(cap_document(PublicAlert(rain_alert(rio, severity=severity)), publisher(rio, simulated=True)))
    assert {text(i, "cap:severity") for i in root.findall("cap:info", NS)} == {word}


@pytest.mark.parametrize("lead, urgency", [(1800, "Expected"), (6 * 3600, "Future")])
def test_forecast_is_likely_with_an_onset_ahead(rio, lead, urgency):
    alert = rain_alert(rio, rule="rain_forecast_48h", lead=lead)
    root = parsed(cap_document(PublicAlert(alert), publisher(rio, simulated=True)))
    info = root.find("cap:info", NS)
    assert text(info, "cap:urgency") == urgency and text(info, "cap:certainty") == "Likely"
    assert text(info, "cap:onset") > text(info, "cap:effective")


def test_observed_alert_is_immediate_and_observed(rio):
    info = parsed(cap_document(PublicAlert(rain_alert(rio)), publisher(rio, simulated=True))).find("cap:info", NS)
    assert (text(info, "cap:urgency"), text(info, "cap:certainty")) == ("Immediate", "Observed")
    assert info.find("cap:onset", NS) is None


SEVERITIES = st.sampled_from(["advisory", "warning", "critical", "emergency"])


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.integers(1, 7200), SEVERITIES), max_size=5), resolved=st.booleans(),
       lead=st.one_of(st.none(), st.integers(0, 48 * 3600)), value=st.one_of(st.none(), st.floats(-1e6, 1e6)),
       zone=st.sampled_from(["Copacabana", "Paquetá", "Guaratiba", None]))
def test_any_alert_history_gives_a_valid_chain(rio, cap_schema, steps, resolved, lead, value, zone):
    changes, at, severity = [Change("firing", T0, None, "warning")], T0, "warning"
    for gap, new in steps:
        at += gap
        changes.append(Change("escalated", at, severity, new))
        severity = new
    alert = rain_alert(rio, severity=severity, zone=zone, lead=lead).model_copy(update={"value": value})
    if resolved:
        alert = alert.model_copy(update={"state": "resolved", "resolved_at": at + 60, "since": at + 60})
    item = PublicAlert(alert, tuple(changes))
    chain = messages_of(item)
    assert [m.msg_type for m in chain] == ["Alert"] + ["Update"] * len(steps) + ["Cancel"] * resolved
    assert [m.sent for m in chain] == sorted(m.sent for m in chain)
    pub = publisher(rio, simulated=False)
    for message in chain:
        cap_schema.validate(cap_document(item, pub, message).decode())


def test_the_renderers_import_no_web_framework_redis_or_feed_client():
    import subprocess
    import sys

    probe = ("import sys, opscentre.open_data.cap, opscentre.open_data.atom; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'redis', 'dash') "
             "or m.startswith(('opscentre.workers', 'opscentre.dashboard'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
