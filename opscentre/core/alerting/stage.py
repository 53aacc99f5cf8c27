"""The city's operational stage, 1–5 (COR's scale), derived from firing alerts — pure.

    stage:
      levels:
        - level: 2
          any_of:
            - {rule: rain_forecast_3h}
            - {rule: wind, min_severity: advisory, count: 2}   # at 2 stations

The highest level whose criteria hold wins; with none, the city is at stage 1. Going up is
immediate; going down is one level at a time, each held for `hold_down` after its criteria
stopped holding, so the city walks down as the storm passes instead of flapping. Stage 5
(crisis) is never derived: in Rio it is the mayor's decision, so only an authorised operator
sets it, with a note. A manual override of any stage holds until it expires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opscentre.core.alerting.lifecycle import Alert, AlertState
from opscentre.core.alerting.rules import AlertSeverity, parse_duration

STAGE_NAMES = {1: "normal", 2: "mobilisation", 3: "attention", 4: "alert", 5: "crisis"}
STAGE_COLOURS = {1: "green", 2: "yellow", 3: "orange", 4: "red", 5: "purple"}
MANUAL_ONLY_LEVEL = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageCriterion(_Strict):
    rule: str
    min_severity: AlertSeverity = AlertSeverity.ADVISORY
    count: int = Field(1, ge=1, le=10_000)  # at least this many firing alerts of the rule


class StageLevel(_Strict):
    level: int = Field(ge=2, le=4, description="2..4; stage 5 is set by an operator only")
    any_of: list[StageCriterion] = Field(min_length=1)


class StageSettings(_Strict):
    levels: list[StageLevel] = Field(default_factory=list)
    hold_down: float = Field(1800.0, ge=0, le=86400, description="seconds a level is held before stepping down")

    @field_validator("hold_down", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


@dataclass(frozen=True)
class StageDecision:
    level: int
    reasons: list[str]  # why: the alerts (or the override) behind the level
    alert_ids: list[str]
    manual: bool = False
    set_by: str | None = None
    supported_at: float | None = None  # the last time the criteria of this level held

    @property
    def name(self) -> str:
        return STAGE_NAMES[self.level]


def derive_stage(settings: StageSettings, alerts: Iterable[Alert], override: Mapping[str, Any] | None,
                 now: float, previous: Mapping[str, Any] | None = None) -> StageDecision:
    """previous: the stored stage record ({level, reasons, alert_ids, manual, supported_at})."""
    if override and (override.get("expires_at") is None or float(override["expires_at"]) > now):
        level = int(override["level"])
        note = override.get("note") or ""
        return StageDecision(level, [f"set by {override.get('by')}: {note}".rstrip(": ")], [], manual=True,
                             set_by=override.get("by"), supported_at=now)
    derived = _criteria_level(settings, alerts, now)
    if not previous or previous.get("manual") or derived.level >= int(previous.get("level", 1)):
        return derived
    level = int(previous["level"])
    supported_at = float(previous.get("supported_at") or previous.get("since") or now)
    if now - supported_at < settings.hold_down:
        held = [f"held at stage {level} for {round((settings.hold_down - (now - supported_at)) / 60)} min more: "
                f"its criteria stopped holding"] + [r for r in previous.get("reasons") or [] if not r.startswith("held")]
        return StageDecision(level, held[:11], list(previous.get("alert_ids") or []), supported_at=supported_at)
    step = max(derived.level, level - 1)
    if step == derived.level:
        return derived
    return StageDecision(step, [f"stepping down from stage {level}: its criteria stopped holding"], [],
                         supported_at=now)


def _criteria_level(settings: StageSettings, alerts: Iterable[Alert], now: float) -> StageDecision:
    firing: dict[str, list[Alert]] = {}  # rule -> its firing alerts, of the rules the criteria name
    named = {criterion.rule for stage_level in settings.levels for criterion in stage_level.any_of}
    for a in alerts:
        if a.rule in named and a.state == AlertState.FIRING:
            firing.setdefault(a.rule, []).append(a)
    for stage_level in sorted(settings.levels, key=lambda s: -s.level):
        for criterion in stage_level.any_of:
            matching = [a for a in firing.get(criterion.rule, ()) if a.severity.rank >= criterion.min_severity.rank]
            if len(matching) >= criterion.count:
                matching.sort(key=lambda a: (-a.severity.rank, a.fingerprint))
                reasons = [f"{a.rule} {a.severity.value} at {a.where or a.key}" for a in matching[:10]]
                if len(matching) > 10:
                    reasons.append(f"and {len(matching) - 10} more")
                return StageDecision(stage_level.level, reasons, [a.id for a in matching], supported_at=now)
    return StageDecision(1, ["no alert meets a stage criterion"], [], supported_at=now)
