"""Reading what an HTTP API provider answered (engine/http_api.py): sends and delivery reports.

The spec's ``answer`` section says what an accepted answer looks like; everything else is
classified by the spec's rules, then by the HTTP status. The principle: an answer that is
not understood is never a success. A 2xx that matches no acceptance, and a recipient an
accepted answer says nothing about, are *ambiguous* (the SMS may have left): the company's
ambiguity policy decides, the raw answer (secrets masked, truncated) is in the reason.

JSON paths are jsonpath-ng's (``$.a.b[0]``, ``$.items[*]``, filters); compiled once per path
text and process (compiling one takes tens of milliseconds). Values are compared as text:
``1`` == ``"1"``, ``true`` == ``"true"``.
"""
import functools
import json
import logging
import math
import re
from collections import defaultdict, deque
from dataclasses import dataclass

from jsonpath_ng.ext import parse as parse_json_path

from .http_api_render import national_number
from .outcomes import OutcomeKind, RecipientOutcome
from .reasons import _lt
from .transport import classify_status, parse_retry_after

_logger = logging.getLogger(__name__)

MAX_ANSWER_IN_REASON = 300
_CURRENCY_IN_TEXT = re.compile(r'(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])')

# Outcome names a rule may give -> (kind, throttled).
RULE_OUTCOMES = {
    'provider_error': (OutcomeKind.PROVIDER, False),
    'account_error': (OutcomeKind.ACCOUNT, False),
    'destination_unsupported': (OutcomeKind.DESTINATION, False),
    'recipient_error': (OutcomeKind.RECIPIENT, False),
    'opted_out': (OutcomeKind.OPTED_OUT, False),
    'throttled': (OutcomeKind.PROVIDER, True),
}


@functools.lru_cache(maxsize=1024)
def compile_path(text):
    """A compiled JSON path; raise ValueError with the parser's message when it does not parse."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError('empty path')
    try:
        return parse_json_path(text.strip())
    except Exception as error:  # noqa: BLE001 - jsonpath-ng raises bare Exceptions too
        raise ValueError(str(error) or type(error).__name__) from None


def as_text(value):
    """A JSON value as the text rules compare: ``true``, ``1``, ``"a"`` -> 'true', '1', 'a'."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(',', ':'), ensure_ascii=False)
    return str(value)


class Selector:
    """Where a value is: a JSON path, a regular expression on the raw text (its first group,
    else the whole match) or a plain key (form and query parameters)."""

    def __init__(self, path=None, regex=None, key=None):
        self.path = compile_path(path) if path is not None else None
        self.regex = re.compile(regex) if regex is not None else None
        self.key = key

    def values(self, data, text=None):
        if self.path is not None:
            if data is None:
                return []
            try:
                return [match.value for match in self.path.find(data)]
            except Exception:  # noqa: BLE001 - a filter on an unexpected shape: nothing found
                return []
        if self.regex is not None:
            if text is None:
                text = as_text(data) if not isinstance(data, str) else data
            return [m.group(1) if m.groups() else m.group(0) for m in self.regex.finditer(text or '')]
        if isinstance(data, dict) and self.key in data:
            value = data[self.key]
            if isinstance(value, (list, tuple)):    # parse_qs-style parameters
                return list(value[:1])
            return [value]
        return []

    def first(self, data, text=None):
        values = self.values(data, text)
        return values[0] if values else None


@dataclass
class Condition:
    """A rule's or the acceptance's test; every part given must hold."""

    statuses: frozenset = None
    selector: Selector = None
    values: frozenset = None        # None: the path is found at all
    regex: re.Pattern = None

    def holds(self, status, data, text):
        if self.statuses is not None and status not in self.statuses:
            return False
        if self.selector is not None:
            found = [as_text(value) for value in self.selector.values(data)]
            if self.values is None:
                if not any(value not in (None, '') for value in found):
                    return False
            elif not self.values.intersection(found):
                return False
        if self.regex is not None and not self.regex.search(text or ''):
            return False
        return True


@dataclass
class Rule:
    condition: Condition
    kind: OutcomeKind
    throttled: bool = False
    reason: str = ''


def excerpt(text, mask):
    """The raw answer for a reason: whitespace collapsed, secrets masked, then cut."""
    text = ' '.join(str(text or '').split())
    if not text:
        return _lt('(empty answer)')
    text = mask(text)
    if len(text) > MAX_ANSWER_IN_REASON:
        text = text[:MAX_ANSWER_IN_REASON - 1] + '…'
    return text


class AnswerReader:
    """Turn one HTTP answer to a send into one RecipientOutcome per recipient."""

    def __init__(self, answer, mask):
        self.answer = answer            # http_api.AnswerSpec
        self.mask = mask

    def outcomes(self, request, reply):
        answer = self.answer
        data, text, status = reply.json(), reply.text, reply.status
        retry_after = parse_retry_after(reply.header('Retry-After'))
        accepted = status in answer.accepted_status and (
            answer.accepted is None or answer.accepted.holds(status, data, text))
        if accepted and answer.results is None and answer.ok_values is not None:
            accepted = self._status_ok(data, text)
        if not accepted:
            return self._for_all(request, lambda: self._refused(status, data, text, retry_after))
        batch_id = self._text(answer.batch_id, data, text)
        if answer.results is None:
            return self._whole(request, status, data, text, batch_id)
        return self._per_recipient(request, status, data, text, batch_id, retry_after)

    # -- a whole answer -------------------------------------------------------------------

    def _refused(self, status, data, text, retry_after):
        shown = excerpt(text, self.mask)
        rule = self._rule(status, data, text)
        if rule is not None:
            return self._ruled(rule, status, shown, retry_after)
        if 200 <= status < 300:
            return RecipientOutcome(OutcomeKind.AMBIGUOUS, _lt(
                'HTTP %(status)s matches no accepted answer; the SMS may have been sent: %(answer)s',
                status=status, answer=shown))
        reason = _lt('HTTP %(status)s: %(answer)s', status=status, answer=shown)
        if status == 429:
            return RecipientOutcome(OutcomeKind.PROVIDER, reason, retry_after=retry_after, throttled=True)
        if status >= 500:
            return RecipientOutcome(OutcomeKind.PROVIDER, reason, retry_after=retry_after)
        if status == 402:
            return RecipientOutcome(OutcomeKind.ACCOUNT, reason, failure_type='sms_credit')
        return RecipientOutcome(classify_status(status), reason)

    def _whole(self, request, status, data, text, batch_id):
        recipients = request.recipients
        ids = [as_text(value) for value in self.answer.id.values(data, text)] if self.answer.id else []
        ids = [value for value in ids if value]
        if self.answer.id and not ids:
            shown = excerpt(text, self.mask)
            return self._for_all(request, lambda: RecipientOutcome(OutcomeKind.AMBIGUOUS, _lt(
                'HTTP %(status)s without a message id; the SMS may have been sent: %(answer)s',
                status=status, answer=shown), batch_id=batch_id))
        if len(recipients) > 1 and len(ids) > 1 and len(ids) != len(recipients):
            # Neither one id per recipient nor one id for the request: which recipient was
            # left out (refused?) cannot be told, so no one is taken as sent.
            shown = excerpt(text, self.mask)
            return self._for_all(request, lambda: RecipientOutcome(OutcomeKind.AMBIGUOUS, _lt(
                'HTTP %(status)s with %(ids)s message ids for %(recipients)s recipients; the SMS may have '
                'been sent: %(answer)s', status=status, ids=len(ids), recipients=len(recipients),
                answer=shown), batch_id=batch_id))
        prices = self._prices(data, text)
        if len(recipients) == 1 and len(prices) > 1 and len({currency for _, currency in prices}) == 1:
            # One SMS answered part by part (Vonage: one entry per part, each billed): its
            # price is the sum of its parts'.
            prices = [(sum(price for price, _ in prices), prices[0][1])]
        outcomes = {}
        for index, recipient in enumerate(recipients):
            if len(ids) == len(recipients):
                message_id = ids[index]
            elif len(recipients) == 1:
                message_id = ids[0]         # one SMS in parts: its first part's id
            else:
                # One id for several recipients names the request, not a message.
                message_id = None
                if batch_id is None and ids:
                    batch_id = ids[0]
            price = prices[index] if len(prices) == len(recipients) else (None, '')
            outcomes[recipient.key] = RecipientOutcome(
                OutcomeKind.SENT, message_id=message_id, batch_id=batch_id,
                price=price[0], price_currency=price[1])
        return outcomes

    # -- per recipient ----------------------------------------------------------------------

    def _per_recipient(self, request, status, data, text, batch_id, retry_after):
        answer = self.answer
        items = answer.results.values(data, text)
        if not items:
            shown = excerpt(text, self.mask)
            return self._for_all(request, lambda: RecipientOutcome(OutcomeKind.AMBIGUOUS, _lt(
                'HTTP %(status)s without results in the answer; the SMS may have been sent: %(answer)s',
                status=status, answer=shown), batch_id=batch_id))
        matched = self._match(request.recipients, items)
        outcomes = {}
        for recipient in request.recipients:
            item = matched.get(recipient.key)
            if item is None:
                outcomes[recipient.key] = RecipientOutcome(OutcomeKind.AMBIGUOUS, _lt(
                    'no result for this number in the answer (HTTP %(status)s); the SMS may have been sent: '
                    '%(answer)s', status=status, answer=excerpt(text, self.mask)), batch_id=batch_id)
                continue
            outcomes[recipient.key] = self._item_outcome(item, status, batch_id, retry_after)
        return outcomes

    def _match(self, recipients, items):
        if self.answer.match == 'order':
            return {recipient.key: item for recipient, item in zip(recipients, items, strict=False)}
        # A queue of results per number, taken in order: two SMS to the same number in one
        # request get one result each, never the same one twice (a refusal of the second
        # must not pass for the first's success). A recipient left without one is ambiguous.
        by_digits = defaultdict(deque)
        for item in items:
            digits = _digits(as_text(self.answer.number.first(item)))
            if digits:
                by_digits[digits].append(item)
        matched = {}
        for recipient in recipients:
            for digits in _number_forms(recipient.number):
                if by_digits.get(digits):
                    matched[recipient.key] = by_digits[digits].popleft()
                    break
        return matched

    def _item_outcome(self, item, status, batch_id, retry_after):
        answer = self.answer
        item_text = as_text(item) if not isinstance(item, str) else item
        message_id = self._text(answer.id, item, item_text)
        if answer.ok_values is not None:
            ok = self._status_ok(item, item_text)
        else:
            ok = message_id is not None or answer.id is None
        if ok:
            price, currency = self._price(item, item_text)
            return RecipientOutcome(OutcomeKind.SENT, message_id=message_id, batch_id=batch_id,
                                    price=price, price_currency=currency)
        shown = excerpt(item_text, self.mask)
        rule = self._rule(status, item, item_text)
        if rule is not None:
            outcome = self._ruled(rule, status, shown, retry_after)
        else:
            outcome = RecipientOutcome(OutcomeKind.AMBIGUOUS, _lt(
                'unrecognised result for this number (HTTP %(status)s); the SMS may have been sent: %(answer)s',
                status=status, answer=shown))
        outcome.batch_id = batch_id
        outcome.message_id = message_id
        return outcome

    # -- helpers -----------------------------------------------------------------------------

    def _status_ok(self, data, text):
        value = self.answer.status.first(data, text) if self.answer.status else None
        return as_text(value) in self.answer.ok_values

    def _rule(self, status, data, text):
        for rule in self.answer.rules:
            if rule.condition.holds(status, data, text):
                return rule
        return None

    @staticmethod
    def _ruled(rule, status, shown, retry_after):
        if rule.reason:
            reason = _lt('%(reason)s (HTTP %(status)s): %(answer)s', reason=rule.reason, status=status, answer=shown)
        else:
            reason = _lt('HTTP %(status)s: %(answer)s', status=status, answer=shown)
        outcome = RecipientOutcome(rule.kind, reason, throttled=rule.throttled)
        if rule.kind is OutcomeKind.PROVIDER:
            outcome.retry_after = retry_after
        return outcome

    @staticmethod
    def _text(selector, data, text):
        if selector is None:
            return None
        value = as_text(selector.first(data, text))
        return value.strip() or None if value is not None else None

    def _prices(self, data, text):
        """Every price the whole answer gives, as (price, currency) pairs."""
        answer = self.answer
        if answer.price is None and answer.price_regex is None:
            return []
        try:
            raws = answer.price.values(data, text) if answer.price else [text]
            currency = self._currency(data, text)
            return [pair for raw in raws if (pair := self._price_of(raw, currency))[0] is not None]
        except Exception as error:  # noqa: BLE001 - the SMS was accepted: a price problem only loses the price
            _logger.warning('could not read the price of an accepted answer: %s', type(error).__name__)
            return []

    def _price(self, data, text):
        prices = self._prices(data, text)
        return prices[0] if prices else (None, '')

    def _currency(self, data, text):
        answer = self.answer
        if answer.price_currency_path is not None:
            value = as_text(answer.price_currency_path.first(data, text))
            if value and re.fullmatch(r'[A-Za-z]{3}', value.strip()):
                return value.strip().upper()
        return answer.price_currency or ''

    def _price_of(self, raw, currency):
        raw = as_text(raw)
        if raw is None:
            return None, ''
        if not currency:
            # No currency configured: the one written beside the amount ('KES 0.8000').
            found = _CURRENCY_IN_TEXT.search(raw)
            if not found:
                return None, ''
            currency = found.group(1)
        if self.answer.price_regex is not None:
            found = self.answer.price_regex.search(raw)
            if not found:
                return None, ''
            raw = found.group(1) if found.groups() else found.group(0)
            if raw is None:
                return None, ''             # an optional group that took no part in the match
        try:
            price = abs(float(raw.strip()))
        except ValueError:
            return None, ''
        return (price, currency) if math.isfinite(price) else (None, '')

    @staticmethod
    def _for_all(request, make):
        return {recipient.key: make() for recipient in request.recipients}


def _digits(text):
    if not text:
        return ''
    digits = ''.join(ch for ch in text if ch.isdigit())
    return digits[2:] if digits.startswith('00') else digits


def _number_forms(number):
    """The digit strings a provider may echo for ``number``: international, then national."""
    forms = [_digits(number)]
    national = _digits(national_number(number))
    if national and national not in forms:
        forms.append(national)
    return forms


# ---------------------------------------------------------------------- delivery reports


@dataclass
class Report:
    """One delivery report: the provider's message id and what became of the message."""

    message_id: str
    delivered: bool
    reason: str = ''
    number: str = None
    status: str = ''


def read_reports(report, payload):
    """The final reports of ``payload`` (see http_api.parse_report); raise ValueError when
    nothing in it can be read."""
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode('utf-8', 'replace')
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise ValueError('the report is neither JSON nor parameters') from None
    if not isinstance(payload, (dict, list)):
        raise ValueError('the report is neither a JSON object, a JSON array nor parameters')
    if report.items is not None:
        items = report.items.values(payload)
    elif isinstance(payload, list):
        items = payload
    else:
        items = [payload]
    reports, readable = [], 0
    for item in items:
        message_id = as_text(report.id.first(item))
        status = as_text(report.status.first(item))
        if not message_id or status is None:
            continue
        readable += 1
        status = status.strip()
        if status in report.delivered:
            delivered = True
        elif status in report.failed:
            delivered = False
        else:
            continue                    # interim (queued, sent to the operator...): ignored
        number = as_text(report.number.first(item)) if report.number else None
        error = as_text(report.error.first(item)) if report.error and not delivered else None
        if delivered:
            reason = ''
        elif error and error.strip():
            reason = _lt('reported %(status)s: %(error)s', status=status, error=' '.join(error.split())[:300])
        else:
            reason = _lt('reported %(status)s', status=status)
        reports.append(Report(message_id.strip(), delivered, reason, number, status))
    if not readable:
        raise ValueError('no message id and status found in the report')
    return reports
