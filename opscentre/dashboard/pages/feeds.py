"""The feeds page (`/feeds`): every feed's health as a table, the worst first — its status (stale
when no success came for 3 intervals: core/feed_health.py), last success in the city's time, last
error and its kind, failures in a row, items of the last poll, and its counters since the store
began (polls, failures, observations stored: the feed's metrics, as /metrics exports them).
Redrawn every FEEDS_TICK_MS, only when it changed. Reading only.

Below the table, items over time: each feed's items stored per poll over the last day (the store's
poll log, core/store.py feed_polls), the most of each CHART_BUCKET_S, in the city's time. The
browser holds the table's rows and a digest of the chart; both are redrawn only when they changed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import orjson
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update

from opscentre.core.feed_health import public_view
from opscentre.dashboard import ids
from opscentre.dashboard.chart_locale import graph_config
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator
from opscentre.layers.base import local_label

FEEDS_TICK_MS = 10_000
CHART_WINDOW_S = 24 * 3600
CHART_BUCKET_S = 300
WORST_FIRST = ("failing", "stale", "degraded", "unknown", "ok", "disabled")
TEXT = {
    "title": N_("Feeds"),
    "feed": N_("Feed"),
    "status": N_("Status"),
    "last_success": N_("Last success"),
    "last_error": N_("Last error"),
    "failures": N_("Failures in a row"),
    "items": N_("Items (last poll)"),
    "totals": N_("Polls · failures · stored (since start)"),
    "never": N_("never"),
    "none": N_("No feed has reported yet."),
    "unreachable": N_("Redis unreachable — reconnecting"),
    "simulated": N_("simulated"),
    "chart": N_("Items per poll, last 24 h"),
    "time": N_("Time ({zone})"),
    "status_word": {"ok": N_("ok"), "degraded": N_("degraded"), "failing": N_("failing"), "stale": N_("stale"),
                    "disabled": N_("disabled"), "unknown": N_("unknown")},
}


def feed_rows(health: Mapping[str, Mapping[str, Any]], metrics: Mapping[str, Mapping[str, float]], now: float,
              tz: tzinfo, t: Translator) -> list[dict[str, Any]]:
    """The table (pure): one row per feed, the worst status first, then by id."""
    rows = []
    for feed_id, stored in health.items():
        view = public_view(dict(stored), now)
        counters = metrics.get(feed_id) or {}
        status = view["status"]
        error = view["last_error"] or ""
        if error and view.get("last_error_kind"):
            error = f"{error} ({view['last_error_kind']})"
        rows.append({
            "id": feed_id, "status": status,
            "status_text": t.gettext(TEXT["status_word"][status]) if status in TEXT["status_word"] else status,
            "simulated": view["simulated"],
            "last_success": (local_label(float(view["last_success_ts"]), tz, t) if view["last_success_ts"] is not None
                             else t.gettext(TEXT["never"])),
            "last_error": error, "failures": int(view["consecutive_failures"] or 0), "items": int(view["items"] or 0),
            "totals": " · ".join(str(int(counters.get(k, 0) or 0)) for k in ("polls", "failures",
                                                                              "observations_stored")),
        })
    rank = {s: i for i, s in enumerate(WORST_FIRST)}
    rows.sort(key=lambda r: (rank.get(r["status"], len(WORST_FIRST)), r["id"]))
    return rows


def feeds_table(rows: list[dict[str, Any]], t: Translator) -> list[Any]:
    if not rows:
        return [html.P(t.gettext(TEXT["none"]))]
    columns = ("feed", "status", "last_success", "last_error", "failures", "items", "totals")
    head = html.Thead(html.Tr([html.Th(t.gettext(TEXT[c]), scope="col") for c in columns]))
    body = html.Tbody([html.Tr([
        html.Th([r["id"], *([html.Span(" · " + t.gettext(TEXT["simulated"]), className="feed-simulated")]
                            if r["simulated"] else [])], scope="row"),
        html.Td(r["status_text"], className=f"feed-status feed-{r['status']}"),
        html.Td(r["last_success"]), html.Td(r["last_error"], className="feed-error"),
        html.Td(r["failures"], className="feed-number"), html.Td(r["items"], className="feed-number"),
        html.Td(r["totals"], className="feed-number"),
    ], **{"data-feed": r["id"], "data-status": r["status"]}) for r in rows])
    return [html.Table([head, body], className="feeds-table")]


def bucketed(polls: list[tuple[float, int, str]], bucket_s: float = CHART_BUCKET_S) -> list[tuple[float, int]]:
    """(bucket start, the most items of a poll in it) — pure; failed polls count as 0 items."""
    most: dict[float, int] = {}
    for at, items, _outcome in polls:
        start = at - at % bucket_s
        most[start] = max(most.get(start, 0), items)
    return sorted(most.items())


def series(console: Console, feed_ids: list[str], now: float) -> dict[str, list[tuple[float, int]]]:
    return {feed_id: bucketed(console.store.feed_polls(feed_id, now - CHART_WINDOW_S)) for feed_id in feed_ids}


def items_chart(lines: Mapping[str, list], tz: tzinfo, t: Translator) -> dcc.Graph:
    figure = go.Figure(layout={
        "title": {"text": t.gettext(TEXT["chart"])}, "height": 320, "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#c9d4e3"},
        "xaxis": {"title": {"text": t.gettext(TEXT["time"]).format(zone=str(tz))}},
        "legend": {"orientation": "h"}})
    for feed_id, points in sorted(lines.items()):
        if points:
            figure.add_scatter(x=[datetime.fromtimestamp(at, tz).replace(tzinfo=None) for at, _ in points],
                               y=[items for _, items in points], mode="lines", name=feed_id)
    return dcc.Graph(figure=figure, config=graph_config(t, displayModeBar=False), className="feeds-chart")


def model(console: Console, t: Translator) -> dict[str, Any]:
    """What the page shows, as data: the table's rows and the chart's lines ("lines")."""
    try:
        store, now = console.store, time.time()
        rows = feed_rows(store.all_feed_health(), store.all_feed_metrics(), now, console.settings.tz, t)
        return {"rows": rows, "lines": series(console, [r["id"] for r in rows], now), "lang": t.lang}
    except REDIS_DOWN:
        return {"unreachable": True, "lang": t.lang}


def held_form(shown: Mapping[str, Any]) -> dict[str, Any]:
    """What the browser keeps of it (dcc.Store): the rows, and a digest of the chart's lines."""
    lines = shown.get("lines")
    digest = hashlib.blake2b(orjson.dumps(lines), digest_size=8).hexdigest() if lines is not None else None
    return {**{k: v for k, v in shown.items() if k != "lines"}, "lines_digest": digest}


def children(shown: Mapping[str, Any], t: Translator, tz: tzinfo) -> list[Any]:
    if shown.get("unreachable"):
        return [html.P(t.gettext(TEXT["unreachable"]), className="status-error")]
    return [*feeds_table(shown["rows"], t), *([items_chart(shown["lines"], tz, t)] if shown.get("rows") else [])]


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    shown = model(console, viewer.t)
    main = [html.Div(children(shown, viewer.t, console.settings.tz), id=ids.FEEDS_TABLE, className="feeds"),
            dcc.Store(id=ids.FEEDS_STATE, data=held_form(shown)),
            dcc.Interval(id=ids.FEEDS_TICK, interval=FEEDS_TICK_MS)]
    return page_shell(console, viewer, [], main, viewer.t.gettext(TEXT["title"]))


def register(app: Dash, console: Console) -> None:
    @app.callback(Output(ids.FEEDS_TABLE, "children"), Output(ids.FEEDS_STATE, "data"),
                  Input(ids.FEEDS_TICK, "n_intervals"), State(ids.FEEDS_STATE, "data"), prevent_initial_call=True)
    def refresh(_n, held):
        t = console_translator()
        shown = model(console, t)
        now_held = held_form(shown)
        if now_held == held:
            return no_update, no_update
        return children(shown, t, console.settings.tz), now_held


PAGE = Page("/feeds", TEXT["title"], layout, register)
