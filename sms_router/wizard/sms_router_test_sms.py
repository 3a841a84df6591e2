from odoo import fields, models
from odoo.exceptions import UserError

from ..engine.outcomes import OutcomeKind, Recipient, SendRequest
from ..engine.reasons import reason_of
from ..engine.routing import NumberError, parse_destination
from ..tools.reason_text import render_reason


class SmsRouterTestSms(models.TransientModel):
    """Send one SMS through one account only, bypassing routes and breakers."""
    _name = 'sms.router.test.sms'
    _description = 'SMS Router: Send a Test SMS'

    account_id = fields.Many2one('sms.router.account', required=True, readonly=True)
    number = fields.Char(required=True, help='International format, e.g. +33612345678; a national '
                                             "number is read with the account's company country.")
    body = fields.Text(required=True, default=lambda self: self.env._('Test SMS from Odoo'))
    result = fields.Text(readonly=True)

    def action_send(self):
        self.ensure_one()
        self.account_id.check_access('write')  # the account of another company is not ours to use
        account = self.account_id.sudo()
        try:
            destination = parse_destination(self.number, account.company_id.country_id.code)
        except NumberError as error:
            raise UserError(render_reason(reason_of(error), self.env.lang)) from None
        client = account._sms_router_client()
        problem = client.check_configuration()
        if problem:
            raise UserError(self.env._('The account cannot send: %s', render_reason(problem, self.env.lang)))
        key = 'test-' + fields.Datetime.now().strftime('%Y%m%d%H%M%S')
        request = SendRequest(self.body, (Recipient(key, destination.e164, destination.region),))
        outcome = client.send(request).outcomes.get(key)
        if outcome is None or outcome.kind is not OutcomeKind.SENT:
            reason = render_reason(outcome.reason, self.env.lang) if outcome else self.env._(
                'no answer for this number')
            raise UserError(self.env._('The test SMS was not accepted: %s', reason))
        self.result = self.env._('Accepted by %(account)s (message id %(id)s).', account=account.name,
                                 id=outcome.message_id or '-')
        return account._sms_router_notify(self.env._('Test SMS sent'), self.result, 'success')
