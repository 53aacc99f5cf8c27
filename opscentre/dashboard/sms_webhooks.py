"""The SMS provider's callbacks: inbound messages (/webhooks/sms-inbound) and delivery receipts
(/webhooks/sms-status).

Each request is signature-checked as Twilio documents: `X-Twilio-Signature` is an HMAC of the
URL the provider called (OPSCENTRE_PUBLIC_URL + the path) and the form fields, keyed with
TWILIO_AUTH_TOKEN — the twilio package's RequestValidator checks it. A bad or missing signature
gets 403 and changes nothing; without SMS credentials both answer 503.

A receipt for one of our messages with error 21610 (the number replied STOP at the carrier) opts
that number out, as a 21610 answer to a send does (core/notify/opt_out.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import redis
from flask import Blueprint, Response, jsonify, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from opscentre.core.alert_store import AlertStore
from opscentre.core.geo import Zones
from opscentre.core.notify import inbound, opt_out
from opscentre.core.notify.deliveries import Delivery
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.phones import PhoneError, masked, normalise
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.dashboard.redis_clients import REDIS_DOWN

log = logging.getLogger("opscentre.sms")


def _signed(auth_token: str) -> bool:
    public = (os.environ.get("OPSCENTRE_PUBLIC_URL") or "").rstrip("/")
    url = public + request.full_path.rstrip("?") if public else request.url
    signature = request.headers.get("X-Twilio-Signature", "")
    return bool(signature) and RequestValidator(auth_token).validate(url, request.form.to_dict(), signature)


def _twiml(text: str) -> Response:
    answer = MessagingResponse()
    answer.message(text)
    return Response(str(answer), mimetype="application/xml", headers={"Cache-Control": "no-store"})


def sms_webhooks_blueprint(client: redis.Redis, zones: Zones, auth_token: Callable[[], str | None]) -> Blueprint:
    """`auth_token()`: the provider's token (TWILIO_AUTH_TOKEN), None when SMS is not configured."""
    blueprint = Blueprint("sms_webhooks", __name__, url_prefix="/webhooks")
    recipients, audit, deliveries = RecipientStore(client), AlertStore(client), DeliveryStore(client)

    @blueprint.before_request
    def check_signature():
        token = auth_token()
        if not token:
            return jsonify(error="SMS is not configured (TWILIO_AUTH_TOKEN)"), 503
        if not _signed(token):
            log.warning("refused an SMS callback to %s from %s: bad or missing signature", request.path,
                        request.remote_addr)
            return jsonify(error="bad or missing X-Twilio-Signature"), 403
        return None

    @blueprint.post("/sms-inbound")
    def sms_inbound():
        try:
            phone = normalise(request.form.get("From", ""))
        except PhoneError:
            return _twiml(inbound.reply(inbound.Request(inbound.Ask.HELP, inbound.Language.PT_BR), zones))
        asked = inbound.parse(request.form.get("Body", ""), zones)
        now = time.time()
        try:
            if asked.ask is inbound.Ask.STOP:
                removed = recipients.remove_phone(phone, now)
                audit.record("sms", "recipient-opted-out", masked(phone), {"removed": removed}, now)
            elif asked.ask is inbound.Ask.SUBSCRIBE and asked.zone_id is not None:
                recipient = recipients.subscribe(phone, asked.zone_id, f"sms:{asked.zone_text}", now, lang=asked.lang)
                audit.record("sms", "recipient-subscribed", masked(phone),
                             {"recipient": recipient.id, "zone_id": asked.zone_id}, now)
        except REDIS_DOWN:
            return jsonify(error="Redis unreachable — the provider will retry"), 503
        return _twiml(inbound.reply(asked, zones))

    @blueprint.post("/sms-status")
    def sms_status():
        provider_id = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
        status = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").lower()
        if not provider_id or not status:
            return jsonify(error="a receipt needs MessageSid and MessageStatus"), 400
        code, now = request.form.get("ErrorCode") or None, time.time()
        try:
            delivery = deliveries.apply_receipt(provider_id, status, code, now, key=request.args.get("k"))
            if delivery is not None and delivery.channel == "sms" and opt_out.unsubscribed(code):
                phone = _texted(delivery, request.form.get("To", ""))
                if phone is not None:
                    opt_out.opt_out_number(recipients, audit, phone, str(code).strip(), now)
        except REDIS_DOWN:
            return jsonify(error="Redis unreachable — the provider will retry"), 503
        if delivery is None:
            log.warning("receipt for an unknown message %s (%s)", provider_id[:64], status[:20])
            return jsonify(error="unknown message"), 404
        return jsonify(delivery=delivery.id, state=delivery.state.value)

    def _texted(delivery: Delivery, to: str) -> str | None:
        """The number a delivery went to: its recipient's, or (the recipient is gone) the receipt's To."""
        recipient = recipients.get(delivery.recipient_id)
        if recipient is not None:
            return recipient.phone
        try:
            return normalise(to)
        except PhoneError:
            return None

    return blueprint
