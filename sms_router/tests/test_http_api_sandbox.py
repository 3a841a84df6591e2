"""Every HTTP API template end to end in Odoo, against its sandbox stand-in
(tests/sandbox/providers/http_api/, written from the provider's documentation): an account
made from the template sends through a route, an invalid number is a recipient error, a 503
fails over to the next account, and the stand-in's delivery reports reach the account's
report URL and mark the attempts delivered or not.

The stand-ins' credentials and callback habits come from the sandbox's own tests
(the ``CASES`` of tests/test_sandbox_http_api.py and tests/test_sandbox_http_api_b.py);
outside a checkout of the repository (an installed wheel) there is no sandbox and the test
is skipped. The stand-in posts its reports
to a local receiver standing for the account's public base URL; each one is then posted to
Odoo as received (method, path, query string, body, content type), so that the test does
not depend on when the stand-in's threads call.
"""
import importlib
import sys
import urllib.parse
from pathlib import Path

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..engine.http_templates import load_template, template_keys
from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase, route_requests_through_responses

REPO_TESTS = Path(__file__).resolve().parents[2] / 'tests'
CREDENTIAL_FIELDS = {'username': 'http_api_username', 'api_key': 'http_api_key', 'api_secret': 'http_api_secret'}


def sandbox_tests():
    """tests/test_sandbox_http_api.py as a module, or None when it cannot be loaded; its
    ``all_cases`` holds the cases of every module of stand-in tests."""
    if not (REPO_TESTS / 'test_sandbox_http_api.py').is_file():
        return None
    if str(REPO_TESTS) not in sys.path:
        sys.path.insert(0, str(REPO_TESTS))
    try:
        module = importlib.import_module('test_sandbox_http_api')
    except ImportError:
        return None
    cases = dict(module.CASES)
    for name in ('test_sandbox_http_api_b',):
        try:
            cases.update(importlib.import_module(name).CASES)
        except ImportError:
            continue
    module.all_cases = cases
    return module


def sms_outcomes(case, sms):
    return case._router_attempts(sms).mapped('outcome')


@tagged('post_install', '-at_install', 'sms_router')
# Odoo's test guard lets local requests through, but compares their timeout with a number:
# the router's clients give a (connect, read) pair. The stand-ins are local anyway.
@route_requests_through_responses
class TestHttpApiSandbox(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stand_ins = sandbox_tests()
        if cls.stand_ins is None:
            return
        cls.company_fr.sms_router_iap_last_resort = False
        cls.sandbox = cls.stand_ins.Sandbox('127.0.0.1', 0, dedicated_ports=True)
        cls.sandbox.start()
        cls.addClassCleanup(cls.sandbox.stop)
        cls.receiver = cls.stand_ins.Receiver()
        cls.addClassCleanup(cls.receiver.close)
        parts = urllib.parse.urlsplit(cls.receiver.url)
        cls.receiver_base = f'{parts.scheme}://{parts.netloc}'
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')

    def setUp(self):
        super().setUp()
        if self.stand_ins is None:
            self.skipTest('no sandbox outside a checkout of the repository')

    def _account(self, key, case, template):
        live = urllib.parse.urlsplit(template['endpoints']['live'])
        credentials = case.template_credentials(template)
        return self.env['sms.router.account'].create({
            'name': template['name'], 'company_id': self.company_fr.id, 'sms_provider': 'http_api',
            'http_api_template': key, 'sender_id': case.sender,
            # The stand-in in place of the provider's scheme and host; the receiver in place
            # of this database's public URL.
            'endpoint_url': case.endpoint(self.sandbox) + live.path.rstrip('/'),
            'public_base_url': self.receiver_base,
            **{CREDENTIAL_FIELDS[name]: value for name, value in credentials.items()},
        })

    def _replay_reports(self, account):
        """Post to Odoo every report the stand-in sent to ``account``'s URL; return their number."""
        path = f'/sms_router/http_api/report/{account.id}/'
        received = [call for call in self.receiver.received if call['path'].startswith(path)]
        for call in received:
            url = call['path'] + (f"?{call['query']}" if call['query'] else '')
            if call['method'] == 'POST':
                response = self.url_open(url, data=call['body'], headers={
                    'Content-Type': call['headers'].get('content-type', 'application/x-www-form-urlencoded')})
            else:
                response = self.url_open(url)
            self.assertEqual(response.status_code, 200, f'{account.name}: {response.text}')
        return len(received)

    @mute_logger('odoo.addons.sms_router.engine.http_api', 'odoo.addons.sms_router.controllers.http_api')
    def test_every_template_sends_fails_over_and_gets_reports(self):
        stand_ins = self.stand_ins
        keys = [key for key in template_keys() if key in stand_ins.all_cases]
        self.assertTrue(keys, 'templates with a stand-in')
        good, undelivered, invalid = stand_ins.GOOD, stand_ins.UNDELIVERED, stand_ins.INVALID
        for key in keys:
            with self.subTest(template=key):
                case, template = stand_ins.all_cases[key], load_template(key)
                self.sandbox.reset()
                self.receiver.received.clear()
                account = self._account(key, case, template)
                self.assertFalse(account.configuration_error)
                self.sandbox.configure(key, callback_delay_ms=20, undelivered_numbers=[undelivered])
                if case.dashboard_callback or case.dashboard_url:
                    self.sandbox.configure(key, callback_url=account.delivery_report_url)
                self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).unlink()
                self._router_route(self.company_fr, account | self.fallback, name=key, prefixes='+33')

                sms = self._router_sms(self.company_fr, [good, undelivered, invalid])
                with self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
                    sms.send()
                by_number = {record.number: record for record in sms}
                sent = {}
                for number in (good, undelivered):
                    reasons = self._router_attempts(by_number[number]).mapped('reason')
                    self.assertEqual(sms_outcomes(self, by_number[number]), ['sent'], f'{key}: {reasons}')
                    attempt = self.assertRouterTrail(by_number[number], [(account, 'sent')])
                    self.assertTrue(attempt.message_id, f'{key}: message id of {number}')
                    sent[number] = attempt
                self.assertRouterTrail(by_number[invalid], [(account, 'recipient_error')])
                self.assertEqual(self.router_calls, [], f'{key}: no failover')

                self.assertTrue(self.sandbox.wait_callbacks(5))
                self.receiver.wait_for(1)
                self.assertTrue(self._replay_reports(account), f'{key}: reports to the account URL')
                self.env.invalidate_all()
                self.assertEqual(sent[good].delivery_state, 'delivered', key)
                self.assertEqual(sent[undelivered].delivery_state, 'undelivered', key)

                self.sandbox.set_mode(key, 'http503')
                retry = self._router_sms(self.company_fr, [stand_ins.GOOD_2])
                with self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
                    retry.send()
                self.assertRouterTrail(retry, [(account, 'provider_error'), (self.fallback, 'sent')])
