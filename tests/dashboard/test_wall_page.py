"""Wall mode (`/wall`) over real HTTP with a real Redis: drawn for a viewer, with no header, links
or forms, showing the stage (level, name, since when in the city's time) beside the live map and
the cycling panels; and its model (pure): the worst incidents first, alerts by severity, feeds."""

from __future__ import annotations

import time

import orjson
import pytest
import requests
from city_seed import alert_record, write_city

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.incidents import Incident
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.pages import find
from opscentre.dashboard.pages import wall as wall_page
from opscentre.i18n import translator
from opscentre.layers.base import local_label

PASSWORD = "a long test password"
STAGE_SINCE = 1_800_000_000.0


def sign_in(live, username: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}/login", data={"username": username, "password": PASSWORD}, timeout=10,
                            allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


def layout_for(session, live, path: str) -> str:
    response = session.get(f"{live.url}/_dash-layout", headers={"Referer": f"{live.url}{path}"}, timeout=30)
    assert response.status_code == 200
    return response.text


@pytest.fixture
def city(store, rio_settings):
    zones = rio_settings.zones.ids
    write_city(store, rio_settings, rain_mm=1.0)
    AlertStore(store.redis).put([alert_record("a-warn", "firing", zone_id=zones[0], severity="warning"),
                                 alert_record("a-crit", "firing", zone_id=zones[1], severity="critical")])
    now = time.time()
    store.redis.hset(keys.INCIDENTS, "i-9", Incident(
        id="i-9", severity="critical", zone_ids=[zones[1]], fingerprints=["rain_15min|a-crit"], opened_at=now - 600,
        updated_at=now - 600, timeline=[]).model_dump_json())
    store.redis.set(keys.STAGE_RECORD, orjson.dumps({"level": 3, "name": "Attention", "since": STAGE_SINCE,
                                                     "reasons": [], "manual": False}))
    operators.add(store.redis, "viewer.user", PASSWORD, Role.VIEWER)
    return store


def test_the_wall_is_its_own_page_and_not_in_the_links():
    assert find("/wall")[0] is wall_page.PAGE and find("/wall/")[0] is wall_page.PAGE
    assert wall_page.PAGE.label is None


def test_the_wall_model_puts_the_worst_first_and_counts_alerts_by_severity():
    now = 1_800_000_000.0
    incidents = [{"id": "i-1", "severity": "emergency", "zones": ["Centro"], "alerts": 3, "opened_at": now - 3600},
                 {"id": "i-2", "severity": "warning", "zones": ["Tijuca", "Lapa"], "alerts": 1, "opened_at": now - 60}]
    alerts = [{"severity": "warning", "state": "firing"}, {"severity": "critical", "state": "firing"},
              {"severity": "warning", "state": "pending"}, {"severity": "warning", "state": "firing"}]
    feeds = {"simulator": {"status": "ok"}, "cemaden": {"status": "failing"}, "waze": {"status": "stale"},
             "off": {"status": "disabled"}}
    stage = {"level": 3, "name": "Attention", "since": "2027-01-15T08:00:00Z"}
    model = wall_page.wall_model(stage, incidents, alerts, feeds, now)
    assert model["stage"] == {"level": 3, "name": "Attention", "since": 1_800_000_000.0}  # (that instant)
    assert [i["id"] for i in model["incidents"]] == ["i-1", "i-2"] and model["incidents"][0]["age_s"] == 3600
    assert model["alerts"] == [{"severity": "critical", "firing": 1, "pending": 0},
                               {"severity": "warning", "firing": 2, "pending": 1}]
    assert model["feeds"] == {"healthy": 1, "total": 3, "unhealthy": [["cemaden", "failing"], ["waze", "stale"]]}


def test_the_wall_renders_for_a_viewer_with_no_links_or_forms_and_shows_the_stage(live, city, rio_settings):
    page = layout_for(sign_in(live, "viewer.user"), live, "/wall")
    for present in (ids.WALL_STAGE, ids.WALL_SIDE, ids.MAP, ids.TICK, ids.WALL_CYCLE):
        assert f'"id":"{present}"' in page.replace(" ", "")
    for absent in (ids.NAV, "/logout", '"Form"', '"Input"', '"Button"', '"Checklist"', "topbar", ids.LAYER_TOGGLE):
        assert absent not in page, absent
    t = translator(rio_settings.city.language)
    stage = t.gettext(wall_page.TEXT["stage"]).format(level=3, name=t.gettext("Attention"))
    since = t.gettext(wall_page.TEXT["since"]).format(time=local_label(STAGE_SINCE, rio_settings.tz, t))
    assert stage in page and since in page
    # the three panels are all in the page (the cycle shows one at a time)
    for name in wall_page.PANELS:
        assert f'"data-panel":"{name}"' in page.replace(" ", "")
    assert '"data-incident":"i-9"' in page.replace(" ", "")


def test_the_stage_since_is_written_in_the_citys_time(rio_settings):
    t = translator("en")
    model = wall_page.wall_model({"level": 4, "name": "Alert", "since": "2027-01-15T11:00:00Z"}, [], [], {}, 0.0)
    texts = str(wall_page.stage_children(model, rio_settings.tz, t))
    assert "Stage 4 · Alert" in texts
    assert local_label(wall_page.since_ts("2027-01-15T11:00:00Z"), rio_settings.tz, t) in texts
    assert "08:00" in texts  # Rio is UTC-03
