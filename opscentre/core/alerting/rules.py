"""Alert rules as configured under `rules:` in the YAML config, validated before anything runs.

A rule watches one metric — a kind of observation, aggregated over a window, per entity, per
zone or city-wide — against per-severity levels:

    - id: rain_15min
      kind: rain_mm                # or forecast_kind: rain_forecast_mm (an early warning)
      scope: entity                # entity | zone | city
      window: 1h                   # none: the latest reading
      aggregation: sum             # latest | sum | mean | max | min | rate (change per hour)
      levels: {advisory: 1.25, warning: 6.25, critical: 12.5}
      clear: {advisory: 1.0}       # hysteresis: held until the value falls below this
      for: 0s                      # pending until the condition has held this long
      keep_firing_for: 15m
      labels: {domain: weather, public: true}
      summary: "{severity} rain at {where}: {value:.1f} mm in 15 min"

Compound rules give each level a list of conditions (`any_of` / `all_of`) on any kinds,
e.g. the siren criterion: 40 mm in 1 h OR 125 mm in 24 h. A staleness rule fires when an
entity has sent nothing for `stale_after` (or, with `feeds`, when a feed is stale).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opscentre.core.models import KINDS


class AlertSeverity(StrEnum):
    ADVISORY = "advisory"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _RANK[self]


SEVERITY_ORDER = [AlertSeverity.ADVISORY, AlertSeverity.WARNING, AlertSeverity.CRITICAL, AlertSeverity.EMERGENCY]
_RANK = {severity: i + 1 for i, severity in enumerate(SEVERITY_ORDER)}  # (looked up for every open alert, every evaluation)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """'15m' -> 900.0; numbers are seconds. Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 15m, 1h, 24h, 4d)")
        seconds = float(match[1]) * _UNIT_S[match[2]]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Aggregation = Literal["latest", "sum", "mean", "max", "min", "rate"]
Op = Literal[">=", ">", "<=", "<"]
Scope = Literal["entity", "zone", "city"]


class Condition(_Strict):
    """One comparison of one metric: `kind` aggregated over `window`, `op` `value`."""

    kind: str
    window: float | None = None
    aggregation: Aggregation = "latest"
    op: Op = ">="
    value: float

    _window = field_validator("window", mode="before")(lambda v: None if v is None else parse_duration(v))

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown kind {value!r} (known: {', '.join(sorted(KINDS))})")
        return value

    @model_validator(mode="after")
    def _window_fits_aggregation(self) -> Condition:
        if self.aggregation != "latest" and not self.window:
            raise ValueError(f"aggregation {self.aggregation!r} needs a window (e.g. window: 1h)")
        return self


class CompoundLevel(_Strict):
    any_of: list[Condition] = Field(default_factory=list)
    all_of: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_list(self) -> CompoundLevel:
        if bool(self.any_of) == bool(self.all_of):
            raise ValueError("a compound level takes exactly one of any_of or all_of, with at least one condition")
        return self

    @property
    def conditions(self) -> list[Condition]:
        return self.any_of or self.all_of


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")
    summary: str = Field("{rule}: {severity} at {where} ({value})", max_length=300)
    enabled: bool = True
    scope: Scope = "entity"
    entity_type: str | None = None  # only entities of this type (e.g. rain_gauge)
    source: str | None = None  # only readings from this feed
    # A simple rule: one metric against numeric levels.
    kind: str | None = None
    window: float | None = None
    aggregation: Aggregation = "latest"
    combine: Literal["max", "min", "sum", "mean"] = "max"  # entities -> a zone / the city
    op: Op = ">="
    levels: dict[AlertSeverity, float | CompoundLevel] = Field(default_factory=dict)
    # Levels read from each entity's own properties (a river station's stage thresholds):
    # severity -> property name. Entities without the property are not judged at that level.
    levels_from: dict[AlertSeverity, str] = Field(default_factory=dict)
    clear: dict[AlertSeverity, float] = Field(default_factory=dict)
    # A forecast rule: the stored forecast of this kind, summed over `window` steps ahead,
    # anywhere within `horizon`; fires before the event, with the lead time in the alert.
    forecast_kind: str | None = None
    horizon: float | None = None
    # A staleness rule: no reading of `kind` for this long (per entity), or these feeds stale.
    stale_after: float | None = None
    feeds: list[str] = Field(default_factory=list)
    for_: float = Field(0.0, alias="for")
    keep_firing_for: float = 0.0
    labels: dict[str, str | bool | int] = Field(default_factory=dict)

    _durations = field_validator("window", "horizon", "stale_after", "for_", "keep_firing_for", mode="before")(
        lambda v: None if v is None else parse_duration(v))

    @field_validator("kind", "forecast_kind")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        if value is not None and value not in KINDS:
            raise ValueError(f"unknown kind {value!r} (known: {', '.join(sorted(KINDS))})")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        kinds_of_rule = [k for k in ("kind", "forecast_kind") if getattr(self, k)]
        compound = [s for s, v in self.levels.items() if isinstance(v, CompoundLevel)]
        if self.feeds:
            if self.levels or self.levels_from or kinds_of_rule:
                raise ValueError("a feed staleness rule takes `feeds` and a `severity` label only (no kind, no levels)")
            return self
        if self.stale_after is not None:
            if not self.kind or self.levels or self.levels_from:
                raise ValueError("a staleness rule takes `kind` and `stale_after` (and no levels)")
            return self
        if not self.levels and not self.levels_from:
            raise ValueError("a rule needs `levels` (severity: value), `levels_from`, `stale_after` or `feeds`")
        if compound and len(compound) != len(self.levels):
            raise ValueError("either every level is compound (any_of/all_of) or none is")
        if not compound and len(kinds_of_rule) != 1:
            raise ValueError("a rule with numeric levels needs exactly one of `kind` or `forecast_kind`")
        if self.forecast_kind and not (self.window and self.horizon):
            raise ValueError("a forecast rule needs `window` (e.g. 1h) and `horizon` (e.g. 48h)")
        if self.aggregation != "latest" and not self.window and not compound:
            raise ValueError(f"aggregation {self.aggregation!r} needs a window (e.g. window: 1h)")
        if self.levels_from and not self.kind:
            raise ValueError("levels_from needs `kind`")
        self._levels_in_order()
        for severity, clear in self.clear.items():
            raise_at = self.levels.get(severity)
            if not isinstance(raise_at, (int, float)):
                raise ValueError(f"clear.{severity}: there is no numeric level {severity} to clear")
            if (self.op in (">=", ">") and clear > raise_at) or (self.op in ("<=", "<") and clear < raise_at):
                raise ValueError(f"clear.{severity} ({clear:g}) is beyond its raise level ({raise_at:g}): "
                                 "the alert could never clear")
        return self

    def _levels_in_order(self) -> None:
        numeric = [(s, v) for s, v in sorted(self.levels.items(), key=lambda sv: sv[0].rank)
                   if isinstance(v, (int, float))]
        for (low_s, low), (high_s, high) in zip(numeric, numeric[1:]):
            rising = self.op in (">=", ">")
            if (rising and not high > low) or (not rising and not high < low):
                raise ValueError(f"levels out of order: {high_s} ({high:g}) must be "
                                 f"{'above' if rising else 'below'} {low_s} ({low:g})")

    # ---- what the engine asks ----------------------------------------------------------

    @property
    def rule_type(self) -> str:
        if self.feeds:
            return "feed_staleness"
        if self.stale_after is not None:
            return "staleness"
        if self.forecast_kind:
            return "forecast"
        if any(isinstance(v, CompoundLevel) for v in self.levels.values()):
            return "compound"
        return "threshold"

    @property
    def public(self) -> bool:
        return bool(self.labels.get("public", False))

    @property
    def fixed_severity(self) -> AlertSeverity:
        """The severity of a staleness rule (label `severity`, default warning)."""
        return AlertSeverity(str(self.labels.get("severity", "warning")))

    def metrics(self) -> list[tuple[str, float | None, str]]:
        """(kind, window, aggregation) of every metric the rule reads from observations."""
        found = [(self.kind, self.window, self.aggregation)] if self.kind else []
        for level in self.levels.values():
            if isinstance(level, CompoundLevel):
                found += [(c.kind, c.window, c.aggregation) for c in level.conditions]
        return found

    def windows(self) -> list[float]:
        found = [self.window] if self.window else []
        for level in self.levels.values():
            if isinstance(level, CompoundLevel):
                found += [c.window for c in level.conditions if c.window]
        return found

    def kinds(self) -> list[str]:
        found = [self.kind] if self.kind else []
        for level in self.levels.values():
            if isinstance(level, CompoundLevel):
                found += [c.kind for c in level.conditions]
        return sorted(set(found))


def check_rules(rules: list[Rule], retention_hours: float, feed_ids: set[str]) -> list[tuple[int, str]]:
    """Problems a single rule cannot see: duplicate ids, windows past the retained history,
    unknown feeds. Returns (rule index, reason) pairs."""
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    retention_s = retention_hours * 3600
    for i, rule in enumerate(rules):
        if rule.id in seen:
            problems.append((i, f"rule id {rule.id!r} is used twice (also rule {seen[rule.id] + 1})"))
        seen.setdefault(rule.id, i)
        for window in rule.windows():
            if window > retention_s:
                problems.append((i, f"window {format_duration(window)} is longer than the retained history "
                                    f"(retention_hours: {retention_hours:g})"))
        for feed in rule.feeds:
            if feed not in feed_ids:
                problems.append((i, f"unknown feed {feed!r} in feeds"))
        if rule.feeds or rule.stale_after is not None:
            try:
                rule.fixed_severity
            except ValueError:
                problems.append((i, f"labels.severity {rule.labels.get('severity')!r} is not one of "
                                    f"{', '.join(SEVERITY_ORDER)}"))
    return problems


SUMMARY_FIELDS = {"rule": "r", "severity": "warning", "where": "w", "value": 1.0, "zone": "z", "entity": "e",
                  "lead": "in 1 h"}


def summary_problem(rule: Rule) -> str | None:
    """Why the rule's summary template cannot be filled in, or None."""
    try:
        rule.summary.format(**SUMMARY_FIELDS)
    except KeyError as exc:
        return f"unknown field {exc} (fields: {', '.join(SUMMARY_FIELDS)})"
    except (ValueError, IndexError, AttributeError) as exc:
        return f"not a valid template: {exc}"
    return None
