"""Sinch: the SMS REST API ``POST /xms/v1/{service_plan_id}/batches`` and its delivery reports.

Written from Sinch's public documentation:

* Send a batch: https://developers.sinch.com/docs/sms/api-reference/sms/batches (Batches
  endpoint: ``to`` "List of MSISDNs and group IDs that will receive the batch", 1 to 1000
  elements, required; ``from`` required "If Automatic Default Originator not configured";
  ``type`` mt_text (default) or mt_binary; ``body`` "Max 1600 chars for mt_text", required;
  ``delivery_report`` none (default), summary, full, per_recipient, per_recipient_final;
  ``callback_url`` "Override the default callback URL for this batch", max 2048 characters;
  ``client_reference`` max 128 characters; "201 Created [...] The JSON response object
  contains the request parameters as well as [...] id, created_at, modified_at, canceled").
  Servers ``https://{region}.sms.api.sinch.com/`` (us, eu, au, br, ca), ``Authorization:
  Bearer {token}``, ``Content-Type: application/json``.
* Status codes and errors: https://developers.sinch.com/docs/sms/api-reference/status-codes
  ("401 Unauthorized: Authentication token is invalid for this service plan", "415
  Unsupported Media Type: The Content-Type header is missing or unsupported"; "Responses with
  status 400 Bad Request and 403 Forbidden will present a JSON object [...] code, text":
  ``syntax_invalid_json``, ``syntax_invalid_parameter_format`` "The format of a field value is
  invalid. For example if a MSISDN is not correctly formatted", ``syntax_constraint_violation``
  "For example if a required field is missing", 403 ``missing_callback_url`` "Callback has
  been requested but no URL is provided").
* Delivery reports: https://developers.sinch.com/docs/sms/api-reference/sms/webhooks ("A
  callback is an HTTP POST request with a notification made by the Sinch SMS REST API to a
  URI of your choosing"); recipient reports ``{type: "recipient_delivery_report_sms",
  batch_id, recipient, code, status, at, operator_status_at, client_reference}``, batch
  reports ``{type: "delivery_report_sms", batch_id, total_message_count, statuses: [{code,
  status, count, recipients}], client_reference}`` (``recipients`` with ``full`` only);
  statuses Queued, Dispatched (intermediate, "only [...] reported if you request a status per
  recipient"), Aborted, Rejected, Delivered, Failed, Expired, Unknown (final); codes 0
  delivered, 401 Dispatched, SMPP codes for failures (1 Unknown Subscriber) -
  https://developers.sinch.com/docs/sms/api-reference/sms/delivery-reports.

The service plan's default callback URL is the ``callback_url`` setting. Unverified, chosen
here: the bodies of 401 and 415 (not documented; the ``{code, text}`` shape of 400 is used);
an MSISDN is ``+`` and 8 to 15 digits or the digits alone (the documentation's examples have
no ``+``, its reports ``+``); a batch the balance does not cover is refused 403
``insufficient_funds``; group IDs in ``to`` are not supported.
"""
import http
import random
import string
import time
from datetime import datetime, timezone

from ...settings import as_str
from ._common import JSON, HttpApiProvider, NotJson, international_digits, json_callback, media_type, \
    read_json, secret_ok

SINCH_SERVICE_PLAN_ID = 'sandboxsinchserviceplan000000001'
SINCH_API_TOKEN = 'sandbox-sinch-api-token'
DELIVERY_REPORTS = ('none', 'summary', 'full', 'per_recipient', 'per_recipient_final')
DELIVERED = (0, 'Delivered')
DISPATCHED = (401, 'Dispatched')
# The final statuses of an SMS not delivered, with a documented code for each: SMPP 1 "Unknown
# Subscriber", 9 "Illegal Subscriber" (rejection), REST 402 "Message unroutable" (Aborted), 406
# "Internal Expiry".
FAILURE_CODES = {'Failed': 1, 'Rejected': 9, 'Aborted': 402, 'Expired': 406}
_ULID = string.digits + 'ABCDEFGHJKMNPQRSTVWXYZ'


def _error(code, text):
    return {'code': code, 'text': text}


def _batch_id():
    """A batch ID as Sinch writes them (26 characters of Crockford base 32, like a ULID)."""
    return ''.join(random.choice(_ULID) for _ in range(26))


def _iso_ms(moment):
    """ISO-8601 as Sinch writes it: 2014-10-02T09:34:28.542Z."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


class Sinch(HttpApiProvider):
    name = 'sinch'
    price_unit = 'EUR'
    send_status = 201
    undelivered_statuses = tuple(FAILURE_CODES)
    defaults = {
        'service_plan_id': SINCH_SERVICE_PLAN_ID,
        'api_token': SINCH_API_TOKEN,
        # The service plan's Automatic Default Originator: without one, ``from`` is required.
        'default_originator': None,
        'credit': '100.00',
        'part_price': '0.0500',
        'max_recipients': 1000,
    }
    schema = {'service_plan_id': as_str(), 'api_token': as_str(),
              'default_originator': as_str(optional=True)}

    def is_send(self, method, path):
        parts = path.rstrip('/').split('/')
        return method == 'POST' and len(parts) == 5 and parts[1:3] == ['xms', 'v1'] and parts[4] == 'batches'

    def send_summary(self, path, body, headers):
        return path.split('/')[3], read_json(body)['to'], read_json(body).get('body'), ''

    def error_answer(self, request, status, headers):
        phrase = http.HTTPStatus(status).phrase
        request.reply_json(status, _error(phrase.lower().replace(' ', '_'), phrase), headers)

    def handle(self, request, method, path, query, body, fault):
        parts = path.rstrip('/').split('/')
        if len(parts) != 5 or parts[1:3] != ['xms', 'v1'] or parts[4] != 'batches':
            request.reply_json(404, _error('not_found', 'The path is invalid or no resource exists '
                                                        'with the given ID.'))
            return
        config = self.config()
        header = request.headers.get('Authorization') or ''
        token = header[7:] if header.startswith('Bearer ') else None
        if parts[3] != config['service_plan_id'] or not secret_ok(token, config['api_token']):
            request.reply_json(401, _error('unauthorized', 'Authentication token is invalid for this '
                                                           'service plan.'))
            return
        if method != 'POST':
            request.reply_json(405, _error('method_not_allowed', 'The path is valid but not for this method.'))
            return
        if media_type(request) != JSON:
            request.reply_json(415, _error('unsupported_media_type',
                                           'The Content-Type header is missing or unsupported.'))
            return
        request.reply_json(*self._send(config, body, fault))

    def _send(self, config, body, fault):
        try:
            payload = read_json(body)
        except NotJson as error:
            return 400, _error('syntax_invalid_json', f'The JSON in the request is invalid: {error}')
        if not isinstance(payload, dict):
            return 400, _error('syntax_invalid_json', 'The request body must be a JSON object.')
        to = payload.get('to')
        if not isinstance(to, list) or not to:
            return 400, _error('syntax_constraint_violation', "The field 'to' must have 1 to "
                                                              f"{config['max_recipients']} elements.")
        if len(to) > config['max_recipients']:
            return 400, _error('syntax_constraint_violation', "The field 'to' must have 1 to "
                                                              f"{config['max_recipients']} elements.")
        text = payload.get('body')
        if not isinstance(text, str) or not text:
            return 400, _error('syntax_constraint_violation', "The field 'body' is required.")
        kind = payload.get('type', 'mt_text')
        if kind != 'mt_text':
            return 400, _error('syntax_invalid_parameter_format', f"Unsupported batch type '{kind}'.")
        if len(text) > 1600:
            return 400, _error('syntax_constraint_violation', "The field 'body' is longer than 1600 characters.")
        report = payload.get('delivery_report', 'none')
        if report not in DELIVERY_REPORTS:
            return 400, _error('syntax_invalid_parameter_format',
                               f"Invalid delivery_report '{report}'.")
        callback = payload.get('callback_url')
        if callback is not None and (not isinstance(callback, str) or len(callback) > 2048
                                     or not callback.startswith(('http://', 'https://'))):
            return 400, _error('syntax_invalid_parameter_format', 'The callback_url is not a valid URL.')
        reference = payload.get('client_reference')
        if reference is not None and (not isinstance(reference, str) or len(reference) > 128):
            return 400, _error('syntax_constraint_violation', 'client_reference is at most 128 characters.')
        sender = payload.get('from')
        if sender is None and not config['default_originator']:
            return 400, _error('syntax_constraint_violation', "The field 'from' is required (no default "
                                                              "originator is configured).")
        if sender is not None and (not isinstance(sender, str) or not sender):
            return 400, _error('syntax_invalid_parameter_format', "The field 'from' is not valid.")
        numbers = []
        for raw in to:
            digits = international_digits(raw) if isinstance(raw, str) and not raw.startswith('00') else None
            if self.is_invalid(config, digits, fault):
                self.bump('recipients_rejected')
                return 400, _error('syntax_invalid_parameter_format', f'Invalid MSISDN: {raw}')
            numbers.append(digits)
        numbers = list(dict.fromkeys(numbers))
        if report != 'none' and not (callback or config['callback_url']):
            return 403, _error('missing_callback_url', 'Callback has been requested but no URL is provided.')
        batch_id = _batch_id()
        records = self.accept(config, numbers, text, fault, ids=[f'{batch_id}/{n}' for n in numbers],
                              batch_id=batch_id)
        if records is None:
            return 403, _error('insufficient_funds', 'The account balance does not cover this batch.')
        now = records[0]['created_at']
        answer = {
            'id': batch_id, 'to': list(to), 'from': sender or config['default_originator'],
            'canceled': False, 'body': text,
            'type': 'mt_text', 'created_at': _iso_ms(now), 'modified_at': _iso_ms(now),
            'delivery_report': report, 'expire_at': _iso_ms(now + 3 * 86400),
            'flash_message': bool(payload.get('flash_message', False)),
        }
        if reference is not None:
            answer['client_reference'] = reference
        if callback is not None:
            answer['callback_url'] = callback
        if report != 'none':
            self._reports(records, report, callback, reference)
        return 201, answer

    def _reports(self, records, report, callback, reference):
        """Per recipient (Dispatched, then its final status; the final one only with
        per_recipient_final), or one batch report when every recipient is final."""
        batch_id = records[0]['batch_id']
        status = self.setting('undelivered_status')
        failed = (FAILURE_CODES[status], status)

        def recipient_report(record, code_status):
            code, status = code_status

            def build():
                item = {'type': 'recipient_delivery_report_sms', 'batch_id': batch_id,
                        'recipient': record['to'], 'code': code, 'status': status,
                        'at': _iso_ms(time.time())}
                if status != 'Dispatched':
                    item['operator_status_at'] = _iso_ms(time.time())
                if reference is not None:
                    item['client_reference'] = reference
                return item
            return json_callback(build)

        if report.startswith('per_recipient'):
            for record in records:
                final = failed if record['undelivered'] else DELIVERED
                steps = [final] if report == 'per_recipient_final' else [DISPATCHED, final]
                self.deliver(callback, [recipient_report(record, step) for step in steps])
            return

        def batch_report():
            statuses = {}
            for record in records:
                code, name = failed if record['undelivered'] else DELIVERED
                line = statuses.setdefault(code, {'code': code, 'status': name, 'count': 0})
                line['count'] += 1
                if report == 'full':
                    line.setdefault('recipients', []).append(record['to'])
            item = {'type': 'delivery_report_sms', 'batch_id': batch_id,
                    'total_message_count': len(records), 'statuses': list(statuses.values())}
            if reference is not None:
                item['client_reference'] = reference
            return item

        # Sent once every message is final: two steps of callback_delay_ms after the batch.
        url = callback or self.setting('callback_url')
        if url:
            self.send_callbacks(url, [json_callback(batch_report)],
                                2 * self.setting('callback_delay_ms') / 1000.0)


__all__ = ['SINCH_API_TOKEN', 'SINCH_SERVICE_PLAN_ID', 'Sinch']
