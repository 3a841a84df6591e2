"""How a route uses its chain: which account tries an SMS first, and the order of the rest.

A strategy only orders: the result is always a permutation of the chain, so failover down
the rest of it, holds and every check of the dispatcher (configuration, breaker, credit,
budget, validity) apply as with the chain's own order. Nothing here imports Odoo.

* ``ordered`` (the default): the chain's order, as the route lists it. Accounts that cannot
  take an SMS now are skipped by the dispatcher, as they always were.
* ``least_cost``: the account with the lowest price per segment for the destination first,
  then the next cheapest... Accounts without a price come after the priced ones. Prices
  are compared in one currency only, the *reference currency*: the currency of the first
  priced account in the chain's order. A price in another currency is not converted (a
  rate read at send time would make the order move with the markets): its account counts
  as unpriced, and the explanation says so. Equal prices keep the chain's order.
* ``best_delivery``: the account with the highest measured delivery rate for the
  destination first, among the accounts whose rate rests on at least ``min_sample``
  reported SMS; accounts with fewer reports (or none) come after them. Equal rates keep the
  chain's order.
* ``weighted``: the first account is drawn by weight (percentages such as 70/30, e.g. to
  keep a second provider warm), deterministically from the SMS key: the same SMS (a retry,
  a later batch) draws the same account as long as the same accounts can take it. The draw
  is a weighted rendezvous hash: each account scores ``-ln(u) / weight``, ``u`` a uniform
  number in (0, 1) from SHA-256 of the key and the account id, and the lowest score wins.
  Over many keys each account wins its weight's share, and when an account cannot take
  SMS only its own share moves (to the others, in proportion to their weights). After the
  drawn account, the rest of the chain in its order. Accounts with no weight (0) are
  never drawn; they stay in the chain for failover.

Only accounts that can take an SMS now (``available``: the caller knows which are
misconfigured, out of credit or behind an open breaker) are chosen first: for
``least_cost``, ``best_delivery`` and ``weighted``, the accounts that cannot come after the
others, in the strategy's order (still tried: their breaker may close meanwhile, and a
chain that ends on them is held as before). ``ordered`` leaves them in place: the
dispatcher skips them and the trail says why, as it always did.
"""
import hashlib
import math

from .reasons import Number, _lt, listing

ORDERED = 'ordered'
LEAST_COST = 'least_cost'
BEST_DELIVERY = 'best_delivery'
WEIGHTED = 'weighted'
STRATEGIES = (ORDERED, LEAST_COST, BEST_DELIVERY, WEIGHTED)

# Reported SMS an account needs for a destination before best_delivery trusts its rate (as
# many as the quality breaker needs before it judges an account, engine.quality).
DEFAULT_MIN_SAMPLE = 20

# The same for every SMS of an ordered route: made once.
ORDERED_REASON = _lt('ordered: the first account of the chain that can take it')

__all__ = ['BEST_DELIVERY', 'DEFAULT_MIN_SAMPLE', 'LEAST_COST', 'ORDERED', 'ORDERED_REASON', 'STRATEGIES', 'WEIGHTED',
           'draw_position', 'format_price', 'order_chain']


def _account_id(item):
    """The account id of a chain item: an AccountHandle (``account_id``) or the id itself."""
    return getattr(item, 'account_id', item)


def _name(item):
    return getattr(item, 'name', None) or str(_account_id(item))


def _names(items):
    return ', '.join(_name(item) for item in items)


def format_price(value):
    """A price as people read it: 0.045, 0.0079, 1 (no trailing zeros, no exponent)."""
    text = f'{value:.6f}'.rstrip('0').rstrip('.')
    return text or '0'


def _price(value):
    """A price in a reason: written with the reader's decimal separator."""
    return Number(format_price(value))


def _percent(rate):
    return Number(f'{rate * 100:.1f} %')


def draw_position(key, account_id):
    """A uniform number in (0, 1) for (SMS key, account), the same in every process and
    every run (SHA-256, not Python's salted ``hash``)."""
    digest = hashlib.sha256(f'{key}\x1f{account_id}'.encode()).digest()
    return (int.from_bytes(digest[:8], 'big') + 1) / (2 ** 64 + 1)


def order_chain(strategy, chain, region, key, prices=None, quality=None, weights=None, available=None,
                min_sample=DEFAULT_MIN_SAMPLE):
    """(``chain`` ordered by ``strategy``, explanation Reason) for an SMS to ``region`` (ISO
    3166 alpha-2, '' unknown) whose key is ``key``.

    ``chain``: AccountHandles (or account ids) in the route's order. ``prices``: {account id:
    (amount per segment, currency code)}, missing or None amount: unknown. ``quality``:
    {account id: (delivery rate 0-1, reported SMS)}. ``weights``: {account id: percent}.
    ``available``: account ids that can take an SMS now (None: all of them). An unknown
    strategy is ``ordered``. The result is a permutation of ``chain``."""
    chain = tuple(chain)
    if strategy == LEAST_COST:
        return _least_cost(chain, region, prices or {}, available)
    if strategy == BEST_DELIVERY:
        return _best_delivery(chain, region, quality or {}, available, min_sample)
    if strategy == WEIGHTED:
        return _weighted(chain, key, weights or {}, available)
    return chain, ORDERED_REASON


def _split_available(chain, available):
    """(accounts that can take an SMS now, the others), each in chain order."""
    if available is None:
        return list(chain), []
    return ([item for item in chain if _account_id(item) in available],
            [item for item in chain if _account_id(item) not in available])


def _unavailable_note(reasons, others):
    if others:
        reasons.append(_lt('cannot take it now, tried last: %(accounts)s', accounts=_names(others)))


def _join(first, notes):
    """``first`` and the notes after it, as one Reason: 'a; b; c'."""
    reason = first
    for note in notes:
        reason = _lt('%(before)s; %(after)s', before=reason, after=note)
    return reason


def _least_cost(chain, region, prices, available):
    def price_of(item):
        amount, currency = prices.get(_account_id(item)) or (None, '')
        return (None, '') if amount is None or amount is False else (float(amount), currency or '')

    def reference_of(items):
        """The currency of the first priced account of ``items``, in the chain's order."""
        return next((price_of(item)[1] for item in items if price_of(item)[0] is not None), None)

    def by_price(items, reference):
        """(priced in the reference currency, cheapest first; other currencies; no price)."""
        priced = [item for item in items if price_of(item)[0] is not None and price_of(item)[1] == reference]
        foreign = [item for item in items if price_of(item)[0] is not None and price_of(item)[1] != reference]
        unknown = [item for item in items if price_of(item)[0] is None]
        # sorted() is stable: equal prices keep the chain's order.
        return sorted(priced, key=lambda item: price_of(item)[0]), foreign, unknown

    usable, others = _split_available(chain, available)
    # The currency compared is that of the first priced account that can take the SMS: an
    # account that cannot (breaker open) must not decide which prices count.
    reference = reference_of(usable) or reference_of(chain)
    priced, foreign, unknown = by_price(usable, reference)
    late = [item for group in by_price(others, reference_of(others) or reference) for item in group]
    ordered = tuple(priced + foreign + unknown + late)
    notes = []
    if priced:
        first = priced[0]
        rest = listing(listing((_name(item), _price(price_of(item)[0])), ' ') for item in priced[1:])
        if rest:
            head = _lt('least cost: %(account)s at %(price)s %(currency)s/segment, %(others)s',
                       account=_name(first), price=_price(price_of(first)[0]), currency=reference,
                       others=rest)
        else:
            head = _lt('least cost: %(account)s at %(price)s %(currency)s/segment',
                       account=_name(first), price=_price(price_of(first)[0]), currency=reference)
    else:
        head = _lt('least cost: no account that can take it has a price for %(country)s, so the chain\'s '
                   'order', country=region or '?')
    if foreign:
        notes.append(_lt('in another currency than %(currency)s, not compared: %(accounts)s', currency=reference,
                         accounts=listing(listing((_name(item), _price(price_of(item)[0]), price_of(item)[1]), ' ')
                                          for item in foreign)))
    if unknown and priced:
        notes.append(_lt('no price, after the priced ones: %(accounts)s', accounts=_names(unknown)))
    _unavailable_note(notes, others)
    return ordered, _join(head, notes)


def _best_delivery(chain, region, quality, available, min_sample):
    def measured(item):
        rate, sample = quality.get(_account_id(item)) or (None, 0)
        if rate is None or rate is False or (sample or 0) < min_sample:
            return None
        return float(rate), int(sample)

    def by_rate(items):
        known = [item for item in items if measured(item) is not None]
        # Highest rate first; sorted() is stable: equal rates keep the chain's order.
        return sorted(known, key=lambda item: -measured(item)[0]), [item for item in items if measured(item) is None]

    usable, others = _split_available(chain, available)
    known, unmeasured = by_rate(usable)
    late = [item for group in by_rate(others) for item in group]
    ordered = tuple(known + unmeasured + late)
    notes = []
    if known:
        first = known[0]
        rate, sample = measured(first)
        rest = listing(listing((_name(item), _percent(measured(item)[0])), ' ') for item in known[1:])
        if rest:
            head = _lt('best delivery: %(account)s delivers %(rate)s of %(sample)s reported SMS to %(country)s, '
                       '%(others)s', account=_name(first), rate=_percent(rate), sample=sample,
                       country=region or '?', others=rest)
        else:
            head = _lt('best delivery: %(account)s delivers %(rate)s of %(sample)s reported SMS to %(country)s',
                       account=_name(first), rate=_percent(rate), sample=sample, country=region or '?')
        if unmeasured:
            notes.append(_lt('fewer than %(count)s reports, after the measured ones: %(accounts)s',
                             count=min_sample, accounts=_names(unmeasured)))
    else:
        head = _lt('best delivery: no account that can take it has %(count)s reports for %(country)s yet, so '
                   'the chain\'s order', count=min_sample, country=region or '?')
    _unavailable_note(notes, others)
    return ordered, _join(head, notes)


def _weighted(chain, key, weights, available):
    def weight_of(item):
        try:
            return max(0.0, float(weights.get(_account_id(item)) or 0))
        except (TypeError, ValueError):
            return 0.0

    usable, others = _split_available(chain, available)
    candidates = [item for item in usable if weight_of(item) > 0]
    split = listing(listing((_name(item), Number(f'{weight_of(item):g} %')), ' ')
                    for item in chain if weight_of(item) > 0)
    notes = []
    if not candidates:
        head = _lt('weighted split (%(split)s): no weighted account can take it now, so the chain\'s order',
                   split=split or '-')
        _unavailable_note(notes, others)
        return tuple(usable + others), _join(head, notes)
    # Weighted rendezvous hashing: the lowest -ln(u)/weight wins with probability
    # weight / total (exponential race); ties (never seen in practice) keep the chain's order.
    drawn = min(candidates, key=lambda item: -math.log(draw_position(key, _account_id(item))) / weight_of(item))
    ordered = tuple([drawn] + [item for item in usable if item is not drawn] + others)
    total = sum(weight_of(item) for item in candidates)
    head = _lt('weighted split (%(split)s): this SMS drew %(account)s (%(share)s of the SMS its accounts '
               'can take now)', split=split, account=_name(drawn), share=f'{weight_of(drawn) * 100 / total:.0f} %')
    _unavailable_note(notes, others)
    return ordered, _join(head, notes)
