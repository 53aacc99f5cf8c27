"""Finding a bairro the way people type it: by name or code, accents, case and punctuation
ignored; and close matches for a name that is not one (what an unknown bairro's error lists)."""

from __future__ import annotations

import pytest

from opscentre.core.geo import fold_name
from opscentre.core.settings import CITIES_DIR, load_settings


@pytest.fixture(scope="module")
def zones():
    return load_settings(CITIES_DIR / "rio" / "demo.yaml").zones


@pytest.mark.parametrize("text,name", [
    ("Copacabana", "Copacabana"),
    ("copacabana", "Copacabana"),
    ("COPACABANA", "Copacabana"),
    ("Saude", "Saúde"),
    ("SAÚDE", "Saúde"),
    ("  sao   conrado ", "São Conrado"),
    ("freguesia ilha", "Freguesia (Ilha)"),
    ("Freguesia (Jacarepaguá)", "Freguesia (Jacarepaguá)"),
    ("024", "Copacabana"),  # the bairro code
    ("24", "Copacabana"),   # the code without its zeros
])
def test_a_bairro_is_found_by_name_or_code_whatever_the_accents_and_case(zones, text, name):
    assert zones.name_by_id[zones.find(text)] == name


@pytest.mark.parametrize("text", ["Copacabna", "Atlantis", "", "   ", "Freguesia", "999"])
def test_an_unknown_or_ambiguous_name_finds_nothing(zones, text):
    assert zones.find(text) is None


def test_a_misspelt_bairro_gets_the_right_name_as_a_close_match(zones):
    assert zones.close_matches("Copacabna")[0] == "Copacabana"
    assert zones.close_matches("jacarepagua")[0] == "Jacarepaguá"


def test_a_name_shared_by_several_bairros_lists_each_of_them(zones):
    assert {"Freguesia (Ilha)", "Freguesia (Jacarepaguá)"} <= set(zones.close_matches("Freguesia"))
    assert set(zones.close_matches("barra")) == {"Barra da Tijuca", "Barra de Guaratiba", "Barra Olímpica"}


def test_close_matches_are_at_most_n_and_none_for_nonsense(zones):
    assert len(zones.close_matches("Vila", n=2)) == 2
    assert zones.close_matches("zzzzqqq") == [] and zones.close_matches("") == []


def test_folding_drops_accents_case_and_punctuation():
    assert fold_name("Freguesia (Jacarepaguá)") == "freguesia jacarepagua"
    assert fold_name("  Quintino  Bocaiúva ") == "quintino bocaiuva"
