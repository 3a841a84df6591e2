"""Throughput governor: a token bucket per provider account, counted in segments.

Providers bill and throttle in segments; an account may have a rate limit (segments per
second) and a daily cap (segments per day). Before each provider request the dispatcher
asks the account's governor for the request's cost: :meth:`Governor.acquire` answers 0 when
the segments are granted (taken from the bucket at once), else how many seconds to wait
before asking again, as a :class:`Wait` (a float that also says why).

The bucket:

* refills continuously at ``rate`` segments per second, up to its ``capacity`` (the burst);
* ``capacity`` is 0.4 s of the rate (``BURST_SECONDS``). Over any window of W seconds a
  bucket lets through at most ``capacity + rate * W`` segments: with W = 10 s, 0.5 s of
  burst would keep any 10-second window within exactly 5 % of the cap (the usual burst of
  one second of rate would allow 10 %); 0.4 s (4 %) leaves room for what happens between a
  grant and the provider's clock (requests of several workers do not arrive in the order
  and at the moment they were granted). A request costing more than the capacity is split
  by the dispatcher (:meth:`Governor.max_cost`); a single SMS costing more is granted from a
  full bucket, which then goes below zero and pays it back before anything else is granted;
* a *reserve* (``RESERVE_SHARE`` of the capacity) only transactional requests may use:
  marketing waits until its cost plus the reserve is available, so that an OTP arriving in
  the middle of a campaign finds segments at once instead of queueing behind it;
* a provider's ``Retry-After`` pauses the bucket (:meth:`Governor.pause`): every request
  waits until then, in every worker process (the PostgreSQL bucket is shared);
* the daily cap counts the segments granted since midnight in the account's time zone
  (the company's; UTC when it has none). A request that would cross it waits until the next
  midnight.

:class:`MemoryGovernor` keeps the bucket in the process (tests, one process);
``sms_router.models.sms_router_rate_bucket`` keeps it in PostgreSQL with the same rules
(:func:`take`), one statement per request, so that every Odoo worker shares it.

Nothing here imports Odoo.
"""
import math
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, time as day_time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .reasons import _lt

# The burst, in seconds of the rate: see the module's docstring for why 0.4 s.
BURST_SECONDS = 0.4
# Share of the burst that only transactional requests may use.
RESERVE_SHARE = 0.25

TRANSACTIONAL = 0
MARKETING = 1

# Why a request waits.
WAIT_RATE = 'rate'          # the bucket has too few segments: a fraction of a second usually
WAIT_PAUSE = 'pause'        # the provider asked to wait (Retry-After)
WAIT_DAILY = 'daily'        # the daily cap is reached: until midnight
WAIT_FAULT = 'fault'        # the bucket could not be read (database fault): ask again soon


class Wait(float):
    """Seconds to wait before asking again (0: granted), with why (``kind``, one of the
    WAIT_* values, '' when granted)."""

    kind = ''

    def __new__(cls, seconds=0.0, kind=''):
        wait = super().__new__(cls, max(0.0, seconds))
        wait.kind = kind if seconds > 0 else ''
        return wait

    def __repr__(self):
        return f'Wait({float(self):.3f}, {self.kind!r})'


GRANTED = Wait(0.0)


def utcnow():
    return datetime.now(timezone.utc)


def zone(name):
    """The ZoneInfo of ``name``; UTC when empty or unknown."""
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def zone_name(name):
    """``name`` when it is a time zone this machine knows, else 'UTC' (as :func:`zone`): the
    name PostgreSQL is given, so that an unknown one never fails the bucket's statement."""
    return name if name and zone(name) is not timezone.utc else 'UTC'


def next_midnight(now, tz_name):
    """The next midnight in ``tz_name`` after ``now`` (aware), as an aware UTC datetime."""
    local = now.astimezone(zone(tz_name))
    midnight = datetime.combine(local.date() + timedelta(days=1), day_time(0), tzinfo=local.tzinfo)
    return midnight.astimezone(timezone.utc)


@dataclass(frozen=True)
class GovernorSettings:
    """What limits one account; 0 turns a limit off."""

    rate: float = 0.0               # segments per second
    daily_cap: int = 0              # segments per day
    tz: str = 'UTC'                 # where the day of the daily cap starts and ends

    @property
    def active(self):
        return self.rate > 0 or self.daily_cap > 0

    @property
    def capacity(self):
        """The burst: the most the bucket holds (a full bucket when unlimited)."""
        return self.rate * BURST_SECONDS if self.rate > 0 else math.inf

    @property
    def reserve(self):
        return self.capacity * RESERVE_SHARE if self.rate > 0 else 0.0

    def floor(self, priority):
        """Segments that must stay in the bucket after a grant at ``priority``."""
        return self.reserve if priority == MARKETING else 0.0


@dataclass(frozen=True)
class BucketState:
    """What the bucket of one account holds (the PostgreSQL row's columns)."""

    tokens: float = None            # None: never used (a full bucket)
    updated_at: datetime = None     # aware UTC, when ``tokens`` was computed
    day: object = None              # date of ``used_today`` in the settings' time zone
    used_today: float = 0.0         # segments granted that day
    paused_until: datetime = None   # aware UTC: nothing is granted before


def take(state, settings, cost, priority, now):
    """Ask ``state`` for ``cost`` segments at ``now``: (new BucketState, Wait).

    The rule the PostgreSQL statement applies too: refill, then grant when the bucket is
    not paused, the daily cap allows the cost, and at least ``cost`` plus the priority's
    floor is available (a full bucket grants a cost larger than it holds, going below zero).
    """
    cost = float(cost)
    day = now.astimezone(zone(settings.tz)).date()
    used = state.used_today if state.day == day else 0.0
    capacity = settings.capacity
    if state.tokens is None or state.updated_at is None:
        refilled = capacity
    else:
        elapsed = max(0.0, (now - state.updated_at).total_seconds())
        refilled = min(capacity, state.tokens + settings.rate * elapsed) if settings.rate > 0 else capacity
    updated = replace(state, tokens=refilled if refilled != math.inf else None,
                      updated_at=max(now, state.updated_at) if state.updated_at else now,
                      day=day, used_today=used)
    if state.paused_until and state.paused_until > now:
        return updated, Wait((state.paused_until - now).total_seconds(), WAIT_PAUSE)
    if settings.daily_cap > 0 and used + cost > settings.daily_cap:
        return updated, Wait((next_midnight(now, settings.tz) - now).total_seconds(), WAIT_DAILY)
    if settings.rate > 0:
        needed = min(cost + settings.floor(priority), capacity)
        if refilled < needed:
            return updated, Wait((needed - refilled) / settings.rate, WAIT_RATE)
        updated = replace(updated, tokens=refilled - cost)
    return replace(updated, used_today=used + cost), GRANTED


class Governor:
    """The interface the dispatcher uses; one per account (see AccountHandle.governor).

    ``acquire`` and ``pause`` may be called from the dispatching thread only."""

    settings = GovernorSettings()

    def acquire(self, cost, priority=TRANSACTIONAL):
        """Take ``cost`` segments for a request of ``priority`` (TRANSACTIONAL or MARKETING);
        return 0 when granted, else a :class:`Wait` in seconds before asking again."""
        raise NotImplementedError

    def pause(self, seconds):
        """The provider asked to wait ``seconds`` (Retry-After): grant nothing before then."""
        raise NotImplementedError

    def max_cost(self, priority=TRANSACTIONAL):
        """The largest request cost a bucket can grant at ``priority`` without going below
        zero: larger requests are split (an SMS is never split). None: no bound."""
        if self.settings.rate <= 0:
            return None
        return max(1, int(self.settings.capacity - self.settings.floor(priority)))

    def state(self):
        """The current BucketState (read-only; for the route tester and the account form)."""
        raise NotImplementedError

    def close(self):
        """Release what the governor holds (e.g. a database cursor); the dispatcher calls it
        once its dispatch is over."""


class MemoryGovernor(Governor):
    """A bucket kept in this process; thread-safe. For tests and single-process use."""

    def __init__(self, settings, wall_clock=utcnow, sleep=time.sleep):
        self.settings = settings
        self.wall_clock = wall_clock
        self._state = BucketState()
        self._lock = threading.Lock()
        self.granted = 0.0              # segments granted in all (for tests)
        self.grants = []                # (moment, cost, priority) of each grant

    def acquire(self, cost, priority=TRANSACTIONAL):
        with self._lock:
            now = self.wall_clock()
            self._state, wait = take(self._state, self.settings, cost, priority, now)
            if not wait:
                self.granted += cost
                self.grants.append((now, cost, priority))
            return wait

    def pause(self, seconds):
        with self._lock:
            until = self.wall_clock() + timedelta(seconds=seconds)
            if not self._state.paused_until or self._state.paused_until < until:
                self._state = replace(self._state, paused_until=until)

    def state(self):
        with self._lock:
            return self._state


# Reasons of a waiting SMS (SmsVerdict.wait_reason), written in the trail's language.
def wait_reason(wait, account_name, settings, resume_at):
    """Why an SMS waits for its account's governor, as a translatable Reason."""
    when = f'{resume_at:%Y-%m-%d %H:%M:%S}'
    if wait.kind == WAIT_PAUSE:
        return _lt('%(account)s asked to wait (Retry-After): sending resumes at %(time)s UTC',
                   account=account_name, time=when)
    if wait.kind == WAIT_DAILY:
        return _lt('%(account)s reached its daily cap of %(cap)s segments: sending resumes at %(time)s UTC',
                   account=account_name, cap=settings.daily_cap, time=when)
    return _lt('%(account)s is at its rate limit of %(rate)s segments/s: sending resumes at %(time)s UTC',
               account=account_name, rate=f'{settings.rate:g}', time=when)
