from odoo import fields, models


class SmsRouterBreakerForceOpen(models.TransientModel):
    """Force Open asks why: the reason goes on each account's chatter, with who did it."""
    _name = 'sms.router.breaker.force.open'
    _description = 'SMS Router: Force a Breaker Open'

    account_ids = fields.Many2many('sms.router.account', string='Accounts', required=True, readonly=True)
    reason = fields.Text(required=True, help='Why no SMS may go through these accounts, e.g. '
                                             "\"Provider maintenance announced for 22:00-23:00\".")

    def action_confirm(self):
        self.ensure_one()
        self.account_ids._sms_router_force_open(self.reason)
        return {'type': 'ir.actions.act_window_close'}
