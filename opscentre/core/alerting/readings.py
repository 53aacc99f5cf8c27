"""What an evaluation reads, as arrays: latest values, history windows, forecasts, feed health.

Built once per evaluation from what the store returned (`Readings.build`), then only read.
Every metric of every rule comes out as one array aligned on the entity index, so 30 rules
over 50,000 entities cost numpy operations, not Python loops (`opscentre bench alerts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from opscentre.core.alerting.window_stats import Stats, WindowIndex, inside, window_stats

CITY = "city"


@dataclass(frozen=True)
class KindHistory:
    """Every stored reading of one kind in the retained window, as columns, in the order they
    were stored. That is nearly time order (feeds writing at once interleave by milliseconds;
    a replayed backfill is older): `running_max` and `lag` bound where a time window lies, so
    finding it is a slice plus a look at its edges, not a pass over every reading."""

    codes: np.ndarray  # int32 entity index
    times: np.ndarray  # float64 unix s
    values: np.ndarray  # float64
    runmax: np.ndarray | None = None  # the newest time stored so far at each reading (when the maker keeps it)
    lag_s: float | None = None  # no reading is older than an earlier one by more than this
    index: WindowIndex | None = field(default=None, compare=False)  # a worker's, kept between evaluations
    seq0: int = 0  # the position of the first reading in the index's numbering

    @classmethod
    def empty(cls) -> KindHistory:
        return cls(np.zeros(0, np.int32), np.zeros(0), np.zeros(0))

    @cached_property
    def running_max(self) -> np.ndarray:
        return self.runmax if self.runmax is not None else np.maximum.accumulate(self.times)

    @cached_property
    def lag(self) -> float:
        if self.lag_s is not None:
            return self.lag_s
        return float(np.max(self.running_max - self.times)) if len(self.times) else 0.0

    @property
    def time_ordered(self) -> bool:
        return self.lag == 0.0

    def stats(self, now: float, window: float, groups: set[str], n: int) -> Stats:
        """Per-entity statistics of the readings with now - window < t <= now."""
        if self.index is not None:
            return self.index.stats(self, window, now, groups)
        codes, times, values = self.within(now - window, now)
        return window_stats(codes, times, values, n, groups)

    def bounds(self, start: float, end: float) -> tuple[int, int]:
        """[a, b): the positions that can hold readings with start < t <= end (every reading
        before a is at most start; every one from b on is newer than end)."""
        a = int(np.searchsorted(self.running_max, start, side="right"))
        b = int(np.searchsorted(self.running_max, end + self.lag, side="right"))
        return a, max(a, b)

    def within(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(codes, times, values) of the readings with start < t <= end."""
        a, b = self.bounds(start, end)
        codes, times, values = self.codes[a:b], self.times[a:b], self.values[a:b]
        if self.lag > 0:  # out of time order: the slice may hold readings just outside the window
            return inside(codes, times, values, start, end)
        return codes, times, values


@dataclass
class Registry:
    """The entity registry as arrays on one entity index. It changes only when entities are
    registered or changed, so a worker builds it once and reuses it across evaluations."""

    entity_ids: list[str]
    index: dict[str, int]
    zone_of: np.ndarray  # int32 zone index per entity, -1 without a zone
    zone_ids: list[str]
    entity_types: np.ndarray  # object array of entity_type per entity
    sources: np.ndarray  # object array of the registering source per entity
    properties: list[Mapping[str, Any]]
    names: dict[str, str] = field(default_factory=dict)  # entity id -> display name
    _derived: dict = field(default_factory=dict, repr=False)  # property values and selections, by name

    @classmethod
    def of(cls, entities: Mapping[str, Mapping[str, Any]], zone_ids: Iterable[str],
           entity_ids: list[str] | None = None) -> Registry:
        ids = entity_ids if entity_ids is not None else sorted(entities)
        zones = list(zone_ids)
        zone_index = {z: i for i, z in enumerate(zones)}
        return cls(
            entity_ids=ids,
            index={e: i for i, e in enumerate(ids)},
            zone_of=np.array([zone_index.get(entities[e].get("zone_id") or "", -1) for e in ids], dtype=np.int32),
            zone_ids=zones,
            entity_types=np.array([entities[e].get("entity_type") for e in ids], dtype=object),
            sources=np.array([entities[e].get("source") for e in ids], dtype=object),
            properties=[entities[e].get("properties") or {} for e in ids],
            names={e: entities[e].get("name") or e for e in ids},
        )

    @cached_property
    def ids_array(self) -> np.ndarray:
        """entity_ids as a numpy object array (for fast selection)."""
        return np.array(self.entity_ids, dtype=object)

    def selection(self, entity_type: str | None, source: str | None) -> np.ndarray:
        """Which entities are of this type and source (None: any); computed once."""
        key = ("\x00selection", entity_type, source)
        if key not in self._derived:
            mask = np.ones(len(self.entity_ids), dtype=bool)
            if entity_type:
                mask &= self.entity_types == entity_type
            if source:
                mask &= self.sources == source
            self._derived[key] = mask
        return self._derived[key]

    def property_values(self, name: str) -> np.ndarray:
        """A numeric entity property per entity (NaN where absent or not a number); computed once."""
        if name in self._derived:
            return self._derived[name]
        out = np.full(len(self.entity_ids), np.nan)
        for i, props in enumerate(self.properties):
            value = props.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[i] = float(value)
        self._derived[name] = out
        return out


@dataclass
class Readings:
    registry: Registry
    latest_values: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> value per entity (NaN: none)
    latest_times: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> observed_at per entity (NaN)
    history: dict[str, KindHistory] = field(default_factory=dict)
    forecasts: dict[str, dict[str, Mapping[str, Any]]] = field(default_factory=dict)
    feeds: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # feed id -> public health view

    @classmethod
    def build(cls, entities: Mapping[str, Mapping[str, Any]], zone_ids: Iterable[str],
              latest: Mapping[str, Mapping[str, tuple[float, float, str]]],
              history: Mapping[str, Iterable[tuple[list[str], list[float], list[float]]]] | None = None,
              forecasts: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
              feeds: Mapping[str, Mapping[str, Any]] | None = None,
              history_arrays: Mapping[str, KindHistory] | None = None,
              registry: Registry | None = None,
              latest_arrays: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Readings:
        """entities: the registry (or `registry`, already built from it); latest: kind -> entity
        -> (value, t, source), or latest_arrays: kind -> (values, times) on the entity index;
        history: kind -> batches of (entity ids, values, times), or history_arrays: kind ->
        columns already coded on the registry's entity index."""
        registry = registry if registry is not None else Registry.of(entities, zone_ids)
        readings = cls(registry=registry, forecasts={k: dict(v) for k, v in (forecasts or {}).items()},
                       feeds=dict(feeds or {}))
        index = registry.index
        n = len(registry.entity_ids)
        for kind, by_entity in latest.items():
            values, times = np.full(n, np.nan), np.full(n, np.nan)
            for entity_id, (value, observed_at, _source) in by_entity.items():
                i = index.get(entity_id)
                if i is not None:
                    values[i], times[i] = value, observed_at
            readings.latest_values[kind], readings.latest_times[kind] = values, times
        for kind, (values, times) in (latest_arrays or {}).items():
            readings.latest_values[kind], readings.latest_times[kind] = values, times
        readings.history.update(history_arrays or {})
        for kind, batches in (history or {}).items():
            codes, times, values = [], [], []
            for batch_ids, batch_values, batch_times in batches:
                codes.append(np.fromiter((index.get(e, -1) for e in batch_ids), dtype=np.int32, count=len(batch_ids)))
                values.append(np.asarray(batch_values, dtype=float))
                times.append(np.asarray(batch_times, dtype=float))
            if codes:
                c, t, v = np.concatenate(codes), np.concatenate(times), np.concatenate(values)
                keep = c >= 0
                readings.history[kind] = KindHistory(c[keep], t[keep], v[keep])
        return readings

    # the registry's arrays, read through the readings
    entity_ids = property(lambda self: self.registry.entity_ids)
    index = property(lambda self: self.registry.index)
    zone_of = property(lambda self: self.registry.zone_of)
    zone_ids = property(lambda self: self.registry.zone_ids)
    entity_types = property(lambda self: self.registry.entity_types)
    sources = property(lambda self: self.registry.sources)
    properties = property(lambda self: self.registry.properties)
    ids_array = property(lambda self: self.registry.ids_array)

    def __len__(self) -> int:
        return len(self.registry.entity_ids)

    def property_values(self, name: str) -> np.ndarray:
        return self.registry.property_values(name)

    def latest(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        return self.latest_values.get(kind, np.full(n, np.nan)), self.latest_times.get(kind, np.full(n, np.nan))

    def kind_history(self, kind: str) -> KindHistory:
        return self.history.get(kind) or KindHistory.empty()
