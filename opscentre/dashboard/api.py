"""The public, machine-readable API: /api/public/status.json and /api/public/layers/{layer}.geojson.

Cheap to serve to thousands: every answer has an ETag (hash of its content), Last-Modified and
`Cache-Control: public, max-age=5`, and If-None-Match gets a 304. A layer's GeoJSON is
rendered once per store version (dashboard/public_layers.py) and served from memory until the
version moves. The layer files answer byte ranges (206 with Content-Range; If-Range honoured):
GDAL reads a remote file of more than a few kilobytes in ranges, and refuses a server without.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from opscentre.core.settings import Settings
from opscentre.core.state import iso_utc
from opscentre.core.store import Store
from opscentre.dashboard.city_reading import CityStatus, read_status
from opscentre.dashboard.public_layers import PublicLayers
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.layers.base import iso_local
from opscentre.layers.stages import stage_colour

MAX_AGE_S = 5


def status_document(status: CityStatus, settings: Settings) -> dict[str, Any]:
    return {
        "stage": status.stage["level"],
        "stage_name": status.stage["name"],
        "stage_since": status.stage.get("since"),
        "stage_colour": stage_colour(status.stage["level"]),
        "active_alerts": status.alerts,
        "updated_at": iso_utc(status.updated_at),
        "updated_at_local": iso_local(status.updated_at, settings.tz),
        "simulated": status.simulated,
        "city": settings.city.name,
    }


def _cached_answer(body: bytes, mimetype: str, last_modified: float | None, *, etag: str | None = None,
                   ranges: bool = False) -> Response:
    """A public, cacheable answer: ETag (of body unless given), Last-Modified, max-age, CORS;
    304 to a matching If-None-Match; with `ranges`, 206 to a satisfiable Range (416 otherwise)."""
    response = Response(body, mimetype=mimetype)
    response.set_etag(etag or hashlib.sha1(body).hexdigest()[:20])
    moment = min(last_modified or time.time(), time.time())
    response.last_modified = datetime.fromtimestamp(int(moment), UTC)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_S
    response.headers["Access-Control-Allow-Origin"] = "*"
    if not ranges:
        return response.make_conditional(request)
    try:
        return response.make_conditional(request, accept_ranges=True, complete_length=len(body))
    except RequestedRangeNotSatisfiable:
        refused = _error(416, "requested range not satisfiable", length=len(body))
        refused.headers["Content-Range"] = f"bytes */{len(body)}"
        return refused


def _error(status_code: int, message: str, **extra: Any) -> Response:
    response = Response(orjson.dumps({"error": message, **extra}), status=status_code, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if status_code == 503:
        response.headers["Retry-After"] = str(MAX_AGE_S)
    return response


def public_api_blueprint(settings: Settings, store: Store, settings_simulated: bool,
                         layers: PublicLayers | None = None) -> Blueprint:
    blueprint = Blueprint("public_api", __name__, url_prefix="/api/public")
    zone_names = settings.zones.name_by_id
    layers = layers or PublicLayers(settings, store, settings_simulated)

    @blueprint.get("/status.json")
    def status_json():
        try:
            status = read_status(store, settings_simulated, zone_names, time.time())
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        body = orjson.dumps(status_document(status, settings))
        return _cached_answer(body, "application/json", status.updated_at)

    @blueprint.get("/layers/<layer_id>.geojson")
    def layer_geojson(layer_id: str):
        try:
            rendered = layers.get(layer_id)
        except KeyError:
            return _error(404, f"unknown layer {layer_id[:100]!r}", layers=sorted(layers.public_ids()))
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        return _cached_answer(rendered.body, "application/geo+json", rendered.updated_at, etag=rendered.etag,
                              ranges=True)

    @blueprint.route("/", defaults={"rest": ""})
    @blueprint.route("/<path:rest>")
    def unknown(rest: str):
        return _error(404, "no such public resource", resources=["status.json", "layers/{layer}.geojson", "ogc/"])

    return blueprint
