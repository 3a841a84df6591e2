"""OVH delivery reports.

OVH calls one URL per SMS service when the state of an SMS changes, without any signature.
The URL therefore carries a per-account random token, compared in constant time before
anything else happens. OVH's parameter names are not formally documented: the known ones
are ``id`` (the SMS id returned by the job) and ``dlr`` (1 delivered, 2 not delivered,
4 buffered, 8 sent to the operator, 16 refused by the operator), sometimes with ``ptt``,
``description``, ``receiver``; common aliases are accepted too (see ``_PARAMETERS``).
"""
import hmac
import json
import logging

from odoo import http
from odoo.http import request

from odoo.addons.sms_router.controllers.webhook import hide_url_tokens, refuse_webhook
from odoo.addons.sms_router.tools.reason_text import company_lang

from ..models.sms_router_account import CALLBACK_ROUTE

_logger = logging.getLogger(__name__)

# Accepted names of each piece of information, compared case-insensitively (unverified
# beyond ``id`` and ``dlr``).
_PARAMETERS = {
    'id': ('id', 'smsid', 'sms_id', 'messageid', 'message_id'),
    'dlr': ('dlr', 'deliveryreceipt', 'delivery_receipt', 'status'),
    'ptt': ('ptt',),
    'receiver': ('receiver', 'to', 'number', 'msisdn', 'recipient'),
}


# The token of the callback URLs never reaches the access log.
_redact_callback_token = hide_url_tokens(CALLBACK_ROUTE)


class SmsRouterOvhController(http.Controller):

    @http.route(f'{CALLBACK_ROUTE}/<int:account_id>/<string:token>', type='http', auth='public',
                methods=['GET', 'POST'], csrf=False, save_session=False)
    def sms_router_ovh_callback(self, account_id, token, **params):
        account = request.env['sms.router.account'].sudo().browse(account_id).exists()
        expected = account.ovh_callback_token if account and account.sms_provider == 'ovh' else ''
        # Compare even when there is nothing to compare with, so timing says nothing.
        valid = hmac.compare_digest((token or '').encode(), (expected or '\0' * 43).encode())
        if not (valid and expected):
            return refuse_webhook(_logger, 'SMS router OVH: delivery report refused for account %s (unknown '
                                           'account, not an OVH account, or wrong token)', account_id)

        values = self._parameters(params)
        message_id = values.get('id')
        if not message_id:
            _logger.warning('SMS router OVH: delivery report without SMS id for account %s '
                            '(parameters: %s)', account_id, ', '.join(sorted(params)) or 'none')
            return request.make_response('missing SMS id', status=400,
                                         headers=[('Content-Type', 'text/plain')])
        attempts = request.env['sms.router.attempt'].sudo()
        # The reason is stored: in the language of the account's company.
        report = attempts.with_context(lang=company_lang(request.env, account.company_id))._sms_router_ovh_receipt(
            values.get('dlr'), ptt=values.get('ptt'))
        if not report:
            _logger.info('SMS router OVH: delivery report for SMS %s of account %s: dlr %s (not final, '
                         'ignored)', message_id, account_id, values.get('dlr'))
            return self._ok()
        # A report may beat the commit of its sending transaction: it is then parked and
        # applied by a scheduled action once the attempt exists.
        outcome = attempts._sms_router_receive_report(
            account, message_id, report['delivered'], provider_error=report['provider_error'],
            reason=report['reason'], number=values.get('receiver') or False)
        _logger.info('SMS router OVH: delivery report for SMS %s of account %s: dlr %s: %s',
                     message_id, account_id, values.get('dlr'), outcome)
        return self._ok()

    @staticmethod
    def _parameters(params):
        """Query string and form values, or a JSON object body, by canonical name."""
        received = dict(params)
        if not received and request.httprequest.mimetype == 'application/json':
            try:
                body = json.loads(request.httprequest.get_data(as_text=True) or '{}')
            except ValueError:
                body = None
            if isinstance(body, dict):
                received = body
        lowered = {str(name).lower(): value for name, value in received.items()}
        values = {}
        for canonical, names in _PARAMETERS.items():
            for name in names:
                value = lowered.get(name)
                if value not in (None, ''):
                    values[canonical] = str(value).strip()
                    break
        return values

    @staticmethod
    def _ok():
        return request.make_response('OK', headers=[('Content-Type', 'text/plain')])
