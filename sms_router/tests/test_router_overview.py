"""The operator cockpit: the accounts' 24-hour figures, their visibility, the card's
action and the cost of reading a page of cards."""
import uuid
from datetime import timedelta

from odoo import fields
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from .common import SmsRouterCase

OVERVIEW_FIELDS = (
    'overview_accepted', 'overview_failed', 'overview_failed_over', 'overview_skipped',
    'overview_success_rate', 'overview_latency_p50', 'overview_latency_p95', 'overview_delivered',
    'overview_reported', 'overview_delivery_rate', 'overview_has_traffic', 'overview_last_error',
    'overview_last_error_at', 'overview_color', 'breaker_state', 'breaker_next_probe_at', 'credit_display',
)


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterOverview(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account_a = cls._overview_account(cls.company_fr, 'Overview A')
        cls.account_b = cls._overview_account(cls.company_fr, 'Overview B')
        cls.account_gb = cls._overview_account(cls.company_gb, 'Overview GB')

    @classmethod
    def _overview_account(cls, company, name):
        return cls.env['sms.router.account'].create({'name': name, 'company_id': company.id})

    def _attempt(self, account, outcome='sent', final=True, duration=100, delivery=False, hours_ago=1.0,
                 reason=False, number='+33612345678'):
        accepted = outcome == 'sent'
        attempt = self.env['sms.router.attempt'].create({
            'sms_uuid': uuid.uuid4().hex, 'company_id': account.company_id.id, 'account_id': account.id,
            'account_name': account.name, 'sms_provider': account.sms_provider, 'number': number,
            'step': 1, 'outcome': outcome, 'accepted': accepted, 'final': final, 'duration_ms': duration,
            'delivery_state': delivery or ('pending' if accepted else False), 'reason': reason,
        })
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE sms_router_attempt SET create_date = %s WHERE id = %s",
                                fields.Datetime.now() - timedelta(hours=hours_ago), attempt.id))
        attempt.invalidate_recordset(['create_date'])
        return attempt

    def _overview(self, accounts):
        accounts.invalidate_recordset()
        return {account: {name: account[name] for name in OVERVIEW_FIELDS} for account in accounts}

    def test_figures_of_the_last_24_hours(self):
        for duration, delivery in ((100, 'delivered'), (200, 'delivered'), (300, 'undelivered'), (400, 'pending')):
            self._attempt(self.account_a, duration=duration, delivery=delivery, hours_ago=3)
        self._attempt(self.account_a, 'provider_error', final=True, duration=1000, hours_ago=2, reason='A: down')
        self._attempt(self.account_a, 'ambiguous', final=False, duration=500, hours_ago=4, reason='A: timeout')
        self._attempt(self.account_a, 'provider_error', final=False, duration=600, hours_ago=1, reason='A: HTTP 503')
        self._attempt(self.account_a, 'skipped', final=False, duration=0, hours_ago=0.5, reason='breaker open')
        # Older than 24 hours: not counted, not the last error.
        self._attempt(self.account_a, duration=9000, delivery='undelivered', hours_ago=25)
        self._attempt(self.account_a, 'provider_error', final=True, duration=9000, hours_ago=24.5, reason='old')

        figures = self._overview(self.account_a)[self.account_a]
        self.assertEqual(figures['overview_accepted'], 4)
        self.assertEqual(figures['overview_failed'], 1)
        self.assertEqual(figures['overview_failed_over'], 2)
        self.assertEqual(figures['overview_skipped'], 1)
        self.assertAlmostEqual(figures['overview_success_rate'], 4 / 7)
        # Requests' durations 100 200 300 400 500 600 1000 (the skip made none).
        self.assertEqual(figures['overview_latency_p50'], 400)
        self.assertEqual(figures['overview_latency_p95'], 880)   # 600 + 0.7 x (1000 - 600)
        # Delivered 2 of the 3 reported; the pending one is not reported yet.
        self.assertEqual((figures['overview_delivered'], figures['overview_reported']), (2, 3))
        self.assertAlmostEqual(figures['overview_delivery_rate'], 2 / 3)
        self.assertTrue(figures['overview_has_traffic'])
        self.assertEqual(figures['overview_last_error'], 'A: HTTP 503')
        self.assertEqual(figures['breaker_state'], 'closed')
        self.assertEqual(figures['overview_color'], 10)
        self.assertFalse(figures['breaker_next_probe_at'])
        self.assertEqual(figures['credit_display'], 'Unknown')

    def test_no_recent_traffic(self):
        self._attempt(self.account_b, duration=100, delivery='delivered', hours_ago=30)
        self._attempt(self.account_b, 'provider_error', duration=100, hours_ago=30, reason='old error')
        figures = self._overview(self.account_b)[self.account_b]
        self.assertFalse(figures['overview_has_traffic'])
        self.assertEqual((figures['overview_accepted'], figures['overview_failed'], figures['overview_reported']),
                         (0, 0, 0))
        self.assertEqual(figures['overview_success_rate'], 0.0)
        self.assertFalse(figures['overview_last_error'])

    def test_open_breaker(self):
        opened_at = fields.Datetime.now() - timedelta(seconds=20)
        self.env['sms.router.breaker'].sudo().create({
            'account_id': self.account_a.id, 'state': 'open', 'opened_at': opened_at, 'open_count': 2,
            'failure_count': 3, 'last_failure': 'HTTP 500'})
        self.account_a.breaker_cooldown = 60
        self.env.flush_all()
        figures = self._overview(self.account_a)[self.account_a]
        self.assertEqual(figures['breaker_state'], 'open')
        self.assertEqual(figures['overview_color'], 1)
        # Second opening in a row: the cool-down doubled.
        self.assertEqual(figures['breaker_next_probe_at'], opened_at + timedelta(seconds=120))
        # No failed attempt in 24 hours: the breaker's last failure is the last error.
        self.assertEqual(figures['overview_last_error'], 'HTTP 500')

    def test_destination_country(self):
        france = self._attempt(self.account_a, number='+33612345678')
        britain = self._attempt(self.account_a, number='+447700900123')
        national = self._attempt(self.account_a, number='0612345678')
        self.assertEqual(france.destination_country_id, self.env.ref('base.fr'))
        self.assertEqual(britain.destination_country_id, self.env.ref('base.uk'))
        self.assertFalse(national.destination_country_id)

    def test_multi_company_visibility(self):
        self._attempt(self.account_gb, duration=100)
        self._attempt(self.account_a, duration=100)
        operator = new_test_user(
            self.env, login='overview_operator', groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_overview_action')
        accounts = self.env['sms.router.account'].with_user(operator).with_context(
            allowed_company_ids=self.company_fr.ids).search([])
        self.assertIn(self.account_a, accounts)
        self.assertNotIn(self.account_gb, accounts)
        self.assertEqual(accounts.company_id, self.company_fr)
        result = accounts.web_search_read([('id', 'in', (self.account_a | self.account_b).ids)],
                                          {'overview_accepted': {}, 'overview_success_rate': {}})
        self.assertEqual({r['id']: r['overview_accepted'] for r in result['records']},
                         {self.account_a.id: 1, self.account_b.id: 0})
        self.assertEqual(action['res_model'], 'sms.router.account')
        # Grouped by company only for users of several companies (the filter needs the group).
        search_arch = self.env['sms.router.account'].with_user(operator).get_views(
            [(action['search_view_id'][0], 'search')])['views']['search']['arch']
        self.assertNotIn('group_by_company', search_arch)
        search_arch = self.env['sms.router.account'].get_views(
            [(action['search_view_id'][0], 'search')])['views']['search']['arch']
        self.assertIn('group_by_company', search_arch)

    def test_card_opens_the_attempts(self):
        action = self.account_a.action_sms_router_overview_attempts()
        self.assertEqual(action['res_model'], 'sms.router.attempt')
        self.assertEqual(action['domain'], [('account_id', '=', self.account_a.id)])
        self.assertEqual(action['context'].get('search_default_last_24h'), 1)
        self.assertIn('pivot', action['view_mode'])
        mine = self._attempt(self.account_a)
        self._attempt(self.account_b)
        self.assertEqual(self.env['sms.router.attempt'].search(action['domain']), mine)
        # The overview comes first in the app's menu.
        overview = self.env.ref('sms_router.sms_router_overview_menu')
        self.assertEqual(overview.parent_id.child_id.sorted('sequence')[0], overview)

    def test_queries_do_not_grow_with_the_accounts(self):
        specification = {name: {} for name in OVERVIEW_FIELDS}
        specification['company_id'] = {'fields': {'display_name': {}}}
        Account = self.env['sms.router.account']

        def count_queries(accounts):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            Account.web_search_read([('id', 'in', accounts.ids)], specification)
            return self.env.cr.sql_log_count - before

        for account in self.account_a | self.account_b | self.account_gb:
            self._attempt(account, duration=100, delivery='delivered')
            self._attempt(account, 'provider_error', duration=100, reason='down')
        many = self.account_a | self.account_b | self.account_gb
        for index in range(7):
            many |= self._overview_account(self.company_fr, f'Overview extra {index}')
        count_queries(self.account_a)  # warm the caches (views, rules, translations)
        one = count_queries(self.account_a)
        ten = count_queries(many)
        self.assertEqual(one, ten)
