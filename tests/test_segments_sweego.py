"""Sweego's STOP mention: what its client says it appends, and the segments it costs."""
from addons.sms_router.engine.dispatcher import AccountHandle
from addons.sms_router_sweego.tools.sweego_client import STOP_MENTION, SweegoClient


def client(**values):
    return SweegoClient('key', 'de1bbe6f-4103-47b1-8f69-94856aaba3fc', **values)


def test_marketing_to_france_only():
    sweego = client()
    assert sweego.appended_text('FR', True) == '\n' + STOP_MENTION
    assert sweego.appended_text('FR', False) == ''
    assert sweego.appended_text('BE', True) == ''
    assert sweego.appended_text('', True) == ''


def test_market_default_campaign_type_marks_every_sms():
    sweego = client(campaign_type='market')
    assert sweego.appended_text('FR', False) == '\n' + STOP_MENTION


def test_configurable_and_empty():
    assert client(stop_mention='  STOP au 36111 ').appended_text('FR', True) == '\nSTOP au 36111'
    assert client(stop_mention='').appended_text('FR', True) == ''
    assert client(stop_mention=None).appended_text('FR', True) == ''


def test_segments_with_the_mention():
    handle = AccountHandle(1, 'Sweego', client())
    body = 'x' * 149                          # + "\nSTOP XXXXX" (11) = 160: one SMS
    assert handle.measure(body, 'FR', True)[:3] == ('gsm7', 160, 1)
    assert handle.measure(body + 'x', 'FR', True)[:3] == ('gsm7', 161, 2)
    assert handle.measure(body + 'x', 'GB', True)[:3] == ('gsm7', 150, 1)
