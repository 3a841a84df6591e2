"""The test bench every drill runs on, and the checks every drill makes.

A scenario is a function of a ``Bench``: it starts with ``bench.begin(name)`` (a clean
slate: sandbox defaults, breakers forgotten, empty queue, its settings), queues SMS to
numbers of its own (``+33 6 0<group> <drill> <index>``, ``bench.queue``), lets one or more
real Odoo worker processes send them (``bench.send``) while faults are switched on the
sandbox (``bench.when_accepted``), then compares what Odoo says about each SMS with what
the providers accepted (``bench.tally``), checks its own expectations
(``bench.check(row, condition, message)``) and ends with ``bench.finish(row)``.

``tally`` sorts every SMS into:

* **sent**: Odoo says sent, and the provider named by the trail did accept that number;
* **failed with reason**: Odoo's state is *error* with a failure type and a reason;
* **lost**: anything else: the SMS vanished, is still queued, failed without a reason, or
  Odoo says sent but no provider has it. Must be 0 everywhere;
* **duplicated**: extra acceptances of one SMS (sandbox message log and IAP stand-in).
  Must be 0 under "at most once"; under "at least once" each one must belong to an SMS
  with an ambiguous attempt (no answer after the request left). The one exception, under
  either policy, is the batch in flight when a worker is killed (``crash_window``): Odoo
  commits a batch after its provider calls, so what the provider accepted before the kill
  goes out again; the SIGKILL drills check that only SMS of that batch are concerned.
"""
import contextlib
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import procutil

from infra.database import restore_breaker_table
from infra.processes import DrillError, Sender
from infra.settings import (
    ACCOUNT_DEFAULTS, AT_LEAST_ONCE, AT_MOST_ONCE, BATCH_SIZE, DB_NAME, DRILL_LIMIT_S, DRILL_PROVIDERS,
    HTTP_API, LATENCY_MS, MAX_HOLD_HOURS, SHORT,
)
from report import Row, Tally


def digits(number):
    return ''.join(ch for ch in number or '' if ch.isdigit())


class Bench:
    """The processes, the sandbox and the IAP stand-in of a run, and the drills' helpers.

    ``rows`` collects one ``report.Row`` per drill, in run order.
    """

    def __init__(self, odoo, control, sandbox, iap, accounts, http_port, db_args):
        self.odoo = odoo
        self.control = control
        self.sandbox = sandbox
        self.iap = iap
        self.accounts = accounts
        self.http_port = http_port
        self.db_args = db_args
        self.rows = []
        self.copy_control = None    # the control process of a database copy, while it runs
        self._drill_no = 0

    @contextlib.contextmanager
    def http_server(self):
        """An Odoo HTTP server on the drill database (webhooks, delivery reports, the
        external API), for the drills that need one; stopped when the block ends. Yields
        its base URL."""
        server = self.odoo.popen(
            [self.odoo.python, '-m', 'odoo', 'server', '-c', str(self.odoo.config_path),
             '-d', DB_NAME, f'--db-filter=^{DB_NAME}$', f'--http-port={self.http_port}',
             '--workers=0', '--max-cron-threads=0'], 'odoo-http', stdout=subprocess.DEVNULL)
        try:
            if not procutil.wait_port(self.http_port, timeout=60, proc=server):
                raise DrillError('the Odoo HTTP server did not start')
            yield f'http://127.0.0.1:{self.http_port}'
        finally:
            procutil.stop_child(server, 'odoo-http', grace=10)
            server.drill_log.close()

    def begin(self, name, policy=AT_LEAST_ONCE, batch_size=BATCH_SIZE, latency_ms=LATENCY_MS,
              accounts=None, iap_last_resort=True, max_hold_hours=MAX_HOLD_HOURS,
              limit=DRILL_LIMIT_S):
        """A clean slate: sandbox defaults, breakers forgotten, empty queue, settings."""
        self._drill_no += 1
        self.sandbox.reset()
        for provider in DRILL_PROVIDERS:
            self.sandbox.configure(provider, latency_ms=latency_ms, callback_delay_ms=100)
        self.iap.reset()
        self.control.call('reset')
        account_values = {key: dict(ACCOUNT_DEFAULTS) for key in DRILL_PROVIDERS}
        for key, values in (accounts or {}).items():
            account_values[key].update(values)
        self.control.call('configure', policy=policy, iap_last_resort=iap_last_resort,
                          max_hold_hours=max_hold_hours, accounts=account_values,
                          params={'sms.session.batch.size': str(batch_size)})
        return Row(name, policy=policy, limit=limit, started=time.monotonic())

    def numbers(self, group, count, start=1):
        """Distinct valid French mobile numbers routed by ``group`` (1 to 5, ``GROUP``)."""
        drill = self._drill_no % 100
        return [f'+3360{group}{drill:02d}{index:04d}' for index in range(start, start + count)]

    def queue(self, row, group, count, start=1, tag=''):
        numbers = self.numbers(group, count, start)
        items = [{'number': number,
                  'body': f'[{row.name}{tag}] appointment reminder, group {(start + i) // 5}'}
                 for i, number in enumerate(numbers)]
        return self.control.call('queue', items=items)

    def items(self, row, group, count, start, tag):
        """SMS values for a worker that creates its own SMS (not queued by the control)."""
        return [{'number': number, 'body': f'[{row.name}{tag}] appointment reminder'}
                for number in self.numbers(group, count, start)]

    def send(self, name, timeout=90, db=DB_NAME, **options):
        sender = Sender(self.odoo, name, dict(options, max_seconds=timeout - 5), db=db)
        result = sender.wait(timeout)
        result['log'] = sender.proc.drill_log.name
        return result

    def counters(self):
        return {provider: self.sandbox.counters(provider) for provider in DRILL_PROVIDERS}

    def requests_text(self, before=None):
        counters = self.counters()
        parts = []
        for provider in DRILL_PROVIDERS:
            count = counters[provider]['requests'] - (before or {}).get(provider, 0)
            # The HTTP API account is on its own route only: named when it was asked.
            if provider != HTTP_API or count:
                parts.append(f'{SHORT[provider]} {count}')
        parts.append(f'IAP {self.iap.requests}')
        return ' · '.join(parts)

    def when_accepted(self, provider, threshold, action, timeout=60):
        """Run ``action`` (in a thread) once ``provider`` accepted ``threshold`` numbers.

        Returns a dict filled with 'fired' and the counters at that moment.
        """
        state = {'fired': False, 'counters': None, 'at': None}

        def watch():
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.sandbox.counters(provider)['recipients_accepted'] >= threshold:
                    action()
                    state['counters'] = self.counters()
                    state['at'] = time.monotonic()
                    state['fired'] = True
                    return
                time.sleep(0.002)

        state['thread'] = threading.Thread(target=watch, daemon=True)
        state['thread'].start()
        return state

    def acceptances(self):
        """{E.164 digits: [(provider, message id, body)]} over the sandbox and IAP."""
        found = {}
        for provider in DRILL_PROVIDERS:
            for message in self.sandbox.messages(provider, limit=0):
                found.setdefault(digits(message['to']), []).append(
                    (provider, str(message['id']), message.get('body')))
        for uuid, number, body in list(self.iap.accepted):
            found.setdefault(digits(number), []).append(('iap', uuid, body))
        return found

    def tally(self, row, queued, crash_window=(), settle=0.0, control=None):
        """Compare Odoo's view of ``queued`` with the providers'; fill ``row``."""
        if settle:
            time.sleep(settle)
        uuids = [item['uuid'] for item in queued]
        info = (control or self.control).call('inspect', uuids=uuids, timeout=120)
        accepted = self.acceptances()
        tally = Tally(info=info)
        for item in queued:
            uuid = item['uuid']
            record = info['sms'][uuid]
            attempts = record['attempts']
            taken = [a for a in accepted.get(digits(item['number']), [])
                     if a[2] == item['body']]
            ambiguous = any(a['outcome'] == 'ambiguous' for a in attempts)
            tally.ambiguous += ambiguous
            tally.needs_review += any(a['needs_review'] for a in attempts)
            state = record['state']
            if not record['exists']:
                tally.lost += 1
                tally.lost_details.append(f'{item["number"]}: vanished')
            elif state in ('pending', 'sent', 'process'):
                winner = next((a for a in attempts if a['accepted']), None)
                if not taken:
                    tally.lost += 1
                    tally.lost_details.append(
                        f'{item["number"]}: Odoo says sent, no provider has it')
                elif winner is None:
                    tally.lost += 1
                    tally.lost_details.append(f'{item["number"]}: sent without an accepted attempt')
                else:
                    provider = winner['provider']
                    ids = {message_id for name, message_id, _body in taken if name == provider}
                    if provider != 'iap' and winner['message_id'] not in ids:
                        row.problems.append(
                            f'{item["number"]}: the trail says {provider} accepted it as '
                            f'{winner["message_id"]}, the provider log says {taken}')
                    tally.sent += 1
                    tally.sent_by[provider] = tally.sent_by.get(provider, 0) + 1
            elif state == 'error' and record['failure_type'] and record['reason']:
                tally.failed += 1
                tally.failure_types[record['failure_type']] = \
                    tally.failure_types.get(record['failure_type'], 0) + 1
                if taken:
                    tally.failed_but_accepted += 1
            else:
                tally.lost += 1
                tally.lost_details.append(
                    f'{item["number"]}: state {state}, failure {record["failure_type"]!r}, '
                    f'reason {record["reason"][:60]!r}')
            extra = max(0, len(taken) - 1)
            if extra:
                tally.duplicated += extra
                tally.duplicate_uuids.append(uuid)
                explained = ambiguous or uuid in crash_window
                if row.policy == AT_MOST_ONCE and uuid not in crash_window:
                    row.problems.append(f'{item["number"]}: accepted {len(taken)} times under '
                                        f'"at most once"')
                elif not explained:
                    row.problems.append(f'{item["number"]}: accepted {len(taken)} times without '
                                        f'an ambiguous attempt ({[a[0] for a in taken]})')
        row.sms += len(queued)
        row.sent += tally.sent
        row.failed += tally.failed
        row.lost += tally.lost
        row.duplicated += tally.duplicated
        if tally.lost:
            row.problems.append(f'{tally.lost} SMS lost: {"; ".join(tally.lost_details[:5])}')
        return tally

    def check(self, row, condition, message):
        if not condition:
            row.problems.append(message)
        return condition

    def finish(self, row, requests_text=None):
        row.requests = requests_text or self.requests_text()
        row.seconds = time.monotonic() - row.started
        self.rows.append(row)
        return row

    @staticmethod
    def outcomes(tally, provider):
        """Outcome -> count of the attempts made on ``provider`` for these SMS."""
        counts = {}
        for record in tally.info['sms'].values():
            for attempt in record['attempts']:
                if attempt['provider'] == provider:
                    counts[attempt['outcome']] = counts.get(attempt['outcome'], 0) + 1
        return counts

    def wait_breaker_ready(self, provider, cooldown):
        """Sleep until ``provider``'s breaker cool-down has elapsed."""
        breaker = self.control.call('breakers')[provider]
        opened = breaker['opened_at']
        if breaker['state'] == 'closed' or not opened:
            return
        opened = datetime.fromisoformat(opened)
        if opened.tzinfo is None:
            opened = opened.replace(tzinfo=timezone.utc)
        ready = opened + timedelta(seconds=cooldown + 0.3)
        delay = (ready - datetime.now(timezone.utc)).total_seconds()
        if delay > 0:
            time.sleep(delay)

    def states(self, queued, control=None):
        return (control or self.control).call('states', uuids=[item['uuid'] for item in queued])

    def wait_until_none(self, queued, until, poll=2.0, state='outgoing', samples=None,
                        stalled=None):
        """Poll until none of ``queued`` is in ``state`` or ``until`` (epoch) passes.

        Returns the moment it happened (epoch) or None; ``samples`` collects every poll.
        ``stalled`` (provider, seconds): give up when that provider accepted nothing new for
        that long (a queue that makes no progress would only use up the drill's time)."""
        progress_at, accepted = time.time(), None
        while True:
            now = time.time()
            current = self.states(queued)
            if samples is not None:
                samples.append((now, current))
            if not current['states'].get(state):
                return now
            if stalled:
                count = self.sandbox.counters(stalled[0])['recipients_accepted']
                if count != accepted:
                    progress_at, accepted = now, count
                elif now - progress_at > stalled[1]:
                    return None
            if now >= until:
                return None
            time.sleep(poll)

    def after_failure(self):
        """A drill that failed half-way must not leave the database broken for the next."""
        if self.copy_control:
            self.copy_control.stop()
            self.copy_control = None
        restore_breaker_table(self.db_args)
