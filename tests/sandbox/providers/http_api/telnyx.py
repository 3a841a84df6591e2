"""Telnyx: the Messaging API ``POST /v2/messages``, the balance and message webhooks.

Written from Telnyx's public documentation:

* Send a message: https://developers.telnyx.com/api/messaging/send-message and
  https://developers.telnyx.com/docs/messaging/messages/send-message (``POST
  https://api.telnyx.com/v2/messages``, ``Authorization: Bearer YOUR_API_KEY``, JSON ``to``,
  ``from``, ``text``; ``messaging_profile_id``, ``webhook_url``, ``webhook_failover_url``,
  ``use_profile_webhooks``, ``type``, ``media_urls``, ``subject``); "Phone numbers must be in
  E.164 format (e.g., +13125550001). Include the + prefix and country code."
* The answer (the message record): https://developers.telnyx.com/docs/messaging/messages/
  message-detail-records (``data`` {``record_type`` "message", ``id``, ``direction``,
  ``type``, ``messaging_profile_id``, ``from`` {``phone_number``, ``carrier``, ``line_type``},
  ``to`` [{``phone_number``, ``status``, ``carrier``, ``line_type``}], ``text``,
  ``webhook_url``, ``cost`` {``amount``, ``currency``}, ``parts``, ``errors``, ...}).
* Errors: https://developers.telnyx.com/development/api-fundamentals/api-errors ("10009
  Authentication failed: The required authentication headers were either invalid or not
  included in the request", 10004 Missing required parameter, 10014 Unsupported Media Type,
  10015 Bad Request, 10010 Authorization failed) and https://developers.telnyx.com/api/errors/
  40310 ("40310 - Invalid 'to' address [...] If using the version 2 API, either an array of
  length one, or a single string must be provided. Multi-destination messages are not
  currently supported. 40310 - HTTP Status - 400"); the body ``{"errors": [{code, title,
  detail, source: {pointer}, meta: {url}}]}``; messaging error codes
  https://developers.telnyx.com/docs/messaging/messages/error-codes (40008 Undeliverable).
* Webhooks: https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks ("Per-
  message URLs: webhook_url and webhook_failover_url in the send message request body", else
  the messaging profile's; "An HTTP POST with a JSON payload"; ``message.sent`` then
  ``message.finalized``, ``data`` {``event_type``, ``id``, ``occurred_at``, ``payload``,
  ``record_type`` "event"}, ``meta`` {``attempt``, ``delivered_to``}); delivery statuses
  ``queued``, ``sending``, ``sent``, ``delivered``, ``sending_failed``, ``delivery_failed``,
  ``delivery_unconfirmed``.
* Balance: ``GET /v2/balance`` (``data`` {``balance``, ``credit_limit``,
  ``available_credit``, ``currency``, ``record_type`` "balance"}).

The messaging profile's webhook URL is the ``callback_url`` setting. Unverified, chosen here:
the status and code of a send the balance does not cover (403 with 10010); 422 for a missing
``to``/``from``/``text``; the ``from`` check (+E.164, a 5-6 digit short code, or an
alphanumeric sender ID of at most 11 characters with a ``messaging_profile_id``).
Webhooks are not signed (Telnyx signs them with Ed25519; the sandbox has no such key).
"""
import http
import re
import time
import uuid
from datetime import datetime, timezone

from ...common import GSM7_BASIC, GSM7_EXTENSION
from ...settings import as_str_list
from ._common import JSON, HttpApiProvider, NotJson, international_digits, json_callback, media_type, \
    read_json, secret_ok

TELNYX_API_KEY = 'KEYSANDBOX0TELNYX0000000000000_sandbox'
SEND_PATH = '/v2/messages'
BALANCE_PATH = '/v2/balance'
ERRORS_URL = 'https://developers.telnyx.com/api/errors/'


def _error(code, title, detail, pointer=None):
    item = {'code': str(code), 'title': title, 'detail': detail, 'meta': {'url': ERRORS_URL + str(code)}}
    if pointer:
        item['source'] = {'pointer': pointer}
    return {'errors': [item]}


def _iso_ms(moment):
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec='milliseconds')


class Telnyx(HttpApiProvider):
    name = 'telnyx'
    price_unit = 'USD'
    # Final statuses of a message not delivered (delivery_unconfirmed: its fate is unknown).
    undelivered_statuses = ('delivery_failed', 'sending_failed')
    defaults = {
        'api_keys': [TELNYX_API_KEY],
        'credit': '100.00',
        'part_price': '0.0040',
        # "Multi-destination messages are not currently supported."
        'max_recipients': 1,
    }
    schema = {'api_keys': as_str_list}

    def is_send(self, method, path):
        return method == 'POST' and path.rstrip('/') == SEND_PATH

    def send_summary(self, path, body, headers):
        payload = read_json(body)
        to = payload['to']
        header = headers.get('Authorization') or ''
        return self.digest(header[7:]), to if isinstance(to, list) else [to], payload.get('text'), ''

    def error_answer(self, request, status, headers):
        code = {429: 10011, 500: 10007, 503: 10007}.get(status, 10007)
        title = 'Too many requests' if status == 429 else http.HTTPStatus(status).phrase
        request.reply_json(status, _error(code, title, http.HTTPStatus(status).description), headers)

    def handle(self, request, method, path, query, body, fault):
        path = path.rstrip('/')
        if path not in (SEND_PATH, BALANCE_PATH):
            request.reply_json(404, _error(10005, 'Resource not found',
                                           'The requested resource or URL could not be found.'))
            return
        config = self.config()
        header = request.headers.get('Authorization') or ''
        key = header[7:] if header.startswith('Bearer ') else None
        if not any(secret_ok(key, expected) for expected in config['api_keys']):
            request.reply_json(401, _error(10009, 'Authentication failed',
                                           'The required authentication headers were either invalid '
                                           'or not included in the request.'))
            return
        if path == BALANCE_PATH and method == 'GET':
            balance = 0 if fault == 'no_credit' else config['credit']
            request.reply_json(200, {'data': {
                'record_type': 'balance', 'balance': f'{balance:.2f}', 'credit_limit': '0.00',
                'available_credit': f'{balance:.2f}', 'pending': '0.00', 'currency': 'USD'}})
            return
        if method != ('GET' if path == BALANCE_PATH else 'POST'):
            request.reply_json(405, _error(10015, 'Bad Request', 'Method not allowed.'))
            return
        request.reply_json(*self._send(request, config, body, fault))

    def _send(self, request, config, body, fault):
        if media_type(request) != JSON:
            return 415, _error(10014, 'Unsupported Media Type',
                               'The request failed because the server does not support the media type.')
        try:
            payload = read_json(body)
        except NotJson:
            return 400, _error(10015, 'Bad Request', 'The request failed because it was not well-formed.')
        if not isinstance(payload, dict):
            return 400, _error(10015, 'Bad Request', 'The request failed because it was not well-formed.')
        to = payload.get('to')
        if to in (None, '', []):
            return 422, _error(10004, 'Missing required parameter', "The 'to' parameter is required.", '/to')
        profile = payload.get('messaging_profile_id')
        sender = payload.get('from')
        if not sender and not profile:
            return 422, _error(10004, 'Missing required parameter',
                               "The 'from' parameter is required when no messaging_profile_id is given.",
                               '/from')
        text = payload.get('text')
        if not payload.get('media_urls') and (not isinstance(text, str) or not text):
            return 422, _error(10004, 'Missing required parameter', "The 'text' parameter is required.",
                               '/text')
        if isinstance(to, list):
            if len(to) != 1:
                return 400, _error(40310, "Invalid 'to' address",
                                   "The 'to' address should be a single valid number.", '/to')
            to = to[0]
        if sender and not _sender_ok(sender, profile):
            return 400, _error(40305, "Invalid 'from' address",
                               "The 'from' address should be a +E.164 number, a short code or an "
                               "alphanumeric sender ID with a messaging profile.", '/from')
        for name in ('webhook_url', 'webhook_failover_url'):
            value = payload.get(name)
            if value not in (None, '') and not (isinstance(value, str) and re.match(r'https?://', value)):
                return 400, _error(10003, 'Invalid URL', f"The '{name}' provided was invalid.", '/' + name)
        digits = international_digits(to, plus='required')
        if self.is_invalid(config, digits, fault):
            self.bump('recipients_rejected')
            return 400, _error(40310, "Invalid 'to' address",
                               "The 'to' address must be a valid number provided in +E.164 format or "
                               "else a valid short code.", '/to')
        records = self.accept(config, [digits], text or '', fault)
        if records is None:
            return 403, _error(10010, 'Authorization failed',
                               'Your account balance is insufficient to send this message.')
        record = records[0]
        message = self._message(config, record, payload, sender, profile)
        record['_message'] = message
        self._webhooks(config, record, payload.get('webhook_url') or None)
        return 200, {'data': message}

    def _message(self, config, record, payload, sender, profile):
        now = record['created_at']
        text = record['body']
        gsm = all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)
        return {
            'record_type': 'message', 'direction': 'outbound', 'id': record['id'],
            'type': 'SMS', 'messaging_profile_id': profile or str(uuid.uuid5(uuid.NAMESPACE_URL, 'sandbox')),
            'organization_id': str(uuid.uuid5(uuid.NAMESPACE_URL, 'sandbox-org')),
            'from': {'phone_number': sender or '', 'carrier': 'Telnyx', 'line_type': 'VoIP'},
            'to': [{'phone_number': record['to'], 'status': 'queued', 'carrier': '',
                    'line_type': 'Wireless'}],
            'cc': [], 'text': text, 'media': [], 'subject': payload.get('subject'),
            'webhook_url': payload.get('webhook_url') or config['callback_url'] or '',
            'webhook_failover_url': payload.get('webhook_failover_url') or '',
            'encoding': 'GSM-7' if gsm else 'UCS-2', 'parts': record['parts'], 'tags': [],
            'cost': {'amount': record['price'], 'currency': 'USD'},
            'cost_breakdown': {'rate': {'amount': record['price'], 'currency': 'USD'},
                               'carrier_fee': {'amount': '0.00', 'currency': 'USD'}},
            'tcr_campaign_id': None, 'tcr_campaign_billable': False, 'tcr_campaign_registered': None,
            'received_at': _iso_ms(now), 'sent_at': None, 'completed_at': None,
            'valid_until': _iso_ms(now + 86400), 'errors': [],
        }

    def _webhooks(self, config, record, url):
        """``message.sent``, then ``message.finalized`` (delivered or delivery_failed)."""
        target = url or config['callback_url']
        failed = record['undelivered']

        def make(event_type, status):
            def build():
                now = time.time()
                payload = dict(record['_message'])
                payload['to'] = [dict(payload['to'][0], status=status)]
                payload['sent_at'] = _iso_ms(record['created_at'] + record['_delay'])
                if event_type == 'message.finalized':
                    payload['completed_at'] = _iso_ms(now)
                    if failed:
                        payload['errors'] = [{'code': '40008', 'title': 'Undeliverable',
                                              'detail': 'The message was not delivered by the carrier.'}]
                return {'data': {'event_type': event_type, 'id': str(uuid.uuid4()),
                                 'occurred_at': _iso_ms(now), 'payload': payload,
                                 'record_type': 'event'},
                        'meta': {'attempt': 1, 'delivered_to': target}}
            render = json_callback(build)

            def signed():
                body, headers = render()
                headers['telnyx-timestamp'] = str(int(time.time()))
                return body, headers
            return signed

        final = config['undelivered_status'] if failed else 'delivered'
        self.deliver(url, [make('message.sent', 'sent'), make('message.finalized', final)])


def _sender_ok(sender, profile):
    """A +E.164 number, a short code, or an alphanumeric sender ID (with a messaging profile)."""
    if not isinstance(sender, str):
        return False
    if sender.startswith('+'):
        return international_digits(sender, plus='required') is not None
    if re.fullmatch(r'\d{5,6}', sender):
        return True
    return bool(profile) and bool(re.fullmatch(r'[A-Za-z0-9 ]{1,11}', sender)) and \
        any(char.isalpha() for char in sender)


__all__ = ['TELNYX_API_KEY', 'Telnyx']
