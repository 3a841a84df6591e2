"""Alerts to the router operators: one per event, not per SMS, through the channels each
company chose (To-Dos, a Discuss channel, queued emails), acknowledged by an operator and
resolved by the router when the condition ends."""
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..engine.outcomes import OutcomeKind
from ..models.sms_router_alert import SmsRouterAlert
from .common import SmsRouterCase

ALERT_LOGGER = 'odoo.addons.sms_router.models.sms_router_alert'


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterAlerts(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Sweego FR', breaker_fail_max=2,
                                          breaker_cooldown=60)
        cls.primary.max_concurrency = 1  # its requests one after the other: the breaker opens mid-batch
        cls.fallback = cls._router_account(cls, cls.company_fr, 'OVH FR')
        cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='France')
        cls.operator = new_test_user(
            cls.env, login='alert_operator_fr', name='Alice Operator', email='alice@example.com',
            groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=cls.company_fr.id, company_ids=[(6, 0, cls.company_fr.ids)])
        cls.operator_gb = new_test_user(
            cls.env, login='alert_operator_gb', name='Bob Operator', email='bob@example.com',
            groups='base.group_user,sms_router.group_sms_router_operator',
            company_id=cls.company_gb.id, company_ids=[(6, 0, cls.company_gb.ids)])
        cls.employee = new_test_user(
            cls.env, login='alert_employee_fr', name='Eve Employee', email='eve@example.com',
            groups='base.group_user', company_id=cls.company_fr.id, company_ids=[(6, 0, cls.company_fr.ids)])
        cls.channel = cls.env['discuss.channel'].create({'name': 'SMS alerts', 'channel_type': 'channel'})
        cls.company_fr.write({
            'sms_router_alert_activity': True,
            'sms_router_alert_channel': True,
            'sms_router_alert_channel_id': cls.channel.id,
            'sms_router_alert_email': True,
            'sms_router_alert_user_ids': [(6, 0, cls.operator.ids)],
        })

    # ------------------------------------------------------------ helpers

    def alerts(self, kind=None, company=None):
        self.env.invalidate_all()
        domain = [('company_id', '=', (company or self.company_fr).id)]
        if kind:
            domain.append(('kind', '=', kind))
        return self.env['sms.router.alert'].search(domain, order='id')

    def activities(self, alerts):
        return self.env['mail.activity'].search([('res_model', '=', 'sms.router.alert'),
                                                 ('res_id', 'in', alerts.ids)])

    @staticmethod
    def links(body, alert):
        body = str(body).replace("'", '"')
        return 'data-oe-model="sms.router.alert"' in body and f'data-oe-id="{alert.id}"' in body

    def channel_posts(self, alerts):
        return self.env['mail.message'].search([
            ('model', '=', 'discuss.channel'), ('res_id', '=', self.channel.id),
            ('body', 'ilike', 'sms.router.alert')]).filtered(
                lambda message: any(self.links(message.body, alert) for alert in alerts))

    def mails(self, alerts):
        return self.env['mail.mail'].search([('model', '=', 'sms.router.alert'), ('res_id', 'in', alerts.ids)])

    def assertNotifiedOnce(self, alert, activity=True):
        self.assertEqual(len(self.activities(alert)), 1 if activity else 0)
        self.assertEqual(len(self.channel_posts(alert)), 1)
        mail = self.mails(alert)
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.state, 'outgoing', 'queued, not sent by the sending worker')
        self.assertEqual(mail.recipient_ids, self.operator.partner_id)

    def _send(self, behaviours, count=1, first=0):
        # One body each: one request each, one breaker failure each.
        sms = self.env['sms.sms'].union(*(
            self._router_sms(self.company_fr, [f'+336123456{first + index:02d}'], body=f'Alert test {first + index}')
            for index in range(count)))
        self.env.flush_all()
        with self.mockRouterClients(behaviours):
            sms.send()
        self.env.invalidate_all()
        return sms

    def _trip(self, count=5):
        self._send({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}, count=count)
        self.assertEqual(self.primary.breaker_state, 'open')

    # ------------------------------------------------------------ breakers

    def test_breaker_opening_alerts_once_for_many_sms(self):
        self._trip(count=5)
        # The breaker stays open: later batches skip the account and raise nothing.
        self._send({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, count=3, first=10)
        alert = self.alerts()
        self.assertEqual(len(alert), 1)
        self.assertEqual((alert.kind, alert.account_id, alert.state), ('breaker_open', self.primary, 'open'))
        self.assertEqual(alert.event_count, 1)
        self.assertEqual(alert.name, 'Breaker open: Sweego FR')
        self.assertIn('opened after 2 consecutive failures', alert.message)
        self.assertNotifiedOnce(alert)
        activity = self.activities(alert)
        self.assertEqual(activity.user_id, self.operator)
        self.assertEqual(activity.activity_type_id, self.env.ref('mail.mail_activity_data_todo'))

    def test_failed_probe_counts_on_the_open_alert(self):
        self._trip()
        self._router_age_breaker(self.primary, self.primary.breaker_cooldown + 1)
        self._send({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}, first=20)
        self.assertEqual(self.primary.breaker_state, 'open')
        alert = self.alerts()
        self.assertEqual(len(alert), 1, 'debounced: no second alert')
        self.assertEqual(alert.event_count, 2)
        self.assertIn('Probe failed', alert.message)
        self.assertNotifiedOnce(alert)

    def test_breaker_closing_resolves_and_notifies_once(self):
        self._trip()
        opened = self.alerts()
        self._router_age_breaker(self.primary, self.primary.breaker_cooldown + 1)
        self._send({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, first=20)
        self.assertEqual(self.primary.breaker_state, 'closed')
        self.assertEqual(opened.state, 'resolved')
        self.assertFalse(opened.ongoing)
        self.assertTrue(opened.resolved_date)
        self.assertFalse(self.activities(opened), 'its To-Do is done')
        closed = self.alerts('breaker_closed')
        self.assertEqual(len(closed), 1)
        self.assertEqual((closed.account_id, closed.state), (self.primary, 'resolved'))
        self.assertEqual(closed.name, 'Breaker closed again: Sweego FR')
        self.assertNotifiedOnce(closed, activity=False)
        # The next opening is a new event: a new alert, notified again.
        self._trip()
        reopened = self.alerts('breaker_open') - opened
        self.assertEqual(len(reopened), 1)
        self.assertNotifiedOnce(reopened)

    def test_manual_reset_resolves_without_notifying(self):
        self._trip()
        alert = self.alerts()
        self.primary.action_reset_breaker()
        self.assertEqual(alert.state, 'resolved')
        self.assertFalse(self.alerts('breaker_closed'), 'whoever reset it knows')
        self.assertTrue(any('Breaker reset by' in message.body for message in alert.message_ids))

    def test_force_open_raises_no_alert(self):
        self.primary._sms_router_force_open('Provider maintenance')
        self.assertFalse(self.alerts())

    # ------------------------------------------------------------ credit

    def test_low_credit_alerts_when_crossing_the_threshold(self):
        self.primary.credit_low_threshold = 10.0
        self.primary._sms_router_store_credit({'credit_balance': 50.0})
        self.assertFalse(self.alerts())
        self.primary._sms_router_store_credit({'credit_balance': 5.0})
        alert = self.alerts('low_credit')
        self.assertEqual((len(alert), alert.account_id, alert.state), (1, self.primary, 'open'))
        self.assertIn('5.00 credit left, below its threshold of 10.00', alert.message)
        self.assertNotifiedOnce(alert)
        # Still low: not a new crossing, nothing recorded.
        self.primary._sms_router_store_credit({'credit_balance': 4.0})
        self.assertEqual(self.alerts(), alert)
        self.assertEqual(alert.event_count, 1)
        # Topped up: resolved; low again later: a new alert.
        self.primary._sms_router_store_credit({'credit_balance': 20.0})
        self.assertEqual(alert.state, 'resolved')
        self.assertFalse(self.activities(alert))
        self.primary._sms_router_store_credit({'credit_balance': 3.0})
        self.assertEqual(len(self.alerts('low_credit')), 2)

    def test_low_credit_learnt_while_sending(self):
        self.primary.write({'credit_low_threshold': 10.0, 'credit_balance': 100.0,
                            'credit_checked_at': fields.Datetime.now()})
        self.env.flush_all()
        self.primary._sms_router_apply_updates({'credit_balance': 2.0})
        alert = self.alerts('low_credit')
        self.assertEqual(len(alert), 1)
        self.assertIn('2.00 credit left', alert.message)
        self.primary._sms_router_apply_updates({'credit_balance': 1.0})
        self.assertEqual(len(self.alerts('low_credit')), 1)

    def test_raising_the_threshold_above_the_credit_alerts(self):
        self.primary._sms_router_store_credit({'credit_balance': 5.0})
        self.primary.credit_low_threshold = 10.0
        self.assertEqual(len(self.alerts('low_credit')), 1)
        self.primary.credit_low_threshold = 0.0
        self.assertEqual(self.alerts('low_credit').state, 'resolved')

    # ------------------------------------------------------------ SMS to review, SMS held

    def test_needs_review_alerts_once_per_batch_and_is_debounced(self):
        self.company_fr.sms_router_timeout_policy = 'at_most_once'
        self.primary.breaker_fail_max = 10  # ambiguous answers count as failures: keep it closed
        sms = self._send({self.primary: OutcomeKind.AMBIGUOUS, self.fallback: OutcomeKind.SENT}, count=3)
        self.assertEqual(set(sms.mapped('state')), {'error'})
        alert = self.alerts('needs_review')
        self.assertEqual(len(alert), 1)
        self.assertFalse(alert.account_id)
        self.assertEqual((alert.event_count, alert.sms_count), (1, 3))
        self.assertIn('3 SMS may have been sent', alert.message)
        self.assertNotifiedOnce(alert)
        attempts = self.env['sms.router.attempt'].search(alert.action_view_attempts()['domain'])
        self.assertEqual(set(attempts.mapped('sms_uuid')), set(sms.mapped('uuid')))
        self.assertEqual(self.env['sms.sms'].search(alert.action_view_sms()['domain']), sms)

        self._send({self.primary: OutcomeKind.AMBIGUOUS, self.fallback: OutcomeKind.SENT}, first=10)
        self.assertEqual(self.alerts('needs_review'), alert, 'debounced')
        self.assertEqual((alert.event_count, alert.sms_count), (2, 4))
        self.assertNotifiedOnce(alert)

        # Acknowledged, it is over: the next SMS to review are news.
        alert.action_acknowledge()
        self.assertFalse(alert.ongoing)
        self._send({self.primary: OutcomeKind.AMBIGUOUS, self.fallback: OutcomeKind.SENT}, first=20)
        new = self.alerts('needs_review') - alert
        self.assertEqual(len(new), 1)
        self.assertNotifiedOnce(new)

    def test_held_alerts_when_every_provider_is_down_and_resolves_when_none_is_held(self):
        self.company_fr.sms_router_max_hold_hours = 4
        down = {self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}
        sms = self._send(down, count=3)
        self.assertEqual(set(sms.mapped('state')), {'outgoing'})
        alert = self.alerts('held')
        self.assertEqual(len(alert), 1)
        self.assertEqual((alert.state, alert.sms_count), ('open', 3))
        self.assertIn('3 SMS wait in the queue', alert.message)
        self.assertNotifiedOnce(alert)
        self.assertEqual(self.env['sms.sms'].search(alert.action_view_sms()['domain']), sms)

        # Still down at the retry: the same alert counts it.
        sms.sms_router_hold_until = fields.Datetime.now() - timedelta(seconds=1)
        with self.mockRouterClients(down):
            self._router_process_queue()
        self.assertEqual(self.alerts('held'), alert)
        self.assertEqual(alert.event_count, 2)
        self.assertEqual(alert.state, 'open')
        self.assertNotifiedOnce(alert)

        # Back: the queue sends them and the alert is resolved.
        self.env['sms.sms'].browse(sms.ids).sms_router_hold_until = fields.Datetime.now() - timedelta(seconds=1)
        self.primary.action_reset_breaker()
        self.fallback.action_reset_breaker()
        with self.mockRouterClients({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}):
            self._router_process_queue()
        self.assertEqual(alert.state, 'resolved')
        self.assertFalse(self.activities(alert))

    def test_held_alert_resolved_by_the_queue_when_held_sms_are_gone(self):
        self.company_fr.sms_router_max_hold_hours = 4
        sms = self._send({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT})
        alert = self.alerts('held')
        sms.unlink()
        self._router_process_queue()
        self.assertEqual(alert.state, 'resolved')

    def test_a_batch_without_event_records_nothing(self):
        self._send({self.primary: OutcomeKind.SENT, self.fallback: OutcomeKind.SENT}, count=3)
        self.assertFalse(self.alerts())
        with patch.object(SmsRouterAlert, '_sms_router_raise') as raise_alert:
            self._send({self.primary: OutcomeKind.SENT}, first=10)
        raise_alert.assert_not_called()

    def test_an_alert_that_cannot_be_recorded_never_costs_an_sms(self):
        with patch.object(SmsRouterAlert, '_sms_router_record', side_effect=RuntimeError('boom')), \
                self.assertLogs(ALERT_LOGGER, 'ERROR') as logs:
            sms = self._send({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.SENT}, count=3)
        self.assertEqual(set(sms.mapped('state')), {'pending'})
        self.assertEqual(self.primary.breaker_state, 'open')
        self.assertIn('breaker_open alert of company', logs.output[0])
        self.assertFalse(self.alerts())

    # ------------------------------------------------------------ acknowledge, access

    def _open_alert(self, kind='breaker_open', company=None, account=None):
        alert_id = self.env['sms.router.alert']._sms_router_raise(
            kind, company or self.company_fr, 'Test alert', 'Something happened', account=account)
        return self.env['sms.router.alert'].browse(alert_id)

    def test_operator_acknowledges(self):
        alert = self._open_alert(account=self.primary)
        self.assertEqual(alert.state, 'open')
        self.assertEqual(len(self.activities(alert)), 1)
        alert.with_user(self.operator).action_acknowledge()
        self.env.invalidate_all()
        self.assertEqual(alert.state, 'acknowledged')
        self.assertEqual(alert.acknowledged_by_id, self.operator)
        self.assertTrue(alert.acknowledged_date)
        self.assertFalse(self.activities(alert), 'its To-Dos are done')
        self.assertTrue(alert.ongoing, 'a breaker alert gathers the events until the breaker closes')
        # The breaker keeps failing: counted, nobody notified again.
        again = self._open_alert(account=self.primary)
        self.assertEqual(again, alert)
        self.assertEqual(alert.event_count, 2)
        self.assertEqual(len(self.mails(alert)), 1)
        with self.assertRaises(AccessError):
            alert.with_user(self.operator).write({'state': 'resolved'})

    def test_operator_acknowledges_from_the_list(self):
        first = self._open_alert(kind='needs_review')
        second = self._open_alert(kind='held')
        (first | second).with_user(self.operator).action_acknowledge()
        self.assertEqual((first | second).mapped('state'), ['acknowledged', 'acknowledged'])

    def test_alerts_are_per_company(self):
        alert_fr = self._open_alert(account=self.primary)
        alert_gb = self._open_alert(kind='needs_review', company=self.company_gb)
        Alert = self.env['sms.router.alert']
        self.assertEqual(Alert.with_user(self.operator).search([]), alert_fr)
        self.assertEqual(Alert.with_user(self.operator_gb).search([]), alert_gb)
        with self.assertRaises(AccessError):
            alert_fr.with_user(self.operator_gb).action_acknowledge()
        with self.assertRaises(AccessError):
            alert_fr.with_user(self.employee).read(['name'])
        self.assertEqual(alert_fr.state, 'open')

    # ------------------------------------------------------------ channels, recipients

    def test_each_channel_only_when_chosen(self):
        self.company_fr.write({'sms_router_alert_activity': False, 'sms_router_alert_channel': False,
                               'sms_router_alert_email': False})
        alert = self._open_alert(account=self.primary)
        self.assertFalse(self.activities(alert) or self.channel_posts(alert) or self.mails(alert))
        for channel in ('activity', 'channel', 'email'):
            self.company_fr.write({'sms_router_alert_activity': channel == 'activity',
                                   'sms_router_alert_channel': channel == 'channel',
                                   'sms_router_alert_email': channel == 'email'})
            alert = self._open_alert(kind='needs_review')
            self.assertEqual(len(self.activities(alert)), int(channel == 'activity'), channel)
            self.assertEqual(len(self.channel_posts(alert)), int(channel == 'channel'), channel)
            self.assertEqual(len(self.mails(alert)), int(channel == 'email'), channel)
            alert.action_acknowledge()

    def test_channel_post_links_the_alert(self):
        alert = self._open_alert(account=self.primary)
        post = self.channel_posts(alert)
        self.assertTrue(self.links(post.body, alert))
        self.assertIn('Something happened', post.body)
        self.assertEqual(post.author_id, self.env.ref('base.partner_root'))
        self.assertIn('/mail/view?', self.mails(alert).body_html)

    def test_default_recipients_are_the_company_operators(self):
        self.company_fr.sms_router_alert_user_ids = False
        recipients = self.company_fr._sms_router_alert_recipients()
        self.assertIn(self.operator, recipients)
        self.assertNotIn(self.operator_gb, recipients, 'not allowed in the company')
        self.assertNotIn(self.employee, recipients, 'not an operator')
        # A chosen user who is not an operator of the company is left out.
        self.company_fr.sms_router_alert_user_ids = self.operator | self.employee | self.operator_gb
        self.assertEqual(self.company_fr._sms_router_alert_recipients(), self.operator)

    def test_a_failing_channel_does_not_silence_the_others(self):
        with patch.object(SmsRouterAlert, '_sms_router_notify_channel', side_effect=RuntimeError('down')), \
                self.assertLogs(ALERT_LOGGER, 'ERROR'):
            alert = self._open_alert(account=self.primary)
        self.assertEqual(len(self.activities(alert)), 1)
        self.assertEqual(len(self.mails(alert)), 1)
        self.assertFalse(self.channel_posts(alert))

    def test_concurrent_creation_counts_on_the_existing_alert(self):
        """A worker whose insert hits the partial unique index (another worker created the
        alert meanwhile) counts its event on that alert and notifies nobody."""
        alert = self._open_alert(account=self.primary)
        Alert = self.registry['sms.router.alert']
        real_execute = type(self.env.cr).execute
        calls = []

        def skip_first_update(cr, query, *args, **kwargs):
            # The first UPDATE finds nothing, as if the other worker had not committed yet.
            if 'UPDATE sms_router_alert' in str(query) and not calls:
                calls.append(query)
                return real_execute(cr, 'SELECT 1 WHERE FALSE')
            return real_execute(cr, query, *args, **kwargs)

        with patch.object(type(self.env.cr), 'execute', skip_first_update), \
                patch.object(Alert, '_sms_router_notify') as notify, mute_logger('odoo.sql_db'):
            again = self._open_alert(account=self.primary)
        self.assertEqual(calls and again, alert)
        notify.assert_not_called()
        self.assertEqual(alert.event_count, 2)

    def test_overview_card_counts_the_open_alerts(self):
        alert = self._open_alert(account=self.primary)
        self.env.invalidate_all()
        self.assertEqual(self.primary.overview_alert_count, 1)
        self.assertEqual(self.fallback.overview_alert_count, 0)
        action = self.primary.action_sms_router_overview_alerts()
        self.assertEqual(self.env['sms.router.alert'].search(action['domain']), alert)
        alert.action_acknowledge()
        self.env.invalidate_all()
        self.assertEqual(self.primary.overview_alert_count, 0, 'acknowledged: not counted')
