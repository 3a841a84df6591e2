"""The browser for Odoo's tours: how it is found or installed, and how a run without one is
reported (the tours counted as skipped, never passed, and said so loudly)."""
import os
import stat
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import browser  # noqa: E402
import odoo_log  # noqa: E402
import run_all  # noqa: E402
import run_odoo_tests  # noqa: E402

P = '2026-01-01 10:00:00,000 4242'
TOURS = 'odoo.addons.sms_router.tests.test_router_tours'
# What Odoo 19 logs when Chrome is not on PATH: each tour starts, warns and is skipped.
NO_CHROME_LOG = f"""{P} INFO db odoo.addons.sms_router.tests.test_router_routing: Starting TestRouting.test_a ...
{P} INFO db {TOURS}: Starting TestRouterTours.test_overview_breaker_tour ...
{P} WARNING db {TOURS}.TestRouterTours.test_overview_breaker_tour: Chrome executable not found
{P} INFO db {TOURS}: skipped TestRouterTours.test_overview_breaker_tour : Chrome executable not found
{P} INFO db {TOURS}: Starting TestRouterTours.test_route_tester_tour ...
{P} WARNING db {TOURS}.TestRouterTours.test_route_tester_tour: Chrome headless failed to start:
[0101/100000.000:ERROR:zygote_host_impl_linux.cc(100)] no usable sandbox
{P} INFO db {TOURS}: skipped TestRouterTours.test_route_tester_tour : Failed to detect chrome devtools port after 10.0s.
{P} INFO db odoo.addons.sms_router.tests.test_router_iap: Starting TestIap.test_b ...
{P} INFO db odoo.addons.sms_router.tests.test_router_iap: skipped TestIap.test_b : needs mass_mailing_sms
{P} INFO db odoo.tests.result: 0 failed, 0 error(s) of 4 tests when loading database 'db'
"""


def _executable(directory, name):
    path = directory / name
    path.write_text('#!/bin/sh\necho "Chromium 156.0.1 built on Debian"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_skipped_tours_are_counted_as_skipped_never_passed():
    log = odoo_log.parse_lines(NO_CHROME_LOG.splitlines(keepends=True))
    # 4 run: 1 passed, 3 skipped (2 tours and an ordinary skip), no failure.
    assert log.counts() == (1, 0, 3)
    assert not log.log_errors and not log.problems
    assert log.skip_reasons[('sms_router', 'TestRouterTours.test_overview_breaker_tour')] == \
        'Chrome executable not found'
    assert browser.browser_skips(log) == [
        ('sms_router', 'TestRouterTours.test_overview_breaker_tour', 'Chrome executable not found'),
        ('sms_router', 'TestRouterTours.test_route_tester_tour',
         'Failed to detect chrome devtools port after 10.0s.'),
    ]


def test_a_skip_without_reason_is_still_a_skip():
    log = odoo_log.parse_lines([
        f'{P} INFO db {TOURS}: Starting TestRouterTours.test_x ...\n',
        f'{P} INFO db {TOURS}: skipped TestRouterTours.test_x : \n',
        f"{P} INFO db odoo.tests.result: 0 failed, 0 error(s) of 1 tests when loading database 'db'\n",
    ])
    assert log.counts() == (0, 0, 1)
    assert log.skip_reasons == {('sms_router', 'TestRouterTours.test_x'): ''}
    assert browser.browser_skips(log) == []


def test_the_report_of_browser_skips_is_loud_and_read_back_by_run_all(capsys):
    log = odoo_log.parse_lines(NO_CHROME_LOG.splitlines(keepends=True))
    missing = browser.Browser(reason='none of google-chrome, chromium is on PATH; not installing '
                                     'chromium (not root)')
    assert run_odoo_tests.report_browser_skips(log, missing) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('####') and 'BROWSER TESTS SKIPPED: none of google-chrome' in out[1]
    assert '   skipped: sms_router: TestRouterTours.test_route_tester_tour (Failed to detect chrome ' \
           'devtools port after 10.0s.)' in out
    assert out[-1] == ('browser: 2 test(s) skipped - BROWSER TESTS SKIPPED: none of google-chrome, '
                       'chromium is on PATH; not installing chromium (not root)')
    assert run_all.browser_skipped(['odoo: 1 passed, 0 failed, 3 skipped', *out,
                                    'odoo: 1 passed, 0 failed, 3 skipped']) == \
        (2, out[-1].split(' - ', 1)[1])
    # A browser that was found but did not start: Odoo's own reason is the one given.
    assert run_odoo_tests.report_browser_skips(log, browser.Browser(executable='/usr/bin/chromium')) == 2
    assert 'BROWSER TESTS SKIPPED: Chrome executable not found' in capsys.readouterr().out


def test_a_run_with_a_browser_reports_nothing(capsys):
    log = odoo_log.parse_lines([
        f'{P} INFO db {TOURS}: Starting TestRouterTours.test_x ...\n',
        f"{P} INFO db odoo.tests.result: 0 failed, 0 error(s) of 1 tests when loading database 'db'\n",
    ])
    assert run_odoo_tests.report_browser_skips(log, browser.Browser(executable='/usr/bin/chromium')) == 0
    assert capsys.readouterr().out == ''
    assert run_all.browser_skipped(['odoo: 1 passed, 0 failed, 0 skipped']) is None


def test_run_all_repeats_the_banner_before_the_total(monkeypatch, capsys, tmp_path):
    odoo_output = ['#' * 20, '# BROWSER TESTS SKIPPED: no Chromium #',
                   'browser: 5 test(s) skipped - BROWSER TESTS SKIPPED: no Chromium',
                   'odoo: 10 passed, 0 failed, 5 skipped']
    outputs = {'pytest': ['===== 3 passed in 0.50s ====='], 'run_odoo_tests.py': odoo_output,
               'check_wheels.py': ['wheels: 27 passed, 0 failed']}

    def fake_stream(cmd, log_path):
        return 0, outputs[next(name for name in outputs if any(str(arg).endswith(name) for arg in cmd))]
    monkeypatch.setattr(run_all, 'stream', fake_stream)
    monkeypatch.setattr(run_all, 'RUN_DIR', tmp_path)
    assert run_all.main(['--no-drills']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == 'total: 40 passed, 0 failed, 5 skipped'
    assert out[-4:-1] == ['# BROWSER TESTS SKIPPED: no Chromium',
                          '# 5 browser test(s) (Odoo tours) did NOT run: counted as skipped above.', '#' * 78]


def test_find_executable_follows_odoos_order(tmp_path):
    assert browser.find_executable(path=str(tmp_path)) == ''
    chromium = _executable(tmp_path, 'chromium-browser')
    assert browser.find_executable(path=str(tmp_path)) == chromium
    chrome = _executable(tmp_path, 'google-chrome')
    assert browser.find_executable(path=str(tmp_path)) == chrome


def test_install_only_as_root_with_apt(monkeypatch):
    monkeypatch.setattr(browser.shutil, 'which', lambda name, path=None: None)
    assert browser.can_install({}) == (False, 'no apt-get here')
    monkeypatch.setattr(browser.shutil, 'which', lambda name, path=None: '/usr/bin/apt-get')
    monkeypatch.setattr(browser.os, 'geteuid', lambda: 1000)
    assert browser.can_install({})[0] is False
    assert 'not root' in browser.can_install({})[1]
    monkeypatch.setattr(browser.os, 'geteuid', lambda: 0)
    assert browser.can_install({}) == (True, '')
    assert browser.can_install({browser.NO_INSTALL_ENV: '1'}) == (False, f'{browser.NO_INSTALL_ENV} is set')


def _no_browser_here(monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))
    monkeypatch.setattr(browser, 'has_websocket_client', lambda python: True)


def test_without_a_browser_and_no_right_to_install(monkeypatch, tmp_path):
    _no_browser_here(monkeypatch, tmp_path)
    monkeypatch.setattr(browser, 'can_install', lambda: (False, 'not root'))
    monkeypatch.setattr(browser, 'install_chromium', None)  # never called
    found = browser.ensure_browser()
    assert not found.usable
    assert found.reason == ('none of google-chrome, chromium, chromium-browser, google-chrome-stable '
                            'is on PATH; not installing chromium (not root)')
    assert 'BROWSER TESTS SKIPPED: none of google-chrome' in browser.banner(found.reason)
    assert browser.ensure_browser(install=False).reason.endswith('(installation turned off)')


def test_without_a_browser_it_is_installed_when_allowed(monkeypatch, tmp_path):
    _no_browser_here(monkeypatch, tmp_path)
    said = []
    monkeypatch.setattr(browser, 'can_install', lambda: (True, ''))

    def install_chromium(say):
        _executable(tmp_path, 'chromium')
        return True, ''
    monkeypatch.setattr(browser, 'install_chromium', install_chromium)
    found = browser.ensure_browser(say=said.append)
    assert found.usable and found.installed
    assert found.executable == os.path.join(str(tmp_path), 'chromium')
    assert found.version == 'Chromium 156.0.1 built on Debian'
    assert "installing Debian's chromium package" in said[0]


def test_a_failed_install_or_a_broken_browser_is_a_reason(monkeypatch, tmp_path):
    _no_browser_here(monkeypatch, tmp_path)
    monkeypatch.setattr(browser, 'can_install', lambda: (True, ''))
    monkeypatch.setattr(browser, 'install_chromium', lambda say: (False, 'apt-get install chromium exited with 100'))
    assert browser.ensure_browser(say=lambda msg: None).reason.endswith('apt-get install chromium exited with 100')
    broken = tmp_path / 'chromium'
    broken.write_text('#!/bin/sh\necho "cannot open display" >&2\nexit 1\n')
    broken.chmod(0o755)
    found = browser.ensure_browser()
    assert not found.usable
    assert found.reason == f'{broken} --version exited with 1: cannot open display'


def test_without_websocket_client_tours_cannot_run(monkeypatch):
    monkeypatch.setattr(browser, 'has_websocket_client', lambda python: False)
    assert 'websocket-client' in browser.ensure_browser().reason
    assert browser.has_websocket_client(sys.executable) in (True, False)
