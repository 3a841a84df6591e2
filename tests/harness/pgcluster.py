"""A throwaway PostgreSQL cluster for tests and the demo.

    with PgCluster() as pg:
        print(pg.odoo_args())   # ['--db_host=/tmp/...', '--db_port=...', '--db_user=odoo']

The cluster lives in a fresh temporary directory: data directory, unix socket and server log.
It listens on the unix socket and on a free TCP port of 127.0.0.1, trusts every local
connection and has one superuser role, ``odoo`` (Odoo refuses to connect as ``postgres``).
It is stopped and its directory deleted on exit, on errors and on Ctrl-C / SIGTERM.

PostgreSQL refuses to run as root: as root the cluster runs as the ``postgres`` system user
(created as a system user when missing); as any other user it runs as that user.

Run as a script to try it:  python3 tests/harness/pgcluster.py [--hold]
"""
import argparse
import atexit
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

import procutil

DB_USER = 'odoo'
SERVICE_USER = 'postgres'
PG_BINARIES = ('initdb', 'pg_ctl', 'postgres')


class PgClusterError(RuntimeError):
    pass


def _log(msg):
    print(f'[pgcluster] {msg}', flush=True)


def _version_key(path):
    match = re.search(r'/(\d+)(?:\.(\d+))?/bin$', path)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


def find_bindir():
    """Directory holding initdb/pg_ctl/postgres: PATH first, then the usual Debian/RPM places."""
    initdb = shutil.which('initdb')
    if initdb:
        bindir = os.path.dirname(os.path.realpath(initdb))
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in PG_BINARIES):
            return bindir
    candidates = sorted(
        glob.glob('/usr/lib/postgresql/*/bin') + glob.glob('/usr/pgsql-*/bin')
        + glob.glob('/usr/local/pgsql/bin'),
        key=_version_key, reverse=True)
    for bindir in candidates:
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in PG_BINARIES):
            return bindir
    return None


def ensure_bindir():
    """Find the PostgreSQL server binaries, installing Debian's package when root and possible."""
    bindir = find_bindir()
    if bindir:
        return bindir
    if os.geteuid() == 0 and shutil.which('apt-get'):
        _log('PostgreSQL server binaries not found: installing the Debian package "postgresql"')
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        subprocess.run(['apt-get', 'update'], env=env, stdin=subprocess.DEVNULL, check=False)
        result = subprocess.run(
            ['apt-get', 'install', '-y', '--no-install-recommends', 'postgresql'],
            env=env, stdin=subprocess.DEVNULL, check=False)
        bindir = find_bindir()
        if result.returncode == 0 and bindir:
            return bindir
    raise PgClusterError(
        'PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH nor in '
        '/usr/lib/postgresql/*/bin. Install PostgreSQL (Debian/Ubuntu: apt-get install '
        'postgresql) or put its bin directory on PATH.')


def _service_account():
    """(uid, gid, name, home) of the account the server runs as."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        _log(f'creating system user {SERVICE_USER!r} to run PostgreSQL (it refuses root)')
        subprocess.run(['useradd', '--system', '--user-group', '--no-create-home',
                        '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin',
                        SERVICE_USER], check=True, stdin=subprocess.DEVNULL)
        entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir


class PgCluster:
    """Context manager around a throwaway PostgreSQL cluster (see the module docstring)."""

    def __init__(self, quiet=False, start_timeout=60):
        self.quiet = quiet
        self.start_timeout = start_timeout
        self.bindir = None
        self.basedir = None
        self.datadir = None
        self.socket_dir = None
        self.logfile = None
        self.port = None
        self.host = '127.0.0.1'
        self.user = DB_USER
        self._account = None
        self._started = False

    # -- helpers ---------------------------------------------------------------------------
    def _say(self, msg):
        if not self.quiet:
            _log(msg)

    def _run_as_service(self, args, check=True, **kwargs):
        uid, gid, name, home = self._account
        env = {k: v for k, v in os.environ.items() if not k.startswith('PG')}
        env.update(LC_ALL='C', LANG='C', HOME=self.basedir, USER=name, LOGNAME=name)
        kwargs.setdefault('stdin', subprocess.DEVNULL)
        kwargs.setdefault('stdout', subprocess.PIPE)
        kwargs.setdefault('stderr', subprocess.STDOUT)
        kwargs.setdefault('text', True)
        if os.geteuid() == 0 and uid != 0:
            kwargs.update(user=uid, group=gid, extra_groups=[])
        # A session of its own: a Ctrl-C in the terminal must not reach the postmaster
        # before its clients (Odoo) are gone; we stop it ourselves.
        result = subprocess.run(args, env=env, cwd=self.basedir, start_new_session=True,
                                check=False, **kwargs)
        if check and result.returncode != 0:
            raise PgClusterError(
                f'{os.path.basename(args[0])} failed (exit {result.returncode}):\n'
                f'{(result.stdout or "").strip()}')
        return result

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        self.bindir = ensure_bindir()
        self._account = _service_account()
        uid, gid, name, _home = self._account
        # Short path: the unix socket path must stay under ~100 characters.
        tmproot = '/tmp' if os.path.isdir('/tmp') else None
        self.basedir = tempfile.mkdtemp(prefix='sms-router-pg-', dir=tmproot)
        atexit.register(self.stop)
        try:
            os.chmod(self.basedir, 0o700)
            if os.geteuid() == 0:
                os.chown(self.basedir, uid, gid)
            self.datadir = os.path.join(self.basedir, 'data')
            self.socket_dir = self.basedir
            self.logfile = os.path.join(self.basedir, 'postgresql.log')
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self):
        self._run_as_service([
            self._bin('initdb'), '--pgdata', self.datadir, '--username', DB_USER,
            '--auth', 'trust', '--encoding', 'UTF8', '--locale', 'C', '--no-sync',
        ])
        with open(os.path.join(self.datadir, 'postgresql.conf'), 'a', encoding='utf-8') as conf:
            conf.write(
                '\n# throwaway cluster for tests: speed over durability\n'
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                'max_connections = 200\n'
                'fsync = off\n'
                'synchronous_commit = off\n'
                'full_page_writes = off\n'
                "log_min_messages = 'warning'\n"
            )

    def _start_server(self):
        last_error = ''
        for _attempt in range(5):
            self.port = procutil.free_port(self.host)
            result = self._run_as_service([
                self._bin('pg_ctl'), '--pgdata', self.datadir, '--log', self.logfile,
                '--wait', '--timeout', str(self.start_timeout),
                '-o', f'-p {self.port}', 'start',
            ], check=False)
            if result.returncode == 0:
                self._started = True
                self._say(f'PostgreSQL ({os.path.basename(os.path.dirname(self.bindir))}) '
                          f'running as {self._account[2]!r} in {self.basedir}: '
                          f'socket {self.socket_dir}, port {self.host}:{self.port}, '
                          f'superuser {DB_USER!r}, trust auth')
                return
            last_error = (result.stdout or '') + self._tail_log()
            if 'Address already in use' not in last_error:
                break
        raise PgClusterError(f'could not start PostgreSQL:\n{last_error.strip()}')

    def _tail_log(self, lines=30):
        try:
            with open(self.logfile, encoding='utf-8', errors='replace') as log:
                return ''.join(log.readlines()[-lines:])
        except OSError:
            return ''

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.datadir, 'postmaster.pid'), encoding='ascii') as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """Stop the server (fast, then immediate, then SIGKILL) and delete its directory."""
        if self.basedir is None:
            return
        basedir, self.basedir = self.basedir, None
        if self._started or self._postmaster_pid():
            self.basedir = basedir  # cwd/HOME for pg_ctl
            for mode in ('fast', 'immediate'):
                result = self._run_as_service([
                    self._bin('pg_ctl'), '--pgdata', self.datadir, '--mode', mode,
                    '--wait', '--timeout', '30', 'stop'], check=False)
                if result.returncode == 0 or not self._postmaster_pid():
                    break
            pid = self._postmaster_pid()
            if pid:
                try:
                    os.kill(pid, 9)
                    time.sleep(0.5)
                except (ProcessLookupError, PermissionError):
                    pass
            self.basedir = None
            self._started = False
        shutil.rmtree(basedir, ignore_errors=True)
        self._say(f'PostgreSQL stopped, {basedir} removed')

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- connection parameters -------------------------------------------------------------
    def odoo_args(self):
        """Command-line options that point Odoo at this cluster (over the unix socket)."""
        return [f'--db_host={self.socket_dir}', f'--db_port={self.port}',
                f'--db_user={self.user}', '--db_password=']

    def dsn(self):
        return f'host={self.socket_dir} port={self.port} user={self.user} dbname=postgres'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--hold', action='store_true',
                        help='keep the cluster running until Ctrl-C (default: start and stop)')
    args = parser.parse_args(argv)
    procutil.install_signal_handlers()
    try:
        with PgCluster() as pg:
            print(f'psql "{pg.dsn()}"', flush=True)
            if args.hold:
                print('Ctrl-C to stop.', flush=True)
                while True:
                    time.sleep(3600)
    except (KeyboardInterrupt, procutil.Terminated):
        return 130
    except PgClusterError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
