from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterSecurity(SmsRouterCase):
    """Access rights, record rules and credential fields."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.company_gb.sms_router_iap_last_resort = False
        cls.acc_fr = cls._router_account(cls, cls.company_fr, 'Account FR', endpoint_url='https://sandbox.example.com')
        cls.acc_gb = cls._router_account(cls, cls.company_gb, 'Account GB', public_base_url='https://odoo.example.co.uk')
        cls.route_fr = cls._router_route(cls, cls.company_fr, cls.acc_fr, name='Default FR')
        cls.route_gb = cls._router_route(cls, cls.company_gb, cls.acc_gb, name='Default GB')

        cls.admin_fr = new_test_user(
            cls.env, login='router_admin_fr', groups='base.group_user,base.group_system',
            company_id=cls.company_fr.id, company_ids=[(6, 0, cls.company_fr.ids)])
        cls.operator = new_test_user(
            cls.env, login='router_operator', groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=cls.company_fr.id, company_ids=[(6, 0, (cls.company_fr | cls.company_gb).ids)])
        cls.employee = new_test_user(
            cls.env, login='router_employee', groups='base.group_user',
            company_id=cls.company_fr.id, company_ids=[(6, 0, (cls.company_fr | cls.company_gb).ids)])

    def _send_both(self):
        sms_fr = self._router_sms(self.company_fr, ['+33612345678'])
        sms_gb = self._router_sms(self.company_gb, ['+447911123456'])
        with self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            (sms_fr | sms_gb).send()
        return sms_fr, sms_gb

    def test_system_implies_operator(self):
        self.assertTrue(self.admin_fr.has_group('sms_router.group_sms_router_operator'))
        self.assertFalse(self.employee.has_group('sms_router.group_sms_router_operator'))

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_rule')
    def test_company_rules(self):
        sms_fr, sms_gb = self._send_both()
        env = self.env(user=self.admin_fr)
        self.assertEqual(env['sms.router.account'].search([]), self.acc_fr)
        self.assertEqual(env['sms.router.route'].search([]), self.route_fr)
        self.assertEqual(env['sms.router.route.step'].search([]), self.route_fr.step_ids)
        attempts = env['sms.router.attempt'].search([('sms_uuid', 'in', (sms_fr | sms_gb).mapped('uuid'))])
        self.assertEqual(attempts.mapped('sms_uuid'), [sms_fr.uuid])
        with self.assertRaises(AccessError):
            self.acc_gb.with_user(self.admin_fr).read(['name'])
        with self.assertRaises(AccessError):
            self.route_gb.with_user(self.admin_fr).read(['name'])
        with self.assertRaises(AccessError):
            self._router_attempts(sms_gb).with_user(self.admin_fr).read(['reason'])
        with self.assertRaises(AccessError):
            self.acc_gb.with_user(self.admin_fr).write({'name': 'Hijacked'})
        # Own company: full access.
        self.acc_fr.with_user(self.admin_fr).write({'name': 'Account FR (renamed)'})
        self.assertEqual(self.acc_fr.with_user(self.admin_fr).endpoint_url, 'https://sandbox.example.com')

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model')
    def test_internal_user_no_access(self):
        with self.assertRaises(AccessError):
            self.env['sms.router.account'].with_user(self.employee).search([])
        with self.assertRaises(AccessError):
            self.acc_fr.with_user(self.employee).read(['name'])
        with self.assertRaises(AccessError):
            self.env['sms.router.route'].with_user(self.employee).search([])
        with self.assertRaises(AccessError):
            self.env['sms.router.attempt'].with_user(self.employee).search([])

    def test_credential_fields_restricted(self):
        for fname in ('endpoint_url', 'public_base_url'):
            self.assertEqual(self.env['sms.router.account']._fields[fname].groups, 'base.group_system')

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model')
    def test_operator(self):
        sms_fr, sms_gb = self._send_both()
        env = self.env(user=self.operator)
        attempts = env['sms.router.attempt'].search([('sms_uuid', 'in', (sms_fr | sms_gb).mapped('uuid'))])
        self.assertEqual(len(attempts), 2)
        attempts.read(['account_name', 'outcome', 'reason', 'message_id', 'duration_ms'])
        accounts = env['sms.router.account'].search([])
        self.assertEqual(accounts, self.acc_fr | self.acc_gb)
        accounts.read(['name', 'sms_provider', 'breaker_state', 'attempt_count'])
        self.assertEqual(accounts.with_user(self.operator).mapped('attempt_count'), [1, 1])
        with self.assertRaises(AccessError):
            self.acc_fr.with_user(self.operator).read(['endpoint_url'])
        with self.assertRaises(AccessError):
            self.acc_gb.with_user(self.operator).read(['public_base_url'])
        with self.assertRaises(AccessError):
            env['sms.router.account'].create({'name': 'Rogue', 'company_id': self.company_fr.id})
        with self.assertRaises(AccessError):
            self.acc_fr.with_user(self.operator).write({'name': 'Renamed'})
        with self.assertRaises(AccessError):
            env['sms.router.route'].create({'name': 'Rogue route', 'company_id': self.company_fr.id})
        with self.assertRaises(AccessError):
            attempts.write({'reason': 'rewritten'})
        with self.assertRaises(AccessError):
            attempts.unlink()

    def test_operator_breaker_buttons(self):
        """Operators handle outages: they may force open and reset breakers."""
        account = self.acc_fr.with_user(self.operator)
        self.assertEqual(account.action_force_open_breaker()['res_model'], 'sms.router.breaker.force.open')
        account._sms_router_force_open('Planned maintenance')
        account.invalidate_recordset()
        self.assertEqual(account.breaker_state, 'forced')
        account.action_reset_breaker()
        account.invalidate_recordset()
        self.assertEqual(account.breaker_state, 'closed')

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model', 'odoo.addons.base.models.ir_rule')
    def test_breaker_buttons_check_access(self):
        """The buttons are public methods: RPC reaches them with any ids, so they check the
        caller's rights themselves."""
        for method, args in (('action_force_open_breaker', ()), ('_sms_router_force_open', ('why',)),
                             ('action_reset_breaker', ())):
            with self.assertRaises(AccessError):
                getattr(self.acc_fr.with_user(self.employee), method)(*args)
            with self.assertRaises(AccessError):
                getattr(self.acc_gb.with_user(self.admin_fr), method)(*args)
        self.acc_gb.invalidate_recordset()
        self.assertEqual(self.acc_gb.breaker_state, 'closed')
        self.acc_fr.invalidate_recordset()
        self.assertEqual(self.acc_fr.breaker_state, 'closed')

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model', 'odoo.addons.base.models.ir_rule')
    def test_admin_buttons_check_access(self):
        for user in (self.employee, self.operator):
            with self.assertRaises(AccessError):
                self.acc_fr.with_user(user).action_test_connection()
            with self.assertRaises(AccessError):
                self.acc_fr.with_user(user).action_refresh_credit()
        with self.assertRaises(AccessError):
            self.acc_gb.with_user(self.admin_fr).action_test_connection()
        self.assertEqual(self.acc_fr.with_user(self.admin_fr).action_test_connection()['params']['type'], 'success')

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_rule')
    def test_test_sms_wizard_other_company(self):
        wizard = self.env['sms.router.test.sms'].with_user(self.admin_fr).create({
            'account_id': self.acc_gb.id, 'number': '+447911123456', 'body': 'Not mine'})
        with self.mockRouterClients({self.acc_gb: OutcomeKind.SENT}), self.assertRaises(AccessError):
            wizard.action_send()
        self.assertFalse(self.router_calls)

    def test_views_hide_credentials_from_operator(self):
        for model in ('sms.router.account', 'sms.router.route', 'sms.router.attempt'):
            for view_type in ('list', 'form', 'search'):
                self.env[model].with_user(self.operator).get_views([(False, view_type)])
        def form_arch(user):
            views = self.env['sms.router.account'].with_user(user).get_views([(False, 'form')])
            return views['views']['form']['arch']

        arch = form_arch(self.operator)
        self.assertNotIn('endpoint_url', arch)
        self.assertNotIn('public_base_url', arch)
        self.assertNotIn('action_send_test_sms', arch)
        arch = form_arch(self.admin_fr)
        self.assertIn('endpoint_url', arch)
        self.assertIn('action_send_test_sms', arch)

    def test_form_of_account_as_operator(self):
        """The operator opens an account form: every displayed field is readable."""
        view = self.env['sms.router.account'].with_user(self.operator).get_views([(False, 'form')])
        field_names = [name for name in view['models']['sms.router.account']['fields']]
        self.acc_fr.with_user(self.operator).read([f for f in field_names if f != 'id'])

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model')
    def test_sms_attempts_for_system_only(self):
        sms_fr, _sms_gb = self._send_both()
        self.assertEqual(len(sms_fr.with_user(self.admin_fr).sms_router_attempt_ids), 1)
        with self.assertRaises(AccessError):
            sms_fr.with_user(self.operator).read(['sms_router_attempt_ids'])
