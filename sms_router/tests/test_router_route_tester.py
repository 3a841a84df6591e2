from datetime import timedelta
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import SQL, mute_logger

from ..engine.breakers import AccountBreaker, utcnow
from ..engine.outcomes import OutcomeKind
from ..engine.routing import NumberError, parse_destination
from ..models.sms_router_breaker import PostgresBreakerStore
from .common import ScriptedClient, SmsRouterCase

FR_MOBILE = '+33612345678'
FR_LANDLINE = '+33142685300'
GB_MOBILE = '+447400123456'
SENDS = 'The first account that can take it now.'
FALLBACK = 'Next if the ones before it fail.'


def _naive(moment):
    return moment.replace(tzinfo=None, microsecond=0)


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterRouteTester(SmsRouterCase):
    """The route tester: the route, the reason and the chain's verdicts the router would
    use for a number now, without sending or writing anything."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.mobile = cls._router_account(cls, cls.company_fr, 'FR Mobiles')
        cls.main = cls._router_account(cls, cls.company_fr, 'FR Main')
        cls.backup = cls._router_account(cls, cls.company_fr, 'Backup')
        cls.marketing = cls._router_account(cls, cls.company_fr, 'Marketing')
        cls.accounts = cls.mobile | cls.main | cls.backup | cls.marketing
        cls.route_mobile = cls._router_route(cls, cls.company_fr, cls.mobile | cls.backup, name='FR mobiles',
                                             prefixes='+336 +337')
        cls.route_fr = cls._router_route(cls, cls.company_fr, cls.main | cls.backup, name='France',
                                         country_ids=[(6, 0, cls.env.ref('base.fr').ids)])
        cls.route_marketing = cls._router_route(cls, cls.company_fr, cls.marketing, name='France marketing',
                                                country_ids=[(6, 0, cls.env.ref('base.fr').ids)],
                                                traffic_type='marketing')
        cls.route_default = cls._router_route(cls, cls.company_fr, cls.backup, name='Rest of the world')
        cls.store = PostgresBreakerStore(cls.registry)
        # company_gb has no route: the router is off for it.

    # ---------------------------------------------------------------- helpers

    def _test(self, number, company=None, traffic='transactional', behaviours=None, env=None, real=None):
        """The tester's result for ``number``, on an unsaved tester as the form has it, with
        the accounts' clients scripted (every account sends, unless ``behaviours`` says),
        except the ``real`` accounts'."""
        clients = {account: OutcomeKind.SENT for account in self.accounts - (real or self.accounts.browse())}
        clients.update(behaviours or {})
        Tester = (env or self.env)['sms.router.route.tester']
        with self.mockRouterClients(clients):
            tester = Tester.new({'company_id': (company or self.company_fr).id, 'number': number,
                                 'traffic': traffic})
            tester.line_ids.mapped('verdict')     # computed here, with these clients
            self.assertFalse(self.router_calls, 'the tester sent something')
        return tester

    def _lines(self, tester):
        return [(line.name, line.verdict, line.reason) for line in tester.line_ids]

    def _breaker(self, account, **values):
        self.store.update(account.id, **values)

    # ------------------------------------------------------------------ numbers

    def test_number_grid(self):
        """National numbers are read with the company's country, as the router reads them."""
        grid = [
            (self.company_fr, '06 12 34 56 78', FR_MOBILE, 'base.fr'),
            (self.company_fr, '0612345678', FR_MOBILE, 'base.fr'),
            (self.company_fr, '+33 6 12 34 56 78', FR_MOBILE, 'base.fr'),
            (self.company_fr, '0033612345678', FR_MOBILE, 'base.fr'),
            (self.company_fr, '01 42 68 53 00', FR_LANDLINE, 'base.fr'),
            (self.company_fr, '+44 7400 123456', GB_MOBILE, 'base.uk'),
            (self.company_fr, '+590 690 00 12 34', '+590690001234', 'base.gp'),
            (self.company_fr, '+1 212 555 0123', '+12125550123', 'base.us'),
            (self.company_gb, '07400 123456', GB_MOBILE, 'base.uk'),
            (self.company_gb, '+33612345678', FR_MOBILE, 'base.fr'),
        ]
        for company, raw, e164, country in grid:
            with self.subTest(company=company.name, number=raw):
                tester = self._test(raw, company=company)
                self.assertEqual(tester.e164, e164)
                self.assertEqual(tester.country_id, self.env.ref(country))
                self.assertFalse(tester.number_error)
        tester = self._test('+800 1234 5678')
        self.assertEqual((tester.e164, tester.country_id.id), ('+80012345678', False), 'a non-geographic number')

    def test_unreadable_numbers_give_the_routers_reason(self):
        for raw in ('12', 'call me', '+33 0 00 00 00 00', '06 12'):
            with self.subTest(number=raw):
                # (Odoo's assertRaises empties the cache, where an unsaved tester lives.)
                with self.assertRaises(NumberError) as caught:
                    parse_destination(raw, 'FR')
                tester = self._test(raw)
                self.assertEqual(tester.number_error, str(caught.exception))
                self.assertFalse(tester.e164 or tester.route_id or tester.line_ids)
                self.assertEqual(tester.summary_level, 'danger')
        # Word for word what the router stores on the SMS.
        sms = self._router_sms(self.company_fr, ['06 12'])
        with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            sms.send()
        self.assertEqual(sms.failure_type, 'sms_number_format')
        self.assertEqual(sms.sms_router_failure_reason, self._test('06 12').number_error)

    def test_national_number_without_company_country(self):
        company = self.env['res.company'].create({'name': 'Router nowhere'})
        self.env.user.company_ids |= company
        env = self.env(context=dict(self.env.context, allowed_company_ids=company.ids))
        account = self._router_account(company, 'Nowhere')
        self._router_route(company, account, name='Nowhere default')
        tester = self._test('06 12 34 56 78', company=company, env=env)
        self.assertIn('no country known to read a national number', tester.number_error)
        self.assertIn('no country', tester.region_hint)
        self.assertEqual(self._test('+33612345678', company=company, env=env).e164, FR_MOBILE)
        self.assertIn('France', self._test('x', company=self.company_fr).region_hint)

    # ----------------------------------------------------------------- matching

    def test_prefix_country_default_and_reason(self):
        cases = [
            ('06 12 34 56 78', self.route_mobile, 'prefix', 'Longest matching prefix +336'),
            ('07 56 12 34 56', self.route_mobile, 'prefix', 'Longest matching prefix +337'),
            ('01 42 68 53 00', self.route_fr, 'country', 'Destination country France'),
            ('+44 7400 123456', self.route_default, 'default', 'Default route (no prefix or country matched)'),
        ]
        for number, route, kind, reason in cases:
            with self.subTest(number=number):
                tester = self._test(number)
                self.assertEqual(tester.route_id, route)
                self.assertEqual(tester.match_kind, kind)
                self.assertEqual(tester.match_reason, reason)

    def test_marketing_and_transactional(self):
        tester = self._test(FR_LANDLINE, traffic='marketing')
        self.assertEqual((tester.route_id, tester.match_reason),
                         (self.route_marketing, 'Destination country France'))
        self.assertEqual(tester.route_traffic, 'marketing')
        self.assertEqual(self._lines(tester),
                         [('Marketing', 'send', SENDS)])
        self.assertEqual(self._test(FR_LANDLINE, traffic='transactional').route_id, self.route_fr)
        # A longer prefix for all traffic beats the marketing country route.
        self.assertEqual(self._test(FR_MOBILE, traffic='marketing').route_id, self.route_mobile)
        # The traffic choices are the router's own.
        self.assertEqual(dict(self.env['sms.router.route.tester']._selection_traffic()),
                         dict(self.env['sms.sms']._fields['sms_router_traffic']._description_selection(self.env)))

    def test_no_route_and_router_off(self):
        self.route_default.active = False
        tester = self._test(GB_MOBILE)
        self.assertFalse(tester.route_id)
        self.assertEqual(tester.match_kind, 'none')
        self.assertIn('No route matches this number', tester.match_reason)
        self.assertFalse(tester.line_ids)
        self.assertIn('no provider account is configured for this destination', tester.summary)
        self.company_fr.sms_router_iap_last_resort = True
        tester = self._test(GB_MOBILE)
        self.assertIn('only Odoo IAP, its last resort', tester.match_reason)
        self.assertEqual(self._lines(tester), [('Odoo IAP (last resort)', 'send',
                                                SENDS)])
        # A company without any active route: Odoo sends its SMS itself.
        tester = self._test('07400 123456', company=self.company_gb)
        self.assertEqual((tester.e164, tester.match_kind), (GB_MOBILE, 'off'))
        self.assertIn("Odoo's own sending (IAP) is used", tester.match_reason)
        self.assertFalse(tester.route_id or tester.line_ids)

    # -------------------------------------------------------------------- chain

    def test_healthy_chain(self):
        tester = self._test(FR_MOBILE)
        self.assertEqual(self._lines(tester), [
            ('FR Mobiles', 'send', SENDS),
            ('Backup', 'fallback', FALLBACK),
        ])
        self.assertEqual(tester.line_ids.account_id, self.mobile | self.backup)
        self.assertEqual(tester.line_ids.mapped('breaker_state'), ['closed', 'closed'])
        self.assertEqual(tester.line_ids.mapped('credit_display'), ['Not reported', 'Not reported'])
        self.assertEqual((tester.sender_name, tester.summary_level), ('FR Mobiles', 'success'))
        self.assertEqual(tester.summary, 'Would send now through FR Mobiles.')

    def test_open_breaker_is_skipped_with_its_next_probe(self):
        opened = utcnow() - timedelta(seconds=10)
        self._breaker(self.mobile, state='open', opened_at=opened, open_count=1, failure_count=3)
        tester = self._test(FR_MOBILE)
        self.assertEqual(self._lines(tester), [
            ('FR Mobiles', 'skipped', 'breaker open (after 3 failures)'),
            ('Backup', 'send', SENDS),
        ])
        line = tester.line_ids[0]
        self.assertEqual(line.breaker_state, 'open')
        self.assertEqual(line.next_probe_at, _naive(opened + timedelta(seconds=self.mobile.breaker_cooldown)))
        self.assertEqual(tester.sender_name, 'Backup')
        # The second opening in a row doubles the cool-down.
        self._breaker(self.mobile, open_count=2)
        self.assertEqual(self._test(FR_MOBILE).line_ids[0].next_probe_at,
                         _naive(opened + timedelta(seconds=2 * self.mobile.breaker_cooldown)))

    def test_probe_due_is_shown_not_taken(self):
        self._breaker(self.mobile, state='open', opened_at=utcnow() - timedelta(hours=1), open_count=1,
                      failure_count=3)
        before = self._router_breaker_row(self.mobile)
        tester = self._test(FR_MOBILE)
        self.assertEqual([line.verdict for line in tester.line_ids], ['probe', 'fallback'])
        self.assertFalse(tester.line_ids[0].next_probe_at, 'the cool-down is over')
        self.assertEqual(tester.summary_level, 'warning')
        self.assertIn('as the probe of its breaker', tester.summary)
        self.assertEqual(self._router_breaker_row(self.mobile), before, 'no probe lease was taken')
        # Sending takes the probe, on the account the tester named.
        sms = self._router_sms(self.company_fr, [FR_MOBILE])
        with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            sms.send()
        self.assertRouterTrail(sms, [(self.mobile, 'sent')])

    def test_forced_open(self):
        self._breaker(self.mobile, forced_open=True)
        tester = self._test(FR_MOBILE)
        self.assertEqual(tester.line_ids[0].breaker_state, 'forced')
        self.assertFalse(tester.line_ids[0].next_probe_at, 'a forced breaker is never probed')
        self.assertEqual(self._lines(tester)[0], ('FR Mobiles', 'skipped', 'breaker forced open (maintenance)'))
        self.assertEqual(tester.sender_name, 'Backup')

    def test_paused_by_retry_after(self):
        until = utcnow() + timedelta(minutes=2)
        self._breaker(self.mobile, paused_until=until)
        tester = self._test(FR_MOBILE)
        line = tester.line_ids[0]
        self.assertEqual((line.breaker_state, line.verdict), ('closed', 'skipped'))
        self.assertEqual(line.paused_until, _naive(until))
        self.assertEqual(line.reason, f'paused by the provider until {until:%H:%M:%S} UTC')
        # An expired pause is no longer shown.
        self._breaker(self.mobile, paused_until=utcnow() - timedelta(seconds=1))
        line = self._test(FR_MOBILE).line_ids[0]
        self.assertEqual((line.paused_until, line.verdict), (False, 'send'))

    def test_credit_unknown_and_low(self):
        Account = self.registry['sms.router.account']
        with patch.object(Account, '_sms_router_supports_credit', lambda account: True):
            tester = self._test(FR_MOBILE)
            self.assertEqual(tester.line_ids.mapped('credit_display'), ['Unknown', 'Unknown'])
            self.mobile.write({'credit_balance': 1.0, 'credit_low_threshold': 5.0,
                               'credit_checked_at': '2026-01-01 00:00:00'})
            tester = self._test(FR_MOBILE)
        line = tester.line_ids[0]
        self.assertTrue(line.credit_low)
        self.assertEqual(line.credit_display, '1.00')
        self.assertEqual((line.verdict, line.reason), ('skipped', 'credit 1.00 below the threshold 5.00'))
        self.assertEqual(tester.sender_name, 'Backup')

    def test_misconfigured(self):
        tester = self._test(FR_MOBILE, behaviours={
            self.mobile: ScriptedClient('FR Mobiles', configuration_error='the API key is missing')})
        line = tester.line_ids[0]
        self.assertEqual(line.configuration_error, 'the API key is missing')
        self.assertEqual((line.verdict, line.reason), ('misconfigured', 'the API key is missing'))
        self.assertEqual(tester.sender_name, 'Backup')
        # The account's own field says the same.
        self.assertFalse(tester.line_ids[1].configuration_error)

    def test_iap_last_resort(self):
        self.company_fr.sms_router_iap_last_resort = True
        self._breaker(self.mobile, forced_open=True)
        self._breaker(self.backup, forced_open=True)
        tester = self._test(FR_MOBILE)
        self.assertEqual([(line.name, line.verdict) for line in tester.line_ids], [
            ('FR Mobiles', 'skipped'), ('Backup', 'skipped'), ('Odoo IAP (last resort)', 'send')])
        last = tester.line_ids[-1]
        self.assertTrue(last.last_resort)
        self.assertFalse(last.account_id)
        self.assertEqual((last.provider, last.breaker_state), ('Odoo IAP', 'none'))
        self.assertEqual(tester.sender_name, 'Odoo IAP (last resort)')
        # A chain with an Odoo IAP account of its own gets no last resort (as sending).
        tester = self._test(FR_MOBILE, real=self.backup)
        self.assertEqual([(line.name, line.verdict) for line in tester.line_ids],
                         [('FR Mobiles', 'skipped'), ('Backup', 'skipped')])
        # Turned off: nothing would send now; the SMS waits, or fails without holding.
        self.company_fr.sms_router_iap_last_resort = False
        self.company_fr.sms_router_max_hold_hours = 4
        tester = self._test(FR_MOBILE)
        self.assertFalse(tester.sender_name)
        self.assertIn('would wait in the queue until', tester.summary)
        self.company_fr.sms_router_max_hold_hours = 0
        self.assertIn('the SMS would fail', self._test(FR_MOBILE).summary)

    def test_tester_agrees_with_sending(self):
        """The account the tester names is the one a real send uses, for a grid of states."""
        states = [
            {},
            {self.mobile: {'state': 'open', 'opened_at': utcnow(), 'open_count': 1, 'failure_count': 3}},
            {self.mobile: {'forced_open': True}},
            {self.mobile: {'paused_until': utcnow() + timedelta(minutes=5)}},
            {self.mobile: {'forced_open': True}, self.backup: {'paused_until': utcnow() + timedelta(minutes=5)}},
        ]
        for index, state in enumerate(states):
            with self.subTest(state=index):
                for account in self.accounts:
                    AccountBreaker(account.id, self.store).reset()
                for account, values in state.items():
                    self._breaker(account, **values)
                tester = self._test(FR_MOBILE)
                expected = [(line.account_id, line.verdict in ('skipped', 'misconfigured'))
                            for line in tester.line_ids if line.verdict != 'fallback']
                sender = tester.line_ids.filtered(lambda line: line.verdict == 'send').account_id
                sms = self._router_sms(self.company_fr, [FR_MOBILE])
                with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
                    sms.send()
                attempts = self._router_attempts(sms)
                self.assertEqual(attempts.filtered('accepted').account_id, sender)
                self.assertEqual([(attempt.account_id, attempt.outcome in ('skipped', 'misconfigured'))
                                  for attempt in attempts],
                                 expected)

    # ---------------------------------------------------------- nothing written

    def _database_state(self):
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(SQL('SELECT count(*) FROM sms_sms'))
        sms_count = cr.fetchone()[0]
        cr.execute(SQL('SELECT count(*) FROM sms_router_attempt'))
        attempt_count = cr.fetchone()[0]
        cr.execute(SQL('SELECT * FROM sms_router_breaker ORDER BY account_id'))
        breakers = cr.dictfetchall()
        cr.execute(SQL('SELECT id, write_date, credit_balance, credit_checked_at FROM sms_router_account ORDER BY id'))
        accounts = cr.fetchall()
        cr.execute(SQL('SELECT count(*) FROM iap_account'))
        iap_accounts = cr.fetchone()[0]
        return sms_count, attempt_count, breakers, accounts, iap_accounts

    def test_nothing_is_sent_or_written(self):
        self.company_fr.sms_router_iap_last_resort = True
        self._breaker(self.mobile, state='open', opened_at=utcnow() - timedelta(hours=1), open_count=1)
        self._breaker(self.main, paused_until=utcnow() + timedelta(minutes=5))
        before = self._database_state()

        def refuse(*args, **kwargs):
            raise AssertionError('the route tester wrote a breaker')

        with patch.object(PostgresBreakerStore, 'update', refuse), \
                patch.object(PostgresBreakerStore, 'apply', refuse), \
                patch.object(PostgresBreakerStore, 'acquire_probe', refuse), \
                patch('odoo.addons.sms.tools.sms_api.SmsApi._send_sms_batch', refuse):
            for number in ('06 12 34 56 78', '01 42 68 53 00', GB_MOBILE, 'not a number', '+590690001234'):
                for traffic in ('transactional', 'marketing'):
                    self._test(number, traffic=traffic)
            # As the form computes it, live.
            with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
                form = Form(self.env['sms.router.route.tester'])
                form.number = '06 12 34 56 78'
                form.traffic = 'marketing'
        self.assertEqual(self._database_state(), before)
        self.assertEqual(self.env['sms.router.route.tester'].search_count([]), 0)

    def test_form_computes_live(self):
        with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            form = Form(self.env['sms.router.route.tester'])
            self.assertEqual(form.company_id, self.env.company)
            self.assertEqual((form.traffic, form.summary_level), ('transactional', 'info'))
            form.company_id = self.company_fr
            form.number = '06 12 34 56 78'
            self.assertEqual((form.e164, form.route_id, form.match_kind), (FR_MOBILE, self.route_mobile, 'prefix'))
            self.assertEqual([line['name'] for line in form.line_ids._records], ['FR Mobiles', 'Backup'])
            self.assertEqual([line['verdict'] for line in form.line_ids._records], ['send', 'fallback'])
            form.number = '01 42 68 53 00'
            self.assertEqual((form.route_id, form.match_reason), (self.route_fr, 'Destination country France'))
            form.traffic = 'marketing'
            self.assertEqual(form.route_id, self.route_marketing)
            self.assertEqual([line['name'] for line in form.line_ids._records], ['Marketing'])
            form.number = 'nonsense'
            self.assertTrue(form.number_error)
            self.assertFalse(form.route_id)
            self.assertEqual(len(form.line_ids), 0)

    # ---------------------------------------------------------------- entry points

    def test_opened_from_a_route(self):
        self.route_mobile.prefixes = '+337'
        cases = [
            # An example of its first prefix; of its country; none for the default route.
            (self.route_mobile, 'transactional', '+337', self.route_mobile),
            (self.route_fr, 'transactional', FR_MOBILE, self.route_fr),
            (self.route_marketing, 'marketing', FR_MOBILE, self.route_marketing),
            (self.route_default, 'transactional', False, self.env['sms.router.route']),
        ]
        for route, traffic, number, matched in cases:
            with self.subTest(route=route.name):
                for context in ({'sms_router_route_id': route.id},
                                {'active_model': 'sms.router.route', 'active_id': route.id}):
                    with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
                        form = Form(self.env['sms.router.route.tester'].with_context(**context))
                    self.assertEqual(form.company_id, route.company_id)
                    self.assertEqual(form.traffic, traffic)
                    if number == '+337':
                        self.assertTrue(form.number.startswith('+337'), form.number)
                        self.assertEqual(parse_destination(form.number).e164, form.number)
                    else:
                        self.assertEqual(form.number, number)
                    self.assertEqual(form.route_id, matched)
        # The route form's button, the Action menu of routes, the overview and the menu open it.
        action = self.env.ref('sms_router.sms_router_route_tester_action')
        self.assertEqual(action.binding_model_id.model, 'sms.router.route')
        self.assertEqual((action.res_model, action.target), ('sms.router.route.tester', 'new'))
        self.assertEqual(self.env.ref('sms_router.sms_router_route_tester_menu').action, action)
        for model, view in (('sms.router.route', 'sms_router.sms_router_route_view_form'),
                            ('sms.router.account', 'sms_router.sms_router_account_view_kanban_overview')):
            arch = self.env[model].get_view(self.env.ref(view).id)['arch']
            self.assertIn(f'name="{action.id}"', arch, f'{view} has no button to the tester')

    def test_refresh_reopens_the_tester(self):
        tester = self.env['sms.router.route.tester'].create({'company_id': self.company_fr.id, 'number': FR_MOBILE})
        action = tester.action_refresh()
        self.assertEqual((action['res_model'], action['res_id'], action['target']),
                         ('sms.router.route.tester', tester.id, 'new'))

    # ------------------------------------------------------------------ access

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model', 'odoo.addons.base.models.ir_rule')
    def test_access_and_companies(self):
        account_gb = self._router_account(self.company_gb, 'GB Main')
        route_gb = self._router_route(self.company_gb, account_gb, name='GB default')
        operator_fr = new_test_user(
            self.env, login='tester_operator_fr', groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        employee = new_test_user(self.env, login='tester_employee', groups='base.group_user',
                                 company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        env = self.env(user=operator_fr, context={'allowed_company_ids': self.company_fr.ids})
        tester = self._test(FR_MOBILE, env=env)
        self.assertEqual((tester.company_id, tester.route_id, tester.sender_name),
                         (self.company_fr, self.route_mobile, 'FR Mobiles'))
        # Another company's routes: nothing about them, and the tester cannot be saved.
        Tester = env['sms.router.route.tester']
        tester = Tester.new({'company_id': self.company_gb.id, 'number': GB_MOBILE})
        self.assertFalse(tester.route_id or tester.line_ids or tester.e164)
        self.assertEqual(tester.summary, 'You can only test the routes of your allowed companies.')
        with self.assertRaises(AccessError):
            Tester.create({'company_id': self.company_gb.id, 'number': GB_MOBILE})
        with self.assertRaises(AccessError):
            Tester.with_context(sms_router_route_id=route_gb.id).default_get(['company_id', 'number'])
        # A user of both companies tests the one they work in.
        operator_both = new_test_user(
            self.env, login='tester_operator_both', groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=self.company_fr.id, company_ids=[(6, 0, (self.company_fr | self.company_gb).ids)])
        env_both = self.env(user=operator_both,
                            context={'allowed_company_ids': (self.company_gb | self.company_fr).ids})
        tester = self._test(GB_MOBILE, company=self.company_gb, env=env_both)
        self.assertEqual((tester.route_id, tester.sender_name), (route_gb, 'GB Main'))
        # Not an operator: no tester.
        with self.assertRaises(AccessError):
            self.env(user=employee)['sms.router.route.tester'].create({'number': FR_MOBILE})
