from odoo import fields, models


class SmsRouterAttempt(models.Model):
    _inherit = 'sms.router.attempt'

    twilio_price_checked_at = fields.Datetime(
        'Twilio Price Checked', readonly=True,
        help='Last time the scheduled action asked Twilio what this SMS cost.')
