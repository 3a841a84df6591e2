import responses

from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.sms_router.engine.outcomes import OutcomeKind
from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import (
    API_KEY, BE_NUMBER, CLIENT_UUID, CREDIT_URL, FR_NUMBER, SEND_URL, WEBHOOK_SECRET, SweegoCase,
    accepted,
)


@tagged('post_install', '-at_install', 'sms_router_sweego')
@route_requests_through_responses
class TestSweegoNeutralize(SweegoCase):
    """A neutralized copy of the database keeps no Sweego secret and never calls Sweego."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # On, so that the neutralization has to turn it off for IAP to stay out of reach.
        cls.company_fr.sms_router_iap_last_resort = True

    def _send_queue(self, sms):
        """Send the queue as the scheduled action does, with Sweego, the fallback account
        and Odoo IAP all ready to accept; return the requests that reached Sweego and the
        number of IAP calls."""
        self.env.flush_all()
        with self.mockSweego(assert_all=False) as mock, self.mockSMSGateway(), \
                self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            mock.add(responses.POST, SEND_URL, status=200, json=accepted(
                {number: f'uid-{number}' for number in sms.mapped('number')}))
            self._router_process_queue()
            iap_calls = self._sms_api_contact_iap_mock.call_count
        self.env.invalidate_all()
        return mock.calls, iap_calls

    def test_secrets_removed_and_no_request(self):
        self._clear_outgoing_sms()
        control = self._router_sms(self.company_fr, [FR_NUMBER], body='Before')
        calls, _iap_calls = self._send_queue(control)
        self.assertEqual(len(calls), 1, 'before the neutralization, the mock sees the request')
        self.assertEqual(control.state, 'pending')
        before = self._router_account_row(self.sweego)
        self.assertEqual((before['sweego_api_key'], before['sweego_webhook_secret']),
                         (API_KEY, WEBHOOK_SECRET))

        self._router_neutralize()
        after = self._router_account_row(self.sweego)
        changed = {column for column, value in before.items() if after[column] != value}
        self.assertEqual(changed, {'active', 'sweego_api_key', 'sweego_webhook_secret'})
        self.assertIsNone(after['sweego_api_key'])
        self.assertIsNone(after['sweego_webhook_secret'])
        self.assertEqual(after['sweego_client_uuid'], CLIENT_UUID, 'an identifier, not a secret')
        self.assertFalse(self.sweego.active)
        self.assertFalse(self.fallback.active)
        self.assertFalse(self.company_fr.sms_router_iap_last_resort)

        sms = self._router_sms(self.company_fr, [FR_NUMBER, BE_NUMBER], body='After')
        calls, iap_calls = self._send_queue(sms)
        self.assertEqual(len(calls), 0, 'no request reaches Sweego')
        self.assertEqual(self.router_calls, [], 'nor the fallback account')
        self.assertEqual(iap_calls, 0, 'nor Odoo IAP')
        self.assertEqual(sms.mapped('state'), ['error', 'error'])
        self.assertEqual(sms.mapped('failure_type'), ['sms_acc', 'sms_acc'])
        self.assertTrue(all(sms.mapped('sms_router_failure_reason')))

    def test_reactivated_account_still_makes_no_request(self):
        """An administrator who reactivates the account on the copy gets an account that is
        misconfigured, skipped without a request, not one that sends for real."""
        self._clear_outgoing_sms()
        self._router_neutralize()
        self.sweego.active = True
        self.assertEqual(self.sweego.configuration_error, 'missing API key')

        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        calls, iap_calls = self._send_queue(sms)
        self.assertEqual((len(calls), iap_calls), (0, 0))
        self.assertRouterTrail(sms, [(self.sweego, 'misconfigured')])
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_acc')

        with self.mockSweego(assert_all=False) as mock:
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': 42})
            self.env['res.config.settings'].with_company(self.company_fr).create({})
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
            with self.assertRaisesRegex(UserError, 'missing API key'):
                self.sweego.action_test_connection()
        self.assertFalse(mock.calls, 'neither the settings, the credit refresh nor Test Connection call Sweego')
