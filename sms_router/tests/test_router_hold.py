"""The sending path never sticks and never repeats: hold and retry through outages, a
deadline per batch, fail-open bookkeeping."""
import threading
import time
from datetime import timedelta
from unittest.mock import patch

import psycopg2

from odoo import fields
from odoo.tests import tagged
from odoo.tools import config

from ..engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ..models.sms_router_breaker import PostgresBreakerStore
from ..models.sms_router_handoff import HandoffJournal
from ..tools import sms_api as sms_api_module
from ..tools.sms_api import SmsRouterApi
from .common import ScriptedClient, SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterHold(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_max_hold_hours = 4
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR', breaker_cooldown=120)
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR', breaker_cooldown=300)
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')
        cls.queue_cron = cls.env.ref('sms.ir_cron_sms_scheduler_action')

    def _triggers(self):
        return self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)])

    def test_outage_holds_then_sends_without_resend(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        triggers_before = self._triggers()
        before = fields.Datetime.now()
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}):
            sms.send()
        self.assertEqual(sms.state, 'outgoing', 'held in the queue, not failed')
        self.assertFalse(sms.failure_type)
        self.assertTrue(sms.sms_router_hold_until)
        # No breaker opened yet (one failure each): the retry delay applies.
        self.assertAlmostEqual(sms.sms_router_hold_until, before + timedelta(seconds=60),
                               delta=timedelta(seconds=5))
        self.assertGreaterEqual(sms.sms_router_held_since, before)
        self.assertIn('Waiting for a provider until', sms.sms_router_hold_reason)
        self.assertIn('Primary FR', sms.sms_router_hold_reason)
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'account_error')])
        self.assertFalse(any(attempts.mapped('final')), 'the SMS is not decided yet')
        new_triggers = self._triggers() - triggers_before
        self.assertIn(sms.sms_router_hold_until, new_triggers.mapped('call_at'))

        # Not due yet: the queue cron leaves it alone.
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.state, 'outgoing')

        # Due, provider back: the queue sends it, nobody pressed Resend.
        sms.sms_router_hold_until = fields.Datetime.now() - timedelta(seconds=1)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertTrue(sms.exists())
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.sms_router_hold_until or sms.sms_router_held_since or sms.sms_router_hold_reason)
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'account_error'),
                                                (self.primary, 'sent')])
        self.assertEqual(attempts.mapped('step'), [1, 2, 3])
        self.assertEqual(attempts.mapped('final'), [False, False, True])

    def test_outage_goes_through_the_whole_queue_in_one_cron_run(self):
        """Held SMS are no longer due: the cron goes on with the next batch instead of
        leaving the rest of the queue untried (and without a retry time) until recovery."""
        self.env['sms.sms'].search([('state', '=', 'outgoing')]).unlink()
        self.env['ir.config_parameter'].sudo().set_param('sms_router.batch_size', 2)
        sms = self._router_sms(self.company_fr, [f'+3361234567{n}' for n in range(5)])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            result = self.queue_cron.sudo().method_direct_trigger()
        self.assertIs(result, True, f'the cron failed: {result}')
        self.env.invalidate_all()
        self.assertEqual(set(sms.mapped('state')), {'outgoing'})
        self.assertTrue(all(sms.mapped('sms_router_hold_until')), 'every SMS tried once and waiting')

    def test_hold_waits_for_the_earliest_breaker_probe(self):
        self.primary.breaker_fail_max = 1
        self.fallback.breaker_fail_max = 1
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        opened = self._router_breaker_row(self.primary)['opened_at']
        self.assertEqual(self._router_breaker_row(self.primary)['state'], 'open')
        # The primary's 120 s cool-down ends before the fallback's 300 s.
        self.assertAlmostEqual(sms.sms_router_hold_until, opened + timedelta(seconds=120),
                               delta=timedelta(seconds=1))

    def test_hold_ends_in_error_after_the_maximum(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        sms.write({'sms_router_held_since': fields.Datetime.now() - timedelta(hours=5),
                   'sms_router_hold_until': fields.Datetime.now() - timedelta(seconds=1)})
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_server')
        self.assertIn('Still failing after 4.0 h on hold', sms.sms_router_failure_reason)
        self.assertIn('all 2 attempts failed', sms.sms_router_failure_reason)
        self.assertFalse(sms.sms_router_hold_until or sms.sms_router_held_since)
        self.assertTrue(self._router_attempts(sms)[-1].final)

    def test_recipient_side_failure_is_not_held(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.RECIPIENT}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertFalse(sms.sms_router_hold_until)

    def test_hold_off_fails_at_once(self):
        self.company_fr.sms_router_max_hold_hours = 0
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertFalse(sms.sms_router_hold_until)

    def test_notification_of_a_held_sms_stays_ready(self):
        partner = self.env['res.partner'].create({'name': 'Camille', 'phone': '+33612345678',
                                                  'company_id': self.company_fr.id})
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            partner._message_sms('Your appointment', partner_ids=partner.ids)
            self.env['sms.sms'].search([('number', '=', '+33612345678')]).send()
        sms = self.env['sms.sms'].search([('number', '=', '+33612345678')])
        self.assertEqual(sms.state, 'outgoing')
        notification = self.env['mail.notification'].search([('sms_id_int', '=', sms.id)])
        self.assertEqual(notification.notification_status, 'ready')
        self.assertEqual(notification.failure_reason, sms.sms_router_hold_reason)
        self.assertIn('Waiting for a provider until', notification.failure_reason)
        # Sent later: the notification moves on and the waiting reason goes.
        sms.sms_router_hold_until = fields.Datetime.now() - timedelta(seconds=1)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(notification.notification_status, 'pending')
        self.assertFalse(notification.failure_reason)


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterBoundedDispatch(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR', timeout=0.1, max_concurrency=1)
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')

    def test_deadline_passed_leaves_the_batch_queued_untouched(self):
        sms = self._router_sms(self.company_fr, ['+33612345678', '+33612345679'])
        with patch.object(SmsRouterApi, '_sms_router_time_budget', lambda sms_api: (time.monotonic() - 1, 0.5)), \
                self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.mapped('state'), ['outgoing', 'outgoing'])
        self.assertFalse(any(sms.mapped('failure_type')))
        self.assertFalse(self._router_attempts(sms))
        self.assertTrue(all(sms.mapped('sms_router_held_since')), 'waiting, and since when')
        self.assertFalse(any(sms.mapped('sms_router_hold_until')), 'due again at once')

    def test_deadline_mid_batch_sends_some_and_defers_the_rest(self):
        def slow(request):
            time.sleep(0.2)
            return BatchResult({r.key: RecipientOutcome(OutcomeKind.SENT, message_id=f'id-{r.key}')
                                for r in request.recipients})

        numbers = [f'+3361234560{n}' for n in range(8)]
        sms = self._router_sms(self.company_fr, numbers)
        # A request starts only if it can end (0.1 s, the account's timeout) before the
        # deadline: 0.45 s of starting, 0.2 s a call, one call at a time.
        with patch.object(SmsRouterApi, '_sms_router_time_budget', lambda sms_api: (time.monotonic(), 0.45)), \
                self.mockRouterClients({self.primary: ScriptedClient('Primary FR', slow, max_recipients=1)}):
            sms.send()
        sent = sms.filtered(lambda s: s.state == 'pending')
        queued = sms.filtered(lambda s: s.state == 'outgoing')
        self.assertEqual(len(sent) + len(queued), 8)
        self.assertTrue(1 <= len(sent) <= 3, f'{len(sent)} sent before the deadline')
        self.assertEqual(len(self.router_calls), len(sent))
        self.assertFalse(self._router_attempts(queued), 'SMS not handed to a provider have no attempt')
        self.assertFalse(any(queued.mapped('failure_type')))

    def test_batch_log_line_gives_the_batch_duration(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        # The time budget began long before this batch (a cron job's earlier batches).
        with patch.object(SmsRouterApi, '_sms_router_time_budget', lambda sms_api: (time.monotonic() - 100, 200)), \
                self.mockRouterClients({self.primary: OutcomeKind.SENT}), \
                patch.object(sms_api_module._logger, 'info', wraps=sms_api_module._logger.info) as info:
            sms.send()
        self.assertEqual(sms.state, 'pending')
        batch_lines = [call.args for call in info.call_args_list if 'provider requests in' in call.args[0]]
        self.assertEqual(len(batch_lines), 1)
        seconds = batch_lines[0][-1]
        self.assertLess(seconds, 50, 'the batch took milliseconds: its log line must say so')

    def test_deferred_too_long_ends_in_error(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        sms.sms_router_held_since = fields.Datetime.now() - timedelta(hours=5)
        with patch.object(SmsRouterApi, '_sms_router_time_budget', lambda sms_api: (time.monotonic() - 1, 0.5)), \
                self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertIn('Could not be handed to a provider since', sms.sms_router_failure_reason)

    def test_account_slower_than_any_batch_fails_over(self):
        self.primary.timeout = 60
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with patch.object(SmsRouterApi, '_sms_router_time_budget', lambda sms_api: (time.monotonic(), 30)), \
                self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'misconfigured'), (self.fallback, 'sent')])
        self.assertIn('longer than the 30 s a batch may take', attempts[0].reason)

    def test_time_budget_comes_from_odoo_limits_and_the_parameter(self):
        api = SmsRouterApi(self.env)
        options = {'limit_time_real': 120, 'limit_time_real_cron': 20, 'workers': 0}
        with patch.dict(config._runtime_options, options):
            start = time.monotonic()
            started, budget = api._sms_router_time_budget()
            self.assertAlmostEqual(started, start, delta=1)
            self.assertEqual(budget, 120 - 12)
            # A cron job, counted from its start (threaded server: no thread start time here).
            cron_api = SmsRouterApi(self.env(context={'cron_end_time': start + 10}))
            self.assertEqual(cron_api._sms_router_time_budget(), (start, 20 - 5))
            # A prefork cron worker sleeps before its job, on the watchdog's time.
            with patch.dict(config._runtime_options, {'workers': 2, 'limit_time_real_cron': 180}):
                self.assertEqual(cron_api._sms_router_time_budget(), (start, 110 - 11))
            with patch.dict(config._runtime_options, {'workers': 2, 'limit_time_real_cron': -1}):
                self.assertEqual(cron_api._sms_router_time_budget(), (start, 50 - 5))
            # Below twice that sleep, Odoo kills idle cron workers: this one was woken early.
            with patch.dict(config._runtime_options, {'workers': 2, 'limit_time_real_cron': 20}):
                self.assertEqual(cron_api._sms_router_time_budget(), (start, 10 - 2.5))
            # The threaded server's cron and HTTP threads: from the start of the thread's work.
            with patch.object(threading.current_thread(), 'start_time', time.time() - 30, create=True):
                started, budget = api._sms_router_time_budget()
                self.assertAlmostEqual(started, time.monotonic() - 30, delta=1)
            self.env['ir.config_parameter'].sudo().set_param('sms_router.dispatch_time_limit', 30)
            self.assertEqual(api._sms_router_time_budget()[1], 30 - 5)
            self.assertAlmostEqual(api._sms_router_deadline() - time.monotonic(), 25, delta=1)

    def test_router_batch_size(self):
        self._router_sms(self.company_fr, ['+33612345678'])
        self.assertEqual(self.env['sms.sms']._get_send_batch_size(), 500)
        self.env['ir.config_parameter'].sudo().set_param('sms_router.batch_size', 25)
        self.assertEqual(self.env['sms.sms']._get_send_batch_size(), 25)


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterFailOpenBookkeeping(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR', breaker_fail_max=1)
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')

    def test_breaker_store_down_accepted_sms_end_sent(self):
        def down(*args, **kwargs):
            raise psycopg2.OperationalError('connection pool exhausted')

        sms = self._router_sms(self.company_fr, ['+33612345678', '+33612345679'])
        with patch.object(PostgresBreakerStore, 'load', down), \
                patch.object(PostgresBreakerStore, 'update', down), \
                patch.object(PostgresBreakerStore, 'apply', down), \
                patch.object(PostgresBreakerStore, 'acquire_probe', down), \
                self.assertLogs('odoo.addons.sms_router.engine.breakers', 'WARNING') as logs, \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.mapped('state'), ['pending', 'pending'])
        for one in sms:
            self.assertRouterTrail(one, [(self.primary, 'provider_error'), (self.fallback, 'sent')])
        self.assertIn('treated as closed', '\n'.join(logs.output))
        self.assertIsNone(self._router_breaker_row(self.primary), 'nothing could be written')

    def test_journal_down_under_at_most_once_sends_nothing_and_keeps_queued(self):
        self.company_fr.sms_router_timeout_policy = 'at_most_once'

        def down(journal, account, request):
            raise psycopg2.OperationalError('could not connect')

        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with patch.object(HandoffJournal, 'record', down), \
                self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.router_calls, [], 'no request leaves without its hand-off record')
        self.assertEqual(sms.state, 'outgoing')
        self.assertFalse(sms.failure_type)
