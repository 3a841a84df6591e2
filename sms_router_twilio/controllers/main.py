"""Twilio webhooks: delivery reports (StatusCallback) and inbound SMS (STOP / START replies).

Both routes carry the account id, so the right Auth Token checks ``X-Twilio-Signature``
before anything is read or written. The signature covers the public URL Twilio called and
every POST parameter received (including the ones Twilio adds without notice), so the form
is passed on exactly as received.
"""
import logging
import unicodedata

from markupsafe import Markup

from odoo.tools import plaintext2html
from odoo.http import Controller, Response, request, route

from odoo.addons.sms_router.controllers.webhook import refuse_webhook
from odoo.addons.sms_router.engine.routing import NumberError, parse_destination
from odoo.addons.sms_router.tools.reason_text import company_lang

from ..models.sms_router_account import INBOUND_ROUTE, SMS_UUID_RE, STATUS_ROUTE
from ..tools.twilio_signature import validate_signature

_logger = logging.getLogger(__name__)

# MessageStatus values after which Twilio sends no further report for the message.
DELIVERED_STATUSES = frozenset({'delivered'})
UNDELIVERED_STATUSES = frozenset({'undelivered', 'failed', 'canceled'})

# Twilio delivery error codes -> sms.tracker provider errors (the ones it knows).
DELIVERY_ERRORS = {
    '30002': 'expired',                 # account suspended / message expired
    '30003': 'invalid_destination',     # unreachable destination handset
    '30005': 'invalid_destination',     # unknown destination handset
    '30004': 'rejected',                # message blocked
    '30007': 'rejected',                # carrier violation (filtered)
    '30006': 'not_allowed',             # landline or unreachable carrier
    '30008': 'not_delivered',           # unknown error
    # With a Messaging Service, Twilio accepts first and reports send-time refusals here.
    '21211': 'invalid_destination',     # invalid 'To' number
    '21614': 'invalid_destination',     # 'To' not SMS-capable
    '21610': 'rejected',                # recipient unsubscribed (also blacklisted)
    '21408': 'not_allowed',             # region not enabled
    '21612': 'not_allowed',             # To/From combination not routable
    '21606': 'not_allowed',             # From number not SMS-capable for this destination
}
OPT_OUT_ERROR_CODES = frozenset({'21610'})

# Whole-message keywords (case, accents, surrounding spaces and punctuation ignored), as
# Twilio's own opt-out handling reads them; 'ARRET' is the French STOP.
OPT_OUT_KEYWORDS = frozenset({'STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'ARRET'})
OPT_IN_KEYWORDS = frozenset({'START', 'UNSTOP'})

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def normalize_keyword(body):
    """'  Arrêt. ' -> 'ARRET'; a message of several words is returned as such (no keyword)."""
    text = unicodedata.normalize('NFKD', body or '')
    text = ''.join(char for char in text if not unicodedata.combining(char))
    return ' '.join(text.split()).strip(' .!?;,').upper()


class SmsRouterTwilioController(Controller):

    # ------------------------------------------------------------------ status

    @route(f'{STATUS_ROUTE}/<int:account_id>/<string:sms_uuid>', type='http', auth='public',
           methods=['POST'], csrf=False, save_session=False)
    def sms_router_twilio_status(self, account_id, sms_uuid, **kwargs):
        account, refusal = self._verified_account(account_id, 'status', f'{STATUS_ROUTE}/{account_id}/{sms_uuid}')
        if refusal:
            return refusal
        form = request.httprequest.form
        message_sid = form.get('MessageSid') or form.get('SmsSid') or ''
        status = (form.get('MessageStatus') or form.get('SmsStatus') or '').lower()
        if not SMS_UUID_RE.match(sms_uuid) or not message_sid:
            _logger.warning('Twilio status callback for account %s: signed but without a usable SMS uuid '
                            'or MessageSid; ignored', account_id)
            return Response('Ignored', status=200, content_type='text/plain')
        if status not in DELIVERED_STATUSES | UNDELIVERED_STATUSES:
            # queued, sending, sent, accepted, scheduled...: nothing final to record.
            return Response('OK', status=200, content_type='text/plain')

        delivered = status in DELIVERED_STATUSES
        provider_error = reason = False
        error_code = (form.get('ErrorCode') or '').strip()
        if not delivered:
            provider_error = DELIVERY_ERRORS.get(error_code, 'not_delivered')
            # Stored: in the language of the account's company, not of this request.
            env = request.env(context=dict(request.env.context, lang=company_lang(request.env, account.company_id)))
            # Twilio's status and message are quoted as Twilio wrote them.
            message = (form.get('ErrorMessage') or '').strip()[:200]
            if error_code and message:
                reason = env._('Twilio: %(status)s (error %(code)s): %(message)s',
                               status=status, code=error_code, message=message)
            elif error_code:
                reason = env._('Twilio: %(status)s (error %(code)s)', status=status, code=error_code)
            elif message:
                reason = env._('Twilio: %(status)s: %(message)s', status=status, message=message)
            else:
                reason = env._('Twilio: %s', status)
        # A report may beat the commit of its sending transaction: it is then parked and
        # applied by a scheduled action once the attempt exists. An opt-out (21610) is
        # applied with the report, once: a replayed callback cannot blacklist again a number
        # that has opted in since.
        outcome = request.env['sms.router.attempt'].sudo()._sms_router_receive_report(
            account, message_sid, delivered, provider_error=provider_error, reason=reason, sms_uuid=sms_uuid,
            number=form.get('To') or False, opt_out=not delivered and error_code in OPT_OUT_ERROR_CODES)
        if outcome == 'mismatch':
            _logger.warning('Twilio status callback for account %s: message %s belongs to another SMS '
                            'than the one in the URL; ignored', account_id, message_sid)
            return Response('Not found', status=404, content_type='text/plain')
        if outcome == 'parked':
            _logger.info('Twilio status callback for account %s: message %s (%s) not recorded yet; '
                         'parked', account_id, message_sid, status)
        return Response('OK', status=200, content_type='text/plain')

    # ----------------------------------------------------------------- inbound

    @route(f'{INBOUND_ROUTE}/<int:account_id>', type='http', auth='public', methods=['POST'],
           csrf=False, save_session=False)
    def sms_router_twilio_inbound(self, account_id, **kwargs):
        account, refusal = self._verified_account(account_id, 'inbound', f'{INBOUND_ROUTE}/{account_id}')
        if refusal:
            return refusal
        form = request.httprequest.form
        sender = (form.get('From') or '').strip()
        body = form.get('Body') or ''
        number = self._e164(sender, account)
        if number:
            keyword = normalize_keyword(body)
            blacklist = request.env['phone.blacklist'].sudo()
            if keyword in OPT_OUT_KEYWORDS:
                blacklist._add([number], message=request.env._(
                    'Opted out by replying "%(keyword)s" to Twilio account %(account)s.',
                    keyword=keyword, account=account.name))
                _logger.info('Twilio account %s: inbound %s, number blacklisted', account_id, keyword)
            elif keyword in OPT_IN_KEYWORDS:
                blacklist._remove([number], message=request.env._(
                    'Opted in again by replying "%(keyword)s" to Twilio account %(account)s.',
                    keyword=keyword, account=account.name))
                _logger.info('Twilio account %s: inbound %s, number removed from the blacklist', account_id, keyword)
            self._log_on_partners(account, number, body)
        else:
            _logger.info('Twilio account %s: inbound SMS from an unreadable number; ignored', account_id)
        return Response(EMPTY_TWIML, status=200, content_type='text/xml; charset=utf-8')

    # ----------------------------------------------------------------- helpers

    def _verified_account(self, account_id, kind, path):
        """(the Twilio account whose Auth Token signed this request, None), or (None, the
        refusal response) after logging why."""
        account = request.env['sms.router.account'].sudo().with_context(active_test=False).browse(account_id).exists()
        if not account or account.sms_provider != 'twilio' or not account.twilio_auth_token:
            return None, refuse_webhook(_logger, 'Twilio %s callback for account %s refused: no Twilio account '
                                                 'with an Auth Token has this id', kind, account_id)
        signature = request.httprequest.headers.get('X-Twilio-Signature', '')
        if not signature:
            return None, refuse_webhook(_logger, 'Twilio %s callback for account %s refused: no X-Twilio-Signature',
                                        kind, account_id)
        query = request.httprequest.query_string.decode('utf-8', 'replace')
        suffix = f'?{query}' if query else ''
        # The URL we gave Twilio (public base URL honoured), then the URL as this server saw
        # it (direct access without a rewriting proxy).
        candidates = [account._sms_router_callback_url(path) + suffix, request.httprequest.url]
        form = request.httprequest.form
        token = account.twilio_auth_token
        if not any(validate_signature(token, url, form, signature) for url in dict.fromkeys(candidates)):
            return None, refuse_webhook(_logger, 'Twilio %s callback for account %s refused: invalid '
                                                 'X-Twilio-Signature for %s; check the public base URL of '
                                                 'the account', kind, account_id, candidates[0])
        return account, None

    @staticmethod
    def _e164(sender, account):
        try:
            return parse_destination(sender, account.company_id.country_id.code).e164
        except NumberError:
            return None

    @staticmethod
    def _log_on_partners(account, number, body):
        partners = request.env['res.partner'].sudo().search([
            ('phone_sanitized', '=', number),
            ('company_id', 'in', [False, account.company_id.id]),
        ], limit=10)
        if not partners:
            return
        note = Markup('<p>%s</p>%s') % (
            request.env._('SMS received from %(number)s (Twilio account %(account)s):',
                          number=number, account=account.name),
            plaintext2html(body))
        for partner in partners:
            partner._message_log(body=note, author_id=partner.id)
