import itertools
from datetime import datetime, timedelta, timezone

from odoo import fields
from odoo.sql_db import db_connect
from odoo.tests import tagged
from odoo.tools import SQL

from ..engine.governor import MARKETING, TRANSACTIONAL, WAIT_DAILY, WAIT_PAUSE, WAIT_RATE, GovernorSettings
from ..engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ..models.sms_router_rate_bucket import PostgresGovernor
from .common import ScriptedClient, SmsRouterCase

_fake_ids = itertools.count(2_000_000_000)


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterGovernor(SmsRouterCase):
    """The throughput governor in Odoo: the PostgreSQL bucket, sending within it, the lanes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.governed = cls._router_account(cls, cls.company_fr, 'Governed FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls._router_route(cls, cls.company_fr, cls.governed | cls.fallback, name='All FR')

    def _numbers(self, count, start=0):
        return [f'+3361234{n:04d}' for n in range(start, start + count)]

    def _shared_governor(self, settings):
        """A governor on a connection of its own, committed at once, as another worker's
        would be (not the test's transaction); its row is removed afterwards."""
        account_id = next(_fake_ids)
        database = db_connect(self.env.cr.dbname)

        def cleanup():
            with database.cursor() as cr:
                cr.execute(SQL('DELETE FROM sms_router_rate_bucket WHERE account_id = %s', account_id))
        self.addCleanup(cleanup)

        def make():
            governor = PostgresGovernor(account_id, settings, cursor_factory=database.cursor)
            self.addCleanup(governor.close)
            return governor
        return make

    # ------------------------------------------------------------------ the bucket

    def test_bucket_is_shared_by_two_connections(self):
        make = self._shared_governor(GovernorSettings(rate=10))     # burst 4, reserve 1
        first, second = make(), make()
        self.assertEqual(first.acquire(3, TRANSACTIONAL), 0)
        self.assertEqual(second.acquire(1, TRANSACTIONAL), 0)
        # The other connection took the rest: both see an empty bucket.
        for governor in (first, second):
            wait = governor.acquire(1, TRANSACTIONAL)
            self.assertEqual(wait.kind, WAIT_RATE)
            self.assertGreater(wait, 0)
            self.assertLessEqual(wait, 0.11)
        self.assertLess(first.state().tokens, 1)
        self.assertEqual(second.state().used_today, 4)
        # A Retry-After seen by one worker pauses the other.
        first.pause(30)
        wait = second.acquire(1, TRANSACTIONAL)
        self.assertEqual(wait.kind, WAIT_PAUSE)
        self.assertAlmostEqual(float(wait), 30, delta=2)

    def test_reserve_and_daily_cap_in_sql(self):
        make = self._shared_governor(GovernorSettings(rate=10, daily_cap=5))  # burst 4, reserve 1
        first, second = make(), make()
        self.assertEqual(first.acquire(3, MARKETING), 0)
        self.assertEqual(second.acquire(1, MARKETING).kind, WAIT_RATE)      # the reserve is left
        self.assertEqual(second.acquire(1, TRANSACTIONAL), 0)               # ... for transactional SMS
        self.assertEqual(first.state().used_today, 4)
        wait = first.acquire(2, TRANSACTIONAL)
        self.assertEqual(wait.kind, WAIT_DAILY)
        midnight = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=1), datetime.min.time(),
                                    tzinfo=timezone.utc)
        self.assertAlmostEqual(float(wait), (midnight - datetime.now(timezone.utc)).total_seconds(), delta=5)

    def test_unused_account_reads_as_a_full_bucket(self):
        governor = self._shared_governor(GovernorSettings(rate=4))()
        state = governor.state()
        self.assertIsNone(state.tokens)
        self.assertEqual(state.used_today, 0)

    # ------------------------------------------------------------------ sending

    def test_sending_stays_within_the_rate_and_keeps_the_rest_queued(self):
        self.governed.governor_rate = 5                 # burst 2
        self.env['ir.config_parameter'].sudo().set_param('sms_router.governor_pacing_seconds', 1)
        self._clear_outgoing_sms()
        sms = self._router_sms(self.company_fr, self._numbers(12))
        with self.mockRouterClients({self.governed: ScriptedClient('Governed FR', max_recipients=1),
                                     self.fallback: OutcomeKind.SENT}):
            self._router_process_queue()
        sent = sms.filtered(lambda record: record.state == 'pending')
        queued = sms.filtered(lambda record: record.state == 'outgoing')
        # 2 from the burst, then 5 per second for the 1 s of pacing.
        self.assertGreaterEqual(len(sent), 4)
        self.assertLessEqual(len(sent), 8)
        self.assertEqual(len(sent) + len(queued), 12)
        self.assertFalse(self.routerCalls(self.fallback), 'SMS over the budget must not fail over')
        self.assertFalse(queued.filtered('failure_type'))
        self.assertFalse(queued.filtered('sms_router_not_before'), 'a short wait is a deferral, due at once')
        self.assertFalse(self._router_attempts(queued))
        self.assertEqual(self.governed.governor_used_today, len(sent))

    def test_daily_cap_reached_moves_sms_to_the_next_account(self):
        self.governed.governor_daily_cap = 3
        self._clear_outgoing_sms()
        sms = self._router_sms(self.company_fr, self._numbers(5))
        with self.mockRouterClients({self.governed: ScriptedClient('Governed FR', max_recipients=1),
                                     self.fallback: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertEqual(len(self.routerRecipients(self.fallback)), 2)
        skipped = self._router_attempts(sms).filtered(lambda attempt: attempt.outcome == 'skipped')
        self.assertEqual(len(skipped), 2)
        self.assertTrue(all('daily cap of 3 segments reached' in attempt.reason for attempt in skipped))
        self.assertEqual(self.governed.governor_used_today, 3)

    def test_daily_cap_leaves_sms_waiting_until_midnight(self):
        # Both accounts capped: what neither may send today waits for the reset of the last
        # account of its chain, without failing.
        self.governed.governor_daily_cap = 3
        self.fallback.governor_daily_cap = 1
        self._clear_outgoing_sms()
        sms = self._router_sms(self.company_fr, self._numbers(5))
        with self.mockRouterClients({self.governed: ScriptedClient('Governed FR', max_recipients=1),
                                     self.fallback: ScriptedClient('Fallback FR', max_recipients=1)}):
            self._router_process_queue()
        waiting = sms.filtered(lambda record: record.state == 'outgoing')
        self.assertEqual(len(waiting), 1)
        self.assertEqual(len(self.routerCalls(self.fallback)), 1)
        tomorrow = fields.Datetime.to_datetime(fields.Date.today() + timedelta(days=1))
        for record in waiting:
            # Stored to the second, rounded up.
            self.assertAlmostEqual(record.sms_router_not_before, tomorrow, delta=timedelta(seconds=1))
            self.assertIn('daily cap of 1 segments', record.sms_router_hold_reason)
            self.assertFalse(record.sms_router_held_since, 'a wait is not a hold')
            self.assertFalse(record.failure_type)
        self.assertEqual(self.governed.governor_used_today, 3)
        self.assertEqual(self.fallback.governor_used_today, 1)

    @staticmethod
    def _refusing(seconds):
        def refuse(request):
            return BatchResult({recipient.key: RecipientOutcome(
                OutcomeKind.PROVIDER, 'HTTP 429', retry_after=seconds, throttled=True)
                for recipient in request.recipients})
        return refuse

    def test_long_retry_after_pauses_the_account_and_fails_over(self):
        # A provider asking to wait two minutes: every worker pauses the account, and its SMS
        # go to the next account rather than wait (as for the daily cap).
        self.governed.write({'governor_rate': 100, 'max_concurrency': 1})
        self._clear_outgoing_sms()
        sms = self._router_sms(self.company_fr, self._numbers(3))
        with self.mockRouterClients({
                self.governed: ScriptedClient('Governed FR', self._refusing(120), max_recipients=1),
                self.fallback: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertEqual(len(self.routerCalls(self.governed)), 1)
        self.assertEqual(len(self.routerRecipients(self.fallback)), 3)
        outcomes = {record.number: self._router_attempts(record).mapped('outcome') for record in sms}
        self.assertEqual(sorted(outcomes.values()),
                         [['provider_error', 'sent'], ['skipped', 'sent'], ['skipped', 'sent']])
        skipped = self._router_attempts(sms).filtered(lambda attempt: attempt.outcome == 'skipped')
        self.assertTrue(all('Retry-After' in attempt.reason for attempt in skipped))
        self.assertTrue(self.governed.governor_paused_until)
        self.assertEqual(self.governed.breaker_failure_count, 0)
        self.assertFalse(any(sms.mapped('sms_router_throttles')), 'reset once the SMS is decided')

    def test_long_retry_after_on_the_last_account_waits_and_is_counted(self):
        # Both accounts refuse for two minutes: the SMS waits for the last one, with a trail
        # line saying so; refused a third time (after the wait), its chain ends as for any
        # provider failure (this company does not hold: it fails).
        self.governed.write({'governor_rate': 100, 'max_concurrency': 1})
        self.fallback.write({'governor_rate': 100, 'max_concurrency': 1})
        self._clear_outgoing_sms()
        sms = self._router_sms(self.company_fr, self._numbers(1))
        clients = {self.governed: ScriptedClient('Governed FR', self._refusing(120), max_recipients=1),
                   self.fallback: ScriptedClient('Fallback FR', self._refusing(120), max_recipients=1)}
        with self.mockRouterClients(clients):
            self._router_process_queue()
            self.assertEqual(sms.state, 'outgoing')
            self.assertEqual(sms.sms_router_throttles, 2)
            self.assertTrue(sms.sms_router_not_before)
            self.assertFalse(sms.sms_router_held_since, 'a wait is not a hold')
            trail = self._router_attempts(sms)
            self.assertEqual(trail.mapped('outcome'), ['provider_error', 'provider_error', 'waiting'])
            self.assertEqual(trail.mapped('step'), [1, 2, 3])
            wait = trail[-1]
            self.assertEqual(wait.account_id, self.fallback)
            self.assertIn('Retry-After', wait.reason)
            self.assertFalse(wait.final or wait.accepted or wait.segments)

            # The pause is over (the bucket rows share this test's transaction).
            self.env.cr.execute(SQL('UPDATE sms_router_rate_bucket SET paused_until = NULL WHERE account_id IN %s',
                                    (self.governed.id, self.fallback.id)))
            sms.sms_router_not_before = fields.Datetime.now() - timedelta(seconds=1)
            self._router_process_queue()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_server')
        trail = self._router_attempts(sms)
        # Refused a third and a fourth time: no more waiting, its chain ended after the last account.
        self.assertEqual(trail.mapped('outcome'),
                         ['provider_error', 'provider_error', 'waiting', 'provider_error', 'provider_error'])
        self.assertTrue(trail[-1].final)
        self.assertEqual(len(self.routerCalls(self.governed)), 2)
        self.assertEqual(len(self.routerCalls(self.fallback)), 2)

    def test_a_wait_is_one_line_of_the_trail(self):
        # A daily cap reached on the only account of the chain: the SMS waits until midnight,
        # one trail line; the queue seeing it again before then adds none.
        self.governed.governor_daily_cap = 1
        route = self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)])
        route.step_ids.filtered(lambda step: step.account_id == self.fallback).unlink()
        self._clear_outgoing_sms()
        sms = self._router_sms(self.company_fr, self._numbers(2))
        with self.mockRouterClients({self.governed: ScriptedClient('Governed FR', max_recipients=1)}):
            self._router_process_queue()
            waiting = sms.filtered(lambda record: record.state == 'outgoing')
            self.assertEqual(len(waiting), 1)
            lines = self._router_attempts(waiting)
            self.assertEqual(lines.mapped('outcome'), ['waiting'])
            self.assertEqual(lines.account_id, self.governed)
            self.assertIn('daily cap of 1 segments', lines.reason)
            self.assertEqual(lines.reason, waiting.sms_router_hold_reason)
            waiting.sms_router_not_before = fields.Datetime.now() - timedelta(seconds=1)
            self._router_process_queue()
            self.assertEqual(waiting.state, 'outgoing')
            self.assertEqual(self._router_attempts(waiting), lines)
        # The account's overview counts no attempt for a wait.
        figures, _errors = self.governed._sms_router_overview_figures()
        self.assertEqual(figures[self.governed.id]['total'], 1)
        self.assertEqual(figures[self.governed.id]['skipped'], 0)

    def test_account_without_limits_has_no_governor(self):
        self.assertIsNone(self.fallback._sms_router_governor())
        self.governed.governor_rate = 20
        governor = self.governed._sms_router_governor()
        self.assertAlmostEqual(governor.settings.capacity, 8)
        self.assertAlmostEqual(self.governed.governor_available, 8)
        self.company_fr.partner_id.tz = 'Europe/Paris'
        self.assertEqual(self.governed._sms_router_governor().settings.tz, 'Europe/Paris')

    # ------------------------------------------------------------------ lanes

    def test_queue_takes_transactional_sms_first(self):
        self.env['ir.config_parameter'].sudo().set_param('sms_router.batch_size', 2)
        self._clear_outgoing_sms()
        marketing = self._router_sms(self.company_fr, self._numbers(3), body='Sale', sms_router_traffic='marketing')
        transactional = self._router_sms(self.company_fr, self._numbers(2, start=10), body='Your code is 1234')
        with self.mockRouterClients({self.governed: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(set(transactional.mapped('state')), {'pending'})
        self.assertEqual(set(marketing.mapped('state')), {'outgoing'})

    def test_priority_check_sees_transactional_sms_nobody_sends(self):
        self._clear_outgoing_sms()
        self._router_sms(self.company_fr, self._numbers(2), body='Sale', sms_router_traffic='marketing')
        self.env.flush_all()
        self.assertFalse(self.env['sms.sms']._sms_router_priority_waiting())
        otp = self._router_sms(self.company_fr, self._numbers(1, start=10), body='Your code is 1234')
        self.env.flush_all()
        self.assertTrue(self.env['sms.sms']._sms_router_priority_waiting())
        self.assertFalse(self.env['sms.sms']._sms_router_priority_waiting(otp.ids))
        otp.sms_router_not_before = fields.Datetime.now() + timedelta(hours=1)
        self.env.flush_all()
        self.assertFalse(self.env['sms.sms']._sms_router_priority_waiting())

    def test_lane_index_serves_the_queue_order(self):
        self.env.cr.execute(SQL("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                                'sms_sms_sms_router_queue_lane_idx'))
        definition = self.env.cr.fetchone()
        self.assertTrue(definition, 'the lane index is missing')
        self.assertIn('sms_router_traffic DESC', definition[0])

    # ------------------------------------------------------------------ route tester

    def test_route_tester_shows_the_governor(self):
        self.governed.write({'governor_rate': 20, 'governor_daily_cap': 2})
        with self.mockRouterClients({self.governed: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            tester = self.env['sms.router.route.tester'].new({
                'company_id': self.company_fr.id, 'number': '+33612345678', 'traffic': 'transactional'})
            lines = {line.name: line for line in tester.line_ids}
            self.assertEqual(lines['Governed FR'].throughput, '20 segments/s, 0 of 2 segments today')
            self.assertFalse(lines['Fallback FR'].throughput)
            self.assertEqual(lines['Governed FR'].verdict, 'send')
            governor = self.governed._sms_router_governor()
            try:
                self.assertEqual(governor.acquire(2), 0)
                governor.pause(60)
            finally:
                governor.close()    # as the dispatcher does: its cursor goes back to the pool
            tester = self.env['sms.router.route.tester'].new({
                'company_id': self.company_fr.id, 'number': '+33612345678', 'traffic': 'transactional'})
            line = tester.line_ids.filtered(lambda line: line.name == 'Governed FR')
            self.assertEqual(line.throughput, '20 segments/s, 2 of 2 segments today')
            self.assertTrue(line.paused_until)
            self.assertIn('daily cap of 2 segments is reached', line.reason)
            self.assertIn('Retry-After', line.reason)
            # As sending does: the next account sends rather than wait for this one.
            self.assertEqual(line.verdict, 'skipped')
            self.assertEqual(tester.line_ids.filtered(lambda line: line.name == 'Fallback FR').verdict, 'send')
            self.assertFalse(self.router_calls)
