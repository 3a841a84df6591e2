from odoo.tests import tagged

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterHandoff(SmsRouterCase):
    """"At most once" across a crash: the hand-off journal.

    A worker killed after handing SMS to a provider leaves committed hand-offs without the
    attempts of their dispatch (its transaction never committed). In test mode every
    cursor shares the test transaction, so the crash is simulated by writing such a
    hand-off directly; the drills (tests/drills) kill real workers.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls.company_fr.write({'sms_router_iap_last_resort': False,
                              'sms_router_timeout_policy': 'at_most_once'})
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, prefixes='+33')

    def _handoffs(self, sms):
        return self.env['sms.router.handoff'].search([('sms_uuid', 'in', sms.mapped('uuid'))])

    def _crashed_handoff(self, sms, account):
        self.env['sms.router.handoff'].sudo().create([{
            'dispatch_token': 'dead-worker-token', 'sms_uuid': one.uuid, 'account_id': account.id,
            'account_name': account.name, 'handed_at': '2026-11-23 10:00:00',
        } for one in sms])

    def test_each_provider_call_is_journaled_and_settled_by_its_attempts(self):
        sms = self._router_sms(self.company_fr, ['+33612345678', '+33698765432'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        handoffs = self._handoffs(sms)
        # One hand-off per SMS and account tried, all of one dispatch.
        self.assertEqual(sorted(handoffs.mapped('account_name')),
                         ['Fallback FR', 'Fallback FR', 'Primary FR', 'Primary FR'])
        self.assertEqual(len(set(handoffs.mapped('dispatch_token'))), 1)
        self.assertEqual(set(self._router_attempts(sms).mapped('dispatch_token')),
                         set(handoffs.mapped('dispatch_token')))
        self.assertFalse(self.env['sms.router.handoff']._interrupted(sms.mapped('uuid')))

    def test_interrupted_handoff_is_flagged_for_review_not_resent(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        self._crashed_handoff(sms, self.primary)
        self.assertEqual(list(self.env['sms.router.handoff']._interrupted(sms.mapped('uuid'))), [sms.uuid])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertFalse(self.router_calls, 'an SMS that may have left must not be sent again')
        self.assertEqual((sms.state, sms.failure_type), ('error', 'sms_server'))
        self.assertIn('Needs review', sms.sms_router_failure_reason)
        self.assertIn('Primary FR', sms.sms_router_failure_reason)
        attempt = self._router_attempts(sms)
        self.assertTrue(attempt.needs_review)
        self.assertEqual(attempt.outcome, 'ambiguous')
        # Recording the review attempt settles the hand-off: a deliberate resend goes out.
        self.assertFalse(self.env['sms.router.handoff']._interrupted(sms.mapped('uuid')))
        sms.action_set_outgoing()
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertEqual(len(self.routerCalls(self.primary)), 1)

    def test_at_least_once_journals_nothing(self):
        self.company_fr.sms_router_timeout_policy = 'at_least_once'
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        self._crashed_handoff(sms, self.primary)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        # At least once: the SMS is sent again, and no new hand-off is written.
        self.assertEqual(sms.state, 'pending')
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertEqual(self._handoffs(sms).mapped('dispatch_token'), ['dead-worker-token'])

    def test_gc_removes_settled_handoffs(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            sms.send()
        other = self._router_sms(self.company_fr, ['+33698765432'])
        self._crashed_handoff(other, self.primary)
        self.env['sms.router.handoff']._gc_settled_handoffs()
        self.assertFalse(self._handoffs(sms))
        self.assertEqual(len(self._handoffs(other)), 1, 'an unsettled recent hand-off is kept')
