#!/usr/bin/env python3
"""A local stand-in for Odoo IAP: the SMS service and the IAP services Odoo calls by itself.

Odoo reaches IAP through URLs kept in system parameters (``IAP_ENDPOINT_PARAMS``). The demo
(``make run``) and the failure drills point them here, so that Odoo's own IAP code runs
unchanged and nothing leaves the machine; tests and drills count the requests and read the
numbers it accepted, as they read the provider sandbox's message log.

Answers, as the real services do (JSON-RPC ``{"jsonrpc": "2.0", "result": ...}``):

- ``/api/sms/3/send`` (``sms.endpoint``): one result per number, ``success`` (mode ``ok``),
  ``insufficient_credit`` (mode ``no_credit``); with ``delivery_reports`` on, each accepted
  SMS is reported ``delivered`` to the ``webhook_url`` Odoo sent (loopback only);
- ``/iap/1/get-accounts-information``, ``/iap/1/balance``, ``/iap/1/update-warning-email-alerts``
  (``iap.endpoint``): a registered account with ``BALANCE`` credits;
- ``/api/dnb/1/...`` (partner autocomplete, ``iap.partner_autocomplete.endpoint``): no data;
- any other POST: 404, which Odoo reports as "service unreachable" and handles;
- GET of any page (the *Buy credits* link, the SMS account page): a page saying this is a
  local stand-in;
- ``GET /_control``: mode, counters per path, the last accepted SMS;
  ``POST /_control`` ``{"mode": "down"}`` (503 to every call), ``"no_credit"`` or ``"ok"``;
  ``POST /_control/reset``.

Run: ``python3 tests/sandbox/iap.py --port 8070``. Import: ``from sandbox.iap import
IapStandIn`` with ``tests/`` on ``sys.path`` (``start()`` on port 0 picks a free port).
"""
import sys
from pathlib import Path

if __name__ == '__main__' and not __package__:
    # Started by its path: tests/ on sys.path instead of this directory, whose modules
    # (settings.py, core.py...) must not shadow top-level ones.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from sandbox.foreground import serve_until_signalled  # noqa: E402

# Every system parameter through which Odoo 19 (with the addons the demo installs) reaches an
# IAP service; the demo sets each to the stand-in's URL.
IAP_ENDPOINT_PARAMS = (
    'iap.endpoint',                         # iap.account: balance, accounts information, credits
    'sms.endpoint',                         # sms: sending, SMS account registration
    'enrich.endpoint',                      # iap.enrich.api (lead and company enrichment)
    'iap.partner_autocomplete.endpoint',    # partner_autocomplete (the web client on login)
    'snailmail.endpoint',                   # snailmail letters
    'mail.server.gmail.iap.endpoint',       # google_gmail: OAuth through IAP
    'mail.server.outlook.iap.endpoint',     # microsoft_outlook: OAuth through IAP
)
MODES = ('ok', 'down', 'no_credit')
BALANCE = 1000.0
SEND_PATH = '/api/sms/3/send'
REPORT_DELAY_S = 2.0
_UUID = re.compile(r'^[0-9a-f]{32}$')
LOOPBACK = ('127.0.0.1', 'localhost', '::1')


class IapStandIn:
    """Odoo IAP on a local port.

    ``mode`` 'ok' accepts every number; 'down' answers 503 to every call (Odoo then raises
    and the router records a clean failure); 'no_credit' answers ``insufficient_credit``
    for every number. Every request is counted (``requests``, ``by_path``), every accepted
    number kept (``accepted``: (uuid, number, body); ``calls``: per accepted call, the
    numbers and the distinct bodies).
    """

    def __init__(self, host='127.0.0.1', port=0, delivery_reports=False, verbose=False):
        self.host = host
        self.port = port
        self.delivery_reports = delivery_reports
        self.verbose = verbose
        self.mode = 'ok'
        self.requests = 0
        self.by_path = collections.Counter()
        self.accepted = []
        self.calls = []
        self.reports = collections.Counter()   # delivery reports: sent, failed
        self._lock = threading.Lock()
        self._server = None

    # ----------------------------------------------------------------- life cycle

    def start(self):
        self._server = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name='iap-stand-in').start()
        return self

    @property
    def url(self):
        return f'http://{self.host}:{self._server.server_address[1]}'

    def reset(self):
        with self._lock:
            self.mode = 'ok'
            self.requests = 0
            self.by_path.clear()
            self.accepted = []
            self.calls = []
            self.reports.clear()

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def state(self):
        with self._lock:
            return {
                'mode': self.mode, 'requests': self.requests, 'by_path': dict(self.by_path),
                'accepted': len(self.accepted), 'delivery_reports': dict(self.reports),
                'messages': [{'uuid': uuid, 'number': number, 'body': body}
                             for uuid, number, body in self.accepted[-50:]],
            }

    # ----------------------------------------------------------------- answers

    def _answer_send(self, payload):
        """Results of one SMS call and the uuids to report delivered."""
        params = payload.get('params') or {}
        results, delivered = [], []
        messages = params.get('messages') or []
        with self._lock:
            mode = self.mode
        for message in messages:
            for number in message.get('numbers') or []:
                if mode == 'no_credit':
                    results.append({'uuid': number['uuid'], 'state': 'insufficient_credit'})
                    continue
                with self._lock:
                    self.accepted.append((number['uuid'], number['number'], message.get('content')))
                results.append({'uuid': number['uuid'], 'state': 'success', 'credit': 1})
                delivered.append(number['uuid'])
        if mode != 'no_credit':
            with self._lock:
                self.calls.append((len(delivered),
                                   len({message.get('content') for message in messages})))
        return results, delivered, params.get('webhook_url')

    @staticmethod
    def _answer_iap(path, payload):
        params = payload.get('params') or {}
        if path.startswith('/iap/1/get-accounts-information'):
            return {account.get('token'): {'balance': BALANCE, 'warning_threshold': 0.0,
                                           'registered': 'registered'}
                    for account in params.get('iap_accounts') or []}
        if path.startswith('/iap/1/balance'):
            return BALANCE
        if path.startswith('/iap/1/update-warning-email-alerts'):
            return True
        if path.startswith('/api/dnb/1/'):
            return {'data': []}
        return None

    def _report_delivered(self, webhook_url, uuids):
        """Post Odoo IAP's delivery report (``/sms/status``) for ``uuids``, once, after a
        short delay, to a loopback URL only."""
        host = urllib.parse.urlsplit(webhook_url or '').hostname
        uuids = [uuid for uuid in uuids if _UUID.match(uuid or '')]
        if not self.delivery_reports or host not in LOOPBACK or not uuids:
            return

        def post():
            time.sleep(REPORT_DELAY_S)
            body = json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': {
                'message_statuses': [{'sms_status': 'delivered', 'uuids': uuids}]}}).encode()
            request = urllib.request.Request(webhook_url, data=body,
                                             headers={'Content-Type': 'application/json'})
            try:
                with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (loopback)
                    outcome = 'sent'
            except (OSError, ValueError):
                outcome = 'failed'
            with self._lock:
                self.reports[outcome] += 1

        threading.Thread(target=post, daemon=True, name='iap-report').start()

    def _handler_class(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                if stand_in.verbose:
                    sys.stderr.write(f'iap stand-in: {fmt % args}\n')

            def _send(self, status, body=b'', content_type='application/json'):
                self.send_response(status)
                self.send_header('Content-Type', content_type)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status, data):
                self._send(status, json.dumps(data).encode())

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                if path.startswith('/_control'):
                    self._json(200, stand_in.state())
                    return
                self._send(200, (
                    '<html><body><h1>Local Odoo IAP stand-in</h1><p>This demo talks to a '
                    'local stand-in for Odoo IAP: there is no credit to buy and no account '
                    'to register.</p></body></html>').encode(), 'text/html; charset=utf-8')

            def do_POST(self):
                path = urllib.parse.urlsplit(self.path).path
                length = int(self.headers.get('Content-Length') or 0)
                try:
                    payload = json.loads(self.rfile.read(length) or b'{}')
                except ValueError:
                    payload = None
                if path.startswith('/_control'):
                    self._control(path, payload)
                    return
                with stand_in._lock:
                    stand_in.requests += 1
                    stand_in.by_path[path] += 1
                    mode = stand_in.mode
                if mode == 'down':
                    self._send(503)
                    return
                if not isinstance(payload, dict):
                    self._send(400)
                    return
                if path.startswith(SEND_PATH):
                    results, delivered, webhook_url = stand_in._answer_send(payload)
                    self._json(200, {'jsonrpc': '2.0', 'id': payload.get('id'), 'result': results})
                    stand_in._report_delivered(webhook_url, delivered)
                    return
                result = stand_in._answer_iap(path, payload)
                if result is None:
                    self._send(404)
                    return
                self._json(200, {'jsonrpc': '2.0', 'id': payload.get('id'), 'result': result})

            def _control(self, path, payload):
                if path.rstrip('/') == '/_control/reset':
                    stand_in.reset()
                elif isinstance(payload, dict) and payload.get('mode') in MODES:
                    with stand_in._lock:
                        stand_in.mode = payload['mode']
                else:
                    self._json(400, {'error': f'expected {{"mode": one of {", ".join(MODES)}}}'})
                    return
                self._json(200, stand_in.state())

        return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description='Local stand-in for Odoo IAP (SMS and IAP services).')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8070, help='port (0: any free port)')
    parser.add_argument('--no-delivery-reports', action='store_true',
                        help='do not report accepted SMS as delivered to Odoo')
    parser.add_argument('--verbose', action='store_true', help='log every request to stderr')
    args = parser.parse_args(argv)
    stand_in = IapStandIn(args.host, args.port, delivery_reports=not args.no_delivery_reports,
                          verbose=args.verbose)
    try:
        stand_in.start()
    except OSError as error:
        raise SystemExit(f'iap stand-in: cannot listen on {args.host}:{args.port}: {error}') from None
    print(f'Odoo IAP stand-in listening on {stand_in.url}', flush=True)
    print(f'  control {stand_in.url}/_control', flush=True)
    serve_until_signalled(stand_in.stop)
    return 0


if __name__ == '__main__':
    sys.exit(main())
