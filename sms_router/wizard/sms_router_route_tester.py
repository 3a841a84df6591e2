"""The route tester: which route and which account the router would use for a number now.

Everything comes from the code that sends: the number is read and matched by
``CompanyRouting.match`` (the engine's ``RoutingTable.explain``), and the chain goes through
``Dispatcher.preview``, the checks of a dispatch round with breakers peeked instead of
admitted. Nothing is sent and nothing is written: no SMS, no attempt, no probe lease.
"""
from datetime import timezone
from types import SimpleNamespace

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError
from odoo.tools.misc import format_datetime

from ..engine.breakers import utcnow
from ..engine.dispatcher import QueuedSms
from ..engine.outcomes import OutcomeKind
from ..engine.reasons import reason_of
from ..engine.segments import GSM7, describe_chars, measure
from ..engine.windows import WindowNeverOpens, local_text, zones_for_number
from ..engine.validity import format_validity
from ..engine.routing import (
    MATCH_COUNTRY, MATCH_DEFAULT, MATCH_NONE, MATCH_PREFIX, TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL,
    NumberError, example_number, parse_destination,
)
from ..models.sms_router_account import SMART_ENCODING_LEVELS
from ..models.sms_router_attempt import ENCODINGS
from ..tools.reason_text import render_reason
from ..tools.preview import governor_waits, preview_dispatcher
from ..tools.sms_api import CompanyRouting, reading_region
from ..tools.strategy import strategy_explanation, strategy_figures

MATCH_OFF = 'off'   # the company has no active route: Odoo sends its SMS itself
# The key the route form's "Test Route" button passes.
ROUTE_CONTEXT_KEY = 'sms_router_route_id'

_RESULT_FIELDS = (
    'region_hint', 'e164', 'country_id', 'number_error', 'route_id', 'match_kind', 'match_reason',
    'sender_name', 'summary', 'summary_level', 'strategy_reason',
)


def _naive_utc(moment):
    """An aware datetime as a Datetime field value (naive UTC, to the second)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0) if moment else False


class SmsRouterRouteTester(models.TransientModel):
    _name = 'sms.router.route.tester'
    _description = 'SMS Router: Route Tester'

    company_id = fields.Many2one(
        'res.company', required=True, default=lambda self: self.env.company,
        help='Whose routes are tested: one of your allowed companies.')
    number = fields.Char(
        help='Any form: +33 6 12 34 56 78, 0033612345678, or a national number such as '
                       '06 12 34 56 78, read as the router reads it.')
    partner_id = fields.Many2one(
        'res.partner', 'Contact',
        help="Optional: the contact the SMS is for. As when sending, a national number is read in the "
             "contact's country first, then in the company's.")
    traffic = fields.Selection(
        selection='_selection_traffic', required=True, default=TRAFFIC_TRANSACTIONAL,
        help='Transactional SMS (reminders, codes) or marketing SMS (mass SMS mailings).')
    sample_body = fields.Text(
        'Sample Message',
        help='Optional: a message, to see for each account of the chain in which encoding and in how '
             'many SMS it would go (its smart encoding applied, the text its provider adds counted).')
    sample_summary = fields.Char('As Written', compute='_compute_sample_summary')
    sample_ucs2_chars = fields.Char(
        'Forcing Unicode', compute='_compute_sample_summary',
        help='The characters of the message, as written, that are not in the GSM-7 alphabet: one of them '
             'sends the whole SMS in Unicode (UCS-2), 70 characters per SMS instead of 160.')

    validity = fields.Char(
        compute='_compute_validity',
        help="The company's validity for this traffic: an SMS no provider accepted within it "
             'ends as Expired; providers that take a validity period get the time left.')
    # Send windows: whether this number and traffic may be sent now (see _compute_send_window).
    window_status = fields.Selection([
        ('none', 'No send window'), ('open', 'Inside its send window'), ('closed', 'Outside its send window'),
    ], string='Send Window', compute='_compute_send_window')
    window_id = fields.Many2one('sms.router.send.window', 'Closed By', compute='_compute_send_window')
    window_next_opening = fields.Datetime('Opens At', compute='_compute_send_window')
    window_zones = fields.Char('Time Zones', compute='_compute_send_window',
                              help='The time zones the number may be in: it is sent only when every one allows it.')
    window_summary = fields.Char('Window', compute='_compute_send_window')
    region_hint = fields.Char('National Numbers', compute='_compute_result')
    e164 = fields.Char('E.164 Number', compute='_compute_result')
    country_id = fields.Many2one('res.country', compute='_compute_result')
    number_error = fields.Char('Unreadable Number', compute='_compute_result')
    route_id = fields.Many2one('sms.router.route', compute='_compute_result')
    route_traffic = fields.Selection(related='route_id.traffic_type', string='Route Traffic')
    match_kind = fields.Selection([
        (MATCH_PREFIX, 'Longest prefix'),
        (MATCH_COUNTRY, 'Country'),
        (MATCH_DEFAULT, 'Default route'),
        (MATCH_NONE, 'No route'),
        (MATCH_OFF, 'Router off'),
    ], string='Matched By', compute='_compute_result')
    match_reason = fields.Char('Why', compute='_compute_result')
    strategy_reason = fields.Char(
        'Strategy', compute='_compute_result',
        help="Why the route's strategy puts the chain below in this order.")
    line_ids = fields.One2many('sms.router.route.tester.line', 'tester_id', string='Failover Chain',
                               compute='_compute_result')
    sender_name = fields.Char('Would Send Now', compute='_compute_result')
    summary = fields.Char('Result', compute='_compute_result')
    summary_level = fields.Selection(
        [('info', 'Info'), ('success', 'Success'), ('warning', 'Warning'), ('danger', 'Danger')],
        compute='_compute_result')

    @api.model
    def _selection_traffic(self):
        # The values and labels the router stores on each SMS.
        return self.env['sms.sms']._fields['sms_router_traffic']._description_selection(self.env)

    @api.model
    def default_get(self, fields):
        values = super().default_get(fields)
        route = self._route_from_context()
        if route:
            values.update(company_id=route.company_id.id, traffic=(
                route.traffic_type if route.traffic_type == TRAFFIC_MARKETING else TRAFFIC_TRANSACTIONAL))
            number = _example_number_of(route)
            if number:
                values['number'] = number
        return values

    @api.model
    def _route_from_context(self):
        """The route the tester was opened from (its form's button, or the Action menu of
        routes), read as the user: a route they cannot read raises AccessError."""
        context = self.env.context
        route_id = context.get(ROUTE_CONTEXT_KEY)
        if not route_id and context.get('active_model') == 'sms.router.route':
            route_id = context.get('active_id')
        if not route_id:
            return self.env['sms.router.route']
        route = self.env['sms.router.route'].browse(route_id).exists()
        route.check_access('read')
        return route

    @api.constrains('company_id')
    def _check_company_allowed(self):
        for tester in self:
            if tester.company_id not in self.env.companies:
                raise AccessError(self.env._('You can only test the routes of your allowed companies.'))

    @api.depends('company_id', 'traffic')
    @api.depends_context('lang')
    def _compute_validity(self):
        for tester in self:
            minutes = tester.company_id.sudo()._sms_router_validity_minutes(tester.traffic) \
                if tester.company_id else 0
            if minutes:
                tester.validity = self.env._(
                    '%(validity)s: an SMS not accepted by a provider within it ends as Expired; providers '
                    'that take a validity period (Twilio, OVH) get the time left',
                    validity=format_validity(minutes * 60))
            else:
                tester.validity = self.env._('None: an SMS waits for a provider as long as the company holds SMS')

    @api.depends('company_id', 'number', 'traffic', 'partner_id')
    @api.depends_context('uid', 'allowed_company_ids', 'lang', 'tz')
    def _compute_send_window(self):
        for tester in self:
            tester.update(tester._send_window_values())

    def _send_window_values(self):
        """Whether the company's send windows let this number and traffic go now, as sending
        decides it (the same WindowGate); the rule and the next opening when not."""
        values = dict.fromkeys(('window_status', 'window_id', 'window_next_opening', 'window_zones',
                                'window_summary'), False)
        company = self.company_id
        if not company or company not in self.env.companies or not (self.number or '').strip() \
                or not company._sms_router_is_enabled():
            return values
        try:
            # Read as sending reads it (CompanyRouting.region): the contact's country first.
            destination = parse_destination(self.number, reading_region(company, self.partner_id))
        except NumberError:
            return values
        gate = self.env['sms.router.send.window']._sms_router_gate(company, utcnow())
        values['window_zones'] = ', '.join(zones_for_number(destination.e164))
        if not gate.applicable(self.traffic, destination):
            values.update(window_status='none', window_summary=self.env._(
                'No send window of the company applies to this traffic and destination: it may go at any time.'))
            return values
        try:
            found = gate.check(self.traffic, destination)
        except WindowNeverOpens as error:
            values.update(window_status='closed', window_summary=self.env._(
                'Outside its send windows, which never open together for this destination (%s): the SMS '
                'would wait in the queue until they are changed.', str(error)))
            return values
        if not found:
            values.update(window_status='open', window_summary=self.env._(
                'Inside its send window now: %s.', ', '.join(rule.name for rule in gate.applicable(
                    self.traffic, destination))))
            return values
        opening, rule, zone = found
        values.update(
            window_status='closed', window_id=rule.rule_id if rule else False, window_next_opening=_naive_utc(opening),
            window_summary=self.env._(
                "Outside its send window '%(window)s': the SMS would wait in the queue until %(when)s, then go "
                'through the chain below.', window=rule.name if rule else '?', when=local_text(opening, zone or 'UTC')))
        return values

    @api.depends('sample_body')
    def _compute_sample_summary(self):
        for tester in self:
            info = measure(tester.sample_body or '')
            tester.sample_summary = segments_text(self.env, info) if info.segments else False
            tester.sample_ucs2_chars = describe_chars(info.ucs2_chars) or False

    @api.depends('company_id', 'number', 'traffic', 'sample_body', 'partner_id')
    @api.depends_context('uid', 'allowed_company_ids', 'lang', 'tz')
    def _compute_result(self):
        for tester in self:
            values = dict.fromkeys(_RESULT_FIELDS, False)
            lines = tester._route_test(values)
            values['line_ids'] = [Command.clear()] + [Command.create(line) for line in lines]
            tester.update(values)

    # ------------------------------------------------------------------ the test

    def _sms_like(self):
        """What CompanyRouting reads of an SMS to pick the country of a national number."""
        return SimpleNamespace(partner_id=self.partner_id) if self.partner_id else None

    def _route_test(self, values):
        """Fill ``values`` (the result fields) and return the values of the chain's lines."""
        self.ensure_one()
        company = self.company_id
        if not company:
            return []
        if company not in self.env.companies:
            values.update(summary=self.env._('You can only test the routes of your allowed companies.'),
                          summary_level='danger')
            return []
        routing = CompanyRouting(self.env, company)
        region_country = company.country_id
        values['region_hint'] = self.env._(
            'Read as numbers of %(country)s, the country of the company (for an SMS to a contact, '
            'the router reads them with the contact\'s country first).', country=region_country.name,
        ) if region_country else self.env._(
            'The company has no country: write numbers with their international prefix (+33...).')
        if not (self.number or '').strip():
            values.update(summary=self.env._('Enter a number to see the route and the account that would send it.'),
                          summary_level='info')
            return []
        try:
            destination, match, chain = routing.match(self.number, self.traffic, self._sms_like())
        except NumberError as error:
            # The reason the router stores on the SMS, word for word (in the reader's language).
            values.update(number_error=render_reason(reason_of(error), self.env.lang), summary_level='danger',
                          summary=self.env._('The router would not send this SMS: the number cannot be read.'))
            return []
        country = self.env['res.country'].search([('code', '=', destination.region)], limit=1) \
            if destination.region else self.env['res.country']
        values.update(e164=destination.e164, country_id=country.id)
        if not company._sms_router_is_enabled():
            values.update(match_kind=MATCH_OFF, summary_level='info', match_reason=self.env._(
                "No route: the company has no active route, so Odoo's own sending (IAP) is used, "
                'without the router.'), summary=self.env._("Odoo's own sending (IAP) would send it."))
            return []
        values.update(route_id=match.route.route_id if match.route else False, match_kind=match.kind,
                      match_reason=self._match_reason(match))
        if match.route:
            explanation = strategy_explanation(routing)
            values['strategy_reason'] = render_reason(explanation, self.env.lang) if explanation else False
        message = QueuedSms('route-tester', '', destination, chain, self.traffic == TRAFFIC_MARKETING)
        preview = self._dispatcher(company).preview(message)
        self._summarize(values, preview, chain)
        lines = self._lines(routing, preview)
        figures = strategy_figures(routing, match.route, destination)
        for line in lines:
            line['strategy_figure'] = figures.get(line['account_id'], False)
        self._segment_lines(lines, preview, destination)
        return lines

    def _segment_lines(self, lines, preview, destination):
        """Add to each line of the chain the encoding and segments of the sample message as
        that account would send it (its smart encoding, the text its provider adds)."""
        if not self.sample_body:
            return
        marketing = self.traffic == TRAFFIC_MARKETING
        for line, step in zip(lines, preview.steps, strict=False):
            handle = step.account
            info = handle.measure(self.sample_body, destination.region, marketing)
            appended = handle.client.appended_text(destination.region or '', marketing)
            line.update(smart_encoding=handle.smart_encoding, encoding=info.encoding, segments=info.segments,
                        ucs2_chars=describe_chars(info.ucs2_chars) or False,
                        appended_text=appended.strip() or False)

    def _dispatcher(self, company):
        """A dispatcher with the options the company's batches get (the send preview's)."""
        return preview_dispatcher(self.env, company)

    def _match_reason(self, match):
        if match.kind == MATCH_PREFIX:
            return self.env._('Longest matching prefix %s', match.value)
        if match.kind == MATCH_COUNTRY:
            country = self.env['res.country'].search([('code', '=', match.value)], limit=1)
            return self.env._('Destination country %s', country.name or match.value)
        if match.kind == MATCH_DEFAULT:
            return self.env._('Default route (no prefix or country matched)')
        if self.company_id.sms_router_iap_last_resort:
            return self.env._('No route matches this number and the company has no default route: only Odoo IAP, '
                     'its last resort, would try it.')
        return self.env._('No route matches this number and the company has no default route.')

    def _summarize(self, values, preview, chain):
        sender = preview.sender
        if sender:
            values['sender_name'] = sender.account.name
            if sender.probe:
                values.update(summary_level='warning', summary=self.env._(
                    'Would send now through %s, as the probe of its breaker: its cool-down is over, '
                    'this SMS would test whether the provider works again.', sender.account.name))
            else:
                values.update(summary_level='success',
                              summary=self.env._('Would send now through %s.', sender.account.name))
        elif not chain:
            # The dispatcher's own words for an SMS with no chain.
            values.update(summary_level='danger', summary=self.env._(
                'No account would send it: the SMS would fail (no provider account is configured for '
                'this destination).'))
        elif preview.hold_until:
            values.update(summary_level='warning', summary=self.env._(
                'No account can send now: the SMS would wait in the queue until %(when)s, then try its '
                'chain again (the company holds SMS for up to %(hours)s hours during outages).',
                when=format_datetime(self.env, _naive_utc(preview.hold_until)),
                hours=self.company_id.sms_router_max_hold_hours))
        else:
            values.update(summary_level='danger', summary=self.env._(
                'No account can send now: the SMS would fail (the company does not hold SMS during outages).'))

    def _lines(self, routing, preview):
        provider_labels = dict(self.env['sms.router.account']._fields['sms_provider']._description_selection(self.env))
        now = utcnow()
        sender = preview.sender
        lines = []
        for sequence, step in enumerate(preview.steps, start=1):
            handle = step.account
            account = routing.accounts_by_id.get(handle.account_id)
            breaker = handle.breaker
            state = breaker.state if breaker else None
            next_probe = breaker.next_probe_at() if breaker else None
            if step is sender:
                verdict = 'probe' if step.probe else 'send'
                reason = self.env._('The first account that can take it now.')
            elif step.admitted:
                verdict = 'fallback'
                reason = self.env._('Next if the ones before it fail.')
            else:
                verdict = 'misconfigured' if step.kind is OutcomeKind.MISCONFIGURED else 'skipped'
                reason = render_reason(step.reason, self.env.lang)
            line = {
                'sequence': sequence,
                'account_id': account.id if account else False,
                'name': handle.name,
                'provider': provider_labels.get(account.sms_provider, account.sms_provider) if account
                else provider_labels.get('iap', 'Odoo IAP'),
                'last_resort': not account,
                'breaker_state': ('forced' if state.forced_open else state.state) if state else 'none',
                'next_probe_at': _naive_utc(next_probe) if next_probe and next_probe > now else False,
                'paused_until': _naive_utc(state.paused_until)
                if state and state.paused_until and state.paused_until > now else False,
                'configuration_error': reason if step.kind is OutcomeKind.MISCONFIGURED else False,
                'verdict': verdict,
                'reason': reason,
            }
            line.update(self._credit_values(account))
            line.update(self._governor_values(account, line, now))
            lines.append(line)
        self._pass_governed_sender(lines)
        return lines

    def _pass_governed_sender(self, lines):
        """As sending does (Dispatcher._govern): an account whose daily cap is reached or
        whose provider asked to wait long is skipped when a later account of the chain can
        send; the SMS wait for it only when it is the last."""
        for index, line in enumerate(lines):
            skip_reason = line.pop('governor_skip', False)
            if not skip_reason or line['verdict'] not in ('send', 'probe'):
                continue
            successor = next((later for later in lines[index + 1:] if later['verdict'] == 'fallback'), None)
            if successor:
                line.update(verdict='skipped', reason=self.env._('Skipped: %s.', skip_reason))
                successor.update(verdict='send', reason=self.env._('The first account that can take it now.'))

    def _governor_values(self, account, line, now):
        """The account's throughput governor as it stands (rate, segments today, a
        provider's pause), and why the SMS would wait in the queue instead of leaving now."""
        governor, state, waits, long_waits = governor_waits(self.env, account, now)
        if governor is None:
            return {'throughput': False}
        settings = governor.settings
        used = int(round(state.used_today))
        parts = [self.env._('%s segments/s', f'{settings.rate:g}')] if settings.rate else []
        if settings.daily_cap:
            parts.append(self.env._('%(used)s of %(cap)s segments today', used=used, cap=settings.daily_cap))
        else:
            parts.append(self.env._('%s segments today', used))
        values = {'throughput': ', '.join(parts)}
        if state.paused_until and state.paused_until > now:
            values['paused_until'] = max(filter(None, (line.get('paused_until'), _naive_utc(state.paused_until))))
        if waits and line['verdict'] in ('send', 'probe'):
            values['reason'] = self.env._('Would wait in the queue for this account: %s.', '; '.join(waits))
        if long_waits:
            values['governor_skip'] = '; '.join(long_waits)
        return values

    def _credit_values(self, account):
        """The credit as the account shows it ("Unknown" until read), and whether it is
        low; "Not reported" for providers without a credit that was never read."""
        if not account:
            return {'credit_display': False, 'credit_low': False}
        if not account.credit_checked_at and not account._sms_router_supports_credit():
            return {'credit_display': self.env._('Not reported'), 'credit_low': False}
        return {'credit_display': account.credit_display, 'credit_low': account.credit_low}

    def action_refresh(self):
        """Read the breakers and credits again (the result is computed when the form reads it)."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._('Route Tester'),
            'res_model': self._name,
            'res_id': self.id,
            'view_mode': 'form',
            'target': 'new',
            'context': {**self.env.context, 'dialog_size': 'extra-large'},
        }


def segments_text(env, info):
    """One line for people: the encoding and segments of ``info`` (engine.segments.SegmentInfo)."""
    if info.encoding == GSM7:
        return env._('GSM-7: %(segments)s SMS (%(units)s septets; one SMS holds 160, each part of a longer one 153)',
                     segments=info.segments, units=info.units)
    return env._('Unicode (UCS-2): %(segments)s SMS (%(units)s characters; one SMS holds 70, each part of a longer '
                 'one 67)', segments=info.segments, units=info.units)


def _example_number_of(route):
    """A number the route serves, when it names prefixes or countries: an example of its
    first prefix that has one, else of its first country."""
    for prefix in route._prefix_list():
        number = example_number(prefix)
        if number:
            return number
    for country in route.country_ids:
        number = example_number(region=country.code)
        if number:
            return number
    return False


class SmsRouterRouteTesterLine(models.TransientModel):
    _name = 'sms.router.route.tester.line'
    _description = 'SMS Router: Route Tester Chain Step'
    _order = 'sequence, id'

    tester_id = fields.Many2one('sms.router.route.tester', ondelete='cascade')
    sequence = fields.Integer()
    account_id = fields.Many2one('sms.router.account')
    name = fields.Char('Account')
    provider = fields.Char()
    last_resort = fields.Boolean(help="Odoo IAP, tried when the chain's accounts failed.")
    breaker_state = fields.Selection([
        ('closed', 'Closed'), ('open', 'Open'), ('half-open', 'Half-open'), ('forced', 'Forced open'),
        ('none', 'No breaker'),
    ], string='Breaker')
    next_probe_at = fields.Datetime(help='When the open breaker lets one SMS test the provider.')
    paused_until = fields.Datetime(help='The provider asked to wait (Retry-After) until then.')
    throughput = fields.Char(help="The account's rate limit and the segments it sent today.")
    credit_display = fields.Char('Credit')
    credit_low = fields.Boolean('Low Credit', help='The known credit is below the account\'s threshold.')
    configuration_error = fields.Char('Misconfigured')
    verdict = fields.Selection([
        ('send', 'Would send now'),
        ('probe', 'Would send now (probe)'),
        ('fallback', 'Fallback'),
        ('skipped', 'Skipped'),
        ('misconfigured', 'Skipped: misconfigured'),
    ])
    reason = fields.Char('Why')
    # The sample message as this account would send it (see _segment_lines).
    smart_encoding = fields.Selection(SMART_ENCODING_LEVELS)
    encoding = fields.Selection(ENCODINGS)
    segments = fields.Integer(help='SMS parts the sample message makes through this account.')
    ucs2_chars = fields.Char('Forcing Unicode',
                             help='Characters still outside the GSM-7 alphabet once its smart encoding is applied.')
    appended_text = fields.Char(
        'Added by Provider',
        help='Text the provider appends to this SMS (e.g. a STOP mention), counted in its segments.')
