"""Twilio webhook signatures (``X-Twilio-Signature``), without Odoo or werkzeug.

Twilio signs each webhook with base64(HMAC-SHA1(auth token, URL + parameters)), where the
URL is the full public URL Twilio called (query string included, as sent) and the
parameters are every received POST field, sorted by name, each appended as name + value.
A name sent several times contributes each of its values, sorted, as Twilio's own helper
libraries do. Fields Twilio adds without notice are part of the signature: pass the form
exactly as received, never a filtered copy.

Behind a reverse proxy the URL seen by the server (``http://localhost:8069/...``) is not the
one Twilio signed: validate against the public URL Twilio was given.
"""
import base64
import hashlib
import hmac
from urllib.parse import urlsplit

DEFAULT_PORTS = {'https': 443, 'http': 80}


def compute_signature(auth_token, url, params):
    """The signature Twilio sends for a request to ``url`` carrying ``params``.

    ``params``: a mapping (a value may be a list of values), a multi-dict offering
    ``items(multi=True)`` (werkzeug) or ``lists()`` (Django), an iterable of (name, value)
    pairs, or None.
    """
    payload = url + ''.join(name + value for name, value in _sorted_pairs(params))
    digest = hmac.new(_to_bytes(auth_token), payload.encode('utf-8'), hashlib.sha1).digest()
    return base64.b64encode(digest).decode('ascii')


def validate_signature(auth_token, url, params, signature):
    """Whether ``signature`` (the X-Twilio-Signature header) is Twilio's for this request.

    Never raises: a missing token, URL or signature, or unreadable parameters give False.
    The URL is also tried with its port removed and with the scheme's default port added,
    as Twilio's helper libraries do, because Twilio signs either form.
    """
    if not auth_token or not url or not signature:
        return False
    try:
        expected_signature = _to_bytes(signature.strip() if isinstance(signature, str) else signature)
        pairs = _sorted_pairs(params)
    except (TypeError, ValueError, UnicodeError):
        return False
    suffix = ''.join(name + value for name, value in pairs)
    key = _to_bytes(auth_token)
    valid = False
    for candidate in url_variants(url):
        digest = hmac.new(key, (candidate + suffix).encode('utf-8'), hashlib.sha1).digest()
        computed = base64.b64encode(digest)
        # Every variant is checked, so the time taken does not tell which one matched.
        valid |= hmac.compare_digest(computed, expected_signature)
    return valid


def url_variants(url):
    """``url`` as given, without its port, and with the scheme's default port (no duplicates)."""
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    host = parts.hostname
    if not host or '://' not in url:
        return variants
    if ':' in host:
        host = f'[{host}]'
    userinfo = parts.netloc.rpartition('@')[0]
    prefix = f'{userinfo}@' if '@' in parts.netloc else ''
    # Keep the URL byte for byte apart from the authority: re-encoding the query would
    # change what was signed.
    start = url.index('://') + 3
    head, rest = url[:start], url[start + len(parts.netloc):]
    if port is not None:
        variants.append(f'{head}{prefix}{host}{rest}')
    else:
        default_port = DEFAULT_PORTS.get(parts.scheme)
        if default_port:
            variants.append(f'{head}{prefix}{host}:{default_port}{rest}')
    return list(dict.fromkeys(variants))


def _sorted_pairs(params):
    pairs = [(_to_text(name), _to_text(value)) for name, value in _pairs(params)]
    return sorted(pairs)


def _pairs(params):
    if params is None:
        return
    items = getattr(params, 'items', None)
    if callable(items):
        try:
            source = items(multi=True)      # werkzeug MultiDict: every value of every name
        except TypeError:
            lists = getattr(params, 'lists', None)
            # Django's QueryDict.items() gives only the last value of a repeated name.
            source = lists() if callable(lists) else items()
    elif isinstance(params, (str, bytes)):
        raise TypeError('parameters must be pairs or a mapping, not a string')
    else:
        source = params
    for name, value in source:
        if isinstance(value, (list, tuple)):
            for single in value:
                yield name, single
        else:
            yield name, value


def _to_text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8')
    if value is None:
        return ''
    return str(value)


def _to_bytes(value):
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError('expected text')
    return value.encode('utf-8')
