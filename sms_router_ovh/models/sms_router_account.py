import logging
import secrets
from collections import defaultdict
from datetime import timedelta

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.sms_router.engine.reasons import reason_of
from odoo.addons.sms_router.tools.params import int_param
from odoo.addons.sms_router.tools.reason_text import company_lang, render_reason

from ..tools.ovh_client import ENDPOINTS, OvhClient, OvhError

_logger = logging.getLogger(__name__)

OVH_REGIONS = [
    ('ovh-eu', 'Europe (eu.api.ovh.com)'),
    ('ovh-ca', 'Canada (ca.api.ovh.com)'),
    ('ovh-us', 'United States (api.us.ovhcloud.com)'),
]
CALLBACK_ROUTE = '/sms_router_ovh/callback'

# Scheduled pull of delivery states (ir.config_parameter name, default).
PULL_DELAY_PARAM = ('sms_router_ovh.pull_delay_minutes', 15)
PULL_MAX_AGE_PARAM = ('sms_router_ovh.pull_max_age_hours', 48)
PULL_BATCH_PARAM = ('sms_router_ovh.pull_batch_size', 200)


class SmsRouterAccount(models.Model):
    _inherit = 'sms.router.account'

    sms_provider = fields.Selection(selection_add=[('ovh', 'OVHcloud')],
                                    ondelete={'ovh': 'cascade'})
    ovh_region = fields.Selection(OVH_REGIONS, string='OVH API Region', default='ovh-eu', tracking=True,
                                  help='OVHcloud API your application keys were created on.')
    ovh_application_key = fields.Char('OVH Application Key', groups='base.group_system', copy=False)
    ovh_application_secret = fields.Char('OVH Application Secret', groups='base.group_system',
                                         copy=False)
    ovh_consumer_key = fields.Char(
        'OVH Consumer Key', groups='base.group_system', copy=False,
        help='Consumer key validated for at least GET /sms, GET /sms/*, POST /sms/*/jobs.')
    ovh_service_name = fields.Char(
        'OVH SMS Service', copy=False,
        help='Name of the OVH SMS account that sends and pays, e.g. sms-ab12345-1.')
    ovh_sender_for_response = fields.Boolean(
        'Use a Short Number for Replies',
        help='Send from one of OVH\'s short numbers so that recipients can reply, instead of the '
             'Sender ID (which must be registered and validated at OVH).')
    ovh_no_stop_clause = fields.Boolean(
        'Non-commercial: no STOP Clause',
        help='Transactional traffic only (reminders, codes, notifications): OVH does not append '
             'its "STOP" opt-out clause. Marketing SMS always keep it.')
    ovh_validity_period = fields.Integer(
        'Validity Period (min)',
        help='Minutes during which the network keeps trying to deliver the SMS. '
             '0 keeps OVH\'s default.')
    ovh_tag = fields.Char(
        'OVH Tag', help='Tag recorded by OVH on every SMS, to filter them in the OVH manager.')
    ovh_callback_token = fields.Char(
        'OVH Callback Token', groups='base.group_system', copy=False, readonly=True,
        help='Secret part of the delivery-report URL: OVH does not sign its callbacks.')

    _positive_ovh_validity = models.Constraint(
        'CHECK(ovh_validity_period IS NULL OR ovh_validity_period >= 0)',
        'The OVH validity period cannot be negative.')

    # ------------------------------------------------------------ computes

    @api.depends('ovh_callback_token')
    def _compute_webhook_urls(self):
        # The delivery report URL holds the token: a new token is a new URL.
        return super()._compute_webhook_urls()

    # ------------------------------------------------------------ CRUD

    @api.model_create_multi
    def create(self, vals_list):
        accounts = super().create(vals_list)
        accounts._sms_router_ovh_ensure_callback_token()
        return accounts

    def write(self, vals):
        result = super().write(vals)
        if vals.get('sms_provider') == 'ovh':
            self._sms_router_ovh_ensure_callback_token()
        return result

    def _sms_router_ovh_ensure_callback_token(self):
        for account in self.sudo().filtered(lambda a: a.sms_provider == 'ovh'):
            if account.ovh_callback_token:
                continue
            account.ovh_callback_token = secrets.token_urlsafe(32)

    # ------------------------------------------------- provider extension points

    def _sms_router_make_client(self):
        if self.sms_provider != 'ovh':
            return super()._sms_router_make_client()
        return self._sms_router_ovh_client()

    def _sms_router_ovh_client(self, timeout=None):
        """A new OvhClient built from this account (credentials are read here only);
        ``timeout`` replaces the account's request timeout."""
        self.ensure_one()
        account = self.sudo()
        region = account.ovh_region or 'ovh-eu'
        return OvhClient(
            region=region,
            application_key=account.ovh_application_key,
            application_secret=account.ovh_application_secret,
            consumer_key=account.ovh_consumer_key,
            service_name=account.ovh_service_name,
            sender=account.sender_id,
            sender_for_response=account.ovh_sender_for_response,
            no_stop_clause=account.ovh_no_stop_clause,
            validity_period=account.ovh_validity_period or None,
            tag=account.ovh_tag or None,
            base_url=account.endpoint_url or ENDPOINTS.get(region),
            timeout=timeout or account.timeout,
            pool_size=account.max_concurrency,
        )

    def _sms_router_supports_credit(self):
        return self.sms_provider == 'ovh' or super()._sms_router_supports_credit()

    def _sms_router_fetch_credit(self, timeout=None):
        if self.sms_provider != 'ovh':
            return super()._sms_router_fetch_credit(timeout=timeout)
        client = self._sms_router_ovh_client(timeout=timeout)
        try:
            credit = client.fetch_credit()
        except OvhError as error:
            # Kept on the account as its last credit error: in its company's language.
            raise UserError(render_reason(reason_of(error), company_lang(self.env, self.company_id))) from None
        finally:
            client.close()
        return {'credit_balance': credit['credit_balance'], 'credit_expiry': False}

    def _sms_router_webhook_paths(self):
        if self.sms_provider != 'ovh':
            return super()._sms_router_webhook_paths()
        token = self.sudo().ovh_callback_token
        return {'delivery_report': token and f'{CALLBACK_ROUTE}/{self._origin.id}/{token}', 'inbound': False}

    def _sms_router_webhook_help(self):
        if self.sms_provider != 'ovh':
            return super()._sms_router_webhook_help()
        text = self.env._('Paste the delivery report URL in the OVH manager: SMS account, Options, General '
                          'options, status-change callback URL. It holds a secret token (OVH does not sign '
                          'its callbacks): Regenerate Callback Token if it leaks. SMS still pending after a '
                          'while are also asked about by a scheduled action.')
        if self._origin.id and not self.sudo().ovh_callback_token:
            text += ' ' + self.env._('This account has no callback token: regenerate it to get the URL.')
        return text

    def _sms_router_test_connection(self):
        if self.sms_provider != 'ovh':
            return super()._sms_router_test_connection()
        self.ensure_one()
        client = self._sms_router_make_client()
        try:
            if not self.ovh_service_name:
                services = client.list_services()
                return self.env._('OVH accepted the credentials. SMS services they can use: %s. Fill in the '
                                  'SMS service name to send.', ', '.join(services) or self.env._('none'))
            credit = client.fetch_credit()
        except OvhError as error:
            raise UserError(self.env._('OVH refused the test: %s',
                                       render_reason(reason_of(error), self.env.lang))) from None
        finally:
            client.close()
        self._sms_router_store_credit({'credit_balance': credit['credit_balance'], 'credit_expiry': False})
        message = self.env._('OVH accepted the credentials: service %(service)s has %(credits)s credits '
                             'left.', service=self.ovh_service_name, credits=credit['credit_balance'])
        problem = client.check_configuration()
        if problem:
            message += ' ' + self.env._('Still to do before sending: %s.', render_reason(problem, self.env.lang))
        return message

    def _sms_router_apply_updates(self, updates):
        super()._sms_router_apply_updates(updates)
        removed = updates.get('credits_removed')
        if not removed or 'credit_balance' in updates:
            return
        ovh = self.filtered(lambda a: a.sms_provider == 'ovh')
        if not ovh:
            return
        # OVH answers with what a job cost, not with the balance: subtract it from the last
        # known balance (an unknown balance stays unknown until the next refresh). Like the
        # core's credit updates, in a short transaction of its own and skipped when another
        # worker holds the row: the sending transaction must never wait for or conflict
        # with another sender on the account row (a rollback after the SMS left would send
        # them twice). In SQL, so that write_date, the key of the cached client, is kept.
        ovh.flush_recordset(['credit_balance', 'credit_checked_at'])
        try:
            with self.env.registry.cursor() as cr:
                cr.execute(SQL("""
                    UPDATE sms_router_account SET credit_balance = credit_balance - %s
                     WHERE id IN (SELECT id FROM sms_router_account
                                   WHERE id IN %s AND credit_checked_at IS NOT NULL
                                     FOR NO KEY UPDATE SKIP LOCKED)
                """, float(removed), tuple(ovh.ids)))
        except psycopg2.Error as error:
            _logger.info('SMS router OVH: credit of accounts %s not decremented: %s',
                         ovh.ids, error)
        ovh.invalidate_recordset(['credit_balance', 'credit_low'])

    # ------------------------------------------------------------ actions

    def action_ovh_list_services(self):
        """Show the SMS services the credentials can use; fill the name when there is one."""
        self.ensure_one()
        # Public method, reachable by RPC with any id: the call is signed with the account's
        # keys as superuser, so only those who may edit the account may make it.
        self.check_access('write')
        client = self.sudo()._sms_router_make_client()
        try:
            services = client.list_services()
        except OvhError as error:
            raise UserError(self.env._('OVH refused to list the SMS services: %s',
                                       render_reason(reason_of(error), self.env.lang))) from None
        finally:
            client.close()
        if not services:
            raise UserError(self.env._('These credentials see no OVH SMS service. Check the consumer key '
                                       'rights (GET /sms) or order an SMS account.'))
        if len(services) == 1 and self.ovh_service_name != services[0]:
            self.ovh_service_name = services[0]
            action = self._sms_router_notify(
                self.env._('OVH SMS service'), self.env._('One SMS service found and selected: %s', services[0]),
                'success')
            action['params']['next'] = {'type': 'ir.actions.client', 'tag': 'soft_reload'}
            return action
        return self._sms_router_notify(
            self.env._('OVH SMS services'),
            self.env._('SMS services of these credentials: %s', ', '.join(services)), 'info')

    def action_ovh_regenerate_callback_token(self):
        for account in self:
            # Written as the current user: the field is restricted to system administrators.
            account.ovh_callback_token = secrets.token_urlsafe(32)
            _logger.info('SMS router OVH: callback token of account %s regenerated by user %s',
                         account.id, self.env.uid)
        return True

    # ------------------------------------------------------------ scheduled jobs

    @api.model
    def _cron_sms_router_ovh_pull_deliveries(self):
        """Pull the state of SMS still pending (credits are refreshed by the router's own
        scheduled action)."""
        self._sms_router_ovh_pull_deliveries(
            delay_minutes=int_param(self.env, PULL_DELAY_PARAM),
            max_age_hours=int_param(self.env, PULL_MAX_AGE_PARAM),
            limit=int_param(self.env, PULL_BATCH_PARAM),
        )

    @api.model
    def _sms_router_ovh_pull_deliveries(self, delay_minutes=15, max_age_hours=48, limit=200):
        """Ask OVH for the state of accepted SMS still pending after ``delay_minutes`` (and
        younger than ``max_age_hours``), at most ``limit`` per run, least recently asked first.
        Return the number of SMS asked about."""
        now = fields.Datetime.now()
        attempts = self.env['sms.router.attempt'].sudo().search([
            ('sms_provider', '=', 'ovh'),
            ('accepted', '=', True),
            ('delivery_state', '=', 'pending'),
            ('message_id', '!=', False),
            ('account_id.sms_provider', '=', 'ovh'),
            ('create_date', '<=', now - timedelta(minutes=max(0, delay_minutes))),
            ('create_date', '>=', now - timedelta(hours=max_age_hours)),
        ], order='ovh_checked_at ASC NULLS FIRST, id', limit=max(0, limit))
        by_account = defaultdict(lambda: self.env['sms.router.attempt'])
        for attempt in attempts:
            by_account[attempt.account_id] |= attempt
        asked = 0
        for account, account_attempts in by_account.items():
            asked += account._sms_router_ovh_pull_account(account_attempts)
            self._sms_router_ovh_commit(len(account_attempts))
        if asked:
            _logger.info('SMS router OVH: asked OVH about %d pending SMS', asked)
        return asked

    def _sms_router_ovh_pull_account(self, attempts):
        self.ensure_one()
        client = self.sudo()._sms_router_client()
        asked = 0
        for attempt in attempts:
            try:
                outgoing = client.fetch_outgoing(attempt.message_id)
            except OvhError as error:
                if error.status == 404:
                    # Not an outgoing SMS yet (still a queued job) or purged: ask again later.
                    attempt.ovh_checked_at = fields.Datetime.now()
                    continue
                _logger.warning('SMS router OVH: delivery pull for account %s stopped: %s',
                                self.id, error)
                break
            asked += 1
            attempt.ovh_checked_at = fields.Datetime.now()
            attempt._sms_router_ovh_apply_receipt(
                outgoing.get('deliveryReceipt'), ptt=outgoing.get('ptt'), source='pull')
            credits = outgoing.get('credits')
            if isinstance(credits, (int, float)) and not isinstance(credits, bool) and credits >= 0:
                # This SMS's own credits (OVH's sms.Outgoing), exact where the send gave it
                # its share of the job's totalCreditsRemoved.
                attempt._sms_router_record_price(credits=credits)
        return asked

    def _sms_router_ovh_commit(self, processed=0):
        """Commit between accounts when running as a scheduled action (never in tests)."""
        if self.env.context.get('ir_cron_progress_id'):
            self.env['ir.cron']._commit_progress(processed)
