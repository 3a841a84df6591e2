"""Twilio: the Messages API (2010-04-01), the account and its numbers, signed status callbacks."""
import base64
import email.utils
import hashlib
import hmac
import http
import re
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from ..common import normalize_number, same, sms_parts
from ..settings import as_int, as_str, as_str_list
from .base import Provider

TWILIO_ACCOUNT_SID = 'AC' + '0' * 32
TWILIO_AUTH_TOKEN = 'sandbox-twilio-token'
TWILIO_API_KEY_SID = 'SK' + '0' * 32
TWILIO_API_KEY_SECRET = 'sandbox-twilio-secret'
TWILIO_PHONE_NUMBER = '+15005550006'


def twilio_signature(auth_token, url, params):
    """base64(HMAC-SHA1(token, url + every param name+value, sorted by name))."""
    payload = url + ''.join(f'{name}{params[name]}' for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _error(code, message, status):
    return {'code': code, 'message': message,
            'more_info': f'https://www.twilio.com/docs/errors/{code}', 'status': status}


def _not_found(path):
    return _error(20404, f'The requested resource {path} was not found', 404)


def _amount(price):
    """A price as Twilio writes amounts: at least 5 decimals ('0.00790'), exact."""
    places = Decimal('0.00001')
    return str(price if price.as_tuple().exponent <= -5 else price.quantize(places))


def _rfc2822(moment):
    return email.utils.format_datetime(datetime.fromtimestamp(moment, timezone.utc), usegmt=False) \
        .replace('-0000', '+0000')


class Twilio(Provider):
    name = 'twilio'
    endpoint_suffix = '/2010-04-01'
    price_unit = 'USD'
    send_status = 201
    defaults = {
        'account_sid': TWILIO_ACCOUNT_SID,
        'auth_token': TWILIO_AUTH_TOKEN,
        'api_key_sid': TWILIO_API_KEY_SID,
        'api_key_secret': TWILIO_API_KEY_SECRET,
        'phone_numbers': [TWILIO_PHONE_NUMBER],
        'undelivered_error_code': 30003,
        'credit': '1000.00',
        'part_price': '0.0079',
    }
    schema = {
        'account_sid': as_str(),
        'auth_token': as_str(),
        'api_key_sid': as_str(),
        'api_key_secret': as_str(),
        'phone_numbers': as_str_list,
        'undelivered_error_code': as_int(0),
    }

    def is_send(self, method, path):
        return method == 'POST' and path.endswith('/Messages.json')

    def response_headers(self):
        return {'Twilio-Request-Id': 'RQ' + uuid.uuid4().hex}

    def error_answer(self, request, status, headers):
        # Twilio's error codes for these statuses are 20000 + the status (20500, 20429, ...).
        request.reply_json(status, _error(20000 + status, http.HTTPStatus(status).phrase, status),
                           headers)

    def handle(self, request, method, path, query, body, fault):
        headers = self.response_headers()
        match = re.fullmatch(r'/2010-04-01/Accounts/([^/]+?)(/.*)?', path)
        if not match:
            request.reply_json(404, _not_found(path), headers)
            return
        account, rest = match.group(1), match.group(2) or ''
        if not self._auth_ok(request.headers.get('Authorization')):
            headers['WWW-Authenticate'] = 'Basic realm="Twilio API"'
            request.reply_json(401, _error(20003, 'Authenticate', 401), headers)
            return
        if account.removesuffix('.json') != self.setting('account_sid'):
            request.reply_json(404, _not_found(f'/2010-04-01/Accounts/{account}'), headers)
            return
        if method == 'POST' and rest == '/Messages.json':
            form = urllib.parse.parse_qs(body.decode('utf-8', 'replace'), keep_blank_values=True)
            form = {name: values[-1] for name, values in form.items()}
            status, payload = self._send(form, fault)
            request.reply_json(status, payload, headers)
            return
        if method == 'GET' and account.endswith('.json') and not rest:
            request.reply_json(200, self._account(fault), headers)
            return
        if method == 'GET' and rest == '/IncomingPhoneNumbers.json':
            request.reply_json(200, self._numbers(query.get('PhoneNumber', [None])[-1]), headers)
            return
        match = re.fullmatch(r'/Messages/(SM[0-9a-f]{32})\.json', rest)
        if method == 'GET' and match:
            record = self.stored(match.group(1))
            if record is None:
                request.reply_json(404, _not_found(path), headers)
            else:
                request.reply_json(200, self._resource(record, time.time()), headers)
            return
        request.reply_json(404, _not_found(path), headers)

    def _auth_ok(self, header):
        if not header or not header.startswith('Basic '):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(':')
        except (ValueError, UnicodeDecodeError):
            return False
        config = self.config()
        pairs = [(config['account_sid'], config['auth_token']),
                 (config['api_key_sid'], config['api_key_secret'])]
        return any(same(user, u) and same(password, p) for u, p in pairs)

    def _send(self, form, fault):
        config = self.config()
        to = form.get('To', '').strip()
        sender = form.get('From', '').strip()
        service = form.get('MessagingServiceSid', '').strip()
        text = form.get('Body', '')
        callback = form.get('StatusCallback', '').strip()
        if not to:
            return 400, _error(21604, "A 'To' phone number is required.", 400)
        if not sender and not service:
            return 400, _error(21603, "A 'From' phone number is required.", 400)
        if service and not re.fullmatch(r'MG[0-9a-fA-F]{32}', service):
            return 400, _error(21705, f'The Messaging Service Sid {service} is invalid.', 400)
        if not text and not form.get('MediaUrl'):
            return 400, _error(21602, 'Message body is required.', 400)
        if len(text) > 1600:
            return 400, _error(21617, 'The concatenated message body exceeds the 1600 '
                               'character limit.', 400)
        if callback and not re.match(r'https?://', callback):
            return 400, _error(21609, f'Invalid StatusCallback URL: {callback}', 400)
        digits = normalize_number(to) if to.startswith('+') else None
        if self.is_invalid(config, digits, fault):
            self.bump('recipients_rejected')
            return 400, _error(21211, f"Invalid 'To' Phone Number: {to}", 400)
        if digits in config['unsubscribed_numbers']:
            self.bump('recipients_opted_out')
            return 400, _error(21610, 'Attempt to send to unsubscribed recipient', 400)
        parts = sms_parts(text)
        prices = self.charge_messages([(digits, parts)], fault)
        if prices is None:
            return 401, _error(20005, 'Account not active', 401)
        sid = 'SM' + uuid.uuid4().hex
        now = time.time()
        delay = config['callback_delay_ms'] / 1000.0
        record = {
            'id': sid, 'provider': 'twilio', 'batch_id': sid, 'to': '+' + digits,
            'from': sender or None,
            'messaging_service_sid': service or None, 'body': text, 'parts': parts,
            'created_at': now, 'undelivered': self.undelivered(config, digits, fault),
            'opted_out': False, 'status_callback': callback or None,
            '_delay': delay, '_initial_status': 'accepted' if service and not sender else 'queued',
            '_account_sid': config['account_sid'], '_price': _amount(prices[0]),
        }
        self.store(record)
        self.bump('recipients_accepted')
        if callback:
            self._callbacks(config, record, callback, delay)
        created = self._resource(record, now)
        # Twilio prices a message once it has left, never in the answer that creates it.
        created['price'] = None
        return 201, created

    def _resource(self, record, now):
        """The message resource as ``GET .../Messages/{sid}.json`` shows it at ``now``."""
        status, sent_at, _ = self.status(record, now)
        sid, account = record['id'], record['_account_sid']
        error_code = None
        if status == 'undelivered':
            error_code = self.setting('undelivered_error_code')
        return {
            'account_sid': account,
            'api_version': '2010-04-01',
            'body': record['body'],
            'date_created': _rfc2822(record['created_at']),
            'date_sent': _rfc2822(sent_at) if sent_at else None,
            'date_updated': _rfc2822(now),
            'direction': 'outbound-api',
            'error_code': error_code,
            'error_message': 'Unknown destination handset' if error_code else None,
            'from': record['from'],
            'messaging_service_sid': record['messaging_service_sid'],
            'num_media': '0',
            'num_segments': str(record['parts']),
            'price': f'-{record["_price"]}' if sent_at else None,
            'price_unit': 'USD',
            'sid': sid,
            'status': status,
            'subresource_uris': {
                'media': f'/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json',
            },
            'to': record['to'],
            'uri': f'/2010-04-01/Accounts/{account}/Messages/{sid}.json',
        }

    def _callbacks(self, config, record, url, delay):
        """Form POSTs 'sent', then 'delivered' or 'undelivered', signed with the auth token."""
        final = 'undelivered' if record['undelivered'] else 'delivered'
        token = config['auth_token']

        def make(status):
            params = {
                'MessageSid': record['id'], 'SmsSid': record['id'], 'MessageStatus': status,
                'SmsStatus': status, 'AccountSid': record['_account_sid'],
                'From': record['from'] or '', 'To': record['to'], 'ApiVersion': '2010-04-01',
            }
            if record['messaging_service_sid']:
                params['MessagingServiceSid'] = record['messaging_service_sid']
            if status == 'undelivered':
                params['ErrorCode'] = str(config['undelivered_error_code'])

            def render():
                body = urllib.parse.urlencode(params).encode()
                return body, {
                    'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
                    'X-Twilio-Signature': twilio_signature(token, url, params),
                    'I-Twilio-Idempotency-Token': str(uuid.uuid4()),
                    'User-Agent': 'TwilioProxy/1.1 (SmsSandbox)',
                }
            return render

        self.send_callbacks(url, [make('sent'), make(final)], delay)

    def _account(self, fault):
        config = self.config()
        sid = config['account_sid']
        active = fault != 'no_credit' and config['credit'] > 0
        return {
            'sid': sid, 'owner_account_sid': sid, 'friendly_name': 'SMS sandbox account',
            'status': 'active' if active else 'suspended', 'type': 'Full',
            'date_created': _rfc2822(time.time() - 86400 * 365),
            'date_updated': _rfc2822(time.time()),
            'uri': f'/2010-04-01/Accounts/{sid}.json',
            'subresource_uris': {
                'messages': f'/2010-04-01/Accounts/{sid}/Messages.json',
                'incoming_phone_numbers': f'/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json',
            },
        }

    def _numbers(self, phone_filter):
        config = self.config()
        sid = config['account_sid']
        numbers = config['phone_numbers']
        if phone_filter:
            numbers = [n for n in numbers if n == phone_filter]
        uri = f'/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json?PageSize=50&Page=0'
        return {
            'incoming_phone_numbers': [{
                'sid': 'PN' + hashlib.md5(number.encode()).hexdigest(),
                'account_sid': sid, 'phone_number': number, 'friendly_name': number,
                'capabilities': {'voice': True, 'sms': True, 'mms': False, 'fax': False},
                'status': 'in-use', 'sms_url': '', 'status_callback': '',
                'uri': f'/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/PN.json',
            } for number in numbers],
            'start': 0, 'end': max(0, len(numbers) - 1), 'page': 0, 'page_size': 50,
            'first_page_uri': uri, 'next_page_uri': None, 'previous_page_uri': None, 'uri': uri,
        }
