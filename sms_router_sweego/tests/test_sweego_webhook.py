import time
from datetime import timedelta

import responses

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

from odoo.addons.sms_router.controllers.webhook import REFUSAL_BODY, REFUSAL_STATUS
from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import (
    FR_NUMBER, SEND_URL, WEBHOOK_SECRET, SweegoCase, accepted, event_body, signed_headers,
    sweego_event,
)

CONTROLLER_LOGGER = 'odoo.addons.sms_router_sweego.controllers.webhook'
OTHER_SECRET = 'whsec_' + 'b3RoZXItc2VjcmV0LW9mLWFub3RoZXItYWNjb3VudA=='


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
        cases = {
            'other secret': signed_headers(body, secret=OTHER_SECRET, webhook_id=event['event_id']),
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
                self.assertEqual((response.status_code, response.text), (REFUSAL_STATUS, REFUSAL_BODY))
                self.assertFalse([line for line in logs.output if WEBHOOK_SECRET in line])
        self.assertEqual(notification.notification_status, 'pending')
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertFalse(self._events())

    def test_unknown_account_or_account_without_secret_is_refused_as_a_bad_signature(self):
        """The answer does not tell an account id that exists from one that does not."""
        body = event_body(sweego_event('sms_stop'))
        no_secret = self._sweego_account(self.company_fr, 'Sweego without secret',
                                         sweego_webhook_secret=False)
        with self.assertLogs(CONTROLLER_LOGGER, 'WARNING'):
            bad_signature = self._post(body, signed_headers(body, secret=OTHER_SECRET))
        for account in (self.fallback, no_secret):
            with self.subTest(account.name), self.assertLogs(CONTROLLER_LOGGER, 'WARNING'):
                response = self._post(body, signed_headers(body), account=account)
                self.assertEqual((response.status_code, response.text),
                                 (bad_signature.status_code, bad_signature.text))
        with self.assertLogs(CONTROLLER_LOGGER, 'WARNING'):
            self.env.flush_all()
            response = self.url_open('/sms_router_sweego/webhook/999999', data=body,
                                     headers=signed_headers(body))
        self.assertEqual((response.status_code, response.text), (REFUSAL_STATUS, REFUSAL_BODY))
        self.assertEqual((bad_signature.status_code, bad_signature.text), (REFUSAL_STATUS, REFUSAL_BODY))
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

    def test_report_before_its_sms_is_recorded_is_parked_then_applied(self):
        """Sweego can report before the sending transaction commits: the event goes to the
        router's parked reports, whose scheduled action applies it once the attempt exists."""
        notification, attempt = self._send_notification_sms()
        response = self._post_event(sweego_event('sms_undelivered', swg_uid='03-uid-early'))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._events().state, 'parked')
        parked = self.env['sms.router.parked.report'].search([('message_id', '=', '03-uid-early')])
        self.assertEqual((parked.account_id, parked.delivered), (self.sweego, False))
        attempt.message_id = '03-uid-early'   # the attempt Sweego reported on, now committed
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertEqual(notification.notification_status, 'exception')


@tagged('post_install', '-at_install', 'sms_router_sweego')
class TestSweegoEvents(SweegoCase):
    """The event store without HTTP: ordering, parked reports, retention."""

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

    def _parked(self, swg_uid):
        return self.env['sms.router.parked.report'].search(
            [('account_id', '=', self.sweego.id), ('message_id', '=', swg_uid)])

    def test_report_arriving_before_its_sms_is_recorded_is_parked(self):
        """Sweego's events use the router's one path for early reports: parked, and applied
        by its scheduled action (triggered by the parking), not by a Sweego-only hook."""
        cron = self.env.ref('sms_router.ir_cron_sms_router_parked_reports')
        triggers = self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)])
        event = self._receive(sweego_event('sms_sent', swg_uid='03-early'))
        self.assertEqual(event.state, 'parked')
        parked = self._parked('03-early')
        self.assertEqual((parked.delivered, parked.tentative), (True, True))
        self.assertTrue(self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)]) - triggers)
        attempt = self._attempt('03-early')
        self.assertEqual(attempt.delivery_state, 'pending', 'applied by the scheduled action only')
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_parked_sent_does_not_override_a_later_undelivered(self):
        """sms_sent is not a receipt: parked before its SMS was recorded and applied after an
        sms_undelivered, it leaves the SMS undelivered."""
        self._receive(sweego_event('sms_sent', swg_uid='03-out-of-order'))
        attempt = self._attempt('03-out-of-order')
        undelivered = self._receive(sweego_event('sms_undelivered', swg_uid='03-out-of-order'))
        self.assertEqual(undelivered.state, 'applied')
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertFalse(self._parked('03-out-of-order'))
        self.assertEqual(attempt.delivery_state, 'undelivered')

    def test_delivery_event_without_sweego_id_is_ignored(self):
        event = self._receive(sweego_event('sms_sent', swg_uid=None))
        self.assertEqual(event.state, 'ignored')
        self.assertFalse(self.env['sms.router.parked.report'].search([('account_id', '=', self.sweego.id)]))

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

    def test_autovacuum_forgets_old_events(self):
        old = self._receive(sweego_event('sms_clicked'))
        recent = self._receive(sweego_event('sms_clicked'))
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE sms_router_sweego_event SET create_date = %s WHERE id = %s",
                                fields.Datetime.now() - timedelta(days=31), old.id))
        self.env.invalidate_all()
        self.env['sms.router.sweego.event']._gc_sweego_events()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())
