"""Every drill, in run order, with the names ``--list`` shows and ``--only`` takes.

An entry is ``(name, label, function)``: ``--only`` accepts either the name
(``hang:twilio``) or the label, which selects the whole family (``hang``); ``function`` takes
the ``Bench``.
"""
from functools import partial

from infra.settings import AT_LEAST_ONCE, AT_MOST_ONCE, DRILL_NAME, HTTP_API
from sandbox.server import PROVIDERS
from scenarios import (
    ambiguity, bookkeeping, costs, faults, governor, http_api, last_resort, neutralized, outage, quality,
    recipients, slow_provider, validity, webhooks, windows, workers,
)


def catalogue():
    """(name, label, function(bench)) in run order."""
    entries = []
    for fault in faults.FAULTS:
        primaries = PROVIDERS + ((HTTP_API,) if fault in faults.HTTP_API_FAULTS else ())
        for primary in primaries:
            entries.append((f'{fault}:{DRILL_NAME.get(primary, primary)}', fault,
                            partial(faults.provider_fault, fault=fault, primary=primary)))
    entries += [
        ('late_accept:at_least_once', 'late_accept', partial(ambiguity.late_accept, policy=AT_LEAST_ONCE)),
        ('late_accept:at_most_once', 'late_accept', partial(ambiguity.late_accept, policy=AT_MOST_ONCE)),
        ('hang_at_most_once', 'hang_at_most_once', ambiguity.hang_at_most_once),
        ('invalid_recipients', 'invalid_recipients', recipients.invalid_recipients),
        ('all_down', 'all_down', last_resort.all_down),
        ('iap_last_resort', 'iap_last_resort', last_resort.iap_last_resort),
        ('sigkill:at_least_once', 'sigkill', partial(workers.sigkill, policy=AT_LEAST_ONCE)),
        ('sigkill:at_most_once', 'sigkill', partial(workers.sigkill, policy=AT_MOST_ONCE)),
        ('two_workers', 'two_workers', workers.two_workers),
        ('webhooks', 'webhooks', webhooks.webhooks),
        ('http_api_reports', 'http_api_reports', http_api.http_api_reports),
        ('cost_reconciliation', 'cost_reconciliation', costs.cost_reconciliation),
        ('iap_personalised', 'iap_personalised', last_resort.iap_personalised),
        ('bookkeeping:lock', 'bookkeeping', partial(bookkeeping.bookkeeping_fault, fault='lock')),
        ('bookkeeping:rename', 'bookkeeping', partial(bookkeeping.bookkeeping_fault, fault='rename')),
        ('bookkeeping:journal', 'bookkeeping', partial(bookkeeping.bookkeeping_fault, fault='journal')),
        ('total_outage:hold_expires', 'total_outage', outage.hold_expires),
        ('neutralized_copy', 'neutralized_copy', neutralized.neutralized_copy),
        ('slow_provider:at_least_once', 'slow_provider',
         partial(slow_provider.slow_provider, policy=AT_LEAST_ONCE)),
        ('slow_provider:at_most_once', 'slow_provider',
         partial(slow_provider.slow_provider, policy=AT_MOST_ONCE)),
        # The same at 30 s, where the router's budget in prefork leaves room for requests.
        ('slow_provider:limit_30:at_least_once', 'slow_provider',
         partial(slow_provider.slow_provider, policy=AT_LEAST_ONCE, limit=30, count=200)),
        ('slow_provider:limit_30:at_most_once', 'slow_provider',
         partial(slow_provider.slow_provider, policy=AT_MOST_ONCE, limit=30, count=200)),
        ('total_outage', 'total_outage', outage.total_outage),
        ('windows', 'windows', windows.windows),
        ('governor', 'governor', governor.governor),
        # About 7 minutes: the outage outlasts a real 300 s validity.
        ('validity', 'validity', validity.validity),
        # About 2 minutes: a real 1-minute cool-down of the quality breaker.
        ('quality', 'quality', quality.quality),
    ]
    return entries


def select(only):
    """The entries ``--only`` names (all of them without it), in run order."""
    entries = catalogue()
    if not only:
        return entries
    wanted = [name.strip() for name in only.split(',') if name.strip()]
    chosen = [e for e in entries if e[0] in wanted or e[1] in wanted]
    unknown = [w for w in wanted if not any(w in (e[0], e[1]) for e in entries)]
    if unknown:
        raise SystemExit(f'unknown drill(s): {", ".join(unknown)} (see --list)')
    return chosen
