"""Direct PostgreSQL connections, for what the Odoo processes must not do themselves.

The runner drops the drill database of an earlier run on a server it did not start; the
bookkeeping drills take a table away from the router from another connection; the
neutralized-copy drill copies the database. ``db_args`` are Odoo's command-line options
(``--db_host=...``) of the run.
"""
from infra.settings import DB_NAME


def pg_connect(db_args, dbname):
    import psycopg2  # noqa: PLC0415 - Odoo's dependency, present wherever Odoo runs
    values = dict(arg[2:].split('=', 1) for arg in db_args)
    return psycopg2.connect(host=values['db_host'], port=values['db_port'],
                            user=values['db_user'], dbname=dbname)


def drop_database(db_args):
    connection = pg_connect(db_args, 'postgres')
    connection.autocommit = True
    with connection.cursor() as cr:
        cr.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s',
                   [DB_NAME])
        cr.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
    connection.close()


def restore_breaker_table(db_args):
    """Give the breaker table its name back if a failed bookkeeping drill left it renamed."""
    connection = pg_connect(db_args, DB_NAME)
    connection.autocommit = True
    try:
        with connection.cursor() as cr:
            cr.execute("SELECT to_regclass('sms_router_breaker_offline')")
            if cr.fetchone()[0]:
                cr.execute('ALTER TABLE sms_router_breaker_offline RENAME TO sms_router_breaker')
    finally:
        connection.close()
