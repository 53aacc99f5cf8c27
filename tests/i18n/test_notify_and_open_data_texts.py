"""The SMS texts, Defesa Civil's advice, the CAP / Atom documents and the OGC API's texts are
worded by the one translation catalogue (opscentre/i18n), not by tables of their own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from lxml import etree

from opscentre.core.alerting.lifecycle import Alert
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.notify.advice import ADVICE_TEXT, advice_for
from opscentre.core.notify.messages import TEMPLATE_TEXT, places, render
from opscentre.core.settings import load_settings
from opscentre.i18n import catalogue_path, translator
from opscentre.open_data import ogc
from opscentre.open_data.atom import atom_feed
from opscentre.open_data.cap import CAP_NS, PublicAlert, cap_document, publisher

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("opscentre/core/notify/messages.py", "opscentre/core/notify/advice.py", "opscentre/core/notify/inbound.py",
           "opscentre/open_data/cap.py",
           "opscentre/open_data/atom.py", "opscentre/open_data/ogc.py")
NS = {"cap": CAP_NS}
T0 = 1796549400.0


@pytest.fixture(scope="module")
def rio():
    return load_settings(ROOT / "opscentre/cities/rio/demo.yaml")


def read(path: Path):
    with path.open("rb") as po:
        return read_po(po)


def used_ids() -> set[tuple[str | None, str]]:
    """(msgctxt, msgid) of every text the SMS and open-data modules mark."""
    found = set()
    for module in MODULES:
        for _line, message, _comments, context in extract_from_file("python", str(ROOT / module)):
            found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def test_every_text_of_the_sms_advice_and_cap_modules_is_in_the_catalogue_with_its_portuguese():
    used = used_ids()
    assert len(used) > 50
    pot = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in read(ROOT / "opscentre/i18n/messages.pot")
           if m.id}
    assert used <= pot, sorted(used - pot, key=str)[:5]
    pt = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in read(catalogue_path("pt-BR")) if m.id}
    for key in used:
        strings = pt[key].string if isinstance(pt[key].string, tuple) else (pt[key].string,)
        assert all(s.strip() for s in strings) and not pt[key].fuzzy, key


def incident(zone_ids, severity="warning", rules=("rain_15min",)):
    return {"id": "n-1", "kind": "incident", "change": "opened", "incident_id": "i-1", "severity": severity,
            "trigger_severity": severity, "zone_ids": list(zone_ids), "trigger_zone_ids": list(zone_ids),
            "rules": list(rules), "title": "t", "at": T0, "trigger_alerts": []}


def test_the_portuguese_sms_for_a_rain_alert_is_the_catalogues_portuguese(rio):
    copacabana = rio.zones.ids[rio.zones.names.index("Copacabana")]
    text = render(incident([copacabana]), "pt-BR", rio.zones.name_by_id, rio).text
    assert text == "[ALERTA] Chuva forte em Copacabana. Não atravesse ruas alagadas. Defesa Civil 199."
    pt = translator("pt-BR")
    assert text == pt.gettext(TEMPLATE_TEXT["rain"]).format(
        level=pt.gettext("Warning").upper(), intensity=pt.pgettext("rain", "Heavy"), places="Copacabana",
        advice=pt.gettext(ADVICE_TEXT["rain"]))
    assert render(incident([copacabana]), "en", rio.zones.name_by_id, rio).text == (
        "[WARNING] Heavy rain in Copacabana. Never cross a flooded street. Civil Defence 199.")


PROBE = """
import sys
from pathlib import Path
import opscentre.i18n
opscentre.i18n.LOCALES_DIR = Path(sys.argv[1])
sys.path.insert(0, sys.argv[2])
from lxml import etree
from opscentre.core.settings import load_settings
from opscentre.core.notify.messages import render
from opscentre.open_data.cap import CAP_NS, PublicAlert, cap_document, publisher
from test_notify_and_open_data_texts import ROOT, incident, heat_alert
rio = load_settings(ROOT / "opscentre/cities/rio/demo.yaml")
print(render(incident([rio.zones.ids[0]]), "pt-BR", rio.zones.name_by_id, rio).text)
root = etree.fromstring(cap_document(PublicAlert(heat_alert(rio)), publisher(rio, simulated=True)))
pt = root.find("{%s}info" % CAP_NS)
print(pt.findtext("{%s}senderName" % CAP_NS))
print(pt.findtext("{%s}headline" % CAP_NS))
print(pt.findtext("{%s}instruction" % CAP_NS))
"""


def heat_alert(settings, zone_id=None, rule="heat"):
    return Alert(id="a-0123456789", fingerprint=f"{rule}|g1", rule=rule, key="g1", state="firing",
                 severity="warning", value=37.0, zone_id=zone_id, labels={"public": True}, started_at=T0, since=T0,
                 fired_at=T0, updated_at=T0, summary="heat", where="")


def test_a_changed_portuguese_catalogue_changes_the_sms_and_the_cap_info_block(tmp_path):
    locales = tmp_path / "locales"
    shutil.copytree(ROOT / "opscentre/i18n/locales", locales)
    po = locales / "pt_BR/LC_MESSAGES/messages.po"
    source = po.read_text(encoding="utf-8")
    for old, new in (("Chuva {intensity} em {places}", "CHUVA {intensity} EM {places}"),
                     ("Calor extremo em {places}", "CALOR em {places}"),
                     ("Centro de Operações — {city}", "COR — {city}"),
                     ("Beba água e evite o sol das 10h às 16h.", "Beba ÁGUA.")):
        assert source.count(f'"[{{level}}] {old}' if "{places}" in old else f'"{old}"') == 1, old
        source = source.replace(old, new)
    po.write_text(source, encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", PROBE, str(locales), str(Path(__file__).parent)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("[ALERTA] CHUVA forte EM ") and out[0].endswith(" Não atravesse ruas alagadas. "
                                                                              "Defesa Civil 199.")
    assert out[1:] == ["COR — Rio de Janeiro", "[ALERTA] CALOR em Rio de Janeiro (toda a cidade).", "Beba ÁGUA."]


def test_cap_info_blocks_are_portuguese_and_english_from_the_catalogue(rio):
    root = etree.fromstring(cap_document(PublicAlert(heat_alert(rio)), publisher(rio, simulated=True)))
    pt, en = root.findall("cap:info", NS)
    assert pt.findtext("cap:senderName", namespaces=NS) == "Centro de Operações — Rio de Janeiro"
    assert pt.findtext("cap:instruction", namespaces=NS) == translator("pt-BR").gettext(ADVICE_TEXT["heat"])
    assert en.findtext("cap:senderName", namespaces=NS) == "Rio de Janeiro Operations Centre"
    assert root.findtext("cap:note", namespaces=NS) == ("Dados simulados: exercício, não um alerta real. / "
                                                        "Simulated data: an exercise, not a real alert.")


def test_danish_and_unknown_languages_fall_back_to_english_where_the_catalogue_has_no_danish(rio):
    da, en = translator("da"), translator("en")
    for topic, text in ADVICE_TEXT.items():
        assert advice_for(topic, AlertSeverity.WARNING, "da") == da.gettext(text)
        assert advice_for(topic, AlertSeverity.WARNING, "fr") == en.gettext(text) == text
    assert places(["Nørrebro", "Vesterbro", "Østerbro"], 1, "da").endswith("more neighbourhoods")
    copenhagen = load_settings(ROOT / "opscentre/cities/copenhagen/demo.yaml")
    pub = publisher(copenhagen, simulated=True, base_url="https://example.dk/")
    item = PublicAlert(heat_alert(copenhagen, rule="heat_wave"))
    root = etree.fromstring(cap_document(item, pub))
    assert [i.findtext("cap:language", namespaces=NS) for i in root.findall("cap:info", NS)] == ["pt-BR", "en"]
    feed = etree.fromstring(atom_feed([item], pub, T0, "da"))
    assert feed.findtext("{http://www.w3.org/2005/Atom}title") == da.gettext("Public alerts — {city}").format(
        city=copenhagen.city.name)


def test_the_ogc_api_speaks_english_from_the_catalogue_which_has_its_portuguese_too():
    assert ogc.text("items", layer="zones") == "The features of zones"
    pt = translator("pt-BR")
    assert pt.gettext(ogc.TEXT["items"]).format(layer="zones") == "As feições de zones"
    assert all(pt.gettext(text) != text for text in ogc.TEXT.values())
