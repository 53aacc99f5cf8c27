"""The public layers, rendered once per store version and kept in memory: the one place the
public API (layers/{layer}.geojson) and the OGC API read a layer from.

`PublicLayers.get(layer_id)` answers a `RenderedLayer`: its FeatureCollection (as a document
and as JSON bytes with their ETag), the store version it was rendered at, when the data was
last updated and when it was rendered. Readers that derive something from a layer (the OGC
API's spatial index) keep it on the rendered layer with `derive`, so it lives exactly as long
as that version. A shared read-model snapshot will later take this class's place; its callers
need only `get`, `public_ids` and `derive`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard.city_reading import read_city_data, read_status
from opscentre.layers import LAYERS, feature_collection

T = TypeVar("T")


@dataclass(frozen=True)
class RenderedLayer:
    layer_id: str
    version: int  # the store version it was rendered at
    document: dict[str, Any]  # the FeatureCollection
    body: bytes  # the FeatureCollection as JSON
    etag: str  # of body
    updated_at: float | None  # the last stored poll of any feed (None: no data yet)
    rendered_at: float
    simulated: bool
    _derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def derive(self, key: str, build: Callable[[RenderedLayer], T]) -> T:
        """build(self), computed once per rendered layer and kept with it."""
        if key not in self._derived:
            self._derived[key] = build(self)
        return self._derived[key]


def public_layer_ids() -> list[str]:
    return [layer_id for layer_id, layer in LAYERS.items() if layer.public]


class PublicLayers:
    """Per public layer, the rendering of the current store version (Redis errors propagate)."""

    def __init__(self, settings: Settings, store: Store, settings_simulated: bool,
                 clock: Callable[[], float] = time.time):
        self.settings, self.store, self.settings_simulated, self.clock = settings, store, settings_simulated, clock
        self._rendered: dict[str, RenderedLayer] = {}
        self._lock = threading.Lock()

    def public_ids(self) -> list[str]:
        return public_layer_ids()

    def get(self, layer_id: str) -> RenderedLayer:
        """KeyError for a layer that does not exist or is not public."""
        layer = LAYERS.get(layer_id)
        if layer is None or not layer.public:
            raise KeyError(layer_id)
        version = self.store.version()
        cached = self._rendered.get(layer_id)
        if cached is not None and cached.version == version:
            return cached
        with self._lock:
            cached = self._rendered.get(layer_id)
            if cached is None or cached.version != version:
                cached = self._rendered[layer_id] = self._render(layer_id, version)
        return cached

    def _render(self, layer_id: str, version: int) -> RenderedLayer:
        now = self.clock()
        status = read_status(self.store, self.settings_simulated, self.settings.zones.name_by_id, now)
        data = read_city_data(self.store, self.settings)
        document = feature_collection(LAYERS[layer_id], data, status.simulated)
        body = orjson.dumps(document)
        return RenderedLayer(layer_id=layer_id, version=version, document=document, body=body,
                             etag=hashlib.sha1(body).hexdigest()[:20], updated_at=status.updated_at,
                             rendered_at=now, simulated=status.simulated)
