import threading
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo.sql_db import db_connect
from odoo.tests import tagged
from odoo.tools import SQL

from ..engine.breakers import CLOSED, HALF_OPEN, OPEN, AccountBreaker, BreakerSettings, utcnow
from ..engine.outcomes import BatchResult, OutcomeKind
from ..models.sms_router_breaker import PostgresBreakerStore
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterBreakers(SmsRouterCase):
    """Circuit breakers of provider accounts, as the router uses them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Flaky FR', breaker_fail_max=2)
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Steady FR')
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')

    def _send_one(self, behaviours, number='+33612345678', body='Breaker test'):
        sms = self._router_sms(self.company_fr, [number], body=body)
        with self.mockRouterClients(behaviours):
            sms.send()
        self.primary.invalidate_recordset()
        return sms

    def _trip(self):
        for index in range(self.primary.breaker_fail_max):
            self._send_one({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT},
                           number=f'+3361234560{index}')
        self.assertEqual(self.primary.breaker_state, 'open')

    def test_opens_after_fail_max_and_skips(self):
        self.assertEqual(self.primary.breaker_state, 'closed')
        self._send_one({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT})
        self.assertEqual(self.primary.breaker_state, 'closed')
        self.assertEqual(self.primary.breaker_failure_count, 1)
        self._send_one({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}, number='+33612345679')
        self.assertEqual(self.primary.breaker_state, 'open')
        self.assertTrue(self.primary.breaker_opened_at)
        self.assertIn('scripted provider_error', self.primary.breaker_last_failure)
        # The step of the route shows it too.
        step = self.env['sms.router.route.step'].search([('account_id', '=', self.primary.id)])
        step.invalidate_recordset()
        self.assertEqual(step.breaker_state, 'open')

        sms = self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345670')
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(self.routerCalls(self.primary), 'an open breaker means no call')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'skipped'), (self.fallback, 'sent')])
        self.assertIn('breaker open', attempts[0].reason)

    def test_success_resets_failure_count(self):
        self._send_one({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT})
        self.assertEqual(self.primary.breaker_failure_count, 1)
        self._send_one({self.primary: OutcomeKind.SENT}, number='+33612345679')
        self.assertEqual(self.primary.breaker_failure_count, 0)
        self._send_one({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}, number='+33612345670')
        self.assertEqual(self.primary.breaker_state, 'closed')

    def test_recipient_errors_do_not_count(self):
        for index in range(3):
            self._send_one({self.primary: OutcomeKind.RECIPIENT}, number=f'+3361234560{index}')
        self.assertEqual(self.primary.breaker_state, 'closed')
        self.assertEqual(self.primary.breaker_failure_count, 0)

    def test_opens_within_one_batch(self):
        """Requests of one batch count one failure each; the rest of the batch waits for
        no call once the breaker is open."""
        sms = self.env['sms.sms']
        for index in range(4):
            sms |= self._router_sms(self.company_fr, [f'+3361234560{index}'], body=f'Body {index}')
        self.primary.max_concurrency = 1
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'open')
        self.assertEqual(len(self.routerCalls(self.primary)), 2, 'no call once fail_max is reached')
        self.assertEqual(len(self.routerCalls(self.fallback)), 4)
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        outcomes = sorted(self._router_attempts(sms).filtered(lambda a: a.account_id == self.primary).mapped('outcome'))
        self.assertEqual(outcomes, ['provider_error', 'provider_error', 'skipped', 'skipped'])

    def test_reset_closes(self):
        self._trip()
        self.primary.action_reset_breaker()
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'closed')
        self.assertEqual(self.primary.breaker_failure_count, 0)
        self.assertFalse(self.primary.breaker_last_failure)
        sms = self._send_one({self.primary: OutcomeKind.SENT}, number='+33612345670')
        self.assertRouterTrail(sms, [(self.primary, 'sent')])

    def test_force_open_skips(self):
        self.primary._sms_router_force_open('Provider maintenance')
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'forced')
        sms = self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT})
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(self.routerCalls(self.primary))
        attempts = self.assertRouterTrail(sms, [(self.primary, 'skipped'), (self.fallback, 'sent')])
        self.assertIn('forced open', attempts[0].reason)
        # A forced breaker is never probed, whatever the cool-down.
        self._router_age_breaker(self.primary, 3600)
        self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345679')
        self.assertFalse(self.routerCalls(self.primary))
        self.primary.action_reset_breaker()
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'closed')

    def test_probe_after_cooldown_closes_on_success(self):
        self._trip()
        # Still cooling down: skipped.
        self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345670')
        self.assertFalse(self.routerCalls(self.primary))
        # Cool-down over: one probe request goes out and closes the breaker.
        self._router_age_breaker(self.primary, self.primary.breaker_cooldown + 1)
        sms = self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345671')
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertFalse(self.routerCalls(self.fallback))
        self.assertRouterTrail(sms, [(self.primary, 'sent')])
        self.assertEqual(self.primary.breaker_state, 'closed')
        self.assertEqual(self.primary.breaker_failure_count, 0)

    def test_probe_holds_other_requests(self):
        """In half-open, one request probes; the others of the batch wait for its verdict
        and then use the account (they are not failed over)."""
        self._trip()
        self._router_age_breaker(self.primary, self.primary.breaker_cooldown + 1)
        sms = self.env['sms.sms']
        for index in range(3):
            sms |= self._router_sms(self.company_fr, [f'+3361234567{index}'], body=f'Probe body {index}')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(len(self.routerCalls(self.primary)), 3)
        self.assertFalse(self.routerCalls(self.fallback))
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_state, 'closed')

    def test_failed_probe_reopens_with_longer_cooldown(self):
        self._trip()
        self._router_age_breaker(self.primary, self.primary.breaker_cooldown + 1)
        sms = self._send_one({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT},
                             number='+33612345671')
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertEqual(sms.state, 'pending')
        self.assertEqual(self.primary.breaker_state, 'open')
        row = self._router_breaker_row(self.primary)
        self.assertEqual(row['open_count'], 2)
        # One cool-down is not enough any more: the second one is twice as long.
        self._router_age_breaker(self.primary, self.primary.breaker_cooldown + 1)
        self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345672')
        self.assertFalse(self.routerCalls(self.primary))
        self._router_age_breaker(self.primary, self.primary.breaker_cooldown + 1)
        self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345673')
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertEqual(self.primary.breaker_state, 'closed')

    def test_retry_after_pauses(self):
        def throttled(request):
            return BatchResult.for_all(request, OutcomeKind.PROVIDER, 'HTTP 429 too many requests', retry_after=120)

        sms = self._send_one({self.primary: throttled, self.fallback: OutcomeKind.SENT})
        self.assertEqual(sms.state, 'pending')
        self.assertTrue(self.primary.breaker_paused_until)
        self.assertEqual(self.primary.breaker_state, 'closed', 'one 429 pauses without opening')
        sms = self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345679')
        self.assertFalse(self.routerCalls(self.primary), 'paused: no call until Retry-After')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'skipped'), (self.fallback, 'sent')])
        self.assertIn('paused by the provider', attempts[0].reason)
        # Once the pause is over, the account is used again.
        self.env.cr.execute(SQL("UPDATE sms_router_breaker SET paused_until = paused_until - interval '1 hour' "
                                "WHERE account_id = %s", self.primary.id))
        self._send_one({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, number='+33612345670')
        self.assertEqual(len(self.routerCalls(self.primary)), 1)

    def test_breakers_are_per_account(self):
        other = self._router_account(self.company_gb, 'Other company')
        self._trip()
        other.invalidate_recordset()
        self.assertEqual(other.breaker_state, 'closed')

    def test_unlink_account_drops_breaker(self):
        self._trip()
        self.assertTrue(self._router_breaker_row(self.primary))
        account_id = self.primary.id
        self.primary.unlink()
        self.env.cr.execute(SQL("SELECT 1 FROM sms_router_breaker WHERE account_id = %s", account_id))
        self.assertFalse(self.env.cr.fetchall())


@tagged('post_install', '-at_install', 'sms_router')
class TestPostgresBreakerStore(SmsRouterCase):
    """The shared store behind the breakers.

    Its rows are written on cursors of their own, so that a rollback of the sending
    transaction does not forget a provider outage. In test mode every registry cursor
    shares the test transaction, so the tests using the registry check the store's
    semantics, and the last two use real connections to check the transactional
    behaviour (they commit rows for a fake account id and delete them afterwards).
    """

    ACCOUNT = 987654321

    def setUp(self):
        super().setUp()
        self.store = self.env['sms.router.breaker']._store()

    def test_load_default(self):
        state = self.store.load(self.ACCOUNT)
        self.assertEqual(state.state, CLOSED)
        self.assertEqual(state.failure_count, 0)
        self.assertFalse(state.forced_open)

    def test_update_and_apply(self):
        now = utcnow().replace(microsecond=0)
        state = self.store.update(self.ACCOUNT, state=OPEN, opened_at=now, last_failure='down')
        self.assertEqual(state.state, OPEN)
        self.assertEqual(state.opened_at, now)
        self.assertEqual(state.opened_at.tzinfo is not None, True, 'datetimes come back timezone-aware')
        self.store.update(self.ACCOUNT, state=CLOSED)
        self.assertEqual(self.store.apply(self.ACCOUNT, 'a', count_failure=True).failure_count, 1)
        state = self.store.apply(self.ACCOUNT, 'a', {'success_count': 1}, count_failure=True)
        self.assertEqual((state.failure_count, state.success_count), (2, 1))
        loaded = self.store.load(self.ACCOUNT)
        self.assertEqual(loaded, state)
        self.assertEqual((loaded.state, loaded.failure_count, loaded.success_count, loaded.last_failure),
                         (CLOSED, 2, 1, 'down'))
        states = self.store.load_many([self.ACCOUNT, self.ACCOUNT + 1])
        self.assertEqual((states[self.ACCOUNT], states[self.ACCOUNT + 1].state), (loaded, CLOSED))
        with self.assertRaises(ValueError):
            self.store.update(self.ACCOUNT, password='x')
        with self.assertRaises(ValueError):
            self.store.apply(self.ACCOUNT, 'a', {'open_count = 0; DROP TABLE x; --': 1})

    def test_first_write_creates_the_row(self):
        now = utcnow().replace(microsecond=0)
        state = self.store.apply(self.ACCOUNT, 'a', {'last_failure': 'down'}, count_failure=True,
                                 paused_until=now)
        self.assertEqual((state.state, state.failure_count, state.last_failure, state.paused_until),
                         (CLOSED, 1, 'down', now))
        self.assertEqual(self.store.load(self.ACCOUNT), state)
        self.assertEqual(self.store.update(self.ACCOUNT + 1, forced_open=True).forced_open, True)

    def test_apply_judges_on_the_stored_state(self):
        """An outcome moves the breaker only when it is closed or half-open on the
        outcome's own probe (a late answer moves nothing); a pause applies in any state."""
        now = utcnow().replace(microsecond=0)
        self.store.update(self.ACCOUNT, state=OPEN, opened_at=now, failure_count=3, last_failure='down')
        state = self.store.apply(self.ACCOUNT, 'a', {'state': CLOSED, 'last_failure': 'late'},
                                 count_failure=True, paused_until=now + timedelta(seconds=60))
        self.assertEqual((state.state, state.failure_count, state.last_failure, state.opened_at, state.paused_until),
                         (OPEN, 3, 'down', now, now + timedelta(seconds=60)))
        self.store.update(self.ACCOUNT, state=HALF_OPEN, probe_owner='a')
        self.assertEqual(self.store.apply(self.ACCOUNT, 'b', count_failure=True).failure_count, 3)
        self.assertEqual(self.store.apply(self.ACCOUNT, 'a', count_failure=True).failure_count, 4)
        state = self.store.apply(self.ACCOUNT, 'a', {'state': OPEN, 'opened_at': now, 'probe_owner': None})
        self.assertEqual((state.state, state.probe_owner), (OPEN, None))

    def test_acquire_probe_compare_and_set(self):
        now = utcnow()
        lease = now + timedelta(seconds=60)
        # Closed: nothing to probe.
        self.store.update(self.ACCOUNT, state=CLOSED)
        self.assertFalse(self.store.acquire_probe(self.ACCOUNT, 'a', now, now - timedelta(seconds=60), lease))
        # Open, still cooling down.
        self.store.update(self.ACCOUNT, state=OPEN, opened_at=now - timedelta(seconds=30))
        self.assertFalse(self.store.acquire_probe(self.ACCOUNT, 'a', now, now - timedelta(seconds=60), lease))
        # Cool-down over: of two owners, only the first wins.
        self.store.update(self.ACCOUNT, opened_at=now - timedelta(seconds=90))
        self.assertTrue(self.store.acquire_probe(self.ACCOUNT, 'a', now, now - timedelta(seconds=60), lease))
        self.assertFalse(self.store.acquire_probe(self.ACCOUNT, 'b', now, now - timedelta(seconds=60), lease))
        state = self.store.load(self.ACCOUNT)
        self.assertEqual((state.state, state.probe_owner), (HALF_OPEN, 'a'))
        # The lease of a dead prober expires: another owner takes over.
        later = lease + timedelta(seconds=1)
        self.assertTrue(self.store.acquire_probe(self.ACCOUNT, 'b', later, later - timedelta(seconds=60),
                                                 later + timedelta(seconds=60)))
        self.assertEqual(self.store.load(self.ACCOUNT).probe_owner, 'b')
        # Forced open: never probed.
        self.store.update(self.ACCOUNT, state=OPEN, forced_open=True, opened_at=now - timedelta(days=1))
        self.assertFalse(self.store.acquire_probe(self.ACCOUNT, 'c', now, now - timedelta(seconds=60), lease))

    def test_release_probe_gives_back_only_the_owners_unused_lease(self):
        now = utcnow().replace(microsecond=0)
        opened = now - timedelta(seconds=90)
        self.store.update(self.ACCOUNT, state=OPEN, opened_at=opened, open_count=1)
        self.assertTrue(self.store.acquire_probe(self.ACCOUNT, 'a', now, now - timedelta(seconds=60),
                                                 now + timedelta(seconds=60)))
        # Another owner cannot give it back.
        self.assertEqual(self.store.release_probe(self.ACCOUNT, 'b').probe_owner, 'a')
        state = self.store.release_probe(self.ACCOUNT, 'a')
        self.assertEqual((state.state, state.probe_owner, state.probe_until, state.opened_at, state.open_count),
                         (OPEN, None, None, opened, 1))
        # Open with its cool-down over: the next probe is granted at once, to anyone.
        self.assertTrue(self.store.acquire_probe(self.ACCOUNT, 'b', now, now - timedelta(seconds=60),
                                                 now + timedelta(seconds=60)))
        # A breaker the probe's answer moved (closed here) is left as it is.
        self.store.update(self.ACCOUNT, state=CLOSED, probe_owner=None, probe_until=None)
        self.assertEqual(self.store.release_probe(self.ACCOUNT, 'b').state, CLOSED)

    # --------------------------------------------------- real transactions

    def _real_store(self):
        dbname = self.env.cr.dbname

        class Registry:
            @staticmethod
            def cursor():
                return db_connect(dbname).cursor()

        def cleanup():
            with db_connect(dbname).cursor() as cr:
                cr.execute(SQL("DELETE FROM sms_router_breaker WHERE account_id = %s", self.ACCOUNT))

        self.addCleanup(cleanup)
        return PostgresBreakerStore(Registry())

    def test_state_survives_rollback_of_sending_transaction(self):
        store = self._real_store()
        sending_cr = db_connect(self.env.cr.dbname).cursor()
        try:
            sending_cr.execute("SELECT 1")   # the sending transaction is open...
            store.update(self.ACCOUNT, state=HALF_OPEN, probe_owner='me', last_failure='provider down')
            store.apply(self.ACCOUNT, 'me', count_failure=True)
            sending_cr.rollback()            # ...and fails
        finally:
            sending_cr.close()
        state = store.load(self.ACCOUNT)
        self.assertEqual((state.state, state.failure_count, state.last_failure), (HALF_OPEN, 1, 'provider down'))

    def test_concurrent_probe_single_winner(self):
        store = self._real_store()
        now = utcnow()
        store.update(self.ACCOUNT, state=OPEN, opened_at=now - timedelta(seconds=120))
        owners = [f'worker-{index}' for index in range(6)]
        barrier = threading.Barrier(len(owners))
        results = {}

        def race(owner):
            barrier.wait()
            results[owner] = store.acquire_probe(self.ACCOUNT, owner, now, now - timedelta(seconds=60),
                                                 now + timedelta(seconds=60))

        threads = [threading.Thread(target=race, args=(owner,)) for owner in owners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [owner for owner, won in results.items() if won]
        self.assertEqual(len(results), len(owners))
        self.assertEqual(len(winners), 1, f'exactly one probe must be granted, got {winners}')
        state = store.load(self.ACCOUNT)
        self.assertEqual((state.state, state.probe_owner), (HALF_OPEN, winners[0]))

    def test_statements_per_outcome_on_the_side_cursor(self):
        """What one outcome costs the database, counted on the real side transactions: the
        statements on the breaker table (besides them, only the SETs of a side transaction's
        set-up), all of one outcome in one transaction. The breaker's clock is in 2031: the
        opening and the probe follow it, not the database's or pybreaker's clock."""
        store = self._real_store()
        clock = FakeClock()
        breaker = AccountBreaker(self.ACCOUNT, store, BreakerSettings(fail_max=2, cooldown=60),
                                 clock=clock, owner='me')
        store.update(self.ACCOUNT, state=CLOSED)     # the row exists (its first write adds an INSERT, once)

        def statements(outcome):
            queries = []

            def hook(cr, query, params, start, delay):
                queries.append((cr, query))

            with patch.object(threading.current_thread(), 'query_hooks', [hook], create=True):
                outcome()
            on_breakers = [query for cr, query in queries if 'sms_router_breaker' in query]
            others = [query for cr, query in queries if 'sms_router_breaker' not in query]
            self.assertTrue(all(query.lstrip().upper().startswith('SET ') for query in others), others)
            self.assertLessEqual(len({id(cr) for cr, query in queries}), 1, 'one side transaction per outcome')
            return len(on_breakers)

        self.assertEqual(statements(lambda: breaker.record(True)), 0, 'success, healthy breaker')
        self.assertEqual(statements(lambda: breaker.record(False, 'HTTP 503')), 1, 'failure')
        self.assertEqual(statements(lambda: breaker.record(True)), 1, 'success resetting the count')
        self.assertEqual(statements(lambda: breaker.record(False, 'HTTP 503')), 1, 'failure')
        self.assertEqual(statements(lambda: breaker.record(False, 'HTTP 500', retry_after=30)), 2,
                         'failure opening the breaker, with a pause')
        state = store.load(self.ACCOUNT)
        self.assertEqual((state.state, state.failure_count, state.last_failure, state.open_count),
                         (OPEN, 2, 'HTTP 500', 1))
        self.assertEqual((state.opened_at, state.paused_until), (clock.now, clock.now + timedelta(seconds=30)))
        self.assertEqual(statements(lambda: breaker.record(False, 'late')), 1, 'late failure')
        self.assertEqual(store.load(self.ACCOUNT), state)

        clock.advance(59)
        self.assertFalse(breaker.admit().allowed)
        clock.advance(2)
        self.assertTrue(breaker.admit().probe)
        self.assertEqual(statements(lambda: breaker.record(True)), 1, 'the probe closing the breaker')
        state = store.load(self.ACCOUNT)
        self.assertEqual((state.state, state.failure_count, state.open_count, state.probe_owner),
                         (CLOSED, 0, 0, None))


class FakeClock:
    """A UTC clock that moves only when told, in 2031, years from the real one."""

    def __init__(self):
        self.now = datetime(2031, 5, 17, 8, 30, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)
