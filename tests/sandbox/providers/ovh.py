"""OVH: the signed /1.0 API (auth time, SMS services, jobs, outgoing messages)."""
import hashlib
import http
import json
import re
import time
import urllib.parse
import uuid
from decimal import Decimal

from ..common import iso, normalize_number, number_key, same, sms_parts
from ..settings import as_float, as_str, as_str_list
from .base import Provider

OVH_APP_KEY = 'sandbox-ovh-ak'
OVH_APP_SECRET = 'sandbox-ovh-as'
OVH_CONSUMER_KEY = 'sandbox-ovh-ck'
OVH_SERVICE = 'sms-sandbox-1'


def ovh_signature(app_secret, consumer_key, method, url, body, timestamp):
    """'$1$' + sha1_hex('+'.join([secret, consumer, METHOD, url, body, timestamp]))."""
    if isinstance(body, str):
        body = body.encode()
    parts = [app_secret.encode(), consumer_key.encode(), method.upper().encode(), url.encode(),
             body or b'', str(timestamp).encode()]
    return '$1$' + hashlib.sha1(b'+'.join(parts)).hexdigest()


_BAD_URL = {'class': 'Client::NotFound', 'message': 'Got an invalid (or empty) URL'}
# The error faults' (class, message); another status gets its class from its phrase.
_FAULT_ERRORS = {
    500: ('Server::InternalServerError', 'Internal server error'),
    503: ('Server::ServiceUnavailable', 'Service temporarily unavailable'),
    429: ('Client::TooManyRequests', 'Too many requests'),
}


def _missing(what):
    return 404, {'class': 'Client::NotFound',
                 'message': f'The requested object ({what}) does not exist'}


def _bad(message):
    return 400, {'class': 'Client::BadRequest', 'message': message}


def _json_object(raw):
    """The JSON object in ``raw``, or None when it is not one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class Ovh(Provider):
    name = 'ovh'
    endpoint_suffix = '/1.0'
    price_unit = 'credits'      # OVH bills SMS credits; part_price(s) are credits per part
    defaults = {
        'app_key': OVH_APP_KEY,
        'app_secret': OVH_APP_SECRET,
        'consumer_key': OVH_CONSUMER_KEY,
        'services': [OVH_SERVICE],
        'time_window_s': 180.0,
        'clock_offset_s': 0.0,        # the sandbox clock, as /auth/time shows it, minus ours
        'senders': [],                # empty: any sender is accepted
        'credit': '100000',
        'part_price': '1',
    }
    schema = {
        'app_key': as_str(),
        'app_secret': as_str(),
        'consumer_key': as_str(),
        'services': as_str_list,
        'time_window_s': as_float(0),
        'clock_offset_s': as_float(),
        'senders': as_str_list,
    }

    def __init__(self, sandbox):
        super().__init__(sandbox)
        self._sequence = 270000000    # message ids; kept across resets, as OVH never reuses one
        self._service_settings = {}   # service -> callBack / stopCallBack / description (PUT)

    def reset(self):
        self._service_settings = {}

    def is_send(self, method, path):
        return method == 'POST' and bool(re.fullmatch(r'/1\.0/sms/[^/]+/jobs', path))

    def response_headers(self):
        return {'X-OVH-QUERYID': 'EU.ext-sandbox.' + uuid.uuid4().hex[:24]}

    def error_answer(self, request, status, headers):
        phrase = http.HTTPStatus(status).phrase
        default = (('Server::' if status >= 500 else 'Client::') + phrase.replace(' ', ''),
                   phrase.capitalize())
        cls, message = _FAULT_ERRORS.get(status, default)
        request.reply_json(status, {'class': cls, 'message': message}, headers)

    def handle(self, request, method, path, query, body, fault):
        headers = self.response_headers()
        if not path.startswith('/1.0/'):
            request.reply_json(404, _BAD_URL, headers)
            return
        path = path[len('/1.0'):]
        if path == '/auth/time' and method == 'GET':
            request.reply_json(200, self._now(), headers)
            return
        problem = self._auth_problem(
            method, request.full_url(), body,
            {name: request.headers.get(name) for name in (
                'X-Ovh-Application', 'X-Ovh-Consumer', 'X-Ovh-Timestamp', 'X-Ovh-Signature')})
        if problem:
            status, payload = problem
            request.reply_json(status, payload, headers)
            return
        status, payload = self._route(method, path, query, body, fault)
        request.reply_json(status, payload, headers)

    def _now(self):
        return int(time.time() + self.setting('clock_offset_s'))

    def _auth_problem(self, method, url, body, headers):
        """(status, payload) when the request is not correctly signed, else None."""
        config = self.config()

        def forbidden(message, code, status=403):
            label = {400: 'Client::BadRequest', 401: 'Client::Unauthorized',
                     403: 'Client::Forbidden'}[status]
            return status, {'class': label, 'message': message, 'errorCode': code,
                            'httpCode': f'{status} ' + {400: 'Bad Request', 401: 'Unauthorized',
                                                          403: 'Forbidden'}[status]}

        app_key = headers['X-Ovh-Application']
        if not app_key or not same(app_key, config['app_key']):
            return forbidden('This application key is invalid', 'INVALID_KEY')
        consumer = headers['X-Ovh-Consumer']
        if not consumer or not same(consumer, config['consumer_key']):
            return forbidden('This credential does not exist', 'INVALID_CREDENTIAL')
        timestamp = headers['X-Ovh-Timestamp'] or ''
        if not timestamp.isdigit():
            return forbidden('Invalid timestamp', 'INVALID_TIMESTAMP', 400)
        if abs(int(timestamp) - self._now()) > config['time_window_s']:
            return forbidden('Query out of time', 'QUERY_TIME_OUT', 400)
        signature = headers['X-Ovh-Signature'] or ''
        candidates = [url]
        if url.startswith('http://'):
            # Behind a TLS-terminating proxy the client signed the https URL.
            candidates.append('https://' + url[len('http://'):])
        for candidate in candidates:
            expected = ovh_signature(config['app_secret'], consumer, method, candidate, body,
                                     timestamp)
            if same(signature, expected):
                return None
        return forbidden('Invalid signature', 'INVALID_SIGNATURE')

    def _route(self, method, path, query, body, fault):
        config = self.config()
        not_found = (404, _BAD_URL)
        if path == '/auth/currentCredential' and method == 'GET':
            return 200, {'credentialId': 1, 'applicationId': 1, 'status': 'validated',
                         'rules': [{'method': m, 'path': '/sms/*'} for m in ('GET', 'POST', 'PUT')],
                         'creation': iso(time.time() - 86400), 'expiration': None,
                         'lastUse': iso(time.time())}
        if path == '/sms' and method == 'GET':
            return 200, list(config['services'])
        match = re.fullmatch(r'/sms/([^/]+)(/.*)?', path)
        if not match:
            return not_found
        service, rest = urllib.parse.unquote(match.group(1)), match.group(2) or ''
        if service not in config['services']:
            return _missing(f'serviceName = {service}')
        if not rest and method == 'GET':
            credits = Decimal(0) if fault == 'no_credit' else config['credit']
            stored = self._service_settings.get(service, {})
            return 200, {
                'name': service, 'description': 'SMS sandbox', 'status': 'enable',
                'creditsLeft': float(credits), 'creditsHoldByQuota': 0, 'userQuantityWithQuota': 0,
                'channel': 'both', 'smsResponse': {'responseType': 'cgi', 'text': '', 'cgiUrl': '',
                                                    'trackingOptions': []},
                'callBack': stored.get('callBack', ''),
                'stopCallBack': stored.get('stopCallBack', ''),
                'automaticRecreditAmount': None, 'creditThresholdForAutomaticRecredit': 0,
                'templates': {'customizedEmailMode': False, 'customizedSmsMode': False},
            }
        if not rest and method == 'PUT':
            data = _json_object(body or b'{}')
            if data is None:
                return _bad('Invalid JSON body')
            with self.lock:
                stored = self._service_settings.setdefault(service, {})
                for key in ('callBack', 'stopCallBack', 'description'):
                    if key in data:
                        stored[key] = str(data[key] or '')
            return 200, None
        if rest == '/jobs' and method == 'POST':
            return self._send(service, body, fault, config)
        if rest == '/jobs' and method == 'GET':
            return 200, []
        if rest == '/outgoing' and method == 'GET':
            records = self.stored_messages()
            tag = query.get('tag', [None])[-1]
            receiver = query.get('receiver', [None])[-1]
            return 200, [r['id'] for r in records if r['service'] == service
                         and (tag is None or r['tag'] == tag)
                         and (receiver is None or r['to'] == receiver)]
        match = re.fullmatch(r'/outgoing/(\d+)', rest)
        if match and method == 'GET':
            record = self.stored(int(match.group(1)))
            if record is None or record['service'] != service:
                return _missing(f'id = {match.group(1)}')
            return 200, self._outgoing(record)
        return not_found

    def _send(self, service, raw, fault, config):
        payload = _json_object(raw or b'')
        if payload is None:
            return _bad('Invalid JSON received')
        message = payload.get('message')
        if not isinstance(message, str) or not message:
            return _bad('[message] Missing parameter')
        if 'receiversDocumentUrl' in payload or 'receiversSlotId' in payload:
            return _bad('receiversDocumentUrl / receiversSlotId are not supported by the sandbox')
        receivers = payload.get('receivers')
        if not isinstance(receivers, list) or not receivers or \
                not all(isinstance(r, str) for r in receivers):
            return _bad('[receivers] Missing or invalid parameter')
        choices = {'priority': ('high', 'low', 'medium', 'veryLow'), 'coding': ('7bit', '8bit'),
                   'class': ('flash', 'phoneDisplay', 'sim', 'toolkit'), 'charset': ('UTF-8',)}
        for name, allowed in choices.items():
            if name in payload and payload[name] not in allowed:
                return _bad(f'[{name}] Invalid value {payload[name]!r}')
        for name in ('noStopClause', 'senderForResponse'):
            if name in payload and not isinstance(payload[name], bool):
                return _bad(f'[{name}] Expected a boolean')
        for name in ('validityPeriod', 'differedPeriod'):
            value = payload.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                return _bad(f'[{name}] Expected an integer')
        sender = payload.get('sender')
        if sender is not None and not isinstance(sender, str):
            return _bad('[sender] Expected a string')
        if sender and config['senders'] and sender not in config['senders']:
            return 403, {'class': 'Client::Forbidden',
                         'message': f'The sender {sender} does not exist'}
        tag = payload.get('tag')
        valid, invalid, digits_list = [], [], []
        for receiver in receivers:
            text = receiver.strip()
            digits = normalize_number(text) if text.startswith(('+', '00')) else None
            if self.is_invalid(config, digits, fault) or digits in config['unsubscribed_numbers']:
                invalid.append(receiver)
            else:
                valid.append(receiver)
                digits_list.append(digits)
        opted_out = sum(1 for r in invalid if number_key(r) in config['unsubscribed_numbers'])
        self.bump('recipients_opted_out', opted_out)
        self.bump('recipients_rejected', len(invalid) - opted_out)
        parts = sms_parts(message)
        prices = []
        if digits_list:
            prices = self.charge_messages([(digits, parts) for digits in digits_list], fault)
            if prices is None:
                return 403, {'class': 'Client::Forbidden',
                             'message': 'Not enough credits to send this message'}
        cost = sum(prices, Decimal(0))
        ids = []
        now = time.time()
        delay = config['callback_delay_ms'] / 1000.0
        with self.lock:
            for digits, credits in zip(digits_list, prices, strict=True):
                self._sequence += 1
                ids.append(self._sequence)
                self.store({
                    'id': self._sequence, 'provider': 'ovh', 'batch_id': None,
                    'service': service, 'to': '+' + digits, 'sender': sender or '',
                    'body': message, 'parts': parts, 'tag': tag, 'created_at': now,
                    'undelivered': self.undelivered(config, digits, fault), 'opted_out': False,
                    '_delay': delay, '_initial_status': 'queued',
                    '_credits': str(credits),
                })
        self.bump('recipients_accepted', len(ids))
        total = int(cost) if cost == cost.to_integral_value() else float(cost)
        return 200, {'ids': ids, 'validReceivers': valid, 'invalidReceivers': invalid,
                     'totalCreditsRemoved': total, 'tag': tag}

    def _outgoing(self, record):
        status, sent_at, done_at = self.status(record, time.time())
        # Delivery receipt codes as OVH's callbacks use them (unverified for outgoing objects):
        # 1 delivered, 2 not delivered, 4 buffered, 8 accepted by the SMSC.
        receipt = {'queued': 4, 'sent': 8, 'delivered': 1, 'undelivered': 2}[status]
        return {
            'id': record['id'], 'receiver': record['to'], 'sender': record['sender'],
            'message': record['body'], 'tag': record['tag'],
            'creationDatetime': iso(record['created_at']), 'sentAt': iso(sent_at),
            'deliveredAt': iso(done_at) if status == 'delivered' else None,
            'deliveryReceipt': receipt, 'ptt': receipt, 'credits': float(record['_credits']),
            'differedDelivery': 0, 'messageLength': len(record['body']),
            'tariffCode': None, 'status': status,
        }
