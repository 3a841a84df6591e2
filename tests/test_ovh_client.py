"""OVH client: signing (checked against the official ``ovh`` package), clock offset,
job answers, error classification, look-ups, and secrets kept out of reasons and logs."""
import json
import re
import logging
import types

import ovh
import ovh.client
import pytest
import requests
import responses

from addons.sms_router.engine.outcomes import OutcomeKind, Recipient, SendRequest
from addons.sms_router_ovh.tools import ovh_client as module
from addons.sms_router_ovh.tools.ovh_client import OvhClient, OvhError, sign

APP_KEY = 'appKeyPublic42'
APP_SECRET = 'S3cr3tApplicationValue'
CONSUMER_KEY = 'C0nsumerKeyValue9876'
SERVICE = 'sms-ab12345-1'
BASE = 'https://eu.api.ovh.com/1.0'
JOBS_URL = f'{BASE}/sms/{SERVICE}/jobs'
TIME_URL = f'{BASE}/auth/time'
NOW = 1_700_000_000
SERVER_SKEW = 42        # OVH's clock runs 42 s ahead of ours in these tests


@pytest.fixture(autouse=True)
def clean_time_cache(monkeypatch):
    module.reset_time_offsets()
    monkeypatch.setattr(module, '_clock', lambda: NOW + 0.75)
    yield
    module.reset_time_offsets()


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def make_client(**values):
    params = dict(
        region='ovh-eu', application_key=APP_KEY, application_secret=APP_SECRET,
        consumer_key=CONSUMER_KEY, service_name=SERVICE, sender='ACME',
    )
    params.update(values)
    return OvhClient(**params)


def make_request(*numbers, body='Your code is 1234', marketing=False):
    numbers = numbers or ('+33612345678',)
    recipients = tuple(
        Recipient(key=f'uuid-{index}', number=number, region='FR')
        for index, number in enumerate(numbers)
    )
    return SendRequest(body=body, recipients=recipients, marketing=marketing)


def add_time(api, url=TIME_URL, value=NOW + SERVER_SKEW):
    api.add(responses.GET, url, body=str(value), content_type='application/json')


def add_job(api, status=200, payload=None, headers=None, body=None, url=JOBS_URL):
    if body is None:
        body = json.dumps(payload if payload is not None else {})
    api.add(responses.POST, url, status=status, body=body, headers=headers or {},
            content_type='application/json')


def job_answer(valid, invalid=(), ids=None, credits=1.0):
    return {
        'ids': list(range(101, 101 + len(valid))) if ids is None else ids,
        'validReceivers': list(valid), 'invalidReceivers': list(invalid),
        'totalCreditsRemoved': credits,
    }


def calls_to(api, url):
    return [call for call in api.calls if call.request.url == url]


def sent_json(call):
    return json.loads(call.request.body)


# Signing ---------------------------------------------------------------------------------


def official_call(api, monkeypatch, method, path, **kwargs):
    """Make one call with the official client (clock frozen, offset 0); return its request."""
    monkeypatch.setattr(ovh.client, 'time', types.SimpleNamespace(time=lambda: NOW))
    official = ovh.Client(endpoint='ovh-eu', application_key=APP_KEY,
                          application_secret=APP_SECRET, consumer_key=CONSUMER_KEY)
    official._time_delta = 0
    before = len(api.calls)
    getattr(official, method)(path, **kwargs)
    return api.calls[before].request


@pytest.mark.parametrize('method, path, kwargs', [
    ('get', '/sms', {}),
    ('get', f'/sms/{SERVICE}/outgoing', {'tag': 'spring sale', 'receiver': '+33612345678'}),
    ('post', f'/sms/{SERVICE}/jobs', {'message': 'Hé ho €', 'receivers': ['+33612345678'],
                                       'sender': 'ACME', 'noStopClause': True}),
    ('delete', f'/sms/{SERVICE}/outgoing/123', {}),
])
def test_sign_matches_the_official_library(api, monkeypatch, method, path, kwargs):
    api.add(getattr(responses, method.upper()), re.compile(r'https://.*'),
            json={})
    request = official_call(api, monkeypatch, method, path, **kwargs)
    body = request.body or ''
    assert request.headers['X-Ovh-Timestamp'] == str(NOW)
    assert sign(APP_SECRET, CONSUMER_KEY, method, request.url, body, NOW) == \
        request.headers['X-Ovh-Signature']
    # bytes and text bodies sign the same
    assert sign(APP_SECRET, CONSUMER_KEY, method, request.url,
                body.encode() if isinstance(body, str) else body, str(NOW)) == \
        request.headers['X-Ovh-Signature']


def test_job_is_signed_and_serialised_exactly_like_the_official_library(api, monkeypatch):
    add_time(api, value=NOW)                    # offset 0, so both clients sign at NOW
    monkeypatch.setattr(module, '_clock', lambda: NOW)
    add_job(api, payload=job_answer(['+33612345678']))
    make_client(no_stop_clause=True, tag='otp', validity_period=30).send(
        make_request(body='Ton code : 1234 — à bientôt'))
    ours = calls_to(api, JOBS_URL)[0].request

    theirs = official_call(api, monkeypatch, 'post', f'/sms/{SERVICE}/jobs',
                           **json.loads(ours.body))
    assert ours.url == theirs.url
    assert ours.body == theirs.body.encode()    # ovh sends text, we send the same bytes
    for header in ('X-Ovh-Application', 'X-Ovh-Consumer', 'X-Ovh-Timestamp',
                   'X-Ovh-Signature'):
        assert ours.headers[header] == theirs.headers[header]


def test_signed_body_is_the_body_sent(api):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678', '+33698765432']))
    make_client().send(make_request('+33612345678', '+33698765432', body='Café ✓'))
    request = calls_to(api, JOBS_URL)[0].request
    assert isinstance(request.body, bytes)
    assert request.body == module.serialise(sent_json(calls_to(api, JOBS_URL)[0])).encode()
    assert request.headers['Content-Type'] == 'application/json'
    assert request.headers['X-Ovh-Signature'] == sign(
        APP_SECRET, CONSUMER_KEY, 'POST', request.url, request.body,
        request.headers['X-Ovh-Timestamp'])


# Clock offset ----------------------------------------------------------------------------


def test_time_offset_is_read_once_and_shared_by_clients(api):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678']))
    first, second = make_client(), make_client(sender='OTHER')
    assert first.send(make_request()).outcomes['uuid-0'].kind is OutcomeKind.SENT
    assert second.send(make_request()).outcomes['uuid-0'].kind is OutcomeKind.SENT
    assert len(calls_to(api, TIME_URL)) == 1
    time_request = calls_to(api, TIME_URL)[0].request
    assert 'X-Ovh-Signature' not in time_request.headers       # /auth/time is unsigned
    for call in calls_to(api, JOBS_URL):
        assert call.request.headers['X-Ovh-Timestamp'] == str(NOW + SERVER_SKEW)


def test_offsets_are_cached_per_endpoint(api):
    sandbox = 'http://127.0.0.1:8069/ovh/1.0'
    add_time(api)
    add_time(api, url=f'{sandbox}/auth/time', value=NOW - 5)
    add_job(api, payload=job_answer(['+33612345678']))
    add_job(api, payload=job_answer(['+33612345678']), url=f'{sandbox}/sms/{SERVICE}/jobs')
    make_client().send(make_request())
    make_client(base_url=sandbox).send(make_request())
    sandbox_job = calls_to(api, f'{sandbox}/sms/{SERVICE}/jobs')[0].request
    assert sandbox_job.headers['X-Ovh-Timestamp'] == str(NOW - 5)
    assert len(calls_to(api, TIME_URL)) == 1


@pytest.mark.parametrize('status, error', [
    (400, {'errorCode': 'INVALID_SIGNATURE', 'httpCode': '400 Bad Request',
           'message': 'Invalid signature'}),
    (403, {'class': 'Client::Forbidden', 'message': 'Invalid timestamp'}),
    (400, {'class': 'Client::BadRequest', 'message': 'Query out of time'}),
])
def test_clock_error_reads_time_again_and_retries_once(api, status, error):
    add_time(api)
    add_time(api, value=NOW + 600)              # OVH's clock moved: new offset
    add_job(api, status=status, payload=error)
    add_job(api, payload=job_answer(['+33612345678']))
    result = make_client().send(make_request())
    assert result.outcomes['uuid-0'].kind is OutcomeKind.SENT
    jobs = calls_to(api, JOBS_URL)
    assert len(jobs) == 2 and len(calls_to(api, TIME_URL)) == 2
    assert jobs[1].request.headers['X-Ovh-Timestamp'] == str(NOW + 600)
    assert jobs[0].request.body == jobs[1].request.body
    # the next send uses the refreshed offset without reading the time again
    add_job(api, payload=job_answer(['+33612345678']))
    make_client().send(make_request())
    assert len(calls_to(api, TIME_URL)) == 2


def test_clock_error_twice_is_an_account_error_after_one_retry(api):
    add_time(api)
    error = {'errorCode': 'INVALID_SIGNATURE', 'message': 'Invalid signature'}
    api.add(responses.POST, JOBS_URL, status=400, json=error, headers={'X-OVH-QUERYID': 'EU.q1'})
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.ACCOUNT
    assert len(calls_to(api, JOBS_URL)) == 2
    assert outcome.reason.startswith('OVH: HTTP 400 INVALID_SIGNATURE: Invalid signature')
    assert 'query id EU.q1' in outcome.reason and 'API time again' in outcome.reason


def test_no_retry_for_ordinary_credential_errors(api):
    add_time(api)
    add_job(api, status=403, payload={'errorCode': 'INVALID_CREDENTIAL',
                                      'message': 'This credential is not valid'})
    assert make_client().send(make_request()).outcomes['uuid-0'].kind is OutcomeKind.ACCOUNT
    assert len(calls_to(api, JOBS_URL)) == 1 and len(calls_to(api, TIME_URL)) == 1


def test_unreadable_time_fails_over_without_sending(api):
    api.add(responses.GET, TIME_URL, status=503, body='maintenance')
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.PROVIDER
    assert 'API time' in outcome.reason and 'nothing was sent' in outcome.reason
    assert not calls_to(api, JOBS_URL)


def test_time_read_timeout_is_a_clean_provider_failure(api):
    api.add(responses.GET, TIME_URL, body=requests.exceptions.ReadTimeout())
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.PROVIDER        # not ambiguous: the SMS never left
    assert not calls_to(api, JOBS_URL)


# Job payload -----------------------------------------------------------------------------


def test_several_receivers_share_one_job(api):
    add_time(api)
    numbers = ('+33612345678', '+33698765432', '+32470123456')
    add_job(api, payload=job_answer(numbers, ids=[11, 12, 13], credits=3),
            headers={'X-OVH-QUERYID': 'EU.ext-3.abc'})
    result = make_client(validity_period=60, tag='orders').send(make_request(*numbers))
    jobs = calls_to(api, JOBS_URL)
    assert len(jobs) == 1
    payload = sent_json(jobs[0])
    assert payload['receivers'] == list(numbers)
    assert payload['message'] == 'Your code is 1234'
    assert payload['sender'] == 'ACME' and 'senderForResponse' not in payload
    assert payload['validityPeriod'] == 60 and payload['tag'] == 'orders'
    assert payload['charset'] == 'UTF-8'
    assert [result.outcomes[f'uuid-{i}'].message_id for i in range(3)] == ['11', '12', '13']
    assert {outcome.batch_id for outcome in result.outcomes.values()} == {'11,12,13'}
    assert all(outcome.kind is OutcomeKind.SENT for outcome in result.outcomes.values())
    assert 'query id EU.ext-3.abc' in result.outcomes['uuid-0'].reason
    assert result.account_updates == {'credits_removed': 3.0}
    assert OvhClient.max_recipients_per_request > 1


def test_credits_of_several_jobs_add_up_in_one_dispatch(api):
    """Two bodies make two jobs; the router must see the credits of both."""
    from addons.sms_router.engine.dispatcher import AccountHandle, Dispatcher, QueuedSms
    from addons.sms_router.engine.routing import Destination

    add_time(api)
    credits = {'Hello': 2, 'Bye': 1.5}

    def answer(request):        # jobs run in parallel: answer each by its own body
        payload = json.loads(request.body)
        return 200, {}, json.dumps(job_answer(payload['receivers'],
                                              credits=credits[payload['message']]))

    api.add_callback(responses.POST, JOBS_URL, callback=answer, content_type='application/json')
    handle = AccountHandle(account_id=7, name='OVH', client=make_client())
    messages = [
        QueuedSms(f'k{index}', body, Destination(number, 'FR', 33), (handle,))
        for index, (number, body) in enumerate([
            ('+33612345678', 'Hello'), ('+33698765432', 'Hello'), ('+33611111111', 'Bye')])
    ]
    dispatcher = Dispatcher()
    verdicts = dispatcher.dispatch(messages)
    assert all(verdict.sent for verdict in verdicts.values())
    assert len(calls_to(api, JOBS_URL)) == 2
    assert dispatcher.account_updates[7] == {'credits_removed': 3.5}


def test_unaligned_ids_leave_message_ids_empty(api):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678', '+33698765432'], ids=[77]))
    result = make_client().send(make_request('+33612345678', '+33698765432'))
    for outcome in result.outcomes.values():
        assert outcome.kind is OutcomeKind.SENT
        assert outcome.message_id is None and outcome.batch_id == '77'


def test_invalid_receivers_are_recipient_errors_matched_by_digits(api):
    add_time(api)
    add_job(api, payload=job_answer(['0033612345678'], invalid=['0033100000000'], ids=[5]))
    result = make_client().send(make_request('+33612345678', '+33 1 00 00 00 00'))
    sent, refused = result.outcomes['uuid-0'], result.outcomes['uuid-1']
    assert sent.kind is OutcomeKind.SENT and sent.message_id == '5'
    assert refused.kind is OutcomeKind.RECIPIENT
    assert refused.failure_type == 'sms_number_format' == refused.core_failure_type
    assert refused.message_id is None and refused.reason.startswith('OVH: ')


def test_all_invalid_receivers_sent_nothing(api):
    add_time(api)
    add_job(api, payload=job_answer([], invalid=['+33100000000', '+33100000001'], ids=[],
                                    credits=0))
    result = make_client().send(make_request('+33100000000', '+33100000001'))
    assert {outcome.kind for outcome in result.outcomes.values()} == {OutcomeKind.RECIPIENT}
    assert all(outcome.batch_id is None for outcome in result.outcomes.values())


def test_receiver_missing_from_the_answer_is_ambiguous(api):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678'], ids=[1]))
    result = make_client().send(make_request('+33612345678', '+33698765432'))
    assert result.outcomes['uuid-1'].kind is OutcomeKind.AMBIGUOUS


def test_same_number_twice_gets_ids_in_order(api):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678', '+33612345678'], ids=[1, 2]))
    result = make_client().send(make_request('+33612345678', '+33612345678'))
    assert [result.outcomes[key].message_id for key in ('uuid-0', 'uuid-1')] == ['1', '2']


@pytest.mark.parametrize('flag, marketing, expected_clause, expected_priority', [
    (True, False, True, 'high'),
    (True, True, False, 'low'),      # never for marketing: the STOP mention is mandatory
    (False, False, False, 'high'),
    (False, True, False, 'low'),
])
def test_no_stop_clause_only_for_transactional_traffic(api, flag, marketing, expected_clause,
                                                       expected_priority):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678']))
    make_client(no_stop_clause=flag).send(make_request(marketing=marketing))
    payload = sent_json(calls_to(api, JOBS_URL)[0])
    assert payload['noStopClause'] is expected_clause
    assert payload['priority'] == expected_priority


def test_sender_for_response(api):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678']))
    make_client(sender='', sender_for_response=True).send(make_request())
    payload = sent_json(calls_to(api, JOBS_URL)[0])
    assert payload['senderForResponse'] is True and 'sender' not in payload


@pytest.mark.parametrize('body, coding', [
    ('Rendez-vous à 10h, réf. [42] {ok} €', '7bit'),
    ('Привет', '8bit'),
    ('Merci 🙂', '8bit'),
])
def test_coding_follows_the_alphabet(api, body, coding):
    add_time(api)
    add_job(api, payload=job_answer(['+33612345678']))
    make_client().send(make_request(body=body))
    payload = sent_json(calls_to(api, JOBS_URL)[0])
    assert payload['coding'] == coding and payload['message'] == body


# Errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize('status, error, kind', [
    (400, {'class': 'Client::BadRequest', 'message': 'Invalid sender'}, OutcomeKind.MISCONFIGURED),
    (401, {'class': 'Client::Unauthorized', 'message': 'You must login first'}, OutcomeKind.ACCOUNT),
    (403, {'errorCode': 'NOT_GRANTED_CALL', 'message': 'This call has not been granted'},
     OutcomeKind.ACCOUNT),
    (403, {'errorCode': 'NOT_CREDENTIAL', 'message': 'This credential does not exist'},
     OutcomeKind.ACCOUNT),
    (404, {'class': 'Client::NotFound', 'message': 'The requested object (serviceName = '
                                                   'sms-ab12345-1) does not exist'}, OutcomeKind.ACCOUNT),
    (409, {'class': 'Client::Conflict', 'message': 'Conflict'}, OutcomeKind.PROVIDER),
    (500, {'class': 'Server::InternalServerError', 'message': 'Internal server error'},
     OutcomeKind.PROVIDER),
])
def test_error_statuses(api, status, error, kind):
    add_time(api)
    add_job(api, status=status, payload=error, headers={'X-OVH-QUERYID': 'EU.ext-1.q42'})
    result = make_client().send(make_request('+33612345678', '+33698765432'))
    assert len(calls_to(api, JOBS_URL)) == 1
    for outcome in result.outcomes.values():
        assert outcome.kind is kind
        assert outcome.reason.startswith(f'OVH: HTTP {status} ')
        assert error['message'] in outcome.reason
        assert outcome.reason.endswith('(query id EU.ext-1.q42)')
        assert outcome.retry_after is None


@pytest.mark.parametrize('error, failure_type', [
    ({'class': 'Client::Forbidden', 'message': 'Not enough credits to send this job'},
     'sms_credit'),
    ({'errorCode': 'INVALID_CREDENTIAL', 'message': 'This credential is not valid'}, None),
])
def test_credit_shortage_gets_the_credit_failure_type(api, error, failure_type):
    add_time(api)
    add_job(api, status=403, payload=error)
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.ACCOUNT and outcome.failure_type == failure_type


def test_bad_request_is_a_configuration_failure_with_the_message(api):
    add_time(api)
    add_job(api, status=400, payload={'class': 'Client::BadRequest',
                                      'message': 'Sender ACME does not exist'},
            headers={'X-OVH-QUERYID': 'EU.q400'})
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.MISCONFIGURED and outcome.core_failure_type == 'sms_acc'
    assert 'Sender ACME does not exist' in outcome.reason
    assert outcome.reason.endswith('(query id EU.q400)')


def test_bad_request_about_credit_is_an_account_error(api):
    add_time(api)
    add_job(api, status=400, payload={'class': 'Client::BadRequest',
                                      'message': 'Not enough credit'})
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.ACCOUNT and outcome.failure_type == 'sms_credit'


def test_rate_limit_carries_retry_after(api):
    add_time(api)
    add_job(api, status=429, payload={'class': 'Client::TooManyRequests',
                                      'message': 'Too many requests'},
            headers={'Retry-After': '17'})
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.PROVIDER and outcome.retry_after == 17.0 and outcome.throttled
    assert 'HTTP 429' in outcome.reason


def test_server_error_without_json_is_a_provider_error(api):
    add_time(api)
    add_job(api, status=502, body='<html><body>Bad gateway</body></html>',
            headers={'Retry-After': '5'})
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.PROVIDER and outcome.retry_after == 5.0 and not outcome.throttled
    assert outcome.reason.startswith('OVH: HTTP 502 ') and 'Bad gateway' in outcome.reason


def test_broken_json_on_success_is_ambiguous(api):
    add_time(api)
    add_job(api, body='{"ids": [1], "validRecei', headers={'X-OVH-QUERYID': 'EU.q7'})
    outcome = make_client().send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert 'invalid JSON' in outcome.reason and 'query id EU.q7' in outcome.reason


def test_success_without_receiver_lists_is_ambiguous(api):
    add_time(api)
    add_job(api, payload={'ids': [1]})
    assert make_client().send(make_request()).outcomes['uuid-0'].kind is OutcomeKind.AMBIGUOUS


def test_read_timeout_after_sending_is_ambiguous(api):
    add_time(api)
    api.add(responses.POST, JOBS_URL, body=requests.exceptions.ReadTimeout())
    outcome = make_client(timeout=3).send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.AMBIGUOUS and outcome.reason.startswith('OVH: ')


def test_connection_refused_is_a_provider_error(api):
    closed = 'http://127.0.0.1:9/1.0'           # discard port, closed on loopback
    add_time(api, url=f'{closed}/auth/time')
    api.add_passthru(f'{closed}/sms')
    outcome = make_client(base_url=closed).send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.reason == 'OVH: connection refused or host unreachable'


def test_connection_refused_while_reading_the_time(api):
    closed = 'http://127.0.0.1:9/1.0'
    api.add_passthru(closed)
    outcome = make_client(base_url=closed).send(make_request()).outcomes['uuid-0']
    assert outcome.kind is OutcomeKind.PROVIDER and 'nothing was sent' in outcome.reason


# Configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize('values, fragment', [
    ({'application_key': ''}, 'application key'),
    ({'application_secret': None}, 'application secret'),
    ({'consumer_key': ''}, 'consumer key'),
    ({'service_name': ''}, 'SMS service name'),
    ({'sender': '', 'sender_for_response': False}, 'sender'),
    ({'region': 'ovh-mars'}, "unknown region 'ovh-mars'"),
])
def test_misconfiguration_makes_no_call(api, values, fragment):
    client = make_client(**values)
    assert fragment in client.check_configuration()
    result = client.send(make_request('+33612345678', '+33698765432'))
    assert len(api.calls) == 0
    for outcome in result.outcomes.values():
        assert outcome.kind is OutcomeKind.MISCONFIGURED
        assert outcome.reason.startswith('OVH: ') and fragment in outcome.reason


def test_complete_configuration(api):
    assert make_client().check_configuration() is None
    assert make_client(sender='', sender_for_response=True).check_configuration() is None
    assert make_client(region='ovh-ca').base_url == 'https://ca.api.ovh.com/1.0'
    assert make_client(region='ovh-us').base_url == 'https://api.us.ovhcloud.com/1.0'
    assert make_client(base_url='http://sandbox/1.0/').base_url == 'http://sandbox/1.0'


def test_empty_request_makes_no_call(api):
    assert make_client().send(SendRequest(body='x', recipients=())).outcomes == {}
    assert len(api.calls) == 0


# Look-ups --------------------------------------------------------------------------------


def test_fetch_credit(api):
    add_time(api)
    api.add(responses.GET, f'{BASE}/sms/{SERVICE}',
            json={'name': SERVICE, 'creditsLeft': 19.84, 'status': 'enable'})
    assert make_client().fetch_credit() == {'credit_balance': 19.84}
    request = calls_to(api, f'{BASE}/sms/{SERVICE}')[0].request
    assert request.body is None
    assert request.headers['X-Ovh-Signature'] == sign(
        APP_SECRET, CONSUMER_KEY, 'GET', request.url, '', request.headers['X-Ovh-Timestamp'])


def test_fetch_credit_errors_name_the_query(api):
    add_time(api)
    api.add(responses.GET, f'{BASE}/sms/{SERVICE}', status=404,
            json={'class': 'Client::NotFound', 'message': 'This service does not exist'},
            headers={'X-OVH-QUERYID': 'EU.q404'})
    with pytest.raises(OvhError) as caught:
        make_client().fetch_credit()
    assert caught.value.status == 404 and caught.value.query_id == 'EU.q404'
    assert 'This service does not exist' in str(caught.value)
    assert 'query id EU.q404' in str(caught.value)


def test_fetch_credit_without_field(api):
    add_time(api)
    api.add(responses.GET, f'{BASE}/sms/{SERVICE}', json={'name': SERVICE})
    with pytest.raises(OvhError, match='creditsLeft'):
        make_client().fetch_credit()


def test_list_services(api):
    add_time(api)
    api.add(responses.GET, f'{BASE}/sms', json=['sms-ab12345-1', 'sms-ab12345-2'])
    assert make_client(service_name='').list_services() == ['sms-ab12345-1', 'sms-ab12345-2']


def test_list_services_transport_failure(api):
    add_time(api)
    api.add(responses.GET, f'{BASE}/sms', body=requests.exceptions.ReadTimeout())
    with pytest.raises(OvhError, match='^OVH: no answer'):
        make_client().list_services()


def test_look_ups_need_credentials(api):
    with pytest.raises(OvhError, match='consumer key'):
        make_client(consumer_key='').list_services()
    with pytest.raises(OvhError, match='service name'):
        make_client(service_name='').fetch_credit()
    assert len(api.calls) == 0


@pytest.mark.parametrize('receipt, delivery', [
    (1, 'delivered'), (2, 'undelivered'), (16, 'undelivered'), (4, 'pending'),
    (8, 'pending'), (0, 'pending'), (None, 'pending'),
])
def test_fetch_outgoing(api, receipt, delivery):
    add_time(api)
    record = {'id': 123, 'receiver': '+33612345678', 'deliveryReceipt': receipt, 'ptt': 0}
    api.add(responses.GET, f'{BASE}/sms/{SERVICE}/outgoing/123', json=record)
    outgoing = make_client().fetch_outgoing(123)
    assert outgoing == dict(record, delivery=delivery)


def test_look_up_retries_once_on_signature_error(api):
    add_time(api)
    add_time(api)
    api.add(responses.GET, f'{BASE}/sms', status=400,
            json={'errorCode': 'INVALID_SIGNATURE', 'message': 'Invalid signature'})
    api.add(responses.GET, f'{BASE}/sms', json=[SERVICE])
    assert make_client().list_services() == [SERVICE]
    assert len(calls_to(api, f'{BASE}/sms')) == 2


# Secrets ---------------------------------------------------------------------------------


def test_secrets_never_reach_reasons_or_logs(api, caplog):
    caplog.set_level(logging.DEBUG)
    add_time(api)
    leaky = {'errorCode': 'INVALID_CREDENTIAL',
             'message': f'Invalid ConsumerKey {CONSUMER_KEY} for secret {APP_SECRET}'}
    add_job(api, status=403, payload=leaky, headers={'X-OVH-QUERYID': 'EU.q9'})
    api.add(responses.GET, f'{BASE}/sms/{SERVICE}', status=403, json=leaky)
    client = make_client()
    reasons = [outcome.reason for outcome in client.send(make_request()).outcomes.values()]
    with pytest.raises(OvhError) as caught:
        client.fetch_credit()
    reasons.append(str(caught.value))
    add_job(api, payload=job_answer(['+33612345678']))
    reasons += [outcome.reason for outcome in client.send(make_request()).outcomes.values()]
    reasons += [outcome.reason for outcome in
                make_client(service_name='').send(make_request()).outcomes.values()]
    texts = reasons + [record.getMessage() for record in caplog.records]
    assert caplog.records, 'the client is expected to log its failures'
    for text in texts:
        assert APP_SECRET not in text and CONSUMER_KEY not in text
    assert '***' in reasons[0] and 'query id EU.q9' in reasons[0]


# ---------------------------------------------------------------------- validity


@pytest.mark.parametrize('account_validity, request_validity, expected', [
    (None, 299, 4),            # 4 min 59 s left: 4 minutes, rounded down
    (None, 60, 1),
    (2880, 3600, 60),          # the SMS's, shorter than the account's
    (30, 3600, 30),            # the account's, shorter than the SMS's
    (60, None, 60),            # no validity on the SMS: the account's
])
def test_validity_period_in_whole_minutes_rounded_down(api, account_validity, request_validity, expected):
    add_time(api)
    add_job(api, payload=job_answer(('+33612345678',), ids=[11]))
    request = make_request()
    request = SendRequest(request.body, request.recipients, validity=request_validity)
    make_client(validity_period=account_validity).send(request)
    assert sent_json(calls_to(api, JOBS_URL)[0])['validityPeriod'] == expected


def test_no_validity_period_without_one_on_account_or_sms(api):
    add_time(api)
    add_job(api, payload=job_answer(('+33612345678',), ids=[11]))
    make_client().send(make_request())
    assert 'validityPeriod' not in sent_json(calls_to(api, JOBS_URL)[0])


def test_ovh_validity_range_is_at_least_one_minute():
    assert OvhClient.validity_range == (60, None)


# What each SMS cost ---------------------------------------------------------------------


def test_split_credits_adds_up_to_the_job_exactly():
    from decimal import Decimal
    split = module.split_credits
    assert split(3, [1, 1, 1]) == [Decimal(1)] * 3
    thirds = split(1, [1, 1, 1])
    assert thirds == [Decimal('0.3334'), Decimal('0.3333'), Decimal('0.3333')]
    assert sum(thirds) == 1
    # In proportion to the parts: a 2-part SMS takes twice the share of a 1-part one.
    assert split(4.5, [2, 1]) == [Decimal('3'), Decimal('1.5')]
    # Finer than the quantum: what is left goes to the first share, the sum stays exact.
    fine = split(Decimal('0.00005'), [1, 1])
    assert sum(fine) == Decimal('0.00005') and fine[1] == 0
    assert split(2, [0, 0]) == [Decimal(1), Decimal(1)]
    assert split(2, []) == []


@pytest.mark.parametrize('credits, count', [(1, 3), (7, 3), (2.5, 7), (0.1, 6), (1000, 499)])
def test_split_credits_is_exact_for_any_job(credits, count):
    from decimal import Decimal
    shares = module.split_credits(credits, [1] * count)
    assert sum(shares) == Decimal(str(credits))
    assert max(shares) - min(shares) <= module.CREDIT_QUANTUM


def test_each_sent_receiver_gets_its_share_of_the_credits(api):
    """totalCreditsRemoved is split over the receivers OVH sent to, never to refused ones."""
    add_time(api)
    numbers = ('+33612345678', '+33698765432', '+33611111111', '+33600000000')
    add_job(api, payload=job_answer(numbers[:3], invalid=numbers[3:], credits=1))
    result = make_client().send(make_request(*numbers))
    shares = [result.outcomes[f'uuid-{i}'].credits for i in range(3)]
    assert shares == [0.3334, 0.3333, 0.3333]
    assert result.outcomes['uuid-3'].kind is OutcomeKind.RECIPIENT
    assert result.outcomes['uuid-3'].credits is None
    # Credits, not money: the ledger converts them with the account's credit value.
    assert all(outcome.price is None and outcome.price_currency == ''
               for outcome in result.outcomes.values())
    assert result.account_updates == {'credits_removed': 1.0}


def test_long_sms_credits_are_shared_per_receiver(api):
    add_time(api)
    numbers = ('+33612345678', '+33698765432')
    add_job(api, payload=job_answer(numbers, credits=6))       # 3 parts each
    result = make_client().send(make_request(*numbers, body='x' * 400))
    assert [result.outcomes[f'uuid-{i}'].credits for i in range(2)] == [3.0, 3.0]


@pytest.mark.parametrize('credits', [None, 'lots', True, -1, float('nan')])
def test_job_without_usable_credits_reports_none(api, credits):
    add_time(api)
    payload = job_answer(['+33612345678'])
    if credits is None:
        del payload['totalCreditsRemoved']
    else:
        payload['totalCreditsRemoved'] = credits
    add_job(api, body=json.dumps(payload))
    result = make_client().send(make_request('+33612345678'))
    assert result.outcomes['uuid-0'].kind is OutcomeKind.SENT
    assert result.outcomes['uuid-0'].credits is None
    assert 'credits_removed' not in result.account_updates
