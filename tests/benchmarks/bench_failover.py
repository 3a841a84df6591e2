#!/usr/bin/env python3
"""Failover cost: what a dead primary costs the SMS stream, with the real engine over HTTP.

No Odoo: the engine's Dispatcher, a MemoryBreakerStore and the provider clients talk to
the local provider sandbox on 127.0.0.1. The primary is a Twilio account on the sandbox's
dedicated Twilio port (client timeout 5 s, 4 requests in flight at most), the fallback a
Sweego account; breaker: 3 failures open it, 2 s cool-down (doubling after each failed
probe, as in production). 500 SMS arrive as batches of 10, one batch every 0.4 s (the way
the queue cron hands them over, each batch with fresh breaker objects on the shared
store), for each primary fault:

* ``hang``: the primary reads the request and never answers (the 5 s timeout fires);
* ``refuse``: the primary's port is closed (ECONNREFUSED);
* baseline: the same stream on the fallback alone.

Reported: wall time, busy time (inside ``dispatch``), requests the primary received
(sandbox counters), failures before the breaker opened, probes and their spacing, the
time spent in calls to the primary, and the outage cost = busy time minus the baseline's.
Then the skip path: 500 SMS dispatched while the primary's breaker is open, against the
fallback alone (best of 7, interleaved), and the recovery: the primary is switched back
to ``ok`` and a trickle of SMS measures the time until it accepts one again.

Targets: after the breaker opens the dead primary adds under 1 ms per SMS; the outage
costs at most (failures before opening x timeout) + one probe per cool-down; traffic
returns to the primary within one cool-down after it recovers.

    python3 tests/benchmarks/bench_failover.py [--sms 500] [--latency-ms 50]
"""
import argparse
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import benchlib

benchlib.mount_addons()

from addons.sms_router.engine.breakers import (  # noqa: E402
    OPEN,
    AccountBreaker,
    BreakerSettings,
    MemoryBreakerStore,
)
from addons.sms_router.engine.dispatcher import AccountHandle, Dispatcher, QueuedSms  # noqa: E402
from addons.sms_router.engine.outcomes import OutcomeKind  # noqa: E402
from addons.sms_router.engine.routing import parse_destination  # noqa: E402
from addons.sms_router_sweego.tools.sweego_client import SweegoClient  # noqa: E402
from addons.sms_router_twilio.tools.twilio_client import TwilioClient  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402

PRIMARY, FALLBACK = 'primary', 'fallback'
TIMEOUT = 5.0
FAIL_MAX = 3
COOLDOWN = 2.0
CONCURRENCY = 4
BATCH = 10
INTERVAL = 0.4
SKIP_TARGET_MS = 1.0
BODIES = ('Your appointment is confirmed for tomorrow 10:30.',
          'Reminder: your parcel is ready for pick-up.',
          'Your verification code is 482913.')


class RecordingClient:
    """Wraps a provider client and keeps (start, end, kinds) of every call."""

    def __init__(self, client):
        self._client = client
        self.calls = []
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._client, name)

    def send(self, request):
        started = time.monotonic()
        result = self._client.send(request)
        kinds = [outcome.kind for outcome in result.outcomes.values()]
        with self._lock:
            self.calls.append((started, time.monotonic(), kinds))
        return result


class RecordingStore(MemoryBreakerStore):
    """A MemoryBreakerStore that logs state changes and granted probes with their time."""

    def __init__(self):
        super().__init__()
        self.events = []

    def update(self, account_id, **values):
        state = super().update(account_id, **values)
        if 'state' in values:
            self.events.append((time.monotonic(), account_id, values['state'], state.open_count))
        return state

    def apply(self, account_id, owner, changes=None, count_failure=False, paused_until=None):
        state = super().apply(account_id, owner, changes, count_failure, paused_until)
        if changes and 'state' in changes and state.state == changes['state']:
            self.events.append((time.monotonic(), account_id, state.state, state.open_count))
        return state

    def acquire_probe(self, account_id, owner, now, not_before, lease_until):
        granted = super().acquire_probe(account_id, owner, now, not_before, lease_until)
        if granted:
            self.events.append((time.monotonic(), account_id, 'probe',
                                self.load(account_id).open_count))
        return granted


def make_clients(sandbox):
    twilio = TwilioClient(account_sid='AC' + '0' * 32, auth_token='sandbox-twilio-token',
                          from_numbers=['+15005550006'], base_url=sandbox.endpoint('twilio'),
                          timeout=TIMEOUT, pool_size=CONCURRENCY)
    sweego = SweegoClient(api_key='sandbox-sweego-key',
                          client_uuid='00000000-0000-4000-8000-000000000001',
                          base_url=sandbox.endpoint('sweego'), timeout=TIMEOUT,
                          pool_size=CONCURRENCY)
    return twilio, sweego


def make_numbers(count):
    # French mobiles; none ends with 0000 (the sandbox's invalid suffix).
    return [parse_destination('+3361%07d' % (1000 + index * 37)) for index in range(count)]


def handles(store, primary_client, fallback_client):
    """Fresh AccountHandles on the shared store, as each Odoo batch builds them."""
    settings = BreakerSettings(fail_max=FAIL_MAX, cooldown=COOLDOWN, probe_lease=2 * TIMEOUT + 5)
    primary = AccountHandle(PRIMARY, 'Twilio (primary)', primary_client,
                            AccountBreaker(PRIMARY, store, settings), max_concurrency=CONCURRENCY)
    fallback = AccountHandle(FALLBACK, 'Sweego (fallback)', fallback_client,
                             AccountBreaker(FALLBACK, store, settings), max_concurrency=CONCURRENCY)
    return primary, fallback


def messages_for(destinations, chain, start):
    return [QueuedSms(f'sms-{start + index}', BODIES[(start + index) % len(BODIES)], destination,
                    chain) for index, destination in enumerate(destinations)]


def run_stream(sandbox, fault, destinations, primary_client, fallback_client, store):
    """Send ``destinations`` in paced batches; return the figures of the run."""
    sandbox.reset(counters_only=True)
    if fault:
        sandbox.set_mode('twilio', fault, hang_max_s=60)
    primary_client.calls.clear()
    fallback_client.calls.clear()
    busy = 0.0
    sent = 0
    batch_times = []
    started = time.monotonic()
    for batch_index, first in enumerate(range(0, len(destinations), BATCH)):
        due = started + batch_index * INTERVAL
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        primary, fallback = handles(store, primary_client, fallback_client)
        chain = (primary, fallback) if fault else (fallback,)
        batch = messages_for(destinations[first:first + BATCH], chain, first)
        dispatch_started = time.monotonic()
        verdicts = Dispatcher(max_workers=2 * CONCURRENCY).dispatch(batch)
        elapsed = time.monotonic() - dispatch_started
        busy += elapsed
        batch_times.append((dispatch_started, elapsed))
        sent += sum(1 for verdict in verdicts.values() if verdict.sent)
    wall = time.monotonic() - started
    return {
        'wall': wall, 'busy': busy, 'sent': sent, 'batch_times': batch_times,
        'primary_requests': sandbox.counters('twilio')['requests'],
        'primary_calls': list(primary_client.calls),
        'events': [e for e in store.events if e[1] == PRIMARY],
    }


def analyse(run):
    """Requests before the breaker opened, probes and the cool-down each one waited."""
    events = run['events']
    opened = [e for e in events if e[2] == OPEN]
    probes = [e for e in events if e[2] == 'probe']
    calls = run['primary_calls']
    first_open = opened[0][0] if opened else None
    # The calls of the batch during which the breaker opened were all submitted while it was
    # still counting failures (a thread may start one just after the opening). Every later
    # batch starts with the breaker open: a call there must be a probe.
    opening_batch_end = None
    for started, elapsed in run['batch_times']:
        if first_open is not None and started <= first_open <= started + elapsed:
            opening_batch_end = started + elapsed
    before = [c for c in calls if opening_batch_end is None or c[0] <= opening_batch_end]
    later_probes = [e for e in probes if opening_batch_end is None or e[0] > opening_batch_end]
    gaps = []
    for probe in probes:
        last_open = max((e for e in opened if e[0] <= probe[0]), key=lambda e: e[0])
        waited = probe[0] - last_open[0]
        due = BreakerSettings(cooldown=COOLDOWN).cooldown_for(last_open[3])
        gaps.append((waited, due))
    return {
        'first_open': first_open,
        'openings': len(opened),
        'requests_before_open': len(before),
        'probes': len(probes),
        'probe_gaps': gaps,
        'time_on_primary': sum(end - start for start, end, _k in calls),
        'later_calls': len(calls) - len(before),
        'later_probes': len(later_probes),
    }


def measure_skip_path(sandbox, primary_client, fallback_client, count, repeat=7):
    """Best dispatch time of ``count`` SMS: fallback alone, and behind an open primary."""
    sandbox.reset()
    store = MemoryBreakerStore()
    now = datetime.now(timezone.utc)
    # Open, and far from its cool-down: every dispatch skips it without a probe.
    store.update(PRIMARY, state=OPEN, opened_at=now + timedelta(hours=1), open_count=1,
                 failure_count=FAIL_MAX, last_failure='connection refused')
    destinations = make_numbers(count)

    def dispatch(with_primary):
        def run():
            primary, fallback = handles(store, primary_client, fallback_client)
            chain = (primary, fallback) if with_primary else (fallback,)
            verdicts = Dispatcher(max_workers=2 * CONCURRENCY).dispatch(
                messages_for(destinations, chain, 0))
            assert all(d.sent for d in verdicts.values())
            if with_primary:
                assert all(d.attempts[0].outcome.kind is OutcomeKind.SKIPPED for d in verdicts.values())
        return run

    best = benchlib.interleaved_best({'fallback alone': dispatch(False),
                                      'primary open': dispatch(True)}, repeat)
    return best, sandbox.counters('twilio')['requests']


def measure_recovery(sandbox, fault, primary_client, fallback_client, store, limit):
    """Switch the primary back to ok; trickle SMS until it accepts one. Seconds, or None."""
    state = store.load(PRIMARY)
    in_force = BreakerSettings(cooldown=COOLDOWN).cooldown_for(state.open_count)
    sandbox.set_mode('twilio', 'ok')
    recovered = time.monotonic()
    destinations = make_numbers(2000)
    index = 0
    while time.monotonic() - recovered < limit:
        primary, fallback = handles(store, primary_client, fallback_client)
        primary_client.calls.clear()
        Dispatcher().dispatch(messages_for(destinations[index:index + 1], (primary, fallback),
                                           100000 + index))
        index = (index + 1) % len(destinations)
        accepted = [end for _s, end, kinds in primary_client.calls if OutcomeKind.SENT in kinds]
        if accepted:
            return accepted[0] - recovered, in_force, state.open_count
        time.sleep(0.05)
    return None, in_force, state.open_count


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sms', type=int, default=500)
    parser.add_argument('--latency-ms', type=float, default=50.0,
                        help='sandbox latency of every request (default 50)')
    args = parser.parse_args(argv)

    destinations = make_numbers(args.sms)
    verdicts = benchlib.Verdicts()
    rows, recovery_rows = [], []
    with Sandbox('127.0.0.1', port=0, dedicated_ports=True) as sandbox:
        twilio, sweego = make_clients(sandbox)
        primary_client, fallback_client = RecordingClient(twilio), RecordingClient(sweego)

        skip_best, skip_primary_requests = measure_skip_path(
            sandbox, primary_client, fallback_client, args.sms)

        sandbox.reset()
        for provider in ('twilio', 'sweego'):
            sandbox.configure(provider, latency_ms=args.latency_ms)
        baseline = run_stream(sandbox, None, destinations, primary_client, fallback_client,
                              RecordingStore())
        rows.append(('baseline (fallback only)', f'{baseline["sent"]}/{args.sms}',
                     f'{baseline["wall"]:.2f}', f'{baseline["busy"]:.2f}', '0', '-', '-', '-',
                     '-', '-', '-', '-'))
        for fault in ('hang', 'refuse'):
            store = RecordingStore()
            run = run_stream(sandbox, fault, destinations, primary_client, fallback_client, store)
            facts = analyse(run)
            cost = run['busy'] - baseline['busy']
            bound = FAIL_MAX * TIMEOUT + facts['probes'] * TIMEOUT
            spacing = ', '.join(f'{waited:.1f}/{due:g}'
                                for waited, due in facts['probe_gaps']) or '-'
            opened_at = (f'{facts["first_open"] - run["batch_times"][0][0]:.2f}'
                         if facts['first_open'] else 'never')
            rows.append((f'primary {fault}', f'{run["sent"]}/{args.sms}', f'{run["wall"]:.2f}',
                         f'{run["busy"]:.2f}', str(run['primary_requests']),
                         str(facts['requests_before_open']), opened_at, str(facts['openings']),
                         f'{facts["probes"]}', spacing, f'{facts["time_on_primary"]:.2f}',
                         f'{cost:.2f} / {bound:g}'))
            verdicts.check(cost <= bound,
                           f'{fault}: outage cost ≤ {FAIL_MAX} x {TIMEOUT:g} s '
                           f'+ {TIMEOUT:g} s per probe',
                           f'{cost:.2f} s {"≤" if cost <= bound else ">"} {bound:g} s')
            early = [waited for waited, due in facts['probe_gaps'] if waited < due - 0.05]
            verdicts.check(not early and facts['later_calls'] == facts['later_probes'],
                           f'{fault}: at most one probe per cool-down, '
                           f'nothing else reaches the primary',
                           f'{facts["later_probes"]} probes, {facts["later_calls"]} calls in '
                           f'later batches; waits {spacing} s')
            verdicts.check(run['sent'] == args.sms, f'{fault}: every SMS sent by the fallback',
                           f'{run["sent"]}/{args.sms}')
            returned, in_force, open_count = measure_recovery(
                sandbox, fault, primary_client, fallback_client, store,
                limit=BreakerSettings(cooldown=COOLDOWN).cooldown_for(8) + 5)
            recovery_rows.append((f'primary {fault}', str(open_count), f'{in_force:g}',
                                  'not within limit' if returned is None else f'{returned:.2f}'))
            verdicts.check(returned is not None and returned <= in_force,
                           f'{fault}: back on the primary within one cool-down after recovery',
                           f'{returned:.2f} s ≤ {in_force:g} s' if returned is not None else 'no')

    per_sms = (skip_best['primary open'] - skip_best['fallback alone']) / args.sms * 1000
    print(f'Failover benchmark: {args.sms} SMS in batches of {BATCH} every {INTERVAL:g} s; '
          f'sandbox latency {args.latency_ms:g} ms; primary Twilio (timeout {TIMEOUT:g} s, '
          f'{CONCURRENCY} in flight), fallback Sweego; breaker {FAIL_MAX} failures, '
          f'cool-down {COOLDOWN:g} s doubling')
    print(benchlib.machine_line())
    print()
    print(benchlib.table(
        ('Run', 'Sent', 'Wall s', 'Busy s', 'Primary requests', 'Calls before open',
         'Opened at s', 'Openings', 'Probes', 'Probe waited/cool-down s', 'Time on primary s',
         'Outage cost / bound s'), rows))
    print()
    print('Primary requests: as counted by the sandbox (a refused connection never reaches it). '
          'Calls before open: calls to the primary in the batch where the breaker opened. '
          'Openings: first opening, failed probes, and late failures of requests sent before '
          'the opening.')
    print()
    print(benchlib.table(
        ('Skip path, one dispatch', 'SMS', 'Best ms', 'Per SMS µs'),
        [('fallback alone (Sweego, 0 ms latency)', args.sms,
          f'{skip_best["fallback alone"] * 1000:.1f}',
          f'{skip_best["fallback alone"] / args.sms * 1e6:.1f}'),
         ('primary breaker open, then fallback', args.sms,
          f'{skip_best["primary open"] * 1000:.1f}',
          f'{skip_best["primary open"] / args.sms * 1e6:.1f}'),
         ('overhead of the open primary', '', '', f'{per_sms * 1000:.1f}')]))
    print()
    print(benchlib.table(('Recovery', 'Openings so far', 'Cool-down in force s',
                          'Back on primary after s'), recovery_rows))
    print()
    verdicts.check(per_sms < SKIP_TARGET_MS and skip_primary_requests == 0,
                   f'open primary adds < {SKIP_TARGET_MS:g} ms per SMS, no request',
                   f'{per_sms * 1000:.1f} µs per SMS, {skip_primary_requests} requests')
    print(verdicts.render())
    return 0


if __name__ == '__main__':
    sys.exit(main())
