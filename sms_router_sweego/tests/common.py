"""Shared set-up of the Sweego addon's Odoo tests: a French company whose chain is
Sweego first, then a scripted fallback account, and helpers for Sweego's answers and
signed webhook calls."""
import base64
import json
import time
import uuid
from contextlib import contextmanager

import responses

from odoo.addons.sms_router.tests.common import SmsRouterCase

from ..tools.sweego_client import DEFAULT_BASE_URL
from ..tools.sweego_webhook import sign

SEND_URL = f'{DEFAULT_BASE_URL}/send'
API_KEY = 'swg-odoo-test-key-3c9d1f'
CLIENT_UUID = 'de1bbe6f-4103-47b1-8f69-94856aaba3fc'
CREDIT_URL = f'{DEFAULT_BASE_URL}/clients/{CLIENT_UUID}/billing/credits/sms'
WEBHOOK_SECRET = 'whsec_' + base64.b64encode(b'odoo-sweego-webhook-secret-for-tests').decode()

FR_NUMBER = '+33612345678'
BE_NUMBER = '+32471234567'


def accepted(uids, transaction_id='tx-1', credit_left='19.84'):
    """Sweego's 200 answer; ``uids`` maps E.164 numbers to swg_uids, renormalised to
    Sweego's ``00<cc><number>`` keys."""
    return {
        'transaction_id': transaction_id,
        'swg_uids': {'00' + number.lstrip('+'): uid for number, uid in uids.items()},
        'credit_left': credit_left,
        'channel': 'sms',
        'provider': 'sweego',
    }


def sweego_event(event_type, swg_uid='03-uid-fr', phone_number='0033612345678', status=None,
                 event_id=None):
    return {
        'event_id': event_id or str(uuid.uuid4()),
        'event_type': event_type,
        'channel': 'sms',
        'swg_uid': swg_uid,
        'transaction_id': 'tx-1',
        'phone_number': phone_number,
        'status': status or event_type.removeprefix('sms_'),
        'nb_segments': 1,
        'sms_price': '0.05',
    }


def signed_headers(body, secret=WEBHOOK_SECRET, webhook_id=None, timestamp=None):
    webhook_id = webhook_id or str(uuid.uuid4())
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        'Content-Type': 'application/json',
        'webhook-id': webhook_id,
        'webhook-timestamp': timestamp,
        'webhook-signature': sign(secret, webhook_id, timestamp, body),
    }


def event_body(event):
    return json.dumps(event).encode()


class SweegoCase(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.company_gb.sms_router_iap_last_resort = False
        cls.sweego = cls._sweego_account(cls, cls.company_fr, 'Sweego FR')
        # Scripted in each test with mockRouterClients: an account that must never be
        # reached simply is not scripted.
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls.route = cls._router_route(cls, cls.company_fr, cls.sweego | cls.fallback,
                                      name='France default')

    def _sweego_account(self, company, name, **values):
        # Called on the class in setUpClass (as the core tests do) and on instances.
        return SmsRouterCase._router_account(self, company, name, provider='sweego', **{
            'sweego_api_key': API_KEY,
            'sweego_client_uuid': CLIENT_UUID,
            'sweego_webhook_secret': WEBHOOK_SECRET,
            'sender_id': 'ACME',
            **values,
        })

    def _sweego_configure(self, account, **values):
        account.write(values)
        self.forgetRouterClients()

    @contextmanager
    def mockSweego(self, assert_all=True):
        """``responses`` for api.sweego.io; unlike RequestsMock's own context manager, the
        recorded calls survive the block so tests can assert on them afterwards."""
        mock = responses.RequestsMock(assert_all_requests_are_fired=assert_all)
        mock.start()
        success = False
        try:
            yield mock
            success = True
        finally:
            mock.stop(allow_assert=success)
