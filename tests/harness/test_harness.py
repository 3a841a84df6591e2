"""Tests of the set-up and test tooling itself (no Odoo needed)."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import deps  # noqa: E402
import odoo_env  # noqa: E402
import odoo_log  # noqa: E402
import pgcluster  # noqa: E402
import procutil  # noqa: E402
import run_all  # noqa: E402
import run_odoo_tests  # noqa: E402

P = '2026-01-01 10:00:00,000 4242'
SAMPLE_LOG = f"""Running as user 'root' is a security risk.
{P} WARNING ? odoo.tools.config: missing --http-interface/http_interface
{P} INFO db odoo.modules.loading: Loading module sms (26/28)
{P} INFO db odoo.addons.sms.tests.test_a: Starting TestA.test_ok ...
{P} INFO db odoo.addons.sms.tests.test_a: Starting TestA.test_sub ...
{P} INFO db odoo.addons.sms.tests.test_a: ==========================================
{P} ERROR db odoo.addons.sms.tests.test_a: FAIL: Subtest TestA.test_sub (k=1)
Traceback (most recent call last):
  File "x.py", line 1, in test_sub
AssertionError: 1 != 2
{P} ERROR db odoo.addons.sms.tests.test_a: FAIL: Subtest TestA.test_sub (k=2)
Traceback (most recent call last):
AssertionError: 1 != 3
{P} ERROR db odoo.modules.loading: Module sms: 2 failures, 0 errors of 2 tests
{P} ERROR db odoo.modules.loading: At least one test failed when loading the modules.
{P} INFO db odoo.addons.mine.tests.test_b: Starting TestB.test_skip ...
{P} INFO db odoo.addons.mine.tests.test_b: skipped TestB.test_skip : not today
{P} INFO db odoo.addons.mine.tests.test_b: Starting TestB.test_boom ...
{P} ERROR db odoo.addons.mine.tests.test_b: ERROR: TestB.test_boom
Traceback (most recent call last):
RuntimeError: boom
{P} ERROR db unittest.suite: ERROR: setUpClass (odoo.addons.mine.tests.test_c.TestC)
Traceback (most recent call last):
ValueError: no
{P} ERROR db odoo.addons.mine.models.thing: something went wrong
{P} INFO db odoo.tests.stats: sms: 3 tests 0.10s 12 queries
{P} ERROR db odoo.tests.result: 3 failed, 2 error(s) of 5 tests when loading database 'db'
{P} INFO db odoo.service.server: Initiating shutdown
"""


def test_odoo_log_counts_per_test_method():
    log = odoo_log.parse_lines(SAMPLE_LOG.splitlines(keepends=True))
    assert log.final == {'failed': 3, 'errors': 2, 'run': 5}
    assert log.tests_run == 5
    assert log.failed_tests == [('sms', 'TestA.test_sub'), ('mine', 'TestB.test_boom'),
                                ('mine', 'setUpClass (odoo.addons.mine.tests.test_c.TestC)')]
    # 5 run - 1 skipped - 2 failing started tests; the setUpClass error counts as failed too.
    assert log.counts() == (2, 3, 1)
    assert log.stats == {'sms': 3}
    assert [r.msg for r in log.log_errors] == ['something went wrong']
    assert 'AssertionError: 1 != 2' in log.problems[0].render()
    assert log.preamble == ["Running as user 'root' is a security risk."]


def test_odoo_log_without_closing_line_counts_started_tests():
    lines = SAMPLE_LOG.splitlines(keepends=True)[:6]
    log = odoo_log.parse_lines(lines)
    assert log.final is None
    assert log.tests_run == 2


def test_odoo_log_clean_run():
    log = odoo_log.parse_lines([
        f'{P} INFO db odoo.addons.sms.tests.test_a: Starting TestA.test_ok ...\n',
        f"{P} INFO db odoo.tests.result: 0 failed, 0 error(s) of 1 tests when loading "
        "database 'db'\n",
    ])
    assert log.counts() == (1, 0, 0)
    assert not log.log_errors


@pytest.mark.parametrize('line, expected', [
    ('============ 12 passed, 2 skipped, 1 warning in 0.52s ============', (12, 0, 2)),
    ('=== 1 failed, 3 passed, 1 error in 1.02s (0:00:01) ===', (3, 2, 0)),
    ('2 passed, 1 xfailed in 0.01s', (2, 0, 1)),
    ('============================ no tests ran in 0.01s ============================',
     (0, 0, 0)),
])
def test_pytest_summary(line, expected):
    assert run_all.parse_pytest_summary(['collected 3 items', line, '']) == expected


def test_pytest_summary_missing():
    assert run_all.parse_pytest_summary(['ERROR: usage', '']) is None


def test_pyproject_dependencies_without_tomllib():
    text = deps.PYPROJECT.read_text(encoding='utf-8')
    parsed = deps._mini_toml(text)['project']
    assert parsed['name'] == 'sms-router'
    assert parsed['version'] == '19.0.1.0.0'
    assert {'requests', 'phonenumbers', 'pybreaker'} <= {
        r.split('>')[0].split('=')[0].strip() for r in parsed['dependencies']}
    assert any(r.startswith('pytest') for r in parsed['optional-dependencies']['test'])
    try:
        import tomllib
    except ImportError:
        return
    assert parsed['dependencies'] == tomllib.loads(text)['project']['dependencies']
    assert parsed['optional-dependencies'] == \
        tomllib.loads(text)['project']['optional-dependencies']


@pytest.mark.parametrize('tags, expected', [
    (['/sms', '/sms_router'], True),
    (['/sms_router'], False),
    (['/sms:TestX.test_y'], True),
    (['post_install'], True),
    (['-/sms', '/sms_twilio'], False),
])
def test_selects_module(tags, expected):
    assert run_odoo_tests.selects_module(tags, 'sms') is expected


def test_addons_discovery(tmp_path, monkeypatch):
    (tmp_path / 'good' / 'tests').mkdir(parents=True)
    (tmp_path / 'good' / '__manifest__.py').write_text("{'name': 'G', 'depends': ['sms']}")
    (tmp_path / 'good' / 'tests' / 'test_x.py').write_text('')
    (tmp_path / 'no_manifest').mkdir()
    found = odoo_env.addons_in(tmp_path)
    assert [a.name for a in found] == ['good']
    assert found[0].depends == ['sms'] and found[0].has_tests and found[0].installable
    monkeypatch.setenv(odoo_env.EXTRA_ADDONS_ENV, f'{tmp_path},{tmp_path}')
    assert odoo_env.extra_addons_paths() == [str(tmp_path.resolve())]
    assert 'good' in [a.name for a in odoo_env.our_addons(odoo_env.extra_addons_paths())]
    with pytest.raises(ValueError):
        odoo_env.our_addons([str(tmp_path)], only=['nope'])


def test_split_paths_accepts_commas_and_colons(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    assert odoo_env.split_paths(f'{a},{b}{os.pathsep}{a}') == [str(a), str(b), str(a)]
    assert odoo_env.split_paths('') == []


@pytest.mark.skipif(pgcluster.find_bindir() is None, reason='no PostgreSQL server binaries')
def test_throwaway_cluster_starts_and_is_removed():
    with pgcluster.PgCluster(quiet=True) as pg:
        basedir = pg.basedir
        assert os.path.exists(os.path.join(pg.socket_dir, f'.s.PGSQL.{pg.port}'))
        with socket.create_connection(('127.0.0.1', pg.port), timeout=5):
            pass
        assert '--db_user=odoo' in pg.odoo_args()
        if shutil.which('psql'):
            import subprocess
            out = subprocess.run(['psql', pg.dsn(), '-Atc', 'select rolsuper from pg_roles '
                                  "where rolname = 'odoo'"], capture_output=True, text=True,
                                 check=True, stdin=subprocess.DEVNULL)
            assert out.stdout.strip() == 't'
    assert not os.path.exists(basedir)


def test_output_reader_gives_lines_idle_ticks_and_the_rest():
    proc = subprocess.Popen(
        [sys.executable, '-u', '-c', "import time; print('a'); time.sleep(0.6); print('b'); print('c')"],
        stdout=subprocess.PIPE, text=True)
    output = procutil.OutputReader(proc)
    seen = []
    for line in output.lines(idle=0.2):
        seen.append(line)
        if line == 'b\n':
            break
    proc.wait()
    assert seen[0] == 'a\n' and '' in seen and seen[-1] == 'b\n'
    time.sleep(0.1)
    assert output.drain() == ['c\n']


def _fake_log(failure):
    """A parsed Odoo log where TestC.test_html ran and failed with ``failure`` (or passed)."""
    lines = [f'{P} INFO db odoo.addons.sms.tests.test_c: Starting TestC.test_html ...']
    if failure:
        lines += [f'{P} ERROR db odoo.addons.sms.tests.test_c: FAIL: TestC.test_html',
                  'Traceback (most recent call last):',
                  '  File "/x/test_c.py", line 12, in test_html',
                  f'AssertionError: {failure}']
    lines.append(f'{P} ERROR db odoo.tests.result: {int(bool(failure))} failed, 0 error(s) of 1 tests '
                 "when loading database 'db'")
    return odoo_log.parse_lines(lines)


@pytest.mark.parametrize('stock, ours, code, verdict', [
    ("'<p>a</p>' != 'a' (record 42)", "'<p>a</p>' != 'a' (record 97)", 0, 'proven: same failure'),
    (None, "'<p>a</p>' != 'a'", 1, 'passes on stock Odoo'),
    ("'<p>a</p>' != 'a'", "'b' != 'a'", 1, 'fails differently'),
])
def test_prove_exclusions_needs_the_same_failure_on_stock_odoo(monkeypatch, capsys, stock, ours,
                                                                code, verdict):
    runs = []

    def fake_run(args, install, modules, tags, extra_paths, stock=False, label=''):
        runs.append((stock, tuple(modules), tuple(tags)))
        runner = run_odoo_tests.Runner(args, install, None)
        runner.log = _fake_log(stock_failure if stock else ours_failure)
        return runner, 1.0, None

    stock_failure, ours_failure = stock, ours
    monkeypatch.setattr(run_odoo_tests, 'run_odoo', fake_run)
    install = odoo_env.OdooInstall(importable=True)
    result = run_odoo_tests.prove_exclusions(
        None, install, ['sms_router', 'sms'], ['/sms_router', '/sms', '-/sms:TestC.test_html'], [])
    out = capsys.readouterr().out
    assert result == code
    assert verdict in out
    # Stock Odoo installs only the addon of the excluded test, and runs only that test.
    assert runs == [(True, ('sms',), ('/sms:TestC.test_html',)),
                    (False, ('sms_router', 'sms'), ('/sms:TestC.test_html',))]


def test_prove_exclusions_with_nothing_excluded_says_so(capsys):
    class Install:
        libxml2 = (2, 10, 3)
    assert run_odoo_tests.prove_exclusions(None, Install(), ['sms'], ['/sms'], []) == 0
    assert 'nothing to prove' in capsys.readouterr().out


@pytest.mark.parametrize('code, lines, expected', [
    (0, ['[drills] x ...', '36/36 drills passed in 13m17s; 2827 SMS, 0 lost, 16 duplicated.'],
     (True, 'drills: 36 passed, 0 failed', (36, 0, 0))),
    (1, ['34/36 drills passed in 9m38s; 2827 SMS, 1000 lost, 18 duplicated.'],
     (False, 'drills: 34 passed, 2 failed', (34, 2, 0))),
    (2, ['ERROR: installing the addons failed (exit 1)'],
     (False, 'drills: no result line (exit 2) - FAILED', None)),
])
def test_drills_result_reads_the_closing_line(code, lines, expected):
    assert run_all.drills_result(code, lines) == expected


def test_drills_skipped_without_odoo_is_reported_as_skipped(capsys):
    ok, line, counts = run_all.drills_result(0, ['DRILLS SKIPPED: odoo is not importable'])
    assert ok and line.endswith('- SKIPPED') and counts == (0, 0, 0)
    assert 'did NOT run' in capsys.readouterr().out


@pytest.mark.parametrize('argv, drills_ran', [([], True), (['--no-drills'], False)])
def test_run_all_summarises_the_four_parts(monkeypatch, capsys, tmp_path, argv, drills_ran):
    outputs = {
        'pytest': ['===== 3 passed, 1 skipped in 0.50s ====='],
        'run_odoo_tests.py': ['odoo: 10 passed, 0 failed, 0 skipped'],
        'check_wheels.py': ['wheels: 27 passed, 0 failed'],
        'run_drills.py': ['36/36 drills passed in 13m17s; 2827 SMS, 0 lost, 16 duplicated.'],
    }
    ran = []

    def fake_stream(cmd, log_path):
        part = next(name for name in outputs if any(str(arg).endswith(name) for arg in cmd))
        ran.append(part)
        return 0, outputs[part]
    monkeypatch.setattr(run_all, 'stream', fake_stream)
    monkeypatch.setattr(run_all, 'RUN_DIR', tmp_path)
    assert run_all.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert ('run_drills.py' in ran) is drills_ran
    assert out[-1] == ('total: 76 passed, 0 failed, 1 skipped' if drills_ran
                       else 'total: 40 passed, 0 failed, 1 skipped')
    expected = 'drills: 36 passed, 0 failed' if drills_ran else 'drills: not run (--no-drills) - SKIPPED'
    assert expected in out
    assert any(line.startswith('SKIPPED drills') for line in out) is not drills_ran
