"""Mass SMS (mass_mailing_sms): the company that sends and pays, and precise failure types
on mailing traces."""
from odoo.tests import tagged

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterMassSms(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if 'mailing.mailing' not in cls.env:
            return
        cls.acc_fr = cls._router_account(cls, cls.company_fr, 'Account FR')
        cls.acc_gb = cls._router_account(cls, cls.company_gb, 'Account GB')
        cls._router_route(cls, cls.company_fr, cls.acc_fr, name='Default FR')
        cls._router_route(cls, cls.company_gb, cls.acc_gb, name='Default GB')
        cls.user_gb = cls.env['res.users'].create({
            'name': 'Marketer GB', 'login': 'marketer_gb', 'company_id': cls.company_gb.id,
            'company_ids': [(6, 0, cls.company_gb.ids)]})
        cls.mailing = cls.env['mailing.mailing'].create({
            'subject': 'Spring offers', 'mailing_type': 'sms', 'body_plaintext': 'Spring offers',
            'user_id': cls.user_gb.id,
            'mailing_model_id': cls.env['ir.model']._get_id('res.partner')})

    def setUp(self):
        super().setUp()
        if 'mailing.mailing' not in self.env:
            self.skipTest('mass_mailing_sms is not installed')

    def test_sms_to_a_record_without_company_goes_through_the_mailing_company(self):
        """A mailing list contact has no company, and the mailing cron runs as OdooBot in
        any company: the mailing's responsible user's company sends and pays."""
        sms = self.env['sms.sms'].with_company(self.company_fr).create({
            'number': '+447911123456', 'body': 'Spring offers', 'mailing_id': self.mailing.id})
        self.assertEqual(sms.sms_router_company_id, self.company_gb)
        self.assertEqual(sms.sms_router_traffic, 'marketing')
        with self.mockRouterClients({self.acc_fr: OutcomeKind.SENT, self.acc_gb: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.routerRecipients(self.acc_gb), ['+447911123456'])
        self.assertEqual(self.routerRecipients(self.acc_fr), [])

    def test_record_company_still_wins_over_the_mailing(self):
        partner_fr = self.env['res.partner'].create({'name': 'Camille', 'company_id': self.company_fr.id})
        message = partner_fr.message_post(body='Spring offers')
        sms = self.env['sms.sms'].create({
            'number': '+33612345678', 'body': 'Spring offers', 'mailing_id': self.mailing.id,
            'mail_message_id': message.id})
        self.assertEqual(sms.sms_router_company_id, self.company_fr)

    def test_provider_opt_out_reaches_the_mailing_trace(self):
        partner = self.env['res.partner'].create({'name': 'Oliver', 'phone': '+447911123456'})
        sms = self.env['sms.sms'].create({
            'number': '+447911123456', 'body': 'Spring offers', 'mailing_id': self.mailing.id,
            'partner_id': partner.id})
        trace = self.env['mailing.trace'].create({
            'trace_type': 'sms', 'model': 'res.partner', 'res_id': partner.id,
            'mass_mailing_id': self.mailing.id, 'sms_number': '+447911123456',
            'sms_id_int': sms.id, 'sms_tracker_ids': [(0, 0, {'sms_uuid': sms.uuid})]})
        with self.mockRouterClients({self.acc_gb: OutcomeKind.OPTED_OUT}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_optout')
        self.assertEqual(trace.trace_status, 'error')
        self.assertEqual(trace.failure_type, 'sms_optout')
        self.assertEqual(trace.failure_reason, sms.sms_router_failure_reason)
