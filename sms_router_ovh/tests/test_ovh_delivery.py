import logging
from datetime import timedelta

import responses

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from odoo.addons.sms_router.controllers.webhook import REFUSAL_BODY, REFUSAL_STATUS
from odoo.addons.sms_router_ovh.controllers.main import _redact_callback_token
from .common import BASE, SERVICE, SmsRouterOvhCase, job_answer

CONTROLLER_LOGGER = 'odoo.addons.sms_router_ovh.controllers.main'


@tagged('post_install', '-at_install', 'sms_router', 'sms_router_ovh')
class TestOvhDelivery(SmsRouterOvhCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.route = cls._router_route(cls, cls.company_fr, cls.ovh, prefixes='+33')
        cls.patient = cls.env['res.partner'].create({
            'name': 'Patient', 'phone': '+33612345678', 'company_id': cls.company_fr.id})

    def _send_notified_sms(self, ids=(101,)):
        """Post an SMS on a partner (notification + sms.tracker) and send it through OVH."""
        with self.mockOvhApi():
            self.addJob(payload=job_answer(['+33612345678'], ids=list(ids)))
            self.patient._message_sms('Your appointment is tomorrow', partner_ids=self.patient.ids)
        sms = self.env['sms.sms'].sudo().search(
            [('partner_id', '=', self.patient.id)], order='id desc', limit=1)
        notification = self.env['mail.notification'].sudo().search(
            [('res_partner_id', '=', self.patient.id), ('notification_type', '=', 'sms')],
            order='id desc', limit=1)
        attempt = self._router_attempts(sms)
        self.assertEqual(attempt.message_id, str(ids[0]))
        self.assertEqual(notification.notification_status, 'pending')
        return sms, notification, attempt

    def _callback_url(self, account=None, token=None, query=''):
        account = account or self.ovh
        return f'/sms_router_ovh/callback/{account.id}/{token or account.ovh_callback_token}{query}'

    # ------------------------------------------------------------ callback

    def test_callback_url_and_token(self):
        self.assertTrue(self.ovh.ovh_callback_token)
        self.assertGreaterEqual(len(self.ovh.ovh_callback_token), 40)
        self.assertEqual(self.ovh._sms_router_webhook_paths(), {
            'delivery_report': f'/sms_router_ovh/callback/{self.ovh.id}/{self.ovh.ovh_callback_token}',
            'inbound': False})
        self.assertTrue(self.ovh.delivery_report_url.endswith(
            f'/sms_router_ovh/callback/{self.ovh.id}/{self.ovh.ovh_callback_token}'))
        self.assertFalse(self.ovh.inbound_url)
        self.assertIn('OVH manager', self.ovh.webhook_help)
        other = self._router_account(self.company_fr, 'OVH 2', provider='ovh')
        self.assertNotEqual(other.ovh_callback_token, self.ovh.ovh_callback_token)
        self.assertFalse(self.primary.ovh_callback_token)
        self.assertFalse(self.primary.delivery_report_url)
        self.primary.sms_provider = 'ovh'
        self.assertTrue(self.primary.ovh_callback_token)
        self.assertTrue(self.primary.delivery_report_url.endswith(self.primary.ovh_callback_token))
        old = self.ovh.ovh_callback_token
        self.ovh.action_ovh_regenerate_callback_token()
        self.assertNotEqual(self.ovh.ovh_callback_token, old)
        self.assertTrue(self.ovh.delivery_report_url.endswith(f'/{self.ovh.ovh_callback_token}'),
                        'a new token is a new URL')
        self.ovh.public_base_url = 'https://odoo.example.com'
        self.assertEqual(self.ovh.delivery_report_url,
                         f'https://odoo.example.com/sms_router_ovh/callback/{self.ovh.id}/{self.ovh.ovh_callback_token}')

    @mute_logger(CONTROLLER_LOGGER)
    def test_callback_delivered(self):
        sms, notification, attempt = self._send_notified_sms()
        response = self.url_open(
            self._callback_url(query='?id=101&dlr=1&ptt=13&receiver=%2B33612345678'))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(attempt.delivery_state, 'delivered')
        self.assertTrue(attempt.delivery_date)
        self.assertEqual(notification.notification_status, 'sent')
        self.assertTrue(sms.to_delete)

    @mute_logger(CONTROLLER_LOGGER)
    def test_callback_rejected_by_post(self):
        sms, notification, attempt = self._send_notified_sms()
        response = self.url_open(self._callback_url(), data={'smsId': '101', 'dlr': '16'})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertIn('rejected', attempt.delivery_reason)
        self.assertEqual(notification.notification_status, 'bounce')
        self.assertEqual(notification.failure_type, 'sms_rejected')

    @mute_logger(CONTROLLER_LOGGER)
    def test_callback_intermediate_state_changes_nothing(self):
        sms, notification, attempt = self._send_notified_sms()
        response = self.url_open(self._callback_url(query='?id=101&dlr=8'))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertEqual(notification.notification_status, 'pending')

    def test_callback_bad_token(self):
        sms, notification, attempt = self._send_notified_sms()
        other = self._router_account(self.company_fr, 'OVH 2', provider='ovh')
        with self.assertLogs(CONTROLLER_LOGGER, level='WARNING') as logs:
            for url in (
                self._callback_url(token='x' * 43, query='?id=101&dlr=1'),
                # another account's token
                self._callback_url(token=other.ovh_callback_token, query='?id=101&dlr=1'),
                f'/sms_router_ovh/callback/{self.primary.id}/anything?id=101&dlr=1',  # not OVH
                f'/sms_router_ovh/callback/999999999/{self.ovh.ovh_callback_token}?id=101&dlr=1',
            ):
                # One answer whatever the cause, as every router webhook: account ids cannot
                # be told apart.
                response = self.url_open(url)
                self.assertEqual((response.status_code, response.text), (REFUSAL_STATUS, REFUSAL_BODY), url)
        self.assertEqual(len(logs.records), 4)
        for record in logs.records:
            self.assertNotIn(self.ovh.ovh_callback_token, record.getMessage())
        self.assertEqual(attempt.delivery_state, 'pending')
        self.assertEqual(notification.notification_status, 'pending')

    @mute_logger(CONTROLLER_LOGGER)
    def test_callback_without_id_or_for_unknown_sms(self):
        self.assertEqual(self.url_open(self._callback_url(query='?dlr=1')).status_code, 400)
        response = self.url_open(self._callback_url(query='?id=987654&dlr=1'))
        self.assertEqual(response.status_code, 200)

    @mute_logger(CONTROLLER_LOGGER)
    def test_callback_before_its_sms_is_recorded_is_parked_then_applied(self):
        """OVH can report before the sending transaction commits: the report is parked and
        applied by the router's scheduled action once the attempt exists."""
        sms, notification, attempt = self._send_notified_sms()
        response = self.url_open(self._callback_url(query='?id=555&dlr=16&receiver=%2B33612345678'))
        self.assertEqual(response.status_code, 200)
        parked = self.env['sms.router.parked.report'].search([('message_id', '=', '555')])
        self.assertEqual((parked.account_id, parked.delivered, parked.provider_error, parked.number),
                         (self.ovh, False, 'rejected', '+33612345678'))
        self.assertEqual(attempt.delivery_state, 'pending')
        attempt.message_id = '555'   # the attempt OVH reported on, now committed
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        self.assertFalse(parked.exists())
        self.assertEqual(attempt.delivery_state, 'undelivered')
        self.assertEqual(notification.failure_type, 'sms_rejected')

    @mute_logger(CONTROLLER_LOGGER)
    def test_intermediate_callback_is_not_parked(self):
        self.url_open(self._callback_url(query='?id=556&dlr=4'))
        self.assertFalse(self.env['sms.router.parked.report'].search([('message_id', '=', '556')]))

    @mute_logger(CONTROLLER_LOGGER)
    def test_parked_callback_matches_by_job_and_receiver(self):
        """A parked report keeps the receiver, which picks the attempt when OVH's answer did
        not give each number its own id."""
        numbers = ['+33612345678', '+33698765432']
        response = self.url_open(self._callback_url(query='?id=911&dlr=1&receiver=0033698765432'))
        self.assertEqual(response.status_code, 200)
        sms = self._router_sms(self.company_fr, numbers)
        with self.mockOvhApi():
            self.addJob(payload=job_answer(numbers, ids=[910, 911, 912]))
            sms.send()
        self.env['sms.router.parked.report']._sms_router_apply_parked()
        by_number = {attempt.number: attempt for attempt in self._router_attempts(sms)}
        self.assertEqual(by_number['+33698765432'].delivery_state, 'delivered')
        self.assertEqual(by_number['+33612345678'].delivery_state, 'pending')

    @mute_logger(CONTROLLER_LOGGER)
    def test_callback_matches_by_job_and_receiver_when_ids_were_not_attributed(self):
        self.route.prefixes = '+33'
        numbers = ['+33612345678', '+33698765432']
        sms = self._router_sms(self.company_fr, numbers)
        with self.mockOvhApi():
            # one id for two receivers: message ids cannot be attributed per number
            self.addJob(payload=job_answer(numbers, ids=[900, 901, 902]))
            sms.send()
        attempts = self._router_attempts(sms)
        self.assertEqual(attempts.mapped('message_id'), [False, False])
        response = self.url_open(self._callback_url(query='?id=901&dlr=1&receiver=0033698765432'))
        self.assertEqual(response.status_code, 200)
        by_number = {attempt.number: attempt for attempt in attempts}
        self.assertEqual(by_number['+33698765432'].delivery_state, 'delivered')
        self.assertEqual(by_number['+33612345678'].delivery_state, 'pending')

    def test_access_log_hides_the_token(self):
        record = logging.LogRecord('werkzeug', logging.INFO, __file__, 1, '"%s" %s %s', (
            f'GET /sms_router_ovh/callback/12/{self.ovh.ovh_callback_token}?id=1&dlr=1 HTTP/1.1',
            '200', '-'), None)
        _redact_callback_token.filter(record)
        self.assertNotIn(self.ovh.ovh_callback_token, record.getMessage())
        self.assertIn('/sms_router_ovh/callback/12/***?id=1&dlr=1', record.getMessage())

    # ------------------------------------------------------------ scheduled pull

    def _age(self, attempts, minutes):
        attempts.flush_recordset()
        self.env.cr.execute(SQL('UPDATE sms_router_attempt SET create_date = %s WHERE id IN %s',
                                fields.Datetime.now() - timedelta(minutes=minutes), tuple(attempts.ids)))
        attempts.invalidate_recordset(['create_date'])

    def test_pull_pending_deliveries(self):
        numbers = ['+33612345678', '+33698765432', '+33611111111', '+33622222222']
        sms = self._router_sms(self.company_fr, numbers)
        with self.mockOvhApi():
            self.addJob(payload=job_answer(numbers, ids=[11, 12, 13, 14]))
            sms.send()
        attempts = {attempt.message_id: attempt for attempt in self._router_attempts(sms)}
        self._age(attempts['11'] | attempts['12'] | attempts['13'], 30)   # due
        self._age(attempts['14'], 5)                                        # too young
        young = attempts['14']
        with self.mockOvhApi() as api:
            url = f'{BASE}/sms/{SERVICE}/outgoing'
            api.add(responses.GET, f'{url}/11', json={'id': 11, 'deliveryReceipt': 1, 'ptt': 13})
            api.add(responses.GET, f'{url}/12', json={'id': 12, 'deliveryReceipt': 2, 'ptt': 73})
            api.add(responses.GET, f'{url}/13', status=404,
                    json={'class': 'Client::NotFound',
                          'message': 'The requested object does not exist'})
            asked = self.env['sms.router.account']._sms_router_ovh_pull_deliveries(delay_minutes=15)
            requested = sorted(call.request.url for call in api.calls
                               if '/outgoing/' in call.request.url)
        self.assertEqual(requested, [f'{url}/11', f'{url}/12', f'{url}/13'])
        self.assertEqual(asked, 2)
        self.assertEqual(attempts['11'].delivery_state, 'delivered')
        self.assertEqual(attempts['12'].delivery_state, 'undelivered')
        self.assertIn('not delivered', attempts['12'].delivery_reason)
        self.assertEqual(attempts['13'].delivery_state, 'pending')
        self.assertTrue(attempts['13'].ovh_checked_at)
        self.assertEqual(young.delivery_state, 'pending')
        self.assertFalse(young.ovh_checked_at)

        # The next run asks about what is still pending, least recently checked first,
        # and leaves SMS older than the maximum age alone.
        self._age(young, 30)
        self._age(attempts['13'], 60 * 49)
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{url}/14', json={'id': 14, 'deliveryReceipt': 4})
            self.env['sms.router.account']._sms_router_ovh_pull_deliveries(
                delay_minutes=15, limit=1)
            requested = [call.request.url for call in api.calls if '/outgoing/' in call.request.url]
        self.assertEqual(requested, [f'{url}/14'])
        self.assertEqual(young.delivery_state, 'pending')
        self.assertTrue(young.ovh_checked_at)

    def test_pull_stops_for_an_account_refused_by_ovh(self):
        numbers = ['+33612345678', '+33698765432']
        sms = self._router_sms(self.company_fr, numbers)
        with self.mockOvhApi():
            self.addJob(payload=job_answer(numbers, ids=[21, 22]))
            sms.send()
        attempts = self._router_attempts(sms)
        self._age(attempts, 30)
        with self.mockOvhApi() as api, \
                mute_logger('odoo.addons.sms_router_ovh.models.sms_router_account'):
            api.add(responses.GET, f'{BASE}/sms/{SERVICE}/outgoing/21', status=403,
                    json={'errorCode': 'INVALID_CREDENTIAL',
                          'message': 'This credential is not valid'})
            self.env['sms.router.account']._sms_router_ovh_pull_deliveries()
            calls = [call for call in api.calls if '/outgoing/' in call.request.url]
        self.assertEqual(len(calls), 1)
        self.assertEqual(attempts.mapped('delivery_state'), ['pending', 'pending'])

    def test_cron_pulls_delivery_states_only(self):
        cron = self.env.ref('sms_router_ovh.ir_cron_sms_router_ovh')
        self.assertTrue(cron.active)
        self.assertEqual(cron.name, 'SMS Router: OVH delivery states')
        self.assertEqual(cron.code.strip(), 'model._cron_sms_router_ovh_pull_deliveries()')
        _sms, _notification, attempt = self._send_notified_sms(ids=(301,))
        self._age(attempt, 30)
        with self.mockOvhApi() as api:
            api.add(responses.GET, f'{BASE}/sms/{SERVICE}/outgoing/301',
                    json={'id': 301, 'deliveryReceipt': 1})
            self.env['sms.router.account']._cron_sms_router_ovh_pull_deliveries()
            urls = [call.request.url for call in api.calls]
        self.assertEqual(attempt.delivery_state, 'delivered')
        self.assertNotIn(f'{BASE}/sms/{SERVICE}', urls, "the credit is the router's scheduled action's")
        self.assertFalse(self.ovh.credit_checked_at)

    # ------------------------------------------------------------ prices

    def test_job_credits_and_pulled_credits_price_each_sms(self):
        """Each receiver's share of the job's credits prices its SMS at the send; the pull
        replaces it with the SMS's own credits (OVH's outgoing record)."""
        self.ovh.write({'credit_value': 0.045, 'price_currency_id': self.env.ref('base.EUR').id})
        self.forgetRouterClients()
        numbers = ['+33612345678', '+33698765432', '+33611111111']
        sms = self._router_sms(self.company_fr, numbers)
        with self.mockOvhApi():
            self.addJob(payload=job_answer(numbers, ids=[31, 32, 33], credits=4))
            sms.send()
        attempts = {attempt.message_id: attempt for attempt in self._router_attempts(sms)}
        self.assertEqual(set(self._router_attempts(sms).mapped('cost_source')), {'provider'})
        # 4 credits over 3 receivers: 1.3334 + 1.3333 + 1.3333, exactly the job's (costs are
        # kept to 5 decimals).
        self.assertAlmostEqual(sum(a.cost for a in attempts.values()), 4 * 0.045, places=5)
        self.assertAlmostEqual(attempts['31'].cost, 1.3334 * 0.045, places=5)
        self._age(self._router_attempts(sms), 30)
        # Recorded at the send, half an hour ago: the pull's figure is the newer one.
        self.env.cr.execute(SQL('UPDATE sms_router_attempt SET cost_date = create_date WHERE id IN %s',
                                tuple(self._router_attempts(sms).ids)))
        self._router_attempts(sms).invalidate_recordset(['cost_date'])
        with self.mockOvhApi() as api:
            url = f'{BASE}/sms/{SERVICE}/outgoing'
            api.add(responses.GET, f'{url}/31', json={'id': 31, 'deliveryReceipt': 1, 'credits': 2})
            api.add(responses.GET, f'{url}/32', json={'id': 32, 'deliveryReceipt': 1, 'credits': 1})
            api.add(responses.GET, f'{url}/33', json={'id': 33, 'deliveryReceipt': 4, 'credits': 'n/a'})
            self.env['sms.router.account']._sms_router_ovh_pull_deliveries(delay_minutes=15)
        self.assertAlmostEqual(attempts['31'].cost, 2 * 0.045, places=5)
        self.assertAlmostEqual(attempts['32'].cost, 1 * 0.045, places=5)
        self.assertAlmostEqual(attempts['33'].cost, 1.3333 * 0.045, places=5, msg='unreadable credits: kept')
