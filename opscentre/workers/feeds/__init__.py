"""The feed registry: one line per feed. Adding a feed = one module + one line here."""

from opscentre.workers.feeds.alerta_rio import FEED as ALERTA_RIO
from opscentre.workers.feeds.base import Feed
from opscentre.workers.feeds.simulator import FEED as SIMULATOR

FEEDS: dict[str, Feed] = {feed.feed_id: feed for feed in (SIMULATOR, ALERTA_RIO)}
