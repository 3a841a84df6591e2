import contextlib
import logging
import threading
from datetime import timezone

from odoo import api, fields, models
from odoo.tools import SQL

from ..engine.breakers import BreakerState, BreakerStore, CLOSED, HALF_OPEN, OPEN
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
        return PostgresBreakerStore(self.env.registry)


def _to_aware(value):
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _to_naive(value):
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value is not None and value.tzinfo else value


def _assignments(values):
    """``column = value`` terms of an UPDATE, for breaker columns checked against _COLUMNS."""
    return [SQL('%s = %s', SQL.identifier(name), _to_naive(value) if name in _DATETIMES else value)
            for name, value in values.items()]


class PostgresBreakerStore(BreakerStore):
    """BreakerStore on the ``sms_router_breaker`` table; one short transaction per call.

    Odoo cursors run REPEATABLE READ, where two workers updating the same breaker row at
    once make the second fail with a serialization error. Breaker writes are single
    statements whose WHERE clause and increments must apply to the latest row, which is
    exactly READ COMMITTED's behaviour, so each breaker transaction switches to it.
    """

    def __init__(self, registry):
        self.registry = registry
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
        # The breaker's writes for one outcome (count, reason, state, opening time) go in
        # one transaction: one connection from the pool and one commit, not one per write;
        # an outcome that writes nothing (a success on a healthy breaker) opens none.
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

    def _row(self, cr, account_id):
        cr.execute(SQL("SELECT %s FROM sms_router_breaker WHERE account_id = %s",
                       SQL(', ').join(SQL.identifier(name) for name in _COLUMNS), account_id))
        row = cr.fetchone()
        if row is None:
            return BreakerState()
        values = dict(zip(_COLUMNS, row, strict=True))
        for name in _DATETIMES:
            values[name] = _to_aware(values[name])
        values['last_failure'] = values['last_failure'] or ''
        for name in ('failure_count', 'success_count', 'open_count'):
            values[name] = values[name] or 0
        values['forced_open'] = bool(values['forced_open'])
        return BreakerState(**values)

    @staticmethod
    def _ensure(cr, account_id):
        cr.execute(SQL("""
            INSERT INTO sms_router_breaker (account_id, state, failure_count, success_count,
                                            open_count, forced_open, create_date, write_date)
            VALUES (%s, 'closed', 0, 0, 0, false, now() at time zone 'UTC', now() at time zone 'UTC')
            ON CONFLICT (account_id) DO NOTHING
        """, account_id))

    def load(self, account_id):
        with self._cursor() as cr:
            return self._row(cr, account_id)

    def load_many(self, account_ids):
        with self._cursor() as cr:
            return {account_id: self._row(cr, account_id) for account_id in account_ids}

    def update(self, account_id, **values):
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f'unknown breaker fields {sorted(unknown)}')
        assignments = SQL(', ').join(_assignments(values))
        with self._cursor() as cr:
            self._ensure(cr, account_id)
            cr.execute(SQL("""UPDATE sms_router_breaker SET %s,
                                   write_date = now() at time zone 'UTC'
                               WHERE account_id = %s""", assignments, account_id))
            return self._row(cr, account_id)

    def increment(self, account_id, counter, **values):
        if counter not in ('failure_count', 'success_count'):
            raise ValueError(counter)
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f'unknown breaker fields {sorted(unknown)}')
        column = SQL.identifier(counter)
        assignments = SQL(', ').join([SQL('%s = %s + 1', column, column), *_assignments(values)])
        with self._cursor() as cr:
            self._ensure(cr, account_id)
            cr.execute(SQL("UPDATE sms_router_breaker SET %s WHERE account_id = %s RETURNING %s",
                           assignments, account_id, column))
            return cr.fetchone()[0]

    def acquire_probe(self, account_id, owner, now, not_before, lease_until):
        # The WHERE clause is the compare-and-set: of two workers racing here, PostgreSQL
        # lets exactly one UPDATE match the open row; the other sees it half-open and leased.
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
