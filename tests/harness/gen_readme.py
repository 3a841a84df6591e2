"""Generate each addon's README.rst from its ``readme/`` fragments, in the OCA layout.

    python3 tests/harness/gen_readme.py                  (make readme) regenerate them all
    python3 tests/harness/gen_readme.py --addons a,b     only these addons
    python3 tests/harness/gen_readme.py --check          exit 1 when a README.rst is stale

OCA addons keep their documentation in ``<addon>/readme/*.md`` fragments (DESCRIPTION,
CONTEXT, INSTALL, CONFIGURE, USAGE, DEVELOP, ROADMAP, HISTORY, CONTRIBUTORS, CREDITS) and
generate README.rst from them and the manifest with ``oca-gen-addon-readme`` (OCA's
maintainer-tools, which is not published on PyPI). This script produces the same layout:

- the manifest's name as title, a comment saying the file is generated, with the *source
  digest* (sha256 of the manifest and of ``readme/``), the maturity and license badges;
- DESCRIPTION, then a table of contents, then one section per fragment present, in OCA's
  order and with OCA's titles (Use Cases / Context, Installation, Configuration, Usage,
  Development, Known issues / Roadmap, Changelog);
- Bug Tracker, then Credits: Authors (from the manifest), Contributors and Other credits
  (fragments), Maintainers (from the manifest).

Markdown fragments are converted to reStructuredText with pandoc, with OCA's options (GitHub
flavoured Markdown without raw HTML nor automatic identifiers; headings shifted so that
``#`` in a fragment is a section inside that fragment's section). pandoc comes from the
``pypandoc-binary`` package (``make readme`` installs it: the ``readme`` extra of
pyproject.toml) or from PATH. Each generated file is checked with docutils, warnings being
errors, as OCA does.

``--check`` needs neither pandoc nor docutils: it compares the digest written in each
README.rst with the digest of the current manifest and fragments, as OCA's
``--if-source-changed`` does, so a fragment edited without ``make readme`` is caught by the
pytest suite.
"""
import argparse
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import odoo_env

FRAGMENTS_DIR = 'readme'
# name -> (section title or None, heading level of the fragment's section), in OCA's order.
FRAGMENTS = {
    'DESCRIPTION': (None, 2),
    'CONTEXT': ('Use Cases / Context', 2),
    'INSTALL': ('Installation', 2),
    'CONFIGURE': ('Configuration', 2),
    'USAGE': ('Usage', 2),
    'DEVELOP': ('Development', 2),
    'ROADMAP': ('Known issues / Roadmap', 2),
    'HISTORY': ('Changelog', 2),
    'CONTRIBUTORS': ('Contributors', 3),
    'CREDITS': ('Other credits', 3),
}
MAIN_SECTIONS = ('CONTEXT', 'INSTALL', 'CONFIGURE', 'USAGE', 'DEVELOP', 'ROADMAP', 'HISTORY')
REQUIRED_FRAGMENTS = ('DESCRIPTION', 'USAGE', 'CONTRIBUTORS')
PANDOC_FROM = 'gfm-raw_html-gfm_auto_identifiers'
GENERATOR = 'tests/harness/gen_readme.py'
DIGEST_RE = re.compile(r'!! source digest: (?P<digest>sha256:[0-9a-f]+)')

MATURITY_BADGES = {
    'alpha': ('https://img.shields.io/badge/maturity-Alpha-red.png', 'Alpha'),
    'beta': ('https://img.shields.io/badge/maturity-Beta-yellow.png', 'Beta'),
    'production/stable': ('https://img.shields.io/badge/maturity-Production%2FStable-green.png',
                          'Production/Stable'),
    'mature': ('https://img.shields.io/badge/maturity-Mature-brightgreen.png', 'Mature'),
}
LICENSE_BADGES = {
    'AGPL-3': ('https://img.shields.io/badge/license-AGPL--3-blue.png',
               'http://www.gnu.org/licenses/agpl-3.0-standalone.html'),
    'LGPL-3': ('https://img.shields.io/badge/license-LGPL--3-blue.png',
               'http://www.gnu.org/licenses/lgpl-3.0-standalone.html'),
    'GPL-3': ('https://img.shields.io/badge/license-GPL--3-blue.png',
              'http://www.gnu.org/licenses/gpl-3.0-standalone.html'),
}

# Settings of docutils' check, as OCA's (from pypa/readme_renderer): warnings are errors.
RST_CHECK_SETTINGS = {
    'file_insertion_enabled': False,
    'halt_level': 2,
    'raw_enabled': False,
    'report_level': 2,
    'output_encoding': 'utf-8',
}


class ReadmeError(RuntimeError):
    pass


def fragment_path(addon_dir, name):
    return Path(addon_dir) / FRAGMENTS_DIR / f'{name}.md'


def source_digest(addon_dir):
    """sha256 of the manifest and of every file of ``readme/`` (names and contents)."""
    addon_dir = Path(addon_dir)
    files = [addon_dir / '__manifest__.py']
    readme = addon_dir / FRAGMENTS_DIR
    if readme.is_dir():
        for dirpath, dirnames, filenames in os.walk(readme):
            dirnames.sort()
            files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith('.'))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(addon_dir).as_posix().encode('utf-8'))
        digest.update(path.read_bytes())
    return f'sha256:{digest.hexdigest()}'


def written_digest(readme_rst):
    try:
        match = DIGEST_RE.search(Path(readme_rst).read_text(encoding='utf-8'))
    except OSError:
        return None
    return match.group('digest') if match else None


def find_pandoc():
    """Path of the pandoc binary: pypandoc-binary's, else the one on PATH."""
    try:
        import pypandoc  # noqa: PLC0415
        path = pypandoc.get_pandoc_path()
        if path:
            return path
    except (ImportError, OSError):
        pass
    path = shutil.which('pandoc')
    if path:
        return path
    raise ReadmeError('pandoc not found: `make readme` installs it (pip install pypandoc-binary), '
                      'or install pandoc on PATH')


def md_to_rst(pandoc, path, level):
    result = subprocess.run(
        [pandoc, '--from', PANDOC_FROM, '--to', 'rst', f'--shift-heading-level-by={level - 2}',
         '--sandbox', str(path)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise ReadmeError(f'pandoc failed on {path}: {result.stderr.strip()}')
    text = result.stdout.strip('\n')
    return text + '\n' if text else ''


def _section(title, underline, body):
    return f'{title}\n{underline * len(title)}\n\n{body}\n'


def render(addon_dir, manifest, fragments, digest):
    """README.rst text from the manifest and the fragments already converted to rst."""
    addon_name = Path(addon_dir).name
    name = manifest['name']
    status = (manifest.get('development_status') or 'Beta').lower()
    out = [f'{"=" * len(name)}\n{name}\n{"=" * len(name)}\n']
    banner = [f'!! This file is generated by {GENERATOR} (make readme)',
              '!! from readme/*.md and __manifest__.py: edit those, not this file.']
    width = max(len(line) for line in banner) + 3
    out.append('.. \n' + '\n'.join(
        ['   ' + '!' * width]
        + ['   ' + line.ljust(width - 2) + '!!' for line in banner]
        + ['   ' + '!' * width, f'   !! source digest: {digest}', '   ' + '!' * width]) + '\n')
    badges = []
    if status in MATURITY_BADGES:
        image, alt = MATURITY_BADGES[status]
        badges.append((image, None, alt))
    if manifest.get('license') in LICENSE_BADGES:
        image, target = LICENSE_BADGES[manifest['license']]
        badges.append((image, target, f'License: {manifest["license"]}'))
    if badges:
        lines = []
        for index, (image, target, alt) in enumerate(badges, 1):
            lines.append(f'.. |badge{index}| image:: {image}')
            if target:
                lines.append(f'    :target: {target}')
            lines.append(f'    :alt: {alt}')
        out.append('\n'.join(lines) + '\n')
        out.append(' '.join(f'|badge{i}|' for i in range(1, len(badges) + 1)) + '\n')
    out.append(fragments['DESCRIPTION'])
    if status == 'alpha':
        out.append('.. IMPORTANT::\n'
                   '   This is an alpha version, the data model and design can change at any '
                   'time without warning.\n'
                   '   Only for development or testing purpose, do not use in production.\n')
    out.append('**Table of contents**\n\n.. contents::\n   :local:\n')
    for key in MAIN_SECTIONS:
        if fragments.get(key):
            out.append(_section(FRAGMENTS[key][0], '=', fragments[key]).rstrip('\n') + '\n')
    out.append(_section('Bug Tracker', '=', (
        'Bugs are tracked in the issue tracker of the SMS Router project. In case of trouble,\n'
        'please check there whether your issue has already been reported. If you spotted it\n'
        f'first, report it with the addon (``{addon_name}``), its version\n'
        f'(``{manifest.get("version", "")}``), the steps to reproduce, the current behaviour and '
        'the\nexpected behaviour.\n')).rstrip('\n') + '\n')
    credits = ['Credits\n=======\n']
    authors = [a.strip() for a in manifest.get('author', '').split(',') if a.strip()]
    if authors:
        credits.append(_section('Authors', '-', '\n'.join(f'* {a}' for a in authors) + '\n')
                       .rstrip('\n') + '\n')
    for key in ('CONTRIBUTORS', 'CREDITS'):
        if fragments.get(key):
            credits.append(_section(FRAGMENTS[key][0], '-', fragments[key]).rstrip('\n') + '\n')
    maintainers = manifest.get('maintainers') or []
    body = []
    if maintainers:
        label = 'Current maintainers' if len(maintainers) > 1 else 'Current maintainer'
        body.append(f'{label}: {", ".join(f"``{m}``" for m in maintainers)}.\n')
    website = manifest.get('website')
    where = f' (`{website} <{website}>`_)' if website else ''
    body.append(f'This module is part of the SMS Router project{where}.\n\n'
                'You are welcome to contribute.\n')
    credits.append(_section('Maintainers', '-', '\n'.join(body)).rstrip('\n') + '\n')
    out.append('\n'.join(credits))
    return '\n'.join(part.rstrip('\n') + '\n' for part in out)


def check_rst(text, source):
    """Parse ``text`` with docutils, warnings being errors; None when docutils is missing."""
    try:
        from docutils.core import publish_string  # noqa: PLC0415
        from docutils.utils import SystemMessage  # noqa: PLC0415
    except ImportError:
        return None
    warnings = io.StringIO()
    try:
        publish_string(text, source_path=str(source), writer_name='html4css1',
                       settings_overrides=dict(RST_CHECK_SETTINGS, warning_stream=warnings))
    except SystemMessage as err:
        raise ReadmeError(f'{source}: invalid reStructuredText: {err}') from err
    if warnings.getvalue().strip():
        raise ReadmeError(f'{source}: reStructuredText warnings:\n{warnings.getvalue()}')
    return True


def generate(addon, pandoc):
    """Write ``<addon>/README.rst``; return a one-line report."""
    addon_dir = Path(addon.path)
    missing = [n for n in REQUIRED_FRAGMENTS if not fragment_path(addon_dir, n).is_file()]
    if missing:
        raise ReadmeError(f'{addon.name}: missing fragment(s) '
                          f'{", ".join(f"{FRAGMENTS_DIR}/{n}.md" for n in missing)}')
    unknown = sorted(p.name for p in (addon_dir / FRAGMENTS_DIR).iterdir()
                     if p.is_file() and not p.name.startswith('.')
                     and p.suffix == '.md' and p.stem not in FRAGMENTS)
    if unknown:
        raise ReadmeError(f'{addon.name}: unknown fragment(s) {", ".join(unknown)} '
                          f'(known: {", ".join(FRAGMENTS)})')
    fragments = {}
    for name, (_title, level) in FRAGMENTS.items():
        path = fragment_path(addon_dir, name)
        if path.is_file():
            fragments[name] = md_to_rst(pandoc, path, level)
    digest = source_digest(addon_dir)
    text = render(addon_dir, addon.manifest, fragments, digest)
    readme = addon_dir / 'README.rst'
    checked = check_rst(text, readme)
    old = readme.read_text(encoding='utf-8') if readme.is_file() else None
    if old != text:
        readme.write_text(text, encoding='utf-8')
    state = 'updated' if old != text else 'unchanged'
    note = '' if checked else ' (docutils not installed: reStructuredText not checked)'
    return f'{addon.name}: README.rst {state}, {len(fragments)} fragment(s){note}'


def stale(addon):
    """None when README.rst matches the fragments and manifest, else why not."""
    addon_dir = Path(addon.path)
    if not fragment_path(addon_dir, 'DESCRIPTION').is_file():
        return f'{addon.name}: no {FRAGMENTS_DIR}/DESCRIPTION.md'
    written = written_digest(addon_dir / 'README.rst')
    if written is None:
        return f'{addon.name}: README.rst missing or not generated by {GENERATOR}'
    if written != source_digest(addon_dir):
        return (f'{addon.name}: README.rst is older than __manifest__.py or {FRAGMENTS_DIR}/: '
                'run `make readme`')
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--addons', default='', help='comma-separated addons (default: all of ours)')
    parser.add_argument('--check', action='store_true',
                        help='only check that every README.rst is up to date (exit 1 if not)')
    args = parser.parse_args(argv)
    only = [a.strip() for a in args.addons.split(',') if a.strip()] or None
    addons = odoo_env.our_addons([], only=only)
    if args.check:
        problems = [p for p in map(stale, addons) if p]
        for problem in problems:
            print(problem)
        print(f'readme: {len(addons) - len(problems)} up to date, {len(problems)} stale')
        return 1 if problems else 0
    try:
        pandoc = find_pandoc()
        for addon in addons:
            print(generate(addon, pandoc), flush=True)
    except ReadmeError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
