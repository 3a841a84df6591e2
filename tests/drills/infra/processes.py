"""The Odoo processes of a drill run, all started from here so that all can be stopped.

- ``Odoo``: how to run Odoo and ``drill_worker.py`` against the drill database; every child
  gets a log file of its own in the run's log directory;
- ``Control``: the long-lived ``drill_worker.py serve`` process through which the runner
  configures the database, queues SMS and reads back what became of them;
- ``Sender``: one ``drill_worker.py send`` process, what the SMS queue cron does.

The runner never imports Odoo itself: it talks to these processes over their stdin/stdout
(``DRILL`` lines, see ``drill_worker.py``).
"""
import json
import os
import queue
import shlex
import signal
import subprocess
import threading
import time

import odoo_env
import procutil

from infra.settings import DB_NAME, ROOT, TAG, WORKER


class DrillError(Exception):
    """A drill could not go on (a process did not start or finish in time)."""


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


def write_config(path, db_args, install, http_port, data_dir, log_level='info'):
    """The Odoo configuration file every process of the run reads (``-c``)."""
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
