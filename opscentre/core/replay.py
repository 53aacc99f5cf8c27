"""The city as it was at a moment of the last day, from what is stored: what the console's replay
draws (issue 13 item 4).

- Readings: the history streams (keys.history(kind): one entry per stored batch, its id the wall
  time it was stored), read newest first from the moment back until every entity of the kind has
  its reading or LOOKBACK_S is reached: each entity's last reading stored by then.
- The stage: the stage history stream's last record by then (stage 1 before any).
- Alerts: the audit's alert transitions (core/alert_store.py: one entry per change, with the
  alert's rule, state and severity before and after) folded up to the moment: the alerts pending
  or firing then. Where the alert is still in the alerts hash (open, or resolved within the hour),
  its record gives the details the audit lacks (summary, labels); otherwise the rule's labels.

Not kept over time, so not replayed: events (traffic incidents, outages, warnings) and forecasts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from redis import Redis

from opscentre.core import keys
from opscentre.core.alert_store import SEVERITY_RANK, AlertStore, iso_utc
from opscentre.core.state import stage_view

WINDOW_S = 24 * 3600  # how far back replay goes
LOOKBACK_S = 6 * 3600  # how far before the moment a reading is looked for
PAGE = 500
OPEN_STATES = ("pending", "firing")


def _ms(at: float) -> int:
    return int(at * 1000)


def latest_at(redis: Redis, kinds: Iterable[str], at: float, wanted: Mapping[str, int] | None = None,
              lookback_s: float = LOOKBACK_S) -> dict[str, dict[str, tuple[float, float, str]]]:
    """kind -> entity id -> (value, observed_at, source) of its last reading stored by `at`.
    `wanted`: kind -> how many entities have that kind (stop reading once all are found)."""
    out: dict[str, dict[str, tuple[float, float, str]]] = {}
    for kind in kinds:
        found: dict[str, tuple[float, float, str]] = {}
        enough = (wanted or {}).get(kind)
        top, bottom = str(_ms(at)), str(_ms(at - lookback_s))
        while True:
            page = redis.xrevrange(keys.history(kind), max=top, min=bottom, count=PAGE)
            for _entry_id, fields in page:
                source = fields[b"s"].decode()
                columns = orjson.loads(fields[b"d"])
                for entity_id, value, observed_at in zip(columns["e"], columns["v"], columns["t"]):
                    if entity_id not in found:
                        found[entity_id] = (value, observed_at, source)
            if len(page) < PAGE or (enough and len(found) >= enough):
                break
            top = "(" + page[-1][0].decode()
        out[kind] = found
    return out


def stage_at(redis: Redis, at: float) -> dict[str, Any]:
    """The stage as `state.stage` shows it, as it was at `at`."""
    newest = redis.xrevrange(keys.STAGE_HISTORY, max=str(_ms(at)), count=1)
    return stage_view(orjson.loads(newest[0][1][b"d"]) if newest else None)


def alerts_at(redis: Redis, at: float, rule_labels: Mapping[str, Mapping[str, Any]] | None = None,
              window_s: float = WINDOW_S + LOOKBACK_S) -> list[dict[str, Any]]:
    """The alerts pending or firing at `at` (alert_view's shape, most severe first), from the
    audit's transitions of the `window_s` before it."""
    folded: dict[str, dict[str, Any]] = {}
    for entry in AlertStore(redis).audit(since=at - window_s):
        if entry["at"] > at:
            break
        before, after = entry.get("before") or {}, entry.get("after") or {}
        if "fingerprint" not in before or "state" not in after:
            continue  # not an alert's transition (sign-ins, stage changes, acknowledgements...)
        alert = folded.setdefault(entry["subject"], {"id": entry["subject"], "rule": before.get("rule"),
                                                     "fingerprint": before["fingerprint"], "since": entry["at"]})
        if after["state"] != alert.get("state"):
            alert["since"] = entry["at"]
        alert.update(state=after["state"], severity=after.get("severity") or alert.get("severity"),
                     value=after.get("value"), zone_id=after.get("zone_id", alert.get("zone_id")),
                     entity_id=after.get("entity_id", alert.get("entity_id")))
    known = {a.id: a for a in AlertStore(redis).alerts().values()}
    out = []
    for alert in folded.values():
        if alert.get("state") not in OPEN_STATES or not alert.get("severity"):
            continue
        record = known.get(alert["id"])
        labels = dict(record.labels) if record else dict((rule_labels or {}).get(alert["rule"]) or {})
        out.append({**alert, "since": iso_utc(alert["since"]), "summary": record.summary if record else alert["rule"],
                    "zone_id": alert.get("zone_id") or (record.zone_id if record else None),
                    "entity_id": alert.get("entity_id") or (record.entity_id if record else None),
                    "labels": labels, "acknowledged_by": None})
    out.sort(key=lambda a: (-SEVERITY_RANK.get(a["severity"], 0), a["state"] != "firing", a["id"]))
    return out
