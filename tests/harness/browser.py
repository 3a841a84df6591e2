"""The browser Odoo's tours need: a headless Chromium, found as Odoo finds it.

Odoo runs each tour (``HttpCase.start_tour``) in Chrome or Chromium, which it looks up on
PATH under the names of ``odoo/tests/common.py:_find_executable`` (Linux), and drives over
the DevTools websocket with the ``websocket-client`` module. When either is missing, or the
browser does not start, Odoo *skips* the tour (``unittest.SkipTest``): it is counted as
skipped, never as passed. This module looks for the browser before an Odoo test run, installs
Debian's ``chromium`` package when it may (root, apt-get available, not turned off), and
tells which skipped tests were browser tests, so that the test command can say so loudly.

    python3 tests/harness/browser.py [--install]     # what an Odoo test run would use
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass

# Odoo 19's search order on Linux (odoo/tests/common.py, _find_executable).
EXECUTABLES = ('google-chrome', 'chromium', 'chromium-browser', 'google-chrome-stable')
DEBIAN_PACKAGE = 'chromium'
NO_INSTALL_ENV = 'SMS_ROUTER_NO_BROWSER_INSTALL'
BANNER_TITLE = 'BROWSER TESTS SKIPPED'
# Reasons Odoo gives when it skips a browser test (odoo/tests/common.py, ChromeBrowser).
SKIP_REASON = re.compile(r'chrome|chromium|websocket-client|devtools|browser', re.IGNORECASE)


@dataclass
class Browser:
    executable: str = ''       # what Odoo will run; empty when none
    version: str = ''
    reason: str = ''           # why there is none (or why it does not work)
    installed: bool = False    # installed by this run

    @property
    def usable(self):
        return bool(self.executable) and not self.reason


def find_executable(path=None):
    """The browser Odoo would pick on ``path`` (default: PATH), or ''."""
    for name in EXECUTABLES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return ''


def browser_version(executable, timeout=30):
    """(version line, error): whether the browser runs at all."""
    try:
        result = subprocess.run([executable, '--headless', '--no-sandbox', '--version'],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return '', f'{executable} does not run: {err}'
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ['no output']
        return '', f'{executable} --version exited with {result.returncode}: {detail[0]}'
    return result.stdout.strip(), ''


def has_websocket_client(python):
    """Whether ``python`` (the one that runs Odoo) imports ``websocket`` (websocket-client)."""
    try:
        result = subprocess.run([python, '-c', 'import websocket'], stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def can_install(environ=None):
    """(True, '') when Debian's package may be installed here, else (False, why not)."""
    environ = os.environ if environ is None else environ
    if environ.get(NO_INSTALL_ENV):
        return False, f'{NO_INSTALL_ENV} is set'
    if not shutil.which('apt-get'):
        return False, 'no apt-get here'
    if not hasattr(os, 'geteuid') or os.geteuid() != 0:
        return False, f'not root: run `apt-get install {DEBIAN_PACKAGE}` as root'
    return True, ''


def install_chromium(say):
    """Install Debian's chromium package with apt-get; return (ok, error)."""
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    cmd = ['apt-get', 'install', '-y', '--no-install-recommends', DEBIAN_PACKAGE]
    for attempt in ('install', 'update then install'):
        if attempt != 'install':
            say('[browser] apt-get update')
            subprocess.run(['apt-get', 'update'], stdin=subprocess.DEVNULL, capture_output=True,
                           env=env, check=False, timeout=600)
        say(f'[browser] {" ".join(cmd)}')
        try:
            result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    env=env, check=False, timeout=1200)
        except (OSError, subprocess.TimeoutExpired) as err:
            return False, f'apt-get failed: {err}'
        if result.returncode == 0:
            return True, ''
    last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ['no output']
    return False, f'apt-get install {DEBIAN_PACKAGE} exited with {result.returncode}: {last[0]}'


def ensure_browser(python=sys.executable, install=True, say=print):
    """The browser for Odoo's tours, installed when missing and allowed."""
    if not has_websocket_client(python):
        return Browser(reason=f'the websocket-client module is not importable by {python} '
                              '(pip install websocket-client)')
    executable = find_executable()
    installed = False
    if not executable:
        allowed, why_not = can_install() if install else (False, 'installation turned off')
        if not allowed:
            return Browser(reason=f'none of {", ".join(EXECUTABLES)} is on PATH; '
                                  f'not installing {DEBIAN_PACKAGE} ({why_not})')
        say(f'[browser] no Chromium on PATH: installing Debian\'s {DEBIAN_PACKAGE} package')
        ok, error = install_chromium(say)
        if not ok:
            return Browser(reason=f'none of {", ".join(EXECUTABLES)} is on PATH and {error}')
        executable = find_executable()
        if not executable:
            return Browser(reason=f'{DEBIAN_PACKAGE} installed but none of {", ".join(EXECUTABLES)} '
                                  'is on PATH')
        installed = True
    version, error = browser_version(executable)
    return Browser(executable=executable, version=version, reason=error, installed=installed)


def banner(reason, char='#'):
    """The loud notice of a run whose browser tests are skipped."""
    lines = [*textwrap.wrap(f'{BANNER_TITLE}: {reason}', 88, subsequent_indent='    ', break_on_hyphens=False),
             "Odoo's tours (HttpCase.start_tour) need Chromium: they are counted as SKIPPED,",
             'not passed. Install it (Debian: apt-get install chromium) and run again.']
    width = max(len(line) for line in lines) + 4
    return '\n'.join([char * width, *(f'{char} {line.ljust(width - 4)} {char}' for line in lines),
                      char * width])


def browser_skips(log):
    """[(module, test, reason)] of the tests an Odoo log says were skipped for want of a
    browser (``log``: an odoo_log.OdooLog)."""
    return [(module, test, reason) for (module, test), reason in log.skip_reasons.items()
            if SKIP_REASON.search(reason)]


def main(argv=None):
    parser = argparse.ArgumentParser(description='Show the browser Odoo tours would use.')
    parser.add_argument('--install', action='store_true',
                        help=f'install Debian\'s {DEBIAN_PACKAGE} when none is found (root only)')
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON', sys.executable))
    args = parser.parse_args(argv)
    found = ensure_browser(args.python, install=args.install)
    if found.usable:
        print(f'browser: {found.executable} ({found.version})')
        return 0
    print(banner(found.reason))
    return 1


if __name__ == '__main__':
    sys.exit(main())
