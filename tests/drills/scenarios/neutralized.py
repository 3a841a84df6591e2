"""A neutralized copy of the database sends nothing anywhere.

``neutralized_copy(bench)``: ``CREATE DATABASE ... TEMPLATE`` of the drill database,
``python3 -m odoo neutralize`` on the copy, SMS queued there on every route, then its SMS
queue, OVH and parked-report scheduled actions run by hand (*Run Manually*: neutralization
deactivates them). No request may reach the sandbox or the IAP stand-in; every SMS ends in
error with a reason.
"""
import subprocess
import time

import procutil

from infra.database import pg_connect
from infra.processes import Control
from infra.settings import CREDIT_CRON, DB_NAME, GROUP_TWILIO_ONLY, OVH_CRON, PARKED_CRON, QUEUE_CRON
from sandbox.server import PROVIDERS

COPY_DB = DB_NAME + '_neutralized'


def neutralized_copy(bench):
    """A copy of the database, neutralized by Odoo's CLI, sends nothing anywhere."""
    row = bench.begin('neutralized copy (odoo neutralize), then the scheduled actions')
    # The control process gives its connections back: a template must be unused.
    bench.control.call('breakers', release=True)
    admin = pg_connect(bench.db_args, 'postgres')
    admin.autocommit = True
    copy_control = None
    try:
        import psycopg2  # noqa: PLC0415
        with admin.cursor() as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{COPY_DB}"')
            for attempt in range(20):
                try:
                    cr.execute(f'CREATE DATABASE "{COPY_DB}" TEMPLATE "{DB_NAME}"')
                    break
                except psycopg2.errors.ObjectInUse:
                    if attempt == 19:
                        raise
                    time.sleep(0.5)
        command = [bench.odoo.python, '-m', 'odoo', 'neutralize', '-c',
                   str(bench.odoo.config_path), '-d', COPY_DB]
        proc = bench.odoo.popen(command, 'neutralize', stdout=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=180)
        finally:
            procutil.stop_child(proc, 'neutralize')
            proc.drill_log.close()
        if not bench.check(row, code == 0, f'odoo neutralize exited with {code}'):
            return bench.finish(row)
        copy_control = Control(bench.odoo, db=COPY_DB, name='control-copy')
        bench.copy_control = copy_control
        facts = copy_control.call('neutral_facts')
        queued = []
        for group in (1, 2, 3, GROUP_TWILIO_ONLY):
            numbers = bench.numbers(group, 3)
            queued += copy_control.call('queue', items=[
                {'number': number, 'body': f'[{row.name}] staging reminder'}
                for number in numbers])
        before = bench.counters()
        iap_before = bench.iap.requests
        result = bench.send('crons-on-copy', timeout=120, db=COPY_DB,
                            run_crons=[QUEUE_CRON, OVH_CRON, PARKED_CRON, CREDIT_CRON])
        after = bench.counters()
        tally = bench.tally(row, queued, control=copy_control)
    finally:
        if copy_control:
            copy_control.stop()
            bench.copy_control = None
        with admin.cursor() as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{COPY_DB}"')
        admin.close()
    reached = {provider: after[provider]['requests'] - before[provider]['requests']
               for provider in PROVIDERS}
    failed_crons = result.get('failed_crons', [])
    bench.check(row, facts['is_neutralized'] and facts['active_accounts'] == 0
                and facts['secrets_left'] == 0 and not facts['iap_last_resort'],
                f'after neutralize: {facts}')
    bench.check(row, not any(reached.values()) and bench.iap.requests == iap_before,
                f'requests from the copy: {reached}, IAP {bench.iap.requests - iap_before}')
    bench.check(row, tally.failed == len(queued),
                f'{tally.failed}/{len(queued)} ended in error with a reason')
    bench.check(row, not failed_crons, f'scheduled actions failed on the copy: {failed_crons}')
    reasons = sorted({tally.info['sms'][item['uuid']]['reason'] for item in queued})
    row.notes.append(f'copy by CREATE DATABASE ... TEMPLATE, then python3 -m odoo neutralize: '
                     f'{facts["active_accounts"]}/{facts["accounts"]} accounts active, '
                     f'{facts["secrets_left"]} secrets left, IAP last resort off, queue cron '
                     f'{"active" if facts["queue_cron_active"] else "inactive"}')
    row.notes.append(f'{len(queued)} SMS queued on 4 routes, then the queue, OVH delivery-state, '
                     f'parked-report and credit-refresh scheduled actions run by hand: 0 requests to the '
                     f'sandbox or the IAP stand-in; {tally.failed} in error '
                     + ', '.join(f'{k} {v}' for k, v in sorted(tally.failure_types.items()))
                     + f', reason "{reasons[0][:70] if reasons else ""}"'
                     + (f'; cron failures {failed_crons}' if failed_crons else ''))
    return bench.finish(row, 'S 0 · T 0 · O 0 · IAP 0' if not any(reached.values())
                        and bench.iap.requests == iap_before else None)
