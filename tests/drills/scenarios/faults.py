"""Provider faults: the primary of a route starts failing in the middle of a run.

``provider_fault(bench, fault, primary)``, one drill per fault and primary (``refuse:sweego``
... ``broken_json:ovh``, and ``HTTP_API_FAULTS`` with the HTTP API account as the primary:
``http500:http_api`` ...): 30 SMS on the route whose primary is ``primary``; once it has
accepted 8, the sandbox switches it to ``fault``:

- ``refuse``: its port closes (a true ``ECONNREFUSED``): no request may reach it after that;
- ``http500`` (provider errors), ``hang`` and ``broken_json`` (no usable answer after the
  request left: ambiguous attempts, failed over under "at least once"): at most
  ``FAIL_MAX + CONCURRENCY - 1`` requests after the fault;
- ``http429``: it answers 429 with ``Retry-After: 3``: the account pauses (only requests
  already in flight may follow), then takes traffic again once the pause is over.

Except after a 429, the primary's breaker must be open. Every SMS must be sent, by the next
account of the chain for those after the fault, none twice (except, for ``refuse``, requests
in flight when the port closed: ambiguous).
"""
import time
from datetime import datetime, timezone

from infra.settings import CHAINS, CONCURRENCY, COOLDOWN_S, FAIL_MAX, GROUP, LABEL

# In run order; each with every built-in provider as the primary.
FAULTS = ('refuse', 'http500', 'hang', 'http429', 'broken_json')
# With the HTTP API account as the primary (its route: HTTP API -> Sweego -> Twilio -> OVH):
# the same drills, on the generic provider's answer reading (rules, per-recipient results)
# and the stand-in of its template.
HTTP_API_FAULTS = ('refuse', 'http500', 'hang', 'http429', 'broken_json')


def provider_fault(bench, fault, primary):
    """The primary starts failing with ``fault`` in the middle of a run."""
    expected = {'refuse': 'provider_error', 'http500': 'provider_error',
                'http429': 'provider_error', 'hang': 'ambiguous',
                'broken_json': 'ambiguous'}[fault]
    group = GROUP[primary]
    fallback = CHAINS[group][1]
    row = bench.begin(f'{fault}: {LABEL.get(primary, primary)} primary')
    if fault == 'http429':
        bench.sandbox.configure(primary, retry_after=3)
    queued = bench.queue(row, group, 30)
    flip = bench.when_accepted(primary, 8, lambda: bench.sandbox.set_mode(primary, fault))
    result = bench.send('sender', timeout=60)
    flip['thread'].join(1)
    bench.sandbox.set_mode(primary, 'ok')
    tally = bench.tally(row, queued)
    if not bench.check(row, flip['fired'], f'the fault never applied: {primary} accepted '
                       f'fewer than 8 SMS before the run ended'):
        return bench.finish(row)
    after = bench.counters()
    primary_calls = after[primary]['requests'] - flip['counters'][primary]['requests']
    outcomes = bench.outcomes(tally, primary)
    breakers = tally.info['breakers']
    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
    # Only 'refuse' can duplicate: closing the port cuts the requests in flight, which
    # the provider may still complete (ambiguous, failed over under "at least once").
    bench.check(row, tally.duplicated == 0 or (fault == 'refuse'
                                               and tally.duplicated <= tally.ambiguous),
                f'{tally.duplicated} duplicates for {tally.ambiguous} ambiguous SMS')
    bench.check(row, outcomes.get(expected, 0) >= 1,
                f'no {expected} attempt on {primary}: {outcomes}')
    bench.check(row, tally.sent_by.get(fallback, 0) >= 1,
                f'nothing failed over to {fallback}: {tally.sent_by}')
    if fault == 'refuse':
        bench.check(row, primary_calls == 0,
                    f'{primary_calls} requests reached the refusing {primary}')
    elif fault == 'http429':
        # The first 429 pauses the account: only requests already in flight may follow.
        bench.check(row, primary_calls <= CONCURRENCY,
                    f'{primary_calls} requests to {primary} after its 429 (max {CONCURRENCY})')
        bench.check(row, bool(breakers[primary]['paused_until']),
                    f'{primary} not paused after a 429: {breakers[primary]}')
    else:
        limit = FAIL_MAX + CONCURRENCY - 1
        bench.check(row, primary_calls <= limit,
                    f'{primary_calls} requests to the failing {primary} (max {limit})')
    if fault != 'http429':
        bench.check(row, breakers[primary]['state'] in ('open', 'half-open'),
                    f'{primary} breaker {breakers[primary]["state"]}, expected open')
    accepted_before = flip['counters'][primary]['recipients_accepted']
    row.notes.append(f'{primary} failed with {fault} after {accepted_before} '
                     f'accepted; {primary_calls} calls after that; attempts on {primary}: '
                     + ', '.join(f'{k} {v}' for k, v in sorted(outcomes.items())))
    row.notes.append('sent by ' + ', '.join(f'{k} {v}'
                                            for k, v in sorted(tally.sent_by.items())))
    if tally.ambiguous:
        row.notes.append(f'{tally.ambiguous} SMS with an ambiguous attempt, failed over'
                         + (f' ({tally.duplicated} of them had been accepted: in flight '
                            f'when the port closed)' if tally.duplicated else ''))
    row.notes.append(f'{result["batches"]} batches')
    if fault == 'http429':
        # The pause ends: the provider takes traffic again.
        bench.wait_breaker_ready(primary, COOLDOWN_S)
        paused = breakers[primary]['paused_until']
        if paused:
            until = datetime.fromisoformat(paused)
            until = until if until.tzinfo else until.replace(tzinfo=timezone.utc)
            delay = (until - datetime.now(timezone.utc)).total_seconds() + 0.2
            if delay > 0:
                time.sleep(delay)
        before = bench.sandbox.counters(primary)['recipients_accepted']
        later = bench.queue(row, group, 10, start=101, tag=' after the pause')
        bench.send('sender-after-pause', timeout=60)
        tally2 = bench.tally(row, later)
        taken = bench.sandbox.counters(primary)['recipients_accepted'] - before
        bench.check(row, tally2.sent == len(later) and taken == len(later),
                    f'after the pause {primary} took {taken}/{len(later)}')
        row.notes.append(f'after Retry-After: {primary} took {taken}/{len(later)} again')
    return bench.finish(row)
