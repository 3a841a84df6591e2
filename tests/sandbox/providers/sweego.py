"""Sweego: ``POST /send``, the SMS credit balance and signed webhook events."""
import base64
import hashlib
import hmac
import http
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from ..common import iso, normalize_number, same, sms_parts
from ..settings import as_int, as_str, as_str_list
from .base import Provider

SWEEGO_API_KEY = 'sandbox-sweego-key'
SWEEGO_WEBHOOK_SECRET = base64.b64encode(b'sandbox-sweego-webhook-secret').decode()


def sweego_signature(secret, webhook_id, timestamp, body):
    """base64(HMAC-SHA256(base64decode(secret), '{id}.{timestamp}.{body}'))."""
    if isinstance(body, str):
        body = body.encode()
    if secret.startswith('whsec_'):
        secret = secret[len('whsec_'):]
    key = base64.b64decode(secret)
    message = f'{webhook_id}.{timestamp}.'.encode() + body
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _error(loc, msg, kind):
    return {'loc': loc, 'msg': msg, 'type': kind}


class Sweego(Provider):
    name = 'sweego'
    endpoint_suffix = ''
    price_unit = 'EUR'
    defaults = {
        'api_keys': [SWEEGO_API_KEY],
        'client_uuids': [],           # empty: any well-formed UUID is accepted
        'credit': '10000.00',
        'part_price': '0.05',
        'max_recipients': 1000,
        'webhook_url': None,
        'webhook_secret': SWEEGO_WEBHOOK_SECRET,
        'webhook_signature_prefix': '',   # e.g. 'v1,' for the Standard Webhooks layout
    }
    schema = {
        'api_keys': as_str_list,
        'client_uuids': as_str_list,
        'max_recipients': as_int(1),
        'webhook_url': as_str(optional=True),
        'webhook_secret': as_str(),
        'webhook_signature_prefix': as_str(),
    }

    def is_send(self, method, path):
        return method == 'POST' and path == '/send'

    def error_answer(self, request, status, headers):
        phrase = http.HTTPStatus(status).phrase
        if status == 500:
            request.reply(500, phrase, 'text/plain; charset=utf-8', headers)
        else:
            request.reply_json(status, {'detail': phrase}, headers)

    def handle(self, request, method, path, query, body, fault):
        key = request.headers.get('Api-Key')
        if method == 'POST' and path == '/send':
            if not self._key_ok(key):
                request.reply_json(401, {'detail': 'Invalid or missing API key'})
                return
            request.reply_json(*self._send(body, fault))
            return
        match = re.fullmatch(r'/clients/([^/]+)/billing/credits/sms', path)
        if method == 'GET' and match:
            if not self._key_ok(key):
                request.reply_json(401, {'detail': 'Invalid or missing API key'})
                return
            request.reply_json(*self._credits(match.group(1), fault))
            return
        request.reply_json(404 if method in ('GET', 'POST') else 405, {'detail': 'Not Found'})

    def _key_ok(self, key):
        keys = self.setting('api_keys')
        return bool(key) and any(same(key, k) for k in keys)

    def _send(self, raw, fault):
        try:
            payload = json.loads(raw or b'')
        except ValueError as error:
            return 422, {'detail': [_error(['body', 0], f'JSON decode error: {error}',
                                           'value_error.jsondecode')]}
        if not isinstance(payload, dict):
            return 422, {'detail': [_error(['body'], 'value is not a valid dict',
                                           'type_error.dict')]}
        config = self.config()
        errors = []

        def require(name, check, msg, kind):
            if name not in payload:
                errors.append(_error(['body', name], 'field required', 'value_error.missing'))
            elif not check(payload[name]):
                errors.append(_error(['body', name], msg, kind))

        require('channel', lambda v: v == 'sms', "value is not a valid enumeration member; "
                "permitted: 'sms'", 'type_error.enum')
        require('provider', lambda v: v == 'sweego', "value is not a valid enumeration member; "
                "permitted: 'sweego'", 'type_error.enum')
        require('campaign-type', lambda v: v in ('transac', 'market'),
                "value is not a valid enumeration member; permitted: 'transac', 'market'",
                'type_error.enum')
        require('message-txt', lambda v: isinstance(v, str) and v.strip(),
                'ensure this value has at least 1 characters', 'value_error.any_str.min_length')
        require('recipients', lambda v: isinstance(v, list) and v,
                'ensure this value has at least 1 items', 'value_error.list.min_items')
        for name, check in (('sender-id', lambda v: isinstance(v, str) and 0 < len(v) <= 11),
                            ('campaign-id', lambda v: isinstance(v, str)),
                            ('shorten-urls', lambda v: isinstance(v, bool))):
            if name in payload and payload[name] is not None and not check(payload[name]):
                errors.append(_error(['body', name], 'invalid value', 'value_error'))
        if errors:
            return 422, {'detail': errors}
        recipients = payload['recipients']
        if len(recipients) > config['max_recipients']:
            return 413, {'detail': f'Too many recipients ({len(recipients)} > '
                                   f'{config["max_recipients"]})'}
        numbers = []
        for index, recipient in enumerate(recipients):
            loc = ['body', 'recipients', index]
            if not isinstance(recipient, dict) or not isinstance(recipient.get('num'), str):
                errors.append(_error(loc + ['num'], 'field required', 'value_error.missing'))
                continue
            region = recipient.get('region')
            if region is not None and not (
                    isinstance(region, str) and re.fullmatch(r'[A-Za-z]{2}', region)):
                errors.append(_error(loc + ['region'], 'invalid region', 'value_error.region'))
                continue
            digits = normalize_number(recipient['num'], region)
            if self.is_invalid(config, digits, fault):
                errors.append(_error(loc + ['num'], 'value is not a valid phone number',
                                     'value_error.phone_number'))
                continue
            numbers.append(digits)
        if errors:
            self.bump('recipients_rejected', sum(
                1 for e in errors if e['loc'][:2] == ['body', 'recipients']))
            return 422, {'detail': errors}
        text = payload['message-txt']
        parts = sms_parts(text)
        prices = self.charge_messages([(digits, parts) for digits in numbers], fault)
        if prices is None:
            left = Decimal(0) if fault == 'no_credit' else self.setting('credit')
            return 402, {'detail': f'Insufficient SMS credits: {left:.2f} left'}
        transaction_id = str(uuid.uuid4())
        uids = {}
        now = time.time()
        delay = config['callback_delay_ms'] / 1000.0
        price_of = {}
        for digits, price in zip(numbers, prices, strict=True):
            uid = uids.setdefault('00' + digits, f'03-{uuid.uuid4()}')
            price_of[uid] = price
            self.store({
                'id': uid, 'provider': 'sweego', 'batch_id': transaction_id, 'to': '+' + digits,
                'body': text, 'parts': parts, 'price': str(price), 'created_at': now,
                'undelivered': self.undelivered(config, digits, fault),
                'opted_out': digits in config['unsubscribed_numbers'],
                '_delay': delay, '_initial_status': 'queued',
            })
        self.bump('recipients_accepted', len(numbers))
        if config['webhook_url']:
            for key, uid in uids.items():
                digits = key[2:]
                self._events(config, transaction_id, uid, key, digits, parts, price_of[uid], delay)
        left = self.setting('credit')
        return 200, {
            'transaction_id': transaction_id,
            'swg_uids': uids,
            'credit_left': f'{left:.2f}',
            'channel': 'sms',
            'provider': 'sweego',
        }

    def _events(self, config, transaction_id, uid, phone, digits, parts, price, delay):
        """sms_sent, then sms_undelivered / sms_stop when configured, signed; each carries
        what the SMS cost (``sms_price``: every part, at its destination's price, in euros;
        a JSON number as in Sweego's sample events) and its ``nb_segments``. The send answer
        gives no price, like Sweego's."""
        price = float(price)
        steps = [('sms_sent', 'sent')]
        if self.sandbox.is_undelivered(self.name, uid):
            steps.append(('sms_undelivered', 'undelivered'))
        if digits in config['unsubscribed_numbers']:
            steps.append(('sms_stop', 'stop'))
        secret = config['webhook_secret']
        prefix = config['webhook_signature_prefix']

        def make(event_type, status):
            event_id = str(uuid.uuid4())
            event = {
                'event_id': event_id, 'event_type': event_type, 'channel': 'sms',
                'swg_uid': uid, 'transaction_id': transaction_id, 'phone_number': phone,
                'status': status, 'nb_segments': parts, 'sms_price': price,
            }

            def render():
                timestamp = str(int(time.time()))
                event['timestamp'] = iso(time.time())
                body = json.dumps(event).encode()
                signature = prefix + sweego_signature(secret, event_id, timestamp, body)
                return body, {'Content-Type': 'application/json', 'webhook-id': event_id,
                              'webhook-timestamp': timestamp, 'webhook-signature': signature,
                              'User-Agent': 'SmsSandbox-Sweego-Webhook/1.0'}
            return render

        self.send_callbacks(config['webhook_url'], [make(*step) for step in steps], delay)

    def _credits(self, client_uuid, fault):
        config = self.config()
        allowed = config['client_uuids']
        amount = Decimal(0) if fault == 'no_credit' else config['credit']
        try:
            uuid.UUID(client_uuid)
        except ValueError:
            return 404, {'detail': 'Client not found'}
        if allowed and client_uuid not in allowed:
            return 403, {'detail': 'Not allowed for this client'}
        termination = (datetime.now(timezone.utc) + timedelta(days=365)).date().isoformat()
        return 200, {'type': 'sms', 'amount': float(amount), 'termination_date': termination}
