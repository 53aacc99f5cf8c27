import pytest

from opscentre.core.geo import anchor_point
from opscentre.core.settings import CITIES_DIR, load_settings


@pytest.fixture(scope="module")
def zones():
    return load_settings(CITIES_DIR / "rio" / "demo.yaml").zones


def name_at(zones, lon, lat):
    return zones.name_by_id.get(zones.assign([(lon, lat)])[0])


def test_a_point_in_copacabana_lands_in_copacabana(zones):
    assert name_at(zones, -43.1822, -22.9711) == "Copacabana"


@pytest.mark.parametrize("lon,lat,expected", [
    (-43.2105, -22.9838, "Ipanema"),
    (-43.1729, -22.9068, "Centro"),
    (-43.3650, -23.0000, "Barra da Tijuca"),
    (-43.2302, -22.9121, "Maracanã"),
])
def test_known_places_land_in_their_bairro(zones, lon, lat, expected):
    assert name_at(zones, lon, lat) == expected


def test_a_point_far_outside_the_city_has_no_zone(zones):
    assert zones.assign([(-46.63, -23.55)]) == [None]  # São Paulo


def test_a_point_just_off_the_shore_takes_the_nearest_zone(zones):
    # Copacabana beach, a few hundred metres out at sea
    assert name_at(zones, -43.1790, -22.9740) == "Copacabana"


def test_a_segment_is_zoned_by_its_midpoint():
    line = {"type": "LineString", "coordinates": [[0.0, 0.0], [2.0, 0.0]]}
    assert anchor_point(line) == (1.0, 0.0)
