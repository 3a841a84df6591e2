from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged
from odoo.tools import SQL

from ..engine.outcomes import OutcomeKind
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterRouting(SmsRouterCase):
    """Which chain an SMS takes, decided from Odoo records."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.company_gb.sms_router_iap_last_resort = False
        cls.acc_fr = cls._router_account(cls, cls.company_fr, 'France +33')
        cls.acc_fr_mobile = cls._router_account(cls, cls.company_fr, 'France mobiles +336')
        cls.acc_gp = cls._router_account(cls, cls.company_fr, 'Guadeloupe')
        cls.acc_default = cls._router_account(cls, cls.company_fr, 'World')
        cls.acc_marketing = cls._router_account(cls, cls.company_fr, 'France marketing')
        cls._router_route(cls, cls.company_fr, cls.acc_fr, name='France', prefixes='+33', sequence=10)
        cls._router_route(cls, cls.company_fr, cls.acc_fr_mobile, name='France mobiles',
                          prefixes='+336 +337', sequence=20)
        cls._router_route(cls, cls.company_fr, cls.acc_gp, name='Guadeloupe',
                          country_ids=[(6, 0, cls.env.ref('base.gp').ids)], sequence=30)
        cls._router_route(cls, cls.company_fr, cls.acc_marketing, name='France marketing',
                          prefixes='+33', traffic_type='marketing', sequence=40)
        cls._router_route(cls, cls.company_fr, cls.acc_default, name='Rest of the world', sequence=90)
        cls.accounts = cls.acc_fr | cls.acc_fr_mobile | cls.acc_gp | cls.acc_default | cls.acc_marketing

        cls.acc_gb = cls._router_account(cls, cls.company_gb, 'United Kingdom')
        cls.acc_je = cls._router_account(cls, cls.company_gb, 'Jersey')
        cls.acc_gb_fr = cls._router_account(cls, cls.company_gb, 'GB to France')
        cls._router_route(cls, cls.company_gb, cls.acc_gb, name='UK', prefixes='+44')
        cls._router_route(cls, cls.company_gb, cls.acc_je, name='Jersey',
                          country_ids=[(6, 0, cls.env.ref('base.je').ids)])
        cls._router_route(cls, cls.company_gb, cls.acc_gb_fr, name='France', prefixes='+33')
        cls.accounts |= cls.acc_gb | cls.acc_je | cls.acc_gb_fr

    def _send_and_check(self, company, number, account, expected_e164=None, **sms_values):
        sms = self._router_sms(company, [number], **sms_values)
        with self.mockRouterClients({acc: OutcomeKind.SENT for acc in self.accounts}):
            sms.send()
        self.assertEqual(sms.state, 'pending', sms.sms_router_failure_reason)
        self.assertEqual(len(self.router_calls), 1)
        self.assertEqual(self.routerRecipients(account), [expected_e164 or number],
                         f'{number} should go through {account.name}')
        self.assertRouterTrail(sms, [(account, 'sent')])
        return sms

    def test_longest_prefix_wins(self):
        self._send_and_check(self.company_fr, '+33612345678', self.acc_fr_mobile)
        self._send_and_check(self.company_fr, '+33756123456', self.acc_fr_mobile)
        # A Paris landline only matches +33.
        self._send_and_check(self.company_fr, '+33142685300', self.acc_fr)

    def test_country_route(self):
        # Guadeloupe mobiles dial +590: the number's region decides.
        self._send_and_check(self.company_fr, '+590690123456', self.acc_gp)

    def test_country_beats_bare_calling_code(self):
        # Jersey numbers dial +44 but are JE: the country route is more specific.
        self._send_and_check(self.company_gb, '+447797123456', self.acc_je)
        self._send_and_check(self.company_gb, '+447400123456', self.acc_gb)

    def test_default_route(self):
        self._send_and_check(self.company_fr, '+4915123456789', self.acc_default)

    def test_marketing_route(self):
        self._send_and_check(self.company_fr, '+33142685300', self.acc_marketing,
                             sms_router_traffic='marketing')
        # More specific prefixes for all traffic still win over the marketing +33 route.
        self._send_and_check(self.company_fr, '+33612345678', self.acc_fr_mobile,
                             sms_router_traffic='marketing')
        # Transactional SMS never take the marketing-only route.
        self._send_and_check(self.company_fr, '+33142685300', self.acc_fr)

    def test_national_number_partner_country_first(self):
        partner = self.env['res.partner'].create({
            'name': 'Louis Bernard', 'country_id': self.env.ref('base.fr').id})
        # A GB company sends to a French patient whose number is written nationally.
        self._send_and_check(self.company_gb, '06 12 34 56 78', self.acc_gb_fr, '+33612345678',
                             partner_id=partner.id)

    def test_national_number_company_country(self):
        partner = self.env['res.partner'].create({'name': 'No country'})
        self._send_and_check(self.company_gb, '07911 123456', self.acc_gb, '+447911123456',
                             partner_id=partner.id)
        self._send_and_check(self.company_fr, '01 42 68 53 00', self.acc_fr, '+33142685300')

    def test_unparseable_number(self):
        sms = self._router_sms(self.company_fr, ['not a number'])
        sms |= self._router_sms(self.company_fr, ['+3361234'])
        with self.mockRouterClients({acc: OutcomeKind.SENT for acc in self.accounts}):
            sms.send()
        self.assertFalse(self.router_calls, 'no provider is called for an unreadable number')
        for one in sms:
            self.assertEqual(one.state, 'error')
            self.assertEqual(one.failure_type, 'sms_number_format')
            attempts = self._router_attempts(one)
            self.assertEqual(len(attempts), 1)
            self.assertEqual(attempts.outcome, 'recipient_error')
            self.assertFalse(attempts.account_id)
            self.assertTrue(attempts.final)
            self.assertIn(one.number, attempts.reason)
            self.assertEqual(attempts.number, one.number)
            self.assertEqual(one.sms_router_failure_reason, attempts.reason)

    def test_national_number_without_any_country(self):
        company = self.env['res.company'].create({'name': 'Router nowhere'})
        account = self._router_account(company, 'Nowhere')
        self._router_route(company, account, name='Default')
        sms = self._router_sms(company, ['0612345678'])
        with self.mockRouterClients({account: OutcomeKind.SENT}):
            sms.send()
        self.assertFalse(self.router_calls)
        self.assertEqual(sms.failure_type, 'sms_number_format')
        self.assertIn('no country known', self._router_attempts(sms).reason)

    def test_inactive_account_left_out_of_chain(self):
        # Archiving or deleting the last active account of an active route is refused...
        with self.assertRaises(ValidationError):
            self.acc_fr_mobile.active = False
        with self.assertRaises(ValidationError):
            self.acc_fr_mobile.unlink()
        # ...but one archived behind the ORM's back (SQL, a neutralized copy) is left out
        # at send time, and the SMS fails with the reason.
        self.env.cr.execute(SQL('UPDATE sms_router_account SET active = false WHERE id = %s', self.acc_fr_mobile.id))
        self.env.invalidate_all()
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({acc: OutcomeKind.SENT for acc in self.accounts}):
            sms.send()
        self.assertEqual(sms.state, 'error')
        self.assertFalse(self.router_calls)
        self.assertEqual(self._router_attempts(sms).outcome, 'misconfigured')

    def test_route_prefix_validation(self):
        with self.assertRaises(ValidationError):
            self._router_route(self.company_fr, self.acc_fr, name='Bad', prefixes='33 6')
        route = self._router_route(self.company_fr, self.acc_fr, name='Good', prefixes='+336, 00337')
        self.assertFalse(route.is_default)
        self.assertEqual(route.chain_summary, 'France +33')

    def test_one_default_route_per_traffic(self):
        """A second default route for the same company and traffic is refused, naming the
        route that already is the default; other traffic, companies and archives are not
        in the way."""
        world = self.env['sms.router.route'].search([('name', '=', 'Rest of the world')])
        for values in ({}, {'prefixes': ' , '}, {'traffic_type': 'all', 'country_ids': [(6, 0, [])]}):
            with self.subTest(values=values), self.assertRaises(ValidationError) as caught:
                self._router_route(self.company_fr, self.acc_fr, name='Second default', **values)
            self.assertIn('Rest of the world', str(caught.exception))
            self.assertIn('Router FR', str(caught.exception))
        # Another traffic type is a default of its own, once.
        transactional = self._router_route(self.company_fr, self.acc_fr, name='Transactional default',
                                           traffic_type='transactional')
        self.assertTrue(transactional.is_default)
        with self.assertRaises(ValidationError) as caught:
            self._router_route(self.company_fr, self.acc_fr, name='Transactional again',
                               traffic_type='transactional')
        self.assertIn('Transactional default', str(caught.exception))
        with self.assertRaises(ValidationError):
            transactional.traffic_type = 'all'
        # Another company has its own default.
        self.assertTrue(self._router_route(self.company_gb, self.acc_gb, name='GB default').is_default)
        # A route that loses its prefixes becomes a default, too.
        france = self.env['sms.router.route'].search([('name', '=', 'France'),
                                                      ('company_id', '=', self.company_fr.id)])
        with self.assertRaises(ValidationError):
            france.prefixes = False
        # Archived routes do not count, and are checked again when restored.
        archived = self._router_route(self.company_fr, self.acc_fr, name='Old default', active=False)
        world.active = False
        replacement = self._router_route(self.company_fr, self.acc_fr, name='New default')
        self.assertTrue(replacement.is_default)
        with self.assertRaises(ValidationError) as caught:
            world.active = True
        self.assertIn('New default', str(caught.exception))
        with self.assertRaises(ValidationError):
            archived.active = True

    def test_active_route_needs_a_chain(self):
        """A route without an active account in its chain would match its destinations and
        fail every SMS without trying a provider: it is refused while active."""
        Route = self.env['sms.router.route']
        with self.assertRaises(ValidationError) as caught:
            Route.create({'name': 'Empty', 'company_id': self.company_fr.id, 'prefixes': '+34'})
        self.assertIn('Empty', str(caught.exception))
        retired = self._router_account(self.company_fr, 'Retired', active=False)
        with self.assertRaises(ValidationError):
            self._router_route(self.company_fr, retired, name='Only archived', prefixes='+34')
        # An archived route may be empty, until it is restored.
        parked = Route.create({'name': 'Parked', 'company_id': self.company_fr.id, 'prefixes': '+34',
                               'active': False})
        with self.assertRaises(ValidationError):
            parked.active = True

        route = self._router_route(self.company_fr, self.acc_fr, name='Spain', prefixes='+34')
        step = route.step_ids
        with self.assertRaises(ValidationError):
            step.unlink()
        with self.assertRaises(ValidationError):
            route.write({'step_ids': [(5, 0, 0)]})
        with self.assertRaises(ValidationError):
            route.write({'step_ids': [(2, step.id)]})
        with self.assertRaises(ValidationError):
            step.account_id = retired
        with self.assertRaises(ValidationError):
            step.route_id = parked
        # Replacing the only step in one save is fine, although the old step is deleted
        # before the new one is created.
        route.write({'step_ids': [(2, step.id), (0, 0, {'account_id': self.acc_default.id})]})
        self.assertEqual(route.step_ids.account_id, self.acc_default)
        # With a second active account, one step may go.
        route.write({'step_ids': [(0, 0, {'account_id': self.acc_fr.id, 'sequence': 20})]})
        route.step_ids.filtered(lambda s: s.account_id == self.acc_default).unlink()
        self.assertEqual(route.step_ids.account_id, self.acc_fr)
        # The form refuses to save a chain emptied by hand.
        with self.assertRaises(ValidationError), Form(route) as form:
            form.step_ids.remove(0)
        # Archived, the route may lose its chain.
        route.active = False
        route.step_ids.unlink()
        self.assertFalse(route.step_ids)
