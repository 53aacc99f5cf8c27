"""The public page's words as pure functions: the bairro answer, the stage, the alert lines, the
times in the city's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from opscentre.dashboard.public_pages.bairro import bairro_answer
from opscentre.dashboard.public_pages.texts import alert_model, local_time, page_model, stage_model
from opscentre.i18n import translator

RIO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 12, 7, 14, 5, tzinfo=RIO).timestamp()
PT, EN, DA = translator("pt-BR"), translator("en"), translator("da")


def alert(zone_id, severity="warning", topic="rain", zone_name=None, since="2026-12-07T16:50:00Z"):
    return {"id": f"a-{zone_id}-{severity}", "rule": "rain_15min", "severity": severity, "zone_id": zone_id,
            "zone_name": zone_name, "since": since, "topic": topic}


def test_a_bairro_is_found_whatever_the_accents_and_case(rio_settings):
    zones = rio_settings.zones
    alerts = [alert_model(alert("024", zone_name="Copacabana"), PT, RIO, NOW)]
    for query in ("copacabana", "Copacabana", "COPACABANA", " copacabana  "):
        answer = bairro_answer(query, zones, alerts, PT)
        assert answer["kind"] == "affected" and answer["text"] == "1 alerta para Copacabana:"
        assert answer["alert_ids"] == [alerts[0]["id"]]
    assert bairro_answer("Jardim Botanico", zones, alerts, PT)["text"] == "Nenhum alerta para Jardim Botânico."
    assert bairro_answer("jardim botânico", zones, alerts, EN)["text"] == "No alerts for Jardim Botânico."


def test_a_city_wide_alert_affects_every_bairro(rio_settings):
    alerts = [alert_model(alert(None, severity="critical", topic="heat"), PT, RIO, NOW)]
    answer = bairro_answer("Jardim Botanico", rio_settings.zones, alerts, PT)
    assert answer["kind"] == "affected" and answer["text"] == "1 alerta para Jardim Botânico:"
    assert alerts[0]["headline"] == "Crítico: Calor extremo em toda a cidade"


def test_an_unknown_name_is_said_so_with_close_names_and_kept_as_text(rio_settings):
    zones = rio_settings.zones
    unknown = bairro_answer("Copacabanna", zones, [], PT)
    assert unknown["kind"] == "unknown" and unknown["text"] == "Não encontramos nenhum bairro chamado “Copacabanna”."
    assert "Copacabana" in unknown["suggestions"]
    hostile = bairro_answer("{place}<b>{0}</b>", zones, [], EN)
    assert hostile["text"] == "We found no neighbourhood called “{place}<b>{0}</b>”."
    assert bairro_answer("x" * 500, zones, [], EN)["text"].count("x") == 80
    assert bairro_answer("   ", zones, [], EN)["kind"] == "empty"
    assert bairro_answer(None, zones, [], EN)["kind"] == "empty"


def test_every_stage_has_words_and_a_sign_besides_its_colour():
    icons = set()
    for level in range(1, 6):
        model = stage_model(level, PT)
        assert model["of"] == f"Estágio {level} de 5" and model["name"] and model["meaning"]
        icons.add(model["icon"])
    assert len(icons) == 5
    assert stage_model(3, EN)["name"] == "Attention" and stage_model(3, PT)["name"] == "Atenção"


def test_alerts_speak_plainly_with_the_advice_in_the_page_language():
    line = alert_model(alert("024", zone_name="Copacabana", topic="landslide", severity="emergency"), PT, RIO, NOW)
    assert line["headline"] == "Emergência: Risco de deslizamento em Copacabana"
    assert line["advice"] == "Se mora em encosta, vá para o ponto de apoio. Defesa Civil 199."
    assert line["since"] == "Desde 13:50"  # 16:50 UTC is 13:50 in Rio
    danish = alert_model(alert("024", zone_name="Copacabana"), DA, RIO, NOW)
    assert danish["headline"] == "Varsel: Kraftig regn i Copacabana"
    assert danish["advice"] == "Never cross a flooded street. Civil Defence 199."  # no Danish advice: English
    other = alert_model(alert("024", zone_name="Copacabana", topic="something-new"), EN, RIO, NOW)
    assert other["headline"] == "Warning: Other hazard in Copacabana" and other["advice"] == ""


def test_times_are_the_citys_and_another_day_names_the_date():
    assert local_time(NOW, RIO, NOW, "pt-BR") == "14:05"
    assert local_time(NOW, ZoneInfo("Europe/Copenhagen"), NOW, "da") == "18:05"
    yesterday = NOW - 86_400
    assert local_time(yesterday, RIO, NOW, "pt-BR") == "6 de dez. de 2026 14:05"
    assert local_time(yesterday, RIO, NOW, "en") == "Dec 6, 2026 14:05"


def test_the_page_model_lists_worst_first_and_names_the_bairros_with_alerts():
    data = {"reachable": True, "stage_level": 3, "updated_at": NOW - 60,
            "alerts": [alert("024", zone_name="Copacabana"), alert("028", "critical", zone_name="Jardim Botânico")]}
    model = page_model(data, PT, RIO, NOW)
    assert [a["zone_name"] for a in model["alerts"]] == ["Jardim Botânico", "Copacabana"]
    assert model["zones"] == [("Copacabana", "Alerta"), ("Jardim Botânico", "Crítico")]
    assert model["updated"] == "Atualizado às 14:04" and model["stage"]["name"] == "Atenção"
    down = page_model({"reachable": False}, PT, RIO, NOW)
    assert down["stage"] is None and down["updated"] == "Dados temporariamente indisponíveis — reconectando"


def test_danish_letters_typed_plainly_find_the_bydel():
    from city_seed import RIO

    from opscentre.core.settings import load_settings

    zones = load_settings(RIO.parent / "copenhagen" / "demo.yaml").zones
    for query in ("Østerbro", "østerbro", "osterbro", "OSTERBRO"):
        assert bairro_answer(query, zones, [], DA)["text"] == "Ingen varsler for Østerbro.", query
    assert bairro_answer("vesterbro kongens enghave", zones, [], DA)["text"] == \
        "Ingen varsler for Vesterbro-Kongens Enghave."


def test_a_page_served_from_the_last_snapshot_while_redis_is_away_says_as_of_when():
    data = {"reachable": True, "stale": True, "as_of": NOW - 600, "stage_level": 2, "updated_at": NOW - 660,
            "alerts": [alert("024", zone_name="Copacabana")]}
    model = page_model(data, PT, RIO, NOW)
    assert model["updated"] == "Dados de 13:55 — reconectando"
    assert model["stage"]["name"] and [a["zone_name"] for a in model["alerts"]] == ["Copacabana"]
    assert page_model(data, EN, RIO, NOW)["updated"] == "Data as of 13:55 — reconnecting"
