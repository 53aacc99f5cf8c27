"""Wall mode (`/wall`): the city for a room's video wall — no header, links or forms; large type;
the stage (its colour, level, name and since when, in the city's time zone), the console's live
map, and a side panel that cycles between the top incidents (worst first), the open alerts by
severity and the feeds' health. Reading only; it needs a signed-in user like every page (a
viewer account on the wall's PC).

Built to run for days. The map is the console's own (`Console.live`: the same figure, the same
tick sending Patches of only what changed); the stage and the panels are one small JSON-able model
read from the same operator status on the same tick and redrawn only when it changed. The cycling
is a class on the side panel set in the browser (assets/wall.js): it rebuilds nothing, the map
least of all. Its period is CYCLE_S, or `?cycle=SECONDS` on the URL (1 s at least). The wall
reloads itself every 6 h (`?reload=HOURS`, 0: never; assets/wall.js says why and when not).
`opscentre bench wall` measures the browser's heap over time (bench/wall.py).

The map's tick also writes the status bar and the alerts panel (live_map.py), so the page holds
them, hidden: a callback whose outputs are only partly on the page is an error in the browser.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

import orjson
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from opscentre.core.errors import StoreUnavailable
from opscentre.dashboard import ids
from opscentre.dashboard.components.incident_panel import age_text
from opscentre.dashboard.components.status_bar import severity_word
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.pages.frame import Console, Page, Viewer
from opscentre.dashboard.pages.map import OPS_LAYERS
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator
from opscentre.i18n.vocabulary import STAGE_ICONS, STAGES
from opscentre.layers.base import local_label
from opscentre.layers.stages import stage_colour

CYCLE_S = 20
PANELS = ("incidents", "alerts", "feeds")  # the side panel's order (assets/wall.js cycles len(PANELS))
MAX_INCIDENTS = 5
MAX_FEEDS_NAMED = 6
SEVERITY_ORDER = ("emergency", "critical", "warning", "advisory")
FEED_ORDER = ("failing", "stale", "degraded", "unknown", "ok")
TEXT = {
    "title": N_("Wall"),
    "stage": N_("Stage {level} · {name}"),
    "since": N_("since {time}"),
    "since_unknown": N_("since the centre started"),
    "incidents": N_("Top incidents"),
    "no_incidents": N_("No open incidents"),
    "more": N_("+{n} more"),
    "alerts": N_("Open alerts by severity"),
    "no_alerts": N_("No open alerts"),
    "pending": N_("{n} pending"),
    "feeds": N_("Feed health"),
    "feeds_healthy": N_("{healthy} of {total} feeds healthy"),
    "unreachable": N_("Redis unreachable — reconnecting"),
    "map": N_("City map"),
    "feed_state": {"ok": N_("ok"), "degraded": N_("degraded"), "failing": N_("failing"), "stale": N_("stale"),
                   "unknown": N_("unknown")},
}


def since_ts(since: Any) -> float | None:
    """The stage record's `since` (ISO 8601 UTC, or unix seconds) as unix seconds."""
    if since is None or since == "":
        return None
    if isinstance(since, int | float):
        return float(since)
    try:
        return datetime.fromisoformat(str(since).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def wall_model(stage: Mapping[str, Any], incidents: Iterable[Mapping[str, Any]],
               alerts: Iterable[Mapping[str, Any]], feeds: Mapping[str, Mapping[str, Any]],
               now: float) -> dict[str, Any]:
    """What the wall shows (pure, in no language): the stage, the worst incidents first (the
    operator status lists them so), the open alerts counted by severity, and the feeds by status
    with the unhealthy ones named."""
    incidents = list(incidents)
    counts: dict[str, dict[str, int]] = {}
    for alert in alerts:
        severity = str(alert.get("severity") or "advisory")
        state = "pending" if alert.get("state") == "pending" else "firing"
        counts.setdefault(severity, {"firing": 0, "pending": 0})[state] += 1
    known = [s for s in SEVERITY_ORDER if s in counts] + sorted(s for s in counts if s not in SEVERITY_ORDER)
    counted = {f: v for f, v in feeds.items() if v.get("status") != "disabled"}
    rank = {s: i for i, s in enumerate(FEED_ORDER)}
    unhealthy = sorted(((f, str(v.get("status"))) for f, v in counted.items() if v.get("status") != "ok"),
                       key=lambda fs: (rank.get(fs[1], len(FEED_ORDER)), fs[0]))
    return {
        "stage": {"level": int(stage.get("level") or 1), "name": stage.get("name") or "",
                  "since": since_ts(stage.get("since"))},
        "incidents": [{"id": i["id"], "severity": i["severity"], "where": ", ".join(i.get("zones") or [])[:80],
                       "alerts": int(i.get("alerts") or 0),
                       "age_s": int(max(0.0, now - float(i["opened_at"])) // 60 * 60)}
                      for i in incidents[:MAX_INCIDENTS]],
        "more_incidents": max(0, len(incidents) - MAX_INCIDENTS),
        "alerts": [{"severity": s, **counts[s]} for s in known],
        "feeds": {"healthy": len(counted) - len(unhealthy), "total": len(counted),
                  "unhealthy": [list(fs) for fs in unhealthy[:MAX_FEEDS_NAMED]]},
    }


def stage_children(model: Mapping[str, Any], tz: tzinfo, t: Translator) -> list[Any]:
    if model.get("unreachable"):
        return [html.Span(t.gettext(TEXT["unreachable"]), className="wall-stage-name", role="alert")]
    stage = model["stage"]
    level = stage["level"]
    name = t.gettext(STAGES[level][0]) if level in STAGES else stage["name"]
    since = (t.gettext(TEXT["since"]).format(time=local_label(stage["since"], tz, t)) if stage["since"] is not None
             else t.gettext(TEXT["since_unknown"]))
    return [html.Span(STAGE_ICONS.get(level, ""), className="wall-stage-icon", **{"aria-hidden": "true"}),
            html.Span(t.gettext(TEXT["stage"]).format(level=level, name=name), className="wall-stage-name"),
            html.Span(since, className="wall-stage-since")]


def stage_style(model: Mapping[str, Any]) -> dict[str, str]:
    level = None if model.get("unreachable") else model["stage"]["level"]
    return {"backgroundColor": stage_colour(level) if level else "#555"}


def incidents_panel(model: Mapping[str, Any], t: Translator) -> list[Any]:
    rows = model.get("incidents") or []
    if not rows:
        return [html.P(t.gettext(TEXT["no_incidents"]), className="wall-none")]
    items = [html.Li([
        html.Span(severity_word(t, r["severity"]), className=f"wall-severity severity-{r['severity']}"),
        html.Span(r["where"], className="wall-where"),
        html.Span(t.ngettext("{n} alert · opened {age} ago", "{n} alerts · opened {age} ago", r["alerts"])
                  .format(n=r["alerts"], age=age_text(r["age_s"], t)),
                  className="wall-detail"),
    ], className="wall-item", **{"data-incident": r["id"]}) for r in rows]
    more = ([html.P(t.gettext(TEXT["more"]).format(n=model["more_incidents"]), className="wall-detail")]
            if model.get("more_incidents") else [])
    return [html.Ol(items, className="wall-list"), *more]


def alerts_panel(model: Mapping[str, Any], t: Translator) -> list[Any]:
    rows = model.get("alerts") or []
    if not rows:
        return [html.P(t.gettext(TEXT["no_alerts"]), className="wall-none")]
    return [html.Ul([html.Li([
        html.Span(str(r["firing"]), className="wall-count"),
        html.Span(severity_word(t, r["severity"]), className=f"wall-severity severity-{r['severity']}"),
        *([html.Span(t.gettext(TEXT["pending"]).format(n=r["pending"]), className="wall-detail")]
          if r["pending"] else []),
    ], className="wall-item", **{"data-severity": r["severity"]}) for r in rows], className="wall-list")]


def feeds_panel(model: Mapping[str, Any], t: Translator) -> list[Any]:
    feeds = model.get("feeds") or {"healthy": 0, "total": 0, "unhealthy": []}
    named = [html.Li([html.Span(feed, className="wall-where"),
                      html.Span(t.gettext(TEXT["feed_state"][status]) if status in TEXT["feed_state"] else status,
                                className=f"wall-detail feed-{status}")],
                     className="wall-item", **{"data-feed": feed}) for feed, status in feeds["unhealthy"]]
    return [html.P(t.gettext(TEXT["feeds_healthy"]).format(healthy=feeds["healthy"], total=feeds["total"]),
                   className="wall-big" + (" wall-warn" if feeds["unhealthy"] else "")),
            *([html.Ul(named, className="wall-list")] if named else [])]


def panels(model: Mapping[str, Any], t: Translator) -> list[Any]:
    """The side panel's sections, each always in the page (the cycling shows one: assets/wall.js)."""
    drawers = {"incidents": incidents_panel, "alerts": alerts_panel, "feeds": feeds_panel}
    sections = []
    for i, name in enumerate(PANELS):
        body = ([html.P(t.gettext(TEXT["unreachable"]), className="wall-none")] if model.get("unreachable")
                else drawers[name](model, t))
        sections.append(html.Section([html.H2(t.gettext(TEXT[name]), className="wall-panel-title"), *body],
                                     className=f"wall-panel wall-panel-{i}", **{"data-panel": name}))
    return sections


def model(console: Console) -> dict[str, Any]:
    now = time.time()
    try:
        status = console.live.status_source(now)
        return wall_model(status.stage, status.incidents, status.alerts, status.feeds, now)
    except (StoreUnavailable, *REDIS_DOWN):
        return {"unreachable": True}


def digest(held: Mapping[str, Any], lang: str) -> str:
    return hashlib.blake2b(orjson.dumps([held, lang], option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    t, tz = viewer.t, console.settings.tz
    parts = console.live.initial(list(OPS_LAYERS))
    held = model(console)
    return html.Div([
        html.Header([html.Span(console.settings.city.name, className="wall-city"),
                     html.Div(stage_children(held, tz, t), id=ids.WALL_STAGE, className="wall-stage-text")],
                    id=ids.WALL_STAGE_BAR, className="wall-stage", style=stage_style(held)),
        html.Main([
            html.Div(parts["graph"], className="wall-map", role="img", **{"aria-label": t.gettext(TEXT["map"])}),
            html.Aside(panels(held, t), id=ids.WALL_SIDE, className="wall-side wall-show-0", **{"aria-live": "off"}),
        ], className="wall-body", **{"aria-label": t.gettext(TEXT["title"])}),
        # (written by the map's tick with the map: held here, never shown)
        html.Div([html.Div(parts["status"], id=ids.STATUS_BAR), html.Div(parts["alerts"], id=ids.ALERTS_PANEL)],
                 hidden=True, className="wall-hidden"),
        *parts["stores"],
        dcc.Store(id=ids.WALL_STATE, data=digest(held, t.lang)),
        dcc.Interval(id=ids.WALL_CYCLE, interval=CYCLE_S * 1000),
    ], className="wall")


def register(app: Dash, console: Console) -> None:
    @app.callback(Output(ids.WALL_STAGE, "children"), Output(ids.WALL_STAGE_BAR, "style"),
                  Output(ids.WALL_SIDE, "children"), Output(ids.WALL_STATE, "data"),
                  Input(ids.TICK, "n_intervals"), State(ids.WALL_STATE, "data"), prevent_initial_call=True)
    def refresh(_n, held_digest):
        t = console_translator()
        held = model(console)
        now_digest = digest(held, t.lang)
        if now_digest == held_digest:
            return no_update, no_update, no_update, no_update
        return stage_children(held, console.settings.tz, t), stage_style(held), panels(held, t), now_digest

    # the cycle: a class on the side panel, set in the browser (nothing drawn again)
    app.clientside_callback(ClientsideFunction("opscentreWall", "cycle"), Output(ids.WALL_SIDE, "className"),
                            Input(ids.WALL_CYCLE, "n_intervals"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("opscentreWall", "period"), Output(ids.WALL_CYCLE, "interval"),
                            Input(ids.URL, "search"))


PAGE = Page("/wall", None, layout, register)
