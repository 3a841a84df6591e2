#!/usr/bin/env python3
"""The operator cockpit with a big trail: the Overview cards, the pivot and the graph.

One database with ``sms_router`` and its provider addons; two companies, ``--accounts``
(10) provider accounts spread over them and over the providers, and ``--attempts``
(1,000,000) attempts inserted with plain SQL (``generate_series``, fixed seed) spread
evenly over the last 30 days: 88% accepted (of which 80% reported delivered, 5%
undelivered), the rest provider errors, no answer, skips and recipient errors, a third
of the failures failing over; durations of 40 to ~2,000 ms; five destination countries.
Then ``VACUUM ANALYZE``, as autovacuum would after such a load.

Timed as an operator of both companies (record rules apply), the record cache emptied
before each call, best of ``--repeat`` (5):

* the Overview: ``web_search_read`` of every account with the fields of its kanban card
  (breaker, credit, the 24-hour figures), and the number of SQL queries it takes;
* a card's click: the first page of the account's attempts of the last 24 hours (the
  list view's ``web_search_read`` with its count);
* the pivot: ``formatted_read_grouping_sets`` as the pivot view asks it (rows provider >
  account, columns outcome, count and average duration), over the whole trail;
* the graph: ``formatted_read_group`` by day and outcome, over the whole trail.

EXPLAIN shows which index each Overview query uses. Target: every read under
``--target`` seconds (1 s).

PostgreSQL: as ``bench_odoo_throughput.py`` (BENCH_DB_HOST / BENCH_DB_PORT /
BENCH_DB_USER, or a throwaway cluster). The database is ``bench_sms_router_overview``
(BENCH_OVERVIEW_DB_NAME); it is dropped at the end unless ``--keep-db`` is given (then the
next run reuses it and its attempts).

    python3 tests/benchmarks/bench_overview.py [--attempts 1000000] [--accounts 10]
        [--repeat 5] [--target 1.0] [--keep-db]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import bench_odoo_throughput as odoo_bench
import benchlib

ROOT = benchlib.ROOT
HERE = Path(__file__).resolve()
DB_NAME = os.environ.get('BENCH_OVERVIEW_DB_NAME', 'bench_sms_router_overview')
RESULT_TAG = 'BENCH_RESULT '
COUNTRIES = ('FR', 'GB', 'DE', 'ES', 'IT')
PROVIDERS = ('sweego', 'twilio', 'ovh', 'iap')
DAYS = 30
# The overview card's fields (kanban view sms_router_account_view_kanban_overview).
CARD_FIELDS = (
    'name', 'sms_provider', 'overview_color', 'breaker_state', 'breaker_next_probe_at', 'credit_supported',
    'credit_low', 'credit_checked_at', 'credit_expiry', 'credit_low_threshold', 'credit_display',
    'overview_accepted', 'overview_failed', 'overview_failed_over', 'overview_skipped',
    'overview_success_rate', 'overview_latency_p50', 'overview_latency_p95', 'overview_delivered',
    'overview_reported', 'overview_delivery_rate', 'overview_has_traffic', 'overview_last_error',
    'overview_last_error_at',
)
LIST_FIELDS = ('create_date', 'number', 'step', 'account_name', 'sms_provider', 'outcome', 'reason',
               'duration_ms', 'delivery_state', 'accepted', 'final', 'needs_review')


# ======================================================================= orchestrator

def orchestrate(args):
    # The throughput benchmark's helpers name their database by this module attribute.
    odoo_bench.DB_NAME = DB_NAME
    providers = odoo_bench.installable_providers()
    modules = ['sms_router', *providers]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='sms-bench-overview-') as workdir, odoo_bench.Postgres() as pg:
        config = odoo_bench.write_config(workdir, pg.args)
        reuse = args.keep_db and odoo_bench.database_exists(config)
        if not reuse:
            if odoo_bench.database_exists(config):
                odoo_bench.drop_database(config)
            print(f'[bench] creating database {DB_NAME} with {", ".join(modules)}', flush=True)
            odoo_bench.run_odoo(config, ['-d', DB_NAME, '-i', ','.join(modules), '--without-demo=True',
                                         '--stop-after-init', '--log-level=warn'])
        else:
            print(f'[bench] reusing database {DB_NAME}', flush=True)
        try:
            options = {'db': DB_NAME, 'attempts': args.attempts, 'accounts': args.accounts,
                       'repeat': args.repeat, 'providers': [p.removeprefix('sms_router_') for p in providers]}
            print(f'[bench] loading {args.attempts:,} attempts over {args.accounts} accounts', flush=True)
            loaded = run_worker(config, 'load', options)
            print(f'[bench] loaded in {loaded["seconds"]:.1f} s; measuring', flush=True)
            result = run_worker(config, 'measure', options)
            result['load'] = loaded
        finally:
            if not args.keep_db:
                odoo_bench.drop_database(config)
    report(args, result, time.monotonic() - started)
    return 0


def run_worker(config, role, options, timeout=3600):
    command = [sys.executable, str(HERE), '--worker', role, '--config', str(config),
               '--options', json.dumps(options)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT),
                            stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if result.returncode != 0 or not lines:
        raise SystemExit(f'worker {role} failed (exit {result.returncode}):\n{result.stderr[-6000:]}')
    return json.loads(lines[-1][len(RESULT_TAG):])


def report(args, result, total):
    verdicts = benchlib.Verdicts()
    rows = []
    for key, label in (('overview', f'Overview: {result["accounts"]} cards (24 h figures)'),
                       ('click', "Card click: an account's attempts, last 24 h, first page + count"),
                       ('pivot', 'Pivot: provider > account x outcome, count + avg duration'),
                       ('graph', 'Graph: by day x outcome, count'),
                       ('pivot_week', 'Pivot, Last 7 Days filter'),
                       ('graph_week', 'Graph, Last 7 Days filter')):
        measured = result['timings'][key]
        rows.append((label, f'{measured * 1000:,.0f}', f'{result["queries"][key]}',
                     f'{result["rows"][key]:,}'))
        verdicts.check(measured < args.target, f'{label}: < {args.target:g} s', f'{measured * 1000:,.0f} ms')
    verdicts.check(result['queries']['overview'] == result['queries']['overview_one'],
                   'Overview: as many queries for all the cards as for one',
                   f'{result["queries"]["overview"]} for {result["accounts"]} cards, '
                   f'{result["queries"]["overview_one"]} for 1')
    for name, uses in result['index_use'].items():
        verdicts.check(uses, f'Overview {name} query: uses the (account_id, create_date) index',
                       'yes' if uses else 'no (see the plan above)')

    print()
    print(f'Overview benchmark: {result["attempts"]:,} attempts over {DAYS} days, {result["accounts"]} '
          f'accounts in 2 companies ({result["last_24h"]:,} attempts in the last 24 h); '
          f'best of {args.repeat}, record cache emptied before each call')
    print(benchlib.machine_line() + f'; PostgreSQL {result["postgres"]}; load {result["load"]["seconds"]:.0f} s '
          f'(SQL insert {result["load"]["insert"]:.0f} s, VACUUM ANALYZE {result["load"]["vacuum"]:.0f} s); '
          f'whole run {total:.0f} s')
    print()
    print(benchlib.table(('Read', 'Best ms', 'SQL queries', 'Rows read'), rows))
    print()
    for name, plan in result['plans'].items():
        print(f'EXPLAIN ANALYZE of the Overview {name} query:')
        print('\n'.join('    ' + line for line in plan))
        print()
    print('The pivot\'s query (whole trail):')
    print('    ' + ' '.join(result['pivot_sql'].split()))
    print('EXPLAIN ANALYZE:')
    print('\n'.join('    ' + line for line in result['pivot_plan']))
    print()
    print(verdicts.render())


# ============================================================================ workers

def worker_load(odoo, options):
    """Companies, accounts and the attempts (skipped when the database has them already)."""
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import SQL  # noqa: PLC0415
    started = time.monotonic()
    registry = Registry(options['db'])
    timings = {'insert': 0.0, 'vacuum': 0.0}
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Account = env['sms.router.account'].with_context(mail_create_nolog=True, tracking_disable=True)
        if Account.search_count([('name', '=like', 'Bench overview %')]) >= options['accounts'] and \
                env['sms.router.attempt'].search_count([], limit=options['attempts']) >= options['attempts']:
            return {'seconds': time.monotonic() - started, **timings}
        cr.execute("DELETE FROM sms_router_attempt")
        Account.search([('name', '=like', 'Bench overview %')]).unlink()
        second = env['res.company'].search([('name', '=', 'Bench overview Ltd')]) or \
            env['res.company'].create({'name': 'Bench overview Ltd'})
        companies = [env.ref('base.main_company'), second]
        providers = options['providers'] + ['iap']
        accounts = Account.create([{
            'name': f'Bench overview {index + 1}', 'company_id': companies[index % 2].id,
            'sms_provider': providers[index % len(providers)],
            'credit_balance': 500.0 * index, 'credit_checked_at': odoo.fields.Datetime.now() if index % 3 else False,
            'credit_low_threshold': 100.0 if index % 2 else 0.0,
        } for index in range(options['accounts'])])
        countries = env['res.country'].search([('code', 'in', COUNTRIES)])
        operator = env['res.users'].with_context(no_reset_password=True).search([('login', '=', 'bench_operator')])
        if not operator:
            operator = env['res.users'].with_context(no_reset_password=True).create({
                'name': 'Bench Operator', 'login': 'bench_operator',
                'company_id': companies[0].id, 'company_ids': [(6, 0, [c.id for c in companies])],
                'group_ids': [(6, 0, [env.ref('base.group_user').id,
                                      env.ref('sms_router.group_sms_router_operator').id])]})
        env.flush_all()
        insert_started = time.monotonic()
        cr.execute(SQL("SELECT setseed(0.42)"))
        # One row of the series per attempt; r1..r3 drive the outcome, the duration and
        # the delivery; the account, company and country follow from the row number.
        cr.execute(SQL(
            """
            INSERT INTO sms_router_attempt (
                sms_uuid, company_id, account_id, account_name, sms_provider, number, step, outcome,
                accepted, final, needs_review, reason, duration_ms, message_id, delivery_state,
                destination_country_id, create_uid, write_uid, create_date, write_date)
            SELECT md5(s.i::text), a.company_id, a.id, a.name, a.sms_provider,
                   '+3361' || lpad((s.i %% 10000000)::text, 7, '0'), 1,
                   o.outcome, o.outcome = 'sent', o.outcome = 'sent' OR r.r3 >= 0.33,
                   FALSE,
                   CASE WHEN o.outcome <> 'sent' THEN 'Bench: ' || o.outcome END,
                   CASE WHEN o.outcome = 'skipped' THEN 0
                        ELSE (40 + 60 * r.r2 + CASE WHEN r.r2 > 0.9 THEN 2000 * (r.r2 - 0.9) * 10 ELSE 0 END)::int END,
                   CASE WHEN o.outcome = 'sent' THEN 'bench-' || s.i END,
                   CASE WHEN o.outcome <> 'sent' THEN NULL
                        WHEN r.r3 < 0.80 THEN 'delivered' WHEN r.r3 < 0.85 THEN 'undelivered'
                        ELSE 'pending' END,
                   c.ids[1 + s.i %% array_length(c.ids, 1)], %(uid)s, %(uid)s, t.at, t.at
              FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4
                      FROM generate_series(1, %(count)s) AS i) AS r
              CROSS JOIN LATERAL (SELECT r.i) AS s(i)
              JOIN LATERAL (SELECT id, company_id, name, sms_provider FROM sms_router_account
                             WHERE id = (%(accounts)s::int[])[1 + s.i %% %(naccounts)s]) a ON TRUE
              CROSS JOIN LATERAL (SELECT CASE WHEN r.r1 < 0.88 THEN 'sent'
                                               WHEN r.r1 < 0.93 THEN 'provider_error'
                                               WHEN r.r1 < 0.95 THEN 'ambiguous'
                                               WHEN r.r1 < 0.98 THEN 'skipped'
                                               ELSE 'recipient_error' END AS outcome) o
              CROSS JOIN (SELECT %(countries)s::int[] AS ids) c
              CROSS JOIN LATERAL (SELECT now() AT TIME ZONE 'UTC'
                                         - make_interval(secs => r.r4 * %(seconds)s) AS at) t
            """, count=options['attempts'], accounts=accounts.ids, naccounts=len(accounts),
            countries=countries.ids, seconds=DAYS * 86400, uid=operator.id))
        timings['insert'] = time.monotonic() - insert_started
        cr.commit()
    vacuum_started = time.monotonic()
    with registry.cursor() as cr:
        cr.rollback()
        cr._cnx.autocommit = True
        cr.execute("VACUUM ANALYZE sms_router_attempt")
        cr._cnx.autocommit = False
    timings['vacuum'] = time.monotonic() - vacuum_started
    return {'seconds': time.monotonic() - started, **timings}


def worker_measure(odoo, options):
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import SQL  # noqa: PLC0415
    registry = Registry(options['db'])
    result = {'timings': {}, 'queries': {}, 'rows': {}, 'plans': {}, 'index_use': {}}
    with registry.cursor() as cr:
        root = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        operator = root['res.users'].search([('login', '=', 'bench_operator')])
        env = root(user=operator, context={'allowed_company_ids': operator.company_ids.ids, 'tz': 'UTC'})
        Account = env['sms.router.account']
        Attempt = env['sms.router.attempt']
        accounts = Account.search([('name', '=like', 'Bench overview %')])
        since = odoo.fields.Datetime.now() - timedelta(hours=24)
        cr.execute(SQL("SELECT count(*) FROM sms_router_attempt WHERE create_date >= %s", since))
        result['last_24h'] = cr.fetchone()[0]
        cr.execute("SELECT count(*) FROM sms_router_attempt")
        result['attempts'] = cr.fetchone()[0]
        cr.execute("SHOW server_version")
        result['postgres'] = cr.fetchone()[0]
        result['accounts'] = len(accounts)

        def timed(key, function, repeat=options['repeat']):
            best, rows, queries = float('inf'), 0, 0
            for _ in range(repeat):
                env.invalidate_all()
                before = cr.sql_log_count
                started = time.perf_counter()
                rows = function()
                best = min(best, time.perf_counter() - started)
                queries = cr.sql_log_count - before
            result['timings'][key] = best
            result['rows'][key] = rows
            result['queries'][key] = queries

        card = {name: {} for name in CARD_FIELDS}
        card['company_id'] = {'fields': {'display_name': {}}}
        timed('overview', lambda: len(Account.web_search_read([], card)['records']))
        timed('overview_one', lambda: len(Account.web_search_read([('id', '=', accounts[0].id)], card)['records']))
        account = accounts[0]
        click = account.with_env(env).action_sms_router_overview_attempts()
        domain = click['domain'] + [('create_date', '>=', since)]
        timed('click', lambda: Attempt.web_search_read(
            domain, {name: {} for name in LIST_FIELDS}, limit=80, count_limit=10001)['length'])
        rows, columns = ['sms_provider', 'account_name'], ['outcome']
        grouping_sets = [rows[:r] + columns[:c] for r in range(len(rows) + 1) for c in range(len(columns) + 1)]
        week = [('create_date', '>=', odoo.fields.Datetime.now() - timedelta(days=7))]
        for suffix, domain in (('', []), ('_week', week)):
            timed('pivot' + suffix, lambda d=domain: sum(len(groups) for groups in Attempt.formatted_read_grouping_sets(
                d, grouping_sets, ['__count', 'duration_ms:avg'])))
            timed('graph' + suffix, lambda d=domain: len(Attempt.formatted_read_group(
                d, ['create_date:day', 'outcome'], ['__count'])))

        # The pivot's query as the ORM writes it, explained.
        executed = []
        execute = type(cr).execute

        def record(self, query, params=None, log_exceptions=True):
            executed.append((query, params))
            return execute(self, query, params, log_exceptions)

        type(cr).execute = record
        try:
            Attempt.formatted_read_grouping_sets([], grouping_sets, ['__count', 'duration_ms:avg'])
        finally:
            type(cr).execute = execute
        query, params = next((q, p) for q, p in reversed(executed)
                             if 'GROUPING SETS' in (q.code if isinstance(q, SQL) else str(q)))
        query = query if isinstance(query, SQL) else SQL(str(query), *(params or ()))
        cr.execute(SQL('EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) %s', query))
        result['pivot_plan'] = [row[0] for row in cr.fetchall()]
        result['pivot_sql'] = query.code

        figures, errors = Account._sms_router_overview_queries(accounts.ids, since)
        for name, query in (('figures', figures), ('last error', errors)):
            cr.execute(SQL("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) %s", query))
            plan = [row[0] for row in cr.fetchall()]
            result['plans'][name] = plan
            result['index_use'][name] = any('sms_router_attempt_account_create_date_idx' in line for line in plan)
        cr.rollback()
    return result


def worker_main(args):
    return odoo_bench.serve_worker(args, {'load': worker_load, 'measure': worker_measure})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--attempts', type=int, default=1_000_000)
    parser.add_argument('--accounts', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--target', type=float, default=1.0, help='seconds every read must take less than')
    parser.add_argument('--keep-db', action='store_true', help='keep the database (and reuse it)')
    parser.add_argument('--worker', choices=('load', 'measure'), help=argparse.SUPPRESS)
    parser.add_argument('--config', help=argparse.SUPPRESS)
    parser.add_argument('--options', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    return orchestrate(args)


if __name__ == '__main__':
    sys.exit(main())
