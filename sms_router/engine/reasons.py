"""Reasons people read (attempt trails, failure reasons, the route tester), translatable
without Odoo.

The engine and the provider clients write their reasons in English with :func:`_lt`, named
like Odoo's lazy translation marker so that Odoo's term extraction (``_`` and ``_lt`` calls
of every Python file of an addon) puts each template in the addon's ``.pot``. A
:class:`Reason` *is* the English text (a ``str``: comparing, logging, slicing it work as
before) and also keeps its template, its parameters and the addon that wrote it, so that
:func:`render` can write it again in another language, parameters first. Nothing here
imports Odoo; the Odoo side (``sms_router.tools.reason_text``) supplies the translations.
"""
import re
import sys

__all__ = ['Number', 'Reason', '_lt', 'join_reasons', 'listing', 'reason_of', 'render']

ADDON_PREFIX = 'odoo.addons.'


class Reason(str):
    """English text that remembers how it was made: ``template % params``.

    ``params`` is a dict (``%(name)s`` placeholders) or a tuple (``%s``); a parameter may
    be a Reason itself, rendered in the same language. ``module`` is the addon whose
    translations hold the template (None: the core ``sms_router``)."""

    def __new__(cls, template, params=None, module=None):
        text = template % params if params else template
        reason = super().__new__(cls, text)
        reason.template = template
        reason.params = params or None
        reason.module = module
        return reason

    def __reduce__(self):
        return (Reason, (self.template, self.params, self.module))

    def __repr__(self):
        return f'Reason({str.__repr__(self)})'


class Number(str):
    """A number in a reason, written the English way ('0.045', '87.5 %'): :func:`render`
    writes it again with the reader's decimal separator ('0,045', '87,5 %' in French)
    when ``translate`` has a ``number`` function (``sms_router.tools.reason_text``)."""

    def __reduce__(self):
        return (Number, (str.__str__(self),))

    def __repr__(self):
        return f'Number({str.__repr__(self)})'


# The decimal point of an English number: a dot between two digits.
DECIMAL_POINT = re.compile(r'(?<=\d)\.(?=\d)')


def listing(parts, separator=', '):
    """``parts`` (texts, Reasons, Numbers) joined with ``separator`` as one Reason that is
    not a text to translate but keeps its parts' own rendering (e.g. 'Sweego 0.052, OVH
    0.045', whose prices are Numbers); '' when there is no part."""
    parts = tuple(parts)
    if not parts:
        return ''
    return Reason(separator.join(['%s'] * len(parts)), parts)


def _caller_addon(depth):
    """The addon of the module ``depth`` frames up: 'sms_router_twilio' for code loaded as
    ``odoo.addons.sms_router_twilio.tools.client``; None outside Odoo (tests)."""
    name = sys._getframe(depth + 1).f_globals.get('__name__', '')
    return name.split('.')[2] if name.startswith(ADDON_PREFIX) else None


def _lt(template, *args, **kwargs):
    """A :class:`Reason` from a translatable ``template`` (a string literal, so that Odoo
    extracts it) and its parameters, as Odoo's ``_``: positional or named, not both."""
    if args and kwargs:
        raise TypeError('use positional or named parameters, not both')
    return Reason(template, args or kwargs, _caller_addon(1))


def join_reasons(reasons):
    """Reasons joined with '; ' (a translatable separator: French writes ' ; ')."""
    joined = ''
    for reason in reasons:
        joined = reason if not joined else _lt('%(before)s; %(after)s', before=joined, after=reason)
    return joined


def reason_of(error):
    """The Reason an exception was raised with (``NumberError(_lt(...))``), else its text."""
    if error.args and isinstance(error.args[0], Reason):
        return error.args[0]
    return str(error)


def render(value, translate):
    """``value`` written with ``translate(template, module)``, which returns the template
    in the wanted language (the template itself when it has no translation).

    A Reason's parameters are rendered first; anything else comes back as it is. A
    translation that does not fit its parameters gives the English text, never an error:
    a reason must not cost an SMS."""
    if not isinstance(value, Reason):
        return value
    params = value.params
    if isinstance(params, dict):
        params = {name: _render_param(param, translate) for name, param in params.items()}
    elif params:
        params = tuple(_render_param(param, translate) for param in params)
    try:
        template = translate(value.template, value.module) or value.template
        return str(template % params if params else template)
    except Exception:  # noqa: BLE001 - see the docstring
        return str.__str__(value)


def _render_param(param, translate):
    if isinstance(param, Number):
        number = getattr(translate, 'number', None)
        return number(param) if number else str.__str__(param)
    return render(param, translate)


def mask_secrets(text, secrets, mask):
    """``text`` with every one of ``secrets`` found in it replaced by ``mask``.

    A Reason without any secret is kept as it is (still translatable); one with a secret
    becomes its English text, masked: a translation could not be masked the same way."""
    found = [secret for secret in secrets if secret and secret in text]
    if isinstance(text, Reason):
        if not found:
            return text
        text = str.__str__(text)
    for secret in found:
        text = text.replace(secret, mask)
    return text
