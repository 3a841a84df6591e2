from datetime import timedelta

import responses

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import SQL

from odoo.addons.sms_router.engine.outcomes import OutcomeKind

from .common import APP_SECRET, BASE, CONSUMER_KEY, JOBS_URL, SERVICE, SmsRouterOvhCase, job_answer

FR_NUMBER = '+33612345678'
GB_NUMBER = '+447911123456'
MODEL_LOGGER = 'odoo.addons.sms_router_ovh.models.sms_router_account'


@tagged('post_install', '-at_install', 'sms_router_ovh')
class TestOvhNeutralize(SmsRouterOvhCase):
    """A neutralized copy of the database keeps no OVH secret and never calls OVH."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # On, so that the neutralization has to turn it off for IAP to stay out of reach.
        cls.company_fr.sms_router_iap_last_resort = True
        cls._router_route(cls, cls.company_fr, cls.ovh | cls.fallback, name='France')

    def _send_queue(self, numbers):
        """Send the queue as the scheduled action does, with OVH, the fallback account and
        Odoo IAP all ready to accept; return the requests that reached OVH (the clock
        included) and the number of IAP calls."""
        self.env.flush_all()
        with self.mockOvhApi() as ovh_api, self.mockSMSGateway(), \
                self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            self.addJob(payload=job_answer(numbers))
            self._router_process_queue()
            calls = list(ovh_api.calls)
            iap_calls = self._sms_api_contact_iap_mock.call_count
        self.env.invalidate_all()
        return calls, iap_calls

    def _send_control(self):
        """One SMS sent through OVH before the neutralization: the mock sees its job."""
        self._clear_outgoing_sms()
        control = self._router_sms(self.company_fr, [FR_NUMBER], body='Before')
        calls, _iap_calls = self._send_queue([FR_NUMBER])
        self.assertEqual([call.request.url for call in calls if call.request.url == JOBS_URL],
                         [JOBS_URL])
        self.assertEqual(control.state, 'pending')
        return control

    def test_secrets_removed_and_no_request(self):
        self._send_control()
        before = self._router_account_row(self.ovh)
        self.assertEqual((before['ovh_application_secret'], before['ovh_consumer_key']),
                         (APP_SECRET, CONSUMER_KEY))
        self.assertTrue(before['ovh_callback_token'])

        self._router_neutralize()
        after = self._router_account_row(self.ovh)
        changed = {column for column, value in before.items() if after[column] != value}
        self.assertEqual(changed, {'active', 'ovh_application_secret', 'ovh_consumer_key',
                                   'ovh_callback_token'})
        self.assertIsNone(after['ovh_application_secret'])
        self.assertIsNone(after['ovh_consumer_key'])
        self.assertIsNone(after['ovh_callback_token'])
        self.assertEqual(after['ovh_application_key'], 'OvhAppKey', 'an identifier, not a secret')
        self.assertFalse(self.ovh.active)
        self.assertFalse(self.fallback.active)
        self.assertFalse(self.company_fr.sms_router_iap_last_resort)

        sms = self._router_sms(self.company_fr, [FR_NUMBER, GB_NUMBER], body='After')
        calls, iap_calls = self._send_queue([FR_NUMBER, GB_NUMBER])
        self.assertEqual(calls, [], 'no request reaches OVH')
        self.assertEqual(self.router_calls, [], 'nor the fallback account')
        self.assertEqual(iap_calls, 0, 'nor Odoo IAP')
        self.assertEqual(sms.mapped('state'), ['error', 'error'])
        self.assertEqual(sms.mapped('failure_type'), ['sms_acc', 'sms_acc'])
        self.assertTrue(all(sms.mapped('sms_router_failure_reason')))

    def test_delivery_pull_of_a_neutralized_account_makes_no_request(self):
        """The scheduled pull also asks about SMS of inactive accounts: without the secrets
        it stops before signing anything."""
        control = self._send_control()
        attempt = self._router_attempts(control)
        self.assertEqual(attempt.delivery_state, 'pending')
        self._router_neutralize()
        attempt.flush_recordset()
        self.env.cr.execute(SQL('UPDATE sms_router_attempt SET create_date = %s WHERE id = %s',
                                fields.Datetime.now() - timedelta(minutes=30), attempt.id))
        attempt.invalidate_recordset(['create_date'])

        with self.mockOvhApi() as ovh_api, self.assertLogs(MODEL_LOGGER, 'WARNING') as logs:
            ovh_api.add(responses.GET, f'{BASE}/sms/{SERVICE}/outgoing/{attempt.message_id}',
                        json={'id': attempt.message_id, 'deliveryReceipt': 1})
            ovh_api.add(responses.GET, f'{BASE}/sms/{SERVICE}', json={'creditsLeft': 12})
            self.env['sms.router.account']._cron_sms_router_ovh_pull_deliveries()
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
            self.assertEqual(len(ovh_api.calls), 0)
        self.assertTrue(any('missing application secret, consumer key' in line
                            for line in logs.output), logs.output)
        self.assertEqual(attempt.delivery_state, 'pending')

    def test_reactivated_account_still_makes_no_request(self):
        """An administrator who reactivates the account on the copy gets an account that is
        misconfigured, skipped without a request, not one that sends for real."""
        self._clear_outgoing_sms()
        self._router_neutralize()
        self.ovh.active = True
        self.assertIn('missing application secret, consumer key', self.ovh.configuration_error)
        self.assertFalse(self.ovh.delivery_report_url, 'no delivery report URL until a new token')
        self.assertIn('regenerate it', self.ovh.webhook_help)

        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        calls, iap_calls = self._send_queue([FR_NUMBER])
        self.assertEqual((calls, iap_calls), ([], 0))
        self.assertRouterTrail(sms, [(self.ovh, 'misconfigured')])
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_acc')

        with self.mockOvhApi() as ovh_api:
            ovh_api.add(responses.GET, f'{BASE}/sms/{SERVICE}', json={'creditsLeft': 12})
            ovh_api.add(responses.GET, f'{BASE}/sms', json=[SERVICE])
            with self.assertRaises(UserError):
                self.ovh.action_test_connection()
            with self.assertRaises(UserError):
                self.ovh.action_refresh_credit()
            self.ovh.credit_checked_at = False
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
            self.env['res.config.settings'].with_company(self.company_fr).create({})
            with self.assertRaises(UserError):
                self.ovh.action_ovh_list_services()
            self.assertEqual(len(ovh_api.calls), 0, 'no button, the credit refresh nor the settings call OVH')
