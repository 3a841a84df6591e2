"""Delivery quality and the quality breaker (engine/quality.py): figures over the sliding
window, ejection on the floor and as an outlier, cool-down, probe, restoration, the
maximum ejection share and the panic rule, and the skipped handle in a dispatch."""
from datetime import datetime, timedelta, timezone

import pytest

from addons.sms_router.engine.dispatcher import Dispatcher
from addons.sms_router.engine.outcomes import OutcomeKind
from addons.sms_router.engine.quality import (
    CAUSE_FLOOR, CAUSE_OUTLIER, CAUSE_PROBE, DELIVERED, EVENT_EJECTED, EVENT_PROBE_FAILED, EVENT_RESTORED,
    PENDING, STATE_EJECTED, STATE_OK, STATE_PROBING, UNDELIVERED, ChainQuality, QualitySettings, QualityState,
    SentSms, cooldown_for, judge, measure, outlier_threshold, percent, skip_reason, skipped_handle,
)
from addons.sms_router.engine.reasons import render

from test_dispatcher import GB, FakeClient, handle, kinds, messages

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)
SETTINGS = QualitySettings(window_size=50, window_hours=24, no_report_delay=3600, floor=0.8, min_sample=20,
                           cooldown=600, probe_size=5)


def history(delivered, undelivered, pending=0, minutes_apart=1, start=None, latency=100, delay=30):
    """SMS sent one every ``minutes_apart`` minutes back from ``start`` (newest first): the
    delivered ones first, then the undelivered, then the pending (oldest)."""
    start = start or NOW - timedelta(minutes=1)
    states = [DELIVERED] * delivered + [UNDELIVERED] * undelivered + [PENDING] * pending
    sent = []
    for index, state in enumerate(states):
        at = start - timedelta(minutes=index * minutes_apart)
        sent.append(SentSms(at, state, at + timedelta(seconds=delay) if state != PENDING else None, latency))
    return sent


# ------------------------------------------------------------------ figures

@pytest.mark.parametrize('delivered, undelivered, pending, size, hours, rate, sample, no_report, due', [
    (40, 10, 0, 50, 24, 0.8, 50, 0, 0),
    # The window keeps the last 50 reported SMS: the 30 oldest (undelivered) fall out.
    (50, 30, 0, 50, 24, 1.0, 50, 0, 0),
    # No size limit: every reported SMS of the last 24 h; those sent 60 min ago or more are due.
    (50, 30, 0, 0, 24, 50 / 80, 80, 0, 21),
    # The last hour only: sent 1 to 60 minutes ago.
    (100, 0, 0, 0, 1, 1.0, 60, 0, 1),
    # Unreported SMS older than the delay (1 h) count as "no report".
    (10, 0, 70, 50, 24, 1.0, 10, 21, 21),
    # Nothing reported: no rate.
    (0, 0, 5, 50, 24, None, 0, 0, 0),
])
def test_figures_over_the_window(delivered, undelivered, pending, size, hours, rate, sample, no_report, due):
    settings = QualitySettings(window_size=size, window_hours=hours, no_report_delay=3600)
    figures = measure(history(delivered, undelivered, pending), settings, NOW)
    assert figures.delivery_rate == (pytest.approx(rate) if rate is not None else None)
    assert figures.sample == sample
    assert (figures.no_report, figures.due) == (no_report, due)


def test_figures_medians_and_since():
    sent = [SentSms(NOW - timedelta(minutes=10), DELIVERED, NOW - timedelta(minutes=10) + timedelta(seconds=5), 80),
            SentSms(NOW - timedelta(minutes=9), DELIVERED, NOW - timedelta(minutes=9) + timedelta(seconds=15), 120),
            SentSms(NOW - timedelta(minutes=8), UNDELIVERED, NOW - timedelta(minutes=8) + timedelta(seconds=60), 400)]
    figures = measure(sent, SETTINGS, NOW)
    assert figures.median_report_delay == 15
    assert figures.latency_p50_ms == 120
    assert figures.delivery_rate == pytest.approx(2 / 3)
    later = measure(sent, SETTINGS, NOW, since=NOW - timedelta(minutes=9))
    assert (later.sample, later.delivered) == (2, 1)


# ------------------------------------------------------------------ the breaker's decision

OK = QualityState()


@pytest.mark.parametrize('delivered, undelivered, outliers, peers, event, cause', [
    # Below the floor with the minimum sample: ejected.
    (19, 31, False, (), EVENT_EJECTED, CAUSE_FLOOR),
    # Below the floor but too few reported SMS: judged later.
    (5, 10, False, (), '', ''),
    # At the floor: kept.
    (40, 10, False, (), '', ''),
    # Above the floor, outlier detection off: kept whatever the others do.
    (41, 9, False, (0.99, 0.98, 0.99), '', ''),
    # Above the floor, an outlier against the other accounts of its routes: ejected.
    (41, 9, True, (0.99, 0.98, 0.99, 0.985), EVENT_EJECTED, CAUSE_OUTLIER),
    (41, 9, True, (0.99, 0.98), EVENT_EJECTED, CAUSE_OUTLIER),
    # Outlier detection needs 3 accounts with the minimum sample, itself included.
    (41, 9, True, (0.99,), '', ''),
    # The others as poor as it: no outlier.
    (41, 9, True, (0.83, 0.84), '', ''),
    # The others all at 90 % (no spread): 82 % is less than 10 points below, no outlier.
    (41, 9, True, (0.9, 0.9, 0.9), '', ''),
])
def test_judge_ok_account(delivered, undelivered, outliers, peers, event, cause):
    settings = QualitySettings(floor=0.8, min_sample=20, outliers=outliers, cooldown=600)
    figures = measure(history(delivered, undelivered), settings, NOW)
    judgement = judge(OK, figures, settings, NOW, peer_rates=peers)
    assert judgement.event == event
    assert judgement.state.cause == cause
    if event:
        assert judgement.state.state == STATE_EJECTED
        assert judgement.state.ejected_until == NOW + timedelta(seconds=600)
        assert judgement.state.sample == delivered + undelivered
    else:
        assert judgement.state == OK


def test_outlier_threshold_against_the_other_accounts():
    others = [0.99, 0.98, 0.99, 0.985]
    threshold, mean = outlier_threshold(others, QualitySettings(outlier_stdev_factor=1.9))
    assert mean == pytest.approx(sum(others) / 4)
    # Envoy's factor on their spread, but at least 10 points below their mean.
    assert threshold == pytest.approx(mean - 0.1)
    spread = [0.99, 0.7, 0.95]
    threshold, mean = outlier_threshold(spread, QualitySettings(outlier_stdev_factor=1.9))
    assert threshold < mean - 0.1
    assert outlier_threshold([0.9], QualitySettings()) == (None, None)


def test_breaker_off_never_ejects_and_restores_what_it_had():
    settings = QualitySettings(enabled=False, floor=0.8)
    figures = measure(history(0, 50), settings, NOW)
    assert judge(OK, figures, settings, NOW).state == OK
    ejected = QualityState(STATE_EJECTED, NOW + timedelta(minutes=5), 1)
    judgement = judge(ejected, figures, settings, NOW)
    assert (judgement.state.state, judgement.event) == (STATE_OK, EVENT_RESTORED)


def test_cool_down_then_probe_then_restore():
    ejected = judge(OK, measure(history(10, 40), SETTINGS, NOW), SETTINGS, NOW).state
    until = ejected.ejected_until
    # During the cool-down: unchanged.
    assert judge(ejected, measure([], SETTINGS, NOW), SETTINGS, until - timedelta(seconds=1)).state == ejected
    # After it: probing, counting from the end of the cool-down.
    probing = judge(ejected, measure([], SETTINGS, until), SETTINGS, until).state
    assert (probing.state, probing.since) == (STATE_PROBING, until)
    assert ejected.at(until) == probing and ejected.at(until - timedelta(seconds=1)) == ejected
    # Three probe SMS reported: not enough to judge.
    later = until + timedelta(minutes=3)
    probes = history(3, 0, minutes_apart=0.1, start=later - timedelta(seconds=30))
    assert judge(probing, measure(probes, SETTINGS, later, since=until), SETTINGS, later).state == probing
    # Five delivered: restored, its figures counted from the probe.
    probes = history(5, 0, minutes_apart=0.1, start=later - timedelta(seconds=30))
    judgement = judge(probing, measure(probes, SETTINGS, later, since=until), SETTINGS, later)
    assert judgement.event == EVENT_RESTORED
    assert (judgement.state.state, judgement.state.since, judgement.state.ejection_count) == (STATE_OK, until, 0)


def test_failed_probe_ejects_again_for_longer():
    ejected = judge(OK, measure(history(10, 40), SETTINGS, NOW), SETTINGS, NOW).state
    probing = QualityState(STATE_PROBING, ejected.ejected_until, 1, since=ejected.ejected_until)
    later = ejected.ejected_until + timedelta(minutes=3)
    probes = history(2, 3, minutes_apart=0.1, start=later - timedelta(seconds=30))
    judgement = judge(probing, measure(probes, SETTINGS, later, since=probing.since), SETTINGS, later)
    assert judgement.event == EVENT_PROBE_FAILED
    assert judgement.state.state == STATE_EJECTED
    assert judgement.state.cause == CAUSE_PROBE
    assert judgement.state.ejection_count == 2
    assert judgement.state.ejected_until == later + timedelta(seconds=1200)


def test_unreported_probes_count_as_undelivered_after_the_delay():
    probing = QualityState(STATE_PROBING, NOW - timedelta(hours=2), 1, since=NOW - timedelta(hours=2))
    probes = history(1, 0, pending=4, minutes_apart=1, start=NOW - timedelta(minutes=90))
    judgement = judge(probing, measure(probes, SETTINGS, NOW, since=probing.since), SETTINGS, NOW)
    assert judgement.event == EVENT_PROBE_FAILED


@pytest.mark.parametrize('count, factor', [(1, 1), (2, 2), (3, 3), (8, 8), (20, 8)])
def test_cool_down_grows_with_consecutive_ejections(count, factor):
    assert cooldown_for(count, SETTINGS) == 600 * factor


# ------------------------------------------------------------------ at send time

EJECTED = QualityState(STATE_EJECTED, NOW + timedelta(minutes=10), 1, cause=CAUSE_FLOOR, rate=0.38, sample=50,
                       threshold=0.8)


def quality(states, probes=None, rates=None, **settings):
    return ChainQuality(QualitySettings(**{'probe_size': 2, **settings}), states, dict(probes or {}),
                        dict(rates or {}))


@pytest.mark.parametrize('chain, ejected, share, skipped', [
    # One of two ejected: skipped.
    (('A', 'B'), {'A': 0.38}, 0.5, {'A'}),
    # Both ejected: panic, by order.
    (('A', 'B'), {'A': 0.38, 'B': 0.5}, 0.5, set()),
    # Alone in its chain: never skipped.
    (('A',), {'A': 0.1}, 0.5, set()),
    # Two of three ejected, at most half: the worst one only.
    (('A', 'B', 'C'), {'A': 0.6, 'B': 0.3}, 0.5, {'B'}),
    # Two of four, at most half: both.
    (('A', 'B', 'C', 'D'), {'A': 0.6, 'B': 0.3}, 0.5, {'A', 'B'}),
    # A share of 10 % still ejects one (Envoy: at least one host).
    (('A', 'B', 'C'), {'C': 0.2}, 0.1, {'C'}),
    # Ejected for another destination only: not skipped.
    (('A', 'B'), {}, 0.5, set()),
])
def test_max_ejection_share_and_panic(chain, ejected, share, skipped):
    states = {(account, 'FR'): EJECTED for account in ejected}
    rates = {(account, 'FR'): rate for account, rate in ejected.items()}
    assert set(quality(states, rates=rates, max_ejection_share=share).skipped(chain, 'FR', NOW)) == skipped


def test_probe_lets_a_few_sms_through():
    probing = QualityState(STATE_EJECTED, NOW - timedelta(seconds=1), 1, cause=CAUSE_FLOOR, rate=0.38, sample=50,
                           threshold=0.8)
    gate = quality({('A', 'FR'): probing}, probes={('A', 'FR'): 1})
    assert gate.skipped(('A', 'B'), 'FR', NOW) == {}
    gate.take_probe('A', 'FR', NOW)
    assert gate.skipped(('A', 'B'), 'FR', NOW) == {'A': STATE_PROBING}
    # Another destination is not concerned.
    assert gate.skipped(('A', 'B'), 'BE', NOW) == {}


def test_skip_reason_names_rate_country_sample_and_floor():
    reason = skip_reason(EJECTED, 'France', '2026-11-27 12:10 UTC')
    assert reason == ('delivery 38% to France over the last 50 reported SMS, below 80%; skipped for this '
                      'destination until 2026-11-27 12:10 UTC')
    outlier = QualityState(STATE_EJECTED, NOW, 1, cause=CAUSE_OUTLIER, rate=0.82, sample=50, threshold=0.9,
                           mean=0.95)
    assert 'outlier' in skip_reason(outlier, 'France', '-')
    french = {'delivery %(rate)s to %(country)s over the last %(sample)s reported SMS, below %(threshold)s':
              'livraison %(rate)s vers %(country)s sur les %(sample)s derniers SMS avec rapport, sous %(threshold)s'}
    assert render(reason, lambda template, module: french.get(template)).startswith('livraison 38% vers France')
    assert percent(0.375) == '38%'


def test_skipped_handle_fails_over_for_its_destination_only():
    first, second = FakeClient('A'), FakeClient('B')
    a, b = handle(first), handle(second)
    skipped = skipped_handle(a, 'FR', skip_reason(EJECTED, 'France', 'later'))
    batch = messages(3, (skipped, b), prefix='fr') + messages(2, (a, b), destination=GB, prefix='gb')
    verdicts = Dispatcher().dispatch(batch)
    for key in ('fr0', 'fr1', 'fr2'):
        assert kinds(verdicts[key]) == [('A', OutcomeKind.SKIPPED), ('B', OutcomeKind.SENT)]
        assert verdicts[key].attempts[0].outcome.reason.startswith('delivery 38% to France')
    for key in ('gb0', 'gb1'):
        assert kinds(verdicts[key]) == [('A', OutcomeKind.SENT)]
    assert sorted(first.keys) == ['gb0', 'gb1']
    assert sorted(second.keys) == ['fr0', 'fr1', 'fr2']
    assert skipped != a and hash(skipped) != hash(a)
    assert skipped == skipped_handle(a, 'FR', 'other reason')
