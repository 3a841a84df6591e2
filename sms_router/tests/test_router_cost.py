from ast import literal_eval
from datetime import timedelta
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger
from odoo.tools.misc import file_open

from ..engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ..models.sms_router_account import SmsRouterAccount
from .common import SmsRouterCase

# 200 GSM-7 characters: 2 segments (153 characters per part of a long SMS).
LONG_BODY = 'Your appointment is confirmed. ' * 6 + 'See you soon!' + 'x' * 1


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterCost(SmsRouterCase):
    """The cost ledger: prices per account and country, the cost of each accepted attempt."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.company_gb.sms_router_iap_last_resort = False
        cls.eur = cls.env.ref('base.EUR')
        cls.usd = cls.env.ref('base.USD')
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR', price_currency_id=cls.eur.id,
                                          price_default=0.09, credit_value=0.06)
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR', price_currency_id=cls.eur.id)
        cls.route = cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')
        cls.env['sms.router.price'].create([
            {'account_id': cls.primary.id, 'country_id': cls.env.ref('base.fr').id, 'price': 0.045},
            {'account_id': cls.primary.id, 'country_id': cls.env.ref('base.be').id, 'price': 0.068},
            {'account_id': cls.fallback.id, 'country_id': cls.env.ref('base.fr').id, 'price': 0.05},
        ])

    def _priced_sender(self, **price):
        def send(request):
            return BatchResult({
                r.key: RecipientOutcome(OutcomeKind.SENT, message_id=f'msg-{r.number}', **price)
                for r in request.recipients})
        return send

    def _send(self, numbers, behaviours, body='Your appointment is tomorrow at 10:00'):
        sms = self._router_sms(self.company_fr, numbers, body=body)
        with self.mockRouterClients(behaviours):
            sms.send()
        return sms

    def _accepted(self, sms):
        return self._router_attempts(sms).filtered('accepted')

    # ------------------------------------------------------------ price lookup

    def test_segment_price(self):
        self.assertEqual(self.primary._sms_router_segment_price('FR'), (0.045, self.eur))
        self.assertEqual(self.primary._sms_router_segment_price('BE'), (0.068, self.eur))
        # No line for the country: the default price.
        self.assertEqual(self.primary._sms_router_segment_price('DE'), (0.09, self.eur))
        self.assertEqual(self.primary._sms_router_segment_price(''), (0.09, self.eur))
        # No line and no default: unknown.
        self.assertEqual(self.fallback._sms_router_segment_price('DE'), (False, False))
        self.assertEqual(self.fallback._sms_router_segment_price('FR'), (0.05, self.eur))
        # A line at 0 is free, not unknown.
        self.env['sms.router.price'].create(
            {'account_id': self.fallback.id, 'country_id': self.env.ref('base.de').id, 'price': 0.0})
        self.assertEqual(self.fallback._sms_router_segment_price('DE'), (0.0, self.eur))

    def test_segment_prices_read_at_once(self):
        accounts = self.primary | self.fallback
        regions = ['FR', 'BE', 'DE', 'GB', 'ES', 'IT', '']
        accounts.invalidate_recordset()
        # The same few queries for 2 accounts and 7 countries as for 1 and 1.
        with self.assertQueryCount(3):
            table = accounts._sms_router_segment_prices(regions)
        self.assertEqual(len(table), 14)
        self.assertEqual(table[self.primary.id, 'BE'], (0.068, self.eur))
        self.assertEqual(table[self.fallback.id, 'IT'], (False, False))

    # ------------------------------------------------------------ cost of attempts

    def test_cost_from_price_list_times_segments(self):
        sms = self._send(['+33612345678'], {self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT},
                         body=LONG_BODY)
        failed, sent = self._router_attempts(sms)
        # Nothing was billed for a refused request.
        self.assertFalse(failed.cost)
        self.assertFalse(failed.cost_source)
        self.assertFalse(failed.cost_currency_id)
        self.assertEqual(sent.segments, 2)
        self.assertAlmostEqual(sent.cost, 0.1, places=5)
        self.assertEqual(sent.cost_currency_id, self.eur)
        self.assertEqual(sent.cost_source, 'price_list')
        self.assertTrue(sent.cost_date)

    def test_cost_from_default_price(self):
        sms = self._send(['+447400123456', '+32470123456'], {self.primary: OutcomeKind.SENT}, body=LONG_BODY)
        by_number = {attempt.number: attempt for attempt in self._accepted(sms)}
        gb, be = by_number['+447400123456'], by_number['+32470123456']
        self.assertEqual(gb.cost_source, 'default')
        self.assertAlmostEqual(gb.cost, 0.18, places=5)
        self.assertEqual(be.cost_source, 'price_list')
        self.assertAlmostEqual(be.cost, 0.136, places=5)

    def test_cost_from_provider_price(self):
        # The provider's price wins over the price list, in the provider's currency, whatever
        # the segments (it is the price of the whole SMS); Twilio's negative prices count positive.
        sms = self._send(['+33612345678', '+33612345679'],
                         {self.primary: self._priced_sender(price=-0.0158, price_currency='usd')}, body=LONG_BODY)
        for attempt in self._accepted(sms):
            self.assertAlmostEqual(attempt.cost, 0.0158, places=5)
            self.assertEqual(attempt.cost_currency_id, self.usd)
            self.assertEqual(attempt.cost_source, 'provider')

    def test_cost_from_credits(self):
        sms = self._send(['+33612345678'], {self.primary: self._priced_sender(credits=2.0)})
        attempt = self._accepted(sms)
        self.assertAlmostEqual(attempt.cost, 0.12, places=5)
        self.assertEqual(attempt.cost_currency_id, self.eur)
        self.assertEqual(attempt.cost_source, 'provider')
        # Without a credit value, credits cannot be converted: the price list applies.
        self.primary.credit_value = 0
        sms = self._send(['+33612345678'], {self.primary: self._priced_sender(credits=2.0)})
        attempt = self._accepted(sms)
        self.assertAlmostEqual(attempt.cost, 0.045, places=5)
        self.assertEqual(attempt.cost_source, 'price_list')

    @mute_logger('odoo.addons.sms_router.tools.costs')
    def test_unknown_currency_falls_back_to_price_list(self):
        sms = self._send(['+33612345678'], {self.primary: self._priced_sender(price=0.5, price_currency='XXZ')})
        attempt = self._accepted(sms)
        self.assertEqual(attempt.cost_source, 'price_list')
        self.assertAlmostEqual(attempt.cost, 0.045, places=5)

    def test_currency_of_the_account(self):
        self.fallback.price_currency_id = self.usd
        sms = self._send(['+33612345678'], {self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT})
        attempt = self._accepted(sms)
        self.assertEqual(attempt.cost_currency_id, self.usd)
        self.assertAlmostEqual(attempt.cost, 0.05, places=5)
        # The SMS shows what its attempts cost, in their currency.
        sms.invalidate_recordset()
        self.assertAlmostEqual(sms.sms_router_cost, 0.05, places=5)
        self.assertEqual(sms.sms_router_cost_currency_id, self.usd)
        # A new account defaults to its company's currency.
        account = self._router_account(self.company_gb, 'New GB')
        self.assertEqual(account.price_currency_id, self.company_gb.currency_id)

    def test_sms_cost_in_one_currency(self):
        # An SMS whose priced attempts are in two currencies (accounts of a chain in different
        # currencies, tried in two batches): the sum in the currency of the last one, the
        # other converted at the rate of its day.
        today = fields.Date.today()
        self.env['res.currency.rate'].create([
            {'currency_id': self.eur.id, 'company_id': self.company_fr.id, 'name': today, 'rate': 1.0},
            {'currency_id': self.usd.id, 'company_id': self.company_fr.id, 'name': today, 'rate': 1.25},
        ])
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        self.env['sms.router.attempt'].create([
            {'sms_uuid': sms.uuid, 'company_id': self.company_fr.id, 'outcome': 'sent', 'accepted': True,
             'step': step, 'cost': cost, 'cost_currency_id': currency.id, 'cost_source': 'provider'}
            for step, (cost, currency) in enumerate([(0.08, self.usd), (0.05, self.eur)], start=1)])
        self.assertEqual(sms.sms_router_cost_currency_id, self.eur)
        self.assertAlmostEqual(sms.sms_router_cost, 0.05 + 0.08 / 1.25, places=5)
        sms.get_views([(False, 'form')])

    def test_no_price_no_cost(self):
        sms = self._send(['+447400123456'], {self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT})
        attempt = self._accepted(sms)
        self.assertEqual(attempt.account_id, self.fallback)
        self.assertFalse(attempt.cost)
        self.assertFalse(attempt.cost_currency_id)
        self.assertFalse(attempt.cost_source)
        self.assertFalse(attempt.cost_date)
        sms.invalidate_recordset()
        self.assertFalse(sms.sms_router_cost)
        self.assertFalse(sms.sms_router_cost_currency_id)

    def test_prices_read_once_per_batch(self):
        numbers = [f'+336123456{index:02d}' for index in range(20)] + \
                  [f'+3247012345{index}' for index in range(5)] + ['+447400123456']
        with patch.object(SmsRouterAccount, '_sms_router_price_table', autospec=True,
                          side_effect=SmsRouterAccount._sms_router_price_table) as table:
            sms = self._send(numbers, {self.primary: OutcomeKind.SENT})
        self.assertEqual(table.call_count, 1)
        attempts = self._accepted(sms)
        self.assertEqual(len(attempts), 26)
        self.assertEqual(sorted(set(attempts.mapped('cost_source'))), ['default', 'price_list'])
        self.assertAlmostEqual(sum(attempts.mapped('cost')), 20 * 0.045 + 5 * 0.068 + 0.09, places=5)

    def test_cost_report(self):
        self._send(['+33612345678', '+447400123456'], {self.primary: OutcomeKind.SENT})
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_cost_action')
        groups = self.env['sms.router.attempt']._read_group(
            literal_eval(action['domain']) + [('company_id', '=', self.company_fr.id)],
            ['cost_currency_id', 'company_id', 'account_id', 'sms_provider', 'destination_country_id',
             'create_date:month'], ['cost:sum'])
        by_country = {country.code: cost for _currency, _company, _account, _provider, country, _month, cost
                      in groups}
        self.assertAlmostEqual(by_country['FR'], 0.045, places=5)
        self.assertAlmostEqual(by_country['GB'], 0.09, places=5)
        # Every view of the report opens.
        for view_type in ('pivot', 'graph', 'list', 'form'):
            self.env['sms.router.attempt'].get_views([(False, view_type)])

    # ------------------------------------------------------------ late prices

    def test_late_price_replaces_estimate(self):
        sms = self._send(['+33612345678'], {self.primary: OutcomeKind.SENT})
        attempt = self._accepted(sms)
        self.assertEqual(attempt.cost_source, 'price_list')
        sent_at = attempt.cost_date
        # The provider's report gives the price: it replaces the estimate.
        changed = attempt._sms_router_record_price(price=0.0398, currency_code='EUR')
        self.assertEqual(changed, attempt)
        self.assertAlmostEqual(attempt.cost, 0.0398, places=5)
        self.assertEqual(attempt.cost_source, 'provider')
        self.assertGreaterEqual(attempt.cost_date, sent_at)
        # The same report again changes nothing.
        self.assertFalse(attempt._sms_router_record_price(price=0.0398, currency_code='EUR'))
        # A report older than the recorded price (replayed, out of order) does not undo it.
        older = attempt.cost_date - timedelta(minutes=5)
        self.assertFalse(attempt._sms_router_record_price(price=0.07, currency_code='EUR', reported_at=older))
        self.assertAlmostEqual(attempt.cost, 0.0398, places=5)
        # A newer one does.
        newer = attempt.cost_date + timedelta(minutes=5)
        self.assertEqual(attempt._sms_router_record_price(price=0.0087, currency_code='USD', reported_at=newer),
                         attempt)
        self.assertAlmostEqual(attempt.cost, 0.0087, places=5)
        self.assertEqual(attempt.cost_currency_id, self.usd)
        self.assertEqual(attempt.cost_date, newer)
        # Nothing to record: unchanged.
        self.assertFalse(attempt._sms_router_record_price())
        with mute_logger('odoo.addons.sms_router.tools.costs'):
            self.assertFalse(attempt._sms_router_record_price(price=0.01, currency_code='XXZ'))
            self.assertFalse(attempt._sms_router_record_price(price='', currency_code='EUR'))
        # A price as text, as some answers give it.
        self.assertEqual(attempt._sms_router_record_price(
            price='-0.00750', currency_code='USD', reported_at=newer + timedelta(minutes=1)), attempt)
        self.assertAlmostEqual(attempt.cost, 0.0075, places=5)

    def test_late_credits_and_empty_cost(self):
        sms = self._send(['+447400123456'], {self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT})
        attempt = self._accepted(sms)
        self.assertFalse(attempt.cost_source)
        # Credits need a credit value on the account.
        self.assertFalse(attempt._sms_router_record_price(credits=1.5))
        self.fallback.credit_value = 0.04
        self.assertEqual(attempt._sms_router_record_price(credits=1.5), attempt)
        self.assertAlmostEqual(attempt.cost, 0.06, places=5)
        self.assertEqual(attempt.cost_currency_id, self.eur)
        self.assertEqual(attempt.cost_source, 'provider')

    # ------------------------------------------------------------ price list

    @mute_logger('odoo.sql_db')
    def test_one_price_per_account_and_country(self):
        with self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env['sms.router.price'].create(
                {'account_id': self.primary.id, 'country_id': self.env.ref('base.fr').id, 'price': 0.04})
        with self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env['sms.router.price'].create(
                {'account_id': self.primary.id, 'country_id': self.env.ref('base.de').id, 'price': -0.04})
        with self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.primary.write({'price_default': -1})
            self.env.flush_all()

    def test_account_form_prices(self):
        self.assertEqual(self.primary.price_count, 2)
        action = self.primary.action_view_prices()
        self.assertEqual(self.env['sms.router.price'].search(action['domain']), self.primary.price_ids)
        self.primary.get_views([(False, 'form')])
        self.env['sms.router.price'].get_views([(False, 'list'), (False, 'search')])

    def test_csv_import(self):
        account = self._router_account(self.company_gb, 'Import GB', price_currency_id=self.usd.id)
        # The template offered by the import dialog exists and its headers map to the fields.
        templates = self.env['sms.router.price'].get_import_templates()
        self.assertEqual(len(templates), 1)
        template = file_open(templates[0]['template'].lstrip('/'), 'rb').read()
        wizard = self.env['base_import.import'].create(
            {'res_model': 'sms.router.price', 'file': template, 'file_type': 'text/csv'})
        preview = wizard.parse_preview({'has_headers': True, 'separator': ',', 'quoting': '"'})
        self.assertIsNone(preview.get('error'))
        self.assertEqual(['/'.join(match) for match in preview['matches'].values()],
                         ['account_id', 'country_id', 'price'])
        # A price list of that form, imported as the import dialog does.
        csv = (
            'Account,Country,Price per Segment\n'
            'Import GB,GB,0.0463\n'
            'Import GB,France,0.0798\n'
            'Import GB,IE,0.0912\n'
        ).encode()
        wizard = self.env['base_import.import'].create(
            {'res_model': 'sms.router.price', 'file': csv, 'file_type': 'text/csv', 'file_name': 'prices.csv'})
        options = {'has_headers': True, 'separator': ',', 'quoting': '"', 'encoding': 'utf-8',
                   'float_thousand_separator': ',', 'float_decimal_separator': '.',
                   'date_format': '', 'datetime_format': '', 'import_skip_records': [],
                   'import_set_empty_fields': [], 'fallback_values': {}, 'name_create_enabled_fields': {},
                   'advanced': False, 'keep_matches': False, 'limit': 2000, 'skip': 0}
        preview = wizard.parse_preview(dict(options))
        self.assertIsNone(preview.get('error'))
        result = wizard.execute_import(['account_id', 'country_id', 'price'], preview['headers'], options)
        self.assertFalse(result['messages'])
        self.assertEqual(len(result['ids']), 3)
        prices = {line.country_id.code: line.price for line in account.price_ids}
        self.assertEqual(prices, {'GB': 0.0463, 'FR': 0.0798, 'IE': 0.0912})
        self.assertEqual(account.price_ids.currency_id, self.usd)
        self.assertEqual(account._sms_router_segment_price('IE'), (0.0912, self.usd))
        # A second import of the same country is refused, and says why.
        wizard = self.env['base_import.import'].create({
            'res_model': 'sms.router.price', 'file': b'Account,Country,Price per Segment\nImport GB,GB,0.05\n',
            'file_type': 'text/csv'})
        with mute_logger('odoo.sql_db', 'odoo.models'):
            result = wizard.execute_import(['account_id', 'country_id', 'price'],
                                           ['Account', 'Country', 'Price per Segment'], options)
        self.assertTrue(result['messages'])
        self.assertEqual(account._sms_router_segment_price('GB'), (0.0463, self.usd))

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_rule')
    def test_company_rules(self):
        account_gb = self._router_account(self.company_gb, 'Account GB', price_default=0.05)
        price_gb = self.env['sms.router.price'].create(
            {'account_id': account_gb.id, 'country_id': self.env.ref('base.uk').id, 'price': 0.04})
        admin_gb = new_test_user(
            self.env, login='router_cost_admin_gb', groups='base.group_user,base.group_system',
            company_id=self.company_gb.id, company_ids=[(6, 0, self.company_gb.ids)])
        operator_fr = new_test_user(
            self.env, login='router_cost_operator_fr',
            groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        env = self.env(user=admin_gb)
        self.assertEqual(env['sms.router.price'].search([]), price_gb)
        with self.assertRaises(AccessError):
            self.primary.price_ids.with_user(admin_gb).read(['price'])
        with self.assertRaises(AccessError):
            self.primary.price_ids[:1].with_user(admin_gb).write({'price': 0.001})
        # An operator reads the prices of their company, and changes none.
        prices_fr = self.env(user=operator_fr)['sms.router.price'].search([])
        self.assertEqual(prices_fr, (self.primary | self.fallback).price_ids)
        with self.assertRaises(AccessError):
            prices_fr[:1].write({'price': 0.001})
        # An account's prices belong to its company.
        self.assertEqual(price_gb.company_id, self.company_gb)
