"""Fixtures for the dashboard tests: the Rio settings, a real Redis, the WSGI apps served by a
real HTTP server on loopback."""

from __future__ import annotations

import pytest
from city_seed import OPERATOR, PASSWORD, RIO, SECRET, LiveServer

from opscentre.core import operators
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.dashboard.server import create_public_wsgi_app, create_wsgi_app


@pytest.fixture(scope="session")
def rio_settings():
    return load_settings(RIO / "demo.yaml")


@pytest.fixture
def store(redis_client):
    return Store(redis_client)


@pytest.fixture
def operator(redis_client):
    operators.set_password(redis_client, OPERATOR, PASSWORD)
    return OPERATOR, PASSWORD


@pytest.fixture
def wsgi_app(rio_settings, redis_server, redis_client):
    return create_wsgi_app(rio_settings, redis_server.url, SECRET)


@pytest.fixture
def live(wsgi_app):
    with LiveServer(wsgi_app) as server:
        yield server


@pytest.fixture
def public_live(rio_settings, redis_server, redis_client):
    with LiveServer(create_public_wsgi_app(rio_settings, redis_server.url)) as server:
        yield server
