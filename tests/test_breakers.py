"""Account breakers shared through a store: transitions, single probe, cool-downs, pauses."""
import contextlib
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from addons.sms_router.engine.breakers import (
    CLOSED,
    HALF_OPEN,
    MAX_COOLDOWN_FACTOR,
    OPEN,
    AccountBreaker,
    BreakerSettings,
    BreakerState,
    MemoryBreakerStore,
)

ACCOUNT = 7


class SkewedClock:
    """The real UTC clock moved forward by ``offset`` seconds.

    pybreaker stamps ``opened_at`` with the real clock, so a skew on top of it lets a test
    jump past cool-downs and leases without sleeping.
    """

    def __init__(self, offset=0.0):
        self.offset = offset

    def __call__(self):
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)


@pytest.fixture
def store():
    return MemoryBreakerStore()


def make(store, owner=None, fail_max=3, cooldown=10.0, probe_lease=30.0, clock=None,
         account=ACCOUNT):
    values = {'owner': owner} if owner else {}
    settings = BreakerSettings(fail_max=fail_max, cooldown=cooldown, probe_lease=probe_lease)
    return AccountBreaker(account, store, settings, clock=clock or SkewedClock(), **values)


def trip(breaker, failures=None):
    for _ in range(failures or breaker.settings.fail_max):
        breaker.record(False, 'HTTP 503')


def test_new_account_is_closed_and_admitted(store):
    breaker = make(store)
    assert store.load(ACCOUNT) == BreakerState()
    admission = breaker.admit()
    assert admission.allowed and not admission.probe and admission.reason == ''


def test_opens_after_fail_max_consecutive_failures(store):
    breaker = make(store, fail_max=3)
    before = datetime.now(timezone.utc)
    trip(breaker, 2)
    state = store.load(ACCOUNT)
    assert (state.state, state.failure_count) == (CLOSED, 2)
    assert breaker.admit().allowed
    breaker.record(False, 'HTTP 502 from the gateway')
    state = store.load(ACCOUNT)
    assert state.state == OPEN
    assert state.open_count == 1
    assert state.opened_at is not None and state.opened_at >= before
    assert state.last_failure == 'HTTP 502 from the gateway'
    assert breaker.state.state == OPEN


def test_success_resets_the_failure_count(store):
    breaker = make(store, fail_max=3)
    trip(breaker, 2)
    breaker.record(True)
    assert store.load(ACCOUNT).failure_count == 0
    trip(breaker, 2)
    assert store.load(ACCOUNT).state == CLOSED
    breaker.record(False, 'third in a row')
    assert store.load(ACCOUNT).state == OPEN


def test_healthy_records_never_open(store):
    # Recipient-side outcomes are reported as healthy: they never count.
    breaker = make(store, fail_max=1)
    for _ in range(20):
        breaker.record(True)
    state = store.load(ACCOUNT)
    assert (state.state, state.failure_count, state.open_count) == (CLOSED, 0, 0)


def test_long_reason_is_truncated(store):
    breaker = make(store, fail_max=5)
    breaker.record(False, 'x' * 2000)
    assert store.load(ACCOUNT).last_failure == 'x' * 500


def test_failures_of_two_instances_add_up(store):
    first, second = make(store, 'A'), make(store, 'B')
    first.record(False, 'a')
    second.record(False, 'b')
    assert store.load(ACCOUNT).failure_count == 2
    first.record(False, 'c')
    assert store.load(ACCOUNT).state == OPEN


def test_accounts_are_independent(store):
    trip(make(store, account=1))
    assert store.load(1).state == OPEN
    assert store.load(2).state == CLOSED
    assert make(store, account=2).admit().allowed


def test_open_breaker_refuses_with_a_reason(store):
    breaker = make(store, cooldown=10)
    trip(breaker)
    admission = breaker.admit()
    assert not admission.allowed and not admission.probe
    assert 'open' in admission.reason
    # Another process sees the same.
    other = make(store, 'other', cooldown=10, clock=SkewedClock(9.0))
    assert not other.admit().allowed
    assert store.load(ACCOUNT).state == OPEN


def test_late_answers_while_open_change_nothing(store):
    breaker = make(store, cooldown=10)
    trip(breaker)
    before = store.load(ACCOUNT)
    breaker.record(False, 'late failure')
    breaker.record(True)
    after = store.load(ACCOUNT)
    assert (after.state, after.open_count, after.opened_at) == (OPEN, 1, before.opened_at)


def test_exactly_one_process_gets_the_probe(store):
    trip(make(store, cooldown=10))
    clock = SkewedClock(10.5)
    first = make(store, 'A', cooldown=10, clock=clock)
    second = make(store, 'B', cooldown=10, clock=clock)
    admissions = [first.admit(), second.admit()]
    assert [a.probe for a in admissions] == [True, False]
    assert [a.allowed for a in admissions] == [True, False]
    assert 'half-open' in admissions[1].reason
    state = store.load(ACCOUNT)
    assert (state.state, state.probe_owner) == (HALF_OPEN, 'A')
    # The prober itself does not get a second request through while its probe runs.
    again = first.admit()
    assert not again.allowed and 'probe' in again.reason
    assert not second.admit().allowed


def test_probe_race_between_threads(store):
    trip(make(store, cooldown=10))
    clock = SkewedClock(11)
    breakers = [make(store, f'worker-{n}', cooldown=10, clock=clock) for n in range(8)]
    barrier = threading.Barrier(len(breakers))
    admissions = [None] * len(breakers)

    def run(index):
        barrier.wait()
        admissions[index] = breakers[index].admit()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(breakers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, admission in enumerate(admissions) if admission.probe]
    assert len(winners) == 1
    assert sum(a.allowed for a in admissions) == 1
    assert store.load(ACCOUNT).probe_owner == f'worker-{winners[0]}'


def test_probe_with_real_time(store):
    breaker = make(store, 'A', fail_max=2, cooldown=0.2, clock=lambda: datetime.now(timezone.utc))
    trip(breaker)
    assert not breaker.admit().allowed
    time.sleep(0.25)
    assert breaker.admit().probe
    breaker.record(True)
    assert store.load(ACCOUNT).state == CLOSED


def test_probe_success_closes_for_everyone(store):
    trip(make(store, cooldown=10))
    clock = SkewedClock(11)
    prober = make(store, 'A', cooldown=10, clock=clock)
    other = make(store, 'B', cooldown=10, clock=clock)
    assert prober.admit().probe
    assert not other.admit().allowed
    prober.record(True)
    state = store.load(ACCOUNT)
    assert state.state == CLOSED
    assert (state.failure_count, state.success_count, state.open_count) == (0, 0, 0)
    assert (state.probe_owner, state.probe_until) == (None, None)
    assert prober.admit().allowed
    # The other process last saw the breaker half-open: it is admitted all the same.
    admission = other.admit()
    assert admission.allowed and not admission.probe, admission.reason


def test_probe_failure_reopens_with_a_growing_cooldown(store):
    cooldown = 10.0
    trip(make(store, cooldown=cooldown))
    clock = SkewedClock()
    breaker = make(store, 'A', cooldown=cooldown, clock=clock)
    expected_factors = [1, 2, 4, 8, 8, 8]
    assert expected_factors[-1] == MAX_COOLDOWN_FACTOR
    for open_count, factor in enumerate(expected_factors, start=1):
        state = store.load(ACCOUNT)
        assert (state.state, state.open_count) == (OPEN, open_count)
        assert breaker.settings.cooldown_for(open_count) == cooldown * factor
        clock.offset = cooldown * factor - 1
        assert not breaker.admit().allowed, f'probe granted before {factor} x the cool-down'
        clock.offset = cooldown * factor + 1
        assert breaker.admit().probe, f'no probe after {factor} x the cool-down'
        breaker.record(False, f'probe {open_count} failed')
        assert store.load(ACCOUNT).last_failure == f'probe {open_count} failed'
    breaker.clock = SkewedClock(cooldown * MAX_COOLDOWN_FACTOR + 1)
    assert breaker.admit().probe
    breaker.record(True)
    state = store.load(ACCOUNT)
    assert (state.state, state.open_count) == (CLOSED, 0)
    assert breaker.settings.cooldown_for(state.open_count) == cooldown


def test_expired_probe_lease_lets_another_owner_probe(store):
    trip(make(store, cooldown=10))
    dead = make(store, 'dead', cooldown=10, probe_lease=30, clock=SkewedClock(11))
    assert dead.admit().probe
    early = make(store, 'early', cooldown=10, probe_lease=30, clock=SkewedClock(11 + 29))
    assert not early.admit().allowed
    late = make(store, 'late', cooldown=10, probe_lease=30, clock=SkewedClock(11 + 31))
    assert late.admit().probe
    assert store.load(ACCOUNT).probe_owner == 'late'
    late.record(True)
    assert store.load(ACCOUNT).state == CLOSED


def test_force_open_refuses_even_when_closed_and_is_never_probed(store):
    breaker = make(store)
    breaker.force_open()
    admission = breaker.admit()
    assert not admission.allowed and 'maintenance' in admission.reason
    # Another process (the account's button) sees it too.
    assert not make(store, 'other').admit().allowed
    trip(breaker)
    assert store.load(ACCOUNT).forced_open
    assert not make(store, 'prober', clock=SkewedClock(3600)).admit().allowed
    assert store.load(ACCOUNT).probe_owner is None


def test_reset_clears_everything(store):
    breaker = make(store, fail_max=2)
    trip(breaker)
    breaker.record(False, 'late', retry_after=120)
    breaker.force_open()
    make(store, 'other').reset()
    assert store.load(ACCOUNT) == BreakerState()
    fresh = make(store, 'fresh')
    assert fresh.admit().allowed
    fresh.record(False, 'one')
    assert store.load(ACCOUNT).state == CLOSED


def test_reset_instance_is_usable_again(store):
    breaker = make(store, fail_max=2)
    trip(breaker)
    breaker.reset()
    assert breaker.admit().allowed
    breaker.record(False, 'one')
    assert store.load(ACCOUNT).state == CLOSED
    breaker.record(False, 'two')
    assert store.load(ACCOUNT).state == OPEN


def test_retry_after_pauses_the_account(store):
    clock = SkewedClock()
    breaker = make(store, fail_max=5, clock=clock)
    breaker.record(False, 'HTTP 429', retry_after=30)
    state = store.load(ACCOUNT)
    assert state.state == CLOSED
    assert state.paused_until is not None
    expected = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert abs((state.paused_until - expected).total_seconds()) < 2
    admission = breaker.admit()
    assert not admission.allowed and 'paused' in admission.reason
    assert not make(store, 'other', clock=SkewedClock(29)).admit().allowed
    clock.offset = 31
    assert breaker.admit().allowed


def test_retry_after_on_a_healthy_answer_pauses_too(store):
    breaker = make(store)
    breaker.record(True, retry_after=5)
    assert not breaker.admit().allowed
    assert store.load(ACCOUNT).failure_count == 0


def test_store_keeps_counts_consistent_under_threads(store):
    rounds = 400
    breakers = [make(store, f'thread-{n}', fail_max=10 ** 6) for n in range(2)]
    barrier = threading.Barrier(len(breakers))

    def hammer(breaker):
        barrier.wait()
        for index in range(rounds):
            breaker.record(False, f'{breaker.owner} {index}')

    threads = [threading.Thread(target=hammer, args=(b,)) for b in breakers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = store.load(ACCOUNT)
    assert state.state == CLOSED
    assert state.failure_count == rounds * len(breakers)
    assert state.last_failure.endswith(str(rounds - 1))


def test_threads_tripping_together_open_once(store):
    breakers = [make(store, f'thread-{n}', fail_max=50, cooldown=60) for n in range(2)]
    barrier = threading.Barrier(len(breakers))

    def hammer(breaker):
        barrier.wait()
        for _ in range(200):
            breaker.record(False, 'down')

    threads = [threading.Thread(target=hammer, args=(b,)) for b in breakers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = store.load(ACCOUNT)
    assert state.state == OPEN
    assert state.open_count == 1
    assert 50 <= state.failure_count <= 51
    assert not make(store, 'late').admit().allowed


def test_memory_store_probe_rules(store):
    now = datetime.now(timezone.utc)
    later = now + timedelta(seconds=60)
    # Nothing stored, or closed: no probe.
    assert not store.acquire_probe(ACCOUNT, 'A', now, now, later)
    store.update(ACCOUNT, state=CLOSED)
    assert not store.acquire_probe(ACCOUNT, 'A', now, now, later)
    # Open, but since after not_before.
    store.update(ACCOUNT, state=OPEN, opened_at=now)
    assert not store.acquire_probe(ACCOUNT, 'A', now, now - timedelta(seconds=1), later)
    assert store.acquire_probe(ACCOUNT, 'A', now, now, later)
    assert not store.acquire_probe(ACCOUNT, 'B', now, now, later)
    assert store.acquire_probe(ACCOUNT, 'B', later, later, later + timedelta(seconds=60))
    assert store.load(ACCOUNT).probe_owner == 'B'
    store.update(ACCOUNT, forced_open=True, state=OPEN, probe_owner=None)
    assert not store.acquire_probe(ACCOUNT, 'C', later, later, later)


def test_memory_store_returns_copies(store):
    state = store.update(ACCOUNT, failure_count=3)
    state.failure_count = 99
    loaded = store.load(ACCOUNT)
    loaded.state = OPEN
    assert store.load(ACCOUNT).failure_count == 3
    assert store.load(ACCOUNT).state == CLOSED
    assert store.increment(ACCOUNT, 'failure_count') == 4
    assert store.increment(ACCOUNT, 'success_count') == 1


def test_late_failure_after_the_cooldown_does_not_reopen_or_double(store):
    """A request sent before the breaker opened may fail after the cool-down: only the
    probe may move an open breaker, so that late failure neither re-opens it (new
    opened_at) nor doubles the next cool-down."""
    breaker = make(store, cooldown=0.05)
    trip(breaker)
    before = store.load(ACCOUNT)
    time.sleep(0.1)
    breaker.record(False, 'late failure')
    breaker.record(True)
    after = store.load(ACCOUNT)
    assert (after.state, after.open_count, after.opened_at) == (OPEN, 1, before.opened_at)
    admission = breaker.admit()
    assert admission.allowed and admission.probe


# ----------------------------------------------------- bookkeeping faults, sessions

class CountingStore(MemoryBreakerStore):
    """Counts store sessions and the operations made outside any session; fails on demand."""

    def __init__(self):
        super().__init__()
        self.sessions = 0
        self.loose_operations = 0
        self.failing = False
        self._in_session = False

    @contextlib.contextmanager
    def session(self):
        self.sessions += 1
        self._in_session = True
        try:
            yield
        finally:
            self._in_session = False

    def _op(self):
        if self.failing:
            raise OSError('connection pool exhausted')
        if not self._in_session:
            self.loose_operations += 1

    def load(self, account_id):
        self._op()
        return super().load(account_id)

    def update(self, account_id, **values):
        self._op()
        return super().update(account_id, **values)

    def increment(self, account_id, counter, **values):
        self._op()
        return super().increment(account_id, counter, **values)

    def acquire_probe(self, *args, **kwargs):
        self._op()
        return super().acquire_probe(*args, **kwargs)


def test_each_outcome_costs_at_most_one_store_session():
    store = CountingStore()
    breaker = AccountBreaker('A', store, BreakerSettings(fail_max=2, cooldown=60))
    loose_before = store.loose_operations
    breaker.record(False, 'HTTP 503')
    breaker.record(False, 'HTTP 503', retry_after=5)      # trips the breaker, and a pause
    breaker.record(True)
    assert store.sessions == 3
    assert store.loose_operations == loose_before         # every write went through a session
    state = store.load('A')
    assert (state.state, state.failure_count, state.last_failure) == (OPEN, 2, 'HTTP 503')
    assert state.paused_until is not None


def test_breaker_store_down_fails_open_and_never_raises(caplog):
    store = CountingStore()
    store.failing = True
    breaker = AccountBreaker('A', store, BreakerSettings(fail_max=1))
    assert breaker.state.state == CLOSED                  # unreadable: treated as closed
    assert breaker.admit().allowed
    breaker.record(False, 'HTTP 500')                     # unwritable: logged, not raised
    breaker.record(True)
    assert breaker.admit().allowed
    assert breaker.store_failures == 2                    # the healthy answer had nothing to write
    assert 'treated as closed' in caplog.text


def test_breaker_store_down_while_half_open_admits():
    store = CountingStore()
    breaker = AccountBreaker('A', store, BreakerSettings(fail_max=1, cooldown=0.001))
    breaker.record(False, 'down')
    assert store.load('A').state == OPEN
    store.failing = True                                  # the probe cannot be acquired
    admission = breaker.admit()
    assert admission.allowed and not admission.probe
