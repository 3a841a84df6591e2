"""Run the whole test suite: the pytest suite, the Odoo tests, the wheel check, the failure
drills; summarise them.

    python3 tests/harness/run_all.py [--no-drills] [-- extra options for run_odoo_tests.py]

All four parts always run (``--no-drills`` leaves the drills out, about 14 minutes of the
total, and says so in the summary). The exit status is non-zero when any failed; pytest's "no tests
collected" (exit 5) counts as a failure. The last lines are one summary line per part and a
total, each of the form ``<part>: N passed, N failed, N skipped`` (``wheels: N passed, N failed``
for the wheel check, whose checks are never skipped one by one; ``drills: N passed, N failed``
from the drills' closing line). When the Odoo part had no browser for its tours, a banner
``BROWSER TESTS SKIPPED`` comes just before the total (the tours are in the skipped count).
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUN_DIR = ROOT / '.run'

PYTEST_COUNT = re.compile(r'(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)')
PYTEST_DURATION = re.compile(r' in [\d.]+s\b')
ODOO_FINAL = re.compile(r'^odoo: (?:(\d+) passed, (\d+) failed, (\d+) skipped|(.*))$')
DRILLS_FINAL = re.compile(r'^(\d+)/(\d+) drills passed in ')
BROWSER_SKIPPED = re.compile(r'^browser: (?P<count>\d+) test\(s\) skipped - (?P<notice>BROWSER TESTS SKIPPED: .*)$')
WHEELS_FINAL = re.compile(r'^wheels: (?:(\d+) passed, (\d+) failed(?:, (\d+) skipped)?|(.*))$')


def parse_pytest_summary(lines):
    """(passed, failed, skipped) from pytest's closing line; failed includes errors."""
    for line in reversed(lines):
        line = line.strip().strip('=').strip()
        if not PYTEST_DURATION.search(line):
            continue
        counts = {kind: int(n) for n, kind in PYTEST_COUNT.findall(line)}
        if not counts and 'no tests ran' not in line:
            continue
        passed = counts.get('passed', 0) + counts.get('xpassed', 0)
        failed = counts.get('failed', 0) + counts.get('error', 0) + counts.get('errors', 0)
        skipped = counts.get('skipped', 0) + counts.get('xfailed', 0)
        return passed, failed, skipped
    return None


def stream(cmd, log_path):
    """Run ``cmd``, echo its output and keep it in ``log_path``; return (exit code, lines)."""
    lines = []
    with open(log_path, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors='replace', bufsize=1,
                                env=dict(os.environ, PYTHONUNBUFFERED='1'))
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                log.write(line)
                lines.append(line.rstrip('\n'))
        finally:
            try:
                proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait()
    return proc.returncode, lines


def drills_result(code, lines):
    """(ok, summary line, counts) of a drill run from its exit code and output."""
    if any('DRILLS SKIPPED' in line for line in lines):
        reason = next(line for line in lines if 'DRILLS SKIPPED' in line).strip()
        print(f'\n{"#" * 78}\n# {reason}\n# The failure drills need Odoo 19: they did NOT run.\n{"#" * 78}',
              flush=True)
        return code == 0, f'drills: 0 run ({reason}) - SKIPPED', (0, 0, 0)
    for line in reversed(lines):
        match = DRILLS_FINAL.match(line.strip())
        if match:
            passed, run = int(match.group(1)), int(match.group(2))
            return code == 0, f'drills: {passed} passed, {run - passed} failed', (passed, run - passed, 0)
    return False, f'drills: no result line (exit {code}) - FAILED', None


def browser_skipped(lines):
    """(count, notice) when the Odoo part skipped its browser tests (tours), else None."""
    for line in reversed(lines):
        match = BROWSER_SKIPPED.match(line.strip())
        if match:
            return int(match['count']), match['notice']
    return None


def section(title):
    print(f'\n{"=" * 30} {title} {"=" * max(0, 46 - len(title))}', flush=True)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    with_drills = '--no-drills' not in argv
    argv = [arg for arg in argv if arg != '--no-drills']
    if argv and argv[0] == '--':
        argv = argv[1:]
    RUN_DIR.mkdir(exist_ok=True)
    results = []  # (name, ok, line, seconds)

    section('pytest')
    start = time.monotonic()
    code, lines = stream([sys.executable, '-m', 'pytest'], RUN_DIR / 'pytest.log')
    counts = parse_pytest_summary(lines)
    if code == 5:
        pytest_line, ok = 'pytest: 0 tests collected (pytest exit 5: no tests) - FAILED', False
    elif counts is None:
        pytest_line, ok = f'pytest: no result line (pytest exit {code}) - FAILED', False
    else:
        passed, failed, skipped = counts
        ok = code == 0
        if not ok and failed == 0:
            failed = 1  # e.g. a collection/usage error that pytest did not count as a test
        pytest_line = f'pytest: {passed} passed, {failed} failed, {skipped} skipped'
    results.append(('pytest', ok, pytest_line, time.monotonic() - start, counts))

    section('odoo')
    start = time.monotonic()
    code, lines = stream([sys.executable, str(HERE / 'run_odoo_tests.py'), *argv],
                         RUN_DIR / 'odoo-tests-output.log')
    odoo_line, odoo_counts = 'odoo: no result line - FAILED', None
    for line in reversed(lines):
        match = ODOO_FINAL.match(line.strip())
        if match:
            odoo_line = line.strip()
            if match.group(1) is not None:
                odoo_counts = tuple(int(match.group(i)) for i in (1, 2, 3))
            break
    results.append(('odoo', code == 0, odoo_line, time.monotonic() - start, odoo_counts))
    browser_skip = browser_skipped(lines)

    # The addons packaged as wheels, installed in a fresh venv, run from there by Odoo.
    section('wheels')
    start = time.monotonic()
    code, lines = stream([sys.executable, str(HERE / 'check_wheels.py')],
                         RUN_DIR / 'wheels-output.log')
    wheels_line, wheels_counts = 'wheels: no result line - FAILED', None
    for line in reversed(lines):
        match = WHEELS_FINAL.match(line.strip())
        if match:
            wheels_line = line.strip()
            if match.group(1) is not None:
                wheels_counts = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
            break
    results.append(('wheels', code == 0, wheels_line, time.monotonic() - start, wheels_counts))

    # Real Odoo workers against the provider sandbox: faults, kills, outages, slow providers.
    section('drills')
    start = time.monotonic()
    if with_drills:
        code, lines = stream([sys.executable, str(ROOT / 'tests' / 'drills' / 'run_drills.py')],
                             RUN_DIR / 'drills-output.log')
        ok, line, counts = drills_result(code, lines)
        results.append(('drills', ok, line, time.monotonic() - start, counts))
    else:
        print('DRILLS NOT RUN (--no-drills)', flush=True)
        results.append(('drills', True, 'drills: not run (--no-drills) - SKIPPED', 0.0, None))

    section('summary')
    total = [0, 0, 0]
    for name, ok, line, seconds, counts in results:
        status = ('SKIPPED' if 'SKIPPED' in line else 'OK') if ok else 'FAILED'
        print(f'{status:<7} {name:<7} {int(seconds):>5}s  {line}')
        passed, failed, skipped = counts or (0, 0, 0)
        if not ok and not failed:
            failed = 1  # a part that failed without a failing test (crash, no tests) counts once
        total = [total[0] + passed, total[1] + failed, total[2] + skipped]
    all_ok = all(ok for _name, ok, *_rest in results)
    print(f'logs: {RUN_DIR}/pytest.log, {RUN_DIR}/odoo-tests.log, {RUN_DIR}/wheels.log, '
          f'{RUN_DIR}/drills-output.log (and {RUN_DIR}/drills/<time>/)')
    for _name, _ok, line, _seconds, _counts in results:
        print(line)
    if browser_skip:
        # Said again at the very end: a green run without its browser tests is not a full one.
        count, notice = browser_skip
        print(f'{"#" * 78}\n# {notice}\n# {count} browser test(s) (Odoo tours) did NOT run: counted as '
              f'skipped above.\n{"#" * 78}')
    print(f'total: {total[0]} passed, {total[1]} failed, {total[2]} skipped', flush=True)
    return 0 if all_ok else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
