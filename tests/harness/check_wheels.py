"""Build the addons' wheels, install them in a fresh virtual environment and run Odoo from it.

    python3 tests/harness/check_wheels.py [--keep] [--timeout MIN] [-v]     (make test-wheels)

Each addon is packaged as OCA addons are: an ``odoo-addon-<addon>`` distribution built by
whool from the ``pyproject.toml`` beside its manifest, installed by pip under
``odoo/addons/<addon>`` in site-packages, where Odoo finds it without any addons path entry.
This script checks that promise end to end, one named check per line:

1. build: ``pip wheel --no-deps`` builds the wheels (pip fetches whool into an isolated
   build environment, as for any PEP 517 project);
2. metadata: each wheel's name, its version (the manifest's, with whool's ``.N`` count of
   commits since the version changed), its requirements (``odoo==19.0.*``,
   ``odoo-addon-<dep>==19.0.*`` for each dependency that is not an Odoo addon, the
   manifest's ``external_dependencies``) and its files (every file git tracks in the addon,
   under ``odoo/addons/<addon>/``; whool packages nothing else);
3. venv: a fresh ``python3 -m venv --system-site-packages`` (so that the installed Odoo is
   importable) into which pip installs the wheels;
4. requirements: in the venv, every requirement of the installed distributions is met.
   Odoo's own is compared with ``odoo.release``: an Odoo installed from source has no pip
   metadata, which is also why the wheels are installed with ``--no-deps``;
5. location: the venv's Python finds each addon in its site-packages, not in the repository;
6. Odoo, started from the venv in a directory outside the repository, with an addons path
   holding only Odoo's own addons directories, on a throwaway PostgreSQL cluster: the log
   shows no addons path in the repository, the addons end ``installed`` in the database,
   one smoke test of each addon (``SMOKE_TESTS``) runs from the installed copy and passes,
   and Odoo logs no error.

The outputs of pip and Odoo go to ``.run/wheels.log``. The last line printed is
``wheels: N passed, N failed``. The exit status is non-zero when a check failed. When
``odoo`` cannot be imported nothing is run: a banner says so and the exit status is 0.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import odoo_env
import odoo_log
import pgcluster
import procutil

DB_NAME = 'sms_router_wheels'
LOG_NAME = 'wheels.log'

# One fast existing test per addon, run from the installed wheel. Each exercises the addon's
# sending path (the provider addons' through their real client, HTTP mocked). A test renamed
# or removed makes its addon's smoke check fail: point the entry at another test then.
SMOKE_TESTS = {
    'sms_router': 'TestRouterSending.test_provider_failure_fails_over',
    'sms_router_sweego': 'TestSweegoSending.test_outage_fails_over_to_the_next_account',
    'sms_router_twilio': 'TestTwilioSending.test_failover_from_primary_to_twilio',
    'sms_router_ovh': 'TestOvhSending.test_failover_into_ovh',
}

# Run by the venv's Python: the requirements of each installed distribution and whether
# they are met. Odoo's own version comes from odoo.release (no pip metadata when Odoo was
# installed from source).
REQUIREMENTS_PROBE = r'''
import importlib.metadata as md, json, sys
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
from odoo import release
out = {}
for name in sys.argv[1:]:
    rows = []
    for text in md.distribution(name).requires or []:
        req = Requirement(text)
        if req.marker and not req.marker.evaluate():
            continue
        if req.name == 'odoo':
            have, where = release.version, 'odoo.release'
        else:
            try:
                have, where = md.version(req.name), 'installed'
            except md.PackageNotFoundError:
                rows.append([text, None, 'not installed', False])
                continue
        ok = not req.specifier or req.specifier.contains(have, prereleases=True)
        rows.append([text, have, where, ok])
    out[name] = rows
print(json.dumps(out))
'''

LOCATION_PROBE = r'''
import importlib.util, json, sys
print(json.dumps({name: getattr(importlib.util.find_spec('odoo.addons.' + name), 'origin', None)
                  for name in sys.argv[1:]}))
'''

MODULES_PROBE = r'''
import json, sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
with conn, conn.cursor() as cr:
    cr.execute("SELECT name, state, latest_version FROM ir_module_module WHERE name = ANY(%s)",
               (sys.argv[2:],))
    print(json.dumps({name: [state, version] for name, state, version in cr.fetchall()}))
conn.close()
'''

ADDONS_PATHS_LINE = re.compile(r'addons paths: (?P<paths>.*)$')


def say(msg=''):
    print(msg, flush=True)


def banner(lines, char='#'):
    width = max(len(line) for line in lines) + 4
    out = [char * width]
    out += [f'{char} {line.ljust(width - 4)} {char}' for line in lines]
    out.append(char * width)
    return '\n'.join(out)


class Checks:
    """Named PASS/FAIL results, printed as they come."""

    def __init__(self):
        self.results = []

    def add(self, name, ok, detail=''):
        self.results.append((name, bool(ok), detail))
        say(f'{"PASS" if ok else "FAIL"}  {name}{": " + detail if detail else ""}')
        return bool(ok)

    @property
    def passed(self):
        return sum(1 for _name, ok, _detail in self.results if ok)

    @property
    def failed(self):
        return sum(1 for _name, ok, _detail in self.results if not ok)


class Recorder:
    """Runs commands, appends their output to the log file, streams it with -v."""

    def __init__(self, log_path, verbose):
        self.log_path = log_path
        self.verbose = verbose
        self.handle = open(log_path, 'w', encoding='utf-8')  # noqa: SIM115

    def close(self):
        self.handle.close()

    def note(self, text):
        self.handle.write(text.rstrip('\n') + '\n')
        self.handle.flush()

    def run(self, cmd, **kwargs):
        self.note(f'\n# {shlex.join(str(c) for c in cmd)}')
        result = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, errors='replace', check=False,
                                **kwargs)
        self.note(result.stdout + result.stderr)
        if self.verbose:
            sys.stdout.write(result.stdout + result.stderr)
        return result


def tail(text, count=25):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return '\n'.join('    ' + line for line in lines[-count:])


def git_files(addon_dir, *args):
    """Files git lists in ``addon_dir`` (relative paths), or None without git."""
    try:
        result = subprocess.run(['git', 'ls-files', '-z', *args], cwd=addon_dir,
                                capture_output=True, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return None
    if result.returncode != 0:
        return None
    return sorted(p for p in result.stdout.decode('utf-8', 'replace').split('\0') if p)


def expected_requirements(addon, ours, install):
    series = '.'.join(addon.manifest['version'].split('.')[:2])
    expected = {f'odoo=={series}.*'}
    for dep in addon.depends:
        if dep in ours or not install.has_addon(dep):
            expected.add(f'odoo-addon-{dep}=={series}.*')
    expected.update(addon.manifest.get('external_dependencies', {}).get('python', []))
    return {re.sub(r'\s+', '', r) for r in expected}


def read_wheel(path):
    with zipfile.ZipFile(path) as whl:
        names = whl.namelist()
        metadata_name = next(n for n in names if n.endswith('.dist-info/METADATA'))
        metadata = HeaderParser().parsestr(whl.read(metadata_name).decode('utf-8'))
    return metadata, names


def check_wheel(checks, addon, wheel, ours, install):
    metadata, names = read_wheel(wheel)
    problems = []
    dist_name = f'odoo-addon-{addon.name}'
    if metadata['Name'] != dist_name:
        problems.append(f'name {metadata["Name"]!r}, expected {dist_name!r}')
    version = addon.manifest['version']
    if not re.fullmatch(re.escape(version) + r'(\.\d+|\.dev\d+)?', metadata['Version'] or ''):
        problems.append(f'version {metadata["Version"]!r} is not the manifest\'s {version!r}')
    requires = {re.sub(r'\s+', '', r) for r in metadata.get_all('Requires-Dist') or []}
    expected = expected_requirements(addon, ours, install)
    if requires != expected:
        problems.append(f'requirements {sorted(requires)}, expected {sorted(expected)}')
    prefix = f'odoo/addons/{addon.name}/'
    packaged = {n[len(prefix):] for n in names if n.startswith(prefix) and not n.endswith('/')}
    stray = [n for n in names if not n.startswith(prefix) and '.dist-info/' not in n]
    if stray:
        problems.append(f'files outside {prefix}: {", ".join(stray[:5])}')
    tracked = git_files(addon.path)
    if tracked is None:
        tracked = [str(p.relative_to(addon.path)) for p in Path(addon.path).rglob('*')
                   if p.is_file() and '__pycache__' not in p.parts]
    missing = sorted(set(tracked) - packaged - {'pyproject.toml'})
    if missing:
        problems.append(f'tracked files missing from the wheel: {", ".join(missing[:5])}'
                        f'{" ..." if len(missing) > 5 else ""}')
    if '__manifest__.py' not in packaged:
        problems.append('no __manifest__.py in the wheel')
    if 'pyproject.toml' in packaged:
        problems.append('pyproject.toml is in the wheel')
    detail = (f'{metadata["Name"]} {metadata["Version"]}, {len(packaged)} files, requires '
              f'{", ".join(sorted(requires))}')
    checks.add(f'metadata {addon.name}', not problems, '; '.join(problems) or detail)
    untracked = git_files(addon.path, '--others', '--exclude-standard') or []
    if untracked:
        say(f'      note: not packaged (not tracked by git): {", ".join(untracked[:8])}'
            f'{" ..." if len(untracked) > 8 else ""}')


def run_probe(recorder, python, code, args, cwd):
    result = recorder.run([python, '-c', code, *args], cwd=cwd, env=child_environ(python))
    if result.returncode != 0:
        return None, tail(result.stderr or result.stdout, 8)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1]), ''
    except (ValueError, IndexError):
        return None, tail(result.stdout + result.stderr, 8)


def child_environ(python):
    """Environment of the venv's processes: PYTHONPATH entries in the repository dropped."""
    env = odoo_env.odoo_environ()
    paths = [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
    kept = [p for p in paths if not inside_repo(p)]
    if kept:
        env['PYTHONPATH'] = os.pathsep.join(kept)
    else:
        env.pop('PYTHONPATH', None)
    venv_bin = str(Path(python).parent)
    env['PATH'] = os.pathsep.join([venv_bin, env.get('PATH', '')])
    env['VIRTUAL_ENV'] = str(Path(python).parent.parent)
    return env


def inside_repo(path):
    try:
        Path(path).resolve().relative_to(odoo_env.REPO_ROOT)
    except ValueError:
        return False
    return True


class OdooRun:
    """Odoo started from the venv; its log parsed as it comes."""

    def __init__(self, recorder, timeout_min, verbose):
        self.recorder = recorder
        self.timeout = timeout_min * 60
        self.verbose = verbose
        self.log = odoo_log.OdooLog()
        self.addons_paths = None
        self.returncode = None
        self.timed_out = False

    def run(self, cmd, cwd, env):
        self.recorder.note(f'\n# {shlex.join(cmd)}')
        start = time.monotonic()
        next_beat = start + 30
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors='replace', bufsize=1,
                                start_new_session=True, env=env, cwd=cwd)
        output = procutil.OutputReader(proc)
        try:
            for line in output.lines():
                if line:
                    self._feed(line)
                now = time.monotonic()
                if now >= next_beat:
                    say(f'      [odoo {procutil.fmt_duration(now - start)}] '
                        f'tests started: {len(self.log.started)}')
                    next_beat = now + 30
                if now - start > self.timeout:
                    self.timed_out = True
                    say(f'      [odoo] TIMEOUT after {self.timeout / 60:g} min: stopping Odoo')
                    break
        finally:
            procutil.stop_child(proc, 'odoo', grace=15)
            for line in output.drain():
                self._feed(line)
            self.log.close()
            self.returncode = proc.returncode
        return time.monotonic() - start

    def _feed(self, line):
        self.recorder.handle.write(line)
        if self.verbose:
            sys.stdout.write(line)
        record = self.log.feed(line)
        if record is not None and self.addons_paths is None:
            match = ADDONS_PATHS_LINE.search(record.msg)
            if match:
                self.addons_paths = re.findall(r"'([^']+)'", match['paths'])


def build(checks, recorder, addons, dist_dir):
    cmd = [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--disable-pip-version-check',
           '--progress-bar', 'off', '--wheel-dir', str(dist_dir)]
    cmd += [f'./{a.name}' for a in addons]
    say(f'      {shlex.join(cmd)}')
    result = recorder.run(cmd, cwd=odoo_env.REPO_ROOT)
    wheels = {}
    for addon in addons:
        found = sorted(dist_dir.glob(f'odoo_addon_{addon.name}-*.whl'))
        if found:
            wheels[addon.name] = found[-1]
            size = found[-1].stat().st_size // 1024
            checks.add(f'build {addon.name}', True, f'{found[-1].name} ({size} kB)')
        else:
            checks.add(f'build {addon.name}', False,
                       f'no wheel (pip exit {result.returncode})\n{tail(result.stdout + result.stderr)}')
    return wheels


def make_venv(checks, recorder, install, venv_dir, wheels):
    result = recorder.run([install.python, '-m', 'venv', '--system-site-packages', venv_dir])
    python = venv_dir / 'bin' / 'python'
    if result.returncode != 0 or not python.exists():
        checks.add('venv', False, f'python3 -m venv failed\n{tail(result.stdout + result.stderr)}')
        return None
    result = recorder.run([python, '-m', 'pip', 'install', '--no-deps', '--no-index',
                           '--disable-pip-version-check', '--progress-bar', 'off',
                           *wheels.values()], cwd=venv_dir, env=child_environ(python))
    installed = [ln for ln in result.stdout.splitlines() if ln.startswith('Successfully installed')]
    ok = result.returncode == 0 and installed
    checks.add('venv', ok, (f'{venv_dir} (--system-site-packages); '
                            f'{installed[0] if installed else ""}') if ok else
               f'pip install failed\n{tail(result.stdout + result.stderr)}')
    return python if ok else None


def check_requirements(checks, recorder, python, addons, cwd):
    data, error = run_probe(recorder, python, REQUIREMENTS_PROBE,
                            [f'odoo-addon-{a.name}' for a in addons], cwd)
    if data is None:
        for addon in addons:
            checks.add(f'requirements {addon.name}', False, error)
        return False
    ok_all = True
    for addon in addons:
        rows = data.get(f'odoo-addon-{addon.name}', [])
        bad = [f'{req} ({where}{": " + have if have else ""})'
               for req, have, where, ok in rows if not ok]
        good = [f'{req} ({have}{", from odoo.release" if where == "odoo.release" else ""})'
                for req, have, where, ok in rows if ok]
        ok_all &= checks.add(f'requirements {addon.name}', not bad and rows,
                             ('unmet: ' + ', '.join(bad)) if bad else
                             ', '.join(good) or 'no requirement found')
    return ok_all


def check_location(checks, recorder, python, addons, cwd):
    data, error = run_probe(recorder, python, LOCATION_PROBE, [a.name for a in addons], cwd)
    venv_root = Path(python).parent.parent.resolve()
    ok_all = True
    for addon in addons:
        origin = (data or {}).get(addon.name)
        if data is None:
            ok = False
            detail = error
        elif not origin:
            ok, detail = False, 'odoo.addons.' + addon.name + ' not found'
        else:
            path = Path(origin).resolve()
            ok = not inside_repo(path) and venv_root in path.parents and 'site-packages' in path.parts
            detail = str(path.parent)
        ok_all &= checks.add(f'location {addon.name}', ok, detail)
    return ok_all


def run_odoo(checks, recorder, args, install, python, addons, work_dir):
    odoo_paths = [p for p in install.addons_paths if not inside_repo(p)]
    dropped = [p for p in install.addons_paths if inside_repo(p)]
    if dropped:
        say(f'      note: left out of the addons path (inside the repository): {", ".join(dropped)}')
    tags = [f'/{a.name}:{SMOKE_TESTS[a.name]}' for a in addons if a.name in SMOKE_TESTS]
    command = odoo_env._odoo_command(str(python))  # noqa: SLF001 (same package)
    data_dir = work_dir / 'data'
    data_dir.mkdir()
    run = OdooRun(recorder, args.timeout, args.verbose)
    env = child_environ(python)
    with pgcluster.PgCluster(quiet=not args.verbose) as pg:
        http_port = procutil.free_port(avoid={pg.port})
        cmd = [str(c) for c in command] + [
            f'--addons-path={",".join(odoo_paths)}',
            *odoo_env.test_run_options(DB_NAME, [a.name for a in addons], tags, http_port, data_dir,
                                       pg.odoo_args()),
        ]
        say(f'      {shlex.join(cmd)}')
        say(f'      (cwd {work_dir})')
        elapsed = run.run(cmd, cwd=str(work_dir), env=env)
        dsn = pg.dsn().replace('dbname=postgres', f'dbname={DB_NAME}')
        modules, modules_error = run_probe(recorder, python, MODULES_PROBE,
                                           [dsn, *(a.name for a in addons)], str(work_dir))
    say(f'      Odoo ran {procutil.fmt_duration(elapsed)}, exit code {run.returncode}')
    log = run.log

    paths = run.addons_paths
    if paths is None:
        checks.add('odoo addons path', False, 'no "addons paths:" line in the Odoo log')
    else:
        in_repo = [p for p in paths if inside_repo(p)]
        checks.add('odoo addons path', not in_repo,
                   ('in the repository: ' + ', '.join(in_repo)) if in_repo else ', '.join(paths))

    for addon in addons:
        if modules is None:
            checks.add(f'odoo install {addon.name}', False,
                       f'could not read ir_module_module\n{modules_error}')
            continue
        state, version = modules.get(addon.name, [None, None])
        checks.add(f'odoo install {addon.name}', state == 'installed',
                   f'state {state or "absent"}, version {version or "-"}')

    started = {}
    for module, test in log.started:
        started.setdefault(module, []).append(test)
    for addon in addons:
        name = f'smoke {addon.name}'
        if addon.name not in SMOKE_TESTS:
            checks.add(name, False, f'no smoke test named for {addon.name} in SMOKE_TESTS '
                                    f'({Path(__file__).name})')
            continue
        wanted = SMOKE_TESTS[addon.name]
        ran = started.get(addon.name, [])
        problems = [p for p in log.problems if p.module == addon.name]
        if problems:
            checks.add(name, False, '\n'.join(tail(p.render(), 15) for p in problems))
        elif wanted not in ran:
            checks.add(name, False, f'{wanted} did not run (renamed or removed? see SMOKE_TESTS)')
        else:
            checks.add(name, True, f'{wanted} passed')

    reasons = []
    if log.log_errors:
        reasons += [f'{rec.level} {rec.logger}: {rec.text}' for rec in log.log_errors[:5]]
    if run.timed_out:
        reasons.append(f'timed out after {args.timeout:g} min')
    if log.final is None:
        reasons.append(f'Odoo stopped without reporting test results (exit code {run.returncode})')
    elif log.final['failed'] or log.final['errors']:
        reasons.append(f'Odoo: {log.final["failed"]} failed, {log.final["errors"]} error(s) of '
                       f'{log.final["run"]} tests')
    if run.returncode not in (0, None) and not reasons:
        reasons.append(f'Odoo exited with code {run.returncode}')
    checks.add('odoo run', not reasons, '\n'.join(tail(r, 15) for r in reasons) or
               f'{log.final["run"]} tests run, no error logged')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keep', action='store_true',
                        help='keep the wheels and the venv (their directory is printed)')
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON', sys.executable),
                        help='Python that imports odoo, base of the venv (env ODOO_PYTHON)')
    parser.add_argument('--timeout', type=float, default=15,
                        help='minutes before the Odoo run is stopped (default 15)')
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='stream the outputs of pip and Odoo (always in .run/wheels.log)')
    args = parser.parse_args(argv)
    procutil.install_signal_handlers()

    install = odoo_env.detect_odoo(args.python)
    if not install.importable:
        say(banner([f'WHEEL CHECK SKIPPED: {install.reason}',
                    'Install Odoo 19 so that `python3 -c "import odoo"` works to run it.']))
        say('wheels: 0 checks run (WHEEL CHECK SKIPPED: odoo is not importable)')
        return 0

    addons = [a for a in odoo_env.our_addons() if a.installable]
    ours = {a.name for a in addons}
    odoo_env.RUN_DIR.mkdir(exist_ok=True)
    log_path = odoo_env.RUN_DIR / LOG_NAME
    recorder = Recorder(log_path, args.verbose)
    work_dir = Path(tempfile.mkdtemp(prefix='sms-router-wheels-'))
    checks = Checks()
    say(f'== Wheel check: {", ".join(sorted(ours))} with Odoo {install.version} '
        f'({", ".join(install.package_dirs)}); log: {log_path}')
    start = time.monotonic()
    try:
        say('-- build the wheels with whool')
        dist_dir = work_dir / 'dist'
        wheels = build(checks, recorder, addons, dist_dir)
        for addon in addons:
            if addon.name in wheels:
                check_wheel(checks, addon, wheels[addon.name], ours, install)
        if len(wheels) == len(addons):
            say('-- install them in a fresh virtual environment beside Odoo')
            python = make_venv(checks, recorder, install, work_dir / 'venv', wheels)
            if python is not None:
                check_requirements(checks, recorder, python, addons, str(work_dir))
                if check_location(checks, recorder, python, addons, str(work_dir)):
                    say('-- start Odoo from the venv: install the addons, run their smoke tests')
                    run_odoo(checks, recorder, args, install, python, addons, work_dir)
    except pgcluster.PgClusterError as err:
        checks.add('odoo run', False, f'no PostgreSQL: {err}')
    except (KeyboardInterrupt, procutil.Terminated):
        say('wheels: interrupted')
        return 130
    finally:
        recorder.close()
        if args.keep:
            say(f'kept: {work_dir} (dist/, venv/)')
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    if checks.failed or not checks.results:
        say(f'== Wheel check FAILED in {procutil.fmt_duration(time.monotonic() - start)}; '
            f'full log: {log_path}')
    else:
        say(f'== Wheel check OK in {procutil.fmt_duration(time.monotonic() - start)}')
    failed = checks.failed or (0 if checks.results else 1)
    say(f'wheels: {checks.passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
