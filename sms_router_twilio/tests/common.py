"""Helpers for the Twilio addon's Odoo tests: accounts, Twilio answers, signed webhooks."""
import json
from urllib.parse import parse_qsl

import responses

from odoo.addons.sms_router.tests.common import SmsRouterCase

from ..tools.twilio_signature import compute_signature

ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef'
AUTH_TOKEN = '9c1f5e0d2b7a4c6e8f0a1b2c3d4e5f60'
API_KEY_SID = 'SKfedcba9876543210fedcba9876543210'
API_KEY_SECRET = 'Zq7SecretKeyValue0000000000000000'
MESSAGING_SERVICE_SID = 'MG00112233445566778899aabbccddeeff'
TWILIO_BASE = 'https://api.twilio.com/2010-04-01'
MESSAGES_URL = f'{TWILIO_BASE}/Accounts/{ACCOUNT_SID}/Messages.json'
ACCOUNT_URL = f'{TWILIO_BASE}/Accounts/{ACCOUNT_SID}.json'
NUMBERS_URL = f'{TWILIO_BASE}/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json'
PUBLIC_BASE = 'https://sms.example.com'


def twilio_error(code, message, status=400):
    return {'code': code, 'message': message, 'more_info': f'https://www.twilio.com/docs/errors/{code}',
            'status': status}


class TwilioRouterCase(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.message_sids = iter(f'SM{index:032x}' for index in range(1, 10000))

    def _twilio_account(self, company, name='Twilio', numbers=(('+33757000001', 'fr'), ('+447700900123', 'uk')),
                        **values):
        values = {
            'twilio_account_sid': ACCOUNT_SID,
            'twilio_auth_token': AUTH_TOKEN,
            'public_base_url': PUBLIC_BASE,
            'twilio_number_ids': [(0, 0, {'number': number, 'sequence': index,
                                          'country_id': self.env.ref(f'base.{country}').id if country else False})
                                  for index, (number, country) in enumerate(numbers)],
            **values,
        }
        return self._router_account(company, name, provider='twilio', **values)

    # ------------------------------------------------------------ Twilio answers

    def _twilio_accepts(self, rsps, sid=None, status='queued'):
        """Answer every Messages.json POST with a new message SID."""
        def callback(request):
            form = dict(parse_qsl(request.body))
            return 201, {}, json.dumps({
                'sid': sid or next(self.message_sids), 'status': status, 'to': form.get('To')})
        rsps.add_callback(responses.POST, MESSAGES_URL, callback=callback, content_type='application/json')

    @staticmethod
    def _twilio_refuses(rsps, code, message='refused', status=400, headers=None):
        rsps.add(responses.POST, MESSAGES_URL, json=twilio_error(code, message, status), status=status,
                 headers=headers or {})

    @staticmethod
    def _sent_forms(rsps):
        return [dict(parse_qsl(call.request.body)) for call in rsps.calls
                if call.request.url == MESSAGES_URL]

    # ------------------------------------------------------------ webhooks

    def _post_signed(self, account, path, params, token=AUTH_TOKEN, signature=None, base=PUBLIC_BASE):
        """POST ``params`` to ``path`` as Twilio would, signed for ``base`` + ``path``."""
        if signature is None:
            signature = compute_signature(token, base + path, params)
        return self.url_open(path, data=params, headers={'X-Twilio-Signature': signature})

    def _status_path(self, account, sms_uuid):
        return f'/sms_router_twilio/status/{account.id}/{sms_uuid}'

    def _inbound_path(self, account):
        return f'/sms_router_twilio/inbound/{account.id}'
