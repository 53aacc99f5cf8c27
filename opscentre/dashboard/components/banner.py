"""Fixed banners: simulated data, city attribution."""

from __future__ import annotations

from dash import html

from opscentre.core.settings import Settings
from opscentre.dashboard import ids


def simulated_banner(simulated: bool) -> html.Div | None:
    if not simulated:
        return None
    return html.Div("SIMULATED DATA — not real observations", id=ids.BANNER, className="simulated-banner",
                    role="status")


def attribution(settings: Settings) -> html.Div:
    parts = [p for p in (settings.city.attribution, settings.map.tile_attribution) if p]
    return html.Div(" · ".join(parts), id=ids.ATTRIBUTION, className="attribution")
