"""The log channel drained straight from the outbox: every notification as one log line.

The channel itself is channels/log.py (the Channel protocol); this keeps the worker's
`deliver(redis, consumer)` job, which reads the outbox through the log channel's own group.
"""

from __future__ import annotations

from redis import Redis

from opscentre.core.notify import outbox
from opscentre.core.notify.channels.log import LogChannel, line

CHANNEL = LogChannel.name
__all__ = ["CHANNEL", "deliver", "line"]


def deliver(redis: Redis, consumer: str) -> int:
    """Log every notification not yet delivered on this channel; returns how many."""
    channel = LogChannel()
    entries = outbox.read(redis, CHANNEL, consumer)
    for entry_id, notification in entries:
        channel.send(notification, None, f"{CHANNEL}|{notification.get('id', entry_id)}")
    outbox.acknowledge(redis, CHANNEL, [entry_id for entry_id, _ in entries])
    return len(entries)
