"""The Sweego client against a mocked api.sweego.io: request shape and every answer class."""
import json
import logging
import socket

import pytest
import requests
import responses
import urllib3.exceptions

from addons.sms_router.engine.outcomes import OutcomeKind, Recipient, SendRequest
from addons.sms_router_sweego.tools.sweego_client import SweegoClient, SweegoError

BASE = 'https://api.sweego.io'
SEND_URL = f'{BASE}/send'
API_KEY = 'swg-test-key-5f1c9a7e2b'
CLIENT_UUID = 'de1bbe6f-4103-47b1-8f69-94856aaba3fc'
CREDIT_URL = f'{BASE}/clients/{CLIENT_UUID}/billing/credits/sms'

FRANCE = Recipient('sms-fr', '+33674185708', 'FR')
BELGIUM = Recipient('sms-be', '+32471234567', 'BE')
SWITZERLAND = Recipient('sms-ch', '+41791234567', 'CH')


def make_client(**values):
    return SweegoClient(API_KEY, CLIENT_UUID, **values)


def make_request(*recipients, marketing=False, body='Your order S00042 is confirmed.'):
    return SendRequest(body, tuple(recipients or (FRANCE,)), marketing=marketing)


def accepted(uids, transaction_id='tx-1', credit_left='19.84'):
    return {'transaction_id': transaction_id, 'swg_uids': uids, 'credit_left': credit_left,
            'channel': 'sms', 'provider': 'sweego'}


def sent_body(call_index=0):
    return json.loads(responses.calls[call_index].request.body)


def send_with(status, payload=None, body=None, headers=None, recipients=(FRANCE,), **values):
    """Send one request against a single mocked answer; return the BatchResult."""
    kwargs = {'json': payload} if payload is not None else {'body': body or ''}
    responses.add(responses.POST, SEND_URL, status=status, headers=headers, **kwargs)
    return make_client(**values).send(make_request(*recipients))


# -- a successful send ---------------------------------------------------------------------

@responses.activate
def test_batch_is_one_call_with_the_documented_body_and_headers():
    # Sweego answers in its own number format and order: mapping must not rely on either.
    responses.add(responses.POST, SEND_URL, status=200, json=accepted({
        '0041791234567': '03-ch-uid', '0033674185708': '03-fr-uid', '0032471234567': '03-be-uid',
    }))
    result = make_client().send(make_request(FRANCE, BELGIUM, SWITZERLAND))

    assert len(responses.calls) == 1
    request = responses.calls[0].request
    assert request.method == 'POST'
    assert request.headers['Api-Key'] == API_KEY
    assert request.headers['Content-Type'] == 'application/json'
    assert isinstance(request.body, bytes)
    assert sent_body() == {
        'channel': 'sms',
        'provider': 'sweego',
        'campaign-type': 'transac',
        'recipients': [{'num': '+33674185708', 'region': 'FR'},
                       {'num': '+32471234567', 'region': 'BE'},
                       {'num': '+41791234567', 'region': 'CH'}],
        'message-txt': 'Your order S00042 is confirmed.',
        'shorten-urls': False,
    }
    assert {key: (o.kind, o.message_id, o.batch_id) for key, o in result.outcomes.items()} == {
        'sms-fr': (OutcomeKind.SENT, '03-fr-uid', 'tx-1'),
        'sms-be': (OutcomeKind.SENT, '03-be-uid', 'tx-1'),
        'sms-ch': (OutcomeKind.SENT, '03-ch-uid', 'tx-1'),
    }
    assert result.account_updates == {'credit_balance': 19.84}


def test_client_declares_itself_as_a_list_taking_sweego_client():
    assert SweegoClient.provider == 'sweego'
    assert SweegoClient.max_recipients_per_request > 1


@responses.activate
@pytest.mark.parametrize('default_type, marketing, expected', [
    ('transac', False, 'transac'),
    ('transac', True, 'market'),
    ('market', False, 'market'),
])
def test_campaign_type_follows_the_request_then_the_account(default_type, marketing, expected):
    responses.add(responses.POST, SEND_URL, json=accepted({'0033674185708': 'uid'}))
    make_client(campaign_type=default_type).send(make_request(marketing=marketing))
    assert sent_body()['campaign-type'] == expected


@responses.activate
def test_sender_id_and_url_shortening_are_sent_when_configured():
    responses.add(responses.POST, SEND_URL, json=accepted({'0033674185708': 'uid'}))
    make_client(sender_id='MANGONO', shorten_urls=True).send(make_request())
    body = sent_body()
    assert body['sender-id'] == 'MANGONO'
    assert body['shorten-urls'] is True


@responses.activate
def test_unknown_region_is_left_out_rather_than_guessed():
    responses.add(responses.POST, SEND_URL, json=accepted({'0033674185708': 'uid'}))
    make_client().send(make_request(Recipient('sms-x', '+33674185708', '')))
    assert sent_body()['recipients'] == [{'num': '+33674185708'}]


@responses.activate
def test_number_without_an_id_in_a_200_is_a_provider_failure():
    result = send_with(200, accepted({'0033674185708': '03-fr-uid'}), recipients=(FRANCE, BELGIUM))
    assert result.outcomes['sms-fr'].kind is OutcomeKind.SENT
    missing = result.outcomes['sms-be']
    assert missing.kind is OutcomeKind.PROVIDER
    assert missing.reason == ('Sweego: HTTP 200: accepted the request but returned no id '
                              'for this number')


@responses.activate
def test_ids_we_cannot_attribute_make_the_missing_number_ambiguous():
    # An id under an unexpected number means something was sent that we cannot place.
    result = send_with(200, accepted({'0033674185708': 'fr', '0099999999': 'stray'}),
                       recipients=(FRANCE, BELGIUM))
    assert result.outcomes['sms-fr'].kind is OutcomeKind.SENT
    assert result.outcomes['sms-be'].kind is OutcomeKind.AMBIGUOUS


@responses.activate
def test_accepted_send_is_logged_with_transaction_and_uids(caplog):
    caplog.set_level(logging.INFO)
    send_with(200, accepted({'0033674185708': '03-fr-uid'}, transaction_id='18801d91'))
    messages = ' '.join(record.getMessage() for record in caplog.records)
    assert '18801d91' in messages and '03-fr-uid' in messages


# -- refusals ------------------------------------------------------------------------------

@responses.activate
@pytest.mark.parametrize('status', [401, 403])
def test_rejected_credentials_are_an_account_failure(status):
    result = send_with(status, {'detail': 'Invalid API key'}, recipients=(FRANCE, BELGIUM))
    for outcome in result.outcomes.values():
        assert outcome.kind is OutcomeKind.ACCOUNT
        assert outcome.reason == f'Sweego: HTTP {status}: Invalid API key'
        assert outcome.core_failure_type == 'sms_acc'


@responses.activate
@pytest.mark.parametrize('status, payload', [
    (402, {'detail': 'Payment required'}),
    (400, {'detail': 'Insufficient credit to send this campaign'}),
    (403, {'message': 'Not enough SMS credits'}),
])
def test_credit_shortage_is_an_account_failure_typed_sms_credit(status, payload):
    outcome = send_with(status, payload).outcomes['sms-fr']
    assert outcome.kind is OutcomeKind.ACCOUNT
    assert outcome.failure_type == 'sms_credit'
    assert outcome.reason.startswith(f'Sweego: HTTP {status}: ')


@responses.activate
def test_422_on_one_recipient_fails_it_and_resends_the_others_once():
    responses.add(responses.POST, SEND_URL, status=422, json={'detail': [
        {'loc': ['body', 'recipients', 1, 'num'], 'msg': 'value is not a valid phone number',
         'type': 'value_error'},
    ]})
    responses.add(responses.POST, SEND_URL, status=200, json=accepted(
        {'0033674185708': 'fr-uid', '0041791234567': 'ch-uid'}, transaction_id='tx-2',
        credit_left='18.50'))
    result = make_client().send(make_request(FRANCE, BELGIUM, SWITZERLAND))

    assert len(responses.calls) == 2
    assert [entry['num'] for entry in sent_body(1)['recipients']] == ['+33674185708',
                                                                      '+41791234567']
    rejected = result.outcomes['sms-be']
    assert rejected.kind is OutcomeKind.RECIPIENT
    assert rejected.failure_type == 'sms_number_format'
    assert rejected.reason == ('Sweego: HTTP 422: body.recipients.1.num: '
                               'value is not a valid phone number')
    assert (result.outcomes['sms-fr'].kind, result.outcomes['sms-fr'].message_id) == (OutcomeKind.SENT,
                                                                                      'fr-uid')
    assert result.outcomes['sms-ch'].batch_id == 'tx-2'
    assert result.account_updates == {'credit_balance': 18.5}


@responses.activate
def test_422_resend_happens_once_and_never_loops():
    def reject(index):
        return {'detail': [{'loc': ['body', 'recipients', index, 'num'], 'msg': 'invalid',
                            'type': 'value_error'}]}
    responses.add(responses.POST, SEND_URL, status=422, json=reject(0))
    responses.add(responses.POST, SEND_URL, status=422, json=reject(0))
    responses.add(responses.POST, SEND_URL, status=200, json=accepted({'0041791234567': 'x'}))
    result = make_client().send(make_request(FRANCE, BELGIUM, SWITZERLAND))

    assert len(responses.calls) == 2
    assert result.outcomes['sms-fr'].kind is OutcomeKind.RECIPIENT
    assert result.outcomes['sms-be'].kind is OutcomeKind.RECIPIENT   # index 0 of the resend
    left = result.outcomes['sms-ch']
    assert left.kind is OutcomeKind.ACCOUNT
    assert 'rejected because of another recipient' in left.reason


@responses.activate
def test_422_on_every_recipient_makes_no_resend():
    result = send_with(422, {'detail': [
        {'loc': ['body', 'recipients', 0, 'num'], 'msg': 'invalid', 'type': 'value_error'},
        {'loc': ['body', 'recipients', 1], 'msg': 'invalid region', 'type': 'value_error'},
    ]}, recipients=(FRANCE, BELGIUM))
    assert len(responses.calls) == 1
    assert {o.kind for o in result.outcomes.values()} == {OutcomeKind.RECIPIENT}


@responses.activate
def test_422_on_the_request_itself_fails_every_recipient_on_the_account():
    result = send_with(422, {'detail': [
        {'loc': ['body', 'sender-id'], 'msg': 'sender id not allowed', 'type': 'value_error'},
    ]}, recipients=(FRANCE, BELGIUM))
    assert len(responses.calls) == 1
    for outcome in result.outcomes.values():
        assert outcome.kind is OutcomeKind.ACCOUNT
        assert outcome.reason == 'Sweego: HTTP 422: body.sender-id: sender id not allowed'


@responses.activate
def test_422_mixing_request_and_recipient_errors_makes_no_resend():
    result = send_with(422, {'detail': [
        {'loc': ['body', 'recipients', 0, 'num'], 'msg': 'invalid', 'type': 'value_error'},
        {'loc': ['body', 'campaign-type'], 'msg': 'bad type', 'type': 'value_error'},
    ]}, recipients=(FRANCE, BELGIUM))
    assert len(responses.calls) == 1
    assert result.outcomes['sms-fr'].kind is OutcomeKind.RECIPIENT
    assert result.outcomes['sms-be'].kind is OutcomeKind.ACCOUNT
    assert 'bad type' in result.outcomes['sms-be'].reason


@responses.activate
def test_413_is_a_provider_failure():
    assert send_with(413, body='too large').outcomes['sms-fr'].kind is OutcomeKind.PROVIDER


@responses.activate
def test_429_is_a_provider_failure_carrying_retry_after():
    outcome = send_with(429, {'detail': 'Too many requests'},
                        headers={'Retry-After': '30'}).outcomes['sms-fr']
    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.retry_after == 30.0 and outcome.throttled
    assert outcome.reason == 'Sweego: HTTP 429: Too many requests'


@responses.activate
@pytest.mark.parametrize('status', [500, 502, 503])
def test_server_errors_are_provider_failures(status):
    outcome = send_with(status, body='<html>Service Unavailable</html>').outcomes['sms-fr']
    assert outcome.kind is OutcomeKind.PROVIDER and not outcome.throttled
    assert outcome.reason == f'Sweego: HTTP {status}'


@responses.activate
@pytest.mark.parametrize('status, kind', [(200, OutcomeKind.AMBIGUOUS), (500, OutcomeKind.PROVIDER),
                                          (401, OutcomeKind.ACCOUNT)])
def test_broken_json_is_ambiguous_on_success_and_classified_by_status_otherwise(status, kind):
    outcome = send_with(status, body='{"transaction_id": "tx-1", "swg_').outcomes['sms-fr']
    assert outcome.kind is kind
    assert outcome.reason.startswith(f'Sweego: HTTP {status}')
    if status == 200:
        assert 'invalid JSON' in outcome.reason


@responses.activate
def test_success_without_swg_uids_is_ambiguous():
    outcome = send_with(200, {'transaction_id': 'tx-1', 'credit_left': '3'}).outcomes['sms-fr']
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert outcome.reason == ('Sweego: HTTP 200 with no swg_uids in the answer; '
                              'the request may have been processed')


# -- transport -----------------------------------------------------------------------------

def test_connection_refused_is_a_clean_provider_failure():
    with socket.socket() as probe:       # a loopback port nobody listens on any more
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f'http://127.0.0.1:{port}', timeout=2)
    outcome = client.send(make_request()).outcomes['sms-fr']
    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.reason == 'Sweego: connection refused or host unreachable'


@responses.activate
def test_connection_error_before_connecting_is_a_provider_failure():
    never_connected = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, SEND_URL, urllib3.exceptions.NewConnectionError(None, 'refused')))
    responses.add(responses.POST, SEND_URL, body=never_connected)
    assert make_client().send(make_request()).outcomes['sms-fr'].kind is OutcomeKind.PROVIDER


@responses.activate
def test_read_timeout_after_sending_is_ambiguous():
    responses.add(responses.POST, SEND_URL, body=requests.exceptions.ReadTimeout())
    outcome = make_client(timeout=3).send(make_request()).outcomes['sms-fr']
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert outcome.reason == 'Sweego: no answer within 3 s after the request was sent'


# -- configuration -------------------------------------------------------------------------

@responses.activate
@pytest.mark.parametrize('api_key, client_uuid, named', [
    ('', CLIENT_UUID, 'missing API key'),
    (API_KEY, None, 'missing client UUID'),
    ('  ', '', 'missing API key and client UUID'),
])
def test_missing_configuration_fails_every_recipient_without_any_call(api_key, client_uuid, named):
    client = SweegoClient(api_key, client_uuid)
    assert client.check_configuration() == named
    result = client.send(make_request(FRANCE, BELGIUM))
    assert len(responses.calls) == 0
    for outcome in result.outcomes.values():
        assert outcome.kind is OutcomeKind.MISCONFIGURED
        assert outcome.reason == f'Sweego: {named}'


def test_unknown_campaign_type_is_a_configuration_problem():
    assert 'campaign type' in make_client(campaign_type='promo').check_configuration()
    assert make_client().check_configuration() is None


# -- credit --------------------------------------------------------------------------------

@responses.activate
def test_fetch_credit_reads_the_billing_endpoint():
    responses.add(responses.GET, CREDIT_URL, json={
        'type': 'prepaid', 'amount': '19.84', 'termination_date': '2026-12-31T23:59:59'})
    client = make_client()
    assert client.fetch_credit() == {'credit_balance': 19.84, 'credit_expiry': '2026-12-31',
                                     'credit_type': 'prepaid'}
    assert responses.calls[0].request.headers['Api-Key'] == API_KEY
    assert client.test_connection()['credit_balance'] == 19.84


@responses.activate
def test_fetch_credit_without_expiry():
    responses.add(responses.GET, CREDIT_URL, json={'type': 'subscription', 'amount': 250})
    assert make_client().fetch_credit() == {'credit_balance': 250.0, 'credit_expiry': None,
                                            'credit_type': 'subscription'}


@responses.activate
@pytest.mark.parametrize('answer, expected', [
    ({'status': 401, 'json': {'detail': 'Invalid API key'}}, 'HTTP 401: Invalid API key'),
    ({'status': 200, 'body': 'not json'}, 'invalid JSON'),
    ({'status': 200, 'json': {'type': 'prepaid'}}, 'no amount'),
    ({'body': requests.exceptions.ConnectTimeout()}, 'connection timed out'),
])
def test_fetch_credit_failures_raise_sweego_error(answer, expected):
    responses.add(responses.GET, CREDIT_URL, **answer)
    with pytest.raises(SweegoError, match=expected):
        make_client().fetch_credit()


@responses.activate
def test_fetch_credit_needs_the_client_uuid_and_makes_no_call_without_it():
    with pytest.raises(SweegoError, match='client UUID'):
        SweegoClient(API_KEY, '').fetch_credit()
    assert len(responses.calls) == 0


# -- secrecy -------------------------------------------------------------------------------

@responses.activate
def test_api_key_never_appears_in_reasons_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    answers = [
        {'status': 200, 'json': accepted({'0033674185708': 'uid'})},
        {'status': 401, 'json': {'detail': f'Invalid API key {API_KEY}'}},
        {'status': 422, 'json': {'detail': [{'loc': ['body', 'api'], 'msg': API_KEY}]}},
        {'status': 500, 'body': API_KEY},
        {'body': requests.exceptions.ReadTimeout()},
    ]
    for answer in answers:      # answered in this order, one per send
        responses.add(responses.POST, SEND_URL, **answer)
    reasons = [outcome.reason for _ in answers
               for outcome in client.send(make_request()).outcomes.values()]
    responses.add(responses.GET, CREDIT_URL, status=403, json={'detail': f'bad key {API_KEY}'})
    with pytest.raises(SweegoError) as failure:
        client.fetch_credit()
    reasons.append(str(failure.value))

    assert len(responses.calls) == len(answers) + 1
    assert 'Sweego: HTTP 401: Invalid API key ***' in reasons
    assert all(API_KEY not in reason for reason in reasons)
    assert caplog.records
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
