"""`opscentre drill fuzz`: mutated payloads of every real feed through a worker poll's path.

One seed payload per feed (opscentre/drills/fuzz_seeds/, copied from the project's recorded
fixtures; README there says where each came from) is mutated 1,000 times (--short: 50):
truncated, retyped, huge numbers, NaN/Infinity, latin-1 / invalid UTF-8 / BOM, deep nesting,
keys dropped and repeated (drills/fuzz_mutations.py, a fixed random seed so runs repeat).
Each payload takes the path of a worker's poll (workers/pipeline.py: parse -> validate -> store
into a real redis-server on loopback), in a small city around the seed (a grid of zones over
its coordinates) with the feed's options and a `now` just after the seed was recorded; a failure
is recorded on the feed's health as the worker does (workers/jobs.py).

Figures: crashes (an exception other than the feed's own ParseError/OpscentreError: the worker
would log it as a bug), lost (payloads after which Redis's data for the feed differs from what
the last good poll left: a failed poll must not change it), duplicated (history rows beyond a
poll's own), failures by kind.
"""

from __future__ import annotations

import logging
import random
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import redis
from ruamel.yaml import YAML

from opscentre.core import keys
from opscentre.core.errors import OpscentreError
from opscentre.core.settings import Settings, feed_options, load_settings
from opscentre.core.store import Store
from opscentre.drills.fuzz_mutations import mutated
from opscentre.processes.redis_server import RedisServer
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.jobs import _record_failure
from opscentre.workers.pipeline import store_payload

SEEDS_DIR = Path(__file__).parent / "fuzz_seeds"
RANDOM_SEED = 14  # issue 14: the same payloads every run
PAYLOAD_TIME_LIMIT_S = 20  # a payload that takes longer is counted as a crash (a hang)


@dataclass(frozen=True)
class Seed:
    """A feed's seed payload and the city it was recorded in."""

    file: str
    fmt: str  # json, xml, protobuf
    as_of: str  # ISO 8601 UTC: `now` of the polls (just after the payload was recorded)
    bbox: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat of the city's zones
    tz: str
    options: dict[str, Any] = field(default_factory=dict)


SEEDS: dict[str, Seed] = {
    "alerta_rio": Seed("alerta_rio.json", "json", "2026-02-11T13:20:00Z", (-43.8, -23.1, -43.1, -22.7),
                       "America/Sao_Paulo"),
    "cap": Seed("cap.xml", "xml", "2003-06-17T22:00:00Z", (-120.5, 38.0, -119.5, 38.8), "America/Los_Angeles"),
    "nws_alerts": Seed("nws_alerts.json", "json", "2019-12-20T21:40:00Z", (-124.0, 45.0, -122.0, 46.5),
                       "America/Los_Angeles"),
    "cemaden": Seed("cemaden.json", "json", "2024-12-05T00:20:00Z", (-43.9, -20.75, -43.7, -20.55),
                    "America/Sao_Paulo", {"stations": {"311830410H": {"est": 6622, "lat": -20.66, "lon": -43.786}}}),
    "energidataservice": Seed("energidataservice.json", "json", "2025-02-21T19:12:00Z", (12.45, 55.6, 12.65, 55.73),
                              "Europe/Copenhagen", {"price_areas": ["DK1", "DK2"]}),
    "gtfs_rt": Seed("gtfs_rt.pb", "protobuf", "2023-11-08T01:07:00Z", (-122.5, 37.2, -121.7, 37.85),
                    "America/Los_Angeles", {"vehicle_positions_url": "http://127.0.0.1:9/vp"}),
    "open_meteo": Seed("open_meteo.json", "json", "2026-10-03T09:20:00Z", (6.7, 52.2, 7.0, 52.35),
                       "Europe/Amsterdam"),
    "openaq": Seed("openaq.json", "json", "2024-08-26T21:30:00Z", (-106.8, 34.9, -106.4, 35.25), "America/Denver",
                   {"locations": [2178]}),
    "outages_geojson": Seed("outages_geojson.json", "json", "2018-10-15T17:00:00Z", (-80.82, 34.82, -80.19, 35.59),
                            "America/New_York", {"url": "http://127.0.0.1:9/outages.geojson"}),
    "usgs_iv": Seed("usgs_iv.json", "json", "2020-02-13T23:00:00Z", (-78.0, 38.5, -75.5, 39.5), "America/New_York",
                    {"sites": ["01491000", "01645000"],
                     "thresholds": {"01491000": {"attention_m": 1.5, "alert_m": 2.0, "overflow_m": 2.6}}}),
    "waze": Seed("waze.json", "json", "2019-03-22T21:44:00Z", (-74.3, 40.5, -73.7, 40.95), "America/New_York",
                 {"url": "http://127.0.0.1:9/feed"}),
}
# Keys a failed poll writes on purpose (the feed's health, counters and poll log) or that only say
# a write happened: everything else in Redis is the feed's data, which a failure must leave as it was.
NOT_DATA = re.compile(r"^(oc:feed:|oc:metrics:feed:|oc:polls:feed:|oc:write:|oc:feeds$|oc:lock:)")


def run(settings: Settings, short: bool = False, progress: bool = True, payloads: int | None = None,
        feeds: list[str] | None = None, random_seed: int = RANDOM_SEED) -> dict:
    per_feed = payloads or (50 if short else 1000)
    feeds = feeds or list(SEEDS)

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    say(f"fuzz: {per_feed} mutated payloads for each of {len(feeds)} feeds, parse -> validate -> store into a "
        f"real Redis (random seed {random_seed})")
    totals = {"payloads": 0, "stored": 0, "failed": 0, "crashes": 0, "lost": 0, "duplicated": 0}
    by_kind: dict[str, int] = {}
    by_mutation: dict[str, dict[str, int]] = {}  # first mutation -> outcome -> payloads
    crash_examples: list[dict] = []
    per_feed_figures: dict[str, dict] = {}
    started = time.monotonic()
    poll_log = logging.getLogger("opscentre.poll")
    poll_log_level = poll_log.level
    poll_log.setLevel(logging.ERROR)  # "feed X is down" thousands of times says nothing here
    with tempfile.TemporaryDirectory(prefix="opscentre-fuzz-") as tmp:
        server = RedisServer(Path(tmp) / "redis", persist=False).start()
        client = redis.Redis.from_url(server.url)
        try:
            for feed_id in feeds:
                client.flushall()
                city = _city(Path(tmp) / feed_id, feed_id, SEEDS[feed_id])
                figures = _fuzz_feed(feed_id, city, client, per_feed, random.Random(f"{random_seed}:{feed_id}"),
                                     by_kind, by_mutation, crash_examples, say)
                per_feed_figures[feed_id] = figures
                for k in totals:
                    totals[k] += figures.get(k, 0)
                say(f"  {feed_id:18} {figures['stored']:5} stored, {figures['failed']:5} refused, "
                    f"{figures['crashes']} crashes, {figures['lost']} changed the last good state")
        finally:
            client.close()
            server.stop()
            poll_log.setLevel(poll_log_level)
    expected = {"crashes": 0, "lost": 0, "duplicated": 0, "seed_polls_stored": len(feeds)}
    seeds_ok = sum(1 for f in per_feed_figures.values() if f["seed_stored"])
    ok = totals["crashes"] == 0 and totals["lost"] == 0 and totals["duplicated"] == 0 and seeds_ok == len(feeds)
    result = {"drill": "fuzz", "lost": totals["lost"], "duplicated": totals["duplicated"], "recovery_s": 0,
              "expected": expected, "ok": ok, "crashes": totals["crashes"], "payloads": totals["payloads"],
              "stored": totals["stored"], "failed": totals["failed"], "seed_polls_stored": seeds_ok,
              "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])), "by_mutation": by_mutation,
              "feeds": per_feed_figures,
              "crash_examples": crash_examples[:20], "random_seed": random_seed, "per_feed": per_feed,
              "seconds": round(time.monotonic() - started, 1), "short": short}
    say(f"  payloads:   {result['payloads']:,} ({result['stored']:,} stored, {result['failed']:,} refused whole)")
    say(f"  crashes:    {result['crashes']}   expected: 0 (an exception other than the feed's own parse error)")
    say(f"  lost:       {result['lost']} payloads changed what the last good poll left   expected: 0")
    say(f"  duplicated: {result['duplicated']} history rows beyond a poll's own   expected: 0")
    say(f"  seed polls: {seeds_ok} of {len(feeds)} stored   expected: all (the unmutated payload is good)")
    say("  by mutation (first applied): " + "; ".join(
        f"{m} {c['stored']}/{c['refused']}/{c['crashed']}" for m, c in sorted(by_mutation.items()))
        + "   (stored/refused/crashed)")
    say("  failures by kind:")
    for kind, n in list(result["by_kind"].items())[:25]:
        say(f"    {n:6}  {kind}")
    for example in result["crash_examples"][:10]:
        say(f"  crash: {example['feed']} / {example['mutation']}: {example['error']} at {example['where']}")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


def _fuzz_feed(feed_id: str, city: Settings, client: redis.Redis, count: int, rng: random.Random,
               by_kind: dict[str, int], by_mutation: dict[str, dict[str, int]], crash_examples: list[dict],
               say) -> dict:
    seed = SEEDS[feed_id]
    feed = FEEDS[feed_id]
    payload = (SEEDS_DIR / seed.file).read_bytes()
    ctx = FeedContext(feed_id, feed_options(city, feed_id), city,
                      datetime.fromisoformat(seed.as_of.replace("Z", "+00:00")).astimezone(timezone.utc))
    store = Store(client)
    last_ids: dict[str, str] = {}
    figures = {"payloads": 0, "stored": 0, "failed": 0, "crashes": 0, "lost": 0, "duplicated": 0,
               "seed_stored": False}
    outcome, _ = _poll(feed, payload, ctx, store)
    figures["seed_stored"] = outcome is None
    if outcome is not None:
        say(f"  {feed_id}: the unmutated seed was not stored: {outcome}")
    _history_rows(client, last_ids)
    good = _data_state(client)
    for name, body in mutated(payload, seed.fmt, count, rng):
        figures["payloads"] += 1
        outcome, summary = _poll(feed, body, ctx, store)
        family = re.sub(r" \(.*", "", name.split(" + ")[0])
        counts = by_mutation.setdefault(family, {"stored": 0, "refused": 0, "crashed": 0})
        counts["stored" if outcome is None else "crashed" if outcome[0].startswith("crash") else "refused"] += 1
        if outcome is None:
            figures["stored"] += 1
            figures["duplicated"] += max(0, _history_rows(client, last_ids) - summary.observations)
            good = _data_state(client)
            continue
        kind, error = outcome
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if kind.startswith("crash"):
            figures["crashes"] += 1
            crash_examples.append({"feed": feed_id, "mutation": name, "error": error[0], "where": error[1]})
        else:
            figures["failed"] += 1
        _history_rows(client, last_ids)
        if _data_state(client) != good:
            figures["lost"] += 1
            say(f"  {feed_id}: a refused payload ({name}: {kind}) changed the stored data")
            good = _data_state(client)
    return figures


def _poll(feed, payload: bytes, ctx: FeedContext, store: Store):
    """A worker's poll of one payload (workers/jobs.py _poll_once, with the payload in hand):
    (None, summary) when stored; ((kind, (error, where)), None) when refused or crashed."""
    wall_now = time.time()
    started = time.perf_counter()
    try:
        with _time_limit(PAYLOAD_TIME_LIMIT_S):
            return None, store_payload(feed, payload, ctx, store, wall_now=wall_now, started=started)
    except OpscentreError as exc:
        _record_failure(store, feed.feed_id, exc.kind, str(exc), wall_now, started, 60.0)
        return (f"{feed.feed_id} {exc.kind}: {_reason(str(exc))}", (str(exc)[:200], "")), None
    except Exception as exc:  # what the worker logs as "unexpected error" and records as internal
        _record_failure(store, feed.feed_id, "internal", f"{type(exc).__name__}: {exc}", wall_now, started, 60.0)
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/opscentre/" in f.filename] or frames
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} ({ours[-1].name})"
        return (f"crash {feed.feed_id}: {type(exc).__name__} at {where}",
                (f"{type(exc).__name__}: {str(exc)[:200]}", where)), None


class _Hang(Exception):
    pass


class _time_limit:
    """SIGALRM after `seconds` (main thread only; elsewhere no limit)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.armed:
            def hang(_signum, _frame):
                raise _Hang(f"no answer within {self.seconds} s")
            self.previous = signal.signal(signal.SIGALRM, hang)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def _reason(message: str) -> str:
    """A failure's reason without its particulars (positions, values), to count by kind."""
    head = message.split(": line ", 1)[0]  # orjson's position
    head = re.sub(r"'[^']*'|\"[^\"]*\"|\([^()]*\d[^()]*\)", "…", head)
    return re.sub(r"(?<![A-Za-z-])\d+", "N", head)[:160]


def _data_state(client: redis.Redis) -> dict[bytes, Any]:
    """What Redis holds as data (health and counters aside): each key's content; a stream by its
    length and first and last entry ids (appends and trims both show)."""
    names = sorted(k for k in client.keys("*") if not NOT_DATA.match(k.decode()))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
    types = pipe.execute()
    readers = {b"hash": lambda p, k: p.hgetall(k), b"set": lambda p, k: p.smembers(k),
               b"string": lambda p, k: p.get(k), b"zset": lambda p, k: p.zrange(k, 0, -1, withscores=True),
               b"list": lambda p, k: p.lrange(k, 0, -1)}
    for name, kind in zip(names, types):
        if kind == b"stream":
            pipe.xlen(name)
            pipe.xrange(name, count=1)
            pipe.xrevrange(name, count=1)
        else:
            readers[kind](pipe, name)
    replies = iter(pipe.execute())
    state: dict[bytes, Any] = {}
    for name, kind in zip(names, types):
        state[name] = (next(replies), next(replies), next(replies)) if kind == b"stream" else next(replies)
    return state


def _history_rows(client: redis.Redis, last_ids: dict[str, str]) -> int:
    """Readings in the history entries written since the last call (every kind)."""
    rows = 0
    for raw in client.smembers(keys.KINDS):
        kind = raw.decode()
        after = last_ids.get(kind)
        for entry_id, fields in client.xrange(keys.history(kind), min=f"({after}" if after else "-"):
            rows += len(orjson.loads(fields[b"d"])["e"])
            last_ids[kind] = entry_id.decode()
    return rows


def _city(directory: Path, feed_id: str, seed: Seed, rows: int = 4, cols: int = 4) -> Settings:
    """A city of rows x cols square zones over the seed's box, with this one feed enabled."""
    directory.mkdir(parents=True, exist_ok=True)
    min_lon, min_lat, max_lon, max_lat = seed.bbox
    dx, dy = (max_lon - min_lon) / cols, (max_lat - min_lat) / rows
    features = []
    for r in range(rows):
        for c in range(cols):
            x0, y0 = min_lon + c * dx, min_lat + r * dy
            ring = [[x0, y0], [x0 + dx, y0], [x0 + dx, y0 + dy], [x0, y0 + dy], [x0, y0]]
            features.append({"type": "Feature", "properties": {"id": f"z{r}-{c}", "name": f"Zone {r}-{c}"},
                             "geometry": {"type": "Polygon", "coordinates": [ring]}})
    (directory / "zones.geojson").write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
    config = {"city": {"name": f"Fuzz city of {feed_id}", "timezone": seed.tz, "zones": "zones.geojson",
                       "zone_id_property": "id", "zone_name_property": "name"},
              "retention_hours": 48, "feeds": {feed_id: {"options": seed.options}}}
    path = directory / "city.yaml"
    with path.open("w") as handle:
        YAML().dump(config, handle)
    return load_settings(path)
