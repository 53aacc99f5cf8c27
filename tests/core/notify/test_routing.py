"""Routing by place on Rio's 166 bairros: a transition reaches the people in (or near) the bairros
that made it — by zone or by a point and a metric radius — if their role hears that severity and
it is not their quiet hours; stage changes reach the on-call operators and every webhook."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pytest
import shapely
from hypothesis import given, settings as hypothesis_settings, strategies as st

from opscentre.core.alerting.incidents import CITY_WIDE, Incident, group
from opscentre.core.alerting.lifecycle import Alert, AlertState, Change, Transition
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.notify import outbox
from opscentre.core.notify.recipients import Consent, Recipient
from opscentre.core.notify.routing import RecipientAreas, ZoneIndex, circle, quiet, route, route_webhooks
from opscentre.core.notify.subscribers import WebhookSubscriber
from opscentre.core.settings import FeedSettings, NotifySettings, load_settings
from opscentre.core.store import Store

RIO = Path(__file__).resolve().parents[3] / "opscentre" / "cities" / "rio" / "demo.yaml"
SP = ZoneInfo("America/Sao_Paulo")
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=SP)
POLICY = NotifySettings()
POSTO_4 = (-22.9711, -43.1822)  # Copacabana beach, ~1 km from any other bairro
PRINCESA_ISABEL = (-22.9627, -43.1716)  # in Leme, ~150 m from Copacabana
ARPOADOR = (-22.9840, -43.1900)  # in Copacabana, Ipanema ~300 m to the west


@pytest.fixture(scope="module")
def rio():
    return load_settings(RIO)


@pytest.fixture(scope="module")
def zone(rio):
    by_name = {name: zone_id for zone_id, name in rio.zones.name_by_id.items()}
    return by_name.__getitem__


@pytest.fixture(scope="module")
def index(rio):
    return ZoneIndex(rio.zones)


def person(rid: str, role: str = "community", zones=(), point=None, radius_m=None, quiet_hours=None) -> Recipient:
    return Recipient(id=rid, name=rid, phone="+5521987654321", role=role, zone_ids=tuple(zones), point=point,
                     radius_m=radius_m, quiet_hours=quiet_hours, consent=Consent(at=0, how="test"), created_at=0)


def notice(zone_severity: dict[str, str], union=None, **extra) -> dict:
    worst = max((AlertSeverity(s) for s in zone_severity.values()), key=lambda s: s.rank).value
    return {"kind": "incident", "change": "opened", "incident_id": "i-1", "severity": worst,
            "trigger_severity": worst, "zone_ids": sorted(union or zone_severity),
            "trigger_zone_ids": list(zone_severity), "zone_severity": zone_severity, "rules": ["rain_15min"],
            "public": True, "domains": ["weather"], "at": 0.0, **extra}


def ids(routed) -> list[str]:
    return sorted(r.id for r, _why in routed)


def touching(index, rio, lat, lon, radius_m) -> list[str]:
    return sorted(rio.zones.name_by_id[z] for z in index.touching(circle(lat, lon, radius_m)))


def test_a_recipient_in_copacabana_gets_copacabanas_alert_and_one_in_campo_grande_does_not(rio, zone, index):
    people = [person("copa", zones=[zone("Copacabana")]), person("cg", zones=[zone("Campo Grande")]),
              person("beach", point=POSTO_4, radius_m=300)]
    areas = RecipientAreas.build(people, index)
    routed = route(notice({zone("Copacabana"): "warning"}), people, areas, POLICY, NOON)
    assert ids(routed) == ["beach", "copa"]
    assert all(why == f"zones {zone('Copacabana')} at warning (role community)" for _, why in routed)


def test_a_300_m_circle_on_copacabana_beach_touches_copacabana_alone_and_one_by_the_leme_border_both(rio, index):
    assert touching(index, rio, *POSTO_4, 300) == ["Copacabana"]
    assert touching(index, rio, *PRINCESA_ISABEL, 300) == ["Copacabana", "Leme"]
    assert touching(index, rio, *PRINCESA_ISABEL, 100) == ["Leme"]


@pytest.mark.parametrize("point, neighbour", [(ARPOADOR, "Ipanema"), ((-22.9650, -43.1760), "Leme")])
def test_the_radius_is_metres_on_the_ground_in_every_direction(rio, index, point, neighbour):
    """Against the distance measured in UTM 23S (SIRGAS 2000): 3% short of the neighbour does not
    touch it, 3% past it does (a circle drawn in degrees is 8% too wide east-west here)."""
    utm = rio.zones.frame.to_crs(31983)
    here = gpd.GeoSeries([shapely.Point(point[1], point[0])], crs=4326).to_crs(31983).iloc[0]
    metres = utm.geometry.iloc[rio.zones.names.index(neighbour)].distance(here)
    assert 200 < metres < 400
    assert neighbour not in touching(index, rio, *point, metres * 0.97)
    assert neighbour in touching(index, rio, *point, metres * 1.03)


def test_a_recipient_with_zones_and_a_point_is_in_both_and_a_point_outside_the_city_is_nowhere(rio, zone, index):
    both = person("both", zones=[zone("Campo Grande")], point=POSTO_4, radius_m=300)
    sao_paulo = person("sp", point=(-23.5505, -46.6333), radius_m=5000)
    areas = RecipientAreas.build([both, sao_paulo], rio.zones)
    assert areas.of(both) == {zone("Campo Grande"), zone("Copacabana")}
    assert areas.of(sao_paulo) == frozenset()
    city_wide = notice({CITY_WIDE: "critical"}, rules=["heat"])
    assert ids(route(city_wide, [both, sao_paulo], areas, POLICY, NOON)) == ["both"]


def test_each_role_hears_from_its_minimum_severity_up_at_the_level_of_its_own_bairro(rio, zone, index):
    copa, leme = zone("Copacabana"), zone("Leme")
    people = [person(f"{role}-{where}", role=role, zones=[z]) for role in ("oncall", "agent", "community", "subscriber")
              for where, z in (("copa", copa), ("leme", leme))]
    areas = RecipientAreas.build(people, index)

    def heard(zone_severity):
        return ids(route(notice(zone_severity), people, areas, POLICY, NOON))

    assert heard({copa: "advisory"}) == ["oncall-copa"]
    assert heard({copa: "warning"}) == ["agent-copa", "community-copa", "oncall-copa"]
    assert heard({copa: "critical"}) == ["agent-copa", "community-copa", "oncall-copa", "subscriber-copa"]
    # one notice, two levels: Leme's subscriber is not texted Copacabana's critical at Leme's warning
    assert heard({copa: "critical", leme: "warning"}) == [
        "agent-copa", "agent-leme", "community-copa", "community-leme", "oncall-copa", "oncall-leme",
        "subscriber-copa"]
    stricter = POLICY.model_copy(update={"min_severity": POLICY.min_severity.model_copy(update={"oncall": "critical"})})
    assert ids(route(notice({copa: "warning"}), people, areas, stricter, NOON)) == ["agent-copa", "community-copa"]


def test_quiet_hours_hold_back_up_to_warning_but_not_critical_or_emergency(rio, zone, index):
    night = person("night", zones=[zone("Copacabana")], quiet_hours=("22:00", "07:00"))
    lunch = person("lunch", zones=[zone("Copacabana")], quiet_hours=("12:00", "14:00"))
    areas = RecipientAreas.build([night, lunch], index)

    def heard(severity, hour, minute=0):
        at = NOON.replace(hour=hour, minute=minute)
        return ids(route(notice({zone("Copacabana"): severity}), [night, lunch], areas, POLICY, at))

    assert heard("warning", 23, 30) == ["lunch"] and heard("warning", 3) == ["lunch"]
    assert heard("warning", 7) == ["lunch", "night"]  # the end of quiet hours is not quiet
    assert heard("warning", 12, 59) == ["night"] and heard("warning", 14) == ["lunch", "night"]
    assert heard("critical", 23, 30) == ["lunch", "night"] and heard("emergency", 12, 30) == ["lunch", "night"]
    assert not quiet(None, NOON) and quiet(("22:00", "07:00"), NOON.replace(hour=22))


def test_internal_alerts_reach_on_call_only_and_alerts_not_public_skip_community_and_subscribers(rio, zone, index):
    copa = zone("Copacabana")
    people = [person(role, role=role, zones=[copa]) for role in ("oncall", "agent", "community", "subscriber")]
    areas = RecipientAreas.build(people, index)
    stale = notice({copa: "critical"}, rules=["feed_stale"], domains=["system"], public=False)
    stage_rule = notice({copa: "critical"}, rules=["rain_stage"], public=False)
    assert ids(route(stale, people, areas, POLICY, NOON)) == ["oncall"]
    assert ids(route(stage_rule, people, areas, POLICY, NOON)) == ["agent", "oncall"]


def test_a_notification_from_before_trigger_zones_is_routed_by_its_zones(rio, zone, index):
    people = [person("copa", zones=[zone("Copacabana")]), person("cg", zones=[zone("Campo Grande")])]
    old = {"kind": "incident", "change": "opened", "severity": "warning", "zone_ids": [zone("Copacabana")], "at": 0}
    assert ids(route(old, people, RecipientAreas.build(people, index), POLICY, NOON)) == ["copa"]


def test_stage_changes_reach_every_on_call_operator_and_every_webhook_and_incidents_webhooks_by_severity(
        rio, zone, index):
    people = [person("oncall-cg", role="oncall", zones=[zone("Campo Grande")]),
              person("agent-copa", role="agent", zones=[zone("Copacabana")])]
    stage = {"kind": "stage", "level": 3, "previous": 2, "name": "attention", "at": 0.0}
    assert ids(route(stage, people, RecipientAreas.build(people, index), POLICY, NOON)) == ["oncall-cg"]
    hooks = [WebhookSubscriber.create("https://partner.example/all", 0.0),
             WebhookSubscriber.create("https://partner.example/bad", 0.0, min_severity="critical")]
    every, bad_only = hooks

    def hooked(note):
        return [h.id for h, _ in route_webhooks(note, hooks)]

    assert hooked(stage) == [every.id, bad_only.id]
    assert hooked(notice({zone("Copacabana"): "warning"})) == [every.id]
    assert hooked(notice({zone("Copacabana"): "emergency"})) == [every.id, bad_only.id]
    reminder = {"kind": "reminder", "recipients": "primary", "alert_id": "a-1", "severity": "critical", "at": 0}
    assert hooked(reminder) == []


def forecast(zone_id: str, severity: str, lead_s: float, t: float) -> Alert:
    return Alert(id=f"a-{zone_id}", fingerprint=f"rain_forecast_48h|zone:{zone_id}", rule="rain_forecast_48h",
                 key=f"zone:{zone_id}", state=AlertState.FIRING, severity=AlertSeverity(severity), zone_id=zone_id,
                 labels={"domain": "weather", "public": True}, lead_time_s=lead_s, started_at=t, since=t,
                 fired_at=t, updated_at=t)


def test_a_saude_forecast_in_an_incident_grown_to_campo_grande_texts_saude_and_not_campo_grande(rio, zone, index):
    saude, campo_grande = zone("Saúde"), zone("Campo Grande")
    union = sorted(set(rio.zones.ids[:66]) | {saude, campo_grande})
    there = forecast(campo_grande, "critical", 3600, 0.0)
    grown = Incident(id="i-storm", severity="critical", zone_ids=union, fingerprints=[there.fingerprint],
                     opened_at=0.0, updated_at=0.0, notified={z: "critical" for z in union if z != saude})
    new = forecast(saude, "critical", 3 * 3600, 60.0)
    moved = Transition(alert_id=new.id, fingerprint=new.fingerprint, rule=new.rule, change=Change.FIRING, at=60.0,
                       state_before=None, state_after=AlertState.FIRING, severity_before=None,
                       severity_after=new.severity, value=None, zone_id=saude)
    (note,) = group([moved], {new.fingerprint: new, there.fingerprint: there}, {grown.id: grown},
                    rio.zones.neighbours, 7200, 60.0).notifications
    people = [person("saude", role="subscriber", zones=[saude]), person("cg", role="subscriber", zones=[campo_grande])]
    assert len(note["zone_ids"]) >= 67
    assert ids(route(note, people, RecipientAreas.build(people, index), POLICY, NOON)) == ["saude"]


@pytest.fixture
def storm_notices(rio, redis_client):
    """Every incident notification of the April 2010 storm, played through the pipeline."""
    from tests.workers.test_storm_scenario import STORM_START, play

    simulator = FeedSettings(options={"seed": 2010, "gauges": "alerta_rio_gauges.json", "road_segments": 50,
                                      "scenario": "storm-2010-04", "scenario_start": STORM_START.timestamp()})
    settings = rio.model_copy(update={"feeds": {"simulator": simulator}})
    for _ in play(settings, Store(redis_client), hours_before=6, hours_after=34):
        pass
    return [n for n in reversed(outbox.recent(redis_client, 100_000)) if n["kind"] == "incident"]


def test_in_the_april_2010_storm_each_transition_reaches_only_the_people_of_the_bairros_that_made_it(
        rio, zone, index, storm_notices):
    people = [person("saude", role="oncall", zones=[zone("Saúde")]),
              person("cg", role="oncall", zones=[zone("Campo Grande")]),
              person("beach", role="oncall", point=POSTO_4, radius_m=300)]
    areas = RecipientAreas.build(people, index)
    texted: dict[str, list[dict]] = {p.id: [] for p in people}
    by_union: dict[str, int] = {p.id: 0 for p in people}
    city_wide = [n for n in storm_notices if CITY_WIDE in n["trigger_zone_ids"]]  # (the 3 h forecast: everyone)
    assert city_wide and all(ids(route(n, people, areas, POLICY, NOON)) == ["beach", "cg", "saude"] for n in city_wide)
    for note in storm_notices:
        trigger = set(note["trigger_zone_ids"])
        if CITY_WIDE in trigger:
            continue
        for recipient, _why in route(note, people, areas, POLICY, NOON):
            assert areas.of(recipient) & trigger, (recipient.id, note)
            texted[recipient.id].append(note)
        for p in people:
            by_union[p.id] += bool(areas.of(p) & set(note["zone_ids"]))
    # Saúde hears the forecast, hours ahead, in a notice naming 60-odd bairros at once
    warned = [n for n in texted["saude"] if "rain_forecast_48h" in n["rules"]]
    assert warned and warned[0]["lead_time_s"] >= 3 * 3600 and len(warned[0]["trigger_zone_ids"]) > 60
    # nothing that happened in Saúde reaches Campo Grande, and Campo Grande hears only of Campo Grande
    assert not any(zone("Saúde") in n["trigger_zone_ids"] for n in texted["cg"])
    assert texted["cg"] and all(zone("Campo Grande") in n["trigger_zone_ids"] for n in texted["cg"])
    # Campo Grande's incident grew; its later transitions elsewhere would have texted it by the union
    assert max(len(n["zone_ids"]) for n in texted["cg"]) > 20
    assert by_union["cg"] > len(texted["cg"])
    assert texted["beach"] and all(zone("Copacabana") in n["trigger_zone_ids"] for n in texted["beach"])


# ---- properties ---------------------------------------------------------------------------

RIO_SETTINGS = load_settings(RIO)
RIO_INDEX = ZoneIndex(RIO_SETTINGS.zones)
ZONE_IDS = RIO_SETTINGS.zones.ids
severities = st.sampled_from([s.value for s in AlertSeverity])
zone_sets = st.lists(st.sampled_from(ZONE_IDS), min_size=1, max_size=6, unique=True)
notices = st.tuples(st.dictionaries(st.sampled_from(ZONE_IDS), severities, min_size=1, max_size=8),
                    st.lists(st.sampled_from(ZONE_IDS), max_size=40)).map(  # the incident's union: more zones
    lambda made_it: notice(made_it[0], union=set(made_it[0]) | set(made_it[1])))
roles = st.sampled_from(["oncall", "agent", "community", "subscriber"])
quiets = st.sampled_from([None, ("22:00", "07:00"), ("09:00", "18:00")])
hours = st.integers(0, 23).map(lambda h: NOON.replace(hour=h))


@hypothesis_settings(max_examples=300, deadline=None)
@given(notices, zone_sets, roles, quiets, hours)
def test_routing_never_texts_a_recipient_whose_area_misses_the_trigger_zones(note, zones, role, quiet_hours, at):
    recipient = person("r", role=role, zones=zones, quiet_hours=quiet_hours)
    areas = RecipientAreas({"r": frozenset(zones)})
    routed = route(note, [recipient], areas, POLICY, at)
    if routed:
        assert set(zones) & set(note["trigger_zone_ids"])
    if role == "oncall" and quiet_hours is None:  # hears everything where it is
        assert bool(routed) == bool(set(zones) & set(note["trigger_zone_ids"]))


@hypothesis_settings(max_examples=300, deadline=None)
@given(notices, zone_sets, zone_sets, roles, quiets, hours)
def test_adding_zones_to_a_recipient_never_removes_it_from_a_routing(note, zones, more, role, quiet_hours, at):
    small = person("r", role=role, zones=zones, quiet_hours=quiet_hours)
    large = person("r", role=role, zones=list(dict.fromkeys(zones + more)), quiet_hours=quiet_hours)
    if route(note, [small], RecipientAreas({"r": frozenset(small.zone_ids)}), POLICY, at):
        assert route(note, [large], RecipientAreas({"r": frozenset(large.zone_ids)}), POLICY, at)


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.floats(-23.05, -22.80), st.floats(-43.70, -43.15), st.floats(50, 3000), st.floats(1.0, 2.0))
def test_a_wider_circle_touches_every_zone_a_narrower_one_does(lat, lon, radius_m, wider):
    narrow, wide = circle(lat, lon, radius_m), circle(lat, lon, radius_m * wider)
    assert RIO_INDEX.touching(narrow) <= RIO_INDEX.touching(wide)


def test_partners_hear_public_or_zone_incidents_but_never_internal_or_city_wide_private_ones(rio, zone, index):
    copa = zone("Copacabana")
    hook = WebhookSubscriber.create("https://partner.example/all", 0.0)

    def hooked(note, internal=POLICY.internal_domains):
        return [h.id for h, _ in route_webhooks(note, [hook], internal)]

    stale = notice({CITY_WIDE: "warning"}, rules=["feed_stale"], domains=["system"], public=False)
    assert hooked(stale) == [] and hooked(stale, internal=()) == []  # city-wide and not public: in-house
    assert hooked(notice({copa: "critical"}, domains=["system"], public=False)) == []  # internal, even in a zone
    assert hooked(notice({copa: "warning"}, rules=["rain_stage"], public=False)) == [hook.id]  # a zone's alert
    assert hooked(notice({CITY_WIDE: "critical"}, domains=["heat"], public=True)) == [hook.id]  # public, city-wide
    assert hooked(notice({copa: "warning"})) == [hook.id]


def test_a_stale_feed_incident_is_planned_for_on_call_by_sms_and_for_no_partner(rio, zone, index):
    from opscentre.core.notify.planning import plan

    stale = Alert(id="a-stale", fingerprint="feed_stale|feed:simulator", rule="feed_stale", key="feed:simulator",
                  state=AlertState.FIRING, severity=AlertSeverity.WARNING, zone_id=None,
                  labels={"domain": "system", "public": False, "severity": "warning"}, started_at=0.0, since=0.0,
                  updated_at=0.0)
    fired = Transition(alert_id=stale.id, fingerprint=stale.fingerprint, rule=stale.rule, change=Change.FIRING,
                       at=0.0, state_before=None, state_after=AlertState.FIRING, severity_before=None,
                       severity_after=stale.severity, value=None, zone_id=None)
    (note,) = group([fired], {stale.fingerprint: stale}, {}, rio.zones.neighbours, 7200, 0.0).notifications
    people = [person("oncall", role="oncall", zones=[zone("Copacabana")]),
              person("agent", role="agent", zones=[zone("Copacabana")])]
    hooks = [WebhookSubscriber.create("https://partner.example/all", 0.0)]
    planned = plan({**note, "id": "n-stale"}, people, RecipientAreas.build(people, index), hooks, rio, 0.0, NOON)
    assert [(d.channel, d.recipient_id) for d in planned] == [("sms", "oncall")]


def test_the_zone_index_hands_routing_only_the_recipients_in_the_trigger_zones(rio, zone, index):
    copa, leme, cg = zone("Copacabana"), zone("Leme"), zone("Campo Grande")
    people = (person("copa", zones=[copa]), person("leme", zones=[leme]), person("cg", zones=[cg]),
              person("beach", point=POSTO_4, radius_m=300), person("border", point=PRINCESA_ISABEL, radius_m=300),
              person("nowhere", point=(-10.0, -40.0), radius_m=100))
    areas = RecipientAreas.build(people, index)

    def seen(trigger):
        return sorted(r.id for r in areas.candidates(people, trigger))

    assert seen({copa}) == ["beach", "border", "copa"]
    assert seen({leme, cg}) == ["border", "cg", "leme"]
    assert seen({CITY_WIDE}) == ["beach", "border", "cg", "copa", "leme"]
    assert [r.id for r in areas.candidates(people, {cg, copa})] == ["copa", "cg", "beach", "border"]  # their order
    others = list(people)  # not the tuple the areas were built from: every one is looked at
    assert areas.candidates(others, {copa}) is others


def ids_of(routed) -> list[tuple[str, str]]:
    return [(r.id, why) for r, why in routed]


places = st.one_of(zone_sets.map(lambda zones: {"zones": zones}),
                   st.tuples(st.floats(-23.05, -22.80), st.floats(-43.70, -43.15), st.floats(50, 2000)).map(
                       lambda p: {"point": (p[0], p[1]), "radius_m": p[2]}))
crowds = st.lists(st.tuples(places, roles, quiets), min_size=1, max_size=25)
city_wide_notices = notices.map(lambda note: {**note, "trigger_zone_ids": [CITY_WIDE], "zone_severity": {}})


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.one_of(notices, city_wide_notices), crowds, hours)
def test_routing_by_the_zone_index_finds_exactly_whom_looking_at_every_recipient_finds(note, crowd, at):
    people = tuple(person(f"r{i}", role=role, quiet_hours=quiet_hours, **place)
                   for i, (place, role, quiet_hours) in enumerate(crowd))
    areas = RecipientAreas.build(people, RIO_INDEX)
    assert ids_of(route(note, people, areas, POLICY, at)) == ids_of(route(note, list(people), areas, POLICY, at))


def test_a_partners_webhook_links_the_cap_of_a_public_alert_at_the_public_url(rio, zone, index):
    from opscentre.core.notify.planning import plan

    rain = Alert(id="a-0123456789", fingerprint="rain_15min|g1", rule="rain_15min", key="g1", state=AlertState.FIRING,
                 severity=AlertSeverity.CRITICAL, zone_id=zone("Copacabana"), labels={"public": True}, started_at=0.0,
                 since=0.0, updated_at=0.0)
    fired = Transition(alert_id=rain.id, fingerprint=rain.fingerprint, rule=rain.rule, change=Change.FIRING, at=0.0,
                       state_before=None, state_after=AlertState.FIRING, severity_before=None,
                       severity_after=rain.severity, value=14.0, zone_id=rain.zone_id)
    (note,) = group([fired], {rain.fingerprint: rain}, {}, rio.zones.neighbours, 7200, 0.0).notifications
    hooks = [WebhookSubscriber.create("https://partner.example/all", 0.0)]
    (delivery,) = plan({**note, "id": "n-1"}, [], RecipientAreas.build((), index), hooks, rio, 0.0, NOON,
                       public_url="https://cor.example")
    assert delivery.body()["cap_url"] == "https://cor.example/api/public/alerts/a-0123456789.cap"
