import json
from unittest.mock import patch

import responses

from odoo.tests import tagged

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from ..tools.sweego_client import STOP_MENTION
from .common import BE_NUMBER, FR_NUMBER, SEND_URL, SweegoCase, accepted

# 150 characters of GSM-7: one SMS alone, two with Sweego's STOP mention (11 more).
PROMO = 'Soldes : -20 % sur toute la boutique ce week-end avec le code PROMO24, des 49 euros ' \
        "d'achat. Livraison offerte en magasin et en ligne jusqu'a lundi !!"


@tagged('post_install', '-at_install', 'sms_router_sweego')
@route_requests_through_responses
class TestSweegoSegments(SweegoCase):
    """Sweego's STOP mention counted in the segments of marketing SMS to France, and the
    account's smart encoding applied to the text Sweego receives."""

    def _send(self, numbers, body, **values):
        sms = self._router_sms(self.company_fr, numbers, body=body, **values)
        with self.mockSweego() as mock:
            mock.add(responses.POST, SEND_URL, status=200,
                     json=accepted({number: f'uid-{index}' for index, number in enumerate(numbers)}))
            sms.send()
        return sms, [json.loads(call.request.body) for call in mock.calls]

    def test_stop_mention_counted_for_marketing_to_france_only(self):
        self.assertEqual(len(PROMO), 150)
        self.assertEqual(self.sweego.sweego_stop_mention, STOP_MENTION)
        sms, requests = self._send([FR_NUMBER, BE_NUMBER], PROMO, sms_router_traffic='marketing')
        self.assertEqual(requests[0]['message-txt'], PROMO, 'the router never adds the mention itself')
        self.assertEqual(requests[0]['campaign-type'], 'market')
        by_number = {attempt.number: attempt for attempt in self._router_attempts(sms)}
        self.assertEqual((by_number[FR_NUMBER].encoding, by_number[FR_NUMBER].segments), ('gsm7', 2))
        self.assertEqual((by_number[BE_NUMBER].encoding, by_number[BE_NUMBER].segments), ('gsm7', 1))

    def test_no_mention_on_transactional_sms(self):
        sms, _requests = self._send([FR_NUMBER], PROMO)
        self.assertEqual(self._router_attempts(sms).segments, 1)

    def test_market_campaign_type_counts_it_on_every_sms(self):
        self._sweego_configure(self.sweego, sweego_campaign_type='market')
        sms, requests = self._send([FR_NUMBER], PROMO)
        self.assertEqual(requests[0]['campaign-type'], 'market')
        self.assertEqual(self._router_attempts(sms).segments, 2)

    def test_mention_is_configurable(self):
        self._sweego_configure(self.sweego, sweego_stop_mention='')
        sms, _requests = self._send([FR_NUMBER], PROMO, sms_router_traffic='marketing')
        self.assertEqual(self._router_attempts(sms).segments, 1)
        self._sweego_configure(self.sweego, sweego_stop_mention='STOP au 36111 ' + 'x' * 80)
        sms, _requests = self._send([FR_NUMBER], PROMO, sms_router_traffic='marketing')
        self.assertEqual(self._router_attempts(sms).segments, 2)

    def test_smart_encoding_changes_the_text_sweego_receives(self):
        body = 'Votre commande est prête\u202f! «\u00a0Retrait\u00a0» à l’accueil dès 14h.'
        self._sweego_configure(self.sweego, smart_encoding='typography')
        sms, requests = self._send([FR_NUMBER], body)
        self.assertEqual(requests[0]['message-txt'], 'Votre commande est prête ! "Retrait" à l\'accueil dès 14h.')
        self.assertEqual(self._router_attempts(sms).encoding, 'ucs2', 'ê still forces UCS-2')
        self._sweego_configure(self.sweego, smart_encoding='letters')
        sms, requests = self._send([FR_NUMBER], body)
        self.assertEqual(requests[0]['message-txt'], 'Votre commande est prete ! "Retrait" à l\'accueil dès 14h.')
        attempt = self._router_attempts(sms)
        self.assertEqual((attempt.encoding, attempt.segments), ('gsm7', 1))
        self.assertEqual(sms.body, body, 'the SMS keeps the text as written')

    def test_composer_counts_the_mention_without_a_client(self):
        """The composer's count reads the mention from the account, as the client sends it."""
        self._sweego_configure(self.sweego, sweego_stop_mention='STOP au 36111')
        client = self.sweego._sweego_client()
        for campaign_type in ('transac', 'market'):
            self.sweego.sweego_campaign_type = campaign_type
            client.campaign_type = campaign_type
            for region in ('FR', 'BE', ''):
                for marketing in (False, True):
                    self.assertEqual(self.sweego._sms_router_appended_text(region, marketing),
                                     client.appended_text(region, marketing), (campaign_type, region, marketing))
        client.close()
        self.sweego.sweego_campaign_type = 'transac'
        with patch.object(type(self.sweego), '_sms_router_client', side_effect=AssertionError('client built')):
            self.assertEqual(self.sweego._sms_router_measure(PROMO, 'FR', marketing=True).segments, 2)
            self.assertEqual(self.sweego._sms_router_measure(PROMO, 'FR', marketing=False).segments, 1)
