from odoo.tests import tagged

from .common import FR_NUMBER, SweegoCase, event_body, sweego_event


@tagged('post_install', '-at_install', 'sms_router_sweego')
class TestSweegoPrices(SweegoCase):
    """What Sweego says an SMS cost (its events' sms_price) reaches the cost ledger."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.env.ref('base.EUR')
        cls.usd = cls.env.ref('base.USD')
        # The account's own estimate, in another currency, so that a replaced one shows.
        cls.sweego.write({'price_currency_id': cls.usd.id, 'price_default': 0.5})

    def _receive(self, event):
        from ..tools.sweego_webhook import parse_event
        return self.env['sms.router.sweego.event']._sweego_receive(
            self.sweego, parse_event(event_body(event)), event['event_id'])

    def _attempt(self, message_id, **values):
        return self.env['sms.router.attempt'].create({
            'sms_uuid': '0' * 32, 'company_id': self.company_fr.id, 'account_id': self.sweego.id,
            'account_name': self.sweego.name, 'sms_provider': 'sweego', 'number': FR_NUMBER,
            'step': 1, 'outcome': 'sent', 'accepted': True, 'final': True, 'message_id': message_id,
            'delivery_state': 'pending', 'cost': 0.5, 'cost_currency_id': self.usd.id,
            'cost_source': 'default', **values})

    def _event(self, event_type, swg_uid, price='0.0725', segments=2):
        event = sweego_event(event_type, swg_uid=swg_uid)
        event.update(sms_price=price, nb_segments=segments)
        return event

    def test_event_price_replaces_the_estimate(self):
        attempt = self._attempt('03-priced')
        event = self._receive(self._event('sms_sent', '03-priced', price=0.0725))
        self.assertEqual((event.sms_price, event.price_currency, event.nb_segments), (0.0725, 'EUR', 2))
        self.assertTrue(event.price_recorded)
        self.assertEqual((attempt.cost, attempt.cost_currency_id, attempt.cost_source),
                         (0.0725, self.eur, 'provider'))
        # The next event of the same SMS repeats its price: nothing changes.
        recorded_at = attempt.cost_date
        undelivered = self._receive(self._event('sms_undelivered', '03-priced', price='0.0725'))
        self.assertTrue(undelivered.price_recorded)
        self.assertEqual((attempt.cost, attempt.cost_date), (0.0725, recorded_at))

    def test_event_without_price_leaves_the_estimate(self):
        attempt = self._attempt('03-unpriced')
        event = sweego_event('sms_sent', swg_uid='03-unpriced')
        del event['sms_price']
        received = self._receive(event)
        self.assertFalse(received.price_currency)
        self.assertFalse(received.price_recorded)
        self.assertEqual((attempt.cost, attempt.cost_source), (0.5, 'default'))
        self.assertFalse(self.env['sms.router.sweego.event']._sweego_record_pending_prices())

    def test_price_of_an_event_before_its_sms_is_recorded_follows_the_parked_report(self):
        event = self._receive(self._event('sms_sent', '03-early-price', price='0.09'))
        self.assertEqual(event.state, 'parked')
        self.assertFalse(event.price_recorded)
        attempt = self._attempt('03-early-price')
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertTrue(event.price_recorded)
        self.assertEqual((attempt.cost, attempt.cost_currency_id, attempt.cost_source),
                         (0.09, self.eur, 'provider'))
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_stop_event_with_a_price_prices_its_sms(self):
        attempt = self._attempt('03-stop')
        self._receive(self._event('sms_stop', '03-stop', price=0.04, segments=1))
        self.assertEqual((attempt.cost, attempt.cost_source), (0.04, 'provider'))
