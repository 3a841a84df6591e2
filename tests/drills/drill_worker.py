#!/usr/bin/env python3
"""The Odoo side of the failure drills: one real Odoo process per role.

    drill_worker.py -c ODOO_CONF -d DB serve            control process (see below)
    drill_worker.py -c ODOO_CONF -d DB send [--options JSON]

``serve`` reads one JSON command per line on stdin (``{"cmd": "queue", "args": {...}}``),
runs it in a transaction of its own, commits, and answers one line on stdout:
``DRILL {"ok": true, "result": ...}`` (or ``{"ok": false, "error": traceback}``). The runner
uses it to configure accounts and routes, queue SMS and read back the outcome; it never
sends an SMS itself.

``send`` is what the ``sms.sms`` queue cron does, in a process of its own: call
``sms.sms._process_queue()`` (one locked batch, committed by ``ir.cron._commit_progress``)
until no SMS is due (SMS on hold wait for their retry time); with ``{"resend": [uuids]}``,
call ``resend_failed()`` on those SMS as the *Retry* button does; with
``{"create_and_send": [{number, body}], "chunk": 5}``, create SMS and ``send()`` them in
the same transaction, as an HTTP worker does when a user posts an SMS that is not queued
(Odoo runs one cron job in one process at a time, so two processes send at once as a cron
worker and an HTTP worker); with ``{"run_crons": [xml ids]}``, run those scheduled actions
as *Run Manually* does. After each batch it prints ``DRILL {"event": "batch", ...}``, at
the end ``DRILL {"event": "done", ...}`` with the uuids this process handed to the router
(observed, not changed, by wrapping ``SmsRouterApi._send_sms_batch``), so that drills
running several workers can tell which process handled which SMS.

Odoo's log goes to stderr; stdout carries only ``DRILL`` lines.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from decimal import Decimal

TAG = 'DRILL '

# The HTTP API account's template, and the sandbox stand-in it talks to (infra/settings.py
# HTTP_API): the drills name that account by this key, not by its sms_provider 'http_api'.
HTTP_API = 'infobip'
# The drill company's accounts, by the sandbox's name of their provider; created by ``setup``.
ACCOUNT_KEYS = ('sweego', 'twilio', 'ovh', HTTP_API)
# Chains per route prefix: the third digit after +336 selects the primary provider.
ROUTES = (
    ('Drill default', '', ('sweego', 'twilio', 'ovh')),
    ('Drill Sweego first', '+33601', ('sweego', 'twilio', 'ovh')),
    ('Drill Twilio first', '+33602', ('twilio', 'ovh', 'sweego')),
    ('Drill OVH first', '+33603', ('ovh', 'sweego', 'twilio')),
    # One provider and nothing after it but the company's IAP last resort (when on).
    ('Drill Twilio only', '+33604', ('twilio',)),
    # The HTTP API account first, beside the built-in providers.
    ('Drill HTTP API first', '+33605', (HTTP_API, 'sweego', 'twilio', 'ovh')),
)
QUEUE_CRON = 'sms.ir_cron_sms_scheduler_action'
# The router's own scheduled action for delivery reports that beat their SMS: part of the
# sending path, so it stays due when the drills quiet the other scheduled actions.
PARKED_CRON = 'sms_router.ir_cron_sms_router_parked_reports'
SANDBOX = {
    'sweego_api_key': 'sandbox-sweego-key',
    'sweego_client_uuid': '00000000-0000-4000-8000-000000000001',
    'twilio_account_sid': 'AC' + '0' * 32,
    'twilio_auth_token': 'sandbox-twilio-token',
    'twilio_number': '+15005550006',
    'ovh_application_key': 'sandbox-ovh-ak',
    'ovh_application_secret': 'sandbox-ovh-as',
    'ovh_consumer_key': 'sandbox-ovh-ck',
    'ovh_service_name': 'sms-sandbox-1',
    # The Infobip stand-in's default API key (sent as "Authorization: App <key>").
    'http_api_key': 'sandbox-infobip-key',
}


def emit(payload):
    sys.stdout.write(TAG + json.dumps(payload, default=str) + '\n')
    sys.stdout.flush()


def bootstrap(config_path, db_name):
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.service import server  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(['-c', str(config_path), '-d', db_name], setup_logging=True)
    server.load_server_wide_modules()
    return Registry(db_name)


def environment(cr):
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    return api.Environment(cr, SUPERUSER_ID, {})


# =========================================================================== control commands

def _key(account):
    """The drills' name of an account: its provider, or for an HTTP API account the key of
    its template, which is the name of the sandbox stand-in it sends to (the sandbox counts
    and logs by that name; every HTTP API account has sms_provider 'http_api')."""
    if account.sms_provider == 'http_api':
        return account.http_api_template or 'http_api'
    return account.sms_provider


def _accounts(env):
    accounts = env['sms.router.account'].with_context(active_test=False).search(
        [('name', 'like', 'Drill %')])
    by_key = {}
    for account in accounts:
        by_key[_key(account)] = account
    return by_key


def _provider_names(env):
    """{account id: drills' name} of the drill accounts, for the attempts: an attempt on no
    drill account (Odoo IAP) keeps its sms_provider."""
    return {account.id: key for key, account in _accounts(env).items()}


def _provider(attempt, names):
    return names.get(attempt.account_id.id) or attempt.sms_provider or ''


def cmd_setup(env, endpoints, iap_url, base_url, account_defaults):
    """Company, accounts (pointed at the sandbox), routes, IAP endpoint, base URL."""
    company = env.ref('base.main_company')
    france = env.ref('base.fr')
    company.write({'name': 'Drill Company', 'country_id': france.id,
                   'sms_router_iap_last_resort': True,
                   'sms_router_timeout_policy': 'at_least_once'})
    icp = env['ir.config_parameter']
    # Odoo IAP is the local stand-in of the runner: nothing ever leaves this machine.
    icp.set_param('sms.endpoint', iap_url)
    icp.set_param('web.base.url', base_url)
    icp.set_param('web.base.url.freeze', 'True')
    env['sms.router.route'].search([]).unlink()
    env['sms.router.account'].with_context(active_test=False).search([]).unlink()
    common = dict(account_defaults, company_id=company.id, public_base_url=base_url)
    Account = env['sms.router.account']
    accounts = {
        'sweego': Account.create(dict(
            common, name='Drill Sweego', sms_provider='sweego', endpoint_url=endpoints['sweego'],
            sweego_api_key=SANDBOX['sweego_api_key'],
            sweego_client_uuid=SANDBOX['sweego_client_uuid'],
            sweego_webhook_secret=endpoints['sweego_webhook_secret'])),
        'twilio': Account.create(dict(
            common, name='Drill Twilio', sms_provider='twilio', endpoint_url=endpoints['twilio'],
            sender_id=SANDBOX['twilio_number'],
            twilio_account_sid=SANDBOX['twilio_account_sid'],
            twilio_auth_token=SANDBOX['twilio_auth_token'])),
        'ovh': Account.create(dict(
            common, name='Drill OVH', sms_provider='ovh', endpoint_url=endpoints['ovh'],
            sender_id='DRILL',
            ovh_application_key=SANDBOX['ovh_application_key'],
            ovh_application_secret=SANDBOX['ovh_application_secret'],
            ovh_consumer_key=SANDBOX['ovh_consumer_key'],
            ovh_service_name=SANDBOX['ovh_service_name'])),
        # Made from a template as an administrator does: the template's configuration is
        # copied in (create() applies it when no request URL is given), then only the
        # credentials, the sender and the endpoint (the stand-in instead of the live API).
        HTTP_API: Account.create(dict(
            common, name='Drill HTTP API', sms_provider='http_api', http_api_template=HTTP_API,
            endpoint_url=endpoints[HTTP_API], sender_id='DRILL',
            http_api_key=SANDBOX['http_api_key'])),
    }
    for sequence, (name, prefix, chain) in enumerate(ROUTES, start=1):
        env['sms.router.route'].create({
            'name': name, 'company_id': company.id, 'sequence': sequence,
            'prefixes': prefix or False,
            'step_ids': [(0, 0, {'sequence': step, 'account_id': accounts[key].id})
                         for step, key in enumerate(chain, start=1)],
        })
    problems = {key: account.configuration_error for key, account in accounts.items()
                if account.configuration_error}
    return {'accounts': {key: account.id for key, account in accounts.items()},
            'company_id': company.id, 'configuration_errors': problems}


def cmd_configure(env, policy=None, iap_last_resort=None, max_hold_hours=None, accounts=None,
                  params=None, company_values=None):
    company = env.ref('base.main_company')
    values = dict(company_values or {})
    if policy:
        values['sms_router_timeout_policy'] = policy
    if iap_last_resort is not None:
        values['sms_router_iap_last_resort'] = iap_last_resort
    if max_hold_hours is not None:
        values['sms_router_max_hold_hours'] = max_hold_hours
    if values:
        company.write(values)
    by_key = _accounts(env)
    for key, account_values in (accounts or {}).items():
        account = by_key[key]
        changed = {name: value for name, value in account_values.items()
                   if account[name] != value}
        if changed:
            account.write(changed)
    for key, value in (params or {}).items():
        env['ir.config_parameter'].set_param(key, value)
    return True


def cmd_reset(env):
    """Breakers closed and forgotten; nothing left in the queue from an earlier drill."""
    env.cr.execute('DELETE FROM sms_router_breaker')
    env.cr.execute('DELETE FROM sms_router_rate_bucket')
    leftovers = env['sms.sms'].search([('state', 'in', ('outgoing', 'process'))])
    count = len(leftovers)
    if leftovers:
        leftovers.write({'state': 'canceled', 'sms_router_hold_until': False,
                         'sms_router_held_since': False})
    # A held SMS of an earlier drill left a trigger behind: the next cron run must not
    # happen before the drill that wants it.
    env['ir.cron.trigger'].search([('cron_id', '=', env.ref(QUEUE_CRON).id)]).unlink()
    return {'canceled': count}


def cmd_states(env, uuids):
    """A light view of many SMS: counts per state, how many wait on hold, the hold times."""
    env.cr.execute("""
        SELECT state, count(*), count(sms_router_hold_until),
               min(sms_router_hold_until), max(sms_router_hold_until), min(sms_router_held_since)
          FROM sms_sms WHERE uuid IN %s GROUP BY state
    """, [tuple(uuids)])
    out = {'states': {}, 'held': 0, 'hold_until': [], 'held_since': None}
    for state, count, held, first, last, since in env.cr.fetchall():
        out['states'][state] = count
        out['held'] += held
        out['hold_until'] += [value for value in (first, last) if value]
        if since:
            out['held_since'] = min(filter(None, (out['held_since'], since)))
    out['hold_until'] = sorted(set(out['hold_until']))
    env.cr.execute('SELECT count(*), count(DISTINCT sms_uuid) FROM sms_router_attempt '
                   'WHERE sms_uuid IN %s', [tuple(uuids)])
    out['attempts'], out['tried'] = env.cr.fetchone()
    out['exists'] = sum(out['states'].values())
    return out


def cmd_crons(env, trigger=None, quiet_others=False, hours=24):
    """Schedule the scheduled actions the way a running Odoo sees them.

    ``trigger``: xml ids to run as soon as a cron worker wakes up (``ir.cron._trigger``).
    ``quiet_others``: every other active scheduled action is pushed ``hours`` ahead, so that
    a cron worker started by a drill runs the SMS path only (a fresh database has every
    scheduled action due at once, and one wake-up of a cron worker runs all of them).
    """
    keep = {env.ref(QUEUE_CRON).id, env.ref(PARKED_CRON).id}
    pushed = 0
    if quiet_others:
        env.cr.execute("""UPDATE ir_cron SET nextcall = now() at time zone 'UTC' + %s * interval '1 hour'
                          WHERE active AND id NOT IN %s""", [hours, tuple(keep)])
        pushed = env.cr.rowcount
        env.cr.execute('DELETE FROM ir_cron_trigger WHERE cron_id NOT IN %s', [tuple(keep)])
    for xmlid in trigger or ():
        env.ref(xmlid)._trigger()
    return {'pushed': pushed}


def cmd_neutral_facts(env):
    """What ``odoo neutralize`` left of the router's configuration in this database."""
    Account = env['sms.router.account'].with_context(active_test=False)
    accounts = Account.search([])
    secrets = ('sweego_api_key', 'sweego_webhook_secret', 'twilio_auth_token',
               'twilio_api_key_secret', 'ovh_application_secret', 'ovh_consumer_key',
               'ovh_callback_token', 'http_api_username', 'http_api_key', 'http_api_secret',
               'http_api_callback_token')
    return {
        'accounts': len(accounts),
        'active_accounts': len(accounts.filtered('active')),
        'secrets_left': sum(1 for account in accounts for name in secrets
                            if name in account._fields and account[name]),
        'iap_last_resort': any(env['res.company'].search([]).mapped('sms_router_iap_last_resort')),
        'is_neutralized': bool(env['ir.config_parameter'].get_param('database.is_neutralized')),
        'queue_cron_active': env.ref(QUEUE_CRON).active,
    }


def cmd_queue(env, items, traffic='transactional'):
    company = env.ref('base.main_company')
    records = env['sms.sms'].create([{
        'number': item['number'], 'body': item['body'], 'state': 'outgoing',
        'sms_router_company_id': company.id, 'sms_router_traffic': traffic,
    } for item in items])
    return [{'uuid': sms.uuid, 'id': sms.id, 'number': sms.number, 'body': sms.body}
            for sms in records]


def cmd_queue_notified(env, items):
    """SMS posted on contacts as Odoo's chatter does: with notifications and trackers."""
    out = []
    for item in items:
        partner = env['res.partner'].create({'name': item['name'], 'phone': item['number']})
        partner._message_sms(item['body'], partner_ids=partner.ids, put_in_queue=True)
        sms = env['sms.sms'].search([('partner_id', '=', partner.id)], limit=1)
        out.append({'uuid': sms.uuid, 'id': sms.id, 'number': sms.number, 'body': sms.body,
                    'partner_id': partner.id})
    return out


def _breakers(env):
    store = env['sms.router.breaker']._store()
    out = {}
    for key, account in _accounts(env).items():
        state = store.load(account.id)
        out[key] = {
            'state': 'forced' if state.forced_open else state.state,
            'failure_count': state.failure_count, 'open_count': state.open_count,
            'opened_at': state.opened_at, 'paused_until': state.paused_until,
            'probe_owner': state.probe_owner, 'last_failure': state.last_failure,
        }
    return out


def cmd_breakers(env):
    return _breakers(env)


def cmd_inspect(env, uuids):
    """Final word on each SMS: its state, failure and the attempt trail."""
    sms_by_uuid = {sms.uuid: sms for sms in env['sms.sms'].with_context(active_test=False).search(
        [('uuid', 'in', uuids)])}
    attempts = env['sms.router.attempt'].search([('sms_uuid', 'in', uuids)], order='id')
    names = _provider_names(env)
    trail = {}
    for attempt in attempts:
        trail.setdefault(attempt.sms_uuid, []).append({
            'step': attempt.step, 'provider': _provider(attempt, names),
            'account_id': attempt.account_id.id, 'outcome': attempt.outcome,
            'accepted': attempt.accepted, 'final': attempt.final,
            'needs_review': attempt.needs_review, 'reason': attempt.reason or '',
            'message_id': attempt.message_id or '', 'delivery_state': attempt.delivery_state or '',
            'delivery_reason': attempt.delivery_reason or '',
        })
    out = {}
    for uuid in uuids:
        sms = sms_by_uuid.get(uuid)
        out[uuid] = {
            'exists': bool(sms),
            'state': sms.state if sms else None,
            'failure_type': (sms.failure_type or '') if sms else '',
            'reason': (sms.sms_router_failure_reason or '') if sms else '',
            'hold_until': sms.sms_router_hold_until if sms else None,
            'held_since': sms.sms_router_held_since if sms else None,
            'hold_reason': (sms.sms_router_hold_reason or '') if sms else '',
            'expires_at': sms.sms_router_expires_at if sms else None,
            'attempts': trail.get(uuid, []),
        }
    return {'sms': out, 'breakers': _breakers(env)}


def cmd_webhook_refs(env, uuids):
    """What a provider would know about our SMS: message ids, tokens, account ids."""
    accounts = _accounts(env)
    names = _provider_names(env)
    attempts = env['sms.router.attempt'].search(
        [('sms_uuid', 'in', uuids), ('accepted', '=', True)])
    return {
        'accounts': {key: account.id for key, account in accounts.items()},
        'ovh_token': accounts['ovh'].ovh_callback_token,
        'accepted': {a.sms_uuid: {'provider': _provider(a, names), 'message_id': a.message_id,
                                  'number': a.number, 'batch_id': a.batch_id or ''}
                     for a in attempts},
    }


def cmd_cost_setup(env, currencies, credit_value=0.0, price_default=0.0, earlier_asked=False):
    """Prices of the drill accounts: ``currencies`` {key: ISO code} (archived ones too),
    the OVH credit value, the default price per segment of every account (the estimate an
    SMS gets when its provider gives no price). ``earlier_asked``: the Twilio SMS of earlier
    drills count as already asked for their price, so that Twilio's price pull (at most its
    batch size per run, never asked and oldest first) takes this drill's SMS in its first
    run, however many SMS the drills before it sent."""
    if earlier_asked:
        env.cr.execute("UPDATE sms_router_attempt SET twilio_price_checked_at = now() AT TIME ZONE 'UTC' "
                       "WHERE sms_provider = 'twilio' AND twilio_price_checked_at IS NULL")
    Currency = env['res.currency'].with_context(active_test=False)
    for key, account in _accounts(env).items():
        values = {'price_default': price_default}
        if key in currencies:
            values['price_currency_id'] = Currency.search([('name', '=', currencies[key])], limit=1).id
        if key == 'ovh':
            values['credit_value'] = credit_value
        account.write(values)
    return True


def cmd_costs(env, uuids):
    """The cost ledger of these SMS, per provider: the sum of the cost of their accepted
    attempts per currency (exact decimal strings of the stored costs), how many attempts,
    and where their cost comes from."""
    attempts = env['sms.router.attempt'].search(
        [('sms_uuid', 'in', uuids), ('accepted', '=', True)], order='id')
    names = _provider_names(env)
    out = {}
    for attempt in attempts:
        line = out.setdefault(_provider(attempt, names), {'attempts': 0, 'totals': {}, 'sources': {}})
        line['attempts'] += 1
        source = attempt.cost_source or 'none'
        line['sources'][source] = line['sources'].get(source, 0) + 1
        if attempt.cost_currency_id:
            code = attempt.cost_currency_id.name
            # Stored with 5 decimals: repr of the float is its exact decimal form.
            line['totals'][code] = str(Decimal(line['totals'].get(code, '0')) + Decimal(repr(attempt.cost)))
    return out


DIGEST_QUERIES = {
    'sms': 'SELECT uuid, state, failure_type, to_delete FROM sms_sms ORDER BY id',
    'attempts': 'SELECT id, sms_uuid, outcome, accepted, delivery_state, delivery_reason, '
                'delivery_date FROM sms_router_attempt ORDER BY id',
    'trackers': 'SELECT t.id, t.sms_uuid, n.notification_status, n.failure_type, '
                'n.failure_reason FROM sms_tracker t '
                'LEFT JOIN mail_notification n ON n.id = t.mail_notification_id ORDER BY t.id',
    'blacklist': 'SELECT number, active FROM phone_blacklist ORDER BY id',
    'sweego_events': "SELECT event_id, state FROM sms_router_sweego_event "
                     "WHERE state = 'applied' ORDER BY id",
}


def cmd_digest(env):
    """A fingerprint of everything a webhook may change, per table."""
    out = {}
    for name, query in DIGEST_QUERIES.items():
        if name == 'sweego_events' and 'sms.router.sweego.event' not in env:
            continue
        env.cr.execute(query)
        rows = env.cr.fetchall()
        out[name] = {'rows': len(rows),
                     'sha1': hashlib.sha1(repr(rows).encode()).hexdigest()[:12]}
    env.cr.execute('SELECT state, count(*) FROM sms_router_sweego_event GROUP BY state'
                   if 'sms.router.sweego.event' in env else 'SELECT 1, 0 WHERE false')
    out['sweego_event_states'] = dict(env.cr.fetchall())
    env.cr.execute('SELECT number FROM phone_blacklist WHERE active')
    out['blacklisted'] = sorted(number for (number,) in env.cr.fetchall())
    return out


COMMANDS = {
    'setup': cmd_setup,
    'configure': cmd_configure,
    'reset': cmd_reset,
    'queue': cmd_queue,
    'queue_notified': cmd_queue_notified,
    'states': cmd_states,
    'neutral_facts': cmd_neutral_facts,
    'crons': cmd_crons,
    'breakers': cmd_breakers,
    'inspect': cmd_inspect,
    'webhook_refs': cmd_webhook_refs,
    'digest': cmd_digest,
    'cost_setup': cmd_cost_setup,
    'costs': cmd_costs,
}


def serve(registry):
    emit({'ok': True, 'result': {'pid': os.getpid(), 'ready': True}})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            command = COMMANDS[request['cmd']]
            with registry.cursor() as cr:
                result = command(environment(cr), **request.get('args', {}))
                cr.commit()
            if request.get('release'):
                # Give the pooled connections back to PostgreSQL, e.g. so that the database
                # can serve as a template (CREATE DATABASE ... TEMPLATE wants it unused).
                from odoo import sql_db  # noqa: PLC0415
                sql_db.close_db(registry.db_name)
            emit({'ok': True, 'result': result})
        except Exception:  # noqa: BLE001 - reported to the runner, which fails the drill
            emit({'ok': False, 'error': traceback.format_exc()})
    return 0


# ============================================================================== sending

def send(registry, options):
    from odoo.addons.sms_router.tools.sms_api import SmsRouterApi  # noqa: PLC0415

    handled = []
    original = SmsRouterApi._send_sms_batch

    def observed(self, messages, delivery_reports_url=False):
        handled.extend(number['uuid'] for message in messages for number in message['numbers'])
        return original(self, messages, delivery_reports_url=delivery_reports_url)

    SmsRouterApi._send_sms_batch = observed
    started = time.monotonic()
    deadline = started + float(options.get('max_seconds', 120))
    batches = 0
    created = []
    failed_crons = []
    if options.get('run_crons'):
        # An administrator pressing "Run Manually" on scheduled actions: the job runs as
        # the cron runs it (its own cursor, progress, rescheduling), whether it is active
        # or not (a neutralized database has them all inactive).
        for xmlid in options['run_crons']:
            with registry.cursor() as cr:
                env = environment(cr)
                result = env.ref(xmlid).method_direct_trigger()
                cr.commit()
            batches += 1
            if result is not True:  # the job raised: Odoo returns the error to show
                failed_crons.append(xmlid)
            emit({'event': 'batch', 'batches': batches, 'cron': xmlid, 'handled': len(handled)})
    elif options.get('create_and_send'):
        # What an HTTP worker does when a user posts an SMS on a record: the SMS are
        # created and sent in the request's transaction (``put_in_queue=False``).
        items = options['create_and_send']
        chunk = max(1, int(options.get('chunk', 5)))
        for start in range(0, len(items), chunk):
            with registry.cursor() as cr:
                env = environment(cr)
                company = env.ref('base.main_company')
                records = env['sms.sms'].create([{
                    'number': item['number'], 'body': item['body'], 'state': 'outgoing',
                    'sms_router_company_id': company.id,
                } for item in items[start:start + chunk]])
                created.extend({'uuid': sms.uuid, 'id': sms.id, 'number': sms.number,
                                'body': sms.body} for sms in records)
                records.send(raise_exception=False)
                cr.commit()
            batches += 1
            emit({'event': 'batch', 'batches': batches, 'handled': len(handled),
                  'elapsed': round(time.monotonic() - started, 3)})
    elif options.get('resend'):
        with registry.cursor() as cr:
            env = environment(cr)
            sms = env['sms.sms'].search([('uuid', 'in', options['resend'])])
            sms.resend_failed()
            cr.commit()
        batches = 1
        emit({'event': 'batch', 'batches': batches, 'handled': len(handled)})
    else:
        idle_rounds = 0
        while time.monotonic() < deadline:
            with registry.cursor() as cr:
                env = environment(cr)
                # Due now, as the queue cron sees it: SMS on hold wait for their retry time.
                if not env['sms.sms'].search_count(env['sms.sms']._sms_router_queue_domain()):
                    break
                before = len(handled)
                # The cron's job: one batch, locked with SKIP LOCKED, committed at the end.
                env['sms.sms']._process_queue()
                cr.commit()
            if len(handled) == before:
                # Every queued SMS is locked by another worker: wait for it.
                idle_rounds += 1
                time.sleep(0.05)
                continue
            idle_rounds = 0
            batches += 1
            emit({'event': 'batch', 'batches': batches, 'handled': len(handled),
                  'elapsed': round(time.monotonic() - started, 3)})
    emit({'event': 'done', 'pid': os.getpid(), 'batches': batches, 'handled': handled,
          'created': created, 'failed_crons': failed_crons,
          'elapsed': round(time.monotonic() - started, 3),
          'timed_out': time.monotonic() >= deadline})
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-c', '--config', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('role', choices=('serve', 'send'))
    parser.add_argument('--options', default='{}')
    args = parser.parse_args(argv)
    registry = bootstrap(args.config, args.database)
    if args.role == 'serve':
        return serve(registry)
    return send(registry, json.loads(args.options))


if __name__ == '__main__':
    sys.exit(main())
