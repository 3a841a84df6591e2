from odoo import api, models

from ..engine.routing import international_digits
from ..tools.reason_text import render_reason
from .sms_router_account_http_api import HTTP_API


class SmsRouterAttempt(models.Model):
    _inherit = 'sms.router.attempt'  # pylint: disable=consider-merging-classes-inherited

    @api.model
    def _sms_router_find_reported(self, account, message_id, sms_uuid=False, sms_provider=False, number=False):
        attempt = super()._sms_router_find_reported(
            account, message_id, sms_uuid=sms_uuid, sms_provider=sms_provider, number=number)
        if attempt or not (account and account.sms_provider == HTTP_API and message_id):
            return attempt
        # A configuration may send the SMS uuid as the provider's reference (client ref,
        # callback data) and read it back from the reports.
        attempt = self.sudo().search([('account_id', '=', account.id), ('sms_uuid', '=', message_id),
                                      ('accepted', '=', True)], limit=1)
        if attempt or not number:
            return attempt
        # An answer that gave only the request's id (batch_id): the report's number picks the
        # attempt among those of that request (every one of them: a request may carry many).
        # Two SMS of one request may go to the same number: each report then takes the
        # oldest of them still waiting for its report, so that each gets one; a report when
        # none waits any more (a replay) goes to the last one, where it changes nothing.
        digits = international_digits(number)
        candidates = self.sudo().search([
            ('account_id', '=', account.id), ('accepted', '=', True), ('batch_id', '=', message_id),
        ], order='id').filtered(lambda a: international_digits(a.number) == digits)
        waiting = candidates.filtered(lambda a: a.delivery_state == 'pending')
        return waiting[:1] or candidates[-1:]

    @api.model
    def _http_api_report_reason(self, report):
        """The delivery reason of an HTTP API report (engine Report), in the context's language."""
        state = self.env._('delivered') if report.delivered else self.env._('not delivered')
        detail = render_reason(report.reason, self.env.lang) or report.status or ''
        if detail:
            return self.env._('HTTP API report: %(state)s (%(detail)s)', state=state, detail=detail)
        return self.env._('HTTP API report: %s', state)
