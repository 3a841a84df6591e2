"""Infobip: the SMS send API (``POST /sms/3/messages``, and ``POST /sms/2/text/advanced``
still documented) and its delivery reports.

Written from Infobip's public documentation:

* Send SMS message (v3): https://www.infobip.com/docs/api/channels/sms/sms-messaging/outbound-sms/send-sms-messages
  and the quickstart https://www.infobip.com/docs/developer-resources/quickstart
  (``curl -X POST 'https://{baseUrl}/sms/3/messages' -H 'Authorization: {authorization}'``,
  "App {your-api-key} for an API key"; body {``messages``: [{``sender``, ``destinations``:
  [{``to``, ``messageId``}], ``content``: {``text``}, ``webhooks``: {``delivery``: {``url``}}}]}).
* Send SMS message (v2, ``/sms/2/text/advanced``, marked deprecated but documented):
  https://www.infobip.com/docs/api/channels/sms/sms-messaging/outbound-sms/send-sms-message
  ({``messages``: [{``from``, ``destinations``: [{``to``, ``messageId``}], ``text``,
  ``notifyUrl``, ``notifyContentType``, ``callbackData``}], ``bulkId``}); answer {``bulkId``,
  ``messages``: [{``to``, ``status``, ``messageId``}]}.
* Authentication: https://www.infobip.com/docs/essentials/api-authentication (API key
  ``Authorization: App <key>``, Basic, IBSSO token, OAuth 2.0 Bearer; numbers "in
  international format", e.g. ``41793026727``).
* Status objects: https://www.infobip.com/docs/essentials/api-essentials/response-status-and-error-codes
  (``groupId``/``groupName``/``id``/``name``/``description``: PENDING 1 (26 PENDING_ACCEPTED),
  UNDELIVERABLE 2 (9 UNDELIVERABLE_NOT_DELIVERED), DELIVERED 3 (5 DELIVERED_TO_HANDSET),
  REJECTED 5 (52 REJECTED_DESTINATION, 12 REJECTED_NOT_ENOUGH_CREDITS); errors: 0 NO_ERROR,
  1 HANDSET_ERRORS 27 EC_ABSENT_SUBSCRIBER).
* Delivery reports: https://www.infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/receive-outbound-sms-message-report
  (a JSON POST {``results``: [{``bulkId``, ``messageId``, ``to``, ``sentAt``, ``doneAt``,
  ``smsCount`` (v3 ``messageCount``), ``price`` {``pricePerMessage``, ``currency``},
  ``status``, ``error``, ``callbackData``}]} to ``notifyUrl`` / ``webhooks.delivery.url``, or to
  the subscription's URL: the ``callback_url`` setting).

Errors: the gateway's ``{"requestError": {"serviceException": {"messageId", "text"}}}``
(401 UNAUTHORIZED "Invalid login details", 429 TOO_MANY_REQUESTS, 5xx GENERAL_ERROR, and v2's
400 BAD_REQUEST with ``validationErrors``); v3's 400 is the newer ``{"errorCode": "E400",
"description", "action", "violations": [{"property", "violation"}], "resources"}``. An invalid
destination is accepted in the answer with a REJECTED status and never reported.
"""
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from ...settings import as_str
from ._common import JSON, HttpApiProvider, NotJson, basic_auth, international_digits, json_callback, \
    media_type, read_json, secret_ok

INFOBIP_API_KEY = 'sandbox-infobip-key'
INFOBIP_USERNAME = 'sandbox-infobip-user'
INFOBIP_PASSWORD = 'sandbox-infobip-password'
V2, V3 = '/sms/2/text/advanced', '/sms/3/messages'

PENDING_ACCEPTED = {'groupId': 1, 'groupName': 'PENDING', 'id': 26, 'name': 'PENDING_ACCEPTED',
                    'description': 'Message sent to next instance'}
REJECTED_DESTINATION = {'groupId': 5, 'groupName': 'REJECTED', 'id': 52, 'name': 'REJECTED_DESTINATION',
                        'description': 'Invalid destination address.'}
REJECTED_NOT_ENOUGH_CREDITS = {'groupId': 5, 'groupName': 'REJECTED', 'id': 12,
                               'name': 'REJECTED_NOT_ENOUGH_CREDITS', 'description': 'Not enough credits'}
DELIVERED_TO_HANDSET = {'groupId': 3, 'groupName': 'DELIVERED', 'id': 5, 'name': 'DELIVERED_TO_HANDSET',
                        'description': 'Message delivered to handset'}
UNDELIVERABLE_NOT_DELIVERED = {'groupId': 2, 'groupName': 'UNDELIVERABLE', 'id': 9,
                               'name': 'UNDELIVERABLE_NOT_DELIVERED', 'description': 'Message sent not delivered'}
EXPIRED_EXPIRED = {'groupId': 4, 'groupName': 'EXPIRED', 'id': 15, 'name': 'EXPIRED_EXPIRED',
                   'description': 'Message expired'}
REJECTED_NETWORK = {'groupId': 5, 'groupName': 'REJECTED', 'id': 6, 'name': 'REJECTED_NETWORK',
                    'description': 'Network is forbidden'}
UNDELIVERED = {'UNDELIVERABLE': UNDELIVERABLE_NOT_DELIVERED, 'EXPIRED': EXPIRED_EXPIRED, 'REJECTED': REJECTED_NETWORK}
NO_ERROR = {'groupId': 0, 'groupName': 'OK', 'id': 0, 'name': 'NO_ERROR', 'description': 'No Error',
            'permanent': False}
ABSENT_SUBSCRIBER = {'groupId': 1, 'groupName': 'HANDSET_ERRORS', 'id': 27, 'name': 'EC_ABSENT_SUBSCRIBER',
                     'description': 'Absent Subscriber', 'permanent': False}


def service_exception(message_id, text, **extra):
    return {'requestError': {'serviceException': {'messageId': message_id, 'text': text, **extra}}}


def v3_error(violations):
    return {'errorCode': 'E400', 'description': 'Request cannot be processed.',
            'action': 'Check the syntax, violations and adjust the request.',
            'violations': [{'property': prop, 'violation': text} for prop, text in violations],
            'resources': [{'name': 'API documentation', 'url': 'https://www.infobip.com/docs/api'}]}


class Infobip(HttpApiProvider):
    name = 'infobip'
    price_unit = 'EUR'
    undelivered_statuses = tuple(UNDELIVERED)
    defaults = {
        'api_key': INFOBIP_API_KEY,
        'username': INFOBIP_USERNAME,
        'password': INFOBIP_PASSWORD,
        'credit': '1000.00',
        'part_price': '0.0450',
        # Infobip documents no bound on destinations per request; this one only keeps the
        # stand-in's answers small.
        'max_recipients': 10000,
    }
    schema = {'api_key': as_str(), 'username': as_str(), 'password': as_str()}

    def is_send(self, method, path):
        return method == 'POST' and path in (V2, V3)

    def send_summary(self, path, body, headers):
        messages = read_json(body)['messages']
        numbers = [destination['to'] for message in messages for destination in message['destinations']]
        first = messages[0]
        text = first['content']['text'] if path == V3 else first['text']
        return self.digest(headers.get('Authorization')), numbers, text, ''

    def error_answer(self, request, status, headers):
        if status == 429:
            body = service_exception('TOO_MANY_REQUESTS', 'Too many requests')
        else:
            body = service_exception('GENERAL_ERROR', 'Something went wrong. Please contact support.')
        request.reply_json(status, body, headers)

    def _auth_ok(self, header, config):
        header = header or ''
        if header.startswith('App '):
            return secret_ok(header[4:].strip(), config['api_key'])
        credentials = basic_auth(header)
        return bool(credentials) and secret_ok(credentials[0], config['username']) and \
            secret_ok(credentials[1], config['password'])

    def handle(self, request, method, path, query, body, fault):
        config = self.config()
        if not self._auth_ok(request.headers.get('Authorization'), config):
            request.reply_json(401, service_exception('UNAUTHORIZED', 'Invalid login details'))
            return
        if path not in (V2, V3):
            request.reply_json(404, service_exception('NOT_FOUND', 'Requested URL not found: ' + path))
            return
        if method != 'POST':
            request.reply_json(405, service_exception('METHOD_NOT_ALLOWED', 'Request method not supported'))
            return
        version = 3 if path == V3 else 2
        problems = []
        payload = None
        if media_type(request) != JSON:
            problems.append(('Content-Type', f'must be {JSON}'))
        else:
            try:
                payload = read_json(body)
            except NotJson:
                problems.append(('body', 'malformed JSON'))
        messages = self._messages(payload, version, problems) if not problems else []
        total = sum(len(message['destinations']) for message in messages)
        if not problems and total > config['max_recipients']:
            problems.append(('messages', f'at most {config["max_recipients"]} destinations'))
        if problems:
            if version == 3:
                request.reply_json(400, v3_error(problems))
            else:
                request.reply_json(400, service_exception('BAD_REQUEST', 'Bad request', validationErrors={
                    prop: [text] for prop, text in problems}))
            return
        request.reply_json(200, self._send(config, payload, messages, version, fault))

    @staticmethod
    def _messages(payload, version, problems):
        """The messages of a request, each {destinations, text, sender, url}; problems
        appended as (property, violation)."""
        if not isinstance(payload, dict) or not isinstance(payload.get('messages'), list) or not payload['messages']:
            problems.append(('messages', 'must not be empty'))
            return []
        found = []
        for index, message in enumerate(payload['messages']):
            where = f'messages[{index}]'
            if not isinstance(message, dict):
                problems.append((where, 'must be an object'))
                continue
            destinations = message.get('destinations')
            if not isinstance(destinations, list) or not destinations:
                problems.append((f'{where}.destinations', 'must not be empty'))
                continue
            if not all(isinstance(d, dict) and isinstance(d.get('to'), str) and d['to'] for d in destinations):
                problems.append((f'{where}.destinations[].to', 'must not be blank'))
                continue
            if version == 3:
                content = message.get('content')
                text = content.get('text') if isinstance(content, dict) else None
                if not isinstance(text, str) or not text:
                    problems.append((f'{where}.content.text', 'must not be blank'))
                    continue
                if 'text' in message or 'from' in message:
                    problems.append((where, 'text and from are v2 fields: use content.text and sender'))
                    continue
                webhooks = message.get('webhooks') or {}
                url = (webhooks.get('delivery') or {}).get('url') if isinstance(webhooks, dict) else None
                sender = message.get('sender')
            else:
                text = message.get('text')
                if not isinstance(text, str) or not text:
                    problems.append((f'{where}.text', 'must not be blank'))
                    continue
                url, sender = message.get('notifyUrl'), message.get('from')
            if url is not None and not (isinstance(url, str) and url.startswith(('http://', 'https://'))):
                problems.append((where, 'delivery report URL is not valid'))
                continue
            found.append({'destinations': destinations, 'text': text, 'sender': sender, 'url': url,
                          'callback_data': message.get('callbackData')})
        return found

    def _send(self, config, payload, messages, version, fault):
        bulk_id = payload.get('bulkId') or str(uuid.uuid4())
        answers = []
        for message in messages:
            accepted, entries = [], []
            for destination in message['destinations']:
                digits = international_digits(destination['to'])
                message_id = destination.get('messageId') or str(uuid.uuid4())
                if self.is_invalid(config, digits, fault):
                    self.bump('recipients_rejected')
                    entries.append((destination['to'], message_id, REJECTED_DESTINATION, 1))
                else:
                    accepted.append((destination['to'], message_id, digits))
            records = self.accept(config, [digits for _to, _id, digits in accepted], message['text'], fault,
                                  ids=[message_id for _to, message_id, _digits in accepted],
                                  batch_id=bulk_id) if accepted else []
            if records is None:
                entries += [(to, message_id, REJECTED_NOT_ENOUGH_CREDITS, 1) for to, message_id, _d in accepted]
                records = []
            for (to, message_id, _digits), record in zip(accepted, records, strict=False):
                entries.append((to, message_id, PENDING_ACCEPTED, record['parts']))
                self._report(record, to, message, bulk_id, version)
            order = {d['to']: index for index, d in enumerate(message['destinations'])}
            entries.sort(key=lambda entry: order[entry[0]])
            for to, message_id, status, parts in entries:
                if version == 3:
                    answers.append({'messageId': message_id, 'status': status, 'destination': to,
                                    'details': {'messageCount': parts}})
                else:
                    answers.append({'to': to, 'status': status, 'messageId': message_id})
        return {'bulkId': bulk_id, 'messages': answers}

    def _report(self, record, to, message, bulk_id, version):
        """One final report (Infobip sends intermediate ones only when asked), JSON POSTed."""
        undelivered = record['undelivered']
        parts = record['parts']
        per_part = (Decimal(record['price']) / parts).quantize(Decimal('0.00001'))
        sent_at = _stamp(record['created_at'])

        def build():
            result = {
                'bulkId': bulk_id, 'messageId': record['id'], 'to': to, 'sentAt': sent_at, 'doneAt': _stamp(),
                'price': {'pricePerMessage': float(per_part), 'currency': self.price_unit},
                'status': UNDELIVERED[self.setting('undelivered_status')] if undelivered else DELIVERED_TO_HANDSET,
                'error': ABSENT_SUBSCRIBER if undelivered else NO_ERROR,
            }
            if version == 3:
                result.update(messageCount=parts, sender=message['sender'])
            else:
                result.update(smsCount=parts)
            if message['callback_data'] is not None:
                result['callbackData'] = message['callback_data']
            return {'results': [result]}

        self.deliver(message['url'], [json_callback(build)])


def _stamp(moment=None):
    moment = time.time() if moment is None else moment
    return datetime.fromtimestamp(moment, timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + '+0000'


__all__ = ['INFOBIP_API_KEY', 'INFOBIP_PASSWORD', 'INFOBIP_USERNAME', 'Infobip']
