"""What every console page shares: the console's parts (`Console`, built once per app), who is
looking (`Viewer`, read once per page draw), the page record (`Page`) and the header — brand,
the pages' links, the page's own items, the language switch, the signed-in user and sign-out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dash import Dash, dcc, html
from flask_login import current_user

from opscentre.core.alert_store import AlertStore
from opscentre.core.errors import StoreUnavailable
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import Action, Role, allows
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard import ids
from opscentre.dashboard.auth import csrf_token
from opscentre.dashboard.components.attention import attention_model, attention_parts
from opscentre.dashboard.components.incident_panel import IncidentPanel
from opscentre.dashboard.console_language import console_lang
from opscentre.dashboard.live_map import TICK_MS, LiveMap
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import current_role
from opscentre.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator, translator


@dataclass
class Console:
    """The console's parts, made once per app and shared by its pages (never a module global:
    a process may hold several consoles, each with its own Redis and settings)."""

    settings: Settings
    store: Store
    simulated: bool
    live: LiveMap
    incidents: IncidentPanel
    deliveries: DeliveryStore
    waiting_id: Callable[[float], str | None]

    @property
    def alerts(self) -> AlertStore:
        return AlertStore(self.store.redis)


@dataclass
class Viewer:
    """Who draws the page: name, role, what the role allows, the page's language and path."""

    name: str
    role: Role | None
    can: set[Action]
    t: Translator
    path: str = "/"
    nav: Any = None  # the pages' links (pages/__init__.py)

    @classmethod
    def current(cls, console: Console, path: str) -> Viewer:
        try:
            role = current_role(console.store.redis)
        except REDIS_DOWN:
            role = None
        return cls(name=getattr(current_user, "id", None) or "", role=role,
                   can={action for action in Action if allows(role, action)},
                   t=translator(console_lang()), path=path)


@dataclass(frozen=True)
class Page:
    """One console page. `path` is matched whole, or as a prefix when it ends in "/" (the rest is
    the page's parameter: /incident/<id>); `label` is its link in the header (None: reached from
    another page only); `layout(console, viewer, parameter)` draws it; `register(app, console)`
    adds its callbacks."""

    path: str
    label: str | None
    layout: Callable[[Console, Viewer, str], Any]
    register: Callable[[Dash, Console], None] = field(default=lambda app, console: None)


def language_switch(t: Translator, path: str = "/") -> html.Nav:
    """Links to this page in each language we have (`?lang=`, then kept in the session)."""
    links = [html.A(LANGUAGE_NAMES[lang], href=f"{path}?lang={lang}", lang=lang, hrefLang=lang,
                    className="console-lang" + (" console-lang-current" if lang == t.lang else ""),
                    **({"aria-current": "true"} if lang == t.lang else {}))
             for lang in LANGUAGES]
    return html.Nav(links, className="console-langs", **{"aria-label": t.gettext("Language")})


def signed_in(viewer: Viewer) -> html.Form:
    return html.Form([html.Span(viewer.name, className="operator-name"),
                      # (the role's own name, as `opscentre users role` spells it)
                      html.Span(viewer.role.value if viewer.role else "", id=ids.OPERATOR_ROLE,
                                className="operator-role", title=viewer.t.gettext("Your role")),
                      dcc.Input(type="hidden", name="csrf_token", value=csrf_token()),
                      html.Button(viewer.t.gettext("Sign out"), type="submit", className="signout")],
                     method="post", action="/logout", className="operator")


def header(console: Console, viewer: Viewer, items: list[Any]) -> list[Any]:
    """The header's children: brand, the pages' links, `items` (the page's own), language, user."""
    t = viewer.t
    return [
        html.Div([html.Span(console.settings.city.name, className="city-name"),
                  html.Span(t.gettext("Operations centre"), className="app-name")], className="brand"),
        viewer.nav,
        *items,
        language_switch(t, viewer.path),
        signed_in(viewer),
    ]


def attention(console: Console, t: Translator) -> list[Any]:
    """The chime and the announcer (components/attention.py), on every page: they follow the map's
    tick (ids.TICK), whose other callbacks need the map and stay quiet where it is not."""
    try:
        now = time.time()
        status = console.live.status_source(now)
        noticed = attention_model(status.alerts, status.stage, console.waiting_id(now))
    except (StoreUnavailable, *REDIS_DOWN):
        noticed = attention_model([], None)
    return attention_parts(t, noticed)


def page_shell(console: Console, viewer: Viewer, items: list[Any], main: list[Any], title: str) -> html.Div:
    """A page other than the map: the header (with the chime), then the page's content in a
    scrolling main."""
    return html.Div([
        html.Header(header(console, viewer, [*attention(console, viewer.t), *items]), className="topbar"),
        html.Main([html.H1(title, className="page-title"), *main], className="page-main",
                  **{"aria-label": title}),
        dcc.Interval(id=ids.TICK, interval=TICK_MS),
    ], className="page")


NOT_FOUND = N_("No such page")


def not_found(console: Console, viewer: Viewer, _param: str) -> html.Div:
    t = viewer.t
    return page_shell(console, viewer, [], [html.P(t.gettext("There is no console page at {path}.")
                                                   .format(path=viewer.path))], t.gettext(NOT_FOUND))
