"""SMSFactor: ``POST /send`` (campaign, JSON), ``GET /send`` (single message), the credits
and delivery report webhooks.

Written from SMSFactor's public documentation:

* Single message: https://dev.smsfactor.com/en/api/sms/send/send-single ("GET /send";
  query ``token`` "required if not in headers", ``text`` required, ``to`` required
  (``33612345678``), ``pushtype`` "alert or marketing", ``delay``, ``sender``, ``gsmsmsid``
  "An id of your choice to link it to its delivery report"; headers ``Accept:
  application/json`` and ``Authorization: Bearer your.token``); the answer ``{status: 1,
  message: "OK", ticket "The id of your campaign", cost, credits, total, sent, blacklisted,
  duplicated, npai, invalid, not_allowed, flood, country_limit}`` in JSON, or the same in
  ``<response>`` XML.
* Campaign: https://dev.smsfactor.com/it/api/sms/invio/campagna-sms ("POST /send", body
  ``{"sms": {"message": {"text", "pushtype", "sender", "delay", "unicode"}, "recipients":
  {"gsm": [{"gsmsmsid": "100", "value": "33612345678"}]}}}``, ``text`` and ``value``
  required), same answer.
* Errors: the official PHP SDK (github.com/smsfactor/smsfactor-php-sdk,
  ``src/ApiRequestor.php``): a negative ``status`` with ``details``: -1 authentication error,
  -2 XML error, -3 insufficient credits, -6 JSON error, -7 data error, -99 unknown error.
* Credits: ``GET /credits`` (``credits``, ``status``, ``message``; SDK ``Account::credits()``).
* Delivery reports: https://dev.smsfactor.com/it/api/sms/webhook/notifica-di-ricezione ("To
  receive delivery reports, you have to create a DLR webhook. We'll then push the delivery
  reports through a POST HTTP request with a JSON string in the body (raw)": ``date``,
  ``status``, ``destination``, ``message_id`` "the id associated with the message if the
  gsmsmsid parameter was set", ``campaign_id``, ``country_code``; status 0 NOT_SENT, 1 SENT,
  2 NOT_DELIVERED, 3 DELIVERED, 4 NOT_ALLOWED, 5 INVALID_DESTINATION, 6 INVALID_SENDER, 7
  ROUTE_NOT_AVAILABLE, 9 REJECTED, 11 NETWORK_ERROR, 12 EXPIRED). The webhook is set in the
  account: the ``callback_url`` setting.

Numbers are international digits (``33612345678``); a ``+`` is tolerated. Invalid numbers,
the ``unsubscribed_numbers`` (``blacklisted``) and repeats (``duplicated``) are filtered and
counted, as the answer documents; the others are sent. Unverified, chosen here: HTTP 401 for
a bad token (the SDK reads only ``status`` -1); HTTP 200 for the other negative statuses; a
campaign with no number left is still status 1 with ``sent`` 0; the undelivered status
reported is 11 (NETWORK_ERROR); at most 10,000 recipients per request (``max_recipients``).
"""
import http
import time
from decimal import Decimal
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

from ...common import region_of
from ...settings import as_str
from ._common import JSON, HttpApiProvider, NotJson, international_digits, json_callback, media_type, \
    read_json, secret_ok

SMSFACTOR_TOKEN = 'sandbox.smsfactor.token'
SEND_PATHS = ('/send', '/send/simulate')
CREDITS_PATH = '/credits'
DELIVERED = 3
PARIS = timezone(timedelta(hours=1))


class SmsFactor(HttpApiProvider):
    name = 'smsfactor'
    price_unit = 'credits'
    # Final DLR statuses of an SMS not delivered: 11 NETWORK_ERROR, 4 NOT_ALLOWED, 5
    # INVALID_DESTINATION, 6 INVALID_SENDER, 7 ROUTE_NOT_AVAILABLE, 9 REJECTED, 12 EXPIRED (2
    # NOT_DELIVERED is "sent but not delivered yet": not final).
    undelivered_statuses = (11, 4, 5, 6, 7, 9, 12)
    defaults = {
        'token': SMSFACTOR_TOKEN,
        'credit': '1000',
        'part_price': '1',
        'max_recipients': 10000,
    }
    schema = {'token': as_str()}

    def is_send(self, method, path):
        return path.rstrip('/') == '/send' and method in ('GET', 'POST')

    def send_summary(self, path, body, headers):
        # The campaign (JSON body); a single message's parameters are in its query string,
        # which the request log does not read.
        message = read_json(body)['sms']['message']
        gsm = read_json(body)['sms']['recipients']['gsm']
        header = headers.get('Authorization') or ''
        traffic = 'marketing' if message.get('pushtype') == 'marketing' else 'transactional'
        return self.digest(header[7:]), [item['value'] for item in gsm], message.get('text'), traffic

    def error_answer(self, request, status, headers):
        request.reply_json(status, {'status': -99, 'message': 'Unknown error',
                                    'details': http.HTTPStatus(status).phrase}, headers)

    def handle(self, request, method, path, query, body, fault):
        path = path.rstrip('/')
        config = self.config()
        wants_json = 'application/json' in (request.headers.get('Accept') or '')
        if path not in SEND_PATHS + (CREDITS_PATH,):
            self._answer(request, 404, {'status': -99, 'message': 'Unknown error', 'details': 'Not found'},
                         wants_json)
            return
        header = request.headers.get('Authorization') or ''
        token = header[7:] if header.startswith('Bearer ') else (query.get('token') or [None])[-1]
        if not secret_ok(token, config['token']):
            self._answer(request, 401, {'status': -1, 'message': 'Authentication error',
                                        'details': 'Invalid or missing token'}, wants_json)
            return
        if path == CREDITS_PATH:
            credits = 0 if fault == 'no_credit' else config['credit']
            self._answer(request, 200, {'status': 1, 'message': 'OK', 'credits': str(_number(credits)),
                                        'postpaid_limit': None, 'unlimited': False}, wants_json)
            return
        if method == 'GET':
            params = {name: values[-1] for name, values in query.items()}
            fields, problem = self._single(params)
        elif method == 'POST' and path == '/send':
            fields, problem = self._campaign(request, body)
        else:
            self._answer(request, 405, {'status': -99, 'message': 'Unknown error',
                                        'details': 'Method not allowed'}, wants_json)
            return
        if problem:
            self._answer(request, 200, problem, wants_json)
            return
        simulate = path == '/send/simulate'
        self._answer(request, 200, self._send(config, fields, fault, simulate), wants_json)

    def _answer(self, request, status, answer, wants_json):
        if wants_json:
            request.reply_json(status, answer)
        else:
            # Without ``Accept: application/json`` the API answers in XML.
            items = ''.join(f'<{key}>{escape("" if value is None else str(value))}</{key}>'
                            for key, value in answer.items())
            request.reply(status, f'<?xml version="1.0" encoding="UTF-8"?><response>{items}</response>',
                          'application/xml')

    @staticmethod
    def _data_error(details):
        return {'status': -7, 'message': 'Data error', 'details': details}

    def _single(self, params):
        for name in ('text', 'to'):
            if not params.get(name):
                return None, self._data_error(f'The {name} parameter is required')
        return {'text': params['text'], 'pushtype': params.get('pushtype') or 'alert',
                'sender': params.get('sender'), 'delay': params.get('delay'),
                'recipients': [(params['to'], params.get('gsmsmsid'))]}, None

    def _campaign(self, request, body):
        if media_type(request) != JSON:
            return None, {'status': -6, 'message': 'JSON error', 'details': 'Content-Type must be application/json'}
        try:
            payload = read_json(body)
        except NotJson:
            return None, {'status': -6, 'message': 'JSON error', 'details': 'Invalid JSON'}
        sms = payload.get('sms') if isinstance(payload, dict) else None
        message = sms.get('message') if isinstance(sms, dict) else None
        recipients = sms.get('recipients') if isinstance(sms, dict) else None
        if not isinstance(message, dict) or not message.get('text'):
            return None, self._data_error('sms.message.text is required')
        gsm = recipients.get('gsm') if isinstance(recipients, dict) else None
        if isinstance(gsm, dict):
            gsm = [gsm]
        if not isinstance(gsm, list) or not gsm or not all(isinstance(item, dict) and item.get('value')
                                                           for item in gsm):
            return None, self._data_error('sms.recipients.gsm must list recipients with a value')
        return {'text': str(message['text']), 'pushtype': message.get('pushtype') or 'alert',
                'sender': message.get('sender'), 'delay': message.get('delay'),
                'recipients': [(str(item['value']), item.get('gsmsmsid')) for item in gsm]}, None

    def _send(self, config, fields, fault, simulate):
        if fields['pushtype'] not in ('alert', 'marketing'):
            return self._data_error('pushtype must be alert or marketing')
        delay = fields['delay']
        if delay not in (None, '') and not _date_ok(delay):
            return self._data_error('delay must be a date as Y-m-d H:i:s')
        sender = fields['sender']
        if sender is not None and (not isinstance(sender, str) or not 0 < len(sender) <= 11):
            return self._data_error('sender must have 1 to 11 characters')
        recipients = fields['recipients']
        if len(recipients) > config['max_recipients']:
            return self._data_error(f'Too many recipients: {len(recipients)} > {config["max_recipients"]}')
        counts = {'blacklisted': 0, 'duplicated': 0, 'npai': 0, 'invalid': 0, 'not_allowed': 0,
                  'flood': 0, 'country_limit': 0}
        seen = set()
        kept = []
        for raw, gsmsmsid in recipients:
            digits = international_digits(raw)
            if self.is_invalid(config, digits, fault):
                counts['invalid'] += 1
                self.bump('recipients_rejected')
            elif digits in seen:
                counts['duplicated'] += 1
            elif digits in config['unsubscribed_numbers']:
                counts['blacklisted'] += 1
                self.bump('recipients_opted_out')
            else:
                seen.add(digits)
                kept.append((digits, '' if gsmsmsid is None else str(gsmsmsid)))
        text = fields['text']
        ticket = str(self._next_ticket())
        if simulate:
            records = []
            cost = len(kept)
        else:
            records = self.accept(config, [digits for digits, _ in kept], text, fault,
                                  ids=[f'{ticket}-{index}' for index in range(len(kept))],
                                  ticket=ticket, traffic=fields['pushtype']) if kept else []
            if records is None:
                return {'status': -3, 'message': 'Not enough credits',
                        'details': 'Your credits do not cover this campaign'}
            cost = _number(sum((Decimal(record['price']) for record in records), Decimal(0)))
            for record, (_, gsmsmsid) in zip(records, kept, strict=True):
                record['gsmsmsid'] = gsmsmsid
                self._report(record)
        left = 0 if fault == 'no_credit' else _number(self.setting('credit'))
        answer = {'status': 1, 'message': 'OK'}
        if not simulate:
            answer['ticket'] = ticket
        answer.update({'cost': cost, 'credits': left, 'total': len(recipients), 'sent': len(kept), **counts})
        return answer

    def _next_ticket(self):
        with self.lock:
            self._ticket = getattr(self, '_ticket', 14672467) + 1
            return self._ticket

    def reset(self):
        self._ticket = 14672467

    def _report(self, record):
        """The DLR webhook: POST, raw JSON body."""
        failed = self.setting('undelivered_status')

        def build():
            digits = record['to'][1:]
            return {
                'date': datetime.fromtimestamp(time.time(), PARIS).isoformat(timespec='seconds'),
                'status': failed if record['undelivered'] else DELIVERED,
                'destination': digits, 'message_id': record['gsmsmsid'],
                'campaign_id': record['ticket'], 'country_code': region_of(digits),
            }
        self.deliver(None, [json_callback(build)])


def _date_ok(value):
    """``delay``: "Sending date Y-m-d H:i:s" (Europe/Paris)."""
    try:
        datetime.strptime(str(value), '%Y-%m-%d %H:%M:%S')
    except ValueError:
        return False
    return True


def _number(amount):
    """Credits as the API writes them: an integer when whole (``642``), else a decimal."""
    amount = Decimal(amount)
    return int(amount) if amount == amount.to_integral_value() else float(amount)


__all__ = ['SMSFACTOR_TOKEN', 'SmsFactor']
