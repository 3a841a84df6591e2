"""Write the engine's reasons (``engine.reasons.Reason``) in a language, with Odoo's code
translations of the addon that wrote each template (then of ``sms_router``).

Which language: a reason that is *stored* (attempt trail, failure and hold reasons of an
SMS, a breaker's last failure, an account's chatter) is written in the language of the
sending company's partner, whoever sends: the queue's cron runs as OdooBot in English, and
a French company's trail must read French (:func:`company_lang`). A reason that is only
*shown* (the route tester, a test SMS, an account's configuration error) is written in the
language of the user reading it (``env.lang``).
"""
import logging

from babel.core import Locale, UnknownLocaleError
from babel.numbers import get_decimal_symbol

from odoo.tools.translate import code_translations

from ..engine.reasons import DECIMAL_POINT, Reason, render

_logger = logging.getLogger(__name__)

CORE_MODULE = 'sms_router'


def company_lang(env, company):
    """The language reasons stored for ``company`` are written in: its partner's, when
    that language is installed, else the environment's."""
    lang = company.partner_id.lang
    if lang and lang in dict(env['res.lang'].get_installed()):
        return lang
    return env.lang or 'en_US'


def decimal_separator(lang):
    """The decimal separator of ``lang`` ('fr_FR' -> ','), '.' when babel does not know it."""
    try:
        return get_decimal_symbol(Locale.parse(lang or 'en_US'))
    except (UnknownLocaleError, ValueError, TypeError):
        return '.'


def localize_number(text, lang):
    """A number written the English way ('0.045', '87.5 %') with ``lang``'s decimal
    separator: the numbers of reasons and explanations people read."""
    separator = decimal_separator(lang)
    return DECIMAL_POINT.sub(separator, str(text)) if separator != '.' else str(text)


def translator(lang):
    """``translate(template, module)`` for :func:`engine.reasons.render` in ``lang``; its
    ``number`` attribute writes the reasons' numbers (engine.reasons.Number) in ``lang``."""
    def translate(template, module):
        for name in dict.fromkeys((module or CORE_MODULE, CORE_MODULE)):
            translated = code_translations.get_python_translations(name, lang).get(template)
            if translated:
                return translated
        return template
    separator = decimal_separator(lang)
    translate.number = lambda text: DECIMAL_POINT.sub(separator, str.__str__(text))
    return translate


def translate_text(text, lang):
    """A fixed English text of the addons' code (e.g. a template's note, listed with ``_lt``
    in engine/http_template_texts.py) in ``lang``; the text itself when it has no translation."""
    if not text or not lang or lang == 'en_US':
        return text
    return render(Reason(text), translator(lang))


def render_reason(reason, lang):
    """``reason`` written in ``lang`` (plain text); anything that is not a Reason comes
    back as it is."""
    if not isinstance(reason, Reason):
        return reason
    if not lang or lang == 'en_US':
        return str.__str__(reason)
    return render(reason, translator(lang))


def render_verdicts(verdicts, lang):
    """Write the reasons of dispatch verdicts (engine SmsVerdict) in ``lang``, in place:
    the deciding outcome's, each attempt's and why it waits."""
    for verdict in verdicts.values():
        outcomes = [attempt.outcome for attempt in verdict.attempts]
        if verdict.outcome is not None:
            outcomes.append(verdict.outcome)
        for outcome in outcomes:
            outcome.reason = render_reason(outcome.reason, lang)
        if verdict.wait_reason:
            verdict.wait_reason = render_reason(verdict.wait_reason, lang)
