"""The set-up every drill shares: the database, the accounts, the routes, the limits.

One company has four accounts, each on its sandbox port, with 2 s timeouts, breakers
opening after 3 failures and a 3 s cool-down, and routes by prefix so that each provider is
the primary in turn (``GROUP``, ``CHAINS``); Odoo IAP closes every chain. The fourth
account is of the generic *HTTP API* type, made from one template (``HTTP_API``) and
pointed at that template's stand-in. A drill may change any of these for itself
(``Bench.begin``); what only one family of drills uses lives in its scenario module.
"""
from pathlib import Path

DRILLS_DIR = Path(__file__).resolve().parents[1]      # tests/drills
ROOT = DRILLS_DIR.parents[1]
DB_NAME = 'drill_sms_router'
ADDONS = ('sms_router', 'sms_router_sweego', 'sms_router_twilio', 'sms_router_ovh')
WORKER = DRILLS_DIR / 'drill_worker.py'
TAG = 'DRILL '             # the lines of drill_worker.py's stdout meant for the runner

# Account settings shared by every drill (a drill may change them for itself).
TIMEOUT_S = 2.0
CONCURRENCY = 4
FAIL_MAX = 3
COOLDOWN_S = 3
ACCOUNT_DEFAULTS = {'timeout': TIMEOUT_S, 'max_concurrency': CONCURRENCY,
                    'breaker_fail_max': FAIL_MAX, 'breaker_cooldown': COOLDOWN_S}
BATCH_SIZE = 10            # sms.session.batch.size: SMS per _process_queue() call
# A drill that takes longer fails (every wait inside is bounded too). A hang detector, not a
# speed target: ordinary drills take 3-30 s, so a loaded 2-CPU machine stays far below it.
DRILL_LIMIT_S = 180
MAX_HOLD_HOURS = 4.0       # the company's "Hold SMS During Outages" (Odoo's default)
LATENCY_MS = 40            # every sandbox answer waits this long (faults switch mid-run)
# The account "Drill HTTP API" (sms_provider 'http_api'), made from this template and pointed
# at the sandbox's stand-in of the same key: Infobip answers per recipient (a status and a
# message id for each destination of a request) and posts a delivery report for each SMS to
# the URL the request gives. The drills name this account by that key, as the sandbox does
# (its counters and message log); drill_worker.py maps Odoo's attempts to it by account.
HTTP_API = 'infobip'
# The drill accounts by sandbox name: the built-in three (sandbox.server.PROVIDERS, what the
# drills of every route iterate) and the HTTP API one.
BUILTIN = ('sweego', 'twilio', 'ovh')
DRILL_PROVIDERS = (*BUILTIN, HTTP_API)
GROUP = {'sweego': 1, 'twilio': 2, 'ovh': 3,   # +33 6 0<group>...: the primary provider
         HTTP_API: 5}                          # (4: Twilio alone, GROUP_TWILIO_ONLY)
CHAINS = {1: ('sweego', 'twilio', 'ovh'), 2: ('twilio', 'ovh', 'sweego'),
          3: ('ovh', 'sweego', 'twilio'), 5: (HTTP_API, 'sweego', 'twilio', 'ovh')}
SHORT = {'sweego': 'S', 'twilio': 'T', 'ovh': 'O', HTTP_API: 'H', 'iap': 'IAP'}
# How drill names and rows call a provider: ``http500:http_api``, "http500: HTTP API (infobip) primary".
DRILL_NAME = {HTTP_API: 'http_api'}
LABEL = {HTTP_API: f'HTTP API ({HTTP_API})'}
AT_LEAST_ONCE = 'at_least_once'
AT_MOST_ONCE = 'at_most_once'
GROUP_TWILIO_ONLY = 4      # +33 6 04...: Twilio alone (then Odoo IAP when the last resort is on)
QUEUE_CRON = 'sms.ir_cron_sms_scheduler_action'
QUEUE_CRON_NAME = 'SMS: SMS Queue Manager'
OVH_CRON = 'sms_router_ovh.ir_cron_sms_router_ovh'
PARKED_CRON = 'sms_router.ir_cron_sms_router_parked_reports'
CREDIT_CRON = 'sms_router.ir_cron_sms_router_refresh_credits'
# Odoo's cron workers sleep up to SLEEP_INTERVAL (60 s) plus pid % 10 s when no trigger is
# due now: a trigger for a future moment is seen at the next wake-up.
CRON_POLL_S = 70
