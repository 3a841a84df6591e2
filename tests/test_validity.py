"""Validity periods in the engine: an SMS is never handed to a provider after its expiry,
and providers that take a validity get the time left (engine/validity.py)."""
from datetime import datetime, timedelta, timezone

import pytest

from addons.sms_router.engine.breakers import CLOSED, MemoryBreakerStore
from addons.sms_router.engine.dispatcher import AT_MOST_ONCE, Dispatcher, QueuedSms
from addons.sms_router.engine.outcomes import OutcomeKind, Recipient, SendRequest
from addons.sms_router.engine.reasons import render
from addons.sms_router.engine.validity import (
    expiry_reason, format_validity, is_expired, within_validity,
)
from addons.sms_router_ovh.tools.ovh_client import OvhClient
from addons.sms_router_sweego.tools.sweego_client import SweegoClient
from addons.sms_router_twilio.tools.twilio_client import TwilioClient

from test_dispatcher import FR, FakeClient, WallClock, breaker_for, handle, kinds

T0 = datetime(2026, 11, 26, 22, 0, 0, tzinfo=timezone.utc)


def Clock(now=T0):  # noqa: N802 - used as a class
    """The dispatcher's wall clock, moved by the tests (and by fake providers)."""
    return WallClock(now)


def sms(key, chain, expires_in=None, validity=300, body='Your code is 1234', marketing=False):
    expires_at = T0 + timedelta(seconds=expires_in) if expires_in is not None else None
    return QueuedSms(key, body, FR, tuple(chain), marketing, expires_at=expires_at,
                     validity=validity if expires_at else None)


def dispatch(messages, clock=None, **kwargs):
    dispatcher = Dispatcher(wall_clock=clock or Clock(), **kwargs)
    return dispatcher, dispatcher.dispatch(messages)


class ValidityClient(FakeClient):
    """A fake provider that takes a validity, like Twilio (seconds) or OVH (minutes)."""

    def __init__(self, name, validity_range=(1, 36000), **kwargs):
        super().__init__(name, **kwargs)
        self.validity_range = validity_range


# ------------------------------------------------------------------ expiry, no provider call

def test_expired_before_the_dispatch_ends_expired_without_any_call():
    a = FakeClient('A')
    dispatcher, verdicts = dispatch([sms('m0', [handle(a)], expires_in=0)])
    verdict = verdicts['m0']
    assert verdict.outcome.kind is OutcomeKind.EXPIRED
    assert verdict.attempts == [] and not verdict.sent and not verdict.held and not verdict.deferred
    assert verdict.outcome.core_failure_type == 'sms_expired'
    assert str(verdict.outcome.reason) == ('not accepted by any provider within its validity of 5 min '
                                           '(queued at 2026-11-26 21:55:00 UTC)')
    assert a.calls == [] and dispatcher.requests_made == 0


def test_not_yet_expired_is_sent_and_sms_without_validity_are_untouched():
    a = FakeClient('A')
    _, verdicts = dispatch([sms('m0', [handle(a)], expires_in=1), sms('m1', [handle(a)])])
    assert verdicts['m0'].sent and verdicts['m1'].sent
    assert sorted(a.keys) == ['m0', 'm1']


def test_expiry_mid_failover_stops_before_the_next_account():
    clock = Clock()
    store = MemoryBreakerStore()

    def outage(client, request):
        clock.advance(301)      # the first provider took the SMS's whole validity to fail

    a = FakeClient('A', OutcomeKind.PROVIDER, on_send=outage)
    b = FakeClient('B')
    breaker_b = breaker_for(store, 'B', fail_max=1)
    dispatcher, verdicts = dispatch([sms('m0', [handle(a), handle(b, breaker_b)], expires_in=300)], clock)
    verdict = verdicts['m0']
    assert verdict.outcome.kind is OutcomeKind.EXPIRED
    # The trail: A failed, B was where it expired, without a request.
    assert kinds(verdict) == [('A', OutcomeKind.PROVIDER), ('B', OutcomeKind.EXPIRED)]
    assert verdict.attempts[-1].duration == 0
    assert b.calls == [] and dispatcher.requests_made == 1
    # Expiry says nothing about the provider: no breaker counts it, no hold, no failover.
    assert (store.load('B') is None or (store.load('B').state, store.load('B').failure_count) == (CLOSED, 0))


def test_expiry_is_final_even_when_the_dispatcher_holds():
    clock = Clock()
    a = FakeClient('A', OutcomeKind.PROVIDER, on_send=lambda client, request: clock.advance(400))
    _, verdicts = dispatch([sms('m0', [handle(a), handle(FakeClient('B'))], expires_in=300)], clock, hold=True)
    verdict = verdicts['m0']
    assert verdict.outcome.kind is OutcomeKind.EXPIRED
    assert not verdict.held and verdict.hold_until is None


def test_request_waiting_for_its_turn_expires_without_being_sent():
    # One request at a time: the second request waits while the first takes 10 s; its SMS
    # expires in between and must not leave (the check is right before the call).
    clock = Clock()
    a = FakeClient('A', on_send=lambda client, request: clock.advance(10))
    first = sms('m0', [handle(a, max_concurrency=1)], expires_in=300, body='first')
    second = sms('m1', [handle(a, max_concurrency=1)], expires_in=5, body='second')
    dispatcher, verdicts = dispatch([first, second], clock)
    assert verdicts['m0'].sent
    assert verdicts['m1'].outcome.kind is OutcomeKind.EXPIRED
    assert kinds(verdicts['m1']) == [('A', OutcomeKind.EXPIRED)]
    assert a.keys == ['m0'] and dispatcher.requests_made == 1


def test_expired_recipients_leave_a_shared_request_the_others_are_sent():
    clock = Clock(T0 + timedelta(seconds=100))
    a = FakeClient('A', max_recipients=10)
    messages = [sms('m0', [handle(a)], expires_in=300), sms('m1', [handle(a)], expires_in=101),
                sms('m2', [handle(a)])]
    # m1 has 1 s left when the dispatch starts; it expires while the request is built.
    clock_calls = []

    def wall_clock():
        clock_calls.append(1)
        return clock.now if len(clock_calls) < 5 else clock.now + timedelta(seconds=2)

    dispatcher = Dispatcher(wall_clock=wall_clock)
    verdicts = dispatcher.dispatch(messages)
    assert verdicts['m0'].sent and verdicts['m2'].sent
    assert verdicts['m1'].outcome.kind is OutcomeKind.EXPIRED
    assert len(a.calls) == 1 and sorted(a.keys) == ['m0', 'm2']


def test_expired_probe_sms_leaves_the_breaker_untouched():
    store = MemoryBreakerStore()
    a = FakeClient('A')
    breaker = breaker_for(store, 'A', fail_max=1)
    breaker.record(healthy=False, reason='down')
    _, verdicts = dispatch([sms('m0', [handle(a, breaker)], expires_in=-1)])
    assert verdicts['m0'].outcome.kind is OutcomeKind.EXPIRED and a.calls == []


def test_probe_sms_expiring_right_before_its_call_gives_the_lease_back():
    # The probe SMS expires between the round's admission and its call (_timed_send): no
    # request is made, the breaker is open again with its probe due, not leased for 60 s.
    store = MemoryBreakerStore()
    breaker = breaker_for(store, 'A', fail_max=1, cooldown=0)
    breaker.record(healthy=False, reason='down')
    a = FakeClient('A')
    calls = []

    def wall_clock():           # the dispatch start and _expire see it valid, the call not
        calls.append(1)
        return T0 if len(calls) <= 2 else T0 + timedelta(seconds=10)

    verdicts = Dispatcher(wall_clock=wall_clock).dispatch([sms('m0', [handle(a, breaker)], expires_in=5)])
    assert verdicts['m0'].outcome.kind is OutcomeKind.EXPIRED and a.calls == []
    state = store.load('A')
    assert (state.state, state.probe_owner, state.probe_until) == ('open', None, None)
    assert breaker_for(store, 'A', fail_max=1, cooldown=0).admit().probe


def test_probe_answered_only_expired_gives_the_lease_back():
    store = MemoryBreakerStore()
    breaker = breaker_for(store, 'A', fail_max=1, cooldown=0)
    breaker.record(healthy=False, reason='down')
    a = FakeClient('A', OutcomeKind.EXPIRED)   # the provider answers only "expired"
    verdicts = Dispatcher().dispatch([sms('m0', [handle(a, breaker)])])
    assert verdicts['m0'].outcome.kind is OutcomeKind.EXPIRED and len(a.calls) == 1
    assert store.load('A').probe_owner is None and store.load('A').state == 'open'


def test_expired_under_at_most_once_is_not_journaled():
    handoffs = []
    a = FakeClient('A')
    dispatch([sms('m0', [handle(a)], expires_in=0)], timeout_policy=AT_MOST_ONCE,
             on_handoff=lambda account, request: handoffs.append(request))
    assert handoffs == [] and a.calls == []


# ---------------------------------------------------------------- remaining validity

def test_remaining_validity_is_passed_rounded_down_smallest_of_the_request():
    clock = Clock(T0 + timedelta(seconds=0.3))
    a = ValidityClient('A', max_recipients=10)
    messages = [sms('m0', [handle(a)], expires_in=300), sms('m1', [handle(a)], expires_in=200.9)]
    dispatch(messages, clock)
    assert len(a.calls) == 1
    # 299.7 s and 200.6 s left: 200 (the smallest, rounded down).
    assert a.calls[0].validity == 200


def test_remaining_validity_is_capped_at_the_provider_maximum():
    a = ValidityClient('A', validity_range=(1, 36000))
    dispatch([sms('m0', [handle(a)], expires_in=48 * 3600, validity=48 * 3600)])
    assert a.calls[0].validity == 36000


def test_no_validity_for_providers_that_take_none_or_sms_without_one():
    a = FakeClient('A')                                   # like Sweego and Odoo IAP
    b = ValidityClient('B')
    dispatch([sms('m0', [handle(a)], expires_in=300)])
    dispatch([sms('m1', [handle(b)])])
    assert a.calls[0].validity is None and b.calls[0].validity is None


def test_less_left_than_the_provider_minimum_skips_that_account_for_the_next_one():
    # OVH counts in whole minutes: 59 s left cannot be said, so OVH is skipped for that SMS
    # (not sent with a longer validity); Twilio (1 s minimum) takes it within its validity.
    store = MemoryBreakerStore()
    ovh_like = ValidityClient('OVH', validity_range=(60, None))
    twilio_like = ValidityClient('Twilio', validity_range=(1, 36000))
    dispatcher, verdicts = dispatch([sms('m0', [handle(ovh_like, breaker_for(store, 'OVH', fail_max=1)),
                                                handle(twilio_like)], expires_in=59.5)])
    verdict = verdicts['m0']
    assert verdict.sent and verdict.accepted_by.account_id == 'Twilio'
    assert kinds(verdict) == [('OVH', OutcomeKind.SKIPPED), ('Twilio', OutcomeKind.SENT)]
    assert str(verdict.attempts[0].outcome.reason) == 'less validity left than OVH accepts (60 s)'
    assert ovh_like.calls == [] and twilio_like.calls[0].validity == 59
    assert dispatcher.requests_made == 1
    # The skip says nothing about OVH: its breaker counted nothing.
    assert (store.load('OVH').state, store.load('OVH').failure_count) == (CLOSED, 0)


def test_less_left_than_the_provider_minimum_expires_when_no_later_account_takes_it():
    ovh_like = ValidityClient('OVH', validity_range=(60, None))
    other = FakeClient('Other')
    for hold in (False, True):
        dispatcher, verdicts = dispatch([sms('m0', [handle(ovh_like)], expires_in=59.5),
                                         sms('m1', [handle(other)], expires_in=59.5)], hold=hold)
        verdict = verdicts['m0']
        assert verdict.outcome.kind is OutcomeKind.EXPIRED and not verdict.held
        assert verdict.outcome.core_failure_type == 'sms_expired'
        assert 'less validity left than OVH accepts (60 s)' in str(verdict.outcome.reason)
        assert verdicts['m1'].sent and dispatcher.requests_made == 1
    assert ovh_like.calls == []


def test_after_a_too_short_skip_a_later_provider_failure_is_held_not_expired():
    # 59 s left: OVH is skipped, Twilio fails now but may recover within the validity.
    ovh_like = ValidityClient('OVH', validity_range=(60, None))
    down = ValidityClient('Twilio', script=OutcomeKind.PROVIDER)
    _, verdicts = dispatch([sms('m0', [handle(ovh_like), handle(down)], expires_in=59.5)], hold=True)
    assert verdicts['m0'].held and verdicts['m0'].outcome.kind is OutcomeKind.PROVIDER


def test_too_short_probe_gives_the_probe_lease_back():
    # The half-open probe SMS skips OVH (too little validity left): no request was made for
    # the probe, so the lease is given back at once instead of locking the account out.
    store = MemoryBreakerStore()
    breaker = breaker_for(store, 'OVH', fail_max=1, cooldown=0)
    breaker.record(healthy=False, reason='down')
    ovh_like = ValidityClient('OVH', validity_range=(60, None))
    _, verdicts = dispatch([sms('m0', [handle(ovh_like, breaker), handle(FakeClient('Twilio'))],
                                expires_in=59.5)])
    assert verdicts['m0'].sent and ovh_like.calls == []
    state = store.load('OVH')
    assert (state.state, state.probe_owner) == ('open', None)


def test_validity_reaches_the_second_account_after_a_failover():
    clock = Clock()
    a = FakeClient('A', OutcomeKind.PROVIDER, on_send=lambda client, request: clock.advance(100))
    b = ValidityClient('B')
    _, verdicts = dispatch([sms('m0', [handle(a), handle(b)], expires_in=300)], clock)
    assert verdicts['m0'].sent
    assert b.calls[0].validity == 200


# ------------------------------------------------------------------------- helpers

def test_within_validity_splits_and_keeps_other_fields():
    recipients = (Recipient('a', '+33612345678', 'FR'), Recipient('b', '+33612345679', 'FR'),
                  Recipient('c', '+33612345670', 'FR'))
    request = SendRequest('Hi', recipients, marketing=True)
    expiries = {'a': (T0 + timedelta(seconds=90.9), 120), 'b': (T0, 120)}
    kept, expired = within_validity(request, expiries, T0, (60, None))
    assert [r.key for r in kept.recipients] == ['a', 'c']
    assert kept.validity == 90 and kept.marketing and kept.body == 'Hi'
    assert set(expired.outcomes) == {'b'} and expired.outcomes['b'].kind is OutcomeKind.EXPIRED
    # Nothing to do: the same request, no result.
    same, none = within_validity(request, {}, T0, (60, None))
    assert same is request and none is None


def test_outcome_kind_expired():
    assert OutcomeKind.EXPIRED.is_final
    assert not OutcomeKind.EXPIRED.counts_against_breaker
    assert str(OutcomeKind.EXPIRED.label) == 'expired'


@pytest.mark.parametrize('seconds, text', [(300, '5 min'), (3600, '1 h'), (9000, '2 h 30 min'), (120, '2 min')])
def test_format_validity(seconds, text):
    assert format_validity(seconds) == text


def test_expiry_reason_is_translatable_with_its_values():
    reason = expiry_reason(T0, 7200)
    assert str(reason) == ('not accepted by any provider within its validity of 2 h '
                           '(queued at 2026-11-26 20:00:00 UTC)')
    french = {'not accepted by any provider within its validity of %(validity)s (queued at %(queued_at)s UTC)':
              "accepté par aucun fournisseur dans sa validité de %(validity)s (mis en file à %(queued_at)s UTC)"}
    assert render(reason, lambda template, module: french.get(template, template)).startswith(
        'accepté par aucun fournisseur dans sa validité de 2 h')


def test_is_expired():
    assert is_expired(T0, T0) and is_expired(T0, T0 + timedelta(seconds=1))
    assert not is_expired(T0, T0 - timedelta(seconds=1)) and not is_expired(None, T0)


def test_provider_clients_declare_their_validity():
    assert TwilioClient.validity_range == (1, 36000)       # ValidityPeriod, seconds
    assert OvhClient.validity_range == (60, None)          # validityPeriod, minutes
    assert SweegoClient.validity_range is None             # no validity in Sweego's send API
