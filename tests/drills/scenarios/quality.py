"""A provider that accepts everything and delivers little is skipped for that destination.

``quality(bench)`` runs an Odoo HTTP server (for Twilio's status callbacks) and puts the
sandbox's Twilio in the ``poor_delivery`` mode: it accepts every request, then reports 60 %
of the SMS undelivered. On the route ``+33602`` (Twilio -> OVH -> Sweego), with the company's
quality breaker at a 50 % floor, 20 reported SMS at least, a 50-SMS window, a 1-minute
cool-down and probes of 5 SMS:

1. 30 SMS go to Twilio; once their reports are in, the quality refresh (the scheduled
   action, run as the cron runs it) ejects Twilio for France: within 50 reported SMS;
2. the next 20 SMS skip Twilio with a *Skipped* attempt saying why (``delivery 40% to France
   over the last 30 reported SMS, below 50%``) and are sent by OVH: traffic moved, nothing
   lost;
3. the sandbox recovers (``ok`` through its control API); after the cool-down, 10 SMS: 5
   probe SMS go to Twilio, the 5 others skip it (waiting for the probe's reports) to OVH;
   their reports restore Twilio, and the next 10 SMS go to Twilio again;
4. every account of the chain ejected (the rows forced): SMS go by order, to Twilio.

The quality rows are forgotten before and after the drill (earlier drills' reports do not
count, and later drills find every account ok).
"""
import time


from infra.database import pg_connect
from infra.processes import DrillError
from infra.settings import DB_NAME, DRILL_PROVIDERS, PARKED_CRON

QUALITY_CRON = 'sms_router.ir_cron_sms_router_quality'
SETTINGS = {
    'sms_router_quality_breaker': True, 'sms_router_quality_floor': 50.0,
    'sms_router_quality_min_sample': 20, 'sms_router_quality_window_size': 50,
    'sms_router_quality_window_hours': 24, 'sms_router_quality_cooldown': 1,
    'sms_router_quality_max_ejection': 50, 'sms_router_quality_outliers': False,
}
GROUP = 2       # +33602...: Twilio -> OVH -> Sweego


def quality(bench):
    """Twilio delivers 40 %: skipped for France, traffic to OVH, probed, restored."""
    row = bench.begin('delivery quality (Twilio poor_delivery)', limit=240)
    bench.control.call('configure', company_values=SETTINGS,
                       params={'sms_router.quality_probe_size': '5'})
    db = pg_connect(bench.db_args, DB_NAME)
    db.autocommit = True
    _forget(db, start=True)
    try:
        with bench.http_server():
            _drill(bench, row, db)
    finally:
        _forget(db)
        db.close()
    return bench.finish(row)


def _drill(bench, row, db):
    # Reports come 1.5 s after the send: after the sending batch committed (else parked).
    bench.sandbox.configure('twilio', callback_delay_ms=1500)
    bench.sandbox.set_mode('twilio', 'poor_delivery')
    queued = []

    # 1. Degraded: 30 SMS to Twilio, 18 reported undelivered.
    first = bench.queue(row, GROUP, 30)
    queued += first
    bench.send('sender', timeout=60)
    tally = bench.tally(row, first)
    bench.check(row, tally.sent_by == {'twilio': 30}, f'first 30 SMS sent by {tally.sent_by}')
    _wait_reports(bench, row, db, first, 30)
    _refresh(bench)
    state = _row(db, 'twilio')
    bench.check(row, state and state['state'] == 'ejected',
                f'Twilio not ejected for France after 30 reported SMS: {state}')
    if not state or state['state'] != 'ejected':
        return
    ejected_at = time.monotonic()
    bench.check(row, state['sample'] <= 50 and abs(state['delivery_rate'] - 0.4) < 0.01,
                f'Twilio ejected on {state["sample"]} reported SMS at {state["delivery_rate"]:.0%}')
    row.notes.append(f'Twilio ejected for France after {state["sample"]} reported SMS '
                     f'({state["delivery_rate"]:.0%} delivered): {state["reason"]}')

    # 2. Traffic moves to OVH, with the reason in the trail.
    moved = bench.queue(row, GROUP, 20, start=31)
    queued += moved
    bench.send('sender', timeout=60)
    tally = bench.tally(row, moved)
    trails = [tally.info['sms'][item['uuid']]['attempts'] for item in moved]
    skipped = [t for t in trails if len(t) == 2 and t[0]['provider'] == 'twilio'
               and t[0]['outcome'] == 'skipped' and t[1]['provider'] == 'ovh' and t[1]['accepted']]
    bench.check(row, len(skipped) == len(moved),
                f'{len(skipped)} of {len(moved)} SMS skipped Twilio for OVH: '
                f'{[[(a["provider"], a["outcome"]) for a in t] for t in trails][:3]}')
    if skipped:
        reason = skipped[0][0]['reason']
        bench.check(row, reason.startswith('delivery 40% to France over the last 30 reported SMS, below 50%'),
                    f'skip reason: {reason}')
        row.notes.append(f'next {len(moved)} SMS: Twilio skipped ("{reason}"), sent by OVH')

    # 3. Twilio recovers; after the cool-down, 5 probe SMS restore it.
    bench.sandbox.set_mode('twilio', 'ok')
    wait = 62 - (time.monotonic() - ejected_at)
    if wait > 0:
        time.sleep(wait)
    probing = bench.queue(row, GROUP, 10, start=51)
    queued += probing
    bench.send('sender', timeout=60)
    tally = bench.tally(row, probing)
    trails = [tally.info['sms'][item['uuid']]['attempts'] for item in probing]
    probes = [item for item, t in zip(probing, trails, strict=True)
              if t[0]['provider'] == 'twilio' and t[0]['accepted']]
    waiting = [t for t in trails if t[0]['provider'] == 'twilio' and t[0]['outcome'] == 'skipped'
               and 'probing delivery to France' in t[0]['reason'] and t[1]['accepted']]
    bench.check(row, (len(probes), len(waiting)) == (5, 5),
                f'after the cool-down: {len(probes)} probe SMS on Twilio, {len(waiting)} waiting for '
                f'their reports (5 and 5 expected)')
    _wait_reports(bench, row, db, probes, len(probes))
    _refresh(bench)
    state = _row(db, 'twilio')
    bench.check(row, state and state['state'] == 'ok', f'Twilio not restored after its probe: {state}')
    restored = bench.queue(row, GROUP, 10, start=61)
    queued += restored
    bench.send('sender', timeout=60)
    tally = bench.tally(row, restored)
    on_twilio = sum(1 for item in restored if tally.info['sms'][item['uuid']]['attempts'][0]['provider'] == 'twilio'
                    and tally.info['sms'][item['uuid']]['attempts'][0]['accepted'])
    bench.check(row, on_twilio == len(restored), f'restored: {on_twilio} of {len(restored)} SMS on Twilio')
    row.notes.append(f'sandbox recovered: {len(probes)} probe SMS on Twilio, {len(waiting)} to OVH '
                     f'meanwhile; restored, the next {on_twilio} SMS on Twilio')

    # 4. Every account of the chain ejected: by order.
    forced = _eject_all(db)
    # Every drill account: the three of this route's chain, and the HTTP API one (on a route of
    # its own, it changes nothing here).
    bench.check(row, forced == len(DRILL_PROVIDERS),
                f'{forced} accounts ejected for France, {len(DRILL_PROVIDERS)} expected')
    degraded = bench.queue(row, GROUP, 10, start=71)
    queued += degraded
    bench.send('sender', timeout=60)
    tally = bench.tally(row, degraded)
    by_order = sum(1 for item in degraded
                   if [(a['provider'], a['accepted']) for a in tally.info['sms'][item['uuid']]['attempts']]
                   == [('twilio', True)])
    bench.check(row, by_order == len(degraded),
                f'every account degraded: {by_order} of {len(degraded)} SMS sent by order (Twilio)')
    row.notes.append(f'every account of the chain ejected: {by_order} SMS sent by order, none skipped')
    # Nothing lost over the whole drill (the tallies above counted each part once).
    bench.check(row, row.lost == 0, f'{row.lost} SMS lost')
    bench.sandbox.set_mode('twilio', 'ok')


def _refresh(bench):
    """Apply the reports parked before their batch committed, then refresh the quality, as
    the scheduled actions do."""
    result = bench.send('quality', timeout=60, run_crons=[PARKED_CRON, QUALITY_CRON])
    if result.get('failed_crons'):
        raise DrillError(f'scheduled actions failed: {result["failed_crons"]}')


def _wait_reports(bench, row, db, items, count, timeout=30):
    """Until ``count`` of ``items`` have a final delivery report in Odoo (parked ones
    applied on the way)."""
    uuids = tuple(item['uuid'] for item in items)
    deadline = time.monotonic() + timeout
    reported = 0
    while time.monotonic() < deadline:
        bench.sandbox.wait_callbacks(timeout=5)
        with db.cursor() as cr:
            cr.execute("SELECT count(*) FROM sms_router_attempt WHERE sms_uuid IN %s AND accepted "
                       "AND delivery_state IN ('delivered', 'undelivered')", [uuids])
            reported = cr.fetchone()[0]
        if reported >= count:
            return reported
        bench.send('parked', timeout=30, run_crons=[PARKED_CRON])
        time.sleep(0.5)
    bench.check(row, False, f'only {reported} of {count} delivery reports reached Odoo')
    return reported


def _row(db, provider):
    with db.cursor() as cr:
        cr.execute("""
            SELECT q.state, q.sample, q.delivery_rate, q.reason, q.ejected_until
              FROM sms_router_quality q
              JOIN sms_router_account a ON a.id = q.account_id
              JOIN res_country c ON c.id = q.country_id
             WHERE a.sms_provider = %s AND a.name LIKE 'Drill %%' AND c.code = 'FR'""", [provider])
        found = cr.fetchone()
    if not found:
        return None
    return dict(zip(('state', 'sample', 'delivery_rate', 'reason', 'ejected_until'), found, strict=True))


def _forget(db, start=False):
    """No quality rows; at the start, rows that count from now (earlier drills' reports
    are not this drill's)."""
    with db.cursor() as cr:
        cr.execute('DELETE FROM sms_router_quality')
        if start:
            cr.execute("""
                INSERT INTO sms_router_quality (account_id, company_id, country_id, state, counted_since,
                                                ejection_count, create_date, write_date)
                SELECT a.id, a.company_id, c.id, 'ok', now() AT TIME ZONE 'UTC', 0,
                       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                  FROM sms_router_account a, res_country c
                 WHERE a.name LIKE 'Drill %%' AND c.code = 'FR'""")


def _eject_all(db):
    """Every drill account ejected for France for ten minutes (as measured: 10 %)."""
    with db.cursor() as cr:
        cr.execute("""
            UPDATE sms_router_quality SET state = 'ejected', ejection_count = 1, ejection_cause = 'floor',
                   ejection_rate = 0.1, ejection_sample = 50, ejection_threshold = 0.5, delivery_rate = 0.1,
                   ejected_until = (now() AT TIME ZONE 'UTC') + interval '10 minutes'
             WHERE country_id = (SELECT id FROM res_country WHERE code = 'FR')""")
        return cr.rowcount
