"""The public view for residents: its own Dash app on its own Flask server, with no login, no
operator controls, no personal data and no callback that writes anything.

On a phone the city stage, the public alerts with what to do and "is my bairro affected?" come
first, then the live map (LiveMap), its legend in words and the bairros with alerts named, then
the open data links; on a desktop the panel sits beside the map (assets/public.css). Every string
comes from the catalogue (opscentre.i18n) in the page's language: `?lang=` or the city's
`city.language`. Dash fetches its layout without the page's query string, so
assets/public_lang.js adds `lang` to that one request; the callbacks read the language from the
page's own store. No cookie: a page's language is in its URL, and the page stays cacheable.

The map's hover texts are in the page's language too (public_pages/map.py: a LiveMap per
language, drawing from one read of the store per data version).

Two read-only callbacks, both on the map's tick: the map (LiveMap's Patches, in the language of
the page's store) and the panel (stage, update time, alerts, bairro answer — each sent only when it
changed). The page's data comes from one function, public_pages.view_data.public_view_data.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import orjson
from dash import Dash, Input, Output, State, dcc, html, no_update
from flask import Flask, request

from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard import ids
from opscentre.dashboard.assets import ASSETS
from opscentre.dashboard.components.banner import attribution
from opscentre.dashboard.public_layers import PublicLayers
from opscentre.dashboard.public_pages import components as parts
from opscentre.dashboard.public_pages import ids as pids
from opscentre.dashboard.public_pages.bairro import bairro_answer
from opscentre.dashboard.public_pages.map import public_maps
from opscentre.dashboard.public_pages.texts import page_model
from opscentre.dashboard.public_pages.view_data import public_view_data
from opscentre.i18n import LANGUAGES, lang_for, normalise, translator
from opscentre.layers import LAYERS

PUBLIC_LAYERS = [layer_id for layer_id, layer in LAYERS.items() if layer.public]
PUBLIC_PREFIX = "/public/"
LIVE_PARTS = ("stage", "updated", "alerts", "zones", "answer")


class PublicDash(Dash):
    """The index page in the page's language: `<html lang>` and the title."""

    city: str = ""
    default_lang: str = "en"

    def interpolate_index(self, **kwargs: Any) -> str:
        t = translator(lang_for(request.args, self.default_lang))
        kwargs["title"] = t.gettext("{city} — public view").format(city=self.city)
        page = super().interpolate_index(**kwargs)
        return page.replace("<html>", f'<html lang="{t.lang}">', 1)


def create_public_app(settings: Settings, store: Store, simulated: bool, prefix: str = PUBLIC_PREFIX,
                      clock: Callable[[], float] = time.time, documents: PublicLayers | None = None) -> Dash:
    """A Dash app whose pages are requested under `prefix` (it is mounted there by the server).
    `documents`: the public read model the server's APIs serve (one of its own if not given)."""
    documents = documents or PublicLayers(settings, store, simulated, clock)
    server = Flask("opscentre.public")
    app = PublicDash(__name__, server=server, routes_pathname_prefix="/", requests_pathname_prefix=prefix,
                     assets_folder=ASSETS, title=settings.city.name, update_title=None,
                     serve_locally=True, enable_mcp=False, compress=False,
                     suppress_callback_exceptions=True)  # no validation layout (see ops_app)
    app.city, app.default_lang = settings.city.name, settings.city.language
    lives = public_maps(settings, store, simulated, PUBLIC_LAYERS, list(LANGUAGES), clock=clock,
                        status_source=documents.city_status)

    def page_lang(held: Any) -> str:
        """The language of a page's callback: the one its panel store names (else the city's)."""
        lang = normalise(held.get("lang")) if isinstance(held, dict) else None
        return lang or normalise(settings.city.language) or "en"

    def live_models(lang: str, query: Any) -> dict[str, Any]:
        t, now = translator(lang), clock()
        model = page_model(public_view_data(documents, settings, simulated, now), t, settings.tz, now)
        if not model["reachable"]:  # keep showing what was last read; say that it is not current
            return {"stage": None, "updated": model["updated"], "alerts": None, "zones": None, "answer": None}
        answer = bairro_answer(query, settings.zones, model["alerts"], t)
        return {"stage": parts.stage_card(model["stage"]), "updated": model["updated"],
                "alerts": parts.alerts_list(model, t), "zones": parts.zones_with_alerts(model, t),
                "answer": parts.bairro_result(answer, model["alerts"], t)}

    def layout():
        lang = lang_for(request.args, settings.city.language)
        t = translator(lang)
        shown = {name: part if part is not None else [] for name, part in live_models(lang, "").items()}
        map_parts = lives[lang].initial(PUBLIC_LAYERS)
        panel = html.Div([
            html.Section(shown["stage"], id=pids.STAGE, className="public-card public-stage",
                         **{"aria-live": "polite"}),
            html.P(shown["updated"], id=pids.UPDATED, className="public-updated", **{"aria-live": "polite"}),
            html.Section(shown["alerts"], id=pids.ALERTS, className="public-card public-alerts"),
            parts.bairro_search(settings, t),
        ], className="public-panel")
        map_section = html.Section([
            html.H2(t.gettext("Map"), className="public-h2 public-map-title"),
            html.Div(map_parts["graph"], className="public-map-frame",
                     role="img", **{"aria-label": t.gettext("Live map of the city; the lists on this page "
                                                            "say the same in words")}),
            html.Div(shown["zones"], id=pids.ZONES_WITH_ALERTS, className="public-zones"),
            parts.legend(PUBLIC_LAYERS, t, settings.city),
            attribution(settings),
        ], id=pids.MAP_SECTION, className="public-map-section")
        held = {"lang": lang, "digests": {name: _digest(shown[name]) for name in LIVE_PARTS}}
        return html.Div([
            parts.header(settings, t, simulated),
            html.Main([panel, map_section, parts.open_data(t)], className="public-main"),
            *map_parts["stores"],
            dcc.Store(id=pids.PANEL_STATE, data=held),
        ], className="public-page", lang=lang)

    app.layout = layout

    @app.callback(
        Output(ids.MAP, "figure"),
        Output(ids.MAP_STATE, "data"),
        Input(ids.TICK, "n_intervals"),
        State(ids.MAP_STATE, "data"),
        State(pids.PANEL_STATE, "data"),
        prevent_initial_call=True,
    )
    def map_tick(_n_intervals, held, panel):
        live = lives[page_lang(panel)]
        figure, _status, _alerts, new_held = live.tick(held if isinstance(held, dict) else {})
        return figure, new_held

    @app.callback(
        Output(pids.STAGE, "children"),
        Output(pids.UPDATED, "children"),
        Output(pids.ALERTS, "children"),
        Output(pids.ZONES_WITH_ALERTS, "children"),
        Output(pids.BAIRRO_ANSWER, "children"),
        Output(pids.PANEL_STATE, "data"),
        Input(ids.TICK, "n_intervals"),
        Input(pids.BAIRRO_BUTTON, "n_clicks"),
        Input(pids.BAIRRO_INPUT, "n_submit"),
        Input(pids.BAIRRO_INPUT, "value"),
        State(pids.PANEL_STATE, "data"),
        prevent_initial_call=True,
    )
    def panel_tick(_n_intervals, _clicks, _submits, query, held):
        held = held if isinstance(held, dict) else {}
        lang = page_lang(held)
        shown = live_models(lang, query if isinstance(query, str) else "")
        before = held.get("digests") if isinstance(held.get("digests"), dict) else {}
        digests = {name: _digest(shown[name]) if shown[name] is not None else before.get(name) for name in LIVE_PARTS}
        if digests == before:
            return (no_update,) * (len(LIVE_PARTS) + 1)
        changed = [shown[name] if shown[name] is not None and digests[name] != before.get(name) else no_update
                   for name in LIVE_PARTS]
        return (*changed, {"lang": lang, "digests": digests})

    return app


def _digest(component: Any) -> str:
    """A digest of what a component draws (Dash components serialise to JSON)."""
    raw = orjson.dumps(component, default=lambda c: c.to_plotly_json(), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=8).hexdigest()
