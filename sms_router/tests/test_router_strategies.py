from collections import Counter
from contextlib import contextmanager
from types import SimpleNamespace
from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged

from ..engine.outcomes import OutcomeKind
from ..engine.routing import parse_destination
from ..tools.sms_api import CompanyRouting
from ..tools.strategy import order_by_strategy
from .common import SmsRouterCase

FR_MOBILE = '+33612345678'
GB_MOBILE = '+447400123456'


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterStrategies(SmsRouterCase):
    """Route strategies end to end: the account that sends first, failover down the rest of
    the chain, the route tester's explanation, the weights' validation."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.ovh = cls._router_account(cls, cls.company_fr, 'OVH France')
        cls.sweego = cls._router_account(cls, cls.company_fr, 'Sweego France')
        cls.twilio = cls._router_account(cls, cls.company_fr, 'Twilio')
        cls.accounts = cls.ovh | cls.sweego | cls.twilio
        # The route's order: Twilio, Sweego, OVH (the strategies must move it).
        cls.route = cls._router_route(cls, cls.company_fr, cls.twilio | cls.sweego | cls.ovh, name='France',
                                      prefixes='+33')
        cls.eur = cls.env.ref('base.EUR')
        cls.usd = cls.env.ref('base.USD')

    # ---------------------------------------------------------------- helpers

    @contextmanager
    def prices(self, table):
        """Contract 3 (sms.router.account price lookup) answering from ``table``:
        {(account, region): (amount, currency)}."""
        def segment_prices(accounts, regions):
            return {(account.id, region): table.get((account, region), (False, False))
                    for account in accounts for region in regions}

        def segment_price(account, region):
            return segment_prices(account, [region])[account.id, region]

        cls = type(self.env['sms.router.account'])
        with patch.object(cls, '_sms_router_segment_prices', segment_prices, create=True), \
                patch.object(cls, '_sms_router_segment_price', segment_price, create=True):
            yield

    @contextmanager
    def quality(self, table):
        """Contract 4 (delivery figures) answering from ``table``: {(account, region): (rate, sample)}."""
        calls = []

        def figures(accounts, regions):
            calls.append(tuple(regions))
            return {(account.id, region): SimpleNamespace(delivery_rate=rate, sample=sample)
                    for (account, region), (rate, sample) in table.items() if region in regions}

        with patch.object(type(self.env['sms.router.account']), '_sms_router_quality', figures, create=True):
            yield calls

    def _send(self, numbers, behaviours=None):
        sms = self._router_sms(self.company_fr, numbers)
        clients = {account: OutcomeKind.SENT for account in self.accounts}
        clients.update(behaviours or {})
        with self.mockRouterClients(clients):
            sms.send()
        return sms

    def _tester(self, number=FR_MOBILE):
        clients = {account: OutcomeKind.SENT for account in self.accounts}
        with self.mockRouterClients(clients):
            tester = self.env['sms.router.route.tester'].new({
                'company_id': self.company_fr.id, 'number': number, 'traffic': 'transactional'})
            tester.line_ids.mapped('verdict')
        return tester

    # ------------------------------------------------------------- ordered

    def test_ordered_is_the_default(self):
        self.assertEqual(self.route.strategy, 'ordered')
        sms = self._send([FR_MOBILE])
        self.assertRouterTrail(sms, [(self.twilio, 'sent')])
        tester = self._tester()
        self.assertEqual(tester.line_ids.mapped('name'), ['Twilio', 'Sweego France', 'OVH France'])
        self.assertIn('ordered', tester.strategy_reason)
        self.assertEqual(tester.line_ids.mapped('strategy_figure'), [False] * 3)

    # ---------------------------------------------------------- least cost

    def test_least_cost_sends_through_the_cheapest(self):
        self.route.strategy = 'least_cost'
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur),
                 (self.twilio, 'FR'): (0.079, self.eur)}
        with self.prices(table):
            sms = self._send([FR_MOBILE, '+33623456789'])
            tester = self._tester()
        for one in sms:
            self.assertRouterTrail(one, [(self.ovh, 'sent')])
        self.assertEqual(tester.line_ids.mapped('name'), ['OVH France', 'Sweego France', 'Twilio'])
        self.assertEqual(tester.line_ids.mapped('strategy_figure'),
                         ['0.045 EUR/segment', '0.052 EUR/segment', '0.079 EUR/segment'])
        self.assertEqual(tester.sender_name, 'OVH France')
        self.assertIn('least cost: OVH France at 0.045 EUR/segment, Sweego France 0.052, Twilio 0.079',
                      tester.strategy_reason)

    def test_least_cost_fails_over_to_the_next_cheapest(self):
        self.route.strategy = 'least_cost'
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur)}
        with self.prices(table):
            sms = self._send([FR_MOBILE], {self.ovh: OutcomeKind.PROVIDER})
        # Twilio has no price: after the priced ones.
        self.assertRouterTrail(sms, [(self.ovh, 'provider_error'), (self.sweego, 'sent')])

    def test_least_cost_skips_an_open_breaker(self):
        self.route.strategy = 'least_cost'
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur)}
        self.ovh._sms_router_force_open('Provider maintenance')
        try:
            with self.prices(table):
                sms = self._send([FR_MOBILE])
                tester = self._tester()
        finally:
            self.ovh.action_reset_breaker()
        # The cheapest cannot take SMS: the next cheapest sends; OVH is left for the end,
        # after Twilio (no price).
        self.assertRouterTrail(sms, [(self.sweego, 'sent')])
        self.assertEqual(tester.line_ids.mapped('name'), ['Sweego France', 'Twilio', 'OVH France'])
        self.assertEqual(tester.sender_name, 'Sweego France')
        self.assertIn('cannot take it now, tried last: OVH France', tester.strategy_reason)

    def test_least_cost_compares_one_currency(self):
        # Twilio, first priced account of the chain, sets the currency compared: USD. The
        # EUR prices are not converted: after it, in the chain's order.
        self.route.strategy = 'least_cost'
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur),
                 (self.twilio, 'FR'): (0.06, self.usd)}
        with self.prices(table):
            sms = self._send([FR_MOBILE])
            tester = self._tester()
        self.assertRouterTrail(sms, [(self.twilio, 'sent')])
        self.assertEqual(tester.line_ids.mapped('name'), ['Twilio', 'Sweego France', 'OVH France'])
        self.assertIn('least cost: Twilio at 0.06 USD/segment', tester.strategy_reason)
        self.assertIn('in another currency than USD, not compared: Sweego France 0.052 EUR, OVH France 0.045 EUR',
                      tester.strategy_reason)

    def test_least_cost_reads_the_price_list(self):
        # The accounts' own prices (sms.router.price lines, else the default price).
        self.route.strategy = 'least_cost'
        self.accounts.write({'price_currency_id': self.eur.id})
        self.ovh.price_default = 0.06                  # no line for France: its default
        self.twilio.price_default = 0.01               # its French line wins over it
        self.env['sms.router.price'].create([
            {'account_id': self.sweego.id, 'country_id': self.env.ref('base.fr').id, 'price': 0.052},
            {'account_id': self.twilio.id, 'country_id': self.env.ref('base.fr').id, 'price': 0.079},
        ])
        sms = self._send([FR_MOBILE])
        self.assertRouterTrail(sms, [(self.sweego, 'sent')])
        tester = self._tester()
        self.assertEqual(tester.line_ids.mapped('name'), ['Sweego France', 'OVH France', 'Twilio'])
        self.assertIn('least cost: Sweego France at 0.052 EUR/segment, OVH France 0.06, Twilio 0.079',
                      tester.strategy_reason)

    def test_best_delivery_reads_the_quality_figures(self):
        self.route.write({'strategy': 'best_delivery', 'strategy_min_sample': 20})
        france = self.env.ref('base.fr')
        self.env['sms.router.quality'].sudo().create([
            {'account_id': self.ovh.id, 'country_id': france.id, 'delivery_rate': 0.98, 'sample': 40,
             'delivered_count': 39, 'undelivered_count': 1},
            {'account_id': self.sweego.id, 'country_id': france.id, 'delivery_rate': 0.90, 'sample': 40,
             'delivered_count': 36, 'undelivered_count': 4},
            {'account_id': self.twilio.id, 'country_id': france.id, 'delivery_rate': 1.0, 'sample': 5,
             'delivered_count': 5},
        ])
        sms = self._send([FR_MOBILE])
        self.assertRouterTrail(sms, [(self.ovh, 'sent')])
        tester = self._tester()
        self.assertEqual(tester.line_ids.mapped('name'), ['OVH France', 'Sweego France', 'Twilio'])

    def test_least_cost_without_prices_keeps_the_order(self):
        self.route.strategy = 'least_cost'
        with self.prices({}):
            sms = self._send([FR_MOBILE])
        self.assertRouterTrail(sms, [(self.twilio, 'sent')])

    # ------------------------------------------------------- best delivery

    def test_best_delivery_sends_through_the_best_measured(self):
        self.route.write({'strategy': 'best_delivery', 'strategy_min_sample': 30})
        table = {(self.ovh, 'FR'): (0.99, 29),          # one report short: not trusted yet
                 (self.sweego, 'FR'): (0.97, 200), (self.twilio, 'FR'): (0.90, 500)}
        with self.quality(table) as calls:
            sms = self._send([FR_MOBILE, '+33623456789', '+33634567890'])
        for one in sms:
            self.assertRouterTrail(one, [(self.sweego, 'sent')])
        self.assertEqual(calls, [('FR',)], 'the figures are read once per batch and destination')
        with self.quality(table):
            tester = self._tester()
        self.assertEqual(tester.line_ids.mapped('name'), ['Sweego France', 'Twilio', 'OVH France'])
        self.assertEqual(tester.line_ids.mapped('strategy_figure'), [
            '97.0 % of 200 reported SMS', '90.0 % of 500 reported SMS', '99.0 % of 29 reported SMS'])
        self.assertIn('best delivery: Sweego France delivers 97.0 % of 200 reported SMS to FR',
                      tester.strategy_reason)

    def test_best_delivery_fails_over(self):
        self.route.strategy = 'best_delivery'
        table = {(self.sweego, 'FR'): (0.97, 200), (self.twilio, 'FR'): (0.90, 500)}
        with self.quality(table):
            sms = self._send([FR_MOBILE], {self.sweego: OutcomeKind.PROVIDER})
        self.assertRouterTrail(sms, [(self.sweego, 'provider_error'), (self.twilio, 'sent')])

    # ------------------------------------------------------------ weighted

    def test_weighted_split(self):
        self.route.write({'strategy': 'weighted', 'step_ids': [
            (1, step.id, {'weight': {self.ovh: 70, self.sweego: 30}.get(step.account_id, 0)})
            for step in self.route.step_ids]})
        numbers = ['+3361234%04d' % n for n in range(400)]
        sms = self._send(numbers)
        first = Counter(self._router_attempts(one)[0].account_id.name for one in sms)
        self.assertEqual(set(first), {'OVH France', 'Sweego France'}, 'Twilio has no weight')
        # 400 SMS: 70 % has a standard deviation of 2.3 points; 8 points is over 3 of them.
        self.assertAlmostEqual(first['OVH France'] / len(sms), 0.70, delta=0.08)
        self.assertEqual(set(sms.mapped('state')), {'pending'})

    def test_weighted_same_sms_same_account(self):
        self.route.write({'strategy': 'weighted', 'step_ids': [
            (1, step.id, {'weight': {self.ovh: 50, self.sweego: 50}.get(step.account_id, 0)})
            for step in self.route.step_ids]})
        sms = self._router_sms(self.company_fr, ['+3361234%04d' % n for n in range(40)])
        destination = parse_destination(FR_MOBILE)
        route = CompanyRouting(self.env, self.company_fr).table.explain(destination).route
        drawn = []
        for _run in range(2):
            routing = CompanyRouting(self.env, self.company_fr)     # a later batch
            drawn.append([order_by_strategy(routing, route, destination, routing.chain(route), one)[0][0].name
                          for one in sms])
        self.assertEqual(drawn[0], drawn[1])
        self.assertEqual(set(drawn[0]), {'OVH France', 'Sweego France'})

    def test_weighted_failover(self):
        self.route.write({'strategy': 'weighted', 'step_ids': [
            (1, step.id, {'weight': 100 if step.account_id == self.ovh else 0}) for step in self.route.step_ids]})
        sms = self._send([FR_MOBILE], {self.ovh: OutcomeKind.PROVIDER})
        # After the drawn account, the rest of the chain in its order.
        self.assertRouterTrail(sms, [(self.ovh, 'provider_error'), (self.twilio, 'sent')])
        tester = self._tester()
        self.assertIn('this SMS drew OVH France', tester.strategy_reason)
        self.assertEqual(tester.line_ids.mapped('name'), ['OVH France', 'Twilio', 'Sweego France'])
        self.assertEqual(tester.line_ids.mapped('strategy_figure'), ['100 %', '0 %', '0 %'])

    # ---------------------------------------------------------- validation

    def test_weights_must_add_up_to_100(self):
        with self.assertRaisesRegex(ValidationError, 'add up to 100 %'):
            self.route.strategy = 'weighted'
        route = self._router_route(self.company_fr, self.ovh | self.sweego, name='Split', prefixes='+44')
        with self.assertRaisesRegex(ValidationError, r'they add up to 90 %'):
            route.write({'strategy': 'weighted', 'step_ids': [
                (1, route.step_ids[0].id, {'weight': 60}), (1, route.step_ids[1].id, {'weight': 30})]})
        route.write({'strategy': 'weighted', 'step_ids': [
            (1, route.step_ids[0].id, {'weight': 70}), (1, route.step_ids[1].id, {'weight': 30})]})
        self.assertEqual(route.weight_total, 100)
        with self.assertRaisesRegex(ValidationError, 'add up to 100 %'):
            route.step_ids[0].weight = 60
        # Another strategy ignores the weights.
        route.strategy = 'least_cost'
        route.step_ids[0].weight = 10

    def test_weighted_route_created_in_the_form(self):
        with Form(self.env['sms.router.route']) as form:
            form.name = 'Warm backup'
            form.company_id = self.company_fr
            form.prefixes = '+32'
            form.strategy = 'weighted'
            with form.step_ids.new() as step:
                step.account_id = self.ovh
                step.weight = 70
            with form.step_ids.new() as step:
                step.account_id = self.sweego
                step.weight = 30
        route = form.record
        self.assertEqual(route.weight_total, 100)
        self.assertEqual(route.strategy, 'weighted')

    def test_other_company_prices_are_not_read_for_ordered_routes(self):
        # An ordered route reads no price nor figure (nothing more than today).
        with self.prices({}) as _p, self.quality({}) as calls:
            self._send([FR_MOBILE, GB_MOBILE])
        self.assertFalse(calls)

    # ------------------------------------------------------------ the trail

    def _weights(self, weights):
        self.route.write({'step_ids': [(1, step.id, {'weight': weights.get(step.account_id, 0)})
                                       for step in self.route.step_ids]})

    def _notes(self, sms):
        return self._router_attempts(sms).mapped('strategy_note')

    def test_trail_explains_least_cost_on_the_first_attempt(self):
        self.route.strategy = 'least_cost'
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur),
                 (self.twilio, 'FR'): (0.079, self.eur)}
        with self.prices(table):
            sms = self._send([FR_MOBILE, '+33623456789'], {self.ovh: OutcomeKind.PROVIDER})
            tester = self._tester()
        explanation = 'least cost: OVH France at 0.045 EUR/segment, Sweego France 0.052, Twilio 0.079'
        for one in sms:
            self.assertRouterTrail(one, [(self.ovh, 'provider_error'), (self.sweego, 'sent')])
            # The route tester's words, on the first attempt only: the failover after it
            # follows the order the note gives.
            self.assertEqual(self._notes(one), [tester.strategy_reason, False])
            self.assertTrue(tester.strategy_reason.startswith(explanation), tester.strategy_reason)

    def test_trail_explains_best_delivery(self):
        self.route.write({'strategy': 'best_delivery', 'strategy_min_sample': 30})
        table = {(self.ovh, 'FR'): (0.99, 29), (self.sweego, 'FR'): (0.97, 200), (self.twilio, 'FR'): (0.90, 500)}
        with self.quality(table):
            sms = self._send([FR_MOBILE], {self.sweego: OutcomeKind.PROVIDER, self.twilio: OutcomeKind.PROVIDER})
        self.assertRouterTrail(sms, [(self.sweego, 'provider_error'), (self.twilio, 'provider_error'),
                                     (self.ovh, 'sent')])
        first, *later = self._notes(sms)
        self.assertTrue(first.startswith(
            'best delivery: Sweego France delivers 97.0 % of 200 reported SMS to FR, Twilio 90.0 %'), first)
        self.assertIn('fewer than 30 reports, after the measured ones: OVH France', first)
        self.assertEqual(later, [False, False])

    def test_trail_says_what_each_sms_drew(self):
        self._weights({self.ovh: 70, self.sweego: 30})
        self.route.strategy = 'weighted'
        sms = self._send(['+3361234%04d' % n for n in range(40)])
        drawn = set()
        for one in sms:
            attempt = self._router_attempts(one)
            self.assertEqual(len(attempt), 1)
            self.assertTrue(attempt.strategy_note.startswith(
                'weighted split (Sweego France 30 %, OVH France 70 %): this SMS drew '), attempt.strategy_note)
            self.assertIn(f'this SMS drew {attempt.account_name} (', attempt.strategy_note)
            drawn.add(attempt.account_name)
        self.assertEqual(drawn, {'OVH France', 'Sweego France'}, 'each SMS says its own draw')

    def test_trail_of_an_ordered_route_has_no_note(self):
        sms = self._send([FR_MOBILE], {self.twilio: OutcomeKind.PROVIDER})
        self.assertRouterTrail(sms, [(self.twilio, 'provider_error'), (self.sweego, 'sent')])
        self.assertEqual(self._notes(sms), [False, False])

    def test_trail_note_in_the_company_language(self):
        self.env['res.lang']._activate_lang('fr_FR')
        self.company_fr.partner_id.lang = 'fr_FR'
        self.route.strategy = 'least_cost'
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur)}
        with self.prices(table):
            sms = self._router_sms(self.company_fr, [FR_MOBILE])
            with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
                sms.with_context(lang='en_US').send()      # sent by an English-speaking user
        note = self._router_attempts(sms).strategy_note
        # Numbers with the French decimal comma, prices of the other accounts included.
        self.assertRegex(note, r'^moindre coût : OVH France à 0,045 EUR/segment, Sweego France 0,052')
        self.assertIn('Twilio', note)

    def test_route_tester_writes_numbers_in_the_readers_language(self):
        self.env['res.lang']._activate_lang('fr_FR')
        self.env['ir.module.module'].search([('name', '=', 'sms_router')])._update_translations('fr_FR')
        self.route.strategy = 'least_cost'
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur),
                 (self.twilio, 'FR'): (0.079, self.eur)}
        with self.prices(table):
            french = self._tester_as('fr_FR')
            english = self._tester_as('en_US')
        self.assertEqual(french[0], ['0,045 EUR/segment', '0,052 EUR/segment', '0,079 EUR/segment'])
        self.assertIn('OVH France à 0,045 EUR/segment, Sweego France 0,052, Twilio 0,079', french[1])
        self.assertEqual(english[0], ['0.045 EUR/segment', '0.052 EUR/segment', '0.079 EUR/segment'])
        self.assertIn('OVH France at 0.045 EUR/segment, Sweego France 0.052, Twilio 0.079', english[1])

    def _tester_as(self, lang):
        """(strategy figures, explanation) of the route tester read by a ``lang`` user."""
        with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
            tester = self.env['sms.router.route.tester'].with_context(lang=lang).new({
                'company_id': self.company_fr.id, 'number': FR_MOBILE, 'traffic': 'transactional'})
            return tester.line_ids.mapped('strategy_figure'), tester.strategy_reason

    def test_trail_notes_cost_no_query_per_sms(self):
        self._weights({self.ovh: 70, self.sweego: 30})
        table = {(self.ovh, 'FR'): (0.045, self.eur), (self.sweego, 'FR'): (0.052, self.eur)}
        serial = iter(range(10000))

        def queries(strategy, size):
            self.route.strategy = strategy
            sms = self._router_sms(self.company_fr, ['+336%08d' % next(serial) for _n in range(size)])
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            with self.mockRouterClients({account: OutcomeKind.SENT for account in self.accounts}):
                sms.send()
            self.env.flush_all()
            count = self.env.cr.sql_log_count - before
            notes = self._notes(sms)
            self.assertEqual(len(notes), size)
            self.assertEqual(all(notes), strategy != 'ordered')
            return count

        with self.prices(table):
            growth = {}
            for strategy in ('ordered', 'least_cost', 'weighted'):
                queries(strategy, 1)     # warm the caches (translations, rules, strategies)
                growth[strategy] = queries(strategy, 20) - queries(strategy, 2)
        # Whatever sending 18 SMS more costs, the strategies' notes add nothing to it.
        self.assertEqual(growth['least_cost'], growth['ordered'])
        self.assertEqual(growth['weighted'], growth['ordered'])
