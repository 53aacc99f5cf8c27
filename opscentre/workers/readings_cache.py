"""What evaluations read, kept decoded in the worker between evaluations: each kind's latest
value per entity and its history window.

Every evaluation needs the latest reading of every entity of a kind and up to 96 h of its
history (millions of readings for a large city); decoding that from Redis each time costs more
than evaluating it. Every stored batch sets the latest hash and appends one history stream
entry in one script (Store.write_poll), so the stream is the log of the hash: the cache reads
the hash and the stream's newest id once, in one transaction (a snapshot), the window up to
that id a page at a time (each entry turned into columns as it is decoded), then only the
stream entries written since, applying each to the latest values and appending it to the window.

Entities get a code of the cache's own the first time they are seen (append-only, so a new
entity never invalidates what is cached); a lookup array maps those codes onto the
evaluation's entity index, and every reading is kept as its position on that index (not its
code), so a window is handed out as views of the buffers, not gathered again per evaluation.
The lookup is rebuilt only when the registry changes, and the held positions are moved from
the old index to the new one (readings of entities not on the index keep their codes aside).
A kind starts over from a snapshot when the stream no longer holds what follows what the
cache has seen (Redis flushed or replaced, or trimmed past it) or when a longer window than it
holds is asked for.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

import numpy as np

from opscentre.core.alerting.readings import KindHistory
from opscentre.core.alerting.window_stats import WindowIndex
from opscentre.core.store import HistoryEntry, HistoryTail, Store


_NO_WINDOW = 2**62  # a kind read for its latest values only keeps no history
_APPEND_READINGS = 1_000_000  # a window read afresh is appended this many readings at a time
_HEADROOM = 8  # a buffer that fills up is copied into one this fraction bigger than needed
_COLUMNS = (("positions", np.int32), ("times", float), ("values", float), ("runmax", float))


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class _Kind:
    """One kind: latest value and time per cache code, and the history window as buffers whose
    live part is [start:end] (appended in stream order; a buffer that fills up is copied into a
    bigger one, never moved in place, so a window handed out earlier stays as it was)."""

    def __init__(self, last_id: str, since_ms: int):
        self.last_id = last_id  # the newest stream entry applied
        self.since_ms = since_ms  # the window holds every entry written at or after this (ms)
        self.latest_values = np.zeros(0)
        self.latest_times = np.zeros(0)
        self.positions = np.zeros(0, np.int32)  # each reading's entity on the evaluation's index (-1: unknown)
        # the readings of entities not on the index (rare): their absolute positions (seq_base
        # counting) and cache codes, to place them when the index changes; the others are
        # moved from index to index by their positions alone, so no column of codes is kept
        self.unknown_seq = np.zeros(0, np.int64)
        self.unknown_codes = np.zeros(0, np.int32)
        self.times, self.values = np.zeros(0), np.zeros(0)
        # the newest time stored so far, at each reading (KindHistory.running_max); None while the
        # window is in time order (lag 0), where it is the times themselves
        self.runmax: np.ndarray | None = None
        self.lag = 0.0  # no live reading is older than an earlier one by more than this (s)
        self.start = self.end = 0
        self.seq_base = 0  # the position (counting every reading ever appended) of buffer index 0
        self.index: WindowIndex | None = None  # the windows' statistics kept between evaluations
        self.batch_ms: list[int] = []  # per held entry: when it was written, and where it starts
        self.batch_start: list[int] = []
        self.unknown = False  # some live reading may be of an entity not on the index


class ReadingsCache:
    def __init__(self) -> None:
        self._kinds: dict[str, _Kind] = {}
        self._indices_made = 0  # window indices made (see WindowIndex.stagger)
        self._codes: dict[str, int] = {}  # entity id -> the cache's code, assigned once
        self._ids: list[str] = []
        self._stamp: object = None  # which index `_lookup` is on
        self._lookup = np.zeros(0, np.int32)  # cache code -> position on the index (-1: not an entity)
        self._index: Mapping[str, int] = {}

    def read(self, store: Store, kinds: Mapping[str, float | None], index: Mapping[str, int], index_stamp: object
             ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, KindHistory]]:
        """kinds: kind -> keep the history written since this wall time (s), or None: only the
        latest values. Returns ({kind: (latest values, latest times)}, {kind: history}), on `index`
        (NaN where an entity has no reading); history only for the kinds with a time."""
        self._on_index(index, index_stamp)
        since_ms = {kind: int(since * 1000) if since is not None else None for kind, since in kinds.items()}
        held = {kind: self._kinds.get(kind) for kind in kinds}
        tails = store.history_tails({kind: state.last_id for kind, state in held.items()
                                     if state is not None and _holds(state, since_ms[kind])})
        latest, history = {}, {}
        n = len(index)
        for kind in kinds:
            state = held[kind]
            tail = tails.get(kind)
            if tail is None or not _continues(state, tail):
                state = self._snapshot(store, kind, since_ms[kind])
            else:
                self._apply(state, tail.entries)
            if since_ms[kind] is not None:
                self._drop_before(state, since_ms[kind])
                history[kind] = self._window(state)
            latest[kind] = self._latest(state, n)
        return latest, history

    def _snapshot(self, store: Store, kind: str, since_ms: int | None) -> _Kind:
        snapshot = store.latest_and_newest(kind)
        state = _Kind(snapshot.newest_id or "0-0", since_ms if since_ms is not None else _NO_WINDOW)
        ids = list(snapshot.latest)
        codes = self._coded(ids)
        self._grow_latest(state)
        if ids:
            pairs = np.array([v[:2] for v in snapshot.latest.values()], dtype=float).reshape(-1, 2)
            state.latest_values[codes], state.latest_times[codes] = pairs[:, 0], pairs[:, 1]
        del snapshot, ids, codes
        if since_ms is not None and state.last_id != "0-0":
            # The window a page at a time, each entry turned into columns as it is decoded, so
            # a large city's window never exists as Python lists (docs/data-model.md).
            reuse: dict[tuple, tuple[list[str], np.ndarray]] = {}
            part: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
            readings = 0
            for entry in store.history_through(kind, since_ms / 1000, state.last_id):
                coded = self._columns(entry, reuse)
                part.append(coded)
                readings += len(coded[1])
                if readings >= _APPEND_READINGS:
                    self._append(state, part)
                    part, readings = [], 0
            self._append(state, part)
        self._kinds[kind] = state
        return state

    def _apply(self, state: _Kind, entries: list[HistoryEntry]) -> None:
        """New stream entries, in order: the latest values they set, and the window."""
        if not entries:
            return
        reuse: dict[tuple, tuple[list[str], np.ndarray]] = {}
        codes, times, values = self._append(state, [self._columns(e, reuse) for e in entries])
        self._grow_latest(state)
        last = len(codes) - 1 - np.unique(codes[::-1], return_index=True)[1]  # each entity's last reading
        state.latest_values[codes[last]], state.latest_times[codes[last]] = values[last], times[last]

    def _columns(self, entry: HistoryEntry, reuse: dict) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        """One stream entry as (its id, cache codes, times, values)."""
        return (entry.entry_id, self._coded(entry.ids, reuse), np.asarray(entry.times, dtype=float),
                np.asarray(entry.values, dtype=float))

    def _append(self, state: _Kind, entries: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries as columns (_columns), in stream order, appended to the window."""
        if not entries:
            return np.zeros(0, np.int32), np.zeros(0), np.zeros(0)
        state.last_id = entries[-1][0]
        if len(entries) == 1:
            _, codes, times, values = entries[0]
        else:
            codes = np.concatenate([e[1] for e in entries])
            times = np.concatenate([e[2] for e in entries])
            values = np.concatenate([e[3] for e in entries])
        if state.since_ms == _NO_WINDOW:  # latest only: no window kept
            return codes, times, values
        offset = state.end
        for entry_id, coded, _t, _v in entries:
            state.batch_ms.append(_id(entry_id)[0])
            state.batch_start.append(offset)
            offset += len(coded)
        self._reserve(state, len(codes))
        a, b = state.end, state.end + len(codes)
        positions = self._lookup[codes]
        state.positions[a:b], state.times[a:b], state.values[a:b] = positions, times, values
        missing = np.flatnonzero(positions < 0)
        if len(missing):
            state.unknown_seq = np.concatenate([state.unknown_seq, state.seq_base + a + missing])
            state.unknown_codes = np.concatenate([state.unknown_codes, codes[missing]])
        before = _running_max(state)[a - 1] if a > state.start else -np.inf
        runmax = np.maximum(np.maximum.accumulate(times), before)
        lag = float(np.max(runmax - times))
        if state.runmax is None and lag > 0:  # the first reading out of time order: keep the column
            state.runmax = state.times.copy()
        if state.runmax is not None:
            state.runmax[a:b] = runmax
        state.lag = max(state.lag, lag)
        state.unknown = state.unknown or bool((positions < 0).any())
        state.end = b
        return codes, times, values

    def _reserve(self, state: _Kind, more: int) -> None:
        """Room for `more` readings: a full buffer is copied into one an eighth bigger than what
        it must hold (not twice: a large city's window is most of a worker's memory), a column
        at a time, so at most one column is held twice meanwhile."""
        live = state.end - state.start
        if state.end + more <= len(state.positions):
            return
        size = live + more + max(1024, (live + more) // _HEADROOM)
        for name, dtype in _COLUMNS:
            if getattr(state, name) is None:  # (runmax while in time order)
                continue
            column = np.empty(size, dtype)
            column[:live] = getattr(state, name)[state.start:state.end]
            setattr(state, name, column)
        shift = state.start
        state.seq_base += state.start
        state.start, state.end = 0, live
        state.batch_start = [s - shift for s in state.batch_start]

    def _drop_before(self, state: _Kind, since_ms: int) -> None:
        """Let go of the batches written before since_ms."""
        state.since_ms = max(state.since_ms, since_ms)
        cut = bisect_left(state.batch_ms, since_ms)
        if cut:
            state.start = state.batch_start[cut] if cut < len(state.batch_start) else state.end
            del state.batch_ms[:cut], state.batch_start[:cut]
            if len(state.unknown_seq):
                live = state.unknown_seq >= state.seq_base + state.start
                state.unknown_seq, state.unknown_codes = state.unknown_seq[live], state.unknown_codes[live]
            if state.lag > 0:  # what was out of order may have left: measure the rest afresh
                s = slice(state.start, state.end)
                runmax = state.runmax.copy()  # (not in place: a window handed out stays as it was)
                runmax[s] = np.maximum.accumulate(state.times[s]) if state.end > state.start else runmax[s]
                state.lag = float(np.max(runmax[s] - state.times[s])) if state.end > state.start else 0.0
                state.runmax = runmax if state.lag > 0 else None  # (in order again: the times are their own)

    def _window(self, state: _Kind) -> KindHistory:
        s = slice(state.start, state.end)
        codes, times, values = state.positions[s], state.times[s], state.values[s]
        if state.unknown:
            keep = codes >= 0
            if keep.all():
                state.unknown = False
            else:  # (a copy without them: positions no longer count from the buffer, so no index)
                return KindHistory(codes[keep], times[keep], values[keep])
        if state.index is None:  # (each kind's windows start on their own quarter: not all rebuilt together)
            state.index = WindowIndex(len(self._index), stagger=self._indices_made)
            self._indices_made += 1
        return KindHistory(codes, times, values, runmax=_running_max(state)[s], lag_s=state.lag, index=state.index,
                           seq0=state.seq_base + state.start)

    def _latest(self, state: _Kind, n: int) -> tuple[np.ndarray, np.ndarray]:
        values, times = np.full(n, np.nan), np.full(n, np.nan)
        count = len(state.latest_values)
        where = self._lookup[:count]
        known = where >= 0
        values[where[known]] = state.latest_values[known]
        times[where[known]] = state.latest_times[known]
        return values, times

    def _grow_latest(self, state: _Kind) -> None:
        missing = len(self._ids) - len(state.latest_values)
        if missing > 0:
            state.latest_values = np.concatenate([state.latest_values, np.full(missing, np.nan)])
            state.latest_times = np.concatenate([state.latest_times, np.full(missing, np.nan)])

    def _coded(self, ids: list[str], reuse: dict | None = None) -> np.ndarray:
        """The cache codes of these entity ids (new ones get the next codes). Feeds repeat their
        entity lists batch after batch: `reuse` skips looking them up again."""
        key = (len(ids), ids[0] if ids else None)
        if reuse is not None:
            earlier = reuse.get(key)
            if earlier is not None and earlier[0] == ids:
                return earlier[1]
        own, first_new = self._codes, len(self._ids)
        for entity_id in ids:
            if entity_id not in own:
                own[entity_id] = len(self._ids)
                self._ids.append(entity_id)
        if len(self._ids) > first_new:
            added = [self._index.get(e, -1) for e in self._ids[first_new:]]
            self._lookup = np.concatenate([self._lookup, np.array(added, dtype=np.int32)])
        codes = np.fromiter((own[e] for e in ids), dtype=np.int32, count=len(ids))
        if reuse is not None:
            reuse[key] = (ids, codes)
        return codes

    def _on_index(self, index: Mapping[str, int], stamp: object) -> None:
        """Map cache codes onto this index; when the index changed, every held reading too."""
        if stamp == self._stamp and self._stamp is not None:
            return
        old = self._lookup
        self._index, self._stamp = index, stamp
        self._lookup = np.array([index.get(e, -1) for e in self._ids], dtype=np.int32)
        # old position -> new position, through the codes that were on the old index
        on_old = old >= 0
        moved = np.full(int(old.max()) + 2 if on_old.any() else 1, -1, np.int32)  # (its last slot: -1 stays -1)
        moved[old[on_old]] = self._lookup[:len(old)][on_old]
        for state in self._kinds.values():
            s = slice(state.start, state.end)
            positions = np.empty_like(state.positions)  # (not in place: a window handed out stays as it was)
            positions[s] = moved[state.positions[s]]  # (-1 indexes the last slot, which is -1)
            live = state.unknown_seq >= state.seq_base + state.start
            seq, codes = state.unknown_seq[live], state.unknown_codes[live]
            positions[seq - state.seq_base] = self._lookup[codes]
            still = positions[seq - state.seq_base] < 0
            state.unknown_seq, state.unknown_codes = seq[still], codes[still]
            state.positions = positions
            state.index = None  # its statistics are on the old index
            state.unknown = bool((positions[s] < 0).any())


def _running_max(state: _Kind) -> np.ndarray:
    return state.runmax if state.runmax is not None else state.times


def _holds(state: _Kind, since_ms: int | None) -> bool:
    """The cached window reaches back far enough (a latest-only request is always held)."""
    return since_ms is None or state.since_ms <= since_ms


def _continues(state: _Kind, tail: HistoryTail) -> bool:
    """The stream still holds everything after what the cache has applied: its oldest entry is
    not newer than our last (streams are trimmed from the front) and its newest not older."""
    if tail.newest_id is None or state.last_id == "0-0":
        return False
    return _id(tail.oldest_id) <= _id(state.last_id) <= _id(tail.newest_id)
