import time
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from ..engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ..models import sms_router_attempt_overview as attempt_overview
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterTrail(SmsRouterCase):
    """The attempt trail operations read during an outage."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')

    @staticmethod
    def _slow_sender(request):
        time.sleep(0.03)
        return BatchResult({
            r.key: RecipientOutcome(OutcomeKind.SENT, message_id=f'msg-{r.number}', batch_id='batch-42')
            for r in request.recipients})

    def test_attempt_fields(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        uuid = sms.uuid
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: self._slow_sender}):
            sms.send()
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'sent')])
        failed, sent = attempts
        self.assertEqual(failed.account_id, self.primary)
        self.assertEqual(failed.sms_provider, 'scripted')
        self.assertFalse(failed.message_id)
        self.assertEqual(sent.account_id, self.fallback)
        self.assertEqual(sent.account_name, 'Fallback FR')
        self.assertEqual(sent.message_id, 'msg-+33612345678')
        self.assertEqual(sent.batch_id, 'batch-42')
        self.assertGreaterEqual(sent.duration_ms, 30)
        self.assertEqual(sent.sms_uuid, uuid)
        self.assertEqual(sent.sms_id, sms)
        self.assertEqual(sent.delivery_state, 'pending')
        # Delivery reports find the accepted attempt by the provider's message id.
        found = self.env['sms.router.attempt']._sms_router_find(self.fallback, 'msg-+33612345678')
        self.assertEqual(found, sent)
        self.assertFalse(self.env['sms.router.attempt']._sms_router_find(self.primary, 'msg-+33612345678'))

    def test_destination_country_is_the_routing_one(self):
        # Every attempt of a French SMS says France (the country routing read, stored as
        # it is); an SMS whose number could not be read has none.
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with patch.object(attempt_overview, '_region_of', side_effect=attempt_overview._region_of) as parse:
            with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
                sms.send()
        # Stored from routing: the number is not parsed a second time for the trail.
        parse.assert_not_called()
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'sent')])
        self.assertEqual(attempts.destination_country_id, self.env.ref('base.fr'))
        unreadable = self._router_sms(self.company_fr, ['not a number'])
        uuid = unreadable.uuid
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            unreadable.send()
        trail = self.env['sms.router.attempt'].search([('sms_uuid', '=', uuid)])
        self.assertTrue(trail)
        self.assertFalse(trail.destination_country_id)

    def test_trail_survives_sms_gc(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        uuid = sms.uuid
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            sms.send()   # sent SMS are marked for deletion
        self.assertTrue(sms.to_delete)
        self.env.flush_all()
        self.env['sms.sms']._gc_device()
        self.env.invalidate_all()
        self.assertFalse(sms.exists())
        attempts = self.env['sms.router.attempt'].search([('sms_uuid', '=', uuid)], order='id')
        self.assertEqual(attempts.mapped('outcome'), ['provider_error', 'sent'])
        self.assertFalse(attempts.sms_id)
        self.assertEqual(attempts.account_id, self.primary | self.fallback)
        # A delivery report arriving after the GC still finds its attempt and tracker.
        attempts[1]._sms_router_record_delivery(False, provider_error='expired', reason='expired at the operator')
        self.assertEqual(attempts[1].delivery_state, 'undelivered')
        self.assertEqual(attempts[1].delivery_reason, 'expired at the operator')

    def test_reachable_from_account_and_sms(self):
        sms = self._router_sms(self.company_fr, ['+33612345678', '+33612345679'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.primary.invalidate_recordset()
        self.fallback.invalidate_recordset()
        self.assertEqual(self.primary.attempt_count, 2)
        self.assertEqual(self.fallback.attempt_count, 2)
        self.assertEqual(len(self.primary.attempt_ids), 2)
        action = self.primary.action_view_attempts()
        self.assertEqual(action['res_model'], 'sms.router.attempt')
        self.assertEqual(self.env['sms.router.attempt'].search(action['domain']), self.primary.attempt_ids)
        for one in sms:
            one.invalidate_recordset()
            self.assertEqual(one.sms_router_attempt_ids.mapped('account_id'), self.primary | self.fallback)
            self.assertEqual(one.sms_router_attempt_ids.mapped('step'), [1, 2])
            self.assertEqual(set(one.sms_router_attempt_ids.mapped('sms_uuid')), {one.uuid})

    def test_delivery_report_updates_notification(self):
        partner = self.env['res.partner'].create({
            'name': 'Camille', 'phone': '+33612345678', 'company_id': self.company_fr.id})
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            message = partner._message_sms('Tracked SMS')
        notification = message.notification_ids.filtered(lambda n: n.notification_type == 'sms')
        self.assertEqual(notification.notification_status, 'pending')
        attempt = self.env['sms.router.attempt'].search([
            ('number', '=', '+33612345678'), ('accepted', '=', True), ('account_id', '=', self.primary.id)])
        attempt._sms_router_record_delivery(True)
        self.assertEqual(attempt.delivery_state, 'delivered')
        self.assertEqual(notification.notification_status, 'sent')

    def test_autovacuum_by_retention(self):
        sms = self._router_sms(self.company_fr, ['+33612345678', '+33612345679'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        old, recent = self._router_attempts(sms)
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE sms_router_attempt SET create_date = %s WHERE id = %s",
                                fields.Datetime.subtract(fields.Datetime.now(), days=40), old.id))
        ICP = self.env['ir.config_parameter'].sudo()
        ICP.set_param('sms_router.attempt_retention_days', '0')
        self.env['sms.router.attempt']._gc_old_attempts()
        self.assertTrue(old.exists(), 'a retention of 0 keeps everything')
        ICP.set_param('sms_router.attempt_retention_days', '60')
        self.env['sms.router.attempt']._gc_old_attempts()
        self.env.invalidate_all()
        self.assertTrue(old.exists())
        ICP.set_param('sms_router.attempt_retention_days', '30')
        self.env['sms.router.attempt']._gc_old_attempts()
        self.env.invalidate_all()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())

    def test_autovacuum_registered(self):
        self.assertTrue(getattr(type(self.env['sms.router.attempt'])._gc_old_attempts, '_autovacuum', False))

    def test_credit_low_skips_account(self):
        self.primary.write({'credit_balance': 4.5, 'credit_low_threshold': 10.0,
                            'credit_checked_at': fields.Datetime.now()})
        self.assertTrue(self.primary.credit_low)
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(self.routerCalls(self.primary))
        attempts = self.assertRouterTrail(sms, [(self.primary, 'skipped'), (self.fallback, 'sent')])
        self.assertEqual(attempts[0].reason, 'credit 4.50 below the threshold 10.00')

    def test_credit_threshold_ignored_without_known_balance(self):
        self.primary.write({'credit_balance': 0.0, 'credit_low_threshold': 10.0, 'credit_checked_at': False})
        self.assertFalse(self.primary.credit_low)
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertRouterTrail(sms, [(self.primary, 'sent')])

    def test_credit_learnt_while_sending(self):
        def answer_with_credit(request):
            result = BatchResult.for_all(request, OutcomeKind.SENT, '')
            result.account_updates['credit_balance'] = 3.0
            return result

        self.primary.credit_low_threshold = 5.0
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE sms_router_account SET write_date = '2020-01-01 00:00:00' WHERE id = %s",
                                self.primary.id))
        self.primary.invalidate_recordset()
        write_date = self.primary.write_date
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: answer_with_credit, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.env.flush_all()
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.credit_balance, 3.0)
        # A fact learnt while sending is not a configuration change: the cached client
        # (keyed by write_date) and its connection pool are kept.
        self.assertEqual(self.primary.write_date, write_date)
        self.assertTrue(self.primary.credit_checked_at)
        self.assertTrue(self.primary.credit_low)
        sms = self._router_sms(self.company_fr, ['+33612345679'])
        with self.mockRouterClients({self.primary: answer_with_credit, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertRouterTrail(sms, [(self.primary, 'skipped'), (self.fallback, 'sent')])
