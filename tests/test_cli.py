"""The command line contract: clear errors, exit codes, ingest of a recorded payload."""

import socket

import orjson

from opscentre.core.settings import CITIES_DIR
from tests.cli_helpers import clean_env, opscentre


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_lists_the_contract_commands():
    out = opscentre("--help").stdout
    for command in ("up", "web", "worker", "cron", "check-config", "ingest", "state", "bench"):
        assert command in out


def test_check_config_accepts_the_builtin_cities():
    for city in ("rio", "copenhagen"):
        result = opscentre("check-config", str(CITIES_DIR / city / "demo.yaml"), env=clean_env())
        assert result.returncode == 0, result.stderr
        assert "ok" in result.stdout


def test_check_config_lists_every_problem_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("city:\n  name: X\n  timezone: Nowhere/Land\nfeeds:\n  simulator:\n    interval_s: -1\n")
    result = opscentre("check-config", str(bad), env=clean_env())
    assert result.returncode == 2
    assert f"{bad}:3: city.timezone" in result.stderr
    assert f"{bad}:6: feeds.simulator.interval_s" in result.stderr
    assert "city.zones" in result.stderr  # missing required keys are listed too
    assert "Traceback" not in result.stderr


def test_up_refuses_a_bad_config_before_starting_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: {}\n")
    result = opscentre("up", "--config", str(bad), env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path / "var")))
    assert result.returncode == 2
    assert "configuration refused" in result.stderr
    assert not (tmp_path / "var" / "redis").exists()


def test_unreachable_redis_is_one_clear_line_naming_the_url():
    url = f"redis://127.0.0.1:{closed_port()}/0"
    result = opscentre("state", "--json", env=clean_env(REDIS_URL=url), timeout=60)
    assert result.returncode == 1
    assert url in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_message(tmp_path, redis_server):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = opscentre("web", env=clean_env(REDIS_URL=redis_server.url, PORT=str(port),
                                                OPSCENTRE_DATA_DIR=str(tmp_path)))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_data_dir_is_a_clear_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = opscentre("up", env=clean_env(OPSCENTRE_DATA_DIR=str(blocker / "var"), PORT=str(closed_port())))
    assert result.returncode == 1
    assert "not writable" in result.stderr and "Traceback" not in result.stderr


def test_ingest_stores_a_recorded_payload_and_state_shows_it(tmp_path, redis_client, redis_server):
    from opscentre.core.settings import load_settings
    from opscentre.workers.feeds import FEEDS
    from opscentre.workers.jobs import feed_context
    from opscentre.core.store import Store
    import time

    settings = load_settings(CITIES_DIR / "rio" / "demo.yaml")
    payload = FEEDS["simulator"].fetch(feed_context("simulator", settings, Store(redis_client), time.time()))
    recorded = tmp_path / "simulator.json"
    recorded.write_bytes(payload)
    env = clean_env(REDIS_URL=redis_server.url)

    result = opscentre("ingest", "simulator", str(recorded), env=env)
    assert result.returncode == 0, result.stderr
    assert "items stored" in result.stdout and "0 rejected" in result.stdout
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    assert state["simulated"] is True
    kinds = {row["kind"] for row in state["observations"]}
    assert {"rain_mm", "traffic_speed_kmh", "river_level_m"} <= kinds
    gauge = next(r for r in state["observations"] if r["kind"] == "rain_mm")
    assert set(gauge) >= {"entity_id", "kind", "value", "unit", "observed_at", "zone_id", "source"}
    assert state["feeds"]["simulator"]["status"] == "ok"
    assert len([f for f in state["forecasts"] if f["kind"] == "rain_forecast_mm"]) == 166  # one per zone, 48 h
    # the rules ran on it (ordinary weather may or may not raise an alert right now)
    assert "alerts:" in result.stdout and 1 <= state["stage"]["level"] <= 4
    for alert in state["alerts"]:
        assert set(alert) >= {"id", "rule", "severity", "state", "zone_id", "entity_id", "value", "since",
                              "acknowledged_by"}


def test_ingest_of_a_payload_that_does_not_parse_exits_1_and_stores_nothing(tmp_path, redis_client, redis_server):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("<html>502 Bad Gateway</html>")
    result = opscentre("ingest", "simulator", str(garbage), env=clean_env(REDIS_URL=redis_server.url))
    assert result.returncode == 1
    assert "does not parse" in result.stderr
    assert redis_client.keys("oc:latest:*") == []


def test_real_data_is_not_labelled_simulated(redis_client, redis_server):
    from tests.conftest import FIXTURES

    env = clean_env(REDIS_URL=redis_server.url)
    result = opscentre("ingest", "alerta_rio", str(FIXTURES / "alerta_rio" / "chuvas_documented_shape.json"),
                       "--as-of", "2026-02-11T10:20:00-03:00", env=env)
    assert result.returncode == 0, result.stderr
    assert "3 rejected" in result.stdout  # the fixture's three no-data readings, with reasons
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    assert state["simulated"] is False
    assert state["feeds"]["alerta_rio"]["simulated"] is False
    assert any(o["source"] == "alerta_rio" and o["kind"] == "rain_mm" for o in state["observations"])


def test_ingest_of_an_old_payload_says_why_nothing_was_stored_and_how_to_replay_it(redis_client, redis_server):
    from tests.conftest import FIXTURES

    env = clean_env(REDIS_URL=redis_server.url)
    result = opscentre("ingest", "alerta_rio", str(FIXTURES / "alerta_rio" / "chuvas_documented_shape.json"), env=env)
    assert result.returncode == 0, result.stderr
    assert "0 items stored" in result.stdout and "older than the 48 h retention window" in result.stdout
    assert redis_client.hlen("oc:latest:rain_mm") == 0


def test_ingest_refuses_an_as_of_that_is_not_a_time(redis_server):
    result = opscentre("ingest", "alerta_rio", "x.json", "--as-of", "yesterday",
                       env=clean_env(REDIS_URL=redis_server.url))
    assert result.returncode == 2
    assert "not an ISO 8601 time" in result.stderr
