"""The CAP feed (CAP 1.1 / 1.2 XML from any agency): parse, hostile XML, areas, message sequences.

Fixtures in `tests/fixtures/cap/`, copied byte for byte from willglynn/oasiscap `fixtures/` @3d4127e
(MIT OR Apache-2.0) — see shared/fixtures/SOURCES.md:
- `cap12_spec_example_A1_homeland_security.xml` (OASIS CAP 1.2 Appendix A.1, no area geometry),
- `cap12_spec_example_A2_severe_thunderstorm.xml` (A.2, a polygon and SAME geocodes, California),
- `cap12_spec_example_A3_earthquake.xml` (A.3, an Update with references and a radius-0 circle),
- `nws_cap11_blizzard_warning.xml` (a real NWS CAP 1.1 Blizzard Warning, Minnesota, 2021-12-27).
The city for the area tests is a grid over the A.2 thunderstorm's part of the Sierra Nevada.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from opscentre.core.errors import ParseError
from opscentre.core.models import Severity
from opscentre.core.store import Store
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.cap import CapOptions, parse
from opscentre.workers.feeds.cap.areas import KM_PER_DEG_LAT, cap_circle, cap_polygon
from opscentre.workers.feeds.cap.vocabulary import MAX_INFOS, reference_ids
from opscentre.workers.pipeline import store_payload
from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

CAP = FIXTURES / "cap"
A1 = CAP / "cap12_spec_example_A1_homeland_security.xml"
A2 = CAP / "cap12_spec_example_A2_severe_thunderstorm.xml"
A3 = CAP / "cap12_spec_example_A3_earthquake.xml"
NWS11 = CAP / "nws_cap11_blizzard_warning.xml"
SIERRA = (-120.5, 38.0, -119.5, 38.8)  # around A.2's polygon
NOW_2003 = datetime(2003, 6, 17, 22, 0, tzinfo=timezone.utc)
NS12 = "urn:oasis:names:tc:emergency:cap:1.2"


@pytest.fixture
def settings(tmp_path):
    return grid_city(tmp_path, bbox=SIERRA, tz="America/Los_Angeles", feeds={"cap": {}})


@pytest.fixture
def ctx(settings):
    return FeedContext("cap", CapOptions(), settings, NOW_2003)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def info(event="Flood Warning", language=None, area="", expires="2003-06-18T16:00:00-07:00", severity="Severe",
         extra=""):
    return (f"<info>{f'<language>{language}</language>' if language else ''}<category>Met</category>"
            f"<event>{event}</event><urgency>Immediate</urgency><severity>{severity}</severity>"
            f"<certainty>Observed</certainty>{f'<expires>{expires}</expires>' if expires else ''}"
            f"<headline>{event} headline</headline>{extra}<area><areaDesc>Somewhere</areaDesc>{area}</area></info>")


SIERRA_POLYGON = "<polygon>38.2,-120.2 38.2,-119.8 38.6,-119.8 38.6,-120.2 38.2,-120.2</polygon>"


def message(identifier="M1", infos=None, status="Actual", msg_type="Alert", scope="Public",
            sent="2003-06-17T14:57:00-07:00", references=None, ns=NS12) -> bytes:
    infos = [info(area=SIERRA_POLYGON)] if infos is None else infos
    refs = f"<references>{references}</references>" if references else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="{ns}"><identifier>{identifier}</identifier>'
            f"<sender>test@example.org</sender><sent>{sent}</sent><status>{status}</status>"
            f"<msgType>{msg_type}</msgType><scope>{scope}</scope>{refs}{''.join(infos)}</alert>").encode()


def reasons(result) -> dict[str, str]:
    return {r.entity_id: r.reason for r in result.rejected}


# ---- the fixtures -----------------------------------------------------------------------


def test_a2_thunderstorm_polygon_is_read_lat_lon_and_drawn_lon_lat(ctx):
    result = parse(A2.read_bytes(), ctx)
    assert result.rejected == [] and len(result.events) == 1
    event = result.events[0]
    assert (event.event_id, event.event_type, event.title, event.severity) == (
        "KSTO1055887203", "SEVERE THUNDERSTORM", "SEVERE THUNDERSTORM WARNING", Severity.SEVERE)
    assert event.geometry["type"] == "Polygon"
    assert event.geometry["coordinates"][0][0] == [-120.14, 38.47]  # "38.47,-120.14" in CAP
    assert len(event.geometry["coordinates"][0]) == 5
    assert event.observed_at == event.starts_at == ts("2003-06-17T14:57:00-07:00")  # no onset/effective: sent
    assert event.ends_at == ts("2003-06-17T16:00:00-07:00")
    props = event.properties
    assert props["geocodes"] == {"SAME": ["006109", "006009", "006003"]}
    assert props["event_codes"] == {"SAME": ["SVR"]}
    assert (props["urgency"], props["certainty"], props["cap_version"]) == ("Immediate", "Observed", "1.2")
    assert props["area_desc"].startswith("EXTREME NORTH CENTRAL TUOLUMNE COUNTY IN CALIFORNIA, EXTREME")
    assert props["description"].startswith("AT 254 PM PDT...NATIONAL WEATHER SERVICE DOPPLER RADAR")
    assert "\n   " not in props["description"]  # the XML's indentation is gone


def test_a1_has_no_area_geometry_but_keeps_its_description(ctx):
    event = parse(A1.read_bytes()).events[0]
    assert event.event_id == "43b080713727" and event.geometry is None
    assert event.severity is Severity.SEVERE
    assert event.properties["area_desc"] == "U.S. nationwide and interests worldwide"
    assert event.properties["parameters"] == {"HSAS": ["ORANGE"]}
    assert event.properties["web"] == "http://www.dhs.gov/dhspublic/display?theme=29"
    # no <expires>: it ends default_lifetime_h after it was sent
    assert event.ends_at == ts("2003-04-02T14:39:01-05:00") + 24 * 3600


def test_a3_earthquake_update_references_the_first_message_and_its_epicentre_is_a_point():
    event = parse(A3.read_bytes()).events[0]
    assert event.event_id == "TRI13970876.2" and event.severity is Severity.MINOR
    assert event.properties["message_type"] == "Update" and not event.cancelled
    assert event.references[0] == "TRI13970876.1"
    assert event.references == ["TRI13970876.1"] + [f"TRI13970876.1#{n}" for n in range(1, MAX_INFOS)]
    assert event.geometry == {"type": "Point", "coordinates": [-115.5527, 32.9525]}


def test_nws_cap_1_1_blizzard_warning_keeps_geocodes_and_ignores_the_empty_polygon():
    event = parse(NWS11.read_bytes()).events[0]
    assert event.event_id.startswith("NOAA-NWS-ALERTS-MN1261CB03F0E0.BlizzardWarning")
    assert event.event_type == "Blizzard Warning" and event.severity is Severity.SEVERE
    assert event.geometry is None
    props = event.properties
    assert props["cap_version"] == "1.1"
    assert props["geocodes"] == {"FIPS6": ["027031", "027075"], "UGC": ["MNZ020", "MNZ021"]}
    assert props["parameters"]["VTEC"] == ["/O.CON.KDLH.BZ.W.0002.000000T0000Z-211228T0000Z/"]
    assert event.starts_at == ts("2021-12-27T10:08:00-06:00")  # effective
    assert event.ends_at == ts("2021-12-27T18:00:00-06:00")


def test_an_area_outside_the_city_is_rejected(settings):
    far = grid_city(settings.source_path.parent / "far", bbox=(-43.8, -23.1, -43.1, -22.7), tz="America/Sao_Paulo",
                    feeds={"cap": {}})
    result = parse(A2.read_bytes(), FeedContext("cap", CapOptions(), far, NOW_2003))
    assert result.events == [] and reasons(result) == {"KSTO1055887203": "area is outside the city"}
    # an alert with no geometry cannot be placed, so it is kept
    assert len(parse(A1.read_bytes(), FeedContext("cap", CapOptions(), far, NOW_2003)).events) == 1


# ---- hostile and malformed documents ----------------------------------------------------


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:1/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_entity_expansion_external_entities_and_dtds_are_refused(ctx, payload):
    with pytest.raises(ParseError, match="hostile or unsupported XML"):
        parse(payload, ctx)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"  \n ", "empty"),
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML page"),
        (b"<html><head><title>Maintenance</title></head></html>", "HTML page"),
        (b'{"alerts": []}', "JSON"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x</ident", "not well-formed"),
        (b"<warning><id>1</id></warning>", "not a CAP 1.1/1.2 <alert>"),
        (b"<alert xmlns='http://www.incident.com/cap/1.0'><identifier>x</identifier></alert>", "CAP 1.0"),
        (b"<alert xmlns='urn:example:other'><identifier>x</identifier></alert>", "not a CAP"),
    ],
)
def test_a_payload_that_is_not_cap_xml_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_a_truncated_fixture_is_a_parse_error(ctx):
    with pytest.raises(ParseError, match="not well-formed"):
        parse(A2.read_bytes()[:900], ctx)


@pytest.mark.parametrize("status", ["Test", "Exercise", "System", "Draft"])
def test_messages_that_are_not_actual_are_rejected_with_the_reason(ctx, status):
    result = parse(message(status=status), ctx)
    assert result.events == []
    assert reasons(result)["M1"] == f"status {status!r}: not a real alert (test, exercise, system or draft), skipped"


def test_missing_fields_unknown_values_and_non_public_scope_reject_with_reasons(ctx):
    cases = {
        "status": message(status="Rumour"),
        "ack": message(msg_type="Ack"),
        "type": message(msg_type="Shout"),
        "scope": message(scope="Restricted"),
        "sent": message(sent="yesterday"),
        "nosent": message(sent=""),
        "noinfo": message(infos=[]),
    }
    found = {name: reasons(parse(payload, ctx))["M1"] for name, payload in cases.items()}
    assert found["status"] == "unknown status 'Rumour' (expected Actual)"
    assert "not a warning" in found["ack"] and "unknown msgType 'Shout'" in found["type"]
    assert "scope 'Restricted'" in found["scope"]
    assert "not an ISO 8601 time" in found["sent"] and found["nosent"] == "sent is missing"
    assert found["noinfo"] == "alert has no <info> block"
    no_id = parse(message(identifier=""), ctx)
    assert no_id.events == [] and no_id.rejected[0].reason == "alert has no <identifier>"


def test_a_bad_info_is_rejected_and_the_other_infos_kept(ctx):
    infos = [info(area=SIERRA_POLYGON), info(event=""), info(expires="soon"),
             info(area="<polygon>38.2,-120.2 38.3,-120.1</polygon>"), info(severity="Apocalyptic")]
    result = parse(message(infos=infos), ctx)
    assert [e.event_id for e in result.events] == ["M1", "M1#4"]
    why = reasons(result)
    assert why["M1#1"] == "info has no <event>"
    assert "expires 'soon' is not an ISO 8601 time" in why["M1#2"]
    assert "distinct points" in why["M1#3"]
    odd = result.events[1]
    assert odd.severity is Severity.UNKNOWN and odd.properties["severity_source"] == "Apocalyptic"


def test_an_unnamespaced_alert_is_read_as_cap_1_2(ctx):
    payload = message(ns="").replace(b' xmlns=""', b"")
    assert [e.event_id for e in parse(payload, ctx).events] == ["M1"]


# ---- areas ------------------------------------------------------------------------------


def test_a_polygon_given_lon_lat_is_recognised_as_swapped(ctx):
    swapped = "<polygon>-120.2,38.2 -119.8,38.2 -119.8,38.6 -120.2,38.6 -120.2,38.2</polygon>"
    result = parse(message(infos=[info(area=swapped)]), ctx)
    assert result.events == [] and "swapped" in reasons(result)["M1"]
    in_range = "<polygon>-43.2,-22.9 -43.1,-22.9 -43.1,-22.8 -43.2,-22.9</polygon>"  # Rio written lon,lat
    rio = grid_city(ctx.settings.source_path.parent / "rio", bbox=(-43.8, -23.1, -43.1, -22.7),
                    tz="America/Sao_Paulo", feeds={"cap": {}})
    result = parse(message(infos=[info(area=in_range)]), FeedContext("cap", CapOptions(), rio, NOW_2003))
    assert "swapped" in reasons(result)["M1"]


def test_polygon_text_problems_are_reasons():
    assert cap_polygon("38.2,-120.2 38.2,-119.8 38.6,-119.8")[0].is_valid  # an open ring is closed
    assert "not 'lat,lon'" in cap_polygon("38.2;-120.2 38.2,-119.8 38.6,-119.8")[1]
    assert "not 'lat,lon'" in cap_polygon("a,b 38.2,-119.8 38.6,-119.8")[1]
    assert "not a latitude" in cap_polygon("38.2,-200 38.2,-119.8 38.6,-119.8")[1]
    assert "finite" in cap_polygon("nan,1 38.2,-119.8 38.6,-119.8")[1]


def test_a_circle_becomes_a_polygon_round_on_the_ground():
    circle, problem = cap_circle("60.0,10.0 10")
    assert problem is None and circle.geom_type == "Polygon"
    assert len(circle.exterior.coords) == 65
    min_lon, min_lat, max_lon, max_lat = circle.bounds
    assert (max_lat - min_lat) == pytest.approx(20 / KM_PER_DEG_LAT, rel=1e-3)
    # at 60° a degree of longitude is half as long: the circle is twice as wide in degrees
    assert (max_lon - min_lon) == pytest.approx(2 * 20 / KM_PER_DEG_LAT, rel=1e-3)
    assert circle.centroid.x == pytest.approx(10.0) and circle.centroid.y == pytest.approx(60.0)
    for bad, reason in (("60,10", "not 'lat,lon radius'"), ("60,10 -1", "not between"), ("60,10 km", "not a number"),
                        ("60,10 99999", "not between")):
        assert reason in cap_circle(bad)[1]


def test_circles_and_polygons_of_one_info_are_merged_and_touch_zones(ctx, redis_client):
    area = SIERRA_POLYGON + "<circle>38.1,-119.6 5</circle>"
    payload = message(infos=[info(area=area)], sent="2003-06-17T14:57:00-07:00")
    event = parse(payload, ctx).events[0]
    assert event.geometry["type"] == "MultiPolygon" and len(event.geometry["coordinates"]) == 2
    store = Store(redis_client)
    store_payload(FEEDS["cap"], payload, ctx, store)
    stored = store.events("warning")[0]
    assert len(stored["zone_ids"]) >= 2 and set(stored["zone_ids"]) <= set(ctx.settings.zones.ids)


# ---- infos, languages, references -------------------------------------------------------


def test_each_info_is_an_event_with_a_stable_id(ctx):
    infos = [info(event="Flood Warning", area=SIERRA_POLYGON), info(event="Wind Advisory", area=SIERRA_POLYGON)]
    first = parse(message(infos=infos), ctx)
    again = parse(message(infos=infos), ctx)
    assert [(e.event_id, e.event_type) for e in first.events] == [("M1", "Flood Warning"), ("M1#1", "Wind Advisory")]
    assert [e.event_id for e in again.events] == ["M1", "M1#1"]


def test_one_language_is_kept_the_configured_one_or_the_first(settings):
    infos = [info(event="Flood Warning", language="en-US"), info(event="Alerta de inundação", language="pt-BR"),
             info(event="Alerta de vendaval", language="pt-BR")]
    default = parse(message(infos=infos), FeedContext("cap", CapOptions(), settings, NOW_2003))
    assert [e.event_id for e in default.events] == ["M1"]
    assert default.events[0].properties["other_languages"] == ["pt-BR"]
    portuguese = parse(message(infos=infos), FeedContext("cap", CapOptions(language="pt"), settings, NOW_2003))
    assert [(e.event_id, e.event_type) for e in portuguese.events] == [
        ("M1#1", "Alerta de inundação"), ("M1#2", "Alerta de vendaval")]
    assert portuguese.events[0].properties["language"] == "pt-BR"
    missing = parse(message(infos=infos), FeedContext("cap", CapOptions(language="de"), settings, NOW_2003))
    assert [e.event_id for e in missing.events] == ["M1"]


def test_references_are_the_identifier_of_each_triple():
    text = "a@x.org,MSG-1,2003-06-17T14:57:00-07:00\n  b@y.org,MSG-2,2003-06-17T15:00:00-07:00 MSG-3"
    assert reference_ids(text) == ["MSG-1", "MSG-2", "MSG-3"]
    assert reference_ids(None) == [] and reference_ids("  ") == []


def test_a_cancel_without_info_still_cancels(ctx):
    cancel = message("C1", infos=[], msg_type="Cancel", references="s,M1,2003-06-17T14:57:00-07:00")
    event = parse(cancel, ctx).events[0]
    assert event.cancelled and event.event_id == "C1" and event.references[0] == "M1"


def test_an_update_then_a_cancel_replace_and_end_the_warning_in_redis(settings, redis_client):
    now = datetime.now(timezone.utc)
    sent = lambda minutes: (now - timedelta(minutes=minutes)).isoformat(timespec="seconds")  # noqa: E731
    later = (now + timedelta(hours=2)).isoformat(timespec="seconds")
    store = Store(redis_client)
    ctx = FeedContext("cap", CapOptions(), settings, now)
    feed = FEEDS["cap"]

    original = message("W-1", infos=[info(area=SIERRA_POLYGON, expires=later)], sent=sent(30))
    assert store_payload(feed, original, ctx, store).stored == 1
    assert [e["event_id"] for e in store.events("warning")] == ["W-1"]

    update = message("W-2", msg_type="Update", sent=sent(20), references=f"test@example.org,W-1,{sent(30)}",
                     infos=[info(event="Flood Warning", severity="Extreme", area=SIERRA_POLYGON, expires=later)])
    assert store_payload(feed, update, ctx, store).stored == 1
    stored = store.events("warning")
    assert [(e["event_id"], e["severity"]) for e in stored] == [("W-2", "extreme")]

    cancel = message("W-3", msg_type="Cancel", sent=sent(10), references=f"test@example.org,W-2,{sent(20)}",
                     infos=[info(area=SIERRA_POLYGON, expires=later)])
    summary = store_payload(feed, cancel, ctx, store)
    assert (summary.stored, summary.rejected) == (1, 0)
    assert store.events("warning") == []

    expired = message("W-4", infos=[info(area=SIERRA_POLYGON, expires=sent(5))], sent=sent(60))
    summary = store_payload(feed, expired, ctx, store)
    assert (summary.stored, summary.rejected) == (0, 1)
    assert summary.reasons == {"already over (ends_at is in the past)": 1}
    assert store.events("warning") == []


def test_an_update_that_moves_the_warning_out_of_the_city_ends_the_original(settings, redis_client):
    now = datetime.now(timezone.utc)
    sent = (now - timedelta(minutes=30)).isoformat(timespec="seconds")
    later = (now + timedelta(hours=2)).isoformat(timespec="seconds")
    store = Store(redis_client)
    ctx = FeedContext("cap", CapOptions(), settings, now)
    store_payload(FEEDS["cap"], message("W-1", infos=[info(area=SIERRA_POLYGON, expires=later)], sent=sent), ctx, store)
    far = "<polygon>45.2,-100.2 45.2,-99.8 45.6,-99.8 45.2,-100.2</polygon>"
    moved = message("W-2", msg_type="Update", references=f"s,W-1,{sent}", sent=sent,
                    infos=[info(area=far, expires=later)])
    summary = store_payload(FEEDS["cap"], moved, ctx, store)
    assert summary.reasons == {} and summary.skip_reasons == {"area is outside the city": 1}
    assert store.events("warning") == []


def test_a_cancel_ends_the_warning_even_when_its_own_area_is_broken_or_elsewhere(ctx):
    elsewhere = "<polygon>45.2,-100.2 45.2,-99.8 45.6,-99.8 45.2,-100.2</polygon>"
    for area in ("<polygon>not a polygon</polygon>", elsewhere):
        result = parse(message("C1", msg_type="Cancel", references="s,W-1,2003-06-17T14:00:00-07:00",
                               infos=[info(area=area)]), ctx)
        assert result.rejected == [] and [(e.event_id, e.cancelled) for e in result.events] == [("C1", True)]
        assert result.events[0].references[0] == "W-1"


# ---- feeds of CAP messages --------------------------------------------------------------


def test_an_atom_feed_embedding_alerts_gives_every_alert(ctx):
    alerts = [message(f"M{i}").split(b"?>", 1)[1] for i in (1, 2)]
    atom = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            + b"".join(b"<entry><title>e</title><content type='text/xml'>" + a + b"</content></entry>" for a in alerts)
            + b"</feed>")
    assert [e.event_id for e in parse(atom, ctx).events] == ["M1", "M2"]
    empty = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>no alerts</title></feed>'
    assert parse(empty, ctx).events == []
    links_only = (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>e</title>'
                  b'<link href="https://example.org/cap/1.xml"/></entry></feed>')
    with pytest.raises(ParseError, match="only link to CAP messages"):
        parse(links_only, ctx)


# ---- options, fetch, end to end ----------------------------------------------------------


def test_the_options_are_validated():
    assert CapOptions().url is None and CapOptions(language="pt-BR").language == "pt-BR"
    for bad in ({"url": "file:///etc/passwd"}, {"language": "português!"}, {"default_lifetime_h": 0},
                {"surprise": 1}):
        with pytest.raises(ValueError):
            CapOptions(**bad)


def test_a_poll_without_a_url_fails_with_a_config_error(settings, redis_client):
    store = Store(redis_client)
    assert jobs.poll_feed("cap", settings, store)["failed"]
    health = store.feed_health("cap")
    assert health["status"] == "failing" and health["last_error_kind"] == "config"
    assert "feeds.cap.options.url" in health["last_error"]


def test_a_poll_fetches_and_stores_a_cap_message(tmp_path, redis_client):
    now = datetime.now(timezone.utc)
    body = message("LIVE-1", sent=(now - timedelta(minutes=3)).isoformat(timespec="seconds"),
                   infos=[info(area=SIERRA_POLYGON, expires=(now + timedelta(hours=1)).isoformat(timespec="seconds"))])
    with serving(lambda n, h: send(h, 200, body, {"Content-Type": "application/cap+xml", "ETag": '"c1"'})) as server:
        settings = grid_city(tmp_path, bbox=SIERRA, tz="America/Los_Angeles",
                             feeds={"cap": {"options": {"url": server.url + "/cap/latest.xml"}}})
        store = Store(redis_client)
        assert jobs.poll_feed("cap", settings, store) == {"feed": "cap", "stored": 1, "rejected": 0}
        assert jobs.poll_feed("cap", settings, store)["stored"] == 1  # the server ignores If-None-Match
    assert server.headers[0]["Accept"].startswith("application/cap+xml")
    assert server.headers[1]["If-None-Match"] == '"c1"'
    stored = store.events("warning")
    assert [e["event_id"] for e in stored] == ["LIVE-1"] and stored[0]["zone_ids"]
    assert store.feed_health("cap")["status"] == "ok"


def test_ingest_replays_each_fixture_as_of_its_time(tmp_path, redis_client, redis_server):
    grid_city(tmp_path, bbox=SIERRA, tz="America/Los_Angeles", feeds={"cap": {}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(tmp_path / "city.yaml"))
    result = opscentre("ingest", "cap", str(A2), "--as-of", "2003-06-17T22:00:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "cap: 1 items stored, 0 rejected" in result.stdout
    assert [e["event_id"] for e in Store(redis_client).events("warning")] == ["KSTO1055887203"]
    late = opscentre("ingest", "cap", str(NWS11), "--as-of", "2021-12-28T12:00:00Z", env=env)
    assert late.returncode == 0 and "0 items stored, 1 rejected" in late.stdout and "already over" in late.stdout
    hostile = tmp_path / "hostile.xml"
    hostile.write_bytes(BILLION_LAUGHS)
    refused = opscentre("ingest", "cap", str(hostile), env=env)
    assert refused.returncode == 1 and "hostile" in refused.stderr


def test_parse_without_a_context_reads_every_fixture():
    for path in (A1, A2, A3, NWS11):
        result = parse(path.read_bytes())
        assert len(result.events) == 1 and result.rejected == [], path.name
        assert all(math.isfinite(e.observed_at) for e in result.events)
