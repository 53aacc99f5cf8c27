"""The public page's Dash components, drawn from the models of texts.py / bairro.py. Every
string comes from the catalogue; colour is never the only sign (stage and alerts carry an icon
and words, the legend names every colour, the bairros with alerts are listed in words)."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from opscentre.core.settings import Settings
from opscentre.dashboard.public_pages import ids as pids
from opscentre.i18n import LANGUAGE_NAMES, LANGUAGES, Translator
from opscentre.layers import LAYERS
from opscentre.layers.city_legends import city_legend

OPEN_DATA_LAYERS = ("zones", "warnings", "rain_gauges", "rivers", "traffic", "outages", "air_quality", "transit")


def header(settings: Settings, t: Translator, simulated: bool) -> html.Header:
    switch = [html.A(LANGUAGE_NAMES[lang], href=f"?lang={lang}", lang=lang, hrefLang=lang,
                     className="public-lang" + (" public-lang-current" if lang == t.lang else ""),
                     **({"aria-current": "true"} if lang == t.lang else {}))
              for lang in LANGUAGES]
    parts: list[Any] = [
        html.A(t.gettext("Skip to the map"), href=f"#{pids.MAP_SECTION}", className="public-skip"),
        html.Div([html.H1(settings.city.name, className="public-city"),
                  html.Span(t.gettext("Public view of the city operations centre"), className="public-sub")],
                 className="public-brand"),
        html.Nav(switch, className="public-langs", **{"aria-label": t.gettext("Language")}),
    ]
    if simulated:
        parts.append(html.P(t.gettext("SIMULATED DATA — not real observations"), className="public-simulated",
                            role="status"))
    return html.Header(parts, className="public-header")


def stage_card(model: dict[str, Any] | None) -> list[Any]:
    if model is None:
        return []
    return [
        html.H2(model["heading"], className="public-h2"),
        html.Div([
            html.Span(model["icon"], className="public-stage-icon", **{"aria-hidden": "true"}),
            html.Div([html.Div(model["of"], className="public-stage-of"),
                      html.Div(model["name"], className="public-stage-name")]),
        ], className=f"public-stage-badge public-stage-{model['level']}",
            style={"borderColor": model["colour"], "backgroundColor": model["colour"]}),
        html.P(model["meaning"], className="public-stage-meaning"),
    ]


def alert_item(model: dict[str, Any], t: Translator) -> html.Li:
    body: list[Any] = [
        html.Div([html.Span(model["icon"], className="public-alert-icon", **{"aria-hidden": "true"}),
                  html.Strong(model["headline"])], className="public-alert-head",
                 style={"borderLeftColor": model["colour"]}),
    ]
    if model["advice"]:
        body.append(html.P([html.Strong(t.gettext("What to do:") + " "), model["advice"]], className="public-advice"))
    if model["since"]:
        body.append(html.Div(model["since"], className="public-since"))
    return html.Li(body, className=f"public-alert public-alert-{model['severity']}")


def alerts_list(model: dict[str, Any], t: Translator) -> list[Any]:
    alerts = model["alerts"]
    title = t.gettext("Alerts now")
    if not model["reachable"]:
        return [html.H2(title, className="public-h2"), html.P(model["updated"], className="public-empty")]
    if not alerts:
        return [html.H2(title, className="public-h2"),
                html.P(t.gettext("No public alerts right now."), className="public-empty")]
    count = t.ngettext("{n} alert", "{n} alerts", len(alerts)).format(n=len(alerts))
    return [html.H2(f"{title} · {count}", className="public-h2"),
            html.Ul([alert_item(a, t) for a in alerts], className="public-alert-list")]


def bairro_search(settings: Settings, t: Translator) -> html.Section:
    names = sorted(settings.zones.name_by_id.values(), key=str.casefold)
    return html.Section([
        html.H2(html.Label(t.gettext("Is my neighbourhood affected?"), htmlFor=pids.BAIRRO_INPUT),
                className="public-h2"),
        html.Div([
            dcc.Input(id=pids.BAIRRO_INPUT, type="search", list=pids.BAIRRO_NAMES, autoComplete="off",
                      placeholder=t.gettext("Type your neighbourhood"), maxLength=80, debounce=True,
                      className="public-bairro-input"),
            html.Button(t.gettext("Search"), id=pids.BAIRRO_BUTTON, type="button", className="public-button"),
        ], className="public-bairro-row"),
        html.Datalist([html.Option(value=name) for name in names], id=pids.BAIRRO_NAMES),
        html.Div(id=pids.BAIRRO_ANSWER, className="public-bairro-answer", role="status", **{"aria-live": "polite"}),
    ], className="public-card public-bairro", **{"aria-label": t.gettext("Is my neighbourhood affected?")})


def bairro_result(answer: dict[str, Any], alerts: list[dict[str, Any]], t: Translator) -> list[Any]:
    if answer["kind"] == "empty":
        return []
    parts: list[Any] = [html.P(answer["text"], className=f"public-answer public-answer-{answer['kind']}")]
    if answer["suggestions"]:
        parts.append(html.P(t.gettext("Did you mean: {names}?").format(names=", ".join(answer["suggestions"])),
                            className="public-suggest"))
    shown = [a for a in alerts if a["id"] in answer["alert_ids"]]
    if shown:
        parts.append(html.Ul([alert_item(a, t) for a in shown], className="public-alert-list"))
    return parts


def zones_with_alerts(model: dict[str, Any], t: Translator) -> list[Any]:
    title = html.H3(t.gettext("Neighbourhoods with alerts"), className="public-h3")
    if not model["zones"]:
        return [title, html.P(t.gettext("None"), className="public-empty")]
    return [title, html.Ul([html.Li(f"{name} — {level}") for name, level in model["zones"]],
                           className="public-zone-list")]


def legend(layer_ids: list[str], t: Translator, city: Any = None) -> html.Details:
    """The map's legend with every colour named; the shape of a swatch tells areas, lines and dots.
    In the city's vocabulary (`city`: settings.city — its air-quality index, its rain classes)."""
    sections = []
    for layer_id in layer_ids:
        title, fields, entries = city_legend(layer_id, getattr(city, "air_quality_scale", None),
                                             getattr(city, "rain_classes", None))
        sections.append(html.Div([
            html.H4(t.gettext(title).format(**fields) if fields else t.gettext(title),
                    className="public-legend-title"),
            html.Ul([html.Li([html.Span(className=f"swatch swatch-{entry.shape}", style={"backgroundColor": entry.colour},
                                        **{"aria-hidden": "true"}), t.gettext(entry.label)])
                     for entry in entries], className="public-legend-list"),
        ], className="public-legend-section", **{"data-layer": layer_id}))
    return html.Details([html.Summary(t.gettext("Map legend")), *sections], className="public-legend")


def open_data(t: Translator) -> html.Section:
    layers = [html.Li(html.A(f"{t.gettext(LAYERS[layer].label)} (GeoJSON)", href=f"/api/public/layers/{layer}.geojson"))
              for layer in OPEN_DATA_LAYERS if layer in LAYERS and LAYERS[layer].public]
    return html.Section([
        html.H2(t.gettext("Open data"), className="public-h2"),
        html.P(t.gettext("The same alerts and layers, for apps, newsrooms and GIS:"), className="public-note"),
        html.Ul([
            html.Li(html.A(t.gettext("Alerts: CAP 1.2 messages, Atom feed"), href="/api/public/alerts.atom")),
            html.Li(html.A(t.gettext("City status (JSON)"), href="/api/public/status.json")),
            html.Li(html.A(t.gettext("OGC API – Features (QGIS, GDAL)"), href="/api/public/ogc/")),
            html.Li([html.Span(t.gettext("Map layers:")), html.Ul(layers)]),
        ], className="public-open-data-list"),
    ], className="public-card public-open-data")
