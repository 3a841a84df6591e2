#!/usr/bin/env python3
"""Local stand-in for the Sweego, Twilio and OVH send APIs, with failure injection.

Standard library only. One threaded HTTP server hosts the three providers under path
prefixes, so an account's endpoint field points at, for example::

    http://127.0.0.1:8071/sweego             (Sweego: POST /send, ...)
    http://127.0.0.1:8071/twilio/2010-04-01  (Twilio: POST /Accounts/{sid}/Messages.json, ...)
    http://127.0.0.1:8071/ovh/1.0            (OVH: POST /sms/{service}/jobs, ...)

Faults are switched per provider while the server runs, through ``POST /_control/{provider}``
or the :class:`Sandbox` Python API, and every provider keeps request counters that drills
read back (``GET /_control``). See README.md beside this file for the whole contract.

Two ways to make a provider unreachable (mode ``refuse``):

* shared port (default): the sandbox accepts the TCP connection, reads the request and
  closes the socket without answering. The client sees a *connection aborted* error
  (``RemoteDisconnected``), which a careful client must treat as ambiguous: the request
  did leave.
* dedicated port (``--port-per-provider`` / ``Sandbox(dedicated_ports=True)``): the
  provider also listens on its own port, and ``refuse`` closes that listening socket, so
  new connections get a real ``ECONNREFUSED``: nothing was sent. Leaving ``refuse`` opens
  the port again (same number).

Run: ``python3 tests/sandbox/server.py --host 127.0.0.1 --port 8071``.
Import: ``from sandbox.server import Sandbox`` with ``tests/`` on ``sys.path``.
"""
import argparse
import base64
import copy
import email.utils
import hashlib
import hmac
import heapq
import ipaddress
import itertools
import json
import math
import os
import random
import re
import select
import signal
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROVIDERS = ('sweego', 'twilio', 'ovh')
MODES = (
    'ok', 'refuse', 'hang', 'http500', 'http503', 'http429', 'broken_json', 'no_credit',
    'invalid_recipients', 'custom',
)
# Modes answered before the provider logic runs (the request never reaches "the provider").
TRANSPORT_MODES = ('refuse', 'hang', 'http500', 'http503', 'http429', 'broken_json', 'custom')

# Default credentials: documented in README.md, used by the demo accounts.
SWEEGO_API_KEY = 'sandbox-sweego-key'
SWEEGO_WEBHOOK_SECRET = base64.b64encode(b'sandbox-sweego-webhook-secret').decode()
TWILIO_ACCOUNT_SID = 'AC' + '0' * 32
TWILIO_AUTH_TOKEN = 'sandbox-twilio-token'
TWILIO_API_KEY_SID = 'SK' + '0' * 32
TWILIO_API_KEY_SECRET = 'sandbox-twilio-secret'
TWILIO_PHONE_NUMBER = '+15005550006'
OVH_APP_KEY = 'sandbox-ovh-ak'
OVH_APP_SECRET = 'sandbox-ovh-as'
OVH_CONSUMER_KEY = 'sandbox-ovh-ck'
OVH_SERVICE = 'sms-sandbox-1'

MAX_BODY_BYTES = 1024 * 1024
MAX_HANG_SECONDS = 600.0
MAX_STORED_MESSAGES = 10000
IDLE_CONNECTION_TIMEOUT = 30.0

DEFAULTS = {
    'common': {
        'mode': 'ok',
        'latency_ms': 0.0,
        'retry_after': None,          # seconds; 429 always sends one (1 when unset)
        'fault_count': None,          # the fault hits the next N requests, then mode -> ok
        'fault_ratio': 1.0,           # probability that a request gets the fault
        'fault_scope': 'all',         # 'all' endpoints or only the 'send' endpoint
        'hang_max_s': 60.0,
        'custom_status': 400,
        'custom_body': None,
        'custom_headers': {},
        'invalid_numbers': [],        # E.164 digits refused as invalid recipients
        'invalid_suffix': '0000',     # any number ending with this is invalid ('' disables)
        'unsubscribed_numbers': [],   # opted out (Twilio 21610, OVH invalid, Sweego sms_stop)
        'undelivered_numbers': [],    # accepted, then reported undelivered asynchronously
        'callback_delay_ms': 500.0,   # delay before each delivery-report step
    },
    'sweego': {
        'api_keys': [SWEEGO_API_KEY],
        'client_uuids': [],           # empty: any well-formed UUID is accepted
        'credit': '10000.00',
        'part_price': '0.05',
        'max_recipients': 1000,
        'webhook_url': None,
        'webhook_secret': SWEEGO_WEBHOOK_SECRET,
        'webhook_signature_prefix': '',   # e.g. 'v1,' for the Standard Webhooks layout
    },
    'twilio': {
        'account_sid': TWILIO_ACCOUNT_SID,
        'auth_token': TWILIO_AUTH_TOKEN,
        'api_key_sid': TWILIO_API_KEY_SID,
        'api_key_secret': TWILIO_API_KEY_SECRET,
        'phone_numbers': [TWILIO_PHONE_NUMBER],
        'undelivered_error_code': 30003,
        'credit': '1000.00',
        'part_price': '0.0079',
    },
    'ovh': {
        'app_key': OVH_APP_KEY,
        'app_secret': OVH_APP_SECRET,
        'consumer_key': OVH_CONSUMER_KEY,
        'services': [OVH_SERVICE],
        'time_window_s': 180.0,
        'clock_offset_s': 0.0,        # the sandbox clock, as /auth/time shows it, minus ours
        'senders': [],                # empty: any sender is accepted
        'credit': '100000',
        'part_price': '1',
    },
}


# --------------------------------------------------------------------------- signatures

def sweego_signature(secret, webhook_id, timestamp, body):
    """base64(HMAC-SHA256(base64decode(secret), '{id}.{timestamp}.{body}'))."""
    if isinstance(body, str):
        body = body.encode()
    if secret.startswith('whsec_'):
        secret = secret[len('whsec_'):]
    key = base64.b64decode(secret)
    message = f'{webhook_id}.{timestamp}.'.encode() + body
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def twilio_signature(auth_token, url, params):
    """base64(HMAC-SHA1(token, url + every param name+value, sorted by name))."""
    payload = url + ''.join(f'{name}{params[name]}' for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ovh_signature(app_secret, consumer_key, method, url, body, timestamp):
    """'$1$' + sha1_hex('+'.join([secret, consumer, METHOD, url, body, timestamp]))."""
    if isinstance(body, str):
        body = body.encode()
    parts = [app_secret.encode(), consumer_key.encode(), method.upper().encode(), url.encode(),
             body or b'', str(timestamp).encode()]
    return '$1$' + hashlib.sha1(b'+'.join(parts)).hexdigest()


# --------------------------------------------------------------------------- numbers, SMS parts

# Region -> country calling code, enough for national numbers sent with a region.
CALLING_CODES = {
    'FR': '33', 'BE': '32', 'CH': '41', 'LU': '352', 'MC': '377', 'DE': '49', 'AT': '43',
    'NL': '31', 'GB': '44', 'IE': '353', 'ES': '34', 'PT': '351', 'IT': '39', 'DK': '45',
    'SE': '46', 'NO': '47', 'FI': '358', 'PL': '48', 'CZ': '420', 'GR': '30', 'RO': '40',
    'HU': '36', 'US': '1', 'CA': '1', 'MA': '212', 'DZ': '213', 'TN': '216', 'SN': '221',
    'CI': '225', 'RE': '262', 'YT': '262', 'GP': '590', 'MQ': '596', 'GF': '594',
    'PM': '508', 'NC': '687', 'PF': '689', 'IN': '91', 'AU': '61', 'NZ': '64', 'JP': '81',
    'CN': '86', 'BR': '55', 'MX': '52', 'AR': '54', 'ZA': '27',
}
_SEPARATORS = re.compile(r'[\s\-.()/]')


def normalize_number(raw, region=None):
    """E.164 digits (no '+') of ``raw``, or None when it cannot be a phone number."""
    if not isinstance(raw, str):
        return None
    text = _SEPARATORS.sub('', raw)
    if text.startswith('+'):
        digits = text[1:]
    elif text.startswith('00'):
        digits = text[2:]
    elif region:
        code = CALLING_CODES.get(str(region).upper())
        if not code:
            return None
        # Italian numbers keep their leading 0; other trunk prefixes are dropped.
        national = text if code == '39' else text[1:] if text.startswith('0') else text
        digits = code + national
    else:
        return None
    if not digits.isdigit() or not 8 <= len(digits) <= 15 or digits.startswith('0'):
        return None
    return digits


def _number_key(raw):
    """Digits used to match configured number lists ('+33...', '0033...', '33...')."""
    text = _SEPARATORS.sub('', str(raw))
    if text.startswith('+'):
        text = text[1:]
    elif text.startswith('00'):
        text = text[2:]
    return text


GSM7_BASIC = set(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?'
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'
)
GSM7_EXTENSION = set('^{}\\[~]|€\f')


def sms_parts(text):
    """How many SMS parts ``text`` needs (GSM-7 160/153, else UCS-2 70/67)."""
    text = text or ''
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        length = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        single, multi = 160, 153
    else:
        length = len(text.encode('utf-16-le')) // 2
        single, multi = 70, 67
    return 1 if length <= single else math.ceil(length / multi)


# --------------------------------------------------------------------------- configuration

def _as_decimal(value):
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f'not a number: {value!r}') from None
    if not number.is_finite() or number < 0:
        raise ValueError(f'must be a non-negative number: {value!r}')
    return number


def _as_float(minimum=None, maximum=None, optional=False):
    def convert(value):
        if value is None and optional:
            return None
        if isinstance(value, bool):
            raise ValueError('must be a number')
        number = float(value)
        if math.isnan(number) or (minimum is not None and number < minimum) or \
                (maximum is not None and number > maximum):
            raise ValueError(f'out of range: {value!r}')
        return number
    return convert


def _as_int(minimum=None, optional=False):
    def convert(value):
        if value is None and optional:
            return None
        if isinstance(value, bool) or int(value) != float(value):
            raise ValueError(f'must be an integer: {value!r}')
        number = int(value)
        if minimum is not None and number < minimum:
            raise ValueError(f'must be >= {minimum}: {value!r}')
        return number
    return convert


def _as_str(optional=False):
    def convert(value):
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise ValueError(f'must be a string: {value!r}')
        return value
    return convert


def _as_str_list(value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError('must be a list of strings')
    return list(value)


def _as_numbers(value):
    return [_number_key(number) for number in _as_str_list(value)]


def _as_choice(*choices):
    def convert(value):
        if value not in choices:
            raise ValueError(f'must be one of {", ".join(choices)}: {value!r}')
        return value
    return convert


def _as_headers(value):
    if not isinstance(value, dict):
        raise ValueError('must be an object of header name -> value')
    return {str(k): str(v) for k, v in value.items()}


def _as_json(value):
    json.dumps(value)
    return value


SCHEMA = {
    'mode': _as_choice(*MODES),
    'latency_ms': _as_float(0, 600000),
    'retry_after': _as_int(0, optional=True),
    'fault_count': _as_int(1, optional=True),
    'fault_ratio': _as_float(0, 1),
    'fault_scope': _as_choice('all', 'send'),
    'hang_max_s': _as_float(0, MAX_HANG_SECONDS),
    'custom_status': _as_int(100),
    'custom_body': _as_json,
    'custom_headers': _as_headers,
    'invalid_numbers': _as_numbers,
    'invalid_suffix': lambda value: _as_str(optional=True)(value) or '',
    'unsubscribed_numbers': _as_numbers,
    'undelivered_numbers': _as_numbers,
    'callback_delay_ms': _as_float(0, 600000),
    'credit': _as_decimal,
    'part_price': _as_decimal,
    'api_keys': _as_str_list,
    'client_uuids': _as_str_list,
    'max_recipients': _as_int(1),
    'webhook_url': _as_str(optional=True),
    'webhook_secret': _as_str(),
    'webhook_signature_prefix': _as_str(),
    'account_sid': _as_str(),
    'auth_token': _as_str(),
    'api_key_sid': _as_str(),
    'api_key_secret': _as_str(),
    'phone_numbers': _as_str_list,
    'undelivered_error_code': _as_int(0),
    'app_key': _as_str(),
    'app_secret': _as_str(),
    'consumer_key': _as_str(),
    'services': _as_str_list,
    'time_window_s': _as_float(0),
    'clock_offset_s': _as_float(),
    'senders': _as_str_list,
}


def _fresh_config(provider):
    config = copy.deepcopy(DEFAULTS['common'])
    config.update(copy.deepcopy(DEFAULTS[provider]))
    for key in ('credit', 'part_price'):
        config[key] = Decimal(config[key])
    for key in ('invalid_numbers', 'unsubscribed_numbers', 'undelivered_numbers'):
        config[key] = [_number_key(n) for n in config[key]]
    return config


def _fresh_counters():
    return {
        'requests': 0,              # every HTTP request that reached the provider's routes
        'sends': 0,                 # calls of the send endpoint
        'recipients_accepted': 0,
        'recipients_rejected': 0,   # invalid numbers
        'recipients_opted_out': 0,  # unsubscribed numbers refused at send time
        'parts': 0,                 # SMS parts billed
        'by_status': {},            # HTTP status -> count; 'no_answer' for refuse/hang
        'faults': {},               # injected mode -> count
        'callbacks': {'sent': 0, 'failed': 0, 'dropped': 0, 'skipped': 0},
        'last_request_at': None,
    }


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def _callback_host_allowed(url, extra_hosts):
    """Only loopback (and explicitly allowed) hosts ever receive callbacks."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        return False
    host = parts.hostname.lower()
    if host == 'localhost' or host in extra_hosts:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- callbacks

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A callback target must not send the sandbox anywhere else."""

    def redirect_request(self, *args, **kwargs):
        return None


class CallbackDispatcher:
    """Delivers delayed callbacks with a fixed pool of threads and a bounded queue.

    A job is ``(url, render, on_done)``: ``render()`` builds ``(body, headers)`` when the
    job is due (so timestamps and signatures are fresh); ``on_done(ok)`` may schedule the
    next step. Jobs beyond ``max_pending`` are dropped; each POST times out after
    ``timeout`` seconds; nothing is retried.
    """

    def __init__(self, workers=4, max_pending=5000, timeout=5.0):
        self.workers = workers
        self.max_pending = max_pending
        self.timeout = timeout
        self._heap = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._threads = []
        self._stopping = False
        self._in_flight = 0
        # No proxy from the environment, no redirects: only the URL we were given.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def start(self):
        self._stopping = False
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f'sandbox-callback-{index}',
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout=2.0):
        with self._condition:
            self._stopping = True
            self._heap.clear()
            self._condition.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def schedule(self, delay_s, url, render, on_done=None):
        """Queue a job; False when the queue is full or the dispatcher stopped."""
        with self._condition:
            if self._stopping or len(self._heap) >= self.max_pending:
                return False
            due = time.monotonic() + max(0.0, delay_s)
            heapq.heappush(self._heap, (due, next(self._sequence), url, render, on_done))
            self._condition.notify()
            return True

    def clear(self):
        with self._condition:
            self._heap.clear()

    @property
    def pending(self):
        with self._condition:
            return len(self._heap) + self._in_flight

    def wait_idle(self, timeout=5.0):
        """Wait until no job is queued or running; True when idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pending:
                return True
            time.sleep(0.01)
        return not self.pending

    def _work(self):
        while True:
            with self._condition:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, url, render, on_done = heapq.heappop(self._heap)
                        self._in_flight += 1
                        break
                    wait = self._heap[0][0] - now if self._heap else None
                    self._condition.wait(wait)
            ok = False
            try:
                body, headers = render()
                request = urllib.request.Request(url, data=body, headers=headers, method='POST')
                with self._opener.open(request, timeout=self.timeout) as response:
                    response.read(65536)
                    ok = 200 <= response.status < 300
            except Exception:  # noqa: BLE001 - a failed callback is counted, never fatal
                ok = False
            try:
                if on_done:
                    on_done(ok)
            except Exception:  # noqa: BLE001
                pass
            finally:
                with self._condition:
                    self._in_flight -= 1


# --------------------------------------------------------------------------- HTTP server

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, sandbox, provider=None):
        self.sandbox = sandbox
        self.provider = provider      # set on a provider's dedicated port
        self._open = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        if not self.sandbox._connection_slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except Exception:
            self.sandbox._connection_slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.sandbox._connection_slots.release()

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self):
        """Wake and end every handler thread (idle keep-alive, hanging, sleeping)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client that gives up (timeout, reset) is normal here; stay quiet.
        if self.sandbox.verbose:
            super().handle_error(request, client_address)


class _Abort(Exception):
    """End the exchange without writing an answer."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'SmsSandbox/1.0'
    timeout = IDLE_CONNECTION_TIMEOUT

    # ---- plumbing

    def setup(self):
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer and distort benchmarks.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        if self.server.sandbox.verbose:
            sys.stderr.write('%s - %s\n' % (self.address_string(), format % args))

    def do_GET(self):
        self._dispatch('GET')

    def do_POST(self):
        self._dispatch('POST')

    def do_PUT(self):
        self._dispatch('PUT')

    def do_DELETE(self):
        self._dispatch('DELETE')

    @property
    def sandbox(self):
        return self.server.sandbox

    def _read_body(self):
        length = self.headers.get('Content-Length')
        if not length:
            return b''
        try:
            length = int(length)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _write(self, status, body=b'', content_type='application/json', headers=None):
        if isinstance(body, str):
            body = body.encode()
        provider = getattr(self, '_provider', None)
        if provider:
            # Counted before the answer leaves, so a client that reads counters next sees it.
            self.sandbox._count_status(provider, status)
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status, payload, headers=None):
        self._write(status, json.dumps(payload), 'application/json', headers)

    def _full_url(self):
        host = self.headers.get('Host') or '%s:%s' % self.server.server_address[:2]
        return f'http://{host}{self.path}'

    # ---- routing

    def _dispatch(self, method):
        self._provider = None
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        query = urllib.parse.parse_qs(parts.query)
        body = self._read_body()
        if body is None:
            self._json(413, {'error': 'request body too large'})
            return
        provider, subpath = self._route(path)
        try:
            if provider == '_control':
                self._control(method, subpath, query, body)
            elif provider in PROVIDERS:
                self._provider = provider
                self._provider_request(provider, method, subpath, query, body)
            else:
                self._json(404, {'error': f'no route for {path}',
                                 'providers': [f'/{name}' for name in PROVIDERS]})
        except _Abort:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            # The client left before the answer (timed out, or its process was killed):
            # normal in failure drills, not a sandbox bug.
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - a sandbox bug must show, not hang the client
            import traceback
            traceback.print_exc()
            self.close_connection = True
            try:
                self._json(500, {'sandbox_error': f'{type(error).__name__}: {error}'})
            except OSError:
                pass

    def _route(self, path):
        segments = path.split('/', 2)
        head = segments[1] if len(segments) > 1 else ''
        rest = '/' + segments[2] if len(segments) > 2 else '/'
        dedicated = self.server.provider
        if dedicated:
            # A dedicated port serves its provider with or without the prefix.
            if head == dedicated:
                return dedicated, rest
            if head in PROVIDERS or head == '_control':
                return None, path
            return dedicated, path
        if head in PROVIDERS or head == '_control':
            return head, rest
        if path in ('', '/'):
            return '_control', '/'
        return None, path

    def _provider_request(self, provider, method, path, query, body):
        sandbox = self.sandbox
        is_send = _is_send(provider, method, path)
        fault, mode_changed = sandbox._take_fault(provider, is_send)
        if mode_changed:
            sandbox._apply_listener(provider)
        if fault == 'refuse':
            raise _Abort()
        if fault == 'hang':
            self._hang(sandbox._config_value(provider, 'hang_max_s'))
            raise _Abort()
        latency = sandbox._config_value(provider, 'latency_ms')
        if latency:
            sandbox._stopping.wait(latency / 1000.0)
            if sandbox._stopping.is_set():
                raise _Abort()
        if fault in TRANSPORT_MODES:
            self._fault_answer(provider, fault, method, is_send)
            return
        handler = getattr(self, f'_{provider}')
        handler(method, path, query, body, fault)

    def _hang(self, max_seconds):
        """Keep the connection open without answering until the client leaves."""
        deadline = time.monotonic() + max_seconds
        sock = self.connection
        stopping = self.sandbox._stopping
        while not stopping.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    return  # the client closed its side
                if readable:
                    return  # the client sent something else: give up on this exchange
            except (OSError, ValueError):
                return

    def _fault_answer(self, provider, fault, method, is_send):
        config = self.sandbox._config_snapshot(provider)
        headers = self._provider_headers(provider)
        if fault == 'custom':
            body = config['custom_body']
            headers.update(config['custom_headers'])
            if isinstance(body, str):
                content_type = headers.pop('Content-Type', 'text/plain')
                self._write(config['custom_status'], body, content_type, headers)
            else:
                self._json(config['custom_status'], body, headers)
            return
        if fault == 'broken_json':
            status = 201 if provider == 'twilio' and is_send else 200
            self._write(status, '{"status": "queued", "id": "trunc', 'application/json', headers)
            return
        status = {'http500': 500, 'http503': 503, 'http429': 429}[fault]
        retry_after = config['retry_after']
        if status == 429 and retry_after is None:
            retry_after = 1
        if retry_after is not None and status in (429, 503):
            headers['Retry-After'] = str(retry_after)
        if provider == 'sweego':
            if status == 500:
                self._write(500, 'Internal Server Error', 'text/plain; charset=utf-8', headers)
            else:
                message = 'Too Many Requests' if status == 429 else 'Service Unavailable'
                self._json(status, {'detail': message}, headers)
        elif provider == 'twilio':
            code, message = {
                500: (20500, 'Internal Server Error'),
                503: (20503, 'Service Unavailable'),
                429: (20429, 'Too Many Requests'),
            }[status]
            self._json(status, _twilio_error(code, message, status), headers)
        else:
            cls, message = {
                500: ('Server::InternalServerError', 'Internal server error'),
                503: ('Server::ServiceUnavailable', 'Service temporarily unavailable'),
                429: ('Client::TooManyRequests', 'Too many requests'),
            }[status]
            self._json(status, {'class': cls, 'message': message}, headers)

    def _provider_headers(self, provider):
        if provider == 'ovh':
            return {'X-OVH-QUERYID': 'EU.ext-sandbox.' + uuid.uuid4().hex[:24]}
        if provider == 'twilio':
            return {'Twilio-Request-Id': 'RQ' + uuid.uuid4().hex}
        return {}

    # ---- Sweego

    def _sweego(self, method, path, query, body, fault):
        sandbox = self.sandbox
        key = self.headers.get('Api-Key')
        if method == 'POST' and path == '/send':
            if not sandbox._sweego_key_ok(key):
                self._json(401, {'detail': 'Invalid or missing API key'})
                return
            status, payload = sandbox._sweego_send(body, fault)
            self._json(status, payload)
            return
        match = re.fullmatch(r'/clients/([^/]+)/billing/credits/sms', path)
        if method == 'GET' and match:
            if not sandbox._sweego_key_ok(key):
                self._json(401, {'detail': 'Invalid or missing API key'})
                return
            status, payload = sandbox._sweego_credits(match.group(1), fault)
            self._json(status, payload)
            return
        self._json(404 if method in ('GET', 'POST') else 405, {'detail': 'Not Found'})

    # ---- Twilio

    def _twilio(self, method, path, query, body, fault):
        sandbox = self.sandbox
        headers = self._provider_headers('twilio')
        match = re.fullmatch(r'/2010-04-01/Accounts/([^/]+?)(/.*)?', path)
        if not match:
            self._json(404, _twilio_not_found(path), headers)
            return
        account, rest = match.group(1), match.group(2) or ''
        if not sandbox._twilio_auth_ok(self.headers.get('Authorization')):
            headers['WWW-Authenticate'] = 'Basic realm="Twilio API"'
            self._json(401, _twilio_error(20003, 'Authenticate', 401), headers)
            return
        config = sandbox._config_snapshot('twilio')
        if account.removesuffix('.json') != config['account_sid']:
            self._json(404, _twilio_not_found(f'/2010-04-01/Accounts/{account}'), headers)
            return
        if method == 'POST' and rest == '/Messages.json':
            form = urllib.parse.parse_qs(body.decode('utf-8', 'replace'), keep_blank_values=True)
            form = {name: values[-1] for name, values in form.items()}
            status, payload = sandbox._twilio_send(form, fault)
            self._json(status, payload, headers)
            return
        if method == 'GET' and account.endswith('.json') and not rest:
            self._json(200, sandbox._twilio_account(fault), headers)
            return
        if method == 'GET' and rest == '/IncomingPhoneNumbers.json':
            self._json(200, sandbox._twilio_numbers(query.get('PhoneNumber', [None])[-1]), headers)
            return
        match = re.fullmatch(r'/Messages/(SM[0-9a-f]{32})\.json', rest)
        if method == 'GET' and match:
            message = sandbox._twilio_message(match.group(1))
            if message is None:
                self._json(404, _twilio_not_found(path), headers)
            else:
                self._json(200, message, headers)
            return
        self._json(404, _twilio_not_found(path), headers)

    # ---- OVH

    def _ovh(self, method, path, query, body, fault):
        sandbox = self.sandbox
        headers = self._provider_headers('ovh')
        if not path.startswith('/1.0/'):
            self._json(404, _OVH_BAD_URL, headers)
            return
        path = path[len('/1.0'):]
        if path == '/auth/time' and method == 'GET':
            self._json(200, sandbox._ovh_time(), headers)
            return
        problem = sandbox._ovh_auth_problem(
            method, self._full_url(), body,
            {name: self.headers.get(name) for name in (
                'X-Ovh-Application', 'X-Ovh-Consumer', 'X-Ovh-Timestamp', 'X-Ovh-Signature')})
        if problem:
            status, payload = problem
            self._json(status, payload, headers)
            return
        status, payload = sandbox._ovh_route(method, path, query, body, fault)
        self._json(status, payload, headers)

    # ---- control API

    def _control(self, method, path, query, body):
        sandbox = self.sandbox
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            self._json(400, {'error': 'body is not JSON'})
            return
        if path in ('/', '') and method == 'GET':
            self._json(200, sandbox.state())
            return
        if path == '/health' and method == 'GET':
            self._json(200, {'ok': True, 'url': sandbox.url})
            return
        if path == '/reset' and method == 'POST':
            try:
                sandbox.reset(provider=data.get('provider'),
                              counters_only=bool(data.get('counters_only')))
            except ValueError as error:
                self._json(400, {'error': str(error)})
                return
            self._json(200, sandbox.state())
            return
        if path == '/messages' and method == 'GET':
            provider = query.get('provider', [None])[-1]
            limit = query.get('limit', ['100'])[-1]
            try:
                self._json(200, sandbox.messages(provider, limit=int(limit)))
            except ValueError as error:
                self._json(400, {'error': str(error)})
            return
        name = path.strip('/')
        if name in PROVIDERS:
            if method == 'GET':
                self._json(200, sandbox.state()['providers'][name])
                return
            if method == 'POST':
                if not isinstance(data, dict):
                    self._json(400, {'error': 'body must be a JSON object'})
                    return
                try:
                    sandbox.configure(name, **data)
                except (TypeError, ValueError) as error:
                    self._json(400, {'error': str(error)})
                    return
                self._json(200, sandbox.state()['providers'][name])
                return
        self._json(404, {'error': f'no control route {method} {path}'})


def _is_send(provider, method, path):
    if method != 'POST':
        return False
    if provider == 'sweego':
        return path == '/send'
    if provider == 'twilio':
        return path.endswith('/Messages.json')
    return bool(re.fullmatch(r'/1\.0/sms/[^/]+/jobs', path))


def _same(given, expected):
    """Constant-time comparison of two header values (any characters)."""
    return hmac.compare_digest(given.encode('utf-8', 'replace'),
                               expected.encode('utf-8', 'replace'))


def _twilio_not_found(path):
    return _twilio_error(20404, f'The requested resource {path} was not found', 404)


def _twilio_error(code, message, status):
    return {'code': code, 'message': message,
            'more_info': f'https://www.twilio.com/docs/errors/{code}', 'status': status}


def _rfc2822(moment):
    return email.utils.format_datetime(datetime.fromtimestamp(moment, timezone.utc), usegmt=False) \
        .replace('-0000', '+0000')


def _iso(moment):
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec='seconds')


_OVH_BAD_URL = {'class': 'Client::NotFound', 'message': 'Got an invalid (or empty) URL'}


def _ovh_missing(what):
    return 404, {'class': 'Client::NotFound',
                 'message': f'The requested object ({what}) does not exist'}


def _sweego_error(loc, msg, kind):
    return {'loc': loc, 'msg': msg, 'type': kind}


# --------------------------------------------------------------------------- sandbox

class Sandbox:
    """The three fake providers, their faults and counters, and the servers hosting them.

    ``Sandbox(host, port=0).start()`` serves in background threads; ``.url`` is the shared
    base URL, ``.endpoint(provider)`` the value for an account's endpoint field.
    ``dedicated_ports``: False (default), True (an ephemeral port per provider) or a dict
    ``{provider: port}`` (0 = ephemeral); on a dedicated port mode ``refuse`` closes the
    listening socket (true ECONNREFUSED).
    """

    def __init__(self, host='127.0.0.1', port=0, latency_ms=0, dedicated_ports=False,
                 callback_hosts=(), state_file=None, config=None, verbose=False,
                 max_connections=512, callback_workers=4, seed=None):
        self.host = host
        self.port = port
        self.verbose = verbose
        self.state_file = state_file
        self.callback_hosts = {h.lower() for h in callback_hosts}
        self._initial_latency = float(latency_ms or 0)
        self._initial_config = config or {}
        if dedicated_ports is True:
            dedicated_ports = {name: 0 for name in PROVIDERS}
        self._dedicated_ports = dict(dedicated_ports or {})
        for name in self._dedicated_ports:
            self._check_provider(name)
        self._lock = threading.RLock()
        self._listener_lock = threading.Lock()
        self._stopping = threading.Event()
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self._rng = random.Random(seed)
        self._callbacks = CallbackDispatcher(workers=callback_workers)
        self._server = None
        self._dedicated = {}
        self._threads = []
        self._started = False
        self._version = 0
        self._ovh_sequence = 270000000
        self._reset_all()

    # ---- lifecycle

    def start(self):
        if self._started:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._serve(self._server, 'sandbox-http')
        for name, port in self._dedicated_ports.items():
            server = _Server((self.host, port), self, provider=name)
            self._dedicated_ports[name] = server.server_address[1]
            self._dedicated[name] = server
            self._serve(server, f'sandbox-{name}')
        self._callbacks.start()
        self._started = True
        for name in PROVIDERS:
            self._apply_listener(name)
        if self.state_file:
            thread = threading.Thread(target=self._write_state_loop, name='sandbox-state',
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        if not self._started:
            return
        self._stopping.set()
        self._callbacks.stop()
        servers = [self._server] + [s for s in self._dedicated.values() if s is not None]
        for server in servers:
            server.shutdown()
            server.server_close()
            server.close_open_connections()
        self._dedicated = {}
        for thread in self._threads:
            thread.join(2.0)
        self._threads = []
        self._started = False
        if self.state_file:
            self._write_state()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self, server, name):
        thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05},
                                  name=name, daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _apply_listener(self, provider):
        """Open or close a provider's dedicated port to match its mode."""
        if provider not in self._dedicated_ports or not self._started or self._stopping.is_set():
            return
        with self._listener_lock:
            with self._lock:
                refuse = self._config[provider]['mode'] == 'refuse'
            server = self._dedicated.get(provider)
            if refuse and server is not None:
                self._dedicated[provider] = None
                server.shutdown()
                server.server_close()
                server.close_open_connections()
            elif not refuse and server is None:
                port = self._dedicated_ports[provider]
                server = _Server((self.host, port), self, provider=provider)
                self._dedicated[provider] = server
                self._serve(server, f'sandbox-{provider}')

    # ---- addresses

    @property
    def _public_host(self):
        host = self.host
        if host in ('', '0.0.0.0'):
            host = '127.0.0.1'
        elif host == '::':
            host = '::1'
        return f'[{host}]' if ':' in host else host

    @property
    def url(self):
        return f'http://{self._public_host}:{self.port}'

    def provider_port(self, provider):
        """The provider's dedicated port, or the shared one."""
        self._check_provider(provider)
        return self._dedicated_ports.get(provider, self.port)

    def endpoint(self, provider, dedicated=None):
        """Value for an account's endpoint URL field."""
        self._check_provider(provider)
        if dedicated is None:
            dedicated = provider in self._dedicated_ports
        port = self._dedicated_ports[provider] if dedicated else self.port
        suffix = {'sweego': '', 'twilio': '/2010-04-01', 'ovh': '/1.0'}[provider]
        return f'http://{self._public_host}:{port}/{provider}{suffix}'

    # ---- configuration API

    @staticmethod
    def _check_provider(provider):
        if provider not in PROVIDERS:
            raise ValueError(f'unknown provider {provider!r} (one of {", ".join(PROVIDERS)})')

    def _reset_all(self):
        with self._lock:
            self._config = {name: _fresh_config(name) for name in PROVIDERS}
            self._counters = {name: _fresh_counters() for name in PROVIDERS}
            self._messages = {name: OrderedDict() for name in PROVIDERS}
            self._fault_remaining = {name: None for name in PROVIDERS}
            self._ovh_callbacks = {}
            for name in PROVIDERS:
                if self._initial_latency:
                    self._config[name]['latency_ms'] = self._initial_latency
                if name in self._initial_config:
                    self._configure_locked(name, dict(self._initial_config[name]))
            self._version += 1

    def configure(self, provider, **values):
        """Change a provider's behaviour on the fly; returns the resulting settings.

        Keys: see ``DEFAULTS`` (``mode``, ``latency_ms``, ``retry_after``, ``fault_count``,
        ``invalid_numbers``, ``webhook_url``, ...). Unknown keys raise ValueError.
        """
        self._check_provider(provider)
        with self._lock:
            self._configure_locked(provider, values)
            result = self._config_public(provider)
        self._apply_listener(provider)
        return result

    def set_mode(self, provider, mode, **values):
        """Shortcut: ``set_mode('twilio', 'http429', retry_after=30)``."""
        return self.configure(provider, mode=mode, **values)

    def _configure_locked(self, provider, values):
        unknown = sorted(set(values) - set(self._config[provider]))
        if unknown:
            raise ValueError(f'unknown setting(s) for {provider}: {", ".join(unknown)}')
        converted = {}
        for key, value in values.items():
            try:
                converted[key] = SCHEMA[key](value)
            except (TypeError, ValueError) as error:
                raise ValueError(f'{provider}.{key}: {error}') from None
        url = converted.get('webhook_url')
        if url and not _callback_host_allowed(url, self.callback_hosts):
            raise ValueError(f'{provider}.webhook_url: only loopback or --callback-host hosts are '
                             f'allowed, not {url!r}')
        if 'webhook_secret' in converted:
            try:
                secret = converted['webhook_secret'].removeprefix('whsec_')
                base64.b64decode(secret, validate=True)
            except ValueError:
                raise ValueError(f'{provider}.webhook_secret: must be base64') from None
        self._config[provider].update(converted)
        if 'mode' in converted or 'fault_count' in converted:
            self._fault_remaining[provider] = self._config[provider]['fault_count']
        if 'mode' in converted and 'fault_count' not in converted:
            self._config[provider]['fault_count'] = None
            self._fault_remaining[provider] = None
        self._version += 1

    def reset(self, provider=None, counters_only=False):
        """Back to defaults (all providers, or one); ``counters_only`` keeps the settings."""
        if provider is not None:
            self._check_provider(provider)
        names = [provider] if provider else list(PROVIDERS)
        self._callbacks.clear()
        with self._lock:
            for name in names:
                self._counters[name] = _fresh_counters()
                if not counters_only:
                    self._config[name] = _fresh_config(name)
                    self._fault_remaining[name] = None
                    self._messages[name] = OrderedDict()
                    if self._initial_latency:
                        self._config[name]['latency_ms'] = self._initial_latency
                    if name in self._initial_config:
                        self._configure_locked(name, dict(self._initial_config[name]))
            if not counters_only and (provider is None or provider == 'ovh'):
                self._ovh_callbacks = {}
            self._version += 1
        for name in names:
            self._apply_listener(name)

    def counters(self, provider=None):
        with self._lock:
            if provider:
                self._check_provider(provider)
                return copy.deepcopy(self._counters[provider])
            return copy.deepcopy(self._counters)

    def state(self):
        """Settings, counters and addresses (the body of ``GET /_control``)."""
        with self._lock:
            providers = {
                name: {
                    'endpoint': self.endpoint(name),
                    'shared_endpoint': self.endpoint(name, dedicated=False),
                    'listening': self._dedicated.get(name) is not None
                    if name in self._dedicated_ports else
                    self._started and not self._stopping.is_set(),
                    'config': self._config_public(name),
                    'fault_remaining': self._fault_remaining[name],
                    'counters': copy.deepcopy(self._counters[name]),
                    'stored_messages': len(self._messages[name]),
                }
                for name in PROVIDERS
            }
            return {
                'url': self.url,
                'port': self.port,
                'dedicated_ports': dict(self._dedicated_ports),
                'modes': list(MODES),
                'callbacks_pending': self._callbacks.pending,
                'providers': providers,
            }

    def messages(self, provider=None, limit=100):
        """The latest accepted messages (newest last), for demos and assertions."""
        names = [provider] if provider else list(PROVIDERS)
        for name in names:
            self._check_provider(name)
        now = time.time()
        with self._lock:
            result = []
            for name in names:
                for record in self._messages[name].values():
                    item = {k: v for k, v in record.items() if not k.startswith('_')}
                    item['status'] = self._lifecycle(name, record, now)[0]
                    result.append(item)
        result.sort(key=lambda item: item['created_at'])
        return result[-limit:] if limit else result

    def wait_callbacks(self, timeout=5.0):
        """Wait until every scheduled callback was delivered (or failed)."""
        return self._callbacks.wait_idle(timeout)

    def _config_public(self, provider):
        return _jsonable(self._config[provider])

    def _config_value(self, provider, key):
        with self._lock:
            return self._config[provider][key]

    def _config_snapshot(self, provider):
        with self._lock:
            return copy.deepcopy(self._config[provider])

    # ---- counters and faults

    def _bump(self, provider, key, amount=1):
        with self._lock:
            self._counters[provider][key] += amount
            self._version += 1

    def _count_status(self, provider, status):
        with self._lock:
            by_status = self._counters[provider]['by_status']
            by_status[str(status)] = by_status.get(str(status), 0) + 1
            self._version += 1

    def _count_callback(self, provider, outcome):
        with self._lock:
            self._counters[provider]['callbacks'][outcome] += 1
            self._version += 1

    def _take_fault(self, provider, is_send):
        """Count the request and decide which mode applies to it."""
        with self._lock:
            counters = self._counters[provider]
            counters['requests'] += 1
            counters['last_request_at'] = _iso(time.time())
            if is_send:
                counters['sends'] += 1
            config = self._config[provider]
            mode = config['mode']
            self._version += 1
            if mode == 'ok':
                return 'ok', False
            if config['fault_scope'] == 'send' and not is_send:
                return 'ok', False
            if config['fault_ratio'] < 1.0 and self._rng.random() >= config['fault_ratio']:
                return 'ok', False
            remaining = self._fault_remaining[provider]
            mode_changed = False
            if remaining is not None:
                remaining -= 1
                self._fault_remaining[provider] = remaining
                if remaining <= 0:
                    config['mode'] = 'ok'
                    config['fault_count'] = None
                    self._fault_remaining[provider] = None
                    mode_changed = True
            counters['faults'][mode] = counters['faults'].get(mode, 0) + 1
            if mode in ('refuse', 'hang'):
                counters['by_status']['no_answer'] = counters['by_status'].get('no_answer', 0) + 1
        return mode, mode_changed

    def _invalid(self, config, digits, fault):
        if digits is None or fault == 'invalid_recipients':
            return True
        if digits in config['invalid_numbers']:
            return True
        suffix = config['invalid_suffix']
        return bool(suffix) and digits.endswith(suffix)

    def _charge(self, provider, parts, fault):
        """Debit ``parts`` SMS parts; None when the credit does not cover them."""
        with self._lock:
            config = self._config[provider]
            cost = config['part_price'] * parts
            if fault == 'no_credit' or cost > config['credit']:
                return None
            config['credit'] -= cost
            self._counters[provider]['parts'] += parts
            self._version += 1
            return cost

    def _store(self, provider, record):
        with self._lock:
            store = self._messages[provider]
            store[record['id']] = record
            while len(store) > MAX_STORED_MESSAGES:
                store.popitem(last=False)

    def _lifecycle(self, provider, record, now):
        """(status, sent_at, done_at) of a stored message at ``now``; steps are delayed."""
        step = record['_delay']
        created = record['created_at']
        if now < created + step:
            return record['_initial_status'], None, None
        if now < created + 2 * step:
            return 'sent', created + step, None
        final = 'undelivered' if record['undelivered'] else 'delivered'
        return final, created + step, created + 2 * step

    def _schedule(self, provider, delay_s, url, render, on_done=None):
        if not _callback_host_allowed(url, self.callback_hosts):
            self._count_callback(provider, 'skipped')
            return

        def done(ok):
            self._count_callback(provider, 'sent' if ok else 'failed')
            if on_done:
                on_done(ok)

        if not self._callbacks.schedule(delay_s, url, render, done):
            self._count_callback(provider, 'dropped')

    # ---- Sweego

    def _sweego_key_ok(self, key):
        with self._lock:
            keys = self._config['sweego']['api_keys']
        return bool(key) and any(_same(key, k) for k in keys)

    def _sweego_send(self, raw, fault):
        try:
            payload = json.loads(raw or b'')
        except ValueError as error:
            return 422, {'detail': [_sweego_error(['body', 0], f'JSON decode error: {error}',
                                                  'value_error.jsondecode')]}
        if not isinstance(payload, dict):
            return 422, {'detail': [_sweego_error(['body'], 'value is not a valid dict',
                                                  'type_error.dict')]}
        config = self._config_snapshot('sweego')
        errors = []

        def require(name, check, msg, kind):
            if name not in payload:
                errors.append(_sweego_error(['body', name], 'field required',
                                            'value_error.missing'))
            elif not check(payload[name]):
                errors.append(_sweego_error(['body', name], msg, kind))

        require('channel', lambda v: v == 'sms', "value is not a valid enumeration member; "
                "permitted: 'sms'", 'type_error.enum')
        require('provider', lambda v: v == 'sweego', "value is not a valid enumeration member; "
                "permitted: 'sweego'", 'type_error.enum')
        require('campaign-type', lambda v: v in ('transac', 'market'),
                "value is not a valid enumeration member; permitted: 'transac', 'market'",
                'type_error.enum')
        require('message-txt', lambda v: isinstance(v, str) and v.strip(),
                'ensure this value has at least 1 characters', 'value_error.any_str.min_length')
        require('recipients', lambda v: isinstance(v, list) and v,
                'ensure this value has at least 1 items', 'value_error.list.min_items')
        for name, check in (('sender-id', lambda v: isinstance(v, str) and 0 < len(v) <= 11),
                            ('campaign-id', lambda v: isinstance(v, str)),
                            ('shorten-urls', lambda v: isinstance(v, bool))):
            if name in payload and payload[name] is not None and not check(payload[name]):
                errors.append(_sweego_error(['body', name], 'invalid value', 'value_error'))
        if errors:
            return 422, {'detail': errors}
        recipients = payload['recipients']
        if len(recipients) > config['max_recipients']:
            return 413, {'detail': f'Too many recipients ({len(recipients)} > '
                                   f'{config["max_recipients"]})'}
        numbers = []
        for index, recipient in enumerate(recipients):
            loc = ['body', 'recipients', index]
            if not isinstance(recipient, dict) or not isinstance(recipient.get('num'), str):
                errors.append(_sweego_error(loc + ['num'], 'field required', 'value_error.missing'))
                continue
            region = recipient.get('region')
            if region is not None and not (
                    isinstance(region, str) and re.fullmatch(r'[A-Za-z]{2}', region)):
                errors.append(_sweego_error(loc + ['region'], 'invalid region',
                                            'value_error.region'))
                continue
            digits = normalize_number(recipient['num'], region)
            if self._invalid(config, digits, fault):
                errors.append(_sweego_error(loc + ['num'], 'value is not a valid phone number',
                                            'value_error.phone_number'))
                continue
            numbers.append(digits)
        if errors:
            self._bump('sweego', 'recipients_rejected', sum(
                1 for e in errors if e['loc'][:2] == ['body', 'recipients']))
            return 422, {'detail': errors}
        text = payload['message-txt']
        parts = sms_parts(text)
        if self._charge('sweego', parts * len(numbers), fault) is None:
            with self._lock:
                left = Decimal(0) if fault == 'no_credit' else self._config['sweego']['credit']
            return 402, {'detail': f'Insufficient SMS credits: {left:.2f} left'}
        transaction_id = str(uuid.uuid4())
        uids = {}
        now = time.time()
        delay = config['callback_delay_ms'] / 1000.0
        for digits in numbers:
            uid = uids.setdefault('00' + digits, f'03-{uuid.uuid4()}')
            self._store('sweego', {
                'id': uid, 'provider': 'sweego', 'batch_id': transaction_id, 'to': '+' + digits,
                'body': text, 'parts': parts, 'created_at': now,
                'undelivered': digits in config['undelivered_numbers'],
                'opted_out': digits in config['unsubscribed_numbers'],
                '_delay': delay, '_initial_status': 'queued',
            })
        self._bump('sweego', 'recipients_accepted', len(numbers))
        if config['webhook_url']:
            for key, uid in uids.items():
                digits = key[2:]
                self._sweego_events(config, transaction_id, uid, key, digits, parts, delay)
        with self._lock:
            left = self._config['sweego']['credit']
        return 200, {
            'transaction_id': transaction_id,
            'swg_uids': uids,
            'credit_left': f'{left:.2f}',
            'channel': 'sms',
            'provider': 'sweego',
        }

    def _sweego_events(self, config, transaction_id, uid, phone, digits, parts, delay):
        price = str(config['part_price'] * parts)
        steps = [('sms_sent', 'sent')]
        if digits in config['undelivered_numbers']:
            steps.append(('sms_undelivered', 'undelivered'))
        if digits in config['unsubscribed_numbers']:
            steps.append(('sms_stop', 'stop'))
        url = config['webhook_url']
        secret = config['webhook_secret']
        prefix = config['webhook_signature_prefix']

        def make(event_type, status):
            event_id = str(uuid.uuid4())
            event = {
                'event_id': event_id, 'event_type': event_type, 'channel': 'sms',
                'swg_uid': uid, 'transaction_id': transaction_id, 'phone_number': phone,
                'status': status, 'nb_segments': parts, 'sms_price': price,
            }

            def render():
                timestamp = str(int(time.time()))
                event['timestamp'] = _iso(time.time())
                body = json.dumps(event).encode()
                signature = prefix + sweego_signature(secret, event_id, timestamp, body)
                return body, {'Content-Type': 'application/json', 'webhook-id': event_id,
                              'webhook-timestamp': timestamp, 'webhook-signature': signature,
                              'User-Agent': 'SmsSandbox-Sweego-Webhook/1.0'}
            return render

        self._chain('sweego', url, [make(*step) for step in steps], delay)

    def _chain(self, provider, url, renders, delay):
        """Deliver ``renders`` one after the other, ``delay`` apart, in order."""
        if not renders:
            return
        first, rest = renders[0], renders[1:]
        self._schedule(provider, delay, url, first,
                       on_done=lambda ok: self._chain(provider, url, rest, delay))

    def _sweego_credits(self, client_uuid, fault):
        with self._lock:
            config = self._config['sweego']
            allowed = list(config['client_uuids'])
            amount = Decimal(0) if fault == 'no_credit' else config['credit']
        try:
            uuid.UUID(client_uuid)
        except ValueError:
            return 404, {'detail': 'Client not found'}
        if allowed and client_uuid not in allowed:
            return 403, {'detail': 'Not allowed for this client'}
        termination = (datetime.now(timezone.utc) + timedelta(days=365)).date().isoformat()
        return 200, {'type': 'sms', 'amount': float(amount), 'termination_date': termination}

    # ---- Twilio

    def _twilio_auth_ok(self, header):
        if not header or not header.startswith('Basic '):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(':')
        except (ValueError, UnicodeDecodeError):
            return False
        with self._lock:
            config = self._config['twilio']
            pairs = [(config['account_sid'], config['auth_token']),
                     (config['api_key_sid'], config['api_key_secret'])]
        return any(_same(user, u) and _same(password, p) for u, p in pairs)

    def _twilio_send(self, form, fault):
        config = self._config_snapshot('twilio')
        to = form.get('To', '').strip()
        sender = form.get('From', '').strip()
        service = form.get('MessagingServiceSid', '').strip()
        text = form.get('Body', '')
        callback = form.get('StatusCallback', '').strip()
        if not to:
            return 400, _twilio_error(21604, "A 'To' phone number is required.", 400)
        if not sender and not service:
            return 400, _twilio_error(21603, "A 'From' phone number is required.", 400)
        if service and not re.fullmatch(r'MG[0-9a-fA-F]{32}', service):
            return 400, _twilio_error(21705, f'The Messaging Service Sid {service} is invalid.',
                                      400)
        if not text and not form.get('MediaUrl'):
            return 400, _twilio_error(21602, 'Message body is required.', 400)
        if len(text) > 1600:
            return 400, _twilio_error(21617, 'The concatenated message body exceeds the 1600 '
                                      'character limit.', 400)
        if callback and not re.match(r'https?://', callback):
            return 400, _twilio_error(21609, f'Invalid StatusCallback URL: {callback}', 400)
        digits = normalize_number(to) if to.startswith('+') else None
        if self._invalid(config, digits, fault):
            self._bump('twilio', 'recipients_rejected')
            return 400, _twilio_error(21211, f"Invalid 'To' Phone Number: {to}", 400)
        if digits in config['unsubscribed_numbers']:
            self._bump('twilio', 'recipients_opted_out')
            return 400, _twilio_error(21610, 'Attempt to send to unsubscribed recipient', 400)
        parts = sms_parts(text)
        if self._charge('twilio', parts, fault) is None:
            return 401, _twilio_error(20005, 'Account not active', 401)
        sid = 'SM' + uuid.uuid4().hex
        now = time.time()
        delay = config['callback_delay_ms'] / 1000.0
        record = {
            'id': sid, 'provider': 'twilio', 'batch_id': sid, 'to': '+' + digits,
            'from': sender or None,
            'messaging_service_sid': service or None, 'body': text, 'parts': parts,
            'created_at': now, 'undelivered': digits in config['undelivered_numbers'],
            'opted_out': False, 'status_callback': callback or None,
            '_delay': delay, '_initial_status': 'accepted' if service and not sender else 'queued',
            '_account_sid': config['account_sid'], '_price': str(config['part_price'] * parts),
        }
        self._store('twilio', record)
        self._bump('twilio', 'recipients_accepted')
        if callback:
            self._twilio_callbacks(config, record, callback, delay)
        return 201, self._twilio_resource(record, now)

    def _twilio_resource(self, record, now):
        status, sent_at, _ = self._lifecycle('twilio', record, now)
        sid, account = record['id'], record['_account_sid']
        error_code = None
        if status == 'undelivered':
            error_code = self._config['twilio']['undelivered_error_code']
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

    def _twilio_callbacks(self, config, record, url, delay):
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

        self._chain('twilio', url, [make('sent'), make(final)], delay)

    def _twilio_message(self, sid):
        with self._lock:
            record = self._messages['twilio'].get(sid)
            return self._twilio_resource(record, time.time()) if record else None

    def _twilio_account(self, fault):
        with self._lock:
            config = self._config['twilio']
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

    def _twilio_numbers(self, phone_filter):
        with self._lock:
            config = self._config['twilio']
            sid = config['account_sid']
            numbers = list(config['phone_numbers'])
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

    # ---- OVH

    def _ovh_now(self):
        return int(time.time() + self._config_value('ovh', 'clock_offset_s'))

    def _ovh_time(self):
        return self._ovh_now()

    def _ovh_auth_problem(self, method, url, body, headers):
        """(status, payload) when the request is not correctly signed, else None."""
        config = self._config_snapshot('ovh')

        def forbidden(message, code, status=403):
            label = {400: 'Client::BadRequest', 401: 'Client::Unauthorized',
                     403: 'Client::Forbidden'}[status]
            return status, {'class': label, 'message': message, 'errorCode': code,
                            'httpCode': f'{status} ' + {400: 'Bad Request', 401: 'Unauthorized',
                                                          403: 'Forbidden'}[status]}

        app_key = headers['X-Ovh-Application']
        if not app_key or not _same(app_key, config['app_key']):
            return forbidden('This application key is invalid', 'INVALID_KEY')
        consumer = headers['X-Ovh-Consumer']
        if not consumer or not _same(consumer, config['consumer_key']):
            return forbidden('This credential does not exist', 'INVALID_CREDENTIAL')
        timestamp = headers['X-Ovh-Timestamp'] or ''
        if not timestamp.isdigit():
            return forbidden('Invalid timestamp', 'INVALID_TIMESTAMP', 400)
        if abs(int(timestamp) - self._ovh_now()) > config['time_window_s']:
            return forbidden('Query out of time', 'QUERY_TIME_OUT', 400)
        signature = headers['X-Ovh-Signature'] or ''
        candidates = [url]
        if url.startswith('http://'):
            # Behind a TLS-terminating proxy the client signed the https URL.
            candidates.append('https://' + url[len('http://'):])
        for candidate in candidates:
            expected = ovh_signature(config['app_secret'], consumer, method, candidate, body,
                                     timestamp)
            if _same(signature, expected):
                return None
        return forbidden('Invalid signature', 'INVALID_SIGNATURE')

    def _ovh_route(self, method, path, query, body, fault):
        config = self._config_snapshot('ovh')
        not_found = (404, _OVH_BAD_URL)
        if path == '/auth/currentCredential' and method == 'GET':
            return 200, {'credentialId': 1, 'applicationId': 1, 'status': 'validated',
                         'rules': [{'method': m, 'path': '/sms/*'} for m in ('GET', 'POST', 'PUT')],
                         'creation': _iso(time.time() - 86400), 'expiration': None,
                         'lastUse': _iso(time.time())}
        if path == '/sms' and method == 'GET':
            return 200, list(config['services'])
        match = re.fullmatch(r'/sms/([^/]+)(/.*)?', path)
        if not match:
            return not_found
        service, rest = urllib.parse.unquote(match.group(1)), match.group(2) or ''
        if service not in config['services']:
            return _ovh_missing(f'serviceName = {service}')
        if not rest and method == 'GET':
            credits = Decimal(0) if fault == 'no_credit' else config['credit']
            return 200, {
                'name': service, 'description': 'SMS sandbox', 'status': 'enable',
                'creditsLeft': float(credits), 'creditsHoldByQuota': 0, 'userQuantityWithQuota': 0,
                'channel': 'both', 'smsResponse': {'responseType': 'cgi', 'text': '', 'cgiUrl': '',
                                                    'trackingOptions': []},
                'callBack': self._ovh_callbacks.get(service, {}).get('callBack', ''),
                'stopCallBack': self._ovh_callbacks.get(service, {}).get('stopCallBack', ''),
                'automaticRecreditAmount': None, 'creditThresholdForAutomaticRecredit': 0,
                'templates': {'customizedEmailMode': False, 'customizedSmsMode': False},
            }
        if not rest and method == 'PUT':
            try:
                data = json.loads(body or b'{}')
            except ValueError:
                return 400, {'class': 'Client::BadRequest', 'message': 'Invalid JSON body'}
            if not isinstance(data, dict):
                return 400, {'class': 'Client::BadRequest', 'message': 'Invalid JSON body'}
            with self._lock:
                stored = self._ovh_callbacks.setdefault(service, {})
                for key in ('callBack', 'stopCallBack', 'description'):
                    if key in data:
                        stored[key] = str(data[key] or '')
            return 200, None
        if rest == '/jobs' and method == 'POST':
            return self._ovh_send(service, body, fault, config)
        if rest == '/jobs' and method == 'GET':
            return 200, []
        if rest == '/outgoing' and method == 'GET':
            with self._lock:
                records = list(self._messages['ovh'].values())
            tag = query.get('tag', [None])[-1]
            receiver = query.get('receiver', [None])[-1]
            return 200, [r['id'] for r in records if r['service'] == service
                         and (tag is None or r['tag'] == tag)
                         and (receiver is None or r['to'] == receiver)]
        match = re.fullmatch(r'/outgoing/(\d+)', rest)
        if match and method == 'GET':
            with self._lock:
                record = self._messages['ovh'].get(int(match.group(1)))
            if record is None or record['service'] != service:
                return _ovh_missing(f'id = {match.group(1)}')
            return 200, self._ovh_outgoing(record)
        return not_found

    def _ovh_send(self, service, raw, fault, config):
        def bad(message):
            return 400, {'class': 'Client::BadRequest', 'message': message}

        try:
            payload = json.loads(raw or b'')
        except ValueError:
            return bad('Invalid JSON received')
        if not isinstance(payload, dict):
            return bad('Invalid JSON received')
        message = payload.get('message')
        if not isinstance(message, str) or not message:
            return bad('[message] Missing parameter')
        if 'receiversDocumentUrl' in payload or 'receiversSlotId' in payload:
            return bad('receiversDocumentUrl / receiversSlotId are not supported by the sandbox')
        receivers = payload.get('receivers')
        if not isinstance(receivers, list) or not receivers or \
                not all(isinstance(r, str) for r in receivers):
            return bad('[receivers] Missing or invalid parameter')
        choices = {'priority': ('high', 'low', 'medium', 'veryLow'), 'coding': ('7bit', '8bit'),
                   'class': ('flash', 'phoneDisplay', 'sim', 'toolkit'), 'charset': ('UTF-8',)}
        for name, allowed in choices.items():
            if name in payload and payload[name] not in allowed:
                return bad(f'[{name}] Invalid value {payload[name]!r}')
        for name in ('noStopClause', 'senderForResponse'):
            if name in payload and not isinstance(payload[name], bool):
                return bad(f'[{name}] Expected a boolean')
        for name in ('validityPeriod', 'differedPeriod'):
            value = payload.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                return bad(f'[{name}] Expected an integer')
        sender = payload.get('sender')
        if sender is not None and not isinstance(sender, str):
            return bad('[sender] Expected a string')
        if sender and config['senders'] and sender not in config['senders']:
            return 403, {'class': 'Client::Forbidden',
                         'message': f'The sender {sender} does not exist'}
        tag = payload.get('tag')
        valid, invalid, digits_list = [], [], []
        for receiver in receivers:
            text = receiver.strip()
            digits = normalize_number(text) if text.startswith(('+', '00')) else None
            if self._invalid(config, digits, fault) or digits in config['unsubscribed_numbers']:
                invalid.append(receiver)
            else:
                valid.append(receiver)
                digits_list.append(digits)
        opted_out = sum(1 for r in invalid if _number_key(r) in config['unsubscribed_numbers'])
        self._bump('ovh', 'recipients_opted_out', opted_out)
        self._bump('ovh', 'recipients_rejected', len(invalid) - opted_out)
        parts = sms_parts(message)
        if digits_list:
            cost = self._charge('ovh', parts * len(digits_list), fault)
            if cost is None:
                return 403, {'class': 'Client::Forbidden',
                             'message': 'Not enough credits to send this message'}
        else:
            cost = Decimal(0)
        ids = []
        now = time.time()
        delay = config['callback_delay_ms'] / 1000.0
        with self._lock:
            for digits in digits_list:
                self._ovh_sequence += 1
                ids.append(self._ovh_sequence)
                self._store('ovh', {
                    'id': self._ovh_sequence, 'provider': 'ovh', 'batch_id': None,
                    'service': service, 'to': '+' + digits, 'sender': sender or '',
                    'body': message, 'parts': parts, 'tag': tag, 'created_at': now,
                    'undelivered': digits in config['undelivered_numbers'], 'opted_out': False,
                    '_delay': delay, '_initial_status': 'queued',
                    '_credits': str(config['part_price'] * parts),
                })
        self._bump('ovh', 'recipients_accepted', len(ids))
        total = int(cost) if cost == cost.to_integral_value() else float(cost)
        return 200, {'ids': ids, 'validReceivers': valid, 'invalidReceivers': invalid,
                     'totalCreditsRemoved': total, 'tag': tag}

    def _ovh_outgoing(self, record):
        status, sent_at, done_at = self._lifecycle('ovh', record, time.time())
        # Delivery receipt codes as OVH's callbacks use them (unverified for outgoing objects):
        # 1 delivered, 2 not delivered, 4 buffered, 8 accepted by the SMSC.
        receipt = {'queued': 4, 'sent': 8, 'delivered': 1, 'undelivered': 2}[status]
        return {
            'id': record['id'], 'receiver': record['to'], 'sender': record['sender'],
            'message': record['body'], 'tag': record['tag'],
            'creationDatetime': _iso(record['created_at']), 'sentAt': _iso(sent_at),
            'deliveredAt': _iso(done_at) if status == 'delivered' else None,
            'deliveryReceipt': receipt, 'ptt': receipt, 'credits': float(record['_credits']),
            'differedDelivery': 0, 'messageLength': len(record['body']),
            'tariffCode': None, 'status': status,
        }

    # ---- state file

    def _write_state(self):
        path = self.state_file
        tmp = f'{path}.tmp'
        try:
            with open(tmp, 'w', encoding='utf-8') as handle:
                json.dump(self.state(), handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except OSError as error:
            sys.stderr.write(f'sandbox: cannot write state file {path}: {error}\n')

    def _write_state_loop(self):
        written = None
        while not self._stopping.wait(0.5):
            if written != self._version:
                written = self._version
                self._write_state()


# --------------------------------------------------------------------------- CLI

def _parse_pairs(values, what):
    result = {}
    for value in values or ():
        name, sep, rest = value.partition('=')
        if not sep or name not in PROVIDERS:
            raise SystemExit(f'--{what} expects PROVIDER=VALUE with PROVIDER in '
                             f'{", ".join(PROVIDERS)}')
        result[name] = rest
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Local Sweego/Twilio/OVH sandbox with failure injection.')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8071, help='shared port (0: any free port)')
    parser.add_argument('--latency-ms', type=float, default=0,
                        help='initial latency of every provider')
    parser.add_argument('--port-per-provider', action='store_true',
                        help='also listen on PORT+1 (sweego), PORT+2 (twilio), PORT+3 (ovh); '
                             "'refuse' then closes that port (true ECONNREFUSED)")
    parser.add_argument('--provider-port', action='append', metavar='PROVIDER=PORT',
                        help='dedicated port for one provider (repeatable)')
    parser.add_argument('--fault', action='append', metavar='PROVIDER=MODE',
                        help='start with a fault mode (repeatable)')
    parser.add_argument('--config',
                        help='JSON file {provider: {setting: value}} applied at start and reset')
    parser.add_argument('--state-file',
                        help='keep this JSON file updated with settings and counters')
    parser.add_argument('--callback-host', action='append', default=[],
                        help='extra host allowed to receive callbacks (loopback is always allowed)')
    parser.add_argument('--verbose', action='store_true', help='log every request to stderr')
    args = parser.parse_args(argv)

    config = {}
    if args.config:
        with open(args.config, encoding='utf-8') as handle:
            config = json.load(handle)
        unknown = set(config) - set(PROVIDERS)
        if unknown:
            raise SystemExit(f'--config: unknown provider(s) {", ".join(sorted(unknown))}')
    for name, mode in _parse_pairs(args.fault, 'fault').items():
        config.setdefault(name, {})['mode'] = mode
    dedicated = {}
    if args.port_per_provider:
        if not args.port:
            dedicated = {name: 0 for name in PROVIDERS}
        else:
            dedicated = {name: args.port + index + 1 for index, name in enumerate(PROVIDERS)}
    for name, port in _parse_pairs(args.provider_port, 'provider-port').items():
        dedicated[name] = int(port)

    try:
        sandbox = Sandbox(args.host, args.port, latency_ms=args.latency_ms,
                          dedicated_ports=dedicated, callback_hosts=args.callback_host,
                          state_file=args.state_file, config=config, verbose=args.verbose)
    except ValueError as error:
        raise SystemExit(f'sandbox: {error}') from None
    try:
        sandbox.start()
    except OSError as error:
        raise SystemExit(f'sandbox: cannot listen on {args.host}:{args.port}: {error}') from None
    print(f'SMS sandbox listening on {sandbox.url}', flush=True)
    for name in PROVIDERS:
        print(f'  {name:<7} {sandbox.endpoint(name)}', flush=True)
    print(f'  control {sandbox.url}/_control', flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
