"""Validity periods: an SMS no provider accepted within its company's validity ends Expired,
with its reason, and is never sent late, whatever it waited for."""
from datetime import datetime, timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged
from odoo.tools.translate import code_translations

from ..engine.outcomes import OutcomeKind
from ..engine.routing import TRAFFIC_MARKETING
from .common import ScriptedClient, SmsRouterCase

T0 = datetime(2026, 11, 26, 22, 0, 0)
EXPIRED_REASON = ('not accepted by any provider within its validity of 5 min '
                  '(queued at 2026-11-26 22:00:00 UTC)')


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterValidity(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.write({
            'sms_router_max_hold_hours': 4,
            'sms_router_iap_last_resort': False,
            'sms_router_validity_transactional': 5,
            'sms_router_validity_marketing': 120,
        })
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR', breaker_cooldown=120)
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR', breaker_cooldown=300)
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')
        cls.partner_fr = cls.env['res.partner'].create({
            'name': 'Camille Martin', 'phone': '+33 6 12 34 56 78',
            'country_id': cls.env.ref('base.fr').id, 'company_id': cls.company_fr.id,
        })
        cls.queue_cron = cls.env.ref('sms.ir_cron_sms_scheduler_action')

    def _queued_at_t0(self, numbers=('+33612345678',), **values):
        with freeze_time(T0):
            return self._router_sms(self.company_fr, list(numbers), **values)

    def _process_queue_at(self, moment, behaviours=None):
        behaviours = behaviours or {self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}
        with freeze_time(moment), self.mockRouterClients(behaviours):
            self._router_process_queue()

    def _trail(self, sms):
        return [(attempt.account_name, attempt.outcome) for attempt in self._router_attempts(sms)]

    def assertExpired(self, sms, reason=EXPIRED_REASON):
        self.assertEqual(sms.state, 'error')
        self.assertEqual(sms.failure_type, 'sms_expired')
        self.assertEqual(sms.sms_router_failure_reason, reason)
        self.assertFalse(sms.sms_router_hold_until or sms.sms_router_held_since or sms.sms_router_not_before)
        last = self._router_attempts(sms)[-1]
        self.assertEqual((last.outcome, last.final, last.accepted), ('expired', True, False))
        self.assertFalse(last.message_id)
        self.assertEqual(last.reason, reason)

    # --------------------------------------------------------------- settings

    def test_validity_bounds_say_what_is_allowed(self):
        company = self.company_gb
        for minutes in (0, 2, 60, 2880):
            company.sms_router_validity_transactional = minutes
            company.sms_router_validity_marketing = minutes
        for field in ('sms_router_validity_transactional', 'sms_router_validity_marketing'):
            for minutes in (1, -5, 2881):
                with self.assertRaises(ValidationError) as caught:
                    company.write({field: minutes})
                self.assertIn('must be between 2 and 2880 minutes', str(caught.exception))
                self.assertIn(f'has {minutes}', str(caught.exception))

    def test_settings_set_the_company_validity(self):
        settings = Form(self.env['res.config.settings'].with_company(self.company_gb))
        settings.sms_router_validity_transactional = 10
        settings.sms_router_validity_marketing = 240
        settings.save().execute()
        self.assertEqual(self.company_gb.sms_router_validity_transactional, 10)
        self.assertEqual(self.company_gb.sms_router_validity_marketing, 240)
        self.assertEqual(self.env['res.company'].new({}).sms_router_validity_transactional, 0, 'off by default')

    # ------------------------------------------------------------ at create

    def test_expiry_is_set_when_queued_by_company_and_traffic(self):
        transactional = self._queued_at_t0()
        marketing = self._queued_at_t0(sms_router_traffic=TRAFFIC_MARKETING)
        self.assertEqual(transactional.sms_router_validity, 5)
        self.assertEqual(transactional.sms_router_expires_at, T0 + timedelta(minutes=5))
        self.assertEqual(marketing.sms_router_validity, 120)
        self.assertEqual(marketing.sms_router_expires_at, T0 + timedelta(hours=2))

    def test_no_expiry_while_validity_is_off_or_router_not_used(self):
        self.company_fr.sms_router_validity_transactional = 0
        off = self._router_sms(self.company_fr, ['+33612345678'])
        self.assertFalse(off.sms_router_expires_at or off.sms_router_validity)
        # A company without routes keeps Odoo's own sending: the router's validity is not used.
        self.company_gb.sms_router_validity_transactional = 5
        unrouted = self._router_sms(self.company_gb, ['+447400123456'])
        self.assertFalse(unrouted.sms_router_expires_at)

    # --------------------------------------------------------------- sending

    def test_sent_within_its_validity_with_the_time_left(self):
        sms = self._queued_at_t0()
        client = ScriptedClient('Primary FR')
        client.validity_range = (1, 36000)
        with freeze_time(T0 + timedelta(seconds=60)), self.mockRouterClients({self.primary: client}):
            sms.send()
        self.assertEqual(sms.state, 'pending')
        request = self.routerCalls(self.primary)[0]
        self.assertEqual(request.validity, 240, 'the 4 minutes left, in seconds')

    def test_expired_on_send_without_provider_call(self):
        sms = self._queued_at_t0()
        with freeze_time(T0 + timedelta(minutes=5)), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.router_calls, [])
        self.assertExpired(sms)
        self.assertEqual(self._trail(sms), [(False, 'expired')])
        self.assertFalse(self._router_attempts(sms).account_id)

    def test_held_sms_expires_by_the_queue_cron_not_sent_late(self):
        sms = self._queued_at_t0()
        triggers_before = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)])
        with freeze_time(T0 + timedelta(seconds=10)), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}):
            sms.send()
        self.assertEqual(sms.state, 'outgoing', 'held: every provider is down')
        # Held until after its expiry: the queue is scheduled for the expiry too.
        sms.sms_router_hold_until = T0 + timedelta(minutes=30)
        triggers = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)]) - triggers_before
        self.assertIn(sms.sms_router_expires_at, triggers.mapped('call_at'))

        # Before the expiry: still held, not due.
        self._process_queue_at(T0 + timedelta(minutes=4))
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.state, 'outgoing')
        # At the expiry, the providers are back: the queue takes it although it is held,
        # and ends it Expired without a call.
        self._process_queue_at(T0 + timedelta(minutes=5))
        self.assertEqual(self.router_calls, [], 'never sent late')
        self.assertExpired(sms)
        self.assertEqual(self._trail(sms), [('Primary FR', 'provider_error'), ('Fallback FR', 'account_error'),
                                            (False, 'expired')])

    def test_waiting_sms_expires_by_the_queue_cron(self):
        """An SMS waiting with a not-before time (send window, governor) after its expiry."""
        sms = self._queued_at_t0()
        sms.write({'sms_router_not_before': T0 + timedelta(hours=10),
                   'sms_router_hold_reason': 'Outside its send window'})
        self._process_queue_at(T0 + timedelta(minutes=6))
        self.assertEqual(self.router_calls, [])
        self.assertExpired(sms)

    def test_next_expiry_schedules_the_queue(self):
        sms = self._queued_at_t0()
        sms.sms_router_not_before = T0 + timedelta(hours=10)
        triggers_before = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)])
        self._process_queue_at(T0 + timedelta(minutes=1))
        triggers = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)]) - triggers_before
        self.assertIn(T0 + timedelta(minutes=5), triggers.mapped('call_at'))
        self.assertEqual(sms.state, 'outgoing')

    def test_chatter_notification_shows_expired_with_its_reason(self):
        with freeze_time(T0), \
                self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            message = self.partner_fr._message_sms('Your code is 123456')
        sms = self.env['sms.sms'].search([('mail_message_id', '=', message.id)])
        notification = message.notification_ids.filtered(lambda n: n.notification_type == 'sms')
        self.assertEqual(sms.state, 'outgoing')
        self.assertEqual(notification.notification_status, 'ready')
        self._process_queue_at(T0 + timedelta(minutes=5, seconds=1))
        self.assertEqual(self.router_calls, [])
        self.assertExpired(sms)
        self.assertEqual(notification.notification_status, 'exception')
        self.assertEqual(notification.failure_type, 'sms_expired')
        self.assertEqual(notification.failure_reason, EXPIRED_REASON)

    def test_retry_gives_a_new_validity(self):
        sms = self._queued_at_t0()
        with freeze_time(T0 + timedelta(minutes=6)), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertExpired(sms)
        with freeze_time(T0 + timedelta(minutes=20)):
            sms.action_set_outgoing()
        self.assertEqual(sms.sms_router_expires_at, T0 + timedelta(minutes=25))
        with freeze_time(T0 + timedelta(minutes=21)), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')

    def test_next_expiry_is_scheduled_once(self):
        """Each run asks for the next expiry: one trigger for it, not one per run, and none
        when an earlier pending run comes before it."""
        sms = self._queued_at_t0()
        sms.sms_router_not_before = T0 + timedelta(hours=10)
        triggers = self.env['ir.cron.trigger'].sudo()
        domain = [('cron_id', '=', self.queue_cron.id)]
        before = triggers.search(domain)
        self._process_queue_at(T0 + timedelta(minutes=1))
        self._process_queue_at(T0 + timedelta(minutes=2))
        self._process_queue_at(T0 + timedelta(minutes=3))
        added = triggers.search(domain) - before
        self.assertEqual(added.mapped('call_at'), [T0 + timedelta(minutes=5)])
        # An earlier wake-up is pending: that run schedules the expiry when it comes.
        triggers.search(domain).unlink()
        triggers.create({'cron_id': self.queue_cron.id, 'call_at': T0 + timedelta(minutes=4)})
        self._process_queue_at(T0 + timedelta(minutes=3))
        self.assertEqual(triggers.search(domain).mapped('call_at'), [T0 + timedelta(minutes=4)])
        self.assertEqual(sms.state, 'outgoing')

    def test_expired_in_french_for_a_french_company(self):
        """The reason is written in the company's language (French here), through Odoo's
        code translations of the addon, whoever runs the queue."""
        self.env['res.lang']._activate_lang('fr_FR')
        self.company_fr.partner_id.lang = 'fr_FR'
        template = 'not accepted by any provider within its validity of %(validity)s (queued at %(queued_at)s UTC)'
        french = ("aucun fournisseur ne l'a accepté dans sa validité de %(validity)s "
                  "(mis en file le %(queued_at)s UTC)")
        translations = code_translations.get_python_translations

        def get_python_translations(module, lang):
            found = translations(module, lang)
            if (module, lang) == ('sms_router', 'fr_FR'):
                found = {**found, template: french}
            return found

        sms = self._queued_at_t0()
        with patch.object(code_translations, 'get_python_translations', get_python_translations), \
                freeze_time(T0 + timedelta(minutes=5)), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        reason = ("aucun fournisseur ne l'a accepté dans sa validité de 5 min "
                  "(mis en file le 2026-11-26 22:00:00 UTC)")
        self.assertEqual(sms.failure_type, 'sms_expired')
        self.assertEqual(sms.sms_router_failure_reason, reason)
        self.assertEqual(self._router_attempts(sms)[-1].reason, reason)

    def test_mass_sms_trace_shows_expired(self):
        if 'mailing.mailing' not in self.env:
            self.skipTest('mass_mailing_sms is not installed')
        marketer = self.env['res.users'].create({
            'name': 'Marketer FR', 'login': 'marketer_fr_validity', 'company_id': self.company_fr.id,
            'company_ids': [(6, 0, self.company_fr.ids)]})
        mailing = self.env['mailing.mailing'].create({
            'subject': 'Winter offers', 'mailing_type': 'sms', 'body_plaintext': 'Winter offers',
            'user_id': marketer.id, 'mailing_model_id': self.env['ir.model']._get_id('res.partner')})
        with freeze_time(T0):
            sms = self.env['sms.sms'].create({
                'number': '+33612345678', 'body': 'Winter offers', 'mailing_id': mailing.id,
                'partner_id': self.partner_fr.id})
        self.assertEqual((sms.sms_router_traffic, sms.sms_router_validity), ('marketing', 120))
        trace = self.env['mailing.trace'].create({
            'trace_type': 'sms', 'model': 'res.partner', 'res_id': self.partner_fr.id,
            'mass_mailing_id': mailing.id, 'sms_number': '+33612345678',
            'sms_id_int': sms.id, 'sms_tracker_ids': [(0, 0, {'sms_uuid': sms.uuid})]})
        with freeze_time(T0 + timedelta(hours=2)), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.router_calls, [])
        reason = ('not accepted by any provider within its validity of 2 h '
                  '(queued at 2026-11-26 22:00:00 UTC)')
        self.assertExpired(sms, reason)
        self.assertEqual((trace.trace_status, trace.failure_type), ('error', 'sms_expired'))
        self.assertEqual(trace.failure_reason, reason)

    # ----------------------------------------------------------- route tester

    def test_route_tester_shows_the_validity(self):
        tester = self.env['sms.router.route.tester'].create({
            'company_id': self.company_fr.id, 'number': '+33612345678'})
        self.assertTrue(tester.validity.startswith('5 min: '), tester.validity)
        tester.traffic = TRAFFIC_MARKETING
        self.assertTrue(tester.validity.startswith('2 h: '), tester.validity)
        self.company_fr.sms_router_validity_marketing = 0
        tester.invalidate_recordset(['validity'])
        self.assertTrue(tester.validity.startswith('None'), tester.validity)

    def test_expiry_reason_uses_stored_validity(self):
        """The reason names the validity the SMS was given, even when the setting changed."""
        sms = self._queued_at_t0()
        self.company_fr.sms_router_validity_transactional = 30
        with freeze_time(T0 + timedelta(minutes=5)), self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertExpired(sms)
        self.assertEqual(fields.Datetime.to_string(sms.sms_router_expires_at), '2026-11-26 22:05:00')
