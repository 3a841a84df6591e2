"""Where Odoo and our addons are, and how to start Odoo.

Odoo is found only by importing ``odoo`` with the running Python: its addons paths derive
from the package (``<odoo>/addons`` for the core addons and, when it exists, the ``addons``
directory beside the package, as in a source checkout). ``ODOO_ADDONS_PATH`` (comma or
``os.pathsep`` separated) adds directories in front of those.

Our addons are the top-level directories of the repository holding a ``__manifest__.py``.
``SMS_ROUTER_EXTRA_ADDONS_PATH`` (or ``--extra-addons-path`` of the scripts) adds directories
whose addons are treated as ours too: installed and tested with them.

Run as a script to print what was found:  python3 tests/harness/odoo_env.py
"""
import ast
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = REPO_ROOT / '.run'
EXTRA_ADDONS_ENV = 'SMS_ROUTER_EXTRA_ADDONS_PATH'
ADDONS_PATH_ENV = 'ODOO_ADDONS_PATH'


def split_paths(value):
    """Split a list of directories given as 'a,b' or 'a:b'."""
    if not value:
        return []
    parts = []
    for chunk in value.split(','):
        parts.extend(p for p in chunk.split(os.pathsep) if p.strip())
    return [str(Path(p.strip()).expanduser().resolve()) for p in parts]


def _dedupe(paths):
    seen, out = set(), []
    for path in paths:
        if path not in seen:
            seen.add(path)
            out.append(path)
    return out


@dataclass
class Addon:
    name: str
    path: Path
    manifest: dict

    @property
    def depends(self):
        return list(self.manifest.get('depends', []))

    @property
    def installable(self):
        return bool(self.manifest.get('installable', True))

    @property
    def has_tests(self):
        tests = self.path / 'tests'
        return tests.is_dir() and any(tests.glob('test_*.py'))


def read_manifest(addon_dir):
    manifest = Path(addon_dir) / '__manifest__.py'
    try:
        data = ast.literal_eval(manifest.read_text(encoding='utf-8'))
    except (OSError, ValueError, SyntaxError) as err:
        raise ValueError(f'unreadable manifest {manifest}: {err}') from err
    if not isinstance(data, dict):
        raise ValueError(f'manifest {manifest} is not a dict')
    return data


def addons_in(directory):
    """Addons (directories with a __manifest__.py) directly inside ``directory``, sorted."""
    directory = Path(directory)
    found = []
    if not directory.is_dir():
        return found
    for child in sorted(directory.iterdir()):
        if child.name.startswith(('.', '_')) or not (child / '__manifest__.py').is_file():
            continue
        found.append(Addon(child.name, child, read_manifest(child)))
    return found


@dataclass
class OdooInstall:
    importable: bool
    reason: str = ''
    version: str = ''
    python: str = ''
    libxml2: tuple = ()
    package_dirs: list = field(default_factory=list)
    addons_paths: list = field(default_factory=list)
    command: list = field(default_factory=list)

    def has_addon(self, name):
        return any((Path(p) / name / '__manifest__.py').is_file() for p in self.addons_paths)

    def addon_path(self, name):
        for path in self.addons_paths:
            if (Path(path) / name / '__manifest__.py').is_file():
                return Path(path) / name
        return None


def _probe_odoo(python):
    """Import odoo in ``python``; return (version, package dirs) or raise RuntimeError."""
    code = (
        'import json, odoo\n'
        'try:\n'
        '    from odoo import release\n'
        '    version = release.version\n'
        'except Exception:\n'
        '    version = getattr(odoo, "__version__", "?")\n'
        'try:\n'
        '    from lxml import etree\n'
        '    libxml2 = list(etree.LIBXML_VERSION)\n'
        'except Exception:\n'
        '    libxml2 = None\n'
        'print(json.dumps({"version": version, "path": list(odoo.__path__),\n'
        '                  "libxml2": libxml2}))\n'
    )
    result = subprocess.run([python, '-c', code], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, cwd='/', check=False)
    if result.returncode != 0:
        lines = [ln for ln in (result.stderr or '').strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f'python exited {result.returncode}')
    import json  # noqa: PLC0415
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data['version'], data['path'], tuple(data['libxml2'] or ())


def _odoo_command(python):
    """How to start Odoo with this install: ``python -m odoo`` when it answers, else fallbacks."""
    candidates = [
        [python, '-m', 'odoo'],
        [python, '-c', 'from odoo.cli.command import main; main()'],
    ]
    for cmd in candidates:
        result = subprocess.run(cmd + ['--version'], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, cwd='/', check=False)
        if result.returncode == 0 and 'Odoo' in (result.stdout + result.stderr):
            return cmd
    return candidates[0]


def detect_odoo(python=None):
    """Describe the Odoo importable by ``python`` (default: this interpreter)."""
    python = python or sys.executable
    try:
        version, package_dirs, libxml2 = _probe_odoo(python)
    except RuntimeError as err:
        return OdooInstall(importable=False,
                           reason=f'`import odoo` fails in {python}: {err}')
    paths = split_paths(os.environ.get(ADDONS_PATH_ENV, ''))
    for pkg in package_dirs:
        pkg = Path(pkg).resolve()
        if (pkg / 'addons').is_dir():
            paths.append(str(pkg / 'addons'))
        sibling = pkg.parent / 'addons'
        if sibling.is_dir():
            paths.append(str(sibling))
    install = OdooInstall(importable=True, version=version, python=python, libxml2=libxml2,
                          package_dirs=[str(p) for p in package_dirs],
                          addons_paths=_dedupe(paths))
    if not version.startswith('19.'):
        install.reason = f'Odoo {version} found; this repository targets Odoo 19'
    install.command = _odoo_command(python)
    return install


def our_addons(extra_paths=(), only=None):
    """Our addons: the repository's, then those of ``extra_paths``; ``only`` narrows by name."""
    addons = addons_in(REPO_ROOT)
    for path in extra_paths:
        addons.extend(addons_in(path))
    if only:
        wanted = set(only)
        unknown = wanted - {a.name for a in addons}
        if unknown:
            raise ValueError(f'unknown addon(s): {", ".join(sorted(unknown))} '
                             f'(known: {", ".join(a.name for a in addons) or "none"})')
        addons = [a for a in addons if a.name in wanted]
    return addons


def extra_addons_paths(cli_values=()):
    paths = split_paths(os.environ.get(EXTRA_ADDONS_ENV, ''))
    for value in cli_values or ():
        paths.extend(split_paths(value))
    return _dedupe(paths)


def addons_path_option(install, extra_paths=()):
    """Value of Odoo's --addons-path: Odoo's paths, the repository root, extra paths."""
    paths = list(install.addons_paths)
    if addons_in(REPO_ROOT):
        paths.append(str(REPO_ROOT))
    paths.extend(extra_paths)
    return ','.join(_dedupe(paths))


def odoo_environ(**extra):
    """Environment for an Odoo child: no stray libpq settings, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('PG')}
    env['PYTHONUNBUFFERED'] = '1'
    env.update({k: str(v) for k, v in extra.items()})
    return env


def main():
    install = detect_odoo()
    if not install.importable:
        print(f'Odoo: not importable ({install.reason})')
    else:
        print(f'Odoo {install.version}: package {", ".join(install.package_dirs)}')
        print(f'  command: {" ".join(install.command)}')
        print(f'  libxml2: {".".join(map(str, install.libxml2)) or "?"}')
        for path in install.addons_paths:
            print(f'  addons path: {path}')
        if install.reason:
            print(f'  note: {install.reason}')
    extra = extra_addons_paths()
    addons = our_addons(extra)
    print(f'Repository: {REPO_ROOT}')
    if not addons:
        print('  no addon with a __manifest__.py yet')
    for addon in addons:
        print(f'  addon {addon.name}: depends {", ".join(addon.depends) or "-"}; '
              f'tests: {"yes" if addon.has_tests else "no"} ({addon.path})')
    return 0


if __name__ == '__main__':
    sys.exit(main())


def test_run_options(database, modules, tags, http_port, data_dir, db_options):
    """Odoo's command-line options for a test run that installs ``modules`` in
    ``database``, runs the tests selected by ``tags`` and stops (threaded server, one HTTP
    worker on 127.0.0.1 for HttpCase tests, no cron thread)."""
    return [
        f'--database={database}',
        f'--init={",".join(modules)}',
        '--test-enable',
        f'--test-tags={",".join(tags)}',
        '--stop-after-init',
        f'--http-port={http_port}',
        '--http-interface=127.0.0.1',
        '--workers=0',
        '--max-cron-threads=0',
        '--log-level=test',
        f'--data-dir={data_dir}',
        *db_options,
    ]
