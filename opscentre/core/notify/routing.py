"""Routing by place: who hears a notification (pure: no Redis, no clock).

A recipient is somewhere — zones, or a point with a radius — and `RecipientAreas` turns each
into the set of zones it touches, once per configuration and recipient set (an STRtree over the
zones; the circle is a geodesic one, in metres, on the WGS84 ellipsoid), and indexes the
recipients by those zones, so routing a transition looks only at the recipients in its trigger
zones (when given the very tuple the areas were built from; any other recipients are each
looked at, with the same result). `route` then sends an
incident notification to the recipients whose zones meet the zones that *made* the transition
(`trigger_zone_ids`), not the incident's whole union, if their role's minimum severity is met at
the level of those zones, and outside their quiet hours unless it is critical or worse. Stage
changes go to every on-call recipient; `route_webhooks` picks partner systems: every stage change,
and the incident transitions `partners_hear` (not the centre's internal ones) by severity.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Protocol

import numpy as np
import shapely
from pyproj import Geod
from shapely import STRtree

from opscentre.core.alerting.incidents import CITY_WIDE
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.geo import Zones
from opscentre.core.notify.recipients import Recipient, Role

CIRCLE_VERTICES = 64  # a 300 m circle's polygon lies within 0.4 m of the true one
QUIET_HOURS_EXEMPT = AlertSeverity.CRITICAL  # critical and emergency ignore quiet hours
_WGS84 = Geod(ellps="WGS84")


class Policy(Protocol):
    """What routing reads of the `notify:` settings (settings.NotifySettings)."""

    min_severity: Any  # .oncall, .agent, .community, .subscriber: AlertSeverity
    public_only_roles: list[str]
    internal_domains: list[str]


class Subscriber(Protocol):
    id: str
    min_severity: Any  # AlertSeverity or its value
    enabled: bool


def circle(lat: float, lon: float, radius_m: float) -> shapely.Polygon:
    """The geodesic circle of `radius_m` around (lat, lon), as a lon/lat polygon."""
    azimuths = np.linspace(0.0, 360.0, CIRCLE_VERTICES, endpoint=False)
    lons, lats, _ = _WGS84.fwd(np.full(CIRCLE_VERTICES, lon), np.full(CIRCLE_VERTICES, lat), azimuths,
                               np.full(CIRCLE_VERTICES, float(radius_m)))
    return shapely.Polygon(np.column_stack([lons, lats]))


class ZoneIndex:
    """The zones in an STRtree, for 'which zones does this shape touch'."""

    def __init__(self, zones: Zones):
        self.ids = list(zones.ids)
        self.tree = STRtree(zones.geometries)

    def touching(self, shape: shapely.Geometry) -> frozenset[str]:
        return frozenset(self.ids[i] for i in self.tree.query(shape, predicate="intersects"))


@dataclass(frozen=True)
class RecipientAreas:
    """recipient id -> the zone ids it is in or touches; and, for the recipients it was built
    from (`source`, in their order), zone id -> their positions in `source` (`by_zone`) and the
    positions of those somewhere in the city (`placed`)."""

    zones: Mapping[str, frozenset[str]]
    source: tuple[Recipient, ...] | None = None
    by_zone: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    placed: tuple[int, ...] = ()

    @classmethod
    def build(cls, recipients: Iterable[Recipient], zones: Zones | ZoneIndex) -> RecipientAreas:
        """Pass a tuple, and pass that same tuple to `route`, for routing by the index."""
        index = zones if isinstance(zones, ZoneIndex) else ZoneIndex(zones)
        source = recipients if isinstance(recipients, tuple) else tuple(recipients)
        zones_of = {r.id: area_of(r, index) for r in source}
        areas = [zones_of[r.id] for r in source]  # as `of` will say (one area per id)
        by_zone: dict[str, list[int]] = {}
        for position, area in enumerate(areas):
            for zone_id in area:
                by_zone.setdefault(zone_id, []).append(position)
        return cls(zones_of, source, {z: tuple(positions) for z, positions in by_zone.items()},
                   tuple(i for i, area in enumerate(areas) if area))

    def of(self, recipient: Recipient) -> frozenset[str]:
        return self.zones.get(recipient.id, frozenset(recipient.zone_ids))

    def candidates(self, recipients: Iterable[Recipient], trigger: Collection[str]) -> Iterable[Recipient]:
        """Those of `recipients` whose area may meet `trigger`, in their order: from the index when
        `recipients` is the tuple these areas were built from, else all of them (each is checked)."""
        if self.source is None or recipients is not self.source:
            return recipients
        if CITY_WIDE in trigger:  # anyone somewhere in the city
            return [self.source[i] for i in self.placed]
        positions = sorted({i for zone_id in trigger for i in self.by_zone.get(zone_id, ())})
        return [self.source[i] for i in positions]


def area_of(recipient: Recipient, index: ZoneIndex) -> frozenset[str]:
    """A recipient's zones, and those its point's circle touches."""
    area = set(recipient.zone_ids)
    if recipient.point is not None and recipient.radius_m is not None:
        area |= index.touching(circle(recipient.point[0], recipient.point[1], recipient.radius_m))
    return frozenset(area)


def route(notification: Mapping[str, Any], recipients: Iterable[Recipient], areas: RecipientAreas, policy: Policy,
          now_local: datetime) -> list[tuple[Recipient, str]]:
    """The recipients of one notification, each with why. `now_local`: the city's local time."""
    kind = notification.get("kind")
    if kind == "stage":
        return [(r, "on-call: stage change") for r in recipients if r.role == Role.ONCALL]
    if kind in ("reminder", "escalation"):  # unacknowledged alerts: the centre's own people
        return [(r, f"on-call: {kind}") for r in recipients if r.role == Role.ONCALL]
    if kind != "incident":
        return []
    trigger = set(notification.get("trigger_zone_ids") or notification.get("zone_ids") or ())
    levels = notification.get("zone_severity") or {}
    default = AlertSeverity(notification.get("trigger_severity") or notification["severity"])
    domains = notification.get("domains") or []
    internal = bool(domains) and all(d in policy.internal_domains for d in domains)
    public = notification.get("public", True)
    out = []
    for recipient in areas.candidates(recipients, trigger):
        role = recipient.role.value
        if (internal and recipient.role != Role.ONCALL) or (not public and role in policy.public_only_roles):
            continue
        area = areas.of(recipient)
        hit = area & trigger
        if CITY_WIDE in trigger and area:  # a city-wide alert reaches anyone somewhere in the city
            hit |= {CITY_WIDE}
        if not hit:
            continue
        severity = max((AlertSeverity(levels[z]) if z in levels else default for z in hit), key=lambda s: s.rank)
        if severity.rank < AlertSeverity(getattr(policy.min_severity, role)).rank:
            continue
        if severity.rank < QUIET_HOURS_EXEMPT.rank and quiet(recipient.quiet_hours, now_local):
            continue
        where = "city-wide" if CITY_WIDE in hit else "zones " + ",".join(sorted(hit))
        out.append((recipient, f"{where} at {severity.value} (role {role})"))
    return out


def partners_hear(notification: Mapping[str, Any], internal_domains: Collection[str] = ()) -> bool:
    """Do partner systems hear of this incident transition? Not when its alerts are all of internal
    domains (`notify.internal_domains`, e.g. feed staleness); otherwise when they are public-facing
    (`public: true`) or in zones. A city-wide alert that is not public (a feed gone stale, whatever
    its labels) stays with the centre's own people; on-call operators hear of everything (`route`)."""
    domains = notification.get("domains") or []
    if domains and all(d in internal_domains for d in domains):
        return False
    if notification.get("public", True):
        return True
    trigger = notification.get("trigger_zone_ids") or notification.get("zone_ids") or ()
    return any(z != CITY_WIDE for z in trigger)


def route_webhooks(notification: Mapping[str, Any], subscribers: Iterable[Subscriber],
                   internal_domains: Collection[str] = ()) -> list[tuple[Subscriber, str]]:
    """Partner systems (the enabled ones): every stage change; incident transitions partners hear
    of (`partners_hear`) at or above their minimum severity."""
    subscribers = [s for s in subscribers if getattr(s, "enabled", True)]
    kind = notification.get("kind")
    if kind == "stage":
        return [(s, "stage change") for s in subscribers]
    if kind != "incident" or not partners_hear(notification, internal_domains):
        return []
    severity = AlertSeverity(notification.get("trigger_severity") or notification["severity"])
    return [(s, f"{severity.value} >= {AlertSeverity(s.min_severity).value}") for s in subscribers
            if severity.rank >= AlertSeverity(s.min_severity).rank]


def quiet(hours: Sequence[str] | None, now_local: datetime) -> bool:
    """Inside ("22:00", "07:00")-style quiet hours (they may cross midnight; the end is not quiet)."""
    if not hours:
        return False
    start, end = (time.fromisoformat(h) for h in hours)
    now = now_local.time().replace(tzinfo=None)
    return start <= now < end if start < end else (now >= start or now < end)
