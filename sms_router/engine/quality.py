"""Delivery quality of an account for a destination country, and the quality breaker.

A provider can answer every request with 200 and then not deliver. The circuit breakers
(engine/breakers.py) see only the answers; this module reads the delivery reports. Per
account and destination country, over a sliding window (the last ``window_size`` reported
SMS and/or the SMS sent in the last ``window_hours``):

- delivery rate: delivered / (delivered + undelivered), over the reported SMS;
- no-report share: the accepted SMS older than ``no_report_delay`` still without a report;
- median time to the delivery report, median request latency.

The quality breaker ejects an account for a destination, for a cool-down, then probes it
(lets ``probe_size`` SMS through) and restores it or ejects it again. It follows Envoy's
outlier detection (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/
outlier, ``config.cluster.v3.OutlierDetection``):

- *failure percentage* ejection: a rate below an absolute ``floor``, once the account has
  ``min_sample`` reported SMS (Envoy's ``failure_percentage_threshold`` and
  ``failure_percentage_request_volume``);
- *success rate* ejection: a rate below ``mean - outlier_stdev_factor * stdev`` of the rates
  of the other accounts sharing its routes for that destination, each with ``min_sample``
  reported SMS, when at least ``outlier_min_hosts`` accounts have it (see
  :func:`outlier_threshold` for why the others only; Envoy's
  ``success_rate_stdev_factor``, 1900 / 1000 = 1.9 by default, and
  ``success_rate_minimum_hosts``, 5 by default: SMS chains are short, 3 here; off by
  default, see QualitySettings);
- the ejection lasts ``cooldown`` times the number of consecutive ejections, at most
  ``MAX_COOLDOWN_FACTOR`` times (Envoy's ``base_ejection_time`` multiplied by the number of
  times the host was ejected, capped by ``max_ejection_time``); a restoration resets it;
- at send time, at most ``max_ejection_share`` of a chain's accounts are skipped, at least
  one when the chain has another account (Envoy's ``max_ejection_percent``: "will eject at
  least one host regardless of the value"); and when every account of the chain is
  ejected, none is skipped: the SMS go by order (Envoy's panic threshold, where a cluster
  with too few healthy hosts balances over all of them). A skipped account is never the
  reason an SMS is lost: the dispatcher fails over to the next account as for any skip.

Envoy sweeps its hosts every ``interval``; here the Odoo side refreshes the figures from a
scheduled action and after delivery reports, and sending only reads the stored result.

Nothing here imports Odoo.
"""
import math
import statistics
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta

from .dispatcher import AccountHandle
from .reasons import _lt

DELIVERED = 'delivered'
UNDELIVERED = 'undelivered'
PENDING = 'pending'

STATE_OK = 'ok'
STATE_EJECTED = 'ejected'
STATE_PROBING = 'probing'

CAUSE_FLOOR = 'floor'
CAUSE_OUTLIER = 'outlier'
CAUSE_PROBE = 'probe'

# Consecutive ejections multiply the cool-down up to this many times.
MAX_COOLDOWN_FACTOR = 8
# An outlier delivers at least this much less than the mean of the other accounts.
MIN_OUTLIER_GAP = 0.1

# Events of a refresh, for the chatter and the alerts.
EVENT_EJECTED = 'ejected'
EVENT_PROBE_FAILED = 'probe_failed'
EVENT_RESTORED = 'restored'


@dataclass(frozen=True)
class QualitySettings:
    """How a company measures and judges delivery quality.

    Defaults are permissive: a floor of 50 % (an account delivering half of its SMS or less
    to a country is broken for that country, not merely worse), outlier detection off (it
    compares providers with each other, which surprises where one is known to be weaker)."""

    window_size: int = 50             # the last N reported SMS (0: no limit)
    window_hours: float = 24.0        # sent in the last H hours (0: no limit)
    no_report_delay: float = 3600.0   # s: an accepted SMS without a report after this counts as unreported
    floor: float = 0.5                # eject below this delivery rate (0: never on the floor)
    min_sample: int = 20              # reported SMS an account needs before it is judged
    outliers: bool = False            # eject outliers against the other accounts of its routes
    outlier_min_hosts: int = 3        # accounts with min_sample needed for outlier detection
    outlier_stdev_factor: float = 1.9
    cooldown: float = 1800.0          # s: first ejection; then times the consecutive ejections
    probe_size: int = 5               # SMS let through after the cool-down, judged on their reports
    max_ejection_share: float = 0.5   # of a chain's accounts skipped at most (at least one)
    enabled: bool = True              # the breaker ejects (the figures are measured anyway)


@dataclass(frozen=True)
class SentSms:
    """One SMS an account accepted: when, what its report said, how long the request took."""

    sent_at: object                   # aware or naive datetime, as ``now``
    delivery_state: str = PENDING     # DELIVERED, UNDELIVERED or PENDING (no report yet)
    reported_at: object = None
    latency_ms: float = None


@dataclass(frozen=True)
class QualityFigures:
    """What one account delivered to one destination over the window."""

    sample: int = 0                   # reported SMS counted (delivered + undelivered)
    delivered: int = 0
    undelivered: int = 0
    sent: int = 0                     # accepted SMS in the window
    no_report: int = 0                # of those, still unreported after the delay
    due: int = 0                      # of those, old enough to be counted as unreported
    delivery_rate: float = None       # 0-1; None without a report
    no_report_share: float = None     # no_report / due; None when none is due
    median_report_delay: float = None  # s from sending to the report
    latency_p50_ms: float = None
    state: str = STATE_OK             # the quality breaker's state, when read from the store

    @property
    def known(self):
        return self.delivery_rate is not None


def measure(sent, settings, now, since=None):
    """QualityFigures of ``sent`` (SentSms of one account to one destination, any order)
    at ``now``, over the window of ``settings``, counting only SMS sent at or after
    ``since`` (the start of a probe: a restored account is judged on what it did since)."""
    horizon = now - timedelta(hours=settings.window_hours) if settings.window_hours else None
    kept = [sms for sms in sent
            if (horizon is None or sms.sent_at >= horizon) and (since is None or sms.sent_at >= since)]
    kept.sort(key=lambda sms: sms.sent_at, reverse=True)
    reported = [sms for sms in kept if sms.delivery_state in (DELIVERED, UNDELIVERED)]
    if settings.window_size:
        reported = reported[:settings.window_size]
        # The other figures cover the same stretch of time as the reported SMS counted.
        if len(reported) == settings.window_size:
            oldest = reported[-1].sent_at
            kept = [sms for sms in kept if sms.sent_at >= oldest]
    delivered = sum(1 for sms in reported if sms.delivery_state == DELIVERED)
    due_before = now - timedelta(seconds=settings.no_report_delay)
    due = [sms for sms in kept if sms.sent_at <= due_before]
    no_report = sum(1 for sms in due if sms.delivery_state not in (DELIVERED, UNDELIVERED))
    delays = [(sms.reported_at - sms.sent_at).total_seconds() for sms in reported if sms.reported_at is not None]
    latencies = [sms.latency_ms for sms in kept if sms.latency_ms is not None]
    return QualityFigures(
        sample=len(reported), delivered=delivered, undelivered=len(reported) - delivered, sent=len(kept),
        no_report=no_report, due=len(due),
        delivery_rate=delivered / len(reported) if reported else None,
        no_report_share=no_report / len(due) if due else None,
        median_report_delay=statistics.median(delays) if delays else None,
        latency_p50_ms=statistics.median(latencies) if latencies else None,
    )


@dataclass(frozen=True)
class QualityState:
    """What the store keeps of the quality breaker for one account and destination."""

    state: str = STATE_OK
    ejected_until: object = None      # end of the cool-down (same kind of datetime as ``now``)
    ejection_count: int = 0           # consecutive ejections (the cool-down grows with it)
    since: object = None              # figures count the SMS sent from here (None: the whole window)
    cause: str = ''                   # CAUSE_* of the last ejection
    rate: float = None                # the delivery rate that ejected it
    sample: int = 0                   # over this many reported SMS
    threshold: float = None           # below this
    mean: float = None                # outliers: the mean rate of the accounts of its routes

    def probing(self, now):
        """Is the cool-down over (the account is being probed)?"""
        return self.state == STATE_PROBING or (
            self.state == STATE_EJECTED and self.ejected_until is not None and self.ejected_until <= now)

    def probe_start(self):
        return self.since if self.state == STATE_PROBING else self.ejected_until

    def at(self, now):
        """This state as it stands at ``now``: probing, counted from the end of the
        cool-down, once the cool-down is over (measure the figures from its ``since``)."""
        if self.state == STATE_EJECTED and self.probing(now):
            return replace(self, state=STATE_PROBING, since=self.ejected_until)
        return self


@dataclass
class Judgement:
    state: QualityState
    event: str = ''                   # EVENT_* when the state changed in a way people are told


def outlier_threshold(peer_rates, settings):
    """(threshold, mean) below which a rate is an outlier against ``peer_rates`` (the rates
    of the *other* accounts of the same routes with ``min_sample`` reported SMS); (None,
    None) with fewer than ``outlier_min_hosts`` accounts judged, the judged one included.

    Envoy computes the mean and standard deviation over every host, the judged one
    included. SMS chains hold 2 to 5 accounts, and among n values none can lie more than
    (n - 1) / sqrt(n) standard deviations below their mean (1.15 for 3, 1.79 for 5): a
    factor of 1.9 would never eject anything. So the judged account is compared with the
    others, and must also be ``MIN_OUTLIER_GAP`` below their mean, so that accounts that
    all deliver well (a spread near 0) do not eject one for a point less."""
    if len(peer_rates) + 1 < max(2, settings.outlier_min_hosts):
        return None, None
    mean = statistics.fmean(peer_rates)
    spread = statistics.pstdev(peer_rates) if len(peer_rates) > 1 else 0.0
    return min(mean - settings.outlier_stdev_factor * spread, mean - MIN_OUTLIER_GAP), mean


def judge(current, figures, settings, now, peer_rates=()):
    """The next QualityState of an account for a destination (``current``) given its
    ``figures`` (measured from ``current.since``) at ``now``, and whether people are told.

    - ok: ejected when it has ``min_sample`` reported SMS and its rate is below the floor,
      or below the outlier threshold of ``peer_rates``, the rates of the other accounts
      of its routes (outlier detection on);
    - ejected, cool-down over: probing, figures counted from the end of the cool-down;
    - probing: judged once ``probe_size`` probe SMS are reported (those unreported after
      ``no_report_delay`` count as undelivered): restored at or above the floor (and not an
      outlier), else ejected again for a longer cool-down.
    With the breaker off (``settings.enabled`` false) every account is ok.
    """
    if not settings.enabled:
        if current.state == STATE_OK:
            return Judgement(current)
        return Judgement(QualityState(since=now), EVENT_RESTORED)
    if current.state == STATE_EJECTED and not current.probing(now):
        return Judgement(current)
    if current.state == STATE_EJECTED:
        current = replace(current, state=STATE_PROBING, since=current.ejected_until)
        # Figures measured before the probe started count nothing of it yet.
        return Judgement(current)
    if current.state == STATE_PROBING:
        counted = figures.sample + figures.no_report
        if counted < max(1, settings.probe_size):
            return Judgement(current)
        rate = figures.delivered / counted
        threshold, mean = outlier_threshold(peer_rates, settings) if settings.outliers else (None, None)
        if rate >= settings.floor and (threshold is None or rate >= threshold):
            return Judgement(QualityState(since=current.since), EVENT_RESTORED)
        return Judgement(_ejected(current, now, settings, CAUSE_PROBE, rate, counted, settings.floor
                                  if rate < settings.floor else threshold, mean), EVENT_PROBE_FAILED)
    if figures.sample < max(1, settings.min_sample) or figures.delivery_rate is None:
        return Judgement(current)
    rate = figures.delivery_rate
    if settings.floor and rate < settings.floor:
        return Judgement(_ejected(current, now, settings, CAUSE_FLOOR, rate, figures.sample, settings.floor),
                         EVENT_EJECTED)
    if settings.outliers:
        threshold, mean = outlier_threshold(peer_rates, settings)
        if threshold is not None and rate < threshold:
            return Judgement(_ejected(current, now, settings, CAUSE_OUTLIER, rate, figures.sample, threshold,
                                      mean), EVENT_EJECTED)
    return Judgement(current)


def cooldown_for(count, settings):
    """Seconds of the ``count``-th consecutive ejection."""
    return settings.cooldown * min(max(1, count), MAX_COOLDOWN_FACTOR)


def _ejected(current, now, settings, cause, rate, sample, threshold, mean=None):
    count = current.ejection_count + 1
    return QualityState(
        state=STATE_EJECTED, ejected_until=now + timedelta(seconds=cooldown_for(count, settings)),
        ejection_count=count, since=current.since, cause=cause, rate=rate, sample=sample, threshold=threshold,
        mean=mean)


def percent(value):
    """'38%' for 0.38 (whole percents: reasons are read, not computed with)."""
    return f'{math.floor(value * 100 + 0.5):.0f}%' if value is not None else '-'


def ejection_reason(state, country):
    """Why an account is skipped for ``country`` (its name): a Reason for the trail."""
    if state.cause == CAUSE_OUTLIER:
        return _lt('delivery %(rate)s to %(country)s over the last %(sample)s reported SMS, below %(threshold)s '
                   '(the mean of the accounts of its routes, %(mean)s, less their spread): an outlier',
                   rate=percent(state.rate), country=country, sample=state.sample,
                   threshold=percent(state.threshold), mean=percent(state.mean))
    if state.cause == CAUSE_PROBE:
        return _lt('delivery %(rate)s to %(country)s over %(sample)s probe SMS, below %(threshold)s',
                   rate=percent(state.rate), country=country, sample=state.sample,
                   threshold=percent(state.threshold))
    return _lt('delivery %(rate)s to %(country)s over the last %(sample)s reported SMS, below %(threshold)s',
               rate=percent(state.rate), country=country, sample=state.sample, threshold=percent(state.threshold))


def skip_reason(state, country, until_text):
    """The reason of a SKIPPED attempt on an ejected account (``until_text``: the end of
    its cool-down, as people read it)."""
    return _lt('%(reason)s; skipped for this destination until %(until)s',
               reason=ejection_reason(state, country), until=until_text)


def probe_wait_reason(country, size):
    return _lt('probing delivery to %(country)s: waiting for the delivery reports of its %(count)s probe SMS',
               country=country, count=size)


@dataclass
class ChainQuality:
    """The quality breaker at send time for one company and batch: which (account,
    destination) pairs are skipped, read once (``states``: {(account id, region):
    QualityState}, only those not ok; ``probes_sent``: {(account id, region): probe SMS
    already accepted}). It counts the probe SMS it lets through, so that a batch sends at
    most ``settings.probe_size`` of them in all."""

    settings: QualitySettings
    states: dict
    probes_sent: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)   # {(account id, region): delivery rate}, to pick the worst

    def ejected(self, account_id, region, now):
        """None when the account may send to ``region`` now (ok, or one of its probe SMS),
        else 'ejected' (cool-down) or 'probing' (its probe SMS are all out)."""
        state = self.states.get((account_id, region))
        if state is None or state.state == STATE_OK:
            return None
        if not state.probing(now):
            return STATE_EJECTED
        if self.probes_sent.get((account_id, region), 0) < max(1, self.settings.probe_size):
            return None
        return STATE_PROBING

    def take_probe(self, account_id, region, now):
        """Count one probe SMS handed to the account (it was let through while probing)."""
        state = self.states.get((account_id, region))
        if state is not None and state.probing(now):
            self.probes_sent[account_id, region] = self.probes_sent.get((account_id, region), 0) + 1

    def skipped(self, chain_ids, region, now):
        """{account id: 'ejected' or 'probing'} of the accounts of ``chain_ids`` (in order)
        to skip for ``region``: at most ``max_ejection_share`` of the chain (at least one
        when another account remains), the worst delivery rates first; none when every
        account of the chain is out (panic: by order)."""
        out = {account_id: why for account_id in chain_ids
               if (why := self.ejected(account_id, region, now)) is not None}
        if not out or len(out) >= len(chain_ids):
            return {}
        allowed = max(1, math.floor(self.settings.max_ejection_share * len(chain_ids) + 1e-9))
        if len(out) > allowed:
            worst = sorted(out, key=lambda account_id: (self.rates.get((account_id, region), 1.0),
                                                        chain_ids.index(account_id)))
            out = {account_id: out[account_id] for account_id in worst[:allowed]}
        return out


class SkippedHandle(AccountHandle):
    """An account as a chain holds it for a destination it is ejected from: the dispatcher
    skips it with ``unavailable_reason`` (a SKIPPED attempt naming the account) and goes on
    with the next account. It is another account for the dispatcher (its own hash), so that
    the same account still sends the SMS of other destinations in the same batch; the
    trail finds the account by its ``account_id``."""

    region = ''

    def __hash__(self):
        return hash((self.account_id, 'quality', self.region))

    def __eq__(self, other):
        return isinstance(other, SkippedHandle) and (other.account_id, other.region) == (self.account_id, self.region)


def skipped_handle(handle, region, reason):
    """A SkippedHandle of ``handle`` for ``region``, skipped with ``reason``: no breaker
    (nothing to admit) nor governor (no request)."""
    values = {spec.name: getattr(handle, spec.name) for spec in fields(AccountHandle)}
    values.update(breaker=None, governor=None, unavailable_reason=reason)
    skipped = SkippedHandle(**values)
    skipped.region = region
    return skipped
