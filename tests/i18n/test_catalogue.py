"""The translation catalogue: complete for pt-BR, placeholders kept, in step with the code."""

from __future__ import annotations

import gettext
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from opscentre.core.settings import load_settings
from opscentre.i18n import LANGUAGES, catalogue_path, compile_catalogue, lang_for, normalise, translator
from opscentre.i18n.vocabulary import HAZARDS, LEGEND, SEVERITIES, STAGES
from opscentre.layers import LAYERS

ROOT = Path(__file__).resolve().parents[2]
FIELD = re.compile(r"\{(\w*)[^{}]*\}")


def read(lang: str):
    with catalogue_path(lang).open("rb") as po:
        return read_po(po)


def messages(catalog):
    return [m for m in catalog if m.id]


def fields(text: str) -> set[str]:
    return set(FIELD.findall(text))


def extracted_ids() -> set[str]:
    """What `pybabel extract -F babel.cfg` finds in the code today."""
    method_map, options_map = [], {}
    for line in (ROOT / "babel.cfg").read_text().splitlines():
        if line.startswith("[python:"):
            method_map.append((line[len("[python:"):-1].strip(), "python"))
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def test_every_marked_string_in_the_code_is_in_each_catalogue():
    in_code = extracted_ids()
    assert len(in_code) > 50
    for lang in LANGUAGES:
        ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in messages(read(lang))}
        assert in_code <= ids, f"{lang}: run pybabel extract/update for {sorted(in_code - ids)[:5]}"


def test_every_msgid_has_a_portuguese_translation_that_is_not_fuzzy():
    for message in messages(read("pt-BR")):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), message.id
        assert not message.fuzzy, message.id


@pytest.mark.parametrize("lang", ["pt-BR", "da"])
def test_placeholders_are_the_same_in_msgid_and_msgstr(lang):
    checked = 0
    for message in messages(read(lang)):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = fields(ids[-1])
        for text in strings:
            if text:
                assert fields(text) == wanted, (lang, message.id, text)
                checked += 1
    assert checked > 50


def test_each_catalogue_compiles_without_errors_and_loads_as_gettext():
    for lang in LANGUAGES:
        catalog = read(lang)
        problems = [(m.id, errors) for m, errors in catalog.check()]
        assert problems == [], (lang, problems)
        translations = gettext.GNUTranslations(io.BytesIO(compile_catalogue(catalogue_path(lang))))
        if lang == "pt-BR":
            assert translations.gettext("Open data") == "Dados abertos"


def test_compiled_catalogue_equals_what_pybabel_compile_writes(tmp_path):
    """The in-memory compilation is pybabel's: the same bytes as the command line's .mo."""
    pybabel = Path(sys.executable).with_name("pybabel")
    out = tmp_path / "messages.mo"
    subprocess.run([str(pybabel), "compile", "-i", str(catalogue_path("pt-BR")), "-o", str(out)],
                   check=True, capture_output=True)
    assert compile_catalogue(catalogue_path("pt-BR")) == out.read_bytes()


def test_plurals_follow_the_language():
    pt = translator("pt-BR")
    assert pt.ngettext("{n} alert", "{n} alerts", 1).format(n=1) == "1 alerta"
    assert pt.ngettext("{n} alert", "{n} alerts", 3).format(n=3) == "3 alertas"
    assert translator("en").ngettext("{n} alert", "{n} alerts", 1).format(n=1) == "1 alert"


def test_words_chosen_at_run_time_are_translated_in_portuguese():
    pt = translator("pt-BR")
    words = [*(w for pair in STAGES.values() for w in pair), *SEVERITIES.values(), *HAZARDS.values(), *LEGEND]
    untranslated = [w for w in words if pt.gettext(w) == w and w not in ("normal", "Regular", "50–499",
                                                                         "OGC API – Features (QGIS, GDAL)")]
    assert untranslated == []


def test_every_public_layer_text_is_in_the_catalogue():
    listed = set(LEGEND)
    for layer in LAYERS.values():
        if layer.public:
            texts = {layer.title, layer.label, *(entry.label for entry in layer.legend)}
            assert texts <= listed, (layer.id, sorted(texts - listed))


def test_an_unknown_language_falls_back_to_english_and_danish_to_english_where_missing():
    assert translator("fr").gettext("Open data") == "Open data"
    assert translator("da").gettext("Open data") == "Åbne data"
    assert translator("da").gettext("a string nobody translated") == "a string nobody translated"


def test_the_language_of_a_request():
    assert lang_for({}, "pt-BR") == "pt-BR"
    assert lang_for({"lang": "en"}, "pt-BR") == "en"
    assert lang_for({"lang": "pt_br"}, "en") == "pt-BR"
    assert lang_for({"lang": "da-DK"}, "pt-BR") == "da"
    assert lang_for({"lang": "<script>"}, "pt-BR") == "pt-BR"
    assert lang_for({"lang": ["en"]}, "pt-BR") == "pt-BR"
    assert normalise("x" * 100) is None


def test_city_language_defaults_and_is_checked(tmp_path):
    assert load_settings(ROOT / "opscentre/cities/rio/demo.yaml").city.language == "pt-BR"
    assert load_settings(ROOT / "opscentre/cities/copenhagen/demo.yaml").city.language == "da"
    source = (ROOT / "opscentre/cities/copenhagen/demo.yaml").read_text()
    bad = tmp_path / "demo.yaml"
    bad.write_text(source.replace("language: da", "language: fr"))
    for name in ("bydele.geojson",):
        (tmp_path / name).write_bytes((ROOT / "opscentre/cities/copenhagen" / name).read_bytes())
    from opscentre.core.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        load_settings(bad)
    assert "no catalogue for language 'fr'" in str(refused.value)
