import re

import phonenumbers

from odoo import api, fields, models
from odoo.exceptions import ValidationError

# Twilio accepts alphanumeric sender IDs of up to 11 characters (letters, digits, spaces),
# with at least one letter, in the countries that allow them.
ALPHANUMERIC_SENDER_RE = re.compile(r'^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$')


class SmsRouterTwilioNumber(models.Model):
    """One From number of a Twilio account, used for the destinations of its country."""
    _name = 'sms.router.twilio.number'
    _description = 'SMS Router: Twilio From Number'
    _order = 'account_id, sequence, id'
    _rec_name = 'number'

    account_id = fields.Many2one('sms.router.account', required=True, ondelete='cascade', index=True)
    company_id = fields.Many2one(related='account_id.company_id')
    sequence = fields.Integer(default=10)
    number = fields.Char(required=True,
                         help='E.164 number of the Twilio account (e.g. +33757000000), or an '
                              'alphanumeric sender ID where the destination country allows it.')
    country_id = fields.Many2one(
        'res.country',
        help='Destinations of this country are sent from this number. Leave empty for a number '
             'used only as default (the first one of the list).')

    _number_once_per_account = models.Constraint(
        'unique(account_id, number)', 'A number appears only once per Twilio account.')

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get('number'):
                vals['number'] = self._normalize_number(vals['number'])
        return super().create(vals_list)

    def write(self, vals):
        if vals.get('number'):
            vals = dict(vals, number=self._normalize_number(vals['number']))
        return super().write(vals)

    @api.model
    def _normalize_number(self, number):
        """E.164 for phone numbers; alphanumeric sender IDs as typed (trimmed)."""
        text = (number or '').strip()
        if text.startswith(('+', '00')):
            try:
                parsed = phonenumbers.parse('+' + text[2:] if text.startswith('00') else text, None)
            except phonenumbers.NumberParseException:
                return text
            if phonenumbers.is_possible_number(parsed):
                return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return text

    @api.constrains('number')
    def _check_number(self):
        for record in self:
            number = record.number or ''
            if number.startswith('+'):
                try:
                    valid = phonenumbers.is_possible_number(phonenumbers.parse(number, None))
                except phonenumbers.NumberParseException:
                    valid = False
                if valid and number[1:].isdigit():
                    continue
            elif ALPHANUMERIC_SENDER_RE.match(number):
                continue
            raise ValidationError(self.env._(
                '"%s" is neither a phone number in international format (e.g. +33757000000) '
                'nor an alphanumeric sender ID (up to 11 letters, digits or spaces).', number))

    @api.onchange('number')
    def _onchange_number_country(self):
        if self.number and not self.country_id and self.number.startswith('+'):
            try:
                region = phonenumbers.region_code_for_number(phonenumbers.parse(self.number, None))
            except phonenumbers.NumberParseException:
                return
            if region and region not in ('ZZ', '001'):
                self.country_id = self.env['res.country'].search([('code', '=', region)], limit=1)

    def _compute_display_name(self):
        for record in self:
            record.display_name = (f'{record.number} ({record.country_id.code})'
                                   if record.country_id else record.number)
