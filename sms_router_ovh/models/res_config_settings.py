import logging
from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

# Settings read OVH's balance again when the known one is older than this.
SETTINGS_CREDIT_MAX_AGE = timedelta(minutes=10)


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    sms_router_ovh_account_ids = fields.Many2many(
        'sms.router.account', string='OVH Accounts', compute='_compute_sms_router_ovh_account_ids',
        groups='base.group_system')

    def _compute_sms_router_ovh_account_ids(self):
        for settings in self:
            accounts = self.env['sms.router.account'].search([
                ('company_id', '=', settings.company_id.id), ('sms_provider', '=', 'ovh')])
            stale_before = fields.Datetime.now() - SETTINGS_CREDIT_MAX_AGE
            for account in accounts:
                if account.configuration_error or (
                        account.credit_checked_at and account.credit_checked_at > stale_before):
                    continue
                try:
                    account.action_refresh_credit()
                except UserError as error:
                    # Show the last known value; the account form tells what is wrong.
                    _logger.warning('SMS router OVH: credit of account %s not refreshed: %s',
                                    account.id, error)
            settings.sms_router_ovh_account_ids = accounts
