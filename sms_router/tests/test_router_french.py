from odoo.tests import tagged

from ..engine.outcomes import BatchResult, OutcomeKind
from ..engine.reasons import _lt
from .common import SmsRouterCase

FR_MOBILE = '+33612345678'
REFUSED = 'connexion refusée ou hôte injoignable'
FORCED = 'disjoncteur forcé ouvert (maintenance)'


def _refused(request):
    """A provider that cannot be reached: the engine's own (translatable) reason."""
    return BatchResult.for_all(request, OutcomeKind.PROVIDER, _lt('connection refused or host unreachable'))


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterFrench(SmsRouterCase):
    """Reasons are written in the sending company's language, whoever sends; the route
    tester speaks its reader's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env['res.lang']._activate_lang('fr_FR')
        # Labels (fields, selections) come from the database: load the French terms of the
        # router and of Odoo's sms; reasons written in Python read sms_router/i18n/fr.po.
        cls.env['ir.module.module'].search([('name', 'in', ('sms', 'sms_router'))])._update_translations('fr_FR')
        cls.company_fr.partner_id.lang = 'fr_FR'
        cls.company_fr.sms_router_iap_last_resort = False
        cls.company_gb.sms_router_iap_last_resort = False
        cls.down_fr = cls._router_account(cls, cls.company_fr, 'Sweego FR', breaker_fail_max=1)
        cls.forced_fr = cls._router_account(cls, cls.company_fr, 'OVH FR')
        cls._router_route(cls, cls.company_fr, cls.down_fr | cls.forced_fr, name='France')
        cls.down_gb = cls._router_account(cls, cls.company_gb, 'Sweego GB', breaker_fail_max=1)
        cls.forced_gb = cls._router_account(cls, cls.company_gb, 'OVH GB')
        cls._router_route(cls, cls.company_gb, cls.down_gb | cls.forced_gb, name='World')
        (cls.forced_fr | cls.forced_gb)._sms_router_force_open('Maintenance')

    def _send_failing(self, company, down, forced):
        sms = self._router_sms(company, [FR_MOBILE])
        with self.mockRouterClients({down: _refused, forced: OutcomeKind.SENT}):
            sms.with_context(lang='en_US').send()     # sent by an English-speaking user
        self.assertEqual(sms.state, 'error')
        self.assertFalse(self.router_calls[1:], 'only the reachable account was called')
        return sms

    def test_failed_sms_of_a_french_company_reads_french(self):
        sms = self._send_failing(self.company_fr, self.down_fr, self.forced_fr)
        attempts = self.assertRouterTrail(sms, [(self.down_fr, 'provider_error'), (self.forced_fr, 'skipped')])
        self.assertEqual(attempts.mapped('reason'), [REFUSED, FORCED])
        self.assertEqual(
            sms.sms_router_failure_reason,
            f'les 2 tentatives ont échoué : 1. Sweego FR : erreur du fournisseur : {REFUSED} ; '
            f'2. OVH FR : ignoré : {FORCED}')
        self.assertEqual(sms.failure_type, 'sms_server')
        # The breaker that opened keeps its failure, and says so on the account's chatter, in French.
        self.down_fr.invalidate_recordset()
        self.assertEqual(self.down_fr.breaker_last_failure, REFUSED)
        note = self.down_fr.message_ids.filtered(lambda message: 'Disjoncteur ouvert' in (message.body or ''))
        self.assertEqual(len(note), 1)
        self.assertIn(f'Disjoncteur ouvert après 1 échecs consécutifs (dernier : {REFUSED})', note.body)

    def test_held_sms_of_a_french_company_says_why_in_french(self):
        self.company_fr.sms_router_max_hold_hours = 4
        sms = self._router_sms(self.company_fr, [FR_MOBILE])
        with self.mockRouterClients({self.down_fr: _refused, self.forced_fr: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'outgoing')
        self.assertTrue(sms.sms_router_hold_reason.startswith("En attente d'un fournisseur jusqu'au "),
                        sms.sms_router_hold_reason)
        self.assertIn(f'UTC : les 2 tentatives ont échoué : 1. Sweego FR : erreur du fournisseur : {REFUSED}',
                      sms.sms_router_hold_reason)

    def test_an_english_company_keeps_english_reasons(self):
        sms = self._router_sms(self.company_gb, [FR_MOBILE])
        with self.mockRouterClients({self.down_gb: _refused, self.forced_gb: OutcomeKind.SENT}):
            sms.with_context(lang='fr_FR').send()     # sent by a French-speaking user
        self.assertEqual(sms.sms_router_failure_reason, (
            'all 2 attempts failed: 1. Sweego GB: provider error: connection refused or host unreachable; '
            '2. OVH GB: skipped: breaker forced open (maintenance)'))
        self.assertEqual(self._router_attempts(sms).mapped('reason'),
                         ['connection refused or host unreachable', 'breaker forced open (maintenance)'])

    def test_route_tester_speaks_its_readers_language(self):
        Tester = self.env['sms.router.route.tester'].with_context(lang='fr_FR')
        with self.mockRouterClients({self.down_fr: OutcomeKind.SENT, self.forced_fr: OutcomeKind.SENT}):
            tester = Tester.new({'company_id': self.company_fr.id, 'number': '06 12 34 56 78'})
            lines = [(line.name, line.verdict, line.reason, line.breaker_state) for line in tester.line_ids]
            summary = tester.summary
        self.assertEqual(lines, [
            ('Sweego FR', 'send', 'Le premier compte qui peut le prendre maintenant.', 'closed'),
            ('OVH FR', 'skipped', FORCED, 'forced'),
        ])
        self.assertEqual(summary, 'Enverrait maintenant par Sweego FR.')
        self.assertEqual(tester.match_reason, 'Route par défaut (aucun préfixe ni pays ne correspond)')
        unreadable = Tester.new({'company_id': self.company_fr.id, 'number': '06 12'})
        self.assertEqual(unreadable.number_error, '"06 12" n\'est pas un numéro de téléphone valide')
        self.assertEqual(unreadable.summary, "Le routeur n'enverrait pas ce SMS : le numéro ne peut pas être lu.")
        # The same tester in English.
        self.assertEqual(unreadable.with_context(lang='en_US').number_error, '"06 12" is not a valid phone number')
