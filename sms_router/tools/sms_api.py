"""The router as Odoo sees it: an ``SmsApiBase`` whose ``_send_sms_batch`` fails over.

Odoo makes one ``_send_sms_batch`` call per batch and expects one final result per SMS, so
the whole failover happens inside it: records are turned into engine messages, the engine
dispatches them, and the trail, the credit updates and the opt-outs are written back.
"""
import logging
import threading
import time
from collections import defaultdict
from datetime import timedelta, timezone

import requests

from odoo import fields, http
from odoo.addons.base.models.ir_cron import MIN_TIME_PER_JOB
from odoo.addons.iap.tools.iap_tools import InsufficientCreditError
from odoo.addons.sms.tools.sms_api import SmsApi, SmsApiBase
from odoo.service.server import SLEEP_INTERVAL
from odoo.tools import config
from odoo.tools.urls import urljoin as url_join

from ..engine.dispatcher import AT_MOST_ONCE, SmsVerdict, Dispatcher, QueuedSms
from ..engine.outcomes import BatchResult, OutcomeKind, ProviderClient, RecipientOutcome
from ..engine.reasons import _lt, reason_of
from ..engine.routing import TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL, NumberError, parse_destination
from ..engine.strategies import ORDERED_REASON
from ..engine.validity import expired_outcome
from ..engine.windows import TRAFFIC_ALL, WindowNeverOpens, local_text
from ..engine.transport import never_connected
from .reason_text import company_lang, render_reason, render_verdicts
from .strategy import order_by_strategy, strategy_explanation

_logger = logging.getLogger(__name__)

# Failure types that sms.sms, mail.notification and mailing.trace all accept. Any other
# failure type is reported to Odoo as "unknown" and restored on the SMS afterwards, so that
# notifications never receive a value they do not know.
SHARED_FAILURE_TYPES = (
    'sms_number_missing', 'sms_number_format', 'sms_credit', 'sms_country_not_supported',
    'sms_registration_needed', 'sms_server', 'sms_acc',
    # Odoo's delivery-report failure type, which the router adds to sms.sms (Expired).
    'sms_expired',
)
# Failure types that sms.sms and mailing.trace (mass_mailing_sms) know but mail.notification
# does not: Odoo is told "unknown", the SMS and its mailing trace get the precise type.
TRACE_FAILURE_TYPES = ('sms_optout', 'sms_duplicate')
ROUTER_STATE_PREFIX = 'router_'

IAP_STATE_OUTCOMES = {
    'success': (OutcomeKind.SENT, None),
    'processing': (OutcomeKind.SENT, None),  # accepted, held for moderation: see `held` below
    'wrong_number_format': (OutcomeKind.RECIPIENT, 'sms_number_format'),
    'duplicate_message': (OutcomeKind.RECIPIENT, 'sms_duplicate'),
    'incompatible_content': (OutcomeKind.RECIPIENT, 'unknown'),
    'insufficient_credit': (OutcomeKind.ACCOUNT, 'sms_credit'),
    'unregistered': (OutcomeKind.ACCOUNT, 'sms_acc'),
    'country_not_supported': (OutcomeKind.DESTINATION, 'sms_country_not_supported'),
    'registration_needed': (OutcomeKind.DESTINATION, 'sms_registration_needed'),
    'server_error': (OutcomeKind.PROVIDER, 'sms_server'),
}


# Odoo IAP answers in 15 s or times out (SmsApi._contact_iap's default), which requests
# applies to connecting and to reading alike.
IAP_TIMEOUT = 15.0
IAP_MAX_SEND_SECONDS = 2 * IAP_TIMEOUT
# Retry delay of a long hold, at most (see _retry_delay).
MAX_RETRY_DELAY = 900
# Attempts that made no request (breaker open, paused, credit low, account misconfigured,
# validity passed): nothing was sent nor billed, so they carry no encoding nor segments and a
# sum of segments per account is what the providers were handed.
NO_REQUEST_KINDS = frozenset({OutcomeKind.SKIPPED, OutcomeKind.MISCONFIGURED, OutcomeKind.EXPIRED, OutcomeKind.WAITING})
# The longest an SMS may keep being deferred when the company does not hold SMS.
DEFAULT_MAX_WAIT = timedelta(hours=4)
# The longest a batch waits for its accounts' rate limits (seconds; system parameter
# sms_router.governor_pacing_seconds, 0: until its time budget ends): the SMS it could not
# send by then stay queued for the next batch, which commits what this one sent.
GOVERNOR_PACING = 30
# A prefork cron worker sleeps up to this long, after its watchdog ping, waiting for work.
PREFORK_CRON_IDLE = SLEEP_INTERVAL + 10


def iap_state_reason(env, state):
    """A plain sentence for an IAP result state.

    Odoo's own messages (``SmsApi._get_sms_api_error_messages``) are HTML with links that
    carry the IAP account token; they must not reach failure reasons, which operators and
    marketing users read, nor the log."""
    reasons = {
        'wrong_number_format': env._('Odoo IAP: the number is not valid.'),
        'duplicate_message': env._('Odoo IAP: the same message was already sent to this number.'),
        'incompatible_content': env._('Odoo IAP: the content of the message was refused.'),
        'insufficient_credit': env._('Odoo IAP: not enough credit to send this SMS.'),
        'unregistered': env._('Odoo IAP: the account is not registered for SMS.'),
        'country_not_supported': env._('Odoo IAP: this country is not supported.'),
        'registration_needed': env._('Odoo IAP: this country requires a sender registration first.'),
        'server_error': env._('Odoo IAP: server error.'),
    }
    return reasons.get(state) or env._('Odoo IAP: unexpected answer "%s".', str(state)[:40])


def classify_iap_error(env, error):
    """(OutcomeKind, failure type, reason) for an exception of Odoo's IAP call.

    ``iap_jsonrpc`` turns every transport problem into an AccessError raised while handling
    the original ``requests`` exception, which stays reachable as its context: a timeout
    after the request left is ambiguous (IAP may have sent the SMS), a refused connection
    is a clean failure. The exception's own text is not kept (it may name endpoints)."""
    causes = []
    current = error
    while current is not None and len(causes) < 10:
        causes.append(current)
        current = current.__cause__ or current.__context__
    for cause in causes:
        if isinstance(cause, InsufficientCreditError):
            return OutcomeKind.ACCOUNT, 'sms_credit', env._('Odoo IAP: not enough credit to send this SMS.')
        if isinstance(cause, requests.exceptions.ConnectTimeout):
            return OutcomeKind.PROVIDER, None, env._(
                'Odoo IAP could not be reached (connection timed out; nothing was sent).')
        if isinstance(cause, requests.exceptions.Timeout):
            return OutcomeKind.AMBIGUOUS, None, env._('Odoo IAP did not answer in time; it may have sent the SMS.')
        if isinstance(cause, requests.exceptions.ConnectionError):
            if never_connected(cause):
                return OutcomeKind.PROVIDER, None, env._('Odoo IAP could not be reached (nothing was sent).')
            return OutcomeKind.AMBIGUOUS, None, env._('The connection to Odoo IAP was lost before its answer; '
                                               'it may have sent the SMS.')
        if isinstance(cause, requests.exceptions.HTTPError):
            status = getattr(cause.response, 'status_code', None)
            if status in (502, 504):
                # A gateway answered for IAP: the request may have reached it.
                return OutcomeKind.AMBIGUOUS, None, env._(
                    "Odoo IAP's gateway answered HTTP %s; it may have sent the SMS.", status)
            return OutcomeKind.PROVIDER, None, env._('Odoo IAP answered with an HTTP error.')
        if isinstance(cause, ValueError):
            # requests' JSONDecodeError: IAP answered, but not with its result.
            return OutcomeKind.AMBIGUOUS, None, env._('Odoo IAP\'s answer could not be read; it may have sent the SMS.')
    return OutcomeKind.PROVIDER, None, env._('Odoo IAP is not available (%s).', type(error).__name__)


class IapClient(ProviderClient):
    """Odoo IAP through Odoo's own ``SmsApi``, so credits and behaviour stay Odoo's."""

    provider = 'iap'
    max_recipients_per_request = 500
    runs_in_main_thread = True  # it uses the Odoo environment
    # IAP takes a list of bodies in one call, as Odoo's own sending does: a round of
    # personalised SMS costs one call, not one per body.
    accepts_mixed_bodies = True

    def __init__(self, env):
        self.env = env

    def max_send_seconds(self):
        return IAP_MAX_SEND_SECONDS

    def send(self, request):
        api = SmsApi(self.env)
        by_body = defaultdict(list)
        for recipient in request.recipients:
            by_body[request.body_for(recipient)].append({'uuid': recipient.key, 'number': recipient.number})
        payload = [{'content': body, 'numbers': numbers} for body, numbers in by_body.items()]
        # As Odoo's own sending does: IAP posts its delivery reports to /sms/status.
        delivery_reports_url = url_join(self.env['sms.sms'].get_base_url(), '/sms/status')
        try:
            results = api._send_sms_batch(payload, delivery_reports_url=delivery_reports_url)
        except Exception as error:  # noqa: BLE001 - IAP raises for unreachable service, install mode, ...
            kind, failure_type, reason = classify_iap_error(self.env, error)
            return BatchResult.for_all(request, kind, reason, failure_type=failure_type)
        outcomes = {}
        for result in results or []:
            state = result.get('state')
            kind, failure_type = IAP_STATE_OUTCOMES.get(state, (OutcomeKind.PROVIDER, 'unknown'))
            reason = '' if kind is OutcomeKind.SENT else iap_state_reason(self.env, state)
            outcomes[result.get('uuid')] = RecipientOutcome(
                kind, reason, failure_type=failure_type, held=state == 'processing')
        return BatchResult(outcomes)


def reading_region(company, partner=None):
    """The country (ISO code) a national number of ``company``'s SMS to ``partner`` is read
    in: the partner's, else the company's (sending and the route tester alike)."""
    return (partner and partner.country_id.code) or company.country_id.code


class CompanyRouting:
    """How the router reads the numbers of one company's SMS and which chain each gets: the
    company's routing table, its accounts as the dispatcher sees them, Odoo IAP as last
    resort. Sending and the route tester both use it, so that the tester shows what
    sending does. Building it reads the breakers (a side cursor); it writes nothing."""

    def __init__(self, env, company):
        self.company = company
        self.table = env['sms.router.route']._sms_router_table(company)
        # The sending company's environment: Odoo IAP then draws on that company's IAP
        # account, not on one of whichever companies the cron's user belongs to.
        self.env = env(context=dict(env.context, allowed_company_ids=company.ids))
        accounts = self.env['sms.router.account'].sudo().search([('company_id', '=', company.id)])
        self.accounts_by_id = {account.id: account for account in accounts}
        self.store = env['sms.router.breaker']._store()
        self._handles = {}
        self.last_resort = None
        if company.sms_router_iap_last_resort:
            self.last_resort = self.env['sms.router.account']._sms_router_iap_last_resort_handle()

    def region(self, sms=None):
        """The country a national number is read in: the recipient's, else the company's."""
        return reading_region(self.company, sms and sms.partner_id)

    def handle(self, account_id):
        if account_id not in self._handles:
            self._handles[account_id] = self.accounts_by_id[account_id]._sms_router_handle(self.store)
        return self._handles[account_id]

    def chain(self, route):
        """The AccountHandles ``route`` (None: no route matched) sends through, in order."""
        chain = [self.handle(account_id) for account_id in (route.chain if route else ())
                 if account_id in self.accounts_by_id]
        if self.last_resort and not any(handle.client.provider == 'iap' for handle in chain):
            chain.append(self.last_resort)
        return tuple(chain)

    def match(self, raw_number, traffic, sms=None, destination=None):
        """(Destination, RouteMatch, chain) of a number, as sending reads it; raises
        NumberError for an unreadable number. ``destination``: the number already read by
        parse_destination (the send preview reads each number once)."""
        destination = destination or parse_destination(raw_number, self.region(sms))
        match = self.table.explain(destination, traffic)
        # The route's strategy (least cost, best delivery, weighted split) orders its chain;
        # the quality breaker then skips, in place, the accounts it ejected (a Skipped attempt).
        chain, _reason = order_by_strategy(self, match.route, destination, self.chain(match.route), sms)
        return destination, match, self.quality_chain(chain, destination.region)

    def quality_chain(self, chain, region):
        """``chain`` with the accounts the quality breaker ejected for ``region`` skipped
        (sms.router.quality: read once per batch, one query; nothing when none is ejected)."""
        if not hasattr(self, '_quality_gate'):
            self._quality_gate = self.env['sms.router.quality']._sms_router_gate(self.company)
        return self._quality_gate.apply(chain, region) if self._quality_gate else chain


# Minutes an SMS waits when its send windows could not be checked, before it is checked again.
GATE_RETRY_MINUTES = 5


class _BrokenGate:
    """Stands for a company's WindowGate that could not be built (``error``): an SMS its
    rules may govern (``scope``: {(traffic, country code or '')}, None: every SMS) waits."""

    def __init__(self, now, scope, error):
        self.now, self.scope, self.error = now, scope, error

    def __bool__(self):
        return True

    def check(self, traffic, destination):
        raise self.error

    def governs(self, traffic, region):
        return self.scope is None or any(
            rule_traffic in (TRAFFIC_ALL, traffic) and code in ('', region) for rule_traffic, code in self.scope)


class SmsRouterApi(SmsApiBase):
    PROVIDER_TO_SMS_FAILURE_TYPE = SmsApiBase.PROVIDER_TO_SMS_FAILURE_TYPE | {
        failure_type: failure_type for failure_type in SHARED_FAILURE_TYPES
    }

    def _send_sms_batch(self, messages, delivery_reports_url=False):
        """Fail over every SMS of ``messages``; return one result per SMS that is decided.

        SMS left out of the results stay queued (``outgoing``) for a later run, untouched by
        Odoo: those the deadline did not reach (deferred) and those held while every
        provider of their chain is down (with a retry time and the reason).
        """
        started = time.perf_counter()
        company = self.company
        # Everything this batch writes for people (trail, reasons, notes) is in the sending
        # company's language, whoever sends: see tools/reason_text.py.
        env = self.env = self.env(context=dict(self.env.context, lang=company_lang(self.env, company)))
        uuids = [number['uuid'] for message in messages for number in message['numbers']]
        sms_by_uuid = {sms.uuid: sms for sms in env['sms.sms'].sudo().search([('uuid', 'in', uuids)])}
        routing = CompanyRouting(env, company)
        accounts_by_id = routing.accounts_by_id

        # "At most once": SMS that a dead worker may already have handed to a provider are
        # flagged for review instead of being sent again, and this dispatch journals its
        # own hand-offs (each committed before its provider call).
        journal = interrupted = None
        if company.sms_router_timeout_policy == AT_MOST_ONCE:
            journal = env['sms.router.handoff']._journal()
            interrupted = env['sms.router.handoff']._interrupted(uuids)

        now = fields.Datetime.now()
        retry_delay = hold_retry_seconds(env)
        # Send windows: the company's rules are read once per batch; an SMS outside its
        # window waits (not_before) without entering the dispatcher. Checked at every send,
        # so a window holds after a failover, a hold, a restart or a resend alike.
        window_gate = self._sms_router_window_gate(now.replace(tzinfo=timezone.utc))
        outside_window = {}
        window_ids = {}
        never_open = {}     # rule names -> (count, Reason): rules that never open together
        strategy_notes = {}  # uuid -> why its route's strategy chose its first account (Reason)
        engine_messages = []
        expired = {}
        for message in messages:
            for number in message['numbers']:
                if interrupted and number['uuid'] in interrupted:
                    continue
                sms = sms_by_uuid.get(number['uuid'])
                expires_at, validity = _expiry(sms)
                if expires_at and expires_at <= now:
                    # Its validity passed while it waited (hold, send window, pause, restart):
                    # it ends Expired before anything else is decided for it.
                    expired[number['uuid']] = SmsVerdict(number['uuid'], expired_outcome(
                        expires_at.replace(tzinfo=timezone.utc), validity))
                    continue
                marketing = bool(sms and sms.sms_router_traffic == TRAFFIC_MARKETING)
                try:
                    destination, _match, chain = routing.match(
                        number['number'], TRAFFIC_MARKETING if marketing else TRAFFIC_TRANSACTIONAL, sms)
                except NumberError as error:
                    engine_messages.append(QueuedSms(number['uuid'], message['content'],
                                                     number_error=reason_of(error)))
                    continue
                # What the route tester would explain for it, kept for its first attempt: the
                # same Reason for a whole batch to a country (least cost, best delivery), one
                # per SMS for a weighted split (its draw); none for the chain's order.
                note = strategy_explanation(routing)
                if note is not None and note is not ORDERED_REASON:
                    strategy_notes[number['uuid']] = note
                allowed_until = None
                if window_gate:
                    traffic = TRAFFIC_MARKETING if marketing else TRAFFIC_TRANSACTIONAL
                    try:
                        wait = self._sms_router_window_wait(window_gate, number['uuid'], traffic, destination,
                                                            never_open)
                        # The end of the window it is admitted in: the dispatcher makes no
                        # request for it after that (a failover step, a slow batch or the
                        # governor's pacing may outlast the window); it then stays queued
                        # and the next batch makes it wait.
                        allowed_until = None if wait else window_gate.allowed_until(traffic, destination)
                    except Exception as error:  # noqa: BLE001 - window bookkeeping never fails a batch
                        wait = self._sms_router_gate_failed(window_gate, number['uuid'], traffic, destination,
                                                            error)
                    if wait:
                        outside_window[number['uuid']], window_ids[number['uuid']] = wait
                        continue
                engine_messages.append(QueuedSms(number['uuid'], message['content'], destination,
                                               chain, marketing,
                                               retry_delay=_retry_delay(sms, now, retry_delay),
                                               expires_at=expires_at and expires_at.replace(tzinfo=timezone.utc),
                                               validity=validity, allowed_until=allowed_until,
                                               throttles=sms.sms_router_throttles if sms else 0))

        max_hold = timedelta(hours=company.sms_router_max_hold_hours or 0)
        # `started` times this batch for its log line; the budget may have begun long before.
        budget_started, budget = self._sms_router_time_budget()
        dispatcher = Dispatcher(timeout_policy=company.sms_router_timeout_policy,
                                on_handoff=journal.record if journal else None,
                                deadline=None if budget is None else budget_started + budget,
                                time_budget=budget, hold=bool(max_hold), retry_delay=retry_delay,
                                pacing=_int_param(env, 'sms_router.governor_pacing_seconds', GOVERNOR_PACING) or None,
                                priority_waiting=lambda: env['sms.sms']._sms_router_priority_waiting(
                                    [sms.id for sms in sms_by_uuid.values()]))
        verdicts = dispatcher.dispatch(engine_messages)
        verdicts.update(expired)
        verdicts.update(outside_window)
        render_verdicts(verdicts, env.lang)
        tokens = dict.fromkeys(verdicts, journal.token if journal else False)
        for key, (token, account_name, handed_at) in (interrupted or {}).items():
            verdicts[key] = SmsVerdict(key, RecipientOutcome(OutcomeKind.AMBIGUOUS, env._(
                'interrupted: handed to %(account)s at %(when)s UTC by a worker that stopped before '
                'recording the answer; it may have been sent',
                account=account_name or '?', when=handed_at.strftime('%Y-%m-%d %H:%M:%S'))),
                needs_review=True)
            tokens[key] = token  # recording this attempt settles the interrupted hand-off

        # Waiting has an end: past the company's maximum hold (for deferrals, which repeat
        # only when something keeps failing, that or DEFAULT_MAX_WAIT) the SMS ends in error.
        max_deferral = max_hold or DEFAULT_MAX_WAIT
        for key, verdict in verdicts.items():
            sms = sms_by_uuid.get(key)
            since = sms.sms_router_held_since if sms else None
            if verdict.held and (not sms or (since or now) + max_hold <= now):
                if since:
                    verdict.outcome.reason = env._(
                        'Still failing after %(hours)s h on hold: %(reason)s',
                        hours=company.sms_router_max_hold_hours, reason=verdict.outcome.reason)
                verdict.hold_until = None
            elif verdict.deferred and not verdict.paced and since and since + max_deferral <= now:
                verdict.deferred = False
                verdict.outcome = RecipientOutcome(OutcomeKind.PROVIDER, env._(
                    'Could not be handed to a provider since %(since)s UTC: every batch ran out of '
                    'time or could not journal it first.', since=fields.Datetime.to_string(since)))

        numbers = {m.key: (m.destination.e164 if m.destination else None) for m in engine_messages}
        raw_numbers = {n['uuid']: n['number'] for message in messages for n in message['numbers']}
        # The providers have answered: from here on a bookkeeping fault must not turn the
        # batch into an exception (Odoo would fail every SMS of it, accepted ones included,
        # and Resend would send them twice). Each step is undone alone and logged.
        regions = {m.key: m.destination.region for m in engine_messages if m.destination}
        bodies = {m.key: (m.body, m.marketing) for m in engine_messages}
        self._bookkeeping(self._record_trail, verdicts, numbers, raw_numbers, accounts_by_id, tokens, regions,
                          bodies, _wait_starts(verdicts, sms_by_uuid), strategy_notes)
        for account_id, updates in dispatcher.account_updates.items():
            if account_id in accounts_by_id:
                self._bookkeeping(accounts_by_id[account_id]._sms_router_apply_updates, updates)
        self._bookkeeping(self._log_breaker_transitions, engine_messages, accounts_by_id)
        self._bookkeeping(self._blacklist_opt_outs, verdicts, numbers)
        waiting = {key: verdict for key, verdict in verdicts.items()
                   if verdict.held or verdict.deferred or verdict.waiting}
        # Progress: some SMS decided, or told when they may go (a wait is not a failure).
        progressed = any(not verdict.deferred for verdict in waiting.values()) or len(waiting) < len(verdicts)
        # SMS left queued by a governor (the rate limit, the lanes): nothing failed, due again at once.
        progressed = progressed or bool(dispatcher.paced)
        # SMS whose send window closed during the batch: due again at once, to wait for the next.
        progressed = progressed or bool(dispatcher.window_closed)
        self._bookkeeping(self._keep_queued, waiting, sms_by_uuid, now, progressed, retry_delay)
        if window_gate:
            self._bookkeeping(self._mark_window_waits, window_ids, sms_by_uuid)
        if never_open:
            self._bookkeeping(self._window_conflicts, never_open)
        self._bookkeeping(self._trigger_expiry, waiting, sms_by_uuid)
        self._bookkeeping(self._raise_alerts, verdicts, waiting)
        sent = sum(1 for d in verdicts.values() if d.sent)
        held = sum(1 for d in waiting.values() if d.held)
        not_yet = sum(1 for d in waiting.values() if d.waiting)
        _logger.info('SMS router: company %s: %d SMS, %d sent, %d failed, %d held, %d waiting, %d deferred, '
                     '%d provider requests in %.2f s',
                     company.id, len(verdicts), sent, len(verdicts) - sent - len(waiting), held, not_yet,
                     len(waiting) - held - not_yet, dispatcher.requests_made, time.perf_counter() - started)
        return [self._result(key, verdict) for key, verdict in verdicts.items() if key not in waiting]

    def _sms_router_window_gate(self, now):
        """The company's WindowGate for this batch. When its rules cannot be read or used,
        a _BrokenGate: the SMS its rules may govern wait a few minutes, the others go."""
        try:
            with self.env.cr.savepoint():
                return self.env['sms.router.send.window']._sms_router_gate(self.company, now)
        except Exception as error:  # noqa: BLE001 - window bookkeeping never fails a batch
            _logger.exception('SMS router: company %s: the send windows could not be read; the SMS they may '
                              'govern wait %s min', self.company.id, GATE_RETRY_MINUTES)
            return _BrokenGate(now, self._sms_router_window_scope(), error)

    def _sms_router_window_scope(self):
        """{(traffic, country code or '')} the company's active send windows govern ('' for
        every country), read raw; None (every SMS) when even that fails."""
        try:
            with self.env.cr.savepoint():
                rules = self.env['sms.router.send.window'].sudo().search_fetch(
                    [('company_id', '=', self.company.id)], ['traffic', 'country_ids'])
                return {(rule.traffic, (country.code or '').upper())
                        for rule in rules for country in (rule.country_ids or [self.env['res.country']])}
        except Exception:  # noqa: BLE001 - then every SMS waits
            _logger.exception('SMS router: company %s: the send windows could not be listed', self.company.id)
            return None

    def _sms_router_gate_failed(self, gate, key, traffic, destination, error):
        """(waiting SmsVerdict, False) for an SMS the company's send windows may govern but
        that could not be checked (``error``), or None when no window may govern it. It
        waits GATE_RETRY_MINUTES and is checked again: never sent outside a window, never
        failed by the check."""
        if not isinstance(gate, _BrokenGate):
            try:
                governed = bool(gate.applicable(traffic, destination))
            except Exception:  # noqa: BLE001 - then it may be governed: it waits
                governed = True
            if not governed:
                return None
            if not getattr(gate, 'check_failed', False):
                gate.check_failed = True     # logged once per batch
                _logger.exception('SMS router: company %s: send window check failed; the SMS concerned wait %s '
                                  'min', self.company.id, GATE_RETRY_MINUTES)
        elif not gate.governs(traffic, destination.region or ''):
            return None
        return SmsVerdict(key, None, not_before=gate.now + timedelta(minutes=GATE_RETRY_MINUTES), wait_reason=_lt(
            'Its send windows could not be checked (%(error)s): it waits in the queue and is checked again in '
            '%(minutes)s min.', error=type(error).__name__, minutes=GATE_RETRY_MINUTES)), False

    def _sms_router_window_wait(self, gate, key, traffic, destination, never_open=None):
        """(waiting SmsVerdict, send window id) for an SMS outside its send window, or None
        when it may go now. The next opening is cached per (traffic, country, time zones)
        for the batch (WindowGate). Rules that never open together are counted in
        ``never_open`` ({rule names: [count, Reason]}) for one warning and one alert per batch."""
        try:
            found = gate.check(traffic, destination)
        except WindowNeverOpens as error:
            # The rules contradict each other for this destination: the SMS waits (never
            # sent outside a window, never dropped), says why, and is checked again in a day.
            rules = gate.applicable(traffic, destination)
            if never_open is not None:
                never_open.setdefault(tuple(rule.name for rule in rules), [0, reason_of(error)])[0] += 1
            return SmsVerdict(key, None, not_before=gate.now + timedelta(days=1), wait_reason=_lt(
                'Outside its send windows, which never open together for this destination (%s): change '
                'them; the SMS waits in the queue meanwhile.', reason_of(error))), rules[0].rule_id if rules else False
        if not found:
            return None
        opening, rule, zone = found
        return SmsVerdict(key, None, not_before=opening, wait_reason=self.env._(
            "Outside its send window '%(window)s' until %(when)s", window=rule.name if rule else '?',
            when=local_text(opening, zone or 'UTC'))), rule.rule_id if rule else False

    def _window_conflicts(self, never_open):
        """One warning and one alert per batch for each set of send windows that never
        open together (``never_open``: {rule names: [SMS count, Reason]}), not one per SMS."""
        for (count, reason) in never_open.values():
            _logger.warning('SMS router: company %s: %d SMS wait: %s', self.company.id, count, reason)
            self.env['sms.router.alert']._sms_router_windows_never_open(self.company, count, reason)

    def _mark_window_waits(self, window_ids, sms_by_uuid):
        """Remember which send window each SMS of ``window_ids`` ({uuid: window id}) waits
        for (the Outgoing SMS filter *Waiting for Send Window*); the other SMS of the batch
        that were waiting for one no longer are."""
        by_window = defaultdict(list)
        for key, window_id in window_ids.items():
            if key in sms_by_uuid:
                by_window[window_id].append(sms_by_uuid[key])
        for window_id, records in by_window.items():
            self.env['sms.sms'].union(*records).write({'sms_router_window_id': window_id})
        done = [sms for key, sms in sms_by_uuid.items() if key not in window_ids]
        self.env['sms.sms'].union(*done).filtered('sms_router_window_id').write({'sms_router_window_id': False})

    def _sms_router_time_budget(self):
        """(start, seconds): when the time Odoo allows this worker began (``time.monotonic``)
        and how long it is, less a margin for recording the batch; seconds is None when
        nothing limits it.

        Odoo kills a worker that outlives its real-time limit (``limit_time_real_cron`` for
        cron workers, ``limit_time_real`` otherwise) and rolls its transaction back after
        providers accepted SMS: the queue would send them again. The limit counts from:
        - in the threaded server, the start of the thread's work (an HTTP request, or a cron
          thread's pass over the database's jobs, several jobs and batches included);
        - in a prefork cron worker, its last watchdog ping, made before it sleeps up to
          ``SLEEP_INTERVAL`` + 10 s waiting for work: counted from the job's start, less
          that sleep;
        - elsewhere (a prefork HTTP worker), the request's start, unknown here: this batch's.
        The system parameter ``sms_router.dispatch_time_limit`` (seconds) can make it shorter.
        """
        context = self.env.context
        in_cron = 'cron_end_time' in context and not http.request
        limit = config['limit_time_real']
        if in_cron and (config['limit_time_real_cron'] or 0) > 0:
            limit = config['limit_time_real_cron']
        now = time.monotonic()
        started = now
        thread_started = getattr(threading.current_thread(), 'start_time', None)
        if thread_started:
            started = now - max(0.0, time.time() - thread_started)
        elif in_cron:
            started = context['cron_end_time'] - MIN_TIME_PER_JOB
            if limit and limit > 0 and config['workers']:
                if limit > PREFORK_CRON_IDLE:
                    limit -= PREFORK_CRON_IDLE
                else:
                    # A worker that slept its whole interval would have been killed by Odoo
                    # before this job (it kills idle cron workers past the limit): this one
                    # was woken by a trigger, assumed within the first half of the limit.
                    limit /= 2
        configured = _int_param(self.env, 'sms_router.dispatch_time_limit', 0)
        budgets = [value for value in (limit, configured) if value and value > 0]
        if not budgets:
            return started, None
        budget = min(budgets)
        # Room for recording the batch (trail, states, commit) after the last answer: 10 %,
        # at least 5 s, at most a quarter of a small budget.
        return started, budget - min(max(5.0, budget * 0.1), budget / 4)

    def _sms_router_deadline(self):
        """The ``time.monotonic()`` moment after which no provider request may still run."""
        started, budget = self._sms_router_time_budget()
        return None if budget is None else started + budget

    def _bookkeeping(self, step, *args):
        try:
            with self.env.cr.savepoint():
                step(*args)
        except Exception:  # noqa: BLE001 - see _send_sms_batch
            _logger.exception('SMS router: company %s: %s failed after the providers answered; '
                              'the SMS keep the states the providers gave', self.company.id, step.__name__)

    def _log_breaker_transitions(self, engine_messages, accounts_by_id):
        """Log the breaker transitions this batch made on their accounts' chatter.

        The breakers changed state in side transactions while the batch ran (the engine
        keeps the transitions it made, each made by one process only); the notes are
        written here, once the providers have answered, in the batch's transaction and
        savepoint (_bookkeeping): a failure to log loses the notes, never an SMS, and a
        batch without transitions costs nothing. Should the batch's transaction roll back,
        the breaker keeps its state and the log line of the transition remains; only the
        note is lost. Writing the notes in a transaction of their own would keep them then,
        at the price of a connection and a commit while sending.
        """
        breakers = {}
        for message in engine_messages:
            for account in message.chain or ():
                if account.breaker is not None and account.account_id in accounts_by_id:
                    breakers[account.account_id] = account.breaker
        for account_id, breaker in breakers.items():
            transitions = breaker.pop_transitions()
            if transitions:
                accounts_by_id[account_id]._sms_router_log_breaker_transitions(transitions)

    def _raise_alerts(self, verdicts, waiting):
        """One alert event per batch, not per SMS: SMS to review, SMS held because every
        account of their chain is down (debounced by sms.router.alert). A batch with
        neither costs nothing."""
        review = [verdict for verdict in verdicts.values() if verdict.needs_review]
        held = [verdict for verdict in waiting.values() if verdict.held]
        alerts = self.env['sms.router.alert']
        if review:
            alerts._sms_router_needs_review(self.company, [verdict.key for verdict in review],
                                            review[-1].outcome.reason)
        if held:
            alerts._sms_router_held(self.company, len(held), held[-1].outcome.reason)

    def _keep_queued(self, waiting, sms_by_uuid, now, progressed, retry_delay):
        """Leave held, waiting and deferred SMS queued, saying why and until when, and make
        sure the queue runs again for them: held ones when their chain may work again,
        waiting ones when they may be sent (``not_before``), deferred ones at once if this
        batch got anywhere (the next run has a new time budget), else after the retry delay
        (something keeps failing: no busy loop)."""
        if not waiting:
            return
        cron = self.env.ref('sms.ir_cron_sms_scheduler_action')
        groups = defaultdict(list)
        not_before = defaultdict(list)
        throttles = defaultdict(list)
        for key, verdict in waiting.items():
            if key not in sms_by_uuid:
                continue
            if verdict.throttles != sms_by_uuid[key].sms_router_throttles:
                throttles[verdict.throttles].append(sms_by_uuid[key])
            if verdict.waiting:
                # Stored to the second, rounded up: never due before the moment it may go.
                when = verdict.not_before.astimezone(timezone.utc).replace(tzinfo=None)
                if when.microsecond:
                    when = when.replace(microsecond=0) + timedelta(seconds=1)
                not_before[when, str(verdict.wait_reason or '')].append(sms_by_uuid[key])
            elif verdict.held:
                until = fields.Datetime.to_datetime(verdict.hold_until.replace(tzinfo=None))
                reason = self.env._('Waiting for a provider until %(when)s UTC: %(reason)s',
                                    when=fields.Datetime.to_string(until), reason=verdict.outcome.reason)
                groups[until, reason].append(sms_by_uuid[key])
            else:
                groups[None, False].append(sms_by_uuid[key])
        moments = set()
        for (until, reason), records in groups.items():
            records = self.env['sms.sms'].union(*records)
            if until or not progressed:
                # Waiting starts: for held SMS, and for deferrals that are not the ordinary
                # end of a busy batch (a batch that decided nothing: something keeps failing).
                records.filtered(lambda sms: not sms.sms_router_held_since).write({'sms_router_held_since': now})
            if until:
                records.write({'sms_router_hold_until': until, 'sms_router_hold_reason': reason,
                               'sms_router_not_before': False})
                # The chatter's notification stays "ready" (queued) and says why; Odoo clears
                # the reason when the SMS is finally sent or failed.
                records.sms_tracker_id.mail_notification_id.sudo().filtered(
                    lambda notification: notification.notification_status == 'ready').write({'failure_reason': reason})
                moments.add(until)
            else:
                # Deferred: due again at once; a hold it was on keeps counting from its start.
                # A wait it was on is over: its time and reason no longer apply.
                records.filtered('sms_router_hold_until').write({'sms_router_hold_until': False})
                records.filtered('sms_router_not_before').write(
                    {'sms_router_not_before': False, 'sms_router_hold_reason': False})
                # Kept back by its account's governor, not by a failure: a hold it was on
                # is over (its account took requests), and waiting for budget never counts.
                records.filtered(lambda sms: waiting[sms.uuid].paced and sms.sms_router_held_since).write(
                    {'sms_router_held_since': False})
                moments.add(now if progressed else now + timedelta(seconds=retry_delay))
        for (when, reason), records in not_before.items():
            # Not a hold, and the end of a hold it was on: waiting (a closed send window, a
            # daily cap) is no failure, so the time spent waiting never counts toward the
            # maximum hold or wait; a failure after it starts a new hold.
            records = self.env['sms.sms'].union(*records)
            records.write({'sms_router_not_before': when, 'sms_router_hold_until': False,
                           'sms_router_held_since': False, 'sms_router_hold_reason': reason or False})
            records.sms_tracker_id.mail_notification_id.sudo().filtered(
                lambda notification: notification.notification_status == 'ready').write(
                {'failure_reason': reason or False})
            moments.add(when)
        for count, records in throttles.items():
            self.env['sms.sms'].union(*records).write({'sms_router_throttles': count})
        cron._trigger(sorted(moments))

    def _trigger_expiry(self, waiting, sms_by_uuid):
        """Run the queue when the first SMS left queued expires (e.g. held or waiting until
        after its expiry), so that it ends Expired then; each queue run schedules the next
        expiry (SmsSms._sms_router_trigger_next_expiry)."""
        expiries = [sms_by_uuid[key].sms_router_expires_at for key in waiting
                    if key in sms_by_uuid and sms_by_uuid[key].sms_router_expires_at]
        if expiries:
            self.env.ref('sms.ir_cron_sms_scheduler_action')._trigger(min(expiries))

    def _result(self, key, verdict):
        if verdict.sent:
            # Odoo's own states: 'processing' -> Processing, 'sent' -> Sent (pending delivery).
            return {'uuid': key, 'state': 'processing' if verdict.outcome.held else 'sent'}
        failure_type = verdict.outcome.core_failure_type
        if failure_type not in self._sms_failure_types():
            # A provider addon's own failure type that sms.sms does not know: writing it
            # would fail after the provider calls; the reason keeps the detail.
            failure_type = 'unknown'
        state = failure_type if failure_type in SHARED_FAILURE_TYPES else ROUTER_STATE_PREFIX + failure_type
        reason = verdict.outcome.reason
        if verdict.needs_review:
            reason = self.env._('Needs review, the provider may have sent it: %s', reason)
        # Odoo gets a reason shared by every SMS failing the same way (see
        # SmsSms._handle_call_result_hook, which writes each SMS's own reason).
        return {'uuid': key, 'state': state, 'failure_reason': self._shared_reason(failure_type, verdict),
                'router_failure_type': failure_type, 'router_reason': reason}

    def _shared_reason(self, failure_type, verdict):
        if verdict.needs_review:
            return self.env._('Needs review: the provider may have sent it.')
        return self.env._('SMS router: %s', dict(self._sms_failure_type_labels()).get(failure_type, failure_type))

    def _sms_failure_type_labels(self):
        # Asked for every failed SMS of a batch: read once per API object.
        if getattr(self, '_failure_type_labels', None) is None:
            self._failure_type_labels = self.env['sms.sms']._fields['failure_type']._description_selection(self.env)
        return self._failure_type_labels

    def _sms_failure_types(self):
        return {value for value, _label in self._sms_failure_type_labels()}

    def _record_trail(self, verdicts, numbers, raw_numbers, accounts_by_id, tokens, regions=None, bodies=None,
                      wait_starts=(), strategy_notes=None):
        """One line per attempt of this batch, and one per wait that starts (``wait_starts``:
        the keys of SMS that begin waiting, see _wait_starts). ``strategy_notes``: {key: why
        its route's strategy chose its first account}, written on its first attempt."""
        company = self.company
        values = []
        # The destination country routing already read (``regions``: ISO code per SMS) is
        # stored as it is: recomputing it from the number would parse every number again.
        regions = regions or {}
        bodies = bodies or {}
        # Encoding and segments of each attempt's body, measured once per (body, account,
        # region, traffic): a batch of one body to 10,000 numbers measures it once per account.
        measured = {}
        codes = sorted({code for code in regions.values() if code})
        country_ids = dict(self.env['res.country'].sudo()._read_group(
            [('code', 'in', codes)], ['code'], ['id:min'])) if codes else {}
        # An SMS held or deferred before has attempts already: number the new ones after.
        previous = dict(self.env['sms.router.attempt'].sudo()._read_group(
            [('sms_uuid', 'in', list(verdicts))], ['sms_uuid'], ['__count']))
        # The cost ledger: prices read once for the batch, at its first accepted attempt.
        costs = self.env['sms.router.attempt']._sms_router_cost_book(accounts_by_id.values(), regions.values())
        strategy_notes = strategy_notes or {}
        # Each explanation written once in the company's language, however many SMS share it.
        written_notes = {}
        for key, verdict in verdicts.items():
            if verdict.outcome is None and not verdict.attempts:
                if key in wait_starts:
                    number = numbers.get(key) or raw_numbers.get(key)
                    values.append(self._wait_line(key, verdict, accounts_by_id, number, previous.get(key, 0) + 1,
                                                  tokens.get(key)))
                continue  # deferred before any attempt: nothing happened to it
            attempts = verdict.attempts or [None]
            # A held, waiting or deferred SMS is tried again later: its last attempt is not final.
            decided = not (verdict.held or verdict.deferred or verdict.waiting)
            for step, attempt in enumerate(attempts, start=1):
                outcome = attempt.outcome if attempt else verdict.outcome
                account = accounts_by_id.get(attempt.account.account_id) if attempt else None
                last = step == len(attempts) and decided
                values.append({
                    'sms_uuid': key,
                    'company_id': company.id,
                    'account_id': account.id if account else False,
                    'account_name': attempt.account.name if attempt else False,
                    'sms_provider': attempt.account.client.provider if attempt else False,
                    'number': numbers.get(key) or raw_numbers.get(key),
                    'step': previous.get(key, 0) + step,
                    'outcome': outcome.kind.value,
                    'accepted': outcome.kind is OutcomeKind.SENT,
                    'final': last,
                    'needs_review': last and verdict.needs_review,
                    'reason': outcome.reason or False,
                    'duration_ms': int(attempt.duration * 1000) if attempt else 0,
                    'message_id': outcome.message_id or False,
                    'batch_id': outcome.batch_id or False,
                    'delivery_state': 'pending' if outcome.kind is OutcomeKind.SENT else False,
                    'dispatch_token': tokens.get(key) or False,
                })
                if attempt and key in bodies and outcome.kind not in NO_REQUEST_KINDS:
                    values[-1].update(_segment_values(measured, attempt.account, bodies[key], regions.get(key)))
                if key in regions:
                    values[-1]['destination_country_id'] = country_ids.get(regions[key], False)
                if step == 1 and attempt and key in strategy_notes:
                    note = strategy_notes[key]
                    if note not in written_notes:
                        written_notes[note] = render_reason(note, self.env.lang)
                    values[-1]['strategy_note'] = written_notes[note]
                values[-1].update(costs.values(account, outcome, values[-1].get('segments'), regions.get(key)))
            if key in wait_starts:
                # After the attempts that led to it (a provider refusing, then the wait).
                values.append(self._wait_line(key, verdict, accounts_by_id, numbers.get(key) or raw_numbers.get(key),
                                              previous.get(key, 0) + len(attempts) + 1, tokens.get(key)))
        self.env['sms.router.attempt'].sudo().create(values)

    def _wait_line(self, key, verdict, accounts_by_id, number, step, token):
        """The trail line of a wait that starts: after the attempts of this batch, never
        final, no request (so no segments), the governed account when it is an account's
        budget or pause the SMS waits for (none for a send window)."""
        handle = verdict.wait_account
        account = accounts_by_id.get(handle.account_id) if handle else None
        return {
            'sms_uuid': key,
            'company_id': self.company.id,
            'account_id': account.id if account else False,
            'account_name': handle.name if handle else False,
            'sms_provider': handle.client.provider if handle else False,
            'number': number,
            'step': step,
            'outcome': OutcomeKind.WAITING.value,
            'accepted': False,
            'final': False,
            'reason': str(verdict.wait_reason or '') or False,
            'dispatch_token': token or False,
        }

    def _blacklist_opt_outs(self, verdicts, numbers):
        opted_out = sorted({numbers[key] for key, verdict in verdicts.items()
                            if verdict.outcome and verdict.outcome.kind is OutcomeKind.OPTED_OUT
                            and numbers.get(key)})
        if opted_out:
            self.env['phone.blacklist'].sudo()._add(
                opted_out, message=self.env._('Opted out at the SMS provider (reported while sending).'))


def _expiry(sms):
    """(expires_at as naive UTC, validity in seconds) of an SMS, or (None, None)."""
    if not sms or not sms.sms_router_expires_at:
        return None, None
    return sms.sms_router_expires_at, (sms.sms_router_validity or 0) * 60


def _retry_delay(sms, now, base):
    """Seconds before a held SMS is tried again when no breaker gives a time: the base delay,
    growing with the age of the hold (a quarter of it, at most 15 minutes), so that an
    outage of hours costs tens of retries per SMS, not hundreds."""
    if not sms or not sms.sms_router_held_since:
        return base
    held_for = (now - sms.sms_router_held_since).total_seconds()
    return max(base, min(held_for / 4, MAX_RETRY_DELAY))


def _wait_starts(verdicts, sms_by_uuid):
    """Keys of the SMS that begin a wait in this batch: told to wait (a send window, an
    account's budget or pause) while they were not waiting, or waiting for something else
    (another reason). A wait that goes on (the queue saw it again before its time, its rules
    were edited) adds no line: one line per wait in the trail, not per batch."""
    starts = set()
    for key, verdict in verdicts.items():
        sms = sms_by_uuid.get(key)
        if verdict.waiting and sms and (
                not sms.sms_router_not_before or sms.sms_router_hold_reason != str(verdict.wait_reason or '')):
            starts.add(key)
    return starts


def _segment_values(measured, handle, sent, region):
    """``encoding`` and ``segments`` of the body (``sent``: body, marketing) as the account of
    ``handle`` sends it to ``region``, from ``measured`` when already worked out."""
    body, marketing = sent
    cache_key = (body, handle.account_id, region, marketing)
    values = measured.get(cache_key)
    if values is None:
        info = handle.measure(body, region, marketing)
        values = measured[cache_key] = {'encoding': info.encoding, 'segments': info.segments}
    return values


def hold_retry_seconds(env):
    """Seconds before a held SMS is tried again when no breaker gives a time (before it
    grows with the age of the hold, see _retry_delay)."""
    return _int_param(env, 'sms_router.hold_retry_seconds', 60)


def _int_param(env, name, default):
    try:
        return int(env['ir.config_parameter'].sudo().get_param(name, default) or 0)
    except ValueError:
        _logger.warning('SMS router: system parameter %s is not a number; using %s', name, default)
        return default
