"""Replay on the console's map over real HTTP (a real Redis): the slider two hours back redraws the
map, the status bar and the alerts as they were then (from the stored history: the stage history
and the history streams, written here with past ids as the store wrote them then), the live tick
leaves a replaying map alone, and "Back to live" hands the map back to the tick."""

from __future__ import annotations

import json
import time

import orjson
import pytest
import requests
from city_seed import write_city

from opscentre.core import keys, operators
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.components.replay_panel import moment

PASSWORD = "a long test password"


def sign_in(live, username: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}/login", data={"username": username, "password": PASSWORD}, timeout=10,
                            allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


def post(session, live, wanted_output: str, values: dict, changed: str) -> requests.Response:
    """A callback as the browser posts it: the one whose outputs include `wanted_output`."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=10).json()
    (dep,) = [d for d in dependencies if wanted_output in d["output"] and
              any(i["id"] == changed.split(".")[0] for i in d["inputs"])]
    body = {
        "output": dep["output"],
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
                    for o in dep["output"].strip(".").split("...")],
        "inputs": [{**i, "value": values.get((i["id"], i["property"]))} for i in dep["inputs"]],
        "state": [{**s, "value": values.get((s["id"], s["property"]))} for s in dep["state"]],
        "changedPropIds": [changed],
    }
    return session.post(f"{live.url}/_dash-update-component", json=body, timeout=30)


@pytest.fixture
def history(store, rio_settings):
    """Three hours ago the stage went to 3 and a gauge read 40 mm; an hour ago back to 1 and 0 mm."""
    write_city(store, rio_settings, rain_mm=0.0)  # the live city (now)
    redis = store.redis
    now_ms = int(time.time() * 1000)
    gauge = next(e for e, raw in redis.hgetall(keys.ENTITIES).items()
                 if orjson.loads(raw)["entity_type"] == "rain_gauge").decode()
    three, one = now_ms - 3 * 3600_000, now_ms - 3600_000
    redis.delete(keys.STAGE_HISTORY, keys.history("rain_mm"))
    for at, level, name in ((three, 3, "mobilização"), (one, 1, "normalidade")):
        redis.xadd(keys.STAGE_HISTORY, {"d": orjson.dumps({"level": level, "name": name, "since": at / 1000})},
                   id=f"{at}-0")
    for at, value in ((three, 40.0), (one, 0.0)):
        redis.xadd(keys.history("rain_mm"), {"s": "simulator", "d": orjson.dumps(
            {"e": [gauge], "v": [value], "t": [at / 1000]})}, id=f"{at}-0")
    operators.add(redis, "viewer.user", PASSWORD, Role.VIEWER)
    return gauge


def test_two_hours_back_the_map_the_stage_and_the_label_are_as_they_were_then(live, history):
    session = sign_in(live, "viewer.user")  # (replay only reads: every role may)
    shown = post(session, live, f"{ids.REPLAY_LABEL}.children",
                 {(ids.REPLAY_SLIDER, "value"): -120, (ids.MAP_STATE, "data"): {}}, f"{ids.REPLAY_SLIDER}.value")
    assert shown.status_code == 200, shown.text
    answer = shown.json()["response"]
    assert "Reproduzindo" in answer[ids.REPLAY_LABEL]["children"] or "Replaying" in answer[ids.REPLAY_LABEL]["children"]
    status = json.dumps(answer[ids.STATUS_BAR]["children"], ensure_ascii=False)
    assert "Estágio 3" in status  # the stage then (the city's language: Rio's console is in Portuguese)
    held = answer[ids.MAP_STATE]["data"]
    assert held["replay"] and abs(held["replay"] - (time.time() - 7200)) < 60
    assert "40" in json.dumps(answer[ids.MAP]["figure"])  # the gauge's 40 mm then

    # the live tick leaves a replaying map alone
    tick = post(session, live, f"{ids.MAP_STATE}.data", {(ids.TICK, "n_intervals"): 5, (ids.MAP_STATE, "data"): held,
                                                         (ids.TICK, "interval"): 2000}, f"{ids.TICK}.n_intervals")
    assert tick.status_code == 204 or ids.MAP not in tick.json()["response"]

    # back to live: the held state is emptied, so the next tick sends the live map whole
    back = post(session, live, f"{ids.REPLAY_LABEL}.children",
                {(ids.REPLAY_SLIDER, "value"): -120, (ids.MAP_STATE, "data"): held, (ids.REPLAY_LIVE, "n_clicks"): 1},
                f"{ids.REPLAY_LIVE}.n_clicks")
    answer = back.json()["response"]
    assert answer[ids.MAP_STATE]["data"] == {} and answer[ids.REPLAY_SLIDER]["value"] == 0
    tick = post(session, live, f"{ids.MAP_STATE}.data", {(ids.TICK, "n_intervals"): 6, (ids.MAP_STATE, "data"): {},
                                                         (ids.TICK, "interval"): 2000}, f"{ids.TICK}.n_intervals")
    assert ids.MAP in tick.json()["response"] and tick.json()["response"][ids.MAP_STATE]["data"]["version"]


def test_the_slider_names_a_moment_of_the_last_day_or_live():
    now = 1_800_000_000.0
    assert moment(-120, now) == now - 7200
    assert moment(0, now) is None and moment(None, now) is None and moment("<script>", now) is None
    assert moment(-10_000, now) is None  # beyond the window: live, not an error
