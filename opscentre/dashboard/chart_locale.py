"""The console's charts in the user's language: plotly.js writes a date axis's ticks ("Dec 7",
"Mon"), a date hover (`%{x|%d %b}`) and a number's decimal sign from a locale; with none it is
American English. Each dcc.Graph is given its viewer's language and that language's locale
*with the plot* (`config.locales`, which dcc.Graph passes to plotly.js as it is), so there is no
locale script to load: nothing for the CSP (same-origin scripts only) to allow, nothing on the
page to register first, and no copy of plotly's locale files to drift from the catalogue.

The locale's format is Babel's CLDR data for the language (opscentre.i18n.LANGUAGES): day and
month names, the decimal and group signs, and the tick patterns plotly asks for by name —
`dayMonth` ("7 de dez." in pt-BR, "7. dec." in Danish, "Dec 7" in English), `month`, `year`,
`dayMonthYear` — from the CLDR skeletons, rewritten as d3 time formats. Its dictionary is
plotly's two tips (a zoom, a legend click) through the catalogue.

    dcc.Graph(figure=..., config=graph_config(t, displayModeBar=False))
"""

from __future__ import annotations

import functools
import re
from typing import Any

from babel import Locale
from babel.dates import get_day_names, get_month_names, get_period_names
from babel.numbers import get_decimal_symbol, get_group_symbol

from opscentre.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, Translator, normalise, translator

# plotly.js's own strings a chart of ours can show (its mode bar is hidden everywhere)
TIPS = (N_("Double-click to zoom back out"), N_("Double-click on legend to isolate one trace"))

# CLDR date-pattern fields -> d3 time format (github.com/d3/d3-time-format, as plotly.js reads it)
FIELDS = {"y": "%Y", "yyyy": "%Y", "yy": "%y", "MMMM": "%B", "MMM": "%b", "MM": "%m", "M": "%-m",
          "LLLL": "%B", "LLL": "%b", "LL": "%m", "L": "%-m", "dd": "%d", "d": "%-d",
          "EEEE": "%A", "EEE": "%a", "HH": "%H", "H": "%-H", "hh": "%I", "h": "%-I",
          "mm": "%M", "m": "%-M", "ss": "%S", "s": "%-S", "a": "%p"}
TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+")


def d3_format(pattern: str) -> str:
    """A CLDR date pattern ("d 'de' MMM 'de' y") as a d3 time format ("%-d de %b de %Y"); a field
    we do not know raises ValueError (tests/dashboard/test_chart_locale.py reads every language)."""
    out = []
    for match in TOKEN.finditer(pattern):
        text = match.group(0)
        if text.startswith("'"):
            out.append("'" if text == "''" else text[1:-1].replace("''", "'").replace("%", "%%"))
        elif match.group(1):
            if text not in FIELDS:
                raise ValueError(f"CLDR field {text!r} in {pattern!r} has no d3 format")
            out.append(FIELDS[text])
        else:
            out.append(text.replace("%", "%%"))
    return "".join(out)


@functools.cache
def locale_format(lang: str) -> dict[str, Any]:
    """plotly.js's `format` of a language (pure, from Babel's CLDR data): the names Sunday first."""
    code = LANGUAGES.get(lang, LANGUAGES[SOURCE_LANGUAGE])
    cldr = Locale.parse(code)

    def week(width: str) -> list[str]:
        names = get_day_names(width, "format", code)  # 0 = Monday
        return [names[(i + 6) % 7] for i in range(7)]

    def year(width: str) -> list[str]:
        names = get_month_names(width, "format", code)  # 1 = January
        return [names[i] for i in range(1, 13)]

    periods = get_period_names("abbreviated", "format", code)
    date, time = d3_format(cldr.date_formats["short"].pattern), d3_format(cldr.time_formats["medium"].pattern)
    return {
        "days": week("wide"), "shortDays": week("abbreviated"),
        "months": year("wide"), "shortMonths": year("abbreviated"),
        "periods": [periods.get("am", "AM"), periods.get("pm", "PM")],
        "date": date, "time": time, "dateTime": str(cldr.datetime_formats["medium"]).format(time, date),
        "decimal": get_decimal_symbol(code), "thousands": get_group_symbol(code), "grouping": [3],
        # the tick patterns plotly.js picks by the axis's span
        "year": d3_format(cldr.datetime_skeletons["y"].pattern),
        "month": d3_format(cldr.datetime_skeletons["yMMM"].pattern),
        "dayMonth": d3_format(cldr.datetime_skeletons["MMMd"].pattern),
        "dayMonthYear": d3_format(cldr.datetime_skeletons["yMMMd"].pattern),
    }


def plotly_locale(lang: str) -> dict[str, Any]:
    """A language's plotly.js locale (its `config.locales` entry): the format and the tips."""
    t = translator(lang)
    return {"format": locale_format(t.lang), "dictionary": {tip: t.gettext(tip) for tip in TIPS}}


def graph_config(language: Translator | str | None, **config: Any) -> dict[str, Any]:
    """A dcc.Graph's `config` in a language (a Translator or a tag; unknown: English), `config`
    besides. The locale is named after the language tag; it is sent with each graph."""
    lang = language.lang if isinstance(language, Translator) else (normalise(language) or SOURCE_LANGUAGE)
    return {**config, "locale": lang, "locales": {lang: plotly_locale(lang)}}
