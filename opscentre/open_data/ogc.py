"""OGC API – Features (Part 1: Core, GeoJSON) over the public layers: pure documents.

No Flask, no Redis: the HTTP adapter (dashboard/ogc_api.py) parses nothing itself; it hands the
query strings to `parse_bbox`, `parse_limit`, `parse_offset`, `check_format` (each raises
`OgcError` with a status and a clear message) and serves what `landing`, `conformance`,
`collections`, `collection`, `items_page` and `item` return, with links built on `base` (the
absolute URL of the landing page, ending in "/").

A layer's FeatureCollection becomes `LayerItems` once per rendered version: every feature has
an `id` (the layer's own — entity, event or zone id — or, when a layer leaves it out, one
derived from its properties), and a spatial index answers `bbox`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import shapely
from shapely.geometry import shape

from opscentre.i18n import N_, SOURCE_LANGUAGE, translator

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000  # a larger limit is clamped to this (the spec allows it); see parse_limit
MAX_OFFSET = 10_000_000
JSON, GEOJSON, OPENAPI = "application/json", "application/geo+json", "application/vnd.oai.openapi+json;version=3.0"

# Every human-readable text of the API, in English; its wording is the translation catalogue's
# (opscentre/i18n). The API speaks English (LANGUAGE): a client's language is a parameter away.
LANGUAGE = SOURCE_LANGUAGE
TEXT: dict[str, str] = {
    "title": N_("{city} — open data (OGC API – Features)"),
    "description": N_("The public map layers of the {city} operations centre, read-only, as OGC API – Features."),
    "self": N_("This document"),
    "service-desc": N_("The API definition (OpenAPI 3.0)"),
    "conformance": N_("The conformance classes this API implements"),
    "data": N_("The collections: one per public layer"),
    "items": N_("The features of {layer}"),
    "collection": N_("The collection {layer}"),
    "next": N_("Next page"),
    "prev": N_("Previous page"),
    "layer:zones": N_("Every zone (bairro) with its worst 15-minute rain class and its worst public alert."),
    "layer:warnings": N_("Weather warnings in force (NWS / CAP areas), by severity."),
    "layer:traffic": N_("Road segments and reported jams by congestion level; traffic reports."),
    "layer:outages": N_("Power outages and the customers affected, per zone."),
    "layer:rivers": N_("River and channel stations: level against each station's own thresholds."),
    "layer:rain_gauges": N_("Rain gauges: the last 15-minute rain, its class and the accumulations."),
    "layer:air_quality": N_("Air quality stations: the index and its category."),
    "layer:transit": N_("Transit vehicles by route, and service alerts."),
    "error:bbox_count": N_("bbox must be 4 numbers: minx,miny,maxx,maxy (longitude, latitude in CRS84); got {n}"),
    "error:bbox_number": N_("bbox must be 4 finite numbers: minx,miny,maxx,maxy; {value!r} is not one"),
    "error:bbox_lon": N_("bbox longitudes must be within -180..180"),
    "error:bbox_lat": N_("bbox latitudes must be within -90..90"),
    "error:bbox_order": N_("bbox minimum must not exceed its maximum (minx <= maxx, miny <= maxy)"),
    "error:bbox_crs": N_("only bbox-crs {crs} is supported"),
    "error:limit": N_("limit must be a whole number from 1 (at most {max} are returned); got {value!r}"),
    "error:offset": N_("offset must be a whole number from 0; got {value!r}"),
    "error:format": N_("unknown f={value!r}: this API speaks JSON only (f=json)"),
    "error:not_acceptable": N_("this API answers JSON (application/json, application/geo+json) only"),
    "error:collection": N_("no collection {value!r}"),
    "error:feature": N_("no feature {value!r} in collection {layer!r}"),
}


class OgcError(Exception):
    """A request the API refuses: HTTP status and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def text(key: str, **values: Any) -> str:
    return translator(LANGUAGE).gettext(TEXT[key]).format(**values)


# --- query parameters ---------------------------------------------------------------------------

def parse_bbox(raw: str | None, crs: str | None = None) -> tuple[float, float, float, float] | None:
    """`minx,miny,maxx,maxy` in CRS84 (lon/lat), or None when absent. Anything else: OgcError 400.

    A bbox that crosses the antimeridian (minx > maxx) is refused too: no city here spans it."""
    if crs not in (None, "", CRS84):
        raise OgcError(400, text("error:bbox_crs", crs=CRS84))
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise OgcError(400, text("error:bbox_count", n=len(parts)))
    numbers = []
    for part in parts:
        try:
            number = float(part)
        except ValueError:
            raise OgcError(400, text("error:bbox_number", value=part[:40])) from None
        if not math.isfinite(number):
            raise OgcError(400, text("error:bbox_number", value=part[:40]))
        numbers.append(number)
    minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise OgcError(400, text("error:bbox_lon"))
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise OgcError(400, text("error:bbox_lat"))
    if minx > maxx or miny > maxy:
        raise OgcError(400, text("error:bbox_order"))
    return minx, miny, maxx, maxy


def _whole(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() else None


def parse_limit(raw: str | None) -> int:
    """DEFAULT_LIMIT when absent; a whole number >= 1, clamped to MAX_LIMIT; else OgcError 400."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    value = _whole(raw)
    if value is None or value < 1:
        raise OgcError(400, text("error:limit", max=MAX_LIMIT, value=raw[:40]))
    return min(value, MAX_LIMIT)


def parse_offset(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    value = _whole(raw)
    if value is None or value > MAX_OFFSET:
        raise OgcError(400, text("error:offset", value=raw[:40]))
    return value


def check_format(f: str | None) -> None:
    """f=json (or geojson) or nothing; any other f is a 400."""
    if f not in (None, "", "json", "geojson"):
        raise OgcError(400, text("error:format", value=f[:40]))


def admits_json(accepted: Sequence[tuple[str, float]]) -> bool:
    """Whether an Accept header's (media type, quality) pairs admit a JSON answer: none given,
    */*, application/*, or any JSON type (application/json, geo+json, an OpenAPI +json...)."""
    if not accepted:
        return True
    for media, quality in accepted:
        kind = media.split(";", 1)[0].strip().lower()
        if quality > 0 and (kind in ("*/*", "*", "application/*") or kind.endswith("json")):
            return True
    return False


# --- documents ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Catalogue:
    """What the API describes: the city, its public layers (id -> title) and their extent."""

    city: str
    layers: Mapping[str, str]  # layer id -> title, in map order
    bounds: tuple[float, float, float, float]  # of the city's zones, CRS84


def _link(href: str, rel: str, media: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media}
    if title:
        link["title"] = title
    return link


def landing(catalogue: Catalogue, base: str) -> dict[str, Any]:
    return {
        "title": text("title", city=catalogue.city),
        "description": text("description", city=catalogue.city),
        "links": [
            _link(base, "self", JSON, text("self")),
            _link(f"{base}api", "service-desc", OPENAPI, text("service-desc")),
            _link(f"{base}conformance", "conformance", JSON, text("conformance")),
            _link(f"{base}collections", "data", JSON, text("data")),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def _collection_url(base: str, layer_id: str) -> str:
    return f"{base}collections/{quote(layer_id, safe='')}"


def collection(catalogue: Catalogue, layer_id: str, base: str) -> dict[str, Any]:
    if layer_id not in catalogue.layers:
        raise OgcError(404, text("error:collection", value=layer_id[:100]))
    url = _collection_url(base, layer_id)
    return {
        "id": layer_id,
        "title": catalogue.layers[layer_id],
        "description": text(f"layer:{layer_id}") if f"layer:{layer_id}" in TEXT else catalogue.layers[layer_id],
        "extent": {"spatial": {"bbox": [list(catalogue.bounds)], "crs": CRS84}},
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            _link(url, "self", JSON, text("collection", layer=layer_id)),
            _link(f"{url}/items", "items", GEOJSON, text("items", layer=layer_id)),
        ],
    }


def collections(catalogue: Catalogue, base: str) -> dict[str, Any]:
    return {
        "links": [_link(f"{base}collections", "self", JSON, text("data"))],
        "collections": [collection(catalogue, layer_id, base) for layer_id in catalogue.layers],
    }


def openapi(catalogue: Catalogue, base: str) -> dict[str, Any]:
    """A small OpenAPI 3.0 definition: the paths, and the limits clients read (GDAL takes the
    page size from `limit`'s maximum)."""
    json_ok = {"200": {"description": "OK", "content": {JSON: {}}}}
    layer_param = {"name": "collectionId", "in": "path", "required": True,
                   "schema": {"type": "string", "enum": list(catalogue.layers)}}
    items_params = [
        layer_param,
        {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
         "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}},
        {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        {"name": "offset", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "default": 0}},
    ]
    geojson_ok = {"200": {"description": "GeoJSON", "content": {GEOJSON: {}}},
                  "400": {"description": "Bad query"}, "404": {"description": "Not found"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": text("title", city=catalogue.city), "version": "1.0.0",
                 "description": text("description", city=catalogue.city)},
        "servers": [{"url": base.rstrip("/")}],
        "paths": {
            "/": {"get": {"summary": text("self"), "responses": json_ok}},
            "/conformance": {"get": {"summary": text("conformance"), "responses": json_ok}},
            "/collections": {"get": {"summary": text("data"), "responses": json_ok}},
            "/collections/{collectionId}": {"get": {"parameters": [layer_param], "responses": json_ok}},
            "/collections/{collectionId}/items": {"get": {"parameters": items_params, "responses": geojson_ok}},
            "/collections/{collectionId}/items/{featureId}": {"get": {
                "parameters": [layer_param, {"name": "featureId", "in": "path", "required": True,
                                             "schema": {"type": "string"}}],
                "responses": geojson_ok}},
        },
    }


# --- features -----------------------------------------------------------------------------------

_ID_PROPERTIES = ("id", "entity_id", "event_id", "zone_id")


def _feature_id(feature: Mapping[str, Any], layer_id: str, index: int) -> str:
    if feature.get("id") not in (None, ""):
        return str(feature["id"])
    properties = feature.get("properties") or {}
    for key in _ID_PROPERTIES:
        if properties.get(key) not in (None, ""):
            return str(properties[key])
    return f"{layer_id}-{index}"


class LayerItems:
    """One rendered version of a layer as OGC features: ids, and a spatial index for bbox."""

    def __init__(self, layer_id: str, features: Sequence[Mapping[str, Any]]):
        self.layer_id = layer_id
        self.features: list[dict[str, Any]] = []
        self.by_id: dict[str, int] = {}
        geometries = []
        for index, feature in enumerate(features):
            fid = _feature_id(feature, layer_id, index)
            if fid in self.by_id:  # ids name one feature each: a repeat gets its position
                fid = f"{fid}-{index}"
            self.by_id[fid] = len(self.features)
            self.features.append({**feature, "type": "Feature", "id": fid})
            geometries.append(_shape(feature.get("geometry")))
        self._geometries = geometries
        self._tree = shapely.STRtree(geometries) if geometries else None

    @classmethod
    def from_collection(cls, layer_id: str, document: Mapping[str, Any]) -> LayerItems:
        return cls(layer_id, document.get("features") or [])

    def matching(self, bbox: tuple[float, float, float, float] | None) -> list[int]:
        """Positions of the features whose geometry intersects bbox (all, without one), in order."""
        if bbox is None:
            return list(range(len(self.features)))
        if self._tree is None:
            return []
        return sorted(int(i) for i in self._tree.query(shapely.box(*bbox), predicate="intersects"))


def _shape(geometry: Mapping[str, Any] | None):
    if not geometry:
        return None
    try:
        return shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException):
        return None


def _items_url(base: str, layer_id: str, bbox: tuple[float, ...] | None, limit: int, offset: int) -> str:
    query: dict[str, Any] = {}
    if bbox is not None:
        query["bbox"] = ",".join(f"{v:.10g}" for v in bbox)
    query["limit"] = limit
    if offset:
        query["offset"] = offset
    return f"{_collection_url(base, layer_id)}/items?{urlencode(query)}"


def items_page(items: LayerItems, base: str, bbox: tuple[float, float, float, float] | None, limit: int,
               offset: int, time_stamp: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One page of a collection's items: `limit` features from `offset` of those in bbox, with
    self / next / prev / collection links. `extra` goes in as members (e.g. `simulated`)."""
    matched = items.matching(bbox)
    chosen = matched[offset:offset + limit]
    layer_id = items.layer_id
    links = [_link(_items_url(base, layer_id, bbox, limit, offset), "self", GEOJSON, text("self")),
             _link(_collection_url(base, layer_id), "collection", JSON, text("collection", layer=layer_id))]
    if offset + limit < len(matched):
        links.append(_link(_items_url(base, layer_id, bbox, limit, offset + limit), "next", GEOJSON, text("next")))
    if offset > 0:
        previous = max(0, min(offset, len(matched)) - limit)
        links.append(_link(_items_url(base, layer_id, bbox, limit, previous), "prev", GEOJSON, text("prev")))
    return {
        "type": "FeatureCollection",
        **(extra or {}),
        "features": [items.features[i] for i in chosen],
        "numberMatched": len(matched),
        "numberReturned": len(chosen),
        "timeStamp": time_stamp,
        "links": links,
    }


def item(items: LayerItems, fid: str, base: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    position = items.by_id.get(fid)
    if position is None:
        raise OgcError(404, text("error:feature", value=fid[:100], layer=items.layer_id))
    collection_url = _collection_url(base, items.layer_id)
    return {
        **items.features[position],
        **(extra or {}),
        "links": [_link(f"{collection_url}/items/{quote(fid, safe='')}", "self", GEOJSON, text("self")),
                  _link(collection_url, "collection", JSON, text("collection", layer=items.layer_id))],
    }
