"""Bookkeeping faults: the router's own tables fail in the middle of a batch.

``bookkeeping_fault(bench, fault)``: while a batch of 20 sends, another PostgreSQL
connection makes a table unusable for ``BOOKKEEPING_FAULT_S`` seconds, as a long manual
UPDATE, a migration or a broken schema would:

- ``lock``: ``LOCK TABLE sms_router_breaker IN ACCESS EXCLUSIVE MODE``;
- ``rename``: the breaker table disappears (``ALTER TABLE ... RENAME``), so every breaker
  statement fails at once;
- ``journal`` (at most once): the hand-off journal is locked.

Twilio fails two requests in that window so that the breaker has something to record. SMS a
provider accepted must end sent with their attempts, nothing may go out twice, and the log
must say what happened ("treated as closed", "could not be journaled").
"""
import threading
import time
from pathlib import Path

from infra.database import pg_connect
from infra.settings import AT_LEAST_ONCE, AT_MOST_ONCE, DB_NAME, GROUP

BOOKKEEPING_FAULT_S = 6    # how long the breaker table stays locked / renamed


def _make_unusable(bench, fault, state):
    """Make the breaker table (or the hand-off journal) unusable for a few seconds from
    another connection, as a long manual UPDATE, a migration or a broken schema would."""
    connection = pg_connect(bench.db_args, DB_NAME)
    try:
        if fault != 'journal':
            # Two failed requests for the breaker to count while it cannot: their answers
            # come back after the sandbox's latency, when the table is out of reach.
            bench.sandbox.set_mode('twilio', 'http500', fault_count=2)
        state['asked'] = time.time()
        with connection.cursor() as cr:
            if fault == 'rename':
                cr.execute('ALTER TABLE sms_router_breaker RENAME TO sms_router_breaker_offline')
                connection.commit()
            else:
                table = 'sms_router_handoff' if fault == 'journal' else 'sms_router_breaker'
                cr.execute(f'LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE')
            state['on'] = time.time()
            time.sleep(BOOKKEEPING_FAULT_S)
    finally:
        try:
            connection.rollback()
            if fault == 'rename':
                with connection.cursor() as cr:
                    cr.execute('ALTER TABLE sms_router_breaker_offline '
                               'RENAME TO sms_router_breaker')
                connection.commit()
            state['off'] = time.time()
        finally:
            connection.close()


def bookkeeping_fault(bench, fault):
    """The breaker store or the hand-off journal fails in the middle of a batch.

    ``lock``: another connection holds ``LOCK TABLE sms_router_breaker IN ACCESS
    EXCLUSIVE MODE``; ``rename``: the table disappears (``ALTER TABLE ... RENAME``) so
    every breaker statement fails at once; ``journal`` (at most once): the hand-off
    journal is locked. SMS a provider accepted must end sent with their attempts,
    nothing may go out twice, and the log must say what happened.
    """
    labels = {
        'lock': 'breaker table locked (LOCK TABLE ... ACCESS EXCLUSIVE) mid-batch',
        'rename': 'breaker table gone (ALTER TABLE ... RENAME) mid-batch',
        'journal': 'hand-off journal locked mid-batch, at most once',
    }
    policy = AT_MOST_ONCE if fault == 'journal' else AT_LEAST_ONCE
    # Batches of 20: the fault hits the outcomes and the hand-offs of the batch in
    # flight and, while it lasts, the start of the next one.
    row = bench.begin(f'bookkeeping fault: {labels[fault]} for {BOOKKEEPING_FAULT_S} s',
                      policy=policy, batch_size=20)
    bench.sandbox.configure('twilio', latency_ms=300)
    queued = bench.queue(row, GROUP['twilio'], 40)
    state = {}
    fault_thread = threading.Thread(target=_make_unusable, args=(bench, fault, state),
                                    daemon=True)
    flip = bench.when_accepted('twilio', 8, fault_thread.start)
    try:
        result = bench.send('sender', timeout=80)
    finally:
        flip['thread'].join(1)
        if fault_thread.is_alive() or flip['fired']:
            fault_thread.join(BOOKKEEPING_FAULT_S + 30)
        bench.sandbox.set_mode('twilio', 'ok')
    tally = bench.tally(row, queued)
    log = Path(result['log']).read_text(encoding='utf-8', errors='replace')
    closed = log.count('treated as closed')
    unread = log.count('could not be read (')
    unwritten = log.count('could not be written (')
    unjournaled = log.count('could not be journaled')
    twilio = bench.sandbox.counters('twilio')
    outcomes = bench.outcomes(tally, 'twilio')
    bench.check(row, 'on' in state and 'off' in state, f'the fault never applied: {state}')
    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
    bench.check(row, tally.duplicated == 0, f'{tally.duplicated} duplicates')
    bench.check(row, twilio['recipients_accepted'] == tally.sent_by.get('twilio', 0),
                f'twilio accepted {twilio["recipients_accepted"]}, the trail says '
                f'{tally.sent_by.get("twilio", 0)}')
    bench.check(row, tally.needs_review == 0, f'{tally.needs_review} flagged for review')
    if fault == 'journal':
        bench.check(row, unjournaled >= 1, 'no "could not be journaled" warning in the log')
    else:
        bench.check(row, closed >= 1, 'no "treated as closed" warning in the log')
        bench.check(row, outcomes.get('provider_error') == 2 and tally.sent_by.get('ovh') == 2,
                    f'the 2 failed requests: twilio attempts {outcomes}, sent by {tally.sent_by}')
    breaker = tally.info['breakers']['twilio']
    row.notes.append(f'fault after twilio accepted 8 SMS, for {BOOKKEEPING_FAULT_S} s; '
                     f'{result["batches"]} batches')
    if fault == 'journal':
        waited = state['on'] - state['asked'] if 'on' in state else 0
        row.notes.append(f'the LOCK waited {waited:.1f} s for the sending transaction (it '
                         f'reads the journal) and every hand-off queued behind it: '
                         f'{unjournaled} hand-offs could not be journaled (2 s lock timeout '
                         f'each): those SMS were not sent and stayed queued, then went out in '
                         f'the next batch; all {tally.sent} sent once, none flagged for review')
    else:
        row.notes.append(f'{closed} "treated as closed" warnings (breaker could not be read: '
                         f'{unread}, written: {unwritten}; one warning per breaker and batch); '
                         f'twilio failed 2 requests meanwhile (500), their '
                         f'SMS failed over to ovh; all {tally.sent} sent once with their '
                         f'attempts (twilio {tally.sent_by.get("twilio", 0)}, ovh '
                         f'{tally.sent_by.get("ovh", 0)}); breaker afterwards: '
                         f'{breaker["state"]}, {breaker["failure_count"]} failures counted')
    return bench.finish(row)
