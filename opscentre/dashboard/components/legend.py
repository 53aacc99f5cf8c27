"""The map legend, drawn from the layers' own legend entries."""

from __future__ import annotations

from dash import html

from opscentre.layers import LAYERS


def legend(layer_ids: list[str]) -> html.Details:
    sections = []
    for layer_id in layer_ids:
        layer = LAYERS[layer_id]
        sections.append(html.Div([
            html.Div(layer.title, className="legend-title"),
            html.Ul([html.Li([html.Span(className=f"swatch swatch-{entry.shape}",
                                        style={"backgroundColor": entry.colour}), entry.label])
                     for entry in layer.legend], className="legend-list"),
        ], className="legend-section", **{"data-layer": layer_id}))
    return html.Details([html.Summary("Legend", className="legend-summary"), *sections], open=True,
                        className="legend", **{"aria-label": "Map legend"})
