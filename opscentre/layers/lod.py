"""Level of detail: what the map draws of a point layer too big to draw whole.

A point layer marks its main trace with `LOD_KEY` (`lod_marks`): per point its zone and a rank
(higher: worse), and the noun of its points in the reader's language. Every trace of the layer
with as many points (its halo) follows the same selection. The map then draws, for each such
layer with more than `POINTS_MAX` points:
- zoomed in (a `View` holding at most `POINTS_MAX` of its points): only the points in view;
- otherwise (the city, or a view still too full): one marker per zone at the zone's point —
  its worst point's colour and size, its hover "Zone: N gauges, the worst:" then the worst
  point's own hover — so the city stays readable and the traces that change stay small. Its
  customdata is null: a point's customdata names its entity (a click opens the entity's page),
  and an aggregate is none.
A layer at or under `POINTS_MAX` points is drawn whole, as before. Pure: no Dash, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from opscentre.core.geo import Zones

LOD_KEY = "_lod"  # never sent to the browser: `drawn` strips it
POINTS_MAX = 2000  # the most points of one layer the map draws; over it, zone aggregates
PER_POINT = ("lat", "lon", "text", "customdata", "hovertext", "ids", "marker.size", "marker.color",
             "marker.symbol", "marker.opacity")


@dataclass(frozen=True)
class View:
    """The map's visible box (lon/lat degrees)."""

    west: float
    south: float
    east: float
    north: float

    def key(self) -> list[float]:
        return [round(v, 4) for v in (self.west, self.south, self.east, self.north)]

    @classmethod
    def from_key(cls, key: Any) -> View | None:
        try:
            west, south, east, north = (float(v) for v in key)
        except (TypeError, ValueError):
            return None
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            return None
        return cls(west, south, east, north)


def view_of(relayout: Any) -> View | None:
    """The visible box in a plotly map's relayoutData (its `map._derived` corners), or None when
    the event says nothing of the view (autosize, a first draw...)."""
    if not isinstance(relayout, Mapping):
        return None
    derived = relayout.get("map._derived")
    if derived is None and isinstance(relayout.get("map"), Mapping):
        derived = relayout["map"].get("_derived")
    corners = derived.get("coordinates") if isinstance(derived, Mapping) else None
    try:
        lons = [float(c[0]) for c in corners]
        lats = [float(c[1]) for c in corners]
    except (TypeError, ValueError, IndexError):
        return None
    if len(lons) != 4:
        return None
    return View.from_key([max(-180.0, min(lons)), max(-90.0, min(lats)), min(180.0, max(lons)), min(90.0, max(lats))])


def lod_marks(zone_ids: Sequence[str | None], ranks: Sequence[float], noun: str) -> dict[str, Any]:
    """What a layer puts under LOD_KEY in its main point trace."""
    return {"zone": list(zone_ids), "rank": list(ranks), "noun": noun}


def _get(trace: Mapping[str, Any], path: str) -> Any:
    node: Any = trace
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _with(trace: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = trace
    for part in parents:
        node[part] = dict(node[part])
        node = node[part]
    node[leaf] = value


def drawn(traces: dict[str, list[dict[str, Any]]], zones: Zones, view: View | None,
          points_max: int = POINTS_MAX) -> dict[str, list[dict[str, Any]]]:
    """The traces as the map draws them in `view` (None: the whole city)."""
    out = {}
    for layer_id, layer_traces in traces.items():
        main = next((t for t in layer_traces if LOD_KEY in t), None)
        if main is None:
            out[layer_id] = layer_traces
            continue
        marks, n = main[LOD_KEY], len(main.get("lat") or ())
        if n <= points_max:
            out[layer_id] = [_strip(t) for t in layer_traces]
            continue
        chosen = _in_view(main, view, points_max) if view is not None else None
        if chosen is not None:
            out[layer_id] = [_select(t, n, chosen) for t in layer_traces]
        else:
            out[layer_id] = _aggregate(layer_traces, n, marks, zones)
    return out


def shown_view(traces: dict[str, list[dict[str, Any]]], view: View | None,
               points_max: int = POINTS_MAX) -> View | None:
    """The view as far as it changes what is drawn: None when every big point layer is drawn as
    zone aggregates in it (as for the whole city), so every such view draws the same traces."""
    if view is None:
        return None
    for layer_traces in traces.values():
        main = next((t for t in layer_traces if LOD_KEY in t), None)
        if main is not None and len(main.get("lat") or ()) > points_max \
                and _in_view(main, view, points_max) is not None:
            return view
    return None


_arrays: dict[int, tuple[list, np.ndarray, np.ndarray]] = {}  # id(lat list) -> (lat list, lat, lon)


def _coordinates(main: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A trace's lat/lon as arrays, converted once per trace (the lists are never changed)."""
    found = _arrays.get(id(main["lat"]))
    if found is None or found[0] is not main["lat"]:
        if len(_arrays) >= 8:
            _arrays.pop(next(iter(_arrays)))
        found = _arrays[id(main["lat"])] = (main["lat"], np.asarray(main["lat"], dtype=float),
                                           np.asarray(main["lon"], dtype=float))
    return found[1], found[2]


def _strip(trace: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in trace.items() if k != LOD_KEY} if LOD_KEY in trace else trace


def _in_view(main: dict[str, Any], view: View, points_max: int) -> list[int] | None:
    """The indices of the points in view, or None when there are more than points_max."""
    lat, lon = _coordinates(main)
    inside = np.flatnonzero((lon >= view.west) & (lon <= view.east) & (lat >= view.south) & (lat <= view.north))
    return inside.tolist() if len(inside) <= points_max else None


def _select(trace: dict[str, Any], n: int, chosen: list[int]) -> dict[str, Any]:
    out = _strip(trace)
    if len(trace.get("lat") or ()) != n:
        return out
    out = dict(out)
    for path in PER_POINT:
        value = _get(out, path)
        if isinstance(value, list) and len(value) == n:
            _with(out, path, [value[i] for i in chosen])
    return out


def _aggregate(layer_traces: list[dict[str, Any]], n: int, marks: Mapping[str, Any],
               zones: Zones) -> list[dict[str, Any]]:
    """One marker per zone: its worst point (highest rank; the first of equals)."""
    worst: dict[str | None, int] = {}
    count: dict[str | None, int] = {}
    ranks = marks["rank"]
    for i, zone_id in enumerate(marks["zone"]):
        count[zone_id] = count.get(zone_id, 0) + 1
        best = worst.get(zone_id)
        if best is None or ranks[i] > ranks[best]:
            worst[zone_id] = i
    points = dict(zip(zones.ids, zones.representative_points))
    names = zones.name_by_id
    order = [z for z in zones.ids if z in worst] + [z for z in worst if z not in points]
    chosen = [worst[z] for z in order]
    lon = [round(float(points[z][0]), 5) if z in points else None for z in order]
    lat = [round(float(points[z][1]), 5) if z in points else None for z in order]
    out = []
    for trace in layer_traces:
        selected = _select(trace, n, chosen)
        if len(trace.get("lat") or ()) == n:
            selected["lon"] = [x if x is not None else selected["lon"][k] for k, x in enumerate(lon)]
            selected["lat"] = [y if y is not None else selected["lat"][k] for k, y in enumerate(lat)]
            if isinstance(selected.get("customdata"), list):  # (a point's entity id: an aggregate is no entity)
                selected["customdata"] = [None] * len(order)
            if isinstance(selected.get("text"), list):
                selected["text"] = [f"<b>{names.get(z, z or '?')}</b>: {count[z]} {marks['noun']}<br>{text}"
                                    for z, text in zip(order, selected["text"])]
        out.append(selected)
    return out
