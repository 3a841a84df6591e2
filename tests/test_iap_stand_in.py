"""The local Odoo IAP stand-in answers Odoo's IAP calls as the real services do.

Real HTTP on 127.0.0.1, with the JSON-RPC payloads Odoo 19 sends (``SmsApi._send_sms_batch``,
``iap.account``, partner autocomplete).
"""
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from sandbox import iap  # noqa: E402
from sandbox.iap import IAP_ENDPOINT_PARAMS, IapStandIn  # noqa: E402

UUID_A = 'a' * 32
UUID_B = 'b' * 32


def rpc(url, params):
    answer = requests.post(url, json={'jsonrpc': '2.0', 'method': 'call', 'id': 7,
                                      'params': params}, timeout=5)
    return answer


def send_payload(webhook_url=False):
    return {'messages': [{'content': 'Hello', 'numbers': [{'uuid': UUID_A, 'number': '+33612345678'}]},
                         {'content': 'Bye', 'numbers': [{'uuid': UUID_B, 'number': '+447911123456'}]}],
            'webhook_url': webhook_url, 'account_token': 'token', 'dbuuid': 'db'}


@pytest.fixture
def stand_in():
    with IapStandIn() as server:
        yield server


def test_sms_send_accepts_every_number_and_keeps_them(stand_in):
    answer = rpc(stand_in.url + '/api/sms/3/send', send_payload())
    assert answer.status_code == 200
    body = answer.json()
    assert body['id'] == 7
    assert body['result'] == [{'uuid': UUID_A, 'state': 'success', 'credit': 1},
                              {'uuid': UUID_B, 'state': 'success', 'credit': 1}]
    assert stand_in.accepted == [(UUID_A, '+33612345678', 'Hello'), (UUID_B, '+447911123456', 'Bye')]
    assert stand_in.calls == [(2, 2)]
    assert stand_in.requests == 1


def test_down_answers_503_and_no_credit_refuses_each_number(stand_in):
    stand_in.mode = 'down'
    assert rpc(stand_in.url + '/api/sms/3/send', send_payload()).status_code == 503
    assert rpc(stand_in.url + '/iap/1/balance', {}).status_code == 503
    stand_in.mode = 'no_credit'
    result = rpc(stand_in.url + '/api/sms/3/send', send_payload()).json()['result']
    assert {r['state'] for r in result} == {'insufficient_credit'}
    assert stand_in.accepted == []
    assert stand_in.requests == 3
    stand_in.reset()
    assert (stand_in.mode, stand_in.requests) == ('ok', 0)


def test_iap_account_services_answer_a_registered_account(stand_in):
    info = rpc(stand_in.url + '/iap/1/get-accounts-information',
               {'iap_accounts': [{'token': 'tok', 'service': 'sms'}], 'dbuuid': 'db'}).json()
    assert info['result'] == {'tok': {'balance': iap.BALANCE, 'warning_threshold': 0.0,
                                      'registered': 'registered'}}
    assert rpc(stand_in.url + '/iap/1/balance', {}).json()['result'] == iap.BALANCE
    assert rpc(stand_in.url + '/api/dnb/1/enrich_by_domain', {}).json()['result'] == {'data': []}
    # Anything else: 404, which Odoo's iap_jsonrpc turns into "service unreachable".
    assert rpc(stand_in.url + '/api/unknown/1', {}).status_code == 404
    # The pages a user may open (Buy credits, SMS account): a page, never a redirect.
    page = requests.get(stand_in.url + '/iap/1/credit?dbuuid=x', timeout=5)
    assert page.status_code == 200 and 'stand-in' in page.text
    assert stand_in.state()['by_path'] == {
        '/iap/1/get-accounts-information': 1, '/iap/1/balance': 1,
        '/api/dnb/1/enrich_by_domain': 1, '/api/unknown/1': 1}


def test_control_api_switches_modes_and_lists_messages(stand_in):
    rpc(stand_in.url + '/api/sms/3/send', send_payload())
    state = requests.get(stand_in.url + '/_control', timeout=5).json()
    assert state['accepted'] == 2
    assert state['messages'][0] == {'uuid': UUID_A, 'number': '+33612345678', 'body': 'Hello'}
    assert requests.post(stand_in.url + '/_control', json={'mode': 'down'}, timeout=5).json()['mode'] == 'down'
    assert stand_in.mode == 'down'
    assert requests.post(stand_in.url + '/_control', json={'mode': 'nope'}, timeout=5).status_code == 400
    requests.post(stand_in.url + '/_control/reset', json={}, timeout=5)
    assert stand_in.state()['accepted'] == 0 and stand_in.mode == 'ok'


class _Odoo(BaseHTTPRequestHandler):
    received = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        _Odoo.received.append((self.path, json.loads(self.rfile.read(length))))
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()


def test_delivery_reports_go_to_the_loopback_webhook_only_when_asked(monkeypatch):
    monkeypatch.setattr(iap, 'REPORT_DELAY_S', 0.0)
    _Odoo.received = []
    odoo = ThreadingHTTPServer(('127.0.0.1', 0), _Odoo)
    threading.Thread(target=odoo.serve_forever, daemon=True).start()
    webhook = f'http://127.0.0.1:{odoo.server_address[1]}/sms/status'
    try:
        with IapStandIn() as quiet:      # the drills' default: no reports
            rpc(quiet.url + '/api/sms/3/send', send_payload(webhook))
        with IapStandIn(delivery_reports=True) as server:
            rpc(server.url + '/api/sms/3/send', send_payload('http://203.0.113.9/sms/status'))
            rpc(server.url + '/api/sms/3/send', send_payload(webhook))
            deadline = time.monotonic() + 5
            while not server.reports and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.reports == {'sent': 1}
    finally:
        odoo.shutdown()
        odoo.server_close()
    assert len(_Odoo.received) == 1
    path, body = _Odoo.received[0]
    assert path == '/sms/status'
    assert body['params'] == {'message_statuses': [{'sms_status': 'delivered',
                                                    'uuids': [UUID_A, UUID_B]}]}


def test_command_line_listens_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, str(TESTS / 'sandbox' / 'iap.py'), '--port', '0'],
                            stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        first = proc.stdout.readline()
        assert first.startswith('Odoo IAP stand-in listening on http://127.0.0.1:')
        url = first.split()[-1]
        assert requests.get(url + '/_control', timeout=5).json()['mode'] == 'ok'
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_the_demo_points_every_iap_parameter_odoo_reads():
    """Each system parameter through which the installed Odoo reaches an IAP service is in
    IAP_ENDPOINT_PARAMS (read from Odoo's source when it is importable)."""
    odoo = pytest.importorskip('odoo')
    import re
    roots = [Path(p) for p in odoo.__path__]
    roots += [root.parent / 'addons' for root in roots if (root.parent / 'addons').is_dir()]
    found = set()
    pattern = re.compile(r"get_param\(\s*'([a-z_.]*endpoint)'")
    modules = ('iap', 'sms', 'partner_autocomplete', 'snailmail', 'google_gmail', 'microsoft_outlook')
    for root in roots:
        for module in modules:
            for path in (root / module).rglob('*.py') if (root / module).is_dir() else ():
                if '/tests/' not in str(path):
                    found.update(pattern.findall(path.read_text(encoding='utf-8')))
    # Microsoft's own OAuth server (login.microsoftonline.com), not IAP: reached only when a
    # user connects an Outlook mail server.
    found -= {'microsoft_outlook.endpoint'}
    assert found, 'no IAP endpoint parameter found in Odoo'
    assert found <= set(IAP_ENDPOINT_PARAMS), found - set(IAP_ENDPOINT_PARAMS)
