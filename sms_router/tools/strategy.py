"""Route strategies as sending and the route tester apply them (engine/strategies.py).

``order_by_strategy`` takes the chain ``CompanyRouting.chain`` built for a route and orders
it by the route's strategy. What a strategy reads is read once per CompanyRouting (one per
batch, one per route test) and kept for the SMS after: the routes' strategies and weights,
the price of each account for each destination (``sms.router.account.
_sms_router_segment_prices``, else ``_sms_router_segment_price`` per account), the delivery figures of each destination
(``sms.router.account._sms_router_quality``) and whether each account can take SMS now
(its breaker peeked, as the route tester does: no probe taken, nothing written). Routes in
the chain's order cost nothing more than that one read of the strategies.

A price list or quality figures that cannot be read count as unknown (the strategy then
falls back on the chain's order, and says so): a strategy never costs an SMS.
"""
import logging

from ..engine.strategies import (
    BEST_DELIVERY, LEAST_COST, ORDERED, ORDERED_REASON, WEIGHTED, format_price, order_chain,
)
from .reason_text import localize_number

_logger = logging.getLogger(__name__)


class _StrategyCache:
    """What the strategies of one CompanyRouting read, read once."""

    def __init__(self, routing):
        self.routing = routing
        self.settings = routing.env['sms.router.route']._sms_router_strategies(routing.company)
        self.prices = {}          # region -> {account id: (amount per segment, currency code)}
        self.quality = {}         # region -> {account id: (delivery rate, reported SMS)}
        self.breakers = {}        # account id -> whether its breaker admits a request now
        self.last_reason = None   # the explanation of the last chain ordered
        # (route id, region, chain) -> (ordered chain, Reason) of the strategies that do not
        # depend on the SMS (least cost, best delivery): worked out once per batch.
        self.orders = {}

    def region_prices(self, region):
        """{account id: (amount per segment, currency code)} of the priced accounts for
        ``region``, read once per region."""
        if region not in self.prices:
            self.prices[region] = self._read_prices(region)
        return self.prices[region]

    def _read_prices(self, region):
        accounts = self.routing.env['sms.router.account'].sudo().browse(list(self.routing.accounts_by_id))
        if not accounts or not hasattr(accounts, '_sms_router_segment_price'):
            return {}
        try:
            with accounts.env.cr.savepoint():
                if hasattr(accounts, '_sms_router_segment_prices'):
                    # All the accounts at once (a few queries), when the price list offers it.
                    table = accounts._sms_router_segment_prices([region])
                else:
                    table = {(account.id, region): account._sms_router_segment_price(region) for account in accounts}
        except Exception:  # noqa: BLE001 - unreadable prices are unknown, never a failed SMS
            _logger.exception('SMS router: the prices for %s could not be read; they count as unknown', region or '?')
            return {}
        prices = {}
        for (account_id, price_region), (amount, currency) in (table or {}).items():
            if price_region == region and amount is not False and amount is not None and currency:
                prices[account_id] = (float(amount), currency.name)
        return prices

    def figures(self, region):
        if region not in self.quality:
            self.quality[region] = self._read_quality(region)
        return self.quality[region]

    def _read_quality(self, region):
        accounts = self.routing.env['sms.router.account'].sudo().browse(list(self.routing.accounts_by_id))
        if not accounts or not hasattr(accounts, '_sms_router_quality'):
            return {}
        try:
            with accounts.env.cr.savepoint():
                figures = accounts._sms_router_quality([region])
        except Exception:  # noqa: BLE001 - unreadable figures are unknown, never a failed SMS
            _logger.exception('SMS router: the delivery figures for %s could not be read; they count as unknown',
                              region or '?')
            return {}
        quality = {}
        for (account_id, figure_region), figure in (figures or {}).items():
            if figure_region == region and figure is not None:
                quality[account_id] = _rate_and_sample(figure)
        return quality

    def available(self, handle):
        """Whether ``handle`` can take an SMS now, as a dispatch round would decide before
        its request (configuration, credit, breaker), read-only."""
        try:
            if handle.unavailable_reason or handle.client.check_configuration():
                return False
            if handle.breaker is None:
                return True
            if handle.account_id not in self.breakers:
                self.breakers[handle.account_id] = bool(handle.breaker.peek().allowed)
            return self.breakers[handle.account_id]
        except Exception:  # noqa: BLE001 - then the dispatcher decides, as for the chain's order
            _logger.exception('SMS router: whether account %s can take SMS could not be read', handle.account_id)
            return True


def _rate_and_sample(figure):
    """(delivery rate, reported SMS) of a quality figure: engine.quality.QualityFigures or
    anything with ``delivery_rate`` and ``sample``, or such a pair."""
    if isinstance(figure, (tuple, list)):
        return (figure[0], figure[1]) if len(figure) >= 2 else (None, 0)
    return getattr(figure, 'delivery_rate', None), getattr(figure, 'sample', 0) or 0


def _cache(routing):
    cache = getattr(routing, '_sms_router_strategy_cache', None)
    if cache is None:
        cache = routing._sms_router_strategy_cache = _StrategyCache(routing)
    return cache


def order_by_strategy(routing, route, destination, chain, sms=None):
    """(``chain`` ordered by ``route``'s strategy, explanation Reason) for an SMS to
    ``destination``; ``sms`` (an sms.sms, or None in the route tester) keys the weighted
    split (its uuid; the number without one). Odoo IAP as last resort stays last."""
    cache = _cache(routing)
    strategy, weights, min_sample = cache.settings.get(route.route_id if route else None, (ORDERED, {}, 0))
    if strategy == ORDERED or not chain:
        cache.last_reason = ORDERED_REASON
        return tuple(chain), ORDERED_REASON
    last_resort = routing.last_resort
    head = [handle for handle in chain if handle is not last_resort]
    tail = [handle for handle in chain if handle is last_resort]
    region = destination.region or ''
    prices = quality = None
    if strategy == LEAST_COST:
        prices = cache.region_prices(region)
    elif strategy == BEST_DELIVERY:
        quality = cache.figures(region)
    key = getattr(sms, 'uuid', None) or destination.e164
    memo = None if strategy == WEIGHTED else (route.route_id, region, tuple(map(id, head)))
    if memo in cache.orders:
        ordered, reason = cache.orders[memo]
    else:
        available = {handle.account_id for handle in head if cache.available(handle)}
        ordered, reason = order_chain(strategy, head, region, key, prices=prices, quality=quality,
                                      weights=weights if strategy == WEIGHTED else None, available=available,
                                      min_sample=min_sample)
        if memo is not None:
            cache.orders[memo] = ordered, reason
    cache.last_reason = reason
    return tuple(ordered) + tuple(tail), reason


def strategy_figures(routing, route, destination):
    """{account id: what the route's strategy read of it for ``destination``} (the route
    tester's chain): its price per segment, its delivery rate, its weight; {} for an
    ordered route."""
    cache = _cache(routing)
    strategy, weights, _min_sample = cache.settings.get(route.route_id if route else None, (ORDERED, {}, 0))
    env, region = routing.env, destination.region or ''
    figures = {}
    for account_id in routing.accounts_by_id:
        if strategy == LEAST_COST:
            price = cache.region_prices(region).get(account_id)
            figures[account_id] = env._('%(price)s %(currency)s/segment',
                                        price=localize_number(format_price(price[0]), env.lang),
                                        currency=price[1]) if price else env._('No price')
        elif strategy == BEST_DELIVERY:
            rate, sample = cache.figures(region).get(account_id) or (None, 0)
            figures[account_id] = env._('%(rate)s of %(sample)s reported SMS',
                                        rate=localize_number(f'{rate * 100:.1f} %', env.lang),
                                        sample=sample) if rate is not None else env._('Not measured')
        elif strategy == WEIGHTED:
            figures[account_id] = localize_number(f'{weights.get(account_id) or 0:g} %', env.lang)
    return figures


def strategy_explanation(routing):
    """The explanation of the last chain ``routing`` ordered (the route tester's), or None."""
    cache = getattr(routing, '_sms_router_strategy_cache', None)
    return cache.last_reason if cache else None
