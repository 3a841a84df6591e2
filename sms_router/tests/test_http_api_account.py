"""HTTP API accounts in Odoo: save-time checks, sending through the router (against
``responses``), delivery reports on the account's URL, secrets and neutralization."""
import json
import logging

import responses

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from ..controllers.webhook import REFUSAL_BODY, REFUSAL_STATUS
from ..engine.http_api import load_spec
from ..engine.http_templates import load_template, template_keys
from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase, route_requests_through_responses

BASE = 'https://api.acme-sms.example'
SEND_URL = f'{BASE}/v1/sms'
BALANCE_URL = f'{BASE}/v1/balance'
API_KEY = 'AcmeKey-4f1d2c3b4a5968778695a4b3'
FR_NUMBER = '+33612345678'
FR_NUMBER_2 = '+33698765432'
PUBLIC_BASE = 'https://odoo.example.com'
CONTROLLER_LOGGER = 'odoo.addons.sms_router.controllers.http_api'
CLIENT_LOGGER = 'odoo.addons.sms_router.engine.http_api'

# A hand-made configuration: a JSON API taking up to 10 numbers per request, an API key
# header, one answer item per recipient, JSON delivery reports and a balance URL.
ACME_SPEC = {
    'method': 'POST',
    'url': '{base_url}/v1/sms',
    'body_type': 'json',
    'headers': {'Accept': 'application/json'},
    'body': {'from': '{sender}', 'to': '{number}', 'text': '{body}', 'callback': '{callback_url}'},
    'auth': {'type': 'header', 'name': 'X-API-Key', 'value': '{api_key}'},
    'recipients': {'max': 10, 'join': 'list'},
    'answer': {
        'accepted_status': [200, 201],
        'results': '$.messages[*]',
        'match': 'number',
        'number_path': '$.to',
        'id_path': '$.id',
        'status_path': '$.status',
        'ok_values': ['queued'],
        'rules': [
            {'status': [401, 403], 'outcome': 'account_error', 'reason': 'authentication refused'},
            {'path': '$.status', 'values': ['invalid_number'], 'outcome': 'recipient_error'},
        ],
    },
    'report': {
        'id': '$.id', 'status': '$.status', 'number': '$.to', 'error': '$.error',
        'delivered': ['delivered'], 'failed': ['failed', 'expired'],
    },
    'balance': {'method': 'GET', 'url': '{base_url}/v1/balance', 'path': '$.balance'},
}


def digest(spec):
    """What a spec (dict) does, for comparing an account's with a template's."""
    loaded = load_spec(spec)
    return {
        'request': (loaded.method, loaded.url, loaded.body_type, loaded.headers, loaded.params, loaded.body,
                    loaded.auth, loaded.max_recipients, loaded.join, loaded.separator, loaded.type_values),
        **{key: loaded.source.get(key) for key in ('answer', 'report', 'balance')},
    }


@tagged('post_install', '-at_install', 'sms_router')
@route_requests_through_responses
class TestHttpApiAccount(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        Account = cls.env['sms.router.account']
        cls.acme = Account.create({
            'name': 'Acme HTTP', 'company_id': cls.company_fr.id, 'sms_provider': 'http_api',
            'sender_id': 'ACME', 'http_api_key': API_KEY, 'http_api_base_url': BASE,
            'public_base_url': PUBLIC_BASE, **Account._http_api_spec_values(ACME_SPEC)})
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')

    def _route(self, *accounts):
        self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).unlink()
        return self._router_route(self.company_fr, accounts, name='Default', prefixes='+33')

    @staticmethod
    def _accept(rsps, ids=None):
        """Answer every send with one queued item per number of the request."""
        ids = iter(ids or [f'acme-{index}' for index in range(1, 100)])

        def callback(request):
            numbers = json.loads(request.body)['to']
            numbers = numbers if isinstance(numbers, list) else [numbers]
            return 200, {}, json.dumps({'messages': [
                {'to': number, 'id': next(ids), 'status': 'queued'} for number in numbers]})
        rsps.add_callback(responses.POST, SEND_URL, callback=callback, content_type='application/json')

    def _report_url(self, account=None, token=None):
        account = account or self.acme
        return f'/sms_router/http_api/report/{account.id}/{token or account.http_api_callback_token}'

    # ------------------------------------------------------------ configuration

    def test_spec_round_trip_and_webhook_url(self):
        self.assertEqual(digest(self.acme._http_api_spec()), digest(ACME_SPEC))
        token = self.acme.http_api_callback_token
        self.assertGreaterEqual(len(token), 40)
        self.assertEqual(self.acme.delivery_report_url,
                         f'{PUBLIC_BASE}/sms_router/http_api/report/{self.acme.id}/{token}')
        self.assertFalse(self.acme.inbound_url)
        self.assertFalse(self.acme.configuration_error)
        self.assertFalse(self.fallback.http_api_callback_token, 'only HTTP API accounts get a token')
        copy = self.acme.copy()
        self.assertFalse(copy.http_api_key, 'credentials are not copied')
        self.assertFalse(copy.active, 'a copy waits for its credentials, archived')
        self.assertTrue(copy.http_api_callback_token)
        self.assertNotEqual(copy.http_api_callback_token, token)
        self.acme.action_http_api_regenerate_callback_token()
        self.assertNotEqual(self.acme.http_api_callback_token, token)
        self.assertTrue(self.acme.delivery_report_url.endswith(self.acme.http_api_callback_token))

    def test_credentials_are_secrets(self):
        Account = self.env['sms.router.account']
        names = Account._sms_router_secret_field_names()
        for name in ('http_api_username', 'http_api_key', 'http_api_secret', 'http_api_callback_token'):
            self.assertIn(name, names)
            self.assertEqual(Account._fields[name].groups, 'base.group_system')
        for name in ('http_api_url', 'http_api_base_url', 'http_api_auth_value', 'http_api_body'):
            self.assertNotIn(name, names)
        self.assertIn(API_KEY, self.acme._sms_router_secrets())

    def test_save_refuses_unknown_placeholder(self):
        with self.assertRaisesRegex(ValidationError, r'\{foo\}'):
            self.acme.http_api_url = '{base_url}/v1/sms/{foo}'

    def test_save_refuses_invalid_json(self):
        with self.assertRaisesRegex(ValidationError, 'JSON Body'):
            self.acme.http_api_body = '{"to": "{number}",'
        with self.assertRaisesRegex(ValidationError, 'Headers'):
            self.acme.http_api_headers = "{'Accept': 'application/json'}"

    def test_save_refuses_json_path_that_does_not_parse(self):
        answer = dict(ACME_SPEC['answer'], id_path='$.messages[[id')
        with self.assertRaisesRegex(ValidationError, r'answer\.id_path: JSON path does not parse'):
            self.acme.http_api_answer = json.dumps(answer)

    def test_save_refuses_an_account_without_url(self):
        with self.assertRaisesRegex(ValidationError, 'template'):
            self.env['sms.router.account'].create({
                'name': 'Empty', 'company_id': self.company_fr.id, 'sms_provider': 'http_api'})

    def test_missing_credentials_are_refused_then_misconfigured(self):
        # Saved without a credential its requests use: refused, with what to fill in.
        with self.assertRaisesRegex(ValidationError, 'fill in API Key'):
            self.acme.http_api_key = False
        with self.assertRaisesRegex(ValidationError, 'fill in Username, API Key'):
            self.env['sms.router.account'].create({
                'name': 'Plivo', 'company_id': self.company_fr.id, 'sms_provider': 'http_api',
                'http_api_template': 'plivo'})
        # An archived account may lack them (a neutralized copy); reactivated, it is refused.
        self.acme.active = False
        self.env.cr.execute('UPDATE sms_router_account SET http_api_key = NULL WHERE id = %s', [self.acme.id])
        self.acme.invalidate_recordset()
        with self.assertRaisesRegex(ValidationError, 'fill in API Key'):
            self.acme.active = True
        # Removed outside the form (SQL, a restored copy) on an active account: the router
        # skips it as misconfigured, without a request.
        self.env.cr.execute('UPDATE sms_router_account SET active = TRUE WHERE id = %s', [self.acme.id])
        self.acme.invalidate_recordset()
        self.assertTrue(self.acme.configuration_error)
        self._route(self.acme, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, \
                self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            self._accept(rsps)
            sms.send()
            self.assertEqual(len(rsps.calls), 0, 'no request without the API key')
        self.assertRouterTrail(sms, [(self.acme, 'misconfigured'), (self.fallback, 'sent')])
        with self.assertRaises(UserError):
            self.acme.action_test_connection()

    # ------------------------------------------------------------ templates

    def test_every_template_applies_and_saves(self):
        keys = template_keys()
        if not keys:
            self.skipTest('no HTTP API template yet')
        selection = dict(self.env['sms.router.account']._http_api_template_selection())
        for key in keys:
            with self.subTest(template=key):
                template = load_template(key)
                self.assertEqual(selection[key], template['name'])
                account = self.env['sms.router.account'].create({
                    'name': f'From {key}', 'company_id': self.company_fr.id, 'sms_provider': 'http_api',
                    'http_api_template': key, **self._credentials(template)})
                self.assertEqual(account.http_api_base_url, template['endpoints']['live'])
                self.assertEqual(digest(account._http_api_spec()), digest(template['spec']))
                self.assertTrue(account.http_api_template_info)

    @staticmethod
    def _credentials(template):
        """Values of every credential ``template`` asks for."""
        fields = {'username': 'http_api_username', 'api_key': 'http_api_key', 'api_secret': 'http_api_secret'}
        return {fields[name]: f'{name}-0123456789' for name in template['credentials']}

    def test_form_creates_an_account_from_a_template(self):
        if 'africastalking' not in template_keys():
            self.skipTest("no Africa's Talking template yet")
        template = load_template('africastalking')
        form = Form(self.env['sms.router.account'].with_company(self.company_fr))
        form.name = "Africa's Talking"
        form.sms_provider = 'http_api'
        form.http_api_template = 'africastalking'
        self.assertEqual(form.http_api_url, template['spec']['url'])
        self.assertEqual(form.http_api_base_url, template['endpoints']['live'])
        form.http_api_template_endpoint = 'sandbox'
        self.assertEqual(form.http_api_base_url, template['endpoints']['sandbox'])
        form.http_api_username = 'sandbox'
        form.http_api_key = 'atsk_0123456789abcdef'
        account = form.save()
        self.assertEqual(digest(account._http_api_spec()), digest(template['spec']))
        self.assertFalse(account.configuration_error)
        self.assertTrue(account.http_api_callback_token)
        self.assertIn('Username', account.http_api_template_info)

    def test_template_texts_in_the_readers_language(self):
        self.env['res.lang']._activate_lang('fr_FR')
        self.env['ir.module.module'].search([('name', '=', 'sms_router')])._update_translations('fr_FR')
        account = self.env['sms.router.account'].create({
            'name': 'Plivo', 'company_id': self.company_fr.id, 'sms_provider': 'http_api',
            'http_api_template': 'plivo', **self._credentials(load_template('plivo'))})
        note = load_template('plivo')['notes']
        english = account.with_context(lang='en_US').http_api_template_info
        french = account.with_context(lang='fr_FR').http_api_template_info
        self.assertIn(note, english)
        self.assertNotIn(note, french)
        self.assertIn('Expéditeur', french)
        self.assertIn('Identifiants', french)
        selection = dict(self.env['sms.router.account'].with_context(lang='fr_FR')._http_api_template_selection())
        self.assertEqual(selection['brevo'], 'Brevo (SMS transactionnels)')

    def test_apply_template_keeps_credentials(self):
        key = next(iter(template_keys()), None)
        if not key:
            self.skipTest('no HTTP API template yet')
        template = load_template(key)
        self.acme.write({'http_api_template': key, 'http_api_username': 'acme-user'})
        self.acme.action_http_api_apply_template()
        self.assertEqual(digest(self.acme._http_api_spec()), digest(template['spec']))
        self.assertEqual(self.acme.http_api_base_url, template['endpoints']['live'])
        self.assertEqual((self.acme.http_api_key, self.acme.http_api_username, self.acme.sender_id),
                         (API_KEY, 'acme-user', 'ACME'))
        sandbox = next((k for k in template_keys() if load_template(k).get('endpoints', {}).get('sandbox')), None)
        if sandbox:
            self.acme.write({'http_api_template': sandbox, 'http_api_template_endpoint': 'sandbox'})
            self.assertTrue(self.acme.http_api_template_has_sandbox)
            self.acme.action_http_api_apply_template()
            self.assertEqual(self.acme.http_api_base_url, load_template(sandbox)['endpoints']['sandbox'])

    def test_account_from_vonage_template_sends(self):
        if 'vonage' not in template_keys():
            self.skipTest('no Vonage template yet')
        account = self.env['sms.router.account'].create({
            'name': 'Vonage', 'company_id': self.company_fr.id, 'sms_provider': 'http_api',
            'http_api_template': 'vonage', 'sender_id': 'ACME',
            'http_api_key': 'vonage-key-123', 'http_api_secret': 'vonage-secret-456'})
        self.assertFalse(account.configuration_error)
        self._route(account, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        url = account._http_api_client().base_url
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, \
                self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            # https://developer.vonage.com/en/api/sms#send-an-sms: the documented answer
            rsps.add(responses.POST, f'{url}/sms/json', json={'message-count': '1', 'messages': [{
                'to': FR_NUMBER[1:], 'message-id': '0A0000000123ABCD1', 'status': '0',
                'remaining-balance': '3.14159265', 'message-price': '0.03330000', 'network': '20810'}]})
            sms.send()
            self.assertEqual(len(rsps.calls), 1)
        attempts = self.assertRouterTrail(sms, [(account, 'sent')])
        self.assertEqual(attempts.message_id, '0A0000000123ABCD1')
        self.assertEqual(attempts.sms_provider, 'http_api')
        self.assertEqual(sms.state, 'pending')

    # ------------------------------------------------------------ sending

    def test_sends_in_one_request_with_message_ids(self):
        self._route(self.acme, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER, FR_NUMBER_2])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            self._accept(rsps, ids=['m-1', 'm-2'])
            sms.send()
            self.assertEqual(len(rsps.calls), 1, 'both numbers in one request')
            request = rsps.calls[0].request
        payload = json.loads(request.body)
        self.assertEqual(payload['to'], [FR_NUMBER, FR_NUMBER_2])
        self.assertEqual(payload['from'], 'ACME')
        self.assertEqual(payload['callback'], self.acme.delivery_report_url)
        self.assertEqual(request.headers['X-API-Key'], API_KEY)
        self.assertEqual(self.router_calls, [], 'the fallback is not asked')
        ids = {}
        for record in sms:
            attempt = self.assertRouterTrail(record, [(self.acme, 'sent')])
            ids[record.number] = attempt.message_id
            self.assertEqual(record.state, 'pending')
        self.assertEqual(set(ids.values()), {'m-1', 'm-2'})

    @mute_logger(CLIENT_LOGGER)
    def test_server_error_fails_over_with_the_trail(self):
        self._route(self.acme, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            rsps.add(responses.POST, SEND_URL, status=503, body='Service Unavailable')
            sms.send()
        attempts = self.assertRouterTrail(sms, [(self.acme, 'provider_error'), (self.fallback, 'sent')])
        self.assertIn('503', attempts[0].reason)
        self.assertEqual(sms.state, 'pending')
        self.assertEqual(self.acme.breaker_failure_count, 1)

    @mute_logger(CLIENT_LOGGER)
    def test_recipient_error_does_not_fail_over(self):
        self._route(self.acme, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            rsps.add(responses.POST, SEND_URL, json={'messages': [
                {'to': FR_NUMBER, 'status': 'invalid_number'}]})
            sms.send()
        self.assertRouterTrail(sms, [(self.acme, 'recipient_error')])
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.state, 'error')

    @mute_logger(CLIENT_LOGGER)
    def test_refused_credentials_fail_over_without_the_secret(self):
        self._route(self.acme, self.fallback)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            rsps.add(responses.POST, SEND_URL, status=401, json={'error': f'bad key {API_KEY}'})
            sms.send()
        attempts = self.assertRouterTrail(sms, [(self.acme, 'account_error'), (self.fallback, 'sent')])
        self.assertNotIn(API_KEY, attempts[0].reason)

    @mute_logger(CLIENT_LOGGER)
    def test_unmatched_answer_is_never_a_success_and_hides_secrets(self):
        self._route(self.acme)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, SEND_URL, json={'weird': f'echo {API_KEY} {self.acme.http_api_callback_token}'})
            sms.send()
        attempt = self._router_attempts(sms)
        self.assertFalse(attempt.accepted)
        self.assertIn('weird', attempt.reason, 'the raw answer is in the trail')
        for text in (attempt.reason, sms.sms_router_failure_reason or ''):
            self.assertNotIn(API_KEY, text)
            self.assertNotIn(self.acme.http_api_callback_token, text)
        self.assertNotEqual(sms.state, 'pending')

    def test_secrets_never_in_chatter(self):
        """Credentials are not tracked; the template's application is logged without them
        (test_router_audit checks every credential field of every provider the same way)."""
        self.assertFalse({'http_api_key', 'http_api_secret', 'http_api_username', 'http_api_callback_token'}
                         & self.env['sms.router.account']._track_get_fields())
        self.assertIn('http_api_url', self.env['sms.router.account']._track_get_fields())
        key = next(iter(template_keys()), None)
        values = {'http_api_key': 'AnotherKey-0123456789', 'http_api_secret': 'Secret-0123456789',
                  'http_api_username': 'acme-user'}
        if key:
            values['http_api_template'] = key
        self.acme.write(values)
        if key:
            self.acme.action_http_api_apply_template()
        # Tracking and notes wait for the commit.
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.invalidate_all()
        tracking = self.env['mail.tracking.value'].sudo().search([])
        texts = ' '.join(str(v) for v in tracking.mapped('old_value_char') + tracking.mapped('new_value_char'))
        texts += ' '.join(str(body) for body in self.env['mail.message'].sudo().search([]).mapped('body'))
        for secret in (API_KEY, 'AnotherKey-0123456789', 'Secret-0123456789', self.acme.http_api_callback_token):
            self.assertNotIn(secret, texts)

    # ------------------------------------------------------------ buttons

    def test_test_connection_reads_the_balance(self):
        with responses.RequestsMock() as rsps:
            rsps.add(responses.GET, BALANCE_URL, json={'balance': 42.5})
            action = self.acme.action_test_connection()
            self.assertEqual(rsps.calls[0].request.headers['X-API-Key'], API_KEY)
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn('42.5', action['params']['message'])
        self.assertEqual(self.acme.credit_balance, 42.5)
        self.assertTrue(self.acme.credit_supported)
        with responses.RequestsMock() as rsps:
            rsps.add(responses.GET, BALANCE_URL, status=401, json={'error': f'bad {API_KEY}'})
            with self.assertRaises(UserError) as caught:
                self.acme.action_refresh_credit()
        self.assertNotIn(API_KEY, str(caught.exception))

    def test_send_test_sms(self):
        wizard = self.env['sms.router.test.sms'].create({
            'account_id': self.acme.id, 'number': FR_NUMBER, 'body': 'Test'})
        with responses.RequestsMock() as rsps:
            self._accept(rsps, ids=['test-1'])
            action = wizard.action_send()
        self.assertEqual(action['params']['type'], 'success')
        self.assertIn('test-1', wizard.result)

    # ------------------------------------------------------------ delivery reports

    def _send_one(self, message_id='acme-77'):
        self._route(self.acme)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps:
            self._accept(rsps, ids=[message_id])
            sms.send()
        attempt = self.assertRouterTrail(sms, [(self.acme, 'sent')])
        self.assertEqual(attempt.delivery_state, 'pending')
        return sms, attempt

    @mute_logger(CONTROLLER_LOGGER)
    def test_report_with_the_right_token_marks_delivered(self):
        _sms, attempt = self._send_one()
        response = self.url_open(self._report_url(), json={'id': 'acme-77', 'status': 'delivered', 'to': FR_NUMBER})
        self.assertEqual(response.status_code, 200)
        attempt.invalidate_recordset()
        self.assertEqual(attempt.delivery_state, 'delivered')

    @mute_logger(CONTROLLER_LOGGER)
    def test_report_failed_and_interim(self):
        _sms, attempt = self._send_one()
        response = self.url_open(self._report_url(), json={'id': 'acme-77', 'status': 'accepted'})
        self.assertEqual(response.status_code, 200)
        attempt.invalidate_recordset()
        self.assertEqual(attempt.delivery_state, 'pending', 'an interim status changes nothing')
        response = self.url_open(self._report_url(), json={'id': 'acme-77', 'status': 'failed',
                                                            'error': 'absent subscriber'})
        self.assertEqual(response.status_code, 200)
        attempt.invalidate_recordset()
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertIn('absent subscriber', attempt.delivery_reason)

    @mute_logger(CONTROLLER_LOGGER)
    def test_report_with_a_broken_configuration_is_a_400(self):
        _sms, attempt = self._send_one()
        # A report mapping that is no JSON, written outside the form (SQL, a restored copy).
        self.env.cr.execute("UPDATE sms_router_account SET http_api_report = '{broken' WHERE id = %s",
                            [self.acme.id])
        self.acme.invalidate_recordset()
        response = self.url_open(self._report_url(), json={'id': 'acme-77', 'status': 'delivered'})
        self.assertEqual(response.status_code, 400)
        attempt.invalidate_recordset()
        self.assertEqual(attempt.delivery_state, 'pending')

    def test_access_log_hides_the_token(self):
        token = self.acme.http_api_callback_token
        record = logging.LogRecord('werkzeug', logging.INFO, __file__, 1, '"%s" %s %s', (
            f'POST /sms_router/http_api/report/{self.acme.id}/{token}?id=1 HTTP/1.1', '200', '-'), None)
        for log_filter in logging.getLogger('werkzeug').filters:
            log_filter.filter(record)
        self.assertNotIn(token, record.getMessage())
        self.assertIn(f'/sms_router/http_api/report/{self.acme.id}/***?id=1', record.getMessage())

    def test_reports_by_request_id_and_number_reach_each_sms(self):
        """A provider that answers one id for the request (batch id) reports each SMS by that id
        and its number: two SMS of one request to the same number get one report each."""
        Attempt = self.env['sms.router.attempt'].sudo()
        attempts = Attempt.create([{
            'sms_uuid': uuid, 'company_id': self.company_fr.id, 'account_id': self.acme.id,
            'account_name': self.acme.name, 'sms_provider': 'http_api', 'step': 1, 'outcome': 'sent',
            'accepted': True, 'final': True, 'number': FR_NUMBER, 'batch_id': 'batch-9',
            'delivery_state': 'pending',
        } for uuid in ('sms-first', 'sms-second')])
        other = Attempt.create({
            'sms_uuid': 'sms-other', 'company_id': self.company_fr.id, 'account_id': self.acme.id,
            'account_name': self.acme.name, 'sms_provider': 'http_api', 'step': 1, 'outcome': 'sent',
            'accepted': True, 'final': True, 'number': '+33699999999', 'batch_id': 'batch-9',
            'delivery_state': 'pending'})
        self.assertEqual(Attempt._sms_router_receive_report(self.acme, 'batch-9', True, number=FR_NUMBER), 'applied')
        self.assertEqual(Attempt._sms_router_receive_report(self.acme, 'batch-9', False, number=FR_NUMBER),
                         'applied')
        self.assertEqual(attempts.mapped('delivery_state'), ['delivered', 'undelivered'])
        self.assertEqual(other.delivery_state, 'pending', 'another number of the request is not touched')
        # A replay, once neither waits, changes nothing.
        self.assertEqual(Attempt._sms_router_receive_report(self.acme, 'batch-9', False, number=FR_NUMBER),
                         'unchanged')
        self.assertEqual(attempts.mapped('delivery_state'), ['delivered', 'undelivered'])

    @mute_logger(CONTROLLER_LOGGER)
    def test_report_with_a_wrong_token_is_refused(self):
        _sms, attempt = self._send_one()
        for url in (self._report_url(token='x' * 43), self._report_url(account=self.fallback, token='x' * 43),
                    f'/sms_router/http_api/report/999999/{self.acme.http_api_callback_token}'):
            response = self.url_open(url, json={'id': 'acme-77', 'status': 'delivered'})
            self.assertEqual((response.status_code, response.text), (REFUSAL_STATUS, REFUSAL_BODY))
        attempt.invalidate_recordset()
        self.assertEqual(attempt.delivery_state, 'pending')

    # ------------------------------------------------------------ neutralization

    def test_neutralize_clears_credentials_and_token(self):
        self.acme.write({'http_api_username': 'acme-user', 'http_api_secret': 'AcmeSecret-987654'})
        self.env.flush_all()
        before = self._router_account_row(self.acme)
        self._router_neutralize(['sms_router'])
        after = self._router_account_row(self.acme)
        changed = {column for column, value in before.items() if after[column] != value}
        self.assertEqual(changed, {'active', 'http_api_username', 'http_api_key', 'http_api_secret',
                                   'http_api_callback_token'})
        self.assertTrue(all(after[name] is None for name in changed - {'active'}))
        with self.assertRaisesRegex(ValidationError, 'fill in'):
            self.acme.active = True         # reactivated without credentials: refused
        self.env.cr.execute('UPDATE sms_router_account SET active = TRUE WHERE id = %s', [self.acme.id])
        self.acme.invalidate_recordset()
        self.assertTrue(self.acme.configuration_error, 'a copy reactivated outside the form cannot send')
        self.assertFalse(self.acme.delivery_report_url)
