"""The router as Odoo sees it: an ``SmsApiBase`` whose ``_send_sms_batch`` fails over.

Odoo makes one ``_send_sms_batch`` call per batch and expects one final result per SMS, so
the whole failover happens inside it: records are turned into engine messages, the engine
dispatches them, and the trail, the credit updates and the opt-outs are written back.
"""
import logging
import time

from odoo import _
from odoo.addons.sms.tools.sms_api import SmsApi, SmsApiBase
from odoo.tools.urls import urljoin as url_join

from ..engine.dispatcher import AT_MOST_ONCE, Delivery, Dispatcher, Message
from ..engine.outcomes import BatchResult, Kind, ProviderClient, RecipientOutcome
from ..engine.routing import TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL, NumberError

_logger = logging.getLogger(__name__)

# Failure types that sms.sms, mail.notification and mailing.trace all accept. Any other
# failure type is reported to Odoo as "unknown" and restored on the SMS afterwards, so that
# notifications never receive a value they do not know.
SHARED_FAILURE_TYPES = (
    'sms_number_missing', 'sms_number_format', 'sms_credit', 'sms_country_not_supported',
    'sms_registration_needed', 'sms_server', 'sms_acc',
)
ROUTER_STATE_PREFIX = 'router_'

IAP_STATE_OUTCOMES = {
    'success': (Kind.SENT, None),
    'processing': (Kind.SENT, None),  # accepted, held for moderation: see `held` below
    'wrong_number_format': (Kind.RECIPIENT, 'sms_number_format'),
    'duplicate_message': (Kind.RECIPIENT, 'sms_duplicate'),
    'incompatible_content': (Kind.RECIPIENT, 'unknown'),
    'insufficient_credit': (Kind.ACCOUNT, 'sms_credit'),
    'unregistered': (Kind.ACCOUNT, 'sms_acc'),
    'country_not_supported': (Kind.DESTINATION, 'sms_country_not_supported'),
    'registration_needed': (Kind.DESTINATION, 'sms_registration_needed'),
    'server_error': (Kind.PROVIDER, 'sms_server'),
}


class IapClient(ProviderClient):
    """Odoo IAP through Odoo's own ``SmsApi``, so credits and behaviour stay Odoo's."""

    provider = 'iap'
    max_recipients_per_request = 500
    runs_in_main_thread = True  # it uses the Odoo environment

    def __init__(self, env):
        self.env = env

    def send(self, request):
        api = SmsApi(self.env)
        payload = [{'content': request.body,
                    'numbers': [{'uuid': r.key, 'number': r.number} for r in request.recipients]}]
        # As Odoo's own sending does: IAP posts its delivery reports to /sms/status.
        delivery_reports_url = url_join(self.env['sms.sms'].get_base_url(), '/sms/status')
        try:
            results = api._send_sms_batch(payload, delivery_reports_url=delivery_reports_url)
        except Exception as error:  # IAP raises for unreachable service, install mode, ...
            return BatchResult.for_all(request, Kind.PROVIDER, f'Odoo IAP: {error}')
        messages = None
        outcomes = {}
        for result in results or []:
            kind, failure_type = IAP_STATE_OUTCOMES.get(result.get('state'), (Kind.PROVIDER, 'unknown'))
            reason = ''
            if kind is not Kind.SENT:
                if messages is None:
                    messages = api._get_sms_api_error_messages()
                reason = f"Odoo IAP: {result.get('state')}: {messages.get(result.get('state'), '')}".rstrip(': ')
            outcomes[result.get('uuid')] = RecipientOutcome(
                kind, reason, failure_type=failure_type, held=result.get('state') == 'processing')
        return BatchResult(outcomes)


class SmsRouterApi(SmsApiBase):
    PROVIDER_TO_SMS_FAILURE_TYPE = SmsApiBase.PROVIDER_TO_SMS_FAILURE_TYPE | {
        failure_type: failure_type for failure_type in SHARED_FAILURE_TYPES
    }

    def _send_sms_batch(self, messages, delivery_reports_url=False):
        started = time.perf_counter()
        env = self.env
        company = self.company
        uuids = [number['uuid'] for message in messages for number in message['numbers']]
        sms_by_uuid = {sms.uuid: sms for sms in env['sms.sms'].sudo().search([('uuid', 'in', uuids)])}
        table = env['sms.router.route']._sms_router_table(company)
        accounts = env['sms.router.account'].sudo().search([('company_id', '=', company.id)])
        accounts_by_id = {account.id: account for account in accounts}
        store = env['sms.router.breaker']._store()
        handles = {}

        def handle(account_id):
            if account_id not in handles:
                handles[account_id] = accounts_by_id[account_id]._sms_router_handle(store)
            return handles[account_id]

        last_resort = None
        if company.sms_router_iap_last_resort:
            last_resort = env['sms.router.account']._sms_router_iap_last_resort_handle()

        # "At most once": SMS that a dead worker may already have handed to a provider are
        # flagged for review instead of being sent again, and this dispatch journals its
        # own hand-offs (each committed before its provider call).
        journal = interrupted = None
        if company.sms_router_timeout_policy == AT_MOST_ONCE:
            journal = env['sms.router.handoff']._journal()
            interrupted = env['sms.router.handoff']._interrupted(uuids)

        engine_messages = []
        for message in messages:
            for number in message['numbers']:
                if interrupted and number['uuid'] in interrupted:
                    continue
                sms = sms_by_uuid.get(number['uuid'])
                marketing = bool(sms and sms.sms_router_traffic == TRAFFIC_MARKETING)
                region = (sms and sms.partner_id.country_id.code) or company.country_id.code
                try:
                    destination, route = table.resolve(
                        number['number'], region, TRAFFIC_MARKETING if marketing else TRAFFIC_TRANSACTIONAL)
                except NumberError as error:
                    engine_messages.append(Message(number['uuid'], message['content'], number_error=str(error)))
                    continue
                chain = [handle(account_id) for account_id in (route.chain if route else ())
                         if account_id in accounts_by_id]
                if last_resort and not any(h.client.provider == 'iap' for h in chain):
                    chain.append(last_resort)
                engine_messages.append(Message(number['uuid'], message['content'], destination,
                                               tuple(chain), marketing))

        dispatcher = Dispatcher(timeout_policy=company.sms_router_timeout_policy,
                                on_handoff=journal.record if journal else None)
        deliveries = dispatcher.dispatch(engine_messages)
        tokens = dict.fromkeys(deliveries, journal.token if journal else False)
        for key, (token, account_name, handed_at) in (interrupted or {}).items():
            deliveries[key] = Delivery(key, RecipientOutcome(Kind.AMBIGUOUS, env._(
                'interrupted: handed to %(account)s at %(when)s UTC by a worker that stopped before '
                'recording the answer; it may have been sent',
                account=account_name or '?', when=handed_at.strftime('%Y-%m-%d %H:%M:%S'))),
                needs_review=True)
            tokens[key] = token  # recording this attempt settles the interrupted hand-off

        numbers = {m.key: (m.destination.e164 if m.destination else None) for m in engine_messages}
        raw_numbers = {n['uuid']: n['number'] for message in messages for n in message['numbers']}
        self._record_trail(deliveries, numbers, raw_numbers, accounts_by_id, tokens)
        for account_id, updates in dispatcher.account_updates.items():
            if account_id in accounts_by_id:
                accounts_by_id[account_id]._sms_router_apply_updates(updates)
        self._blacklist_opt_outs(deliveries, numbers)
        sent = sum(1 for d in deliveries.values() if d.sent)
        _logger.info('SMS router: company %s: %d SMS, %d sent, %d failed, %d provider requests in %.2f s',
                     company.id, len(deliveries), sent, len(deliveries) - sent,
                     dispatcher.requests_made, time.perf_counter() - started)
        return [self._result(key, delivery) for key, delivery in deliveries.items()]

    def _result(self, key, delivery):
        if delivery.sent:
            # Odoo's own states: 'processing' -> Processing, 'sent' -> Sent (pending delivery).
            return {'uuid': key, 'state': 'processing' if delivery.outcome.held else 'sent'}
        failure_type = delivery.outcome.core_failure_type
        state = failure_type if failure_type in SHARED_FAILURE_TYPES else ROUTER_STATE_PREFIX + failure_type
        reason = delivery.outcome.reason
        if delivery.needs_review:
            reason = self.env._('Needs review, the provider may have sent it: %s', reason)
        return {'uuid': key, 'state': state, 'failure_reason': reason, 'router_failure_type': failure_type}

    def _record_trail(self, deliveries, numbers, raw_numbers, accounts_by_id, tokens):
        company = self.company
        values = []
        for key, delivery in deliveries.items():
            attempts = delivery.attempts or [None]
            for step, attempt in enumerate(attempts, start=1):
                outcome = attempt.outcome if attempt else delivery.outcome
                account = accounts_by_id.get(attempt.account.account_id) if attempt else None
                last = step == len(attempts)
                values.append({
                    'sms_uuid': key,
                    'company_id': company.id,
                    'account_id': account.id if account else False,
                    'account_name': attempt.account.name if attempt else False,
                    'sms_provider': attempt.account.client.provider if attempt else False,
                    'number': numbers.get(key) or raw_numbers.get(key),
                    'step': step,
                    'outcome': outcome.kind.value,
                    'accepted': outcome.kind is Kind.SENT,
                    'final': last,
                    'needs_review': last and delivery.needs_review,
                    'reason': outcome.reason or False,
                    'duration_ms': int(attempt.duration * 1000) if attempt else 0,
                    'message_id': outcome.message_id or False,
                    'batch_id': outcome.batch_id or False,
                    'delivery_state': 'pending' if outcome.kind is Kind.SENT else False,
                    'dispatch_token': tokens.get(key) or False,
                })
        self.env['sms.router.attempt'].sudo().create(values)

    def _blacklist_opt_outs(self, deliveries, numbers):
        opted_out = sorted({numbers[key] for key, delivery in deliveries.items()
                            if delivery.outcome.kind is Kind.OPTED_OUT and numbers.get(key)})
        if opted_out:
            self.env['phone.blacklist'].sudo()._add(
                opted_out, message=_('Opted out at the SMS provider (reported while sending).'))
