from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from ..engine.outcomes import OutcomeKind
from .common import ScriptedClient, SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterSettings(SmsRouterCase):
    """Settings, the test SMS wizard and account actions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls._router_account(cls, cls.company_fr, 'Wizard FR', sender_id='Clinic')
        cls._router_route(cls, cls.company_fr, cls.account, name='Default FR')

    def test_settings_write_company(self):
        self.assertTrue(self.company_fr.sms_router_iap_last_resort)
        self.assertEqual(self.company_fr.sms_router_timeout_policy, 'at_least_once')
        settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertEqual(settings.company_id, self.company_fr)
        self.assertTrue(settings.sms_router_iap_last_resort)
        self.assertEqual(settings.sms_router_account_count, 1)
        self.assertEqual(settings.sms_router_route_count, 1)
        settings.write({'sms_router_iap_last_resort': False, 'sms_router_timeout_policy': 'at_most_once'})
        settings.execute()
        self.assertFalse(self.company_fr.sms_router_iap_last_resort)
        self.assertEqual(self.company_fr.sms_router_timeout_policy, 'at_most_once')
        # The other company is untouched.
        self.assertTrue(self.company_gb.sms_router_iap_last_resort)
        self.assertEqual(self.company_gb.sms_router_timeout_policy, 'at_least_once')

    def test_settings_form(self):
        with Form(self.env['res.config.settings'].with_company(self.company_gb)) as form:
            form.sms_router_iap_last_resort = False
            form.sms_router_timeout_policy = 'at_most_once'
        form.record.execute()
        self.assertFalse(self.company_gb.sms_router_iap_last_resort)
        self.assertEqual(self.company_gb.sms_router_timeout_policy, 'at_most_once')
        self.assertTrue(self.company_fr.sms_router_iap_last_resort)

    def test_settings_actions(self):
        settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertEqual(settings.action_sms_router_open_accounts()['res_model'], 'sms.router.account')
        self.assertEqual(settings.action_sms_router_open_routes()['res_model'], 'sms.router.route')
        arch = settings.get_views([(False, 'form')])['views']['form']['arch']
        for name in ('sms_router_iap_last_resort', 'sms_router_timeout_policy', 'sms_router_credits'):
            self.assertIn(name, arch)

    def test_wizard_sends(self):
        action = self.account.action_send_test_sms()
        self.assertEqual(action['res_model'], 'sms.router.test.sms')
        wizard = self.env['sms.router.test.sms'].with_context(**action['context']).create({'number': '06 12 34 56 78'})
        self.assertEqual(wizard.account_id, self.account)
        self.assertTrue(wizard.body)
        with self.mockRouterClients({self.account: OutcomeKind.SENT}):
            result = wizard.action_send()
        calls = self.routerCalls(self.account)
        self.assertEqual(len(calls), 1)
        self.assertEqual([r.number for r in calls[0].recipients], ['+33612345678'],
                         'national number read with the company country')
        self.assertEqual(calls[0].body, wizard.body)
        self.assertEqual(result['params']['type'], 'success')
        self.assertIn('Accepted by Wizard FR', wizard.result)
        self.assertIn('Wizard FR-', wizard.result, 'the provider message id is reported')
        # A test SMS bypasses routes: no trail, no SMS record.
        self.assertFalse(self.env['sms.router.attempt'].search(
            [('number', '=', '+33612345678'), ('account_id', '=', self.account.id)]))

    def test_wizard_failure(self):
        wizard = self.env['sms.router.test.sms'].create({
            'account_id': self.account.id, 'number': '+33612345678', 'body': 'Test'})
        with self.mockRouterClients({self.account: OutcomeKind.ACCOUNT}), \
                self.assertRaisesRegex(UserError, 'not accepted: Wizard FR: scripted account_error'):
            wizard.action_send()
        self.assertFalse(wizard.result)

    def test_wizard_bad_number(self):
        wizard = self.env['sms.router.test.sms'].create({
            'account_id': self.account.id, 'number': '12', 'body': 'Test'})
        with self.mockRouterClients({self.account: OutcomeKind.SENT}), self.assertRaises(UserError):
            wizard.action_send()
        self.assertFalse(self.router_calls)

    def test_wizard_misconfigured(self):
        wizard = self.env['sms.router.test.sms'].create({
            'account_id': self.account.id, 'number': '+33612345678', 'body': 'Test'})
        broken = ScriptedClient(self.account.name, OutcomeKind.SENT, configuration_error='missing API key')
        with self.mockRouterClients({self.account: broken}), \
                self.assertRaisesRegex(UserError, 'missing API key'):
            wizard.action_send()
        self.assertFalse(self.router_calls)

    def test_wizard_view(self):
        self.env['sms.router.test.sms'].get_views([(False, 'form')])
        with Form(self.env['sms.router.test.sms'].with_context(default_account_id=self.account.id)) as form:
            form.number = '+33612345678'
        self.assertEqual(form.record.account_id, self.account)

    def test_account_actions(self):
        self.assertEqual(self.account.action_test_connection()['params']['type'], 'success')
        self.assertFalse(self.account.credit_supported)
        self.assertTrue(self.account.action_refresh_credit())
        with self.assertRaises(UserError):
            self.account._sms_router_fetch_credit()
        self.assertFalse(self.account.configuration_error)
        self.assertEqual(
            self.account.sudo()._sms_router_callback_url('/sms_router/status/1'),
            self.company_fr.get_base_url().rstrip('/') + '/sms_router/status/1')
        self.account.sudo().public_base_url = 'https://public.example.com/'
        self.assertEqual(self.account._sms_router_callback_url('/sms_router/status/1'),
                         'https://public.example.com/sms_router/status/1')

    @mute_logger('odoo.sql_db')
    def test_account_constraints(self):
        with self.assertRaises(ValidationError):
            self._router_account(self.company_fr, 'Bad concurrency', max_concurrency=0)
        with self.assertRaises(ValidationError):
            self._router_account(self.company_fr, 'Bad cool-down', breaker_cooldown=0)

    def test_account_form(self):
        with Form(self.env['sms.router.account'].with_company(self.company_gb)) as form:
            form.name = 'From the form'
        account = form.record
        self.assertEqual(account.company_id, self.company_gb)
        self.assertEqual(account.sms_provider, 'iap')
        self.assertEqual(account.breaker_state, 'closed')

    def test_route_form(self):
        with Form(self.env['sms.router.route'].with_company(self.company_fr)) as form:
            form.name = 'Form route'
            form.prefixes = '+44'
            with form.step_ids.new() as step:
                step.account_id = self.account
        route = form.record
        self.assertEqual(route.step_ids.account_id, self.account)
        self.assertEqual(route.chain_summary, 'Wizard FR')
