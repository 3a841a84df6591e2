"""Route strategies (engine/strategies.py): the account each strategy puts first, and the
order of the rest, for grids of destinations, prices, account states and delivery figures.

Two kinds of tables. Hand-written rows give, for one situation, the order the documented
rule gives (worked out by hand, not by the code). Exhaustive grids then try every
combination of a few prices, rates and account states, and check the result against the
rule stated pair by pair ("X comes before Y when..."): a different formulation from the
code's sorting, so the two must agree in 100 % of the cases.
"""
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest

from addons.sms_router.engine.reasons import Reason, render
from addons.sms_router.engine.strategies import (
    BEST_DELIVERY, DEFAULT_MIN_SAMPLE, LEAST_COST, ORDERED, STRATEGIES, WEIGHTED, draw_position, order_chain,
)


@dataclass(frozen=True)
class Handle:
    """What the strategies read of a dispatcher AccountHandle."""

    account_id: int
    name: str


OVH = Handle(1, 'OVH France')
SWEEGO = Handle(2, 'Sweego France')
TWILIO = Handle(3, 'Twilio')
CHAIN = (OVH, SWEEGO, TWILIO)          # the route's order
ALL = None                             # every account can take SMS now


def ids(chain):
    return [handle.account_id for handle in chain]


# ------------------------------------------------------------------ ordered

@pytest.mark.parametrize('available', [ALL, {2, 3}, {3}, set()])
def test_ordered_keeps_the_chain(available):
    # Today's behaviour: the dispatcher skips what cannot take SMS, the order never moves.
    chain, reason = order_chain(ORDERED, CHAIN, 'FR', 'key', prices={1: (9, 'EUR')}, available=available)
    assert chain == CHAIN
    assert isinstance(reason, Reason)


def test_unknown_strategy_is_ordered():
    assert order_chain('', CHAIN, 'FR', 'k')[0] == CHAIN
    assert order_chain(None, CHAIN, 'FR', 'k')[0] == CHAIN
    assert set(STRATEGIES) == {ORDERED, LEAST_COST, BEST_DELIVERY, WEIGHTED}


# --------------------------------------------------------------- least cost

# Prices per destination (amount, currency) per account id; the expected order by hand:
# cheapest first among the accounts that can take SMS, then other currencies (not
# compared), then unpriced ones, then the accounts that cannot take SMS now (by the same rule).
EUR, USD = 'EUR', 'USD'
PRICE_GRID = {
    'FR': {1: (0.045, EUR), 2: (0.052, EUR), 3: (0.079, EUR)},
    'GB': {1: (0.060, EUR), 2: (0.041, EUR), 3: (0.041, EUR)},
    'US': {1: (0.009, EUR), 3: (0.0079, USD)},
    'DE': {2: (0.07, EUR)},
    'BE': {},
    'ES': {1: (0.05, USD), 2: (0.03, EUR), 3: (0.04, USD)},
}
LEAST_COST_CASES = [
    # (region, available, expected order)
    ('FR', ALL, [1, 2, 3]),
    ('FR', {2, 3}, [2, 3, 1]),          # OVH's breaker open: Sweego first, OVH tried last
    ('FR', {3}, [3, 1, 2]),
    ('FR', set(), [1, 2, 3]),           # nothing can take it: the rule's order, all tried
    ('GB', ALL, [2, 3, 1]),             # 0.041 = 0.041: the chain's order breaks the tie
    ('GB', {1, 3}, [3, 1, 2]),
    ('GB', {1}, [1, 2, 3]),
    ('US', ALL, [1, 3, 2]),             # reference EUR (OVH, first priced); Twilio USD not compared; Sweego unpriced
    ('US', {2, 3}, [3, 2, 1]),          # OVH (EUR) down: reference USD (Twilio), Sweego unpriced, OVH last
    ('DE', ALL, [2, 1, 3]),             # only Sweego priced
    ('DE', {1, 3}, [1, 3, 2]),          # the only priced account is down: the chain's order
    ('BE', ALL, [1, 2, 3]),             # no price at all: the chain's order
    ('BE', {2}, [2, 1, 3]),
    ('ES', ALL, [3, 1, 2]),             # reference USD (OVH, first priced): Twilio 0.04 < OVH 0.05; Sweego EUR after
    ('ES', {2, 3}, [2, 3, 1]),          # OVH (USD) down: the first usable priced one, Sweego, sets EUR
    ('ES', {2}, [2, 3, 1]),             # OVH and Twilio tried last, by price: Twilio 0.04 USD first
]


@pytest.mark.parametrize('region, available, expected', LEAST_COST_CASES)
def test_least_cost_table(region, available, expected):
    chain, _reason = order_chain(LEAST_COST, CHAIN, region, 'key', prices=PRICE_GRID[region], available=available)
    assert ids(chain) == expected


def test_least_cost_explanation():
    _chain, reason = order_chain(LEAST_COST, CHAIN, 'FR', 'key', prices={1: (0.045, EUR), 2: (0.052, EUR)})
    assert reason.startswith('least cost: OVH France at 0.045 EUR/segment, Sweego France 0.052')
    assert 'no price, after the priced ones: Twilio' in reason
    _chain, reason = order_chain(LEAST_COST, CHAIN, 'US', 'key', prices=PRICE_GRID['US'], available=ALL)
    assert 'Twilio 0.0079 USD' in reason and 'not compared' in reason
    # OVH (EUR) cannot take it: Twilio's USD is the currency compared.
    _chain, reason = order_chain(LEAST_COST, CHAIN, 'US', 'key', prices=PRICE_GRID['US'], available={2, 3})
    assert 'at 0.0079 USD/segment' in reason and 'not compared' not in reason
    assert 'cannot take it now, tried last: OVH France' in reason
    _chain, reason = order_chain(LEAST_COST, CHAIN, 'BE', 'key', prices={})
    assert 'no account that can take it has a price for BE' in reason


def _in_french_numbers(reason):
    """``reason`` rendered untranslated but with a French decimal comma (as
    sms_router.tools.reason_text.translator does for fr_FR)."""
    def translate(template, module):
        return template
    translate.number = lambda text: str.__str__(text).replace('.', ',')
    return render(reason, translate)


def test_explanations_write_numbers_in_the_readers_format():
    _chain, reason = order_chain(LEAST_COST, CHAIN, 'FR', 'key', prices={1: (0.045, EUR), 2: (0.052, EUR)})
    assert _in_french_numbers(reason).startswith('least cost: OVH France at 0,045 EUR/segment, Sweego France 0,052')
    _chain, reason = order_chain(LEAST_COST, CHAIN, 'US', 'key', prices=PRICE_GRID['US'], available=ALL)
    assert 'Twilio 0,0079 USD' in _in_french_numbers(reason)
    _chain, reason = order_chain(BEST_DELIVERY, CHAIN, 'FR', 'key', quality={1: (0.875, 40), 2: (0.5, 40)})
    assert '87,5 %' in _in_french_numbers(reason) and '50,0 %' in _in_french_numbers(reason)
    _chain, reason = order_chain(WEIGHTED, CHAIN, 'FR', 'key', weights={1: 62.5, 2: 37.5})
    assert 'OVH France 62,5 %, Sweego France 37,5 %' in _in_french_numbers(reason)
    # Names are not numbers: a dot in an account's name stays.
    dotted = (Handle(1, 'OVH v2.1'),) + CHAIN[1:]
    _chain, reason = order_chain(LEAST_COST, dotted, 'FR', 'key', prices={1: (0.045, EUR), 2: (0.052, EUR)})
    assert _in_french_numbers(reason).startswith('least cost: OVH v2.1 at 0,045 EUR/segment')


LEAST_COST_PRICES = [None, (0.04, EUR), (0.05, EUR), (0.03, USD), (0.05, USD)]


def _least_cost_before(x, y, prices, available, references):
    """The documented rule, pair by pair: does account ``x`` (earlier in the chain than
    ``y``, or not) come before ``y``? Returns True, False or None (the chain's order).
    ``references``: (currency compared among the accounts that can take SMS, among the
    others)."""
    def rank(account):
        price = prices.get(account)
        reference = references[0] if account in available else references[1]
        compared = price is not None and price[1] == reference
        return (account not in available, 0 if compared else 1 if price is not None else 2)

    rx, ry = rank(x), rank(y)
    if rx != ry:
        return rx < ry
    if rx[1] == 0 and prices[x][0] != prices[y][0]:
        return prices[x][0] < prices[y][0]
    return None


@pytest.mark.parametrize('available', [ALL, {1, 2}, {2, 3}, {1, 3}, {1}, {2}, {3}, set()])
def test_least_cost_exhaustive(available):
    everyone = {1, 2, 3} if available is None else available
    cases = 0
    for combination in itertools.product(LEAST_COST_PRICES, repeat=3):
        prices = {account: price for account, price in zip((1, 2, 3), combination, strict=True) if price is not None}
        # The first priced account that can take SMS sets the currency compared (the first
        # priced of the chain when none can); among the others, their own first priced.
        first_priced = next((prices[a][1] for a in (1, 2, 3) if a in prices), None)
        usable = next((prices[a][1] for a in (1, 2, 3) if a in prices and a in everyone), None) or first_priced
        others = next((prices[a][1] for a in (1, 2, 3) if a in prices and a not in everyone), None) or usable
        chain, _reason = order_chain(LEAST_COST, CHAIN, 'FR', 'key', prices=prices, available=available)
        order = ids(chain)
        assert sorted(order) == [1, 2, 3]
        for x, y in itertools.combinations((1, 2, 3), 2):     # x before y in the chain
            before = _least_cost_before(x, y, prices, everyone, (usable, others))
            expected = True if before is None else before
            assert (order.index(x) < order.index(y)) == expected, (prices, available, order)
        cases += 1
    assert cases == 125


# ------------------------------------------------------------ best delivery

MIN = 50
QUALITY_GRID = {
    # (delivery rate, reported SMS) per account id
    'FR': {1: (0.91, 400), 2: (0.97, 300), 3: (0.95, 1000)},
    'GB': {1: (0.99, 49), 2: (0.80, 50), 3: (0.85, 60)},      # OVH: one report short of the sample
    'US': {1: (0.96, 100), 2: (0.96, 200), 3: (0.50, 100)},   # equal rates: the chain's order
    'DE': {},
    'BE': {3: (0.10, 500)},
}
BEST_DELIVERY_CASES = [
    ('FR', ALL, [2, 3, 1]),
    ('FR', {1, 3}, [3, 1, 2]),
    ('FR', {1}, [1, 2, 3]),
    ('FR', set(), [2, 3, 1]),
    ('GB', ALL, [3, 2, 1]),            # OVH's 99 % rests on 49 reports: after the measured ones
    ('GB', {1, 2}, [2, 1, 3]),
    ('US', ALL, [1, 2, 3]),
    ('US', {2, 3}, [2, 3, 1]),
    ('DE', ALL, [1, 2, 3]),            # nothing measured: the chain's order
    ('DE', {3}, [3, 1, 2]),
    ('BE', ALL, [3, 1, 2]),            # measured (even badly) before unmeasured
    ('BE', {1, 2}, [1, 2, 3]),
]


@pytest.mark.parametrize('region, available, expected', BEST_DELIVERY_CASES)
def test_best_delivery_table(region, available, expected):
    chain, _reason = order_chain(BEST_DELIVERY, CHAIN, region, 'key', quality=QUALITY_GRID[region],
                                 available=available, min_sample=MIN)
    assert ids(chain) == expected


def test_best_delivery_default_sample_and_explanation():
    quality = {1: (0.99, DEFAULT_MIN_SAMPLE - 1), 2: (0.90, DEFAULT_MIN_SAMPLE)}
    chain, reason = order_chain(BEST_DELIVERY, CHAIN, 'FR', 'key', quality=quality)
    assert ids(chain) == [2, 1, 3]
    assert reason.startswith(f'best delivery: Sweego France delivers 90.0 % of {DEFAULT_MIN_SAMPLE} reported SMS to FR')
    assert f'fewer than {DEFAULT_MIN_SAMPLE} reports' in reason


RATES = [None, (0.90, 10), (0.90, 100), (0.95, 100), (0.99, 49)]


@pytest.mark.parametrize('available', [ALL, {1, 2}, {2, 3}, {1, 3}, {1}, {2}, {3}, set()])
def test_best_delivery_exhaustive(available):
    everyone = {1, 2, 3} if available is None else available
    for combination in itertools.product(RATES, repeat=3):
        quality = {account: figure for account, figure in zip((1, 2, 3), combination, strict=True)
                   if figure is not None}
        chain, _reason = order_chain(BEST_DELIVERY, CHAIN, 'FR', 'key', quality=quality, available=available,
                                     min_sample=MIN)
        order = ids(chain)
        assert sorted(order) == [1, 2, 3]

        def rank(account, quality=quality):
            figure = quality.get(account)
            return (account not in everyone, not (figure and figure[1] >= MIN))

        for x, y in itertools.combinations((1, 2, 3), 2):
            if rank(x) != rank(y):
                expected = rank(x) < rank(y)
            elif not rank(x)[1] and quality[x][0] != quality[y][0]:
                expected = quality[x][0] > quality[y][0]
            else:
                expected = True        # the chain's order
            assert (order.index(x) < order.index(y)) == expected, (quality, available, order)


# ------------------------------------------------------------------ weighted

KEYS = [uuid.UUID(int=n).hex for n in range(10_000)]
# Over 10,000 keys a share p has a standard deviation of sqrt(p(1-p)/10000) <= 0.5 point:
# 2 points is 4 standard deviations.
TOLERANCE = 0.02


def _first_counts(weights, available=ALL, chain=CHAIN):
    return Counter(order_chain(WEIGHTED, chain, 'FR', key, weights=weights, available=available)[0][0].account_id
                   for key in KEYS)


@pytest.mark.parametrize('weights, available, shares', [
    ({1: 70, 2: 30}, ALL, {1: 0.70, 2: 0.30, 3: 0.0}),
    ({1: 50, 2: 30, 3: 20}, ALL, {1: 0.50, 2: 0.30, 3: 0.20}),
    ({1: 90, 3: 10}, ALL, {1: 0.90, 2: 0.0, 3: 0.10}),
    ({1: 100}, ALL, {1: 1.0, 2: 0.0, 3: 0.0}),
    # OVH cannot take SMS: its share goes to the others in proportion to their weights.
    ({1: 50, 2: 30, 3: 20}, {2, 3}, {1: 0.0, 2: 0.60, 3: 0.40}),
    ({1: 70, 2: 30}, {2, 3}, {1: 0.0, 2: 1.0, 3: 0.0}),
    # No weighted account can take SMS: the chain's order among those that can.
    ({1: 70, 2: 30}, {3}, {1: 0.0, 2: 0.0, 3: 1.0}),
    ({}, ALL, {1: 1.0, 2: 0.0, 3: 0.0}),
])
def test_weighted_split(weights, available, shares):
    counts = _first_counts(weights, available)
    for account, share in shares.items():
        assert abs(counts[account] / len(KEYS) - share) <= TOLERANCE, (account, counts)
        if share in (0.0, 1.0):
            assert counts[account] == share * len(KEYS)   # never (or always) drawn: exactly


def test_weighted_is_deterministic_per_key():
    # A retry of the same SMS (same key) draws the same account, in any process.
    for key in KEYS[:500]:
        first = order_chain(WEIGHTED, CHAIN, 'FR', key, weights={1: 70, 2: 30})[0]
        again = order_chain(WEIGHTED, CHAIN, 'FR', key, weights={2: 30, 1: 70})[0]
        assert first == again
    assert draw_position('abc', 1) == draw_position('abc', 1)
    assert 0 < draw_position('abc', 1) < 1


def test_weighted_rest_follows_the_chain():
    for key in KEYS[:300]:
        chain, reason = order_chain(WEIGHTED, CHAIN, 'FR', key, weights={1: 70, 2: 30}, available={1, 2})
        order = ids(chain)
        # After the drawn account: the rest of those that can take SMS in the chain's
        # order, then Twilio (cannot), tried last.
        assert order in ([1, 2, 3], [2, 1, 3])
        assert 'this SMS drew' in reason and 'OVH France 70 %, Sweego France 30 %' in reason


def test_weighted_only_the_missing_share_moves():
    # When OVH cannot take SMS, the keys that drew Sweego or Twilio still draw them.
    weights = {1: 50, 2: 30, 3: 20}
    for key in KEYS[:2000]:
        before = order_chain(WEIGHTED, CHAIN, 'FR', key, weights=weights)[0][0]
        after = order_chain(WEIGHTED, CHAIN, 'FR', key, weights=weights, available={2, 3})[0][0]
        if before is not OVH:
            assert after is before


# ---------------------------------------------------------- every strategy

@pytest.mark.parametrize('strategy', STRATEGIES)
@pytest.mark.parametrize('available', [ALL, {1}, {2, 3}, set()])
def test_result_is_a_permutation(strategy, available):
    for key in KEYS[:50]:
        chain, reason = order_chain(strategy, CHAIN, 'FR', key, prices=PRICE_GRID['US'], quality=QUALITY_GRID['GB'],
                                    weights={1: 40, 2: 60}, available=available)
        assert sorted(ids(chain)) == [1, 2, 3]
        assert isinstance(reason, Reason) and reason


@pytest.mark.parametrize('strategy', [LEAST_COST, BEST_DELIVERY, WEIGHTED])
def test_available_accounts_come_first(strategy):
    for available in ({1}, {2}, {3}, {1, 3}, {2, 3}):
        chain, _reason = order_chain(strategy, CHAIN, 'FR', 'key', prices=PRICE_GRID['FR'],
                                     quality=QUALITY_GRID['FR'], weights={1: 70, 2: 30}, available=available)
        order = ids(chain)
        assert set(order[:len(available)]) == available


def test_plain_ids_work_as_chain():
    chain, _reason = order_chain(LEAST_COST, (1, 2, 3), 'GB', 'key', prices=PRICE_GRID['GB'])
    assert chain == (2, 3, 1)
