"""The simulated city: deterministic, stateless, and realistic enough to drive alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
import shapely
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from opscentre.core.models import KINDS
from opscentre.core.settings import feed_options, load_settings
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.simulator import FEED, SimulatorOptions
from opscentre.workers.feeds.simulator.parse import decode_payload

CITIES = Path(__file__).resolve().parents[3] / "opscentre" / "cities"
RIO_GAUGES = "alerta_rio_gauges.json"
STORM_START = datetime(2010, 4, 5, 12, 0, tzinfo=UTC)  # a Monday
QUARTER = timedelta(minutes=15)
# Alerta Rio classes, mm in 15 min: weak < 1.25 <= moderate < 6.25 <= heavy < 12.5 <= very heavy
MODERATE_MM, HEAVY_MM, VERY_HEAVY_MM = 1.25, 6.25, 12.5


@pytest.fixture(scope="module")
def rio():
    return load_settings(CITIES / "rio" / "demo.yaml")


@pytest.fixture(scope="module")
def copenhagen():
    return load_settings(CITIES / "copenhagen" / "demo.yaml")


def fetch(settings, when: datetime, **options) -> bytes:
    opts = SimulatorOptions(**{"seed": 2010, "gauges": RIO_GAUGES, **options})
    return FEED.fetch(FeedContext("simulator", opts, settings, when))


def poll(settings, when: datetime, **options) -> dict:
    """The payload, with `readings[kind]` = {entity_id: value} added for convenience."""
    payload = decode_payload(fetch(settings, when, **options))
    payload["readings"] = {s["kind"]: dict(zip(s["entity_ids"], s["values"])) for s in payload["series"]}
    return payload


def gauge_history(settings, start: datetime, quarters: int, **options) -> dict[str, np.ndarray]:
    """Every gauge series sampled every 15 min: kind -> (time, gauge) array."""
    polls = [poll(settings, start + k * QUARTER, **options)["readings"] for k in range(quarters)]
    kinds = ("rain_mm", "rain_1h_mm", "rain_24h_mm", "rain_96h_mm")
    return {kind: np.array([list(p[kind].values()) for p in polls]) for kind in kinds}


def storm_options() -> dict:
    return {"scenario": "storm-2010-04", "scenario_start": STORM_START.timestamp(), "road_segments": 50}


# ---- the record and determinism -------------------------------------------------------------


def test_feed_is_registered_as_a_simulated_feed_that_follows_the_sim_clock():
    assert FEEDS["simulator"] is FEED
    assert FEED.simulated and FEED.follows_sim_clock
    assert FEED.default_interval_s == 60
    assert FEED.options_model is SimulatorOptions


def test_same_seed_and_time_give_a_byte_identical_payload(rio):
    when = datetime(2024, 2, 6, 19, 0, tzinfo=UTC)
    assert fetch(rio, when) == fetch(rio, when)
    assert fetch(rio, when, **storm_options()) == fetch(rio, when, **storm_options())


def test_payload_reports_every_reading_at_the_poll_time(rio):
    when = datetime(2024, 2, 6, 19, 0, tzinfo=UTC)
    payload = poll(rio, when)
    assert payload["simulated"] is True and payload["seed"] == 2010
    assert payload["generated_for"] == when.timestamp()
    for series in payload["series"]:
        assert set(series["observed_at"]) == {when.timestamp()}


def test_different_seeds_give_different_rain(rio):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    week = [start + timedelta(hours=6 * k) for k in range(28)]
    rain = {
        seed: [poll(rio, t, seed=seed, road_segments=50)["readings"]["rain_24h_mm"] for t in week] for seed in (1, 2)
    }
    assert rain[1] != rain[2]
    assert any(any(v > 0 for v in day.values()) for day in rain[1])


def test_entity_ids_are_stable_across_polls(rio):
    first = poll(rio, datetime(2024, 3, 1, 8, 0, tzinfo=UTC))
    later = poll(rio, datetime(2024, 3, 9, 17, 45, tzinfo=UTC), seed=99)
    assert [e["entity_id"] for e in first["entities"]] == [e["entity_id"] for e in later["entities"]]


# ---- weather ----------------------------------------------------------------------------------


def test_storm_2010_04_exceeds_200_mm_in_24_h_with_very_heavy_15_min_rain(rio):
    history = gauge_history(rio, STORM_START, 4 * 30, **storm_options())
    worst_24h = history["rain_24h_mm"].max()
    assert 200 < worst_24h < 500
    assert history["rain_mm"].max() > VERY_HEAVY_MM
    hours_above_40 = (history["rain_1h_mm"] > 40).sum(axis=0) / 4  # per gauge, in hours
    assert hours_above_40.max() >= 2
    assert (history["rain_24h_mm"].max(axis=0) > 200).sum() >= 3  # several gauges, not one freak
    # It ramps up: the first two hours are much weaker than the height of the storm.
    assert history["rain_1h_mm"][:8].max() < 0.25 * history["rain_1h_mm"].max()


def test_storm_ends_leaving_only_the_ordinary_weather(rio):
    when = STORM_START + timedelta(hours=32)
    after = poll(rio, when, **storm_options())["readings"]
    ordinary = poll(rio, when, road_segments=50)["readings"]
    assert after["rain_1h_mm"] == ordinary["rain_1h_mm"]
    assert after["rain_24h_mm"] != ordinary["rain_24h_mm"]  # still in the 24-h total


def test_without_scenario_start_the_storm_starts_at_midnight_utc_of_the_simulated_day(rio):
    when = datetime(2024, 5, 20, 15, 0, tzinfo=UTC)
    implicit = poll(rio, when, scenario="storm-2010-04", road_segments=50)
    assert implicit["scenario_start"] == datetime(2024, 5, 20, tzinfo=UTC).timestamp()
    explicit = fetch(rio, when, scenario="storm-2010-04", scenario_start=implicit["scenario_start"], road_segments=50)
    assert decode_payload(explicit)["series"] == implicit["series"]


def test_ordinary_weeks_are_mostly_dry_and_span_several_alerta_rio_classes(rio):
    history = gauge_history(rio, datetime(2024, 1, 8, tzinfo=UTC), 4 * 24 * 14, road_segments=10)
    rain = history["rain_mm"]
    for week in (rain[: 4 * 24 * 7], rain[4 * 24 * 7 :]):
        assert (week < 0.2).mean() > 0.85  # mostly dry
        assert (week >= MODERATE_MM).any()  # but it does rain
    classes = {
        "weak": ((rain > 0) & (rain < MODERATE_MM)).any(),
        "moderate": ((rain >= MODERATE_MM) & (rain < HEAVY_MM)).any(),
        "heavy": ((rain >= HEAVY_MM) & (rain < VERY_HEAVY_MM)).any(),
        "very heavy": (rain >= VERY_HEAVY_MM).any(),
    }
    assert sum(classes.values()) >= 3, classes
    assert history["rain_24h_mm"].max() < 200  # no storm without a scenario


def test_rolling_accumulations_add_up_from_the_15_min_values(rio):
    history = gauge_history(rio, STORM_START + timedelta(hours=6), 4 * 25, **storm_options())
    rain = history["rain_mm"]
    four = rain[3:] + rain[2:-1] + rain[1:-2] + rain[:-3]
    np.testing.assert_allclose(history["rain_1h_mm"][3:], four, atol=0.05)
    np.testing.assert_allclose(history["rain_24h_mm"][-1], rain[-96:].sum(axis=0), atol=0.5)
    assert (history["rain_96h_mm"] >= history["rain_24h_mm"] - 0.01).all()
    assert (history["rain_24h_mm"] >= history["rain_1h_mm"] - 0.01).all()
    assert (history["rain_1h_mm"] >= history["rain_mm"] - 0.01).all()


def test_temperature_follows_the_day_and_the_latitude(rio, copenhagen):
    day = datetime(2024, 1, 16, tzinfo=UTC)
    def mean_temp(settings, hour_utc, **options):
        readings = poll(settings, day + timedelta(hours=hour_utc), road_segments=50, **options)["readings"]
        return np.mean(list(readings["air_temp_c"].values()))
    rio_afternoon, rio_night = mean_temp(rio, 18), mean_temp(rio, 8)  # 15:00 and 05:00 in Rio
    assert 26 < rio_afternoon < 35 and 18 < rio_night < 27 and rio_afternoon > rio_night + 3
    cph_afternoon = mean_temp(copenhagen, 13, gauges=None, seed=7)  # 14:00 in Copenhagen
    assert -10 < cph_afternoon < 10


def test_wind_is_stronger_under_the_storm(rio):
    when = STORM_START + timedelta(hours=14)
    calm = poll(rio, when, road_segments=50)["readings"]["wind_speed_ms"]
    storm = poll(rio, when, **storm_options())["readings"]["wind_speed_ms"]
    assert max(storm.values()) > max(calm.values()) + 5


# ---- traffic ----------------------------------------------------------------------------------


def test_rio_has_about_2000_road_segments_all_inside_the_city(rio):
    payload = poll(rio, datetime(2024, 3, 4, 11, 0, tzinfo=UTC), road_segments=2000)
    roads = [e for e in payload["entities"] if e["entity_type"] == "road_segment"]
    assert 1900 <= len(roads) <= 2000
    lines = shapely.from_geojson([orjson.dumps(e["geometry"]) for e in roads])
    assert set(shapely.get_type_id(lines)) == {shapely.GeometryType.LINESTRING}
    assert shapely.within(lines, rio.zones.union.buffer(0.001)).all()
    assert all(30 <= e["properties"]["free_flow_kmh"] <= 90 for e in roads)
    assert len({e["entity_id"] for e in roads}) == len(roads)
    assert all(e["name"].startswith("Seg ") for e in roads)


def test_jam_levels_are_integers_from_0_to_5_and_rush_hour_is_slower(rio):
    rush = poll(rio, datetime(2024, 3, 4, 11, 30, tzinfo=UTC))["readings"]  # Monday 08:30 in Rio
    night = poll(rio, datetime(2024, 3, 4, 6, 0, tzinfo=UTC))["readings"]  # Monday 03:00
    for readings in (rush, night):
        jams = list(readings["jam_level"].values())
        assert all(isinstance(j, int) and 0 <= j <= 5 for j in jams)
    assert np.mean(list(rush["traffic_speed_kmh"].values())) < 0.85 * np.mean(list(night["traffic_speed_kmh"].values()))
    assert np.mean(list(rush["jam_level"].values())) > np.mean(list(night["jam_level"].values())) + 0.5


def test_heavy_rain_slows_traffic(rio):
    when = STORM_START + timedelta(hours=13)  # Monday 10:00 in Rio, the storm at its height
    dry = poll(rio, when, road_segments=2000)["readings"]
    wet = poll(rio, when, **{**storm_options(), "road_segments": 2000})["readings"]
    assert np.mean(list(wet["traffic_speed_kmh"].values())) < 0.9 * np.mean(list(dry["traffic_speed_kmh"].values()))
    assert np.mean(list(wet["jam_level"].values())) > np.mean(list(dry["jam_level"].values()))


# ---- utilities --------------------------------------------------------------------------------


def test_river_stations_carry_thresholds_and_rise_after_heavy_rain_then_fall_back(rio):
    before = poll(rio, STORM_START, **storm_options())
    stations = {e["entity_id"]: e for e in before["entities"] if e["entity_type"] == "river_station"}
    assert 8 <= len(stations) <= 12
    assert any(e["name"].startswith("Rio Maracanã") for e in stations.values())
    for e in stations.values():
        p = e["properties"]
        assert 0 < p["attention_m"] < p["alert_m"] < p["overflow_m"]
    peak = poll(rio, STORM_START + timedelta(hours=16), **storm_options())["readings"]["river_level_m"]
    later = poll(rio, STORM_START + timedelta(hours=60), **storm_options())["readings"]["river_level_m"]
    calm = before["readings"]["river_level_m"]
    risen = [i for i in stations if peak[i] > calm[i] + 1.0]
    assert len(risen) >= 3
    assert any(peak[i] >= stations[i]["properties"]["alert_m"] for i in stations)
    assert all(calm[i] < stations[i]["properties"]["attention_m"] for i in stations)
    assert all(later[i] < stations[i]["properties"]["attention_m"] for i in stations)


def test_power_outages_are_per_zone_and_grow_under_the_storm(rio):
    times = [STORM_START + timedelta(hours=h) for h in range(8, 20)]
    def total_out(**options):
        return sum(sum(poll(rio, t, **options)["readings"]["outage_customers"].values()) for t in times)
    payload = poll(rio, times[0], road_segments=50)
    areas = [e for e in payload["entities"] if e["entity_id"].startswith("outage-area:")]
    assert len(areas) == len(rio.zones.ids)
    assert all(e["entity_id"] == f"outage-area:{e['zone_id']}" for e in areas)
    assert total_out(**storm_options()) > 3 * max(total_out(road_segments=50), 1)


def test_the_forecast_sees_the_storm_coming_hours_before_the_gauges_do(rio):
    before = poll(rio, STORM_START + timedelta(hours=6), road_segments=50, **{k: v for k, v in storm_options().items()
                                                                               if k != "road_segments"})
    (forecast,) = before["forecasts"]
    assert forecast["kind"] == "rain_forecast_mm" and len(forecast["times"]) == 48
    assert forecast["times"][0] == forecast["issued_at"] <= (STORM_START + timedelta(hours=6)).timestamp()
    worst_hour = max(max(row) for row in forecast["values"])
    assert worst_hour > 40  # mm in an hour, forecast while the gauges still read little
    assert max(before["readings"]["rain_1h_mm"].values()) < 15
    # in ordinary weather it is 48 hours of small or zero values for every zone
    calm = poll(rio, datetime(2026, 1, 14, 9, tzinfo=UTC), road_segments=50)
    assert all(len(row) == 48 and min(row) >= 0 for row in calm["forecasts"][0]["values"])


# ---- other cities -----------------------------------------------------------------------------


def test_copenhagen_works_as_configured_with_one_simulated_gauge_per_bydel(copenhagen):
    options = feed_options(copenhagen, "simulator")
    assert options.gauges is None
    raw = FEED.fetch(FeedContext("simulator", options, copenhagen, datetime(2024, 7, 1, 12, 0, tzinfo=UTC)))
    payload = decode_payload(raw)
    readings = {s["kind"]: dict(zip(s["entity_ids"], s["values"])) for s in payload["series"]}
    gauges = [e for e in payload["entities"] if e["entity_type"] == "rain_gauge"]
    assert sorted(e["entity_id"] for e in gauges) == sorted(f"gauge-{z}" for z in copenhagen.zones.ids)
    assert all(e["zone_id"] == e["entity_id"].removeprefix("gauge-") for e in gauges)
    roads = [e for e in payload["entities"] if e["entity_type"] == "road_segment"]
    assert 550 <= len(roads) <= 600
    rivers = [e for e in payload["entities"] if e["entity_type"] == "river_station"]
    assert 8 <= len(rivers) <= 12 and all(e["name"].startswith("Channel gauge") for e in rivers)
    assert set(readings["rain_mm"]) == {e["entity_id"] for e in gauges}
    result = FEED.parse(raw, None)
    assert result.rejected == [] and result.observation_count == sum(len(s["values"]) for s in payload["series"])


def test_copenhagen_can_play_the_storm_too(copenhagen):
    start = STORM_START
    options = {"seed": 7, "gauges": None, "road_segments": 50, "scenario": "storm-2010-04"}
    options["scenario_start"] = start.timestamp()
    readings = poll(copenhagen, start + timedelta(hours=20), **options)["readings"]
    assert max(readings["rain_24h_mm"].values()) > 100


# ---- a property over seeds and times ----------------------------------------------------------


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(min_value=0, max_value=2**31 - 1),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)),
    scenario=st.sampled_from([None, "storm-2010-04"]),
    storm_began_hours_ago=st.floats(min_value=-5, max_value=120),
)
def test_any_seed_and_time_give_valid_deterministic_readings(rio, seed, when, scenario, storm_began_hours_ago):
    options = {"seed": seed, "road_segments": 100, "scenario": scenario}
    if scenario:
        options["scenario_start"] = when.timestamp() - storm_began_hours_ago * 3600
    raw = fetch(rio, when, **options)
    assert raw == fetch(rio, when, **options)
    payload = decode_payload(raw)
    for series in payload["series"]:
        spec = KINDS[series["kind"]]
        values = series["values"]
        assert len(values) == len(series["entity_ids"]) == len(series["observed_at"])
        assert all(spec.minimum <= v <= spec.maximum for v in values), series["kind"]
        if series["kind"] in ("jam_level", "outage_customers"):
            assert all(isinstance(v, int) for v in values)
    result = FEED.parse(raw, None)
    assert result.rejected == []
    assert result.observation_count == sum(len(s["values"]) for s in payload["series"])
