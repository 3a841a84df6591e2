import uuid
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from ..engine.outcomes import OutcomeKind
from ..models import sms_router_quality
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterQuality(SmsRouterCase):
    """Delivery quality per account and destination country, and the quality breaker at
    send time (sms.router.quality)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_fr
        cls.company.sms_router_iap_last_resort = False
        cls.company.sms_router_quality_floor = 80
        cls.acc_a = cls._router_account(cls, cls.company, 'Quality A')
        cls.acc_b = cls._router_account(cls, cls.company, 'Quality B')
        cls._router_route(cls, cls.company, cls.acc_a | cls.acc_b, name='Everywhere')
        cls.fr = cls.env.ref('base.fr')
        cls.be = cls.env.ref('base.be')
        cls.env['ir.config_parameter'].sudo().set_param('sms_router.quality_probe_size', 2)

    def setUp(self):
        super().setUp()
        sms_router_quality._last_trigger.clear()
        self.Quality = self.env['sms.router.quality']

    def _history(self, account, delivered, undelivered, country=None, minutes_ago=10):
        """Accepted attempts of ``account`` to ``country`` (France), reported."""
        country = country or self.fr
        values = []
        for state in ['delivered'] * delivered + ['undelivered'] * undelivered:
            values.append({
                'sms_uuid': uuid.uuid4().hex, 'company_id': self.company.id, 'account_id': account.id,
                'account_name': account.name, 'outcome': OutcomeKind.SENT.value, 'accepted': True, 'final': True,
                'delivery_state': state, 'delivery_date': fields.Datetime.now(), 'duration_ms': 120,
                'destination_country_id': country.id,
            })
        attempts = self.env['sms.router.attempt'].create(values)
        if attempts:
            self._age(attempts, minutes_ago)
        return attempts

    def _age(self, attempts, minutes):
        attempts.flush_recordset()
        self.env.cr.execute(SQL(
            "UPDATE sms_router_attempt SET create_date = create_date - make_interval(mins => %s) WHERE id IN %s",
            minutes, tuple(attempts.ids)))
        attempts.invalidate_recordset()

    def _row(self, account, country=None):
        return self.Quality.search([('account_id', '=', account.id), ('country_id', '=', (country or self.fr).id)])

    def _eject_a(self):
        self._history(self.acc_a, 19, 31)
        self._history(self.acc_b, 50, 0)
        self.Quality._sms_router_refresh(self.company)
        row = self._row(self.acc_a)
        self.assertEqual(row.state, 'ejected')
        return row

    def _send(self, numbers):
        sms = self._router_sms(self.company, numbers)
        with self.mockRouterClients({self.acc_a: OutcomeKind.SENT, self.acc_b: OutcomeKind.SENT}):
            sms.send()
        return sms

    def test_figures_per_account_and_country(self):
        self._history(self.acc_a, 45, 5)
        self._history(self.acc_a, 3, 0, country=self.be)
        rows = self.Quality._sms_router_refresh(self.company)
        self.assertEqual(len(rows), 2)
        row = self._row(self.acc_a)
        self.assertAlmostEqual(row.delivery_rate, 0.9)
        self.assertEqual((row.sample, row.delivered_count, row.undelivered_count, row.sent_count), (50, 45, 5, 50))
        self.assertEqual(row.latency_p50_ms, 120)
        self.assertEqual(row.state, 'ok')
        self.assertEqual(self._row(self.acc_a, self.be).sample, 3)
        # Contract 4: the figures of the accounts for the regions asked, in one read.
        quality = self.acc_a._sms_router_quality(['FR', 'BE', 'DE'])
        self.assertEqual(set(quality), {(self.acc_a.id, 'FR'), (self.acc_a.id, 'BE')})
        self.assertAlmostEqual(quality[self.acc_a.id, 'FR'].delivery_rate, 0.9)
        self.assertEqual(quality[self.acc_a.id, 'FR'].sample, 50)

    def test_window_keeps_the_last_reported_sms(self):
        # 30 old failures, then 50 deliveries: the window (50 reported SMS) sees only these.
        self._history(self.acc_a, 0, 30, minutes_ago=60)
        self._history(self.acc_a, 50, 0, minutes_ago=5)
        self.Quality._sms_router_refresh(self.company)
        self.assertAlmostEqual(self._row(self.acc_a).delivery_rate, 1.0)
        self.company.sms_router_quality_window_size = 0
        self.Quality._sms_router_refresh(self.company)
        self.assertAlmostEqual(self._row(self.acc_a).delivery_rate, 50 / 80)

    def test_ejected_account_is_skipped_for_its_destination_only(self):
        row = self._eject_a()
        self.assertEqual(row.reason, 'delivery 38% to France over the last 50 reported SMS, below 80%')
        self.assertEqual(self._row(self.acc_b).state, 'ok')
        self.assertIn('Skipped for France until', self.acc_a.message_ids[0].body)
        alert = self.env['sms.router.alert'].search([('kind', '=', 'quality_low'), ('account_id', '=', self.acc_a.id)])
        self.assertEqual((len(alert), alert.ongoing), (1, True))
        self.assertEqual(self.acc_a.quality_ejected_count, 1)

        sms = self._send(['+33612345678', '+33612345679', '+447400123456'])
        by_number = {record.number: record for record in sms}
        for number in ('+33612345678', '+33612345679'):
            attempts = self.assertRouterTrail(by_number[number], [(self.acc_a, 'skipped'), (self.acc_b, 'sent')])
            self.assertTrue(attempts[0].reason.startswith(
                'delivery 38% to France over the last 50 reported SMS, below 80%; skipped for this destination '
                'until '), attempts[0].reason)
            self.assertEqual(attempts[0].destination_country_id, self.fr)
            self.assertFalse(attempts[0].segments)
        # Another destination still goes through the account.
        self.assertRouterTrail(by_number['+447400123456'], [(self.acc_a, 'sent')])
        self.assertEqual(self.routerRecipients(self.acc_a), ['+447400123456'])

    def test_route_tester_shows_the_skip(self):
        self._eject_a()
        with self.mockRouterClients({self.acc_a: OutcomeKind.SENT, self.acc_b: OutcomeKind.SENT}):
            tester = self.env['sms.router.route.tester'].new(
                {'company_id': self.company.id, 'number': '+33612345678', 'traffic': 'transactional'})
            lines = [(line.name, line.verdict, line.reason) for line in tester.line_ids]
            self.assertFalse(self.router_calls)
        self.assertEqual([(name, verdict) for name, verdict, _reason in lines],
                         [('Quality A', 'skipped'), ('Quality B', 'send')])
        self.assertTrue(lines[0][2].startswith('delivery 38% to France over the last 50 reported SMS, below 80%'))

    def test_every_account_degraded_sends_by_order(self):
        self._history(self.acc_a, 19, 31)
        self._history(self.acc_b, 10, 40)
        self.Quality._sms_router_refresh(self.company)
        self.assertEqual(self._row(self.acc_b).state, 'ejected')
        sms = self._send(['+33612345678'])
        self.assertRouterTrail(sms, [(self.acc_a, 'sent')])
        # Odoo IAP as last resort is no account of the route: still by order, not to IAP.
        self.company.sms_router_iap_last_resort = True
        sms = self._send(['+33612345679'])
        self.assertRouterTrail(sms, [(self.acc_a, 'sent')])

    def test_ejected_account_sends_when_the_others_cannot(self):
        # The only other account of the route is unavailable (breaker forced open): skipping
        # the ejected one would end the chain on nothing; it sends, as in panic mode.
        self._eject_a()
        self.acc_b._sms_router_force_open('maintenance')
        sms = self._send(['+33612345678'])
        self.assertRouterTrail(sms, [(self.acc_a, 'sent')])
        self.assertEqual(self.routerRecipients(self.acc_a), ['+33612345678'])

    def test_probe_then_restore(self):
        row = self._eject_a()
        row.write({'ejected_until': fields.Datetime.now() - timedelta(seconds=5)})
        # Cool-down over: two probe SMS go to A, the third waits for their reports (skipped).
        sms = self._send(['+33612345671', '+33612345672', '+33612345673'])
        trails = sorted([tuple(self._router_attempts(record).mapped('outcome')) for record in sms])
        self.assertEqual(trails, [('sent',), ('sent',), ('skipped', 'sent')])
        skipped = self._router_attempts(sms).filtered(lambda attempt: attempt.outcome == 'skipped')
        self.assertIn('probing delivery to France', skipped.reason)
        probes = self._router_attempts(sms).filtered(
            lambda attempt: attempt.account_id == self.acc_a and attempt.accepted)
        self.assertEqual(len(probes), 2)
        # The next refresh starts the probe; their reports restore the account.
        self.Quality._sms_router_refresh(self.company)
        self.assertEqual(row.state, 'probing')
        probes._sms_router_record_delivery(True)
        self.Quality._sms_router_refresh(self.company)
        self.assertEqual(row.state, 'ok')
        self.assertEqual(row.ejection_count, 0)
        self.assertIn('restored', self.acc_a.message_ids[0].body)
        alert = self.env['sms.router.alert'].search([('kind', '=', 'quality_low'), ('account_id', '=', self.acc_a.id)])
        self.assertEqual((alert.state, alert.ongoing), ('resolved', False))
        # Restored, it is judged on what it did since its probe.
        self.assertEqual(row.sample, 2)
        sms = self._send(['+33612345674'])
        self.assertRouterTrail(sms, [(self.acc_a, 'sent')])

    def test_failed_probe_ejects_again_for_longer(self):
        row = self._eject_a()
        row.write({'ejected_until': fields.Datetime.now() - timedelta(seconds=5)})
        sms = self._send(['+33612345671', '+33612345672'])
        # Reported before any refresh saw the probe start: judged at once.
        self._router_attempts(sms)._sms_router_record_delivery(False, provider_error='not_delivered')
        before = fields.Datetime.now()
        self.Quality._sms_router_refresh(self.company)
        self.assertEqual((row.state, row.ejection_count, row.ejection_cause), ('ejected', 2, 'probe'))
        self.assertGreaterEqual(row.ejected_until, before + timedelta(minutes=59))
        self.assertIn('Probe failed for France', self.acc_a.message_ids[0].body)

    def test_breaker_off_measures_but_never_skips(self):
        row = self._eject_a()
        self.company.sms_router_quality_breaker = False
        self.assertIsNone(self.Quality._sms_router_gate(self.company))
        sms = self._send(['+33612345678'])
        self.assertRouterTrail(sms, [(self.acc_a, 'sent')])
        self.Quality._sms_router_refresh(self.company)
        self.assertEqual(row.state, 'ok')

    def test_outliers_only_when_asked(self):
        acc_c = self._router_account(self.company, 'Quality C')
        self._router_route(self.company, self.acc_a | self.acc_b | acc_c, name='Three', prefixes='+32')
        self._history(self.acc_a, 41, 9)
        self._history(self.acc_b, 50, 0)
        self._history(acc_c, 49, 1)
        self.Quality._sms_router_refresh(self.company)
        self.assertEqual(self._row(self.acc_a).state, 'ok')
        self.company.sms_router_quality_outliers = True
        self.company.sms_router_quality_floor = 50
        self.Quality._sms_router_refresh(self.company)
        row = self._row(self.acc_a)
        self.assertEqual((row.state, row.ejection_cause), ('ejected', 'outlier'))
        self.assertIn('an outlier', row.reason)

    def test_gate_is_one_query_per_batch(self):
        self._eject_a()
        self.env.flush_all()
        # One SELECT, in a savepoint (a failure must not poison the batch's transaction).
        with self.assertQueryCount(3):
            gate = self.Quality._sms_router_gate(self.company)
        self.assertTrue(gate)
        self._row(self.acc_a).state = 'ok'
        self.env.flush_all()
        self.assertIsNone(self.Quality._sms_router_gate(self.company))

    def test_delivery_report_triggers_a_refresh(self):
        attempts = self.env['sms.router.attempt'].create({
            'sms_uuid': uuid.uuid4().hex, 'company_id': self.company.id, 'account_id': self.acc_a.id,
            'outcome': 'sent', 'accepted': True, 'delivery_state': 'pending', 'destination_country_id': self.fr.id})
        cron = self.env.ref('sms_router.ir_cron_sms_router_quality')
        before = self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)])
        attempts._sms_router_record_delivery(True)
        self.assertEqual(self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)]), before + 1)

    def test_rows_follow_the_company_rules(self):
        self._eject_a()
        operator = self.env['res.users'].create({
            'name': 'Quality operator', 'login': 'quality_operator', 'company_id': self.company_gb.id,
            'company_ids': [(6, 0, (self.company_gb | self.company_fr).ids)],
            'group_ids': [(6, 0, [self.env.ref('sms_router.group_sms_router_operator').id,
                                  self.env.ref('base.group_user').id])]})
        Quality = self.Quality.with_user(operator)
        self.assertFalse(Quality.with_context(allowed_company_ids=self.company_gb.ids).search([]))
        self.assertTrue(Quality.with_context(allowed_company_ids=self.company_fr.ids).search([]))
