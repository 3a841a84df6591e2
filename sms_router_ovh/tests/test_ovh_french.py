import responses

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import BASE, CONSUMER_KEY, SERVICE, SmsRouterOvhCase, job_answer

SERVICE_URL = f'{BASE}/sms/{SERVICE}'


@tagged('post_install', '-at_install', 'sms_router_ovh')
class TestOvhFrench(SmsRouterOvhCase):
    """Reasons of a French company's OVH account are stored in French (i18n/fr.po); OVH's
    own words stay as OVH wrote them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env['res.lang']._activate_lang('fr_FR')
        cls.company_fr.partner_id.lang = 'fr_FR'

    @mute_logger('odoo.addons.sms_router.models.sms_router_account')
    def test_credit_error_reads_french(self):
        with self.mockOvhApi() as api:
            api.add(responses.GET, SERVICE_URL, status=403, headers={'X-OVH-QUERYID': 'EU.q77'},
                    json={'errorCode': 'INVALID_CREDENTIAL', 'message': f'Invalid key {CONSUMER_KEY}'})
            self.ovh._sms_router_refresh_credit_quietly()
        self.assertEqual(self.ovh.credit_error,
                         'OVH : HTTP 403 INVALID_CREDENTIAL: Invalid key *** (ID de requête EU.q77)')

    @mute_logger('odoo.addons.sms_router_ovh.controllers.main')
    def test_delivery_report_reads_french(self):
        self._router_route(self.company_fr, self.ovh, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockOvhApi():
            self.addJob(payload=job_answer(['+33612345678'], ids=[101]))
            sms.with_context(lang='en_US').send()
        attempt = self._router_attempts(sms)
        self.assertEqual(attempt.reason, 'OVH : envoi accepté')
        response = self.url_open(f'/sms_router_ovh/callback/{self.ovh.id}/{self.ovh.ovh_callback_token}'
                                 '?id=101&dlr=16&receiver=%2B33612345678')
        self.assertEqual(response.status_code, 200)
        self.assertEqual(attempt.delivery_reason, 'OVH (rappel) : rejeté (accusé de réception 16)')
