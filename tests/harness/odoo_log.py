"""Read an Odoo 19 server log written with ``--log-level=test`` and count test results.

What Odoo 19 prints (``odoo/tests/result.py``, ``odoo/service/server.py``), one record per
line as ``<date> <time> <pid> <LEVEL> <db> <logger>: <message>``, continuation lines
(tracebacks) following their record; here with the date, time, pid and db left out::

    INFO odoo.addons.sms.tests.test_x: Starting TestX.test_a ...
    INFO odoo.addons.sms.tests.test_x: skipped TestX.test_b : why
    ERROR odoo.addons.sms.tests.test_x: FAIL: TestX.test_c
    Traceback (most recent call last): ...
    ERROR odoo.addons.sms.tests.test_x: ERROR: Subtest TestX.test_d (k=1)
    INFO odoo.tests.stats: sms: 13 tests 1.60s 1841 queries
    ERROR odoo.tests.result: 1 failed, 1 error(s) of 4 tests when loading database 'db'

The closing ``... of N tests when loading database`` line is the authority for the number of
tests run (skipped ones included). Odoo counts a failing sub-test once per sub-test, so the
failures are counted here per test method instead: passed = run - skipped - failed methods.
"""
import re
from dataclasses import dataclass, field

RECORD = re.compile(
    r'^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<pid>\d+) (?P<level>[A-Z_]+) '
    r'(?P<db>\S+) (?P<logger>[\w.\-]+): (?P<msg>.*)$')
FINAL = re.compile(r'(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<run>\d+) tests '
                   r'when loading database')
STARTING = re.compile(r'^Starting (?P<desc>.+?) \.\.\.$')
SKIPPED = re.compile(r'^skipped (?P<desc>.+?) :(?: (?P<reason>.*))?$')
PROBLEM = re.compile(r'^(?P<kind>FAIL|ERROR): (?P<desc>.+)$')
SUBTEST = re.compile(r'^Subtest (?P<desc>\S+)')
STATS = re.compile(r'^(?P<module>\w+): (?P<count>\d+) tests (?P<time>[\d.]+)s '
                   r'(?P<queries>\d+) queries')
TEST_LOGGER = re.compile(r'^odoo\.addons\.(?P<module>\w+)\.tests\b')
ADDON_IN_TEXT = re.compile(r'\bodoo\.addons\.(?P<module>\w+)\.tests\b')
# ERROR records that only repeat what the test results already say.
RESULT_ECHOES = (
    re.compile(r'^Module \w+: \d+ failures, \d+ errors of \d+ tests'),
    re.compile(r'^At least one test failed when loading the modules'),
    re.compile(r'^Test suite halted: max failed tests already reached'),
)


@dataclass
class Record:
    lineno: int
    level: str
    logger: str
    msg: str
    extra: list = field(default_factory=list)

    @property
    def text(self):
        return '\n'.join([self.msg, *self.extra]).rstrip()

    @property
    def module(self):
        match = TEST_LOGGER.match(self.logger)
        return match.group('module') if match else ''


@dataclass
class Problem:
    kind: str      # FAIL or ERROR
    module: str
    test: str      # Class.method, or what Odoo printed for class/module level errors
    record: Record

    def render(self):
        where = f'{self.module}: ' if self.module else ''
        return f'{self.kind}: {where}{self.record.text[len(self.kind) + 2:]}'


class OdooLog:
    """Incremental parser: feed lines (``feed``) as they come, then read the counts."""

    def __init__(self):
        self.lineno = 0
        self.records_seen = 0
        self.started = []          # (module, Class.method)
        self.skipped = []          # (module, Class.method)
        self.skip_reasons = {}     # (module, Class.method) -> why Odoo skipped it
        self.problems = []         # Problem
        self.log_errors = []       # ERROR/CRITICAL records that are not test results
        self.stats = {}            # module -> count reported by odoo.tests.stats
        self.final = None          # dict(failed, errors, run) from the closing line
        self.preamble = []         # lines before the first record (e.g. import errors)
        self._current = None

    # -- parsing -----------------------------------------------------------------------------
    def feed(self, line):
        """Parse one line; return the Record it completes or starts (or None)."""
        self.lineno += 1
        line = line.rstrip('\n').rstrip()
        match = RECORD.match(line)
        if not match:
            if self._current is not None:
                self._current.extra.append(line)
            elif line:
                self.preamble.append(line)
            return None
        self._finish()
        self.records_seen += 1
        self._current = Record(self.lineno, match['level'], match['logger'], match['msg'])
        return self._current

    def close(self):
        self._finish()
        return self

    def _finish(self):
        rec, self._current = self._current, None
        if rec is None:
            return
        module = rec.module
        if rec.logger == 'odoo.tests.result' and FINAL.search(rec.msg):
            final = FINAL.search(rec.msg)
            self.final = {k: int(v) for k, v in final.groupdict().items()}
            return
        if rec.logger == 'odoo.tests.stats':
            stat = STATS.match(rec.msg)
            if stat:
                self.stats[stat['module']] = int(stat['count'])
            return
        if module:
            started = STARTING.match(rec.msg)
            if started and rec.level == 'INFO':
                self.started.append((module, started['desc']))
                return
            skipped = SKIPPED.match(rec.msg)
            if skipped and rec.level == 'INFO':
                self.skipped.append((module, skipped['desc']))
                self.skip_reasons[(module, skipped['desc'])] = skipped['reason'] or ''
                return
        problem = PROBLEM.match(rec.msg)
        if problem and rec.level in ('ERROR', 'CRITICAL') and (module or rec.extra):
            desc = problem['desc']
            sub = SUBTEST.match(desc)
            test = sub['desc'] if sub else desc
            if not module:  # class/module level errors: "ERROR: setUpClass (odoo.addons.x...)"
                in_text = ADDON_IN_TEXT.search(desc)
                module = in_text['module'] if in_text else ''
            self.problems.append(Problem(problem['kind'], module, test, rec))
            return
        if rec.level in ('ERROR', 'CRITICAL'):
            if rec.logger.startswith('odoo.modules.loading') and any(
                    echo.match(rec.msg) for echo in RESULT_ECHOES):
                return
            if rec.logger == 'odoo.tests.result' and any(
                    echo.match(rec.msg) for echo in RESULT_ECHOES):
                return
            self.log_errors.append(rec)

    # -- results -----------------------------------------------------------------------------
    @property
    def tests_run(self):
        if self.final is not None:
            return self.final['run']
        return len(self.started)

    @property
    def failed_tests(self):
        """Distinct failing tests (a test failing in several sub-tests counts once)."""
        seen, out = set(), []
        for problem in self.problems:
            key = (problem.module, problem.test)
            if key not in seen:
                seen.add(key)
                out.append(key)
        return out

    def counts(self):
        """(passed, failed, skipped) per test method."""
        failed = self.failed_tests
        started = set(self.started)
        failed_started = sum(1 for key in failed if key in started)
        skipped = len(self.skipped)
        passed = max(self.tests_run - skipped - failed_started, 0)
        return passed, len(failed), skipped


def parse_lines(lines):
    log = OdooLog()
    for line in lines:
        log.feed(line)
    return log.close()


def parse_file(path):
    with open(path, encoding='utf-8', errors='replace') as handle:
        return parse_lines(handle)
