"""The notifier: a long-running process that turns outbox notifications into deliveries and
sends them (any number may run; they share the work through Redis).

Each turn: read new outbox entries through the `notify` consumer group (a blocking read, so a
notification leaves within milliseconds of the evaluation that decided it), plan its
deliveries (core/notify/planning.py: route -> render, one per channel and recipient, keyed so a
re-read adds nothing), acknowledge the entries once their deliveries are stored, then send
what is due (core/notify/channels/dispatch.py: claim -> send -> record, backoff, breakers).
An entry read but not acknowledged (the process died) is claimed again by a notifier a minute
later; its deliveries were either stored already (skipped) or are stored then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from redis import Redis

from opscentre.core.notify import outbox, planning
from opscentre.core.notify.channels import Channels
from opscentre.core.notify.channels.dispatch import Dispatcher
from opscentre.core.notify.deliveries import Delivery
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.opt_out import ProviderOptOut
from opscentre.core.notify.rate_limit import Candidate, SmsRateLimit
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient
from opscentre.core.notify.routing import RecipientAreas, ZoneIndex
from opscentre.core.notify.subscribers import SubscriberStore, WebhookSubscriber
from opscentre.core.settings import Settings
from opscentre.core.store import Store

log = logging.getLogger("opscentre.notify")

GROUP = "notify"
READ_BLOCK_MS = 500  # under the Redis client's socket timeout
RECOVER_EVERY_S = 30.0
BEAT_EVERY_S = 10.0
# A notification found in the outbox longer ago than this when first read (a notifier started
# for the first time on an old outbox, or down for that long) is not sent: news that old would
# mislead. It is logged, never silently dropped.
MAX_AGE_S = 3600.0
SEND_CONCURRENCY = 512  # requests in flight at once, over the channels' keep-alive pools (their pool_size)
SEND_CHUNK = 256  # claimed together, recorded together; SEND_CONCURRENCY / SEND_CHUNK chunks under way at once
SEND_THREADS = 32  # for channels without send_async (webhooks, the log): the others share one event loop
SEND_BATCH = SEND_CONCURRENCY * 2  # due deliveries taken per turn, so a new notification waits for
# at most this many sends, under a second (a mass send is sent over many turns, between outbox reads)


class Notifier:
    def __init__(self, settings: Settings, redis: Redis, channels: Channels, consumer: str,
                 clock: Callable[[], float] = time.time, public_url: str | None = None):
        self.settings, self.redis, self.channels, self.consumer, self.clock = settings, redis, channels, consumer, clock
        self.public_url = public_url  # OPSCENTRE_PUBLIC_URL: webhooks link the CAP documents there
        self.deliveries = DeliveryStore(redis)
        self.recipients = RecipientStore(redis)
        self.subscribers = SubscriberStore(redis)
        self.rate_limit = SmsRateLimit(redis, settings.notify.per_recipient_per_hour)
        self.index = ZoneIndex(settings.zones)
        # (recipients version, by id, in order, their areas): planning routes the tuple the areas index
        self._people: tuple[int, dict[str, Recipient], tuple[Recipient, ...], RecipientAreas] | None = None
        sending = {name: ProviderOptOut(c, redis, clock) if name == "sms" else c for name, c in channels.enabled.items()}
        self.dispatcher = Dispatcher(self.deliveries, sending, self._target, clock=clock)  # (21610: opted out)
        self.executor = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="send")
        self._recovered_at = 0.0
        self._beat_at = 0.0
        self._busy = False  # the last turn sent something: more may be due, so the next read does not wait

    def turn(self, block_ms: int | None = READ_BLOCK_MS) -> tuple[int, int]:
        """One turn: (deliveries planned, deliveries that changed on sending)."""
        planned = self.plan_new(None if self._busy else block_ms)
        self._recipients()  # the recipients as of this turn: one removed or opted out since is not texted
        sent = self.dispatcher.send_due(limit=SEND_BATCH, executor=self.executor, chunk=SEND_CHUNK,
                                        overlap=SEND_CONCURRENCY // SEND_CHUNK)
        self._busy = bool(sent)
        if self.clock() - self._beat_at >= BEAT_EVERY_S:  # for /healthz
            self._beat_at = self.clock()
            Store(self.redis).notifier_beat(self.consumer, self._beat_at)
        if self.clock() - self._recovered_at >= RECOVER_EVERY_S:
            self._recovered_at = self.clock()
            self.dispatcher.recover()
        return planned, len(sent)

    def plan_new(self, block_ms: int | None = None) -> int:
        entries = outbox.read(self.redis, GROUP, self.consumer, block_ms=block_ms)
        if not entries:
            return 0
        now = self.clock()
        recipients, areas = self._recipients()
        subscribers = self.subscribers.list()
        local_now = datetime.fromtimestamp(now, self.settings.tz)
        planned: list[tuple[Delivery, bool]] = []  # (delivery, exempt from the per-recipient limit)
        for entry_id, notification in entries:
            written_at = int(entry_id.split("-")[0]) / 1000
            if now - written_at > MAX_AGE_S:
                log.warning("notification %s (%s %s) waited %.0f min in the outbox: not sent", notification.get("id"),
                            notification.get("kind"), planning.transition_of(notification), (now - written_at) / 60)
                continue
            exempt = planning.exempt_from_rate_limit(notification)
            planned += [(d, exempt) for d in planning.plan(notification, recipients, areas, subscribers,
                                                           self.settings, now, local_now, self.channels.enabled,
                                                           self.public_url)]
        added = self.deliveries.add(self._limited(planned, now))
        outbox.acknowledge(self.redis, GROUP, [entry_id for entry_id, _ in entries])
        return len(added)

    def _limited(self, planned: list[tuple[Delivery, bool]], now: float) -> list[Delivery]:
        """The planned deliveries, with the SMS over the per-recipient limit cancelled (checked and
        counted atomically in Redis, so concurrent notifiers cannot both let one more through)."""
        out = [d for d, _ in planned]
        limited = [i for i, (d, _) in enumerate(planned) if planning.rate_limited(d)]
        counts = self.rate_limit.check([Candidate(out[i].recipient_id, out[i].id, planned[i][1]) for i in limited], now)
        refused = 0
        for i, count in zip(limited, counts, strict=True):
            if count is not None:
                out[i] = planning.over_rate_limit(out[i], count, now)
                refused += 1
        if refused:
            log.warning("%d SMS over the per-recipient limit (%d an hour) cancelled: see `opscentre deliveries`",
                        refused, self.settings.notify.per_recipient_per_hour)
        return out

    def _recipients(self) -> tuple[tuple[Recipient, ...], RecipientAreas]:
        """Recipients and their areas (indexed by zone), rebuilt only when the recipients changed."""
        version = self.recipients.version()
        if self._people is None or self._people[0] != version:
            people = {r.id: r for r in self.recipients.list()}
            listed = tuple(people.values())
            for recipient in listed:  # masked now (new numbers only), off the path from an alert to its texts
                recipient.masked_phone  # noqa: B018
            self._people = (version, people, listed, RecipientAreas.build(listed, self.index))
        return self._people[2], self._people[3]

    def _target(self, delivery: Delivery) -> str | WebhookSubscriber | None:
        """The full target of a delivery when it is sent: None when the recipient was removed or
        opted out (the delivery is then cancelled, not sent). Recipients come from those this
        notifier holds, refreshed each turn when they changed — not one Redis read per message."""
        if delivery.channel == "webhook":
            return self.subscribers.get(delivery.recipient_id)
        if self._people is None:
            self._recipients()
        recipient = self._people[1].get(delivery.recipient_id)
        return recipient.phone if recipient is not None else None


def run(notifier: Notifier, stopping: Callable[[], bool]) -> None:
    while not stopping():
        notifier.turn()
