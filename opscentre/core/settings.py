"""Configuration: environment variables plus one YAML file, validated before anything starts.

Every problem is reported as `file:line: reason`, all at once, and nothing starts
half-configured (ConfigError). Secrets never come from the YAML: only from the environment
or files in the data directory.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from opscentre.core.alerting.rules import AlertSeverity, Rule, check_rules, parse_duration, summary_problem
from opscentre.core.alerting.stage import StageSettings
from opscentre.core.errors import ConfigError
from opscentre.core.geo import Zones
from opscentre.core.notify.messages import TemplateSet

CITIES_DIR = Path(__file__).resolve().parent.parent / "cities"
DEFAULT_CONFIG = CITIES_DIR / "rio" / "demo.yaml"
SIMULATED_FEEDS = frozenset({"simulator"})  # feeds whose data is made up (workers/feeds: `simulated=True`)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CitySettings(_Strict):
    name: str
    timezone: str
    zones: str = Field(description="GeoJSON file of the zones, relative to the config file")
    zone_id_property: str
    zone_name_property: str
    attribution: str = ""
    center: tuple[float, float] | None = Field(None, description="lat, lon of the map centre")
    zoom: float = 10.0
    cap_sender: str | None = Field(None, pattern=r"^[^\s,<&]{1,200}$",
                                   description="CAP <sender> of the public alerts (default opscentre@<city>)")
    language: str = Field("en", description="the console's and the public view's default language (pt-BR, en, "
                                            "da; ?lang= switches)")
    # The city's own vocabulary: the air-quality index its legend names (core/air_quality: rio = IQA
    # Rio (SMAC), eu = the European AQI, us_epa, eu_old) and its table of 15-min rain classes
    # (layers/rain_classes.py RAIN_TABLES: alerta_rio = Alerta Rio's; dmi = after DMI's words).
    air_quality_scale: Literal["rio", "us_epa", "eu", "eu_old"] = "rio"
    rain_classes: Literal["alerta_rio", "dmi"] = "alerta_rio"

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from opscentre.i18n import LANGUAGES, normalise

        if normalise(value) is None:
            raise ValueError(f"no catalogue for language {value!r} (known: {', '.join(LANGUAGES)})")
        return normalise(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/Sao_Paulo)")
        return value


class MapSettings(_Strict):
    # A raster tile URL template ({z}/{x}/{y}); None draws the city from its own GeoJSON only.
    tile_url: str | None = None
    tile_attribution: str = ""


class FeedSettings(_Strict):
    enabled: bool = True
    interval_s: int | None = Field(None, ge=1, le=86400)
    options: dict[str, Any] = Field(default_factory=dict)


class AlertingSettings(_Strict):
    evaluate_every_s: int = Field(15, ge=1, le=3600, description="the timer evaluation, besides after each poll")
    incident_window: float = Field(7200, ge=0, description="alerts nearby within this long join one incident")
    reminder_every: float = Field(1800, ge=0, description="remind unacknowledged alerts this often (0: never)")
    escalate_after: float = Field(3600, ge=0, description="escalate an unacknowledged alert after (0: never)")
    reminder_min_severity: AlertSeverity = AlertSeverity.CRITICAL

    _durations = field_validator("incident_window", "reminder_every", "escalate_after", mode="before")(
        lambda v: parse_duration(v))


class RoleSeverities(_Strict):
    """The least severity each role is texted for (on-call operators hear everything)."""

    oncall: AlertSeverity = AlertSeverity.ADVISORY
    agent: AlertSeverity = AlertSeverity.WARNING
    community: AlertSeverity = AlertSeverity.WARNING
    subscriber: AlertSeverity = AlertSeverity.CRITICAL


class NotifySettings(_Strict):
    """Who hears what, and how messages are shaped (core/notify/routing.py, messages.py)."""

    min_severity: RoleSeverities = Field(default_factory=RoleSeverities)
    public_only_roles: list[str] = Field(default_factory=lambda: ["community", "subscriber"],
                                         description="roles told only of alerts labelled public: true")
    internal_domains: list[str] = Field(default_factory=lambda: ["system"],
                                        description="alerts of these labels.domain go to on-call operators only")
    approval_over: int = Field(500, ge=1, description="a transition texting more recipients waits for two approvals")
    max_segments: int = Field(3, ge=1, le=10, description="SMS segments per message at most (the text is shortened)")
    transliterate: bool = Field(False, description="drop accents to stay in GSM-7 (else accents force UCS-2)")
    per_recipient_per_hour: int = Field(10, ge=1, le=1000, description="messages per recipient per hour (emergency "
                                                                      "exempt)")
    templates: dict[Literal["pt-BR", "en"], TemplateSet] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="language -> template name -> text, over the built-in ones")

    @field_validator("public_only_roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = [r for r in roles if r not in RoleSeverities.model_fields]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r} (roles: {', '.join(RoleSeverities.model_fields)})")
        return roles


class Settings(_Strict):
    city: CitySettings
    map: MapSettings = Field(default_factory=MapSettings)
    retention_hours: float = Field(48, gt=0, le=24 * 90)
    feeds: dict[str, FeedSettings]
    rules: list[Rule] = Field(default_factory=list)
    stage: StageSettings = Field(default_factory=StageSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    # Where the file was read from; relative paths in it resolve against its folder.
    source_path: Path | None = Field(None, exclude=True)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.city.timezone)

    @cached_property
    def zones(self) -> Zones:
        return Zones.from_file(self.resolve(self.city.zones), self.city.zone_id_property, self.city.zone_name_property)

    def resolve(self, relative: str) -> Path:
        base = self.source_path.parent if self.source_path else CITIES_DIR
        return (base / relative).resolve()

    def enabled_feeds(self) -> dict[str, FeedSettings]:
        return {k: v for k, v in self.feeds.items() if v.enabled}

    @property
    def simulated(self) -> bool:
        return any(f in SIMULATED_FEEDS for f in self.enabled_feeds())


def config_path_from_env() -> Path:
    return Path(os.environ["OPSCENTRE_CONFIG"]) if os.environ.get("OPSCENTRE_CONFIG") else DEFAULT_CONFIG


class _Documents:
    """Where each part of the config was read from: the main file, and an optional
    `rules_file` holding `rules:` and `stage:` — so every problem names its own file and line."""

    INCLUDED = ("rules", "stage")

    def __init__(self, path: Path, data: CommentedMap):
        self.main = (path, data)
        self.rules: tuple[Path, CommentedMap] | None = None

    def at(self, loc: tuple) -> str:
        path, data = self.rules if self.rules and loc and loc[0] in self.INCLUDED else self.main
        return f"{path}:{_line_of(data, loc)}"


def _read_yaml(path: Path, what: str) -> CommentedMap:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read {what}: {exc.strerror or exc}"])
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError([f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}"])
    return data


def load_settings(path: Path | None = None, check_feeds: bool = True) -> Settings:
    """Read, validate and cross-check a config file. Raises ConfigError listing every problem.
    check_feeds False (the web processes, which run no feed): the feeds' own options are not
    checked, so the feed registry and its clients are not even imported."""
    path = Path(path) if path else config_path_from_env()
    data = _read_yaml(path, "config")
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config must be a mapping with at least `city` and `feeds`"])
    docs = _Documents(path, data)
    plain = _plain(data)
    include = plain.pop("rules_file", None)
    if include is not None:
        plain.update(_included_rules(path, data, include, plain, docs))
    try:
        settings = Settings.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError([f"{docs.at(err['loc'])}: {_dotted(err['loc'])}: {err['msg']}" for err in exc.errors()])
    settings.source_path = path.resolve()
    problems = _cross_check(settings, docs, check_feeds)
    if problems:
        raise ConfigError(problems)
    return settings


def _included_rules(path: Path, data: CommentedMap, include: Any, plain: dict, docs: _Documents) -> dict:
    """The `rules:` and `stage:` of a `rules_file` (relative to the config), shared by configs."""
    where = f"{path}:{_line_of(data, ('rules_file',))}"
    if not isinstance(include, str) or not include.strip():
        raise ConfigError([f"{where}: rules_file: must be a file name, relative to the config"])
    if any(k in plain for k in _Documents.INCLUDED):
        raise ConfigError([f"{where}: rules_file: give `rules`/`stage` either here or in the rules file, not both"])
    rules_path = (path.parent / include).resolve()
    rules_data = _read_yaml(rules_path, "rules file")
    if not isinstance(rules_data, dict):
        raise ConfigError([f"{rules_path}:1: a rules file is a mapping with `rules:` (and optionally `stage:`)"])
    unknown = [k for k in rules_data if k not in _Documents.INCLUDED]
    if unknown:
        raise ConfigError([f"{rules_path}:{_line_of(rules_data, (unknown[0],))}: {unknown[0]}: not allowed in a "
                           "rules file (only rules and stage)"])
    docs.rules = (rules_path, rules_data)
    return _plain(rules_data)


def _cross_check(settings: Settings, docs: _Documents, check_feeds: bool = True) -> list[str]:
    """What a schema cannot see: files exist, feed ids are known, each feed's own options."""
    problems = []
    zones_file = settings.resolve(settings.city.zones)
    if not zones_file.is_file():
        problems.append(f"{docs.at(('city', 'zones'))}: city.zones: no such file {zones_file}")
    else:
        try:
            settings.zones
        except (ValueError, KeyError, OSError) as exc:
            problems.append(f"{docs.at(('city', 'zones'))}: city.zones: cannot read zones: {exc}")
    problems += _feed_problems(settings, docs) if check_feeds else []
    for index, rule in enumerate(settings.rules):
        problem = summary_problem(rule)
        if problem:
            problems.append(f"{docs.at(('rules', index, 'summary'))}: rules[{index}].summary: {problem}")
    rule_ids = {r.id for r in settings.rules}
    for i, level in enumerate(settings.stage.levels):
        for j, criterion in enumerate(level.any_of):
            if criterion.rule not in rule_ids:
                loc = ("stage", "levels", i, "any_of", j)
                problems.append(f"{docs.at(loc)}: {_dotted(loc)}: no rule {criterion.rule!r}")
    if not settings.enabled_feeds():
        problems.append(f"{docs.at(('feeds',))}: feeds: no feed is enabled")
    return problems


def _feed_problems(settings: Settings, docs: _Documents) -> list[str]:
    """Feed ids known, each feed's own options valid, rules naming known feeds: the registry's."""
    from opscentre.workers.feeds import FEEDS

    problems = []
    for feed_id, feed_settings in settings.feeds.items():
        if feed_id not in FEEDS:
            problems.append(f"{docs.at(('feeds', feed_id))}: feeds.{feed_id}: unknown feed "
                            f"(known: {', '.join(sorted(FEEDS))})")
            continue
        try:
            options = FEEDS[feed_id].options_model.model_validate(feed_settings.options)
            check = getattr(options, "check", None)
            for reason in check(settings) if check else []:
                problems.append(f"{docs.at(('feeds', feed_id, 'options'))}: feeds.{feed_id}.options: {reason}")
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("feeds", feed_id, "options", *err["loc"])
                problems.append(f"{docs.at(loc)}: {_dotted(loc)}: {err['msg']}")
    for index, reason in check_rules(settings.rules, settings.retention_hours, set(FEEDS)):
        problems.append(f"{docs.at(('rules', index))}: rules[{index}] ({settings.rules[index].id}): {reason}")
    return problems


def feed_options(settings: Settings, feed_id: str) -> Any:
    from opscentre.workers.feeds import FEEDS

    configured = settings.feeds.get(feed_id)
    return FEEDS[feed_id].options_model.model_validate(configured.options if configured else {})


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _line_of(data: Any, loc: tuple) -> int:
    """1-based line of the deepest part of `loc` that exists in the YAML."""
    line, node = 1, data
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line
