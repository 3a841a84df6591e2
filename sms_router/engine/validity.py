"""Validity periods: an SMS that no provider accepted before its expiry is not sent late.

Each SMS of a company with a validity gets its expiry when it is queued (``expires_at``,
aware UTC, and the ``validity`` it was given, in seconds). The dispatcher checks it right
before each provider call, so that neither a hold, a send window, the governor, a failover
step nor a restart can send it after that moment, and hands the providers that take a
validity the time left (``SendRequest.validity``): the smallest of the request's
recipients, rounded down to the provider's unit, so that no provider keeps an SMS past its
expiry either. When less is left than the provider's shortest validity, that account is
skipped for the SMS rather than given a longer one: a later account of its chain (one that
takes a shorter validity, or none) may still hand it over in time. The SMS ends Expired when
its validity passed, or when no later account took it.
"""
import math
from dataclasses import replace
from datetime import timedelta

from .outcomes import BatchResult, OutcomeKind, RecipientOutcome
from .reasons import _lt


def remaining_seconds(expires_at, now):
    """Seconds left before ``expires_at`` (negative once it passed)."""
    return (expires_at - now).total_seconds()


def is_expired(expires_at, now):
    """Whether an SMS expiring at ``expires_at`` (None: never) may no longer be sent."""
    return expires_at is not None and now >= expires_at


def format_validity(seconds):
    """A validity as people read it in a reason: '5 min', '1 h', '2 h 30 min'."""
    minutes = max(0, int(round(seconds / 60)))
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f'{hours} h {minutes} min'
    if hours:
        return f'{hours} h'
    return f'{minutes} min'


def expiry_reason(expires_at, validity):
    """Why an SMS ends Expired: its validity and when it was queued (UTC)."""
    queued_at = expires_at - timedelta(seconds=validity or 0)
    return _lt('not accepted by any provider within its validity of %(validity)s (queued at %(queued_at)s UTC)',
               validity=format_validity(validity or 0), queued_at=queued_at.strftime('%Y-%m-%d %H:%M:%S'))


def expired_outcome(expires_at, validity):
    return RecipientOutcome(OutcomeKind.EXPIRED, expiry_reason(expires_at, validity))


# failure_type of a SKIPPED outcome that says "too little validity left for this provider":
# the dispatcher tells it from other skips by it (a chain that ends on it ends Expired).
TOO_SHORT_FAILURE_TYPE = 'sms_expired'


def too_short_outcome(provider, shortest):
    """The SKIPPED outcome of an SMS with less validity left than ``provider`` accepts."""
    return RecipientOutcome(
        OutcomeKind.SKIPPED,
        _lt('less validity left than %(provider)s accepts (%(seconds)s s)', provider=provider,
            seconds=f'{max(1, shortest):g}'),
        failure_type=TOO_SHORT_FAILURE_TYPE)


def is_too_short(outcome):
    """Whether ``outcome`` is a skip for too little validity left (too_short_outcome)."""
    return outcome.kind is OutcomeKind.SKIPPED and outcome.failure_type == TOO_SHORT_FAILURE_TYPE


def within_validity(request, expiries, now, validity_range=None, provider=''):
    """Split ``request`` right before it is sent: ``(request, not_sent)``.

    ``expiries`` maps a recipient key to ``(expires_at, validity)`` for the SMS that have an
    expiry. The returned request keeps the recipients that may still be sent, with
    ``validity`` set to the seconds left (rounded down, the smallest of them) when the
    provider takes one (``validity_range``: its (shortest, longest) in seconds, longest
    None when unbounded; None when it takes none). ``not_sent`` is a BatchResult of the
    others, or None: EXPIRED when their validity passed, SKIPPED (too_short_outcome, named
    after ``provider``) when less is left than the provider's shortest validity; neither
    costs a provider call.
    """
    if not expiries:
        return request, None
    shortest, longest = validity_range or (0, None)
    kept, expired, left = [], {}, []
    for recipient in request.recipients:
        expiry = expiries.get(recipient.key)
        if expiry is None:
            kept.append(recipient)
            continue
        expires_at, validity = expiry
        seconds = remaining_seconds(expires_at, now)
        if seconds <= 0:
            expired[recipient.key] = expired_outcome(expires_at, validity)
        elif validity_range and math.floor(seconds) < max(1, shortest):
            expired[recipient.key] = too_short_outcome(provider, shortest)
        else:
            kept.append(recipient)
            left.append(math.floor(seconds))
    validity = request.validity
    if validity_range and left:
        validity = min(left) if validity is None else min(validity, *left)
        if longest:
            validity = min(validity, longest)
    if expired or validity != request.validity:
        request = replace(request, recipients=tuple(kept), validity=validity)
    return request, BatchResult(expired) if expired else None
