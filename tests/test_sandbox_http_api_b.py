"""The HTTP API stand-ins of ClickSend, Telnyx, Sinch, Textmagic, SMSFactor and smsmode, and
their templates end to end against them.

Same layout as tests/test_sandbox_http_api.py, whose shared machinery (fixtures, callback
receiver, ``Case`` and the generic tests every provider runs, the end-to-end test of a
template through the engine's ``HttpApiClient`` and ``parse_report``) is imported here and
runs once per case registered in this module. One section per provider: its ``Case`` and
the tests only that provider needs.
"""
import json
import sys
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import requests

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import test_sandbox_http_api as shared  # noqa: E402
from test_sandbox_http_api import GOOD, GOOD_2, INVALID, Case, digits, payload_of  # noqa: E402

from sandbox.providers.http_api.clicksend import CLICKSEND_API_KEY, CLICKSEND_USERNAME  # noqa: E402
from sandbox.providers.http_api.sinch import SINCH_API_TOKEN, SINCH_SERVICE_PLAN_ID  # noqa: E402
from sandbox.providers.http_api.smsfactor import SMSFACTOR_TOKEN  # noqa: E402
from sandbox.providers.http_api.smsmode import SMSMODE_API_KEY  # noqa: E402
from sandbox.providers.http_api.telnyx import TELNYX_API_KEY  # noqa: E402
from sandbox.providers.http_api.textmagic import TEXTMAGIC_API_KEY, TEXTMAGIC_USERNAME  # noqa: E402
from sandbox.server import HTTP_API_PROVIDERS  # noqa: E402

# The shared fixtures and generic tests: pytest collects them here too, parametrized with this
# module's cases (pytest_generate_tests below).
sandbox = shared.sandbox
clean = shared.clean
receiver = shared.receiver
test_documented_request_is_accepted_and_billed = shared.test_documented_request_is_accepted_and_billed
test_malformed_requests_are_refused = shared.test_malformed_requests_are_refused
test_wrong_credentials_are_refused = shared.test_wrong_credentials_are_refused
test_invalid_number_is_a_recipient_error = shared.test_invalid_number_is_a_recipient_error
test_http_faults_are_worded_like_the_provider = shared.test_http_faults_are_worded_like_the_provider
test_no_answer_faults = shared.test_no_answer_faults
test_request_log_and_rate_limit = shared.test_request_log_and_rate_limit
test_delivery_callbacks_in_the_documented_format = shared.test_delivery_callbacks_in_the_documented_format
test_poor_delivery_reports_some_undelivered = shared.test_poor_delivery_reports_some_undelivered
test_template_end_to_end = shared.test_template_end_to_end
test_template_sends_with_the_routers_report_url = shared.test_template_sends_with_the_routers_report_url
test_template_reads_every_documented_failure_status = shared.test_template_reads_every_documented_failure_status
test_template_reads_the_documented_price = shared.test_template_reads_the_documented_price
test_template_sends_a_unicode_text_as_unicode = shared.test_template_sends_a_unicode_text_as_unicode

# Known template disagreements: the shared table and fixture (test_sandbox_http_api.py).
known_template_mismatch = shared.known_template_mismatch


CASES = {}


def register(cls):
    CASES[cls.key] = cls()
    return cls


def pytest_generate_tests(metafunc):
    if 'case' in metafunc.fixturenames:
        metafunc.parametrize('case', list(CASES.values()), ids=list(CASES))


def _sent(response, numbers):
    """Keep the numbers a request was sent to on its response (single-recipient answers do
    not repeat them)."""
    response.sent_numbers = [digits(n) for n in numbers]
    return response


def test_template_sends_without_a_sender(sandbox, case):
    # The sender is optional in these APIs (the account's default sender applies): a template
    # leaves it out rather than send an empty one. Sinch needs its service plan's Automatic
    # Default Originator for that; without one it refuses the batch.
    http_api, outcomes = shared._engine()
    template = shared._template(case.key)
    spec = http_api.load_spec(template['spec'])

    def send():
        client = http_api.HttpApiClient(spec, credentials=case.template_credentials(template), sender='',
                                        callback_url='https://odoo.example.com/report', timeout=5,
                                        base_url=case.endpoint(sandbox))
        result = client.send(outcomes.SendRequest('Hello', (outcomes.Recipient('sms-1', GOOD, 'FR'),)))
        return result.outcomes['sms-1'].kind

    if case.key == 'sinch':
        assert send() == outcomes.OutcomeKind.ACCOUNT
        sandbox.configure('sinch', default_originator='Acme')
    assert send() == outcomes.OutcomeKind.SENT
    assert [m['to'] for m in sandbox.messages(case.key)] == [GOOD]


def test_this_modules_stand_ins_are_registered(sandbox):
    assert set(CASES) == {'clicksend', 'telnyx', 'sinch', 'textmagic', 'smsfactor', 'smsmode'}
    assert set(CASES) <= set(HTTP_API_PROVIDERS)
    for key in CASES:
        assert sandbox.endpoint(key).endswith(f'/{key}')


# =========================================================================== ClickSend

@register
class ClickSendCase(Case):
    key = 'clicksend'
    max_recipients = 1000
    dashboard_callback = True
    delivered, undelivered = '201', '301'
    credentials = {'username': CLICKSEND_USERNAME, 'api_key': CLICKSEND_API_KEY}

    def post(self, sandbox, payload, auth=(CLICKSEND_USERNAME, CLICKSEND_API_KEY), **kwargs):
        return requests.post(self.endpoint(sandbox) + '/v3/sms/send', json=payload, auth=auth,
                             timeout=5, **kwargs)

    @staticmethod
    def message(number, body='Hello'):
        return {'source': 'sandbox-test', 'from': 'Acme', 'to': number, 'body': body,
                'custom_string': str(uuid.uuid4())}

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        auth = (CLICKSEND_USERNAME, CLICKSEND_API_KEY if good_auth else 'wrong-key')
        return self.post(sandbox, {'messages': [self.message(n) for n in numbers]}, auth=auth)

    @staticmethod
    def _messages(response):
        if response.status_code != 200:
            return []
        return response.json()['data']['messages']

    def accepted(self, response):
        return {digits(m['to']): m['message_id'] for m in self._messages(response) if m['status'] == 'SUCCESS'}

    def recipient_errors(self, response):
        return {digits(m['to']) for m in self._messages(response) if m['status'] == 'INVALID_RECIPIENT'}

    def is_auth_failure(self, response):
        body = response.json()
        return response.status_code == 401 and body['http_code'] == 401 and body['response_code'] == 'UNAUTHORIZED'

    def malformed(self, sandbox):
        result = [
            ('no messages', self.post(sandbox, {})),
            ('empty messages', self.post(sandbox, {'messages': []})),
            ('a message without body', self.post(sandbox, {'messages': [{'to': GOOD}]})),
            ('a message without to', self.post(sandbox, {'messages': [{'body': 'Hello'}]})),
            ('a national number without country', self.post(sandbox, {'messages': [self.message('0612345678')]})),
            ('a sender ID with a space', self.post(sandbox, {'messages': [dict(self.message(GOOD),
                                                                               **{'from': 'My Company'})]})),
            ('form-encoded', requests.post(self.endpoint(sandbox) + '/v3/sms/send', data={'to': GOOD, 'body': 'x'},
                                           auth=(CLICKSEND_USERNAME, CLICKSEND_API_KEY), timeout=5)),
        ]
        sandbox.configure('clicksend', max_recipients=2)
        result.append(('over max_recipients', self.post(sandbox, {'messages': [self.message(GOOD)] * 3})))
        return result

    def is_refusal(self, response):
        body = response.json()
        if response.status_code == 400:
            return body['http_code'] == 400 and body['response_code'] in ('BAD_REQUEST', 'TOO_MANY_RECIPIENTS')
        return response.status_code == 200 and body['data']['queued_count'] == 0 and all(
            m['status'] in ('EMPTY_MESSAGE', 'MISSING_REQUIRED_FIELDS', 'INVALID_RECIPIENT', 'INVALID_SENDER_ID')
            for m in body['data']['messages'])

    def fault_ok(self, response, status):
        body = response.json()
        codes = {500: 'INTERNAL_SERVER_ERROR', 503: 'SERVICE_UNAVAILABLE', 429: 'TOO_MANY_REQUESTS'}
        return response.status_code == status and body['http_code'] == status and \
            body['response_code'] == codes[status]

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/x-www-form-urlencoded'
        report = payload_of(received)
        assert {'timestamp_send', 'timestamp', 'message_id', 'status_code', 'status_text', 'error_code',
                'error_text', 'custom_string', 'subaccount_id', 'message_type'} <= set(report)
        assert report['message_type'] == 'sms'
        assert bool(report['error_code']) == (report['status_code'] == '301')
        return report['message_id'], report['status_code']


def test_clicksend_answer_per_message(sandbox):
    case = CASES['clicksend']
    messages = [case.message(GOOD), case.message(INVALID), case.message('0612345679'),
                dict(case.message('0612345679'), country='FR')]
    body = case.post(sandbox, {'messages': messages}).json()
    assert body['response_code'] == 'SUCCESS' and body['response_msg'] == 'Messages queued for delivery.'
    data = body['data']
    assert [m['status'] for m in data['messages']] == ['SUCCESS', 'INVALID_RECIPIENT', 'INVALID_RECIPIENT',
                                                       'SUCCESS']
    assert data['total_count'] == 4 and data['queued_count'] == 2
    assert data['total_price'] == pytest.approx(0.154) and data['_currency']['currency_name_short'] == 'USD'
    first = data['messages'][0]
    assert first['message_price'] == pytest.approx(0.077) and first['message_parts'] == 1
    assert first['custom_string'] == messages[0]['custom_string'] and first['direction'] == 'out'
    assert data['messages'][3]['to'] == GOOD_2


def test_clicksend_list_id_and_insufficient_credit(sandbox):
    case = CASES['clicksend']
    body = case.post(sandbox, {'messages': [{'list_id': 428, 'body': 'Hello'}]}).json()
    assert body['data']['messages'][0]['status'] == 'NOT_ENOUGH_PERMISSION_TO_LIST_ID'
    sandbox.set_mode('clicksend', 'no_credit')
    body = case.send(sandbox, [GOOD]).json()
    assert body['data']['messages'][0]['status'] == 'INSUFFICIENT_CREDIT' and body['data']['queued_count'] == 0
    assert sandbox.billing('clicksend')['messages'] == 0


def test_clicksend_account_balance(sandbox):
    url = CASES['clicksend'].endpoint(sandbox) + '/v3/account'
    body = requests.get(url, auth=(CLICKSEND_USERNAME, CLICKSEND_API_KEY), timeout=5).json()
    assert body['response_code'] == 'SUCCESS' and body['data']['balance'] == '1000.0000'
    assert requests.get(url, auth=(CLICKSEND_USERNAME, 'nope'), timeout=5).status_code == 401


# =========================================================================== Telnyx

TELNYX_PROFILE = '4001767e-ce0f-4cae-9d5f-0d5e636e7809'


@register
class TelnyxCase(Case):
    key = 'telnyx'
    delivered, undelivered = 'delivered', 'delivery_failed'
    sender = '+15550001234'
    credentials = {'api_key': TELNYX_API_KEY, 'username': TELNYX_PROFILE}

    def post(self, sandbox, payload, key=TELNYX_API_KEY, **kwargs):
        return requests.post(self.endpoint(sandbox) + '/v2/messages', json=payload, timeout=5,
                             headers={'Authorization': f'Bearer {key}'}, **kwargs)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        payload = {'from': self.sender, 'to': numbers[0], 'text': 'Hello'}
        if callback_url:
            payload['webhook_url'] = callback_url
        return _sent(self.post(sandbox, payload, key=TELNYX_API_KEY if good_auth else 'KEYwrong'), numbers)

    def accepted(self, response):
        if response.status_code != 200:
            return {}
        data = response.json()['data']
        return {digits(item['phone_number']): data['id'] for item in data['to']}

    @staticmethod
    def _codes(response):
        return [error['code'] for error in response.json().get('errors', [])]

    def recipient_errors(self, response):
        return set(response.sent_numbers) if response.status_code == 400 and self._codes(response) == ['40310'] \
            else set()

    def is_auth_failure(self, response):
        return response.status_code == 401 and self._codes(response) == ['10009']

    def malformed(self, sandbox):
        good = {'from': self.sender, 'to': GOOD, 'text': 'Hello'}
        return [
            ('no to', self.post(sandbox, {k: v for k, v in good.items() if k != 'to'})),
            ('no text', self.post(sandbox, {k: v for k, v in good.items() if k != 'text'})),
            ('no from nor messaging profile', self.post(sandbox, {k: v for k, v in good.items() if k != 'from'})),
            ('two recipients', self.post(sandbox, dict(good, to=[GOOD, GOOD_2]))),
            ('to without +', self.post(sandbox, dict(good, to=digits(GOOD)))),
            ('alphanumeric from without profile', self.post(sandbox, dict(good, **{'from': 'Acme'}))),
            ('form-encoded', requests.post(self.endpoint(sandbox) + '/v2/messages', data=good, timeout=5,
                                           headers={'Authorization': f'Bearer {TELNYX_API_KEY}'})),
        ]

    def is_refusal(self, response):
        return response.status_code in (400, 415, 422) and len(self._codes(response)) == 1

    def fault_ok(self, response, status):
        return response.status_code == status and response.json()['errors'][0]['code'] in ('10007', '10011')

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/json'
        event = json.loads(received['body'])
        data = event['data']
        assert data['record_type'] == 'event' and data['event_type'] in ('message.sent', 'message.finalized')
        assert event['meta']['delivered_to'] and 'telnyx-timestamp' in received['headers']
        payload = data['payload']
        if data['event_type'] == 'message.sent':
            assert payload['to'][0]['status'] == 'sent'
        elif payload['to'][0]['status'] == 'delivery_failed':
            assert payload['errors'][0]['code'] == '40008'
        return payload['id'], payload['to'][0]['status']


def test_telnyx_message_record(sandbox):
    case = CASES['telnyx']
    response = case.post(sandbox, {'from': 'Acme', 'messaging_profile_id': TELNYX_PROFILE, 'to': [GOOD],
                                   'text': 'Hello'})
    data = response.json()['data']
    assert response.status_code == 200 and data['record_type'] == 'message' and data['direction'] == 'outbound'
    assert data['to'] == [{'phone_number': GOOD, 'status': 'queued', 'carrier': '', 'line_type': 'Wireless'}]
    assert data['messaging_profile_id'] == TELNYX_PROFILE and data['parts'] == 1 and data['errors'] == []
    assert data['cost'] == {'amount': '0.0040', 'currency': 'USD'}


def test_telnyx_balance_and_no_credit(sandbox):
    case = CASES['telnyx']
    url = case.endpoint(sandbox) + '/v2/balance'
    body = requests.get(url, headers={'Authorization': f'Bearer {TELNYX_API_KEY}'}, timeout=5).json()
    assert body['data']['record_type'] == 'balance' and body['data']['balance'] == '100.00'
    sandbox.set_mode('telnyx', 'no_credit')
    response = case.send(sandbox, [GOOD])
    assert response.status_code == 403 and case._codes(response) == ['10010']


# =========================================================================== Sinch

@register
class SinchCase(Case):
    """One recipient per batch in the generic tests (a batch answers one id for all its
    recipients); the batches of several recipients have their own tests below."""

    key = 'sinch'
    delivered, undelivered = 'Delivered', 'Failed'
    credentials = {'username': SINCH_SERVICE_PLAN_ID, 'api_key': SINCH_API_TOKEN}

    def post(self, sandbox, payload, token=SINCH_API_TOKEN, plan=SINCH_SERVICE_PLAN_ID, **kwargs):
        return requests.post(f'{self.endpoint(sandbox)}/xms/v1/{plan}/batches', json=payload, timeout=5,
                             headers={'Authorization': f'Bearer {token}'}, **kwargs)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        payload = {'from': 'Acme', 'to': list(numbers), 'body': 'Hello'}
        if callback_url:
            payload.update(delivery_report='per_recipient', callback_url=callback_url)
        return self.post(sandbox, payload, token=SINCH_API_TOKEN if good_auth else 'wrong-token')

    def accepted(self, response):
        if response.status_code != 201:
            return {}
        body = response.json()
        return {digits(n): f'{body["id"]}/{digits(n)}' for n in body['to']}

    def recipient_errors(self, response):
        body = response.json()
        if response.status_code == 400 and body['code'] == 'syntax_invalid_parameter_format':
            return {digits(body['text'].removeprefix('Invalid MSISDN: '))}
        return set()

    def is_auth_failure(self, response):
        return response.status_code == 401

    def malformed(self, sandbox):
        good = {'from': 'Acme', 'to': [GOOD], 'body': 'Hello'}
        return [
            ('no to', self.post(sandbox, {k: v for k, v in good.items() if k != 'to'})),
            ('to not a list', self.post(sandbox, dict(good, to=GOOD))),
            ('no body', self.post(sandbox, {k: v for k, v in good.items() if k != 'body'})),
            ('no from without a default originator', self.post(sandbox, {k: v for k, v in good.items()
                                                                          if k != 'from'})),
            ('body over 1600 characters', self.post(sandbox, dict(good, body='x' * 1601))),
            ('unknown delivery_report', self.post(sandbox, dict(good, delivery_report='sometimes'))),
            ('a national number', self.post(sandbox, dict(good, to=['0612345678']))),
            ('invalid JSON', requests.post(f'{self.endpoint(sandbox)}/xms/v1/{SINCH_SERVICE_PLAN_ID}/batches',
                                           data='{', timeout=5, headers={
                                               'Authorization': f'Bearer {SINCH_API_TOKEN}',
                                               'Content-Type': 'application/json'})),
            ('a report without callback URL', self.post(sandbox, dict(good, delivery_report='full'))),
        ]

    def is_refusal(self, response):
        body = response.json()
        return (response.status_code, body['code']) in {
            (400, 'syntax_invalid_json'), (400, 'syntax_invalid_parameter_format'),
            (400, 'syntax_constraint_violation'), (403, 'missing_callback_url')} and body['text']

    def fault_ok(self, response, status):
        return response.status_code == status and set(response.json()) == {'code', 'text'}

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/json'
        report = json.loads(received['body'])
        assert report['type'] == 'recipient_delivery_report_sms'
        assert {'batch_id', 'recipient', 'code', 'status', 'at'} <= set(report)
        assert report['code'] == {'Dispatched': 401, 'Delivered': 0, 'Failed': 1}[report['status']]
        return f'{report["batch_id"]}/{digits(report["recipient"])}', report['status']


def test_sinch_batch_of_several_recipients(sandbox, receiver):
    case = CASES['sinch']
    sandbox.configure('sinch', callback_delay_ms=10, undelivered_numbers=[GOOD_2])
    response = case.post(sandbox, {'from': 'Acme', 'to': [GOOD, digits(GOOD_2)], 'body': 'Hello',
                                   'delivery_report': 'per_recipient_final', 'callback_url': receiver.url,
                                   'client_reference': 'ref-1'})
    body = response.json()
    assert response.status_code == 201 and body['to'] == [GOOD, digits(GOOD_2)] and len(body['id']) == 26
    assert body['canceled'] is False and body['type'] == 'mt_text' and body['delivery_report'] == 'per_recipient_final'
    assert sandbox.billing('sinch')['messages'] == 2
    assert sandbox.wait_callbacks(5)
    reports = [json.loads(r['body']) for r in receiver.wait_for(2)]
    # per_recipient_final: the final status only, with the client reference.
    assert sorted((r['recipient'], r['status']) for r in reports) == [(GOOD, 'Delivered'), (GOOD_2, 'Failed')]
    assert {r['batch_id'] for r in reports} == {body['id']} and {r['client_reference'] for r in reports} == {'ref-1'}


def test_sinch_batch_refused_whole_for_one_bad_msisdn(sandbox):
    response = CASES['sinch'].post(sandbox, {'from': 'Acme', 'to': [GOOD, INVALID], 'body': 'Hello'})
    assert response.status_code == 400 and response.json()['code'] == 'syntax_invalid_parameter_format'
    assert sandbox.billing('sinch')['messages'] == 0


def test_sinch_batch_reports_and_limits(sandbox, receiver):
    case = CASES['sinch']
    sandbox.configure('sinch', callback_delay_ms=10, undelivered_numbers=[GOOD_2], callback_url=receiver.url)
    # The service plan's default callback URL serves batches that give none.
    response = case.post(sandbox, {'from': 'Acme', 'to': [GOOD, GOOD_2], 'body': 'Hi', 'delivery_report': 'full'})
    assert response.status_code == 201
    assert sandbox.wait_callbacks(5)
    report = json.loads(receiver.wait_for(1)[0]['body'])
    assert report['type'] == 'delivery_report_sms' and report['total_message_count'] == 2
    assert sorted((s['status'], s['count'], s['recipients']) for s in report['statuses']) == [
        ('Delivered', 1, [GOOD]), ('Failed', 1, [GOOD_2])]
    too_many = case.post(sandbox, {'from': 'Acme', 'to': [f'+3361{index:07d}' for index in range(1001)],
                                   'body': 'Hi'})
    assert too_many.status_code == 400 and too_many.json()['code'] == 'syntax_constraint_violation'
    form = requests.post(f'{case.endpoint(sandbox)}/xms/v1/{SINCH_SERVICE_PLAN_ID}/batches', data={'to': GOOD},
                         headers={'Authorization': f'Bearer {SINCH_API_TOKEN}'}, timeout=5)
    assert form.status_code == 415
    assert case.post(sandbox, {'from': 'A', 'to': [GOOD], 'body': 'x'}, plan='other-plan').status_code == 401
    sandbox.configure('sinch', default_originator='Acme')
    assert case.post(sandbox, {'to': [GOOD], 'body': 'x'}).json()['from'] == 'Acme'


# =========================================================================== Textmagic

TEXTMAGIC_HEADERS = {'X-TM-Username': TEXTMAGIC_USERNAME, 'X-TM-Key': TEXTMAGIC_API_KEY}


@register
class TextmagicCase(Case):
    """One number per request in the generic tests: with several, the answer names a
    session, not each message (see test_textmagic_session_and_bulk)."""

    key = 'textmagic'
    dashboard_callback = True
    delivered, undelivered = 'd', 'f'
    credentials = {'username': TEXTMAGIC_USERNAME, 'api_key': TEXTMAGIC_API_KEY}

    def post(self, sandbox, data=None, headers=TEXTMAGIC_HEADERS, **kwargs):
        return requests.post(self.endpoint(sandbox) + '/api/v2/messages', data=data, headers=headers,
                             timeout=5, **kwargs)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        headers = dict(TEXTMAGIC_HEADERS, **({} if good_auth else {'X-TM-Key': 'wrong'}))
        data = {'text': 'Hello', 'phones': ','.join(digits(n) for n in numbers), 'from': 'Acme'}
        return _sent(self.post(sandbox, data, headers=headers), numbers)

    def accepted(self, response):
        if response.status_code != 201 or response.json()['type'] != 'message':
            return {}
        return {response.sent_numbers[0]: response.json()['messageId']}

    def recipient_errors(self, response):
        if response.status_code != 400:
            return set()
        errors = ' '.join(response.json()['errors']['fields'].get('phones', []))
        return {number for number in response.sent_numbers if number in errors}

    def is_auth_failure(self, response):
        return response.status_code == 401 and response.json() == {'code': 401, 'message': 'Unauthorized'}

    def malformed(self, sandbox):
        good = {'text': 'Hello', 'phones': digits(GOOD)}
        return [
            ('no text', self.post(sandbox, {'phones': digits(GOOD)})),
            ('no phones', self.post(sandbox, {'text': 'Hello'})),
            ('partsCount 7', self.post(sandbox, dict(good, partsCount='7'))),
            ('text over partsCount', self.post(sandbox, dict(good, text='x' * 200, partsCount='1'))),
            ('a template', self.post(sandbox, dict(good, templateId='55313'))),
            ('a national number', self.post(sandbox, dict(good, phones='0612345678'))),
            ('plain text body', self.post(sandbox, 'text=Hello', headers=dict(TEXTMAGIC_HEADERS, **{
                'Content-Type': 'text/plain'}))),
        ]

    def is_refusal(self, response):
        body = response.json()
        if response.status_code == 415:
            return body['code'] == 415
        return response.status_code == 400 and body['message'] == 'Validation Failed' and \
            any(body['errors'][part] for part in ('common', 'fields'))

    def fault_ok(self, response, status):
        return response.status_code == status and response.json()['code'] == status

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/json'
        message = json.loads(received['body'])
        assert {'id', 'sender', 'receiver', 'text', 'status', 'sessionId', 'messageTime', 'price',
                'partsCount'} <= set(message)
        return message['id'], message['status']


def test_textmagic_session_and_bulk(sandbox):
    case = CASES['textmagic']
    response = case.post(sandbox, json={'text': 'Hello', 'phones': f'{digits(GOOD)},+{digits(GOOD_2)}'})
    body = response.json()
    assert response.status_code == 201 and body['type'] == 'session' and body['messageId'] is None
    assert body['href'] == f'/api/v2/sessions/{body["id"]}' and body['sessionId'] == body['id']
    phones = ','.join(f'336{index:05d}1234' for index in range(1001))
    body = case.post(sandbox, {'text': 'Hi', 'phones': phones}).json()
    assert body['type'] == 'bulk' and body['bulkId'] == body['id']
    assert sandbox.billing('textmagic')['messages'] == 1003


def test_textmagic_cut_extra_and_user(sandbox):
    case = CASES['textmagic']
    response = case.post(sandbox, {'text': 'x' * 200, 'phones': digits(GOOD), 'partsCount': '1', 'cutExtra': '1'})
    assert response.status_code == 201
    assert sandbox.messages('textmagic')[0]['body'] == 'x' * 160
    user = requests.get(case.endpoint(sandbox) + '/api/v2/user', headers=TEXTMAGIC_HEADERS, timeout=5).json()
    assert user['username'] == TEXTMAGIC_USERNAME and user['balance'] == pytest.approx(99.96)
    sandbox.set_mode('textmagic', 'no_credit')
    refused = case.send(sandbox, [GOOD])
    assert refused.status_code == 400 and 'Insufficient balance' in refused.json()['errors']['common'][0]


# =========================================================================== SMSFactor

SMSFACTOR_HEADERS = {'Authorization': f'Bearer {SMSFACTOR_TOKEN}', 'Accept': 'application/json'}


@register
class SmsFactorCase(Case):
    """A campaign of one number (``POST /send``) in the generic tests: a campaign's answer
    counts its invalid numbers without naming them (see test_smsfactor_campaign_counts), and
    the request log reads bodies, not the query string of the single message (``GET /send``,
    what the template sends: test_template_end_to_end and the tests below)."""

    key = 'smsfactor'
    dashboard_callback = True
    delivered, undelivered = 3, 11
    credentials = {'api_key': SMSFACTOR_TOKEN}

    def get(self, sandbox, params, headers=SMSFACTOR_HEADERS, path='/send'):
        return requests.get(self.endpoint(sandbox) + path, params=params, headers=headers, timeout=5)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        headers = dict(SMSFACTOR_HEADERS, **({} if good_auth else {'Authorization': 'Bearer wrong'}))
        gsmsmsid = uuid.uuid4().hex
        campaign = {'sms': {'message': {'text': 'Hello', 'pushtype': 'alert', 'sender': 'Acme'},
                            'recipients': {'gsm': [{'gsmsmsid': gsmsmsid, 'value': digits(numbers[0])}]}}}
        response = requests.post(self.endpoint(sandbox) + '/send', json=campaign, headers=headers, timeout=5)
        response.gsmsmsid = gsmsmsid
        return _sent(response, numbers)

    def accepted(self, response):
        body = response.json()
        if body['status'] != 1 or body.get('sent') != 1:
            return {}
        return {response.sent_numbers[0]: response.gsmsmsid}

    def recipient_errors(self, response):
        body = response.json()
        return set(response.sent_numbers) if body['status'] == 1 and body['invalid'] == 1 else set()

    def is_auth_failure(self, response):
        return response.status_code == 401 and response.json()['status'] == -1

    def malformed(self, sandbox):
        campaign = {'sms': {'message': {'text': 'Hi'}, 'recipients': {'gsm': [{'value': digits(GOOD)}]}}}
        url = self.endpoint(sandbox) + '/send'
        return [
            ('no text', self.get(sandbox, {'to': digits(GOOD)})),
            ('no to', self.get(sandbox, {'text': 'Hello'})),
            ('unknown pushtype', self.get(sandbox, {'text': 'Hi', 'to': digits(GOOD), 'pushtype': 'promo'})),
            ('sender over 11 characters', self.get(sandbox, {'text': 'Hi', 'to': digits(GOOD),
                                                             'sender': 'TwelveLetter'})),
            ('delay not Y-m-d H:i:s', self.get(sandbox, {'text': 'Hi', 'to': digits(GOOD),
                                                        'delay': '2026-12-01T10:00:00Z'})),
            ('campaign without recipients', requests.post(url, json={'sms': {'message': {'text': 'Hi'}}},
                                                          headers=SMSFACTOR_HEADERS, timeout=5)),
            ('campaign without text', requests.post(url, json={'sms': {'recipients': campaign['sms']['recipients']}},
                                                    headers=SMSFACTOR_HEADERS, timeout=5)),
            ('campaign as a form', requests.post(url, data={'text': 'Hi'}, headers=SMSFACTOR_HEADERS, timeout=5)),
        ]

    def is_refusal(self, response):
        body = response.json()
        return response.status_code == 200 and body['status'] in (-6, -7) and body['details']

    def fault_ok(self, response, status):
        return response.status_code == status and response.json()['status'] == -99

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/json'
        report = json.loads(received['body'])
        assert set(report) == {'date', 'status', 'destination', 'message_id', 'campaign_id', 'country_code'}
        assert report['country_code'] == 'FR' and not report['destination'].startswith('+')
        return report['message_id'], report['status']


def test_smsfactor_campaign_counts(sandbox, receiver):
    sandbox.configure('smsfactor', unsubscribed_numbers=[GOOD_2], callback_url=receiver.url, callback_delay_ms=10)
    gsm = [{'gsmsmsid': 'a', 'value': digits(GOOD)}, {'gsmsmsid': 'b', 'value': digits(GOOD)},
           {'gsmsmsid': 'c', 'value': digits(INVALID)}, {'gsmsmsid': 'd', 'value': digits(GOOD_2)},
           {'gsmsmsid': 'e', 'value': '0612345670'}]
    response = requests.post(CASES['smsfactor'].endpoint(sandbox) + '/send', headers=SMSFACTOR_HEADERS, timeout=5,
                             json={'sms': {'message': {'text': 'Hi', 'pushtype': 'marketing', 'sender': 'Acme'},
                                           'recipients': {'gsm': gsm}}})
    body = response.json()
    assert body['status'] == 1 and body['message'] == 'OK' and body['ticket']
    assert (body['total'], body['sent'], body['duplicated'], body['invalid'], body['blacklisted']) == (5, 1, 1, 2, 1)
    assert body['cost'] == 1 and body['credits'] == 999
    assert sandbox.wait_callbacks(5)
    report = json.loads(receiver.wait_for(1)[0]['body'])
    assert (report['message_id'], report['campaign_id'], report['status']) == ('a', body['ticket'], 3)


def test_smsfactor_xml_token_in_query_and_credits(sandbox):
    case = CASES['smsfactor']
    response = case.get(sandbox, {'text': 'Hi', 'to': digits(GOOD), 'token': SMSFACTOR_TOKEN,
                                  'delay': '2026-12-01 10:00:00'}, headers={})
    assert response.headers['Content-Type'] == 'application/xml'
    answer = ElementTree.fromstring(response.text)
    assert answer.tag == 'response' and answer.findtext('status') == '1' and answer.findtext('sent') == '1'
    credits = case.get(sandbox, {}, path='/credits').json()
    assert credits['status'] == 1 and credits['credits'] == '999'
    sandbox.set_mode('smsfactor', 'no_credit')
    assert case.send(sandbox, [GOOD]).json()['status'] == -3


# =========================================================================== smsmode

SMSMODE_HEADERS = {'X-Api-Key': SMSMODE_API_KEY, 'Accept': 'application/json'}


@register
class SmsmodeCase(Case):
    key = 'smsmode'
    delivered, undelivered = 'DELIVERED', 'UNDELIVERABLE'
    credentials = {'api_key': SMSMODE_API_KEY}

    def post(self, sandbox, payload, headers=SMSMODE_HEADERS, **kwargs):
        return requests.post(self.endpoint(sandbox) + '/sms/v1/messages', json=payload, headers=headers,
                             timeout=5, **kwargs)

    def send(self, sandbox, numbers, callback_url=None, good_auth=True):
        payload = {'recipient': {'to': digits(numbers[0])}, 'body': {'text': 'Hello'}, 'from': 'Acme',
                   'refClient': str(uuid.uuid4())}
        if callback_url:
            payload['callbackUrlStatus'] = callback_url
        headers = dict(SMSMODE_HEADERS, **({} if good_auth else {'X-Api-Key': 'wrong'}))
        return _sent(self.post(sandbox, payload, headers=headers), numbers)

    def accepted(self, response):
        if response.status_code != 201:
            return {}
        body = response.json()
        return {digits(body['recipient']['to']): body['messageId']}

    def recipient_errors(self, response):
        ok = response.status_code == 400 and response.json()['errorCode'] == 'INVALID_RECIPIENT'
        return set(response.sent_numbers) if ok else set()

    def is_auth_failure(self, response):
        return response.status_code == 401 and response.json()['status'] == 401

    def malformed(self, sandbox):
        good = {'recipient': {'to': digits(GOOD)}, 'body': {'text': 'Hello'}}
        return [
            ('no recipient', self.post(sandbox, {'body': good['body']})),
            ('no text', self.post(sandbox, {'recipient': good['recipient'], 'body': {}})),
            ('sender over 11 characters', self.post(sandbox, dict(good, **{'from': 'TwelveLetter'}))),
            ('callback not a URL', self.post(sandbox, dict(good, callbackUrlStatus='here'))),
            ('form-encoded', requests.post(self.endpoint(sandbox) + '/sms/v1/messages', data={'to': GOOD},
                                           headers=SMSMODE_HEADERS, timeout=5)),
        ]

    def is_refusal(self, response):
        body = response.json()
        return response.status_code in (400, 415) and body['status'] == response.status_code and body['errorCode']

    def fault_ok(self, response, status):
        return response.status_code == status and response.json()['status'] == status

    def read_report(self, received):
        assert received['method'] == 'POST'
        assert received['headers']['content-type'] == 'application/json'
        message = json.loads(received['body'])
        assert message['direction'] == 'MT' and message['refClient']
        return message['messageId'], message['status']['value']


def test_smsmode_message_and_numbers(sandbox):
    case = CASES['smsmode']
    response = case.post(sandbox, {'recipient': {'to': '0612345678'}, 'body': {'text': 'Déjà vu'}, 'from': 'Acme'})
    body = response.json()
    assert response.status_code == 201 and body['status']['value'] == 'ENROUTE'
    assert body['type'] == 'SMS' and body['direction'] == 'MT' and body['body']['encoding'] == 'GSM7'
    assert body['href'].endswith(body['messageId'])
    assert sandbox.messages('smsmode')[0]['to'] == GOOD
    assert case.post(sandbox, {'recipient': {'to': digits(GOOD)}, 'body': {'text': 'x'}},
                     headers=dict(SMSMODE_HEADERS, Accept='text/html')).status_code == 406
    sandbox.set_mode('smsmode', 'no_credit')
    refused = case.send(sandbox, [GOOD])
    assert refused.status_code == 402 and refused.json()['errorCode'] == 'INSUFFICIENT_CREDIT'
