"""Total outages: every provider down, Odoo IAP last resort off; the company's hold.

- ``total_outage(bench)``: every provider answers 503 for 75 s (longer than a cron wake-up
  or two), cool-downs of 5 s, hold 1 h, Odoo in prefork with its default limits. The SMS
  wait in the queue (none in error), the real cron worker retries them when their breakers
  may probe again, and once the providers are back the cron sends them all by itself:
  nobody presses Resend. The drill reads the Odoo log for the cron runs and killed workers.
- ``hold_expires(bench)``: the outage outlasts the company's hold (0.003 h, about 11 s):
  the SMS end in error with the whole trail, only the last attempt final.
"""
import time
from datetime import datetime, timezone

from infra import server_log
from infra.prefork import OdooServer
from infra.settings import (
    BATCH_SIZE, CONCURRENCY, CRON_POLL_S, FAIL_MAX, QUEUE_CRON, QUEUE_CRON_NAME, SHORT,
)
from sandbox.server import PROVIDERS

# Breakers cool down quickly, the outage outlasts a cron wake-up or two.
OUTAGE_SMS_PER_GROUP = 10
OUTAGE_S = 75
OUTAGE_COOLDOWN_S = 5
HOLD_TINY_HOURS = 0.003    # about 11 s


def total_outage(bench):
    """Every provider down for longer than cron wake-ups, IAP last resort off.

    The SMS wait in the queue (none in error), the real cron worker retries them when
    their breakers may probe again, and once the providers are back the cron sends them
    all by itself: nobody presses Resend.
    """
    accounts = {provider: {'breaker_cooldown': OUTAGE_COOLDOWN_S} for provider in PROVIDERS}
    row = bench.begin(f'total outage: every provider down {OUTAGE_S} s, IAP last resort off, '
                      f'hold 1 h, prefork cron', iap_last_resort=False, max_hold_hours=1.0,
                      accounts=accounts, limit=OUTAGE_S + 2 * CRON_POLL_S + 100)
    for provider in PROVIDERS:
        bench.sandbox.set_mode(provider, 'http503')
    queued = []
    for group in (1, 2, 3):
        queued += bench.queue(row, group, OUTAGE_SMS_PER_GROUP)
    bench.control.call('crons', quiet_others=True)
    server = OdooServer(bench.odoo, 'odoo-prefork-outage', bench.http_port)
    samples = []
    recovered = sent = None
    breakers = {}
    try:
        first = server.start_job(
            QUEUE_CRON_NAME, lambda: bench.control.call('crons', trigger=[QUEUE_CRON]))
        while time.time() < first + OUTAGE_S:
            samples.append((time.time(), bench.states(queued)))
            time.sleep(2)
        during = bench.counters()
        breakers = bench.control.call('breakers')
        for provider in PROVIDERS:
            bench.sandbox.set_mode(provider, 'ok')
        recovered = time.time()
        in_force = max(OUTAGE_COOLDOWN_S * min(2 ** max(b['open_count'] - 1, 0), 8)
                       for b in breakers.values())
        bound = in_force + CRON_POLL_S + 20
        sent = bench.wait_until_none(queued, recovered + bound, poll=1.0, samples=samples)
    finally:
        lines = server.stop()
    tally = bench.tally(row, queued)
    starts, ends = server_log.job_runs(lines)
    kills = server_log.kills(lines)
    outage = [(at, st) for at, st in samples if at < recovered]
    errors = max((st['states'].get('error', 0) for _at, st in outage), default=0)
    after_first = [st for at, st in outage if ends and at > starts[0] + ends[0][4] + 1]
    # Every SMS tried so far waits with a retry time; all are still queued.
    held_ok = all(st['held'] == st['tried'] and st['states'].get('outgoing') == len(queued)
                  for st in after_first)
    untried = min((len(queued) - st['tried'] for st in after_first), default=len(queued))
    requests = {provider: during[provider]['requests'] for provider in PROVIDERS}
    runs_down = [at for at in starts if at < recovered]
    runs_up = [at for at in starts if at >= recovered]

    # How long each due retry waited for the cron worker to wake up.
    lags = []
    for previous, current in zip(starts, starts[1:], strict=False):
        due = [st['hold_until'][0] for at, st in samples
               if previous < at < current and st['hold_until']]
        if due:
            due_at = datetime.fromisoformat(due[-1]).replace(tzinfo=timezone.utc).timestamp()
            lags.append(current - due_at)
    bench.check(row, errors == 0, f'{errors} SMS in error during the outage')
    bench.check(row, after_first and held_ok,
                'during the outage, SMS tried but not waiting with a retry time: '
                + str([(st['states'], st['held'], st['tried']) for st in after_first[:3]]))
    bench.check(row, len(runs_down) >= 2, f'{len(runs_down)} cron runs during the outage')
    limit = FAIL_MAX + CONCURRENCY - 1 + len(runs_down)
    bench.check(row, all(count <= limit for count in requests.values()),
                f'requests to the providers during the outage {requests} (max {limit} each)')
    bench.check(row, sent is not None,
                f'not all sent within {bound} s of the recovery: {bench.states(queued)["states"]}')
    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    bench.check(row, not kills, f'workers killed: {[k.message[:120] for k in kills]}')
    finals = [[a['final'] for a in tally.info['sms'][item['uuid']]['attempts']]
              for item in queued]
    bench.check(row, all(f and f[-1] and not any(f[:-1]) for f in finals),
                'trails: not one final attempt at the end of each')
    attempts = sum(len(f) for f in finals)
    waited = sum(1 for f in finals if len(f) >= 2)
    row.notes.append(f'{len(queued)} SMS (3 chains of 3 accounts, cool-down '
                     f'{OUTAGE_COOLDOWN_S} s doubling per failed probe), max hold 1 h, '
                     f'batches of {BATCH_SIZE}: during the outage 0 in error, all '
                     f'{len(queued)} In Queue, each one tried waiting with a Retry At '
                     f'({untried} never tried before the recovery: held SMS count as done, so '
                     f'a run goes through the whole queue); {len(runs_down)} cron runs, provider '
                     f'requests ' + ' · '.join(f'{SHORT[p]} {n}' for p, n in requests.items())
                     + ' (3 failures to open each breaker, then one probe per run)')
    if sent is not None and runs_up:
        row.notes.append(f'providers back after {OUTAGE_S} s (cool-down in force {in_force} s): '
                         f'the cron ran {runs_up[0] - recovered:.0f} s later and all '
                         f'{tally.sent} were sent {sent - recovered:.0f} s after the recovery, '
                         f'by ' + ', '.join(f'{k} {v}' for k, v in sorted(tally.sent_by.items()))
                         + f'; 0 manual resend, 0 duplicates; {attempts} attempts in the trails '
                         f'({waited} SMS with failed attempts before their final one)')
    slept = [server_log.slept_before(lines, at) for at in starts[1:]]
    row.notes.append('cron wake-ups (Odoo polls future triggers): runs at '
                     + ', '.join(f'+{at - starts[0]:.0f} s' for at in starts)
                     + '; due retries waited ' + ', '.join(f'{lag:.0f} s' for lag in lags)
                     + ' for the worker to wake up, after sleeping '
                     + ', '.join(f'{value:.0f} s' for value in slept if value is not None)
                     + ' (Odoo\'s prefork watchdog, 120 s here, counts that sleep)')
    return bench.finish(row)


def hold_expires(bench):
    """The outage outlasts the company's hold: the SMS end in error with the whole trail."""
    accounts = {provider: {'breaker_cooldown': 2} for provider in PROVIDERS}
    row = bench.begin(f'total outage longer than the hold ({HOLD_TINY_HOURS} h = '
                      f'{HOLD_TINY_HOURS * 3600:.0f} s), IAP last resort off',
                      iap_last_resort=False, max_hold_hours=HOLD_TINY_HOURS, accounts=accounts)
    for provider in PROVIDERS:
        bench.sandbox.set_mode(provider, 'http503')
    queued = []
    for group in (1, 2, 3):
        queued += bench.queue(row, group, 3)
    uuids = [item['uuid'] for item in queued]
    bench.send('sender-first', timeout=60)
    first = bench.control.call('inspect', uuids=uuids)['sms']
    held = [record for record in first.values()
            if record['state'] == 'outgoing' and record['hold_until'] and record['held_since']]
    bench.check(row, len(held) == len(queued), f'{len(held)}/{len(queued)} held after the first run')

    def epoch(value):
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()

    if held:
        ready = max(max(epoch(r['held_since']) + HOLD_TINY_HOURS * 3600,
                        epoch(r['hold_until'])) for r in held)
        time.sleep(max(0.0, ready - time.time() + 1.0))
    bench.send('sender-after-hold', timeout=60)
    for provider in PROVIDERS:
        bench.sandbox.set_mode(provider, 'ok')
    tally = bench.tally(row, queued)
    bench.check(row, tally.failed == len(queued), f'{tally.failed}/{len(queued)} failed')
    steps = []
    for item in queued:
        record = tally.info['sms'][item['uuid']]
        trail = record['attempts']
        steps.append(len(trail))
        first_run = len(first[item['uuid']]['attempts'])
        bench.check(row, 'on hold' in record['reason'] and not record['hold_until'],
                    f'{item["number"]}: reason {record["reason"][:80]!r}')
        bench.check(row, len(trail) > first_run and trail[-1]['final']
                    and not any(a['final'] for a in trail[:-1]),
                    f'{item["number"]}: trail {[(a["outcome"], a["final"]) for a in trail]}')
    reason = next(iter(tally.info['sms'].values()))['reason']
    row.notes.append(f'first run: all {len(held)} held (In Queue, Retry At set, no error); '
                     f'after the hold: {tally.failed} in error '
                     + ', '.join(f'{k} {v}' for k, v in sorted(tally.failure_types.items()))
                     + f' with the whole trail ({min(steps, default=0)}-{max(steps, default=0)} '
                     f'attempts over both runs, only the last final); reason: '
                     f'"{reason[:90]}..."')
    return bench.finish(row)
