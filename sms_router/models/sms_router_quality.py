"""Delivery quality per account and destination country, and the quality breaker
(engine/quality.py decides; this stores, refreshes and applies it).

Refreshing reads the window of accepted attempts of a company's accounts in one query and
writes one row per (account, country): a scheduled action every few minutes, and soon after
delivery reports arrive (a trigger, at most one per REPORT_TRIGGER_SECONDS and process).
Sending reads only the rows that are not ok, in one query per batch (``_sms_router_gate``):
a company whose accounts all deliver pays one indexed query that returns nothing.
"""
import logging
import time
from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..engine.quality import (
    CAUSE_FLOOR, CAUSE_OUTLIER, CAUSE_PROBE, DELIVERED, EVENT_PROBE_FAILED, EVENT_RESTORED, STATE_EJECTED,
    STATE_OK, STATE_PROBING, UNDELIVERED, ChainQuality, QualityFigures, QualityState, SentSms, ejection_reason,
    judge, measure, probe_wait_reason, skip_reason, skipped_handle,
)
from ..tools.reason_text import company_lang, render_reason

_logger = logging.getLogger(__name__)

STATES = [(STATE_OK, 'OK'), (STATE_EJECTED, 'Ejected'), (STATE_PROBING, 'Probing')]
CAUSES = [(CAUSE_FLOOR, 'Below the floor'), (CAUSE_OUTLIER, 'Outlier'), (CAUSE_PROBE, 'Failed probe')]
# Without a window in hours, attempts older than this are not read.
MAX_WINDOW_DAYS = 30
# Unreported attempts read per account and country (the no-report share, the latency).
MAX_UNREPORTED = 500
# A delivery report triggers a refresh at most this often per process.
REPORT_TRIGGER_SECONDS = 30
_last_trigger = {}


class SmsRouterQuality(models.Model):
    """How one account delivers to one destination country, and whether the quality
    breaker skips it there. Written by the refresh only (``_sms_router_refresh``)."""
    _name = 'sms.router.quality'
    _description = 'SMS Router Delivery Quality'
    _order = 'company_id, account_id, country_id'
    _rec_name = 'account_id'
    _check_company_auto = True

    account_id = fields.Many2one('sms.router.account', 'Provider Account', required=True, readonly=True,
                                 ondelete='cascade', index=True)
    company_id = fields.Many2one(related='account_id.company_id', store=True, index=True)
    country_id = fields.Many2one('res.country', 'Destination Country', required=True, readonly=True,
                                 ondelete='cascade')
    state = fields.Selection(STATES, default=STATE_OK, required=True, readonly=True, index=True,
                             help='Ejected: skipped for this country until the end of its cool-down. Probing: '
                                  'a few SMS test it; their delivery reports restore it or eject it again.')
    delivery_rate = fields.Float(readonly=True, aggregator='avg',
                                 help='Delivered / (delivered + undelivered), over the reported SMS of the window.')
    sample = fields.Integer('Reported SMS', readonly=True, aggregator='sum',
                            help='SMS of the window with a delivery report.')
    delivered_count = fields.Integer('Delivered', readonly=True, aggregator='sum')
    undelivered_count = fields.Integer('Undelivered', readonly=True, aggregator='sum')
    sent_count = fields.Integer('Accepted SMS', readonly=True, aggregator='sum',
                                help='SMS of the window the account accepted, reported or not.')
    no_report_share = fields.Float('No Report', readonly=True, aggregator='avg',
                                   help='Share of the accepted SMS still without a delivery report an hour after '
                                        'they were sent.')
    median_report_delay = fields.Float('Median Report Delay (s)', readonly=True, aggregator='avg',
                                       help='Median time from sending to the delivery report.')
    latency_p50_ms = fields.Float('Median Latency (ms)', readonly=True, aggregator='avg',
                                  help='Median time the provider took to accept a request.')
    ejected_until = fields.Datetime(readonly=True, help='End of the cool-down: probe SMS test the account from then.')
    ejection_count = fields.Integer('Consecutive Ejections', readonly=True)
    counted_since = fields.Datetime(readonly=True,
                                    help='After a restoration, the figures count the SMS sent since its probe.')
    ejection_cause = fields.Selection(CAUSES, readonly=True)
    ejection_rate = fields.Float(readonly=True)
    ejection_sample = fields.Integer(readonly=True)
    ejection_threshold = fields.Float(readonly=True)
    ejection_mean = fields.Float(readonly=True)
    reason = fields.Char(readonly=True, help='Why the account is or was last ejected for this country.')
    refreshed_at = fields.Datetime('Refreshed On', readonly=True)

    _account_country_unique = models.Constraint(
        'unique(account_id, country_id)', 'One delivery quality row per account and destination country.')

    # ------------------------------------------------------------ engine values

    def _sms_router_state(self):
        """The engine QualityState of this row."""
        self.ensure_one()
        return QualityState(
            state=self.state, ejected_until=self.ejected_until, ejection_count=self.ejection_count,
            since=self.counted_since or None, cause=self.ejection_cause or '', rate=self.ejection_rate,
            sample=self.ejection_sample, threshold=self.ejection_threshold, mean=self.ejection_mean or None)

    def _sms_router_figures(self):
        """The engine QualityFigures of this row (Contract 4 of issue 13)."""
        self.ensure_one()
        return QualityFigures(
            sample=self.sample, delivered=self.delivered_count, undelivered=self.undelivered_count,
            sent=self.sent_count, delivery_rate=self.delivery_rate if self.sample else None,
            no_report_share=self.no_report_share, median_report_delay=self.median_report_delay or None,
            latency_p50_ms=self.latency_p50_ms or None, state=self.state)

    # ------------------------------------------------------------ refresh

    @api.model
    def _cron_sms_router_refresh(self):
        """Refresh the delivery quality of every company with an active account."""
        groups = self.env['sms.router.account'].sudo()._read_group([('active', '=', True)], ['company_id'])
        for (company,) in groups:
            try:
                with self.env.cr.savepoint():
                    self._sms_router_refresh(company)
            except Exception:  # noqa: BLE001 - one company's fault must not stop the others
                _logger.exception('SMS router: company %s: delivery quality not refreshed', company.id)

    @api.model
    def _sms_router_refresh(self, company, now=None):
        """Measure every account of ``company`` per destination country over its window,
        judge it (engine.quality.judge), store the rows; tell the chatter and the alerts of
        ejections and restorations. Returns the rows."""
        now = now or fields.Datetime.now()
        settings = company._sms_router_quality_settings()
        accounts = self.env['sms.router.account'].sudo().with_context(active_test=False).search(
            [('company_id', '=', company.id)])
        if not accounts:
            return self.browse()
        rows = {(row.account_id.id, row.country_id.id): row for row in self.sudo().search(
            [('account_id', 'in', accounts.ids)])}
        sent = self._sms_router_window(accounts, settings, now)
        # An ejected account whose cool-down is over is being probed: judged on its probe.
        states = {key: row._sms_router_state().at(now) for key, row in rows.items()}
        figures = {}
        for key in set(sent) | set(rows):
            state = states.get(key, QualityState())
            figures[key] = measure(sent.get(key, ()), settings, now, since=state.since)
        peers = self._sms_router_peers(company)
        events = []
        values = []
        for key, figure in figures.items():
            account_id, country_id = key
            state = states.get(key, QualityState())
            peer_rates = [figures[other, country_id].delivery_rate
                          for other in peers.get(account_id, ())
                          if other != account_id and (other, country_id) in figures and figures[other, country_id].known
                          and figures[other, country_id].sample >= settings.min_sample]
            judgement = judge(state, figure, settings, now, peer_rates=peer_rates)
            new = judgement.state
            vals = {
                'delivery_rate': figure.delivery_rate or 0.0, 'sample': figure.sample,
                'delivered_count': figure.delivered, 'undelivered_count': figure.undelivered,
                'sent_count': figure.sent, 'no_report_share': figure.no_report_share or 0.0,
                'median_report_delay': figure.median_report_delay or 0.0,
                'latency_p50_ms': figure.latency_p50_ms or 0.0,
                'state': new.state, 'ejected_until': new.ejected_until or False,
                'ejection_count': new.ejection_count, 'counted_since': new.since or False,
                'ejection_cause': new.cause or False, 'ejection_rate': new.rate or 0.0,
                'ejection_sample': new.sample, 'ejection_threshold': new.threshold or 0.0,
                'ejection_mean': new.mean or 0.0, 'refreshed_at': now,
            }
            if key in rows:
                rows[key].write(vals)
            else:
                values.append({**vals, 'account_id': account_id, 'country_id': country_id})
            if judgement.event:
                events.append((key, judgement.event, new))
        if values:
            for row in self.sudo().create(values):
                rows[row.account_id.id, row.country_id.id] = row
        for key, event, new in events:
            rows[key]._sms_router_tell(event, new)
        ends = [new.ejected_until for _key, _event, new in events if new.state == STATE_EJECTED]
        if ends:
            # The cool-downs end: the gate lets probe SMS through from then; the refresh
            # after it counts the probe from its start.
            self.env.ref('sms_router.ir_cron_sms_router_quality')._trigger(sorted(set(ends)))
        return self.browse([row.id for row in rows.values()])

    @api.model
    def _sms_router_window(self, accounts, settings, now):
        """{(account id, country id): [SentSms]} of the accepted attempts of ``accounts``
        in the window, in one query: per account and country, the last ``window_size`` (or
        all, without a size) reported ones and the last MAX_UNREPORTED unreported ones."""
        horizon = now - (timedelta(hours=settings.window_hours) if settings.window_hours
                         else timedelta(days=MAX_WINDOW_DAYS))
        reported_limit = settings.window_size or 1_000_000
        self.env['sms.router.attempt'].flush_model()
        self.env.cr.execute(SQL(
            """
            SELECT account_id, destination_country_id, create_date, delivery_state, delivery_date, duration_ms
              FROM (SELECT account_id, destination_country_id, create_date, delivery_state, delivery_date,
                           duration_ms, delivery_state IN %(reported)s AS reported,
                           row_number() OVER (PARTITION BY account_id, destination_country_id,
                                                           delivery_state IN %(reported)s
                                              ORDER BY create_date DESC, id DESC) AS position
                      FROM sms_router_attempt
                     WHERE account_id IN %(accounts)s AND accepted AND destination_country_id IS NOT NULL
                       AND create_date >= %(horizon)s) AS attempts
             WHERE position <= CASE WHEN reported THEN %(reported_limit)s ELSE %(unreported_limit)s END
            """, reported=(DELIVERED, UNDELIVERED), accounts=tuple(accounts.ids), horizon=horizon,
            reported_limit=reported_limit, unreported_limit=MAX_UNREPORTED))
        sent = defaultdict(list)
        for account_id, country_id, created, state, reported_at, duration in self.env.cr.fetchall():
            sent[account_id, country_id].append(SentSms(created, state or '', reported_at if state else None,
                                                        duration))
        return sent

    @api.model
    def _sms_router_peers(self, company):
        """{account id: ids of the accounts sharing a route with it (itself included)}."""
        peers = defaultdict(set)
        for route in self.env['sms.router.route'].sudo().search([('company_id', '=', company.id)]):
            chain = set(route.step_ids.account_id.ids)
            for account_id in chain:
                peers[account_id] |= chain
        return peers

    def _sms_router_tell(self, event, state):
        """A chatter note on the account and an alert for an ejection, a failed probe or a
        restoration of this row (written in the company's language)."""
        self.ensure_one()
        account = self.account_id.sudo()
        company = account.company_id
        lang = company_lang(self.env, company)
        env = self.with_context(lang=lang).env
        country = self.country_id.with_context(lang=lang).name
        if event == EVENT_RESTORED:
            text = env._('Delivery quality to %(country)s restored: the account takes traffic for it again.',
                         country=country)
            self.reason = False
            account._sms_router_log(text)
            still = self.search_count([('account_id', '=', account.id), ('state', '!=', STATE_OK)])
            if not still:
                self.env['sms.router.alert']._sms_router_resolve(
                    'quality_low', company, account=account,
                    note=lambda alert_env: alert_env._('Delivery quality restored for every country.'))
            return
        reason = render_reason(ejection_reason(state, country), lang)
        until = fields.Datetime.to_string(state.ejected_until)
        self.reason = reason
        if event == EVENT_PROBE_FAILED:
            text = env._('Probe failed for %(country)s (%(reason)s): skipped for it again until %(until)s UTC.',
                         country=country, reason=reason, until=until)
        else:
            text = env._('Skipped for %(country)s until %(until)s UTC: %(reason)s. Probe SMS test it then.',
                         country=country, reason=reason, until=until)
        account._sms_router_log(text)
        self.env['sms.router.alert']._sms_router_raise(
            'quality_low', company, account=account,
            title=lambda alert_env: alert_env._('Delivery quality low: %s', account.name),
            message=lambda alert_env: alert_env._(
                '%(account)s is skipped for %(country)s until %(until)s UTC: %(reason)s. The next account of '
                'each chain sends instead; probe SMS test it after the cool-down.',
                account=account.name, country=country, until=until, reason=reason))

    @api.model
    def _sms_router_reports_arrived(self):
        """Delivery reports were recorded: refresh soon (see _trigger_refresh)."""
        _trigger_refresh(self.env)

    # ------------------------------------------------------------ sending

    @api.model
    def _sms_router_gate(self, company, now=None):
        """The QualityGate of ``company`` for one batch, or None when no account of it is
        ejected or probing (or its breaker is off). One query. Never raises: a gate that
        cannot be read skips nothing (the SMS go by order)."""
        if not company.sms_router_quality_breaker:
            return None
        now = now or fields.Datetime.now()
        try:
            with self.env.cr.savepoint():
                rows = self._sms_router_gate_rows(company, now)
        except Exception:  # noqa: BLE001 - quality bookkeeping never fails a batch
            _logger.exception('SMS router: company %s: delivery quality not read; no account skipped for it',
                              company.id)
            return None
        if not rows:
            return None
        return QualityGate(company._sms_router_quality_settings(), rows, now)

    @api.model
    def _sms_router_gate_rows(self, company, now):
        """[(account id, country code, country name, QualityState, rate, probes sent)] of
        the rows of ``company`` that are not ok, with the probe SMS accepted since each
        probe began, in one query."""
        self.flush_model()
        self.env['sms.router.attempt'].flush_model(['account_id', 'destination_country_id', 'accepted'])
        lang = company_lang(self.env, company)
        self.env.cr.execute(SQL(
            """
            SELECT q.account_id, c.code, COALESCE(c.name->>%(lang)s, c.name->>'en_US'), q.state, q.ejected_until,
                   q.ejection_count, q.counted_since, q.ejection_cause, q.ejection_rate, q.ejection_sample,
                   q.ejection_threshold, q.ejection_mean, q.delivery_rate,
                   CASE WHEN q.state = 'probing' OR q.ejected_until <= %(now)s THEN (
                       SELECT count(*) FROM sms_router_attempt a
                        WHERE a.account_id = q.account_id AND a.destination_country_id = q.country_id
                          AND a.accepted
                          AND a.create_date >= CASE WHEN q.state = 'probing' THEN q.counted_since
                                                    ELSE q.ejected_until END)
                   ELSE 0 END
              FROM sms_router_quality q
              JOIN res_country c ON c.id = q.country_id
             WHERE q.company_id = %(company)s AND q.state != 'ok'
            """, lang=lang, now=now, company=company.id))
        rows = []
        for (account_id, code, name, state, until, count, since, cause, rate, sample, threshold, mean, current,
             probes) in self.env.cr.fetchall():
            rows.append((account_id, code, name, QualityState(
                state=state, ejected_until=until, ejection_count=count, since=since, cause=cause or '',
                rate=rate, sample=sample, threshold=threshold, mean=mean or None), current, probes))
        return rows


class QualityGate:
    """The quality breaker applied to the chains of one batch (sms_api.CompanyRouting):
    an account ejected for the SMS's destination country becomes a skipped handle (a
    SKIPPED attempt with the reason, then the next account); at most the chain's maximum
    ejected share, none when every account of the chain is out (by order). While an
    account is probed, the first SMS of the batch go to it, up to the probe size."""

    def __init__(self, settings, rows, now):
        self.now = now
        self.names = {}
        states, probes, rates = {}, {}, {}
        for account_id, code, name, state, rate, probes_sent in rows:
            states[account_id, code] = state
            probes[account_id, code] = probes_sent
            rates[account_id, code] = rate
            self.names[code] = name or code
        self.quality = ChainQuality(settings, states, probes, rates)
        self._can_send = {}     # account id -> whether it can take SMS now (breaker peeked once)

    def apply(self, chain, region):
        """``chain`` (AccountHandles) for an SMS to ``region`` (ISO code)."""
        if not region or not chain:
            return chain
        # The route's accounts: Odoo IAP as last resort (appended to every chain, never
        # measured) does not count, so that with every account of the route degraded the
        # SMS go by order instead of to the last resort.
        ids = [handle.account_id for handle in chain if isinstance(handle.account_id, int)]
        out = self.quality.skipped(ids, region, self.now)
        if out and not any(self._can_take(handle) for handle in chain
                           if isinstance(handle.account_id, int) and handle.account_id not in out):
            # The accounts left cannot send now (breaker open, low credit, misconfigured):
            # skipping the ejected ones would end the chain on nothing, so none is skipped,
            # as when every account is ejected (Envoy's panic threshold counts every
            # unhealthy host, not only the ejected ones).
            out = {}
        first = next((handle for handle in chain if handle.account_id not in out), None)
        if first is not None:
            # The SMS goes to the first account not skipped: a probe SMS when it is probed.
            self.quality.take_probe(first.account_id, region, self.now)
        if not out:
            return chain
        return tuple(skipped_handle(handle, region, self._reason(handle.account_id, region, out[handle.account_id]))
                     if handle.account_id in out else handle for handle in chain)

    def _can_take(self, handle):
        """Whether ``handle`` can take an SMS now, as a dispatch round would decide before
        its request (configuration, credit, breaker peeked once per batch), read-only."""
        if handle.account_id not in self._can_send:
            try:
                can = not handle.unavailable_reason and not handle.client.check_configuration()
                if can and handle.breaker is not None:
                    can = bool(handle.breaker.peek().allowed)
            except Exception:  # noqa: BLE001 - then the ejection applies, as without this check
                _logger.exception('SMS router: whether account %s can take SMS could not be read', handle.account_id)
                can = True
            self._can_send[handle.account_id] = can
        return self._can_send[handle.account_id]

    def _reason(self, account_id, region, why):
        country = self.names.get(region, region)
        if why == STATE_PROBING:
            return probe_wait_reason(country, self.quality.settings.probe_size)
        state = self.quality.states[account_id, region]
        return skip_reason(state, country, fields.Datetime.to_string(state.ejected_until) + ' UTC')


def _trigger_refresh(env):
    """Run the quality refresh soon: delivery reports arrived. At most one trigger per
    REPORT_TRIGGER_SECONDS and process, a few seconds ahead (the reports of a batch
    arrive together): a burst of reports costs one refresh, not one each."""
    now = time.monotonic()
    key = env.cr.dbname
    if now - _last_trigger.get(key, -REPORT_TRIGGER_SECONDS) < REPORT_TRIGGER_SECONDS:
        return
    _last_trigger[key] = now
    try:
        cron = env.ref('sms_router.ir_cron_sms_router_quality', raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(fields.Datetime.now() + timedelta(seconds=5))
    except Exception:  # noqa: BLE001 - a report is recorded whatever happens to the refresh
        _logger.exception('SMS router: delivery quality refresh not triggered')

