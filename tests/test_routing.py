"""Destination parsing and longest-match route selection."""
import phonenumbers
import pytest

from addons.sms_router.engine.routing import (
    MATCH_COUNTRY,
    MATCH_DEFAULT,
    MATCH_NONE,
    MATCH_PREFIX,
    TRAFFIC_ALL,
    TRAFFIC_MARKETING,
    TRAFFIC_TRANSACTIONAL,
    Destination,
    NumberError,
    Route,
    RouteMatch,
    RoutingTable,
    example_number,
    normalize_prefix,
    parse_destination,
)

# Numbers whose region per phonenumbers is checked in test_reference_numbers_regions.
FR_MOBILE = '+33612345678'          # +3361...
FR_MOBILE_2 = '+33623456789'        # +3362...
FR_LANDLINE = '+33142685300'        # +331...
GB_MOBILE = '+447400123456'
US_NYC = '+12125551234'             # +1 212
US_NJ = '+12015550123'              # +1 201
CA_TORONTO = '+14165551234'
JERSEY = '+447797712345'
GUERNSEY = '+447781123456'
ISLE_OF_MAN = '+447624123456'
GUADELOUPE = '+590690001234'
REUNION = '+262692123456'
MAYOTTE = '+262639012345'
MARTINIQUE = '+596696201234'
GUYANE = '+594694201234'
OVERSEAS = ['GP', 'RE', 'YT', 'MQ', 'GF']


def dest(number):
    return parse_destination(number)


def route(route_id, prefixes=(), countries=(), traffic=TRAFFIC_ALL):
    return Route(route_id, chain=(route_id,), prefixes=tuple(prefixes),
                 countries=tuple(countries), traffic=traffic)


def route_id(table, number, traffic=TRAFFIC_TRANSACTIONAL):
    found = table.route_for(dest(number), traffic)
    return found.route_id if found else None


# ----------------------------------------------------------------- parsing

@pytest.mark.parametrize('number, region, country_code', [
    (FR_MOBILE, 'FR', 33),
    (GB_MOBILE, 'GB', 44),
    (US_NYC, 'US', 1),
    (CA_TORONTO, 'CA', 1),
    (JERSEY, 'JE', 44),
    (GUERNSEY, 'GG', 44),
    (ISLE_OF_MAN, 'IM', 44),
    (GUADELOUPE, 'GP', 590),
    (REUNION, 'RE', 262),
    (MAYOTTE, 'YT', 262),
    (MARTINIQUE, 'MQ', 596),
    (GUYANE, 'GF', 594),
])
def test_reference_numbers_regions(number, region, country_code):
    # The fixtures below rely on these regions: check them against phonenumbers itself.
    parsed = phonenumbers.parse(number)
    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.region_code_for_number(parsed) == region
    assert dest(number) == Destination(number, region, country_code)


@pytest.mark.parametrize('raw, default_region, e164, region', [
    ('+33 6 12 34 56 78', None, FR_MOBILE, 'FR'),
    ('  +33612345678  ', None, FR_MOBILE, 'FR'),
    ('06 12 34 56 78', 'FR', FR_MOBILE, 'FR'),
    ('06 12 34 56 78', 'fr', FR_MOBILE, 'FR'),
    ('06.12.34.56.78', 'FR', FR_MOBILE, 'FR'),
    ('(212) 555-1234', 'US', US_NYC, 'US'),
    ('212-555-1234', 'US', US_NYC, 'US'),
    ('0033 6 12 34 56 78', 'FR', FR_MOBILE, 'FR'),
    ('0033 6 12 34 56 78', 'GB', FR_MOBILE, 'FR'),
    ('011 33 6 12 34 56 78', 'US', FR_MOBILE, 'FR'),
    # An E.164 number ignores the default region.
    ('+33 6 12 34 56 78', 'US', FR_MOBILE, 'FR'),
    ('+44 7797 712345', 'FR', JERSEY, 'JE'),
    ('0690 00 12 34', 'GP', GUADELOUPE, 'GP'),
])
def test_parse_forms(raw, default_region, e164, region):
    destination = parse_destination(raw, default_region)
    assert destination.e164 == e164
    assert destination.region == region


def test_parse_gb_national_form():
    destination = parse_destination('07911 123456', 'GB')
    assert destination.e164 == '+447911123456'
    assert destination.country_code == 44
    # phonenumbers assigns the 07911 block to a crown dependency in recent metadata.
    expected = phonenumbers.region_code_for_number(phonenumbers.parse('+447911123456'))
    assert destination.region == expected
    assert parse_destination('07400 123456', 'GB').region == 'GB'


def test_parse_non_geographic_number_has_no_region():
    destination = parse_destination('+800 1234 5678')
    assert destination.e164 == '+80012345678'
    assert destination.country_code == 800
    assert destination.region == ''


@pytest.mark.parametrize('raw, default_region', [
    ('', 'FR'),
    ('   ', 'FR'),
    (None, 'FR'),
    ('hello', 'FR'),
    ('phone me', None),
    ('+33 1', 'FR'),                      # too short to be read at all
    ('06 12 34 56 78', None),             # national form, no country to read it
    ('06 12 34 56 78', ''),
    ('0033 6 12 34 56 78', None),         # international prefix needs a country too
    ('12', 'FR'),                         # readable, far too short
    ('+33 6 12', None),
    ('+33 6 12 34 56 78 9', None),        # one digit too many
    ('+33 0 00 00 00 00', None),          # no such range
    ('+1 555 555 5555', None),            # 555 is not an area code
    ('0033 6 12 34 56 78', 'US'),         # 00 is not the international prefix in the US
    ('+999 1234 5678', None),             # no such country code
])
def test_parse_errors(raw, default_region):
    with pytest.raises(NumberError):
        parse_destination(raw, default_region)


def test_number_error_is_a_value_error_and_explains_missing_country():
    with pytest.raises(ValueError) as caught:
        parse_destination('06 12 34 56 78')
    assert 'no country known' in str(caught.value)
    with pytest.raises(NumberError) as caught:
        parse_destination('+33 0 00 00 00 00')
    assert 'not a valid phone number' in str(caught.value)


def test_resolve_returns_destination_and_route():
    table = RoutingTable([route('fr', countries=['FR'])])
    destination, found = table.resolve('06 12 34 56 78', 'FR')
    assert destination.e164 == FR_MOBILE
    assert found.route_id == 'fr'
    destination, found = table.resolve(GB_MOBILE)
    assert destination.region == 'GB' and found is None
    with pytest.raises(NumberError):
        table.resolve('06 12 34 56 78')


# ----------------------------------------------------------------- prefixes

@pytest.mark.parametrize('prefix, digits', [
    ('+33', '33'),
    ('+33 6', '336'),
    ('+1-212', '1212'),
    ('0033', '33'),
    ('00 44 7797', '447797'),
    ('+123456789012345', '123456789012345'),
])
def test_normalize_prefix(prefix, digits):
    assert normalize_prefix(prefix) == digits


@pytest.mark.parametrize('prefix', [
    '', None, '+', '00', '33', '336', '+33a', '+3 3/6', '+(33)', '++33', '+1234567890123456', 'FR',
])
def test_normalize_prefix_errors(prefix):
    with pytest.raises(ValueError):
        normalize_prefix(prefix)


def test_table_rejects_bad_prefix_and_traffic():
    with pytest.raises(ValueError):
        RoutingTable([route('bad', prefixes=['33'])])
    with pytest.raises(ValueError):
        RoutingTable([route('bad', prefixes=['+33'], traffic='bulk')])


# ----------------------------------------------------------------- matching

def test_longest_prefix_wins():
    table = RoutingTable([
        route('p33', prefixes=['+33']),
        route('p3361', prefixes=['+33 61']),
        route('p336', prefixes=['+336']),
    ])
    assert route_id(table, FR_MOBILE) == 'p3361'
    assert route_id(table, FR_MOBILE_2) == 'p336'
    assert route_id(table, FR_LANDLINE) == 'p33'
    assert route_id(table, GB_MOBILE) is None


def test_no_route_and_default_route():
    assert RoutingTable([]).route_for(dest(FR_MOBILE)) is None
    table = RoutingTable([route('gb', countries=['GB'])])
    assert route_id(table, FR_MOBILE) is None
    table = RoutingTable([route('gb', countries=['GB']), route('default')])
    assert table.routes[1].is_default and not table.routes[0].is_default
    assert route_id(table, FR_MOBILE) == 'default'
    assert route_id(table, GB_MOBILE) == 'gb'
    assert route_id(table, FR_MOBILE, TRAFFIC_MARKETING) == 'default'


def test_country_beats_prefix_of_its_calling_code_only():
    table = RoutingTable([route('p33', prefixes=['+33']), route('fr', countries=['fr'])])
    assert route_id(table, FR_MOBILE) == 'fr'
    table = RoutingTable([route('fr', countries=['FR']), route('p33', prefixes=['+33'])])
    assert route_id(table, FR_MOBILE) == 'fr'
    # A prefix shorter than the calling code is even less specific.
    table = RoutingTable([route('p3', prefixes=['+3']), route('fr', countries=['FR'])])
    assert route_id(table, FR_MOBILE) == 'fr'
    # One digit more than the calling code beats the country.
    table = RoutingTable([route('fr', countries=['FR']), route('p336', prefixes=['+336'])])
    assert route_id(table, FR_MOBILE) == 'p336'
    assert route_id(table, FR_LANDLINE) == 'fr'


def test_north_american_numbering_plan():
    table = RoutingTable([
        route('plus1', prefixes=['+1']),
        route('us', countries=['US']),
        route('ca', countries=['CA']),
        route('nyc', prefixes=['+1 212']),
    ])
    assert route_id(table, US_NYC) == 'nyc'        # +1212 beats the US country route
    assert route_id(table, US_NJ) == 'us'          # US beats +1
    assert route_id(table, CA_TORONTO) == 'ca'
    only_prefix = RoutingTable([route('plus1', prefixes=['+1']), route('us', countries=['US'])])
    assert route_id(only_prefix, CA_TORONTO) == 'plus1'
    assert route_id(only_prefix, US_NJ) == 'us'


@pytest.mark.parametrize('number, region', [(JERSEY, 'JE'), (GUERNSEY, 'GG'), (ISLE_OF_MAN, 'IM')])
def test_crown_dependencies(number, region):
    gb_only = RoutingTable([route('gb', countries=['GB'])])
    assert route_id(gb_only, number) is None
    assert route_id(gb_only, GB_MOBILE) == 'gb'
    plus44 = RoutingTable([route('gb', countries=['GB']), route('p44', prefixes=['+44'])])
    assert route_id(plus44, number) == 'p44'
    assert route_id(plus44, GB_MOBILE) == 'gb'
    own = RoutingTable([route('p44', prefixes=['+44']), route('own', countries=[region]),
                        route('gb', countries=['GB'])])
    assert route_id(own, number) == 'own'
    longer = RoutingTable([route('own', countries=[region]), route('long', prefixes=[number[:6]])])
    assert route_id(longer, number) == 'long'


@pytest.mark.parametrize('number, region', [
    (GUADELOUPE, 'GP'), (REUNION, 'RE'), (MAYOTTE, 'YT'), (MARTINIQUE, 'MQ'), (GUYANE, 'GF'),
])
def test_french_overseas_departments(number, region):
    table = RoutingTable([route('fr', countries=['FR']), route('p33', prefixes=['+33'])])
    assert route_id(table, number) is None
    table = RoutingTable([route('fr', countries=['FR']), route('dom', countries=OVERSEAS)])
    assert route_id(table, number) == 'dom'
    assert route_id(table, FR_MOBILE) == 'fr'
    table = RoutingTable([route('own', countries=[region]), route('other', countries=OVERSEAS)])
    assert route_id(table, number) == 'own'


def test_reunion_and_mayotte_share_a_calling_code():
    table = RoutingTable([route('re', countries=['RE']), route('yt', countries=['YT']),
                          route('p262', prefixes=['+262'])])
    assert route_id(table, REUNION) == 're'
    assert route_id(table, MAYOTTE) == 'yt'
    table = RoutingTable([route('re', countries=['RE']), route('p262', prefixes=['+262'])])
    assert route_id(table, MAYOTTE) == 'p262'


def test_traffic_specific_route_beats_all_at_equal_specificity():
    table = RoutingTable([
        route('all33', prefixes=['+33']),
        route('mkt33', prefixes=['+33'], traffic=TRAFFIC_MARKETING),
        route('trx33', prefixes=['+33'], traffic=TRAFFIC_TRANSACTIONAL),
    ])
    assert route_id(table, FR_MOBILE, TRAFFIC_MARKETING) == 'mkt33'
    assert route_id(table, FR_MOBILE, TRAFFIC_TRANSACTIONAL) == 'trx33'
    countries = RoutingTable([route('all', countries=['FR']),
                              route('mkt', countries=['FR'], traffic=TRAFFIC_MARKETING)])
    assert route_id(countries, FR_MOBILE, TRAFFIC_MARKETING) == 'mkt'
    assert route_id(countries, FR_MOBILE, TRAFFIC_TRANSACTIONAL) == 'all'
    defaults = RoutingTable([route('d-all'), route('d-mkt', traffic=TRAFFIC_MARKETING)])
    assert route_id(defaults, FR_MOBILE, TRAFFIC_MARKETING) == 'd-mkt'
    assert route_id(defaults, FR_MOBILE, TRAFFIC_TRANSACTIONAL) == 'd-all'


def test_traffic_specific_route_does_not_beat_a_more_specific_one():
    table = RoutingTable([
        route('mkt33', prefixes=['+33'], traffic=TRAFFIC_MARKETING),
        route('all336', prefixes=['+336']),
    ])
    assert route_id(table, FR_MOBILE, TRAFFIC_MARKETING) == 'all336'


def test_route_for_other_traffic_is_ignored():
    table = RoutingTable([
        route('p33', prefixes=['+33']),
        route('mkt336', prefixes=['+336'], traffic=TRAFFIC_MARKETING),
        route('mkt-fr', countries=['FR'], traffic=TRAFFIC_MARKETING),
        route('mkt-default', traffic=TRAFFIC_MARKETING),
    ])
    assert route_id(table, FR_MOBILE, TRAFFIC_TRANSACTIONAL) == 'p33'
    assert route_id(table, FR_MOBILE, TRAFFIC_MARKETING) == 'mkt336'
    assert route_id(table, GB_MOBILE, TRAFFIC_TRANSACTIONAL) is None
    assert route_id(table, GB_MOBILE, TRAFFIC_MARKETING) == 'mkt-default'


def test_first_listed_route_wins_a_tie():
    table = RoutingTable([
        route('first', prefixes=['+33'], countries=['GB']),
        route('second', prefixes=['+33'], countries=['GB']),
        route('d1'),
        route('d2'),
    ])
    assert route_id(table, FR_MOBILE) == 'first'
    assert route_id(table, GB_MOBILE) == 'first'
    assert route_id(table, US_NJ) == 'd1'


# ------------------------------------------------------------------ explain

def explained(table, number, traffic=TRAFFIC_TRANSACTIONAL):
    match = table.explain(dest(number), traffic)
    return (match.route.route_id if match.route else None), match.kind, match.value


def test_explain_says_why_a_route_matched():
    table = RoutingTable([
        route('p33', prefixes=['+33']),
        route('p336', prefixes=['+33 6']),
        route('gb', countries=['GB']),
        route('us', countries=['US']),
        route('nyc', prefixes=['+1212']),
        route('default'),
    ])
    assert explained(table, FR_MOBILE) == ('p336', MATCH_PREFIX, '+336')
    assert explained(table, FR_LANDLINE) == ('p33', MATCH_PREFIX, '+33')
    assert explained(table, GB_MOBILE) == ('gb', MATCH_COUNTRY, 'GB')
    assert explained(table, US_NJ) == ('us', MATCH_COUNTRY, 'US')
    assert explained(table, US_NYC) == ('nyc', MATCH_PREFIX, '+1212')
    assert explained(table, JERSEY) == ('default', MATCH_DEFAULT, '')
    assert explained(RoutingTable([route('gb', countries=['GB'])]), FR_MOBILE) == (None, MATCH_NONE, '')
    assert RoutingTable([]).explain(dest(FR_MOBILE)) == RouteMatch(None, MATCH_NONE)


def test_explain_country_beats_its_calling_code_prefix():
    table = RoutingTable([route('p33', prefixes=['+33']), route('fr', countries=['FR'])])
    assert explained(table, FR_MOBILE) == ('fr', MATCH_COUNTRY, 'FR')
    table = RoutingTable([route('fr', countries=['FR']), route('p336', prefixes=['+336'])])
    assert explained(table, FR_MOBILE) == ('p336', MATCH_PREFIX, '+336')


def test_explain_follows_the_traffic():
    table = RoutingTable([
        route('p33', prefixes=['+33']),
        route('mkt336', prefixes=['+336'], traffic=TRAFFIC_MARKETING),
        route('mkt-fr', countries=['FR'], traffic=TRAFFIC_MARKETING),
        route('trx-default', traffic=TRAFFIC_TRANSACTIONAL),
    ])
    assert explained(table, FR_MOBILE, TRAFFIC_MARKETING) == ('mkt336', MATCH_PREFIX, '+336')
    assert explained(table, FR_MOBILE, TRAFFIC_TRANSACTIONAL) == ('p33', MATCH_PREFIX, '+33')
    assert explained(table, FR_LANDLINE, TRAFFIC_MARKETING) == ('mkt-fr', MATCH_COUNTRY, 'FR')
    assert explained(table, GB_MOBILE, TRAFFIC_TRANSACTIONAL) == ('trx-default', MATCH_DEFAULT, '')
    assert explained(table, GB_MOBILE, TRAFFIC_MARKETING) == (None, MATCH_NONE, '')


@pytest.mark.parametrize('number', [FR_MOBILE, FR_MOBILE_2, FR_LANDLINE, GB_MOBILE, US_NYC, US_NJ,
                                    CA_TORONTO, JERSEY, GUADELOUPE, REUNION, MAYOTTE])
@pytest.mark.parametrize('traffic', [TRAFFIC_TRANSACTIONAL, TRAFFIC_MARKETING])
def test_route_for_is_the_route_explain_gives(number, traffic):
    table = _big_table(20)
    assert table.route_for(dest(number), traffic) is table.explain(dest(number), traffic).route


# ---------------------------------------------------------- example numbers

@pytest.mark.parametrize('prefix', ['+33', '+336', '+33 61', '+337', '+339', '+1212', '+44', '+447797',
                                    '+262', '+2626', '+590', '+1', '+7', '+800', '+3399999', '0033 6'])
def test_example_number_starts_with_the_prefix_and_is_valid(prefix):
    number = example_number(prefix)
    digits = normalize_prefix(prefix)
    assert number.startswith('+' + digits)
    assert parse_destination(number).e164 == number


def test_example_number_of_a_region_and_unknowns():
    assert example_number(region='FR') == FR_MOBILE
    assert parse_destination(example_number(region='gb')).region == 'GB'
    assert parse_destination(example_number(region='GP')).region == 'GP'
    assert example_number('+99') is None           # no such calling code
    assert example_number('+99', region='FR') == FR_MOBILE
    assert example_number(region='XX') is None
    assert example_number() is None
    with pytest.raises(ValueError):
        example_number('33')


class CountingDict(dict):
    def __init__(self, *args):
        super().__init__(*args)
        self.gets = 0

    def get(self, *args):
        self.gets += 1
        return super().get(*args)


def _big_table(extra):
    routes = [
        route('p33', prefixes=['+33']),
        route('p3361', prefixes=['+3361']),
        route('us', countries=['US']),
        route('nyc', prefixes=['+1212']),
        route('je', countries=['JE']),
        route('default'),
    ]
    # Filler routes that match none of the probes below (none of them starts with 9).
    routes += [route(f'filler{n}', prefixes=[f'+9{n:03d}'], countries=[f'X{chr(65 + n % 26)}'])
               for n in range(extra)]
    return RoutingTable(routes)


PROBES = [FR_MOBILE, FR_MOBILE_2, US_NYC, US_NJ, CA_TORONTO, JERSEY, GUERNSEY, GB_MOBILE, REUNION]


def test_lookup_is_independent_of_the_number_of_routes():
    small, big = _big_table(0), _big_table(1000)
    assert len(big.routes) == 1006
    answers = [route_id(small, number) for number in PROBES]
    assert answers == ['p3361', 'p33', 'nyc', 'us', 'default', 'je',
                       'default', 'default', 'default']
    assert [route_id(big, number) for number in PROBES] == answers
    for table in (small, big):
        table._by_prefix = CountingDict(table._by_prefix)
        table._by_country = CountingDict(table._by_country)
    for number in PROBES:
        destination = dest(number)
        for table in (small, big):
            table._by_prefix.gets = table._by_country.gets = 0
            table.route_for(destination)
            # At most one probe per digit of the number, one for its country.
            assert table._by_prefix.gets <= len(destination.e164) - 1 <= 15
            assert table._by_country.gets <= 1
        assert big._by_prefix.gets == small._by_prefix.gets
