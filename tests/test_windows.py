"""Send windows (sms_router/engine/windows.py): weekdays, hours, public holidays, DST,
numbers that may be in several time zones, and the shipped presets' values."""
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import pytest

from addons.sms_router.engine.routing import parse_destination
from addons.sms_router.engine.windows import (
    CLOSING_MARGIN, SEARCH_DAYS, WindowGate, WindowNeverOpens, WindowRule, applicable_rules, blocking_rule,
    format_ranges, holiday_dates, holiday_name, local_text, next_opening, parse_ranges,
    zones_for_number,
)

from conftest import ROOT

UTC = timezone.utc
PARIS_MOBILE = parse_destination('+33612345678')
MON_SAT = frozenset(range(6))
# "FR - AF2M 2024": working days (Monday to Saturday, not public holidays), 08:00-22:00.
AF2M_2024 = WindowRule('FR - AF2M 2024', MON_SAT, ((8 * 60, 22 * 60),), True, countries=frozenset({'FR'}))
STRICT = WindowRule('FR - strict', MON_SAT, ((8 * 60, 20 * 60),), True, countries=frozenset({'FR'}))


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def opening(rules, text, destination=PARIS_MOBILE):
    return next_opening(rules, destination, utc(text))


# ------------------------------------------------------------------ hours and days


def test_inside_the_window_is_allowed_now():
    # Tuesday 2026-06-02 12:00 in Paris (10:00 UTC, summer time).
    assert opening([AF2M_2024], '2026-06-02T10:00:00') is None


def test_no_rule_allows_everything():
    assert opening([], '2026-06-07T03:00:00') is None


def test_before_opening_waits_until_8_local():
    # 07:59 Paris on a Tuesday -> 08:00 Paris the same day.
    assert opening([AF2M_2024], '2026-06-02T05:59:00') == utc('2026-06-02T06:00:00')


def test_end_of_range_is_excluded():
    # 22:00 Paris sharp is closed: the range is [08:00, 22:00).
    assert opening([AF2M_2024], '2026-06-02T20:00:00') == utc('2026-06-03T06:00:00')
    assert opening([AF2M_2024], '2026-06-02T19:59:59') is None


def test_saturday_evening_waits_until_monday():
    # Saturday 2026-06-06 22:30 Paris -> Monday 2026-06-08 08:00 (Sunday is closed).
    assert opening([AF2M_2024], '2026-06-06T20:30:00') == utc('2026-06-08T06:00:00')


def test_sunday_is_closed_saturday_open():
    assert opening([AF2M_2024], '2026-06-07T10:00:00') == utc('2026-06-08T06:00:00')
    assert opening([AF2M_2024], '2026-06-06T10:00:00') is None


def test_several_ranges_in_a_day():
    split = WindowRule('split', frozenset(range(7)), parse_ranges('09:00-12:00, 14:00-18:00'))
    assert opening([split], '2026-06-02T10:30:00') == utc('2026-06-02T12:00:00')  # 12:30 -> 14:00
    assert opening([split], '2026-06-02T12:00:00') is None                         # 14:00 sharp
    assert opening([split], '2026-06-02T16:00:00') == utc('2026-06-03T07:00:00')   # 18:00 -> 09:00


def test_two_rules_must_both_allow():
    evening = WindowRule('evening', frozenset(range(7)), ((18 * 60, 23 * 60),))
    # AF2M allows 08-22, "evening" 18-23: together 18-22.
    assert opening([AF2M_2024, evening], '2026-06-02T08:00:00') == utc('2026-06-02T16:00:00')


def test_rules_that_never_open_together_raise():
    morning = WindowRule('morning', frozenset(range(7)), ((6 * 60, 7 * 60),))
    with pytest.raises(WindowNeverOpens) as error:
        opening([AF2M_2024, morning], '2026-06-02T08:00:00')
    assert str(SEARCH_DAYS) in str(error.value)


def test_a_rule_without_weekdays_never_opens():
    with pytest.raises(WindowNeverOpens, match='never opens'):
        opening([WindowRule('none', frozenset(), ((0, 1440),))], '2026-06-02T08:00:00')


# ------------------------------------------------------------------ public holidays


def test_french_public_holidays_2026_from_the_library():
    days = holiday_dates('FR', 2026)
    for day in ('2026-01-01', '2026-04-06', '2026-05-01', '2026-05-08', '2026-05-14', '2026-05-25',
                '2026-07-14', '2026-08-15', '2026-11-01', '2026-11-11', '2026-12-25'):
        assert date.fromisoformat(day) in days
    assert date(2026, 4, 5) not in days  # Easter Sunday is a Sunday, not a public holiday
    assert holiday_name('FR', date(2026, 4, 6))
    assert holiday_name('FR', date(2026, 4, 7)) == ''


@pytest.mark.parametrize('holiday, next_open', [
    ('2026-04-06', '2026-04-07'),   # Easter Monday -> Tuesday
    ('2026-05-01', '2026-05-02'),   # Labour Day (Friday) -> Saturday
    ('2026-05-08', '2026-05-09'),   # Victory in Europe Day (Friday) -> Saturday
    ('2026-05-14', '2026-05-15'),   # Ascension Thursday -> Friday
    ('2026-05-25', '2026-05-26'),   # Whit Monday -> Tuesday
])
def test_french_holidays_are_closed_when_excluded(holiday, next_open):
    noon = utc(f'{holiday}T10:00:00')
    assert next_opening([AF2M_2024], PARIS_MOBILE, noon) == utc(f'{next_open}T06:00:00')


def test_holidays_open_when_not_excluded():
    open_on_holidays = WindowRule('no holidays', MON_SAT, ((8 * 60, 22 * 60),), False)
    assert opening([open_on_holidays], '2026-05-14T10:00:00') is None


def test_holiday_before_a_sunday_skips_both():
    # Saturday 2026-08-15 (Assumption) then Sunday: Monday 17th 08:00.
    assert opening([AF2M_2024], '2026-08-14T21:00:00') == utc('2026-08-17T06:00:00')


def test_holidays_of_the_destination_country():
    # 14 July is a French holiday, not a British one.
    london = parse_destination('+447911123456')
    anywhere = WindowRule('all', MON_SAT, ((8 * 60, 22 * 60),), True)
    assert next_opening([anywhere], london, utc('2026-07-14T10:00:00')) is None
    assert opening([anywhere], '2026-07-14T10:00:00') == utc('2026-07-15T06:00:00')


def test_overseas_department_holidays_and_zone():
    # Guadeloupe: its own zone (UTC-4) and its own holidays (abolition of slavery, 27 May).
    guadeloupe = parse_destination('+590690123456')
    assert guadeloupe.region == 'GP'
    assert zones_for_number(guadeloupe.e164) == ('America/Guadeloupe',)
    rule = WindowRule('all', MON_SAT, ((8 * 60, 22 * 60),), True)
    assert date(2026, 5, 27) in holiday_dates('GP', 2026)
    assert next_opening([rule], guadeloupe, utc('2026-05-27T16:00:00')) == utc('2026-05-28T12:00:00')


def test_unknown_country_has_no_holidays():
    assert not holiday_dates('XX', 2026)
    assert not holiday_dates('', 2026)


# ------------------------------------------------------------------ DST (Europe/Paris)


def test_spring_forward_keeps_wall_clock_hours():
    # Sunday 29 March 2026 clocks go 02:00 -> 03:00; Saturday evening waits until Monday
    # 08:00 CEST = 06:00 UTC (it was 07:00 UTC the Monday before).
    assert opening([AF2M_2024], '2026-03-21T22:00:00') == utc('2026-03-23T07:00:00')
    assert opening([AF2M_2024], '2026-03-28T22:00:00') == utc('2026-03-30T06:00:00')


def test_fall_back_keeps_wall_clock_hours():
    # Sunday 25 October 2026 clocks go 03:00 -> 02:00: Monday 08:00 CET = 07:00 UTC.
    assert opening([AF2M_2024], '2026-10-24T21:00:00') == utc('2026-10-26T07:00:00')
    # 21:59 CET on Monday 26 is open, 22:00 CET (21:00 UTC) closed.
    assert opening([AF2M_2024], '2026-10-26T20:59:00') is None
    assert opening([AF2M_2024], '2026-10-26T21:00:00') == utc('2026-10-27T07:00:00')


def test_window_opening_in_the_spring_gap_opens_at_its_end():
    # 02:30 does not exist on 29 March 2026 in Paris: a window 02:30-04:00 opens at 03:00
    # CEST (01:00 UTC), the first instant whose wall clock is past 02:30.
    night = WindowRule('night', frozenset(range(7)), ((150, 240),))
    assert opening([night], '2026-03-28T23:00:00') == utc('2026-03-29T01:00:00')
    # A window that lies inside the gap does not exist that day: the next night.
    gap_only = WindowRule('gap', frozenset(range(7)), ((130, 170),))
    assert opening([gap_only], '2026-03-28T23:00:00') == utc('2026-03-30T00:10:00')


def test_repeated_hour_when_clocks_fall_back():
    # 02:30 happens twice on 25 October 2026 in Paris (00:30 and 01:30 UTC): the window
    # 02:00-03:00 opens at the first one and is open during both.
    night = WindowRule('night', frozenset(range(7)), ((120, 180),))
    assert opening([night], '2026-10-24T22:00:00') == utc('2026-10-25T00:00:00')
    assert opening([night], '2026-10-25T00:30:00') is None
    assert opening([night], '2026-10-25T01:30:00') is None
    assert opening([night], '2026-10-25T02:00:00') == utc('2026-10-26T01:00:00')


# ------------------------------------------------------------------ time zones


def test_zones_of_numbers():
    assert zones_for_number('+33612345678') == ('Europe/Paris',)
    assert zones_for_number('+12125551234') == ('America/New_York',)
    assert len(zones_for_number('+79161234567')) > 5          # a Russian mobile: anywhere in Russia
    assert len(zones_for_number('+61412345678')) > 3          # an Australian mobile
    # A number whose own zone is unknown gets the zones of its calling code, never none.
    assert 'Europe/London' in zones_for_number('+447700900123')


def test_multi_zone_number_allowed_only_where_every_zone_allows():
    moscow_mobile = parse_destination('+79161234567')
    daily = WindowRule('daily', frozenset(range(7)), ((8 * 60, 22 * 60),))
    zones = zones_for_number(moscow_mobile.e164)
    assert {'Europe/Moscow', 'Asia/Kamchatka'} <= set(zones)
    # 10:00 UTC: 13:00 in Moscow but 22:00 in Kamchatka (UTC+12): closed.
    found = next_opening([daily], moscow_mobile, utc('2026-06-02T10:00:00'))
    assert found is not None
    for zone in zones:
        local = datetime.fromisoformat(local_text(found, zone)[:16])
        assert 8 <= local.hour < 22, zone
    # The first moment every zone allows: 08:00 in Moscow/Bucharest (05:00 UTC).
    assert found == utc('2026-06-03T05:00:00')


def test_us_number_of_one_area_code_and_toll_free():
    new_york = parse_destination('+12125551234')
    daily = WindowRule('daily', frozenset(range(7)), ((9 * 60, 21 * 60),))
    # 09:00 EDT = 13:00 UTC.
    assert next_opening([daily], new_york, utc('2026-06-02T12:00:00')) == utc('2026-06-02T13:00:00')
    toll_free = parse_destination('+18005550100')
    assert len(zones_for_number(toll_free.e164)) > 10
    # From Guam (UTC+10, already the next day) to Pago Pago (UTC-11): the only hour
    # inside 09:00-21:00 everywhere is 09:00 in Guam, 20:30 in St John's, 12:00 in Pago Pago.
    found = next_opening([daily], toll_free, utc('2026-06-02T12:00:00'))
    assert found == utc('2026-06-02T23:00:00')
    for zone in zones_for_number(toll_free.e164):
        assert '09:00' <= local_text(found, zone)[11:16] < '21:00', zone


def test_explicit_zones_override():
    daily = WindowRule('daily', frozenset(range(7)), ((8 * 60, 22 * 60),))
    assert next_opening([daily], PARIS_MOBILE, utc('2026-06-02T05:00:00'), zones=('Asia/Tokyo',)) is None


# ------------------------------------------------------------------ which rules apply


def test_applicable_rules_by_traffic_and_country():
    everywhere = WindowRule('everywhere', traffic='marketing')
    transactional = WindowRule('night OTP', traffic='transactional')
    both = WindowRule('both', traffic='all')
    rules = [AF2M_2024, everywhere, transactional, both]
    # A country's rules replace those for every country.
    assert applicable_rules(rules, 'marketing', 'FR') == (AF2M_2024,)
    assert applicable_rules(rules, 'marketing', 'DE') == (everywhere, both)
    assert applicable_rules(rules, 'transactional', 'FR') == (transactional, both)
    assert applicable_rules([AF2M_2024], 'transactional', 'FR') == ()


def test_gate_caches_per_batch_and_names_the_blocking_rule():
    gate = WindowGate([AF2M_2024], utc('2026-05-14T10:00:00'))
    first = gate.check('marketing', PARIS_MOBILE)
    assert first[0] == utc('2026-05-15T06:00:00')
    assert first[1] is AF2M_2024 and first[2] == 'Europe/Paris'
    assert gate.check('marketing', parse_destination('+33698765432')) is first   # cached
    assert gate.check('transactional', PARIS_MOBILE) is None
    assert gate.check('marketing', parse_destination('+4915123456789')) is None  # not FR
    assert not WindowGate([], utc('2026-05-14T10:00:00'))


def test_blocking_rule_and_local_text():
    rule, zone = blocking_rule([AF2M_2024], PARIS_MOBILE, utc('2026-05-14T10:00:00'))
    assert rule is AF2M_2024 and zone == 'Europe/Paris'
    assert local_text(utc('2026-12-01T07:00:00'), 'Europe/Paris') == '2026-12-01 08:00 (Europe/Paris)'


def test_naive_now_is_utc():
    assert next_opening([AF2M_2024], PARIS_MOBILE, datetime(2026, 6, 2, 5, 59)) == utc('2026-06-02T06:00:00')


# ------------------------------------------------------------------ hour ranges


def test_parse_and_format_ranges():
    assert parse_ranges('08:00-22:00') == ((480, 1320),)
    assert parse_ranges('14:00-18:00, 9-12') == ((540, 720), (840, 1080))
    assert parse_ranges('8h30-20h') == ((510, 1200),)
    assert parse_ranges('00:00-24:00') == ((0, 1440),)
    assert format_ranges(((510, 1200), (1260, 1440))) == '08:30-20:00, 21:00-24:00'
    for bad in ('', '22:00-08:00', '8-25', '08:60-09:00', 'soon', '24:30-24:40'):
        with pytest.raises(ValueError):
            parse_ranges(bad)


def test_whole_day_rule_spanning_midnight():
    late = WindowRule('late', frozenset({0}), ((20 * 60, 24 * 60),))   # Mondays 20:00-24:00
    # Monday 23:59:30 Paris is open; Tuesday 00:00 closed until next Monday 20:00.
    assert opening([late], '2026-06-01T21:59:30') is None
    assert opening([late], '2026-06-01T22:00:00') == utc('2026-06-08T18:00:00')


# ------------------------------------------------------------------ presets (XML data)


def _presets():
    path = ROOT / 'sms_router' / 'data' / 'sms_router_send_window_preset_data.xml'
    presets = {}
    for record in ET.parse(path).getroot().iter('record'):
        values = {}
        for node in record.findall('field'):
            values[node.get('name')] = node.get('eval') if node.get('eval') is not None else (node.text or '')
        presets[record.get('id')] = values
    return presets


def _days(values):
    return [day for day in ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun') if values.get(day) == 'True']


def test_preset_af2m_2024_values():
    preset = _presets()['send_window_preset_fr_af2m_2024']
    assert preset['name'] == 'FR - AF2M 2024'
    assert preset['traffic'] == 'marketing'
    assert _days(preset) == ['mon', 'tue', 'wed', 'thu', 'fri', 'sat']
    assert parse_ranges(preset['hours']) == ((480, 1320),)
    assert preset['exclude_holidays'] == 'True'
    assert "ref('base.fr')" in preset['country_ids']
    assert 'af2m.org' in preset['description'] and '2024' in preset['description']


OVERSEAS = ('re', 'gp', 'mq', 'gf', 'yt', 'pm', 'bl', 'mf')


def test_french_presets_govern_overseas_numbers_in_their_local_time_and_holidays():
    for xml_id, preset in _presets().items():
        for code in ('fr',) + OVERSEAS:
            assert f"ref('base.{code}')" in preset['country_ids'], (xml_id, code)
        assert 'overseas' in preset['description'], xml_id
    rule = WindowRule('FR - strict', MON_SAT, ((8 * 60, 20 * 60),), True,
                      countries=frozenset(code.upper() for code in ('fr',) + OVERSEAS))
    reunion = parse_destination('+262692123456')
    guadeloupe = parse_destination('+590690123456')
    assert (reunion.region, guadeloupe.region) == ('RE', 'GP')
    assert applicable_rules([rule], 'marketing', reunion.region) == (rule,)
    # Tuesday 2026-06-02 17:00 UTC: 21:00 in Reunion (closed), 13:00 in Guadeloupe (open).
    # A +262 692 mobile may be in Mayotte too (UTC+3): it opens at 08:00 there.
    assert zones_for_number(reunion.e164) == ('Indian/Mayotte', 'Indian/Reunion')
    assert next_opening([rule], reunion, utc('2026-06-02T17:00:00')) == utc('2026-06-03T05:00:00')
    assert next_opening([rule], guadeloupe, utc('2026-06-02T17:00:00')) is None
    # Their own public holidays: 27 May (abolition of slavery) in Guadeloupe, a working day in Paris.
    assert date(2026, 5, 27) in holiday_dates('GP', 2026)
    assert next_opening([rule], guadeloupe, utc('2026-05-27T15:00:00')) == utc('2026-05-28T12:00:00')
    assert next_opening([rule], PARIS_MOBILE, utc('2026-05-27T10:00:00')) is None


def test_preset_strict_values():
    preset = _presets()['send_window_preset_fr_strict']
    assert preset['name'] == 'FR - strict 8h-20h Mon-Sat'
    assert preset['traffic'] == 'marketing'
    assert _days(preset) == ['mon', 'tue', 'wed', 'thu', 'fri', 'sat']
    assert parse_ranges(preset['hours']) == ((480, 1200),)
    assert preset['exclude_holidays'] == 'True'
    assert 'smsfactor' in preset['description'].lower()


def test_preset_af2m_2026_values():
    preset = _presets()['send_window_preset_fr_af2m_2026']
    assert _days(preset) == ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']
    assert parse_ranges(preset['hours']) == ((480, 1290),)
    assert preset['exclude_holidays'] == 'False'


def test_every_preset_has_a_dated_source():
    for xml_id, preset in _presets().items():
        assert 'http' in preset['description'], xml_id
        assert any(str(year) in preset['description'] for year in range(2009, 2031)), xml_id


def test_strict_preset_over_a_holiday_week():
    strict = WindowRule('strict', MON_SAT, parse_ranges('08:00-20:00'), True)
    moment = utc('2026-05-13T18:30:00')   # Wednesday 20:30 Paris, then Ascension Thursday
    assert next_opening([strict], PARIS_MOBILE, moment) == utc('2026-05-15T06:00:00')
    # Friday 15th 12:00 Paris is open; 20:00 closed until Saturday 08:00.
    assert next_opening([strict], PARIS_MOBILE, utc('2026-05-15T10:00:00')) is None
    assert next_opening([strict], PARIS_MOBILE, utc('2026-05-15T18:00:00')) == utc('2026-05-16T06:00:00')
    assert next_opening([strict], PARIS_MOBILE, moment + timedelta(days=3)) == utc('2026-05-18T06:00:00')


# ------------------------------------------------------- end of the window an SMS was admitted in


def test_allowed_until_is_the_closing_of_the_current_window():
    gate = WindowGate([STRICT], utc('2026-06-02T17:59:45'))   # Tuesday 19:59:45 in Paris
    assert gate.check('marketing', PARIS_MOBILE) is None
    assert gate.allowed_until('marketing', PARIS_MOBILE) == utc('2026-06-02T18:00:00')
    # Transactional SMS and other countries: no rule governs them, nothing closes.
    assert gate.allowed_until('transactional', PARIS_MOBILE) is None
    assert gate.allowed_until('marketing', parse_destination('+14155550100')) is None


def test_within_the_closing_margin_an_sms_waits_for_the_next_opening():
    closing = utc('2026-06-02T18:00:00')                          # Tuesday 20:00 in Paris
    gate = WindowGate([STRICT], closing - timedelta(seconds=CLOSING_MARGIN / 2))
    opening, rule, zone = gate.check('marketing', PARIS_MOBILE)
    assert opening == utc('2026-06-03T06:00:00')                  # Wednesday 08:00
    assert rule.name == STRICT.name and zone == 'Europe/Paris'
    # Just before the margin it still goes, until its window's end.
    gate = WindowGate([STRICT], closing - timedelta(seconds=CLOSING_MARGIN + 0.5))
    assert gate.check('marketing', PARIS_MOBILE) is None
    assert gate.allowed_until('marketing', PARIS_MOBILE) == closing


def test_no_request_starts_within_the_closing_margin():
    from addons.sms_router.engine.dispatcher import Dispatcher, QueuedSms

    from test_dispatcher import FR, FakeClient, WallClock, handle

    closing = utc('2026-06-02T18:00:00')
    clock = WallClock(closing - timedelta(seconds=CLOSING_MARGIN + 1.5))
    # Each request takes a second: the first starts 3.5 s before the closing, the second
    # 2.5 s before, the third would start 1.5 s before it, within the margin.
    client = FakeClient('A', on_send=lambda client, request: clock.advance(1))
    chain = (handle(client, max_concurrency=1),)
    messages = [QueuedSms(f'm{n}', 'Promo', FR, chain, True, allowed_until=closing) for n in range(3)]
    dispatcher = Dispatcher(wall_clock=clock)
    verdicts = dispatcher.dispatch(messages)
    assert client.keys == ['m0', 'm1']
    assert verdicts['m2'].deferred and verdicts['m2'].attempts == [] and verdicts['m2'].outcome is None
    assert dispatcher.window_closed == 1


def test_allowed_until_spans_adjoining_ranges_and_days():
    split = WindowRule('split', frozenset(range(7)), ((0, 12 * 60), (12 * 60, 24 * 60)))
    weekdays = WindowRule('weekdays', frozenset(range(5)))
    # Thursday 2026-06-04 10:00 UTC: allowed all day Thursday and Friday, closed Saturday.
    assert WindowGate([split], utc('2026-06-04T10:00:00')).allowed_until('marketing', PARIS_MOBILE) is None
    assert (WindowGate([weekdays], utc('2026-06-04T10:00:00')).allowed_until('marketing', PARIS_MOBILE)
            == utc('2026-06-05T22:00:00'))     # Saturday 00:00 in Paris
    # The earliest closing of every rule: 20:00 before 22:00.
    assert (WindowGate([AF2M_2024, STRICT], utc('2026-06-02T10:00:00')).allowed_until('marketing', PARIS_MOBILE)
            == utc('2026-06-02T18:00:00'))


def test_request_whose_window_closed_since_admission_is_not_sent():
    from addons.sms_router.engine.dispatcher import AT_MOST_ONCE, Dispatcher, QueuedSms
    from addons.sms_router.engine.outcomes import OutcomeKind

    from test_dispatcher import FR, FakeClient, handle, kinds

    closing = utc('2026-06-02T18:00:00')
    clock = {'now': closing - timedelta(seconds=15)}

    def slow_failure(client, request):
        clock['now'] += timedelta(seconds=30)   # the first provider hangs past the closing

    def queued(key, chain, until=closing):
        return QueuedSms(key, 'Promo', FR, tuple(chain), True, allowed_until=until)

    # A failover step after the closing: the backup is not called, nothing is recorded for
    # it, the SMS stays queued (deferred) for the next batch's window check.
    a = FakeClient('A', OutcomeKind.PROVIDER, on_send=slow_failure)
    b = FakeClient('B')
    dispatcher = Dispatcher(wall_clock=lambda: clock['now'])
    verdict = dispatcher.dispatch([queued('m0', [handle(a), handle(b)])])['m0']
    assert b.calls == [] and verdict.deferred and verdict.outcome is None
    assert kinds(verdict) == [('A', OutcomeKind.PROVIDER)]
    assert dispatcher.window_closed == 1

    # Requests waiting for their turn (one at a time) after the closing are not made, under
    # either policy, and leave no hand-off behind; an SMS no window governs still goes.
    for policy in ('at_least_once', AT_MOST_ONCE):
        clock['now'] = closing - timedelta(seconds=15)
        slow = FakeClient('slow', on_send=slow_failure)
        handoffs = []
        dispatcher = Dispatcher(wall_clock=lambda: clock['now'], timeout_policy=policy,
                                on_handoff=(lambda account, request, sink=handoffs: sink.append(request))
                                if policy == AT_MOST_ONCE else None)
        chain = [handle(slow, max_concurrency=1)]
        verdicts = dispatcher.dispatch([queued('m0', chain), QueuedSms('m1', 'Code', FR, tuple(chain), True),
                                        queued('m2', chain)])
        assert verdicts['m0'].sent and verdicts['m1'].sent
        assert verdicts['m2'].deferred and verdicts['m2'].attempts == [] and verdicts['m2'].outcome is None
        assert sorted(slow.keys) == ['m0', 'm1'] and dispatcher.requests_made == 2
        assert all(r.key != 'm2' for request in handoffs for r in request.recipients)

    # Already closed when the dispatch starts: no call at all.
    clock['now'] = closing
    a = FakeClient('A')
    verdict = Dispatcher(wall_clock=lambda: clock['now']).dispatch([queued('m0', [handle(a)])])['m0']
    assert a.calls == [] and verdict.deferred and verdict.attempts == []
