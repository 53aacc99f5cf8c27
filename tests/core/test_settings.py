from pathlib import Path

import pytest

from opscentre.core.errors import ConfigError
from opscentre.core.settings import CITIES_DIR, load_settings

RIO = CITIES_DIR / "rio" / "demo.yaml"
COPENHAGEN = CITIES_DIR / "copenhagen" / "demo.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "city.yaml"
    path.write_text(text)
    (tmp_path / "zones.geojson").write_bytes((CITIES_DIR / "rio" / "bairros.geojson").read_bytes())
    return path


def test_builtin_rio_demo_has_166_bairros_and_sao_paulo_time():
    settings = load_settings(RIO)
    assert len(settings.zones.ids) == 166
    assert settings.city.timezone == "America/Sao_Paulo"
    assert settings.simulated is True


def test_copenhagen_config_loads_the_same_way():
    settings = load_settings(COPENHAGEN)
    assert len(settings.zones.ids) == 11
    assert "Frederiksberg" in settings.zones.names


def test_every_problem_is_reported_with_file_line_and_reason(tmp_path):
    path = write(tmp_path, """\
city:
  name: Testville
  timezone: Mars/Olympus
  zones: zones.geojson
  zone_id_property: codbairro
  zone_name_property: nome
retention_hours: -3
feeds:
  simulator:
    interval_s: 0
  no_such_feed:
    enabled: true
""")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    problems = caught.value.problems
    text = "\n".join(problems)
    assert f"{path}:3: city.timezone" in text and "Mars/Olympus" in text
    assert f"{path}:7: retention_hours" in text
    assert f"{path}:10: feeds.simulator.interval_s" in text
    assert len(problems) == 3  # cross-checks (unknown feed) come after the schema passes


def test_unknown_feed_and_missing_zones_file_are_refused_with_lines(tmp_path):
    path = write(tmp_path, """\
city:
  name: Testville
  timezone: America/Sao_Paulo
  zones: missing.geojson
  zone_id_property: codbairro
  zone_name_property: nome
feeds:
  simulator: {}
  no_such_feed:
    enabled: true
""")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    text = "\n".join(caught.value.problems)
    assert f"{path}:4: city.zones: no such file" in text
    assert f"{path}:9: feeds.no_such_feed: unknown feed" in text


def test_unknown_key_is_refused_not_ignored(tmp_path):
    path = write(tmp_path, """\
city:
  name: Testville
  timezone: America/Sao_Paulo
  zones: zones.geojson
  zone_id_property: codbairro
  zone_name_property: nome
  colour: blue
feeds:
  simulator: {}
""")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert any(p.startswith(f"{path}:7: city.colour") for p in caught.value.problems)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("city:\n  name: [unclosed\nfeeds: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems[0].startswith(f"{path}:")
    assert "not valid YAML" in caught.value.problems[0]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "nope.yaml")
