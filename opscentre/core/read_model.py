"""The read model: the documents every public reader is served — status.json, the public layers
(and the OGC API over them) — built once per version of the city's data, kept in Redis, and
served from memory.

The store's version (`oc:version`) moves with every stored poll and every change of the alerts
or the stage. A group of documents (`status`, `layers`) is rebuilt when a reader finds it older
than that version: by the first reader to need it, under a Redis lock, so each version is built
once however many web processes serve it; a reader that finds the lock taken serves the last
stored snapshot meanwhile. Each process keeps what it served; a request then costs one GET of
the version, and nothing else when the version has not moved (a 304 rebuilds nothing).

A group may also `watch` streams: what it shows moves with them too (the operator documents
show acknowledgements and silences, which are not data: every one is an entry of the audit
stream). The last entry id of each is then read with the version, in the same round trip, and a
snapshot built before a new entry is rebuilt.

While Redis is unreachable, each process goes on serving the last snapshot it holds (`stale`,
with `built_at` to say "as of HH:MM"), trying Redis again at most every RETRY_S; with no snapshot
at all it raises, and the caller answers 503. While Redis answers reads but refuses every write
(its disk is full: MISCONF; a replica: READONLY), a snapshot cannot be stored nor its lock
taken: each process builds its own from what Redis still serves, and holds it like any other.

Documents are bytes with their media type, an ETag of their content, a gzip copy (made once, at
build) and a few plain facts (`meta`: updated_at, simulated...).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import ResponseError

from opscentre.core import keys, locks
from opscentre.core.connection import REDIS_DOWN, name_dataset, writes_refused
from opscentre.core.errors import ConfigError, StoreUnavailable

LOCK_S = 30
WAIT_FOR_BUILD_S = 5.0  # a reader with nothing to serve waits this long for another's build
RETRY_S = 2.0  # after Redis failed, serve what is held for this long before trying again


@dataclass(frozen=True)
class Document:
    """What a builder makes: one document of a group."""

    body: bytes
    media_type: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    group: str
    name: str
    version: int  # the store version it was built at
    epoch: bytes  # of the Redis it was built from (a version number means nothing in another)
    built_at: float
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str  # of the content: the same document at two versions keeps its ETag
    meta: Mapping[str, Any]
    stale: bool = False  # served from memory while Redis is unreachable
    stamp: bytes = b""  # the last entry ids of the streams its group watches, when it was built


Builder = Callable[[], Mapping[str, Document]]


def _etag(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=10).hexdigest()


class ReadModel:
    """`get(group, name)`: the current snapshot of one document. `builders`: group -> a function
    building every document of the group from the store as it is now."""

    def __init__(self, redis: Redis, builders: Mapping[str, Builder], clock: Callable[[], float] = time.time,
                 max_age_s: Mapping[str, float] | None = None, recheck_s: float = 0.0,
                 watch: Mapping[str, tuple[str, ...]] | None = None):
        """max_age_s: group -> rebuild it when older than this even if the data has not moved
        (what it shows also depends on the time: a feed goes stale without a new poll).
        recheck_s: serve a held snapshot this long without asking Redis whether the data moved
        (0: ask on every call) — under a burst of requests, most cost nothing.
        watch: group -> streams whose every new entry also makes its snapshot out of date."""
        self.redis, self.builders, self.clock = redis, dict(builders), clock
        self.max_age_s, self.recheck_s = dict(max_age_s or {}), recheck_s
        self.watch = {group: tuple(streams) for group, streams in (watch or {}).items() if streams}
        self._held: dict[tuple[str, str], Snapshot] = {}
        self._checked_at: dict[tuple[str, str], float] = {}
        self._building = threading.Lock()
        self._down_until = 0.0

    def get(self, group: str, name: str) -> Snapshot:
        """KeyError: no such document in the group. StoreUnavailable: Redis is down and this
        process holds no snapshot of it."""
        if group not in self.builders:
            raise KeyError(group)
        held = self._held.get((group, name))
        now = self.clock()
        if held is not None and now < self._down_until:
            return _stale(held)
        if held is not None and now - self._checked_at.get((group, name), -1e18) < self.recheck_s:
            return held
        try:
            snapshot = self._current(group, name, held)
        except REDIS_DOWN as exc:
            self._down_until = self.clock() + RETRY_S
            if held is None:
                raise StoreUnavailable(f"Redis unreachable and no snapshot of {group}/{name} held: {exc}") from exc
            return _stale(held)
        self._held[(group, name)] = snapshot
        self._checked_at[(group, name)] = now
        return snapshot

    def _current(self, group: str, name: str, held: Snapshot | None) -> Snapshot:
        version, epoch = self._version(group)
        if self._current_enough(held, group, version, epoch):
            return held
        stored = self._stored(group, name)
        if self._current_enough(stored, group, version, epoch):
            return stored
        with self._building:  # (one build at a time in this process; others wait here and find it stored)
            stored = self._stored(group, name)
            if self._current_enough(stored, group, version, epoch):
                return stored
            try:
                token = locks.acquire(self.redis, keys.snapshot_lock(group), LOCK_S)
            except ResponseError as exc:
                if not writes_refused(exc):
                    raise
                return self._built_here(group, name, version, epoch)
            if token is None:  # another process is building this version
                return stored or held or self._wait_for(group, name, version, epoch)
            try:
                stored = self._stored(group, name)  # (built by another while this one waited for the lock?)
                if self._current_enough(stored, group, version, epoch):
                    return stored
                version, epoch = self._version(group)  # (what is read next is at least this)
                documents = self.builders[group]()
                built_at = self._store(group, version, epoch, documents)
            finally:
                self._release(group, token)
        if name not in documents:
            raise KeyError(name)
        # (the same built_at as stored: every process serves the same snapshot, to the byte)
        return _snapshot(group, name, version, epoch, built_at, documents[name])

    def _current_enough(self, snapshot: Snapshot | None, group: str, version: int, epoch: bytes) -> bool:
        """`epoch` is the Redis epoch, followed by the group's stamp when it watches streams."""
        if snapshot is None or snapshot.epoch + snapshot.stamp != epoch or snapshot.version < version:
            return False
        return self.clock() - snapshot.built_at < self.max_age_s.get(group, float("inf"))

    def _version(self, group: str = "") -> tuple[int, bytes]:
        """(store version, epoch + the group's stamp): one round trip."""
        streams = self.watch.get(group, ())
        if streams:
            pipe = self.redis.pipeline(transaction=False)
            pipe.mget([keys.VERSION, keys.EPOCH])
            for stream in streams:
                pipe.xrevrange(stream, count=1)
            (version, epoch), *lasts = pipe.execute()
        else:
            (version, epoch), lasts = self.redis.mget([keys.VERSION, keys.EPOCH]), []
        if epoch is None:
            name_dataset(self.redis)
            epoch = self.redis.get(keys.EPOCH) or b""
        return int(version or 0), epoch + _stamp(lasts)

    def _stored(self, group: str, name: str) -> Snapshot | None:
        version, epoch, stamp, built_at, body, gzipped, meta = self.redis.hmget(
            keys.snapshot(group),
            ["version", "epoch", "stamp", "built_at", f"{name}:body", f"{name}:gz", f"{name}:meta"])
        if version is None:
            return None
        if body is None:
            raise KeyError(name)
        info = orjson.loads(meta)
        return Snapshot(group=group, name=name, version=int(version), epoch=epoch or b"", built_at=float(built_at),
                        body=body,
                        gzipped=gzipped, media_type=info["media_type"], etag=info["etag"], meta=info["meta"],
                        stamp=stamp or b"")

    def _store(self, group: str, version: int, epoch: bytes, documents: Mapping[str, Document]) -> float:
        built_at = self.clock()
        epoch, stamp = _split(epoch)
        fields: dict[str, Any] = {"version": version, "epoch": epoch, "stamp": stamp, "built_at": repr(built_at)}
        for name, doc in documents.items():
            fields[f"{name}:body"] = doc.body
            fields[f"{name}:gz"] = gzip.compress(doc.body, compresslevel=6, mtime=0)
            fields[f"{name}:meta"] = orjson.dumps({"media_type": doc.media_type, "etag": _etag(doc.body),
                                                    "meta": dict(doc.meta)})
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.snapshot(group)).hset(keys.snapshot(group), mapping=fields)
        try:
            pipe.execute()
        except ResponseError as exc:  # (Redis began refusing writes since the lock was taken: served, not stored)
            if not writes_refused(exc):
                raise
        return built_at

    def _release(self, group: str, token: str) -> None:
        try:
            locks.release(self.redis, keys.snapshot_lock(group), token)
        except ResponseError as exc:  # (refused: the lock expires by itself)
            if not writes_refused(exc):
                raise

    def _wait_for(self, group: str, name: str, version: int, epoch: bytes) -> Snapshot:
        """Nothing stored yet and another process building: wait for its snapshot, then build
        one here (not stored) rather than fail."""
        deadline = self.clock() + WAIT_FOR_BUILD_S
        while self.clock() < deadline:
            time.sleep(0.05)
            stored = self._stored(group, name)
            if stored is not None:
                return stored
        return self._built_here(group, name, version, epoch)

    def _built_here(self, group: str, name: str, version: int, epoch: bytes) -> Snapshot:
        """Built in this process and not stored."""
        documents = self.builders[group]()
        if name not in documents:
            raise KeyError(name)
        return _snapshot(group, name, version, epoch, self.clock(), documents[name])


def _snapshot(group: str, name: str, version: int, epoch: bytes, built_at: float, doc: Document) -> Snapshot:
    epoch, stamp = _split(epoch)
    return Snapshot(group=group, name=name, version=version, epoch=epoch, built_at=built_at, body=doc.body,
                    gzipped=gzip.compress(doc.body, compresslevel=6, mtime=0), media_type=doc.media_type,
                    etag=_etag(doc.body), meta=dict(doc.meta), stamp=stamp)


def _stamp(lasts: list) -> bytes:
    """'|' and the last entry id of each watched stream ('-' for an empty one): b"" for none."""
    if not lasts:
        return b""
    return b"|" + b",".join(last[0][0] if last else b"-" for last in lasts)


def _split(epoch_and_stamp: bytes) -> tuple[bytes, bytes]:
    epoch, bar, stamp = epoch_and_stamp.partition(b"|")
    return epoch, bar + stamp


def _stale(snapshot: Snapshot) -> Snapshot:
    return snapshot if snapshot.stale else Snapshot(**{**snapshot.__dict__, "stale": True})


RECHECK_MS_DEFAULT = 100


def public_recheck_s(env=os.environ) -> float:
    """OPSCENTRE_PUBLIC_RECHECK_MS: how long a web process serves the public documents it holds
    before asking Redis again whether the data moved (default 100 ms; 0: on every request)."""
    raw = (env.get("OPSCENTRE_PUBLIC_RECHECK_MS") or str(RECHECK_MS_DEFAULT)).strip()
    if not raw.isdigit() or int(raw) > 5000:
        raise ConfigError([f"OPSCENTRE_PUBLIC_RECHECK_MS: whole milliseconds from 0 to 5000, not {raw[:20]!r}"])
    return int(raw) / 1000
