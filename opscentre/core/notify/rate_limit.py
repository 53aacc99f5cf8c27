"""The per-recipient SMS limit: no recipient is texted more than `notify.per_recipient_per_hour`
messages in any hour (a sliding window), except for emergencies, which always go (and count).

Checked when deliveries are planned, in one Lua script per batch, so the check and the count are
one atomic step: two notifiers planning at once cannot both let the limit's next message through.
Each recipient's window is a sorted set of the delivery ids texted to it, by planning time
(keys.sms_sent_to): a delivery is counted once however often its notification is read, and one
that is stored already (an outbox entry read twice) is neither checked nor counted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis import Redis

from opscentre.core import keys

WINDOW_S = 3600.0
BATCH = 500  # deliveries per script call: Redis is not held for long by a mass send

# KEYS: per delivery, its recipient's window then the delivery's own key.
# ARGV: now, window, limit, then per delivery its id and 1 if exempt (emergency).
# Returns per delivery: -1 admitted (counted), -2 stored already (untouched), n >= 0 refused
# (n: messages in the recipient's window).
_ADMIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS / 2 do
  local sent, delivery = KEYS[2 * i - 1], KEYS[2 * i]
  local id, exempt = ARGV[2 * i + 2], ARGV[2 * i + 3] == '1'
  if redis.call('exists', delivery) == 1 then
    out[i] = -2
  else
    redis.call('zremrangebyscore', sent, '-inf', now - window)
    local n = redis.call('zcard', sent)
    if redis.call('zscore', sent, id) then
      out[i] = -1
    elseif exempt or n < limit then
      redis.call('zadd', sent, now, id)
      redis.call('expire', sent, math.ceil(window) + 60)
      out[i] = -1
    else
      out[i] = n
    end
  end
end
return out
"""


@dataclass(frozen=True)
class Candidate:
    recipient_id: str
    delivery_id: str
    exempt: bool  # an emergency: goes whatever the count, and counts


class SmsRateLimit:
    def __init__(self, redis: Redis, per_hour: int, window_s: float = WINDOW_S):
        self.per_hour, self.window_s = per_hour, window_s
        self._admit = redis.register_script(_ADMIT)

    def check(self, candidates: Sequence[Candidate], now: float) -> list[int | None]:
        """Per candidate, in order: None when it may be texted (and is now counted), or how many
        messages its recipient had in the last hour when it may not. A delivery stored already
        gets None and changes nothing (its fate was decided when it was first planned)."""
        out: list[int | None] = []
        for start in range(0, len(candidates), BATCH):
            chunk = candidates[start:start + BATCH]
            script_keys = [k for c in chunk for k in (keys.sms_sent_to(c.recipient_id), keys.delivery(c.delivery_id))]
            args = [repr(now), repr(self.window_s), self.per_hour]
            args += [x for c in chunk for x in (c.delivery_id, "1" if c.exempt else "0")]
            out += [None if n < 0 else int(n) for n in self._admit(keys=script_keys, args=args)]
        return out
