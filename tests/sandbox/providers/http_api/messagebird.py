"""Bird (MessageBird) SMS REST API: ``POST /messages`` and its status reports.

Written from MessageBird's public documentation (now at Bird's connectivity docs):

* SMS messaging API: https://developers.messagebird.com/api/sms-messaging/ ("Send outbound
  SMS": ``POST https://rest.messagebird.com/messages``, ``Authorization: AccessKey
  {accessKey}``, JSON or form; ``originator`` "a telephone number (including country code)
  or an alphanumeric string ... maximum length is 11 characters", ``body``, ``recipients``
  "An array of recipients msisdns" (a comma-separated list in a form), "up to 50" per
  request; optional ``reference``, ``reportUrl``, ``type``, ``datacoding``, ``validity``,
  ``gateway``, ``scheduledDatetime``; ``datacoding`` "plain (GSM 03.38 characters only),
  unicode (contains non-GSM 03.38 characters) or auto, we will then set unicode or plain
  depending on the body content", plain by default). The answer: 201 and the message object {``id``,
  ``href``, ``direction`` mt, ``type`` sms, ``originator``, ``body``, ``reference``, ...,
  ``createdDatetime``, ``recipients`` {``totalCount``, ``totalSentCount``,
  ``totalDeliveredCount``, ``totalDeliveryFailedCount``, ``items`` [{``recipient`` (a
  number), ``status`` sent, ``statusDatetime``, ``messagePartCount``}]}}. Errors:
  {``errors``: [{``code``, ``description``, ``parameter``}]}: 2 "Request not allowed
  (incorrect access_key)" (401), 9 missing parameter / "no (correct) recipients found",
  10 invalid parameter, 25 "Not enough balance" (422), 99 internal error.
* Status reports: https://developers.messagebird.com/api/sms-messaging/#handle-a-status-report
  and https://docs.bird.com/connectivity-platform/troubleshooting/i-am-missing-my-delivery-reports
  ("Status reports are only provided for SMS messages that have a reference", "sent to your
  platform through a GET request": ``id``, ``reference``, ``recipient``, ``status`` (sent,
  buffered, delivered, expired, delivery_failed), ``statusDatetime``, ``statusReason``,
  ``statusErrorCode``, ``price[amount]``, ``price[currency]``, ``mccmnc``, ``ported``,
  ``messageLength``, ``messagePartCount``), to the request's ``reportUrl`` else the
  dashboard's status report URL (the ``callback_url`` setting).

One message id for the whole request; its recipients are told apart by number. Invalid
numbers are left out of ``recipients.items`` (none valid: 422 code 9).
"""
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from ...settings import as_str
from ._common import FORM, JSON, HttpApiProvider, NotJson, form_callback, international_digits, last, \
    media_type, read_form, read_json, secret_ok

MESSAGEBIRD_ACCESS_KEY = 'sandbox-messagebird-key'


def errors(code, description, parameter=None):
    return {'errors': [{'code': code, 'description': description, 'parameter': parameter}]}


def _iso(moment=None):
    moment = time.time() if moment is None else moment
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec='seconds')


class MessageBird(HttpApiProvider):
    name = 'messagebird'
    price_unit = 'EUR'
    send_status = 201
    undelivered_statuses = ('delivery_failed', 'expired')
    defaults = {
        'access_key': MESSAGEBIRD_ACCESS_KEY,
        'mccmnc': '20801',
        'credit': '1000.00',
        'part_price': '0.0700',
        'max_recipients': 50,
    }
    schema = {'access_key': as_str(), 'mccmnc': as_str()}

    def is_send(self, method, path):
        return method == 'POST' and path.rstrip('/') == '/messages'

    def send_summary(self, path, body, headers):
        if (headers.get('Content-Type') or '').startswith(JSON):
            fields = read_json(body)
        else:
            fields = {name: last(read_form(body), name) for name in read_form(body)}
        recipients = fields.get('recipients') or []
        if isinstance(recipients, str):
            recipients = [part.strip() for part in recipients.split(',') if part.strip()]
        return self.digest(headers.get('Authorization')), recipients, fields.get('body'), ''

    def error_answer(self, request, status, headers):
        if status == 429:
            body = errors(429, 'Too many requests')
        else:
            body = errors(99, 'Internal error')
        request.reply_json(status, body, headers)

    def handle(self, request, method, path, query, body, fault):
        config = self.config()
        header = request.headers.get('Authorization') or ''
        if not (header.startswith('AccessKey ') and secret_ok(header[10:].strip(), config['access_key'])):
            request.reply_json(401, errors(2, 'Request not allowed (incorrect access_key)', 'access_key'))
            return
        if path.rstrip('/') != '/messages':
            request.reply_json(404, errors(20, 'message not found'))
            return
        if method != 'POST':
            request.reply_json(405, errors(21, 'Bad request (method not allowed)'))
            return
        fields = self._fields(request, body)
        if isinstance(fields, tuple):
            request.reply_json(*fields)
            return
        request.reply_json(*self._send(config, fields, fault))

    @staticmethod
    def _fields(request, body):
        """The request's fields, or an error answer (status, body)."""
        kind = media_type(request)
        if kind == JSON:
            try:
                fields = read_json(body)
            except NotJson:
                return 400, errors(21, 'Bad request (invalid JSON)')
            if not isinstance(fields, dict):
                return 400, errors(21, 'Bad request (invalid JSON)')
        elif kind == FORM:
            form = read_form(body)
            fields = {name: last(form, name) for name in form}
        else:
            return 400, errors(21, f'Bad request (Content-Type must be {JSON} or {FORM})')
        for name in ('originator', 'body', 'recipients'):
            if fields.get(name) in (None, '', []):
                return 422, errors(9, f'{name} is required', name)
        originator = str(fields['originator'])
        if not (originator.lstrip('+').isdigit() and len(originator.lstrip('+')) <= 17 or
                originator.isalnum() and len(originator) <= 11 or len(originator) <= 11 and ' ' in originator):
            return 422, errors(10, 'originator is invalid', 'originator')
        recipients = fields['recipients']
        if isinstance(recipients, str):
            recipients = [part.strip() for part in recipients.split(',') if part.strip()]
        if not isinstance(recipients, list):
            return 422, errors(10, 'recipients is invalid', 'recipients')
        fields['recipients'] = [str(recipient) for recipient in recipients]
        if not isinstance(fields['body'], str):
            return 422, errors(10, 'body is invalid', 'body')
        if fields.get('datacoding', 'plain') not in ('plain', 'unicode', 'auto'):
            return 422, errors(10, 'datacoding is invalid', 'datacoding')
        url = fields.get('reportUrl')
        if url and not (isinstance(url, str) and url.startswith(('http://', 'https://'))):
            return 422, errors(10, 'reportUrl is invalid', 'reportUrl')
        return fields

    def _send(self, config, fields, fault):
        recipients = fields['recipients']
        if len(recipients) > config['max_recipients']:
            return 422, errors(9, f'too many recipients (at most {config["max_recipients"]})', 'recipients')
        numbers = []
        for raw in recipients:
            digits = international_digits(raw)
            if self.is_invalid(config, digits, fault):
                self.bump('recipients_rejected')
            elif digits not in numbers:
                numbers.append(digits)
        if not numbers:
            return 422, errors(9, 'no (correct) recipients found', 'recipients')
        message_id = uuid.uuid4().hex
        text = fields['body']
        # datacoding "plain (GSM 03.38 characters only), unicode (contains non-GSM 03.38
        # characters) or auto", plain by default: a plain text keeps only GSM characters.
        records = self.accept(config, numbers, text, fault, ids=[f'{message_id}/{digits}' for digits in numbers],
                              message_id=message_id, unicode=fields.get('datacoding') in ('unicode', 'auto'))
        if records is None:
            return 422, errors(25, 'Not enough balance', None)
        now = _iso()
        reference = fields.get('reference')
        if reference:
            for record in records:
                self._reports(config, record, message_id, reference, fields.get('reportUrl'))
        return 201, {
            'id': message_id, 'href': f'https://rest.messagebird.com/messages/{message_id}',
            'direction': 'mt', 'type': fields.get('type') or 'sms', 'originator': str(fields['originator']),
            'body': text, 'reference': reference, 'validity': fields.get('validity'),
            'gateway': fields.get('gateway'), 'typeDetails': {}, 'datacoding': fields.get('datacoding') or 'plain',
            'mclass': 1, 'scheduledDatetime': fields.get('scheduledDatetime'), 'createdDatetime': now,
            'recipients': {
                'totalCount': len(records), 'totalSentCount': len(records), 'totalDeliveredCount': 0,
                'totalDeliveryFailedCount': 0,
                'items': [{'recipient': int(record['to'][1:]), 'status': 'sent', 'statusDatetime': now,
                           'messagePartCount': record['parts']} for record in records],
            },
        }

    def _reports(self, config, record, message_id, reference, url):
        """sent, then delivered or delivery_failed: GET requests with a query string."""
        final = config['undelivered_status'] if record['undelivered'] else 'delivered'

        def make(status):
            def build():
                params = {
                    'id': message_id, 'reference': reference, 'recipient': record['to'][1:], 'status': status,
                    'statusDatetime': _iso(), 'mccmnc': config['mccmnc'], 'ported': '0',
                    'messageLength': str(len(record['body'])), 'messagePartCount': str(record['parts']),
                }
                if status != 'sent':
                    params.update({'price[amount]': str(Decimal(record['price'])),
                                   'price[currency]': self.price_unit})
                if status in self.undelivered_statuses:
                    params.update(statusReason='unknown subscriber', statusErrorCode='1')
                else:
                    params['statusReason'] = 'successfully delivered' if status == 'delivered' else 'pending DLR'
                return params
            return form_callback(build, 'GET')

        self.deliver(url, [make('sent'), make(final)])


__all__ = ['MESSAGEBIRD_ACCESS_KEY', 'MessageBird']
