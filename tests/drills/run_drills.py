#!/usr/bin/env python3
"""Failure drills: real Odoo processes sending through the router to the provider sandbox.

    python3 tests/drills/run_drills.py [--only NAME[,NAME...]] [--list] [-v]

One run starts a throwaway PostgreSQL cluster (``tests/harness/pgcluster.py``), creates the
database ``drill_sms_router`` with ``sms_router`` and the Sweego, Twilio and OVH addons,
starts the provider sandbox (``tests/sandbox``, one dedicated port per provider so that
*refuse* is a true ``ECONNREFUSED``) and a local stand-in for Odoo IAP (the ICP
``sms.endpoint`` points at it: nothing leaves the machine). One company has four accounts,
each on its sandbox port, with 2 s timeouts, breakers opening after 3 failures and a 3 s
cool-down: Sweego, Twilio, OVH, and "Drill HTTP API" of the generic HTTP API type, made from
the Infobip template and pointed at the sandbox's Infobip stand-in. Routes: ``+33601`` Sweego
-> Twilio -> OVH, ``+33602`` Twilio -> OVH -> Sweego, ``+33603`` OVH -> Sweego -> Twilio,
``+33604`` Twilio alone, ``+33605`` HTTP API -> Sweego -> Twilio -> OVH (and a default one);
Odoo IAP closes every chain.

Every drill queues SMS to numbers of its own, lets one or more real Odoo worker processes
(``drill_worker.py send``: ``sms.sms._process_queue()`` until the queue is empty, as the
cron does) send them while faults are switched on the sandbox, then compares what Odoo says
about each SMS with what the providers accepted: sent, failed with reason, lost (must be 0
everywhere), duplicated (see ``scenarios/base.py``). Each drill asserts its own
expectations too (breaker states, request counts on the sandbox, trail contents, HTTP
status codes, the Odoo log), must end within ``DRILL_LIMIT_S`` and bounds every wait inside
it. The table is printed at the end (and written to ``.run/drills/<time>/drills.md`` with
the logs of every Odoo process); the exit status is 1 when any assertion failed, 2 when the
drills could not run.

Where things are:

- ``run_drills.py`` (this file): the command line, the set-up of a run, the loop over the
  drills;
- ``infra/``: settings shared by every drill, the Odoo processes (control, senders, a
  prefork server and its log), the IAP stand-in, direct PostgreSQL connections;
- ``scenarios/``: the drills, one module per family, each documenting its drills, on the
  bench of ``scenarios/base.py``; ``scenarios/catalogue.py`` lists them in run order;
- ``report.py``: the rows, the table, ``drills.md``;
- ``drill_worker.py``: the Odoo side (a control process and sending workers).

PostgreSQL: ``--db-host/--db-port/--db-user`` (or ``DRILL_DB_HOST`` / ``DRILL_DB_PORT`` /
``DRILL_DB_USER``) use a running server instead of a throwaway cluster; the database
``drill_sms_router`` is dropped and created again there.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

from infra.settings import (  # first: infra sets sys.path
    ACCOUNT_DEFAULTS, ADDONS, DB_NAME, DRILL_PROVIDERS, ROOT,
)

import odoo_env
import pgcluster
import procutil
from infra.database import drop_database
from infra.processes import Control, Odoo, write_config
from report import Row, publish, say, say_row
from sandbox.iap import IapStandIn
from sandbox.server import SWEEGO_WEBHOOK_SECRET, Sandbox
from scenarios.base import Bench
from scenarios.catalogue import catalogue, select


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
        endpoints = {provider: sandbox.endpoint(provider) for provider in DRILL_PROVIDERS}
        endpoints['sweego_webhook_secret'] = SWEEGO_WEBHOOK_SECRET
        setup = control.call('setup', endpoints=endpoints, iap_url=iap.url,
                             base_url=f'http://127.0.0.1:{http_port}',
                             account_defaults=ACCOUNT_DEFAULTS)
        if setup['configuration_errors']:
            say(f'ERROR: accounts misconfigured: {setup["configuration_errors"]}')
            return 2
        bench = Bench(odoo, control, sandbox, iap, setup['accounts'], http_port, db_args)
        for name, _label, function in entries:
            before = len(bench.rows)
            drill_started = time.monotonic()
            say(f'[drills] {name} ...')
            try:
                function(bench)
            except Exception as error:  # noqa: BLE001 - one broken drill must not hide the others
                row = Row(name, problems=[f'{type(error).__name__}: {error}'])
                row.seconds = time.monotonic() - drill_started
                bench.rows.append(row)
                if args.verbose:
                    traceback.print_exc()
                odoo.stop_all()
                bench.after_failure()
            for row in bench.rows[before:]:
                if row.seconds > row.limit:
                    row.problems.append(f'took {row.seconds:.0f} s, limit {row.limit} s')
                say_row(name, row)
        publish(bench.rows, time.monotonic() - started, log_dir)
        return 0 if all(row.ok for row in bench.rows) else 1
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
