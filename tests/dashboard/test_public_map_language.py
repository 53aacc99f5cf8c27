"""The public map speaks the page's language: hover texts from the catalogue, in the first figure
and in the tick's Patches (real HTTP, real Redis), from one read of the store per data version."""

from __future__ import annotations

import json

import requests
from city_seed import write_city

from opscentre.dashboard import ids
from opscentre.dashboard.city_reading import read_status
from opscentre.dashboard.public_pages import ids as pids
from opscentre.dashboard.public_pages.map import public_maps


def layout_text(live, query: str = "") -> str:
    response = requests.get(f"{live.url}/public/_dash-layout{query}", timeout=20)
    assert response.status_code == 200
    return json.dumps(response.json(), ensure_ascii=False)


def map_tick(live, lang) -> str:
    """What the map's tick answers a page in `lang` that holds nothing yet (every array is sent),
    once the store's newest data is built (a page load waits for that; a tick not long)."""
    assert requests.get(f"{live.url}/public/_dash-layout", params={"lang": lang}, timeout=20).status_code == 200
    dependencies = requests.get(f"{live.url}/public/_dash-dependencies", timeout=10).json()
    (tick,) = [d for d in dependencies if f"{ids.MAP}.figure" in d["output"]]
    values = {(ids.TICK, "n_intervals"): 1, (ids.MAP_STATE, "data"): {},
              (pids.PANEL_STATE, "data"): {"lang": lang, "digests": {}}}
    body = {
        "output": tick["output"],
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
                    for o in tick["output"].strip(".").split("...")],
        "inputs": [{**i, "value": values.get((i["id"], i["property"]))} for i in tick["inputs"]],
        "state": [{**s, "value": values.get((s["id"], s["property"]))} for s in tick["state"]],
        "changedPropIds": [f"{ids.TICK}.n_intervals"],
    }
    response = requests.post(f"{live.url}/public/_dash-update-component", json=body, timeout=20)
    assert response.status_code == 200, response.text
    return json.dumps(response.json()["response"][ids.MAP]["figure"], ensure_ascii=False)


def test_the_rio_map_hovers_in_portuguese_and_in_english_with_lang_en(live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=9.0)
    portuguese, english = layout_text(live), layout_text(live, "?lang=en")
    assert "(pluviômetro)" in portuguese and "forte: 9,0 mm/15 min" in portuguese
    assert "(fluxo livre 60 km/h)" in portuguese and "pluviômetro" in portuguese
    # (trace names, never shown — no legend, no <extra> — stay English identifiers)
    assert "(rain gauge)" not in portuguese and "(free flow" not in portuguese
    assert "(rain gauge)" in english and "heavy: 9.0 mm/15 min" in english and "(free flow 60 km/h)" in english
    assert "pluviômetro" not in english


def test_the_map_tick_patches_in_the_page_language(live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=9.0)
    portuguese, english = map_tick(live, "pt-BR"), map_tick(live, "en")
    assert "(pluviômetro)" in portuguese and "(rain gauge)" not in portuguese
    assert "(rain gauge)" in english and "(pluviômetro)" not in english
    assert "(pluviômetro)" in map_tick(live, "<script>")  # not a language we have: the city's


def test_languages_share_one_read_of_the_store_per_data_version(store, rio_settings, monkeypatch):
    from opscentre.dashboard.public_pages import map as public_map

    write_city(store, rio_settings, rain_mm=9.0)
    reads = []
    real = public_map.read_city_data
    monkeypatch.setattr(public_map, "read_city_data", lambda *a, **k: reads.append(1) or real(*a, **k))
    maps = public_maps(rio_settings, store, True, ["rain_gauges"], ["pt-BR", "en", "da"])
    status = read_status(store, True, rio_settings.zones.name_by_id, 0.0)
    texts = {lang: live_map._traces(status)[0]["rain_gauges"][1]["text"][0] for lang, live_map in maps.items()}
    assert "(pluviômetro)" in texts["pt-BR"] and "(rain gauge)" in texts["en"] and "(regnmåler)" in texts["da"]
    assert maps["en"]._traces(status) is maps["en"]._traces(status)  # built once per version and language
    assert len(reads) == 1
    write_city(store, rio_settings, rain_mm=0.0)
    status = read_status(store, True, rio_settings.zones.name_by_id, 0.0)
    assert "sem chuva" in maps["pt-BR"]._traces(status)[0]["rain_gauges"][1]["text"][0] and len(reads) == 2


def test_a_bairros_alert_hovers_in_the_readers_words_not_the_rules_english_summary(live, store, rio_settings):
    from city_seed import alert_record

    from opscentre.core.alert_store import AlertStore

    write_city(store, rio_settings, rain_mm=9.0)
    AlertStore(store.redis).put([alert_record("a-7", "firing", zone_id=rio_settings.zones.ids[0])])
    portuguese, english = map_tick(live, "pt-BR"), map_tick(live, "en")
    assert "⚠ Alerta: Chuva forte" in portuguese and "warning rain at a-7" not in portuguese
    assert "⚠ Warning: Heavy rain" in english
