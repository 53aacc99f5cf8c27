"""`opscentre drill restart-all`: every process, Redis included, killed and started again while
messages wait for a gateway that is down; then the gateway comes back.

The Procfile's processes as real subprocesses — `opscentre web`, `worker`, `cron`, `notifier` —
on a real Redis persisting as the embedded one runs (AOF, appendfsync everysec:
processes/redis_server.py), the bench's Twilio-compatible gateway on loopback answering 500. Storms
in MESSAGES bairros each text their contact; once every message has failed at the gateway and
waits for its next attempt, all of them are SIGKILLed at once (a crash, not a stop: nothing is
flushed or recorded on the way out; Redis last), then started again on the same data. The drill
checks the deliveries came back from the AOF, that the new notifier tries the gateway (still
down), then brings the gateway back.

Figures: lost and duplicated (messages the provider created per contact: exactly one each),
recovery_s (from the gateway's return to the last message created; the circuit breaker's state is
in Redis too, so the new notifier keeps probing one request per backoff step, at most 8 s apart:
goal 5 s, bound one step), and whether every process is running again (the web answering /healthz).
"""

from __future__ import annotations

import sys
import tempfile
import time
import urllib.error
import urllib.request

from opscentre.core.notify import breaker
from opscentre.core.notify.deliveries import CLAIMABLE
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.settings import Settings
from opscentre.drills.notify_rig import Rig, wait_until
from opscentre.processes.redis_server import free_port

MESSAGES = 20
SHORT_MESSAGES = 5
PROCESSES = ("notifier", "worker", "cron", "web")
GOAL_RECOVERY_S = 5.0
SEND_MARGIN_S = 2.0  # after the probe that finds the gateway back: a notifier turn and the sends
WAIT_S = 120.0


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    messages = SHORT_MESSAGES if short else MESSAGES

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    say(f"restart-all: {messages} messages wait for a gateway answering 500; web, worker, cron, notifier and "
        "Redis (AOF everysec) are SIGKILLed and started again; then the gateway comes back")
    with tempfile.TemporaryDirectory(prefix="opscentre-drill-") as tmp, Rig(settings, tmp, say, persist=True) as rig:
        port = free_port()
        zones = rig.contacts(messages + 1)
        _start_all(rig, port)
        rig.storm(zones[0])  # service as normal first
        if not wait_until(rig.all_created, WAIT_S):
            raise RuntimeError("the notifier did not text the first contact: " + rig.log_tail("notifier"))
        rig.gateway.mode("fail")
        for zone in zones[1:]:
            rig.storm(zone)
        store = DeliveryStore(rig.client)
        if not wait_until(lambda: _waiting(store) == messages, WAIT_S, 0.1):
            raise RuntimeError(f"not every message failed and waits: {rig.delivery_states()}")
        before = sum(store.counts().values())
        say(f"  {messages} messages waiting ({rig.delivery_states()}); SIGKILL every process, Redis last")
        for name in PROCESSES:
            rig.kill(name)
        rig.redis.kill()
        killed_at = time.time()
        rig.redis.start()
        rig.client.connection_pool.disconnect()
        _start_all(rig, port)
        kept = sum(DeliveryStore(rig.client).counts().values())
        say(f"  restarted: {kept} of {before} deliveries back from the AOF")
        failed_before = _failed(rig)
        retried = wait_until(lambda: _failed(rig) > failed_before, WAIT_S, 0.1)
        say("  the new notifier tried the gateway, still down" if retried else "  NO attempt after the restart")
        rig.gateway.mode("ok")
        back_at = time.time()
        wait_until(rig.all_created, WAIT_S)
        time.sleep(1.0)  # a message sent twice would have reached the gateway by now
        wait_until(rig.all_recorded_sent, 30)
        health = _healthz(port, 60.0)
        running = {name: rig.processes[name].poll() is None for name in PROCESSES}
        tally = rig.tally()
        states = rig.delivery_states()
        created = rig.created()
    waiting = [rig.phones[z] for z in zones[1:]]
    last = max((t for phone in waiting for t in created.get(phone, []) if t >= back_at), default=None)
    recovery_s = round(last - back_at, 3) if last is not None else None
    recovery_bound = breaker.POLICY.backoff.cap_s + SEND_MARGIN_S
    expected = {"lost": 0, "duplicated": 0, "deliveries_kept": before, "recovery_s_max": recovery_bound,
                "recovery_s_goal": GOAL_RECOVERY_S, "processes_running": list(PROCESSES)}
    ok = (tally["lost"] == 0 and tally["duplicated"] == 0 and kept == before and retried
          and recovery_s is not None and recovery_s <= recovery_bound and all(running.values()) and health is not None)
    result = {"drill": "restart-all", "lost": tally["lost"], "duplicated": tally["duplicated"],
              "recovery_s": recovery_s, "expected": expected, "ok": ok, "short": short,
              "messages_waiting": messages, "deliveries_kept": kept, "messages_expected": tally["messages_expected"],
              "strangers": tally["strangers"], "retried_after_restart": retried,
              "restart_to_gateway_back_s": round(back_at - killed_at, 1), "processes_running": running,
              "web_healthz": health, "deliveries_by_state": states}
    say(f"  deliveries kept:  {kept} of {before}   expected: all (AOF)")
    say(f"  duplicated:       {tally['duplicated']} messages   expected: 0")
    say(f"  lost:             {tally['lost']} of {tally['messages_expected']} messages   expected: 0")
    say(f"  recovery:         last message {recovery_s} s after the gateway came back   expected: ≤ "
        f"{recovery_bound:g} s (one probe step), goal ≤ {GOAL_RECOVERY_S:g} s")
    listed = ", ".join(f"{name} {'running' if up else 'NOT running'}" for name, up in running.items())
    say(f"  processes:        {listed}; web /healthz answered {health}")
    say(f"  deliveries:       {states}")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


def _start_all(rig: Rig, port: int) -> None:
    for name in PROCESSES:
        rig.start(name, env={**rig.env(), "PORT": str(port)} if name == "web" else None)


def _waiting(store: DeliveryStore) -> int:
    """Deliveries waiting for their next attempt (failed, or held back by the open breaker before
    their first), when none is being sent; -1 while one is."""
    counts = store.counts()
    return -1 if counts["sending"] else sum(counts[s.value] for s in CLAIMABLE)


def _failed(rig: Rig) -> int:
    return sum(1 for _to, _at, outcome in rig.gateway.requests() if outcome == "failed")


def _healthz(port: int, timeout: float) -> int | None:
    """The web's /healthz status once it answers (200, or 503 naming a component down), else None."""
    answer: dict[str, int] = {}

    def asked() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                answer["status"] = response.status
        except urllib.error.HTTPError as exc:
            answer["status"] = exc.code
        except OSError:
            return False
        return True

    wait_until(asked, timeout, 0.5)
    return answer.get("status")
