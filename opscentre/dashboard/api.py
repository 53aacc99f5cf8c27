"""The public, machine-readable API: /api/public/status.json and /api/public/layers/{layer}.geojson.

Cheap to serve to thousands: every answer has an ETag (hash of its content), Last-Modified and
`Cache-Control: public, max-age=5`, and If-None-Match gets a 304. A layer's GeoJSON is
rendered once per store version and served from memory until the version moves.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime, timezone
from typing import Any

import orjson
from flask import Blueprint, Response, request

from opscentre.core.settings import Settings
from opscentre.core.state import iso_utc
from opscentre.core.store import Store
from opscentre.dashboard.city_reading import CityStatus, read_city_data, read_status
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.layers import LAYERS, feature_collection
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


def _cached_answer(body: bytes, mimetype: str, last_modified: float | None) -> Response:
    response = Response(body, mimetype=mimetype)
    response.set_etag(hashlib.sha1(body).hexdigest()[:20])
    moment = min(last_modified or time.time(), time.time())
    response.last_modified = datetime.fromtimestamp(int(moment), timezone.utc)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_S
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


def _error(status_code: int, message: str, **extra: Any) -> Response:
    response = Response(orjson.dumps({"error": message, **extra}), status=status_code, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if status_code == 503:
        response.headers["Retry-After"] = str(MAX_AGE_S)
    return response


def public_api_blueprint(settings: Settings, store: Store, settings_simulated: bool) -> Blueprint:
    blueprint = Blueprint("public_api", __name__, url_prefix="/api/public")
    zone_names = settings.zones.name_by_id
    rendered: dict[str, tuple[int, bytes, float | None]] = {}  # layer id -> (version, body, updated_at)
    render_lock = threading.Lock()

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
        layer = LAYERS.get(layer_id)
        if layer is None or not layer.public:
            public = sorted(k for k, v in LAYERS.items() if v.public)
            return _error(404, f"unknown layer {layer_id[:100]!r}", layers=public)
        try:
            version = store.version()
            cached = rendered.get(layer_id)
            if cached is None or cached[0] != version:
                with render_lock:
                    cached = rendered.get(layer_id)
                    if cached is None or cached[0] != version:
                        status = read_status(store, settings_simulated, zone_names, time.time())
                        data = read_city_data(store, settings)
                        body = orjson.dumps(feature_collection(layer, data, status.simulated))
                        cached = rendered[layer_id] = (version, body, status.updated_at)
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        return _cached_answer(cached[1], "application/geo+json", cached[2])

    @blueprint.route("/", defaults={"rest": ""})
    @blueprint.route("/<path:rest>")
    def unknown(rest: str):
        return _error(404, "no such public resource", resources=["status.json", "layers/{layer}.geojson"])

    return blueprint
