"""`opscentre drill sentinel-failover`: the Redis primary SIGKILLed during ingest and while an
SMS is at the gateway; Sentinel promotes the replica, every process follows it.

On loopback, in a temporary directory: a primary, a replica and three sentinels (redis-server's
own sentinel mode, generated configs, free ports; down-after 1 s, failover-timeout 5 s). The
whole centre runs as `opscentre up` with OPSCENTRE_REDIS_SENTINELS / OPSCENTRE_REDIS_MASTER
(workers polling the simulator, the cron scheduler, the notifier and the web app), its SMS
channel pointed at the bench's Twilio-compatible gateway on loopback (bench/sms_gateway.py, as
the notification drills use it), which notes every message it creates. Beside it, through the
same client (core/connection.py, Sentinel-managed):
- ingest through the same write path (workers/pipeline.py: parse -> validate -> store): a poll of
  100 readings every 10 ms, each poll's readings stamped with its own time so the history stream
  tells which polls it holds;
- alerts: every STORM_EVERY_S a storm in a new bairro (very heavy rain at a gauge there, stored
  and evaluated as a poll job does, on the simulator's clock; retried until acknowledged), each
  texting that bairro's one community contact through `up`'s notifier.
The primary is SIGKILLed mid-ingest at the moment a message's request is at the gateway: the
gateway has created it and holds its answer until the primary is dead, so the notifier learns
it was sent only when the primary it claimed it on is gone (the drill first waits for the
replica to hold everything the primary had acknowledged, the claim included, so that message
exercises the notifier's recovery, not replication).

Figures: seconds without writes (the last poll acknowledged by the old primary to the first by
the new one), failover_s (kill -> the sentinels name the new primary), lost (readings of polls
acknowledged and then missing on the new primary: replication is asynchronous, so what the old
primary acknowledged and had not yet sent may be lost; bounded by the polls acknowledged in the
replica's lag, ≤ 1 s), duplicated (readings stored twice), and for each process the time it
took to work on the new primary (worker heartbeats and simulator polls, the scheduler's
heartbeat, the notifier's heartbeat, /healthz 200).

Notifications, counted at the gateway (what the provider ends up with, not what the notifier
believes): each acknowledged storm should have created exactly one message to its contact.
notifications_lost: stormed contacts with none; notifications_duplicated: messages beyond the
first to a stormed contact (whatever their text; `notifications_identical_repeats` says how many
of those repeated one (To, Body) exactly). Expected 0 and 0. The honest bound is asynchronous
replication again: a storm acknowledged by the old primary after the replica was last seen
caught up may be missing on the new one (its alert never raised there: lost), and a message
claimed there in that window may be claimed and sent again (duplicated); the drill counts those
storms and messages (`expected.notifications_lost_max`, `..._duplicated_max`: the window is
the few milliseconds from that check to the kill, and a message created at the gateway in it
(or before the promotion) only may have had its claim there). The project uses neither WAIT (an
acknowledged write would then be one the replica holds, at the cost of a round trip to it on
every write) nor min-replicas-to-write / min-replicas-max-lag (which only refuse writes while no
replica is within that lag: they bound the window to seconds, they do not close it).
Also: without_notifications_s (the last message created before the kill to the first after it)
and notifications_settled_s (kill -> every delivery on the new primary recorded, none left
`sending`: the held message's record died with the primary, so recovery asks the gateway's
Message list once twice the send timeout has passed, within settle_bound() + 60 s).
"""

from __future__ import annotations

import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import orjson
import redis
from rq.cron_scheduler_registry import get_registry_key as cron_schedulers_key

from opscentre.bench.sms_gateway import Gateway
from opscentre.core import keys
from opscentre.core.models import Entity, ObservationBatch, ParseResult
from opscentre.core.notify.deliveries import CLAIMABLE, State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.messages import (
    DEFAULT_LANG,
    LEVEL,
    SAMPLE_FIELDS,
    _fill,
    _intensities,
)
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.drills.notifier_kill import settle_bound
from opscentre.drills.notify_rig import GATEWAY_DELAY_S, STORM_MM
from opscentre.drills.waiting import wait_for
from opscentre.i18n import translator
from opscentre.processes.redis_server import (
    die_with_parent,
    free_port,
    redis_server_binary,
)
from opscentre.workers.evaluation import data_now, evaluate_city
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.pipeline import store_payload

MASTER = "opscentre"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
POLL_EVERY_S = 0.010
READINGS_PER_POLL = 100
DRILL_FEED = "sentinel_drill"
KIND = "rain_mm"
# down-after 1 s + the election (~1.3 s here) + redis-py's retries; a first failover that times out
# (failover-timeout 5 s) and is tried again by another sentinel still fits
WITHOUT_WRITES_BOUND_S = 15.0
FOLLOW_BOUND_S = 60.0  # a process's reconnect backoff is capped at 15 s (processes/runners.py)
STORM_EVERY_S = 0.2  # a new bairro's storm; one community contact in each bairro it may reach
STORM_RETRY_S = 60.0  # a storm not acknowledged (the primary gone) is tried again for this long
HELD_WAIT_S = 30.0  # for a message's request to reach the gateway once it holds them
REPLICA_SYNC_WAIT_S = 2.0  # for the replica to hold what the primary acknowledged, before the kill
UP_WAIT_S = 180.0  # `up` healthy: ~60 s at a load average of 30 on this 2-core machine, once over 120
MESSAGES_BEFORE_KILL = 3  # notifications under way when the primary dies, not only starting
UNSYNCED_WINDOW_S = 1.0  # if it did not: what the primary acknowledged in its last second may be lost


# ---- the Redis group ------------------------------------------------------------------------


class SentinelGroup:
    """A primary, a replica and three sentinels on loopback, with one password for the data
    servers (Sentinel must be allowed REPLICAOF and CONFIG, unlike the embedded server's ACL)."""

    def __init__(self, directory: Path, password: str):
        self.directory, self.password = directory, password
        self.ports = {"primary": free_port(), "replica": free_port()}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def start(self, timeout: float = 60.0) -> SentinelGroup:
        for name, port in self.ports.items():
            lines = [f"port {port}", "bind 127.0.0.1", f'dir "{self.directory / name}"', 'save ""', "appendonly no",
                     f"requirepass {self.password}", f"masterauth {self.password}",
                     f'logfile "{self.directory / name / "redis.log"}"']
            if name == "replica":
                lines.append(f"replicaof 127.0.0.1 {self.ports['primary']}")
            self._spawn(name, lines)
        for i, port in enumerate(self.sentinel_ports):
            self._spawn(f"sentinel-{i + 1}", [
                f"port {port}", "bind 127.0.0.1", f'dir "{self.directory / f"sentinel-{i + 1}"}"',
                f'logfile "{self.directory / f"sentinel-{i + 1}" / "redis.log"}"',
                f"sentinel monitor {MASTER} 127.0.0.1 {self.ports['primary']} 2",
                f"sentinel auth-pass {MASTER} {self.password}",
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {MASTER} 1",
            ], sentinel=True)
        _wait(lambda: self._replica_linked() and all(self._sentinel_sees_everyone(p) for p in self.sentinel_ports),
              timeout, "the replica in sync and every sentinel seeing the primary, the replica and 2 other sentinels")
        return self

    def _spawn(self, name: str, lines: list[str], sentinel: bool = False) -> None:
        directory = self.directory / name
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / ("sentinel.conf" if sentinel else "redis.conf")
        config.write_text("\n".join(lines) + "\n")  # a sentinel rewrites its config: a file of its own
        args = [redis_server_binary(), str(config)] + (["--sentinel"] if sentinel else [])
        self.processes[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                preexec_fn=die_with_parent)

    def client(self, port: int, **kw) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_connect_timeout=0.5, socket_timeout=2, **kw)

    def _replica_linked(self) -> bool:
        info = self._info(self.ports["replica"], "replication")
        return info.get("master_link_status") == "up"

    def _sentinel_sees_everyone(self, port: int) -> bool:
        try:
            with redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=2) as s:
                state = s.sentinel_master(MASTER)
        except redis.RedisError:
            return False
        return int(state.get("num-slaves", 0)) >= 1 and int(state.get("num-other-sentinels", 0)) >= 2

    def _info(self, port: int, section: str) -> dict:
        try:
            with self.client(port) as c:
                return c.info(section)
        except redis.RedisError:
            return {}

    def master_port(self) -> int | None:
        """The primary's port as a majority of the sentinels name it (None: no majority)."""
        named = []
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=1) as s:
                    host_port = s.sentinel_get_master_addr_by_name(MASTER)
                named.append(int(host_port[1]) if host_port else None)
            except redis.RedisError:
                named.append(None)
        for candidate in set(named):
            if candidate is not None and named.count(candidate) >= 2:
                return candidate
        return None

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait(predicate, timeout: float, what: str, interval: float = 0.1):
    value = wait_for(predicate, timeout, interval)
    if not value:
        raise TimeoutError(f"sentinel-failover: no {what} within {timeout:.0f} s")
    return value


# ---- the drill's own ingest ---------------------------------------------------------------


def _drill_feed(settings: Settings) -> Feed:
    """A feed whose payload is a poll number: READINGS_PER_POLL readings stamped T0 + poll
    (entities at one point of the city), parsed, validated and stored as any feed's."""
    lon, lat = settings.zones.representative_points[0]
    entities = [Entity(entity_id=f"drill:g{i}", entity_type="rain_gauge", source=DRILL_FEED, name=f"drill gauge {i}",
                       geometry={"type": "Point", "coordinates": [lon, lat]}) for i in range(READINGS_PER_POLL)]
    ids = [e.entity_id for e in entities]

    def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
        stamp = float(orjson.loads(payload)["t"])
        return ParseResult(entities=entities, batches=[ObservationBatch(
            source=DRILL_FEED, kind=KIND, entity_ids=ids, values=[0.0] * len(ids), observed_at=[stamp] * len(ids))])

    return Feed(feed_id=DRILL_FEED, title="sentinel-failover drill", fetch=lambda ctx: b"", parse=parse,
                default_interval_s=1)


class Ingest(threading.Thread):
    """Polls every POLL_EVERY_S until stopped; records which were acknowledged, and when."""

    def __init__(self, settings: Settings, client: redis.Redis, t0: float, say):
        super().__init__(daemon=True)
        self.settings, self.store, self.t0, self.say = settings, Store(client), t0, say
        self.feed = _drill_feed(settings)
        self.acked: dict[int, float] = {}  # poll -> monotonic time acknowledged
        self.failed: dict[int, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        poll = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            ctx = FeedContext(DRILL_FEED, None, self.settings, datetime.now(timezone.utc))
            try:
                store_payload(self.feed, orjson.dumps({"t": self.t0 + poll}), ctx, self.store)
                self.acked[poll] = time.monotonic()
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, OSError) as exc:
                self.failed[poll] = time.monotonic()
                if len(self.failed) == 1 or len(self.failed) % 50 == 0:
                    self.say(f"  ingest: poll {poll} not acknowledged ({type(exc).__name__})")
            except redis.ResponseError:  # e.g. a replica refusing writes right after its promotion was undone
                self.failed[poll] = time.monotonic()
            poll += 1
            self.stopping.wait(max(0.0, POLL_EVERY_S - (time.monotonic() - started)))


def _stored_polls(client: redis.Redis, t0: float) -> dict[int, int]:
    """poll -> readings of it the history stream holds (the drill's entries only)."""
    counts: dict[int, int] = {}
    for _id, fields in client.xrange(keys.history(KIND)):
        if fields.get(b"s") != DRILL_FEED.encode():
            continue
        columns = orjson.loads(fields[b"d"])
        for t in columns["t"]:
            poll = int(round(t - t0))
            counts[poll] = counts.get(poll, 0) + 1
    return counts


# ---- the drill's alerts and their notifications ---------------------------------------------


def _add_contacts(settings: Settings, client: redis.Redis, n: int) -> tuple[dict[str, str], dict[str, str]]:
    """One community contact in each of the first n bairros: zone -> number, number -> recipient id."""
    zones = settings.zones.ids[:n]
    store, now, phones, ids = RecipientStore(client), time.time(), {}, {}
    for i, zone in enumerate(zones):
        phones[zone] = f"+552197{i:07d}"
        recipient = Recipient.create(name=f"drill contact {i}", phone=phones[zone], consent_how="drill", now=now,
                                     zone_ids=(zone,), role=Role.COMMUNITY)
        store.add(recipient)
        ids[phones[zone]] = recipient.id
    return phones, ids


def _held_message(client: redis.Redis, kill: dict, recipient_ids: dict[str, str]) -> dict | None:
    """How the message held at the gateway at the kill ended on the new primary."""
    if not kill["held"]:
        return None
    store = DeliveryStore(client)
    recipient = recipient_ids.get(kill["held_to"])
    found = [d for state in State for d in store.by_state(state) if d.recipient_id == recipient]
    if len(found) != 1:
        return {"deliveries": len(found)}
    d = found[0]
    return {"state": d.state.value, "attempts": d.attempts,
            "recorded_s_after_claim": round(d.updated_at - (d.claimed_at or d.created_at), 1),
            "last_error": d.last_error}


class Storms(threading.Thread):
    """Every STORM_EVERY_S until stopped, very heavy rain at a gauge in a new bairro, stored and
    evaluated as a poll job does (notify_rig's storm, on the simulator's clock: the workers'
    evaluations measure windows from it, `up --speed 60`); tried again until acknowledged.
    Records when each bairro's storm was acknowledged."""

    def __init__(self, settings: Settings, client: redis.Redis, zones: list[str], say):
        super().__init__(daemon=True)
        logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)  # each storm's alert: not news here
        self.settings, self.client, self.zones, self.say = settings, client, zones, say
        self.points = dict(zip(settings.zones.ids, settings.zones.representative_points))
        self.acked: dict[str, float] = {}  # zone -> monotonic time acknowledged
        self.begun_wall: dict[str, float] = {}  # zone -> wall time its storm's first attempt began
        self.unacknowledged: list[str] = []
        self.failed_attempts = 0
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            for zone in self.zones:
                if self.stopping.is_set():
                    return
                started = time.monotonic()
                self.begun_wall[zone] = time.time()
                self._until_acknowledged(zone, started + STORM_RETRY_S)
                self.stopping.wait(max(0.0, STORM_EVERY_S - (time.monotonic() - started)))
        except BaseException as exc:  # noqa: BLE001 - raised again by the drill
            self.error = exc

    def _until_acknowledged(self, zone: str, deadline: float) -> None:
        while True:
            try:
                self._storm(zone)
                self.acked[zone] = time.monotonic()
                return
            except (redis.RedisError, OSError) as exc:
                self.failed_attempts += 1
                if self.failed_attempts == 1 or self.failed_attempts % 20 == 0:
                    self.say(f"  storms: {zone} not acknowledged ({type(exc).__name__}), trying again")
                if time.monotonic() > deadline:
                    self.unacknowledged.append(zone)
                    return
                time.sleep(0.05)

    def _storm(self, zone: str) -> None:
        store = Store(self.client)
        wall = time.time()
        gauge = Entity(entity_id=f"drill-gauge-{zone}", entity_type="rain_gauge", source="alerta_rio",
                       name="drill gauge", zone_id=zone,
                       geometry={"type": "Point", "coordinates": list(self.points[zone])})
        batch = ObservationBatch(source="alerta_rio", kind="rain_mm", entity_ids=[gauge.entity_id],
                                 values=[STORM_MM], observed_at=[data_now(store, wall)])
        store.write_poll("alerta_rio", [gauge], [batch], {}, {}, retention_s=86400, wall_now=wall)
        evaluate_city(self.settings, store, kinds=["rain_mm"], entities={"rain_mm": [gauge.entity_id]})


def _replica_offset(group: SentinelGroup) -> int:
    info = group._info(group.ports["replica"], "replication")
    return int(info.get("slave_repl_offset", info.get("master_repl_offset", -1)))


def _kill_with_a_message_held(group: SentinelGroup, gateway: Gateway, say) -> dict:
    """Hold the gateway's answers; once a message's request has arrived (created, its answer held),
    wait for the replica to have everything the primary acknowledged, SIGKILL the primary, and let
    the held answer go back to a notifier whose primary is dead."""
    gateway.mode("accept-hold")
    seen = len(gateway.requests())
    held = wait_for(lambda: gateway.requests()[seen:], HELD_WAIT_S, 0.005)
    window_from, window_from_wall = time.monotonic(), time.time()  # acknowledged before this: in `offset`
    offset = int(group._info(group.ports["primary"], "replication").get("master_repl_offset", 0))
    synced = bool(wait_for(lambda: _replica_offset(group) >= offset, REPLICA_SYNC_WAIT_S, 0.001))
    killed_wall, killed = time.time(), time.monotonic()
    group.kill("primary")
    gateway.mode("ok")  # the held answers go back now
    if not synced:  # the window is then the primary's last second, as for the readings
        window_from, window_from_wall = killed - UNSYNCED_WINDOW_S, killed_wall - UNSYNCED_WINDOW_S
    say(f"  SIGKILL the primary with {'a message' if held else 'NO message'} held at the gateway "
        f"(replica {'caught up' if synced else 'NOT caught up'}; {(killed - window_from) * 1000:.1f} ms of writes "
        f"the replica may not have)")
    return {"killed": killed, "killed_wall": killed_wall, "held": bool(held), "held_to": held[0][0] if held else None,
            "synced": synced, "window_from": window_from, "window_from_wall": window_from_wall}


def _deliveries_settled(client: redis.Redis) -> bool:
    """No delivery left `sending` or waiting for an attempt (queued, failed)."""
    counts = DeliveryStore(client).counts()
    return counts["sending"] == 0 and sum(counts[s.value] for s in CLAIMABLE) == 0


def _every_storm_texted(gateway: Gateway, prefix: str, phones: dict[str, str], zones) -> bool:
    texted = {m["to"] for m in gateway.messages() if m["body"].startswith(prefix)}
    return all(phones[z] in texted for z in zones)


def storm_text(settings: Settings) -> str:
    """How each storm's SMS begins, as its contact reads it (their language, the config's rain
    template): the critical level and very heavy rain, up to the bairros it names. The simulator
    may text the same contacts of its own weather (other hazards, other levels): not the storms'."""
    mark = "\x00"
    values = {**{k: "" for k in SAMPLE_FIELDS}, "city": settings.city.name, "places": mark, "advice": "",
              "level": LEVEL[DEFAULT_LANG]["critical"], "intensity": _intensities(translator(DEFAULT_LANG))["critical"]}
    return _fill(settings, DEFAULT_LANG, "rain", values).split(mark)[0]


def _notification_figures(messages: list[dict], storm_prefix: str, phones: dict[str, str], acked: dict[str, float],
                          begun_wall: dict[str, float], kill: dict, promoted: float, promoted_wall: float) -> dict:
    """The storms' messages the gateway created (`messages`: its {to, body, created}; a storm's:
    its body begins with `storm_prefix`) per contact of a storm acknowledged (`acked`: zone ->
    monotonic time; `begun_wall`: when its first attempt began): exactly one each; how many storms and
    messages fall in the replication window before the kill; other messages, counted apart."""
    by_phone: dict[str, list[dict]] = {}
    others: list[dict] = []
    for m in messages:
        if m["body"].startswith(storm_prefix):
            by_phone.setdefault(m["to"], []).append(m)
        else:
            others.append(m)
    stormed = {phones[z]: z for z in acked}
    lost = sorted(stormed[p] for p in stormed if not by_phone.get(p))
    extra = [m for p in stormed for m in sorted(by_phone.get(p, []), key=lambda m: m["created"])[1:]]
    repeats = Counter((m["to"], m["body"]) for p in stormed for m in by_phone.get(p, []))
    created = sorted(m["created"] for m in messages)
    before = [t for t in created if t < kill["killed_wall"]]
    after = [t for t in created if t > kill["killed_wall"]]
    delays = [min(m["created"] for m in by_phone[p]) - begun_wall[z] for p, z in stormed.items()
              if by_phone.get(p)]
    return {
        "notifications_lost": len(lost),
        "notifications_duplicated": len(extra),
        "notifications_expected": len(stormed),
        "notifications_identical_repeats": sum(n - 1 for n in repeats.values()),
        "storm_messages_to_others": sum(len(ms) for p, ms in by_phone.items() if p not in stormed),
        "other_messages": len(others), "other_messages_texts": sorted({m["body"][:60] for m in others})[:5],
        "notifications_lost_bairros": lost[:10],
        "notifications_duplicated_texts": [m["body"][:80] for m in extra[:5]],
        "storms_in_replication_window": sum(1 for t in acked.values()
                                            if kill["window_from"] <= t <= promoted),
        "messages_in_replication_window": sum(1 for t in created if kill["window_from_wall"] <= t <= promoted_wall),
        "messages_after_promotion": sum(1 for t in created if t > promoted_wall),
        "without_notifications_s": round(min(after) - max(before), 3) if before and after else None,
        "notify_delay_s_median": round(statistics.median(delays), 3) if delays else None,
        "notify_delay_s_max": round(max(delays), 3) if delays else None,
        "killed_with_message_held": kill["held"], "replica_caught_up_before_kill": kill["synced"],
    }


# ---- the drill ------------------------------------------------------------------------------


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    warmup_s, after_s = (3.0, 4.0) if short else (10.0, 15.0)

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="opscentre-sentinel-") as tmp:
        tmp_path = Path(tmp)
        password = os.urandom(16).hex()
        group = SentinelGroup(tmp_path, password)
        gateway = Gateway(GATEWAY_DELAY_S)
        up = None
        saved_env = {k: os.environ.get(k) for k in ("OPSCENTRE_REDIS_SENTINELS", "OPSCENTRE_REDIS_MASTER",
                                                     "OPSCENTRE_REDIS_PASSWORD", "REDIS_URL")}
        try:
            say(f"sentinel-failover: a primary, a replica and 3 sentinels on loopback (down-after {DOWN_AFTER_MS} ms, "
                f"failover-timeout {FAILOVER_TIMEOUT_MS} ms)")
            group.start()
            gateway.start()
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("REDIS_", "OPSCENTRE_REDIS", "PORT", "TWILIO_", "OPSCENTRE_SMS_"))}
            env.update(gateway.env(), OPSCENTRE_REDIS_SENTINELS=group.sentinels, OPSCENTRE_REDIS_MASTER=MASTER,
                       OPSCENTRE_REDIS_PASSWORD=password, OPSCENTRE_DATA_DIR=str(tmp_path / "var"),
                       PORT=str(free_port()))
            os.environ.update({k: env[k] for k in ("OPSCENTRE_REDIS_SENTINELS", "OPSCENTRE_REDIS_MASTER",
                                                   "OPSCENTRE_REDIS_PASSWORD")})
            os.environ.pop("REDIS_URL", None)
            up, healthz = _start_up(settings, env, tmp_path, say)
            figures = _drill(settings, group, gateway, healthz, warmup_s, after_s, say)
        finally:
            if up is not None:
                _stop_up(up)
            gateway.stop()
            group.stop()
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return _result(figures, short, say)


def _start_up(settings: Settings, env: dict, tmp_path: Path, say):
    config = ["--config", str(settings.source_path)] if settings.source_path else []
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([sys.executable, "-m", "opscentre", "up", "--speed", "60", *config], env=env,
                          stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    healthz = f"http://127.0.0.1:{env['PORT']}/healthz"
    say("  `opscentre up` through Sentinel: waiting for /healthz 200 (workers, scheduler, web)")
    try:
        _wait(lambda: up.poll() is None and _status(healthz) == 200, UP_WAIT_S, "/healthz 200", interval=0.5)
    except TimeoutError:
        log.close()
        tail = (tmp_path / "up.log").read_text(errors="replace").splitlines()[-15:]
        raise TimeoutError("sentinel-failover: `opscentre up` did not become healthy:\n" + "\n".join(tail)) from None
    return up, healthz


def _stop_up(up: subprocess.Popen) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _drill(settings: Settings, group: SentinelGroup, gateway: Gateway, healthz: str, warmup_s: float,
           after_s: float, say) -> dict:
    from opscentre.core.connection import connect

    client = connect()  # the project's client, through Sentinel
    primary_port = group.ports["primary"]
    phones, recipient_ids = _add_contacts(settings, client, len(settings.zones.ids))
    t0 = float(int(time.time()) - 7200)  # the polls' stamps: within the retention window, never in the future
    ingest = Ingest(settings, client, t0, say)
    storms = Storms(settings, client, list(phones), say)
    ingest.start()
    storms.start()
    time.sleep(warmup_s)
    if not wait_for(lambda: len(gateway.messages()) >= MESSAGES_BEFORE_KILL, 60, 0.1):
        raise RuntimeError(f"sentinel-failover: fewer than {MESSAGES_BEFORE_KILL} messages at the gateway a minute "
                           f"after the warm-up ({len(storms.acked)} storms acknowledged)")
    lag = group._info(primary_port, "replication")
    say(f"  ingest: {len(ingest.acked)} polls acknowledged, {len(storms.acked)} storms ({len(gateway.messages())} "
        f"messages at the gateway); SIGKILL the primary (port {primary_port}) once a message is held at the gateway")
    kill = _kill_with_a_message_held(group, gateway, say)
    killed_wall, killed = kill["killed_wall"], kill["killed"]
    new_port = _wait(lambda: (p := group.master_port()) not in (None, primary_port) and p, 60,
                     "new primary named by the sentinels", interval=0.05)
    promoted, promoted_wall = time.monotonic(), time.time()
    say(f"  the sentinels name the replica (port {new_port}) primary {promoted - killed:.2f} s after the kill")
    new = group.client(new_port)
    follows: dict = {}
    watcher = threading.Thread(target=lambda: follows.update(_follow_times(new, healthz, promoted_wall, say)),
                               daemon=True)
    watcher.start()  # from the promotion on, while the ingest goes on
    _wait(lambda: any(t > promoted for t in ingest.acked.values()), 60, "poll acknowledged by the new primary",
          interval=0.05)
    time.sleep(after_s)
    ingest.stopping.set()
    storms.stopping.set()
    ingest.join(30)
    storms.join(STORM_RETRY_S + 30)
    if storms.error is not None:
        raise storms.error
    watcher.join(FOLLOW_BOUND_S + 40)
    say(f"  {len(storms.acked)} storms acknowledged; waiting for each contact's message and every delivery recorded "
        "on the new primary (the held message: recovery asks the gateway) ...")
    settled = wait_for(lambda: _every_storm_texted(gateway, storm_text(settings), phones, storms.acked)
                       and _deliveries_settled(new),
                       settle_bound() + 60, 0.5)
    settled_s = time.monotonic() - killed
    time.sleep(1.0)  # a message sent twice would have reached the gateway by now
    notified = _notification_figures(gateway.messages(), storm_text(settings), phones, storms.acked,
                                     storms.begun_wall, kill, promoted, promoted_wall)
    states = {k: v for k, v in DeliveryStore(new).counts().items() if v}
    held = _held_message(new, kill, recipient_ids)
    stored = _stored_polls(new, t0)
    new.close()
    client.close()
    # acknowledged by the old primary: before the kill, or its replies read just after it (the new
    # primary cannot answer before the sentinels' down-after has passed)
    cut = killed + DOWN_AFTER_MS / 2000
    before = [t for t in ingest.acked.values() if t < cut]
    after = [t for t in ingest.acked.values() if t >= cut]
    lost_polls = [p for p in ingest.acked if stored.get(p, 0) < READINGS_PER_POLL]
    acked_in_last_s = sum(1 for t in before if t > killed - 1.0)
    return {
        "lost": sum(READINGS_PER_POLL - stored.get(p, 0) for p in lost_polls),
        "lost_polls": len(lost_polls),
        "duplicated": sum(max(0, n - READINGS_PER_POLL) for n in stored.values()),
        "without_writes_s": round(min(after) - max(before), 3) if before and after else None,
        "failover_s": round(promoted - killed, 3),
        "recovery_s": round(max(0.0, min(after) - promoted), 3) if after else None,
        "polls_acknowledged": len(ingest.acked), "polls_failed": len(ingest.failed),
        "stored_not_acknowledged": sum(1 for p in ingest.failed if stored.get(p)),
        "acknowledged_in_last_second": acked_in_last_s,
        "replica_lag_before_kill": _replica_lag(lag),
        "follow_s": follows or {"watch": None},
        **notified,
        "storms_unacknowledged": len(storms.unacknowledged), "storms_failed_attempts": storms.failed_attempts,
        "notifications_settled": bool(settled), "notifications_settled_s": round(settled_s, 1),
        "deliveries_by_state": states, "held_message": held,
        "killed_at": round(killed_wall, 3), "promoted_at": round(promoted_wall, 3),
    }


def _replica_lag(info: dict) -> dict | None:
    replica = info.get("slave0")
    if not isinstance(replica, dict):
        return None
    # the replica's offset as it last acknowledged it (replicas acknowledge once a second)
    return {"acknowledged_offset_behind_bytes": int(info.get("master_repl_offset", 0)) - int(replica.get("offset", 0)),
            "lag_s": int(replica.get("lag", 0))}


def _follow_times(new: redis.Redis, healthz: str, promoted_wall: float, say) -> dict:
    """Seconds from the promotion until each process was seen working on the new primary."""
    checks = {
        "workers": lambda: sum(1 for _n, s in new.zrange(keys.WORKER_HEARTBEAT, 0, -1, withscores=True)
                               if s > promoted_wall) >= 1,
        "simulator_polls": lambda: float(new.hget(keys.feed_health("simulator"), "last_success_ts") or 0)
        > promoted_wall,
        "scheduler": lambda: any(s > promoted_wall for _n, s in new.zrange(cron_schedulers_key(), 0, -1,
                                                                              withscores=True)),
        "notifier": lambda: any(s > promoted_wall for _n, s in new.zrange(keys.NOTIFIER_HEARTBEAT, 0, -1,
                                                                           withscores=True)),
        "web_healthz": lambda: _status(healthz) == 200,
    }
    seen: dict[str, float | None] = {name: None for name in checks}
    deadline = time.monotonic() + FOLLOW_BOUND_S + 30
    while time.monotonic() < deadline and any(v is None for v in seen.values()):
        for name, check in checks.items():
            if seen[name] is None:
                try:
                    if check():
                        seen[name] = round(time.time() - promoted_wall, 1)
                        say(f"  {name} on the new primary {seen[name]:.1f} s after the promotion")
                except redis.RedisError:
                    pass
        time.sleep(0.25)
    return seen


def _result(f: dict, short: bool, say) -> dict:
    followed = all(v is not None and v <= FOLLOW_BOUND_S for v in f["follow_s"].values())
    lost_bound = f["acknowledged_in_last_second"] * READINGS_PER_POLL
    n_lost_bound, n_dup_bound = f["storms_in_replication_window"], f["messages_in_replication_window"]
    expected = {"duplicated": 0, "lost_max": lost_bound, "without_writes_s_max": WITHOUT_WRITES_BOUND_S,
                "follow_s_max": FOLLOW_BOUND_S, "notifications_lost": 0, "notifications_duplicated": 0,
                "notifications_lost_max": n_lost_bound, "notifications_duplicated_max": n_dup_bound,
                "notifications_settled_s_max": round(settle_bound() + 60, 1)}
    ok = (f["duplicated"] == 0 and f["lost"] <= lost_bound and f["without_writes_s"] is not None
          and f["without_writes_s"] <= WITHOUT_WRITES_BOUND_S and followed
          and f["notifications_lost"] <= n_lost_bound and f["notifications_duplicated"] <= n_dup_bound
          and f["notifications_settled"] and f["storms_unacknowledged"] == 0)
    result = {"drill": "sentinel-failover", "lost": f.pop("lost"), "duplicated": f.pop("duplicated"),
              "recovery_s": f.pop("recovery_s"), "notifications_lost": f.pop("notifications_lost"),
              "notifications_duplicated": f.pop("notifications_duplicated"), "expected": expected, "ok": ok, **f,
              "short": short}
    say(f"  polls:            {result['polls_acknowledged']} acknowledged ({READINGS_PER_POLL} readings each), "
        f"{result['polls_failed']} not ({result['stored_not_acknowledged']} of those stored anyway)")
    say(f"  without writes:   {result['without_writes_s']} s (last poll acknowledged by the old primary to the first "
        f"by the new)   expected: ≤ {WITHOUT_WRITES_BOUND_S:g} s")
    say(f"  failover:         {result['failover_s']} s from the kill to the sentinels naming the new primary")
    say(f"  lost:             {result['lost']} readings ({result['lost_polls']} acknowledged polls missing on the new "
        f"primary)   expected: ≤ {lost_bound} (the polls acknowledged in the last second: asynchronous replication)")
    say(f"  duplicated:       {result['duplicated']}   expected: 0")
    say(f"  replica before the kill: {result['replica_lag_before_kill']}")
    say("  followed the new primary (s after the promotion): "
        + ", ".join(f"{k} {v}" for k, v in result["follow_s"].items()) + f"   expected: each ≤ {FOLLOW_BOUND_S:g} s")
    say(f"  notifications:    {result['notifications_expected']} storms acknowledged, each texting one contact: "
        f"lost {result['notifications_lost']}, duplicated {result['notifications_duplicated']} (messages created at "
        f"the gateway)   expected: 0 and 0 (replication's bound: ≤ {n_lost_bound} storms and ≤ {n_dup_bound} messages "
        "acknowledged by the old primary after the replica was seen caught up)")
    held = ("a message held at the gateway (created, its answer held until the primary was dead)"
            if result["killed_with_message_held"] else "NO message held at the gateway")
    say(f"  at the kill:      {held}; {result['messages_after_promotion']} messages created after the promotion; "
        f"{result['storm_messages_to_others']} storm messages to contacts no acknowledged storm was for, "
        f"{result['other_messages']} others (the simulator's weather: not judged)")
    say(f"  without notifications: {result['without_notifications_s']} s (the last message created before the kill to "
        f"the first after); from a storm's first attempt to its message median {result['notify_delay_s_median']} s, "
        f"max {result['notify_delay_s_max']} s")
    say(f"  settled:          every delivery recorded on the new primary {result['notifications_settled_s']} s after "
        f"the kill ({result['deliveries_by_state']}; the held message: {result['held_message']})   expected: ≤ "
        f"{expected['notifications_settled_s_max']:g} s (twice the send timeout, then a recovery pass)")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result
