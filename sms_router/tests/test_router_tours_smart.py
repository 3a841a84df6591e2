"""Smart routing in the web client, as an operator uses it: prices and costs, a route's
strategy explained by the route tester, the delivery quality and the preview of a mass SMS.

The tours live in static/tests/tours/ (sms_router_*_smart_tour.js); they assert what the
screens show. Each test seeds what its screen reads, runs the tour as the administrator,
then checks what the tour saved (or, for the preview, that nothing was sent). Some tours
also run in French: the tours pick their expected labels by the user's language.
"""
import uuid
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import admin_reads_french

@tagged('post_install', '-at_install', 'sms_router')
class TestRouterToursSmart(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.ref('base.main_company')
        cls.eur, cls.usd = cls.env.ref('base.EUR'), cls.env.ref('base.USD')
        cls.eur.active = True
        cls.fr, cls.be, cls.de = cls.env.ref('base.fr'), cls.env.ref('base.be'), cls.env.ref('base.de')
        Account = cls.env['sms.router.account']
        cls.ovh, cls.sweego, cls.twilio = Account.create([
            {'name': name, 'sms_provider': 'iap', 'company_id': cls.company.id, 'price_currency_id': currency.id}
            for name, currency in (('Tour OVH', cls.eur), ('Tour Sweego', cls.eur), ('Tour Twilio', cls.usd))])
        cls.env['sms.router.price'].create([
            {'account_id': account.id, 'country_id': country.id, 'price': price}
            for account, country, price in ((cls.ovh, cls.fr, 0.045), (cls.ovh, cls.be, 0.045),
                                            (cls.sweego, cls.fr, 0.052), (cls.sweego, cls.be, 0.052))])
        # France: OVH first (the preview); Belgium: Sweego first, in the chain's order until
        # the strategy tour sends it by least cost.
        cls.route_fr = cls._route('Tour France', cls.ovh | cls.sweego, prefixes='+33')
        cls.route_be = cls._route('Tour Belgium', cls.sweego | cls.ovh, prefixes='+32')
        # What the providers charged for SMS already sent: 3 by OVH to France (one of 2
        # segments), 1 by Sweego to Belgium, 1 by Twilio in dollars, and one refused (no cost).
        attempts = [(cls.ovh, cls.fr, 0.045, 1), (cls.ovh, cls.fr, 0.045, 1), (cls.ovh, cls.fr, 0.09, 2),
                    (cls.sweego, cls.be, 0.052, 1), (cls.twilio, cls.fr, 0.0075, 1)]
        cls.env['sms.router.attempt'].create([{
            'sms_uuid': uuid.uuid4().hex, 'company_id': cls.company.id, 'account_id': account.id,
            'account_name': account.name, 'sms_provider': account.sms_provider, 'step': 1,
            'outcome': 'sent', 'accepted': True, 'final': True, 'segments': segments,
            'destination_country_id': country.id, 'number': '+33612345678',
            'cost': cost, 'cost_currency_id': account.price_currency_id.id, 'cost_source': 'price_list',
            'cost_date': fields.Datetime.now(),
        } for account, country, cost, segments in attempts] + [{
            'sms_uuid': uuid.uuid4().hex, 'company_id': cls.company.id, 'account_id': cls.sweego.id,
            'account_name': cls.sweego.name, 'sms_provider': 'iap', 'step': 1, 'outcome': 'provider_error',
            'accepted': False, 'final': False, 'destination_country_id': cls.fr.id, 'number': '+33612345679',
        }])
        # Delivery quality: OVH delivers to France; Sweego does not deliver to Germany and is
        # skipped there for a cool-down.
        cls.env['sms.router.quality'].sudo().create([
            {'account_id': cls.ovh.id, 'country_id': cls.fr.id, 'state': 'ok', 'delivery_rate': 0.97,
             'sample': 200, 'delivered_count': 194, 'undelivered_count': 6, 'sent_count': 210,
             'no_report_share': 0.02, 'median_report_delay': 4.0, 'latency_p50_ms': 120.0,
             'refreshed_at': fields.Datetime.now()},
            {'account_id': cls.sweego.id, 'country_id': cls.de.id, 'state': 'ejected', 'delivery_rate': 0.4,
             'sample': 50, 'delivered_count': 20, 'undelivered_count': 30, 'sent_count': 52,
             'no_report_share': 0.04, 'ejected_until': fields.Datetime.now() + timedelta(minutes=20),
             'ejection_count': 1, 'ejection_cause': 'floor', 'ejection_rate': 0.4, 'ejection_sample': 50,
             'ejection_threshold': 0.8,
             'reason': 'delivery 40.0 % to Germany over the last 50 reported SMS, below 80.0 %',
             'refreshed_at': fields.Datetime.now()},
        ])
        # The recipients of the preview: three French mobiles.
        cls.recipients = cls.env['res.partner'].create([
            {'name': f'Tour Recipient {name}', 'phone': phone, 'country_id': cls.fr.id}
            for name, phone in (('Alice', '+33612345678'), ('Bruno', '06 23 45 67 89'), ('Chloé', '+33634567890'))])

    @classmethod
    def _route(cls, name, accounts, **values):
        return cls.env['sms.router.route'].create({
            'name': name, 'company_id': cls.company.id,
            'step_ids': [(0, 0, {'account_id': account.id, 'sequence': index})
                         for index, account in enumerate(accounts, start=1)],
            **values,
        })

    def setUp(self):
        super().setUp()
        # Breaker states are read on a cursor of their own (see test_router_tours.py).
        self.set_registry_readonly_mode(False)
        self.addCleanup(self.set_registry_readonly_mode, True)

    def _in_french(self):
        admin_reads_french(self.env)

    # ------------------------------------------------------------------ prices and costs

    def test_prices_tour(self):
        """A price added on an account's Prices tab is in Configuration > Prices; the Costs
        report shows the costs of the SMS sent, per currency and provider."""
        self.start_tour('/odoo', 'sms_router_prices_smart_tour', login='admin')
        self.env.invalidate_all()
        price = self.env['sms.router.price'].search(
            [('account_id', '=', self.ovh.id), ('country_id', '=', self.env.ref('base.pt').id)])
        self.assertEqual(len(price), 1)
        self.assertAlmostEqual(price.price, 0.0425, places=5)
        self.assertEqual(price.currency_id, self.eur)
        self.assertEqual(self.ovh.price_count, 3)

    def test_prices_tour_french(self):
        """The same in French: the price typed with a decimal comma."""
        self._in_french()
        self.test_prices_tour()

    # ------------------------------------------------------------------ strategy

    def test_strategy_tour(self):
        """A route set to least cost; the route tester names the cheapest account first, with
        its price, and the others after it."""
        self.assertEqual(self.route_be.strategy, 'ordered')
        self.start_tour('/odoo', 'sms_router_strategy_smart_tour', login='admin')
        self.route_be.invalidate_recordset()
        self.assertEqual(self.route_be.strategy, 'least_cost')
        self.assertEqual(self.route_be.step_ids.sorted('sequence').account_id, self.sweego | self.ovh,
                         'the strategy does not reorder the chain itself')

    def test_strategy_tour_french(self):
        self._in_french()
        self.test_strategy_tour()

    def test_weighted_tour(self):
        """A route split 70/30 between its accounts: the weights typed in its chain, the route
        tester tells the split and the account the number drew."""
        self.start_tour('/odoo', 'sms_router_weighted_smart_tour', login='admin')
        self.route_fr.invalidate_recordset()
        self.assertEqual(self.route_fr.strategy, 'weighted')
        self.assertEqual({step.account_id: step.weight for step in self.route_fr.step_ids},
                         {self.ovh: 70, self.sweego: 30})

    # ------------------------------------------------------------------ quality

    def test_quality_tour(self):
        """The Delivery Quality list: delivery rate and sample per account and country, and
        the account skipped for a country."""
        self.start_tour('/odoo', 'sms_router_quality_smart_tour', login='admin')

    def test_quality_tour_french(self):
        self._in_french()
        self.test_quality_tour()

    # ------------------------------------------------------------------ send preview

    def _sms_counts(self):
        self.env.invalidate_all()
        return (self.env['sms.sms'].sudo().search_count([]),
                self.env['sms.router.attempt'].sudo().search_count([]),
                self.env['mail.message'].sudo().search_count(
                    [('model', '=', 'res.partner'), ('res_id', 'in', self.recipients.ids)]))

    def test_send_preview_tour(self):
        """From the contacts, Send SMS to three of them, Preview Sending: the account of each
        group, segments, estimated cost and totals; closed without sending, nothing is sent."""
        before = self._sms_counts()
        self.start_tour('/odoo/action-base.action_partner_form', 'sms_router_send_preview_smart_tour',
                        login='admin')
        self.assertEqual(self._sms_counts(), before, 'the preview sent nothing and logged nothing')
        self.assertFalse(self.env['sms.sms'].sudo().search_count(
            [('number', 'in', ['+33612345678', '+33623456789', '+33634567890'])]))
        # The preview the operator looked at (a transient record of this transaction).
        preview = self.env['sms.router.send.preview'].search([], order='id desc', limit=1)
        self.assertEqual((preview.recipient_count, preview.send_count, preview.segment_total), (3, 3, 6))
        self.assertEqual(preview.account_ids.account_id, self.ovh)
        self.assertAlmostEqual(preview.account_ids.cost, 0.27, places=5)

    def test_mailing_preview_tour(self):
        """On an SMS mailing's form, Actions > Preview Sending: its recipients left, the
        account and the cost; closed without sending, nothing is sent nor traced."""
        if 'mailing.mailing' not in self.env:
            self.skipTest('mass_mailing_sms is not installed')
        mailing = self.env['mailing.mailing'].create({
            'name': 'Tour Spring', 'subject': 'Tour Spring', 'mailing_type': 'sms',
            'body_plaintext': 'Spring offers at the clinic', 'sms_allow_unsubscribe': False,
            'mailing_model_id': self.env['ir.model']._get_id('res.partner'),
            'mailing_domain': [('id', 'in', self.recipients.ids)],
        })
        before = self._sms_counts()
        self.start_tour(f'/odoo/action-mass_mailing_sms.mailing_mailing_action_sms/{mailing.id}',
                        'sms_router_mailing_preview_tour', login='admin')
        self.assertEqual(self._sms_counts(), before, 'the preview sent nothing')
        self.assertFalse(mailing.mailing_trace_ids, 'the preview traced nothing')
        preview = self.env['sms.router.send.preview'].search([], order='id desc', limit=1)
        self.assertEqual((preview.name, preview.traffic, preview.send_count), ('Tour Spring', 'marketing', 3))

    def test_mailing_preview_tour_french(self):
        self._in_french()
        self.test_mailing_preview_tour()

    def test_send_preview_tour_french(self):
        self._in_french()
        self.test_send_preview_tour()
