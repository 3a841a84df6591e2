"""Placeholders of the HTTP API provider (engine/http_api.py): reading and filling templates.

A template is a string where ``{name}`` stands for a value and ``{{`` / ``}}`` for literal
braces. The request of a send is built from the spec's URL, headers, parameters and JSON
body, each filled with the values of the request: once per request for the shared values
(the body, the sender, the credentials), per recipient inside ``{"$each": {...}}``, and for
the number placeholders of a request with several recipients as the spec's ``recipients``
says (``list``: a JSON array or a repeated parameter; ``separator``: one joined string).

Nothing here checks names: engine/http_api.py validates a spec once, when it is loaded, and
what it accepted renders without surprises.
"""
import functools
import re

import phonenumbers

from .reasons import _lt
from .segments import UCS2, measure

# The placeholders that stand for a recipient's number, in its three forms.
NUMBER_PLACEHOLDERS = ('number', 'number_digits', 'number_national')
# Those that take one value per recipient: only inside $each when a request has several.
RECIPIENT_PLACEHOLDERS = NUMBER_PLACEHOLDERS + ('uuid',)
# A JSON text that is exactly one of these becomes a JSON boolean ("true" / "false" elsewhere).
BOOLEAN_PLACEHOLDERS = ('marketing', 'unicode')
EACH = '$each'

_TOKEN = re.compile(r'\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]')
_NATIONAL_NOISE = re.compile(r'[\s\-().\u00a0\u2010-\u2015]')


class TemplateError(ValueError):
    """A template string that cannot be read (a lone brace); the message says why."""


class Placeholder(str):
    """The name of a ``{name}`` in a parsed template (a str, to compare and hash freely)."""


@functools.lru_cache(maxsize=4096)
def parse_template(text):
    """``text`` as a tuple of literal strings and :class:`Placeholder` names."""
    parts, literal, position = [], [], 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ('{{', '}}'):
            literal.append(token[0])
        elif match.group(1):
            if ''.join(literal):
                parts.append(''.join(literal))
            literal = []
            parts.append(Placeholder(match.group(1)))
        else:
            raise TemplateError(_lt(
                "a single '%(brace)s' (write {name} for a placeholder, %(escaped)s for a literal brace)",
                brace=token, escaped=token * 2))
    literal.append(text[position:])
    if ''.join(literal):
        parts.append(''.join(literal))
    return tuple(parts)


def placeholders(text):
    """The placeholder names of a template string, in order."""
    return [part for part in parse_template(text) if isinstance(part, Placeholder)]


def bare_placeholder(value):
    """The name when ``value`` is a string made of exactly one placeholder, else None."""
    if not isinstance(value, str):
        return None
    parts = parse_template(value)
    return parts[0] if len(parts) == 1 and isinstance(parts[0], Placeholder) else None


def is_each(node):
    return isinstance(node, dict) and EACH in node


def fill(text, values, encode=None):
    """``text`` with its placeholders replaced by ``values`` (``encode`` applied to each)."""
    out = []
    for part in parse_template(text):
        if isinstance(part, Placeholder):
            value = values.get(part, '')
            out.append(encode(part, value) if encode else value)
        else:
            out.append(part)
    return ''.join(out)


def national_number(number):
    """The number as dialled inside its country (``+33612345678`` -> ``0612345678``):
    phonenumbers' NATIONAL format without spaces, dashes, dots or parentheses; the digits
    of the number when phonenumbers cannot read it."""
    try:
        parsed = phonenumbers.parse(number or '', None)
    except phonenumbers.NumberParseException:
        return international_digits(number)
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return _NATIONAL_NOISE.sub('', national)


def international_digits(number):
    digits = ''.join(ch for ch in str(number or '') if ch.isdigit())
    return digits[2:] if digits.startswith('00') else digits


@functools.lru_cache(maxsize=256)
def needs_unicode(body):
    """Whether ``body`` (as sent) is outside the GSM 03.38 alphabet, as the router counts
    its segments (engine/segments.py)."""
    return bool(body) and measure(body).encoding == UCS2


def body_values(body, encoding_values=None):
    """The placeholders that depend on a text: {body}, {unicode}, {sms_encoding}."""
    body = body if body is not None else ''
    unicode = needs_unicode(body)
    values = {'body': body, 'unicode': 'true' if unicode else 'false'}
    if encoding_values:
        values['sms_encoding'] = encoding_values['unicode' if unicode else 'gsm']
    return values


def recipient_values(recipient, body, encoding_values=None):
    """The per-recipient placeholder values of one recipient (``body``: its text)."""
    number = recipient.number or ''
    return {
        'number': number,
        'number_digits': international_digits(number),
        'number_national': national_number(number) if number else '',
        'uuid': recipient.key or '',
        **body_values(body, encoding_values),
    }


class RequestValues:
    """The values a request's templates are filled with.

    ``shared``: the values outside ``$each`` (numbers joined, or the only recipient's);
    ``lists``: number name -> one value per recipient, when the spec joins numbers as lists
    and a request may carry several; ``each``: the values of every recipient, for ``$each``.
    """

    def __init__(self, shared, each, lists=None):
        self.shared = shared
        self.each = each
        self.lists = lists or {}


def request_values(common, recipients_values, several, join, separator):
    """Build :class:`RequestValues` from the shared ``common`` values and one dict per
    recipient (:func:`recipient_values`, merged over ``common``)."""
    each = [{**common, **values} for values in recipients_values]
    shared = dict(common)
    lists = {}
    if not several:
        # One recipient per request: its values are the request's.
        if each:
            shared = dict(each[0])
        return RequestValues(shared, each)
    for name in NUMBER_PLACEHOLDERS:
        column = [values[name] for values in recipients_values]
        if join == 'list':
            lists[name] = column
        else:
            shared[name] = separator.join(column)
    return RequestValues(shared, each, lists)


def render_json(node, values, omit_empty=frozenset()):
    """The JSON ``node`` of a body template filled with ``values`` (RequestValues). Object
    members named in ``omit_empty`` are left out when they render empty."""
    return _json(node, values.shared, values, omit_empty)


def _json(node, shared, values, omit_empty):
    if isinstance(node, dict):
        if is_each(node):
            return [_json(node[EACH], own, None, omit_empty) for own in values.each]
        out = {}
        for key, item in node.items():
            rendered = _json(item, shared, values, omit_empty)
            if key in omit_empty and rendered in ('', [], {}, None):
                continue
            out[key] = rendered
        return out
    if isinstance(node, list):
        out = []
        for item in node:
            name = bare_placeholder(item)
            if values is not None and name in values.lists:
                out.extend(values.lists[name])      # ["{number}"]: one element per number
            elif is_each(item) and values is not None:
                out.extend(_json(item, shared, values, omit_empty))
            else:
                out.append(_json(item, shared, values, omit_empty))
        return out
    if isinstance(node, str):
        name = bare_placeholder(node)
        if values is not None and name in values.lists:
            return list(values.lists[name])
        if name in BOOLEAN_PLACEHOLDERS:
            return shared.get(name) == 'true'
        return fill(node, shared)
    return node


def render_params(params, values, omit_empty=frozenset()):
    """Form or query parameters: a list of (name, value) pairs; a parameter whose value is
    a lone number placeholder is repeated once per number when numbers join as lists, one
    named in ``omit_empty`` is left out when it renders empty."""
    pairs = []
    for name, template in params:
        placeholder = bare_placeholder(template)
        if placeholder in values.lists:
            pairs.extend((name, value) for value in values.lists[placeholder])
            continue
        value = fill(template, values.shared)
        if value or name not in omit_empty:
            pairs.append((name, value))
    return pairs
