"""`opscentre drill notifier-kill`: the notifier SIGKILLed between a send and its record, 100 times.

A real Redis, the bench's Twilio-compatible gateway on loopback, `opscentre notifier` as a real
process. Each round a storm in a new bairro texts that bairro's contact; the gateway holds the
request, and as soon as it has arrived the drill SIGKILLs the notifier — after the send, before any
answer could be recorded — then starts a new one. The rounds alternate the two things a provider
may have done with a request whose sender died:
- `accept-hold`: it created the message (the contact will get it) and the answer never came back;
- `hold`: it never took the message (the request died at its edge).
Either way the delivery is left `sending`, with its claim time (recorded before the POST). An SMS
cannot be unsent and Twilio's API takes no idempotency key, so recovery
(core/notify/channels/dispatch.py `recover`) never resends blindly: once no request of that claim
can still be in flight (twice the channel's send timeout, ~26 s) it asks the provider's Message
list for that number and text since the claim: found, recorded sent; not there, sent again.

Figures: duplicated (a contact's message created twice at the provider) and lost (never created),
expected 0 and 0; recovery_s: from a kill to the restarted notifier's next message at the gateway;
settled_s: from the last kill to every interrupted delivery resolved (bounded by the in-flight
guard and the notifier's recovery pass every 30 s).

The honest bound: the lookup matches by number, sender and text since the claim (less 2 min of
clock skew). Two identical texts to one number within that window, the second interrupted before
the provider took it, would be taken for the first: recorded sent, not resent (a loss the drill's
distinct texts do not exercise). A provider without a Message list leaves an interrupted message
`unknown` after an hour, for an operator: never a duplicate.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from opscentre.core.notify.channels.sms import SmsChannel, SmsSettings
from opscentre.core.settings import Settings
from opscentre.drills.notify_rig import Rig, wait_until
from opscentre.workers.notifier import RECOVER_EVERY_S

KILLS = 100
SHORT_KILLS = 10
RESTART_BOUND_S = 30.0  # a Python process's start on a loaded 2-core machine, then one notifier turn
ARRIVAL_WAIT_S = 60.0


def settle_bound() -> float:
    """Longest from a kill to its delivery resolved: the in-flight guard, then the next recovery pass."""
    guard = SmsChannel(SmsSettings(account_sid="x", auth_token="x", sender="+1")).send_timeout_s * 2
    return guard + RECOVER_EVERY_S + 10.0  # and a resend's turn


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    kills = SHORT_KILLS if short else KILLS

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    say(f"notifier-kill: {kills} times, a message's request arrives at the gateway and the notifier is SIGKILLed "
        "before its answer (alternately after the provider created the message, and before it took it)")
    with tempfile.TemporaryDirectory(prefix="opscentre-drill-") as tmp, Rig(settings, tmp, say) as rig:
        zones = rig.contacts(kills + 2)
        rig.start("notifier")
        rig.storm(zones[0])
        if not wait_until(rig.all_created, 120):
            raise RuntimeError("the notifier did not text the first contact: " + rig.log_tail("notifier"))
        restarts, killed_at, held = [], [], {"accept-hold": 0, "hold": 0}
        restarted_at = None
        for i in range(kills + 1):
            zone = zones[1 + i]
            phone = rig.phones[zone]
            last = i == kills
            mode = "ok" if last else ("accept-hold" if i % 2 == 0 else "hold")
            rig.gateway.mode(mode)
            rig.storm(zone)
            if not wait_until(lambda p=phone: _arrival(rig, p) is not None, ARRIVAL_WAIT_S, 0.01):
                raise RuntimeError(f"round {i}: the message never reached the gateway: " + rig.log_tail("notifier"))
            arrived = _arrival(rig, phone)
            if restarted_at is not None:
                restarts.append(arrived - restarted_at)
            if last:
                break
            rig.kill("notifier")
            killed_at.append(time.time())
            held[mode] += 1
            rig.gateway.mode("ok")  # the held request answers a dead connection
            rig.start("notifier")
            restarted_at = killed_at[-1]
            if (i + 1) % 10 == 0:
                say(f"  {i + 1} kills")
        say("  waiting for the interrupted messages to be resolved (the in-flight guard, then recovery) ...")
        settled = wait_until(lambda: rig.all_created() and rig.all_recorded_sent(), settle_bound() + 60, 0.2)
        settled_s = time.time() - killed_at[-1]
        time.sleep(1.0)  # a message sent twice would have reached the gateway by now
        tally = rig.tally()
        states = rig.delivery_states()
        requests = rig.gateway.requests()
    recovery_s = round(max(restarts), 3)
    expected = {"lost": 0, "duplicated": 0, "recovery_s_max": RESTART_BOUND_S, "settled_s_max": round(settle_bound(), 1)}
    ok = (tally["lost"] == 0 and tally["duplicated"] == 0 and settled and recovery_s <= RESTART_BOUND_S
          and settled_s <= settle_bound())
    result = {"drill": "notifier-kill", "lost": tally["lost"], "duplicated": tally["duplicated"],
              "recovery_s": recovery_s, "expected": expected, "ok": ok, "short": short, "kills": kills,
              "killed_after_provider_took_it": held["accept-hold"],
              "killed_before_provider_took_it": held["hold"],
              "recovery_s_median": round(statistics.median(restarts), 3),
              "settled_s": round(settled_s, 1), "messages_expected": tally["messages_expected"],
              "requests_at_gateway": len(requests), "strangers": tally["strangers"],
              "deliveries_by_state": states}
    say(f"  kills:            {kills} ({held['accept-hold']} after the provider created the message, "
        f"{held['hold']} before it took it)")
    say(f"  duplicated:       {tally['duplicated']} messages   expected: 0")
    say(f"  lost:             {tally['lost']} of {tally['messages_expected']} messages   expected: 0")
    say(f"  recovery:         max {recovery_s} s, median {result['recovery_s_median']} s from a kill to the "
        f"restarted notifier's next message at the gateway   expected: ≤ {RESTART_BOUND_S:g} s")
    say(f"  settled:          every interrupted delivery resolved {settled_s:.1f} s after the last kill   "
        f"expected: ≤ {settle_bound():.0f} s (twice the send timeout, then a recovery pass)")
    say(f"  deliveries:       {states}")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


def _arrival(rig: Rig, phone: str) -> float | None:
    """When the first request for `phone` reached the gateway."""
    return next((at for to, at, _outcome in rig.gateway.requests() if to == phone), None)
