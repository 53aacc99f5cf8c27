"""The operator console speaks the city's language (`city.language`: Rio pt-BR), with a per-user
switch (`?lang=` on a console URL, kept in the session); every text the console's files mark is in
the catalogue with a Portuguese translation."""

from __future__ import annotations

from pathlib import Path

import requests
from city_seed import write_city

from opscentre.dashboard.components.status_bar import alerts_panel, status_bar
from opscentre.i18n import translator

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_FILES = ("opscentre/dashboard/ops_app.py", "opscentre/dashboard/auth.py",
                 *(f"opscentre/dashboard/components/{name}.py"
                   for name in ("status_bar", "ack_form", "incident_panel", "approvals", "banner", "legend",
                                "stage_panel", "attention")))


def signed_in(live, username, password, login_url="/login") -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}{login_url}", data={"username": username, "password": password},
                            timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


def layout(session, live) -> str:
    response = session.get(f"{live.url}/_dash-layout", timeout=30)
    assert response.status_code == 200
    return response.text


def test_rios_console_is_in_portuguese(live, operator, store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    login = requests.get(f"{live.url}/login", timeout=10)
    assert '<html lang="pt-BR">' in login.text and "Usuário" in login.text and "Senha" in login.text
    session = signed_in(live, *operator)
    page = session.get(f"{live.url}/", timeout=10).text
    assert '<html lang="pt-BR">' in page and "Centro de Operações" in page
    text = layout(session, live)
    for portuguese in ("Centro de Operações", "Camadas", "Sair", "Legenda", "Reconhecer", "Incidentes",
                       "Envios em massa aguardando aprovação", "Fontes ", "Atualizado",
                       "DADOS SIMULADOS", "alerta ativo", "Qualidade do ar — categoria do IQA Rio (SMAC)"):
        assert portuguese in text, portuguese
    for english in ("Sign out", "Operations centre", "Acknowledge", "\"Legend\"", "Feeds ", "active alert"):
        assert english not in text, (english, text[max(0, text.find(english) - 200):text.find(english) + 60])


def test_a_user_may_switch_the_console_to_english_and_back(live, operator, store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    session = signed_in(live, *operator)
    assert "Sign out" not in layout(session, live)
    page = session.get(f"{live.url}/?lang=en", timeout=10).text  # the page asks; the session keeps it
    assert '<html lang="en">' in page
    text = layout(session, live)  # (Dash asks for its layout without the query string)
    assert "Sign out" in text and "Operations centre" in text and "Acknowledge" in text and "Sair" not in text
    assert "(rain gauge)" in text and "(pluviômetro)" not in text  # the map's hovers too
    session.get(f"{live.url}/?lang=pt-BR", timeout=10)
    assert "Sair" in layout(session, live)
    other = signed_in(live, *operator)  # another browser keeps the city's language
    other_text = layout(other, live)
    assert "Sair" in other_text and "(pluviômetro)" in other_text and "(rain gauge)" not in other_text


def test_a_language_picked_on_the_sign_in_page_stays_after_signing_in(live, operator):
    session = requests.Session()
    page = session.get(f"{live.url}/login?lang=en", timeout=10).text
    assert "Sign in" in page and '<html lang="en">' in page
    response = session.post(f"{live.url}/login", data={"username": operator[0], "password": operator[1]},
                            timeout=10, allow_redirects=False)
    assert response.status_code == 302
    assert "Sign out" in layout(session, live)


def test_the_status_bar_model_has_no_language_and_is_written_in_each(store, rio_settings):
    from opscentre.dashboard.city_reading import CityStatus
    from opscentre.dashboard.components.status_bar import status_model

    status = CityStatus(version="1", stage={"level": 3, "name": "Attention"},
                        feeds={"simulator": {"status": "ok"}, "open_meteo": {"status": "failing"}},
                        alerts=[{"severity": "warning", "rule": "rain_15min", "zone_name": "Leme",
                                 "state": "pending", "acknowledged_by": "ana", "ack_note": "on it"}],
                        updated_at=1_765_111_500.0, simulated=True, incidents=[])
    model = status_model(status, rio_settings.tz)
    english = str(status_bar(model, translator("en"))) + str(alerts_panel(model, translator("en")))
    assert "Stage 3 · Attention" in english and "Feeds 1/2 healthy — open_meteo (failing)" in english
    assert "1 active alert" in english and "warning · rain_15min · Leme (pending) · ack ana: on it" in english
    portuguese = str(status_bar(model, translator("pt-BR"))) + str(alerts_panel(model, translator("pt-BR")))
    assert "Estágio 3 · Atenção" in portuguese or "Estágio 3 ·" in portuguese
    assert "Fontes 1/2 saudáveis — open_meteo (falhando)" in portuguese and "1 alerta ativo" in portuguese
    assert "alerta · rain_15min · Leme (pendente) · reconhecido por ana: on it" in portuguese
    assert "dez" in portuguese.lower() or "Atualizado" in portuguese


def test_every_console_file_is_extracted_and_each_of_its_texts_has_a_portuguese_translation():
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    configured = (ROOT / "babel.cfg").read_text()
    pot = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po((ROOT / "opscentre/i18n/messages.pot").open("rb"))}
    pt = {m.id if isinstance(m.id, str) else m.id[0]: m for m in
          read_po((ROOT / "opscentre/i18n/locales/pt_BR/LC_MESSAGES/messages.po").open("rb"))}
    for path in CONSOLE_FILES:
        assert f"[python: {path}]" in configured, path
        found = [message for _line, message, _comments, _context in extract_from_file("python", str(ROOT / path))]
        assert found, path
        for message in found:
            msgid = message if isinstance(message, str) else message[0]
            assert msgid in pot, (path, msgid)
            translated = pt[msgid].string
            assert translated and (isinstance(translated, str) or all(translated)) and not pt[msgid].fuzzy, msgid


def test_every_layer_toggle_label_and_legend_text_is_translated():
    from opscentre.layers import LAYERS
    from opscentre.core.air_quality import SCALES
    from opscentre.layers.air_quality import city_legend

    t = translator("pt-BR")
    texts = {layer.label for layer in LAYERS.values()} | {layer.title for layer in LAYERS.values()}
    texts |= {entry.label for layer in LAYERS.values() for entry in layer.legend}
    for name in SCALES:
        title, _fields, entries = city_legend(name)
        texts |= {title, *(e.label for e in entries)}
    assert {text for text in texts if t.gettext(text) == text and text not in {"50–499", "Regular", "normal"}} == set()
