"""Kept for its importers: the public selection lives in opscentre.open_data.public_alerts."""

from opscentre.open_data.public_alerts import (
    PUBLIC_ALERT_FIELDS,
    PUBLIC_STATES,
    public_alerts,
)

__all__ = ["PUBLIC_ALERT_FIELDS", "PUBLIC_STATES", "public_alerts"]
