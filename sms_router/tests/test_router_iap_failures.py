"""Odoo IAP inside a chain: ambiguous timeouts, plain reasons without secrets, and one IAP
call per round however personalised the bodies."""
from unittest.mock import patch

import requests

from odoo.addons.sms.tools.sms_api import SmsApi
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase

LAST_RESORT = 'Odoo IAP (last resort)'
TOKEN = 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4'


def _iap_failing_with(exception):
    """A ``_contact_iap`` that fails the way Odoo's ``iap_jsonrpc`` does: an AccessError
    raised while handling the ``requests`` exception."""
    def contact(self, local_endpoint, params, timeout=15):
        try:
            raise exception
        except requests.exceptions.RequestException:
            # As iap_jsonrpc does: the original exception stays as the context.
            raise AccessError(self.env._('The request to the service timed out.'))  # noqa: B904
    return contact


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterIapFailures(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls._router_route(cls, cls.company_fr, cls.primary, name='Default FR')
        cls.company_fr.sms_router_iap_last_resort = True

    def _send_through_iap(self, contact_iap, numbers=('+33612345678',), policy='at_least_once'):
        self.company_fr.sms_router_timeout_policy = policy
        sms = self._router_sms(self.company_fr, list(numbers))
        with patch.object(SmsApi, '_contact_iap', contact_iap), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            sms.send()
        return sms

    def test_iap_read_timeout_is_ambiguous(self):
        sms = self._send_through_iap(_iap_failing_with(requests.exceptions.ReadTimeout('read timed out')),
                                     policy='at_most_once')
        self.assertEqual(sms.state, 'error')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (LAST_RESORT, 'ambiguous')])
        self.assertTrue(attempts[-1].needs_review)
        self.assertIn('Needs review', sms.sms_router_failure_reason)
        self.assertIn('may have sent the SMS', sms.sms_router_failure_reason)

    def test_iap_connect_timeout_is_a_clean_failure(self):
        sms = self._send_through_iap(_iap_failing_with(requests.exceptions.ConnectTimeout('connect timed out')),
                                     policy='at_most_once')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (LAST_RESORT, 'provider_error')])
        self.assertFalse(attempts[-1].needs_review)
        self.assertIn('nothing was sent', attempts[-1].reason)

    def test_registration_needed_reason_has_no_token(self):
        """Odoo's message for 'registration_needed' links to IAP with the account token: it
        must not reach reasons (read by operators and marketing users) nor the log."""
        service = self.env['iap.service'].sudo().search([('technical_name', '=', 'sms')], limit=1)
        self.env['iap.account'].sudo().search([('service_name', '=', 'sms')]).unlink()
        self.env['iap.account'].sudo().create({'service_id': service.id, 'account_token': TOKEN})

        def contact(api, local_endpoint, params, timeout=15):
            return [{'uuid': number['uuid'], 'state': 'registration_needed'}
                    for message in params['messages'] for number in message['numbers']]

        partner = self.env['res.partner'].create({'name': 'Camille', 'phone': '+33612345678',
                                                  'company_id': self.company_fr.id})
        with patch.object(SmsApi, '_contact_iap', contact), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            message = partner._message_sms('Hello', partner_ids=partner.ids)
            sms = self.env['sms.sms'].search([('mail_message_id', '=', message.id)])
            sms.send()  # in case the chatter only queued it
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_registration_needed')
        texts = [sms.sms_router_failure_reason, *self._router_attempts(sms).mapped('reason'),
                 *message.notification_ids.mapped('failure_reason')]
        self.assertIn('requires a sender registration', sms.sms_router_failure_reason)
        for text in texts:
            self.assertNotIn('account_token=', text or '')
            self.assertNotIn(TOKEN, text or '')

    def test_personalised_bodies_make_one_iap_call(self):
        calls = []

        def contact(api, local_endpoint, params, timeout=15):
            calls.append(params['messages'])
            return [{'uuid': number['uuid'], 'state': 'success'}
                    for message in params['messages'] for number in message['numbers']]

        sms = self.env['sms.sms'].create([
            {'number': f'+3361234560{n}', 'body': f'Hello {n}, see you at {n}:00',
             'sms_router_company_id': self.company_fr.id} for n in range(6)])
        with patch.object(SmsApi, '_contact_iap', contact), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            sms.send()
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertEqual(len(calls), 1, 'one IAP call for the round, not one per body')
        self.assertEqual(sorted(message['content'] for message in calls[0]),
                         sorted(sms.mapped('body')))
