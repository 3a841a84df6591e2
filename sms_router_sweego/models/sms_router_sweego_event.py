import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.sms_router.tools.reason_text import company_lang

_logger = logging.getLogger(__name__)

RETENTION_PARAMETER = 'sms_router_sweego.event_retention_days'
DEFAULT_RETENTION_DAYS = 30

# What each Sweego SMS event does in Odoo.
# Sweego documents no "delivered" event: ``sms_sent`` (the operator took the SMS) is the last
# good news it gives, so it marks the SMS delivered (Odoo's "sent" tracker state). Keeping
# it pending would leave every notification and mailing trace pending forever. It is handed
# to the router as a tentative "delivered": an ``sms_undelivered`` still overrides it,
# whichever comes first.
EVENT_SENT = 'sms_sent'
EVENT_UNDELIVERED = 'sms_undelivered'
EVENT_STOP = 'sms_stop'
DELIVERY_EVENTS = (EVENT_SENT, EVENT_UNDELIVERED)
# Events whose price waits for their SMS to be recorded are tried again this long.
PRICE_PENDING_HOURS = 48
PRICE_BATCH_SIZE = 500


class SmsRouterSweegoEvent(models.Model):
    """One Sweego webhook event, kept so that Sweego's retries are applied only once.

    The unique (account, event id) row is what makes a duplicate harmless across workers:
    the second insert waits for the first transaction and then does nothing. Delivery events
    go through the router's delivery reports (``_sms_router_receive_report``): one whose SMS
    is not recorded yet (Sweego can report before the sending transaction commits) is parked
    there and applied when the attempt is.
    """
    _name = 'sms.router.sweego.event'
    _description = 'Sweego Webhook Event'
    _order = 'id desc'
    _rec_name = 'event_id'

    account_id = fields.Many2one('sms.router.account', required=True, ondelete='cascade',
                                 index=True, readonly=True)
    company_id = fields.Many2one(related='account_id.company_id', store=True, index=True)
    event_id = fields.Char('Event ID', required=True, readonly=True)
    event_type = fields.Char('Event', readonly=True)
    swg_uid = fields.Char('Sweego Message ID', index='btree_not_null', readonly=True)
    transaction_id = fields.Char('Sweego Transaction', readonly=True)
    phone_number = fields.Char(readonly=True)
    status = fields.Char('Sweego Status', readonly=True)
    state = fields.Selection(
        [('applied', 'Applied'), ('parked', 'Parked until its SMS is recorded'), ('ignored', 'Ignored')],
        required=True, default='ignored', readonly=True, index=True)
    note = fields.Char(readonly=True, help='What the event changed, or why it changed nothing.')
    sms_price = fields.Float(
        'SMS Price', digits=(16, 6), readonly=True,
        help="What Sweego says this SMS cost (its event's sms_price, every part), in euros; "
             'recorded as the cost of the attempt. Empty when the event gives none.')
    price_currency = fields.Char(readonly=True)
    nb_segments = fields.Integer('Segments', readonly=True, help="The SMS parts Sweego counted (nb_segments).")
    price_recorded = fields.Boolean(
        readonly=True, index=True,
        help='The price reached the SMS attempt. An event that arrives before its SMS is recorded keeps '
             'its price until then (applied with the parked delivery reports).')

    _event_once_per_account = models.Constraint(
        'unique(account_id, event_id)', 'A Sweego event is recorded once per account.')

    @api.model
    def _sweego_receive(self, account, event, event_id):
        """Record the verified ``event`` (from sweego_webhook.parse_event) and apply it.

        Return the new event record, or an empty recordset when the event was already
        received (a retry or a replay).
        """
        now = fields.Datetime.now()
        self.env.cr.execute(SQL("""
            INSERT INTO sms_router_sweego_event
                   (account_id, company_id, event_id, event_type, swg_uid, transaction_id,
                    phone_number, status, sms_price, price_currency, nb_segments, price_recorded,
                    state, create_uid, write_uid, create_date, write_date)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, FALSE, 'ignored', %s, %s, %s, %s)
            ON CONFLICT (account_id, event_id) DO NOTHING
            RETURNING id
        """, account.id, account.company_id.id, event_id, event['type'], event['swg_uid'],
            event['transaction_id'], event['phone_number'], event['status'],
            event.get('price'), event.get('currency') if event.get('price') is not None else None,
            event.get('segments'), self.env.uid, self.env.uid, now, now))
        row = self.env.cr.fetchone()
        if not row:
            return self.browse()
        record = self.browse(row[0])
        record._sweego_apply()
        return record

    def _sweego_apply(self):
        """Apply events in the order Sweego sent them."""
        for event in self.sorted('id'):
            # The note and the delivery reason are stored: in the company's language.
            lang = company_lang(self.env, event.account_id.company_id)
            state, note = event.with_context(lang=lang)._sweego_apply_one()
            event.write({'state': state, 'note': note})
            event._sweego_record_price()
            _logger.info('Sweego: account %s: event %s (%s, swg_uid %s): %s: %s',
                         event.account_id.id, event.event_id, event.event_type, event.swg_uid,
                         state, note)

    def _sweego_apply_one(self):
        self.ensure_one()
        attempts = self.env['sms.router.attempt']
        status = self.status or self.event_type
        if self.event_type in DELIVERY_EVENTS:
            if not self.swg_uid:
                return 'ignored', self.env._('no Sweego message id in the event')
            delivered = self.event_type == EVENT_SENT
            outcome = attempts._sms_router_receive_report(
                self.account_id, self.swg_uid, delivered,
                provider_error=False if delivered else 'not_delivered',
                reason=self.env._('Sweego: %s', status), tentative=delivered)
            if outcome == 'parked':
                return 'parked', self.env._('no SMS sent through this account has this Sweego id yet: '
                                            'parked, applied when its SMS is recorded')
            if outcome == 'unchanged':
                attempt = attempts._sms_router_find(self.account_id, self.swg_uid)
                if delivered and attempt.delivery_state == 'undelivered':
                    # Reports can arrive out of order: "undelivered" is the final word.
                    return 'ignored', self.env._('already reported undelivered')
                return 'ignored', self.env._('already recorded')
            if delivered:
                return 'applied', self.env._('delivered (accepted by the operator)')
            return 'applied', self.env._('undelivered: %s', status)
        if self.event_type == EVENT_STOP:
            number = self.phone_number
            if not number and self.swg_uid:
                number = attempts._sms_router_find(self.account_id, self.swg_uid).number
            if not number:
                return 'ignored', self.env._('no number in the event, and no SMS sent through this account '
                                             'has its Sweego id')
            message = self.env._('STOP reply received by Sweego (account %(account)s, event %(event)s).',
                                 account=self.account_id.name, event=self.event_id)
            self.env['phone.blacklist'].sudo()._add([number], message=message)
            return 'applied', self.env._('%s added to the blacklist', number)
        return 'ignored', self.env._('event type not used by the router')

    def _sweego_has_price(self):
        # The column is NULL when the event gave no price; the ORM reads it as 0.0.
        self.ensure_one()
        return bool(self.price_currency)

    def _sweego_record_price(self):
        """Record the price of these events on their SMS attempts (``_sms_router_record_price``:
        it replaces a price-list estimate; a repeat of the same price changes nothing). An
        event whose attempt is not recorded yet keeps its price for
        ``_sweego_record_pending_prices``. Returns the events whose price was recorded."""
        attempts = self.env['sms.router.attempt']
        done = self.browse()
        for event in self:
            if event.price_recorded or not event.swg_uid or not event._sweego_has_price():
                continue
            attempt = attempts._sms_router_find(event.account_id, event.swg_uid)
            if not attempt:
                continue
            attempt._sms_router_record_price(price=event.sms_price, currency_code=event.price_currency)
            done |= event
        if done:
            done.write({'price_recorded': True})
        return done

    @api.model
    def _sweego_record_pending_prices(self, limit=PRICE_BATCH_SIZE):
        """Record the prices of recent events that arrived before their SMS was recorded."""
        pending = self.sudo().search([
            ('price_recorded', '=', False), ('price_currency', '!=', False), ('swg_uid', '!=', False),
            ('create_date', '>=', fields.Datetime.now() - timedelta(hours=PRICE_PENDING_HOURS)),
        ], order='id', limit=limit)
        return pending._sweego_record_price()

    @api.autovacuum
    def _gc_sweego_events(self):
        """Forget events older than the retention."""
        days = int(self.env['ir.config_parameter'].sudo().get_param(
            RETENTION_PARAMETER, DEFAULT_RETENTION_DAYS))
        if days <= 0:
            return
        self.env.cr.execute(SQL("DELETE FROM sms_router_sweego_event WHERE create_date < %s",
                                fields.Datetime.now() - timedelta(days=days)))
        _logger.info('Sweego: removed %d webhook events older than %d days',
                     self.env.cr.rowcount, days)
