"""A local stand-in for Odoo IAP, the last resort of every chain.

The ICP ``sms.endpoint`` of the drill database points here, so that Odoo's own IAP code
runs unchanged and nothing leaves the machine. The drills count its requests and read the
numbers it accepted, as they read the sandbox's message log for the providers.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class IapStandIn:
    """Answers Odoo's IAP SMS call (JSON-RPC ``/api/sms/3/send``) like the real service.

    ``mode`` 'ok' accepts every number; 'down' answers 503 (Odoo then raises and the
    router records a clean failure). Every request is counted, every number kept.
    """

    def __init__(self):
        self.mode = 'ok'
        self.requests = 0
        self.accepted = []          # (uuid, number, body)
        self.calls = []             # per accepted call: (numbers, distinct bodies)
        self._lock = threading.Lock()
        self._server = None

    def start(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                payload = json.loads(self.rfile.read(length) or b'{}')
                with stand_in._lock:
                    stand_in.requests += 1
                    mode = stand_in.mode
                if mode != 'ok' or not self.path.startswith('/api/sms/3/send'):
                    self.send_response(503 if mode != 'ok' else 404)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                results = []
                messages = payload.get('params', {}).get('messages', [])
                for message in messages:
                    for number in message.get('numbers', []):
                        with stand_in._lock:
                            stand_in.accepted.append(
                                (number['uuid'], number['number'], message.get('content')))
                        results.append({'uuid': number['uuid'], 'state': 'success', 'credit': 1})
                with stand_in._lock:
                    stand_in.calls.append(
                        (len(results), len({message.get('content') for message in messages})))
                body = json.dumps({'jsonrpc': '2.0', 'id': payload.get('id'),
                                   'result': results}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name='iap-stand-in').start()
        return self

    @property
    def url(self):
        return f'http://127.0.0.1:{self._server.server_address[1]}'

    def reset(self):
        with self._lock:
            self.mode = 'ok'
            self.requests = 0
            self.accepted = []
            self.calls = []

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
