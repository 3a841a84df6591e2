"""What the HTTP API stand-ins share: reading a request, numbers, accepted messages and
delivery callbacks (form POST, JSON POST or GET with a query string)."""
import base64
import hashlib
import json
import time
import urllib.parse
import uuid

from ...common import GSM7_BASIC, GSM7_EXTENSION, same, sms_parts
from ...settings import as_choice, as_int, as_str
from ..base import Provider

USER_AGENT = 'SmsSandbox-Callback/1.0'
FORM = 'application/x-www-form-urlencoded'
JSON = 'application/json'


def media_type(request):
    """The request's Content-Type without its parameters, lower-cased ('' when absent)."""
    return (request.headers.get('Content-Type') or '').split(';')[0].strip().lower()


def read_form(raw):
    """{name: [values]} of a form-encoded body or query string (bytes or str)."""
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    return urllib.parse.parse_qs(raw or '', keep_blank_values=True)


def last(form, name):
    """The last value of ``name`` in a parsed form, or None."""
    values = form.get(name)
    return values[-1] if values else None


class NotJson(ValueError):
    """The body is not a JSON document."""


def read_json(raw):
    """The JSON document of a body; raises NotJson."""
    try:
        return json.loads(raw or b'')
    except ValueError as error:
        raise NotJson(str(error)) from None


def basic_auth(header):
    """(user, password) of a ``Basic`` Authorization header, or None."""
    if not header or not header.startswith('Basic '):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(':')
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def secret_ok(given, expected):
    """Constant-time comparison of a credential; False for a missing one."""
    return isinstance(given, str) and bool(given) and same(given, expected)


def international_digits(raw, plus='optional'):
    """E.164 digits of a number written in international format, or None.

    ``plus``: 'required' (``+254711...``), 'forbidden' (``254711...``: no ``+`` nor ``00``)
    or 'optional'. No separators are allowed: the providers take the number as given.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    has_plus = text.startswith('+')
    if (plus == 'required' and not has_plus) or (plus == 'forbidden' and (has_plus or text.startswith('00'))):
        return None
    digits = text[1:] if has_plus else text
    if not digits.isdigit() or not 8 <= len(digits) <= 15 or digits.startswith('0'):
        return None
    return digits


def is_gsm7(text):
    """Whether every character of ``text`` is in the GSM 03.38 alphabet (basic or extension)."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def as_shown(text, unicode_requested):
    """The text as the handset shows it: sent in the GSM alphabet (the request did not ask
    for Unicode), the characters outside it arrive as '?'."""
    if unicode_requested or is_gsm7(text):
        return text
    return ''.join(char if char in GSM7_BASIC or char in GSM7_EXTENSION else '?' for char in text)


def form_callback(build, method='POST'):
    """A callback render: ``build()`` gives the parameters, sent as a form POST or as the
    query string of a GET."""
    def render():
        body = urllib.parse.urlencode(build()).encode()
        if method == 'GET':
            return body, {'User-Agent': USER_AGENT}, 'GET'
        return body, {'Content-Type': FORM, 'User-Agent': USER_AGENT}
    return render


def json_callback(build):
    """A callback render: ``build()`` gives the JSON document POSTed."""
    def render():
        return json.dumps(build()).encode(), {'Content-Type': JSON, 'User-Agent': USER_AGENT}
    return render


class HttpApiProvider(Provider):
    """A provider reached through the generic HTTP API type: its routes hang under
    ``/<key>`` exactly as under the provider's host, so an account's URL is the template's
    with the scheme and host replaced by ``Sandbox.endpoint('<key>')``.

    Settings every stand-in has beside its own: ``callback_url`` (where delivery reports go
    for a provider configured in its dashboard, or when the request names none) and
    ``max_recipients`` (numbers per request, as documented).
    """

    endpoint_suffix = ''
    common_defaults = {'callback_url': None, 'max_recipients': 1}
    common_schema = {'callback_url': as_str(optional=True), 'max_recipients': as_int(1)}

    # The final statuses the provider documents for an SMS that was not delivered, the first
    # by default: the ``undelivered_status`` setting picks the one reported.
    undelivered_statuses = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.defaults = {**HttpApiProvider.common_defaults, **cls.defaults}
        cls.schema = {**HttpApiProvider.common_schema, **cls.schema}
        if cls.undelivered_statuses:
            cls.defaults.setdefault('undelivered_status', cls.undelivered_statuses[0])
            cls.schema.setdefault('undelivered_status', as_choice(*cls.undelivered_statuses))

    def describe_send(self, path, body, headers):
        """(account, numbers, segments, traffic) of a send request for the request log and
        the rate limit (ratelimit.py), or None when it cannot be read (the provider's own
        checks answer it). Built from ``send_summary``."""
        try:
            summary = self.send_summary(path, body, headers)
        except (ValueError, AttributeError, TypeError, KeyError, IndexError):
            return None
        if summary is None:
            return None
        account, numbers, text, traffic = summary
        numbers = [str(number) for number in numbers]
        return account, numbers, sms_parts(text or '') * len(numbers), traffic

    def send_summary(self, path, body, headers):
        """(account, numbers, text, traffic) of a send request as the provider reads it:
        ``account`` what its rate limit applies to (an account id, or a digest of a key),
        ``traffic`` 'marketing' / 'transactional' when the request says, else ''."""
        return None

    @staticmethod
    def digest(secret):
        """A short digest standing for an API key in the request log."""
        return hashlib.sha256(str(secret or '').encode()).hexdigest()[:12]

    @staticmethod
    def new_uuid():
        return str(uuid.uuid4())

    def accept(self, config, numbers, text, fault, ids=None, unicode=True, **extra):
        """Bill and store the accepted SMS to ``numbers`` (E.164 digits); the stored records
        (``id``, ``to``, ``parts``, ``price`` as a Decimal string, ``undelivered``, ...) or None
        when the credit does not cover them (nothing billed nor stored).

        ``unicode``: whether the request lets a text outside the GSM alphabet go as Unicode
        (False for a provider told to send GSM: the record keeps ``body`` as the handset shows
        it, ``sent_body`` as received and ``garbled`` True)."""
        shown = as_shown(text, unicode)
        if shown != text:
            extra = dict(extra, sent_body=text, garbled=True)
        text = shown
        parts = sms_parts(text)
        prices = self.charge_messages([(digits, parts) for digits in numbers], fault)
        if prices is None:
            return None
        now = time.time()
        delay = config['callback_delay_ms'] / 1000.0
        records = []
        for index, (digits, price) in enumerate(zip(numbers, prices, strict=True)):
            record = {
                'id': ids[index] if ids else self.new_uuid(), 'provider': self.name,
                'to': '+' + digits, 'body': text, 'parts': parts, 'price': str(price),
                'created_at': now, 'undelivered': self.undelivered(config, digits, fault),
                'opted_out': False, '_delay': delay, '_initial_status': 'queued', **extra,
            }
            self.store(record)
            records.append(record)
        self.bump('recipients_accepted', len(records))
        return records

    def deliver(self, url, renders):
        """Send a message's delivery callbacks to ``url`` (the request's, else the
        ``callback_url`` setting), ``callback_delay_ms`` apart."""
        url = url or self.setting('callback_url')
        if url:
            self.send_callbacks(url, renders, self.setting('callback_delay_ms') / 1000.0)
