"""One circuit breaker per provider account, shared by every process through a store.

pybreaker drives the transitions (closed -> open after ``fail_max`` consecutive failures,
half-open -> closed on success or open again on failure). The breakers' state lives in a
:class:`BreakerStore` (PostgreSQL in Odoo, memory in tests), so all workers see the same
breaker.

pybreaker alone would let every process probe a half-open provider at once and would hold
its lock during the HTTP call. So the engine asks :meth:`AccountBreaker.admit` before a
request (a compare-and-set in the store moves an open breaker to half-open after the
cool-down and grants the single probe to one process) and reports the result afterwards
with :meth:`AccountBreaker.record`, which replays it through pybreaker without any network
I/O.

A failed probe doubles the next cool-down (up to ``MAX_COOLDOWN_FACTOR`` times), so a
provider that stays down is probed less and less often.

One clock: every time the breaker stores or compares (opening, cool-down, probe lease,
provider's pause) comes from ``AccountBreaker.clock``. pybreaker stamps an opening with its
own ``datetime.now``; the storage writes the clock's time instead. pybreaker would compare
that stamp with its own clock to leave the open state, but it never replays an open breaker:
only a closed one, or a half-open one on this process's probe (``takes_outcome_of``), and
the store makes the open -> half-open move (``acquire_probe``).

What one outcome costs the store, in one short transaction (:meth:`BreakerStore.session`):

- a success on a breaker closed with no failure counted (as this process last saw it: a
  success is not worth a read): nothing;
- a success that resets the failure count, or the probe's success closing the breaker:
  one statement;
- a failure: one statement, which counts it (with its reason) and returns the shared state
  (no separate read), also when it is a late answer that an open breaker ignores;
- a failure that opens the breaker (``fail_max`` reached, or the probe failed): two. pybreaker
  decides the opening from the count the first statement returns (other processes count
  too), and the second writes it. In PostgreSQL the first keeps the row locked until the
  commit, so no other process sees or changes the count in between; and the store judges
  every write on the stored state anyway. Deciding the opening inside the first statement
  would copy pybreaker's rules into SQL and leave it nothing to decide; openings are one
  failure in ``fail_max`` at most.

A provider's ``retry_after`` pause goes in the same statement; with nothing else to write
(a success on a healthy breaker, a late success), it costs one statement.

A breaker is bookkeeping, never a reason to lose an SMS: when its store cannot be read or
written (database fault, pool exhausted), the breaker behaves as closed and says so in the
log, and the dispatch goes on.
"""
import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pybreaker

from .reasons import _lt

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

    def takes_outcome_of(self, owner):
        """May an answer received by ``owner`` move this breaker? Only when it is closed, or
        half-open on ``owner``'s probe. Any other answer is late (its request left before
        the breaker opened): only the probe may move an open breaker, a late failure must
        neither re-open it nor double its cool-down, a late success must not close it."""
        return self.state == CLOSED or (self.state == HALF_OPEN and self.probe_owner == owner)

    def probe_due(self, now, not_before):
        """May a probe be granted now? When the breaker is open since before ``not_before``
        (its cool-down is over), or half-open on a probe whose lease ended, and not forced
        open. The stores' ``acquire_probe`` grants it on this condition (PostgreSQL's in
        its WHERE clause)."""
        if self.forced_open:
            return False
        if self.state == OPEN:
            return bool(self.opened_at and self.opened_at <= not_before)
        return self.state == HALF_OPEN and (not self.probe_until or self.probe_until <= now)


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
        """Write ``values`` whatever the state and return the new BreakerState."""
        raise NotImplementedError

    def apply(self, account_id, owner, changes=None, count_failure=False, paused_until=None):
        """Write one outcome received by ``owner`` and return the new BreakerState.

        When the breaker takes that outcome (:meth:`BreakerState.takes_outcome_of`, judged
        on the stored state), add one to ``failure_count`` if ``count_failure`` and write
        ``changes``; write ``paused_until`` (when given) in any state."""
        raise NotImplementedError

    def acquire_probe(self, account_id, owner, now, not_before, lease_until):
        """Atomically grant the half-open probe to ``owner`` and return True, when the
        breaker is open since before ``not_before``, or half-open with an expired lease."""
        raise NotImplementedError

    def release_probe(self, account_id, owner):
        """Atomically give back ``owner``'s probe lease, unused: a breaker half-open on
        ``owner``'s probe is open again (its cool-down over, so a probe is due at once);
        any other state is left as it is. Return the new BreakerState."""
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

    def apply(self, account_id, owner, changes=None, count_failure=False, paused_until=None):
        with self._lock:
            state = self._states.get(account_id) or BreakerState()
            if state.takes_outcome_of(owner):
                state = replace(state, **(changes or {}))
                state.failure_count += bool(count_failure)
            if paused_until is not None:
                state = replace(state, paused_until=paused_until)
            self._states[account_id] = state
            return replace(state)

    def acquire_probe(self, account_id, owner, now, not_before, lease_until):
        with self._lock:
            state = self._states.get(account_id)
            if not state or not state.probe_due(now, not_before):
                return False
            state.state, state.probe_owner, state.probe_until = HALF_OPEN, owner, lease_until
            return True

    def release_probe(self, account_id, owner):
        with self._lock:
            state = self._states.get(account_id) or BreakerState()
            if state.state == HALF_OPEN and state.probe_owner == owner:
                state = replace(state, state=OPEN, probe_owner=None, probe_until=None)
                self._states[account_id] = state
            return replace(state)


class _ReplayStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage while it replays one outcome: it reads the state the store has
    just returned and keeps pybreaker's writes in ``changes``, for one statement afterwards."""

    def __init__(self, snapshot, clock):
        super().__init__('sms-router-replay')
        self.snapshot = replace(snapshot)
        self.changes = {}
        self._clock = clock

    def _set(self, **values):
        self.changes.update(values)
        self.snapshot = replace(self.snapshot, **values)

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
        self._set(**values)

    def increment_counter(self):
        """Nothing to write: the store counted this failure before the replay, in the
        statement that returned the shared count pybreaker now decides on."""

    def reset_counter(self):
        if self.snapshot.failure_count:
            self._set(failure_count=0)

    def increment_success_counter(self):
        self._set(success_count=self.snapshot.success_count + 1)

    def reset_success_counter(self):
        if self.snapshot.success_count:
            self._set(success_count=0)

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
    def opened_at(self, _pybreaker_now):
        # pybreaker passes its own datetime.now(UTC): the opening is stamped by our clock.
        self._set(opened_at=self._clock())


class _ReplayedFailure(Exception):
    """Carries a failed outcome through pybreaker so that it counts as a failure."""


def _replay(healthy, reason):
    if not healthy:
        raise _ReplayedFailure(reason)


@dataclass
class Admission:
    allowed: bool
    probe: bool = False
    reason: str = ''


@dataclass(frozen=True)
class BreakerTransition:
    """One change of a breaker's state made by this process (see AccountBreaker.transitions)."""

    before: str
    after: str
    at: datetime                      # the breaker's clock
    reason: str = ''                  # the failure that opened it (the probe's, when it failed)
    failure_count: int = 0            # consecutive failures counted when it opened
    cooldown: float = 0.0             # seconds before the next probe, when it opened


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
        # Transitions this instance made (each one is made by exactly one process: the
        # store judges every write on the stored state), for the account's chatter: the
        # caller takes them with pop_transitions() once its batch is done.
        self.transitions = []
        self._snapshot = self._guard('read', lambda: self.store.load(self.account_id), BreakerState())

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
        return self._snapshot

    def refresh(self):
        """Re-read the shared state (another process may have changed it)."""
        self._snapshot = self.store.load(self.account_id)

    def admit(self):
        """May a request go to this account now? Grants at most one half-open probe."""
        return self._guard('read', self._admit, Admission(True))

    def peek(self):
        """What :meth:`admit` would answer now, read-only: it takes no probe and writes
        nothing (``probe`` True: the request would be the probe). For the route tester."""
        return self._guard('read', self._peek, Admission(True))

    def _admission_without_probe(self, snapshot, now):
        """The answer of admit() that needs no probe, or None when only a probe can tell."""
        if snapshot.forced_open:
            return Admission(False, reason=_lt('breaker forced open (maintenance)'))
        if snapshot.paused_until and snapshot.paused_until > now:
            return Admission(False, reason=_lt('paused by the provider until %(time)s UTC',
                                                time=f'{snapshot.paused_until:%H:%M:%S}'))
        if snapshot.state == CLOSED:
            return Admission(True)
        if snapshot.state == HALF_OPEN and snapshot.probe_owner == self.owner:
            return Admission(False, reason=_lt('breaker half-open: waiting for the probe'))
        return None

    @staticmethod
    def _refused(current, seen):
        count = seen.failure_count or seen.open_count
        if current.state == OPEN:
            return Admission(False, reason=_lt('breaker open (after %(count)s failures)', count=count))
        return Admission(False, reason=_lt('breaker half-open (after %(count)s failures)', count=count))

    def _admit(self):
        snapshot = self._snapshot
        now = self.clock()
        admission = self._admission_without_probe(snapshot, now)
        if admission:
            return admission
        cooldown = self.settings.cooldown_for(snapshot.open_count)
        granted = self.store.acquire_probe(
            self.account_id, self.owner, now,
            not_before=now - timedelta(seconds=cooldown),
            lease_until=now + timedelta(seconds=self.settings.probe_lease),
        )
        self.refresh()
        if granted:
            return Admission(True, probe=True)
        if self._snapshot.state == CLOSED:
            # Our snapshot was stale: another process's probe closed the breaker meanwhile.
            return self._admit()
        return self._refused(self._snapshot, snapshot)

    def _peek(self):
        snapshot = self._snapshot
        now = self.clock()
        admission = self._admission_without_probe(snapshot, now)
        if admission:
            return admission
        cooldown = self.settings.cooldown_for(snapshot.open_count)
        if snapshot.probe_due(now, not_before=now - timedelta(seconds=cooldown)):
            return Admission(True, probe=True)
        return self._refused(snapshot, snapshot)

    def next_probe_at(self):
        """When the breaker lets a probe through: the end of the cool-down of an open
        breaker, or of another process's probe lease; None when closed or forced open."""
        snapshot = self._snapshot
        if snapshot.forced_open:
            return None
        if snapshot.state == OPEN and snapshot.opened_at:
            return snapshot.opened_at + timedelta(seconds=self.settings.cooldown_for(snapshot.open_count))
        if snapshot.state == HALF_OPEN and snapshot.probe_until:
            return snapshot.probe_until
        return None

    def next_attempt_at(self):
        """When this account may take a request again, as far as the breaker knows: the
        end of the cool-down or of a provider's pause, the end of another process's probe
        lease; None when it gives no time (closed, or forced open until someone resets it)."""
        if self._snapshot.forced_open:
            return None
        moments = [moment for moment in (self._snapshot.paused_until, self.next_probe_at()) if moment]
        return max(moments) if moments else None

    def release_probe(self):
        """Give back this process's probe lease when no answer moved the breaker since
        admit() granted it (the probe request was not made, or its answer said nothing
        about the provider: expired, throttled): the breaker is open again with its
        cool-down over, and the next batch of any process probes at once instead of
        skipping the account until the lease ends. One statement; nothing when this
        process holds no probe."""
        if self._snapshot.state == HALF_OPEN and self._snapshot.probe_owner == self.owner:
            self._snapshot = self._guard(
                'write', lambda: self.store.release_probe(self.account_id, self.owner), self._snapshot)

    def record(self, healthy, reason='', retry_after=None):
        """Report one request's result: ``healthy`` False counts as a failure.

        It costs at most one statement, two for a failure that opens the breaker (see the
        module's docstring), in one store session (one short transaction)."""
        def record_in_session():
            with self.store.session():
                self._record(healthy, reason, retry_after)
        self._guard('write', record_in_session)

    def _record(self, healthy, reason, retry_after):
        pause = self.clock() + timedelta(seconds=retry_after) if retry_after else None
        if not healthy:
            # Failures are what processes race on: count this one first, in the statement
            # that returns the shared state (another process may have opened or closed the
            # breaker meanwhile), and decide on that state.
            # (A longer reason is cut; a shorter one stays a Reason, translatable.)
            reason = reason[:500] if reason and len(reason) > 500 else reason or ''
            self._snapshot = self.store.apply(self.account_id, self.owner,
                                              {'last_failure': reason} if reason else None,
                                              count_failure=True, paused_until=pause)
            pause = None
        # A success decides on the last state seen, so that an outcome of a healthy breaker
        # costs nothing; the store judges its writes on the stored state all the same.
        before = self._snapshot
        if not before.takes_outcome_of(self.owner):
            # A late answer (see takes_outcome_of): it moves nothing, but a pause holds.
            if pause:
                self._snapshot = self.store.apply(self.account_id, self.owner, paused_until=pause)
            return

        storage = _ReplayStorage(before, self.clock)
        # A new pybreaker on the state just read, for this outcome only: a long-lived one
        # would notice other processes' transitions and react with writes of its own (its
        # closed state resets the failure count when it notices one).
        breaker = pybreaker.CircuitBreaker(
            fail_max=self.settings.fail_max, state_storage=storage, name=f'account {self.account_id}',
            throw_new_error_on_trip=False,
            # Never consulted: pybreaker does not see an open breaker (module docstring).
            reset_timeout=self.settings.cooldown_for(before.open_count))
        with contextlib.suppress(_ReplayedFailure):
            breaker.call(_replay, healthy, reason)
        if storage.changes or pause:
            self._snapshot = self.store.apply(self.account_id, self.owner, storage.changes,
                                              paused_until=pause)
        if self._snapshot.state != before.state and self._snapshot.state == storage.state:
            _logger.info('SMS router: breaker of account %s went from %s to %s',
                         self.account_id, before.state, self._snapshot.state)
            opened = self._snapshot.state == OPEN
            self.transitions.append(BreakerTransition(
                before.state, self._snapshot.state, self.clock(),
                reason=reason if opened else '',
                failure_count=self._snapshot.failure_count if opened else 0,
                cooldown=self.settings.cooldown_for(self._snapshot.open_count) if opened else 0.0))

    def pop_transitions(self):
        """The transitions made since the last call, oldest first; forgets them."""
        transitions, self.transitions = self.transitions, []
        return transitions

    # Manual operations, from the account's buttons: these must not fail silently.
    def force_open(self):
        self._snapshot = self.store.update(self.account_id, forced_open=True)

    def reset(self):
        self._snapshot = self.store.update(
            self.account_id, state=CLOSED, failure_count=0, success_count=0, open_count=0,
            opened_at=None, forced_open=False, paused_until=None, probe_owner=None,
            probe_until=None, last_failure='')
