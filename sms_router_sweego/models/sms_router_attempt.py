from odoo import api, models


class SmsRouterAttempt(models.Model):
    _inherit = 'sms.router.attempt'

    @api.model_create_multi
    def create(self, vals_list):
        attempts = super().create(vals_list)
        # Sweego may report on an SMS before the transaction that sent it commits: such
        # events wait, and are applied as soon as the attempt they concern is recorded.
        self.env['sms.router.sweego.event']._sweego_apply_waiting(attempts)
        return attempts
