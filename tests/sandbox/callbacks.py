"""Delivery of the providers' callbacks (Sweego events, Twilio status callbacks).

Bounded on purpose: only loopback hosts (and those allowed with ``--callback-host``) are
called, without proxy or redirect, by a fixed pool of threads with a bounded queue, a timeout
and no retry. A provider builds each callback's body and headers (``render``); this module
decides when and whether it leaves.
"""
import heapq
import ipaddress
import itertools
import threading
import time
import urllib.parse
import urllib.request


def host_allowed(url, extra_hosts):
    """Only loopback (and explicitly allowed) hosts ever receive callbacks."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        return False
    host = parts.hostname.lower()
    if host == 'localhost' or host in extra_hosts:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A callback target must not send the sandbox anywhere else."""

    def redirect_request(self, *args, **kwargs):
        return None


class CallbackDispatcher:
    """Delivers delayed callbacks with a fixed pool of threads and a bounded queue.

    A job is ``(url, render, on_done)``: ``render()`` builds ``(body, headers)`` when the
    job is due (so timestamps and signatures are fresh); ``on_done(ok)`` may schedule the
    next step. Jobs beyond ``max_pending`` are dropped; each POST times out after
    ``timeout`` seconds; nothing is retried.
    """

    def __init__(self, workers=4, max_pending=5000, timeout=5.0):
        self.workers = workers
        self.max_pending = max_pending
        self.timeout = timeout
        self._heap = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._threads = []
        self._stopping = False
        self._in_flight = 0
        # No proxy from the environment, no redirects: only the URL we were given.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def start(self):
        self._stopping = False
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f'sandbox-callback-{index}',
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout=2.0):
        with self._condition:
            self._stopping = True
            self._heap.clear()
            self._condition.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def schedule(self, delay_s, url, render, on_done=None):
        """Queue a job; False when the queue is full or the dispatcher stopped."""
        with self._condition:
            if self._stopping or len(self._heap) >= self.max_pending:
                return False
            due = time.monotonic() + max(0.0, delay_s)
            heapq.heappush(self._heap, (due, next(self._sequence), url, render, on_done))
            self._condition.notify()
            return True

    def deliver_in_order(self, url, renders, delay_s, extra_hosts, count):
        """Deliver ``renders`` to ``url`` one after the other, ``delay_s`` apart, in order.

        ``count(outcome)`` records each step: 'sent', 'failed', 'dropped' (queue full) or
        'skipped' (host not allowed); the last two end the sequence.
        """
        if not renders:
            return
        if not host_allowed(url, extra_hosts):
            count('skipped')
            return

        def done(ok):
            count('sent' if ok else 'failed')
            self.deliver_in_order(url, renders[1:], delay_s, extra_hosts, count)

        if not self.schedule(delay_s, url, renders[0], done):
            count('dropped')

    def clear(self):
        with self._condition:
            self._heap.clear()

    @property
    def pending(self):
        with self._condition:
            return len(self._heap) + self._in_flight

    def wait_idle(self, timeout=5.0):
        """Wait until no job is queued or running; True when idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pending:
                return True
            time.sleep(0.01)
        return not self.pending

    def _work(self):
        while True:
            with self._condition:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, url, render, on_done = heapq.heappop(self._heap)
                        self._in_flight += 1
                        break
                    wait = self._heap[0][0] - now if self._heap else None
                    self._condition.wait(wait)
            ok = False
            try:
                # render() gives (body, headers), or (body, headers, 'GET') for a provider that
                # reports with GET requests: the body (form-encoded) is then the query string.
                body, headers, *method = render()
                target, method = url, (method or ['POST'])[0]
                if method == 'GET':
                    target = url + ('&' if '?' in url else '?') + body.decode()
                    body = None
                request = urllib.request.Request(target, data=body, headers=headers, method=method)
                with self._opener.open(request, timeout=self.timeout) as response:
                    response.read(65536)
                    ok = 200 <= response.status < 300
            except Exception:  # noqa: BLE001 - a failed callback is counted, never fatal
                ok = False
            try:
                if on_done:
                    on_done(ok)
            except Exception:  # noqa: BLE001
                pass
            finally:
                with self._condition:
                    self._in_flight -= 1
