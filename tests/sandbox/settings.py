"""Settings shared by every provider, the converters that check new values, and counters.

A provider adds its own settings with its ``defaults`` and ``schema`` (see providers/base.py).
"""
import copy
import json
import math
import re
from decimal import Decimal, InvalidOperation

from .common import number_key
from .faults import MODES

MAX_HANG_SECONDS = 600.0

COMMON_DEFAULTS = {
    'mode': 'ok',
    'latency_ms': 0.0,
    'retry_after': None,          # seconds; 429 always sends one (1 when unset)
    'fault_count': None,          # the fault hits the next N requests, then mode -> ok
    'fault_ratio': 1.0,           # probability that a request gets the fault
    'fault_scope': 'all',         # 'all' endpoints or only the 'send' endpoint
    'hang_max_s': 60.0,
    'custom_status': 400,
    'custom_body': None,
    'custom_headers': {},
    'invalid_numbers': [],        # E.164 digits refused as invalid recipients
    'invalid_suffix': '0000',     # any number ending with this is invalid ('' disables)
    'unsubscribed_numbers': [],   # opted out (Twilio 21610, OVH invalid, Sweego sms_stop)
    'undelivered_numbers': [],    # accepted, then reported undelivered asynchronously
    'callback_delay_ms': 500.0,   # delay before each delivery-report step
    'rate_limit': None,           # segments per second per account; past it 429 + Retry-After
    'rate_limit_burst': None,     # segments the account may send at once (default: 1 s of rate)
    'poor_delivery_ratio': 0.6,   # mode poor_delivery: share of accepted SMS reported undelivered
    'part_prices': {},            # region (ISO 3166 alpha-2) -> price per part; else part_price
}
NUMBER_LISTS = ('invalid_numbers', 'unsubscribed_numbers', 'undelivered_numbers')
# Every provider's defaults also give these (Decimal strings): its balance and price per part.
MONEY = ('credit', 'part_price')


# --------------------------------------------------------------------------- converters

def as_decimal(value):
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f'not a number: {value!r}') from None
    if not number.is_finite() or number < 0:
        raise ValueError(f'must be a non-negative number: {value!r}')
    return number


def as_prices(value):
    """{'FR': '0.045', ...}: price per part by destination region (upper-cased)."""
    if not isinstance(value, dict):
        raise ValueError('must be an object of region -> price per part')
    prices = {}
    for region, price in value.items():
        if not isinstance(region, str) or not re.fullmatch(r'[A-Za-z]{2}', region):
            raise ValueError(f'not a region (ISO 3166 alpha-2): {region!r}')
        prices[region.upper()] = as_decimal(price)
    return prices


def as_float(minimum=None, maximum=None, optional=False):
    def convert(value):
        if value is None and optional:
            return None
        if isinstance(value, bool):
            raise ValueError('must be a number')
        number = float(value)
        if math.isnan(number) or (minimum is not None and number < minimum) or \
                (maximum is not None and number > maximum):
            raise ValueError(f'out of range: {value!r}')
        return number
    return convert


def as_int(minimum=None, optional=False):
    def convert(value):
        if value is None and optional:
            return None
        if isinstance(value, bool) or int(value) != float(value):
            raise ValueError(f'must be an integer: {value!r}')
        number = int(value)
        if minimum is not None and number < minimum:
            raise ValueError(f'must be >= {minimum}: {value!r}')
        return number
    return convert


def as_str(optional=False):
    def convert(value):
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise ValueError(f'must be a string: {value!r}')
        return value
    return convert


def as_str_list(value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError('must be a list of strings')
    return list(value)


def as_numbers(value):
    return [number_key(number) for number in as_str_list(value)]


def as_choice(*choices):
    def convert(value):
        if value not in choices:
            raise ValueError(f'must be one of {", ".join(choices)}: {value!r}')
        return value
    return convert


def as_headers(value):
    if not isinstance(value, dict):
        raise ValueError('must be an object of header name -> value')
    return {str(k): str(v) for k, v in value.items()}


def as_json(value):
    json.dumps(value)
    return value


COMMON_SCHEMA = {
    'mode': as_choice(*MODES),
    'latency_ms': as_float(0, 600000),
    'retry_after': as_int(0, optional=True),
    'fault_count': as_int(1, optional=True),
    'fault_ratio': as_float(0, 1),
    'fault_scope': as_choice('all', 'send'),
    'hang_max_s': as_float(0, MAX_HANG_SECONDS),
    'custom_status': as_int(100),
    'custom_body': as_json,
    'custom_headers': as_headers,
    'invalid_numbers': as_numbers,
    'invalid_suffix': lambda value: as_str(optional=True)(value) or '',
    'unsubscribed_numbers': as_numbers,
    'undelivered_numbers': as_numbers,
    'callback_delay_ms': as_float(0, 600000),
    'rate_limit': as_float(0, optional=True),
    'rate_limit_burst': as_float(0, optional=True),
    'poor_delivery_ratio': as_float(0, 1),
    'credit': as_decimal,
    'part_price': as_decimal,
    'part_prices': as_prices,
}


# --------------------------------------------------------------------------- fresh state

def fresh_config(provider):
    """Default settings of ``provider`` (a Provider): the common ones, then its own."""
    config = copy.deepcopy(COMMON_DEFAULTS)
    config.update(copy.deepcopy(provider.defaults))
    for key in MONEY:
        config[key] = Decimal(config[key])
    for key in NUMBER_LISTS:
        config[key] = [number_key(n) for n in config[key]]
    return config


def converter(provider, key):
    """The function that checks and converts a new value of ``provider``'s setting ``key``."""
    return provider.schema.get(key) or COMMON_SCHEMA[key]


def fresh_counters():
    return {
        'requests': 0,              # every HTTP request that reached the provider's routes
        'sends': 0,                 # calls of the send endpoint
        'recipients_accepted': 0,
        'recipients_rejected': 0,   # invalid numbers
        'recipients_opted_out': 0,  # unsubscribed numbers refused at send time
        'parts': 0,                 # SMS parts billed
        'by_status': {},            # HTTP status -> count; 'no_answer' for refuse/hang
        'faults': {},               # injected mode -> count
        'callbacks': {'sent': 0, 'failed': 0, 'dropped': 0, 'skipped': 0},
        'last_request_at': None,
        # What the accepted SMS cost, as the provider bills it (its price_unit): decimal
        # strings, exact; per destination region too. See Sandbox.billing().
        'billed': fresh_billing(),
    }


def fresh_billing():
    return {'amount': '0', 'messages': 0, 'parts': 0, 'by_region': {}}


def jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return value
