import json
import time
from contextlib import contextmanager

import responses

from odoo.addons.sms_router.tests.common import SmsRouterCase, route_requests_through_responses
from odoo.addons.sms_router_ovh.tools import ovh_client

BASE = 'https://eu.api.ovh.com/1.0'
SERVICE = 'sms-ab12345-1'
JOBS_URL = f'{BASE}/sms/{SERVICE}/jobs'
TIME_URL = f'{BASE}/auth/time'
APP_SECRET = 'OvhAppSecretForTests'
CONSUMER_KEY = 'OvhConsumerKeyForTests'


def job_answer(valid, invalid=(), ids=None, credits=None):
    return {
        'ids': list(range(101, 101 + len(valid))) if ids is None else ids,
        'validReceivers': list(valid),
        'invalidReceivers': list(invalid),
        'totalCreditsRemoved': float(len(valid)) if credits is None else credits,
    }


@route_requests_through_responses
class SmsRouterOvhCase(SmsRouterCase):
    """An OVH account of company_fr next to two other accounts, and a mocked OVH API."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.ovh = cls._router_account(
            cls, cls.company_fr, 'OVH FR', provider='ovh', sender_id='ACME',
            ovh_application_key='OvhAppKey', ovh_application_secret=APP_SECRET,
            ovh_consumer_key=CONSUMER_KEY, ovh_service_name=SERVICE)
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')

    def setUp(self):
        super().setUp()
        ovh_client.reset_time_offsets()
        self.addCleanup(ovh_client.reset_time_offsets)

    def writeAccount(self, account, values):
        account.write(values)
        account.invalidate_recordset(['configuration_error'])
        self.forgetRouterClients()

    @contextmanager
    def mockOvhApi(self):
        """``responses`` for OVH's API, with ``/auth/time`` answered."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
            api.add(responses.GET, TIME_URL, body=str(int(time.time())),
                    content_type='application/json')
            self.ovh_api = api
            yield api

    def addJobEcho(self, ids, credits_per_receiver=1.0):
        """Answer every job by accepting its receivers, with ids taken from ``ids``
        ({number: id}), whatever the order in which concurrent jobs arrive."""
        def answer(request):
            receivers = json.loads(request.body)['receivers']
            return 200, {}, json.dumps(job_answer(
                receivers, ids=[ids[number] for number in receivers],
                credits=credits_per_receiver * len(receivers)))
        self.ovh_api.add_callback(responses.POST, JOBS_URL, callback=answer,
                                  content_type='application/json')

    def addJob(self, status=200, payload=None, body=None, headers=None):
        if body is None:
            body = json.dumps(payload if payload is not None else {})
        self.ovh_api.add(responses.POST, JOBS_URL, status=status, body=body, headers=headers or {},
                         content_type='application/json')

    def jobCalls(self):
        return [call for call in self.ovh_api.calls if call.request.url == JOBS_URL]

    @staticmethod
    def sentJson(call):
        return json.loads(call.request.body)
