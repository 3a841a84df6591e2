"""Helpers shared by the benchmark scripts: imports, timing, memory and table printing.

The scripts are run directly (``python3 tests/benchmarks/bench_routing.py``), so this
module is imported by its bare name. It mounts the addons' framework-free packages the
way ``tests/conftest.py`` does (``addons.sms_router.engine...``), puts ``tests/`` on
``sys.path`` for the provider sandbox, and offers a few measurement tools.
"""
import gc
import os
import platform
import resource
import sys
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / 'tests'
ADDONS = ('sms_router', 'sms_router_sweego', 'sms_router_twilio', 'sms_router_ovh')

try:
    import psutil
except ImportError:  # Odoo requires it, but the pure benchmarks must not
    psutil = None


def mount_addons():
    """Make ``addons.<addon>`` importable without Odoo (engine and provider clients only)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    if 'addons' in sys.modules:
        return
    for name, path in [('addons', ROOT)] + [(f'addons.{a}', ROOT / a) for a in ADDONS]:
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module


def add_tests_to_path():
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


# ------------------------------------------------------------------------------- timing

def best_of(function, repeat=7, number=1):
    """Best wall time (seconds) of ``number`` calls of ``function``, over ``repeat`` runs.

    Like ``timeit``, the garbage collector is paused while timing: the best run is the
    one least disturbed by the rest of the machine.
    """
    best = float('inf')
    enabled = gc.isenabled()
    try:
        for _ in range(repeat):
            gc.collect()
            gc.disable()
            started = time.perf_counter()
            for _ in range(number):
                function()
            best = min(best, time.perf_counter() - started)
            if enabled:
                gc.enable()
    finally:
        if enabled:
            gc.enable()
    return best


def interleaved_best(functions, repeat=7):
    """{name: best time} of each function, timed in turns (a, b, c, a, b, c...) so that a
    slow spell of the machine hits every contender alike."""
    best = {name: float('inf') for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            best[name] = min(best[name], best_of(function, repeat=1))
    return best


# ------------------------------------------------------------------------------- memory

def rss_bytes():
    """Current resident set size of this process."""
    if psutil is not None:
        return psutil.Process().memory_info().rss
    with open('/proc/self/statm', encoding='ascii') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def max_rss_bytes():
    """Peak resident set size of this process since it started (getrusage)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == 'darwin' else peak * 1024


class RssSampler:
    """Samples this process's RSS in a background thread; ``peak`` is the highest seen.

    Unlike ``ru_maxrss``, it can be restarted, so the peak of one phase is measured
    without the earlier phases.
    """

    def __init__(self, interval=0.01):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self.peak = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name='rss-sampler', daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def mib(value):
    return value / (1024 * 1024)


# ------------------------------------------------------------------------------- output

def machine_line():
    cpus = os.cpu_count()
    return (f'Python {platform.python_version()} on {platform.system()} {platform.machine()}, '
            f'{cpus} CPU{"s" if cpus != 1 else ""}')


def table(headers, rows, aligns=None):
    """A Markdown table (readable in a terminal, pasteable in a README)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    aligns = aligns or ['<'] + ['>'] * (len(headers) - 1)

    def line(values):
        parts = (f'{v:{a}{w}}' for v, a, w in zip(values, aligns, widths, strict=True))
        return '| ' + ' | '.join(parts) + ' |'

    rule = '|' + '|'.join(('-' * (w + 1) + ':') if a == '>' else ('-' * (w + 2))
                          for a, w in zip(aligns, widths, strict=True)) + '|'
    return '\n'.join([line(headers), rule] + [line(r) for r in cells])


class Verdicts:
    """PASS/FAIL lines against the targets; the scripts always exit 0."""

    def __init__(self):
        self.lines = []

    def check(self, ok, target, measured):
        self.lines.append((ok, target, measured))
        return ok

    def note(self, target, measured):
        self.lines.append((None, target, measured))

    def render(self):
        rows = [('PASS' if ok else 'FAIL' if ok is not None else 'INFO', target, measured)
                for ok, target, measured in self.lines]
        return table(('Verdict', 'Target', 'Measured'), rows, ['<', '<', '<'])

    @property
    def all_passed(self):
        return all(ok is not False for ok, _t, _m in self.lines)
