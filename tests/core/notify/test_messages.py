"""Messages: bairro names (never codes), the level in words, what to do, the lead time of a
forecast; SMS counted in GSM-7 / UCS-2 segments exactly as GSM 03.38 says, shortened to the cap
without losing the level or the main bairro; webhook bodies; templates checked at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscentre.core.alerting.incidents import CITY_WIDE
from opscentre.core.errors import ConfigError
from opscentre.core.notify.advice import ADVICE, URGENT
from opscentre.core.notify.messages import (GSM7, LEVEL, TEMPLATES, UCS2, count, places, render, topic_of,
                                            transliterate, webhook_body)
from opscentre.core.settings import load_settings

RIO = Path(__file__).resolve().parents[3] / "opscentre" / "cities" / "rio" / "demo.yaml"
AT = 1_270_490_400.0  # 2010-04-05 18:00 UTC


@pytest.fixture(scope="module")
def rio():
    return load_settings(RIO)


@pytest.fixture(scope="module")
def names(rio):
    return rio.zones.name_by_id


@pytest.fixture(scope="module")
def zone(names):
    return {name: zone_id for zone_id, name in names.items()}.__getitem__


def with_notify(settings, **changes):
    return settings.model_copy(update={"notify": settings.notify.model_copy(update=changes)})


def incident(zone_ids, severity="warning", rules=("rain_15min",), change="opened", lead_time_s=None, **extra):
    return {"id": "n-1", "kind": "incident", "change": change, "incident_id": "i-1", "severity": severity,
            "trigger_severity": severity, "zone_ids": list(zone_ids), "trigger_zone_ids": list(zone_ids),
            "zone_severity": {z: severity for z in zone_ids}, "rules": list(rules), "lead_time_s": lead_time_s,
            "title": "t", "alerts": 1, "fingerprints": [], "at": AT, "trigger_alerts": [], **extra}


# ---- segments -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, encoding, segments", [
    ("a" * 160, GSM7, 1), ("a" * 161, GSM7, 2), ("a" * 306, GSM7, 2), ("a" * 307, GSM7, 3),
    ("€" * 80, GSM7, 1), ("€" * 81, GSM7, 2),  # the extension table costs two septets
    ("a" * 152 + "€" + "a" * 152, GSM7, 3),  # 306 septets, but the escape is never split: 152 | 2+151 | 1
    ("é" * 160, GSM7, 1), ("àèìòùÉÇÑÜäöüßΔ@£$¥§¿¡", GSM7, 1),  # all in the GSM-7 basic set
    ("ç" * 70, UCS2, 1), ("ç" * 71, UCS2, 2), ("ç" * 134, UCS2, 2), ("ç" * 135, UCS2, 3),
    ("a" * 159 + "ã", UCS2, 3),  # one accent outside GSM-7 turns the whole text UCS-2
    ("😀" * 35, UCS2, 1), ("😀" * 67, UCS2, 3),  # two UTF-16 units each, never split: 33 a segment
])
def test_segments_are_counted_as_gsm_03_38_says(text, encoding, segments):
    message = count(text)
    assert (message.encoding, message.segments) == (encoding, segments)


def test_units_are_septets_in_gsm_7_and_utf16_units_in_ucs_2():
    assert count("a{b}").units == 6 and count("açb").units == 3 and count("a😀").units == 3


def test_transliteration_keeps_gsm_characters_and_drops_the_other_accents():
    assert transliterate("Atenção, Saúde, Méier, São Cristóvão – Ç à ü") == "Atencao, Saude, Méier, Sao Cristovao - Ç à ü"
    assert count(transliterate("ação ÍÊÕ “ok”")).encoding == GSM7


# ---- rendering -------------------------------------------------------------------------------

def test_a_portuguese_message_with_c_cedilla_is_ucs_2_and_transliterated_it_is_gsm_7(rio, names, zone):
    note = incident([zone("Méier")], rules=["landslide_risk"])
    plain = render(note, "pt-BR", names, rio)
    assert "ç" in plain.text and plain.encoding == UCS2
    assert plain.text.startswith("[ALERTA] Risco de deslizamento em Méier.")
    flat = render(note, "pt-BR", names, with_notify(rio, transliterate=True))
    assert flat.encoding == GSM7 and "Atencao" in flat.text and "Méier" in flat.text
    assert flat.segments < plain.segments


def test_a_forecast_says_how_soon_in_both_languages(rio, names, zone):
    note = incident([zone("Saúde")], rules=["rain_forecast_48h"], lead_time_s=3 * 3600)
    assert render(note, "pt-BR", names, rio).text.startswith("[ALERTA] Chuva forte prevista em 3 h em Saúde.")
    assert render(note, "en", names, rio).text.startswith("[WARNING] Heavy rain forecast in 3 h in Saúde.")
    soon = incident([zone("Saúde")], rules=["rain_forecast_48h"], lead_time_s=40 * 60, severity="critical")
    assert "prevista em 40 min em Saúde" in render(soon, "pt-BR", names, rio).text


@pytest.mark.parametrize("severity, word, words", [("advisory", "AVISO", "Chuva moderada"),
                                                   ("warning", "ALERTA", "Chuva forte"),
                                                   ("critical", "CRÍTICO", "Chuva muito forte"),
                                                   ("emergency", "EMERGÊNCIA", "Chuva extrema")])
def test_the_level_is_said_in_words_with_alerta_rios_rain_classes(rio, names, zone, severity, word, words):
    text = render(incident([zone("Copacabana")], severity), "pt-BR", names, rio).text
    assert text.startswith(f"[{word}] {words} em Copacabana.")


def test_the_advice_is_defesa_civils_and_stronger_from_critical_up(rio, names, zone):
    for topic in ("rain", "landslide", "heat"):
        assert ADVICE[topic]["pt-BR"] and ADVICE[topic]["en"] and URGENT[topic]["pt-BR"] and URGENT[topic]["en"]
    where = [zone("Rocinha")]
    assert render(incident(where, "warning", ["landslide_risk"]), "en", names, rio).text.endswith(
        ADVICE["landslide"]["en"])
    assert render(incident(where, "critical", ["landslide_risk"]), "en", names, rio).text.endswith(
        URGENT["landslide"]["en"])
    heat = render(incident([CITY_WIDE], "advisory", ["heat"]), "pt-BR", names, rio).text
    assert heat == f"[AVISO] Calor extremo em Rio de Janeiro. {ADVICE['heat']['pt-BR']}"


def test_bairros_are_named_and_a_long_list_is_shortened(rio, names, zone):
    five = [zone(n) for n in ("Copacabana", "Leme", "Ipanema", "Botafogo", "Urca")]
    pt = render(incident(five), "pt-BR", names, rio).text
    en = render(incident(five), "en", names, rio).text
    assert "em Copacabana, Leme e mais 3 bairros." in pt and "in Copacabana, Leme and 3 more neighbourhoods." in en
    three = render(incident(five[:3]), "pt-BR", names, rio).text
    assert "em Copacabana, Leme e Ipanema." in three
    assert places(["Copacabana", "Leme"], 1, "pt-BR") == "Copacabana e mais 1 bairro"
    assert not any(code in pt + en + three for code in five)  # names, never codes


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_the_segment_cap_holds_and_never_loses_the_level_or_the_main_bairro(rio, names, zone, cap):
    everywhere = [zone("Copacabana")] + [z for z in rio.zones.ids if z != zone("Copacabana")][:39]
    message = render(incident(everywhere, "critical", ["landslide_risk"]), "pt-BR", names, with_notify(rio,
                                                                                                      max_segments=cap))
    assert message.segments <= cap and message == count(message.text)
    assert message.text.startswith("[CRÍTICO] Risco de deslizamento em Copacabana")
    if cap == 1:  # the list and then the advice gave way
        assert message.text == "[CRÍTICO] Risco de deslizamento em Copacabana e mais 39 bairros."
    else:
        assert "Defesa Civil 199" in message.text


def test_a_template_too_long_for_the_cap_is_cut_at_its_end(rio, names, zone):
    long = rio.model_copy(update={"notify": rio.notify.model_validate(
        {"max_segments": 1, "templates": {"en": {"rain": "[{level}] {places}: " + "very long text " * 30}}})})
    message = render(incident([zone("Leme")]), "en", names, long)
    assert message.segments == 1 and message.text.startswith("[WARNING] Leme: very long") and \
        message.text.endswith("...")


def expected_topic(rule_id: str) -> str:
    for prefix, topic in (("rain", "rain"), ("siren", "rain"), ("landslide", "landslide"), ("wind", "wind"),
                          ("river", "flood"), ("heat", "heat"), ("air", "air"), ("traffic", "traffic"),
                          ("feed", "feed")):
        if rule_id.startswith(prefix):
            return topic
    raise AssertionError(f"no expected topic for {rule_id}")


@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_every_rio_rule_renders_in_both_languages_with_names_and_no_unknown_field(rio, names, zone, lang):
    for rule in rio.rules:
        assert topic_of(rule) == expected_topic(rule.id), rule.id
        where = [CITY_WIDE] if rule.scope == "city" or rule.feeds else [zone("Tijuca"), zone("Maracanã")]
        lead = 3 * 3600 if rule.forecast_kind else None
        severity = next(iter(rule.levels or rule.levels_from), "warning")
        trigger = [{"alert_id": "a-1", "rule": rule.id, "severity": severity, "zone_id": None,
                    "where": "feed simulator", "value": 1.0, "lead_time_s": lead}]
        for change in ("opened", "escalated", "resolved"):
            note = incident(where, severity, [rule.id], change, lead, trigger_alerts=trigger)
            message = render(note, lang, names, rio)
            assert message.segments <= rio.notify.max_segments and "{" not in message.text, (rule.id, message)
            assert not any(code in message.text for code in where if code != CITY_WIDE), message.text
            if change != "resolved":
                assert message.text.startswith(f"[{LEVEL[lang][severity]}]"), message.text
            if rule.feeds and change != "resolved":
                assert "feed simulator" in message.text
            elif where != [CITY_WIDE]:
                assert "Tijuca" in message.text and "Maracanã" in message.text
            if lead and change != "resolved":
                assert ("em 3 h" if lang == "pt-BR" else "in 3 h") in message.text


def test_stage_changes_and_reminders_render_in_both_languages(rio, names):
    up = {"kind": "stage", "level": 3, "previous": 2, "name": "attention", "at": AT}
    down = {**up, "level": 2, "previous": 3}
    assert render(up, "pt-BR", names, rio).text == "[COR] Rio de Janeiro entra no estágio 3 (atenção)."
    assert render(down, "en", names, rio).text == "[COR] Rio de Janeiro steps down to stage 2 (mobilisation)."
    reminder = {"kind": "reminder", "recipients": "primary", "alert_id": "a-1", "severity": "critical",
                "title": "critical rain at Gauge 4", "unacknowledged_for_s": 2700, "at": AT}
    assert render(reminder, "en", names, rio).text == "[REMINDER] CRITICAL unacknowledged for 45 min: critical rain " \
                                                      "at Gauge 4"
    assert set(TEMPLATES["pt-BR"]) == set(TEMPLATES["en"])


# ---- templates in the config ----------------------------------------------------------------

def config_with(tmp_path, notify_yaml: str) -> Path:
    """Rio's demo config with another `notify:` section (its other files linked beside it)."""
    for name in ("bairros.geojson", "rules.yaml", "alerta_rio_gauges.json"):
        (tmp_path / name).symlink_to(RIO.parent / name)
    path = tmp_path / "city.yaml"
    path.write_text(RIO.read_text(encoding="utf-8").split("\nnotify:")[0] + notify_yaml, encoding="utf-8")
    return path


def test_a_template_in_the_config_replaces_the_built_in_one(tmp_path, names, zone):
    settings = load_settings(config_with(tmp_path, '''
notify:
  templates:
    pt-BR:
      rain: "Defesa Civil: chuva {intensity} em {places} ({level})"
      landslide: "Deslizamento no estágio {stage:d} em {places}"
'''))
    assert render(incident([zone("Leme")]), "pt-BR", names, settings).text == "Defesa Civil: chuva forte em Leme " \
                                                                              "(ALERTA)"
    assert render(incident([zone("Leme")]), "en", names, settings).text.startswith("[WARNING] Heavy rain in Leme.")
    # a format that suits the sample but not an incident's fields: the built-in template, not a failed send
    landslide = render(incident([zone("Leme")], rules=["landslide_risk"]), "pt-BR", names, settings)
    assert landslide.text.startswith("[ALERTA] Risco de deslizamento em Leme.")


def test_a_template_naming_an_unknown_field_is_refused_when_the_config_is_loaded(tmp_path):
    path = config_with(tmp_path, '''
notify:
  max_segments: 0
  min_severity: {janitor: warning}
  templates:
    en:
      rain: "Rain in {bairro}"
      snow: "Snow in {places}"
''')
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    lines = path.read_text().splitlines()
    problems = refused.value.problems

    def line_of(text):
        return lines.index(next(line for line in lines if text in line)) + 1

    assert f"{path}:{line_of('rain: ')}: notify.templates.en.rain: Value error, unknown field {{bairro}}" in \
        "\n".join(problems)
    assert any(p.startswith(f"{path}:{line_of('snow:')}: notify.templates.en.snow") for p in problems)
    assert any(p.startswith(f"{path}:{line_of('max_segments')}: notify.max_segments") for p in problems)
    assert any(p.startswith(f"{path}:{line_of('janitor')}: notify.min_severity.janitor") for p in problems)


def test_rios_configs_carry_the_notify_section_with_its_defaults(rio):
    live = load_settings(RIO.parent / "live.yaml")
    for settings in (rio, live):
        notify = settings.notify
        assert (notify.approval_over, notify.max_segments, notify.transliterate, notify.per_recipient_per_hour) == (
            500, 3, False, 10)
        assert [notify.min_severity.oncall, notify.min_severity.agent, notify.min_severity.community,
                notify.min_severity.subscriber] == ["advisory", "warning", "warning", "critical"]
    assert "\nnotify:" in RIO.read_text() and "\nnotify:" in (RIO.parent / "live.yaml").read_text()


# ---- webhook bodies -------------------------------------------------------------------------

def test_a_webhook_body_carries_the_transition_zones_with_codes_and_names_utc_times_and_its_public_alerts_cap(names,
                                                                                                          zone):
    note = incident([zone("Saúde")], "critical", ["rain_forecast_48h"], lead_time_s=3 * 3600,
                    trigger_alerts=[{"alert_id": "a-9", "rule": "rain_forecast_48h", "severity": "critical",
                                     "zone_id": zone("Saúde"), "where": "Saúde", "value": 55.0,
                                     "lead_time_s": 3 * 3600, "summary": "55 mm", "started_at": AT}])
    body = webhook_body({**note, "zone_ids": [zone("Saúde"), zone("Gamboa")]}, names)
    assert body["type"] == "incident.opened" and body["transition"] == "opened" and body["severity"] == "critical"
    assert body["zones"] == [{"code": zone("Saúde"), "name": "Saúde", "severity": "critical"}]
    assert [z["name"] for z in body["incident"]["zones"]] == ["Saúde", "Gamboa"]
    assert body["at"] == "2010-04-05T18:00:00Z" and body["expected_at"] == "2010-04-05T21:00:00Z"
    assert body["alerts"][0]["started_at"] == "2010-04-05T18:00:00Z" and body["alerts"][0]["zone"]["name"] == "Saúde"
    assert body["cap_url"] is None and "cap_url" in body  # no public URL known
    assert webhook_body(note, names, "https://cor.example")["cap_url"] is None  # an internal alert has no CAP
    public = {**note, "trigger_alerts": [{**note["trigger_alerts"][0], "public": True}]}
    linked = webhook_body(public, names, "https://cor.example/")
    assert linked["cap_url"] == linked["alerts"][0]["cap_url"] == "https://cor.example/api/public/alerts/a-9.cap"
    stage = webhook_body({"id": "n-2", "kind": "stage", "level": 4, "previous": 3, "name": "alert", "at": AT}, names)
    assert stage["type"] == "stage.changed" and stage["transition"] == "raised" and stage["stage"]["level"] == 4
    assert stage["cap_url"] is None and stage["at"] == "2010-04-05T18:00:00Z"
