"""Rules and stage criteria in the YAML config: a bad rule is refused at start with the file,
the line and the reason, and Rio's built-in rules load."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscentre.core.errors import ConfigError
from opscentre.core.settings import load_settings

CITIES = Path(__file__).resolve().parents[3] / "opscentre" / "cities"
HEAD = f"""city:
  name: Test
  timezone: America/Sao_Paulo
  zones: {CITIES / 'rio' / 'bairros.geojson'}
  zone_id_property: codbairro
  zone_name_property: nome
retention_hours: 48
feeds:
  simulator: {{}}
"""


def load(tmp_path, text: str, rules_file: str | None = None):
    if rules_file is not None:
        (tmp_path / "rules.yaml").write_text(rules_file)
    path = tmp_path / "city.yaml"
    path.write_text(HEAD + text)
    return load_settings(path)


def problems(tmp_path, text: str, rules_file: str | None = None) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, text, rules_file)
    return refused.value.problems


def test_rios_built_in_rules_and_stage_criteria_load():
    settings = load_settings(CITIES / "rio" / "demo.yaml")
    ids = {r.id for r in settings.rules}
    assert {"rain_15min", "rain_1h", "siren_criterion", "landslide_risk", "river_level", "heat", "heat_persistent",
            "air_quality",
            "traffic_jams", "feed_stale", "rain_forecast_48h", "rain_forecast_3h", "wind", "rain_stage"} <= ids
    assert [level.level for level in settings.stage.levels] == [2, 3, 4]
    assert load_settings(CITIES / "rio" / "live.yaml").rules == settings.rules


@pytest.mark.parametrize("rule,line,reason", [
    ("  - id: r\n    kind: rain_furlongs\n    levels: {warning: 1}\n", 12, "unknown kind 'rain_furlongs'"),
    ("  - id: r\n    kind: rain_mm\n    levels: {warning: 5, critical: 2}\n", 11, "levels out of order"),
    ("  - id: r\n    kind: rain_mm\n    window: 96h\n    aggregation: sum\n    levels: {warning: 5}\n", 11,
     "window 4d is longer than the retained history"),
    ("  - id: r\n    kind: rain_mm\n    levels: {warning: 5}\n    clear: {warning: 7}\n", 11, "could never clear"),
    ("  - id: r\n    kind: rain_mm\n    levels: {warning: 5}\n    for: soon\n", 14, "'soon' is not a duration"),
    ("  - id: r\n    kind: rain_mm\n    levels: {warning: 5}\n    summary: '{nope}'\n", 14, "unknown field 'nope'"),
    ("  - id: r\n    kind: rain_mm\n    levels: {sever: 5}\n", 13, "levels.sever"),
    ("  - id: r\n    kind: rain_mm\n    aggregation: sum\n    levels: {warning: 5}\n", 11, "needs a window"),
    ("  - id: r\n    feeds: [no_such_feed]\n", 11, "unknown feed 'no_such_feed'"),
])
def test_a_bad_rule_is_refused_with_file_line_and_reason(tmp_path, rule, line, reason):
    (problem, *_) = problems(tmp_path, "rules:\n" + rule)
    assert problem.startswith(f"{tmp_path / 'city.yaml'}:{line}:"), problem
    assert reason in problem


def test_two_rules_with_one_id_and_a_stage_naming_no_rule_are_both_reported(tmp_path):
    found = problems(tmp_path, "rules:\n  - {id: r, kind: rain_mm, levels: {warning: 1}}\n"
                               "  - {id: r, kind: rain_mm, levels: {warning: 2}}\n"
                               "stage:\n  levels:\n    - level: 2\n      any_of: [{rule: nothing}]\n")
    assert any(":12:" in p and "used twice" in p for p in found)
    assert any(":16:" in p and "no rule 'nothing'" in p for p in found)


def test_stage_5_cannot_be_derived_from_rules(tmp_path):
    (problem,) = problems(tmp_path, "rules:\n  - {id: r, kind: rain_mm, levels: {warning: 1}}\n"
                                    "stage:\n  levels:\n    - level: 5\n      any_of: [{rule: r}]\n")
    assert ":14:" in problem and "stage.levels.0.level" in problem


def test_a_rules_file_reports_problems_with_its_own_name_and_lines(tmp_path):
    (problem,) = problems(tmp_path, "rules_file: rules.yaml\n",
                          rules_file="rules:\n  - id: ok\n    kind: rain_mm\n    levels: {warning: 1}\n"
                                     "  - id: bad\n    kind: rain_mm\n    levels: {warning: 3, critical: 1}\n")
    assert problem.startswith(f"{tmp_path / 'rules.yaml'}:5:") and "levels out of order" in problem


def test_a_missing_rules_file_or_rules_in_both_places_are_refused(tmp_path):
    (problem,) = problems(tmp_path, "rules_file: nowhere.yaml\n")
    assert "nowhere.yaml: cannot read rules file" in problem
    (problem,) = problems(tmp_path, "rules_file: rules.yaml\nrules: []\n", rules_file="rules: []\n")
    assert "not both" in problem
