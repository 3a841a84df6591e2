"""Fault modes: the list, and what happens to a provider request before its provider sees it.

``apply`` runs for every provider request: it counts the request and picks its fault
(``Sandbox._take_fault``), then gives no answer (``refuse``, ``hang``), waits the provider's
``latency_ms``, and answers the transport modes itself. Only ``ok`` and the modes that change
what a provider does (``no_credit``, ``invalid_recipients``, ``poor_delivery``) reach the
provider's ``handle``, which reads them from its ``fault`` argument.

A new transport mode needs its name in ``MODES`` and ``TRANSPORT_MODES`` and its answer here:
an HTTP error is one entry of ``HTTP_ERRORS`` (each provider words it with ``error_answer``).
"""
import select
import socket
import time

MODES = (
    'ok', 'refuse', 'hang', 'http500', 'http503', 'http429', 'broken_json', 'no_credit',
    'invalid_recipients', 'custom', 'poor_delivery',
)
# Modes answered before the provider logic runs (the request never reaches "the provider").
TRANSPORT_MODES = ('refuse', 'hang', 'http500', 'http503', 'http429', 'broken_json', 'custom')
# Modes that never answer: counted as 'no_answer' in the counters' by_status.
NO_ANSWER_MODES = ('refuse', 'hang')
HTTP_ERRORS = {'http500': 500, 'http503': 503, 'http429': 429}
# Statuses whose answer carries Retry-After when ``retry_after`` is set (429: always, 1 s by
# default).
RETRY_AFTER_STATUSES = (429, 503)
BROKEN_JSON = '{"status": "queued", "id": "trunc'


class Abort(Exception):
    """End the exchange without writing an answer."""


def apply(request, provider, is_send):
    """Inject the request's fault: the mode left for ``provider.handle``, or None when the
    request was answered (or deliberately not) here."""
    sandbox = request.sandbox
    fault, mode_changed = sandbox._take_fault(provider.name, is_send)
    if mode_changed:
        sandbox._apply_listener(provider.name)
    if fault == 'refuse':
        raise Abort()
    if fault == 'hang':
        hang(request, sandbox._config_value(provider.name, 'hang_max_s'))
        raise Abort()
    latency = sandbox._config_value(provider.name, 'latency_ms')
    if latency:
        sandbox._stopping.wait(latency / 1000.0)
        if sandbox._stopping.is_set():
            raise Abort()
    if fault in TRANSPORT_MODES:
        answer(request, provider, fault, is_send)
        return None
    return fault


def hang(request, max_seconds):
    """Keep the connection open without answering until the client leaves."""
    deadline = time.monotonic() + max_seconds
    sock = request.connection
    stopping = request.sandbox._stopping
    while not stopping.is_set() and time.monotonic() < deadline:
        try:
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable and not sock.recv(1, socket.MSG_PEEK):
                return  # the client closed its side
            if readable:
                return  # the client sent something else: give up on this exchange
        except (OSError, ValueError):
            return


def answer(request, provider, fault, is_send):
    """The answer of a transport mode that answers (``custom``, ``broken_json``, HTTP errors)."""
    config = request.sandbox._config_snapshot(provider.name)
    headers = provider.response_headers()
    if fault == 'custom':
        body = config['custom_body']
        headers.update(config['custom_headers'])
        if isinstance(body, str):
            content_type = headers.pop('Content-Type', 'text/plain')
            request.reply(config['custom_status'], body, content_type, headers)
        else:
            request.reply_json(config['custom_status'], body, headers)
        return
    if fault == 'broken_json':
        status = provider.send_status if is_send else 200
        request.reply(status, BROKEN_JSON, 'application/json', headers)
        return
    status = HTTP_ERRORS[fault]
    retry_after = config['retry_after']
    if status == 429 and retry_after is None:
        retry_after = 1
    if retry_after is not None and status in RETRY_AFTER_STATUSES:
        headers['Retry-After'] = str(retry_after)
    provider.error_answer(request, status, headers)
