from markupsafe import Markup

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError

from ..engine.routing import TRAFFIC_ALL, Route, RoutingTable, normalize_prefix

TRAFFIC_SELECTION = [
    ('all', 'All SMS'),
    ('transactional', 'Transactional only'),
    ('marketing', 'Marketing only'),
]


class SmsRouterRoute(models.Model):
    """Which accounts, in which order, serve some destinations of one company.

    Its chatter tracks what decides where SMS go: destinations, traffic, activity and,
    logged by hand (steps are records of their own), every change of the failover chain.
    """
    _name = 'sms.router.route'
    _inherit = ['mail.thread']
    _description = 'SMS Route'
    _order = 'company_id, sequence, id'
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one('res.company', required=True, index=True,
                                 default=lambda self: self.env.company, tracking=True)
    prefixes = fields.Char(
        tracking=True,
        help='E.164 prefixes separated by spaces or commas, e.g. "+33 +262". The longest '
             'matching prefix wins. Leave prefixes and countries empty for the default route.')
    country_ids = fields.Many2many('res.country', string='Countries', tracking=True,
                                   help='Destination countries, as read from the number itself.')
    traffic_type = fields.Selection(TRAFFIC_SELECTION, string='Traffic', required=True, default=TRAFFIC_ALL,
                                    tracking=True,
                                    help='Limit the route to transactional SMS (reminders, OTP) or to '
                                         'marketing (mass) SMS.')
    step_ids = fields.One2many('sms.router.route.step', 'route_id', string='Failover Chain', copy=True)
    is_default = fields.Boolean(compute='_compute_is_default', string='Default Route')
    chain_summary = fields.Char(compute='_compute_chain_summary', string='Chain')
    sms_router_warning = fields.Char(compute='_compute_sms_router_warning', string='Not Used')

    @api.depends('company_id', 'active')
    def _compute_sms_router_warning(self):
        for route in self:
            company = route.company_id
            warning = route.active and company and company._sms_router_routes_unused_warning()
            route.sms_router_warning = warning or False

    @api.depends('prefixes', 'country_ids')
    def _compute_is_default(self):
        for route in self:
            route.is_default = not route._prefix_list() and not route.country_ids

    @api.depends('step_ids.account_id', 'step_ids.sequence')
    def _compute_chain_summary(self):
        for route in self:
            route.chain_summary = ' → '.join(route.step_ids.sorted('sequence').account_id.mapped('name'))

    def _prefix_list(self):
        return [p for p in (self.prefixes or '').replace(',', ' ').split() if p]

    # ------------------------------------------------------------ chain log

    def _sms_router_chain_text(self):
        """The failover chain as people read it: "Sweego FR → OVH FR → Odoo IAP"."""
        self.ensure_one()
        steps = self.sudo().step_ids.sorted(lambda step: (step.sequence, step.id))
        return ' → '.join(step.account_id.name or '?' for step in steps)

    def _sms_router_chains(self):
        """{route id: chain text}, to compare with after a change (_sms_router_log_chain_changes)."""
        return {route.id: route._sms_router_chain_text() for route in self}

    def _sms_router_log_chain_changes(self, before):
        """Log one note on each of these routes whose chain differs from ``before``
        ({route id: chain text}), with the chain before and after."""
        for route in self.exists():
            old, new = before.get(route.id), route._sms_router_chain_text()
            if old is None or old == new:
                continue
            empty = self.env._('(no account)')
            route.sudo()._message_log(body=Markup('%s<br/>%s<br/>%s') % (
                self.env._('Failover chain changed.'),
                self.env._('Before: %s', old or empty),
                self.env._('After: %s', new or empty)))

    def _creation_message(self):
        return self.env._('Route created. Failover chain: %s',
                          self._sms_router_chain_text() or self.env._('(no account)'))

    @api.constrains('prefixes')
    def _check_prefixes(self):
        for route in self:
            for prefix in route._prefix_list():
                try:
                    normalize_prefix(prefix)
                except ValueError:
                    raise ValidationError(self.env._(
                        'Route "%(route)s": "%(prefix)s" is not an E.164 prefix such as +33 or +336.',
                        route=route.name, prefix=prefix)) from None

    @api.constrains('prefixes', 'country_ids', 'traffic_type', 'company_id', 'active')
    def _check_one_default_route(self):
        # Two default routes for the same traffic would make the chain of unmatched numbers
        # depend on the route order, which nobody sees as a choice.
        traffic_labels = dict(self._fields['traffic_type']._description_selection(self.env))
        for route in self.filtered(lambda r: r.active and r.is_default):
            other = self.sudo().search([
                ('id', '!=', route.id), ('active', '=', True),
                ('company_id', '=', route.company_id.id), ('traffic_type', '=', route.traffic_type),
                ('country_ids', '=', False),
            ]).filtered(lambda r: not r._prefix_list())[:1]
            if other:
                raise ValidationError(self.env._(
                    '"%(other)s" is already the default route of %(company)s for traffic "%(traffic)s". '
                    'Route "%(route)s" has neither prefixes nor countries and would be a second one: '
                    'give one of them prefixes, countries or another traffic, or archive one of them.',
                    route=route.name, company=route.company_id.name,
                    traffic=traffic_labels[route.traffic_type], other=other.name))

    @api.constrains('active', 'step_ids')
    def _check_chain(self):
        for route in self:
            if route.active and not route.sudo().step_ids.account_id.filtered('active'):
                # The routing table would still pick this route for its destinations, and
                # every SMS matching it would fail without a single provider tried.
                raise ValidationError(self.env._(
                    'Route "%(route)s" needs at least one active account in its failover chain: '
                    'without one, every SMS it matches would fail. Add an account to the chain, '
                    'or archive the route.', route=route.name))

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()  # _sms_router_routed_company_ids
        # The first chain is in the creation message (_creation_message), not in a note of
        # each step.
        routes = super(SmsRouterRoute, self.with_context(sms_router_routes_creating=True)).create(vals_list)
        return routes.with_env(self.env)

    def write(self, vals):
        if {'active', 'company_id'} & set(vals):
            self.env.registry.clear_cache()  # _sms_router_routed_company_ids
        # Step changes made by this write are checked once, by _check_chain, when the whole
        # chain is written (a replaced step is deleted before its successor is created), and
        # logged once, in one note (the steps leave these routes to this write).
        chains = self._sms_router_chains() if 'step_ids' in vals else {}
        written = set(self.env.context.get('sms_router_routes_written', ())) | set(self.ids)
        result = super(SmsRouterRoute, self.with_context(sms_router_routes_written=tuple(written))).write(vals)
        self._sms_router_log_chain_changes(chains)
        return result

    def unlink(self):
        self.env.registry.clear_cache()  # _sms_router_routed_company_ids
        return super().unlink()

    @api.model
    @tools.ormcache()
    def _sms_router_routed_company_ids(self):
        """Ids of the companies with an active route, i.e. whose SMS the router sends.

        Asked for every SMS batch (which API sends it, what batch size): cached per
        registry and cleared whenever routes are created, archived, moved or deleted."""
        groups = self.sudo().with_context(active_test=True)._read_group([], groupby=['company_id'])
        return frozenset(company.id for [company] in groups if company)

    @api.model
    def _sms_router_table(self, company):
        """The RoutingTable of ``company`` (active routes, in sequence order)."""
        routes = self.sudo().search([('company_id', '=', company.id)])
        return RoutingTable([
            Route(
                route_id=route.id,
                chain=tuple(route.step_ids.sorted('sequence').account_id.filtered('active').ids),
                prefixes=tuple(route._prefix_list()),
                countries=tuple(route.country_ids.mapped('code')),
                traffic=route.traffic_type,
                name=route.name,
            ) for route in routes
        ])


class SmsRouterRouteStep(models.Model):
    _name = 'sms.router.route.step'
    _description = 'SMS Route Failover Step'
    _order = 'route_id, sequence, id'
    _check_company_auto = True

    route_id = fields.Many2one('sms.router.route', required=True, ondelete='cascade', index=True)
    company_id = fields.Many2one(related='route_id.company_id', store=True)
    sequence = fields.Integer(default=10)
    account_id = fields.Many2one('sms.router.account', required=True, ondelete='cascade',
                                 check_company=True)
    sms_provider = fields.Selection(related='account_id.sms_provider')
    breaker_state = fields.Selection(related='account_id.breaker_state')

    _account_once_per_route = models.Constraint(
        'unique(route_id, account_id)', 'An account appears only once in a chain.')

    def _routes_not_written(self, routes):
        """``routes`` less those a route write in progress handles (see SmsRouterRoute.write)."""
        written = self.env.context.get('sms_router_routes_written', ())
        return routes.filtered(lambda route: route.id not in written)

    def _routes_to_log(self, routes):
        """``routes`` whose chain change the steps log themselves: not those a route create
        or write in progress logs (see SmsRouterRoute.create and write)."""
        if self.env.context.get('sms_router_routes_creating'):
            return routes.browse()
        return self._routes_not_written(routes)

    def _check_route_chains(self, routes):
        self._routes_not_written(routes.exists())._check_chain()

    @api.constrains('route_id', 'account_id')
    def _check_chain_of_route(self):
        self._check_route_chains(self.route_id)

    @api.model_create_multi
    def create(self, vals_list):
        # Steps created on their own (not through their route's form) log their chain too.
        routes = self._routes_to_log(self.env['sms.router.route'].browse(
            {vals['route_id'] for vals in vals_list if vals.get('route_id')}))
        chains = routes._sms_router_chains()
        steps = super().create(vals_list)
        routes._sms_router_log_chain_changes(chains)
        return steps

    def write(self, vals):
        previous_routes = self.route_id if 'route_id' in vals else self.env['sms.router.route']
        routes = self.env['sms.router.route']
        if {'route_id', 'account_id', 'sequence'} & set(vals):
            routes = self._routes_to_log(self.route_id | self.env['sms.router.route'].browse(
                vals.get('route_id') or []))
        chains = routes._sms_router_chains()
        result = super().write(vals)
        self._check_route_chains(previous_routes)
        routes._sms_router_log_chain_changes(chains)
        return result

    def unlink(self):
        routes = self.route_id
        logged = self._routes_to_log(routes)
        chains = logged._sms_router_chains()
        result = super().unlink()
        self._check_route_chains(routes)
        logged._sms_router_log_chain_changes(chains)
        return result
