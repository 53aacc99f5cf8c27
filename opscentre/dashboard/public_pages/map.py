"""The public page's live map in the page's language: its hover texts come from the catalogue.

The layers' traces are built per language (opscentre/layers: `traces(data, t)`), from ONE read of
the store per (data version, stale feeds) shared by every language: `SharedTraces` keeps that
read and, beside it, each language's traces and digests, built by the first request in that
language. So a version costs one store read plus one cheap trace build per language asked for
(at most len(LANGUAGES)), whatever the number of visitors. The GeoJSON of the public API is not
drawn here: it stays language-neutral (open data), in the read model.

`PublicLiveMap` is dashboard.live_map.LiveMap (first figure, Patches, the status bar model) for one
language, its traces taken from the shared ones.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

from opscentre.core.notify.messages import topic_of
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard.city_reading import read_city_data
from opscentre.dashboard.components.map_figure import digests, layer_traces
from opscentre.dashboard.live_map import LiveMap, stale_feeds
from opscentre.i18n import SOURCE_LANGUAGE, normalise
from opscentre.layers.base import CityData

Traces = dict[str, list[dict[str, Any]]]


@dataclass
class SharedTraces:
    """The layers' traces of the current data in every language asked for."""

    settings: Settings
    store: Store
    layer_ids: list[str]
    # (key, stale feeds, city data, {lang: (traces, digests)}); key = (version, sorted stale feeds)
    _built: tuple | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def get(self, status: Any, lang: str) -> tuple[Traces, dict[str, str]]:
        lang = normalise(lang) or SOURCE_LANGUAGE  # (a bounded set of keys, whatever a client sends)
        stale = stale_feeds(status)
        key = (status.version, tuple(sorted(stale)))
        built = self._built
        if built is None or built[0] != key:
            with self._lock:
                built = self._built
                if built is None or built[0] != key:
                    data = with_topics(read_city_data(self.store, self.settings), self.settings)
                    built = self._built = (key, stale, data, {})
        by_lang: dict[str, tuple[Traces, dict[str, str]]] = built[3]
        found = by_lang.get(lang)
        if found is None:
            with self._lock:
                found = by_lang.get(lang)
                if found is None:
                    traces = layer_traces(built[2], self.layer_ids, built[1], lang)
                    found = by_lang[lang] = (traces, digests(traces))
        return found


def with_topics(data: CityData, settings: Settings) -> CityData:
    """The city's public alerts, each with its hazard (`topic`), so the hovers name it in the
    reader's words rather than with the rule's English summary."""
    rules = {rule.id: rule for rule in settings.rules}
    alerts = [{**a, "topic": topic_of(rules.get(str(a.get("rule"))), str(a.get("rule") or ""))} for a in data.alerts]
    return dataclasses.replace(data, alerts=alerts)


@dataclass
class PublicLiveMap(LiveMap):
    """LiveMap in one language, its traces from `shared` (one per app, shared by its languages)."""

    lang: str = SOURCE_LANGUAGE
    shared: SharedTraces | None = None

    def _traces(self, status: Any) -> tuple[Traces, dict[str, str]]:
        if self.shared is None:
            self.shared = SharedTraces(self.settings, self.store, self.layer_ids)
        return self.shared.get(status, self.lang)


def public_maps(settings: Settings, store: Store, simulated: bool, layer_ids: list[str], languages: list[str],
                **options: Any) -> dict[str, PublicLiveMap]:
    """language -> its live map, all drawing from one SharedTraces."""
    shared = SharedTraces(settings, store, layer_ids)
    return {lang: PublicLiveMap(settings, store, simulated, layer_ids, lang=lang, shared=shared, **options)
            for lang in languages}
