"""The one answer of the provider webhooks to a call they refuse.

Unknown account, account of another provider, missing or wrong token or signature, replay
outside the accepted window: the cause goes to the log for the operator, never to the
caller. One status and one body for every cause and every provider, so that a caller
cannot tell an account id that exists from one that does not.
"""
from odoo.http import Response, request

REFUSAL_STATUS = 403
REFUSAL_BODY = 'Forbidden'


def refuse_webhook(logger, message, *args):
    """Log ``message % args`` (plus the caller's address) at WARNING on the provider's
    ``logger`` and return the refusal response."""
    logger.warning(message + ' (from %s)', *args, request.httprequest.remote_addr)
    return Response(REFUSAL_BODY, status=REFUSAL_STATUS, content_type='text/plain; charset=utf-8')
