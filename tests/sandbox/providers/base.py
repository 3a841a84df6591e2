"""What an emulated provider is: the class each provider module subclasses."""
import http

from ..common import lifecycle


class Provider:
    """One provider's API: its own settings, its routes, what it does with a request.

    The :class:`~sandbox.core.Sandbox` makes one instance per provider and keeps, under
    its lock, what they all share: settings, counters, accepted messages, callbacks. The
    request has already been counted and has passed the fault step (faults.py) when
    ``handle`` runs.
    """

    name = None             # URL prefix (/<name>/...), key of settings, counters and messages
    endpoint_suffix = ''    # an account's endpoint: http://HOST:PORT/<name><endpoint_suffix>
    send_status = 200       # status of an accepted send (the ``broken_json`` fault uses it)
    defaults = {}           # its own settings -> default; must give 'credit' and 'part_price'
    schema = {}             # its own settings -> converter (settings.as_*)
    price_unit = None       # what its prices are in: an ISO 4217 code, or 'credits'

    def __init__(self, sandbox):
        self.sandbox = sandbox

    # ---- to implement

    def is_send(self, method, path):
        """Whether the request (path below the provider prefix) sends SMS."""
        raise NotImplementedError

    def handle(self, request, method, path, query, body, fault):
        """Answer the request with ``request.reply_json`` / ``request.reply``; ``fault`` is
        'ok' or a mode the provider logic applies (``no_credit``, ``invalid_recipients``)."""
        raise NotImplementedError

    # ---- may be overridden

    def reset(self):
        """Forget provider state kept beside settings, counters and messages."""

    def response_headers(self):
        """Headers of every answer (request ids), fault answers included."""
        return {}

    def error_answer(self, request, status, headers):
        """The answer of an HTTP error fault (500, 503, 429, ...), as the provider words it."""
        request.reply_json(status, {'error': http.HTTPStatus(status).phrase}, headers)

    # ---- shared state, through the sandbox

    @property
    def lock(self):
        return self.sandbox._lock

    def config(self):
        """A copy of the provider's current settings."""
        return self.sandbox._config_snapshot(self.name)

    def setting(self, key):
        return self.sandbox._config_value(self.name, key)

    def bump(self, counter, amount=1):
        self.sandbox._bump(self.name, counter, amount)

    def charge(self, parts, fault):
        """Debit ``parts`` SMS parts; None when the credit does not cover them."""
        return self.sandbox._charge(self.name, parts, fault)

    def charge_messages(self, messages, fault):
        """Bill ``[(digits, parts), ...]`` at each destination's price per part and add them
        to the billing totals; each message's price (Decimal), or None when the credit does
        not cover them all."""
        return self.sandbox._charge_messages(self.name, messages, fault)

    def undelivered(self, config, digits, fault):
        """Will this accepted SMS be reported undelivered? Its number is one of
        ``undelivered_numbers``, or the provider is in the ``poor_delivery`` mode (it accepts
        every request, then reports ``poor_delivery_ratio`` of its SMS undelivered)."""
        if digits in config['undelivered_numbers']:
            return True
        return fault == 'poor_delivery' and self.sandbox._poor_delivery(self.name, config['poor_delivery_ratio'])

    def store(self, record):
        """Keep an accepted message (``id``, ``to``, ``body``, ``created_at``, ...)."""
        self.sandbox._store(self.name, record)

    def stored(self, message_id):
        with self.lock:
            return self.sandbox._messages[self.name].get(message_id)

    def stored_messages(self):
        with self.lock:
            return list(self.sandbox._messages[self.name].values())

    @staticmethod
    def status(record, now):
        """(status, sent_at, done_at) of a stored message at ``now``."""
        return lifecycle(record, now)

    @staticmethod
    def is_invalid(config, digits, fault):
        """Whether a recipient (E.164 digits, None when unparsable) is refused as invalid."""
        if digits is None or fault == 'invalid_recipients':
            return True
        if digits in config['invalid_numbers']:
            return True
        suffix = config['invalid_suffix']
        return bool(suffix) and digits.endswith(suffix)

    def send_callbacks(self, url, renders, delay_s):
        """Deliver ``renders`` (each builds ``(body, headers)``) to ``url`` in order,
        ``delay_s`` apart, counting each outcome in the provider's ``callbacks`` counters."""
        sandbox = self.sandbox
        sandbox._callbacks.deliver_in_order(
            url, renders, delay_s, sandbox.callback_hosts,
            lambda outcome: sandbox._count_callback(self.name, outcome))
