"""The map figure: built once per page load, then patched array by array.

The first figure carries everything, including the zones GeoJSON. After that a tick sends a
Dash `Patch` holding only the trace properties (a layer's `patched` paths) whose content
changed since what this browser holds. What a browser holds is tracked by a digest per (trace,
property) kept in its own dcc.Store, so the server keeps no per-client state (any web
worker can answer any tick). When the server still has the arrays of that digest (`previous`:
the traces it drew for the version and view the browser says it holds) and only a few of their
items changed, the Patch assigns just those items (`patch[...][k] = v`); otherwise the array is
replaced whole, in one operation (many per-item operations cost the browser more than one).

Point layers too big to draw whole are drawn by level of detail (layers/lod.py: zone aggregates
at city zoom, the points in view when zoomed in): the traces given here are already the drawn
ones; their private LOD marks are never sent.

The traces are drawn in one language (`lang`: their hover texts, from the catalogue; None: the
source language, English); a language draws the same traces with the same patchable paths, so
only the texts' digests differ from one language to another.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from dash import Patch

from opscentre.core.settings import Settings
from opscentre.i18n import translator
from opscentre.layers import LAYERS, CityData
from opscentre.layers.lod import LOD_KEY

BACKGROUND = "#0a1422"
# A map style with nothing to fetch: a background colour only (no tiles, no glyphs, no sprites).
# The city itself is drawn by the zones layer from its own GeoJSON.
# (`sources` must not be empty: plotly.js drops an empty object from the layout, then on the
# next update finds the style changed and maplibre refuses it — "Map error.")
OFFLINE_STYLE = {
    "id": "opscentre-offline",
    "version": 8,
    "name": "opscentre-offline",
    "sources": {"opscentre-none": {"type": "geojson", "data": {"type": "FeatureCollection", "features": []}}},
    "layers": [{"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}],
}


# A layer whose every feed is stale is drawn at this fraction of its opacity: still there (the last
# good picture stays on the wall) but visibly not current. The status bar says since when.
STALE_OPACITY = 0.3
# Opacity paths every trace carries explicitly, so greying out and back is a plain Patch.
OPACITY_PATHS = ("opacity", "marker.opacity")


def layer_traces(data: CityData, layer_ids: list[str], stale_feeds: frozenset[str] = frozenset(),
                 lang: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every layer's traces, hover texts in `lang` (None: English)."""
    t = translator(lang) if lang else None
    out = {}
    for layer_id in layer_ids:
        layer = LAYERS[layer_id]
        sources = layer.sources(data) if stale_feeds else set()
        stale = bool(sources) and sources <= stale_feeds
        out[layer_id] = [_with_opacity(trace, stale) for trace in layer.traces(data, t)]
    return out


def stale_layers(data: CityData, layer_ids: list[str], stale_feeds: frozenset[str]) -> list[str]:
    """The layers drawn greyed out: every feed they draw from is stale."""
    return [layer_id for layer_id in layer_ids
            if (sources := LAYERS[layer_id].sources(data)) and sources <= stale_feeds]


def _with_opacity(trace: dict[str, Any], stale: bool) -> dict[str, Any]:
    factor = STALE_OPACITY if stale else 1.0
    if trace.get("type") == "choroplethmap":  # no trace-level opacity: its fill's is marker.opacity
        marker = dict(trace.get("marker") or {})
        marker["opacity"] = round(float(marker.get("opacity", 1.0)) * factor, 3)
        return {**trace, "marker": marker}
    return {**trace, "opacity": round(float(trace.get("opacity", 1.0)) * factor, 3)}


def trace_index(traces: dict[str, list[dict[str, Any]]]) -> dict[str, list[int]]:
    """layer id -> [first, stop) indices of its traces in figure.data."""
    index, start = {}, 0
    for layer_id, layer_traces_ in traces.items():
        index[layer_id] = [start, start + len(layer_traces_)]
        start += len(layer_traces_)
    return index


def build_figure(traces: dict[str, list[dict[str, Any]]], settings: Settings, visible: list[str]) -> dict[str, Any]:
    """The whole first figure: every layer's traces (geometry included) and the map layout."""
    figure_data = []
    for layer_id, layer_traces_ in traces.items():
        for trace in layer_traces_:
            figure_data.append({**{k: v for k, v in trace.items() if k != LOD_KEY}, "visible": layer_id in visible})
    return {"data": figure_data, "layout": map_layout(settings)}


def map_layout(settings: Settings) -> dict[str, Any]:
    if settings.city.center:
        lat, lon = settings.city.center
    else:
        west, south, east, north = settings.zones.bounds
        lat, lon = (south + north) / 2, (west + east) / 2
    layers = []
    if settings.map.tile_url:
        layers.append({"below": "traces", "sourcetype": "raster", "source": [settings.map.tile_url],
                       "sourceattribution": settings.map.tile_attribution})
    return {
        "map": {"style": OFFLINE_STYLE, "center": {"lat": lat, "lon": lon}, "zoom": settings.city.zoom,
                "layers": layers},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "paper_bgcolor": BACKGROUND,
        "showlegend": False,
        "uirevision": "city",  # keep the operator's pan/zoom across updates
        "hoverlabel": {"bgcolor": "#101b2d", "bordercolor": "#3b4a63", "font": {"color": "#e6edf3", "size": 13}},
        "dragmode": "pan",
        "meta": {"city_bounds": [round(b, 5) for b in settings.zones.bounds]},  # see assets/fit_city.js
    }


def _at(trace: dict[str, Any], path: str) -> Any:
    node: Any = trace
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _digest(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value), digest_size=8).hexdigest()


def digests(traces: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Digest of every patchable array of every trace, keyed 'trace index:path'."""
    out, i = {}, 0
    for layer_id, layer_traces_ in traces.items():
        for trace in layer_traces_:
            for path in (*LAYERS[layer_id].patched, *OPACITY_PATHS):
                value = _at(trace, path)
                if value is not None:
                    out[f"{i}:{path}"] = _digest(value)
            i += 1
    return out


# The most items of one array a Patch assigns one by one; past it, the array goes whole.
PER_ITEM_MAX = 64


def figure_patch(traces: dict[str, list[dict[str, Any]]], current: dict[str, str],
                 held: dict[str, str],
                 previous: tuple[dict[str, list[dict[str, Any]]], dict[str, str]] | None = None) -> Patch | None:
    """A Patch bringing the browser from what it holds (`held` digests) to `traces` (whose
    digests are `current`, from `digests(traces)`). With `previous` (traces and their digests),
    an array the browser holds exactly as it was there (same digest) and that changed in at most
    PER_ITEM_MAX items gets only those items. None when nothing changed."""
    patch, changed, i = Patch(), 0, 0
    before_traces, before_digests = previous if previous is not None else ({}, {})
    for layer_id, layer_traces_ in traces.items():
        before_layer = before_traces.get(layer_id) or []
        for j, trace in enumerate(layer_traces_):
            for path in (*LAYERS[layer_id].patched, *OPACITY_PATHS):
                key = f"{i}:{path}"
                if key not in current or held.get(key) == current[key]:
                    continue
                value = _at(trace, path)
                target = patch["data"][i]
                *parents, leaf = path.split(".")
                for part in parents:
                    target = target[part]
                before = _at(before_layer[j], path) if j < len(before_layer) else None
                items = _changed_items(before, value) if held.get(key) == before_digests.get(key) else None
                if items is not None:
                    for k in items:
                        target[leaf][k] = value[k]
                else:
                    target[leaf] = value
                changed += 1
            i += 1
    return patch if changed else None


def _changed_items(before: Any, value: Any) -> list[int] | None:
    """The indices where two equally long lists differ, or None when the whole list should go."""
    if not isinstance(before, list) or not isinstance(value, list) or len(before) != len(value):
        return None
    items = [k for k, (a, b) in enumerate(zip(before, value)) if a != b]
    return items if len(items) <= PER_ITEM_MAX else None


def visibility_patch(index: dict[str, list[int]], visible: list[str]) -> Patch:
    patch = Patch()
    for layer_id, (start, stop) in index.items():
        for i in range(start, stop):
            patch["data"][i]["visible"] = layer_id in visible
    return patch
