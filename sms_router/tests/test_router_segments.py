from unittest.mock import patch

from odoo.tests import Form, new_test_user, tagged

from ..engine.dispatcher import AccountHandle
from ..engine.outcomes import OutcomeKind
from ..models.sms_router_breaker import PostgresBreakerStore
from .common import ScriptedClient, SmsRouterCase

FR_MOBILE = '+33612345678'
GB_MOBILE = '+447400123456'
# 160 characters, GSM-7 (é and à are in the alphabet): one SMS.
REMINDER = ('Bonjour, votre rendez-vous est confirmé le mardi 3 mars à 14h30 au cabinet du '
            'Dr Martin, 12 rue de la Paix. Répondez ANNULER pour annuler. Merci ! Bonne journée')
# The same with a typographic apostrophe and a ç: UCS-2, 157 units, three SMS.
REMINDER_UCS2 = REMINDER.replace('Merci', 'Reçu').replace('de la Paix', 'de l’Arc')


class SuffixClient(ScriptedClient):
    """A scripted provider that appends a STOP mention to marketing SMS to France."""

    def appended_text(self, region, marketing):
        return '\nSTOP 36111' if marketing and region == 'FR' else ''


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterSegments(SmsRouterCase):
    """Encoding and segments in the trail, the account's smart encoding in a real send, the
    composer's count and the route tester's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.backup = cls._router_account(cls, cls.company_fr, 'Backup FR', smart_encoding='letters')
        cls.route = cls._router_route(cls, cls.company_fr, cls.primary | cls.backup, name='France')

    def test_smart_encoding_defaults_to_off(self):
        self.assertEqual(self.primary.smart_encoding, 'off')
        self.assertEqual(self.primary._sms_router_handle(self.env['sms.router.breaker']._store()).smart_encoding,
                         'off')
        self.assertEqual(self.backup._sms_router_handle(self.env['sms.router.breaker']._store()).smart_encoding,
                         'letters')

    def test_attempts_store_encoding_and_segments_of_what_each_account_sent(self):
        """The primary (off) fails and sends the body as written, UCS-2 in 3 SMS; the backup
        (letters) sends it in GSM-7, 1 SMS; each attempt says so."""
        sms = self._router_sms(self.company_fr, [FR_MOBILE], body=REMINDER_UCS2)
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.backup: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual([request.body for request in self.routerCalls(self.primary)], [REMINDER_UCS2])
        sent = REMINDER.replace('Merci', 'Recu').replace('de la Paix', "de l'Arc")
        self.assertEqual([request.body for request in self.routerCalls(self.backup)], [sent])
        first, second = self._router_attempts(sms)
        self.assertEqual((first.account_id, first.encoding, first.segments), (self.primary, 'ucs2', 3))
        self.assertEqual((second.account_id, second.encoding, second.segments), (self.backup, 'gsm7', 1))
        self.assertTrue(second.accepted)
        # the SMS itself keeps the body as written
        self.assertEqual(sms.body, REMINDER_UCS2)

    def test_no_segments_on_attempts_without_request(self):
        """A skipped account (credit low) made no request: its line carries neither encoding nor
        segments, so a sum of segments per account counts what providers were sent."""
        self.primary.write({'credit_balance': 1.0, 'credit_low_threshold': 10.0,
                            'credit_checked_at': '2026-01-01 00:00:00'})
        sms = self._router_sms(self.company_fr, [FR_MOBILE], body=REMINDER_UCS2)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.backup: OutcomeKind.SENT}):
            sms.send()
        self.assertFalse(self.routerCalls(self.primary))
        skipped, sent = self._router_attempts(sms)
        self.assertEqual((skipped.account_id, skipped.outcome), (self.primary, 'skipped'))
        self.assertEqual((skipped.encoding, skipped.segments), (False, 0))
        self.assertEqual((sent.account_id, sent.encoding, sent.segments), (self.backup, 'gsm7', 1))
        totals = dict(self.env['sms.router.attempt']._read_group(
            [('sms_uuid', '=', sms.uuid)], ['account_id'], ['segments:sum']))
        self.assertEqual({account: total or 0 for account, total in totals.items()},
                         {self.primary: 0, self.backup: 1})

    def test_gsm7_extension_counts_two_septets(self):
        body = 'Total : 74 € ' + 'x' * 147          # 160 characters, 161 septets: 2 SMS
        sms = self._router_sms(self.company_fr, [FR_MOBILE], body=body)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        attempt = self._router_attempts(sms)
        self.assertEqual((attempt.encoding, attempt.segments), ('gsm7', 2))

    def test_typography_keeps_letters(self):
        self.primary.smart_encoding = 'typography'
        sms = self._router_sms(self.company_fr, [FR_MOBILE], body=REMINDER_UCS2)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.routerCalls(self.primary)[0].body, REMINDER_UCS2.replace('’', "'"))
        attempt = self._router_attempts(sms)
        self.assertEqual((attempt.encoding, attempt.segments), ('ucs2', 3), 'the ç still forces UCS-2')

    def test_provider_suffix_counted_for_marketing_to_france(self):
        body = 'Soldes : -20 % ce week-end avec le code PROMO, dès 49 € d\'achat ! ' * 2  # 134 septets
        self.assertEqual(len(body), 132)
        marketing = self._router_sms(self.company_fr, [FR_MOBILE], body=body, sms_router_traffic='marketing')
        transactional = self._router_sms(self.company_fr, [FR_MOBILE], body=body)
        suffix = SuffixClient('Primary FR')
        with self.mockRouterClients({self.primary: suffix}):
            (marketing | transactional).send()
        # 134 septets + "\nSTOP 36111" (11) = 145: one SMS either way, the request body unchanged
        self.assertEqual(self._router_attempts(marketing).segments, 1)
        self.assertEqual({request.body for request in self.routerCalls()}, {body})
        longer = body + 'x' * 20              # 154 septets: 1 SMS, 165 with the mention: 2
        marketing = self._router_sms(self.company_fr, [FR_MOBILE], body=longer, sms_router_traffic='marketing')
        transactional = self._router_sms(self.company_fr, [FR_MOBILE], body=longer)
        with self.mockRouterClients({self.primary: SuffixClient('Primary FR')}):
            (marketing | transactional).send()
        self.assertEqual(self._router_attempts(marketing).segments, 2)
        self.assertEqual(self._router_attempts(transactional).segments, 1)

    def test_one_body_to_many_numbers_is_measured_once_per_account(self):
        numbers = [f'+3361234{n:04d}' for n in range(40)]
        sms = self._router_sms(self.company_fr, numbers, body=REMINDER)
        calls = []
        original = AccountHandle.measure

        def counting(handle, body, region='', marketing=False):
            calls.append(handle.account_id)
            return original(handle, body, region, marketing)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}), \
                patch.object(AccountHandle, 'measure', counting):
            sms.send()
        attempts = self._router_attempts(sms)
        self.assertEqual(len(attempts), 40)
        self.assertEqual(set(attempts.mapped('segments')), {1})
        self.assertEqual(calls, [self.primary.id])

    def test_trail_views_show_encoding_and_segments(self):
        for view in ('sms_router.sms_router_attempt_view_list', 'sms_router.sms_router_attempt_view_form'):
            arch = self.env.ref(view).arch
            self.assertIn('name="encoding"', arch)
            self.assertIn('name="segments"', arch)

    def test_account_form_sets_smart_encoding(self):
        form = Form(self.env['sms.router.account'])
        form.name = 'New FR'
        form.company_id = self.company_fr
        self.assertEqual(form.smart_encoding, 'off')
        form.smart_encoding = 'typography'
        account = form.save()
        self.assertEqual(account.smart_encoding, 'typography')

    # ---------------------------------------------------------------- route tester

    def test_route_tester_counts_per_account(self):
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.backup: OutcomeKind.SENT}):
            tester = self.env['sms.router.route.tester'].new({
                'company_id': self.company_fr.id, 'number': '06 12 34 56 78', 'sample_body': REMINDER_UCS2})
            lines = tester.line_ids
            self.assertEqual(tester.sample_ucs2_chars, '’ ç')
            self.assertIn('UCS-2', tester.sample_summary)
            self.assertIn('3 SMS', tester.sample_summary)
            self.assertEqual(lines.mapped('name'), ['Primary FR', 'Backup FR'])
            self.assertEqual(lines.mapped('smart_encoding'), ['off', 'letters'])
            self.assertEqual(lines.mapped('encoding'), ['ucs2', 'gsm7'])
            self.assertEqual(lines.mapped('segments'), [3, 1])
            self.assertEqual(lines[0].ucs2_chars, '’ ç')
            self.assertFalse(lines[1].ucs2_chars)

    def test_route_tester_shows_provider_suffix(self):
        with self.mockRouterClients({self.primary: SuffixClient('Primary FR')}):
            tester = self.env['sms.router.route.tester'].new({
                'company_id': self.company_fr.id, 'number': FR_MOBILE, 'traffic': 'marketing',
                'sample_body': 'x' * 150})
            line = tester.line_ids[0]
            self.assertEqual(line.appended_text, 'STOP 36111')
            self.assertEqual((line.encoding, line.segments), ('gsm7', 2))

    def test_route_tester_without_sample(self):
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.backup: OutcomeKind.SENT}):
            tester = self.env['sms.router.route.tester'].new({
                'company_id': self.company_fr.id, 'number': FR_MOBILE})
            self.assertFalse(tester.sample_summary)
            self.assertEqual(tester.line_ids.mapped('segments'), [0, 0])
            self.assertFalse(any(tester.line_ids.mapped('encoding')))

    # ---------------------------------------------------------------- composer

    def _composer(self, body, user=None, **context):
        partner = self.env['res.partner'].create({'name': 'Client', 'phone': FR_MOBILE,
                                                  'country_id': self.env.ref('base.fr').id})
        env = self.env(user=user) if user else self.env
        env = env(context=dict(env.context, allowed_company_ids=[self.company_fr.id]))
        return env['sms.composer'].with_context(
            default_res_model='res.partner', default_res_id=partner.id, default_composition_mode='comment',
            **context).create({'body': body})

    def test_composer_counts_euro_as_gsm7(self):
        """Odoo's own counter calls a body with € Unicode; the router sends it in GSM-7."""
        body = 'Votre facture de 74 € est disponible. ' * 3       # 114 characters, 117 septets: 1 SMS
        composer = self._composer(body)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            composer.invalidate_recordset(['sms_router_count'])
            self.assertIn('GSM-7: 1 SMS', composer.sms_router_count)
            self.assertIn('Primary FR', composer.sms_router_count)
            self.assertFalse(composer.sms_router_ucs2_chars)

    def test_composer_shows_characters_forcing_unicode(self):
        user = new_test_user(self.env, 'sms_segments_user', groups='base.group_user',
                             company_id=self.company_fr.id, company_ids=[self.company_fr.id])
        composer = self._composer(REMINDER_UCS2, user=user)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self.assertIn('3 SMS', composer.sms_router_count)
            self.assertEqual(composer.sms_router_ucs2_chars, '’ ç')
        # the company's first account with smart encoding "letters": one SMS, nothing forcing UCS-2
        self.primary.smart_encoding = 'letters'
        self.forgetRouterClients()
        composer = self._composer(REMINDER_UCS2, user=user)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self.assertIn('GSM-7: 1 SMS', composer.sms_router_count)
            self.assertFalse(composer.sms_router_ucs2_chars)

    def test_composer_count_reads_no_breaker_nor_client(self):
        """Counted at each keystroke: the route table and the account only, no breaker read
        through a side cursor, no provider client (nor its HTTP session)."""
        composer = self._composer(REMINDER_UCS2)
        store = type(self.env['sms.router.breaker'])
        account = type(self.env['sms.router.account'])
        with patch.object(store, '_store', side_effect=AssertionError('breaker store read')) as breakers, \
                patch.object(PostgresBreakerStore, 'load_many', side_effect=AssertionError('side cursor')), \
                patch.object(account, '_sms_router_client', side_effect=AssertionError('client built')) as clients:
            for body in (REMINDER + ' €', REMINDER, REMINDER_UCS2):
                composer.body = body
                self.assertIn('Primary FR', composer.sms_router_count)
        breakers.assert_not_called()
        clients.assert_not_called()
        self.assertIn('3 SMS', composer.sms_router_count)

    def test_composer_company_is_the_one_sending(self):
        """The composer counts for the company sms.sms.create gives the SMS: in mass mode the
        record's company (here FR while the user works in GB, whose router is off), in
        comment mode the company of the record the message is posted on."""
        partner = self.env['res.partner'].create({'name': 'Client FR', 'phone': FR_MOBILE,
                                                  'company_id': self.company_fr.id})
        env = self.env(context=dict(self.env.context,
                                    allowed_company_ids=[self.company_gb.id, self.company_fr.id]))
        self.assertEqual(env.company, self.company_gb)
        for mode, values in (('mass', {'res_ids': repr(partner.ids)}), ('comment', {'res_id': partner.id})):
            composer = env['sms.composer'].with_context(
                default_res_model='res.partner', default_composition_mode=mode,
                **{f'default_{name}': value for name, value in values.items()}).create({'body': REMINDER})
            self.assertEqual(composer._sms_router_company(), self.company_fr, mode)
            self.assertIn('Primary FR', composer.sms_router_count or '', mode)
            before = self.env['sms.sms'].search([]).ids
            with patch.object(type(self.env['sms.sms']), 'send', lambda *args, **kwargs: None):
                composer.action_send_sms()      # queued only: the company is what is checked
            sms = self.env['sms.sms'].search([('id', 'not in', before)])
            self.assertEqual(sms.sms_router_company_id, self.company_fr, mode)
        # A record without a company: the user's current company, as sending does.
        partner.company_id = False
        composer = env['sms.composer'].with_context(
            default_res_model='res.partner', default_res_id=partner.id,
            default_composition_mode='comment').create({'body': REMINDER})
        self.assertEqual(composer._sms_router_company(), self.company_gb)
        self.assertFalse(composer.sms_router_count, 'the router is off for GB')

    def test_composer_count_empty_when_router_off(self):
        partner = self.env['res.partner'].create({'name': 'UK client', 'phone': GB_MOBILE})
        composer = self.env['sms.composer'].with_company(self.company_gb).with_context(
            default_res_model='res.partner', default_res_id=partner.id,
            default_composition_mode='comment').create({'body': 'Hello €'})
        self.assertFalse(composer.sms_router_count)

    def test_composer_view_shows_router_count(self):
        arch = self.env['sms.composer'].get_view(self.env.ref('sms.sms_composer_view_form').id)['arch']
        self.assertIn('sms_router_count', arch)
        self.assertIn('sms_router_ucs2_chars', arch)
