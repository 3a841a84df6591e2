"""Delivery reports of HTTP API accounts.

Each account has its own URL, ``/sms_router/http_api/report/<account id>/<token>``: most
providers do not sign their reports, so the random token of the URL is the proof, compared
in constant time before anything else happens. The account's configuration (its spec's
``report`` part) says where the message id and the status are: the engine's
``parse_report`` reads a JSON body, or the form or query string parameters, with it.
"""
import hmac
import json
import logging

from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request

from ..engine.http_api import parse_report
from ..models.sms_router_account_http_api import HTTP_API, REPORT_ROUTE
from ..tools.reason_text import company_lang
from .webhook import hide_url_tokens, refuse_webhook

_logger = logging.getLogger(__name__)


# The token of the report URLs never reaches the access log.
_redact_report_token = hide_url_tokens(REPORT_ROUTE)


class SmsRouterHttpApiController(http.Controller):

    @http.route(f'{REPORT_ROUTE}/<int:account_id>/<string:token>', type='http', auth='public',
                methods=['GET', 'POST'], csrf=False, save_session=False)
    def sms_router_http_api_report(self, account_id, token, **params):
        account = request.env['sms.router.account'].sudo().browse(account_id).exists()
        expected = account.http_api_callback_token if account and account.sms_provider == HTTP_API else ''
        # Compare even when there is nothing to compare with, so timing says nothing.
        valid = hmac.compare_digest((token or '').encode(), (expected or '\0' * 43).encode())
        if not (valid and expected):
            return refuse_webhook(_logger, 'SMS router: HTTP API delivery report refused for account %s '
                                           '(unknown account, not an HTTP API account, or wrong token)', account_id)
        payload = self._payload(params)
        try:
            spec = account._http_api_loaded_spec()
            reports = parse_report(spec, payload)
        except (ValueError, ValidationError) as error:
            # SpecError is a ValueError too: a configuration that cannot read reports (or a
            # JSON field that is no JSON, written outside the form).
            _logger.warning('SMS router: HTTP API delivery report of account %s not understood: %s',
                            account_id, account._sms_router_redact(str(error)))
            return request.make_response('unreadable report', status=400,
                                         headers=[('Content-Type', 'text/plain')])
        attempts = request.env['sms.router.attempt'].sudo().with_context(
            lang=company_lang(request.env, account.company_id))
        for report in reports:
            # A report may beat the commit of its sending transaction: it is then parked and
            # applied by a scheduled action once the attempt exists.
            outcome = attempts._sms_router_receive_report(
                account, str(report.message_id), report.delivered,
                provider_error=False if report.delivered else 'not_delivered',
                reason=attempts._http_api_report_reason(report), number=report.number or False)
            _logger.info('SMS router: HTTP API delivery report for SMS %s of account %s (%s): %s',
                         report.message_id, account_id, 'delivered' if report.delivered else 'not delivered',
                         outcome)
        return request.make_response(spec.report.answer or 'OK', headers=[('Content-Type', 'text/plain')])

    @staticmethod
    def _payload(params):
        """A JSON body (object or list), else the query string and form values."""
        httprequest = request.httprequest
        if httprequest.method == 'POST' and (httprequest.mimetype or '').endswith('json'):
            try:
                body = json.loads(httprequest.get_data(as_text=True) or 'null')
            except ValueError:
                body = None
            if isinstance(body, (dict, list)):
                return body
        return dict(params)
