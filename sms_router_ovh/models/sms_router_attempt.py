import logging

from odoo import api, fields, models

from odoo.addons.sms_router.engine.routing import international_digits
from odoo.addons.sms_router.tools.reason_text import company_lang

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

    @api.model
    def _sms_router_find_reported(self, account, message_id, sms_uuid=False, sms_provider=False, number=False):
        if account and account.sms_provider == 'ovh' and message_id:
            return self._sms_router_ovh_find(account, message_id, number)
        return super()._sms_router_find_reported(
            account, message_id, sms_uuid=sms_uuid, sms_provider=sms_provider, number=number)

    @api.model
    def _sms_router_ovh_receipt(self, receipt, ptt=None, source='callback'):
        """What an OVH delivery receipt code says: {'delivered', 'provider_error', 'reason'}
        for a final one (delivered or not delivered), None for intermediate or unknown codes."""
        try:
            code = int(receipt)
        except (TypeError, ValueError):
            return None
        if code in DELIVERED_RECEIPTS:
            delivered, provider_error = True, False
        elif code in UNDELIVERED_RECEIPTS:
            delivered, provider_error = False, RECEIPT_ERRORS.get(code, 'not_delivered')
        else:
            return None
        # Stored as the attempt's delivery reason: callers set the company's language.
        if ptt in (None, '', False):
            detail = self.env._('receipt %(code)s', code=code)
        else:
            detail = self.env._('receipt %(code)s, ptt %(ptt)s', code=code, ptt=ptt)
        origin = self.env._('pull') if source == 'pull' else self.env._('callback')
        if delivered:
            reason = self.env._('OVH (%(origin)s): delivered (%(detail)s)', origin=origin, detail=detail)
        elif provider_error == 'rejected':
            reason = self.env._('OVH (%(origin)s): rejected (%(detail)s)', origin=origin, detail=detail)
        else:
            reason = self.env._('OVH (%(origin)s): not delivered (%(detail)s)', origin=origin, detail=detail)
        return {'delivered': delivered, 'provider_error': provider_error, 'reason': reason}

    def _sms_router_ovh_apply_receipt(self, receipt, ptt=None, source='callback'):
        """Record an OVH delivery receipt code on this attempt. Return True when it was final
        (delivered or not delivered), False for intermediate or unknown codes."""
        self.ensure_one()
        lang = company_lang(self.env, self.account_id.company_id or self.company_id)
        report = self.with_context(lang=lang)._sms_router_ovh_receipt(receipt, ptt=ptt, source=source)
        if not report:
            return False
        # The callback and the pull may both report it: a repeat changes nothing.
        self._sms_router_record_delivery(
            report['delivered'], provider_error=report['provider_error'], reason=report['reason'])
        return True
