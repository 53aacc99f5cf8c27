"""The public, machine-readable API: /api/public/status.json and /api/public/layers/{layer}.geojson.

Cheap to serve to thousands: every answer has an ETag (hash of its content), Last-Modified and
`Cache-Control: public, max-age=5`, and If-None-Match gets a 304. Both come from the read
model (dashboard/public_layers.py, core/read_model.py): built once per store version, served from
memory, gzip-compressed once when the client accepts it, and served as they last were while Redis
is unreachable (status.json then says `stale` and `as_of`). The layer files answer byte ranges (206 with Content-Range; If-Range honoured):
GDAL reads a remote file of more than a few kilobytes in ranges, and refuses a server without.
Every /api/public/ URL is read-only: any other method is a JSON 405 with Allow.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import MethodNotAllowed, RequestedRangeNotSatisfiable

from opscentre.core.settings import Settings
from opscentre.core.state import iso_utc
from opscentre.core.store import Store
from opscentre.dashboard.public_layers import PublicLayers, status_document  # noqa: F401 (status_document: its old home)
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.layers.base import iso_local

MAX_AGE_S = 5


def _cached_answer(body: bytes, mimetype: str, last_modified: float | None, *, etag: str | None = None,
                   ranges: bool = False, gzipped: bytes | None = None) -> Response:
    """A public, cacheable answer: ETag (of body unless given), Last-Modified, max-age, CORS;
    304 to a matching If-None-Match; with `ranges`, 206 to a satisfiable Range (416 otherwise);
    `gzipped` (the same body, compressed once when it was built) to a client that accepts gzip
    and asks for no range."""
    etag = etag or hashlib.sha1(body).hexdigest()[:20]
    compressed = gzipped is not None and "gzip" in request.accept_encodings and not request.range
    response = Response(gzipped if compressed else body, mimetype=mimetype)
    if compressed:
        response.content_encoding = "gzip"
        etag += "-gz"  # (another representation: its own ETag)
    response.set_etag(etag)
    if gzipped is not None:
        response.vary.add("Accept-Encoding")
    moment = min(last_modified or time.time(), time.time())
    response.last_modified = datetime.fromtimestamp(int(moment), UTC)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_S
    response.headers["Access-Control-Allow-Origin"] = "*"
    if compressed and ranges:
        response.accept_ranges = "bytes"  # (a Range request gets the plain body, in ranges)
    if not ranges or compressed:
        return response.make_conditional(request)
    try:
        return response.make_conditional(request, accept_ranges=True, complete_length=len(body))
    except RequestedRangeNotSatisfiable:
        refused = _error(416, "requested range not satisfiable", length=len(body))
        refused.headers["Content-Range"] = f"bytes */{len(body)}"
        return refused


def _as_of(body: bytes, built_at: float, settings: Settings) -> bytes:
    """status.json served from memory while Redis is unreachable, saying as of when."""
    return orjson.dumps({**orjson.loads(body), "stale": True, "as_of": iso_utc(built_at),
                         "as_of_local": iso_local(built_at, settings.tz)})


def _error(status_code: int, message: str, **extra: Any) -> Response:
    response = Response(orjson.dumps({"error": message, **extra}), status=status_code, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if status_code == 503:
        response.headers["Retry-After"] = str(MAX_AGE_S)
    return response


def public_api_blueprint(settings: Settings, store: Store, settings_simulated: bool,
                         layers: PublicLayers | None = None) -> Blueprint:
    blueprint = Blueprint("public_api", __name__, url_prefix="/api/public")
    layers = layers or PublicLayers(settings, store, settings_simulated)

    @blueprint.get("/status.json")
    def status_json():
        try:
            snapshot = layers.status()
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        if snapshot.stale:
            body = _as_of(snapshot.body, snapshot.built_at, settings)
            response = _cached_answer(body, "application/json", snapshot.meta.get("updated_at"))
            response.cache_control.max_age = 0
            return response
        return _cached_answer(snapshot.body, "application/json", snapshot.meta.get("updated_at"),
                              etag=snapshot.etag, gzipped=snapshot.gzipped)

    @blueprint.get("/layers/<layer_id>.geojson")
    def layer_geojson(layer_id: str):
        try:
            rendered = layers.get(layer_id)
        except KeyError:
            return _error(404, f"unknown layer {layer_id[:100]!r}", layers=sorted(layers.public_ids()))
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        return _cached_answer(rendered.body, "application/geo+json", rendered.updated_at, etag=rendered.etag,
                              ranges=True, gzipped=rendered.gzipped)

    @blueprint.app_errorhandler(MethodNotAllowed)  # (routing fails before any blueprint's handler is known)
    def method_not_allowed(error: MethodNotAllowed):
        return _method_not_allowed(error)

    @blueprint.route("/", defaults={"rest": ""})
    @blueprint.route("/<path:rest>")
    def unknown(rest: str):
        return _error(404, "no such public resource", resources=["status.json", "layers/{layer}.geojson", "ogc/"])

    return blueprint


def _method_not_allowed(error: MethodNotAllowed):
    """A POST, PUT, DELETE... to any public URL: read-only, said in JSON like every public refusal,
    with the methods it takes in Allow (elsewhere, the app's own 405 page)."""
    if not request.path.startswith("/api/public/"):
        return error
    allowed = sorted(error.valid_methods or ["GET", "HEAD", "OPTIONS"])
    extra: dict[str, Any] = {"allowed": allowed}
    if request.path.startswith("/api/public/ogc/"):
        extra.update(code="MethodNotAllowed", description="the OGC API here is read-only")
    response = _error(405, f"method {request.method[:20]} not allowed: the public API is read-only", **extra)
    response.headers["Allow"] = ", ".join(allowed)
    return response
