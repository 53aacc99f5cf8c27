"""`opscentre bench notify`: one notifier process texting a whole bairro, beside the gateway's ceiling.

Throughput. A fresh embedded Redis holds `recipients` community contacts (10,000 by default), all
in one bairro; a Twilio-compatible gateway on loopback (bench/sms_gateway.py) answers each
message after 50 ms. The baseline is measured first: the gateway alone, driven by a plain
aiohttp client, as fast as it answers (its ceiling: what no client of it can beat). Then one
notifier process (workers/notifier.py's Notifier in a spawned process, the SMS channel pointed
at the gateway) runs as `opscentre notifier` does, and a 15 mm reading in 15 min at a gauge in
the bairro is stored and evaluated with the config's rules (`evaluate_city`), which opens an
incident and writes its notification to the outbox. Measured at the gateway: messages/s from the
first POST to the last (`value`), and the whole run from the evaluation's return; then checked:
each recipient's number reached the gateway exactly once (0 duplicates, 0 missing) and every
delivery is recorded `sent`.

Firing -> POST, before that: a storm in `probes` other bairros one after another, each texting
that bairro's one contact, from the evaluation's return to the POST at the gateway, p50 / p99.
Beside it, labelled as such, the speed-tuned Prometheus + Alertmanager path measured on this
machine (threshold -> webhook p99 1.57 s): it cannot run here. Not measured yet: stored -> POST
under 10,000 obs/s of background ingest (bench alerts' worker processes with a notifier beside
them), issue 11's latency figure.

The two-person rule: a send to more than `notify.approval_over` recipients waits for two
operators. The bench raises approval_over above the recipient count in its copy of the settings
(the notifier's too), so what is timed is planning and sending, not operators.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis

from opscentre.bench.alert_city import adjusted
from opscentre.bench.sms_gateway import Gateway
from opscentre.core import keys
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.core.settings import Settings, load_settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer
from opscentre.workers import notifier as notifier_module
from opscentre.workers.evaluation import evaluate_city

GOAL_PER_S = 1000.0
ALERTMANAGER_P99_MS = 1570.0  # issue 11: the speed-tuned Prometheus + Alertmanager path on this machine
GATEWAY_DELAY_S = 0.05
CEILING_CONCURRENCY = 256
BAIRRO = "Copacabana"
STORM_MM = 15.0  # in 15 min: Alerta Rio's "very heavy" (> 12.5 mm), critical in Rio's rules
WAIT_S = 300.0  # the longest the bench waits for every message


def run_notify_bench(settings: Settings, recipients: int = 10_000, probes: int = 100, progress: bool = True,
                     latency_samples: int = 1000, ingest_rate: float = 10_000.0, city_entities: int = 50_000,
                     hours: float = 24.0) -> dict:
    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)
    adjust = _adjust(settings, recipients)
    settings = adjusted(settings, adjust)
    zone = settings.zones.find(BAIRRO) or settings.zones.ids[0]
    with tempfile.TemporaryDirectory(prefix="opscentre-bench-") as tmp:
        server = RedisServer(Path(tmp), persist=False).start()
        gateway = Gateway(GATEWAY_DELAY_S).start()
        try:
            say(f"baseline: the loopback gateway alone ({GATEWAY_DELAY_S * 1000:g} ms per answer), {recipients:,} "
                f"POSTs from a plain aiohttp client over {CEILING_CONCURRENCY} kept-alive connections ...")
            ceiling = gateway.ceiling(recipients, CEILING_CONCURRENCY)
            say(f"  gateway ceiling: {ceiling:,.0f} messages/s")
            client = redis.Redis.from_url(server.url)
            phones = _recipients(client, zone, recipients, say)
            result = _throughput(settings, adjust, server.url, client, gateway, zone, phones, probes, say)
        finally:
            gateway.stop()
            server.stop()
    value = result["messages_per_s"]
    result.update({
        "bench": "notify", "value": value,
        "unit": f"SMS/s from one notifier process to a loopback Twilio-compatible gateway answering in "
                f"{GATEWAY_DELAY_S * 1000:g} ms, {recipients:,} recipients in one bairro (first POST to last)",
        "baseline": f"the gateway's own ceiling: a plain aiohttp client, {CEILING_CONCURRENCY} kept-alive "
                    "connections, nothing else (what no client of it can beat)",
        "baseline_value": round(ceiling, 1), "ratio": round(value / ceiling, 3),
        "goal_per_s": GOAL_PER_S, "goal_met": value >= GOAL_PER_S and result["exactly_once"],
        "recipients": recipients, "gateway_delay_ms": GATEWAY_DELAY_S * 1000,
        "send_concurrency": notifier_module.SEND_CONCURRENCY,
        "approval": "approval_over raised above the recipient count in the bench's settings copy",
        "firing_to_post_baseline": "Prometheus + Alertmanager tuned for speed, threshold -> webhook, measured on "
                                   "this machine earlier (not run here)",
        "firing_to_post_baseline_p99_ms": ALERTMANAGER_P99_MS,
    })
    say(f"throughput: {value:,.0f} messages/s (goal {GOAL_PER_S:,.0f}: {'met' if result['goal_met'] else 'NOT met'}), "
        f"{result['ratio']:.0%} of the gateway's ceiling {ceiling:,.0f}/s; evaluation -> first POST "
        f"{result['first_post_after_s']:.2f} s, -> last POST {result['last_post_after_s']:.2f} s; "
        f"{result['delivered_once']:,} numbers texted once, {result['duplicates']} duplicates, "
        f"{result['missing']} missing, {result['recorded_sent']:,} recorded sent")
    if "firing_to_post_p99_ms" in result:
        say(f"firing -> POST (idle notifier, one contact): p50 {result['firing_to_post_p50_ms']} ms, p99 "
            f"{result['firing_to_post_p99_ms']} ms over {result['firing_to_post_samples']} storms (the first, cold: "
            f"{result['firing_to_post_cold_ms']} ms); baseline "
            f"(Prometheus + Alertmanager tuned for speed, measured here earlier, not run): p99 {ALERTMANAGER_P99_MS:,.0f} ms")
    if latency_samples:
        from opscentre.bench.notify_latency import run_notify_latency

        result.update(run_notify_latency(settings, latency_samples, ingest_rate, city_entities, hours, say))
        _say_latency(result, say)
    return result


def _say_latency(r: dict, say) -> None:
    say(f"stored -> SMS POST under {r['ingest_rate_achieved']:,} obs/s of background ingest: p50 "
        f"{r['latency_p50_ms']} ms, p99 {r['latency_p99_ms']} ms over {r['latency_texted']}/{r['latency_samples']} "
        f"probes (goal p99 {r['latency_goal_p99_ms']:g} ms: {'met' if r['latency_goal_met'] else 'NOT met'}); "
        f"stored -> firing p50 {r['stored_to_firing_p50_ms']} / p99 {r['stored_to_firing_p99_ms']} ms, firing -> "
        f"POST p50 {r['firing_to_post_under_load_p50_ms']} / p99 {r['firing_to_post_under_load_p99_ms']} ms; "
        f"baseline (Prometheus + Alertmanager tuned for speed, measured here earlier, not run): p99 "
        f"{ALERTMANAGER_P99_MS:,.0f} ms")
    if r["latency_unnotified"] or r["latency_untexted"]:
        say(f"  {r['latency_unnotified']} probes' alerts were never notified, {r['latency_untexted']} notified "
            "but not texted to their bairro's agent")


def _adjust(settings: Settings, recipients: int) -> dict[str, dict]:
    return {"notify": {"approval_over": max(settings.notify.approval_over, recipients + 1)}}


def _recipients(client: redis.Redis, zone: str, n: int, say) -> list[str]:
    say(f"adding {n:,} community contacts in {zone} ...")
    store, now = RecipientStore(client), time.time()
    phones = [f"+552199{i:07d}" for i in range(n)]
    for i, phone in enumerate(phones):
        store.add(Recipient.create(name=f"contact {i}", phone=phone, consent_how="bench", now=now,
                                   zone_ids=(zone,), role=Role.COMMUNITY))
    return phones


def _throughput(settings: Settings, adjust: dict[str, dict], url: str, client: redis.Redis, gateway: Gateway,
                zone: str, phones: list[str], probes: int, say) -> dict:
    probe_phones = _probe_recipients(client, settings, zone, probes + 1 if probes else 0)  # + the cold one
    notifier = NotifierProcess(url, settings.source_path, adjust, gateway.env())
    try:
        firing = _firing_to_post(settings, Store(client), gateway, probe_phones, say)
        gateway.reset()
        say(f"one notifier process ({notifier_module.SEND_CONCURRENCY} sends in flight); a {STORM_MM:g} mm "
            f"reading at a gauge in {zone}, evaluated ...")
        evaluated = _storm(settings, Store(client), zone)
        deadline = evaluated + WAIT_S
        while gateway.count() < len(phones) and time.time() < deadline:
            time.sleep(0.05)
        store = DeliveryStore(client)
        while store.counts()[State.SENT.value] < len(phones) + len(probe_phones) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # anything sent twice would have reached the gateway by now
        received = gateway.received()
    finally:
        notifier.stop()
    times = sorted(t for _to, t, _sid in received)
    by_number = Counter(to for to, _t, _sid in received)
    expected = set(phones)
    duplicates = sum(n - 1 for n in by_number.values() if n > 1)
    missing = len(expected - set(by_number))
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    counts = DeliveryStore(client).counts()
    counts[State.SENT.value] -= len(probe_phones)  # the probes' (each checked in _firing_to_post)
    return {**firing,
        "messages_per_s": round((len(times) - 1) / span, 1) if span else 0.0,
        "first_post_after_s": round(times[0] - evaluated, 3) if times else None,
        "last_post_after_s": round(times[-1] - evaluated, 3) if times else None,
        "end_to_end_per_s": round(len(times) / (times[-1] - evaluated), 1) if times else 0.0,
        "posts": len(received), "delivered_once": sum(1 for n in by_number.values() if n == 1),
        "duplicates": duplicates, "missing": missing, "strangers": len(set(by_number) - expected),
        "recorded_sent": counts[State.SENT.value],
        "deliveries_by_state": {k: v for k, v in counts.items() if v},
        "exactly_once": duplicates == 0 and missing == 0 and len(received) == len(phones),
    }


def _probe_recipients(client: redis.Redis, settings: Settings, mass_zone: str, probes: int) -> dict[str, str]:
    """One community contact in each of `probes` other bairros: zone -> phone."""
    zones = [z for z in settings.zones.ids if z != mass_zone][:probes]
    store, now = RecipientStore(client), time.time()
    out = {}
    for i, zone in enumerate(zones):
        out[zone] = f"+552198{i:07d}"
        store.add(Recipient.create(name=f"probe contact {i}", phone=out[zone], consent_how="bench", now=now,
                                   zone_ids=(zone,), role=Role.COMMUNITY))
    return out


def _firing_to_post(settings: Settings, store: Store, gateway: Gateway, probe_phones: dict[str, str], say) -> dict:
    """Firing -> POST: a storm in one bairro after another (each opens an incident, or spreads one
    into that bairro, texting its one contact), one at a time, no background load: from the
    evaluation's return (the alert firing, its notification in the outbox) to the SMS POST
    arriving at the gateway. Each storm waits until the previous SMS is recorded sent: a
    notifier's turn sends its batch to the end (the gateway's 50 ms answer included) before it
    reads the outbox again, so a notification arriving mid-batch waits up to that long. The first
    storm is reported apart (`cold`): it pays the notifier's one-time costs (its first read of the
    recipients, its first connection to the gateway)."""
    if not probe_phones:
        return {}
    say(f"firing -> POST: {len(probe_phones)} storms, one bairro at a time, each texting its one contact ...")
    took, seen, deliveries = [], 0, DeliveryStore(store.redis)
    for zone, phone in probe_phones.items():
        fired = _storm(settings, store, zone)
        deadline = fired + 10
        while gateway.count() <= seen and time.time() < deadline:
            time.sleep(0.001)
        arrived = [t for to, t, _sid in gateway.received()[seen:] if to == phone]
        seen = gateway.count()
        if seen != len(took) + 1 or len(arrived) != 1:
            raise RuntimeError(f"the storm in {zone} texted {len(arrived)} times its contact, {seen} in all")
        took.append((arrived[0] - fired) * 1000)
        while deliveries.counts()[State.SENT.value] < len(took) and time.time() < deadline:
            time.sleep(0.001)  # its answer recorded: the notifier is idle again before the next storm
    cold, took = took[0], sorted(took[1:]) or took
    pct = (lambda q: round(took[min(len(took) - 1, int(q * len(took)))], 1))
    return {"firing_to_post_samples": len(took), "firing_to_post_p50_ms": pct(0.5), "firing_to_post_p99_ms": pct(0.99),
            "firing_to_post_max_ms": round(took[-1], 1), "firing_to_post_cold_ms": round(cold, 1)}


def _storm(settings: Settings, store: Store, zone: str) -> float:
    """Very heavy rain at a new gauge in `zone`, stored and evaluated as a poll job does; the time
    the evaluation returned (the notification is in the outbox)."""
    point = dict(zip(settings.zones.ids, settings.zones.representative_points))[zone]
    now = time.time()
    gauge = Entity(entity_id=f"bench-gauge-{zone}", entity_type="rain_gauge", source="alerta_rio", name="bench gauge",
                   zone_id=zone, geometry={"type": "Point", "coordinates": list(point)})
    batch = ObservationBatch(source="alerta_rio", kind="rain_mm", entity_ids=[gauge.entity_id], values=[STORM_MM],
                             observed_at=[now])
    store.write_poll("alerta_rio", [gauge], [batch], {}, {}, retention_s=86400, wall_now=now)
    evaluate_city(settings, store, now=now)
    if not store.redis.xlen(keys.OUTBOX):  # (a probe's storm before it wrote one too: this is a sanity check)
        raise RuntimeError(f"the config's rules raised no notification for {STORM_MM:g} mm in {zone}")
    return time.time()


class NotifierProcess:
    """Notifier.turn in a loop, as `opscentre notifier` runs it, in a spawned process whose
    settings are the config with `adjust` applied (bench/alert_city.py `adjusted`)."""

    def __init__(self, url: str, config: Path | None, adjust: dict[str, dict], env: dict[str, str]):
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.stopping = ctx.Event(), ctx.Event()
        self.process = ctx.Process(target=_run_notifier, daemon=True, args=(
            url, config, adjust, env, self.ready, self.stopping))
        self.process.start()
        if not self.ready.wait(120):
            self.stop()
            raise RuntimeError("the bench's notifier process did not start")

    def stop(self) -> None:
        self.stopping.set()
        self.process.join(30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _run_notifier(url, config, adjust, env, ready, stopping) -> None:
    from opscentre.core.notify.channels import build

    logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)
    settings = adjusted(load_settings(config), adjust)
    channels = build(env, names=["sms"])
    n = notifier_module.Notifier(settings, redis.Redis.from_url(url), channels, "bench-notifier")
    ready.set()
    while not stopping.is_set():
        n.turn(block_ms=100)
