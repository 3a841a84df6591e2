"""Send windows on a controlled clock: 14 simulated days of French traffic, holidays included.

``windows(bench)``, first row: the drill company applies the preset *FR - AF2M 2024* (marketing SMS
to France on working days, 08:00-22:00 Paris time, never on public holidays). A clock
process (this file run as a script in Odoo, ``clock`` below) moves a simulated clock
(freezegun, ticking at real speed from each step) from Friday 1 May 2026 00:00 Paris
over 14 days that hold three French public holidays (Labour Day, Friday 1 May; Victory in
Europe Day, Friday 8 May; Ascension, Thursday 14 May) and two Sundays, then until the
queue is empty (Friday 15 May 08:00, for the SMS that arrived on Ascension Day). Marketing and
transactional SMS arrive throughout, day and night; at each step the clock runs Odoo's
queue cron method (``sms.sms._process_queue()``, until no SMS is due) in-process, and the
router sends to the sandbox providers over real HTTP. Steps: each arrival, each trigger the
router left for the queue cron (``ir.cron.trigger`` of ``sms.ir_cron_sms_scheduler_action``:
a window opening), and an hourly step at 17 minutes past the hour, which never falls on a
window opening (those are on the hour): only the router's triggers can send deferred SMS in
time.

The proof comes from the sandbox's own request log: each accepted message (its real
arrival time) is mapped to the step that was running then, hence to its simulated time. The
runner then checks, with its own reading of the rule (not the router's code):

* 0 marketing SMS accepted outside the window;
* every marketing SMS that arrived outside the window was accepted within 60 s (simulated)
  of the window's next opening, those that arrived inside within 60 s of arriving;
* transactional SMS unaffected: each accepted within 60 s of arriving, day or night;
* nothing lost (``Bench.tally``: every SMS sent once, by the provider its trail names).

``closing(bench)``, a second row: a batch that starts inside the window and is still
sending when it closes. The router admits an SMS with the end of the window it is in
(``QueuedSms.allowed_until``) and the dispatcher checks it again before every provider
request. Twilio alone sends (group 4), its account capped at ``CLOSING_RATE`` segments/s by
the router's governor, the sandbox without latency (its log then says when a request
arrived). A clock process started ``CLOSING_LEAD_S`` before Saturday 16 May 2026 22:00 Paris
queues ``CLOSING_MARKETING`` marketing SMS (about 5 s of sending) and
``CLOSING_TRANSACTIONAL`` transactional ones, as many transactional again 20 s after the
closing, then moves on as above (hourly steps, the router's triggers) until the queue is
empty. From the sandbox's request log (any provider, Odoo IAP's stand-in too):

* some marketing SMS requested before the closing and some not (else the batch did not
  straddle it and the phase proves nothing);
* 0 marketing requests from the closing to the next opening (Monday 08:00: Sunday is
  closed): the router starts none within its closing margin (``IN_FLIGHT_S``);
* the others left queued by the first step with not-before = that opening (read in Odoo
  right after the step), then each requested within 60 s of it, by the router's trigger;
* transactional SMS each requested within 60 s of arriving, some after the closing;
* every SMS requested exactly once and sent once (``Bench.tally``).
"""
import json
import random
import sys
import time as real_time_module
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

PARIS = ZoneInfo('Europe/Paris')
UTC = timezone.utc
PRESET = 'sms_router.send_window_preset_fr_af2m_2024'
# The simulated fortnight and its traffic.
START = datetime(2026, 5, 1, 0, 0, tzinfo=PARIS)
DAYS = 14
EXTRA_DAYS = 3                       # the clock goes on until the queue is empty, at most this long
MARKETING_EVERY_MIN = (60, 150)      # minutes between two marketing SMS (random, seeded)
TRANSACTIONAL_EVERY_MIN = (90, 210)
REGULAR_STEP = timedelta(hours=1)
REGULAR_OFFSET = timedelta(minutes=17)
SEED = 20260501
LATE_S = 60                          # "leaves within 60 s of its window opening"
CLOCK_TIMEOUT_S = 150
# The backlog that straddles a closing (``closing``): queued CLOSING_LEAD_S before the window
# closes on a Saturday (the next opening is Monday 08:00), sent by Twilio alone with its
# account capped at CLOSING_RATE segments/s (the router's governor): about 5 s of sending,
# so that the batch started inside the window is still sending when it closes.
CLOSING = datetime(2026, 5, 16, 22, 0, tzinfo=PARIS)
CLOSING_LEAD_S = 3
CLOSING_MARKETING = 48
CLOSING_TRANSACTIONAL = 4            # queued with the backlog, and as many again after the closing
CLOSING_TRANSACTIONAL_AFTER_S = 20
CLOSING_RATE = 10
# The router starts no request within engine.windows.CLOSING_MARGIN (2 s) of the closing, so
# that a request decided in its last moments does not reach the provider after it (without
# the margin one reached the sandbox 0.4 ms after 22:00). A request reaching the sandbox
# this long after the closing would count as in flight at it, not as made after it: none is
# allowed any more.
IN_FLIGHT_S = 0.0


# ============================================================================ the runner side

def windows(bench):
    """Both phases, one row each: the fortnight, then the backlog straddling a closing."""
    _fortnight(bench)
    closing(bench)


def _fortnight(bench):
    row = bench.begin('send windows: 14 simulated days (FR holidays 1, 8, 14 May 2026), preset FR - AF2M 2024',
                      latency_ms=5, batch_size=100)
    arrivals = _arrivals(bench)
    arrival_by_body = {a['body']: a for a in arrivals}
    # The clock process creates each SMS at its simulated arrival, as a user or a mailing
    # would, and runs until every one of them has left (the last ones after Ascension).
    options = {'start': START.astimezone(UTC).isoformat(), 'days': DAYS, 'extra_days': EXTRA_DAYS, 'preset': PRESET,
               'arrivals': [{'number': a['number'], 'body': a['body'], 'traffic': a['traffic'],
                             'at': a['at'].isoformat()} for a in arrivals],
               'regular_step_s': REGULAR_STEP.total_seconds(), 'regular_offset_s': REGULAR_OFFSET.total_seconds()}
    result = _run_clock(bench, row, options, 'windows-clock')
    if result is None:
        return bench.finish(row)

    steps = [(datetime.fromisoformat(sim), real_start, real_end, kind)
             for sim, real_start, real_end, kind in result['steps']]
    queued = result['created']
    bench.check(row, len(queued) == len(arrivals), f'{len(queued)} SMS created of {len(arrivals)} arrivals')
    tally = bench.tally(row, queued)
    accepted = {}
    for provider in ('sweego', 'twilio', 'ovh'):
        for message in bench.sandbox.messages(provider, limit=0):
            if message.get('body') in arrival_by_body:
                accepted.setdefault(message['body'], []).append((provider, message['created_at']))
    holidays_fr = _holidays()
    outside = late = transactional_late = transactional_outside = deferred = unmapped = 0
    worst_delay = worst_transactional = 0.0
    by_kind = {}
    problems = []
    for body, arrival in arrival_by_body.items():
        if body not in accepted:
            continue  # lost: counted by the tally
        _provider, created_at = accepted[body][0]
        step = _step_of(steps, created_at)
        if step is None:
            unmapped += 1
            problems.append(f'{arrival["number"]}: accepted at real {created_at:.3f}, during no step')
            continue
        sim_at = step[0] + timedelta(seconds=created_at - step[1])
        arrived = arrival['at']
        inside_now = _allowed(sim_at, holidays_fr)
        if arrival['traffic'] == 'marketing':
            if not inside_now:
                outside += 1
                problems.append(f'{arrival["number"]}: marketing SMS accepted outside the window at '
                                f'{sim_at.astimezone(PARIS):%a %Y-%m-%d %H:%M:%S} Paris')
            opening = _next_opening(arrived, holidays_fr)
            delay = (sim_at - opening).total_seconds()
            if opening > arrived:
                deferred += 1
                by_kind[step[3]] = by_kind.get(step[3], 0) + 1
            worst_delay = max(worst_delay, delay)
            if delay > LATE_S or delay < -1:
                late += 1
                problems.append(f'{arrival["number"]}: arrived {arrived.astimezone(PARIS):%a %d %H:%M}, window '
                                f'opened {opening.astimezone(PARIS):%a %d %H:%M}, sent {delay:.0f} s later')
        else:
            delay = (sim_at - arrived).total_seconds()
            worst_transactional = max(worst_transactional, delay)
            transactional_outside += not inside_now
            if delay > LATE_S:
                transactional_late += 1
                problems.append(f'{arrival["number"]}: transactional SMS sent {delay:.0f} s after arriving')
    marketing = sum(1 for a in arrivals if a['traffic'] == 'marketing')
    transactional = len(arrivals) - marketing
    bench.check(row, tally.sent == len(queued), f'{tally.sent} of {len(queued)} sent')
    bench.check(row, outside == 0, f'{outside} marketing SMS sent outside the window')
    bench.check(row, late == 0, f'{late} marketing SMS not sent within {LATE_S} s of their window opening')
    bench.check(row, transactional_late == 0, f'{transactional_late} transactional SMS late')
    bench.check(row, transactional_outside > 0, 'no transactional SMS went outside the window: the drill '
                'does not show them unaffected')
    bench.check(row, deferred > 0 and by_kind.get('regular', 0) == 0,
                f'deferred SMS sent by steps {by_kind}: expected the router\'s triggers only')
    bench.check(row, unmapped == 0, f'{unmapped} accepted SMS mapped to no step')
    bench.check(row, all(len(takes) == 1 for takes in accepted.values()), 'an SMS was accepted twice')
    row.problems.extend(problems[:5])
    wait_reasons = result.get('wait_reasons', [])
    bench.check(row, any('FR - AF2M 2024' in reason for reason in wait_reasons),
                f'no SMS said which window it waited for: {wait_reasons[:2]}')
    counts = {}
    for _sim, _start, _end, kind in steps:
        counts[kind] = counts.get(kind, 0) + 1
    span = [day for day in sorted(holidays_fr) if START.date() <= day < START.date() + timedelta(days=DAYS)]
    step_counts = ', '.join(f'{kind} {count}' for kind, count in sorted(counts.items()))
    row.notes.append(
        f'{marketing} marketing + {transactional} transactional SMS over {DAYS} simulated days '
        f'({START:%a %d %b}-{(START + timedelta(days=DAYS - 1)):%a %d %b %Y}, holidays '
        f'{", ".join(f"{day:%d %b}" for day in span)}) in {result["elapsed"]:.0f} s real; '
        f'{len(steps)} steps ({step_counts}); '
        f'marketing: {outside} sent outside the window, {deferred} deferred, each sent at most '
        f'{max(worst_delay, 0):.1f} s after its window opened (all by the router\'s cron triggers), '
        f'{marketing - deferred} sent on arrival; transactional: {transactional_outside} sent outside the '
        f'marketing window, each at most {worst_transactional:.1f} s after arriving; '
        f'{tally.sent}/{len(queued)} sent once (sandbox log: {sum(len(t) for t in accepted.values())} acceptances)')
    row.notes.append(f'waiting reason, e.g. "{wait_reasons[0]}"' if wait_reasons else 'no waiting reason seen')
    return bench.finish(row)


def closing(bench):
    """A backlog of marketing SMS queued 3 s before the window closes, sent more slowly
    than that: what is sent before the closing, nothing after, the rest at the reopening."""
    from infra.settings import GROUP_TWILIO_ONLY  # noqa: PLC0415 - runner side only

    row = bench.begin(f'send windows: a backlog straddling a closing (Sat 16 May 2026 22:00 Paris), '
                      f'twilio capped at {CLOSING_RATE} segments/s', latency_ms=0, batch_size=100,
                      accounts={'twilio': {'governor_rate': float(CLOSING_RATE)}})
    try:
        _closing(bench, row, GROUP_TWILIO_ONLY)
    finally:
        bench.control.call('configure', accounts={'twilio': {'governor_rate': 0.0}})
    return bench.finish(row)


def _closing(bench, row, group):
    from infra.settings import CONCURRENCY  # noqa: PLC0415 - runner side only
    from scenarios.base import digits  # noqa: PLC0415

    holidays_fr = _holidays()
    start = CLOSING - timedelta(seconds=CLOSING_LEAD_S)
    opening = _next_opening(CLOSING, holidays_fr)
    later = CLOSING + timedelta(seconds=CLOSING_TRANSACTIONAL_AFTER_S)
    arrivals = []
    for index, number in enumerate(bench.numbers(group, CLOSING_MARKETING + 2 * CLOSING_TRANSACTIONAL)):
        traffic = 'marketing' if index < CLOSING_MARKETING else 'transactional'
        at = later if index >= CLOSING_MARKETING + CLOSING_TRANSACTIONAL else start
        arrivals.append({'number': number, 'traffic': traffic, 'at': at.astimezone(UTC),
                         'body': f'[windows closing] {traffic} {index + 1} to {number}'})
    options = {'start': start.astimezone(UTC).isoformat(), 'days': 0, 'extra_days': EXTRA_DAYS, 'preset': PRESET,
               'arrivals': [dict(a, at=a['at'].isoformat()) for a in arrivals], 'snapshot_start': True,
               'regular_step_s': REGULAR_STEP.total_seconds(), 'regular_offset_s': REGULAR_OFFSET.total_seconds()}
    result = _run_clock(bench, row, options, 'windows-closing-clock')
    if result is None:
        return
    steps = [(datetime.fromisoformat(sim), real_start, real_end, kind)
             for sim, real_start, real_end, kind in result['steps']]
    queued = result['created']
    bench.check(row, len(queued) == len(arrivals), f'{len(queued)} SMS created of {len(arrivals)} arrivals')
    tally = bench.tally(row, queued)
    uuid_by_body = {item['body']: item['uuid'] for item in queued}
    snapshot = result.get('start_snapshot') or {}

    # Every request the providers received for these SMS, at its simulated time.
    by_digits = {digits(a['number']): a for a in arrivals}
    requests = {}
    unmapped = 0
    for entry in bench.sandbox.request_log():
        for number in entry['numbers']:
            if digits(number) not in by_digits:
                continue
            step = _step_of(steps, entry['at'])
            if step is None:
                unmapped += 1
                continue
            requests.setdefault(digits(number), []).append(
                (step[0] + timedelta(seconds=entry['at'] - step[1]), step[3], entry['provider'], entry['limited']))
    iap = {digits(number) for _uuid, number, _body in bench.iap.accepted} & set(by_digits)

    before, in_flight, during, left, late, not_waiting, by_kind, problems = [], [], [], [], [], [], {}, []
    reopened = []
    for arrival in arrivals:
        if arrival['traffic'] != 'marketing':
            continue
        taken = requests.get(digits(arrival['number']), [])
        for sim_at, _kind, _provider, _limited in taken:
            if CLOSING + timedelta(seconds=IN_FLIGHT_S) <= sim_at < opening:
                during.append(sim_at)
                problems.append(f'{arrival["number"]}: marketing request at '
                                f'{sim_at.astimezone(PARIS):%a %H:%M:%S.%f} Paris, after the closing')
            elif CLOSING <= sim_at < opening:
                in_flight.append(sim_at)
        if taken and taken[0][0] < CLOSING:
            before.append(taken[0][0])
            continue
        if taken and taken[0][0] < CLOSING + timedelta(seconds=IN_FLIGHT_S):
            continue    # in flight at the closing: sent, not left queued (counted above)
        left.append(arrival)
        # Left queued by the batch that straddled the closing: waiting for the next opening.
        state = snapshot.get(uuid_by_body.get(arrival['body']), {})
        if state.get('state') != 'outgoing' or state.get('not_before') != opening.astimezone(UTC).replace(
                tzinfo=None).isoformat():
            not_waiting.append(f'{arrival["number"]}: {state}')
        after = [(sim_at, kind) for sim_at, kind, _provider, _limited in taken if sim_at >= opening]
        if after:
            delay = (after[0][0] - opening).total_seconds()
            reopened.append(delay)
            by_kind[after[0][1]] = by_kind.get(after[0][1], 0) + 1
            if delay > LATE_S:
                late.append(arrival)
                problems.append(f'{arrival["number"]}: sent {delay:.0f} s after the window reopened')
    transactional = [a for a in arrivals if a['traffic'] == 'transactional']
    delays, after_closing = [], 0
    for arrival in transactional:
        taken = requests.get(digits(arrival['number']), [])
        if taken:
            delays.append((taken[0][0] - arrival['at']).total_seconds())
            after_closing += taken[0][0] >= CLOSING
    twice = [number for number, taken in requests.items() if len(taken) != 1]

    bench.check(row, before and left, f'the backlog did not straddle the closing: {len(before)} SMS sent before '
                f'it, {len(left)} after: the drill proves nothing')
    bench.check(row, not during, f'{len(during)} marketing requests after the closing (past {IN_FLIGHT_S:g} s of '
                f'transit), before the next opening')
    bench.check(row, len(in_flight) <= CONCURRENCY,
                f'{len(in_flight)} marketing requests within {IN_FLIGHT_S:g} s after the closing')
    bench.check(row, not not_waiting, f'{len(not_waiting)} SMS left by the closing batch without a not-before at '
                f'the next opening ({opening.astimezone(PARIS):%a %d %b %H:%M} Paris): {not_waiting[:2]}')
    bench.check(row, len(reopened) == len(left), f'{len(left) - len(reopened)} SMS left by the closing were not '
                f'sent after the window reopened')
    bench.check(row, not late, f'{len(late)} SMS sent more than {LATE_S} s after the window reopened')
    bench.check(row, not by_kind or set(by_kind) == {'trigger'},
                f'SMS of the reopening sent by steps {by_kind}: expected the router\'s trigger only')
    bench.check(row, len(delays) == len(transactional) and max(delays, default=0) <= LATE_S,
                f'transactional SMS: {len(delays)}/{len(transactional)} sent, the slowest '
                f'{max(delays, default=0):.1f} s after arriving')
    bench.check(row, after_closing > 0, 'no transactional SMS sent after the closing: the drill does not show '
                'them unaffected')
    bench.check(row, tally.sent == len(queued), f'{tally.sent} of {len(queued)} sent')
    bench.check(row, not twice and len(requests) == len(arrivals),
                f'{len(arrivals) - len(requests)} SMS never requested, {len(twice)} requested more than once '
                f'(sandbox request log)')
    bench.check(row, not iap, f'{len(iap)} of these SMS sent through Odoo IAP')
    bench.check(row, unmapped == 0, f'{unmapped} requests mapped to no step')
    row.problems.extend(problems[:5])

    counts = {}
    for _sim, _start, _end, kind in steps:
        counts[kind] = counts.get(kind, 0) + 1
    last_before = (CLOSING - max(before)).total_seconds() if before else 0.0
    reason = next((state['reason'] for state in snapshot.values() if state.get('reason')), '')
    in_flight_text = (f' ({len(in_flight)} in flight: reached the sandbox '
                      f'{", ".join(f"{(at - CLOSING).total_seconds():.4f}" for at in sorted(in_flight))} s after it, '
                      f'within the {IN_FLIGHT_S:g} s of transit allowed)') if in_flight else ''
    row.notes.append(
        f'{CLOSING_MARKETING} marketing + {CLOSING_TRANSACTIONAL} transactional SMS queued {CLOSING_LEAD_S} s '
        f'before the window closed, {CLOSING_TRANSACTIONAL} transactional {CLOSING_TRANSACTIONAL_AFTER_S} s after '
        f'it; twilio alone, its account capped at {CLOSING_RATE} segments/s; {result["elapsed"]:.0f} s real, '
        f'{len(steps)} steps ({", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))})')
    row.notes.append(
        f'marketing, from the sandbox request log: {len(before)} sent before the closing (the last '
        f'{last_before:.2f} s before it), {len(in_flight) + len(during)} requests at or after it until the next '
        f'opening{in_flight_text}; {len(left)} not sent before it: '
        f'{len(left) - len(not_waiting)} left queued with not-before '
        f'{opening.astimezone(PARIS):%a %d %b %H:%M} Paris, {len(reopened)} sent {min(reopened, default=0):.1f}-'
        f'{max(reopened, default=0):.1f} s after the window reopened (steps: '
        f'{", ".join(f"{kind} {count}" for kind, count in sorted(by_kind.items())) or "none"})')
    row.notes.append(
        f'transactional: {len(delays)}/{len(transactional)} sent, each at most {max(delays, default=0):.1f} s '
        f'after arriving ({after_closing} after the closing); {tally.sent}/{len(queued)} sent once '
        f'(sandbox request log: {sum(len(taken) for taken in requests.values())} requests, IAP {len(iap)})')
    if reason:
        row.notes.append(f'waiting reason after the closing: "{reason}"')


def _run_clock(bench, row, options, name):
    """Run the clock process with ``options``; its result, or None after noting in ``row``
    why there is none (the send windows are deleted then too)."""
    from infra.processes import LineReader  # noqa: PLC0415 - runner side only
    from infra.settings import DB_NAME  # noqa: PLC0415

    options_path = Path(bench.odoo.log_dir) / f'{name}-options.json'
    options_path.write_text(json.dumps(options), encoding='utf-8')
    proc = bench.odoo.popen([bench.odoo.python, __file__, '-c', str(bench.odoo.config_path), '-d', DB_NAME,
                             '--options', str(options_path)], name)
    reader = LineReader(proc.stdout)
    result = None
    deadline = real_time_module.monotonic() + CLOCK_TIMEOUT_S
    while result is None and real_time_module.monotonic() < deadline:
        try:
            event = reader.lines.get(timeout=1)
        except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the deadline
            continue
        if event is None:
            break
        if event.get('event') == 'done':
            result = event
    if result is None:
        proc.kill()
        proc.drill_log.close()
        _cleanup(bench)
        bench.check(row, False, f'the clock process did not finish (exit {proc.poll()}); see {proc.drill_log.name}')
        return None
    proc.wait(timeout=30)
    proc.drill_log.close()
    if result.get('error'):
        _cleanup(bench)
        bench.check(row, False, f'clock process: {result["error"][-500:]}')
        return None
    bench.check(row, result.get('windows_left') == 0, f'{result.get("windows_left")} send windows left behind')
    return result


def _cleanup(bench):
    """Delete the drill's send window after a failed clock: later drills send marketing SMS."""
    from infra.settings import DB_NAME  # noqa: PLC0415

    proc = bench.odoo.popen([bench.odoo.python, __file__, '-c', str(bench.odoo.config_path), '-d', DB_NAME,
                             '--cleanup'], 'windows-cleanup')
    proc.wait(timeout=120)
    proc.drill_log.close()


def _arrivals(bench):
    """The fortnight's SMS: (number, body, traffic, simulated arrival), seeded."""
    rng = random.Random(SEED)
    end = START + timedelta(days=DAYS)
    arrivals = []
    for traffic, spacing, group in (('marketing', MARKETING_EVERY_MIN, 1),
                                    ('transactional', TRANSACTIONAL_EVERY_MIN, 2)):
        moment = START + timedelta(minutes=rng.randint(1, spacing[0]))
        count = 0
        while moment < end:
            count += 1
            arrivals.append({'traffic': traffic, 'at': moment.astimezone(UTC), 'group': group + (count % 2) * 2})
            moment += timedelta(minutes=rng.randint(*spacing), seconds=rng.randint(0, 59))
    counters = {}
    for arrival in arrivals:
        group = arrival['group']
        counters[group] = counters.get(group, 0) + 1
        arrival['number'] = bench.numbers(group, 1, start=counters[group])[0]
        arrival['body'] = f'[windows] {arrival["traffic"]} {counters[group]} to {arrival["number"]}'
    return arrivals


def _holidays():
    import holidays  # noqa: PLC0415
    return set(holidays.country_holidays('FR', years=(2026,)))


def _allowed(moment, holidays_fr):
    """The rule as the charter words it: Monday-Saturday, 08:00-22:00 Paris, no holiday."""
    local = moment.astimezone(PARIS)
    return local.weekday() < 6 and local.date() not in holidays_fr and 8 <= local.hour < 22


def _next_opening(moment, holidays_fr):
    """``moment`` if the window is open then, else its next opening (08:00 Paris)."""
    if _allowed(moment, holidays_fr):
        return moment
    local = moment.astimezone(PARIS)
    day = local.date() if local.hour < 8 else local.date() + timedelta(days=1)
    while day.weekday() == 6 or day in holidays_fr:
        day += timedelta(days=1)
    return datetime.combine(day, time(8, 0), tzinfo=PARIS).astimezone(UTC)


def _step_of(steps, created_at):
    for step in steps:
        if step[1] - 0.001 <= created_at <= step[2] + 0.001:
            return step
    return None


# ============================================================================ the clock (Odoo side)

def clock(registry, options):
    """Move the simulated clock step by step and run the SMS queue at each step."""
    import freezegun  # noqa: PLC0415
    from freezegun.api import real_datetime  # noqa: PLC0415

    from odoo import SUPERUSER_ID, api, fields  # noqa: PLC0415

    real_time = real_time_module.time
    started = real_time()
    start = datetime.fromisoformat(options['start'])
    end = start + timedelta(days=options['days'])
    last = end + timedelta(days=options['extra_days'])
    arrivals = sorted(((datetime.fromisoformat(item['at']), item) for item in options['arrivals']),
                      key=lambda pair: pair[0])
    created = []
    regular_step = timedelta(seconds=options['regular_step_s'])
    regular = start + timedelta(seconds=options['regular_offset_s'])
    steps = []
    wait_reasons = set()
    snapshot = None

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.ref('base.main_company')
        env['sms.router.send.window'].with_context(active_test=False).search([]).unlink()
        company_id = company.id
        env.ref(options['preset']).with_company(company).action_apply()
        cron_id = env.ref('sms.ir_cron_sms_scheduler_action').id
        env['ir.cron.trigger'].search([('cron_id', '=', cron_id)]).unlink()
        cr.commit()

    freezer = freezegun.freeze_time(start.replace(tzinfo=None), tick=True)
    factory = freezer.start()
    try:
        moment, kind = start, 'start'
        next_arrival = 0
        while moment < last:
            # Move the clock: it ticks at real speed from here.
            factory.time_to_freeze = moment.replace(tzinfo=None)
            factory.start = real_datetime.now()
            real_start = real_time()
            due = []
            while next_arrival < len(arrivals) and arrivals[next_arrival][0] <= moment:
                due.append(arrivals[next_arrival][1])
                next_arrival += 1
            if due:
                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    records = env['sms.sms'].create([{
                        'number': item['number'], 'body': item['body'], 'state': 'outgoing',
                        'sms_router_company_id': company_id, 'sms_router_traffic': item['traffic'],
                    } for item in due])
                    created.extend({'uuid': sms.uuid, 'id': sms.id, 'number': sms.number, 'body': sms.body}
                                   for sms in records)
                    cr.commit()
            rounds = 0
            while rounds < 200:
                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    sms = env['sms.sms']
                    if not sms.search_count(sms._sms_router_queue_domain()):
                        break
                    sms._process_queue()
                    cr.commit()
                rounds += 1
            steps.append((moment.isoformat(), real_start, real_time(), kind))
            if kind == 'start' and options.get('snapshot_start'):
                # What the first step left queued, and until when (the closing phase).
                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    snapshot = {sms.uuid: {'state': sms.state, 'reason': sms.sms_router_hold_reason or '',
                                           'not_before': sms.sms_router_not_before and
                                           sms.sms_router_not_before.isoformat()}
                                for sms in env['sms.sms'].browse([item['id'] for item in created]).exists()}
            # The next step: an arrival, a trigger the router left, or the hourly step.
            while regular <= moment:
                regular += regular_step
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                now = fields.Datetime.now()
                triggers = env['ir.cron.trigger'].search(
                    [('cron_id', '=', cron_id), ('call_at', '>', now)], order='call_at', limit=1)
                waiting = env['sms.sms'].search([('sms_router_window_id', '!=', False), ('state', '=', 'outgoing')],
                                                limit=1)
                if waiting.sms_router_hold_reason and len(wait_reasons) < 3:
                    wait_reasons.add(waiting.sms_router_hold_reason)
                if moment >= end and next_arrival >= len(arrivals) and not env['sms.sms'].search_count(
                        [('state', '=', 'outgoing'), ('to_delete', '=', False)]):
                    break    # every SMS of the fortnight has left
                candidates = [(regular, 'regular')]
                if next_arrival < len(arrivals):
                    candidates.append((arrivals[next_arrival][0], 'arrival'))
                if triggers:
                    candidates.append((triggers.call_at.replace(tzinfo=UTC), 'trigger'))
            moment, kind = min(candidates, key=lambda candidate: (candidate[0], candidate[1] != 'trigger'))
            # Never back in time: a step that ran past the next moment (the closing phase's
            # long batch) is followed at the simulated time it reached.
            moment = max(moment, factory().replace(tzinfo=UTC))
    finally:
        freezer.stop()
        # The drills after this one send marketing SMS to France at any time of day.
        left = remove_windows(registry)
    return {'steps': steps, 'created': created, 'elapsed': real_time() - started,
            'wait_reasons': sorted(wait_reasons), 'windows_left': left, 'start_snapshot': snapshot}


def remove_windows(registry):
    """Delete every send window of the drill database; return how many are left (0)."""
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        windows = env['sms.router.send.window'].with_context(active_test=False)
        windows.search([]).unlink()
        cr.commit()
        return windows.search_count([])


def main(argv=None):
    import argparse  # noqa: PLC0415
    import traceback  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/drills: drill_worker
    import drill_worker  # noqa: PLC0415

    parser = argparse.ArgumentParser(description='The clock of the send window drill (Odoo side).')
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--options', help='path of a JSON file')
    parser.add_argument('--cleanup', action='store_true', help='only delete the send windows')
    args = parser.parse_args(argv)
    registry = drill_worker.bootstrap(args.config, args.database)
    if args.cleanup:
        drill_worker.emit({'event': 'done', 'windows_left': remove_windows(registry)})
        return 0
    options = json.loads(Path(args.options).read_text(encoding='utf-8'))
    try:
        result = clock(registry, options)
    except Exception:  # noqa: BLE001 - reported to the runner, which fails the drill
        result = {'error': traceback.format_exc()}
    drill_worker.emit({'event': 'done', **result})
    return 0


if __name__ == '__main__':
    sys.exit(main())
