"""Sweego SMS client: one ``POST /send`` per batch, every answer classified into outcomes.

Framework-free on purpose (no Odoo import): the router runs it in worker threads and the
tests run it with plain pytest. API facts come from Sweego's public documentation, an
existing Sweego SMS module and the clients seen in the wild; the few that nothing confirmed
are marked (unverified) and kept in one constant each so they are cheap to change.
"""
import contextlib
import dataclasses
import json
import logging
import math
import re
from datetime import date, datetime
from urllib.parse import quote

from ...sms_router.engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ...sms_router.engine.reasons import _lt
from ...sms_router.engine.routing import international_digits
from ...sms_router.engine.transport import (
    ProviderError,
    DEFAULT_TIMEOUT,
    HttpClient,
    TransportFailure,
    classify_status,
    parse_retry_after,
)

_logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = 'https://api.sweego.io'
CAMPAIGN_TYPES = ('transac', 'market')
# Body key of the link-shortening switch. providers.md and a TypeScript client use the dashed
# form like every other key of /send; Symfony's bridge sends 'shorten_urls' (unverified).
SHORTEN_URLS_KEY = 'shorten-urls'
# What Sweego appends to marketing SMS to France: its STOP mention, "STOP" and the short number
# to reply to (providers.md: "STOP XXXX"; French short numbers have 5 digits), on a line of
# its own (unverified: no published wording; the account can override it). Counted in the
# segments of those SMS, not sent by the router.
STOP_MENTION = 'STOP XXXXX'
STOP_MENTION_SEPARATOR = '\n'
STOP_MENTION_REGIONS = frozenset({'FR'})
# What an SMS cost: Sweego's send answer gives no price (its documented 200 carries
# transaction_id, swg_uids, credit_left); its SMS webhook events carry ``sms_price`` (a JSON
# number in the sample sms_sent event of Symfony's Sweego bridge, strings accepted too), and
# ``nb_segments`` per providers.md. Read as the price of the whole SMS (every part), in
# euros: Sweego is a French service whose balance is in euros (unverified: no published
# description of the field, nor of its currency).
PRICE_CURRENCY = 'EUR'
# Sweego's messages end up in failure reasons shown to users: keep them readable.
MAX_MESSAGE_LENGTH = 300
# Sweego publishes no wording for a credit shortage (unverified): match the idea, in English
# or French, rather than one exact sentence.
_CREDIT_WORD = re.compile(r'cr[eé]dit', re.IGNORECASE)
_SHORTAGE_WORD = re.compile(
    r'insufficient|not enough|no more|out of|exhausted|too low|insuffisant|[ée]puis',
    re.IGNORECASE,
)


class SweegoError(ProviderError):
    """A Sweego call outside the send path (credit, connection test) failed."""


class SweegoClient(HttpClient):
    provider = 'sweego'
    # /send takes a list of recipients. Sweego publishes no maximum; 500 keeps one request
    # well under any sensible body limit (a 413 still fails over cleanly) (unverified).
    max_recipients_per_request = 500
    # The send, and one resend of the valid recipients of a request refused for another.
    exchanges_per_send = 2

    def __init__(self, api_key, client_uuid, sender_id=None, campaign_type='transac',
                 shorten_urls=False, base_url=DEFAULT_BASE_URL, timeout=DEFAULT_TIMEOUT,
                 pool_size=8, session=None, stop_mention=STOP_MENTION):
        super().__init__(base_url or DEFAULT_BASE_URL, timeout=timeout, pool_size=pool_size,
                         session=session)
        # Pasted credentials often carry a trailing newline, which requests refuses in a header.
        self.api_key = (api_key or '').strip()
        self.client_uuid = (client_uuid or '').strip()
        self.sender_id = (sender_id or '').strip() or None
        self.campaign_type = campaign_type or 'transac'
        self.shorten_urls = bool(shorten_urls)
        self.stop_mention = (stop_mention or '').strip()

    # -- configuration ------------------------------------------------------------------

    def check_configuration(self):
        problem = self._missing_credentials()
        if problem:
            return problem
        if self.campaign_type not in CAMPAIGN_TYPES:
            return _lt('unknown campaign type %(type)s (expected transac or market)', type=repr(self.campaign_type))
        return None

    def appended_text(self, region, marketing):
        """Sweego's STOP mention, on marketing SMS to France: mass SMS, and every SMS of an
        account whose default campaign type is marketing."""
        if region not in STOP_MENTION_REGIONS or not self.stop_mention:
            return ''
        if not (marketing or self.campaign_type == CAMPAIGN_TYPES[1]):
            return ''
        return STOP_MENTION_SEPARATOR + self.stop_mention

    def _missing_credentials(self):
        # The UUID is only needed by the credit endpoint, but the router relies on the
        # balance (thresholds, display): an account without it is not complete.
        if not self.api_key:
            return _lt('missing API key and client UUID') if not self.client_uuid else _lt('missing API key')
        return _lt('missing client UUID') if not self.client_uuid else None

    # -- sending ------------------------------------------------------------------------

    def send(self, request):
        problem = self.check_configuration()
        if problem:
            return BatchResult.for_all(request, OutcomeKind.MISCONFIGURED, _reason(problem))
        result, bystanders = self._attempt(request)
        if bystanders:
            # A 422 on some numbers rejects the whole request, so the other recipients were
            # refused for no fault of theirs. Sweego would take them alone: send them once
            # more here rather than let the router fail good numbers over to another
            # (costlier) account or count a bad number against this account's breaker.
            # Exactly one resend, never a loop: its own bystanders keep the ACCOUNT outcome
            # _attempt gave them.
            retry, _ = self._attempt(dataclasses.replace(request, recipients=tuple(bystanders)))
            result.outcomes.update(retry.outcomes)
            result.account_updates.update(retry.account_updates)
        return result

    def _attempt(self, request):
        """One POST /send; return (BatchResult, recipients refused only because of others)."""
        try:
            reply = self.request('POST', '/send', data=self._send_body(request),
                                 headers=self._headers(with_body=True))
        except TransportFailure as failure:
            _logger.warning('Sweego: send failed: %s', failure.reason)
            return BatchResult.for_all(request, failure.kind, _reason(failure.reason)), ()
        if reply.ok:
            return self._accepted(request, reply), ()
        payload = reply.json()
        message = self._message(payload)
        _logger.warning('Sweego: HTTP %s on /send: %s', reply.status, message or '(no message)')
        if reply.status == 422 and isinstance(payload, dict) \
                and isinstance(payload.get('detail'), list):
            return self._unprocessable(request, payload['detail'])
        values = _refusal(reply.status, message)
        if reply.status == 429:
            values['retry_after'] = parse_retry_after(reply.header('Retry-After'))
            values['throttled'] = True
        return BatchResult.for_all(request, **values), ()

    def _send_body(self, request):
        body = {
            'channel': 'sms',
            'provider': 'sweego',
            'campaign-type': 'market' if request.marketing else self.campaign_type,
            'recipients': [self._recipient_entry(recipient) for recipient in request.recipients],
            'message-txt': request.body,
            SHORTEN_URLS_KEY: self.shorten_urls,   # explicit: Sweego shortens by default
        }
        if self.sender_id:
            body['sender-id'] = self.sender_id
        # Serialised once, here, so what is sent is exactly what the tests see.
        return json.dumps(body).encode('utf-8')

    @staticmethod
    def _recipient_entry(recipient):
        entry = {'num': recipient.number}
        # The schema marks region required; an unknown region is left out rather than
        # guessed, and Sweego's 422 for it then lands on this recipient only.
        if recipient.region:
            entry['region'] = recipient.region
        return entry

    def _headers(self, with_body=False):
        headers = {'Api-Key': self.api_key, 'Accept': 'application/json'}
        if with_body:
            headers['Content-Type'] = 'application/json'
        return headers

    # -- answers --------------------------------------------------------------------------

    def _accepted(self, request, reply):
        payload = reply.json()
        if not isinstance(payload, dict) or not isinstance(payload.get('swg_uids'), dict):
            # A 2xx means Sweego took the request: the SMS may well be on its way, so this
            # must not look like a clean failure that the router would send again elsewhere.
            if not isinstance(payload, dict):
                reason = _lt('HTTP %(status)s with invalid JSON in the answer; the request may have been processed',
                             status=reply.status)
            else:
                reason = _lt('HTTP %(status)s with no swg_uids in the answer; the request may have been processed',
                             status=reply.status)
            return BatchResult.for_all(request, OutcomeKind.AMBIGUOUS, _reason(reason))
        transaction_id = scalar_text(payload.get('transaction_id'))
        uids = _uids_by_number(payload['swg_uids'])
        outcomes, unmatched = {}, []
        for recipient in request.recipients:
            uid = uids.get(international_digits(recipient.number))
            if uid:
                outcomes[recipient.key] = RecipientOutcome(
                    OutcomeKind.SENT, message_id=uid, batch_id=transaction_id)
            else:
                unmatched.append(recipient)
        if unmatched:
            attributed = {international_digits(r.number) for r in request.recipients}
            kind, reason = _missing_id(unattributed_ids=bool(set(uids) - attributed))
            _logger.warning('Sweego: transaction %s returned no id for %d number(s)',
                            transaction_id, len(unmatched))
            for recipient in unmatched:
                outcomes[recipient.key] = RecipientOutcome(
                    kind, _reason(_http(reply.status, reason)), batch_id=transaction_id)
        self._log_accepted(transaction_id, uids.values(), payload.get('credit_left'))
        return BatchResult(outcomes, self._account_updates(payload))

    @staticmethod
    def _log_accepted(transaction_id, uids, credit_left):
        # Traceability the existing module offers: the transaction and every message id.
        _logger.info('Sweego: transaction %s accepted, credit left %s', transaction_id, credit_left)
        for uid in uids:
            _logger.info('Sweego: transaction %s, swg_uid %s', transaction_id, uid)

    @staticmethod
    def _account_updates(payload):
        credit = _number(payload.get('credit_left'))
        return {} if credit is None else {'credit_balance': credit}

    def _unprocessable(self, request, entries):
        """A 422: split Sweego's validation errors between recipients and the request."""
        per_recipient, general = {}, []
        for entry in entries:
            index = _recipient_index(entry, len(request.recipients))
            message = self._entry_message(entry)
            if index is None:
                general.append(message)
            else:
                per_recipient.setdefault(index, []).append(message)

        outcomes = {}
        for index, messages in per_recipient.items():
            outcomes[request.recipients[index].key] = RecipientOutcome(
                OutcomeKind.RECIPIENT, _reason(_http(422, '; '.join(messages))),
                failure_type='sms_number_format')
        others = [r for i, r in enumerate(request.recipients) if i not in per_recipient]
        if general or not per_recipient:
            # Something about the request itself (sender id, campaign type...): sending the
            # others again would be refused the same way, so no resend.
            template = _refusal(422, '; '.join(general) or None)
            bystanders = ()
        else:
            template = dict(kind=OutcomeKind.ACCOUNT, reason=_reason(_http(
                422, _lt('request rejected because of another recipient'))))
            bystanders = others
        for recipient in others:
            outcomes[recipient.key] = RecipientOutcome(**template)
        return BatchResult(outcomes), bystanders

    def _message(self, payload):
        """Sweego's explanation in an error body, cleaned for a failure reason, or None."""
        if not isinstance(payload, dict):
            return None
        detail = payload.get('detail')
        if isinstance(detail, list):
            text = '; '.join(self._entry_message(entry) for entry in detail)
        else:
            text = next((value for value in (detail, payload.get('message'), payload.get('error'))
                         if isinstance(value, str) and value.strip()), None)
        return self._clean(text)

    def _entry_message(self, entry):
        """One FastAPI-style validation entry, e.g. 'body.recipients.0.num: invalid number'."""
        if not isinstance(entry, dict):
            return self._clean(str(entry)) or 'invalid'
        loc = entry.get('loc')
        where = '.'.join(str(part) for part in loc) if isinstance(loc, list) else ''
        text = scalar_text(entry.get('msg')) or 'invalid'
        return self._clean(f'{where}: {text}' if where else text)

    def _clean(self, text):
        if not text:
            return None
        text = ' '.join(str(text).split())
        # An error body could echo the key back (e.g. "invalid key <key>"); reasons are
        # stored and shown to users, so the key never reaches them.
        if self.api_key:
            text = text.replace(self.api_key, '***')
        if len(text) > MAX_MESSAGE_LENGTH:
            text = text[:MAX_MESSAGE_LENGTH - 1] + '…'
        return text

    # -- account ------------------------------------------------------------------------

    def fetch_credit(self):
        """The SMS credit of the account; raise SweegoError when it cannot be read."""
        problem = self._missing_credentials()
        if problem:
            raise SweegoError(_credit_error(problem))
        path = f'/clients/{quote(self.client_uuid, safe="")}/billing/credits/sms'
        try:
            reply = self.request('GET', path, headers=self._headers())
        except TransportFailure as failure:
            raise SweegoError(_credit_error(failure.reason)) from None
        payload = reply.json()
        if not reply.ok:
            raise SweegoError(_credit_error(_http(reply.status, self._message(payload))))
        if not isinstance(payload, dict):
            raise SweegoError(_credit_error(_lt('HTTP %(status)s with invalid JSON in the answer',
                                                status=reply.status)))
        balance = _number(payload.get('amount'))
        if balance is None:
            raise SweegoError(_credit_error(_lt('HTTP %(status)s with no amount in the answer',
                                                status=reply.status)))
        return {
            'credit_balance': balance,
            'credit_expiry': _iso_date(payload.get('termination_date')),
            'credit_type': scalar_text(payload.get('type')) or '',
        }

    def test_connection(self):
        """Check the key and UUID with a harmless call; return the credit it read."""
        return self.fetch_credit()


def _uids_by_number(swg_uids):
    """Sweego's {'0033674185708': uid} keyed by international digits, empty ids dropped."""
    return {international_digits(number): uid for number, value in swg_uids.items()
            if (uid := scalar_text(value))}


def _missing_id(unattributed_ids):
    """Kind and reason for a number a 2xx answer gave no id for."""
    if unattributed_ids:
        # Ids under numbers that match none of ours mean Sweego sent something under a form
        # of number we did not expect: this one may be among them, so sending it again
        # elsewhere could deliver it twice.
        return OutcomeKind.AMBIGUOUS, _lt('returned ids that match none of our numbers; '
                                          'this number may have been sent')
    # Sweego answers number by number and gave nothing for this one: it did not take it.
    # Not RECIPIENT (no reason given, another provider may well deliver it), not AMBIGUOUS
    # (nothing says it left; the ambiguity policy could hold back a deliverable SMS), not
    # ACCOUNT (the account sent the others): Sweego failed this number, so fail it over.
    return OutcomeKind.PROVIDER, _lt('accepted the request but returned no id for this number')


def _recipient_index(entry, count):
    """Index of the recipient a validation entry points at (loc [..., 'recipients', i, ...])."""
    loc = entry.get('loc') if isinstance(entry, dict) else None
    if not isinstance(loc, list) or 'recipients' not in loc:
        return None
    position = loc.index('recipients') + 1
    index = loc[position] if position < len(loc) else None
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count:
        return index
    return None


def _refusal(status, message):
    """OutcomeKind, reason and failure type of a refused request, from its status and message."""
    reason = _reason(_http(status, message))
    if status == 402 or (status < 500 and status != 429 and _says_credit_is_short(message)):
        return dict(kind=OutcomeKind.ACCOUNT, reason=reason, failure_type='sms_credit')
    if status == 413:
        # Too large for Sweego, not wrong: another provider may take it.
        return dict(kind=OutcomeKind.PROVIDER, reason=reason)
    # 401/403 -> ACCOUNT, 429/5xx -> PROVIDER, any other refusal -> ACCOUNT: our request or
    # our account is what Sweego objects to.
    return dict(kind=classify_status(status), reason=reason)


def _reason(text):
    """A reason of this client: 'Sweego: ' and ``text``."""
    return _lt('Sweego: %(reason)s', reason=text)


def _http(status, message=None):
    """'HTTP 422: <message>' (the message is Sweego's own text or one of our reasons)."""
    if message:
        return _lt('HTTP %(status)s: %(message)s', status=status, message=message)
    return f'HTTP {status}'


def _credit_error(reason):
    return _lt('Sweego: cannot fetch SMS credit: %(reason)s', reason=reason)


def _says_credit_is_short(message):
    return bool(message and _CREDIT_WORD.search(message) and _SHORTAGE_WORD.search(message))


def scalar_text(value):
    """A non-empty string from a JSON scalar, or None."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def price_amount(value):
    """A price Sweego reported (``'0.045'`` or ``0.045``) as a positive float; None when
    absent or unreadable. A negative amount (a debit written with its sign) counts as its
    absolute value."""
    number = _number(value)
    return None if number is None else abs(number)


def _number(value):
    """A float from Sweego's amounts, which come as strings ('19.84') or numbers."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _iso_date(value):
    """'YYYY-MM-DD' from a date or datetime string, or None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):  # not a full timestamp: try the date alone
        return datetime.fromisoformat(value.replace('Z', '+00:00')).date().isoformat()
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None
