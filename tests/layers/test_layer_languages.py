"""The map's hover texts in the page's language: every layer draws its traces with a Translator
(`traces(data, t)`), from the one catalogue; the GeoJSON stays language-neutral."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from layer_city import OBSERVED, city, gauge, inside, road
from test_air_quality_layer import station
from test_rivers_and_transit_layers import STAGES, river, service_alert, vehicle
from test_traffic_events_and_outages import jam_event, outage_event, report_event, zone_entity
from test_warnings_layer import square, warning

from opscentre.i18n import catalogue_path, translator
from opscentre.layers import LAYERS, RAIN_CLASSES
from opscentre.layers.base import number
from opscentre.layers.rain_classes import NO_DATA
from opscentre.layers.rivers import RIVER_CLASSES
from opscentre.layers.traffic import JAM_LEVELS, NO_READING, REPORT_CLASSES
from opscentre.layers.warnings import SEVERITY_STYLES

ROOT = Path(__file__).resolve().parents[2]
PT, EN, DA = translator("pt-BR"), translator("en"), translator("da")


def busy(rio):
    """One of everything each public layer draws, in Rio's first zone."""
    zone = rio.zones.ids[0]
    lon, lat = inside(rio, zone)
    entities = [gauge("g1", lon, lat, zone_id=zone, name="Vidigal"),
                river("r1", lon, lat, name="Rio Bananeiras", **STAGES),
                road("s1", [[lon, lat], [lon + 0.01, lat]]),
                station("aq1", lon, lat, name="Tijuca"), station("aq2", lon + 0.01, lat, name="Bangu"),
                zone_entity("outages:zone:" + zone, zone)]
    events = [warning("W1", "severe", {"type": "Polygon", "coordinates": [square(lon, lat)]}, zone_ids=[zone]),
              jam_event("waze:jam:1", [[lon, lat + 0.01], [lon + 0.01, lat + 0.01]], 4),
              report_event("waze:r1", lon, lat, "ACCIDENT"),
              outage_event("outages:big", {"type": "Point", "coordinates": [lon, lat]}, 2400, zone),
              vehicle("v1", lon, lat, current_status="STOPPED_AT", stop_id="70021", speed_ms=10.0, occupancy="FULL"),
              vehicle("v2", lon, lat, observed_at=OBSERVED - 300), service_alert("a1", ["L1"])]
    return city(rio, entities, events=events, rain_mm={"g1": 20.0}, rain_1h_mm={"g1": 9.5},
                river_level_m={"r1": 2.92}, river_discharge_m3s={"r1": 12.4}, traffic_speed_kmh={"s1": 12.0},
                jam_level={"s1": 4}, aqi={"aq1": 73.0}, pm25_ugm3={"aq1": 4.1, "aq2": 30.0},
                outage_customers={"outages:zone:" + zone: 2403.0})


def hover(traces) -> str:
    """Every text a layer's traces show on hover, as one string."""
    out = []
    for trace in traces:
        out += [str(x) for x in trace.get("text") or []]
        out += [str(x) for row in trace.get("customdata") or [] for x in row]
    return "\n".join(out)


def test_english_is_the_source_language_and_the_default(rio):
    data = busy(rio)
    for layer in LAYERS.values():
        assert layer.traces(data, EN) == layer.traces(data) == layer.traces(data, None), layer.layer_id


def test_a_language_changes_only_the_texts_never_the_traces(rio):
    """Same traces, same data arrays, same patchable paths: only hover texts differ."""
    data = busy(rio)
    for layer in LAYERS.values():
        english, portuguese = layer.traces(data, EN), layer.traces(data, PT)
        assert len(english) == len(portuguese), layer.layer_id
        for en_trace, pt_trace in zip(english, portuguese):
            assert en_trace.keys() == pt_trace.keys()
            for key in en_trace.keys() - {"text", "customdata", "_lod"}:
                assert en_trace[key] == pt_trace[key], (layer.layer_id, key)
            if "_lod" in en_trace:  # level of detail: the same zones and ranks; its noun in words
                assert {**en_trace["_lod"], "noun": None} == {**pt_trace["_lod"], "noun": None}
        assert hover(english) != hover(portuguese) or not hover(english), layer.layer_id


def test_the_hover_texts_in_portuguese(rio):
    data = busy(rio)
    text = {layer_id: hover(layer.traces(data, PT)) for layer_id, layer in LAYERS.items()}
    assert "<b>Vidigal</b> (pluviômetro)" in text["rain_gauges"]
    assert "muito forte: 20,0 mm/15 min" in text["rain_gauges"] and "1 h 9,5 mm" in text["rain_gauges"]
    assert "28 mai 17:26 (UTC-03)" in text["rain_gauges"]
    assert "muito forte: 20,0 mm/15 min" in text["zones"] and "pluviômetro Vidigal" in text["zones"]
    assert "(estação fluviométrica)" in text["rivers"] and "Atenção: 2,92 m · 0,48 m abaixo de alerta" in text["rivers"]
    assert "atenção 2,55 m · alerta 3,40 m · transbordamento 4,25 m" in text["rivers"]
    assert "vazão 12,4 m³/s" in text["rivers"]
    assert f"({PT.gettext('severe')})" in text["warnings"] and "até 28 mai 23:26 (UTC-03) · 1 bairro" in text["warnings"]
    assert "(fluxo livre 60 km/h)" in text["traffic"] and "(congestionamento informado, Rio de Janeiro)" in text["traffic"]
    assert f"{PT.gettext('very heavy')}, +4 min" in text["traffic"] and "confiabilidade 7/10" in text["traffic"]
    assert "2.400 clientes sem energia" in text["outages"] and "2.403 clientes sem energia no bairro" in text["outages"]
    assert "desde 28 mai 16:26 (UTC-03) · subestação ROWAN(1) · alimentador CKT1-01" in text["outages"]
    assert "<b>Tijuca</b> (qualidade do ar)" in text["air_quality"] and "— Regular" in text["air_quality"]
    assert "sem índice (IQA Rio (SMAC))" in text["air_quality"] and "PM2.5 30,0 µg/m³" in text["air_quality"]
    assert "parado no ponto 70021 · 36 km/h · cheio" in text["transit"] and "⚠ desvio: L1 detour" in text["transit"]
    assert "posição às 17:26:40 (UTC-03)" in text["transit"] and "5 min atrás da mais recente" in text["transit"]
    everything = "\n".join(text.values())
    for english in ("(rain gauge)", "(river station)", " below ", "until ", "customers", "free flow", "reported jam",
                    "reliability", "(air quality)", "stopped at", "position at", "behind the newest", "May",
                    "very heavy", "gauge Vidigal", "discharge"):
        assert english not in everything, english


def test_the_hover_texts_in_english(rio):
    data = busy(rio)
    text = {layer_id: hover(layer.traces(data, EN)) for layer_id, layer in LAYERS.items()}
    assert "<b>Vidigal</b> (rain gauge)" in text["rain_gauges"] and "very heavy: 20.0 mm/15 min" in text["rain_gauges"]
    assert "28 May 17:26 (UTC-03)" in text["rain_gauges"]
    assert "Attention: 2.92 m · 0.48 m below alert" in text["rivers"] and "discharge 12.4 m³/s" in text["rivers"]
    assert "until 28 May 23:26 (UTC-03) · 1 zone" in text["warnings"]
    assert "2,400 customers without power" in text["outages"]
    assert "stopped at stop 70021 · 36 km/h · full" in text["transit"]
    for portuguese in ("pluviômetro", "abaixo", "clientes", "parado", "mai "):
        assert portuguese not in "\n".join(text.values()), portuguese


def test_danish_hovers_use_danish_words_and_decimal_commas(rio):
    text = hover(LAYERS["rain_gauges"].traces(busy(rio), DA))
    assert "(regnmåler)" in text and f"{DA.gettext('very heavy')}: 20,0 mm/15 min" in text and "28 maj" in text


def test_the_geojson_stays_language_neutral(rio):
    """Open data keeps its property names and English labels, whatever a page's language."""
    data = busy(rio)
    gauge_props = LAYERS["rain_gauges"].features(data)[0]["properties"]
    assert (gauge_props["rain_class"], gauge_props["rain_class_label"]) == ("very_heavy", "very heavy")
    river_props = LAYERS["rivers"].features(data)[0]["properties"]
    assert (river_props["river_class"], river_props["river_class_label"]) == ("attention", "attention")


def test_numbers_follow_the_language():
    assert number(1234.5, EN, 1, grouped=True) == "1,234.5" == number(1234.5, None, 1, grouped=True)
    assert number(1234.5, PT, 1, grouped=True) == "1.234,5"
    assert number(1234.5, PT, 2) == "1234,50" and number(73.0, PT, None) == "73" and number(0.5, DA, None) == "0,5"


def _translations(locale: str) -> dict[str, tuple[str, ...]]:
    with catalogue_path(locale).open("rb") as po:
        catalog = read_po(po)
    out = {}
    for message in catalog:
        if message.id and not message.context and not message.fuzzy:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            out[key] = message.string if isinstance(message.string, tuple) else (message.string,)
    return out


def test_every_text_of_the_layers_is_in_the_catalogue_with_a_portuguese_translation():
    """What the layers mark (t.gettext, t.ngettext, N_) and the words they pick at run time (class
    labels) are all in messages.pot, extracted from opscentre/layers by babel.cfg, and translated."""
    assert "[python: opscentre/layers/**.py]" in (ROOT / "babel.cfg").read_text()
    marked = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT / "opscentre/layers")):
        marked.add(message[0] if isinstance(message, tuple) else message)
    assert len(marked) > 60 and {"(rain gauge)", "{n} customer without power", "Jan", "detour"} <= marked
    picked = {c.label for c in (*RAIN_CLASSES, NO_DATA, *RIVER_CLASSES)} | {label for label, _ in SEVERITY_STYLES.values()}
    picked |= {label for label, _, _ in (*JAM_LEVELS, NO_READING)} | {label for _, label, _, _ in REPORT_CLASSES}
    with (ROOT / "opscentre/i18n/messages.pot").open("rb") as pot:
        in_pot = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_pot_messages(pot)}
    portuguese = _translations("pt-BR")
    for msgid in sorted(marked | picked):
        assert msgid in in_pot, f"{msgid!r}: run pybabel extract (opscentre/i18n/__init__.py)"
        assert msgid in portuguese and all(s.strip() for s in portuguese[msgid]), f"{msgid!r}: no pt_BR translation"


def read_pot_messages(pot):
    return [m for m in read_po(pot) if m.id and not m.context]
