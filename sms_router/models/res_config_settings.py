from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    sms_router_iap_last_resort = fields.Boolean(related='company_id.sms_router_iap_last_resort', readonly=False)
    sms_router_timeout_policy = fields.Selection(related='company_id.sms_router_timeout_policy', readonly=False)
    sms_router_max_hold_hours = fields.Float(related='company_id.sms_router_max_hold_hours', readonly=False)
    sms_router_account_count = fields.Integer(compute='_compute_sms_router_counts')
    sms_router_route_count = fields.Integer(compute='_compute_sms_router_counts')
    sms_router_credit_account_ids = fields.Many2many(
        'sms.router.account', string='Provider Credits', compute='_compute_sms_router_credit_account_ids',
        groups='base.group_system',
        help="Credit left on this company's accounts whose provider reports one, read when the "
             "settings open, by a scheduled action and after each SMS batch.")

    def _compute_sms_router_counts(self):
        for settings in self:
            company = settings.company_id
            settings.sms_router_account_count = self.env['sms.router.account'].search_count(
                [('company_id', '=', company.id)])
            settings.sms_router_route_count = self.env['sms.router.route'].search_count(
                [('company_id', '=', company.id)])

    @api.depends('company_id')
    def _compute_sms_router_credit_account_ids(self):
        for settings in self:
            settings.sms_router_credit_account_ids = self.env['sms.router.account']._sms_router_credit_accounts(
                settings.company_id)

    @api.model
    def get_values(self):
        # get_values runs when the settings open (in a read/write transaction, unlike the
        # reads that follow): the moment to ask the providers for fresh credits.
        values = super().get_values()
        if self.env.user.has_group('base.group_system'):
            self.env['sms.router.account']._sms_router_credit_accounts(
                self.env.company)._sms_router_refresh_credit_quietly()
        return values

    def action_sms_router_open_accounts(self):
        return self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_account_action')

    def action_sms_router_open_routes(self):
        return self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_route_action')

    def action_sms_router_refresh_credits(self):
        """Read every credit of the company again, whatever its age (Refresh button)."""
        self.ensure_one()
        accounts = self.env['sms.router.account']._sms_router_credit_accounts(self.company_id)
        accounts.check_access('write')  # uses the credentials as superuser: administrators only
        accounts._sms_router_refresh_credit_quietly(max_age=0, timeout=None)
        return True
