"""What every drill runs on: settings, the Odoo processes, the database.

``run_drills.py`` and the scenarios import from here; nothing in this package knows about a
particular drill. The drills are run as a script (``python3 tests/drills/run_drills.py``),
like the harness: importing this package puts ``tests/`` (for the provider sandbox) and
``tests/harness/`` (``odoo_env``, ``pgcluster``, ``procutil``) on ``sys.path``, so that
those can be imported by plain name as the other test scripts do.

- ``settings``: the drill database, the accounts, routes and limits every drill shares;
- ``processes``: Odoo's command line, the control process and the sending workers
  (``drill_worker.py``), the Odoo configuration file;
- ``prefork``: ``odoo server`` in prefork mode, for the drills that need real cron workers;
- ``server_log``: what those drills read in its log (kills, cron jobs, router batches);
- the local stand-in for Odoo IAP is shared with the demo: ``sandbox.iap`` (tests/sandbox/iap.py);
- ``database``: direct PostgreSQL connections (drop the database, make a table unusable).
"""
import sys

from infra.settings import ROOT

sys.path.insert(0, str(ROOT / 'tests'))
sys.path.insert(0, str(ROOT / 'tests' / 'harness'))
