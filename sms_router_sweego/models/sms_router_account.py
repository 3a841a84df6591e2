import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date, format_datetime, formatLang

from ..tools.sweego_client import CAMPAIGN_TYPES, DEFAULT_BASE_URL, SweegoClient, SweegoError

_logger = logging.getLogger(__name__)

WEBHOOK_PATH = '/sms_router_sweego/webhook/%d'
# Settings refresh the credit when they open; reopening them within this many seconds
# shows the value just read instead of calling Sweego again.
SETTINGS_REFRESH_MIN_AGE = 60
# Opening Settings must not hang on a slow Sweego: its credit call gets a shorter timeout.
SETTINGS_REFRESH_TIMEOUT = 5.0


class SmsRouterAccount(models.Model):
    _inherit = 'sms.router.account'

    sms_provider = fields.Selection(selection_add=[('sweego', 'Sweego')],
                                    ondelete={'sweego': 'cascade'})
    sweego_api_key = fields.Char(
        'Sweego API Key', groups='base.group_system', copy=False,
        help='Key of the API section of the Sweego dashboard, sent in the Api-Key header.')
    sweego_client_uuid = fields.Char(
        'Sweego Client UUID', groups='base.group_system', copy=False,
        help='UUID of the Sweego client (account) that owns the key; the credit is read with it.')
    sweego_campaign_type = fields.Selection(
        [(CAMPAIGN_TYPES[0], 'Transactional'), (CAMPAIGN_TYPES[1], 'Marketing')],
        string='Default Campaign Type', default=CAMPAIGN_TYPES[0],
        help='Sweego campaign type of the SMS this account sends. Mass SMS (mailings) always go '
             'as Marketing, whatever this says.')
    sweego_shorten_urls = fields.Boolean(
        'Shorten Links',
        help='Let Sweego replace the links of the message with short tracked links. Off: the '
             'message is sent as written.')
    sweego_webhook_secret = fields.Char(
        groups='base.group_system', copy=False,
        help='Secret Sweego shows for the webhook (with or without its "whsec_" prefix). '
             'Events whose signature does not match it are refused.')
    sweego_webhook_url = fields.Char(
        'Sweego Webhook URL', compute='_compute_sweego_webhook_url',
        help='Paste this URL in the Webhooks section of the Sweego dashboard and select the SMS '
             'events (sent, undelivered, stop).')
    sweego_credit_error = fields.Char(
        'Last Credit Refresh Error', readonly=True, copy=False,
        help='Why the last automatic refresh of the credit failed; empty once a refresh succeeds.')
    sweego_event_count = fields.Integer(compute='_compute_sweego_event_count')

    def _compute_sweego_webhook_url(self):
        for account in self:
            if account.sms_provider == 'sweego' and isinstance(account.id, int):
                account.sweego_webhook_url = account._sms_router_callback_url(
                    WEBHOOK_PATH % account.id)
            else:
                account.sweego_webhook_url = False

    def _compute_sweego_event_count(self):
        saved_ids = [account_id for account_id in self.ids if isinstance(account_id, int)]
        counts = dict(self.env['sms.router.sweego.event']._read_group(
            [('account_id', 'in', saved_ids)], ['account_id'], ['__count']))
        for account in self:
            account.sweego_event_count = counts.get(account, 0)

    # ------------------------------------------------------------ router hooks

    def _sms_router_make_client(self):
        self.ensure_one()
        if self.sms_provider != 'sweego':
            return super()._sms_router_make_client()
        return self._sweego_client()

    def _sms_router_supports_credit(self):
        return self.sms_provider == 'sweego' or super()._sms_router_supports_credit()

    def _sms_router_fetch_credit(self):
        if self.sms_provider != 'sweego':
            return super()._sms_router_fetch_credit()
        return self._sweego_fetch_credit()

    def _sms_router_test_connection(self):
        if self.sms_provider != 'sweego':
            return super()._sms_router_test_connection()
        credit = self._sweego_fetch_credit()
        self._sweego_store_credit(credit)
        message = self.env._('Sweego accepted the API key and the client UUID. Credit left: %s.',
                             self._sweego_credit_text(credit['credit_balance'], credit['credit_expiry']))
        if not self.sweego_webhook_secret:
            message += ' ' + self.env._('No webhook secret is set: delivery reports and STOP replies are '
                                        'refused until you paste it from the Sweego dashboard.')
        return message

    # ------------------------------------------------------------ Sweego

    def _sweego_client(self, timeout=None):
        """A new SweegoClient built from this account (credentials are read here only)."""
        self.ensure_one()
        return SweegoClient(
            self.sweego_api_key,
            self.sweego_client_uuid,
            sender_id=self.sender_id,
            campaign_type=self.sweego_campaign_type or CAMPAIGN_TYPES[0],
            shorten_urls=self.sweego_shorten_urls,
            base_url=self.endpoint_url or DEFAULT_BASE_URL,
            timeout=timeout or self.timeout,
            pool_size=max(1, self.max_concurrency),
        )

    def _sweego_fetch_credit(self, timeout=None):
        """{'credit_balance', 'credit_expiry'} read from Sweego; UserError with its message."""
        self.ensure_one()
        # The cached client keeps its connection pool; a shorter timeout needs its own client.
        client = self._sweego_client(timeout=timeout) if timeout else self._sms_router_client()
        try:
            credit = client.fetch_credit()
        except SweegoError as error:
            _logger.warning('Sweego: account %s: %s', self.id, error)
            raise UserError(str(error)) from None
        finally:
            if timeout:
                client.close()
        expiry = credit['credit_expiry']
        return {
            'credit_balance': credit['credit_balance'],
            'credit_expiry': fields.Date.to_date(expiry) if expiry else False,
        }

    def _sweego_store_credit(self, credit):
        self.sudo().write({
            'credit_balance': credit.get('credit_balance') or 0.0,
            'credit_expiry': credit.get('credit_expiry') or False,
            'credit_checked_at': fields.Datetime.now(),
            'sweego_credit_error': False,
        })

    def _sweego_refresh_credit_quietly(self, max_age=SETTINGS_REFRESH_MIN_AGE,
                                       timeout=SETTINGS_REFRESH_TIMEOUT):
        """Refresh the credit of these Sweego accounts without raising (for Settings).

        Accounts checked less than ``max_age`` seconds ago and incomplete accounts are left
        alone; a failure is logged and kept in ``sweego_credit_error`` next to the last known
        value.
        """
        now = fields.Datetime.now()
        for account in self.sudo().filtered(lambda a: a.sms_provider == 'sweego'):
            if account.configuration_error:
                continue
            if max_age and account.credit_checked_at \
                    and (now - account.credit_checked_at).total_seconds() < max_age:
                continue
            try:
                credit = account._sweego_fetch_credit(timeout=timeout)
            except UserError as error:
                account.sweego_credit_error = error.args[0]
                continue
            except Exception as error:  # Settings must open whatever happens on the way
                _logger.warning('Sweego: account %s: credit refresh failed: %s', account.id, error)
                account.sweego_credit_error = self.env._('Credit refresh failed: %s', error)
                continue
            account._sweego_store_credit(credit)

    def _sweego_credit_text(self, balance, expiry):
        text = formatLang(self.env, balance or 0.0, digits=2)
        if expiry:
            text = self.env._('%(credit)s, expiring on %(date)s',
                              credit=text, date=format_date(self.env, expiry))
        return text

    def _sweego_credit_summary(self):
        """One line per account: credit, expiry, age, and whatever keeps it from sending."""
        lines = []
        for account in self:
            if not account.credit_checked_at:
                line = self.env._('%(name)s: credit not read yet', name=account.name)
            else:
                credit = account._sweego_credit_text(account.credit_balance, account.credit_expiry)
                when = format_datetime(self.env, account.credit_checked_at, dt_format='short')
                line = self.env._('%(name)s: %(credit)s (checked %(when)s)',
                                  name=account.name, credit=credit, when=when)
            if account.credit_low:
                line += ' — ' + self.env._('below the threshold %s: skipped until topped up',
                                           formatLang(self.env, account.credit_low_threshold, digits=2))
            if account.sweego_credit_error:
                line += ' — ' + self.env._('last refresh failed: %s', account.sweego_credit_error)
            if account.configuration_error:
                line += ' — ' + self.env._('not usable: %s', account.configuration_error)
            lines.append(line)
        return '\n'.join(lines)

    # ------------------------------------------------------------ actions

    def action_refresh_credit(self):
        result = super().action_refresh_credit()
        self.filtered(lambda a: a.sms_provider == 'sweego' and a.sweego_credit_error).sudo().write(
            {'sweego_credit_error': False})
        return result

    def action_sweego_view_events(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id(
            'sms_router_sweego.sms_router_sweego_event_action')
        action['domain'] = [('account_id', '=', self.id)]
        return action

    @api.model
    def _sweego_accounts(self, company):
        return self.sudo().search([('company_id', '=', company.id),
                                   ('sms_provider', '=', 'sweego')])
