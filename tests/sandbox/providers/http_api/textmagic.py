"""Textmagic: the REST API v2 ``POST /api/v2/messages``, the account and delivery callbacks.

Written from Textmagic's public documentation:

* Send messages: https://www.textmagic.com/docs/api/send-sms/ ("send a POST request to the
  messages URL: POST https://rest.textmagic.com/api/v2/messages"; ``text`` "Supply text or
  templateId or both"; ``phones`` "Send a message to this list of phone numbers in
  international E.164 format without the leading plus sign [...] separated by commas", or
  ``contacts`` / ``lists`` ("Need at least one from contacts, lists or phones");
  ``partsCount`` "Maximum message parts count (per one recipient) [...] 1 to 6 [...] The
  default is 6"; ``cutExtra`` "cuts extra characters [...] or returns 400 Bad request
  response"; ``referenceId`` "This will be attached to Callbacks"; ``from``, ``sendingTime``).
  The API reference of the official SDK (github.com/textmagic/textmagic-rest-python-v2,
  ``docs/SendMessageInputObject.md``: ``phones`` "Comma separated array of E.164 phone
  numbers", its README sends ``+79998887766``; ``docs/SendMessageResponse.md``: ``id``,
  ``href``, ``type`` "message - when the message is sent to a single recipient; session -
  when the message is sent to multiple recipients; [...] bulk - when [...] the number of
  recipients requires asynchronous processing", ``sessionId``, ``bulkId``, ``messageId``,
  ``scheduleId``, ``chatId``; "Sending more than 1,000 messages in one session" is a bulk).
* Authentication: the ``X-TM-Username`` and ``X-TM-Key`` headers (SDK README, "put your
  Username and API Key from https://my.textmagic.com/online/api/rest-api/keys").
* Errors: SDK ``docs/BadRequestResponse.md`` (``code``, ``message``, ``errors`` {``common``
  "messages with errors related to the entire request", ``fields`` "The keys are the POST/PUT
  parameter names and the values are arrays with error messages"}) and
  ``docs/UnauthorizedResponse.md`` (``code``, ``message``).
* Callbacks: set in the account ("Go to the API page. Enter your callback URL",
  https://www.textmagic.com/docs/api/receive-sms/: "A callback is a mechanism that posts the
  JSON body [...] exact copy of the [...] resource"), so delivery callbacks go to the
  ``callback_url`` setting as the JSON of the outbound message resource (SDK
  ``docs/MessageOut.md``: ``id``, ``sender``, ``receiver``, ``text``, ``status``,
  ``contactId``, ``sessionId``, ``messageTime``, ``charset``, ``country``, ``price``,
  ``partsCount``...); delivery status codes (https://docs.textmagic.com/#section/Delivery-
  status-codes, as in the v1 table https://apitextmagic.voog.com/https-api/sms-delivery-
  notification-codes): ``q``, ``r``, ``a``, ``b``, ``s`` intermediate; ``d`` "successfully
  delivered to the handset", ``f``, ``e``, ``j``, ``u`` final failures.
* Account: ``GET /api/v2/user`` (``balance``, ``currency``).

Unverified, chosen here: one malformed number refuses the whole request (400, in
``errors.fields.phones``); 415 for a body that is neither form-encoded nor JSON; a send the
balance does not cover is 400 with a ``common`` error; the callback sends only the final
status; a bulk (over 1000 numbers) is sent at once.
"""
import http
import re
import time
from datetime import datetime, timezone

from ...common import GSM7_BASIC, GSM7_EXTENSION, region_of, sms_parts
from ...settings import as_str
from ._common import FORM, JSON, HttpApiProvider, NotJson, international_digits, json_callback, last, \
    media_type, read_form, read_json, secret_ok

TEXTMAGIC_USERNAME = 'sandbox-textmagic-user'
TEXTMAGIC_API_KEY = 'sandboxTextmagicApiKey0000000000'
SEND_PATH = '/api/v2/messages'
USER_PATH = '/api/v2/user'
BULK_THRESHOLD = 1000


def _bad_request(common=(), fields=None):
    return {'code': 400, 'message': 'Validation Failed',
            'errors': {'common': list(common), 'fields': fields or {}}}


def _iso(moment):
    return datetime.fromtimestamp(moment, timezone.utc).strftime('%Y-%m-%dT%H:%M:%S+0000')


class Textmagic(HttpApiProvider):
    name = 'textmagic'
    price_unit = 'EUR'
    send_status = 201
    # Final delivery statuses of a message not delivered (u, unknown, is not one of them).
    undelivered_statuses = ('f', 'e', 'j')
    defaults = {
        'username': TEXTMAGIC_USERNAME,
        'api_key': TEXTMAGIC_API_KEY,
        'credit': '100.00',
        'part_price': '0.0400',
        # Numbers per request: above BULK_THRESHOLD the send becomes an asynchronous bulk.
        'max_recipients': 10000,
    }
    schema = {'username': as_str(), 'api_key': as_str()}

    def is_send(self, method, path):
        return method == 'POST' and path.rstrip('/') == SEND_PATH

    def send_summary(self, path, body, headers):
        if (headers.get('Content-Type') or '').startswith(JSON):
            fields = read_json(body)
        else:
            fields = {name: last(read_form(body), name) for name in read_form(body)}
        phones = [phone.strip() for phone in str(fields.get('phones') or '').split(',') if phone.strip()]
        return headers.get('X-TM-Username') or '', phones, fields.get('text'), ''

    def error_answer(self, request, status, headers):
        request.reply_json(status, {'code': status, 'message': http.HTTPStatus(status).phrase}, headers)

    def handle(self, request, method, path, query, body, fault):
        path = path.rstrip('/')
        if path not in (SEND_PATH, USER_PATH):
            request.reply_json(404, {'code': 404, 'message': 'Not Found'})
            return
        config = self.config()
        if request.headers.get('X-TM-Username') != config['username'] or \
                not secret_ok(request.headers.get('X-TM-Key'), config['api_key']):
            request.reply_json(401, {'code': 401, 'message': 'Unauthorized'})
            return
        if path == USER_PATH and method == 'GET':
            balance = 0 if fault == 'no_credit' else config['credit']
            request.reply_json(200, {
                'id': 1, 'username': config['username'], 'firstName': 'Sandbox', 'lastName': 'Account',
                'balance': float(balance), 'currency': {'id': 'EUR', 'htmlSymbol': '&euro;'},
                'timezone': {'id': 1, 'area': 'Europe', 'dst': 1, 'offset': 3600,
                             'timezone': 'Europe/Paris'},
                'subaccountType': 'P',
            })
            return
        if method != ('GET' if path == USER_PATH else 'POST'):
            request.reply_json(405, {'code': 405, 'message': 'Method Not Allowed'})
            return
        fields, problem = self._fields(request, body)
        if problem:
            request.reply_json(*problem)
            return
        request.reply_json(*self._send(config, fields, fault))

    def _fields(self, request, body):
        """The request's parameters (strings), or (status, answer) when unreadable."""
        kind = media_type(request)
        if kind == JSON:
            try:
                payload = read_json(body)
            except NotJson:
                return None, (400, _bad_request(['Invalid JSON body.']))
            if not isinstance(payload, dict):
                return None, (400, _bad_request(['Invalid JSON body.']))
            return {name: value if isinstance(value, str) else
                    ('1' if value is True else '0' if value is False else str(value))
                    for name, value in payload.items() if value is not None}, None
        if kind == FORM:
            form = read_form(body)
            return {name: last(form, name) for name in form}, None
        return None, (415, {'code': 415, 'message': 'Unsupported Media Type'})

    def _send(self, config, fields, fault):
        text = fields.get('text') or ''
        errors = {}
        if not text and not fields.get('templateId'):
            errors['text'] = ['This value should not be blank.']
        if fields.get('templateId'):
            errors['templateId'] = ['Template not found.']
        for name in ('contacts', 'lists'):
            if fields.get(name):
                errors[name] = [f'The sandbox has no {name}.']
        phones = [phone.strip() for phone in (fields.get('phones') or '').split(',') if phone.strip()]
        if not phones and 'contacts' not in errors and 'lists' not in errors:
            errors.setdefault('phones', []).append('Need at least one from contacts, lists or phones.')
        parts_limit = fields.get('partsCount') or '6'
        if not re.fullmatch(r'[1-6]', parts_limit):
            errors['partsCount'] = ['This value should be between 1 and 6.']
        elif text and sms_parts(text) > int(parts_limit) and fields.get('cutExtra') not in ('1', 'true'):
            errors['text'] = [f'Too many parts: the text needs {sms_parts(text)} parts, more than '
                              f'partsCount {parts_limit}.']
        numbers = []
        for phone in phones:
            digits = international_digits(phone)
            if self.is_invalid(config, digits, fault):
                self.bump('recipients_rejected')
                errors.setdefault('phones', []).append(f'Phone number {phone} is invalid.')
            else:
                numbers.append(digits)
        if len(phones) > config['max_recipients']:
            errors.setdefault('phones', []).append(f'Too many phone numbers: {len(phones)} > '
                                                   f'{config["max_recipients"]}.')
        if errors:
            return 400, _bad_request(fields=errors)
        numbers = list(dict.fromkeys(numbers))
        if sms_parts(text) > int(parts_limit):
            text = _cut(text, int(parts_limit))
        message_ids = [self._next_id() for _ in numbers]
        session_id = self._next_id()
        records = self.accept(config, numbers, text, fault, ids=[str(i) for i in message_ids],
                              session_id=session_id, sender=fields.get('from') or '',
                              reference_id=fields.get('referenceId'))
        if records is None:
            return 400, _bad_request(['Insufficient balance to send this message.'])
        for record in records:
            self._callback(record)
        if len(numbers) > BULK_THRESHOLD:
            bulk_id = self._next_id()
            return 201, {'id': bulk_id, 'href': f'/api/v2/bulks/{bulk_id}', 'type': 'bulk',
                         'sessionId': None, 'bulkId': bulk_id, 'messageId': None, 'scheduleId': None,
                         'chatId': None}
        if len(numbers) == 1:
            return 201, {'id': message_ids[0], 'href': f'/api/v2/messages/{message_ids[0]}',
                         'type': 'message', 'sessionId': session_id, 'bulkId': None,
                         'messageId': message_ids[0], 'scheduleId': None, 'chatId': None}
        return 201, {'id': session_id, 'href': f'/api/v2/sessions/{session_id}', 'type': 'session',
                     'sessionId': session_id, 'bulkId': None, 'messageId': None, 'scheduleId': None,
                     'chatId': None}

    def _next_id(self):
        """Textmagic's resource ids are integers, growing."""
        with self.lock:
            self._last_id = getattr(self, '_last_id', 49576000) + 1
            return self._last_id

    def _callback(self, record):
        """The outbound message resource, with its final status, POSTed as JSON."""
        failed = self.setting('undelivered_status')

        def build():
            text = record['body']
            unicode = not all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)
            return {
                'id': int(record['id']), 'sender': record['sender'], 'receiver': record['to'][1:],
                'text': text, 'status': failed if record['undelivered'] else 'd', 'contactId': 0,
                'sessionId': record['session_id'], 'messageTime': _iso(record['created_at']),
                'statusUpdateTime': _iso(time.time()), 'avatar': '', 'deleted': False,
                'charset': 'UTF-16BE' if unicode else 'ISO-8859-1',
                'charsetLabel': 'UTF-16BE' if unicode else 'ISO-8859-1', 'firstName': '',
                'lastName': '', 'country': region_of(record['to'][1:]), 'phone': record['to'][1:],
                'price': float(record['price']), 'partsCount': record['parts'],
                'referenceId': record['reference_id'],
            }
        self.deliver(None, [json_callback(build)])

    def reset(self):
        self._last_id = 49576000


def _cut(text, parts):
    """``cutExtra``: the text cut to fit ``parts`` SMS parts."""
    while text and sms_parts(text) > parts:
        text = text[:-1]
    return text


__all__ = ['TEXTMAGIC_API_KEY', 'TEXTMAGIC_USERNAME', 'Textmagic']
