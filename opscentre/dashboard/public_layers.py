"""The public documents — status.json and every public layer — served from the read model
(core/read_model.py): built once per store version for every web process, kept in memory, served
stale while Redis is unreachable. The one place the public API (status.json,
layers/{layer}.geojson) and the OGC API read them from.

`PublicLayers.get(layer_id)` answers a `RenderedLayer`: its FeatureCollection (as JSON bytes with
their ETag and a gzip copy, and as a document parsed when first asked for), the store version it
was built at, when the data was last updated and when it was built. Readers that derive
something from a layer (the OGC API's spatial index) keep it on the rendered layer with
`derive`, so it lives exactly as long as that version. `PublicLayers.status()` is status.json's
snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from opscentre.core.read_model import Document, ReadModel, Snapshot
from opscentre.core.settings import Settings
from opscentre.core.state import iso_utc
from opscentre.core.store import Store
from opscentre.dashboard.city_reading import CityStatus, read_city_data, read_status
from opscentre.layers import LAYERS, feature_collection
from opscentre.layers.base import iso_local
from opscentre.layers.stages import stage_colour

T = TypeVar("T")
STATUS_MAX_AGE_S = 10.0


@dataclass(frozen=True)
class RenderedLayer:
    layer_id: str
    snapshot: Snapshot
    _derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    version = property(lambda self: self.snapshot.version)  # the store version it was built at
    body = property(lambda self: self.snapshot.body)  # the FeatureCollection as JSON
    gzipped = property(lambda self: self.snapshot.gzipped)
    etag = property(lambda self: self.snapshot.etag)  # of body
    updated_at = property(lambda self: self.snapshot.meta.get("updated_at"))  # last stored poll (None: no data)
    rendered_at = property(lambda self: self.snapshot.built_at)
    simulated = property(lambda self: bool(self.snapshot.meta.get("simulated")))
    stale = property(lambda self: self.snapshot.stale)

    @property
    def document(self) -> dict[str, Any]:
        """The FeatureCollection (parsed once per rendered layer)."""
        return self.derive("document", lambda r: orjson.loads(r.body))

    def derive(self, key: str, build: Callable[[RenderedLayer], T]) -> T:
        """build(self), computed once per rendered layer and kept with it."""
        if key not in self._derived:
            self._derived[key] = build(self)
        return self._derived[key]


def public_layer_ids() -> list[str]:
    return [layer_id for layer_id, layer in LAYERS.items() if layer.public]


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
        # each feed's state, for the map's greying of a stale feed's layers (no errors: they name hosts)
        "feeds": {feed_id: {"status": view["status"], "last_success": view.get("last_success"),
                            "simulated": view["simulated"]} for feed_id, view in status.feeds.items()},
    }


def public_read_model(settings: Settings, store: Store, settings_simulated: bool,
                      clock: Callable[[], float] = time.time, recheck_s: float = 0.0) -> ReadModel:
    """The read model's two groups: `status` (status.json) and `layers` (every public layer, from
    one read of the store)."""
    zone_names = settings.zones.name_by_id

    def status() -> dict[str, Document]:
        now = clock()
        city = read_status(store, settings_simulated, zone_names, now)
        return {"status": Document(orjson.dumps(status_document(city, settings)), "application/json",
                                   {"updated_at": city.updated_at, "simulated": city.simulated})}

    def layers() -> dict[str, Document]:
        city = read_status(store, settings_simulated, zone_names, clock())
        data = read_city_data(store, settings)
        meta = {"updated_at": city.updated_at, "simulated": city.simulated}
        return {layer_id: Document(orjson.dumps(feature_collection(LAYERS[layer_id], data, city.simulated)),
                                   "application/geo+json", meta)
                for layer_id in public_layer_ids()}

    # status also goes stale with the time (a feed with no success for 3 intervals): rebuilt every STATUS_MAX_AGE_S
    return ReadModel(store.redis, {"status": status, "layers": layers}, clock=clock,
                     max_age_s={"status": STATUS_MAX_AGE_S}, recheck_s=recheck_s)


class PublicLayers:
    """The public documents of the current store version (StoreUnavailable, or another Redis
    error, when Redis is down and this process holds nothing to serve)."""

    def __init__(self, settings: Settings, store: Store, settings_simulated: bool,
                 clock: Callable[[], float] = time.time, recheck_s: float = 0.0):
        self.read_model = public_read_model(settings, store, settings_simulated, clock, recheck_s)
        self._rendered: dict[str, RenderedLayer] = {}
        self._status_parsed: tuple[Snapshot, dict[str, Any], CityStatus] | None = None
        self.alerts: Any = None  # the CAP and Atom documents (dashboard/open_data_api.AlertDocuments), when served

    def public_ids(self) -> list[str]:
        return public_layer_ids()

    def get(self, layer_id: str) -> RenderedLayer:
        """KeyError for a layer that does not exist or is not public."""
        layer = LAYERS.get(layer_id)
        if layer is None or not layer.public:
            raise KeyError(layer_id)
        snapshot = self.read_model.get("layers", layer_id)
        rendered = self._rendered.get(layer_id)
        if rendered is None or rendered.snapshot is not snapshot:
            if rendered is not None and rendered.snapshot.etag == snapshot.etag and not snapshot.stale:
                rendered = RenderedLayer(layer_id, snapshot, rendered._derived)  # same content: keep what was derived
            else:
                rendered = RenderedLayer(layer_id, snapshot)
            self._rendered[layer_id] = rendered
        return rendered

    def status(self) -> Snapshot:
        return self.read_model.get("status", "status")

    def status_document(self) -> tuple[Snapshot, dict[str, Any], CityStatus]:
        """status.json's snapshot, parsed once per snapshot, and as the live map reads a status."""
        snapshot = self.status()
        if self._status_parsed is None or self._status_parsed[0] is not snapshot:
            doc = orjson.loads(snapshot.body)
            self._status_parsed = (snapshot, doc, CityStatus(
                version=snapshot.version, stage={"level": doc["stage"], "name": doc["stage_name"],
                                                 "since": doc.get("stage_since")},
                feeds=doc.get("feeds") or {}, alerts=doc["active_alerts"], updated_at=snapshot.meta.get("updated_at"),
                simulated=bool(doc.get("simulated"))))
        return self._status_parsed

    def city_status(self, _now: float | None = None) -> CityStatus:
        """status.json's snapshot as the live map reads a status (the public page's map)."""
        return self.status_document()[2]
