"""`make run` in a throwaway cluster: the demo database is pointed at this machine and an
SMS sent through an Odoo IAP demo account reaches the local IAP stand-in.

Runs ``run_demo.py --check`` on free ports (about a minute): the database is created with
demo data, French and the Contacts app, every IAP system parameter is set to the stand-in,
Odoo, the provider sandbox and the IAP stand-in start, admin logs in, the parameters are
read back through the web client's RPC and a test SMS goes through *Odoo IAP (FR)*.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import odoo_env  # noqa: E402
import pgcluster  # noqa: E402
import procutil  # noqa: E402

RUN_DEMO = HERE / 'run_demo.py'


def _odoo_missing():
    install = odoo_env.detect_odoo()
    return None if install.importable else install.reason


@pytest.mark.skipif(pgcluster.find_bindir() is None, reason='no PostgreSQL server binaries')
def test_demo_check_sends_through_the_local_iap_stand_in(tmp_path):
    missing = _odoo_missing()
    if missing:
        pytest.skip(missing)
    http = procutil.free_port()
    sandbox = procutil.free_port(avoid={http})
    iap = procutil.free_port(avoid={http, sandbox})
    # A throwaway cluster, whatever database server the environment configures.
    env = {key: value for key, value in os.environ.items()
           if key not in ('ODOO_DB_HOST', 'ODOO_RC')}
    env.update(ODOO_HTTP_PORT=str(http), SMS_SANDBOX_PORT=str(sandbox), SMS_IAP_PORT=str(iap),
               SMS_ROUTER_DEMO_DB='sms_router_demo_check')
    result = subprocess.run([sys.executable, str(RUN_DEMO), '--check'], capture_output=True,
                            text=True, errors='replace', timeout=900, env=env, check=False,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    (tmp_path / 'run_demo.log').write_text(output, encoding='utf-8')
    lines = [line for line in output.splitlines() if line.startswith('[run] ')]
    params = next((line for line in lines if line.startswith('[run] system parameters: ')), None)
    assert params, output[-3000:]
    params = json.loads(params.split(': ', 1)[1])
    iap_url = f'http://127.0.0.1:{iap}'
    assert {key: value for key, value in params.items() if key != 'web.base.url'} == {
        key: iap_url for key in params if key != 'web.base.url'}
    assert params['web.base.url'] == f'http://localhost:{http}'
    languages = next(line for line in lines if line.startswith('[run] languages: '))
    assert languages.split(': ', 1)[1].split(', ') == ['en_US', 'fr_FR']
    check = next((line for line in lines if line.startswith('[run] --check: ')), '')
    assert check.startswith('[run] --check: OK'), '\n'.join(lines[-20:])
    facts = json.loads(check[check.index('(') + 1:check.rindex(')')])
    assert facts['iap_params_local'] is True
    assert facts['iap_sms_received'] is True
    # Only the SMS went to IAP: no stray call (balance, autocomplete...) while checking.
    assert facts['iap_requests'] == {'/api/sms/3/send': 1}
    assert result.returncode == 0
