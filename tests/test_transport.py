"""HTTP plumbing: failure classification, replies, Retry-After, status kinds."""
import datetime as dt
import email.utils
import http.server
import socket
import ssl
import threading
import time

import pytest
import requests
import responses
import urllib3.exceptions

from addons.sms_router.engine.outcomes import OutcomeKind
from addons.sms_router.engine.transport import (
    CONNECT_TIMEOUT_CAP,
    DEFAULT_TIMEOUT,
    HttpClient,
    HttpReply,
    TransportFailure,
    classify_status,
    parse_retry_after,
)

BASE = 'https://sms.example.test/api'


def failure_of(client, method='POST', path='/send', **kwargs):
    with pytest.raises(TransportFailure) as caught:
        client.request(method, path, **kwargs)
    return caught.value


# ------------------------------------------------------------------ replies

@responses.activate
def test_request_returns_the_reply():
    responses.add(responses.POST, f'{BASE}/v1/sms', json={'id': 'abc'}, status=201,
                  headers={'X-Request-Id': 'r-1'})
    client = HttpClient(BASE + '/')
    reply = client.request('POST', '/v1/sms', json={'to': '+33612345678'})
    assert isinstance(reply, HttpReply)
    assert reply.status == 201 and reply.ok
    assert reply.json() == {'id': 'abc'}
    assert reply.header('x-request-id') == 'r-1'
    assert reply.header('X-REQUEST-ID') == 'r-1'
    assert reply.header('Retry-After') is None
    assert reply.header('Retry-After', '0') == '0'
    call = responses.calls[0]
    assert call.request.url == f'{BASE}/v1/sms'
    assert call.request.body == b'{"to": "+33612345678"}'
    assert call.request.req_kwargs['timeout'] == (CONNECT_TIMEOUT_CAP, DEFAULT_TIMEOUT)


@responses.activate
def test_absolute_url_and_explicit_timeout():
    responses.add(responses.GET, 'https://other.example.test/balance', body='12.5', status=200)
    client = HttpClient(BASE, timeout=3)
    reply = client.request('GET', 'https://other.example.test/balance', timeout=1.5)
    assert reply.text == '12.5' and reply.json() == 12.5
    assert responses.calls[0].request.req_kwargs['timeout'] == 1.5


@responses.activate
def test_connect_timeout_is_capped():
    responses.add(responses.GET, f'{BASE}/x', body='')
    HttpClient(BASE, timeout=30).request('GET', 'x')
    HttpClient(BASE, timeout=2).request('GET', 'x')
    timeouts = [c.request.req_kwargs['timeout'] for c in responses.calls]
    assert timeouts == [(CONNECT_TIMEOUT_CAP, 30.0), (2.0, 2.0)]


def test_url_joining():
    assert HttpClient('https://a.test/').url('/v1/sms') == 'https://a.test/v1/sms'
    assert HttpClient('https://a.test/root').url('v1') == 'https://a.test/root/v1'
    assert HttpClient(None).base_url == ''
    assert HttpClient('https://a.test', timeout=None).timeout == DEFAULT_TIMEOUT


@responses.activate
@pytest.mark.parametrize('status, ok', [(200, True), (204, True), (299, True), (199, False),
                                        (300, False), (400, False), (429, False), (503, False)])
def test_reply_ok(status, ok):
    responses.add(responses.POST, f'{BASE}/send', body='', status=status)
    reply = HttpClient(BASE).request('POST', '/send')
    assert reply.status == status and reply.ok is ok


@pytest.mark.parametrize('text, expected', [
    ('{"a": [1, 2]}', {'a': [1, 2]}),
    ('[]', []),
    ('', None),
    ('<html>502 Bad Gateway</html>', None),
    ('{"truncated": ', None),
    ('OK', None),
])
def test_reply_json_never_raises(text, expected):
    assert HttpReply(200, {}, text).json() == expected


# ------------------------------------------------------------- classification

def _retries_exhausted(reason):
    """The shape requests gives a failed connection: its error wraps urllib3's MaxRetryError."""
    return urllib3.exceptions.MaxRetryError(None, '/send', reason)


@responses.activate
@pytest.mark.parametrize('error, kind, words', [
    (requests.exceptions.ReadTimeout('read timed out'), OutcomeKind.AMBIGUOUS, 'no answer within 10 s'),
    (requests.exceptions.ConnectTimeout('connect timed out'), OutcomeKind.PROVIDER, 'nothing was sent'),
    (requests.exceptions.ConnectionError(_retries_exhausted(
        urllib3.exceptions.NewConnectionError(None, 'refused'))), OutcomeKind.PROVIDER, 'refused'),
    (requests.exceptions.ConnectionError(_retries_exhausted(
        ConnectionRefusedError(111, 'refused'))), OutcomeKind.PROVIDER, 'refused'),
    (requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        'Connection aborted.', ConnectionResetError(104, 'reset'))),
     OutcomeKind.AMBIGUOUS, 'connection lost'),
    # A TLS error while reading the answer: the request may have been handled.
    (requests.exceptions.SSLError(_retries_exhausted(
        urllib3.exceptions.SSLError(ssl.SSLError(1, 'bad record mac')))),
     OutcomeKind.AMBIGUOUS, 'connection lost'),
    (requests.exceptions.SSLError(_retries_exhausted(urllib3.exceptions.SSLError(
        ssl.SSLCertVerificationError(1, 'certificate verify failed')))),
     OutcomeKind.PROVIDER, 'certificate'),
    (requests.exceptions.TooManyRedirects('30 redirects'), OutcomeKind.PROVIDER, 'TooManyRedirects'),
    (requests.exceptions.ChunkedEncodingError('broken body'),
     OutcomeKind.PROVIDER, 'ChunkedEncodingError'),
])
def test_failure_classification(error, kind, words):
    responses.add(responses.POST, f'{BASE}/send', body=error)
    failure = failure_of(HttpClient(BASE))
    assert failure.kind is kind
    assert words in failure.reason
    assert str(failure) == failure.reason


def test_refused_connection_is_a_clean_provider_failure():
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(('127.0.0.1', 9)) == 0:
            pytest.skip('something listens on 127.0.0.1:9')
    client = HttpClient('http://127.0.0.1:9', timeout=2)
    failure = failure_of(client)
    assert failure.kind is OutcomeKind.PROVIDER
    assert 'refused' in failure.reason


@pytest.fixture
def server():
    """A loopback HTTP server whose handler each test sets; counts the requests it read."""
    state = {'handler': None, 'requests': 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            state['requests'] += 1
            self.rfile.read(int(self.headers.get('Content-Length') or 0))
            state['handler'](self)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.02},
                              daemon=True)
    thread.start()
    state['url'] = f'http://127.0.0.1:{httpd.server_address[1]}'
    state['httpd'] = httpd
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_real_read_timeout_is_ambiguous(server):
    release = threading.Event()
    server['handler'] = lambda handler: release.wait(5)
    try:
        failure = failure_of(HttpClient(server['url'], timeout=0.2), json={'to': '+33612345678'})
    finally:
        release.set()
    assert failure.kind is OutcomeKind.AMBIGUOUS
    assert failure.reason == 'no answer within 0.2 s after the request was sent'
    assert server['requests'] == 1


def test_connection_dropped_after_the_request_is_ambiguous_and_not_retried(server):
    def drop(handler):
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    server['handler'] = drop
    failure = failure_of(HttpClient(server['url'], timeout=2), json={'to': '+33612345678'})
    assert failure.kind is OutcomeKind.AMBIGUOUS
    # No silent retry: a second POST could send the SMS twice.
    assert server['requests'] == 1


def test_real_answer_through_the_pooled_session(server):
    def answer(handler):
        body = b'{"status": "queued"}'
        handler.send_response(202)
        handler.send_header('Content-Type', 'application/json')
        handler.send_header('Retry-After', '3')
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server['handler'] = answer
    client = HttpClient(server['url'], timeout=2)
    replies = [client.request('POST', '/send', json={}) for _ in range(3)]
    client.close()
    assert [r.status for r in replies] == [202] * 3
    assert replies[0].json() == {'status': 'queued'}
    assert parse_retry_after(replies[0].header('retry-after')) == 3.0
    assert server['requests'] == 3


def test_session_never_retries():
    client = HttpClient(BASE)
    for scheme in ('https://', 'http://'):
        adapter = client.session.get_adapter(scheme + 'sms.example.test')
        assert adapter.max_retries.total == 0
    given = requests.Session()
    assert HttpClient(BASE, session=given).session is given


def _self_signed_certificate(tmp_path):
    x509 = pytest.importorskip('cryptography.x509')
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')])
    now = dt.datetime.now(dt.timezone.utc)
    day = dt.timedelta(days=1)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - day).not_valid_after(now + day)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_untrusted_certificate_is_a_clean_provider_failure(server, tmp_path):
    cert_file, key_file = _self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd = server['httpd']
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    server['handler'] = lambda handler: handler.send_response(200)
    client = HttpClient(server['url'].replace('http://', 'https://'), timeout=2)
    failure = failure_of(client, json={'to': '+33612345678'})
    # The handshake failed: the provider never saw the request, failing over is safe.
    assert failure.kind is OutcomeKind.PROVIDER
    assert 'certificate' in failure.reason
    assert server['requests'] == 0


# ------------------------------------------------------------------ Retry-After

NOW = 784111777.0   # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize('value, expected', [
    ('120', 120.0),
    (' 7 ', 7.0),
    ('0', 0.0),
    (None, None),
    ('', None),
    ('   ', None),
    ('soon', None),
    ('-5', None),
    ('1.5', None),
    ('\u00b2', None),              # a latin-1 byte that str.isdigit() accepts
    ('Sun, 06 Nov 1994 08:49:47 GMT', 10.0),
    ('Sun, 06 Nov 1994 08:51:37 GMT', 120.0),
    ('Sun, 06 Nov 1994 08:49:37 GMT', 0.0),
    ('Sun, 06 Nov 1994 08:40:00 GMT', 0.0),   # in the past
    ('Sun, 06 Nov 1994 09:49:47 +0100', 10.0),
    ('Sunday, 06-Nov-94 08:49:47 GMT', 10.0),
    ('Sun Nov  6 08:49:47 1994', 10.0),
    ('Sun, 32 Nov 1994 08:49:47 GMT', None),
])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_zoneless_dates_are_gmt_whatever_the_local_zone(monkeypatch):
    if not hasattr(time, 'tzset'):
        pytest.skip('no tzset on this platform')
    monkeypatch.setenv('TZ', 'America/New_York')
    time.tzset()
    try:
        assert parse_retry_after('Sun Nov  6 08:49:47 1994', now=NOW) == 10.0
        assert parse_retry_after('Sun, 06 Nov 1994 08:49:47 -0000', now=NOW) == 10.0
    finally:
        monkeypatch.undo()
        time.tzset()


def test_parse_retry_after_defaults_to_the_current_time():
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)
    in_a_minute = email.utils.format_datetime(moment, usegmt=True)
    assert 55 <= parse_retry_after(in_a_minute) <= 61


# ------------------------------------------------------------------ statuses

@pytest.mark.parametrize('status, kind', [
    (401, OutcomeKind.ACCOUNT), (403, OutcomeKind.ACCOUNT), (402, OutcomeKind.ACCOUNT),
    (400, OutcomeKind.ACCOUNT), (404, OutcomeKind.ACCOUNT), (422, OutcomeKind.ACCOUNT),
    (429, OutcomeKind.PROVIDER), (500, OutcomeKind.PROVIDER), (502, OutcomeKind.PROVIDER), (503, OutcomeKind.PROVIDER),
    (504, OutcomeKind.PROVIDER), (599, OutcomeKind.PROVIDER),
])
def test_classify_status(status, kind):
    assert classify_status(status) is kind


def test_max_send_seconds_counts_connect_and_read_of_every_exchange():
    from addons.sms_router.engine.transport import CONNECT_TIMEOUT_CAP, HttpClient

    client = HttpClient('http://127.0.0.1:1', timeout=10)
    assert client.max_send_seconds() == CONNECT_TIMEOUT_CAP + 10
    client.exchanges_per_send = 3
    assert client.max_send_seconds() == 3 * (CONNECT_TIMEOUT_CAP + 10)
    assert HttpClient('http://127.0.0.1:1', timeout=2).max_send_seconds() == 4
