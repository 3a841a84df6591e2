import json
import logging

import requests
import responses

from odoo.tests import tagged

from odoo.addons.sms_router.engine.outcomes import OutcomeKind
from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import BE_NUMBER, CREDIT_URL, FR_NUMBER, SEND_URL, SweegoCase, accepted

CLIENT_LOGGER = 'odoo.addons.sms_router_sweego.tools.sweego_client'


def sent_body(call):
    return json.loads(call.request.body)


@tagged('post_install', '-at_install', 'sms_router_sweego')
@route_requests_through_responses
class TestSweegoSending(SweegoCase):

    def test_batch_goes_in_one_request_and_ids_come_back_per_number(self):
        sms = self._router_sms(self.company_fr, [FR_NUMBER, BE_NUMBER])
        with self.mockSweego() as mock, self.mockRouterClients({self.fallback: OutcomeKind.SENT}), \
                self.assertLogs(CLIENT_LOGGER, logging.INFO) as logs:
            # Sweego answers with its own number format and order.
            mock.add(responses.POST, SEND_URL, status=200, json=accepted(
                {BE_NUMBER: '03-uid-be', FR_NUMBER: '03-uid-fr'},
                transaction_id='tx-42', credit_left='19.84'))
            sms.send()

        self.assertEqual(len(mock.calls), 1, 'same body, same account: one request')
        request = mock.calls[0].request
        self.assertEqual(request.headers['Api-Key'], 'swg-odoo-test-key-3c9d1f')
        self.assertEqual(sent_body(mock.calls[0]), {
            'channel': 'sms',
            'provider': 'sweego',
            'campaign-type': 'transac',
            'recipients': [{'num': FR_NUMBER, 'region': 'FR'}, {'num': BE_NUMBER, 'region': 'BE'}],
            'message-txt': 'Your appointment is tomorrow at 10:00',
            'shorten-urls': False,
            'sender-id': 'ACME',
        })
        self.assertFalse(self.routerCalls(self.fallback))
        self.assertEqual(sms.mapped('state'), ['pending', 'pending'])
        by_number = {attempt.number: attempt for attempt in self._router_attempts(sms)}
        self.assertEqual(by_number[FR_NUMBER].message_id, '03-uid-fr')
        self.assertEqual(by_number[BE_NUMBER].message_id, '03-uid-be')
        self.assertEqual(set(self._router_attempts(sms).mapped('batch_id')), {'tx-42'})
        self.assertEqual(set(self._router_attempts(sms).mapped('delivery_state')), {'pending'})
        self.assertAlmostEqual(self.sweego.credit_balance, 19.84)
        self.assertTrue(self.sweego.credit_checked_at)
        self.assertTrue(any('transaction tx-42 accepted' in line for line in logs.output))
        self.assertTrue(any('swg_uid 03-uid-fr' in line for line in logs.output))
        self.assertFalse([line for line in logs.output if 'swg-odoo-test-key' in line],
                         'the key is never logged')

    def test_marketing_sms_use_the_market_campaign_type(self):
        transactional = self._router_sms(self.company_fr, [FR_NUMBER], body='Reminder')
        marketing = self._router_sms(self.company_fr, [BE_NUMBER], body='Sale!',
                                     sms_router_traffic='marketing')
        with self.mockSweego() as mock, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            mock.add(responses.POST, SEND_URL, status=200,
                     json=accepted({FR_NUMBER: '03-a', BE_NUMBER: '03-b'}))
            (transactional | marketing).send()
        bodies = [sent_body(call) for call in mock.calls]
        types = {body['message-txt']: body['campaign-type'] for body in bodies}
        self.assertEqual(types, {'Reminder': 'transac', 'Sale!': 'market'})

    def test_account_default_campaign_type_and_link_shortening(self):
        self._sweego_configure(self.sweego, sweego_campaign_type='market', sweego_shorten_urls=True)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with self.mockSweego() as mock:
            mock.add(responses.POST, SEND_URL, status=200, json=accepted({FR_NUMBER: '03-a'}))
            sms.send()
        body = sent_body(mock.calls[0])
        self.assertEqual(body['campaign-type'], 'market')
        self.assertIs(body['shorten-urls'], True)

    def test_outage_fails_over_to_the_next_account(self):
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with self.mockSweego() as mock, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            mock.add(responses.POST, SEND_URL, status=503, json={'detail': 'Service Unavailable'})
            sms.send()
        self.assertEqual(len(mock.calls), 1)
        self.assertEqual(sms.state, 'pending')
        attempts = self.assertRouterTrail(
            sms, [(self.sweego, 'provider_error'), (self.fallback, 'sent')])
        self.assertEqual(attempts[0].reason, 'Sweego: HTTP 503: Service Unavailable')
        self.assertEqual(len(self.routerCalls(self.fallback)), 1)
        self.sweego.invalidate_recordset()
        self.assertEqual(self.sweego.breaker_failure_count, 1, 'an outage counts for the breaker')

    def test_provider_and_account_failures_fail_over(self):
        self._sweego_configure(self.sweego, breaker_fail_max=50)
        cases = [
            ('429', dict(status=429, json={'detail': 'Too Many Requests'},
                         headers={'Retry-After': '1'}),
             'provider_error', 'Sweego: HTTP 429: Too Many Requests'),
            ('502 html', dict(status=502, body='<html>Bad gateway</html>'),
             'provider_error', 'Sweego: HTTP 502'),
            ('connect timeout', dict(body=requests.exceptions.ConnectTimeout()), 'provider_error',
             'Sweego: connection timed out (nothing was sent)'),
            ('read timeout', dict(body=requests.exceptions.ReadTimeout()), 'ambiguous',
             'Sweego: no answer within 10 s after the request was sent'),
            ('401', dict(status=401, json={'detail': 'Invalid or missing API key'}),
             'account_error', 'Sweego: HTTP 401: Invalid or missing API key'),
            ('403', dict(status=403, json={'detail': 'Forbidden'}),
             'account_error', 'Sweego: HTTP 403: Forbidden'),
            ('422 on the request', dict(status=422, json={'detail': [
                {'loc': ['body', 'sender-id'], 'msg': 'invalid value', 'type': 'value_error'}]}),
             'account_error', 'Sweego: HTTP 422: body.sender-id: invalid value'),
        ]
        for name, answer, outcome, reason in cases:
            with self.subTest(name), self.mockSweego() as mock, \
                    self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
                mock.add(responses.POST, SEND_URL, **answer)
                sms = self._router_sms(self.company_fr, [FR_NUMBER])
                sms.send()
                self.assertEqual(sms.state, 'pending')
                attempts = self.assertRouterTrail(
                    sms, [(self.sweego, outcome), (self.fallback, 'sent')])
                self.assertEqual(attempts[0].reason, reason)
                self.sweego.action_reset_breaker()

    def test_chain_ending_on_sweego_keeps_a_core_failure_type_and_sweego_reason(self):
        sweego_gb = self._sweego_account(self.company_gb, 'Sweego GB')
        self._router_route(self.company_gb, sweego_gb, name='GB default')
        cases = [
            (dict(status=503, json={'detail': 'Service Unavailable'}),
             'sms_server', 'HTTP 503: Service Unavailable'),
            (dict(status=401, json={'detail': 'Invalid or missing API key'}),
             'sms_acc', 'HTTP 401'),
            (dict(status=402, json={'detail': 'Insufficient SMS credits'}),
             'sms_credit', 'HTTP 402'),
        ]
        for answer, failure_type, reason in cases:
            with self.subTest(failure_type), self.mockSweego() as mock:
                mock.add(responses.POST, SEND_URL, **answer)
                sms = self._router_sms(self.company_gb, ['+447911123456'])
                sms.send()
                self.assertEqual(sms.state, 'error')
                self.assertEqual(sms.failure_type, failure_type)
                self.assertIn(reason, sms.sms_router_failure_reason)
                sweego_gb.action_reset_breaker()

    def test_invalid_recipient_stops_there_and_the_others_still_go(self):
        bad, good = self._router_sms(self.company_fr, ['+33699999999', FR_NUMBER])
        with self.mockSweego() as mock, self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            mock.add(responses.POST, SEND_URL, status=422, json={'detail': [{
                'loc': ['body', 'recipients', 0, 'num'], 'msg': 'value is not a valid phone number',
                'type': 'value_error.phone_number'}]})
            mock.add(responses.POST, SEND_URL, status=200, json=accepted({FR_NUMBER: '03-uid-fr'}))
            (bad | good).send()

        self.assertEqual(len(mock.calls), 2)
        self.assertEqual(sent_body(mock.calls[1])['recipients'],
                         [{'num': FR_NUMBER, 'region': 'FR'}])
        self.assertFalse(self.routerCalls(self.fallback), 'a recipient error never fails over')
        self.assertEqual(bad.state, 'error')
        self.assertEqual(bad.failure_type, 'sms_number_format')
        self.assertEqual(bad.sms_router_failure_reason,
                         'Sweego: HTTP 422: body.recipients.0.num: '
                         'value is not a valid phone number')
        self.assertRouterTrail(bad, [(self.sweego, 'recipient_error')])
        self.assertEqual(good.state, 'pending')
        good_attempt = self.assertRouterTrail(good, [(self.sweego, 'sent')])
        self.assertEqual(good_attempt.message_id, '03-uid-fr')
        self.sweego.invalidate_recordset()
        self.assertEqual(self.sweego.breaker_failure_count, 0,
                         'a bad number says nothing about Sweego')

    def test_missing_credentials_skip_the_account_without_any_request(self):
        incomplete = self._sweego_account(self.company_fr, 'Sweego incomplete',
                                          sweego_api_key=False)
        self.route.step_ids.filtered(lambda step: step.account_id == self.sweego).sequence = 5
        self.route.step_ids.filtered(lambda step: step.account_id == self.fallback).sequence = 6
        self.route.write({'step_ids': [(0, 0, {'account_id': incomplete.id, 'sequence': 0})]})
        self.assertEqual(incomplete.configuration_error, 'missing API key')
        no_uuid = self._sweego_account(self.company_fr, 'Sweego no UUID', sweego_client_uuid=False)
        self.assertEqual(no_uuid.configuration_error, 'missing client UUID')

        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with self.mockSweego(assert_all=False) as mock, \
                self.mockRouterClients({self.sweego: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            mock.add(responses.POST, SEND_URL, status=200, json=accepted({FR_NUMBER: '03-a'}))
            sms.send()
        self.assertFalse(mock.calls, 'no request without credentials')
        attempts = self.assertRouterTrail(sms, [
            (incomplete, 'misconfigured'),
            (self.sweego, 'provider_error'),
            (self.fallback, 'sent'),
        ])
        self.assertIn('missing API key', attempts[0].reason)
        self.assertEqual(incomplete.breaker_failure_count, 0, 'misconfiguration is not an outage')

    def test_low_credit_threshold_skips_the_account(self):
        self.sweego.write({'credit_balance': 4.5, 'credit_low_threshold': 10.0,
                           'credit_checked_at': '2026-01-01 10:00:00'})
        self.assertTrue(self.sweego.credit_low)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with self.mockSweego(assert_all=False) as mock, \
                self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            mock.add(responses.POST, SEND_URL, status=200, json=accepted({FR_NUMBER: '03-a'}))
            sms.send()
        self.assertFalse(mock.calls)
        attempts = self.assertRouterTrail(sms, [(self.sweego, 'skipped'), (self.fallback, 'sent')])
        self.assertIn('below the threshold', attempts[0].reason)
        with self.mockSweego() as mock:
            # Settings read the credit again when they open: still below the threshold.
            mock.add(responses.GET, CREDIT_URL, status=200, json={'type': 'sms', 'amount': '4.5'})
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            low = settings.sms_router_credit_account_ids.filtered('credit_low')
        self.assertEqual(low, self.sweego, 'the settings summary shows it low')

    def test_credit_left_below_threshold_after_a_batch_skips_the_next_one(self):
        self.sweego.credit_low_threshold = 10.0
        first = self._router_sms(self.company_fr, [FR_NUMBER])
        with self.mockSweego() as mock:
            mock.add(responses.POST, SEND_URL, status=200,
                     json=accepted({FR_NUMBER: '03-a'}, credit_left='9.95'))
            first.send()
        self.assertEqual(first.state, 'pending')
        self.assertTrue(self.sweego.credit_low)
        second = self._router_sms(self.company_fr, [FR_NUMBER])
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}):
            second.send()
        self.assertRouterTrail(second, [(self.sweego, 'skipped'), (self.fallback, 'sent')])

    def test_send_test_sms_goes_through_the_account(self):
        wizard = self.env['sms.router.test.sms'].create(
            {'account_id': self.sweego.id, 'number': '0612345678'})
        with self.mockSweego() as mock:
            mock.add(responses.POST, SEND_URL, status=200, json=accepted({FR_NUMBER: '03-test'}))
            action = wizard.action_send()
        self.assertEqual(sent_body(mock.calls[0])['recipients'],
                         [{'num': FR_NUMBER, 'region': 'FR'}])
        self.assertIn('03-test', action['params']['message'])

