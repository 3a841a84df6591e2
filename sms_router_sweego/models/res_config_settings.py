from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    sms_router_sweego_account_count = fields.Integer(compute='_compute_sms_router_sweego_credit')
    sms_router_sweego_credit_summary = fields.Text(
        'Sweego Credit', compute='_compute_sms_router_sweego_credit',
        help="Credit left on this company's Sweego accounts, read from Sweego when the settings "
             "open and after each SMS batch.")

    @api.depends('company_id')
    def _compute_sms_router_sweego_credit(self):
        for settings in self:
            accounts = self.env['sms.router.account']._sweego_accounts(settings.company_id)
            settings.sms_router_sweego_account_count = len(accounts)
            settings.sms_router_sweego_credit_summary = accounts._sweego_credit_summary() or False

    @api.model
    def get_values(self):
        # get_values runs when the settings open (in a read/write transaction, unlike the
        # reads that follow): the moment to ask Sweego for fresh credits.
        values = super().get_values()
        if self.env.user.has_group('base.group_system'):
            self.env['sms.router.account']._sweego_accounts(self.env.company)._sweego_refresh_credit_quietly()
        return values

    def action_sms_router_sweego_refresh_credit(self):
        self.ensure_one()
        accounts = self.env['sms.router.account']._sweego_accounts(self.company_id)
        accounts._sweego_refresh_credit_quietly(max_age=0, timeout=None)
        return True
