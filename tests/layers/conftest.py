"""Pure layer tests: CityData built by hand on Rio's zones, no Redis, no browser."""

import pytest
from layer_city import RIO

from opscentre.core.settings import load_settings


@pytest.fixture(scope="session")
def rio():
    return load_settings(RIO)
