"""Africa's Talking: the SMS messaging API (form and bulk JSON) and its delivery reports.

Written from Africa's Talking's public documentation:

* Send SMS (endpoints, parameters, answer):
  https://developers.africastalking.com/docs/sms/sending/bulk and
  https://docs.africastalking.com/sms/sending ("Live: https://api.africastalking.com/version1/messaging,
  Sandbox: https://api.sandbox.africastalking.com/version1/messaging"; ``username``, ``to``
  "A comma separated string of recipients' phone numbers", ``message`` required; ``from``,
  ``bulkSMSMode``, ``enqueue``, ``keyword``, ``linkId``, ``retryDurationInHours`` optional;
  the ``apiKey`` header; ``Accept`` application/json, "The default is application/xml").
* Delivery reports: https://developers.africastalking.com/docs/sms/notifications and
  https://docs.africastalking.com/sms/deliveryreports ("register a callback url in your
  Dashboard. We then update the delivery status information using POST requests made to the
  callback URL", with ``id``, ``status`` (Sent, Submitted, Buffered, Rejected, Success,
  Failed), ``phoneNumber``, ``networkCode``, ``failureReason`` only when Rejected or Failed).
* The official Python SDK (github.com/AfricasTalkingLtd/africastalking-python,
  ``africastalking/SMS.py`` and ``Service.py``): form POST to ``/version1/messaging`` with
  ``bulkSMSMode=1``, numbers checked as ``^\\+\\d{1,3}\\d{3,}$``, the sandbox host used when the
  username is ``sandbox``.

Both hosts serve the same paths: the stand-in answers ``POST /version1/messaging`` (form)
and ``POST /version1/messaging/bulk`` (JSON ``username``, ``message``, ``senderId``,
``phoneNumbers``, ``enqueue``) with the answer of the documentation: HTTP 201 and
``SMSMessageData`` {``Message`` "Sent to n/m Total Cost: KES x", ``Recipients`` [{``number``,
``status``, ``statusCode``, ``cost``, ``messageId``, ``messageParts``}]}, per-recipient status
codes 101 Success, 403 InvalidPhoneNumber, 405 InsufficientBalance, 406 UserInBlacklist.
Credentials: username ``sandbox`` (the sandbox host's) and the API key below. Delivery
reports go to the ``callback_url`` setting (the dashboard's), form-encoded.
"""
import http
import uuid
from decimal import Decimal
from xml.sax.saxutils import escape

from ...settings import as_choice, as_str
from ._common import FORM, JSON, HttpApiProvider, NotJson, form_callback, international_digits, last, \
    media_type, read_form, read_json, secret_ok

AT_USERNAME = 'sandbox'
AT_API_KEY = 'sandbox-africastalking-key'
SEND_PATHS = ('/version1/messaging', '/version1/messaging/bulk')
# https://developers.africastalking.com/docs/sms/sending/bulk: the statusCode of a recipient.
SUCCESS = (101, 'Success')
INVALID_PHONE = (403, 'InvalidPhoneNumber')
INSUFFICIENT_BALANCE = (405, 'InsufficientBalance')
USER_IN_BLACKLIST = (406, 'UserInBlacklist')


class AfricasTalking(HttpApiProvider):
    name = 'africastalking'
    price_unit = 'KES'
    send_status = 201
    undelivered_statuses = ('Failed', 'Rejected')
    defaults = {
        'username': AT_USERNAME,
        'api_key': AT_API_KEY,
        'network_code': '63902',       # Safaricom Kenya, one of the documented networkCode values
        # The statusCode of an accepted recipient: the documentation lists 100 Processed,
        # 101 Sent and 102 Queued (answers seen in the wild say status "Success" with each).
        'success_status_code': 101,
        'credit': '10000.00',
        'part_price': '0.80',
        # Not documented: the stand-in's own bound (a guess, see the README's limitations).
        'max_recipients': 1000,
    }
    schema = {'username': as_str(), 'api_key': as_str(), 'network_code': as_str(),
              'success_status_code': lambda value: int(as_choice('100', '101', '102')(str(value)))}

    def is_send(self, method, path):
        return method == 'POST' and path.rstrip('/') in SEND_PATHS

    def send_summary(self, path, body, headers):
        if path.rstrip('/').endswith('/bulk'):
            payload = read_json(body)
            return payload.get('username', ''), payload.get('phoneNumbers') or [], payload.get('message'), ''
        form = read_form(body)
        numbers = [number.strip() for number in (last(form, 'to') or '').split(',') if number.strip()]
        return last(form, 'username') or '', numbers, last(form, 'message'), ''

    def error_answer(self, request, status, headers):
        request.reply(status, http.HTTPStatus(status).phrase, 'text/plain; charset=utf-8', headers)

    def handle(self, request, method, path, query, body, fault):
        path = path.rstrip('/')
        if path not in SEND_PATHS:
            request.reply(404, 'Not Found', 'text/plain; charset=utf-8')
            return
        if method != 'POST':
            request.reply(405, 'Method Not Allowed', 'text/plain; charset=utf-8')
            return
        config = self.config()
        fields, problem = self._fields(request, path, body)
        if problem:
            request.reply(400, problem, 'text/plain; charset=utf-8')
            return
        if not secret_ok(request.headers.get('apiKey'), config['api_key']) or \
                fields['username'] != config['username']:
            request.reply(401, 'The supplied authentication is invalid', 'text/plain; charset=utf-8')
            return
        numbers = fields['numbers']
        if len(numbers) > config['max_recipients']:
            request.reply(400, f'Too many recipients: {len(numbers)} > {config["max_recipients"]}',
                          'text/plain; charset=utf-8')
            return
        answer = self._send(config, numbers, fields['message'], fault)
        accept = request.headers.get('Accept') or ''
        if 'application/json' in accept:
            request.reply_json(201, answer)
        else:
            # "The default is application/xml": a client that does not ask for JSON gets XML.
            request.reply(201, _xml(answer), 'application/xml')

    def _fields(self, request, path, body):
        """(username, numbers, message) of the request, or the 400 text of what is wrong."""
        if path.endswith('/bulk'):
            if media_type(request) != JSON:
                return None, f'Content-Type must be {JSON}'
            try:
                payload = read_json(body)
            except NotJson:
                return None, 'Invalid JSON body'
            if not isinstance(payload, dict):
                return None, 'Invalid JSON body'
            for name in ('username', 'message', 'phoneNumbers'):
                if payload.get(name) in (None, '', []):
                    return None, f"Request is missing required field '{name}'"
            numbers = payload['phoneNumbers']
            if not isinstance(numbers, list):
                return None, "'phoneNumbers' must be a list"
            return {'username': payload['username'], 'message': payload['message'],
                    'numbers': [str(n) for n in numbers]}, None
        if media_type(request) != FORM:
            return None, f'Content-Type must be {FORM}'
        form = read_form(body)
        for name in ('username', 'to', 'message'):
            if not last(form, name):
                return None, f"Request is missing required form field '{name}'"
        numbers = [number.strip() for number in last(form, 'to').split(',') if number.strip()]
        return {'username': last(form, 'username'), 'message': last(form, 'message'),
                'numbers': numbers}, None

    def _send(self, config, numbers, text, fault):
        recipients = {}
        valid = {}              # number as written -> E.164 digits, each number once
        for raw in dict.fromkeys(numbers):
            digits = international_digits(raw, plus='required')
            if self.is_invalid(config, digits, fault):
                recipients[raw] = _recipient(raw, INVALID_PHONE)
                self.bump('recipients_rejected')
            elif digits in config['unsubscribed_numbers']:
                recipients[raw] = _recipient(raw, USER_IN_BLACKLIST)
                self.bump('recipients_opted_out')
            else:
                valid[raw] = digits
        records = self.accept(config, list(valid.values()), text, fault,
                              ids=[f'ATXid_{uuid.uuid4().hex}' for _ in valid]) if valid else []
        if records is None:
            for raw in valid:
                recipients[raw] = _recipient(raw, INSUFFICIENT_BALANCE)
            records = []
        total = Decimal(0)
        for raw, record in zip(valid, records, strict=False):
            cost = Decimal(record['price'])
            total += cost
            recipients[raw] = dict(_recipient(raw, (config['success_status_code'], SUCCESS[1])),
                                   cost=f'{self.price_unit} {cost:.4f}',
                                   messageId=record['id'], messageParts=record['parts'])
            self._reports(config, record)
        ordered = [recipients[raw] for raw in dict.fromkeys(numbers)]
        total_text = f'{self.price_unit} {total:.4f}' if records else '0'
        return {'SMSMessageData': {
            'Message': f'Sent to {len(records)}/{len(ordered)} Total Cost: {total_text}',
            'Recipients': ordered,
        }}

    def _reports(self, config, record):
        """Sent, then Success or Failed (with a failureReason), form-encoded, to the
        dashboard's callback URL."""
        final = (config['undelivered_status'], 'DeliveryFailure') if record['undelivered'] else ('Success', None)
        steps = [('Sent', None), final]

        def make(status, reason):
            def build():
                params = {'id': record['id'], 'status': status, 'phoneNumber': record['to'],
                          'networkCode': config['network_code'], 'retryCount': '0'}
                if reason:
                    params['failureReason'] = reason
                return params
            return form_callback(build)

        self.deliver(None, [make(*step) for step in steps])


def _recipient(number, code_status):
    code, status = code_status
    return {'number': number, 'status': status, 'statusCode': code, 'cost': '0', 'messageId': 'None'}


def _xml(answer):
    data = answer['SMSMessageData']
    items = ''.join(
        '<Recipient>' + ''.join(f'<{key}>{escape(str(value))}</{key}>' for key, value in item.items())
        + '</Recipient>' for item in data['Recipients'])
    return (f'<?xml version="1.0" encoding="UTF-8"?><AfricasTalkingResponse><SMSMessageData>'
            f'<Message>{escape(data["Message"])}</Message><Recipients>{items}</Recipients>'
            f'</SMSMessageData></AfricasTalkingResponse>')


__all__ = ['AT_API_KEY', 'AT_USERNAME', 'AfricasTalking']
