"""Hand-built CityData on Rio's zones for the pure layer tests (no Redis, no browser)."""

from __future__ import annotations

from pathlib import Path

from opscentre.layers import CityData

RIO = Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio" / "demo.yaml"
OBSERVED = 1_780_000_000.0  # a fixed instant: 2026-05-28T20:26:40Z


def gauge(entity_id, lon, lat, zone_id=None, name=None):
    return {"entity_id": entity_id, "entity_type": "rain_gauge", "name": name or entity_id, "source": "test",
            "zone_id": zone_id, "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {}}


def road(entity_id, coordinates, free_flow=60):
    return {"entity_id": entity_id, "entity_type": "road_segment", "name": entity_id, "source": "test",
            "geometry": {"type": "LineString", "coordinates": coordinates}, "properties": {"free_flow_kmh": free_flow}}


def city(settings, entities, events=(), forecasts=None, alerts=(), incidents=(), **latest_by_kind):
    """CityData from entities and {kind: {entity_id: value}} (observed at OBSERVED by source 'test'),
    events (dicts as stored, each with a `category`) and forecasts ({kind: {entity_id: series}})."""
    latest = {kind: {e: (v, OBSERVED, "test") for e, v in values.items()} for kind, values in latest_by_kind.items()}
    by_category: dict = {}
    for event in events:
        by_category.setdefault(event["category"], []).append(event)
    return CityData(entities={e["entity_id"]: e for e in entities}, latest=latest, zones=settings.zones, tz=settings.tz,
                    events=by_category, forecasts=forecasts or {}, alerts=list(alerts), incidents=list(incidents))


def inside(settings, zone_id):
    """A (lon, lat) inside the zone."""
    return settings.zones.representative_points[settings.zones.ids.index(zone_id)]
