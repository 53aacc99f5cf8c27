"""Every Redis key, queue and channel the project uses — defined here and nowhere else.

See docs/data-model.md for what each holds.
"""

PREFIX = "oc"

ENTITIES = f"{PREFIX}:entities"  # hash entity_id -> JSON Entity (zone assigned once)
ENTITIES_VERSION = f"{PREFIX}:entities:version"  # counter, +1 per write to the registry
KINDS = f"{PREFIX}:kinds"  # set of kinds that have a latest value
FEEDS = f"{PREFIX}:feeds"  # set of feed ids that have ever reported health
VERSION = f"{PREFIX}:version"  # counter, +1 per stored poll: cheap "did anything change?"
UPDATES_CHANNEL = f"{PREFIX}:updates"  # pub/sub: feed id, published after each stored poll
SIM_CLOCK = f"{PREFIX}:sim:clock"  # hash: wall_epoch, sim_epoch, speed, scenario, seed
OPERATORS = f"{PREFIX}:operators"  # hash username -> password hash (never the password)
OPERATORS_DISABLED = f"{PREFIX}:operators:disabled"  # set of usernames that may not sign in
OPERATOR_ROLES = f"{PREFIX}:operators:roles"  # hash username -> role (core/roles.py); none: an admin (pre-roles)
LOGIN_LIMITS = f"{PREFIX}:login_limits"  # prefix of Flask-Limiter's windows of failed sign-ins
ALERTS = f"{PREFIX}:alerts"  # hash fingerprint -> JSON Alert (open, and resolved within the last hour)
ALERTS_VERSION = f"{PREFIX}:alerts:version"  # counter, +1 per write of ALERTS (with one ALERTS_CHANGES entry)
ALERTS_CHANGES = f"{PREFIX}:alerts:changes"  # stream f=fingerprints written, newline-separated; the newest ~1,000
EPOCH = f"{PREFIX}:epoch"  # string: random, set once: tells a process's caches (alerts, read model) this is its Redis
ALERT_ACKS = f"{PREFIX}:alert_acks"  # hash alert id -> JSON {by, at, note}
SILENCES = f"{PREFIX}:silences"  # hash silence id -> JSON {matchers, starts_at, ends_at | schedule, created_by...}
STAGE_RECORD = f"{PREFIX}:stage"  # string JSON {level, name, since, reasons, alert_ids, manual, set_by, previous}
STAGE_OVERRIDE = f"{PREFIX}:stage:override"  # string JSON {level, by, note, set_at, expires_at}
STAGE_HISTORY = f"{PREFIX}:stage:history"  # stream d=JSON stage record, one entry per change
STAGE_PENDING = f"{PREFIX}:stage:pending"  # string JSON {id, level|null, by, note, requested_at, confirm_by, duration_s}: a stage change awaiting a second supervisor (core/stage_control.py); PX: an hour past confirm_by
AUDIT = f"{PREFIX}:audit"  # stream d=JSON {at, actor, action, subject, before, after}; kept 90 days
INCIDENTS = f"{PREFIX}:incidents"  # hash incident id -> JSON Incident (open, and resolved for a day)
ALERT_REMINDERS = f"{PREFIX}:alert_reminders"  # hash alert id -> JSON {last_at, count, escalated}
OUTBOX = f"{PREFIX}:outbox"  # stream d=JSON notification; one consumer group per channel; kept 7 days
EVALUATE_LOCK = f"{PREFIX}:lock:evaluate"  # held while an evaluation runs
EVALUATE_PENDING = f"{PREFIX}:evaluate:pending"  # set of kinds stored during an evaluation ("*": all rules)
EVENT_SOURCES = f"{PREFIX}:event_sources"  # set of sources that have stored events
FORECAST_KINDS = f"{PREFIX}:forecast_kinds"  # set of kinds that have a stored forecast
WORKER_HEARTBEAT = f"{PREFIX}:heartbeat:workers"  # zset process name -> last beat (unix s)
NOTIFIER_HEARTBEAT = f"{PREFIX}:heartbeat:notifiers"  # zset notifier name -> last beat (unix s)

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


def feed_polls(feed_id: str) -> str:
    """stream, one entry per poll: i=items stored, s=ok | not_modified | failed; the newest ~FEED_POLLS_KEPT"""
    return f"{PREFIX}:polls:feed:{feed_id}"


FEED_POLLS_KEPT = 2000  # a day of polls every minute, and then some


def feed_metrics(feed_id: str) -> str:
    """hash of monotonically increasing counters, read by /metrics"""
    return f"{PREFIX}:metrics:feed:{feed_id}"


def write_once(write_id: str) -> str:
    """string counter, expiring after 10 min: how many times one write's transaction ran in Redis
    (1: the first time; more: redis-py re-sent it after a lost reply, and its appends and counters
    are skipped). Store.write_poll / record_failure / record_not_modified; deleted by the next write"""
    return f"{PREFIX}:write:{write_id}"


def poll_lock(feed_id: str) -> str:
    """string with expiry: held while a poll of this feed runs, so polls never overlap"""
    return f"{PREFIX}:lock:poll:{feed_id}"


def events(source: str) -> str:
    """hash event_id -> JSON Event: the source's current events (warnings, jams, outages...)"""
    return f"{PREFIX}:events:{source}"


def forecast(kind: str) -> str:
    """hash entity_id -> JSON {"s": source, "i": issued_at, "t": [step times], "v": [values]}"""
    return f"{PREFIX}:forecast:{kind}"


def session(session_id: str) -> str:
    """hash: user, created_at, last_seen, address; expires after the idle timeout, never past
    created_at + the absolute lifetime"""
    return f"{PREFIX}:session:{session_id}"


def operator_sessions(username: str) -> str:
    """set of the operator's session ids (expires with the newest one's absolute lifetime)"""
    return f"{PREFIX}:operator_sessions:{username}"


def outbox_group(channel: str) -> str:
    """consumer group of one notification channel on the outbox stream"""
    return f"{PREFIX}:outbox:{channel}"


# Notifications: recipients and webhook subscribers (core/notify/recipient_store.py, subscribers.py)
RECIPIENTS = f"{PREFIX}:recipients"  # hash recipient id -> JSON Recipient (phone in E.164)
RECIPIENTS_VERSION = f"{PREFIX}:recipients:version"  # counter, +1 per change to the recipients
RECIPIENTS_OPTED_OUT = f"{PREFIX}:recipients:opted_out"  # hash E.164 phone -> unix s it texted SAIR/STOP
WEBHOOKS = f"{PREFIX}:webhooks"  # hash subscriber id -> JSON WebhookSubscriber (url, secret, min_severity)


def recipient_phone(e164: str) -> str:
    """set of the ids of the recipients with this phone (one per role)"""
    return f"{PREFIX}:recipients:phone:{e164}"


# Deliveries: one message to one recipient on one channel (core/notify/delivery_store.py)
DELIVERIES_DUE = f"{PREFIX}:deliveries:due"  # zset delivery id -> next_attempt_at (queued and failed ones)


def delivery(delivery_id: str) -> str:
    """hash: one delivery (core/notify/deliveries.py's Delivery, a field each; never a full phone number)"""
    return f"{PREFIX}:delivery:{delivery_id}"


def deliveries_in_state(state: str) -> str:
    """zset delivery id -> updated_at (unix s) of the deliveries in that state"""
    return f"{PREFIX}:deliveries:state:{state}"


def deliveries_of_notification(notification_id: str) -> str:
    """set of the ids of one notification's deliveries"""
    return f"{PREFIX}:deliveries:notification:{notification_id}"


def incident_delivery_counts(incident_id: str) -> str:
    """hash "{channel}:{state}" -> how many of the incident's deliveries are in that state (kept in
    step with every delivery change, in the same script or transaction: core/notify/incident_counts.py)"""
    return f"{PREFIX}:deliveries:incident:{incident_id}"


def delivery_by_provider_id(provider_id: str) -> str:
    """string: the delivery id of a provider's message id (a Twilio message sid), for receipts"""
    return f"{PREFIX}:delivery:provider:{provider_id}"


def breaker(gateway: str) -> str:
    """hash: the circuit breaker of one gateway (state, failures, step, retry_at, probe_until)"""
    return f"{PREFIX}:breaker:{gateway}"


def breaker_waiting(gateway: str) -> str:
    """set of delivery ids: messages that failed at, or were held back from, a gateway whose breaker
    is not closed; made due at once when it closes (delivery_store.breaker_outcomes)"""
    return f"{PREFIX}:breaker:{gateway}:waiting"


def sms_sent_to(recipient_id: str) -> str:
    """zset delivery id -> unix s it was planned: the SMS a recipient was texted in the last hour
    (the per-recipient limit, core/notify/rate_limit.py); expires an hour after its last entry"""
    return f"{PREFIX}:ratelimit:sms:{recipient_id}"


def snapshot(group: str) -> str:
    """Hash: version, built_at, and per document NAME:body, NAME:gz, NAME:meta (core/read_model.py)."""
    return f"{PREFIX}:snapshot:{group}"


def snapshot_lock(group: str) -> str:
    return f"{PREFIX}:lock:snapshot:{group}"


def refusal_noted(username: str, action: str) -> str:
    """string, 60 s: a refused action of this user was audited this minute (dashboard/roles.py)"""
    return f"{PREFIX}:refused:{action}:{username}"
