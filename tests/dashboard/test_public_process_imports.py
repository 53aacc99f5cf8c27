"""The public process (`opscentre public`) loads nothing of the operator console and no feed
client: checked in a fresh interpreter that builds the public app as the process does."""

from __future__ import annotations

import json
import subprocess
import sys

BUILD_PUBLIC_APP = """
import json, sys
from opscentre import cli
settings = cli._settings(None, check_feeds=False)
from opscentre.dashboard.public_server import create_public_wsgi_app
create_public_wsgi_app(settings, sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("opscentre", "google.transit", "requests")))))
"""


def loaded_by_public_app(redis_url: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", BUILD_PUBLIC_APP, redis_url], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_public_process_imports_no_console_module_and_no_feed_client(redis_server):
    loaded = loaded_by_public_app(redis_server.url)
    assert "opscentre.dashboard.public_app" in loaded and "opscentre.dashboard.ogc_api" in loaded  # (it ran)
    console = [m for m in loaded if m in ("opscentre.dashboard.ops_app", "opscentre.dashboard.auth",
                                          "opscentre.dashboard.server", "opscentre.dashboard.metrics")]
    feeds = [m for m in loaded if m.startswith(("opscentre.workers", "google.transit"))]
    assert console == [] and feeds == []


def test_settings_know_which_feeds_are_simulated_without_the_registry():
    from opscentre.core.settings import SIMULATED_FEEDS
    from opscentre.workers.feeds import FEEDS

    assert SIMULATED_FEEDS == {feed_id for feed_id, feed in FEEDS.items() if feed.simulated}
