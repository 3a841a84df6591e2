"""What an operator does in the web client, in a real (headless) browser: Odoo tours.

The tours live in static/tests/tours/. Each test prepares the records its tour works on,
runs the tour as the administrator, then checks what the tour saved. Without a Chromium
Odoo skips these tests (never passes them); the test command says so loudly.
"""
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterTours(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.ref('base.main_company')
        Account = cls.env['sms.router.account']
        cls.backup = Account.create({'name': 'Tour Backup', 'sms_provider': 'iap', 'company_id': cls.company.id})

    def setUp(self):
        super().setUp()
        # Breaker states are read on a cursor of their own (sms_router.tools.side_transaction),
        # also while the web client reads accounts in Odoo's read-only requests; a real server
        # allows that, Odoo's test cursors refuse it unless read-only mode is off, as Odoo's
        # own tests of code with side cursors do (website_livechat, web's asset tests).
        self.set_registry_readonly_mode(False)
        self.addCleanup(self.set_registry_readonly_mode, True)

    def _route(self, name, accounts, **values):
        return self.env['sms.router.route'].create({
            'name': name, 'company_id': self.company.id,
            'step_ids': [(0, 0, {'account_id': account.id, 'sequence': index})
                         for index, account in enumerate(accounts, start=1)],
            **values,
        })

    def _account(self, name):
        return self.env['sms.router.account'].create({
            'name': name, 'sms_provider': 'iap', 'company_id': self.company.id})

    def _open_breaker(self, account, failure='HTTP 503'):
        self.env['sms.router.breaker'].sudo().create({
            'account_id': account.id, 'state': 'open', 'opened_at': fields.Datetime.now() - timedelta(seconds=5),
            'open_count': 1, 'failure_count': 3, 'last_failure': failure})

    def _chain(self, route):
        self.env.invalidate_all()
        return route.step_ids.sorted(lambda step: (step.sequence, step.id)).account_id.mapped('name')

    def test_route_create_tour(self):
        """A new account, then a route whose chain is that account followed by another."""
        self.start_tour('/odoo', 'sms_router_route_create_tour', login='admin')
        self.env.invalidate_all()
        account = self.env['sms.router.account'].search([('name', '=', 'Tour Primary')])
        self.assertEqual(len(account), 1)
        self.assertEqual((account.sms_provider, account.company_id), ('iap', self.company))
        route = self.env['sms.router.route'].search([('name', '=', 'Tour France')])
        self.assertEqual(len(route), 1)
        self.assertEqual(route.prefixes, '+33')
        self.assertEqual(self._chain(route), ['Tour Primary', 'Tour Backup'])

    def test_chain_reorder_tour(self):
        """Dragging a chain step's handle changes the order the router uses, once saved."""
        primary = self._account('Tour Primary')
        route = self._route('Tour Reorder', primary | self.backup, prefixes='+44')
        self.assertEqual(self._chain(route), ['Tour Primary', 'Tour Backup'])
        self.start_tour('/odoo', 'sms_router_chain_reorder_tour', login='admin')
        self.assertEqual(self._chain(route), ['Tour Backup', 'Tour Primary'])
        # The route's chatter says how the chain changed.
        self.assertIn('Tour Backup → Tour Primary', route.message_ids[:1].body)

    def test_route_tester_tour(self):
        """The route tester shows the number in E.164, the route and the account that would send."""
        primary = self._account('Tour Primary')
        self._route('Tour France', primary | self.backup, prefixes='+33')
        self._open_breaker(primary)
        self.start_tour('/odoo', 'sms_router_route_tester_tour', login='admin')

    def test_route_tester_tour_french(self):
        """The same tour for an operator who reads French: selectors do not depend on labels,
        and the French views and terms load without an error in the page."""
        self.env['res.lang']._activate_lang('fr_FR')
        modules = self.env['ir.module.module'].search([('name', 'in', ('web', 'sms', 'sms_router'))])
        modules._update_translations('fr_FR')
        self.env.ref('base.user_admin').lang = 'fr_FR'
        self.test_route_tester_tour()

    def test_overview_breaker_tour(self):
        """The Overview shows an open breaker on its account's card."""
        healthy, down = self._account('Tour Healthy'), self._account('Tour Down')
        self._route('Tour Overview', healthy | down)
        self._open_breaker(down)
        self.start_tour('/odoo', 'sms_router_overview_breaker_tour', login='admin')

    def test_alert_acknowledge_tour(self):
        """An operator acknowledges the alert of a breaker that opened, from its form."""
        down = self._account('Tour Down')
        alert = self.env['sms.router.alert'].sudo().create({
            'name': 'Breaker open: Tour Down', 'kind': 'breaker_open', 'company_id': self.company.id,
            'account_id': down.id, 'message': 'HTTP 503 three times in a row.'})
        self.start_tour('/odoo', 'sms_router_alert_acknowledge_tour', login='admin')
        alert.invalidate_recordset()
        self.assertEqual(alert.state, 'acknowledged')
        self.assertEqual(alert.acknowledged_by_id, self.env.ref('base.user_admin'))
        self.assertTrue(alert.acknowledged_date)

    def test_send_window_tour(self):
        """A preset applied to the company becomes the company's own send window, which the
        administrator then edits; the preset stays as it was."""
        preset = self.env.ref('sms_router.send_window_preset_fr_strict')
        self.start_tour('/odoo', 'sms_router_send_window_tour', login='admin')
        self.env.invalidate_all()
        window = self.env['sms.router.send.window'].search([('preset_id', '=', preset.id)])
        self.assertEqual(len(window), 1)
        self.assertEqual(window.company_id, self.company)
        self.assertEqual(window.hours, '09:00-19:00')
        self.assertEqual(window.country_ids, preset.country_ids)
        self.assertIn(self.env.ref('base.fr'), window.country_ids)
        self.assertEqual((window.traffic, window.sat, window.sun, window.exclude_holidays),
                         ('marketing', True, False, True))
        self.assertEqual(preset.hours, '08:00-20:00', 'the preset is not changed')
