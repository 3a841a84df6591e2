"""Which failover chain serves a destination number.

Routes match a destination by E.164 prefix (``+33``, ``+336``, ``+1``) or by country (the
number's region per phonenumbers: Jersey numbers are ``JE`` although they dial ``+44``,
Guadeloupe is ``GP``). The most specific match wins:

* a longer prefix beats a shorter one;
* a country beats a bare prefix of its own calling code (``US`` beats ``+1``) but loses to a
  longer prefix (``+1212`` beats ``US``);
* a route with neither prefixes nor countries is the company's default chain;
* at equal specificity a route limited to the message's traffic (transactional or
  marketing) beats a route for all traffic, then the route listed first wins.

A lookup walks at most the 15 digits of an E.164 number through dictionaries, so its cost
does not grow with the number of routes. :meth:`RoutingTable.explain` also says why a route
matched (the route tester shows it); :meth:`RoutingTable.route_for` is that same lookup.
"""
from dataclasses import dataclass

import phonenumbers

from .reasons import _lt

TRAFFIC_ALL = 'all'
TRAFFIC_TRANSACTIONAL = 'transactional'
TRAFFIC_MARKETING = 'marketing'
TRAFFIC_TYPES = (TRAFFIC_ALL, TRAFFIC_TRANSACTIONAL, TRAFFIC_MARKETING)


# Why a route serves a destination (RouteMatch.kind).
MATCH_PREFIX = 'prefix'     # the longest prefix of the number that a route names
MATCH_COUNTRY = 'country'   # the number's country
MATCH_DEFAULT = 'default'   # no prefix or country matched: the route without either
MATCH_NONE = 'none'         # nothing matched and there is no default route
MATCH_KINDS = (MATCH_PREFIX, MATCH_COUNTRY, MATCH_DEFAULT, MATCH_NONE)

_NOT_A_COUNTRY = (None, phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY, phonenumbers.UNKNOWN_REGION)
# Number types tried for an example number, most useful for SMS first.
_EXAMPLE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.PAGER,
    phonenumbers.PhoneNumberType.VOIP, phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.UAN, phonenumbers.PhoneNumberType.TOLL_FREE,
)


class NumberError(ValueError):
    """The destination cannot be read as a valid phone number."""


@dataclass(frozen=True)
class Destination:
    e164: str           # '+33612345678'
    region: str         # 'FR' ('' for non-geographic numbers)
    country_code: int   # 33


def parse_destination(raw, default_region=None):
    """Read ``raw`` (E.164 or national form) into a Destination, or raise NumberError.

    ``default_region`` (ISO alpha-2, e.g. the recipient's or the company's country) is used
    only for numbers written without their international prefix.
    """
    text = (raw or '').strip()
    if not text:
        raise NumberError(_lt('no phone number'))
    try:
        number = phonenumbers.parse(text, (default_region or '').upper() or None)
    except phonenumbers.NumberParseException as error:
        if default_region:
            raise NumberError(_lt('cannot read "%(number)s" as a phone number: %(error)s',
                                  number=text, error=str(error))) from None
        raise NumberError(_lt('cannot read "%(number)s" as a phone number: %(error)s '
                              '(no country known to read a national number)',
                              number=text, error=str(error))) from None
    # is_valid_number() is is_valid_number_for_region() on region_code_for_number(), which
    # must try every region of a shared calling code (+1, +7, +44, +262...): work the
    # region out once and use it for both.
    region = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number_for_region(number, region):
        raise NumberError(_lt('"%(number)s" is not a valid phone number', number=text))
    if region in _NOT_A_COUNTRY:
        region = ''     # '001' for +800, +882...: not a country a route could name
    # The E.164 form of a valid number, as format_number(number, E164) writes it.
    e164 = '+%d%s' % (number.country_code, phonenumbers.national_significant_number(number))
    return Destination(e164, region, number.country_code)


def _examples(region, country_code=None):
    """Example numbers of ``region`` (phonenumbers' own), mobile first, as E.164 digits."""
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        numbers = [phonenumbers.example_number_for_non_geo_entity(country_code)]
    else:
        numbers = (phonenumbers.example_number_for_type(region, number_type) for number_type in _EXAMPLE_TYPES)
    for number in numbers:
        if number is not None:
            yield '%d%s' % (number.country_code, phonenumbers.national_significant_number(number))


def _valid(digits):
    try:
        parse_destination('+' + digits)
    except NumberError:
        return False
    return True


def example_number(prefix=None, region=None):
    """A valid E.164 number to try a route with: one starting with ``prefix`` ('+336'), or
    else of ``region`` ('FR'); None when phonenumbers knows none.

    It is phonenumbers' example number of the prefix's calling code (a mobile one when
    there is one), or such an example with its first digits replaced by the prefix and
    the next one chosen to make it valid."""
    if prefix:
        digits = normalize_prefix(prefix)
        for length in range(1, min(3, len(digits)) + 1):
            country_code = int(digits[:length])
            regions = phonenumbers.region_codes_for_country_code(country_code)
            if not regions or regions == (phonenumbers.UNKNOWN_REGION,):
                continue
            examples = [example for code in regions for example in _examples(code, country_code)]
            for example in examples:
                if example.startswith(digits):
                    return '+' + example
            for example in examples:
                rest = example[len(digits):]
                candidates = [digits + rest] + [digits + digit + rest[1:] for digit in '0123456789'] if rest else []
                for candidate in candidates:
                    if _valid(candidate):
                        return '+' + candidate
            break
    if region:
        for example in _examples(region.upper()):
            return '+' + example
    return None


def international_digits(number):
    """The digits of a number in international form, without '+' or a leading '00'.

    Providers echo numbers in their own form (``+33674185708`` may come back as
    ``0033674185708``): compare numbers on these digits, never as strings.
    """
    digits = ''.join(ch for ch in str(number or '') if ch.isdigit())
    return digits[2:] if digits.startswith('00') else digits


def normalize_prefix(prefix):
    """'+33 6' -> '336'; raise ValueError for anything but a '+' and digits."""
    text = (prefix or '').replace(' ', '').replace('-', '')
    if text.startswith('00'):
        text = '+' + text[2:]
    if not text.startswith('+') or not text[1:].isdigit() or len(text) > 16:
        raise ValueError(f'"{prefix}" is not an E.164 prefix such as +33 or +336')
    return text[1:]


@dataclass(frozen=True)
class Route:
    route_id: object
    chain: tuple                 # account ids, in failover order
    prefixes: tuple = ()         # e.g. ('+33', '+336')
    countries: tuple = ()        # e.g. ('FR', 'GP')
    traffic: str = TRAFFIC_ALL
    name: str = ''

    @property
    def is_default(self):
        return not self.prefixes and not self.countries


@dataclass(frozen=True)
class RouteMatch:
    """The route serving a destination and why (one of MATCH_KINDS)."""

    route: Route                # None when kind is MATCH_NONE
    kind: str
    value: str = ''             # the matching prefix ('+336') or country ('FR')


class RoutingTable:
    """An immutable index of one company's routes."""

    def __init__(self, routes):
        self.routes = tuple(routes)
        self._by_prefix = {}
        self._by_country = {}
        self._defaults = {}
        for route in self.routes:
            if route.traffic not in TRAFFIC_TYPES:
                raise ValueError(f'unknown traffic type {route.traffic!r}')
            if route.is_default:
                self._defaults.setdefault(route.traffic, route)
            for prefix in route.prefixes:
                digits = normalize_prefix(prefix)
                self._by_prefix.setdefault(digits, {}).setdefault(route.traffic, route)
            for country in route.countries:
                self._by_country.setdefault(country.upper(), {}).setdefault(route.traffic, route)
        self._max_prefix = max((len(p) for p in self._by_prefix), default=0)

    @staticmethod
    def _pick(candidates, traffic):
        return candidates.get(traffic) or candidates.get(TRAFFIC_ALL)

    def route_for(self, destination, traffic=TRAFFIC_TRANSACTIONAL):
        """The route serving ``destination`` for ``traffic``, or None."""
        return self.explain(destination, traffic).route

    def explain(self, destination, traffic=TRAFFIC_TRANSACTIONAL):
        """The RouteMatch of ``destination`` for ``traffic``: its route and why it matched."""
        digits = destination.e164[1:]
        country_digits = len(str(destination.country_code))
        country_match = None
        candidates = self._by_country.get(destination.region)
        if candidates:
            route = self._pick(candidates, traffic)
            if route:
                country_match = RouteMatch(route, MATCH_COUNTRY, destination.region)
        for length in range(min(len(digits), self._max_prefix), 0, -1):
            if country_match and length <= country_digits:
                # A country is more specific than a prefix as long as its calling code.
                return country_match
            candidates = self._by_prefix.get(digits[:length])
            if candidates:
                route = self._pick(candidates, traffic)
                if route:
                    return RouteMatch(route, MATCH_PREFIX, '+' + digits[:length])
        if country_match:
            return country_match
        route = self._pick(self._defaults, traffic)
        return RouteMatch(route, MATCH_DEFAULT) if route else RouteMatch(None, MATCH_NONE)

    def resolve(self, raw_number, default_region=None, traffic=TRAFFIC_TRANSACTIONAL):
        """(Destination, Route or None); raises NumberError for unreadable numbers."""
        destination = parse_destination(raw_number, default_region)
        return destination, self.route_for(destination, traffic)
