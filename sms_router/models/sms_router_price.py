from odoo import api, fields, models

from ..tools.costs import PRICE_DIGITS


class SmsRouterPrice(models.Model):
    """What one account charges per SMS segment to one destination country.

    The prices of an account are in its currency (``price_currency_id``); a country
    without a line costs the account's default price. Read once per batch by the cost
    ledger (``SmsRouterAccount._sms_router_segment_prices``).
    """
    _name = 'sms.router.price'
    _description = 'SMS Router Price'
    _order = 'account_id, country_id'
    _check_company_auto = True

    account_id = fields.Many2one(
        'sms.router.account', required=True, index=True, ondelete='cascade', check_company=True)
    company_id = fields.Many2one(related='account_id.company_id', store=True, index=True)
    country_id = fields.Many2one(
        'res.country', required=True, ondelete='cascade',
        help='The destination country: the country of the recipient\'s number.')
    price = fields.Float(
        'Price per Segment', digits=PRICE_DIGITS, required=True,
        help='What the provider charges for one SMS segment to this country, in the currency of '
             'the account. An SMS of 3 segments costs 3 times this price.')
    currency_id = fields.Many2one(related='account_id.price_currency_id', string='Currency')
    sms_provider = fields.Selection(related='account_id.sms_provider')

    _account_country_uniq = models.Constraint(
        'UNIQUE(account_id, country_id)', 'An account has one price per destination country.')
    _price_positive = models.Constraint('CHECK(price >= 0)', 'A price cannot be negative.')

    @api.depends('account_id', 'country_id')
    def _compute_display_name(self):
        for line in self:
            line.display_name = f'{line.account_id.display_name} - {line.country_id.display_name}'

    @api.model
    def get_import_templates(self):
        return [{
            'label': self.env._('Import Template for SMS Prices'),
            'template': '/sms_router/static/xls/sms_router_price.csv',
        }]
