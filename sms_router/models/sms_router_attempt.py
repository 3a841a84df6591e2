import logging
from datetime import timedelta

from odoo import api, fields, models

from ..engine.outcomes import Kind

_logger = logging.getLogger(__name__)

OUTCOMES = [
    (Kind.SENT.value, 'Sent'),
    (Kind.RECIPIENT.value, 'Recipient error'),
    (Kind.OPTED_OUT.value, 'Opted out'),
    (Kind.PROVIDER.value, 'Provider error'),
    (Kind.ACCOUNT.value, 'Account error'),
    (Kind.DESTINATION.value, 'Destination not supported'),
    (Kind.AMBIGUOUS.value, 'No answer (ambiguous)'),
    (Kind.MISCONFIGURED.value, 'Account misconfigured'),
    (Kind.SKIPPED.value, 'Skipped'),
]
DELIVERY_STATES = [('pending', 'Pending'), ('delivered', 'Delivered'), ('undelivered', 'Undelivered')]


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
    sms_provider = fields.Char('Provider', readonly=True)
    number = fields.Char(readonly=True)
    step = fields.Integer(readonly=True, help='Position of this attempt for its SMS (1 = first try).')
    outcome = fields.Selection(OUTCOMES, required=True, readonly=True, index=True)
    accepted = fields.Boolean(readonly=True, help='This account accepted the SMS.')
    final = fields.Boolean(readonly=True, help='The last attempt of its SMS.')
    needs_review = fields.Boolean(readonly=True, index=True,
                                  help='No answer came back and the company policy is "at most once": '
                                       'check with the provider before sending again.')
    reason = fields.Text(readonly=True)
    duration_ms = fields.Integer('Duration (ms)', readonly=True)
    message_id = fields.Char('Provider Message ID', index='btree_not_null', readonly=True)
    batch_id = fields.Char('Provider Batch ID', index='btree_not_null', readonly=True,
                           help="The provider's id for the whole request (transaction, job).")
    dispatch_token = fields.Char(index='btree_not_null', readonly=True,
                                 help='The dispatch that recorded this attempt (see the hand-off journal).')
    delivery_state = fields.Selection(DELIVERY_STATES, readonly=True)
    delivery_reason = fields.Char(readonly=True)
    delivery_date = fields.Datetime(readonly=True)

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
    def _sms_router_apply_report(self, account, message_id, delivered, provider_error=False, reason=False,
                                 sms_uuid=False):
        """Apply a delivery report to the accepted attempt of ``account`` for ``message_id``.

        Returns 'applied', 'mismatch' (the attempt belongs to another SMS than ``sms_uuid``:
        nothing changed) or 'unknown' (no such attempt, yet)."""
        attempt = self._sms_router_find(account, message_id)
        if not attempt:
            return 'unknown'
        if sms_uuid and attempt.sms_uuid != sms_uuid:
            return 'mismatch'
        attempt._sms_router_record_delivery(delivered, provider_error=provider_error, reason=reason)
        return 'applied'

    @api.model
    def _sms_router_receive_report(self, account, message_id, delivered, provider_error=False, reason=False,
                                   sms_uuid=False):
        """Like ``_sms_router_apply_report``, but a report about an attempt not committed yet
        is parked (returns 'parked') and applied later by a scheduled action."""
        outcome = self._sms_router_apply_report(account, message_id, delivered, provider_error, reason, sms_uuid)
        if outcome == 'unknown':
            self.env['sms.router.parked.report'].sudo().create({
                'account_id': account.id, 'message_id': message_id, 'sms_uuid': sms_uuid or False,
                'delivered': delivered, 'provider_error': provider_error or False,
                'reason': (reason or '')[:500] or False,
            })
            return 'parked'
        return outcome

    def _sms_router_record_delivery(self, delivered, provider_error=False, reason=False):
        """Apply a delivery report to the attempt and to Odoo's tracker of its SMS.

        ``provider_error`` is one of sms.tracker's delivery errors (``expired``,
        ``invalid_destination``, ``not_allowed``, ``not_delivered``, ``rejected``).
        A report that repeats the recorded state (a provider's retry, or a replayed
        webhook: Twilio's signature carries no timestamp) changes nothing.
        """
        state = 'delivered' if delivered else 'undelivered'
        for attempt in self.sudo():
            if attempt.delivery_state == state:
                continue
            attempt.write({
                'delivery_state': state,
                'delivery_reason': reason or provider_error or False,
                'delivery_date': fields.Datetime.now(),
            })
            tracker = self.env['sms.tracker'].sudo().search([('sms_uuid', '=', attempt.sms_uuid)])
            if delivered:
                tracker._action_update_from_sms_state('sent')
            elif tracker:
                tracker.with_context(sms_known_failure_reason=reason)._action_update_from_provider_error(
                    provider_error or 'not_delivered')
            self.env['sms.sms'].sudo().search(
                [('uuid', '=', attempt.sms_uuid), ('to_delete', '=', False)]).to_delete = True

    @api.autovacuum
    def _gc_old_attempts(self):
        days = int(self.env['ir.config_parameter'].sudo().get_param('sms_router.attempt_retention_days', 180))
        if days <= 0:
            return
        limit_date = fields.Datetime.now() - timedelta(days=days)
        self.env.cr.execute("DELETE FROM sms_router_attempt WHERE create_date < %s", [limit_date])
        _logger.info('SMS router: removed %d attempts older than %d days', self.env.cr.rowcount, days)
