"""The one answer of the provider webhooks to a call they refuse.

Unknown account, account of another provider, missing or wrong token or signature, replay
outside the accepted window: the cause goes to the log for the operator, never to the
caller. One status and one body for every cause and every provider, so that a caller
cannot tell an account id that exists from one that does not.
"""
import logging
import re

from odoo.http import Response, request

REFUSAL_STATUS = 403
REFUSAL_BODY = 'Forbidden'


def refuse_webhook(logger, message, *args):
    """Log ``message % args`` (plus the caller's address) at WARNING on the provider's
    ``logger`` and return the refusal response."""
    logger.warning(message + ' (from %s)', *args, request.httprequest.remote_addr)
    return Response(REFUSAL_BODY, status=REFUSAL_STATUS, content_type='text/plain; charset=utf-8')


class RedactUrlToken(logging.Filter):
    """Hide the token of a webhook URL, ``<route>/<account id>/<token>``, in the HTTP access
    log: providers that sign nothing (OVH, most HTTP API providers) are authenticated by it."""

    def __init__(self, route):
        super().__init__()
        self.route = route
        self.pattern = re.compile(r'(%s/\d+/)[^/?#\s"]+' % re.escape(route))

    def filter(self, record):
        if isinstance(record.args, tuple) and any(isinstance(arg, str) and self.route in arg
                                                  for arg in record.args):
            record.args = tuple(self.pattern.sub(r'\1***', arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True


def hide_url_tokens(route):
    """Install (once per route) the access log filter that hides the tokens of ``route``'s URLs;
    return it."""
    werkzeug_logger = logging.getLogger('werkzeug')
    for existing in werkzeug_logger.filters:
        if isinstance(existing, RedactUrlToken) and existing.route == route:
            return existing
    redact = RedactUrlToken(route)
    werkzeug_logger.addFilter(redact)
    return redact
