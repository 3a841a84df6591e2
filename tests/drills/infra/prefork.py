"""``odoo server`` in prefork mode, as in production, for the drills that need it.

The slow-provider and total-outage drills run Odoo with HTTP workers (they take the
providers' delivery reports) and one cron worker that drains the SMS queue by itself once
the drill has triggered the queue cron; the master kills a worker that outlives its
real-time limit, exactly as in production. The drills then read its log (``server_log``).
"""
import subprocess
import time
from pathlib import Path

import procutil

from infra.processes import DrillError
from infra.server_log import JOB_LINE, parse_odoo_log
from infra.settings import DB_NAME

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
