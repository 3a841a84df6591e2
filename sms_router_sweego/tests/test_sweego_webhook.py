import time
from datetime import timedelta

import responses

from odoo import fields
from odoo.tests import HttpCase, tagged

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import (
    FR_NUMBER, SEND_URL, WEBHOOK_SECRET, SweegoCase, accepted, event_body, signed_headers,
    sweego_event,
)

CONTROLLER_LOGGER = 'odoo.addons.sms_router_sweego.controllers.webhook'


@tagged('post_install', '-at_install', 'sms_router_sweego')
@route_requests_through_responses
class TestSweegoWebhook(SweegoCase, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env['res.partner'].create({
            'name': 'Jeanne Client', 'phone': FR_NUMBER, 'company_id': cls.company_fr.id})

    def _send_notification_sms(self):
        """Post an SMS on the partner through Sweego; return its notification and attempt."""
        with self.mockSweego() as mock:
            mock.add(responses.POST, SEND_URL, status=200, json=accepted({FR_NUMBER: '03-uid-fr'}))
            message = self.partner._message_sms('Your parcel is on its way',
                                                partner_ids=self.partner.ids)
        self.assertEqual(len(mock.calls), 1)
        notification = message.notification_ids
        self.assertEqual(notification.notification_status, 'pending')
        attempt = self.env['sms.router.attempt'].search([('message_id', '=', '03-uid-fr')])
        self.assertEqual(attempt.account_id, self.sweego)
        return notification, attempt

    def _post(self, body, headers, account=None):
        self.env.flush_all()
        response = self.url_open(f'/sms_router_sweego/webhook/{(account or self.sweego).id}',
                                 data=body, headers=headers)
        self.env.invalidate_all()
        return response

    def _events(self):
        return self.env['sms.router.sweego.event'].search([('account_id', '=', self.sweego.id)])

    def _post_event(self, event, **kwargs):
        body = event_body(event)
        return self._post(body, signed_headers(body, webhook_id=event['event_id'], **kwargs))

    # ------------------------------------------------------------ delivery reports

    def test_sent_then_undelivered_update_the_notification(self):
        notification, attempt = self._send_notification_sms()

        response = self._post_event(sweego_event('sms_sent'))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'sent')
        self.assertEqual(attempt.delivery_state, 'delivered')

        response = self._post_event(sweego_event('sms_undelivered', status='undelivered'))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'exception')
        self.assertEqual(notification.failure_type, 'sms_not_delivered')
        self.assertEqual(notification.failure_reason, 'Sweego: undelivered')
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertEqual(attempt.delivery_reason, 'Sweego: undelivered')

    def test_late_sent_does_not_override_undelivered(self):
        notification, attempt = self._send_notification_sms()
        self._post_event(sweego_event('sms_undelivered'))
        self._post_event(sweego_event('sms_sent'))
        self.assertEqual(notification.notification_status, 'exception')
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertEqual(self._events().filtered(lambda e: e.event_type == 'sms_sent').state,
                         'ignored')

    def test_replayed_event_is_ignored(self):
        notification, attempt = self._send_notification_sms()
        event = sweego_event('sms_undelivered')
        self.assertEqual(self._post_event(event).status_code, 200)
        self.assertEqual(notification.notification_status, 'exception')
        # Put things back, then replay the same event (freshly signed, as a retry would be).
        notification.write(
            {'notification_status': 'pending', 'failure_type': False, 'failure_reason': False})
        attempt.write({'delivery_state': 'pending'})
        response = self._post_event(event)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.text, 'Already received')
        self.assertEqual(notification.notification_status, 'pending')
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertEqual(self.env['sms.router.sweego.event'].search_count(
            [('event_id', '=', event['event_id'])]), 1)

    # ------------------------------------------------------------ authenticity

    def test_bad_or_missing_signature_is_refused_and_changes_nothing(self):
        notification, attempt = self._send_notification_sms()
        event = sweego_event('sms_undelivered')
        body = event_body(event)
        other_secret = 'whsec_' + 'b3RoZXItc2VjcmV0LW9mLWFub3RoZXItYWNjb3VudA=='
        cases = {
            'other secret': signed_headers(body, secret=other_secret, webhook_id=event['event_id']),
            'tampered body': signed_headers(b'{"event_type": "sms_sent"}',
                                            webhook_id=event['event_id']),
            'stale timestamp': signed_headers(body, webhook_id=event['event_id'],
                                              timestamp=int(time.time()) - 3600),
            'no signature': {'Content-Type': 'application/json', 'webhook-id': event['event_id'],
                             'webhook-timestamp': str(int(time.time()))},
        }
        for name, headers in cases.items():
            with self.subTest(name), self.assertLogs(CONTROLLER_LOGGER, 'WARNING') as logs:
                response = self._post(body, headers)
                self.assertEqual(response.status_code, 403)
                self.assertFalse([line for line in logs.output if WEBHOOK_SECRET in line])
        self.assertEqual(notification.notification_status, 'pending')
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertFalse(self._events())

    def test_unknown_account_or_account_without_secret_is_not_found(self):
        body = event_body(sweego_event('sms_stop'))
        no_secret = self._sweego_account(self.company_fr, 'Sweego without secret',
                                         sweego_webhook_secret=False)
        for account in (self.fallback, no_secret):
            with self.subTest(account.name), self.assertLogs(CONTROLLER_LOGGER, 'WARNING'):
                response = self._post(body, signed_headers(body), account=account)
                self.assertEqual(response.status_code, 404)
        with self.assertLogs(CONTROLLER_LOGGER, 'WARNING'):
            self.env.flush_all()
            response = self.url_open('/sms_router_sweego/webhook/999999', data=body,
                                     headers=signed_headers(body))
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.env['phone.blacklist'].search([('number', '=', FR_NUMBER)]))

    # ------------------------------------------------------------ opt-outs

    def test_stop_reply_blacklists_the_number(self):
        self.assertFalse(self.env['phone.blacklist'].search([('number', '=', FR_NUMBER)]))
        response = self._post_event(
            sweego_event('sms_stop', swg_uid='03-unknown', phone_number='0033612345678'))
        self.assertEqual(response.status_code, 200)
        entry = self.env['phone.blacklist'].search([('number', '=', FR_NUMBER)])
        self.assertTrue(entry.active)
        self.assertEqual(self._events().state, 'applied')

    def test_clicks_are_recorded_and_ignored(self):
        response = self._post_event(sweego_event('sms_clicked'))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._events().state, 'ignored')

    def test_signed_garbage_is_a_bad_request(self):
        body = b'not json'
        with self.assertLogs(CONTROLLER_LOGGER, 'WARNING'):
            self.assertEqual(self._post(body, signed_headers(body)).status_code, 400)


@tagged('post_install', '-at_install', 'sms_router_sweego')
class TestSweegoEvents(SweegoCase):
    """The event store without HTTP: ordering, waiting events, retention."""

    def _receive(self, event):
        from ..tools.sweego_webhook import parse_event
        return self.env['sms.router.sweego.event']._sweego_receive(
            self.sweego, parse_event(event_body(event)), event['event_id'])

    def _attempt(self, message_id, sms_uuid='0' * 32):
        return self.env['sms.router.attempt'].create({
            'sms_uuid': sms_uuid, 'company_id': self.company_fr.id, 'account_id': self.sweego.id,
            'account_name': self.sweego.name, 'sms_provider': 'sweego', 'number': FR_NUMBER,
            'step': 1,
            'outcome': 'sent', 'accepted': True, 'final': True, 'message_id': message_id,
            'delivery_state': 'pending'})

    def test_report_arriving_before_its_sms_is_recorded_waits_for_it(self):
        event = self._receive(sweego_event('sms_sent', swg_uid='03-early'))
        self.assertEqual(event.state, 'waiting')
        attempt = self._attempt('03-early')
        self.assertEqual(event.state, 'applied')
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_duplicate_is_not_applied_twice(self):
        event = sweego_event('sms_stop')
        self.assertTrue(self._receive(event))
        self.assertFalse(self._receive(event))

    def test_same_event_id_on_two_accounts_is_two_events(self):
        other = self._sweego_account(self.company_fr, 'Sweego FR 2')
        from ..tools.sweego_webhook import parse_event
        event = sweego_event('sms_stop')
        parsed = parse_event(event_body(event))
        Event = self.env['sms.router.sweego.event']
        self.assertTrue(Event._sweego_receive(self.sweego, parsed, event['event_id']))
        self.assertTrue(Event._sweego_receive(other, parsed, event['event_id']))

    def test_router_scheduled_action_applies_waiting_events(self):
        """An event that beat the commit of its attempt is applied within minutes by the
        router's scheduled action for early reports, not only by the daily autovacuum."""
        waiting = self._receive(sweego_event('sms_sent', swg_uid='03-beat-commit'))
        attempt = self._attempt('03-other-id')
        # The attempt becomes visible without going through create (committed by the
        # sending worker while the event waited).
        self.env.flush_all()
        self.env.cr.execute("UPDATE sms_router_attempt SET message_id = '03-beat-commit' WHERE id = %s",
                            [attempt.id])
        self.env.invalidate_all()
        self.assertEqual(waiting.state, 'waiting')
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertEqual(waiting.state, 'applied')
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_autovacuum_retries_waiting_events_and_forgets_old_ones(self):
        old = self._receive(sweego_event('sms_clicked'))
        waiting = self._receive(sweego_event('sms_undelivered', swg_uid='03-late'))
        self.env.flush_all()
        self.env.cr.execute("UPDATE sms_router_sweego_event SET create_date = %s WHERE id = %s",
                            [fields.Datetime.now() - timedelta(days=31), old.id])
        # The attempt appears without going through create (e.g. committed by another worker
        # while the event waited): the autovacuum applies the event anyway.
        attempt = self._attempt('03-other')
        self.env.cr.execute("UPDATE sms_router_attempt SET message_id = '03-late' WHERE id = %s",
                            [attempt.id])
        self.env.invalidate_all()
        self.env['sms.router.sweego.event']._gc_sweego_events()
        self.assertFalse(old.exists())
        self.assertEqual(waiting.state, 'applied')
        self.assertEqual(attempt.delivery_state, 'undelivered')
