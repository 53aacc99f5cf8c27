"""Part 2 of `opscentre bench notify`: observation stored -> SMS POST at the gateway, under
background ingest, split into stored -> firing and firing -> POST.

The city of `bench alerts` (bench/alert_city.py: N entities in the config's bairros, a day of
history, 30 rules, and the alerts and incidents that opens) in a fresh embedded Redis, with one
field agent per bairro (the role texted for warning and up, whether an alert is public or not).
bench/alert_latency.py's worker processes store background polls at `ingest_rate` obs/s and a
probe reading every 0.1 s (30 mm in 15 min at a new gauge: rain_15min, a `for: 0` rule,
critical), each job followed by `evaluate_after_store`, as RQ workers do; one notifier process
(bench/notify.py's, as `opscentre notifier` runs) texts through the loopback gateway (50 ms
answers) beside them. The background is real load for the notifier too: whatever the ingest
makes fire or escalate is texted to its bairro's agent.

The incident window is 0 in this part, so each probe's alert opens an incident of its own and
its bairro's agent hears of it. With the config's window (2 h) a second probe in a bairro joins
the first one's incident, and rightly texts nobody — there would be nothing to time.

Per probe, from what the run recorded:
- stored: the probe job's `Store.write_poll` returned (in the worker);
- firing: the outbox entry of the first notification naming the probe's alert (written in the
  evaluation's transaction, with the alert; its stream id is Redis's clock, in ms);
- POST: the SMS of that notification to the bairro's agent arriving at the gateway (found by
  the provider sid its delivery recorded).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import redis

from opscentre.bench import alert_latency
from opscentre.bench.alert_city import STEP_S, adjusted, bench_settings, make_city, store_city
from opscentre.bench.notify import ALERTMANAGER_P99_MS, GATEWAY_DELAY_S, NotifierProcess
from opscentre.bench.sms_gateway import Gateway
from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer
from opscentre.workers import notifier as notifier_module
from opscentre.workers.evaluation import evaluate_city

GOAL_P99_MS = 500.0
SETTLE_S = 300.0  # the longest the city's first texts may take before measuring
DRAIN_S = 60.0  # after the last probe, wait this long for the rest of the texts


def latency_adjustments() -> dict[str, dict]:
    """What this part changes in the config (in every process): a probe opens its own incident;
    no agent's hourly limit or the two-person rule holds a text back."""
    return {"alerting": {"incident_window": 0.0},
            "notify": {"per_recipient_per_hour": 1000, "approval_over": 1_000_000}}


def run_notify_latency(settings: Settings, samples: int, ingest_rate: float, entities: int, hours: float,
                       say) -> dict:
    adjust = latency_adjustments()
    settings = adjusted(bench_settings(settings), adjust)
    say(f"latency: a city of {entities:,} entities, {hours:g} h of history, {len(settings.rules)} rules; one field "
        f"agent in each of {len(settings.zones.ids)} bairros ...")
    city = make_city(settings, entities, hours, now=math.floor(time.time() / STEP_S) * STEP_S)
    with tempfile.TemporaryDirectory(prefix="opscentre-bench-") as tmp:
        server = RedisServer(Path(tmp), persist=False).start()
        gateway = Gateway(GATEWAY_DELAY_S).start()
        try:
            client = redis.Redis.from_url(server.url)
            store = Store(client)
            store_city(store, city, settings.retention_hours * 3600)
            agents = _agents(client, settings)
            return _measure(settings, adjust, server.url, client, store, city, gateway, agents, samples,
                            ingest_rate, say)
        finally:
            gateway.stop()
            server.stop()


def _agents(client: redis.Redis, settings: Settings) -> dict[str, str]:
    """One field agent per bairro: zone -> recipient id."""
    recipients, now = RecipientStore(client), time.time()
    out = {}
    for i, zone in enumerate(settings.zones.ids):
        agent = Recipient.create(name=f"agent {i}", phone=f"+552197{i:07d}", consent_how="bench", now=now,
                                 zone_ids=(zone,), role=Role.AGENT)
        recipients.add(agent)
        out[zone] = agent.id
    return out


def _measure(settings, adjust, url, client, store, city, gateway, agents, samples, ingest_rate, say) -> dict:
    probe_ids = alert_latency._register_probes(settings, store, samples)
    probe_zone = {f"{alert_latency.PROBE_RULE}|{e}": settings.zones.ids[i % len(settings.zones.ids)]
                  for i, e in enumerate(probe_ids)}
    store.set_sim_clock({"wall_epoch": time.time(), "sim_epoch": city.now + 60, "speed": 1})
    first = evaluate_city(settings, store)  # the city's alerts and incidents open before measuring
    say(f"  the city's first evaluation: {first.open_alerts:,} open alerts, {client.xlen(keys.OUTBOX)} notifications")
    notifier = NotifierProcess(url, settings.source_path, adjust, gateway.env())
    try:
        settled = _settle(client, say)
        gateway.reset()
        sensors = {kind: (ids, values[:, -1]) for kind, (ids, values, _silent) in city.series.items()}
        workers = alert_latency._Workers(url, settings.source_path, sensors, ingest_rate, probe_ids, adjust)
        say(f"  {settled} texts of the city's open incidents sent first; now {alert_latency.WORKERS} worker "
            f"processes storing {ingest_rate:,.0f} obs/s of background polls and a probe every "
            f"{alert_latency.PROBE_EVERY_S:g} s, {samples} probes, each job followed by evaluate_after_store; "
            "one notifier process beside them ...")
        began = time.time()
        try:
            workers.go(began)
            _wait_for_texts(client, gateway, began, samples, say)
        finally:
            elapsed = time.time() - began
            reports = workers.stop()
        time.sleep(0.5)  # the last answers recorded
        received = gateway.received()
    finally:
        notifier.stop()
    stored = {f: s for r in reports for f, (_b, s) in r["probes"].items()}
    written = sum(r["written"] for r in reports)
    return _figures(client, stored, probe_zone, agents, received, samples, ingest_rate, written, elapsed)


def _settle(client: redis.Redis, say) -> int:
    """Wait until the notifier has sent what the city's first evaluation decided."""
    deliveries, deadline = DeliveryStore(client), time.time() + SETTLE_S
    while time.time() < deadline:
        if not _in_flight(client) and _all_read(client):
            return deliveries.counts().get(State.SENT.value, 0)
        time.sleep(0.1)
    raise RuntimeError("the notifier had not sent the city's first texts after "
                       f"{SETTLE_S:g} s: {DeliveryStore(client).counts()}")


def _in_flight(client: redis.Redis) -> int:
    """Deliveries planned and not yet answered, and outbox entries read and not yet planned."""
    counts = DeliveryStore(client).counts()
    pending = sum(g["pending"] for g in client.xinfo_groups(keys.OUTBOX)) if client.exists(keys.OUTBOX) else 0
    return counts.get(State.QUEUED.value, 0) + counts.get(State.SENDING.value, 0) + pending


def _all_read(client: redis.Redis) -> bool:
    """Has the notifiers' consumer group read the outbox to its end?"""
    if not client.exists(keys.OUTBOX):
        return True
    last = client.xinfo_stream(keys.OUTBOX)["last-generated-id"]
    group = keys.outbox_group(notifier_module.GROUP).encode()
    return any(g["name"] == group and g["last-delivered-id"] == last for g in client.xinfo_groups(keys.OUTBOX))


def _wait_for_texts(client: redis.Redis, gateway: Gateway, began: float, samples: int, say) -> None:
    """Until every probe's alert has been notified and nothing waits to be sent, or DRAIN_S after
    the last probe was due."""
    last_due = began + (samples - 1) * alert_latency.PROBE_EVERY_S
    reported, notified, after = 0, set(), "-"
    while time.time() < last_due + DRAIN_S:
        due = min(samples, int((time.time() - began) / alert_latency.PROBE_EVERY_S) + 1)
        if due >= reported + max(1, samples // 5) and due < samples:
            reported = due
            say(f"  {due} probes due, {len(notified)} notified, {gateway.count()} texts at the gateway")
        for entry_id, fields in client.xrange(keys.OUTBOX, min=after):
            after = b"(" + entry_id
            notified |= {a["alert_id"] for a in orjson.loads(fields[b"d"]).get("trigger_alerts") or ()
                         if _is_probe(a)}
        if len(notified) >= samples and _all_read(client) and not _in_flight(client):
            return
        time.sleep(0.25)


def _is_probe(alert: dict) -> bool:
    return alert.get("rule") == alert_latency.PROBE_RULE and str(alert.get("where", "")).startswith("probe")


def _first_notices(client: redis.Redis) -> dict[str, tuple[float, str]]:
    """alert id -> (when its first notification entered the outbox, that notification's id)."""
    first: dict[str, tuple[float, str]] = {}
    for entry_id, fields in client.xrange(keys.OUTBOX):
        at = int(entry_id.split(b"-")[0]) / 1000
        record = orjson.loads(fields[b"d"])
        for alert in record.get("trigger_alerts") or ():
            first.setdefault(str(alert["alert_id"]), (at, record["id"]))
    return first


def _figures(client, stored, probe_zone, agents, received, samples, ingest_rate, written, elapsed) -> dict:
    alerts = AlertStore(client).alerts()
    notices = _first_notices(client)
    deliveries = DeliveryStore(client)
    arrived = {sid: t for _to, t, sid in received}
    to_firing, to_post, firing_to_post, unnotified, untexted = [], [], [], 0, 0
    for fingerprint, stored_at in stored.items():
        alert = alerts.get(fingerprint)
        notice = notices.get(alert.id) if alert is not None else None
        if notice is None:
            unnotified += 1
            continue
        fired_at, notification_id = notice
        agent = agents[probe_zone[fingerprint]]
        sids = [d.provider_id for d in deliveries.by_notification(notification_id)
                if d.channel == "sms" and d.recipient_id == agent and d.provider_id]
        if not sids or sids[0] not in arrived:
            untexted += 1
            continue
        posted = arrived[sids[0]]
        to_firing.append(fired_at - stored_at)
        firing_to_post.append(posted - fired_at)
        to_post.append(posted - stored_at)
    ms = {name: np.array(values) * 1000 for name, values in
          (("total", to_post), ("firing", to_firing), ("post", firing_to_post))}
    pct = (lambda name, q: round(float(np.percentile(ms[name], q)), 1) if ms[name].size else None)
    texted = int(ms["total"].size)
    return {
        "latency_samples": samples, "latency_texted": texted, "latency_unnotified": unnotified,
        "latency_untexted": untexted,
        "latency_p50_ms": pct("total", 50), "latency_p99_ms": pct("total", 99), "latency_max_ms": pct("total", 100),
        "stored_to_firing_p50_ms": pct("firing", 50), "stored_to_firing_p99_ms": pct("firing", 99),
        "firing_to_post_under_load_p50_ms": pct("post", 50), "firing_to_post_under_load_p99_ms": pct("post", 99),
        "latency_goal_p99_ms": GOAL_P99_MS,
        "latency_goal_met": bool(texted == samples and pct("total", 99) <= GOAL_P99_MS),
        "latency_baseline": "Prometheus + Alertmanager tuned for speed, threshold -> webhook, measured on this "
                            "machine earlier (not run here)",
        "latency_baseline_p99_ms": ALERTMANAGER_P99_MS,
        "latency_measured_from": "the probe job's Store.write_poll returning, to the SMS POST arriving at the "
                                 "gateway; firing = its notification's outbox entry (Redis's clock, ms)",
        "ingest_rate_target": ingest_rate, "ingest_rate_achieved": round(written / elapsed),
        "ingest_observations": written, "ingest_seconds": round(elapsed, 1),
    }
