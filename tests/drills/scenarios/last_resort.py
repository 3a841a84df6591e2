"""Odoo IAP, the last resort that closes every chain.

- ``all_down(bench)``: every provider refuses and Odoo IAP is down, the company's hold at
  0 h: the SMS fail at once with the whole chain in their reason (IAP tried last); once the
  providers are back, a resend sends them all and the breakers close again.
- ``iap_last_resort(bench)``: every provider refuses, IAP is up: all sent through IAP.
- ``iap_personalised(bench)``: 500 distinct bodies on the Twilio route (router batches of
  500) while Twilio refuses connections: one IAP call per batch carrying every body, not
  one call per body.
"""
from infra.settings import COOLDOWN_S, GROUP_TWILIO_ONLY
from sandbox.server import PROVIDERS

PERSONALISED_SMS = 500     # as many as the slow-provider drill: one router batch of 500


def all_down(bench):
    """Every provider refuses and Odoo IAP is down; a later resend completes the SMS.

    With the company's hold on (the default) these SMS would wait in the queue and go
    out by themselves (see the total outage drill); with the hold at 0 they end in error
    at once and an operator resends them, which is what this drill checks."""
    row = bench.begin('every provider down, IAP down, hold off (0 h), then resend',
                      max_hold_hours=0)
    for provider in PROVIDERS:
        bench.sandbox.set_mode(provider, 'refuse')
    bench.iap.mode = 'down'
    queued = []
    for group in (1, 2, 3):
        queued += bench.queue(row, group, 5)
    bench.send('sender', timeout=60)
    down = bench.control.call('inspect', uuids=[item['uuid'] for item in queued])
    requests_down = bench.requests_text()
    reasons_ok = 0
    for item in queued:
        record = down['sms'][item['uuid']]
        last = record['attempts'][-1] if record['attempts'] else {}
        if (record['state'] == 'error' and record['failure_type'] == 'sms_server'
                and 'Odoo IAP' in record['reason'] and last.get('provider') == 'iap'):
            reasons_ok += 1
    bench.check(row, reasons_ok == len(queued),
                f'{reasons_ok}/{len(queued)} failed cleanly after trying Odoo IAP last')
    bench.check(row, bench.iap.requests >= 1, 'Odoo IAP was never called')
    iap_calls = bench.iap.requests
    # The providers come back; IAP stays down. Cool-downs pass, then the operator resends.
    for provider in PROVIDERS:
        bench.sandbox.set_mode(provider, 'ok')
    for provider in PROVIDERS:
        bench.wait_breaker_ready(provider, COOLDOWN_S)
    bench.send('resend', timeout=60, resend=[item['uuid'] for item in queued])
    tally = bench.tally(row, queued)
    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent after resend')
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    bench.check(row, all(b['state'] == 'closed' for b in tally.info['breakers'].values()),
                f'breakers after the resend: {tally.info["breakers"]}')
    row.notes.append(f'company hold set to 0 h: down: {reasons_ok}/{len(queued)} failed at '
                     f'once with sms_server and the chain in the reason, IAP tried last '
                     f'({iap_calls} calls, 503); requests {requests_down}')
    row.notes.append('resend after recovery: sent by '
                     + ', '.join(f'{k} {v}' for k, v in sorted(tally.sent_by.items()))
                     + '; breakers closed again by their probes')
    return bench.finish(row)


def iap_last_resort(bench):
    row = bench.begin('every provider down, IAP up (last resort)')
    for provider in PROVIDERS:
        bench.sandbox.set_mode(provider, 'refuse')
    queued = []
    for group in (1, 2, 3):
        queued += bench.queue(row, group, 4)
    bench.send('sender', timeout=60)
    tally = bench.tally(row, queued)
    bench.check(row, tally.sent_by == {'iap': len(queued)}, f'sent by {tally.sent_by}')
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    row.notes.append(f'all {tally.sent_by.get("iap", 0)} sent through the Odoo IAP stand-in '
                     f'after each chain failed; breakers opened, later SMS skipped the '
                     f'providers without a call')
    return bench.finish(row)


def iap_personalised(bench):
    """500 personalised SMS fall back to Odoo IAP: one IAP call per round, not per body."""
    row = bench.begin(f'IAP last resort, {PERSONALISED_SMS} personalised bodies, primary refusing',
                      batch_size=500, limit=180,
                      accounts={'twilio': {'breaker_cooldown': 120}})
    bench.sandbox.set_mode('twilio', 'refuse')
    items = [{'number': number,
              'body': f'[{row.name}] Dear customer {index}, your appointment #{index} '
                      f'is confirmed for {8 + index % 10}:00'}
             for index, number in enumerate(bench.numbers(GROUP_TWILIO_ONLY, PERSONALISED_SMS), 1)]
    queued = bench.control.call('queue', items=items, timeout=120)
    result = bench.send('sender', timeout=170)
    bench.sandbox.set_mode('twilio', 'ok')
    tally = bench.tally(row, queued)
    calls = list(bench.iap.calls)
    bodies = len({item['body'] for item in items})
    bench.check(row, bodies == len(items), f'{bodies} distinct bodies for {len(items)} SMS')
    bench.check(row, tally.sent_by == {'iap': len(queued)}, f'sent by {tally.sent_by}')
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    bench.check(row, bench.iap.requests == len(calls) == result['batches'],
                f'{bench.iap.requests} IAP calls ({len(calls)} accepted) for '
                f'{result["batches"]} batches')
    bench.check(row, all(numbers == distinct for numbers, distinct in calls),
                f'IAP calls (SMS, bodies): {calls}')
    bench.check(row, sum(numbers for numbers, _ in calls) == len(queued),
                f'IAP calls carried {sum(n for n, _ in calls)} SMS')
    twilio_calls = bench.outcomes(tally, 'twilio')
    row.notes.append(f'twilio refused connections ({twilio_calls.get("provider_error", 0)} '
                     f'refused attempts opened its breaker, the other SMS skipped '
                     f'it without a call; cool-down 120 s, so no probe in between); '
                     f'{len(queued)} SMS in {result["batches"]} batches of '
                     f'{max((n for n, _ in calls), default=0)}: {len(calls)} IAP calls, each '
                     f'with as many bodies as SMS ({bodies} distinct bodies in all), '
                     f'all {tally.sent_by.get("iap", 0)} sent once')
    return bench.finish(row)
