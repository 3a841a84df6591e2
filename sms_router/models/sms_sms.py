import logging
import time
from collections import defaultdict
from datetime import timedelta

from psycopg2.errors import SerializationFailure

from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..engine.routing import TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL
from ..tools.costs import PRICE_DIGITS
from ..tools.side_transaction import side_cursor
from ..tools.sms_api import ROUTER_STATE_PREFIX, TRACE_FAILURE_TYPES, SmsRouterApi

_logger = logging.getLogger(__name__)

# A cron job with less time than this before the router's deadline sends no new batch.
MIN_BATCH_SECONDS = 5.0
# The queue's order: the transactional lane first ('transactional' sorts after 'marketing'),
# then first in, first out. The index _sms_router_queue_lane_idx serves it.
QUEUE_ORDER = 'sms_router_traffic desc, id'


class SmsSms(models.Model):
    _inherit = 'sms.sms'

    sms_router_company_id = fields.Many2one(
        'res.company', 'Sending Company', index='btree_not_null', ondelete='set null',
        help='Company whose routes send this SMS, resolved from its record when it was queued.')
    sms_router_traffic = fields.Selection(
        [(TRAFFIC_TRANSACTIONAL, 'Transactional'), (TRAFFIC_MARKETING, 'Marketing')],
        string='Traffic', default=TRAFFIC_TRANSACTIONAL)
    sms_router_failure_reason = fields.Text('Failure Reason', readonly=True, copy=False)
    # Known to mail.notification and mailing.trace already (Odoo's delivery reports): an SMS
    # that no provider accepted within its validity ends with it.
    failure_type = fields.Selection(selection_add=[('sms_expired', 'Expired')])
    # Validity (res.company): decided when the SMS is queued; none while it is off.
    sms_router_validity = fields.Integer(
        'Validity (minutes)', readonly=True, copy=False,
        help='The validity of its company and traffic when it was queued (0: none).')
    sms_router_expires_at = fields.Datetime(
        'Expires At', readonly=True, copy=False, index='btree_not_null',
        help='Not accepted by any provider by then, the SMS ends as Expired instead of being sent late.')
    # Hold and retry: every provider of the chain was down, the SMS waits in the queue.
    sms_router_hold_until = fields.Datetime(
        'Retry At', readonly=True, copy=False, index='btree_not_null',
        help='Every provider of its chain was down: the queue tries this SMS again at this time.')
    sms_router_held_since = fields.Datetime(
        'Waiting Since', readonly=True, copy=False,
        help="Start of the current hold; past the company's maximum hold the SMS ends in error.")
    sms_router_hold_reason = fields.Text('Waiting Because', readonly=True, copy=False)
    # The queue (QUEUE_ORDER) and the lanes' check read queued SMS in this order: an index
    # scan that stops at the batch size however big a campaign waits behind.
    _sms_router_queue_lane_idx = models.Index("(sms_router_traffic DESC, id) WHERE state = 'outgoing'")
    # Waiting although nothing failed (send window, account budget): not a hold, it never
    # ends the SMS in error.
    sms_router_not_before = fields.Datetime(
        'Not Before', readonly=True, copy=False, index='btree_not_null',
        help='The SMS may not be sent yet (e.g. outside its send window): the queue sends it from this time.')
    # A provider refusing it for its rate limit (HTTP 429) with a long Retry-After makes it
    # wait in the queue; counted across dispatches, the refusals end that (Dispatcher's
    # MAX_THROTTLES): a provider that keeps refusing cannot keep it waiting for ever.
    sms_router_throttles = fields.Integer(
        'Rate-Limit Refusals', readonly=True, copy=False,
        help="Times a provider refused this queued SMS for its rate limit (HTTP 429). It goes to the next "
             "account of its chain, or waits for the provider's Retry-After on the last one; from the third "
             "refusal it waits no more: after the last account it ends as for any provider failure.")
    sms_router_window_id = fields.Many2one(
        'sms.router.send.window', 'Send Window', readonly=True, copy=False, index='btree_not_null',
        ondelete='set null', help='The send window this queued SMS waits for (outside it when last tried).')
    sms_router_attempt_ids = fields.One2many(
        'sms.router.attempt', compute='_compute_sms_router_attempt_ids', string='Router Attempts')
    sms_router_attempt_count = fields.Integer(compute='_compute_sms_router_attempt_count', string='Attempts')
    sms_router_reason = fields.Char(
        compute='_compute_sms_router_reason', string='Router Reason',
        help='Why the SMS failed, or why it waits for a provider (one line of a list).')
    sms_router_cost = fields.Float(
        'Cost', digits=PRICE_DIGITS, compute='_compute_sms_router_cost',
        help='What this SMS cost: the sum of the costs of its router attempts (each says where its '
             'figure comes from), in the currency of its last priced attempt.')
    sms_router_cost_currency_id = fields.Many2one(
        'res.currency', 'Cost Currency', compute='_compute_sms_router_cost')

    def _compute_sms_router_attempt_ids(self):
        attempts = self.env['sms.router.attempt'].sudo().search(
            [('sms_uuid', 'in', [uuid for uuid in self.mapped('uuid') if uuid])], order='id')
        by_uuid = defaultdict(lambda: self.env['sms.router.attempt'])
        for attempt in attempts:
            by_uuid[attempt.sms_uuid] |= attempt
        for sms in self:
            sms.sms_router_attempt_ids = by_uuid[sms.uuid]

    def _compute_sms_router_attempt_count(self):
        uuids = [uuid for uuid in self.mapped('uuid') if uuid]
        counts = dict(self.env['sms.router.attempt'].sudo()._read_group(
            [('sms_uuid', 'in', uuids)], ['sms_uuid'], ['__count'])) if uuids else {}
        for sms in self:
            sms.sms_router_attempt_count = counts.get(sms.uuid, 0)

    def _compute_sms_router_cost(self):
        uuids = [uuid for uuid in self.mapped('uuid') if uuid]
        attempts = self.env['sms.router.attempt'].sudo().search_fetch(
            [('sms_uuid', 'in', uuids), ('cost_currency_id', '!=', False)],
            ['sms_uuid', 'cost', 'cost_currency_id', 'create_date', 'company_id'], order='id') if uuids else []
        by_uuid = defaultdict(list)
        for attempt in attempts:
            by_uuid[attempt.sms_uuid].append(attempt)
        for sms in self:
            priced = by_uuid.get(sms.uuid)
            currency = priced[-1].cost_currency_id if priced else False
            total = 0.0
            for attempt in priced or ():
                amount = attempt.cost
                if attempt.cost_currency_id != currency:
                    # Accounts of a chain in different currencies: at the rate of the attempt's day.
                    amount = attempt.cost_currency_id._convert(
                        amount, currency, attempt.company_id or self.env.company, attempt.create_date.date(),
                        round=False)
                total += amount
            sms.sms_router_cost = total
            sms.sms_router_cost_currency_id = currency

    @api.depends('state', 'sms_router_failure_reason', 'sms_router_hold_reason')
    def _compute_sms_router_reason(self):
        for sms in self:
            reason = sms.sms_router_failure_reason if sms.state == 'error' else sms.sms_router_hold_reason
            sms.sms_router_reason = ' '.join((reason or '').split()) or False

    def action_sms_router_view_attempts(self):
        """The router's attempts of these SMS (Outgoing SMS list, SMS form)."""
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_attempt_action')
        action['domain'] = [('sms_uuid', 'in', [uuid for uuid in self.mapped('uuid') if uuid])]
        action['context'] = {}
        return action

    @api.model_create_multi
    def create(self, vals_list):
        # One rule, decided here and stored: the company of the record the SMS was posted
        # on, then the company given by the caller (e.g. the composer's record), then the
        # mailing's, then the creating environment's. Sending reads the stored company.
        messages = self.env['mail.message'].browse(
            [vals['mail_message_id'] for vals in vals_list if vals.get('mail_message_id')]).sudo()
        companies = self._sms_router_message_companies(messages)
        # Odoo's sms_twilio, when installed, keeps its own record_company_id (defaulted to
        # env.company before this override runs) and reads the message's company first, as
        # this rule does: both fields name the same company, so the two addons agree.
        twin_field = 'record_company_id' if 'record_company_id' in self._fields else None
        mailing_companies = {}
        for vals in vals_list:
            company = companies.get(vals.get('mail_message_id'))
            if company:
                vals['sms_router_company_id'] = company.id
            elif not vals.get('sms_router_company_id'):
                mailing_id = vals.get('mailing_id')
                if mailing_id not in mailing_companies:
                    mailing_companies[mailing_id] = self._sms_router_mailing_company(mailing_id)
                company = mailing_companies[mailing_id]
                vals['sms_router_company_id'] = (
                    company.id if company else (twin_field and vals.get(twin_field)) or self.env.company.id)
            if twin_field:
                vals[twin_field] = vals['sms_router_company_id']
            if vals.get('mailing_id') and 'sms_router_traffic' not in vals:
                # mass_mailing_sms: SMS of a mailing are marketing traffic.
                vals['sms_router_traffic'] = TRAFFIC_MARKETING
        self._sms_router_set_expiry(vals_list)
        return super().create(vals_list)

    def write(self, vals):
        # Queued again (Retry, Resend): a new validity from now, as for a new SMS.
        requeued = self.browse()
        if vals.get('state') == 'outgoing' and 'sms_router_expires_at' not in vals:
            requeued = self.filtered(lambda sms: sms.state != 'outgoing')
        result = super().write(vals)
        groups = requeued.grouped(lambda sms: (sms.sms_router_company_id.id, sms.sms_router_traffic))
        for (company_id, traffic), records in groups.items():
            values = {'sms_router_company_id': company_id, 'sms_router_traffic': traffic}
            self._sms_router_set_expiry([values])
            if values.get('sms_router_expires_at') or records.filtered('sms_router_expires_at'):
                super(SmsSms, records).write({
                    'sms_router_validity': values.get('sms_router_validity', 0),
                    'sms_router_expires_at': values.get('sms_router_expires_at', False)})
        return result

    @api.model
    def _sms_router_set_expiry(self, vals_list):
        """Give each queued SMS its expiry: now plus the validity of its company and traffic,
        for companies the router sends for. Read once per company, whatever the number of SMS."""
        now = fields.Datetime.now()
        validities = {}
        for vals in vals_list:
            if vals.get('state', 'outgoing') != 'outgoing' or 'sms_router_expires_at' in vals:
                continue
            key = vals.get('sms_router_company_id'), vals.get('sms_router_traffic') or TRAFFIC_TRANSACTIONAL
            if key not in validities:
                company = self.env['res.company'].browse(key[0]).sudo()
                validities[key] = company._sms_router_validity_minutes(key[1]) \
                    if company and company._sms_router_is_enabled() else 0
            if validities[key]:
                vals['sms_router_validity'] = validities[key]
                vals['sms_router_expires_at'] = now + timedelta(minutes=validities[key])

    @api.model
    def _sms_router_mailing_company(self, mailing_id):
        """The company of an SMS mailing: its responsible user's. Mass SMS to records
        without a company (mailing lists, shared contacts) are sent and billed for it, not
        for whichever company the mailing cron's user happens to be in."""
        if not mailing_id or 'mailing.mailing' not in self.env:
            return None
        return self.env['mailing.mailing'].sudo().browse(mailing_id).exists().user_id.company_id or None

    @api.model
    def _sms_router_message_company(self, message):
        """The company of the record a message was posted on, if any."""
        return self._sms_router_message_companies(message).get(message.id)

    @api.model
    def _sms_router_message_companies(self, messages):
        """{message id: company of the record it was posted on}, for those that have one,
        in a few queries whatever the number of messages (mass SMS logged on records)."""
        companies = {}
        res_ids_by_model = defaultdict(set)
        for message in messages:
            if message.record_company_id:
                companies[message.id] = message.record_company_id
            elif message.model and message.res_id and message.model in self.env:
                res_ids_by_model[message.model].add(message.res_id)
        record_companies = {}
        for model, res_ids in res_ids_by_model.items():
            if 'company_id' not in self.env[model]._fields:
                continue
            for record in self.env[model].sudo().browse(res_ids).exists():
                if record.company_id:
                    record_companies[model, record.id] = record.company_id[:1]
        for message in messages:
            if message.id not in companies and (message.model, message.res_id) in record_companies:
                companies[message.id] = record_companies[message.model, message.res_id]
        return companies

    def _get_sms_company(self):
        # The company decided when the SMS was queued (see create): the queue cron and
        # mailings run as OdooBot,
        # whose env.company can be any company. One company per SMS, the one the router uses.
        companies = self.env['res.company'].union(
            *(sms.sms_router_company_id or sms.mail_message_id.record_company_id for sms in self))
        return companies or super()._get_sms_company()

    def _sms_router_company(self):
        self.ensure_one()
        return self.sms_router_company_id or self.mail_message_id.record_company_id or self.env.company

    def _split_by_api(self):
        routed = defaultdict(lambda: self.browse())
        others = self.browse()
        enabled = {}
        for sms in self:
            company = sms._sms_router_company()
            if company not in enabled:
                enabled[company] = company._sms_router_is_enabled()
            if enabled[company]:
                routed[company] |= sms
            else:
                others |= sms
        for company, company_sms in routed.items():
            sms_api = SmsRouterApi(self.env)
            sms_api._set_company(company)
            yield sms_api, company_sms
        if others:
            yield from super(SmsSms, others)._split_by_api()

    @api.model
    def _sms_router_queue_domain(self):
        """Queued SMS due now: those held for an outage wait for their retry time, those
        that may not be sent yet (send window, account budget) for their time, unless their
        validity passed: those are due at once, to end Expired."""
        now = fields.Datetime.now()
        due = (
            Domain('sms_router_hold_until', '=', False) | Domain('sms_router_hold_until', '<=', now)
        ) & (
            Domain('sms_router_not_before', '=', False) | Domain('sms_router_not_before', '<=', now))
        return Domain([('state', '=', 'outgoing'), ('to_delete', '!=', True)]) & (
            due | Domain('sms_router_expires_at', '<=', now))

    @api.model
    def _process_queue(self):
        """The queue cron, as Odoo's, except that SMS on hold wait for their retry time
        and a job whose time is nearly spent leaves the next batch to the next run (the
        batch would only be deferred by the router's deadline)."""
        domain = self._sms_router_queue_domain()
        # Held alerts end with the last SMS held (sent, failed, cancelled or deleted): one
        # small query when no held alert is ongoing.
        self.env['sms.router.alert']._sms_router_check_held()
        self._sms_router_trigger_next_expiry()
        if self.env.context.get('cron_end_time') and self._sms_router_cron_too_late():
            remaining = self.search_count(domain)
            if remaining:
                self.env['ir.cron']._commit_progress(0, remaining=remaining)
            return
        batch_size = self._get_send_batch_size()
        records = self._sms_router_lock_batch(domain, batch_size)
        if not records:
            return
        records._send(unlink_failed=False, unlink_sent=True, raise_exception=False)
        # Done are the SMS no longer due: sent, failed, or held until a provider may take
        # them (an outage goes through the whole queue in one run). Deferred ones are still
        # due. When none is done, report nothing left, so that Odoo does not run the job
        # again at once; the router has scheduled the next run (SmsRouterApi._keep_queued).
        still_due = records.exists().filtered_domain(self._sms_router_queue_domain())
        done = len(records) - len(still_due)
        remaining = self.search_count(domain) if done and (len(records) == batch_size or still_due) else 0
        self.env['ir.cron']._commit_progress(done, remaining=remaining)

    @api.model
    def _sms_router_trigger_next_expiry(self):
        """Run the queue again when the next SMS that is not due yet expires: one waiting
        for a provider, a send window or its account's budget then ends Expired on time, not
        when it would have been due. One indexed query per run; none found when no SMS has
        a validity. No trigger is added when the queue already runs by then (a pending
        trigger at that moment or earlier): every run would otherwise add one row."""
        now = fields.Datetime.now()
        waiting = Domain('sms_router_hold_until', '>', now) | Domain('sms_router_not_before', '>', now)
        upcoming = self.search(Domain([('state', '=', 'outgoing'), ('to_delete', '!=', True),
                                       ('sms_router_expires_at', '>', now)]) & waiting,
                               order='sms_router_expires_at', limit=1)
        if not upcoming:
            return
        cron = self.env.ref('sms.ir_cron_sms_scheduler_action')
        # ir.cron.trigger rows are the cron's pending wake-ups (Odoo deletes them once run).
        scheduled = self.env['ir.cron.trigger'].sudo().search_count([
            ('cron_id', '=', cron.id), ('call_at', '>', now),
            ('call_at', '<=', upcoming.sms_router_expires_at)], limit=1)
        if not scheduled:
            cron._trigger(upcoming.sms_router_expires_at)

    @api.model
    def _sms_router_lock_batch(self, domain, size):
        """The next ``size`` SMS of the queue that no other worker is sending, locked, in
        queue order (transactional first). One query: rows locked by another batch are
        skipped before the limit, so that several workers drain one queue side by side."""
        query = self._search(domain, order=QUEUE_ORDER, limit=size)
        try:
            with self.env.cr.savepoint():
                rows = self.env.execute_query(SQL('%s FOR UPDATE OF %s SKIP LOCKED', query.select(),
                                                  SQL.identifier(self._table)))
        except SerializationFailure:
            # Another worker committed one of these rows since this transaction's snapshot
            # (REPEATABLE READ cannot lock it): take nothing now, and run again in a moment
            # on a new snapshot.
            _logger.info('SMS router: queued SMS changed by another worker while locking a batch; '
                         'the queue runs again in a second')
            self.env.ref('sms.ir_cron_sms_scheduler_action')._trigger(
                fields.Datetime.now() + timedelta(seconds=1))
            return self.browse()
        return self.browse([row[0] for row in rows])

    @api.model
    def _sms_router_priority_waiting(self, exclude_ids=()):
        """Whether a transactional SMS is due in the queue and no batch is sending it: a
        governed marketing dispatch then ends its marketing part, so that the next batch
        takes it first. In a side transaction, where the rows any batch locked (the asking
        one's included) are skipped, on the lane index; nothing is written."""
        with side_cursor(self.env.registry) as cr:
            env = self.env(cr=cr)
            domain = self._sms_router_queue_domain() & Domain(
                'sms_router_traffic', 'in', [TRAFFIC_TRANSACTIONAL, False])
            if exclude_ids:
                domain &= Domain('id', 'not in', list(exclude_ids))
            query = env['sms.sms'].sudo()._search(domain, order=QUEUE_ORDER, limit=1)
            # Its end (a commit of nothing) releases the lock at once.
            found = env.execute_query(SQL('%s FOR UPDATE OF %s SKIP LOCKED', query.select(),
                                          SQL.identifier(self._table)))
        return bool(found)

    @api.model
    def _sms_router_cron_too_late(self):
        """Whether this cron job has too little time left for another batch: less than
        MIN_BATCH_SECONDS, or half its time budget when that is smaller."""
        started, budget = SmsRouterApi(self.env)._sms_router_time_budget()
        if budget is None:
            return False
        return started + budget - time.monotonic() < min(MIN_BATCH_SECONDS, budget / 2)

    def _get_send_batch_size(self):
        # The router bounds a batch by its time budget (SMS it cannot start stay queued), so
        # Odoo's size (500) is its default too: larger batches keep more requests in flight
        # per round. sms_router.batch_size lowers it for routed SMS, e.g. to commit sooner.
        routed = self._sms_router_any_routed()
        size = super()._get_send_batch_size()
        if routed:
            router_size = int(self.env['ir.config_parameter'].sudo().get_param('sms_router.batch_size', 500) or 0)
            if router_size > 0:
                size = min(size, router_size)
        return size

    def _sms_router_any_routed(self):
        if not self:
            return bool(self.env['sms.router.route']._sms_router_routed_company_ids())
        return any(company._sms_router_is_enabled() for company in self.mapped(lambda sms: sms._sms_router_company()))

    def _send(self, unlink_failed=False, unlink_sent=True, raise_exception=False):
        # The queue cron calls _send() on a batch that may mix companies; stock Odoo then
        # asks for a single company. Split it the way send() does.
        if self.env.context.get('sms_api') or not self:
            return super()._send(unlink_failed=unlink_failed, unlink_sent=unlink_sent,
                                 raise_exception=raise_exception)
        for sms_api, sms in self._split_by_api():
            super(SmsSms, sms.with_context(sms_api=sms_api))._send(
                unlink_failed=unlink_failed, unlink_sent=unlink_sent, raise_exception=raise_exception)

    def _handle_call_result_hook(self, results):
        router_results = [r for r in results if 'router_failure_type' in r]
        if router_results:
            # The router gives Odoo one reason per failure type (Odoo updates its SMS, trackers
            # and notifications once per distinct state and reason, scanning the whole batch
            # each time) and writes each SMS's own reason here, once per distinct reason.
            by_uuid = self.grouped('uuid')
            groups = defaultdict(list)
            for result in router_results:
                sms = by_uuid.get(result['uuid'])
                if sms:
                    groups[result['router_failure_type'], result['state'], result['router_reason']].append(sms)
            for (failure_type, state, reason), records in groups.items():
                records = self.browse().union(*records)
                values = {'sms_router_failure_reason': reason or False}
                if state.startswith(ROUTER_STATE_PREFIX):
                    values['failure_type'] = failure_type
                records.write(values)
                trackers = records.sms_tracker_id.sudo()
                trackers.mail_notification_id.filtered(
                    lambda notification: notification.notification_status in ('exception', 'bounce')
                ).write({'failure_reason': reason or False})
                if 'mailing_trace_id' in trackers._fields and trackers.mailing_trace_id:
                    trace_values = {'failure_reason': reason or False}
                    if failure_type in TRACE_FAILURE_TYPES:
                        trace_values['failure_type'] = failure_type
                    trackers.mailing_trace_id.write(trace_values)
        # A resent SMS that went out keeps no failure reason, as Odoo clears its failure_type.
        sent_uuids = {r['uuid'] for r in results if r['state'] in self.IAP_TO_SMS_STATE_SUCCESS}
        self.filtered(lambda sms: sms.uuid in sent_uuids and sms.sms_router_failure_reason).write(
            {'sms_router_failure_reason': False})
        # Decided: a hold or a wait it was on is over.
        unheld = self.filtered(lambda sms: sms.sms_router_hold_until or sms.sms_router_held_since
                               or sms.sms_router_not_before or sms.sms_router_hold_reason
                               or sms.sms_router_throttles)
        unheld.write({'sms_router_hold_until': False, 'sms_router_held_since': False, 'sms_router_hold_reason': False,
                      'sms_router_not_before': False, 'sms_router_throttles': 0})
        if unheld:
            # The outage may be over for the company: its held alert then is too.
            self.env['sms.router.alert']._sms_router_check_held(unheld.sms_router_company_id)
        return super()._handle_call_result_hook(results)
