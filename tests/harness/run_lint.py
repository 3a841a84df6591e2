"""Lint the repository as `make lint` and CI do, with the tools pinned in pyproject.toml.

    python3 tests/harness/run_lint.py          # both tools
    python3 tests/harness/run_lint.py --fix    # let ruff fix what it can first

- ruff (settings in pyproject.toml) on our addons and on tests/;
- pylint with OCA's pylint-odoo plugin and OCA's mandatory checks (.pylintrc-mandatory)
  on our addons;
- OCA's checks of the rest of an addon (oca-odoo-pre-commit-hooks): ``oca-checks-odoo-module``
  on the manifests, XML data and views, CSV access rules, and ``oca-checks-po`` on the
  translation files (.pot, .po).

Our addons are the top-level directories holding a ``__manifest__.py``. Install the tools
with ``python3 tests/harness/deps.py --lint`` (``make lint`` does). Both tools always run;
the exit status is non-zero when either reports a problem or cannot run. The closing line
is ``lint: N passed, N failed`` (one per tool).
"""
import argparse
import importlib.util
import subprocess
import sys
import time
from importlib import metadata

import deps
import odoo_env

ROOT = odoo_env.REPO_ROOT
PYLINTRC = ROOT / '.pylintrc-mandatory'


def pinned_versions():
    """{distribution: version} of the ``name==version`` pins of the `lint` extra."""
    pins = {}
    for requirement in deps.requirements(['lint']):
        name, _sep, version = requirement.partition('==')
        if version:
            pins[name.strip().lower()] = version.strip()
    return pins


def installed_version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def oca_hook(entry_point, *args):
    """Command running one console script of oca-odoo-pre-commit-hooks with this Python."""
    return [sys.executable, '-c', f'import sys; from oca_pre_commit_hooks.{entry_point} import main; '
                                  'sys.exit(main())', *args]


def translation_files(addons):
    return sorted(str(path.relative_to(ROOT)) for addon in addons
                  for path in (ROOT / addon / 'i18n').glob('*.po*'))


def tools(addons, fix=False):
    """(name, distribution, module, command) of each tool, in the order they run."""
    ruff = [sys.executable, '-m', 'ruff', 'check', *(['--fix'] if fix else []), *addons, 'tests']
    pylint = [sys.executable, '-m', 'pylint', f'--rcfile={PYLINTRC}', *addons]
    return [
        ('ruff', 'ruff', 'ruff', ruff),
        ('pylint-odoo', 'pylint-odoo', 'pylint_odoo', pylint),
        ('oca-checks-odoo-module', 'oca-odoo-pre-commit-hooks', 'oca_pre_commit_hooks',
         oca_hook('cli', *addons)),
        ('oca-checks-po', 'oca-odoo-pre-commit-hooks', 'oca_pre_commit_hooks',
         oca_hook('cli_po', *translation_files(addons))),
    ]


def run_tool(name, distribution, module, command, pins):
    """Run one tool; return (ok, summary line)."""
    print(f'\n[lint] {name}: {" ".join(command[1:])}', flush=True)
    if importlib.util.find_spec(module) is None:
        return False, (f'{name}: not installed - FAILED (install it with '
                       f'`{sys.executable} tests/harness/deps.py --lint`)')
    version = installed_version(distribution)
    pinned = pins.get(distribution)
    if pinned and version != pinned:
        print(f'[lint] warning: {distribution} {version} installed, {pinned} pinned in '
              'pyproject.toml: findings may differ from CI', flush=True)
    start = time.monotonic()
    code = subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL, check=False).returncode
    seconds = time.monotonic() - start
    if code == 0:
        return True, f'{name} {version}: clean ({seconds:.0f}s)'
    return False, f'{name} {version}: problems found (exit {code}) - FAILED'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--fix', action='store_true', help='let ruff fix what it can')
    args = parser.parse_args(argv)
    addons = [addon.name for addon in odoo_env.addons_in(ROOT)]
    if not addons:
        print(f'lint: no addon (no directory with a __manifest__.py) in {ROOT} - FAILED')
        print('lint: 0 passed, 1 failed')
        return 1
    pins = pinned_versions()
    results = [run_tool(*tool, pins) for tool in tools(addons, fix=args.fix)]
    passed = sum(ok for ok, _line in results)
    print(flush=True)
    for _ok, line in results:
        print(line)
    print(f'lint: {passed} passed, {len(results) - passed} failed', flush=True)
    return 0 if passed == len(results) else 1


if __name__ == '__main__':
    sys.exit(main())
