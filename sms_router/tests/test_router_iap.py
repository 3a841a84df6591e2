from unittest.mock import patch

from odoo.modules import module
from odoo.tests import tagged

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase

LAST_RESORT = 'Odoo IAP (last resort)'


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterIap(SmsRouterCase):
    """Odoo IAP as the last resort of a chain, and as the untouched default elsewhere."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')
        cls.company_plain = cls.env['res.company'].create({
            'name': 'No routes BE', 'country_id': cls.env.ref('base.be').id})

    def test_last_resort_sends(self):
        self.company_fr.sms_router_iap_last_resort = True
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.failure_type)
        self.assertSMSIapSent(['+33612345678'], content='Your appointment is tomorrow at 10:00')
        self.assertEqual(len(self._sms), 1)
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'),
                                                (self.fallback, 'account_error'),
                                                (LAST_RESORT, 'sent')])
        self.assertFalse(attempts[-1].account_id)
        self.assertEqual(attempts[-1].sms_provider, 'iap')
        self.assertTrue(attempts[-1].accepted)

    def test_last_resort_moderated_is_processing(self):
        """IAP holding an SMS for moderation answers 'processing': Odoo's Processing state,
        not Sent."""
        self.company_fr.sms_router_iap_last_resort = True
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(moderated=True), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'process')
        self.assertFalse(sms.failure_type)
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'provider_error'),
                                     (LAST_RESORT, 'sent')])

    def test_last_resort_asks_for_delivery_reports(self):
        """Like Odoo's own sending, IAP is given the URL of its delivery reports, so the
        notifications of SMS sent through the last resort do not stay "sent" forever."""
        self.company_fr.sms_router_iap_last_resort = True
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        endpoint, params = self._sms_api_contact_iap_mock.call_args.args
        self.assertEqual(endpoint, '/api/sms/3/send')
        self.assertEqual(params['webhook_url'], sms.get_base_url().rstrip('/') + '/sms/status')

    def test_last_resort_not_used_when_chain_sends(self):
        self.company_fr.sms_router_iap_last_resort = True
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertEqual(self._sms, [])
        self.assertRouterTrail(sms, [(self.primary, 'sent')])

    def test_last_resort_off(self):
        self.company_fr.sms_router_iap_last_resort = False
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_server')
        self.assertEqual(self._sms, [], 'IAP must not be contacted')
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'provider_error')])

    def test_last_resort_insufficient_credit(self):
        self.company_fr.sms_router_iap_last_resort = True
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(sim_error='credit'), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_credit')
        self.assertEqual(self._sms, [])
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'),
                                                (self.fallback, 'provider_error'),
                                                (LAST_RESORT, 'account_error')])
        self.assertIn('not enough credit', attempts[-1].reason)
        self.assertIn(f'3. {LAST_RESORT}: account error', sms.sms_router_failure_reason)

    def test_last_resort_wrong_number_format(self):
        self.company_fr.sms_router_iap_last_resort = True
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(sim_error='wrong_number_format'), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_number_format')

    def test_last_resort_unreachable(self):
        self.company_fr.sms_router_iap_last_resort = True
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(sim_error='jsonrpc_exception'), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_server')
        attempts = self._router_attempts(sms)
        self.assertEqual(attempts[-1].outcome, 'provider_error')
        self.assertIn('Odoo IAP', attempts[-1].reason)

    def test_iap_account_in_chain(self):
        """An IAP account placed in a chain sends through Odoo's own SmsApi, and the last
        resort is not appended a second time."""
        self.company_fr.sms_router_iap_last_resort = True
        iap = self._router_account(self.company_fr, 'IAP FR', provider='iap')
        self.env['sms.router.route.step'].create({
            'route_id': self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).id,
            'account_id': iap.id, 'sequence': 50})
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(sim_error='server_error'), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_server')
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'provider_error'),
                                     (iap, 'provider_error')])
        with self.mockSMSGateway(), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms = self._router_sms(self.company_fr, ['+33612345679'])
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertSMSIapSent(['+33612345679'])
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'provider_error'),
                                     (iap, 'sent')])

    def test_test_connection_when_odoo_creates_the_iap_account(self):
        """Outside tests, iap.account.get() creates a missing account in a transaction of
        its own and commits it; the button's transaction, whose snapshot is older, cannot
        read that row. The first press on a database without an SMS IAP account must still
        answer, not raise MissingError."""
        registry = self.env.registry

        def side_cursor(readonly=False):
            # A real second transaction, as in production (the test mode of the registry
            # would share the test's one), rolled back instead of committed so that the
            # test database keeps no account: its row is just as invisible here.
            cr = type(registry).cursor(registry)
            cr.commit = cr.rollback
            return cr

        self.env['iap.account'].search([('service_name', '=', 'sms')]).unlink()
        account = self._router_account(self.company_fr, 'IAP FR', provider='iap')
        with patch.object(module, 'current_test', None), \
                patch.object(registry, 'cursor', side_cursor):
            action = account.action_test_connection()
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn('Odoo created the IAP account', action['params']['message'])

    def test_test_connection_names_the_iap_account(self):
        iap_account = self.env['iap.account'].get('sms')
        account = self._router_account(self.company_fr, 'IAP FR', provider='iap')
        action = account.action_test_connection()
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn(iap_account.display_name, action['params']['message'])

    def test_company_without_routes_keeps_odoo_behaviour(self):
        with self.mockSMSGateway(), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms = self.env['sms.sms'].with_company(self.company_plain).create({
                'number': '+32470123456', 'body': 'Plain Odoo SMS'})
            self.assertEqual(sms.sms_router_company_id, self.company_plain)
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertSMSIapSent(['+32470123456'], content='Plain Odoo SMS')
        self.assertFalse(self.router_calls)
        self.assertFalse(self._router_attempts(sms))

    def test_company_without_routes_iap_failure(self):
        with self.mockSMSGateway(sim_error='credit'):
            sms = self._router_sms(self.company_plain, ['+32470123456'])
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_credit')
        self.assertFalse(sms.sms_router_failure_reason)
        self.assertFalse(self._router_attempts(sms))

    def test_company_without_routes_chatter(self):
        partner = self.env['res.partner'].create({
            'name': 'Plain partner', 'phone': '+32470123456', 'company_id': self.company_plain.id})
        with self.mockSMSGateway(), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            message = partner._message_sms('Plain chatter SMS')
        self.assertSMSNotification([{'partner': partner, 'number': '+32470123456'}],
                                   'Plain chatter SMS', message)
        self.assertFalse(self.router_calls)
        self.assertFalse(self.env['sms.router.attempt'].search([('number', '=', '+32470123456')]))

    def test_archived_routes_disable_router(self):
        self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).active = False
        with self.mockSMSGateway(), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms = self._router_sms(self.company_fr, ['+33612345678'])
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertSMSIapSent(['+33612345678'])
        self.assertFalse(self.router_calls)
        self.assertFalse(self._router_attempts(sms))
