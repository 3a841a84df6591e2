"""Account breakers shared through a store: transitions, single probe, cool-downs, pauses."""
import contextlib
import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pybreaker
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
    """The real UTC clock moved forward by ``offset`` seconds: breakers of several
    processes, each on its own clock, a few seconds apart."""

    def __init__(self, offset=0.0):
        self.offset = offset

    def __call__(self):
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)


class FakeClock:
    """A UTC clock that moves only when told, in 2031: any time taken from the real clock
    (pybreaker's own ``datetime.now``) instead of this one would be years off."""

    def __init__(self, now=datetime(2031, 5, 17, 8, 30, tzinfo=timezone.utc)):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


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
    clock = FakeClock()
    trip(make(store, cooldown=cooldown, clock=clock))
    breaker = make(store, 'A', cooldown=cooldown, clock=clock)
    expected_factors = [1, 2, 4, 8, 8, 8]
    assert expected_factors[-1] == MAX_COOLDOWN_FACTOR
    for open_count, factor in enumerate(expected_factors, start=1):
        state = store.load(ACCOUNT)
        assert (state.state, state.open_count) == (OPEN, open_count)
        assert state.opened_at == clock.now                # stamped by the failure that opened it
        assert breaker.settings.cooldown_for(open_count) == cooldown * factor
        clock.advance(cooldown * factor - 1)
        assert not breaker.admit().allowed, f'probe granted before {factor} x the cool-down'
        clock.advance(2)
        assert breaker.admit().probe, f'no probe after {factor} x the cool-down'
        breaker.record(False, f'probe {open_count} failed')
        assert store.load(ACCOUNT).last_failure == f'probe {open_count} failed'
    clock.advance(cooldown * MAX_COOLDOWN_FACTOR + 1)
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
    assert store.apply(ACCOUNT, 'A', count_failure=True).failure_count == 4
    state = store.apply(ACCOUNT, 'A', {'success_count': 1})
    state.success_count = 99
    assert store.load(ACCOUNT).success_count == 1


def test_memory_store_apply_judges_on_the_stored_state(store):
    now = datetime.now(timezone.utc)
    store.update(ACCOUNT, state=OPEN, failure_count=3, opened_at=now)
    # An open breaker takes no outcome: nothing counted or written, but a pause is.
    state = store.apply(ACCOUNT, 'A', {'state': CLOSED, 'last_failure': 'late'}, count_failure=True,
                        paused_until=now)
    assert (state.state, state.failure_count, state.last_failure, state.paused_until) == (OPEN, 3, '', now)
    # Half-open: only the probe's owner moves it.
    store.update(ACCOUNT, state=HALF_OPEN, probe_owner='A')
    assert store.apply(ACCOUNT, 'B', count_failure=True).failure_count == 3
    assert store.apply(ACCOUNT, 'A', count_failure=True).failure_count == 4
    with pytest.raises(TypeError):
        store.apply(ACCOUNT, 'A', {'password': 'x'})


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


# ------------------------------------------------ statements per outcome, one clock

class CountingStore(MemoryBreakerStore):
    """Logs the store's operations (one SQL statement each in PostgreSQL) in ``statements``,
    marking those made outside a session, and counts sessions; fails on demand."""

    def __init__(self):
        super().__init__()
        self.statements = []
        self.sessions = 0
        self.failing = False
        self._in_session = False

    def take(self):
        """The operations logged since the last call."""
        statements, self.statements = self.statements, []
        return statements

    @contextlib.contextmanager
    def session(self):
        self.sessions += 1
        self._in_session = True
        try:
            yield
        finally:
            self._in_session = False

    def _op(self, name):
        if self.failing:
            raise OSError('connection pool exhausted')
        self.statements.append(name if self._in_session else f'{name} (no session)')

    def load(self, account_id):
        self._op('load')
        return super().load(account_id)

    def update(self, account_id, **values):
        self._op('update')
        return super().update(account_id, **values)

    def apply(self, *args, **kwargs):
        self._op('apply')
        return super().apply(*args, **kwargs)

    def acquire_probe(self, *args, **kwargs):
        self._op('acquire_probe')
        return super().acquire_probe(*args, **kwargs)


def counted(fail_max=2, cooldown=60.0, owner='me'):
    store, clock = CountingStore(), FakeClock()
    breaker = AccountBreaker('A', store, BreakerSettings(fail_max=fail_max, cooldown=cooldown),
                             clock=clock, owner=owner)
    assert store.take() == ['load (no session)']
    return store, clock, breaker


def probe(store, clock, breaker):
    """Let the cool-down pass and take the probe (not an outcome: its statements are dropped)."""
    clock.advance(breaker.settings.cooldown_for(breaker.state.open_count) + 1)
    assert breaker.admit().probe
    store.take()


def test_statements_per_outcome():
    store, clock, breaker = counted(fail_max=2)

    breaker.record(True)                                  # healthy breaker: nothing to write
    assert store.take() == []

    breaker.record(False, 'HTTP 503')                     # counted, and the shared state read back
    assert store.take() == ['apply']
    assert (breaker.state.failure_count, breaker.state.last_failure) == (1, 'HTTP 503')

    breaker.record(True)                                  # resets the count
    assert store.take() == ['apply']
    assert breaker.state.failure_count == 0

    breaker.record(False, 'HTTP 503')
    assert store.take() == ['apply']
    breaker.record(False, 'HTTP 500')                     # opens: count, then the opening
    assert store.take() == ['apply', 'apply']
    assert (breaker.state.state, breaker.state.open_count, breaker.state.opened_at) == (OPEN, 1, clock.now)

    breaker.record(False, 'late')                         # late answers: the open breaker ignores them
    assert store.take() == ['apply']
    breaker.record(True)
    assert store.take() == []
    assert store.load('A') == replace(breaker.state)
    assert (breaker.state.state, breaker.state.failure_count, breaker.state.last_failure) == (OPEN, 2, 'HTTP 500')
    store.take()

    probe(store, clock, breaker)
    breaker.record(False, 'probe failed')                 # the probe fails: count, then the opening
    assert store.take() == ['apply', 'apply']
    assert (breaker.state.state, breaker.state.open_count) == (OPEN, 2)

    probe(store, clock, breaker)
    breaker.record(True)                                  # the probe succeeds: closed in one
    assert store.take() == ['apply']
    assert (breaker.state.state, breaker.state.failure_count, breaker.state.open_count) == (CLOSED, 0, 0)

    breaker.record(True)
    assert store.take() == []
    assert store.sessions == 10                           # one per outcome


def test_retry_after_is_written_by_the_same_statement():
    store, clock, breaker = counted(fail_max=2)
    breaker.record(False, 'HTTP 429', retry_after=30)      # counted and paused
    assert store.take() == ['apply']
    assert breaker.state.paused_until == clock.now + timedelta(seconds=30)
    assert breaker.state.failure_count == 1

    breaker.record(False, 'HTTP 429', retry_after=40)      # opens and pauses: still two
    assert store.take() == ['apply', 'apply']
    assert (breaker.state.state, breaker.state.paused_until) == (OPEN, clock.now + timedelta(seconds=40))

    breaker.record(True, retry_after=50)                  # a late answer pauses all the same
    assert store.take() == ['apply']
    assert (breaker.state.state, breaker.state.paused_until) == (OPEN, clock.now + timedelta(seconds=50))

    store, clock, breaker = counted()
    breaker.record(True, retry_after=5)                   # healthy breaker: the pause alone
    assert store.take() == ['apply']
    assert (breaker.state.failure_count, breaker.state.paused_until) == (0, clock.now + timedelta(seconds=5))

    store, clock, breaker = counted(fail_max=5)
    breaker.record(False, 'HTTP 503')
    store.take()
    breaker.record(True, retry_after=5)                   # resets the count and pauses, in one
    assert store.take() == ['apply']
    assert (breaker.state.failure_count, breaker.state.paused_until) == (0, clock.now + timedelta(seconds=5))


def test_late_success_on_a_stale_view_moves_nothing(store):
    """A success is replayed on the state last seen (so a healthy breaker costs nothing),
    but the store judges its write on the stored state."""
    clock = FakeClock()
    slow = make(store, 'slow', fail_max=3, clock=clock)
    slow.record(False, 'HTTP 503')                        # it saw one failure...
    trip(make(store, 'other', fail_max=3, clock=clock), 2)  # ...then another process opened it
    assert (slow.state.state, store.load(ACCOUNT).state) == (CLOSED, OPEN)
    slow.record(True)                                     # would reset the count of a closed breaker
    state = store.load(ACCOUNT)
    assert (state.state, state.failure_count, state.open_count) == (OPEN, 3, 1)
    assert slow.state == state                            # and now it knows


def test_failure_decides_on_the_shared_state(store):
    clock = FakeClock()
    first, second = make(store, 'first', fail_max=2, clock=clock), make(store, 'second', fail_max=2, clock=clock)
    first.record(False, 'a')
    second.record(False, 'b')                             # its view said 0 failures: the store said 1
    state = store.load(ACCOUNT)
    assert (state.state, state.failure_count, state.opened_at) == (OPEN, 2, clock.now)
    clock.advance(5)
    first.record(False, 'c')                              # its view said closed: a late answer
    assert store.load(ACCOUNT) == state
    assert first.state.state == OPEN


def test_one_clock_far_from_the_real_one(store):
    """Openings, cool-downs, leases and pauses all follow the breaker's clock, here in 2031."""
    clock = FakeClock()
    breaker = make(store, 'A', fail_max=2, cooldown=60, probe_lease=30, clock=clock)
    trip(breaker)
    opened_at = clock.now
    assert store.load(ACCOUNT).opened_at == opened_at
    assert breaker.next_attempt_at() == opened_at + timedelta(seconds=60)

    clock.advance(59)
    assert not breaker.admit().allowed
    assert not make(store, 'B', cooldown=60, clock=clock).admit().allowed
    clock.advance(2)
    assert breaker.admit().probe
    assert store.load(ACCOUNT).probe_until == clock.now + timedelta(seconds=30)

    breaker.record(False, 'probe failed')                 # re-opened now, for twice the cool-down
    reopened_at = clock.now
    state = store.load(ACCOUNT)
    assert (state.state, state.open_count, state.opened_at) == (OPEN, 2, reopened_at)
    clock.advance(119)
    assert not breaker.admit().allowed
    clock.advance(2)
    assert breaker.admit().probe
    breaker.record(True)
    assert store.load(ACCOUNT).state == CLOSED

    breaker.record(False, 'HTTP 429', retry_after=30)
    assert store.load(ACCOUNT).paused_until == clock.now + timedelta(seconds=30)
    clock.advance(29)
    assert not breaker.admit().allowed
    clock.advance(2)
    assert breaker.admit().allowed


def test_pybreaker_clock_is_never_used(store, monkeypatch):
    """pybreaker stamps openings with its own clock and would compare them with it to leave
    the open state: neither reaches the breaker."""

    class PybreakerClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(1999, 12, 31, tzinfo=timezone.utc)

    open_state_calls = []
    monkeypatch.setattr(pybreaker, 'datetime', PybreakerClock)
    monkeypatch.setattr(pybreaker.CircuitOpenState, 'before_call',
                        lambda *args, **kwargs: open_state_calls.append(args))
    clock = FakeClock()
    breaker = make(store, 'A', fail_max=2, cooldown=60, clock=clock)
    trip(breaker)
    assert store.load(ACCOUNT).opened_at == clock.now
    breaker.record(False, 'late')                         # open: pybreaker does not see it
    breaker.record(True)
    clock.advance(61)
    assert breaker.admit().probe
    breaker.record(False, 'probe failed')
    assert store.load(ACCOUNT).opened_at == clock.now
    clock.advance(121)
    assert breaker.admit().probe
    breaker.record(True)
    assert store.load(ACCOUNT).state == CLOSED
    assert open_state_calls == []
    assert breaker.store_failures == 0


def test_transitions_are_logged(store, caplog):
    clock = FakeClock()
    breaker = make(store, 'A', fail_max=2, cooldown=60, clock=clock)
    with caplog.at_level(logging.INFO, logger='addons.sms_router.engine.breakers'):
        trip(breaker)
        clock.advance(61)
        assert breaker.admit().probe
        breaker.record(True)
    transitions = [r.getMessage() for r in caplog.records if 'went from' in r.getMessage()]
    assert transitions == [f'SMS router: breaker of account {ACCOUNT} went from closed to open',
                           f'SMS router: breaker of account {ACCOUNT} went from half-open to closed']


def test_transitions_are_kept_once_each_for_the_chatter(store):
    clock = FakeClock()
    breaker = make(store, 'A', fail_max=2, cooldown=60, clock=clock)
    breaker.record(False, 'HTTP 503')
    assert breaker.pop_transitions() == [], 'a failure below fail_max changes nothing'
    breaker.record(False, 'HTTP 502')
    opened_at = clock.now
    breaker.record(False, 'late')                     # ignored by the open breaker
    clock.advance(61)
    assert breaker.admit().probe                     # open -> half-open: the probe's result tells
    breaker.record(False, 'probe: HTTP 500')
    clock.advance(121)
    assert breaker.admit().probe
    breaker.record(True)
    breaker.record(True)                             # healthy again: nothing new
    assert [(t.before, t.after, t.at, t.reason, t.failure_count, t.cooldown)
            for t in breaker.pop_transitions()] == [
        (CLOSED, OPEN, opened_at, 'HTTP 502', 2, 60),
        (HALF_OPEN, OPEN, opened_at + timedelta(seconds=61), 'probe: HTTP 500', 3, 120),
        (HALF_OPEN, CLOSED, opened_at + timedelta(seconds=182), '', 0, 0),
    ]
    assert breaker.pop_transitions() == []


def test_a_transition_belongs_to_the_process_that_made_it(store):
    first, second = make(store, 'first', fail_max=2), make(store, 'second', fail_max=2)
    first.record(False, 'HTTP 503')
    second.record(False, 'HTTP 503')                 # the second failure opens it
    first.record(False, 'late')                      # already open: not this one's transition
    assert first.pop_transitions() == []
    assert [(t.before, t.after) for t in second.pop_transitions()] == [(CLOSED, OPEN)]


# ------------------------------------------------------------- bookkeeping faults

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


# ------------------------------------------------------------------- peek

def _states_for_peek(clock):
    """(name, BreakerState) of every case admit() distinguishes, seen at ``clock.now``."""
    now = clock.now
    past, future = now - timedelta(seconds=5), now + timedelta(seconds=5)
    return [
        ('new', BreakerState()),
        ('closed with failures', BreakerState(failure_count=2)),
        ('open, cooling down', BreakerState(state=OPEN, opened_at=now - timedelta(seconds=5), open_count=1,
                                            failure_count=3)),
        ('open, cool-down over', BreakerState(state=OPEN, opened_at=now - timedelta(seconds=11), open_count=1)),
        ('open twice, cooling down', BreakerState(state=OPEN, opened_at=now - timedelta(seconds=15),
                                                  open_count=2)),
        ('half-open, leased', BreakerState(state=HALF_OPEN, probe_owner='other', probe_until=future,
                                           open_count=1)),
        ('half-open, lease over', BreakerState(state=HALF_OPEN, probe_owner='other', probe_until=past,
                                               open_count=1)),
        ('half-open, own probe', BreakerState(state=HALF_OPEN, probe_owner='me', probe_until=future)),
        ('forced open', BreakerState(forced_open=True)),
        ('forced open and open, cool-down over', BreakerState(state=OPEN, forced_open=True, opened_at=past,
                                                               open_count=1)),
        ('paused', BreakerState(paused_until=future)),
        ('pause over', BreakerState(paused_until=past)),
        ('open, cool-down over, paused', BreakerState(state=OPEN, opened_at=now - timedelta(seconds=11),
                                                      open_count=1, paused_until=future)),
    ]


@pytest.mark.parametrize('case', range(len(_states_for_peek(FakeClock()))))
def test_peek_answers_as_admit_without_writing(case):
    clock = FakeClock()
    name, state = _states_for_peek(clock)[case]
    store = CountingStore()
    store.update(ACCOUNT, **vars(state))
    breaker = make(store, 'me', cooldown=10, clock=clock)
    store.take()
    peeked = breaker.peek()
    assert store.take() == [], f'{name}: peek() made a store operation'
    assert store.load(ACCOUNT) == state, f'{name}: peek() changed the breaker'
    admitted = breaker.admit()
    assert (peeked.allowed, peeked.probe, peeked.reason) == (admitted.allowed, admitted.probe, admitted.reason), name


def test_peek_leaves_the_probe_to_the_dispatch(store):
    clock = FakeClock()
    trip(make(store, cooldown=10, clock=clock))
    clock.advance(11)
    tester = make(store, 'tester', cooldown=10, clock=clock)
    for _ in range(3):
        assert tester.peek().probe
    state = store.load(ACCOUNT)
    assert (state.state, state.probe_owner) == (OPEN, None)
    # A dispatch still gets the probe.
    assert make(store, 'worker', cooldown=10, clock=clock).admit().probe
    assert store.load(ACCOUNT).probe_owner == 'worker'
    # peek() answers on the state the breaker read; read again, the probe is taken.
    tester.refresh()
    refused = tester.peek()
    assert not refused.allowed and refused.reason == 'breaker half-open (after 3 failures)', refused.reason


def test_peek_with_the_store_down_admits_as_admit_does():
    store = CountingStore()
    AccountBreaker('A', store, BreakerSettings(fail_max=1)).record(False, 'down')
    store.failing = True
    breaker = AccountBreaker('A', store, BreakerSettings(fail_max=1))   # unreadable: closed
    assert breaker.peek().allowed and breaker.admit().allowed


def test_next_probe_at(store):
    clock = FakeClock()
    breaker = make(store, cooldown=10, clock=clock)
    assert breaker.next_probe_at() is None
    trip(breaker)
    opened = store.load(ACCOUNT).opened_at
    assert breaker.next_probe_at() == breaker.next_attempt_at() == opened + timedelta(seconds=10)
    # A longer provider's pause is when the account takes traffic again, not when it is probed.
    breaker.record(False, 'HTTP 429', retry_after=60)
    assert breaker.next_probe_at() == opened + timedelta(seconds=10)
    assert breaker.next_attempt_at() == clock.now + timedelta(seconds=60)
    clock.advance(11)
    prober = make(store, 'prober', cooldown=10, probe_lease=30, clock=clock)
    store.update(ACCOUNT, paused_until=None)
    prober.refresh()
    assert prober.admit().probe
    assert prober.next_probe_at() == clock.now + timedelta(seconds=30)     # the lease's end
    breaker.force_open()
    assert breaker.next_probe_at() is None and breaker.next_attempt_at() is None


def test_unused_probe_lease_is_given_back_and_the_next_probe_is_due_at_once(store):
    trip(make(store, cooldown=10))
    clock = SkewedClock(10.5)
    prober = make(store, 'A', cooldown=10, clock=clock)
    other = make(store, 'B', cooldown=10, clock=clock)
    assert prober.admit().probe
    assert not other.admit().allowed           # leased to A
    prober.release_probe()                     # A made no request for it
    state = store.load(ACCOUNT)
    assert (state.state, state.probe_owner, state.probe_until) == (OPEN, None, None)
    assert prober.state.state == OPEN
    # Another process probes at once, not after the 30 s lease.
    assert other.admit().probe
    # Only the owner's lease is given back, and nothing else moves.
    prober.release_probe()
    assert store.load(ACCOUNT).probe_owner == 'B'


def test_a_recorded_probe_is_not_given_back(store):
    trip(make(store, cooldown=10))
    prober = make(store, 'A', cooldown=10, clock=SkewedClock(10.5))
    assert prober.admit().probe
    prober.record(True)
    prober.release_probe()
    assert store.load(ACCOUNT).state == CLOSED


def test_memory_store_release_probe_rules(store):
    now = datetime.now(timezone.utc)
    store.update(ACCOUNT, state=OPEN, opened_at=now)
    assert store.acquire_probe(ACCOUNT, 'A', now, now, now + timedelta(seconds=60))
    assert store.release_probe(ACCOUNT, 'B').probe_owner == 'A'
    released = store.release_probe(ACCOUNT, 'A')
    assert (released.state, released.probe_owner, released.opened_at) == (OPEN, None, now)
    store.update(ACCOUNT, state=CLOSED)
    assert store.release_probe(ACCOUNT, 'A').state == CLOSED
