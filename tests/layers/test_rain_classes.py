import math

import pytest

from opscentre.layers import RAIN_CLASSES, classify_rain
from opscentre.layers.rain_classes import NO_DATA


@pytest.mark.parametrize("mm, key", [
    (0.0, "none"), (0.2, "weak"), (1.24, "weak"), (1.25, "moderate"), (6.24, "moderate"),
    (6.25, "heavy"), (12.5, "heavy"), (12.51, "very_heavy"), (15.0, "very_heavy"), (250.0, "very_heavy"),
])
def test_alerta_rio_classes_per_15_minutes(mm, key):
    assert classify_rain(mm).key == key


def test_missing_reading_is_no_data():
    assert classify_rain(None) is NO_DATA
    assert classify_rain(math.nan) is NO_DATA


def test_classes_rise_with_level_and_have_distinct_colours():
    assert [c.level for c in RAIN_CLASSES] == [1, 2, 3, 4, 5]
    assert len({c.colour for c in RAIN_CLASSES}) == 5
    assert [c.marker_size for c in RAIN_CLASSES] == sorted(c.marker_size for c in RAIN_CLASSES)
