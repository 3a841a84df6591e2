#!/usr/bin/env python3
"""Preview sending for 10,000 recipients: what the SMS composer's "Preview Sending" costs.

One database with ``sms_router`` and its provider addons (a throwaway PostgreSQL cluster, or
BENCH_DB_HOST / BENCH_DB_PORT / BENCH_DB_USER as ``bench_odoo_throughput.py``). One company
(France) with five accounts over the providers and routes as a real setup has them: France
in order (breaker of its first account open, so the preview goes to the second), United
Kingdom by least cost (prices per country), Germany, Spain and Italy by a 70/30 weighted
split, a default route, a send window closed now for Spain, prices per segment on every
account. ``--recipients`` (10,000) contacts with a phone number: mobiles of FR, GB, DE, ES
and IT (fixed seed), 1 % unreadable numbers and 1 % without a number.

Timed as an SMS user (no router group), record cache emptied before each run, best of
``--repeat`` (3): the composer in mass mode on every contact, ``action_sms_router_preview``
(Odoo's recipients, exclusions and bodies, the router's routes, segments, prices, windows,
the wizard and its lines written), with a plain body and with a personalised one
(``{{ object.name }}``, rendered per recipient as sending does). Nothing is sent: no SMS is
created and no provider is called (their endpoints point to a closed port). Target: under
``--target`` (2) seconds.

    python3 tests/benchmarks/bench_preview.py [--recipients 10000] [--repeat 3] [--target 2.0]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import bench_odoo_throughput as odoo_bench
import benchlib

ROOT = benchlib.ROOT
HERE = Path(__file__).resolve()
DB_NAME = os.environ.get('BENCH_PREVIEW_DB_NAME', 'bench_sms_router_preview')
RESULT_TAG = 'BENCH_RESULT '
COUNTRIES = odoo_bench.COUNTRIES   # FR, GB, DE, ES, IT
CLOSED_PORT = 'http://127.0.0.1:9'      # discard: nothing listens, nothing is sent
PLAIN_BODY = 'Spring offers: 20 % off everything this weekend in our shops. Show this SMS at the till.'
PERSONAL_BODY = 'Hello {{ object.name }}, spring offers: 20 % off everything this weekend. Show this SMS at the till.'


def orchestrate(args):
    odoo_bench.DB_NAME = DB_NAME
    providers = odoo_bench.installable_providers()
    modules = ['sms_router', *providers]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='sms-bench-preview-') as workdir, odoo_bench.Postgres() as pg:
        config = odoo_bench.write_config(workdir, pg.args)
        if odoo_bench.database_exists(config):
            odoo_bench.drop_database(config)
        print(f'[bench] creating database {DB_NAME} with {", ".join(modules)}', flush=True)
        odoo_bench.run_odoo(config, ['-d', DB_NAME, '-i', ','.join(modules), '--without-demo=True',
                                     '--stop-after-init', '--log-level=warn'])
        try:
            options = {'db': DB_NAME, 'recipients': args.recipients, 'repeat': args.repeat, 'profile': args.profile,
                       'providers': [p.removeprefix('sms_router_') for p in providers]}
            print(f'[bench] loading {args.recipients:,} contacts', flush=True)
            loaded = run_worker(config, 'load', options)
            print(f'[bench] loaded in {loaded["seconds"]:.1f} s; measuring', flush=True)
            result = run_worker(config, 'measure', options)
            result['load'] = loaded
        finally:
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
    for key, label in (('plain', 'Composer, plain body'), ('personal', 'Composer, personalised body')):
        measured = result['timings'][key]
        rows.append((label, f'{result["recipients"]:,}', f'{measured * 1000:,.0f}', f'{result["queries"][key]}',
                     f'{result["lines"][key]}'))
        verdicts.check(measured < args.target, f'{label}: {result["recipients"]:,} recipients in < {args.target:g} s',
                       f'{measured:.2f} s')
    verdicts.check(result['sent'] == 0, 'Nothing sent (no SMS created, no provider called)',
                   f'{result["sent"]} SMS created')
    print()
    print(f'Preview benchmark: {result["recipients"]:,} contacts in {len(COUNTRIES)} countries, '
          f'{result["accounts"]} accounts ({", ".join(result["providers"])}), strategies ordered / least cost / '
          f'weighted, one open breaker, one closed send window; best of {args.repeat}, as an SMS user, '
          f'record cache emptied before each run')
    print(benchlib.machine_line() + f'; PostgreSQL {result["postgres"]}; load {result["load"]["seconds"]:.0f} s; '
          f'whole run {total:.0f} s')
    print()
    print(benchlib.table(('Preview', 'Recipients', 'Best ms', 'SQL queries', 'Detail lines'), rows))
    print()
    print('What the preview found (plain body):')
    print(benchlib.table(('Account', 'SMS', 'Segments', 'Estimated cost', 'Waiting'), [
        (name, f'{count:,}', f'{segments:,}', cost, f'{waiting:,}')
        for name, count, segments, cost, waiting in result['accounts_found']]))
    print(f'Not reached: {result["not_reached"]}')
    print()
    print(verdicts.render())
    if result.get('profile'):
        print()
        print(result['profile'])


# ============================================================================ workers

def worker_load(odoo, options):
    """The company, its accounts, routes, prices, a send window and the contacts."""
    from odoo.modules.registry import Registry  # noqa: PLC0415
    started = time.monotonic()
    registry = Registry(options['db'])
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'tracking_disable': True, 'mail_create_nolog': True})
        countries = {code: env['res.country'].search([('code', '=', code)], limit=1) for code in COUNTRIES}
        company = env['res.company'].create({'name': 'Bench preview', 'country_id': countries['FR'].id})
        company.write({'sms_router_iap_last_resort': False, 'sms_router_max_hold_hours': 4})
        if 'sms_provider' in company._fields:
            company.write({'sms_provider': 'iap'})
        Account = env['sms.router.account']
        eur = env.ref('base.EUR')
        eur.active = True
        common = {'company_id': company.id, 'timeout': 10.0, 'endpoint_url': CLOSED_PORT}
        kinds = {
            'sweego': {'sms_provider': 'sweego', 'sweego_api_key': 'bench-key',
                       'sweego_client_uuid': '00000000-0000-4000-8000-000000000001'},
            'ovh': {'sms_provider': 'ovh', 'sender_id': 'BENCH', 'ovh_application_key': 'ak',
                    'ovh_application_secret': 'as', 'ovh_consumer_key': 'ck', 'ovh_service_name': 'sms-bench-1'},
            'twilio': {'sms_provider': 'twilio', 'sender_id': '+15005550006', 'twilio_account_sid': 'AC' + '0' * 32,
                       'twilio_auth_token': 'bench-token'},
        }
        available = [kinds[name] for name in ('sweego', 'ovh', 'twilio') if name in options['providers']] or \
            [{'sms_provider': 'iap', 'endpoint_url': False}]
        accounts = []
        for index in range(5):
            values = {**common, **available[index % len(available)], 'name': f'Bench preview {index + 1}'}
            if 'price_default' in Account._fields:
                values.update(price_default=0.04 + 0.005 * index, price_currency_id=eur.id)
            accounts.append(Account.create(values))
        if 'sms.router.price' in env:
            env['sms.router.price'].create([
                {'account_id': account.id, 'country_id': countries['GB'].id, 'price': 0.03 + 0.01 * index}
                for index, account in enumerate(accounts)])
        Route = env['sms.router.route']

        def route(name, chain, sequence, **values):
            return Route.create({'company_id': company.id, 'name': name, 'sequence': sequence,
                                 'step_ids': [(0, 0, {'sequence': step, 'account_id': account.id})
                                              for step, account in enumerate(chain)], **values})
        route('France', accounts[0:2], 1, country_ids=[(6, 0, countries['FR'].ids)])
        uk = route('United Kingdom', [accounts[3], accounts[2]], 2, country_ids=[(6, 0, countries['GB'].ids)])
        split = route('DE ES IT', accounts[3:5], 3, country_ids=[
            (6, 0, (countries['DE'] | countries['ES'] | countries['IT']).ids)])
        route('Default', [accounts[4]], 99)
        uk.strategy = 'least_cost'
        split.write({'strategy': 'weighted', 'step_ids': [
            (1, step.id, {'weight': weight}) for step, weight in zip(split.step_ids, (70, 30), strict=True)]})
        # The France route's first account is down: its breaker is open.
        env['sms.router.breaker']._store().update(accounts[0].id, forced_open=True)
        # Open only on the day after tomorrow (Madrid): closed now, whatever the time.
        weekdays = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
        open_day = (datetime.now(ZoneInfo('Europe/Madrid')) + timedelta(days=2)).weekday()
        env['sms.router.send.window'].create({
            'name': 'Spain, closed now', 'company_id': company.id, 'traffic': 'all', 'hours': '08:00-20:00',
            'exclude_holidays': False, 'country_ids': [(6, 0, countries['ES'].ids)],
            **{day: index == open_day for index, day in enumerate(weekdays)}})
        numbers = odoo_bench.numbers_for(options['recipients'], seed=11)
        partners = []
        for index, number in enumerate(numbers):
            if index % 100 == 1:
                number = 'call me'
            elif index % 100 == 2:
                number = False
            partners.append({'name': f'Bench contact {index + 1}', 'phone': number, 'company_id': company.id})
        env['res.partner'].create(partners)
        group_user = env.ref('base.group_user')
        env['res.users'].with_context(no_reset_password=True).create({
            'name': 'Bench SMS user', 'login': 'bench_sms_user', 'company_id': company.id,
            'company_ids': [(6, 0, company.ids)], 'group_ids': [(6, 0, group_user.ids)]})
        cr.commit()
    return {'seconds': time.monotonic() - started}


def worker_measure(odoo, options):
    from odoo.modules.registry import Registry  # noqa: PLC0415
    registry = Registry(options['db'])
    result = {'timings': {}, 'queries': {}, 'lines': {}, 'recipients': options['recipients']}
    with registry.cursor() as cr:
        root = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        user = root['res.users'].search([('login', '=', 'bench_sms_user')])
        company = user.company_id
        env = root(user=user, context={'allowed_company_ids': company.ids, 'tz': 'UTC', 'lang': 'en_US'})
        partners = env['res.partner'].search([('name', '=like', 'Bench contact %')])
        accounts = root['sms.router.account'].search([('company_id', '=', company.id)])
        result['accounts'] = len(accounts)
        result['providers'] = sorted(set(accounts.mapped('sms_provider')))
        cr.execute("SHOW server_version")
        result['postgres'] = cr.fetchone()[0]
        sms_before = root['sms.sms'].search_count([])
        for key, body in (('plain', PLAIN_BODY), ('personal', PERSONAL_BODY)):
            best, queries, preview = float('inf'), 0, None
            for _ in range(options['repeat']):
                composer = env['sms.composer'].create({
                    'composition_mode': 'mass', 'res_model': 'res.partner', 'res_ids': repr(partners.ids),
                    'body': body})
                env.flush_all()
                env.invalidate_all()
                before = cr.sql_log_count
                started = time.perf_counter()
                action = composer.action_sms_router_preview()
                env.flush_all()
                best = min(best, time.perf_counter() - started)
                queries = cr.sql_log_count - before
                preview = env['sms.router.send.preview'].browse(action['res_id'])
            result['timings'][key] = best
            result['queries'][key] = queries
            result['lines'][key] = len(preview.line_ids)
            if key == 'plain':
                result['accounts_found'] = [
                    (total.account_name, total.sms_count, total.segments,
                     f'{total.cost:.2f} {total.currency_id.name}' if total.currency_id else 'unknown',
                     total.waiting_count) for total in preview.account_ids]
                result['not_reached'] = (
                    f'{preview.unusable_count} without usable number, {preview.no_route_count} without route, '
                    f'{preview.excluded_count} excluded, {preview.failing_count} failing')
        if options.get('profile'):
            import cProfile  # noqa: PLC0415
            import io  # noqa: PLC0415
            import pstats  # noqa: PLC0415
            composer = env['sms.composer'].create({
                'composition_mode': 'mass', 'res_model': 'res.partner', 'res_ids': repr(partners.ids),
                'body': PLAIN_BODY})
            env.flush_all()
            env.invalidate_all()
            profiler = cProfile.Profile()
            profiler.runcall(composer.action_sms_router_preview)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats('cumulative').print_stats(45)
            result['profile'] = out.getvalue()
        result['sent'] = root['sms.sms'].search_count([]) - sms_before
        cr.rollback()
    return result


def worker_main(args):
    return odoo_bench.serve_worker(args, {'load': worker_load, 'measure': worker_measure})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--recipients', type=int, default=10_000)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--target', type=float, default=2.0, help='seconds a preview must take less than')
    parser.add_argument('--profile', action='store_true', help='print where the plain preview spends its time')
    parser.add_argument('--worker', choices=('load', 'measure'), help=argparse.SUPPRESS)
    parser.add_argument('--config', help=argparse.SUPPRESS)
    parser.add_argument('--options', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    return orchestrate(args)


if __name__ == '__main__':
    sys.exit(main())
