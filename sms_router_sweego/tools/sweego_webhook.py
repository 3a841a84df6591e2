"""Sweego webhook signatures and event payloads, without any web framework.

Sweego signs each call the Standard Webhooks way: headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature``, the signature being
base64(HMAC-SHA256(key=base64decode(secret), "{id}.{timestamp}.{raw body}")). The
controller hands the raw bytes and those headers here; nothing is trusted before
``verify_signature`` said yes.
"""
import base64
import binascii
import hashlib
import hmac
import json
import time

from ...sms_router.engine.routing import international_digits
from .sweego_client import PRICE_CURRENCY, price_amount, scalar_text

DEFAULT_TOLERANCE = 300
# Standard Webhooks secrets are shown as 'whsec_<base64>'; the prefix is not part of the key.
# Whether Sweego's dashboard shows it is unverified, so both forms are accepted.
SECRET_PREFIX = 'whsec_'
# Standard Webhooks versions each signature ('v1,<base64>'); Sweego sends the bare base64
# (as Symfony's Sweego bridge checks it). Both are accepted.
SIGNATURE_VERSION = 'v1,'


def signing_key(secret):
    """The HMAC key behind a webhook secret; ValueError when the secret is not base64."""
    if not isinstance(secret, str) or not secret.strip():
        raise ValueError('empty webhook secret')
    secret = secret.strip()
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX):]
    try:
        # Secrets copied without their '=' padding are common; the padding carries no data.
        return base64.b64decode(secret + '=' * (-len(secret) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError('webhook secret is not base64') from None


def sign(secret, webhook_id, timestamp, raw_body):
    """The signature Sweego would send for this call (bare base64, no version prefix)."""
    return _signature(signing_key(secret), webhook_id, timestamp, _as_bytes(raw_body))


def verify_signature(secret, webhook_id, timestamp, raw_body, signature_header, now=None,
                     tolerance=DEFAULT_TOLERANCE):
    """Whether a webhook call is authentic and fresh. Never raises: garbage is False."""
    try:
        key = signing_key(secret)
        moment = int(str(timestamp).strip())
        body = _as_bytes(raw_body)
    except (TypeError, ValueError):
        return False
    if not isinstance(webhook_id, str) or not webhook_id or not isinstance(signature_header, str):
        return False
    # The timestamp is signed, so bounding it stops a captured call from being replayed later.
    now = time.time() if now is None else now
    if abs(now - moment) > tolerance:
        return False
    # Sign the timestamp exactly as received: that string is what Sweego signed.
    expected = _signature(key, webhook_id, str(timestamp), body).encode('ascii')
    # Several signatures may come at once while a secret is rotated: any one is enough.
    # Every candidate is compared, in constant time, so timing tells nothing about which.
    matched = False
    for candidate in signature_header.split():
        if candidate.startswith(SIGNATURE_VERSION):
            candidate = candidate[len(SIGNATURE_VERSION):]
        matched |= hmac.compare_digest(expected, candidate.encode('utf-8', 'replace'))
    return matched


def parse_event(raw_body):
    """The fields the router needs from a Sweego SMS event; ValueError for anything else.

    Sweego's SMS events carry 'event_type' (sms_sent, sms_undelivered, sms_stop,
    sms_clicked); 'type' is accepted too because no primary source fixed the field name
    (unverified). 'phone_number' arrives as '0033...' and is returned in E.164.
    'sms_price' (what the SMS cost, all its parts; a string or a number) and 'nb_segments'
    are returned as ``price`` (in ``PRICE_CURRENCY``) and ``segments``, None when absent
    or unreadable (see sweego_client.price_amount).
    """
    try:
        payload = json.loads(_as_bytes(raw_body))
    except (TypeError, ValueError):
        raise ValueError('Sweego webhook body is not JSON') from None
    if not isinstance(payload, dict):
        raise ValueError('Sweego webhook body is not a JSON object')
    event_type = scalar_text(payload.get('event_type')) or scalar_text(payload.get('type'))
    if not event_type:
        raise ValueError('Sweego webhook event has no event type')
    swg_uid = scalar_text(payload.get('swg_uid'))
    phone_number = _e164(payload.get('phone_number'))
    if not swg_uid and not phone_number:
        raise ValueError('Sweego webhook event names neither a message nor a number')
    return {
        'event_id': scalar_text(payload.get('event_id')),
        'type': event_type,
        'swg_uid': swg_uid,
        'transaction_id': scalar_text(payload.get('transaction_id')),
        'phone_number': phone_number,
        'status': scalar_text(payload.get('status')),
        'price': price_amount(payload.get('sms_price')),
        'currency': PRICE_CURRENCY,
        'segments': _segments(payload.get('nb_segments')),
        'raw': payload,
    }


def _segments(value):
    """``nb_segments`` as a positive int, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        segments = int(str(value).strip())
    except ValueError:
        return None
    return segments if segments > 0 else None


def _signature(key, webhook_id, timestamp, body):
    signed = f'{webhook_id}.{timestamp}.'.encode('utf-8') + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode('ascii')


def _as_bytes(raw_body):
    # The signature covers the exact bytes received: a str is only accepted for convenience
    # and encoded as UTF-8, which is what Sweego sends.
    if isinstance(raw_body, bytes):
        return raw_body
    if isinstance(raw_body, str):
        return raw_body.encode('utf-8')
    raise TypeError('raw body must be bytes')


def _e164(number):
    """'+33612345678' from '0033612345678' or '+33612345678'; None for any other form.

    A national form ('0612...') cannot be made international without guessing the country.
    """
    number = scalar_text(number)
    if not number or not number.startswith(('+', '00')):
        return None
    digits = international_digits(number)
    return f'+{digits}' if digits else None
