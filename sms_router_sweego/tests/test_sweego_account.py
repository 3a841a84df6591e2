from datetime import date, timedelta

import responses

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import API_KEY, CREDIT_URL, WEBHOOK_SECRET, SweegoCase

ROUTER_LOGGER = 'odoo.addons.sms_router.models.sms_router_account'


@tagged('post_install', '-at_install', 'sms_router_sweego')
@route_requests_through_responses
class TestSweegoAccount(SweegoCase):

    def test_provider_fields_and_webhook_url(self):
        self.assertTrue(self.sweego.credit_supported)
        self.assertFalse(self.sweego.configuration_error)
        self.sweego.public_base_url = 'https://odoo.example.com'
        self.assertEqual(self.sweego.delivery_report_url,
                         f'https://odoo.example.com/sms_router_sweego/webhook/{self.sweego.id}')
        self.assertFalse(self.sweego.inbound_url, 'STOP replies come through the same webhook')
        self.assertIn('Sweego dashboard', self.sweego.webhook_help)
        self.assertEqual(self.sweego._sms_router_webhook_paths(),
                         {'delivery_report': f'/sms_router_sweego/webhook/{self.sweego.id}', 'inbound': False})
        self.assertFalse(self.fallback.delivery_report_url)
        self.assertFalse(self.fallback.webhook_help)
        draft = self.env['sms.router.account'].new({'name': 'Draft', 'sms_provider': 'sweego',
                                                    'company_id': self.company_fr.id})
        self.assertFalse(draft.delivery_report_url, 'no URL before the account is saved')
        self.assertTrue(draft.webhook_help)
        self.assertEqual(self.sweego.sweego_campaign_type, 'transac')
        self.assertFalse(self.sweego.sweego_shorten_urls)

    def test_credentials_are_for_system_administrators_only(self):
        for name in ('sweego_api_key', 'sweego_client_uuid', 'sweego_webhook_secret'):
            field = self.env['sms.router.account']._fields[name]
            self.assertEqual(field.groups, 'base.group_system')

    def test_refresh_credit_writes_balance_and_expiry(self):
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200,
                     json={'type': 'sms', 'amount': '1234.5',
                           'termination_date': '2027-01-31T00:00:00Z'})
            self.sweego.action_refresh_credit()
        self.assertEqual(mock.calls[0].request.headers['Api-Key'], 'swg-odoo-test-key-3c9d1f')
        self.assertAlmostEqual(self.sweego.credit_balance, 1234.5)
        self.assertEqual(self.sweego.credit_expiry, date(2027, 1, 31))
        self.assertTrue(self.sweego.credit_checked_at)

    def test_refresh_credit_error_shows_sweego_message(self):
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=401,
                     json={'detail': 'Invalid or missing API key'})
            with self.assertRaisesRegex(UserError, 'HTTP 401: Invalid or missing API key'):
                self.sweego.action_refresh_credit()

    def test_test_connection_checks_credentials_with_the_credit_call(self):
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': 42})
            action = self.sweego.action_test_connection()
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn('Credit left: 42.00', action['params']['message'])
        self.assertAlmostEqual(self.sweego.credit_balance, 42.0)
        self.assertFalse(self.sweego.credit_expiry)

        self._sweego_configure(self.sweego, sweego_webhook_secret=False)
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': 42})
            action = self.sweego.action_test_connection()
        self.assertIn('No webhook secret', action['params']['message'])

        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=403,
                     json={'detail': 'Not allowed for this client'})
            with self.assertRaisesRegex(UserError, 'HTTP 403: Not allowed for this client'):
                self.sweego.action_test_connection()

    def test_test_connection_without_credentials_makes_no_request(self):
        incomplete = self._sweego_account(self.company_fr, 'Sweego incomplete',
                                          sweego_client_uuid=False)
        with self.mockSweego(assert_all=False) as mock:
            with self.assertRaisesRegex(UserError, 'missing client UUID'):
                incomplete.action_test_connection()
        self.assertFalse(mock.calls)

    def test_settings_refresh_and_show_the_credit_when_they_open(self):
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200,
                     json={'type': 'sms', 'amount': '1234.5', 'termination_date': '2027-01-31'})
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertEqual(len(mock.calls), 1)
        self.assertEqual(settings.sms_router_credit_account_ids, self.sweego)
        self.assertEqual(self.sweego.credit_display, '1,234.50')
        self.assertEqual(self.sweego.credit_expiry, date(2027, 1, 31))
        self.assertAlmostEqual(self.sweego.credit_balance, 1234.5)

        # Reopened a moment later: the value just read is shown without another call.
        with self.mockSweego(assert_all=False) as mock:
            self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertFalse(mock.calls)

        # The refresh button always asks Sweego.
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': '1000'})
            settings.action_sms_router_refresh_credits()
        self.assertEqual(self.sweego.credit_display, '1,000.00')

    def test_settings_read_the_credit_with_a_short_timeout(self):
        """Opening Settings must not hang on a slow Sweego: the call gets 5 s, not the
        account's request timeout (the refresh button keeps the account's)."""
        self._sweego_configure(self.sweego, timeout=30)
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': '5'})
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            settings.action_sms_router_refresh_credits()
        self.assertEqual([call.request.req_kwargs['timeout'][1] for call in mock.calls], [5.0, 30.0])

    def test_settings_open_when_sweego_fails_and_show_the_last_known_value(self):
        self.sweego.write({'credit_balance': 77.0, 'credit_checked_at': '2026-01-01 10:00:00'})
        with self.mockSweego() as mock, self.assertLogs(ROUTER_LOGGER, 'WARNING') as logs:
            mock.add(responses.GET, CREDIT_URL, status=503, json={'detail': 'Service Unavailable'})
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertEqual(settings.sms_router_credit_account_ids, self.sweego)
        self.assertEqual(self.sweego.credit_display, '77.00')
        self.assertEqual(self.sweego.credit_error,
                         'Sweego: cannot fetch SMS credit: HTTP 503: Service Unavailable')
        self.assertIn('Service Unavailable', logs.output[0])

        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': '80'})
            self.sweego.action_refresh_credit()
        self.assertFalse(self.sweego.credit_error)

    def test_credit_error_and_logs_never_hold_a_secret(self):
        # Whatever a provider or a library puts in its message, the account's credentials
        # are blanked out before it is stored or logged.
        self.sweego.credit_checked_at = False
        with self.mockSweego() as mock, self.assertLogs(ROUTER_LOGGER, 'WARNING') as logs:
            mock.add(responses.GET, CREDIT_URL, body=ConnectionError(
                f'refused for key {API_KEY} and secret {WEBHOOK_SECRET}'))
            self.sweego._sms_router_refresh_credit_quietly()
        self.assertIn('refused for key *** and secret ***', self.sweego.credit_error)
        for text in (self.sweego.credit_error, *logs.output):
            self.assertNotIn(API_KEY, text)
            self.assertNotIn(WEBHOOK_SECRET, text)

    def test_settings_of_a_company_without_sweego_make_no_call(self):
        with self.mockSweego(assert_all=False) as mock:
            settings = self.env['res.config.settings'].with_company(self.company_gb).create({})
        self.assertFalse(mock.calls)
        self.assertFalse(settings.sms_router_credit_account_ids)

    def test_core_cron_refreshes_stale_sweego_credits(self):
        fresh = self._sweego_account(self.company_gb, 'Sweego GB')
        fresh.write({'credit_balance': 3.0, 'credit_checked_at': fields.Datetime.now()})
        self.sweego.credit_checked_at = fields.Datetime.now() - timedelta(hours=2)
        self._router_credits_read_now_except(self.sweego | fresh)
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': '321'})
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
        self.assertEqual(len(mock.calls), 1, 'the account read less than an hour ago is left alone')
        self.assertAlmostEqual(self.sweego.credit_balance, 321.0)
        self.assertEqual(fresh.credit_balance, 3.0)
