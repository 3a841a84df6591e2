"""Install the project's Python dependencies, as listed in pyproject.toml, with plain pip.

    python3 tests/harness/deps.py            # runtime dependencies
    python3 tests/harness/deps.py --test     # runtime + the `test` extra
    python3 tests/harness/deps.py --lint     # runtime + the `lint` extra (ruff, pylint-odoo)
    python3 tests/harness/deps.py --print    # only print the requirement lines

pip runs as ``<this python> -m pip``: the interpreter on PATH, so an active virtualenv is
honoured. Already satisfied requirements are left as they are (no upgrade), which keeps the
versions Odoo was installed with.
"""
import argparse
import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / 'pyproject.toml'


def _load_toml(text):
    try:
        import tomllib  # noqa: PLC0415  (Python 3.11+)
        return tomllib.loads(text)
    except ImportError:
        pass
    try:
        import tomli  # noqa: PLC0415
        return tomli.loads(text)
    except ImportError:
        return _mini_toml(text)


def _mini_toml(text):
    """Just enough TOML for the [project] dependency arrays (Python 3.10 without tomli)."""
    data = {}
    table = data
    lines = iter(text.splitlines())
    for raw in lines:
        line = _strip_comment(raw).strip()
        if not line:
            continue
        header = re.match(r'^\[([^\[\]]+)\]$', line)
        if header:
            table = data
            for part in header.group(1).split('.'):
                table = table.setdefault(part.strip().strip('"'), {})
            continue
        match = re.match(r'^("?[\w\-]+"?)\s*=\s*(.*)$', line)
        if not match:
            continue
        key, value = match.group(1).strip('"'), match.group(2).strip()
        while value.startswith('[') and value.count('[') > value.count(']'):
            value += ' ' + _strip_comment(next(lines)).strip()
        try:
            table[key] = ast.literal_eval(value.replace('true', 'True').replace('false', 'False'))
        except (ValueError, SyntaxError):
            table[key] = value
    return data


def _strip_comment(line):
    """Drop a '#' comment that is not inside a double-quoted string."""
    in_string = False
    for index, char in enumerate(line):
        if char == '"':
            in_string = not in_string
        elif char == '#' and not in_string:
            return line[:index]
    return line


def requirements(extras=()):
    project = _load_toml(PYPROJECT.read_text(encoding='utf-8')).get('project', {})
    reqs = list(project.get('dependencies', []))
    optional = project.get('optional-dependencies', {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f'no optional dependency group {extra!r} in {PYPROJECT}')
        reqs.extend(optional[extra])
    return reqs


def externally_managed():
    """True when pip would refuse to touch this interpreter (PEP 668) outside a venv."""
    import sysconfig  # noqa: PLC0415
    if sys.prefix != sys.base_prefix:
        return False
    marker = Path(sysconfig.get_path('stdlib')) / 'EXTERNALLY-MANAGED'
    return marker.exists()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--test', action='store_true', help='include the `test` extra')
    parser.add_argument('--lint', action='store_true',
                        help='include the `lint` extra (the pinned ruff and pylint-odoo)')
    parser.add_argument('--extra', action='append', default=[], help='include this extra')
    parser.add_argument('--print', action='store_true', dest='print_only',
                        help='print the requirements, one per line, and exit')
    args = parser.parse_args(argv)
    extras = list(args.extra) + (['test'] if args.test else []) + (['lint'] if args.lint else [])
    reqs = requirements(extras)
    if args.print_only:
        print('\n'.join(reqs))
        return 0
    print(f'[deps] {shlex.join([sys.executable, "-m", "pip", "install", *reqs])}', flush=True)
    cmd = [sys.executable, '-m', 'pip', 'install', '--disable-pip-version-check',
           '--progress-bar', 'off', *reqs]
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if 'externally-managed-environment' in result.stderr or externally_managed():
            print('[deps] This Python is managed by the system (PEP 668). Activate a virtualenv '
                  'that sees Odoo (python3 -m venv --system-site-packages .venv), or set '
                  'PIP_BREAK_SYSTEM_PACKAGES=1 if that is really wanted.', file=sys.stderr)
        return result.returncode
    installed = [ln for ln in result.stdout.splitlines() if ln.startswith('Successfully installed')]
    print(f'[deps] {installed[0] if installed else "all requirements already satisfied"}',
          flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
