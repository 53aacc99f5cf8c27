"""A dcc.Graph's locale (dashboard/chart_locale.py): plotly.js's format of each language the app
speaks, from Babel's CLDR data — names Sunday and January first, the number signs, the tick
patterns rewritten as d3 time formats — and plotly's tips through the catalogue."""

from __future__ import annotations

import pytest

from opscentre.dashboard.chart_locale import TIPS, d3_format, graph_config, locale_format
from opscentre.i18n import LANGUAGES, translator


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_language_has_a_whole_plotly_format(lang):
    found = locale_format(lang)  # a CLDR field with no d3 format would raise
    assert len(found["days"]) == len(found["shortDays"]) == 7
    assert len(found["months"]) == len(found["shortMonths"]) == 12
    for key in ("date", "time", "dateTime", "year", "month", "dayMonth", "dayMonthYear"):
        assert "%" in found[key] and "'" not in found[key], (lang, key, found[key])


def test_portuguese_writes_the_day_first_with_its_own_names_and_signs():
    pt = locale_format("pt-BR")
    assert pt["days"][0] == "domingo" and pt["shortDays"][1] == "seg."
    assert pt["shortMonths"][0] == "jan." and pt["shortMonths"][11] == "dez."
    assert (pt["dayMonth"], pt["dayMonthYear"], pt["date"]) == ("%-d de %b", "%-d de %b de %Y", "%d/%m/%Y")
    assert (pt["decimal"], pt["thousands"]) == (",", ".")


def test_danish_and_english_keep_their_own_order():
    da, en = locale_format("da"), locale_format("en")
    assert (da["dayMonth"], da["shortMonths"][4], da["shortDays"][0]) == ("%-d. %b", "maj", "søn.")
    assert (en["dayMonth"], en["dayMonthYear"], en["shortMonths"][11], en["decimal"]) == ("%b %-d", "%b %-d, %Y",
                                                                                         "Dec", ".")


def test_cldr_quotes_and_percent_signs_are_literal_text():
    assert d3_format("d 'de' MMM 'de' y") == "%-d de %b de %Y"
    assert d3_format("h 'o''clock' a") == "%-I o'clock %p"
    assert d3_format("d'%'") == "%-d%%"
    with pytest.raises(ValueError):
        d3_format("QQQ y")  # a quarter: no d3 format


def test_a_graph_config_names_the_viewers_locale_and_carries_it():
    config = graph_config(translator("pt-BR"), displayModeBar=False)
    assert config["displayModeBar"] is False and config["locale"] == "pt-BR"
    assert config["locales"]["pt-BR"]["format"] == locale_format("pt-BR")
    tips = config["locales"]["pt-BR"]["dictionary"]
    assert set(tips) == set(TIPS) and all(tips[tip] != tip for tip in TIPS)  # translated
    assert graph_config("xx")["locale"] == "en" and graph_config(None)["locale"] == "en"
    assert graph_config("pt_br")["locale"] == "pt-BR"
