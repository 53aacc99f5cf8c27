"""What a feed is: a record describing one source, run by one engine (workers/jobs.py).

Adding a feed = one module that builds a `Feed(...)` plus one line in feeds/__init__.py.
fetch does the I/O and returns the raw payload; parse is pure (payload -> ParseResult) and is
the same code path for a live poll and for `opscentre ingest FEED FILE`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from opscentre.core.models import ParseResult
from opscentre.workers.feeds.http import HttpExchange

if TYPE_CHECKING:
    from opscentre.core.settings import Settings


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class FeedContext:
    """Everything a fetch or parse may know: validated options, the city, and `now`.

    `now` is taken once per poll (timezone-aware UTC) and passed down; for the simulator it is
    simulated time.
    """

    feed_id: str
    options: Any  # an instance of the feed's options_model
    settings: Settings
    now: datetime
    # Conditional-GET state: pass `exchange=ctx.http` to fetch_bytes where the source
    # supports ETag / Last-Modified.
    http: HttpExchange = field(default_factory=HttpExchange)


@dataclass(frozen=True)
class Feed:
    feed_id: str
    title: str
    fetch: Callable[[FeedContext], bytes]
    parse: Callable[[bytes, FeedContext], ParseResult]
    default_interval_s: int
    options_model: type[BaseModel] = NoOptions
    simulated: bool = False
    # Default poll interval is in feed time; the simulator's runs faster with --speed.
    follows_sim_clock: bool = False
    # True when every payload lists all the source's current events (Waze, GTFS-rt, outage
    # maps): events it no longer lists have ended. False for message feeds (CAP), where an
    # event ends by a Cancel message or when its `ends_at` passes.
    events_snapshot: bool = False
