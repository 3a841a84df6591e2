"""Short transactions beside the sending one (breakers, hand-off journal).

They must see and write the latest rows (READ COMMITTED: Odoo's cursors are REPEATABLE
READ, where two workers updating one breaker row make the second fail) and must never make
a batch wait: a breaker row or the journal locked by someone else (a long manual UPDATE, a
migration) raises after ``LOCK_TIMEOUT``, which the caller treats as a bookkeeping failure
(the breaker fails open, the hand-off is not sent).
"""
from odoo.sql_db import Cursor
from odoo.tools import SQL

LOCK_TIMEOUT = '2s'
STATEMENT_TIMEOUT = '5s'


def side_cursor(registry):
    """A new cursor on ``registry`` set up for a side transaction; use it as a context
    manager (committed on exit)."""
    cr = registry.cursor()
    if type(cr) is Cursor:  # a test cursor shares the test's transaction: leave it alone
        cr.execute(SQL('SET TRANSACTION ISOLATION LEVEL READ COMMITTED'))
        cr.execute(SQL('SET LOCAL lock_timeout = %s', LOCK_TIMEOUT))
        cr.execute(SQL('SET LOCAL statement_timeout = %s', STATEMENT_TIMEOUT))
    return cr
