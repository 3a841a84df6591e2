import hashlib

import requests
import responses

from odoo import fields
from odoo.tests import tagged

from odoo.addons.sms_router.engine.outcomes import OutcomeKind
from .common import APP_SECRET, CONSUMER_KEY, JOBS_URL, SmsRouterOvhCase, job_answer


@tagged('post_install', '-at_install', 'sms_router', 'sms_router_ovh')
class TestOvhSending(SmsRouterOvhCase):

    # ------------------------------------------------------------ failover

    def test_failover_into_ovh(self):
        self._router_route(self.company_fr, self.primary | self.ovh, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}), self.mockOvhApi():
            self.addJob(payload=job_answer(['+33612345678'], ids=[4242]),
                        headers={'X-OVH-QUERYID': 'EU.ext-1.q1'})
            sms.send()
            self.assertEqual(len(self.jobCalls()), 1)
            request = self.jobCalls()[0].request
            payload = self.sentJson(self.jobCalls()[0])
        self.assertEqual(sms.state, 'pending')
        attempts = self.assertRouterTrail(
            sms, [(self.primary, 'provider_error'), (self.ovh, 'sent')])
        self.assertEqual(attempts[1].message_id, '4242')
        self.assertEqual(attempts[1].batch_id, '4242')
        self.assertEqual(attempts[1].sms_provider, 'ovh')
        self.assertEqual(attempts[1].delivery_state, 'pending')
        self.assertIn('EU.ext-1.q1', attempts[1].reason)
        self.assertEqual(payload['receivers'], ['+33612345678'])
        self.assertEqual(payload['sender'], 'ACME')
        # signed as OVH specifies, over the exact bytes sent
        timestamp = request.headers['X-Ovh-Timestamp']
        expected = '$1$' + hashlib.sha1('+'.join([
            APP_SECRET, CONSUMER_KEY, 'POST', JOBS_URL, request.body.decode(), timestamp,
        ]).encode()).hexdigest()
        self.assertEqual(request.headers['X-Ovh-Signature'], expected)
        self.assertEqual(request.headers['X-Ovh-Consumer'], CONSUMER_KEY)
        self.assertEqual(request.headers['X-Ovh-Application'], 'OvhAppKey')

    def test_failover_out_of_ovh(self):
        self._router_route(self.company_fr, self.ovh | self.fallback, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}), self.mockOvhApi():
            self.addJob(status=503, payload={'class': 'Server::ServiceUnavailable',
                                             'message': 'Service unavailable'},
                        headers={'X-OVH-QUERYID': 'EU.ext-2.q503'})
            sms.send()
        self.assertEqual(sms.state, 'pending')
        attempts = self.assertRouterTrail(
            sms, [(self.ovh, 'provider_error'), (self.fallback, 'sent')])
        self.assertIn('HTTP 503', attempts[0].reason)
        self.assertIn('query id EU.ext-2.q503', attempts[0].reason)
        self.assertEqual(self.ovh.breaker_failure_count, 1)

    def test_failover_out_of_ovh_to_iap_last_resort(self):
        self.company_fr.sms_router_iap_last_resort = True
        self._router_route(self.company_fr, self.ovh, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockSMSGateway(), self.mockOvhApi() as api:
            api.add(responses.POST, JOBS_URL, body=requests.exceptions.ConnectTimeout())
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertRouterTrail(
            sms, [(self.ovh, 'provider_error'), ('Odoo IAP (last resort)', 'sent')])
        self.assertEqual([sent['number'] for sent in self._sms], ['+33612345678'])

    # ------------------------------------------------------------ batching

    def test_same_body_goes_in_one_job_and_credit_is_decremented(self):
        self.ovh.write({'credit_balance': 100.0, 'credit_checked_at': fields.Datetime.now()})
        self._router_route(self.company_fr, self.ovh, prefixes='+33')
        numbers = ['+33612345678', '+33698765432']
        sms = self._router_sms(self.company_fr, numbers) | self._router_sms(
            self.company_fr, ['+33611111111'], body='Another body')
        with self.mockOvhApi():
            self.addJobEcho({'+33612345678': 501, '+33698765432': 502, '+33611111111': 601},
                            credits_per_receiver=1.5)
            sms.send()
            payloads = [self.sentJson(call) for call in self.jobCalls()]
        self.assertEqual(len(payloads), 2)
        by_body = {payload['message']: payload for payload in payloads}
        self.assertEqual(by_body['Your appointment is tomorrow at 10:00']['receivers'], numbers)
        self.assertEqual(by_body['Another body']['receivers'], ['+33611111111'])
        self.assertEqual(by_body['Another body']['sender'], 'ACME')
        self.assertTrue(all(state == 'pending' for state in sms.mapped('state')))
        attempts = self._router_attempts(sms)
        ids = {attempt.number: attempt.message_id for attempt in attempts}
        self.assertEqual(ids, {'+33612345678': '501', '+33698765432': '502', '+33611111111': '601'})
        self.assertEqual(set(attempts.mapped('batch_id')), {'501,502', '601'})
        # both jobs' credits are removed from the known balance
        self.assertAlmostEqual(self.ovh.credit_balance, 95.5)

    def test_credits_removed_leave_an_unknown_balance_unknown(self):
        self._router_route(self.company_fr, self.ovh, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockOvhApi():
            self.addJob(payload=job_answer(['+33612345678']))
            sms.send()
        self.assertFalse(self.ovh.credit_checked_at)
        self.assertEqual(self.ovh.credit_balance, 0.0)

    def test_job_options_from_the_account(self):
        self.writeAccount(self.ovh, {'ovh_sender_for_response': True, 'ovh_no_stop_clause': True,
                                     'ovh_validity_period': 30, 'ovh_tag': 'odoo'})
        self._router_route(self.company_fr, self.ovh, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockOvhApi():
            self.addJob(payload=job_answer(['+33612345678']))
            sms.send()
            payload = self.sentJson(self.jobCalls()[0])
        self.assertTrue(payload['senderForResponse'])
        self.assertNotIn('sender', payload)
        self.assertTrue(payload['noStopClause'])
        self.assertEqual(payload['validityPeriod'], 30)
        self.assertEqual(payload['tag'], 'odoo')

    # ------------------------------------------------------------ invalid receivers

    def test_invalid_receivers_fail_only_those_numbers(self):
        self._router_route(self.company_fr, self.ovh | self.fallback, prefixes='+33')
        good, bad = self._router_sms(self.company_fr, ['+33612345678', '+33698765432'])
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}), self.mockOvhApi():
            self.addJob(payload=job_answer(['+33612345678'], invalid=['0033698765432'], ids=[77]))
            (good | bad).send()
            self.assertEqual(len(self.jobCalls()), 1)
        self.assertEqual(good.state, 'pending')
        self.assertEqual(bad.state, 'error')
        self.assertEqual(bad.failure_type, 'sms_number_format')
        self.assertRouterTrail(good, [(self.ovh, 'sent')])
        # a recipient error is final: no failover to the next account
        self.assertRouterTrail(bad, [(self.ovh, 'recipient_error')])
        self.assertFalse(self.routerCalls(self.fallback))

    def test_only_invalid_receivers_sent_nothing(self):
        self._router_route(self.company_fr, self.ovh, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockOvhApi():
            self.addJob(payload=job_answer([], invalid=['+33612345678'], ids=[], credits=0))
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_number_format')
        attempts = self.assertRouterTrail(sms, [(self.ovh, 'recipient_error')])
        self.assertFalse(attempts.accepted)

    # ------------------------------------------------------------ error classes

    def _send_through_ovh_then_fallback(self, **job):
        self._router_route(self.company_fr, self.ovh | self.fallback, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}), self.mockOvhApi():
            self.addJob(**job)
            sms.send()
        self.assertEqual(sms.state, 'pending')
        return sms, self._router_attempts(sms)

    def test_credentials_refused_is_an_account_failure(self):
        sms, attempts = self._send_through_ovh_then_fallback(
            status=403,
            payload={'errorCode': 'INVALID_CREDENTIAL', 'message': 'This credential is not valid'},
            headers={'X-OVH-QUERYID': 'EU.q403'})
        self.assertEqual(attempts.mapped('outcome'), ['account_error', 'sent'])
        self.assertIn('This credential is not valid', attempts[0].reason)
        self.assertIn('EU.q403', attempts[0].reason)
        self.assertEqual(self.ovh.breaker_failure_count, 1)

    def test_bad_request_is_a_configuration_failure(self):
        sms, attempts = self._send_through_ovh_then_fallback(
            status=400,
            payload={'class': 'Client::BadRequest', 'message': 'Sender ACME does not exist'},
            headers={'X-OVH-QUERYID': 'EU.q400'})
        self.assertEqual(attempts.mapped('outcome'), ['misconfigured', 'sent'])
        self.assertIn('Sender ACME does not exist', attempts[0].reason)
        self.assertIn('EU.q400', attempts[0].reason)
        self.assertEqual(self.ovh.breaker_failure_count, 0)

    def test_rate_limit_is_a_provider_failure(self):
        sms, attempts = self._send_through_ovh_then_fallback(
            status=429, payload={'message': 'Too many requests'}, headers={'Retry-After': '30'})
        self.assertEqual(attempts.mapped('outcome'), ['provider_error', 'sent'])
        self.assertTrue(self.ovh.breaker_paused_until)

    def test_server_error_without_json_is_a_provider_failure(self):
        sms, attempts = self._send_through_ovh_then_fallback(
            status=502, body='<html>Bad gateway</html>')
        self.assertEqual(attempts.mapped('outcome'), ['provider_error', 'sent'])

    def test_broken_json_and_timeouts_fail_over(self):
        # The job may exist at OVH: "ambiguous", which fails over under the default
        # "at least once" policy and counts against the breaker like a provider failure.
        sms, attempts = self._send_through_ovh_then_fallback(body='{"ids": [1], "validRec')
        self.assertEqual(attempts.mapped('outcome'), ['ambiguous', 'sent'])
        self.assertIn('invalid JSON', attempts[0].reason)
        self.assertEqual(self.ovh.breaker_failure_count, 1)

    def test_read_timeout_fails_over(self):
        self._router_route(self.company_fr, self.ovh | self.fallback, prefixes='+33')
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}), self.mockOvhApi() as api:
            api.add(responses.POST, JOBS_URL, body=requests.exceptions.ReadTimeout())
            sms.send()
        self.assertRouterTrail(sms, [(self.ovh, 'ambiguous'), (self.fallback, 'sent')])

    def test_breaker_opens_after_repeated_account_failures(self):
        self.writeAccount(self.ovh, {'breaker_fail_max': 2})
        self._router_route(self.company_fr, self.ovh | self.fallback, prefixes='+33')
        error = {'errorCode': 'NOT_GRANTED_CALL', 'message': 'This call has not been granted'}
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}), self.mockOvhApi():
            for number in ('+33612345678', '+33698765432', '+33611111111'):
                self.addJob(status=403, payload=error)
                self._router_sms(self.company_fr, [number]).send()
            self.assertEqual(len(self.jobCalls()), 2)
        self.assertEqual(self.ovh.breaker_state, 'open')
        last = self._router_sms(self.company_fr, ['+33622222222'])
        with self.mockRouterClients({self.fallback: OutcomeKind.SENT}), self.mockOvhApi():
            last.send()
            self.assertFalse(self.jobCalls())
        self.assertRouterTrail(last, [(self.ovh, 'skipped'), (self.fallback, 'sent')])
