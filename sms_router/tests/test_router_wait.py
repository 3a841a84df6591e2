"""SMS that may not be sent yet although nothing failed (a send window, an account's
budget): they wait in the queue with a "not before" time, are never failed for it, and
leave when due. What decides the wait (windows, governor) is tested with it; here a
dispatcher that makes some SMS wait stands for them."""
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from ..engine.dispatcher import Dispatcher, SmsVerdict
from ..engine.outcomes import OutcomeKind
from ..tools import sms_api as sms_api_module
from .common import SmsRouterCase


class DeferringDispatcher(Dispatcher):
    """Runs out of time before any request: every SMS comes back deferred."""

    def dispatch(self, messages):
        return {message.key: SmsVerdict(message.key, None, deferred=True) for message in messages}


class PacingDispatcher(Dispatcher):
    """Its account's governor keeps every SMS back for the next run (rate limit)."""

    def dispatch(self, messages):
        return {message.key: SmsVerdict(message.key, None, deferred=True, paced=True) for message in messages}


class WaitingDispatcher(Dispatcher):
    """Makes the SMS to ``numbers`` wait until ``until`` (aware UTC), dispatches the rest."""

    numbers = ()
    until = None

    def dispatch(self, messages):
        waiting = [m for m in messages if m.destination and m.destination.e164 in self.numbers]
        verdicts = super().dispatch([m for m in messages if m not in waiting])
        for message in waiting:
            verdicts[message.key] = SmsVerdict(message.key, None, not_before=self.until,
                                               wait_reason=f'outside its send window until {self.until:%H:%M}')
        return verdicts


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterWait(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_max_hold_hours = 1
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls._router_route(cls, cls.company_fr, cls.primary, name='Default FR')
        cls.queue_cron = cls.env.ref('sms.ir_cron_sms_scheduler_action')

    def _waiting(self, numbers, until):
        return patch.object(sms_api_module, 'Dispatcher', type('Waiting', (WaitingDispatcher,), {
            'numbers': tuple(numbers), 'until': until}))

    def test_waits_without_failing_then_leaves_when_due(self):
        sms = self._router_sms(self.company_fr, ['+33612345678', '+33612345679'], sms_router_traffic='marketing')
        waiting, sent = sms.sorted('number')
        until = datetime.now(timezone.utc).replace(microsecond=250000) + timedelta(hours=3)
        triggers_before = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)])
        with self._waiting([waiting.number], until), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.routerRecipients(), [sent.number], 'the waiting SMS made no provider call')
        self.assertEqual(sent.state, 'pending')
        self.assertEqual(waiting.state, 'outgoing', 'waiting, not failed')
        self.assertFalse(waiting.failure_type)
        # Stored to the second, rounded up: never due before the moment it may go.
        expected = until.replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        self.assertEqual(waiting.sms_router_not_before, expected)
        self.assertIn('outside its send window until', waiting.sms_router_hold_reason)
        self.assertEqual(waiting.sms_router_reason, waiting.sms_router_hold_reason)
        self.assertFalse(waiting.sms_router_held_since, 'a wait is not a hold: no maximum hold counts it')
        self.assertFalse(waiting.sms_router_hold_until)
        # No attempt was made: the trail has the wait, with its reason, and nothing else.
        trail = self._router_attempts(waiting)
        self.assertEqual(trail.mapped('outcome'), ['waiting'])
        self.assertEqual(trail.reason, waiting.sms_router_hold_reason)
        new_triggers = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)]) - triggers_before
        self.assertIn(expected, new_triggers.mapped('call_at'), 'the queue runs when it may go')

        # Not due: the queue leaves it alone, however long past the maximum hold.
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(waiting.state, 'outgoing')

        # Due: the queue sends it and the wait is forgotten.
        waiting.sms_router_not_before = fields.Datetime.now() - timedelta(seconds=1)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.routerRecipients(), [waiting.number])
        self.assertEqual(waiting.state, 'pending')
        self.assertFalse(waiting.sms_router_not_before or waiting.sms_router_hold_reason)
        self.assertRouterTrail(waiting, [(False, 'waiting'), (self.primary, 'sent')])

    def test_chatter_says_why_and_a_deferral_ends_the_wait(self):
        partner = self.env['res.partner'].create({
            'name': 'Camille Martin', 'phone': '+33 6 12 34 56 78',
            'country_id': self.env.ref('base.fr').id, 'company_id': self.company_fr.id})
        until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=3)
        with self._waiting(['+33612345678'], until), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            message = partner._message_sms('Your order is ready')
        sms = self.env['sms.sms'].search([('mail_message_id', '=', message.id)])
        notification = message.notification_ids.filtered(lambda n: n.notification_type == 'sms')
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.state, 'outgoing')
        self.assertEqual(sms.sms_router_not_before, until.replace(tzinfo=None))
        self.assertEqual(notification.notification_status, 'ready', 'queued, not failed')
        self.assertIn('outside its send window until', notification.failure_reason)

        # Due, then deferred (the batch ran out of time): the wait and its reason are over.
        sms.sms_router_not_before = fields.Datetime.now() - timedelta(seconds=1)
        with patch.object(sms_api_module, 'Dispatcher', DeferringDispatcher):
            self._router_process_queue()
        self.assertEqual(sms.state, 'outgoing')
        self.assertFalse(sms.sms_router_not_before)
        self.assertFalse(sms.sms_router_hold_reason, 'no stale "outside its send window" reason')

    def test_governor_pacing_does_not_count_toward_the_hold(self):
        """Held for hours, then kept back by its account's rate limit once the provider is
        back: not failed for the old hold, which is over."""
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        sms.write({'sms_router_held_since': fields.Datetime.now() - timedelta(hours=5)})
        with patch.object(sms_api_module, 'Dispatcher', PacingDispatcher):
            self._router_process_queue()
        self.assertEqual(sms.state, 'outgoing', 'kept queued for its budget, not failed')
        self.assertFalse(sms.failure_type)
        self.assertFalse(sms.sms_router_held_since)

    def test_wait_replaces_a_hold_and_does_not_count_toward_it(self):
        """A held SMS that must then wait (its window closed meanwhile) waits for the window,
        not for the hold's retry time; the wait ends the hold, so that a failure after it
        holds the SMS again instead of failing it for a hold that included the wait."""
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertTrue(sms.sms_router_hold_until)
        # Held for longer than the company's maximum hold (1 h) by the time the wait ends.
        sms.sms_router_held_since = fields.Datetime.now() - timedelta(hours=2)
        sms.sms_router_hold_until = fields.Datetime.now() - timedelta(seconds=1)
        until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=2)
        with self._waiting([sms.number], until), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.state, 'outgoing')
        self.assertFalse(sms.sms_router_hold_until)
        self.assertEqual(sms.sms_router_not_before, until.replace(tzinfo=None))
        self.assertFalse(sms.sms_router_held_since, 'a wait is not a failure: the hold is over')

        # Due again, the provider still down: held anew, not failed for the old hold.
        sms.sms_router_not_before = fields.Datetime.now() - timedelta(seconds=1)
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            self._router_process_queue()
        self.assertEqual(sms.state, 'outgoing')
        self.assertTrue(sms.sms_router_hold_until)
        self.assertFalse(sms.sms_router_not_before)
