import logging
import threading
from datetime import timedelta

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.misc import formatLang
from odoo.tools.urls import urljoin as url_join

from ..engine.breakers import AccountBreaker, BreakerSettings, CLOSED, HALF_OPEN, OPEN
from ..engine.dispatcher import AccountHandle
from ..engine.segments import measure as measure_segments
from ..engine.smart_encoding import LETTERS, OFF as SMART_ENCODING_OFF, TYPOGRAPHY, apply as apply_smart_encoding
from ..engine.governor import GovernorSettings
from ..tools.costs import PRICE_DIGITS
from ..tools.reason_text import render_reason
from ..tools.sms_api import IAP_MAX_SEND_SECONDS, IapClient

_logger = logging.getLogger(__name__)

# Provider clients keep a pooled HTTP session; they are reused across batches of the same
# process as long as the account is unchanged (the key includes write_date).
_CLIENT_CACHE = {}
_CLIENT_CACHE_LOCK = threading.Lock()

# Scheduled refresh of the credits: accounts whose credit is older than this many minutes
# (ir.config_parameter name, default; 0 or less: never).
CREDIT_REFRESH_PARAM = ('sms_router.credit_refresh_minutes', 60)
# Settings read the credits again when they open, unless read less than this many seconds
# ago; they must not hang on a slow provider, so the call gets a short timeout.
SETTINGS_CREDIT_MAX_AGE = 60
SETTINGS_CREDIT_TIMEOUT = 5.0
# Credentials shorter than this are not looked for in error messages (a one-letter value
# would blank every occurrence of that letter).
MIN_REDACTED_LENGTH = 6
# Fields that decide whether the credit is low (credit_low).
CREDIT_LOW_FIELDS = {'credit_balance', 'credit_low_threshold', 'credit_checked_at'}
SMART_ENCODING_LEVELS = [
    (SMART_ENCODING_OFF, 'Off'), (TYPOGRAPHY, 'Typography'), (LETTERS, 'Typography and letters'),
]
# Fields restricted to system administrators that are not credentials.
NOT_SECRET_FIELDS = ('endpoint_url', 'public_base_url')


def _drop_cached_clients(dbname, account_ids):
    """Forget the cached clients of these accounts; call with the lock held. They are not
    closed: a batch of another thread may still be sending with one; its pooled
    connections close when it is garbage-collected."""
    for key in [k for k in _CLIENT_CACHE if k[0] == dbname and k[1] in account_ids]:
        _CLIENT_CACHE.pop(key)


class SmsRouterAccount(models.Model):
    """A provider account: one set of credentials at one SMS provider, for one company.

    Its chatter is the account's audit trail: changes of the fields that decide how it sends
    (tracked), breaker transitions and manual breaker operations. Credentials are never
    tracked (see _track_get_fields) and never written in a message. The activity mixin lets
    alerts (breaker open, low credit) become activities of whoever follows the account.
    """
    _name = 'sms.router.account'
    _inherit = ['mail.thread', 'mail.activity.mixin']
    _description = 'SMS Provider Account'
    _order = 'company_id, sequence, id'
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one('res.company', required=True, index=True,
                                 default=lambda self: self.env.company, tracking=True)
    sequence = fields.Integer(default=10)
    sms_provider = fields.Selection(
        [('iap', 'Odoo IAP')], string='Provider', required=True, default='iap', tracking=True,
        help='Provider addons add their own values.')
    sender_id = fields.Char('Sender ID', tracking=True,
                            help='Name or number shown to the recipient, when the provider allows it.')
    # engine/smart_encoding.py: what each level replaces (the README lists every replacement).
    smart_encoding = fields.Selection(
        SMART_ENCODING_LEVELS, required=True, default=SMART_ENCODING_OFF, tracking=True,
        help='One character outside the GSM-7 alphabet sends the whole SMS in Unicode (UCS-2): 70 '
             'characters per SMS instead of 160. Before sending through this account, replace:\n'
             '- Typography: curly quotes and apostrophes, guillemets, dashes, ellipsis, degree sign, '
             'non-breaking and other special spaces, invisible characters;\n'
             '- Typography and letters: also the accented letters GSM-7 lacks (ç, ê, â, î, ô, û, ë, ï, '
             'œ, À, È...) by the same letter without its accent.\n'
             'Nothing else is changed.')
    # Restricted to system administrators, and so are their tracking values.
    endpoint_url = fields.Char(
        'Endpoint URL', groups='base.group_system', tracking=True,
        help="Leave empty for the provider's public API. Set it to point this account at a "
             "local sandbox or a proxy.")
    public_base_url = fields.Char(
        'Public Base URL', groups='base.group_system', tracking=True,
        help="Base URL providers use to reach this database for delivery reports. Defaults "
             "to the database's web.base.url; set it when a proxy changes the URL.")
    timeout = fields.Float('Request Timeout (s)', default=10.0, tracking=True)
    # The default comes from the throughput benchmark (README: Throughput governor): at 8, a
    # Twilio-only chain sends over 5 times what Odoo's own sms_twilio sends at 50 ms of
    # provider latency (4 gave 3.8 times). Existing accounts keep their value.
    max_concurrency = fields.Integer('Parallel Requests', default=8, tracking=True,
                                     help='At most this many requests in flight to this account.')
    governor_rate = fields.Float(
        'Rate Limit (segments/s)', tracking=True, digits=(16, 2),
        help='At most this many SMS segments per second through this account, shared by every '
             'Odoo worker; SMS over it stay queued. 0: no limit.')
    governor_daily_cap = fields.Integer(
        'Daily Cap (segments)', tracking=True,
        help="At most this many SMS segments per day (from midnight in the company's time zone, "
             'UTC when it has none); SMS over it go to the next account of their chain, or wait in '
             'the queue until the next day when this account is the last one. 0: no cap.')
    governor_used_today = fields.Integer(
        'Segments Sent Today', compute='_compute_governor_state',
        help='Segments granted today by the rate limit and daily cap (counted only while one is set).')
    governor_available = fields.Float(
        'Segments Available Now', compute='_compute_governor_state', digits=(16, 1),
        help='Segments the rate limit lets through at once (its burst: 0.4 s of the rate).')
    governor_paused_until = fields.Datetime(
        'Paused Until', compute='_compute_governor_state',
        help='The provider asked to wait (Retry-After): no request before then, in any worker.')
    breaker_fail_max = fields.Integer('Failures Before Opening', default=3, tracking=True)
    breaker_cooldown = fields.Integer('Cool-down (s)', default=60, tracking=True,
                                      help='Seconds before one probe request tests a provider again. '
                                           'Each failed probe doubles it, up to 8 times.')
    notes = fields.Text()

    # Credit, for providers that report it (filled by the provider addons).
    credit_balance = fields.Float('Credit Left', readonly=True, digits=(16, 2))
    credit_expiry = fields.Date('Credit Expires', readonly=True)
    credit_checked_at = fields.Datetime('Credit Checked', readonly=True)
    credit_low_threshold = fields.Float(
        'Low-credit Threshold', tracking=True,
        help='Skip this account (fail over) while its known credit is below this amount. 0 disables.')
    credit_error = fields.Char(
        'Last Credit Refresh Error', readonly=True, copy=False,
        groups='sms_router.group_sms_router_operator',
        help='Why the last refresh of the credit failed; empty once a refresh succeeds.')
    credit_display = fields.Char(
        'Credit', compute='_compute_credit_display',
        help='Credit left, or "Unknown" while it has never been read.')
    credit_supported = fields.Boolean(compute='_compute_credit_supported')
    credit_low = fields.Boolean(compute='_compute_credit_low')

    # Prices, for the cost ledger (sms.router.price, tools/costs.py).
    price_currency_id = fields.Many2one(
        'res.currency', compute='_compute_price_currency_id', store=True,
        readonly=False, precompute=True, tracking=True,
        help='The currency of the prices of this account (its price list, default price and credit '
             "value). Defaults to the company's currency.")
    price_default = fields.Float(
        'Default Price per Segment', digits=PRICE_DIGITS, tracking=True,
        help='What one SMS segment costs to a country that has no line in the price list. 0: unknown '
             '(the cost of such SMS stays empty unless the provider gives it).')
    credit_value = fields.Float(
        digits=PRICE_DIGITS, tracking=True,
        help='What one provider credit is worth, for providers that bill in credits (OVH): the cost '
             'of an SMS is then the credits it took times this value. 0: credits are not converted '
             '(the price list applies).')
    price_ids = fields.One2many('sms.router.price', 'account_id', string='Price List')
    price_count = fields.Integer(compute='_compute_price_count', string='Prices')

    _price_default_positive = models.Constraint(
        'CHECK(price_default IS NULL OR price_default >= 0)', 'The default price cannot be negative.')
    _credit_value_positive = models.Constraint(
        'CHECK(credit_value IS NULL OR credit_value >= 0)', 'The credit value cannot be negative.')

    # URLs the provider must be given (filled from the provider addons' paths).
    delivery_report_url = fields.Char(
        'Delivery Report URL', compute='_compute_webhook_urls', groups='base.group_system',
        help='Where the provider posts its delivery reports.')
    inbound_url = fields.Char(
        'Inbound SMS URL', compute='_compute_webhook_urls', groups='base.group_system',
        help='Where the provider posts the SMS people send back (STOP replies).')
    webhook_help = fields.Text(compute='_compute_webhook_urls', groups='base.group_system')

    configuration_error = fields.Char(compute='_compute_configuration_error')
    breaker_state = fields.Selection(
        [('closed', 'Closed'), ('open', 'Open'), ('half-open', 'Half-open'), ('forced', 'Forced open')],
        compute='_compute_breaker')
    breaker_failure_count = fields.Integer(compute='_compute_breaker')
    breaker_opened_at = fields.Datetime(compute='_compute_breaker')
    breaker_paused_until = fields.Datetime(compute='_compute_breaker')
    breaker_last_failure = fields.Char(compute='_compute_breaker')
    attempt_ids = fields.One2many('sms.router.attempt', 'account_id', string='Attempts')
    attempt_count = fields.Integer(compute='_compute_attempt_count')
    quality_ids = fields.One2many('sms.router.quality', 'account_id', string='Delivery Quality')
    quality_ejected_count = fields.Integer(compute='_compute_quality_ejected_count', string='Ejected Countries')

    _positive_timeout = models.Constraint('CHECK(timeout > 0)', 'The request timeout must be positive.')
    _governor_rate_positive = models.Constraint(
        'CHECK(governor_rate IS NULL OR governor_rate >= 0)', 'The rate limit cannot be negative.')
    _governor_daily_cap_positive = models.Constraint(
        'CHECK(governor_daily_cap IS NULL OR governor_daily_cap >= 0)', 'The daily cap cannot be negative.')
    _positive_fail_max = models.Constraint('CHECK(breaker_fail_max > 0)',
                                           'Failures before opening must be at least 1.')

    # ------------------------------------------------------------ computes

    def _compute_credit_supported(self):
        for account in self:
            account.credit_supported = account._sms_router_supports_credit()

    @api.depends('credit_balance', 'credit_checked_at')
    @api.depends_context('lang')
    def _compute_credit_display(self):
        for account in self:
            if account.credit_checked_at:
                account.credit_display = formatLang(self.env, account.credit_balance, digits=2)
            else:
                account.credit_display = self.env._('Unknown')

    @api.depends('sms_provider', 'public_base_url', 'company_id')
    def _compute_webhook_urls(self):
        for account in self:
            # A form's draft of a saved account has a NewId: the paths use _origin.id.
            paths = account._sms_router_webhook_paths() if account._origin.id else {}
            urls = {kind: account._sms_router_callback_url(path) if path else False
                    for kind, path in paths.items()}
            account.delivery_report_url = urls.get('delivery_report') or False
            account.inbound_url = urls.get('inbound') or False
            account.webhook_help = account._sms_router_webhook_help() or False

    @api.depends('credit_balance', 'credit_low_threshold', 'credit_checked_at')
    def _compute_credit_low(self):
        for account in self:
            account.credit_low = bool(account.credit_low_threshold and account.credit_checked_at
                                      and account.credit_balance < account.credit_low_threshold)

    def _compute_configuration_error(self):
        for account in self:
            problem = account.sudo()._sms_router_client().check_configuration()
            account.configuration_error = render_reason(problem, self.env.lang) or False

    def _compute_breaker(self):
        store = self.env['sms.router.breaker']._store()
        states = store.load_many(self.ids) if self.ids else {}
        for account in self:
            state = states.get(account.id)
            account.breaker_state = state and ('forced' if state.forced_open else state.state) or CLOSED
            account.breaker_failure_count = state.failure_count if state else 0
            account.breaker_opened_at = state and state.opened_at and state.opened_at.replace(tzinfo=None)
            account.breaker_paused_until = state and state.paused_until and state.paused_until.replace(tzinfo=None)
            account.breaker_last_failure = state.last_failure if state else False

    def _compute_governor_state(self):
        now = fields.Datetime.now()
        for account in self:
            governor = account._sms_router_governor() if isinstance(account.id, int) else None
            state = governor.state() if governor else None
            paused = state.paused_until.replace(tzinfo=None) if state and state.paused_until else None
            account.governor_used_today = int(round(state.used_today)) if state else 0
            account.governor_available = 0.0
            if state and governor.settings.rate > 0:
                account.governor_available = governor.settings.capacity if state.tokens is None else state.tokens
            account.governor_paused_until = paused if paused and paused > now else False

    def _compute_attempt_count(self):
        counts = dict(self.env['sms.router.attempt']._read_group(
            [('account_id', 'in', self.ids)], ['account_id'], ['__count']))
        for account in self:
            account.attempt_count = counts.get(account, 0)

    @api.constrains('max_concurrency', 'breaker_cooldown')
    def _check_limits(self):
        for account in self:
            if account.max_concurrency < 1 or account.max_concurrency > 64:
                raise ValidationError(self.env._('Parallel requests must be between 1 and 64.'))
            if account.breaker_cooldown < 1:
                raise ValidationError(self.env._('The cool-down must be at least one second.'))

    # ------------------------------------------------- provider extension points

    def _sms_router_make_client(self):
        """Return a new engine client (outcomes.ProviderClient) for this account.

        Provider addons override this for their ``sms_provider`` value and call super()
        for the others. Called as superuser: credentials are read here only.
        """
        self.ensure_one()
        if self.sms_provider == 'iap':
            return IapClient(self.env)
        raise UserError(self.env._('No client for provider %s: is its addon installed?', self.sms_provider))

    def _sms_router_appended_text(self, region, marketing):
        """The text this account's provider adds to an SMS to ``region``, marketing or not
        (as its client's ``appended_text``), read from the account's fields without building
        a client: the composer counts segments at each keystroke. Provider addons whose client
        appends text override this for their ``sms_provider`` value."""
        return ''

    def _sms_router_measure(self, body, region='', marketing=False):
        """engine.segments.SegmentInfo of ``body`` as this account sends it to ``region``:
        AccountHandle.measure without a client, a breaker nor a side cursor."""
        self.ensure_one()
        return measure_segments(apply_smart_encoding(body, self.smart_encoding or SMART_ENCODING_OFF),
                                self._sms_router_appended_text(region or '', marketing))

    def _sms_router_supports_credit(self):
        """Whether this account's provider reports a credit balance."""
        return False

    def _sms_router_fetch_credit(self, timeout=None):
        """Read the credit from the provider: {'credit_balance': float, 'credit_expiry':
        date or False}. ``timeout`` (seconds) replaces the account's request timeout.

        Provider addons that return True from ``_sms_router_supports_credit`` override this
        for their ``sms_provider`` value. Called as superuser; raise UserError with the
        provider's answer (never a credential) when the credit cannot be read.
        """
        raise UserError(self.env._('This provider does not report a credit balance.'))

    def _sms_router_webhook_paths(self):
        """Paths of the routes the provider must be given for this account:
        {'delivery_report': path or False, 'inbound': path or False}.

        Provider addons override this for their ``sms_provider`` value. Called on saved
        accounts only, possibly on a form's draft of one: use ``self._origin.id``.
        """
        return {}

    def _sms_router_webhook_help(self):
        """Where and how to give the webhook URLs to the provider (text shown with them);
        False when the provider calls no route of this database."""
        return False

    def _sms_router_test_connection(self):
        """Check the credentials against the provider; return a short success message or
        raise UserError with the provider's answer."""
        if self.sms_provider == 'iap':
            account = self.env['iap.account'].get('sms')
            if not account.exists():
                # get() creates a missing account in a transaction of its own and commits
                # it; this transaction's snapshot is older and cannot read that row yet.
                return self.env._('Odoo created the IAP account of this database for SMS. It sends once '
                                  'it has credits: buy them from Odoo IAP before relying on this account.')
            return self.env._('Odoo IAP account: %s', account.display_name)
        raise UserError(self.env._('Test connection is not available for this provider.'))

    def _sms_router_callback_url(self, path):
        """Absolute URL of one of our routes, as providers must call it."""
        self.ensure_one()
        base = self.sudo().public_base_url or self.company_id.get_base_url()
        return url_join(base, path)

    @api.model
    def _sms_router_secret_field_names(self):
        """Names of the credential fields of every provider: stored text fields restricted
        to system administrators, except the URLs."""
        return {name for name, field in self._fields.items()
                if field.type == 'char' and field.store and field.groups == 'base.group_system'
                and name not in NOT_SECRET_FIELDS}

    def _sms_router_secrets(self):
        """The credentials of this account. They must never reach a log line or a message."""
        self.ensure_one()
        account = self.sudo()
        values = []
        for name in self._sms_router_secret_field_names():
            value = account[name]
            if value and len(value) >= MIN_REDACTED_LENGTH:
                values.append(value)
        return values

    def _track_get_fields(self):
        # Credentials are never tracked, even if a provider addon marked one by mistake: a
        # tracking value keeps the old and the new value in clear in mail_tracking_value.
        return set(super()._track_get_fields()) - self._sms_router_secret_field_names()

    def _sms_router_redact(self, text):
        """``text`` with every credential of this account replaced by ***."""
        text = str(text or '')
        for secret in sorted(self._sms_router_secrets(), key=len, reverse=True):
            text = text.replace(secret, '***')
        return text

    # ------------------------------------------------------------ runtime

    def _sms_router_client(self):
        """The engine client of this account, cached per process with its HTTP pool."""
        self.ensure_one()
        if self.sms_provider == 'iap' or not isinstance(self.id, int):
            # IAP is bound to this env; an unsaved record (onchange) has no stable key.
            return self._sms_router_make_client()
        key = (self.env.cr.dbname, self.id, str(self.write_date))
        with _CLIENT_CACHE_LOCK:
            client = _CLIENT_CACHE.get(key)
            if client is None:
                _drop_cached_clients(self.env.cr.dbname, [self.id])
                client = _CLIENT_CACHE[key] = self._sms_router_make_client()
        return client

    def _sms_router_unavailable_reason(self):
        if self.credit_low:
            return self.env._('credit %(left).2f below the threshold %(threshold).2f',
                              left=self.credit_balance, threshold=self.credit_low_threshold)
        return ''

    def _sms_router_governor_settings(self):
        self.ensure_one()
        return GovernorSettings(rate=self.governor_rate or 0.0, daily_cap=self.governor_daily_cap or 0,
                                tz=self.company_id.partner_id.tz or 'UTC')

    def _sms_router_governor(self):
        """The throughput governor of this account (PostgreSQL bucket shared by every
        worker), or None when it has neither a rate limit nor a daily cap."""
        self.ensure_one()
        settings = self._sms_router_governor_settings()
        if not settings.active:
            return None
        return self.env['sms.router.rate.bucket']._sms_router_governor(self.id, settings)

    def _sms_router_handle(self, store, last_resort=False):
        """The dispatcher's view of this account (client, breaker, limits)."""
        self.ensure_one()
        breaker = None
        if not last_resort:
            breaker = AccountBreaker(self.id, store, BreakerSettings(
                fail_max=self.breaker_fail_max, cooldown=self.breaker_cooldown,
                probe_lease=max(60.0, 2 * self.timeout)))
        client = self._sms_router_client()
        return AccountHandle(
            account_id=self.id, name=self.name, client=client,
            breaker=breaker, max_concurrency=self.max_concurrency,
            unavailable_reason=self._sms_router_unavailable_reason(),
            smart_encoding=self.smart_encoding or SMART_ENCODING_OFF,
            timeout=client.max_send_seconds() or self.timeout,
            governor=self._sms_router_governor())

    @api.model
    def _sms_router_iap_last_resort_handle(self):
        """Odoo IAP appended to every chain of a company that asks for it. It has no
        breaker: a last resort that cools down would leave nothing to try."""
        return AccountHandle(account_id='iap-last-resort', name=self.env._('Odoo IAP (last resort)'),
                             client=IapClient(self.env), breaker=None, max_concurrency=1,
                             timeout=IAP_MAX_SEND_SECONDS)

    def _sms_router_apply_updates(self, updates):
        """Write facts learnt while sending (e.g. credit left) without touching write_date
        semantics of the configuration more than needed.

        The account row is shared by every worker sending through the account: written by
        the sending transaction, two concurrent senders would conflict and one of them would
        roll back after its SMS left (and be retried, sending them twice). So the facts go
        in a short transaction of their own, skipped when the row is locked (the next
        answer brings them again), in SQL so that write_date, the key of the cached
        client, does not change.
        """
        if 'credit_balance' not in updates or not self.ids:
            return
        # Read before the update, from what the batch read already (no query).
        was_low = {account.id: account.credit_low for account in self}
        updated = False
        try:
            with self.env.registry.cursor() as cr:
                cr.execute(SQL("""
                    UPDATE sms_router_account
                       SET credit_balance = %s, credit_checked_at = %s, credit_error = NULL
                     WHERE id IN (SELECT id FROM sms_router_account WHERE id IN %s
                                  FOR NO KEY UPDATE SKIP LOCKED)
                """, float(updates['credit_balance']), fields.Datetime.now(), tuple(self.ids)))
                updated = cr.rowcount > 0
        except psycopg2.Error as error:
            _logger.info('SMS router: credit of accounts %s not updated: %s', self.ids, error)
        self.invalidate_recordset(['credit_balance', 'credit_checked_at', 'credit_error', 'credit_low',
                                   'credit_display'])
        if updated:
            # This transaction may not read the side transaction's row yet: the new credit
            # is the one just written.
            self._sms_router_credit_alerts(was_low, balance=float(updates['credit_balance']))

    # ------------------------------------------------------------ credit

    def _sms_router_store_credit(self, credit):
        """Record a credit just read from the provider (see _sms_router_fetch_credit)."""
        self.sudo().write({
            'credit_balance': credit.get('credit_balance') or 0.0,
            'credit_expiry': credit.get('credit_expiry') or False,
            'credit_checked_at': fields.Datetime.now(),
            'credit_error': False,
        })

    def _sms_router_credit_alerts(self, was_low, balance=None):
        """Alert when the credit of these accounts crossed their low-credit threshold since
        ``was_low`` ({account id: credit_low before}); nothing when it did not cross.
        ``balance``: the credit now, when this transaction cannot read it."""
        for account in self:
            left = account.credit_balance if balance is None else balance
            is_low = account.credit_low if balance is None else bool(
                account.credit_low_threshold and left < account.credit_low_threshold)
            if account.id in was_low and bool(was_low[account.id]) != is_low:
                self.env['sms.router.alert']._sms_router_credit_changed(account, is_low, left)

    def _sms_router_refresh_credit_quietly(self, max_age=SETTINGS_CREDIT_MAX_AGE,
                                           timeout=SETTINGS_CREDIT_TIMEOUT):
        """Refresh the credit of these accounts without raising (Settings, scheduled action).

        Accounts whose provider reports no credit, misconfigured accounts and accounts
        whose credit was read less than ``max_age`` seconds ago (0: whatever its age) are
        left alone. ``timeout`` (seconds) replaces the accounts' request timeout (None:
        keep it). A failure is logged and kept in ``credit_error``, next to the last known
        credit, without any credential. Return the accounts whose credit was read.
        """
        now = fields.Datetime.now()
        refreshed = self.browse()
        for account in self.sudo():
            if not account._sms_router_supports_credit() or account.configuration_error:
                continue
            if max_age and account.credit_checked_at \
                    and (now - account.credit_checked_at).total_seconds() < max_age:
                continue
            try:
                credit = account._sms_router_fetch_credit(timeout=timeout)
            except UserError as error:
                credit, message = None, account._sms_router_redact(error.args[0] if error.args else error)
            except Exception as error:  # Settings must open and the job go on, whatever happens
                credit, message = None, self.env._(
                    'Credit refresh failed: %(error)s',
                    error=account._sms_router_redact(f'{type(error).__name__}: {error}'))
            if credit is None:
                _logger.warning('SMS router: credit of account %s (%s) not refreshed: %s',
                                account.id, account.sms_provider, message)
            try:
                # A sender may have just updated the row (credit learnt while sending): then
                # this account is left as it is, and the others are still refreshed.
                with self.env.cr.savepoint():
                    if credit is None:
                        account.credit_error = message
                    else:
                        account._sms_router_store_credit(credit)
                        refreshed |= account
            except psycopg2.Error as error:
                _logger.info('SMS router: credit of account %s not stored: %s', account.id, error)
        return refreshed

    @api.model
    def _sms_router_credit_accounts(self, company):
        """The active accounts of ``company`` whose provider reports a credit."""
        return self.search([('company_id', '=', company.id)]).filtered(
            lambda account: account._sms_router_supports_credit())

    @api.model
    def _cron_sms_router_refresh_credits(self):
        """Refresh the credits older than sms_router.credit_refresh_minutes of every active
        account whose provider reports one (SMS sent meanwhile also update them)."""
        name, default = CREDIT_REFRESH_PARAM
        value = self.env['ir.config_parameter'].sudo().get_param(name)
        try:
            minutes = int(value) if value not in (None, False, '') else default
        except ValueError:
            _logger.warning('SMS router: ignoring non-integer system parameter %s=%r', name, value)
            minutes = default
        if minutes <= 0:
            return
        accounts = self.sudo().search([
            '|', ('credit_checked_at', '=', False),
            ('credit_checked_at', '<', fields.Datetime.now() - timedelta(minutes=minutes)),
        ]).filtered(lambda account: account._sms_router_supports_credit())
        in_cron = bool(self.env.context.get('ir_cron_progress_id'))
        for done, account in enumerate(accounts, 1):
            account._sms_router_refresh_credit_quietly(max_age=minutes * 60, timeout=None)
            # One account per transaction: what was read is kept if a later provider hangs
            # past the job's time limit; the job runs again at once for the rest.
            if in_cron and not self.env['ir.cron']._commit_progress(1, remaining=len(accounts) - done):
                break

    # ------------------------------------------------------------ actions

    def action_reset_breaker(self):
        # Public methods are reachable by RPC with any ids: operators of the account's
        # company only (the breaker lives outside the ORM, nothing else checks).
        self.check_access('read')
        store = self.env['sms.router.breaker']._store()
        for account in self:
            AccountBreaker(account.id, store).reset()
            _logger.info('SMS router: breaker of account %s reset by user %s', account.id, self.env.uid)
            account._sms_router_log(self.env._('Breaker reset by %s: the account takes traffic again.',
                                               self.env.user.name), author=self.env.user.partner_id)
            # Someone reset it: their breaker alert is over, nobody else needs telling.
            self.env['sms.router.alert']._sms_router_breaker_closed(account, user=self.env.user)
        return True

    def action_force_open_breaker(self):
        """Ask why (Force Open dialog); the dialog forces the breakers open."""
        self.check_access('read')
        return {
            'name': self.env._('Force Open the Breaker'),
            'type': 'ir.actions.act_window',
            'res_model': 'sms.router.breaker.force.open',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_account_ids': [(6, 0, self.ids)]},
        }

    def _sms_router_force_open(self, reason):
        """Force the breakers of these accounts open (planned maintenance): no SMS goes
        through them until someone resets them. ``reason`` goes on each account's chatter."""
        self.check_access('read')
        reason = (reason or '').strip()
        if not reason:
            raise UserError(self.env._('Say why the breaker is forced open.'))
        store = self.env['sms.router.breaker']._store()
        for account in self:
            AccountBreaker(account.id, store).force_open()
            _logger.info('SMS router: breaker of account %s forced open by user %s', account.id, self.env.uid)
            account._sms_router_log(self.env._('Breaker forced open by %(user)s: %(reason)s',
                                               user=self.env.user.name, reason=reason),
                                    author=self.env.user.partner_id)
        return True

    # ------------------------------------------------------------ chatter

    def _sms_router_log(self, body, author=None):
        """Log ``body`` (plain text) on the chatter of these accounts, as a note. Operators
        may only read accounts: the log is written as superuser, in the name of ``author``
        (default: OdooBot)."""
        author = author or self.env.ref('base.partner_root')
        for account in self.sudo():
            account._message_log(body=body, author_id=author.id)

    def _sms_router_log_breaker_transitions(self, transitions):
        """Log breaker transitions (engine BreakerTransition) on this account's chatter:
        one note per transition, written by OdooBot."""
        self.ensure_one()
        if not transitions:
            return
        labels = dict(self._fields['breaker_state']._description_selection(self.env))
        reasons = []
        for transition in transitions:
            reason = self._sms_router_redact(render_reason(transition.reason, self.env.lang)) or self.env._(
                'no reason given')
            if transition.after == OPEN and transition.before == HALF_OPEN:
                text = self.env._('Probe failed (%(reason)s): breaker open again. The account is skipped; '
                                  'the next probe tests it in %(seconds)s s.',
                                  reason=reason, seconds=int(transition.cooldown))
            elif transition.after == OPEN:
                text = self.env._('Breaker opened after %(count)s consecutive failures (last: %(reason)s). '
                                  'The account is skipped; a probe tests it in %(seconds)s s.',
                                  count=transition.failure_count, reason=reason,
                                  seconds=int(transition.cooldown))
            elif transition.after == CLOSED and transition.before == HALF_OPEN:
                text = self.env._('Probe succeeded: breaker closed. The account takes traffic again.')
            else:
                text = self.env._('Breaker went from %(before)s to %(after)s.',
                                  before=labels.get(transition.before, transition.before),
                                  after=labels.get(transition.after, transition.after))
            self._sms_router_log(text)
            reasons.append(reason)
        self.env['sms.router.alert']._sms_router_breaker_events(self, transitions, reasons)

    def action_test_connection(self):
        self.ensure_one()
        self.check_access('write')  # uses the credentials as superuser: administrators only
        message = self.sudo()._sms_router_test_connection()
        return self._sms_router_notify(self.env._('Connection OK'), message, 'success')

    def action_refresh_credit(self):
        """Read the credit now; raise the provider's answer to the user when it fails."""
        self.check_access('write')  # uses the credentials as superuser: administrators only
        for account in self.filtered(lambda a: a._sms_router_supports_credit()):
            credit = account.sudo()._sms_router_fetch_credit()
            account._sms_router_store_credit(credit)
        return True

    def action_send_test_sms(self):
        self.ensure_one()
        return {
            'name': self.env._('Send a Test SMS'),
            'type': 'ir.actions.act_window',
            'res_model': 'sms.router.test.sms',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_account_id': self.id},
        }

    def action_view_attempts(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_attempt_action')
        action['domain'] = [('account_id', '=', self.id)]
        action['context'] = {'search_default_group_by_outcome': 0}
        return action

    # ------------------------------------------------------------ delivery quality

    def _compute_quality_ejected_count(self):
        counts = dict(self.env['sms.router.quality']._read_group(
            [('account_id', 'in', self.ids), ('state', '!=', 'ok')], ['account_id'], ['__count']))
        for account in self:
            account.quality_ejected_count = counts.get(account, 0)

    def _sms_router_quality(self, regions):
        """{(account id, region): engine.quality.QualityFigures} of these accounts for the
        destination countries ``regions`` (ISO codes) they have figures for, read in one
        query (sms.router.quality, refreshed every few minutes and after delivery reports)."""
        codes = sorted({code.upper() for code in regions if code})
        if not self or not codes:
            return {}
        rows = self.env['sms.router.quality'].sudo().search_fetch(
            [('account_id', 'in', self.ids), ('country_id.code', 'in', codes)],
            ['account_id', 'country_id', 'state', 'delivery_rate', 'sample', 'delivered_count',
             'undelivered_count', 'sent_count', 'no_report_share', 'median_report_delay', 'latency_p50_ms'])
        return {(row.account_id.id, row.country_id.code): row._sms_router_figures() for row in rows}

    def action_view_quality(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_quality_action')
        action['domain'] = [('account_id', '=', self.id)]
        return action

    @staticmethod
    def _sms_router_notify(title, message, kind):
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {'title': title, 'message': message, 'type': kind, 'sticky': False},
        }

    def _sms_router_routes(self):
        return self.env['sms.router.route'].sudo().search([('step_ids.account_id', 'in', self.ids)])

    def write(self, vals):
        routes = self._sms_router_routes() if 'active' in vals and not vals['active'] else None
        # A credit read (_sms_router_store_credit) or a new threshold may cross it.
        was_low = {account.id: account.credit_low for account in self} \
            if CREDIT_LOW_FIELDS.intersection(vals) else None
        result = super().write(vals)
        if was_low is not None:
            self._sms_router_credit_alerts(was_low)
        # write_date is the cache key, but it does not change twice within one transaction.
        with _CLIENT_CACHE_LOCK:
            _drop_cached_clients(self.env.cr.dbname, self.ids)
        if routes:
            # Archiving the last active account of an active route would leave the route
            # catching its destinations with nothing to send them.
            routes._check_chain()
        return result

    def unlink(self):
        ids = self.ids
        routes = self._sms_router_routes()
        chains = routes._sms_router_chains()
        with _CLIENT_CACHE_LOCK:
            _drop_cached_clients(self.env.cr.dbname, ids)
        result = super().unlink()
        # The database deleted their steps (ondelete cascade): read the chains again.
        routes = routes.exists()
        routes.invalidate_recordset(['step_ids'])
        routes._check_chain()
        routes._sms_router_log_chain_changes(chains)
        self.env['sms.router.breaker'].sudo().search([('account_id', 'in', ids)]).unlink()
        return result

    # ------------------------------------------------------------ prices

    @api.depends('company_id')
    def _compute_price_currency_id(self):
        for account in self:
            if not account.price_currency_id:
                account.price_currency_id = account.company_id.currency_id or self.env.company.currency_id

    def _compute_price_count(self):
        counts = dict(self.env['sms.router.price']._read_group(
            [('account_id', 'in', self.ids)], ['account_id'], ['__count']))
        for account in self:
            account.price_count = counts.get(account, 0)

    def action_view_prices(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_price_action')
        action['domain'] = [('account_id', '=', self.id)]
        action['context'] = {'default_account_id': self.id}
        return action

    def _sms_router_segment_prices(self, regions):
        """{(account id, region): (amount, currency record)} for every account of ``self``
        and every destination country of ``regions`` (ISO 3166 alpha-2; '' or None: unknown
        country), with ``(False, False)`` where the account has no price for it.

        The price list line of the country, else the account's default price. Reads the
        prices of all these accounts at once (a few queries whatever their number): the
        trail, the strategies and the preview call it once per batch, then look up."""
        return {key: (amount, currency) for key, (amount, currency, _source)
                in self._sms_router_price_table(regions).items()}

    def _sms_router_segment_price(self, region):
        """(amount, currency record) one SMS segment costs through this account to
        ``region`` (ISO 3166 alpha-2): its price list line for the country, else its
        default price; ``(False, False)`` when neither is known. For many lookups, call
        ``_sms_router_segment_prices`` once instead."""
        self.ensure_one()
        return self._sms_router_segment_prices([region])[self.id, region]

    def _sms_router_price_table(self, regions):
        """As ``_sms_router_segment_prices``, each value with where the price comes from:
        (amount, currency, 'price_list' / 'default'), or (False, False, False)."""
        regions = set(regions or ())
        codes = sorted(code for code in regions if code)
        accounts = self.sudo()
        lines = {}
        if accounts and codes:
            for line in self.env['sms.router.price'].sudo().search_fetch(
                    [('account_id', 'in', accounts.ids), ('country_id.code', 'in', codes)],
                    ['account_id', 'country_id', 'price']):
                lines[line.account_id.id, line.country_id.code] = line.price
        table = {}
        for account in accounts:
            currency = account.price_currency_id
            # A default of 0 is "unknown", not "free": Odoo stores no empty number.
            default = (account.price_default, currency, 'default') if account.price_default and currency \
                else (False, False, False)
            for region in regions:
                amount = lines.get((account.id, region))
                table[account.id, region] = (amount, currency, 'price_list') \
                    if amount is not None and currency else default
        return table
