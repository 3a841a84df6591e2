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
sandbox, trail contents, HTTP status codes, the Odoo log). The webhook drill runs an Odoo
HTTP server (``odoo server --workers=0``) on ``--http-port``; the slow-provider and
total-outage drills run Odoo in prefork (HTTP workers on ``--http-port`` for the delivery
reports, one cron worker that the drill only triggers) and read its log for killed
workers, cron jobs and the router's batch lines. The bookkeeping drills lock or rename the
router's tables from another connection; the neutralized-copy drill copies the database
(``CREATE DATABASE ... TEMPLATE``), runs ``odoo neutralize`` on the copy and its scheduled
actions by hand. Each drill must end within
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
import re
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
MAX_HOLD_HOURS = 4.0       # the company's "Hold SMS During Outages" (Odoo's default)
LATENCY_MS = 40            # every sandbox answer waits this long (faults switch mid-run)
GROUP = {'sweego': 1, 'twilio': 2, 'ovh': 3}   # +33 6 0<group>...: the primary provider
CHAINS = {1: ('sweego', 'twilio', 'ovh'), 2: ('twilio', 'ovh', 'sweego'),
          3: ('ovh', 'sweego', 'twilio')}
SHORT = {'sweego': 'S', 'twilio': 'T', 'ovh': 'O', 'iap': 'IAP'}
AT_LEAST_ONCE = 'at_least_once'
AT_MOST_ONCE = 'at_most_once'
GROUP_TWILIO_ONLY = 4      # +33 6 04...: Twilio alone (then Odoo IAP when the last resort is on)
QUEUE_CRON = 'sms.ir_cron_sms_scheduler_action'
QUEUE_CRON_NAME = 'SMS: SMS Queue Manager'
OVH_CRON = 'sms_router_ovh.ir_cron_sms_router_ovh'
PARKED_CRON = 'sms_router.ir_cron_sms_router_parked_reports'
# Slow provider: Odoo in prefork with a lowered real-time limit for cron workers.
SLOW_SMS = 500
SLOW_LATENCY_MS = 1000
SLOW_TIMEOUT_S = 3.0       # three times the latency: a loaded machine must not make it ambiguous
SLOW_TIME_LIMIT_S = 20     # --limit-time-real-cron and --limit-time-real
SLOW_DRAIN_S = 330         # 500 SMS at 4 requests of 1 s in flight need 125 s of sending
SLOW_STALL_S = 30          # no SMS accepted for this long: the queue is not moving
# Total outage: breakers cool down quickly, the outage outlasts a cron wake-up or two.
OUTAGE_SMS_PER_GROUP = 10
OUTAGE_S = 75
OUTAGE_COOLDOWN_S = 5
# Odoo's cron workers sleep up to SLEEP_INTERVAL (60 s) plus pid % 10 s when no trigger is
# due now: a trigger for a future moment is seen at the next wake-up.
CRON_POLL_S = 70
HOLD_TINY_HOURS = 0.003    # about 11 s
BOOKKEEPING_FAULT_S = 6    # how long the breaker table stays locked / renamed
COPY_DB = DB_NAME + '_neutralized'


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
        self.calls = []             # per accepted call: (numbers, distinct bodies)
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
                messages = payload.get('params', {}).get('messages', [])
                for message in messages:
                    for number in message.get('numbers', []):
                        with stand_in._lock:
                            stand_in.accepted.append(
                                (number['uuid'], number['number'], message.get('content')))
                        results.append({'uuid': number['uuid'], 'state': 'success', 'credit': 1})
                with stand_in._lock:
                    stand_in.calls.append(
                        (len(results), len({message.get('content') for message in messages})))
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
            self.calls = []

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

    def popen(self, args, name, stdout=subprocess.PIPE, keep=False):
        log = open(self.log_path(name), 'w', encoding='utf-8')  # noqa: SIM115 - closed by owner
        log.write(f'# {shlex.join(args)}\n')
        log.flush()
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE if keep else subprocess.DEVNULL,
            stdout=stdout, stderr=log, text=True, bufsize=1, start_new_session=True,
            cwd=str(ROOT), env=odoo_env.odoo_environ())
        proc.drill_log = log
        # The control processes live as long as the run: a failed drill must not stop them.
        proc.drill_keep = keep
        self.children.append((name, proc))
        return proc

    def stop_all(self, everything=False):
        """Stop whatever a failed drill left running (only processes started here)."""
        for name, proc in self.children:
            if proc.drill_keep and not everything:
                continue
            if proc.poll() is None:
                procutil.stop_child(proc, name, first_signal=signal.SIGTERM, grace=5)
            if not proc.drill_log.closed:
                proc.drill_log.close()
        self.children = [(n, p) for n, p in self.children if p.poll() is None]

    def worker(self, role, name, options=None, db=DB_NAME, keep=False):
        args = [self.python, str(WORKER), '-c', str(self.config_path), '-d', db, role]
        if options is not None:
            args += ['--options', json.dumps(options)]
        return self.popen(args, name, keep=keep)

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

    def __init__(self, odoo, db=DB_NAME, name='control'):
        self.proc = odoo.worker('serve', name, db=db, keep=True)
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

    def call(self, cmd, timeout=60, release=False, **args):
        with self._lock:
            self.proc.stdin.write(json.dumps({'cmd': cmd, 'args': args, 'release': release})
                                  + '\n')
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

    def __init__(self, odoo, name, options=None, db=DB_NAME):
        self.name = name
        self.proc = odoo.worker('send', name, options or {}, db=db)
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


LOG_LINE = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\d+) (\w+) (\S+) ([\w.]+): (.*)$')
ROUTER_LINE = re.compile(r'SMS router: company \d+: (\d+) SMS, (\d+) sent, (\d+) failed, (\d+) held, '
                         r'(\d+) deferred, (\d+) provider requests in ([\d.]+) s')
JOB_LINE = re.compile(r"Job '(.+)' \((\d+)\) (starting|fully done|partially done|failed)"
                      r"(?: \(#loop (\d+); done (\d+); remaining (\d+); duration ([\d.]+)s\))?")
# What Odoo writes when it kills or loses a worker: the prefork watchdog ("WorkerCron (pid)
# timeout after 20s", then SIGKILL), the threaded server's "virtual real time limit", the
# memory and CPU limits, a worker dying on an exception.
KILL_PATTERNS = re.compile(r'timeout after \d+s|virtual real time limit|SIGKILL|'
                           r'virtual memory limit|CPU time limit|Exception occurred, exiting|'
                           r'Critial worker error|Job .* timed out', re.IGNORECASE)


@dataclass
class LogLine:
    at: float               # epoch seconds
    pid: int
    level: str
    logger: str
    message: str


def parse_odoo_log(text):
    """The lines of an Odoo log (continuation lines, e.g. tracebacks, are joined)."""
    lines = []
    for raw in text.splitlines():
        match = LOG_LINE.match(raw)
        if match:
            stamp, pid, level, _db, logger, message = match.groups()
            at = datetime.strptime(stamp, '%Y-%m-%d %H:%M:%S,%f').timestamp()
            lines.append(LogLine(at, int(pid), level, logger, message))
        elif lines:
            lines[-1].message += '\n' + raw
    return lines


# Odoo's command line, as odoo-bin. The prefork master starts its websocket worker as
# [sys.executable, sys.argv[0], 'gevent', ...] and starts it again whenever it exits: with
# `python3 -m odoo`, argv[0] is odoo/__main__.py, which cannot run as a script, and gevent
# itself may not import (zope.interface missing): either way a process every 50 ms. The
# drills use no websocket, so the launcher stands in for that worker until it is stopped.
LAUNCHER = '''import sys
import time
if sys.argv[1:2] == ['gevent']:
    while True:
        time.sleep(3600)
from odoo.cli.command import main
sys.exit(main())
'''


class OdooServer:
    """``odoo server`` in prefork mode on a database: HTTP workers (webhooks, delivery
    reports) and cron workers, each killed by the master when it outlives its real-time
    limit, exactly as in production."""

    def __init__(self, odoo, name, http_port, db=DB_NAME, workers=2, cron_workers=1,
                 limit_time_real=None, limit_time_real_cron=None):
        self.name = name
        launcher = Path(odoo.config_path).parent / 'odoo-launcher.py'
        if not launcher.exists():
            launcher.write_text(LAUNCHER, encoding='utf-8')
        args = [odoo.python, str(launcher), 'server', '-c', str(odoo.config_path), '-d', db,
                f'--db-filter=^{db}$', f'--http-port={http_port}',
                f'--gevent-port={procutil.free_port(avoid={http_port})}',
                f'--workers={workers}', f'--max-cron-threads={cron_workers}']
        if limit_time_real:
            args.append(f'--limit-time-real={limit_time_real}')
        if limit_time_real_cron:
            args.append(f'--limit-time-real-cron={limit_time_real_cron}')
        self.proc = odoo.popen(args, name, stdout=subprocess.DEVNULL)
        self.log_path = Path(self.proc.drill_log.name)
        self.started = time.time()
        if not procutil.wait_port(http_port, timeout=90, proc=self.proc):
            self.stop()
            raise DrillError(f'{name}: Odoo did not start; see {self.log_path}')

    def lines(self):
        return parse_odoo_log(self.log_path.read_text(encoding='utf-8', errors='replace'))

    def jobs(self, cron_name):
        """[(LogLine, status, loops, done, remaining, duration)] of one scheduled action."""
        out = []
        for line in self.lines():
            match = JOB_LINE.search(line.message)
            if match and match.group(1) == cron_name:
                _name, _id, status, loops, done, remaining, duration = match.groups()
                out.append((line, status, int(loops or 0), int(done or 0), int(remaining or 0),
                            float(duration or 0)))
        return out

    def start_job(self, cron_name, trigger, timeout=90, after=0.0):
        """Trigger ``cron_name`` until a cron worker starts it (a start later than ``after``,
        epoch); return when that was.

        A cron worker that has just started sleeps until its first LISTEN notification or for
        a minute: a trigger committed before it listens would wait for that minute. And the
        prefork watchdog counts the time a cron worker slept before its wake-up in its
        real-time limit, so the drills wake it up as soon as it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DrillError(f'{self.name} exited ({self.proc.returncode}); see {self.log_path}')
            trigger()
            until = time.monotonic() + 1
            while time.monotonic() < until:
                started = [job for job in self.jobs(cron_name)
                           if job[1] == 'starting' and job[0].at > after]
                if started:
                    return started[0][0].at
                time.sleep(0.2)
        raise DrillError(f'{self.name}: no cron worker started {cron_name!r} within {timeout} s')

    def cron_workers_alive(self):
        """[(epoch, pid)] of the cron workers the master started, in order."""
        return [(line.at, line.pid) for line in self.lines()
                if line.message.startswith('Worker WorkerCron (') and line.message.rstrip().endswith('alive')]

    def stop(self):
        """Stop the server; returns the log lines written before the stop was asked for
        (what a graceful shutdown does to its workers is not the drill's business)."""
        lines = self.lines()
        procutil.stop_child(self.proc, self.name, grace=30)
        if not self.proc.drill_log.closed:
            self.proc.drill_log.close()
        return lines

    @staticmethod
    def kills(lines):
        return [line for line in lines if KILL_PATTERNS.search(line.message.split('\n')[0])]


def pg_connect(db_args, dbname):
    import psycopg2  # noqa: PLC0415 - Odoo's dependency, present wherever Odoo runs
    values = dict(arg[2:].split('=', 1) for arg in db_args)
    return psycopg2.connect(host=values['db_host'], port=values['db_port'],
                            user=values['db_user'], dbname=dbname)


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
    def __init__(self, odoo, control, sandbox, iap, accounts, http_port, db_args):
        self.odoo = odoo
        self.control = control
        self.sandbox = sandbox
        self.iap = iap
        self.accounts = accounts
        self.http_port = http_port
        self.db_args = db_args
        self.rows = []
        self._drill_no = 0

    # ------------------------------------------------------------------ helpers
    def begin(self, name, policy=AT_LEAST_ONCE, batch_size=BATCH_SIZE, latency_ms=LATENCY_MS,
              accounts=None, iap_last_resort=True, max_hold_hours=MAX_HOLD_HOURS,
              limit=DRILL_LIMIT_S):
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
        self.control.call('configure', policy=policy, iap_last_resort=iap_last_resort,
                          max_hold_hours=max_hold_hours, accounts=account_values,
                          params={'sms.session.batch.size': str(batch_size)})
        row = Row(name)
        row.policy = policy
        row.limit = limit
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

    def send(self, name, timeout=90, db=DB_NAME, **options):
        sender = Sender(self.odoo, name, dict(options, max_seconds=timeout - 5), db=db)
        result = sender.wait(timeout)
        result['log'] = sender.proc.drill_log.name
        return result

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
        """Every provider refuses and Odoo IAP is down; a later resend completes the SMS.

        With the company's hold on (the default) these SMS would wait in the queue and go
        out by themselves (see the total outage drill); with the hold at 0 they end in error
        at once and an operator resends them, which is what this drill checks."""
        row = self.begin('every provider down, IAP down, hold off (0 h), then resend',
                         max_hold_hours=0)
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
        row.notes.append(f'company hold set to 0 h: down: {reasons_ok}/{len(queued)} failed at '
                         f'once with sms_server and the chain in the reason, IAP tried last '
                         f'({iap_calls} calls, 503); requests {requests_down}')
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

    # ================================================= bounded batches, hold, bookkeeping

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

    @staticmethod
    def router_batches(lines):
        """[(SMS, sent, failed, held, deferred, requests, seconds)] of the router's log lines."""
        out = []
        for line in lines:
            match = ROUTER_LINE.search(line.message)
            if match:
                values = match.groups()
                out.append(tuple(int(v) for v in values[:6]) + (float(values[6]),))
        return out

    @staticmethod
    def kills_by_kind(lines):
        """(in a job, idle): the kill lines of the log, by what the cron worker was doing."""
        running = {}
        in_job, idle = [], []
        for line in lines:
            match = JOB_LINE.search(line.message)
            if match:
                running[line.pid] = match.group(3) == 'starting'
            elif KILL_PATTERNS.search(line.message.split('\n')[0]):
                pid = re.search(r'\((\d+)\) timeout after', line.message)
                busy = running.get(int(pid.group(1)), True) if pid else True
                (in_job if busy else idle).append(line)
        return in_job, idle

    @staticmethod
    def job_runs(lines, cron_name=QUEUE_CRON_NAME):
        """Starts and ends of one scheduled action in a log: ([start epochs], [(status, loops,
        done, remaining, duration, end epoch)])."""
        starts, ends = [], []
        for line in lines:
            match = JOB_LINE.search(line.message)
            if not match or match.group(1) != cron_name:
                continue
            _name, _id, status, loops, done, remaining, duration = match.groups()
            if status == 'starting':
                starts.append(line.at)
            else:
                ends.append((status, int(loops or 0), int(done or 0), int(remaining or 0),
                             float(duration or 0), line.at))
        return starts, ends

    @staticmethod
    def slept_before(lines, start):
        """Seconds the cron worker that started a job at ``start`` had been asleep: since its
        previous job line (it pings Odoo's watchdog right after its previous wake-up)."""
        pid = next((line.pid for line in lines if line.at == start), None)
        before = [line.at for line in lines if line.pid == pid and line.at < start - 0.5
                  and JOB_LINE.search(line.message)]
        return start - max(before) if before else None

    def drill_slow_provider(self, policy, limit=SLOW_TIME_LIMIT_S, count=SLOW_SMS):
        """One slow provider, a long queue, Odoo in prefork with a low limit per cron worker.

        Twilio takes one recipient per request, 4 in flight: at 1 s an answer, 500 SMS need
        more than two minutes of requests, six times what a 20 s cron worker may last. Each
        job must stop starting requests in time and leave the rest queued for the next job,
        until the queue is empty, without Odoo killing the worker in a job (its transaction
        would roll back after Twilio accepted SMS, and the next run would send them again).
        """
        row = self.begin(f'slow provider: twilio 1 s, the only account of its chain, {count} SMS, '
                         f'prefork, --limit-time-real-cron {limit}, {policy.replace("_", " ")}',
                         policy=policy, batch_size=500, iap_last_resort=False,
                         accounts={'twilio': {'timeout': SLOW_TIMEOUT_S}},
                         limit=SLOW_DRAIN_S + 90)
        self.sandbox.configure('twilio', latency_ms=SLOW_LATENCY_MS)
        queued = self.queue(row, GROUP_TWILIO_ONLY, count)
        quiet = self.control.call('crons', quiet_others=True)
        server = OdooServer(self.odoo, f'odoo-prefork-slow-{limit}-{policy}', self.http_port,
                            limit_time_real=limit, limit_time_real_cron=limit)
        try:
            started = server.start_job(
                QUEUE_CRON_NAME, lambda: self.control.call('crons', trigger=[QUEUE_CRON]))
            drained = self.wait_until_none(queued, started + SLOW_DRAIN_S,
                                           stalled=('twilio', SLOW_STALL_S))
        finally:
            lines = server.stop()
        tally = self.tally(row, queued)
        in_job, idle_kills = self.kills_by_kind(lines)
        batches = self.router_batches(lines)
        starts, ends = self.job_runs(lines)
        deferred = [batch[4] for batch in batches]
        longest = max((end[4] for end in ends), default=0.0)
        statuses = {}
        for end in ends:
            statuses[end[0]] = statuses.get(end[0], 0) + 1
        twilio = self.sandbox.counters('twilio')
        empty = sum(1 for line in lines if 'processed no record' in line.message)
        self.check(row, drained is not None,
                   f'queue not drained (given up after {SLOW_DRAIN_S} s, or {SLOW_STALL_S} s '
                   f'without an SMS accepted): {self.states(queued)["states"]}; {len(starts)} cron '
                   f'jobs, {empty} of them "processed no record"')
        self.check(row, tally.sent == len(queued) and tally.sent_by == {'twilio': len(queued)},
                   f'{tally.sent}/{len(queued)} sent, by {tally.sent_by}')
        self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        self.check(row, twilio['recipients_accepted'] == tally.sent,
                   f'twilio accepted {twilio["recipients_accepted"]} for {tally.sent} SMS sent')
        self.check(row, not in_job, 'Odoo killed the cron worker in a job: '
                   + ' | '.join(line.message.split('\n')[0][:120] for line in in_job[:3]))
        self.check(row, not idle_kills, f'Odoo killed {len(idle_kills)} idle cron workers '
                   f'(a limit below its {CRON_POLL_S - 10}-{CRON_POLL_S - 1} s sleep)')
        self.check(row, 'failed' not in statuses, f'cron jobs: {statuses}')
        self.check(row, longest < limit, f'a cron job lasted {longest:.1f} s (limit {limit} s)')
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
        return self.finish(row)

    def drill_iap_personalised(self):
        """500 personalised SMS fall back to Odoo IAP: one IAP call per round, not per body."""
        row = self.begin(f'IAP last resort, {SLOW_SMS} personalised bodies, primary refusing',
                         batch_size=500, limit=180,
                         accounts={'twilio': {'breaker_cooldown': 120}})
        self.sandbox.set_mode('twilio', 'refuse')
        items = [{'number': number,
                  'body': f'[{row.name}] Dear customer {index}, your appointment #{index} '
                          f'is confirmed for {8 + index % 10}:00'}
                 for index, number in enumerate(self.numbers(GROUP_TWILIO_ONLY, SLOW_SMS), 1)]
        queued = self.control.call('queue', items=items, timeout=120)
        result = self.send('sender', timeout=170)
        self.sandbox.set_mode('twilio', 'ok')
        tally = self.tally(row, queued)
        calls = list(self.iap.calls)
        bodies = len({item['body'] for item in items})
        self.check(row, bodies == len(items), f'{bodies} distinct bodies for {len(items)} SMS')
        self.check(row, tally.sent_by == {'iap': len(queued)}, f'sent by {tally.sent_by}')
        self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        self.check(row, self.iap.requests == len(calls) == result['batches'],
                   f'{self.iap.requests} IAP calls ({len(calls)} accepted) for '
                   f'{result["batches"]} batches')
        self.check(row, all(numbers == distinct for numbers, distinct in calls),
                   f'IAP calls (SMS, bodies): {calls}')
        self.check(row, sum(numbers for numbers, _ in calls) == len(queued),
                   f'IAP calls carried {sum(n for n, _ in calls)} SMS')
        twilio_calls = self.outcomes(tally, 'twilio')
        row.notes.append(f'twilio refused connections ({twilio_calls.get("provider_error", 0)} '
                         f'refused attempts opened its breaker, the other SMS skipped '
                         f'it without a call; cool-down 120 s, so no probe in between); '
                         f'{len(queued)} SMS in {result["batches"]} batches of '
                         f'{max((n for n, _ in calls), default=0)}: {len(calls)} IAP calls, each '
                         f'with as many bodies as SMS ({bodies} distinct bodies in all), '
                         f'all {tally.sent_by.get("iap", 0)} sent once')
        return self.finish(row)

    def drill_total_outage(self):
        """Every provider down for longer than cron wake-ups, IAP last resort off.

        The SMS wait in the queue (none in error), the real cron worker retries them when
        their breakers may probe again, and once the providers are back the cron sends them
        all by itself: nobody presses Resend.
        """
        accounts = {provider: {'breaker_cooldown': OUTAGE_COOLDOWN_S} for provider in PROVIDERS}
        row = self.begin(f'total outage: every provider down {OUTAGE_S} s, IAP last resort off, '
                         f'hold 1 h, prefork cron', iap_last_resort=False, max_hold_hours=1.0,
                         accounts=accounts, limit=OUTAGE_S + 2 * CRON_POLL_S + 100)
        for provider in PROVIDERS:
            self.sandbox.set_mode(provider, 'http503')
        queued = []
        for group in (1, 2, 3):
            queued += self.queue(row, group, OUTAGE_SMS_PER_GROUP)
        self.control.call('crons', quiet_others=True)
        server = OdooServer(self.odoo, 'odoo-prefork-outage', self.http_port)
        samples = []
        recovered = sent = None
        breakers = {}
        try:
            first = server.start_job(
                QUEUE_CRON_NAME, lambda: self.control.call('crons', trigger=[QUEUE_CRON]))
            while time.time() < first + OUTAGE_S:
                samples.append((time.time(), self.states(queued)))
                time.sleep(2)
            during = self.counters()
            breakers = self.control.call('breakers')
            for provider in PROVIDERS:
                self.sandbox.set_mode(provider, 'ok')
            recovered = time.time()
            in_force = max(OUTAGE_COOLDOWN_S * min(2 ** max(b['open_count'] - 1, 0), 8)
                           for b in breakers.values())
            bound = in_force + CRON_POLL_S + 20
            sent = self.wait_until_none(queued, recovered + bound, poll=1.0, samples=samples)
        finally:
            lines = server.stop()
        tally = self.tally(row, queued)
        starts, ends = self.job_runs(lines)
        kills = OdooServer.kills(lines)
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
        self.check(row, errors == 0, f'{errors} SMS in error during the outage')
        self.check(row, after_first and held_ok,
                   'during the outage, SMS tried but not waiting with a retry time: '
                   + str([(st['states'], st['held'], st['tried']) for st in after_first[:3]]))
        self.check(row, len(runs_down) >= 2, f'{len(runs_down)} cron runs during the outage')
        limit = FAIL_MAX + CONCURRENCY - 1 + len(runs_down)
        self.check(row, all(count <= limit for count in requests.values()),
                   f'requests to the providers during the outage {requests} (max {limit} each)')
        self.check(row, sent is not None,
                   f'not all sent within {bound} s of the recovery: {self.states(queued)["states"]}')
        self.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
        self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        self.check(row, not kills, f'workers killed: {[k.message[:120] for k in kills]}')
        finals = [[a['final'] for a in tally.info['sms'][item['uuid']]['attempts']]
                  for item in queued]
        self.check(row, all(f and f[-1] and not any(f[:-1]) for f in finals),
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
        slept = [self.slept_before(lines, at) for at in starts[1:]]
        row.notes.append('cron wake-ups (Odoo polls future triggers): runs at '
                         + ', '.join(f'+{at - starts[0]:.0f} s' for at in starts)
                         + '; due retries waited ' + ', '.join(f'{lag:.0f} s' for lag in lags)
                         + ' for the worker to wake up, after sleeping '
                         + ', '.join(f'{value:.0f} s' for value in slept if value is not None)
                         + ' (Odoo\'s prefork watchdog, 120 s here, counts that sleep)')
        return self.finish(row)

    def drill_hold_expires(self):
        """The outage outlasts the company's hold: the SMS end in error with the whole trail."""
        accounts = {provider: {'breaker_cooldown': 2} for provider in PROVIDERS}
        row = self.begin(f'total outage longer than the hold ({HOLD_TINY_HOURS} h = '
                         f'{HOLD_TINY_HOURS * 3600:.0f} s), IAP last resort off',
                         iap_last_resort=False, max_hold_hours=HOLD_TINY_HOURS, accounts=accounts)
        for provider in PROVIDERS:
            self.sandbox.set_mode(provider, 'http503')
        queued = []
        for group in (1, 2, 3):
            queued += self.queue(row, group, 3)
        uuids = [item['uuid'] for item in queued]
        self.send('sender-first', timeout=60)
        first = self.control.call('inspect', uuids=uuids)['sms']
        held = [record for record in first.values()
                if record['state'] == 'outgoing' and record['hold_until'] and record['held_since']]
        self.check(row, len(held) == len(queued), f'{len(held)}/{len(queued)} held after the first run')

        def epoch(value):
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()

        if held:
            ready = max(max(epoch(r['held_since']) + HOLD_TINY_HOURS * 3600,
                            epoch(r['hold_until'])) for r in held)
            time.sleep(max(0.0, ready - time.time() + 1.0))
        self.send('sender-after-hold', timeout=60)
        for provider in PROVIDERS:
            self.sandbox.set_mode(provider, 'ok')
        tally = self.tally(row, queued)
        self.check(row, tally.failed == len(queued), f'{tally.failed}/{len(queued)} failed')
        steps = []
        for item in queued:
            record = tally.info['sms'][item['uuid']]
            trail = record['attempts']
            steps.append(len(trail))
            first_run = len(first[item['uuid']]['attempts'])
            self.check(row, 'on hold' in record['reason'] and not record['hold_until'],
                       f'{item["number"]}: reason {record["reason"][:80]!r}')
            self.check(row, len(trail) > first_run and trail[-1]['final']
                       and not any(a['final'] for a in trail[:-1]),
                       f'{item["number"]}: trail {[(a["outcome"], a["final"]) for a in trail]}')
        reason = next(iter(tally.info['sms'].values()))['reason']
        row.notes.append(f'first run: all {len(held)} held (In Queue, Retry At set, no error); '
                         f'after the hold: {tally.failed} in error '
                         + ', '.join(f'{k} {v}' for k, v in sorted(tally.failure_types.items()))
                         + f' with the whole trail ({min(steps, default=0)}-{max(steps, default=0)} '
                         f'attempts over both runs, only the last final); reason: '
                         f'"{reason[:90]}..."')
        return self.finish(row)

    def _bookkeeping_fault(self, fault, state):
        """Make the breaker table (or the hand-off journal) unusable for a few seconds from
        another connection, as a long manual UPDATE, a migration or a broken schema would."""
        connection = pg_connect(self.db_args, DB_NAME)
        try:
            if fault != 'journal':
                # Two failed requests for the breaker to count while it cannot: their answers
                # come back after the sandbox's latency, when the table is out of reach.
                self.sandbox.set_mode('twilio', 'http500', fault_count=2)
            state['asked'] = time.time()
            with connection.cursor() as cr:
                if fault == 'rename':
                    cr.execute('ALTER TABLE sms_router_breaker RENAME TO sms_router_breaker_offline')
                    connection.commit()
                else:
                    table = 'sms_router_handoff' if fault == 'journal' else 'sms_router_breaker'
                    cr.execute(f'LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE')
                state['on'] = time.time()
                time.sleep(BOOKKEEPING_FAULT_S)
        finally:
            try:
                connection.rollback()
                if fault == 'rename':
                    with connection.cursor() as cr:
                        cr.execute('ALTER TABLE sms_router_breaker_offline '
                                   'RENAME TO sms_router_breaker')
                    connection.commit()
                state['off'] = time.time()
            finally:
                connection.close()

    def drill_bookkeeping(self, fault):
        """The breaker store or the hand-off journal fails in the middle of a batch.

        ``lock``: another connection holds ``LOCK TABLE sms_router_breaker IN ACCESS
        EXCLUSIVE MODE``; ``rename``: the table disappears (``ALTER TABLE ... RENAME``) so
        every breaker statement fails at once; ``journal`` (at most once): the hand-off
        journal is locked. SMS a provider accepted must end sent with their attempts,
        nothing may go out twice, and the log must say what happened.
        """
        labels = {
            'lock': 'breaker table locked (LOCK TABLE ... ACCESS EXCLUSIVE) mid-batch',
            'rename': 'breaker table gone (ALTER TABLE ... RENAME) mid-batch',
            'journal': 'hand-off journal locked mid-batch, at most once',
        }
        policy = AT_MOST_ONCE if fault == 'journal' else AT_LEAST_ONCE
        # Batches of 20: the fault hits the outcomes and the hand-offs of the batch in
        # flight and, while it lasts, the start of the next one.
        row = self.begin(f'bookkeeping fault: {labels[fault]} for {BOOKKEEPING_FAULT_S} s',
                         policy=policy, batch_size=20)
        self.sandbox.configure('twilio', latency_ms=300)
        queued = self.queue(row, GROUP['twilio'], 40)
        state = {}
        fault_thread = threading.Thread(target=self._bookkeeping_fault, args=(fault, state),
                                        daemon=True)
        flip = self.when_accepted('twilio', 8, fault_thread.start)
        try:
            result = self.send('sender', timeout=80)
        finally:
            flip['thread'].join(1)
            if fault_thread.is_alive() or flip['fired']:
                fault_thread.join(BOOKKEEPING_FAULT_S + 30)
            self.sandbox.set_mode('twilio', 'ok')
        tally = self.tally(row, queued)
        log = Path(result['log']).read_text(encoding='utf-8', errors='replace')
        closed = log.count('treated as closed')
        unread = log.count('could not be read (')
        unwritten = log.count('could not be written (')
        unjournaled = log.count('could not be journaled')
        twilio = self.sandbox.counters('twilio')
        outcomes = self.outcomes(tally, 'twilio')
        self.check(row, 'on' in state and 'off' in state, f'the fault never applied: {state}')
        self.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
        self.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
        self.check(row, twilio['recipients_accepted'] == tally.sent_by.get('twilio', 0),
                   f'twilio accepted {twilio["recipients_accepted"]}, the trail says '
                   f'{tally.sent_by.get("twilio", 0)}')
        self.check(row, tally.needs_review == 0, f'{tally.needs_review} flagged for review')
        if fault == 'journal':
            self.check(row, unjournaled >= 1, 'no "could not be journaled" warning in the log')
        else:
            self.check(row, closed >= 1, 'no "treated as closed" warning in the log')
            self.check(row, outcomes.get('provider_error') == 2 and tally.sent_by.get('ovh') == 2,
                       f'the 2 failed requests: twilio attempts {outcomes}, sent by {tally.sent_by}')
        breaker = tally.info['breakers']['twilio']
        row.notes.append(f'fault after twilio accepted 8 SMS, for {BOOKKEEPING_FAULT_S} s; '
                         f'{result["batches"]} batches')
        if fault == 'journal':
            waited = state['on'] - state['asked'] if 'on' in state else 0
            row.notes.append(f'the LOCK waited {waited:.1f} s for the sending transaction (it '
                             f'reads the journal) and every hand-off queued behind it: '
                             f'{unjournaled} hand-offs could not be journaled (2 s lock timeout '
                             f'each): those SMS were not sent and stayed queued, then went out in '
                             f'the next batch; all {tally.sent} sent once, none flagged for review')
        else:
            row.notes.append(f'{closed} "treated as closed" warnings (breaker could not be read: '
                             f'{unread}, written: {unwritten}; one warning per breaker and batch); '
                             f'twilio failed 2 requests meanwhile (500), their '
                             f'SMS failed over to ovh; all {tally.sent} sent once with their '
                             f'attempts (twilio {tally.sent_by.get("twilio", 0)}, ovh '
                             f'{tally.sent_by.get("ovh", 0)}); breaker afterwards: '
                             f'{breaker["state"]}, {breaker["failure_count"]} failures counted')
        return self.finish(row)

    def drill_neutralized_copy(self):
        """A copy of the database, neutralized by Odoo's CLI, sends nothing anywhere."""
        row = self.begin('neutralized copy (odoo neutralize), then the scheduled actions')
        # The control process gives its connections back: a template must be unused.
        self.control.call('breakers', release=True)
        admin = pg_connect(self.db_args, 'postgres')
        admin.autocommit = True
        copy_control = None
        try:
            import psycopg2  # noqa: PLC0415
            with admin.cursor() as cr:
                cr.execute(f'DROP DATABASE IF EXISTS "{COPY_DB}"')
                for attempt in range(20):
                    try:
                        cr.execute(f'CREATE DATABASE "{COPY_DB}" TEMPLATE "{DB_NAME}"')
                        break
                    except psycopg2.errors.ObjectInUse:
                        if attempt == 19:
                            raise
                        time.sleep(0.5)
            command = [self.odoo.python, '-m', 'odoo', 'neutralize', '-c',
                       str(self.odoo.config_path), '-d', COPY_DB]
            proc = self.odoo.popen(command, 'neutralize', stdout=subprocess.DEVNULL)
            try:
                code = proc.wait(timeout=180)
            finally:
                procutil.stop_child(proc, 'neutralize')
                proc.drill_log.close()
            if not self.check(row, code == 0, f'odoo neutralize exited with {code}'):
                return self.finish(row)
            copy_control = Control(self.odoo, db=COPY_DB, name='control-copy')
            self._copy_control = copy_control
            facts = copy_control.call('neutral_facts')
            queued = []
            for group in (1, 2, 3, GROUP_TWILIO_ONLY):
                numbers = self.numbers(group, 3)
                queued += copy_control.call('queue', items=[
                    {'number': number, 'body': f'[{row.name}] staging reminder'}
                    for number in numbers])
            before = self.counters()
            iap_before = self.iap.requests
            result = self.send('crons-on-copy', timeout=120, db=COPY_DB,
                               run_crons=[QUEUE_CRON, OVH_CRON, PARKED_CRON])
            after = self.counters()
            tally = self.tally(row, queued, control=copy_control)
        finally:
            if copy_control:
                copy_control.stop()
                self._copy_control = None
            with admin.cursor() as cr:
                cr.execute(f'DROP DATABASE IF EXISTS "{COPY_DB}"')
            admin.close()
        reached = {provider: after[provider]['requests'] - before[provider]['requests']
                   for provider in PROVIDERS}
        failed_crons = result.get('failed_crons', [])
        self.check(row, facts['is_neutralized'] and facts['active_accounts'] == 0
                   and facts['secrets_left'] == 0 and not facts['iap_last_resort'],
                   f'after neutralize: {facts}')
        self.check(row, not any(reached.values()) and self.iap.requests == iap_before,
                   f'requests from the copy: {reached}, IAP {self.iap.requests - iap_before}')
        self.check(row, tally.failed == len(queued),
                   f'{tally.failed}/{len(queued)} ended in error with a reason')
        reasons = sorted({tally.info['sms'][item['uuid']]['reason'] for item in queued})
        row.notes.append(f'copy by CREATE DATABASE ... TEMPLATE, then python3 -m odoo neutralize: '
                         f'{facts["active_accounts"]}/{facts["accounts"]} accounts active, '
                         f'{facts["secrets_left"]} secrets left, IAP last resort off, queue cron '
                         f'{"active" if facts["queue_cron_active"] else "inactive"}')
        row.notes.append(f'{len(queued)} SMS queued on 4 routes, then the queue cron, the OVH '
                         f'cron and the parked-reports cron run by hand: 0 requests to the '
                         f'sandbox or the IAP stand-in; {tally.failed} in error '
                         + ', '.join(f'{k} {v}' for k, v in sorted(tally.failure_types.items()))
                         + f', reason "{reasons[0][:70] if reasons else ""}"'
                         + (f'; cron failures {failed_crons}' if failed_crons else ''))
        return self.finish(row, 'S 0 · T 0 · O 0 · IAP 0' if not any(reached.values())
                           and self.iap.requests == iap_before else None)

    def after_failure(self):
        """A drill that failed half-way must not leave the database broken for the next."""
        if getattr(self, '_copy_control', None):
            self._copy_control.stop()
            self._copy_control = None
        connection = pg_connect(self.db_args, DB_NAME)
        connection.autocommit = True
        try:
            with connection.cursor() as cr:
                cr.execute("SELECT to_regclass('sms_router_breaker_offline')")
                if cr.fetchone()[0]:
                    cr.execute('ALTER TABLE sms_router_breaker_offline RENAME TO sms_router_breaker')
        finally:
            connection.close()

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
        ('iap_personalised', 'iap_personalised', lambda d: d.drill_iap_personalised()),
        ('bookkeeping:lock', 'bookkeeping', lambda d: d.drill_bookkeeping('lock')),
        ('bookkeeping:rename', 'bookkeeping', lambda d: d.drill_bookkeeping('rename')),
        ('bookkeeping:journal', 'bookkeeping', lambda d: d.drill_bookkeeping('journal')),
        ('total_outage:hold_expires', 'total_outage', lambda d: d.drill_hold_expires()),
        ('neutralized_copy', 'neutralized_copy', lambda d: d.drill_neutralized_copy()),
        ('slow_provider:at_least_once', 'slow_provider',
         lambda d: d.drill_slow_provider(AT_LEAST_ONCE)),
        ('slow_provider:at_most_once', 'slow_provider',
         lambda d: d.drill_slow_provider(AT_MOST_ONCE)),
        # The same at 30 s, where the router's budget in prefork leaves room for requests.
        ('slow_provider:limit_30:at_least_once', 'slow_provider',
         lambda d: d.drill_slow_provider(AT_LEAST_ONCE, limit=30, count=200)),
        ('slow_provider:limit_30:at_most_once', 'slow_provider',
         lambda d: d.drill_slow_provider(AT_MOST_ONCE, limit=30, count=200)),
        ('total_outage', 'total_outage', lambda d: d.drill_total_outage()),
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
        drills = Drills(odoo, control, sandbox, iap, setup['accounts'], http_port, db_args)
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
                drills.after_failure()
            for row in drills.rows[before:]:
                limit = getattr(row, 'limit', DRILL_LIMIT_S)
                if row.seconds > limit:
                    row.problems.append(f'took {row.seconds:.0f} s, limit {limit} s')
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
            odoo.stop_all(everything=True)
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
            say(f'{name:<38} (--only {label} or {name})')
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
