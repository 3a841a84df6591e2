"""The throughput governor: four worker processes share one account's rate limit.

- ``governor(bench)``: Twilio alone on its route (Odoo IAP last resort off), capped at
  ``RATE`` segments per second on the router's account (*Rate Limit*) and on the sandbox,
  which answers 429 with a Retry-After past the same cap (its own bucket, one second of
  burst, as providers allow). ``MARKETING`` marketing SMS are queued at once (about 100 s
  of sending), then ``WORKERS`` worker processes drain the queue as the SMS queue cron does
  (``_process_queue`` until nothing is due, batches of 500 locked with SKIP LOCKED), while
  ``TRANSACTIONAL`` transactional SMS (OTP-like) are queued one by one during the backlog.

Measured from the sandbox's own request log (arrival time, segments it counted itself):
the segments accepted in any 10-second window (at most 5 % above the cap), the share of
the cap used from the first request to the last marketing SMS (at least 90 %), the 429
answers (none), and for each transactional SMS the time from its commit in the queue to
its arrival at the provider (95th percentile within 5 s); then every SMS is checked
against the provider's message log (nothing lost, nothing twice).
"""
import time

from infra.processes import Sender
from infra.settings import GROUP_TWILIO_ONLY

RATE = 20                   # segments per second, on the account and on the sandbox
MARKETING = 2000
TRANSACTIONAL = 50
WORKERS = 4
WINDOW_S = 10.0
MAX_OVER = 0.05             # at most 5 % above the cap in any window
MIN_USE = 0.90              # at least 90 % of the cap used while the backlog lasts
OTP_P95_S = 5.0
OTP_FIRST_S = 8.0           # the first transactional SMS is queued this long after the start
OTP_EVERY_S = 1.5           # ... then one every this many seconds (50 over 75 s)
BATCH_SIZE = 500            # Odoo's default sms.session.batch.size
LIMIT_S = 420


def _max_window(entries, window):
    """The most segments accepted in any ``window`` seconds, and when that window starts."""
    best, start_at, total, tail = 0, None, 0, 0
    for entry in entries:
        total += entry['segments']
        while entries[tail]['at'] <= entry['at'] - window:
            total -= entries[tail]['segments']
            tail += 1
        if total > best:
            best, start_at = total, entries[tail]['at']
    return best, start_at


def _percentile(values, share):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.5)) - 1))]


def governor(bench):
    row = bench.begin(f'governor: {WORKERS} workers, twilio capped at {RATE} segments/s, '
                      f'{MARKETING} marketing + {TRANSACTIONAL} transactional SMS',
                      batch_size=BATCH_SIZE, iap_last_resort=False, limit=LIMIT_S,
                      accounts={'twilio': {'governor_rate': float(RATE), 'max_concurrency': 8}})
    try:
        _governor(bench, row)
    finally:
        bench.control.call('configure', accounts={'twilio': {'governor_rate': 0.0}})
    return bench.finish(row)


def _governor(bench, row):
    bench.sandbox.configure('twilio', rate_limit=RATE)
    group = GROUP_TWILIO_ONLY
    items = [{'number': number, 'body': f'[{row.name[:8]}] Black Friday: -20% on everything until Sunday'}
             for number in bench.numbers(group, MARKETING)]
    marketing = []
    for start in range(0, MARKETING, 500):
        marketing += bench.control.call('queue', items=items[start:start + 500], traffic='marketing', timeout=120)
    started = time.time()
    senders = [Sender(bench.odoo, f'governed-{index}', {'max_seconds': LIMIT_S - 60}) for index in range(WORKERS)]
    otps, queued_at = [], {}
    numbers = bench.numbers(group, TRANSACTIONAL, start=MARKETING + 1)
    for index, number in enumerate(numbers):
        due = started + OTP_FIRST_S + index * OTP_EVERY_S
        time.sleep(max(0.0, due - time.time()))
        created = bench.control.call('queue', items=[{'number': number, 'body': f'Your code is {100000 + index}'}],
                                     traffic='transactional')
        queued_at[number] = time.time()     # committed: visible to the workers from now
        otps += created
    results = [sender.wait(LIMIT_S - 30) for sender in senders]
    elapsed = time.time() - started

    log = bench.sandbox.request_log('twilio', since=started - 1)
    accepted = [entry for entry in log if not entry['limited']]
    limited = [entry for entry in log if entry['limited']]
    otp_numbers = set(queued_at)
    marketing_times = [entry['at'] for entry in accepted if not otp_numbers & set(entry['numbers'])]
    first, last = (accepted[0]['at'], max(marketing_times)) if marketing_times else (started, started)
    span = max(last - first, 1e-6)
    segments = sum(entry['segments'] for entry in accepted if entry['at'] <= last)
    use = segments / (span * RATE)
    worst, worst_at = _max_window(accepted, WINDOW_S)
    latencies = []
    for entry in accepted:
        for number in entry['numbers']:
            if number in queued_at and number in otp_numbers:
                latencies.append(entry['at'] - queued_at[number])
                otp_numbers.discard(number)
    p95 = _percentile(latencies, 0.95)

    tally = bench.tally(row, marketing + otps)
    bench.check(row, tally.sent == len(marketing) + len(otps), f'{tally.sent}/{len(marketing) + len(otps)} sent')
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    bench.check(row, worst <= RATE * WINDOW_S * (1 + MAX_OVER),
                f'{worst} segments in 10 s (cap {RATE * WINDOW_S:g}, at most {RATE * WINDOW_S * (1 + MAX_OVER):g})')
    bench.check(row, use >= MIN_USE, f'{use:.1%} of the cap used while the backlog lasted (at least {MIN_USE:.0%})')
    bench.check(row, not limited, f'{len(limited)} requests answered 429 by the sandbox')
    bench.check(row, len(latencies) == len(otps), f'{len(latencies)}/{len(otps)} transactional SMS seen by twilio')
    bench.check(row, p95 is not None and p95 <= OTP_P95_S,
                f'transactional SMS p95 {p95 if p95 is None else round(p95, 2)} s from queued to accepted '
                f'(at most {OTP_P95_S:g} s)')
    batches = sum(result['batches'] for result in results)
    row.notes.append(
        f'{WORKERS} worker processes (queue batches of {BATCH_SIZE}, SKIP LOCKED), {batches} batches in all, '
        f'drained in {elapsed:.0f} s; twilio (sandbox capped at {RATE} segments/s, 1 s burst): '
        f'{len(accepted)} requests, {sum(entry["segments"] for entry in accepted)} segments, '
        f'{len(limited)} answered 429')
    row.notes.append(
        f'backlog {span:.1f} s from the first request to the last marketing SMS: {segments} segments, '
        f'{segments / span:.2f}/s = {use:.1%} of the cap; busiest 10 s window {worst} segments '
        f'({worst / (RATE * WINDOW_S) - 1:+.1%} vs the cap) starting {(worst_at or started) - started:.1f} s in')
    if latencies:
        row.notes.append(
            f'{len(latencies)} transactional SMS, queued one every {OTP_EVERY_S:g} s during the backlog: '
            f'queued to accepted p50 {_percentile(latencies, 0.5):.2f} s, p95 {p95:.2f} s, '
            f'max {max(latencies):.2f} s')
