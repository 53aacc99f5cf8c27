"""The live map shared by the operator console and the public view: the first figure, and the
tick that keeps it current with Patches.

A tick (every TICK_MS) reads the store version and the status. When the version moved, it
sends a Patch with only what changed (the items of an array that changed, or the array whole:
components/map_figure.py); when nothing changed it sends nothing at all. Point layers too big to
draw whole are drawn by level of detail (layers/lod.py): zone aggregates at city zoom, the points
in view when zoomed in; the console's tick also runs when the operator moves the map (its
relayoutData gives the view), and the view the browser draws is kept in its map state.

The traces are built once per (data version, stale feeds) and kept (the layers rebuild only the
rows that changed), and so are the last drawn views, so a page load or a tick with an empty or
stale client state — anyone can post one to the public app — costs a
comparison of digests, not a rebuild of the city. Redis being down shows "Redis unreachable —
reconnecting" and keeps the last map.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from dash import Dash, Input, Output, State, dcc, html, no_update

from opscentre.core.operator_documents import operator_read_model
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard import ids
from opscentre.dashboard.components.banner import attribution, simulated_banner
from opscentre.dashboard.components.legend import legend
from opscentre.dashboard.city_reading import empty_city_data, read_city_data, read_status
from opscentre.dashboard.components.map_figure import build_figure, digests, figure_patch, layer_traces, trace_index
from opscentre.dashboard.components.status_bar import (
    OperatorStatus,
    alerts_panel,
    status_bar,
    status_model,
    unreachable_model,
)
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.layers.lod import View, drawn, shown_view, view_of

TICK_MS = 2000
DRAWN_KEPT = 16  # (version, stale feeds, view) -> drawn traces kept, so a tick can patch items
GRAPH_CONFIG = {"displaylogo": False, "scrollZoom": True, "displayModeBar": False, "responsive": True}


@dataclass
class LiveMap:
    settings: Settings
    store: Store
    simulated: bool
    layer_ids: list[str]
    clock: Callable[[], float] = field(default=time.time)
    operator_view: bool = False  # the console shows every open alert; the public page only public ones
    # where the status comes from (now -> CityStatus): a read model's (the console's, by default,
    # with operator_view: core/operator_documents.py), or read from the store
    status_source: Callable[[float], Any] | None = None
    _built: tuple | None = field(default=None, init=False, repr=False)  # (key, traces, digests)
    _model: tuple | None = field(default=None, init=False, repr=False)  # (status, its status bar model)
    _build_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # (version, stale feeds, view key or None) -> (drawn traces, their digests), the newest last
    _drawn: dict[tuple, tuple] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def index(self) -> dict[str, list[int]]:
        """layer id -> [first, stop) of its traces in the figure: fixed, since every layer always
        draws the same number of traces (so the server never trusts a browser's idea of it)."""
        return trace_index(layer_traces(empty_city_data(self.settings), self.layer_ids))

    def __post_init__(self):
        if self.status_source is None and self.operator_view:
            self.status_source = OperatorStatus(operator_read_model(
                self.store, self.settings.zones.name_by_id, self.simulated, clock=lambda: self.clock()))

    def _status(self, now: float):
        if self.status_source is not None:
            return self.status_source(now)
        return read_status(self.store, self.simulated, self.settings.zones.name_by_id, now, self.operator_view)

    def _status_model(self, status) -> dict[str, Any]:
        """The status bar's model, made once per status read (a read model's: once per snapshot)."""
        held = self._model
        if held is None or held[0] is not status:
            held = self._model = (status, status_model(status, self.settings.tz))
        return held[1]

    def _traces(self, status) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        """The layers' traces and their digests for this status's data version and stale feeds,
        built by the first request that needs them and shared by every later one."""
        stale = stale_feeds(status)
        key = (status.version, tuple(sorted(stale)))
        built = self._built
        if built is None or built[0] != key:
            with self._build_lock:
                built = self._built
                if built is None or built[0] != key:
                    traces = layer_traces(read_city_data(self.store, self.settings), self.layer_ids, stale,
                                          self.settings.city.language)  # the console's hovers: the city's language
                    built = self._built = (key, traces, digests(traces))
        return built[1], built[2]

    def _drawn_for(self, status, view: View | None) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        """The traces as drawn in `view` (None: the city) and their digests, kept for later ticks."""
        traces, _ = self._traces(status)
        view = shown_view(traces, view)
        key = (status.version, tuple(sorted(stale_feeds(status))), tuple(view.key()) if view else None)
        found = self._drawn.get(key)
        if found is None:
            shown = drawn(traces, self.settings.zones, view)
            found = (shown, digests(shown))
            with self._build_lock:
                self._drawn[key] = found
                while len(self._drawn) > DRAWN_KEPT:
                    self._drawn.pop(next(iter(self._drawn)))
        return found

    def initial(self, visible: list[str]) -> dict[str, Any]:
        """The components of a freshly loaded page: map, its stores, the tick, status and alerts."""
        try:
            status = self._status(self.clock())
            traces, traces_digests = self._drawn_for(status, None)
            model, version, stale = self._status_model(status), status.version, stale_feeds(status)
        except REDIS_DOWN:
            traces = layer_traces(empty_city_data(self.settings), self.layer_ids, lang=self.settings.city.language)
            model, version, stale, traces_digests = unreachable_model(), None, frozenset(), digests(traces)
        figure = build_figure(traces, self.settings, visible)
        held = {"version": version, "digests": traces_digests, "status": _digest(model), "stale": sorted(stale),
                "view": None}
        return {
            "graph": dcc.Graph(id=ids.MAP, figure=figure, config=GRAPH_CONFIG, className="city-map",
                               clear_on_unhover=True),
            "stores": [dcc.Store(id=ids.MAP_STATE, data=held), dcc.Interval(id=ids.TICK, interval=TICK_MS)],
            "status": status_bar(model),
            "alerts": alerts_panel(model),
        }

    def register(self, app: Dash) -> None:
        @app.callback(
            Output(ids.MAP, "figure", allow_duplicate=True),
            Output(ids.STATUS_BAR, "children"),
            Output(ids.ALERTS_PANEL, "children"),
            Output(ids.MAP_STATE, "data"),
            Input(ids.TICK, "n_intervals"),
            Input(ids.MAP, "relayoutData"),
            State(ids.MAP_STATE, "data"),
            prevent_initial_call=True,
        )
        def tick(_n_intervals, relayout, held):
            return self.tick(held if isinstance(held, dict) else {}, relayout)

    def tick(self, held: dict[str, Any], relayout: Any = None) -> tuple[Any, Any, Any, Any]:
        """The tick's outputs for a browser holding `held`; `relayout`: the map's last relayoutData
        (a new view when it carries one; otherwise the view the browser holds stays)."""
        held_digests = held.get("digests") if isinstance(held.get("digests"), dict) else {}
        figure, version, stale = no_update, held.get("version"), held.get("stale") or []
        held_view = View.from_key(held.get("view"))
        view = view_of(relayout) or held_view
        view_key = view.key() if view else None
        try:
            status = self._status(self.clock())
            model = self._status_model(status)
            # A feed going stale changes no data (no version bump) but greys its layers.
            if status.version != version or sorted(stale_feeds(status)) != stale or view_key != held.get("view"):
                traces, current = self._drawn_for(status, view)
                shown = shown_view(self._traces(status)[0], held_view)
                previous = self._drawn.get((version, tuple(stale), tuple(shown.key()) if shown else None))
                patch = figure_patch(traces, current, held_digests, previous)
                figure, version, stale = (patch if patch is not None else no_update), status.version, \
                    sorted(stale_feeds(status))
                held_digests = current
        except REDIS_DOWN:
            model = unreachable_model()
        model_digest = _digest(model)
        status_changed = model_digest != held.get("status")
        if figure is no_update and not status_changed and version == held.get("version") \
                and stale == (held.get("stale") or []) and view_key == held.get("view"):
            return no_update, no_update, no_update, no_update
        new_held = {"version": version, "digests": held_digests, "status": model_digest, "stale": stale,
                    "view": view_key}
        if not status_changed:
            return figure, no_update, no_update, new_held
        return figure, status_bar(model), alerts_panel(model), new_held


def stale_feeds(status) -> frozenset[str]:
    return frozenset(f for f, view in status.feeds.items() if view["status"] == "stale")


def _digest(model: dict[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(model, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


def map_overlays(settings: Settings, simulated: bool, layer_ids: list[str], parts: dict[str, Any]) -> list[Any]:
    """What floats over the map on every page: banner, legend, alerts, attribution."""
    overlays = [
        simulated_banner(simulated),
        html.Div(legend(layer_ids), id=ids.LEGEND, className="legend-panel"),
        html.Div(parts["alerts"], id=ids.ALERTS_PANEL, className="alerts-panel"),
        attribution(settings),
    ]
    return [o for o in overlays if o is not None]


def map_shell(parts: dict[str, Any], header: list[Any], overlays: list[Any]) -> html.Div:
    """The full-window page: header bar over a map that fills the rest, overlays on the map."""
    return html.Div([
        html.Header(header, className="topbar"),
        html.Main([parts["graph"], *overlays], className="map-area"),
        *parts["stores"],
    ], className="page")
