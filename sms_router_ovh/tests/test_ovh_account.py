from datetime import timedelta

import responses

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.sms_router_ovh.tools.ovh_client import OvhClient
from .common import APP_SECRET, BASE, CONSUMER_KEY, SERVICE, SmsRouterOvhCase

SERVICE_URL = f'{BASE}/sms/{SERVICE}'


@tagged('post_install', '-at_install', 'sms_router', 'sms_router_ovh')
class TestOvhAccount(SmsRouterOvhCase):

    def test_client_from_account(self):
        self.writeAccount(self.ovh, {'ovh_region': 'ovh-ca', 'timeout': 7, 'max_concurrency': 3,
                                     'ovh_validity_period': 60, 'ovh_tag': 'clinic'})
        client = self.ovh._sms_router_make_client()
        self.assertIsInstance(client, OvhClient)
        self.assertEqual(client.base_url, 'https://ca.api.ovh.com/1.0')
        self.assertEqual((client.service_name, client.sender, client.timeout),
                         (SERVICE, 'ACME', 7.0))
        self.assertEqual((client.validity_period, client.tag), (60, 'clinic'))
        self.assertIsNone(client.check_configuration())
        self.ovh.endpoint_url = 'http://127.0.0.1:8999/ovh/1.0/'
        self.assertEqual(self.ovh._sms_router_make_client().base_url, 'http://127.0.0.1:8999/ovh/1.0')
        self.assertTrue(self.ovh.credit_supported)
        self.assertFalse(self.primary.credit_supported)

    def test_configuration_error_names_what_is_missing(self):
        account = self._router_account(self.company_fr, 'OVH incomplete', provider='ovh')
        self.assertIn('application key', account.configuration_error)
        self.assertIn('sender', account.configuration_error)
        self.writeAccount(account, {'ovh_application_key': 'k', 'ovh_application_secret': 's',
                                    'ovh_consumer_key': 'c', 'ovh_service_name': SERVICE,
                                    'ovh_sender_for_response': True})
        self.assertFalse(account.configuration_error)

    def test_secrets_are_for_system_administrators(self):
        operator = self.env['res.users'].create({
            'name': 'Router operator', 'login': 'router_operator_ovh',
            'group_ids': [(6, 0, [self.env.ref('base.group_user').id,
                                  self.env.ref('sms_router.group_sms_router_operator').id])],
            'company_id': self.company_fr.id, 'company_ids': [(6, 0, self.company_fr.ids)],
        })
        account = self.ovh.with_user(operator)
        self.assertEqual(account.ovh_service_name, SERVICE)
        for field in ('ovh_application_secret', 'ovh_consumer_key', 'ovh_callback_token',
                      'delivery_report_url'):
            with self.assertRaises(AccessError):
                account.read([field])
        # the form still opens for operators (credential fields are removed from it)
        Form(account)

    def test_refresh_credit(self):
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, json={'name': SERVICE, 'creditsLeft': 1234.5})
            self.ovh.action_refresh_credit()
            request = next(call.request for call in api.calls if call.request.url == SERVICE_URL)
        self.assertEqual(self.ovh.credit_balance, 1234.5)
        self.assertTrue(self.ovh.credit_checked_at)
        self.assertTrue(request.headers['X-Ovh-Signature'].startswith('$1$'))

    def test_refresh_credit_error_shows_ovh_message(self):
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, status=403, headers={'X-OVH-QUERYID': 'EU.q77'},
                    json={'errorCode': 'INVALID_CREDENTIAL',
                          'message': f'Invalid key {CONSUMER_KEY}'})
            with self.assertRaises(UserError) as caught:
                self.ovh.action_refresh_credit()
        message = str(caught.exception)
        self.assertIn('INVALID_CREDENTIAL', message)
        self.assertIn('EU.q77', message)
        self.assertNotIn(CONSUMER_KEY, message)
        self.assertNotIn(APP_SECRET, message)

    def test_low_credit_skips_the_account(self):
        self.ovh.write({'credit_balance': 3, 'credit_low_threshold': 10,
                        'credit_checked_at': fields.Datetime.now()})
        self.assertTrue(self.ovh.credit_low)
        self._router_route(self.company_fr, self.ovh | self.fallback, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        from odoo.addons.sms_router.engine.outcomes import OutcomeKind
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}), self.mockOvhApi():
            sms.send()
            self.assertFalse(self.jobCalls())
        self.assertRouterTrail(sms, [(self.ovh, 'skipped'), (self.fallback, 'sent')])

    def test_test_connection(self):
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, json={'name': SERVICE, 'creditsLeft': 50})
            action = self.ovh.action_test_connection()
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn(SERVICE, action['params']['message'])
        self.assertIn('50', action['params']['message'])
        self.assertEqual(self.ovh.credit_balance, 50)
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, status=404,
                    json={'class': 'Client::NotFound', 'message': 'This service does not exist'})
            with self.assertRaisesRegex(UserError, 'This service does not exist'):
                self.ovh.action_test_connection()

    def test_test_connection_without_service_lists_services(self):
        self.writeAccount(self.ovh, {'ovh_service_name': False})
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{BASE}/sms', json=['sms-ab12345-1', 'sms-ab12345-2'])
            action = self.ovh.action_test_connection()
        self.assertIn('sms-ab12345-2', action['params']['message'])

    def test_list_services(self):
        self.writeAccount(self.ovh, {'ovh_service_name': False})
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{BASE}/sms', json=[SERVICE])
            action = self.ovh.action_ovh_list_services()
        self.assertEqual(self.ovh.ovh_service_name, SERVICE)
        self.assertEqual(action['params']['next']['tag'], 'soft_reload')
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{BASE}/sms', json=['sms-ab12345-1', 'sms-zz99999-1'])
            action = self.ovh.action_ovh_list_services()
        self.assertIn('sms-zz99999-1', action['params']['message'])
        self.assertEqual(self.ovh.ovh_service_name, SERVICE)
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{BASE}/sms', json=[])
            with self.assertRaises(UserError):
                self.ovh.action_ovh_list_services()

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model', 'odoo.addons.base.models.ir_rule')
    def test_list_services_checks_access(self):
        """The button is a public method signing a call with the account's keys as
        superuser: RPC reaches it with any id, so it checks the caller's rights itself."""
        employee = new_test_user(
            self.env, login='ovh_employee', groups='base.group_user',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        operator = new_test_user(
            self.env, login='ovh_operator', groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        admin_gb = new_test_user(
            self.env, login='ovh_admin_gb', groups='base.group_user,base.group_system',
            company_id=self.company_gb.id, company_ids=[(6, 0, self.company_gb.ids)])
        admin_fr = new_test_user(
            self.env, login='ovh_admin_fr', groups='base.group_user,base.group_system',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        self.writeAccount(self.ovh, {'ovh_service_name': False})
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{BASE}/sms', json=[SERVICE])
            for user in (employee, operator, admin_gb):
                with self.subTest(user=user.login), self.assertRaises(AccessError):
                    self.ovh.with_user(user).action_ovh_list_services()
            self.assertFalse(api.calls, 'no call signed with the keys of an account one may not edit')
            self.assertFalse(self.ovh.ovh_service_name)
            self.ovh.with_user(admin_fr).action_ovh_list_services()
        self.assertEqual(self.ovh.ovh_service_name, SERVICE)

    def test_settings_show_and_refresh_ovh_credit(self):
        stale = self._router_account(self.company_fr, 'OVH stale', provider='ovh', sender_id='ACME',
                                     ovh_application_key='k', ovh_application_secret='s',
                                     ovh_consumer_key='c', ovh_service_name='sms-st12345-1')
        self.ovh.write({'credit_balance': 40, 'credit_checked_at': fields.Datetime.now()})
        stale.write({'credit_balance': 5,
                     'credit_checked_at': fields.Datetime.now() - timedelta(hours=2)})
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{BASE}/sms/sms-st12345-1', json={'creditsLeft': 4})
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            self.assertEqual(settings.sms_router_credit_account_ids, self.ovh | stale)
            urls = [call.request.url for call in api.calls]
        self.assertNotIn(SERVICE_URL, urls)          # fresh enough: not asked again
        self.assertEqual(stale.credit_balance, 4)
        self.assertEqual(self.ovh.credit_balance, 40)
        # an OVH failure does not break Settings: the last known value stays, with the reason
        stale.credit_checked_at = fields.Datetime.now() - timedelta(hours=2)
        with self.mockOvhApi() as api, \
                self.assertLogs('odoo.addons.sms_router.models.sms_router_account', 'WARNING'):
            api.add(responses.GET, f'{BASE}/sms/sms-st12345-1', status=500, body='oops')
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            self.assertEqual(settings.sms_router_credit_account_ids, self.ovh | stale)
        self.assertEqual(stale.credit_balance, 4)
        self.assertIn('500', stale.credit_error)
        # the Refresh button asks again, whatever the age
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, json={'creditsLeft': 39})
            api.add(responses.GET, f'{BASE}/sms/sms-st12345-1', json={'creditsLeft': 3})
            settings.action_sms_router_refresh_credits()
        self.assertEqual((self.ovh.credit_balance, stale.credit_balance), (39, 3))
        self.assertFalse(stale.credit_error)

    def test_fetch_credit_hook(self):
        """The provider's part of the credit: read it, with the timeout asked for."""
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, json={'creditsLeft': 17.5})
            credit = self.ovh.sudo()._sms_router_fetch_credit(timeout=2.0)
            call = next(call for call in api.calls if call.request.url == SERVICE_URL)
        self.assertEqual(credit, {'credit_balance': 17.5, 'credit_expiry': False})
        self.assertEqual(call.request.req_kwargs['timeout'], (2.0, 2.0))

    def test_core_cron_refreshes_stale_ovh_credits(self):
        self.ovh.credit_checked_at = fields.Datetime.now() - timedelta(hours=2)
        self._router_credits_read_now_except(self.ovh)
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, json={'name': SERVICE, 'creditsLeft': 12})
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
            self.assertEqual(len([call for call in api.calls if call.request.url == SERVICE_URL]), 1)
        self.assertEqual(self.ovh.credit_balance, 12.0)
        self.assertFalse(self.ovh.credit_error)

    def test_credit_error_never_holds_a_secret(self):
        with self.mockOvhApi() as api, \
                self.assertLogs('odoo.addons.sms_router.models.sms_router_account', 'WARNING') as logs:
            api.add(responses.GET, SERVICE_URL, body=ConnectionError(
                f'refused with {APP_SECRET} and {CONSUMER_KEY}'))
            self.ovh._sms_router_refresh_credit_quietly()
        self.assertIn('refused with *** and ***', self.ovh.credit_error)
        for text in (self.ovh.credit_error, *logs.output):
            self.assertNotIn(APP_SECRET, text)
            self.assertNotIn(CONSUMER_KEY, text)
