"""Run Odoo with our addons and their demo data: http://localhost:8069, login admin / admin.

    python3 tests/harness/run_demo.py [--init-only | --check] [--http-port 8069]

1. Database server: a throwaway PostgreSQL cluster (deleted at exit), unless one is
   configured: ODOO_DB_HOST (+ ODOO_DB_PORT, ODOO_DB_USER, ODOO_DB_PASSWORD) or an Odoo
   configuration file given with --config / ODOO_RC.
2. Database ``sms_router_demo``: created with demo data and every addon of the repository
   (and its dependencies) installed.
3. The local provider sandbox, when tests/sandbox/server.py exists, on 127.0.0.1:8071
   (SMS_SANDBOX_PORT); its URL is passed to Odoo as SMS_SANDBOX_URL.
4. Odoo in the foreground. Ctrl-C stops everything and removes the throwaway cluster.

--init-only creates the database and exits; --check also starts the server, checks that
it answers and that admin/admin can log in, then stops everything.
"""
import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import odoo_env
import odoo_log
import pgcluster
import procutil

DEFAULT_DB = 'sms_router_demo'
SANDBOX = odoo_env.REPO_ROOT / 'tests' / 'sandbox' / 'server.py'


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
                      '--stop-after-init', '--log-level=info']
    say(f'creating database {db!r} with demo data: {", ".join(modules)}')
    say(f'  {shlex.join(cmd)}')
    log = odoo_log.OdooLog()
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
                elif record is not None and record.msg.startswith('Loading module '):
                    print(f'    {record.msg}', flush=True)
            proc.wait()
        finally:
            procutil.stop_child(proc, 'odoo (init)')
    log.close()
    ok = proc.returncode == 0 and not log.log_errors
    say(f'database {db!r} {"ready" if ok else "FAILED"} in '
        f'{procutil.fmt_duration(time.monotonic() - start)} (log: {log_path})')
    if not ok:
        for rec in log.log_errors:
            print(f'{rec.level} {rec.logger}: {rec.text}', flush=True)
    return ok


def start_sandbox(port):
    if not SANDBOX.is_file():
        return None, None
    if not procutil.port_is_free(port):
        say(f'sandbox port {port} is busy: sandbox not started (set SMS_SANDBOX_PORT)')
        return None, None
    cmd = [sys.executable, str(SANDBOX), '--host', '127.0.0.1', '--port', str(port)]
    say(f'starting the provider sandbox: {shlex.join(cmd)}')
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True,
                            cwd=str(odoo_env.REPO_ROOT))
    if not procutil.wait_port(port, timeout=20, proc=proc):
        say(f'WARNING: the sandbox did not start listening on 127.0.0.1:{port} '
            f'(exit code {proc.poll()})')
        procutil.stop_child(proc, 'sandbox')
        return None, None
    return proc, f'http://127.0.0.1:{port}'


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


def check_login(port, db, login='admin', password='admin'):
    """uid of ``login`` after a web session login, or False."""
    payload = json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': {
        'db': db, 'login': login, 'password': password}}).encode()
    request = urllib.request.Request(
        f'http://127.0.0.1:{port}/web/session/authenticate', data=payload,
        headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local)
            answer = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as err:
        say(f'login check failed: {err}')
        return False
    if answer.get('error'):
        say(f'login check failed: {answer["error"].get("message")}')
        return False
    return (answer.get('result') or {}).get('uid') or False


def wire_sandbox_webhooks(port, db, sandbox_url, login='admin', password='admin'):
    """Point the sandbox's signed Sweego events at the demo's Sweego France account, so that
    delivery reports and STOP replies flow back into the demo. Best effort: a demo without
    it still sends and fails over."""
    import xmlrpc.client
    try:
        common = xmlrpc.client.ServerProxy(f'http://127.0.0.1:{port}/xmlrpc/2/common')
        uid = common.authenticate(db, login, password, {})
        models = xmlrpc.client.ServerProxy(f'http://127.0.0.1:{port}/xmlrpc/2/object')
        found = models.execute_kw(db, uid, password, 'ir.model.data', 'search_read',
                                  [[['module', '=', 'sms_router_sweego'],
                                    ['name', '=', 'demo_account_sweego_fr']]], {'fields': ['res_id']})
        if not found:
            return False
        webhook = f'http://127.0.0.1:{port}/sms_router_sweego/webhook/{found[0]["res_id"]}'
        request = urllib.request.Request(
            f'{sandbox_url}/_control/sweego', data=json.dumps({'webhook_url': webhook}).encode(),
            headers={'Content-Type': 'application/json'}, method='POST')
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (local)
            pass
        say(f'sandbox: Sweego events go to {webhook}')
        return True
    except (OSError, ValueError, xmlrpc.client.Error) as err:
        say(f'sandbox: Sweego events not wired ({err})')
        return False


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
    if not args.init_only and not procutil.port_is_free(args.http_port):
        say(f'ERROR: port {args.http_port} is already in use (use --http-port or ODOO_HTTP_PORT)')
        return 2

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
            if args.init_only:
                say('--init-only: done')
                return 0

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
            host = 'localhost' if args.http_interface in ('127.0.0.1', '0.0.0.0') \
                else args.http_interface
            uid = check_login(args.http_port, args.db)
            if sandbox_url and 'sms_router_sweego' in modules:
                wire_sandbox_webhooks(args.http_port, args.db, sandbox_url)
            lines = [f'Odoo is ready: http://{host}:{args.http_port}/odoo  '
                     f'(database {args.db})',
                     'login: admin / admin' + ('' if uid else '  (login check FAILED)')]
            if sandbox_url:
                lines.append(f'provider sandbox: {sandbox_url}')
            lines.append('Ctrl-C stops everything' + (
                ' and removes the throwaway database' if tmp_data else ''))
            width = max(map(len, lines)) + 2
            print('\n' + '=' * width + '\n' + '\n'.join(f' {ln}' for ln in lines)
                  + '\n' + '=' * width + '\n', flush=True)
            if args.check:
                ok = bool(uid)
                say(f'--check: {"OK" if ok else "FAILED"} '
                    f'({json.dumps({"health": True, "admin_uid": uid})})')
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
