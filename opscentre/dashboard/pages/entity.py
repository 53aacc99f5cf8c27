"""An entity's page (`/entity/<entity_id>`, opened by a click on its point on the map): per kind
it has, its last 24 h as a chart (core/entity_history.py: the history streams, in data time),
with the levels of the rules that judge it drawn as horizontal lines (a river station's own
thresholds among them), times in the city's zone; and its open alerts. Read once per draw.

The map's click: a gauge, river station or road segment carries its entity id as its point's
customdata (the last item of a row); a zone aggregate (layers/lod.py, a big layer at city zoom)
carries none, so a click on it goes nowhere — zoom in to reach a point. The click sets the
router's dcc.Location, so the page opens without a reload and the browser's Back returns to the map.
Only from the map page: the wall (/wall) draws the same map, and is not left by a click.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote, unquote

from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from opscentre.core.entity_history import EntityDay, KindDay, entity_day
from opscentre.core.models import KINDS
from opscentre.dashboard import ids
from opscentre.dashboard.chart_locale import graph_config
from opscentre.dashboard.components.status_bar import severity_word
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator
from opscentre.layers.base import local_label

MAX_ID = 200  # as an entity id may be (core/models.py)
PATH = "/entity/"
LEVEL_COLOURS = {"advisory": "#8fd0ff", "warning": "#f2b01b", "critical": "#ff8a3d", "emergency": "#ff5a4f"}
TEXT = {
    "unknown_title": N_("No such entity"),
    "unknown": N_("There is no entity {id} in this city's registry."),
    "unreachable": N_("Redis unreachable — try again shortly."),
    "back": N_("Back to the map"),
    "day": N_("Last 24 hours"),
    "no_kinds": N_("No readings of this entity are stored."),
    "no_readings": N_("No reading in the last 24 hours."),
    "time_axis": N_("Time ({zone})"),
    "reading": N_("Reading"),
    "level": N_("{rule} · {severity} {op} {value}"),
    "not_drawn": N_("Not drawn (they compare a window's sum, mean or rate, not a reading): {rules}"),
    "no_levels": N_("No rule judges these readings."),
    "alerts": N_("Open alerts"),
    "no_alerts": N_("No open alert on this entity."),
    "since": N_("since {when}"),
    "where": N_("{type} · {zone}"),
    "kinds": {"rain_mm": N_("Rain in 15 minutes"), "rain_1h_mm": N_("Rain in the last hour"),
              "rain_24h_mm": N_("Rain in the last 24 hours"), "rain_96h_mm": N_("Rain in the last 96 hours"),
              "river_level_m": N_("River level"), "river_discharge_m3s": N_("River discharge"),
              "traffic_speed_kmh": N_("Speed"), "jam_level": N_("Congestion level (0 free to 5 standstill)"),
              "wind_speed_ms": N_("Wind speed"), "air_temp_c": N_("Air temperature"), "aqi": N_("Air quality index")},
    "types": {"rain_gauge": N_("rain gauge"), "river_station": N_("river station"),
              "road_segment": N_("road segment"), "weather_station": N_("weather station"),
              "air_quality_station": N_("air quality station"), "zone": N_("zone"), "city": N_("city"),
              "grid_area": N_("grid area"), "transit_route": N_("transit route")},
}


def clicked_entity(click: Any) -> str | None:
    """The entity id a map click landed on (a marker's customdata, or its row's last item), or
    None: a zone aggregate, a bairro (an area: no lat/lon, its customdata is its hover), nothing."""
    try:
        point = click["points"][0]
    except (TypeError, KeyError, IndexError):
        return None
    if not isinstance(point, Mapping) or "lat" not in point or "lon" not in point:
        return None
    data = point.get("customdata")
    if isinstance(data, list):
        data = data[-1] if data else None
    return data if isinstance(data, str) and 0 < len(data) <= MAX_ID else None


def entity_path(entity_id: str) -> str:
    return PATH + quote(entity_id, safe="")


def local_iso(ts: float, tz: tzinfo) -> str:
    """A time as plotly reads a date: the city's wall clock, no offset (the axis title names the zone)."""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def chart_figure(day: KindDay, start: float, end: float, tz: tzinfo, t: Translator) -> dict[str, Any]:
    """One kind's chart (pure): the readings as a line, each level a horizontal line across the day."""
    x0, x1 = local_iso(start, tz), local_iso(end, tz)
    traces = [{"type": "scatter", "mode": "lines+markers", "name": t.gettext(TEXT["reading"]),
               "x": [local_iso(ts, tz) for ts in day.times], "y": day.values,
               "line": {"color": "#5cc8ff", "width": 2}, "marker": {"size": 4},
               "hovertemplate": "%{x|%d %b %H:%M}: %{y} " + day.unit + "<extra></extra>",
               "meta": {"role": "reading"}}]
    for level in day.levels:
        label = t.gettext(TEXT["level"]).format(rule=level.rule, severity=severity_word(t, level.severity),
                                                op=level.op, value=f"{level.value:g}")
        traces.append({"type": "scatter", "mode": "lines", "name": label, "x": [x0, x1], "y": [level.value] * 2,
                       "line": {"color": LEVEL_COLOURS.get(level.severity, "#8fa1b9"), "width": 1.5, "dash": "dash"},
                       "hovertemplate": label + "<extra></extra>",
                       "meta": {"role": "level", "rule": level.rule, "severity": level.severity}})
    zone = getattr(tz, "key", None) or str(tz)
    return {"data": traces, "layout": {
        "xaxis": {"range": [x0, x1], "type": "date", "title": {"text": t.gettext(TEXT["time_axis"]).format(zone=zone)},
                  "gridcolor": "#24344d"},
        "yaxis": {"title": {"text": day.unit}, "gridcolor": "#24344d", "rangemode": "tozero"},
        "margin": {"l": 60, "r": 20, "t": 10, "b": 50}, "height": 300,
        "paper_bgcolor": "#0d1726", "plot_bgcolor": "#0a1422", "font": {"color": "#e6edf3"},
        "legend": {"orientation": "h", "y": -0.25}, "showlegend": True,
        "meta": {"start": start, "end": end, "zone": zone}}}


def alert_items(alerts: Iterable[Mapping[str, Any]], entity_id: str, tz: tzinfo, t: Translator) -> list[Any]:
    rows = []
    for alert in alerts:
        if alert.get("entity_id") != entity_id:
            continue
        try:
            since = datetime.fromisoformat(str(alert.get("started_at") or alert.get("since"))).timestamp()
            when = t.gettext(TEXT["since"]).format(when=local_label(since, tz, t))
        except ValueError:
            when = ""
        rows.append(html.Li([html.Span(severity_word(t, alert["severity"]),
                                       className=f"incident-severity severity-{alert['severity']}"), " ",
                             html.Span(alert.get("summary") or alert.get("rule") or "", className="entity-alert-text"),
                             " · ", html.Span(when, className="incident-when")],
                            className="entity-alert", **{"data-alert": alert["id"]}))
    return [html.Ul(rows, className="entity-alerts")] if rows else [html.P(t.gettext(TEXT["no_alerts"]),
                                                                          className="incident-none")]


def kind_section(day: KindDay, entity_day_: EntityDay, tz: tzinfo, t: Translator) -> html.Section:
    spec = KINDS.get(day.kind)
    name = t.gettext(TEXT["kinds"][day.kind]) if day.kind in TEXT["kinds"] else spec.description if spec else day.kind
    title = f"{name} ({day.unit})" if day.unit else name
    notes = []
    if not day.values:
        notes.append(html.P(t.gettext(TEXT["no_readings"]), className="entity-note"))
    if not day.levels:
        notes.append(html.P(t.gettext(TEXT["no_levels"]), className="entity-note"))
    if day.not_drawn:
        notes.append(html.P(t.gettext(TEXT["not_drawn"]).format(rules=", ".join(day.not_drawn)),
                            className="entity-note"))
    figure = chart_figure(day, entity_day_.start, entity_day_.end, tz, t)
    return html.Section([
        html.H2(title, className="panel-title"),
        dcc.Graph(id=f"{ids.ENTITY_CHART}-{day.kind}", figure=figure, className="entity-chart",
                  config=graph_config(t, displaylogo=False, displayModeBar=False, responsive=True)),
        *notes,
    ], className="entity-section", **{"data-kind": day.kind})


def layout(console: Console, viewer: Viewer, param: str = "") -> html.Div:
    t, tz = viewer.t, console.settings.tz
    entity_id = unquote(param)[:MAX_ID]
    back = dcc.Link(t.gettext(TEXT["back"]), href="/", className="page-back")
    try:
        entity = console.store.entities().get(entity_id)
        if entity is None:
            return page_shell(console, viewer, [], [html.P(t.gettext(TEXT["unknown"]).format(id=entity_id),
                                                           id=ids.ENTITY_UNKNOWN), back],
                              t.gettext(TEXT["unknown_title"]))
        day = entity_day(console.store.redis, {**entity, "entity_id": entity_id}, console.settings.rules, time.time())
        alerts = console.alerts.active()
    except REDIS_DOWN:
        return page_shell(console, viewer, [], [html.P(t.gettext(TEXT["unreachable"]), className="status-error"),
                                                back], entity_id)
    kind_type = entity.get("entity_type") or ""
    type_word = t.gettext(TEXT["types"][kind_type]) if kind_type in TEXT["types"] else kind_type
    zone_id = entity.get("zone_id")
    zone = console.settings.zones.name_by_id.get(zone_id, zone_id or "")
    main = [
        html.P(t.gettext(TEXT["where"]).format(type=type_word, zone=zone).rstrip(" ·"), className="entity-summary",
               **{"data-entity": entity_id}),
        html.Div([
            html.Div([html.H2(t.gettext(TEXT["day"]), className="page-subtitle"),
                      *([kind_section(d, day, tz, t) for d in day.kinds]
                        or [html.P(t.gettext(TEXT["no_kinds"]), className="entity-note")])],
                     className="entity-charts"),
            html.Section([html.H2(t.gettext(TEXT["alerts"]), className="panel-title"),
                          html.Div(alert_items(alerts, entity_id, tz, t), id=ids.ENTITY_ALERTS)],
                         className="entity-section entity-alerts-section"),
        ], className="entity-columns"),
        back,
    ]
    return page_shell(console, viewer, [], main, entity.get("name") or entity_id)


def register(app: Dash, console: Console) -> None:
    # (from the map page only: the wall's map is the same graph, and a wall is not left by a stray click)
    @app.callback(Output(ids.URL, "pathname", allow_duplicate=True), Input(ids.MAP, "clickData"),
                  State(ids.URL, "pathname"), prevent_initial_call=True)
    def open_entity(click, path):
        entity_id = clicked_entity(click)
        if entity_id is None or path not in (None, "", "/"):
            raise PreventUpdate
        return entity_path(entity_id)


PAGE = Page(PATH, None, layout, register)
