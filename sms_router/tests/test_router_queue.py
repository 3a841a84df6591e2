from odoo import api, SUPERUSER_ID
from odoo.tests import tagged

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterQueue(SmsRouterCase):
    """The queue cron and the company an SMS is sent for."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.company_gb.sms_router_iap_last_resort = False
        cls.acc_fr = cls._router_account(cls, cls.company_fr, 'Account FR')
        cls.acc_gb = cls._router_account(cls, cls.company_gb, 'Account GB')
        cls._router_route(cls, cls.company_fr, cls.acc_fr, name='All FR')
        cls._router_route(cls, cls.company_gb, cls.acc_gb, name='All GB')
        cls.company_plain = cls.env['res.company'].create({
            'name': 'No routes BE', 'country_id': cls.env.ref('base.be').id})

    def _queue_three_companies(self):
        self._clear_outgoing_sms()
        sms_fr = self._router_sms(self.company_fr, ['+33612345678'], body='Queued FR')
        sms_gb = self._router_sms(self.company_gb, ['+447911123456'], body='Queued GB')
        sms_plain = self._router_sms(self.company_plain, ['+32470123456'], body='Queued BE')
        return sms_fr, sms_gb, sms_plain

    def _check_three_companies(self, sms_fr, sms_gb, sms_plain):
        self.assertEqual(self.routerRecipients(self.acc_fr), ['+33612345678'])
        self.assertEqual(self.routerRecipients(self.acc_gb), ['+447911123456'])
        self.assertSMSIapSent(['+32470123456'], content='Queued BE')
        self.assertEqual([s['number'] for s in self._sms], ['+32470123456'])
        for sms in sms_fr | sms_gb | sms_plain:
            self.assertEqual(sms.state, 'pending', f'{sms.number}: {sms.failure_type} {sms.sms_router_failure_reason}')
        self.assertRouterTrail(sms_fr, [(self.acc_fr, 'sent')])
        self.assertRouterTrail(sms_gb, [(self.acc_gb, 'sent')])
        self.assertFalse(self._router_attempts(sms_plain))
        self.assertFalse(self.env['sms.sms'].search([('state', '=', 'outgoing')]))

    def test_process_queue_mixed_companies(self):
        """One cron batch holding SMS of two routed companies and of a company without
        routes: each goes its own way, with no "Expected singleton"."""
        sms_fr, sms_gb, sms_plain = self._queue_three_companies()
        self.env.flush_all()
        with self.mockSMSGateway(), \
                self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            # The queue commits its progress: run it on a cursor of its own, as the cron
            # does (in tests it shares the test transaction and commits to a savepoint).
            with self.env.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env['sms.sms'].sudo()._process_queue()
        self.env.invalidate_all()
        self._check_three_companies(sms_fr, sms_gb, sms_plain)

    def test_cron_mixed_companies(self):
        """Same, through the scheduled action itself (runs as OdooBot, whose env.company
        is none of the SMS companies)."""
        sms_fr, sms_gb, sms_plain = self._queue_three_companies()
        cron = self.env.ref('sms.ir_cron_sms_scheduler_action')
        with self.mockSMSGateway(), \
                self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            result = cron.sudo().method_direct_trigger()
        self.assertIs(result, True, f'the cron failed: {result}')
        self.env.invalidate_all()
        self._check_three_companies(sms_fr, sms_gb, sms_plain)

    def test_process_queue_failover_and_failures(self):
        self._clear_outgoing_sms()
        sms_ok = self._router_sms(self.company_fr, ['+33612345678'], body='Queued FR')
        sms_ko = self._router_sms(self.company_gb, ['+447911123456'], body='Queued GB')
        self.env.flush_all()
        with self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.PROVIDER}):
            self._router_process_queue()
        self.env.invalidate_all()
        self.assertEqual(sms_ok.state, 'pending')
        self.assertEqual(sms_ko.state, 'error')
        self.assertEqual(sms_ko.failure_type, 'sms_server')
        self.assertIn('Account GB', sms_ko.sms_router_failure_reason)

    def test_company_from_chatter_record(self):
        """An SMS posted on a record of company GB while the user works in company FR goes
        through GB's routes."""
        partner_gb = self.env['res.partner'].create({
            'name': 'Oliver Smith', 'phone': '+44 7911 123456', 'company_id': self.company_gb.id})
        with self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            message = partner_gb.with_company(self.company_fr)._message_sms('Hello from GB')
        self.assertEqual(message.record_company_id, self.company_gb)
        sms = self.env['sms.sms'].search([('mail_message_id', '=', message.id)])
        self.assertEqual(sms.sms_router_company_id, self.company_gb)
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(self.routerCalls(self.acc_fr))
        self.assertEqual(self.routerRecipients(self.acc_gb), ['+447911123456'])
        attempts = self.assertRouterTrail(sms, [(self.acc_gb, 'sent')])
        self.assertEqual(attempts.company_id, self.company_gb)
        notification = message.notification_ids.filtered(lambda n: n.notification_type == 'sms')
        self.assertEqual(notification.notification_status, 'pending')

    def test_company_from_queued_chatter_record(self):
        """Queued chatter SMS keep their record's company when the cron sends them."""
        self._clear_outgoing_sms()
        partner_gb = self.env['res.partner'].create({
            'name': 'Oliver Smith', 'phone': '+44 7911 123456', 'company_id': self.company_gb.id})
        message = partner_gb.with_company(self.company_fr)._message_sms('Queued from GB', put_in_queue=True)
        sms = self.env['sms.sms'].search([('mail_message_id', '=', message.id)])
        self.assertEqual(sms.state, 'outgoing')
        self.env.flush_all()
        with self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            self._router_process_queue()
        self.env.invalidate_all()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(self.routerCalls(self.acc_fr))
        self.assertEqual(self.routerRecipients(self.acc_gb), ['+447911123456'])

    def test_company_from_mass_composer(self):
        """Mass SMS on records of two companies (logged with notes that carry no company)
        each go through their record's company."""
        partners = self.env['res.partner'].create([
            {'name': 'Camille', 'phone': '+33612345678', 'company_id': self.company_fr.id},
            {'name': 'Oliver', 'phone': '+447911123456', 'company_id': self.company_gb.id},
        ])
        composer = self.env['sms.composer'].with_context(
            active_model='res.partner', active_ids=partners.ids, default_composition_mode='mass',
        ).create({'body': 'Mass reminder', 'mass_keep_log': True, 'mass_force_send': True})
        self.assertEqual(composer.composition_mode, 'mass')
        with self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            sms = composer._action_send_sms()
        self.assertEqual(len(sms), 2)
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertEqual(self.routerRecipients(self.acc_fr), ['+33612345678'])
        self.assertEqual(self.routerRecipients(self.acc_gb), ['+447911123456'])
        self.assertEqual(sms.sorted('number').sms_router_company_id, self.company_gb | self.company_fr)

    def test_get_sms_company_single(self):
        """Odoo's hook names one company per SMS, the one the router uses."""
        partner_gb = self.env['res.partner'].create({'name': 'Oliver', 'company_id': self.company_gb.id})
        message = partner_gb.message_post(body='Note')
        self.assertEqual(message.record_company_id, self.company_gb)
        sms = self.env['sms.sms'].create({
            'number': '+447911123456', 'body': 'x', 'mail_message_id': message.id,
            'sms_router_company_id': self.company_fr.id})
        # The record's company wins over a company given by the caller, and is stored: the
        # router and Odoo's hook (sms_twilio's too, when installed) name the same one.
        self.assertEqual(sms.sms_router_company_id, self.company_gb)
        self.assertEqual(sms._get_sms_company(), self.company_gb)
        self.assertEqual(sms._get_sms_company(), sms._sms_router_company())
        plain = self._router_sms(self.company_fr, ['+33612345678'])
        self.assertEqual(plain._get_sms_company(), self.company_fr)
        if 'record_company_id' not in sms._fields:
            # Odoo's sms_twilio, when installed, answers for a recordset with the messages'
            # companies only; the router itself always resolves one SMS at a time.
            self.assertEqual((sms | plain)._get_sms_company(), self.company_gb | self.company_fr)

    def test_company_from_sms_env(self):
        """Without a message, the company is the one the SMS was created in."""
        sms = self.env['sms.sms'].with_company(self.company_gb).create({
            'number': '+447911123456', 'body': 'From the GB environment'})
        self.assertEqual(sms.sms_router_company_id, self.company_gb)
        with self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            sms.with_company(self.company_fr).send()
        self.assertEqual(self.routerRecipients(self.acc_gb), ['+447911123456'])
        self.assertFalse(self.routerCalls(self.acc_fr))
