"""One read of the store for a page, a tick or an API answer: layers' input plus status."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from opscentre.core import replay, state
from opscentre.core.alert_store import AlertStore
from opscentre.core.feed_health import public_view
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard.public_alerts import public_alerts
from opscentre.layers import LAYERS, CityData
from opscentre.layers.rain_classes import rain_table

LAYER_KINDS = sorted({kind for layer in LAYERS.values() for kind in layer.kinds})
LAYER_EVENT_CATEGORIES = sorted({c for layer in LAYERS.values() for c in layer.event_categories})
LAYER_FORECAST_KINDS = sorted({k for layer in LAYERS.values() for k in layer.forecast_kinds})


@dataclass(frozen=True)
class CityStatus:
    version: int
    stage: dict[str, Any]  # {level, name, since}
    feeds: dict[str, dict[str, Any]]  # feed id -> public view of its health
    alerts: list[dict[str, Any]]  # public projection of the active alerts
    updated_at: float | None  # wall time of the last stored poll of any feed
    simulated: bool
    incidents: list[dict[str, Any]] = field(default_factory=list)  # open incidents (operator view only)


def read_status(store: Store, settings_simulated: bool, zone_names: dict[str, str], now: float,
                operator_view: bool = False) -> CityStatus:
    """operator_view: every open alert (pending, internal, with acknowledgements); otherwise
    only what the public may see."""
    health = store.all_feed_health()
    feeds = {feed_id: public_view(h, now) for feed_id, h in health.items()}
    successes = [float(h["last_success_ts"]) for h in health.values() if h.get("last_success_ts") is not None]
    return CityStatus(
        version=store.version(),
        stage=state.stage(store),
        feeds=feeds,
        alerts=(AlertStore(store.redis).active() if operator_view
                else public_alerts(AlertStore(store.redis).active(), zone_names)),
        updated_at=max(successes) if successes else None,
        simulated=settings_simulated or any(f["simulated"] for f in feeds.values()),
        incidents=_open_incidents(store, zone_names) if operator_view else [],
    )


def _open_incidents(store: Store, zone_names: dict[str, str]) -> list[dict[str, Any]]:
    """Open incidents, worst and newest first: {id, severity, title, alerts, zones, zone_ids, opened_at}."""
    rows = []
    for incident in AlertStore(store.redis).incidents().values():
        if incident.state != "open":
            continue
        names = [zone_names.get(z, z) for z in incident.zone_ids]
        rows.append({"id": incident.id, "severity": incident.severity.value, "title": incident.title,
                     "alerts": len(incident.fingerprints), "zones": names, "opened_at": incident.opened_at,
                     "rank": incident.severity.rank, "zone_ids": incident.zone_ids})
    rows.sort(key=lambda r: (-r["rank"], -r["opened_at"]))
    return rows


def read_city_data(store: Store, settings: Settings, now: float | None = None) -> CityData:
    events: dict[str, list[dict[str, Any]]] = {}
    if LAYER_EVENT_CATEGORIES:
        for event in store.events(now=now if now is not None else time.time()):
            if event.get("category") in LAYER_EVENT_CATEGORIES:
                events.setdefault(event["category"], []).append(event)
    return CityData(entities=store.entities(), latest=store.latest_many(LAYER_KINDS), zones=settings.zones,
                    tz=settings.tz, events=events,
                    forecasts={kind: store.forecasts(kind) for kind in LAYER_FORECAST_KINDS},
                    alerts=public_alerts(AlertStore(store.redis).active(), settings.zones.name_by_id),
                    incidents=_open_incidents(store, settings.zones.name_by_id),
                    rain_classes=rain_table(settings.city.rain_classes),
                    air_quality_scale=settings.city.air_quality_scale)


def city_data_at(store: Store, settings: Settings, at: float) -> CityData:
    """The city as it was at `at` (core/replay.py): each entity's last reading by then and the
    alerts open then; no events or forecasts (not kept over time)."""
    rule_labels = {rule.id: rule.labels for rule in settings.rules}
    return CityData(entities=store.entities(), latest=replay.latest_at(store.redis, LAYER_KINDS, at),
                    zones=settings.zones, tz=settings.tz,
                    alerts=public_alerts(replay.alerts_at(store.redis, at, rule_labels), settings.zones.name_by_id),
                    rain_classes=rain_table(settings.city.rain_classes),
                    air_quality_scale=settings.city.air_quality_scale)


def status_at(store: Store, settings: Settings, at: float, simulated: bool) -> CityStatus:
    """The console's status bar and alert list as they were at `at` (no feed health: not kept)."""
    rule_labels = {rule.id: rule.labels for rule in settings.rules}
    return CityStatus(version=-1, stage=replay.stage_at(store.redis, at), feeds={},
                      alerts=replay.alerts_at(store.redis, at, rule_labels), updated_at=at, simulated=simulated)


def empty_city_data(settings: Settings) -> CityData:
    """The city with no data (Redis unreachable): same traces, nothing in them."""
    return CityData(entities={}, latest={}, zones=settings.zones, tz=settings.tz,
                    rain_classes=rain_table(settings.city.rain_classes),
                    air_quality_scale=settings.city.air_quality_scale)
