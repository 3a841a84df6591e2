from odoo.tests import tagged

from ..engine.outcomes import Kind
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterSending(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls.company_fr.sms_router_iap_last_resort = False
        cls.route = cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='France',
                                      prefixes='+33')

    def test_first_healthy_account_sends(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: Kind.SENT, self.fallback: Kind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.failure_type)
        self.assertEqual(len(self.routerCalls(self.primary)), 1)
        self.assertFalse(self.routerCalls(self.fallback))
        attempts = self.assertRouterTrail(sms, [(self.primary, 'sent')])
        self.assertTrue(attempts.accepted)
        self.assertTrue(attempts.message_id)

    def test_provider_failure_fails_over(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: Kind.PROVIDER, self.fallback: Kind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (self.fallback, 'sent')])
