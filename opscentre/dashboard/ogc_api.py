"""OGC API – Features over the public layers, at /api/public/ogc/ (thin HTTP over open_data/ogc.py).

Landing page, /api (OpenAPI 3.0), /conformance, /collections, /collections/{layer},
/collections/{layer}/items (bbox, limit, offset; next / prev links) and
/collections/{layer}/items/{featureId}. JSON only: `f=json` (or none) is accepted, any other `f`
is a 400, and an Accept header that admits no JSON (asking only for HTML or XML) a 406. Every
answer is cacheable like the rest of the public API (ETag, max-age, 304, CORS); every refusal is
a JSON body with the reason. Links are absolute, built on the URL the request came in by.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, request

from opscentre.core.settings import Settings
from opscentre.dashboard.api import _cached_answer, _error
from opscentre.dashboard.public_layers import PublicLayers, RenderedLayer
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.layers import LAYERS
from opscentre.open_data import ogc

PREFIX = "/api/public/ogc"


def _base() -> str:
    return f"{request.url_root}{PREFIX.lstrip('/')}/"


def _refusal(error: ogc.OgcError) -> Response:
    code = {400: "InvalidParameterValue", 404: "NotFound", 406: "NotAcceptable"}.get(error.status, "Error")
    return _error(error.status, error.message, code=code, description=error.message)


def _negotiate() -> None:
    """Refuse (OgcError) an `f` other than json, or an Accept header that admits no JSON."""
    ogc.check_format(request.args.get("f"))
    if not ogc.admits_json(list(request.accept_mimetypes)):
        raise ogc.OgcError(406, ogc.text("error:not_acceptable"))


def _items_of(rendered: RenderedLayer) -> ogc.LayerItems:
    return rendered.derive("ogc_items", lambda r: ogc.LayerItems.from_collection(r.layer_id, r.document))


MAX_REMEMBERED = 512  # answers kept per rendered layer (and of the static documents); then started afresh


def _remember(memo: dict[tuple, tuple[bytes, str, bytes]], key: tuple, document: Any) -> tuple[bytes, str, bytes]:
    """(body, its ETag, its gzip: made once)"""
    body = orjson.dumps(document)
    if len(memo) >= MAX_REMEMBERED:
        memo.clear()
    memo[key] = answer = (body, hashlib.sha1(body).hexdigest()[:20], gzip.compress(body, compresslevel=6, mtime=0))
    return answer


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ogc_api_blueprint(settings: Settings, layers: PublicLayers) -> Blueprint:
    blueprint = Blueprint("ogc_api", __name__, url_prefix=PREFIX)
    catalogue = ogc.Catalogue(city=settings.city.name,
                              layers={layer_id: LAYERS[layer_id].label for layer_id in layers.public_ids()},
                              bounds=tuple(float(v) for v in settings.zones.bounds))

    static: dict[tuple, tuple[bytes, str, bytes]] = {}  # (resource, base URL) -> (body, etag, gzip)

    def answer(key: tuple, build: Callable[[], Any], mimetype: str = ogc.JSON) -> Response:
        body, etag, gzipped = static.get(key) or _remember(static, key, build())
        return _cached_answer(body, mimetype, None, etag=etag, gzipped=gzipped)

    def with_layer(layer_id: str, key: tuple, build: Callable[[RenderedLayer, ogc.LayerItems], Any]) -> Response:
        """A layer's page or item, built once per rendered version and request (a 304 builds nothing)."""
        if layer_id not in catalogue.layers:
            raise ogc.OgcError(404, ogc.text("error:collection", value=layer_id[:100]))
        try:
            rendered = layers.get(layer_id)
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        pages = rendered.derive("ogc_pages", lambda _: {})
        body, etag, gzipped = pages.get(key) or _remember(pages, key, build(rendered, _items_of(rendered)))
        return _cached_answer(body, ogc.GEOJSON, rendered.updated_at, etag=etag, gzipped=gzipped)

    def extra(rendered: RenderedLayer) -> dict[str, Any]:
        return {"simulated": True} if rendered.simulated else {}

    @blueprint.errorhandler(ogc.OgcError)
    def refused(error: ogc.OgcError):
        return _refusal(error)

    @blueprint.before_request
    def negotiate():
        _negotiate()

    @blueprint.get("/")
    @blueprint.get("", endpoint="landing_without_slash")
    def landing():
        return answer(("landing", _base()), lambda: ogc.landing(catalogue, _base()))

    @blueprint.get("/api")
    def api():
        return answer(("api", _base()), lambda: ogc.openapi(catalogue, _base()), ogc.OPENAPI)

    @blueprint.get("/conformance")
    def conformance():
        return answer(("conformance",), ogc.conformance)

    @blueprint.get("/collections")
    def collections():
        return answer(("collections", _base()), lambda: ogc.collections(catalogue, _base()))

    @blueprint.get("/collections/<layer_id>")
    def collection(layer_id: str):
        if layer_id not in catalogue.layers:
            raise ogc.OgcError(404, ogc.text("error:collection", value=layer_id[:100]))
        return answer(("collection", layer_id, _base()), lambda: ogc.collection(catalogue, layer_id, _base()))

    @blueprint.get("/collections/<layer_id>/items")
    def items(layer_id: str):
        args = request.args
        bbox = ogc.parse_bbox(args.get("bbox"), args.get("bbox-crs"))
        limit, offset = ogc.parse_limit(args.get("limit")), ogc.parse_offset(args.get("offset"))
        return with_layer(layer_id, ("items", _base(), bbox, limit, offset), lambda rendered, found: ogc.items_page(
            found, _base(), bbox, limit, offset, _iso(rendered.rendered_at), extra(rendered)))

    @blueprint.get("/collections/<layer_id>/items/<path:feature_id>")
    def item(layer_id: str, feature_id: str):
        return with_layer(layer_id, ("item", _base(), feature_id),
                          lambda rendered, found: ogc.item(found, feature_id, _base(), extra(rendered)))

    @blueprint.route("/<path:rest>")
    def unknown(rest: str):
        return _error(404, "no such OGC API resource", code="NotFound",
                      resources=["", "api", "conformance", "collections", "collections/{layer}",
                                 "collections/{layer}/items", "collections/{layer}/items/{featureId}"])

    return blueprint
