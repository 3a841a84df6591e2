import phonenumbers

from odoo import api, fields, models

from ..engine.routing import _NOT_A_COUNTRY


class SmsRouterAttempt(models.Model):
    """What the operator cockpit reads on attempts: the destination country (stored, for
    the graph and pivot views) and the index its 24-hour figures are computed with."""
    _inherit = 'sms.router.attempt'

    # The trail gives the country routing already read when it creates attempts (a second
    # parse of every number cost as much as the rest of the trail): a given value is kept
    # only for a field that is not read-only (Odoo recomputes read-only ones), and
    # precompute computes the others before the INSERT. Nobody writes attempts anyway.
    destination_country_id = fields.Many2one(
        'res.country', compute='_compute_destination_country_id',
        store=True, readonly=False, precompute=True, index='btree_not_null',
        help="The country of the number, from its international prefix (empty for a number "
             "written without one, or a non-geographic number).")

    # Averaged in the graph and pivot views (a sum of latencies means nothing).
    duration_ms = fields.Integer(aggregator='avg')

    # The overview reads the last 24 hours of every visible account in one query
    # (SmsRouterAccount._compute_overview): an account's recent attempts are one range of it.
    _account_create_date_idx = models.Index('(account_id, create_date)')

    @api.depends('number')
    def _compute_destination_country_id(self):
        regions = {}
        for attempt in self:
            regions[attempt] = _region_of(attempt.number)
        codes = {code for code in regions.values() if code}
        countries = {country.code: country for country in self.env['res.country'].sudo().search(
            [('code', 'in', sorted(codes))])} if codes else {}
        for attempt in self:
            attempt.destination_country_id = countries.get(regions[attempt], False)


def _region_of(number):
    """The ISO country code of an E.164 ``number`` ('FR'), or '' when it has none."""
    text = (number or '').strip()
    if not text.startswith('+'):
        return ''
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return ''
    # A number no region validates (a shared calling code's reserved range): the main
    # country of its calling code.
    region = phonenumbers.region_code_for_number(number) or \
        phonenumbers.region_code_for_country_code(number.country_code)
    return '' if region in _NOT_A_COUNTRY else region
