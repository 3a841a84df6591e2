"""Rate-limit mode and request log of the provider sandbox.

Providers throttle per account, in SMS segments: past its rate an account gets HTTP 429 with
a ``Retry-After``. With ``rate_limit`` set (segments per second, per account) the sandbox
does the same, with a token bucket of ``rate_limit_burst`` segments (default: one second of
the rate, as providers allow a short burst) refilled at the rate; a send that would take
more than the bucket holds is answered 429 and accepts nothing.

Every send request is written to the request log, whatever happens to it next: when it
arrived, the provider, the account (Twilio account SID, OVH service name, a digest of the
Sweego API key), its recipients, the segments it costs counted here (``common.sms_parts``
per recipient, independently of the router), the traffic as the provider can tell it
(Sweego ``campaign-type``, OVH ``noStopClause``; Twilio has no such field: '') and whether
the rate limit refused it. Drills read it to measure what a provider really received.
"""
import hashlib
import math
import json
import re
import threading
import time
import urllib.parse
from collections import deque

from .common import sms_parts

MAX_LOGGED_REQUESTS = 200_000


def describe(provider, path, body, headers):
    """(account, numbers, segments, traffic) of a send request, or None when it cannot be
    read (the provider answers it with its own error)."""
    try:
        if provider == 'twilio':
            match = re.fullmatch(r'/2010-04-01/Accounts/([^/]+)/Messages\.json', path)
            form = urllib.parse.parse_qs(body.decode('utf-8', 'replace'), keep_blank_values=True)
            to = form.get('To', [''])[-1]
            text = form.get('Body', [''])[-1]
            return (match.group(1) if match else '', [to], sms_parts(text), '')
        payload = json.loads(body or b'')
        if provider == 'sweego':
            numbers = [recipient.get('num', '') for recipient in payload.get('recipients') or []]
            key = headers.get('Api-Key') or ''
            account = hashlib.sha256(key.encode()).hexdigest()[:12]
            traffic = {'market': 'marketing', 'transac': 'transactional'}.get(payload.get('campaign-type'), '')
            return account, numbers, sms_parts(payload.get('message-txt') or '') * len(numbers), traffic
        if provider == 'ovh':
            match = re.search(r'/sms/([^/]+)/jobs', path)
            numbers = list(payload.get('receivers') or [])
            traffic = 'transactional' if payload.get('noStopClause') else 'marketing'
            return (match.group(1) if match else ''), numbers, sms_parts(payload.get('message') or '') * len(
                numbers), traffic
    except (ValueError, AttributeError, TypeError):
        return None
    return None


class RateLimits:
    """The request log and the per-account token buckets of every provider."""

    def __init__(self):
        self._lock = threading.Lock()
        self._buckets = {}              # (provider, account) -> (tokens, monotonic time)
        self._log = deque(maxlen=MAX_LOGGED_REQUESTS)

    def reset(self, provider=None):
        with self._lock:
            if provider is None:
                self._buckets.clear()
                self._log.clear()
                return
            self._buckets = {key: value for key, value in self._buckets.items() if key[0] != provider}
            kept = [entry for entry in self._log if entry['provider'] != provider]
            self._log.clear()
            self._log.extend(kept)

    def admit(self, provider, info, rate, burst):
        """Log a send request and decide it: 0 when admitted, else the seconds it should
        wait (its Retry-After)."""
        account, numbers, segments, traffic = info
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            if rate:
                capacity = burst or rate
                tokens, at = self._buckets.get((provider, account), (capacity, now))
                tokens = min(capacity, tokens + (now - at) * rate)
                if segments <= tokens or (tokens >= capacity and segments > capacity):
                    tokens -= segments
                else:
                    wait = (min(segments, capacity) - tokens) / rate
                self._buckets[provider, account] = (tokens, now)
            self._log.append({
                'at': time.time(), 'provider': provider, 'account': account, 'numbers': list(numbers),
                'recipients': len(numbers), 'segments': segments, 'traffic': traffic,
                'limited': bool(wait),
            })
        return wait

    def log(self, provider=None, since=None):
        with self._lock:
            return [dict(entry) for entry in self._log
                    if (provider is None or entry['provider'] == provider)
                    and (since is None or entry['at'] >= since)]


def admitted(request, provider, path, body):
    """Log a send request and apply its account's rate limit; False when it was answered
    429 here (with Retry-After, accepting nothing)."""
    # A provider module may read its own requests (the HTTP API stand-ins: describe_send).
    describe_send = getattr(provider, 'describe_send', None)
    if describe_send is not None:
        info = describe_send(path, body, request.headers)
    else:
        info = describe(provider.name, path, body, request.headers)
    if info is None:
        return True
    wait = request.sandbox._rate_admit(provider.name, info)
    if not wait:
        return True
    headers = provider.response_headers()
    headers['Retry-After'] = str(max(1, math.ceil(wait)))
    provider.error_answer(request, 429, headers)
    return False
