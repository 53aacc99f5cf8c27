"""What the notification drills (gateway-down, notifier-kill, restart-all) share: a real Redis,
the bench's Twilio-compatible gateway on loopback (bench/sms_gateway.py, with its failure modes),
`opscentre notifier` (and for restart-all every other process) as real subprocesses, one community
contact in each of the city's bairros, and storms that text them.

An alert is made as a poll makes one: a reading of very heavy rain (15 mm in 15 min) at a gauge in
a bairro, stored and evaluated with the config's rules (`evaluate_city`); its incident's
notification goes to the outbox and the notifier texts that bairro's one contact. So each storm is
one message to one number, and what the drills count is what the provider ends up with: messages
created per number (0: lost, 2: duplicated), not what the notifier believes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import redis

from opscentre.bench.sms_gateway import Gateway
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.drills.waiting import wait_for
from opscentre.processes.redis_server import RedisServer, die_with_parent, free_port
from opscentre.workers.evaluation import evaluate_city

STORM_MM = 15.0  # in 15 min: Alerta Rio's "very heavy" rain, critical in Rio's rules
GATEWAY_DELAY_S = 0.01


class Rig:
    """Redis, gateway, contacts and processes of one drill, in `directory` (a temporary one)."""

    def __init__(self, settings: Settings, directory: Path, say, persist: bool = False):
        self.settings, self.directory, self.say = settings, Path(directory), say
        self.redis = RedisServer(self.directory / "redis", persist=persist)
        self.gateway = Gateway(GATEWAY_DELAY_S)
        self.processes: dict[str, subprocess.Popen] = {}
        self.phones: dict[str, str] = {}  # zone -> its contact's number
        self.stormed: list[str] = []  # zones in the order their storms were evaluated
        self.client: redis.Redis | None = None
        logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)  # each storm's alert: not news here

    def __enter__(self) -> Rig:
        self.redis.start()
        self.gateway.start()
        self.client = redis.Redis.from_url(self.redis.url)
        return self

    def __exit__(self, *exc) -> None:
        for name in list(self.processes):
            self.kill(name)
        self.gateway.stop()
        if self.client is not None:
            self.client.close()
        self.redis.stop()

    # ---- people and alerts ---------------------------------------------------------------------

    def contacts(self, n: int) -> list[str]:
        """One community contact in each of the first n bairros: their zones."""
        zones = self.settings.zones.ids[:n]
        if len(zones) < n:
            raise RuntimeError(f"the city has {len(zones)} bairros, the drill needs {n}")
        store, now = RecipientStore(self.client), time.time()
        for i, zone in enumerate(zones):
            self.phones[zone] = f"+552197{i:07d}"
            store.add(Recipient.create(name=f"drill contact {i}", phone=self.phones[zone], consent_how="drill",
                                       now=now, zone_ids=(zone,), role=Role.COMMUNITY))
        return zones

    def storm(self, zone: str) -> float:
        """Very heavy rain at a gauge in `zone`, stored and evaluated as a poll job does: the time
        the evaluation returned (its notification is in the outbox)."""
        point = dict(zip(self.settings.zones.ids, self.settings.zones.representative_points))[zone]
        now = time.time()
        gauge = Entity(entity_id=f"drill-gauge-{zone}", entity_type="rain_gauge", source="alerta_rio",
                       name="drill gauge", zone_id=zone, geometry={"type": "Point", "coordinates": list(point)})
        batch = ObservationBatch(source="alerta_rio", kind="rain_mm", entity_ids=[gauge.entity_id],
                                 values=[STORM_MM], observed_at=[now])
        store = Store(self.client)
        store.write_poll("alerta_rio", [gauge], [batch], {}, {}, retention_s=86400, wall_now=now)
        evaluate_city(self.settings, store, now=now)
        self.stormed.append(zone)
        return time.time()

    # ---- what the provider has -----------------------------------------------------------------

    def created(self) -> dict[str, list[float]]:
        """Number -> when each message to it was created at the provider."""
        out: dict[str, list[float]] = {}
        for m in self.gateway.messages():
            out.setdefault(m["to"], []).append(m["created"])
        return out

    def tally(self) -> dict:
        """Each stormed bairro's contact should have exactly one message: lost, duplicated, and
        messages to numbers no storm was for."""
        created = self.created()
        expected = Counter(self.phones[z] for z in self.stormed)
        lost = sum(max(0, n - len(created.get(phone, []))) for phone, n in expected.items())
        duplicated = sum(max(0, len(created.get(phone, [])) - n) for phone, n in expected.items())
        strangers = sum(len(times) for phone, times in created.items() if phone not in expected)
        return {"messages_expected": sum(expected.values()), "lost": lost, "duplicated": duplicated,
                "strangers": strangers}

    def all_created(self) -> bool:
        created = self.created()
        return all(len(created.get(self.phones[z], [])) >= 1 for z in self.stormed)

    def delivery_states(self) -> dict[str, int]:
        return {k: v for k, v in DeliveryStore(self.client).counts().items() if v}

    def all_recorded_sent(self) -> bool:
        states = self.delivery_states()
        return states.get(State.SENT.value, 0) == len(self.stormed) and len(states) == 1

    # ---- processes -----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_", "PORT", "TWILIO_"))}
        env.update(self.gateway.env(), REDIS_URL=self.redis.url, OPSCENTRE_DATA_DIR=str(self.directory / "var"),
                   OPSCENTRE_LOG_LEVEL="WARNING")
        if self.settings.source_path:
            env["OPSCENTRE_CONFIG"] = str(self.settings.source_path)
        return env

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """`opscentre NAME ARGS` (`name` may carry a suffix after a colon: `web:1`), its output
        appended to a log in the drill's directory; a process group of its own (the web's workers
        are its children), which dies with the drill."""
        command = name.split(":")[0]
        with open(self.directory / f"{command}.log", "a") as log:
            process = subprocess.Popen([sys.executable, "-m", "opscentre", command, *args], env=env or self.env(),
                                       stdout=log, stderr=subprocess.STDOUT, preexec_fn=_own_group_dying_with_parent)
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children (its group): no handler runs, nothing is
        flushed or recorded."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(30)

    def web_env(self) -> dict[str, str]:
        return {**self.env(), "PORT": str(free_port())}

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.directory / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _own_group_dying_with_parent() -> None:
    os.setsid()
    die_with_parent()


def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate` until it holds or `timeout` passes: whether it held (asked once more at the end)."""
    return bool(wait_for(predicate, timeout, interval)) or bool(predicate())
