"""The cost ledger's arithmetic: what an accepted SMS cost, from the provider's figure or the
account's prices (sms.router.price), read once per batch."""
import logging

from odoo import fields

from ..engine.outcomes import OutcomeKind

_logger = logging.getLogger(__name__)

# Per-segment prices and costs: providers price SMS to 4 or 5 decimals (Twilio's price_unit
# "0.00750"), and a monetary field would round each one to the currency's cents, so that the
# totals of a month would no longer be what the providers billed.
PRICE_DIGITS = (16, 5)


class Currencies:
    """res.currency records by ISO 4217 code, each read once (archived ones included: a
    provider bills in its currency whether or not this database uses it)."""

    def __init__(self, env):
        self.env = env
        self.by_code = {}

    def get(self, code):
        code = (code or '').strip().upper()
        if code not in self.by_code:
            currency = self.env['res.currency']
            if code:
                currency = currency.sudo().with_context(active_test=False).search([('name', '=', code)], limit=1)
                if not currency:
                    _logger.warning('SMS router: a provider gave a price in %s, a currency this database '
                                    'does not know; the price list applies', code)
            self.by_code[code] = currency
        return self.by_code[code]


def provider_cost(account, price, currency_code, credits, currencies):
    """(amount, currency record) of what the provider says an SMS cost: ``price`` in
    ``currency_code``, else ``credits`` times the credit value of ``account``; (None, None)
    when it says nothing usable (no price, an unknown currency, credits without a credit
    value)."""
    price, credits = _number(price), _number(credits)
    if price is not None:
        currency = currencies.get(currency_code)
        if currency:
            # Twilio writes what a message cost as a negative amount: a cost is positive.
            return abs(price), currency
    if credits is not None and account and account.credit_value and account.price_currency_id:
        return abs(credits) * account.credit_value, account.price_currency_id
    return None, None


def _number(value):
    """``value`` (a number, or its text as a provider's JSON may give it: "-0.00750") as a
    float; None when it is none or not a number: a strange figure never fails a report."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        _logger.warning('SMS router: a provider gave a price that is not a number: %r', str(value)[:40])
        return None


class CostBook:
    """The cost of the accepted attempts of one batch (SmsRouterApi._record_trail).

    Prices are read once, at the first accepted attempt that needs them (a batch where
    nothing was accepted reads nothing): SmsRouterAccount._sms_router_price_table for every
    account and destination of the batch; currencies once per ISO code.
    """

    def __init__(self, env, accounts, regions):
        self.env = env
        self.accounts = env['sms.router.account'].union(*accounts)
        self.regions = set(regions or ()) | {''}
        self.now = fields.Datetime.now()
        self._prices = None
        self._currencies = Currencies(env)

    def values(self, account, outcome, segments, region):
        """``cost``, ``cost_currency_id``, ``cost_source`` and ``cost_date`` of an attempt on
        ``account`` (a record) that ended with ``outcome`` (a RecipientOutcome: its
        ``price``/``price_currency`` or ``credits``), of ``segments`` segments (none
        measured: 1), to ``region``. {} when no price is known, and for an attempt without
        an account or not accepted (nothing was billed)."""
        if not account or outcome is None or outcome.kind is not OutcomeKind.SENT:
            return {}
        amount, currency = provider_cost(
            account, outcome.price, outcome.price_currency, outcome.credits, self._currencies)
        source = 'provider'
        if currency is None:
            if self._prices is None:
                self._prices = self.accounts._sms_router_price_table(self.regions)
            region = region or ''
            price, currency, source = self._prices.get((account.id, region)) or \
                account._sms_router_price_table([region])[account.id, region]
            if not currency:
                return {}
            amount = price * (segments or 1)
        return {'cost': amount, 'cost_currency_id': currency.id, 'cost_source': source, 'cost_date': self.now}
