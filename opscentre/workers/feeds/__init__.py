"""The feed registry: one line per feed. Adding a feed = one module + one line here."""

from opscentre.workers.feeds.alerta_rio import FEED as ALERTA_RIO
from opscentre.workers.feeds.base import Feed
from opscentre.workers.feeds.cap import FEED as CAP
from opscentre.workers.feeds.cemaden import FEED as CEMADEN
from opscentre.workers.feeds.energidataservice import FEED as ENERGIDATASERVICE
from opscentre.workers.feeds.gtfs_rt import FEED as GTFS_RT
from opscentre.workers.feeds.nws_alerts import FEED as NWS_ALERTS
from opscentre.workers.feeds.openaq import FEED as OPENAQ
from opscentre.workers.feeds.open_meteo import FEED as OPEN_METEO
from opscentre.workers.feeds.outages_geojson import FEED as OUTAGES_GEOJSON
from opscentre.workers.feeds.simulator import FEED as SIMULATOR
from opscentre.workers.feeds.usgs_iv import FEED as USGS_IV
from opscentre.workers.feeds.waze import FEED as WAZE

FEEDS: dict[str, Feed] = {
    feed.feed_id: feed
    for feed in (
        SIMULATOR,
        # weather
        OPEN_METEO, ALERTA_RIO, NWS_ALERTS, CAP,
        # traffic
        WAZE, GTFS_RT,
        # utilities
        USGS_IV, CEMADEN, OUTAGES_GEOJSON, OPENAQ, ENERGIDATASERVICE,
    )
}
