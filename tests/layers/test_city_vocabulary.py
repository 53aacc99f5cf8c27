"""Legends speak the city's own vocabulary (its config), not Rio's: Copenhagen's air-quality legend
names the European AQI and its categories; Rio's is what it always was."""

from __future__ import annotations

import json

import pytest
from plotly.utils import PlotlyJSONEncoder

from opscentre.core.errors import ConfigError
from opscentre.core.settings import CITIES_DIR, load_settings
from opscentre.dashboard.components.legend import legend
from opscentre.i18n import translator
from opscentre.layers import LAYERS


def text(component) -> str:
    return json.dumps(component, cls=PlotlyJSONEncoder, ensure_ascii=False)


@pytest.fixture(scope="module")
def copenhagen():
    return load_settings(CITIES_DIR / "copenhagen" / "demo.yaml")


@pytest.fixture(scope="module")
def rio():
    return load_settings(CITIES_DIR / "rio" / "demo.yaml")


def test_copenhagens_legend_names_its_own_air_quality_index(copenhagen):
    assert copenhagen.city.air_quality_scale == "eu"
    shown = text(legend(list(LAYERS), translator("en"), copenhagen))
    assert "Air quality — European AQI (2024) category" in shown and "IQA Rio" not in shown
    assert "Fair" in shown and "Extremely Poor" in shown and "Inadequate" not in shown
    assert "IQA Rio" not in text(legend(list(LAYERS), translator("da"), copenhagen))


def test_rios_legend_is_unchanged(rio):
    assert rio.city.air_quality_scale == "rio"
    for lang in ("en", "pt-BR"):
        assert text(legend(list(LAYERS), translator(lang), rio)) == text(legend(list(LAYERS), translator(lang)))
    shown = text(legend(list(LAYERS), translator("pt-BR"), rio))
    assert "Qualidade do ar — categoria do IQA Rio (SMAC)" in shown


def test_the_live_configs_choose_the_same_index_as_the_demos():
    for city in ("rio", "copenhagen"):
        assert (load_settings(CITIES_DIR / city / "live.yaml").city.air_quality_scale
                == load_settings(CITIES_DIR / city / "demo.yaml").city.air_quality_scale)


def test_an_unknown_index_is_refused_with_its_line(tmp_path):
    config = (CITIES_DIR / "rio" / "demo.yaml").read_text().replace("air_quality_scale: rio", "air_quality_scale: who")
    for name in ("bairros.geojson", "rules.yaml", "alerta_rio_gauges.json"):
        (tmp_path / name).write_bytes((CITIES_DIR / "rio" / name).read_bytes())
    path = tmp_path / "city.yaml"
    path.write_text(config)
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert "air_quality_scale" in str(refused.value)
