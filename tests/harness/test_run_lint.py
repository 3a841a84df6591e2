"""Tests of the lint runner and of the lint configuration (no lint tool needed)."""
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run_lint  # noqa: E402

ROOT = HERE.parents[1]


def test_lint_tools_are_pinned():
    pins = run_lint.pinned_versions()
    assert set(pins) == {'ruff', 'pylint-odoo', 'oca-odoo-pre-commit-hooks'}
    assert all(re.fullmatch(r'\d+(\.\d+)+', version) for version in pins.values())


def test_pre_commit_hooks_use_the_pinned_versions():
    """.pre-commit-config.yaml and the `lint` extra of pyproject.toml move together."""
    config = (ROOT / '.pre-commit-config.yaml').read_text(encoding='utf-8')
    hooked = dict(re.findall(r'additional_dependencies:\s*\["([\w-]+)==([\w.]+)"\]', config))
    assert hooked == run_lint.pinned_versions()
    assert 'id: oca-checks-odoo-module' in config and 'id: oca-checks-po' in config
    assert '--rcfile=.pylintrc-mandatory' in config


def test_pylintrc_is_oca_mandatory_for_odoo_19():
    rc = run_lint.PYLINTRC.read_text(encoding='utf-8')
    assert re.search(r'^load-plugins=pylint_odoo$', rc, re.M)
    assert re.search(r'^valid-odoo-versions=19\.0$', rc, re.M)
    assert re.search(r'^disable=all$', rc, re.M)
    enabled = re.search(r'^enable=(.*?)\n\n', rc, re.M | re.S).group(1)
    checks = {name.strip() for name in enabled.split(',')}
    for check in ('sql-injection', 'translation-required', 'prefer-env-translation',
                  'manifest-required-author', 'external-request-timeout', 'invalid-commit'):
        assert check in checks


def test_commands_cover_every_addon_and_the_tests():
    commands = {name: command for name, _dist, _module, command in run_lint.tools(['a', 'b'])}
    assert commands['ruff'][-3:] == ['a', 'b', 'tests']
    assert '--fix' not in commands['ruff']
    assert '--fix' in {name: command for name, _d, _m, command in run_lint.tools(['a'], fix=True)}['ruff']
    assert commands['pylint-odoo'][-2:] == ['a', 'b']
    assert f'--rcfile={run_lint.PYLINTRC}' in commands['pylint-odoo']


def test_a_missing_tool_fails_with_a_closing_line(monkeypatch, capsys):
    monkeypatch.setattr(run_lint.importlib.util, 'find_spec', lambda name: None)
    assert run_lint.main([]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == 'lint: 0 passed, 4 failed'
    assert any('ruff: not installed - FAILED' in line for line in lines)


def test_a_tool_reporting_problems_fails(monkeypatch, capsys):
    monkeypatch.setattr(run_lint.importlib.util, 'find_spec', lambda name: object())

    class Done:
        def __init__(self, returncode):
            self.returncode = returncode

    codes = {'ruff': 0, 'pylint': 4, 'oca_pre_commit_hooks.cli ': 0, 'oca_pre_commit_hooks.cli_po ': 0}

    def run(command, **kwargs):
        key = command[2] if command[1] == '-m' else command[2].split('from ', 1)[1].split('import')[0]
        return Done(codes[key])
    monkeypatch.setattr(run_lint.subprocess, 'run', run)
    assert run_lint.main([]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == 'lint: 3 passed, 1 failed'
    assert any(line.startswith('pylint-odoo') and 'exit 4' in line for line in lines)


def test_oca_module_checks_catch_a_wrong_xml_header(tmp_path):
    """The OCA hook really runs on an addon: a wrong XML header and a numeric field without
    eval are reported (exit non-zero); the same addon written properly passes."""
    import subprocess
    import pytest
    pytest.importorskip('oca_pre_commit_hooks')
    addon = tmp_path / 'demo_addon'
    (addon / 'data').mkdir(parents=True)
    (addon / '__init__.py').write_text('')
    (addon / '__manifest__.py').write_text(
        "{'name': 'Demo', 'version': '19.0.1.0.0', 'license': 'LGPL-3', 'author': 'X',"
        " 'depends': ['base'], 'data': ['data/data.xml'], 'installable': True}")
    bad = ('<?xml version="1.0" encoding="utf-8"?>\n<odoo>\n    <record id="r" model="res.partner">\n'
           '        <field name="color">3</field>\n    </record>\n</odoo>\n')
    good = ('<?xml version="1.0" encoding="UTF-8" ?>\n<odoo>\n    <record id="r" model="res.partner">\n'
            '        <field name="color" eval="3"/>\n    </record>\n</odoo>\n')
    for text, expected_ok in ((bad, False), (good, True)):
        (addon / 'data' / 'data.xml').write_text(text)
        result = subprocess.run(run_lint.oca_hook('cli', str(addon)), capture_output=True, text=True,
                                check=False)
        assert (result.returncode == 0) is expected_ok, result.stdout + result.stderr
        if not expected_ok:
            assert 'xml-header-wrong' in result.stdout and 'xml-field-numeric-without-eval' in result.stdout
