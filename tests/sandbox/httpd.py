"""The HTTP server every provider shares: connections, request plumbing and routing.

One :class:`Server` listens on the shared port (every provider under its path prefix, and the
control API); a provider's dedicated port is another :class:`Server` bound to that provider.
:class:`Handler` reads the request, routes it to the control API (control.py) or to a
provider, through the fault step (faults.py) first.
"""
import json
import socket
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import control, faults, ratelimit
from .providers import ALL_PROVIDERS

MAX_BODY_BYTES = 1024 * 1024
IDLE_CONNECTION_TIMEOUT = 30.0


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, sandbox, provider=None):
        self.sandbox = sandbox
        self.provider = provider      # set on a provider's dedicated port
        self._open = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        if not self.sandbox._connection_slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except Exception:
            self.sandbox._connection_slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.sandbox._connection_slots.release()

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self):
        """Wake and end every handler thread (idle keep-alive, hanging, sleeping)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client that gives up (timeout, reset) is normal here; stay quiet.
        if self.sandbox.verbose:
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'SmsSandbox/1.0'
    timeout = IDLE_CONNECTION_TIMEOUT

    # ---- plumbing

    def setup(self):
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer and distort benchmarks.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        if self.server.sandbox.verbose:
            sys.stderr.write('%s - %s\n' % (self.address_string(), format % args))

    def do_GET(self):
        self._dispatch('GET')

    def do_POST(self):
        self._dispatch('POST')

    def do_PUT(self):
        self._dispatch('PUT')

    def do_DELETE(self):
        self._dispatch('DELETE')

    @property
    def sandbox(self):
        return self.server.sandbox

    def _read_body(self):
        length = self.headers.get('Content-Length')
        if not length:
            return b''
        try:
            length = int(length)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def reply(self, status, body=b'', content_type='application/json', headers=None):
        """Write the answer; on a provider's route its status is counted first."""
        if isinstance(body, str):
            body = body.encode()
        provider = getattr(self, '_provider', None)
        if provider:
            # Counted before the answer leaves, so a client that reads counters next sees it.
            self.sandbox._count_status(provider, status)
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status, payload, headers=None):
        self.reply(status, json.dumps(payload), 'application/json', headers)

    def full_url(self):
        """The URL as the client addressed it (OVH signs it)."""
        host = self.headers.get('Host') or '%s:%s' % self.server.server_address[:2]
        return f'http://{host}{self.path}'

    # ---- routing

    def _dispatch(self, method):
        self._provider = None
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        query = urllib.parse.parse_qs(parts.query)
        body = self._read_body()
        if body is None:
            self.reply_json(413, {'error': 'request body too large'})
            return
        name, subpath = self._route(path)
        try:
            if name == '_control':
                control.handle(self, method, subpath, query, body)
            elif name in ALL_PROVIDERS:
                self._provider = name
                provider = self.sandbox.providers[name]
                is_send = provider.is_send(method, subpath)
                fault = faults.apply(self, provider, is_send)
                if fault is not None and is_send and not ratelimit.admitted(self, provider, subpath, body):
                    return
                if fault is not None:
                    provider.handle(self, method, subpath, query, body, fault)
            else:
                self.reply_json(404, {'error': f'no route for {path}',
                                      'providers': [f'/{name}' for name in ALL_PROVIDERS]})
        except faults.Abort:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            # The client left before the answer (timed out, or its process was killed):
            # normal in failure drills, not a sandbox bug.
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - a sandbox bug must show, not hang the client
            traceback.print_exc()
            self.close_connection = True
            try:
                self.reply_json(500, {'sandbox_error': f'{type(error).__name__}: {error}'})
            except OSError:
                pass

    def _route(self, path):
        segments = path.split('/', 2)
        head = segments[1] if len(segments) > 1 else ''
        rest = '/' + segments[2] if len(segments) > 2 else '/'
        dedicated = self.server.provider
        if dedicated:
            # A dedicated port serves its provider with or without the prefix.
            if head == dedicated:
                return dedicated, rest
            if head in ALL_PROVIDERS or head == '_control':
                return None, path
            return dedicated, path
        if head in ALL_PROVIDERS or head == '_control':
            return head, rest
        if path in ('', '/'):
            return '_control', '/'
        return None, path
