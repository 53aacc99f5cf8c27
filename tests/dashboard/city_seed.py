"""A city written into a real Redis through Store.write_poll, and a real loopback HTTP server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.store import Store

RIO = Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio"
OPERATOR, PASSWORD = "zelda.ops", "correct horse battery"
SECRET = "test-secret-key-not-for-production"
ROAD_COUNT = 40


def city_entities(settings) -> list[Entity]:
    """The 33 Alerta Rio gauges and ROAD_COUNT short road segments near them, zones assigned."""
    sites = json.loads((RIO / "alerta_rio_gauges.json").read_text())["pluviometros"]
    gauges = [(s["id"], s["nome"], s["longitude"], s["latitude"]) for s in sites]
    zone_ids = settings.zones.assign([(lon, lat) for _, _, lon, lat in gauges])
    entities = [Entity(entity_id=g, entity_type="rain_gauge", name=name, source="simulator", zone_id=zone,
                       geometry={"type": "Point", "coordinates": [lon, lat]})
                for (g, name, lon, lat), zone in zip(gauges, zone_ids)]
    for i in range(ROAD_COUNT):
        _, _, lon, lat = gauges[i % len(gauges)]
        line = [[lon + 0.002, lat + 0.001 * (i % 3)], [lon + 0.006, lat + 0.002], [lon + 0.01, lat + 0.004]]
        entities.append(Entity(entity_id=f"road-{i:03d}", entity_type="road_segment", name=f"Avenida {i}",
                               source="simulator", geometry={"type": "LineString", "coordinates": line},
                               properties={"free_flow_kmh": 60}))
    return entities


def write_city(store: Store, settings, rain_mm: float | dict[str, float] = 0.0, speed_kmh: float = 55.0,
               jam_level: int = 0, observed_at: float | None = None, feed_id: str = "simulator") -> list[Entity]:
    """One poll of the whole city: every gauge gets rain (a number, or by gauge id), every road a speed."""
    now = observed_at or time.time()
    entities = city_entities(settings)
    gauge_ids = [e.entity_id for e in entities if e.entity_type == "rain_gauge"]
    road_ids = [e.entity_id for e in entities if e.entity_type == "road_segment"]
    rain = {g: (rain_mm.get(g, 0.0) if isinstance(rain_mm, dict) else rain_mm) for g in gauge_ids}
    batches = [
        ObservationBatch(source=feed_id, kind="rain_mm", entity_ids=gauge_ids, values=[rain[g] for g in gauge_ids],
                         observed_at=[now] * len(gauge_ids), simulated=True),
        ObservationBatch(source=feed_id, kind="rain_1h_mm", entity_ids=gauge_ids,
                         values=[rain[g] * 3 for g in gauge_ids], observed_at=[now] * len(gauge_ids)),
        ObservationBatch(source=feed_id, kind="traffic_speed_kmh", entity_ids=road_ids,
                         values=[speed_kmh] * len(road_ids), observed_at=[now] * len(road_ids)),
        ObservationBatch(source=feed_id, kind="jam_level", entity_ids=road_ids,
                         values=[float(jam_level)] * len(road_ids), observed_at=[now] * len(road_ids)),
    ]
    health = {"status": "ok", "last_success": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
              "last_success_ts": now, "last_error": None, "consecutive_failures": 0, "items": 2 * len(entities),
              "rejected": 0, "duration_ms": 12, "bytes": 2048, "interval_s": 60, "simulated": True}
    metrics = {"polls": 1, "observations_stored": 2 * len(entities), "poll_seconds_sum": 0.012, "bytes": 2048}
    store.write_poll(feed_id, entities, batches, health, metrics, retention_s=3600, wall_now=now)
    return entities


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


def alert_record(alert_id, state, zone_id=None, public=True, rule="rain_15min", severity="warning"):
    """An alert as the engine stores it (for pages and APIs that show alerts)."""
    from opscentre.core.alerting.lifecycle import Alert

    now = time.time()
    return Alert(id=alert_id, fingerprint=f"{rule}|{alert_id}", rule=rule, key=alert_id, state=state,
                 severity=severity, value=7.0, zone_id=zone_id, labels={"public": public}, started_at=now, since=now,
                 last_true_at=now, updated_at=now, summary=f"{severity} rain at {alert_id}")
