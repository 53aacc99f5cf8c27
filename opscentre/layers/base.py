"""What a layer is: a record describing how stored state becomes map features and traces.

Adding a layer = one module that builds a `Layer(...)` plus one line in layers/__init__.py.
Layers are pure: they take a `CityData` (entities and latest values already read from the
store, the zones, the city time zone) and return plain data — GeoJSON features for the public
API and plotly trace dicts for the map. No Dash, no Redis, no clock.

Language: the GeoJSON is language-neutral (stable property names, English labels: open data);
the map's traces are drawn in a language — `traces(data, t)` writes every hover text with the
Translator `t` (opscentre.i18n; None: the source language, English), numbers with its decimal
sign and times with its month names. Words chosen at run time (class labels) are marked with
`N_()` where they are listed, so `pybabel extract` (babel.cfg) finds them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any

from opscentre.core.geo import Zones
from opscentre.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, Translator, translator
from opscentre.layers.rain_classes import RAIN_CLASSES, RainClass

Latest = Mapping[str, tuple[float, float, str]]  # entity_id -> (value, observed_at unix s, source)


@dataclass(frozen=True)
class CityData:
    """One read of the city, shared by every layer drawn from it."""

    entities: Mapping[str, Mapping[str, Any]]
    latest: Mapping[str, Latest]  # kind -> latest values of that kind
    zones: Zones
    tz: tzinfo
    # category -> current events (JSON of core.models.Event: event_id, source, category,
    # event_type, title, severity, observed_at, starts_at, ends_at, geometry, zone_ids,
    # properties), ordered by (source, event_id); expired ones already left out.
    events: Mapping[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    # kind -> entity_id -> {"s": source, "i": issued_at, "t": [step times], "v": [values]}
    forecasts: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    # firing alerts the public may see ({id, rule, severity, zone_id, entity_id, summary...})
    alerts: list[Mapping[str, Any]] = field(default_factory=list)
    # open incidents ({id, severity, zone_ids, alerts, opened_at, title}); operator layers only
    incidents: list[Mapping[str, Any]] = field(default_factory=list)
    # the city's 15-min rain classes (its config's city.rain_classes: layers/rain_classes.py)
    rain_classes: tuple[RainClass, ...] = RAIN_CLASSES
    # the air-quality index the city uses (city.air_quality_scale): a station stored without its own
    air_quality_scale: str = "rio"

    def values(self, kind: str) -> Latest:
        return self.latest.get(kind) or {}

    def events_of(self, category: str) -> list[Mapping[str, Any]]:
        return list(self.events.get(category) or [])

    def of_type(self, entity_type: str) -> list[Mapping[str, Any]]:
        """Entities of one type, in a stable order (by id), so trace arrays line up tick to tick.
        Sorted once per registry read (the store hands out the same decoded registry until it
        changes), not once per layer and tick."""
        found = _by_type.get(id(self.entities))
        if found is None or found[0] is not self.entities or found[1] != len(self.entities):
            if len(_by_type) >= 4:
                _by_type.pop(next(iter(_by_type)))
            groups: dict[Any, list[Mapping[str, Any]]] = {}
            for k in sorted(self.entities):
                groups.setdefault(self.entities[k].get("entity_type"), []).append(self.entities[k])
            found = _by_type[id(self.entities)] = (self.entities, len(self.entities), groups)
        return list(found[2].get(entity_type, ()))


# id(entities) -> (the registry, its size, entity type -> its entities by id): see CityData.of_type
_by_type: dict[int, tuple[Mapping[str, Any], int, dict[Any, list[Mapping[str, Any]]]]] = {}


class Rows:
    """A layer's rows kept per entity with what they were made from (the entity's registry record,
    by identity, and its latest readings): at city scale a data version changes a few rows, and
    a kept row is also what lets HoverTexts skip rewriting its text. Rows are never mutated."""

    def __init__(self, size_max: int = 400_000):
        self.size_max = size_max
        self._held: dict[str, tuple[Mapping[str, Any], tuple, dict[str, Any]]] = {}

    def get(self, entity: Mapping[str, Any], readings: tuple, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        row = self.held(entity, readings)
        return row if row is not None else self.keep(entity, readings, make())

    def held(self, entity: Mapping[str, Any], readings: tuple) -> dict[str, Any] | None:
        """The row kept for this record and these readings, or None."""
        held = self._held.get(entity["entity_id"])
        if held is not None and held[0] is entity and held[1] == readings:
            return held[2]
        return None

    def keep(self, entity: Mapping[str, Any], readings: tuple, row: dict[str, Any]) -> dict[str, Any]:
        if len(self._held) >= self.size_max:
            self._held.clear()
        self._held[entity["entity_id"]] = (entity, readings, row)
        return row


class HoverTexts:
    """A layer's hover texts kept per (language, entity) with the row they were written from: at
    city scale most rows are unchanged from one data version to the next, and writing a text (a
    local time, numbers in the language's signs) costs more than comparing its row."""

    def __init__(self, size_max: int = 400_000):
        self.size_max = size_max
        self._held: dict[tuple[str, str], tuple[tzinfo, Mapping[str, Any], str]] = {}

    def get(self, t: Translator, entity_id: str, row: Mapping[str, Any], tz: tzinfo,
            write: Callable[[], str]) -> str:
        held = self._held.get((t.lang, entity_id))
        if held is not None and held[0] is tz and held[1] == row:  # (dict equality: in C)
            return held[2]
        if len(self._held) >= self.size_max:
            self._held.clear()
        text = write()
        self._held[(t.lang, entity_id)] = (tz, row, text)
        return text


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    shape: str = "dot"  # dot | line | area


@dataclass(frozen=True)
class Layer:
    layer_id: str
    label: str  # short name for a layer toggle: "Zones"
    title: str  # legend heading: "Zones — worst 15-min rain"
    kinds: tuple[str, ...]  # the kinds of latest value the layer reads
    features: Callable[[CityData], list[dict[str, Any]]]
    # Plotly trace dicts, hover texts in the language of a Translator (traces(data, t); t None:
    # English). A layer always returns the same number of traces, in the same order, whatever
    # the language, so the map can address them by index when it patches them.
    traces: Callable[..., list[dict[str, Any]]]
    # Trace properties ("z", "marker.color", ...) that change with the data: the map replaces
    # each one whole, in one Patch operation, when its content changed. Everything else
    # (geometry such as the zones GeoJSON) is sent once, with the first figure.
    patched: tuple[str, ...]
    legend: tuple[LegendEntry, ...] = field(default_factory=tuple)
    public: bool = True
    shortcut: str = ""  # preferred Alt+letter for its toggle (else the first free letter of its label)
    event_categories: tuple[str, ...] = ()  # the categories of events the layer reads
    forecast_kinds: tuple[str, ...] = ()  # the kinds of forecast the layer reads

    def sources(self, data: CityData) -> set[str]:
        """The feeds whose data this layer draws now (the map greys the layer when all are stale)."""
        found = {source for kind in self.kinds for _, _, source in data.values(kind).values()}
        found |= {e["source"] for category in self.event_categories for e in data.events_of(category)}
        found |= {s["s"] for kind in self.forecast_kinds for s in (data.forecasts.get(kind) or {}).values()}
        return found


def iso_utc(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def iso_local(ts: float | None, tz: tzinfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat()


MONTHS = (N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"), N_("Jul"), N_("Aug"), N_("Sep"),
          N_("Oct"), N_("Nov"), N_("Dec"))


def texts(t: Translator | None) -> Translator:
    """The Translator hover texts are written with: `t`, or the source language's (English)."""
    return t if t is not None else translator(SOURCE_LANGUAGE)


@functools.cache
def _number_symbols(lang: str) -> tuple[str, str]:
    from babel.numbers import get_decimal_symbol, get_group_symbol

    locale = LANGUAGES.get(lang, "en")
    return get_decimal_symbol(locale), get_group_symbol(locale)


def number(value: float, t: Translator | None, digits: int | None = 1, grouped: bool = False) -> str:
    """A number for a hover text, with the language's decimal sign (and thousands separator when
    `grouped`): 1,234.5 in English, 1.234,5 in Portuguese. digits None: as few as needed (`:g`)."""
    text = f"{value:g}" if digits is None else (f"{value:,.{digits}f}" if grouped else f"{value:.{digits}f}")
    decimal, group = _number_symbols(t.lang) if t is not None else (".", ",")
    if (decimal, group) == (".", ","):
        return text
    return "".join(decimal if c == "." else group if c == "," else c for c in text)


def _day_month(local: datetime, t: Translator | None) -> str:
    month = texts(t).gettext(MONTHS[local.month - 1]) if t is not None else f"{local:%b}"
    return f"{local:%d} {month}"


def local_label(ts: float | None, tz: tzinfo, t: Translator | None = None) -> str:
    """A short local time for hover text and the status bar: '21 Nov 14:05 (UTC-03)' (in the
    language of `t`: '21 nov 14:05 (UTC-03)')."""
    if ts is None:
        return texts(t).gettext("no reading")
    local = datetime.fromtimestamp(ts, tz)
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    suffix = f"UTC{sign}{hours:02d}" + (f":{mins:02d}" if mins else "")
    return f"{_day_month(local, t)} {local:%H:%M} ({suffix})"


def short_local_times(stamps: list[float | None], tz: tzinfo,
                      t: Translator | None = None) -> tuple[list[str], str]:
    """Compact local times for many points: 'HH:MM' ('DD Mon HH:MM' when not the newest
    reading's day) per point, plus the UTC offset once, e.g. (['14:05', '20 Nov 09:10'], 'UTC-03')."""
    no_reading = texts(t).gettext("no reading")
    known = [ts for ts in stamps if ts is not None]
    if not known:
        return [no_reading] * len(stamps), ""
    newest = datetime.fromtimestamp(max(known), tz).date()
    by_stamp: dict[float | None, str] = {None: no_reading}  # a poll's readings share a few stamps
    for ts in known:
        if ts not in by_stamp:
            local = datetime.fromtimestamp(ts, tz)
            by_stamp[ts] = f"{local:%H:%M}" if local.date() == newest else f"{_day_month(local, t)} {local:%H:%M}"
    labels = [by_stamp[ts] for ts in stamps]
    return labels, local_label(max(known), tz).rsplit("(", 1)[1].rstrip(")")


def timestamps(ts: float | None, tz: tzinfo) -> dict[str, str | None]:
    """Observation time properties of a GeoJSON feature: UTC and city local time."""
    return {"observed_at": iso_utc(ts), "observed_at_local": iso_local(ts, tz)}


def station_feature(row: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """The GeoJSON point feature of a station row (its entity_id, lon, lat)."""
    return {"type": "Feature", "id": row["entity_id"], "properties": properties,
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]}}


def feature_collection(layer: Layer, data: CityData, simulated: bool) -> dict[str, Any]:
    """The public GeoJSON of one layer; `simulated: true` when the data is not real."""
    collection: dict[str, Any] = {"type": "FeatureCollection", "layer": layer.layer_id, "title": layer.title}
    if simulated:
        collection["simulated"] = True
    collection["features"] = layer.features(data)
    return collection


def rounded_line(coordinates: list[list[float]], digits: int = 5) -> list[list[float]]:
    return [[round(float(x), digits), round(float(y), digits)] for x, y, *_ in coordinates]
