from contextlib import contextmanager
from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace
from unittest.mock import patch
from zoneinfo import ZoneInfo

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..engine.governor import GovernorSettings
from ..engine.outcomes import OutcomeKind
from ..engine.segments import measure
from ..models.sms_router_breaker import PostgresBreakerStore
from ..models.sms_router_send_window import WEEKDAY_FIELDS
from .common import SmsRouterCase

PARIS = ZoneInfo('Europe/Paris')
# 161 GSM-7 characters: 2 segments.
LONG_BODY = 'Spring offers: ' + 'x' * 146


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterSendPreview(SmsRouterCase):
    """Preview sending: for the recipients of a mass SMS or an SMS mailing, the account that
    would send each SMS now, segments, estimated cost, departure, totals; nothing sent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.main = cls._router_account(cls, cls.company_fr, 'FR Main')
        cls.backup = cls._router_account(cls, cls.company_fr, 'FR Backup')
        cls.uk = cls._router_account(cls, cls.company_fr, 'UK')
        cls.accounts = cls.main | cls.backup | cls.uk
        cls.route_fr = cls._router_route(cls, cls.company_fr, cls.main | cls.backup, name='France',
                                         country_ids=[(6, 0, cls.env.ref('base.fr').ids)])
        cls.route_uk = cls._router_route(cls, cls.company_fr, cls.uk, name='UK', prefixes='+44')
        # No default route: +1 numbers have none.
        cls.eur, cls.usd = cls.env.ref('base.EUR'), cls.env.ref('base.USD')
        Partner = cls.env['res.partner']
        fr = cls.env.ref('base.fr').id

        def partner(name, phone, country=fr):
            return Partner.create({'name': name, 'phone': phone, 'country_id': country,
                                   'company_id': cls.company_fr.id})
        cls.fr_partners = partner('Alice', '+33612345678') | partner('Bruno', '06 23 45 67 89') | \
            partner('Chloé', '+33634567890')
        cls.uk_partners = partner('Dan', '+447400123456', cls.env.ref('base.uk').id) | \
            partner('Emma', '+447400123457', cls.env.ref('base.uk').id)
        cls.us_partner = partner('Frank', '+12125550123', cls.env.ref('base.us').id)
        cls.bad_partner = partner('Gina', 'call me')
        cls.no_phone = partner('Hugo', False)
        cls.twin = partner('Alice again', '+33612345678')
        cls.partners = cls.fr_partners | cls.uk_partners | cls.us_partner | cls.bad_partner | cls.no_phone | cls.twin
        cls.store = PostgresBreakerStore(cls.registry)

    # ---------------------------------------------------------------- helpers

    @contextmanager
    def prices(self, table):
        """The price lookup (sms.router.account._sms_router_segment_prices) answering from
        ``table``: {(account, region): (amount, currency)}; counts its calls."""
        calls = []

        def segment_prices(accounts, regions):
            calls.append(set(regions))
            return {(account.id, region): table.get((account, region), (False, False))
                    for account in accounts for region in regions}

        with patch.object(type(self.env['sms.router.account']), '_sms_router_segment_prices', segment_prices,
                          create=True):
            yield calls

    def _composer(self, partners=None, body=LONG_BODY, env=None):
        return (env or self.env)['sms.composer'].create({
            'composition_mode': 'mass', 'res_model': 'res.partner',
            'res_ids': repr((partners or self.partners).ids), 'body': body,
        })

    def _preview(self, composer):
        sms_before = self.env['sms.sms'].sudo().search_count([])
        with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            action = composer.action_sms_router_preview()
        self.assertFalse(self.router_calls, 'the preview sent something')
        self.assertEqual(self.env['sms.sms'].sudo().search_count([]), sms_before, 'the preview made SMS')
        self.assertEqual(action['res_model'], 'sms.router.send.preview')
        return composer.env['sms.router.send.preview'].browse(action['res_id'])

    def _by_country(self, preview, code):
        return preview.line_ids.filtered(lambda line: line.country_id.code == code)

    def _breaker(self, account, **values):
        self.store.update(account.id, **values)

    def assertTotalsAddUp(self, preview):
        going = preview.line_ids.filtered(lambda line: line.status in ('send', 'window', 'wait', 'hold'))
        self.assertEqual(sum(preview.account_ids.mapped('sms_count')), preview.send_count)
        self.assertEqual(sum(going.mapped('sms_count')), preview.send_count)
        self.assertEqual(sum(preview.account_ids.mapped('segments')), preview.segment_total)
        self.assertEqual(sum(going.mapped('segments')), preview.segment_total)
        self.assertEqual(preview.send_count + preview.excluded_count + preview.unusable_count
                         + preview.no_route_count + preview.failing_count, preview.recipient_count)

    # ---------------------------------------------------------------- composer

    def test_composer_accounts_segments_costs_and_not_reached(self):
        table = {(self.main, 'FR'): (0.05, self.eur), (self.backup, 'FR'): (0.04, self.eur),
                 (self.uk, 'GB'): (0.0075, self.usd)}
        with self.prices(table) as calls:
            preview = self._preview(self._composer())
        self.assertEqual(len(calls), 1, 'prices are read once per preview')
        self.assertEqual(preview.company_id, self.company_fr)
        self.assertEqual(preview.traffic, 'transactional')
        self.assertEqual(preview.recipient_count, 9)
        fr, gb = self._by_country(preview, 'FR'), self._by_country(preview, 'GB')
        self.assertEqual((fr.account_id, fr.status, fr.sms_count, fr.segments_each, fr.segments),
                         (self.main, 'send', 3, 2, 6))
        self.assertAlmostEqual(fr.cost, 0.30)
        self.assertEqual(fr.currency_id, self.eur)
        self.assertEqual((gb.account_id, gb.sms_count, gb.segments), (self.uk, 2, 4))
        self.assertAlmostEqual(gb.cost, 0.03)
        self.assertEqual(gb.currency_id, self.usd)
        self.assertIn('Alice', fr.recipients_sample)
        totals = {total.account_id: (total.sms_count, total.segments, round(total.cost, 5), total.currency_id)
                  for total in preview.account_ids}
        self.assertEqual(totals, {self.main: (3, 6, 0.3, self.eur), self.uk: (2, 4, 0.03, self.usd)})
        self.assertEqual(preview.cost_summary, '0.30 EUR + 0.03 USD')
        self.assertEqual(preview.name, '9 recipients (Contact)')
        self.assertEqual((preview.send_count, preview.segment_total), (5, 10))
        # Not reached: the unreadable number, the missing one, the one without a route, the twin.
        self.assertEqual((preview.unusable_count, preview.no_route_count, preview.excluded_count), (2, 1, 1))
        problems = {problem.name: (problem.problem, problem.reason) for problem in preview.problem_ids}
        self.assertEqual(problems['Gina'], ('unusable', 'The number cannot be read.'))
        self.assertEqual(problems['Hugo'], ('unusable', 'No number.'))
        self.assertEqual(problems['Frank'][0], 'no_route')
        self.assertEqual(problems['Alice again'][0], 'excluded')
        self.assertTotalsAddUp(preview)

    def test_open_breaker_sends_through_the_backup(self):
        self._breaker(self.main, forced_open=True)
        with self.prices({(self.backup, 'FR'): (0.04, self.eur)}):
            preview = self._preview(self._composer(self.fr_partners))
        line = self._by_country(preview, 'FR')
        self.assertEqual((line.account_id, line.status, line.sms_count), (self.backup, 'send', 3))
        self.assertAlmostEqual(line.cost, 0.04 * 2 * 3)
        self.assertTotalsAddUp(preview)

    def test_every_account_down_is_held_or_fails(self):
        self._breaker(self.main, forced_open=True)
        self._breaker(self.backup, forced_open=True)
        preview = self._preview(self._composer(self.fr_partners))
        line = self._by_country(preview, 'FR')
        self.assertEqual((line.status, line.sms_count, preview.failing_count, preview.send_count), ('fail', 3, 3, 0))
        self.company_fr.sms_router_max_hold_hours = 4
        preview = self._preview(self._composer(self.fr_partners))
        line = self._by_country(preview, 'FR')
        self.assertEqual((line.status, line.sms_count, preview.send_count), ('hold', 3, 3))
        self.assertTrue(line.leaves_at)
        self.assertTotalsAddUp(preview)

    def test_least_cost_strategy_picks_the_cheapest(self):
        self.route_fr.strategy = 'least_cost'
        with self.prices({(self.main, 'FR'): (0.05, self.eur), (self.backup, 'FR'): (0.04, self.eur)}):
            preview = self._preview(self._composer(self.fr_partners))
        line = self._by_country(preview, 'FR')
        self.assertEqual((line.account_id, line.sms_count), (self.backup, 3))
        self.assertAlmostEqual(line.cost, 0.24)

    def test_daily_cap_reached_goes_to_the_next_account(self):
        """As sending (Dispatcher._govern): the next account of the chain sends; the last
        account of a chain makes its SMS wait."""
        capped = self.main | self.uk
        original = type(self.main)._sms_router_governor

        def governor(account):
            if account not in capped:
                return original(account)
            return SimpleNamespace(settings=GovernorSettings(daily_cap=10),
                                   state=lambda: SimpleNamespace(used_today=10, paused_until=None))

        with patch.object(type(self.main), '_sms_router_governor', governor):
            preview = self._preview(self._composer(self.fr_partners | self.uk_partners))
        fr, gb = self._by_country(preview, 'FR'), self._by_country(preview, 'GB')
        self.assertEqual((fr.account_id, fr.status), (self.backup, 'send'))
        self.assertEqual((gb.account_id, gb.status, gb.sms_count), (self.uk, 'wait', 2))
        self.assertIn('daily cap of 10 segments', gb.reason)
        self.assertTotalsAddUp(preview)

    def test_closed_send_window_says_when_it_leaves(self):
        open_day = datetime.now(PARIS).date() + timedelta(days=2)
        opening = datetime.combine(open_day, time(8, 0), tzinfo=PARIS).astimezone(timezone.utc)
        window = self.env['sms.router.send.window'].create({
            'name': 'FR, one day', 'company_id': self.company_fr.id, 'traffic': 'all', 'hours': '08:00-20:00',
            'exclude_holidays': False, 'country_ids': [fields.Command.set(self.env.ref('base.fr').ids)],
            **{day: index == open_day.weekday() for index, day in enumerate(WEEKDAY_FIELDS)},
        })
        preview = self._preview(self._composer(self.fr_partners | self.uk_partners))
        fr, gb = self._by_country(preview, 'FR'), self._by_country(preview, 'GB')
        self.assertEqual((fr.status, fr.account_id, fr.window_id), ('window', self.main, window))
        self.assertEqual(fr.leaves_at, opening.replace(tzinfo=None))
        self.assertEqual((gb.status, gb.leaves_at), ('send', False))
        total = preview.account_ids.filtered(lambda total: total.account_id == self.main)
        self.assertEqual((total.waiting_count, total.first_departure), (3, opening.replace(tzinfo=None)))
        self.assertEqual(preview.waiting_count, 3)
        self.assertTotalsAddUp(preview)

    def test_preview_company_is_the_records(self):
        """Records of another company go through that company's routes."""
        gb_account = self._router_account(self.company_gb, 'GB only')
        self._router_route(self.company_gb, gb_account, name='GB default')
        self.uk_partners.company_id = self.company_gb
        preview = self._preview(self._composer(self.fr_partners | self.uk_partners))
        gb = self._by_country(preview, 'GB')
        self.assertEqual((gb.account_id, gb.company_id), (gb_account, self.company_gb))
        self.assertEqual(self._by_country(preview, 'FR').company_id, self.company_fr)

    def test_sms_user_can_preview(self):
        user = new_test_user(self.env, 'sms_preview_user', groups='base.group_user,base.group_partner_manager',
                             company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        env = self.env(user=user)
        preview = self._preview(self._composer(self.fr_partners, env=env))
        self.assertEqual(preview.env.uid, user.id)
        line = self._by_country(preview, 'FR')
        self.assertEqual((line.account_name, line.sms_count), ('FR Main', 3))
        preview.read(['send_count', 'cost_summary'])
        preview.account_ids.read(['account_name', 'provider', 'sms_count'])

    # ----------------------------------------------------------------- mailing

    def test_mailing_preview_counts_links_and_opt_out(self):
        if 'mailing.mailing' not in self.env:
            self.skipTest('mass_mailing_sms is not installed')
        body = 'Spring offers on https://example.com/spring-offers-2026'
        mailing = self.env['mailing.mailing'].create({
            'name': 'Spring', 'subject': 'Spring', 'mailing_type': 'sms', 'body_plaintext': body,
            'mailing_model_id': self.env['ir.model']._get_id('res.partner'),
            'mailing_domain': [('id', 'in', (self.fr_partners | self.uk_partners).ids)],
            'sms_allow_unsubscribe': True,
        })
        with self.prices({(self.main, 'FR'): (0.05, self.eur)}):
            preview = self.env['sms.router.send.preview']._sms_router_from_mailing(mailing)
        self.assertEqual(preview.traffic, 'marketing')
        self.assertEqual((preview.recipient_count, preview.send_count), (5, 5))
        placeholders = mailing.get_sms_link_replacements_placeholders()
        sent = 'Spring offers on ' + placeholders['link'] + placeholders['unsubscribe']
        expected = self.main._sms_router_measure(sent, 'FR', True).segments
        fr = self._by_country(preview, 'FR')
        self.assertEqual((fr.account_id, fr.segments_each), (self.main, expected))
        self.assertAlmostEqual(fr.cost, 0.05 * expected * 3)
        self.assertFalse(mailing.mailing_trace_ids, 'the preview traced nothing')
        self.assertFalse(self.env['sms.sms'].sudo().search([('mailing_id', '=', mailing.id)]))
        self.assertTotalsAddUp(preview)

    def test_mailing_form_action_opens_the_preview(self):
        if 'mailing.mailing' not in self.env:
            self.skipTest('mass_mailing_sms is not installed')
        action = self.env.ref('sms_router.action_sms_router_preview_mailing')
        self.assertEqual(action.binding_model_id.model, 'mailing.mailing',
                         'bound to the mailing form once mass_mailing_sms is installed')
        mailing = self.env['mailing.mailing'].create({
            'name': 'Spring', 'subject': 'Spring', 'mailing_type': 'sms', 'body_plaintext': 'Spring offers',
            'mailing_model_id': self.env['ir.model']._get_id('res.partner'),
            'mailing_domain': [('id', 'in', self.fr_partners.ids)],
        })
        with self.prices({(self.main, 'FR'): (0.05, self.eur)}), \
                self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            result = action.with_context(active_model='mailing.mailing', active_id=mailing.id).run()
        self.assertFalse(self.router_calls, 'the preview sent something')
        self.assertEqual(result['res_model'], 'sms.router.send.preview')
        preview = self.env['sms.router.send.preview'].browse(result['res_id'])
        self.assertEqual((preview.name, preview.traffic, preview.send_count), ('Spring', 'marketing', 3))
        self.assertFalse(self.env['sms.sms'].sudo().search([('mailing_id', '=', mailing.id)]))
        # Run from anything else than a mailing, it says what to do.
        with self.assertRaises(UserError):
            action.with_context(active_model='res.partner', active_id=self.fr_partners[0].id).run()

    def test_amounts_in_the_readers_number_format(self):
        self.env['res.lang']._activate_lang('fr_FR')
        self.env['ir.module.module'].search([('name', '=', 'sms_router')])._update_translations('fr_FR')
        with self.prices({(self.main, 'FR'): (0.0375, self.eur), (self.uk, 'GB'): (0.0075, self.usd)}):
            preview = self._preview(self._composer(env=self.env(context=dict(self.env.context, lang='fr_FR'))))
        # 3 x 2 segments x 0.0375 EUR (4 decimals: 2 would hide part of it); 2 x 2 x 0.0075 USD.
        self.assertEqual(preview.cost_summary, '0,2250 EUR + 0,03 USD')
        # The Why column repeats the status in the reader's language when there is no reason.
        self.assertEqual(self._by_country(preview, 'FR').reason, 'Part maintenant')
        with self.prices({(self.main, 'FR'): (0.05, self.eur)}):
            preview = self._preview(self._composer())
        self.assertEqual(preview.cost_summary.split(' + ')[0], '0.30 EUR')

    def test_mailing_is_marketing_traffic_for_windows_and_breakers(self):
        """A marketing send window holds a mailing's SMS, not a mass SMS of the composer
        (transactional); the open breaker sends both through the backup."""
        if 'mailing.mailing' not in self.env:
            self.skipTest('mass_mailing_sms is not installed')
        open_day = datetime.now(PARIS).date() + timedelta(days=2)
        opening = datetime.combine(open_day, time(8, 0), tzinfo=PARIS).astimezone(timezone.utc)
        self.env['sms.router.send.window'].create({
            'name': 'FR marketing', 'company_id': self.company_fr.id, 'traffic': 'marketing',
            'hours': '08:00-20:00', 'exclude_holidays': False,
            'country_ids': [fields.Command.set(self.env.ref('base.fr').ids)],
            **{day: index == open_day.weekday() for index, day in enumerate(WEEKDAY_FIELDS)},
        })
        self._breaker(self.main, forced_open=True)
        mailing = self.env['mailing.mailing'].create({
            'name': 'Spring', 'subject': 'Spring', 'mailing_type': 'sms', 'body_plaintext': 'Spring offers',
            'mailing_model_id': self.env['ir.model']._get_id('res.partner'),
            'mailing_domain': [('id', 'in', self.fr_partners.ids)], 'sms_allow_unsubscribe': False,
        })
        with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            marketing = self.env['sms.router.send.preview']._sms_router_from_mailing(mailing)
        self.assertFalse(self.router_calls)
        line = self._by_country(marketing, 'FR')
        self.assertEqual((line.account_id, line.status, line.sms_count, line.leaves_at),
                         (self.backup, 'window', 3, opening.replace(tzinfo=None)))
        self.assertEqual(marketing.waiting_count, 3)
        transactional = self._preview(self._composer(self.fr_partners))
        line = self._by_country(transactional, 'FR')
        self.assertEqual((line.account_id, line.status, line.leaves_at), (self.backup, 'send', False))

    def test_route_tester_and_preview_agree(self):
        self._breaker(self.main, forced_open=True)
        with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            tester = self.env['sms.router.route.tester'].new({
                'company_id': self.company_fr.id, 'number': '+33612345678', 'traffic': 'transactional'})
            sender = tester.sender_name
        preview = self._preview(self._composer(self.fr_partners))
        self.assertEqual(self._by_country(preview, 'FR').account_name, sender)
        self.assertEqual(measure(LONG_BODY).segments, 2)
