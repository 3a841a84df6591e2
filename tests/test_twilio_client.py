"""Twilio client: request shape, classification of every answer, configuration, secrets."""
import base64
import logging
from urllib.parse import parse_qs, parse_qsl

import pytest
import requests
import responses
from responses import matchers

from addons.sms_router.engine.outcomes import OutcomeKind, Recipient, SendRequest
from addons.sms_router_twilio.tools import twilio_client
from addons.sms_router_twilio.tools.twilio_client import (
    MAX_BODY_LENGTH,
    TwilioClient,
    TwilioError,
    check_account_sid,
    check_api_key_sid,
    check_messaging_service_sid,
)

ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef'
AUTH_TOKEN = '9c1f5e0d2b7a4c6e8f0a1b2c3d4e5f60'
API_KEY_SID = 'SKfedcba9876543210fedcba9876543210'
API_KEY_SECRET = 'Zq7SecretKeyValue0000000000000000'
MESSAGING_SERVICE_SID = 'MG00112233445566778899aabbccddeeff'
BASE = 'https://api.twilio.com/2010-04-01'
MESSAGES_URL = f'{BASE}/Accounts/{ACCOUNT_SID}/Messages.json'
ACCOUNT_URL = f'{BASE}/Accounts/{ACCOUNT_SID}.json'
NUMBERS_URL = f'{BASE}/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json'
MESSAGE_SID = 'SM0123456789abcdef0123456789abcdef'
CALLBACK_BASE = 'https://odoo.example.com/sms_router_twilio/status'

FROM_NUMBERS = (('+15005550006', 'US'), ('+33757000000', 'FR'), ('+447700900123', 'GB'))
FR = Recipient('key-fr', '+33612345678', 'FR')
US = Recipient('key-us', '+12015550123', 'US')


def make_client(**overrides):
    values = dict(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_numbers=FROM_NUMBERS)
    values.update(overrides)
    return TwilioClient(**values)


def send_one(client, recipient=FR, body='Your appointment is confirmed.'):
    result = client.send(SendRequest(body, (recipient,)))
    assert set(result.outcomes) == {recipient.key}
    return result.outcomes[recipient.key]


def sent_form(call_index=-1):
    return dict(parse_qsl(responses.calls[call_index].request.body, keep_blank_values=True))


def basic(user, password):
    return 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()


def created(sid=MESSAGE_SID, status='queued'):
    return {'sid': sid, 'status': status, 'to': FR.number, 'error_code': None}


def twilio_error(code, message, status=400):
    return {
        'code': code,
        'message': message,
        'more_info': f'https://www.twilio.com/docs/errors/{code}',
        'status': status,
    }


# ---------------------------------------------------------------------- request shape


@responses.activate
def test_send_posts_one_form_encoded_message_with_basic_auth():
    responses.post(MESSAGES_URL, json=created(), status=201)
    client = make_client(
        status_callback=lambda key: f'{CALLBACK_BASE}/{key}',
        validity_period=600,
    )

    outcome = send_one(client)

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.message_id == MESSAGE_SID
    assert len(responses.calls) == 1
    request = responses.calls[0].request
    assert request.method == 'POST'
    assert request.url == MESSAGES_URL
    assert request.headers['Authorization'] == basic(ACCOUNT_SID, AUTH_TOKEN)
    assert request.headers['Content-Type'] == 'application/x-www-form-urlencoded'
    assert parse_qs(request.body) == {
        'To': ['+33612345678'],
        'Body': ['Your appointment is confirmed.'],
        'From': ['+33757000000'],
        'StatusCallback': [f'{CALLBACK_BASE}/key-fr'],
        'ValidityPeriod': ['600'],
    }


@responses.activate
def test_optional_fields_are_left_out_when_not_configured():
    responses.post(MESSAGES_URL, json=created(), status=201)
    client = make_client(status_callback=lambda key: None)

    assert send_one(client).kind is OutcomeKind.SENT
    assert set(sent_form()) == {'To', 'Body', 'From'}


@responses.activate
def test_200_is_a_success_too():
    responses.post(MESSAGES_URL, json=created(), status=200)
    assert send_one(make_client()).kind is OutcomeKind.SENT


@responses.activate
@pytest.mark.parametrize('recipient, expected_from', [
    (FR, '+33757000000'),
    (US, '+15005550006'),
    # Region unknown on the recipient: read from the number.
    (Recipient('key-x', '+33612345678', ''), '+33757000000'),
    # No number for the region: the first one.
    (Recipient('key-de', '+4915112345678', 'DE'), '+15005550006'),
    # Lower-case region still matches.
    (Recipient('key-gb', '+447400123456', 'gb'), '+447700900123'),
])
def test_from_number_is_chosen_by_recipient_region(recipient, expected_from):
    responses.post(MESSAGES_URL, json=created(), status=201)

    assert send_one(make_client(), recipient).kind is OutcomeKind.SENT
    assert sent_form()['From'] == expected_from


@responses.activate
def test_first_number_of_a_region_wins_and_countries_are_optional():
    responses.post(MESSAGES_URL, json=created(), status=201)
    client = make_client(from_numbers=['+15005550001', ('+33700000001', 'fr'), ('+33700000002', 'FR')])

    send_one(client, FR)
    assert sent_form()['From'] == '+33700000001'
    send_one(client, US)
    assert sent_form()['From'] == '+15005550001'


@responses.activate
def test_messaging_service_replaces_from():
    responses.post(MESSAGES_URL, json=created(status='accepted'), status=201)
    client = make_client(messaging_service_sid=MESSAGING_SERVICE_SID)

    outcome = send_one(client)

    assert outcome.kind is OutcomeKind.SENT
    form = sent_form()
    assert form['MessagingServiceSid'] == MESSAGING_SERVICE_SID
    assert 'From' not in form


@responses.activate
def test_api_key_pair_is_used_for_basic_auth():
    responses.post(MESSAGES_URL, json=created(), status=201)
    client = make_client(auth_token=None, api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET)

    assert send_one(client).kind is OutcomeKind.SENT
    # The URL keeps the account SID; only the credentials change.
    assert responses.calls[0].request.url == MESSAGES_URL
    assert responses.calls[0].request.headers['Authorization'] == basic(API_KEY_SID, API_KEY_SECRET)


@responses.activate
def test_credentials_are_stripped_of_pasted_whitespace():
    responses.post(MESSAGES_URL, json=created(), status=201)
    client = make_client(account_sid=f' {ACCOUNT_SID}\n', auth_token=f'{AUTH_TOKEN} ')

    assert send_one(client).kind is OutcomeKind.SENT
    assert responses.calls[0].request.headers['Authorization'] == basic(ACCOUNT_SID, AUTH_TOKEN)


@responses.activate
def test_custom_base_url_is_honoured():
    edge = 'https://api.dublin.ie1.twilio.com/2010-04-01/'
    responses.post(f'{edge}Accounts/{ACCOUNT_SID}/Messages.json', json=created(), status=201)

    assert send_one(make_client(base_url=edge)).kind is OutcomeKind.SENT


def test_one_recipient_per_request():
    client = make_client()
    assert client.provider == 'twilio'
    assert client.max_recipients_per_request == 1
    with pytest.raises(ValueError, match='one recipient per request'):
        client.send(SendRequest('hello', (FR, US)))


@responses.activate
def test_no_recipient_no_call():
    assert make_client().send(SendRequest('hello', ())).outcomes == {}
    assert len(responses.calls) == 0


# ---------------------------------------------------------------------- message checks


@responses.activate
def test_body_of_1600_characters_is_sent():
    responses.post(MESSAGES_URL, json=created(), status=201)
    assert send_one(make_client(), body='x' * MAX_BODY_LENGTH).kind is OutcomeKind.SENT


@responses.activate
def test_body_over_1600_characters_ends_the_chain_without_a_call():
    outcome = send_one(make_client(), body='x' * (MAX_BODY_LENGTH + 1))

    assert len(responses.calls) == 0
    assert outcome.kind is OutcomeKind.RECIPIENT
    assert outcome.kind.is_final
    assert outcome.core_failure_type == 'unknown'
    assert outcome.reason == 'Twilio: message longer than 1600 characters (1601); shorten it'


@responses.activate
@pytest.mark.parametrize('body', ['', '   '])
def test_empty_body_is_refused_without_a_call(body):
    outcome = send_one(make_client(), body=body)

    assert len(responses.calls) == 0
    assert outcome.kind is OutcomeKind.RECIPIENT
    assert outcome.core_failure_type == 'unknown'
    assert 'empty' in outcome.reason


@responses.activate
def test_missing_number_is_refused_without_a_call():
    outcome = send_one(make_client(), Recipient('key-none', '', ''))

    assert len(responses.calls) == 0
    assert outcome.kind is OutcomeKind.RECIPIENT
    assert outcome.core_failure_type == 'sms_number_missing'


# ---------------------------------------------------------------------- error classes


@responses.activate
@pytest.mark.parametrize('status, code, message, kind, failure_type', [
    (400, 21211, "The 'To' number +336 is not a valid phone number.", OutcomeKind.RECIPIENT, 'sms_number_format'),
    (400, 21614, "'To' number is not a valid mobile number", OutcomeKind.RECIPIENT, 'sms_number_format'),
    (400, 21265, "'To' number cannot be a Short Code", OutcomeKind.RECIPIENT, 'sms_number_format'),
    (400, 21604, "A 'To' phone number is required.", OutcomeKind.RECIPIENT, 'sms_number_missing'),
    (400, 21610, 'Attempt to send to unsubscribed recipient', OutcomeKind.OPTED_OUT, 'sms_optout'),
    (401, 20003, 'Authenticate', OutcomeKind.ACCOUNT, 'sms_acc'),
    (403, 20003, 'Permission Denied', OutcomeKind.ACCOUNT, 'sms_acc'),
    (400, 21408, 'Permission to send an SMS has not been enabled for the region', OutcomeKind.DESTINATION,
     'sms_country_not_supported'),
    (400, 21612, 'The To/From combination is not routable', OutcomeKind.DESTINATION, 'sms_country_not_supported'),
    (400, 21606, "The 'From' number is not SMS-capable for this destination", OutcomeKind.DESTINATION,
     'sms_country_not_supported'),
    (400, 21608, 'The number is unverified. Trial accounts cannot send to unverified numbers',
     OutcomeKind.DESTINATION, 'sms_country_not_supported'),
    (400, 21617, 'The concatenated message body exceeds the 1600 character limit', OutcomeKind.RECIPIENT,
     'unknown'),
    (400, 21212, "The 'From' number is not a valid phone number", OutcomeKind.ACCOUNT, 'sms_acc'),
    (404, 20404, 'The requested resource was not found', OutcomeKind.ACCOUNT, 'sms_acc'),
    (500, 20500, 'Internal Server Error', OutcomeKind.PROVIDER, 'sms_server'),
])
def test_twilio_error_codes_are_classified(status, code, message, kind, failure_type):
    responses.post(MESSAGES_URL, json=twilio_error(code, message, status), status=status)

    outcome = send_one(make_client())

    assert outcome.kind is kind
    assert outcome.core_failure_type == failure_type
    assert outcome.reason == f'Twilio: error {code} (HTTP {status}): {message}'
    assert outcome.message_id is None


@responses.activate
def test_destination_errors_fail_over_without_hurting_the_breaker():
    responses.post(MESSAGES_URL, json=twilio_error(21408, 'Region not enabled'), status=400)
    outcome = send_one(make_client())
    assert not outcome.kind.is_final
    assert not outcome.kind.counts_against_breaker


@responses.activate
def test_401_without_a_body_is_an_account_error():
    responses.post(MESSAGES_URL, body='', status=401)

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.ACCOUNT
    assert outcome.core_failure_type == 'sms_acc'
    assert outcome.reason == 'Twilio: error (HTTP 401)'


@responses.activate
def test_rate_limit_code_with_retry_after_seconds():
    responses.post(MESSAGES_URL, json=twilio_error(20429, 'Too Many Requests', 429), status=429,
                   headers={'Retry-After': '30'})

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.retry_after == 30.0 and outcome.throttled
    assert outcome.reason == 'Twilio: error 20429 (HTTP 429): Too Many Requests'


@responses.activate
def test_http_429_without_json_uses_retry_after_date(monkeypatch):
    now = 1_700_000_000.0
    monkeypatch.setattr('time.time', lambda: now)
    responses.post(MESSAGES_URL, body='slow down', status=429,
                   headers={'Retry-After': 'Tue, 14 Nov 2023 22:13:27 GMT'})  # now + 7 s

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.retry_after == pytest.approx(7.0) and outcome.throttled


@responses.activate
def test_rate_limit_code_without_retry_after():
    responses.post(MESSAGES_URL, json=twilio_error(20429, 'Too Many Requests', 400), status=400)

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.PROVIDER and outcome.throttled
    assert outcome.retry_after is None


@responses.activate
def test_server_error_with_retry_after_is_not_throttling():
    responses.post(MESSAGES_URL, body='down for maintenance', status=503, headers={'Retry-After': '300'})

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.PROVIDER and outcome.retry_after == 300.0
    assert not outcome.throttled


@responses.activate
@pytest.mark.parametrize('status, body', [
    (500, '{"code": 20500, "message": "Internal Server Error", "status": 500}'),
    (502, '<html><body>Bad gateway</body></html>'),
    (503, ''),
])
def test_5xx_is_a_provider_failure(status, body):
    responses.post(MESSAGES_URL, body=body, status=status)

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.reason.startswith('Twilio: error')
    assert f'(HTTP {status})' in outcome.reason
    assert '<html>' not in outcome.reason


@responses.activate
def test_broken_json_on_success_is_ambiguous():
    responses.post(MESSAGES_URL, body='{"sid": "SM01', status=201)

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert 'invalid JSON' in outcome.reason
    assert outcome.reason.startswith('Twilio: ')


@responses.activate
@pytest.mark.parametrize('payload', [{'status': 'queued'}, {'sid': None}, [MESSAGE_SID]])
def test_success_without_a_message_sid_is_ambiguous(payload):
    responses.post(MESSAGES_URL, json=payload, status=201)

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.AMBIGUOUS


@responses.activate
def test_broken_json_on_error_is_classified_by_status():
    responses.post(MESSAGES_URL, body='{"code": 2121', status=400)

    outcome = send_one(make_client())

    assert outcome.kind is OutcomeKind.ACCOUNT
    assert outcome.reason == 'Twilio: error (HTTP 400)'


@responses.activate
def test_long_twilio_message_is_shortened():
    responses.post(MESSAGES_URL, json=twilio_error(21212, 'word ' * 200), status=400)

    outcome = send_one(make_client())

    assert len(outcome.reason) < 400
    assert outcome.reason.endswith('…')


# ---------------------------------------------------------------------- transport failures


def test_connection_refused_is_a_clean_provider_failure():
    # Port 9 (discard) on loopback is closed on CI machines: the socket never opens.
    client = make_client(base_url='http://127.0.0.1:9/2010-04-01', timeout=2)

    outcome = send_one(client)

    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.reason == 'Twilio: connection refused or host unreachable'


@responses.activate
@pytest.mark.parametrize('error, kind', [
    (requests.exceptions.ReadTimeout('read timed out'), OutcomeKind.AMBIGUOUS),
    (requests.exceptions.ConnectTimeout('connect timed out'), OutcomeKind.PROVIDER),
    # A connection dropped after the request left: Twilio may have queued the SMS.
    (requests.exceptions.ConnectionError('Connection reset by peer'), OutcomeKind.AMBIGUOUS),
])
def test_transport_failures(error, kind):
    responses.post(MESSAGES_URL, body=error)

    outcome = send_one(make_client())

    assert outcome.kind is kind
    assert outcome.reason.startswith('Twilio: ')


# ---------------------------------------------------------------------- configuration


@responses.activate
@pytest.mark.parametrize('overrides, expected', [
    ({'account_sid': None}, 'the account SID is missing'),
    ({'account_sid': 'AC123'}, "the account SID is malformed: expected 'AC' followed by 32"),
    ({'auth_token': None}, 'no credentials'),
    ({'auth_token': None, 'api_key_sid': API_KEY_SID}, 'the API key SID is set without its secret'),
    ({'auth_token': None, 'api_key_secret': API_KEY_SECRET}, 'the API key secret is set without'),
    ({'api_key_sid': 'SK-not-a-key', 'api_key_secret': API_KEY_SECRET}, 'the API key SID is malformed'),
    ({'from_numbers': ()}, 'no sender'),
    ({'from_numbers': [('', 'FR')]}, 'no sender'),
    ({'messaging_service_sid': 'MG42'}, 'the Messaging Service SID is malformed'),
    ({'validity_period': 0}, 'the validity period must be'),
    ({'validity_period': 36001}, 'the validity period must be'),
    ({'validity_period': '600'}, 'the validity period must be'),
])
def test_misconfiguration_fails_every_recipient_without_a_call(overrides, expected):
    client = make_client(**overrides)

    problem = client.check_configuration()
    outcome = send_one(client)

    assert problem and expected in problem
    assert outcome.kind is OutcomeKind.MISCONFIGURED
    assert outcome.reason == f'Twilio: misconfigured: {problem}'
    assert len(responses.calls) == 0


def test_misconfiguration_lists_every_problem():
    client = TwilioClient(account_sid=None)
    problem = client.check_configuration()
    assert 'account SID is missing' in problem
    assert 'no credentials' in problem
    assert 'no sender' in problem


@pytest.mark.parametrize('overrides', [
    {},
    {'auth_token': None, 'api_key_sid': API_KEY_SID, 'api_key_secret': API_KEY_SECRET},
    {'from_numbers': (), 'messaging_service_sid': MESSAGING_SERVICE_SID},
    {'validity_period': 1},
    {'validity_period': 36000},
])
def test_complete_configurations(overrides):
    assert make_client(**overrides).check_configuration() is None


@pytest.mark.parametrize('check, prefix', [
    (check_account_sid, 'AC'),
    (check_api_key_sid, 'SK'),
    (check_messaging_service_sid, 'MG'),
])
def test_sid_validators(check, prefix):
    hex32 = '0123456789abcdef0123456789ABCDEF'
    assert check(prefix + hex32) is None
    assert 'missing' in check(None)
    assert 'missing' in check('')
    for bad in (prefix + hex32[:-1], prefix + hex32 + '0', prefix.lower() + hex32,
                'XX' + hex32, prefix + 'g' * 32, prefix + ' ' + hex32[1:], 12345):
        message = check(bad)
        assert message and 'malformed' in message
        assert f"'{prefix}' followed by 32 hexadecimal characters" in message
        # The value is never echoed: it may be a secret pasted in the wrong field.
        assert str(bad) not in message


# ---------------------------------------------------------------------- secrets


@responses.activate
def test_secrets_never_appear_in_reasons_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    clients = {
        AUTH_TOKEN: make_client(),
        API_KEY_SECRET: make_client(api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET),
    }
    reasons = []
    for secret, client in clients.items():
        answers = [
            # A hostile or buggy answer quoting the secret is redacted, not relayed.
            dict(json=twilio_error(20003, f'Authenticate with {secret}', 401), status=401),
            dict(json=twilio_error(21212, f'bad credentials {secret}'), status=400),
            dict(json=twilio_error(21211, 'Invalid To'), status=400),
            dict(json=twilio_error(20429, 'Too Many Requests', 429), status=429),
            dict(body='not json', status=201),
            dict(body=requests.exceptions.ReadTimeout('timed out')),
            dict(body='<html>oops</html>', status=503),
        ]
        for answer in answers:
            responses.reset()
            responses.post(MESSAGES_URL, **answer)
            reasons.append(send_one(client).reason)
        reasons.append(repr(client))
    reasons.append(send_one(make_client(account_sid='AC-wrong')).reason)

    secrets = (AUTH_TOKEN, API_KEY_SECRET, basic(ACCOUNT_SID, AUTH_TOKEN).split()[1],
               basic(API_KEY_SID, API_KEY_SECRET).split()[1])
    text = '\n'.join(reasons) + '\n' + caplog.text
    assert 'Authenticate with [redacted]' in text
    assert 'error 20003 (HTTP 401)' in caplog.text
    for secret in secrets:
        assert secret not in text


def test_secrets_in_error_of_account_calls_are_redacted():
    client = make_client()
    with responses.RequestsMock() as mock:
        mock.get(ACCOUNT_URL, json=twilio_error(20003, f'token {AUTH_TOKEN} refused', 401), status=401)
        with pytest.raises(TwilioError) as raised:
            client.fetch_account()
    assert AUTH_TOKEN not in str(raised.value)


# ---------------------------------------------------------------------- account calls


@responses.activate
def test_fetch_account():
    responses.get(ACCOUNT_URL, json={
        'sid': ACCOUNT_SID, 'friendly_name': 'Shop Ltd', 'status': 'active', 'type': 'Full',
        'auth_token': AUTH_TOKEN,
    })

    account = make_client().fetch_account()

    assert account == {'sid': ACCOUNT_SID, 'friendly_name': 'Shop Ltd', 'status': 'active', 'type': 'Full'}
    assert responses.calls[0].request.headers['Authorization'] == basic(ACCOUNT_SID, AUTH_TOKEN)


@responses.activate
@pytest.mark.parametrize('answer, kind, expected', [
    (dict(json=twilio_error(20003, 'Authenticate', 401), status=401), OutcomeKind.ACCOUNT,
     'Twilio: error 20003 (HTTP 401): Authenticate while fetching the account'),
    (dict(json=twilio_error(20404, 'The requested resource was not found', 404), status=404),
     OutcomeKind.ACCOUNT, 'error 20404 (HTTP 404)'),
    (dict(body='<html/>', status=500), OutcomeKind.PROVIDER, 'Twilio: error (HTTP 500) while fetching the account'),
    (dict(body='{"sid"', status=200), OutcomeKind.PROVIDER, 'invalid JSON'),
    (dict(body=requests.exceptions.ReadTimeout('slow')), OutcomeKind.AMBIGUOUS,
     'fetching the account failed: no answer'),
])
def test_fetch_account_failures_raise_a_clear_error(answer, kind, expected):
    responses.get(ACCOUNT_URL, **answer)

    with pytest.raises(TwilioError) as raised:
        make_client().fetch_account()

    assert expected in str(raised.value)
    assert raised.value.kind is kind


def test_fetch_account_without_credentials_makes_no_call():
    with responses.RequestsMock() as mock:
        with pytest.raises(TwilioError, match='no credentials'):
            make_client(auth_token=None).fetch_account()
        assert len(mock.calls) == 0


def test_fetch_account_connection_refused():
    client = make_client(base_url='http://127.0.0.1:9/2010-04-01', timeout=2)
    with pytest.raises(TwilioError, match='connection refused') as raised:
        client.fetch_account()
    assert raised.value.kind is OutcomeKind.PROVIDER


def incoming(number, sms=True):
    return {'phone_number': number, 'friendly_name': number,
            'capabilities': {'sms': sms, 'voice': True, 'mms': False}}


@responses.activate
def test_list_incoming_numbers_follows_pages():
    next_page = (f'/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json'
                 f'?PageSize=1000&Page=1&PageToken=PA42')
    responses.get(NUMBERS_URL, match=[matchers.query_param_matcher({'PageSize': '1000'})], json={
        'incoming_phone_numbers': [incoming('+33757000000'), incoming('+12015550123', sms=False)],
        'next_page_uri': next_page,
    })
    responses.get(NUMBERS_URL, match=[matchers.query_param_matcher(
        {'PageSize': '1000', 'Page': '1', 'PageToken': 'PA42'})], json={
        'incoming_phone_numbers': [incoming('+447400123456'), {'phone_number': None}, 'junk'],
        'next_page_uri': None,
    })

    numbers = make_client().list_incoming_numbers()

    assert numbers == [
        {'number': '+33757000000', 'country': 'FR', 'sms_capable': True},
        {'number': '+12015550123', 'country': 'US', 'sms_capable': False},
        {'number': '+447400123456', 'country': 'GB', 'sms_capable': True},
    ]
    assert len(responses.calls) == 2
    assert all(call.request.headers['Authorization'] == basic(ACCOUNT_SID, AUTH_TOKEN)
               for call in responses.calls)


@responses.activate
def test_list_incoming_numbers_is_bounded(monkeypatch):
    monkeypatch.setattr(twilio_client, 'INCOMING_NUMBERS_MAX_PAGES', 3)
    pages = iter(range(100))

    def endless(request):
        import json
        page = next(pages)
        return 200, {}, json.dumps({
            'incoming_phone_numbers': [incoming(f'+3375700000{page}')],
            'next_page_uri': f'/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json?Page={page + 1}',
        })

    responses.add_callback(responses.GET, NUMBERS_URL, callback=endless)

    numbers = make_client().list_incoming_numbers()

    assert len(numbers) == 3
    assert len(responses.calls) == 3


@responses.activate
def test_list_incoming_numbers_never_sends_credentials_to_another_host():
    responses.get(NUMBERS_URL, json={
        'incoming_phone_numbers': [incoming('+33757000000')],
        'next_page_uri': 'https://evil.example.com/collect',
    })

    numbers = make_client().list_incoming_numbers()

    assert [entry['number'] for entry in numbers] == ['+33757000000']
    assert len(responses.calls) == 1


@responses.activate
def test_list_incoming_numbers_failure():
    responses.get(NUMBERS_URL, json=twilio_error(20003, 'Authenticate', 401), status=401)
    with pytest.raises(TwilioError, match='while listing the phone numbers'):
        make_client().list_incoming_numbers()


# ---------------------------------------------------------------------- validity


@responses.activate
@pytest.mark.parametrize('account_validity, request_validity, expected', [
    (None, 299, '299'),        # the SMS's remaining validity
    (600, 299, '299'),         # shorter than the account's: the SMS's
    (120, 299, '120'),         # the account's is shorter: kept
    (600, None, '600'),        # no validity on the SMS: the account's
])
def test_validity_period_is_the_shortest_of_account_and_sms(account_validity, request_validity, expected):
    responses.post(MESSAGES_URL, json=created(), status=201)
    client = make_client(validity_period=account_validity)
    result = client.send(SendRequest('Your code is 1234', (FR,), validity=request_validity))
    assert result.outcomes[FR.key].kind is OutcomeKind.SENT
    assert sent_form()['ValidityPeriod'] == expected


@responses.activate
def test_no_validity_period_without_one_on_account_or_sms():
    responses.post(MESSAGES_URL, json=created(), status=201)
    make_client().send(SendRequest('Your code is 1234', (FR,)))
    assert 'ValidityPeriod' not in sent_form()


def test_twilio_validity_range_is_documented_one():
    # Twilio errors 21624/90007: whole seconds from 1 to 36,000.
    assert TwilioClient.validity_range == (1, 36000)


# ---------------------------------------------------------------------- prices

MESSAGE_URL = f'{BASE}/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}.json'


@pytest.mark.parametrize('price, unit, expected', [
    ('-0.00750', 'USD', (0.0075, 'USD')),      # as Twilio writes what it billed
    ('-0.0790', 'eur', (0.079, 'EUR')),
    ('0.0075', 'USD', (0.0075, 'USD')),
    (-0.05, 'GBP', (0.05, 'GBP')),
    (None, 'USD', (None, '')),                 # not priced yet (the usual 201 answer)
    ('-0.0075', None, (None, '')),
    ('', 'USD', (None, '')),
    ('n/a', 'USD', (None, '')),
    ('NaN', 'USD', (None, '')),
    ('-0.0075', 'US Dollar', (None, '')),
    (True, 'USD', (None, '')),
])
def test_message_price(price, unit, expected):
    assert twilio_client.message_price({'price': price, 'price_unit': unit}) == expected


def test_message_price_of_garbage():
    assert twilio_client.message_price(None) == (None, '')
    assert twilio_client.message_price(['-0.0075']) == (None, '')


@responses.activate
def test_201_without_price_reports_none():
    responses.post(MESSAGES_URL, json=dict(created(), price=None, price_unit='USD'), status=201)
    outcome = send_one(make_client())
    assert outcome.kind is OutcomeKind.SENT
    assert (outcome.price, outcome.price_currency, outcome.credits) == (None, '', None)


@responses.activate
def test_answer_with_a_price_reports_it_positive():
    responses.post(MESSAGES_URL, json=dict(created(), price='-0.07900', price_unit='EUR'), status=201)
    outcome = send_one(make_client())
    assert (outcome.price, outcome.price_currency) == (0.079, 'EUR')


@responses.activate
def test_fetch_message_reads_the_later_price():
    responses.get(MESSAGE_URL, json=dict(created(status='delivered'), price='-0.00750', price_unit='USD',
                                          num_segments='2', error_code=None))
    message = make_client().fetch_message(MESSAGE_SID)
    assert message == {'sid': MESSAGE_SID, 'status': 'delivered', 'price': 0.0075,
                       'price_currency': 'USD', 'segments': 2, 'error_code': None}
    assert responses.calls[0].request.headers['Authorization'] == basic(ACCOUNT_SID, AUTH_TOKEN)


@responses.activate
def test_fetch_message_not_priced_yet():
    responses.get(MESSAGE_URL, json=dict(created(status='sent'), price=None, price_unit='USD'))
    message = make_client().fetch_message(MESSAGE_SID)
    assert (message['status'], message['price'], message['price_currency']) == ('sent', None, '')


@responses.activate
def test_fetch_message_failures_raise_a_clear_error():
    responses.get(MESSAGE_URL, json=twilio_error(20404, 'not found', 404), status=404)
    with pytest.raises(TwilioError) as caught:
        make_client().fetch_message(MESSAGE_SID)
    assert caught.value.status == 404
    with pytest.raises(TwilioError):
        make_client().fetch_message('../Accounts')       # never put in a URL
    assert len(responses.calls) == 1
