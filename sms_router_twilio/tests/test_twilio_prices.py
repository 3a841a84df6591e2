import json
from datetime import timedelta

import responses

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import ACCOUNT_SID, MESSAGES_URL, TWILIO_BASE, TwilioRouterCase, twilio_error

FR_NUMBER = '+33612345678'
FR_NUMBER_2 = '+33698765432'


@tagged('post_install', '-at_install', 'sms_router_twilio')
@route_requests_through_responses
class TestTwilioPrices(TwilioRouterCase):
    """What Twilio says an SMS cost reaches the cost ledger: from any answer that has it, and
    from the message resource, asked later by a scheduled action."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.usd = cls.env.ref('base.USD')
        cls.eur = cls.env.ref('base.EUR')

    def setUp(self):
        super().setUp()
        self.twilio = self._twilio_account(self.company_fr, 'Twilio FR',
                                           price_currency_id=self.eur.id, price_default=0.06)
        self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).unlink()
        self._router_route(self.company_fr, self.twilio, name='Default')

    def _send(self, numbers, price=None):
        sms = self._router_sms(self.company_fr, numbers)
        with responses.RequestsMock() as rsps:
            def answer(request):
                return 201, {}, json.dumps({'sid': next(self.message_sids), 'status': 'queued',
                                            'price': price, 'price_unit': 'USD'})
            rsps.add_callback(responses.POST, MESSAGES_URL, callback=answer, content_type='application/json')
            sms.send()
        return self._router_attempts(sms)

    def _age(self, attempts, minutes):
        attempts.flush_recordset()
        self.env.cr.execute(SQL('UPDATE sms_router_attempt SET create_date = %s WHERE id IN %s',
                                fields.Datetime.now() - timedelta(minutes=minutes), tuple(attempts.ids)))
        attempts.invalidate_recordset(['create_date'])

    @staticmethod
    def _message_url(sid):
        return f'{TWILIO_BASE}/Accounts/{ACCOUNT_SID}/Messages/{sid}.json'

    def test_price_in_the_answer_is_recorded_at_once(self):
        attempt = self._send([FR_NUMBER], price='-0.07900')
        self.assertEqual((attempt.cost, attempt.cost_currency_id, attempt.cost_source),
                         (0.079, self.usd, 'provider'))

    def test_scheduled_action_records_the_later_price(self):
        attempts = self._send([FR_NUMBER, FR_NUMBER_2])
        # Estimated at the send from the account's default price: null price in the 201.
        self.assertEqual(set(attempts.mapped('cost_source')), {'default'})
        first, second = attempts
        self._age(attempts, 10)
        with responses.RequestsMock() as rsps:
            rsps.get(self._message_url(first.message_id),
                     json={'sid': first.message_id, 'status': 'delivered', 'price': '-0.15800',
                           'price_unit': 'USD', 'num_segments': '2'})
            rsps.get(self._message_url(second.message_id),
                     json={'sid': second.message_id, 'status': 'sent', 'price': None, 'price_unit': 'USD'})
            priced = self.env['sms.router.account']._sms_router_twilio_fetch_prices(delay_minutes=5)
        self.assertEqual(priced, 1)
        self.assertEqual((first.cost, first.cost_currency_id, first.cost_source), (0.158, self.usd, 'provider'))
        self.assertEqual((second.cost, second.cost_currency_id, second.cost_source), (0.06, self.eur, 'default'))
        self.assertTrue(first.twilio_price_checked_at and second.twilio_price_checked_at)

        # The next run asks only about what is not priced yet; a message Twilio no longer
        # knows is asked again later, until the maximum age.
        with responses.RequestsMock() as rsps:
            rsps.get(self._message_url(second.message_id), json=twilio_error(20404, 'not found', 404), status=404)
            self.assertEqual(self.env['sms.router.account']._sms_router_twilio_fetch_prices(delay_minutes=5), 0)
            self.assertEqual([call.request.url for call in rsps.calls], [self._message_url(second.message_id)])
        self._age(second, 60 * 49)
        with responses.RequestsMock() as rsps:
            self.assertEqual(self.env['sms.router.account']._sms_router_twilio_fetch_prices(delay_minutes=5), 0)
            self.assertFalse(rsps.calls)

    def test_too_young_sms_are_not_asked_about(self):
        attempt = self._send([FR_NUMBER])
        with responses.RequestsMock() as rsps:
            self.env['sms.router.account']._sms_router_twilio_fetch_prices(delay_minutes=5)
            self.assertFalse(rsps.calls)
        self.assertFalse(attempt.twilio_price_checked_at)

    def test_look_ups_stop_for_an_account_twilio_refuses(self):
        attempts = self._send([FR_NUMBER, FR_NUMBER_2])
        self._age(attempts, 10)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, \
                self.assertLogs('odoo.addons.sms_router_twilio.models.sms_router_account', 'WARNING'):
            for attempt in attempts:
                rsps.get(self._message_url(attempt.message_id),
                         json=twilio_error(20003, 'Authenticate', 401), status=401)
            self.env['sms.router.account']._sms_router_twilio_fetch_prices(delay_minutes=5)
            self.assertEqual(len(rsps.calls), 1)

    def test_cron(self):
        cron = self.env.ref('sms_router_twilio.ir_cron_sms_router_twilio_prices')
        self.assertEqual(cron.code.strip(), 'model._cron_sms_router_twilio_fetch_prices()')
        attempt = self._send([FR_NUMBER])
        self._age(attempt, 10)
        with responses.RequestsMock() as rsps:
            rsps.get(self._message_url(attempt.message_id),
                     json={'sid': attempt.message_id, 'status': 'delivered', 'price': '-0.0079',
                           'price_unit': 'USD'})
            self.env['sms.router.account']._cron_sms_router_twilio_fetch_prices()
        self.assertEqual((attempt.cost, attempt.cost_source), (0.0079, 'provider'))
