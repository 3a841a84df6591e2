import logging
from urllib.parse import parse_qsl

import responses

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import (
    ACCOUNT_SID,
    ACCOUNT_URL,
    API_KEY_SECRET,
    AUTH_TOKEN,
    MESSAGES_URL,
    NUMBERS_URL,
    PUBLIC_BASE,
    TwilioRouterCase,
    twilio_error,
)

CREDENTIALS = ('twilio_account_sid', 'twilio_auth_token', 'twilio_api_key_sid', 'twilio_api_key_secret')


@tagged('post_install', '-at_install', 'sms_router_twilio')
@route_requests_through_responses
class TestTwilioAccount(TwilioRouterCase):
    """Configuration of a Twilio account: fields, checks, access, account actions."""

    def setUp(self):
        super().setUp()
        self.twilio = self._twilio_account(self.company_fr, 'Twilio FR')

    # ------------------------------------------------------------ fields and checks

    def test_credentials_are_for_system_administrators_only(self):
        for name in CREDENTIALS:
            self.assertEqual(self.env['sms.router.account']._fields[name].groups, 'base.group_system', name)
        operator = new_test_user(self.env, login='twilio_operator', company_id=self.company_fr.id,
                                 company_ids=[(6, 0, self.company_fr.ids)],
                                 groups='base.group_user,sms_router.group_sms_router_operator')
        account = self.twilio.with_user(operator)
        self.assertEqual(account.name, 'Twilio FR')
        self.assertEqual(account.twilio_number_ids.mapped('number'), ['+33757000001', '+447700900123'],
                         'operators see the From numbers')
        for name in CREDENTIALS:
            with self.assertRaises(AccessError):
                account.read([name])
        with self.assertRaises(AccessError):
            account.twilio_number_ids[0].number = '+33757000009'
        with responses.RequestsMock() as rsps, self.assertRaises(AccessError):
            account.action_twilio_reload_numbers()
        self.assertFalse(rsps.calls, 'operators cannot use the credentials')

    def test_numbers_follow_the_account_company(self):
        user_gb = new_test_user(self.env, login='twilio_operator_gb', company_id=self.company_gb.id,
                                company_ids=[(6, 0, self.company_gb.ids)],
                                groups='base.group_user,sms_router.group_sms_router_operator')
        numbers = self.env['sms.router.twilio.number'].with_user(user_gb).search(
            [('id', 'in', self.twilio.twilio_number_ids.ids)])
        self.assertFalse(numbers, 'numbers of another company account are hidden')

    def test_sid_formats_are_checked_with_a_clear_message(self):
        cases = [
            ({'twilio_account_sid': 'SK0123456789abcdef0123456789abcdef'},
             r"account SID is malformed: expected 'AC' followed by 32 hexadecimal"),
            ({'twilio_api_key_sid': 'AC0123'}, r"API key SID is malformed: expected 'SK'"),
            ({'twilio_sender_type': 'messaging_service'}, r'Messaging Service SID is missing'),
            ({'twilio_sender_type': 'messaging_service', 'twilio_messaging_service_sid': 'MGxyz'},
             r'Messaging Service SID is malformed'),
            ({'twilio_validity_period': 36001}, 'validity period'),
        ]
        for values, message in cases:
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, message):
                self._twilio_account(self.company_fr, 'Bad Twilio', **values)
        with self.assertRaisesRegex(ValidationError, 'account SID is malformed'):
            self.twilio.twilio_account_sid = 'AC123'
        self.env.invalidate_all()
        # Pasted with spaces around: stored clean.
        self.twilio.twilio_account_sid = f'  {ACCOUNT_SID} '
        self.assertEqual(self.twilio.twilio_account_sid, ACCOUNT_SID)

    def test_sid_is_never_quoted_in_errors(self):
        secret_looking = 'x' * 34
        with self.assertRaises(ValidationError) as caught:
            self.twilio.twilio_account_sid = secret_looking
        self.assertNotIn(secret_looking, str(caught.exception))

    def test_configuration_problems_are_shown(self):
        self.assertFalse(self.twilio.configuration_error)
        account = self._router_account(self.company_fr, 'Empty Twilio', provider='twilio')
        self.assertIn('account SID is missing', account.configuration_error)
        self.assertIn('no sender', account.configuration_error)

    def test_from_numbers_are_normalised_and_checked(self):
        number = self.env['sms.router.twilio.number'].create(
            {'account_id': self.twilio.id, 'number': '0033 7 57 00 00 02'})
        self.assertEqual(number.number, '+33757000002')
        number.number = '+44 7700 900 124'
        self.assertEqual(number.number, '+447700900124')
        alphanumeric = self.env['sms.router.twilio.number'].create({'account_id': self.twilio.id, 'number': 'MyShop'})
        self.assertEqual(alphanumeric.display_name, 'MyShop')
        for bad in ('+33', 'not a sender!', 'TwelveLetters'):
            with self.subTest(bad=bad), self.assertRaises(ValidationError):
                self.env['sms.router.twilio.number'].create({'account_id': self.twilio.id, 'number': bad})
        self.assertIn('+447700900124', self.twilio.twilio_senders)

    def test_webhook_urls_use_the_public_base_url(self):
        self.assertEqual(self.twilio._sms_router_webhook_paths(), {
            'delivery_report': f'/sms_router_twilio/status/{self.twilio.id}/<sms uuid>',
            'inbound': f'/sms_router_twilio/inbound/{self.twilio.id}'})
        self.assertEqual(self.twilio.inbound_url, f'{PUBLIC_BASE}/sms_router_twilio/inbound/{self.twilio.id}')
        self.assertEqual(self.twilio.delivery_report_url,
                         f'{PUBLIC_BASE}/sms_router_twilio/status/{self.twilio.id}/<sms uuid>')
        self.assertIn('A message comes in', self.twilio.webhook_help)
        # The StatusCallback of each SMS is built when it is sent.
        self.assertEqual(self.twilio._sms_router_twilio_status_url('a' * 32),
                         f'{PUBLIC_BASE}/sms_router_twilio/status/{self.twilio.id}/{"a" * 32}')
        self.twilio.public_base_url = False
        base = self.company_fr.get_base_url()
        self.assertEqual(self.twilio.inbound_url,
                         f'{base.rstrip("/")}/sms_router_twilio/inbound/{self.twilio.id}')

    @responses.activate
    def test_no_credit_is_read_from_twilio(self):
        self.assertFalse(self.twilio.credit_supported)
        self.twilio._sms_router_refresh_credit_quietly(max_age=0)
        self._router_credits_read_now_except(self.twilio)
        self.env['sms.router.account']._cron_sms_router_refresh_credits()
        settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertNotIn(self.twilio, settings.sms_router_credit_account_ids)
        self.assertFalse(responses.calls)
        self.assertFalse(self.twilio.credit_checked_at)

    # ------------------------------------------------------------ actions

    @responses.activate
    def test_test_connection_fetches_the_account(self):
        responses.add(responses.GET, ACCOUNT_URL, json={
            'sid': ACCOUNT_SID, 'friendly_name': 'Acme SMS', 'status': 'active', 'type': 'Full'})
        action = self.twilio.action_test_connection()
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn('Acme SMS', action['params']['message'])
        self.assertIn('active', action['params']['message'])

    @responses.activate
    def test_test_connection_reports_twilio_refusal_without_secrets(self):
        responses.add(responses.GET, ACCOUNT_URL, status=401,
                      json=twilio_error(20003, 'Authentication Error - invalid username', 401))
        with self.assertRaises(UserError) as caught:
            self.twilio.action_test_connection()
        self.assertIn('20003', str(caught.exception))
        self.assertNotIn(AUTH_TOKEN, str(caught.exception))

    @responses.activate
    def test_test_connection_refuses_a_suspended_account(self):
        responses.add(responses.GET, ACCOUNT_URL, json={'sid': ACCOUNT_SID, 'friendly_name': 'Acme',
                                                        'status': 'suspended', 'type': 'Full'})
        with self.assertRaisesRegex(UserError, 'suspended'):
            self.twilio.action_test_connection()

    @responses.activate
    def test_reload_numbers(self):
        self.env['sms.router.twilio.number'].create({'account_id': self.twilio.id, 'number': 'MyShop'})
        responses.add(responses.GET, NUMBERS_URL, json={
            'incoming_phone_numbers': [
                {'phone_number': '+33757000001', 'capabilities': {'sms': True, 'voice': True}},
                {'phone_number': '+14155550000', 'capabilities': {'sms': True}},
                {'phone_number': '+33170000000', 'capabilities': {'sms': False, 'voice': True}},
            ],
            'next_page_uri': None,
        })
        action = self.twilio.action_twilio_reload_numbers()
        self.assertEqual(action['params']['type'], 'success')
        numbers = self.twilio.twilio_number_ids.sorted('sequence')
        self.assertEqual(numbers.mapped('number'), ['+33757000001', 'MyShop', '+14155550000'],
                         'kept, alphanumeric sender kept, added; the number gone from Twilio is removed')
        self.assertEqual(numbers[2].country_id, self.env.ref('base.us'))
        self.assertEqual(numbers[0].country_id, self.env.ref('base.fr'))
        self.assertIn('1 added, 1 removed', action['params']['message'])

    @responses.activate
    def test_send_test_sms(self):
        responses.add(responses.POST, MESSAGES_URL, json={'sid': 'SM' + 'b' * 32, 'status': 'queued'}, status=201)
        wizard = self.env['sms.router.test.sms'].create({
            'account_id': self.twilio.id, 'number': '06 12 34 56 78', 'body': 'Hello'})
        action = wizard.action_send()
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn('SM' + 'b' * 32, wizard.result)
        form = dict(parse_qsl(responses.calls[0].request.body))
        self.assertEqual(form['To'], '+33612345678')
        self.assertNotIn('StatusCallback', form, 'no delivery report for a test SMS')

    @responses.activate
    def test_secrets_are_not_logged(self):
        self.twilio.write({'twilio_api_key_sid': 'SK' + 'c' * 32, 'twilio_api_key_secret': API_KEY_SECRET})
        self.forgetRouterClients()
        responses.add(responses.POST, MESSAGES_URL, status=401,
                      json=twilio_error(20003, f'Authenticate {API_KEY_SECRET} {AUTH_TOKEN}', 401))
        self._router_route(self.company_fr, self.twilio)
        self.company_fr.sms_router_iap_last_resort = False
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.assertLogs('odoo.addons.sms_router_twilio', level=logging.DEBUG) as logs:
            sms.send()
        output = '\n'.join(logs.output)
        self.assertIn('20003', output)
        self.assertNotIn(AUTH_TOKEN, output)
        self.assertNotIn(API_KEY_SECRET, output)
        self.assertNotIn(AUTH_TOKEN, sms.sms_router_failure_reason)
