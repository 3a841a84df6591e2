from odoo.tests import tagged

from ..engine.outcomes import BatchResult, OutcomeKind, RecipientOutcome
from ..tools.sms_api import SmsRouterApi
from .common import ScriptedClient, SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterSending(SmsRouterCase):
    """Failover along one chain, with scripted providers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls.company_fr.sms_router_iap_last_resort = False
        cls.route = cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='France',
                                      prefixes='+33')
        cls.partner_fr = cls.env['res.partner'].create({
            'name': 'Camille Martin', 'phone': '+33 6 12 34 56 78',
            'country_id': cls.env.ref('base.fr').id, 'company_id': cls.company_fr.id,
        })

    def test_first_healthy_account_sends(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.failure_type)
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertFalse(self.routerCalls(self.fallback))
        attempts = self.assertRouterTrail(sms, [(self.primary, 'sent')])
        self.assertTrue(attempts.accepted)
        self.assertTrue(attempts.final)
        self.assertTrue(attempts.message_id)
        self.assertEqual(attempts.account_id, self.primary)
        self.assertEqual(attempts.number, '+33612345678')
        self.assertEqual(attempts.company_id, self.company_fr)
        self.assertEqual(attempts.delivery_state, 'pending')

    def test_provider_failure_fails_over(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.failure_type)
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'sent')])
        self.assertEqual(attempts.mapped('step'), [1, 2])
        self.assertEqual(attempts.mapped('final'), [False, True])
        self.assertIn('scripted provider_error', attempts[0].reason)
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertEqual(len(self.routerCalls(self.fallback)), 1)

    def test_account_error_fails_over(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.ACCOUNT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertRouterTrail(sms, [(self.primary, 'account_error'), (self.fallback, 'sent')])

    def test_recipient_error_stops(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.RECIPIENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_number_format')
        self.assertIn('scripted recipient_error', sms.sms_router_failure_reason)
        self.assertFalse(self.routerCalls(self.fallback), 'a recipient error must not be retried elsewhere')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'recipient_error')])
        self.assertTrue(attempts.final)
        self.assertFalse(attempts.accepted)

    def test_opted_out_stops_and_blacklists(self):
        sms = self._router_sms(self.company_fr, ['+33 6 12 34 56 78'])
        with self.mockRouterClients({self.primary: OutcomeKind.OPTED_OUT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_optout')
        self.assertFalse(self.routerCalls(self.fallback), 'failing over would evade the opt-out')
        self.assertRouterTrail(sms, [(self.primary, 'opted_out')])
        blacklist = self.env['phone.blacklist'].search([('number', '=', '+33612345678')])
        self.assertTrue(blacklist.active)

    def test_opted_out_from_chatter_notification(self):
        """The opt-out failure type is not known by mail.notification: the flow must not
        crash and the notification keeps the provider's reason."""
        with self.mockRouterClients({self.primary: OutcomeKind.OPTED_OUT, self.fallback: OutcomeKind.SENT}):
            message = self.partner_fr._message_sms('Your appointment is confirmed')
        sms = self.env['sms.sms'].search([('mail_message_id', '=', message.id)])
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_optout')
        notification = message.notification_ids.filtered(lambda n: n.notification_type == 'sms')
        self.assertEqual(notification.notification_status, 'exception')
        self.assertIn(notification.failure_type, ('unknown', False))
        self.assertIn('scripted opted_out', notification.failure_reason)
        self.assertTrue(self.env['phone.blacklist'].search([('number', '=', '+33612345678')]))
        self.assertFalse(self.routerCalls(self.fallback))

    def test_destination_unsupported_fails_over(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.DESTINATION, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertRouterTrail(sms, [(self.primary, 'destination_unsupported'), (self.fallback, 'sent')])
        # The account is healthy: it does not count against its breaker.
        self.primary.invalidate_recordset()
        self.assertEqual(self.primary.breaker_failure_count, 0)

    def test_misconfigured_account_skipped_without_call(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        broken = ScriptedClient(self.primary.name, OutcomeKind.SENT, configuration_error='no API key')
        with self.mockRouterClients({self.primary: broken, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(self.routerCalls(self.primary), 'a misconfigured account must not be called')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'misconfigured'), (self.fallback, 'sent')])
        self.assertIn('no API key', attempts[0].reason)
        self.assertEqual(attempts[0].duration_ms, 0)

    def test_exhausted_chain(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.DESTINATION}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        # The failure type is the last real attempt's, not a generic server error.
        self.assertEqual(sms.failure_type, 'sms_country_not_supported')
        reason = sms.sms_router_failure_reason
        self.assertIn('all 2 attempts failed', reason)
        first = reason.index('1. Primary FR: provider error')
        second = reason.index('2. Fallback FR: destination not supported')
        self.assertLess(first, second)
        attempts = self.assertRouterTrail(sms, [(self.primary, 'provider_error'),
                                                (self.fallback, 'destination_unsupported')])
        self.assertEqual(attempts.mapped('final'), [False, True])
        self.assertFalse(any(attempts.mapped('accepted')))

    def test_exhausted_chain_skips_do_not_decide(self):
        """A skipped account after the real attempts does not hide their failure type."""
        third = self._router_account(self.company_fr, 'Low credit FR', credit_balance=1.0,
                                     credit_low_threshold=10.0, credit_checked_at='2020-01-01 00:00:00')
        self.env['sms.router.route.step'].create({'route_id': self.route.id, 'account_id': third.id, 'sequence': 99})
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT,
                                     third: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_acc')
        self.assertFalse(self.routerCalls(third))
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'account_error'),
                                     (third, 'skipped')])
        self.assertIn('3. Low credit FR: skipped: credit 1.00 below the threshold 10.00',
                      sms.sms_router_failure_reason)

    def test_exhausted_chain_chatter_notification(self):
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}):
            message = self.partner_fr.with_company(self.company_gb)._message_sms('Your results are ready')
        sms = self.env['sms.sms'].search([('mail_message_id', '=', message.id)])
        self.assertEqual(sms.partner_id, self.partner_fr)
        self.assertEqual(sms.sms_router_company_id, self.company_fr)
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_acc')
        notification = message.notification_ids.filtered(lambda n: n.notification_type == 'sms')
        self.assertEqual(notification.notification_status, 'exception')
        self.assertEqual(notification.failure_type, 'sms_acc')
        self.assertIn('1. Primary FR: provider error', notification.failure_reason)
        self.assertIn('2. Fallback FR: account error', notification.failure_reason)
        self.assertEqual(notification.failure_reason, sms.sms_router_failure_reason)

    def test_no_route_for_destination(self):
        """A routed company without a route for the number and without the IAP last resort."""
        sms = self._router_sms(self.company_fr, ['+447911123456'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_acc')
        self.assertFalse(self.router_calls)
        attempts = self._router_attempts(sms)
        self.assertEqual(len(attempts), 1)
        self.assertFalse(attempts.account_id)
        self.assertEqual(attempts.outcome, 'misconfigured')
        self.assertIn('no provider account', attempts.reason)

    def test_ambiguous_at_most_once_stops(self):
        self.company_fr.sms_router_timeout_policy = 'at_most_once'
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.AMBIGUOUS, self.fallback: OutcomeKind.SENT}), \
                self.assertNoLogs('odoo.tools.translate', 'WARNING'):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_server')
        self.assertFalse(self.routerCalls(self.fallback), 'the SMS may have been sent: no second try')
        self.assertIn('Needs review', sms.sms_router_failure_reason)
        attempts = self.assertRouterTrail(sms, [(self.primary, 'ambiguous')])
        self.assertTrue(attempts.needs_review)
        self.assertTrue(attempts.final)

    def test_ambiguous_at_least_once_fails_over(self):
        self.company_fr.sms_router_timeout_policy = 'at_least_once'
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.AMBIGUOUS, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        attempts = self.assertRouterTrail(sms, [(self.primary, 'ambiguous'), (self.fallback, 'sent')])
        self.assertFalse(any(attempts.mapped('needs_review')))

    def test_resend_after_failure_clears_reason(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            sms.send(unlink_sent=False)
        self.assertEqual(sms.state, 'error')
        self.assertTrue(sms.sms_router_failure_reason)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.resend_failed()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.failure_type)
        self.assertFalse(sms.sms_router_failure_reason, 'a sent SMS shows no failure')
        self.assertEqual(self._router_attempts(sms).mapped('outcome'), ['provider_error', 'provider_error', 'sent'])

    def test_per_recipient_outcomes(self):
        """One request, several recipients, each with its own fate."""
        numbers = ['+33612345601', '+33612345602', '+33612345603']
        sms = self._router_sms(self.company_fr, numbers)
        behaviour = {'+33612345602': OutcomeKind.PROVIDER, '+33612345603': OutcomeKind.RECIPIENT}
        with self.mockRouterClients({self.primary: behaviour, self.fallback: OutcomeKind.SENT}):
            sms.send()
        by_number = {s.number: s for s in sms}
        self.assertEqual(by_number['+33612345601'].state, 'pending')
        self.assertEqual(by_number['+33612345602'].state, 'pending')
        self.assertEqual(by_number['+33612345603'].state, 'error')
        self.assertEqual(by_number['+33612345603'].failure_type, 'sms_number_format')
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertEqual(self.routerRecipients(self.fallback), ['+33612345602'])
        self.assertRouterTrail(by_number['+33612345602'], [(self.primary, 'provider_error'), (self.fallback, 'sent')])


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterFailureReasons(SmsRouterCase):
    """Odoo updates its SMS, trackers and notifications once per distinct (state, reason)
    of a batch, scanning the whole batch each time: per-SMS reasons would make a failed
    batch cost one pass per SMS. Odoo gets one reason per failure type; each SMS, its
    notification and mailing trace still get their own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls._router_route(cls, cls.company_fr, cls.primary, name='Default FR')

    @staticmethod
    def _fail_with_the_number(request):
        return BatchResult({r.key: RecipientOutcome(OutcomeKind.RECIPIENT, f'refused {r.number}')
                            for r in request.recipients})

    def test_odoo_gets_one_reason_per_failure_type(self):
        sms = self._router_sms(self.company_fr, ['+33612345678', '+33612345679'])
        api = SmsRouterApi(self.env)
        api._set_company(self.company_fr)
        messages = [{'content': sms[0].body, 'numbers': [{'uuid': one.uuid, 'number': one.number} for one in sms]}]
        with self.mockRouterClients({self.primary: self._fail_with_the_number}):
            results = api._send_sms_batch(messages)
        self.assertEqual(len({result['failure_reason'] for result in results}), 1)
        self.assertEqual({result['router_reason'] for result in results},
                         {'refused +33612345678', 'refused +33612345679'})

    def test_each_sms_and_notification_keeps_its_own_reason(self):
        partners = self.env['res.partner'].create([
            {'name': f'Customer {n}', 'phone': f'+3361234567{n}', 'company_id': self.company_fr.id}
            for n in range(2)])
        with self.mockRouterClients({self.primary: self._fail_with_the_number}):
            for partner in partners:
                partner._message_sms('Hello', partner_ids=partner.ids)
            self.env['sms.sms'].search([('state', '=', 'outgoing')]).send()
        for partner in partners:
            sms = self.env['sms.sms'].search([('partner_id', '=', partner.id)])
            self.assertEqual(sms.state, 'error')
            self.assertIn(f'refused {partner.phone}', sms.sms_router_failure_reason)
            notification = self.env['mail.notification'].search([('sms_id_int', '=', sms.id)])
            self.assertEqual(notification.notification_status, 'exception')
            self.assertEqual(notification.failure_reason, sms.sms_router_failure_reason)
