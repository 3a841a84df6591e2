"""Recipient errors: numbers that every provider refuses are not a provider failure.

``invalid_recipients(bench)``: 30 SMS on the three routes, 3 invalid numbers per route,
refused by every provider: they fail on their first account with the provider's reason, no
failover, breakers untouched; the valid numbers of the same requests are sent once.
"""
from sandbox.server import PROVIDERS


def invalid_recipients(bench):
    """Some numbers are refused by every provider: no failover for them, the rest sent."""
    row = bench.begin('partial invalid recipients (all providers)')
    queued, invalid = [], set()
    for group in (1, 2, 3):
        batch = bench.queue(row, group, 10)
        queued += batch
        invalid.update(item['number'] for index, item in enumerate(batch) if index % 3 == 2)
    for provider in PROVIDERS:
        bench.sandbox.configure(provider, invalid_numbers=sorted(invalid))
    bench.send('sender', timeout=60)
    tally = bench.tally(row, queued)
    bench.check(row, tally.sent == len(queued) - len(invalid),
                f'{tally.sent} sent, expected {len(queued) - len(invalid)}')
    bench.check(row, tally.failure_types == {'sms_number_format': len(invalid)},
                f'failures {tally.failure_types}')
    for item in queued:
        attempts = tally.info['sms'][item['uuid']]['attempts']
        if item['number'] in invalid:
            bench.check(row, len(attempts) == 1 and attempts[0]['outcome'] == 'recipient_error',
                        f'{item["number"]}: {[a["outcome"] for a in attempts]} '
                        f'(no failover expected)')
        else:
            bench.check(row, len(attempts) == 1 and attempts[0]['accepted'],
                        f'{item["number"]}: {[a["outcome"] for a in attempts]}')
    breakers = tally.info['breakers']
    bench.check(row, all(b['state'] == 'closed' and not b['failure_count']
                         for b in breakers.values()),
                f'recipient errors moved a breaker: {breakers}')
    row.notes.append(f'{len(invalid)} invalid numbers (3 per provider) failed on their first '
                     f'account with the provider\'s reason, no failover; breakers untouched; '
                     f'valid numbers of the same requests sent once')
    return bench.finish(row)
