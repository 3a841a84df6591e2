"""Twilio Programmable Messaging client for the SMS router.

Plain Python on top of the router's HTTP plumbing: no Odoo import, so it is tested with
``responses`` alone and can run in a worker thread. One :class:`TwilioClient` per Twilio
account; ``send`` makes one ``POST /Accounts/{AccountSid}/Messages.json`` for the single
recipient of a request (Twilio has no multi-recipient send) and turns the answer into a
:class:`RecipientOutcome` the failover engine can act on.

Classification of Twilio's answers (error JSON: ``{code, message, more_info, status}``):

* 21211 / 21614 / 21265 invalid or non-SMS ``To`` -> RECIPIENT (``sms_number_format``),
  21604 missing ``To`` -> RECIPIENT (``sms_number_missing``): no provider can fix the number.
* 21610 recipient unsubscribed -> OPTED_OUT: failing over would evade the opt-out.
* 20003 or HTTP 401 -> ACCOUNT (``sms_acc``).
* 20429, 21611 (From queue full) or HTTP 429 -> PROVIDER, with Retry-After honoured.
* 21408 / 21612 / 21606 / 21608 / 21266 -> DESTINATION: this account cannot reach this
  number (region disabled, route, sender capability, trial restrictions); fail over without
  counting against the breaker.
* A body Twilio refuses as such (over 1600 characters, empty; 21617 / 21658 / 21602) ->
  RECIPIENT with failure type ``unknown``, see :data:`MESSAGE_REJECTED_KIND`.
* Any other 4xx with a Twilio code -> ACCOUNT with Twilio's message; 5xx -> PROVIDER;
  an unexplained status -> :func:`classify_status`.
* A 2xx whose body is not JSON or carries no message SID -> AMBIGUOUS: Twilio accepted
  something, so resending elsewhere may duplicate the SMS; the company policy decides.

What a message cost: the message resource's ``price`` (a string, negative for what was
billed: ``"-0.00750"``) in ``price_unit`` (ISO 4217, e.g. ``USD``). Twilio fills it once the
message has been sent, sometimes hours later: it is usually null in the 201 answer. Any
answer that has it gives ``RecipientOutcome.price`` (positive) and ``price_currency``;
:meth:`TwilioClient.fetch_message` reads it later (see :func:`message_price`).
"""
import base64
import logging
import math
import re
from urllib.parse import urljoin, urlsplit

import phonenumbers

from ...sms_router.engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ...sms_router.engine.reasons import _lt, join_reasons, mask_secrets
from ...sms_router.engine.transport import (
    ProviderError,
    DEFAULT_TIMEOUT,
    HttpClient,
    TransportFailure,
    classify_status,
    parse_retry_after,
)

_logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = 'https://api.twilio.com/2010-04-01'
MAX_BODY_LENGTH = 1600
MAX_VALIDITY_PERIOD = 36000         # seconds (10 hours), Twilio's documented maximum
INCOMING_NUMBERS_PAGE_SIZE = 1000   # Twilio's maximum page size
INCOMING_NUMBERS_MAX_PAGES = 20
MAX_TWILIO_MESSAGE_LENGTH = 300     # Twilio's own text, as quoted in a reason

_SID_PATTERN = '^{prefix}[0-9a-fA-F]{{32}}$'
_ACCOUNT_SID_RE = re.compile(_SID_PATTERN.format(prefix='AC'))
_API_KEY_SID_RE = re.compile(_SID_PATTERN.format(prefix='SK'))
_MESSAGING_SERVICE_SID_RE = re.compile(_SID_PATTERN.format(prefix='MG'))
_MESSAGE_SID_RE = re.compile(_SID_PATTERN.format(prefix='(SM|MM)'))

NUMBER_FORMAT_ERRORS = frozenset({
    21211,  # invalid 'To' phone number
    21614,  # 'To' is not a valid mobile number (not SMS-capable)
    21265,  # 'To' cannot be a short code
})
NUMBER_MISSING_ERRORS = frozenset({21604})          # 'To' phone number is required
OPT_OUT_ERRORS = frozenset({21610})                 # recipient replied STOP
AUTHENTICATION_ERRORS = frozenset({20003})
RATE_LIMIT_ERRORS = frozenset({
    20429,  # too many requests
    21611,  # the 'From' number's outgoing queue is full
})
DESTINATION_ERRORS = frozenset({
    21408,  # SMS to this region not enabled on the account
    21612,  # this To/From combination cannot be routed
    21606,  # the From number cannot send SMS to this destination
    21608,  # trial account: the To number is not verified
    21266,  # To and From are the same number
})
MESSAGE_REJECTED_ERRORS = frozenset({
    21617,  # concatenated body over 1600 characters
    21658,  # a parameter (here: Body) exceeds its character limit
    21602,  # body required
})

# A message Twilio refuses as such (too long, empty) ends the chain: the fix is in the
# content, the recipient and the account are fine, and failing over would only spread a
# 10+ segment send over other accounts (and, as an account error, over their breakers).
# RECIPIENT is the engine's only final failure kind that is not an opt-out; the failure type
# is 'unknown' (known to sms.sms, mail.notification and mailing.trace alike) rather than the
# RECIPIENT default 'sms_number_format', which would blame a number that is fine. The reason
# says what is wrong. Change this one constant if the router grows a better kind.
MESSAGE_REJECTED_KIND = OutcomeKind.RECIPIENT
MESSAGE_REJECTED_FAILURE_TYPE = 'unknown'


class TwilioError(ProviderError):
    """A Twilio account call (not a send) failed; the message says why, without secrets."""

    def __init__(self, message, kind=None, code=None, status=None):
        super().__init__(message, status)
        self.kind = kind
        self.code = code


def check_account_sid(sid):
    """Return what is wrong with an Account SID, or None when it is well formed."""
    return _check_sid(sid, _ACCOUNT_SID_RE, _lt('account SID'), 'AC')


def check_api_key_sid(sid):
    """Return what is wrong with an API key SID, or None when it is well formed."""
    return _check_sid(sid, _API_KEY_SID_RE, _lt('API key SID'), 'SK')


def check_messaging_service_sid(sid):
    """Return what is wrong with a Messaging Service SID, or None when it is well formed."""
    return _check_sid(sid, _MESSAGING_SERVICE_SID_RE, _lt('Messaging Service SID'), 'MG')


def _check_sid(sid, pattern, label, prefix):
    # The value itself is never quoted: a secret pasted into the wrong field would leak.
    if not sid:
        return _lt('the %(label)s is missing', label=label)
    if not isinstance(sid, str) or not pattern.match(sid.strip()):
        return _lt("the %(label)s is malformed: expected '%(prefix)s' followed by 32 hexadecimal "
                   "characters (34 characters in all)", label=label, prefix=prefix)
    return None


def region_of_number(number):
    """ISO 3166 alpha-2 region of an international number, '' when it cannot be told."""
    try:
        parsed = phonenumbers.parse(number or '', None)
    except phonenumbers.NumberParseException:
        return ''
    region = phonenumbers.region_code_for_number(parsed) or \
        phonenumbers.region_code_for_country_code(parsed.country_code)
    return '' if region in (None, 'ZZ', '001') else region


class TwilioClient(HttpClient):
    """Send SMS through one Twilio account; see the module docstring for the classification.

    ``from_numbers`` is a sequence of ``(number, iso_country)`` pairs in priority order
    (``iso_country`` may be ''); a plain string counts as a number without country. The first
    number whose country is the recipient's region is used, else the first number. A
    Messaging Service, when set, picks the sender itself and takes precedence over the
    numbers. ``status_callback`` maps a recipient key to the delivery report URL (or None).
    """

    provider = 'twilio'
    max_recipients_per_request = 1
    # ValidityPeriod: whole seconds from 1 to 36,000 (Twilio's errors 21624/90007).
    validity_range = (1, MAX_VALIDITY_PERIOD)

    def __init__(self, account_sid, auth_token=None, api_key_sid=None, api_key_secret=None,
                 messaging_service_sid=None, from_numbers=(), status_callback=None,
                 validity_period=None, base_url=DEFAULT_BASE_URL, timeout=DEFAULT_TIMEOUT,
                 pool_size=8, session=None):
        super().__init__(base_url or DEFAULT_BASE_URL, timeout=timeout, pool_size=pool_size,
                         session=session)
        self.account_sid = _clean(account_sid)
        self.auth_token = _clean(auth_token)
        self.api_key_sid = _clean(api_key_sid)
        self.api_key_secret = _clean(api_key_secret)
        self.messaging_service_sid = _clean(messaging_service_sid)
        self.from_numbers = tuple(_sender(entry) for entry in (from_numbers or ()))
        self.status_callback = status_callback
        self.validity_period = validity_period

    def __repr__(self):
        return f'<TwilioClient {self.account_sid or "?"}>'

    # ------------------------------------------------------------------ configuration

    def check_configuration(self):
        problems = [self._credentials_problem()]
        if self.messaging_service_sid:
            problems.append(check_messaging_service_sid(self.messaging_service_sid))
        elif not any(number for number, _country in self.from_numbers):
            problems.append(_lt('no sender: set a Messaging Service SID or at least one From number'))
        problems.append(self._validity_period_problem())
        problems = [problem for problem in problems if problem]
        return join_reasons(problems) if problems else None

    def _credentials_problem(self):
        problems = [check_account_sid(self.account_sid)]
        if self.api_key_sid or self.api_key_secret:
            if not self.api_key_sid:
                problems.append(_lt('the API key secret is set without its API key SID'))
            else:
                problems.append(check_api_key_sid(self.api_key_sid))
                if not self.api_key_secret:
                    problems.append(_lt('the API key SID is set without its secret'))
        elif not self.auth_token:
            problems.append(_lt('no credentials: set the auth token or an API key SID and secret'))
        problems = [problem for problem in problems if problem]
        return join_reasons(problems) if problems else None

    def _validity_period_problem(self):
        if self.validity_period is None:
            return None
        value = self.validity_period
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 1 <= value <= MAX_VALIDITY_PERIOD:
            return _lt('the validity period must be a whole number of seconds from 1 to %(maximum)s',
                       maximum=MAX_VALIDITY_PERIOD)
        return None

    @property
    def auth(self):
        """HTTP Basic credentials: the API key pair when configured, else SID and token."""
        if self.api_key_sid and self.api_key_secret:
            return (self.api_key_sid, self.api_key_secret)
        return (self.account_sid, self.auth_token)

    # ------------------------------------------------------------------ sending

    def send(self, request):
        recipients = tuple(request.recipients)
        if not recipients:
            return BatchResult({})
        if len(recipients) > self.max_recipients_per_request:
            raise ValueError(
                f'TwilioClient sends to one recipient per request, got {len(recipients)}: '
                f'split requests by max_recipients_per_request'
            )
        recipient = recipients[0]

        problem = self.check_configuration()
        if problem:
            return self._result(request, OutcomeKind.MISCONFIGURED, _lt('misconfigured: %(problem)s', problem=problem))
        if not recipient.number:
            return self._result(request, OutcomeKind.RECIPIENT, _lt('no recipient number'),
                                failure_type='sms_number_missing')
        body = request.body or ''
        if not body.strip():
            return self._result(request, MESSAGE_REJECTED_KIND, _lt('the message is empty'),
                                failure_type=MESSAGE_REJECTED_FAILURE_TYPE)
        if len(body) > MAX_BODY_LENGTH:
            return self._result(
                request, MESSAGE_REJECTED_KIND,
                _lt('message longer than %(maximum)s characters (%(length)s); shorten it',
                    maximum=MAX_BODY_LENGTH, length=len(body)),
                failure_type=MESSAGE_REJECTED_FAILURE_TYPE,
            )

        try:
            reply = self.request('POST', self._account_path('Messages.json'),
                                 data=self._message_fields(recipient, body, request.validity), auth=self.auth)
        except TransportFailure as failure:
            return self._result(request, failure.kind, failure.reason)
        if reply.ok:
            return BatchResult({recipient.key: self._accepted_outcome(reply)})
        return BatchResult({recipient.key: self._error_outcome(reply)})

    def _message_fields(self, recipient, body, request_validity=None):
        fields = {'To': recipient.number, 'Body': body}
        if self.messaging_service_sid:
            fields['MessagingServiceSid'] = self.messaging_service_sid
        else:
            fields['From'] = self.from_number_for(recipient)
        callback_url = self.status_callback(recipient.key) if self.status_callback else None
        if callback_url:
            fields['StatusCallback'] = callback_url
        validity = self.effective_validity(request_validity)
        if validity is not None:
            fields['ValidityPeriod'] = str(validity)
        return fields

    def effective_validity(self, request_validity=None):
        """ValidityPeriod of a message: the account's, shortened to the SMS's remaining
        validity (``SendRequest.validity``), so that Twilio never sends it later."""
        values = [value for value in (self.validity_period, request_validity) if value is not None]
        return min(values) if values else None

    def from_number_for(self, recipient):
        """The From number for ``recipient``: first one of its region, else the first one."""
        numbers = [(number, country) for number, country in self.from_numbers if number]
        if not numbers:
            return None
        region = (recipient.region or region_of_number(recipient.number)).upper()
        if region:
            for number, country in numbers:
                if country == region:
                    return number
        return numbers[0][0]

    def _accepted_outcome(self, reply):
        data = reply.json()
        if not isinstance(data, dict):
            return RecipientOutcome(OutcomeKind.AMBIGUOUS, self._reason(_lt(
                'invalid JSON in the answer (HTTP %(status)s); the SMS may have been sent', status=reply.status)))
        sid = data.get('sid')
        if not sid or not isinstance(sid, str):
            return RecipientOutcome(OutcomeKind.AMBIGUOUS, self._reason(_lt(
                'answer without a message SID (HTTP %(status)s); the SMS may have been sent', status=reply.status)))
        price, currency = message_price(data)
        return RecipientOutcome(OutcomeKind.SENT, message_id=sid, price=price, price_currency=currency)

    def _error_outcome(self, reply):
        data = reply.json()
        data = data if isinstance(data, dict) else {}
        code = _as_int(data.get('code'))
        return self._coded_outcome(code, reply.status, data.get('message'), reply)

    def _coded_outcome(self, code, status, message, reply):
        described = self._describe(code, status, message)
        retry_after = parse_retry_after(reply.header('Retry-After'))

        if code in MESSAGE_REJECTED_ERRORS:
            kind, failure_type = MESSAGE_REJECTED_KIND, MESSAGE_REJECTED_FAILURE_TYPE
        elif code in NUMBER_FORMAT_ERRORS:
            kind, failure_type = OutcomeKind.RECIPIENT, 'sms_number_format'
        elif code in NUMBER_MISSING_ERRORS:
            kind, failure_type = OutcomeKind.RECIPIENT, 'sms_number_missing'
        elif code in OPT_OUT_ERRORS:
            kind, failure_type = OutcomeKind.OPTED_OUT, 'sms_optout'
        elif code in AUTHENTICATION_ERRORS or status == 401:
            kind, failure_type = OutcomeKind.ACCOUNT, 'sms_acc'
        elif code in RATE_LIMIT_ERRORS or status == 429:
            kind, failure_type = OutcomeKind.PROVIDER, 'sms_server'
        elif code in DESTINATION_ERRORS:
            kind, failure_type = OutcomeKind.DESTINATION, 'sms_country_not_supported'
        elif status >= 500:
            kind, failure_type = OutcomeKind.PROVIDER, None
        elif code is not None and 400 <= status < 500:
            kind, failure_type = OutcomeKind.ACCOUNT, None
        else:
            kind, failure_type = classify_status(status), None

        outcome = RecipientOutcome(kind, described, failure_type=failure_type,
                                   throttled=code in RATE_LIMIT_ERRORS or status == 429)
        if kind is OutcomeKind.PROVIDER and retry_after is not None:
            outcome.retry_after = retry_after
        log = _logger.warning if kind is OutcomeKind.ACCOUNT else _logger.info
        log('Twilio account %s: %s', self.account_sid, described)
        return outcome

    def _describe(self, code, status, message):
        # Twilio's own message is quoted as it is (in English): only our words are translated.
        if isinstance(message, str) and message.strip():
            # Redacted here, so that the reason stays translatable (see _redact).
            message = self._redact(' '.join(message.split()))
            if len(message) > MAX_TWILIO_MESSAGE_LENGTH:
                message = message[:MAX_TWILIO_MESSAGE_LENGTH - 1] + '…'
            if code is None:
                return self._reason(_lt('error (HTTP %(status)s): %(message)s', status=status, message=message))
            return self._reason(_lt('error %(code)s (HTTP %(status)s): %(message)s',
                                    code=code, status=status, message=message))
        if code is None:
            return self._reason(_lt('error (HTTP %(status)s)', status=status))
        return self._reason(_lt('error %(code)s (HTTP %(status)s)', code=code, status=status))

    def _result(self, request, kind, reason, **outcome_values):
        reason = self._reason(reason)
        if kind is OutcomeKind.MISCONFIGURED:
            _logger.warning('Twilio account %s: %s', self.account_sid, reason)
        return BatchResult.for_all(request, kind, reason, **outcome_values)

    def _reason(self, text):
        return self._redact(_lt('Twilio: %(reason)s', reason=text))

    def _redact(self, text):
        """Remove the secrets from ``text``: defence in depth for text quoted from answers.

        A translatable reason without any secret is kept as it is; one with a secret becomes
        its English text, redacted (a translation could not be redacted the same way)."""
        return mask_secrets(text, self._secrets(), '[redacted]')

    def _secrets(self):
        secrets = [value for value in (self.auth_token, self.api_key_secret) if value]
        user, password = self.auth
        if password:
            secrets.append(base64.b64encode(f'{user}:{password}'.encode()).decode())
        # Short values would blank out innocent text; real secrets are 32 characters.
        return [secret for secret in secrets if len(secret) >= 6]

    def _account_path(self, *parts):
        return '/'.join(('Accounts', self.account_sid or '', *parts))

    # ------------------------------------------------------------------ account

    def fetch_account(self):
        """The account as Twilio describes it: {'sid', 'friendly_name', 'status', 'type'}.

        Raise :class:`TwilioError` with a readable message on any failure.
        """
        data = self._get_json(f'Accounts/{self.account_sid}.json', _lt('fetching the account'))
        return {
            'sid': data.get('sid') or self.account_sid,
            'friendly_name': data.get('friendly_name') or '',
            'status': data.get('status') or '',
            'type': data.get('type') or '',
        }

    def fetch_message(self, sid):
        """One message resource: {'sid', 'status', 'price', 'price_currency', 'segments',
        'error_code'}; ``price`` None while Twilio has not priced it yet.

        Raise :class:`TwilioError` with a readable message on any failure (404: unknown SID).
        """
        if not is_message_sid(sid):
            raise TwilioError(self._reason(_lt('%(sid)s is not a message SID', sid=repr(sid))),
                              OutcomeKind.MISCONFIGURED)
        data = self._get_json(self._account_path('Messages', f'{sid}.json'), _lt('fetching the message'))
        price, currency = message_price(data)
        return {
            'sid': data.get('sid') or sid,
            'status': str(data.get('status') or ''),
            'price': price,
            'price_currency': currency,
            'segments': _as_int(data.get('num_segments')),
            'error_code': _as_int(data.get('error_code')),
        }

    def list_incoming_numbers(self):
        """The account's phone numbers: [{'number', 'country', 'sms_capable'}, ...].

        ``country`` is the number's region (phonenumbers), '' when it cannot be told.
        Follows Twilio's ``next_page_uri`` for at most INCOMING_NUMBERS_MAX_PAGES pages.
        Raise :class:`TwilioError` with a readable message on any failure.
        """
        numbers = []
        path = f'{self._account_path("IncomingPhoneNumbers.json")}?PageSize={INCOMING_NUMBERS_PAGE_SIZE}'
        seen = set()
        for _page in range(INCOMING_NUMBERS_MAX_PAGES):
            seen.add(path)
            data = self._get_json(path, _lt('listing the phone numbers'))
            for entry in data.get('incoming_phone_numbers') or ():
                if not isinstance(entry, dict) or not entry.get('phone_number'):
                    continue
                capabilities = entry.get('capabilities')
                capabilities = capabilities if isinstance(capabilities, dict) else {}
                numbers.append({
                    'number': entry['phone_number'],
                    'country': region_of_number(entry['phone_number']),
                    'sms_capable': bool(capabilities.get('sms', capabilities.get('SMS'))),
                })
            path = self._next_page(data.get('next_page_uri'))
            if not path or path in seen:
                break
        else:
            _logger.warning('Twilio account %s: stopped listing phone numbers after %d pages',
                            self.account_sid, INCOMING_NUMBERS_MAX_PAGES)
        return numbers

    def _next_page(self, next_page_uri):
        if not next_page_uri or not isinstance(next_page_uri, str):
            return None
        url = urljoin(self.base_url + '/', next_page_uri)
        base, target = urlsplit(self.base_url), urlsplit(url)
        # The credentials go with every page: never to another host.
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            _logger.warning('Twilio account %s: ignored a next page on another host', self.account_sid)
            return None
        return url

    def _get_json(self, path, action):
        problem = self._credentials_problem()
        if problem:
            raise TwilioError(self._reason(_lt('cannot start %(action)s: %(problem)s', action=action, problem=problem)),
                              OutcomeKind.MISCONFIGURED)
        try:
            reply = self.request('GET', path, auth=self.auth)
        except TransportFailure as failure:
            raise TwilioError(self._reason(_lt('%(action)s failed: %(reason)s', action=action, reason=failure.reason)),
                              failure.kind) from None
        data = reply.json()
        if not reply.ok:
            data = data if isinstance(data, dict) else {}
            code = _as_int(data.get('code'))
            kind = (OutcomeKind.ACCOUNT if reply.status in (401, 403, 404) or code == 20003
                    else classify_status(reply.status))
            described = self._describe(code, reply.status, data.get('message'))
            raise TwilioError(_lt('%(error)s while %(action)s', error=described, action=action), kind, code=code,
                              status=reply.status)
        if not isinstance(data, dict):
            raise TwilioError(self._reason(_lt('%(action)s failed: invalid JSON in the answer (HTTP %(status)s)',
                                               action=action, status=reply.status)),
                              OutcomeKind.PROVIDER, status=reply.status)
        return data


def is_message_sid(sid):
    """Whether ``sid`` is shaped like a message SID ('SM' or 'MM' and 32 hex digits)."""
    return isinstance(sid, str) and bool(_MESSAGE_SID_RE.match(sid))


def message_price(data):
    """(price, currency) of a message resource: Twilio's ``price`` as a positive float (it
    writes what it billed as a negative string, ``"-0.00750"``) and ``price_unit`` upper-cased;
    (None, '') while the price is null or unreadable, or has no currency."""
    if not isinstance(data, dict):
        return None, ''
    raw, unit = data.get('price'), data.get('price_unit')
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)) or not isinstance(unit, str):
        return None, ''
    try:
        price = float(str(raw).strip())
    except ValueError:
        return None, ''
    unit = unit.strip().upper()
    if not math.isfinite(price) or not re.fullmatch(r'[A-Z]{3}', unit):
        return None, ''
    return abs(price), unit


def _clean(value):
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _sender(entry):
    if isinstance(entry, str):
        number, country = entry, ''
    else:
        number, country = entry
    return (str(number or '').strip(), str(country or '').strip().upper())


def _as_int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
