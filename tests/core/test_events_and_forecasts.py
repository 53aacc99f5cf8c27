"""Events (warnings, jams, outages...) and forecast series: validation, zones, and how the
store keeps a snapshot source's current set or a message source's updates and cancels."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from opscentre.core.models import Event, ForecastSeries, ParseResult
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.core.validate import validate

NOW = float(int(time.time()))
RIO = Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio" / "demo.yaml"


def event(event_id, source="src", observed_at=NOW - 60, **fields):
    return Event(event_id=event_id, source=source, category=fields.pop("category", "warning"),
                 event_type=fields.pop("event_type", "Flood Warning"), observed_at=observed_at, **fields)


def write(store, source, events, snapshot, now=NOW):
    store.write_poll(source, [], [], {"status": "ok"}, {"polls": 1}, retention_s=48 * 3600, wall_now=now,
                     events=events, events_snapshot=snapshot, now=now)


def ids(store, category=None, now=NOW):
    return [e["event_id"] for e in store.events(category, now=now)]


# ---- validation ------------------------------------------------------------------------


def test_an_event_stamped_in_the_future_or_already_over_is_rejected_with_the_reason():
    result = validate(ParseResult(events=[event("a", observed_at=NOW + 7200), event("b", ends_at=NOW - 1),
                                          event("c", ends_at=NOW + 3600)]), now=NOW)
    assert [e.event_id for e in result.events] == ["c"]
    assert sorted(r.reason for r in result.rejected) == ["already over (ends_at is in the past)",
                                                          "observed_at is in the future"]


def test_a_repeated_event_id_keeps_the_newest_copy_and_counts_the_other():
    result = validate(ParseResult(events=[event("a", observed_at=NOW - 10, title="new"),
                                          event("a", observed_at=NOW - 100, title="old")]), now=NOW)
    assert [e.title for e in result.events] == ["new"]
    assert [r.reason for r in result.rejected] == ["duplicate event id in the same payload (older copy dropped)"]


def test_a_cancel_for_an_event_already_over_is_still_let_through():
    result = validate(ParseResult(events=[event("c2", cancelled=True, references=["c1"], ends_at=NOW - 5)]), now=NOW)
    assert [e.event_id for e in result.events] == ["c2"]


def test_forecast_steps_that_are_implausible_are_dropped_one_by_one():
    series = ForecastSeries(source="s", entity_id="z", kind="rain_forecast_mm", issued_at=NOW,
                            times=[NOW + 3600 * i for i in range(4)], values=[1.0, -3.0, math.nan, 2.5])
    result = validate(ParseResult(forecasts=[series]), now=NOW)
    assert result.forecasts[0].values == [1.0, 2.5]
    assert len(result.rejected) == 2


def test_readings_older_than_the_retention_window_are_rejected_only_when_asked():
    from opscentre.core.models import ObservationBatch

    batch = ObservationBatch(source="s", kind="rain_mm", entity_ids=["a", "b"], values=[1, 2],
                             observed_at=[NOW - 60, NOW - 72 * 3600])
    assert validate(ParseResult(batches=[batch]), now=NOW).observation_count == 2
    strict = validate(ParseResult(batches=[batch]), now=NOW, max_age_s=48 * 3600)
    assert strict.observation_count == 1
    assert strict.rejected[0].reason == "observed_at is older than the 48 h retention window"


# ---- zones ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rio():
    return load_settings(RIO)


def test_a_shape_touches_every_zone_it_crosses_and_a_point_only_its_own(rio):
    zones = rio.zones
    point = zones.representative_points[zones.ids.index("024")]
    line = {"type": "LineString", "coordinates": [[-43.35, -22.90], [-43.20, -22.95]]}
    far = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    touched = zones.zones_touched([{"type": "Point", "coordinates": list(point)}, line, None, far,
                                   {"type": "Polygon", "coordinates": "junk"}])
    assert touched[0] == ["024"]
    assert len(touched[1]) > 3
    assert touched[2] == [] and touched[3] == [] and touched[4] == []


# ---- store ------------------------------------------------------------------------------


def test_a_snapshot_source_replaces_its_events_and_others_are_untouched(redis_client):
    store = Store(redis_client)
    write(store, "waze", [event("j1", "waze", category="traffic"), event("j2", "waze", category="traffic")], True)
    write(store, "cap", [event("w1", "cap")], False)
    write(store, "waze", [event("j2", "waze", category="traffic"), event("j3", "waze", category="traffic")], True)
    assert ids(store, "traffic") == ["j2", "j3"]
    assert ids(store, "warning") == ["w1"]
    write(store, "waze", [], True)  # an empty snapshot: every jam has cleared
    assert ids(store, "traffic") == []
    assert ids(store) == ["w1"]


def test_a_message_source_updates_cancels_and_expires_its_events(redis_client):
    store = Store(redis_client)
    write(store, "cap", [event("a1", "cap", ends_at=NOW + 3600), event("b1", "cap", ends_at=NOW + 60)], False)
    write(store, "cap", [event("a2", "cap", references=["a1"], title="updated", ends_at=NOW + 7200)], False)
    assert ids(store) == ["a2", "b1"]
    assert ids(store, now=NOW + 120) == ["a2"]  # b1 is over: left out when read...
    write(store, "cap", [event("c1", "cap", ends_at=NOW + 9000)], False, now=NOW + 120)
    assert "b1" not in {k.decode() for k in redis_client.hkeys("oc:events:cap")}  # ...and pruned on write
    write(store, "cap", [event("a3", "cap", cancelled=True, references=["a2"])], False, now=NOW + 130)
    assert ids(store, now=NOW + 130) == ["c1"]
    assert "a3" not in {k.decode() for k in redis_client.hkeys("oc:events:cap")}  # a cancel is not stored


def test_forecasts_are_stored_per_kind_and_entity_replacing_the_previous_run(redis_client):
    store = Store(redis_client)
    first = ForecastSeries(source="om", entity_id="om:024", kind="rain_forecast_mm", issued_at=NOW,
                           times=[NOW, NOW + 3600], values=[0.0, 4.2])
    second = first.model_copy(update={"issued_at": NOW + 3600, "times": [NOW + 3600], "values": [5.0]})
    store.write_poll("om", [], [], {}, {}, retention_s=3600, wall_now=NOW, forecasts=[first])
    store.write_poll("om", [], [], {}, {}, retention_s=3600, wall_now=NOW, forecasts=[second])
    assert store.forecasts("rain_forecast_mm") == {"om:024": {"s": "om", "i": NOW + 3600, "t": [NOW + 3600],
                                                              "v": [5.0]}}
