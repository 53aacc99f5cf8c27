"""When requests refused by a half-open breaker come back (pure)."""

import random

from opscentre.core.notify import breaker as br

T0 = 1_000_000.0
POLICY = br.BreakerPolicy(threshold=3, probe_timeout_s=60)


def test_requests_refused_while_the_probe_is_out_ask_again_one_steps_floor_later_not_after_the_probe_timeout():
    b = br.Breaker(state=br.BreakerState.OPEN, failures=3, step=3, retry_at=T0)
    b, probe = br.transition(b, br.BreakerEvent.REQUEST, T0, random.Random(1), POLICY)
    b, other = br.transition(b, br.BreakerEvent.REQUEST, T0 + 0.1, random.Random(1), POLICY)
    assert probe and not other and b.wait_until() == T0 + POLICY.backoff.lower(3)  # 7 s, not 60
    b, again = br.transition(b, br.BreakerEvent.REQUEST, b.wait_until(), random.Random(1), POLICY)
    assert not again and b.wait_until() == T0 + 2 * POLICY.backoff.lower(3)  # still out: later again
    b, _ = br.transition(b, br.BreakerEvent.SUCCESS, T0 + 9, random.Random(1), POLICY)
    assert br.transition(b, br.BreakerEvent.REQUEST, T0 + 9, random.Random(1), POLICY)[1]
