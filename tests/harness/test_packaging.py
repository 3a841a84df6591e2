"""The addons' OCA-style packaging, checked without Odoo: pyproject.toml, manifests, READMEs.

``make test-wheels`` (tests/harness/check_wheels.py, part of ``make test``) builds and installs
the wheels for real; these tests catch the usual slips early and fast.
"""
import ast
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import check_wheels  # noqa: E402
import deps  # noqa: E402
import gen_readme  # noqa: E402
import odoo_env  # noqa: E402

ROOT = odoo_env.REPO_ROOT
ADDONS = [a for a in odoo_env.our_addons() if a.installable]
ADDON_IDS = [a.name for a in ADDONS]
AUTHOR = 'SMS Router developers'
# pylint-odoo's accepted values (manifest checks of OCA's .pylintrc-mandatory)
LICENSES = {'AGPL-3', 'GPL-2', 'GPL-2 or any later version', 'GPL-3',
            'GPL-3 or any later version', 'LGPL-3'}
DEVELOPMENT_STATUSES = {'Alpha', 'Beta', 'Production/Stable', 'Mature'}


def test_the_four_addons_are_found():
    assert set(ADDON_IDS) == {'sms_router', 'sms_router_sweego', 'sms_router_twilio',
                              'sms_router_ovh'}


@pytest.mark.parametrize('addon', ADDONS, ids=ADDON_IDS)
def test_addon_pyproject_builds_with_whool_and_nothing_else(addon):
    data = deps._load_toml((addon.path / 'pyproject.toml').read_text(encoding='utf-8'))
    # As in OCA repositories: whool reads everything else from the manifest.
    assert data == {'build-system': {'requires': ['whool'], 'build-backend': 'whool.buildapi'}}


@pytest.mark.parametrize('addon', ADDONS, ids=ADDON_IDS)
def test_manifest_carries_the_keys_oca_expects(addon):
    manifest = addon.manifest
    text = (addon.path / '__manifest__.py').read_text(encoding='utf-8')
    assert isinstance(ast.literal_eval(text), dict)
    assert re.fullmatch(r'19\.0\.\d+\.\d+\.\d+', manifest['version'])
    assert manifest['name'] and manifest['summary'] and '\n' not in manifest['summary']
    assert manifest['license'] in LICENSES
    assert isinstance(manifest['author'], str)
    assert AUTHOR in [a.strip() for a in manifest['author'].split(',')]
    assert manifest['development_status'] in DEVELOPMENT_STATUSES
    maintainers = manifest['maintainers']
    assert isinstance(maintainers, list) and maintainers
    assert all(isinstance(m, str) and m for m in maintainers)
    website = urlsplit(manifest['website'])
    assert website.scheme == 'https' and website.netloc and not re.search(r'\s', manifest['website'])
    assert isinstance(manifest['depends'], list) and manifest['depends']
    assert isinstance(manifest['external_dependencies']['python'], list)
    assert manifest.get('installable', True) is True
    assert 'description' not in manifest, 'the description is README.rst (readme/ fragments)'


def test_external_dependencies_are_the_runtime_dependencies_of_pyproject():
    """The manifests feed the wheels, pyproject.toml feeds `make deps`: the same requirements."""
    runtime = set(deps.requirements())
    declared = set()
    for addon in ADDONS:
        python = addon.manifest['external_dependencies']['python']
        assert set(python) <= runtime, f'{addon.name}: {sorted(set(python) - runtime)} not in pyproject.toml'
        declared.update(python)
    assert declared == runtime


@pytest.mark.parametrize('addon', ADDONS, ids=ADDON_IDS)
def test_readme_is_generated_from_the_fragments(addon):
    for name in gen_readme.REQUIRED_FRAGMENTS + ('DESCRIPTION', 'CONFIGURE', 'INSTALL'):
        assert gen_readme.fragment_path(addon.path, name).is_file(), name
    known = set(gen_readme.FRAGMENTS)
    present = {p.stem for p in (addon.path / 'readme').glob('*.md')}
    assert present <= known, f'unknown fragments: {sorted(present - known)}'
    assert gen_readme.stale(addon) is None


@pytest.mark.parametrize('addon', ADDONS, ids=ADDON_IDS)
def test_readme_is_valid_restructuredtext_in_the_oca_layout(addon):
    pytest.importorskip('docutils')
    text = (addon.path / 'README.rst').read_text(encoding='utf-8')
    assert gen_readme.check_rst(text, addon.path / 'README.rst')
    name = addon.manifest['name']
    assert text.startswith(f'{"=" * len(name)}\n{name}\n{"=" * len(name)}\n')
    titles = re.findall(r'^(\S[^\n]*)\n=+\n', text, flags=re.M)[1:]  # after the title
    assert titles[:3] == ['Installation', 'Configuration', 'Usage']
    assert titles[-2:] == ['Bug Tracker', 'Credits']
    assert f'pip install odoo-addon-{addon.name}' in text


def test_stale_readme_is_detected(tmp_path):
    addon = next(a for a in ADDONS if a.name == 'sms_router')
    copy = tmp_path / addon.name
    shutil.copytree(addon.path / 'readme', copy / 'readme')
    shutil.copy(addon.path / '__manifest__.py', copy)
    shutil.copy(addon.path / 'README.rst', copy)
    fake = odoo_env.Addon(addon.name, copy, addon.manifest)
    assert gen_readme.stale(fake) is None
    usage = copy / 'readme' / 'USAGE.md'
    usage.write_text(usage.read_text(encoding='utf-8') + '\nOne more line.\n', encoding='utf-8')
    assert 'make readme' in gen_readme.stale(fake)


@pytest.mark.parametrize('addon', ADDONS, ids=ADDON_IDS)
def test_smoke_test_of_the_wheel_check_exists(addon):
    """check_wheels.py runs one named test per addon from the installed wheel."""
    class_name, method = check_wheels.SMOKE_TESTS[addon.name].split('.')
    imported = set(re.findall(r'^from \. import (\w+)', (addon.path / 'tests' / '__init__.py')
                              .read_text(encoding='utf-8'), flags=re.M))
    for module in imported:
        source = (addon.path / 'tests' / f'{module}.py').read_text(encoding='utf-8')
        match = re.search(rf'^class {class_name}\b.*?(?=^class |\Z)', source, flags=re.M | re.S)
        if match:
            assert re.search(rf'^    def {method}\(self', match.group(0), flags=re.M), \
                f'{class_name}.{method} not found in {addon.name}/tests/{module}.py'
            return
    pytest.fail(f'class {class_name} not found in the tests {addon.name}/tests/__init__.py imports')


def test_wheel_requirements_expected_from_the_manifest():
    class FakeInstall:
        @staticmethod
        def has_addon(name):
            return name in {'sms', 'mail', 'base'}

    addon = odoo_env.Addon('sms_router_x', ROOT, {
        'version': '19.0.1.2.3', 'depends': ['sms_router', 'sms', 'other_addon'],
        'external_dependencies': {'python': ['requests>=2.25']}})
    assert check_wheels.expected_requirements(addon, {'sms_router', 'sms_router_x'}, FakeInstall()) == {
        'odoo==19.0.*', 'odoo-addon-sms_router==19.0.*', 'odoo-addon-other_addon==19.0.*',
        'requests>=2.25'}
