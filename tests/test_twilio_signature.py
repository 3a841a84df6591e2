"""X-Twilio-Signature: Twilio's documented vector, tampering, proxies, ports, multi-dicts."""
import pytest

from addons.sms_router_twilio.tools.twilio_signature import (
    compute_signature,
    url_variants,
    validate_signature,
)

# Twilio's documented example (webhook security guide).
TOKEN = '12345'
URL = 'https://mycompany.com/myapp.php?foo=1&bar=2'
PARAMS = {
    'CallSid': 'CA1234567890ABCDE',
    'Caller': '+12349013030',
    'Digits': '1234',
    'From': '+12349013030',
    'To': '+18005551212',
}
SIGNATURE = '0/KCTR6DLpKmkAf8muzZqo1nDgQ='

PUBLIC_URL = 'https://erp.example.com/sms_router_twilio/status/0123456789abcdef0123456789abcdef'
INTERNAL_URL = 'http://localhost:8069/sms_router_twilio/status/0123456789abcdef0123456789abcdef'
STATUS = [
    ('AccountSid', 'AC0123456789abcdef0123456789abcdef'),
    ('MessageSid', 'SM0123456789abcdef0123456789abcdef'),
    ('MessageStatus', 'delivered'),
    ('To', '+33612345678'),
    ('From', '+33757000000'),
    ('ApiVersion', '2010-04-01'),
]


class MultiDictLike:
    """The part of werkzeug's MultiDict the module relies on (werkzeug is not imported)."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def items(self, multi=False):
        if multi:
            return iter(self._pairs)
        return iter(dict(self._pairs).items())


class QueryDictLike(dict):
    """Django's QueryDict: items() gives the last value of each name, lists() gives all."""

    def __init__(self, pairs):
        super().__init__()
        self._lists = {}
        for name, value in pairs:
            self._lists.setdefault(name, []).append(value)
            self[name] = value

    def lists(self):
        return iter(self._lists.items())


def test_documented_vector():
    assert compute_signature(TOKEN, URL, PARAMS) == SIGNATURE
    assert validate_signature(TOKEN, URL, PARAMS, SIGNATURE)


@pytest.mark.parametrize('params', [
    PARAMS,
    list(PARAMS.items()),
    list(reversed(PARAMS.items())),
    tuple(PARAMS.items()),
    MultiDictLike(PARAMS.items()),
    QueryDictLike(PARAMS.items()),
])
def test_parameter_containers_and_order_do_not_matter(params):
    assert compute_signature(TOKEN, URL, params) == SIGNATURE
    assert validate_signature(TOKEN, URL, params, SIGNATURE)


def test_signature_header_with_surrounding_whitespace_or_bytes():
    assert validate_signature(TOKEN, URL, PARAMS, f' {SIGNATURE}\n')
    assert validate_signature(TOKEN, URL, PARAMS, SIGNATURE.encode())
    assert validate_signature(TOKEN.encode(), URL, PARAMS, SIGNATURE)


def test_tampered_parameter_is_refused():
    assert not validate_signature(TOKEN, URL, {**PARAMS, 'Digits': '1235'}, SIGNATURE)


def test_extra_parameter_is_refused():
    assert not validate_signature(TOKEN, URL, {**PARAMS, 'Extra': ''}, SIGNATURE)


def test_missing_parameter_is_refused():
    params = dict(PARAMS)
    del params['Digits']
    assert not validate_signature(TOKEN, URL, params, SIGNATURE)


def test_tampered_url_or_wrong_token_is_refused():
    assert not validate_signature(TOKEN, URL.replace('foo=1', 'foo=2'), PARAMS, SIGNATURE)
    assert not validate_signature(TOKEN, URL.replace('https:', 'http:'), PARAMS, SIGNATURE)
    assert not validate_signature('54321', URL, PARAMS, SIGNATURE)


@pytest.mark.parametrize('token, url, params, signature', [
    (TOKEN, URL, PARAMS, None),
    (TOKEN, URL, PARAMS, ''),
    (TOKEN, URL, PARAMS, 'garbage'),
    (TOKEN, URL, PARAMS, 'é' * 28),
    (TOKEN, URL, PARAMS, 12345),
    (TOKEN, URL, PARAMS, SIGNATURE[:-1]),
    (None, URL, PARAMS, SIGNATURE),
    ('', URL, PARAMS, SIGNATURE),
    (TOKEN, None, PARAMS, SIGNATURE),
    (TOKEN, '', PARAMS, SIGNATURE),
    (TOKEN, URL, 'CallSid=CA1234567890ABCDE', SIGNATURE),
    (TOKEN, URL, [('only-a-name',)], SIGNATURE),
])
def test_missing_or_garbage_input_is_refused_without_raising(token, url, params, signature):
    assert validate_signature(token, url, params, signature) is False


def test_fields_twilio_adds_later_are_signed_as_received():
    params = STATUS + [('SmsSid', 'SM0123'), ('NewFieldFrom2030', 'x y&z')]
    signature = compute_signature(TOKEN, PUBLIC_URL, params)

    assert validate_signature(TOKEN, PUBLIC_URL, params, signature)
    assert not validate_signature(TOKEN, PUBLIC_URL, STATUS, signature)


def test_repeated_names_sign_every_value():
    pairs = [('To', '+33612345678'), ('MediaUrl', 'https://b.example/2'), ('MediaUrl', 'https://a.example/1')]
    expected = compute_signature(TOKEN, PUBLIC_URL, [])
    assert compute_signature(TOKEN, PUBLIC_URL, pairs) != expected

    # Names sorted, then each value of a name, sorted, as Twilio's helper libraries sign.
    by_hand = compute_signature(
        TOKEN, PUBLIC_URL + 'MediaUrlhttps://a.example/1MediaUrlhttps://b.example/2To+33612345678', {})
    assert compute_signature(TOKEN, PUBLIC_URL, pairs) == by_hand
    for container in (pairs, MultiDictLike(pairs), QueryDictLike(pairs),
                      {'To': '+33612345678', 'MediaUrl': ['https://b.example/2', 'https://a.example/1']}):
        assert validate_signature(TOKEN, PUBLIC_URL, container, by_hand)
    # A multi-dict read as a plain dict loses a value: the signature no longer matches.
    assert not validate_signature(TOKEN, PUBLIC_URL, dict(pairs), by_hand)


def test_proxy_url_mismatch():
    signature = compute_signature(TOKEN, PUBLIC_URL, STATUS)

    # What the server sees behind a reverse proxy is not what Twilio signed.
    assert not validate_signature(TOKEN, INTERNAL_URL, STATUS, signature)
    assert validate_signature(TOKEN, PUBLIC_URL, STATUS, signature)


@pytest.mark.parametrize('signed_url, received_url', [
    # Signed without the port, validated with the default port written out.
    ('https://mycompany.com/myapp.php?foo=1&bar=2', 'https://mycompany.com:443/myapp.php?foo=1&bar=2'),
    # Signed with the default port, validated without it.
    ('https://mycompany.com:443/myapp.php?foo=1&bar=2', 'https://mycompany.com/myapp.php?foo=1&bar=2'),
    ('http://mycompany.com/status', 'http://mycompany.com:80/status'),
    ('http://mycompany.com:80/status', 'http://mycompany.com/status'),
])
def test_default_port_variants(signed_url, received_url):
    signature = compute_signature(TOKEN, signed_url, PARAMS)
    assert validate_signature(TOKEN, received_url, PARAMS, signature)


def test_documented_vector_with_port_written_out():
    assert validate_signature(TOKEN, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', PARAMS, SIGNATURE)


def test_wrong_default_port_is_not_a_variant():
    signature = compute_signature(TOKEN, 'https://mycompany.com:80/status', PARAMS)
    assert not validate_signature(TOKEN, 'https://mycompany.com/status', PARAMS, signature)


def test_url_variants_keep_the_rest_of_the_url_byte_for_byte():
    url = 'https://user:pa%40ss@mycompany.com/a%2Fb/?q=%20x&r=1#frag'
    assert url_variants(url) == [url, 'https://user:pa%40ss@mycompany.com:443/a%2Fb/?q=%20x&r=1#frag']
    assert url_variants('https://[::1]:443/x?') == ['https://[::1]:443/x?', 'https://[::1]/x?']
    assert url_variants('http://host:8069/x') == ['http://host:8069/x', 'http://host/x']
    assert url_variants('https://host:notaport/x') == ['https://host:notaport/x']
    assert url_variants('not a url') == ['not a url']


def test_unicode_values_are_signed_as_utf8():
    params = STATUS + [('Body', 'Rendez-vous confirmé ✅')]
    signature = compute_signature('tök€n', PUBLIC_URL, params)
    assert validate_signature('tök€n', PUBLIC_URL, params, signature)
    assert not validate_signature('tök€n', PUBLIC_URL, STATUS + [('Body', 'Rendez-vous confirme ✅')], signature)
