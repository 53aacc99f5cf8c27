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


def test_copenhagens_rain_classes_are_its_own_in_the_legend_and_on_the_map(copenhagen, rio):
    from dataclasses import replace

    from layer_city import city, gauge, inside

    from opscentre.dashboard.city_reading import empty_city_data
    from opscentre.layers import rain_gauges, zones
    from opscentre.layers.rain_classes import ALERTA_RIO, DMI, classify_rain

    assert copenhagen.city.rain_classes == "dmi" and rio.city.rain_classes == "alerta_rio"
    assert empty_city_data(copenhagen).rain_classes is DMI and empty_city_data(rio).rain_classes is ALERTA_RIO
    from opscentre.dashboard.components.legend import layer_legend

    for layer_id in ("zones", "rain_gauges"):
        labels = [e.label for e in layer_legend(layer_id, translator("en"), copenhagen)[1]]
        assert "cloudburst" in labels and "light" in labels and "very heavy" not in labels
        assert layer_legend(layer_id, translator("en"), rio)[1] == LAYERS[layer_id].legend  # Rio's as it was
    assert "skybrud" in text(legend(list(LAYERS), translator("da"), copenhagen))
    assert classify_rain(8.0, DMI).key == "very_heavy" and classify_rain(8.0).key == "heavy"
    assert classify_rain(0.5, DMI).label == "moderate" and classify_rain(0.5).label == "weak"
    # the map: 8 mm in 15 min is a cloudburst in Copenhagen's table, heavy rain in Alerta Rio's
    zone_id = rio.zones.ids[0]
    rio_data = city(rio, [gauge("g-1", *inside(rio, zone_id), zone_id=zone_id)], rain_mm={"g-1": 8.0})
    cph_data = replace(city(rio, [gauge("g-1", *inside(rio, zone_id), zone_id=zone_id)], rain_mm={"g-1": 8.0}),
                       rain_classes=DMI)
    assert rain_gauges.gauge_rows(rio_data)[0]["rain_class"].key == "heavy"
    assert rain_gauges.gauge_rows(cph_data)[0]["rain_class"].label == "cloudburst"
    assert zones.zone_rain(rio_data)[0]["rain_class"].key == "heavy"
    assert zones.zone_rain(cph_data)[0]["rain_class"].key == "very_heavy"


def test_every_rain_table_has_five_rising_classes_with_the_same_keys():
    from opscentre.core.settings import CitySettings
    from opscentre.layers.rain_classes import RAIN_CLASSES, RAIN_TABLES

    assert set(RAIN_TABLES) == set(CitySettings.model_fields["rain_classes"].annotation.__args__)
    for table in RAIN_TABLES.values():
        assert [c.key for c in table] == [c.key for c in RAIN_CLASSES]
        assert [c.level for c in table] == [1, 2, 3, 4, 5]
        assert [c.upper_mm for c in table] == sorted(c.upper_mm for c in table)


def test_a_station_stored_without_a_scale_is_read_on_the_citys(copenhagen, rio):
    from dataclasses import replace

    from layer_city import city, inside

    from opscentre.dashboard.city_reading import empty_city_data
    from opscentre.layers.air_quality import LAYER

    assert empty_city_data(copenhagen).air_quality_scale == "eu" and empty_city_data(rio).air_quality_scale == "rio"
    lon, lat = inside(rio, rio.zones.ids[0])
    bare = {"entity_id": "s", "entity_type": "air_quality_station", "name": "s", "source": "openaq", "zone_id": None,
            "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {}}
    data = city(rio, [bare], aqi={"s": 250.0})
    assert LAYER.features(data)[0]["properties"]["aqi_scale"] == "rio"  # Rio's, as before
    on_eu = LAYER.features(replace(data, air_quality_scale="eu"))[0]["properties"]
    assert on_eu["aqi_scale"] == "eu" and on_eu["aqi_scale_title"] == "European AQI (2024)"


def test_the_public_pages_legend_speaks_the_citys_vocabulary_too(copenhagen, rio):
    from opscentre.dashboard.public_pages.components import legend as public_legend

    shown = text(public_legend(list(LAYERS), translator("en"), copenhagen.city))
    assert "Air quality — European AQI (2024) category" in shown and "IQA Rio" not in shown
    rio_pt = text(public_legend(list(LAYERS), translator("pt-BR"), rio.city))
    assert "Qualidade do ar — categoria do IQA Rio (SMAC)" in rio_pt
    assert rio_pt == text(public_legend(list(LAYERS), translator("pt-BR")))  # Rio's words are the layers' own
