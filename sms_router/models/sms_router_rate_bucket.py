import logging
from datetime import timezone

from odoo import api, fields, models
from odoo.sql_db import Cursor
from odoo.tools import SQL

from ..engine.governor import (
    GRANTED, TRANSACTIONAL, WAIT_DAILY, WAIT_FAULT, WAIT_PAUSE, WAIT_RATE, BucketState, Governor, Wait, next_midnight,
    zone, zone_name,
)
from ..tools.side_transaction import LOCK_TIMEOUT, STATEMENT_TIMEOUT

_logger = logging.getLogger(__name__)


class SmsRouterRateBucket(models.Model):
    """The token bucket of one provider account's throughput governor (engine/governor.py),
    shared by every worker process.

    Written by :class:`PostgresGovernor` in short side transactions of one statement, never
    by the sending transaction: every worker must see a grant at once, and a batch rolled
    back after its providers accepted SMS must not give their segments back. The account is
    referenced by id without a foreign key for the same reason (see sms.router.breaker).
    """
    _name = 'sms.router.rate.bucket'
    _description = 'SMS Router Rate Bucket'
    _rec_name = 'account_id'

    account_id = fields.Integer(required=True, index=True)
    tokens = fields.Float(help='Segments in the bucket at Updated At (empty: full).')
    updated_at = fields.Datetime()
    day = fields.Date(help="Day of Used Today, in the account's time zone.")
    used_today = fields.Float()
    paused_until = fields.Datetime(help='The provider asked to wait until then (Retry-After).')
    last_granted = fields.Boolean()

    _account_unique = models.Constraint('unique(account_id)', 'One rate bucket per account.')

    @api.model
    def _sms_router_governor(self, account_id, settings):
        return PostgresGovernor(account_id, settings, self.env.registry)


def _aware(value):
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


# The database's clock, as naive UTC like every Odoo datetime; one value per statement.
_NOW = SQL("(statement_timestamp() AT TIME ZONE 'UTC')")
_RETURNED = SQL('b.last_granted, b.tokens, b.used_today, b.paused_until, b.day, %s', _NOW)
# A side transaction's settings (tools/side_transaction.py), sent with its first statement.
_SIDE_SETTINGS = SQL('SET TRANSACTION ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = %s; '
                     'SET LOCAL statement_timeout = %s; ', LOCK_TIMEOUT, STATEMENT_TIMEOUT)


class PostgresGovernor(Governor):
    """Governor on the ``sms_router_rate_bucket`` table: every acquisition is one
    ``UPDATE ... RETURNING`` in a short side transaction of its own (READ COMMITTED, lock
    and statement timeouts, committed at once), on the database's clock, so that every
    worker shares the bucket and no lock is held while a request runs. The rules are
    ``engine.governor.take``'s, in SQL: refill (at most the capacity), then grant when not
    paused, within the daily cap and with the cost plus the priority's floor available; the
    statement writes whether it granted and returns the new row, from which the wait is
    computed.

    One governor serves one batch: it keeps one cursor of the connection pool from its
    first statement until ``close()`` (the dispatcher closes it when the batch is
    dispatched), so that an acquisition costs two round trips (the statement, with the side
    transaction's settings in front, and the commit), not a cursor of its own each time.
    ``cursor_factory()`` gives that cursor (default: the registry's).
    """

    # When the bucket cannot be read or written (lock held, database fault), a request
    # waits this long and asks again: its SMS stay queued, never sent over the limit.
    FAULT_WAIT = 1.0

    def __init__(self, account_id, settings, registry=None, cursor_factory=None):
        self.account_id = account_id
        self.settings = settings
        self._new_cursor = cursor_factory or registry.cursor
        self._cr = None
        self.faults = 0

    def _run(self, query, keep=True):
        """Run ``query`` in a transaction of its own and commit; return its first row. The
        cursor stays open for the next statement when ``keep``."""
        opened = self._cr is None
        if opened:
            self._cr = self._new_cursor()
        try:
            # A test cursor shares the test's transaction: no settings of its own.
            settings = _SIDE_SETTINGS if type(self._cr) is Cursor else SQL()
            row = self._execute(self._cr, query, settings)
            # The side transaction ends here (its own cursor, never the sending transaction's):
            # every worker sees the grant at once.
            self._cr.commit()  # pylint: disable=invalid-commit
        except Exception:
            self.close()
            raise
        if opened and not keep:
            self.close()
        return row

    def close(self):
        """Give the cursor back to the pool (nothing is left uncommitted)."""
        cr, self._cr = self._cr, None
        if cr is not None:
            try:
                cr.close()
            except Exception:  # noqa: BLE001 - closing a broken connection must not stop a batch
                _logger.debug('SMS router: rate bucket cursor of account %s not closed cleanly', self.account_id)

    def _execute(self, cr, query, settings):
        """Run ``query`` (an UPDATE of this account's row ... RETURNING); create the row the
        first time (once per account: then an UPDATE is all it costs)."""
        cr.execute(SQL('%s%s', settings, query))
        row = cr.fetchone()
        if row is None:
            cr.execute(SQL("""
                INSERT INTO sms_router_rate_bucket (account_id, used_today, last_granted, create_date, write_date)
                VALUES (%s, 0, FALSE, %s, %s) ON CONFLICT (account_id) DO NOTHING
            """, self.account_id, _NOW, _NOW))
            cr.execute(query)
            row = cr.fetchone()
        return row

    def acquire(self, cost, priority=TRANSACTIONAL):
        settings = self.settings
        cost = float(cost)
        rate = float(settings.rate or 0)
        capacity = settings.capacity if rate > 0 else None
        floor = settings.floor(priority)
        elapsed = SQL('GREATEST(0, EXTRACT(EPOCH FROM %s - b.updated_at))', _NOW)
        # NULL tokens or a first use: a full bucket.
        refilled = SQL('LEAST(%(capacity)s, COALESCE(b.tokens + %(rate)s * %(elapsed)s, %(capacity)s))',
                       capacity=capacity, rate=rate, elapsed=elapsed)
        # A time zone PostgreSQL does not know would fail every acquisition: UTC instead, as
        # the engine does (engine.governor.zone).
        today = SQL("((statement_timestamp() AT TIME ZONE %s)::date)", zone_name(settings.tz))
        used = SQL('(CASE WHEN b.day = %s THEN COALESCE(b.used_today, 0) ELSE 0 END)', today)
        granted = SQL(
            '(NOT COALESCE(b.paused_until > %(now)s, FALSE)'
            ' AND (%(cap)s <= 0 OR %(used)s + %(cost)s <= %(cap)s)'
            ' AND (%(rate)s <= 0 OR %(refilled)s >= LEAST(%(needed)s, %(capacity)s)))',
            now=_NOW, cap=int(settings.daily_cap or 0), used=used, cost=cost, rate=rate, refilled=refilled,
            needed=cost + floor, capacity=capacity if capacity is not None else cost + floor)
        tokens = SQL('CASE WHEN %s THEN %s - %s ELSE %s END', granted, refilled, cost, refilled) \
            if rate > 0 else SQL('NULL')
        query = SQL("""
            UPDATE sms_router_rate_bucket AS b
               SET tokens = %(tokens)s,
                   used_today = %(used)s + CASE WHEN %(granted)s THEN %(cost)s ELSE 0 END,
                   last_granted = %(granted)s,
                   day = %(today)s,
                   updated_at = GREATEST(b.updated_at, %(now)s)
             WHERE b.account_id = %(account)s
         RETURNING %(returned)s
        """, tokens=tokens, used=used, granted=granted, cost=cost, today=today, now=_NOW,
                    account=self.account_id, returned=_RETURNED)
        try:
            ok, left, used_today, paused_until, _day, now = self._run(query)
        except Exception as error:  # noqa: BLE001 - a bookkeeping fault keeps the SMS queued, see FAULT_WAIT
            self._fault('read', error)
            return Wait(self.FAULT_WAIT, WAIT_FAULT)
        if ok:
            return GRANTED
        now, paused_until = _aware(now), _aware(paused_until)
        if paused_until and paused_until > now:
            return Wait((paused_until - now).total_seconds(), WAIT_PAUSE)
        if settings.daily_cap > 0 and (used_today or 0) + cost > settings.daily_cap:
            return Wait((next_midnight(now, settings.tz) - now).total_seconds(), WAIT_DAILY)
        needed = min(cost + floor, capacity)
        return Wait(max((needed - (left or 0.0)) / rate, 0.001), WAIT_RATE)

    def pause(self, seconds):
        query = SQL("""
            UPDATE sms_router_rate_bucket AS b
               SET paused_until = GREATEST(b.paused_until, %(now)s + make_interval(secs => %(seconds)s))
             WHERE b.account_id = %(account)s
         RETURNING %(returned)s
        """, now=_NOW, seconds=float(seconds), account=self.account_id, returned=_RETURNED)
        try:
            self._run(query)
        except Exception as error:  # noqa: BLE001 - its SMS stay queued anyway; the next 429 pauses again
            self._fault('paused', error)

    def _fault(self, action, error):
        self.faults += 1
        # One warning per governor and batch; a database that stays down would flood the log.
        log = _logger.warning if self.faults == 1 else _logger.debug
        log('SMS router: rate bucket of account %s could not be %s (%s: %s); its requests wait',
            self.account_id, action, type(error).__name__, error)

    def state(self):
        """The bucket as it stands now (refilled), read-only; a fresh BucketState when the
        account never sent."""
        # A cursor of its own, closed at once (read only: nothing to commit); the batch's
        # cursor, when open, must start each acquisition's transaction afresh.
        cr = self._new_cursor()
        try:
            cr.execute(SQL("""
                SELECT b.tokens, b.updated_at, b.day, b.used_today, b.paused_until, %s
                  FROM sms_router_rate_bucket b WHERE b.account_id = %s
            """, _NOW, self.account_id))
            row = cr.fetchone()
        finally:
            cr.close()
        if row is None:
            return BucketState()
        tokens, updated_at, day, used_today, paused_until, now = row
        now, updated_at = _aware(now), _aware(updated_at)
        settings = self.settings
        if settings.rate > 0 and tokens is not None and updated_at:
            elapsed = max(0.0, (now - updated_at).total_seconds())
            tokens = min(settings.capacity, tokens + settings.rate * elapsed)
        today = now.astimezone(zone(settings.tz)).date()
        return BucketState(tokens=tokens, updated_at=now, day=today,
                           used_today=(used_today or 0.0) if day == today else 0.0,
                           paused_until=_aware(paused_until))
