"""Send windows: when an SMS may reach its recipient, in the recipient's local time.

A :class:`WindowRule` allows some weekdays and one or more hour ranges, optionally not on
the public holidays of the destination's country. :func:`next_opening` answers, for the
rules that apply to one SMS, either ``None`` (sending is allowed now) or the first moment
(aware UTC) when every one of them allows it.

* The destination's time zones come from its number (phonenumbers' ``timezone`` data: a
  French mobile is in ``Europe/Paris``, a Moscow mobile may be anywhere from Kaliningrad
  to Kamchatka). A number that may be in several zones is allowed only when it is allowed
  in every one of them: never outside a window, at the price of a narrower one.
* Hours are wall-clock hours: 08:00 is 08:00 in summer and in winter. On the day clocks
  spring forward, a window opening inside the missing hour opens at the end of the gap;
  when they fall back, the repeated hour is inside or outside the window both times.
* Public holidays come from the ``holidays`` library, per country and year (cached), on
  the destination's local date. A country ``holidays`` does not know has none.

Nothing here imports Odoo: the addon turns its rule records into WindowRule values.
"""
import functools
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from .reasons import _lt

# How far ahead next_opening looks before deciding that a set of rules never opens.
SEARCH_DAYS = 400
# No request starts for an SMS this close to the closing of its window (seconds): a request
# decided in the last milliseconds would reach the provider, and the recipient, after it.
# The SMS waits for the next opening instead.
CLOSING_MARGIN = 2.0
MINUTES_PER_DAY = 24 * 60
ALL_WEEKDAYS = frozenset(range(7))
UTC = timezone.utc

TRAFFIC_ALL = 'all'
TRAFFIC_TRANSACTIONAL = 'transactional'
TRAFFIC_MARKETING = 'marketing'


class WindowNeverOpens(ValueError):
    """The rules allow no moment within SEARCH_DAYS (e.g. no weekday, or disjoint hours)."""


@dataclass(frozen=True)
class WindowRule:
    """Allowed weekdays (0 Monday .. 6 Sunday) and hour ranges, in minutes after midnight,
    ``[start, end)``; ``end`` may be 1440 (midnight at the end of the day)."""

    name: str
    weekdays: frozenset = ALL_WEEKDAYS
    ranges: tuple = ((0, MINUTES_PER_DAY),)
    exclude_holidays: bool = False
    # Which SMS the rule is for: traffic ('all', 'transactional', 'marketing') and
    # destination countries (ISO codes; empty: every country).
    traffic: str = TRAFFIC_MARKETING
    countries: frozenset = frozenset()
    rule_id: object = None

    def __post_init__(self):
        for start, end in self.ranges:
            if not 0 <= start < end <= MINUTES_PER_DAY:
                raise ValueError(f'bad hour range {start}-{end} in rule {self.name!r}')

    def applies_to(self, traffic, region):
        return (self.traffic in (TRAFFIC_ALL, traffic)
                and (not self.countries or (region or '') in self.countries))


def parse_ranges(text):
    """'08:00-12:00, 14:00-20:00' (or '8-20', '8h30-20h') -> ((480, 720), (840, 1200)).

    Raises ValueError with the part it cannot read. '24:00' is the end of the day."""
    ranges = []
    for part in text.replace(';', ',').replace(' ', ',').split(','):
        part = part.strip()
        if not part:
            continue
        try:
            start_text, end_text = part.split('-')
            start, end = _minutes(start_text), _minutes(end_text)
        except ValueError:
            raise ValueError(part) from None
        if not 0 <= start < end <= MINUTES_PER_DAY:
            raise ValueError(part)
        ranges.append((start, end))
    if not ranges:
        raise ValueError(text)
    return tuple(sorted(ranges))


def _minutes(text):
    text = text.strip().lower().replace('h', ':')
    hours, _sep, minutes = text.partition(':')
    hours, minutes = int(hours), int(minutes or 0)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(text)
    return hours * 60 + minutes


def format_ranges(ranges):
    return ', '.join(f'{_hhmm(start)}-{_hhmm(end)}' for start, end in ranges)


def _hhmm(minutes):
    return '%02d:%02d' % divmod(minutes, 60)


# ------------------------------------------------------------------ destinations


@functools.lru_cache(maxsize=4096)
def zones_for_number(e164):
    """The time zone names a number may be in (sorted tuple), from phonenumbers' data; the
    zones of its whole calling code when the number's own are unknown; ('UTC',) when
    nothing is known (non-geographic numbers)."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return ('UTC',)
    zones = phone_timezone.time_zones_for_number(number)
    if not zones or zones == (phone_timezone.UNKNOWN_TIMEZONE,):
        zones = phone_timezone._country_level_time_zones_for_number(number)
    usable = tuple(sorted(zone for zone in zones or () if _zone(zone) is not None))
    return usable or ('UTC',)


@functools.lru_cache(maxsize=None)
def _zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.lru_cache(maxsize=512)
def _holiday_calendar(country, year):
    """{date: name} of the national public holidays of ``country`` (ISO code) in ``year``;
    empty when ``holidays`` does not know the country."""
    if not country:
        return {}
    import holidays  # noqa: PLC0415 - only rules that exclude holidays need it (import ~0.1 s)
    try:
        return dict(holidays.country_holidays(country.upper(), years=year))
    except NotImplementedError:
        return {}


def holiday_dates(country, year):
    """The public holidays of ``country`` in ``year`` (dates), cached per country and year."""
    return _holiday_calendar(country, year).keys()


def holiday_name(country, day):
    """The name ``holidays`` gives the public holiday ``day`` in ``country``, or ''."""
    return _holiday_calendar(country, day.year).get(day, '')


# ------------------------------------------------------------------ the search


def _local(moment, zone):
    return moment.astimezone(zone)


def _day_allowed(rule, day, country):
    if day.weekday() not in rule.weekdays:
        return False
    return not (rule.exclude_holidays and day in holiday_dates(country, day.year))


def is_allowed(rule, zone, country, moment):
    """Whether ``rule`` allows sending at ``moment`` (aware) in ``zone`` (ZoneInfo)."""
    local = _local(moment, zone)
    if not _day_allowed(rule, local.date(), country):
        return False
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in rule.ranges)


def _wall_to_utc(day, minutes, zone):
    """The first instant whose wall-clock time in ``zone`` is at or after ``day`` +
    ``minutes``: the wall time itself, the first of the two when clocks fall back, the end
    of the gap when it falls in the hour clocks spring forward over."""
    if minutes >= MINUTES_PER_DAY:
        return _wall_to_utc(day + timedelta(days=1), 0, zone)
    wall = datetime.combine(day, time(*divmod(minutes, 60)))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local(first, zone).replace(tzinfo=None) == wall:
        return first
    # A gap: fold=1 reads the wall time with the offset after the change, which lands
    # before the gap; the change itself is the first instant at or after the wall time.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _local(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _next_allowed(rule, zone, country, moment):
    """The first instant at or after ``moment`` that ``rule`` allows in ``zone``; None when
    there is none within SEARCH_DAYS."""
    local = _local(moment, zone)
    day = local.date()
    minute = local.hour * 60 + local.minute
    for offset in range(SEARCH_DAYS + 1):
        current = day + timedelta(days=offset)
        if not _day_allowed(rule, current, country):
            continue
        for start, end in rule.ranges:
            if offset == 0:
                if end <= minute:
                    continue
                if start <= minute:
                    return moment
            candidate = _wall_to_utc(current, start, zone)
            if candidate >= moment and is_allowed(rule, zone, country, candidate):
                return candidate
            if candidate < moment and is_allowed(rule, zone, country, moment):
                return moment
    return None


def _aware(moment):
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def next_opening(rules, destination, now_utc, zones=None):
    """None when every rule of ``rules`` allows sending to ``destination`` at ``now_utc``,
    else the first moment (aware UTC, to the second) when they all do, in every time zone
    the number may be in.

    ``rules`` are those that apply to the SMS (see :func:`applicable_rules`);
    ``destination`` is a routing.Destination (its ``e164`` gives the zones, its ``region``
    the holidays), ``zones`` overrides the zone names. Raises WindowNeverOpens when no
    moment within SEARCH_DAYS is allowed."""
    if not rules:
        return None
    now = _aware(now_utc)
    region = getattr(destination, 'region', '') or ''
    zone_names = zones or zones_for_number(destination.e164)
    return _next_opening(tuple(rules), tuple(zone_names), region, now)


def _next_opening(rules, zone_names, region, now):
    zones = [_zone(name) or UTC for name in zone_names]
    limit = now + timedelta(days=SEARCH_DAYS)
    moment = now
    while True:
        later = moment
        for rule in rules:
            for zone in zones:
                allowed = _next_allowed(rule, zone, region, later)
                if allowed is None:
                    raise WindowNeverOpens(_lt(
                        'the send window "%(rule)s" never opens in the next %(days)s days',
                        rule=rule.name, days=SEARCH_DAYS))
                later = allowed
        if later == moment:
            return None if moment == now else moment
        if later > limit:
            raise WindowNeverOpens(_lt(
                'the send windows %(rules)s never open together in the next %(days)s days',
                rules=', '.join(f'"{rule.name}"' for rule in rules), days=SEARCH_DAYS))
        moment = later


def _allowed_end(rule, zone, country, moment):
    """The first instant at or after ``moment`` (allowed by ``rule`` in ``zone``) that the
    rule no longer allows, across adjoining ranges and days; None when it never closes
    within SEARCH_DAYS (e.g. every day, all day, holidays included)."""
    if (rule.weekdays == ALL_WEEKDAYS and rule.ranges == ((0, MINUTES_PER_DAY),)
            and not rule.exclude_holidays):
        return None
    limit = moment + timedelta(days=SEARCH_DAYS)
    while moment <= limit:
        if not is_allowed(rule, zone, country, moment):
            return moment
        local = _local(moment, zone)
        minute = local.hour * 60 + local.minute
        end = next((end for start, end in rule.ranges if start <= minute < end), MINUTES_PER_DAY)
        later = _wall_to_utc(local.date(), end, zone)
        # A wall time the clocks skip or repeat can map back to ``moment``: step on.
        moment = later if later > moment else moment + timedelta(minutes=1)
    return None


def allowed_until(rules, zone_names, region, now_utc):
    """The end of the allowed interval that ``now_utc`` is in, for every rule of ``rules``
    and every zone: the first instant at or after it when one of them stops allowing
    (aware UTC), None when none of them closes. Call it when sending is allowed now."""
    now = _aware(now_utc)
    ends = []
    for rule in rules:
        for name in zone_names:
            end = _allowed_end(rule, _zone(name) or UTC, region, now)
            if end is not None:
                ends.append(end)
    return min(ends, default=None)


def blocking_rule(rules, destination, moment, zones=None):
    """The first rule of ``rules`` that does not allow ``moment`` (aware) in one of the
    destination's zones, with that zone's name: (rule, zone name), or (None, None)."""
    moment = _aware(moment)
    region = getattr(destination, 'region', '') or ''
    for rule in rules:
        for name in zones or zones_for_number(destination.e164):
            if not is_allowed(rule, _zone(name) or UTC, region, moment):
                return rule, name
    return None, None


def applicable_rules(rules, traffic, region):
    """The rules of ``rules`` that govern an SMS of ``traffic`` to ``region``: those naming
    its country when there are any (a country's rules replace the rules for every
    country, as a country route beats the default one), else those for every country."""
    matching = [rule for rule in rules if rule.applies_to(traffic, region)]
    specific = [rule for rule in matching if rule.countries]
    return tuple(specific or matching)


class WindowGate:
    """The send windows of one company for one batch: rules read once, next openings
    cached per (traffic, region, time zones) within the batch, at the batch's ``now``.

    ``check(traffic, destination)`` -> None (allowed now) or (opening, rule, zone name);
    ``allowed_until(traffic, destination)``, for an SMS allowed now: when its window
    closes (aware UTC; None: no rule governs it or none closes). The dispatcher does not
    start a request for it after that moment less CLOSING_MARGIN: a batch may outlast the
    window it began in. Within CLOSING_MARGIN of the closing, ``check`` already answers
    with the next opening."""

    def __init__(self, rules, now_utc):
        self.rules = tuple(rules)
        self.now = _aware(now_utc)
        self._cache = {}
        self._ends = {}

    def __bool__(self):
        return bool(self.rules)

    def applicable(self, traffic, destination):
        return applicable_rules(self.rules, traffic, destination.region or '')

    def _governing(self, traffic, destination):
        """(applicable rules, zones, region, cache key) for an SMS, or None when no rule
        governs it."""
        if not self.rules:
            return None
        region = destination.region or ''
        applicable = applicable_rules(self.rules, traffic, region)
        if not applicable:
            return None
        zones = zones_for_number(destination.e164)
        return applicable, zones, region, (traffic, region, zones)

    def check(self, traffic, destination):
        governing = self._governing(traffic, destination)
        if governing is None:
            return None
        applicable, zones, region, key = governing
        if key not in self._cache:
            try:
                opening = _next_opening(applicable, zones, region, self.now)
            except WindowNeverOpens as error:
                opening = error
            end = self.allowed_until(traffic, destination) if opening is None else None
            if end is not None and (end - self.now).total_seconds() < CLOSING_MARGIN:
                # Closing in a moment: as good as closed (CLOSING_MARGIN).
                try:
                    opening = _next_opening(applicable, zones, region, end)
                except WindowNeverOpens as error:
                    opening = error
                if not isinstance(opening, WindowNeverOpens):
                    rule, zone = blocking_rule(applicable, destination, end, zones)
                    self._cache[key] = (opening, rule, zone)
                else:
                    self._cache[key] = opening
            elif opening is None or isinstance(opening, WindowNeverOpens):
                self._cache[key] = opening
            else:
                rule, zone = blocking_rule(applicable, destination, self.now, zones)
                self._cache[key] = (opening, rule, zone)
        found = self._cache[key]
        if isinstance(found, WindowNeverOpens):
            raise found
        return found

    def allowed_until(self, traffic, destination):
        governing = self._governing(traffic, destination)
        if governing is None:
            return None
        applicable, zones, region, key = governing
        if key not in self._ends:
            self._ends[key] = allowed_until(applicable, zones, region, self.now)
        return self._ends[key]


def local_text(moment, zone_name):
    """'2026-12-01 08:00 (Europe/Paris)': ``moment`` in the wall-clock time of a zone."""
    zone = _zone(zone_name) or UTC
    return '%s (%s)' % (_local(moment, zone).strftime('%Y-%m-%d %H:%M'), zone_name)
