"""The route tester shows what the route's strategy did (models/sms_router_route_strategy.py)."""
from odoo import fields, models


class SmsRouterRouteTester(models.TransientModel):
    _inherit = 'sms.router.route.tester'

    route_strategy = fields.Selection(related='route_id.strategy', string='Route Strategy')


class SmsRouterRouteTesterLine(models.TransientModel):
    _inherit = 'sms.router.route.tester.line'

    strategy_figure = fields.Char(
        help="What the route's strategy read of this account for the destination: its price per segment "
             '(least cost), its delivery rate (best delivery) or its weight (weighted split).')
