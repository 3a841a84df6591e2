import logging
from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from ..engine.outcomes import OutcomeKind
from ..models.sms_router_parked_report import PARK_DELAY, RETRY_MAX_DELAY, TRIGGER_STEP_SECONDS
from .common import SmsRouterCase

CRON_XMLID = 'sms_router.ir_cron_sms_router_parked_reports'
PARKED_LOGGER = 'odoo.addons.sms_router.models.sms_router_parked_report'


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterParkedReports(SmsRouterCase):
    """A delivery report that beats the commit of its attempt is parked, then applied."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.company_fr.sms_router_iap_last_resort = False
        cls._router_route(cls, cls.company_fr, cls.primary, prefixes='+33')

    def _send_one(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        return sms, self._router_attempts(sms)

    def test_report_for_an_unknown_message_is_parked_then_applied(self):
        Attempt = self.env['sms.router.attempt']
        Parked = self.env['sms.router.parked.report']
        self.assertEqual(Attempt._sms_router_receive_report(self.primary, 'early-id', True), 'parked')
        parked = Parked.search([('message_id', '=', 'early-id')])
        self.assertEqual(len(parked), 1)
        Parked._sms_router_apply_parked()
        self.assertTrue(parked.exists(), 'still waiting for its attempt')
        self.assertEqual(parked.tries, 1)
        self.assertGreater(parked.next_try_at, fields.Datetime.now(), 'tried again later')

        sms, attempt = self._send_one()
        attempt.sudo().message_id = 'early-id'  # the id the provider had reported
        Parked._sms_router_apply_parked()
        self.assertTrue(parked.exists(), 'not tried again before its time')
        parked.next_try_at = fields.Datetime.now()  # its retry delay is over
        Parked._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_report_for_another_sms_is_refused_and_dropped(self):
        sms, attempt = self._send_one()
        outcome = self.env['sms.router.attempt']._sms_router_receive_report(
            self.primary, attempt.message_id, False, provider_error='rejected', sms_uuid='0' * 32)
        self.assertEqual(outcome, 'mismatch')
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertFalse(self.env['sms.router.parked.report'].search([('message_id', '=', attempt.message_id)]))

    def test_undelivered_report_applied_directly(self):
        sms, attempt = self._send_one()
        outcome = self.env['sms.router.attempt']._sms_router_receive_report(
            self.primary, attempt.message_id, False, provider_error='rejected', reason='carrier refused',
            sms_uuid=sms.uuid)
        self.assertEqual(outcome, 'applied')
        self.assertEqual((attempt.delivery_state, attempt.delivery_reason), ('undelivered', 'carrier refused'))

    def test_old_parked_reports_are_dropped(self):
        Parked = self.env['sms.router.parked.report']
        self.env['sms.router.attempt']._sms_router_receive_report(self.primary, 'never-sent', True)
        parked = Parked.search([('message_id', '=', 'never-sent')])
        self.env.cr.execute(SQL("UPDATE sms_router_parked_report SET create_date = %s WHERE id = %s",
                                fields.Datetime.now() - timedelta(hours=49), parked.id))
        parked.invalidate_recordset()
        # The level as a number: Odoo names its RUNBOT level (25) "INFO" too.
        with self.assertLogs(PARKED_LOGGER, logging.INFO) as logs:
            Parked._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertIn('never-sent', '\n'.join(logs.output))

    def test_scheduled_action_exists_and_runs_often(self):
        cron = self.env.ref(CRON_XMLID)
        self.assertTrue(cron.active)
        self.assertEqual((cron.interval_number, cron.interval_type), (2, 'minutes'))
        # As Odoo's own SMS queue: run as the superuser, and an update of the module keeps
        # what an administrator changed.
        self.assertEqual(cron.user_id, self.env.ref('base.user_root'))
        data = self.env['ir.model.data'].search(
            [('module', '=', 'sms_router'), ('name', '=', 'ir_cron_sms_router_parked_reports')])
        self.assertTrue(data.noupdate)

    # ------------------------------------------------------------ promptness and fairness

    def _triggers(self):
        return self.env['ir.cron.trigger'].sudo().search([('cron_id', '=', self.env.ref(CRON_XMLID).id)])

    def test_parking_triggers_the_scheduled_action_a_few_seconds_later(self):
        before = fields.Datetime.now()
        existing = self._triggers()
        Attempt = self.env['sms.router.attempt']
        self.assertEqual(Attempt._sms_router_receive_report(self.primary, 'early-1', True), 'parked')
        triggers = self._triggers() - existing
        self.assertEqual(len(triggers), 1)
        # Late enough for the sending transaction to commit, soon enough to matter.
        self.assertGreaterEqual(triggers.call_at, before + PARK_DELAY)
        self.assertLessEqual(triggers.call_at, fields.Datetime.now() + PARK_DELAY
                             + timedelta(seconds=TRIGGER_STEP_SECONDS))
        # A burst of reports shares the trigger of its time step.
        Attempt._sms_router_receive_report(self.primary, 'early-2', False, provider_error='rejected')
        self.assertLessEqual(len(self._triggers() - existing), 2)

    def test_applied_reports_do_not_trigger(self):
        sms, attempt = self._send_one()
        existing = self._triggers()
        self.env['sms.router.attempt']._sms_router_receive_report(self.primary, attempt.message_id, True)
        self.assertEqual(attempt.delivery_state, 'delivered')
        self.assertFalse(self._triggers() - existing)

    def test_backlog_of_unmatched_reports_does_not_starve_new_ones(self):
        Attempt = self.env['sms.router.attempt']
        Parked = self.env['sms.router.parked.report']
        for index in range(5):
            Attempt._sms_router_receive_report(self.primary, f'never-{index}', True)
        backlog = Parked.search([('message_id', 'like', 'never-')])
        for _run in range(3):
            Parked._sms_router_apply_parked()
            backlog.next_try_at = fields.Datetime.now() - timedelta(hours=1)   # all due again
        self.assertEqual(set(backlog.mapped('tries')), {3})

        sms, attempt = self._send_one()
        Attempt._sms_router_receive_report(self.primary, 'fresh-id', False, provider_error='rejected')
        fresh = Parked.search([('message_id', '=', 'fresh-id')])
        attempt.sudo().message_id = 'fresh-id'   # its attempt, committed meanwhile
        # One run takes 2 reports: the fresh one goes before the older, more tried, backlog.
        Parked._sms_router_apply_parked(limit=2)
        self.assertFalse(fresh.exists())
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertEqual(sorted(backlog.mapped('tries')), [3, 3, 3, 3, 4])
        self.assertEqual(len(self._triggers().filtered(lambda t: t.call_at <= fields.Datetime.now())), 1,
                         'more were due than one run takes: it runs again at once')

    def test_unmatched_report_is_tried_less_and_less_often(self):
        Parked = self.env['sms.router.parked.report']
        self.env['sms.router.attempt']._sms_router_receive_report(self.primary, 'never-sent', True)
        parked = Parked.search([('message_id', '=', 'never-sent')])
        delays = []
        now = fields.Datetime.now()
        for _run in range(12):
            with freeze_time(now):
                Parked._sms_router_apply_parked()
            delays.append(parked.next_try_at - now)
            now = parked.next_try_at
        self.assertEqual(parked.tries, 12)
        self.assertEqual(delays, sorted(delays))
        self.assertGreater(delays[1], delays[0])
        self.assertEqual(delays[-1], RETRY_MAX_DELAY)

    # ------------------------------------------------------------ what a report carries

    def test_tentative_delivered_never_overrides_a_failure(self):
        """Whichever order reports arrive or are applied in, a failure is not turned back
        into "delivered" by a report that is only the provider's last good news."""
        Attempt = self.env['sms.router.attempt']
        Parked = self.env['sms.router.parked.report']
        sms, attempt = self._send_one()
        Attempt._sms_router_receive_report(self.primary, 'late-id', True, tentative=True)   # parked
        attempt.sudo().message_id = 'late-id'
        self.assertEqual(Attempt._sms_router_receive_report(
            self.primary, 'late-id', False, provider_error='not_delivered'), 'applied')
        Parked._sms_router_apply_parked()
        self.assertFalse(Parked.search([('message_id', '=', 'late-id')]))
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertEqual(Attempt._sms_router_receive_report(self.primary, 'late-id', True, tentative=True),
                         'unchanged')
        self.assertEqual(attempt.delivery_state, 'undelivered')

    def _blacklisted(self, number='+33612345678'):
        return bool(self.env['phone.blacklist'].search([('number', '=', number)]))

    def test_opt_out_is_applied_once_per_sms(self):
        Attempt = self.env['sms.router.attempt']
        sms, attempt = self._send_one()
        self.assertEqual(Attempt._sms_router_receive_report(
            self.primary, attempt.message_id, False, provider_error='rejected', opt_out=True), 'applied')
        self.assertTrue(self._blacklisted())
        self.env['phone.blacklist']._remove(['+33612345678'])   # the recipient opted in again
        self.assertEqual(Attempt._sms_router_receive_report(
            self.primary, attempt.message_id, False, provider_error='rejected', opt_out=True), 'unchanged')
        self.assertFalse(self._blacklisted(), 'a replayed report does not undo the opt-in')

    def test_parked_opt_out_is_applied_with_its_report(self):
        Attempt = self.env['sms.router.attempt']
        self.assertEqual(Attempt._sms_router_receive_report(
            self.primary, 'early-stop', False, provider_error='rejected', opt_out=True), 'parked')
        self.assertFalse(self._blacklisted())
        sms, attempt = self._send_one()
        attempt.sudo().message_id = 'early-stop'
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertTrue(self._blacklisted())


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterIapDeliveryReports(SmsRouterCase):
    """Odoo IAP posts its delivery reports to /sms/status: Odoo updates its trackers, the
    router its trail, for SMS sent through an IAP account of a chain or the last resort."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.company_fr.sms_router_iap_last_resort = True
        cls._router_route(cls, cls.company_fr, cls.primary, prefixes='+33')
        cls.partner = cls.env['res.partner'].create({
            'name': 'Camille Client', 'phone': '+33612345678', 'company_id': cls.company_fr.id})

    def _send_through_iap(self):
        """An SMS posted on the partner, refused by the primary and sent by the last resort."""
        with self.mockSMSGateway(), self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            self.partner._message_sms('Your parcel is on its way', partner_ids=self.partner.ids)
        attempt = self.env['sms.router.attempt'].search(
            [('number', '=', '+33612345678'), ('accepted', '=', True)], order='id desc', limit=1)
        self.assertEqual((attempt.sms_provider, attempt.account_id, attempt.delivery_state),
                         ('iap', self.env['sms.router.account'], 'pending'))
        notification = self.env['sms.tracker'].search([('sms_uuid', '=', attempt.sms_uuid)]).mail_notification_id
        self.assertEqual(notification.notification_status, 'pending')
        return attempt, notification

    def _post_status(self, sms_status, uuids):
        self.env.flush_all()
        result = self.make_jsonrpc_request(
            '/sms/status', {'message_statuses': [{'sms_status': sms_status, 'uuids': uuids}]})
        self.env.invalidate_all()
        return result

    def test_delivered(self):
        attempt, notification = self._send_through_iap()
        self.assertEqual(self._post_status('delivered', [attempt.sms_uuid]), 'OK')
        self.assertEqual(attempt.delivery_state, 'delivered')
        self.assertTrue(attempt.delivery_date)
        self.assertEqual(notification.notification_status, 'sent', "Odoo's own handling is kept")

    def test_not_delivered(self):
        attempt, notification = self._send_through_iap()
        self._post_status('invalid_destination', [attempt.sms_uuid])
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertIn('invalid_destination', attempt.delivery_reason)
        self.assertEqual((notification.notification_status, notification.failure_type),
                         ('bounce', 'sms_invalid_destination'))

    def test_intermediate_states_change_nothing(self):
        attempt, notification = self._send_through_iap()
        for status in ('sent', 'success', 'processing'):
            self._post_status(status, [attempt.sms_uuid])
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertFalse(self.env['sms.router.parked.report'].search([('sms_uuid', '=', attempt.sms_uuid)]))

    def test_iap_account_in_a_chain(self):
        iap = self._router_account(self.company_fr, 'IAP FR', provider='iap')
        self.env['sms.router.route.step'].create({
            'route_id': self.env['sms.router.route'].search([('company_id', '=', self.company_fr.id)]).id,
            'account_id': iap.id, 'sequence': 50})
        sms = self._router_sms(self.company_fr, ['+33612345679'])
        with self.mockSMSGateway(), self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            sms.send()
        attempt = self._router_attempts(sms).filtered('accepted')
        self.assertEqual(attempt.account_id, iap)
        self._post_status('delivered', [sms.uuid])
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_report_about_an_sms_sent_by_another_provider_changes_nothing(self):
        sms = self._router_sms(self.company_fr, ['+33612345679'])
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sms.send()
        attempt = self._router_attempts(sms)
        self._post_status('not_delivered', [sms.uuid])
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertFalse(self.env['sms.router.parked.report'].search([('sms_uuid', '=', sms.uuid)]))

    def test_report_before_the_sending_transaction_commits_is_parked(self):
        """As seen from the report's transaction, the SMS is still queued: the report is
        parked, and applied once the attempt is recorded."""
        sms = self._router_sms(self.company_fr, ['+33612345679'])
        self._post_status('delivered', [sms.uuid])
        parked = self.env['sms.router.parked.report'].search([('sms_uuid', '=', sms.uuid)])
        self.assertEqual((parked.sms_provider, parked.account_id, parked.delivered),
                         ('iap', self.env['sms.router.account'], True))
        # The sending transaction had taken the SMS before Odoo's handling of the report
        # marked it for deletion.
        sms.to_delete = False
        with self.mockSMSGateway(), self.mockRouterClients({self.primary: OutcomeKind.PROVIDER}):
            sms.send()
        attempt = self._router_attempts(sms).filtered('accepted')
        self.assertEqual(attempt.delivery_state, 'pending')
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_reports_about_unknown_sms_are_not_parked(self):
        """/sms/status is public: a report naming no queued SMS leaves nothing behind."""
        self._post_status('delivered', ['0123456789abcdef' * 2])
        self.assertFalse(self.env['sms.router.parked.report'].search([]))
