"""HTTP API provider engine: spec validation, request rendering, answers, reports, templates."""
import base64
import copy
import json
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
import responses
import urllib3

from addons.sms_router.engine import http_templates
from addons.sms_router.engine.http_api import (
    PLACEHOLDERS,
    HttpApiClient,
    SpecError,
    load_spec,
    parse_report,
)
from addons.sms_router.engine.outcomes import OutcomeKind, Recipient, SendRequest
from addons.sms_router.engine.reasons import Reason
from addons.sms_router.engine.transport import ProviderError

BASE = 'https://api.example.com'
SEND_URL = f'{BASE}/v1/messages'
BALANCE_URL = f'{BASE}/v1/balance'
CALLBACK = 'https://odoo.example.com/sms_router/http_api/report/7/tok3n'
API_KEY = 'key-0123456789abcdef'
API_SECRET = 'sec-fedcba9876543210'
USERNAME = 'acme-user'
CREDENTIALS = {'username': USERNAME, 'api_key': API_KEY, 'api_secret': API_SECRET}

FR = Recipient('uuid-fr', '+33612345678', 'FR')
GB = Recipient('uuid-gb', '+447700900123', 'GB')
US = Recipient('uuid-us', '+12015550123', 'US')


def base_spec(**overrides):
    """A small JSON spec, one recipient per request, id at $.id."""
    spec = {
        'method': 'POST',
        'url': '{base_url}/v1/messages',
        'body_type': 'json',
        'headers': {'Accept': 'application/json'},
        'body': {'to': '{number}', 'text': '{body}', 'from': '{sender}'},
        'auth': {'type': 'header', 'name': 'X-Api-Key', 'value': '{api_key}'},
        'answer': {'accepted_status': [200, 201], 'id_path': '$.id'},
    }
    spec.update(overrides)
    return spec


def bulk_spec(**answer):
    """A bulk spec in the shape of Africa's Talking's: numbers joined by commas, results per
    number."""
    spec = {
        'method': 'POST',
        'url': '{base_url}/version1/messaging',
        'body_type': 'form',
        'headers': {'Accept': 'application/json'},
        'params': {'username': '{username}', 'to': '{number}', 'message': '{body}', 'from': '{sender}'},
        'auth': {'type': 'header', 'name': 'apiKey', 'value': '{api_key}'},
        'recipients': {'max': 100, 'join': 'separator', 'separator': ','},
        'answer': {
            'accepted_status': [201],
            'results': '$.SMSMessageData.Recipients[*]',
            'match': 'number',
            'number_path': '$.number',
            'id_path': '$.messageId',
            'status_path': '$.statusCode',
            'ok_values': ['100', '101', '102'],
            'price_path': '$.cost',
            'price_regex': '([0-9.]+)',
            'price_currency': 'KES',
            'rules': [
                {'path': '$.statusCode', 'values': [403, 404], 'outcome': 'recipient_error',
                 'reason': 'invalid phone number'},
                {'path': '$.statusCode', 'values': ['405'], 'outcome': 'account_error'},
                {'path': '$.statusCode', 'values': ['406'], 'outcome': 'opted_out'},
                {'status': [401], 'outcome': 'account_error', 'reason': 'authentication refused'},
                {'regex': 'Unsupported number', 'outcome': 'destination_unsupported'},
            ],
        },
        'report': {
            'id': 'id', 'status': 'status', 'number': 'phoneNumber', 'error': 'failureReason',
            'delivered': ['Success'], 'failed': ['Failed', 'Rejected'],
        },
        'balance': {'url': '{base_url}/version1/user?username={username}', 'path': '$.UserData.balance',
                    'regex': '([0-9.]+)'},
    }
    spec['answer'].update(answer)
    return spec


def make_client(spec=None, **overrides):
    values = dict(credentials=CREDENTIALS, sender='Acme', callback_url=CALLBACK, base_url=BASE, name='Example')
    values.update(overrides)
    return HttpApiClient(base_spec() if spec is None else spec, **values)


def send(client, *recipients, body='Hello {world}', marketing=False):
    recipients = recipients or (FR,)
    result = client.send(SendRequest(body, tuple(recipients), marketing=marketing))
    assert set(result.outcomes) == {recipient.key for recipient in recipients}
    return result.outcomes


def sent_json(index=-1):
    return json.loads(responses.calls[index].request.body)


def sent_form(index=-1):
    return parse_qsl(responses.calls[index].request.body, keep_blank_values=True)


def sent_query(index=-1):
    return parse_qs(urlsplit(responses.calls[index].request.url).query, keep_blank_values=True)


def spec_error(spec):
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    return str(caught.value)


# ---------------------------------------------------------------------- placeholders


@responses.activate
def test_every_placeholder_is_filled():
    template = {name: f'{{{name}}}' for name in PLACEHOLDERS}
    spec = base_spec(body=template, type_values={'transactional': 'trans', 'marketing': 'promo'},
                     encoding_values={'gsm': 'text', 'unicode': 'unicode'})
    responses.post(SEND_URL, json={'id': 'm-1'})
    outcome = send(make_client(spec), FR, body='Hi there')[FR.key]
    assert outcome.kind is OutcomeKind.SENT and outcome.message_id == 'm-1'
    assert sent_json() == {
        'number': '+33612345678',
        'number_digits': '33612345678',
        'number_national': '0612345678',
        'body': 'Hi there',
        'sender': 'Acme',
        'uuid': 'uuid-fr',
        'callback_url': CALLBACK,
        'username': USERNAME,
        'api_key': API_KEY,
        'api_secret': API_SECRET,
        'base_url': BASE,
        'marketing': False,             # a lone {marketing} in JSON is a JSON boolean
        'sms_type': 'trans',
        'unicode': False,               # a JSON boolean too
        'sms_encoding': 'text',
    }


@responses.activate
def test_marketing_placeholders_for_marketing_sms():
    spec = base_spec(body={'kind': '{sms_type}', 'promo': '{marketing}', 'flag': 'm={marketing}'},
                     type_values={'transactional': 'transactional', 'marketing': 'marketing'})
    responses.post(SEND_URL, json={'id': 'm-1'})
    send(make_client(spec), marketing=True)
    assert sent_json() == {'kind': 'marketing', 'promo': True, 'flag': 'm=true'}


@responses.activate
def test_encoding_placeholders_follow_each_text():
    spec = several(body={'type': '{sms_encoding}', 'unicode': '{unicode}', 'flag': 'u={unicode}',
                         'messages': {'$each': {'text': '{body}', 'type': '{sms_encoding}', 'unicode': '{unicode}'}}},
                   max_=2, answer={'id_path': '$.ids[*]'})
    spec['encoding_values'] = {'gsm': 'text', 'unicode': 'unicode'}
    responses.post(SEND_URL, json={'ids': ['a']})
    send(make_client(spec), body='Привет')
    assert {k: v for k, v in sent_json().items() if k != 'messages'} == \
        {'type': 'unicode', 'unicode': True, 'flag': 'u=true'}
    fr, gb = Recipient(FR.key, FR.number, 'FR', body='Café €5'), Recipient(GB.key, GB.number, 'GB', body='Ça 😀')
    make_client(spec).send(SendRequest(None, (fr, gb)))
    assert sent_json()['messages'] == [{'text': 'Café €5', 'type': 'text', 'unicode': False},
                                       {'text': 'Ça 😀', 'type': 'unicode', 'unicode': True}]


@responses.activate
def test_omit_empty_leaves_out_what_renders_empty():
    spec = base_spec(body={'to': '{number}', 'from': '{sender}', 'ref': '{sender}',
                           'messages': [{'$each': {'to': '{number}', 'from': '{sender}'}}]},
                     omit_empty=['from'])
    responses.post(SEND_URL, json={'id': 'm-1'})
    send(make_client(spec, sender=''))
    assert sent_json() == {'to': FR.number, 'ref': '', 'messages': [{'to': FR.number}]}
    send(make_client(spec, sender='Acme'))
    assert sent_json() == {'to': FR.number, 'from': 'Acme', 'ref': 'Acme', 'messages': [{'to': FR.number,
                                                                                         'from': 'Acme'}]}
    form = base_spec(body_type='form', body=None, params={'to': '{number}', 'from': '{sender}', 'x': '{sender}'},
                     omit_empty=['from'])
    send(make_client(form, sender=''))
    assert sent_form() == [('to', FR.number), ('x', '')]


@pytest.mark.parametrize('number, national', [
    ('+33612345678', '0612345678'),
    ('+447700900123', '07700900123'),
    ('+12015550123', '2015550123'),
    ('+4915123456789', '015123456789'),
    ('+254712345678', '0712345678'),
    ('12345', '12345'),                     # not readable as a number: its digits
])
def test_national_number(number, national):
    from addons.sms_router.engine.http_api_render import national_number
    assert national_number(number) == national


@responses.activate
def test_literal_braces_and_url_encoding():
    spec = base_spec(url='{base_url}/v1/messages?to={number}&from={sender}',
                     body={'text': '{{literal}} {body} }}'})
    responses.post(SEND_URL, json={'id': 'm-1'})
    send(make_client(spec, sender='Acme Co'), body='a&b')
    assert sent_json() == {'text': '{literal} a&b }'}
    assert sent_query() == {'to': ['+33612345678'], 'from': ['Acme Co']}
    assert '%2B33612345678' in responses.calls[0].request.url


@responses.activate
def test_form_body_and_get_query():
    spec = base_spec(body_type='form', body=None, params={'to': '{number_digits}', 'text': '{body}', 'n': 3})
    responses.post(SEND_URL, json={'id': 'm-1'})
    send(make_client(spec), body='é ok')
    assert sent_form() == [('to', '33612345678'), ('text', 'é ok'), ('n', '3')]
    assert responses.calls[0].request.headers['Content-Type'] == 'application/x-www-form-urlencoded'

    spec = base_spec(method='GET', body_type=None, body=None, params={'to': '{number}', 'msg': '{body}'})
    del spec['body_type']
    responses.get(SEND_URL, json={'id': 'm-2'})
    assert send(make_client(spec))[FR.key].message_id == 'm-2'
    assert responses.calls[1].request.method == 'GET' and responses.calls[1].request.body is None
    assert sent_query() == {'to': ['+33612345678'], 'msg': ['Hello {world}']}


@responses.activate
def test_json_body_given_as_text_and_params_go_to_the_query_string():
    spec = base_spec(body='{"to": "{number}", "text": "{body}"}', params={'version': '2'})
    responses.post(SEND_URL, json={'id': 'm-1'})
    send(make_client(spec))
    assert sent_json() == {'to': '+33612345678', 'text': 'Hello {world}'}
    assert sent_query() == {'version': ['2']}
    assert responses.calls[0].request.headers['Content-Type'] == 'application/json'


# ---------------------------------------------------------------------- several recipients


def several(join='list', separator=None, body=None, params=None, body_type='json', max_=10, answer=None):
    recipients = {'max': max_, 'join': join}
    if separator:
        recipients['separator'] = separator
    spec = base_spec(recipients=recipients, body_type=body_type, body=body, params=params or {},
                     answer=answer or {'accepted_status': [200], 'id_path': '$.ids[*]'})
    return spec


@responses.activate
def test_list_join_makes_json_arrays():
    spec = several(body={'to': '{number}', 'digits': ['{number_digits}'], 'national': '{number_national}',
                         'text': '{body}'})
    responses.post(SEND_URL, json={'ids': ['a', 'b', 'c']})
    outcomes = send(make_client(spec), FR, GB, US)
    assert sent_json() == {
        'to': ['+33612345678', '+447700900123', '+12015550123'],
        'digits': ['33612345678', '447700900123', '12015550123'],
        'national': ['0612345678', '07700900123', '2015550123'],
        'text': 'Hello {world}',
    }
    # As many ids as recipients: one each, in order.
    assert [outcomes[r.key].message_id for r in (FR, GB, US)] == ['a', 'b', 'c']


@responses.activate
def test_list_join_repeats_form_parameters():
    spec = several(body_type='form', params={'to': '{number}', 'text': '{body}'})
    responses.post(SEND_URL, json={'ids': ['a', 'b']})
    send(make_client(spec), FR, GB)
    assert sent_form() == [('to', '+33612345678'), ('to', '+447700900123'), ('text', 'Hello {world}')]


@responses.activate
@pytest.mark.parametrize('separator', [',', '<'])
def test_separator_join(separator):
    spec = several(join='separator', separator=separator, body={'dst': '{number_digits}', 'text': '{body}'})
    responses.post(SEND_URL, json={'ids': ['a', 'b']})
    send(make_client(spec), FR, GB)
    assert sent_json() == {'dst': f'33612345678{separator}447700900123', 'text': 'Hello {world}'}


@responses.activate
def test_each_expands_one_object_per_recipient():
    spec = several(body={'messages': {'$each': {'to': '{number}', 'ref': '{uuid}', 'body': '{body}'}},
                         'list': [{'$each': {'n': '{number_national}'}}, {'n': 'extra'}], 'from': '{sender}'})
    responses.post(SEND_URL, json={'ids': ['a', 'b']})
    send(make_client(spec), FR, GB)
    assert sent_json() == {
        'messages': [{'to': '+33612345678', 'ref': 'uuid-fr', 'body': 'Hello {world}'},
                     {'to': '+447700900123', 'ref': 'uuid-gb', 'body': 'Hello {world}'}],
        'list': [{'n': '0612345678'}, {'n': '07700900123'}, {'n': 'extra'}],
        'from': 'Acme',
    }


@responses.activate
def test_each_takes_each_recipients_own_body():
    spec = several(body={'messages': {'$each': {'to': '{number}', 'body': '{body}'}}})
    responses.post(SEND_URL, json={'ids': ['a', 'b']})
    fr, gb = Recipient(FR.key, FR.number, 'FR', body='Bonjour'), Recipient(GB.key, GB.number, 'GB', body='Hello')
    make_client(spec).send(SendRequest(None, (fr, gb)))
    assert [m['body'] for m in sent_json()['messages']] == ['Bonjour', 'Hello']


def test_too_many_recipients_is_a_programming_error():
    client = make_client(several(body={'to': '{number}'}, max_=2))
    assert client.max_recipients_per_request == 2
    with pytest.raises(ValueError):
        client.send(SendRequest('x', (FR, GB, US)))


@responses.activate
def test_recipient_without_number_is_not_sent():
    spec = several(body={'to': '{number}'})
    responses.post(SEND_URL, json={'ids': ['a']})
    outcomes = send(make_client(spec), Recipient('none', '', ''), FR)
    assert outcomes['none'].kind is OutcomeKind.RECIPIENT
    assert outcomes['none'].core_failure_type == 'sms_number_missing'
    assert outcomes[FR.key].message_id == 'a' and sent_json() == {'to': ['+33612345678']}


# ---------------------------------------------------------------------- authentication


@responses.activate
@pytest.mark.parametrize('auth, check', [
    ({'type': 'none'}, lambda r: 'Authorization' not in r.headers and 'X-Api-Key' not in r.headers),
    ({'type': 'header', 'name': 'X-Api-Key', 'value': 'Key {api_key}'},
     lambda r: r.headers['X-Api-Key'] == f'Key {API_KEY}'),
    ({'type': 'bearer'}, lambda r: r.headers['Authorization'] == f'Bearer {API_KEY}'),
    ({'type': 'bearer', 'value': '{api_secret}'}, lambda r: r.headers['Authorization'] == f'Bearer {API_SECRET}'),
    ({'type': 'basic'}, lambda r: r.headers['Authorization'] == 'Basic ' + base64.b64encode(
        f'{USERNAME}:{API_KEY}'.encode()).decode()),
    ({'type': 'basic', 'username': '{api_key}', 'password': '{api_secret}'},
     lambda r: r.headers['Authorization'] == 'Basic ' + base64.b64encode(
         f'{API_KEY}:{API_SECRET}'.encode()).decode()),
    ({'type': 'param', 'name': 'api_key', 'value': '{api_key}'},
     lambda r: json.loads(r.body)['api_key'] == API_KEY),
    ({'type': 'param', 'name': 'key', 'value': '{api_key}', 'in': 'query'},
     lambda r: parse_qs(urlsplit(r.url).query)['key'] == [API_KEY] and 'key' not in json.loads(r.body)),
])
def test_authentication(auth, check):
    responses.post(SEND_URL, json={'id': 'm-1'})
    assert send(make_client(base_spec(auth=auth)))[FR.key].kind is OutcomeKind.SENT
    assert check(responses.calls[0].request)


@responses.activate
def test_param_authentication_in_form_and_query_bodies():
    auth = {'type': 'param', 'name': 'apikey', 'value': '{api_key}'}
    responses.post(SEND_URL, json={'id': 'm-1'})
    send(make_client(base_spec(body_type='form', body=None, params={'to': '{number}'}, auth=auth)))
    assert sent_form() == [('to', '+33612345678'), ('apikey', API_KEY)]
    responses.get(SEND_URL, json={'id': 'm-1'})
    send(make_client(base_spec(method='GET', body_type='query', body=None, params={'to': '{number}'}, auth=auth)))
    assert sent_query() == {'to': ['+33612345678'], 'apikey': [API_KEY]}


# ---------------------------------------------------------------------- answers: per recipient


def at_answer(*recipients):
    return {'SMSMessageData': {'Message': 'Sent to 1/2', 'Recipients': list(recipients)}}


def at_item(number, code, status='Success', message_id='ATXid_1', cost='KES 0.8000'):
    return {'number': number, 'statusCode': code, 'status': status, 'messageId': message_id, 'cost': cost}


AT_URL = f'{BASE}/version1/messaging'


@responses.activate
def test_per_recipient_results_matched_by_number():
    responses.post(AT_URL, status=201, json=at_answer(
        at_item('+447700900123', 403, 'InvalidPhoneNumber', 'None', '0'),
        at_item('+33612345678', 101, message_id='ATXid_fr'),
        at_item('+12015550123', 406, 'UserInBlacklist', 'None', '0')))
    outcomes = send(make_client(bulk_spec()), FR, GB, US)
    assert outcomes[FR.key].kind is OutcomeKind.SENT
    assert (outcomes[FR.key].message_id, outcomes[FR.key].price, outcomes[FR.key].price_currency) == \
        ('ATXid_fr', 0.8, 'KES')
    assert outcomes[GB.key].kind is OutcomeKind.RECIPIENT
    assert outcomes[GB.key].reason.startswith('Example: invalid phone number (HTTP 201): {"number":')
    assert outcomes[US.key].kind is OutcomeKind.OPTED_OUT
    assert outcomes[US.key].core_failure_type == 'sms_optout'
    assert sent_form() == [('username', USERNAME), ('to', '+33612345678,+447700900123,+12015550123'),
                           ('message', 'Hello {world}'), ('from', 'Acme')]


@responses.activate
def test_results_match_numbers_written_otherwise():
    responses.post(AT_URL, status=201, json=at_answer(at_item('0033612345678', 100, message_id='a'),
                                                      at_item('07700900123', 100, message_id='b')))
    outcomes = send(make_client(bulk_spec()), FR, GB)
    assert (outcomes[FR.key].message_id, outcomes[GB.key].message_id) == ('a', 'b')


@responses.activate
def test_two_recipients_with_the_same_number_get_one_result_each():
    twin = Recipient('uuid-fr-2', FR.number, 'FR')
    responses.post(AT_URL, status=201, json=at_answer(
        at_item('+33612345678', 101, message_id='M1'),
        at_item('+33612345678', 403, 'InvalidPhoneNumber', 'None', '0')))
    outcomes = send(make_client(bulk_spec()), FR, twin)
    assert (outcomes[FR.key].kind, outcomes[FR.key].message_id) == (OutcomeKind.SENT, 'M1')
    assert outcomes[twin.key].kind is OutcomeKind.RECIPIENT
    # Fewer results than recipients for that number: the one left over is not a success.
    responses.replace(responses.POST, AT_URL, status=201, json=at_answer(at_item('+33612345678', 101, message_id='M1')))
    outcomes = send(make_client(bulk_spec()), FR, twin)
    assert (outcomes[FR.key].kind, outcomes[FR.key].message_id) == (OutcomeKind.SENT, 'M1')
    assert outcomes[twin.key].kind is OutcomeKind.AMBIGUOUS
    assert 'no result for this number in the answer (HTTP 201)' in outcomes[twin.key].reason


@responses.activate
def test_per_recipient_results_matched_by_order():
    spec = bulk_spec(match='order')
    del spec['answer']['number_path']
    responses.post(AT_URL, status=201, json=at_answer(at_item('x', 100, message_id='a'),
                                                      at_item('y', 403, message_id='None')))
    outcomes = send(make_client(spec), FR, GB)
    assert outcomes[FR.key].message_id == 'a' and outcomes[FR.key].kind is OutcomeKind.SENT
    assert outcomes[GB.key].kind is OutcomeKind.RECIPIENT


@responses.activate
def test_recipient_missing_from_the_results_is_ambiguous():
    responses.post(AT_URL, status=201, json=at_answer(at_item('+33612345678', 100, message_id='a')))
    outcomes = send(make_client(bulk_spec()), FR, GB)
    assert outcomes[FR.key].kind is OutcomeKind.SENT
    assert outcomes[GB.key].kind is OutcomeKind.AMBIGUOUS
    assert 'no result for this number in the answer (HTTP 201)' in outcomes[GB.key].reason


@responses.activate
def test_unknown_item_status_and_empty_results_are_ambiguous():
    responses.post(AT_URL, status=201, json=at_answer(at_item('+33612345678', 999)))
    outcome = send(make_client(bulk_spec()))[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert 'unrecognised result for this number (HTTP 201)' in outcome.reason
    responses.post(AT_URL, status=201, json={'SMSMessageData': {'Message': 'InvalidSenderId'}})
    outcome = send(make_client(bulk_spec()))[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert 'without results in the answer' in outcome.reason and 'InvalidSenderId' in outcome.reason


@responses.activate
def test_item_without_status_is_ok_when_it_has_its_id():
    spec = several(answer={'accepted_status': [200], 'results': '$.messages[*]', 'match': 'number',
                           'number_path': '$.to', 'id_path': '$.id',
                           'rules': [{'path': '$.error', 'values': ['blocked'], 'outcome': 'opted_out'}]},
                   body={'to': '{number}'})
    responses.post(SEND_URL, json={'messages': [{'to': '33612345678', 'id': 'a'},
                                                {'to': '447700900123', 'error': 'blocked'}]})
    outcomes = send(make_client(spec), FR, GB)
    assert outcomes[FR.key].message_id == 'a'
    assert outcomes[GB.key].kind is OutcomeKind.OPTED_OUT


# ---------------------------------------------------------------------- answers: whole answer


@responses.activate
@pytest.mark.parametrize('rule, status, answer, kind', [
    ({'status': [401, 403], 'outcome': 'account_error'}, 403, {'error': 'forbidden'}, OutcomeKind.ACCOUNT),
    ({'status': [400], 'path': '$.code', 'values': ['21'], 'outcome': 'destination_unsupported'}, 400,
     {'code': 21}, OutcomeKind.DESTINATION),
    ({'path': '$.code', 'values': ['7'], 'outcome': 'recipient_error'}, 400, {'code': '7'}, OutcomeKind.RECIPIENT),
    ({'regex': 'opted.out', 'outcome': 'opted_out'}, 400, {'error': 'number opted out'}, OutcomeKind.OPTED_OUT),
    ({'regex': '^ERR', 'outcome': 'provider_error'}, 200, 'ERR busy', OutcomeKind.PROVIDER),
    ({'path': '$.status', 'values': ['0'], 'outcome': 'account_error'}, 200, {'status': 0}, OutcomeKind.ACCOUNT),
])
def test_rules(rule, status, answer, kind):
    spec = base_spec(answer={'accepted_status': [200], 'accepted': {'path': '$.status', 'values': ['1']},
                             'id_path': '$.id', 'rules': [rule]})
    if isinstance(answer, str):
        responses.post(SEND_URL, body=answer, status=status)
    else:
        responses.post(SEND_URL, json=answer, status=status)
    outcome = send(make_client(spec))[FR.key]
    assert outcome.kind is kind
    assert outcome.reason.startswith(f'Example: HTTP {status}: ')


@responses.activate
def test_first_matching_rule_wins_and_its_reason_is_shown():
    spec = base_spec(answer={'id_path': '$.id', 'rules': [
        {'status': [400], 'regex': 'credit', 'outcome': 'account_error', 'reason': 'no credit left'},
        {'status': [400], 'outcome': 'recipient_error'}]})
    responses.post(SEND_URL, json={'error': 'not enough credit'}, status=400)
    outcome = send(make_client(spec))[FR.key]
    assert outcome.kind is OutcomeKind.ACCOUNT
    assert outcome.reason == 'Example: no credit left (HTTP 400): {"error": "not enough credit"}'
    assert isinstance(outcome.reason, Reason)       # translatable: no secret in it


@responses.activate
def test_throttled_rule_and_429_with_retry_after():
    spec = base_spec(answer={'id_path': '$.id', 'rules': [{'path': '$.code', 'values': ['RATE'],
                                                           'outcome': 'throttled'}]})
    responses.post(SEND_URL, json={'code': 'RATE'}, status=400, headers={'Retry-After': '7'})
    outcome = send(make_client(spec))[FR.key]
    assert (outcome.kind, outcome.throttled, outcome.retry_after) == (OutcomeKind.PROVIDER, True, 7.0)
    responses.post(SEND_URL, json={'error': 'slow down'}, status=429, headers={'Retry-After': '30'})
    outcome = send(make_client(base_spec()))[FR.key]
    assert (outcome.kind, outcome.throttled, outcome.retry_after) == (OutcomeKind.PROVIDER, True, 30.0)


@responses.activate
@pytest.mark.parametrize('status, kind, failure_type', [
    (500, OutcomeKind.PROVIDER, 'sms_server'),
    (503, OutcomeKind.PROVIDER, 'sms_server'),
    (401, OutcomeKind.ACCOUNT, 'sms_acc'),
    (402, OutcomeKind.ACCOUNT, 'sms_credit'),
    (403, OutcomeKind.ACCOUNT, 'sms_acc'),
    (400, OutcomeKind.ACCOUNT, 'sms_acc'),
])
def test_unmatched_refusals_by_status(status, kind, failure_type):
    responses.post(SEND_URL, body='<html>Oops</html>', status=status, headers={'Retry-After': '5'})
    outcome = send(make_client())[FR.key]
    assert (outcome.kind, outcome.core_failure_type, outcome.throttled) == (kind, failure_type, False)
    assert outcome.reason == f'Example: HTTP {status}: <html>Oops</html>'
    assert outcome.retry_after == (5.0 if status >= 500 else None)


@responses.activate
def test_unmatched_2xx_is_ambiguous_with_the_answer_masked_and_truncated():
    spec = base_spec(answer={'accepted': {'regex': '^OK'}, 'id_path': {'regex': 'id=(\\w+)'}})
    echoed = f'ERROR key {API_KEY} secret {API_SECRET} ' + 'x' * 500
    responses.post(SEND_URL, body=echoed, status=200)
    outcome = send(make_client(spec))[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert outcome.reason.startswith('Example: HTTP 200 matches no accepted answer; the SMS may have been sent: '
                                     'ERROR key [redacted] secret [redacted] xxx')
    assert API_KEY not in outcome.reason and API_SECRET not in outcome.reason
    answer = outcome.reason.split('sent: ', 1)[1]
    assert len(answer) == 300 and answer.endswith('…')


@responses.activate
def test_basic_credentials_are_masked_even_encoded():
    token = base64.b64encode(f'{USERNAME}:{API_KEY}'.encode()).decode()
    responses.post(SEND_URL, json={'echo': f'Basic {token}', 'user': USERNAME}, status=200)
    outcome = send(make_client(base_spec(auth={'type': 'basic'})))[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert token not in outcome.reason and USERNAME not in outcome.reason


@responses.activate
def test_secrets_are_masked_url_encoded_json_escaped_and_in_latin1_basic():
    key = 'Ab+cd/EF==xyz'
    spec = base_spec(auth={'type': 'param', 'name': 'api_key', 'value': '{api_key}'})
    echoed = (f'bad url {SEND_URL}?api_key=Ab%2Bcd%2FEF%3D%3Dxyz form api_key=Ab%2Bcd%2FEF%3D%3Dxyz '
              'path /Ab%2Bcd/EF%3D%3Dxyz plus Ab%2Bcd%2FEF%3D%3Dxyz json "Ab+cd\\/EF==xyz"')
    responses.post(SEND_URL, body=echoed, status=400)
    outcome = send(make_client(spec, credentials={**CREDENTIALS, 'api_key': key}))[FR.key]
    assert 'Ab%2B' not in outcome.reason and 'Ab+cd' not in outcome.reason, outcome.reason
    assert outcome.reason.count('[redacted]') == 5
    password = 'pässwörd-123'
    token = base64.b64encode(f'{USERNAME}:{password}'.encode('latin-1')).decode()
    responses.replace(responses.POST, SEND_URL, json={'echo': f'Basic {token}'}, status=200)
    client = make_client(base_spec(auth={'type': 'basic', 'username': '{username}', 'password': '{api_key}'}),
                         credentials={**CREDENTIALS, 'api_key': password})
    outcome = send(client)[FR.key]
    assert responses.calls[-1].request.headers['Authorization'] == f'Basic {token}'
    assert token not in outcome.reason and '[redacted]' in outcome.reason


@responses.activate
def test_regex_id_and_accepted_condition_on_raw_text():
    spec = base_spec(answer={'accepted': {'regex': '^OK'}, 'id_path': {'regex': 'id=(\\w+)'},
                             'batch_id_path': {'regex': 'batch=(\\w+)'}})
    responses.post(SEND_URL, body='OK id=abc123 batch=b9', status=200)
    outcome = send(make_client(spec))[FR.key]
    assert (outcome.kind, outcome.message_id, outcome.batch_id) == (OutcomeKind.SENT, 'abc123', 'b9')


@responses.activate
def test_accepted_answer_without_its_id_is_ambiguous():
    responses.post(SEND_URL, json={'result': 'queued'}, status=201)
    outcome = send(make_client())[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert outcome.reason == ('Example: HTTP 201 without a message id; the SMS may have been sent: '
                              '{"result": "queued"}')


@responses.activate
def test_price_currency_read_beside_the_amount():
    spec = base_spec(answer={'id_path': '$.id', 'price_path': '$.cost', 'price_regex': '([0-9.]+)'})
    responses.post(SEND_URL, json={'id': 'm-1', 'cost': 'KES 0.8000'})
    responses.post(SEND_URL, json={'id': 'm-2', 'cost': '0.8000'})
    first, second = send(make_client(spec))[FR.key], send(make_client(spec))[FR.key]
    assert (first.price, first.price_currency) == (0.8, 'KES')
    assert (second.kind, second.price, second.price_currency) == (OutcomeKind.SENT, None, '')


@responses.activate
def test_an_optional_price_group_that_did_not_match_is_no_price():
    spec = base_spec(answer={'id_path': '$.id', 'price_path': '$.cost', 'price_regex': '([0-9.]+)?'})
    responses.post(SEND_URL, json={'id': 'M1', 'cost': 'EUR 0.05'})
    outcome = send(make_client(spec))[FR.key]
    assert (outcome.kind, outcome.message_id, outcome.price) == (OutcomeKind.SENT, 'M1', None)
    responses.post(AT_URL, status=201, json=at_answer(at_item('+33612345678', 101, message_id='ATXid_fr',
                                                              cost='KES n/a')))
    outcome = send(make_client(bulk_spec(price_regex='([0-9.]+)?')))[FR.key]
    assert (outcome.kind, outcome.message_id, outcome.price) == (OutcomeKind.SENT, 'ATXid_fr', None)


@responses.activate
def test_a_price_that_breaks_the_reader_only_loses_the_price(monkeypatch):
    from addons.sms_router.engine.http_api_answer import AnswerReader

    def broken(*args):
        raise RuntimeError('bug')
    monkeypatch.setattr(AnswerReader, '_price_of', broken)
    spec = base_spec(answer={'id_path': '$.id', 'price_path': '$.cost', 'price_currency': 'EUR'})
    responses.post(SEND_URL, json={'id': 'M1', 'cost': '0.05'})
    outcome = send(make_client(spec))[FR.key]
    assert (outcome.kind, outcome.message_id, outcome.price) == (OutcomeKind.SENT, 'M1', None)
    responses.post(AT_URL, status=201, json=at_answer(at_item('+33612345678', 101, message_id='ATXid_fr')))
    outcome = send(make_client(bulk_spec()))[FR.key]
    assert (outcome.kind, outcome.message_id, outcome.price) == (OutcomeKind.SENT, 'ATXid_fr', None)


@responses.activate
def test_status_path_on_the_whole_answer():
    spec = base_spec(answer={'id_path': '$.id', 'status_path': '$.status', 'ok_values': [0, 'OK'],
                             'price_path': '$.price', 'price_currency_path': '$.currency',
                             'rules': [{'path': '$.status', 'values': ['9'], 'outcome': 'destination_unsupported'}]})
    responses.post(SEND_URL, json={'status': 0, 'id': 'm-1', 'price': '-0.05', 'currency': 'eur'})
    outcome = send(make_client(spec))[FR.key]
    assert (outcome.kind, outcome.price, outcome.price_currency) == (OutcomeKind.SENT, 0.05, 'EUR')
    responses.post(SEND_URL, json={'status': 9})
    assert send(make_client(spec))[FR.key].kind is OutcomeKind.DESTINATION


@responses.activate
def test_an_sms_answered_part_by_part_costs_the_sum_of_its_parts():
    spec = base_spec(answer={'id_path': "$.messages[*].'message-id'", 'price_path': "$.messages[*].'message-price'",
                             'price_currency': 'EUR'})
    responses.post(SEND_URL, json={'message-count': '2', 'messages': [
        {'message-id': 'p1', 'message-price': '0.0333'}, {'message-id': 'p2', 'message-price': '0.0333'}]})
    outcome = send(make_client(spec))[FR.key]
    assert (outcome.message_id, outcome.price, outcome.price_currency) == ('p1', pytest.approx(0.0666), 'EUR')


@responses.activate
def test_other_secrets_are_masked():
    responses.post(SEND_URL, json={'echo': 'https://odoo/report/7/tok3n-secret-value'})
    outcome = send(make_client(secrets=['tok3n-secret-value', '', None]))[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert 'tok3n-secret-value' not in outcome.reason and '[redacted]' in outcome.reason


@responses.activate
def test_one_id_for_several_recipients_is_the_batch_id():
    spec = several(body={'to': '{number}'}, answer={'id_path': '$.job'})
    responses.post(SEND_URL, json={'job': 'J1'})
    outcomes = send(make_client(spec), FR, GB)
    assert {(o.kind, o.message_id, o.batch_id) for o in outcomes.values()} == {(OutcomeKind.SENT, None, 'J1')}


@responses.activate
def test_fewer_ids_than_recipients_is_ambiguous_for_all():
    spec = several(body={'to': '{number}'}, answer={'id_path': '$.ids[*]'})
    responses.post(SEND_URL, json={'ids': ['M1', 'M2']})
    outcomes = send(make_client(spec), FR, GB, US)
    assert {o.kind for o in outcomes.values()} == {OutcomeKind.AMBIGUOUS}
    assert all(o.message_id is None for o in outcomes.values())
    assert outcomes[FR.key].reason == ('Example: HTTP 200 with 2 message ids for 3 recipients; the SMS may have '
                                       'been sent: {"ids": ["M1", "M2"]}')
    responses.replace(responses.POST, SEND_URL, json={'ids': ['M1', 'M2', 'M3']})
    outcomes = send(make_client(spec), FR, GB, US)
    assert [(outcomes[r.key].kind, outcomes[r.key].message_id) for r in (FR, GB, US)] == \
        [(OutcomeKind.SENT, 'M1'), (OutcomeKind.SENT, 'M2'), (OutcomeKind.SENT, 'M3')]
    responses.replace(responses.POST, SEND_URL, json={'ids': ['J1']})
    outcomes = send(make_client(spec), FR, GB, US)
    assert {(o.kind, o.message_id, o.batch_id) for o in outcomes.values()} == {(OutcomeKind.SENT, None, 'J1')}


# ---------------------------------------------------------------------- transport


@responses.activate
def test_connection_refused_is_a_provider_error():
    refused = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, SEND_URL, urllib3.exceptions.NewConnectionError(None, 'refused')))
    responses.post(SEND_URL, body=refused)
    outcome = send(make_client())[FR.key]
    assert outcome.kind is OutcomeKind.PROVIDER
    assert outcome.reason == 'Example: connection refused or host unreachable'


@responses.activate
def test_read_timeout_is_ambiguous():
    responses.post(SEND_URL, body=requests.exceptions.ReadTimeout())
    outcome = send(make_client(timeout=4))[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS
    assert outcome.reason == 'Example: no answer within 4 s after the request was sent'


@responses.activate
def test_an_answer_that_breaks_the_reader_is_ambiguous(monkeypatch):
    from addons.sms_router.engine.http_api_answer import AnswerReader

    def broken(*args):
        raise RuntimeError('bug')
    monkeypatch.setattr(AnswerReader, 'outcomes', broken)
    responses.post(SEND_URL, json={'id': 'm-1', 'echo': API_KEY})
    outcome = send(make_client())[FR.key]
    assert outcome.kind is OutcomeKind.AMBIGUOUS and API_KEY not in outcome.reason
    assert outcome.reason.startswith('Example: the answer could not be read (HTTP 200); the SMS may have been sent')


def test_a_request_that_cannot_be_built_is_misconfigured(monkeypatch):
    client = make_client()

    def unencodable(*args, **kwargs):
        raise UnicodeEncodeError('latin-1', 'Ω', 0, 1, 'ordinal not in range(256)')
    monkeypatch.setattr(client.session, 'request', unencodable)
    outcome = send(client)[FR.key]
    assert outcome.kind is OutcomeKind.MISCONFIGURED
    assert outcome.reason == 'Example: the request cannot be built: UnicodeEncodeError'


@responses.activate
def test_a_filter_path_on_an_unexpected_shape_finds_nothing():
    spec = base_spec(answer={'id_path': "$.messages[?(@.status=='ok')].id"})
    responses.post(SEND_URL, json={'messages': 'not a list'})
    assert send(make_client(spec))[FR.key].kind is OutcomeKind.AMBIGUOUS
    responses.post(SEND_URL, json={'messages': [{'status': 'ok', 'id': 'm-9'}]})
    assert send(make_client(spec))[FR.key].message_id == 'm-9'


@responses.activate
def test_redirect_is_not_followed():
    responses.post(SEND_URL, status=302, headers={'Location': 'https://elsewhere.example.com/'})
    outcome = send(make_client())[FR.key]
    assert outcome.kind is OutcomeKind.ACCOUNT and len(responses.calls) == 1


# ---------------------------------------------------------------------- configuration


@pytest.mark.parametrize('credentials, sender, base_url, callback, expected', [
    ({'username': USERNAME}, 'Acme', BASE, CALLBACK, 'missing API key'),
    ({'api_key': API_KEY}, 'Acme', BASE, CALLBACK, 'missing username'),
    (CREDENTIALS, 'Acme', '', CALLBACK, 'missing endpoint URL'),
    (CREDENTIALS, 'Acme', BASE, '', 'missing delivery report URL (the request uses {callback_url})'),
    (CREDENTIALS, '', BASE, CALLBACK, 'missing sender ID'),
])
def test_check_configuration(credentials, sender, base_url, callback, expected):
    spec = bulk_spec()
    spec['params']['callback'] = '{callback_url}'
    client = HttpApiClient(spec, credentials=credentials, sender=sender, base_url=base_url, callback_url=callback,
                           sender_required=True)
    assert client.check_configuration() == expected
    outcome = client.send(SendRequest('x', (FR,))).outcomes[FR.key]
    assert outcome.kind is OutcomeKind.MISCONFIGURED
    assert outcome.reason == f'HTTP API: misconfigured: {expected}'


def test_configuration_complete_and_unused_credentials_not_asked():
    assert make_client(bulk_spec()).check_configuration() is None
    client = make_client(base_spec(), credentials={'api_key': API_KEY}, sender='')
    assert client.check_configuration() is None
    assert make_client(base_spec(), credentials={}).check_configuration() == 'missing API key'


# ---------------------------------------------------------------------- balance, test connection


@responses.activate
def test_fetch_credit_and_test_connection():
    responses.get(f'{BASE}/version1/user', json={'UserData': {'balance': 'KES 1234.50'}})
    client = make_client(bulk_spec())
    assert client.fetch_credit() == {'credit_balance': 1234.5, 'credit_expiry': False}
    request = responses.calls[0].request
    assert request.headers['apiKey'] == API_KEY and sent_query() == {'username': [USERNAME]}
    assert client.test_connection() == 'connection works; credit: 1234.5'


@responses.activate
def test_fetch_credit_failures():
    client = make_client(bulk_spec())
    responses.get(f'{BASE}/version1/user', json={'error': f'bad key {API_KEY}'}, status=401)
    with pytest.raises(ProviderError) as caught:
        client.fetch_credit()
    assert caught.value.status == 401 and API_KEY not in str(caught.value)
    assert str(caught.value).startswith('Example: cannot fetch the credit: HTTP 401: ')
    responses.replace(responses.GET, f'{BASE}/version1/user', json={'UserData': {}})
    with pytest.raises(ProviderError, match='no balance in the answer'):
        client.test_connection()
    responses.replace(responses.GET, f'{BASE}/version1/user', body=requests.exceptions.ConnectTimeout())
    with pytest.raises(ProviderError, match='connection timed out'):
        client.fetch_credit()
    with pytest.raises(ProviderError, match='missing API key'):
        make_client(bulk_spec(), credentials={'username': USERNAME}).test_connection()


def test_test_connection_without_balance_url():
    assert make_client().test_connection().startswith('configuration complete')
    with pytest.raises(ProviderError, match='no balance URL'):
        make_client().fetch_credit()


@responses.activate
def test_balance_as_plain_text():
    spec = base_spec(balance={'url': '{base_url}/v1/balance', 'regex': 'credit: ([0-9,]+)'})
    responses.get(BALANCE_URL, body='credit: 12,5')
    assert make_client(spec).fetch_credit()['credit_balance'] == 12.5


@responses.activate
def test_an_optional_balance_group_that_did_not_match_is_no_balance():
    spec = base_spec(balance={'url': '{base_url}/v1/balance', 'regex': '(?:credit: ([0-9,]+))?'})
    responses.get(BALANCE_URL, body='no credit here')
    with pytest.raises(ProviderError, match='no balance in the answer'):
        make_client(spec).test_connection()


# ---------------------------------------------------------------------- delivery reports


def test_report_from_form_parameters():
    spec = load_spec(bulk_spec())
    assert parse_report(spec, {'id': 'ATXid_1', 'status': 'Success', 'phoneNumber': '+33612345678'}) == [
        parse_report(spec, {'id': ['ATXid_1'], 'status': ['Success'], 'phoneNumber': ['+33612345678']})[0]]
    report, = parse_report(spec, {'id': 'ATXid_2', 'status': 'Failed', 'failureReason': 'UserInBlacklist'})
    assert (report.message_id, report.delivered, report.reason) == \
        ('ATXid_2', False, 'reported Failed: UserInBlacklist')
    assert parse_report(spec, {'id': 'ATXid_3', 'status': 'Buffered'}) == []     # interim: left out
    with pytest.raises(ValueError):
        parse_report(spec, {'foo': 'bar'})


def test_report_from_json_with_items():
    spec = base_spec(report={
        'items': '$.results[*]', 'id': '$.messageId', 'status': '$.status.groupName', 'number': '$.to',
        'error': '$.error.description', 'delivered': ['DELIVERED'], 'failed': ['UNDELIVERABLE', 'REJECTED'],
        'answer': 'OK'})
    payload = {'results': [
        {'messageId': 'm1', 'to': '33612345678', 'status': {'groupName': 'DELIVERED'}},
        {'messageId': 'm2', 'status': {'groupName': 'UNDELIVERABLE'}, 'error': {'description': 'Absent subscriber'}},
        {'messageId': 'm3', 'status': {'groupName': 'PENDING'}},
    ]}
    reports = parse_report(spec, payload)
    assert [(r.message_id, r.delivered, r.reason, r.number) for r in reports] == [
        ('m1', True, '', '33612345678'), ('m2', False, 'reported UNDELIVERABLE: Absent subscriber', None)]
    assert parse_report(spec, json.dumps(payload)) == reports
    assert load_spec(spec).report.answer == 'OK'


def test_report_as_a_json_list_and_numbers_compared_as_text():
    spec = base_spec(report={'id': '$.id', 'status': '$.dlr', 'delivered': [1], 'failed': [2, 16]})
    reports = parse_report(spec, [{'id': 5, 'dlr': 1}, {'id': 6, 'dlr': '16'}, {'id': 7, 'dlr': 4}])
    assert [(r.message_id, r.delivered) for r in reports] == [('5', True), ('6', False)]


def test_report_errors():
    with pytest.raises(ValueError, match='no report section'):
        parse_report(base_spec(), {'id': 'x'})
    spec = bulk_spec()
    for payload in ('not json', 42, b'\xff'):
        with pytest.raises(ValueError):
            parse_report(spec, payload)


# ---------------------------------------------------------------------- validation


def _set(spec, path, value):
    node = spec
    keys = path.split('.')
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


_DELETE = object()


@pytest.mark.parametrize('path, value, message', [
    ('url', '{base_url}/send/{foo}', 'url: unknown placeholder {foo}'),
    ('url', 'ftp://x', 'url: must start with {base_url}, https:// or http://'),
    ('url', _DELETE, 'url: missing'),
    ('url', '{base_url}/{number', "url: a single '{'"),
    ('url', '{base_url}/}', "url: a single '}'"),
    ('method', 'PUT', 'method: expected one of: GET, POST'),
    ('body_type', 'xml', 'body_type: expected one of: json, form, query'),
    ('body', '{"to": "{number}",}', 'body: invalid JSON: '),
    ('body', 42, 'body: expected a JSON object or array'),
    ('body', _DELETE, 'body: missing'),
    ('body', {'to': '{numbr}'}, 'body.to: unknown placeholder {numbr}'),
    ('body', {'a': [{'b': '{x}'}]}, 'body.a[0].b: unknown placeholder {x}'),
    ('body', {'to': '{sms_type}'}, 'body.to: {sms_type} needs type_values'),
    ('body', {'m': {'$each': {'to': '{number}'}, 'x': 1}}, 'body.m: $each must be the only key of its object'),
    ('body', {'m': {'$each': {'n': {'$each': {}}}}}, 'body.m.$each.n: $each inside $each'),
    ('headers', {'X-Ref': '{bogus}'}, 'headers.X-Ref: unknown placeholder {bogus}'),
    ('headers', {'X-Ref': ['a']}, 'headers.X-Ref: expected a text'),
    ('headers', '{"a": ', 'headers: invalid JSON'),
    ('params', {'to': '{number}'}, None),
    ('auth', {'type': 'oauth'}, 'auth.type: expected one of: none, header, bearer, basic, param'),
    ('auth', {'type': 'header', 'value': '{api_key}'}, 'auth.name: missing'),
    ('auth', {'type': 'param', 'name': 'k'}, 'auth.value: missing'),
    ('auth', {'type': 'bearer', 'value': '{token}'}, 'auth.value: unknown placeholder {token}'),
    ('recipients', {'max': 0}, 'recipients.max: expected a whole number from 1 to 10000'),
    ('recipients', {'max': 5, 'join': 'separator'}, 'recipients.separator: missing'),
    ('recipients', {'max': 5, 'join': 'pipe'}, 'recipients.join: expected one of: list, separator'),
    ('type_values', {'marketing': 'm'}, 'type_values.transactional: missing'),
    ('encoding_values', {'gsm': 'text'}, 'encoding_values.unicode: missing'),
    ('body', {'type': '{sms_encoding}'}, 'body.type: {sms_encoding} needs encoding_values'),
    ('omit_empty', 'from', 'omit_empty: expected a list of body member or parameter names'),
    ('answer', _DELETE, 'answer: missing'),
    ('answer', {'accepted_status': [200]}, 'answer: say what an accepted answer looks like'),
    ('answer.id_path', '$.[', 'answer.id_path: JSON path does not parse: '),
    ('answer.id_path', {'regex': '(unclosed'}, 'answer.id_path.regex: invalid regular expression: '),
    ('answer.accepted_status', ['200'], 'answer.accepted_status: expected a list of HTTP statuses'),
    ('answer.ok_values', ['1'], 'answer.ok_values: needs status_path'),
    ('answer.match', 'number', 'answer.number_path: missing'),
    ('answer.price_currency', 'euro', 'answer.price_currency: expected an ISO 4217 code'),
    ('answer.rules', [{'outcome': 'account_error'}], 'answer.rules[0]: expected at least one of'),
    ('answer.rules', [{'status': [400], 'outcome': 'maybe'}], 'answer.rules[0].outcome: expected one of'),
    ('answer.rules', [{'path': '$..', 'outcome': 'opted_out'}], 'answer.rules[0].path: JSON path does not parse'),
    ('answer.rules', [{'values': ['1'], 'outcome': 'opted_out'}], 'answer.rules[0].values: values need a path'),
    ('answer.rules', [{'regex': '[', 'outcome': 'opted_out'}], 'answer.rules[0].regex: invalid regular expression'),
    ('answer.idpath', '$.id', 'answer.idpath: unknown key'),
    ('report', {'id': 'id', 'status': 'st'}, 'report.delivered: missing'),
    ('report', {'id': '$.[', 'status': 'st', 'delivered': ['D']}, 'report.id: JSON path does not parse'),
    ('report', {'status': 'st', 'delivered': ['D']}, 'report.id: missing'),
    ('balance', {'url': '{base_url}/b'}, 'balance.path: missing'),
    ('balance', {'url': '{base_url}/b?u={unicode}', 'path': '$.b'},
     'balance.url: {unicode} has no value outside a send'),
    ('balance', {'url': '{base_url}/b?to={number}', 'path': '$.b'},
     'balance.url: {number} has no value outside a send'),
    ('reciepients', {'max': 2}, 'reciepients: unknown key'),
])
def test_validation_errors(path, value, message):
    spec = base_spec()
    if path == 'params':
        spec.update(body_type='form', params=value)     # a form body needs no JSON body
        del spec['body']
        assert load_spec(spec).params == [('to', '{number}')]
        return
    _set(spec, path, value)
    assert message in spec_error(spec)


@pytest.mark.parametrize('changes, message', [
    ({'method': 'GET'}, 'body_type: a GET request has no body: use query'),
    ({'body_type': 'form'}, 'body: only with body_type json'),
    ({'body': [{'to': '{number}'}], 'auth': {'type': 'param', 'name': 'k', 'value': '{api_key}'}},
     'auth.in: a JSON array body has no top level'),
    ({'recipients': {'max': 2, 'join': 'separator', 'separator': ','}, 'body': {'ref': '{uuid}'}},
     'body.ref: {uuid} outside $each needs recipients.max 1'),
    ({'recipients': {'max': 5, 'join': 'list'}, 'body': {'to': 'tel:{number}'}},
     'body.to: with recipients.join list, {number} must be the whole value'),
    ({'recipients': {'max': 5}, 'url': '{base_url}/send/{number_digits}'},
     'url: with recipients.join list, {number_digits} must be the whole value'),
])
def test_validation_of_combinations(changes, message):
    assert message in spec_error(base_spec(**changes))


@pytest.mark.parametrize('path, value, message', [
    ('headers', ['Accept'], 'headers: expected a JSON object of names and values'),
    ('recipients', 5, 'recipients: expected a JSON object'),
    ('type_values', 'promo', 'type_values: expected a JSON object'),
    ('auth', {'type': 'param', 'name': 'k', 'value': '{api_key}', 'in': 'cookie'},
     'auth.in: expected one of: query, body'),
    ('answer.accepted', {}, 'answer.accepted: expected at least one of: path, values, regex'),
    ('answer.accepted', {'path': '$.ok', 'values': {'a': 1}}, 'answer.accepted.values: expected a list of values'),
    ('answer.accepted', {'regex': ''}, 'answer.accepted.regex: missing: a regular expression'),
    ('answer.results', '$.[', 'answer.results: JSON path does not parse'),
    ('answer.number_path', '$.to', 'answer.results: missing: match number needs the per-recipient results'),
    ('answer', {'results': '$.items[*]'}, 'answer.results: say how a result is accepted'),
    ('answer.rules', {'status': 400}, 'answer.rules: expected a list of rules'),
    ('answer.rules', [{'status': [99], 'outcome': 'opted_out'}], 'answer.rules[0].status: expected a list of HTTP'),
    ('report', {'id': 'id', 'status': 'st', 'delivered': ['D'], 'items': '$.[*'}, 'report.items: JSON path does not'),
    ('report', {'id': 'id', 'status': 'st', 'delivered': 'D', 'failed': [None]}, 'report.failed: expected a list'),
    ('balance', {'url': 'ftp://b', 'path': '$.b'}, 'balance.url: must start with {base_url}, https:// or http://'),
    ('balance', {'url': '{base_url}/b', 'regex': '('}, 'balance.regex: invalid regular expression'),
    ('balance', {'url': '{base_url}/b', 'path': '$.b', 'method': 'DELETE'}, 'balance.method: expected one of'),
    ('balance', {'url': '{base_url}/b', 'path': '$.b', 'params': {'q': '{nope}'}},
     'balance.params.q: unknown placeholder {nope}'),
])
def test_more_validation_errors(path, value, message):
    spec = base_spec()
    _set(spec, path, value)
    assert message in spec_error(spec)


def test_a_spec_that_is_not_an_object():
    assert spec_error(['url']) == 'spec: expected a JSON object'
    assert spec_error('{"url": ').startswith('spec: invalid JSON: ')
    assert spec_error(b'[]') == 'spec: expected a JSON object'


def test_spec_errors_are_translatable_and_say_where():
    with pytest.raises(SpecError) as caught:
        load_spec(base_spec(url='{base_url}/{foo}'))
    assert caught.value.where == 'url'
    assert isinstance(caught.value.message, Reason)


def test_valid_specs_load():
    spec = load_spec(json.dumps(bulk_spec()))
    assert spec.max_recipients == 100 and spec.join == 'separator'
    assert {'username', 'api_key', 'number', 'body', 'sender'} <= spec.uses
    assert spec.balance_uses >= {'username', 'api_key', 'base_url'}
    # Comments: keys starting with '_' are ignored.
    assert load_spec(base_spec(_comment='why'))
    # {uuid} inside $each with several recipients, numbers as lists inside arrays.
    assert load_spec(several(body={'m': {'$each': {'ref': '{uuid}'}}, 'to': ['{number}']}))


# ---------------------------------------------------------------------- templates


TEMPLATE_KEYS = http_templates.template_keys()


def test_template_keys_are_the_json_files():
    files = sorted(p.stem for p in http_templates.TEMPLATES_DIR.glob('*.json')) \
        if http_templates.TEMPLATES_DIR.is_dir() else []
    assert TEMPLATE_KEYS == files
    with pytest.raises(KeyError):
        http_templates.load_template('../secrets')
    with pytest.raises(KeyError):
        http_templates.load_template('no_such_provider')


@pytest.mark.parametrize('key', TEMPLATE_KEYS)
def test_template_loads(key):
    template = http_templates.load_template(key)
    for name in ('key', 'name', 'documentation', 'endpoints', 'credentials'):
        assert template.get(name), f'{key}: missing {name}'
    load_spec(copy.deepcopy(template['spec']))
    assert http_templates.template_problems(template, key) == []


@responses.activate
def test_brevo_recipient_rule_only_on_a_400():
    spec = copy.deepcopy(http_templates.load_template('brevo')['spec'])
    client = make_client(spec, base_url='https://api.brevo.com')
    url = 'https://api.brevo.com/v3/transactionalSMS/send'
    responses.post(url, status=400, json={'code': 'invalid_parameter', 'message': 'Invalid recipient number'})
    assert send(client)[FR.key].kind is OutcomeKind.RECIPIENT
    # A server error that mentions the recipient is not a final refusal of the number.
    responses.replace(responses.POST, url, status=503, body='Maintenance: recipient service unavailable')
    assert send(client)[FR.key].kind is OutcomeKind.PROVIDER


def test_template_problems_names_what_is_wrong():
    template = {'key': 'Bad Key', 'name': 'X', 'documentation': ['docs.example.com'],
                'endpoints': {'sandbox': 'https://s'}, 'credentials': {'token': 'Token'},
                'spec': base_spec(url='{base_url}/{nope}'), 'extra': 1}
    problems = http_templates.template_problems(template, 'bad')
    assert any('unknown key extra' in p for p in problems)
    assert any(p.startswith('key:') for p in problems)
    assert any(p.startswith('documentation:') for p in problems)
    assert any(p.startswith('endpoints:') for p in problems)
    assert any(p.startswith('credentials:') for p in problems)
    assert any('unknown placeholder {nope}' in p for p in problems)
