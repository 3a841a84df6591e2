import base64
from datetime import datetime, timedelta

import requests
import responses

from odoo.tests import tagged

from odoo.addons.sms_router.engine.outcomes import OutcomeKind
from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    MESSAGES_URL,
    MESSAGING_SERVICE_SID,
    PUBLIC_BASE,
    TwilioRouterCase,
)

FR_NUMBER = '+33612345678'
FR_NUMBER_2 = '+33698765432'
GB_NUMBER = '+447400123456'
US_NUMBER = '+14155552671'


def basic(user, password):
    return 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()


@tagged('post_install', '-at_install', 'sms_router_twilio')
@route_requests_through_responses
class TestTwilioSending(TwilioRouterCase):
    """Twilio in the router's chains: request shape, classification, failover."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False

    def setUp(self):
        super().setUp()
        self.twilio = self._twilio_account(self.company_fr, 'Twilio FR')
        self.fallback = self._router_account(self.company_fr, 'Fallback FR')

    def _route(self, *accounts):
        self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).unlink()
        return self._router_route(self.company_fr, accounts, name='Default')

    # ------------------------------------------------------------ request shape

    def test_one_request_per_recipient_with_sender_callback_and_sid(self):
        self._route(self.twilio, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER, FR_NUMBER_2, GB_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            self._twilio_accepts(rsps)
            sms.send()
            forms = {form['To']: form for form in self._sent_forms(rsps)}
            auth_headers = {call.request.headers['Authorization'] for call in rsps.calls}
        self.assertEqual(set(forms), {FR_NUMBER, FR_NUMBER_2, GB_NUMBER}, 'one Messages.json call per recipient')
        self.assertEqual(auth_headers, {basic(ACCOUNT_SID, AUTH_TOKEN)})
        self.assertEqual(forms[FR_NUMBER]['From'], '+33757000001', 'the French number for France')
        self.assertEqual(forms[GB_NUMBER]['From'], '+447700900123', 'the British number for the UK')
        for record in sms:
            form = forms[record.number]
            self.assertEqual(form['Body'], record.body)
            self.assertEqual(form['StatusCallback'],
                             f'{PUBLIC_BASE}/sms_router_twilio/status/{self.twilio.id}/{record.uuid}')
            self.assertNotIn('MessagingServiceSid', form)
            attempt = self.assertRouterTrail(record, [(self.twilio, 'sent')])
            self.assertTrue(attempt.message_id.startswith('SM'), 'the message SID is kept in the trail')
            self.assertEqual(attempt.delivery_state, 'pending')
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertFalse(self.routerCalls(self.fallback))

    def test_default_sender_for_other_countries(self):
        self._route(self.twilio)
        sms = self._router_sms(self.company_fr, [US_NUMBER])
        with responses.RequestsMock() as rsps:
            self._twilio_accepts(rsps)
            sms.send()
            self.assertEqual(self._sent_forms(rsps)[0]['From'], '+33757000001', 'first number by default')

        self.twilio.sender_id = 'MyShop'
        self.forgetRouterClients()
        sms = self._router_sms(self.company_fr, [US_NUMBER, FR_NUMBER])
        with responses.RequestsMock() as rsps:
            self._twilio_accepts(rsps)
            sms.send()
            senders = {form['To']: form['From'] for form in self._sent_forms(rsps)}
        self.assertEqual(senders, {US_NUMBER: 'MyShop', FR_NUMBER: '+33757000001'},
                         'the Sender ID is the default; the number of the country still wins')

    def test_messaging_service_and_api_key(self):
        self.twilio.write({
            'twilio_sender_type': 'messaging_service',
            'twilio_messaging_service_sid': MESSAGING_SERVICE_SID,
            'twilio_api_key_sid': API_KEY_SID,
            'twilio_api_key_secret': API_KEY_SECRET,
            'twilio_validity_period': 600,
        })
        self._route(self.twilio)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps:
            self._twilio_accepts(rsps, status='accepted')
            sms.send()
            form = self._sent_forms(rsps)[0]
            self.assertEqual(rsps.calls[0].request.headers['Authorization'], basic(API_KEY_SID, API_KEY_SECRET))
        self.assertEqual(form['MessagingServiceSid'], MESSAGING_SERVICE_SID)
        self.assertEqual(form['ValidityPeriod'], '600')
        self.assertNotIn('From', form)
        self.assertEqual(sms.state, 'pending')

    def test_no_status_callback_without_auth_token(self):
        self.twilio.write({'twilio_auth_token': False, 'twilio_api_key_sid': API_KEY_SID,
                           'twilio_api_key_secret': API_KEY_SECRET})
        self.assertTrue(self.twilio.twilio_webhook_warning)
        self._route(self.twilio)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps:
            self._twilio_accepts(rsps)
            sms.send()
            self.assertNotIn('StatusCallback', self._sent_forms(rsps)[0],
                             'reports that could not be verified are not requested')
        self.assertEqual(sms.state, 'pending')

    def test_endpoint_url_override(self):
        self.twilio.endpoint_url = 'https://twilio-sandbox.example.com/2010-04-01'
        self._route(self.twilio)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, f'https://twilio-sandbox.example.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json',
                     json={'sid': 'SM' + 'a' * 32, 'status': 'queued'}, status=201)
            sms.send()
        self.assertRouterTrail(sms, [(self.twilio, 'sent')])

    # ------------------------------------------------------------ failover into Twilio

    def test_failover_from_primary_to_twilio(self):
        """A Sweego or OVH primary that is down (scripted) hands the SMS over to Twilio."""
        primary = self._router_account(self.company_fr, 'Sweego FR')
        self._route(primary, self.twilio, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER, GB_NUMBER])
        with responses.RequestsMock() as rsps, \
                self.mockRouterClients({primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            self._twilio_accepts(rsps)
            sms.send()
            self.assertEqual(len(self._sent_forms(rsps)), 2)
        for record in sms:
            attempts = self.assertRouterTrail(record, [(primary, 'provider_error'), (self.twilio, 'sent')])
            self.assertTrue(attempts[-1].message_id)
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertEqual(len(self.routerCalls(primary)), 1, 'Sweego takes several recipients per call')
        self.assertFalse(self.routerCalls(self.fallback))

    def test_failover_from_refusing_primary_to_twilio(self):
        primary = self._router_account(self.company_fr, 'OVH FR')
        self._route(primary, self.twilio)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({primary: OutcomeKind.ACCOUNT}):
            self._twilio_accepts(rsps)
            sms.send()
        self.assertRouterTrail(sms, [(primary, 'account_error'), (self.twilio, 'sent')])
        self.assertEqual(sms.state, 'pending')

    # ------------------------------------------------------------ recipient-side refusals

    def test_invalid_number_stops_without_failover(self):
        for code in (21211, 21614):
            with self.subTest(code=code):
                self._route(self.twilio, self.fallback)
                sms = self._router_sms(self.company_fr, [FR_NUMBER])
                with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
                    self._twilio_refuses(rsps, code, "The 'To' number is not a valid phone number.")
                    sms.send()
                self.assertEqual(sms.state, 'error')
                self.assertEqual(sms.failure_type, 'sms_number_format')
                self.assertIn(str(code), sms.sms_router_failure_reason)
                self.assertRouterTrail(sms, [(self.twilio, 'recipient_error')])
                self.assertFalse(self.routerCalls(self.fallback), 'no provider can fix the number')

    def test_opted_out_recipient_is_blacklisted_without_failover(self):
        self._route(self.twilio, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            self._twilio_refuses(rsps, 21610, 'Attempt to send to unsubscribed recipient')
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_optout')
        self.assertIn('21610', sms.sms_router_failure_reason)
        self.assertRouterTrail(sms, [(self.twilio, 'opted_out')])
        self.assertFalse(self.routerCalls(self.fallback), 'failing over would evade the opt-out')
        self.assertTrue(self.env['phone.blacklist'].search([('number', '=', FR_NUMBER)]))

    # ------------------------------------------------------------ provider-side refusals

    def _send_with_failover(self, prepare):
        self._route(self.twilio, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            prepare(rsps)
            sms.send()
        self.assertEqual(sms.state, 'pending', 'the fallback account sent it')
        self.assertEqual(len(self.routerCalls(self.fallback)), 1)
        return sms

    def test_authentication_failure_fails_over_and_counts_against_breaker(self):
        sms = self._send_with_failover(lambda rsps: self._twilio_refuses(rsps, 20003, 'Authenticate', status=401))
        attempts = self.assertRouterTrail(sms, [(self.twilio, 'account_error'), (self.fallback, 'sent')])
        self.assertIn('20003', attempts[0].reason)
        self.assertNotIn(AUTH_TOKEN, attempts[0].reason)
        self.assertEqual(self.twilio.breaker_failure_count, 1)

    def test_bare_401_is_an_account_failure(self):
        sms = self._send_with_failover(
            lambda rsps: rsps.add(responses.POST, MESSAGES_URL, body='Unauthorized', status=401))
        self.assertRouterTrail(sms, [(self.twilio, 'account_error'), (self.fallback, 'sent')])
        self.assertEqual(self.twilio.breaker_failure_count, 1)

    def test_rate_limit_fails_over_and_honours_retry_after(self):
        for index, refuse in enumerate((
            lambda rsps: self._twilio_refuses(rsps, 20429, 'Too Many Requests', status=429,
                                              headers={'Retry-After': '120'}),
            lambda rsps: rsps.add(responses.POST, MESSAGES_URL, body='', status=429, headers={'Retry-After': '120'}),
        )):
            with self.subTest(case=index):
                self.twilio = self._twilio_account(self.company_fr, f'Twilio FR {index}')
                before = datetime.now()
                sms = self._send_with_failover(refuse)
                self.assertRouterTrail(sms, [(self.twilio, 'provider_error'), (self.fallback, 'sent')])
                self.assertEqual(self.twilio.breaker_failure_count, 1)
                self.assertTrue(self.twilio.breaker_paused_until)
                self.assertGreaterEqual(self.twilio.breaker_paused_until, before + timedelta(seconds=110))

    def test_destination_refusals_fail_over_without_counting_against_breaker(self):
        for code in (21408, 21612, 21606, 21608):
            with self.subTest(code=code):
                sms = self._send_with_failover(
                    lambda rsps, code=code: self._twilio_refuses(rsps, code, 'not for this account'))
                attempts = self.assertRouterTrail(
                    sms, [(self.twilio, 'destination_unsupported'), (self.fallback, 'sent')])
                self.assertIn(str(code), attempts[0].reason)
                self.assertEqual(self.twilio.breaker_failure_count, 0)

    def test_server_errors_and_timeouts_fail_over(self):
        cases = [
            ('5xx', lambda rsps: rsps.add(responses.POST, MESSAGES_URL, body='<html>Bad gateway</html>', status=502),
             'provider_error'),
            ('connect timeout',
             lambda rsps: rsps.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ConnectTimeout()),
             'provider_error'),
            # Twilio may have accepted the SMS: under "at least once" (the default) it fails over.
            ('read timeout',
             lambda rsps: rsps.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ReadTimeout()),
             'ambiguous'),
            ('broken JSON', lambda rsps: rsps.add(responses.POST, MESSAGES_URL, body='{"sid": "SM', status=201),
             'ambiguous'),
        ]
        for label, prepare, outcome in cases:
            with self.subTest(label):
                self.twilio = self._twilio_account(self.company_fr, f'Twilio FR {label}')
                sms = self._send_with_failover(prepare)
                self.assertRouterTrail(sms, [(self.twilio, outcome), (self.fallback, 'sent')])
                self.assertEqual(self.twilio.breaker_failure_count, 1)

    def test_breaker_opens_after_repeated_failures(self):
        self.twilio.breaker_fail_max = 2
        self._route(self.twilio, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER, FR_NUMBER_2, GB_NUMBER],
                               body='Same body, three requests')
        self.twilio.max_concurrency = 1
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, \
                self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            rsps.add(responses.POST, MESSAGES_URL, body='', status=503)
            sms.send()
            twilio_calls = len(rsps.calls)
        self.assertEqual(twilio_calls, 2, 'the breaker opened after two failures: no third request')
        self.assertEqual(self.twilio.breaker_state, 'open')
        self.assertEqual(set(sms.mapped('state')), {'pending'})

    # ------------------------------------------------------------ Twilio to Odoo IAP

    def test_failover_from_twilio_to_iap_last_resort(self):
        self.company_fr.sms_router_iap_last_resort = True
        self._route(self.twilio)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockSMSGateway():
            rsps.add(responses.POST, MESSAGES_URL, body='', status=503)
            sms.send()
            self.assertEqual(len(rsps.calls), 1)
        self.assertEqual([entry['number'] for entry in self._sms], [FR_NUMBER], 'sent through Odoo IAP')
        self.assertRouterTrail(sms, [(self.twilio, 'provider_error'), ('Odoo IAP (last resort)', 'sent')])
        self.assertEqual(sms.state, 'pending')

    def test_twilio_misconfigured_is_skipped(self):
        self.twilio.twilio_number_ids.unlink()
        self.assertIn('no sender', self.twilio.configuration_error)
        self._route(self.twilio, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            sms.send()
            self.assertFalse(rsps.calls)
        self.assertRouterTrail(sms, [(self.twilio, 'misconfigured'), (self.fallback, 'sent')])
