"""Ambiguous attempts: the request left, no usable answer came back.

- ``late_accept(bench, policy)``: Twilio answers after the 2 s timeout although it
  accepted: a true ambiguity. Under "at least once" the SMS fail over and each late
  acceptance is a duplicate on an ambiguous attempt; under "at most once" they are stopped
  and flagged "needs review", nothing twice.
- ``hang_at_most_once(bench)``: Twilio never answers, under "at most once": the hung
  requests are flagged for review (not sent elsewhere), the rest fail over once the breaker
  opens.
"""
from infra.settings import AT_LEAST_ONCE, AT_MOST_ONCE, GROUP


def late_accept(bench, policy):
    """The primary answers after the timeout although it accepted: a true ambiguity."""
    row = bench.begin('late answer (accepted after the 2 s timeout), '
                      + policy.replace('_', ' '), policy=policy)
    bench.sandbox.configure('twilio', latency_ms=2600)
    queued = bench.queue(row, GROUP['twilio'], 12)
    bench.send('sender', timeout=60)
    # Let the sandbox finish the requests the client gave up on.
    tally = bench.tally(row, queued, settle=1.5)
    late = bench.sandbox.counters('twilio')['recipients_accepted']
    bench.check(row, tally.ambiguous >= 1, 'no ambiguous attempt')
    bench.check(row, late >= 1, 'the slow provider accepted nothing')
    if policy == AT_LEAST_ONCE:
        bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
        bench.check(row, tally.duplicated == late,
                    f'{tally.duplicated} duplicates for {late} late acceptances')
        row.notes.append(f'{tally.ambiguous} timed out and failed over; twilio accepted '
                         f'{late} of them anyway: {tally.duplicated} duplicates, each on an '
                         f'ambiguous attempt')
    else:
        bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        bench.check(row, tally.needs_review == tally.ambiguous == tally.failed,
                    f'{tally.needs_review} flagged for review, {tally.failed} failed, '
                    f'{tally.ambiguous} ambiguous')
        row.notes.append(f'{tally.needs_review} timed out: stopped and flagged "needs review" '
                         f'(twilio did accept {tally.failed_but_accepted} of them); the other '
                         f'{tally.sent} failed over once the breaker opened')
    return bench.finish(row)


def hang_at_most_once(bench):
    row = bench.begin('hang: twilio primary, at most once', policy=AT_MOST_ONCE)
    bench.sandbox.set_mode('twilio', 'hang')
    queued = bench.queue(row, GROUP['twilio'], 12)
    bench.send('sender', timeout=60)
    bench.sandbox.set_mode('twilio', 'ok')
    tally = bench.tally(row, queued)
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    bench.check(row, tally.needs_review >= 1, 'nothing flagged for review')
    bench.check(row, tally.sent + tally.failed == len(queued), 'unaccounted SMS')
    bench.check(row, tally.failed == tally.needs_review,
                f'{tally.failed} failed but {tally.needs_review} flagged for review')
    row.notes.append(f'{tally.needs_review} hung requests flagged "needs review" (not sent '
                     f'elsewhere); {tally.sent} failed over once the breaker opened')
    return bench.finish(row)
