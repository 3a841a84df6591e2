from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..engine.dispatcher import AT_LEAST_ONCE, AT_MOST_ONCE
from ..engine.quality import QualitySettings
from ..engine.routing import TRAFFIC_MARKETING

# Validity of an SMS, in minutes (0: none). Two minutes at least: providers that take a
# validity in whole minutes (OVH) need one left when the SMS reaches them. 48 hours at
# most: the longest an operator keeps an SMS for a phone that is off.
MIN_VALIDITY_MINUTES = 2
MAX_VALIDITY_MINUTES = 2880


class ResCompany(models.Model):
    _inherit = 'res.company'

    sms_router_route_ids = fields.One2many('sms.router.route', 'company_id', string='SMS Routes')
    sms_router_account_ids = fields.One2many('sms.router.account', 'company_id', string='SMS Provider Accounts')
    sms_router_iap_last_resort = fields.Boolean(
        'Odoo IAP as Last Resort', default=True,
        help='When every account of a chain failed, try Odoo IAP before giving up.')
    sms_router_timeout_policy = fields.Selection(
        [(AT_LEAST_ONCE, 'At least once (fail over)'), (AT_MOST_ONCE, 'At most once (stop and review)')],
        string='After an Ambiguous Timeout', default=AT_LEAST_ONCE, required=True,
        help='A provider that received the request but did not answer may still send the SMS. '
             '"At least once" fails over (the SMS may arrive twice); "at most once" stops and '
             'flags the SMS for review.')

    sms_router_max_hold_hours = fields.Float(
        'Hold SMS During Outages (hours)', default=4.0,
        help='When every account of a chain fails on the providers\' side (breakers open, '
             'provider errors, misconfiguration, no credit), the SMS waits in the queue and is '
             'sent automatically once a provider may take traffic again. After this many hours '
             'it ends in error with the full trail. 0 ends it in error at once.')

    # Validity: an SMS not accepted by a provider within it ends Expired, never sent late.
    sms_router_validity_transactional = fields.Integer(
        'Validity of Transactional SMS (minutes)', default=0,
        help='An SMS that no provider accepted within this many minutes after it was queued '
             'ends as Expired and is never sent late (after an outage, a send window or a '
             'restart); providers that take a validity period get the time left. '
             f'{MIN_VALIDITY_MINUTES} to {MAX_VALIDITY_MINUTES} minutes; 0: no validity.')
    sms_router_validity_marketing = fields.Integer(
        'Validity of Marketing SMS (minutes)', default=0,
        help='The same for marketing SMS (mass SMS). '
             f'{MIN_VALIDITY_MINUTES} to {MAX_VALIDITY_MINUTES} minutes; 0: no validity.')

    # Alerts (sms.router.alert): how the router operators of this company hear of them.
    sms_router_alert_activity = fields.Boolean(
        'Alerts as To-Dos', default=True,
        help='Each new alert gives every alert recipient a To-Do activity on it; acknowledging '
             'the alert marks them done.')
    sms_router_alert_channel = fields.Boolean(
        'Alerts in a Discuss Channel',
        help='Each new alert or breaker closed again is posted in the Discuss channel below.')
    sms_router_alert_channel_id = fields.Many2one(
        'discuss.channel', 'Alert Channel', domain=[('channel_type', '=', 'channel')],
        ondelete='set null', help='Discuss channel where the alerts are posted.')
    sms_router_alert_email = fields.Boolean(
        'Alerts by Email',
        help="Each new alert or breaker closed again is emailed to the alert recipients, through "
             "Odoo's outgoing mail queue.")
    sms_router_alert_user_ids = fields.Many2many(
        'res.users', 'sms_router_alert_recipient_rel', 'company_id', 'user_id', string='Alert Recipients',
        domain=[('share', '=', False)],
        help='Who gets the To-Dos and emails of alerts. Empty: every SMS Router operator allowed '
             'in this company. Only users who are operators of this company are kept.')

    _sms_router_max_hold_positive = models.Constraint(
        'CHECK(sms_router_max_hold_hours >= 0)', 'The hold time during outages cannot be negative.')

    @api.constrains('sms_router_validity_transactional', 'sms_router_validity_marketing')
    def _check_sms_router_validity(self):
        labels = {
            'sms_router_validity_transactional': self.env._('The validity of transactional SMS'),
            'sms_router_validity_marketing': self.env._('The validity of marketing SMS'),
        }
        for company in self:
            for name, label in labels.items():
                minutes = company[name]
                if minutes and not MIN_VALIDITY_MINUTES <= minutes <= MAX_VALIDITY_MINUTES:
                    raise ValidationError(self.env._(
                        '%(what)s must be between %(minimum)s and %(maximum)s minutes (48 hours), or 0 '
                        'for no validity; %(company)s has %(minutes)s.', what=label,
                        minimum=MIN_VALIDITY_MINUTES, maximum=MAX_VALIDITY_MINUTES,
                        company=company.name, minutes=minutes))

    def _sms_router_validity_minutes(self, traffic):
        """The validity of this company's SMS of ``traffic``, in minutes (0: none)."""
        self.ensure_one()
        if traffic == TRAFFIC_MARKETING:
            return self.sms_router_validity_marketing
        return self.sms_router_validity_transactional

    def _sms_router_is_enabled(self):
        """The router handles this company's SMS once it has an active route, unless the
        company is set to *Send via Twilio* in Odoo's own SMS settings (``sms_twilio``)."""
        self.ensure_one()
        return self._sms_router_has_routes() and not self._sms_router_uses_odoo_twilio()

    def _sms_router_has_routes(self):
        self.ensure_one()
        return self.id in self.env['sms.router.route']._sms_router_routed_company_ids()

    def _sms_router_uses_odoo_twilio(self):
        """Whether the company is set to *Send via Twilio* in Odoo's SMS settings.

        That is an explicit choice of Odoo's own Twilio integration, made in Odoo's settings:
        it wins over the routes, which are then not used (and say so, see
        _sms_router_routes_unused_warning). Otherwise which addon sends would depend on the
        order Odoo happens to load sms_twilio and this module in, and sms_twilio would
        skip the router's bookkeeping of the SMS it did not send.
        """
        self.ensure_one()
        return 'sms_provider' in self._fields and self.sudo().sms_provider == 'twilio'

    def _sms_router_routes_unused_warning(self):
        """Why this company's routes would not send its SMS, or False when they would."""
        self.ensure_one()
        if self._sms_router_uses_odoo_twilio():
            return self.env._(
                '%(company)s is set to "Send via Twilio" in Settings > SMS: Odoo\'s own Twilio '
                'integration sends its SMS and its routes are not used. Choose "Send via Odoo" '
                'there to send through the routes (a Twilio account of the router in a chain '
                'keeps Twilio as a provider).', company=self.name)
        return False

    def _sms_router_alert_recipients(self):
        """The users told of this company's alerts: the chosen ones, else every SMS Router
        operator allowed in the company; always active internal operators of it, who can
        open the alert."""
        self.ensure_one()
        group = self.env.ref('sms_router.group_sms_router_operator')
        operators = self.env['res.users'].sudo().search([
            ('all_group_ids', 'in', group.id), ('company_ids', 'in', self.id), ('share', '=', False)])
        chosen = self.sudo().sms_router_alert_user_ids
        return operators & chosen if chosen else operators

    # Delivery quality (sms.router.quality, engine/quality.py): permissive defaults, a floor
    # of 50 % and outliers off; see QualitySettings.
    sms_router_quality_breaker = fields.Boolean(
        'Delivery Quality Breaker', default=True,
        help='Skip an account for a destination country while its delivery reports show it does not '
             'deliver there (below the floor, or an outlier against the other accounts of its routes): '
             'the next account of the chain sends, and probe SMS test the account after a cool-down. '
             'Never every account of a chain: with all of them degraded, SMS go by order.')
    sms_router_quality_window_size = fields.Integer(
        'Quality Window (reported SMS)', default=50,
        help='Delivery quality counts the last this many SMS with a delivery report, per account and '
             'destination country. 0: no limit.')
    sms_router_quality_window_hours = fields.Integer(
        'Quality Window (hours)', default=24,
        help='Delivery quality counts the SMS sent in the last this many hours. 0: no limit (30 days).')
    sms_router_quality_floor = fields.Float(
        'Delivery Rate Floor (%)', default=50.0,
        help='An account delivering less than this share of its reported SMS to a country is skipped for '
             'that country. 0: never.')
    sms_router_quality_min_sample = fields.Integer(
        'Minimum Reported SMS', default=20,
        help='An account is judged for a country once it has this many reported SMS in the window.')
    sms_router_quality_cooldown = fields.Integer(
        'Quality Cool-Down (minutes)', default=30,
        help='How long an ejected account is skipped for the country before probe SMS test it; '
             'multiplied by the number of consecutive ejections (at most 8 times).')
    sms_router_quality_outliers = fields.Boolean(
        'Eject Outliers', default=False,
        help="Also skip an account whose delivery rate to a country is far below that of the other "
             "accounts of its routes (their mean less 1.9 standard deviations, and at least 10 points, "
             "with 3 accounts judged or more), as Envoy's outlier detection does.")
    sms_router_quality_max_ejection = fields.Integer(
        'Maximum Ejected Share (%)', default=50,
        help='At most this share of the accounts of a chain is skipped for delivery quality (at least '
             'one when another account remains), the worst first.')

    @api.constrains('sms_router_quality_floor', 'sms_router_quality_max_ejection', 'sms_router_quality_window_size',
                    'sms_router_quality_window_hours', 'sms_router_quality_min_sample', 'sms_router_quality_cooldown')
    def _check_sms_router_quality(self):
        for company in self:
            shares = (company.sms_router_quality_floor, company.sms_router_quality_max_ejection)
            if not all(0 <= share <= 100 for share in shares):
                raise ValidationError(self.env._('Delivery quality shares are percentages, from 0 to 100.'))
            if min(company.sms_router_quality_window_size, company.sms_router_quality_window_hours,
                   company.sms_router_quality_min_sample, company.sms_router_quality_cooldown) < 0:
                raise ValidationError(self.env._(
                    'Delivery quality windows, samples and cool-downs cannot be negative.'))

    def _sms_router_quality_settings(self):
        """The engine's QualitySettings of this company (probe size and the delay after which
        an SMS counts as unreported: system parameters sms_router.quality_probe_size, 5, and
        sms_router.quality_no_report_minutes, 60)."""
        self.ensure_one()
        params = self.env['ir.config_parameter'].sudo()
        return QualitySettings(
            window_size=self.sms_router_quality_window_size,
            window_hours=self.sms_router_quality_window_hours,
            no_report_delay=_float_param(params.get_param('sms_router.quality_no_report_minutes'), 60.0) * 60,
            floor=self.sms_router_quality_floor / 100,
            min_sample=self.sms_router_quality_min_sample,
            outliers=self.sms_router_quality_outliers,
            cooldown=self.sms_router_quality_cooldown * 60,
            probe_size=max(1, int(_float_param(params.get_param('sms_router.quality_probe_size'), 5))),
            max_ejection_share=self.sms_router_quality_max_ejection / 100,
            enabled=self.sms_router_quality_breaker,
        )


def _float_param(value, default):
    try:
        return float(value) if value not in (None, False, '') else default
    except (TypeError, ValueError):
        return default
