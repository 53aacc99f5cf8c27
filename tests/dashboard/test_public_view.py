"""The public view for residents over real HTTP (a real server on loopback, a real Redis):
Portuguese by default for Rio, English with ?lang=en, times in the city's zone, the bairro
search answered by the page's own callback, no personal data, nothing of the console."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import requests
from city_seed import alert_record, write_city

from opscentre.core.alert_store import AlertStore
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.dashboard import ids
from opscentre.dashboard.public_pages import ids as pids

COPACABANA, JARDIM_BOTANICO = "024", "028"


def layout_text(live, query: str = "") -> str:
    response = requests.get(f"{live.url}/public/_dash-layout{query}", timeout=20)
    assert response.status_code == 200
    return json.dumps(response.json(), ensure_ascii=False)  # plotly's JSON escapes "/" and accents


def panel_callback(live):
    dependencies = requests.get(f"{live.url}/public/_dash-dependencies", timeout=10).json()
    (panel,) = [d for d in dependencies if pids.BAIRRO_ANSWER in d["output"]]
    return panel


def ask_bairro(live, panel, query, lang="pt-BR"):
    """What the page's callback answers when a resident submits `query` in the bairro search."""
    values = {(pids.BAIRRO_INPUT, "value"): query, (pids.BAIRRO_INPUT, "n_submit"): 1,
              (pids.PANEL_STATE, "data"): {"lang": lang, "digests": {}}}
    body = {
        "output": panel["output"],
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in panel["output"].strip(".").split("...")],
        "inputs": [{**i, "value": values.get((i["id"], i["property"]))} for i in panel["inputs"]],
        "state": [{**s, "value": values.get((s["id"], s["property"]))} for s in panel["state"]],
        "changedPropIds": [f"{pids.BAIRRO_INPUT}.n_submit"],
    }
    response = requests.post(f"{live.url}/public/_dash-update-component", json=body, timeout=20)
    assert response.status_code == 200, response.text
    return response.json()["response"][pids.BAIRRO_ANSWER]["children"]


def texts_of(component) -> list[str]:
    """Every string a rendered component tree shows."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, list):
        return [t for c in component for t in texts_of(c)]
    if isinstance(component, dict):
        return texts_of(component.get("props", {}).get("children"))
    return []


def test_rio_page_is_in_portuguese_with_times_in_rio(live, store, rio_settings):
    observed = time.time() - 120
    write_city(store, rio_settings, rain_mm=9.0, observed_at=observed)
    AlertStore(store.redis).put([alert_record("a-copa", "firing", zone_id=COPACABANA)])
    text = layout_text(live)
    local = datetime.fromtimestamp(observed, ZoneInfo("America/Sao_Paulo")).strftime("%H:%M")
    for words in ("Estágio 1 de 5", "Normalidade", "Alertas agora", "Alerta: Chuva forte em Copacabana",
                  "O que fazer:", "Não atravesse ruas alagadas", f"Atualizado às {local}", "Meu bairro está afetado?",
                  "Bairros com alerta", "Copacabana — Alerta", "Legenda do mapa", "Dados abertos",
                  "DADOS SIMULADOS", "/api/public/alerts.atom", "/api/public/layers/zones.geojson",
                  "/api/public/ogc/", "Jardim Botânico"):
        assert words in text, words
    for english in ("Updated at", "Open data", "Alerts now", "What to do", "Heavy rain"):
        assert english not in text, english


def test_english_with_lang_en(live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=9.0)
    AlertStore(store.redis).put([alert_record("a-copa", "firing", zone_id=COPACABANA)])
    text = layout_text(live, "?lang=en")
    for words in ("Stage 1 of 5", "Normal", "Alerts now", "Warning: Heavy rain in Copacabana",
                  "Never cross a flooded street", "Updated at", "Open data", "Is my neighbourhood affected?"):
        assert words in text, words
    assert "Dados abertos" not in text and "Atualizado" not in text
    assert '"lang":"en"' in text.replace(" ", "")  # the callbacks answer in the page's language


def test_index_page_names_its_language_and_loads_the_language_script(live, store, rio_settings):
    write_city(store, rio_settings)
    default = requests.get(f"{live.url}/public/", timeout=10).text
    english = requests.get(f"{live.url}/public/?lang=en", timeout=10).text
    assert '<html lang="pt-BR">' in default and "Rio de Janeiro — painel público" in default
    assert '<html lang="en">' in english and "Rio de Janeiro — public view" in english
    assert "public_lang.js" in default


def test_public_page_sets_no_cookie(live, store, rio_settings):
    write_city(store, rio_settings)
    for path in ("/public/", "/public/?lang=en", "/public/_dash-layout?lang=en"):
        response = requests.get(live.url + path, timeout=10)
        assert "Set-Cookie" not in response.headers, path


def test_bairro_search_ignores_accents_and_case(live, store, rio_settings):
    write_city(store, rio_settings)
    AlertStore(store.redis).put([alert_record("a-copa", "firing", zone_id=COPACABANA)])
    panel = panel_callback(live)
    for query in ("copacabana", "Copacabana", "COPACABANA", "  copacabana "):
        shown = texts_of(ask_bairro(live, panel, query))
        assert shown[0] == "1 alerta para Copacabana:", query
        assert "Alerta: Chuva forte em Copacabana" in shown
    assert texts_of(ask_bairro(live, panel, "Jardim Botanico")) == ["Nenhum alerta para Jardim Botânico."]
    assert texts_of(ask_bairro(live, panel, "jardim botanico", lang="en")) == ["No alerts for Jardim Botânico."]


def test_bairro_search_says_when_it_does_not_know_the_name(live, store, rio_settings):
    write_city(store, rio_settings)
    panel = panel_callback(live)
    assert texts_of(ask_bairro(live, panel, "Atlântida do Norte"))[0] == \
        "Não encontramos nenhum bairro chamado “Atlântida do Norte”."
    suggested = texts_of(ask_bairro(live, panel, "Copacabanna"))
    assert suggested[0].startswith("Não encontramos") and "Copacabana" in suggested[1]


def test_a_hostile_bairro_query_comes_back_as_text(live, store, rio_settings):
    write_city(store, rio_settings)
    hostile = "<img src=x onerror=alert(1)>{place}{0}"
    answer = ask_bairro(live, panel_callback(live), hostile)
    assert answer[0]["type"] == "P"  # a paragraph whose child is the plain string
    assert answer[0]["props"]["children"] == f"Não encontramos nenhum bairro chamado “{hostile}”."


def test_no_personal_data_on_the_public_page(live, store, rio_settings, operator):
    write_city(store, rio_settings, rain_mm=9.0)
    alerts = AlertStore(store.redis)
    alerts.put([alert_record("a-copa", "firing", zone_id=COPACABANA),
                alert_record("a-internal", "firing", zone_id=JARDIM_BOTANICO, public=False)])
    alerts.acknowledge("a-copa", operator[0], "call Dona Maria +55 21 99876-5432", time.time())
    RecipientStore(store.redis).add(Recipient.create(name="Dona Maria", phone="+5521998765432", consent_how="cli",
                                                     now=time.time(), zone_ids=(COPACABANA,), role=Role.COMMUNITY))
    panel = panel_callback(live)
    pages = [layout_text(live), layout_text(live, "?lang=en"),
             str(ask_bairro(live, panel, "Copacabana")), str(ask_bairro(live, panel, "Jardim Botânico"))]
    for text in pages:
        for forbidden in (operator[0], "Dona Maria", "99876", "998765432", "+55", "call ", "acknowledged",
                          "a-internal", "password"):
            assert forbidden not in text, forbidden
    assert "Nenhum alerta para Jardim Botânico." in pages[3]  # the internal alert is not public


def test_public_callbacks_only_display(live, wsgi_app):
    dependencies = requests.get(f"{live.url}/public/_dash-dependencies", timeout=10).json()
    assert len(dependencies) == 2 == len(wsgi_app.public_dash.callback_map)
    shown = {ids.MAP, ids.MAP_STATE, pids.STAGE, pids.UPDATED, pids.ALERTS, pids.ZONES_WITH_ALERTS,
             pids.BAIRRO_ANSWER, pids.PANEL_STATE}
    for dependency in dependencies:
        outputs = {o.split(".")[0] for o in dependency["output"].strip(".").split("...")}
        assert outputs <= shown
        assert ids.TICK in [i["id"] for i in dependency["inputs"]]


def test_importing_the_public_app_imports_nothing_of_the_console():
    code = ("import sys, opscentre.dashboard.public_app, opscentre.dashboard.public_pages.view_data; "
            "print(' '.join(sorted(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = run.stdout.split()
    assert "opscentre.dashboard.public_app" in loaded
    for console in ("opscentre.dashboard.ops_app", "opscentre.dashboard.auth", "flask_login",
                    "opscentre.dashboard.components.ack_form", "opscentre.dashboard.components.incident_panel"):
        assert console not in loaded, console


def test_copenhagen_page_is_in_danish_by_default(redis_server, redis_client):
    from city_seed import RIO, LiveServer

    from opscentre.core.settings import load_settings
    from opscentre.dashboard.server import create_public_wsgi_app

    copenhagen = load_settings(RIO.parent / "copenhagen" / "demo.yaml")
    with LiveServer(create_public_wsgi_app(copenhagen, redis_server.url)) as server:
        text = layout_text(server)
        english = layout_text(server, "?lang=en")
        index = requests.get(f"{server.url}/public/", timeout=10).text
    for words in ("Niveau 1 af 5", "Byens beredskabsniveau", "Er min bydel berørt?", "Åbne data",
                  "Endnu ingen data", "Østerbro"):
        assert words in text, words
    assert "Stage 1 of 5" in english and "Open data" in english
    assert '<html lang="da">' in index and "København — offentlig visning" in index
