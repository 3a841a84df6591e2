"""Failover: every SMS walks its chain of accounts until one accepts it or the chain ends.

The dispatcher works in rounds. In a round, the SMS waiting on the same account are grouped
by body into as few provider calls as the provider allows, and the calls of all accounts run
at once on a thread pool, at most ``max_concurrency`` in flight per account. Results are
handled in the calling thread only (breakers, bookkeeping), so a caller that owns a database
cursor keeps all of its work in one thread. SMS whose attempt failed on the provider's side
move to the next account for the next round; recipient-side failures stop at once.

Three things keep a dispatch from sticking or repeating:

* a deadline: once it passes no new request starts; the SMS not yet decided come back
  *deferred* (their attempts so far are kept) for the caller to leave in its queue;
* a half-open probe carries a single SMS, so a hung probe leaves one SMS in doubt;
* with ``hold`` set, an SMS whose chain ended on provider-side causes only (breakers open,
  provider or account errors, misconfiguration) comes back *held* with the time the
  earliest account of its chain may take traffic again, instead of failed.
"""
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from .outcomes import (
    BatchResult, OutcomeKind, Recipient, RecipientOutcome, SendRequest, merge_account_updates,
)
from .governor import MARKETING, TRANSACTIONAL, WAIT_DAILY, WAIT_FAULT, WAIT_PAUSE, Wait, wait_reason
from .reasons import _lt, join_reasons
from .segments import measure as measure_segments
from .smart_encoding import OFF as SMART_ENCODING_OFF, apply as apply_smart_encoding
from .segments import segment_cost
from .validity import expired_outcome, is_expired, is_too_short, within_validity
from .windows import CLOSING_MARGIN

_logger = logging.getLogger(__name__)

# The thread pool of a dispatch has one thread per request the batch's accounts may have in
# flight (their Parallel Requests), at most this many.
MAX_POOL_WORKERS = 64
# A governor wait longer than this is not spent in the batch: its SMS wait in the queue with
# a not-before time (daily cap, a provider's long Retry-After, a very low rate).
LONG_GOVERNOR_WAIT = 10.0
# A provider's rate-limit refusal (HTTP 429) with a short Retry-After: its SMS stay on the
# account, wait for the pause within the batch and are tried again; refused this many times,
# in this dispatch or in earlier ones (``QueuedSms.throttles``), they fail over (an attempt
# each in the trail; the breaker counts none of them). With a long Retry-After they fail over
# at once when a later account exists, and wait in the queue otherwise. Operations expect a
# throttled OTP to reach a healthy backup rather than wait behind a provider that keeps
# refusing; with no backup the chain ends as for any provider failure (held, so bounded by
# the company's maximum hold, or failed), however long each Retry-After.
MAX_THROTTLES = 3
# Consecutive faults of an account's governor (its bucket could not be read) in a dispatch
# after which the account is skipped for the rest of the dispatch (its SMS fail over; never
# sent ungoverned), instead of waiting for a bucket that may stay unreadable.
GOVERNOR_FAULT_LIMIT = 3
# While a marketing request waits for its governor, how often to ask whether transactional
# SMS are queued (``Dispatcher.priority_waiting``), at most.
PRIORITY_CHECK_INTERVAL = 1.0

AT_LEAST_ONCE = 'at_least_once'
AT_MOST_ONCE = 'at_most_once'


@dataclass
class QueuedSms:
    """One SMS to dispatch; ``chain`` is filled in by the caller's routing."""

    key: str
    body: str
    destination: object = None        # routing.Destination, None when unreadable
    chain: tuple = ()                 # AccountHandle objects, in failover order
    marketing: bool = False
    number_error: str = ''            # why the number could not be read
    # Seconds before a held SMS is tried again when no breaker gives a time (None: the
    # dispatcher's ``retry_delay``); the caller may grow it with the age of the hold.
    retry_delay: float = None
    # Validity: not sent once this moment passed (aware UTC; None: no validity), and the
    # validity it was given (seconds, for its reason). See engine/validity.py.
    expires_at: object = None
    validity: float = None
    # Send window: no request starts for it at or after this moment (aware UTC; None: no
    # window closes on it), the end of the window it was admitted in. It then stays queued
    # (deferred, no attempt) and the next batch's window check makes it wait.
    allowed_until: object = None
    # Rate-limit refusals of this SMS in earlier dispatches (see MAX_THROTTLES).
    throttles: int = 0


@dataclass
class AccountHandle:
    """An account as the dispatcher uses it."""

    account_id: object
    name: str
    client: object                    # outcomes.ProviderClient
    breaker: object = None            # breakers.AccountBreaker; None: never skipped (last resort)
    max_concurrency: int = 4
    unavailable_reason: str = ''      # e.g. credit below threshold: skipped without a call
    # Longest a request may take (s, every exchange of one send): one starts only if it can
    # end before the deadline.
    timeout: float = 0.0
    # engine.smart_encoding level of the bodies this account sends ('off', 'typography',
    # 'letters').
    smart_encoding: str = SMART_ENCODING_OFF
    # engine.governor.Governor: rate limit and daily cap in segments; None: unlimited.
    governor: object = None

    def __hash__(self):
        return hash(self.account_id)

    def __eq__(self, other):
        return isinstance(other, AccountHandle) and other.account_id == self.account_id

    def sent_body(self, body):
        """``body`` as this account sends it: its smart encoding applied."""
        return apply_smart_encoding(body, self.smart_encoding)

    def measure(self, body, region='', marketing=False):
        """engine.segments.SegmentInfo of ``body`` sent by this account to ``region``: its
        smart encoding applied, the text its provider appends counted."""
        appended = getattr(self.client, 'appended_text', None)
        return measure_segments(self.sent_body(body), appended(region or '', marketing) if appended else '')


@dataclass
class Attempt:
    account: AccountHandle
    outcome: RecipientOutcome
    duration: float = 0.0             # seconds spent in the provider call (0 when skipped)


@dataclass
class SmsVerdict:
    """The final word on one SMS."""

    key: str
    outcome: RecipientOutcome         # the deciding outcome (SENT, or the failure kept)
    attempts: list = field(default_factory=list)
    needs_review: bool = False        # ambiguous timeout under "at most once"
    # Not decided in this dispatch (deadline passed, or its hand-off could not be
    # journaled): outcome stays None, nothing was accepted, the SMS stays queued.
    deferred: bool = False
    # The chain ended on provider-side causes only and the dispatcher holds: retry then
    # (aware UTC datetime). ``outcome`` is the failure it would end with otherwise.
    hold_until: object = None
    # Not to be sent before this moment (aware UTC datetime) although nothing failed: outside
    # its send window, over its account's budget... ``outcome`` stays None, nothing was
    # accepted, ``wait_reason`` says why. Unlike a hold it never counts toward a maximum
    # hold or wait and never ends the SMS in error.
    not_before: object = None
    wait_reason: str = ''
    # The account whose budget or pause it waits for (AccountHandle); None: not an
    # account's (a send window).
    wait_account: object = None
    # Left queued by its account's governor (rate limit, pause): nothing failed, so the
    # time it keeps waiting for its budget never counts toward a maximum hold or wait.
    paced: bool = False
    # Rate-limit refusals of this SMS so far, earlier dispatches included (MAX_THROTTLES).
    throttles: int = 0

    @property
    def accepted_by(self):
        return self.attempts[-1].account if self.sent else None

    @property
    def sent(self):
        return self.outcome is not None and self.outcome.kind is OutcomeKind.SENT

    @property
    def held(self):
        return self.hold_until is not None

    @property
    def waiting(self):
        return self.not_before is not None


@dataclass
class StepPreview:
    """What a dispatch would do with one account of a chain now (see Dispatcher.preview)."""

    account: AccountHandle
    admitted: bool                    # the account would take a request now
    probe: bool = False               # ... as the single probe of its half-open breaker
    kind: OutcomeKind = None          # SKIPPED or MISCONFIGURED when not admitted
    reason: str = ''                  # why not, as an attempt would record it


@dataclass
class ChainPreview:
    steps: list                       # StepPreview objects, in chain order
    # No account would take the SMS now and the dispatcher holds: it would wait until then.
    hold_until: object = None

    @property
    def sender(self):
        """The step of the account that would send now: the first admitted one, or None."""
        return next((step for step in self.steps if step.admitted), None)


# Outcomes after which a later try may succeed without anything changing on the recipient's
# side: the provider, the account or its configuration was the problem.
HOLDABLE_KINDS = frozenset({OutcomeKind.PROVIDER, OutcomeKind.ACCOUNT, OutcomeKind.AMBIGUOUS,
                            OutcomeKind.MISCONFIGURED, OutcomeKind.SKIPPED})
# A result standing for "this request was not made": the deadline passed before its turn.
_NOT_STARTED = object()


@dataclass(frozen=True)
class _Governed:
    """A result standing for "this request was not made: over its account's budget". Its SMS
    stay queued: deferred (due again at once) when ``until`` is None, else waiting until
    then (aware UTC) for ``reason``. With ``skip``, the account is skipped for them instead
    (a SKIPPED attempt with ``skip_reason``, else ``reason``; next account): SKIP_ALWAYS whatever follows in the
    chain, SKIP_TO_NEXT only when a later account exists (else they wait until ``until``)."""

    until: object = None
    reason: str = ''
    skip: str = ''
    skip_reason: str = ''             # of the SKIPPED attempt, when its SMS skip the account


SKIP_ALWAYS = 'always'
SKIP_TO_NEXT = 'to_next'


def _utcnow():
    return datetime.now(timezone.utc)


def _pause_reason(until):
    return _lt('paused by its provider (Retry-After) until %(time)s UTC', time=f'{until:%Y-%m-%d %H:%M:%S}')


class Dispatcher:
    def __init__(self, timeout_policy=AT_LEAST_ONCE, max_workers=MAX_POOL_WORKERS, on_handoff=None,
                 deadline=None, time_budget=None, hold=False, retry_delay=60.0, min_hold=5.0,
                 clock=time.monotonic, wall_clock=_utcnow, pacing=None, priority_waiting=None,
                 sleep=time.sleep):
        self.timeout_policy = timeout_policy
        # The most threads a dispatch may use; it uses one per request its accounts may
        # have in flight (their max_concurrency), see _pool_size.
        self.max_workers = max_workers
        # Governors (AccountHandle.governor): a dispatch spends at most ``pacing`` seconds
        # (None: until its deadline) waiting for their segments; requests still waiting
        # then stay queued (deferred). ``priority_waiting()``, asked while a marketing
        # request waits, says whether transactional SMS wait in the queue: the marketing
        # part of the batch then ends at once, so that a campaign never holds an OTP back
        # for more than the requests already in flight.
        self.pacing = pacing
        self.priority_waiting = priority_waiting
        self.sleep = sleep
        self.governor_waits = 0     # refusals by a governor
        self.paced = 0              # SMS left queued by a governor (deferred or waiting)
        self._pacing_end = None
        self._priority_checked = None   # (clock, answer) of the last priority_waiting()
        # Called in the calling thread right before each provider call with (account,
        # request): a caller that must survive a crash mid-batch records there, durably,
        # which SMS are about to leave (see sms_router.tools.sms_api). When it raises, the
        # call is not made and its SMS come back deferred.
        self.on_handoff = on_handoff
        # ``clock()`` value after which no request starts (None: no limit), and the whole
        # time a batch may take: an account whose requests take longer can never be used.
        self.deadline = deadline
        self.time_budget = time_budget
        self.clock = clock
        self.hold = hold
        # Seconds before a held SMS is tried again when no breaker gives a time (closed
        # breaker after a failure, misconfiguration, credit), and the shortest hold.
        self.retry_delay = retry_delay
        self.min_hold = min_hold
        self.wall_clock = wall_clock
        self.requests_made = 0
        self.handoff_failures = 0
        self._failing = set()       # accounts whose last answer in this dispatch was a failure
        self._count_lock = threading.Lock()
        # Facts learnt from providers' answers, per account id (e.g. remaining credit).
        self.account_updates = defaultdict(dict)
        self._expiries = {}         # SMS key -> (expires_at, validity), for those with one
        self._throttles = defaultdict(int)          # SMS key -> rate-limit refusals (MAX_THROTTLES)
        self._takes_now = {}
        self._governor_faults = defaultdict(int)    # account -> consecutive faults of its governor
        self._window_ends = {}      # SMS key -> allowed_until, for those with one
        self._closed = set()        # keys whose send window closed before their request
        self.window_closed = 0      # SMS left queued because their send window closed

    def dispatch(self, messages):
        """Send ``messages``; return {key: SmsVerdict} with one final SmsVerdict for every key."""
        verdicts = {}
        position = {}
        pending = []
        messages = list(messages)
        self._expiries = {m.key: (m.expires_at, m.validity) for m in messages if m.expires_at is not None}
        self._window_ends = {m.key: m.allowed_until for m in messages if m.allowed_until is not None}
        self._throttles = defaultdict(int, {m.key: m.throttles for m in messages if m.throttles})
        self._takes_now = {}        # account -> whether it could take an SMS (_later_can_send)
        for message in messages:
            if message.destination is None:
                verdicts[message.key] = SmsVerdict(message.key, RecipientOutcome(
                    OutcomeKind.RECIPIENT, message.number_error or _lt('unreadable phone number'),
                    failure_type='sms_number_format'))
            elif not message.chain:
                verdicts[message.key] = SmsVerdict(message.key, RecipientOutcome(
                    OutcomeKind.MISCONFIGURED, _lt('no provider account is configured for this destination')))
            elif is_expired(message.expires_at, self.wall_clock()):
                verdicts[message.key] = SmsVerdict(message.key, expired_outcome(message.expires_at, message.validity))
            elif self._window_closed(message.key, self.wall_clock()):
                verdicts[message.key] = SmsVerdict(message.key, None, deferred=True)
            else:
                verdicts[message.key] = SmsVerdict(message.key, None, throttles=message.throttles)
                position[message.key] = 0
                pending.append(message)

        self._pacing_end = None if self.pacing is None else self.clock() + self.pacing
        self._priority_checked = None
        governors = {account.governor for message in pending for account in message.chain if account.governor}
        try:
            with ThreadPoolExecutor(max_workers=self._pool_size(pending), thread_name_prefix='sms-router') as pool:
                while pending:
                    if self.out_of_time():
                        for message in pending:
                            verdicts[message.key].deferred = True
                        break
                    pending = self._expire(pending, position, verdicts)
                    if pending:
                        pending = self._run_round(pool, pending, position, verdicts)
        finally:
            for governor in governors:
                governor.close()
        return verdicts

    def _pool_size(self, messages):
        """Threads for a dispatch: every account of the batch's chains may have its
        ``max_concurrency`` requests in flight at once (accounts that run in the calling
        thread need none), within ``max_workers``."""
        accounts = {account for message in messages for account in message.chain
                    if not account.client.runs_in_main_thread}
        return max(1, min(self.max_workers, sum(max(1, account.max_concurrency) for account in accounts)))

    def preview(self, message):
        """What dispatching ``message`` would do first, read-only (the route tester): each
        account of its chain, in order, through the checks of a round (configuration, time
        budget, availability, breaker), without a request, a probe lease or any write:
        breakers are peeked, not admitted. The SMS would go to the first admitted account;
        with none and ``hold`` set, it would wait until the ChainPreview's ``hold_until``."""
        steps = []
        for account in message.chain:
            skip = self._skip_reason(account)
            admission = None if skip or not account.breaker else account.breaker.peek()
            if skip:
                steps.append(StepPreview(account, False, kind=skip[0], reason=skip[1]))
            elif admission and not admission.allowed:
                steps.append(StepPreview(account, False, kind=OutcomeKind.SKIPPED, reason=admission.reason))
            else:
                steps.append(StepPreview(account, True, probe=bool(admission and admission.probe)))
        preview = ChainPreview(steps)
        if steps and preview.sender is None and self.hold:
            # Skipped and misconfigured accounts are provider-side causes: _exhaust holds.
            preview.hold_until = self._retry_time(message)
        return preview

    def out_of_time(self, account=None):
        """Whether the deadline has passed, or would pass during a request to ``account``."""
        if self.deadline is None:
            return False
        return self.clock() + (account.timeout if account else 0.0) >= self.deadline

    # ------------------------------------------------------------------ rounds

    def _run_round(self, pool, pending, position, verdicts):
        by_account = defaultdict(list)
        for message in pending:
            by_account[message.chain[position[message.key]]].append(message)

        waiting = []          # messages staying on their account for the next round
        advancing = []        # messages whose attempt failed: next account next round
        queues = {}
        probes = []           # accounts whose half-open probe this round holds
        for account, account_messages in by_account.items():
            skip_reason = self._skip_reason(account)
            if skip_reason:
                kind, reason = skip_reason
                for message in account_messages:
                    self._note(verdicts, message, Attempt(account, RecipientOutcome(kind, reason)))
                    advancing.append(message)
                continue
            if self.out_of_time(account):
                # Decided before asking the breaker: a granted probe would lock the other
                # workers out of this account for nothing.
                for message in account_messages:
                    verdicts[message.key].deferred = True
                continue
            admission = account.breaker.admit() if account.breaker else None
            if admission and not admission.allowed:
                for message in account_messages:
                    skipped = RecipientOutcome(OutcomeKind.SKIPPED, admission.reason)
                    self._note(verdicts, message, Attempt(account, skipped))
                    advancing.append(message)
                continue
            requests = self._lanes(account, self._build_requests(account, account_messages))
            if admission and admission.probe:
                # Half-open: one SMS probes the provider, so that a hung probe leaves one
                # SMS in doubt, not a whole request; the rest wait for its verdict.
                first = requests[0]
                requests = [SendRequest(first.body, first.recipients[:1], first.marketing)]
                probe_key = first.recipients[0].key
                waiting.extend(m for m in account_messages if m.key != probe_key)
                probes.append(account)
            queues[account] = list(requests)

        by_key = {message.key: message for message in pending}
        for account, request, result, duration in self._execute(pool, queues):
            self._absorb(account, request, result, duration, by_key, verdicts, advancing, waiting)
        for account in probes:
            # A probe whose answer told the breaker nothing (no request made: expired, too
            # little validity left, over budget, out of time; or only such outcomes) gives its
            # lease back, so that the next batch of any worker probes at once.
            account.breaker.release_probe()

        next_pending = list(waiting)
        for message in advancing:
            if verdicts[message.key].outcome is not None:
                continue
            position[message.key] += 1
            if position[message.key] >= len(message.chain):
                self._exhaust(verdicts[message.key], message)
            else:
                next_pending.append(message)
        return next_pending

    def _later_can_send(self, chain, account):
        """Whether an account after ``account`` in ``chain`` could take an SMS now: one the
        dispatcher would not skip (configured, available) and whose breaker admits requests
        (peeked once per dispatch). An SMS over ``account``'s daily cap or paused by its
        provider goes there; with none it waits for ``account`` rather than end its chain
        on accounts that cannot send."""
        if account not in chain:
            return False
        for later in chain[chain.index(account) + 1:]:
            if later not in self._takes_now:
                takes = self._skip_reason(later) is None
                if takes and later.breaker is not None:
                    takes = later.breaker.peek().allowed
                self._takes_now[later] = takes
            if self._takes_now[later]:
                return True
        return False

    def _skip_reason(self, account):
        """(OutcomeKind, reason) when ``account`` is skipped without asking its breaker."""
        problem = account.client.check_configuration()
        if problem:
            return OutcomeKind.MISCONFIGURED, problem
        if self.time_budget is not None and account.timeout > self.time_budget:
            return OutcomeKind.MISCONFIGURED, _lt(
                'a request may take %(timeout)s s, longer than the %(budget)s s a batch may take: '
                'lower its timeout', timeout=f'{account.timeout:g}', budget=f'{self.time_budget:g}')
        if account.unavailable_reason:
            return OutcomeKind.SKIPPED, account.unavailable_reason
        return None

    @staticmethod
    def _build_requests(account, messages):
        mixed = account.client.accepts_mixed_bodies
        groups = defaultdict(list)
        # Each body as this account sends it (its smart encoding), worked out once per body.
        sent_bodies = {}
        for message in messages:
            body = sent_bodies.get(message.body)
            if body is None:
                body = sent_bodies[message.body] = account.sent_body(message.body)
            groups[(None if mixed else body, message.marketing)].append(
                Recipient(message.key, message.destination.e164, message.destination.region,
                          body=body if mixed else None))
        size = max(1, account.client.max_recipients_per_request)
        return [
            SendRequest(body, tuple(recipients[start:start + size]), marketing)
            for (body, marketing), recipients in groups.items()
            for start in range(0, len(recipients), size)
        ]

    def _lanes(self, account, requests):
        """``requests`` in lane order, transactional first (they are made and given
        segments first); on a governed account, a request costing more than its bucket can
        grant at once is split (an SMS never is)."""
        governor = account.governor
        if governor is not None:
            fitted = []
            for request in requests:
                limit = governor.max_cost(MARKETING if request.marketing else TRANSACTIONAL)
                fitted.extend(self._split_to_cost(account, request, limit) if limit else [request])
            requests = fitted
        return sorted(requests, key=lambda request: request.marketing)

    def _split_to_cost(self, account, request, limit):
        parts, recipients, cost = [], [], 0
        for recipient in request.recipients:
            recipient_cost = self._recipient_cost(account, request, recipient)
            if recipients and cost + recipient_cost > limit:
                parts.append(replace(request, recipients=tuple(recipients)))
                recipients, cost = [], 0
            recipients.append(recipient)
            cost += recipient_cost
        if recipients:
            parts.append(replace(request, recipients=tuple(recipients)))
        return parts

    @staticmethod
    def _recipient_cost(account, request, recipient):
        """Segments one recipient of ``request`` costs (engine.segments): its body as the
        account sends it (``_build_requests`` applied its smart encoding) with the text the
        provider appends (``ProviderClient.appended_text``)."""
        appended = getattr(account.client, 'appended_text', None)
        suffix = appended(recipient.region or '', request.marketing) if appended else ''
        return segment_cost(request.body_for(recipient) or '', suffix or '')

    def request_cost(self, account, request):
        """Segments ``request`` costs: those of every recipient."""
        return sum(self._recipient_cost(account, request, recipient) for recipient in request.recipients)

    # ------------------------------------------------------------- execution

    def _execute(self, pool, queues):
        """Yield (account, request, BatchResult or None, duration) as calls complete.

        Threaded clients run on the pool with a per-account bound; an account whose breaker
        opens mid-round gets no further calls (the rest of its queue yields None results).
        Clients that must run in the calling thread run there, between completions.

        A governed account's request first takes its segments from the account's governor.
        When refused, that account waits (the others go on, and the results of requests in
        flight are absorbed meanwhile: the wait is a timeout on the pool's completions)
        while the deadline and the pacing allow; otherwise its remaining requests are not
        made and yield a ``_Governed`` result (their SMS stay queued).
        """
        in_flight = {}
        active = defaultdict(int)
        self._failing.update(account.account_id for account in queues
                             if account.breaker and account.breaker.state.failure_count)
        local = {account: queue for account, queue in queues.items() if account.client.runs_in_main_thread}
        threaded = {account: queue for account, queue in queues.items() if account not in local}

        not_started = []     # requests refused by the journal: yielded as not started
        governed = []        # (account, request, _Governed): over budget, not made
        resume_at = {}       # governed account -> clock() moment to ask its governor again
        stalled = set()      # accounts whose breaker refused a request while others were in flight

        def limit(account):
            # After a failure, one request at a time until one succeeds: a hanging
            # provider then costs one timeout per failure, not max_concurrency of them.
            return 1 if account.account_id in self._failing else max(1, account.max_concurrency)

        def submit_more():
            stalled.clear()
            for account, queue in threaded.items():
                while queue and active[account] < limit(account) and not self.out_of_time(account):
                    if account.breaker and active[account] and not account.breaker.admit().allowed:
                        stalled.add(account)
                        break
                    if account.governor is not None and not self._govern(account, queue, resume_at, governed):
                        break
                    request = queue.pop(0)
                    if not self._hand_off(account, request):
                        not_started.append((account, request))
                        continue
                    active[account] += 1
                    in_flight[pool.submit(self._timed_send, account, request)] = (account, request)

        submit_more()
        for account, queue in local.items():
            first = True
            while queue:
                if self.out_of_time(account):
                    break
                # The first request was admitted by the round; later ones ask again, as the
                # results absorbed in between may have opened or paused the breaker.
                if not first and account.breaker and not account.breaker.admit().allowed:
                    while queue:
                        yield account, queue.pop(0), None, 0.0
                    break
                first = False
                if account.governor is not None and not self._govern(account, queue, resume_at, governed):
                    if queue:   # a short wait: this client blocks the calling thread anyway
                        self.sleep(max(0.0, resume_at[account] - self.clock()))
                        continue
                    while governed:
                        yield (*governed.pop(0), 0.0)
                    break
                request = queue.pop(0)
                if not self._hand_off(account, request):
                    yield account, request, _NOT_STARTED, 0.0
                    continue
                yield (account, request, *self._timed_send(account, request))
        while True:
            while not_started:
                yield (*not_started.pop(0), _NOT_STARTED, 0.0)
            while governed:
                yield (*governed.pop(0), 0.0)
            # Governed accounts waiting for their segments, with requests left and time, that
            # submit_more would ask again: not those at their limit of requests in flight or
            # whose breaker refused (only a completion changes that), else the wait below
            # would return at once, again and again, while a request hangs (a busy loop).
            resumes = [moment for account, moment in resume_at.items()
                       if threaded.get(account) and not self.out_of_time(account)
                       and active[account] < limit(account) and account not in stalled]
            if not in_flight and not resumes:
                break
            timeout = max(0.0, min(resumes) - self.clock()) if resumes else None
            if in_flight:
                done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            else:
                done = ()
                self.sleep(timeout)
            for future in done:
                account, request = in_flight.pop(future)
                active[account] -= 1
                yield (account, request, *future.result())
            for account, queue in threaded.items():
                if queue and not active[account] and account.breaker and not account.breaker.admit().allowed:
                    while queue:
                        yield account, queue.pop(0), None, 0.0
            submit_more()
        # The deadline stopped the rest: these requests were never made.
        for account, queue in queues.items():
            while queue:
                yield account, queue.pop(0), _NOT_STARTED, 0.0

    def _govern(self, account, queue, resume_at, governed):
        """Take the segments of the request at the head of ``queue`` from ``account``'s
        governor; True when granted. When refused, either note in ``resume_at`` when to ask
        again (a wait this dispatch can afford), or move the account's remaining requests
        to ``governed`` (their SMS stay queued) and empty ``queue``."""
        now = self.clock()
        if resume_at.get(account, now) > now:
            return False
        cap = account.governor.settings.daily_cap
        while queue and cap > 0 and self.request_cost(account, queue[0]) > cap:
            # More than the account may send in a day (a single SMS: requests are split by
            # the rate only): it would wait every midnight for ever. The next account tries.
            request = queue.pop(0)
            governed.append((account, request, _Governed(reason=_lt(
                'costs %(cost)s segments, more than the daily cap of %(cap)s segments',
                cost=self.request_cost(account, request), cap=cap), skip=SKIP_ALWAYS)))
        self._leave_closed(account, queue, governed)
        if not queue:
            return False
        request = queue[0]
        wait = account.governor.acquire(self.request_cost(account, request),
                                        MARKETING if request.marketing else TRANSACTIONAL)
        if not wait:
            resume_at.pop(account, None)
            self._governor_faults.pop(account, None)
            return True
        self.governor_waits += 1
        resume = now + wait
        if wait.kind == WAIT_FAULT:
            self._governor_faults[account] += 1
        if wait.kind == WAIT_FAULT and self._governor_faults[account] >= GOVERNOR_FAULT_LIMIT:
            # A bucket that stays unreadable would keep its SMS queued for ever: they fail
            # over (never sent over a limit nobody can count), as for an open breaker.
            if self._governor_faults[account] == GOVERNOR_FAULT_LIMIT:
                _logger.warning('SMS router: the rate bucket of %s could not be read %d times in a row; '
                                'the account is skipped for the rest of the batch', account.name,
                                GOVERNOR_FAULT_LIMIT)
            result = _Governed(reason=_lt('its rate limit could not be checked (rate bucket unreadable)'),
                               skip=SKIP_ALWAYS)
        elif wait.kind == WAIT_DAILY:
            # A hard quota for the day, unlike the rate: the next account of the chain sends
            # (an OTP must not wait until midnight behind a healthy backup); the SMS wait for
            # the reset only when this account is the last of their chain.
            until = self.wall_clock() + timedelta(seconds=float(wait))
            result = _Governed(until, wait_reason(wait, account.name, account.governor.settings, until),
                               skip=SKIP_TO_NEXT, skip_reason=_lt(
                                   'daily cap of %(cap)s segments reached', cap=account.governor.settings.daily_cap))
        elif wait.kind == WAIT_PAUSE and wait > LONG_GOVERNOR_WAIT:
            # Its provider asked every worker to wait long (Retry-After): as for the daily
            # cap, the next account of the chain sends; they wait only on the last one.
            until = self.wall_clock() + timedelta(seconds=float(wait))
            result = _Governed(until, wait_reason(wait, account.name, account.governor.settings, until),
                               skip=SKIP_TO_NEXT, skip_reason=_pause_reason(until))
        elif wait > LONG_GOVERNOR_WAIT:
            # Not worth a worker's time: the SMS wait in the queue until then.
            until = self.wall_clock() + timedelta(seconds=float(wait))
            result = _Governed(until, wait_reason(wait, account.name, account.governor.settings, until))
        elif ((self.deadline is not None and resume + account.timeout >= self.deadline)
              or (self._pacing_end is not None and resume > self._pacing_end)
              or (request.marketing and self._priority_waits())):
            # Due again at once: the next run has a new budget, or the transactional SMS
            # waiting in the queue go first.
            result = _Governed()
        else:
            resume_at[account] = resume
            return False
        resume_at.pop(account, None)
        while queue:
            governed.append((account, queue.pop(0), result))
        return False

    def _priority_waits(self):
        """Whether transactional SMS wait in the queue (``priority_waiting``, asked at most
        every PRIORITY_CHECK_INTERVAL seconds; once True, True for the rest of the dispatch)."""
        if self.priority_waiting is None:
            return False
        now = self.clock()
        checked = self._priority_checked
        if checked and (checked[1] or now - checked[0] < PRIORITY_CHECK_INTERVAL):
            return checked[1]
        try:
            answer = bool(self.priority_waiting())
        except Exception as error:  # noqa: BLE001 - a failed check must not stop the dispatch
            _logger.warning('SMS router: could not tell whether transactional SMS wait (%s: %s)',
                            type(error).__name__, error)
            answer = False
        self._priority_checked = (now, answer)
        return answer

    def _window_closed(self, key, now):
        """Whether the send window SMS ``key`` was admitted in has closed, or closes within
        CLOSING_MARGIN (it is then not sent: a request made then would reach the recipient
        outside it)."""
        until = self._window_ends.get(key)
        if until is None or (until - now).total_seconds() >= CLOSING_MARGIN:
            return False
        if key not in self._closed:
            self._closed.add(key)
            self.window_closed += 1
        return True

    def _leave_closed(self, account, queue, governed):
        """Before a governed account's next request asks for its segments: its recipients
        whose send window closed leave it (they stay queued, as at the hand-off), so that
        no budget every worker shares is spent on requests that will not be made."""
        while queue and self._window_ends:
            request = queue[0]
            kept = self._outside_window(request)
            if kept is request:
                return
            closed = tuple(r for r in request.recipients if r not in kept.recipients)
            governed.append((account, replace(request, recipients=closed), _NOT_STARTED))
            if kept.recipients:
                queue[0] = kept
                return
            queue.pop(0)

    def _outside_window(self, request):
        """``request`` without its recipients whose send window has closed (``_closed``)."""
        if not self._window_ends:
            return request
        now = self.wall_clock()
        kept = tuple(r for r in request.recipients if not self._window_closed(r.key, now))
        return request if len(kept) == len(request.recipients) else replace(request, recipients=kept)

    def _hand_off(self, account, request):
        """Journal the request before it leaves; False when that failed (not sent) or when
        the send window of every recipient has closed."""
        # Checked here, before the journal, so that an SMS left queued for its window
        # leaves no hand-off behind (the next batch would take it for an interrupted one).
        request = self._outside_window(request)
        if not request.recipients:
            return False
        if self.on_handoff is None:
            return True
        try:
            self.on_handoff(account, request)
        except Exception as error:  # noqa: BLE001 - a journal fault must not stop the dispatch
            self.handoff_failures += 1
            _logger.warning('SMS router: hand-off of %d SMS to %s could not be journaled (%s: %s); '
                            'they stay queued', len(request.recipients), account.name,
                            type(error).__name__, error)
            return False
        return True

    def _expire(self, pending, position, verdicts):
        """End the pending SMS whose validity passed (e.g. after a failover step), before
        their next account is asked: an attempt on it, Expired, without a request."""
        now = self.wall_clock()
        kept = []
        for message in pending:
            if self._window_closed(message.key, now):
                # Its send window closed during the batch: not sent to the next account.
                verdicts[message.key].deferred = True
            elif is_expired(message.expires_at, now):
                outcome = expired_outcome(message.expires_at, message.validity)
                self._note(verdicts, message, Attempt(message.chain[position[message.key]], outcome))
                verdicts[message.key].outcome = outcome
            else:
                kept.append(message)
        return kept

    def _timed_send(self, account, request):
        # Right before the call: recipients whose send window closed while the request
        # waited stay queued, no call made for them (checked at the hand-off when journaled).
        if self.on_handoff is None:
            request = self._outside_window(request)
        else:
            request = replace(request, recipients=tuple(
                r for r in request.recipients if r.key not in self._closed))
        if not request.recipients:
            return _NOT_STARTED, 0.0
        # Right before the call: recipients whose validity passed while the request waited
        # (pool, breaker, pacing) expire without it; the others carry the time left.
        # Those with less left than this provider accepts skip it for the next account.
        request, expired = within_validity(request, self._expiries, self.wall_clock(),
                                           account.client.validity_range, account.name)
        if not request.recipients:
            return expired, 0.0
        result, duration = self._timed_call(account, request)
        if expired:
            result.outcomes.update(expired.outcomes)
        return result, duration

    def _timed_call(self, account, request):
        started = time.perf_counter()
        with self._count_lock:
            self.requests_made += 1
        try:
            result = account.client.send(request)
        except Exception as error:  # a client bug must not lose the batch
            result = BatchResult.for_all(request, OutcomeKind.PROVIDER, _lt(
                '%(account)s: unexpected error %(error_type)s: %(error)s',
                account=account.name, error_type=type(error).__name__, error=str(error)))
        return result, time.perf_counter() - started

    # ------------------------------------------------------------ bookkeeping

    def _absorb(self, account, request, result, duration, by_key, verdicts, advancing, staying=None):
        if self._closed and any(r.key in self._closed for r in request.recipients):
            # Not sent, its send window closed: stays queued, no attempt, nothing for the breaker.
            for recipient in request.recipients:
                if recipient.key in self._closed:
                    verdicts[recipient.key].deferred = True
            request = replace(request, recipients=tuple(
                r for r in request.recipients if r.key not in self._closed))
            if not request.recipients:
                return
        if result is _NOT_STARTED:
            for recipient in request.recipients:
                verdicts[recipient.key].deferred = True
            return
        if isinstance(result, _Governed):
            for recipient in request.recipients:
                message = by_key[recipient.key]
                chain = message.chain
                if result.skip == SKIP_ALWAYS or (result.skip == SKIP_TO_NEXT and self._later_can_send(chain, account)):
                    self._note(verdicts, message, Attempt(account, RecipientOutcome(
                        OutcomeKind.SKIPPED, result.skip_reason or result.reason)))
                    advancing.append(message)
                else:
                    self._keep_for_governor(verdicts[recipient.key], result, account)
            return
        if result is None:  # not sent: the breaker opened while it waited
            for recipient in request.recipients:
                message = by_key[recipient.key]
                reason = account.breaker.state.last_failure if account.breaker else ''
                self._note(verdicts, message, Attempt(account, RecipientOutcome(
                    OutcomeKind.SKIPPED,
                    _lt('breaker opened during the batch (%(reason)s)', reason=reason) if reason
                    else _lt('breaker opened during the batch'))))
                advancing.append(message)
            return
        outcomes = result.outcomes
        throttled = self._throttled(account, outcomes)
        kinds = [outcomes[r.key].kind if r.key in outcomes else OutcomeKind.PROVIDER
                 for r in request.recipients if r.key not in throttled]
        if account.breaker and any(k is not OutcomeKind.MISCONFIGURED for k in kinds):
            unhealthy = [k for k in kinds if k.counts_against_breaker]
            healthy = any(k in (OutcomeKind.SENT, OutcomeKind.RECIPIENT, OutcomeKind.OPTED_OUT,
                                OutcomeKind.DESTINATION) for k in kinds)
            retry_after = 0 if throttled else max((o.retry_after or 0 for o in outcomes.values()), default=0)
            first_failure = next((o.reason for o in outcomes.values() if o.kind.counts_against_breaker), '')
            if unhealthy or healthy:
                account.breaker.record(healthy=not unhealthy, reason=first_failure, retry_after=retry_after)
                if unhealthy:
                    self._failing.add(account.account_id)
                else:
                    self._failing.discard(account.account_id)
        if result.account_updates:
            merge_account_updates(self.account_updates[account.account_id], result.account_updates)
        for recipient in request.recipients:
            message = by_key[recipient.key]
            outcome = outcomes.get(recipient.key) or RecipientOutcome(
                OutcomeKind.PROVIDER, _lt('%(account)s: the provider returned no result for this number',
                                          account=account.name))
            self._note(verdicts, message, Attempt(account, outcome, duration))
            verdict = verdicts[message.key]
            if recipient.key in throttled:
                self._throttles[message.key] += 1
                verdict.throttles = self._throttles[message.key]
                if self._throttles[message.key] >= MAX_THROTTLES or (
                        throttled[recipient.key].skip == SKIP_TO_NEXT and self._later_can_send(message.chain, account)):
                    advancing.append(message)       # see MAX_THROTTLES
                elif throttled[recipient.key].until is None and staying is not None:
                    # Tried again on this account next round, once its governor's pause
                    # ends (within the batch's pacing, else deferred then). Not counted as
                    # progress: the provider refused it.
                    staying.append(message)
                else:
                    self._keep_for_governor(verdict, throttled[recipient.key], account)
            elif outcome.kind.is_final:
                verdict.outcome = outcome
            elif outcome.kind is OutcomeKind.AMBIGUOUS and self.timeout_policy == AT_MOST_ONCE:
                verdict.outcome = outcome
                verdict.needs_review = True
            else:
                advancing.append(message)

    def _throttled(self, account, outcomes):
        """{key: _Governed} of the recipients a governed account's provider refused for
        now with a Retry-After because of its rate limit (``RecipientOutcome.throttled``:
        HTTP 429 or the provider's rate-limit codes): the provider is healthy but over its
        budget. The account's governor pauses (every worker waits); those SMS stay queued
        for this account, not failed over, and the breaker does not count them. Any other
        failure with a Retry-After (a 503 during an outage) is a provider failure, as
        without a governor: it pauses the breaker and the SMS fail over."""
        if account.governor is None:
            return {}
        refused = {key: outcome for key, outcome in outcomes.items()
                   if outcome.kind is OutcomeKind.PROVIDER and outcome.throttled and outcome.retry_after}
        if not refused:
            return {}
        seconds = max(outcome.retry_after for outcome in refused.values())
        account.governor.pause(seconds)
        result = _Governed()
        if seconds > LONG_GOVERNOR_WAIT:
            until = self.wall_clock() + timedelta(seconds=seconds)
            result = _Governed(until, wait_reason(Wait(seconds, WAIT_PAUSE), account.name,
                                                  account.governor.settings, until),
                               skip=SKIP_TO_NEXT, skip_reason=_pause_reason(until))
        return dict.fromkeys(refused, result)

    def _keep_for_governor(self, verdict, result, account):
        self.paced += 1
        verdict.paced = True
        if result.until is None:
            verdict.deferred = True
        else:
            verdict.not_before, verdict.wait_reason = result.until, result.reason
            verdict.wait_account = account

    @staticmethod
    def _note(verdicts, message, attempt):
        verdicts[message.key].attempts.append(attempt)

    def _exhaust(self, verdict, message):
        """The chain ended without success: keep the most telling failure, name them all,
        and hold the SMS when only the providers' side failed."""
        tried = [a for a in verdict.attempts if a.outcome.kind not in (OutcomeKind.SKIPPED, OutcomeKind.MISCONFIGURED)]
        deciding = (tried or verdict.attempts)[-1].outcome
        summary = join_reasons(
            _lt('%(number)s. %(account)s: %(outcome)s: %(reason)s', number=number, account=attempt.account.name,
                outcome=attempt.outcome.kind.label, reason=attempt.outcome.reason)
            for number, attempt in enumerate(verdict.attempts, start=1))
        verdict.outcome = RecipientOutcome(
            deciding.kind, _lt('all %(count)s attempts failed: %(attempts)s', count=len(verdict.attempts),
                               attempts=summary),
            failure_type=deciding.core_failure_type)
        # An account skipped for too little validity left will have even less later: holding
        # the SMS for it would only delay its end. Held for the others' sake, else Expired.
        if self.hold and any(a.outcome.kind in HOLDABLE_KINDS and not is_too_short(a.outcome)
                             for a in verdict.attempts):
            verdict.hold_until = self._retry_time(message)
        elif any(is_too_short(a.outcome) for a in verdict.attempts):
            verdict.outcome = replace(verdict.outcome, kind=OutcomeKind.EXPIRED, failure_type='sms_expired')

    def _retry_time(self, message):
        """The earliest moment an account of the message's chain may take traffic again."""
        now = self.wall_clock()
        delay = timedelta(seconds=self.retry_delay if message.retry_delay is None else message.retry_delay)
        moments = []
        for account in message.chain:
            known = account.breaker.next_attempt_at() if account.breaker else None
            moments.append(known or now + delay)
        return max(min(moments), now + timedelta(seconds=self.min_hold))
