"""Round-based failover with fake provider clients."""
import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from addons.sms_router.engine.breakers import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    AccountBreaker,
    BreakerSettings,
    MemoryBreakerStore,
)
from addons.sms_router.engine.dispatcher import (
    AT_LEAST_ONCE,
    AT_MOST_ONCE,
    AccountHandle,
    ChainPreview,
    Dispatcher,
    QueuedSms,
)
from addons.sms_router.engine.outcomes import BatchResult, OutcomeKind, ProviderClient, RecipientOutcome
from addons.sms_router.engine.routing import parse_destination

FR = parse_destination('+33612345678')
GB = parse_destination('+447400123456')


class FakeClient(ProviderClient):
    """Records every call; ``script(recipient, request, call_index)`` decides each outcome.

    The script may return a RecipientOutcome, a OutcomeKind, None (no outcome for that recipient)
    or raise.
    """

    def __init__(self, name, script=OutcomeKind.SENT, max_recipients=1, main_thread=False, problem=None,
                 delay=0.0, updates=None, on_send=None):
        self.provider = name
        self.name = name
        self.script = script
        self.max_recipients_per_request = max_recipients
        self.runs_in_main_thread = main_thread
        self.problem = problem
        self.delay = delay
        self.updates = updates or {}
        self.on_send = on_send
        self.calls = []
        self.threads = []
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def check_configuration(self):
        return self.problem

    @property
    def keys(self):
        return [recipient.key for request in self.calls for recipient in request.recipients]

    def send(self, request):
        with self._lock:
            index = len(self.calls)
            self.calls.append(request)
            self.threads.append(threading.get_ident())
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if self.on_send:
                self.on_send(self, request)
            if self.delay:
                time.sleep(self.delay)
            outcomes = {}
            for recipient in request.recipients:
                outcome = self.script
                if callable(outcome):
                    outcome = outcome(recipient, request, index)
                if isinstance(outcome, OutcomeKind):
                    outcome = RecipientOutcome(outcome, f'{self.name} says {outcome.value}',
                                               message_id=f'{self.name}-{recipient.key}')
                if outcome is not None:
                    outcomes[recipient.key] = outcome
            return BatchResult(outcomes, dict(self.updates))
        finally:
            with self._lock:
                self.active -= 1


class WallClock:
    """A dispatcher's wall clock (aware UTC) that the test moves."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


class SkewedClock:
    def __init__(self, offset=0.0):
        self.offset = offset

    def __call__(self):
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)


def handle(client, breaker=None, max_concurrency=4, unavailable_reason=''):
    return AccountHandle(client.name, client.name, client, breaker=breaker,
                         max_concurrency=max_concurrency, unavailable_reason=unavailable_reason)


def breaker_for(store, account_id, fail_max=3, cooldown=60.0, clock=None):
    return AccountBreaker(account_id, store, BreakerSettings(fail_max=fail_max, cooldown=cooldown),
                          clock=clock or SkewedClock())


def messages(count, chain, body='Hello', destination=FR, marketing=False, prefix='m'):
    return [QueuedSms(f'{prefix}{n}', body, destination, tuple(chain), marketing)
            for n in range(count)]


def dispatch(msgs, policy=AT_LEAST_ONCE, **kwargs):
    dispatcher = Dispatcher(timeout_policy=policy, **kwargs)
    return dispatcher, dispatcher.dispatch(msgs)


def kinds(verdict):
    return [(attempt.account.account_id, attempt.outcome.kind) for attempt in verdict.attempts]


@pytest.fixture
def store():
    return MemoryBreakerStore()


# ------------------------------------------------------------ single SMS paths

def test_first_healthy_account_wins():
    a, b = FakeClient('A'), FakeClient('B')
    dispatcher, verdicts = dispatch(messages(1, [handle(a), handle(b)]))
    verdict = verdicts['m0']
    assert verdict.sent and verdict.outcome.kind is OutcomeKind.SENT
    assert verdict.outcome.message_id == 'A-m0'
    assert verdict.accepted_by.account_id == 'A'
    assert kinds(verdict) == [('A', OutcomeKind.SENT)]
    assert verdict.attempts[0].duration >= 0
    assert not verdict.needs_review
    assert len(a.calls) == 1 and b.calls == []
    assert a.calls[0].body == 'Hello'
    recipient = a.calls[0].recipients[0]
    assert (recipient.key, recipient.number, recipient.region) == ('m0', '+33612345678', 'FR')
    assert dispatcher.requests_made == 1


@pytest.mark.parametrize('failure', [OutcomeKind.PROVIDER, OutcomeKind.ACCOUNT])
def test_provider_failure_fails_over(failure):
    a, b = FakeClient('A', failure), FakeClient('B')
    dispatcher, verdicts = dispatch(messages(1, [handle(a), handle(b)]))
    verdict = verdicts['m0']
    assert verdict.sent and verdict.accepted_by.account_id == 'B'
    assert kinds(verdict) == [('A', failure), ('B', OutcomeKind.SENT)]
    assert verdict.attempts[0].outcome.reason == f'A says {failure.value}'
    assert (len(a.calls), len(b.calls)) == (1, 1)
    assert dispatcher.requests_made == 2


@pytest.mark.parametrize('final, failure_type', [
    (OutcomeKind.RECIPIENT, 'sms_number_format'),
    (OutcomeKind.OPTED_OUT, 'sms_optout'),
])
def test_recipient_side_outcome_stops_the_chain(final, failure_type, store):
    a, b = FakeClient('A', final), FakeClient('B')
    breaker = breaker_for(store, 'A', fail_max=1)
    _, verdicts = dispatch(messages(1, [handle(a, breaker), handle(b)]))
    verdict = verdicts['m0']
    assert not verdict.sent and verdict.accepted_by is None
    assert verdict.outcome.kind is final
    assert verdict.outcome.core_failure_type == failure_type
    assert kinds(verdict) == [('A', final)]
    assert b.calls == []
    # The account is fine: nothing counted against it.
    assert (store.load('A').state, store.load('A').failure_count) == (CLOSED, 0)


def test_provider_failure_type_is_kept():
    outcome = RecipientOutcome(OutcomeKind.RECIPIENT, 'landline', failure_type='sms_number_missing')
    a = FakeClient('A', lambda r, q, i: outcome)
    _, verdicts = dispatch(messages(1, [handle(a)]))
    assert verdicts['m0'].outcome.core_failure_type == 'sms_number_missing'


def test_destination_unsupported_fails_over_without_counting(store):
    a, b = FakeClient('A', OutcomeKind.DESTINATION), FakeClient('B')
    breaker = breaker_for(store, 'A', fail_max=1)
    _, verdicts = dispatch(messages(3, [handle(a, breaker, max_concurrency=1), handle(b)]))
    for verdict in verdicts.values():
        assert verdict.sent and kinds(verdict) == [('A', OutcomeKind.DESTINATION), ('B', OutcomeKind.SENT)]
    # Every request went to A: one failure would have opened a breaker with fail_max=1.
    assert len(a.calls) == 3
    assert (store.load('A').state, store.load('A').failure_count) == (CLOSED, 0)


def test_destination_unsupported_at_the_end_keeps_its_failure_type():
    a = FakeClient('A', OutcomeKind.DESTINATION)
    b = FakeClient('B')
    _, verdicts = dispatch(messages(1, [handle(a), handle(b, unavailable_reason='low credit')]))
    verdict = verdicts['m0']
    assert kinds(verdict) == [('A', OutcomeKind.DESTINATION), ('B', OutcomeKind.SKIPPED)]
    assert verdict.outcome.kind is OutcomeKind.DESTINATION
    assert verdict.outcome.core_failure_type == 'sms_country_not_supported'


def test_misconfigured_account_makes_no_call_and_fails_over(store):
    a, b = FakeClient('A', problem='API key missing'), FakeClient('B')
    breaker = breaker_for(store, 'A', fail_max=1)
    dispatcher, verdicts = dispatch(messages(2, [handle(a, breaker), handle(b)]))
    assert a.calls == []
    for verdict in verdicts.values():
        assert verdict.sent and kinds(verdict) == [('A', OutcomeKind.MISCONFIGURED), ('B', OutcomeKind.SENT)]
        assert verdict.attempts[0].outcome.reason == 'API key missing'
        assert verdict.attempts[0].duration == 0
    assert store.load('A').failure_count == 0
    assert dispatcher.requests_made == len(b.calls) == 2


def test_unavailable_account_is_skipped_without_a_call():
    a, b = FakeClient('A'), FakeClient('B')
    chain = [handle(a, unavailable_reason='credit 1.00 below 5.00'), handle(b)]
    _, verdicts = dispatch(messages(1, chain))
    verdict = verdicts['m0']
    assert a.calls == [] and verdict.sent
    assert kinds(verdict) == [('A', OutcomeKind.SKIPPED), ('B', OutcomeKind.SENT)]
    assert verdict.attempts[0].outcome.reason == 'credit 1.00 below 5.00'


def test_exhausted_chain_names_every_attempt_in_order():
    a = FakeClient('A', lambda r, q, i: RecipientOutcome(OutcomeKind.PROVIDER, 'HTTP 503'))
    b = FakeClient('B')
    c = FakeClient('C', lambda r, q, i: RecipientOutcome(OutcomeKind.ACCOUNT, 'HTTP 401 bad token'))
    d = FakeClient('D', problem='no sender id')
    chain = [handle(a), handle(b, unavailable_reason='credit low'), handle(c), handle(d)]
    _, verdicts = dispatch(messages(1, chain))
    verdict = verdicts['m0']
    assert not verdict.sent
    # The last real attempt decides, not the skipped or misconfigured ones after it.
    assert verdict.outcome.kind is OutcomeKind.ACCOUNT
    assert verdict.outcome.core_failure_type == 'sms_acc'
    assert verdict.outcome.reason == (
        'all 4 attempts failed: '
        '1. A: provider error: HTTP 503; '
        '2. B: skipped: credit low; '
        '3. C: account error: HTTP 401 bad token; '
        '4. D: account misconfigured: no sender id'
    )
    assert b.calls == [] and d.calls == []


def test_exhausted_chain_without_real_attempt():
    a = FakeClient('A', problem='no key')
    b = FakeClient('B')
    _, verdicts = dispatch(messages(1, [handle(a), handle(b, unavailable_reason='paused')]))
    outcome = verdicts['m0'].outcome
    assert outcome.kind is OutcomeKind.SKIPPED
    assert outcome.reason == ('all 2 attempts failed: '
                              '1. A: account misconfigured: no key; 2. B: skipped: paused')


def test_provider_failure_type_of_last_attempt_kept_on_exhaustion():
    outcome = RecipientOutcome(OutcomeKind.PROVIDER, 'no credit', failure_type='sms_credit')
    a = FakeClient('A', lambda r, q, i: outcome)
    _, verdicts = dispatch(messages(1, [handle(a)]))
    assert verdicts['m0'].outcome.core_failure_type == 'sms_credit'
    assert verdicts['m0'].outcome.reason == \
        'all 1 attempts failed: 1. A: provider error: no credit'


def test_ambiguous_fails_over_under_at_least_once():
    a, b = FakeClient('A', OutcomeKind.AMBIGUOUS), FakeClient('B')
    _, verdicts = dispatch(messages(1, [handle(a), handle(b)]), AT_LEAST_ONCE)
    verdict = verdicts['m0']
    assert verdict.sent and not verdict.needs_review
    assert kinds(verdict) == [('A', OutcomeKind.AMBIGUOUS), ('B', OutcomeKind.SENT)]


def test_ambiguous_stops_under_at_most_once(store):
    a, b = FakeClient('A', OutcomeKind.AMBIGUOUS), FakeClient('B')
    breaker = breaker_for(store, 'A', fail_max=5)
    _, verdicts = dispatch(messages(1, [handle(a, breaker), handle(b)]), AT_MOST_ONCE)
    verdict = verdicts['m0']
    assert not verdict.sent and verdict.needs_review
    assert verdict.outcome.kind is OutcomeKind.AMBIGUOUS
    assert verdict.outcome.core_failure_type == 'sms_server'
    assert kinds(verdict) == [('A', OutcomeKind.AMBIGUOUS)]
    assert b.calls == []
    # A timeout still says the provider is unwell.
    assert store.load('A').failure_count == 1


def test_ambiguous_at_the_end_of_the_chain_under_at_least_once():
    _, verdicts = dispatch(messages(1, [handle(FakeClient('A', OutcomeKind.AMBIGUOUS))]), AT_LEAST_ONCE)
    verdict = verdicts['m0']
    assert verdict.outcome.kind is OutcomeKind.AMBIGUOUS and not verdict.needs_review


def test_unreadable_number_and_missing_chain_make_no_call():
    a = FakeClient('A')
    msgs = [
        QueuedSms('bad', 'Hi', None, (handle(a),), number_error='cannot read "abc"'),
        QueuedSms('bad2', 'Hi', None, (handle(a),)),
        QueuedSms('nochain', 'Hi', FR, ()),
        QueuedSms('ok', 'Hi', FR, (handle(a),)),
    ]
    _, verdicts = dispatch(msgs)
    assert set(verdicts) == {'bad', 'bad2', 'nochain', 'ok'}
    assert verdicts['bad'].outcome.kind is OutcomeKind.RECIPIENT
    assert verdicts['bad'].outcome.reason == 'cannot read "abc"'
    assert verdicts['bad'].outcome.core_failure_type == 'sms_number_format'
    assert verdicts['bad2'].outcome.reason == 'unreadable phone number'
    assert verdicts['nochain'].outcome.kind is OutcomeKind.MISCONFIGURED
    assert verdicts['nochain'].outcome.core_failure_type == 'sms_acc'
    assert all(verdicts[k].attempts == [] for k in ('bad', 'bad2', 'nochain'))
    assert a.keys == ['ok'] and verdicts['ok'].sent


def test_empty_dispatch():
    dispatcher, verdicts = dispatch([])
    assert verdicts == {} and dispatcher.requests_made == 0


def test_missing_outcome_counts_as_provider_failure(store):
    a = FakeClient('A', lambda r, q, i: None if r.key == 'm1' else OutcomeKind.SENT, max_recipients=10)
    b = FakeClient('B')
    breaker = breaker_for(store, 'A', fail_max=5)
    _, verdicts = dispatch(messages(3, [handle(a, breaker), handle(b)]))
    assert all(d.sent for d in verdicts.values())
    assert kinds(verdicts['m1']) == [('A', OutcomeKind.PROVIDER), ('B', OutcomeKind.SENT)]
    assert 'no result' in verdicts['m1'].attempts[0].outcome.reason
    assert b.keys == ['m1']
    assert store.load('A').failure_count == 1


def test_client_exception_gives_provider_outcomes_for_its_recipients(store):
    def explode(recipient, request, index):
        raise RuntimeError('bug in the client')

    a, b = FakeClient('A', explode, max_recipients=5), FakeClient('B', max_recipients=5)
    breaker = breaker_for(store, 'A', fail_max=5)
    _, verdicts = dispatch(messages(4, [handle(a, breaker), handle(b)]))
    assert set(verdicts) == {'m0', 'm1', 'm2', 'm3'}
    for verdict in verdicts.values():
        assert verdict.sent
        assert kinds(verdict) == [('A', OutcomeKind.PROVIDER), ('B', OutcomeKind.SENT)]
        assert 'RuntimeError: bug in the client' in verdict.attempts[0].outcome.reason
    assert sorted(b.keys) == ['m0', 'm1', 'm2', 'm3']
    assert store.load('A').failure_count == 1


def test_client_exception_in_main_thread_client():
    def explode(recipient, request, index):
        raise ValueError('boom')

    a = FakeClient('A', explode, main_thread=True)
    _, verdicts = dispatch(messages(2, [handle(a)]))
    for verdict in verdicts.values():
        assert verdict.outcome.kind is OutcomeKind.PROVIDER
        assert 'ValueError: boom' in verdict.outcome.reason


def test_account_updates_are_collected():
    a = FakeClient('A', updates={'credit_balance': 19.84}, max_recipients=2)
    b = FakeClient('B', updates={'credit_balance': 3.0, 'currency': 'EUR'})
    c = FakeClient('C', updates={})
    msgs = (messages(3, [handle(a)]) + messages(1, [handle(b)], prefix='b')
            + messages(1, [handle(c)], prefix='c'))
    dispatcher, verdicts = dispatch(msgs)
    assert all(d.sent for d in verdicts.values())
    assert dispatcher.account_updates == {'A': {'credit_balance': 19.84},
                                          'B': {'credit_balance': 3.0, 'currency': 'EUR'}}


def test_later_account_update_wins():
    def updates(client, request):
        client.updates = {'credit_balance': 100 - len(client.calls)}

    a = FakeClient('A', max_recipients=1, on_send=updates)
    dispatcher, _ = dispatch(messages(3, [handle(a, max_concurrency=1)]))
    assert dispatcher.account_updates['A'] == {'credit_balance': 97}


def test_additive_account_updates_add_up():
    a = FakeClient('A', updates={'credits_removed': 1.5, 'credit_balance': 10.0})
    dispatcher, _ = dispatch(messages(3, [handle(a)]))
    assert dispatcher.account_updates['A'] == {'credits_removed': 4.5, 'credit_balance': 10.0}


# ------------------------------------------------------------------ batching

def test_same_body_same_account_batched_up_to_the_limit():
    a = FakeClient('A', max_recipients=3)
    _, verdicts = dispatch(messages(7, [handle(a)]))
    assert sorted(len(request.recipients) for request in a.calls) == [1, 3, 3]
    assert sorted(a.keys) == sorted(verdicts)
    assert all(d.sent for d in verdicts.values())


def test_different_bodies_and_marketing_flag_are_separate_requests():
    a = FakeClient('A', max_recipients=50)
    chain = [handle(a)]
    msgs = (messages(3, chain, body='Hello', prefix='h')
            + messages(2, chain, body='Bye', prefix='b')
            + messages(2, chain, body='Hello', marketing=True, prefix='mk')
            + messages(1, chain, body='Hello', destination=GB, prefix='gb'))
    _, verdicts = dispatch(msgs)
    assert len(verdicts) == 8 and all(d.sent for d in verdicts.values())
    requests = {(q.body, q.marketing): sorted(r.key for r in q.recipients) for q in a.calls}
    assert len(a.calls) == 3
    assert requests == {
        ('Hello', False): ['gb0', 'h0', 'h1', 'h2'],
        ('Bye', False): ['b0', 'b1'],
        ('Hello', True): ['mk0', 'mk1'],
    }
    gb = next(r for q in a.calls for r in q.recipients if r.key == 'gb0')
    assert (gb.number, gb.region) == ('+447400123456', 'GB')


def test_failed_over_sms_are_batched_again_on_the_next_account():
    a = FakeClient('A', OutcomeKind.PROVIDER, max_recipients=10)
    b = FakeClient('B', max_recipients=10)
    dispatcher, verdicts = dispatch(messages(6, [handle(a), handle(b)]))
    assert len(a.calls) == 1 and len(b.calls) == 1
    assert len(b.calls[0].recipients) == 6
    assert dispatcher.requests_made == 2
    assert all(d.accepted_by.account_id == 'B' for d in verdicts.values())


def test_sms_on_different_chains_share_account_requests():
    a = FakeClient('A', OutcomeKind.PROVIDER, max_recipients=10)
    b, c = FakeClient('B', max_recipients=10), FakeClient('C', max_recipients=10)
    msgs = (messages(2, [handle(a), handle(c)], prefix='x')
            + messages(2, [handle(b), handle(c)], prefix='y'))
    _, verdicts = dispatch(msgs)
    assert all(d.sent for d in verdicts.values())
    assert [sorted(r.key for r in q.recipients) for q in c.calls] == [['x0', 'x1']]
    assert sorted(b.keys) == ['y0', 'y1'] and len(b.calls) == 1


# ------------------------------------------------------------------ breakers

@pytest.mark.parametrize('main_thread', [False, True])
def test_breaker_opening_mid_batch_skips_later_requests(store, main_thread):
    a = FakeClient('A', lambda r, q, i: RecipientOutcome(OutcomeKind.PROVIDER, f'HTTP 503 #{i}'),
                   main_thread=main_thread)
    b = FakeClient('B')
    breaker = breaker_for(store, 'A', fail_max=2)
    chain = [handle(a, breaker, max_concurrency=1), handle(b)]
    dispatcher, verdicts = dispatch(messages(6, chain))
    assert len(a.calls) == 2
    assert all(d.sent and d.accepted_by.account_id == 'B' for d in verdicts.values())
    skipped = [d for d in verdicts.values() if d.attempts[0].outcome.kind is OutcomeKind.SKIPPED]
    assert len(skipped) == 4
    for verdict in skipped:
        reason = verdict.attempts[0].outcome.reason
        assert reason == 'breaker opened during the batch (HTTP 503 #1)'
    assert dispatcher.requests_made == 2 + 6
    state = store.load('A')
    assert (state.state, state.open_count) == (OPEN, 1)


def test_breaker_opening_mid_batch_with_concurrency(store):
    a = FakeClient('A', OutcomeKind.PROVIDER, delay=0.01)
    breaker = breaker_for(store, 'A', fail_max=2)
    chain = [handle(a, breaker, max_concurrency=3), handle(FakeClient('B'))]
    _, verdicts = dispatch(messages(20, chain))
    # Calls already in flight may finish, nothing more is sent once it opened.
    assert 2 <= len(a.calls) <= 2 + 3 - 1
    assert all(d.sent for d in verdicts.values())
    skipped = sum(d.attempts[0].outcome.kind is OutcomeKind.SKIPPED for d in verdicts.values())
    assert skipped == 20 - len(a.calls)


def test_open_breaker_skips_the_account(store):
    opener = breaker_for(store, 'A', fail_max=1)
    opener.record(False, 'HTTP 500')
    a, b = FakeClient('A'), FakeClient('B')
    chain = [handle(a, breaker_for(store, 'A', fail_max=1)), handle(b)]
    _, verdicts = dispatch(messages(3, chain))
    assert a.calls == []
    for verdict in verdicts.values():
        assert kinds(verdict) == [('A', OutcomeKind.SKIPPED), ('B', OutcomeKind.SENT)]
        assert 'open' in verdict.attempts[0].outcome.reason


def test_account_without_breaker_is_never_skipped():
    a = FakeClient('A', OutcomeKind.PROVIDER)
    _, verdicts = dispatch(messages(10, [handle(a, None, max_concurrency=1)]))
    assert len(a.calls) == 10
    assert all(d.outcome.kind is OutcomeKind.PROVIDER for d in verdicts.values())


def test_retry_after_pauses_the_account_mid_batch(store):
    a = FakeClient('A', lambda r, q, i: RecipientOutcome(OutcomeKind.PROVIDER, 'HTTP 429', retry_after=30))
    breaker = breaker_for(store, 'A', fail_max=10)
    chain = [handle(a, breaker, max_concurrency=1), handle(FakeClient('B'))]
    _, verdicts = dispatch(messages(4, chain))
    assert len(a.calls) == 1
    assert all(d.sent for d in verdicts.values())
    state = store.load('A')
    assert state.state == CLOSED
    assert state.paused_until > datetime.now(timezone.utc) + timedelta(seconds=20)


def _open_for_probe(store, account_id='A'):
    """An open breaker whose cool-down has elapsed for a handle with the returned clock."""
    breaker_for(store, account_id, fail_max=1).record(False, 'down')
    assert store.load(account_id).state == OPEN
    return SkewedClock(3600)


def test_half_open_probe_then_the_rest_follow(store):
    seen_states = []
    a = FakeClient('A', on_send=lambda client, request: seen_states.append(store.load('A').state))
    clock = _open_for_probe(store)
    breaker = breaker_for(store, 'A', fail_max=1, clock=clock)
    b = FakeClient('B')
    _, verdicts = dispatch(messages(5, [handle(a, breaker, max_concurrency=4), handle(b)]))
    assert seen_states == [HALF_OPEN, CLOSED, CLOSED, CLOSED, CLOSED]
    assert b.calls == []
    assert all(kinds(d) == [('A', OutcomeKind.SENT)] for d in verdicts.values())
    state = store.load('A')
    assert (state.state, state.open_count, state.probe_owner) == (CLOSED, 0, None)


def test_half_open_probe_failure_fails_the_rest_over(store):
    a = FakeClient('A', OutcomeKind.PROVIDER)
    clock = _open_for_probe(store)
    breaker = breaker_for(store, 'A', fail_max=1, clock=clock)
    breaker.settings.cooldown = 3000.0     # a failed probe doubles it beyond the clock's skew
    b = FakeClient('B')
    _, verdicts = dispatch(messages(5, [handle(a, breaker), handle(b)]))
    assert len(a.calls) == 1
    assert sorted(b.keys) == sorted(verdicts)
    probe = [d for d in verdicts.values() if d.attempts[0].outcome.kind is OutcomeKind.PROVIDER]
    assert len(probe) == 1
    others = [d for d in verdicts.values() if d is not probe[0]]
    assert all(kinds(d) == [('A', OutcomeKind.SKIPPED), ('B', OutcomeKind.SENT)] for d in others)
    state = store.load('A')
    assert (state.state, state.open_count) == (OPEN, 2)


def test_half_open_probe_answered_destination_unsupported_closes(store):
    # The account answered (it cannot reach this country): it is healthy again.
    a = FakeClient('A', lambda r, q, i: OutcomeKind.DESTINATION if r.region == 'GB' else OutcomeKind.SENT)
    clock = _open_for_probe(store)
    breaker = breaker_for(store, 'A', fail_max=1, clock=clock)
    msgs = (messages(1, [handle(a, breaker), handle(FakeClient('B'))], destination=GB, prefix='gb')
            + messages(3, [handle(a, breaker)], body='Other', prefix='fr'))
    _, verdicts = dispatch(msgs)
    assert all(d.sent for d in verdicts.values())
    assert store.load('A').state == CLOSED
    assert len(a.calls) == 4


def test_probe_held_by_another_process_skips_the_account(store):
    clock = _open_for_probe(store)
    assert breaker_for(store, 'A', clock=clock).admit().probe      # the other process probes
    a, b = FakeClient('A'), FakeClient('B')
    chain = [handle(a, breaker_for(store, 'A', clock=clock)), handle(b)]
    _, verdicts = dispatch(messages(2, chain))
    assert a.calls == []
    assert all(kinds(d) == [('A', OutcomeKind.SKIPPED), ('B', OutcomeKind.SENT)] for d in verdicts.values())


def test_main_thread_probe(store):
    a = FakeClient('A', main_thread=True, max_recipients=2)
    clock = _open_for_probe(store)
    _, verdicts = dispatch(messages(5, [handle(a, breaker_for(store, 'A', clock=clock))]))
    # The probe carries one SMS; the others follow once it closed the breaker.
    assert [len(q.recipients) for q in a.calls] == [1, 2, 2]
    assert all(d.sent for d in verdicts.values())
    assert store.load('A').state == CLOSED


# ------------------------------------------------------------------ threads

def test_main_thread_client_runs_in_the_calling_thread():
    local = FakeClient('L', main_thread=True)
    threaded = FakeClient('T')
    msgs = messages(3, [handle(local)], prefix='l') + messages(3, [handle(threaded)], prefix='t')
    _, verdicts = dispatch(msgs)
    assert all(d.sent for d in verdicts.values())
    me = threading.get_ident()
    assert local.threads == [me] * 3
    assert len(threaded.threads) == 3 and me not in threaded.threads


def test_concurrency_bound_per_account():
    slow_a = FakeClient('A', delay=0.03)
    slow_b = FakeClient('B', delay=0.03)
    msgs = messages(12, [handle(slow_a, max_concurrency=3)], prefix='a') + \
        messages(12, [handle(slow_b, max_concurrency=2)], prefix='b')
    _, verdicts = dispatch(msgs, max_workers=16)
    assert all(d.sent for d in verdicts.values())
    assert len(slow_a.calls) == len(slow_b.calls) == 12
    assert 2 <= slow_a.peak <= 3      # calls did overlap, never beyond the bound
    assert slow_b.peak <= 2


def test_max_concurrency_of_zero_still_sends_one_at_a_time():
    a = FakeClient('A', delay=0.005)
    _, verdicts = dispatch(messages(4, [handle(a, max_concurrency=0)]))
    assert all(d.sent for d in verdicts.values()) and a.peak == 1


# ------------------------------------------------------------------ property

CLIENT_KINDS = [OutcomeKind.SENT, OutcomeKind.SENT, OutcomeKind.RECIPIENT, OutcomeKind.OPTED_OUT,
                OutcomeKind.PROVIDER, OutcomeKind.PROVIDER, OutcomeKind.ACCOUNT, OutcomeKind.DESTINATION,
                OutcomeKind.AMBIGUOUS, 'missing', 'raise']


def _random_script(rng):
    lock = threading.Lock()
    choices = {}

    def script(recipient, request, index):
        with lock:
            choice = choices.setdefault((recipient.key, index), rng.choice(CLIENT_KINDS))
        if choice == 'raise':
            raise RuntimeError('client bug')
        if choice == 'missing':
            return None
        retry_after = None
        if choice is OutcomeKind.PROVIDER:
            retry_after = rng.choice([None, None, None, 0.01])
        return RecipientOutcome(choice, f'random {choice.value}', retry_after=retry_after)

    return script


@pytest.mark.parametrize('seed', range(25))
def test_every_key_gets_exactly_one_final_delivery(seed):
    rng = random.Random(seed)
    store = MemoryBreakerStore()
    policy = rng.choice([AT_LEAST_ONCE, AT_MOST_ONCE])
    handles = []
    for n in range(5):
        name = f'acc{n}'
        client = FakeClient(name, _random_script(random.Random(seed * 100 + n)),
                            max_recipients=rng.choice([1, 2, 5]),
                            main_thread=rng.random() < 0.3,
                            problem='broken' if rng.random() < 0.1 else None)
        breaker = None
        if rng.random() < 0.8:
            clock = SkewedClock()
            if rng.random() < 0.3:
                clock = _open_for_probe(store, name)
            breaker = breaker_for(store, name, fail_max=rng.choice([1, 2, 3]), clock=clock)
        handles.append(handle(client, breaker, max_concurrency=rng.choice([1, 2, 4]),
                              unavailable_reason='low credit' if rng.random() < 0.1 else ''))
    msgs = []
    for n in range(rng.randint(1, 40)):
        chain = tuple(rng.sample(handles, rng.randint(0, 4)))
        destination = None if rng.random() < 0.05 else rng.choice([FR, GB])
        body, marketing = rng.choice(['A', 'B']), rng.random() < 0.3
        msgs.append(QueuedSms(f'k{n}', body, destination, chain, marketing))

    dispatcher, verdicts = dispatch(msgs, policy)

    assert set(verdicts) == {m.key for m in msgs}
    calls = [(r.key, h.account_id) for h in handles for q in h.client.calls for r in q.recipients]
    assert len(calls) == len(set(calls)), 'an SMS went twice to the same account'
    assert dispatcher.requests_made == sum(len(h.client.calls) for h in handles)
    for message in msgs:
        verdict = verdicts[message.key]
        assert verdict.key == message.key
        assert verdict.outcome is not None and verdict.outcome.kind is not None
        if message.destination is None or not message.chain:
            assert verdict.attempts == [] and not verdict.sent
            continue
        # Attempts follow the chain, one account after the other.
        accounts = [a.account for a in verdict.attempts]
        assert accounts == list(message.chain[:len(accounts)])
        called = {account for key, account in calls if key == message.key}
        tried = {a.account.account_id for a in verdict.attempts
                 if a.outcome.kind not in (OutcomeKind.SKIPPED, OutcomeKind.MISCONFIGURED)}
        assert called == tried
        last = verdict.attempts[-1].outcome
        for attempt in verdict.attempts[:-1]:
            assert not attempt.outcome.kind.is_final
            if policy == AT_MOST_ONCE:
                assert attempt.outcome.kind is not OutcomeKind.AMBIGUOUS
        if verdict.sent:
            assert last.kind is OutcomeKind.SENT and verdict.outcome is last
            assert verdict.accepted_by is message.chain[len(verdict.attempts) - 1]
        elif verdict.outcome.kind in (OutcomeKind.RECIPIENT, OutcomeKind.OPTED_OUT):
            assert verdict.outcome is last
        elif verdict.needs_review:
            assert policy == AT_MOST_ONCE and last.kind is OutcomeKind.AMBIGUOUS
            assert verdict.outcome is last
        else:
            assert len(verdict.attempts) == len(message.chain)
            expected = f'all {len(message.chain)} attempts failed: 1. '
            assert verdict.outcome.reason.startswith(expected)
            real = [a.outcome for a in verdict.attempts
                    if a.outcome.kind not in (OutcomeKind.SKIPPED, OutcomeKind.MISCONFIGURED)]
            assert verdict.outcome.kind is (real or [last])[-1].kind


def test_after_a_failure_an_account_gets_one_request_at_a_time(store):
    """A failing (e.g. hanging) provider must not keep max_concurrency requests in flight:
    after the first failure the account is sent one request at a time until a success."""
    entries = []

    def note_entry(client, request):
        entries.append(client.active)

    primary = FakeClient('P', script=OutcomeKind.PROVIDER, delay=0.02, on_send=note_entry)
    fallback = FakeClient('F')
    chain = [handle(primary, breaker_for(store, 'P', fail_max=50), max_concurrency=4), handle(fallback)]
    _, verdicts = dispatch(messages(12, chain))
    assert all(d.sent for d in verdicts.values())
    assert len(primary.calls) == 12
    assert max(entries[:4]) >= 1
    # Once a failure came back, every later request found nobody else in flight.
    assert entries[4:] == [1] * 8


def test_handoff_is_called_in_the_calling_thread_before_every_provider_call(store):
    journal = []
    caller = threading.get_ident()

    def on_handoff(account, request):
        assert threading.get_ident() == caller
        # Nothing of this request has reached the provider yet.
        assert not any(request is sent for sent in account.client.calls)
        journal.append((account.account_id, tuple(r.key for r in request.recipients)))

    primary = FakeClient('P', script=OutcomeKind.PROVIDER)
    fallback = FakeClient('F', main_thread=True)
    chain = [handle(primary, breaker_for(store, 'P', fail_max=50)), handle(fallback)]
    dispatcher = Dispatcher(on_handoff=on_handoff)
    verdicts = dispatcher.dispatch(messages(3, chain))
    assert all(d.sent for d in verdicts.values())
    assert sorted(journal) == sorted(
        [('P', (f'm{n}',)) for n in range(3)] + [('F', (f'm{n}',)) for n in range(3)])
    assert len(journal) == dispatcher.requests_made


@pytest.mark.parametrize('main_thread', [False, True])
def test_handoff_failure_defers_without_calling(store, main_thread):
    """A journal that cannot be written: the request is not made, its SMS stay queued
    (deferred), and the other requests of the dispatch go on."""
    def on_handoff(account, request):
        if request.body == 'Journal down':
            raise RuntimeError('journal unavailable')

    client = FakeClient('P', main_thread=main_thread)
    chain = [handle(client, breaker_for(store, 'P'))]
    dispatcher = Dispatcher(on_handoff=on_handoff)
    verdicts = dispatcher.dispatch(messages(2, chain, body='Journal down', prefix='down')
                                     + messages(2, chain, body='Fine', prefix='fine'))
    assert sorted(client.keys) == ['fine0', 'fine1']
    assert dispatcher.handoff_failures == 2
    for key in ('down0', 'down1'):
        assert verdicts[key].deferred and verdicts[key].outcome is None
        assert verdicts[key].attempts == []
    assert all(verdicts[key].sent and not verdicts[key].deferred for key in ('fine0', 'fine1'))


# ------------------------------------------------------- deadline (bounded dispatch)

class StepClock:
    """A monotonic clock that moves only when told (``advance``)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.mark.parametrize('main_thread', [False, True])
def test_deadline_stops_new_requests_and_defers_the_rest(store, main_thread):
    clock = StepClock()
    # Each call moves the clock by 1 s: with a deadline at 2.5 s, three calls start at
    # most (one at a time, so the test does not depend on thread timing).
    a = FakeClient('A', main_thread=main_thread, on_send=lambda client, request: clock.advance(1))
    dispatcher, verdicts = dispatch(messages(6, [handle(a, breaker_for(store, 'A'), max_concurrency=1)]),
                                      deadline=2.5, clock=clock)
    assert len(a.calls) == 3
    sent = [key for key, d in verdicts.items() if d.sent]
    deferred = [key for key, d in verdicts.items() if d.deferred]
    assert sorted(sent) == sorted(a.keys)
    assert len(deferred) == 3 and not set(deferred) & set(sent)
    assert all(d.outcome is None and d.attempts == [] for key, d in verdicts.items() if key in deferred)


def test_deadline_between_rounds_keeps_the_attempts_made(store):
    clock = StepClock()
    a = FakeClient('A', OutcomeKind.PROVIDER, max_recipients=2, on_send=lambda client, request: clock.advance(10))
    b = FakeClient('B')
    dispatcher, verdicts = dispatch(messages(2, [handle(a, breaker_for(store, 'A', fail_max=50)), handle(b)]),
                                      deadline=5, clock=clock)
    assert b.calls == []
    for verdict in verdicts.values():
        assert verdict.deferred and verdict.outcome is None
        assert kinds(verdict) == [('A', OutcomeKind.PROVIDER)]


def test_deadline_already_passed_makes_no_call():
    a = FakeClient('A')
    dispatcher, verdicts = dispatch(messages(3, [handle(a)]), deadline=0, clock=lambda: 1.0)
    assert a.calls == [] and dispatcher.requests_made == 0
    assert all(d.deferred for d in verdicts.values())


def test_no_deadline_no_deferral():
    a = FakeClient('A')
    _, verdicts = dispatch(messages(3, [handle(a)]))
    assert not any(d.deferred for d in verdicts.values())


# ----------------------------------------------------------- one-SMS probe

def test_hung_probe_leaves_one_sms_in_doubt(store):
    """A probe that gets no answer makes one SMS ambiguous, not a whole request."""
    a = FakeClient('A', OutcomeKind.AMBIGUOUS, max_recipients=500)
    clock = _open_for_probe(store)
    breaker = breaker_for(store, 'A', fail_max=1, clock=clock)
    breaker.settings.cooldown = 3000.0
    b = FakeClient('B', max_recipients=500)
    _, verdicts = dispatch(messages(50, [handle(a, breaker), handle(b)]), policy=AT_MOST_ONCE)
    assert [len(call.recipients) for call in a.calls] == [1]
    review = [d for d in verdicts.values() if d.needs_review]
    assert len(review) == 1
    assert sum(1 for d in verdicts.values() if d.sent) == 49
    assert len(b.keys) == 49


# ---------------------------------------------------------- mixed bodies (IAP)

def test_mixed_body_client_gets_every_body_in_one_call():
    iap = FakeClient('IAP', max_recipients=500, main_thread=True)
    iap.accepts_mixed_bodies = True
    msgs = [QueuedSms(f'm{n}', f'Hello {n}', FR, (handle(iap),)) for n in range(40)]
    msgs += [QueuedSms('promo', 'Promo', FR, (handle(iap),), marketing=True)]
    _, verdicts = dispatch(msgs)
    assert all(d.sent for d in verdicts.values())
    assert len(iap.calls) == 2                      # transactional and marketing apart
    transactional = next(call for call in iap.calls if not call.marketing)
    assert transactional.body is None
    assert {transactional.body_for(r) for r in transactional.recipients} == {f'Hello {n}' for n in range(40)}
    assert all(transactional.body_for(r) == f'Hello {r.key[1:]}' for r in transactional.recipients)


def test_single_body_clients_still_get_one_body_per_request():
    a = FakeClient('A', max_recipients=500)
    msgs = [QueuedSms(f'm{n}', f'Hello {n % 3}', FR, (handle(a),)) for n in range(9)]
    dispatch(msgs)
    assert len(a.calls) == 3
    assert all(call.body is not None and all(r.body is None for r in call.recipients) for call in a.calls)


# --------------------------------------------------------------- hold and retry

def test_chain_down_on_provider_side_is_held_until_the_earliest_probe(store):
    a = FakeClient('A', OutcomeKind.PROVIDER)
    b = FakeClient('B', OutcomeKind.ACCOUNT)
    breaker_a = breaker_for(store, 'A', fail_max=1, cooldown=120)
    breaker_b = breaker_for(store, 'B', fail_max=1, cooldown=30)
    _, verdicts = dispatch(messages(3, [handle(a, breaker_a), handle(b, breaker_b)]), hold=True)
    for verdict in verdicts.values():
        assert not verdict.sent and verdict.held
        assert verdict.outcome.reason.startswith('all 2 attempts failed')
    # Both breakers opened on the first SMS; B's cool-down ends first.
    assert store.load('A').state == store.load('B').state == OPEN
    expected = store.load('B').opened_at + timedelta(seconds=30)
    assert {d.hold_until for d in verdicts.values()} == {expected}


def test_hold_without_breaker_time_uses_the_retry_delay():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    a = FakeClient('A', problem='no API key')
    _, verdicts = dispatch(messages(1, [handle(a)]), hold=True, retry_delay=90, wall_clock=lambda: now)
    assert verdicts['m0'].hold_until == now + timedelta(seconds=90)
    assert a.calls == []


@pytest.mark.parametrize('final', [OutcomeKind.RECIPIENT, OutcomeKind.OPTED_OUT])
def test_recipient_side_failures_are_never_held(final):
    a = FakeClient('A', final)
    _, verdicts = dispatch(messages(1, [handle(a), handle(FakeClient('B'))]), hold=True)
    assert not verdicts['m0'].held and verdicts['m0'].outcome.kind is final


def test_destination_unsupported_everywhere_is_not_held():
    a, b = FakeClient('A', OutcomeKind.DESTINATION), FakeClient('B', OutcomeKind.DESTINATION)
    _, verdicts = dispatch(messages(1, [handle(a), handle(b)]), hold=True)
    assert not verdicts['m0'].held
    assert verdicts['m0'].outcome.kind is OutcomeKind.DESTINATION


def test_ambiguous_under_at_most_once_is_not_held():
    a = FakeClient('A', OutcomeKind.AMBIGUOUS)
    _, verdicts = dispatch(messages(1, [handle(a), handle(FakeClient('B'))]), policy=AT_MOST_ONCE, hold=True)
    assert verdicts['m0'].needs_review and not verdicts['m0'].held


def test_without_hold_the_chain_end_is_final():
    _, verdicts = dispatch(messages(1, [handle(FakeClient('A', OutcomeKind.PROVIDER))]))
    assert not verdicts['m0'].held and verdicts['m0'].outcome.kind is OutcomeKind.PROVIDER


def test_hold_is_never_shorter_than_the_minimum(store):
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    breaker = breaker_for(store, 'A', clock=lambda: now)
    store.update('A', paused_until=now - timedelta(seconds=5))     # a pause that just ended
    breaker.refresh()
    a = FakeClient('A', OutcomeKind.PROVIDER)
    _, verdicts = dispatch(messages(1, [handle(a, breaker)]), hold=True, min_hold=7, wall_clock=lambda: now)
    assert verdicts['m0'].hold_until == now + timedelta(seconds=7)


def test_request_starts_only_if_it_can_end_before_the_deadline(store):
    clock = StepClock()
    slow = FakeClient('S')
    fast = FakeClient('F')
    msgs = (messages(1, [AccountHandle('S', 'S', slow, timeout=15)], prefix='slow')
            + messages(1, [AccountHandle('F', 'F', fast, timeout=2)], prefix='fast'))
    _, verdicts = dispatch(msgs, deadline=10, clock=clock)
    assert slow.calls == [] and verdicts['slow0'].deferred
    assert verdicts['fast0'].sent


def test_account_slower_than_the_whole_budget_is_skipped_not_deferred_forever():
    """An account whose requests take longer than any batch may take would defer its SMS
    at every run; it is skipped as misconfigured, so failover (and holding) apply."""
    slow, fast = FakeClient('S'), FakeClient('F')
    chain = [AccountHandle('S', 'S', slow, timeout=30), AccountHandle('F', 'F', fast, timeout=2)]
    _, verdicts = dispatch(messages(2, chain), deadline=100, time_budget=20, clock=lambda: 0.0)
    assert slow.calls == []
    for verdict in verdicts.values():
        assert verdict.sent and not verdict.deferred
        assert kinds(verdict) == [('S', OutcomeKind.MISCONFIGURED), ('F', OutcomeKind.SENT)]
        assert 'longer than the 20 s a batch may take' in verdict.attempts[0].outcome.reason


def test_no_probe_is_taken_when_the_deadline_leaves_no_time(store):
    clock = _open_for_probe(store)
    breaker = breaker_for(store, 'A', fail_max=1, clock=clock)
    a = FakeClient('A')
    chain = [AccountHandle('A', 'A', a, breaker=breaker, timeout=10)]
    _, verdicts = dispatch(messages(3, chain), deadline=5, clock=lambda: 0.0)
    assert a.calls == []
    assert all(d.deferred for d in verdicts.values())
    state = store.load('A')
    assert state.state == OPEN and state.probe_owner is None, 'the probe lease was not taken'


def test_message_retry_delay_overrides_the_default():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    a = FakeClient('A', OutcomeKind.PROVIDER)
    msg = QueuedSms('m0', 'Hello', FR, (handle(a),), retry_delay=600)
    _, verdicts = dispatch([msg], hold=True, retry_delay=60, wall_clock=lambda: now)
    assert verdicts['m0'].hold_until == now + timedelta(seconds=600)


# ------------------------------------------------------------------ preview

def previewed(preview):
    return [(step.account.account_id, step.admitted, step.probe, step.kind, step.reason) for step in preview.steps]


def test_preview_walks_the_chain_as_a_round_does_without_sending(store):
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    clock = lambda: now  # noqa: E731
    store.update('open', state=OPEN, opened_at=now - timedelta(seconds=10), open_count=1, failure_count=3)
    store.update('forced', forced_open=True)
    store.update('paused', paused_until=now + timedelta(seconds=30))
    clients = {name: FakeClient(name) for name in ('misconf', 'slow', 'credit', 'open', 'forced', 'paused', 'A', 'B')}
    clients['misconf'].problem = 'no API key'
    chain = [
        handle(clients['misconf']),
        AccountHandle('slow', 'slow', clients['slow'], timeout=30),
        handle(clients['credit'], unavailable_reason='credit 1.00 below the threshold 5.00'),
        *(handle(clients[name], breaker_for(store, name, clock=clock)) for name in ('open', 'forced', 'paused')),
        handle(clients['A'], breaker_for(store, 'A', clock=clock)),
        handle(clients['B']),
    ]
    before = {name: store.load(name) for name in clients}
    preview = Dispatcher(time_budget=20).preview(QueuedSms('m0', 'Hello', FR, tuple(chain)))
    assert previewed(preview) == [
        ('misconf', False, False, OutcomeKind.MISCONFIGURED, 'no API key'),
        ('slow', False, False, OutcomeKind.MISCONFIGURED,
         'a request may take 30 s, longer than the 20 s a batch may take: lower its timeout'),
        ('credit', False, False, OutcomeKind.SKIPPED, 'credit 1.00 below the threshold 5.00'),
        ('open', False, False, OutcomeKind.SKIPPED, 'breaker open (after 3 failures)'),
        ('forced', False, False, OutcomeKind.SKIPPED, 'breaker forced open (maintenance)'),
        ('paused', False, False, OutcomeKind.SKIPPED, 'paused by the provider until 12:00:30 UTC'),
        ('A', True, False, None, ''),
        ('B', True, False, None, ''),
    ]
    assert preview.sender.account.account_id == 'A'
    assert preview.hold_until is None
    assert all(client.calls == [] for client in clients.values())
    assert {name: store.load(name) for name in clients} == before


def test_preview_gives_the_skip_reasons_a_dispatch_records(store):
    store.update('open', state=OPEN, opened_at=datetime.now(timezone.utc), open_count=1, failure_count=2)
    chain = (handle(FakeClient('misconf', problem='no sender')),
             handle(FakeClient('credit'), unavailable_reason='low credit'),
             handle(FakeClient('open'), breaker_for(store, 'open')),
             handle(FakeClient('A')))
    preview = Dispatcher().preview(QueuedSms('m0', 'Hello', FR, chain))
    _, verdicts = dispatch([QueuedSms('m0', 'Hello', FR, chain)])
    assert [(s.account.account_id, s.kind, s.reason) for s in preview.steps[:3]] == [
        (a.account.account_id, a.outcome.kind, a.outcome.reason) for a in verdicts['m0'].attempts[:3]]
    assert preview.sender.account is verdicts['m0'].accepted_by


def test_preview_of_a_due_probe_takes_no_lease(store):
    clock = _open_for_probe(store)
    a = FakeClient('A')
    chain = (handle(a, breaker_for(store, 'A', fail_max=1, clock=clock)), handle(FakeClient('B')))
    preview = Dispatcher().preview(QueuedSms('m0', 'Hello', FR, chain))
    assert preview.sender.account.account_id == 'A' and preview.sender.probe
    assert preview.steps[1].admitted and not preview.steps[1].probe
    state = store.load('A')
    assert (state.state, state.probe_owner, state.probe_until) == (OPEN, None, None)
    assert a.calls == []


def test_preview_when_no_account_would_send(store):
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    store.update('A', state=OPEN, opened_at=now - timedelta(seconds=10), open_count=1)
    chain = (handle(FakeClient('A'), breaker_for(store, 'A', cooldown=60, clock=lambda: now)),
             handle(FakeClient('B', problem='no API key')))
    message = QueuedSms('m0', 'Hello', FR, chain)
    preview = Dispatcher(hold=True, retry_delay=600, wall_clock=lambda: now).preview(message)
    assert preview.sender is None
    assert preview.hold_until == now + timedelta(seconds=50), 'the end of the cool-down of A'
    # As the dispatch would hold it.
    _, verdicts = dispatch([message], hold=True, retry_delay=600, wall_clock=lambda: now)
    assert verdicts['m0'].hold_until == preview.hold_until
    # Without holding, or with an empty chain, it waits for nothing.
    assert Dispatcher(wall_clock=lambda: now).preview(message).hold_until is None
    assert Dispatcher(hold=True).preview(QueuedSms('m1', 'Hello', FR, ())) == ChainPreview([])
