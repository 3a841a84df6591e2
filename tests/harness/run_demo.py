"""Run Odoo with our addons and their demo data: http://localhost:8069, login admin / admin.

    python3 tests/harness/run_demo.py [--init-only | --check] [--http-port 8069]

1. Database server: a throwaway PostgreSQL cluster (deleted at exit), unless one is
   configured: ODOO_DB_HOST (+ ODOO_DB_PORT, ODOO_DB_USER, ODOO_DB_PASSWORD) or an Odoo
   configuration file given with --config / ODOO_RC.
2. Database ``sms_router_demo``: created with demo data, the French language (fr_FR, for
   the demo's French user) and every addon of the repository (and its dependencies)
   installed, plus Odoo's Contacts app (the demo's contacts have a menu then).
3. The database is pointed at this machine: every IAP system parameter
   (``sandbox.iap.IAP_ENDPOINT_PARAMS``: SMS, IAP accounts, partner autocomplete, ...) at
   the local Odoo IAP stand-in, ``web.base.url`` at the demo's URL, and the demo provider
   accounts at the sandbox's port and the demo's URL (they are written for the default
   ports).
4. The local provider sandbox (tests/sandbox/server.py) on 127.0.0.1:8071 (SMS_SANDBOX_PORT)
   and the local Odoo IAP stand-in (tests/sandbox/iap.py) on 127.0.0.1:8070 (SMS_IAP_PORT).
5. Odoo in the foreground. Ctrl-C stops everything and removes the throwaway cluster.

--init-only creates and points the database, then exits; --check also starts the servers,
checks that Odoo answers, that admin/admin can log in, that every IAP system parameter points
at 127.0.0.1 and that a test SMS sent through the *Odoo IAP (FR)* account reaches the
stand-in, then stops everything.
"""
import argparse
import contextlib
import http.cookiejar
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import odoo_env
import odoo_log
import pgcluster
import procutil

DEFAULT_DB = 'sms_router_demo'
SANDBOX = odoo_env.REPO_ROOT / 'tests' / 'sandbox' / 'server.py'
IAP_STAND_IN = odoo_env.REPO_ROOT / 'tests' / 'sandbox' / 'iap.py'
# Loaded when the database is created, before the addons' demo data: the demo's French
# operator (sms_router demo data) uses it, and each addon's fr.po is loaded with it.
DEMO_LANGUAGES = 'en_US,fr_FR'   # the first is the database's default (Odoo's install_lang)
# Odoo's Contacts app: the demo's contacts (to send SMS from) get a menu. Installed by the
# demo only, not a dependency of the addons.
DEMO_EXTRA_MODULES = ('contacts',)
# The number the --check test SMS goes to (Camille Martin's in the demo data).
CHECK_NUMBER = '+33612345678'
CONFIG_TAG = 'DEMO-CONFIG '

sys.path.insert(0, str(odoo_env.REPO_ROOT / 'tests'))
from sandbox.iap import IAP_ENDPOINT_PARAMS  # noqa: E402


def say(msg=''):
    print(f'[run] {msg}' if msg else '', flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Create the demo database and run Odoo with our addons on localhost.')
    parser.add_argument('--db', default=os.environ.get('SMS_ROUTER_DEMO_DB', DEFAULT_DB),
                        help=f'database name (default {DEFAULT_DB})')
    parser.add_argument('--http-port', type=int,
                        default=int(os.environ.get('ODOO_HTTP_PORT', 8069)),
                        help='Odoo HTTP port (default 8069; env ODOO_HTTP_PORT)')
    parser.add_argument('--http-interface',
                        default=os.environ.get('ODOO_HTTP_INTERFACE', '127.0.0.1'),
                        help='interface Odoo listens on (default 127.0.0.1)')
    parser.add_argument('--sandbox-port', type=int,
                        default=int(os.environ.get('SMS_SANDBOX_PORT', 8071)),
                        help='provider sandbox port (default 8071; env SMS_SANDBOX_PORT)')
    parser.add_argument('--no-sandbox', action='store_true', help='do not start the sandbox')
    parser.add_argument('--iap-port', type=int,
                        default=int(os.environ.get('SMS_IAP_PORT', 8070)),
                        help='port of the local Odoo IAP stand-in (default 8070; env SMS_IAP_PORT)')
    parser.add_argument('--addons', default='',
                        help='comma-separated subset of our addons (default: all)')
    parser.add_argument('--extra-addons-path', action='append', default=[],
                        help='directory of more addons to install as ours (repeatable; '
                             f'env {odoo_env.EXTRA_ADDONS_ENV})')
    parser.add_argument('--config', default=os.environ.get('ODOO_RC', ''),
                        help='Odoo configuration file describing the database server '
                             '(env ODOO_RC); no throwaway cluster then')
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON', sys.executable),
                        help='Python that imports odoo (default: this one)')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--init-only', action='store_true',
                      help='create the demo database, then stop and exit')
    mode.add_argument('--check', action='store_true',
                      help='start everything, check the server and the admin login, then exit')
    return parser.parse_args(argv)


def external_db_args(args):
    """Odoo options for a configured database server, or None for a throwaway cluster."""
    if args.config:
        return [f'--config={args.config}']
    if os.environ.get('ODOO_DB_HOST'):
        out = [f'--db_host={os.environ["ODOO_DB_HOST"]}']
        for env, opt in (('ODOO_DB_PORT', 'db_port'), ('ODOO_DB_USER', 'db_user'),
                         ('ODOO_DB_PASSWORD', 'db_password')):
            if os.environ.get(env):
                out.append(f'--{opt}={os.environ[env]}')
        return out
    return None


def init_database(install, base_cmd, modules, db, log_path):
    """Create/update ``db`` with demo data and ``modules``; return True on success."""
    cmd = base_cmd + [f'--database={db}', f'--init={",".join(modules)}', '--with-demo',
                      f'--load-language={DEMO_LANGUAGES}', '--stop-after-init', '--log-level=info']
    say(f'creating database {db!r} with demo data: {", ".join(modules)}')
    say(f'  {shlex.join(cmd)}')
    log = odoo_log.OdooLog()
    demo_failed = []
    start = time.monotonic()
    with open(log_path, 'w', encoding='utf-8') as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors='replace',
                                bufsize=1, start_new_session=True, env=odoo_env.odoo_environ(),
                                cwd=str(odoo_env.REPO_ROOT))
        try:
            for line in proc.stdout:
                out.write(line)
                record = log.feed(line)
                if record is not None and record.level in ('WARNING', 'ERROR', 'CRITICAL'):
                    print(f'    {record.level} {record.logger}: {record.msg}', flush=True)
                    # Odoo only warns when demo data fails and installs the module without
                    # it: a demo without its data is a failed demo.
                    if 'demo data failed to install' in record.msg:
                        demo_failed.append(record)
                elif record is not None and record.msg.startswith('Loading module '):
                    print(f'    {record.msg}', flush=True)
            proc.wait()
        finally:
            procutil.stop_child(proc, 'odoo (init)')
    log.close()
    ok = proc.returncode == 0 and not log.log_errors and not demo_failed
    say(f'database {db!r} {"ready" if ok else "FAILED"} in '
        f'{procutil.fmt_duration(time.monotonic() - start)} (log: {log_path})')
    if not ok:
        for rec in log.log_errors + demo_failed:
            print(f'{rec.level} {rec.logger}: {rec.text}', flush=True)
    return ok


# Run by ``odoo shell`` in the demo database (stdin); CONFIG is a JSON object.
CONFIGURE_SCRIPT = """
import json, re
cfg = json.loads(CONFIG)
icp = env['ir.config_parameter'].sudo()
for key in cfg['iap_params']:
    icp.set_param(key, cfg['iap_url'])
icp.set_param('web.base.url', cfg['base_url'])
demo = env['ir.model.data'].sudo().search([
    ('model', '=', 'sms.router.account'), ('module', '=like', 'sms_router%'),
    ('name', '=like', 'demo_account_%')])
# Moving the demo to other ports is set-up, not a change to audit: no tracking message.
accounts = env['sms.router.account'].sudo().with_context(
    active_test=False, tracking_disable=True).browse(demo.mapped('res_id')).exists()
moved = 0
for account in accounts:
    values = {}
    if account.endpoint_url:
        values['endpoint_url'] = re.sub(r'^http://127[.]0[.]0[.]1:[0-9]+', cfg['sandbox_url'],
                                        account.endpoint_url)
    if account.public_base_url:
        values['public_base_url'] = cfg['base_url']
    values = {name: value for name, value in values.items() if account[name] != value}
    if values:
        account.write(values)
        moved += 1
env.cr.commit()
print(TAG + json.dumps({
    'params': {key: icp.get_param(key) for key in cfg['iap_params'] + ['web.base.url']},
    'accounts_moved': moved,
    'accounts': {data.name: data.res_id for data in demo},
    'languages': env['res.lang'].search([]).mapped('code'),
}), flush=True)
"""


def configure_database(install, base_cmd, db, iap_url, base_url, sandbox_url, log_path):
    """Point ``db`` at this machine (see the module docstring, step 3) before Odoo serves it,
    so that not even a scheduled action reaches a real IAP service. Returns the facts the
    script printed (the parameters as read back), or None on failure."""
    config = {'iap_params': list(IAP_ENDPOINT_PARAMS), 'iap_url': iap_url,
              'base_url': base_url, 'sandbox_url': sandbox_url}
    script = f'CONFIG = {json.dumps(json.dumps(config))}\nTAG = {CONFIG_TAG!r}\n' + CONFIGURE_SCRIPT
    prefix = list(install.command)
    cmd = prefix + ['shell'] + base_cmd[len(prefix):] + [f'--database={db}', '--no-http',
                                                         '--log-level=warn']
    say(f'pointing {db!r} at this machine: IAP {iap_url}, sandbox {sandbox_url}, '
        f'base URL {base_url}')
    result = subprocess.run(cmd, input=script, capture_output=True, text=True, errors='replace',
                            env=odoo_env.odoo_environ(), cwd=str(odoo_env.REPO_ROOT),
                            start_new_session=True, check=False)
    with open(log_path, 'w', encoding='utf-8') as out:
        out.write(result.stdout + result.stderr)
    facts = None
    for line in result.stdout.splitlines():
        if line.startswith(CONFIG_TAG):
            facts = json.loads(line[len(CONFIG_TAG):])
    if result.returncode != 0 or facts is None:
        say(f'ERROR: configuring {db!r} failed (exit {result.returncode}; log: {log_path})')
        return None
    return facts


def start_iap_stand_in(port):
    """The local Odoo IAP stand-in, or None when its port is taken or it does not start."""
    if not procutil.port_is_free(port):
        say(f'ERROR: IAP stand-in port {port} is busy (set SMS_IAP_PORT or --iap-port)')
        return None
    return _start_local_server(IAP_STAND_IN, port, 'the Odoo IAP stand-in', 'iap stand-in', 'ERROR')


def start_sandbox(port):
    if not SANDBOX.is_file():
        return None, None
    if not procutil.port_is_free(port):
        say(f'sandbox port {port} is busy: sandbox not started (set SMS_SANDBOX_PORT)')
        return None, None
    proc = _start_local_server(SANDBOX, port, 'the provider sandbox', 'sandbox', 'WARNING')
    return (proc, f'http://127.0.0.1:{port}') if proc else (None, None)


def _start_local_server(script, port, title, name, severity):
    """Start ``script`` (a stand-in of tests/sandbox) on 127.0.0.1:``port`` and wait until it
    listens; None (after saying so with ``severity``) when it does not."""
    cmd = [sys.executable, str(script), '--host', '127.0.0.1', '--port', str(port)]
    say(f'starting {title}: {shlex.join(cmd)}')
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True,
                            cwd=str(odoo_env.REPO_ROOT))
    if not procutil.wait_port(port, timeout=20, proc=proc):
        say(f'{severity}: {title} did not start listening on 127.0.0.1:{port} '
            f'(exit code {proc.poll()})')
        procutil.stop_child(proc, name)
        return None
    return proc


def wait_http(port, proc, timeout=180):
    """Wait until Odoo answers /web/health; False if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    url = f'http://127.0.0.1:{port}/web/health'
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (local)
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.5)
    return False


class WebSession:
    """A web client's session on the demo (cookie kept): login, then ORM calls as the web
    client makes them (/web/dataset/call_kw)."""

    def __init__(self, port):
        self.base = f'http://127.0.0.1:{port}'
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _rpc(self, path, params, timeout=60):
        payload = json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1,
                              'params': params}).encode()
        request = urllib.request.Request(self.base + path, data=payload,
                                         headers={'Content-Type': 'application/json'})
        with self.opener.open(request, timeout=timeout) as response:
            answer = json.load(response)
        if answer.get('error'):
            data = answer['error'].get('data') or {}
            raise RuntimeError(data.get('message') or answer['error'].get('message'))
        return answer.get('result')

    def login(self, db, login, password):
        return (self._rpc('/web/session/authenticate',
                          {'db': db, 'login': login, 'password': password}) or {}).get('uid')

    def call(self, model, method, args, kwargs=None):
        return self._rpc(f'/web/dataset/call_kw/{model}/{method}', {
            'model': model, 'method': method, 'args': args, 'kwargs': kwargs or {}})


def check_login(port, db, login='admin', password='admin'):
    """uid of ``login`` after a web session login, or False."""
    try:
        return WebSession(port).login(db, login, password) or False
    except (OSError, ValueError, RuntimeError) as err:
        say(f'login check failed: {err}')
        return False


def check_iap(port, db, iap_url, account_id, login='admin', password='admin'):
    """--check: every IAP system parameter points at 127.0.0.1, and a test SMS sent through
    the demo's *Odoo IAP (FR)* account (``account_id``) reaches the local stand-in."""
    out = {'iap_params_local': False, 'iap_sms_received': False}
    try:
        session = WebSession(port)
        session.login(db, login, password)
        params = session.call('ir.config_parameter', 'search_read',
                              [[['key', 'in', list(IAP_ENDPOINT_PARAMS)]]], {'fields': ['key', 'value']})
        values = {param['key']: param['value'] for param in params}
        out['iap_params_local'] = all(
            urllib.parse.urlsplit(values.get(key) or '').hostname == '127.0.0.1'
            for key in IAP_ENDPOINT_PARAMS)
        company = session.call('sms.router.account', 'read', [[account_id]],
                               {'fields': ['company_id']})[0]['company_id'][0]
        context = {'allowed_company_ids': [company]}
        wizard = session.call('sms.router.test.sms', 'create', [{
            'account_id': account_id, 'number': CHECK_NUMBER,
            'body': 'Demo check through the Odoo IAP stand-in'}], {'context': context})
        wizard = wizard[0] if isinstance(wizard, list) else wizard
        session.call('sms.router.test.sms', 'action_send', [[wizard]], {'context': context})
        with urllib.request.urlopen(f'{iap_url}/_control', timeout=10) as response:  # noqa: S310
            state = json.load(response)
        out['iap_sms_received'] = any(message['number'] == CHECK_NUMBER
                                      for message in state['messages'])
        out['iap_requests'] = state['by_path']
    except (OSError, ValueError, RuntimeError, LookupError, TypeError) as err:
        say(f'IAP check failed: {err}')
    return out


def wire_sandbox_webhooks(port, sandbox_url, account_id):
    """Point the sandbox's signed Sweego events at the demo's Sweego France account
    (``account_id``), so that delivery reports and STOP replies flow back into the demo.
    Best effort: a demo without it still sends and fails over."""
    webhook = f'http://127.0.0.1:{port}/sms_router_sweego/webhook/{account_id}'
    request = urllib.request.Request(
        f'{sandbox_url}/_control/sweego', data=json.dumps({'webhook_url': webhook}).encode(),
        headers={'Content-Type': 'application/json'}, method='POST')
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (local)
            pass
    except (OSError, ValueError) as err:
        say(f'sandbox: Sweego events not wired ({err})')
        return False
    say(f'sandbox: Sweego events go to {webhook}')
    return True


def main(argv=None):
    args = parse_args(argv)
    procutil.install_signal_handlers()
    install = odoo_env.detect_odoo(args.python)
    if not install.importable:
        say(f'ERROR: {install.reason}')
        say('Install Odoo 19 so that `python3 -c "import odoo"` works, then run again.')
        return 2
    extra_paths = odoo_env.extra_addons_paths(args.extra_addons_path)
    only = [a.strip() for a in args.addons.split(',') if a.strip()] or None
    try:
        addons = [a for a in odoo_env.our_addons(extra_paths, only=only) if a.installable]
    except ValueError as err:
        say(f'ERROR: {err}')
        return 2
    modules = [a.name for a in addons]
    if not modules:
        say('none of our addons has a __manifest__.py yet: installing Odoo\'s sms addon only')
        modules = ['sms']
    modules += [name for name in DEMO_EXTRA_MODULES if install.has_addon(name)]
    if not args.init_only and not procutil.port_is_free(args.http_port):
        say(f'ERROR: port {args.http_port} is already in use (use --http-port or ODOO_HTTP_PORT)')
        return 2
    if not args.init_only and not procutil.port_is_free(args.iap_port):
        say(f'ERROR: IAP stand-in port {args.iap_port} is already in use '
            '(use --iap-port or SMS_IAP_PORT)')
        return 2
    host = 'localhost' if args.http_interface in ('127.0.0.1', '0.0.0.0') \
        else args.http_interface
    base_url = f'http://{host}:{args.http_port}'
    iap_url = f'http://127.0.0.1:{args.iap_port}'

    odoo_env.RUN_DIR.mkdir(exist_ok=True)
    db_args = external_db_args(args)
    tmp_data = None
    with contextlib.ExitStack() as stack:
        try:
            if db_args is None:
                pg = stack.enter_context(pgcluster.PgCluster())
                db_args = pg.odoo_args()
                tmp_data = tempfile.mkdtemp(prefix='sms-router-demo-')
                stack.callback(shutil.rmtree, tmp_data, True)
                data_dir = tmp_data
            else:
                say(f'using the configured database server ({" ".join(db_args)})')
                data_dir = str(odoo_env.RUN_DIR / 'demo-data')
            base_cmd = list(install.command) + [
                f'--addons-path={odoo_env.addons_path_option(install, extra_paths)}',
                f'--data-dir={data_dir}', f'--http-interface={args.http_interface}', *db_args]
            if not init_database(install, base_cmd, modules, args.db,
                                 odoo_env.RUN_DIR / 'demo-init.log'):
                return 1
            facts = configure_database(install, base_cmd, args.db, iap_url, base_url,
                                       f'http://127.0.0.1:{args.sandbox_port}',
                                       odoo_env.RUN_DIR / 'demo-config.log')
            if facts is None:
                return 1
            say(f'system parameters: {json.dumps(facts["params"])}')
            say(f'languages: {", ".join(facts["languages"])}')
            if args.init_only:
                say('--init-only: done')
                return 0

            iap = start_iap_stand_in(args.iap_port)
            if iap is None:
                return 1
            stack.callback(procutil.stop_child, iap, 'iap stand-in')
            sandbox_url = None
            if not args.no_sandbox:
                sandbox, sandbox_url = start_sandbox(args.sandbox_port)
                if sandbox is not None:
                    stack.callback(procutil.stop_child, sandbox, 'sandbox')
            cmd = base_cmd + [f'--database={args.db}', f'--db-filter=^{args.db}$',
                              f'--http-port={args.http_port}', '--workers=0']
            env = odoo_env.odoo_environ(**({'SMS_SANDBOX_URL': sandbox_url}
                                           if sandbox_url else {}))
            say(f'starting Odoo: {shlex.join(cmd)}')
            server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True,
                                      env=env, cwd=str(odoo_env.REPO_ROOT))
            stack.callback(procutil.stop_child, server, 'odoo', first_signal=2, grace=20)
            if not wait_http(args.http_port, server):
                say(f'ERROR: Odoo did not come up (exit code {server.poll()})')
                return 1
            uid = check_login(args.http_port, args.db)
            sweego_fr = facts['accounts'].get('demo_account_sweego_fr')
            if sandbox_url and sweego_fr:
                wire_sandbox_webhooks(args.http_port, sandbox_url, sweego_fr)
            lines = [f'Odoo is ready: {base_url}/odoo  (database {args.db})',
                     'login: admin / admin' + ('' if uid else '  (login check FAILED)'),
                     'French operator: elodie / elodie (Lumière Santé (FR))']
            if sandbox_url:
                lines.append(f'provider sandbox: {sandbox_url}/_control')
            lines.append(f'Odoo IAP stand-in: {iap_url}/_control')
            lines.append('Ctrl-C stops everything' + (
                ' and removes the throwaway database' if tmp_data else ''))
            width = max(map(len, lines)) + 2
            print('\n' + '=' * width + '\n' + '\n'.join(f' {ln}' for ln in lines)
                  + '\n' + '=' * width + '\n', flush=True)
            if args.check:
                result = {'health': True, 'admin_uid': uid}
                if uid:
                    result.update(check_iap(args.http_port, args.db, iap_url,
                                            facts['accounts'].get('demo_account_iap_fr')))
                ok = bool(uid) and result.get('iap_params_local') and result.get('iap_sms_received')
                say(f'--check: {"OK" if ok else "FAILED"} ({json.dumps(result)})')
                return 0 if ok else 1
            code = server.wait()
            say(f'Odoo exited with code {code}')
            return code
        except pgcluster.PgClusterError as err:
            say(f'ERROR: {err}')
            return 2
        except (KeyboardInterrupt, procutil.Terminated):
            print(flush=True)
            say('stopping...')
            return 130


if __name__ == '__main__':
    sys.exit(main())
