"""The console's pages, one module each, and the router that shows them.

Why not Dash's own pages (`use_pages`): its registry (`dash.page_registry`) and `dash.callback`'s
list are module globals. A process here holds several consoles (the tests build one per Redis and
city; the public app lives beside the console), so a page's layout would have to find its app's
store through a global, the first app set up would take every `dash.callback` (Dash clears the
list), and Dash registers its router at the first request, after the check that every write
callback is guarded by role (tests/dashboard/test_roles.py) has looked. So: `PAGES` below (one
line per page), a `dcc.Location` and one router callback of our own, registered with the app's
other callbacks when the app is made, and layouts that take the app's `Console`.

The first draw is already the right page, with no extra round trip: Dash asks for its layout from
the page it loaded, so `layout()` draws the page the Referer names (the console's Referrer-Policy
keeps the path on same-origin requests); no Referer draws the map, as before pages existed. The
router callback then only acts when the path and the page drawn differ: a link followed inside
the console (dcc.Link: no reload), or a browser that sent no Referer. Every page needs a signed-in
user (auth.py's guard, for the page and each callback); every write checks the role on the
server (dashboard/roles.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from flask import has_request_context, request

from opscentre.dashboard import ids
from opscentre.dashboard.pages import alerts, audit, feeds, incident
from opscentre.dashboard.pages import wall
from opscentre.dashboard.pages import recipients, users
from opscentre.dashboard.pages import entity, notifications
from opscentre.dashboard.pages import map as map_page
from opscentre.dashboard.pages.frame import Console, Page, Viewer, not_found
from opscentre.i18n import N_

PAGES: tuple[Page, ...] = (
    map_page.PAGE,
    alerts.PAGE,
    incident.PAGE,
    audit.PAGE,
    feeds.PAGE,
    notifications.PAGE,
    entity.PAGE,
    wall.PAGE,
    users.PAGE,
    recipients.PAGE,
)
NAV_LABEL = N_("Console pages")
MAX_PATH = 200


def find(path: str) -> tuple[Page | None, str]:
    """The page at `path` and its parameter ("" for a page matched whole)."""
    path = (path or "/")[:MAX_PATH]
    for page in PAGES:
        if page.path.endswith("/") and page.path != "/":
            if path.startswith(page.path) and len(path) > len(page.path):
                return page, path[len(page.path):].strip("/")
        elif path == page.path or (page.path != "/" and path == page.path + "/"):
            return page, ""
    return None, ""


def nav(viewer: Viewer) -> html.Nav:
    """The pages' links: in-app links (no reload); the current one is marked for screen readers."""
    current, _ = find(viewer.path)
    links = []
    for page in PAGES:
        if page.label is None:
            continue
        label = viewer.t.gettext(page.label)
        if page is current:
            links.append(html.A(label, href=page.path, className="console-nav-link console-nav-current",
                                **{"aria-current": "page"}))
        else:
            links.append(dcc.Link(label, href=page.path, className="console-nav-link"))
    return html.Nav(links, id=ids.NAV, className="console-nav", **{"aria-label": viewer.t.gettext(NAV_LABEL)})


def draw(console: Console, path: str):
    """The page at `path`, drawn for the signed-in user."""
    page, param = find(path)
    viewer = Viewer.current(console, (path or "/")[:MAX_PATH])
    viewer.nav = nav(viewer)
    return (page.layout if page else not_found)(console, viewer, param)


def requested_path() -> str:
    """The path of the page that asked for the layout (its Referer), "/" when none says."""
    if not has_request_context() or not request.referrer:
        return "/"
    referrer = urlsplit(request.referrer)
    if referrer.netloc and referrer.netloc != request.host:
        return "/"
    return referrer.path or "/"


def root_layout(console: Console):
    path = requested_path()
    return html.Div([dcc.Location(id=ids.URL, refresh=False), dcc.Store(id=ids.PAGE_SHOWN, data=path),
                     html.Div(draw(console, path), id=ids.PAGE)], className="console-root")


def register(app: Dash, console: Console) -> None:
    """The layout, the router and every page's callbacks."""
    app.layout = lambda: root_layout(console)
    for page in PAGES:
        page.register(app, console)

    @app.callback(Output(ids.PAGE, "children"), Output(ids.PAGE_SHOWN, "data"),
                  Input(ids.URL, "pathname"), State(ids.PAGE_SHOWN, "data"))
    def route(pathname, shown):
        path = str(pathname or "/")[:MAX_PATH]
        if path == shown:
            raise PreventUpdate  # (the first draw was this page already)
        return draw(console, path), path
