import contextlib
import logging
import threading
from datetime import timezone

from odoo import api, fields, models
from odoo.tools import SQL

from ..engine.breakers import BreakerState, BreakerStore, CLOSED, HALF_OPEN, OPEN
from ..tools.reason_text import render_reason
from ..tools.side_transaction import side_cursor

_logger = logging.getLogger(__name__)

BREAKER_STATES = [(CLOSED, 'Closed'), (OPEN, 'Open'), (HALF_OPEN, 'Half-open')]
_COLUMNS = ('state', 'failure_count', 'success_count', 'opened_at', 'open_count', 'forced_open',
            'paused_until', 'probe_owner', 'probe_until', 'last_failure')
_DATETIMES = ('opened_at', 'paused_until', 'probe_until')


class SmsRouterBreaker(models.Model):
    """Shared circuit-breaker state of one provider account.

    Rows are written by :class:`PostgresBreakerStore` in their own short transactions, never
    by the sending transaction: a rollback of a batch must not forget that a provider is
    down, and workers must not wait on each other's sending transaction to read it. The
    account is referenced by id without a foreign key for the same reason (an account
    created in a still-open transaction is invisible to the breaker's transaction).
    """
    _name = 'sms.router.breaker'
    _description = 'SMS Router Circuit Breaker'
    _rec_name = 'account_id'

    account_id = fields.Integer(required=True, index=True)
    state = fields.Selection(BREAKER_STATES, required=True, default=CLOSED)
    failure_count = fields.Integer()
    success_count = fields.Integer()
    opened_at = fields.Datetime()
    open_count = fields.Integer(help='Consecutive openings; each failed probe doubles the cool-down.')
    forced_open = fields.Boolean()
    paused_until = fields.Datetime()
    probe_owner = fields.Char()
    probe_until = fields.Datetime()
    last_failure = fields.Char()

    _account_unique = models.Constraint('unique(account_id)', 'One breaker per account.')

    @api.model
    def _store(self):
        # A failure it stores is written in the environment's language (the sending
        # company's while sending: SmsRouterApi._send_sms_batch).
        return PostgresBreakerStore(self.env.registry, lang=self.env.lang)


def _to_aware(value):
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _to_naive(value):
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value is not None and value.tzinfo else value


def _column_value(name, value):
    return _to_naive(value) if name in _DATETIMES else value


def _state_of(row):
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in _DATETIMES:
        values[name] = _to_aware(values[name])
    values['last_failure'] = values['last_failure'] or ''
    for name in ('failure_count', 'success_count', 'open_count'):
        values[name] = values[name] or 0
    values['forced_open'] = bool(values['forced_open'])
    return BreakerState(**values)


_SELECTED = SQL(', ').join(SQL.identifier(name) for name in _COLUMNS)
_RETURNED = SQL(', ').join(SQL.identifier('b', name) for name in _COLUMNS)
_NEW_ROW = {name: getattr(BreakerState(), name) for name in _COLUMNS}  # closed, nothing counted


class PostgresBreakerStore(BreakerStore):
    """BreakerStore on the ``sms_router_breaker`` table, in short side transactions.

    Every operation is one statement. A write is an ``UPDATE ... RETURNING`` of the whole
    row, so the new state comes back without a separate read; only the first write of an
    account adds the ``INSERT`` of its row.

    Odoo cursors run REPEATABLE READ, where two workers updating the same breaker row at
    once make the second fail with a serialization error. Breaker writes are single
    statements whose conditions and increments must apply to the latest row, which is
    exactly READ COMMITTED's behaviour, so each breaker transaction switches to it.
    """

    def __init__(self, registry, lang=None):
        self.registry = registry
        self.lang = lang                # of the last failure it stores (engine Reasons)
        self._local = threading.local()

    def _new_cursor(self):
        return side_cursor(self.registry)

    @contextlib.contextmanager
    def _cursor(self):
        """The cursor of the current session (opened on its first use), or a new one
        committed on exit."""
        if getattr(self._local, 'in_session', False):
            if self._local.cr is None:
                self._local.cr = self._new_cursor()
            yield self._local.cr
            return
        with self._new_cursor() as cr:
            yield cr

    @contextlib.contextmanager
    def session(self):
        # The statements of one outcome (two when a failure opens the breaker) go in one
        # transaction: one connection from the pool and one commit, and the row stays locked
        # from the first write to the commit. An outcome that writes nothing (a success on a
        # healthy breaker) opens none.
        if getattr(self._local, 'in_session', False):
            yield
            return
        self._local.in_session, self._local.cr = True, None
        try:
            yield
        except BaseException:
            if self._local.cr is not None:
                self._local.cr.rollback()
            raise
        else:
            if self._local.cr is not None:
                self._local.cr.commit()
        finally:
            if self._local.cr is not None:
                self._local.cr.close()
            self._local.in_session, self._local.cr = False, None

    def load(self, account_id):
        return self.load_many([account_id])[account_id]

    def load_many(self, account_ids):
        account_ids = list(account_ids)
        if not account_ids:
            return {}
        with self._cursor() as cr:
            cr.execute(SQL("SELECT account_id, %s FROM sms_router_breaker WHERE account_id = ANY(%s)",
                           _SELECTED, account_ids))
            stored = {row[0]: _state_of(row[1:]) for row in cr.fetchall()}
        return {account_id: stored.get(account_id) or BreakerState() for account_id in account_ids}

    def update(self, account_id, **values):
        return self._write(account_id, values)

    def apply(self, account_id, owner, changes=None, count_failure=False, paused_until=None):
        return self._write(account_id, changes or {}, owner=owner, count_failure=count_failure,
                           paused_until=paused_until)

    def _write(self, account_id, values, owner=None, count_failure=False, paused_until=None):
        """Write ``values`` in one statement and return the new state. With an ``owner``,
        ``values`` and the failure count apply only when the row takes that owner's outcome
        (BreakerState.takes_outcome_of, in SQL on the row as the statement locks it: the
        latest committed one); ``paused_until`` applies in any case."""
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f'unknown breaker fields {sorted(unknown)}')
        if values.get('last_failure'):
            values = {**values, 'last_failure': render_reason(values['last_failure'], self.lang)[:500]}
        new_row = {**_NEW_ROW, **values}
        updates = {name: SQL('%s', _column_value(name, value)) for name, value in values.items()}
        if count_failure:
            new_row['failure_count'] += 1
            updates['failure_count'] = SQL('%s + 1', SQL.identifier('b', 'failure_count'))
        if owner is not None:
            takes_outcome = SQL("(b.state = 'closed' OR (b.state = 'half-open' AND b.probe_owner = %s))", owner)
            updates = {name: SQL('CASE WHEN %s THEN %s ELSE %s END', takes_outcome, value, SQL.identifier('b', name))
                       for name, value in updates.items()}
        if paused_until is not None:
            new_row['paused_until'] = paused_until
            updates['paused_until'] = SQL('%s', _to_naive(paused_until))
        assignments = SQL(', ').join([
            *(SQL('%s = %s', SQL.identifier(name), value) for name, value in updates.items()),
            SQL("write_date = now() at time zone 'UTC'"),
        ])
        with self._cursor() as cr:
            cr.execute(SQL("UPDATE sms_router_breaker AS b SET %s WHERE b.account_id = %s RETURNING %s",
                           assignments, account_id, _RETURNED))
            row = cr.fetchone()
            if row is None:
                # The first write of an account (once: its row is never deleted while it
                # lives) creates the row, or updates the one another process just created.
                # Not an upsert every time: each INSERT draws an id, even when it conflicts.
                cr.execute(SQL("""
                    INSERT INTO sms_router_breaker AS b (account_id, %s, create_date, write_date)
                    VALUES (%s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
                    ON CONFLICT (account_id) DO UPDATE SET %s
                    RETURNING %s
                """, _SELECTED, account_id,
                    SQL(', ').join(_column_value(name, new_row[name]) for name in _COLUMNS),
                    assignments, _RETURNED))
                row = cr.fetchone()
            return _state_of(row)

    def acquire_probe(self, account_id, owner, now, not_before, lease_until):
        # The WHERE clause is the compare-and-set: of two workers racing here, PostgreSQL
        # lets exactly one UPDATE match the open row; the other sees it half-open and leased.
        # It is BreakerState.probe_due in SQL (the route tester's peek() uses that one).
        with self._cursor() as cr:
            cr.execute(SQL("""
                UPDATE sms_router_breaker
                   SET state = 'half-open', probe_owner = %(owner)s, probe_until = %(lease)s
                 WHERE account_id = %(account)s AND NOT forced_open
                   AND ((state = 'open' AND opened_at <= %(not_before)s)
                        OR (state = 'half-open' AND (probe_until IS NULL OR probe_until <= %(now)s)))
                RETURNING id
            """, owner=owner, lease=_to_naive(lease_until), account=account_id,
                not_before=_to_naive(not_before), now=_to_naive(now)))
            return cr.fetchone() is not None

    def release_probe(self, account_id, owner):
        # Compare-and-set as acquire_probe: only the lease's owner gives it back, and only
        # while no outcome moved the breaker (a recorded probe left half-open already).
        with self._cursor() as cr:
            cr.execute(SQL("""
                UPDATE sms_router_breaker AS b
                   SET state = 'open', probe_owner = NULL, probe_until = NULL
                 WHERE b.account_id = %s AND b.state = 'half-open' AND b.probe_owner = %s
                RETURNING %s
            """, account_id, owner, _RETURNED))
            row = cr.fetchone()
        return _state_of(row) if row else self.load(account_id)
