from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

from ..engine.breakers import CLOSED, HALF_OPEN, OPEN, BreakerSettings

# The overview's figures cover this much of the trail.
OVERVIEW_HOURS = 24
# Outcomes that made no request to the provider: not counted as failures, no latency.
NO_REQUEST_OUTCOMES = ('skipped', 'misconfigured', 'expired', 'waiting')
# Lines of the trail that are no attempt at all (an SMS waiting for its account's budget):
# left out of the figures.
NOT_ATTEMPTS = ('waiting',)
# Kanban colours (Odoo's colour indexes) of the breaker states.
BREAKER_COLORS = {CLOSED: 10, HALF_OPEN: 2, OPEN: 1, 'forced': 1}   # green, orange, red, red


class SmsRouterAccount(models.Model):
    """The operator cockpit's card of an account: breaker, credit and the last 24 hours.

    The figures are not stored: they are computed for all the accounts read at once (a
    kanban page) with one grouped query over the last 24 hours of attempts, which the
    (account_id, create_date) index of the attempts keeps to that range, plus one query
    for the last errors and one for the breakers, however many accounts are read.
    """
    _inherit = 'sms.router.account'

    overview_color = fields.Integer('Overview Colour', compute='_compute_overview_breaker')
    breaker_next_probe_at = fields.Datetime(
        'Next Probe', compute='_compute_overview_breaker',
        help='When the open breaker lets one request test the provider again.')
    overview_accepted = fields.Integer('Accepted (24 h)', compute='_compute_overview')
    overview_failed = fields.Integer(
        'Failed (24 h)', compute='_compute_overview',
        help='SMS that failed on this account with no account left to try.')
    overview_failed_over = fields.Integer(
        'Failed Over (24 h)', compute='_compute_overview',
        help='SMS this account failed that went on to the next account of the chain '
             '(or were held to be tried again).')
    overview_skipped = fields.Integer(
        'Skipped (24 h)', compute='_compute_overview',
        help='SMS that passed this account by without a request (breaker open, low credit, '
             'misconfigured).')
    overview_success_rate = fields.Float(
        'Success Rate (24 h)', compute='_compute_overview',
        help='Accepted among the requests made (skipped attempts not counted).')
    overview_latency_p50 = fields.Integer('Latency p50 (ms)', compute='_compute_overview')
    overview_latency_p95 = fields.Integer('Latency p95 (ms)', compute='_compute_overview')
    overview_delivered = fields.Integer('Delivered (24 h)', compute='_compute_overview')
    overview_reported = fields.Integer(
        'Reported (24 h)', compute='_compute_overview',
        help='Accepted SMS whose delivery report came (delivered or undelivered).')
    overview_delivery_rate = fields.Float(
        'Delivery Rate (24 h)', compute='_compute_overview',
        help='Delivered among the accepted SMS whose delivery report came.')
    overview_has_traffic = fields.Boolean(compute='_compute_overview')
    overview_last_error = fields.Char('Last Error', compute='_compute_overview')
    overview_last_error_at = fields.Datetime('Last Error At', compute='_compute_overview')
    overview_alert_count = fields.Integer(
        'Open Alerts', compute='_compute_overview_alert_count',
        help='Alerts of this account nobody acknowledged yet.')

    def _compute_overview_breaker(self):
        store = self.env['sms.router.breaker']._store()
        states = store.load_many(self.ids) if self.ids else {}
        for account in self:
            state = states.get(account.id)
            key = state and ('forced' if state.forced_open else state.state) or CLOSED
            account.overview_color = BREAKER_COLORS.get(key, 0)
            next_probe = False
            if state and not state.forced_open and state.state == OPEN and state.opened_at:
                cooldown = BreakerSettings(cooldown=account.breaker_cooldown).cooldown_for(state.open_count)
                next_probe = (state.opened_at + timedelta(seconds=cooldown)).replace(tzinfo=None)
            elif state and not state.forced_open and state.state == HALF_OPEN and state.probe_until:
                next_probe = state.probe_until.replace(tzinfo=None)
            account.breaker_next_probe_at = next_probe

    def _compute_overview_alert_count(self):
        # One grouped query for all the cards read.
        counts = dict(self.env['sms.router.alert']._read_group(
            [('account_id', 'in', self._origin.ids), ('state', '=', 'open')], ['account_id'], ['__count']))
        for account in self:
            account.overview_alert_count = counts.get(account._origin, 0)

    def _compute_overview(self):
        figures, errors = self._sms_router_overview_figures()
        for account in self:
            row = figures.get(account._origin.id) or {}
            accepted = row.get('accepted', 0)
            requests = accepted + row.get('failed', 0) + row.get('failed_over', 0)
            account.overview_accepted = accepted
            account.overview_failed = row.get('failed', 0)
            account.overview_failed_over = row.get('failed_over', 0)
            account.overview_skipped = row.get('skipped', 0)
            account.overview_success_rate = accepted / requests if requests else 0.0
            account.overview_latency_p50 = round(row.get('p50') or 0)
            account.overview_latency_p95 = round(row.get('p95') or 0)
            account.overview_delivered = row.get('delivered', 0)
            account.overview_reported = row.get('reported', 0)
            account.overview_delivery_rate = (
                row['delivered'] / row['reported'] if row.get('reported') else 0.0)
            account.overview_has_traffic = bool(row.get('total'))
            reason, when = errors.get(account._origin.id, (False, False))
            account.overview_last_error = reason or account.breaker_last_failure or False
            account.overview_last_error_at = when

    def _sms_router_overview_figures(self, hours=OVERVIEW_HOURS):
        """({account id: figures}, {account id: (last error, its date)}) of the last
        ``hours`` for these accounts, in two queries whatever their number."""
        ids = [account_id for account_id in self._origin.ids if account_id]
        if not ids:
            return {}, {}
        since = fields.Datetime.now() - timedelta(hours=hours)
        self.env['sms.router.attempt'].flush_model(
            ['account_id', 'create_date', 'outcome', 'accepted', 'final', 'duration_ms', 'delivery_state',
             'reason'])
        figures_query, errors_query = self._sms_router_overview_queries(ids, since)
        self.env.cr.execute(figures_query)
        keys = ('total', 'accepted', 'failed', 'failed_over', 'skipped', 'p50', 'p95', 'delivered', 'reported')
        figures = {row[0]: dict(zip(keys, row[1:], strict=True)) for row in self.env.cr.fetchall()}
        self.env.cr.execute(errors_query)
        errors = {account_id: (reason, when) for account_id, reason, when in self.env.cr.fetchall()}
        return figures, errors

    @api.model
    def _sms_router_overview_queries(self, ids, since):
        """The two queries of the overview (the benchmark explains them): the figures of
        each account since ``since``, and its last failed request since then."""
        no_request = list(NO_REQUEST_OUTCOMES)
        figures = SQL(
            """
            SELECT account_id,
                   COUNT(*),
                   COUNT(*) FILTER (WHERE accepted),
                   COUNT(*) FILTER (WHERE NOT accepted AND final AND outcome <> ALL(%(no_request)s)),
                   COUNT(*) FILTER (WHERE NOT accepted AND NOT final AND outcome <> ALL(%(no_request)s)),
                   COUNT(*) FILTER (WHERE outcome = ANY(%(no_request)s)),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)
                       FILTER (WHERE outcome <> ALL(%(no_request)s)),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
                       FILTER (WHERE outcome <> ALL(%(no_request)s)),
                   COUNT(*) FILTER (WHERE accepted AND delivery_state = 'delivered'),
                   COUNT(*) FILTER (WHERE accepted AND delivery_state IN ('delivered', 'undelivered'))
              FROM sms_router_attempt
             WHERE account_id = ANY(%(ids)s) AND create_date >= %(since)s AND outcome <> ALL(%(not_attempts)s)
          GROUP BY account_id
            """, ids=ids, since=since, no_request=no_request, not_attempts=list(NOT_ATTEMPTS))
        # The last failed request of each account: a backward walk of its index range.
        errors = SQL(
            """
            SELECT account.id, last.reason, last.create_date
              FROM unnest(%(ids)s::int[]) AS account(id)
              JOIN LATERAL (
                    SELECT reason, create_date
                      FROM sms_router_attempt
                     WHERE account_id = account.id AND create_date >= %(since)s
                       AND NOT accepted AND outcome <> ALL(%(no_request)s)
                  ORDER BY create_date DESC
                     LIMIT 1) AS last ON TRUE
            """, ids=ids, since=since, no_request=no_request)
        return figures, errors

    def action_sms_router_overview_attempts(self):
        """The attempts of this account, the last 24 hours first (the card's click)."""
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_attempt_action')
        name = self.env._('Attempts of %s', self.display_name)
        action.update({
            'name': name,
            'display_name': name,
            'domain': [('account_id', '=', self.id)],
            'context': {**safe_eval(action.get('context') or '{}'), 'search_default_last_24h': 1},
        })
        return action

    def action_sms_router_overview_alerts(self):
        """The alerts of this account not resolved yet (the card's alert line)."""
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_alert_action')
        name = self.env._('Alerts of %s', self.display_name)
        action.update({'name': name, 'display_name': name, 'domain': [('account_id', '=', self.id)]})
        return action
