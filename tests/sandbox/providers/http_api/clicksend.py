"""ClickSend: the REST v3 ``POST /v3/sms/send`` and its SMS delivery receipts.

Written from ClickSend's public documentation:

* Send SMS: https://developers.clicksend.com/docs/messaging/sms ("Use this endpoint to send
  messages to your recipients"; body ``messages``, an array of SmsMessage: ``body``
  required, ``to`` "Recipient phone number in E.164 format", ``from``, ``source``,
  ``schedule``, ``custom_string`` "Your reference. Will be passed back with all replies and
  delivery reports", ``list_id`` "Can be used instead of 'to'", ``country``). The API
  reference of the official SDK (github.com/ClickSend/clicksend-python, ``docs/SMSApi.md``,
  ``docs/SmsMessage.md``): "You can post up to 1000 messages with each API call [...] The
  response contains status and details for each recipient. Refer to Application Status
  Codes (https://developers.clicksend.com/docs/#application-status-codes)".
* Authentication: https://developers.clicksend.com/docs/rest/v2 and the v3 OpenAPI
  description (base URL ``https://rest.clicksend.com/v3/``): "Basic HTTP authentication
  should be used in the header. username: Your API username, password: Your API key".
* The answer: ``{http_code, response_code, response_msg, data: {total_price, total_count,
  queued_count, messages: [{direction, date, to, body, from, schedule, message_id,
  message_parts, message_price, custom_string, user_id, subaccount_id, country, carrier,
  status}], _currency}}`` (the documented example of ``POST /sms/send``); error answers carry
  the same envelope with ``BAD_REQUEST``, ``UNAUTHORIZED``, ``FORBIDDEN``, ``NOT_FOUND``,
  ``TOO_MANY_REQUESTS``, ``INTERNAL_SERVER_ERROR``.
* Delivery receipts: a push URL set on the account (``POST /v3/sms/receipts`` "Add a
  delivery receipt" or the dashboard's delivery report rule with the URL action), so they go
  to the ``callback_url`` setting. Fields of a receipt (SDK ``CreateTestSmsReceiptData`` and
  https://developers.clicksend.com/docs/messaging/sms/other/view-specific-sms-receipt):
  ``timestamp_send``, ``timestamp``, ``message_id``, ``status_code``, ``status_text``,
  ``error_code``, ``error_text``, ``custom_string``, ``subaccount_id``, ``message_type``;
  codes from https://help.clicksend.com/article/8cc479qlbb-list-of-sms-gateway-error-codes:
  201 "Success: Message received on handset.", 301 failed.
* Balance: ``GET /v3/account`` (``data.balance``, the account's currency in ``_currency``).

Unverified, chosen here: receipts are form-encoded POSTs (the documentation lists their
fields, not their encoding); a message without ``body`` gets ``EMPTY_MESSAGE``, an unknown
``list_id`` ``NOT_ENOUGH_PERMISSION_TO_LIST_ID``, and a send the credit does not cover
``INSUFFICIENT_CREDIT`` per message (application status codes, placement guessed); the
wording of ``response_msg``; 503's ``response_code`` ``SERVICE_UNAVAILABLE``.
"""
import http
import re
import time
import uuid
from decimal import Decimal

from ...common import normalize_number, sms_parts
from ...settings import as_str
from ._common import JSON, HttpApiProvider, NotJson, basic_auth, form_callback, media_type, read_json, \
    secret_ok

CLICKSEND_USERNAME = 'sandbox-clicksend-user'
CLICKSEND_API_KEY = 'SANDBOX-CLICKSEND-API-KEY'
SEND_PATH = '/v3/sms/send'
ACCOUNT_PATH = '/v3/account'
USER_ID = 1
SUBACCOUNT_ID = 1
# https://help.clicksend.com/article/8cc479qlbb-list-of-sms-gateway-error-codes
DELIVERED = ('201', 'Success: Message received on handset.')
FAILED = ('301', 'Failed: Message could not be delivered.')
RESPONSE_CODES = {
    400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND',
    405: 'METHOD_NOT_FOUND', 429: 'TOO_MANY_REQUESTS', 500: 'INTERNAL_SERVER_ERROR',
    503: 'SERVICE_UNAVAILABLE',
}


def _envelope(status, code, message, data=None):
    return {'http_code': status, 'response_code': code, 'response_msg': message, 'data': data}


class ClickSend(HttpApiProvider):
    name = 'clicksend'
    price_unit = 'USD'
    # Receipt status codes of an SMS not delivered (301: failed or cancelled; 300 is a
    # temporary failure ClickSend retries, not final).
    undelivered_statuses = ('301',)
    defaults = {
        'username': CLICKSEND_USERNAME,
        'api_key': CLICKSEND_API_KEY,
        'credit': '1000.00',
        'part_price': '0.0770',
        'max_recipients': 1000,
    }
    schema = {'username': as_str(), 'api_key': as_str()}

    def is_send(self, method, path):
        return method == 'POST' and path.rstrip('/') == SEND_PATH

    def send_summary(self, path, body, headers):
        messages = read_json(body)['messages']
        credentials = basic_auth(headers.get('Authorization')) or ('',)
        bodies = [m.get('body') or '' for m in messages]
        return credentials[0], [m.get('to') or '' for m in messages], max(bodies, key=sms_parts), ''

    def error_answer(self, request, status, headers):
        phrase = http.HTTPStatus(status).phrase
        request.reply_json(status, _envelope(status, RESPONSE_CODES.get(status, 'INTERNAL_SERVER_ERROR'),
                                             phrase), headers)

    def handle(self, request, method, path, query, body, fault):
        path = path.rstrip('/')
        if path not in (SEND_PATH, ACCOUNT_PATH):
            request.reply_json(404, _envelope(404, 'NOT_FOUND', 'Resource not found.'))
            return
        config = self.config()
        credentials = basic_auth(request.headers.get('Authorization'))
        if not credentials or credentials[0] != config['username'] or \
                not secret_ok(credentials[1], config['api_key']):
            request.reply_json(401, _envelope(401, 'UNAUTHORIZED', 'Invalid username or API key.'))
            return
        if path == ACCOUNT_PATH:
            if method != 'GET':
                request.reply_json(405, _envelope(405, 'METHOD_NOT_FOUND', 'Method not allowed.'))
                return
            balance = Decimal(0) if fault == 'no_credit' else config['credit']
            request.reply_json(200, _envelope(200, 'SUCCESS', "Here's your account", {
                'user_id': USER_ID, 'username': config['username'], 'balance': f'{balance:.4f}',
                'country': 'AU', '_currency': _currency(),
            }))
            return
        if method != 'POST':
            request.reply_json(405, _envelope(405, 'METHOD_NOT_FOUND', 'Method not allowed.'))
            return
        request.reply_json(*self._send(request, config, body, fault))

    def _send(self, request, config, body, fault):
        if media_type(request) != JSON:
            return 400, _envelope(400, 'BAD_REQUEST', f'Content-Type must be {JSON}.')
        try:
            payload = read_json(body)
        except NotJson:
            return 400, _envelope(400, 'BAD_REQUEST', 'Invalid JSON body.')
        messages = payload.get('messages') if isinstance(payload, dict) else None
        if not isinstance(messages, list) or not messages:
            return 400, _envelope(400, 'BAD_REQUEST', 'The messages field is required.')
        if len(messages) > config['max_recipients']:
            return 400, _envelope(400, 'TOO_MANY_RECIPIENTS',
                                  f'Too many recipients: {len(messages)} > {config["max_recipients"]}.')
        results = [self._check(config, message, fault) for message in messages]
        answered = []
        records = []
        total = Decimal(0)
        now = int(time.time())
        for message, (digits, status, country) in zip(messages, results, strict=True):
            record = None
            if status == 'SUCCESS':
                stored = self.accept(config, [digits], message['body'], fault,
                                     ids=[str(uuid.uuid4()).upper()],
                                     custom_string=message.get('custom_string') or '')
                if stored is None:
                    status = 'INSUFFICIENT_CREDIT'
                else:
                    record = stored[0]
                    records.append(record)
            message = message if isinstance(message, dict) else {}
            price = Decimal(record['price']) if record else Decimal(0)
            total += price
            answered.append({
                'direction': 'out', 'date': now, 'to': ('+' + digits) if digits else message.get('to'),
                'body': message.get('body'), 'from': message.get('from'),
                'schedule': message.get('schedule') or '',
                'message_id': record['id'] if record else str(uuid.uuid4()).upper(),
                'message_parts': record['parts'] if record else 0,
                'message_price': float(price), 'custom_string': message.get('custom_string') or '',
                'user_id': USER_ID, 'subaccount_id': SUBACCOUNT_ID, 'list_id': message.get('list_id'),
                'country': country, 'carrier': '', 'status': status,
            })
        for record in records:
            self._receipt(record)
        return 200, _envelope(200, 'SUCCESS', 'Messages queued for delivery.' if records else
                              'No messages queued.', {
                                  'total_price': float(total), 'total_count': len(messages),
                                  'queued_count': len(records), 'messages': answered,
                                  '_currency': _currency(),
                              })

    def _check(self, config, message, fault):
        """(E.164 digits or None, application status, country) of one SmsMessage."""
        if not isinstance(message, dict):
            return None, 'MISSING_REQUIRED_FIELDS', None
        text = message.get('body')
        if not isinstance(text, str) or not text.strip():
            return None, 'EMPTY_MESSAGE', None
        sender = message.get('from')
        if sender is not None and not _sender_ok(sender):
            return None, 'INVALID_SENDER_ID', None
        to = message.get('to')
        if to in (None, ''):
            if message.get('list_id') is not None:
                return None, 'NOT_ENOUGH_PERMISSION_TO_LIST_ID', None
            return None, 'MISSING_REQUIRED_FIELDS', None
        country = message.get('country')
        # E.164 ("+614..."); a local number only with the recipient's ``country``.
        if not isinstance(to, str) or not (to.startswith('+') or country):
            digits = None
        else:
            digits = normalize_number(to.strip(), None if to.startswith('+') else country)
        if self.is_invalid(config, digits, fault):
            self.bump('recipients_rejected')
            return digits, 'INVALID_RECIPIENT', country
        return digits, 'SUCCESS', country

    def _receipt(self, record):
        """The SMS delivery receipt pushed to the account's delivery receipt URL."""
        failed = (self.setting('undelivered_status'), FAILED[1])

        def build():
            code, text = failed if record['undelivered'] else DELIVERED
            return {
                'timestamp_send': str(int(record['created_at'])), 'timestamp': str(int(time.time())),
                'message_id': record['id'], 'status_code': code, 'status_text': text,
                'error_code': code if record['undelivered'] else '',
                'error_text': text if record['undelivered'] else '',
                'custom_string': record.get('custom_string') or '', 'user_id': str(USER_ID),
                'subaccount_id': str(SUBACCOUNT_ID), 'message_type': 'sms',
            }
        self.deliver(None, [form_callback(build)])


def _sender_ok(sender):
    """A sender ID: a number, or "Alphanumeric e.g. 'MyCompany'. 11 characters max. No spaces"."""
    if not isinstance(sender, str) or not sender:
        return False
    if re.fullmatch(r'\+?\d{3,15}', sender):
        return True
    return len(sender) <= 11 and ' ' not in sender


def _currency():
    return {'currency_name_short': 'USD', 'currency_prefix_d': '$', 'currency_prefix_c': 'c',
            'currency_name_long': 'US Dollars'}


__all__ = ['CLICKSEND_API_KEY', 'CLICKSEND_USERNAME', 'ClickSend']
