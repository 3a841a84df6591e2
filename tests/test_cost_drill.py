"""The cost reconciliation drill's comparison: equal to the cent passes, a cent apart fails."""
import sys
from decimal import Decimal
from pathlib import Path

DRILLS = Path(__file__).resolve().parent / 'drills'
if str(DRILLS) not in sys.path:
    sys.path.insert(0, str(DRILLS))

from scenarios.costs import CREDIT_VALUE, reconcile  # noqa: E402


def billing(sweego='1.2345', twilio='0.948', ovh='37.5'):
    return {
        'sweego': {'unit': 'EUR', 'amount': sweego, 'messages': 3, 'parts': 5},
        'twilio': {'unit': 'USD', 'amount': twilio, 'messages': 2, 'parts': 4},
        'ovh': {'unit': 'credits', 'amount': ovh, 'messages': 4, 'parts': 9},
    }


def ledger(sweego='1.2345', twilio='0.948', ovh=None, currencies=None):
    currencies = currencies or {}
    ovh = str(Decimal('37.5') * CREDIT_VALUE) if ovh is None else ovh
    return {
        'sweego': {'attempts': 3, 'totals': {currencies.get('sweego', 'EUR'): sweego}, 'sources': {'provider': 3}},
        'twilio': {'attempts': 2, 'totals': {currencies.get('twilio', 'USD'): twilio}, 'sources': {'provider': 2}},
        'ovh': {'attempts': 4, 'totals': {currencies.get('ovh', 'EUR'): ovh}, 'sources': {'provider': 4}},
    }


def test_equal_totals_reconcile():
    assert reconcile(ledger(), billing()) == []
    # Costs are stored to 5 decimals: a rounding well below the cent still agrees.
    assert reconcile(ledger(sweego='1.23452'), billing()) == []


def test_a_cent_apart_fails():
    problems = reconcile(ledger(twilio='0.958'), billing())
    assert len(problems) == 1 and problems[0].startswith('twilio: the ledger says 0.958 USD')
    assert reconcile(ledger(sweego='1.2395'), billing())         # half a cent is not "to the cent"


def test_ovh_credits_are_converted_with_the_credit_value():
    assert reconcile(ledger(), billing(ovh='37.5')) == []
    assert reconcile(ledger(), billing(ovh='38.5'))               # one credit more billed


def test_other_currency_or_missing_provider_fails():
    assert reconcile(ledger(currencies={'twilio': 'EUR'}), billing())
    assert reconcile({}, billing())
    assert reconcile({}, billing(sweego='0', twilio='0', ovh='0')) == []
    assert reconcile(ledger(), billing(), only=('ovh',)) == []
