from odoo import fields, models

from ..engine.dispatcher import AT_LEAST_ONCE, AT_MOST_ONCE


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

    _sms_router_max_hold_positive = models.Constraint(
        'CHECK(sms_router_max_hold_hours >= 0)', 'The hold time during outages cannot be negative.')

    def _sms_router_is_enabled(self):
        """The router handles this company's SMS once it has an active route."""
        self.ensure_one()
        return self.id in self.env['sms.router.route']._sms_router_routed_company_ids()
