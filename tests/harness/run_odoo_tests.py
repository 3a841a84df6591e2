"""Install our addons in a fresh database of a throwaway PostgreSQL cluster and run Odoo's tests.

    python3 tests/harness/run_odoo_tests.py [--addons a,b] [--tags SPEC] [--extra-addons-path DIR]

Default selection: every addon of the repository that has a ``__manifest__.py``, tagged
``/<addon>``, plus Odoo's own ``/sms`` tests (they must keep passing with the router installed),
Odoo's functional SMS suite ``test_mail_sms``, and, when ``sms_router_twilio`` is selected,
Odoo's ``sms_twilio`` addon and its tests.
Demo data is off (Odoo 19's default); ``--with-demo`` turns it on.

The full Odoo log goes to ``.run/odoo-tests-<time>.log`` (``.run/odoo-tests.log`` points to the
latest). The last line printed is ``odoo: N passed, N failed, N skipped``. The exit status is
non-zero when a test failed or errored, when Odoo logged an error outside the test results,
when Odoo stopped without reporting its results, or when no test ran.

Odoo's tours (``HttpCase.start_tour``) need Chromium (see ``browser.py``): without one on PATH,
Debian's ``chromium`` package is installed when running as root with apt-get
(``--no-browser-install`` turns that off). Where no browser can be had, Odoo skips the tours:
a banner says ``BROWSER TESTS SKIPPED``, they are counted as skipped (never passed) and the
line ``browser: N test(s) skipped - ...`` comes before the closing one.

When ``odoo`` cannot be imported, nothing is run: a banner says so and the exit status is 0.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime

import browser
import odoo_env
import odoo_log
import pgcluster
import procutil

DB_NAME = 'sms_router_test'

# Odoo tests that fail on a stock Odoo 19 for reasons outside this repository. Each entry
# is excluded (with a notice) only when its condition holds for the Odoo being tested.
KNOWN_ENV_FAILURES = [
    {
        'module': 'sms',
        'tags': [
            '-/sms:TestSMSComposerComment.test_message_post_sms_vs_notification',
            '-/sms:TestSMSComposerComment.test_message_sms_body_sms_vs_notification',
        ],
        'applies': lambda install: install.libxml2 >= (2, 14),
        'reason': ("Odoo 19's expected HTML assumes libxml2 < 2.14 (lxml < 6, Odoo pins 4.9/5.2), "
                   'which wraps bare text in <p>; this Python has libxml2 {libxml2}'),
    },
    {
        'module': 'test_mail_sms',
        'tags': [
            '-/test_mail_sms:TestSMSPost.test_message_sms_internals_body',
            '-/test_mail_sms:TestSMSPost.test_message_sms_internals_subtype',
            '-/test_mail_sms:TestSMSPerformance.test_message_sms_record_1_partner',
            '-/test_mail_sms:TestSMSPerformance.test_message_sms_record_10_partners',
            '-/test_mail_sms:TestSMSPerformance.test_message_sms_record_default',
        ],
        'applies': lambda install: install.libxml2 >= (2, 14),
        'reason': ("Odoo 19's expected HTML assumes libxml2 < 2.14 (lxml < 6, Odoo pins 4.9/5.2): "
                   "libxml2 2.14 parses an SMS body (plain text or escaped HTML) into <span> "
                   "instead of <p>; "
                   'this Python has libxml2 {libxml2}'),
    },
]


def selects_module(tags, module):
    """Whether the --test-tags spec can select tests of ``module``."""
    for tag in tags:
        if tag.startswith('-'):
            continue
        if '/' not in tag:
            return True  # a tag such as 'standard' or 'post_install' selects every module
        rest = tag.split('/', 1)[1]
        name = rest.split(':', 1)[0].split('.', 1)[0].split('[', 1)[0]
        if name in (module, '*', ''):
            return True
    return False


def banner(lines, char='#'):
    width = max(len(line) for line in lines) + 4
    out = [char * width]
    out += [f'{char} {line.ljust(width - 4)} {char}' for line in lines]
    out.append(char * width)
    return '\n'.join(out)


def say(msg=''):
    print(msg, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Run the Odoo tests of our addons (and of Odoo\'s sms addons) in a fresh '
                    'database of a throwaway PostgreSQL cluster.')
    parser.add_argument('--addons', default=os.environ.get('SMS_ROUTER_TEST_ADDONS', ''),
                        help='comma-separated subset of our addons to install and test '
                             '(default: all with a __manifest__.py; env SMS_ROUTER_TEST_ADDONS)')
    parser.add_argument('--tags', default=os.environ.get('SMS_ROUTER_TEST_TAGS', ''),
                        help='Odoo --test-tags spec replacing the default one '
                             '(e.g. "/sms_router:TestRouting"; env SMS_ROUTER_TEST_TAGS)')
    parser.add_argument('--no-odoo-sms-tests', action='store_true',
                        help="do not add Odoo's own /sms and /sms_twilio tests to the default tags")
    parser.add_argument('--extra-addons-path', action='append', default=[],
                        help='directory of more addons to install and test as ours (repeatable; '
                             f'env {odoo_env.EXTRA_ADDONS_ENV})')
    parser.add_argument('--with-demo', action='store_true', help='install demo data')
    parser.add_argument('--include-known-failures', action='store_true',
                        help='do not exclude the Odoo tests known to fail in this environment')
    parser.add_argument('--prove-exclusions', action='store_true',
                        help='run only the Odoo tests excluded here, once on stock Odoo (none of our '
                             'addons on the addons path) and once with our addons installed; '
                             'succeed only when each fails on stock Odoo the same way as with ours')
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON', sys.executable),
                        help='Python that imports odoo (default: this one; env ODOO_PYTHON)')
    parser.add_argument('--timeout', type=float,
                        default=float(os.environ.get('SMS_ROUTER_ODOO_TEST_TIMEOUT', 60)),
                        help='minutes before the Odoo run is stopped (default 60)')
    parser.add_argument('--no-browser-install', action='store_true',
                        default=bool(os.environ.get(browser.NO_INSTALL_ENV)),
                        help="without Chromium, do not install Debian's chromium package (done "
                             f'otherwise when root with apt-get; env {browser.NO_INSTALL_ENV}); '
                             "Odoo's tours are then skipped, and said so")
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='stream the whole Odoo log (it is always written to .run/)')
    return parser.parse_args(argv)


def select(args, install):
    """(modules to install, test tags, notices) for this run."""
    extra_paths = odoo_env.extra_addons_paths(args.extra_addons_path)
    only = [a.strip() for a in args.addons.split(',') if a.strip()] or None
    addons = odoo_env.our_addons(extra_paths, only=only)
    notices = []
    skipped = [a.name for a in addons if not a.installable]
    if skipped:
        notices.append(f'not installable (manifest), left out: {", ".join(skipped)}')
    addons = [a for a in addons if a.installable]
    ours = [a.name for a in addons]

    modules = list(ours)
    odoo_tags = []
    if 'sms' not in modules:
        modules.append('sms')
    odoo_tags.append('/sms')
    # Odoo's functional SMS suite (chatter, composer, mass SMS, trackers) lives in
    # test_mail_sms: it must keep passing with the router installed.
    if install.has_addon('test_mail_sms'):
        modules.append('test_mail_sms')
        odoo_tags.append('/test_mail_sms')
    else:
        notices.append("Odoo's test_mail_sms addon not found: its tests are not run")
    # Mass SMS (mailings) is where records without a company and opt-out traces meet the
    # router: installed so that the router's tests of it run (its own tests are not run).
    if install.has_addon('mass_mailing_sms'):
        modules.append('mass_mailing_sms')
    else:
        notices.append("Odoo's mass_mailing_sms addon not found: the router's mass SMS tests are skipped")
    if 'sms_router_twilio' in ours:
        if install.has_addon('sms_twilio'):
            modules.append('sms_twilio')
            odoo_tags.append('/sms_twilio')
        else:
            notices.append("Odoo's sms_twilio addon not found: its tests are not run")

    # Every dependency must be somewhere on the addons path.
    known = {a.name for a in addons}
    missing = sorted({dep for a in addons for dep in a.depends
                      if dep not in known and not install.has_addon(dep)})
    if missing:
        raise ValueError(f'dependencies not found on the addons path: {", ".join(missing)}')

    if args.tags:
        tags = [t.strip() for t in args.tags.split(',') if t.strip()]
    else:
        tags = [f'/{name}' for name in ours]
        if not args.no_odoo_sms_tests:
            tags += odoo_tags
        if not tags:
            tags = odoo_tags
    if not args.include_known_failures:
        for known_failure in KNOWN_ENV_FAILURES:
            if known_failure['applies'](install) and selects_module(tags, known_failure['module']):
                tags += known_failure['tags']
                reason = known_failure['reason'].format(
                    libxml2='.'.join(map(str, install.libxml2)))
                notices.append(f'excluded {len(known_failure["tags"])} Odoo test(s) known to '
                               f'fail here: {reason}')
    if not ours:
        notices.append('none of our addons has a __manifest__.py yet: only Odoo\'s sms tests run')
    has_tests = any(a.has_tests for a in addons) or bool(odoo_tags)
    return modules, tags, extra_paths, notices, has_tests


class Runner:
    def __init__(self, args, install, log_path):
        self.args = args
        self.install = install
        self.log_path = log_path
        self.log = odoo_log.OdooLog()
        self.returncode = None
        self.timed_out = False
        self.interrupted = False

    def command(self, pg, modules, tags, extra_paths, http_port, data_dir, stock=False):
        # Stock Odoo: only Odoo's own addons directories, so nothing of ours can load.
        addons_path = (','.join(self.install.addons_paths) if stock
                       else odoo_env.addons_path_option(self.install, extra_paths))
        cmd = list(self.install.command) + [
            f'--addons-path={addons_path}',
            *odoo_env.test_run_options(DB_NAME, modules, tags, http_port, data_dir, pg.odoo_args()),
        ]
        if self.args.with_demo:
            cmd.append('--with-demo')
        return cmd

    def run(self, cmd):
        start = time.monotonic()
        deadline = start + self.args.timeout * 60
        next_beat = start + 30
        with open(self.log_path, 'w', encoding='utf-8') as out:
            out.write(f'# {shlex.join(cmd)}\n')
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors='replace', bufsize=1, start_new_session=True,
                env=odoo_env.odoo_environ(), cwd=str(odoo_env.REPO_ROOT))
            output = procutil.OutputReader(proc)
            try:
                for line in output.lines():
                    if line:
                        out.write(line)
                        self._watch(line)
                    now = time.monotonic()
                    if now >= next_beat:
                        out.flush()
                        self._heartbeat(now - start)
                        next_beat = now + 30
                    if now > deadline:
                        self.timed_out = True
                        say(f'[odoo] TIMEOUT after {self.args.timeout:g} min: stopping Odoo')
                        break
            except (KeyboardInterrupt, procutil.Terminated):
                self.interrupted = True
                say('[odoo] interrupted: stopping Odoo')
                raise
            finally:
                procutil.stop_child(proc, 'odoo', grace=15)
                for line in output.drain():
                    out.write(line)
                    self.log.feed(line)
                self.log.close()
                self.returncode = proc.returncode
        return time.monotonic() - start

    def _watch(self, line):
        if self.args.verbose:
            sys.stdout.write(line)
            sys.stdout.flush()
        before_problems = len(self.log.problems)
        before_errors = len(self.log.log_errors)
        self.log.feed(line)
        if self.args.verbose:
            return
        # A record is complete once the next one starts: report finished problems.
        for problem in self.log.problems[before_problems:]:
            say(f'[odoo] {problem.kind}: {problem.module}: {problem.record.msg.split(": ", 1)[1]}')
        for rec in self.log.log_errors[before_errors:]:
            say(f'[odoo] {rec.level} {rec.logger}: {rec.msg}')

    def _heartbeat(self, elapsed):
        rec = self.log._current
        last = f'{rec.logger}: {rec.msg}' if rec is not None else ''
        if len(last) > 110:
            last = last[:107] + '...'
        say(f'[odoo {procutil.fmt_duration(elapsed)}] tests started: {len(self.log.started)}, '
            f'failing: {len(self.log.failed_tests)} | {last}')


def print_failures(log):
    for problem in log.problems:
        say('-' * 78)
        say(problem.render())
    for rec in log.log_errors:
        say('-' * 78)
        say(f'{rec.level} (log line {rec.lineno}) {rec.logger}: {rec.text}')
    if log.problems or log.log_errors:
        say('-' * 78)


def report_browser_skips(log, found):
    """Say loudly which tests Odoo skipped for want of a working browser (its tours): they
    are in the skipped count, and the line ``browser: ...`` tells run_all."""
    skips = browser.browser_skips(log)
    if not skips:
        return 0
    reason = found.reason or skips[0][2]
    say(browser.banner(reason))
    for module, test, why in skips:
        say(f'   skipped: {module}: {test} ({why})')
    say(f'browser: {len(skips)} test(s) skipped - {browser.BANNER_TITLE}: {reason}')
    return len(skips)


def tail(path, count=40):
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return handle.readlines()[-count:]
    except OSError:
        return []


def run_odoo(args, install, modules, tags, extra_paths, stock=False, label='odoo-tests'):
    """One Odoo test run in a throwaway cluster: (runner, seconds, log path)."""
    odoo_env.RUN_DIR.mkdir(exist_ok=True)
    stamp = datetime.now().strftime('%Y%m%d-%H%M%S')
    log_path = odoo_env.RUN_DIR / f'{label}-{stamp}.log'
    latest = odoo_env.RUN_DIR / f'{label}.log'
    say(f'   log:     {log_path}')
    runner = Runner(args, install, log_path)
    data_dir = tempfile.mkdtemp(prefix='sms-router-odoo-')
    try:
        with pgcluster.PgCluster() as pg:
            http_port = procutil.free_port(avoid={pg.port})
            cmd = runner.command(pg, modules, tags, extra_paths, http_port, data_dir, stock=stock)
            say(f'[odoo] {shlex.join(cmd)}')
            elapsed = runner.run(cmd)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(log_path.name)
        except OSError:
            pass
    return runner, elapsed, log_path


EXCEPTION_LINE = re.compile(r'^(?:[\w.]+\.)?(?P<name>\w*(?:Error|Exception|Failure))\b:?(?P<rest>.*)$')


def failure_signature(problem):
    """How a test failed, comparable between two runs: the exception line of its traceback
    (name and first line of the message), without paths, line numbers or record ids."""
    lines = problem.record.extra
    for index, line in enumerate(lines):
        match = EXCEPTION_LINE.match(line.strip())
        if match and not line.startswith(' '):
            rest = match['rest'].strip()
            if not rest and index + 1 < len(lines):
                rest = lines[index + 1].strip()
            rest = re.sub(r'\d+', 'N', rest)[:160]
            return f'{match["name"]}: {rest}'.rstrip(': ')
    return f'{problem.kind} (no traceback)'


def failures_by_test(log):
    """{Class.method: [signature, ...]} of a run's failing tests (sub-tests merged)."""
    failures = {}
    for problem in log.problems:
        test = problem.test.split(' ', 1)[0]
        signature = failure_signature(problem)
        failures.setdefault(test, [])
        if signature not in failures[test]:
            failures[test].append(signature)
    return failures


def prove_exclusions(args, install, modules, tags, extra_paths):
    """Run the excluded Odoo tests on stock Odoo and with our addons; 0 when every one fails
    on stock Odoo, and fails the same way with ours (then excluding it hides nothing of ours)."""
    excluded = [tag[1:] for tag in tags if tag.startswith('-')]
    say('== Proving the exclusions of Odoo tests: each must fail on stock Odoo as it fails with '
        'the router')
    if not excluded:
        say(f'   no exclusion applies here (libxml2 {".".join(map(str, install.libxml2))}): '
            'nothing to prove')
        say('exclusions: 0 excluded, nothing to prove')
        return 0
    odoo_modules = sorted({tag.split('/', 1)[1].split(':', 1)[0] for tag in excluded})
    runs = {}
    for label, stock, run_modules in (
            ('stock Odoo', True, odoo_modules),
            ('with the router', False, modules)):
        say(f'-- {label}: install {", ".join(run_modules)}; tests {",".join(excluded)}')
        try:
            runner, elapsed, _log_path = run_odoo(args, install, run_modules, excluded, extra_paths,
                                                  stock=stock, label='odoo-exclusions')
        except pgcluster.PgClusterError as err:
            say(f'ERROR: {err}')
            say('exclusions: not proven (no PostgreSQL)')
            return 2
        log = runner.log
        say(f'   {label}: {log.tests_run} test(s) run in {procutil.fmt_duration(elapsed)}, '
            f'{len(log.failed_tests)} failing')
        runs[label] = (log, failures_by_test(log))

    unproven = []
    say('')
    for tag in excluded:
        test = tag.split(':', 1)[1]
        stock_failures = runs['stock Odoo'][1].get(test)
        ours_failures = runs['with the router'][1].get(test)
        started = all(any(desc.split(' ', 1)[0] == test for _m, desc in log.started)
                      for log, _f in runs.values())
        if not started:
            verdict = 'NOT PROVEN: the test did not run in both setups'
        elif not stock_failures:
            verdict = 'NOT PROVEN: it passes on stock Odoo, so the router breaks it'
        elif stock_failures != ours_failures:
            verdict = 'NOT PROVEN: it fails differently with the router'
        else:
            verdict = 'proven: same failure on stock Odoo and with the router'
        if not verdict.startswith('proven'):
            unproven.append(test)
        say(f'{test}: {verdict}')
        say(f'    stock Odoo:      {"; ".join(stock_failures or ["passed"])}')
        say(f'    with the router: {"; ".join(ours_failures or ["passed"])}')
    say('')
    say(f'exclusions: {len(excluded) - len(unproven)} of {len(excluded)} proven'
        + (f'; not proven: {", ".join(unproven)}' if unproven else ''))
    return 1 if unproven else 0


def main(argv=None):
    args = parse_args(argv)
    procutil.install_signal_handlers()
    install = odoo_env.detect_odoo(args.python)
    if not install.importable:
        say(banner([f'ODOO TESTS SKIPPED: {install.reason}',
                    'Install Odoo 19 so that `python3 -c "import odoo"` works to run them.']))
        say('odoo: 0 tests run (ODOO TESTS SKIPPED: odoo is not importable)')
        return 0

    try:
        modules, tags, extra_paths, notices, has_tests = select(args, install)
    except ValueError as err:
        say(f'ERROR: {err}')
        say('odoo: 0 tests run (configuration error)')
        return 2

    if args.prove_exclusions:
        return prove_exclusions(args, install, modules, tags, extra_paths)

    say(f'== Odoo tests: Odoo {install.version} ({", ".join(install.package_dirs)})')
    if install.reason:
        say(f'   note: {install.reason}')
    say(f'   install: {", ".join(modules)}{" (with demo data)" if args.with_demo else ""}')
    say(f'   tags:    {",".join(tags)}')
    for notice in notices:
        say(f'   notice:  {notice}')
    found = browser.ensure_browser(args.python, install=not args.no_browser_install, say=say)
    if found.usable:
        say(f'   browser: {found.executable} ({found.version})'
            + (' - installed by this run' if found.installed else ''))
    else:
        say(browser.banner(found.reason))
    try:
        runner, elapsed, log_path = run_odoo(args, install, modules, tags, extra_paths)
    except pgcluster.PgClusterError as err:
        say(f'ERROR: {err}')
        say('odoo: 0 tests run (no PostgreSQL)')
        return 2
    except (KeyboardInterrupt, procutil.Terminated):
        say('odoo: interrupted')
        return 130

    log = runner.log
    passed, failed, skipped = log.counts()
    reasons = []
    if failed:
        reasons.append(f'{failed} test(s) failed or errored')
    if log.log_errors:
        reasons.append(f'{len(log.log_errors)} error record(s) in the Odoo log '
                       'outside test results')
    if runner.timed_out:
        reasons.append(f'timed out after {args.timeout:g} min')
    if log.final is None:
        reasons.append('Odoo stopped without reporting test results '
                       f'(exit code {runner.returncode})')
    elif runner.returncode not in (0, None) and not failed:
        reasons.append(f'Odoo exited with code {runner.returncode}')
    if log.tests_run == 0 and has_tests:
        reasons.append('no test ran')

    say('')
    if reasons:
        print_failures(log)
        if log.final is None and not log.log_errors:
            say(f'Last lines of the Odoo log ({log_path}):')
            for line in tail(log_path):
                sys.stdout.write('    ' + line)
    say(f'== Odoo tests finished in {procutil.fmt_duration(elapsed)}; full log: {log_path}')
    per_module = {}
    for module, _test in log.started:
        per_module[module] = per_module.get(module, 0) + 1
    for module, count in sorted(per_module.items()):
        say(f'   {module}: {count} test(s) started')
    if log.final is not None:
        say(f'   Odoo: {log.final["failed"]} failed, {log.final["errors"]} error(s) of '
            f'{log.final["run"]} tests')
    say(f'   result: {"FAILED: " + "; ".join(reasons) if reasons else "OK"}')
    report_browser_skips(log, found)
    if reasons and not failed:
        failed = 1  # a failed run never closes on "0 failed": the run itself counts as one
    say(f'odoo: {passed} passed, {failed} failed, {skipped} skipped')
    return 1 if reasons else 0


if __name__ == '__main__':
    sys.exit(main())
