"""Every Redis key, queue and channel the project uses — defined here and nowhere else.

See docs/data-model.md for what each holds.
"""

PREFIX = "oc"

ENTITIES = f"{PREFIX}:entities"  # hash entity_id -> JSON Entity (zone assigned once)
KINDS = f"{PREFIX}:kinds"  # set of kinds that have a latest value
FEEDS = f"{PREFIX}:feeds"  # set of feed ids that have ever reported health
VERSION = f"{PREFIX}:version"  # counter, +1 per stored poll: cheap "did anything change?"
UPDATES_CHANNEL = f"{PREFIX}:updates"  # pub/sub: feed id, published after each stored poll
SIM_CLOCK = f"{PREFIX}:sim:clock"  # hash: wall_epoch, sim_epoch, speed, scenario, seed
OPERATORS = f"{PREFIX}:operators"  # hash username -> password hash (never the password)
STAGE = f"{PREFIX}:stage"  # hash level, name, since (written by the alert engine)
ALERTS_ACTIVE = f"{PREFIX}:alerts:active"  # hash alert id -> JSON (written by the alert engine)
EVENT_SOURCES = f"{PREFIX}:event_sources"  # set of sources that have stored events
FORECAST_KINDS = f"{PREFIX}:forecast_kinds"  # set of kinds that have a stored forecast
WORKER_HEARTBEAT = f"{PREFIX}:heartbeat:workers"  # zset process name -> last beat (unix s)

FEED_QUEUE = "opscentre-feeds"  # RQ queue of poll jobs


def latest(kind: str) -> str:
    """hash entity_id -> JSON [value, observed_at (unix s), source]"""
    return f"{PREFIX}:latest:{kind}"


def history(kind: str) -> str:
    """stream, one entry per stored batch: s=source, d=JSON {"e": [...], "v": [...], "t": [...]}"""
    return f"{PREFIX}:hist:{kind}"


def feed_health(feed_id: str) -> str:
    """hash: status, last_success, last_error, last_error_kind, consecutive_failures, items, ..."""
    return f"{PREFIX}:feed:{feed_id}"


def feed_metrics(feed_id: str) -> str:
    """hash of monotonically increasing counters, read by /metrics"""
    return f"{PREFIX}:metrics:feed:{feed_id}"


def poll_lock(feed_id: str) -> str:
    """string with expiry: held while a poll of this feed runs, so polls never overlap"""
    return f"{PREFIX}:lock:poll:{feed_id}"


def events(source: str) -> str:
    """hash event_id -> JSON Event: the source's current events (warnings, jams, outages...)"""
    return f"{PREFIX}:events:{source}"


def forecast(kind: str) -> str:
    """hash entity_id -> JSON {"s": source, "i": issued_at, "t": [step times], "v": [values]}"""
    return f"{PREFIX}:forecast:{kind}"
