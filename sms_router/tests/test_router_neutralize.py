from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged
from odoo.tools import SQL

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase

FR_NUMBER = '+33612345678'
GB_NUMBER = '+447911123456'


@tagged('post_install', '-at_install', 'sms_router')
class TestNeutralize(SmsRouterCase):
    """A neutralized copy of the database (``odoo-bin neutralize``) sends nothing through
    the router: no provider account, no Odoo IAP last resort."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acc_fr = cls._router_account(cls, cls.company_fr, 'Account FR')
        cls.backup_fr = cls._router_account(cls, cls.company_fr, 'Backup FR')
        cls.acc_gb = cls._router_account(cls, cls.company_gb, 'Account GB')
        cls._router_route(cls, cls.company_fr, cls.acc_fr | cls.backup_fr, name='All FR')
        cls._router_route(cls, cls.company_gb, cls.acc_gb, name='All GB')
        # On, so that the neutralization has to turn it off for IAP to stay out of reach.
        (cls.company_fr | cls.company_gb).sms_router_iap_last_resort = True

    def _rows(self, table):
        self.env.cr.execute(SQL('SELECT * FROM %s ORDER BY id', SQL.identifier(table)))
        return {row['id']: row for row in self.env.cr.dictfetchall()}

    def _run_queue(self):
        """Send the queue as the scheduled action does, on a cursor of its own (in tests it
        shares the test transaction); every account answers "sent" if it is ever asked."""
        self.env.flush_all()
        with self.mockSMSGateway(), self.mockRouterClients(
                {account: OutcomeKind.SENT for account in self.acc_fr | self.backup_fr | self.acc_gb}):
            self._router_process_queue()
            iap_calls = self._sms_api_contact_iap_mock.call_count
        self.env.invalidate_all()
        return iap_calls

    def test_accounts_inactive_and_last_resort_off_nothing_else_changed(self):
        self.assertTrue(list(get_neutralization_queries(['sms_router'])))
        other = self._router_account(self.env.company, 'Main company account')
        self.env.company.sms_router_iap_last_resort = True
        tables = ('sms_router_account', 'res_company', 'sms_router_route', 'sms_router_route_step')
        self.env.flush_all()
        before = {table: self._rows(table) for table in tables}

        self._router_neutralize(['sms_router'])

        Account = self.env['sms.router.account']
        self.assertFalse(Account.search([]), 'no active account is left')
        accounts = Account.with_context(active_test=False).search([])
        self.assertLessEqual(self.acc_fr | self.backup_fr | self.acc_gb | other, accounts)
        self.assertFalse(any(self.env['res.company'].search([]).mapped('sms_router_iap_last_resort')))
        changed = {}
        for table in tables:
            after = self._rows(table)
            self.assertEqual(set(after), set(before[table]), f'{table}: rows added or removed')
            columns = {column for row_id, row in before[table].items()
                       for column, value in row.items() if after[row_id][column] != value}
            if columns:
                changed[table] = columns
        self.assertEqual(changed, {'sms_router_account': {'active'},
                                   'res_company': {'sms_router_iap_last_resort'}})

        # `odoo-bin neutralize` may be run twice on the same copy.
        self._router_neutralize(['sms_router'])
        self.assertFalse(Account.search([]))

    def test_neutralized_queue_reaches_no_provider(self):
        self._clear_outgoing_sms()
        control = self._router_sms(self.company_fr, [FR_NUMBER], body='Before')
        self.assertEqual(self._run_queue(), 0)
        self.assertEqual(self.routerRecipients(self.acc_fr), [FR_NUMBER],
                         'before the neutralization, the mocks see what the router sends')
        self.assertEqual(control.state, 'pending')

        self._router_neutralize()
        sms = self._router_sms(self.company_fr, [FR_NUMBER], body='After') \
            | self._router_sms(self.company_gb, [GB_NUMBER], body='After')
        iap_calls = self._run_queue()

        self.assertEqual(self.router_calls, [], 'no provider account is called')
        self.assertEqual(iap_calls, 0, 'Odoo IAP is not called as last resort')
        for record in sms:
            # Not sent, not vanished: in error with the router's reason and its trail.
            self.assertEqual(record.state, 'error', record.number)
            self.assertEqual(record.failure_type, 'sms_acc', record.number)
            self.assertTrue(record.sms_router_failure_reason, record.number)
            attempts = self._router_attempts(record)
            self.assertEqual(attempts.mapped('outcome'), ['misconfigured'], record.number)
            self.assertFalse(attempts.account_id)
