"""Brevo transactional SMS: ``POST /v3/transactionalSMS/send`` (and the deprecated
``/v3/transactionalSMS/sms``) and its SMS webhooks.

Written from Brevo's public documentation:

* Send SMS message: https://developers.brevo.com/docs/transactional-sms-endpoints and the
  official SDK's model https://github.com/sendinblue/APIv3-php-library/blob/master/docs/Model/SendTransacSms.md
  (``unicodeEnabled`` "[optional] [default to false]") ("This endpoint is
  https://api.brevo.com/v3/transactionalSMS/send with the POST method", headers ``api-key``,
  ``content-type: application/json``, ``accept: application/json``; body ``sender`` "The
  number of characters is limited to 11 for alphanumeric characters and 15 for numeric
  characters", ``recipient`` "Mobile number to send SMS with the country code" (e.g.
  33689965433), ``content`` (required), ``type`` transactional / marketing (default
  transactional), ``tag``, ``webUrl`` "Webhook to call for each event triggered by the
  message", ``unicodeEnabled``, ``organisationPrefix``). Errors {``code``, ``message``}: 400
  ``missing_parameter`` / ``invalid_parameter``, 401 ``unauthorized``, 402
  ``not_enough_credits``.
* The endpoint change: https://developers.brevo.com/changelog/deprecated-endpoint-post-v3transactionalsmssms
  (the new endpoint answers ``{"messageId": 1511882900176220}``; the deprecated one
  ``{"reference", "messageId", "smsCount", "usedCredits", "remainingCredits"}``), both 201.
* SMS webhook events: https://developers.brevo.com/docs/transactional-webhooks (a JSON POST:
  ``id`` (the webhook's), ``to``, ``sms_count``, ``credits_used``, ``messageId``,
  ``remaining_credit``, ``msg_status`` "Status of the message(sent, delivered, soft_bounce,
  hard_bounce)", ``date``, ``type``, ``reference``), to the request's ``webUrl`` else the
  account's transactional SMS webhook (the ``callback_url`` setting).

One recipient per request; prices in SMS credits.
"""
import http
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

from ...settings import as_int, as_str
from ._common import JSON, HttpApiProvider, NotJson, international_digits, json_callback, media_type, read_json, \
    secret_ok

BREVO_API_KEY = 'xkeysib-sandbox-brevo-key'
SEND, DEPRECATED = '/v3/transactionalSMS/send', '/v3/transactionalSMS/sms'
CET = timezone(timedelta(hours=1))


def problem(code, message):
    return {'code': code, 'message': message}


class Brevo(HttpApiProvider):
    name = 'brevo'
    price_unit = 'credits'
    send_status = 201
    undelivered_statuses = ('hard_bounce', 'soft_bounce')
    defaults = {
        'api_key': BREVO_API_KEY,
        'webhook_id': 26570,
        'credit': '10000.00',
        'part_price': '1.5',
    }
    schema = {'api_key': as_str(), 'webhook_id': as_int(0)}

    def is_send(self, method, path):
        return method == 'POST' and path in (SEND, DEPRECATED)

    def send_summary(self, path, body, headers):
        payload = read_json(body)
        traffic = 'marketing' if payload.get('type') == 'marketing' else 'transactional'
        return self.digest(headers.get('api-key')), [payload['recipient']], payload.get('content'), traffic

    def error_answer(self, request, status, headers):
        code = {429: 'too_many_requests'}.get(status, 'internal_error')
        request.reply_json(status, problem(code, http.HTTPStatus(status).phrase), headers)

    def handle(self, request, method, path, query, body, fault):
        config = self.config()
        if not secret_ok(request.headers.get('api-key'), config['api_key']):
            request.reply_json(401, problem('unauthorized', 'Key not found'))
            return
        if path not in (SEND, DEPRECATED):
            request.reply_json(404, problem('not_found', 'Invalid route'))
            return
        if method != 'POST':
            request.reply_json(405, problem('method_not_allowed', 'Method not allowed'))
            return
        if media_type(request) != JSON:
            request.reply_json(400, problem('invalid_parameter', f'Content-Type must be {JSON}'))
            return
        try:
            payload = read_json(body)
        except NotJson:
            payload = None
        if not isinstance(payload, dict):
            request.reply_json(400, problem('invalid_parameter', 'Invalid JSON body'))
            return
        request.reply_json(*self._send(config, payload, path == DEPRECATED, fault))

    def _send(self, config, payload, deprecated, fault):
        for name in ('sender', 'recipient', 'content'):
            if payload.get(name) in (None, ''):
                return 400, problem('missing_parameter', f'{name} is missing')
        sender, recipient, content = payload['sender'], payload['recipient'], payload['content']
        if not all(isinstance(value, str) for value in (sender, recipient, content)):
            return 400, problem('invalid_parameter', 'sender, recipient and content must be strings')
        if not (sender.isdigit() and len(sender) <= 15 or sender.isalnum() and len(sender) <= 11):
            return 400, problem('invalid_parameter',
                                'sender is limited to 11 alphanumeric characters or 15 numeric characters')
        kind = payload.get('type', 'transactional')
        if kind not in ('transactional', 'marketing'):
            return 400, problem('invalid_parameter', 'type must be transactional or marketing')
        if 'unicodeEnabled' in payload and not isinstance(payload['unicodeEnabled'], bool):
            return 400, problem('invalid_parameter', 'unicodeEnabled must be a boolean')
        url = payload.get('webUrl')
        if url is not None and not (isinstance(url, str) and url.startswith(('http://', 'https://'))):
            return 400, problem('invalid_parameter', 'webUrl is not a valid URL')
        digits = international_digits(recipient)
        if self.is_invalid(config, digits, fault):
            self.bump('recipients_rejected')
            return 400, problem('invalid_parameter', 'Invalid phone number')
        message_id = random.randrange(10 ** 15, 10 ** 16)
        reference = uuid.uuid4().hex[:19]
        # unicodeEnabled "indicates whether the content should be treated as unicode or not",
        # false by default: without it a text outside the GSM alphabet does not arrive as written.
        records = self.accept(config, [digits], content, fault, ids=[str(message_id)], reference=reference,
                              sms_type=kind, unicode=payload.get('unicodeEnabled') is True)
        if records is None:
            return 402, problem('not_enough_credits', 'Not enough credits')
        record = records[0]
        self._events(config, record, message_id, recipient, url)
        if not deprecated:
            return 201, {'messageId': message_id}
        return 201, {'reference': reference, 'messageId': message_id, 'smsCount': record['parts'],
                     'usedCredits': float(record['price']), 'remainingCredits': float(self.setting('credit'))}

    def _events(self, config, record, message_id, recipient, url):
        """sent, then delivered or hard_bounce, JSON POSTed."""
        final = config['undelivered_status'] if record['undelivered'] else 'delivered'

        def make(status):
            def build():
                return {
                    'id': config['webhook_id'], 'to': recipient.lstrip('+'), 'sms_count': record['parts'],
                    'credits_used': float(record['price']), 'messageId': message_id,
                    'remaining_credit': float(self.setting('credit')), 'msg_status': status,
                    'date': datetime.fromtimestamp(time.time(), CET).strftime('%Y-%m-%d %H:%M:%S'),
                    'type': record['sms_type'], 'reference': record['reference'],
                }
            return json_callback(build)

        self.deliver(url, [make('sent'), make(final)])


__all__ = ['BREVO_API_KEY', 'Brevo']
