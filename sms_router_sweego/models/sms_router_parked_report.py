from odoo import api, models

from odoo.addons.sms_router.models.sms_router_parked_report import BATCH_SIZE


class SmsRouterParkedReport(models.Model):
    _inherit = 'sms.router.parked.report'

    @api.model
    def _sms_router_apply_parked(self, limit=BATCH_SIZE):
        """Also record the prices of Sweego events that arrived before their SMS was
        recorded: such an event parks its delivery report, so this runs when its attempt
        may have appeared."""
        applied = super()._sms_router_apply_parked(limit=limit)
        self.env['sms.router.sweego.event']._sweego_record_pending_prices()
        return applied
