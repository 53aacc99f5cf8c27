"""Feed health as data: the status a reader should show, derived at read time."""

from __future__ import annotations

from typing import Any

from opscentre.core.models import FeedStatus

# A feed that has not succeeded within this many of its intervals is stale.
STALE_AFTER_INTERVALS = 3


def effective_status(health: dict[str, Any], now: float) -> str:
    """ok / degraded / failing as last recorded, or stale when no success came for 3 intervals."""
    status = health.get("status") or FeedStatus.UNKNOWN.value
    if status == FeedStatus.DISABLED.value:
        return status
    interval = float(health.get("interval_s") or 0)
    last_success = health.get("last_success_ts")
    if interval and last_success is not None and now - float(last_success) > STALE_AFTER_INTERVALS * interval:
        return FeedStatus.STALE.value
    return status


def public_view(health: dict[str, Any], now: float) -> dict[str, Any]:
    """The contract shape: {status, last_success, last_error, items} plus detail fields."""
    status = effective_status(health, now)
    return {
        "status": status,
        "last_success": health.get("last_success"),
        "last_success_ts": health.get("last_success_ts"),
        # Stale: the data on the map is as of last_success; the alert engine reads this too.
        "stale_since": health.get("last_success") if status == FeedStatus.STALE.value else None,
        "last_error": health.get("last_error"),
        "last_error_kind": health.get("last_error_kind"),
        "items": health.get("items", 0),
        "rejected": health.get("rejected", 0),
        "skipped": health.get("skipped", 0),
        "consecutive_failures": health.get("consecutive_failures", 0),
        "duration_ms": health.get("duration_ms"),
        "bytes": health.get("bytes"),
        "interval_s": health.get("interval_s"),
        "simulated": bool(health.get("simulated", False)),
    }
