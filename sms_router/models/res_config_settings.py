from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    sms_router_iap_last_resort = fields.Boolean(related='company_id.sms_router_iap_last_resort', readonly=False)
    sms_router_timeout_policy = fields.Selection(related='company_id.sms_router_timeout_policy', readonly=False)
    sms_router_max_hold_hours = fields.Float(related='company_id.sms_router_max_hold_hours', readonly=False)
    sms_router_account_count = fields.Integer(compute='_compute_sms_router_counts')
    sms_router_route_count = fields.Integer(compute='_compute_sms_router_counts')

    def _compute_sms_router_counts(self):
        for settings in self:
            company = settings.company_id
            settings.sms_router_account_count = self.env['sms.router.account'].search_count(
                [('company_id', '=', company.id)])
            settings.sms_router_route_count = self.env['sms.router.route'].search_count(
                [('company_id', '=', company.id)])

    def action_sms_router_open_accounts(self):
        return self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_account_action')

    def action_sms_router_open_routes(self):
        return self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_route_action')
