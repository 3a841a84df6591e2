"""smsmode: the SMS API ``POST /sms/v1/messages`` and its status callbacks.

Written from smsmode's public documentation and the clients built from it:

* Send an SMS: https://dev.smsmode.com/sms/v1/message (``POST
  https://rest.smsmode.com/sms/v1/messages``, header ``X-Api-Key``, JSON ``recipient``
  {``to``} and ``body`` {``text``} required, ``from`` (sender, 11 alphanumeric characters at
  most), ``refClient``, ``sentDate``, ``callbackUrlStatus`` (the URL the message's status
  changes are POSTed to), ``callbackUrlMo``). One recipient per message.
* The answer, HTTP 201 with the message: ``messageId``, ``acceptedAt``, ``channel``
  {``channelId``, ``name``, ``type``, ``flow``}, ``type`` "SMS", ``direction`` "MT",
  ``recipient`` {``to``}, ``from``, ``body`` {``text``, ``encoding`` GSM7/UNICODE,
  ``messagePartCount``, ``length``}, ``status`` {``value`` "ENROUTE", ``deliveryDate``},
  ``refClient``, ``href`` - as in the documented example the Novu provider's tests copy
  (github.com/novuhq/novu, ``providers/smsmode``); ``price`` {``amount``, ``currency``} as
  integrations read it ("the response carries messageId and, when priced, price.amount
  (euros)"); the Symfony notifier bridge
  (github.com/symfony/smsmode-notifier, ``SmsmodeTransport``: ``Accept: application/json``,
  success is "201 !== $statusCode" else an error, the id in ``messageId``, sender
  ``^[a-zA-Z0-9\\s]{1,11}$``).
* Errors: a JSON problem ``{status, title, detail}`` with an ``errorCode`` (as clients read
  it: ``data.errorCode``, ``data.detail``); 401 for a missing or wrong key.
* Status callbacks: POST, JSON, to ``callbackUrlStatus``: the message with its new
  ``status`` {``value``, ``deliveryDate``}: ENROUTE, then DELIVERED or UNDELIVERABLE.

Unverified, chosen here: ``price`` in every answer (the documented example has none);
the ``errorCode`` values (``INVALID_RECIPIENT``,
``MISSING_PARAMETER``, ``INVALID_SENDER``, ``INSUFFICIENT_CREDIT``), the status of a send the
balance does not cover (402) and of a non-JSON body (415); the callback payload (the message
resource, ``status.value`` UNDELIVERABLE for a failure); French national numbers
(``0612345678``) are read as French, international ones as digits (``33612345678``), with or
without ``+``; the dashboard's default status URL is the ``callback_url`` setting.
"""
import http
import re
import uuid
from datetime import datetime, timezone

from ...common import GSM7_BASIC, GSM7_EXTENSION, normalize_number
from ...settings import as_str
from ._common import JSON, HttpApiProvider, NotJson, international_digits, json_callback, media_type, \
    read_json, secret_ok

SMSMODE_API_KEY = 'sandboxSmsmodeApiKey000000000000'
SEND_PATH = '/sms/v1/messages'
CHANNEL = {'channelId': 'a2bb0b2e-7d7e-4f4f-9b5c-5a5db0c0ffee', 'name': 'sandbox_channel', 'type': 'SMS',
           'flow': 'TRANSACTIONAL'}


def _problem(status, error_code, detail):
    return {'status': status, 'title': http.HTTPStatus(status).phrase, 'errorCode': error_code,
            'detail': detail}


def _iso(moment):
    return datetime.fromtimestamp(moment, timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


class Smsmode(HttpApiProvider):
    name = 'smsmode'
    price_unit = 'EUR'
    send_status = 201
    undelivered_statuses = ('UNDELIVERABLE',)
    defaults = {
        'api_key': SMSMODE_API_KEY,
        'credit': '100.00',
        'part_price': '0.0450',
        'max_recipients': 1,
    }
    schema = {'api_key': as_str()}

    def is_send(self, method, path):
        return method == 'POST' and path.rstrip('/') == SEND_PATH

    def send_summary(self, path, body, headers):
        payload = read_json(body)
        return self.digest(headers.get('X-Api-Key')), [payload['recipient']['to']], payload['body']['text'], ''

    def error_answer(self, request, status, headers):
        request.reply_json(status, _problem(status, http.HTTPStatus(status).name,
                                            http.HTTPStatus(status).description), headers)

    def handle(self, request, method, path, query, body, fault):
        if path.rstrip('/') != SEND_PATH:
            request.reply_json(404, _problem(404, 'NOT_FOUND', 'No resource at this path.'))
            return
        config = self.config()
        if not secret_ok(request.headers.get('X-Api-Key'), config['api_key']):
            request.reply_json(401, _problem(401, 'UNAUTHORIZED', 'Missing or invalid API key.'))
            return
        if method != 'POST':
            request.reply_json(405, _problem(405, 'METHOD_NOT_ALLOWED', 'Use POST to send a message.'))
            return
        accept = request.headers.get('Accept') or '*/*'
        if not any(kind in accept for kind in ('application/json', 'application/*', '*/*')):
            request.reply_json(406, _problem(406, 'NOT_ACCEPTABLE', 'The API answers application/json.'))
            return
        if media_type(request) != JSON:
            request.reply_json(415, _problem(415, 'UNSUPPORTED_MEDIA_TYPE',
                                             f'Content-Type must be {JSON}.'))
            return
        request.reply_json(*self._send(config, body, fault))

    def _send(self, config, body, fault):
        try:
            payload = read_json(body)
        except NotJson:
            return 400, _problem(400, 'INVALID_JSON', 'The body is not valid JSON.')
        if not isinstance(payload, dict):
            return 400, _problem(400, 'INVALID_JSON', 'The body must be a JSON object.')
        recipient = payload.get('recipient')
        to = recipient.get('to') if isinstance(recipient, dict) else None
        if not to:
            return 400, _problem(400, 'MISSING_PARAMETER', 'recipient.to is required.')
        content = payload.get('body')
        text = content.get('text') if isinstance(content, dict) else None
        if not isinstance(text, str) or not text:
            return 400, _problem(400, 'MISSING_PARAMETER', 'body.text is required.')
        sender = payload.get('from')
        if sender is not None and not (isinstance(sender, str) and re.fullmatch(r'[a-zA-Z0-9\s]{1,11}', sender)):
            return 400, _problem(400, 'INVALID_SENDER', f'The sender {sender!r} is not valid.')
        callback = payload.get('callbackUrlStatus')
        if callback not in (None, '') and not (isinstance(callback, str) and re.match(r'https?://', callback)):
            return 400, _problem(400, 'INVALID_PARAMETER', 'callbackUrlStatus must be an http(s) URL.')
        digits = _number(to)
        if self.is_invalid(config, digits, fault):
            self.bump('recipients_rejected')
            return 400, _problem(400, 'INVALID_RECIPIENT', f'The recipient {to!r} is not a valid phone number.')
        records = self.accept(config, [digits], text, fault, ids=[str(uuid.uuid4())])
        if records is None:
            return 402, _problem(402, 'INSUFFICIENT_CREDIT', 'Your balance does not cover this message.')
        record = records[0]
        message = self._message(record, to, sender, payload.get('refClient'))
        record['_message'] = message
        self._callbacks(record, callback or None)
        return 201, message

    @staticmethod
    def _message(record, to, sender, reference):
        text = record['body']
        gsm = all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)
        message = {
            'messageId': record['id'], 'acceptedAt': _iso(record['created_at']), 'channel': CHANNEL,
            'type': 'SMS', 'direction': 'MT', 'recipient': {'to': str(to)}, 'from': sender or '',
            'body': {'text': text, 'encoding': 'GSM7' if gsm else 'UNICODE',
                     'messagePartCount': record['parts'], 'length': len(text)},
            'status': {'value': 'ENROUTE', 'deliveryDate': None},
            'price': {'amount': float(record['price']), 'currency': 'EUR'},
            'href': f'https://rest.smsmode.com/sms/v1/messages/{record["id"]}',
        }
        if reference is not None:
            message['refClient'] = reference
        return message

    def _callbacks(self, record, url):
        def make(value):
            def build():
                message = dict(record['_message'])
                message['status'] = {'value': value,
                                     'deliveryDate': _iso(record['created_at'] + 2 * record['_delay'])
                                     if value == 'DELIVERED' else None}
                return message
            return json_callback(build)

        final = self.setting('undelivered_status') if record['undelivered'] else 'DELIVERED'
        self.deliver(url, [make('ENROUTE'), make(final)])


def _number(raw):
    """E.164 digits: international (``33612345678``, ``+33...``, ``0033...``) or French
    national (``0612345678``)."""
    if not isinstance(raw, str):
        return None
    if raw.startswith('00'):
        return international_digits(raw[2:])
    if re.fullmatch(r'0[1-9]\d{8}', raw):
        return normalize_number(raw, 'FR')
    return international_digits(raw)


__all__ = ['SMSMODE_API_KEY', 'Smsmode']
