from datetime import timedelta

from odoo import api, fields, models


class SmsRouterParkedReport(models.Model):
    _inherit = 'sms.router.parked.report'

    @api.model
    def _sms_router_apply_parked(self):
        # Sweego events that beat the commit of their attempts wait in their own model (they
        # carry STOP replies too): the router's frequent pass applies the recent ones.
        super()._sms_router_apply_parked()
        waiting = self.env['sms.router.sweego.event'].sudo().search([
            ('state', '=', 'waiting'),
            ('create_date', '>=', fields.Datetime.now() - timedelta(hours=48)),
        ], limit=2000)
        if waiting:
            waiting._sweego_apply()
