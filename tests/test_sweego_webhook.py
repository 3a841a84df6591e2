"""Sweego webhook signature checks and event parsing."""
import base64
import json

import pytest

from addons.sms_router_sweego.tools import sweego_webhook
from addons.sms_router_sweego.tools.sweego_webhook import parse_event, sign, verify_signature

SECRET = base64.b64encode(b'sweego-webhook-signing-key-0001').decode()
WEBHOOK_ID = 'a5ccc627-6e43-4012-bb29-f1bfe3a3d13e'
TIMESTAMP = '1725290740'
NOW = 1725290740 + 12
BODY = json.dumps({
    'event_type': 'sms_sent', 'swg_uid': '03-f237cd16', 'event_id': WEBHOOK_ID,
    'transaction_id': '18801d91', 'phone_number': '0033612345678', 'status': 'sent',
}).encode()


def verify(header, secret=SECRET, body=BODY, timestamp=TIMESTAMP, now=NOW, webhook_id=WEBHOOK_ID):
    return verify_signature(secret, webhook_id, timestamp, body, header, now=now)


def test_signature_matches_a_published_reference_vector():
    # Symfony's Sweego bridge test suite: empty key, its sent.json fixture (with its final
    # newline), and the signature it expects. Checks the signed string and the encoding.
    fixture = (
        '{\n  "event_type": "sms_sent",\n  "timestamp": "2024-09-02T17:25:43",\n'
        '  "swg_uid": "03-f237cd16-a013-4e35-a279-c9eaa994e82b",\n'
        '  "event_id": "a5ccc627-6e43-4012-bb29-f1bfe3a3d13e",\n  "channel": "sms",\n'
        '  "client_id": "de1bbe6f-4103-47b1-8f69-94856aaba3fc",\n  "country_code": "FR",\n'
        '  "phone_number": "0033612345678",\n  "sender_id": "38082",\n'
        '  "sms_type": "transactional",\n  "sms_price": 0.04,\n  "campaign_id": null,\n'
        '  "test_mode": false,\n  "send_date": "2024-09-02T15:25:40.577165",\n'
        '  "mobile_network_code": 1,\n  "mobile_country_code": 208\n}\n'
    ).encode()
    assert sweego_webhook._signature(b'', WEBHOOK_ID, TIMESTAMP, fixture) == \
        'k7SwzHXZqVKNvCpp6HwGS/5aDZ6NraYnKmVkBdx7MHE='


def test_valid_signature_is_accepted():
    assert verify(sign(SECRET, WEBHOOK_ID, TIMESTAMP, BODY)) is True


def test_whsec_prefix_and_missing_padding_are_tolerated():
    header = sign(SECRET, WEBHOOK_ID, TIMESTAMP, BODY)
    assert verify(header, secret='whsec_' + SECRET.rstrip('=')) is True


def test_tampered_body_is_rejected():
    header = sign(SECRET, WEBHOOK_ID, TIMESTAMP, BODY)
    assert verify(header, body=BODY.replace(b'sms_sent', b'sms_stop')) is False


def test_other_webhook_id_is_rejected():
    header = sign(SECRET, WEBHOOK_ID, TIMESTAMP, BODY)
    assert verify(header, webhook_id='another-id') is False


def test_wrong_secret_is_rejected():
    other = base64.b64encode(b'another-secret').decode()
    assert verify(sign(other, WEBHOOK_ID, TIMESTAMP, BODY)) is False


def test_empty_secret_never_accepts():
    header = sweego_webhook._signature(b'', WEBHOOK_ID, TIMESTAMP, BODY)
    assert verify(header, secret='') is False


@pytest.mark.parametrize('offset, accepted', [(300, True), (-300, True), (301, False),
                                              (-301, False), (86400, False)])
def test_timestamp_must_be_within_tolerance(offset, accepted):
    header = sign(SECRET, WEBHOOK_ID, TIMESTAMP, BODY)
    assert verify(header, now=int(TIMESTAMP) + offset) is accepted


@pytest.mark.parametrize('header', ['', 'garbage', 'v1,', 'v1,!!!', '\x00\xff é', 'v2,abc=='])
def test_garbage_header_is_rejected(header):
    assert verify(header) is False


@pytest.mark.parametrize('secret, timestamp, body, header', [
    ('not base64 !', TIMESTAMP, BODY, 'x'),
    (None, TIMESTAMP, BODY, 'x'),
    (SECRET, 'yesterday', BODY, 'x'),
    (SECRET, None, BODY, 'x'),
    (SECRET, TIMESTAMP, None, 'x'),
    (SECRET, TIMESTAMP, BODY, None),
    (SECRET, TIMESTAMP, BODY, 42),
])
def test_garbage_input_never_raises(secret, timestamp, body, header):
    assert verify(header, secret=secret, timestamp=timestamp, body=body) is False


def test_any_of_several_signatures_may_match():
    good = sign(SECRET, WEBHOOK_ID, TIMESTAMP, BODY)
    stale = sign(base64.b64encode(b'rotated-out').decode(), WEBHOOK_ID, TIMESTAMP, BODY)
    assert verify(f'v1,{stale} v1,{good}') is True
    assert verify(f'{good} {stale}') is True
    assert verify(f'v1,{stale} v1,{stale}') is False


# -- events --------------------------------------------------------------------------------

def test_event_is_normalised():
    assert parse_event(BODY) == {
        'event_id': WEBHOOK_ID,
        'type': 'sms_sent',
        'swg_uid': '03-f237cd16',
        'transaction_id': '18801d91',
        'phone_number': '+33612345678',
        'status': 'sent',
        'price': None,
        'currency': 'EUR',
        'segments': None,
        'raw': json.loads(BODY),
    }


@pytest.mark.parametrize('price, segments, expected', [
    ('0.045', 1, (0.045, 1)),          # as the events carry it: a string, with the parts
    (0.09, '2', (0.09, 2)),
    ('-0.135', 3, (0.135, 3)),         # a debit written with its sign: the amount
    ('0', 1, (0.0, 1)),
    ('', 0, (None, None)),
    ('n/a', -2, (None, None)),
    (None, None, (None, None)),
    (True, True, (None, None)),
    ('nan', 'x', (None, None)),
])
def test_event_price_and_segments(price, segments, expected):
    event = parse_event(json.dumps({'event_type': 'sms_sent', 'swg_uid': 'u',
                                    'sms_price': price, 'nb_segments': segments}))
    assert (event['price'], event['segments']) == expected
    assert event['currency'] == 'EUR'


def test_event_type_may_come_as_type_and_optional_fields_as_none():
    event = parse_event(json.dumps({'type': 'sms_stop', 'phone_number': '+33612345678'}))
    assert (event['type'], event['phone_number'], event['swg_uid'], event['event_id']) == \
        ('sms_stop', '+33612345678', None, None)


def test_national_number_is_not_turned_into_a_wrong_e164():
    event = parse_event(json.dumps({'event_type': 'sms_sent', 'swg_uid': 'u',
                                    'phone_number': '0612345678'}))
    assert event['phone_number'] is None


@pytest.mark.parametrize('body', [
    b'', b'not json', b'\xff\xfe', b'[1, 2]', b'"sms_sent"', b'{}',
    b'{"event_type": "sms_sent"}',                       # names no message and no number
    b'{"swg_uid": "u", "phone_number": "0033612345678"}',  # no event type
    b'{"event_type": 12.5, "swg_uid": "u"}',
])
def test_garbage_events_raise_value_error(body):
    with pytest.raises(ValueError):
        parse_event(body)
