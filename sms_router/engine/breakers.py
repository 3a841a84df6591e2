"""One circuit breaker per provider account, shared by every process through a store.

pybreaker drives the transitions (closed -> open after ``fail_max`` consecutive failures,
open -> half-open after the cool-down, half-open -> closed on success or open again on
failure). Its state lives in a :class:`BreakerStore` (PostgreSQL in Odoo, memory in tests)
through :class:`StoredBreakerStorage`, and every change is an atomic write, so all workers
see the same breaker.

pybreaker alone would let every process probe a half-open provider at once and would hold
its lock during the HTTP call. So the engine asks :meth:`AccountBreaker.admit` before a
request (a compare-and-set in the store grants the single half-open probe to one process)
and reports the result afterwards with :meth:`AccountBreaker.record`, which replays it
through pybreaker without any network I/O under its lock.

A failed probe doubles the next cool-down (up to ``MAX_COOLDOWN_FACTOR`` times), so a
provider that stays down is probed less and less often.

A breaker is bookkeeping, never a reason to lose an SMS: when its store cannot be read or
written (database fault, pool exhausted), the breaker behaves as closed and says so in the
log, and the dispatch goes on. One outcome costs at most one store session (one short
transaction in PostgreSQL), whatever pybreaker does inside it.
"""
import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pybreaker

_logger = logging.getLogger(__name__)

CLOSED = pybreaker.STATE_CLOSED
OPEN = pybreaker.STATE_OPEN
HALF_OPEN = pybreaker.STATE_HALF_OPEN
MAX_COOLDOWN_FACTOR = 8


def utcnow():
    return datetime.now(timezone.utc)


@dataclass
class BreakerState:
    """What the store keeps for one account."""

    state: str = CLOSED
    failure_count: int = 0
    success_count: int = 0
    opened_at: datetime = None        # timezone-aware UTC
    open_count: int = 0               # consecutive openings, for the growing cool-down
    forced_open: bool = False         # planned maintenance: never sent to, never probed
    paused_until: datetime = None     # the provider asked us to wait (429 Retry-After)
    probe_owner: str = None           # who holds the half-open probe
    probe_until: datetime = None      # the probe lease ends here (a dead prober is replaced)
    last_failure: str = ''


class BreakerStore:
    """Persistence of breaker states; every method is one atomic operation."""

    def session(self):
        """Context manager: the calls made inside it share one transaction of the store
        (one round trip per call, one commit in all). The default has nothing to share."""
        return contextlib.nullcontext()

    def load(self, account_id):
        """The current BreakerState (a new closed one when none is stored)."""
        raise NotImplementedError

    def update(self, account_id, **values):
        """Write ``values`` and return the new BreakerState."""
        raise NotImplementedError

    def increment(self, account_id, counter, **values):
        """Add one to ``counter`` ('failure_count' or 'success_count') and write ``values``
        in the same operation; return the new value of the counter."""
        raise NotImplementedError

    def acquire_probe(self, account_id, owner, now, not_before, lease_until):
        """Atomically grant the half-open probe to ``owner`` and return True, when the
        breaker is open since before ``not_before``, or half-open with an expired lease."""
        raise NotImplementedError


class MemoryBreakerStore(BreakerStore):
    """Thread-safe in-process store, for tests and single-process use."""

    def __init__(self):
        self._states = {}
        self._lock = threading.Lock()

    def load(self, account_id):
        with self._lock:
            return replace(self._states.get(account_id) or BreakerState())

    def update(self, account_id, **values):
        with self._lock:
            state = replace(self._states.get(account_id) or BreakerState(), **values)
            self._states[account_id] = state
            return replace(state)

    def increment(self, account_id, counter, **values):
        with self._lock:
            state = self._states.setdefault(account_id, BreakerState())
            setattr(state, counter, getattr(state, counter) + 1)
            for name, value in values.items():
                setattr(state, name, value)
            return getattr(state, counter)

    def acquire_probe(self, account_id, owner, now, not_before, lease_until):
        with self._lock:
            state = self._states.get(account_id)
            if not state or state.forced_open:
                return False
            expired_open = state.state == OPEN and state.opened_at and state.opened_at <= not_before
            stale_probe = state.state == HALF_OPEN and (not state.probe_until or state.probe_until <= now)
            if not (expired_open or stale_probe):
                return False
            state.state, state.probe_owner, state.probe_until = HALF_OPEN, owner, lease_until
            return True


class StoredBreakerStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker storage that reads a snapshot and writes every change through the store."""

    def __init__(self, store, account_id, snapshot):
        super().__init__(f'sms-router-account-{account_id}')
        self._store = store
        self._account_id = account_id
        self.snapshot = snapshot
        # Written with the next failure count, in the same statement (see AccountBreaker.record).
        self.failure_reason = None

    def _write(self, **values):
        self.snapshot = self._store.update(self._account_id, **values)

    @property
    def state(self):
        return self.snapshot.state

    @state.setter
    def state(self, state):
        if state == self.snapshot.state:
            return
        values = {'state': state}
        if state == CLOSED:
            values.update(failure_count=0, success_count=0, open_count=0,
                          probe_owner=None, probe_until=None)
        elif state == OPEN:
            values.update(open_count=self.snapshot.open_count + 1, probe_owner=None,
                          probe_until=None, success_count=0)
        self._write(**values)

    def increment_counter(self):
        values = {}
        if self.failure_reason:
            values['last_failure'] = self.snapshot.last_failure = self.failure_reason
        self.snapshot.failure_count = self._store.increment(self._account_id, 'failure_count', **values)

    def reset_counter(self):
        if self.snapshot.failure_count:
            self._write(failure_count=0)

    def increment_success_counter(self):
        self.snapshot.success_count = self._store.increment(self._account_id, 'success_count')

    def reset_success_counter(self):
        if self.snapshot.success_count:
            self._write(success_count=0)

    @property
    def counter(self):
        return self.snapshot.failure_count

    @property
    def success_counter(self):
        return self.snapshot.success_count

    @property
    def opened_at(self):
        return self.snapshot.opened_at

    @opened_at.setter
    def opened_at(self, moment):
        self._write(opened_at=moment)


class _ReplayedFailure(Exception):
    """Carries a failed outcome through pybreaker so that it counts as a failure."""


class _LogTransitions(pybreaker.CircuitBreakerListener):
    def state_change(self, cb, old_state, new_state):
        _logger.info('SMS router: breaker %s went from %s to %s',
                     cb.name, old_state.name if old_state else None, new_state.name)


@dataclass
class Admission:
    allowed: bool
    probe: bool = False
    reason: str = ''


@dataclass
class BreakerSettings:
    fail_max: int = 3
    cooldown: float = 60.0            # seconds before the first probe
    probe_lease: float = 60.0         # how long a probe may take before another process retries

    def cooldown_for(self, open_count):
        factor = min(2 ** max(open_count - 1, 0), MAX_COOLDOWN_FACTOR)
        return self.cooldown * factor


@dataclass
class AccountBreaker:
    """The breaker of one account, as seen by one dispatch."""

    account_id: object
    store: BreakerStore
    settings: BreakerSettings = field(default_factory=BreakerSettings)
    clock: object = utcnow
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self):
        self.store_failures = 0           # store operations that failed (the breaker failed open)
        snapshot = self._guard('read', lambda: self.store.load(self.account_id), BreakerState())
        self._storage = StoredBreakerStorage(self.store, self.account_id, snapshot)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=self.settings.fail_max,
            reset_timeout=self.settings.cooldown_for(self._storage.snapshot.open_count),
            state_storage=self._storage,
            name=f'account {self.account_id}',
            throw_new_error_on_trip=False,
            listeners=[_LogTransitions()],
        )

    def _guard(self, action, operation, fallback=None):
        """Run a store operation; on any store failure, log it and return ``fallback``.

        Deliberately broad: whatever breaks in the bookkeeping (database error, pool
        exhausted, lock timeout), the SMS in flight must not pay for it. The breaker then
        acts as closed for this dispatch."""
        try:
            return operation()
        except Exception as error:  # noqa: BLE001 - fail open, see above
            self.store_failures += 1
            # One warning per breaker and batch; a store that stays down would flood the log.
            log = _logger.warning if self.store_failures == 1 else _logger.debug
            log('SMS router: breaker of account %s could not be %s (%s: %s); '
                            'treated as closed for this batch', self.account_id,
                            'read' if action == 'read' else 'written', type(error).__name__, error)
            return fallback

    @property
    def state(self):
        return self._storage.snapshot

    def refresh(self):
        """Re-read the shared state (another process may have changed it)."""
        self._storage.snapshot = self.store.load(self.account_id)
        self._breaker.reset_timeout = self.settings.cooldown_for(self._storage.snapshot.open_count)

    def admit(self):
        """May a request go to this account now? Grants at most one half-open probe."""
        return self._guard('read', self._admit, Admission(True))

    def _admit(self):
        snapshot = self._storage.snapshot
        now = self.clock()
        if snapshot.forced_open:
            return Admission(False, reason='breaker forced open (maintenance)')
        if snapshot.paused_until and snapshot.paused_until > now:
            return Admission(False, reason=f'paused by the provider until {snapshot.paused_until:%H:%M:%S} UTC')
        if snapshot.state == CLOSED:
            return Admission(True)
        if snapshot.state == HALF_OPEN and snapshot.probe_owner == self.owner:
            return Admission(False, reason='breaker half-open: waiting for the probe')
        cooldown = self.settings.cooldown_for(snapshot.open_count)
        granted = self.store.acquire_probe(
            self.account_id, self.owner, now,
            not_before=now - timedelta(seconds=cooldown),
            lease_until=now + timedelta(seconds=self.settings.probe_lease),
        )
        self.refresh()
        if granted:
            return Admission(True, probe=True)
        if self._storage.snapshot.state == CLOSED:
            # Our snapshot was stale: another process's probe closed the breaker meanwhile.
            return self._admit()
        return Admission(False, reason=f'breaker {self._storage.snapshot.state} '
                                       f'(after {snapshot.failure_count or snapshot.open_count} failures)')

    def next_attempt_at(self):
        """When this account may take a request again, as far as the breaker knows: the
        end of the cool-down or of a provider's pause, the end of another process's probe
        lease; None when it gives no time (closed, or forced open until someone resets it)."""
        snapshot = self._storage.snapshot
        if snapshot.forced_open:
            return None
        moments = []
        if snapshot.paused_until:
            moments.append(snapshot.paused_until)
        if snapshot.state == OPEN and snapshot.opened_at:
            moments.append(snapshot.opened_at + timedelta(
                seconds=self.settings.cooldown_for(snapshot.open_count)))
        elif snapshot.state == HALF_OPEN and snapshot.probe_until:
            moments.append(snapshot.probe_until)
        return max(moments) if moments else None

    def record(self, healthy, reason='', retry_after=None):
        """Report one request's result: ``healthy`` False counts as a failure.

        Everything it writes shares one store session (one short transaction)."""
        def record_in_session():
            with self.store.session():
                self._record(healthy, reason, retry_after)
        self._guard('write', record_in_session)

    def _record(self, healthy, reason, retry_after):
        if retry_after:
            self._storage.snapshot = self.store.update(
                self.account_id, paused_until=self.clock() + timedelta(seconds=retry_after))

        if not healthy:
            # Failures are what other processes race on: decide on the shared state.
            self.refresh()
        snapshot = self._storage.snapshot
        if snapshot.state == OPEN or (snapshot.state == HALF_OPEN and snapshot.probe_owner != self.owner):
            # A late answer to a request sent before the breaker opened. Only the probe may
            # move an open breaker; replaying this through pybreaker after the cool-down
            # would re-open it (doubling the cool-down) or close it without any probe.
            return

        def replay():
            if not healthy:
                raise _ReplayedFailure(reason)

        self._storage.failure_reason = (reason or '')[:500] or None
        try:
            # A failure counted (its reason written with the count), or the breaker was
            # already open (another request tripped it): nothing more to do.
            with contextlib.suppress(_ReplayedFailure, pybreaker.CircuitBreakerError):
                self._breaker.call(replay)
        finally:
            self._storage.failure_reason = None

    # Manual operations, from the account's buttons: these must not fail silently.
    def force_open(self):
        self._storage.snapshot = self.store.update(self.account_id, forced_open=True)

    def reset(self):
        self._storage.snapshot = self.store.update(
            self.account_id, state=CLOSED, failure_count=0, success_count=0, open_count=0,
            opened_at=None, forced_open=False, paused_until=None, probe_owner=None,
            probe_until=None, last_failure='')
