#!/usr/bin/env python3
"""Failure drills: real Odoo processes sending through the router to the provider sandbox.

    python3 tests/drills/run_drills.py [--only NAME[,NAME...]] [--list] [-v]

One run starts a throwaway PostgreSQL cluster (``tests/harness/pgcluster.py``), creates the
database ``drill_sms_router`` with ``sms_router`` and the Sweego, Twilio and OVH addons,
starts the provider sandbox (``tests/sandbox``, one dedicated port per provider so that
*refuse* is a true ``ECONNREFUSED``) and a local stand-in for Odoo IAP (the ICP
``sms.endpoint`` points at it: nothing leaves the machine). One company has three accounts,
each on its sandbox port, with 2 s timeouts, breakers opening after 3 failures and a 3 s
cool-down, and four routes: ``+33601`` Sweego -> Twilio -> OVH, ``+33602`` Twilio -> OVH ->
Sweego, ``+33603`` OVH -> Sweego -> Twilio (and a default one); Odoo IAP closes every chain.

Every drill queues SMS to numbers of its own (``+33 6 0<group> <drill> <index>``), lets one
or more real Odoo worker processes (``drill_worker.py send``: ``sms.sms._process_queue()``
until the queue is empty, as the cron does) send them while faults are switched on the
sandbox, then compares what Odoo says about each SMS with what the providers accepted:

* **sent**: Odoo says sent, and the provider named by the trail did accept that number;
* **failed with reason**: Odoo's state is *error* with a failure type and a reason;
* **lost**: anything else: the SMS vanished, is still queued, failed without a reason, or
  Odoo says sent but no provider has it. Must be 0 everywhere;
* **duplicated**: extra acceptances of one SMS (sandbox message log and IAP stand-in).
  Must be 0 under "at most once"; under "at least once" each one must belong to an SMS
  with an ambiguous attempt (no answer after the request left). The one exception, under
  either policy, is the batch in flight when a worker is killed: Odoo commits a batch after
  its provider calls, so what the provider accepted before the kill goes out again; the
  SIGKILL drills check that only SMS of that batch are concerned.

Each drill asserts its own expectations too (breaker states, request counts on the
sandbox, trail contents, HTTP status codes). The webhook drill runs an Odoo HTTP server
(``odoo server --workers=0``) on ``--http-port``. Each drill must end within
``DRILL_LIMIT_S`` and every wait inside it is bounded. The table is printed at the end
(and written to ``.run/drills/<time>/drills.md`` with the logs of every Odoo process); the
exit status is 1 when any assertion failed, 2 when the drills could not run.

PostgreSQL: ``--db-host/--db-port/--db-user`` (or ``DRILL_DB_HOST`` / ``DRILL_DB_PORT`` /
``DRILL_DB_USER``) use a running server instead of a throwaway cluster; the database
``drill_sms_router`` is dropped and created again there.
"""
import argparse
import base64
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / 'tests'))
sys.path.insert(0, str(ROOT / 'tests' / 'harness'))

import odoo_env  # noqa: E402
import pgcluster  # noqa: E402
import procutil  # noqa: E402
from sandbox.server import (  # noqa: E402
    PROVIDERS, SWEEGO_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN, Sandbox, sweego_signature,
    twilio_signature,
)

import requests  # noqa: E402

DB_NAME = 'drill_sms_router'
ADDONS = ('sms_router', 'sms_router_sweego', 'sms_router_twilio', 'sms_router_ovh')
WORKER = HERE / 'drill_worker.py'
TAG = 'DRILL '

# Account settings shared by every drill (a drill may change them for itself).
TIMEOUT_S = 2.0
CONCURRENCY = 4
FAIL_MAX = 3
COOLDOWN_S = 3
ACCOUNT_DEFAULTS = {'timeout': TIMEOUT_S, 'max_concurrency': CONCURRENCY,
                    'breaker_fail_max': FAIL_MAX, 'breaker_cooldown': COOLDOWN_S}
BATCH_SIZE = 10            # sms.session.batch.size: SMS per _process_queue() call
DRILL_LIMIT_S = 90         # a drill that takes longer fails (every wait inside is bounded too)
LATENCY_MS = 40            # every sandbox answer waits this long (faults switch mid-run)
GROUP = {'sweego': 1, 'twilio': 2, 'ovh': 3}   # +33 6 0<group>...: the primary provider
CHAINS = {1: ('sweego', 'twilio', 'ovh'), 2: ('twilio', 'ovh', 'sweego'),
          3: ('ovh', 'sweego', 'twilio')}
SHORT = {'sweego': 'S', 'twilio': 'T', 'ovh': 'O', 'iap': 'IAP'}
AT_LEAST_ONCE = 'at_least_once'
AT_MOST_ONCE = 'at_most_once'


def say(message):
    print(message, flush=True)


# ================================================================== Odoo IAP stand-in

class IapStandIn:
    """Answers Odoo's IAP SMS call (JSON-RPC ``/api/sms/3/send``) like the real service.

    ``mode`` 'ok' accepts every number; 'down' answers 503 (Odoo then raises and the
    router records a clean failure). Every request is counted, every number kept.
    """

    def __init__(self):
        self.mode = 'ok'
        self.requests = 0
        self.accepted = []          # (uuid, number, body)
        self._lock = threading.Lock()
        self._server = None

    def start(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                payload = json.loads(self.rfile.read(length) or b'{}')
                with stand_in._lock:
                    stand_in.requests += 1
                    mode = stand_in.mode
                if mode != 'ok' or not self.path.startswith('/api/sms/3/send'):
                    self.send_response(503 if mode != 'ok' else 404)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                results = []
                for message in payload.get('params', {}).get('messages', []):
                    for number in message.get('numbers', []):
                        with stand_in._lock:
                            stand_in.accepted.append(
                                (number['uuid'], number['number'], message.get('content')))
                        results.append({'uuid': number['uuid'], 'state': 'success', 'credit': 1})
                body = json.dumps({'jsonrpc': '2.0', 'id': payload.get('id'),
                                   'result': results}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name='iap-stand-in').start()
        return self

    @property
    def url(self):
        return f'http://127.0.0.1:{self._server.server_address[1]}'

    def reset(self):
        with self._lock:
            self.mode = 'ok'
            self.requests = 0
            self.accepted = []

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()


# ======================================================================= Odoo processes

class LineReader:
    """Collect the ``DRILL`` lines of a child's stdout in a queue (other lines are dropped)."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            if line.startswith(TAG):
                try:
                    self.lines.put(json.loads(line[len(TAG):]))
                except ValueError:
                    pass
        self.lines.put(None)


class Odoo:
    """How to run Odoo and our worker against the drill database."""

    def __init__(self, python, config_path, log_dir, verbose=False):
        self.python = python
        self.config_path = config_path
        self.log_dir = log_dir
        self.verbose = verbose
        self.children = []
        self._count = 0

    def log_path(self, name):
        self._count += 1
        return self.log_dir / f'{self._count:02d}-{name}.log'

    def popen(self, args, name, stdout=subprocess.PIPE):
        log = open(self.log_path(name), 'w', encoding='utf-8')  # noqa: SIM115 - closed by owner
        log.write(f'# {shlex.join(args)}\n')
        log.flush()
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE if name == 'control' else subprocess.DEVNULL,
            stdout=stdout, stderr=log, text=True, bufsize=1, start_new_session=True,
            cwd=str(ROOT), env=odoo_env.odoo_environ())
        proc.drill_log = log
        self.children.append((name, proc))
        return proc

    def stop_all(self):
        """Stop whatever a failed drill left running (only processes started here)."""
        for name, proc in self.children:
            if proc.poll() is None:
                procutil.stop_child(proc, name, first_signal=signal.SIGTERM, grace=5)
            if not proc.drill_log.closed:
                proc.drill_log.close()
        self.children = [(n, p) for n, p in self.children if p.poll() is None]

    def worker(self, role, name, options=None):
        args = [self.python, str(WORKER), '-c', str(self.config_path), '-d', DB_NAME, role]
        if options is not None:
            args += ['--options', json.dumps(options)]
        return self.popen(args, name)

    def run(self, args, name, timeout):
        command = [self.python, '-m', 'odoo', '-c', str(self.config_path), *args]
        proc = self.popen(command, name, stdout=subprocess.DEVNULL)
        try:
            proc.wait(timeout=timeout)
        finally:
            procutil.stop_child(proc, name)
            proc.drill_log.close()
        return proc.returncode


class Control:
    """The long-lived control process (``drill_worker.py serve``)."""

    def __init__(self, odoo):
        self.proc = odoo.worker('serve', 'control')
        self.reader = LineReader(self.proc.stdout)
        self._lock = threading.Lock()
        ready = self._next(120)
        if not ready.get('ok'):
            raise RuntimeError(f'control process did not start: {ready}')

    def _next(self, timeout):
        try:
            reply = self.reader.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f'control process: no answer within {timeout} s') from None
        if reply is None:
            raise RuntimeError(f'control process exited ({self.proc.poll()}); see its log')
        return reply

    def call(self, cmd, timeout=60, **args):
        with self._lock:
            self.proc.stdin.write(json.dumps({'cmd': cmd, 'args': args}) + '\n')
            self.proc.stdin.flush()
            reply = self._next(timeout)
        if not reply.get('ok'):
            raise RuntimeError(f'control command {cmd} failed:\n{reply.get("error")}')
        return reply['result']

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        procutil.stop_child(self.proc, 'control', grace=10)
        self.proc.drill_log.close()


class Sender:
    """One sending worker process (what the SMS queue cron does)."""

    def __init__(self, odoo, name, options=None):
        self.name = name
        self.proc = odoo.worker('send', name, options or {})
        self.reader = LineReader(self.proc.stdout)
        self.events = []
        self.result = None

    def _drain(self, timeout=0.0):
        try:
            event = self.reader.lines.get(timeout=timeout)
        except queue.Empty:
            return False
        if event is None:
            return None
        self.events.append(event)
        if event.get('event') == 'done':
            self.result = event
        return True

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.result is None and time.monotonic() < deadline:
            if self._drain(timeout=0.2) is None:
                break
        if self.result is None:
            procutil.stop_child(self.proc, self.name, first_signal=signal.SIGTERM, grace=5)
            self.proc.drill_log.close()
            raise DrillError(f'worker {self.name} did not finish within {timeout:g} s '
                             f'(exit {self.proc.returncode}); see {self.proc.drill_log.name}')
        self.proc.wait(timeout=30)
        self.proc.drill_log.close()
        if self.result.get('timed_out'):
            raise DrillError(f'worker {self.name}: the queue was not empty at its deadline')
        return self.result

    def kill(self):
        """SIGKILL, as the kernel's OOM killer or a container stop timeout would."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        while self._drain() not in (False, None):
            pass
        self.proc.drill_log.close()

    @property
    def batches(self):
        return sum(1 for event in self.events if event.get('event') == 'batch')


class DrillError(Exception):
    pass


# ============================================================================ drills

@dataclass
class Row:
    name: str
    sms: int = 0
    sent: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    requests: str = ''
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        return not self.problems


@dataclass
class Tally:
    """What one batch of queued SMS became."""

    sent: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    ambiguous: int = 0                 # SMS with at least one ambiguous attempt
    needs_review: int = 0
    failed_but_accepted: int = 0       # Odoo says failed, a provider did accept it
    sent_by: dict = field(default_factory=dict)       # provider -> SMS count
    failure_types: dict = field(default_factory=dict)
    lost_details: list = field(default_factory=list)
    duplicate_uuids: list = field(default_factory=list)
    info: dict = field(default_factory=dict)           # uuid -> inspect record


def _digits(number):
    return ''.join(ch for ch in number or '' if ch.isdigit())


class Drills:
    def __init__(self, odoo, control, sandbox, iap, accounts, http_port):
        self.odoo = odoo
        self.control = control
        self.sandbox = sandbox
        self.iap = iap
        self.accounts = accounts
        self.http_port = http_port
        self.rows = []
        self._drill_no = 0

    # ------------------------------------------------------------------ helpers
    def begin(self, name, policy=AT_LEAST_ONCE, batch_size=BATCH_SIZE, latency_ms=LATENCY_MS,
              accounts=None):
        """A clean slate: sandbox defaults, breakers forgotten, empty queue, settings."""
        self._drill_no += 1
        self.sandbox.reset()
        for provider in PROVIDERS:
            self.sandbox.configure(provider, latency_ms=latency_ms, callback_delay_ms=100)
        self.iap.reset()
        self.control.call('reset')
        account_values = {key: dict(ACCOUNT_DEFAULTS) for key in PROVIDERS}
        for key, values in (accounts or {}).items():
            account_values[key].update(values)
        self.control.call('configure', policy=policy, iap_last_resort=True,
                          accounts=account_values,
                          params={'sms.session.batch.size': str(batch_size)})
        row = Row(name)
        row.policy = policy
        row.started = time.monotonic()
        return row

    def numbers(self, group, count, start=1):
        """Distinct valid French mobile numbers routed by ``group`` (1, 2, 3)."""
        drill = self._drill_no % 100
        return [f'+3360{group}{drill:02d}{index:04d}' for index in range(start, start + count)]

    def queue(self, row, group, count, start=1, tag=''):
        numbers = self.numbers(group, count, start)
        items = [{'number': number,
                  'body': f'[{row.name}{tag}] appointment reminder, group {(start + i) // 5}'}
                 for i, number in enumerate(numbers)]
        return self.control.call('queue', items=items)

    def send(self, name, timeout=90, **options):
        sender = Sender(self.odoo, name, dict(options, max_seconds=timeout - 5))
        return sender.wait(timeout)

    def counters(self):
        return {provider: self.sandbox.counters(provider) for provider in PROVIDERS}

    def requests_text(self, before=None):
        counters = self.counters()
        parts = []
        for provider in PROVIDERS:
            count = counters[provider]['requests'] - (before or {}).get(provider, 0)
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
        for provider in PROVIDERS:
            for message in self.sandbox.messages(provider, limit=0):
                found.setdefault(_digits(message['to']), []).append(
                    (provider, str(message['id']), message.get('body')))
        for uuid, number, body in list(self.iap.accepted):
            found.setdefault(_digits(number), []).append(('iap', uuid, body))
        return found

    def tally(self, row, queued, crash_window=(), settle=0.0):
        """Compare Odoo's view of ``queued`` with the providers'; fill ``row``."""
        if settle:
            time.sleep(settle)
        uuids = [item['uuid'] for item in queued]
        info = self.control.call('inspect', uuids=uuids)
        accepted = self.acceptances()
        tally = Tally(info=info)
        for item in queued:
            uuid = item['uuid']
            record = info['sms'][uuid]
            attempts = record['attempts']
            taken = [a for a in accepted.get(_digits(item['number']), [])
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

    # ============================================================ the drills

    def drill_fault(self, fault, primary):
        """The primary starts failing with ``fault`` in the middle of a run."""
        expected = {'refuse': 'provider_error', 'http500': 'provider_error',
                    'http429': 'provider_error', 'hang': 'ambiguous',
                    'broken_json': 'ambiguous'}[fault]
        group = GROUP[primary]
        fallback = CHAINS[group][1]
        row = self.begin(f'{fault}: {primary} primary')
        if fault == 'http429':
            self.sandbox.configure(primary, retry_after=3)
        queued = self.queue(row, group, 30)
        flip = self.when_accepted(primary, 8, lambda: self.sandbox.set_mode(primary, fault))
        result = self.send('sender', timeout=60)
        flip['thread'].join(1)
        self.sandbox.set_mode(primary, 'ok')
        tally = self.tally(row, queued)
        if not self.check(row, flip['fired'], f'the fault never applied: {primary} accepted '
                          f'fewer than 8 SMS before the run ended'):
            return self.finish(row)
        after = self.counters()
        primary_calls = after[primary]['requests'] - flip['counters'][primary]['requests']
        outcomes = self.outcomes(tally, primary)
        breakers = tally.info['breakers']
        self.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
        # Only 'refuse' can duplicate: closing the port cuts the requests in flight, which
        # the provider may still complete (ambiguous, failed over under "at least once").
        self.check(row, tally.duplicated == 0 or (fault == 'refuse'
                                                   and tally.duplicated <= tally.ambiguous),
                   f'{tally.duplicated} duplicates for {tally.ambiguous} ambiguous SMS')
        self.check(row, outcomes.get(expected, 0) >= 1,
                   f'no {expected} attempt on {primary}: {outcomes}')
        self.check(row, tally.sent_by.get(fallback, 0) >= 1,
                   f'nothing failed over to {fallback}: {tally.sent_by}')
        if fault == 'refuse':
            self.check(row, primary_calls == 0,
                       f'{primary_calls} requests reached the refusing {primary}')
        elif fault == 'http429':
            # The first 429 pauses the account: only requests already in flight may follow.
            self.check(row, primary_calls <= CONCURRENCY,
                       f'{primary_calls} requests to {primary} after its 429 (max {CONCURRENCY})')
            self.check(row, bool(breakers[primary]['paused_until']),
                       f'{primary} not paused after a 429: {breakers[primary]}')
        else:
            limit = FAIL_MAX + CONCURRENCY - 1
            self.check(row, primary_calls <= limit,
                       f'{primary_calls} requests to the failing {primary} (max {limit})')
        if fault != 'http429':
            self.check(row, breakers[primary]['state'] in ('open', 'half-open'),
                       f'{primary} breaker {breakers[primary]["state"]}, expected open')
        accepted_before = flip['counters'][primary]['recipients_accepted']
        row.notes.append(f'{primary} failed with {fault} after {accepted_before} '
                         f'accepted; {primary_calls} calls after that; attempts on {primary}: '
                         + ', '.join(f'{k} {v}' for k, v in sorted(outcomes.items())))
        row.notes.append('sent by ' + ', '.join(f'{k} {v}'
                                                for k, v in sorted(tally.sent_by.items())))
        if tally.ambiguous:
            row.notes.append(f'{tally.ambiguous} SMS with an ambiguous attempt, failed over'
                             + (f' ({tally.duplicated} of them had been accepted: in flight '
                                f'when the port closed)' if tally.duplicated else ''))
        row.notes.append(f'{result["batches"]} batches')
        if fault == 'http429':
            # The pause ends: the provider takes traffic again.
            self.wait_breaker_ready(primary, COOLDOWN_S)
            paused = breakers[primary]['paused_until']
            if paused:
                until = datetime.fromisoformat(paused)
                until = until if until.tzinfo else until.replace(tzinfo=timezone.utc)
                delay = (until - datetime.now(timezone.utc)).total_seconds() + 0.2
                if delay > 0:
                    time.sleep(delay)
            before = self.sandbox.counters(primary)['recipients_accepted']
            later = self.queue(row, group, 10, start=101, tag=' after the pause')
            self.send('sender-after-pause', timeout=60)
            tally2 = self.tally(row, later)
            taken = self.sandbox.counters(primary)['recipients_accepted'] - before
            self.check(row, tally2.sent == len(later) and taken == len(later),
                       f'after the pause {primary} took {taken}/{len(later)}')
            row.notes.append(f'after Retry-After: {primary} took {taken}/{len(later)} again')
        return self.finish(row)

    def drill_late_accept(self, policy):
        """The primary answers after the timeout although it accepted: a true ambiguity."""
        row = self.begin('late answer (accepted after the 2 s timeout), '
                         + policy.replace('_', ' '), policy=policy)
        self.sandbox.configure('twilio', latency_ms=2600)
        queued = self.queue(row, GROUP['twilio'], 12)
        self.send('sender', timeout=60)
        # Let the sandbox finish the requests the client gave up on.
        tally = self.tally(row, queued, settle=1.5)
        late = self.sandbox.counters('twilio')['recipients_accepted']
        self.check(row, tally.ambiguous >= 1, 'no ambiguous attempt')
        self.check(row, late >= 1, 'the slow provider accepted nothing')
        if policy == AT_LEAST_ONCE:
            self.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
            self.check(row, tally.duplicated == late,
                       f'{tally.duplicated} duplicates for {late} late acceptances')
            row.notes.append(f'{tally.ambiguous} timed out and failed over; twilio accepted '
                             f'{late} of them anyway: {tally.duplicated} duplicates, each on an '
                             f'ambiguous attempt')
        else:
            self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
            self.check(row, tally.needs_review == tally.ambiguous == tally.failed,
                       f'{tally.needs_review} flagged for review, {tally.failed} failed, '
                       f'{tally.ambiguous} ambiguous')
            row.notes.append(f'{tally.needs_review} timed out: stopped and flagged "needs review" '
                             f'(twilio did accept {tally.failed_but_accepted} of them); the other '
                             f'{tally.sent} failed over once the breaker opened')
        return self.finish(row)

    def drill_hang_at_most_once(self):
        row = self.begin('hang: twilio primary, at most once', policy=AT_MOST_ONCE)
        self.sandbox.set_mode('twilio', 'hang')
        queued = self.queue(row, GROUP['twilio'], 12)
        self.send('sender', timeout=60)
        self.sandbox.set_mode('twilio', 'ok')
        tally = self.tally(row, queued)
        self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        self.check(row, tally.needs_review >= 1, 'nothing flagged for review')
        self.check(row, tally.sent + tally.failed == len(queued), 'unaccounted SMS')
        self.check(row, tally.failed == tally.needs_review,
                   f'{tally.failed} failed but {tally.needs_review} flagged for review')
        row.notes.append(f'{tally.needs_review} hung requests flagged "needs review" (not sent '
                         f'elsewhere); {tally.sent} failed over once the breaker opened')
        return self.finish(row)

    def drill_invalid_recipients(self):
        """Some numbers are refused by every provider: no failover for them, the rest sent."""
        row = self.begin('partial invalid recipients (all providers)')
        queued, invalid = [], set()
        for group in (1, 2, 3):
            batch = self.queue(row, group, 10)
            queued += batch
            invalid.update(item['number'] for index, item in enumerate(batch) if index % 3 == 2)
        for provider in PROVIDERS:
            self.sandbox.configure(provider, invalid_numbers=sorted(invalid))
        self.send('sender', timeout=60)
        tally = self.tally(row, queued)
        self.check(row, tally.sent == len(queued) - len(invalid),
                   f'{tally.sent} sent, expected {len(queued) - len(invalid)}')
        self.check(row, tally.failure_types == {'sms_number_format': len(invalid)},
                   f'failures {tally.failure_types}')
        for item in queued:
            attempts = tally.info['sms'][item['uuid']]['attempts']
            if item['number'] in invalid:
                self.check(row, len(attempts) == 1 and attempts[0]['outcome'] == 'recipient_error',
                           f'{item["number"]}: {[a["outcome"] for a in attempts]} '
                           f'(no failover expected)')
            else:
                self.check(row, len(attempts) == 1 and attempts[0]['accepted'],
                           f'{item["number"]}: {[a["outcome"] for a in attempts]}')
        breakers = tally.info['breakers']
        self.check(row, all(b['state'] == 'closed' and not b['failure_count']
                            for b in breakers.values()),
                   f'recipient errors moved a breaker: {breakers}')
        row.notes.append(f'{len(invalid)} invalid numbers (3 per provider) failed on their first '
                         f'account with the provider\'s reason, no failover; breakers untouched; '
                         f'valid numbers of the same requests sent once')
        return self.finish(row)

    def drill_all_down(self):
        """Every provider refuses and Odoo IAP is down; a later resend completes the SMS."""
        row = self.begin('every provider down, IAP down, then resend')
        for provider in PROVIDERS:
            self.sandbox.set_mode(provider, 'refuse')
        self.iap.mode = 'down'
        queued = []
        for group in (1, 2, 3):
            queued += self.queue(row, group, 5)
        self.send('sender', timeout=60)
        down = self.control.call('inspect', uuids=[item['uuid'] for item in queued])
        requests_down = self.requests_text()
        reasons_ok = 0
        for item in queued:
            record = down['sms'][item['uuid']]
            last = record['attempts'][-1] if record['attempts'] else {}
            if (record['state'] == 'error' and record['failure_type'] == 'sms_server'
                    and 'Odoo IAP' in record['reason'] and last.get('provider') == 'iap'):
                reasons_ok += 1
        self.check(row, reasons_ok == len(queued),
                   f'{reasons_ok}/{len(queued)} failed cleanly after trying Odoo IAP last')
        self.check(row, self.iap.requests >= 1, 'Odoo IAP was never called')
        iap_calls = self.iap.requests
        # The providers come back; IAP stays down. Cool-downs pass, then the operator resends.
        for provider in PROVIDERS:
            self.sandbox.set_mode(provider, 'ok')
        for provider in PROVIDERS:
            self.wait_breaker_ready(provider, COOLDOWN_S)
        self.send('resend', timeout=60, resend=[item['uuid'] for item in queued])
        tally = self.tally(row, queued)
        self.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent after resend')
        self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        self.check(row, all(b['state'] == 'closed' for b in tally.info['breakers'].values()),
                   f'breakers after the resend: {tally.info["breakers"]}')
        row.notes.append(f'down: {reasons_ok}/{len(queued)} failed with sms_server and the chain '
                         f'in the reason, IAP tried last ({iap_calls} calls, 503); requests '
                         f'{requests_down}')
        row.notes.append('resend after recovery: sent by '
                         + ', '.join(f'{k} {v}' for k, v in sorted(tally.sent_by.items()))
                         + '; breakers closed again by their probes')
        return self.finish(row)

    def drill_iap_last_resort(self):
        row = self.begin('every provider down, IAP up (last resort)')
        for provider in PROVIDERS:
            self.sandbox.set_mode(provider, 'refuse')
        queued = []
        for group in (1, 2, 3):
            queued += self.queue(row, group, 4)
        self.send('sender', timeout=60)
        tally = self.tally(row, queued)
        self.check(row, tally.sent_by == {'iap': len(queued)}, f'sent by {tally.sent_by}')
        self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        row.notes.append(f'all {tally.sent_by.get("iap", 0)} sent through the Odoo IAP stand-in '
                         f'after each chain failed; breakers opened, later SMS skipped the '
                         f'providers without a call')
        return self.finish(row)

    def drill_sigkill(self, policy=AT_LEAST_ONCE):
        """A worker is killed (SIGKILL) in the middle of a batch, then another one starts.

        Odoo commits a batch after its provider calls, so the SMS of the killed batch are
        back in the queue. Under "at least once" those the provider had accepted go out
        again (bounded by one batch). Under "at most once" every provider call was journaled
        first (committed hand-off): the restarted worker flags the handed-off SMS for review
        instead of sending them again, so nothing is duplicated.
        """
        row = self.begin(f'worker killed (SIGKILL) mid-batch, restarted, '
                         f'{policy.replace("_", " ")}', policy=policy, batch_size=20)
        self.sandbox.configure('twilio', latency_ms=150)
        queued = self.queue(row, GROUP['twilio'], 60)
        sender = Sender(self.odoo, 'sender-killed', {'max_seconds': 60})
        killed = self.when_accepted('twilio', 30, sender.kill)
        killed['thread'].join(60)
        if not self.check(row, killed['fired'], 'the worker finished before it could be killed'):
            return self.finish(row)
        # Requests in flight at the kill may still be accepted by the provider.
        time.sleep(0.6)
        at_kill = self.control.call('inspect', uuids=[item['uuid'] for item in queued])
        states = {}
        for record in at_kill['sms'].values():
            states[record['state']] = states.get(record['state'], 0) + 1
        accepted = self.acceptances()
        window = {item['uuid'] for item in queued
                  if at_kill['sms'][item['uuid']]['state'] == 'outgoing'
                  and accepted.get(_digits(item['number']))}
        self.check(row, set(states) <= {'pending', 'outgoing'},
                   f'states right after the kill: {states}')
        self.check(row, states.get('pending', 0) % 20 == 0,
                   f'{states.get("pending", 0)} committed: not whole batches')
        restarted = self.send('sender-restarted', timeout=60)
        self.check(row, len(window) <= 20, f'{len(window)} SMS in the crash window (batch of 20)')
        row.notes.append(f'killed after {killed["counters"]["twilio"]["recipients_accepted"]} '
                         f'accepted: {states.get("pending", 0)} committed, '
                         f'{states.get("outgoing", 0)} rolled back to the queue, of which '
                         f'{len(window)} the provider had already accepted')
        if policy == AT_MOST_ONCE:
            tally = self.tally(row, queued)
            self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
            self.check(row, tally.sent + tally.failed == len(queued),
                       f'{tally.sent} sent + {tally.failed} failed of {len(queued)}')
            self.check(row, len(window) <= tally.needs_review <= 20,
                       f'{tally.needs_review} flagged for review for {len(window)} accepted '
                       f'before the kill')
            row.notes.append(f'restarted worker flagged the {tally.needs_review} SMS the dead '
                             f'worker had handed to Twilio for review (hand-off journal) and '
                             f'sent the rest in {restarted["batches"]} batches: none twice')
            return self.finish(row)
        tally = self.tally(row, queued, crash_window=window)
        self.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
        self.check(row, set(tally.duplicate_uuids) <= window,
                   'duplicates outside the killed batch')
        row.notes.append(f'restarted worker sent the rest in {restarted["batches"]} batches; '
                         f'the {len(window)} already accepted went out again: Odoo commits a '
                         f'batch after its provider calls (crash window, as stock Odoo)')
        return self.finish(row)

    def items(self, row, group, count, start, tag):
        """SMS values for a worker that creates its own SMS (not queued by the control)."""
        return [{'number': number, 'body': f'[{row.name}{tag}] appointment reminder'}
                for number in self.numbers(group, count, start)]

    def drill_two_workers(self):
        """The breaker is shared by worker processes; only one of them probes when half-open.

        Odoo runs a cron job in one process at a time, so two processes send at once as the
        queue cron in one worker and an HTTP worker sending what a user just posted.
        """
        row = self.begin('two workers: shared breaker, one half-open probe',
                         accounts={'twilio': {'breaker_cooldown': 60}})
        group = GROUP['twilio']
        # A: the primary fails while the cron worker sends: its breaker opens.
        self.sandbox.set_mode('twilio', 'http500')
        wave_a = self.queue(row, group, 10, start=1, tag=' A')
        self.send('cron-worker-A', timeout=60)
        calls_a = self.sandbox.counters('twilio')['requests']
        breaker = self.control.call('breakers')['twilio']
        self.check(row, breaker['state'] == 'open', f'twilio breaker {breaker["state"]} after A')
        self.check(row, FAIL_MAX <= calls_a <= FAIL_MAX + CONCURRENCY - 1,
                   f'worker A called twilio {calls_a} times')
        # B: another process (an HTTP worker) never calls it while the breaker is open.
        result_b = self.send('http-worker-B', timeout=60,
                             create_and_send=self.items(row, group, 10, 101, ' B'))
        wave_b = result_b['created']
        calls_b = self.sandbox.counters('twilio')['requests'] - calls_a
        tally_b = self.tally(row, wave_b)
        self.check(row, calls_b == 0, f'worker B called the open twilio {calls_b} times')
        self.check(row, self.outcomes(tally_b, 'twilio') == {'skipped': len(wave_b)},
                   f'worker B twilio attempts {self.outcomes(tally_b, "twilio")}')
        # C: cool-down over, both processes send at once, the probe is slow and fails:
        # one request in all.
        self.control.call('configure', accounts={'twilio': {'breaker_cooldown': 4}},
                          params={'sms.session.batch.size': '5'})
        self.sandbox.configure('twilio', latency_ms=1500)
        self.wait_breaker_ready('twilio', 4)
        queued_c = self.queue(row, group, 15, start=201, tag=' C')
        before_c = self.sandbox.counters('twilio')['requests']
        workers = [Sender(self.odoo, 'cron-worker-C', {'max_seconds': 55}),
                   Sender(self.odoo, 'http-worker-C', {
                       'max_seconds': 55, 'chunk': 5,
                       'create_and_send': self.items(row, group, 15, 301, ' C')})]
        results = [worker.wait(60) for worker in workers]
        wave_c = queued_c + results[1]['created']
        calls_c = self.sandbox.counters('twilio')['requests'] - before_c
        tally_c = self.tally(row, wave_c)
        handled = [set(result['handled']) & {item['uuid'] for item in wave_c}
                   for result in results]
        self.check(row, calls_c == 1, f'{calls_c} probe requests in half-open (expected 1)')
        self.check(row, all(handled), f'SMS handled per worker: {[len(h) for h in handled]}')
        prober = [index for index, uuids in enumerate(handled)
                  if any(a['provider'] == 'twilio' and a['outcome'] != 'skipped'
                         for uuid in uuids for a in tally_c.info['sms'][uuid]['attempts'])]
        self.check(row, len(prober) == 1, f'workers that called twilio: {prober}')
        refused = 0
        if len(prober) == 1:
            other = handled[1 - prober[0]]
            refused = sum(1 for uuid in other for a in tally_c.info['sms'][uuid]['attempts']
                          if a['provider'] == 'twilio' and a['outcome'] == 'skipped'
                          and 'half-open' in a['reason'])
            self.check(row, refused >= 1, 'the other worker never met the half-open breaker')
        breaker = tally_c.info['breakers']['twilio']
        self.check(row, breaker['state'] == 'open' and breaker['open_count'] == 2,
                   f'after the failed probe: {breaker}')
        # D: the provider is back: the next probe closes the breaker, traffic returns.
        self.sandbox.configure('twilio', mode='ok', latency_ms=LATENCY_MS)
        self.control.call('configure', accounts={'twilio': {'breaker_cooldown': 1}})
        self.wait_breaker_ready('twilio', 2)
        wave_d = self.queue(row, group, 10, start=401, tag=' D')
        before_d = self.sandbox.counters('twilio')['recipients_accepted']
        self.send('cron-worker-D', timeout=60)
        tally_d = self.tally(row, wave_d)
        taken_d = self.sandbox.counters('twilio')['recipients_accepted'] - before_d
        tally_a = self.tally(row, wave_a)
        self.check(row, tally_d.sent_by.get('twilio') == len(wave_d),
                   f'after recovery twilio sent {tally_d.sent_by}')
        self.check(row, tally_d.info['breakers']['twilio']['state'] == 'closed',
                   f'after recovery: {tally_d.info["breakers"]["twilio"]}')
        self.check(row, row.sent == row.sms, f'{row.sent}/{row.sms} sent')
        self.check(row, row.duplicated == 0, f'{row.duplicated} duplicates')
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
        return self.finish(row)

    def drill_webhooks(self):
        """Forged, replayed, garbled and misdirected webhooks change nothing."""
        row = self.begin('malformed webhooks (Sweego, Twilio, OVH)')
        base = f'http://127.0.0.1:{self.http_port}'
        server = self.odoo.popen(
            [self.odoo.python, '-m', 'odoo', 'server', '-c', str(self.odoo.config_path),
             '-d', DB_NAME, f'--db-filter=^{DB_NAME}$', f'--http-port={self.http_port}',
             '--workers=0', '--max-cron-threads=0'], 'odoo-http', stdout=subprocess.DEVNULL)
        try:
            if not procutil.wait_port(self.http_port, timeout=60, proc=server):
                raise DrillError('the Odoo HTTP server did not start')
            return self._webhooks(row, base)
        finally:
            procutil.stop_child(server, 'odoo-http', grace=10)
            server.drill_log.close()

    def _webhooks(self, row, base):
        sweego_id = self.accounts['sweego']
        twilio_id = self.accounts['twilio']
        ovh_id = self.accounts['ovh']
        self.sandbox.configure('sweego',
                               webhook_url=f'{base}/sms_router_sweego/webhook/{sweego_id}')
        items = []
        for group in (1, 2, 3):
            number = self.numbers(group, 1)[0]
            items.append({'number': number, 'name': f'Drill contact {group}',
                          'body': f'[webhooks] your order {group} is ready'})
        queued = self.control.call('queue_notified', items=items)
        self.send('sender', timeout=60)
        self.sandbox.wait_callbacks(timeout=10)
        uuids = [item['uuid'] for item in queued]
        refs = self.control.call('webhook_refs', uuids=uuids)
        by_provider = {ref['provider']: (uuid, ref) for uuid, ref in refs['accepted'].items()}
        self.check(row, set(by_provider) == set(PROVIDERS), f'accepted by {sorted(by_provider)}')
        if set(by_provider) != set(PROVIDERS):
            return self.finish(row)
        # Genuine reports from the sandbox (Sweego events, Twilio status callbacks) landed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            info = self.control.call('inspect', uuids=uuids)
            states = {info['sms'][uuid]['attempts'][-1]['provider']:
                      info['sms'][uuid]['attempts'][-1]['delivery_state'] for uuid in uuids}
            if states.get('sweego') == 'delivered' and states.get('twilio') == 'delivered':
                break
            time.sleep(0.3)
        self.check(row, states.get('sweego') == 'delivered' and states.get('twilio') == 'delivered',
                   f'genuine callbacks from the sandbox not applied: {states}')
        callbacks = {p: self.sandbox.counters(p)['callbacks'] for p in ('sweego', 'twilio')}

        session = requests.Session()
        results = []
        # Every refusal (unknown account, another provider's account, bad or missing token or
        # signature, stale timestamp) gets the same answer from every provider's webhook, so
        # that account ids cannot be enumerated.
        refusal = 403
        refusal_bodies = set()

        def post(label, url, expect, data=b'', headers=None, method='POST'):
            try:
                response = session.request(method, url, data=data, headers=headers or {},
                                           timeout=15, allow_redirects=False)
                status = response.status_code
                if status == refusal:
                    refusal_bodies.add(response.text)
            except requests.RequestException as error:
                status = f'error {type(error).__name__}'
            results.append((label, status, expect))
            return status

        # --- Sweego: Standard Webhooks signature over "id.timestamp.body".
        s_uuid, s_ref = by_provider['sweego']
        s_url = f'{base}/sms_router_sweego/webhook/{sweego_id}'

        def sweego_event(event_type, swg_uid, event_id=None):
            event_id = event_id or f'evt-{os.urandom(6).hex()}'
            return event_id, json.dumps({
                'event_id': event_id, 'event_type': event_type, 'channel': 'sms',
                'swg_uid': swg_uid, 'transaction_id': s_ref['batch_id'],
                'phone_number': '00' + _digits(s_ref['number']), 'status': 'undelivered',
                'timestamp': datetime.now(timezone.utc).isoformat()}).encode()

        def sweego_headers(event_id, body, secret=SWEEGO_WEBHOOK_SECRET, timestamp=None):
            timestamp = str(int(time.time()) if timestamp is None else timestamp)
            return {'webhook-id': event_id, 'webhook-timestamp': timestamp,
                    'webhook-signature': sweego_signature(secret, event_id, timestamp, body),
                    'Content-Type': 'application/json'}

        genuine_id, genuine = sweego_event('sms_undelivered', s_ref['message_id'])
        genuine_headers = sweego_headers(genuine_id, genuine)

        # --- Twilio: HMAC-SHA1 over the URL and the sorted parameters.
        t_uuid, t_ref = by_provider['twilio']
        o_uuid, o_ref = by_provider['ovh']
        t_url = f'{base}/sms_router_twilio/status/{twilio_id}/{t_uuid}'
        t_form = {'MessageSid': t_ref['message_id'], 'SmsSid': t_ref['message_id'],
                  'MessageStatus': 'delivered', 'SmsStatus': 'delivered',
                  'AccountSid': 'AC' + '0' * 32, 'To': t_ref['number'], 'From': '+15005550006',
                  'ApiVersion': '2010-04-01'}

        def twilio_headers(url, form, token=TWILIO_AUTH_TOKEN):
            return {'X-Twilio-Signature': twilio_signature(token, url, form),
                    'Content-Type': 'application/x-www-form-urlencoded'}

        def form_body(form):
            return urllib.parse.urlencode(form).encode()

        stop_number = '+33699887766'
        inbound_url = f'{base}/sms_router_twilio/inbound/{twilio_id}'
        stop_form = {'From': stop_number, 'To': '+15005550006', 'Body': 'STOP',
                     'MessageSid': 'SM' + os.urandom(16).hex(), 'AccountSid': 'AC' + '0' * 32}

        # --- OVH: a secret token in the URL.
        o_url = f'{base}/sms_router_ovh/callback/{ovh_id}/{refs["ovh_token"]}'
        o_report = {'id': o_ref['message_id'], 'dlr': '2', 'receiver': o_ref['number']}

        # Positive controls: authentic calls do change things (so "nothing changed" below
        # is not the absence of any effect).
        post('sweego: genuine sms_undelivered', s_url, 200, genuine, genuine_headers)
        post('twilio: genuine inbound STOP', inbound_url, 200, form_body(stop_form),
             twilio_headers(inbound_url, stop_form))
        post('ovh: genuine report dlr=2', o_url + '?' + urllib.parse.urlencode(o_report), 200,
             method='GET')
        controls = self.control.call('inspect', uuids=uuids)
        control_states = {controls['sms'][u]['attempts'][-1]['provider']:
                          controls['sms'][u]['attempts'][-1]['delivery_state'] for u in uuids}
        before = self.control.call('digest')
        self.check(row, control_states == {'sweego': 'undelivered', 'twilio': 'delivered',
                                           'ovh': 'undelivered'}
                   and stop_number in before['blacklisted'],
                   f'positive controls: {control_states}, blacklist {before["blacklisted"]}')
        results_controls = list(results)
        results.clear()
        # Dates are stored to the second: a replay that rewrote one must show.
        time.sleep(1.1)

        # --- Sweego: refused calls.
        forged_id, forged = sweego_event('sms_sent', s_ref['message_id'])
        post('sweego: no signature', s_url, refusal, forged, {'Content-Type': 'application/json'})
        post('sweego: signed with another secret', s_url, refusal, forged,
             sweego_headers(forged_id, forged, secret=base64.b64encode(b'not-the-secret').decode()))
        tampered = forged.replace(b'sms_sent', b'sms_stop')
        post('sweego: body changed after signing', s_url, refusal, tampered,
             sweego_headers(forged_id, forged))
        post('sweego: genuine call replayed after 1 h', s_url, refusal, forged,
             sweego_headers(forged_id, forged, timestamp=int(time.time()) - 3600))
        post('sweego: genuine call replayed at once', s_url, 200, genuine, genuine_headers)
        junk_id = f'evt-{os.urandom(6).hex()}'
        junk = b'\x00\xff not json {'
        post('sweego: signed garbage', s_url, 400, junk, sweego_headers(junk_id, junk))
        unknown_id, unknown = sweego_event('sms_undelivered', '03-' + os.urandom(16).hex())
        post('sweego: signed, unknown swg_uid', s_url, 200, unknown,
             sweego_headers(unknown_id, unknown))
        post('sweego: unknown account', f'{base}/sms_router_sweego/webhook/999999', refusal,
             forged, sweego_headers(forged_id, forged))
        post('sweego: Twilio account id', f'{base}/sms_router_sweego/webhook/{twilio_id}', refusal,
             forged, sweego_headers(forged_id, forged))

        # --- Twilio: refused calls.
        undelivered = dict(t_form, MessageStatus='undelivered', SmsStatus='undelivered',
                           ErrorCode='30003')
        post('twilio: no signature', t_url, refusal, form_body(undelivered),
             {'Content-Type': 'application/x-www-form-urlencoded'})
        post('twilio: signed with another token', t_url, refusal, form_body(undelivered),
             twilio_headers(t_url, undelivered, token='not-the-token'))
        post('twilio: parameter changed after signing', t_url, refusal, form_body(undelivered),
             twilio_headers(t_url, t_form))
        post('twilio: garbage', t_url, refusal, os.urandom(64),
             {'X-Twilio-Signature': 'garbage', 'Content-Type': 'application/x-www-form-urlencoded'})
        other_url = f'{base}/sms_router_twilio/status/{twilio_id}/{o_uuid}'
        post('twilio: signed, SID of another SMS', other_url, 404, form_body(undelivered),
             twilio_headers(other_url, undelivered))
        ghost = dict(undelivered, MessageSid='SM' + os.urandom(16).hex())
        ghost['SmsSid'] = ghost['MessageSid']
        post('twilio: signed, unknown MessageSid', t_url, 200, form_body(ghost),
             twilio_headers(t_url, ghost))
        post('twilio: unknown account', f'{base}/sms_router_twilio/status/999999/{t_uuid}',
             refusal, form_body(undelivered), twilio_headers(t_url, undelivered))
        post('twilio: genuine delivered replayed', t_url, 200, form_body(t_form),
             twilio_headers(t_url, t_form))
        forged_stop = dict(stop_form, From='+33611223344')
        post('twilio: inbound STOP, bad signature', inbound_url, refusal, form_body(forged_stop),
             twilio_headers(inbound_url, forged_stop, token='not-the-token'))
        post('twilio: genuine STOP replayed', inbound_url, 200, form_body(stop_form),
             twilio_headers(inbound_url, stop_form))

        # --- OVH: refused calls.
        query = '?' + urllib.parse.urlencode(dict(o_report, dlr='1'))
        post('ovh: wrong token', f'{base}/sms_router_ovh/callback/{ovh_id}/not-the-token{query}',
             refusal, method='GET')
        post('ovh: token on another account',
             f'{base}/sms_router_ovh/callback/{sweego_id}/{refs["ovh_token"]}{query}', refusal,
             method='GET')
        post('ovh: unknown account', f'{base}/sms_router_ovh/callback/999999/x{query}', refusal,
             method='GET')
        post('ovh: garbage (no SMS id)', o_url, 400, b'\x00\xff{not json',
             {'Content-Type': 'application/json'})
        post('ovh: unknown SMS id', o_url + '?id=999999999&dlr=1', 200, method='GET')
        post('ovh: genuine report replayed',
             o_url + '?' + urllib.parse.urlencode(o_report), 200, method='GET')

        after = self.control.call('digest')
        for label, status, expect in results_controls + results:
            self.check(row, status == expect, f'{label}: HTTP {status}, expected {expect}')
        self.check(row, len(refusal_bodies) <= 1,
                   f'refusals answered with different bodies: {sorted(refusal_bodies)}')
        changed = [name for name in ('sms', 'attempts', 'trackers', 'blacklist', 'sweego_events')
                   if before.get(name) != after.get(name)]
        self.check(row, not changed, f'changed by refused/replayed calls: {changed}')
        parked = after['sweego_event_states'].get('parked', 0) - \
            before['sweego_event_states'].get('parked', 0)
        tally = self.tally(row, queued)
        self.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
        rejected = sum(1 for _label, status, _expect in results if status not in (200,))
        row.notes.append(f'positive controls first: sandbox callbacks (Sweego '
                         f'{callbacks["sweego"]["sent"]}, Twilio {callbacks["twilio"]["sent"]}) '
                         f'and 3 authentic calls applied')
        row.notes.append(f'{len(results)} malformed/replayed calls: {rejected} refused '
                         f'(the same {refusal} answer for every refusal; 404 for a signed report '
                         f'naming another SMS, 400 for signed garbage), '
                         f'{len(results) - rejected} answered 200 and ignored '
                         f'(replays, unknown ids); trackers, attempts, blacklist, SMS unchanged')
        if parked:
            row.notes.append(f'the signed event for an unknown swg_uid is parked with the '
                             f'router\'s delivery reports ({parked} event), applied only if that '
                             f'id is ever sent')
        row.webhook_results = results_controls + results
        return self.finish(row, f'{len(results_controls) + len(results)} webhook calls')


# ============================================================================ catalogue

FAULTS = ('refuse', 'http500', 'hang', 'http429', 'broken_json')


def catalogue():
    """(name, label, function(drills)) in run order."""
    entries = []
    for fault in FAULTS:
        for primary in PROVIDERS:
            entries.append((f'{fault}:{primary}', fault,
                            lambda d, f=fault, p=primary: d.drill_fault(f, p)))
    entries += [
        ('late_accept:at_least_once', 'late_accept', lambda d: d.drill_late_accept(AT_LEAST_ONCE)),
        ('late_accept:at_most_once', 'late_accept', lambda d: d.drill_late_accept(AT_MOST_ONCE)),
        ('hang_at_most_once', 'hang_at_most_once', lambda d: d.drill_hang_at_most_once()),
        ('invalid_recipients', 'invalid_recipients', lambda d: d.drill_invalid_recipients()),
        ('all_down', 'all_down', lambda d: d.drill_all_down()),
        ('iap_last_resort', 'iap_last_resort', lambda d: d.drill_iap_last_resort()),
        ('sigkill:at_least_once', 'sigkill', lambda d: d.drill_sigkill(AT_LEAST_ONCE)),
        ('sigkill:at_most_once', 'sigkill', lambda d: d.drill_sigkill(AT_MOST_ONCE)),
        ('two_workers', 'two_workers', lambda d: d.drill_two_workers()),
        ('webhooks', 'webhooks', lambda d: d.drill_webhooks()),
    ]
    return entries


def select(only):
    entries = catalogue()
    if not only:
        return entries
    wanted = [name.strip() for name in only.split(',') if name.strip()]
    chosen = [e for e in entries if e[0] in wanted or e[1] in wanted]
    unknown = [w for w in wanted if not any(w in (e[0], e[1]) for e in entries)]
    if unknown:
        raise SystemExit(f'unknown drill(s): {", ".join(unknown)} (see --list)')
    return chosen


# ============================================================================== table

def render(rows, total_seconds):
    header = ('| Drill | SMS | Sent | Failed with reason | Lost | Duplicated | '
              'Provider requests | Notes |')
    lines = [header, '|---|---:|---:|---:|---:|---:|---|---|']
    for row in rows:
        status = '' if row.ok else ' **FAILED**'
        notes = '; '.join(row.notes).replace('|', '/')
        lines.append(f'| {row.name}{status} | {row.sms} | {row.sent} | {row.failed} | '
                     f'{row.lost} | {row.duplicated} | {row.requests} | {notes} |')
    passed = sum(row.ok for row in rows)
    lines.append('')
    lines.append(f'{passed}/{len(rows)} drills passed in {procutil.fmt_duration(total_seconds)}; '
                 f'{sum(r.sms for r in rows)} SMS, {sum(r.lost for r in rows)} lost, '
                 f'{sum(r.duplicated for r in rows)} duplicated.')
    return '\n'.join(lines)


# =============================================================================== main

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Drills: ' + ', '.join(sorted({e[1] for e in catalogue()})))
    parser.add_argument('--only', default='',
                        help='comma-separated drills, e.g. "sigkill,http500" or "hang:twilio"')
    parser.add_argument('--list', action='store_true', help='list the drills and exit')
    parser.add_argument('--db-host', default=os.environ.get('DRILL_DB_HOST', ''))
    parser.add_argument('--db-port', default=os.environ.get('DRILL_DB_PORT', '5432'))
    parser.add_argument('--db-user', default=os.environ.get('DRILL_DB_USER', 'odoo'))
    parser.add_argument('--http-port', type=int, default=int(os.environ.get('DRILL_HTTP_PORT', 0)),
                        help='HTTP port of the Odoo server of the webhook drill (default: free)')
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON', sys.executable))
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser.parse_args(argv)


def write_config(path, db_args, install, http_port, data_dir, log_level='info'):
    values = dict(arg[2:].split('=', 1) for arg in db_args)
    lines = ['[options]'] + [f'{key} = {value}' for key, value in values.items()] + [
        f'addons_path = {odoo_env.addons_path_option(install)}',
        'http_interface = 127.0.0.1',
        f'http_port = {http_port}',
        'max_cron_threads = 0',
        'workers = 0',
        f'log_level = {log_level}',
        f'data_dir = {data_dir}',
        'list_db = False',
    ]
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')


def drop_database(db_args):
    import psycopg2  # noqa: PLC0415 - Odoo's dependency, present wherever Odoo runs
    values = dict(arg[2:].split('=', 1) for arg in db_args)
    connection = psycopg2.connect(host=values['db_host'], port=values['db_port'],
                                  user=values['db_user'], dbname='postgres')
    connection.autocommit = True
    with connection.cursor() as cr:
        cr.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s',
                   [DB_NAME])
        cr.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
    connection.close()


def run(args, entries, log_dir):
    install = odoo_env.detect_odoo(args.python)
    if not install.importable:
        say(f'DRILLS SKIPPED: {install.reason}')
        return 0
    missing = [name for name in ADDONS if not (ROOT / name / '__manifest__.py').is_file()]
    if missing:
        say(f'ERROR: addons missing: {", ".join(missing)}')
        return 2
    started = time.monotonic()
    cluster = None
    data_dir = Path(tempfile.mkdtemp(prefix='sms-router-drills-'))
    sandbox = iap = control = odoo = None
    try:
        if args.db_host:
            db_args = [f'--db_host={args.db_host}', f'--db_port={args.db_port}',
                       f'--db_user={args.db_user}', '--db_password=']
            drop_database(db_args)
        else:
            cluster = pgcluster.PgCluster(quiet=not args.verbose).start()
            db_args = cluster.odoo_args()
        http_port = args.http_port or procutil.free_port(avoid={cluster.port} if cluster else ())
        config_path = data_dir / 'odoo.conf'
        write_config(config_path, db_args, install, http_port, data_dir / 'filestore')
        odoo = Odoo(args.python, config_path, log_dir, verbose=args.verbose)
        say(f'[drills] creating {DB_NAME} with {", ".join(ADDONS)} ...')
        code = odoo.run(['-d', DB_NAME, '-i', ','.join(ADDONS), '--stop-after-init',
                         '--log-level=warn'], 'install', timeout=900)
        if code != 0:
            say(f'ERROR: installing the addons failed (exit {code}); see {log_dir}')
            return 2
        say(f'[drills] database ready in {procutil.fmt_duration(time.monotonic() - started)}')
        sandbox = Sandbox('127.0.0.1', port=0, dedicated_ports=True).start()
        iap = IapStandIn().start()
        control = Control(odoo)
        endpoints = {provider: sandbox.endpoint(provider) for provider in PROVIDERS}
        endpoints['sweego_webhook_secret'] = SWEEGO_WEBHOOK_SECRET
        setup = control.call('setup', endpoints=endpoints, iap_url=iap.url,
                             base_url=f'http://127.0.0.1:{http_port}',
                             account_defaults=ACCOUNT_DEFAULTS)
        if setup['configuration_errors']:
            say(f'ERROR: accounts misconfigured: {setup["configuration_errors"]}')
            return 2
        drills = Drills(odoo, control, sandbox, iap, setup['accounts'], http_port)
        for name, _label, function in entries:
            before = len(drills.rows)
            drill_started = time.monotonic()
            say(f'[drills] {name} ...')
            try:
                function(drills)
            except Exception as error:  # noqa: BLE001 - one broken drill must not hide the others
                row = Row(name, problems=[f'{type(error).__name__}: {error}'])
                row.seconds = time.monotonic() - drill_started
                drills.rows.append(row)
                if args.verbose:
                    traceback.print_exc()
                odoo.stop_all()
            for row in drills.rows[before:]:
                if row.seconds > DRILL_LIMIT_S:
                    row.problems.append(f'took {row.seconds:.0f} s, limit {DRILL_LIMIT_S} s')
                verdict = 'ok' if row.ok else 'FAILED'
                say(f'[drills] {name}: {verdict} in {row.seconds:.1f} s: {row.sms} SMS, '
                    f'{row.sent} sent, {row.failed} failed, {row.lost} lost, '
                    f'{row.duplicated} duplicated')
                for problem in row.problems:
                    say(f'           - {problem}')
        total = time.monotonic() - started
        table = render(drills.rows, total)
        say('')
        say(table)
        (log_dir / 'drills.md').write_text(table + '\n', encoding='utf-8')
        webhook_rows = [row for row in drills.rows if hasattr(row, 'webhook_results')]
        for row in webhook_rows:
            say('')
            say('| Webhook call | HTTP | Expected |')
            say('|---|---:|---:|')
            for label, status, expect in row.webhook_results:
                say(f'| {label} | {status} | {expect} |')
        say(f'\nlogs: {log_dir}')
        return 0 if all(row.ok for row in drills.rows) else 1
    finally:
        if control:
            control.stop()
        if odoo:
            odoo.stop_all()
        if sandbox:
            sandbox.stop()
        if iap:
            iap.stop()
        if cluster:
            cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for name, label, _function in catalogue():
            say(f'{name:<28} (--only {label} or {name})')
        return 0
    entries = select(args.only)
    procutil.install_signal_handlers()
    stamp = datetime.now().strftime('%Y%m%d-%H%M%S')
    log_dir = ROOT / '.run' / 'drills' / stamp
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, entries, log_dir)
    except (KeyboardInterrupt, procutil.Terminated):
        say('[drills] interrupted')
        return 130
    except pgcluster.PgClusterError as error:
        say(f'ERROR: {error}')
        return 2


if __name__ == '__main__':
    sys.exit(main())
