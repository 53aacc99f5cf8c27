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

CITY = "city"


@dataclass(frozen=True)
class KindHistory:
    """Every stored reading of one kind in the retained window, as columns."""

    codes: np.ndarray  # int32 entity index
    times: np.ndarray  # float64 unix s
    values: np.ndarray  # float64

    @classmethod
    def empty(cls) -> KindHistory:
        return cls(np.zeros(0, np.int32), np.zeros(0), np.zeros(0))


@dataclass
class Readings:
    entity_ids: list[str]
    index: dict[str, int]
    zone_of: np.ndarray  # int32 zone index per entity, -1 without a zone
    zone_ids: list[str]
    entity_types: np.ndarray  # object array of entity_type per entity
    sources: np.ndarray  # object array of the registering source per entity
    properties: list[Mapping[str, Any]]
    latest_values: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> value per entity (NaN: none)
    latest_times: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> observed_at per entity (NaN)
    history: dict[str, KindHistory] = field(default_factory=dict)
    forecasts: dict[str, dict[str, Mapping[str, Any]]] = field(default_factory=dict)
    feeds: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # feed id -> public health view
    _property_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, entities: Mapping[str, Mapping[str, Any]], zone_ids: Iterable[str],
              latest: Mapping[str, Mapping[str, tuple[float, float, str]]],
              history: Mapping[str, Iterable[tuple[list[str], list[float], list[float]]]] | None = None,
              forecasts: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
              feeds: Mapping[str, Mapping[str, Any]] | None = None,
              history_arrays: Mapping[str, KindHistory] | None = None,
              entity_ids: list[str] | None = None) -> Readings:
        """entities: the registry; latest: kind -> entity -> (value, t, source);
        history: kind -> batches of (entity ids, values, times), or history_arrays: kind ->
        columns already coded on `entity_ids` (sorted(entities), passed when precomputed)."""
        ids = entity_ids if entity_ids is not None else sorted(entities)
        index = {e: i for i, e in enumerate(ids)}
        zones = list(zone_ids)
        zone_index = {z: i for i, z in enumerate(zones)}
        readings = cls(
            entity_ids=ids,
            index=index,
            zone_of=np.array([zone_index.get(entities[e].get("zone_id") or "", -1) for e in ids], dtype=np.int32),
            zone_ids=zones,
            entity_types=np.array([entities[e].get("entity_type") for e in ids], dtype=object),
            sources=np.array([entities[e].get("source") for e in ids], dtype=object),
            properties=[entities[e].get("properties") or {} for e in ids],
            forecasts={k: dict(v) for k, v in (forecasts or {}).items()},
            feeds=dict(feeds or {}),
        )
        n = len(ids)
        for kind, by_entity in latest.items():
            values, times = np.full(n, np.nan), np.full(n, np.nan)
            for entity_id, (value, observed_at, _source) in by_entity.items():
                i = index.get(entity_id)
                if i is not None:
                    values[i], times[i] = value, observed_at
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

    def __len__(self) -> int:
        return len(self.entity_ids)

    @cached_property
    def ids_array(self) -> np.ndarray:
        """entity_ids as a numpy object array (for fast selection)."""
        return np.array(self.entity_ids, dtype=object)

    def latest(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.entity_ids)
        return self.latest_values.get(kind, np.full(n, np.nan)), self.latest_times.get(kind, np.full(n, np.nan))

    def kind_history(self, kind: str) -> KindHistory:
        return self.history.get(kind) or KindHistory.empty()

    def property_values(self, name: str) -> np.ndarray:
        """A numeric entity property per entity (NaN where absent or not a number); computed once."""
        if name in self._property_cache:
            return self._property_cache[name]
        out = np.full(len(self.entity_ids), np.nan)
        for i, props in enumerate(self.properties):
            value = props.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[i] = float(value)
        self._property_cache[name] = out
        return out
