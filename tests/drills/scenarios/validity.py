"""Validity: a provider outage longer than the SMS's validity.

``validity(bench)``: the company's transactional SMS have a validity of 5 minutes (300 s);
every provider of every chain answers 503 for 330 s, Odoo IAP last resort off, the company
holds SMS for 1 h (so the hold is not what ends them), Odoo in prefork with its default
limits. Three waves of SMS: queued right before the outage (A), 20 s into it (B), and 200 s
into it (C, still valid when the providers are back). The SMS of A and B must end Expired
(failure type ``sms_expired``, the router's reason, a last attempt *Expired* without a
request) and none may be accepted by any provider (the sandbox's and the IAP stand-in's
own logs); those of C must be sent after the recovery, before their expiry. Nothing may be
lost: every SMS ends sent or failed with its reason. The drill takes about 7 minutes of real
time: the validity is the product's own (minutes, 2 at least) and the drill keeps the
issue's 300 s, so it runs alone with ``--only validity`` and in the full run.
"""
import time
from datetime import datetime, timezone

from infra import server_log
from infra.prefork import OdooServer
from infra.settings import CRON_POLL_S, QUEUE_CRON, QUEUE_CRON_NAME, SHORT
from sandbox.server import PROVIDERS

VALIDITY_MINUTES = 5
VALIDITY_S = VALIDITY_MINUTES * 60
OUTAGE_S = 330                  # longer than the validity
WAVE_B_AT_S = 20                # queued during the outage, expires during it
WAVE_C_AT_S = 200               # queued during the outage, still valid when it ends
SMS_PER_GROUP = 4
COOLDOWN_S = 5
REASON = f'not accepted by any provider within its validity of {VALIDITY_MINUTES} min (queued at '


def _epoch(value):
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _digits(number):
    return ''.join(ch for ch in number or '' if ch.isdigit())


def validity(bench):
    accounts = {provider: {'breaker_cooldown': COOLDOWN_S} for provider in PROVIDERS}
    row = bench.begin(f'validity: every provider down {OUTAGE_S} s, longer than a {VALIDITY_S} s '
                      f'validity, IAP last resort off, hold 1 h, prefork cron',
                      iap_last_resort=False, max_hold_hours=1.0, accounts=accounts,
                      limit=OUTAGE_S + 2 * CRON_POLL_S + 150)
    bench.control.call('configure', company_values={'sms_router_validity_transactional': VALIDITY_MINUTES})
    server = None
    waves, samples = {}, []
    try:
        def queue(wave, start):
            items = []
            for group in (1, 2, 3):
                items += bench.queue(row, group, SMS_PER_GROUP, start=start, tag=f':{wave}')
            waves[wave] = items
            return items

        queue('A', 1)                          # before the outage: no worker runs yet
        for provider in PROVIDERS:
            bench.sandbox.set_mode(provider, 'http503')
        outage_start = time.time()
        bench.control.call('crons', quiet_others=True)
        server = OdooServer(bench.odoo, 'odoo-prefork-validity', bench.http_port)
        server.start_job(QUEUE_CRON_NAME, lambda: bench.control.call('crons', trigger=[QUEUE_CRON]))
        pending = {'B': WAVE_B_AT_S, 'C': WAVE_C_AT_S}
        while time.time() < outage_start + OUTAGE_S:
            elapsed = time.time() - outage_start
            for wave, at in list(pending.items()):
                if elapsed >= at:
                    queue(wave, 101 if wave == 'B' else 201)   # creating SMS triggers the queue cron
                    del pending[wave]
            samples.append((time.time(), {wave: bench.states(items) for wave, items in waves.items()}))
            time.sleep(2)
        during = bench.counters()
        iap_during = bench.iap.requests
        for provider in PROVIDERS:
            bench.sandbox.set_mode(provider, 'ok')
        recovered = time.time()
        everything = [item for items in waves.values() for item in items]
        done = None
        while time.time() < recovered + CRON_POLL_S + 60:
            states = {wave: bench.states(items) for wave, items in waves.items()}
            samples.append((time.time(), states))
            if not any(st['states'].get('outgoing') for st in states.values()):
                done = time.time()
                break
            time.sleep(2)
    finally:
        lines = server.stop() if server else []
        bench.control.call('configure', company_values={'sms_router_validity_transactional': 0})

    expired_waves = waves['A'] + waves['B']
    tally = bench.tally(row, [item for items in waves.values() for item in items])
    info = tally.info['sms']
    accepted = bench.acceptances()
    messages = {}
    for provider in PROVIDERS:
        for message in bench.sandbox.messages(provider, limit=0):
            messages.setdefault((_digits(message['to']), message.get('body')), []).append(
                (provider, message['created_at']))

    # 0 expired SMS accepted by any provider, each Expired with its reason and trail.
    accepted_expired = [item['number'] for item in expired_waves
                        if any(a[2] == item['body'] for a in accepted.get(_digits(item['number']), []))]
    bench.check(row, not accepted_expired, f'expired SMS accepted by a provider: {accepted_expired}')
    not_expired = []
    for item in expired_waves:
        record = info[item['uuid']]
        last = record['attempts'][-1] if record['attempts'] else {}
        if not (record['state'] == 'error' and record['failure_type'] == 'sms_expired'
                and record['reason'].startswith(REASON) and last.get('outcome') == 'expired'
                and last.get('final') and not last.get('message_id')):
            not_expired.append((item['number'], record['state'], record['failure_type'],
                                record['reason'][:60], last.get('outcome')))
    bench.check(row, not not_expired, f'not Expired with its reason and trail: {not_expired[:3]}')
    # Nothing accepted after its expiry, whatever the wave (the sandbox's own clock).
    late = []
    for items in waves.values():
        for item in items:
            expires = _epoch(info[item['uuid']]['expires_at'])
            for provider, created in messages.get((_digits(item['number']), item['body']), []):
                if expires is None or created > expires:
                    late.append((item['number'], provider, expires, created))
    bench.check(row, not late, f'accepted after their expiry: {late[:3]}')
    # Wave C was still valid when the providers came back: sent, not expired.
    sent_c = [item for item in waves['C'] if info[item['uuid']]['state'] in ('pending', 'sent', 'process')]
    bench.check(row, len(sent_c) == len(waves['C']),
                f'wave C (queued {WAVE_C_AT_S} s into the outage): {len(sent_c)}/{len(waves["C"])} sent')
    bench.check(row, done is not None, f'still queued after the recovery: {bench.states(everything)["states"]}')
    # Held during the outage, never failed before their expiry (an OVH step with less than
    # its minute left is skipped for the next account, it does not end the SMS).
    early = []
    for at, states in samples:
        for wave in ('A', 'B', 'C'):
            if wave not in states or not states[wave]['states'].get('error'):
                continue
            first_expiry = min(_epoch(info[item['uuid']]['expires_at']) for item in waves[wave])
            if at < first_expiry:
                early.append((wave, round(at - outage_start), states[wave]['states']))
    bench.check(row, not early, f'SMS in error before their expiry: {early[:3]}')
    # How long after its expiry each SMS was marked Expired (the cron worker's wake-up).
    lags = []
    for wave in ('A', 'B'):
        expiry = max(_epoch(info[item['uuid']]['expires_at']) for item in waves[wave])
        seen = next((at for at, states in samples if wave in states
                     and states[wave]['states'].get('error') == len(waves[wave])), None)
        if seen is not None:
            lags.append((wave, seen - expiry))
    bench.check(row, all(lag <= CRON_POLL_S + 30 for _wave, lag in lags),
                f'marked Expired long after the expiry: {lags}')
    kills = server_log.kills(lines)
    bench.check(row, not kills, f'workers killed: {[k.message[:120] for k in kills]}')

    requests = ' · '.join(f'{SHORT[p]} {during[p]["requests"]}' for p in PROVIDERS)
    reason = info[expired_waves[0]['uuid']]['reason'] if expired_waves else ''
    row.notes.append(
        f'company validity {VALIDITY_MINUTES} min; every provider down {OUTAGE_S} s (503), IAP last resort '
        f'off, hold 1 h; {len(waves["A"])} SMS queued before the outage, {len(waves["B"])} at +{WAVE_B_AT_S} s, '
        f'{len(waves["C"])} at +{WAVE_C_AT_S} s: provider requests during the outage {requests}, IAP '
        f'{iap_during} (held, retried, none in error before its expiry: an OVH step with less than a '
        f'minute left is skipped); '
        f'{tally.failure_types.get("sms_expired", 0)} Expired ({len(accepted_expired)} of them accepted by a '
        f'provider), reason "{reason[:96]}..."; marked Expired '
        + ', '.join(f'{wave} {lag:.0f} s' for wave, lag in lags) + ' after their expiry (cron wake-up); '
        'after the recovery wave C sent by '
        + ', '.join(f'{k} {v}' for k, v in sorted(tally.sent_by.items()))
        + f' before its expiry; {len(late)} acceptances after an expiry in the sandbox log')
    return bench.finish(row)
