"""What the prefork drills read in Odoo's server log.

The slow-provider and total-outage drills cannot ask Odoo whether it killed a cron worker or
how long a cron job lasted: they read the log of the ``odoo server`` they started
(``infra.prefork``), one record per line as ``<date> <time> <pid> <LEVEL> <db> <logger>:
<message>``. (``tests/harness/odoo_log.py`` reads the other kind of Odoo log, that of a test
run.)
"""
import re
from dataclasses import dataclass
from datetime import datetime

from infra.settings import QUEUE_CRON_NAME

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


def kills(lines):
    """The log lines saying that Odoo killed or lost a worker."""
    return [line for line in lines if KILL_PATTERNS.search(line.message.split('\n')[0])]


def router_batches(lines):
    """[(SMS, sent, failed, held, deferred, requests, seconds)] of the router's log lines."""
    out = []
    for line in lines:
        match = ROUTER_LINE.search(line.message)
        if match:
            values = match.groups()
            out.append(tuple(int(v) for v in values[:6]) + (float(values[6]),))
    return out


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


def slept_before(lines, start):
    """Seconds the cron worker that started a job at ``start`` had been asleep: since its
    previous job line (it pings Odoo's watchdog right after its previous wake-up)."""
    pid = next((line.pid for line in lines if line.at == start), None)
    before = [line.at for line in lines if line.pid == pid and line.at < start - 0.5
              and JOB_LINE.search(line.message)]
    return start - max(before) if before else None
