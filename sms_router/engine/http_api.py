"""The generic HTTP API provider: a provider described by a JSON configuration (the "spec").

Framework-free, like the other provider clients: the Odoo side (provider type ``http_api``)
stores a spec per account, validates it with :func:`load_spec` when it is saved and sends
through :class:`HttpApiClient`. Templates of ready specs are in engine/http_templates/.

* engine/http_api_spec.py: :func:`load_spec` checks everything that can be checked before a
  request is made and raises :class:`SpecError` with a message that says where and what to
  fix ("url: unknown placeholder {foo}", "answer.id_path: JSON path does not parse: ...").
* engine/http_api_render.py fills the placeholders (:data:`PLACEHOLDERS`) of the URL,
  headers, parameters and JSON body.
* engine/http_api_answer.py reads the answer (acceptance, per-recipient results, rules)
  and the delivery reports. An answer that is not understood is never a success.

Secrets: every credential (and the Basic authorization made of them) is masked in reasons;
nothing here logs a URL, a header or a body.
"""
import base64
import dataclasses
import json
import logging
import math
from urllib.parse import quote, quote_plus

from .http_api_answer import AnswerReader, Report, as_text, excerpt, read_reports
from .http_api_render import (
    body_values,
    fill,
    placeholders,
    recipient_values,
    render_json,
    render_params,
    request_values,
)
from .http_api_spec import CREDENTIALS, PLACEHOLDERS, SEND_ONLY, HttpApiSpec, SpecError, load_spec
from .outcomes import BatchResult, OutcomeKind, RecipientOutcome
from .reasons import _lt, join_reasons, mask_secrets
from .transport import DEFAULT_TIMEOUT, HttpClient, ProviderError, TransportFailure

__all__ = ['PLACEHOLDERS', 'HttpApiClient', 'HttpApiSpec', 'Report', 'SpecError', 'load_spec', 'parse_report']

_logger = logging.getLogger(__name__)

MASK = '[redacted]'


# ---------------------------------------------------------------------- client


def _clean(value):
    return str(value).strip() if value not in (None, False) and str(value).strip() else ''


def _url_encode(name, value):
    # The endpoint is a URL already; every other value goes into a URL as data.
    return value if name == 'base_url' else quote(value, safe='')


class HttpApiClient(HttpClient):
    """Send SMS through a provider described by a spec (see the module docstring).

    ``credentials``: {'username', 'api_key', 'api_secret'} (what each means: the template's
    ``credentials`` labels). ``base_url``: the account's endpoint, else the template's live
    one. ``name`` starts every reason ('Africa's Talking: HTTP 401: ...').
    ``sender_required``: the template says the provider refuses a request without sender.
    ``secrets``: other values masked in reasons (e.g. the token of the report URL).
    """

    provider = 'http_api'

    def __init__(self, spec, credentials=None, sender=None, callback_url=None, base_url=None,
                 timeout=DEFAULT_TIMEOUT, pool_size=8, session=None, name=None, sender_required=False,
                 secrets=()):
        super().__init__(_clean(base_url), timeout=timeout, pool_size=pool_size, session=session)
        self.spec = spec if isinstance(spec, HttpApiSpec) else load_spec(spec)
        self.max_recipients_per_request = self.spec.max_recipients
        credentials = credentials or {}
        self.credentials = {name: _clean(credentials.get(name)) for name in CREDENTIALS}
        self.sender = _clean(sender)
        self.callback_url = _clean(callback_url)
        self.name = _clean(name) or 'HTTP API'
        self.sender_required = bool(sender_required)
        # Other values to mask in reasons, e.g. the token in the account's report URL.
        self.masked_values = tuple(_clean(value) for value in secrets or () if _clean(value))
        self._reader = AnswerReader(self.spec.answer, self._mask)

    def __repr__(self):
        return f'<HttpApiClient {self.name}>'

    # -- configuration --------------------------------------------------------------------

    def check_configuration(self):
        return self._problems(self.spec.uses, sending=True)

    def _problems(self, uses, sending):
        problems = []
        missing = {
            'username': _lt('missing username'),
            'api_key': _lt('missing API key'),
            'api_secret': _lt('missing API secret'),
        }
        for name in CREDENTIALS:
            if name in uses and not self.credentials[name]:
                problems.append(missing[name])
        if 'base_url' in uses and not self.base_url:
            problems.append(_lt('missing endpoint URL'))
        elif 'base_url' in uses and not self.base_url.startswith(('https://', 'http://')):
            problems.append(_lt('the endpoint URL must start with https:// or http://'))
        if sending and self.sender_required and not self.sender:
            problems.append(_lt('missing sender ID'))
        if 'callback_url' in uses and not self.callback_url:
            problems.append(_lt('missing delivery report URL (the request uses {callback_url})'))
        return join_reasons(problems) if problems else None

    # -- sending ---------------------------------------------------------------------------

    def send(self, request):
        recipients = tuple(request.recipients)
        if not recipients:
            return BatchResult({})
        if len(recipients) > self.max_recipients_per_request:
            raise ValueError(f'HttpApiClient takes at most {self.max_recipients_per_request} recipients '
                             f'per request, got {len(recipients)}: split requests by max_recipients_per_request')
        problem = self.check_configuration()
        if problem:
            reason = self._reason(_lt('misconfigured: %(problem)s', problem=problem))
            _logger.warning('%s: %s', self.name, reason)
            return BatchResult.for_all(request, OutcomeKind.MISCONFIGURED, reason)
        outcomes = {}
        numbered = tuple(recipient for recipient in recipients if recipient.number)
        for recipient in recipients:
            if not recipient.number:
                outcomes[recipient.key] = RecipientOutcome(
                    OutcomeKind.RECIPIENT, self._reason(_lt('no recipient number')), failure_type='sms_number_missing')
        if not numbered:
            return BatchResult(outcomes)
        if len(numbered) != len(recipients):
            request = dataclasses.replace(request, recipients=numbered)
        try:
            method, url, kwargs = self.prepare(request)
            reply = self.request(method, url, **kwargs)
        except TransportFailure as failure:
            _logger.warning('%s: send failed: %s', self.name, failure.reason)
            outcomes.update(BatchResult.for_all(request, failure.kind, self._reason(failure.reason)).outcomes)
            return BatchResult(outcomes)
        except (UnicodeError, ValueError) as error:
            # A value the request cannot carry (e.g. a sender with non-Latin-1 characters in
            # a header): refused before anything was sent. Only the error's type is quoted.
            reason = self._reason(_lt('the request cannot be built: %(error)s', error=type(error).__name__))
            _logger.warning('%s: %s', self.name, reason)
            outcomes.update(BatchResult.for_all(request, OutcomeKind.MISCONFIGURED, reason).outcomes)
            return BatchResult(outcomes)
        try:
            read = self._reader.outcomes(request, reply)
        except Exception as error:  # noqa: BLE001 - the request left: never lose the SMS to a reading bug
            # The error's type only: its text could quote the answer, and with it a secret.
            _logger.error('%s: could not read the answer (HTTP %s): %s', self.name, reply.status,
                          type(error).__name__)
            read = BatchResult.for_all(request, OutcomeKind.AMBIGUOUS, _lt(
                'the answer could not be read (HTTP %(status)s); the SMS may have been sent: %(answer)s',
                status=reply.status, answer=excerpt(reply.text, self._mask))).outcomes
        for key, outcome in read.items():
            if outcome.reason:
                outcome.reason = self._reason(outcome.reason)
            outcomes[key] = outcome
        self._log(reply.status, outcomes)
        return BatchResult(outcomes)

    def prepare(self, request):
        """(method, url, requests keyword arguments) of the call that sends ``request``."""
        spec = self.spec
        values = request_values(
            self._common(request),
            [recipient_values(recipient, request.body_for(recipient), spec.encoding_values)
             for recipient in request.recipients],
            several=spec.max_recipients > 1, join=spec.join, separator=spec.separator)
        url = fill(spec.url, values.shared, encode=_url_encode)
        headers = {name: fill(template, values.shared) for name, template in spec.headers.items()}
        params = render_params(spec.params, values, spec.omit_empty)
        kwargs = {}
        body = render_json(spec.body, values, spec.omit_empty) if spec.body is not None else None
        auth_param = self._apply_auth(headers, kwargs, values.shared)
        if auth_param:
            if spec.auth['in'] == 'query' or spec.body_type == 'query':
                query = [auth_param]
            elif spec.body_type == 'form':
                params.append(auth_param)
                query = []
            else:
                body = {**body, auth_param[0]: auth_param[1]}
                query = []
        else:
            query = []
        if spec.body_type == 'form':
            kwargs['data'] = params
        else:
            query = params + query if spec.body_type == 'query' else query + params
        if query:
            kwargs['params'] = query
        if body is not None:
            kwargs['data'] = json.dumps(body).encode('utf-8')
            if not any(name.lower() == 'content-type' for name in headers):
                headers['Content-Type'] = 'application/json'
        if headers:
            kwargs['headers'] = headers
        return spec.method, url, kwargs

    def _common(self, request):
        spec = self.spec
        marketing = bool(request.marketing)
        values = {
            **body_values(request.body, spec.encoding_values),
            'sender': self.sender,
            'callback_url': self.callback_url,
            'base_url': self.base_url,
            'marketing': 'true' if marketing else 'false',
            'sms_type': spec.type_values.get('marketing' if marketing else 'transactional', ''),
        }
        values.update(self.credentials)
        return values

    def _apply_auth(self, headers, kwargs, values):
        """Add the authentication to ``headers``/``kwargs``; return a (name, value) parameter
        for ``param`` authentication."""
        auth = self.spec.auth
        if auth['type'] == 'header':
            headers[auth['name']] = fill(auth['value'], values)
        elif auth['type'] == 'bearer':
            headers['Authorization'] = 'Bearer ' + fill(auth['value'], values)
        elif auth['type'] == 'basic':
            kwargs['auth'] = (fill(auth['username'], values), fill(auth['password'], values))
        elif auth['type'] == 'param':
            return (auth['name'], fill(auth['value'], values))
        return None

    def _log(self, status, outcomes):
        kinds = {}
        for outcome in outcomes.values():
            kinds[outcome.kind.value] = kinds.get(outcome.kind.value, 0) + 1
        summary = ', '.join(f'{count} {kind}' for kind, count in sorted(kinds.items()))
        log = _logger.warning if any(kind != OutcomeKind.SENT.value for kind in kinds) else _logger.info
        log('%s: HTTP %s: %s', self.name, status, summary)

    # -- secrets ---------------------------------------------------------------------------

    def _secrets(self):
        secrets = [value for value in self.credentials.values() if value]
        secrets.extend(self.masked_values)
        values = {**self.credentials, 'base_url': self.base_url}
        auth = self.spec.auth
        for key in ('value', 'password'):
            if key in auth:
                secrets.append(fill(auth[key], values))
        # A secret often comes back in the form it travelled in (an echoed URL or form, a
        # JSON-escaped copy): each of those forms is masked too.
        secrets = [form for secret in secrets for form in _encoded_forms(secret)]
        if auth['type'] == 'basic':
            pair = f"{fill(auth['username'], values)}:{fill(auth['password'], values)}"
            secrets.append(base64.b64encode(pair.encode()).decode())
            # requests encodes the Basic pair as Latin-1: a non-ASCII password differs.
            secrets.append(base64.b64encode(pair.encode('latin-1', 'replace')).decode())
        # Longest first, so that a secret holding another is masked whole.
        return sorted({secret for secret in secrets if len(secret) >= 4}, key=len, reverse=True)

    def _mask(self, text):
        return mask_secrets(text, self._secrets(), MASK)

    def _reason(self, text):
        return self._mask(_lt('%(name)s: %(reason)s', name=self.name, reason=text))

    # -- account ---------------------------------------------------------------------------

    def test_connection(self):
        """A short message saying the account works, or raise ProviderError."""
        problem = self.check_configuration()
        if problem:
            raise ProviderError(self._reason(_lt('misconfigured: %(problem)s', problem=problem)))
        if self.spec.balance is None:
            return _lt('configuration complete; this provider has no balance URL to call: send a test SMS '
                       'to check the connection')
        credit = self.fetch_credit()['credit_balance']
        return _lt('connection works; credit: %(credit)s', credit=f'{credit:g}')

    def fetch_credit(self):
        """{'credit_balance': float, 'credit_expiry': False}; raise ProviderError when the
        balance cannot be read."""
        balance = self.spec.balance
        if balance is None:
            raise ProviderError(self._reason(_lt('no balance URL in the configuration')))
        problem = self._problems(self.spec.balance_uses, sending=False)
        if problem:
            raise ProviderError(self._reason(_lt('cannot fetch the credit: %(problem)s', problem=problem)))
        values = {**self._common_without_send(), **self.credentials}
        url = fill(balance.url, values, encode=_url_encode)
        headers = {name: fill(template, values) for name, template in self.spec.headers.items()
                   if not any(p in SEND_ONLY for p in placeholders(template))}
        headers.pop('Content-Type', None)
        kwargs = {}
        params = [(name, fill(template, values)) for name, template in balance.params]
        auth_param = self._apply_auth(headers, kwargs, values)
        if auth_param:
            params.append(auth_param)
        if params:
            kwargs['params' if balance.method == 'GET' else 'data'] = params
        if headers:
            kwargs['headers'] = headers
        try:
            reply = self.request(balance.method, url, **kwargs)
        except TransportFailure as failure:
            raise ProviderError(self._reason(_lt('cannot fetch the credit: %(problem)s',
                                                 problem=failure.reason))) from None
        shown = excerpt(reply.text, self._mask)
        if not reply.ok:
            raise ProviderError(self._reason(_lt('cannot fetch the credit: HTTP %(status)s: %(answer)s',
                                                 status=reply.status, answer=shown)), reply.status)
        credit = _balance_value(balance, reply)
        if credit is None:
            raise ProviderError(self._reason(_lt('no balance in the answer (HTTP %(status)s): %(answer)s',
                                                 status=reply.status, answer=shown)), reply.status)
        return {'credit_balance': credit, 'credit_expiry': False}

    def _common_without_send(self):
        return {'sender': self.sender, 'callback_url': self.callback_url, 'base_url': self.base_url}


def _encoded_forms(secret):
    """``secret`` and the forms it takes once URL-encoded or JSON-escaped."""
    escaped = json.dumps(secret)[1:-1]
    unicode_escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {secret, quote(secret, safe=''), quote(secret), quote_plus(secret), escaped, unicode_escaped}
    # PHP's json_encode also escapes the slash.
    forms.update(form.replace('/', '\\/') for form in (escaped, unicode_escaped))
    return forms


def _balance_value(balance, reply):
    if balance.path is not None:
        raw = as_text(balance.path.first(reply.json()))
    else:
        raw = reply.text
    if raw is None:
        return None
    if balance.regex is not None:
        found = balance.regex.search(raw)
        if not found:
            return None
        raw = found.group(1) if found.groups() else found.group(0)
        if raw is None:
            return None                     # an optional group that took no part in the match
    raw = raw.strip()
    if raw.count(',') == 1 and '.' not in raw:
        raw = raw.replace(',', '.')                 # a decimal comma: "12,50"
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------- delivery reports


def parse_report(spec, payload):
    """The final delivery reports in ``payload`` (a JSON body decoded, a dict of form or
    query parameters, a list, or JSON text): a list of :class:`Report`, interim statuses
    left out. Raise ValueError when the spec has no report section or nothing in
    ``payload`` can be read."""
    if not isinstance(spec, HttpApiSpec):
        spec = load_spec(spec)
    if spec.report is None:
        raise ValueError('the configuration has no report section')
    return read_reports(spec.report, payload)
