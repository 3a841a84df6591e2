import responses

from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import (
    ACCOUNT_SID, ACCOUNT_URL, API_KEY_SECRET, API_KEY_SID, NUMBERS_URL, TwilioRouterCase,
)

FR_NUMBER = '+33612345678'
GB_NUMBER = '+447400123456'


@tagged('post_install', '-at_install', 'sms_router_twilio')
@route_requests_through_responses
class TestTwilioNeutralize(TwilioRouterCase):
    """A neutralized copy of the database keeps no Twilio secret and never calls Twilio."""

    def setUp(self):
        super().setUp()
        # On, so that the neutralization has to turn it off for IAP to stay out of reach.
        self.company_fr.sms_router_iap_last_resort = True
        # Both ways of authenticating: an API key, and the Auth Token alone.
        self.twilio_key = self._twilio_account(
            self.company_fr, 'Twilio key', twilio_api_key_sid=API_KEY_SID,
            twilio_api_key_secret=API_KEY_SECRET)
        self.twilio_token = self._twilio_account(self.company_fr, 'Twilio token')
        self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).unlink()
        self._router_route(self.company_fr, self.twilio_key | self.twilio_token, name='Default')

    def _send_queue(self):
        """Send the queue as the scheduled action does, with Twilio and Odoo IAP ready to
        accept; return the requests that reached Twilio and the number of IAP calls."""
        self.env.flush_all()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, \
                self.mockSMSGateway():
            self._twilio_accepts(rsps)
            self._router_process_queue()
            calls = list(rsps.calls)
            iap_calls = self._sms_api_contact_iap_mock.call_count
        self.env.invalidate_all()
        return calls, iap_calls

    def test_secrets_removed_and_no_request(self):
        self._clear_outgoing_sms()
        control = self._router_sms(self.company_fr, [FR_NUMBER], body='Before')
        calls, _iap_calls = self._send_queue()
        self.assertEqual(len(calls), 1, 'before the neutralization, the mock sees the request')
        self.assertEqual(control.state, 'pending')
        accounts = self.twilio_key | self.twilio_token
        before = {account: self._router_account_row(account) for account in accounts}

        self._router_neutralize()
        for account in accounts:
            after = self._router_account_row(account)
            changed = {column for column, value in before[account].items() if after[column] != value}
            self.assertEqual(changed, {'active', 'twilio_auth_token', 'twilio_api_key_secret'}
                             if account == self.twilio_key else {'active', 'twilio_auth_token'})
            self.assertIsNone(after['twilio_auth_token'])
            self.assertIsNone(after['twilio_api_key_secret'])
            self.assertEqual(after['twilio_account_sid'], ACCOUNT_SID, 'an identifier, not a secret')
            self.assertFalse(account.active)
        self.assertEqual(self._router_account_row(self.twilio_key)['twilio_api_key_sid'], API_KEY_SID)
        self.assertFalse(self.company_fr.sms_router_iap_last_resort)

        sms = self._router_sms(self.company_fr, [FR_NUMBER, GB_NUMBER], body='After')
        calls, iap_calls = self._send_queue()
        self.assertEqual(len(calls), 0, 'no request reaches Twilio')
        self.assertEqual(iap_calls, 0, 'nor Odoo IAP')
        self.assertEqual(sms.mapped('state'), ['error', 'error'])
        self.assertEqual(sms.mapped('failure_type'), ['sms_acc', 'sms_acc'])
        self.assertTrue(all(sms.mapped('sms_router_failure_reason')))

    def test_reactivated_accounts_still_make_no_request(self):
        """An administrator who reactivates the accounts on the copy gets accounts that are
        misconfigured, skipped without a request, not accounts that send for real."""
        self._clear_outgoing_sms()
        self._router_neutralize()
        accounts = self.twilio_key | self.twilio_token
        accounts.active = True
        self.assertIn('without its secret', self.twilio_key.configuration_error)
        self.assertIn('no credentials', self.twilio_token.configuration_error)

        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        calls, iap_calls = self._send_queue()
        self.assertEqual((len(calls), iap_calls), (0, 0))
        self.assertRouterTrail(sms, [(self.twilio_key, 'misconfigured'),
                                     (self.twilio_token, 'misconfigured')])
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_acc')

        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.add(responses.GET, ACCOUNT_URL, json={'sid': ACCOUNT_SID, 'status': 'active'})
            rsps.add(responses.GET, NUMBERS_URL, json={'incoming_phone_numbers': []})
            for account in accounts:
                with self.assertRaises(UserError):
                    account.action_test_connection()
                with self.assertRaises(UserError):
                    account.action_twilio_reload_numbers()
            self.assertFalse(rsps.calls, 'neither Test Connection nor Reload Numbers call Twilio')
        # Signatures of status callbacks and inbound SMS cannot be checked any more.
        self.assertTrue(all(accounts.mapped('twilio_webhook_warning')))
