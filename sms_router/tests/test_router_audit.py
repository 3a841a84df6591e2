"""Audit: the chatter of accounts and routes (tracked settings, failover chain changes,
breaker transitions, Force Open with a reason, Reset), and no credential in any of it."""
from unittest.mock import patch

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from ..engine.outcomes import BatchResult, OutcomeKind
from ..models.sms_router_account import SmsRouterAccount
from .common import SmsRouterCase

SECRET = 'Sup3rS3cretValue-0123456789abcdef'


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterAudit(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Sweego FR', breaker_fail_max=2,
                                          breaker_cooldown=60)
        cls.second = cls._router_account(cls, cls.company_fr, 'OVH FR')
        cls.third = cls._router_account(cls, cls.company_fr, 'Odoo IAP FR')
        cls.route = cls._router_route(cls, cls.company_fr, cls.primary | cls.second, name='France')
        cls.spare = cls._router_account(cls, cls.company_fr, 'Spare FR')
        cls.operator = new_test_user(
            cls.env, login='audit_operator', name='Olga Operator',
            groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=cls.company_fr.id, company_ids=[(6, 0, cls.company_fr.ids)])

    # ------------------------------------------------------------ helpers

    def flush_tracking(self):
        """Write what tracking and notes wait for the commit to write."""
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.invalidate_all()

    def messages(self, record):
        return self.env['mail.message'].search(
            [('model', '=', record._name), ('res_id', '=', record.id)], order='id')

    def notes(self, record, text):
        return self.messages(record).filtered(lambda message: text in (message.body or ''))

    def tracked(self, record, fname):
        return self.messages(record).tracking_value_ids.filtered(lambda value: value.field_id.name == fname)

    def _send(self, behaviours, numbers=('+33612345678',)):
        sms = self._router_sms(self.company_fr, list(numbers), body='Audit test')
        with self.mockRouterClients(behaviours):
            sms.send()
        self.env.invalidate_all()
        return sms

    # ------------------------------------------------------------ tracking

    def test_account_settings_are_tracked(self):
        changes = {
            'name': 'Spare FR (renamed)',
            'sender_id': 'Clinic',
            'endpoint_url': 'https://sandbox.example.com/api',
            'public_base_url': 'https://odoo.example.com',
            'timeout': 4.5,
            'max_concurrency': 6,
            'breaker_fail_max': 5,
            'breaker_cooldown': 120,
            'credit_low_threshold': 25.0,
            'active': False,
            'company_id': self.company_gb.id,
        }
        for fname, value in changes.items():
            self.spare.write({fname: value})
            self.flush_tracking()
            self.assertEqual(len(self.tracked(self.spare, fname)), 1, f'{fname} is tracked')
        if 'ovh_region' in self.spare._fields:
            # OVH's endpoint is its API region (with sms_router_ovh installed).
            self.spare.ovh_region = 'ovh-ca'
            self.flush_tracking()
            self.assertEqual(len(self.tracked(self.spare, 'ovh_region')), 1)
        timeout = self.tracked(self.spare, 'timeout')
        self.assertEqual((timeout.old_value_float, timeout.new_value_float), (10.0, 4.5))

    def test_route_settings_are_tracked(self):
        changes = {
            'name': 'France and overseas',
            'prefixes': '+33 +262',
            'country_ids': [(6, 0, self.env.ref('base.re').ids)],
            'traffic_type': 'transactional',
            'active': False,
        }
        for fname, value in changes.items():
            self.route.write({fname: value})
            self.flush_tracking()
            self.assertEqual(len(self.tracked(self.route, fname)), 1, f'{fname} is tracked')
        traffic = self.tracked(self.route, 'traffic_type')
        self.assertEqual((traffic.old_value_char, traffic.new_value_char), ('All SMS', 'Transactional only'))

    def test_tracking_values_of_restricted_fields_follow_the_field_groups(self):
        self.spare.write({'endpoint_url': 'https://sandbox.example.com/api'})
        self.flush_tracking()
        value = self.tracked(self.spare, 'endpoint_url')
        self.assertTrue(value._filter_has_field_access(self.env))
        self.assertFalse(value._filter_has_field_access(self.env(user=self.operator)),
                         'operators do not see endpoint changes, as they do not see the endpoint')

    # ------------------------------------------------------------ credentials

    def test_credentials_are_never_tracked_nor_posted(self):
        Account = self.env['sms.router.account']
        secrets = Account._sms_router_secret_field_names()
        self.assertFalse({'endpoint_url', 'public_base_url', 'name', 'sender_id'} & secrets)
        self.assertFalse(secrets & Account._track_get_fields(), 'no credential field is tracked')
        # With the provider addons installed, every one of their credentials.
        for fname in sorted(secrets):
            self.spare.sudo().write({fname: f'{SECRET}-{fname}'})
            self.flush_tracking()
        values = self.env['mail.tracking.value'].sudo().search([
            '|', ('old_value_char', 'ilike', SECRET), ('new_value_char', 'ilike', SECRET)])
        self.assertFalse(values, 'no credential in any tracking value')
        self.assertFalse(self.env['mail.message'].sudo().search([('body', 'ilike', SECRET)]),
                         'no credential in any message')

    def test_a_credential_marked_for_tracking_is_still_not_tracked(self):
        """A provider addon that sets tracking=True on a credential by mistake: the
        account drops it all the same (here the timeout plays the credential)."""
        Account = type(self.env['sms.router.account'])
        secret_names = Account._sms_router_secret_field_names
        with patch.object(Account, '_sms_router_secret_field_names',
                          lambda self: secret_names(self) | {'timeout'}):
            self.assertNotIn('timeout', self.env['sms.router.account']._track_get_fields())
            self.spare.write({'timeout': 3.0})
            self.flush_tracking()
        self.assertFalse(self.tracked(self.spare, 'timeout'))
        self.assertIn('timeout', self.env['sms.router.account']._track_get_fields())

    def test_breaker_note_has_no_credential(self):
        self.primary.sudo().endpoint_url = 'https://sandbox.example.com'
        with patch.object(SmsRouterAccount, '_sms_router_secrets', lambda self: [SECRET]):
            self._send({self.primary: OutcomeKind.PROVIDER, self.second: OutcomeKind.SENT})
            self._send({self.primary: lambda request: self._fail_with(request, f'HTTP 401 key={SECRET}'),
                        self.second: OutcomeKind.SENT}, numbers=('+33612345679',))
        note = self.notes(self.primary, 'Breaker opened')
        self.assertEqual(len(note), 1)
        self.assertIn('key=***', note.body)
        self.assertNotIn(SECRET, note.body)

    @staticmethod
    def _fail_with(request, reason):
        return BatchResult.for_all(request, OutcomeKind.PROVIDER, reason)

    # ------------------------------------------------------------ chain

    def chain_notes(self, route=None):
        return self.notes(route or self.route, 'Failover chain changed')

    def test_creation_message_names_the_chain(self):
        self.assertTrue(self.notes(self.route, 'Failover chain: Sweego FR → OVH FR'))

    def test_chain_change_is_one_note_with_before_and_after(self):
        first, second = self.route.step_ids.sorted('sequence')
        # Reorder, remove and add in one save of the form.
        self.route.write({'step_ids': [
            (1, first.id, {'sequence': 5}),
            (1, second.id, {'sequence': 1}),
            (0, 0, {'account_id': self.third.id, 'sequence': 9}),
        ]})
        self.flush_tracking()
        note = self.chain_notes()
        self.assertEqual(len(note), 1, 'one note for the whole change')
        self.assertIn('Before: Sweego FR → OVH FR', note.body)
        self.assertIn('After: OVH FR → Sweego FR → Odoo IAP FR', note.body)
        # The route's other fields alone log no chain note.
        self.route.write({'name': 'France (renamed)'})
        self.flush_tracking()
        self.assertEqual(len(self.chain_notes()), 1)

    def test_chain_change_through_the_form(self):
        with Form(self.route) as form:
            form.step_ids.remove(index=0)
            with form.step_ids.new() as step:
                step.account_id = self.third
                step.sequence = 20
        note = self.chain_notes()
        self.assertEqual(len(note), 1)
        self.assertIn('After: OVH FR → Odoo IAP FR', note.body)

    def test_chain_change_on_the_steps_themselves(self):
        Step = self.env['sms.router.route.step']
        step = Step.create({'route_id': self.route.id, 'account_id': self.third.id, 'sequence': -1})
        self.assertIn('After: Odoo IAP FR → Sweego FR → OVH FR', self.chain_notes()[-1:].body)
        step.sequence = 50
        self.assertIn('After: Sweego FR → OVH FR → Odoo IAP FR', self.chain_notes()[-1:].body)
        step.unlink()
        self.assertIn('After: Sweego FR → OVH FR<', self.chain_notes()[-1:].body)
        self.assertEqual(len(self.chain_notes()), 3)
        # A change that leaves the order as it was logs nothing.
        self.route.step_ids[:1].sequence = self.route.step_ids[:1].sequence
        self.assertEqual(len(self.chain_notes()), 3)

    def test_deleting_an_account_logs_on_its_routes(self):
        self.second.unlink()
        note = self.chain_notes()
        self.assertEqual(len(note), 1)
        self.assertIn('Before: Sweego FR → OVH FR', note.body)
        self.assertIn('After: Sweego FR<', note.body)

    # ------------------------------------------------------------ breaker transitions

    def test_breaker_transitions_logged_once_each(self):
        failing = {self.primary: OutcomeKind.PROVIDER, self.second: OutcomeKind.SENT}
        self._send(failing)
        self.assertFalse(self.notes(self.primary, 'Breaker'), 'one failure: no transition')
        self._send(failing, numbers=('+33612345679',))
        opened = self.notes(self.primary, 'Breaker opened')
        self.assertEqual(len(opened), 1)
        self.assertIn('after 2 consecutive failures', opened.body)
        self.assertIn('Sweego FR: scripted provider_error', opened.body)
        self.assertIn('in 60 s', opened.body)
        self.assertEqual(opened.author_id, self.env.ref('base.partner_root'))
        self.assertEqual(opened.subtype_id, self.env.ref('mail.mt_note'))
        # Skipped while open: nothing new.
        self._send(failing, numbers=('+33612345670', '+33612345671'))
        self.assertEqual(len(self.notes(self.primary, 'Breaker')), 1)
        # The probe fails: open again, with the doubled cool-down.
        self._router_age_breaker(self.primary, 61)
        self._send(failing, numbers=('+33612345672',))
        probe_failed = self.notes(self.primary, 'Probe failed')
        self.assertEqual(len(probe_failed), 1)
        self.assertIn('in 120 s', probe_failed.body)
        # The next probe succeeds: closed.
        self._router_age_breaker(self.primary, 121)
        self._send({self.primary: OutcomeKind.SENT}, numbers=('+33612345673',))
        self.assertEqual(len(self.notes(self.primary, 'Probe succeeded: breaker closed')), 1)
        self.assertFalse(self.notes(self.second, 'Breaker'), 'the healthy account logs nothing')

    def test_one_note_per_transition_not_per_sms(self):
        self.primary.breaker_fail_max = 1
        numbers = [f'+336123456{index:02d}' for index in range(30)]
        sms = self._send({self.primary: OutcomeKind.PROVIDER, self.second: OutcomeKind.SENT}, numbers=numbers)
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertEqual(len(self.notes(self.primary, 'Breaker opened')), 1)

    @mute_logger('odoo.addons.sms_router.tools.sms_api')
    def test_logging_a_transition_never_breaks_sending(self):
        def broken(account, transitions):
            raise RuntimeError('chatter down')

        with patch.object(SmsRouterAccount, '_sms_router_log_breaker_transitions', broken):
            self._send({self.primary: OutcomeKind.PROVIDER, self.second: OutcomeKind.SENT})
            sms = self._send({self.primary: OutcomeKind.PROVIDER, self.second: OutcomeKind.SENT},
                             numbers=('+33612345679',))
        self.assertEqual(sms.state, 'pending', 'sent by the next account all the same')
        self.assertEqual(self.primary.breaker_state, 'open')
        self.assertFalse(self.notes(self.primary, 'Breaker opened'))
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.second, 'sent')])

    # ------------------------------------------------------------ force open / reset

    def test_force_open_asks_for_a_reason(self):
        action = self.primary.action_force_open_breaker()
        self.assertEqual(action['res_model'], 'sms.router.breaker.force.open')
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'closed', 'nothing happens before the reason')
        Wizard = self.env['sms.router.breaker.force.open'].with_context(**action['context'])
        form = Form(Wizard)
        self.assertEqual(form.account_ids[:], self.primary)
        with self.assertRaises(AssertionError):
            form.save()  # the reason is required
        form.reason = 'Sweego maintenance 22:00-23:00'
        form.save().action_confirm()
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'forced')
        note = self.notes(self.primary, 'Breaker forced open by')
        self.assertEqual(len(note), 1)
        self.assertIn(f'Breaker forced open by {self.env.user.name}: Sweego maintenance 22:00-23:00', note.body)
        self.assertEqual(note.author_id, self.env.user.partner_id)
        with self.assertRaises(UserError):
            self.primary._sms_router_force_open('   ')

    def test_operator_forces_open_and_resets_with_notes(self):
        account = self.primary.with_user(self.operator)
        wizard = self.env['sms.router.breaker.force.open'].with_user(self.operator).create({
            'account_ids': [(6, 0, account.ids)], 'reason': 'Carrier outage announced'})
        wizard.action_confirm()
        account.invalidate_recordset()
        self.assertEqual(account.breaker_state, 'forced')
        account.action_reset_breaker()
        account.invalidate_recordset()
        self.assertEqual(account.breaker_state, 'closed')
        forced = self.notes(self.primary, 'Breaker forced open by Olga Operator: Carrier outage announced')
        reset = self.notes(self.primary, 'Breaker reset by Olga Operator')
        self.assertEqual((len(forced), len(reset)), (1, 1))
        self.assertEqual((forced | reset).author_id, self.operator.partner_id)
        # Operators read the account's chatter.
        self.env['mail.message'].with_user(self.operator).browse((forced | reset).ids).read(['body'])

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model', 'odoo.addons.base.models.ir_rule')
    def test_force_open_checks_access(self):
        employee = new_test_user(self.env, login='audit_employee', groups='base.group_user',
                                 company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        with self.assertRaises(AccessError):
            self.primary.with_user(employee)._sms_router_force_open('no')
        with self.assertRaises(AccessError):
            self.env['sms.router.breaker.force.open'].with_user(employee).create({
                'account_ids': [(6, 0, self.primary.ids)], 'reason': 'no'})
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'closed')
        self.assertFalse(self.notes(self.primary, 'forced open'))

    # ------------------------------------------------------------ views

    def test_forms_have_a_chatter(self):
        for model in ('sms.router.account', 'sms.router.route'):
            arch = self.env[model].get_views([(False, 'form')])['views']['form']['arch']
            self.assertIn('chatter', arch, model)
        arch = etree.fromstring(self.env['sms.router.account'].get_views([(False, 'form')])['views']['form']['arch'])
        button = arch.xpath('//button[@name="action_force_open_breaker"]')[0]
        self.assertIsNone(button.get('confirm'), 'Force Open asks for a reason instead')
        self.env['sms.router.breaker.force.open'].get_views([(False, 'form')])
