import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..engine.outcomes import OutcomeKind
from ..engine.segments import GSM7, UCS2
from ..tools.costs import PRICE_DIGITS, CostBook, Currencies, provider_cost

_logger = logging.getLogger(__name__)

OUTCOMES = [
    (OutcomeKind.SENT.value, 'Sent'),
    (OutcomeKind.RECIPIENT.value, 'Recipient error'),
    (OutcomeKind.OPTED_OUT.value, 'Opted out'),
    (OutcomeKind.PROVIDER.value, 'Provider error'),
    (OutcomeKind.ACCOUNT.value, 'Account error'),
    (OutcomeKind.DESTINATION.value, 'Destination not supported'),
    (OutcomeKind.AMBIGUOUS.value, 'No answer (ambiguous)'),
    (OutcomeKind.MISCONFIGURED.value, 'Account misconfigured'),
    (OutcomeKind.SKIPPED.value, 'Skipped'),
    (OutcomeKind.EXPIRED.value, 'Expired'),
    (OutcomeKind.WAITING.value, 'Waiting'),
]
ENCODINGS = [(GSM7, 'GSM-7'), (UCS2, 'UCS-2')]
DELIVERY_STATES = [('pending', 'Pending'), ('delivered', 'Delivered'), ('undelivered', 'Undelivered')]
COST_SOURCES = [('provider', 'Provider'), ('price_list', 'Price list'), ('default', 'Default price')]


class SmsRouterAttempt(models.Model):
    """One try of one SMS on one account: the trail operations read during an outage.

    Keyed by the SMS uuid rather than a foreign key, so it outlives the garbage collection
    of sent ``sms.sms`` rows, like Odoo's ``sms.tracker``.
    """
    _name = 'sms.router.attempt'
    _description = 'SMS Router Attempt'
    _order = 'id desc'
    _rec_name = 'sms_uuid'

    sms_uuid = fields.Char('SMS UUID', required=True, index=True, readonly=True)
    sms_id = fields.Many2one('sms.sms', compute='_compute_sms_id', string='SMS')
    company_id = fields.Many2one('res.company', index=True, readonly=True)
    account_id = fields.Many2one('sms.router.account', index=True, ondelete='set null', readonly=True)
    account_name = fields.Char(readonly=True, help='Kept when the account is deleted.')
    # The provider's name as the accounts show it ("Sweego"), whatever the provider addons
    # installed; a value no addon declares any more shows as stored.
    sms_provider = fields.Selection('_selection_sms_provider', string='Provider', readonly=True)
    number = fields.Char(readonly=True)
    step = fields.Integer(readonly=True, help='Position of this attempt for its SMS (1 = first try).')
    outcome = fields.Selection(OUTCOMES, required=True, readonly=True, index=True)
    accepted = fields.Boolean(readonly=True, help='This account accepted the SMS.')
    final = fields.Boolean(readonly=True, help='The last attempt of its SMS.')
    needs_review = fields.Boolean(readonly=True, index=True,
                                  help='No answer came back and the company policy is "at most once": '
                                       'check with the provider before sending again.')
    reason = fields.Text(readonly=True)
    # On the first attempt of each run of the chain only (a held SMS tried again later runs it
    # again): the failover after it follows the strategy's order, which the note already gives.
    strategy_note = fields.Text(
        'Strategy', readonly=True,
        help="Why the route's strategy had this SMS try this account first (least cost, best delivery, "
             'weighted split), as the route tester explains it. Empty when the route keeps the chain\'s order '
             'and on the failover attempts after the first.')
    duration_ms = fields.Integer('Duration (ms)', readonly=True)
    # Of the body as this account sends it: its smart encoding applied, the text its provider
    # appends counted (engine/segments.py). Empty for a line without an account and for a line
    # that made no request (skipped, misconfigured, expired): nothing was billed for it, so the
    # sum of segments in a pivot is what the providers were sent (sms_api.NO_REQUEST_KINDS).
    encoding = fields.Selection(
        ENCODINGS, readonly=True,
        help='GSM-7: up to 160 characters per SMS (153 per part of a longer one). UCS-2 (Unicode), '
             'as soon as one character is outside the GSM-7 alphabet: 70 (67 per part).')
    segments = fields.Integer(
        readonly=True, aggregator='sum',
        help='SMS parts this body makes for this account (its smart encoding applied, the text its '
             'provider appends counted): providers bill and throttle per part. Empty when no request '
             'was made (skipped, misconfigured, expired), so that totals show what providers billed.')
    message_id = fields.Char('Provider Message ID', index='btree_not_null', readonly=True)
    batch_id = fields.Char('Provider Batch ID', index='btree_not_null', readonly=True,
                           help="The provider's id for the whole request (transaction, job).")
    dispatch_token = fields.Char(index='btree_not_null', readonly=True,
                                 help='The dispatch that recorded this attempt (see the hand-off journal).')
    delivery_state = fields.Selection(DELIVERY_STATES, readonly=True)
    delivery_reason = fields.Char(readonly=True)
    delivery_date = fields.Datetime(readonly=True)
    # The cost ledger (tools/costs.py): what each accepted attempt cost, and where from.
    cost = fields.Float(
        digits=PRICE_DIGITS, readonly=True, aggregator='sum',
        help='What this SMS cost through this account, in the cost currency: the price the provider '
             "gave (its answer or a later report), else the account's price for the destination country "
             'times the segments, else its default price times the segments. Empty when nothing is known, '
             'and for attempts the provider did not accept.')
    cost_currency_id = fields.Many2one('res.currency', readonly=True)
    cost_source = fields.Selection(
        COST_SOURCES, readonly=True,
        help='Provider: the price the provider gave (or the credits it took, times the credit value '
             "of the account). Price list: the account's price for the destination country times the "
             "segments. Default price: the account's default price times the segments. Empty: no "
             'price is known.')
    cost_date = fields.Datetime(
        'Cost Recorded', readonly=True,
        help='When the cost was recorded: at the send, or when the provider reported its price later.')

    @api.model
    def _selection_sms_provider(self):
        return self.env['sms.router.account']._fields['sms_provider']._description_selection(self.env)

    def _compute_sms_id(self):
        sms_by_uuid = {sms.uuid: sms for sms in self.env['sms.sms'].sudo().search(
            [('uuid', 'in', list(set(self.mapped('sms_uuid'))))])}
        for attempt in self:
            attempt.sms_id = sms_by_uuid.get(attempt.sms_uuid, False)

    @api.model
    def _sms_router_find(self, account, message_id):
        """The accepted attempt of ``account`` for the provider's ``message_id``."""
        return self.sudo().search([
            ('account_id', '=', account.id), ('message_id', '=', message_id), ('accepted', '=', True),
        ], limit=1)

    @api.model
    def _sms_router_find_reported(self, account, message_id, sms_uuid=False, sms_provider=False, number=False):
        """The accepted attempt a delivery report is about.

        Provider reports name the provider's message id; Odoo IAP's name only the SMS uuid
        (then ``sms_provider`` is ``'iap'`` and ``account`` may be empty: the last resort
        has no account). Provider addons whose reports need more to find their attempt
        (``number``: the recipient the report names) override this.
        """
        if message_id:
            return self._sms_router_find(account, message_id) if account else self.browse()
        if not (sms_uuid and sms_provider):
            return self.browse()
        domain = [('sms_uuid', '=', sms_uuid), ('sms_provider', '=', sms_provider), ('accepted', '=', True)]
        if account:
            domain.append(('account_id', '=', account.id))
        return self.sudo().search(domain, limit=1)

    @api.model
    def _sms_router_apply_report(self, account, message_id, delivered, provider_error=False, reason=False,
                                 sms_uuid=False, number=False, sms_provider=False, tentative=False,
                                 opt_out=False):
        """Apply a delivery report to the accepted attempt it is about (see
        ``_sms_router_find_reported`` and ``_sms_router_record_delivery`` for the arguments).

        Returns 'applied', 'unchanged' (the report adds nothing to what is recorded: a
        retry, a replay, a tentative "delivered" after a failure), 'mismatch' (the attempt
        of ``message_id`` belongs to another SMS than ``sms_uuid``: nothing changed) or
        'unknown' (no such attempt, yet)."""
        attempt = self._sms_router_find_reported(
            account, message_id, sms_uuid=sms_uuid, sms_provider=sms_provider, number=number)
        if not attempt:
            return 'unknown'
        if sms_uuid and attempt.sms_uuid != sms_uuid:
            return 'mismatch'
        changed = attempt._sms_router_record_delivery(
            delivered, provider_error=provider_error, reason=reason, tentative=tentative, opt_out=opt_out)
        return 'applied' if changed else 'unchanged'

    @api.model
    def _sms_router_receive_report(self, account, message_id, delivered, provider_error=False, reason=False,
                                   sms_uuid=False, number=False, sms_provider=False, tentative=False,
                                   opt_out=False):
        """The entry point of every delivery report: apply it now, or park it.

        Providers answer a send within seconds while the sending transaction commits at the
        end of its batch: a report that finds no attempt yet is parked (returns 'parked')
        and applied by a scheduled action, triggered at once, when the attempt is visible.
        Otherwise returns what ``_sms_router_apply_report`` does.
        """
        outcome = self._sms_router_apply_report(
            account, message_id, delivered, provider_error=provider_error, reason=reason, sms_uuid=sms_uuid,
            number=number, sms_provider=sms_provider, tentative=tentative, opt_out=opt_out)
        if outcome != 'unknown':
            return outcome
        self.env['sms.router.parked.report']._sms_router_park({
            'account_id': account.id if account else False,
            'message_id': message_id or False,
            'sms_uuid': sms_uuid or False,
            'sms_provider': sms_provider or (account.sms_provider if account else False),
            'number': number or False,
            'delivered': delivered,
            'provider_error': provider_error or False,
            'reason': (reason or '')[:500] or False,
            'tentative': tentative,
            'opt_out': opt_out,
        })
        return 'parked'

    @api.model
    def _sms_router_receive_iap_reports(self, uuids, iap_status):
        """Apply the delivery reports Odoo IAP posts to ``/sms/status`` to the trail.

        Odoo's controller updates the SMS trackers itself; this records the delivery on
        the accepted IAP attempt of each SMS (an IAP account of a chain or the last
        resort). Intermediate states change nothing. Returns {uuid: outcome}.
        """
        state = self.env['sms.sms'].IAP_TO_SMS_STATE_SUCCESS.get(iap_status)
        if state and state != 'sent':
            return {}
        delivered = state == 'sent'
        provider_error = False if delivered else iap_status
        reason = self.env._('Odoo IAP: %s', iap_status)
        attempts = self.sudo().search([
            ('sms_uuid', 'in', list(uuids)), ('sms_provider', '=', 'iap'), ('accepted', '=', True)])
        outcomes = {}
        for attempt in attempts:
            changed = attempt._sms_router_record_delivery(delivered, provider_error=provider_error, reason=reason)
            outcomes[attempt.sms_uuid] = 'applied' if changed else 'unchanged'
        missing = set(uuids) - set(outcomes)
        if missing:
            # /sms/status is public and unsigned, and IAP also reports on SMS the router
            # never sent: only an SMS still queued as seen from here (its sending
            # transaction has not committed yet) may get an attempt later, so only its
            # report is parked.
            in_flight = self.env['sms.sms'].sudo().search(
                [('uuid', 'in', list(missing)), ('state', '=', 'outgoing')])
            for uuid in in_flight.mapped('uuid'):
                outcomes[uuid] = self._sms_router_receive_report(
                    self.env['sms.router.account'], False, delivered, provider_error=provider_error,
                    reason=reason, sms_uuid=uuid, sms_provider='iap')
        return outcomes

    def _sms_router_record_delivery(self, delivered, provider_error=False, reason=False, tentative=False,
                                    opt_out=False):
        """Apply a delivery report to the attempts and to Odoo's tracker of their SMS.

        ``provider_error`` is one of sms.tracker's delivery errors (``expired``,
        ``invalid_destination``, ``not_allowed``, ``not_delivered``, ``rejected``).
        A report that repeats the recorded state (a provider's retry, or a replayed
        webhook: Twilio's signature carries no timestamp) changes nothing.
        ``tentative``: the "delivered" is only the provider's last good news (the operator
        took the SMS), not a receipt: it never overrides a recorded failure, whatever the
        order in which the reports arrive.
        ``opt_out``: the recipient has opted out (e.g. Twilio's 21610): the number is
        blacklisted when the report is first recorded only, so that a replay of it cannot
        undo a later opt-in.
        Returns the attempts that changed.
        """
        state = 'delivered' if delivered else 'undelivered'
        changed = self.browse()
        for attempt in self.sudo():
            if attempt.delivery_state == state:
                continue
            if delivered and tentative and attempt.delivery_state == 'undelivered':
                continue
            attempt.write({
                'delivery_state': state,
                'delivery_reason': reason or provider_error or False,
                'delivery_date': fields.Datetime.now(),
            })
            changed |= attempt
            tracker = self.env['sms.tracker'].sudo().search([('sms_uuid', '=', attempt.sms_uuid)])
            if delivered:
                tracker._action_update_from_sms_state('sent')
            elif tracker:
                tracker.with_context(sms_known_failure_reason=reason)._action_update_from_provider_error(
                    provider_error or 'not_delivered')
            self.env['sms.sms'].sudo().search(
                [('uuid', '=', attempt.sms_uuid), ('to_delete', '=', False)]).to_delete = True
            if opt_out and not delivered and attempt.number:
                self.env['phone.blacklist'].sudo()._add([attempt.number], message=self.env._(
                    'Opted out at %(account)s (reported in a delivery report).',
                    account=attempt.account_name or attempt.sms_provider))
        if changed.filtered('account_id'):
            # The delivery quality of their accounts is refreshed soon (sms.router.quality).
            self.env['sms.router.quality']._sms_router_reports_arrived()
        return changed

    @api.model
    def _sms_router_cost_book(self, accounts, regions):
        """The CostBook of one batch sent through ``accounts`` (records) to ``regions``."""
        return CostBook(self.env, accounts, regions)

    def _sms_router_record_price(self, price=None, currency_code=None, credits=None, reported_at=None):
        """Record the price a provider reported after the send (a webhook's price, a
        message resource fetched later) on these attempts.

        ``price`` in ``currency_code`` (ISO 4217), or ``credits`` converted with the
        account's credit value. The rule: a provider price replaces an estimate (price
        list, default price) or an empty cost; it replaces a price the provider gave
        before only when reported later than that one was recorded (``reported_at``,
        naive UTC, default now), so that a report replayed or arriving out of order never
        undoes a newer one. The same value changes nothing. A price in a currency this
        database does not know, or credits without a credit value, are ignored.
        Returns the attempts that changed."""
        when = reported_at or fields.Datetime.now()
        currencies = Currencies(self.env)
        changed = self.browse()
        for attempt in self.sudo():
            amount, currency = provider_cost(attempt.account_id, price, currency_code, credits, currencies)
            if currency is None:
                continue
            if attempt.cost_source == 'provider':
                if currency == attempt.cost_currency_id and round(amount - attempt.cost, PRICE_DIGITS[1]) == 0:
                    continue
                if attempt.cost_date and when <= attempt.cost_date:
                    continue
            attempt.write({
                'cost': amount, 'cost_currency_id': currency.id, 'cost_source': 'provider', 'cost_date': when,
            })
            changed |= attempt
        return changed

    @api.autovacuum
    def _gc_old_attempts(self):
        days = int(self.env['ir.config_parameter'].sudo().get_param('sms_router.attempt_retention_days', 180))
        if days <= 0:
            return
        limit_date = fields.Datetime.now() - timedelta(days=days)
        self.env.cr.execute(SQL("DELETE FROM sms_router_attempt WHERE create_date < %s", limit_date))
        _logger.info('SMS router: removed %d attempts older than %d days', self.env.cr.rowcount, days)
