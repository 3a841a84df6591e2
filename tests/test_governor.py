"""Throughput governor: the token bucket in segments and how the dispatcher paces with it."""
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from addons.sms_router.engine.breakers import AccountBreaker, BreakerSettings, MemoryBreakerStore
from addons.sms_router.engine.dispatcher import (
    GOVERNOR_FAULT_LIMIT, MAX_THROTTLES, AccountHandle, Dispatcher, QueuedSms,
)
from addons.sms_router.engine.governor import (
    BURST_SECONDS,
    MARKETING,
    TRANSACTIONAL,
    WAIT_DAILY,
    WAIT_FAULT,
    WAIT_PAUSE,
    WAIT_RATE,
    BucketState,
    GovernorSettings,
    MemoryGovernor,
    Wait,
    next_midnight,
    take,
    zone_name,
)
from addons.sms_router.engine.outcomes import BatchResult, OutcomeKind, ProviderClient, RecipientOutcome
from addons.sms_router.engine.routing import parse_destination
from addons.sms_router.engine.windows import CLOSING_MARGIN

from test_dispatcher import WallClock

FR = parse_destination('+33612345678')
T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)


def FakeClock(now=T0):  # noqa: N802 - used as a class
    return WallClock(now)


class Client(ProviderClient):
    """Accepts everything; records when and what it was asked."""

    def __init__(self, name, max_recipients=1, delay=0.0, script=None):
        self.provider = self.name = name
        self.max_recipients_per_request = max_recipients
        self.delay = delay
        self.script = script
        self.calls = []          # (monotonic time, request)
        self.active = self.peak = 0
        self._lock = threading.Lock()

    def send(self, request):
        with self._lock:
            index = len(self.calls)
            self.calls.append((time.monotonic(), request))
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            outcomes = {}
            for recipient in request.recipients:
                outcome = self.script(recipient, index) if self.script else None
                outcomes[recipient.key] = outcome or RecipientOutcome(OutcomeKind.SENT, '', message_id=recipient.key)
            return BatchResult(outcomes)
        finally:
            with self._lock:
                self.active -= 1

    @property
    def keys(self):
        return [recipient.key for _at, request in self.calls for recipient in request.recipients]


def account(client, governor=None, max_concurrency=4, breaker=None):
    return AccountHandle(client.name, client.name, client, breaker=breaker, max_concurrency=max_concurrency,
                         governor=governor)


def sms(count, chain, marketing=False, prefix='m', body='Hello'):
    return [QueuedSms(f'{prefix}{n}', body, FR, tuple(chain), marketing) for n in range(count)]


# ------------------------------------------------------------------ bucket math

def test_a_new_bucket_is_full_and_refills_at_the_rate():
    settings = GovernorSettings(rate=20)
    assert settings.capacity == 20 * BURST_SECONDS == 8
    state, wait = take(BucketState(), settings, 8, TRANSACTIONAL, T0)
    assert wait == 0 and state.tokens == pytest.approx(0) and state.used_today == 8
    state, wait = take(state, settings, 1, TRANSACTIONAL, T0)
    assert wait.kind == WAIT_RATE and wait == pytest.approx(1 / 20)
    state, wait = take(state, settings, 1, TRANSACTIONAL, T0 + timedelta(seconds=0.05))
    assert wait == 0 and state.tokens == pytest.approx(0)
    # Never more than the capacity, however long it rested.
    state, wait = take(state, settings, 0, TRANSACTIONAL, T0 + timedelta(hours=1))
    assert state.tokens == pytest.approx(8)


def test_unlimited_rate_with_a_daily_cap_only():
    settings = GovernorSettings(daily_cap=3)
    state = BucketState()
    for _ in range(3):
        state, wait = take(state, settings, 1, MARKETING, T0)
        assert wait == 0
    state, wait = take(state, settings, 1, TRANSACTIONAL, T0)
    assert wait.kind == WAIT_DAILY


def test_burst_keeps_every_10_second_window_within_5_percent_of_the_cap():
    """A greedy sender asking every millisecond for 60 s: the segments granted in any
    10-second window stay within 5 % of rate x 10 s (a one-second burst would allow 10 %)."""
    settings = GovernorSettings(rate=20)
    state, grants = BucketState(), []
    for step in range(60_000):
        now = T0 + timedelta(milliseconds=step)
        state, wait = take(state, settings, 1, MARKETING if step % 3 else TRANSACTIONAL, now)
        if not wait:
            grants.append(step / 1000)
    worst = max(sum(1 for t in grants if start <= t < start + 10) for start in [g for g in grants if g <= 50])
    assert worst <= 20 * 10 * 1.05
    assert len(grants) >= 20 * 60 * 0.99


def test_reserve_is_for_transactional_requests_only():
    settings = GovernorSettings(rate=20)           # capacity 8, reserve 2
    state, wait = take(BucketState(), settings, 6, MARKETING, T0)
    assert wait == 0 and state.tokens == pytest.approx(2)
    state, wait = take(state, settings, 1, MARKETING, T0)
    assert wait.kind == WAIT_RATE and wait == pytest.approx((1 + 2 - 2) / 20)
    state, wait = take(state, settings, 2, TRANSACTIONAL, T0)
    assert wait == 0 and state.tokens == pytest.approx(0)


def test_an_sms_costing_more_than_the_burst_is_granted_from_a_full_bucket_then_paid_back():
    settings = GovernorSettings(rate=5)            # capacity 2
    state, wait = take(BucketState(), settings, 5, TRANSACTIONAL, T0)
    assert wait == 0 and state.tokens == -3
    state, wait = take(state, settings, 1, TRANSACTIONAL, T0 + timedelta(seconds=0.4))
    assert wait == pytest.approx((1 - (-1)) / 5)


def test_daily_cap_waits_until_midnight_in_the_account_time_zone_then_resets():
    settings = GovernorSettings(daily_cap=100, tz='Europe/Paris')
    late = datetime(2026, 11, 26, 22, 30, tzinfo=timezone.utc)     # 23:30 in Paris
    state, wait = take(BucketState(), settings, 100, MARKETING, late)
    assert wait == 0 and state.day == date(2026, 11, 26)
    state, wait = take(state, settings, 1, TRANSACTIONAL, late)
    assert wait.kind == WAIT_DAILY
    assert wait == pytest.approx(30 * 60)           # midnight in Paris is 23:00 UTC
    state, wait = take(state, settings, 1, TRANSACTIONAL, late + timedelta(minutes=31))
    assert wait == 0 and state.used_today == 1 and state.day == date(2026, 11, 27)
    assert next_midnight(late, 'UTC') == datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert next_midnight(late, 'Not/AZone') == datetime(2026, 11, 27, tzinfo=timezone.utc)


def test_a_request_that_would_cross_the_daily_cap_waits():
    settings = GovernorSettings(daily_cap=10)
    state, _wait = take(BucketState(), settings, 8, TRANSACTIONAL, T0)
    state, wait = take(state, settings, 3, TRANSACTIONAL, T0)
    assert wait.kind == WAIT_DAILY and state.used_today == 8


def test_pause_refuses_everything_until_it_ends():
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(rate=100), wall_clock=clock)
    governor.pause(30)
    wait = governor.acquire(1, TRANSACTIONAL)
    assert wait.kind == WAIT_PAUSE and wait == pytest.approx(30)
    governor.pause(5)                               # a shorter pause does not shorten it
    clock.advance(29)
    assert governor.acquire(1).kind == WAIT_PAUSE
    clock.advance(1.01)
    assert governor.acquire(1) == 0


def test_max_cost_leaves_the_reserve_to_transactional_requests():
    governor = MemoryGovernor(GovernorSettings(rate=20))
    assert governor.max_cost(TRANSACTIONAL) == 8
    assert governor.max_cost(MARKETING) == 6
    assert MemoryGovernor(GovernorSettings(daily_cap=5)).max_cost() is None
    assert MemoryGovernor(GovernorSettings(rate=1)).max_cost() == 1


# ------------------------------------------------------------------ dispatcher

def test_dispatch_paces_requests_to_the_rate():
    governor = MemoryGovernor(GovernorSettings(rate=500))       # burst 200, reserve 50
    client = Client('A')
    started = time.monotonic()
    verdicts = Dispatcher().dispatch(sms(300, [account(client, governor, max_concurrency=8)], marketing=True))
    elapsed = time.monotonic() - started
    assert all(v.sent for v in verdicts.values())
    # 150 from the burst (the reserve stays), then 150 at 500/s.
    assert elapsed >= 0.3
    assert governor.granted == 300


def test_a_request_costing_more_than_the_burst_is_split():
    governor = MemoryGovernor(GovernorSettings(rate=50))        # burst 20, reserve 5
    client = Client('A', max_recipients=100)
    messages = sms(30, [account(client, governor)]) + sms(30, [account(client, governor)], marketing=True,
                                                          prefix='k')
    verdicts = Dispatcher().dispatch(messages)
    assert all(v.sent for v in verdicts.values())
    sizes = [(request.marketing, len(request.recipients)) for _at, request in client.calls]
    assert max(size for marketing, size in sizes if not marketing) <= 20
    assert max(size for marketing, size in sizes if marketing) <= 15
    assert sum(size for _m, size in sizes) == 60


def test_segments_are_what_a_request_costs():
    governor = MemoryGovernor(GovernorSettings(rate=1000))
    client = Client('A', max_recipients=10)
    long_body = 'x' * 200                                          # 2 GSM-7 segments
    Dispatcher().dispatch(sms(5, [account(client, governor)], body=long_body)
                          + sms(2, [account(client, governor)], body='é€', prefix='u'))
    assert governor.granted == 5 * 2 + 2 * 1


def test_transactional_requests_go_first():
    client = Client('A')
    chain = [account(client, MemoryGovernor(GovernorSettings(rate=1000)), max_concurrency=1)]
    messages = sms(5, chain, marketing=True, prefix='mk') + sms(5, chain, prefix='tx')
    Dispatcher().dispatch(messages)
    assert [key[:2] for key in client.keys] == ['tx'] * 5 + ['mk'] * 5


def test_lanes_without_a_governor_too():
    client = Client('A')
    chain = [account(client, max_concurrency=1)]
    Dispatcher().dispatch(sms(3, chain, marketing=True, prefix='mk') + sms(3, chain, prefix='tx'))
    assert [key[:2] for key in client.keys] == ['tx'] * 3 + ['mk'] * 3


def test_daily_cap_reached_moves_the_sms_to_the_next_account():
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(daily_cap=5), wall_clock=clock)
    first, second = Client('A'), Client('B')
    chain = [account(first, governor, max_concurrency=1), account(second)]
    verdicts = Dispatcher(wall_clock=clock).dispatch(sms(8, chain))
    assert all(v.sent for v in verdicts.values())
    assert len(first.calls) == 5 and len(second.calls) == 3
    moved = [v for v in verdicts.values() if v.accepted_by.account_id == 'B']
    for verdict in moved:
        skipped = verdict.attempts[0]
        assert skipped.account.account_id == 'A' and skipped.outcome.kind is OutcomeKind.SKIPPED
        assert str(skipped.outcome.reason) == 'daily cap of 5 segments reached'


def test_daily_cap_of_the_last_account_leaves_the_rest_waiting_until_midnight():
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(daily_cap=5), wall_clock=clock)
    first = Client('A')
    chain = [account(first, governor, max_concurrency=1)]
    verdicts = Dispatcher(wall_clock=clock, hold=True).dispatch(sms(8, chain))
    sent = [v for v in verdicts.values() if v.sent]
    waiting = [v for v in verdicts.values() if v.waiting]
    assert len(sent) == 5 and len(waiting) == 3
    for verdict in waiting:
        assert verdict.outcome is None and not verdict.deferred and not verdict.held
        assert verdict.not_before == datetime(2026, 11, 27, tzinfo=timezone.utc)
        assert 'daily cap of 5 segments' in str(verdict.wait_reason)


def test_short_waits_past_the_pacing_limit_are_deferred():
    governor = MemoryGovernor(GovernorSettings(rate=12.5))       # burst 5
    first, second = Client('A'), Client('B')
    chain = [account(first, governor, max_concurrency=2), account(second)]
    dispatcher = Dispatcher(pacing=0.25)
    started = time.monotonic()
    verdicts = dispatcher.dispatch(sms(20, chain))
    assert time.monotonic() - started < 1.0
    sent = [v for v in verdicts.values() if v.sent]
    deferred = [v for v in verdicts.values() if v.deferred]
    assert 5 <= len(sent) <= 9
    assert len(sent) + len(deferred) == 20
    assert all(not v.attempts and v.outcome is None for v in deferred)
    assert not second.calls
    assert dispatcher.paced == len(deferred)


def test_deadline_bounds_the_governor_waits():
    governor = MemoryGovernor(GovernorSettings(rate=10))
    client = Client('A')
    dispatcher = Dispatcher(deadline=time.monotonic() + 0.3)
    verdicts = dispatcher.dispatch(sms(30, [account(client, governor)]))
    assert sum(v.sent for v in verdicts.values()) <= 9
    assert all(v.sent or v.deferred for v in verdicts.values())


def test_queued_transactional_sms_end_the_marketing_part_of_a_batch():
    governor = MemoryGovernor(GovernorSettings(rate=25))         # burst 10, reserve 2.5
    client = Client('A')
    asked = []

    def priority_waiting():
        asked.append(time.monotonic())
        return True

    chain = [account(client, governor, max_concurrency=1)]
    dispatcher = Dispatcher(priority_waiting=priority_waiting)
    started = time.monotonic()
    verdicts = dispatcher.dispatch(sms(3, chain, prefix='tx') + sms(50, chain, marketing=True))
    assert time.monotonic() - started < 0.5
    assert all(verdicts[f'tx{n}'].sent for n in range(3))
    marketing = [verdicts[f'm{n}'] for n in range(50)]
    assert sum(v.sent for v in marketing) == 4                   # 10 - 3, down to the reserve
    assert all(v.deferred for v in marketing if not v.sent)
    assert len(asked) == 1


def test_transactional_requests_are_not_ended_by_the_priority_check():
    governor = MemoryGovernor(GovernorSettings(rate=250))        # burst 100
    client = Client('A')
    verdicts = Dispatcher(priority_waiting=lambda: True).dispatch(sms(150, [account(client, governor)]))
    assert all(v.sent for v in verdicts.values())


def test_long_retry_after_pauses_the_governor_and_sends_through_the_next_account():
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(rate=100), wall_clock=clock)
    store = MemoryBreakerStore()
    breaker = AccountBreaker('A', store, BreakerSettings(fail_max=1))
    throttling = Client('A', script=lambda recipient, index: RecipientOutcome(
        OutcomeKind.PROVIDER, 'HTTP 429', retry_after=60, throttled=True) if index == 0 else None)
    fallback = Client('B')
    chain = [account(throttling, governor, max_concurrency=1, breaker=breaker), account(fallback)]
    verdicts = Dispatcher(wall_clock=clock).dispatch(sms(4, chain))
    # One request was refused; every SMS went to the backup rather than wait 60 s.
    assert len(throttling.calls) == 1
    assert all(v.sent and v.accepted_by.account_id == 'B' for v in verdicts.values())
    assert [a.outcome.kind for a in verdicts['m0'].attempts] == [OutcomeKind.PROVIDER, OutcomeKind.SENT]
    assert verdicts['m0'].throttles == 1
    # The others never reached A: skipped, with the pause's end.
    skipped = verdicts['m1'].attempts[0].outcome
    assert skipped.kind is OutcomeKind.SKIPPED
    assert 'Retry-After' in str(skipped.reason)
    assert f'{T0 + timedelta(seconds=60):%Y-%m-%d %H:%M:%S}' in str(skipped.reason)
    # Throttling is not ill health: the breaker counted nothing and is not paused.
    assert store.load('A').failure_count == 0 and not store.load('A').paused_until
    assert governor.acquire(1).kind == WAIT_PAUSE


def test_long_retry_after_on_the_last_account_waits_with_a_not_before():
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(rate=100), wall_clock=clock)
    throttling = Client('A', script=lambda recipient, index: RecipientOutcome(
        OutcomeKind.PROVIDER, 'HTTP 429', retry_after=60, throttled=True) if index == 0 else None)
    chain = [account(throttling, governor, max_concurrency=1)]
    verdicts = Dispatcher(wall_clock=clock).dispatch(sms(4, chain))
    assert len(throttling.calls) == 1
    assert all(v.waiting and v.outcome is None for v in verdicts.values())
    assert all(v.not_before == T0 + timedelta(seconds=60) for v in verdicts.values())
    assert all(v.wait_account.account_id == 'A' for v in verdicts.values())
    assert 'Retry-After' in str(verdicts['m0'].wait_reason)
    assert [a.outcome.kind for a in verdicts['m0'].attempts] == [OutcomeKind.PROVIDER]
    assert verdicts['m0'].throttles == 1 and verdicts['m1'].throttles == 0


def test_a_request_whose_window_closed_spends_no_segments():
    # The send window of m1 closes (less the closing margin) while m0's request runs: m1
    # leaves its request before the governor is asked, so the segments every worker shares
    # go to m2 instead of to a request that will not be made.
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(rate=100), wall_clock=clock)
    client = Client('A', script=lambda recipient, index: clock.advance(1))
    messages = sms(3, [account(client, governor, max_concurrency=1)], marketing=True)
    messages[1].allowed_until = T0 + timedelta(seconds=CLOSING_MARGIN + 0.5)
    dispatcher = Dispatcher(wall_clock=clock)
    verdicts = dispatcher.dispatch(messages)
    assert client.keys == ['m0', 'm2']
    assert verdicts['m1'].deferred and not verdicts['m1'].attempts
    assert [cost for _at, cost, _priority in governor.grants] == [1, 1]
    assert dispatcher.window_closed == 1


@pytest.mark.parametrize('backup_state', ['unavailable', 'breaker open', 'misconfigured'])
@pytest.mark.parametrize('cause', ['retry_after', 'daily_cap'])
def test_a_paused_or_capped_account_keeps_its_sms_when_the_next_cannot_send(cause, backup_state):
    # The next account of the chain cannot take SMS now: going there would end the chain on
    # skipped accounts (failed, or held as for an outage); the SMS wait for this account.
    clock = FakeClock()
    if cause == 'retry_after':
        governor = MemoryGovernor(GovernorSettings(rate=100), wall_clock=clock)
        client = Client('A', script=lambda recipient, index: RecipientOutcome(
            OutcomeKind.PROVIDER, 'HTTP 429', retry_after=60, throttled=True) if index == 0 else None)
    else:
        governor = MemoryGovernor(GovernorSettings(daily_cap=1), wall_clock=clock)
        client = Client('A')
    backup_client = Client('B')
    backup = account(backup_client)
    if backup_state == 'unavailable':
        backup.unavailable_reason = 'credit below threshold'
    elif backup_state == 'breaker open':
        store = MemoryBreakerStore()
        backup.breaker = AccountBreaker('B', store, BreakerSettings(fail_max=1))
        backup.breaker.record(healthy=False, reason='HTTP 503')
    else:
        backup_client.check_configuration = lambda: 'no API key'
    chain = [account(client, governor, max_concurrency=1), backup]
    verdicts = Dispatcher(wall_clock=clock, hold=True).dispatch(sms(3, chain))
    assert not backup_client.calls
    kept = [v for v in verdicts.values() if not v.sent]
    assert kept and all(v.waiting and not v.held and v.outcome is None for v in kept)
    assert all(a.account.account_id == 'A' for v in kept for a in v.attempts)


@pytest.mark.parametrize('earlier, waits', [(0, True), (1, True), (MAX_THROTTLES - 1, False)])
def test_refusals_count_across_dispatches(earlier, waits):
    # A provider answering 429 with a long Retry-After every time: the SMS waits after each
    # refusal, until its refusals (earlier dispatches included) reach MAX_THROTTLES; then its
    # chain ends as for any provider failure (held when the dispatcher holds).
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(rate=100), wall_clock=clock)
    throttling = Client('A', script=lambda recipient, index: RecipientOutcome(
        OutcomeKind.PROVIDER, 'HTTP 429', retry_after=60, throttled=True))
    message = sms(1, [account(throttling, governor)])[0]
    message.throttles = earlier
    verdict = Dispatcher(wall_clock=clock, hold=True).dispatch([message])['m0']
    assert verdict.throttles == earlier + 1
    assert verdict.waiting is waits
    assert verdict.held is not waits
    if not waits:
        assert verdict.outcome.kind is OutcomeKind.PROVIDER and not verdict.sent


def test_short_retry_after_defers():
    governor = MemoryGovernor(GovernorSettings(rate=100))
    client = Client('A', script=lambda recipient, index: RecipientOutcome(
        OutcomeKind.PROVIDER, 'HTTP 429', retry_after=2, throttled=True) if index == 0 else None)
    verdicts = Dispatcher(pacing=0.5).dispatch(sms(3, [account(client, governor, max_concurrency=1)]))
    assert all(v.deferred for v in verdicts.values())


def test_ungoverned_account_keeps_failing_over_on_retry_after():
    store = MemoryBreakerStore()
    throttling = Client('A', script=lambda recipient, index: RecipientOutcome(
        OutcomeKind.PROVIDER, 'HTTP 429', retry_after=30, throttled=True))
    chain = [account(throttling, breaker=AccountBreaker('A', store, BreakerSettings(fail_max=5)),
                     max_concurrency=1), account(Client('B'))]
    verdicts = Dispatcher().dispatch(sms(3, chain))
    assert all(v.sent and v.accepted_by.account_id == 'B' for v in verdicts.values())


def test_an_outage_with_retry_after_on_a_governed_account_fails_over():
    # A 503 with Retry-After is an outage, not throttling: the breaker counts and pauses,
    # the SMS go to the backup account, as they would without a governor.
    store = MemoryBreakerStore()
    down = Client('A', script=lambda recipient, index: RecipientOutcome(
        OutcomeKind.PROVIDER, 'HTTP 503: maintenance', retry_after=300))
    backup = Client('B')
    chain = [account(down, MemoryGovernor(GovernorSettings(rate=10)), max_concurrency=1,
                     breaker=AccountBreaker('A', store, BreakerSettings(fail_max=1))), account(backup)]
    verdicts = Dispatcher().dispatch(sms(3, chain))
    assert all(v.sent and v.accepted_by.account_id == 'B' for v in verdicts.values())
    assert store.load('A').failure_count >= 1 and store.load('A').paused_until


def test_a_hanging_request_of_a_governed_account_is_waited_for_without_spinning():
    # Request 0 fails (one request at a time from then on), request 1 hangs 1.5 s, request 2
    # waits for its segments: the dispatcher must block on the hanging request, not poll.
    def script(recipient, index):
        if index == 0:
            return RecipientOutcome(OutcomeKind.PROVIDER, 'HTTP 500')
        if index == 1:
            time.sleep(1.5)
        return None

    client = Client('A', script=script)
    breaker = AccountBreaker('A', MemoryBreakerStore(), BreakerSettings(fail_max=5))
    chain = [account(client, MemoryGovernor(GovernorSettings(rate=5)), max_concurrency=3, breaker=breaker)]
    cpu = time.process_time()
    verdicts = Dispatcher(pacing=30).dispatch(sms(6, chain))
    assert time.process_time() - cpu < 0.3
    assert sum(v.sent for v in verdicts.values()) == 5


def test_an_sms_costing_more_than_the_daily_cap_goes_to_the_next_account():
    clock = FakeClock()
    governor = MemoryGovernor(GovernorSettings(daily_cap=2), wall_clock=clock)
    first, second = Client('A'), Client('B')
    chain = [account(first, governor), account(second)]
    long_body = 'x' * 153 * 3                                     # 3 segments
    verdicts = Dispatcher(wall_clock=clock).dispatch(sms(1, chain, body=long_body) + sms(1, chain, prefix='s'))
    assert verdicts['m0'].sent and verdicts['m0'].accepted_by.account_id == 'B'
    assert 'more than the daily cap of 2 segments' in str(verdicts['m0'].attempts[0].outcome.reason)
    assert verdicts['s0'].sent and verdicts['s0'].accepted_by.account_id == 'A'
    # Alone on its chain it ends like any skipped chain (held here), never waiting every midnight.
    verdicts = Dispatcher(wall_clock=clock, hold=True).dispatch(sms(1, [account(first, governor)], body=long_body))
    assert verdicts['m0'].held and not verdicts['m0'].waiting


def test_a_provider_throttling_for_ever_ends_in_failover():
    # 429 with a short Retry-After on every request: the SMS are tried again after each pause
    # within the batch, then fail over; the breaker counts none of it.
    store = MemoryBreakerStore()
    throttling = Client('A', script=lambda recipient, index: RecipientOutcome(
        OutcomeKind.PROVIDER, 'HTTP 429', retry_after=0.05, throttled=True))
    backup = Client('B')
    chain = [account(throttling, MemoryGovernor(GovernorSettings(rate=100)), max_concurrency=1,
                     breaker=AccountBreaker('A', store, BreakerSettings(fail_max=1))), account(backup)]
    dispatcher = Dispatcher(pacing=30)
    started = time.monotonic()
    verdicts = dispatcher.dispatch(sms(2, chain))
    assert time.monotonic() - started < 2.0
    assert all(v.sent and v.accepted_by.account_id == 'B' for v in verdicts.values())
    assert all([a.outcome.kind for a in v.attempts].count(OutcomeKind.PROVIDER) == 3 for v in verdicts.values())
    assert dispatcher.paced == 0
    assert store.load('A').failure_count == 0
    # Alone on its chain: the chain ends (held here, bounded by the maximum hold), not deferred.
    verdicts = Dispatcher(pacing=30, hold=True).dispatch(sms(1, chain[:1]))
    assert verdicts['m0'].held and not verdicts['m0'].deferred


class FaultyGovernor(MemoryGovernor):
    """A bucket that cannot be read (what PostgresGovernor answers on a database fault)."""

    def acquire(self, cost, priority=TRANSACTIONAL):
        self.asked = getattr(self, 'asked', 0) + 1
        return Wait(0.01, WAIT_FAULT)


def test_a_governor_that_stays_unreadable_skips_its_account():
    governor = FaultyGovernor(GovernorSettings(rate=10))
    first, second = Client('A'), Client('B')
    chain = [account(first, governor, max_concurrency=1), account(second)]
    dispatcher = Dispatcher(pacing=30)
    started = time.monotonic()
    verdicts = dispatcher.dispatch(sms(3, chain))
    assert time.monotonic() - started < 1.0
    assert not first.calls
    assert all(v.sent and v.accepted_by.account_id == 'B' for v in verdicts.values())
    assert all(v.attempts[0].outcome.kind is OutcomeKind.SKIPPED for v in verdicts.values())
    assert governor.asked == GOVERNOR_FAULT_LIMIT


def test_zone_name_falls_back_to_utc():
    assert zone_name('Europe/Paris') == 'Europe/Paris'
    assert zone_name('Mars/Olympus_Mons') == 'UTC'
    assert zone_name('') == 'UTC' and zone_name(None) == 'UTC'


def test_a_waiting_account_does_not_hold_back_the_others():
    slow = MemoryGovernor(GovernorSettings(rate=12.5))           # burst 5
    governed, free = Client('A'), Client('B', delay=0.01)
    started = time.monotonic()
    messages = sms(10, [account(governed, slow)], prefix='a') + [
        QueuedSms(f'b{n}', f'Hello {n}', FR, (account(free),)) for n in range(20)]
    verdicts = Dispatcher().dispatch(messages)
    assert all(v.sent for v in verdicts.values())
    # B finished long before A's last segments were granted (5 more at 10/s: 0.5 s).
    assert max(at for at, _r in free.calls) - started < 0.3
    assert max(at for at, _r in governed.calls) - started >= 0.4


def test_pool_is_sized_from_the_accounts_of_the_batch():
    first, second = Client('A', delay=0.1), Client('B', delay=0.1)
    messages = [QueuedSms(f'a{n}', f'a{n}', FR, (account(first, max_concurrency=20),)) for n in range(20)] + [
        QueuedSms(f'b{n}', f'b{n}', FR, (account(second, max_concurrency=20),)) for n in range(20)]
    dispatcher = Dispatcher()
    assert dispatcher._pool_size(messages) == 40
    started = time.monotonic()
    dispatcher.dispatch(messages)
    assert time.monotonic() - started < 0.35
    assert first.peak == 20 and second.peak == 20
    assert Dispatcher(max_workers=8)._pool_size(messages) == 8
