"""The HTTP API stand-ins of the sandbox (tests/sandbox/providers/http_api/), and the
templates of the generic HTTP API provider end to end against them.

Layout: the shared machinery first (fixtures, a callback receiver, ``Case`` and the tests
every provider runs), then one section per provider. A section defines a ``Case`` subclass
registered with ``@register`` (the generic tests below run once per registered case) and the
tests only that provider needs. A new provider is a new section at the end: nothing above
it changes.

The generic tests, per provider: a documented request is accepted and billed; malformed
requests are refused with the documented error and bill nothing; wrong credentials get the
auth failure; an invalid number gets the documented per-recipient error; the HTTP fault
modes answer in the provider's words; delivery callbacks arrive in the documented format.
End to end (``test_template_end_to_end``): the engine's ``HttpApiClient`` built from the
template ``sms_router/engine/http_templates/<key>.json`` sends through the stand-in, and
the stand-in's callbacks go through ``parse_report``; skipped while the template or the
engine is missing.
"""
import json
import sys
import threading
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from sandbox.server import HTTP_API_PROVIDERS, PROVIDERS, Sandbox  # noqa: E402

GOOD = '+33612345678'
GOOD_2 = '+33612345679'
INVALID = '+33612340000'      # the default invalid rule: ends with 0000
UNDELIVERED = '+33612345677'
TEMPLATES = TESTS.parent / 'sms_router' / 'engine' / 'http_templates'


def digits(number):
    return number.lstrip('+')


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
    """A local endpoint that records the callbacks it receives (GET or POST)."""

    def __init__(self):
        self.received = []
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                parts = urllib.parse.urlsplit(self.path)
                with receiver.condition:
                    receiver.received.append({
                        'method': self.command, 'path': parts.path, 'query': parts.query,
                        'headers': {k.lower(): v for k, v in self.headers.items()}, 'body': body})
                    receiver.condition.notify_all()
                self.send_response(200)
                self.send_header('Content-Length', '2')
                self.end_headers()
                self.wfile.write(b'OK')

            do_GET = do_POST = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/report/7/secret-token'
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


def payload_of(received):
    """A received callback as the router's controller reads it: the JSON document, else the
    form or query parameters (last value of each)."""
    content_type = received['headers'].get('content-type', '')
    if received['method'] == 'POST' and content_type.startswith('application/json'):
        return json.loads(received['body'])
    raw = received['body'].decode() if received['method'] == 'POST' else received['query']
    return {name: values[-1] for name, values in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}


# --------------------------------------------------------------------------- template mismatches

# Where a template disagrees with its provider's documentation (filed for the templates'
# authors, with the documentation's words): the test is expected to fail until the template
# follows the documentation. (test name, template key) -> what differs.
TEMPLATE_MISMATCHES = {}


@pytest.fixture(autouse=True)
def known_template_mismatch(request):
    callspec = getattr(request.node, 'callspec', None)
    case = callspec.params.get('case') if callspec else None
    reason = TEMPLATE_MISMATCHES.get((request.node.originalname, getattr(case, 'key', None)))
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=False))


# --------------------------------------------------------------------------- the cases

CASES = {}


def register(cls):
    CASES[cls.key] = cls()
    return cls


def pytest_generate_tests(metafunc):
    # Runs once the whole module is loaded: every section's case is registered by then.
    if 'case' in metafunc.fixturenames:
        metafunc.parametrize('case', list(CASES.values()), ids=list(CASES))


class Case:
    """What the generic tests need to know of one provider's stand-in."""

    key = None
    max_recipients = 1          # numbers per request, as documented
    dashboard_callback = False  # reports go only to the callback URL set in the dashboard
    # The provider documents an account-level report URL (its dashboard) beside a per-request
    # one: a template may use either, so the end-to-end tests set both.
    dashboard_url = False
    delivered = None            # the documented final status values of a report
    undelivered = None
    sender = 'Acme'
    credentials = {}            # the template's credential fields -> the stand-in's defaults

    def endpoint(self, sandbox):
        return sandbox.endpoint(self.key)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        """A documented send request to ``numbers`` (E.164 with '+'): the response."""
        raise NotImplementedError

    def accepted(self, response):
        """{E.164 digits: message id} of the recipients the answer accepted."""
        raise NotImplementedError

    def recipient_errors(self, response):
        """E.164 digits refused one by one as invalid (the documented per-recipient error)."""
        raise NotImplementedError

    def is_auth_failure(self, response):
        raise NotImplementedError

    def malformed(self, sandbox):
        """[(label, response)] of requests the documentation does not allow."""
        raise NotImplementedError

    def is_refusal(self, response):
        """Whether ``response`` is the documented error answer of a malformed request."""
        raise NotImplementedError

    def fault_ok(self, response, status):
        """Whether an HTTP fault answer (500, 503, 429) is worded like the provider."""
        return response.status_code == status

    def read_report(self, received):
        """(message id, status) of a received callback, checking its documented format."""
        raise NotImplementedError

    def template_credentials(self, template):
        """The router's credentials for the template's fields, from the stand-in's defaults."""
        return {field: self.credentials[field] for field in template.get('credentials', {})}


# --------------------------------------------------------------------------- generic tests

def test_http_api_stand_ins_are_registered(sandbox):
    assert PROVIDERS == ('sweego', 'twilio', 'ovh'), 'the built-in three keep their meaning'
    assert set(CASES) <= set(HTTP_API_PROVIDERS)
    state = sandbox.state()
    ports = [sandbox.provider_port(name) for name in PROVIDERS + HTTP_API_PROVIDERS]
    assert len(set(ports)) == len(ports)
    for key in HTTP_API_PROVIDERS:
        assert sandbox.endpoint(key).endswith(f'/{key}')
        assert state['providers'][key]['config']['mode'] == 'ok'


def test_documented_request_is_accepted_and_billed(sandbox, case):
    numbers = [GOOD, GOOD_2][:case.max_recipients]
    response = case.send(sandbox, numbers)
    ids = case.accepted(response)
    assert set(ids) == {digits(n) for n in numbers}, response.text
    assert all(ids.values()) and len(set(ids.values())) == len(numbers) or case.key == 'messagebird'
    billing = sandbox.billing(case.key)
    assert billing['messages'] == len(numbers) and billing['parts'] == len(numbers)
    assert sandbox.counters(case.key)['recipients_accepted'] == len(numbers)
    assert sorted(m['to'] for m in sandbox.messages(case.key)) == sorted(numbers)


def test_malformed_requests_are_refused(sandbox, case):
    for label, response in case.malformed(sandbox):
        assert case.is_refusal(response), f'{label}: {response.status_code} {response.text}'
        assert not case.accepted(response), label
    assert sandbox.billing(case.key)['messages'] == 0


def test_wrong_credentials_are_refused(sandbox, case):
    response = case.send(sandbox, [GOOD], good_auth=False)
    assert case.is_auth_failure(response), response.text
    assert sandbox.billing(case.key)['messages'] == 0


def test_invalid_number_is_a_recipient_error(sandbox, case):
    numbers = [GOOD, INVALID] if case.max_recipients > 1 else [INVALID]
    response = case.send(sandbox, numbers)
    assert case.recipient_errors(response) == {digits(INVALID)}, response.text
    assert set(case.accepted(response)) == {digits(n) for n in numbers if n != INVALID}
    assert sandbox.counters(case.key)['recipients_rejected'] == 1


@pytest.mark.parametrize('mode,status', [('http500', 500), ('http503', 503), ('http429', 429)])
def test_http_faults_are_worded_like_the_provider(sandbox, case, mode, status):
    sandbox.set_mode(case.key, mode)
    response = case.send(sandbox, [GOOD])
    assert case.fault_ok(response, status), response.text
    if status == 429:
        assert response.headers['Retry-After'] == '1'
    assert sandbox.billing(case.key)['messages'] == 0


def test_broken_json_and_invalid_recipients_modes(sandbox, case):
    sandbox.set_mode(case.key, 'broken_json')
    response = case.send(sandbox, [GOOD])
    assert response.status_code == sandbox.providers[case.key].send_status
    with pytest.raises(ValueError):
        response.json()
    sandbox.set_mode(case.key, 'invalid_recipients')
    numbers = [GOOD, GOOD_2][:case.max_recipients]
    assert case.recipient_errors(case.send(sandbox, numbers)) == {digits(n) for n in numbers}
    assert sandbox.billing(case.key)['messages'] == 0


@pytest.mark.parametrize('mode', ['refuse', 'hang'])
def test_no_answer_faults(sandbox, case, mode):
    # hang: no answer until hang_max_s, then the connection closes without one.
    sandbox.set_mode(case.key, mode, hang_max_s=0.3)
    with pytest.raises(requests.exceptions.ConnectionError):
        case.send(sandbox, [GOOD])
    assert sandbox.billing(case.key)['messages'] == 0


def test_request_log_and_rate_limit(sandbox, case):
    # Every send reaches the request log (account, numbers, segments); past the account's
    # rate the provider answers its own 429 with Retry-After and accepts nothing.
    assert case.accepted(case.send(sandbox, [GOOD]))
    (entry,) = sandbox.request_log(case.key)
    assert entry['provider'] == case.key and entry['account'] and not entry['limited']
    assert [digits(n) for n in entry['numbers']] == [digits(GOOD)] and entry['segments'] == 1
    sandbox.reset(case.key, counters_only=True)
    sandbox.configure(case.key, rate_limit=1, rate_limit_burst=1)
    assert case.accepted(case.send(sandbox, [GOOD]))
    response = case.send(sandbox, [GOOD_2])
    assert case.fault_ok(response, 429) and int(response.headers['Retry-After']) >= 1, response.text
    assert [e['limited'] for e in sandbox.request_log(case.key)] == [False, True]
    assert sandbox.billing(case.key)['messages'] == 1


def test_delivery_callbacks_in_the_documented_format(sandbox, case, receiver):
    sandbox.configure(case.key, callback_delay_ms=20, undelivered_numbers=[UNDELIVERED])
    if case.dashboard_callback:
        sandbox.configure(case.key, callback_url=receiver.url)
    numbers = [GOOD, UNDELIVERED]
    ids = {}
    for batch in ([numbers] if case.max_recipients > 1 else [[n] for n in numbers]):
        ids.update(case.accepted(case.send(sandbox, batch, callback_url=receiver.url)))
    assert set(ids) == {digits(n) for n in numbers}
    assert sandbox.wait_callbacks(5)
    finals = {}
    for received in receiver.wait_for(1):
        message_id, status = case.read_report(received)
        if status in (case.delivered, case.undelivered):
            finals[message_id] = status
    assert finals.get(ids[digits(GOOD)]) == case.delivered, finals
    assert finals.get(ids[digits(UNDELIVERED)]) == case.undelivered, finals


def test_poor_delivery_reports_some_undelivered(sandbox, case, receiver):
    sandbox.configure(case.key, callback_delay_ms=10, mode='poor_delivery', poor_delivery_ratio=0.5)
    if case.dashboard_callback:
        sandbox.configure(case.key, callback_url=receiver.url)
    numbers = [f'+3361234{index:04d}' for index in range(11, 15)]
    for number in numbers:
        assert case.accepted(case.send(sandbox, [number], callback_url=receiver.url))
    assert sandbox.wait_callbacks(5)
    finals = [case.read_report(r)[1] for r in receiver.received]
    assert finals.count(case.undelivered) == 2 and finals.count(case.delivered) == 2, finals


# --------------------------------------------------------------------------- end to end

def _engine():
    try:
        from addons.sms_router.engine import http_api  # noqa: PLC0415
        from addons.sms_router.engine import outcomes  # noqa: PLC0415
    except ImportError as error:
        pytest.skip(f'the HTTP API engine is not there yet ({error})')
    return http_api, outcomes


def _template(key):
    path = TEMPLATES / f'{key}.json'
    if not path.exists():
        pytest.skip(f'no template {path.name} yet')
    return json.loads(path.read_text())


def _client(http_api, case, sandbox, template, callback_url, credentials=None, endpoint='live'):
    spec = http_api.load_spec(template['spec'])
    live = urllib.parse.urlsplit(template['endpoints'][endpoint])
    # The account's Endpoint URL: the stand-in in place of the provider's scheme and host.
    base_url = case.endpoint(sandbox) + live.path.rstrip('/')
    return http_api.HttpApiClient(
        spec, credentials=credentials or case.template_credentials(template), sender=case.sender,
        callback_url=callback_url, base_url=base_url, timeout=5, pool_size=2)


def _send_all(client, outcomes, numbers, per_request):
    """Send one SMS per number, ``per_request`` numbers per call: {number: outcome}."""
    recipients = [outcomes.Recipient(f'sms-{index}', number, 'FR') for index, number in enumerate(numbers)]
    found = {}
    for start in range(0, len(recipients), per_request):
        chunk = tuple(recipients[start:start + per_request])
        result = client.send(outcomes.SendRequest('Your order S00042 is confirmed.', chunk))
        for recipient in chunk:
            found[recipient.number] = result.outcomes[recipient.key]
    return found


def test_template_end_to_end(sandbox, case, receiver):
    http_api, outcomes = _engine()
    template = _template(case.key)
    kind = outcomes.OutcomeKind
    per_request = int(template['spec'].get('recipients', {}).get('max', 1))
    sandbox.configure(case.key, callback_delay_ms=20, undelivered_numbers=[UNDELIVERED])
    if case.dashboard_callback or case.dashboard_url:
        sandbox.configure(case.key, callback_url=receiver.url)
    client = _client(http_api, case, sandbox, template, receiver.url)

    # Sent, with the provider's message ids; an invalid number is a recipient error.
    found = _send_all(client, outcomes, [GOOD, UNDELIVERED, INVALID], per_request)
    assert found[GOOD].kind == kind.SENT and found[GOOD].message_id, found[GOOD]
    assert found[UNDELIVERED].kind == kind.SENT, found[UNDELIVERED]
    assert found[INVALID].kind == kind.RECIPIENT, found[INVALID]
    stored = {m['to']: m for m in sandbox.messages(case.key)}
    assert set(stored) == {GOOD, UNDELIVERED}

    # The stand-in's delivery reports, read with the template's report mapping.
    assert sandbox.wait_callbacks(5)
    spec = http_api.load_spec(template['spec'])
    reports = {}
    for received in receiver.wait_for(1):
        for report in http_api.parse_report(spec, payload_of(received)):
            reports[report.message_id] = report.delivered
    assert reports.get(found[GOOD].message_id) is True, reports
    assert reports.get(found[UNDELIVERED].message_id) is False, reports

    # Wrong credentials: an account error; a 503: a provider error.
    wrong = {field: 'wrong-' + str(value) for field, value in case.template_credentials(template).items()}
    bad = _client(http_api, case, sandbox, template, receiver.url, credentials=wrong)
    assert _send_all(bad, outcomes, [GOOD_2], per_request)[GOOD_2].kind == kind.ACCOUNT
    sandbox.set_mode(case.key, 'http503')
    assert _send_all(client, outcomes, [GOOD_2], per_request)[GOOD_2].kind == kind.PROVIDER


def test_template_sends_with_the_routers_report_url(sandbox, case):
    # The report URL the router gives an account (controllers/http_api.py): its base URL,
    # /sms_router/http_api/report/<account id>/<43-character token>.
    http_api, outcomes = _engine()
    template = _template(case.key)
    url = 'https://odoo.example-company.com/sms_router/http_api/report/12/' + 'T' * 43
    client = _client(http_api, case, sandbox, template, url)
    outcome = _send_all(client, outcomes, [GOOD], 1)[GOOD]
    assert outcome.kind == outcomes.OutcomeKind.SENT, outcome


def test_template_reads_every_documented_failure_status(sandbox, case, receiver):
    # Each final status the provider documents for an SMS not delivered is read as not
    # delivered by the template's report mapping.
    http_api, outcomes = _engine()
    template = _template(case.key)
    statuses = sandbox.providers[case.key].undelivered_statuses
    if not statuses:
        pytest.skip(f'the {case.key} stand-in reports one failure status')
    if case.dashboard_callback or case.dashboard_url:
        sandbox.configure(case.key, callback_url=receiver.url)
    client = _client(http_api, case, sandbox, template, receiver.url)
    spec = http_api.load_spec(template['spec'])
    read = {}
    for status in statuses:
        sandbox.configure(case.key, undelivered_status=status, undelivered_numbers=[UNDELIVERED], callback_delay_ms=10)
        message_id = _send_all(client, outcomes, [UNDELIVERED], 1)[UNDELIVERED].message_id
        assert sandbox.wait_callbacks(5)
        read[status] = [report.delivered for received in list(receiver.received)
                        for report in http_api.parse_report(spec, payload_of(received))
                        if report.message_id == message_id]
    assert read == {status: [False] for status in statuses}


def test_template_reads_the_documented_price(sandbox, case, receiver):
    # A two-part SMS: where the answer gives a price, what the template reads is what the
    # stand-in billed for the whole SMS, in its currency; where it gives none, the template
    # reads none (the cost ledger then prices the SMS from the account's price list).
    http_api, outcomes = _engine()
    template = _template(case.key)
    client = _client(http_api, case, sandbox, template, receiver.url)
    recipient = outcomes.Recipient('sms-long', GOOD, 'FR')
    result = client.send(outcomes.SendRequest('x' * 200, (recipient,)))
    outcome = result.outcomes['sms-long']
    assert outcome.kind == outcomes.OutcomeKind.SENT, outcome
    if not template['spec'].get('answer', {}).get('price_path'):
        assert (outcome.price, outcome.price_currency) == (None, ''), outcome
        return
    (message,) = sandbox.messages(case.key)
    assert message['parts'] == 2
    assert outcome.price == pytest.approx(float(message['price'])), (outcome.price, message['price'])
    assert outcome.price_currency == sandbox.providers[case.key].price_unit


def test_template_sends_a_unicode_text_as_unicode(sandbox, case, receiver):
    # A text outside the GSM alphabet must reach the handset as written: the stand-ins of
    # providers that send GSM unless asked (Vonage type, MessageBird datacoding, Brevo
    # unicodeEnabled) keep what the handset would show.
    http_api, outcomes = _engine()
    template = _template(case.key)
    client = _client(http_api, case, sandbox, template, receiver.url)
    text = 'Ваш код: 4821'
    result = client.send(outcomes.SendRequest(text, (outcomes.Recipient('sms-ru', GOOD, 'FR'),)))
    assert result.outcomes['sms-ru'].kind == outcomes.OutcomeKind.SENT
    (message,) = sandbox.messages(case.key)
    assert message['body'] == text, f'the handset shows {message["body"]!r}'


# =========================================================================== Africa's Talking

from sandbox.providers.http_api.africastalking import AT_API_KEY, AT_USERNAME  # noqa: E402


@register
class AfricasTalkingCase(Case):
    key = 'africastalking'
    max_recipients = 1000
    dashboard_callback = True
    delivered, undelivered = 'Success', 'Failed'
    credentials = {'username': AT_USERNAME, 'api_key': AT_API_KEY}

    def post(self, sandbox, data, key=AT_API_KEY, path='/version1/messaging', accept='application/json'):
        headers = {'apiKey': key}
        if accept:
            headers['Accept'] = accept
        return requests.post(self.endpoint(sandbox) + path, data=data, headers=headers, timeout=5)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        data = {'username': AT_USERNAME, 'to': ','.join(numbers), 'message': 'Hello', 'bulkSMSMode': '1'}
        return self.post(sandbox, data, key=AT_API_KEY if good_auth else 'wrong-key')

    @staticmethod
    def _recipients(response):
        if response.status_code != 201:
            return []
        return response.json()['SMSMessageData']['Recipients']

    def accepted(self, response):
        return {digits(r['number']): r['messageId'] for r in self._recipients(response)
                if r['statusCode'] in (100, 101, 102)}

    def recipient_errors(self, response):
        return {digits(r['number']) for r in self._recipients(response) if r['statusCode'] == 403}

    def is_auth_failure(self, response):
        return response.status_code == 401 and response.text == 'The supplied authentication is invalid'

    def malformed(self, sandbox):
        good = {'username': AT_USERNAME, 'to': GOOD, 'message': 'Hello'}
        cases = [(f'no {name}', {k: v for k, v in good.items() if k != name}) for name in good]
        result = [(label, self.post(sandbox, data)) for label, data in cases]
        result.append(('JSON to the form endpoint', requests.post(
            self.endpoint(sandbox) + '/version1/messaging', json=good, timeout=5,
            headers={'apiKey': AT_API_KEY, 'Accept': 'application/json'})))
        result.append(('bulk without phoneNumbers', requests.post(
            self.endpoint(sandbox) + '/version1/messaging/bulk', json={'username': AT_USERNAME, 'message': 'x'},
            timeout=5, headers={'apiKey': AT_API_KEY, 'Accept': 'application/json'})))
        return result

    def is_refusal(self, response):
        return response.status_code == 400 and 'missing' in response.text or 'Content-Type' in response.text

    def fault_ok(self, response, status):
        return response.status_code == status and response.headers['Content-Type'].startswith('text/plain')

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/x-www-form-urlencoded'
        report = payload_of(received)
        assert {'id', 'status', 'phoneNumber', 'networkCode'} <= set(report)
        assert ('failureReason' in report) == (report['status'] in ('Failed', 'Rejected'))
        return report['id'], report['status']


def test_africastalking_numbers_need_the_international_format(sandbox):
    case = CASES['africastalking']
    response = case.send(sandbox, [GOOD, '0612345678', '33612345679'])
    assert set(case.accepted(response)) == {digits(GOOD)}
    body = response.json()['SMSMessageData']
    assert body['Message'] == 'Sent to 1/3 Total Cost: KES 0.8000'
    assert [r['status'] for r in body['Recipients']] == ['Success', 'InvalidPhoneNumber', 'InvalidPhoneNumber']


def test_africastalking_answers_xml_unless_json_is_asked_for(sandbox):
    case = CASES['africastalking']
    response = case.post(sandbox, {'username': AT_USERNAME, 'to': GOOD, 'message': 'Hi'}, accept=None)
    assert response.status_code == 201 and response.headers['Content-Type'] == 'application/xml'
    assert '<statusCode>101</statusCode>' in response.text


def test_africastalking_bulk_json_endpoint(sandbox):
    response = requests.post(
        CASES['africastalking'].endpoint(sandbox) + '/version1/messaging/bulk', timeout=5,
        json={'username': AT_USERNAME, 'message': 'Hi', 'senderId': 'Acme', 'phoneNumbers': [GOOD, GOOD_2]},
        headers={'apiKey': AT_API_KEY, 'Accept': 'application/json'})
    assert set(CASES['africastalking'].accepted(response)) == {digits(GOOD), digits(GOOD_2)}


def test_africastalking_template_on_the_sandbox_host(sandbox):
    # Africa's Talking's sandbox host serves the same paths, with the username "sandbox".
    http_api, outcomes = _engine()
    template = _template('africastalking')
    assert urllib.parse.urlsplit(template['endpoints']['sandbox']).netloc == 'api.sandbox.africastalking.com'
    client = _client(http_api, CASES['africastalking'], sandbox, template, None, endpoint='sandbox')
    found = _send_all(client, outcomes, [GOOD, GOOD_2], 100)
    assert {outcome.kind for outcome in found.values()} == {outcomes.OutcomeKind.SENT}
    assert sandbox.billing('africastalking')['messages'] == 2


@pytest.mark.parametrize('code', [100, 101, 102])
def test_africastalking_template_reads_every_documented_success_code(sandbox, code):
    http_api, outcomes = _engine()
    template = _template('africastalking')
    sandbox.configure('africastalking', success_status_code=code)
    client = _client(http_api, CASES['africastalking'], sandbox, template, None)
    found = _send_all(client, outcomes, [GOOD], 100)
    assert found[GOOD].kind == outcomes.OutcomeKind.SENT and found[GOOD].message_id.startswith('ATXid_')


def test_africastalking_opted_out_and_no_credit(sandbox):
    case = CASES['africastalking']
    sandbox.configure('africastalking', unsubscribed_numbers=[GOOD_2])
    statuses = [r['statusCode'] for r in case._recipients(case.send(sandbox, [GOOD, GOOD_2]))]
    assert statuses == [101, 406]
    sandbox.set_mode('africastalking', 'no_credit')
    body = case.send(sandbox, [GOOD]).json()['SMSMessageData']
    assert body['Recipients'][0]['status'] == 'InsufficientBalance' and body['Message'].startswith('Sent to 0/1')


# =========================================================================== Vonage SMS API

from sandbox.providers.http_api.vonage import VONAGE_API_KEY, VONAGE_API_SECRET  # noqa: E402


@register
class VonageCase(Case):
    key = 'vonage'
    dashboard_url = True
    delivered, undelivered = 'delivered', 'failed'
    credentials = {'api_key': VONAGE_API_KEY, 'api_secret': VONAGE_API_SECRET}

    def post(self, sandbox, data, as_json=False):
        url = self.endpoint(sandbox) + '/sms/json'
        if as_json:
            return requests.post(url, json=data, timeout=5)
        return requests.post(url, data=data, timeout=5)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        (number,) = numbers
        data = {'api_key': VONAGE_API_KEY, 'api_secret': VONAGE_API_SECRET if good_auth else 'wrong',
                'from': 'Acme', 'to': digits(number), 'text': 'Hello'}
        if callback_url:
            data['callback'] = callback_url
        response = self.post(sandbox, data)
        response.sent = [digits(number)]
        return response

    def accepted(self, response):
        if response.status_code != 200:
            return {}
        messages = response.json().get('messages', [])
        return {m['to']: m['message-id'] for m in messages[:1] if m['status'] == '0'}

    def recipient_errors(self, response):
        statuses = [m['status'] for m in response.json()['messages']]
        return set(response.sent) if statuses in (['3'], ['6']) else set()

    def is_auth_failure(self, response):
        return response.status_code == 200 and response.json()['messages'][0] == {
            'status': '4', 'error-text': 'Bad Credentials'}

    def malformed(self, sandbox):
        good = {'api_key': VONAGE_API_KEY, 'api_secret': VONAGE_API_SECRET, 'from': 'Acme',
                'to': digits(GOOD), 'text': 'Hello'}
        result = [(f'no {name}', self.post(sandbox, {k: v for k, v in good.items() if k != name}))
                  for name in good]
        result.append(('+ before the number', self.post(sandbox, dict(good, to=GOOD))))
        result.append(('00 before the number', self.post(sandbox, dict(good, to='00' + digits(GOOD)))))
        result.append(('unknown type', self.post(sandbox, dict(good, type='emoji'))))
        result.append(('sender over 11 characters', self.post(sandbox, dict(good, **{'from': 'AcmeCorporation'}))))
        result.append(('text/plain body', requests.post(self.endpoint(sandbox) + '/sms/json', timeout=5,
                                                       data='to=1', headers={'Content-Type': 'text/plain'})))
        return result

    def is_refusal(self, response):
        body = response.json()
        return response.status_code == 200 and body['messages'][0]['status'] in ('2', '3', '15') and \
            body['messages'][0]['error-text']

    def fault_ok(self, response, status):
        if status == 429:
            return response.status_code == 429 and response.json()['messages'][0]['status'] == '1'
        return response.status_code == status

    def read_report(self, received):
        assert received['method'] == 'POST' and received['headers']['content-type'] == 'application/json'
        receipt = payload_of(received)
        assert {'msisdn', 'to', 'network-code', 'messageId', 'price', 'status', 'scts', 'err-code',
                'api-key', 'message-timestamp'} <= set(receipt)
        assert (receipt['err-code'] == '0') == (receipt['status'] in ('accepted', 'delivered'))
        return receipt['messageId'], receipt['status']


def test_vonage_json_body_and_basic_auth_are_accepted(sandbox):
    case = CASES['vonage']
    response = requests.post(case.endpoint(sandbox) + '/sms/json', auth=(VONAGE_API_KEY, VONAGE_API_SECRET),
                             json={'from': 'Acme', 'to': digits(GOOD), 'text': 'Hello'}, timeout=5)
    assert response.json()['messages'][0]['status'] == '0'


def test_vonage_long_text_is_one_message_per_part(sandbox, receiver):
    case = CASES['vonage']
    sandbox.configure('vonage', callback_delay_ms=10, callback_method='GET')
    response = case.post(sandbox, {'api_key': VONAGE_API_KEY, 'api_secret': VONAGE_API_SECRET, 'from': 'Acme',
                                   'to': digits(GOOD), 'text': 'x' * 200, 'callback': receiver.url})
    body = response.json()
    assert body['message-count'] == '2' and len({m['message-id'] for m in body['messages']}) == 2
    assert sum(Decimal(m['message-price']) for m in body['messages']) == Decimal(sandbox.billing('vonage')['amount'])
    assert sandbox.wait_callbacks(5)
    received = receiver.wait_for(4)
    assert {r['method'] for r in received} == {'GET'}
    assert {payload_of(r)['messageId'] for r in received} == {m['message-id'] for m in body['messages']}


def test_vonage_callback_and_client_ref_up_to_100_characters(sandbox):
    case = CASES['vonage']
    good = {'api_key': VONAGE_API_KEY, 'api_secret': VONAGE_API_SECRET, 'from': 'Acme', 'to': digits(GOOD),
            'text': 'Hello'}
    long_url = 'https://example.com/' + 'x' * 81
    assert case.post(sandbox, dict(good, callback=long_url)).json()['messages'][0]['status'] == '23'
    assert case.post(sandbox, dict(good, callback=long_url[:100])).json()['messages'][0]['status'] == '0'
    assert case.post(sandbox, dict(good, **{'client-ref': 'r' * 101})).json()['messages'][0]['status'] == '3'


def test_vonage_barred_and_no_credit(sandbox):
    case = CASES['vonage']
    sandbox.configure('vonage', unsubscribed_numbers=[GOOD_2])
    assert case.send(sandbox, [GOOD_2]).json()['messages'][0]['status'] == '7'
    sandbox.set_mode('vonage', 'no_credit')
    assert case.send(sandbox, [GOOD]).json()['messages'][0]['status'] == '9'


# =========================================================================== Plivo

from sandbox.providers.http_api.plivo import PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN  # noqa: E402


@register
class PlivoCase(Case):
    key = 'plivo'
    max_recipients = 1000
    delivered, undelivered = 'delivered', 'undelivered'

    def post(self, sandbox, payload, auth=(PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN), account=PLIVO_AUTH_ID):
        return requests.post(f'{self.endpoint(sandbox)}/v1/Account/{account}/Message/', json=payload, auth=auth,
                             timeout=5)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        payload = {'src': 'Acme', 'dst': '<'.join(digits(n) for n in numbers), 'text': 'Hello'}
        if callback_url:
            payload.update(url=callback_url, method='POST')
        response = self.post(sandbox, payload, auth=(PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN if good_auth else 'wrong'))
        response.sent = [digits(n) for n in numbers]
        return response

    def accepted(self, response):
        if response.status_code != 202:
            return {}
        refused = set(response.json().get('invalid_number', []))
        valid = [number for number in response.sent if number not in refused]
        return dict(zip(valid, response.json()['message_uuid'], strict=True))

    def recipient_errors(self, response):
        return set(response.json().get('invalid_number', []))

    def is_auth_failure(self, response):
        return response.status_code == 401 and response.json()['error'] == 'authentication failed'

    def malformed(self, sandbox):
        good = {'src': 'Acme', 'dst': digits(GOOD), 'text': 'Hello'}
        result = [(f'no {name}', self.post(sandbox, {k: v for k, v in good.items() if k != name})) for name in good]
        result.append(('form body', requests.post(
            f'{self.endpoint(sandbox)}/v1/Account/{PLIVO_AUTH_ID}/Message/', data=good,
            auth=(PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN), timeout=5)))
        result.append(('text too long', self.post(sandbox, dict(good, text='x' * 1601))))
        result.append(('unicode text too long', self.post(sandbox, dict(good, text='é€' + 'ж' * 736))))
        result.append(('1001 destinations', self.post(sandbox, dict(
            good, dst='<'.join(f'336{index:08d}' for index in range(1, 1002))))))
        return result

    def is_refusal(self, response):
        return response.status_code == 400 and set(response.json()) >= {'api_id', 'error'}

    def fault_ok(self, response, status):
        return response.status_code == status and set(response.json()) == {'api_id', 'error'}

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/x-www-form-urlencoded'
        report = payload_of(received)
        assert {'MessageUUID', 'To', 'From', 'Status', 'Units', 'TotalRate', 'TotalAmount'} <= set(report)
        assert ('ErrorCode' in report) == (report['Status'] in ('failed', 'undelivered'))
        return report['MessageUUID'], report['Status']

    def template_credentials(self, template):
        # Which of the router's fields holds the Auth ID and which the Auth Token: the labels say.
        return {field: PLIVO_AUTH_ID if 'id' in label.lower().split() or 'ID' in label else PLIVO_AUTH_TOKEN
                for field, label in template.get('credentials', {}).items()}


def test_plivo_account_in_the_path_must_be_the_auth_id(sandbox):
    response = CASES['plivo'].post(sandbox, {'src': 'Acme', 'dst': digits(GOOD), 'text': 'Hi'}, account='MAOTHER')
    assert response.status_code == 401


def test_plivo_sanitizes_numbers_and_removes_duplicates(sandbox):
    response = CASES['plivo'].post(sandbox, {'src': 'Acme Inc.', 'dst': f'+33 6-12.34(56)78<{GOOD}<12<{GOOD_2}',
                                             'text': 'Hi'})
    body = response.json()
    assert response.status_code == 202 and len(body['message_uuid']) == 2 and body['invalid_number'] == ['12']
    long_sender = {'src': 'AcmeCorporation', 'dst': digits(GOOD), 'text': 'Hi'}
    assert CASES['plivo'].post(sandbox, long_sender).status_code == 400


def test_plivo_all_destinations_invalid_is_a_400(sandbox):
    response = CASES['plivo'].send(sandbox, [INVALID])
    assert response.status_code == 400 and response.json()['invalid_number'] == [digits(INVALID)]


def test_plivo_callback_by_get_and_prices(sandbox, receiver):
    sandbox.configure('plivo', callback_delay_ms=10, part_prices={'FR': '0.07'})
    response = CASES['plivo'].post(sandbox, {'src': 'Acme', 'dst': digits(GOOD), 'text': 'x' * 200,
                                             'url': receiver.url, 'method': 'GET'})
    assert response.status_code == 202
    assert sandbox.wait_callbacks(5)
    received = receiver.wait_for(2)
    assert [r['method'] for r in received] == ['GET', 'GET']
    final = payload_of(received[-1])
    assert (final['Status'], final['Units'], final['TotalRate'], final['TotalAmount']) == \
        ('delivered', '2', '0.07000', '0.14')


# =========================================================================== Infobip

from sandbox.providers.http_api.infobip import INFOBIP_API_KEY, INFOBIP_PASSWORD, INFOBIP_USERNAME  # noqa: E402


@register
class InfobipCase(Case):
    key = 'infobip'
    dashboard_url = True
    max_recipients = 1000
    delivered, undelivered = 'DELIVERED', 'UNDELIVERABLE'
    credentials = {'api_key': INFOBIP_API_KEY}

    def post(self, sandbox, payload, path='/sms/3/messages', key=INFOBIP_API_KEY, **kwargs):
        headers = {'Authorization': f'App {key}', 'Accept': 'application/json'}
        return requests.post(self.endpoint(sandbox) + path, json=payload, headers=headers, timeout=5, **kwargs)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        message = {'sender': 'Acme', 'destinations': [{'to': digits(n)} for n in numbers],
                   'content': {'text': 'Hello'}}
        if callback_url:
            message['webhooks'] = {'delivery': {'url': callback_url}}
        return self.post(sandbox, {'messages': [message]}, key=INFOBIP_API_KEY if good_auth else 'wrong')

    @staticmethod
    def _messages(response):
        return response.json()['messages'] if response.status_code == 200 else []

    def accepted(self, response):
        return {m.get('destination', m.get('to')): m['messageId'] for m in self._messages(response)
                if m['status']['groupName'] == 'PENDING'}

    def recipient_errors(self, response):
        return {m.get('destination', m.get('to')) for m in self._messages(response)
                if m['status']['name'] == 'REJECTED_DESTINATION'}

    def is_auth_failure(self, response):
        return response.status_code == 401 and \
            response.json()['requestError']['serviceException']['messageId'] == 'UNAUTHORIZED'

    def malformed(self, sandbox):
        good = {'sender': 'Acme', 'destinations': [{'to': digits(GOOD)}], 'content': {'text': 'Hello'}}
        return [
            ('no messages', self.post(sandbox, {})),
            ('no destinations', self.post(sandbox, {'messages': [dict(good, destinations=[])]})),
            ('no text', self.post(sandbox, {'messages': [dict(good, content={})]})),
            ('v2 text on v3', self.post(sandbox, {'messages': [{'from': 'Acme', 'text': 'Hello',
                                                                'destinations': good['destinations']}]})),
            ('v3 content on v2', self.post(sandbox, {'messages': [good]}, path='/sms/2/text/advanced')),
            ('form body', requests.post(self.endpoint(sandbox) + '/sms/3/messages', data={'to': digits(GOOD)},
                                        headers={'Authorization': f'App {INFOBIP_API_KEY}'}, timeout=5)),
        ]

    def is_refusal(self, response):
        body = response.json()
        return response.status_code == 400 and (body.get('errorCode') == 'E400' and body['violations'] or
                                                'validationErrors' in body.get('requestError', {}).get(
                                                    'serviceException', {}))

    def fault_ok(self, response, status):
        exception = response.json()['requestError']['serviceException']
        return response.status_code == status and exception['messageId'] == (
            'TOO_MANY_REQUESTS' if status == 429 else 'GENERAL_ERROR')

    def read_report(self, received):
        assert received['method'] == 'POST' and received['headers']['content-type'] == 'application/json'
        (result,) = payload_of(received)['results']
        assert {'bulkId', 'messageId', 'to', 'sentAt', 'doneAt', 'messageCount', 'price', 'status',
                'error'} <= set(result)
        return result['messageId'], result['status']['groupName']


def test_infobip_v2_advanced_and_basic_auth(sandbox, receiver):
    sandbox.configure('infobip', callback_delay_ms=10)
    payload = {'bulkId': 'BULK-1', 'messages': [{
        'from': 'Acme', 'destinations': [{'to': digits(GOOD), 'messageId': 'MY-ID-1'}, {'to': digits(INVALID)}],
        'text': 'Hello', 'notifyUrl': receiver.url, 'notifyContentType': 'application/json'}]}
    response = requests.post(CASES['infobip'].endpoint(sandbox) + '/sms/2/text/advanced', json=payload,
                             auth=(INFOBIP_USERNAME, INFOBIP_PASSWORD), timeout=5)
    body = response.json()
    assert body['bulkId'] == 'BULK-1'
    assert [(m['to'], m['status']['name']) for m in body['messages']] == [
        (digits(GOOD), 'PENDING_ACCEPTED'), (digits(INVALID), 'REJECTED_DESTINATION')]
    assert body['messages'][0]['messageId'] == 'MY-ID-1'
    assert sandbox.wait_callbacks(5)
    (result,) = payload_of(receiver.wait_for(1)[0])['results']
    assert (result['messageId'], result['smsCount'], result['status']['name']) == ('MY-ID-1', 1, 'DELIVERED_TO_HANDSET')
    assert result['price'] == {'pricePerMessage': 0.045, 'currency': 'EUR'}


def test_infobip_no_credit_rejects_the_destinations(sandbox):
    sandbox.set_mode('infobip', 'no_credit')
    (message,) = CASES['infobip'].send(sandbox, [GOOD]).json()['messages']
    assert message['status']['name'] == 'REJECTED_NOT_ENOUGH_CREDITS'


# =========================================================================== Bird / MessageBird

from sandbox.providers.http_api.messagebird import MESSAGEBIRD_ACCESS_KEY  # noqa: E402


@register
class MessageBirdCase(Case):
    key = 'messagebird'
    dashboard_url = True
    max_recipients = 50
    delivered, undelivered = 'delivered', 'delivery_failed'
    credentials = {'api_key': MESSAGEBIRD_ACCESS_KEY}

    def post(self, sandbox, payload, key=MESSAGEBIRD_ACCESS_KEY, form=False):
        headers = {'Authorization': f'AccessKey {key}'}
        if form:
            return requests.post(self.endpoint(sandbox) + '/messages', data=payload, headers=headers, timeout=5)
        return requests.post(self.endpoint(sandbox) + '/messages', json=payload, headers=headers, timeout=5)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        payload = {'originator': 'Acme', 'body': 'Hello', 'recipients': [int(digits(n)) for n in numbers],
                   'reference': 'order-42'}
        if callback_url:
            payload['reportUrl'] = callback_url
        response = self.post(sandbox, payload, key=MESSAGEBIRD_ACCESS_KEY if good_auth else 'wrong')
        response.sent = [digits(n) for n in numbers]
        return response

    def accepted(self, response):
        # One id for the request: a recipient's message is the id and its number.
        if response.status_code != 201:
            return {}
        body = response.json()
        return {str(item['recipient']): f'{body["id"]}/{item["recipient"]}' for item in body['recipients']['items']}

    def recipient_errors(self, response):
        return set(response.sent) - set(self.accepted(response))

    def is_auth_failure(self, response):
        return response.status_code == 401 and response.json()['errors'][0]['code'] == 2

    def malformed(self, sandbox):
        good = {'originator': 'Acme', 'body': 'Hello', 'recipients': [int(digits(GOOD))]}
        result = [(f'no {name}', self.post(sandbox, {k: v for k, v in good.items() if k != name})) for name in good]
        result.append(('originator over 11 characters', self.post(sandbox, dict(good, originator='AcmeCorporation'))))
        result.append(('51 recipients', self.post(sandbox, dict(
            good, recipients=[33600000001 + index for index in range(51)]))))
        result.append(('text/plain body', requests.post(self.endpoint(sandbox) + '/messages', data='x', timeout=5,
                                                       headers={'Authorization': f'AccessKey {MESSAGEBIRD_ACCESS_KEY}',
                                                                'Content-Type': 'text/plain'})))
        return result

    def is_refusal(self, response):
        return response.status_code in (400, 422) and response.json()['errors'][0]['code'] in (9, 10, 21)

    def fault_ok(self, response, status):
        return response.status_code == status and 'errors' in response.json()

    def read_report(self, received):
        assert received['method'] == 'GET' and not received['body']
        report = payload_of(received)
        assert {'id', 'reference', 'recipient', 'status', 'statusDatetime', 'statusReason', 'mccmnc',
                'messagePartCount'} <= set(report)
        if report['status'] == 'delivery_failed':
            assert report['statusErrorCode']
        return f'{report["id"]}/{report["recipient"]}', report['status']


def test_messagebird_form_body_and_invalid_recipients_left_out(sandbox):
    case = CASES['messagebird']
    both = f'{digits(GOOD)},{digits(INVALID)}'
    response = case.post(sandbox, {'originator': 'Acme', 'body': 'Hi', 'recipients': both}, form=True)
    body = response.json()
    assert response.status_code == 201 and body['recipients']['totalCount'] == 1
    assert body['recipients']['items'][0]['recipient'] == int(digits(GOOD))
    assert case.post(sandbox, {'originator': 'Acme', 'body': 'Hi', 'recipients': [digits(INVALID)]}).json() == {
        'errors': [{'code': 9, 'description': 'no (correct) recipients found', 'parameter': 'recipients'}]}


def test_messagebird_reports_only_messages_with_a_reference(sandbox, receiver):
    case = CASES['messagebird']
    sandbox.configure('messagebird', callback_delay_ms=10, callback_url=receiver.url)
    assert case.post(sandbox, {'originator': 'Acme', 'body': 'Hi', 'recipients': [digits(GOOD)]}).status_code == 201
    assert sandbox.wait_callbacks(2)
    assert receiver.received == [] and sandbox.counters('messagebird')['callbacks']['sent'] == 0


def test_messagebird_no_credit(sandbox):
    sandbox.set_mode('messagebird', 'no_credit')
    response = CASES['messagebird'].send(sandbox, [GOOD])
    assert response.status_code == 422 and response.json()['errors'][0]['code'] == 25


# =========================================================================== Brevo

from sandbox.providers.http_api.brevo import BREVO_API_KEY  # noqa: E402


@register
class BrevoCase(Case):
    key = 'brevo'
    dashboard_url = True
    delivered, undelivered = 'delivered', 'hard_bounce'
    credentials = {'api_key': BREVO_API_KEY}

    def post(self, sandbox, payload, key=BREVO_API_KEY, path='/v3/transactionalSMS/send'):
        return requests.post(self.endpoint(sandbox) + path, json=payload, timeout=5,
                             headers={'api-key': key, 'accept': 'application/json'})

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        (number,) = numbers
        payload = {'sender': 'Acme', 'recipient': digits(number), 'content': 'Hello', 'type': 'transactional'}
        if callback_url:
            payload['webUrl'] = callback_url
        response = self.post(sandbox, payload, key=BREVO_API_KEY if good_auth else 'wrong')
        response.sent = digits(number)
        return response

    def accepted(self, response):
        return {response.sent: str(response.json()['messageId'])} if response.status_code == 201 else {}

    def recipient_errors(self, response):
        body = response.json()
        return {response.sent} if response.status_code == 400 and body['message'] == 'Invalid phone number' else set()

    def is_auth_failure(self, response):
        return response.status_code == 401 and response.json() == {'code': 'unauthorized', 'message': 'Key not found'}

    def malformed(self, sandbox):
        good = {'sender': 'Acme', 'recipient': digits(GOOD), 'content': 'Hello'}
        result = [(f'no {name}', self.post(sandbox, {k: v for k, v in good.items() if k != name})) for name in good]
        result.append(('sender over 11 characters', self.post(sandbox, dict(good, sender='AcmeCorporation'))))
        result.append(('unknown type', self.post(sandbox, dict(good, type='promo'))))
        result.append(('form body', requests.post(self.endpoint(sandbox) + '/v3/transactionalSMS/send', data=good,
                                                 headers={'api-key': BREVO_API_KEY}, timeout=5)))
        return result

    def is_refusal(self, response):
        return response.status_code == 400 and response.json()['code'] in ('missing_parameter', 'invalid_parameter')

    def fault_ok(self, response, status):
        return response.status_code == status and set(response.json()) == {'code', 'message'}

    def read_report(self, received):
        assert received['method'] == 'POST' and received['headers']['content-type'] == 'application/json'
        event = payload_of(received)
        assert {'id', 'to', 'sms_count', 'credits_used', 'messageId', 'remaining_credit', 'msg_status', 'date',
                'type', 'reference'} <= set(event)
        return str(event['messageId']), event['msg_status']


def test_brevo_deprecated_endpoint_answers_the_full_object(sandbox):
    response = CASES['brevo'].post(sandbox, {'sender': 'Acme', 'recipient': digits(GOOD), 'content': 'x' * 200},
                                   path='/v3/transactionalSMS/sms')
    body = response.json()
    assert response.status_code == 201 and set(body) == {
        'reference', 'messageId', 'smsCount', 'usedCredits', 'remainingCredits'}
    assert (body['smsCount'], body['usedCredits']) == (2, 3.0)


def test_brevo_no_credit(sandbox):
    sandbox.set_mode('brevo', 'no_credit')
    response = CASES['brevo'].send(sandbox, [GOOD])
    assert response.status_code == 402 and response.json()['code'] == 'not_enough_credits'
