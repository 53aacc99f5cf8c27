"""Notification channels: one module each, plus one line in REGISTRY.

A channel sends one rendered message to one target and says what a failure means
(`DeliveryFailed.retryable`); the delivery lifecycle (deliveries.py), its store
(delivery_store.py) and the dispatcher (dispatch.py) do the rest, the same for every channel.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opscentre.core.notify.channels import log, sms, webhook
from opscentre.core.notify.channels.base import (Channel, ChannelDisabled, DeliveryFailed, SendResult,
                                                  Verifiable, retry_after_s)

__all__ = ["Channel", "ChannelDisabled", "Channels", "DeliveryFailed", "REGISTRY", "SendResult", "Verifiable",
           "build", "retry_after_s"]

_log = logging.getLogger("opscentre.notify")

# channel name -> how to build it from the environment (raises ChannelDisabled with the reason)
REGISTRY: dict[str, Callable[[Mapping[str, str]], Channel]] = {
    "log": log.LogChannel.from_env,
    "webhook": webhook.WebhookChannel.from_env,
    "sms": sms.SmsChannel.from_env,
}


@dataclass
class Channels:
    enabled: dict[str, Channel] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)  # name -> why (for the start-up line and /healthz)


def build(env: Mapping[str, str] | None = None, names: list[str] | None = None) -> Channels:
    """Every registered channel (or those `names`) that its settings allow; the others with the
    reason each is off, logged once here. Never raises for a missing setting."""
    env = os.environ if env is None else env
    out = Channels()
    for name in names or list(REGISTRY):
        try:
            out.enabled[name] = REGISTRY[name](env)
        except ChannelDisabled as exc:
            out.disabled[name] = str(exc)
            _log.warning("%s", exc)
    return out
