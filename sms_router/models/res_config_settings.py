from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import format_date, format_datetime, formatLang


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    sms_router_iap_last_resort = fields.Boolean(related='company_id.sms_router_iap_last_resort', readonly=False)
    sms_router_timeout_policy = fields.Selection(related='company_id.sms_router_timeout_policy', readonly=False)
    sms_router_max_hold_hours = fields.Float(related='company_id.sms_router_max_hold_hours', readonly=False)
    sms_router_validity_transactional = fields.Integer(
        related='company_id.sms_router_validity_transactional', readonly=False)
    sms_router_validity_marketing = fields.Integer(related='company_id.sms_router_validity_marketing', readonly=False)
    sms_router_alert_activity = fields.Boolean(related='company_id.sms_router_alert_activity', readonly=False)
    sms_router_alert_channel = fields.Boolean(related='company_id.sms_router_alert_channel', readonly=False)
    sms_router_alert_channel_id = fields.Many2one(related='company_id.sms_router_alert_channel_id', readonly=False)
    sms_router_alert_email = fields.Boolean(related='company_id.sms_router_alert_email', readonly=False)
    sms_router_alert_user_ids = fields.Many2many(related='company_id.sms_router_alert_user_ids', readonly=False)
    sms_router_quality_breaker = fields.Boolean(related='company_id.sms_router_quality_breaker', readonly=False)
    sms_router_quality_window_size = fields.Integer(
        related='company_id.sms_router_quality_window_size', readonly=False)
    sms_router_quality_window_hours = fields.Integer(
        related='company_id.sms_router_quality_window_hours', readonly=False)
    sms_router_quality_floor = fields.Float(related='company_id.sms_router_quality_floor', readonly=False)
    sms_router_quality_min_sample = fields.Integer(
        related='company_id.sms_router_quality_min_sample', readonly=False)
    sms_router_quality_cooldown = fields.Integer(related='company_id.sms_router_quality_cooldown', readonly=False)
    sms_router_quality_outliers = fields.Boolean(related='company_id.sms_router_quality_outliers', readonly=False)
    sms_router_quality_max_ejection = fields.Integer(
        related='company_id.sms_router_quality_max_ejection', readonly=False)
    sms_router_company_name = fields.Char(related='company_id.name', string='SMS Router Company')
    sms_router_warning = fields.Char(compute='_compute_sms_router_counts')
    sms_router_account_count = fields.Integer(compute='_compute_sms_router_counts')
    sms_router_route_count = fields.Integer(compute='_compute_sms_router_counts')
    sms_router_credit_account_ids = fields.Many2many(
        'sms.router.account', string='Provider Credits', compute='_compute_sms_router_credit_account_ids',
        groups='base.group_system',
        help="Credit left on this company's accounts whose provider reports one, read when the "
             "settings open, by a scheduled action and after each SMS batch.")
    sms_router_credit_summary = fields.Html(
        'Credit Left', compute='_compute_sms_router_credit_account_ids', sanitize=False,
        groups='base.group_system', help='One line per account whose provider reports a credit.')

    def _compute_sms_router_counts(self):
        for settings in self:
            company = settings.company_id
            settings.sms_router_account_count = self.env['sms.router.account'].search_count(
                [('company_id', '=', company.id)])
            settings.sms_router_route_count = self.env['sms.router.route'].search_count(
                [('company_id', '=', company.id)])
            settings.sms_router_warning = settings.sms_router_route_count and company \
                and company._sms_router_routes_unused_warning() or False

    @api.depends('company_id')
    def _compute_sms_router_credit_account_ids(self):
        for settings in self:
            accounts = self.env['sms.router.account']._sms_router_credit_accounts(settings.company_id)
            settings.sms_router_credit_account_ids = accounts
            settings.sms_router_credit_summary = self._sms_router_credit_lines(accounts)

    @api.model
    def _sms_router_credit_lines(self, accounts):
        """The credits of ``accounts`` as HTML, one sentence per account, e.g. "Sweego
        France (Sweego): 1,234.50 left, expires 12/31/2026. Read 11/26/2026 10:42." with
        what else matters (below the threshold, last refresh failed, not usable)."""
        if not accounts:
            return False
        providers = dict(accounts._fields['sms_provider']._description_selection(self.env))
        lines = []
        for account in accounts:
            if account.credit_checked_at:
                credit = self.env._('%s left', account.credit_display)
                if account.credit_expiry:
                    credit = self.env._('%(credit)s, expires %(date)s', credit=credit,
                                        date=format_date(self.env, account.credit_expiry))
                read = self.env._('Read %s.', format_datetime(self.env, account.credit_checked_at,
                                                               dt_format='short'))
            else:
                credit, read = self.env._('credit unknown'), self.env._('Never read yet.')
            notes = []
            if account.credit_low:
                notes.append((self.env._('Below the threshold of %(threshold)s: skipped until topped up.',
                                         threshold=formatLang(self.env, account.credit_low_threshold, digits=2)),
                              'text-danger'))
            if account.credit_error:
                notes.append((self.env._('Last refresh failed: %s', account.credit_error), 'text-warning'))
            if account.configuration_error:
                notes.append((self.env._('Not usable: %s', account.configuration_error), 'text-muted'))
            line = Markup('<li><strong>%s</strong> (%s): %s. <span class="text-muted">%s</span>') % (
                account.name, providers.get(account.sms_provider, account.sms_provider), credit, read)
            for text, css in notes:
                line += Markup(' <span class="%s">%s</span>') % (css, text)
            lines.append(line + Markup('</li>'))
        return Markup('<ul class="list-unstyled mb-0">%s</ul>') % Markup('').join(lines)

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
