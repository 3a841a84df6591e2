"""The provider sandbox speaks each provider's send API and injects failures on demand.

Real HTTP on 127.0.0.1 with ``requests``: what the provider clients and the drills rely on.
"""
import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from sandbox.server import (  # noqa: E402
    OVH_APP_KEY,
    OVH_APP_SECRET,
    OVH_CONSUMER_KEY,
    OVH_SERVICE,
    SWEEGO_API_KEY,
    SWEEGO_WEBHOOK_SECRET,
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    Sandbox,
    normalize_number,
    ovh_signature,
    sms_parts,
    sweego_signature,
    twilio_signature,
)

from addons.sms_router.engine.outcomes import OutcomeKind  # noqa: E402
from addons.sms_router.engine.transport import HttpClient, TransportFailure  # noqa: E402

GOOD = '+33612345678'
GOOD_2 = '+33612345679'
INVALID = '+33612340000'   # the default invalid rule: ends with 0000


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope='module')
def sandbox():
    with Sandbox('127.0.0.1', 0, dedicated_ports=True) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(sandbox):
    sandbox.reset()
    yield
    sandbox.reset()


class Receiver:
    """A local endpoint that records the callbacks it receives."""

    def __init__(self):
        self.received = []
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                with receiver.condition:
                    receiver.received.append({'path': self.path, 'headers': dict(self.headers),
                                              'body': body})
                    receiver.condition.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'
        threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05},
                         daemon=True).start()

    def wait_for(self, count, timeout=5.0):
        with self.condition:
            self.condition.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


# --------------------------------------------------------------------------- helpers

def sweego_send(sandbox, recipients, text='Hello', key=SWEEGO_API_KEY, timeout=5, endpoint=None,
                **extra):
    payload = {'channel': 'sms', 'provider': 'sweego', 'campaign-type': 'transac',
               'recipients': recipients, 'message-txt': text}
    payload.update(extra)
    endpoint = endpoint or sandbox.endpoint('sweego')
    return requests.post(f'{endpoint}/send', json=payload, timeout=timeout,
                         headers={'Api-Key': key} if key else {})


def twilio_send(sandbox, to=GOOD, body='Hello', auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN),
                timeout=5, endpoint=None, **extra):
    data = {'To': to, 'From': '+15005550006', 'Body': body}
    data.update(extra)
    data = {k: v for k, v in data.items() if v is not None}
    endpoint = endpoint or sandbox.endpoint('twilio')
    return requests.post(f'{endpoint}/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json',
                         data=data, auth=auth, timeout=timeout)


def ovh_call(sandbox, method, path, payload=None, secret=OVH_APP_SECRET, timestamp=None,
             timeout=5, endpoint=None):
    endpoint = endpoint or sandbox.endpoint('ovh')
    url = f'{endpoint}{path}'
    body = json.dumps(payload) if payload is not None else ''
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        'X-Ovh-Application': OVH_APP_KEY, 'X-Ovh-Consumer': OVH_CONSUMER_KEY,
        'X-Ovh-Timestamp': str(timestamp),
        'X-Ovh-Signature': ovh_signature(secret, OVH_CONSUMER_KEY, method, url, body, timestamp),
        'Content-Type': 'application/json',
    }
    return requests.request(method, url, data=body.encode() or None, headers=headers,
                            timeout=timeout)


def ovh_send(sandbox, receivers=(GOOD,), message='Hello', **kwargs):
    return ovh_call(sandbox, 'POST', f'/sms/{OVH_SERVICE}/jobs',
                    {'message': message, 'receivers': list(receivers), 'sender': 'SANDBOX',
                     'noStopClause': True}, **kwargs)


def send(sandbox, provider, timeout=5, **kwargs):
    """One valid send request to ``provider``."""
    if provider == 'sweego':
        return sweego_send(sandbox, [{'num': GOOD, 'region': 'FR'}], timeout=timeout, **kwargs)
    if provider == 'twilio':
        return twilio_send(sandbox, timeout=timeout, **kwargs)
    return ovh_send(sandbox, timeout=timeout, **kwargs)


# --------------------------------------------------------------------------- helpers of the module

def test_numbers_and_parts():
    assert normalize_number('+33 6 12 34 56 78') == '33612345678'
    assert normalize_number('0033612345678') == '33612345678'
    assert normalize_number('06 12 34 56 78', 'FR') == '33612345678'
    assert normalize_number('0612345678') is None
    assert normalize_number('+33abc') is None
    assert sms_parts('a' * 160) == 1
    assert sms_parts('a' * 161) == 2
    assert sms_parts('€' * 80) == 1          # extension characters count twice
    assert sms_parts('€' * 81) == 2
    assert sms_parts('é' * 160) == 1          # é is in the GSM-7 basic set
    assert sms_parts('ê' * 70) == 1           # ê is not: UCS-2
    assert sms_parts('ê' * 71) == 2


def test_importable_from_repository_root():
    root = str(TESTS.parent)
    code = 'from tests.sandbox.server import Sandbox; print(Sandbox.__name__)'
    result = subprocess.run([sys.executable, '-c', code], cwd=root, capture_output=True,
                            text=True, timeout=30)
    assert result.stdout.strip() == 'Sandbox', result.stderr


# --------------------------------------------------------------------------- Sweego

def test_sweego_send(sandbox):
    reply = sweego_send(sandbox, [{'num': '06 12 34 56 78', 'region': 'FR'}, {'num': GOOD_2}])
    assert reply.status_code == 200
    data = reply.json()
    assert uuid.UUID(data['transaction_id']).version == 4
    assert set(data['swg_uids']) == {'0033612345678', '0033612345679'}
    assert data['credit_left'] == '9999.90'        # 2 recipients x 1 part x 0.05
    assert (data['channel'], data['provider']) == ('sms', 'sweego')
    counters = sandbox.counters('sweego')
    assert (counters['sends'], counters['recipients_accepted'], counters['parts']) == (1, 2, 2)
    assert counters['by_status'] == {'200': 1}


def test_sweego_credit_counts_parts(sandbox):
    reply = sweego_send(sandbox, [{'num': GOOD}, {'num': GOOD_2}], text='x' * 161)
    assert reply.json()['credit_left'] == '9999.80'  # 2 recipients x 2 parts x 0.05


def test_sweego_refuses_bad_key(sandbox):
    assert sweego_send(sandbox, [{'num': GOOD}], key='wrong').status_code == 401
    assert sweego_send(sandbox, [{'num': GOOD}], key=None).status_code == 401
    assert sandbox.counters('sweego')['recipients_accepted'] == 0


def test_sweego_invalid_recipients(sandbox):
    reply = sweego_send(sandbox, [{'num': GOOD}, {'num': INVALID}])
    assert reply.status_code == 422
    detail = reply.json()['detail']
    assert [error['loc'] for error in detail] == [['body', 'recipients', 1, 'num']]
    assert detail[0]['msg'] and detail[0]['type']
    counters = sandbox.counters('sweego')
    assert (counters['recipients_accepted'], counters['recipients_rejected']) == (0, 1)
    sandbox.configure('sweego', invalid_numbers=[GOOD_2], invalid_suffix='')
    assert sweego_send(sandbox, [{'num': INVALID}]).status_code == 200
    assert sweego_send(sandbox, [{'num': '0033612345679'}]).status_code == 422


def test_sweego_validates_payload(sandbox):
    reply = requests.post(f'{sandbox.endpoint("sweego")}/send', headers={'Api-Key': SWEEGO_API_KEY},
                          json={'channel': 'email', 'provider': 'sweego', 'recipients': [],
                                'message-txt': 'x'}, timeout=5)
    assert reply.status_code == 422
    locs = [error['loc'] for error in reply.json()['detail']]
    assert ['body', 'channel'] in locs and ['body', 'campaign-type'] in locs
    assert ['body', 'recipients'] in locs


def test_sweego_credits(sandbox):
    url = f'{sandbox.endpoint("sweego")}/clients/{uuid.uuid4()}/billing/credits/sms'
    reply = requests.get(url, headers={'Api-Key': SWEEGO_API_KEY}, timeout=5)
    assert reply.status_code == 200
    data = reply.json()
    assert data['type'] == 'sms' and data['amount'] == 10000.0 and data['termination_date']
    bad = requests.get(f'{sandbox.endpoint("sweego")}/clients/nope/billing/credits/sms',
                       headers={'Api-Key': SWEEGO_API_KEY}, timeout=5)
    assert bad.status_code == 404
    assert requests.get(url, timeout=5).status_code == 401


def test_sweego_webhooks_are_signed(sandbox, receiver):
    sandbox.configure('sweego', webhook_url=f'{receiver.url}/sweego/hook', callback_delay_ms=20,
                      undelivered_numbers=[GOOD_2], unsubscribed_numbers=['+33612345677'])
    reply = sweego_send(sandbox, [{'num': GOOD}, {'num': GOOD_2}, {'num': '+33612345677'}])
    assert reply.status_code == 200
    uids = reply.json()['swg_uids']
    calls = receiver.wait_for(5)
    assert len(calls) == 5
    events = []
    for call in calls:
        headers = {k.lower(): v for k, v in call['headers'].items()}
        expected = sweego_signature(SWEEGO_WEBHOOK_SECRET, headers['webhook-id'],
                                    headers['webhook-timestamp'], call['body'])
        assert headers['webhook-signature'] == expected
        assert abs(int(headers['webhook-timestamp']) - time.time()) < 60
        event = json.loads(call['body'])
        assert event['event_id'] == headers['webhook-id']
        assert event['transaction_id'] == reply.json()['transaction_id']
        assert uids[event['phone_number']] == event['swg_uid']
        events.append((event['phone_number'], event['event_type']))
    assert sorted(events) == sorted([
        ('0033612345678', 'sms_sent'), ('0033612345679', 'sms_sent'),
        ('0033612345679', 'sms_undelivered'), ('0033612345677', 'sms_sent'),
        ('0033612345677', 'sms_stop'),
    ])
    # Each recipient's events arrive in order.
    assert events.index(('0033612345679', 'sms_sent')) < \
        events.index(('0033612345679', 'sms_undelivered'))
    assert sandbox.wait_callbacks(2)
    assert sandbox.counters('sweego')['callbacks']['sent'] == 5


def test_sweego_webhook_must_be_local(sandbox):
    with pytest.raises(ValueError):
        sandbox.configure('sweego', webhook_url='http://example.com/hook')


# --------------------------------------------------------------------------- Twilio

def test_twilio_send(sandbox):
    reply = twilio_send(sandbox)
    assert reply.status_code == 201
    data = reply.json()
    assert data['sid'].startswith('SM') and len(data['sid']) == 34
    int(data['sid'][2:], 16)
    assert (data['status'], data['to'], data['body']) == ('queued', GOOD, 'Hello')
    assert data['from'] == '+15005550006'
    assert data['account_sid'] == TWILIO_ACCOUNT_SID
    # API key pair and Messaging Service
    service = 'MG' + 'a' * 32
    reply = twilio_send(sandbox, auth=(TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET), From=None,
                        MessagingServiceSid=service)
    assert reply.status_code == 201
    assert reply.json()['status'] == 'accepted'
    assert sandbox.counters('twilio')['recipients_accepted'] == 2


def test_twilio_refuses_bad_auth(sandbox):
    reply = twilio_send(sandbox, auth=(TWILIO_ACCOUNT_SID, 'wrong'))
    assert reply.status_code == 401
    assert reply.json() == {'code': 20003, 'message': 'Authenticate',
                            'more_info': 'https://www.twilio.com/docs/errors/20003', 'status': 401}
    assert twilio_send(sandbox, auth=None).status_code == 401


@pytest.mark.parametrize('to, code', [
    (INVALID, 21211), ('0612345678', 21211), ('+33612345677', 21610),
])
def test_twilio_recipient_errors(sandbox, to, code):
    sandbox.configure('twilio', unsubscribed_numbers=['+33612345677'])
    reply = twilio_send(sandbox, to=to)
    assert reply.status_code == 400
    data = reply.json()
    assert data['code'] == code and data['status'] == 400 and str(code) in data['more_info']


def test_twilio_validates_form(sandbox):
    assert twilio_send(sandbox, body=None).json()['code'] == 21602
    assert twilio_send(sandbox, From=None).json()['code'] == 21603
    assert twilio_send(sandbox, to=None).json()['code'] == 21604
    assert twilio_send(sandbox, body='x' * 1601).json()['code'] == 21617


def test_twilio_status_callbacks_are_signed(sandbox, receiver):
    sandbox.configure('twilio', callback_delay_ms=20, undelivered_numbers=[GOOD_2])
    url = f'{receiver.url}/sms/twilio/status?token=abc'
    first = twilio_send(sandbox, to=GOOD, StatusCallback=url).json()['sid']
    second = twilio_send(sandbox, to=GOOD_2, StatusCallback=url).json()['sid']
    calls = receiver.wait_for(4)
    assert len(calls) == 4
    statuses = {first: [], second: []}
    for call in calls:
        params = dict(pair.split('=', 1) for pair in call['body'].decode().split('&'))
        params = {k: requests.utils.unquote(v.replace('+', ' ')) for k, v in params.items()}
        signature = {k.lower(): v for k, v in call['headers'].items()}['x-twilio-signature']
        assert signature == twilio_signature(TWILIO_AUTH_TOKEN, url, params)
        assert call['path'] == '/sms/twilio/status?token=abc'
        assert params['AccountSid'] == TWILIO_ACCOUNT_SID and params['From'] == '+15005550006'
        statuses[params['MessageSid']].append((params['MessageStatus'], params.get('ErrorCode')))
    assert statuses[first] == [('sent', None), ('delivered', None)]
    assert statuses[second] == [('sent', None), ('undelivered', '30003')]
    # The message resource follows the same lifecycle.
    account = f'{sandbox.endpoint("twilio")}/Accounts/{TWILIO_ACCOUNT_SID}'
    reply = requests.get(f'{account}/Messages/{second}.json',
                         auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), timeout=5)
    assert reply.status_code == 200
    assert (reply.json()['status'], reply.json()['error_code']) == ('undelivered', 30003)


def test_twilio_callback_only_to_local_hosts(sandbox):
    sandbox.configure('twilio', callback_delay_ms=0)
    assert twilio_send(sandbox, StatusCallback='http://example.com/status').status_code == 201
    assert sandbox.counters('twilio')['callbacks']['skipped'] == 1


def test_twilio_account_and_numbers(sandbox):
    auth = (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    base = f'{sandbox.endpoint("twilio")}/Accounts/{TWILIO_ACCOUNT_SID}'
    account = requests.get(f'{base}.json', auth=auth, timeout=5)
    assert account.status_code == 200 and account.json()['status'] == 'active'
    numbers = requests.get(f'{base}/IncomingPhoneNumbers.json', auth=auth, timeout=5).json()
    assert [n['phone_number'] for n in numbers['incoming_phone_numbers']] == ['+15005550006']
    assert numbers['incoming_phone_numbers'][0]['capabilities']['sms'] is True
    unknown = requests.get(f'{base}/Messages/SM{"0" * 32}.json', auth=auth, timeout=5)
    assert unknown.status_code == 404 and unknown.json()['code'] == 20404


# --------------------------------------------------------------------------- OVH

def test_ovh_time_and_send(sandbox):
    server_time = requests.get(f'{sandbox.endpoint("ovh")}/auth/time', timeout=5)
    assert server_time.status_code == 200
    assert isinstance(server_time.json(), int) and abs(server_time.json() - time.time()) < 5
    assert server_time.headers['X-OVH-QUERYID']
    reply = ovh_send(sandbox, receivers=[GOOD, INVALID, '0033612345679'], message='x' * 161)
    assert reply.status_code == 200
    data = reply.json()
    assert data['validReceivers'] == [GOOD, '0033612345679']
    assert data['invalidReceivers'] == [INVALID]
    assert len(data['ids']) == 2 and all(isinstance(i, int) for i in data['ids'])
    assert data['totalCreditsRemoved'] == 4      # 2 receivers x 2 parts
    assert reply.headers['X-OVH-QUERYID']
    account = ovh_call(sandbox, 'GET', f'/sms/{OVH_SERVICE}').json()
    assert account['creditsLeft'] == 100000 - 4
    assert ovh_call(sandbox, 'GET', '/sms').json() == [OVH_SERVICE]
    outgoing = ovh_call(sandbox, 'GET', f'/sms/{OVH_SERVICE}/outgoing/{data["ids"][0]}')
    assert outgoing.status_code == 200 and outgoing.json()['receiver'] == GOOD
    counters = sandbox.counters('ovh')
    assert (counters['recipients_accepted'], counters['recipients_rejected']) == (2, 1)


def test_ovh_all_receivers_invalid_sends_nothing(sandbox):
    data = ovh_send(sandbox, receivers=[INVALID, '0612345678']).json()
    assert data['ids'] == [] and data['validReceivers'] == [] and data['totalCreditsRemoved'] == 0
    assert len(data['invalidReceivers']) == 2


def test_ovh_refuses_bad_signature(sandbox):
    reply = ovh_send(sandbox, secret='wrong-secret')
    assert reply.status_code == 403
    assert reply.json()['errorCode'] == 'INVALID_SIGNATURE'
    assert reply.json()['class'] and reply.json()['message']
    assert reply.headers['X-OVH-QUERYID']
    late = ovh_send(sandbox, timestamp=int(time.time()) - 3600)
    assert late.status_code == 400 and late.json()['errorCode'] == 'QUERY_TIME_OUT'
    anonymous = requests.get(f'{sandbox.endpoint("ovh")}/sms', timeout=5)
    assert anonymous.status_code == 403 and anonymous.json()['errorCode'] == 'INVALID_KEY'
    assert sandbox.counters('ovh')['recipients_accepted'] == 0


def test_ovh_clock_offset(sandbox):
    sandbox.configure('ovh', clock_offset_s=-7200)
    server_time = requests.get(f'{sandbox.endpoint("ovh")}/auth/time', timeout=5).json()
    assert abs(server_time - (time.time() - 7200)) < 5
    assert ovh_send(sandbox).status_code == 400                       # local clock: out of time
    assert ovh_send(sandbox, timestamp=server_time).status_code == 200  # server clock: fine


def test_ovh_unknown_service(sandbox):
    reply = ovh_call(sandbox, 'POST', '/sms/sms-nope-1/jobs', {'message': 'x', 'receivers': [GOOD]})
    assert reply.status_code == 404
    assert reply.json()['class'] == 'Client::NotFound'
    assert reply.headers['X-OVH-QUERYID']


def test_ovh_shared_port_signature(sandbox):
    shared = sandbox.endpoint('ovh', dedicated=False)
    assert ovh_send(sandbox, endpoint=shared).status_code == 200


def test_official_ovh_library_signs_what_the_sandbox_checks(sandbox, monkeypatch):
    ovh = pytest.importorskip('ovh')
    monkeypatch.setitem(ovh.client.ENDPOINTS, 'sandbox', sandbox.endpoint('ovh'))
    client = ovh.Client(endpoint='sandbox', application_key=OVH_APP_KEY,
                        application_secret=OVH_APP_SECRET, consumer_key=OVH_CONSUMER_KEY)
    assert client.get('/sms') == [OVH_SERVICE]
    result = client.post(f'/sms/{OVH_SERVICE}/jobs', message='Hello', receivers=[GOOD, INVALID],
                         sender='SANDBOX', noStopClause=True)
    assert (result['validReceivers'], result['invalidReceivers']) == ([GOOD], [INVALID])


# --------------------------------------------------------------------------- faults

PROVIDER_NAMES = ('sweego', 'twilio', 'ovh')


@pytest.mark.parametrize('provider', PROVIDER_NAMES)
def test_refuse_on_shared_port_aborts(sandbox, provider):
    sandbox.set_mode(provider, 'refuse')
    with pytest.raises(requests.ConnectionError):
        send(sandbox, provider, endpoint=sandbox.endpoint(provider, dedicated=False))
    counters = sandbox.counters(provider)
    assert counters['faults'] == {'refuse': 1} and counters['by_status'] == {'no_answer': 1}
    assert counters['recipients_accepted'] == 0


@pytest.mark.parametrize('provider', PROVIDER_NAMES)
def test_refuse_on_dedicated_port_is_econnrefused(sandbox, provider):
    sandbox.set_mode(provider, 'refuse')
    with pytest.raises(requests.ConnectionError) as caught:
        send(sandbox, provider)
    assert 'NewConnectionError' in repr(caught.value) or 'refused' in repr(caught.value).lower()
    assert sandbox.counters(provider)['requests'] == 0     # nothing reached the provider
    assert sandbox.state()['providers'][provider]['listening'] is False
    sandbox.set_mode(provider, 'ok')
    assert send(sandbox, provider).status_code in (200, 201)


def test_refuse_as_our_transport_sees_it(sandbox):
    sandbox.set_mode('twilio', 'refuse')
    dedicated = HttpClient(sandbox.endpoint('twilio'), timeout=2)
    shared = HttpClient(sandbox.endpoint('twilio', dedicated=False), timeout=2)
    path = f'/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json'
    with pytest.raises(TransportFailure) as caught:
        dedicated.request('POST', path, data={'To': GOOD})
    assert caught.value.kind is OutcomeKind.PROVIDER          # never connected: clean failover
    with pytest.raises(TransportFailure) as caught:
        shared.request('POST', path, data={'To': GOOD})
    assert caught.value.kind is OutcomeKind.AMBIGUOUS         # connection dropped after the request


@pytest.mark.parametrize('provider', PROVIDER_NAMES)
def test_hang_until_client_gives_up(sandbox, provider):
    sandbox.set_mode(provider, 'hang', hang_max_s=5)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        send(sandbox, provider, timeout=(2, 0.3))
    assert time.monotonic() - started < 2
    assert sandbox.counters(provider)['faults'] == {'hang': 1}


def test_hang_is_bounded(sandbox):
    sandbox.set_mode('sweego', 'hang', hang_max_s=0.2)
    with pytest.raises(requests.ConnectionError):
        send(sandbox, 'sweego', timeout=(2, 3))   # the sandbox gives up first and closes


@pytest.mark.parametrize('provider', PROVIDER_NAMES)
@pytest.mark.parametrize('mode, status', [('http500', 500), ('http503', 503)])
def test_server_errors(sandbox, provider, mode, status):
    sandbox.set_mode(provider, mode)
    reply = send(sandbox, provider)
    assert reply.status_code == status
    assert sandbox.counters(provider)['by_status'] == {str(status): 1}
    assert sandbox.counters(provider)['recipients_accepted'] == 0
    if provider == 'twilio':
        assert reply.json()['status'] == status
    if provider == 'ovh':
        assert reply.json()['class'].startswith('Server::') and reply.headers['X-OVH-QUERYID']


@pytest.mark.parametrize('provider', PROVIDER_NAMES)
def test_rate_limit_with_retry_after(sandbox, provider):
    sandbox.set_mode(provider, 'http429', retry_after=17)
    reply = send(sandbox, provider)
    assert reply.status_code == 429 and reply.headers['Retry-After'] == '17'
    if provider == 'twilio':
        assert reply.json()['code'] == 20429
    sandbox.set_mode(provider, 'http429', retry_after=None)   # settings persist until changed
    assert send(sandbox, provider).headers['Retry-After'] == '1'


@pytest.mark.parametrize('provider', PROVIDER_NAMES)
def test_broken_json(sandbox, provider):
    sandbox.set_mode(provider, 'broken_json')
    reply = send(sandbox, provider)
    assert reply.status_code in (200, 201)
    assert reply.headers['Content-Type'] == 'application/json'
    with pytest.raises(ValueError):
        reply.json()


@pytest.mark.parametrize('provider, status', [('sweego', 402), ('twilio', 401), ('ovh', 403)])
def test_no_credit(sandbox, provider, status):
    sandbox.set_mode(provider, 'no_credit')
    reply = send(sandbox, provider)
    assert reply.status_code == status
    assert 'credit' in reply.text.lower() or reply.json().get('code') == 20005
    assert sandbox.counters(provider)['recipients_accepted'] == 0


def test_credit_runs_out(sandbox):
    sandbox.configure('sweego', credit='0.07')
    assert sweego_send(sandbox, [{'num': GOOD}]).json()['credit_left'] == '0.02'
    assert sweego_send(sandbox, [{'num': GOOD}]).status_code == 402


@pytest.mark.parametrize('provider', PROVIDER_NAMES)
def test_invalid_recipients_mode(sandbox, provider):
    sandbox.set_mode(provider, 'invalid_recipients')
    reply = send(sandbox, provider)
    if provider == 'sweego':
        assert reply.status_code == 422
    elif provider == 'twilio':
        assert reply.json()['code'] == 21211
    else:
        assert reply.status_code == 200 and reply.json()['invalidReceivers'] == [GOOD]
    assert sandbox.counters(provider)['recipients_rejected'] == 1


def test_custom_answer(sandbox):
    sandbox.set_mode('twilio', 'custom', custom_status=400,
                     custom_body={'code': 21612, 'message': 'not routable', 'status': 400})
    reply = send(sandbox, 'twilio')
    assert reply.status_code == 400 and reply.json()['code'] == 21612


def test_fault_count_then_recovers(sandbox):
    sandbox.set_mode('sweego', 'http503', fault_count=2)
    assert [send(sandbox, 'sweego').status_code for _ in range(3)] == [503, 503, 200]
    assert sandbox.state()['providers']['sweego']['config']['mode'] == 'ok'


def test_fault_scope_send_only(sandbox):
    sandbox.set_mode('ovh', 'http500', fault_scope='send')
    assert ovh_call(sandbox, 'GET', f'/sms/{OVH_SERVICE}').status_code == 200
    assert send(sandbox, 'ovh').status_code == 500


def test_latency(sandbox):
    sandbox.configure('twilio', latency_ms=200)
    started = time.monotonic()
    assert send(sandbox, 'twilio').status_code == 201
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    assert send(sandbox, 'sweego').status_code == 200
    assert time.monotonic() - started < 0.2


def test_other_providers_unaffected(sandbox):
    sandbox.set_mode('sweego', 'refuse')
    assert send(sandbox, 'twilio').status_code == 201
    assert send(sandbox, 'ovh').status_code == 200
    assert sandbox.counters('sweego')['requests'] == 0


# --------------------------------------------------------------------------- counters, control API

def test_counters_and_reset(sandbox):
    send(sandbox, 'sweego')
    sweego_send(sandbox, [{'num': INVALID}])
    sweego_send(sandbox, [{'num': GOOD}], key='wrong')
    counters = sandbox.counters('sweego')
    assert (counters['requests'], counters['sends']) == (3, 3)
    assert (counters['recipients_accepted'], counters['recipients_rejected']) == (1, 1)
    assert counters['by_status'] == {'200': 1, '422': 1, '401': 1}
    sandbox.configure('sweego', latency_ms=1)
    sandbox.reset('sweego', counters_only=True)
    assert sandbox.counters('sweego')['requests'] == 0
    assert sandbox.state()['providers']['sweego']['config']['latency_ms'] == 1


def test_control_api(sandbox):
    control = f'{sandbox.url}/_control'
    reply = requests.post(f'{control}/twilio', json={'mode': 'http503', 'retry_after': 7},
                          timeout=5)
    assert reply.status_code == 200 and reply.json()['config']['mode'] == 'http503'
    answer = send(sandbox, 'twilio')
    assert answer.status_code == 503 and answer.headers['Retry-After'] == '7'
    state = requests.get(control, timeout=5).json()
    assert state['providers']['twilio']['counters']['by_status'] == {'503': 1}
    assert state['providers']['twilio']['config']['mode'] == 'http503'
    assert {'sweego', 'twilio', 'ovh'} <= set(state['providers'])
    assert state['providers']['ovh']['endpoint'] == sandbox.endpoint('ovh')
    reply = requests.post(f'{control}/sweego', json={'invalid_numbers': [GOOD]}, timeout=5)
    assert reply.json()['config']['invalid_numbers'] == ['33612345678']
    assert send(sandbox, 'sweego').status_code == 422
    assert requests.post(f'{control}/reset', json={}, timeout=5).status_code == 200
    state = requests.get(control, timeout=5).json()
    assert state['providers']['twilio']['config']['mode'] == 'ok'
    assert state['providers']['twilio']['counters']['requests'] == 0
    assert send(sandbox, 'twilio').status_code == 201
    assert send(sandbox, 'sweego').status_code == 200


def test_control_api_refuses_bad_settings(sandbox):
    control = f'{sandbox.url}/_control'
    def status(provider, settings):
        return requests.post(f'{control}/{provider}', json=settings, timeout=5).status_code

    assert status('twilio', {'mode': 'explode'}) == 400
    assert status('twilio', {'colour': 'red'}) == 400
    assert status('ovh', {'latency_ms': -1}) == 400
    assert status('nope', {'mode': 'ok'}) == 404
    assert status('sweego', {'webhook_url': 'http://10.1.2.3/hook'}) == 400
    assert requests.get(f'{control}/health', timeout=5).json()['ok'] is True


def test_control_api_refuse_closes_dedicated_port(sandbox):
    control = f'{sandbox.url}/_control'
    requests.post(f'{control}/ovh', json={'mode': 'refuse'}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(f'{sandbox.endpoint("ovh")}/auth/time', timeout=2)
    requests.post(f'{control}/ovh', json={'mode': 'ok'}, timeout=5)
    assert requests.get(f'{sandbox.endpoint("ovh")}/auth/time', timeout=2).status_code == 200


def test_messages_listing(sandbox):
    send(sandbox, 'sweego')
    send(sandbox, 'twilio')
    listed = requests.get(f'{sandbox.url}/_control/messages', params={'provider': 'twilio'},
                          timeout=5).json()
    assert [m['to'] for m in listed] == [GOOD]
    assert len(sandbox.messages()) == 2


# --------------------------------------------------------------------------- command line

def test_command_line(tmp_path):
    state_file = tmp_path / 'state.json'
    script = TESTS / 'sandbox' / 'server.py'
    process = subprocess.Popen(
        [sys.executable, str(script), '--host', '127.0.0.1', '--port', '0', '--port-per-provider',
         '--latency-ms', '5', '--fault', 'ovh=http503', '--state-file', str(state_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        banner = process.stdout.readline()
        expected = 'SMS sandbox listening on http://127.0.0.1:'
        assert banner.startswith(expected), process.stderr.read()
        url = banner.split()[-1]
        endpoints = dict(process.stdout.readline().split() for _ in range(3))
        assert requests.get(f'{url}/_control/health', timeout=5).json()['ok'] is True
        assert requests.get(f'{endpoints["ovh"]}/auth/time', timeout=5).status_code == 503
        key = base64.b64encode(f'{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}'.encode()).decode()
        reply = requests.get(f'{endpoints["twilio"]}/Accounts/{TWILIO_ACCOUNT_SID}.json',
                             headers={'Authorization': f'Basic {key}'}, timeout=5)
        assert reply.status_code == 200
        deadline = time.monotonic() + 5
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        state = json.loads(state_file.read_text())
        assert state['providers']['ovh']['config']['mode'] == 'http503'
        assert state['providers']['ovh']['config']['latency_ms'] == 5
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


# --------------------------------------------------------------------------- rate limit, request log

@pytest.mark.parametrize('provider', ['sweego', 'twilio', 'ovh'])
def test_request_log_records_every_send(sandbox, provider):
    started = time.time()
    assert send(sandbox, provider).status_code in (200, 201)
    sandbox.set_mode(provider, 'http503')
    assert send(sandbox, provider).status_code == 503
    log = sandbox.request_log(provider)
    assert len(log) == 1, 'a request answered by a transport fault is not a send the provider saw'
    entry = log[0]
    assert entry['at'] >= started and entry['provider'] == provider
    assert entry['numbers'] == [GOOD] and entry['recipients'] == 1 and entry['segments'] == 1
    assert entry['account'] and not entry['limited']
    assert entry['traffic'] == {'sweego': 'transactional', 'twilio': '', 'ovh': 'transactional'}[provider]
    assert sandbox.request_log('sweego' if provider != 'sweego' else 'ovh') == []


def test_request_log_counts_segments_itself(sandbox):
    long_text = 'x' * 200                                      # 2 GSM-7 parts
    sweego_send(sandbox, [{'num': GOOD, 'region': 'FR'}, {'num': GOOD_2, 'region': 'FR'}], text=long_text,
                **{'campaign-type': 'market'})
    twilio_send(sandbox, body='é' * 71 + '€')                  # UCS-2 (é is GSM, the rest...) 72 chars
    ovh_call(sandbox, 'POST', f'/sms/{OVH_SERVICE}/jobs', {'message': 'Promo €', 'receivers': [GOOD],
                                                          'sender': 'SANDBOX'})
    by_provider = {entry['provider']: entry for entry in sandbox.request_log()}
    assert by_provider['sweego']['segments'] == 4 and by_provider['sweego']['traffic'] == 'marketing'
    assert by_provider['twilio']['segments'] == 1             # GSM-7: é and € are in it (73 septets)
    assert by_provider['ovh']['segments'] == 1 and by_provider['ovh']['traffic'] == 'marketing'
    assert requests.get(f'{sandbox.url}/_control/requests?provider=ovh', timeout=5).json()[0]['segments'] == 1


def test_rate_limit_answers_429_with_retry_after_past_the_cap(sandbox):
    sandbox.configure('twilio', rate_limit=5)                  # burst: 1 s of rate, 5 segments
    statuses = [twilio_send(sandbox).status_code for _ in range(7)]
    assert statuses[:5] == [201] * 5
    assert statuses[5:] == [429, 429]
    refused = twilio_send(sandbox)
    assert refused.status_code == 429 and refused.headers['Retry-After'] == '1'
    assert refused.json()['code'] == 20429
    log = sandbox.request_log('twilio')
    assert [entry['limited'] for entry in log] == [False] * 5 + [True] * 3
    assert sandbox.counters('twilio')['recipients_accepted'] == 5
    assert sandbox.counters('twilio')['by_status']['429'] == 3
    time.sleep(0.45)                                           # 2 segments refilled
    assert [twilio_send(sandbox).status_code for _ in range(3)] == [201, 201, 429]


def test_rate_limit_counts_segments_per_account(sandbox):
    sandbox.configure('sweego', rate_limit=10, rate_limit_burst=4)
    recipients = [{'num': f'+3361234567{n}', 'region': 'FR'} for n in range(3)]
    assert sweego_send(sandbox, recipients).status_code == 200            # 3 segments
    refused = sweego_send(sandbox, recipients[:2])                         # 2 more: over the burst
    assert refused.status_code == 429 and 'Retry-After' in refused.headers
    # Another API key is another account, with a bucket of its own.
    sandbox.configure('sweego', api_keys=['sandbox-sweego-key', 'second-key'])
    assert sweego_send(sandbox, recipients[:2], key='second-key').status_code == 200
    accounts = {entry['account'] for entry in sandbox.request_log('sweego')}
    assert len(accounts) == 2


def test_rate_limit_off_by_default_and_reset_clears_the_log(sandbox):
    assert all(twilio_send(sandbox).status_code == 201 for _ in range(30))
    assert len(sandbox.request_log('twilio')) == 30
    sandbox.reset('twilio', counters_only=True)
    assert sandbox.request_log('twilio') == []


# --------------------------------------------------------------------------- prices and billing

def test_region_of_numbers():
    from sandbox.common import region_of
    assert region_of('33612345678') == 'FR'
    assert region_of('32470123456') == 'BE'
    assert region_of('352621123456') == 'LU'       # longest calling code first
    assert region_of('12015550123') == 'US'        # +1 is billed as US
    assert region_of('262692123456') == 'RE'
    assert region_of('999123456') == ''
    assert region_of('') == region_of(None) == ''


def test_part_prices_are_checked(sandbox):
    config = sandbox.configure('sweego', part_prices={'fr': '0.045', 'BE': 0.07})
    assert config['part_prices'] == {'FR': '0.045', 'BE': '0.07'}
    for bad in ({'FRA': '1'}, {'FR': '-1'}, {'FR': 'cheap'}, ['FR']):
        with pytest.raises(ValueError):
            sandbox.configure('sweego', part_prices=bad)
    reply = requests.post(f'{sandbox.url}/_control/ovh', json={'part_prices': {'F': 1}}, timeout=5)
    assert reply.status_code == 400


def test_sweego_events_carry_the_price_of_each_destination(sandbox, receiver):
    sandbox.configure('sweego', part_prices={'FR': '0.045', 'BE': '0.0725'},
                      webhook_url=receiver.url + '/hook', callback_delay_ms=0)
    reply = sweego_send(sandbox, [{'num': GOOD}, {'num': '+32470123456'}], text='x' * 161)
    assert reply.status_code == 200
    assert 'price' not in json.dumps(reply.json())          # the send answer gives none
    events = [json.loads(call['body']) for call in receiver.wait_for(2)]
    by_phone = {event['phone_number']: event for event in events}
    assert by_phone['0033612345678']['sms_price'] == 0.09     # 2 parts x 0.045, a number
    assert by_phone['0032470123456']['sms_price'] == 0.145
    assert {event['nb_segments'] for event in events} == {2}
    billing = sandbox.billing('sweego')
    assert billing['unit'] == 'EUR'
    assert billing['amount'] == '0.2350'
    assert (billing['messages'], billing['parts']) == (2, 4)
    assert billing['by_region'] == {
        'FR': {'amount': '0.090', 'messages': 1, 'parts': 2},
        'BE': {'amount': '0.1450', 'messages': 1, 'parts': 2},
    }
    assert reply.json()['credit_left'] == '9999.76'      # 9999.765, rounded half-even


def test_twilio_prices_the_message_once_sent(sandbox):
    sandbox.configure('twilio', part_prices={'FR': '0.079'}, callback_delay_ms=150)
    reply = twilio_send(sandbox, body='ê' * 71)                 # 2 UCS-2 parts
    assert reply.status_code == 201
    created = reply.json()
    assert (created['price'], created['price_unit']) == (None, 'USD')
    url = f'{sandbox.endpoint("twilio")}/Accounts/{TWILIO_ACCOUNT_SID}/Messages/{created["sid"]}.json'
    auth = (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        resource = requests.get(url, auth=auth, timeout=5).json()
        if resource['price'] is not None:
            break
        time.sleep(0.05)
    assert (resource['price'], resource['price_unit']) == ('-0.15800', 'USD')
    us = twilio_send(sandbox, to='+12015550123').json()       # part_price elsewhere
    assert sandbox.billing('twilio') == {
        'unit': 'USD', 'amount': '0.1659', 'messages': 2, 'parts': 3,
        'by_region': {'FR': {'amount': '0.158', 'messages': 1, 'parts': 2},
                      'US': {'amount': '0.0079', 'messages': 1, 'parts': 1}}}
    assert us['price'] is None


def test_ovh_job_credits_per_destination(sandbox):
    sandbox.configure('ovh', part_prices={'BE': '2.5'})
    reply = ovh_send(sandbox, receivers=[GOOD, '+32470123456', INVALID], message='x' * 161)
    data = reply.json()
    assert data['totalCreditsRemoved'] == 7          # FR 2 x 1 + BE 2 x 2.5; not the invalid one
    outgoing = [ovh_call(sandbox, 'GET', f'/sms/{OVH_SERVICE}/outgoing/{i}').json() for i in data['ids']]
    assert [item['credits'] for item in outgoing] == [2.0, 5.0]
    billing = sandbox.billing('ovh')
    assert (billing['unit'], billing['amount'], billing['messages']) == ('credits', '7.0', 2)
    assert ovh_call(sandbox, 'GET', f'/sms/{OVH_SERVICE}').json()['creditsLeft'] == 100000 - 7


def test_billing_counts_only_what_was_accepted_and_resets(sandbox):
    sandbox.set_mode('sweego', 'no_credit')
    assert sweego_send(sandbox, [{'num': GOOD}]).status_code == 402
    assert sweego_send(sandbox, [{'num': GOOD}, {'num': INVALID}]).status_code == 422
    sandbox.set_mode('sweego', 'ok')
    assert sweego_send(sandbox, [{'num': GOOD}]).status_code == 200
    assert ovh_send(sandbox, receivers=[INVALID]).json()['totalCreditsRemoved'] == 0
    billing = requests.get(f'{sandbox.url}/_control/billing', timeout=5).json()
    assert {'sweego', 'twilio', 'ovh'} <= set(billing)
    assert (billing['sweego']['amount'], billing['sweego']['messages']) == ('0.05', 1)
    assert (billing['ovh']['amount'], billing['twilio']['amount']) == ('0', '0')
    one = requests.get(f'{sandbox.url}/_control/billing?provider=sweego', timeout=5).json()
    assert one == billing['sweego']
    assert requests.get(f'{sandbox.url}/_control/billing?provider=x', timeout=5).status_code == 400
    assert sandbox.counters('sweego')['billed']['amount'] == '0.05'
    sandbox.reset('sweego', counters_only=True)
    assert sandbox.billing('sweego')['amount'] == '0'
