from urllib.parse import parse_qsl

import responses

from odoo.tests import tagged

from odoo.addons.sms_router.engine.outcomes import OutcomeKind
from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import MESSAGES_URL, PUBLIC_BASE, TWILIO_BASE, TwilioRouterCase

ODOO_TWILIO_SID = 'AC12345678987654321234567898765432'
ODOO_TWILIO_MESSAGES_URL = f'{TWILIO_BASE}/Accounts/{ODOO_TWILIO_SID}/Messages.json'


@tagged('post_install', '-at_install', 'sms_router_twilio')
@route_requests_through_responses
class TestTwilioCoexistence(TwilioRouterCase):
    """Odoo's own ``sms_twilio`` (one account per company) next to the router's Twilio accounts."""

    def setUp(self):
        super().setUp()
        if self.env['ir.module.module']._get('sms_twilio').state != 'installed':
            self.skipTest('sms_twilio is not installed')

    def test_each_company_keeps_its_twilio(self):
        # Company GB sends through Odoo's sms_twilio, company FR through the router.
        self.company_gb.sudo().write({
            'sms_provider': 'twilio',
            'sms_twilio_account_sid': ODOO_TWILIO_SID,
            'sms_twilio_auth_token': 'odoo-twilio-token',
            'sms_twilio_number_ids': [(0, 0, {'number': '+447700900999', 'country_id': self.env.ref('base.uk').id})],
        })
        self.company_fr.sms_router_iap_last_resort = False
        twilio = self._twilio_account(self.company_fr, 'Router Twilio FR')
        fallback = self._router_account(self.company_fr, 'Fallback FR')
        self._router_route(self.company_fr, twilio | fallback)
        sms_fr = self._router_sms(self.company_fr, ['+33612345678'], record_company_id=self.company_fr.id)
        sms_gb = self._router_sms(self.company_gb, ['+447400123456'], record_company_id=self.company_gb.id)

        with responses.RequestsMock() as rsps, self.mockRouterClients({fallback: OutcomeKind.SENT}):
            self._twilio_accepts(rsps)
            rsps.add(responses.POST, ODOO_TWILIO_MESSAGES_URL, json={'sid': 'SModoo', 'status': 'queued'}, status=201)
            (sms_fr | sms_gb).send()
            calls = {call.request.url: dict(parse_qsl(call.request.body)) for call in rsps.calls}

        self.assertEqual(set(calls), {MESSAGES_URL, ODOO_TWILIO_MESSAGES_URL})
        self.assertEqual(calls[MESSAGES_URL]['To'], '+33612345678')
        self.assertEqual(calls[MESSAGES_URL]['StatusCallback'],
                         f'{PUBLIC_BASE}/sms_router_twilio/status/{twilio.id}/{sms_fr.uuid}')
        self.assertEqual(calls[ODOO_TWILIO_MESSAGES_URL]['To'], '+447400123456')
        self.assertTrue(calls[ODOO_TWILIO_MESSAGES_URL]['StatusCallback'].endswith(f'/sms_twilio/status/{sms_gb.uuid}'))
        self.assertRouterTrail(sms_fr, [(twilio, 'sent')])
        self.assertFalse(self._router_attempts(sms_gb), 'Odoo sms_twilio sent it, not the router')
        self.assertEqual((sms_fr | sms_gb).mapped('state'), ['pending', 'pending'])
