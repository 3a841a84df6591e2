import logging
from contextlib import contextmanager
from datetime import date, timedelta
from unittest.mock import patch

import psycopg2

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..engine.outcomes import OutcomeKind
from .common import ScriptedClient, SmsRouterCase

MODEL_LOGGER = 'odoo.addons.sms_router.models.sms_router_account'


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterCredit(SmsRouterCase):
    """Credits read from the providers: the quiet refresh, the scheduled action and the
    Settings summary, with a fake provider hook (the provider addons test their own)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.first = cls._router_account(cls, cls.company_fr, 'Credit FR 1')
        cls.second = cls._router_account(cls, cls.company_fr, 'Credit FR 2')
        cls.other = cls._router_account(cls, cls.company_gb, 'Credit GB')
        cls.no_credit = cls._router_account(cls, cls.company_fr, 'No credit FR')

    @contextmanager
    def fakeCredits(self, answers):
        """Make the accounts of ``answers`` ({account: credit dict or exception}) report a
        credit, and no other account; yield the (account id, timeout) of each read."""
        answers = {account.id: answer for account, answer in answers.items()}
        calls = []

        def supports(account):
            return account.id in answers

        def fetch(account, timeout=None):
            calls.append((account.id, timeout))
            answer = answers[account.id]
            if isinstance(answer, Exception):
                raise answer
            return answer

        Account = self.registry['sms.router.account']
        with patch.object(Account, '_sms_router_supports_credit', supports), \
                patch.object(Account, '_sms_router_fetch_credit', fetch):
            self.env['sms.router.account'].invalidate_model(['credit_supported'])
            yield calls
        self.env['sms.router.account'].invalidate_model(['credit_supported'])

    def _age(self, account, minutes):
        account.credit_checked_at = fields.Datetime.now() - timedelta(minutes=minutes)

    # ------------------------------------------------------------ quiet refresh

    def test_quiet_refresh_reads_and_clears_the_error(self):
        self.first.credit_error = 'HTTP 503'
        with self.fakeCredits({self.first: {'credit_balance': 12.5, 'credit_expiry': date(2027, 1, 31)}}) as calls:
            refreshed = self.first._sms_router_refresh_credit_quietly()
        self.assertEqual(refreshed, self.first)
        self.assertEqual(calls, [(self.first.id, 5.0)], 'a short timeout by default (Settings)')
        self.assertEqual(self.first.credit_balance, 12.5)
        self.assertEqual(self.first.credit_expiry, date(2027, 1, 31))
        self.assertTrue(self.first.credit_checked_at)
        self.assertFalse(self.first.credit_error, 'a success clears the last error')

    def test_quiet_refresh_skips_recent_misconfigured_and_unsupported_accounts(self):
        self._age(self.first, 0)
        self._age(self.second, 5)
        misconfigured = self._router_account(self.company_fr, 'Misconfigured FR')
        answer = {'credit_balance': 1.0}
        accounts = self.first | self.second | misconfigured | self.no_credit
        with self.fakeCredits({self.first: answer, self.second: answer, misconfigured: answer}) as calls, \
                self.mockRouterClients({misconfigured: ScriptedClient('m', OutcomeKind.SENT,
                                                                      configuration_error='missing key')}):
            accounts._sms_router_refresh_credit_quietly()
            self.assertEqual(calls, [(self.second.id, 5.0)], 'read less than a minute ago: skipped')
            accounts._sms_router_refresh_credit_quietly(max_age=0, timeout=None)
            self.assertEqual(calls[1:], [(self.first.id, None), (self.second.id, None)],
                             'max_age=0: whatever the age; never a misconfigured account')
        self.assertFalse(misconfigured.credit_checked_at)
        self.assertFalse(self.no_credit.credit_checked_at)

    def test_quiet_refresh_failure_is_stored_and_logged_without_raising(self):
        self.first.write({'credit_balance': 77.0, 'credit_checked_at': '2026-01-01 10:00:00'})
        answers = {self.first: UserError('Provider: HTTP 503: Service Unavailable'),
                   self.second: ConnectionError('connection reset by peer'),
                   self.other: {'credit_balance': 3.0}}
        with self.fakeCredits(answers), self.assertLogs(MODEL_LOGGER, 'WARNING') as logs:
            refreshed = (self.first | self.second | self.other)._sms_router_refresh_credit_quietly()
        self.assertEqual(refreshed, self.other, 'a failure does not stop the other accounts')
        self.assertEqual(self.first.credit_error, 'Provider: HTTP 503: Service Unavailable')
        self.assertEqual(self.first.credit_balance, 77.0, 'the last known value stays')
        self.assertEqual(self.first.credit_checked_at, fields.Datetime.to_datetime('2026-01-01 10:00:00'))
        self.assertEqual(self.second.credit_error,
                         'Credit refresh failed: ConnectionError: connection reset by peer')
        self.assertFalse(self.second.credit_checked_at)
        self.assertEqual(self.other.credit_balance, 3.0)
        self.assertEqual(len(logs.output), 2)
        self.assertIn(f'credit of account {self.first.id} (iap) not refreshed: Provider: HTTP 503', logs.output[0])

    def test_credit_learnt_while_sending_clears_the_error(self):
        self.first.credit_error = 'HTTP 503'
        self.env.flush_all()
        self.first._sms_router_apply_updates({'credit_balance': 7.0})
        self.assertEqual(self.first.credit_balance, 7.0)
        self.assertTrue(self.first.credit_checked_at)
        self.assertFalse(self.first.credit_error)
        self.assertEqual(self.first.credit_display, '7.00')

    def test_quiet_refresh_survives_a_row_it_cannot_write(self):
        """A sender that just updated the account row makes the write fail: that account
        is left as it is, the others are refreshed, nothing is raised."""
        store = self.registry['sms.router.account']._sms_router_store_credit

        def store_or_conflict(account, credit):
            if account == self.first:
                raise psycopg2.errors.SerializationFailure('could not serialize access due to concurrent update')
            return store(account, credit)

        answers = {self.first: {'credit_balance': 1.0}, self.second: {'credit_balance': 2.0}}
        with self.fakeCredits(answers), \
                patch.object(self.registry['sms.router.account'], '_sms_router_store_credit', store_or_conflict), \
                self.assertLogs(MODEL_LOGGER, logging.INFO) as logs:  # "INFO" is Odoo's level 25
            refreshed = (self.first | self.second)._sms_router_refresh_credit_quietly()
        self.assertEqual(refreshed, self.second)
        self.assertEqual(self.second.credit_balance, 2.0)
        self.assertFalse(self.first.credit_checked_at)
        self.assertIn(f'credit of account {self.first.id} not stored', logs.output[0])

    def test_refresh_button_raises_the_provider_answer(self):
        with self.fakeCredits({self.first: UserError('HTTP 401: bad key')}), \
                self.assertRaisesRegex(UserError, 'HTTP 401: bad key'):
            self.first.action_refresh_credit()
        with self.fakeCredits({self.first: {'credit_balance': 9.0}}):
            self.first.credit_error = 'old error'
            self.first.action_refresh_credit()
        self.assertEqual(self.first.credit_balance, 9.0)
        self.assertFalse(self.first.credit_error)

    def test_credit_fields_groups(self):
        Account = self.env['sms.router.account']
        self.assertEqual(Account._fields['credit_error'].groups, 'sms_router.group_sms_router_operator')
        for name in ('delivery_report_url', 'inbound_url', 'webhook_help'):
            self.assertEqual(Account._fields[name].groups, 'base.group_system')

    # ------------------------------------------------------------ scheduled action

    def test_cron_record(self):
        cron = self.env.ref('sms_router.ir_cron_sms_router_refresh_credits')
        self.assertTrue(cron.active)
        self.assertEqual(cron.user_id, self.env.ref('base.user_root'))
        self.assertEqual(cron.model_id.model, 'sms.router.account')
        self.assertEqual(cron.code.strip(), 'model._cron_sms_router_refresh_credits()')

    def test_cron_refreshes_stale_credits_of_every_company(self):
        self._age(self.first, 90)
        self._age(self.second, 30)
        archived = self._router_account(self.company_fr, 'Archived FR', active=False)
        answers = {account: {'credit_balance': 50.0} for account in (self.first, self.second, self.other, archived)}
        answers[self.second] = {'credit_balance': 40.0}
        with self.fakeCredits(answers) as calls:
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
        self.assertCountEqual(calls, [(self.first.id, None), (self.other.id, None)],
                              'older than 60 minutes or never read; active accounts only')
        self.assertEqual((self.first.credit_balance, self.other.credit_balance), (50.0, 50.0))
        self.assertFalse(self.second.credit_balance)

        self.env['ir.config_parameter'].sudo().set_param('sms_router.credit_refresh_minutes', '20')
        with self.fakeCredits(answers) as calls:
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
        self.assertEqual(calls, [(self.second.id, None)])
        self.assertEqual(self.second.credit_balance, 40.0)

        self._age(self.first | self.second | self.other, 600)
        self.env['ir.config_parameter'].sudo().set_param('sms_router.credit_refresh_minutes', '0')
        with self.fakeCredits(answers) as calls:
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
        self.assertFalse(calls, '0 turns the scheduled refresh off')

    def test_cron_keeps_going_after_a_failure(self):
        answers = {self.first: UserError('HTTP 500'), self.other: {'credit_balance': 8.0}}
        with self.fakeCredits(answers), mute_logger(MODEL_LOGGER):
            self.env['sms.router.account']._cron_sms_router_refresh_credits()
        self.assertEqual(self.first.credit_error, 'HTTP 500')
        self.assertEqual(self.other.credit_balance, 8.0)

    # ------------------------------------------------------------ Settings

    def test_settings_summary_lists_the_company_credits(self):
        self.first.write({'credit_balance': 4.0, 'credit_low_threshold': 10.0,
                          'credit_checked_at': fields.Datetime.now(), 'credit_error': 'HTTP 503'})
        with self.fakeCredits({self.first: UserError('unused'), self.second: UserError('unused'),
                               self.other: UserError('unused')}) as calls, mute_logger(MODEL_LOGGER):
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            summary = settings.sms_router_credit_account_ids
            self.assertEqual(summary, self.first | self.second, "the company's accounts that report a credit")
        self.assertEqual(calls, [(self.second.id, 5.0)], 'read on open, except what was just read')
        self.assertEqual(self.second.credit_display, 'Unknown', 'never read: unknown, not 0.00')
        self.assertEqual(self.first.credit_display, '4.00')
        self.assertTrue(self.first.credit_low)
        self.assertEqual(self.first.credit_error, 'HTTP 503')
        arch = settings.get_views([(False, 'form')])['views']['form']['arch']
        for name in ('sms_router_credit_account_ids', 'sms_router_credit_summary',
                     'action_sms_router_refresh_credits'):
            self.assertIn(name, arch)
        # One line per account, below the threshold in red (test_router_safe_config reads them).
        self.assertEqual(settings.sms_router_credit_summary.count('<li>'), 2)
        self.assertIn('text-danger', settings.sms_router_credit_summary)
        self.assertIn('Last refresh failed: HTTP 503', settings.sms_router_credit_summary)

    def test_settings_refresh_button_reads_every_credit_again(self):
        self._age(self.first, 0)
        with self.fakeCredits({self.first: {'credit_balance': 5.0}, self.other: {'credit_balance': 6.0}}) as calls:
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            self.assertFalse(calls)
            settings.action_sms_router_refresh_credits()
        self.assertEqual(calls, [(self.first.id, None)], 'this company only, whatever the age')
        self.assertEqual(self.first.credit_balance, 5.0)

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model', 'odoo.addons.base.models.ir_rule')
    def test_settings_refresh_is_for_administrators(self):
        operator = new_test_user(
            self.env, login='credit_operator', groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        with self.fakeCredits({self.first: {'credit_balance': 5.0}}) as calls:
            self.env['res.config.settings'].with_user(operator).with_company(self.company_fr).get_values()
            self.assertFalse(calls, 'Settings read credits for system administrators only')
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            with self.assertRaises(AccessError):
                settings.with_user(operator).action_sms_router_refresh_credits()
        self.assertEqual(calls, [(self.first.id, 5.0)])

    # ------------------------------------------------------------ webhooks

    def test_no_webhook_for_odoo_iap(self):
        self.assertFalse(self.first.delivery_report_url)
        self.assertFalse(self.first.inbound_url)
        self.assertFalse(self.first.webhook_help)
        arch = self.env['sms.router.account'].get_views([(False, 'form')])['views']['form']['arch']
        for name in ('delivery_report_url', 'inbound_url', 'webhook_help'):
            self.assertIn(name, arch)

    def test_webhook_urls_hidden_from_operators(self):
        """The URLs are for system administrators: OVH's holds its callback token."""
        operator = new_test_user(
            self.env, login='webhook_operator', groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        views = self.env['sms.router.account'].with_user(operator).get_views([(False, 'form')])
        arch = views['views']['form']['arch']
        for name in ('delivery_report_url', 'inbound_url', 'webhook_help'):
            self.assertNotIn(name, arch)
        self.assertIn('credit_error', arch, 'operators see why a credit could not be read')
