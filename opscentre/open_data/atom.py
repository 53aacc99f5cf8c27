"""The Atom index of the public alerts (RFC 4287), built with feedgen.

As the CAP-over-Atom publishers do (NWS's alerts feed, Google Public Alerts' feed guidance): one
entry per alert, its id the alert's CAP URL, `updated` the time of its latest message,
`published` its first, a link rel="alternate" type="application/cap+xml" to the CAP document —
and the CAP message itself embedded as the entry's content, so a reader that takes a feed of
embedded alerts (e.g. another opscentre's `cap` feed) needs no fetch per entry. A resolved alert
still stored stays in the index as its Cancel, so readers learn that it ended.
"""

from __future__ import annotations

from datetime import UTC, datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from opscentre.i18n import N_, translator
from opscentre.open_data.cap import (
    CAP_MEDIA_TYPE,
    CAP_NS,
    LANGUAGES,
    PublicAlert,
    Publisher,
    cap_element,
    cap_path,
    messages_of,
)

ATOM_PATH = "api/public/alerts.atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
_NS = {"cap": CAP_NS}

# Every human-readable string this module adds (English; each language's wording is the catalogue's)
TITLE = N_("Public alerts — {city}")
SUBTITLE = N_("The operations centre's alerts as CAP 1.2 (one document per alert).")


def atom_feed(items: list[PublicAlert], pub: Publisher, as_of: float, lang: str = LANGUAGES[0]) -> bytes:
    """The Atom document: an entry per alert, worst and newest first. `as_of` is its `updated`
    when there is no entry (with entries, the newest message's time: the same alerts give the
    same bytes)."""
    base = (pub.base_url or "/").rstrip("/") + "/"
    feed = FeedGenerator()
    feed.id(base + ATOM_PATH)
    t = translator(lang)
    feed.title(t.gettext(TITLE).format(city=pub.city))
    feed.subtitle(t.gettext(SUBTITLE))
    feed.author({"name": pub.city, "uri": base + "public/"})
    feed.link(href=base + ATOM_PATH, rel="self", type=ATOM_MEDIA_TYPE)
    feed.link(href=base + "public/", rel="alternate", type="text/html")
    feed.language(lang)
    feed.register_extension("cap_link", BaseExtension, _CapLink, rss=False)
    ranked = sorted(((messages_of(item), item) for item in items),
                    key=lambda ci: (-ci[0][-1].severity.rank, -ci[0][-1].sent, ci[1].alert.id))
    for chain, item in ranked:
        _entry(feed, item, chain, pub, base, lang)
    feed.updated(_utc(max((chain[-1].sent for chain, _ in ranked), default=as_of)))
    return feed.atom_str(pretty=False, encoding="UTF-8")


def _entry(feed: FeedGenerator, item: PublicAlert, chain, pub: Publisher, base: str, lang: str) -> None:
    url = base + cap_path(item.alert.id)
    cap = cap_element(item, pub, chain[-1])
    info = next((i for i in cap.findall("cap:info", _NS) if i.findtext("cap:language", namespaces=_NS) == lang),
                cap.find("cap:info", _NS))
    entry = feed.add_entry(order="append")
    entry.id(url)
    entry.title(info.findtext("cap:headline", namespaces=_NS))
    entry.summary(info.findtext("cap:description", namespaces=_NS))
    entry.published(_utc(chain[0].sent))
    entry.updated(_utc(chain[-1].sent))
    entry.link(href=url, rel="alternate", type=CAP_MEDIA_TYPE)
    entry.cap_link.href = url
    entry.category(term=info.findtext("cap:event", namespaces=_NS))
    entry.content(etree.tostring(cap), type=CAP_MEDIA_TYPE)


class _CapLink(BaseEntryExtension):
    """feedgen 1.0 writes an entry's <link> without its rel and type (its dict is shadowed by the
    element it makes): this puts them back on the CAP link, through feedgen's extension hook."""

    href: str | None = None

    def extend_atom(self, entry):
        for link in entry:
            if etree.QName(link).localname == "link" and link.get("href") == self.href:
                link.set("rel", "alternate")
                link.set("type", CAP_MEDIA_TYPE)
        return entry


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)
