"""Plivo: the Message API (``POST /v1/Account/{auth_id}/Message/``) and its status callbacks.

Written from Plivo's public documentation:

* Send a message: https://www.plivo.com/docs/messaging/api/messages (and the legacy
  https://www.plivo.com/docs/sms/api/message/send-a-message): HTTP Basic authentication with
  the Auth ID and Auth Token, a JSON body; ``src`` ("Either src or powerpack_uuid is
  required"), ``dst`` "Destination phone number in E.164 format. For multiple recipients,
  separate with < (e.g., 14156667777<14157778888)", ``text`` "max 1,600 GSM characters or 737
  Unicode characters", ``type`` sms (default), ``url`` and ``method`` (the status callback,
  POST by default), ``log``. The answer: 202 {``api_id``, ``message`` "message(s) queued",
  ``message_uuid`` [one per destination], ``invalid_number`` [the destinations refused]};
  errors {``api_id``, ``error``}. The detailed reference
  https://www.plivo.com/docs/sms/detailed-reference/api/message/send-a-message/ : ``dst`` "The
  following characters are stripped off automatically as part of the sanitization process: /,
  -, ., +, (, ) and white spaces. Sanitized phone numbers must begin with the international
  country code (ex: 14152828726), and should be <= 14 characters in length"; ``src`` "All
  characters other than A-Z, a-z, 0-9 are stripped off automatically [...] Sanitized alphanumeric
  sender ids should be <= 11 characters in length".
* Bulk messaging: https://www.plivo.com/docs/sms/detailed-reference/api/message/bulk-messaging/
  ("The API verifies that each destination number is in the correct format and removes
  duplicates. Valid destination numbers are accepted, and a list of invalid destination numbers
  is returned in the message response. The Message API supports up to 1,000 unique destination
  numbers"; HTTP 202 with ``invalid_number``).
* Status callbacks: https://www.plivo.com/docs/messaging/api/message/message-status-callbacks
  ("passed as form data if the method configured is POST, and as query parameters if it's
  GET": ``MessageUUID``, ``To``, ``From``, ``Type``, ``Status`` queued / sent / failed /
  delivered / undelivered, ``Units``, ``TotalRate``, ``TotalAmount``, ``MCC``, ``MNC``,
  ``ErrorCode`` "only defined for failed or undelivered messages", ``ParentMessageUUID``,
  ``PartInfo``, ``Sequence``, ``MessageTime``, ``QueuedTime``, ``SentTime``,
  ``DeliveryReportTime``).
* Error codes of the callbacks: https://www.plivo.com/docs/messaging/troubleshooting/error-codes
  (80 "Destination temporarily unavailable" is what an undelivered SMS carries here).
"""
import http
import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from ...settings import as_str
from ._common import JSON, HttpApiProvider, NotJson, basic_auth, form_callback, is_gsm7, media_type, \
    read_json, secret_ok

PLIVO_AUTH_ID = 'MASANDBOX00000000000'
PLIVO_AUTH_TOKEN = 'sandbox-plivo-token'
SEND_PATH = re.compile(r'/v1/Account/([^/]+)/Message/?')
SANITIZE = re.compile(r'[/\-.+()\s]')   # what Plivo strips from a dst number
GSM_LIMIT, UNICODE_LIMIT = 1600, 737


class Plivo(HttpApiProvider):
    name = 'plivo'
    price_unit = 'USD'
    send_status = 202
    undelivered_statuses = ('undelivered', 'failed')
    defaults = {
        'auth_id': PLIVO_AUTH_ID,
        'auth_token': PLIVO_AUTH_TOKEN,
        'undelivered_error_code': '80',
        'credit': '1000.00',
        'part_price': '0.0500',
        'max_recipients': 1000,
    }
    schema = {'auth_id': as_str(), 'auth_token': as_str(), 'undelivered_error_code': as_str()}

    def is_send(self, method, path):
        return method == 'POST' and bool(SEND_PATH.fullmatch(path))

    def send_summary(self, path, body, headers):
        payload = read_json(body)
        numbers = [number for number in str(payload.get('dst') or '').split('<') if number]
        return SEND_PATH.fullmatch(path).group(1), numbers, payload.get('text'), ''

    @staticmethod
    def _error(status, text, **extra):
        return status, {'api_id': str(uuid.uuid4()), 'error': text, **extra}

    def error_answer(self, request, status, headers):
        request.reply_json(*self._error(status, http.HTTPStatus(status).phrase.lower()), headers)

    def handle(self, request, method, path, query, body, fault):
        match = SEND_PATH.fullmatch(path)
        if not match:
            request.reply_json(*self._error(404, 'not found'))
            return
        config = self.config()
        credentials = basic_auth(request.headers.get('Authorization'))
        if not credentials or not secret_ok(credentials[0], config['auth_id']) or \
                not secret_ok(credentials[1], config['auth_token']) or match.group(1) != credentials[0]:
            request.reply_json(*self._error(401, 'authentication failed'))
            return
        if method != 'POST':
            request.reply_json(*self._error(405, 'method not allowed'))
            return
        request.reply_json(*self._send(request, config, body, fault))

    def _send(self, request, config, body, fault):
        if media_type(request) != JSON:
            return self._error(400, f'Content-Type must be {JSON}')
        try:
            payload = read_json(body)
        except NotJson:
            return self._error(400, 'invalid JSON body')
        if not isinstance(payload, dict):
            return self._error(400, 'invalid JSON body')
        src, dst, text = payload.get('src'), payload.get('dst'), payload.get('text')
        if not src and not payload.get('powerpack_uuid'):
            return self._error(400, 'src or powerpack_uuid parameter is required')
        if not dst or not isinstance(dst, str):
            return self._error(400, 'dst parameter is required')
        if not text or not isinstance(text, str):
            return self._error(400, 'text parameter is required')
        if payload.get('type', 'sms') != 'sms':
            return self._error(400, f'type {payload["type"]!r} is not sms')
        callback_method = payload.get('method') or 'POST'
        if callback_method not in ('GET', 'POST'):
            return self._error(400, 'method must be GET or POST')
        url = payload.get('url')
        if url and not (isinstance(url, str) and url.startswith(('http://', 'https://'))):
            return self._error(400, 'url is not a valid URL')
        unicode = not is_gsm7(text)
        if len(text) > (UNICODE_LIMIT if unicode else GSM_LIMIT):
            return self._error(400, 'text exceeds the maximum length')
        numbers = list(dict.fromkeys(number for number in dst.split('<') if number))
        if len(numbers) > config['max_recipients']:
            return self._error(400, f'too many destination numbers (at most {config["max_recipients"]})')
        valid, invalid = {}, []
        # "All characters other than A-Z, a-z, 0-9 are stripped off automatically" from src.
        sender = re.sub(r'[^A-Za-z0-9]', '', str(src or ''))
        if src and not (sender.isdigit() and len(sender) <= 14 or sender.isalnum() and len(sender) <= 11):
            return self._error(400, 'src is not a valid sender id')
        for raw in numbers:
            digits = SANITIZE.sub('', raw)
            digits = digits if digits.isdigit() and 8 <= len(digits) <= 14 and digits[0] != '0' else None
            if self.is_invalid(config, digits, fault) or digits == sender:
                invalid.append(raw)
            elif digits not in valid.values():
                valid[raw] = digits
        self.bump('recipients_rejected', len(invalid))
        if not valid:
            return self._error(400, 'invalid destination number(s)', invalid_number=invalid)
        records = self.accept(config, list(valid.values()), text, fault)
        if records is None:
            return self._error(402, 'insufficient credit')
        for record in records:
            self._callbacks(config, record, str(src), url, callback_method)
        answer = {'api_id': str(uuid.uuid4()), 'message': 'message(s) queued',
                  'message_uuid': [record['id'] for record in records]}
        if invalid:
            answer['invalid_number'] = invalid
        return 202, answer

    def _callbacks(self, config, record, src, url, method):
        """sent, then delivered or undelivered (with an ErrorCode): form POST, or the query
        string of a GET, as the request's ``method`` says."""
        parts = record['parts']
        rate = (Decimal(record['price']) / parts).quantize(Decimal('0.00001'))
        final = config['undelivered_status'] if record['undelivered'] else 'delivered'
        created = _time(record['created_at'])

        def make(status, sequence):
            def build():
                params = {
                    'MessageUUID': record['id'], 'To': record['to'].lstrip('+'), 'From': src, 'Type': 'sms',
                    'Status': status, 'Units': str(parts), 'TotalRate': str(rate),
                    'TotalAmount': str(Decimal(record['price'])), 'MCC': '208', 'MNC': '01',
                    'ParentMessageUUID': record['id'], 'PartInfo': '', 'Sequence': str(sequence),
                    'MessageTime': created, 'QueuedTime': created, 'SentTime': _time(),
                }
                if status in ('delivered', 'undelivered', 'failed'):
                    params['DeliveryReportTime'] = _time()
                if status in ('undelivered', 'failed'):
                    params['ErrorCode'] = config['undelivered_error_code']
                return params
            return form_callback(build, method)

        self.deliver(url, [make('sent', 1), make(final, 2)])


def _time(moment=None):
    moment = datetime.now(timezone.utc) if moment is None else datetime.fromtimestamp(moment, timezone.utc)
    return moment.strftime('%Y-%m-%d %H:%M:%S.%f')


__all__ = ['PLIVO_AUTH_ID', 'PLIVO_AUTH_TOKEN', 'Plivo']
