import responses

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.sms_router.controllers.webhook import REFUSAL_BODY, REFUSAL_STATUS
from odoo.addons.sms_router.tests.common import route_requests_through_responses

from ..tools.twilio_signature import compute_signature
from .common import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE, TwilioRouterCase

FR_NUMBER = '+33612345678'
CONTROLLER_LOGGER = 'odoo.addons.sms_router_twilio.controllers.main'


@tagged('post_install', '-at_install', 'sms_router_twilio')
@route_requests_through_responses
class TestTwilioWebhooks(TwilioRouterCase):
    """Delivery reports and inbound SMS, signed as Twilio signs them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.partner = cls.env['res.partner'].create({
            'name': 'Camille Client', 'phone': FR_NUMBER, 'company_id': cls.company_fr.id,
            'country_id': cls.env.ref('base.fr').id})

    def setUp(self):
        super().setUp()
        self.twilio = self._twilio_account(self.company_fr, 'Twilio FR')
        self._router_route(self.company_fr, self.twilio)

    def _send_to_partner(self):
        """Post an SMS on the partner (notification + tracker) and send it through Twilio."""
        with responses.RequestsMock() as rsps:
            self._twilio_accepts(rsps)
            self.partner._message_sms('Your parcel is on its way', partner_ids=self.partner.ids)
        attempt = self.env['sms.router.attempt'].search([('account_id', '=', self.twilio.id)], limit=1)
        self.assertTrue(attempt.accepted)
        notification = self.env['sms.tracker'].search([('sms_uuid', '=', attempt.sms_uuid)]).mail_notification_id
        self.assertEqual(notification.notification_status, 'pending')
        return attempt, notification

    def _report(self, attempt, status, sms_uuid=None, **extra):
        return {'MessageSid': attempt.message_id, 'SmsSid': attempt.message_id, 'AccountSid': ACCOUNT_SID,
                'MessageStatus': status, 'SmsStatus': status, 'From': '+33757000001', 'To': FR_NUMBER,
                'ApiVersion': '2010-04-01', **extra}

    # ------------------------------------------------------------ delivery reports

    def test_delivered(self):
        attempt, notification = self._send_to_partner()
        response = self._post_signed(self.twilio, self._status_path(self.twilio, attempt.sms_uuid),
                                     self._report(attempt, 'delivered'))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'sent')
        self.assertEqual(attempt.delivery_state, 'delivered')

    def test_intermediate_statuses_change_nothing(self):
        attempt, notification = self._send_to_partner()
        for status in ('queued', 'sending', 'sent', 'accepted'):
            response = self._post_signed(self.twilio, self._status_path(self.twilio, attempt.sms_uuid),
                                         self._report(attempt, status))
            self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'pending')
        self.assertEqual(attempt.delivery_state, 'pending')

    def test_undelivered_error_codes_map_to_tracker_errors(self):
        cases = [
            ('undelivered', '30003', 'sms_invalid_destination', 'bounce'),
            ('undelivered', '30005', 'sms_invalid_destination', 'bounce'),
            ('failed', '30007', 'sms_rejected', 'bounce'),
            ('undelivered', '30006', 'sms_not_allowed', 'bounce'),
            ('undelivered', '30008', 'sms_not_delivered', 'exception'),
            ('failed', '30002', 'sms_expired', 'exception'),
            ('undelivered', '30999', 'sms_not_delivered', 'exception'),
            ('failed', '', 'sms_not_delivered', 'exception'),
        ]
        for status, code, failure_type, notification_status in cases:
            with self.subTest(code=code):
                attempt, notification = self._send_to_partner()
                response = self._post_signed(self.twilio, self._status_path(self.twilio, attempt.sms_uuid),
                                             self._report(attempt, status, ErrorCode=code,
                                                          ErrorMessage='Carrier said no'))
                self.assertEqual(response.status_code, 200)
                self.assertEqual(notification.notification_status, notification_status)
                self.assertEqual(notification.failure_type, failure_type)
                self.assertEqual(attempt.delivery_state, 'undelivered')
                if code:
                    self.assertIn(code, attempt.delivery_reason)

    def test_asynchronous_opt_out_is_blacklisted(self):
        """With a Messaging Service, Twilio reports an unsubscribed recipient as 'failed' 21610."""
        attempt, notification = self._send_to_partner()
        self._post_signed(self.twilio, self._status_path(self.twilio, attempt.sms_uuid),
                          self._report(attempt, 'failed', ErrorCode='21610'))
        self.assertEqual(notification.notification_status, 'bounce')
        self.assertTrue(self.env['phone.blacklist'].search([('number', '=', FR_NUMBER)]))

    def test_replayed_opt_out_does_not_undo_a_later_opt_in(self):
        """Twilio's signature carries no timestamp: a captured 21610 callback stays valid.
        Replayed after the recipient opted in again, it must not blacklist them again."""
        attempt, notification = self._send_to_partner()
        path = self._status_path(self.twilio, attempt.sms_uuid)
        report = self._report(attempt, 'failed', ErrorCode='21610')
        self._post_signed(self.twilio, path, report)
        self.assertTrue(self._blacklisted())
        self._inbound('START')
        self.assertFalse(self._blacklisted())
        response = self._post_signed(self.twilio, path, report)
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self._blacklisted(), 'the opt-out of an SMS is applied once')

    def test_early_opt_out_is_applied_with_its_parked_report(self):
        attempt, notification = self._send_to_partner()
        early_sid = 'SM' + 'b' * 32
        params = dict(self._report(attempt, 'failed', ErrorCode='21610'), MessageSid=early_sid, SmsSid=early_sid)
        self._post_signed(self.twilio, self._status_path(self.twilio, attempt.sms_uuid), params)
        self.assertFalse(self._blacklisted(), 'applied with its report, once its SMS is recorded')
        attempt.sudo().message_id = early_sid
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertTrue(self._blacklisted())
        self.assertEqual(notification.notification_status, 'bounce')

    def test_unknown_parameters_are_part_of_the_signature(self):
        attempt, notification = self._send_to_partner()
        params = self._report(attempt, 'delivered', RawDlrDoneDate='2504241615', ChannelPrefix='sms',
                              SomethingNew='added by Twilio without notice')
        path = self._status_path(self.twilio, attempt.sms_uuid)
        known_only = {name: value for name, value in params.items() if name != 'SomethingNew'}
        with mute_logger(CONTROLLER_LOGGER):
            response = self._post_signed(self.twilio, path, params,
                                         signature=compute_signature(AUTH_TOKEN, PUBLIC_BASE + path, known_only))
        self.assertEqual(response.status_code, 403, 'a signature that skips a received field is refused')
        self.assertEqual(notification.notification_status, 'pending')
        response = self._post_signed(self.twilio, path, params)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'sent')

    def test_invalid_signatures_are_refused_and_logged(self):
        attempt, notification = self._send_to_partner()
        path = self._status_path(self.twilio, attempt.sms_uuid)
        params = self._report(attempt, 'undelivered', ErrorCode='30003')
        refusal = (REFUSAL_STATUS, REFUSAL_BODY)
        for label, kwargs in [
            ('wrong token', {'token': 'f' * 32}),
            ('garbage', {'signature': 'bm90IGEgc2lnbmF0dXJl'}),
            ('other host', {'base': 'https://attacker.example.com'}),
        ]:
            with self.subTest(label), self.assertLogs(CONTROLLER_LOGGER, level='WARNING') as logs:
                response = self._post_signed(self.twilio, path, params, **kwargs)
                self.assertEqual((response.status_code, response.text), refusal)
                self.assertNotIn(AUTH_TOKEN, '\n'.join(logs.output))
        with self.assertLogs(CONTROLLER_LOGGER, level='WARNING'):
            response = self.url_open(path, data=params)
        self.assertEqual((response.status_code, response.text), refusal, 'no signature at all')
        # The same answer whether the account id exists or not, is Twilio's or not.
        not_twilio = self._router_account(self.company_fr, 'IAP FR', provider='iap')
        for account_id in (self.twilio.id + 1000, not_twilio.id):
            with self.subTest(account_id=account_id), self.assertLogs(CONTROLLER_LOGGER, level='WARNING'):
                response = self._post_signed(self.twilio, path.replace(f'/{self.twilio.id}/', f'/{account_id}/'),
                                             params)
                self.assertEqual((response.status_code, response.text), refusal)
        self.assertEqual(notification.notification_status, 'pending')
        self.assertEqual(attempt.delivery_state, 'pending')

    def test_public_base_url_behind_a_proxy(self):
        self.twilio.public_base_url = 'https://proxy.example.com/odoo'
        attempt, notification = self._send_to_partner()
        path = self._status_path(self.twilio, attempt.sms_uuid)
        params = self._report(attempt, 'delivered')
        signature = compute_signature(AUTH_TOKEN, 'https://proxy.example.com/odoo' + path, params)
        response = self.url_open(path, data=params, headers={'X-Twilio-Signature': signature})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'sent')

    def test_database_base_url_by_default(self):
        self.twilio.public_base_url = False
        attempt, notification = self._send_to_partner()
        path = self._status_path(self.twilio, attempt.sms_uuid)
        base = self.company_fr.get_base_url().rstrip('/')
        response = self._post_signed(self.twilio, path, self._report(attempt, 'delivered'), base=base)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'sent')

    def test_report_for_another_sms_is_ignored(self):
        attempt, notification = self._send_to_partner()
        other_uuid = 'f' * 32
        with self.assertLogs(CONTROLLER_LOGGER, level='WARNING'):
            response = self._post_signed(self.twilio, self._status_path(self.twilio, other_uuid),
                                         self._report(attempt, 'undelivered', ErrorCode='30003'))
        self.assertEqual(response.status_code, 404)
        self.assertEqual(notification.notification_status, 'pending')
        self.assertEqual(attempt.delivery_state, 'pending')

    def test_report_for_an_unknown_message_is_acknowledged(self):
        attempt, notification = self._send_to_partner()
        params = dict(self._report(attempt, 'delivered'), MessageSid='SM' + 'e' * 32, SmsSid='SM' + 'e' * 32)
        response = self._post_signed(self.twilio, self._status_path(self.twilio, attempt.sms_uuid), params)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'pending')

    def test_report_before_its_attempt_is_committed_is_parked_then_applied(self):
        """Twilio can report before the sending transaction commits its attempts: the report
        is parked, and the scheduled action applies it once the attempt exists."""
        attempt, notification = self._send_to_partner()
        early_sid = 'SM' + 'a' * 32
        params = dict(self._report(attempt, 'delivered'), MessageSid=early_sid, SmsSid=early_sid)
        response = self._post_signed(self.twilio, self._status_path(self.twilio, attempt.sms_uuid), params)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(notification.notification_status, 'pending')
        parked = self.env['sms.router.parked.report'].search([('message_id', '=', early_sid)])
        self.assertEqual((parked.account_id, parked.sms_uuid, parked.delivered), (self.twilio, attempt.sms_uuid, True))
        attempt.sudo().message_id = early_sid  # the attempt of that SMS, now committed
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertEqual(attempt.delivery_state, 'delivered')
        self.assertEqual(notification.notification_status, 'sent')

    # ------------------------------------------------------------ inbound SMS

    def _inbound(self, body, sender=FR_NUMBER, **kwargs):
        params = {'MessageSid': 'SM' + 'd' * 32, 'AccountSid': ACCOUNT_SID, 'From': sender,
                  'To': '+33757000001', 'Body': body, 'NumMedia': '0', 'FromCountry': 'FR'}
        return self._post_signed(self.twilio, self._inbound_path(self.twilio), params, **kwargs)

    def _blacklisted(self, number=FR_NUMBER):
        return bool(self.env['phone.blacklist'].search([('number', '=', number)]))

    def test_stop_keywords_blacklist_the_number(self):
        for keyword in ('STOP', 'stop', ' Stop. ', 'STOPALL', 'Unsubscribe', 'CANCEL', 'END', 'QUIT', 'ARRET',
                        'Arrêt'):
            with self.subTest(keyword=keyword):
                response = self._inbound(keyword)
                self.assertEqual(response.status_code, 200)
                self.assertTrue(response.headers['Content-Type'].startswith('text/xml'))
                self.assertIn('<Response/>', response.text)
                self.assertTrue(self._blacklisted(), f'{keyword!r} opts out')
                self.env['phone.blacklist'].search([('number', '=', FR_NUMBER)]).unlink()

    def test_start_removes_the_number_from_the_blacklist(self):
        self.env['phone.blacklist']._add([FR_NUMBER])
        for keyword in ('START', 'unstop'):
            with self.subTest(keyword=keyword):
                self.env['phone.blacklist']._add([FR_NUMBER])
                self._inbound(keyword)
                self.assertFalse(self._blacklisted(), f'{keyword!r} opts in again')

    def test_reply_is_logged_on_the_partner(self):
        self._inbound('STOP')
        self._inbound('Please call me back tomorrow')
        self.assertTrue(self._blacklisted())
        bodies = self.partner.message_ids.mapped('body')
        self.assertTrue(any('Please call me back tomorrow' in body for body in bodies), bodies)
        self.assertTrue(any('STOP' in body for body in bodies))
        self.assertEqual(self.partner.message_ids[0].author_id, self.partner)

    def test_other_messages_do_not_opt_out(self):
        for body in ('Do not stop sending me offers', 'STOP IT NOW PLEASE', ''):
            self._inbound(body)
        self.assertFalse(self._blacklisted())

    def test_unsigned_inbound_is_refused(self):
        with self.assertLogs(CONTROLLER_LOGGER, level='WARNING'):
            response = self._inbound('STOP', token='0' * 32)
        self.assertEqual((response.status_code, response.text), (REFUSAL_STATUS, REFUSAL_BODY))
        self.assertFalse(self._blacklisted())
        self.assertFalse(self.partner.message_ids.filtered(lambda m: 'STOP' in (m.body or '')))
