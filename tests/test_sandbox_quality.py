"""The sandbox's poor_delivery mode: a provider accepts every request, then reports a share
of its SMS undelivered (the quality drill's degraded provider), switched at run time."""
import json
import time

import pytest
import requests

from sandbox.server import Sandbox
from test_sandbox import Receiver, ovh_send, sweego_send, twilio_send

NUMBERS = [f'+336123456{index:02d}' for index in range(10)]


@pytest.fixture(scope='module')
def sandbox():
    with Sandbox('127.0.0.1', 0, dedicated_ports=True) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(sandbox):
    sandbox.reset()
    yield
    sandbox.reset()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def send_all(sandbox, provider, numbers):
    for number in numbers:
        if provider == 'sweego':
            reply = sweego_send(sandbox, [{'num': number, 'region': 'FR'}])
        elif provider == 'twilio':
            reply = twilio_send(sandbox, to=number)
        else:
            reply = ovh_send(sandbox, receivers=[number])
        assert reply.status_code in (200, 201), reply.text


def final_statuses(sandbox, provider):
    time.sleep(0.1)
    return [message['status'] for message in sandbox.messages(provider, limit=0)]


def control(sandbox, provider, **values):
    reply = requests.post(f'{sandbox.url}/_control/{provider}', data=json.dumps(values), timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize('provider', ['sweego', 'twilio', 'ovh'])
def test_poor_delivery_reports_sixty_percent_undelivered(sandbox, provider):
    sandbox.configure(provider, callback_delay_ms=10)
    sandbox.set_mode(provider, 'poor_delivery')
    send_all(sandbox, provider, NUMBERS)
    statuses = final_statuses(sandbox, provider)
    # Every request accepted; exactly 3 of every 5 SMS reported undelivered, spread evenly.
    assert len(statuses) == 10
    assert statuses.count('undelivered') == 6
    assert statuses[:5].count('undelivered') == 3
    assert sandbox.counters(provider)['poor_delivery'] == {'sms': 10, 'undelivered': 6}


def test_recovers_through_the_control_api(sandbox):
    control(sandbox, 'twilio', mode='poor_delivery', poor_delivery_ratio=0.2, callback_delay_ms=10)
    send_all(sandbox, 'twilio', NUMBERS)
    assert final_statuses(sandbox, 'twilio').count('undelivered') == 2
    control(sandbox, 'twilio', mode='ok')
    send_all(sandbox, 'twilio', NUMBERS)
    statuses = final_statuses(sandbox, 'twilio')
    assert statuses[10:] == ['delivered'] * 10


def test_ratio_is_checked(sandbox):
    reply = requests.post(f'{sandbox.url}/_control/sweego', data=json.dumps({'poor_delivery_ratio': 1.5}),
                          timeout=5)
    assert reply.status_code == 400


def test_sweego_webhooks_say_undelivered(sandbox, receiver):
    sandbox.configure('sweego', callback_delay_ms=10, webhook_url=f'{receiver.url}/hook')
    sandbox.set_mode('sweego', 'poor_delivery')
    send_all(sandbox, 'sweego', NUMBERS[:5])
    received = receiver.wait_for(5 + 3)
    events = [json.loads(item['body'])['event_type'] for item in received]
    assert events.count('sms_undelivered') == 3
    assert events.count('sms_sent') == 5
