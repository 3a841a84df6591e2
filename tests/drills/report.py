"""What a drill run reports: one row per drill, the table, ``drills.md``.

Each drill fills a ``Row`` (its SMS, what became of them, the provider requests, notes and
problems); a ``Tally`` is what one set of queued SMS became, added to the row by
``Bench.tally``. The table is printed at the end of the run and written to
``.run/drills/<time>/drills.md`` next to the logs of every Odoo process; the README's table
of results is that file.
"""
from dataclasses import dataclass, field

from infra.settings import AT_LEAST_ONCE, DRILL_LIMIT_S  # first: infra puts tests/harness on sys.path

import procutil


def say(message):
    print(message, flush=True)


@dataclass
class Row:
    name: str
    sms: int = 0
    sent: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    requests: str = ''
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    seconds: float = 0.0
    policy: str = AT_LEAST_ONCE
    limit: float = DRILL_LIMIT_S       # seconds the drill may take
    started: float = 0.0               # time.monotonic() at its start
    webhook_results: list = None       # the webhook drill: [(call, HTTP status, expected)]

    @property
    def ok(self):
        return not self.problems


@dataclass
class Tally:
    """What one batch of queued SMS became."""

    sent: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    ambiguous: int = 0                 # SMS with at least one ambiguous attempt
    needs_review: int = 0
    failed_but_accepted: int = 0       # Odoo says failed, a provider did accept it
    sent_by: dict = field(default_factory=dict)       # provider -> SMS count
    failure_types: dict = field(default_factory=dict)
    lost_details: list = field(default_factory=list)
    duplicate_uuids: list = field(default_factory=list)
    info: dict = field(default_factory=dict)           # uuid -> inspect record


def say_row(name, row):
    """The line printed as each drill ends, with its problems below."""
    verdict = 'ok' if row.ok else 'FAILED'
    say(f'[drills] {name}: {verdict} in {row.seconds:.1f} s: {row.sms} SMS, '
        f'{row.sent} sent, {row.failed} failed, {row.lost} lost, '
        f'{row.duplicated} duplicated')
    for problem in row.problems:
        say(f'           - {problem}')


def render(rows, total_seconds):
    header = ('| Drill | SMS | Sent | Failed with reason | Lost | Duplicated | '
              'Provider requests | Notes |')
    lines = [header, '|---|---:|---:|---:|---:|---:|---|---|']
    for row in rows:
        status = '' if row.ok else ' **FAILED**'
        notes = '; '.join(row.notes).replace('|', '/')
        lines.append(f'| {row.name}{status} | {row.sms} | {row.sent} | {row.failed} | '
                     f'{row.lost} | {row.duplicated} | {row.requests} | {notes} |')
    passed = sum(row.ok for row in rows)
    lines.append('')
    lines.append(f'{passed}/{len(rows)} drills passed in {procutil.fmt_duration(total_seconds)}; '
                 f'{sum(r.sms for r in rows)} SMS, {sum(r.lost for r in rows)} lost, '
                 f'{sum(r.duplicated for r in rows)} duplicated.')
    return '\n'.join(lines)


def publish(rows, total_seconds, log_dir):
    """Print the table (and the webhook drill's calls), write it to ``drills.md``."""
    table = render(rows, total_seconds)
    say('')
    say(table)
    (log_dir / 'drills.md').write_text(table + '\n', encoding='utf-8')
    for row in rows:
        if row.webhook_results is None:
            continue
        say('')
        say('| Webhook call | HTTP | Expected |')
        say('|---|---:|---:|')
        for label, status, expect in row.webhook_results:
            say(f'| {label} | {status} | {expect} |')
    say(f'\nlogs: {log_dir}')
