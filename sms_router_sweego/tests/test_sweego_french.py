import responses

from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import CREDIT_URL, SweegoCase


@tagged('post_install', '-at_install', 'sms_router_sweego')
@route_requests_through_responses
class TestSweegoFrench(SweegoCase):
    """A French company's Sweego account speaks French (i18n/fr.po); Sweego's own words stay
    as Sweego wrote them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env['res.lang']._activate_lang('fr_FR')
        cls.company_fr.partner_id.lang = 'fr_FR'

    def test_credit_error_reads_french(self):
        with self.mockSweego() as mock:
            mock.add(responses.GET, CREDIT_URL, status=401, json={'detail': 'Invalid or missing API key'})
            with self.assertRaises(UserError) as caught:
                self.sweego.action_refresh_credit()
        self.assertEqual(str(caught.exception),
                         'Sweego : impossible de lire le crédit SMS : HTTP 401 : Invalid or missing API key')

    def test_misconfigured_account_reads_french(self):
        self._sweego_configure(self.sweego, sweego_client_uuid=False)
        self.sweego.invalidate_recordset(['configuration_error'])
        self.assertEqual(self.sweego.with_context(lang='fr_FR').configuration_error, 'UUID client manquant')
