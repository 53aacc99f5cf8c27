"""The history windows an evaluation reads, kept decoded in the worker between evaluations.

Every evaluation needs up to 24 h of history per kind (millions of readings for a large city);
decoding it all from Redis each time costs more than evaluating it. This cache reads only the
stream entries written since its last read and keeps each batch as numpy columns. Entities get
a code of the cache's own the first time they are seen (append-only, so a new entity never
invalidates what is cached); one lookup array per evaluation maps those codes onto the
evaluation's entity index. Batches that fell out of the window are dropped, and the cache
starts over when the stream no longer holds what it has seen (Redis flushed or replaced).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from opscentre.core.alerting.readings import KindHistory
from opscentre.core.store import Store


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Batch:
    entry_id: str
    ids: list[str]
    codes: np.ndarray  # the cache's own entity codes
    times: np.ndarray
    values: np.ndarray


@dataclass
class _Kind:
    batches: list[_Batch] = field(default_factory=list)


class HistoryCache:
    def __init__(self) -> None:
        self._kinds: dict[str, _Kind] = {}
        self._codes: dict[str, int] = {}  # entity id -> the cache's code, assigned once
        self._remap: tuple[object, np.ndarray] | None = None  # (index stamp, cache code -> index position)

    def window(self, store: Store, kind: str, written_since: float, index: dict[str, int],
               index_stamp: object) -> KindHistory:
        """Every reading of `kind` in batches written since `written_since` (wall s), coded on `index`."""
        cached = self._kinds.setdefault(kind, _Kind())
        last = cached.batches[-1].entry_id if cached.batches else None
        if last is not None:
            bounds = store.history_bounds(kind)
            # What we hold must still be there: the stream's oldest entry is not newer than our
            # oldest (retention outlasts any window) and its newest not older than our newest.
            if bounds is None or _id(bounds[0]) > _id(cached.batches[0].entry_id) or _id(bounds[1]) < _id(last):
                cached.batches, last = [], None  # Redis was flushed or replaced
        floor_ms = int(written_since * 1000)
        if cached.batches and _entry_ms(cached.batches[0].entry_id) < floor_ms:
            cached.batches = [b for b in cached.batches if _entry_ms(b.entry_id) >= floor_ms]
        if last is not None and _entry_ms(last) < floor_ms:
            last = None  # everything cached is out of the window: read the window afresh
        reuse: dict[tuple, tuple[list[str], np.ndarray]] = {}
        for batch in cached.batches[-3:]:  # feeds repeat their entity lists: reuse their codes
            reuse[(len(batch.ids), batch.ids[0] if batch.ids else None)] = (batch.ids, batch.codes)
        for entry_id, ids, values, times in store.history_entries(kind, last, written_since):
            cached.batches.append(_Batch(entry_id, ids, self._coded(ids, reuse), np.asarray(times, dtype=float),
                                         np.asarray(values, dtype=float)))
        if not cached.batches:
            return KindHistory.empty()
        codes = self._positions(index, index_stamp)[np.concatenate([b.codes for b in cached.batches])]
        times = np.concatenate([b.times for b in cached.batches])
        values = np.concatenate([b.values for b in cached.batches])
        keep = codes >= 0
        return KindHistory(codes[keep], times[keep], values[keep])

    def _coded(self, ids: list[str], reuse: dict[tuple, tuple[list[str], np.ndarray]]) -> np.ndarray:
        key = (len(ids), ids[0] if ids else None)
        earlier = reuse.get(key)
        if earlier is not None and earlier[0] == ids:
            return earlier[1]
        own = self._codes
        for entity_id in ids:
            if entity_id not in own:
                own[entity_id] = len(own)
        codes = np.fromiter((own[e] for e in ids), dtype=np.int32, count=len(ids))
        reuse[key] = (ids, codes)
        return codes

    def _positions(self, index: dict[str, int], index_stamp: object) -> np.ndarray:
        """cache code -> position in this evaluation's entity index (-1: not an entity now)."""
        stamp = (index_stamp, len(self._codes))
        if self._remap is None or self._remap[0] != stamp:
            positions = np.full(len(self._codes), -1, dtype=np.int32)
            for entity_id, code in self._codes.items():
                positions[code] = index.get(entity_id, -1)
            self._remap = (stamp, positions)
        return self._remap[1]
