"""The :class:`Sandbox`: the providers' shared state and the servers hosting them.

It owns, under one lock, every provider's settings, counters and accepted messages, opens
and closes the listening sockets (a dedicated port closes in mode ``refuse``), runs the
callback dispatcher and writes the state file. What each provider does lives in
providers/, the HTTP plumbing in httpd.py, the fault step in faults.py.
"""
import base64
import copy
import json
import math
import os
import random
import sys
import threading
import time
from collections import OrderedDict
from decimal import Decimal

from .callbacks import CallbackDispatcher, host_allowed
from .common import iso, lifecycle, region_of
from .faults import MODES, NO_ANSWER_MODES
from .httpd import Server
from .providers import ALL_PROVIDERS, PROVIDER_CLASSES
from .ratelimit import RateLimits
from .settings import converter, fresh_config, fresh_counters, jsonable

MAX_STORED_MESSAGES = 10000


class Sandbox:
    """The fake providers (Sweego, Twilio, OVH and the HTTP API stand-ins), their faults and
    counters, and the servers hosting them.

    ``Sandbox(host, port=0).start()`` serves in background threads; ``.url`` is the shared
    base URL, ``.endpoint(provider)`` the value for an account's endpoint field.
    ``dedicated_ports``: False (default), True (an ephemeral port per provider) or a dict
    ``{provider: port}`` (0 = ephemeral); on a dedicated port mode ``refuse`` closes the
    listening socket (true ECONNREFUSED).
    """

    def __init__(self, host='127.0.0.1', port=0, latency_ms=0, dedicated_ports=False,
                 callback_hosts=(), state_file=None, config=None, verbose=False,
                 max_connections=512, callback_workers=4, seed=None):
        self.host = host
        self.port = port
        self.verbose = verbose
        self.state_file = state_file
        self.callback_hosts = {h.lower() for h in callback_hosts}
        self._initial_latency = float(latency_ms or 0)
        self._initial_config = config or {}
        if dedicated_ports is True:
            dedicated_ports = {name: 0 for name in ALL_PROVIDERS}
        self._dedicated_ports = dict(dedicated_ports or {})
        for name in self._dedicated_ports:
            self._check_provider(name)
        # name -> Provider (providers/): what each one answers.
        self.providers = {cls.name: cls(self) for cls in PROVIDER_CLASSES}
        self._lock = threading.RLock()
        self._listener_lock = threading.Lock()
        self._stopping = threading.Event()
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self._rng = random.Random(seed)
        self._callbacks = CallbackDispatcher(workers=callback_workers)
        self._server = None
        self._dedicated = {}
        self._threads = []
        self._started = False
        self._version = 0
        self._rate_limits = RateLimits()
        self._reset_all()

    # ---- lifecycle

    def start(self):
        if self._started:
            return self
        self._stopping.clear()
        self._server = Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._serve(self._server, 'sandbox-http')
        for name, port in self._dedicated_ports.items():
            server = Server((self.host, port), self, provider=name)
            self._dedicated_ports[name] = server.server_address[1]
            self._dedicated[name] = server
            self._serve(server, f'sandbox-{name}')
        self._callbacks.start()
        self._started = True
        for name in ALL_PROVIDERS:
            self._apply_listener(name)
        if self.state_file:
            thread = threading.Thread(target=self._write_state_loop, name='sandbox-state',
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        if not self._started:
            return
        self._stopping.set()
        self._callbacks.stop()
        servers = [self._server] + [s for s in self._dedicated.values() if s is not None]
        for server in servers:
            server.shutdown()
            server.server_close()
            server.close_open_connections()
        self._dedicated = {}
        for thread in self._threads:
            thread.join(2.0)
        self._threads = []
        self._started = False
        if self.state_file:
            self._write_state()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self, server, name):
        thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05},
                                  name=name, daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _apply_listener(self, provider):
        """Open or close a provider's dedicated port to match its mode."""
        if provider not in self._dedicated_ports or not self._started or self._stopping.is_set():
            return
        with self._listener_lock:
            with self._lock:
                refuse = self._config[provider]['mode'] == 'refuse'
            server = self._dedicated.get(provider)
            if refuse and server is not None:
                self._dedicated[provider] = None
                server.shutdown()
                server.server_close()
                server.close_open_connections()
            elif not refuse and server is None:
                port = self._dedicated_ports[provider]
                server = Server((self.host, port), self, provider=provider)
                self._dedicated[provider] = server
                self._serve(server, f'sandbox-{provider}')

    # ---- addresses

    @property
    def _public_host(self):
        host = self.host
        if host in ('', '0.0.0.0'):
            host = '127.0.0.1'
        elif host == '::':
            host = '::1'
        return f'[{host}]' if ':' in host else host

    @property
    def url(self):
        return f'http://{self._public_host}:{self.port}'

    def provider_port(self, provider):
        """The provider's dedicated port, or the shared one."""
        self._check_provider(provider)
        return self._dedicated_ports.get(provider, self.port)

    def endpoint(self, provider, dedicated=None):
        """Value for an account's endpoint URL field."""
        self._check_provider(provider)
        if dedicated is None:
            dedicated = provider in self._dedicated_ports
        port = self._dedicated_ports[provider] if dedicated else self.port
        suffix = self.providers[provider].endpoint_suffix
        return f'http://{self._public_host}:{port}/{provider}{suffix}'

    # ---- configuration API

    @staticmethod
    def _check_provider(provider):
        if provider not in ALL_PROVIDERS:
            raise ValueError(f'unknown provider {provider!r} (one of {", ".join(ALL_PROVIDERS)})')

    def _reset_all(self):
        with self._lock:
            self._config, self._counters, self._messages, self._fault_remaining = {}, {}, {}, {}
            for name in ALL_PROVIDERS:
                self._reset_locked(name)
            self._version += 1

    def _reset_locked(self, provider, counters_only=False):
        """Zero a provider's counters and, unless ``counters_only``, bring back its start
        settings (defaults, then ``latency_ms`` and ``config`` given to the constructor) and
        forget its messages and its own state."""
        self._counters[provider] = fresh_counters()
        self._rate_limits.reset(provider)
        if counters_only:
            return
        self._config[provider] = fresh_config(self.providers[provider])
        self._fault_remaining[provider] = None
        self._messages[provider] = OrderedDict()
        self.providers[provider].reset()
        if self._initial_latency:
            self._config[provider]['latency_ms'] = self._initial_latency
        if provider in self._initial_config:
            self._configure_locked(provider, dict(self._initial_config[provider]))

    def configure(self, provider, **values):
        """Change a provider's behaviour on the fly; returns the resulting settings.

        Keys: see ``settings.COMMON_DEFAULTS`` and each provider's ``defaults`` (``mode``,
        ``latency_ms``, ``retry_after``, ``fault_count``, ``invalid_numbers``,
        ``webhook_url``, ...). Unknown keys raise ValueError.
        """
        self._check_provider(provider)
        with self._lock:
            self._configure_locked(provider, values)
            result = self._config_public(provider)
        self._apply_listener(provider)
        return result

    def set_mode(self, provider, mode, **values):
        """Shortcut: ``set_mode('twilio', 'http429', retry_after=30)``."""
        return self.configure(provider, mode=mode, **values)

    def _configure_locked(self, provider, values):
        unknown = sorted(set(values) - set(self._config[provider]))
        if unknown:
            raise ValueError(f'unknown setting(s) for {provider}: {", ".join(unknown)}')
        converted = {}
        for key, value in values.items():
            try:
                converted[key] = converter(self.providers[provider], key)(value)
            except (TypeError, ValueError) as error:
                raise ValueError(f'{provider}.{key}: {error}') from None
        url = converted.get('webhook_url')
        if url and not host_allowed(url, self.callback_hosts):
            raise ValueError(f'{provider}.webhook_url: only loopback or --callback-host hosts are '
                             f'allowed, not {url!r}')
        if 'webhook_secret' in converted:
            try:
                secret = converted['webhook_secret'].removeprefix('whsec_')
                base64.b64decode(secret, validate=True)
            except ValueError:
                raise ValueError(f'{provider}.webhook_secret: must be base64') from None
        self._config[provider].update(converted)
        if 'mode' in converted or 'fault_count' in converted:
            self._fault_remaining[provider] = self._config[provider]['fault_count']
        if 'mode' in converted and 'fault_count' not in converted:
            self._config[provider]['fault_count'] = None
            self._fault_remaining[provider] = None
        self._version += 1

    def reset(self, provider=None, counters_only=False):
        """Back to defaults (all providers, or one); ``counters_only`` keeps the settings."""
        if provider is not None:
            self._check_provider(provider)
        names = [provider] if provider else list(ALL_PROVIDERS)
        self._callbacks.clear()
        with self._lock:
            for name in names:
                self._reset_locked(name, counters_only)
            self._version += 1
        for name in names:
            self._apply_listener(name)

    def counters(self, provider=None):
        with self._lock:
            if provider:
                self._check_provider(provider)
                return copy.deepcopy(self._counters[provider])
            return copy.deepcopy(self._counters)

    def state(self):
        """Settings, counters and addresses (the body of ``GET /_control``)."""
        with self._lock:
            providers = {
                name: {
                    'endpoint': self.endpoint(name),
                    'shared_endpoint': self.endpoint(name, dedicated=False),
                    'listening': self._dedicated.get(name) is not None
                    if name in self._dedicated_ports else
                    self._started and not self._stopping.is_set(),
                    'config': self._config_public(name),
                    'fault_remaining': self._fault_remaining[name],
                    'counters': copy.deepcopy(self._counters[name]),
                    'stored_messages': len(self._messages[name]),
                }
                for name in ALL_PROVIDERS
            }
            return {
                'url': self.url,
                'port': self.port,
                'dedicated_ports': dict(self._dedicated_ports),
                'modes': list(MODES),
                'callbacks_pending': self._callbacks.pending,
                'providers': providers,
            }

    def messages(self, provider=None, limit=100):
        """The latest accepted messages (newest last), for demos and assertions."""
        names = [provider] if provider else list(ALL_PROVIDERS)
        for name in names:
            self._check_provider(name)
        now = time.time()
        with self._lock:
            result = []
            for name in names:
                for record in self._messages[name].values():
                    item = {k: v for k, v in record.items() if not k.startswith('_')}
                    item['status'] = lifecycle(record, now)[0]
                    result.append(item)
        result.sort(key=lambda item: item['created_at'])
        return result[-limit:] if limit else result

    def request_log(self, provider=None, since=None):
        """Every send request received (oldest first; see ratelimit.py): ``at`` (epoch),
        ``provider``, ``account``, ``numbers``, ``recipients``, ``segments``, ``traffic``,
        ``limited`` (refused by the rate limit). ``since``: epoch seconds."""
        if provider:
            self._check_provider(provider)
        return self._rate_limits.log(provider, since)

    def _rate_admit(self, provider, info):
        """Log a send request; 0 when its account's rate limit admits it, else the
        seconds it should wait."""
        with self._lock:
            rate = self._config[provider]['rate_limit']
            burst = self._config[provider]['rate_limit_burst']
        return self._rate_limits.admit(provider, info, rate, burst)

    def wait_callbacks(self, timeout=5.0):
        """Wait until every scheduled callback was delivered (or failed)."""
        return self._callbacks.wait_idle(timeout)

    def _config_public(self, provider):
        return jsonable(self._config[provider])

    def _config_value(self, provider, key):
        with self._lock:
            return self._config[provider][key]

    def _config_snapshot(self, provider):
        with self._lock:
            return copy.deepcopy(self._config[provider])

    # ---- counters, faults, messages (the providers' shared state)

    def _bump(self, provider, key, amount=1):
        with self._lock:
            self._counters[provider][key] += amount
            self._version += 1

    def _count_status(self, provider, status):
        with self._lock:
            by_status = self._counters[provider]['by_status']
            by_status[str(status)] = by_status.get(str(status), 0) + 1
            self._version += 1

    def _count_callback(self, provider, outcome):
        with self._lock:
            self._counters[provider]['callbacks'][outcome] += 1
            self._version += 1

    def _take_fault(self, provider, is_send):
        """Count the request and decide which mode applies to it."""
        with self._lock:
            counters = self._counters[provider]
            counters['requests'] += 1
            counters['last_request_at'] = iso(time.time())
            if is_send:
                counters['sends'] += 1
            config = self._config[provider]
            mode = config['mode']
            self._version += 1
            if mode == 'ok':
                return 'ok', False
            if config['fault_scope'] == 'send' and not is_send:
                return 'ok', False
            if config['fault_ratio'] < 1.0 and self._rng.random() >= config['fault_ratio']:
                return 'ok', False
            remaining = self._fault_remaining[provider]
            mode_changed = False
            if remaining is not None:
                remaining -= 1
                self._fault_remaining[provider] = remaining
                if remaining <= 0:
                    config['mode'] = 'ok'
                    config['fault_count'] = None
                    self._fault_remaining[provider] = None
                    mode_changed = True
            counters['faults'][mode] = counters['faults'].get(mode, 0) + 1
            if mode in NO_ANSWER_MODES:
                counters['by_status']['no_answer'] = counters['by_status'].get('no_answer', 0) + 1
        return mode, mode_changed

    def _charge(self, provider, parts, fault):
        """Debit ``parts`` SMS parts at ``part_price``; None when the credit does not cover
        them. Not counted in the billing totals (see ``_charge_messages``)."""
        with self._lock:
            config = self._config[provider]
            cost = config['part_price'] * parts
            if fault == 'no_credit' or cost > config['credit']:
                return None
            config['credit'] -= cost
            self._counters[provider]['parts'] += parts
            self._version += 1
            return cost

    def part_price(self, provider, region):
        """Price of one part to ``region``: ``part_prices[region]``, else ``part_price``."""
        with self._lock:
            config = self._config[provider]
            return config['part_prices'].get(region or '', config['part_price'])

    def _charge_messages(self, provider, messages, fault):
        """Bill accepted messages, ``[(E.164 digits, parts), ...]``, each at the price per
        part of its destination region: debit the credit, add them to the billing totals and
        return each message's price (Decimals, in the order given); None (nothing billed)
        when the credit does not cover them all."""
        with self._lock:
            config = self._config[provider]
            priced = []
            for digits, parts in messages:
                region = region_of(digits)
                price = config['part_prices'].get(region, config['part_price']) * parts
                priced.append((region, parts, price))
            total = sum((price for _region, _parts, price in priced), Decimal(0))
            if fault == 'no_credit' or total > config['credit']:
                return None
            config['credit'] -= total
            counters = self._counters[provider]
            billed = counters['billed']
            for region, parts, price in priced:
                counters['parts'] += parts
                billed['amount'] = str(Decimal(billed['amount']) + price)
                billed['messages'] += 1
                billed['parts'] += parts
                line = billed['by_region'].setdefault(region, {'amount': '0', 'messages': 0, 'parts': 0})
                line['amount'] = str(Decimal(line['amount']) + price)
                line['messages'] += 1
                line['parts'] += parts
            self._version += 1
            return [price for _region, _parts, price in priced]

    def billing(self, provider=None):
        """What each provider billed since its counters were reset: ``{provider: {'unit':
        'EUR' | 'USD' | 'credits', 'amount': '12.345' (exact decimal string), 'messages',
        'parts', 'by_region': {region: {'amount', 'messages', 'parts'}}}}`` (one provider's
        dict when ``provider`` is given)."""
        names = [provider] if provider else list(ALL_PROVIDERS)
        for name in names:
            self._check_provider(name)
        with self._lock:
            result = {name: dict(copy.deepcopy(self._counters[name]['billed']),
                                 unit=self.providers[name].price_unit) for name in names}
        return result[provider] if provider else result

    def _poor_delivery(self, provider, ratio):
        """Is the next SMS ``provider`` accepts in the ``poor_delivery`` mode reported
        undelivered? Exactly ``ratio`` of them are, evenly spread (the n-th one when
        floor(n * ratio) grows): 0.6 gives 3 of every 5, so a window of reports sees the
        ratio at once. Counted in the counters' ``poor_delivery``."""
        with self._lock:
            seen = self._counters[provider].setdefault('poor_delivery', {'sms': 0, 'undelivered': 0})
            seen['sms'] += 1
            undelivered = math.floor(seen['sms'] * ratio + 1e-9) > math.floor((seen['sms'] - 1) * ratio + 1e-9)
            seen['undelivered'] += undelivered
            self._version += 1
            return undelivered

    def is_undelivered(self, provider, message_id):
        """Whether the stored message ``message_id`` of ``provider`` is reported undelivered."""
        with self._lock:
            return bool(self._messages[provider].get(message_id, {}).get('undelivered'))

    def _store(self, provider, record):
        with self._lock:
            store = self._messages[provider]
            store[record['id']] = record
            while len(store) > MAX_STORED_MESSAGES:
                store.popitem(last=False)

    # ---- state file

    def _write_state(self):
        path = self.state_file
        tmp = f'{path}.tmp'
        try:
            with open(tmp, 'w', encoding='utf-8') as handle:
                json.dump(self.state(), handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except OSError as error:
            sys.stderr.write(f'sandbox: cannot write state file {path}: {error}\n')

    def _write_state_loop(self):
        written = None
        while not self._stopping.wait(0.5):
            if written != self._version:
                written = self._version
                self._write_state()
