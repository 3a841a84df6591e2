"""A slow provider and a long queue, with Odoo in prefork and a low limit per cron worker.

``slow_provider(bench, policy, limit, count)``: Twilio alone on its route (IAP last resort
off), 1 s per answer, one recipient per request, 4 requests in flight, 3 s timeout, router
batches of 500, ``--limit-time-real-cron`` and ``--limit-time-real`` 20 s (500 SMS) or 30 s
(200 SMS). The 500 SMS need more than two minutes of requests, six times what a 20 s cron
worker may last. Each cron job must stop starting requests in time and leave the rest
queued for the next job, until the queue is empty, without Odoo killing the worker in a job
(its transaction would roll back after Twilio accepted SMS, and the next run would send
them again). The drill reads the Odoo log (``infra.server_log``) for killed workers, the
cron jobs and the router's batch lines.
"""
import time

from infra import server_log
from infra.prefork import OdooServer
from infra.settings import CONCURRENCY, CRON_POLL_S, GROUP_TWILIO_ONLY, QUEUE_CRON, QUEUE_CRON_NAME

SLOW_SMS = 500
SLOW_LATENCY_MS = 1000
SLOW_TIMEOUT_S = 3.0       # three times the latency: a loaded machine must not make it ambiguous
SLOW_TIME_LIMIT_S = 20     # --limit-time-real-cron and --limit-time-real
SLOW_DRAIN_S = 330         # 500 SMS at 4 requests of 1 s in flight need 125 s of sending
SLOW_STALL_S = 30          # no SMS accepted for this long: the queue is not moving


def slow_provider(bench, policy, limit=SLOW_TIME_LIMIT_S, count=SLOW_SMS):
    """One slow provider, a long queue, Odoo in prefork with a low limit per cron worker.

    Twilio takes one recipient per request, 4 in flight: at 1 s an answer, 500 SMS need
    more than two minutes of requests, six times what a 20 s cron worker may last. Each
    job must stop starting requests in time and leave the rest queued for the next job,
    until the queue is empty, without Odoo killing the worker in a job (its transaction
    would roll back after Twilio accepted SMS, and the next run would send them again).
    """
    row = bench.begin(f'slow provider: twilio 1 s, the only account of its chain, {count} SMS, '
                      f'prefork, --limit-time-real-cron {limit}, {policy.replace("_", " ")}',
                      policy=policy, batch_size=500, iap_last_resort=False,
                      accounts={'twilio': {'timeout': SLOW_TIMEOUT_S}},
                      limit=SLOW_DRAIN_S + 90)
    bench.sandbox.configure('twilio', latency_ms=SLOW_LATENCY_MS)
    queued = bench.queue(row, GROUP_TWILIO_ONLY, count)
    quiet = bench.control.call('crons', quiet_others=True)
    server = OdooServer(bench.odoo, f'odoo-prefork-slow-{limit}-{policy}', bench.http_port,
                        limit_time_real=limit, limit_time_real_cron=limit)
    try:
        started = server.start_job(
            QUEUE_CRON_NAME, lambda: bench.control.call('crons', trigger=[QUEUE_CRON]))
        drained = bench.wait_until_none(queued, started + SLOW_DRAIN_S,
                                        stalled=('twilio', SLOW_STALL_S))
    finally:
        lines = server.stop()
    tally = bench.tally(row, queued)
    in_job, idle_kills = server_log.kills_by_kind(lines)
    batches = server_log.router_batches(lines)
    starts, ends = server_log.job_runs(lines)
    deferred = [batch[4] for batch in batches]
    longest = max((end[4] for end in ends), default=0.0)
    statuses = {}
    for end in ends:
        statuses[end[0]] = statuses.get(end[0], 0) + 1
    twilio = bench.sandbox.counters('twilio')
    empty = sum(1 for line in lines if 'processed no record' in line.message)
    bench.check(row, drained is not None,
                f'queue not drained (given up after {SLOW_DRAIN_S} s, or {SLOW_STALL_S} s '
                f'without an SMS accepted): {bench.states(queued)["states"]}; {len(starts)} cron '
                f'jobs, {empty} of them "processed no record"')
    bench.check(row, tally.sent == len(queued) and tally.sent_by == {'twilio': len(queued)},
                f'{tally.sent}/{len(queued)} sent, by {tally.sent_by}')
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    bench.check(row, twilio['recipients_accepted'] == tally.sent,
                f'twilio accepted {twilio["recipients_accepted"]} for {tally.sent} SMS sent')
    bench.check(row, not in_job, 'Odoo killed the cron worker in a job: '
                + ' | '.join(line.message.split('\n')[0][:120] for line in in_job[:3]))
    bench.check(row, not idle_kills, f'Odoo killed {len(idle_kills)} idle cron workers '
                f'(a limit below its {CRON_POLL_S - 10}-{CRON_POLL_S - 1} s sleep)')
    bench.check(row, 'failed' not in statuses, f'cron jobs: {statuses}')
    bench.check(row, longest < limit, f'a cron job lasted {longest:.1f} s (limit {limit} s)')
    duration = (drained or time.time()) - started
    ideal = count * SLOW_LATENCY_MS / 1000 / CONCURRENCY
    row.notes.append(f'Odoo prefork (2 HTTP workers, which take the status callbacks, 1 cron '
                     f'worker), --limit-time-real-cron {limit}; the other {quiet["pushed"]} '
                     f'scheduled actions pushed a day ahead; the queue cron triggered once, '
                     f'as soon as the cron worker listened')
    row.notes.append((f'drained in {duration:.0f} s' if drained else
                      f'not drained: {tally.sent} sent in {duration:.0f} s')
                     + f' ({ideal:.0f} s of requests at {CONCURRENCY} in flight): '
                     f'{len(starts)} cron jobs '
                     + ', '.join(f'{n} {status}' for status, n in sorted(statuses.items()))
                     + f' ({empty} "processed no record"), longest {longest:.1f} s; '
                     f'{len(batches)} router batches, {sum(1 for d in deferred if d)} of them '
                     f'cut by the deadline ({sum(deferred)} SMS deferred in all, at most '
                     f'{max(deferred, default=0)} in one)')
    row.notes.append(f'workers killed in a job: {len(in_job)}, idle: {len(idle_kills)} '
                     f'("timeout after", "virtual real time limit", SIGKILL in the Odoo log); '
                     f'twilio: {twilio["requests"]} requests, {twilio["recipients_accepted"]} '
                     f'accepted, none twice; {twilio["callbacks"].get("sent", 0)} status '
                     f'callbacks answered by the HTTP workers')
    return bench.finish(row)
