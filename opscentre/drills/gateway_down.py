"""`opscentre drill gateway-down`: the SMS gateway answers 500 for ten minutes while alerts keep
coming; then it comes back.

A real Redis, the bench's Twilio-compatible gateway on loopback (in its `fail` mode: every request
answered 500, Twilio code 20500, nothing created), one `opscentre notifier` process, and a storm in a
new bairro every ALERT_EVERY_S seconds of the outage (each texts that bairro's one contact; see
notify_rig.py). Not compressed: the outage lasts the issue's ten minutes (600 s); `--short` runs
20 s of it, where the breaker is still in its first, short steps, so its figure per second is held
to the breaker's own bound for that length and the ten-minute figure is the full run's.

Figures: lost and duplicated (messages the provider created per contact: exactly one each),
failed requests the gateway received during the outage and per second (Alertmanager sent a down
receiver ~8/s; goal ≤ 0.16/s, 50x fewer), and recovery_s: from the gateway's return to the last
message created. The circuit breaker (core/notify/breaker.py) decides both: a down gateway gets
one probe per backoff step (7-8 s once the steps reach their cap), and the messages waiting for
it go as soon as a probe succeeds — so recovery takes up to one step (~4 s on average, at most
8 s). The goal of 5 s and 0.16/s cannot both hold in the worst case of a periodic probe (0.16/s
means a probe every 6.25 s or more); the breaker keeps the request rate, and recovery meets 5 s
when the gateway returns in the first 5 s of a step (about two times in three).
"""

from __future__ import annotations

import sys
import tempfile
import time

from opscentre.core.notify import breaker
from opscentre.core.settings import Settings
from opscentre.drills.notify_rig import Rig, wait_until

OUTAGE_S = 600.0  # the ten minutes, in real time
SHORT_OUTAGE_S = 20.0
ALERT_EVERY_S = 10.0
SHORT_ALERT_EVERY_S = 2.0
ALERTMANAGER_FAILED_PER_S = 8.0  # the peer, measured on this machine: a receiver down for a minute
GOAL_FAILED_PER_S = ALERTMANAGER_FAILED_PER_S / 50
GOAL_RECOVERY_S = 5.0
SEND_MARGIN_S = 2.0  # after the probe that finds the gateway back: a notifier turn and the sends


def probes_within(seconds: float, policy: breaker.BreakerPolicy = breaker.POLICY) -> int:
    """The most probes an open breaker lets through in `seconds` (step k waits at least lower(k)),
    and the one in flight when the time ran out."""
    waited, k = 0.0, 0
    while waited + policy.backoff.lower(k) <= seconds:
        waited += policy.backoff.lower(k)
        k += 1
    return k + 1


def failed_bound(seconds: float, policy: breaker.BreakerPolicy = breaker.POLICY) -> int:
    """The most failed requests the breaker lets reach a gateway down for `seconds`: the ones that
    open it, then one probe per step."""
    return policy.threshold + probes_within(seconds, policy)


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    outage_s = SHORT_OUTAGE_S if short else OUTAGE_S
    every_s = SHORT_ALERT_EVERY_S if short else ALERT_EVERY_S

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    alerts = int(outage_s // every_s)
    say(f"gateway-down: the SMS gateway answers 500 for {outage_s:g} s"
        f"{' (the ten minutes compressed: --short)' if short else ' (the issue ten minutes, real time)'}, "
        f"a new alert texting one contact every {every_s:g} s meanwhile ({alerts} alerts)")
    with tempfile.TemporaryDirectory(prefix="opscentre-drill-") as tmp, Rig(settings, tmp, say) as rig:
        zones = rig.contacts(alerts + 1)
        rig.start("notifier")
        rig.storm(zones[0])  # service as normal first: the notifier up, the gateway answering
        if not wait_until(rig.all_created, 120):
            raise RuntimeError("the notifier did not text the first contact: " + rig.log_tail("notifier"))
        rig.gateway.mode("fail")
        down_at = time.time()
        say(f"  {time.strftime('%H:%M:%S')} gateway down")
        for i, zone in enumerate(zones[1:]):
            _sleep_until(down_at + i * every_s)
            rig.storm(zone)
        _sleep_until(down_at + outage_s)
        rig.gateway.mode("ok")
        up_at = time.time()
        say(f"  {time.strftime('%H:%M:%S')} gateway back after {up_at - down_at:.1f} s; waiting for the messages")
        wait_until(rig.all_created, 120)
        time.sleep(1.0)  # a message sent twice would have reached the gateway by now
        wait_until(rig.all_recorded_sent, 30)
        tally = rig.tally()
        requests = rig.gateway.requests()
        created = rig.created()
        states = rig.delivery_states()
    failed = sum(1 for _to, at, outcome in requests if outcome == "failed" and down_at <= at <= up_at)
    waiting = [rig.phones[z] for z in zones[1:]]
    last = max((t for phone in waiting for t in created.get(phone, []) if t >= up_at), default=None)
    first = min((t for phone in waiting for t in created.get(phone, []) if t >= up_at), default=None)
    outage = up_at - down_at
    per_s = failed / outage
    bound = failed_bound(outage)
    recovery_bound = breaker.POLICY.backoff.cap_s + SEND_MARGIN_S
    recovery_s = round(last - up_at, 3) if last is not None else None
    expected = {"lost": 0, "duplicated": 0, "failed_requests_max": bound,
                "failed_per_s_goal": GOAL_FAILED_PER_S,
                "failed_per_s_max_10min": round(failed_bound(OUTAGE_S) / OUTAGE_S, 3),
                "recovery_s_max": recovery_bound, "recovery_s_goal": GOAL_RECOVERY_S}
    ok = (tally["lost"] == 0 and tally["duplicated"] == 0 and failed <= bound and recovery_s is not None
          and recovery_s <= recovery_bound and (short or per_s <= GOAL_FAILED_PER_S))
    result = {"drill": "gateway-down", "lost": tally["lost"], "duplicated": tally["duplicated"],
              "recovery_s": recovery_s, "expected": expected, "ok": ok, "short": short,
              "outage_s": round(outage, 1), "alerts_during_outage": alerts,
              "messages_expected": tally["messages_expected"], "strangers": tally["strangers"],
              "failed_requests": failed, "failed_per_s": round(per_s, 3),
              "alertmanager_failed_per_s": ALERTMANAGER_FAILED_PER_S,
              "fewer_than_alertmanager": round(ALERTMANAGER_FAILED_PER_S / per_s, 1) if per_s else None,
              "first_after_recovery_s": round(first - up_at, 3) if first is not None else None,
              "deliveries_by_state": states,
              "breaker": f"threshold {breaker.POLICY.threshold}, probe steps "
                         f"{breaker.POLICY.backoff.lower(0):g}-{breaker.POLICY.backoff.ceiling(0):g} s growing to "
                         f"{breaker.POLICY.backoff.lower(64):g}-{breaker.POLICY.backoff.cap_s:g} s"}
    say(f"  messages:         {tally['messages_expected']} expected, lost {tally['lost']}, duplicated "
        f"{tally['duplicated']}   expected: 0 and 0 (each contact exactly once)")
    say(f"  failed requests:  {failed} in {outage:.1f} s = {per_s:.3f}/s   expected: ≤ {bound} (the breaker's bound "
        f"for this outage); goal over ten minutes ≤ {GOAL_FAILED_PER_S:g}/s (Alertmanager ~{ALERTMANAGER_FAILED_PER_S:g}/s)"
        + (f"; the breaker's bound for 600 s: {expected['failed_per_s_max_10min']:g}/s" if short else ""))
    say(f"  recovery:         last message {recovery_s} s after the gateway came back (first "
        f"{result['first_after_recovery_s']} s)   expected: ≤ {recovery_bound:g} s (one probe step), goal ≤ "
        f"{GOAL_RECOVERY_S:g} s")
    say(f"  deliveries:       {states}")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


def _sleep_until(at: float) -> None:
    left = at - time.time()
    if left > 0:
        time.sleep(left)
