"""Worker processes: one killed mid-batch, two sharing a breaker.

- ``sigkill(bench, policy)``: a worker is killed (SIGKILL, as the OOM killer or a container
  stop timeout would) while it sends a batch of 20, then another one starts. Odoo commits a
  batch after its provider calls, so the SMS of the killed batch are back in the queue.
  Under "at least once" those the provider had accepted go out again (bounded by one
  batch: the crash window, as in stock Odoo). Under "at most once" every provider call was
  journaled first (committed hand-off): the restarted worker flags the handed-off SMS for
  review instead of sending them again, so nothing is duplicated.
- ``two_workers(bench)``: the breaker is shared by worker processes. Odoo runs a cron job
  in one process at a time, so two processes send at once as the queue cron in one worker
  and an HTTP worker sending what a user just posted (``create_and_send``). A: the cron
  worker opens Twilio's breaker; B: an HTTP worker never calls Twilio while it is open; C:
  cool-down over, both send at once and only one probe request goes out (it fails); D: the
  provider is back, the next probe closes the breaker.
"""
import time

from infra.processes import Sender
from infra.settings import AT_LEAST_ONCE, AT_MOST_ONCE, CONCURRENCY, FAIL_MAX, GROUP, LATENCY_MS
from scenarios.base import digits


def sigkill(bench, policy=AT_LEAST_ONCE):
    """A worker is killed (SIGKILL) in the middle of a batch, then another one starts.

    Odoo commits a batch after its provider calls, so the SMS of the killed batch are
    back in the queue. Under "at least once" those the provider had accepted go out
    again (bounded by one batch). Under "at most once" every provider call was journaled
    first (committed hand-off): the restarted worker flags the handed-off SMS for review
    instead of sending them again, so nothing is duplicated.
    """
    row = bench.begin(f'worker killed (SIGKILL) mid-batch, restarted, '
                      f'{policy.replace("_", " ")}', policy=policy, batch_size=20)
    bench.sandbox.configure('twilio', latency_ms=150)
    queued = bench.queue(row, GROUP['twilio'], 60)
    sender = Sender(bench.odoo, 'sender-killed', {'max_seconds': 60})
    killed = bench.when_accepted('twilio', 30, sender.kill)
    killed['thread'].join(60)
    if not bench.check(row, killed['fired'], 'the worker finished before it could be killed'):
        return bench.finish(row)
    # Requests in flight at the kill may still be accepted by the provider.
    time.sleep(0.6)
    at_kill = bench.control.call('inspect', uuids=[item['uuid'] for item in queued])
    states = {}
    for record in at_kill['sms'].values():
        states[record['state']] = states.get(record['state'], 0) + 1
    accepted = bench.acceptances()
    window = {item['uuid'] for item in queued
              if at_kill['sms'][item['uuid']]['state'] == 'outgoing'
              and accepted.get(digits(item['number']))}
    bench.check(row, set(states) <= {'pending', 'outgoing'},
                f'states right after the kill: {states}')
    bench.check(row, states.get('pending', 0) % 20 == 0,
                f'{states.get("pending", 0)} committed: not whole batches')
    restarted = bench.send('sender-restarted', timeout=60)
    bench.check(row, len(window) <= 20, f'{len(window)} SMS in the crash window (batch of 20)')
    row.notes.append(f'killed after {killed["counters"]["twilio"]["recipients_accepted"]} '
                     f'accepted: {states.get("pending", 0)} committed, '
                     f'{states.get("outgoing", 0)} rolled back to the queue, of which '
                     f'{len(window)} the provider had already accepted')
    if policy == AT_MOST_ONCE:
        tally = bench.tally(row, queued)
        bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        bench.check(row, tally.sent + tally.failed == len(queued),
                    f'{tally.sent} sent + {tally.failed} failed of {len(queued)}')
        bench.check(row, len(window) <= tally.needs_review <= 20,
                    f'{tally.needs_review} flagged for review for {len(window)} accepted '
                    f'before the kill')
        row.notes.append(f'restarted worker flagged the {tally.needs_review} SMS the dead '
                         f'worker had handed to Twilio for review (hand-off journal) and '
                         f'sent the rest in {restarted["batches"]} batches: none twice')
        return bench.finish(row)
    tally = bench.tally(row, queued, crash_window=window)
    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
    bench.check(row, set(tally.duplicate_uuids) <= window,
                'duplicates outside the killed batch')
    row.notes.append(f'restarted worker sent the rest in {restarted["batches"]} batches; '
                     f'the {len(window)} already accepted went out again: Odoo commits a '
                     f'batch after its provider calls (crash window, as stock Odoo)')
    return bench.finish(row)


def two_workers(bench):
    """The breaker is shared by worker processes; only one of them probes when half-open.

    Odoo runs a cron job in one process at a time, so two processes send at once as the
    queue cron in one worker and an HTTP worker sending what a user just posted.
    """
    row = bench.begin('two workers: shared breaker, one half-open probe',
                      accounts={'twilio': {'breaker_cooldown': 60}})
    group = GROUP['twilio']
    # A: the primary fails while the cron worker sends: its breaker opens.
    bench.sandbox.set_mode('twilio', 'http500')
    wave_a = bench.queue(row, group, 10, start=1, tag=' A')
    bench.send('cron-worker-A', timeout=60)
    calls_a = bench.sandbox.counters('twilio')['requests']
    breaker = bench.control.call('breakers')['twilio']
    bench.check(row, breaker['state'] == 'open', f'twilio breaker {breaker["state"]} after A')
    bench.check(row, FAIL_MAX <= calls_a <= FAIL_MAX + CONCURRENCY - 1,
                f'worker A called twilio {calls_a} times')
    # B: another process (an HTTP worker) never calls it while the breaker is open.
    result_b = bench.send('http-worker-B', timeout=60,
                          create_and_send=bench.items(row, group, 10, 101, ' B'))
    wave_b = result_b['created']
    calls_b = bench.sandbox.counters('twilio')['requests'] - calls_a
    tally_b = bench.tally(row, wave_b)
    bench.check(row, calls_b == 0, f'worker B called the open twilio {calls_b} times')
    bench.check(row, bench.outcomes(tally_b, 'twilio') == {'skipped': len(wave_b)},
                f'worker B twilio attempts {bench.outcomes(tally_b, "twilio")}')
    # C: cool-down over, both processes send at once, the probe is slow and fails:
    # one request in all.
    bench.control.call('configure', accounts={'twilio': {'breaker_cooldown': 4}},
                       params={'sms.session.batch.size': '5'})
    bench.sandbox.configure('twilio', latency_ms=1500)
    bench.wait_breaker_ready('twilio', 4)
    queued_c = bench.queue(row, group, 15, start=201, tag=' C')
    before_c = bench.sandbox.counters('twilio')['requests']
    workers = [Sender(bench.odoo, 'cron-worker-C', {'max_seconds': 55}),
               Sender(bench.odoo, 'http-worker-C', {
                   'max_seconds': 55, 'chunk': 5,
                   'create_and_send': bench.items(row, group, 15, 301, ' C')})]
    results = [worker.wait(60) for worker in workers]
    wave_c = queued_c + results[1]['created']
    calls_c = bench.sandbox.counters('twilio')['requests'] - before_c
    tally_c = bench.tally(row, wave_c)
    handled = [set(result['handled']) & {item['uuid'] for item in wave_c}
               for result in results]
    bench.check(row, calls_c == 1, f'{calls_c} probe requests in half-open (expected 1)')
    bench.check(row, all(handled), f'SMS handled per worker: {[len(h) for h in handled]}')
    prober = [index for index, uuids in enumerate(handled)
              if any(a['provider'] == 'twilio' and a['outcome'] != 'skipped'
                     for uuid in uuids for a in tally_c.info['sms'][uuid]['attempts'])]
    bench.check(row, len(prober) == 1, f'workers that called twilio: {prober}')
    refused = 0
    if len(prober) == 1:
        other = handled[1 - prober[0]]
        refused = sum(1 for uuid in other for a in tally_c.info['sms'][uuid]['attempts']
                      if a['provider'] == 'twilio' and a['outcome'] == 'skipped'
                      and 'half-open' in a['reason'])
        bench.check(row, refused >= 1, 'the other worker never met the half-open breaker')
    breaker = tally_c.info['breakers']['twilio']
    bench.check(row, breaker['state'] == 'open' and breaker['open_count'] == 2,
                f'after the failed probe: {breaker}')
    # D: the provider is back: the next probe closes the breaker, traffic returns.
    bench.sandbox.configure('twilio', mode='ok', latency_ms=LATENCY_MS)
    bench.control.call('configure', accounts={'twilio': {'breaker_cooldown': 1}})
    bench.wait_breaker_ready('twilio', 2)
    wave_d = bench.queue(row, group, 10, start=401, tag=' D')
    before_d = bench.sandbox.counters('twilio')['recipients_accepted']
    bench.send('cron-worker-D', timeout=60)
    tally_d = bench.tally(row, wave_d)
    taken_d = bench.sandbox.counters('twilio')['recipients_accepted'] - before_d
    tally_a = bench.tally(row, wave_a)
    bench.check(row, tally_d.sent_by.get('twilio') == len(wave_d),
                f'after recovery twilio sent {tally_d.sent_by}')
    bench.check(row, tally_d.info['breakers']['twilio']['state'] == 'closed',
                f'after recovery: {tally_d.info["breakers"]["twilio"]}')
    bench.check(row, row.sent == row.sms, f'{row.sent}/{row.sms} sent')
    bench.check(row, row.duplicated == 0, f'{row.duplicated} duplicates')
    names = ['cron', 'HTTP']
    row.notes.append(f'A: the cron worker opened the breaker after {calls_a} failed calls '
                     f'(500); B: an HTTP worker (another process) sent {len(wave_b)} SMS '
                     f'with {calls_b} calls to twilio (skipped, open)')
    row.notes.append(f'C: cool-down over, cron and HTTP workers at once '
                     f'({len(handled[0])}+{len(handled[1])} SMS): {calls_c} probe call, by '
                     f'the {names[prober[0]] if len(prober) == 1 else "?"} worker; the other '
                     f'was refused the probe {refused} times while it ran')
    row.notes.append(f'D: provider back: the probe closed the breaker, twilio took '
                     f'{taken_d}/{len(wave_d)}; wave A sent by {tally_a.sent_by}')
    return bench.finish(row)
