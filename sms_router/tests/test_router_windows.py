"""Send windows: SMS outside their window wait in the queue (no provider call, a "not
before" time and the reason), leave when it opens, and nothing else is affected."""
import functools
from datetime import datetime, time, timedelta, timezone
from unittest.mock import patch
from zoneinfo import ZoneInfo

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from ..engine.dispatcher import Dispatcher
from ..engine.outcomes import BatchResult, OutcomeKind
from ..engine.windows import WindowGate
from ..models.sms_router_send_window import WEEKDAY_FIELDS
from ..tools import sms_api
from .common import SmsRouterCase

PARIS = ZoneInfo('Europe/Paris')


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterWindows(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for company in (cls.company_fr, cls.company_gb):
            company.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls._router_route(cls, cls.company_fr, cls.primary, name='Default FR')
        cls.account_gb = cls._router_account(cls, cls.company_gb, 'Primary GB')
        cls._router_route(cls, cls.company_gb, cls.account_gb, name='Default GB')
        cls.queue_cron = cls.env.ref('sms.ir_cron_sms_scheduler_action')
        # A window open only on the day after tomorrow (Paris), 08:00-20:00: closed now,
        # whatever the time the tests run, and its next opening is known.
        cls.open_day = datetime.now(PARIS).date() + timedelta(days=2)
        cls.opening = datetime.combine(cls.open_day, time(8, 0), tzinfo=PARIS).astimezone(timezone.utc)
        cls.window = cls._window(cls, cls.company_fr, 'FR marketing, one day')

    def _window(self, company, name, traffic='marketing', countries=('base.fr',), weekdays=None, **values):
        weekdays = {self.open_day.weekday()} if weekdays is None else weekdays
        return self.env['sms.router.send.window'].create({
            'name': name, 'company_id': company.id, 'traffic': traffic, 'hours': '08:00-20:00',
            'exclude_holidays': False,
            'country_ids': [fields.Command.set([self.env.ref(xml_id).id for xml_id in countries])],
            **{day: index in weekdays for index, day in enumerate(WEEKDAY_FIELDS)},
            **values,
        })

    def _open_now(self, window):
        """Make ``window`` allow every moment: as if it had opened."""
        window.write({'hours': '00:00-24:00', **dict.fromkeys(WEEKDAY_FIELDS, True)})

    def test_marketing_outside_window_waits_then_leaves(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        triggers_before = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()   # "Send Now": queued, not sent
        self.assertEqual(self.router_calls, [], 'no provider call outside the window')
        self.assertEqual(sms.state, 'outgoing')
        self.assertFalse(sms.failure_type)
        self.assertEqual(sms.sms_router_not_before, self.opening.replace(tzinfo=None))
        self.assertEqual(sms.sms_router_window_id, self.window)
        local = self.opening.astimezone(PARIS).strftime('%Y-%m-%d %H:%M')
        self.assertEqual(sms.sms_router_hold_reason,
                         f"Outside its send window 'FR marketing, one day' until {local} (Europe/Paris)")
        self.assertFalse(sms.sms_router_held_since, 'a window is not an outage')
        # The wait is one line of the trail: no account, no request, not final.
        wait = self.assertRouterTrail(sms, [(False, 'waiting')])
        self.assertEqual(wait.reason, sms.sms_router_hold_reason)
        self.assertFalse(wait.account_id or wait.final or wait.accepted or wait.segments)
        self.assertEqual(wait.step, 1)
        triggers = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)]) - triggers_before
        self.assertIn(self.opening.replace(tzinfo=None), triggers.mapped('call_at'),
                      'the queue cron runs when the window opens')
        self.assertIn(sms, self.env['sms.sms'].search([('sms_router_window_id', '!=', False),
                                                       ('state', '=', 'outgoing')]))

        # Not due: the queue cron leaves it alone.
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.state, 'outgoing')

        # Due but still closed (the window is checked at send time): it waits again.
        sms.sms_router_not_before = fields.Datetime.now() - timedelta(seconds=1)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.sms_router_not_before, self.opening.replace(tzinfo=None))
        self.assertRouterTrail(sms, [(False, 'waiting')])   # the same wait: no second line

        # The window opens: the queue sends it.
        self._open_now(self.window)
        sms.sms_router_not_before = fields.Datetime.now() - timedelta(seconds=1)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.routerRecipients(), ['+33612345678'])
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.sms_router_not_before or sms.sms_router_hold_reason)
        self.assertRouterTrail(sms, [(False, 'waiting'), (self.primary, 'sent')])
        self.assertEqual(self._router_attempts(sms).mapped('step'), [1, 2])

    def test_transactional_unaffected(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        self.assertEqual(sms.sms_router_traffic, 'transactional')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.routerRecipients(), ['+33612345678'])
        self.assertEqual(sms.state, 'pending')
        self.assertFalse(sms.sms_router_not_before)

    def test_rule_for_all_traffic_holds_transactional_too(self):
        self.window.traffic = 'all'
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.sms_router_not_before, self.opening.replace(tzinfo=None))

    def test_other_countries_and_companies_unaffected(self):
        # A French rule: a German number of the same company goes now, as does a French
        # number of another company.
        german = self._router_sms(self.company_fr, ['+4915123456789'], sms_router_traffic='marketing')
        other_company = self._router_sms(self.company_gb, ['+33612345678'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.account_gb: OutcomeKind.SENT}):
            (german | other_company).send()
        self.assertCountEqual(self.routerRecipients(), ['+4915123456789', '+33612345678'])
        self.assertEqual(set((german | other_company).mapped('state')), {'pending'})

    def test_archived_rule_does_nothing(self):
        self.window.active = False
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.state, 'pending')

    def test_country_rules_replace_rules_for_every_country(self):
        # A rule for every country allowing everything now does not open the French rule...
        self._window(self.company_fr, 'Everywhere', countries=(), weekdays=set(range(7)), hours='00:00-24:00')
        sms = self._router_sms(self.company_fr, ['+33612345678', '+4915123456789'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.routerRecipients(), ['+4915123456789'])
        french = sms.filtered(lambda s: s.number == '+33612345678')
        self.assertEqual(french.sms_router_not_before, self.opening.replace(tzinfo=None))

    def test_two_french_rules_must_both_allow(self):
        # Two French rules: both must allow. The second one's hours close the first's day.
        self._window(self.company_fr, 'Evening', weekdays={self.open_day.weekday()}, hours='19:00-21:00')
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        expected = datetime.combine(self.open_day, time(19, 0), tzinfo=PARIS).astimezone(timezone.utc)
        self.assertEqual(sms.sms_router_not_before, expected.replace(tzinfo=None))

    def test_rules_that_never_open_together_wait_a_day_with_the_reason(self):
        self._window(self.company_fr, 'Night', weekdays=set(range(7)), hours='01:00-02:00')
        sms = self._router_sms(self.company_fr, ['+33612345678', '+33612345679', '+33612345670'],
                               sms_router_traffic='marketing')
        alerts_before = self.env['sms.router.alert'].search([('kind', '=', 'window_never_opens')])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}), \
                self.assertLogs('odoo.addons.sms_router.tools.sms_api', 'WARNING') as logs:
            sms.send()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(set(sms.mapped('state')), {'outgoing'}, 'never dropped')
        for each in sms:
            self.assertIn('never open together', each.sms_router_hold_reason)
            self.assertIn('"FR marketing, one day", "Night"', each.sms_router_hold_reason)
            self.assertGreater(each.sms_router_not_before, fields.Datetime.now() + timedelta(hours=23))
        # One warning and one alert for the batch, not one per SMS.
        warnings = [line for line in logs.output if 'never open together' in line]
        self.assertEqual(len(warnings), 1, logs.output)
        self.assertIn('3 SMS wait', warnings[0])
        alert = self.env['sms.router.alert'].search([('kind', '=', 'window_never_opens')]) - alerts_before
        self.assertEqual(len(alert), 1)
        self.assertEqual(alert.company_id, self.company_fr)
        self.assertIn('Night', alert.message)

    # ---------------------------------------------------------------- the check itself fails

    def test_gate_that_cannot_be_built_makes_governed_sms_wait_and_lets_the_others_go(self):
        governed = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        german = self._router_sms(self.company_fr, ['+4915123456789'], sms_router_traffic='marketing')
        otp = self._router_sms(self.company_fr, ['+33612345679'])
        window_model = type(self.env['sms.router.send.window'])
        with patch.object(window_model, '_sms_router_gate', side_effect=RuntimeError('unreadable rule')), \
                self.mockRouterClients({self.primary: OutcomeKind.SENT}), \
                mute_logger('odoo.addons.sms_router.tools.sms_api'):
            (governed | german | otp).send()
        self.assertCountEqual(self.routerRecipients(), ['+4915123456789', '+33612345679'])
        self.assertEqual((german | otp).mapped('state'), ['pending', 'pending'])
        self.assertEqual(governed.state, 'outgoing', 'never failed, never sent outside its window')
        self.assertFalse(governed.failure_type)
        self.assertIn('could not be checked', governed.sms_router_hold_reason)
        self.assertAlmostEqual(governed.sms_router_not_before, fields.Datetime.now() + timedelta(minutes=5),
                               delta=timedelta(minutes=1))

    def test_check_that_fails_makes_governed_sms_wait(self):
        governed = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        otp = self._router_sms(self.company_fr, ['+33612345679'])
        with patch.object(WindowGate, 'check', side_effect=KeyError('zone')), \
                self.mockRouterClients({self.primary: OutcomeKind.SENT}), \
                self.assertLogs('odoo.addons.sms_router.tools.sms_api', 'ERROR') as logs:
            (governed | otp).send()
        self.assertEqual(self.routerRecipients(), ['+33612345679'])
        self.assertEqual((governed.state, otp.state), ('outgoing', 'pending'))
        self.assertIn('could not be checked', governed.sms_router_hold_reason)
        self.assertEqual(len([line for line in logs.output if 'send window check failed' in line]), 1)

    # ---------------------------------------------------------------- changing the rules

    def test_changing_archiving_or_deleting_a_rule_releases_the_sms_waiting_for_it(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(sms.sms_router_not_before, self.opening.replace(tzinfo=None))
        for change in (lambda: self.window.write({'description': 'who cares'}),):
            change()
            self.assertTrue(sms.sms_router_not_before, 'a label changes nothing')
        for change in (lambda: self.window.write({'hours': '09:00-20:00'}),
                       lambda: self.window.action_archive(),
                       lambda: self.window.unlink()):
            triggers_before = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)])
            change()
            self.assertFalse(sms.sms_router_not_before, 'due at once: the next batch decides again')
            triggers = self.env['ir.cron.trigger'].search([('cron_id', '=', self.queue_cron.id)]) - triggers_before
            self.assertTrue(triggers, 'the queue runs')
            if self.window.exists() and self.window.active:
                # Still closed with the new hours: it waits again, until 09:00 now.
                with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
                    self._router_process_queue()
                self.assertEqual(self.router_calls, [])
                nine = datetime.combine(self.open_day, time(9, 0), tzinfo=PARIS).astimezone(timezone.utc)
                self.assertEqual(sms.sms_router_not_before, nine.replace(tzinfo=None))
            elif not self.window.exists():
                break
            else:
                self.window.action_unarchive()
                with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
                    self._router_process_queue()
                self.assertTrue(sms.sms_router_not_before)
        # Deleted: nothing holds it any more.
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.routerRecipients(), ['+33612345678'])

    def test_a_new_rule_that_opens_earlier_releases_the_sms(self):
        general = self._window(self.company_fr, 'Everywhere', countries=(), weekdays={self.open_day.weekday()})
        german = self._router_sms(self.company_fr, ['+4915123456789'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            german.send()
        self.assertEqual(german.sms_router_window_id, general)
        # A German rule open every day replaces the rule for every country.
        self._window(self.company_fr, 'DE', countries=('base.de',), weekdays=set(range(7)), hours='00:00-24:00')
        self.assertFalse(german.sms_router_not_before)
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.routerRecipients(), ['+4915123456789'])

    def test_resent_sms_is_checked_again(self):
        """A failed SMS sent again (Retry, Resend) goes through the window like any other."""
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        sms.write({'state': 'error', 'failure_type': 'sms_server'})
        sms.action_set_outgoing()
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.state, 'outgoing')
        self.assertEqual(sms.sms_router_not_before, self.opening.replace(tzinfo=None))

    def test_failover_inside_the_window(self):
        """Inside the window the chain fails over as usual (see the next test for a failover
        that would reach the next account after the window closed)."""
        backup = self._router_account(self.company_fr, 'Backup FR')
        route = self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)])
        route.step_ids = [fields.Command.create({'account_id': backup.id, 'sequence': 99})]
        self._open_now(self.window)
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, backup: OutcomeKind.SENT}):
            sms.send()
        self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (backup, 'sent')])

    def test_no_failover_step_after_the_window_closed(self):
        """The window is checked again right before each provider call: an SMS whose window
        closes while its first account hangs is not sent by the backup; it stays queued,
        without an attempt for the backup, and the next batch makes it wait."""
        backup = self._router_account(self.company_fr, 'Backup FR')
        route = self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)])
        route.step_ids = [fields.Command.create({'account_id': backup.id, 'sequence': 99})]
        today = datetime.now(PARIS).date()
        self.window.write({'hours': '00:00-24:00', **{day: index == today.weekday()
                                                      for index, day in enumerate(WEEKDAY_FIELDS)}})
        shift = {'delta': timedelta(0)}

        def hanging(request):
            shift['delta'] = timedelta(days=1)     # answers after the window closed
            return BatchResult.for_all(request, OutcomeKind.PROVIDER, 'Primary FR: timed out')

        clocked = functools.partial(Dispatcher, wall_clock=lambda: datetime.now(timezone.utc) + shift['delta'])
        sms = self._router_sms(self.company_fr, ['+33612345678'], sms_router_traffic='marketing')
        with patch.object(sms_api, 'Dispatcher', clocked), \
                self.mockRouterClients({self.primary: hanging, backup: OutcomeKind.SENT}):
            sms.send()
        self.assertEqual(self.routerRecipients(backup), [], 'no request after the window closed')
        self.assertEqual(sms.state, 'outgoing')
        self.assertFalse(sms.failure_type or sms.sms_router_held_since)
        self.assertRouterTrail(sms, [(self.primary, 'provider_error')])

        # The next batch (here: the window now closed until the day after tomorrow) waits.
        self.window.write({'hours': '08:00-20:00',
                           **{day: index == self.open_day.weekday() for index, day in enumerate(WEEKDAY_FIELDS)}})
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, backup: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(self.router_calls, [])
        self.assertEqual(sms.sms_router_not_before, self.opening.replace(tzinfo=None))
        trail = self.assertRouterTrail(sms, [(self.primary, 'provider_error'), (False, 'waiting')])
        self.assertEqual(trail.mapped('step'), [1, 2])

    # ---------------------------------------------------------------- presets

    def test_presets_shipped(self):
        af2m = self.env.ref('sms_router.send_window_preset_fr_af2m_2024')
        self.assertEqual(af2m.name, 'FR - AF2M 2024')
        self.assertEqual(af2m.traffic, 'marketing')
        overseas = ('re', 'gp', 'mq', 'gf', 'yt', 'pm', 'bl', 'mf')
        self.assertEqual(af2m.country_ids, self.env['res.country'].union(
            *(self.env.ref(f'base.{code}') for code in ('fr',) + overseas)))
        self.assertEqual([day for day in WEEKDAY_FIELDS if af2m[day]], list(WEEKDAY_FIELDS[:6]))
        self.assertEqual(af2m.hours, '08:00-22:00')
        self.assertTrue(af2m.exclude_holidays)
        self.assertIn('af2m.org', af2m.description)
        strict = self.env.ref('sms_router.send_window_preset_fr_strict')
        self.assertEqual((strict.hours, strict.sun, strict.sat), ('08:00-20:00', False, True))
        # Off by default: no company has a rule until someone applies a preset.
        self.assertFalse(self.env['sms.router.send.window'].search([('preset_id', '!=', False)]))

    def test_apply_preset_creates_an_editable_rule_of_the_company(self):
        preset = self.env.ref('sms_router.send_window_preset_fr_strict')
        action = preset.with_company(self.company_gb).action_apply()
        rule = self.env['sms.router.send.window'].browse(action['res_id'])
        self.assertEqual(rule.company_id, self.company_gb)
        self.assertEqual(rule.preset_id, preset)
        self.assertEqual((rule.name, rule.hours, rule.traffic, rule.country_ids),
                         (preset.name, preset.hours, preset.traffic, preset.country_ids))
        self.assertEqual(preset.rule_count, 1)
        rule.hours = '09:00-19:00'
        self.assertEqual(preset.hours, '08:00-20:00', 'the rule is a copy: the preset is unchanged')

    def test_choosing_a_preset_in_the_form_fills_the_rule(self):
        preset = self.env.ref('sms_router.send_window_preset_fr_af2m_2024')
        with Form(self.env['sms.router.send.window']) as form:
            form.preset_id = preset
            self.assertEqual(form.name, 'FR - AF2M 2024')
            self.assertEqual(form.hours, '08:00-22:00')
            self.assertFalse(form.sun)
            form.hours = '08:00-21:00'
        rule = form.record
        self.assertEqual((rule.hours, rule.exclude_holidays, rule.company_id), ('08:00-21:00', True, self.env.company))

    def test_constraints(self):
        with self.assertRaises(ValidationError):
            self.window.hours = '22:00-08:00'
        with self.assertRaises(ValidationError):
            self.window.write(dict.fromkeys(WEEKDAY_FIELDS, False))
        self.window.hours = '08:30-12:00, 14:00-19:30'

    # ---------------------------------------------------------------- route tester

    def _tester(self, number='+33612345678', traffic='marketing'):
        return self.env['sms.router.route.tester'].create({
            'company_id': self.company_fr.id, 'number': number, 'traffic': traffic})

    def test_route_tester_shows_the_window(self):
        tester = self._tester()
        self.assertEqual(tester.window_status, 'closed')
        self.assertEqual(tester.window_id, self.window)
        self.assertEqual(tester.window_next_opening, self.opening.replace(tzinfo=None))
        self.assertEqual(tester.window_zones, 'Europe/Paris')
        self.assertIn("'FR marketing, one day'", tester.window_summary)
        self.assertEqual(self._tester(traffic='transactional').window_status, 'none')
        self.assertEqual(self._tester(number='+4915123456789').window_status, 'none')
        self._open_now(self.window)
        opened = self._tester()
        self.assertEqual(opened.window_status, 'open')
        self.assertFalse(opened.window_next_opening)

    def test_route_tester_reads_national_numbers_as_sending_does(self):
        """A contact's national number is read in the contact's country first, in the route
        and in the window check alike (CompanyRouting.region)."""
        german_rule = self._window(self.company_fr, 'DE marketing', countries=('base.de',))
        contact = self.env['res.partner'].create({'name': 'Kunde', 'country_id': self.env.ref('base.de').id})
        tester = self._tester(number='0151 23456789')
        self.assertFalse(tester.e164 and tester.e164.startswith('+49'), 'read as French without a contact')
        tester.partner_id = contact
        self.assertEqual(tester.e164, '+4915123456789')
        self.assertEqual(tester.window_status, 'closed')
        self.assertEqual(tester.window_id, german_rule)
        self.assertEqual(tester.window_zones, 'Europe/Berlin')

    # ---------------------------------------------------------------- security

    @mute_logger('odoo.models', 'odoo.addons.base.models.ir_model', 'odoo.addons.base.models.ir_rule')
    def test_security(self):
        window_gb = self._window(self.company_gb, 'GB rule')
        admin_fr = new_test_user(self.env, login='window_admin_fr', groups='base.group_user,base.group_system',
                                 company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        operator = new_test_user(self.env, login='window_operator',
                                 groups='base.group_user,sms_router.group_sms_router_operator',
                                 company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        employee = new_test_user(self.env, login='window_employee', groups='base.group_user',
                                 company_id=self.company_fr.id, company_ids=[(6, 0, self.company_fr.ids)])
        # Record rules: each company sees its own windows.
        self.assertEqual(self.env['sms.router.send.window'].with_user(admin_fr).search([]), self.window)
        with self.assertRaises(AccessError):
            window_gb.with_user(admin_fr).read(['name'])
        self.window.with_user(admin_fr).write({'hours': '09:00-20:00'})
        # Operators read windows and presets, change nothing.
        self.assertEqual(self.env['sms.router.send.window'].with_user(operator).search([]), self.window)
        preset = self.env.ref('sms_router.send_window_preset_fr_af2m_2024')
        preset.with_user(operator).read(['name', 'description'])
        with self.assertRaises(AccessError):
            self.window.with_user(operator).write({'hours': '00:00-24:00'})
        with self.assertRaises(AccessError):
            preset.with_user(operator).action_apply()
        with self.assertRaises(AccessError):
            preset.with_user(operator).write({'hours': '00:00-24:00'})
        # Other users: nothing.
        with self.assertRaises(AccessError):
            self.env['sms.router.send.window'].with_user(employee).search([])
        with self.assertRaises(AccessError):
            self.env['sms.router.send.window.preset'].with_user(employee).search([])
