"""The Atom index of the public alerts: valid Atom (RFC 4287's RELAX NG), an entry per alert
linking its CAP document, readable by the cap feed."""

from __future__ import annotations

from pathlib import Path

import pytest
import rnc2rng
from lxml import etree

from opscentre.core.alerting.lifecycle import Alert
from opscentre.core.settings import load_settings
from opscentre.open_data.atom import atom_feed
from opscentre.open_data.cap import CAP_NS, Change, PublicAlert, publisher
from opscentre.workers.feeds.cap import parse

ROOT = Path(__file__).resolve().parents[2]
ATOM = "http://www.w3.org/2005/Atom"
NS = {"a": ATOM, "cap": CAP_NS}
T0 = 1796549400.0
BASE = "https://cor.example.org/"


@pytest.fixture(scope="module")
def rio():
    return load_settings(ROOT / "opscentre" / "cities" / "rio" / "demo.yaml")


@pytest.fixture(scope="module")
def atom_schema():
    """atom_rfc4287.rng is RELAX NG's compact syntax: rnc2rng writes it as XML for lxml (its
    decorative `xmlns:local=""` is not well-formed XML; every name carries its namespace)."""
    compact = (ROOT / "tests" / "fixtures" / "schemas" / "atom_rfc4287.rng").read_text()
    xml = rnc2rng.dumps(rnc2rng.loads(compact)).replace('xmlns:local=""', "")
    return etree.RelaxNG(etree.fromstring(xml.encode()))


def alert(settings, alert_id, zone, severity="warning", at=T0, state="firing"):
    zone_id = settings.zones.ids[settings.zones.names.index(zone)]
    made = Alert(id=alert_id, fingerprint=f"rain_1h|{alert_id}", rule="rain_1h", key=alert_id, state="firing",
                 severity=severity, value=30.0, zone_id=zone_id, labels={"public": True}, started_at=at, since=at,
                 fired_at=at, updated_at=at, summary=f"{severity} rain at {zone}: 30.0 mm in 1 h", where=zone)
    if state == "resolved":
        made = made.model_copy(update={"state": "resolved", "resolved_at": at + 900, "since": at + 900})
    return PublicAlert(made, (Change("firing", at, None, severity),))


def three(settings):
    return [alert(settings, "a-000000000a", "Tijuca", "warning", T0),
            alert(settings, "a-000000000b", "Copacabana", "critical", T0 + 60),
            alert(settings, "a-000000000c", "Bangu", "warning", T0 + 120, state="resolved")]


def entries(document: bytes):
    return etree.fromstring(document).findall("a:entry", NS)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_index_is_valid_atom(rio, atom_schema, count):
    document = atom_feed(three(rio)[:count], publisher(rio, simulated=True, base_url=BASE), as_of=T0)
    assert atom_schema.validate(etree.fromstring(document)), atom_schema.error_log
    assert len(entries(document)) == count


def test_the_schema_refuses_an_entry_without_an_id(rio, atom_schema):
    root = etree.fromstring(atom_feed(three(rio)[:1], publisher(rio, simulated=True, base_url=BASE), as_of=T0))
    root.find("a:entry", NS).remove(root.find("a:entry/a:id", NS))
    assert not atom_schema.validate(root)


def test_each_entry_links_its_cap_document(rio):
    document = atom_feed(three(rio), publisher(rio, simulated=True, base_url=BASE), as_of=T0)
    for entry in entries(document):
        [link] = entry.findall("a:link", NS)
        alert_id = entry.findtext("a:content/cap:alert/cap:identifier", namespaces=NS).split(".")[0]
        assert link.get("rel") == "alternate"
        assert link.get("type") == "application/cap+xml"
        assert link.get("href") == f"{BASE}api/public/alerts/{alert_id}.cap"
        assert entry.findtext("a:id", namespaces=NS) == link.get("href")


def test_entries_are_worst_first_then_newest_and_a_resolved_alert_is_its_cancel(rio):
    root = etree.fromstring(atom_feed(three(rio), publisher(rio, simulated=True, base_url=BASE), as_of=T0))
    shown = [(e.findtext("a:id", namespaces=NS).rsplit("/", 1)[1],
              e.findtext("a:content/cap:alert/cap:msgType", namespaces=NS)) for e in entries(etree.tostring(root))]
    assert shown == [("a-000000000b.cap", "Alert"), ("a-000000000c.cap", "Cancel"), ("a-000000000a.cap", "Alert")]
    assert root.findtext("a:updated", namespaces=NS) == "2026-12-06T09:47:00+00:00"  # the newest message: c's Cancel


def test_the_same_alerts_give_the_same_bytes(rio):
    pub = publisher(rio, simulated=True, base_url=BASE)
    assert atom_feed(three(rio), pub, as_of=T0) == atom_feed(three(rio), pub, as_of=T0 + 999)


def test_the_cap_feed_reads_every_alert_embedded_in_the_index(rio):
    result = parse(atom_feed(three(rio), publisher(rio, simulated=False, base_url=BASE), as_of=T0))
    assert result.rejected == []
    live = {e.event_id: e for e in result.events if not e.cancelled}
    assert set(live) == {"a-000000000a.1", "a-000000000b.1"}
    assert [e.references[0] for e in result.events if e.cancelled] == ["a-000000000c.1"]
