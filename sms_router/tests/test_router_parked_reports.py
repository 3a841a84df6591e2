from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from ..engine.outcomes import Kind
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterParkedReports(SmsRouterCase):
    """A delivery report that beats the commit of its attempt is parked, then applied."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.company_fr.sms_router_iap_last_resort = False
        cls._router_route(cls, cls.company_fr, cls.primary, prefixes='+33')

    def _send_one(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: Kind.SENT}):
            sms.send()
        return sms, self._router_attempts(sms)

    def test_report_for_an_unknown_message_is_parked_then_applied(self):
        Attempt = self.env['sms.router.attempt']
        Parked = self.env['sms.router.parked.report']
        self.assertEqual(Attempt._sms_router_receive_report(self.primary, 'early-id', True), 'parked')
        parked = Parked.search([('message_id', '=', 'early-id')])
        self.assertEqual(len(parked), 1)
        Parked._sms_router_apply_parked()
        self.assertTrue(parked.exists(), 'still waiting for its attempt')

        sms, attempt = self._send_one()
        attempt.sudo().message_id = 'early-id'  # the id the provider had reported
        Parked._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_report_for_another_sms_is_refused_and_dropped(self):
        sms, attempt = self._send_one()
        outcome = self.env['sms.router.attempt']._sms_router_receive_report(
            self.primary, attempt.message_id, False, provider_error='rejected', sms_uuid='0' * 32)
        self.assertEqual(outcome, 'mismatch')
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertFalse(self.env['sms.router.parked.report'].search([('message_id', '=', attempt.message_id)]))

    def test_undelivered_report_applied_directly(self):
        sms, attempt = self._send_one()
        outcome = self.env['sms.router.attempt']._sms_router_receive_report(
            self.primary, attempt.message_id, False, provider_error='rejected', reason='carrier refused',
            sms_uuid=sms.uuid)
        self.assertEqual(outcome, 'applied')
        self.assertEqual((attempt.delivery_state, attempt.delivery_reason), ('undelivered', 'carrier refused'))

    def test_old_parked_reports_are_dropped(self):
        Parked = self.env['sms.router.parked.report']
        self.env['sms.router.attempt']._sms_router_receive_report(self.primary, 'never-sent', True)
        parked = Parked.search([('message_id', '=', 'never-sent')])
        self.env.cr.execute("UPDATE sms_router_parked_report SET create_date = %s WHERE id = %s",
                            [fields.Datetime.now() - timedelta(hours=49), parked.id])
        parked.invalidate_recordset()
        Parked._sms_router_apply_parked()
        self.assertFalse(parked.exists())

    def test_scheduled_action_exists_and_runs_often(self):
        cron = self.env.ref('sms_router.ir_cron_sms_router_parked_reports')
        self.assertTrue(cron.active)
        self.assertEqual((cron.interval_number, cron.interval_type), (2, 'minutes'))
