"""The HTTP API provider: an account whose requests and answers are described by a JSON
configuration (the "spec", engine/http_api.py) instead of a provider addon.

An account is usually made from a template (engine/http_templates/<key>.json): its spec is
copied into the fields below, then only the credentials and the sender are filled in. The
fields are the spec split into what people edit: plain fields for the request line, the
authentication and the recipients, JSON text for the rest. They are read back into one spec
(``_http_api_spec``) that the engine checks on every save and builds the client from.
"""
import json
import logging
import secrets

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..engine.http_api import HttpApiClient, SpecError, load_spec
from ..engine.http_api_spec import CREDENTIALS
from ..engine.http_templates import load_template, template_keys
from ..engine.outcomes import BatchResult, OutcomeKind, ProviderClient
from ..engine.reasons import _lt, join_reasons, reason_of
from ..engine.transport import ProviderError
from ..tools.reason_text import company_lang, render_reason, translate_text

_logger = logging.getLogger(__name__)

HTTP_API = 'http_api'
# The account's field holding each credential a configuration may use ({username}, ...).
CREDENTIAL_FIELDS = {'username': 'http_api_username', 'api_key': 'http_api_key', 'api_secret': 'http_api_secret'}
REPORT_ROUTE = '/sms_router/http_api/report'

HTTP_METHODS = [('POST', 'POST'), ('GET', 'GET')]
BODY_TYPES = [('json', 'JSON'), ('form', 'Form'), ('query', 'Query String')]
AUTH_TYPES = [
    ('none', 'None'),
    ('header', 'API Key Header'),
    ('bearer', 'Bearer Token'),
    ('basic', 'Basic Authentication'),
    ('param', 'Key in a Parameter'),
]
AUTH_PLACES = [('query', 'Query String'), ('body', 'Body')]
RECIPIENT_JOINS = [('list', 'List'), ('separator', 'Separator')]
TEMPLATE_ENDPOINTS = [('live', 'Live'), ('sandbox', 'Sandbox')]

# The JSON text fields: {field name: spec key}.
JSON_FIELDS = {
    'http_api_headers': 'headers',
    'http_api_params': 'params',
    'http_api_body': 'body',
    'http_api_type_values': 'type_values',
    'http_api_answer': 'answer',
    'http_api_report': 'report',
    'http_api_balance': 'balance',
    'http_api_extra': None,
}
# The plain fields of the spec; the JSON ones above; what the engine checks on save.
SPEC_FIELDS = (
    'http_api_method', 'http_api_url', 'http_api_body_type', 'http_api_auth_type', 'http_api_auth_name',
    'http_api_auth_value', 'http_api_auth_username', 'http_api_auth_password', 'http_api_auth_in',
    'http_api_max_recipients',
    'http_api_join', 'http_api_separator', *JSON_FIELDS,
)
# The spec keys held by plain fields (anything else a template holds goes to Other Settings).
PLAIN_SPEC_KEYS = {'method', 'url', 'body_type', 'auth', 'recipients'}


def _json_text(value):
    """``value`` as the JSON text of a field (False when there is none)."""
    if value is None:
        return False
    return json.dumps(value, indent=2, ensure_ascii=False)


class _MisconfiguredClient(ProviderClient):
    """The client of an HTTP API account whose configuration the engine refuses (a spec
    saved before a stricter engine, or a template changed under it): the router skips the
    account as misconfigured, without any request."""

    provider = HTTP_API

    def __init__(self, problem):
        self.problem = problem

    def check_configuration(self):
        return self.problem

    def send(self, request):
        return BatchResult.for_all(request, OutcomeKind.MISCONFIGURED, self.problem)

    def close(self):
        pass


class SmsRouterAccount(models.Model):
    _inherit = 'sms.router.account'  # pylint: disable=consider-merging-classes-inherited

    sms_provider = fields.Selection(selection_add=[(HTTP_API, 'HTTP API')], ondelete={HTTP_API: 'cascade'})

    # ------------------------------------------------------------ template
    http_api_template = fields.Selection(
        '_http_api_template_selection', string='Template', tracking=True,
        help="The provider whose ready configuration this account starts from. Choosing one fills "
             "the request, the answer and the report settings; Apply Template fills them again.")
    http_api_template_endpoint = fields.Selection(
        TEMPLATE_ENDPOINTS, string='Template Endpoint', default='live', required=True,
        help='Which of the template\'s endpoints Apply Template sets as the base URL: the live API, or '
             'the provider\'s sandbox where it has one (test credentials, nothing delivered).')
    http_api_template_has_sandbox = fields.Boolean(compute='_compute_http_api_template_info')
    http_api_template_info = fields.Text(
        'About the Template', compute='_compute_http_api_template_info',
        help="What the template's provider expects: its credentials, notes and documentation.")
    http_api_base_url = fields.Char(
        'Base URL', tracking=True,
        help='The value of {base_url} in the URLs: the provider\'s API, set by the template. The '
             'Endpoint URL of the Provider tab replaces it when set (a sandbox or a proxy).')

    # ------------------------------------------------------------ request
    http_api_method = fields.Selection(HTTP_METHODS, string='Method', default='POST', tracking=True)
    http_api_url = fields.Char(
        'URL', tracking=True,
        help='Where each request goes, e.g. {base_url}/sms/send. Placeholders: {number}, '
             '{number_digits}, {number_national}, {body}, {sender}, {uuid}, {callback_url}, '
             '{username}, {api_key}, {api_secret}, {base_url}, {marketing}, {sms_type}; '
             '{{ and }} for literal braces.')
    http_api_body_type = fields.Selection(
        BODY_TYPES, string='Body Type', default='json', tracking=True,
        help='JSON: the JSON Body below. Form: the Parameters, form-encoded. Query String: the '
             'Parameters in the URL, no body.')
    http_api_headers = fields.Text(
        'Headers', tracking=True,
        help='A JSON object of header names and values (placeholders allowed), '
             'e.g. {"Accept": "application/json"}.')
    http_api_params = fields.Text(
        'Parameters', tracking=True,
        help='Form and query string requests: a JSON object of parameter names and values, '
             'e.g. {"to": "{number}", "text": "{body}"}.')
    http_api_body = fields.Text(
        'JSON Body', tracking=True,
        help='JSON requests: the body, with placeholders inside its strings. {"$each": {...}} '
             'makes one copy of the object per recipient.')
    http_api_type_values = fields.Text(
        'Transactional / Marketing Values', tracking=True,
        help='Optional JSON object {"transactional": ..., "marketing": ...}: the value of '
             '{sms_type} for each kind of SMS.')

    # ------------------------------------------------------------ authentication
    http_api_auth_type = fields.Selection(AUTH_TYPES, string='Authentication', default='none', tracking=True)
    http_api_auth_name = fields.Char(
        'Header or Parameter Name', tracking=True,
        help='API key header: the header name (e.g. X-API-Key). Key in a parameter: the parameter name.')
    http_api_auth_value = fields.Char(
        'Key Value', tracking=True,
        help='The value sent, with placeholders, e.g. {api_key} or "App {api_key}". Bearer token: '
             'empty means {api_key}. Never type a credential here: use the Credentials fields.')
    http_api_auth_username = fields.Char(
        'Basic Username', tracking=True, help='Basic authentication: empty means {username}.')
    http_api_auth_password = fields.Char(
        'Basic Password', tracking=True, help='Basic authentication: empty means {api_key}.')
    http_api_auth_in = fields.Selection(
        AUTH_PLACES, string='Key Sent In', tracking=True,
        help='Key in a parameter: in the query string, or in the form or JSON body (top level). '
             'Empty: the body, or the query string of requests without one.')

    # ------------------------------------------------------------ recipients
    http_api_max_recipients = fields.Integer(
        'Recipients per Request', default=1, tracking=True,
        help='1: one request per SMS. More: the numbers of SMS sharing a body go in one request.')
    http_api_join = fields.Selection(
        RECIPIENT_JOINS, string='Several Numbers As', default='list', tracking=True,
        help='How a number placeholder holds several numbers: a JSON list (repeated parameters '
             'in forms and query strings), or one text joined with the separator.')
    http_api_separator = fields.Char('Separator', default=',', tracking=True)

    # ------------------------------------------------------------ answer, reports, balance
    http_api_answer = fields.Text(
        'Answer', tracking=True,
        help='JSON object: which HTTP statuses and values mean accepted, where the message ids '
             'are, and rules mapping the provider\'s errors to the router\'s outcomes.')
    http_api_report = fields.Text(
        'Delivery Reports', tracking=True,
        help='JSON object: where the message id and the status are in the provider\'s delivery '
             'reports, and which statuses mean delivered or failed.')
    http_api_balance = fields.Text(
        'Balance', tracking=True,
        help='Optional JSON object: the request that reads the account balance (method, url, path '
             'or regex), for Test Connection and the credit.')
    http_api_extra = fields.Text(
        'Other Settings', tracking=True,
        help='JSON object of further configuration keys the fields above do not hold.')

    # ------------------------------------------------------------ credentials
    http_api_username = fields.Char('Username', groups='base.group_system', copy=False,
                                    help='The value of {username}.')
    http_api_key = fields.Char('API Key', groups='base.group_system', copy=False,
                               help='The value of {api_key}.')
    http_api_secret = fields.Char('API Secret', groups='base.group_system', copy=False,
                                  help='The value of {api_secret}.')
    http_api_callback_token = fields.Char(
        'HTTP API Callback Token', groups='base.group_system', copy=False, readonly=True,
        help='Secret part of the delivery report URL: most providers do not sign their reports.')

    # ------------------------------------------------------------ computes

    @api.model
    def _http_api_template_selection(self):
        selection = []
        for key in template_keys():
            try:
                name = load_template(key).get('name') or key
            except (OSError, ValueError) as error:
                _logger.warning('SMS router: HTTP API template %s cannot be read: %s', key, error)
                continue
            selection.append((key, translate_text(name, self.env.lang)))
        return sorted(selection, key=lambda item: item[1].lower())

    @api.depends('http_api_template')
    @api.depends_context('lang')
    def _compute_http_api_template_info(self):
        for account in self:
            template = account._http_api_load_template() if account.http_api_template else None
            account.http_api_template_has_sandbox = bool(template and template.get('endpoints', {}).get('sandbox'))
            account.http_api_template_info = account._http_api_template_text(template) if template else False

    def _http_api_template_text(self, template):
        lines = []
        labels = template.get('credentials') or {}
        names = {'username': self.env._('Username'), 'api_key': self.env._('API Key'),
                 'api_secret': self.env._('API Secret')}
        # The template's own words (name, notes, labels) in the reader's language:
        # engine/http_template_texts.py lists them for the translations.
        used = [self.env._('%(field)s: %(label)s', field=names.get(key, key),
                           label=translate_text(label, self.env.lang))
                for key, label in labels.items()]
        if used:
            # join_reasons: the separator in the reader's language (' ; ' in French).
            lines.append(self.env._('Credentials: %s', render_reason(join_reasons(used), self.env.lang)))
        if template.get('sender_required'):
            lines.append(self.env._('This provider needs a Sender ID.'))
        if template.get('notes'):
            lines.append(translate_text(template['notes'], self.env.lang))
        if template.get('documentation'):
            lines.append(self.env._('Documentation: %s', ' '.join(template['documentation'])))
        return '\n'.join(lines)

    @api.depends('http_api_callback_token')
    def _compute_webhook_urls(self):
        # The delivery report URL holds the token: a new token is a new URL.
        return super()._compute_webhook_urls()

    # ------------------------------------------------------------ templates

    def _http_api_load_template(self, key=None):
        """The template ``key`` (default: this account's) as a dict, or None when unknown."""
        key = key or self.http_api_template
        if not key:
            return None
        try:
            return load_template(key)
        except (OSError, ValueError, KeyError) as error:
            _logger.warning('SMS router: HTTP API template %s cannot be read: %s', key, error)
            return None

    @api.model
    def _http_api_template_values(self, key, endpoint='live'):
        """The field values that hold template ``key``'s spec and its ``endpoint`` ('live' or
        'sandbox', the live one when the template has no sandbox). Credentials, the sender
        and the account's own settings are not among them."""
        template = self._http_api_load_template(key)
        if template is None:
            raise UserError(self.env._('Unknown HTTP API template: %s', key))
        endpoints = template.get('endpoints') or {}
        values = self._http_api_spec_values(template.get('spec') or {})
        values['http_api_template'] = key
        values['http_api_base_url'] = endpoints.get(endpoint) or endpoints.get('live') or False
        return values

    @api.model
    def _http_api_spec_values(self, spec):
        """The field values of ``spec`` (a spec dict): its inverse is ``_http_api_spec``."""
        auth = spec.get('auth') or {}
        recipients = spec.get('recipients') or {}
        method = str(spec.get('method') or 'POST').upper()
        values = {
            'http_api_method': method,
            'http_api_url': spec.get('url') or False,
            # load_spec's default: a GET request has no body.
            'http_api_body_type': spec.get('body_type') or ('json' if method == 'POST' else 'query'),
            'http_api_auth_type': auth.get('type') or 'none',
            'http_api_auth_name': auth.get('name') or False,
            'http_api_auth_value': auth.get('value') or False,
            'http_api_auth_username': auth.get('username') or False,
            'http_api_auth_password': auth.get('password') or False,
            'http_api_auth_in': auth.get('in') or False,
            'http_api_max_recipients': recipients.get('max') or 1,
            'http_api_join': recipients.get('join') or 'list',
            'http_api_separator': recipients.get('separator') or ',',
        }
        for name, key in JSON_FIELDS.items():
            if key:
                values[name] = _json_text(spec.get(key))
        other = {key: value for key, value in spec.items()
                 if key not in PLAIN_SPEC_KEYS and key not in JSON_FIELDS.values()}
        values['http_api_extra'] = _json_text(other) if other else False
        return values

    @api.onchange('http_api_template')
    def _onchange_http_api_template(self):
        # Choosing a template in the form is applying it: the account is then saved with a
        # configuration that works, and only the credentials and the sender are left to fill.
        if self.sms_provider == HTTP_API and self.http_api_template:
            self.update(self._http_api_template_values(self.http_api_template, self.http_api_template_endpoint))

    @api.onchange('http_api_template_endpoint')
    def _onchange_http_api_template_endpoint(self):
        # Only the base URL: the rest of the configuration may have been edited since.
        template = self._http_api_load_template() if self.sms_provider == HTTP_API else None
        endpoints = (template or {}).get('endpoints') or {}
        url = endpoints.get(self.http_api_template_endpoint) or endpoints.get('live')
        if url:
            self.http_api_base_url = url

    def action_http_api_apply_template(self):
        """Copy the template's configuration and endpoint into the account again, keeping
        its credentials, sender and other settings."""
        self.check_access('write')
        for account in self:
            if account.sms_provider != HTTP_API:
                continue
            if not account.http_api_template:
                raise UserError(self.env._('Choose a template first.'))
            account.write(self._http_api_template_values(account.http_api_template,
                                                         account.http_api_template_endpoint))
            account._sms_router_log(self.env._('Template %(template)s applied (%(endpoint)s endpoint) by %(user)s.',
                                               template=account.http_api_template,
                                               endpoint=account.http_api_template_endpoint,
                                               user=self.env.user.name), author=self.env.user.partner_id)
        return True

    # ------------------------------------------------------------ spec

    def _http_api_json_value(self, name):
        """The JSON value of field ``name``, None when empty; ValidationError naming the
        field when it is no JSON."""
        text = (self[name] or '').strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as error:
            label = self._fields[name]._description_string(self.env)
            raise ValidationError(self.env._(
                'HTTP API account %(account)s: %(field)s is not valid JSON (%(error)s). Fix it or empty it.',
                account=self.name, field=label, error=error)) from None

    def _http_api_spec(self):
        """The spec dict of this account, as ``load_spec`` takes it."""
        self.ensure_one()
        extra = self._http_api_json_value('http_api_extra')
        if extra is not None and not isinstance(extra, dict):
            raise ValidationError(self.env._('HTTP API account %s: Other Settings must be a JSON object.', self.name))
        spec = dict(extra or {})
        spec.update({
            'method': self.http_api_method or 'POST',
            'url': self.http_api_url or '',
            'body_type': self.http_api_body_type or 'json',
        })
        auth = {'type': self.http_api_auth_type or 'none'}
        for key in ('name', 'value', 'username', 'password', 'in'):
            value = self[f'http_api_auth_{key}']
            if value:
                auth[key] = value
        spec['auth'] = auth
        recipients = {'max': self.http_api_max_recipients or 1, 'join': self.http_api_join or 'list'}
        if recipients['join'] == 'separator':
            recipients['separator'] = self.http_api_separator or ','
        spec['recipients'] = recipients
        for name, key in JSON_FIELDS.items():
            if key:
                value = self._http_api_json_value(name)
                if value is not None:
                    spec[key] = value
        return spec

    def _http_api_loaded_spec(self):
        """The engine's checked spec of this account; SpecError when it refuses it."""
        return load_spec(self._http_api_spec())

    @api.constrains('sms_provider', *SPEC_FIELDS)
    def _check_http_api_spec(self):
        for account in self.filtered(lambda a: a.sms_provider == HTTP_API):
            if not account.http_api_url:
                raise ValidationError(self.env._(
                    'HTTP API account %s: choose a template, or fill in the request URL.', account.name))
            spec = account._http_api_spec()
            try:
                load_spec(spec)
            except SpecError as error:
                raise ValidationError(self.env._(
                    'HTTP API account %(account)s cannot work as configured: %(error)s',
                    account=account.name, error=render_reason(reason_of(error), self.env.lang))) from None
            if (account.http_api_max_recipients or 1) < 1:
                raise ValidationError(self.env._('Recipients per request must be at least 1.'))

    @api.constrains('sms_provider', 'active', 'http_api_username', 'http_api_key', 'http_api_secret',
                    *SPEC_FIELDS)
    def _check_http_api_credentials(self):
        """An active HTTP API account has every credential its request uses: refused when saved
        without one, with the credentials to fill in. (A copy whose credentials were removed
        outside the form, e.g. neutralized, is still skipped as misconfigured when sending.)"""
        labels = {'username': self.env._('Username'), 'api_key': self.env._('API Key'),
                  'api_secret': self.env._('API Secret')}
        for account in self.sudo().filtered(lambda a: a.sms_provider == HTTP_API and a.active):
            try:
                uses = load_spec(account._http_api_spec()).uses
            except SpecError:
                continue        # refused by _check_http_api_spec, with what to fix
            missing = [labels[name] for name in CREDENTIALS
                       if name in uses and not account[CREDENTIAL_FIELDS[name]]]
            if missing:
                raise ValidationError(self.env._(
                    'HTTP API account %(account)s: fill in %(credentials)s (Provider tab, Credentials): its '
                    'requests use them.', account=account.name, credentials=', '.join(missing)))

    # ------------------------------------------------------------ CRUD

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        # Credentials are not copied: an HTTP API copy starts archived, until they are
        # filled in (an active account without them is refused, _check_http_api_credentials).
        for account, vals in zip(self, vals_list, strict=True):
            if account.sms_provider == HTTP_API and 'active' not in (default or {}):
                vals['active'] = False
        return vals_list

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            # An account created with a template and no configuration of its own (RPC, data
            # files, the drills) gets the template's, as choosing it in the form does.
            if vals.get('sms_provider') == HTTP_API and vals.get('http_api_template') \
                    and not vals.get('http_api_url'):
                template = self._http_api_template_values(
                    vals['http_api_template'], vals.get('http_api_template_endpoint') or 'live')
                vals.update({key: value for key, value in template.items()
                             if key not in vals or key == 'http_api_base_url' and not vals[key]})
        accounts = super().create(vals_list)
        accounts._http_api_ensure_callback_token()
        return accounts

    def write(self, vals):
        result = super().write(vals)
        if vals.get('sms_provider') == HTTP_API:
            self._http_api_ensure_callback_token()
        return result

    def _http_api_ensure_callback_token(self):
        for account in self.sudo().filtered(lambda a: a.sms_provider == HTTP_API):
            if not account.http_api_callback_token:
                account.http_api_callback_token = secrets.token_urlsafe(32)

    def action_http_api_regenerate_callback_token(self):
        for account in self:
            # Written as the current user: the field is restricted to system administrators.
            account.http_api_callback_token = secrets.token_urlsafe(32)
            _logger.info('SMS router: HTTP API callback token of account %s regenerated by user %s',
                         account.id, self.env.uid)
        return True

    # ------------------------------------------------- provider extension points

    def _sms_router_make_client(self):
        if self.sms_provider != HTTP_API:
            return super()._sms_router_make_client()
        return self._http_api_client()

    def _http_api_callback_url(self):
        token = self.sudo().http_api_callback_token
        if not (token and self._origin.id):
            return ''
        return self._sms_router_callback_url(f'{REPORT_ROUTE}/{self._origin.id}/{token}')

    def _http_api_client(self, timeout=None):
        """A new HttpApiClient built from this account (credentials are read here only), or
        a client that reports why the configuration cannot work; ``timeout`` replaces the
        account's request timeout."""
        self.ensure_one()
        account = self.sudo()
        try:
            spec = account._http_api_loaded_spec()
        except (SpecError, ValidationError) as error:
            reason = reason_of(error) if isinstance(error, SpecError) else error.args[0]
            return _MisconfiguredClient(_lt('configuration refused: %(error)s', error=reason))
        template = account._http_api_load_template() or {}
        return HttpApiClient(
            spec,
            # An answer echoing the request ({callback_url}) must not put the token in the trail.
            secrets=[account.http_api_callback_token or ''],
            name=template.get('name') or account.name,
            sender_required=bool(template.get('sender_required')),
            credentials={'username': account.http_api_username or '', 'api_key': account.http_api_key or '',
                         'api_secret': account.http_api_secret or ''},
            sender=account.sender_id or '',
            callback_url=account._http_api_callback_url(),
            base_url=account.endpoint_url or account.http_api_base_url or '',
            timeout=timeout or account.timeout,
            pool_size=max(1, account.max_concurrency),
        )

    def _sms_router_supports_credit(self):
        if self.sms_provider == HTTP_API:
            return bool((self.http_api_balance or '').strip())
        return super()._sms_router_supports_credit()

    def _sms_router_fetch_credit(self, timeout=None):
        if self.sms_provider != HTTP_API:
            return super()._sms_router_fetch_credit(timeout=timeout)
        client = self._http_api_usable_client(timeout=timeout)
        try:
            credit = client.fetch_credit()
        except ProviderError as error:
            # Kept on the account as its last credit error: in its company's language.
            raise UserError(self._sms_router_redact(
                render_reason(reason_of(error), company_lang(self.env, self.company_id)))) from None
        finally:
            client.close()
        return {'credit_balance': credit['credit_balance'], 'credit_expiry': credit.get('credit_expiry') or False}

    def _http_api_usable_client(self, timeout=None):
        """A new HttpApiClient of this account; UserError saying what to fix when the engine
        refuses its configuration."""
        client = self._http_api_client(timeout=timeout)
        if isinstance(client, _MisconfiguredClient):
            raise UserError(self.env._('The account cannot send yet: %s',
                                       render_reason(client.problem, self.env.lang)))
        return client

    def _sms_router_test_connection(self):
        if self.sms_provider != HTTP_API:
            return super()._sms_router_test_connection()
        self.ensure_one()
        if self._sms_router_supports_credit():
            credit = self._sms_router_fetch_credit()
            self._sms_router_store_credit(credit)
            message = self.env._('The provider accepted the credentials. Balance: %s.', credit['credit_balance'])
            problem = self._http_api_client().check_configuration()
            if problem:
                message += ' ' + self.env._('Still to do before sending: %s.', render_reason(problem, self.env.lang))
            return message
        client = self._http_api_usable_client()
        try:
            message = client.test_connection()
        except ProviderError as error:
            raise UserError(self.env._('The provider refused the test: %s', self._sms_router_redact(
                render_reason(reason_of(error), self.env.lang)))) from None
        finally:
            client.close()
        return self._sms_router_redact(render_reason(message, self.env.lang))

    def _sms_router_webhook_paths(self):
        if self.sms_provider != HTTP_API:
            return super()._sms_router_webhook_paths()
        token = self.sudo().http_api_callback_token
        return {'delivery_report': token and f'{REPORT_ROUTE}/{self._origin.id}/{token}', 'inbound': False}

    def _sms_router_webhook_help(self):
        if self.sms_provider != HTTP_API:
            return super()._sms_router_webhook_help()
        text = self.env._(
            'Requests give the delivery report URL to the provider where the configuration uses '
            '{callback_url}; otherwise paste it in the provider\'s dashboard. It holds a secret token: '
            'Regenerate Callback Token if it leaks.')
        if self._origin.id and not self.sudo().http_api_callback_token:
            text += ' ' + self.env._('This account has no callback token: regenerate it to get the URL.')
        return text
