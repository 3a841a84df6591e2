"""How a route uses its failover chain: its strategy (engine/strategies.py) and, for the
weighted split, the share of each step."""
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..engine.strategies import BEST_DELIVERY, DEFAULT_MIN_SAMPLE, LEAST_COST, ORDERED, WEIGHTED

STRATEGY_SELECTION = [
    (ORDERED, 'Ordered'),
    (LEAST_COST, 'Least cost'),
    (BEST_DELIVERY, 'Best delivery'),
    (WEIGHTED, 'Weighted split'),
]


class SmsRouterRoute(models.Model):
    _inherit = 'sms.router.route'

    strategy = fields.Selection(
        STRATEGY_SELECTION, required=True, default=ORDERED, tracking=True,
        help='Which account of the chain tries an SMS first. Ordered: the chain\'s order. Least cost: the '
             'lowest price per segment for the destination (accounts without a price after the priced ones; '
             'only prices in the currency of the first priced account are compared). Best delivery: the highest '
             'delivery rate measured for the destination, among accounts with enough reported SMS. Weighted '
             'split: each SMS draws its first account by the weights of the chain (the same SMS always draws '
             'the same one). Accounts that cannot take SMS now (breaker open, low credit, misconfigured) are '
             'never chosen first, and when the first account fails, the SMS goes down the rest of the chain.')
    strategy_min_sample = fields.Integer(
        'Minimum Reports', default=DEFAULT_MIN_SAMPLE, tracking=True,
        help='Best delivery: reported SMS an account needs for a destination before its delivery rate counts; '
             'accounts with fewer come after the measured ones, in the chain\'s order.')
    weight_total = fields.Integer(compute='_compute_weight_total', string='Total Weight')

    @api.depends('step_ids.weight')
    def _compute_weight_total(self):
        for route in self:
            route.weight_total = sum(route.step_ids.mapped('weight'))

    @api.constrains('strategy', 'strategy_min_sample', 'step_ids')
    def _check_strategy(self):
        for route in self:
            route._sms_router_check_strategy()

    def _sms_router_check_strategy(self):
        self.ensure_one()
        if self.strategy_min_sample < 1:
            raise ValidationError(self.env._(
                'Route "%(route)s": the minimum number of reports must be at least 1.', route=self.name))
        if self.strategy != WEIGHTED:
            return
        steps = self.sudo().step_ids
        total = sum(steps.mapped('weight'))
        if total != 100:
            raise ValidationError(self.env._(
                'Route "%(route)s" splits its SMS by weight: the weights of its chain must add up to 100 %% '
                '(they add up to %(total)s %%: %(weights)s).', route=self.name, total=total,
                weights=', '.join(f'{step.account_id.name} {step.weight} %' for step in
                                  steps.sorted(lambda step: (step.sequence, step.id))) or '-'))

    @api.model
    def _sms_router_strategies(self, company):
        """{route id: (strategy, {account id: weight}, minimum reports)} of ``company``'s
        active routes that do not use the chain's order (one read per batch)."""
        routes = self.sudo().search_fetch(
            [('company_id', '=', company.id), ('strategy', '!=', ORDERED)], ['strategy', 'strategy_min_sample'])
        return {
            route.id: (route.strategy, {step.account_id.id: step.weight for step in route.step_ids},
                       route.strategy_min_sample)
            for route in routes
        }


class SmsRouterRouteStep(models.Model):
    _inherit = 'sms.router.route.step'

    weight = fields.Integer(
        'Weight (%)', default=0,
        help='Weighted split: the share of the SMS this account tries first, in percent; the weights of a chain '
             'add up to 100. An account with 0 is never tried first, only after a failure.')

    _weight_percent = models.Constraint(
        'CHECK(weight >= 0 AND weight <= 100)', 'A weight is a percentage, from 0 to 100.')

    @api.constrains('weight')
    def _check_weight_of_route(self):
        # As for the chain itself (SmsRouterRouteStep._check_route_chains): a route being
        # written checks its weights once, when the whole chain is written.
        if self.env.context.get('sms_router_routes_creating'):
            return
        for route in self._routes_not_written(self.route_id.exists()):
            route._sms_router_check_strategy()

