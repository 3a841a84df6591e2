#!/usr/bin/env python3
"""What the throughput governor costs per provider request.

The PostgreSQL bucket (``sms_router.models.sms_router_rate_bucket.PostgresGovernor``) as
Odoo runs it: each acquisition is a side transaction on a cursor of Odoo's connection pool
(READ COMMITTED, lock and statement timeouts) with one ``UPDATE ... RETURNING``, committed.
The table is created as the addon's model creates it, in a database of its own on a
throwaway cluster (or BENCH_DB_HOST / BENCH_DB_PORT / BENCH_DB_USER), without installing
Odoo modules. Best of ``--repeat`` (5) runs of ``--calls`` (1,000) acquisitions:

* one worker, granted (a rate no request reaches) and refused (an empty bucket);
* ``--threads`` (4) threads acquiring on the same bucket at once (each on its own
  connection, as worker processes would): the row lock serialises them;
* the in-memory governor (pytest, one process), for scale;
* the dispatcher: ``--sms`` (2,000) single-recipient requests to a provider that answers
  at once (8 in flight), without a governor and with the PostgreSQL one: the difference per
  request is what the governor adds to sending.

Target: an acquisition under 1 ms, and under 5 % of a 50 ms provider request.

    python3 tests/benchmarks/bench_governor.py [--calls 1000] [--threads 4] [--sms 2000]
"""
import argparse
import os
import sys
import threading
import time

import bench_odoo_throughput as odoo_bench
import benchlib

ROOT = benchlib.ROOT
DB_NAME = os.environ.get('BENCH_GOVERNOR_DB_NAME', 'bench_sms_router_governor')
PROVIDER_LATENCY_MS = 50.0
# The table as Odoo creates it for the model sms.router.rate.bucket (Float: float8).
TABLE = """
    CREATE TABLE IF NOT EXISTS sms_router_rate_bucket (
        id serial PRIMARY KEY, account_id integer NOT NULL, tokens double precision,
        updated_at timestamp, day date, used_today double precision, paused_until timestamp,
        last_granted boolean, create_uid integer, create_date timestamp, write_uid integer,
        write_date timestamp,
        CONSTRAINT sms_router_rate_bucket_account_unique UNIQUE (account_id))
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--calls', type=int, default=1000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--sms', type=int, default=2000)
    return parser.parse_args(argv)


class Registry:
    """What PostgresGovernor asks of Odoo's registry: cursors from the connection pool."""

    def __init__(self, db):
        self.db = db

    def cursor(self):
        return self.db.cursor()


def setup_odoo(db_args):
    import odoo  # noqa: PLC0415
    import odoo.addons  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    for arg in db_args:
        key, value = arg[2:].split('=', 1)
        config[key] = value or False
    for path in odoo_bench.odoo_addons_paths():
        if path not in odoo.addons.__path__:
            odoo.addons.__path__.append(path)
    from odoo import sql_db  # noqa: PLC0415
    admin = sql_db.db_connect('postgres', allow_uri=True)
    with admin.cursor() as cr:
        cr._cnx.autocommit = True  # noqa: SLF001 - CREATE DATABASE cannot run in a transaction
        cr.execute(f'DROP DATABASE IF EXISTS {DB_NAME}')
        cr.execute(f'CREATE DATABASE {DB_NAME}')
    db = sql_db.db_connect(DB_NAME)
    with db.cursor() as cr:
        cr.execute(TABLE)
    return db


def per_call(function, calls, repeat):
    """Best seconds per call of ``function()`` over ``repeat`` runs of ``calls`` calls."""
    best = float('inf')
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def main(argv=None):
    args = parse_args(argv)
    benchlib.mount_addons()
    with odoo_bench.Postgres() as pg:
        db = setup_odoo(pg.args)
        try:
            return run(args, db)
        finally:
            from odoo import sql_db  # noqa: PLC0415
            sql_db.close_all()


def run(args, db):
    from odoo.addons.sms_router.engine.dispatcher import AccountHandle, Dispatcher, QueuedSms  # noqa: PLC0415
    from odoo.addons.sms_router.engine.governor import (  # noqa: PLC0415
        TRANSACTIONAL, GovernorSettings, MemoryGovernor,
    )
    from odoo.addons.sms_router.engine.outcomes import (  # noqa: PLC0415
        BatchResult, OutcomeKind, ProviderClient, RecipientOutcome,
    )
    from odoo.addons.sms_router.engine.routing import parse_destination  # noqa: PLC0415
    from odoo.addons.sms_router.models.sms_router_rate_bucket import PostgresGovernor  # noqa: PLC0415

    registry = Registry(db)
    open_rate = GovernorSettings(rate=1e9)
    ids = iter(range(1, 1_000_000))

    granted = PostgresGovernor(next(ids), open_rate, registry)
    pg_granted = per_call(lambda: granted.acquire(1, TRANSACTIONAL), args.calls, args.repeat)
    refused = PostgresGovernor(next(ids), GovernorSettings(rate=0.001), registry)
    pg_refused = per_call(lambda: refused.acquire(1, TRANSACTIONAL), args.calls, args.repeat)
    assert refused.acquire(1, TRANSACTIONAL) > 0

    shared_id = next(ids)
    shared_best = float('inf')
    for _ in range(args.repeat):
        governors = [PostgresGovernor(shared_id, open_rate, registry) for _ in range(args.threads)]
        barrier = threading.Barrier(args.threads)

        def worker(governor, barrier=barrier):
            barrier.wait()
            for _ in range(args.calls):
                governor.acquire(1, TRANSACTIONAL)
        threads = [threading.Thread(target=worker, args=(governor,)) for governor in governors]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        shared_best = min(shared_best, time.perf_counter() - started)
        for governor in governors:
            governor.close()
    granted.close()
    refused.close()
    shared_per_call = shared_best / args.calls          # each thread's calls, side by side
    shared_throughput = args.threads * args.calls / shared_best
    memory = MemoryGovernor(open_rate)
    memory_per_call = per_call(lambda: memory.acquire(1, TRANSACTIONAL), args.calls * 10, args.repeat)

    class Instant(ProviderClient):
        provider = 'bench'

        def send(self, request):
            return BatchResult({recipient.key: RecipientOutcome(OutcomeKind.SENT, '') for recipient in
                                request.recipients})

    destination = parse_destination('+33612345678')
    client = Instant()

    def dispatch(governor):
        account = AccountHandle('bench', 'bench', client, max_concurrency=8, governor=governor)
        messages = [QueuedSms(f'k{index}', 'Your appointment is tomorrow at 10:00', destination, (account,))
                    for index in range(args.sms)]
        started = time.perf_counter()
        verdicts = Dispatcher().dispatch(messages)
        assert all(verdict.sent for verdict in verdicts.values())
        return time.perf_counter() - started

    plain = min(dispatch(None) for _ in range(args.repeat))
    governed = min(dispatch(PostgresGovernor(next(ids), open_rate, registry)) for _ in range(args.repeat))
    in_memory = min(dispatch(MemoryGovernor(open_rate)) for _ in range(args.repeat))
    added = (governed - plain) / args.sms

    print(f'\n{benchlib.machine_line()}; PostgreSQL on a throwaway cluster\n')
    rows = [
        ('PostgreSQL acquire, granted (1 worker)', f'{pg_granted * 1e6:,.0f}', f'{1 / pg_granted:,.0f}'),
        ('PostgreSQL acquire, refused (1 worker)', f'{pg_refused * 1e6:,.0f}', f'{1 / pg_refused:,.0f}'),
        (f'PostgreSQL acquire, {args.threads} threads on one bucket', f'{shared_per_call * 1e6:,.0f}',
         f'{shared_throughput:,.0f}'),
        ('in-memory acquire (tests)', f'{memory_per_call * 1e6:,.1f}', f'{1 / memory_per_call:,.0f}'),
    ]
    print(benchlib.table(('Acquisition', 'µs each', 'per second'), rows))
    print()
    rows = [
        ('no governor', f'{plain * 1e3:,.0f}', f'{plain / args.sms * 1e6:,.0f}', '-'),
        ('in-memory governor', f'{in_memory * 1e3:,.0f}', f'{in_memory / args.sms * 1e6:,.0f}',
         f'{(in_memory - plain) / args.sms * 1e6:+,.0f}'),
        ('PostgreSQL governor', f'{governed * 1e3:,.0f}', f'{governed / args.sms * 1e6:,.0f}',
         f'{added * 1e6:+,.0f}'),
    ]
    print(benchlib.table((f'Dispatch of {args.sms:,} requests (instant provider, 8 in flight)', 'ms',
                          'µs per request', 'added µs'), rows))
    print()
    verdicts = benchlib.Verdicts()
    verdicts.check(pg_granted < 1e-3, 'PostgreSQL acquire < 1 ms', f'{pg_granted * 1e3:.2f} ms')
    verdicts.check(shared_per_call < 5e-3, f'{args.threads} workers on one bucket: each acquire < 5 ms',
                   f'{shared_per_call * 1e3:.2f} ms')
    verdicts.check(added < PROVIDER_LATENCY_MS / 1e3 * 0.05,
                   f'added per request < 5 % of a {PROVIDER_LATENCY_MS:g} ms provider request',
                   f'{added * 1e3:.2f} ms ({added / (PROVIDER_LATENCY_MS / 1e3):.1%})')
    print(verdicts.render())
    return 0


if __name__ == '__main__':
    sys.exit(main())
