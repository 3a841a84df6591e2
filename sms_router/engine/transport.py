"""HTTP plumbing shared by the provider clients.

One pooled ``requests.Session`` per client, explicit timeouts, and the classification of
transport failures that is the same for every provider: a connection that never opened is a
clean provider failure (safe to fail over), a timeout after the request left is ambiguous
(the provider may have sent the SMS), a body that is not JSON is a provider failure.
"""
import email.utils
import json
import ssl
import time
from dataclasses import dataclass
from datetime import timezone

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from .outcomes import OutcomeKind, ProviderClient
from .reasons import _lt

DEFAULT_TIMEOUT = 10.0
CONNECT_TIMEOUT_CAP = 5.0


@dataclass
class HttpReply:
    status: int
    headers: dict
    text: str

    @property
    def ok(self):
        return 200 <= self.status < 300

    def json(self):
        """The decoded body, or None when it is not JSON (never raises)."""
        try:
            return json.loads(self.text) if self.text else None
        except ValueError:
            return None

    def header(self, name, default=None):
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default


class ProviderError(Exception):
    """A provider call outside the send path (credit, connection test, look-ups) failed.

    The message says why and is safe to show and to log (no secret in it)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class TransportFailure(Exception):
    """The exchange did not produce an HTTP answer."""

    def __init__(self, kind, reason):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        # asctime dates and '-0000' carry no zone; HTTP dates are always GMT.
        moment = moment.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, moment.timestamp() - now)


def classify_status(status):
    """The kind implied by an HTTP status alone, for answers a provider did not explain."""
    if status in (401, 403):
        return OutcomeKind.ACCOUNT
    if status == 402:
        return OutcomeKind.ACCOUNT
    if status == 429 or status >= 500:
        return OutcomeKind.PROVIDER
    return OutcomeKind.ACCOUNT


class HttpClient(ProviderClient):
    """Base for HTTP provider clients: pooled session, timeouts, failure classification."""

    # HTTP exchanges one ``send`` may make (a client that may add a corrective or
    # preparatory call says so), for ``max_send_seconds``.
    exchanges_per_send = 1

    def __init__(self, base_url, timeout=DEFAULT_TIMEOUT, pool_size=8, session=None):
        self.base_url = (base_url or '').rstrip('/')
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.session = session or self._make_session(pool_size)

    @staticmethod
    def _make_session(pool_size):
        session = requests.Session()
        # Retries are the router's business (failover), never urllib3's: a silent retry of
        # a POST could send the same SMS twice.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
        session.mount('https://', adapter)
        session.mount('http://', adapter)
        return session

    def max_send_seconds(self):
        return self.exchanges_per_send * (min(self.timeout, CONNECT_TIMEOUT_CAP) + self.timeout)

    def url(self, path):
        return f'{self.base_url}/{path.lstrip("/")}'

    def request(self, method, path, **kwargs):
        """Perform one HTTP exchange; raise TransportFailure when no answer came back."""
        url = path if path.startswith(('http://', 'https://')) else self.url(path)
        kwargs.setdefault('timeout', (min(self.timeout, CONNECT_TIMEOUT_CAP), self.timeout))
        # A redirected POST would silently become a GET: a redirect is a configuration
        # problem (wrong endpoint URL), reported as such by the status classification.
        kwargs.setdefault('allow_redirects', False)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.exceptions.ConnectTimeout:
            raise TransportFailure(OutcomeKind.PROVIDER, _lt('connection timed out (nothing was sent)')) from None
        except requests.exceptions.ReadTimeout:
            raise TransportFailure(
                OutcomeKind.AMBIGUOUS,
                _lt('no answer within %(seconds)s s after the request was sent', seconds=f'{self.timeout:g}'),
            ) from None
        except requests.exceptions.ConnectionError as error:
            if _certificate_refused(error):
                raise TransportFailure(
                    OutcomeKind.PROVIDER, _lt('TLS certificate refused (nothing was sent)')) from None
            if never_connected(error):
                raise TransportFailure(OutcomeKind.PROVIDER, _lt('connection refused or host unreachable')) from None
            raise TransportFailure(OutcomeKind.AMBIGUOUS, _lt('connection lost before the answer')) from None
        except requests.exceptions.RequestException as error:
            raise TransportFailure(
                OutcomeKind.PROVIDER, _lt('request failed: %(error)s', error=type(error).__name__)) from None
        return HttpReply(response.status_code, dict(response.headers), response.text)

    def close(self):
        self.session.close()


def never_connected(error):
    """True when the socket never opened, so the provider cannot have seen the request."""
    cause = error.args[0] if error.args else None
    reason = getattr(cause, 'reason', cause)
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)) or \
        isinstance(cause, urllib3.exceptions.NewConnectionError)


def _certificate_refused(error):
    """True when TLS certificate verification failed: the handshake ended before any request."""
    cause = error.args[0] if error.args else None
    reason = getattr(cause, 'reason', cause)
    if isinstance(reason, urllib3.exceptions.SSLError) and reason.args:
        reason = reason.args[0]
    return isinstance(reason, ssl.SSLCertVerificationError)
