import logging
import time

from odoo.http import Controller, request, route

from odoo.addons.sms_router.controllers.webhook import refuse_webhook

from ..tools.sweego_webhook import DEFAULT_TOLERANCE, parse_event, signing_key, verify_signature

_logger = logging.getLogger(__name__)


class SweegoWebhookController(Controller):

    @route('/sms_router_sweego/webhook/<int:account_id>', type='http', auth='public',
           methods=['POST'], csrf=False, save_session=False)
    def sweego_webhook(self, account_id, **kwargs):
        """Sweego SMS events of one account: signature first, then the event, at most once."""
        account = request.env['sms.router.account'].sudo().browse(account_id).exists()
        if not account or account.sms_provider != 'sweego' or not account.sweego_webhook_secret:
            return refuse_webhook(_logger, 'Sweego webhook: call for account %s refused: no Sweego account '
                                           'with a webhook secret has this id', account_id)

        raw_body = request.httprequest.get_data(cache=True)
        headers = request.httprequest.headers
        webhook_id = headers.get('webhook-id')
        timestamp = headers.get('webhook-timestamp')
        signature = headers.get('webhook-signature')
        secret = account.sweego_webhook_secret
        if not verify_signature(secret, webhook_id, timestamp, raw_body, signature):
            return refuse_webhook(_logger, 'Sweego webhook: call for account %s refused: %s (webhook-id %r)',
                                  account_id, _refusal_reason(secret, webhook_id, timestamp, signature),
                                  webhook_id)

        try:
            event = parse_event(raw_body)
        except ValueError as error:
            _logger.warning('Sweego webhook: account %s: signed event %r ignored: %s',
                            account_id, webhook_id, error)
            return request.make_response('Bad Request', status=400)

        # Sweego sends the event id as the webhook id too; either names the event for good.
        event_id = event['event_id'] or webhook_id
        events = request.env['sms.router.sweego.event'].sudo()
        record = events._sweego_receive(account, event, event_id)
        if not record:
            _logger.info('Sweego webhook: account %s: event %s already received, ignored',
                         account_id, event_id)
            return request.make_response('Already received')
        return request.make_response('OK')


def _refusal_reason(secret, webhook_id, timestamp, signature):
    """Why verify_signature said no, for the log (never the secret nor the signature)."""
    if not (webhook_id and timestamp and signature):
        return 'missing webhook-id, webhook-timestamp or webhook-signature header'
    try:
        signing_key(secret)
    except ValueError as error:
        return f'the webhook secret of the account is unusable ({error})'
    try:
        moment = int(timestamp.strip())
    except ValueError:
        return 'unreadable webhook-timestamp'
    if abs(time.time() - moment) > DEFAULT_TOLERANCE:
        return f'webhook-timestamp outside the {DEFAULT_TOLERANCE} s window'
    return 'signature mismatch'
