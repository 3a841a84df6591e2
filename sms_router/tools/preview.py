"""What sending would do, read-only: the route tester for one number, the send preview for
the recipients of a mass SMS or an SMS mailing.

Both read the numbers as sending does (``CompanyRouting.match``: route, strategy, quality
breaker) and ask ``Dispatcher.preview`` which account of the chain would take the SMS now
(breakers peeked, never admitted), then apply the throughput governor's long waits (a
daily cap reached, a long Retry-After) as ``Dispatcher._govern`` does: the next account of
the chain sends, the last one makes the SMS wait. Nothing is sent, nothing is written.

``SendPreview`` does it for many recipients at the cost of a few reads per preview: each
number is parsed once, each distinct chain is previewed once, the governors, the send
windows and the prices are read once, and the recipients are counted by (destination
country, sending account, segments, departure) rather than kept one by one.
"""
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from ..engine.breakers import utcnow
from ..engine.dispatcher import LONG_GOVERNOR_WAIT, Dispatcher, QueuedSms
from ..engine.reasons import reason_of
from ..engine.routing import TRAFFIC_MARKETING, NumberError
from ..engine.windows import WindowNeverOpens
from .reason_text import render_reason
from .sms_api import CompanyRouting, SmsRouterApi, hold_retry_seconds

_logger = logging.getLogger(__name__)

# What becomes of a recipient's SMS (sms.router.send.preview.line's status).
SEND = 'send'                # an account takes it now
WINDOW = 'window'            # it waits for its send window, then goes through that account
WAIT = 'wait'                # it waits in the queue for its account (daily cap, Retry-After)
HOLD = 'hold'                # no account can take it now: held until its chain is tried again
FAIL = 'fail'                # no account can take it now and the company does not hold SMS
NO_ROUTE = 'no_route'        # no route and no last resort: it would fail
UNUSABLE = 'unusable'        # the number cannot be read (or is missing)


def preview_dispatcher(env, company):
    """A dispatcher with the options ``company``'s batches get (see SmsRouterApi), to
    preview with. Its time budget (an account slower than it is skipped as misconfigured)
    is that of this request, as for an SMS sent from a form."""
    _started, budget = SmsRouterApi(env)._sms_router_time_budget()
    return Dispatcher(timeout_policy=company.sms_router_timeout_policy, time_budget=budget,
                      hold=bool(company.sms_router_max_hold_hours), retry_delay=hold_retry_seconds(env))


def governor_waits(env, account, now):
    """(governor or None, its state or None, waits, long waits) of ``account`` (an
    sms.router.account, or None for Odoo IAP): why an SMS would wait for it now (a
    provider's Retry-After, its daily cap reached), as sentences; the long ones are those
    the next account of a chain does not wait for (Dispatcher._govern)."""
    governor = account._sms_router_governor() if account else None
    if governor is None:
        return None, None, [], []
    settings, state = governor.settings, governor.state()
    waits, long_waits = [], []
    if state.paused_until and state.paused_until > now:
        waits.append(env._('the provider asked to wait until %s UTC (Retry-After)',
                           f'{state.paused_until:%Y-%m-%d %H:%M:%S}'))
        if (state.paused_until - now).total_seconds() > LONG_GOVERNOR_WAIT:
            long_waits.append(waits[-1])
    if settings.daily_cap and int(round(state.used_today)) >= settings.daily_cap:
        waits.append(env._('its daily cap of %s segments is reached', settings.daily_cap))
        long_waits.append(waits[-1])
    return governor, state, waits, long_waits


@dataclass
class ChainOutcome:
    """What a chain does with an SMS now: the handle of the sending account (None: none
    can), the status (SEND, WAIT, HOLD, FAIL), why, and until when it would be held."""

    sender: object
    status: str
    reason: str = ''
    hold_until: object = None


@dataclass
class Group:
    """Recipients that go the same way: same company, destination country, sending
    account, segments, status and departure."""

    company: object
    region: str
    account_id: object           # sms.router.account id; None: Odoo IAP or no account
    account_name: str
    status: str
    segments: int = 0
    leaves_at: object = None     # aware UTC: its send window opens (or it is held) until then
    window_rule_id: object = None
    reason: str = ''
    count: int = 0
    names: list = field(default_factory=list)
    # The price per segment and its currency record, filled once per preview (price_groups).
    price: object = None
    currency: object = None


class SendPreview:
    """The preview of one company's SMS of one traffic (``add`` each recipient, then read
    ``groups``): see the module's docstring. ``env`` is the sending environment (its
    language renders the reasons)."""

    SAMPLE_NAMES = 3

    def __init__(self, env, company, traffic):
        self.env = env
        self.company = company
        self.traffic = traffic
        self.marketing = traffic == TRAFFIC_MARKETING
        self.now = utcnow()
        self.routing = CompanyRouting(env, company)
        self.dispatcher = preview_dispatcher(env, company)
        self.gate = self._window_gate()
        self._outcomes = {}      # chain (tuple of handle ids) -> ChainOutcome
        self._governed = {}      # account id -> long waits (sentences)
        self._measures = {}      # (account id, region, body) -> segments
        self.groups = {}

    def _window_gate(self):
        try:
            gate = self.env['sms.router.send.window']._sms_router_gate(self.company, self.now)
        except Exception:  # noqa: BLE001 - a preview without windows says so rather than failing
            _logger.exception('SMS router: the send windows of company %s could not be read for a preview',
                              self.company.id)
            return None
        return gate if gate.rules else None

    # ---------------------------------------------------------------- recipients

    def add(self, number, body, name='', partner=None, destination=None):
        """Count one recipient: ``number`` as Odoo hands it to the router, ``body`` its
        message, ``name`` how people know it (or its record id, the caller names the few
        kept), ``partner`` its contact (its country reads a
        national number first), ``destination`` the number already read (parse_destination).
        Returns the Group it is counted in."""
        if not (number or '').strip():
            return self._count((None, UNUSABLE, self.env._('No number.')), '', None, 0, name)
        try:
            sms_like = _SmsLike(partner) if partner else None
            destination, _match, chain = self.routing.match(number, self.traffic, sms_like, destination)
        except NumberError as error:
            return self._count((None, UNUSABLE, render_reason(reason_of(error), self.env.lang)), '', None, 0, name)
        region = destination.region or ''
        if not chain:
            return self._count((None, NO_ROUTE, self.env._(
                'No route matches this number and the company has no default route nor last resort.')),
                region, None, 0, name)
        outcome = self._chain_outcome(chain)
        segments = self._segments(outcome.sender, body, region) if outcome.sender else 0
        leaves_at, rule_id, status, reason = outcome.hold_until, None, outcome.status, outcome.reason
        if self.gate and outcome.sender:
            try:
                found = self.gate.check(self.traffic, destination)
            except WindowNeverOpens as error:
                found, status, reason = None, WINDOW, self.env._(
                    'Its send windows never open together for this destination (%s): it would wait in the '
                    'queue until they are changed.', str(error))
            if found:
                opening, rule, _zone = found
                status, leaves_at, rule_id = WINDOW, opening, rule.rule_id if rule else None
                reason = self.env._("Outside its send window '%s': it would leave when the window opens.",
                                    rule.name if rule else '?')
        return self._count((outcome.sender, status, reason), region, leaves_at, segments, name, rule_id)

    def _count(self, decided, region, leaves_at, segments, name, rule_id=None):
        sender, status, reason = decided
        account_id = sender.account_id if sender is not None else None
        key = (region, account_id, status, segments, leaves_at, rule_id, reason)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(
                self.company, region, account_id if account_id in self.routing.accounts_by_id else None,
                sender.name if sender is not None else '', status, segments, leaves_at, rule_id, reason)
        group.count += 1
        if len(group.names) < self.SAMPLE_NAMES and name:
            group.names.append(name)
        return group

    def _chain_outcome(self, chain):
        """The account of ``chain`` that would send now, once per distinct chain."""
        key = tuple(id(handle) for handle in chain)
        if key not in self._outcomes:
            message = QueuedSms('send-preview', '', None, chain, self.marketing)
            preview = self.dispatcher.preview(message)
            self._outcomes[key] = self._govern(preview)
        return self._outcomes[key]

    def _govern(self, preview):
        """As Dispatcher._govern: an admitted account with a long wait is passed over when a
        later account of the chain is admitted; the last one makes the SMS wait."""
        admitted = [step for step in preview.steps if step.admitted]
        for index, step in enumerate(admitted):
            waits = self._long_waits(step.account)
            if not waits:
                return ChainOutcome(step.account, SEND)
            if index == len(admitted) - 1:
                return ChainOutcome(step.account, WAIT, self.env._(
                    'It would wait in the queue for this account: %s.', '; '.join(waits)))
        if preview.hold_until:
            return ChainOutcome(None, HOLD, self.env._(
                'No account of its chain can take it now: it would wait in the queue, then try its chain again.'),
                preview.hold_until)
        return ChainOutcome(None, FAIL, self.env._(
            'No account of its chain can take it now: it would fail (the company does not hold SMS during '
            'outages).'))

    def _long_waits(self, handle):
        if handle.account_id not in self._governed:
            account = self.routing.accounts_by_id.get(handle.account_id)
            try:
                _governor, _state, _waits, long_waits = governor_waits(self.env, account, self.now)
            except Exception:  # noqa: BLE001 - as sending, an unreadable bucket does not stop the SMS
                _logger.exception('SMS router: the governor of account %s could not be read for a preview',
                                  handle.account_id)
                long_waits = []
            self._governed[handle.account_id] = long_waits
        return self._governed[handle.account_id]

    def _segments(self, handle, body, region):
        key = (handle.account_id, region, body)
        if key not in self._measures:
            self._measures[key] = handle.measure(body or '', region, self.marketing).segments
        return self._measures[key]

    # ---------------------------------------------------------------- prices

    def price_groups(self):
        """Fill each group's price per segment and currency: every account and destination
        of the preview in one read of the price lists."""
        accounts = self.env['sms.router.account'].sudo().browse(
            sorted({group.account_id for group in self.groups.values() if group.account_id}))
        if not accounts or not hasattr(accounts, '_sms_router_segment_prices'):
            return
        regions = {group.region for group in self.groups.values() if group.account_id}
        try:
            table = accounts._sms_router_segment_prices(regions)
        except Exception:  # noqa: BLE001 - unknown prices leave the cost empty, not the preview
            _logger.exception('SMS router: the prices could not be read for a preview')
            return
        for group in self.groups.values():
            if group.account_id:
                amount, currency = table.get((group.account_id, group.region)) or (False, False)
                if currency and amount is not False and amount is not None:
                    group.price, group.currency = float(amount), currency


class _SmsLike:
    """What CompanyRouting reads of an SMS: its contact (the country of a national number)."""

    __slots__ = ('partner_id',)

    def __init__(self, partner):
        self.partner_id = partner


def group_by_status(groups):
    """{status: [groups]}, for the summary."""
    by_status = defaultdict(list)
    for group in groups:
        by_status[group.status].append(group)
    return by_status
