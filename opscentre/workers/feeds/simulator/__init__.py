"""The built-in simulated city feed (feed id `simulator`): weather, traffic and utilities.

fetch generates a JSON payload for the simulated time of the poll (payload.py documents its
shape); parse turns it into entities and observation batches, like any other feed.
"""

from opscentre.workers.feeds.base import Feed
from opscentre.workers.feeds.simulator.options import SimulatorOptions
from opscentre.workers.feeds.simulator.parse import parse
from opscentre.workers.feeds.simulator.payload import fetch

FEED = Feed(
    feed_id="simulator",
    title="Simulated city (weather, traffic, utilities)",
    fetch=fetch,
    parse=parse,
    default_interval_s=60,
    options_model=SimulatorOptions,
    simulated=True,
    follows_sim_clock=True,
)

__all__ = ["FEED", "SimulatorOptions", "fetch", "parse"]
