from types import SimpleNamespace

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date, formatLang

from odoo.addons.sms_router.engine.reasons import reason_of
from odoo.addons.sms_router.tools.reason_text import company_lang, render_reason

from ..tools.sweego_client import CAMPAIGN_TYPES, DEFAULT_BASE_URL, STOP_MENTION, SweegoClient, SweegoError

WEBHOOK_PATH = '/sms_router_sweego/webhook/%d'


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
    sweego_stop_mention = fields.Char(
        'STOP Mention', default=STOP_MENTION,
        help='What Sweego adds at the end of marketing SMS to France (STOP and the number to reply to), '
             'on a line of its own. It is not sent by Odoo but billed with the message, so the router '
             'counts it in their segments. Copy it from an SMS Sweego delivered if it differs; empty: '
             'nothing is counted.')
    sweego_shorten_urls = fields.Boolean(
        'Shorten Links',
        help='Let Sweego replace the links of the message with short tracked links. Off: the '
             'message is sent as written.')
    sweego_webhook_secret = fields.Char(
        groups='base.group_system', copy=False,
        help='Secret Sweego shows for the webhook (with or without its "whsec_" prefix). '
             'Events whose signature does not match it are refused.')
    sweego_event_count = fields.Integer(compute='_compute_sweego_event_count')

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

    def _sms_router_appended_text(self, region, marketing):
        if self.sms_provider != 'sweego':
            return super()._sms_router_appended_text(region, marketing)
        # The client's own rule, fed with the two values it reads (as _sweego_client passes
        # them), so that the composer's count and sending cannot disagree; no client (and
        # no HTTP session) is built for a count.
        values = SimpleNamespace(stop_mention=(self.sweego_stop_mention or '').strip(),
                                 campaign_type=self.sweego_campaign_type or CAMPAIGN_TYPES[0])
        return SweegoClient.appended_text(values, region, marketing)

    def _sms_router_supports_credit(self):
        return self.sms_provider == 'sweego' or super()._sms_router_supports_credit()

    def _sms_router_fetch_credit(self, timeout=None):
        if self.sms_provider != 'sweego':
            return super()._sms_router_fetch_credit(timeout=timeout)
        self.ensure_one()
        # The cached client keeps its connection pool; a shorter timeout needs its own client.
        client = self._sweego_client(timeout=timeout) if timeout else self._sms_router_client()
        try:
            credit = client.fetch_credit()
        except SweegoError as error:
            # Kept on the account as its last credit error: in its company's language.
            raise UserError(render_reason(reason_of(error), company_lang(self.env, self.company_id))) from None
        finally:
            if timeout:
                client.close()
        expiry = credit['credit_expiry']
        return {
            'credit_balance': credit['credit_balance'],
            'credit_expiry': fields.Date.to_date(expiry) if expiry else False,
        }

    def _sms_router_webhook_paths(self):
        if self.sms_provider != 'sweego':
            return super()._sms_router_webhook_paths()
        # One webhook carries the delivery events and the STOP replies.
        return {'delivery_report': WEBHOOK_PATH % self._origin.id, 'inbound': False}

    def _sms_router_webhook_help(self):
        if self.sms_provider != 'sweego':
            return super()._sms_router_webhook_help()
        return self.env._('In the Webhooks section of the Sweego dashboard, add an endpoint with the '
                          'delivery report URL and select the SMS events sent, undelivered and stop '
                          '(STOP replies come through it too); then paste the signing secret Sweego '
                          'shows in Sweego Webhook Secret.')

    def _sms_router_test_connection(self):
        if self.sms_provider != 'sweego':
            return super()._sms_router_test_connection()
        credit = self._sms_router_fetch_credit()
        self._sms_router_store_credit(credit)
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
            stop_mention=self.sweego_stop_mention or '',
            base_url=self.endpoint_url or DEFAULT_BASE_URL,
            timeout=timeout or self.timeout,
            pool_size=max(1, self.max_concurrency),
        )

    def _sweego_credit_text(self, balance, expiry):
        text = formatLang(self.env, balance or 0.0, digits=2)
        if expiry:
            text = self.env._('%(credit)s, expiring on %(date)s',
                              credit=text, date=format_date(self.env, expiry))
        return text

    # ------------------------------------------------------------ actions

    def action_sweego_view_events(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id(
            'sms_router_sweego.sms_router_sweego_event_action')
        action['domain'] = [('account_id', '=', self.id)]
        return action
