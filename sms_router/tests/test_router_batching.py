from odoo.tests import tagged

from ..engine.outcomes import OutcomeKind
from .common import ScriptedClient, SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterBatching(SmsRouterCase):
    """SMS sharing a body and an account go out in as few provider calls as allowed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Bulk FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Bulk FR backup')
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default')
        cls.numbers = ['+33612345601', '+33612345602', '+33612345603', '+33612345604', '+33612345605']

    def test_same_body_one_request(self):
        sms = self._router_sms(self.company_fr, self.numbers[:3], body='Reminder: tomorrow 10:00')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        calls = self.routerCalls(self.primary)
        self.assertEqual(len(calls), 1, 'one body, one account: one request')
        self.assertEqual(calls[0].body, 'Reminder: tomorrow 10:00')
        self.assertEqual(sorted(r.number for r in calls[0].recipients), self.numbers[:3])
        self.assertEqual({r.key for r in calls[0].recipients}, set(sms.mapped('uuid')))
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        # Each SMS keeps its own provider message id.
        attempts = self._router_attempts(sms)
        self.assertEqual(len(set(attempts.mapped('message_id'))), 3)

    def test_max_recipients_splits_requests(self):
        sms = self._router_sms(self.company_fr, self.numbers, body='Same body')
        client = ScriptedClient(self.primary.name, OutcomeKind.SENT, max_recipients=2)
        with self.mockRouterClients({self.primary: client}):
            sms.send()
        calls = self.routerCalls(self.primary)
        self.assertEqual(sorted(len(call.recipients) for call in calls), [1, 2, 2])
        self.assertEqual(sorted(self.routerRecipients(self.primary)), self.numbers)
        self.assertEqual(set(sms.mapped('state')), {'pending'})

    def test_different_bodies_separate_requests(self):
        sms = self._router_sms(self.company_fr, self.numbers[:2], body='First body')
        sms |= self._router_sms(self.company_fr, self.numbers[2:4], body='Second body')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        calls = self.routerCalls(self.primary)
        self.assertEqual(len(calls), 2)
        by_body = {call.body: sorted(r.number for r in call.recipients) for call in calls}
        self.assertEqual(by_body, {'First body': self.numbers[:2], 'Second body': self.numbers[2:4]})

    def test_failover_regroups_on_next_account(self):
        """Recipients failing on the first account travel together to the next one."""
        sms = self._router_sms(self.company_fr, self.numbers[:4], body='Regrouped')
        behaviour = {self.numbers[0]: OutcomeKind.PROVIDER, self.numbers[2]: OutcomeKind.PROVIDER}
        with self.mockRouterClients({self.primary: behaviour, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        fallback_calls = self.routerCalls(self.fallback)
        self.assertEqual(len(fallback_calls), 1)
        self.assertEqual(sorted(r.number for r in fallback_calls[0].recipients),
                         [self.numbers[0], self.numbers[2]])
        self.assertEqual(set(sms.mapped('state')), {'pending'})

    def test_marketing_and_transactional_not_mixed(self):
        sms = self._router_sms(self.company_fr, self.numbers[:2], body='Same text')
        sms |= self._router_sms(self.company_fr, self.numbers[2:4], body='Same text',
                                sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        calls = self.routerCalls(self.primary)
        self.assertEqual(len(calls), 2)
        self.assertEqual({call.marketing: sorted(r.number for r in call.recipients) for call in calls},
                         {False: self.numbers[:2], True: self.numbers[2:4]})
