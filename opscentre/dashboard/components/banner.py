"""Fixed banners: simulated data, city attribution."""

from __future__ import annotations

from dash import html

from opscentre.core.settings import Settings
from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.i18n import N_, Translator

SIMULATED = N_("SIMULATED DATA — not real observations")


def simulated_banner(simulated: bool, t: Translator | None = None) -> html.Div | None:
    """The banner in the language of `t` (None: the console request's)."""
    if not simulated:
        return None
    return html.Div(console_translator(t).gettext(SIMULATED), id=ids.BANNER, className="simulated-banner",
                    role="status")


def attribution(settings: Settings) -> html.Div:
    parts = [p for p in (settings.city.attribution, settings.map.tile_attribution) if p]
    return html.Div(" · ".join(parts), id=ids.ATTRIBUTION, className="attribution")
