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

A rebuild runs beside the requests, not in one (but the very first, for the first page): at city
scale it costs a few hundred milliseconds of CPU, and every tick arriving meanwhile would wait for
it. The first request to see a new version starts its build on a thread of its own and waits
for it at most BUILD_WAIT_S — a small city's build is done by then,
and the tick carries the new version; a big city's is not, and until it is, ticks answer from the
last built version (the status bar is current at once) and the browser ticks every CATCH_UP_MS;
the first tick after the build patches to the new version.
Measured by `opscentre bench dashboard` (server time per tick).
"""

from __future__ import annotations

import dataclasses
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
from opscentre.dashboard.city_reading import city_data_at, empty_city_data, read_city_data, read_status, status_at
from opscentre.dashboard.components.map_figure import build_figure, digests, figure_patch, layer_traces, trace_index
from opscentre.dashboard.components.status_bar import (
    OperatorStatus,
    alerts_panel,
    status_bar,
    status_model,
    unreachable_model,
)
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import normalise
from opscentre.layers.lod import View, drawn, shown_view, view_of

TICK_MS = 2000
CATCH_UP_MS = 250  # the tick's interval while a new version is being built
BUILD_WAIT_S = 0.04  # how long a tick waits for the build of a new version
PAGE_WAIT_S = 10.0  # how long a page load waits for it (the page's first figure is the newest)
DRAWN_KEPT = 16  # (version, stale feeds, view) -> drawn traces kept, so a tick can patch items
REPLAY = "replay"  # the held status digest while replaying: any live status differs from it
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
    lang: str | None = None  # the hover texts' language (None: the city's)
    # the language of the request being answered (the console: the user's, dashboard/console_language.py);
    # a request in another language is answered by this map's sibling in that language (in_language)
    lang_of: Callable[[], str] | None = None
    _built: tuple | None = field(default=None, init=False, repr=False)  # (key, traces, digests)
    _model: tuple | None = field(default=None, init=False, repr=False)  # (status, its status bar model)
    _build_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # (version, stale feeds, view key or None) -> (drawn traces, their digests), the newest last
    _drawn: dict[tuple, tuple] = field(default_factory=dict, init=False, repr=False)
    # (status, traces, digests) of the newest version built: what the map shows
    _ready: tuple | None = field(default=None, init=False, repr=False)
    _building: tuple | None = field(default=None, init=False, repr=False)  # (key, event set when built)
    _ready_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _siblings: dict[str, LiveMap] = field(default_factory=dict, init=False, repr=False)

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
                                          self._language())
                    built = self._built = (key, traces, digests(traces))
        return built[1], built[2]

    def _language(self) -> str:
        return self.lang or self.settings.city.language

    def in_language(self, lang: str) -> LiveMap:
        """This map as drawn in `lang` (a language we have; else the city's): itself, or a sibling
        with its own traces (same store, status and layers), made once."""
        lang = normalise(lang) or self.settings.city.language
        if lang == self._language():
            return self
        sibling = self._siblings.get(lang)
        if sibling is None:
            with self._ready_lock:
                sibling = self._siblings.get(lang)
                if sibling is None:
                    sibling = self._siblings[lang] = dataclasses.replace(self, lang=lang, lang_of=None)
        return sibling

    def _speaking(self) -> LiveMap:
        """The map in the language of the request being answered."""
        return self.in_language(self.lang_of()) if self.lang_of is not None else self

    def _shown(self, status, wait_s: float = BUILD_WAIT_S) -> tuple[Any, dict[str, list[dict[str, Any]]]]:
        """(the status whose data the map shows, its traces): `status`'s own once built; until
        then the newest built, while `status`'s are built beside the requests (waited for at
        most `wait_s`). Only the first build (nothing to show yet) runs in the request."""
        deadline = time.monotonic() + wait_s
        key = build_key(status)
        while True:
            ready = self._ready
            if ready is None:
                with self._ready_lock:
                    if self._ready is None:
                        traces, _ = self._traces(status)
                        self._ready = (status, traces)
                continue
            if build_key(ready[0]) == key:
                return ready
            building_key, done = self._build_beside(status)
            if not done.wait(max(0.0, deadline - time.monotonic())) or building_key == key:
                return self._ready  # (ours, built — or not yet, or failed: the last built)
            # an older version's build finished: start this one's

    def _build_beside(self, status) -> tuple[tuple, threading.Event]:
        """The build under way (its key, an event set when it is done), else one of `status`'s
        traces started on a thread of its own."""
        with self._ready_lock:
            if self._building is not None:
                return self._building
            building = self._building = (build_key(status), threading.Event())

        def build() -> None:
            try:
                traces, _ = self._traces(status)
                self._drawn_for(status, None, traces)  # the city view: what most ticks ask for
                with self._ready_lock:
                    self._ready = (status, traces)
            except REDIS_DOWN:
                pass  # the next request tries again
            finally:
                with self._ready_lock:
                    self._building = None
                building[1].set()

        threading.Thread(target=build, daemon=True, name="opscentre-map-build").start()
        return building

    def catch_up(self, timeout_s: float = 60.0) -> None:
        """Wait until the store's newest version is built (for callers that must see it now:
        tests, a bench's baseline); a request never waits longer than BUILD_WAIT_S (a page
        load: PAGE_WAIT_S)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self._status(self.clock())
            shown, _ = self._shown(status, wait_s=max(0.0, deadline - time.monotonic()))
            if build_key(shown) == build_key(status):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the map's traces of version {status.version} were not built in {timeout_s:g} s")
            time.sleep(0.01)

    def _drawn_for(self, status, view: View | None, traces: dict[str, list[dict[str, Any]]]
                   ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        """The traces (of `status`) as drawn in `view` (None: the city) and their digests, kept
        for later ticks."""
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
        if (speaking := self._speaking()) is not self:
            return speaking.initial(visible)
        try:
            status = self._status(self.clock())
            shown, all_traces = self._shown(status, wait_s=PAGE_WAIT_S)
            traces, traces_digests = self._drawn_for(shown, None, all_traces)
            model, version, stale = self._status_model(status), shown.version, stale_feeds(shown)
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
            Output(ids.TICK, "interval"),
            Input(ids.TICK, "n_intervals"),
            Input(ids.MAP, "relayoutData"),
            State(ids.MAP_STATE, "data"),
            State(ids.TICK, "interval"),
            prevent_initial_call=True,
        )
        def tick(_n_intervals, relayout, held, interval):
            outputs = self.tick(held if isinstance(held, dict) else {}, relayout)
            # while a new version is being built, the browser asks again soon rather than in TICK_MS
            wanted = CATCH_UP_MS if self._speaking()._building is not None else TICK_MS
            return *outputs, (wanted if wanted != interval else no_update)

    def replay(self, at: float, held: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
        """The map, status bar and alerts as they were at `at` (core/replay.py), for a browser
        holding `held`: the same outputs as a tick. The held state says it is a replay, so live
        ticks leave the map alone until the browser leaves replay (components/replay_panel.py)."""
        if (speaking := self._speaking()) is not self:
            return speaking.replay(at, held)
        held_digests = held.get("digests") if isinstance(held.get("digests"), dict) else {}
        data = city_data_at(self.store, self.settings, at)
        with self._build_lock:  # (the layers' row caches are shared with the live builds)
            traces = layer_traces(data, self.layer_ids, frozenset(), self._language())
        shown = drawn(traces, self.settings.zones, None)
        current = digests(shown)
        patch = figure_patch(shown, current, held_digests)
        model = status_model(status_at(self.store, self.settings, at, self.simulated), self.settings.tz)
        return (patch if patch is not None else no_update, status_bar(model), alerts_panel(model),
                {"version": None, "digests": current, "status": REPLAY, "stale": [], "view": None, "replay": at})

    def tick(self, held: dict[str, Any], relayout: Any = None) -> tuple[Any, Any, Any, Any]:
        """The tick's outputs for a browser holding `held`; `relayout`: the map's last relayoutData
        (a new view when it carries one; otherwise the view the browser holds stays). Nothing
        while the browser replays a past moment (`held["replay"]`)."""
        if (speaking := self._speaking()) is not self:
            return speaking.tick(held, relayout)
        if held.get("replay"):
            return no_update, no_update, no_update, no_update
        held_digests = held.get("digests") if isinstance(held.get("digests"), dict) else {}
        figure, version, stale = no_update, held.get("version"), held.get("stale") or []
        held_view = View.from_key(held.get("view"))
        view = view_of(relayout) or held_view
        view_key = view.key() if view else None
        try:
            status = self._status(self.clock())
            model = self._status_model(status)
            shown, all_traces = self._shown(status)  # (the data of the newest version built)
            # A feed going stale changes no data (no version bump) but greys its layers.
            if shown.version != version or sorted(stale_feeds(shown)) != stale or view_key != held.get("view"):
                traces, current = self._drawn_for(shown, view, all_traces)
                held_shown = shown_view(all_traces, held_view)
                previous = self._drawn.get((version, tuple(stale), tuple(held_shown.key()) if held_shown else None))
                patch = figure_patch(traces, current, held_digests, previous)
                figure, version, stale = (patch if patch is not None else no_update), shown.version, \
                    sorted(stale_feeds(shown))
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


def build_key(status) -> tuple:
    """What the traces are built from: the data version and the feeds shown stale."""
    return status.version, tuple(sorted(stale_feeds(status)))


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
