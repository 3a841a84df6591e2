#!/usr/bin/env python3
"""Throughput through real Odoo: the SMS queue, our router against Odoo's stock Twilio.

One database with ``sms_router``, its provider addons and Odoo 19's ``sms_twilio``; three
companies; SMS to five destination countries, half of them one identical marketing text
(``sms_router_traffic='marketing'``), the other half personal transactional texts. The
provider sandbox (``tests/sandbox``) answers every request after ``--latency-ms``
(default 50 ms). Each scenario queues its SMS in one process, then a fresh Odoo process
runs the queue the way the cron does (``sms.sms._process_queue()`` until it is empty,
committing after each batch) and is timed from the first batch to the last commit:

a. stock ``sms_twilio``: companies on Twilio, one sequential call per number. Its
   hard-coded ``https://api.twilio.com`` is redirected to the sandbox in the benchmark
   process only, by a transport adapter mounted on every ``requests.Session``;
b. our router with Twilio-only chains (two Twilio accounts per company);
c. our router with Sweego / OVH chains (one request carries every recipient of a text);
d. memory: ``--memory-sms`` (10,000) SMS through the router (Twilio chains, the most
   requests and attempts per SMS): peak RSS of the worker minus its idle RSS (registry
   loaded, nothing sent yet).

Reported: SMS/s, provider requests (sandbox counters), wall time, the ideal time
(requests x latency / concurrency, concurrency being the accounts' parallel requests, 1
for stock), the ratio to it, peak RSS and the speed-up over stock. Targets: router >= 5x
stock with Twilio chains, more with batching, within 1.5x of the ideal time; peak RSS
within 100 MB of idle for 10,000 SMS.

PostgreSQL: set BENCH_DB_HOST / BENCH_DB_PORT / BENCH_DB_USER to use a running server
(e.g. BENCH_DB_HOST=/tmp/pgdev BENCH_DB_PORT=55432 BENCH_DB_USER=odoo); otherwise a
throwaway cluster is started with tests/harness/pgcluster.py. The database is
``bench_sms_router`` (BENCH_DB_NAME); it is created on first use and dropped at the end
unless ``--keep-db`` is given (then it is reused by the next run).

    python3 tests/benchmarks/bench_odoo_throughput.py [--sms 2000] [--memory-sms 10000]
        [--scenarios stock,twilio,batching,memory] [--latency-ms 50] [--concurrency 8]
        [--keep-db] [--profile twilio]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

ROOT = benchlib.ROOT
HERE = Path(__file__).resolve()
DB_NAME = os.environ.get('BENCH_DB_NAME', 'bench_sms_router')
HTTP_PORT = 18960
PUBLIC_URL = 'http://sms-bench.invalid'   # not loopback: the sandbox never calls it back
PROVIDER_ADDONS = ('sms_router_sweego', 'sms_router_twilio', 'sms_router_ovh')
COUNTRIES = ('FR', 'GB', 'DE', 'ES', 'IT')
COMPANIES = (('Bench France', 'FR'), ('Bench United Kingdom', 'GB'), ('Bench Germany', 'DE'))
MARKETING_TEXT = ('Spring sale: -20% on every service until Sunday. Book at '
                  'https://example.com/spring or reply STOP to opt out.')
SCENARIOS = {
    'stock': 'a. stock sms_twilio (sequential)',
    'twilio': 'b. router, Twilio chains',
    'batching': 'c. router, Sweego/OVH chains',
    'memory': 'd. router, Twilio chains (memory)',
}
SPEEDUP_TARGET = 5.0
IDEAL_TARGET = 1.5
MEMORY_TARGET_MB = 100
RESULT_TAG = 'BENCH_RESULT '


# ======================================================================= orchestrator

def odoo_addons_paths():
    import odoo  # noqa: PLC0415 - only to find where it lives
    paths = []
    for package_dir in odoo.__path__:
        package_dir = Path(package_dir)
        for candidate in (package_dir / 'addons', package_dir.parent / 'addons'):
            if candidate.is_dir() and str(candidate) not in paths:
                paths.append(str(candidate))
    return paths + [str(ROOT)]


class Postgres:
    """A running server given by BENCH_DB_* variables, or a throwaway cluster."""

    def __init__(self):
        self.cluster = None
        self.args = None

    def __enter__(self):
        host = os.environ.get('BENCH_DB_HOST')
        if host:
            self.args = [f'--db_host={host}',
                         f'--db_port={os.environ.get("BENCH_DB_PORT", "5432")}',
                         f'--db_user={os.environ.get("BENCH_DB_USER", "odoo")}',
                         '--db_password=']
            return self
        harness = ROOT / 'tests' / 'harness'
        if not (harness / 'pgcluster.py').is_file():
            raise SystemExit('No PostgreSQL: set BENCH_DB_HOST (and BENCH_DB_PORT, BENCH_DB_USER) '
                             'to a running server.')
        sys.path.insert(0, str(harness))
        from pgcluster import PgCluster  # noqa: PLC0415
        self.cluster = PgCluster(quiet=True).start()
        self.args = self.cluster.odoo_args()
        return self

    def __exit__(self, *exc):
        if self.cluster:
            self.cluster.stop()


def write_config(directory, db_args):
    values = dict(arg[2:].split('=', 1) for arg in db_args)
    lines = ['[options]'] + [f'{key} = {value}' for key, value in values.items()] + [
        f'addons_path = {",".join(odoo_addons_paths())}',
        f'http_port = {HTTP_PORT}',
        'http_interface = 127.0.0.1',
        'max_cron_threads = 0',
        'log_level = warn',
        f'data_dir = {directory}/data',
    ]
    path = Path(directory) / 'odoo.conf'
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return path


def run_odoo(config, args, timeout=1800):
    command = [sys.executable, '-m', 'odoo', '-c', str(config), *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT),
                            stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    if result.returncode != 0:
        raise SystemExit(f'odoo {" ".join(args)} failed:\n{result.stderr[-4000:]}')
    return result


def database_exists(config):
    code = ('import sys; import odoo; from odoo.tools import config; '
            f'config.parse_config(["-c", {str(config)!r}]); import odoo.service.db as db; '
            f'print({DB_NAME!r} in db.list_dbs(True))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=str(ROOT), stdin=subprocess.DEVNULL, timeout=120, check=False)
    return result.returncode == 0 and result.stdout.strip().endswith('True')


def drop_database(config):
    code = ('import odoo; from odoo.tools import config; '
            f'config.parse_config(["-c", {str(config)!r}]); import odoo.service.db as db; '
            f'db.exp_drop({DB_NAME!r})')
    subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=str(ROOT),
                   stdin=subprocess.DEVNULL, timeout=300, check=False)


def installable_providers():
    return [addon for addon in PROVIDER_ADDONS if (ROOT / addon / '__manifest__.py').is_file()]


def run_worker(config, role, options, timeout=3600):
    """Run this script as an Odoo process (``--worker``); return its JSON result."""
    command = [sys.executable, str(HERE), '--worker', role, '--config', str(config),
               '--options', json.dumps(options)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT),
                            stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if result.returncode != 0 or not lines:
        raise SystemExit(f'worker {role} {options.get("scenario")} failed '
                         f'(exit {result.returncode}):\n{result.stderr[-6000:]}')
    if result.stderr.strip() and options.get('verbose'):
        print(result.stderr, file=sys.stderr)
    return json.loads(lines[-1][len(RESULT_TAG):])


def orchestrate(args):
    benchlib.add_tests_to_path()
    from sandbox.server import Sandbox  # noqa: PLC0415

    scenarios = [s.strip() for s in args.scenarios.split(',') if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f'unknown scenario(s): {", ".join(sorted(unknown))}')
    providers = installable_providers()
    needs = {'twilio': {'sms_router_twilio'}, 'memory': {'sms_router_twilio'},
             'batching': {'sms_router_sweego', 'sms_router_ovh'}}
    skipped = {s: needs[s] - set(providers)
               for s in scenarios if needs.get(s, set()) - set(providers)}
    scenarios = [s for s in scenarios if s not in skipped]
    modules = ['sms_twilio', 'sms_router', *providers]

    results = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='sms-bench-') as workdir, Postgres() as pg:
        config = write_config(workdir, pg.args)
        reuse = args.keep_db and database_exists(config)
        if not reuse:
            if database_exists(config):
                drop_database(config)
            print(f'[bench] creating database {DB_NAME} with {", ".join(modules)}', flush=True)
            run_odoo(config, ['-d', DB_NAME, '-i', ','.join(modules), '--without-demo=True',
                              '--stop-after-init', '--log-level=warn'])
        else:
            print(f'[bench] reusing database {DB_NAME}', flush=True)
        try:
            with Sandbox('127.0.0.1', port=0) as sandbox:
                endpoints = {p: sandbox.endpoint(p) for p in ('sweego', 'twilio', 'ovh')}
                for scenario in scenarios:
                    count = args.memory_sms if scenario == 'memory' else args.sms
                    sandbox.reset()
                    for provider in ('sweego', 'twilio', 'ovh'):
                        sandbox.configure(provider, latency_ms=args.latency_ms, credit='1000000')
                    options = {'scenario': scenario, 'count': count, 'endpoints': endpoints,
                               'sandbox_url': sandbox.url, 'concurrency': args.concurrency,
                               'verbose': args.verbose, 'db': DB_NAME,
                               'latency_ms': args.latency_ms,
                               'profile': scenario in args.profile.split(',')}
                    print(f'[bench] {SCENARIOS[scenario]}: queueing {count:,} SMS', flush=True)
                    queued = run_worker(config, 'setup', options)
                    sandbox.reset(counters_only=True)
                    print(f'[bench] {SCENARIOS[scenario]}: sending', flush=True)
                    outcome = run_worker(config, 'send', options)
                    counters = sandbox.counters()
                    outcome['requests'] = {p: counters[p]['requests'] for p in counters}
                    outcome['queued'] = queued
                    results[scenario] = outcome
                    if outcome.get('profile'):
                        print(outcome['profile'], flush=True)
        finally:
            if not args.keep_db:
                drop_database(config)
    report(args, results, skipped, time.monotonic() - started)
    return 0


def report(args, results, skipped, total):
    rows, details = [], []
    verdicts = benchlib.Verdicts()
    stock = results.get('stock')
    stock_rate = stock['sent'] / stock['wall'] if stock and stock['sent'] else None
    for scenario, outcome in results.items():
        name = SCENARIOS[scenario]
        requests = sum(outcome['requests'].values())
        concurrency = 1 if scenario == 'stock' else args.concurrency
        ideal = requests * args.latency_ms / 1000 / concurrency
        critical = outcome['critical']
        wall = outcome['wall']
        rate = outcome['sent'] / wall if wall else 0
        speedup = rate / stock_rate if stock_rate and scenario != 'stock' else None
        rows.append((name, f'{outcome["count"]:,}', f'{outcome["sent"]:,}', f'{rate:,.1f}',
                     f'{requests:,}', f'{wall:.2f}', f'{ideal:.2f}', f'{wall / ideal:.2f}x',
                     f'{critical:.2f}', f'{wall / critical:.2f}x' if critical else '-',
                     f'{benchlib.mib(outcome["idle_rss"]):.0f}',
                     f'{benchlib.mib(outcome["peak_rss"]):.0f}',
                     f'{speedup:.1f}x' if speedup else '-'))
        per_provider = ', '.join(f'{p} {n:,}' for p, n in outcome['requests'].items() if n) or '-'
        other = wall - outcome['calls'] - outcome['trail']
        details.append((name, per_provider, f'{outcome["batches"]}', f'{outcome["attempts"]:,}',
                        f'{outcome["calls"]:.2f}', f'{outcome["trail"]:.2f}', f'{other:.2f}',
                        f'{benchlib.mib(outcome["max_rss"]):.0f}',
                        f'{outcome["queued"]["seconds"]:.1f}'))

        if scenario in ('twilio', 'batching'):
            bound = min(ideal, critical)
            verdicts.check(wall <= IDEAL_TARGET * bound, f'{name}: ≤ {IDEAL_TARGET}x ideal time',
                           f'{wall / bound:.2f}x ({wall:.2f} s vs {bound:.2f} s)')
        if speedup and scenario != 'memory':
            target = SPEEDUP_TARGET
            if scenario == 'batching' and 'twilio' in results:
                twilio = results['twilio']
                target = max(target, twilio['sent'] / twilio['wall'] / stock_rate)
            verdicts.check(speedup >= target, f'{name}: ≥ {target:.1f}x stock SMS/s',
                           f'{speedup:.1f}x')
        verdicts.check(outcome['sent'] == outcome['count'], f'{name}: every SMS sent',
                       f'{outcome["sent"]:,}/{outcome["count"]:,}')
        if scenario == 'memory':
            growth = benchlib.mib(outcome['peak_rss'] - outcome['idle_rss'])
            verdicts.check(growth <= MEMORY_TARGET_MB,
                           f'{outcome["count"]:,} SMS: peak RSS ≤ idle + {MEMORY_TARGET_MB} MB',
                           f'{growth:+.0f} MB (idle {benchlib.mib(outcome["idle_rss"]):.0f} MB, '
                           f'peak {benchlib.mib(outcome["peak_rss"]):.0f} MB)')

    print()
    print(f'Odoo throughput benchmark: {len(COMPANIES)} companies, {len(COUNTRIES)} destination '
          f'countries, half one identical marketing text; sandbox latency {args.latency_ms:g} ms; '
          f'router accounts with {args.concurrency} parallel requests')
    print(benchlib.machine_line() + f'; whole run {total:.0f} s')
    print()
    print(benchlib.table(('Scenario', 'SMS', 'Sent', 'SMS/s', 'Requests', 'Wall s', 'Ideal s',
                          'vs ideal', 'Critical path s', 'vs critical', 'Idle RSS MB',
                          'Peak RSS MB', 'vs stock'), rows))
    print()
    print(benchlib.table(('Scenario', 'Requests per provider', 'Queue batches', 'Attempts logged',
                          'In provider calls s', 'Trail writes s', 'Other Odoo work s',
                          'ru_maxrss MB', 'Queueing s (untimed)'), details))
    print()
    print('Ideal = requests x latency / concurrency (1 for stock). Critical path = per company '
          'dispatch, the busiest account\'s rounds of concurrent requests x latency (from the '
          'trail). In provider calls = inside Dispatcher.dispatch (router) or the stock '
          '_send_sms_batch.')
    print()
    for scenario, missing in skipped.items():
        verdicts.note(SCENARIOS[scenario], f'skipped: {", ".join(sorted(missing))} not available')
    print(verdicts.render())


# ============================================================================ workers

def bootstrap(config_path):
    import odoo  # noqa: PLC0415
    from odoo.service import server  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415
    config.parse_config(['-c', str(config_path)], setup_logging=True)
    server.load_server_wide_modules()
    return odoo


def numbers_for(count, seed=7):
    """``count`` distinct valid mobile numbers spread over COUNTRIES (E.164)."""
    import random  # noqa: PLC0415
    import phonenumbers  # noqa: PLC0415
    rng = random.Random(seed)
    numbers, seen = [], set()
    for index in range(count * 20):
        if len(numbers) == count:
            break
        region = COUNTRIES[index % len(COUNTRIES)]
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        nsn = phonenumbers.national_significant_number(example)
        digits = nsn[:-6] + '%06d' % rng.randrange(10 ** 6)
        e164 = '+%d%s' % (example.country_code, digits)
        if e164 in seen or e164.endswith('0000'):   # the sandbox refuses *0000
            continue
        parsed = phonenumbers.parse(e164)
        if phonenumbers.is_valid_number(parsed) \
                and phonenumbers.region_code_for_number(parsed) == region:
            seen.add(e164)
            numbers.append(e164)
    if len(numbers) < count:
        raise RuntimeError('could not make enough numbers')
    return numbers


def reset_database(env):
    """Remove what an earlier scenario left (SMS, trail, accounts, routes, breakers)."""
    env.cr.execute('DELETE FROM sms_sms')
    for model in ('sms.router.attempt', 'sms.router.route', 'sms.router.account',
                  'sms.router.breaker'):
        if model in env:
            env.cr.execute(f'DELETE FROM {env[model]._table}')
    env.invalidate_all()


def country(env, code):
    return env['res.country'].search([('code', '=', code)], limit=1)


def companies(env):
    """The three bench companies (the main company is the first: the cron's env.company)."""
    main = env.ref('base.main_company')
    found = [main]
    for name, _country in COMPANIES[1:]:
        company = env['res.company'].search([('name', '=', name)], limit=1)
        found.append(company or env['res.company'].create({'name': name}))
    for company, (name, code) in zip(found, COMPANIES, strict=True):
        company.write({'name': name, 'country_id': country(env, code).id})
    env['ir.config_parameter'].set_param('web.base.url', PUBLIC_URL)
    env['ir.config_parameter'].set_param('web.base.url.freeze', 'True')
    return found


def configure_stock(env, bench_companies, options):
    us = country(env, 'US')
    for company in bench_companies:
        company.write({
            'sms_provider': 'twilio',
            'sms_twilio_account_sid': 'AC' + '0' * 32,
            'sms_twilio_auth_token': 'sandbox-twilio-token',
        })
        company.sms_twilio_number_ids.unlink()
        env['sms.twilio.number'].create({'company_id': company.id, 'number': '+15005550006',
                                         'country_id': us.id})


def configure_router(env, bench_companies, options):
    endpoints = options['endpoints']
    concurrency = options['concurrency']
    countries = {code: country(env, code) for code in COUNTRIES}
    for index, company in enumerate(bench_companies):
        company.write({'sms_router_iap_last_resort': False})
        if 'sms_provider' in company._fields:
            company.write({'sms_provider': 'iap'})
        common = {'company_id': company.id, 'max_concurrency': concurrency, 'timeout': 10.0,
                  'public_base_url': PUBLIC_URL}
        Account = env['sms.router.account']
        if options['scenario'] in ('twilio', 'memory'):
            first, second = (Account.create({
                **common, 'name': f'Twilio {label} {company.name}', 'sms_provider': 'twilio',
                'sender_id': '+15005550006', 'endpoint_url': endpoints['twilio'],
                'twilio_account_sid': 'AC' + '0' * 32, 'twilio_auth_token': 'sandbox-twilio-token',
            }) for label in ('A', 'B'))
            chains = {code: (first, second) for code in COUNTRIES}
            default = (first, second)
        else:
            sweego = Account.create({
                **common, 'name': f'Sweego {company.name}', 'sms_provider': 'sweego',
                'endpoint_url': endpoints['sweego'], 'sweego_api_key': 'sandbox-sweego-key',
                'sweego_client_uuid': '00000000-0000-4000-8000-%012d' % (index + 1),
            })
            ovh = Account.create({
                **common, 'name': f'OVH {company.name}', 'sms_provider': 'ovh',
                'sender_id': 'BENCH', 'endpoint_url': endpoints['ovh'],
                'ovh_application_key': 'sandbox-ovh-ak', 'ovh_application_secret': 'sandbox-ovh-as',
                'ovh_consumer_key': 'sandbox-ovh-ck', 'ovh_service_name': 'sms-sandbox-1',
            })
            chains = {code: ((ovh, sweego) if code in ('FR', 'IT') else (sweego, ovh))
                      for code in COUNTRIES}
            default = (sweego, ovh)
        Route = env['sms.router.route']
        for sequence, code in enumerate(COUNTRIES, start=1):
            Route.create({'company_id': company.id, 'name': f'{code} {company.name}',
                          'sequence': sequence,
                          'country_ids': [(6, 0, [countries[code].id])],
                          'step_ids': [(0, 0, {'sequence': step, 'account_id': account.id})
                                       for step, account in enumerate(chains[code])]})
        Route.create({'company_id': company.id, 'name': f'Default {company.name}', 'sequence': 99,
                      'step_ids': [(0, 0, {'sequence': step, 'account_id': account.id})
                                   for step, account in enumerate(default)]})


def queue_sms(env, bench_companies, count, router):
    numbers = numbers_for(count)
    values = []
    for index, number in enumerate(numbers):
        company = bench_companies[index % len(bench_companies)]
        marketing = index % 2 == 0
        body = MARKETING_TEXT if marketing else (
            f'Hello, your appointment #{index:05d} is confirmed for tomorrow at '
            f'{9 + index % 9}:{(index * 7) % 60:02d}. Code {(index * 7919) % 1000000:06d}.')
        vals = {'number': number, 'body': body, 'state': 'outgoing'}
        if 'record_company_id' in env['sms.sms']._fields:
            vals['record_company_id'] = company.id
        if 'sms_router_company_id' in env['sms.sms']._fields:
            # Without it, sms_router would file every SMS under the current company.
            vals['sms_router_company_id'] = company.id
        if router:
            vals['sms_router_traffic'] = 'marketing' if marketing else 'transactional'
        values.append(vals)
    for start in range(0, len(values), 1000):
        env['sms.sms'].create(values[start:start + 1000])


def redirect_twilio(target):
    """Send requests for https://api.twilio.com to the sandbox: benchmark process only."""
    import requests  # noqa: PLC0415
    from requests.adapters import HTTPAdapter  # noqa: PLC0415

    twilio = 'https://api.twilio.com'

    class SandboxRedirect(HTTPAdapter):
        def send(self, request, **kwargs):
            request.url = target + request.url[len(twilio):]
            return super().send(request, **kwargs)

    original_init = requests.Session.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.mount(twilio + '/', SandboxRedirect())

    requests.Session.__init__ = init


def worker_setup(odoo, options):
    from odoo.modules.registry import Registry  # noqa: PLC0415
    started = time.monotonic()
    registry = Registry(options['db'])
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        reset_database(env)
        bench_companies = companies(env)
        router = options['scenario'] != 'stock'
        if router:
            configure_router(env, bench_companies, options)
        else:
            configure_stock(env, bench_companies, options)
        queue_sms(env, bench_companies, options['count'], router)
        cr.commit()
    return {'seconds': time.monotonic() - started}


def time_methods(odoo, scenario):
    """Accumulate the time spent in the provider calls and in the trail (harness only)."""
    timings = {'calls': 0.0, 'trail': 0.0}

    def timed(owner, name, key):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timings[key] += time.perf_counter() - started
        setattr(owner, name, wrapper)

    if scenario == 'stock':
        from odoo.addons.sms_twilio.tools.sms_api import SmsApiTwilio  # noqa: PLC0415
        timed(SmsApiTwilio, '_send_sms_batch', 'calls')
    else:
        from odoo.addons.sms_router.engine.dispatcher import Dispatcher  # noqa: PLC0415
        from odoo.addons.sms_router.tools.sms_api import SmsRouterApi  # noqa: PLC0415
        timed(Dispatcher, 'dispatch', 'calls')
        timed(SmsRouterApi, '_record_trail', 'trail')
    return timings


def critical_path(env, concurrency, latency):
    """The least time the router's design allows, from the trail: per company dispatch
    (companies go one after the other), the busiest account's requests in rounds of
    ``concurrency``, each round one latency."""
    env.cr.execute("""
        SELECT create_date, company_id, account_id, sms_provider,
               count(*) FILTER (WHERE outcome NOT IN ('skipped', 'misconfigured')),
               count(DISTINCT batch_id)
          FROM sms_router_attempt GROUP BY 1, 2, 3, 4""")
    busiest = {}
    for created, company, _account, provider, tried, batches in env.cr.fetchall():
        requests = tried if provider == 'twilio' else batches
        rounds = -(-requests // concurrency)
        busiest[created, company] = max(busiest.get((created, company), 0), rounds)
    return sum(busiest.values()) * latency


def worker_send(odoo, options):
    from odoo.modules.registry import Registry  # noqa: PLC0415
    if options['scenario'] == 'stock':
        redirect_twilio(options['endpoints']['twilio'].rsplit('/2010-04-01', 1)[0])
    timings = time_methods(odoo, options['scenario'])
    registry = Registry(options['db'])
    profile_text = None
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Sms = env['sms.sms']
        domain = [('state', '=', 'outgoing'), ('to_delete', '!=', True)]
        count = Sms.search_count(domain)
        cr.commit()
        idle = benchlib.rss_bytes()
        batches = 0
        profiler = None
        if options.get('profile'):
            import cProfile  # noqa: PLC0415
            profiler = cProfile.Profile()
        with benchlib.RssSampler() as sampler:
            started = time.monotonic()
            if profiler:
                profiler.enable()
            # The cron's loop: one batch per call, committed by _commit_progress.
            while Sms.search_count(domain) and batches < count + 10:
                Sms._process_queue()
                batches += 1
            if profiler:
                profiler.disable()
            wall = time.monotonic() - started
        # 'pending' is Odoo's "Sent" (accepted, waiting for a delivery report).
        sent = Sms.search_count([('state', 'in', ('process', 'pending', 'sent'))])
        failed = Sms.search_count([('state', '=', 'error')])
        attempts = env['sms.router.attempt'].search_count([]) if 'sms.router.attempt' in env else 0
        latency = options['latency_ms'] / 1000
        if options['scenario'] == 'stock':
            critical = count * latency      # one call after the other
        else:
            critical = critical_path(env, options['concurrency'], latency)
        if profiler:
            profile_text = format_profile(profiler)
    return {'count': count, 'sent': sent, 'failed': failed, 'wall': wall, 'batches': batches,
            'attempts': attempts,
            'idle_rss': idle, 'peak_rss': sampler.peak, 'max_rss': benchlib.max_rss_bytes(),
            'critical': critical, 'calls': timings['calls'], 'trail': timings['trail'],
            'profile': profile_text}


def format_profile(profiler):
    import io  # noqa: PLC0415
    import pstats  # noqa: PLC0415
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats('cumulative').print_stats(45)
    stats.sort_stats('tottime').print_stats(30)
    return out.getvalue()


def serve_worker(args, roles):
    """A benchmark's worker process: Odoo loaded from ``args.config``, the role
    ``args.worker`` of ``roles`` ({name: function(odoo, options)}) run with the JSON
    ``args.options``, its result printed for the orchestrating process (RESULT_TAG)."""
    options = json.loads(args.options)
    odoo = bootstrap(args.config)
    result = roles[args.worker](odoo, options)
    print(RESULT_TAG + json.dumps(result), flush=True)
    return 0


def worker_main(args):
    return serve_worker(args, {'setup': worker_setup, 'send': worker_send})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sms', type=int, default=2000)
    parser.add_argument('--memory-sms', type=int, default=10000)
    parser.add_argument('--scenarios', default='stock,twilio,batching,memory')
    parser.add_argument('--latency-ms', type=float, default=50.0)
    parser.add_argument('--concurrency', type=int, default=8,
                        help="router accounts' parallel requests (max_concurrency)")
    parser.add_argument('--keep-db', action='store_true', help='keep the database (and reuse it)')
    parser.add_argument('--profile', default='', help='scenarios to run under cProfile (printed)')
    parser.add_argument('--verbose', action='store_true')
    parser.add_argument('--worker', choices=('setup', 'send'), help=argparse.SUPPRESS)
    parser.add_argument('--config', help=argparse.SUPPRESS)
    parser.add_argument('--options', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    return orchestrate(args)


if __name__ == '__main__':
    sys.exit(main())
