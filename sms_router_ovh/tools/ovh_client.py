"""OVHcloud SMS API client: signed requests, one job per batch, per-recipient outcomes.

Plain Python on top of the router's HTTP plumbing; nothing here imports Odoo. The client
signs every call the way OVH's own libraries do, sends one ``POST /sms/{serviceName}/jobs``
per batch and turns the answer into one :class:`RecipientOutcome` per recipient.

Signature (same as the official ``ovh`` package)::

    X-Ovh-Signature = "$1$" + sha1_hex("+".join([application_secret, consumer_key, METHOD,
                                                 full_url_with_query, body, timestamp]))

The timestamp is the local clock plus the offset to OVH's clock, read from the
unauthenticated ``GET /auth/time``. The offset is cached per process and per endpoint, and
read again (once) when OVH refuses a call for its signature or timestamp.

Facts below that OVH does not document precisely, and that we could not check against the
live API, are marked *unverified*:

* Signature and clock errors: OVH answers ``{"errorCode": "INVALID_SIGNATURE", "httpCode":
  "400 Bad Request", "message": "Invalid signature"}`` (seen in many client bug reports), so
  a 400 is accepted as well as 401/403. The exact error for a timestamp outside OVH's window
  is *unverified*: we match the error codes ``INVALID_SIGNATURE``, ``QUERY_TIME_OUT`` and
  ``INVALID_TIMESTAMP``, and messages mentioning a signature, a timestamp or "out of time".
  The official Python client documents none of these: it fetches the offset once per client
  and never refreshes it.
* ``ids`` in the job answer: one id per valid receiver, in the order of ``validReceivers``
  (*unverified*). Message ids are only attributed when both lists have the same length;
  otherwise each sent recipient gets ``message_id=None`` and ``batch_id`` holds every id.
* ``coding``: ``7bit`` when every character is in the GSM 03.38 alphabet (with its
  extension table), ``8bit`` otherwise; OVH's schema only offers these two values and its
  guides tie ``8bit`` to Unicode text (*unverified* beyond that). ``charset`` is ``UTF-8``,
  the only value of OVH's enum.
* ``priority``: ``high`` for transactional traffic, ``low`` for marketing (values from OVH's
  enum ``high|medium|low|veryLow``; OVH's default is *unverified*). See ``PRIORITY``.
* ``GET /sms/{serviceName}`` returns the account with ``creditsLeft`` (OVH's schema; the
  field was not checked against a live account).
* Delivery receipts: ``deliveryReceipt`` on ``/outgoing/{id}`` is read with the codes OVH
  uses in its delivery callbacks (``dlr``): 1 delivered, 2 and 16 not delivered, anything
  else still pending (*unverified* for the outgoing resource). ``ptt`` is returned raw and
  not interpreted.
* An account without enough credit: the refusal's wording is *unverified*; a 4xx whose
  message mentions "credit" gets the core failure type ``sms_credit``.
* A 400 that is neither a signature/clock refusal nor about credit is OVH rejecting the
  request's parameters: ``MISCONFIGURED`` with OVH's message (fail over, breaker untouched).
  401, 403 and 404 (credentials, rights, unknown service) are ``ACCOUNT`` errors.
* ``max_recipients_per_request`` (500) is a conservative choice, not a documented limit.
* What each SMS cost: OVH's job answer gives only the credits the whole job removed
  (``totalCreditsRemoved``, a number in OVH's ``sms.SmsSendingReport``). Each sent recipient
  gets its share as ``RecipientOutcome.credits`` (see :func:`split_credits`): in proportion to
  its SMS parts, equal shares when every recipient has the same parts (one job has one body),
  rounded to ``CREDIT_QUANTUM`` with the remainder given to the largest fractions so that
  the shares add up to the job's credits exactly. A job whose receivers go to destinations
  OVH prices differently is split the same way (the answer says nothing per receiver): the
  total per job, account and provider is exact, the split between countries is not.
"""
import hashlib
import json
import logging
import threading
import time
from collections import defaultdict, deque
from decimal import ROUND_FLOOR, Decimal
from urllib.parse import quote

from ...sms_router.engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ...sms_router.engine.reasons import Reason, _lt, join_reasons, mask_secrets, reason_of
from ...sms_router.engine.routing import international_digits
from ...sms_router.engine.segments import GSM7, measure
from ...sms_router.engine.transport import (
    ProviderError,
    DEFAULT_TIMEOUT,
    HttpClient,
    TransportFailure,
    classify_status,
    parse_retry_after,
)

_logger = logging.getLogger(__name__)

ENDPOINTS = {
    'ovh-eu': 'https://eu.api.ovh.com/1.0',
    'ovh-ca': 'https://ca.api.ovh.com/1.0',
    'ovh-us': 'https://api.us.ovhcloud.com/1.0',
}

# Priority of a job by kind of traffic (OVH enum: high, medium, low, veryLow).
PRIORITY = {False: 'high', True: 'low'}     # keyed by SendRequest.marketing

# Error codes and message fragments that mean "signature or timestamp refused". A call
# refused for these reasons was rejected before OVH processed it: it is safe to retry.
CLOCK_ERROR_CODES = frozenset({'INVALID_SIGNATURE', 'QUERY_TIME_OUT', 'INVALID_TIMESTAMP'})
CLOCK_ERROR_WORDS = ('signature', 'timestamp', 'out of time')

# Delivery receipt codes (the `dlr` values of OVH's delivery callbacks).
DELIVERED_RECEIPTS = frozenset({1})
UNDELIVERED_RECEIPTS = frozenset({2, 16})

MAX_MESSAGE_IN_REASON = 300

# Smallest share of a job's credits given to one recipient (split_credits).
CREDIT_QUANTUM = Decimal('0.0001')

# Clock used for request timestamps; a module attribute so tests can freeze it.
_clock = time.time

# Offset (server time - local time, in seconds) per API endpoint, shared by every client
# of the process: one GET /auth/time per endpoint, not one per client or per send.
_time_offsets = {}
_time_offsets_lock = threading.Lock()


def reset_time_offsets():
    """Forget every cached clock offset (tests, or after fixing the server's clock)."""
    with _time_offsets_lock:
        _time_offsets.clear()


def sign(application_secret, consumer_key, method, url, body, timestamp):
    """The ``X-Ovh-Signature`` value of one call.

    ``url`` is the full URL including the query string, ``body`` the exact text (or bytes)
    sent, ``""`` for a call without body, and ``timestamp`` the ``X-Ovh-Timestamp`` value.
    """
    if isinstance(body, bytes):
        body = body.decode('utf-8')
    payload = '+'.join([
        application_secret, consumer_key, method.upper(), url, body or '', str(timestamp),
    ])
    return '$1$' + hashlib.sha1(payload.encode('utf-8')).hexdigest()


def serialise(payload):
    """JSON text of a request body: compact, as OVH's own client writes it.

    ASCII-only (non-ASCII characters are escaped), so the signed text and the bytes on the
    wire cannot differ by an encoding.
    """
    return json.dumps(payload, separators=(',', ':'))


def is_gsm7(text):
    """Whether ``text`` fits the GSM 03.38 alphabet (basic set and extension table), as the
    router counts its segments (engine.segments)."""
    return measure(text).encoding == GSM7


def split_credits(total, weights, quantum=CREDIT_QUANTUM):
    """Shares of ``total`` in proportion to ``weights`` (one per recipient), as Decimals
    that add up to ``total`` exactly.

    Each share is rounded down to ``quantum``; the quanta left over go one each to the
    shares with the largest fractions (the first ones on a tie), and what is left below one
    quantum (a total finer than ``quantum``) to the first share. Weights that are all zero
    count as equal. Returns [] without weights.
    """
    if not weights:
        return []
    total = Decimal(str(total))
    weights = [max(Decimal(str(weight)), Decimal(0)) for weight in weights]
    whole = sum(weights)
    if not whole:
        weights, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    exact = [total * weight / whole for weight in weights]
    shares = [value.quantize(quantum, rounding=ROUND_FLOOR) for value in exact]
    left = int(((total - sum(shares)) / quantum).to_integral_value(rounding=ROUND_FLOOR))
    by_fraction = sorted(range(len(shares)), key=lambda i: (-(exact[i] - shares[i]), i))
    for index in by_fraction[:max(0, left)]:
        shares[index] += quantum
    shares[0] += total - sum(shares)
    return shares


def delivery_state(outgoing):
    """``delivered``, ``undelivered`` or ``pending`` from an ``/outgoing/{id}`` record."""
    try:
        receipt = int(outgoing.get('deliveryReceipt'))
    except (TypeError, ValueError):
        return 'pending'
    if receipt in DELIVERED_RECEIPTS:
        return 'delivered'
    if receipt in UNDELIVERED_RECEIPTS:
        return 'undelivered'
    return 'pending'


class OvhError(ProviderError):
    """An OVH call made outside ``send`` failed; the message is safe to show and log."""

    def __init__(self, message, status=None, error_code=None, query_id=None):
        super().__init__(message, status)
        self.error_code = error_code
        self.query_id = query_id


class _ClockUnavailable(Exception):
    """OVH's clock could not be read: the signed call was never sent."""


class OvhClient(HttpClient):
    """Send SMS through one OVH SMS account (``serviceName``) with an API application."""

    provider = 'ovh'
    max_recipients_per_request = 500
    # validityPeriod is in whole minutes: an SMS with less than one minute left expires
    # rather than leave with a longer validity.
    validity_range = (60, None)
    # Reading OVH's clock (once per process), the signed call, and one retry after a
    # refused timestamp.
    exchanges_per_send = 3

    def __init__(self, region='ovh-eu', application_key=None, application_secret=None,
                 consumer_key=None, service_name=None, sender=None, sender_for_response=False,
                 no_stop_clause=False, validity_period=None, tag=None, base_url=None,
                 timeout=DEFAULT_TIMEOUT, pool_size=8, session=None):
        self.region = region
        self.application_key = (application_key or '').strip()
        self.application_secret = (application_secret or '').strip()
        self.consumer_key = (consumer_key or '').strip()
        self.service_name = (service_name or '').strip()
        self.sender = (sender or '').strip()
        self.sender_for_response = bool(sender_for_response)
        self.no_stop_clause = bool(no_stop_clause)
        self.validity_period = int(validity_period) if validity_period else None
        self.tag = tag or None
        super().__init__(base_url or ENDPOINTS.get(region, ''), timeout=timeout,
                         pool_size=pool_size, session=session)

    # Configuration ---------------------------------------------------------------------

    def check_configuration(self):
        missing = self._missing_credentials()
        if not self.service_name:
            missing.append(_lt('SMS service name'))
        if not (self.sender or self.sender_for_response):
            missing.append(_lt('sender (or "sender for response")'))
        problems = []
        if missing:
            problems.append(_missing(missing))
        if not self.base_url:
            problems.append(_lt('unknown region %(region)s (expected one of %(regions)s)',
                                region=repr(self.region), regions=', '.join(sorted(ENDPOINTS))))
        return join_reasons(problems) or None

    def _missing_credentials(self):
        labels = (
            (self.application_key, _lt('application key')),
            (self.application_secret, _lt('application secret')),
            (self.consumer_key, _lt('consumer key')),
        )
        return [label for value, label in labels if not value]

    # Sending ---------------------------------------------------------------------------

    def send(self, request):
        if not request.recipients:
            return BatchResult({})
        problem = self.check_configuration()
        if problem:
            return BatchResult.for_all(request, OutcomeKind.MISCONFIGURED, _reason(problem))
        path = f'sms/{quote(self.service_name, safe="")}/jobs'
        try:
            reply, retried = self._signed_call('POST', path, self._job_payload(request))
        except _ClockUnavailable as error:
            return self._fail(request, OutcomeKind.PROVIDER, reason_of(error))
        except TransportFailure as failure:
            return self._fail(request, failure.kind, _reason(failure.reason))
        if not reply.ok:
            return self._error_result(request, reply, retried)
        return self._job_result(request, reply)

    def _job_payload(self, request):
        payload = {
            'message': request.body,
            'receivers': [recipient.number for recipient in request.recipients],
            'noStopClause': self.no_stop_clause and not request.marketing,
            'priority': PRIORITY[bool(request.marketing)],
            'coding': '7bit' if is_gsm7(request.body) else '8bit',
            'charset': 'UTF-8',
        }
        # The explicit two-way flag wins over a configured sender name: OVH answers replies
        # only on its short numbers, which a sender name would replace.
        if self.sender_for_response:
            payload['senderForResponse'] = True
        else:
            payload['sender'] = self.sender
        validity = self.effective_validity(request.validity)
        if validity:
            payload['validityPeriod'] = validity
        if self.tag:
            payload['tag'] = self.tag
        return payload

    def effective_validity(self, request_validity=None):
        """validityPeriod of a job (minutes): the account's, shortened to the remaining
        validity of its SMS (``SendRequest.validity``, seconds), rounded down so that OVH
        never keeps one past its expiry."""
        values = [self.validity_period] if self.validity_period else []
        if request_validity is not None:
            values.append(int(request_validity) // 60)
        return min(values) if values else None

    def _job_result(self, request, reply):
        query = _query_suffix(reply)
        data = reply.json()
        if data is None:
            reason = _reason(_lt('HTTP %(status)s with invalid JSON in the answer%(query)s',
                                 status=reply.status, query=query))
            return self._fail(request, OutcomeKind.AMBIGUOUS, reason)
        if not isinstance(data, dict) or not ({'validReceivers', 'invalidReceivers'} & set(data)):
            reason = _reason(_lt('HTTP %(status)s with an unexpected answer (no receivers)%(query)s',
                                 status=reply.status, query=query))
            return self._fail(request, OutcomeKind.AMBIGUOUS, reason)

        ids = [str(job_id) for job_id in (data.get('ids') or [])]
        valid = [international_digits(number) for number in (data.get('validReceivers') or [])]
        invalid = {international_digits(number) for number in (data.get('invalidReceivers') or [])}
        batch_id = ','.join(ids) or None
        # Ids are attributed per number only when OVH returned exactly one per valid receiver.
        aligned = bool(ids) and len(ids) == len(valid)
        pending_ids = defaultdict(deque)
        for index, digits in enumerate(valid):
            pending_ids[digits].append(ids[index] if aligned else None)

        outcomes = {}
        for recipient in request.recipients:
            digits = international_digits(recipient.number)
            if digits in pending_ids:
                queue = pending_ids[digits]
                # A number listed once for two recipients was still sent to that phone.
                message_id = queue.popleft() if queue else None
                outcomes[recipient.key] = RecipientOutcome(
                    OutcomeKind.SENT, _reason(_lt('job accepted%(query)s', query=query)),
                    message_id=message_id, batch_id=batch_id,
                )
            elif digits in invalid:
                outcomes[recipient.key] = RecipientOutcome(
                    OutcomeKind.RECIPIENT, _reason(_lt('receiver refused as invalid%(query)s', query=query)),
                    failure_type='sms_number_format',
                )
            else:
                outcomes[recipient.key] = RecipientOutcome(
                    OutcomeKind.AMBIGUOUS,
                    _reason(_lt('receiver missing from both valid and invalid lists%(query)s', query=query)),
                    batch_id=batch_id,
                )

        account_updates = {}
        credits = _credits(data.get('totalCreditsRemoved'))
        if credits is not None:
            account_updates['credits_removed'] = float(credits)
            self._share_credits(request, outcomes, credits)
        _logger.info(
            'OVH job for %s: %d valid, %d invalid receiver(s), ids %s%s',
            self.service_name, len(valid), len(invalid), batch_id or '-', query,
        )
        return BatchResult(outcomes, account_updates)

    def _share_credits(self, request, outcomes, credits):
        """Give each sent recipient its share of the job's credits (``split_credits``)."""
        sent = [recipient for recipient in request.recipients
                if outcomes[recipient.key].kind is OutcomeKind.SENT]
        weights = [measure(request.body_for(recipient) or '').segments for recipient in sent]
        for recipient, share in zip(sent, split_credits(credits, weights), strict=True):
            outcomes[recipient.key].credits = float(share)

    def _error_result(self, request, reply, retried):
        kind = self._error_kind(reply)
        reason = self._describe_error(reply)
        if retried and _is_clock_error(reply):
            reason = _after_time_read(reason)
        values = {}
        if kind is OutcomeKind.PROVIDER:
            values['retry_after'] = parse_retry_after(reply.header('Retry-After'))
            # Only a 429 is OVH's rate limit; a 5xx with Retry-After is an outage.
            values['throttled'] = reply.status == 429
        elif _says_credit_is_short(reply):
            values['failure_type'] = 'sms_credit'
        return self._fail(request, kind, reason, **values)

    @staticmethod
    def _error_kind(reply):
        status = reply.status
        if status == 400 and not _is_clock_error(reply) and not _says_credit_is_short(reply):
            # OVH refused the request's parameters (sender not registered, bad validity...):
            # the account's settings need fixing. Not a sign that OVH or the credentials are
            # unhealthy, and possibly due to this one message: fail over without counting it
            # against the breaker.
            return OutcomeKind.MISCONFIGURED
        if status in (400, 401, 403, 404):
            # Credentials, rights, parameters or an unknown service: this account, as
            # configured, cannot send until someone fixes it.
            return OutcomeKind.ACCOUNT
        if status == 409 or status == 429 or status >= 500:
            return OutcomeKind.PROVIDER
        return classify_status(status)

    def _fail(self, request, kind, reason, **values):
        reason = self._scrub(reason)
        _logger.warning('OVH send to %d recipient(s) failed (%s): %s',
                        len(request.recipients), kind.value, reason)
        return BatchResult.for_all(request, kind, reason, **values)

    # Account and delivery look-ups -----------------------------------------------------

    def fetch_credit(self):
        """``{'credit_balance': float}`` from the account's ``creditsLeft``."""
        account = self._get_json(f'sms/{self._service_path()}', need_service=True)
        credits = account.get('creditsLeft') if isinstance(account, dict) else None
        if isinstance(credits, bool) or not isinstance(credits, (int, float, str)):
            raise OvhError(_reason(_lt('the account answer has no creditsLeft')))
        try:
            return {'credit_balance': float(credits)}
        except ValueError:
            raise OvhError(_reason(_lt('the account answer has no numeric creditsLeft'))) from None

    def list_services(self):
        """Names of the SMS accounts (``serviceName``) these credentials can see."""
        services = self._get_json('sms')
        if not isinstance(services, list):
            raise OvhError(_reason(_lt('the service list is not a list')))
        return [str(name) for name in services]

    def fetch_outgoing(self, message_id):
        """One sent SMS (``/outgoing/{id}``) plus a normalised ``delivery`` state."""
        path = f'sms/{self._service_path()}/outgoing/{quote(str(message_id), safe="")}'
        outgoing = self._get_json(path, need_service=True)
        if not isinstance(outgoing, dict):
            raise OvhError(_reason(_lt('the outgoing SMS answer is not an object')))
        return dict(outgoing, delivery=delivery_state(outgoing))

    def _service_path(self):
        return quote(self.service_name, safe='')

    def _get_json(self, path, need_service=False):
        missing = self._missing_credentials()
        if need_service and not self.service_name:
            missing.append(_lt('SMS service name'))
        if missing:
            raise OvhError(_reason(_missing(missing)))
        if not self.base_url:
            raise OvhError(_reason(_lt('unknown region %(region)s', region=repr(self.region))))
        try:
            reply, retried = self._signed_call('GET', path)
        except _ClockUnavailable as error:
            raise OvhError(self._scrub(reason_of(error))) from None
        except TransportFailure as failure:
            raise OvhError(_reason(failure.reason)) from None
        if not reply.ok:
            reason = self._describe_error(reply)
            if retried and _is_clock_error(reply):
                reason = _after_time_read(reason)
            data = reply.json() if isinstance(reply.json(), dict) else {}
            raise OvhError(self._scrub(reason), status=reply.status,
                           error_code=data.get('errorCode'), query_id=_query_id(reply))
        data = reply.json()
        if data is None:
            raise OvhError(_reason(_lt('HTTP %(status)s with invalid JSON in the answer%(query)s',
                                       status=reply.status, query=_query_suffix(reply))),
                           status=reply.status, query_id=_query_id(reply))
        return data

    # Signed calls ----------------------------------------------------------------------

    def _signed_call(self, method, path, payload=None):
        """One signed call, repeated once with a fresh clock offset if OVH refuses the
        signature or timestamp. Return ``(reply, retried)``.

        The body is serialised once: the signed text and the bytes sent are the same.
        """
        url = self.url(path)
        body = '' if payload is None else serialise(payload)
        data = body.encode('utf-8') if body else None
        offset = self._time_offset()
        reply = self._exchange(method, url, body, data, offset)
        if not _is_clock_error(reply):
            return reply, False
        _logger.info('OVH refused the signature or timestamp%s; reading the API time again',
                     _query_suffix(reply))
        offset = self._refresh_time_offset(offset)
        return self._exchange(method, url, body, data, offset), True

    def _exchange(self, method, url, body, data, offset):
        timestamp = str(int(_clock()) + offset)
        headers = {
            'X-Ovh-Application': self.application_key,
            'X-Ovh-Consumer': self.consumer_key,
            'X-Ovh-Timestamp': timestamp,
            'X-Ovh-Signature': sign(self.application_secret, self.consumer_key, method, url,
                                    body, timestamp),
        }
        if data is not None:
            headers['Content-Type'] = 'application/json'
        return self.request(method, url, headers=headers, data=data)

    # The lock is held while /auth/time is read, so that threads sending at the same time
    # wait for one read instead of each making their own.
    def _time_offset(self):
        with _time_offsets_lock:
            if self.base_url not in _time_offsets:
                _time_offsets[self.base_url] = self._read_time_offset()
            return _time_offsets[self.base_url]

    def _refresh_time_offset(self, stale_offset):
        with _time_offsets_lock:
            current = _time_offsets.get(self.base_url)
            if current is not None and current != stale_offset:
                return current      # another thread has already read it again
            _time_offsets[self.base_url] = self._read_time_offset()
            return _time_offsets[self.base_url]

    def _read_time_offset(self):
        """Seconds to add to the local clock to get OVH's (``GET /auth/time``, unsigned)."""
        try:
            reply = self.request('GET', self.url('auth/time'))
        except TransportFailure as failure:
            raise _ClockUnavailable(_reason(_lt(
                'could not read the API time (%(reason)s); nothing was sent', reason=failure.reason))) from None
        server_time = reply.json() if reply.ok else None
        if isinstance(server_time, bool) or not isinstance(server_time, (int, float)):
            if reply.ok:
                reason = _lt('could not read the API time (HTTP %(status)s, not a number)%(query)s; nothing was sent',
                             status=reply.status, query=_query_suffix(reply))
            else:
                reason = _lt('could not read the API time (HTTP %(status)s)%(query)s; nothing was sent',
                             status=reply.status, query=_query_suffix(reply))
            raise _ClockUnavailable(_reason(reason))
        offset = int(server_time) - int(_clock())
        _logger.debug('OVH clock offset for %s: %+d s', self.base_url, offset)
        return offset

    # Reasons -----------------------------------------------------------------------------

    def _describe_error(self, reply):
        data = reply.json()
        if isinstance(data, dict):
            code = data.get('errorCode') or data.get('class') or ''
            message = str(data.get('message') or '').strip()
        else:
            code = ''
            message = ' '.join((reply.text or '').split())[:120] or _lt('no error details')
        # OVH's own code and message are quoted as they are: only our words are translated.
        label = f'{code}: {message}' if code and message else (code or message or _lt('no details'))
        # Scrubbed here, so that the reason stays translatable (see _scrub).
        label = self._scrub(label)
        if len(label) > MAX_MESSAGE_IN_REASON:
            label = label[:MAX_MESSAGE_IN_REASON - 3] + '...'
        # No words of ours: a Reason that is not offered for translation.
        described = Reason('HTTP %(status)s %(details)s%(query)s',
                           {'status': reply.status, 'details': label, 'query': _query_suffix(reply)})
        return self._scrub(_reason(described))

    def _scrub(self, text):
        """Remove the credentials from a text about to be stored or logged.

        A translatable reason without any credential is kept as it is; one with a credential
        becomes its English text, scrubbed (a translation could not be scrubbed the same way)."""
        secrets = [secret for secret in (self.application_secret, self.consumer_key)
                   if secret and len(secret) >= 4]
        return mask_secrets(text, secrets, '***')


def _reason(text):
    """A reason of this client: 'OVH: ' and ``text``."""
    return _lt('OVH: %(reason)s', reason=text)


def _missing(labels):
    """'missing application key, consumer key' from translatable labels."""
    listed = labels[0]
    for label in labels[1:]:
        # Punctuation only: a Reason that is not offered for translation.
        listed = Reason('%(listed)s, %(label)s', {'listed': listed, 'label': label})
    return _lt('missing %(fields)s', fields=listed)


def _after_time_read(reason):
    return _lt('%(reason)s (after reading the API time again)', reason=reason)


def _is_clock_error(reply):
    """Whether OVH refused the call for its signature or timestamp (retry-safe)."""
    if reply.status not in (400, 401, 403):
        return False
    data = reply.json()
    if not isinstance(data, dict):
        return False
    if str(data.get('errorCode') or '').upper() in CLOCK_ERROR_CODES:
        return True
    message = str(data.get('message') or '').lower()
    return any(word in message for word in CLOCK_ERROR_WORDS)


def _says_credit_is_short(reply):
    """Whether a refusal is about the SMS credit (wording *unverified*: "credit" anywhere)."""
    data = reply.json()
    message = str(data.get('message') or '') if isinstance(data, dict) else ''
    return 'credit' in message.lower()


def _credits(value):
    """``totalCreditsRemoved`` (a number in OVH's schema) as a Decimal; None when absent,
    not a number, or not a finite number of at least 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    credits = Decimal(str(value))
    return credits if credits.is_finite() and credits >= 0 else None


def _query_id(reply):
    return reply.header('X-OVH-QUERYID')


def _query_suffix(reply):
    query_id = _query_id(reply)
    return _lt(' (query id %(query_id)s)', query_id=query_id) if query_id else ''
