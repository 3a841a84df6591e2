import logging
import re
from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.sms_router.engine.reasons import join_reasons, reason_of
from odoo.addons.sms_router.tools.params import int_param
from odoo.addons.sms_router.tools.reason_text import render_reason

from ..tools.twilio_client import (
    DEFAULT_BASE_URL,
    MAX_VALIDITY_PERIOD,
    TwilioClient,
    TwilioError,
    check_account_sid,
    check_api_key_sid,
    check_messaging_service_sid,
    is_message_sid,
)

_logger = logging.getLogger(__name__)

STATUS_ROUTE = '/sms_router_twilio/status'
INBOUND_ROUTE = '/sms_router_twilio/inbound'
SMS_UUID_RE = re.compile(r'^[0-9a-f]{32}$')
# What an SMS cost: Twilio gives it on the message resource once the message has left,
# sometimes hours later (up to 24 h, its support says): the scheduled action asks about
# accepted SMS older than the delay, without a price from Twilio yet, younger than the
# maximum age, at most the batch size per run, the least recently asked first.
PRICE_DELAY_PARAM = ('sms_router_twilio.price_pull_delay_minutes', 5)
PRICE_MAX_AGE_PARAM = ('sms_router_twilio.price_pull_max_age_hours', 48)
PRICE_BATCH_PARAM = ('sms_router_twilio.price_pull_batch_size', 200)


class SmsRouterAccount(models.Model):
    _inherit = 'sms.router.account'

    sms_provider = fields.Selection(selection_add=[('twilio', 'Twilio')], ondelete={'twilio': 'cascade'})

    # Credentials: system administrators only, never logged.
    twilio_account_sid = fields.Char(
        'Twilio Account SID', groups='base.group_system', copy=False,
        help="'AC' followed by 32 hexadecimal characters, from the Twilio console.")
    twilio_auth_token = fields.Char(
        groups='base.group_system', copy=False,
        help='Sends SMS unless an API key is set, and always verifies the signature of the '
             'delivery reports and inbound SMS Twilio posts to Odoo.')
    twilio_api_key_sid = fields.Char(
        'Twilio API Key SID', groups='base.group_system', copy=False,
        help="Optional: 'SK' followed by 32 hexadecimal characters. When set with its secret, "
             "requests are authenticated with the key instead of the Auth Token.")
    twilio_api_key_secret = fields.Char('Twilio API Key Secret', groups='base.group_system', copy=False)

    # Sender choice.
    twilio_sender_type = fields.Selection(
        [('numbers', 'From numbers'), ('messaging_service', 'Messaging Service')],
        string='Twilio Sender', default='numbers',
        help='From numbers: the number of the destination country is used, else the default '
             '(the Sender ID when set, else the first number). Messaging Service: Twilio picks '
             'the sender from the service pool.')
    twilio_messaging_service_sid = fields.Char(
        'Messaging Service SID', help="'MG' followed by 32 hexadecimal characters.")
    twilio_number_ids = fields.One2many(
        'sms.router.twilio.number', 'account_id', string='Twilio From Numbers', copy=True)
    twilio_senders = fields.Char(
        compute='_compute_twilio_senders', store=True,
        help='Summary of the From numbers; stored so that editing the numbers refreshes the '
             'cached client of the account.')
    twilio_validity_period = fields.Integer(
        'Validity Period (s)',
        help=f'Twilio drops the SMS if it is still queued after this many seconds '
             f'(1 to {MAX_VALIDITY_PERIOD}). 0: Twilio default.')
    twilio_webhook_warning = fields.Char(compute='_compute_twilio_webhook_warning')

    @api.depends('twilio_number_ids.number', 'twilio_number_ids.country_id', 'twilio_number_ids.sequence')
    def _compute_twilio_senders(self):
        for account in self:
            account.twilio_senders = ', '.join(
                f'{number.number} ({number.country_id.code})' if number.country_id else number.number
                for number in account.twilio_number_ids.sorted(lambda n: (n.sequence, n.id))
            ) or False

    def _compute_twilio_webhook_warning(self):
        for account in self:
            warning = False
            if account.sms_provider == 'twilio' and not account.sudo().twilio_auth_token:
                warning = self.env._('Without the Auth Token, Twilio cannot be asked for delivery reports and '
                                     'inbound SMS (STOP replies) are refused: their signature cannot be checked.')
            account.twilio_webhook_warning = warning

    # ------------------------------------------------------------ constraints

    @api.constrains('sms_provider', 'twilio_account_sid', 'twilio_api_key_sid', 'twilio_api_key_secret',
                    'twilio_messaging_service_sid', 'twilio_sender_type', 'twilio_validity_period')
    def _check_twilio_settings(self):
        for account in self.sudo().filtered(lambda a: a.sms_provider == 'twilio'):
            problems = []
            if account.twilio_account_sid:
                problems.append(check_account_sid(account.twilio_account_sid))
            if account.twilio_api_key_sid:
                problems.append(check_api_key_sid(account.twilio_api_key_sid))
            if account.twilio_messaging_service_sid or account.twilio_sender_type == 'messaging_service':
                problems.append(check_messaging_service_sid(account.twilio_messaging_service_sid))
            if account.twilio_validity_period and not 0 < account.twilio_validity_period <= MAX_VALIDITY_PERIOD:
                problems.append(self.env._('the validity period must be between 1 and %s seconds', MAX_VALIDITY_PERIOD))
            problems = [problem for problem in problems if problem]
            if problems:
                raise ValidationError(self.env._('Twilio account "%(name)s": %(problems)s.', name=account.name,
                                                 problems=render_reason(join_reasons(problems), self.env.lang)))

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._sms_router_twilio_clean(vals) for vals in vals_list])

    def write(self, vals):
        return super().write(self._sms_router_twilio_clean(vals))

    @staticmethod
    def _sms_router_twilio_clean(vals):
        """Strip the identifiers pasted from the console (a stray space is a classic)."""
        cleaned = dict(vals)
        for name in ('twilio_account_sid', 'twilio_auth_token', 'twilio_api_key_sid',
                     'twilio_api_key_secret', 'twilio_messaging_service_sid'):
            if isinstance(cleaned.get(name), str):
                cleaned[name] = cleaned[name].strip() or False
        return cleaned

    # ------------------------------------------------- provider extension points

    def _sms_router_make_client(self):
        self.ensure_one()
        if self.sms_provider != 'twilio':
            return super()._sms_router_make_client()
        account = self.sudo()
        messaging_service = account.twilio_sender_type == 'messaging_service'
        from_numbers = []
        if not messaging_service:
            if account.sender_id:
                # The Sender ID is the default sender; numbers of the destination country win.
                from_numbers.append((account.sender_id, ''))
            from_numbers.extend(
                (number.number, number.country_id.code or '')
                for number in account.twilio_number_ids.sorted(lambda n: (n.sequence, n.id)))
        status_callback = None
        if account.twilio_auth_token:
            # Built now: the client may send from a worker thread, away from the environment.
            status_base = account._sms_router_callback_url(f'{STATUS_ROUTE}/{account.id}/')

            def status_callback(key):
                # Keys of test SMS (wizard) are not SMS uuids: no report is wanted for them.
                return status_base + key if SMS_UUID_RE.match(key or '') else None
        # Empty Odoo fields read as False: hand None to the client, never the text 'False'.
        return TwilioClient(
            account.twilio_account_sid or None,
            auth_token=account.twilio_auth_token or None,
            api_key_sid=account.twilio_api_key_sid or None,
            api_key_secret=account.twilio_api_key_secret or None,
            messaging_service_sid=(account.twilio_messaging_service_sid or None) if messaging_service else None,
            from_numbers=from_numbers,
            status_callback=status_callback,
            validity_period=account.twilio_validity_period or None,
            base_url=account.endpoint_url or DEFAULT_BASE_URL,
            timeout=account.timeout,
            pool_size=account.max_concurrency,
        )

    def _sms_router_webhook_paths(self):
        if self.sms_provider != 'twilio':
            return super()._sms_router_webhook_paths()
        # Delivery reports: each SMS carries its own StatusCallback, built when it is sent
        # (_sms_router_twilio_status_url); shown here as the form of those URLs.
        return {'delivery_report': f'{STATUS_ROUTE}/{self._origin.id}/<sms uuid>',
                'inbound': f'{INBOUND_ROUTE}/{self._origin.id}'}

    def _sms_router_webhook_help(self):
        if self.sms_provider != 'twilio':
            return super()._sms_router_webhook_help()
        return self.env._('Delivery reports need no set-up: each SMS asks Twilio for its own report, at a '
                          'URL of the form shown. Set the inbound SMS URL as the "A message comes in" '
                          'webhook (HTTP POST) of the Twilio numbers or Messaging Service, so that STOP '
                          'and START replies reach Odoo.')

    def _sms_router_test_connection(self):
        if self.sms_provider != 'twilio':
            return super()._sms_router_test_connection()
        client = self._sms_router_client()
        try:
            details = client.fetch_account()
        except TwilioError as error:
            raise UserError(render_reason(reason_of(error), self.env.lang)) from None
        status = details['status'] or self.env._('unknown status')
        message = self.env._('Twilio account %(name)s (%(sid)s): %(status)s', name=details['friendly_name'] or '-',
                             sid=details['sid'], status=status)
        if details['type']:
            message = f"{message}, {details['type']}"
        if details['status'] and details['status'] != 'active':
            raise UserError(self.env._('%s. Only an active account can send SMS.', message))
        problem = client.check_configuration()
        if problem:
            message = self.env._('%(message)s. The credentials work, but the account cannot send yet: %(problem)s',
                                 message=message, problem=render_reason(problem, self.env.lang))
        return message

    # ------------------------------------------------------------ helpers

    def _sms_router_twilio_status_url(self, sms_uuid):
        """The StatusCallback URL given to Twilio for one SMS of this account."""
        self.ensure_one()
        return self._sms_router_callback_url(f'{STATUS_ROUTE}/{self.id}/{sms_uuid}')

    # ------------------------------------------------------------ actions

    def action_twilio_reload_numbers(self):
        """Replace the E.164 From numbers by the SMS-capable numbers of the Twilio account.

        Numbers still on the account keep their sequence and country; alphanumeric senders
        are kept as they are.
        """
        self.ensure_one()
        self.check_access('write')  # the call below uses the credentials as superuser
        if self.sms_provider != 'twilio':
            raise UserError(self.env._('Only Twilio accounts have numbers to reload.'))
        try:
            incoming = self.sudo()._sms_router_client().list_incoming_numbers()
        except TwilioError as error:
            raise UserError(render_reason(reason_of(error), self.env.lang)) from None
        capable = [entry for entry in incoming if entry['sms_capable']]
        existing = {number.number: number for number in self.twilio_number_ids}
        countries = {country.code: country for country in self.env['res.country'].search(
            [('code', 'in', list({entry['country'] for entry in capable if entry['country']}))])}
        commands, added, kept = [], 0, set()
        next_sequence = max(self.twilio_number_ids.mapped('sequence') or [0]) + 1
        for entry in capable:
            number = existing.get(entry['number'])
            country = countries.get(entry['country'])
            if number:
                kept.add(number.id)
                if not number.country_id and country:
                    commands.append((1, number.id, {'country_id': country.id}))
                continue
            commands.append((0, 0, {'number': entry['number'], 'sequence': next_sequence,
                                    'country_id': country.id if country else False}))
            next_sequence += 1
            added += 1
        removed = self.twilio_number_ids.filtered(lambda n: n.id not in kept and n.number.startswith('+'))
        commands.extend((2, number.id) for number in removed)
        if commands:
            self.write({'twilio_number_ids': commands})
        _logger.info('SMS router: Twilio account %s: numbers reloaded by user %s (%d added, %d removed)',
                     self.id, self.env.uid, added, len(removed))
        message = self.env._(
            '%(count)s SMS-capable numbers on the Twilio account: %(added)s added, %(removed)s removed.',
            count=len(capable), added=added, removed=len(removed))
        if len(capable) < len(incoming):
            message += ' ' + self.env._('%s numbers without SMS capability were left out.',
                                        len(incoming) - len(capable))
        return self._sms_router_notify(self.env._('Twilio numbers reloaded'), message, 'success')

    # ------------------------------------------------------------ scheduled jobs

    @api.model
    def _cron_sms_router_twilio_fetch_prices(self):
        self._sms_router_twilio_fetch_prices(
            delay_minutes=int_param(self.env, PRICE_DELAY_PARAM),
            max_age_hours=int_param(self.env, PRICE_MAX_AGE_PARAM),
            limit=int_param(self.env, PRICE_BATCH_PARAM),
        )

    @api.model
    def _sms_router_twilio_fetch_prices(self, delay_minutes=5, max_age_hours=48, limit=200):
        """Ask Twilio what accepted SMS cost (their message resource's ``price``) and record
        it on their attempts (``_sms_router_record_price``: it replaces the price-list
        estimate). Returns the number of attempts priced."""
        now = fields.Datetime.now()
        attempts = self.env['sms.router.attempt'].sudo().search([
            ('sms_provider', '=', 'twilio'),
            ('accepted', '=', True),
            ('message_id', '!=', False),
            ('account_id.sms_provider', '=', 'twilio'),
            ('cost_source', '!=', 'provider'),
            ('create_date', '<=', now - timedelta(minutes=max(0, delay_minutes))),
            ('create_date', '>=', now - timedelta(hours=max_age_hours)),
        ], order='twilio_price_checked_at ASC NULLS FIRST, id', limit=max(0, limit))
        by_account = defaultdict(lambda: self.env['sms.router.attempt'])
        for attempt in attempts:
            by_account[attempt.account_id] |= attempt
        priced = 0
        for account, account_attempts in by_account.items():
            priced += account._sms_router_twilio_fetch_account_prices(account_attempts)
            if self.env.context.get('ir_cron_progress_id'):
                self.env['ir.cron']._commit_progress(len(account_attempts))
        if priced:
            _logger.info('SMS router Twilio: recorded the price of %d SMS', priced)
        return priced

    def _sms_router_twilio_fetch_account_prices(self, attempts):
        self.ensure_one()
        client = self.sudo()._sms_router_client()
        priced = 0
        for attempt in attempts:
            if not is_message_sid(attempt.message_id):
                attempt.twilio_price_checked_at = fields.Datetime.now()
                continue
            try:
                message = client.fetch_message(attempt.message_id)
            except TwilioError as error:
                if error.status == 404:
                    # Unknown to Twilio (deleted, or sent by another account): asked again
                    # after the others until the maximum age.
                    attempt.twilio_price_checked_at = fields.Datetime.now()
                    continue
                _logger.warning('SMS router Twilio: price look-up for account %s stopped: %s',
                                self.id, error)
                break
            attempt.twilio_price_checked_at = fields.Datetime.now()
            if message['price'] is None:
                continue
            if attempt._sms_router_record_price(price=message['price'], currency_code=message['price_currency']):
                priced += 1
        return priced
