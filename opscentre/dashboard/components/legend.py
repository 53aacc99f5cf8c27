"""The map legend, drawn from the layers' own legend entries in the console's language, with the
city's own vocabulary where a layer has one: the air-quality index the city uses
(`city.air_quality_scale`, layers/air_quality.py `city_legend`) and its rain classes
(`city.rain_classes`, layers/rain_classes.py: the zones and gauges are coloured with them), not Rio's
(layers/city_legends.py)."""

from __future__ import annotations

from dash import html

from opscentre.core.settings import Settings
from opscentre.dashboard.console_language import console_translator
from opscentre.i18n import Translator
from opscentre.layers import LegendEntry
from opscentre.layers.city_legends import city_legend


def layer_legend(layer_id: str, t: Translator, settings: Settings | None = None) -> tuple[str, tuple[LegendEntry, ...]]:
    """A layer's legend title (translated) and entries (labels still to translate), in the city's
    vocabulary when `settings` are given (layers/city_legends.py)."""
    city = settings.city if settings is not None else None
    title, fields, entries = city_legend(layer_id, city.air_quality_scale if city else None,
                                         city.rain_classes if city else None)
    return t.gettext(title).format(**fields) if fields else t.gettext(title), entries


def legend(layer_ids: list[str], t: Translator | None = None, settings: Settings | None = None) -> html.Details:
    """The legend in the language of `t` (None: the console request's). The layers' titles and
    labels are listed for translation in opscentre/i18n/vocabulary.py."""
    t = console_translator(t)
    sections = []
    for layer_id in layer_ids:
        title, entries = layer_legend(layer_id, t, settings)
        sections.append(html.Div([
            html.Div(title, className="legend-title"),
            html.Ul([html.Li([html.Span(className=f"swatch swatch-{entry.shape}",
                                        style={"backgroundColor": entry.colour}), t.gettext(entry.label)])
                     for entry in entries], className="legend-list"),
        ], className="legend-section", **{"data-layer": layer_id}))
    return html.Details([html.Summary(t.gettext("Legend"), className="legend-summary"), *sections], open=True,
                        className="legend", **{"aria-label": t.gettext("Map legend")})
