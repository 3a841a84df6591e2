"""Vonage SMS API (legacy REST, ``rest.nexmo.com/sms/json``) and its delivery receipts.

Written from Vonage's public documentation:

* Send an SMS: https://developer.vonage.com/en/api/sms (``POST https://rest.nexmo.com/sms/json``,
  form or JSON; ``api_key``, ``api_secret`` (or Basic authentication, as the getting-started
  ``curl -u "$VONAGE_API_KEY:$VONAGE_API_SECRET"``), ``from``, ``to`` "in E.164 format. Don't
  use a leading + or 00", ``text``; ``from`` a number or an alphanumeric sender ID of at most
  11 characters (status 15 Invalid Sender Address otherwise); optional ``type`` (text, unicode), ``callback`` (the
  delivery receipt URL of this message, "Max 100 characters"), ``client-ref`` ("up to 100
  characters"), ``status-report-req``, ``ttl``; status 23 Invalid Callback Url).
  https://developer.vonage.com/en/messaging/sms/technical-details
* Concatenation and encoding: https://developer.vonage.com/en/messaging/sms/guides/concatenation-and-encoding
  ("Set the type parameter to unicode for messages that contain characters outside of the GSM
  character sets": a text sent as ``text`` is stored as the handset shows it, those characters
  as '?', ``garbled``) and the billing of long texts,
  https://api.support.vonage.com/hc/en-us/articles/217491638 ("if your message is long enough to
  need 3 SMS to send it to the recipient we will charge you for each of these SMS
  individually").
* Troubleshooting (the answer and its status codes):
  https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms ("a JSON response
  that contains an array of message objects, one for each message", ``message-count``,
  ``messages`` [{``to``, ``message-id``, ``status`` "0", ``remaining-balance``,
  ``message-price``, ``network``}]; non-zero statuses: 1 Throttled, 2 Missing Parameters
  ("from, to, api_key, api_secret or text"), 3 Invalid Parameters, 4 Invalid Credentials,
  5 Internal Error, 6 Invalid Message ("an un-recognized number prefix"), 7 Number Barred,
  9 Partner Quota Violation ("You do not have sufficient credit"), with ``error-text``).
* Delivery receipts: https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts
  and the API reference's *Delivery Receipt* webhook (``msisdn``, ``to``, ``network-code``,
  ``messageId``, ``price``, ``status`` delivered / expired / failed / rejected / accepted /
  buffered / unknown, ``scts``, ``err-code``, ``api-key``, ``client-ref``,
  ``message-timestamp``; sent to the request's ``callback`` else the account's default
  receipt URL, as GET, POST or POST-JSON as the dashboard says: the ``callback_method``
  setting, default POST-JSON).

One number per request; a long text is several messages, each with its own ``message-id``
and receipt (``message-count`` = parts), priced per part. Every answer, errors included, is
HTTP 200 with a status per message, as documented.
"""
import http
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from ...settings import as_choice, as_str
from ._common import FORM, JSON, HttpApiProvider, NotJson, basic_auth, form_callback, international_digits, \
    json_callback, last, media_type, read_form, read_json, secret_ok

VONAGE_API_KEY = 'sandboxkey'
VONAGE_API_SECRET = 'sandbox-vonage-secret'
SEND_PATH = '/sms/json'


def _error(status, text):
    return {'message-count': '1', 'messages': [{'status': str(status), 'error-text': text}]}


class Vonage(HttpApiProvider):
    name = 'vonage'
    price_unit = 'EUR'
    undelivered_statuses = ('failed', 'expired', 'rejected')
    defaults = {
        'api_key': VONAGE_API_KEY,
        'api_secret': VONAGE_API_SECRET,
        'network_code': '20801',
        'callback_method': 'POST-JSON',
        'undelivered_err_code': '1',
        'credit': '100.00',
        'part_price': '0.0333',
    }
    schema = {
        'api_key': as_str(), 'api_secret': as_str(), 'network_code': as_str(),
        'callback_method': as_choice('GET', 'POST', 'POST-JSON'), 'undelivered_err_code': as_str(),
    }

    def is_send(self, method, path):
        return method == 'POST' and path == SEND_PATH

    def send_summary(self, path, body, headers):
        if (headers.get('Content-Type') or '').startswith(JSON):
            params = read_json(body)
        else:
            params = {name: last(read_form(body), name) for name in read_form(body)}
        key = params.get('api_key') or (basic_auth(headers.get('Authorization')) or ('',))[0]
        return key, [params['to']] if params.get('to') else [], params.get('text'), ''

    def error_answer(self, request, status, headers):
        # Vonage's throttling is status 1 in the body; other faults are the HTTP error itself.
        if status == 429:
            request.reply_json(429, _error(1, 'Throughput Rate Exceeded - please wait [ 1000 ] and retry'),
                               headers)
            return
        request.reply(status, http.HTTPStatus(status).phrase, 'text/plain; charset=utf-8', headers)

    def handle(self, request, method, path, query, body, fault):
        if path != SEND_PATH:
            request.reply_json(404, {'type': 'https://developer.vonage.com/api-errors#not-found',
                                     'title': 'Not Found'})
            return
        if method != 'POST':
            request.reply_json(405, {'title': 'Method Not Allowed'})
            return
        params = self._params(request, query, body)
        if params is None:
            request.reply_json(200, _error(3, 'Invalid request body: form or JSON expected'))
            return
        config = self.config()
        key, secret = params.get('api_key'), params.get('api_secret')
        credentials = basic_auth(request.headers.get('Authorization'))
        if credentials and not key and not secret:
            key, secret = credentials
        if not key or not secret:
            request.reply_json(200, _error(2, f'Missing {"api_key" if not key else "api_secret"}'))
            return
        if not (secret_ok(key, config['api_key']) and secret_ok(secret, config['api_secret'])):
            request.reply_json(200, _error(4, 'Bad Credentials'))
            return
        for name in ('from', 'to'):
            if not params.get(name):
                request.reply_json(200, _error(2, f'Missing {name} param'))
                return
        sender = params['from']
        if not (sender.lstrip('+').isdigit() and len(sender.lstrip('+')) <= 15 or len(sender) <= 11):
            # "from: The name or number the message should be sent from. Alphanumeric senderID's
            # [...] may be up to 11 characters"
            request.reply_json(200, _error(15, 'Illegal Sender Address - rejected'))
            return
        kind = params.get('type') or 'text'
        if kind not in ('text', 'unicode', 'binary'):
            request.reply_json(200, _error(3, f'Invalid type param: {kind}'))
            return
        text = params.get('text')
        if not text:
            request.reply_json(200, _error(2, 'Missing text param'))
            return
        callback = params.get('callback')
        if callback and (len(callback) > 100 or not callback.startswith(('http://', 'https://'))):
            # "The webhook endpoint the delivery receipt for this sms is sent to. [...] Max 100
            # characters." (the API reference)
            request.reply_json(200, {'message-count': '1', 'messages': [
                {'status': '23', 'error-text': 'Invalid Callback Url'}]})
            return
        if len(params.get('client-ref') or '') > 100:
            request.reply_json(200, _error(3, 'Invalid client-ref: up to 100 characters'))
            return
        to = params['to']
        if ',' in to:
            request.reply_json(200, _error(3, 'Invalid to address: one number per request'))
            return
        digits = international_digits(to, plus='forbidden')
        if digits is None:
            # "Don't use a leading + or 00 when entering a phone number, start with the country code"
            self.bump('recipients_rejected')
            request.reply_json(200, _error(3, 'Invalid to address'))
            return
        if self.is_invalid(config, digits, fault):
            self.bump('recipients_rejected')
            request.reply_json(200, _error(6, 'Unroutable message - rejected'))
            return
        if digits in config['unsubscribed_numbers']:
            self.bump('recipients_opted_out')
            request.reply_json(200, _error(7, 'Number barred.'))
            return
        request.reply_json(200, self._send(config, digits, text, kind, params, callback, fault))

    @staticmethod
    def _params(request, query, body):
        """The request's parameters (form or JSON body, and the query string), or None."""
        params = {name: values[-1] for name, values in query.items()}
        if not body:
            return params
        kind = media_type(request)
        if kind == JSON:
            try:
                payload = read_json(body)
            except NotJson:
                return None
            if not isinstance(payload, dict):
                return None
            params.update({k: v if isinstance(v, str) else str(v) for k, v in payload.items() if v is not None})
            return params
        if kind == FORM:
            form = read_form(body)
            params.update({name: last(form, name) for name in form})
            return params
        return None

    def _send(self, config, digits, text, kind, params, callback, fault):
        # "Set the type parameter to unicode for messages that contain characters outside of
        # the GSM character sets": sent as text, those characters do not arrive.
        records = self.accept(config, [digits], text, fault, ids=[_message_id()], unicode=kind == 'unicode')
        if records is None:
            return _error(9, 'Quota Exceeded - rejected')
        record = records[0]
        parts = record['parts']
        part_ids = [record['id']] + [_message_id() for _ in range(parts - 1)]
        part_price = (Decimal(record['price']) / parts).quantize(Decimal('0.00000001'))
        balance = f'{self.setting("credit"):.8f}'
        messages = []
        for part_id in part_ids:
            message = {'to': digits, 'message-id': part_id, 'status': '0', 'remaining-balance': balance,
                       'message-price': f'{part_price:.8f}', 'network': config['network_code']}
            if params.get('client-ref'):
                message['client-ref'] = params['client-ref']
            messages.append(message)
        self._receipts(config, record, part_ids, part_price, params, callback)
        return {'message-count': str(parts), 'messages': messages}

    def _receipts(self, config, record, part_ids, part_price, params, callback):
        """Per part: accepted, then delivered or failed, to the request's callback else the
        account's receipt URL, in the account's format (GET, POST or POST-JSON)."""
        final = config['undelivered_status'] if record['undelivered'] else 'delivered'
        method = config['callback_method']

        def make(part_id, status):
            def build():
                now = datetime.now(timezone.utc)
                receipt = {
                    'msisdn': record['to'].lstrip('+'), 'to': params['from'],
                    'network-code': config['network_code'], 'messageId': part_id,
                    'price': f'{part_price:.8f}', 'status': status, 'scts': now.strftime('%y%m%d%H%M'),
                    'err-code': '0' if status in ('accepted', 'delivered') else config['undelivered_err_code'],
                    'api-key': config['api_key'], 'message-timestamp': now.strftime('%Y-%m-%d %H:%M:%S'),
                }
                if params.get('client-ref'):
                    receipt['client-ref'] = params['client-ref']
                return receipt
            if method == 'POST-JSON':
                return json_callback(build)
            return form_callback(build, 'GET' if method == 'GET' else 'POST')

        url = callback or config['callback_url']
        for part_id in part_ids:
            self.deliver(url, [make(part_id, 'accepted'), make(part_id, final)])


def _message_id():
    """Vonage's message ids: 16 upper-case hexadecimal characters (``0C000000217B7F02``)."""
    return uuid.uuid4().hex[:16].upper()


__all__ = ['VONAGE_API_KEY', 'VONAGE_API_SECRET', 'Vonage']
