"""The incidents layer (operator only): each open incident's bairros outlined, a marker inside."""

from layer_city import city

from opscentre.layers import LAYERS
from opscentre.layers.stages import stage_colour


def test_an_incident_is_drawn_over_its_bairros_and_a_city_wide_one_is_not(rio):
    copacabana = next(z for z, n in rio.zones.name_by_id.items() if n == "Copacabana")
    leme = next(z for z, n in rio.zones.name_by_id.items() if n == "Leme")
    incidents = [{"id": "i-1", "severity": "critical", "zone_ids": [copacabana, leme], "alerts": 3,
                  "opened_at": 1_780_000_000.0, "title": "siren criterion met in Copacabana"},
                 {"id": "i-2", "severity": "warning", "zone_ids": ["city"], "alerts": 1,
                  "opened_at": 1_780_000_000.0, "title": "no fresh data from feed alerta_rio"}]
    data = city(rio, [], incidents=incidents)
    layer = LAYERS["incidents"]
    assert layer.public is False  # incidents group internal alerts too
    (feature,) = layer.features(data)
    assert feature["id"] == "i-1" and feature["properties"]["colour"] == stage_colour(4)
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    outline, markers = layer.traces(data)
    assert len(markers["lat"]) == 1 and markers["marker"]["color"] == [stage_colour(4)]
    assert "Copacabana, Leme" in markers["text"][0] and "3 alerts" in markers["text"][0]
    assert len(outline["lat"]) > 10 and None not in outline["lat"][:3]
    assert layer.traces(city(rio, [])) == [{**outline, "lat": [], "lon": []},
                                           {**markers, "lat": [], "lon": [], "text": [],
                                            "marker": {**markers["marker"], "color": []}}]
