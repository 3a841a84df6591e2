import logging

from odoo import api, fields, models

from odoo.addons.sms_router.engine.routing import international_digits

from ..tools.ovh_client import DELIVERED_RECEIPTS, UNDELIVERED_RECEIPTS

_logger = logging.getLogger(__name__)

# sms.tracker delivery error of each OVH "not delivered" receipt code (dlr). The codes are
# those of OVH's delivery callbacks (1 delivered, 2 not delivered, 16 refused by the
# operator); 4 (buffered) and 8 (handed to the operator) are intermediate.
RECEIPT_ERRORS = {2: 'not_delivered', 16: 'rejected'}


class SmsRouterAttempt(models.Model):
    _inherit = 'sms.router.attempt'

    ovh_checked_at = fields.Datetime(
        'OVH State Checked', readonly=True,
        help='Last time the scheduled pull asked OVH about this SMS.')

    @api.model
    def _sms_router_ovh_find(self, account, message_id, receiver=None):
        """The accepted attempt of ``account`` for OVH's SMS id ``message_id``.

        When OVH's answer did not let us give each number its own id, the attempt only
        knows the job's ids (``batch_id``); then the receiver's number picks the attempt.
        """
        message_id = str(message_id)
        attempt = self._sms_router_find(account, message_id)
        if attempt or not receiver:
            return attempt
        digits = international_digits(receiver)
        candidates = self.sudo().search([
            ('account_id', '=', account.id), ('accepted', '=', True), ('message_id', '=', False),
            ('batch_id', 'like', message_id),
        ], order='id desc', limit=100)
        return candidates.filtered(
            lambda a: message_id in a.batch_id.split(',') and international_digits(a.number) == digits)[:1]

    def _sms_router_ovh_apply_receipt(self, receipt, ptt=None, source='callback'):
        """Record an OVH delivery receipt code on this attempt. Return True when it was final
        (delivered or not delivered), False for intermediate or unknown codes."""
        self.ensure_one()
        try:
            code = int(receipt)
        except (TypeError, ValueError):
            return False
        if code in DELIVERED_RECEIPTS:
            delivered, provider_error = True, False
        elif code in UNDELIVERED_RECEIPTS:
            delivered, provider_error = False, RECEIPT_ERRORS.get(code, 'not_delivered')
        else:
            return False
        state = 'delivered' if delivered else 'undelivered'
        if self.delivery_state == state:
            return True     # the callback and the pull may both report it
        detail = f'receipt {code}' + (f', ptt {ptt}' if ptt not in (None, '', False) else '')
        reason = f'OVH ({source}): delivered ({detail})' if delivered else \
            f'OVH ({source}): {provider_error.replace("_", " ")} ({detail})'
        self._sms_router_record_delivery(delivered, provider_error=provider_error, reason=reason)
        return True
