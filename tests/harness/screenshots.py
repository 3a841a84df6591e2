"""Screenshots of the demo for the README: the Overview, the Route Tester, an alert, a send
window, a route's strategy and its explanation in the tester, an account's prices, the costs,
the delivery quality, the send preview and an HTTP API account made from a template, in English
(admin) and in French (the demo's French operator, elodie).

    python3 tests/harness/screenshots.py [--out DIR] [--only overview,route_tester,...] [--keep]
    python3 tests/harness/screenshots.py --attach http://127.0.0.1:8069 --db sms_router_demo

1. The demo database as ``make run`` makes it (tests/harness/run_demo.py: a throwaway
   PostgreSQL cluster, demo data, French loaded, the database pointed at this machine), with
   Odoo, the provider sandbox and the Odoo IAP stand-in on free ports.
2. An interesting state. Prices first: a price list on each provider account (the sandbox's
   Sweego and OVH bill the same), and the French company's "Rest of the world" route sends by
   least cost, OVH France added to its chain; its delivery quality judged from 5 reported SMS.
   A few SMS go out normally (France, the United Kingdom, Belgium), 6 SMS to Germany go by
   Twilio France (the cheapest there) while the sandbox reports most of them undelivered, then
   Sweego is taken down in the sandbox
   (its control API) and more SMS go to France: Sweego France's breaker opens, its SMS fail
   over to the next account of their chain, and the router raises an alert; then, Sweego
   back, Twilio goes down and SMS go to the United Kingdom: Twilio UK's breaker opens too.
   The French company applies the send window preset "FR - AF2M 2024" to its marketing SMS.
   Last, the delivery reports in, the delivery quality is refreshed (its scheduled action, and
   OVH's delivery pull before it): Twilio France is skipped for Germany. An HTTP API account
   of the French company is made from the Plivo template (HTTP_API_ACCOUNT), as the form
   does it: only its credentials and sender are given. Photographing only that account
   (``--only http_api_account``) skips the traffic.
3. Headless Chromium (found or installed as for the tours, see browser.py), driven over its
   DevTools websocket as Odoo's own test browser is (``websocket-client``, an Odoo
   dependency), in a 1400x900 window, logs in each user, opens each screen, waits until the
   page is complete and no request is in flight, and saves a PNG:
   ``sms_router/static/description/screenshots/<screen>_<en|fr>.png``.

Everything is stopped and removed at the end (``--keep``: once Ctrl-C is pressed). ``--attach``
photographs a demo that is already running, as it is. Exit status 0 when every screenshot was
taken; a screen that could not be taken leaves the page as it was in .run/shots-failed-*.png.
"""
import argparse
import base64
import contextlib
import http.cookiejar
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import browser
import odoo_env
import pgcluster
import procutil
import run_demo

OUT_DIR = odoo_env.REPO_ROOT / 'sms_router' / 'static' / 'description' / 'screenshots'
DB = 'sms_router_shots'
WIDTH, HEIGHT = 1400, 900
SCREENS = ('overview', 'route_tester', 'alert', 'send_window', 'route_strategy', 'strategy_tester', 'prices',
           'costs', 'quality', 'send_preview', 'http_api_account')
# The number typed in the route tester: a French mobile, written as people write it.
TESTER_NUMBER = '06 12 34 56 78'
# Where the demo's SMS go (numbers of the demo's contacts' countries).
FR_NUMBERS = ['+33612345678', '+33698765432', '+33755512345']
GB_NUMBERS = ['+447911123456', '+447400123456']
BE_NUMBERS = ['+32470123456', '+32485987654']
DE_NUMBERS = ['+4915112345678', '+4915198765432', '+4916012345678', '+4917012345678', '+4917612345678',
              '+4915712345678']
# The number typed in the strategy's route tester: a Belgian mobile, for the least cost route.
STRATEGY_TESTER_NUMBER = '+32 470 12 34 56'
# Prices per segment of the demo's accounts (their company's currency: EUR, GBP), per
# destination country, and their default price; roughly what these providers charge.
PRICES = {
    'demo_account_sweego_fr': ({'fr': 0.0450, 'be': 0.0590, 'de': 0.0812}, 0.0950),
    'demo_account_ovh_fr': ({'fr': 0.0390, 'be': 0.0489, 'de': 0.0745}, 0.0900),
    'demo_account_twilio_fr': ({'fr': 0.0798, 'be': 0.0841, 'de': 0.0690}, 0.0990),
    'demo_account_twilio_gb': ({'uk': 0.0350, 'je': 0.0520}, 0.0800),
    'demo_account_sweego_gb': ({'uk': 0.0310}, 0.0750),
}
# OVH bills credits: the value of one credit, and the sandbox's credits per part to match.
OVH_CREDIT_VALUE = 0.0390
SANDBOX_PART_PRICES = {
    'sweego': {'FR': '0.045', 'BE': '0.059', 'DE': '0.0812', 'GB': '0.031'},
    'ovh': {'FR': '1', 'BE': '1.25', 'DE': '1.9'},
}
# The account whose Prices tab is photographed.
PRICES_ACCOUNT = 'demo_account_ovh_fr'
# The alert photographed: one of a British account (written in English, the UK company's
# language) when the user sees it, else the breaker of Sweego France (elodie sees the French
# one), else the first of the list.
ALERT_PREFERRED = ('Twilio UK', 'Sweego France')
# The HTTP API account photographed: made from a template, only the credentials and the sender
# given (the values are placeholders, nothing is sent with it).
HTTP_API_ACCOUNT = {'name': 'Plivo France', 'sms_provider': 'http_api', 'http_api_template': 'plivo',
                    'sender_id': '+33644630000', 'http_api_username': 'MAODAYNJYWZMNJZJNZU2',
                    'http_api_key': 'demo-plivo-auth-token'}
# What the screens need to know of the demo (ids), filled by shoot_all.
DEMO = {}


def say(msg):
    print(f'[shots] {msg}', flush=True)


class PageError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium and its one page, driven with the DevTools protocol."""

    def __init__(self, executable, width=WIDTH, height=HEIGHT):
        import websocket  # noqa: PLC0415  (websocket-client: an Odoo dependency)
        self.profile = tempfile.mkdtemp(prefix='sms-router-shots-chromium-')
        cmd = [executable, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--hide-scrollbars', '--no-first-run', '--no-default-browser-check',
               '--disable-extensions', '--disable-background-networking', '--mute-audio',
               '--disable-features=Translate', '--font-render-hinting=none',
               f'--window-size={width},{height}', '--remote-debugging-address=127.0.0.1',
               '--remote-debugging-port=0', f'--user-data-dir={self.profile}', 'about:blank']
        self.log = open(Path(self.profile) / 'chromium.log', 'wb')  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        port = self._devtools_port()
        with urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=10) as response:  # noqa: S310
            page = next(target for target in json.load(response) if target['type'] == 'page')
        self.ws = websocket.create_connection(page['webSocketDebuggerUrl'], timeout=60,
                                              suppress_origin=True)
        self._ids = itertools.count(1)
        self.in_flight = {}   # requestId -> (URL, loaderId)
        self.loader = None    # the loaderId of the page navigated to last
        self.last_network = time.monotonic()
        self.errors = []
        for method in ('Page.enable', 'Network.enable', 'Runtime.enable'):
            self.send(method)
        self.send('Emulation.setDeviceMetricsOverride',
                  width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _devtools_port(self, timeout=30):
        port_file = Path(self.profile) / 'DevToolsActivePort'
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_file.is_file() and port_file.stat().st_size > 3:
                return int(port_file.read_text().split()[0])
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.close()
        raise PageError(f'Chromium did not open its DevTools port (exit {self.proc.poll()})')

    def close(self):
        with contextlib.suppress(Exception):
            self.ws.close()
        procutil.stop_child(self.proc, 'chromium', first_signal=15, grace=5)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- protocol ---------------------------------------------------------------------------
    def _event(self, message):
        method, params = message.get('method'), message.get('params', {})
        if method == 'Network.requestWillBeSent':
            url = params['request']['url']
            # The bus's websocket (and its worker) stays open: it is not a page load.
            if '/websocket' not in url and not url.startswith('data:'):
                self.in_flight[params['requestId']] = (url, params.get('loaderId'))
        elif method in ('Network.loadingFinished', 'Network.loadingFailed'):
            self.in_flight.pop(params['requestId'], None)
        elif method == 'Runtime.exceptionThrown':
            self.errors.append(params['exceptionDetails'].get('text', 'exception'))
        else:
            return
        self.last_network = time.monotonic()

    def send(self, method, **params):
        message_id = next(self._ids)
        self.ws.send(json.dumps({'id': message_id, 'method': method, 'params': params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get('id') == message_id:
                if 'error' in message:
                    raise PageError(f'{method}: {message["error"].get("message")}')
                return message.get('result', {})
            self._event(message)

    def evaluate(self, expression, await_promise=False):
        result = self.send('Runtime.evaluate', expression=expression, returnByValue=True,
                           awaitPromise=await_promise)
        if 'exceptionDetails' in result:
            details = result['exceptionDetails']
            raise PageError(details.get('exception', {}).get('description') or details.get('text'))
        return result.get('result', {}).get('value')

    # -- what a person does -----------------------------------------------------------------
    def set_cookie(self, url, name, value):
        self.send('Network.setCookie', url=url, name=name, value=value)

    def navigate(self, url):
        # The requests of the page left are not waited for: some are never told finished
        # (the form's save of a dirty record on leaving is a keepalive request).
        self.in_flight.clear()
        self.loader = self.send('Page.navigate', url=url).get('loaderId')
        self.wait_for('document.readyState === "complete"', 'the page to load')

    def wait_for(self, expression, what, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise PageError(f'timed out after {timeout}s waiting for {what}')
            time.sleep(0.1)

    def wait_idle(self, quiet=0.8, timeout=60):
        """No request in flight for ``quiet`` seconds, fonts loaded, two frames painted."""
        deadline = time.monotonic() + timeout
        while True:
            self.evaluate('1')  # reads the pending events
            pending = {url for url, loader in self.in_flight.values()
                       if not self.loader or not loader or loader == self.loader}
            if not pending and time.monotonic() - self.last_network >= quiet:
                break
            if time.monotonic() > deadline:
                raise PageError(f'timed out after {timeout}s waiting for requests to finish: {sorted(pending)}')
            time.sleep(0.1)
        self.evaluate('document.fonts.ready.then(() => new Promise(r => requestAnimationFrame('
                      '() => requestAnimationFrame(() => r(true)))))', await_promise=True)

    def click(self, selector, what):
        self.wait_for(f'!!document.querySelector({json.dumps(selector)})', what)
        self.evaluate(f'document.querySelector({json.dumps(selector)}).click()')

    def type_into(self, selector, text, what):
        """Focus ``selector``, type ``text`` and leave the field with Tab, as a person does."""
        self.wait_for(f'!!document.querySelector({json.dumps(selector)})', what)
        self.evaluate(f'document.querySelector({json.dumps(selector)}).focus()')
        self.send('Input.insertText', text=text)
        for kind in ('keyDown', 'keyUp'):
            self.send('Input.dispatchKeyEvent', type=kind, key='Tab', code='Tab',
                      windowsVirtualKeyCode=9, nativeVirtualKeyCode=9)

    def screenshot(self, path):
        self.evaluate('document.activeElement && document.activeElement.blur && '
                      'document.activeElement.blur(), true')
        data = self.send('Page.captureScreenshot', format='png')['data']
        Path(path).write_bytes(base64.b64decode(data))


# -- the demo ---------------------------------------------------------------------------------
def session_cookie(port, db, login, password):
    """The session_id of ``login`` after a web login, or None."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    payload = json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': {
        'db': db, 'login': login, 'password': password}}).encode()
    request = urllib.request.Request(f'http://127.0.0.1:{port}/web/session/authenticate',
                                     data=payload, headers={'Content-Type': 'application/json'})
    with opener.open(request, timeout=60) as response:
        answer = json.load(response)
    if answer.get('error') or not (answer.get('result') or {}).get('uid'):
        return None
    return next((cookie.value for cookie in jar if cookie.name == 'session_id'), None)


def xmlid(session, name):
    module, name = name.split('.', 1)
    found = session.call('ir.model.data', 'search_read', [[['module', '=', module], ['name', '=', name]]],
                         {'fields': ['res_id']})
    return found[0]['res_id'] if found else None


def sandbox_control(sandbox_url, provider, **settings):
    request = urllib.request.Request(f'{sandbox_url}/_control/{provider}', data=json.dumps(settings).encode(),
                                     headers={'Content-Type': 'application/json'}, method='POST')
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (local)
        pass


def send_sms(session, company_id, numbers, body):
    """SMS sent as Odoo sends them (sms.sms.send), one batch per number so that each failure
    counts for the breakers."""
    context = {'allowed_company_ids': [company_id]}
    for number in numbers:
        ids = session.call('sms.sms', 'create', [[{
            'number': number, 'body': body, 'sms_router_company_id': company_id}]],
            {'context': context})
        session.call('sms.sms', 'send', [ids], {'unlink_sent': False, 'context': context})


def demo_xmlid(session, name):
    """The id of a demo record of any of our addons (sms_router, sms_router_ovh, ...)."""
    found = session.call('ir.model.data', 'search_read', [[['module', '=like', 'sms_router%'], ['name', '=', name]]],
                         {'fields': ['res_id'], 'limit': 1})
    return found[0]['res_id'] if found else None


def set_prices(session, sandbox_url, facts):
    """Price lists on the demo's accounts, least cost on the French company's "Rest of the
    world" route (OVH France added to its chain), delivery quality judged from 5 reports."""
    company_fr = xmlid(session, 'sms_router.demo_company_fr')
    context = {'context': {'allowed_company_ids': [company_fr, xmlid(session, 'sms_router.demo_company_gb')]}}
    if not has_model(session, 'sms.router.price'):
        say('no price model (sms.router.price) in this version: no prices, no strategy')
        return
    countries = {code: xmlid(session, f'base.{code}') for prices, _default in PRICES.values() for code in prices}
    for name, (prices, default) in PRICES.items():
        account = facts['accounts'].get(name)
        if not account:
            continue
        values = {'price_default': default, 'price_ids': [
            (0, 0, {'country_id': countries[code], 'price': price}) for code, price in prices.items()]}
        if name == 'demo_account_ovh_fr':
            values['credit_value'] = OVH_CREDIT_VALUE
        session.call('sms.router.account', 'write', [[account], values], context)
    for provider, part_prices in SANDBOX_PART_PRICES.items():
        sandbox_control(sandbox_url, provider, mode='ok', part_prices=part_prices)
    route = xmlid(session, 'sms_router.demo_route_fr_default')
    ovh_fr = facts['accounts'].get('demo_account_ovh_fr')
    if route and ovh_fr:
        say('the French "Rest of the world" route sends by least cost (OVH France added to its chain)')
        session.call('sms.router.route', 'write', [[route], {
            'strategy': 'least_cost', 'step_ids': [(0, 0, {'account_id': ovh_fr, 'sequence': 30})]}], context)
        DEMO['strategy_route'] = route
    session.call('res.company', 'write', [[company_fr], {
        'sms_router_quality_breaker': True, 'sms_router_quality_min_sample': 5}], context)


def trigger_cron(session, name):
    cron = demo_xmlid(session, name)
    if cron:
        session.call('ir.cron', 'method_direct_trigger', [[cron]])


def stage(session, sandbox_url, facts):
    """Traffic, then an outage per country (see the module docstring): Sweego down for
    France, then, Sweego back, Twilio down for the United Kingdom."""
    company_fr = xmlid(session, 'sms_router.demo_company_fr')
    company_gb = xmlid(session, 'sms_router.demo_company_gb')
    contexts = {company: {'context': {'allowed_company_ids': [company]}} for company in (company_fr, company_gb)}
    set_prices(session, sandbox_url, facts)
    watched = [(facts['accounts'].get('demo_account_sweego_fr'), company_fr),
               (facts['accounts'].get('demo_account_twilio_gb'), company_gb)]
    for account, company in watched:
        # A cool-down longer than the pictures take: the breaker is still open, not probing.
        session.call('sms.router.account', 'write', [[account], {'breaker_cooldown': 600}], contexts[company])
    say('traffic: 3 SMS to France, 2 to the United Kingdom, all providers up')
    send_sms(session, company_fr, FR_NUMBERS, 'Your appointment is tomorrow at 10:00.')
    send_sms(session, company_gb, GB_NUMBERS, 'Your appointment is tomorrow at 10:00.')
    if DEMO.get('strategy_route'):
        say('2 SMS to Belgium (least cost: OVH France); 6 to Germany (Twilio France), most undelivered')
        send_sms(session, company_fr, BE_NUMBERS, 'Your appointment is tomorrow at 10:00.')
        sandbox_control(sandbox_url, 'twilio', mode='poor_delivery', poor_delivery_ratio=0.7)
        send_sms(session, company_fr, DE_NUMBERS, 'Your appointment is tomorrow at 10:00.')
        sandbox_control(sandbox_url, 'twilio', mode='ok')
    say('Sweego down in the sandbox (HTTP 503): 4 more SMS to France')
    sandbox_control(sandbox_url, 'sweego', mode='http503')
    send_sms(session, company_fr, FR_NUMBERS + FR_NUMBERS[:1], 'Your results are ready.')
    say('Sweego back, Twilio down (HTTP 503): 4 more SMS to the United Kingdom')
    sandbox_control(sandbox_url, 'sweego', mode='ok')
    sandbox_control(sandbox_url, 'twilio', mode='http503')
    send_sms(session, company_gb, GB_NUMBERS * 2, 'Your results are ready.')
    for account, company in watched:
        state = session.call('sms.router.account', 'read', [[account], ['name', 'breaker_state']],
                             contexts[company])[0]
        say(f'{state["name"]}: breaker {state["breaker_state"]}')
    preset = xmlid(session, 'sms_router.send_window_preset_fr_af2m_2024')
    if preset and has_model(session, 'sms.router.send.window'):
        say('the French company applies the send window preset FR - AF2M 2024')
        session.call('sms.router.send.window.preset', 'action_apply', [[preset]], contexts[company_fr])
    if has_model(session, 'sms.router.quality'):
        say('delivery reports in (OVH pulled), the delivery quality refreshed')
        time.sleep(5)
        # OVH's delivery states are pulled 15 minutes after the send by default: at once here.
        session.call('ir.config_parameter', 'set_param', ['sms_router_ovh.pull_delay_minutes', '0'])
        trigger_cron(session, 'ir_cron_sms_router_ovh')
        trigger_cron(session, 'ir_cron_sms_router_quality')
        rows = session.call('sms.router.quality', 'search_read', [[]], {
            'fields': ['account_id', 'country_id', 'state', 'delivery_rate', 'sample'],
            'context': {'allowed_company_ids': [company_fr, company_gb]}})
        for row in rows:
            say(f'quality: {row["account_id"][1]} / {row["country_id"][1]}: {row["state"]}, '
                f'{row["delivery_rate"]:.0%} of {row["sample"]} reported')


def stage_http_api(session):
    """The HTTP API account of the French company (HTTP_API_ACCOUNT), unless it exists."""
    company_fr = xmlid(session, 'sms_router.demo_company_fr')
    if not company_fr or http_api_account(session):
        return
    context = {'context': {'allowed_company_ids': [company_fr]}}
    session.call('sms.router.account', 'create', [{**HTTP_API_ACCOUNT, 'company_id': company_fr}], context)
    say(f'HTTP API account {HTTP_API_ACCOUNT["name"]} made from the {HTTP_API_ACCOUNT["http_api_template"]} template')


def http_api_account(session):
    """The id of the HTTP API account photographed, or None."""
    found = session.call('sms.router.account', 'search', [[['name', '=', HTTP_API_ACCOUNT['name']],
                                                          ['sms_provider', '=', 'http_api']]],
                         {'context': {'active_test': False}})
    return found[0] if found else None


def has_model(session, model):
    return bool(session.call('ir.model', 'search_count', [[['model', '=', model]]]))


# -- the pictures -----------------------------------------------------------------------------
def take(chromium, base_url, screens, suffix, out_dir, alerts):
    """The PNGs of ``screens`` for the logged-in user; a screen that fails is said and left
    out (its page as it was goes to .run/ to see why)."""
    taken = []
    for screen in screens:
        if screen == 'alert' and not alerts:
            say('no alert model (sms.router.alert) in this version: no alert screenshot')
            continue
        try:
            SHOOTERS[screen](chromium, base_url)
        except PageError as err:
            say(f'ERROR: {screen} ({suffix}): {err}')
            with contextlib.suppress(Exception):
                chromium.screenshot(odoo_env.RUN_DIR / f'shots-failed-{screen}_{suffix}.png')
            continue
        taken.append(_save(chromium, out_dir / f'{screen}_{suffix}.png'))
    return taken


def _overview(chromium, base_url):
    chromium.navigate(f'{base_url}/odoo/sms-router-overview')
    chromium.wait_for('document.querySelectorAll(".o_sms_router_overview .o_kanban_record:not(.o_kanban_ghost)")'
                      '.length >= 2', 'the Overview cards')
    chromium.wait_idle()


def _route_tester(chromium, base_url):
    _overview(chromium, base_url)
    chromium.click('.o_main_navbar [data-menu-xmlid="sms_router.sms_router_route_tester_menu"]',
                   'the Route Tester menu')
    chromium.type_into('.modal .o_field_widget[name=number] input', TESTER_NUMBER, 'the number field')
    chromium.wait_for('!!document.querySelector(".modal .o_field_widget[name=e164]") && '
                      'document.querySelectorAll(".modal div[name=line_ids] .o_data_row").length > 0',
                      "the tester's result")
    chromium.wait_idle()


def _alert(chromium, base_url):
    _overview(chromium, base_url)
    chromium.click('.o_main_navbar [data-menu-xmlid="sms_router.sms_router_alert_menu"]', 'the Alerts menu')
    chromium.wait_for('!!document.querySelector(".o_list_view .o_data_row td.o_data_cell")', 'the alerts')
    chromium.evaluate(f'''(() => {{
        const rows = [...document.querySelectorAll(".o_list_view .o_data_row")];
        const preferred = {json.dumps(ALERT_PREFERRED)};
        const row = preferred.map(name => rows.find(r => r.textContent.includes(name))).find(r => r) || rows[0];
        row.querySelector("td.o_data_cell").click();
    }})()''')
    chromium.wait_for('!!document.querySelector(".o_form_view .o_form_sheet")', 'the alert form')
    chromium.wait_idle()


def _send_window(chromium, base_url):
    _overview(chromium, base_url)
    chromium.click('.o_main_navbar [data-menu-xmlid="sms_router.sms_router_configuration_menu"]',
                   'the Configuration menu')
    chromium.click('.dropdown-menu [data-menu-xmlid="sms_router.sms_router_send_window_menu"]',
                   'the Send Windows menu')
    chromium.wait_for('!!document.querySelector(".o_list_view .o_data_row td.o_data_cell")', 'the send windows')
    chromium.evaluate('document.querySelector(".o_list_view .o_data_row td.o_data_cell").click()')
    chromium.wait_for('!!document.querySelector(".o_form_view .o_form_sheet")', 'the send window form')
    chromium.wait_idle()


def _form(chromium, base_url, action, record_id, what):
    if not record_id:
        raise PageError(f'no {what} in this demo')
    chromium.navigate(f'{base_url}/odoo/action-{action}/{record_id}')
    chromium.wait_for('!!document.querySelector(".o_form_view .o_form_sheet")', f'the {what} form')


def _route_strategy(chromium, base_url):
    _form(chromium, base_url, 'sms_router.sms_router_route_action', DEMO.get('strategy_route'), 'least cost route')
    chromium.wait_for('document.querySelectorAll(".o_form_view div[name=step_ids] .o_data_row").length >= 3',
                      'the failover chain')
    chromium.wait_idle()


def _strategy_tester(chromium, base_url):
    _route_strategy(chromium, base_url)
    chromium.click(f'.o_form_view .o_form_statusbar button[name="{DEMO.get("tester_action", 0)}"]',
                   'the Test Route button')
    chromium.wait_for('!!document.querySelector(".modal .o_field_widget[name=number] input")', 'the route tester')
    chromium.evaluate('(() => { const input = document.querySelector(".modal .o_field_widget[name=number] input");'
                      ' input.select(); })()')
    chromium.send('Input.insertText', text=STRATEGY_TESTER_NUMBER)
    for kind in ('keyDown', 'keyUp'):
        chromium.send('Input.dispatchKeyEvent', type=kind, key='Tab', code='Tab',
                      windowsVirtualKeyCode=9, nativeVirtualKeyCode=9)
    chromium.wait_for('!!document.querySelector(".modal .o_field_widget[name=strategy_reason]") && '
                      '(document.querySelector(".modal .o_field_widget[name=e164]") || {}).textContent'
                      '.includes("+32")', "the tester's strategy")
    chromium.wait_idle()
    # The strategy's explanation and the chain it ordered, in one picture.
    chromium.evaluate('(() => { const body = document.querySelector(".modal .modal-body");'
                      ' const field = document.querySelector(".modal .o_field_widget[name=strategy_reason]");'
                      ' body.scrollTop += field.getBoundingClientRect().top - body.getBoundingClientRect().top - 24;'
                      ' return true; })()')
    chromium.wait_idle(quiet=0.3)


def _prices(chromium, base_url):
    _form(chromium, base_url, 'sms_router.sms_router_account_action', DEMO.get('prices_account'), 'priced account')
    chromium.click('.o_form_view .o_notebook a.nav-link[name=prices]', 'the Prices tab')
    chromium.wait_for('document.querySelectorAll(".o_form_view div[name=price_ids] .o_data_row").length >= 2',
                      'the price lines')
    chromium.wait_idle()


def _menu(chromium, base_url, xmlid, what):
    _overview(chromium, base_url)
    chromium.click(f'.o_main_navbar [data-menu-xmlid="{xmlid}"]', what)


def _costs(chromium, base_url):
    _menu(chromium, base_url, 'sms_router.sms_router_cost_menu', 'the Costs menu')
    chromium.wait_for('!!document.querySelector(".o_pivot table .o_pivot_cell_value:not(.o_empty)") && '
                      '!document.querySelector(".o_view_sample_data")', 'the costs')
    chromium.wait_idle()


def _quality(chromium, base_url):
    _menu(chromium, base_url, 'sms_router.sms_router_quality_menu', 'the Delivery Quality menu')
    chromium.wait_for('!!document.querySelector(".o_list_view .o_data_row td.o_data_cell")', 'the delivery quality')
    chromium.wait_idle()


def _send_preview(chromium, base_url):
    """The SMS composer in mass mode on the French demo contacts, then Preview Sending."""
    partners = DEMO.get('preview_partners')
    if not partners:
        raise PageError('no demo contacts to send to')
    _overview(chromium, base_url)
    action = {'type': 'ir.actions.act_window', 'res_model': 'sms.composer', 'views': [[False, 'form']],
              'target': 'new', 'context': {
                  'active_model': 'res.partner', 'active_ids': partners, 'default_composition_mode': 'mass',
                  'default_body': 'Lumière Santé: your appointment is tomorrow at 10:00. Reply STOP to opt out.'}}
    chromium.evaluate(f'odoo.__WOWL_DEBUG__.root.env.services.action.doAction({json.dumps(action)}), true')
    chromium.click('.modal footer button[name=action_sms_router_preview]', 'the Preview Sending button')
    chromium.wait_for('!!document.querySelector(".modal .o_form_view div[name=account_ids] .o_data_row")',
                      'the send preview')
    chromium.wait_idle()


def _http_api_account(chromium, base_url):
    """The HTTP API tab of the account made from a template, scrolled to the top."""
    _form(chromium, base_url, 'sms_router.sms_router_account_action', DEMO.get('http_api_account'),
          'HTTP API account')
    chromium.click('.o_form_view .o_notebook a.nav-link[name=http_api]', 'the HTTP API tab')
    chromium.wait_for('!!document.querySelector(".o_form_view .o_field_widget[name=http_api_template_info]") && '
                      '!!document.querySelector(".o_form_view .o_field_widget[name=http_api_url]")',
                      'the HTTP API tab')
    chromium.wait_idle()
    # The tabs, the template, its notes and the request in one picture: the tabs just under
    # the buttons bar, which stays on top when the form scrolls.
    chromium.evaluate('(() => { const tabs = document.querySelector(".o_form_view .o_notebook_headers");'
                      ' let box = tabs.parentElement;'
                      ' while (box && !(box.scrollHeight > box.clientHeight'
                      ' && /(auto|scroll)/.test(getComputedStyle(box).overflowY))) { box = box.parentElement; }'
                      ' box = box || document.scrollingElement;'
                      ' const bar = document.querySelector(".o_form_view .o_form_statusbar");'
                      ' const top = Math.max(bar ? bar.getBoundingClientRect().bottom : 0,'
                      ' box === document.scrollingElement ? 0 : box.getBoundingClientRect().top);'
                      ' box.scrollTop += tabs.getBoundingClientRect().top - top - 8; return true; })()')
    chromium.wait_idle(quiet=0.3)


SHOOTERS = {'overview': _overview, 'route_tester': _route_tester, 'alert': _alert, 'send_window': _send_window,
            'route_strategy': _route_strategy, 'strategy_tester': _strategy_tester, 'prices': _prices,
            'costs': _costs, 'quality': _quality, 'send_preview': _send_preview,
            'http_api_account': _http_api_account}


def _save(chromium, path):
    chromium.screenshot(path)
    say(f'saved {path.relative_to(odoo_env.REPO_ROOT) if path.is_relative_to(odoo_env.REPO_ROOT) else path}')
    return path


def shoot_user(executable, port, db, login, password, screens, suffix, out_dir, cids, alerts):
    cookie = session_cookie(port, db, login, password)
    if cookie is None:
        return None
    base_url = f'http://127.0.0.1:{port}'
    chromium = Chromium(executable)
    try:
        chromium.set_cookie(base_url, 'session_id', cookie)
        if cids:
            chromium.set_cookie(base_url, 'cids', '-'.join(map(str, cids)))
        return take(chromium, base_url, screens, suffix, out_dir, alerts)
    finally:
        if chromium.errors:
            say(f'JavaScript errors in the page: {chromium.errors}')
        chromium.close()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=str(OUT_DIR), help=f'where the PNGs go (default {OUT_DIR})')
    parser.add_argument('--only', default=','.join(SCREENS), help=f'screens among {",".join(SCREENS)}')
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON', sys.executable))
    parser.add_argument('--no-browser-install', action='store_true',
                        help="do not install Debian's chromium when none is found")
    parser.add_argument('--keep', action='store_true',
                        help='keep the demo running after the screenshots, until Ctrl-C')
    parser.add_argument('--attach', metavar='URL',
                        help='photograph a demo already running at URL (e.g. one left by --keep, or '
                             '`make run`) as it is: nothing is created or changed')
    parser.add_argument('--db', default=DB, help=f'database of --attach (default {DB})')
    return parser.parse_args(argv)


def shoot_all(executable, port, db, screens, out_dir, admin):
    """Every screen as admin (English) and as the French operator; the PNGs written."""
    company_fr = xmlid(admin, 'sms_router.demo_company_fr')
    company_gb = xmlid(admin, 'sms_router.demo_company_gb')
    alerts = has_model(admin, 'sms.router.alert')
    DEMO.setdefault('strategy_route', xmlid(admin, 'sms_router.demo_route_fr_default'))
    DEMO['tester_action'] = xmlid(admin, 'sms_router.sms_router_route_tester_action') or 0
    DEMO['prices_account'] = demo_xmlid(admin, PRICES_ACCOUNT)
    DEMO['http_api_account'] = http_api_account(admin)
    DEMO['preview_partners'] = [partner for partner in (
        xmlid(admin, f'sms_router.{name}') for name in ('demo_partner_fr', 'demo_partner_fr_national',
                                                        'demo_partner_gp')) if partner]
    taken = shoot_user(executable, port, db, 'admin', 'admin', screens, 'en', out_dir,
                       [company_fr, company_gb], alerts)
    french = shoot_user(executable, port, db, 'elodie', 'elodie', screens, 'fr', out_dir,
                        [company_fr], alerts)
    if french is None:
        say('no French demo user (elodie): the French screenshots are taken as admin in French')
        admin_id = admin.call('res.users', 'search', [[['login', '=', 'admin']]])
        admin.call('res.users', 'write', [admin_id, {'lang': 'fr_FR'}])
        try:
            french = shoot_user(executable, port, db, 'admin', 'admin', screens, 'fr', out_dir,
                                [company_fr], alerts)
        finally:
            admin.call('res.users', 'write', [admin_id, {'lang': 'en_US'}])
    taken += french or []
    expected = len(screens) * 2 - (0 if alerts else 2 * ('alert' in screens))
    say(f'{len(taken)} of {expected} screenshot(s) taken in {out_dir}')
    return len(taken) == expected


def main(argv=None):
    args = parse_args(argv)
    procutil.install_signal_handlers()
    screens = [name.strip() for name in args.only.split(',') if name.strip()]
    install = odoo_env.detect_odoo(args.python)
    if not install.importable:
        say(f'ERROR: {install.reason}')
        return 2
    found = browser.ensure_browser(args.python, install=not args.no_browser_install, say=say)
    if not found.usable:
        print(browser.banner(found.reason).replace(browser.BANNER_TITLE, 'NO SCREENSHOTS'))
        return 2
    say(f'browser: {found.executable} ({found.version})')
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.attach:
        port = int(args.attach.rstrip('/').rsplit(':', 1)[1])
        admin = run_demo.WebSession(port)
        admin.login(args.db, 'admin', 'admin')
        return 0 if shoot_all(found.executable, port, args.db, screens, out_dir, admin) else 1
    modules = [a.name for a in odoo_env.our_addons() if a.installable]
    modules += [name for name in run_demo.DEMO_EXTRA_MODULES if install.has_addon(name)]
    odoo_env.RUN_DIR.mkdir(exist_ok=True)

    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(pgcluster.PgCluster())
        data_dir = tempfile.mkdtemp(prefix='sms-router-shots-')
        stack.callback(shutil.rmtree, data_dir, True)
        http_port = procutil.free_port(avoid={pg.port})
        sandbox_port = procutil.free_port(avoid={pg.port, http_port})
        iap_port = procutil.free_port(avoid={pg.port, http_port, sandbox_port})
        base_url = f'http://localhost:{http_port}'
        iap_url = f'http://127.0.0.1:{iap_port}'
        base_cmd = list(install.command) + [
            f'--addons-path={odoo_env.addons_path_option(install)}', f'--data-dir={data_dir}',
            '--http-interface=127.0.0.1', *pg.odoo_args()]
        if not run_demo.init_database(install, base_cmd, modules, DB, odoo_env.RUN_DIR / 'shots-init.log'):
            return 1
        facts = run_demo.configure_database(install, base_cmd, DB, iap_url, base_url,
                                            f'http://127.0.0.1:{sandbox_port}',
                                            odoo_env.RUN_DIR / 'shots-config.log')
        if facts is None:
            return 1
        iap = run_demo.start_iap_stand_in(iap_port)
        if iap is None:
            return 1
        stack.callback(procutil.stop_child, iap, 'iap stand-in')
        sandbox, sandbox_url = run_demo.start_sandbox(sandbox_port)
        if sandbox is None:
            say('ERROR: the provider sandbox did not start')
            return 1
        stack.callback(procutil.stop_child, sandbox, 'sandbox')
        cmd = base_cmd + [f'--database={DB}', f'--db-filter=^{DB}$', f'--http-port={http_port}',
                          '--workers=0', '--max-cron-threads=0', '--log-level=warn']
        log = open(odoo_env.RUN_DIR / 'shots-odoo.log', 'w', encoding='utf-8')  # noqa: SIM115
        stack.callback(log.close)
        server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, cwd=str(odoo_env.REPO_ROOT),
                                  env=odoo_env.odoo_environ(SMS_SANDBOX_URL=sandbox_url))
        stack.callback(procutil.stop_child, server, 'odoo', first_signal=2, grace=20)
        if not run_demo.wait_http(http_port, server):
            say(f'ERROR: Odoo did not come up (exit code {server.poll()}; log .run/shots-odoo.log)')
            return 1
        say(f'Odoo on {base_url}, sandbox on {sandbox_url}, IAP stand-in on {iap_url}')
        admin = run_demo.WebSession(http_port)
        admin.login(DB, 'admin', 'admin')
        sweego_fr = facts['accounts'].get('demo_account_sweego_fr')
        if sweego_fr:
            run_demo.wire_sandbox_webhooks(http_port, sandbox_url, sweego_fr)
        # No onboarding tour over the pictures.
        users = admin.call('res.users', 'search', [[['login', 'in', ['admin', 'elodie']]]])
        admin.call('res.users', 'write', [users, {'tour_enabled': False}])
        if set(screens) - {'http_api_account'}:
            stage(admin, sandbox_url, facts)
        stage_http_api(admin)
        ok = shoot_all(found.executable, http_port, DB, screens, out_dir, admin)
        if args.keep:
            say(f'--keep: the demo stays up at {base_url}/odoo (database {DB}); Ctrl-C stops it')
            server.wait()
    return 0 if ok else 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (KeyboardInterrupt, procutil.Terminated):
        sys.exit(130)
